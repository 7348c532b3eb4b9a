"""Layers: backward and rop against central differences, on every backend, in float64;
initialisers; dropout's statistics and mask reuse; the registry."""
import math

import numpy as np
import pytest

import deepbio
from deepbio.nn import pool, recurrent
from deepbio.nn import (LAYERS, Activation, Dense, Dropout, Flatten, KLSparsity,
                        layer_from_config)
from deepbio.testing import assert_close, check_gradient, check_rop, random_projection_loss

ACTS = ["linear", "sigmoid", "tanh", "relu", "softmax"]


def _np(a):
    return deepbio.backend.current().to_numpy(a)


def _arr(a):
    return deepbio.backend.current().asarray(a, "float64")


def _built(layer, shape, seed=0):
    be = deepbio.backend.current()
    layer.build(shape, be.rng(seed), "float64")
    return layer


def _check_layer(layer, x, train=False):
    """backward (input and every parameter) and rop (input and parameter tangents)
    against central differences of the layer's own forward."""
    names = ["x"] + list(layer.param_names)
    point = {"x": x, **{n: _np(p).copy() for n, p in zip(layer.param_names, layer.params)}}

    def forward(**a):
        for p, n in zip(layer.params, layer.param_names):
            p[...] = _arr(a[n])
        return _np(layer.forward(_arr(a["x"]), train=train)).copy()

    y0 = forward(**point)
    loss, (R,) = random_projection_loss(y0, seed=1)
    forward(**point)
    dx = _np(layer.backward(_arr(R)))
    analytic = {"x": dx, **{n: _np(g).copy() for n, g in zip(layer.param_names, layer.grads)}}
    res = check_gradient(lambda **a: loss(forward(**a)), point, analytic)
    assert res.checked > 0

    rng = np.random.default_rng(2)
    v = {n: rng.standard_normal(point[n].shape) for n in names}
    forward(**point)
    jvp = _np(layer.rop(_arr(v["x"]), [_arr(v[n]) for n in layer.param_names]))
    check_rop(forward, point, v, jvp)
    # rop with only parameter tangents, and with only the input tangent
    if layer.param_names:
        forward(**point)
        only_p = _np(layer.rop(None, [_arr(v[n]) for n in layer.param_names]))
        only_x = _np(layer.rop(_arr(v["x"]), [None] * len(layer.param_names)))
        assert_close(only_p + only_x, jvp, 1e-12)
    for p, n in zip(layer.params, layer.param_names):
        p[...] = _arr(point[n])


@pytest.mark.parametrize("activation", ACTS)
@pytest.mark.parametrize("init", ["glorot", "sparse"])
def test_dense_backward_and_rop(be, activation, init):
    layer = _built(Dense(4, activation, init=init), (5,))
    # nonzero biases so every term of the derivative is exercised
    layer.b[...] = _arr(np.random.default_rng(3).normal(size=4))
    x = np.random.default_rng(4).normal(size=(6, 5))
    _check_layer(layer, x)


def test_dense_flattens_multi_axis_input(be):
    layer = _built(Dense(3, "tanh"), (2, 3, 2))
    assert layer.W.shape == (12, 3) and layer.output_shape == (3,)
    x = np.random.default_rng(0).normal(size=(4, 2, 3, 2))
    y = _np(layer.forward(_arr(x)))
    assert_close(y, np.tanh(x.reshape(4, 12) @ _np(layer.W) + _np(layer.b)), 1e-12)
    _check_layer(layer, x)


def test_dense_rop_zero_tangent_and_backward_overwrites(be):
    layer = _built(Dense(3, "sigmoid"), (4,))
    x = _arr(np.random.default_rng(0).normal(size=(5, 4)))
    layer.forward(x)
    assert np.all(_np(layer.rop(None, None)) == 0)
    dy = _arr(np.ones((5, 3)))
    layer.backward(dy)
    first = [_np(g).copy() for g in layer.grads]
    layer.backward(dy)            # overwrite, not accumulate
    for a, b in zip(first, layer.grads):
        assert_close(_np(b), a, 1e-15)


@pytest.mark.parametrize("activation", ACTS)
def test_activation_layer(be, activation):
    layer = _built(Activation(activation), (3, 4))
    x = np.random.default_rng(5).normal(size=(5, 3, 4))
    y = _np(layer.forward(_arr(x)))
    assert y.shape == x.shape
    if activation == "softmax":   # along the last axis
        assert_close(y.sum(axis=-1), np.ones((5, 3)), 1e-12)
    _check_layer(layer, x)
    assert layer.rop(None, None) is None


def test_flatten(be):
    layer = _built(Flatten(), (2, 3))
    assert layer.output_shape == (6,)
    x = np.random.default_rng(0).normal(size=(4, 2, 3))
    assert_close(_np(layer.forward(_arr(x))), x.reshape(4, 6), 0)
    _check_layer(layer, x)


def test_kl_sparsity_penalty_and_gradient(be):
    rho, beta = 0.1, 2.0
    layer = _built(KLSparsity(rho, beta), (4,))
    a = np.random.default_rng(6).uniform(0.05, 0.95, size=(7, 4))
    y = _np(layer.forward(_arr(a)))
    assert_close(y, a, 0)                        # identity
    q = a.mean(axis=0)
    want = beta * np.sum(rho * np.log(rho / q) + (1 - rho) * np.log((1 - rho) / (1 - q)))
    assert math.isclose(layer.penalty(), want, rel_tol=1e-12)

    R = np.random.default_rng(7).normal(size=a.shape)

    def f(x):
        y = _np(layer.forward(_arr(x)))
        return float(np.sum(y * R)) + layer.penalty()

    layer.forward(_arr(a))
    dx = _np(layer.backward(_arr(R)))
    check_gradient(f, {"x": a}, {"x": dx})
    # the linear pass used by Gauss-Newton products leaves the penalty out; rop is identity
    layer.forward(_arr(a))
    assert_close(_np(layer.backward(_arr(R), include_penalty=False)), R, 0)
    assert_close(_np(layer.rop(_arr(R), None)), R, 0)


def test_dropout_gradient_with_a_fixed_mask(be):
    """With a seeded layer rebuilt before each forward, the mask is fixed, so the layer
    is a linear map whose backward and rop the generic checkers can verify."""
    layer = Dropout(0.4, random_state=11)
    x = np.random.default_rng(8).normal(size=(6, 5))

    def forward(x):
        _built(layer, (5,))                 # restarts the mask generator
        return _np(layer.forward(_arr(x), train=True)).copy()

    y0 = forward(x)
    loss, (R,) = random_projection_loss(y0, seed=1)
    dx = _np(layer.backward(_arr(R)))
    check_gradient(lambda x: loss(forward(x)), {"x": x}, {"x": dx})
    v = np.random.default_rng(9).normal(size=x.shape)
    forward(x)
    check_rop(forward, x, v, _np(layer.rop(_arr(v), None)))


def test_dropout_same_mask_in_backward_and_rop(be):
    rate = 0.3
    layer = _built(Dropout(rate), (50,))
    x = np.random.default_rng(0).uniform(1, 2, size=(40, 50))    # no zeros
    y = _np(layer.forward(_arr(x), train=True))
    m = y / x
    kept = m != 0
    assert_close(m[kept], np.full(kept.sum(), 1 / (1 - rate)), 1e-12)
    assert_close(_np(layer.mask), m, 1e-12)
    dy = np.random.default_rng(1).normal(size=x.shape)
    assert_close(_np(layer.backward(_arr(dy))), dy * m, 1e-12)
    assert_close(_np(layer.rop(_arr(dy), None)), dy * m, 1e-12)
    assert layer.rop(None, None) is None
    # a new training forward draws a new mask
    y2 = _np(layer.forward(_arr(x), train=True))
    assert not np.array_equal(y2 == 0, y == 0)


def test_dropout_preserves_the_mean_and_is_identity_at_predict(be):
    rate = 0.25
    layer = _built(Dropout(rate, random_state=3), (100,))
    x = np.full((2000, 100), 2.0)
    y = _np(layer.forward(_arr(x), train=True))
    # 200000 Bernoulli(0.75) draws: the dropped fraction's std is ~1e-3
    assert abs((y == 0).mean() - rate) < 5e-3
    assert abs(y.mean() - 2.0) < 0.02
    assert _np(layer.forward(_arr(x), train=False)) is not None
    assert_close(_np(layer.forward(_arr(x), train=False)), x, 0)
    assert layer.mask is None
    dy = _arr(np.ones((2000, 100)))
    assert_close(_np(layer.backward(dy)), np.ones((2000, 100)), 0)


def test_dropout_is_reproducible_from_its_seed(be):
    x = _arr(np.ones((8, 10)))
    a = _np(_built(Dropout(0.5, random_state=4), (10,)).forward(x, train=True))
    b = _np(_built(Dropout(0.5, random_state=4), (10,), seed=99).forward(x, train=True))
    assert np.array_equal(a, b)


# ------------------------------------------------------------------ initialisers


def test_glorot_and_he_bounds(be):
    for act, bound in [("tanh", math.sqrt(6 / (30 + 20))), ("sigmoid", math.sqrt(6 / 50)),
                       ("linear", math.sqrt(6 / 50)), ("relu", math.sqrt(6 / 30))]:
        layer = _built(Dense(20, act), (30,))
        W = _np(layer.W)
        assert np.abs(W).max() <= bound
        assert np.abs(W).max() > 0.9 * bound            # uses the whole range
        assert np.all(_np(layer.b) == 0)
        assert W.dtype == np.float64
    W = _np(_built(Dense(20, "tanh", init="he"), (30,)).W)
    assert math.sqrt(6 / 50) < np.abs(W).max() <= math.sqrt(6 / 30)
    W = _np(_built(Dense(20, "tanh", weight_scale=0.01), (30,)).W)
    assert 0.009 < np.abs(W).max() <= 0.01


def test_sparse_init_has_15_gaussian_weights_per_unit(be):
    layer = _built(Dense(60, "tanh", init="sparse"), (40,), seed=1)
    W = _np(layer.W)
    assert np.all((W != 0).sum(axis=0) == 15)
    nz = W[W != 0]                                  # 900 N(0, 1) draws
    assert abs(nz.mean()) < 0.15 and 0.9 < nz.std() < 1.1
    # a different set of inputs per unit
    assert len({tuple(np.flatnonzero(W[:, j])) for j in range(60)}) > 50
    W = _np(_built(Dense(3, init="sparse", weight_scale=0.1), (8,)).W)
    assert np.all(W != 0) and np.abs(W).max() < 0.6    # fan-in 8 < 15: all connected


def test_init_is_reproducible_and_dtype(be):
    a = Dense(5)
    a.build((4,), be.rng(0), "float32")
    b = Dense(5)
    b.build((4,), be.rng(0), "float32")
    assert a.W.dtype == np.float32 and a.b.dtype == np.float32
    assert np.array_equal(_np(a.W), _np(b.W))


# ------------------------------------------------------------ config and errors


def test_registry_round_trip():
    for layer in [Dense(7, "relu", init="sparse", weight_scale=0.5), Dropout(0.2, 3),
                  KLSparsity(0.05, 3.0), Activation("tanh"), Flatten()]:
        name = type(layer).__name__
        assert LAYERS[name] is type(layer)
        clone = layer_from_config(name, layer.get_config())
        assert clone.get_config() == layer.get_config()
    with pytest.raises(ValueError, match="unknown layer 'Conv'"):
        layer_from_config("Conv", {})


@pytest.mark.parametrize("make, match", [
    (lambda: Dense(0), "units"),
    (lambda: Dense(3, "swish"), "activation"),
    (lambda: Dense(3, init="orthogonal"), "init"),
    (lambda: Dense(3, weight_scale=-1.0), "weight_scale"),
    (lambda: Dropout(1.0), "rate"),
    (lambda: Dropout(-0.1), "rate"),
    (lambda: KLSparsity(0.0, 1.0), "rho"),
    (lambda: KLSparsity(0.1, -1.0), "beta"),
    (lambda: Activation("gelu"), "activation"),
])
def test_bad_arguments_are_named(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_forward_before_build_raises():
    with pytest.raises(RuntimeError, match="not built"):
        Dense(3).forward(np.ones((2, 2)))


def test_numpy_scalars_are_numbers():
    from deepbio.nn import Conv1D, Conv2D
    assert Dense(np.int64(5)).units == 5 and type(Dense(np.int64(5)).units) is int
    assert Dense(np.uint8(3), weight_scale=np.float32(0.5)).weight_scale == 0.5
    conv = Conv1D(np.int32(4), np.int64(3), stride=np.int16(2), padding=np.int64(0))
    assert (conv.filters, conv.kernel_size, conv.stride, conv.padding) == (4, 3, 2, 0)
    assert Conv2D(np.int64(2), (np.int64(3), 3)).kernel_size == (3, 3)
    drop = Dropout(np.float32(0.5), random_state=np.int64(7))
    assert drop.get_config()["random_state"] == 7          # kept, as a plain int
    assert KLSparsity(np.float64(0.1), np.int64(2)).beta == 2.0
    be = deepbio.backend.current()
    assert Dense(2).build(np.int64(3), be.rng(0), "float64") == (2,)


@pytest.mark.parametrize("make, match", [
    (lambda: Dense(True), "units"),
    (lambda: Dense(np.bool_(True)), "units"),
    (lambda: Dense(5.0), "units"),
    (lambda: Dense("5"), "units"),
    (lambda: Dense(np.int64(0)), "units"),
])
def test_non_integers_are_rejected(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_non_integer_shapes_are_rejected():
    be = deepbio.backend.current()
    for shape in (4.5, (4, 2.0), (True,), (0, 3), "4"):
        with pytest.raises(ValueError, match="input_shape"):
            Dense(2).build(shape, be.rng(0), "float64")


def _layers_and_shapes():
    from deepbio.nn import Conv1D, Conv2D
    return [(Dense(3, "tanh"), (4,)), (Activation("tanh"), (4,)), (Dropout(0.5), (4,)),
            (KLSparsity(), (4,)), (Conv1D(2, 3), (2, 6)), (Conv2D(2, 2), (1, 4, 4))]


@pytest.mark.parametrize("index", range(6))
def test_backward_and_rop_before_forward_raise(be, index):
    layer, shape = _layers_and_shapes()[index]
    _built(layer, shape)
    out = (2,) + tuple(layer.output_shape)
    with pytest.raises(RuntimeError, match="call forward before backward"):
        layer.backward(_arr(np.ones(out)))
    if type(layer).__name__ != "KLSparsity":      # its rop is the identity: nothing cached
        with pytest.raises(RuntimeError, match="call forward before rop"):
            layer.rop(_arr(np.ones((2,) + shape)), None)
    # after a forward all is well
    layer.forward(_arr(np.full((2,) + shape, 0.5)), train=True)
    layer.backward(_arr(np.ones(out)))


@pytest.mark.parametrize("index", range(6))
def test_forward_and_backward_before_build_raise(be, index):
    layer, shape = _layers_and_shapes()[index]
    with pytest.raises(RuntimeError, match="not built|call forward before"):
        layer.forward(_arr(np.ones((2,) + shape)))
    with pytest.raises(RuntimeError, match="not built|call forward before"):
        layer.backward(_arr(np.ones((2,) + shape)))
    with pytest.raises(RuntimeError, match="not built"):
        Flatten().backward(_arr(np.ones((2, 4))))



@pytest.mark.parametrize("cls, args, shape", [
    (pool.MaxPool2D, (2,), (1, 4, 4)), (pool.AvgPool2D, (2,), (1, 4, 4)),
    (pool.MaxPool1D, (2,), (1, 6)), (pool.AvgPool1D, (2,), (1, 6)),
    (pool.GlobalMaxPool1D, (), (1, 6)),
    (recurrent.Elman, (3,), (5, 2)), (recurrent.LSTM, (3,), (5, 2)), (recurrent.GRU, (3,), (5, 2)),
], ids=lambda v: v.__name__ if isinstance(v, type) else "")
def test_pool_and_recurrent_backward_before_forward(cls, args, shape):
    """Pooling and recurrent layers, built but not run forward, say so on backward/rop
    (they differentiate at the last forward's input) instead of an AttributeError."""
    layer = cls(*args)
    out = layer.build(shape, np.random.default_rng(0), np.float64)
    dy = np.zeros((2,) + tuple(out))
    with pytest.raises(RuntimeError, match=r"call forward before backward"):
        layer.backward(dy)
    with pytest.raises(RuntimeError, match=r"call forward before rop"):
        layer.rop(np.zeros((2,) + tuple(shape)))
