"""The two layers the models add to deepbio.nn (TiedAutoEncoder, Corruption) through the
generic gradient and R-op checkers, on every backend, in float64."""
import numpy as np
import pytest

from deepbio.nn import Corruption, TiedAutoEncoder
from deepbio.nn import KLSparsity, Network
from deepbio.testing import check_gradient, check_rop


def _tied_net(activation, rho=None, loss="squared_error", corrupt=False):
    layers = [Corruption("mask", 0.3)] if corrupt else []
    layers.append(TiedAutoEncoder(5, activation, rho=rho, beta=0.7))
    return Network(layers, loss, dtype="float64").build(7, random_state=0)


@pytest.mark.parametrize("activation,rho,loss", [
    ("sigmoid", None, "squared_error"),
    ("sigmoid", 0.2, "sigmoid_cross_entropy"),
    ("tanh", None, "squared_error"),
    ("relu", None, "squared_error"),
    ("linear", None, "squared_error"),
])
def test_tied_autoencoder_parameter_gradient(on_backend, activation, rho, loss):
    be = on_backend
    net = _tied_net(activation, rho, loss)
    rng = np.random.default_rng(1)
    X = rng.random((6, 7))
    theta0 = be.to_numpy(net.get_flat()).copy()
    _, grad = net.loss_and_grad(X, X, train=True)

    def f(theta):
        net.set_flat(theta)
        return net.loss(X, X, train=True)

    check_gradient(f, {"theta": theta0}, {"theta": be.to_numpy(grad)})
    net.set_flat(theta0)


def test_tied_autoencoder_input_gradient_and_rop(on_backend):
    be = on_backend
    net = _tied_net("sigmoid", rho=0.3)
    layer = net.layers[0]
    rng = np.random.default_rng(2)
    x = rng.random((4, 7))
    R = rng.standard_normal((4, 7))

    def f(x):
        return float(be.to_numpy(layer.forward(be.asarray(x), train=True) * be.asarray(R))
                     .sum()) + layer.penalty()

    layer.forward(be.asarray(x), train=True)
    dx = be.to_numpy(layer.backward(be.asarray(R)))
    check_gradient(f, {"x": x}, {"x": dx})

    # forward-mode: input and parameter tangents together
    theta0 = be.to_numpy(net.get_flat()).copy()
    v_theta = rng.standard_normal(theta0.shape)
    v_x = rng.standard_normal(x.shape)

    def out(x, theta):
        net.set_flat(theta)
        return be.to_numpy(layer.forward(be.asarray(x), train=False))

    out(x, theta0)
    sizes = [p.size for p in layer.params]
    parts = np.split(v_theta, np.cumsum(sizes)[:-1])
    dparams = [be.asarray(p.reshape(q.shape)) for p, q in zip(parts, layer.params)]
    jvp = be.to_numpy(layer.rop(be.asarray(v_x), dparams))
    check_rop(out, {"x": x, "theta": theta0}, {"x": v_x, "theta": v_theta}, jvp)
    net.set_flat(theta0)


def test_tied_equals_untied_with_shared_weights(on_backend):
    """Tied forward = encoder Dense + decoder Dense(W^T); the tied gradient is the sum."""
    be = on_backend
    net = _tied_net("sigmoid")
    W, c, b = (be.to_numpy(p) for p in net.layers[0].params)
    X = np.random.default_rng(3).random((5, 7))
    z = be.to_numpy(net.forward(X))
    a = 1 / (1 + np.exp(-(X @ W + c)))
    np.testing.assert_allclose(z, a @ W.T + b, rtol=1e-10)
    _, g = net.loss_and_grad(X, X)
    dz = (a @ W.T + b - X) / X.shape[0]
    da = dz @ W * a * (1 - a)
    gW = be.to_numpy(g)[:W.size].reshape(W.shape)
    np.testing.assert_allclose(gW, X.T @ da + dz.T @ a, rtol=1e-8, atol=1e-12)


def test_corruption_layer(on_backend):
    be = on_backend
    layer = Corruption("mask", 0.5, random_state=0)
    layer.build((50,), np.random.default_rng(0), "float64")
    x = be.asarray(np.ones((40, 50)))
    np.testing.assert_array_equal(be.to_numpy(layer.forward(x, train=False)), 1.0)
    y = be.to_numpy(layer.forward(x, train=True))
    assert set(np.unique(y)) == {0.0, 1.0}
    assert 0.4 < (y == 0).mean() < 0.6
    # backward applies the same mask; a second forward draws a new one
    np.testing.assert_array_equal(be.to_numpy(layer.backward(x)), y)
    y2 = be.to_numpy(layer.forward(x, train=True))
    assert not np.array_equal(y, y2)
    g = Corruption("gaussian", 0.1, random_state=0)
    g.build((50,), np.random.default_rng(0), "float64")
    noisy = be.to_numpy(g.forward(x, train=True))
    assert 0.05 < np.std(noisy - 1) < 0.15
    np.testing.assert_array_equal(be.to_numpy(g.backward(x)), 1.0)
    with pytest.raises(ValueError, match="kind"):
        Corruption("salt", 0.1)
    with pytest.raises(ValueError, match="level"):
        Corruption("mask", 1.5)


def test_untied_sparse_network_gradient(on_backend):
    """The untied sparse autoencoder network the AutoEncoder builds, checked end to end."""
    from deepbio.nn import Dense
    be = on_backend
    net = Network([Dense(4, "sigmoid"), KLSparsity(0.1, 2.0), Dense(6, "linear")],
                  "sigmoid_cross_entropy", dtype="float64").build(6, random_state=0)
    X = np.random.default_rng(4).random((5, 6))
    theta0 = be.to_numpy(net.get_flat()).copy()
    _, grad = net.loss_and_grad(X, X)

    def f(theta):
        net.set_flat(theta)
        return net.loss(X, X)

    check_gradient(f, {"theta": theta0}, {"theta": be.to_numpy(grad)})


@pytest.mark.parametrize("activation,loss", [
    ("sigmoid", "sigmoid_cross_entropy"),
    ("tanh", "squared_error"),
    ("relu", "squared_error"),
])
def test_tied_autoencoder_squared_example_grads_in_one_pass(on_backend, activation, loss,
                                                            monkeypatch):
    """``squared_example_grads`` through ``TiedAutoEncoder.backward_squared`` equals the
    mean over examples of each example's squared gradient (the per-example loop), without
    taking that loop (the sparsity penalty is not part of either)."""
    be = on_backend
    net = _tied_net(activation, loss=loss)
    rng = np.random.default_rng(2)
    net.set_flat(be.asarray(rng.normal(scale=0.5, size=net.n_params)))
    X = be.asarray(rng.random((6, 7)))
    want = 0.0
    for i in range(6):
        _, g = net.loss_and_grad(X[i:i + 1], X[i:i + 1])
        want = want + be.to_numpy(g) ** 2
    want = want / 6

    def no_fallback(*args, **kwargs):
        raise AssertionError("squared_example_grads fell back to the per-example loop")

    monkeypatch.setattr(net, "_backward", no_fallback)
    got = be.to_numpy(net.squared_example_grads(X, X))
    assert want.max() > 0
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-14)
