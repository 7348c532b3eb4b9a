"""Hessian-free core: CG, damping, counting -- on problems whose curvature is known exactly."""
import math

import numpy as np
import pytest

from deepbio.optim.hf import CountingNetwork, HessianFree, conjugate_gradient


class LeastSquares:
    """f(theta) = 1/(2n) ||A theta - b||^2: the Gauss-Newton matrix is A^T A / n exactly."""

    def __init__(self, A, b):
        self.A, self.b = A, b
        self.theta = np.zeros(A.shape[1])

    def get_flat(self):
        return self.theta.copy()

    def set_flat(self, t):
        self.theta[...] = t

    def loss(self, X, y):
        r = X @ self.theta - y
        return 0.5 * float(r @ r) / len(X)

    def loss_and_grad(self, X, y):
        r = X @ self.theta - y
        return 0.5 * float(r @ r) / len(X), X.T @ r / len(X)

    def gauss_newton_product(self, v, X, y):
        return X.T @ (X @ v) / len(X)


class Rosenbrockish(LeastSquares):
    """Nonlinear least squares r_i = tanh(x_i . theta) - y_i; GN = J^T diag J / n."""

    def loss(self, X, y):
        r = np.tanh(X @ self.theta) - y
        return 0.5 * float(r @ r) / len(X)

    def loss_and_grad(self, X, y):
        t = np.tanh(X @ self.theta)
        r = t - y
        return 0.5 * float(r @ r) / len(X), X.T @ (r * (1 - t * t)) / len(X)

    def gauss_newton_product(self, v, X, y):
        d = 1 - np.tanh(X @ self.theta) ** 2
        return X.T @ (d * d * (X @ v)) / len(X)


@pytest.mark.parametrize("precondition", [False, True])
@pytest.mark.parametrize("seed", range(5))
def test_cg_solves_random_spd_systems(seed, precondition):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 40))
    Q = rng.standard_normal((n, n))
    A = Q @ Q.T + 0.1 * np.eye(n)
    b = rng.standard_normal(n)
    M = np.diag(A).copy() if precondition else None
    iterates, n_iter = conjugate_gradient(lambda v: A @ v, b, np.zeros(n), M,
                                          max_iter=10 * n, min_iter=10 * n, tol=1e-12)
    x = iterates[-1][1]
    np.testing.assert_allclose(A @ x, b, rtol=1e-6, atol=1e-8 * np.abs(b).max())
    # phi is the quadratic 1/2 x^T A x - b^T x at the stored iterate
    assert iterates[-1][2] == pytest.approx(0.5 * x @ A @ x - b @ x, rel=1e-8)


def test_cg_phi_decreases_monotonically_and_saves_geometric_iterates():
    rng = np.random.default_rng(1)
    Q = rng.standard_normal((60, 60))
    A = Q @ Q.T + np.eye(60)
    b = rng.standard_normal(60)
    iterates, n_iter = conjugate_gradient(lambda v: A @ v, b, np.zeros(60), max_iter=40,
                                          min_iter=40, tol=1e-12)
    its = [i for i, _, _ in iterates]
    assert its[:6] == [1, 2, 3, 4, 5, 6] or its[:4] == [1, 2, 3, 4]
    assert its[-1] == n_iter == 40
    phis = [phi for _, _, phi in iterates]
    assert all(b_ <= a + 1e-12 for a, b_ in zip(phis, phis[1:]))


def test_cg_martens_rule_stops_early_when_progress_stalls():
    rng = np.random.default_rng(2)
    Q = rng.standard_normal((200, 200))
    A = Q @ Q.T / 200 + np.diag(np.logspace(-6, 0, 200))   # badly conditioned
    b = rng.standard_normal(200)
    _, n_loose = conjugate_gradient(lambda v: A @ v, b, np.zeros(200), max_iter=500, tol=5e-2)
    _, n_tight = conjugate_gradient(lambda v: A @ v, b, np.zeros(200), max_iter=500, tol=1e-8)
    assert 10 < n_loose < n_tight


def test_hf_solves_least_squares_in_few_iterations():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 10))
    y = X @ rng.standard_normal(10)
    net = LeastSquares(X, y)
    hf = HessianFree(max_iter=5, initial_damping=1e-3, preconditioner=False,
                     curvature_batch_size=1.0, random_state=0)
    hist = hf.minimize(net, X, y)
    assert hist[-1]["loss"] < 1e-8
    assert hist[0]["rho"] > 0.9   # the quadratic model is exact up to damping


def test_damping_falls_after_good_steps_and_rises_after_rejected_ones():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((100, 5))
    y = X @ rng.standard_normal(5)
    net = LeastSquares(X, y)
    hf = HessianFree(initial_damping=1.0, preconditioner=False, curvature_batch_size=1.0)
    info = hf.step(net, X, y)
    assert info["rho"] > 0.75 and hf.damping_ == pytest.approx(2.0 / 3.0)

    # A curvature that lies (100x too small) makes the model over-promise: rho < 1/4.
    class Liar(LeastSquares):
        def gauss_newton_product(self, v, X, y):
            return super().gauss_newton_product(v, X, y) / 100.0

    liar = Liar(X, y)
    hf2 = HessianFree(initial_damping=1e-4, preconditioner=False, curvature_batch_size=1.0,
                      line_search=False)
    info = hf2.step(liar, X, y)
    assert info["rho"] < 0.25 and hf2.damping_ == pytest.approx(1.5e-4)


def test_line_search_never_increases_the_loss():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((80, 6))
    y = np.tanh(X @ rng.standard_normal(6))
    net = Rosenbrockish(X, y)
    hf = HessianFree(max_iter=15, initial_damping=1e-3, curvature_batch_size=0.5,
                     random_state=0)
    hist = hf.minimize(net, X, y)
    for h in hist:
        assert h["loss"] <= h["loss_before"] + 1e-12
        assert 0.0 <= h["step_size"] <= 1.0 and h["cg_iters"] >= 1
    assert hist[-1]["loss"] < 0.1 * hist[0]["loss_before"]


def test_counting_network_counts_gradient_equivalents():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 4))
    net = CountingNetwork(LeastSquares(X, X[:, 0]))
    net.loss(X, X[:, 0])
    net.loss_and_grad(X[:10], X[:10, 0])
    net.gauss_newton_product(np.ones(4), X[:3], X[:3, 0])
    assert net.cost == pytest.approx(30 / 3 + 10 + 3 * 5 / 3)
    assert net.calls == {"loss": 1, "loss_and_grad": 1, "gauss_newton_product": 1}


def test_max_cost_bounds_the_work():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 4))
    y = np.tanh(X @ rng.standard_normal(4))
    net = CountingNetwork(Rosenbrockish(X, y))
    HessianFree(max_iter=100, max_cost=500.0, random_state=0).minimize(net, X, y)
    assert 500 <= net.cost < 500 + 50 * 260   # stops right after the iteration that crosses it


@pytest.mark.parametrize("bad", [dict(max_iter=0), dict(initial_damping=-1.0),
                                 dict(cg_decay=2.0), dict(curvature_batch_size=0.0),
                                 dict(curvature_batch_size=1.5), dict(armijo_c=1.0)])
def test_bad_hyper_parameters_are_named(bad):
    X = np.ones((4, 2))
    name = next(iter(bad))
    with pytest.raises(ValueError, match=name):
        HessianFree(**bad).minimize(LeastSquares(X, X[:, 0]), X, X[:, 0])
