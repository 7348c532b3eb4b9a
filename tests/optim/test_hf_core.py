"""Hessian-free core: CG, damping, counting -- on problems whose curvature is known exactly."""

import numpy as np
import pytest

from deepbio.optim.hf import CountingNetwork, HessianFree, conjugate_gradient


class LeastSquares:
    """f(theta) = 1/(2n) ||A theta - b||^2: the Gauss-Newton matrix is A^T A / n exactly.

    Like deepbio.nn.Network, its methods take ``train`` (HF passes train=False); this
    objective has no training-mode behaviour, so it is ignored."""

    def __init__(self, A, b):
        self.A, self.b = A, b
        self.theta = np.zeros(A.shape[1])

    def get_flat(self):
        return self.theta.copy()

    def set_flat(self, t):
        self.theta[...] = t

    def loss(self, X, y, train=False):
        r = X @ self.theta - y
        return 0.5 * float(r @ r) / len(X)

    def loss_and_grad(self, X, y, train=True):
        r = X @ self.theta - y
        return 0.5 * float(r @ r) / len(X), X.T @ r / len(X)

    def gauss_newton_product(self, v, X, y, train=True):
        return X.T @ (X @ v) / len(X)


class Rosenbrockish(LeastSquares):
    """Nonlinear least squares r_i = tanh(x_i . theta) - y_i; GN = J^T diag J / n."""

    def loss(self, X, y, train=False):
        r = np.tanh(X @ self.theta) - y
        return 0.5 * float(r @ r) / len(X)

    def loss_and_grad(self, X, y, train=True):
        t = np.tanh(X @ self.theta)
        r = t - y
        return 0.5 * float(r @ r) / len(X), X.T @ (r * (1 - t * t)) / len(X)

    def gauss_newton_product(self, v, X, y, train=True):
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
        def gauss_newton_product(self, v, X, y, train=True):
            return super().gauss_newton_product(v, X, y, train) / 100.0

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


@pytest.mark.parametrize("value", [True, False])
def test_curvature_batch_size_rejects_bools(value):
    X = np.ones((4, 2))
    with pytest.raises(ValueError, match="curvature_batch_size"):
        HessianFree(curvature_batch_size=value).minimize(LeastSquares(X, X[:, 0]), X, X[:, 0])


# ------------------------------------------------ one deterministic objective (Dropout)


def _dropout_net(rate):
    from deepbio.nn import Dense, Dropout, Network
    return Network([Dense(32, "relu"), Dropout(rate), Dense(3)], "softmax_cross_entropy",
                   dtype="float64").build(4, random_state=0)


def _classes(n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4))
    return X, np.eye(3)[rng.integers(0, 3, n)]


def test_dropout_is_refused_with_a_clear_error():
    """Dropout draws a new mask at every pass: rho and the line search would compare
    different functions, so HF refuses it (minimize and step) and leaves theta alone."""
    X, Y = _classes()
    net = _dropout_net(0.5)
    theta = net.get_flat()
    msg = (r"HessianFree needs a deterministic objective: Dropout layers \(rate 0.5 in "
           r"layer 1\) .* use SGD, or set the dropout rate to 0")
    with pytest.raises(ValueError, match=msg):
        HessianFree(max_iter=2, random_state=0).minimize(net, X, Y)
    with pytest.raises(ValueError, match=msg):
        HessianFree().step(net, X, Y)
    np.testing.assert_array_equal(net.get_flat(), theta)
    # rate 0 is the identity in both modes: accepted
    HessianFree(max_iter=2, random_state=0).minimize(_dropout_net(0.0), X, Y)


class _Spy(CountingNetwork):
    """Records the ``train`` flag of every network call."""

    def __init__(self, network):
        super().__init__(network)
        object.__setattr__(self, "flags", [])

    def _record(self, name, kwargs):
        self.flags.append((name, kwargs.get("train", "default")))

    def loss(self, X, y, *args, **kwargs):
        self._record("loss", kwargs)
        return super().loss(X, y, *args, **kwargs)

    def loss_and_grad(self, X, y, *args, **kwargs):
        self._record("loss_and_grad", kwargs)
        return super().loss_and_grad(X, y, *args, **kwargs)

    def gauss_newton_product(self, v, X, y, *args, **kwargs):
        self._record("gauss_newton_product", kwargs)
        return super().gauss_newton_product(v, X, y, *args, **kwargs)

    def linearize(self, X, y, *args, **kwargs):
        self._record("linearize", kwargs)        # the products' point: one forward
        return super().linearize(X, y, *args, **kwargs)

    def squared_example_grads(self, X, y, *args, **kwargs):
        self._record("squared_example_grads", kwargs)
        return super().squared_example_grads(X, y, *args, **kwargs)


def test_every_network_call_is_in_prediction_mode():
    """The gradient, the curvature products, the preconditioner and the trial losses
    are all of the same (prediction-mode) objective."""
    X, Y = _classes()
    spy = _Spy(_dropout_net(0.0))
    HessianFree(max_iter=3, curvature_batch_size=0.5, random_state=0).minimize(
        spy, X, Y, X_val=X[:10], y_val=Y[:10])
    called = {name for name, _ in spy.flags}
    assert called == {"loss", "loss_and_grad", "linearize", "squared_example_grads"}
    assert spy.calls["gauss_newton_product"] > 0      # through the linearisation
    assert all(flag is False for _, flag in spy.flags), spy.flags


def test_loss_before_is_the_objective_that_the_trial_losses_measure():
    """With one objective, loss_before of iteration k+1 is loss of iteration k (the
    gradient batch is all of X), and the loss never rises."""
    X, Y = _classes()
    from deepbio.nn import Dense, Network
    net = Network([Dense(8, "tanh"), Dense(3)], "softmax_cross_entropy",
                  dtype="float64").build(4, random_state=0)
    hist = HessianFree(max_iter=5, random_state=0).minimize(net, X, Y)
    for a, b in zip(hist, hist[1:]):
        assert b["loss_before"] == pytest.approx(a["loss"], rel=1e-12)
    assert all(h["loss"] <= h["loss_before"] for h in hist)


# ------------------------------------------------------------------- input checks


@pytest.mark.parametrize("where", ["X", "y", "X_val", "y_val"])
@pytest.mark.parametrize("bad, word", [(np.nan, "NaN"), (np.inf, "infinity")])
def test_nan_or_inf_in_the_data_is_named(where, bad, word):
    X, Y = _classes()
    data = {"X": X.copy(), "y": Y.copy(), "X_val": X[:10].copy(), "y_val": Y[:10].copy()}
    data[where][4, 2] = bad
    net = _dropout_net(0.0)
    theta = net.get_flat()
    with pytest.raises(ValueError, match=rf"^{where} contains {word} \(first at "
                                         rf"{where}\[4, 2\]\)"):
        HessianFree(max_iter=2).minimize(net, data["X"], data["y"], data["X_val"],
                                         data["y_val"])
    np.testing.assert_array_equal(net.get_flat(), theta)


def test_minimize_validates_its_data_like_sgd():
    X, Y = _classes()
    net = _dropout_net(0.0)
    with pytest.raises(ValueError, match="X and y must have the same number of samples, "
                                         "got 60 and 30"):
        HessianFree(max_iter=1).minimize(net, X, Y[:30])
    with pytest.raises(ValueError, match="X_val and y_val must have the same number"):
        HessianFree(max_iter=1).minimize(net, X, Y, X[:10], Y[:5])
    with pytest.raises(ValueError, match="give both X_val and y_val, or neither"):
        HessianFree(max_iter=1).minimize(net, X, Y, X_val=X[:10])
    with pytest.raises(ValueError, match="give both X_val and y_val, or neither"):
        HessianFree(max_iter=1).minimize(net, X, Y, y_val=Y[:10])
    with pytest.raises(ValueError, match="^X could not be converted"):
        HessianFree(max_iter=1).minimize(net, [[1.0, "a", 2.0, 3.0]], Y[:1])
    # lists are arrays too
    hist = HessianFree(max_iter=1, random_state=0).minimize(net, X.tolist(), Y.tolist())
    assert len(hist) == 1


def test_an_unbuilt_network_is_built_from_X():
    from deepbio.nn import Dense, Network
    X, Y = _classes()
    net = Network([Dense(4, "tanh"), Dense(3)], "softmax_cross_entropy", dtype="float64")
    hist = HessianFree(max_iter=2, random_state=0).minimize(net, X, Y)
    assert net.built and net.input_shape == (4,) and len(hist) == 2
    again = Network([Dense(4, "tanh"), Dense(3)], "softmax_cross_entropy", dtype="float64")
    HessianFree(max_iter=2, random_state=0).minimize(again, X, Y)
    np.testing.assert_array_equal(again.theta, net.theta)       # reproducible


@pytest.mark.parametrize("size, expected", [(np.float32(0.5), 40), (np.float64(0.25), 20),
                                            (0.5, 40), (np.int64(7), 7), (7, 7), (1, 1),
                                            (1.0, 80)])
def test_curvature_batch_size_int_is_a_count_and_real_a_fraction(size, expected):
    """Any integer type is a count, any other real type a fraction (np.float32 too)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((80, 3))
    y = X @ rng.standard_normal(3)
    seen = []

    class Spy(LeastSquares):
        def gauss_newton_product(self, v, Xc, yc, train=True):
            seen.append(len(Xc))
            return super().gauss_newton_product(v, Xc, yc, train)

    HessianFree(max_iter=1, curvature_batch_size=size, random_state=0).minimize(
        Spy(X, y), X, y)
    assert seen and set(seen) == {expected}


# --------------------------------------------------------------------------- tol


def test_a_rejected_step_is_not_convergence():
    """tol > 0: a rejected step (alpha = 0, no decrease) raises lambda and retries; only
    an accepted step whose decrease is below tol stops."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((100, 5))
    y = X @ rng.standard_normal(5)

    class Liar(LeastSquares):          # curvature 100x too small: the first steps fail
        def gauss_newton_product(self, v, X, y, train=True):
            return super().gauss_newton_product(v, X, y, train) / 100.0

    hf = HessianFree(max_iter=40, initial_damping=1e-3, preconditioner=False,
                     curvature_batch_size=1.0, max_line_search=0, tol=0.99, random_state=0)
    hist = hf.minimize(Liar(X, y), X, y)
    steps = [h["step_size"] for h in hist]
    assert steps[0] == 0.0                      # rejected, lambda raised ...
    assert hist[1]["damping"] == pytest.approx(1.5e-3)
    assert steps[-1] > 0                        # ... until a step is accepted, which
    assert all(s == 0.0 for s in steps[:-1])    # (decrease < 99 %) stops it
    assert hist[-1]["loss"] < hist[0]["loss_before"]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("check_every", [2, 3, 8, 1000])
def test_cg_gives_the_same_iterates_however_often_the_host_looks(seed, check_every):
    """CG decides to stop on the device (a 0/1 flag multiplies each update): iterations
    queued past a stop change nothing, so reading the flag every k iterations gives
    the iterates of reading it every iteration, bit for bit, whichever rule stops it
    (Martens' rule, max_iter, or a direction of negative curvature)."""
    rng = np.random.default_rng(seed)
    n = 50
    Q = rng.standard_normal((n, n))
    A = Q @ Q.T / n + np.diag(np.logspace(-4, 0, n))
    if seed == 3:                          # indefinite: CG must stop at p^T A p <= 0
        A -= 0.05 * np.eye(n)
    b = rng.standard_normal(n).astype(np.float32)
    A32 = A.astype(np.float32)
    M = np.abs(np.diag(A32)) + 0.1 if seed % 2 else None
    x0 = (0.1 * rng.standard_normal(n)).astype(np.float32)
    calls = []

    def Av(v):
        calls.append(1)
        return A32 @ v

    runs = []
    for every in (1, check_every):
        calls.clear()
        iterates, n_iter = conjugate_gradient(Av, b, x0, M, max_iter=60, tol=5e-4,
                                              check_every=every)
        runs.append((iterates, n_iter, len(calls)))
    (it1, n1, c1), (itk, nk, ck) = runs
    assert n1 == nk and 0 < n1 <= 60
    assert [i for i, _, _ in it1] == [i for i, _, _ in itk]
    for (_, x1, q1), (_, xk, qk) in zip(it1, itk):
        assert x1.dtype == np.float32 and np.array_equal(x1, xk) and q1 == qk
        assert isinstance(qk, float)
    assert c1 == min(n1 + 1, 60) + 1 or c1 == n1 + 1        # A(x0) + one per iteration
    assert ck >= c1                                          # queued iterations: wasted
    if seed == 3:
        assert n1 < 60                    # stopped by the negative curvature
