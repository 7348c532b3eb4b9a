"""Network.input_gradient: J_x^T dz through every layer, the parameter-free ones below the
lowest layer with parameters included, with the training path left as lean as before."""
import numpy as np
import pytest

import deepbio
from deepbio.nn import (ChannelsFirst, Conv1D, Dense, Flatten, GlobalMaxPool1D, Network,
                        SequenceMask)


def _np(a):
    return deepbio.backend.current().to_numpy(a)


@pytest.fixture(params=deepbio.backends(), ids=deepbio.backends())
def be(request):
    with deepbio.use_backend(request.param):
        yield deepbio.backend.current()


def _fd_input_gradient(net, X, v, eps=1e-6, skip_last_channel=False):
    """Central differences of sum(v * z(X)) with respect to every entry of X (zero for
    the last channel, a mask, with ``skip_last_channel``)."""
    g = np.zeros_like(X)
    for idx in np.ndindex(*X.shape):
        if skip_last_channel and idx[-1] == X.shape[-1] - 1:
            continue
        Xp, Xm = X.copy(), X.copy()
        Xp[idx] += eps
        Xm[idx] -= eps
        g[idx] = ((v * _np(net.forward(Xp))).sum() - (v * _np(net.forward(Xm))).sum()) / (2 * eps)
    return g


def test_dense_input_gradient_equals_finite_differences(be):
    net = Network([Dense(5, "tanh"), Dense(3)], "softmax_cross_entropy",
                  dtype="float64").build(4, random_state=0)
    rng = np.random.default_rng(0)
    X, v = rng.normal(size=(3, 4)), rng.normal(size=(3, 3))
    g, z = net.input_gradient(X, v)
    np.testing.assert_allclose(_np(z), _np(net.forward(X)))
    np.testing.assert_allclose(_np(g), _fd_input_gradient(net, X, v), atol=1e-8)


def test_gradient_reaches_below_the_lowest_layer_with_parameters(be):
    """SequenceMask and ChannelsFirst sit below the first Conv1D; the gradient passes
    through both (the mask channel gets zero) and a callable dz sees the forward's z."""
    layers = [SequenceMask(), ChannelsFirst(), Conv1D(3, 3, padding=1, activation="tanh"),
              GlobalMaxPool1D(), Dense(2)]
    net = Network(layers, "softmax_cross_entropy", dtype="float64").build((7, 5),
                                                                           random_state=1)
    rng = np.random.default_rng(1)
    X = np.concatenate([rng.normal(size=(2, 7, 4)), np.ones((2, 7, 1))], axis=2)
    v = rng.normal(size=(2, 2))
    seen = []
    g, _ = net.input_gradient(X, lambda z: seen.append(_np(z).copy()) or v)
    np.testing.assert_allclose(seen[0], _np(net.forward(X)))
    fd = _fd_input_gradient(net, X, v, skip_last_channel=True)   # the mask: 0
    np.testing.assert_allclose(_np(g), fd, atol=1e-8)
    assert np.abs(_np(g)).max() > 0
    # the training path is as before: the lowest layer with parameters skips its dx
    assert net.layers[2].needs_input_grad is False
    assert all(layer.needs_input_grad for layer in net.layers[3:])


def test_image_network_and_bad_dz(be):
    from deepbio.nn import Conv2D
    net = Network([Conv2D(2, 3, padding=1, activation="tanh"), Flatten(), Dense(2)],
                  "squared_error", dtype="float64").build((1, 4, 4), random_state=2)
    X = np.random.default_rng(2).normal(size=(2, 1, 4, 4))
    v = np.array([[1.0, 0.0], [0.0, 1.0]])
    g, _ = net.input_gradient(X, v)
    np.testing.assert_allclose(_np(g), _fd_input_gradient(net, X, v), atol=1e-8)
    with pytest.raises(ValueError, match=r"dz must have the network output's shape \(2, 2\)"):
        net.input_gradient(X, np.ones((2, 3)))
    assert net.layers[0].needs_input_grad is False
