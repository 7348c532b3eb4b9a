"""Network: flat parameter views, loss_and_grad against central differences, and the
Gauss-Newton product against an explicitly formed J^T H_L J (float64, tiny networks)."""
import math

import numpy as np
import pytest

import deepbio
from deepbio.nn import Activation, Dense, Dropout, Flatten, KLSparsity, Network
from deepbio.testing import assert_close, check_gradient

from .._gauss_newton import jacobian, loss_hessian

ACTS = ["linear", "sigmoid", "tanh", "relu", "softmax"]
LOSSES = ["softmax_cross_entropy", "sigmoid_cross_entropy", "squared_error"]


def _np(a):
    return deepbio.backend.current().to_numpy(a)


def _data(loss, n=6, d=4, k=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    if loss == "softmax_cross_entropy":
        y = np.eye(k)[rng.integers(0, k, size=n)]
    elif loss == "sigmoid_cross_entropy":
        y = rng.integers(0, 2, size=(n, k)).astype(float)
    else:
        y = rng.normal(size=(n, k))
    return X, y


def _net(layers, loss, d=4, seed=0, bias_seed=1):
    net = Network(layers, loss, dtype="float64").build((d,), random_state=seed)
    # random biases: every parameter takes part in every derivative
    rng = np.random.default_rng(bias_seed)
    for layer in net.layers:
        if isinstance(layer, Dense):
            layer.b[...] = deepbio.backend.current().asarray(rng.normal(scale=0.5,
                                                                        size=layer.units))
    return net


def _explicit_gn(net, X, y, forward=None):
    theta0 = _np(net.get_flat()).copy()

    def z_of(theta):
        net.set_flat(theta)
        return _np(net.forward(X)).copy()

    f = forward or z_of
    J = jacobian(f, theta0)
    z = f(theta0)
    net.set_flat(theta0)
    return J.T @ loss_hessian(net.loss_fn.name, z) @ J, J


def _gn_matrix(net, X, y, train=True):
    P = net.n_params
    cols = []
    for j in range(P):
        e = np.zeros(P)
        e[j] = 1.0
        cols.append(_np(net.gauss_newton_product(e, X, y, train=train)))
    return np.stack(cols, axis=1)


# ----------------------------------------------------------------- flat params


def test_params_and_grads_are_views_of_the_flat_vectors(be):
    net = _net([Dense(5, "tanh"), Dropout(0.1), Dense(3)], "squared_error")
    assert net.n_params == 4 * 5 + 5 + 5 * 3 + 3
    layer = net.layers[2]
    net.theta[:] = 0
    layer.W[...] = 7.0
    assert float(net.theta[25:40].sum()) == 7.0 * 15
    net.theta[40:43] = 2.0
    assert np.all(_np(layer.b) == 2.0)
    X, y = _data("squared_error")
    _, g = net.loss_and_grad(X, y)
    assert_close(_np(net.grad), _np(g), 0)
    assert_close(_np(layer.grads[0]).ravel(), _np(g)[25:40], 0)
    g[:] = 123.0                       # the returned gradient is a copy
    assert float(net.grad[0]) != 123.0


def test_get_set_flat(be):
    net = _net([Dense(3, "relu"), Dense(2)], "squared_error")
    t = net.get_flat()
    theta_id = id(net.theta)
    t[:] = np.arange(net.n_params)
    assert float(net.theta[1]) != 1.0  # a copy
    net.set_flat(t)
    assert id(net.theta) == theta_id and float(net.layers[0].W[0, 1]) == 1.0
    with pytest.raises(ValueError, match="theta must have shape"):
        net.set_flat(np.zeros(3))


# ------------------------------------------------------------- the gradient


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("hidden", [("tanh", "sigmoid"), ("relu", "softmax"),
                                    ("linear", "tanh")])
def test_loss_and_grad_two_hidden_layers(be, loss, hidden):
    net = _net([Dense(5, hidden[0]), Dense(4, hidden[1]), Dense(3)], loss)
    X, y = _data(loss)
    value, g = net.loss_and_grad(X, y)
    assert math.isclose(value, net.loss(X, y), rel_tol=1e-14)
    theta0 = _np(net.get_flat()).copy()

    def f(theta):
        net.set_flat(theta)
        return net.loss(X, y)

    check_gradient(f, {"theta": theta0}, {"theta": _np(g)})


def test_loss_and_grad_with_penalties_and_shapes(be):
    """KL sparsity penalty, a standalone activation and a flatten in one network."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(7, 2, 3))
    y = np.eye(2)[rng.integers(0, 2, size=7)]
    net = Network([Flatten(), Dense(5), Activation("sigmoid"), KLSparsity(0.2, 0.7),
                   Dense(2)], "softmax_cross_entropy", dtype="float64").build((2, 3), 4)
    value, g = net.loss_and_grad(X, y)
    assert net.penalty() > 0
    theta0 = _np(net.get_flat()).copy()

    def f(theta):
        net.set_flat(theta)
        return net.loss(X, y)

    check_gradient(f, {"theta": theta0}, {"theta": _np(g)})


# ------------------------------------------------------- Gauss-Newton products


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("act", ACTS)
def test_gauss_newton_product_equals_explicit_JtHJ(be, loss, act):
    net = _net([Dense(4, act), Dense(3, "tanh"), Dense(3)], loss, d=3)
    X, y = _data(loss, n=5, d=3)
    G, _ = _explicit_gn(net, X, y)
    rng = np.random.default_rng(5)
    for _ in range(3):
        v = rng.normal(size=net.n_params)
        assert_close(_np(net.gauss_newton_product(v, X, y)), G @ v, 1e-6)
    assert_close(_gn_matrix(net, X, y), G, 1e-6)


@pytest.mark.parametrize("loss", LOSSES)
def test_gauss_newton_matrix_is_symmetric_psd(be, loss):
    net = _net([Dense(6, "tanh"), Dense(5, "relu"), Dense(3)], loss)
    X, y = _data(loss, n=8)
    G = _gn_matrix(net, X, y)
    assert_close(G, G.T, 1e-10)
    eig = np.linalg.eigvalsh((G + G.T) / 2)
    assert eig.min() >= -1e-10 * eig.max()
    rng = np.random.default_rng(0)
    for _ in range(5):
        v = rng.normal(size=net.n_params)
        assert float(v @ _np(net.gauss_newton_product(v, X, y))) >= 0


def test_rop_and_backward_are_transposes(be):
    """<J v, w> == <v, J^T w> through the layers' rop and backward passes."""
    net = _net([Dense(5, "sigmoid"), Dropout(0.3), Dense(4, "softmax"), Dense(3)],
               "squared_error")
    X, _ = _data("squared_error")
    rng = np.random.default_rng(0)
    xp = deepbio.backend.current()
    net.forward(X, train=True)
    v = xp.asarray(rng.normal(size=net.n_params))
    w = rng.normal(size=(6, 3))
    t = None
    for layer, spans in zip(net.layers, net._slices):
        t = layer.rop(t, net._views(v, spans) if spans else None)
    dy = xp.asarray(w)
    for layer in reversed(net.layers):
        dy = layer.backward(dy)
    assert math.isclose(float(np.sum(_np(t) * w)), float(_np(v) @ _np(net.grad)),
                        rel_tol=1e-12)


def test_gauss_newton_with_a_fixed_dropout_mask(be):
    """Consecutive products reuse one forward, hence one mask; the result equals
    J^T H_L J of the network with that mask, built by an independent implementation."""
    loss = "softmax_cross_entropy"
    net = _net([Dense(5, "tanh"), Dropout(0.4, random_state=2), Dense(3)], loss)
    X, y = _data(loss)
    xb = deepbio.backend.current().asarray(X, "float64")
    yb = deepbio.backend.current().asarray(y, "float64")
    v1, v2 = np.random.default_rng(0).normal(size=(2, net.n_params))
    g1 = _np(net.gauss_newton_product(v1, xb, yb))
    mask = _np(net.layers[1].mask).copy()
    assert (mask == 0).any() and (mask != 0).any()
    g2 = _np(net.gauss_newton_product(v2, xb, yb))
    g12 = _np(net.gauss_newton_product(2 * v1 - v2, xb, yb))
    assert np.array_equal(_np(net.layers[1].mask), mask)      # same mask throughout
    assert_close(g12, 2 * g1 - g2, 1e-10)                      # one linear map

    def z_masked(theta):                 # the network written out, mask fixed
        W1, b1 = theta[:20].reshape(4, 5), theta[20:25]
        W2, b2 = theta[25:40].reshape(5, 3), theta[40:43]
        return (np.tanh(X @ W1 + b1) * mask) @ W2 + b2

    theta = _np(net.theta).copy()
    hidden = np.tanh(X @ theta[:20].reshape(4, 5) + theta[20:25])
    z_train = _np(net.forward(X, train=True))              # a training forward: new mask
    assert_close(z_train, (hidden * _np(net.layers[1].mask)) @ theta[25:40].reshape(5, 3)
                 + theta[40:43], 1e-12)
    unmasked = hidden @ theta[25:40].reshape(5, 3) + theta[40:43]
    assert_close(_np(net.forward(X, train=False)), unmasked, 1e-12)   # identity at predict
    G, _ = _explicit_gn(net, X, y, forward=z_masked)
    assert_close(g1, G @ v1, 1e-6)
    assert_close(g2, G @ v2, 1e-6)
    # another forward in between invalidates the cache: a new mask is drawn
    net.loss_and_grad(xb, yb)
    net.gauss_newton_product(v1, xb, yb)
    assert not np.array_equal(_np(net.layers[1].mask), mask)


def _scale_theta(net, xb, yb):
    net.theta *= 1.5                     # in-place change of the parameters


def _refill_batch(net, xb, yb):
    xb[...] = xb[::-1] * 0.5             # the same X / y objects, new contents
    yb[...] = yb[::-1]


@pytest.mark.parametrize("change", [_scale_theta, _refill_batch], ids=["theta", "batch"])
def test_gauss_newton_cache_is_not_reused_after_an_in_place_change(be, change):
    """The forward cached for a CG run's products is stale once theta or the batch has
    changed in place; the next product must linearise around the new state."""
    loss = "sigmoid_cross_entropy"
    net = _net([Dense(4, "tanh"), Dense(3)], loss)
    X, y = _data(loss)
    xb = deepbio.backend.current().asarray(X, "float64")
    yb = deepbio.backend.current().asarray(y, "float64")
    v = np.random.default_rng(1).normal(size=net.n_params)
    net.gauss_newton_product(v, xb, yb)
    change(net, xb, yb)
    got = _np(net.gauss_newton_product(v, xb, yb))   # no other forward in between
    G, _ = _explicit_gn(net, _np(xb), _np(yb))       # (this runs forwards of its own)
    assert_close(got, G @ v, 1e-6)


def test_a_linearization_gives_gauss_newton_products_without_host_reads(be, monkeypatch):
    """network.linearize(X, y) runs one forward; its handle's products equal J^T H_L J v
    (an independent implementation, dropout mask fixed) and read nothing back from the
    device, since validity is two counters, not a comparison of theta, X and y."""
    loss = "softmax_cross_entropy"
    net = _net([Dense(5, "tanh"), Dropout(0.4, random_state=2), Dense(3)], loss)
    X, y = _data(loss)
    b = deepbio.backend.current()
    xb, yb = b.asarray(X, "float64"), b.asarray(y, "float64")
    lin = net.linearize(xb, yb)
    mask = _np(net.layers[1].mask).copy()
    reads = []
    for name in ("scalar", "all_finite", "to_numpy"):
        method = getattr(b, name)
        monkeypatch.setattr(b, name, lambda x, _m=method: reads.append(1) or _m(x))
    v1, v2 = (b.asarray(v) for v in np.random.default_rng(0).normal(size=(2, net.n_params)))
    g1, g2 = lin.gauss_newton_product(v1), lin.gauss_newton_product(v2)
    assert reads == [] and lin.valid
    monkeypatch.undo()
    theta = _np(net.theta).copy()

    def z_masked(t):
        W1, b1, W2, b2 = t[:20].reshape(4, 5), t[20:25], t[25:40].reshape(5, 3), t[40:43]
        return (np.tanh(X @ W1 + b1) * mask) @ W2 + b2

    G, _ = _explicit_gn(net, X, y, forward=z_masked)
    assert_close(_np(g1), G @ _np(v1), 1e-6)
    assert_close(_np(g2), G @ _np(v2), 1e-6)
    assert np.array_equal(_np(net.theta), theta)


@pytest.mark.parametrize("change", ["forward", "set_flat", "build"])
def test_a_linearization_is_stale_after_a_forward_or_new_parameters(be, change):
    loss = "squared_error"
    net = _net([Dense(3, "tanh"), Dense(2)], loss)
    X, y = _data(loss, k=2)
    lin = net.linearize(X, y)
    v = np.ones(net.n_params)
    lin.gauss_newton_product(v)
    if change == "forward":
        net.loss(X, y)
    elif change == "set_flat":
        net.set_flat(net.get_flat())
    else:
        net.build(4, random_state=0)
    assert not lin.valid
    with pytest.raises(RuntimeError, match="stale.*linearize"):
        lin.gauss_newton_product(v)
    assert net.linearize(X, y).valid


def test_gauss_newton_leaves_out_penalties_and_matches_hessian_for_linear_model(be):
    """For a linear model with squared error the GN matrix IS the Hessian."""
    net = _net([Dense(2)], "squared_error", d=3)
    X, y = _data("squared_error", k=2, d=3)
    _, g0 = net.loss_and_grad(X, y)
    theta0 = _np(net.get_flat()).copy()
    eps = 1e-5
    H = np.empty((net.n_params, net.n_params))
    for j in range(net.n_params):
        e = np.zeros(net.n_params)
        e[j] = eps
        net.set_flat(theta0 + e)
        gp = _np(net.loss_and_grad(X, y)[1])
        net.set_flat(theta0 - e)
        gm = _np(net.loss_and_grad(X, y)[1])
        H[:, j] = (gp - gm) / (2 * eps)
    net.set_flat(theta0)
    assert_close(_gn_matrix(net, X, y), H, 1e-7)


# ---------------------------------------------------------------- the rest


def test_predict_and_float32(be):
    X, y = _data("softmax_cross_entropy")
    net64 = _net([Dense(5, "relu"), Dense(3)], "softmax_cross_entropy")
    net32 = Network([Dense(5, "relu"), Dense(3)], "softmax_cross_entropy").build(4, 0)
    net32.set_flat(net64.get_flat())
    p64, p32 = _np(net64.predict(X)), _np(net32.predict(X))
    assert p32.dtype == np.float32 and p64.dtype == np.float64
    assert_close(p64.sum(axis=1), np.ones(6), 1e-12)
    assert_close(p32.astype(np.float64), p64, 1e-5)
    v32, g32 = net32.loss_and_grad(X, y)
    v64, g64 = net64.loss_and_grad(X, y)
    assert math.isclose(v32, v64, rel_tol=1e-5)
    assert g32.dtype == np.float32
    assert_close(_np(g32).astype(np.float64), _np(g64), 1e-4)


def test_build_is_reproducible_and_config_round_trips(be):
    layers = [Dense(6, "relu", init="sparse"), Dropout(0.2), KLSparsity(0.1, 1.0),
              Dense(2, "linear")]
    net = Network(layers, "sigmoid_cross_entropy", dtype="float64").build(20, 3)
    clone = Network.from_config(net.get_config()).build(20, 3)
    assert clone.get_config() == net.get_config()
    assert np.array_equal(_np(clone.theta), _np(net.theta))
    other = Network.from_config(net.get_config()).build(20, 4)
    assert not np.array_equal(_np(other.theta), _np(net.theta))
    text = net.describe()
    for word in ("Dense", "Dropout", "KLSparsity", "sigmoid_cross_entropy", str(net.n_params)):
        assert word in text


def test_errors_name_the_problem(be):
    with pytest.raises(ValueError, match="non-empty"):
        Network([], "squared_error")
    with pytest.raises(TypeError, match="layers\\[1\\]"):
        Network([Dense(2), "relu"], "squared_error")
    with pytest.raises(ValueError, match="dtype"):
        Network([Dense(2)], "squared_error", dtype="float16")
    net = Network([Dense(2)], "squared_error")
    with pytest.raises(RuntimeError, match="not built"):
        net.forward(np.ones((1, 3)))
    net.build(3)
    with pytest.raises(ValueError, match="X must have shape \\(N, 3\\)"):
        net.forward(np.ones((4, 2)))
    with pytest.raises(ValueError, match="y must have shape \\(4, 2\\)"):
        net.loss_and_grad(np.ones((4, 3)), np.ones(4))
    with pytest.raises(ValueError, match="v must have shape"):
        net.gauss_newton_product(np.ones(3), np.ones((4, 3)), np.ones((4, 2)))


class _DenseWithoutSquared(Dense):
    def backward_squared(self, dy):
        raise NotImplementedError


@pytest.mark.parametrize("loss", LOSSES)
def test_squared_example_grads_is_the_mean_of_squared_per_example_gradients(be, loss):
    X, y = _data(loss, n=7)
    net = _net([Dense(5, "tanh"), Dense(4, "softmax"), Dense(3)], loss)
    want = np.mean([_np(net.loss_and_grad(X[i:i + 1], y[i:i + 1])[1]) ** 2
                    for i in range(7)], axis=0)
    assert_close(_np(net.squared_example_grads(X, y)), want, 1e-12)
    # a layer without backward_squared: the per-example loop gives the same
    slow = _net([Dense(5, "tanh"), _DenseWithoutSquared(4, "softmax"), Dense(3)], loss)
    assert_close(_np(slow.squared_example_grads(X, y)), want, 1e-12)


# ------------------------------------------------- a layer belongs to one network, once


def test_a_layer_belongs_to_one_network(be):
    X, _ = _data("softmax_cross_entropy")
    shared = Dense(8, "tanh")
    first = Network([shared, Dense(3)], "softmax_cross_entropy", dtype="float64").build(4, 0)
    before = _np(first.predict(X)).copy()
    # a second network would rebind the layer's parameters to its own theta
    with pytest.raises(ValueError, match="already belongs to another Network"):
        Network([shared, Dense(3)], "softmax_cross_entropy", dtype="float64")
    assert np.array_equal(_np(first.predict(X)), before)
    # twice in one network: one set of parameters counted (and differentiated) twice
    with pytest.raises(ValueError, match="appears twice in this network"):
        Network([shared, shared, Dense(3)], "softmax_cross_entropy")
    square = Dense(4, "tanh")
    with pytest.raises(ValueError, match=r"layers\[0\] and layers\[1\]"):
        Network([square, square, Dense(3)], "softmax_cross_entropy")
    # rebuilding the same network is fine, and a copy of the layer is a new layer
    first.build(4, 1)
    assert not np.array_equal(_np(first.predict(X)), before)
    import copy
    other = Network([copy.deepcopy(shared), Dense(3)], "softmax_cross_entropy").build(4, 0)
    assert other.n_params == first.n_params
    # a network that is gone frees its layers
    free = Dense(2)
    Network([free], "squared_error").build(4, 0)      # not kept
    import gc
    gc.collect()
    Network([free], "squared_error").build(4, 0)


def test_a_copied_network_rebuilds_and_keeps_its_own_layers(be):
    import copy
    import pickle
    net = Network([Dense(5, "relu"), Dense(3)], "softmax_cross_entropy").build(4, 0)
    for twin in (copy.deepcopy(net), pickle.loads(pickle.dumps(net))):
        twin.build(4, 0)
        assert np.array_equal(_np(twin.theta), _np(net.theta))
        with pytest.raises(ValueError, match="already belongs"):
            Network(net.layers[:1], "squared_error")


def test_sequence_mask_must_come_first(be):
    from deepbio.nn import SequenceMask
    with pytest.raises(ValueError, match=r"layers\[1\] is a SequenceMask"):
        Network([Dense(3), SequenceMask()], "squared_error")


# ------------------------------------------------------- a leading SequenceMask, directly


def _padded_sequences(rng, n=4, t=6, d=3, lengths=(6, 4, 2, 5)):
    """Sequences (n, t, d + 1): features then the mask channel, padded at the end."""
    X = rng.normal(size=(n, t, d))
    mask = (np.arange(t)[None, :] < np.array(lengths)[:, None]).astype(float)
    X *= mask[:, :, None]
    return np.concatenate([X, mask[:, :, None]], axis=2), lengths


def test_a_leading_sequence_mask_is_connected_by_the_network(be):
    """Built directly, a SequenceMask -> LSTM network ignores the padding: each padded
    sequence gets the output of the same weights run on the unpadded sequence."""
    from deepbio.nn import LSTM, SequenceMask
    rng = np.random.default_rng(0)
    Xin, lengths = _padded_sequences(rng)
    net = Network([SequenceMask(), LSTM(4), Dense(2)], "softmax_cross_entropy",
                  dtype="float64").build(Xin.shape[1:], 0)
    padded = _np(net.predict(Xin))
    for i, length in enumerate(lengths):
        short = Network.from_config(net.get_config()).build((length, Xin.shape[2]), 0)
        short.set_flat(net.get_flat())
        alone = _np(short.predict(Xin[i:i + 1, :length]))
        assert_close(padded[i:i + 1], alone, 1e-12)


def test_from_config_round_trips_a_model_network_on_padded_input(be):
    """An RNNTagger's network (SequenceMask first, the masked loss) rebuilt from its
    config gives the same outputs, loss and gradient on padded input."""
    from deepbio.models import RNNTagger
    rng = np.random.default_rng(1)
    lengths = (6, 3, 5, 2, 6, 4)
    X = rng.normal(size=(6, 6, 3))
    mask = np.arange(6)[None, :] < np.array(lengths)[:, None]
    y = rng.integers(0, 2, size=(6, 6))
    tagger = RNNTagger(cell="lstm", units=3, max_iter=1, batch_size=3, dtype="float64",
                       random_state=0).fit(X, y, mask=mask)
    net = tagger.network_
    config = net.get_config()
    assert config["loss"] == "masked_softmax_cross_entropy"
    clone = Network.from_config(config).build(net.input_shape, 0)
    clone.set_flat(net.get_flat())
    Xin = np.concatenate([X * mask[:, :, None], mask[:, :, None]], axis=2)
    assert_close(_np(clone.predict(Xin)), _np(net.predict(Xin)), 0)
    assert_close(_np(clone.predict(Xin))[mask], tagger.predict_proba(X, mask=mask)[mask], 1e-12)
    Y = np.eye(2)[y] * mask[:, :, None]              # padded positions: all-zero rows
    v1, g1 = net.loss_and_grad(Xin, Y, train=False)
    v2, g2 = clone.loss_and_grad(Xin, Y, train=False)
    assert v1 == v2
    assert_close(_np(g2), _np(g1), 0)


# ------------------------------------------------------------- targets and set_flat


@pytest.mark.parametrize("loss, bad, match", [
    ("softmax_cross_entropy", lambda y: 2 * y, "lie in \\[0, 1\\]"),
    ("softmax_cross_entropy", lambda y: -y, "lie in \\[0, 1\\]"),
    ("softmax_cross_entropy", lambda y: 0.5 * y, "row 0 sums to 0.5"),
    ("softmax_cross_entropy", lambda y: y * 0, "sum to 1"),
    ("sigmoid_cross_entropy", lambda y: 2 * y - 1, "lie in \\[0, 1\\]"),
    ("softmax_cross_entropy", lambda y: np.where(y > 0, np.nan, y), "finite"),
    ("sigmoid_cross_entropy", lambda y: np.where(y > 0, np.inf, y), "finite"),
    ("squared_error", lambda y: np.where(y > 0, np.nan, y), "finite"),
])
def test_invalid_targets_are_rejected(be, loss, bad, match):
    X, y = _data(loss)
    net = _net([Dense(3)], loss)
    Y = bad(y)
    for call in (lambda: net.loss(X, Y), lambda: net.loss_and_grad(X, Y),
                 lambda: net.gauss_newton_product(np.ones(net.n_params), X, Y),
                 lambda: net.squared_example_grads(X, Y)):
        with pytest.raises(ValueError, match=match):
            call()


@pytest.mark.parametrize("loss, bad, match", [
    ("softmax_cross_entropy", lambda y: 0.5 * y, "row 0 sums to 0.5"),
    ("sigmoid_cross_entropy", lambda y: 2 * y - 1, "lie in \\[0, 1\\]"),
    ("squared_error", lambda y: np.where(y > 0, np.nan, y), "NaN|finite"),
])
def test_targets_checked_once_for_a_whole_fit(be, loss, bad, match):
    """An optimiser checks its whole targets once (targets_checked) and then trusts the
    batches cut from them, so a step reads no target value on the host; bad targets are
    still refused, at the start, by SGD and HF alike."""
    from deepbio.optim import SGD, HessianFree
    X, y = _data(loss)
    net = _net([Dense(3)], loss)
    for opt in (SGD(max_epochs=1, batch_size=3, random_state=0), HessianFree(max_iter=1)):
        with pytest.raises(ValueError, match=match):
            opt.minimize(net, X, bad(y))
    reads = []
    b = deepbio.backend.current()
    scalar = b.scalar
    try:
        b.scalar = lambda x: reads.append(1) or scalar(x)     # count the host reads
        with net.targets_checked(y) as same:
            assert same is net and len(reads) > 0
            before = len(reads)
            net.loss(X[:3], bad(y)[:3])       # inside: trusted, only the loss is read
            assert len(reads) == before + 1
        with pytest.raises(ValueError, match=match):       # outside: checked again
            net.loss(X[:3], bad(y)[:3])
    finally:
        del b.scalar


def test_soft_labels_in_float32_are_accepted(be):
    X, _ = _data("softmax_cross_entropy")
    rng = np.random.default_rng(3)
    soft = rng.dirichlet(np.ones(3), size=6).astype(np.float32)   # rows sum to 1 +- eps
    net = Network([Dense(3)], "softmax_cross_entropy").build(4, 0)
    value, g = net.loss_and_grad(X, soft)
    assert math.isfinite(value)
    assert math.isfinite(net.loss(X, np.clip(soft + 1e-4, 0, 1)))   # within tolerance


def test_set_flat_rejects_complex_and_non_finite_theta(be):
    net = _net([Dense(3)], "squared_error")
    theta = _np(net.get_flat()).copy()
    with pytest.raises(TypeError, match="theta must be real"):
        net.set_flat(theta + 1j)
    for value in (np.nan, np.inf):
        bad = theta.copy()
        bad[1] = value
        with pytest.raises(ValueError, match="theta must be finite"):
            net.set_flat(bad)
    assert np.array_equal(_np(net.theta), theta)     # left unchanged
    net.set_flat(theta + 1.0)
    assert np.array_equal(_np(net.theta), theta + 1.0)


@pytest.mark.parametrize("act", ["relu", "sigmoid", "linear"])
def test_lowest_dense_skips_its_input_gradient_and_keeps_its_weight_gradient(be, act):
    """The lowest Dense layer of a Network computes no dx (its GEMM is skipped) and
    writes dW, db straight into the gradient buffer: the same gradient as the full
    ``dense_backward`` kernel gives."""
    net = _net([Dense(5, act), Dense(3)], "softmax_cross_entropy")
    X, y = _data("softmax_cross_entropy")
    assert net.layers[0].needs_input_grad is False
    _, lean = net.loss_and_grad(X, y)
    net.layers[0].needs_input_grad = True          # the full kernel, dx included
    try:
        _, full = net.loss_and_grad(X, y)
    finally:
        net.layers[0].needs_input_grad = False
    np.testing.assert_allclose(_np(lean), _np(full), rtol=1e-12, atol=1e-15)
    net.forward(X, train=True)
    assert net.layers[0].backward(net.layers[1].backward(
        be.xp.ones((X.shape[0], 3), dtype=net.dtype))) is None
