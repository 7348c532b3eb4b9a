"""Bad input at every public kernel entry raises TypeError/ValueError naming the argument.

Driven by the contract: for every kernel of :data:`deepbio._kernels.CONTRACT` and every
array argument, start from valid arguments (:func:`._examples.example_args`) and spoil one
array: wrong dtype (int64, float16; float for an index array), a list instead of an array,
one axis too many or too few, an empty axis, a non-contiguous view, the other float dtype
(mixed float32/float64), a size that disagrees with another argument.  Then every option:
out-of-range or wrongly typed values (activation names, strides, padding, probabilities).
Then the cross-argument rules: kernels larger than the input, ``dy`` whose size does not
match the forward output, argmax out of range, LSTM weights without 4H gate columns.
The error must name the offending argument and, for dtypes and shapes, what it received.
"""
import numpy as np
import pytest

from deepbio._kernels import CONTRACT

from ._examples import example_args, to_backend

# ------------------------------------------------------------------ array mutations


def _noncontiguous(xp, a):
    """Same shape and values, not C-contiguous (strided along an axis of size > 1)."""
    axis = next((i for i in reversed(range(a.ndim)) if a.shape[i] > 1), None)
    if axis is None:
        return None
    big = xp.repeat(a, 2, axis=axis)
    view = big[(slice(None),) * axis + (slice(None, None, 2),)]
    assert view.shape == a.shape and not view.flags.c_contiguous
    return view


def _float_args(name, args):
    spec = CONTRACT[name]
    return [k for k, s in spec.arrays.items() if not s.startswith("i:") and args[k] is not None]


def _sharers(name, arg, sym):
    """Other array arguments of ``name`` that use shape symbol ``sym``."""
    return [k for k, s in CONTRACT[name].arrays.items() if k != arg
            and sym in s.lstrip("?!").removeprefix("i:").split(",")]


def array_cases(name):
    """``[(arg, label, make(xp, a) -> bad, exception, words the message must hold)]``."""
    args = example_args(name, np.float64, np.random.default_rng(0))
    spec = CONTRACT[name]
    floats = _float_args(name, args)
    cases = []
    for arg, shape in spec.arrays.items():
        a = args[arg]
        if a is None:
            continue
        is_index = shape.startswith("i:")
        symbols = shape.lstrip("?!").removeprefix("i:").split(",")
        shp = lambda s: str(tuple(s))  # noqa: E731
        if is_index:
            cases += [(arg, "float64", lambda xp, a: a.astype(xp.float64), TypeError,
                       [arg, "int64", "float64"]),
                      (arg, "int32", lambda xp, a: a.astype(xp.int32), TypeError,
                       [arg, "int64", "int32"])]
        else:
            cases += [(arg, "int64", lambda xp, a: a.astype(xp.int64), TypeError,
                       [arg, "int64"]),
                      (arg, "float16", lambda xp, a: a.astype(xp.float16), TypeError,
                       [arg, "float16"])]
            if len(floats) > 1:
                cases.append((arg, "mixed-float32", lambda xp, a: a.astype(xp.float32),
                              TypeError, [arg, "float32", "float64"]))
        cases += [
            (arg, "list", lambda xp, a: a.tolist(), TypeError, [arg, "list"]),
            (arg, "ndim+1", lambda xp, a: a[None], ValueError,
             [arg, f"{len(symbols) + 1}-d", shp((1,) + a.shape)]),
            (arg, "empty-axis", lambda xp, a: a[:0], ValueError, [arg, "empty"]),
        ]
        if a.ndim > 1:
            cases.append((arg, "ndim-1", lambda xp, a: a[0], ValueError,
                          [arg, f"{a.ndim - 1}-d", shp(a.shape[1:])]))
        if any(s > 1 for s in a.shape):
            cases.append((arg, "non-contiguous", _noncontiguous, ValueError,
                          [arg, "C-contiguous"]))
        for axis, sym in enumerate(symbols):
            others = _sharers(name, arg, sym)
            if not others:
                continue
            def grow(xp, a, axis=axis):
                pad = list(a.shape)
                pad[axis] = 1
                return xp.ascontiguousarray(xp.concatenate([a, xp.zeros(pad, a.dtype)], axis))
            cases.append((arg, f"inconsistent-{sym}", grow, ValueError,
                          ["inconsistent", sym, [arg] + others]))
    return cases


ARRAY_CASES = [pytest.param(name, *case, id=f"{name}-{case[0]}-{case[1]}")
               for name in sorted(CONTRACT) for case in array_cases(name)]


def _check_message(exc, words, name):
    msg = str(exc)
    assert name in msg, f"message does not name the kernel {name!r}: {msg}"
    for w in words:
        if isinstance(w, list):        # any one of these
            assert any(x in msg for x in w), f"message names none of {w}: {msg}"
        else:
            assert w in msg, f"message lacks {w!r}: {msg}"


@pytest.mark.parametrize("name,arg,label,make,exc,words", ARRAY_CASES)
def test_bad_array(backend, name, arg, label, make, exc, words):
    args = to_backend(example_args(name, np.float64, np.random.default_rng(0)), backend)
    args[arg] = make(backend.xp, args[arg])
    with pytest.raises(exc) as e:
        getattr(backend.kernels, name)(**args)
    _check_message(e.value, words, name)


@pytest.mark.parametrize("name", sorted(CONTRACT))
def test_valid_examples_run(backend, name, dtype):
    """The starting point of every bad-input case is itself valid, in both dtypes."""
    getattr(backend.kernels, name)(**to_backend(
        example_args(name, dtype, np.random.default_rng(0)), backend))


@pytest.mark.parametrize("name", sorted(CONTRACT))
def test_wrong_call_signature(backend, name):
    args = to_backend(example_args(name, np.float64, np.random.default_rng(0)), backend)
    fn = getattr(backend.kernels, name)
    first = next(iter(args))
    with pytest.raises(TypeError, match=f"{name}.*{first}"):
        fn(**{k: v for k, v in args.items() if k != first})
    with pytest.raises(TypeError, match=name):
        fn(**args, bogus=1)


def test_arrays_of_another_backend(backend):
    """A backend's kernels take only its own array type (a host array on the GPU, say)."""
    if backend.array_type is np.ndarray:
        pytest.skip("host backend: NumPy arrays are its own")
    for name in CONTRACT:
        if not CONTRACT[name].arrays:
            continue                   # philox_uniform: options only, nothing to move
        args = example_args(name, np.float64, np.random.default_rng(0))
        with pytest.raises(TypeError, match=name):
            getattr(backend.kernels, name)(**args)


# -------------------------------------------------------------------- bad options

BAD_OPTIONS = {
    "activation": [("swish", ValueError), (None, ValueError), ("Tanh", ValueError)],
    "rnn_activation": [("sigmoid", ValueError), ("softmax", ValueError), (1, ValueError)],
    "pair_pos": [(0, ValueError), (-1, ValueError), ((1, 0), ValueError), ((1, 2, 3), ValueError),
                 (1.5, ValueError), ((1, 1.5), TypeError), (True, ValueError), ("2", ValueError),
                 (np.array([1, 1, 1]), ValueError)],
    "pair_nonneg": [(-1, ValueError), ((0, -2), ValueError), ((1,), ValueError),
                    (0.5, ValueError), (np.array([0, 0, 0]), ValueError)],
    "int_pos": [(0, ValueError), (-2, ValueError), (2.0, TypeError), ("3", TypeError),
                (True, TypeError), ((1, 1), TypeError), (np.array([2]), TypeError)],
    "int_nonneg": [(-1, ValueError), (1.5, TypeError), (None, TypeError),
                   (np.array([1]), TypeError)],
    "prob": [(-0.1, ValueError), (1.5, ValueError), (float("nan"), ValueError),
             ("0.5", TypeError), (None, TypeError), (np.array([0.3]), TypeError)],
    "open_prob": [(0.0, ValueError), (1.0, ValueError), (-1, ValueError)],
    "bool": [(1, TypeError), ("yes", TypeError), (None, TypeError)],
    "pos_real": [(0.0, ValueError), (-1.0, ValueError), (float("inf"), ValueError),
                 (None, TypeError)],
    "nonneg": [(-1e-3, ValueError), (float("inf"), ValueError), (float("nan"), ValueError),
               ("1", TypeError), (np.array([0.1]), TypeError)],
    "uint64": [(-1, ValueError), (2**64, ValueError), (1.5, TypeError), ("3", TypeError),
               (True, TypeError), (None, TypeError), (np.array([1]), TypeError)],
    "float_dtype": [("float16", ValueError), (np.int64, ValueError), (np.float16, ValueError),
                    (None, ValueError), (4, ValueError), ("single-ish", ValueError),
                    (True, ValueError)],
}

OPTION_CASES = [
    pytest.param(name, opt, value, exc, id=f"{name}-{opt}={value!r}")
    for name in sorted(CONTRACT) for opt, kind in CONTRACT[name].options.items()
    for value, exc in BAD_OPTIONS[kind]]


@pytest.mark.parametrize("name,opt,value,exc", OPTION_CASES)
def test_bad_option(backend, name, opt, value, exc):
    args = to_backend(example_args(name, np.float64, np.random.default_rng(0)), backend)
    args[opt] = value
    with pytest.raises(exc) as e:
        getattr(backend.kernels, name)(**args)
    _check_message(e.value, [opt], name)


def test_every_option_kind_has_bad_values():
    kinds = {kind for spec in CONTRACT.values() for kind in spec.options.values()}
    assert kinds <= set(BAD_OPTIONS), kinds - set(BAD_OPTIONS)


# ----------------------------------------------------------- cross-argument rules


def _conv_cases():
    z = np.zeros
    return [
        # kernel larger than the padded input
        ("conv2d_forward", dict(x=z((2, 1, 4, 5)), w=z((3, 1, 7, 2)), b=z(3), stride=1,
                                padding=1), ["kernel", "exceeds"]),
        ("conv2d_forward", dict(x=z((2, 1, 4, 5)), w=z((3, 1, 2, 6)), b=z(3), stride=1,
                                padding=0), ["kernel", "exceeds"]),
        ("conv1d_forward", dict(x=z((2, 1, 4)), w=z((3, 1, 5)), b=z(3), stride=1, padding=0),
         ["kernel", "exceeds"]),
        ("conv2d_backward_input", dict(dy=z((2, 3, 1, 1)), w=z((3, 1, 5, 5)), in_size=(3, 3),
                                       stride=1, padding=0), ["kernel", "exceeds"]),
        ("conv2d_backward_weight", dict(dy=z((2, 3, 1, 1)), x=z((2, 1, 3, 3)),
                                        kernel_size=(4, 3), stride=1, padding=0),
         ["kernel", "exceeds"]),
        ("conv1d_backward_weight", dict(dy=z((2, 3, 1)), x=z((2, 1, 3)), kernel_size=6,
                                        stride=1, padding=1), ["kernel", "exceeds"]),
        # dy whose size is not the forward output size
        ("conv2d_backward_input", dict(dy=z((2, 3, 3, 3)), w=z((3, 1, 2, 2)), in_size=(4, 4),
                                       stride=2, padding=0), ["dy", "output H size 3", "2"]),
        ("conv2d_backward_input", dict(dy=z((2, 3, 2, 4)), w=z((3, 1, 2, 2)), in_size=(4, 4),
                                       stride=2, padding=0), ["dy", "output W size 4"]),
        ("conv2d_backward_weight", dict(dy=z((2, 3, 3, 3)), x=z((2, 1, 4, 4)),
                                        kernel_size=2, stride=1, padding=1),
         ["dy", "output H size 3", "5"]),
        ("conv1d_backward_input", dict(dy=z((2, 3, 5)), w=z((3, 1, 3)), in_size=8, stride=2,
                                       padding=1), ["dy", "output L size 5", "4"]),
        ("conv1d_backward_weight", dict(dy=z((2, 3, 2)), x=z((2, 1, 8)), kernel_size=3,
                                        stride=1, padding=0), ["dy", "output L size 2", "6"]),
    ]


def _pool_cases():
    z = np.zeros
    i = lambda *s, v=0: np.full(s, v, dtype=np.int64)  # noqa: E731
    return [
        ("maxpool2d_forward", dict(x=z((1, 1, 3, 4)), kernel=(4, 2), stride=1),
         ["kernel", "exceeds"]),
        ("avgpool2d_forward", dict(x=z((1, 1, 3, 4)), kernel=(2, 5), stride=1),
         ["kernel", "exceeds"]),
        ("maxpool1d_forward", dict(x=z((1, 1, 3)), kernel=4, stride=1), ["kernel", "exceeds"]),
        ("avgpool1d_forward", dict(x=z((1, 1, 3)), kernel=4, stride=2), ["kernel", "exceeds"]),
        ("avgpool2d_backward", dict(dy=z((1, 1, 2, 2)), in_size=(4, 4), kernel=2, stride=1),
         ["dy", "output H size 2", "3"]),
        ("avgpool1d_backward", dict(dy=z((1, 1, 4)), in_size=6, kernel=2, stride=2),
         ["dy", "output L size 4", "3"]),
        ("avgpool1d_backward", dict(dy=z((1, 1, 1)), in_size=3, kernel=4, stride=1),
         ["kernel", "exceeds"]),
        ("maxpool2d_backward", dict(dy=z((1, 2, 2, 2)), argmax=i(1, 2, 2, 2, v=16),
                                    in_size=(4, 4)), ["argmax", "[0, 16)"]),
        ("maxpool2d_backward", dict(dy=z((1, 2, 2, 2)), argmax=i(1, 2, 2, 2, v=-1),
                                    in_size=(4, 4)), ["argmax", "[0, 16)"]),
        ("maxpool2d_backward", dict(dy=z((1, 1, 3, 3)), argmax=i(1, 1, 3, 3),
                                    in_size=(2, 4)), ["in_size", "larger"]),
        ("maxpool1d_backward", dict(dy=z((1, 1, 2)), argmax=i(1, 1, 2, v=5), in_size=5),
         ["argmax", "[0, 5)"]),
        ("maxpool1d_backward", dict(dy=z((1, 1, 6)), argmax=i(1, 1, 6), in_size=5),
         ["in_size", "larger"]),
    ]


def _lstm_cases():
    z = np.zeros
    n, d, h, g = 2, 3, 2, 9           # g != 4h
    return [
        ("lstm_step_forward", dict(x=z((n, d)), h_prev=z((n, h)), c_prev=z((n, h)),
                                   Wx=z((d, g)), Wh=z((h, g)), b=z(g)), ["4*H = 8", "9"]),
        ("lstm_forward", dict(x=z((3, n, d)), h0=z((n, h)), c0=z((n, h)), Wx=z((d, g)),
                              Wh=z((h, g)), b=z(g)), ["4*H = 8", "9"]),
        ("lstm_step_backward", dict(dh=z((n, h)), dc=z((n, h)), x=z((n, d)), h_prev=z((n, h)),
                                    c_prev=z((n, h)), c=z((n, h)), gates=z((n, g)),
                                    Wx=z((d, g)), Wh=z((h, g))), ["4*H = 8", "9"]),
        ("lstm_backward", dict(dhs=z((3, n, h)), x=z((3, n, d)), h0=z((n, h)), c0=z((n, h)),
                               hs=z((3, n, h)), cs=z((3, n, h)), gates=z((3, n, g)),
                               Wx=z((d, g)), Wh=z((h, g))), ["4*H = 8", "9"]),
    ]


def _optim_cases():
    z = np.zeros
    return [
        ("sgd_update", dict(param=z(4), grad=z(4), velocity=z(4), scale=z(2), lr=0.1,
                            momentum=0.9, weight_decay=0.0, nesterov=False),
         ["scale", "(1,)", "(2,)"]),
        ("rmsprop_update", dict(param=z(4), grad=z(4), square_avg=z(4), grad_avg=None,
                                buf=None, scale=None, lr=0.1, alpha=0.9, eps=1e-8,
                                momentum=0.5, weight_decay=0.0), ["momentum", "buf"]),
    ]


RULE_CASES = _conv_cases() + _pool_cases() + _lstm_cases() + _optim_cases()


@pytest.mark.parametrize("name,args,words", [
    pytest.param(n, a, w, id=f"{n}-{i}") for i, (n, a, w) in enumerate(RULE_CASES)])
def test_cross_argument_rules(backend, name, args, words):
    with pytest.raises(ValueError) as e:
        getattr(backend.kernels, name)(**to_backend(args, backend))
    msg = str(e.value)
    for w in words:
        assert w in msg, f"message lacks {w!r}: {msg}"


def test_optional_sigma_accepts_none_and_checks_arrays(backend):
    k = backend.kernels
    args = to_backend(example_args("free_energy", np.float64, np.random.default_rng(0)), backend)
    assert args["sigma"] is None
    k.free_energy(**args)
    args["sigma"] = backend.asarray(np.ones(args["v"].shape[1] + 1))
    with pytest.raises(ValueError, match="sigma"):
        k.free_energy(**args)


# ------------------------------------------------------- the signature cache


def test_a_signature_is_checked_once_and_values_every_call(backend, monkeypatch):
    """The shape/dtype/option checks run once per call signature (then remembered); a
    call with any other signature is checked in full, and the argmax range (a check of
    values, not shapes) is checked on every call, except through ``kernels.trusted``."""
    import deepbio._kernels as contract
    full = []
    check = contract._check_arrays
    monkeypatch.setattr(contract, "_check_arrays",
                        lambda *a: full.append(a[0].name) or check(*a))
    k = backend.kernels
    rng = np.random.default_rng(0)
    args = to_backend(example_args("maxpool2d_backward", np.float64, rng), backend)
    kernel = k.maxpool2d_backward
    kernel.signatures.clear()
    kernel(**args)
    kernel(**args)
    assert full == ["maxpool2d_backward"] and len(kernel.signatures) == 1
    bad = dict(args, argmax=args["argmax"] + 10**6)        # same signature, bad values
    with pytest.raises(ValueError, match="argmax"):
        kernel(**bad)
    k.trusted["maxpool2d_backward"](**args)
    for spoiled in (dict(args, dy=args["dy"].astype(np.int64)),            # dtype
                    dict(args, dy=_noncontiguous(backend.xp, args["dy"])),  # layout
                    dict(args, in_size=(1, 1))):                           # option
        with pytest.raises((TypeError, ValueError)):
            kernel(**spoiled)
        with pytest.raises((TypeError, ValueError)):                       # trusted too
            k.trusted["maxpool2d_backward"](**spoiled)
    assert len(kernel.signatures) == 1          # a failing signature is not remembered
    dense = k.dense_forward
    assert k.trusted["dense_forward"] is dense  # no value check: the same kernel
