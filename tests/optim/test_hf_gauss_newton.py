"""The Gauss-Newton product that Hessian-free optimisation runs on, checked against an
explicitly formed ``J^T H_L J`` on tiny float64 networks of every layer type, on every
backend.

``J = dz/dtheta`` (z: the network's pre-loss output) is built column by column from central
differences of ``Network.forward``; ``H_L`` is written out from the loss formulas (not from
the loss objects).  The product's matrix is built column by column from unit vectors.
With structural damping ``s`` on a recurrent layer the product must be
``J^T H_L J + s J_h^T J_h``, with ``J_h`` the Jacobian of all hidden states, which a twin
layer with ``return_sequences=True`` and the same parameters exposes.
"""
import numpy as np
import pytest

import deepbio
from deepbio.nn import (Dense, Flatten, Network, SequenceMask, TimeDistributedDense, conv, pool,
                        recurrent)

from .._gauss_newton import jacobian, loss_hessian


def _np(a):
    return deepbio.backend.current().to_numpy(a)


def _output_jacobian(net, X):
    theta0 = _np(net.get_flat()).copy()

    def z_of(theta):
        net.set_flat(theta)
        return _np(net.forward(X)).copy()

    J = jacobian(z_of, theta0)
    z = z_of(theta0)
    net.set_flat(theta0)
    return J, z


def _gn_matrix(net, X, y):
    P = net.n_params
    cols = []
    for j in range(P):
        e = np.zeros(P)
        e[j] = 1.0
        cols.append(_np(net.gauss_newton_product(e, X, y)))
    return np.stack(cols, axis=1)


def _targets(name, shape, rng):
    if name == "softmax_cross_entropy":
        k = shape[-1]
        return np.eye(k)[rng.integers(0, k, size=shape[:-1])]
    if name == "sigmoid_cross_entropy":
        return rng.integers(0, 2, size=shape).astype(float)
    return rng.normal(size=shape)


def _build(layers, loss, input_shape, seed=0):
    net = Network(layers, loss, dtype="float64").build(input_shape, random_state=seed)
    # random (not zero) biases, so every parameter takes part in every derivative
    rng = np.random.default_rng(seed + 100)
    theta = _np(net.get_flat())
    net.set_flat(theta + rng.normal(scale=0.3, size=theta.shape) * (theta == 0))
    return net


def _seq_mask(n, t, rng):
    """(n, t) 0/1 mask with end padding; sequence lengths between 2 and t."""
    lengths = rng.integers(2, t + 1, size=n)
    lengths[0] = t
    return (np.arange(t)[None, :] < lengths[:, None]).astype(float)


def _masked_elman(units):
    mask = SequenceMask()
    rnn = recurrent.Elman(units)
    mask.connect([rnn])
    return [mask, rnn, Dense(2)]


# (id, layers factory, loss, per-sample input shape, input maker)
CASES = [
    ("dense", lambda: [Dense(4, "tanh"), Dense(3, "sigmoid"), Dense(3)],
     "softmax_cross_entropy", (4,), None),
    ("conv1d", lambda: [conv.Conv1D(3, 3, activation="tanh"), Flatten(), Dense(2)],
     "squared_error", (2, 6), None),
    ("conv1d_stride_pad", lambda: [conv.Conv1D(2, 3, stride=2, padding=1,
                                               activation="sigmoid"), Flatten(), Dense(2)],
     "sigmoid_cross_entropy", (2, 7), None),
    ("channels_first_conv1d_globalmax", lambda: [conv.ChannelsFirst(),
                                                 conv.Conv1D(3, 2, activation="tanh"),
                                                 pool.GlobalMaxPool1D(), Dense(2)],
     "softmax_cross_entropy", (6, 2), None),
    ("conv2d", lambda: [conv.Conv2D(2, 3, padding=1, activation="tanh"), Flatten(), Dense(3)],
     "softmax_cross_entropy", (1, 4, 4), None),
    ("conv2d_stride", lambda: [conv.Conv2D(2, (2, 3), stride=(2, 1), activation="sigmoid"),
                               Flatten(), Dense(2)],
     "squared_error", (2, 5, 4), None),
    ("maxpool2d", lambda: [conv.Conv2D(2, 2, activation="tanh"), pool.MaxPool2D(2),
                           Flatten(), Dense(2)],
     "squared_error", (1, 5, 5), None),
    ("avgpool2d", lambda: [conv.Conv2D(2, 2, activation="tanh"), pool.AvgPool2D(2),
                           Flatten(), Dense(3)],
     "softmax_cross_entropy", (1, 5, 5), None),
    ("maxpool1d", lambda: [conv.Conv1D(2, 2, activation="tanh"), pool.MaxPool1D(2),
                           Flatten(), Dense(2)],
     "squared_error", (2, 7), None),
    ("avgpool1d", lambda: [conv.Conv1D(2, 2, activation="tanh"), pool.AvgPool1D(3, stride=2),
                           Flatten(), Dense(2)],
     "sigmoid_cross_entropy", (2, 8), None),
    ("elman", lambda: [recurrent.Elman(3), Dense(2)], "squared_error", (5, 2), None),
    ("elman_relu_sequences", lambda: [recurrent.Elman(3, activation="relu",
                                                      return_sequences=True),
                                      TimeDistributedDense(2)],
     "softmax_cross_entropy", (4, 2), None),
    ("elman_bidirectional", lambda: [recurrent.Elman(2, bidirectional=True), Dense(2)],
     "squared_error", (4, 2), None),
    ("elman_masked", lambda: _masked_elman(3), "squared_error", (5, 3), "mask"),
    ("lstm", lambda: [recurrent.LSTM(2), Dense(2)], "softmax_cross_entropy", (4, 2), None),
    ("lstm_sequences", lambda: [recurrent.LSTM(2, return_sequences=True), Flatten(),
                                Dense(2)],
     "sigmoid_cross_entropy", (3, 2), None),
]


def _inputs(shape, kind, n, rng):
    X = rng.normal(size=(n,) + shape)
    if kind == "mask":
        X[:, :, -1] = _seq_mask(n, shape[0], rng)
    return X


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_gauss_newton_product_equals_explicit_JtHJ(be, case):
    _, make, loss, shape, kind = case
    rng = np.random.default_rng(1)
    net = _build(make(), loss, shape)
    X = _inputs(shape, kind, 3, rng)
    y = _targets(loss, (3,) + net.output_shape, rng)
    J, z = _output_jacobian(net, X)
    expected = J.T @ loss_hessian(loss, z) @ J
    assert np.abs(J).max() > 0
    G = _gn_matrix(net, X, y)
    scale = np.abs(expected).max()
    np.testing.assert_allclose(G, expected, rtol=0, atol=1e-6 * scale)
    np.testing.assert_allclose(G, G.T, rtol=0, atol=1e-10 * scale)
    assert np.linalg.eigvalsh(0.5 * (G + G.T)).min() > -1e-9 * scale   # PSD


def _hidden_state_jacobian(net, X, units, activation):
    """J_h: d(all hidden states, (N, T, H)) / d theta for an [Elman, Dense] network,
    through a twin Elman with return_sequences=True holding the same parameters."""
    twin = Network([recurrent.Elman(units, activation=activation, return_sequences=True)],
                   "squared_error", dtype="float64").build(net.input_shape, random_state=0)
    theta = _np(net.get_flat())
    k = twin.n_params           # the Elman parameters come first in the flat vector

    def h_of(t):
        twin.set_flat(t)
        return _np(twin.forward(X)).copy()

    Jh = jacobian(h_of, theta[:k].copy())
    return np.hstack([Jh, np.zeros((Jh.shape[0], theta.size - k))])


@pytest.mark.parametrize("s", [0.3, 2.0])
def test_structural_damping_adds_s_JhT_Jh(be, s):
    rng = np.random.default_rng(2)
    units, T = 3, 5
    net = _build([recurrent.Elman(units), Dense(2)], "squared_error", (T, 2))
    X = rng.normal(size=(4, T, 2))
    y = rng.normal(size=(4, 2))
    J, z = _output_jacobian(net, X)
    Jh = _hidden_state_jacobian(net, X, units, "tanh")
    plain = J.T @ loss_hessian("squared_error", z) @ J
    net.layers[0].structural_damping = s
    G = _gn_matrix(net, X, y)
    expected = plain + s * Jh.T @ Jh
    np.testing.assert_allclose(G, expected, rtol=0, atol=1e-6 * np.abs(expected).max())
    # the term is really there (not lost in the tolerance)
    assert np.abs(expected - plain).max() > 1e-2 * np.abs(expected).max()
    # and a plain gradient pass is untouched by it
    net.layers[0].structural_damping = 0.0
    _, g0 = net.loss_and_grad(X, y)
    net.layers[0].structural_damping = s
    _, g1 = net.loss_and_grad(X, y)
    np.testing.assert_allclose(_np(g1), _np(g0), rtol=1e-12, atol=1e-14)


def test_hessian_free_sets_structural_damping_only_inside_cg(be):
    """HF hands mu * lambda / N_curvature to recurrent layers for its CG run (the penalty
    averages over the curvature batch like the loss) and resets it to 0 afterwards."""
    from deepbio.optim import HessianFree
    from deepbio.optim.hf import CountingNetwork

    rng = np.random.default_rng(3)
    net = _build([recurrent.Elman(3), Dense(1)], "squared_error", (6, 2))
    X = rng.normal(size=(20, 6, 2))
    y = rng.normal(size=(20, 1))
    seen = []

    class Spy(CountingNetwork):
        def linearize(self, Xc, yc, *args, **kwargs):
            lin = super().linearize(Xc, yc, *args, **kwargs)
            product = lin.gauss_newton_product
            layer = self.network.layers[0]

            def spied(v):                 # what each product of the CG run sees
                seen.append((layer.structural_damping, len(Xc)))
                return product(v)
            lin.gauss_newton_product = spied
            return lin

    hf = HessianFree(max_iter=2, initial_damping=0.5, structural_damping=0.3,
                     curvature_batch_size=5, random_state=0)
    history = hf.minimize(Spy(net), X, y)
    assert history is hf.history_ and len(history) == 2
    assert seen and all(n == 5 for _, n in seen)
    assert seen[0][0] == pytest.approx(0.3 * 0.5 / 5)
    expected = {round(0.3 * h["damping"] / 5, 12) for h in history}
    assert {round(v, 12) for v, _ in seen} == expected
    assert net.layers[0].structural_damping == 0.0
