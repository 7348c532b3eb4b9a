"""Valid arguments for every contract kernel, fixed or hypothesis-drawn, and their outputs.

One builder, :func:`make_args`, turns a table of sizes (``dims``) into a valid call of any
kernel in :data:`deepbio._kernels.CONTRACT`; :func:`example_args` uses small fixed sizes
(with stride > 1 and padding), :func:`kernel_args` draws the sizes with hypothesis (edges
included: batch 1, kernel as large as the input, stride larger than the kernel, sequence
length 1), and :data:`EDGE_DIMS` names the edge cases explicitly.  The bad-input tests, the
equivalence tests and the coverage meta-test all start from these.

Arguments are built on the host (NumPy); :func:`to_backend` moves them to a backend.
"""
import re

import numpy as np
from hypothesis import strategies as st

import deepbio.backend
from deepbio._kernels import ACTIVATIONS, CONTRACT, RNN_ACTIVATIONS

REF = deepbio.backend.get("numpy").kernels

DEFAULT_DIMS = {
    # dense / rbm / recurrent
    "N": 3, "D": 4, "H": 5, "T": 3,
    # images: C channels, F filters, height x width, kernel, stride, padding
    "C": 2, "F": 3, "IH": 6, "IW": 5, "KH": 3, "KW": 2, "SH": 2, "SW": 1, "PH": 1, "PW": 0,
    # sequences for conv1d / pool1d: length, kernel, stride, padding
    "L": 7, "K": 3, "S": 2, "P": 1,
    # options
    "activation": "tanh", "rnn_activation": "tanh", "gaussian": False,
    # philox_uniform: count, key and counter (the default offset crosses 2^32)
    "n": 11, "seed": 2**40 + 5, "stream": 3, "offset": 2**32 - 2,
}


def _out(n, k, s, p):
    return (n + 2 * p - k) // s + 1


def distinct(rng, shape, dtype):
    """Values that are pairwise distinct (by at least 1/size), so max pooling has no ties."""
    size = int(np.prod(shape))
    return (rng.permutation(size).reshape(shape) / max(size, 1) * 4 - 2).astype(dtype)


def make_args(name, dtype, rng, dims=None):
    """Valid keyword arguments for kernel ``name`` (host NumPy arrays of ``dtype``).

    ``dims`` overrides :data:`DEFAULT_DIMS`.  Arrays that must be consistent with others
    (``a`` for ``dense_backward``, ``gates`` for ``lstm_step_backward``, ``argmax``...) are
    computed with the reference kernels.
    """
    d = dict(DEFAULT_DIMS, **(dims or {}))
    dtype = np.dtype(dtype)
    N, D, H, T, C, F = d["N"], d["D"], d["H"], d["T"], d["C"], d["F"]
    IH, IW, KH, KW = d["IH"], d["IW"], d["KH"], d["KW"]
    stride2, pad2 = (d["SH"], d["SW"]), (d["PH"], d["PW"])
    L, K, S, P = d["L"], d["K"], d["S"], d["P"]
    act, ract = d["activation"], d["rnn_activation"]

    def nrm(*shape, scale=1.0):
        return (scale * rng.standard_normal(shape)).astype(dtype)

    def uni(*shape, low=0.0, high=1.0):
        return (low + (high - low) * rng.random(shape)).astype(dtype)

    def unif01(*shape):
        return rng.random(shape, dtype=dtype)

    if name == "philox_uniform":
        return {"n": d["n"], "seed": d["seed"], "stream": d["stream"], "offset": d["offset"],
                "dtype": dtype}
    if name == "sigmoid_bernoulli":
        return {"x": nrm(N, D, scale=3.0), "u": unif01(N, D)}
    if name == "gaussian_sample":
        return {"mean": nrm(N, D), "sigma": uni(D, low=0.5, high=1.5),
                "u1": unif01(N, D), "u2": unif01(N, D)}
    if name == "cd_statistics":
        return {"v0": uni(N, D), "h0": uni(N, H), "vk": uni(N, D), "hk": uni(N, H)}
    if name == "free_energy":
        sigma = uni(D, low=0.5, high=1.5) if d["gaussian"] else None
        return {"v": uni(N, D), "W": nrm(D, H, scale=0.5), "b": nrm(D, scale=0.5),
                "c": nrm(H, scale=0.5), "sigma": sigma}
    if name == "activation_forward":
        return {"z": nrm(N, D, scale=2.0), "activation": act}
    if name == "activation_backward":
        return {"a": REF.activation_forward(nrm(N, D, scale=2.0), act), "da": nrm(N, D),
                "activation": act}
    if name == "dense_forward":
        return {"x": nrm(N, D), "W": nrm(D, H, scale=0.5), "b": nrm(H, scale=0.5),
                "activation": act}
    if name == "dense_backward":
        x, W, b = nrm(N, D), nrm(D, H, scale=0.5), nrm(H, scale=0.5)
        return {"x": x, "W": W, "a": REF.dense_forward(x, W, b, act), "da": nrm(N, H),
                "activation": act}
    if name == "sparsity_grad":
        return {"a": uni(N, H, low=0.02, high=0.98), "rho": 0.1, "beta": 3.0}
    if name == "mask_corrupt":
        return {"x": nrm(N, D), "u": unif01(N, D), "p": 0.3}
    if name == "gaussian_corrupt":
        return {"x": nrm(N, D), "u1": unif01(N, D), "u2": unif01(N, D), "std": 0.5}

    oh, ow = _out(IH, KH, stride2[0], pad2[0]), _out(IW, KW, stride2[1], pad2[1])
    ol = _out(L, K, S, P)
    if name == "conv2d_forward":
        return {"x": nrm(N, C, IH, IW), "w": nrm(F, C, KH, KW, scale=0.5), "b": nrm(F),
                "stride": stride2, "padding": pad2}
    if name == "conv2d_backward_input":
        return {"dy": nrm(N, F, oh, ow), "w": nrm(F, C, KH, KW), "in_size": (IH, IW),
                "stride": stride2, "padding": pad2}
    if name == "conv2d_backward_weight":
        return {"dy": nrm(N, F, oh, ow), "x": nrm(N, C, IH, IW), "kernel_size": (KH, KW),
                "stride": stride2, "padding": pad2}
    if name == "conv1d_forward":
        return {"x": nrm(N, C, L), "w": nrm(F, C, K, scale=0.5), "b": nrm(F),
                "stride": S, "padding": P}
    if name == "conv1d_backward_input":
        return {"dy": nrm(N, F, ol), "w": nrm(F, C, K), "in_size": L, "stride": S, "padding": P}
    if name == "conv1d_backward_weight":
        return {"dy": nrm(N, F, ol), "x": nrm(N, C, L), "kernel_size": K, "stride": S,
                "padding": P}

    # pooling: no padding, kernel within the input
    ph_, pw_ = _out(IH, KH, stride2[0], 0), _out(IW, KW, stride2[1], 0)
    pl = _out(L, K, S, 0)
    if name in ("maxpool2d_forward", "avgpool2d_forward"):
        x = distinct(rng, (N, C, IH, IW), dtype)
        return {"x": x, "kernel": (KH, KW), "stride": stride2}
    if name == "maxpool2d_backward":
        _, argmax = REF.maxpool2d_forward(distinct(rng, (N, C, IH, IW), dtype), (KH, KW), stride2)
        return {"dy": nrm(N, C, ph_, pw_), "argmax": argmax, "in_size": (IH, IW)}
    if name == "avgpool2d_backward":
        return {"dy": nrm(N, C, ph_, pw_), "in_size": (IH, IW), "kernel": (KH, KW),
                "stride": stride2}
    if name in ("maxpool1d_forward", "avgpool1d_forward"):
        return {"x": distinct(rng, (N, C, L), dtype), "kernel": K, "stride": S}
    if name == "maxpool1d_backward":
        _, argmax = REF.maxpool1d_forward(distinct(rng, (N, C, L), dtype), K, S)
        return {"dy": nrm(N, C, pl), "argmax": argmax, "in_size": L}
    if name == "avgpool1d_backward":
        return {"dy": nrm(N, C, pl), "in_size": L, "kernel": K, "stride": S}

    # recurrent
    if name == "elman_step_forward":
        return {"x": nrm(N, D), "h_prev": nrm(N, H, scale=0.5), "Wx": nrm(D, H, scale=0.5),
                "Wh": nrm(H, H, scale=0.5), "b": nrm(H, scale=0.5), "activation": ract}
    if name == "elman_step_backward":
        x, hp, Wx, Wh, b = (nrm(N, D), nrm(N, H, scale=0.5), nrm(D, H, scale=0.5),
                            nrm(H, H, scale=0.5), nrm(H, scale=0.5))
        return {"dh": nrm(N, H), "x": x, "h_prev": hp,
                "h": REF.elman_step_forward(x, hp, Wx, Wh, b, ract), "Wx": Wx, "Wh": Wh,
                "activation": ract}
    if name == "elman_forward":
        return {"x": nrm(T, N, D), "h0": nrm(N, H, scale=0.5), "Wx": nrm(D, H, scale=0.5),
                "Wh": nrm(H, H, scale=0.5), "b": nrm(H, scale=0.5), "activation": ract}
    if name == "elman_backward":
        x, h0, Wx, Wh, b = (nrm(T, N, D), nrm(N, H, scale=0.5), nrm(D, H, scale=0.5),
                            nrm(H, H, scale=0.5), nrm(H, scale=0.5))
        return {"dhs": nrm(T, N, H), "x": x, "h0": h0,
                "hs": REF.elman_forward(x, h0, Wx, Wh, b, ract), "Wx": Wx, "Wh": Wh,
                "activation": ract}
    if name == "lstm_step_forward":
        return {"x": nrm(N, D), "h_prev": nrm(N, H, scale=0.5), "c_prev": nrm(N, H),
                "Wx": nrm(D, 4 * H, scale=0.5), "Wh": nrm(H, 4 * H, scale=0.5),
                "b": nrm(4 * H, scale=0.5)}
    if name == "lstm_step_backward":
        x, hp, cp = nrm(N, D), nrm(N, H, scale=0.5), nrm(N, H)
        Wx, Wh, b = nrm(D, 4 * H, scale=0.5), nrm(H, 4 * H, scale=0.5), nrm(4 * H, scale=0.5)
        _, c, gates = REF.lstm_step_forward(x, hp, cp, Wx, Wh, b)
        return {"dh": nrm(N, H), "dc": nrm(N, H), "x": x, "h_prev": hp, "c_prev": cp, "c": c,
                "gates": gates, "Wx": Wx, "Wh": Wh}
    if name == "lstm_forward":
        return {"x": nrm(T, N, D), "h0": nrm(N, H, scale=0.5), "c0": nrm(N, H),
                "Wx": nrm(D, 4 * H, scale=0.5), "Wh": nrm(H, 4 * H, scale=0.5),
                "b": nrm(4 * H, scale=0.5)}
    if name == "lstm_backward":
        x, h0, c0 = nrm(T, N, D), nrm(N, H, scale=0.5), nrm(N, H)
        Wx, Wh, b = nrm(D, 4 * H, scale=0.5), nrm(H, 4 * H, scale=0.5), nrm(4 * H, scale=0.5)
        hs, cs, gates = REF.lstm_forward(x, h0, c0, Wx, Wh, b)
        return {"dhs": nrm(T, N, H), "x": x, "h0": h0, "c0": c0, "hs": hs, "cs": cs,
                "gates": gates, "Wx": Wx, "Wh": Wh}
    if name in MASKED_RECURRENT:
        return _masked_recurrent_args(name, d, dtype, rng, nrm)
    if name in GRU_KERNELS:
        return _gru_args(name, d, dtype, rng, nrm)
    if CONTRACT[name].family == "optim":
        return _optim_args(name, d, dtype, rng, nrm, uni)
    raise KeyError(f"no example arguments for kernel {name!r}: add it to make_args")


#: The recurrent kernels with a mask (and truncation / the R-op): _masked_recurrent_args.
MASKED_RECURRENT = ("elman_forward_masked", "elman_backward_masked", "lstm_forward_masked",
                    "lstm_backward_masked", "elman_rop", "lstm_rop")
#: The GRU kernels (whole sequences, masked twins and the R-op): _gru_args.
GRU_KERNELS = ("gru_forward", "gru_backward", "gru_forward_masked", "gru_backward_masked",
               "gru_rop")


def sequence_mask(rng, t_len, n, dtype):
    """A (T, N) 0/1 mask: row 0 all real, row 1 (if any) right-padded to half the length,
    the others random (holes, leading padding, all padding)."""
    m = (rng.random((t_len, n)) < 0.6).astype(dtype)
    m[:, 0] = 1
    if n > 1:
        m[:, 1] = (np.arange(t_len) < max(1, t_len // 2)).astype(dtype)
    return m


def carry_keep(m, k):
    """Truncation factors (T, N) for windows of ``k`` real steps, as
    ``deepbio.nn.recurrent._Recurrent._carry_keep`` builds them from a mask."""
    real = m > 0
    j = np.cumsum(real, axis=0) - 1
    return (~real | (j % k != 0)).astype(m.dtype)


def _masked_recurrent_args(name, d, dtype, rng, nrm):
    N, D, H, T = d["N"], d["D"], d["H"], d["T"]
    act = d["rnn_activation"]
    m = sequence_mask(rng, T, N, dtype)
    keep = carry_keep(m, d.get("bptt", 2)) if d.get("bptt", 2) else None
    if name.startswith("elman"):
        x, h0, Wx, Wh, b = (nrm(T, N, D), nrm(N, H, scale=0.5), nrm(D, H, scale=0.5),
                            nrm(H, H, scale=0.5), nrm(H, scale=0.5))
        if name == "elman_forward_masked":
            return {"x": x, "h0": h0, "m": m, "Wx": Wx, "Wh": Wh, "b": b, "activation": act}
        hs, hnew = REF.elman_forward_masked(x, h0, m, Wx, Wh, b, act)
        if name == "elman_backward_masked":
            return {"dhs": nrm(T, N, H), "x": x, "h0": h0, "hs": hs, "hnew": hnew, "m": m,
                    "keep": keep, "Wx": Wx, "Wh": Wh, "activation": act}
        return {"A": nrm(T, N, H), "hnew": hnew, "m": m if d.get("rop_mask", True) else None,
                "Wh": Wh, "activation": act}
    x, h0, c0 = nrm(T, N, D), nrm(N, H, scale=0.5), nrm(N, H)
    Wx, Wh, b = nrm(D, 4 * H, scale=0.5), nrm(H, 4 * H, scale=0.5), nrm(4 * H, scale=0.5)
    if name == "lstm_forward_masked":
        return {"x": x, "h0": h0, "c0": c0, "m": m, "Wx": Wx, "Wh": Wh, "b": b}
    hs, cs, cnew, gates = REF.lstm_forward_masked(x, h0, c0, m, Wx, Wh, b)
    if name == "lstm_backward_masked":
        return {"dhs": nrm(T, N, H), "x": x, "h0": h0, "c0": c0, "hs": hs, "cs": cs,
                "cnew": cnew, "gates": gates, "m": m, "keep": keep, "Wx": Wx, "Wh": Wh}
    return {"A": nrm(T, N, 4 * H), "c0": c0, "cs": cs, "cnew": cnew, "gates": gates,
            "m": m if d.get("rop_mask", True) else None, "Wh": Wh}


def _gru_args(name, d, dtype, rng, nrm):
    N, D, H, T = d["N"], d["D"], d["H"], d["T"]
    m = sequence_mask(rng, T, N, dtype)
    keep = carry_keep(m, d.get("bptt", 2)) if d.get("bptt", 2) else None
    x, h0 = nrm(T, N, D), nrm(N, H, scale=0.5)
    Wx, Wh = nrm(D, 3 * H, scale=0.5), nrm(H, 3 * H, scale=0.5)
    b, bh = nrm(3 * H, scale=0.5), nrm(3 * H, scale=0.5)
    if name == "gru_forward":
        return {"x": x, "h0": h0, "Wx": Wx, "Wh": Wh, "b": b, "bh": bh}
    if name == "gru_forward_masked":
        return {"x": x, "h0": h0, "m": m, "Wx": Wx, "Wh": Wh, "b": b, "bh": bh}
    if name == "gru_backward":
        hs, gates, hn = REF.gru_forward(x, h0, Wx, Wh, b, bh)
        return {"dhs": nrm(T, N, H), "x": x, "h0": h0, "hs": hs, "gates": gates, "hn": hn,
                "Wx": Wx, "Wh": Wh}
    hs, _, gates, hn = REF.gru_forward_masked(x, h0, m, Wx, Wh, b, bh)
    if name == "gru_backward_masked":
        return {"dhs": nrm(T, N, H), "x": x, "h0": h0, "hs": hs, "gates": gates, "hn": hn,
                "m": m, "keep": keep, "Wx": Wx, "Wh": Wh}
    return {"Ax": nrm(T, N, 3 * H), "Ah": nrm(T, N, 3 * H), "h0": h0, "hs": hs,
            "gates": gates, "hn": hn, "m": m if d.get("rop_mask", True) else None, "Wh": Wh}


def _optim_args(name, d, dtype, rng, nrm, uni):
    """The optimiser family: a flat buffer of P = N * D * H parameters and its state.
    ``d`` may set ``wd`` (weight decay), ``clip`` (give a scale), ``variant`` (0-3:
    Nesterov / AMSGrad / decoupled decay / centered and momentum, by kernel) and
    ``step``."""
    n_par = d["N"] * d["D"] * d["H"]
    wd, variant, clip = d.get("wd", 0.1), d.get("variant", 3), d.get("clip", True)
    param, grad = nrm(n_par), nrm(n_par)
    scale = np.array([0.6], dtype=dtype) if clip else None
    if name == "clip_scale":
        return {"grad": grad, "param": param, "weight_decay": wd, "clip_norm": 0.5}
    if name == "sgd_update":
        return {"param": param, "grad": grad, "velocity": nrm(n_par, scale=0.1),
                "scale": scale, "lr": 0.05, "momentum": 0.9 if variant else 0.0,
                "weight_decay": wd, "nesterov": variant % 2 == 1}
    if name == "adam_update":
        v = uni(n_par, low=0.05, high=1.0)
        return {"param": param, "grad": grad, "m": nrm(n_par, scale=0.3), "v": v,
                "vmax": (v + uni(n_par)).astype(dtype) if variant % 2 else None,
                "scale": scale, "lr": 0.01, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8,
                "weight_decay": 0.0 if variant >= 2 else wd,
                "decoupled_decay": wd if variant >= 2 else 0.0, "step": d.get("step", 3)}
    if name == "rmsprop_update":
        centered, momentum = variant in (1, 3), 0.9 if variant >= 2 else 0.0
        return {"param": param, "grad": grad, "square_avg": uni(n_par, low=0.5, high=1.5),
                "grad_avg": nrm(n_par, scale=0.1) if centered else None,
                "buf": nrm(n_par, scale=0.1) if momentum else None, "scale": scale,
                "lr": 0.01, "alpha": 0.99, "eps": 1e-8, "momentum": momentum,
                "weight_decay": wd}
    raise KeyError(f"no example arguments for kernel {name!r}: add it to _optim_args")


def example_args(name, dtype, rng):
    """Valid arguments for ``name`` at the small fixed sizes of :data:`DEFAULT_DIMS`."""
    return make_args(name, dtype, rng)


def to_backend(args, backend):
    """Move every array of ``args`` onto ``backend`` (other values unchanged)."""
    return {k: backend.asarray(v) if isinstance(v, np.ndarray) else v for k, v in args.items()}


# ----------------------------------------------------------------- hypothesis sizes


@st.composite
def _dims_dense(draw):
    return {"N": draw(st.integers(1, 6)), "D": draw(st.integers(1, 7)),
            "H": draw(st.integers(1, 6)), "gaussian": draw(st.booleans())}


@st.composite
def _dims_conv2d(draw, pool=False):
    ih, iw = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    ph, pw = (0, 0) if pool else (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    # the kernel ranges up to the whole (padded) input
    kh, kw = draw(st.integers(1, ih + 2 * ph)), draw(st.integers(1, iw + 2 * pw))
    return {"N": draw(st.integers(1, 3)), "C": draw(st.integers(1, 3)),
            "F": draw(st.integers(1, 3)), "IH": ih, "IW": iw, "KH": kh, "KW": kw,
            "SH": draw(st.integers(1, 4)), "SW": draw(st.integers(1, 4)), "PH": ph, "PW": pw}


@st.composite
def _dims_conv1d(draw, pool=False):
    n_len = draw(st.integers(1, 12))
    p = 0 if pool else draw(st.integers(0, 3))
    return {"N": draw(st.integers(1, 3)), "C": draw(st.integers(1, 4)),
            "F": draw(st.integers(1, 3)), "L": n_len, "K": draw(st.integers(1, n_len + 2 * p)),
            "S": draw(st.integers(1, 4)), "P": p}


@st.composite
def _dims_recurrent(draw):
    # bptt (truncation window, 0: full BPTT) and rop_mask are read by the masked kernels
    return {"T": draw(st.integers(1, 4)), "N": draw(st.integers(1, 4)),
            "D": draw(st.integers(1, 5)), "H": draw(st.integers(1, 5)),
            "bptt": draw(st.integers(0, 3)), "rop_mask": draw(st.booleans())}


@st.composite
def _dims_random(draw):
    u64 = st.integers(0, 2**64 - 1)
    return {"n": draw(st.integers(1, 40)), "seed": draw(u64), "stream": draw(u64),
            "offset": draw(u64)}


@st.composite
def _dims_optim(draw):
    return {"N": draw(st.integers(1, 6)), "D": draw(st.integers(1, 7)),
            "H": draw(st.integers(1, 6)), "wd": draw(st.sampled_from([0.0, 0.1])),
            "clip": draw(st.booleans()), "variant": draw(st.integers(0, 3)),
            "step": draw(st.integers(1, 50))}


def dims_strategy(name):
    """A hypothesis strategy for the sizes (and options) of a call of ``name``."""
    family = CONTRACT[name].family
    if family == "random":
        base = _dims_random()
    elif family in ("rbm", "dense"):
        base = _dims_dense()
    elif family == "optim":
        base = _dims_optim()
    elif family == "conv":
        base = _dims_conv2d() if "2d" in name else _dims_conv1d()
    elif family == "pool":
        base = _dims_conv2d(pool=True) if "2d" in name else _dims_conv1d(pool=True)
    else:
        base = _dims_recurrent()
    opts = {}
    if "activation" in CONTRACT[name].options:
        key = "rnn_activation" if CONTRACT[name].family == "recurrent" else "activation"
        allowed = RNN_ACTIVATIONS if key == "rnn_activation" else ACTIVATIONS
        opts[key] = st.sampled_from(allowed)
    return st.tuples(base, st.fixed_dictionaries(opts)).map(lambda t: {**t[0], **t[1]})


@st.composite
def kernel_args(draw, name, dtype):
    """Hypothesis strategy: ``(dims, args)`` for a valid call of ``name`` in ``dtype``."""
    dims = draw(dims_strategy(name))
    seed = draw(st.integers(0, 2**32 - 1))
    return dims, make_args(name, dtype, np.random.default_rng(seed), dims)


#: Named edge cases for each family (merged over DEFAULT_DIMS).
EDGE_DIMS = {
    "batch 1": {"N": 1},
    "all sizes 1": {"N": 1, "D": 1, "H": 1, "T": 1, "C": 1, "F": 1, "IH": 1, "IW": 1,
                    "KH": 1, "KW": 1, "SH": 1, "SW": 1, "PH": 0, "PW": 0,
                    "L": 1, "K": 1, "S": 1, "P": 0},
    "kernel as large as input": {"KH": 6, "KW": 5, "PH": 0, "PW": 0, "K": 7, "P": 0},
    "kernel as large as padded input": {"KH": 8, "KW": 7, "PH": 1, "PW": 1, "K": 9, "P": 1},
    "stride larger than kernel": {"KH": 2, "KW": 1, "SH": 3, "SW": 4, "K": 2, "S": 3},
    "stride larger than input": {"SH": 9, "SW": 9, "S": 9},
    "wide padding": {"KH": 2, "KW": 2, "PH": 2, "PW": 2, "K": 2, "P": 3},
    "sequence length 1": {"T": 1},
    # the masked recurrent kernels: full BPTT (keep None), the R-op without a mask
    "no truncation, no R-op mask": {"bptt": 0, "rop_mask": False},
}

#: Named edge cases of the random family (counters at the ends of their ranges).
RANDOM_EDGE_DIMS = {
    "n 1": {"n": 1},
    "n not a multiple of 4": {"n": 13},
    "all zero": {"n": 8, "seed": 0, "stream": 0, "offset": 0},
    "offset wraps past 2^64 - 1": {"n": 21, "offset": 2**64 - 3},
    "all ones": {"n": 9, "seed": 2**64 - 1, "stream": 2**64 - 1, "offset": 2**64 - 1},
    "high words only": {"n": 6, "seed": 2**32, "stream": 2**32, "offset": 2**32},
}


#: Named cases of the optimiser family: every form of each update (variant: plain /
#: Nesterov / AMSGrad / decoupled decay / centered / momentum, see _optim_args), with and
#: without the clipping scale and the L2 decay, on 1 and on 2 * 3 * 5 parameters.
OPTIM_EDGE_DIMS = {
    f"variant {v}{' clipped' if clip else ''}{' decayed' if wd else ''}{' P 1' if one else ''}":
        {"variant": v, "clip": clip, "wd": wd, **({"N": 1, "D": 1, "H": 1} if one else
                                                 {"N": 2, "D": 3, "H": 5})}
    for v in range(4) for clip in (False, True) for wd in (0.0, 0.1) for one in (False, True)
    if not one or (clip and wd)}


def edge_cases(name):
    """``[(label, dims)]`` of :data:`EDGE_DIMS` that make a valid call of ``name``."""
    if CONTRACT[name].family == "random":
        return list(RANDOM_EDGE_DIMS.items())
    if CONTRACT[name].family == "optim":
        return list(OPTIM_EDGE_DIMS.items())
    cases = []
    for label, dims in EDGE_DIMS.items():
        d = dict(DEFAULT_DIMS, **dims)
        if label == "no truncation, no R-op mask" and name not in MASKED_RECURRENT:
            continue

        if CONTRACT[name].family == "pool" and (d["KH"] > d["IH"] or d["KW"] > d["IW"]
                                                or d["K"] > d["L"]):
            continue            # pooling has no padding: the kernel must fit the input
        cases.append((label, dims))
    return cases


# --------------------------------------------------------------------- output shapes

_RETURN = re.compile(r"(\w+) (int64 )?\(([^()]*)\)")


def returns_of(name):
    """``[(output name, is_int64, shape symbols)]`` parsed from the contract's ``returns``."""
    out = []
    for oname, is_int, shape in _RETURN.findall(CONTRACT[name].returns):
        syms = tuple(s.strip() for s in shape.split(",") if s.strip())
        out.append((oname, bool(is_int), syms))
    return out


def _pair(v):
    return (int(v), int(v)) if not isinstance(v, (tuple, list)) else tuple(int(x) for x in v)


def symbol_sizes(name, args):
    """Sizes of every shape symbol of one call: from the arrays, then from the options
    (an int option may itself be a symbol: ``philox_uniform``'s ``n``)."""
    spec = CONTRACT[name]
    dims = {k: int(args[k]) for k, kind in spec.options.items() if kind == "int_pos"}
    for arg, shape in spec.arrays.items():
        a = args[arg]
        if a is None:
            continue
        for sym, size in zip(shape.lstrip("?!").removeprefix("i:").split(","), a.shape):
            dims[sym] = int(size)
    if spec.family in ("conv", "pool"):
        two = "2d" in name
        names = (("H", "W"), ("KH", "KW"), ("OH", "OW")) if two else (("L",), ("K",), ("OL",))
        pick = _pair if two else (lambda v: (int(v),))
        for opt, syms in (("in_size", names[0]), ("kernel_size", names[1]),
                          ("kernel", names[1])):
            if opt in args:
                dims.update(zip(syms, pick(args[opt])))
        if names[2][0] not in dims:
            stride = pick(args.get("stride", 1))
            pad = pick(args.get("padding", 0))
            for i, o in enumerate(names[2]):
                dims[o] = _out(dims[names[0][i]], dims[names[1][i]], stride[i], pad[i])
    return dims


def expected_outputs(name, args):
    """``[(output name, shape, dtype)]`` the contract promises for this call."""
    dims = symbol_sizes(name, args)
    float_dtype = next((a.dtype for k, a in args.items()
                        if k in CONTRACT[name].arrays and a is not None
                        and not CONTRACT[name].arrays[k].startswith("i:")), None)
    if float_dtype is None:                  # a kernel without arrays: its dtype option
        float_dtype = np.dtype(args["dtype"])
    out = []
    for oname, is_int, syms in returns_of(name):
        shape = []
        for s in syms:
            if s.isdigit():                      # a fixed size: clip_scale's (1,)
                shape.append(int(s))
                continue
            m = re.fullmatch(r"(\d*)(\w+)", s)
            shape.append(int(m.group(1) or 1) * dims[m.group(2)])
        out.append((oname, tuple(shape), np.dtype(np.int64) if is_int else float_dtype))
    return out


def as_tuple(result):
    """A kernel's result as a tuple of outputs (single-output kernels return one array)."""
    return tuple(result) if isinstance(result, tuple) else (result,)
