"""Convolution and pooling layers: backward and rop against central differences on every
backend in float64, masks of end-padded sequences, shapes, configs and bad input."""
import numpy as np
import pytest

import deepbio
from deepbio.nn import LAYERS, Network, layer_from_config
from deepbio.nn.conv import ChannelsFirst, Conv1D, Conv2D
from deepbio.nn.pool import AvgPool1D, AvgPool2D, GlobalMaxPool1D, MaxPool1D, MaxPool2D
from deepbio.testing import assert_close, check_gradient, check_rop, random_projection_loss


def _np(a):
    return deepbio.backend.current().to_numpy(a)


def _arr(a):
    return deepbio.backend.current().asarray(a, "float64")


def _built(layer, shape, seed=0):
    layer.build(shape, deepbio.backend.current().rng(seed), "float64")
    return layer


def check_layer(layer, x, mask=None, max_entries=None):
    """backward (input and every parameter) and rop (input and parameter tangents, and
    each alone) of a built layer against central differences of its own forward."""
    names = list(layer.param_names)
    point = {"x": x, **{n: _np(p).copy() for n, p in zip(names, layer.params)}}

    def forward(**a):
        for p, n in zip(layer.params, names):
            p[...] = _arr(a[n])
        if mask is not None:
            layer.set_mask(_arr(mask))
        return _np(layer.forward(_arr(a["x"]))).copy()

    y0 = forward(**point)
    loss, (R,) = random_projection_loss(y0, seed=1)
    forward(**point)
    dx = _np(layer.backward(_arr(R)))
    analytic = {"x": dx, **{n: _np(g).copy() for n, g in zip(names, layer.grads)}}
    res = check_gradient(lambda **a: loss(forward(**a)), point, analytic,
                         max_entries=max_entries)
    assert res.checked > 0

    rng = np.random.default_rng(2)
    v = {n: rng.standard_normal(point[n].shape) for n in point}
    forward(**point)
    jvp = _np(layer.rop(_arr(v["x"]), [_arr(v[n]) for n in names] if names else None))
    check_rop(forward, point, v, jvp)
    if names:
        forward(**point)
        only_p = _np(layer.rop(None, [_arr(v[n]) for n in names]))
        only_x = _np(layer.rop(_arr(v["x"]), [None] * len(names)))
        assert_close(only_p + only_x, jvp, 1e-12)
    return dx


def _distinct(shape, seed=0):
    """Inputs with well separated values: no ties for max pooling."""
    rng = np.random.default_rng(seed)
    return rng.permutation(int(np.prod(shape))).reshape(shape) * 0.37 - 3.0


# ------------------------------------------------------------------- gradients


@pytest.mark.parametrize("kw", [
    dict(filters=3, kernel_size=3),
    dict(filters=2, kernel_size=(3, 2), stride=(2, 1), padding=1, activation="tanh"),
    dict(filters=4, kernel_size=2, stride=2, padding=(0, 1), activation="sigmoid"),
    dict(filters=3, kernel_size=3, padding=1, activation="relu"),
], ids=["plain", "stride-pad-tanh", "stride2-sigmoid", "relu"])
def test_conv2d_gradients(be, kw):
    layer = _built(Conv2D(**kw), (2, 6, 5))
    x = np.random.default_rng(0).standard_normal((2, 2, 6, 5))
    check_layer(layer, x)


@pytest.mark.parametrize("kw", [
    dict(filters=3, kernel_size=3),
    dict(filters=2, kernel_size=4, stride=2, padding=2, activation="tanh"),
    dict(filters=3, kernel_size=3, padding=1, activation="relu"),
], ids=["plain", "stride-pad-tanh", "relu"])
def test_conv1d_gradients(be, kw):
    layer = _built(Conv1D(**kw), (4, 9))
    x = np.random.default_rng(0).standard_normal((3, 4, 9))
    check_layer(layer, x)


def test_conv1d_masked_gradients(be):
    layer = _built(Conv1D(3, 3, padding=1, activation="tanh"), (4, 9))
    x = np.random.default_rng(0).standard_normal((3, 4, 9))
    mask = np.array([[1] * 9, [1] * 5 + [0] * 4, [1] * 2 + [0] * 7], float)
    check_layer(layer, x, mask)


@pytest.mark.parametrize("layer,shape", [
    (MaxPool2D(2), (2, 6, 5)),
    (MaxPool2D((3, 2), stride=1), (2, 6, 5)),
    (AvgPool2D(2), (2, 6, 5)),
    (AvgPool2D((2, 3), stride=(1, 2)), (2, 6, 5)),
    (MaxPool1D(3, 2), (2, 9)),
    (AvgPool1D(2), (2, 9)),
    (GlobalMaxPool1D(), (3, 7)),
    (ChannelsFirst(), (7, 3)),
], ids=["max2d", "max2d-overlap", "avg2d", "avg2d-rect", "max1d", "avg1d", "globalmax",
        "channels-first"])
def test_pool_gradients(be, layer, shape):
    _built(layer, shape)
    check_layer(layer, _distinct((2,) + shape))


@pytest.mark.parametrize("layer", [MaxPool1D(3, 2), AvgPool1D(2), GlobalMaxPool1D()],
                         ids=["max1d", "avg1d", "globalmax"])
def test_pool1d_masked_gradients(be, layer):
    _built(layer, (2, 9))
    mask = np.array([[1] * 9, [1] * 6 + [0] * 3], float)
    check_layer(layer, _distinct((2, 2, 9)), mask)


# ------------------------------------------------------------------------ masks


def test_global_max_pool_padding_never_wins(be):
    """Padded positions hold the largest values, yet the output is the max over real
    positions and the padded positions get zero gradient."""
    layer = _built(GlobalMaxPool1D(), (3, 8))
    x = _distinct((2, 3, 8))
    mask = np.array([[1] * 8, [1] * 3 + [0] * 5], float)
    x[1, :, 3:] = 1e6
    layer.set_mask(_arr(mask))
    y = _np(layer.forward(_arr(x)))
    assert_close(y[1], x[1, :, :3].max(axis=1), 1e-15)
    assert_close(y[0], x[0].max(axis=1), 1e-15)
    dx = _np(layer.backward(_arr(np.ones((2, 3)))))
    assert np.all(dx[1, :, 3:] == 0)
    assert dx[1].sum() == 3


def test_conv_stack_padding_matches_unpadded(be):
    """Conv1D -> MaxPool1D -> Conv1D -> GlobalMaxPool1D on an end-padded batch gives, for
    every sequence, exactly the result of the unpadded sequence alone."""
    rng = np.random.default_rng(3)
    layers = [_built(Conv1D(3, 3, padding=1, activation="relu"), (4, 12), 1),
              _built(MaxPool1D(2), (3, 12)),
              _built(Conv1D(2, 2, padding=1, activation="tanh"), (3, 6), 2),
              _built(GlobalMaxPool1D(), (2, 7))]
    lengths = [12, 7, 4]
    x = rng.standard_normal((3, 4, 12))
    mask = (np.arange(12)[None, :] < np.array(lengths)[:, None]).astype(float)
    x *= mask[:, None, :]

    def run(a, m):
        for layer in layers:
            if m is not None:
                m = layer.set_mask(_arr(m) if not hasattr(m, "shape") else m)
            a = layer.forward(a)
        return _np(a)

    padded = run(_arr(x), mask)
    for i, n in enumerate(lengths):
        for layer in layers:
            layer.set_mask(None)
        alone = run(_arr(np.ascontiguousarray(x[i:i + 1, :, :n])), None)
        assert_close(padded[i:i + 1], alone, 1e-12, name=f"sequence {i}")


def test_conv1d_mask_must_be_end_padding(be):
    layer = _built(Conv1D(2, 3), (4, 8))
    with pytest.raises(ValueError, match="prefix"):
        layer.set_mask(_arr(np.array([[1, 0, 1, 1, 1, 1, 1, 1]], float)))


def test_conv1d_sequence_shorter_than_kernel(be):
    layer = _built(Conv1D(2, 5), (4, 8))
    with pytest.raises(ValueError, match="sequence 1 has 3 real positions"):
        layer.set_mask(_arr(np.array([[1] * 8, [1] * 3 + [0] * 5], float)))


def test_global_max_pool_empty_sequence(be):
    layer = _built(GlobalMaxPool1D(), (2, 4))
    with pytest.raises(ValueError, match="empty sequence"):
        layer.set_mask(_arr(np.array([[1, 1, 0, 0], [0, 0, 0, 0]], float)))


# --------------------------------------------------------------- shapes and configs


def test_output_shapes(be):
    rng = be.rng(0)
    assert Conv2D(6, 5, padding=2).build((1, 28, 28), rng, "float32") == (6, 28, 28)
    assert Conv2D(16, 5).build((6, 14, 14), rng, "float32") == (16, 10, 10)
    assert Conv2D(4, 3, stride=2).build((1, 8, 7), rng, "float32") == (4, 3, 3)
    assert MaxPool2D(2).build((6, 28, 28), rng, "float32") == (6, 14, 14)
    assert AvgPool2D(3, stride=2).build((2, 7, 7), rng, "float32") == (2, 3, 3)
    assert Conv1D(16, 11, padding=5).build((4, 100), rng, "float32") == (16, 100)
    assert MaxPool1D(4).build((16, 100), rng, "float32") == (16, 25)
    assert GlobalMaxPool1D().build((16, 100), rng, "float32") == (16,)
    assert ChannelsFirst().build((100, 4), rng, "float32") == (4, 100)


def test_conv1d_any_length(be):
    """Conv1D / GlobalMaxPool1D built for one length accept another (motif scanning)."""
    net = Network([ChannelsFirst(), Conv1D(3, 4), GlobalMaxPool1D()], "squared_error",
                  dtype="float64").build((10, 4), 0)
    a = be.asarray(np.random.default_rng(0).standard_normal((2, 25, 4)), "float64")
    for layer in net.layers:
        a = layer.forward(a)
    assert tuple(a.shape) == (2, 3)


@pytest.mark.parametrize("layer,shape", [
    (Conv2D(3, (3, 2), stride=(2, 1), padding=1, activation="relu"), (2, 6, 5)),
    (Conv1D(4, 5, stride=2, padding=2, activation="tanh"), (4, 20)),
    (MaxPool2D(3, 2), (2, 7, 7)), (AvgPool2D((2, 1)), (2, 6, 5)),
    (MaxPool1D(3), (2, 9)), (AvgPool1D(2, 1), (2, 9)), (GlobalMaxPool1D(), (2, 9)),
    (ChannelsFirst(), (9, 4)),
], ids=lambda v: type(v).__name__ if not isinstance(v, tuple) else None)
def test_config_round_trip(be, layer, shape):
    name = type(layer).__name__
    assert LAYERS[name] is type(layer)
    twin = layer_from_config(name, layer.get_config())
    assert twin.get_config() == layer.get_config()
    _built(layer, shape, 5)
    _built(twin, shape, 5)
    x = _arr(_distinct((2,) + shape))
    assert_close(_np(twin.forward(x)), _np(layer.forward(x)), 0)


def test_conv2d_float32_matches_float64(be):
    """The same layer in float32 and float64 agrees to float32 precision."""
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 8))
    out = {}
    for dtype in ("float32", "float64"):
        layer = Conv2D(4, 3, padding=1, activation="tanh")
        layer.build((3, 8, 8), be.rng(0), dtype)
        out[dtype] = _np(layer.forward(be.asarray(x, dtype)))
    assert out["float32"].dtype == np.float32
    assert_close(out["float32"].astype(np.float64), out["float64"], 1e-5)


# -------------------------------------------------------------------- bad input


def test_conv2d_wrong_channels(be):
    layer = _built(Conv2D(2, 3), (3, 8, 8))
    with pytest.raises(ValueError, match=r"expected images of shape \(N, 3, 8, 8\)"):
        layer.forward(_arr(np.zeros((2, 1, 8, 8))))
    with pytest.raises(ValueError, match="expected images"):
        layer.forward(_arr(np.zeros((2, 8, 8))))


def test_conv1d_wrong_channels(be):
    layer = _built(Conv1D(2, 3), (4, 8))
    with pytest.raises(ValueError, match=r"\(N, 4, L\)"):
        layer.forward(_arr(np.zeros((2, 20, 8))))


@pytest.mark.parametrize("make", [
    lambda: Conv2D(0, 3), lambda: Conv2D(2, 0), lambda: Conv2D(2, 3, padding=-1),
    lambda: Conv2D(2, 3, activation="softmax"), lambda: Conv1D(2, 3, stride=0),
    lambda: MaxPool2D(0), lambda: MaxPool1D(2, stride=0), lambda: Conv2D(2, (1, 2, 3)),
])
def test_bad_hyper_parameters(make):
    with pytest.raises(ValueError):
        make()


def test_kernel_larger_than_input():
    with pytest.raises(ValueError, match="larger than the padded input"):
        Conv2D(2, 5).build((1, 4, 4), np.random.default_rng(0), "float64")
    with pytest.raises(ValueError, match="larger than the input"):
        MaxPool2D(3).build((1, 2, 2), np.random.default_rng(0), "float64")
