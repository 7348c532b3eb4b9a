"""SGD: the documented update rules step by step, convergence on convex problems,
clipping, weight decay, schedules, early stopping, history, validation, reproducibility."""
import math

import numpy as np
import pytest
from scipy.optimize import minimize as scipy_minimize

import deepbio
from deepbio.nn import Dense, Network
from deepbio.optim import (SGD, Constant, Cosine, InverseScaling, Optimizer, StepDecay,
                           get_schedule)
from deepbio.testing import assert_close


def _np(a):
    return deepbio.backend.current().to_numpy(a)


def _regression(n=64, d=3, seed=0, noise=0.0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    w = rng.normal(size=(d, 1))
    return X, X @ w + 0.7 + noise * rng.normal(size=(n, 1))


def _linear_net(d=3, k=1, loss="squared_error", seed=0):
    return Network([Dense(k)], loss, dtype="float64").build(d, random_state=seed)


def _mlp(seed=0):
    return Network([Dense(6, "tanh"), Dense(1)], "squared_error",
                   dtype="float64").build(3, random_state=seed)


# --------------------------------------------------------------- update rules


@pytest.mark.parametrize("nesterov", [False, True])
@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
def test_steps_follow_the_documented_rule(be, nesterov, weight_decay):
    X, y = _regression(n=16)
    net, ref = _mlp(), _mlp()
    lr, mu = 0.05, 0.8
    opt = SGD(learning_rate=lr, momentum=mu, nesterov=nesterov, weight_decay=weight_decay)
    v = np.zeros(net.n_params)
    theta = _np(ref.get_flat()).copy()
    for _ in range(4):
        ref.set_flat(theta)
        value, g = ref.loss_and_grad(X, y)
        g = _np(g) + weight_decay * theta
        v = mu * v - lr * g
        theta = theta + (mu * v - lr * g if nesterov else v)
        assert opt.step(net, X, y) == value
        assert_close(_np(net.theta), theta, 1e-12)


def test_nesterov_and_classical_momentum_differ(be):
    X, y = _regression()
    a, b = _mlp(), _mlp()
    SGD(0.05, momentum=0.9, nesterov=False, max_epochs=3, random_state=0).minimize(a, X, y)
    SGD(0.05, momentum=0.9, nesterov=True, max_epochs=3, random_state=0).minimize(b, X, y)
    assert np.abs(_np(a.theta) - _np(b.theta)).max() > 1e-3


def test_momentum_zero_is_plain_gradient_descent(be):
    X, y = _regression(n=8)
    net = _mlp()
    theta0 = _np(net.get_flat()).copy()
    _, g = net.loss_and_grad(X, y)
    for nesterov in (False, True):
        net.set_flat(theta0)
        SGD(0.1, momentum=0.0, nesterov=nesterov).step(net, X, y)
        assert_close(_np(net.theta), theta0 - 0.1 * _np(g), 1e-12)


def test_weight_decay_shrinks_the_parameters(be):
    X, y = _regression(noise=0.5)
    norms = []
    for wd in (0.0, 0.1, 1.0):
        net = _linear_net()
        SGD(0.05, momentum=0.5, weight_decay=wd, max_epochs=30, random_state=0).minimize(
            net, X, y)
        norms.append(float(np.linalg.norm(_np(net.theta))))
    assert norms[0] > norms[1] > norms[2]
    # with a zero data gradient the update is a pure shrink: theta <- (1 - lr wd) theta
    net = _linear_net()
    net.set_flat(np.array([1.0, -2.0, 3.0, 0.5]))
    X0 = np.zeros((4, 3))
    y0 = _np(net.forward(X0)).copy()             # perfect fit: zero data gradient
    SGD(0.1, momentum=0.0, weight_decay=0.5).step(net, X0, y0)
    assert_close(_np(net.theta), 0.95 * np.array([1.0, -2.0, 3.0, 0.5]), 1e-12)


def test_clipping_caps_the_step_norm(be):
    X, y = _regression()
    y = y * 100                                   # a huge gradient
    net = _linear_net()
    theta0 = _np(net.get_flat()).copy()
    _, g = net.loss_and_grad(X, y)
    assert float(np.linalg.norm(_np(g))) > 10
    SGD(learning_rate=0.5, momentum=0.0, clip_norm=0.1).step(net, X, y)
    step = _np(net.theta) - theta0
    assert math.isclose(float(np.linalg.norm(step)), 0.5 * 0.1, rel_tol=1e-10)
    assert_close(step / np.linalg.norm(step), -_np(g) / np.linalg.norm(_np(g)), 1e-10)
    # a gradient already inside the ball is untouched
    net.set_flat(theta0)
    SGD(learning_rate=0.5, momentum=0.0, clip_norm=1e9).step(net, X, y)
    assert_close(_np(net.theta), theta0 - 0.5 * _np(g), 1e-12)
    # with momentum every step stays within lr * clip_norm * (1 + mu + mu^2 + ...)
    net.set_flat(theta0)
    opt = SGD(learning_rate=0.5, momentum=0.5, clip_norm=0.1)
    for _ in range(5):
        before = _np(net.get_flat()).copy()
        opt.step(net, X, y)
        assert np.linalg.norm(_np(net.theta) - before) <= 0.5 * 0.1 / (1 - 0.5) + 1e-12


# -------------------------------------------------------------- convergence


@pytest.mark.parametrize("nesterov", [False, True])
def test_converges_on_least_squares(be, nesterov):
    X, y = _regression(noise=0.1)
    A = np.hstack([X, np.ones((64, 1))])
    w_star = np.linalg.lstsq(A, y, rcond=None)[0].ravel()      # [W; b]
    net = _linear_net()
    SGD(learning_rate=0.1, momentum=0.9, nesterov=nesterov, batch_size=64, max_epochs=300,
        random_state=0).minimize(net, X, y)
    assert_close(_np(net.theta), w_star, 1e-6, floor=1.0)


def test_minibatch_sgd_reaches_an_exact_linear_fit(be):
    X, y = _regression()                          # noiseless: every minibatch agrees
    net = _linear_net()
    hist = SGD(learning_rate=0.05, momentum=0.9, batch_size=8, max_epochs=60,
               random_state=1).minimize(net, X, y)
    assert hist[-1]["loss"] < 1e-10
    assert hist[-1]["loss"] < hist[0]["loss"]


def test_converges_on_regularised_logistic_regression(be):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 2))
    y = (X @ np.array([1.5, -1.0]) + 0.3 * rng.normal(size=80) > 0).astype(float)[:, None]
    wd = 0.1

    def objective(t):                   # written out independently of deepbio
        z = X @ t[:2] + t[2]
        return np.mean(np.logaddexp(0, z) - y[:, 0] * z) + 0.5 * wd * t @ t

    t_star = scipy_minimize(objective, np.zeros(3), method="BFGS", tol=1e-12).x
    net = _linear_net(d=2, loss="sigmoid_cross_entropy")
    SGD(learning_rate=0.5, momentum=0.9, weight_decay=wd, batch_size=80, max_epochs=400,
        random_state=0).minimize(net, X, y)
    assert_close(_np(net.theta), t_star, 1e-5, floor=1.0)


# ----------------------------------------------------------------- schedules


def test_schedules_give_the_documented_rates(be):
    X, y = _regression(n=8)
    cases = {
        "constant": lambda e: 0.1,
        "inverse_scaling": lambda e: 0.1 / (1 + 0.1 * e),
        "step": lambda e: 0.1 * 0.5 ** (e // 10),
        "cosine": lambda e: 0.1 * (1 + math.cos(math.pi * e / 25)) / 2,
    }
    for name, want in cases.items():
        hist = SGD(0.1, schedule=name, max_epochs=25, batch_size=8,
                   random_state=0).minimize(_linear_net(), X, y)
        assert len(hist) == 25
        for h in hist:
            assert math.isclose(h["lr"], want(h["epoch"]), rel_tol=1e-12), (name, h)
    hist = SGD(0.1, schedule=lambda e: 0.01 * (e + 1), max_epochs=4,
               random_state=0).minimize(_linear_net(), X, y)
    assert [h["lr"] for h in hist] == [0.01, 0.02, 0.03, 0.04]
    hist = SGD(0.2, schedule=StepDecay(step_size=2, factor=0.1), max_epochs=5,
               random_state=0).minimize(_linear_net(), X, y)
    assert_close(np.array([h["lr"] for h in hist]), 0.2 * np.array([1, 1, .1, .1, .01]), 1e-12)


def test_schedule_objects():
    assert get_schedule("cosine") == Cosine()
    assert Constant()(7, 0.3, 10) == 0.3
    assert InverseScaling(decay=1.0)(3, 1.0, 10) == 0.25
    assert Cosine(min_lr=0.01)(10, 0.1, 10) == pytest.approx(0.01)
    assert Cosine()(5, 0.1, 10) == pytest.approx(0.05)
    with pytest.raises(ValueError, match="step_size"):
        StepDecay(step_size=0)
    with pytest.raises(ValueError, match="factor"):
        StepDecay(factor=1.5)
    with pytest.raises(ValueError, match="schedule must be one of"):
        get_schedule("linear_warmup")
    with pytest.raises(ValueError, match="finite learning rate"):
        get_schedule(lambda e: -1.0)(0, 0.1, 10)


def test_the_lr_schedule_is_what_the_steps_use(be):
    """With momentum 0 and the step schedule, epoch e moves theta by lr(e) * gradient."""
    X, y = _regression(n=4)
    net = _linear_net()
    seen = []
    opt = SGD(1e-2, momentum=0.0, schedule=StepDecay(1, 0.5), batch_size=4, max_epochs=3)

    def callback(entry):
        seen.append(_np(net.get_flat()).copy())

    theta = _np(net.get_flat()).copy()
    ref = _linear_net()
    opt.minimize(net, X, y, callback=callback)
    for e, after in enumerate(seen):
        ref.set_flat(theta)
        _, g = ref.loss_and_grad(X, y)
        theta = theta - 1e-2 * 0.5 ** e * _np(g)
        assert_close(after, theta, 1e-12)


def test_step_uses_the_rate_of_the_current_epoch(be):
    """A fresh SGD steps at the epoch-0 rate; after minimize, step continues at the rate
    of the last epoch; reset() goes back to the epoch-0 rate."""
    X, y = _regression(n=4)

    def moved(opt, net):
        before = _np(net.get_flat()).copy()
        _, g = net.loss_and_grad(X, y)
        opt.step(net, X, y)
        return (before - _np(net.get_flat())) / _np(g)     # the rate used, per weight

    opt = SGD(0.1, momentum=0.0, schedule=StepDecay(1, 0.5), batch_size=4, max_epochs=3)
    assert_close(moved(opt, _linear_net()), np.full(4, 0.1), 1e-12)
    opt = SGD(0.1, momentum=0.0, schedule=StepDecay(1, 0.5), batch_size=4, max_epochs=3)
    net = _linear_net()
    hist = opt.minimize(net, X, y)
    assert hist[-1]["lr"] == pytest.approx(0.025)
    assert_close(moved(opt, net), np.full(4, 0.025), 1e-12)
    opt.reset()
    assert_close(moved(opt, net), np.full(4, 0.1), 1e-12)


# -------------------------------------------------------------- early stopping


def test_early_stopping_restores_the_best_parameters_and_stops(be):
    X, y = _regression(noise=0.1)
    X_val, y_val = X[:20], -y[:20]            # validation disagrees with training
    net = _linear_net(seed=3)
    best_thetas = []

    def callback(entry):
        best_thetas.append(_np(net.get_flat()).copy())

    opt = SGD(0.01, momentum=0.9, batch_size=16, max_epochs=200, early_stopping=True,
              patience=4, tol=0.0, random_state=0)
    hist = opt.minimize(net, X, y, X_val, y_val, callback=callback)
    vals = [h["val_loss"] for h in hist]
    best = int(np.argmin(vals))
    assert len(hist) < 200                       # it stopped
    assert len(hist) == best + 1 + 4             # patience epochs after the best
    assert_close(_np(net.theta), best_thetas[best], 0)
    assert net.loss(X_val, y_val) == min(vals)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_early_stopping_restores_the_best_parameters_when_training_diverges(be):
    """Three good epochs, then a huge rate: the FloatingPointError comes after the best
    weights (epoch 2) are back in network.theta, and its message says so."""
    X, y = _regression()
    net = _linear_net()
    seen = {}

    def callback(entry):
        seen[entry["epoch"]] = _np(net.get_flat()).copy()

    opt = SGD(0.01, momentum=0.0, schedule=lambda e: 0.05 if e < 3 else 1e3, batch_size=16,
              max_epochs=50, early_stopping=True, patience=100, random_state=0)
    with pytest.raises(FloatingPointError, match=r"^SGD: the training loss became (inf|nan) "
                       r"in epoch \d+; lower learning_rate or set clip_norm; the parameters "
                       r"of epoch 2 \(the lowest val_loss, [0-9.e+-]+\) were restored$"):
        opt.minimize(net, X, y, X[:16], y[:16], callback=callback)
    assert_close(_np(net.theta), seen[2], 0)
    # without early stopping there is nothing to restore, and the message says nothing
    with pytest.raises(FloatingPointError, match=r"set clip_norm$"):
        SGD(1e3, momentum=0.0, batch_size=16, max_epochs=50, random_state=0).minimize(
            _linear_net(), X, y)


def test_early_stopping_on_a_split_validation_fraction(be):
    X, y = _regression(n=50, noise=0.2)
    net = _linear_net()
    hist = SGD(0.05, early_stopping=True, validation_fraction=0.2, patience=3, max_epochs=500,
               batch_size=10, random_state=0).minimize(net, X, y)
    assert all(h["val_loss"] is not None for h in hist)
    assert len(hist) < 500
    with pytest.raises(ValueError, match="validation_fraction"):
        SGD(early_stopping=True, validation_fraction=0.5).minimize(_linear_net(), X[:1], y[:1])


def test_tol_counts_small_improvements_as_none(be):
    X, y = _regression(noise=0.1)
    kw = dict(learning_rate=0.01, momentum=0.0, early_stopping=True, patience=2,
              max_epochs=300, batch_size=64, random_state=0)
    strict = SGD(tol=0.0, **kw).minimize(_linear_net(), X, y, X[:10], y[:10])
    loose = SGD(tol=1e-2, **kw).minimize(_linear_net(), X, y, X[:10], y[:10])
    assert len(loose) < len(strict)


# ------------------------------------------------------------ history & API


def test_history_callback_and_metric(be):
    X, y = _regression(n=40)

    def metric(network, Xv, yv):
        return -float(np.mean((_np(network.predict(Xv)) - _np(yv)) ** 2))

    hist = SGD(0.05, max_epochs=10, random_state=0).minimize(
        _linear_net(), X, y, X[:10], y[:10], callback=lambda h: h["epoch"] == 2,
        metric=metric)
    assert len(hist) == 3
    for i, h in enumerate(hist):
        assert set(h) == {"epoch", "loss", "val_loss", "val_metric", "lr", "time"}
        assert h["epoch"] == i and h["lr"] == 0.05
        assert math.isclose(h["val_metric"], -2 * h["val_loss"], rel_tol=1e-10)
    assert hist[0]["time"] <= hist[1]["time"] <= hist[2]["time"]
    hist = SGD(0.05, max_epochs=2, random_state=0).minimize(_linear_net(), X, y)
    assert hist[0]["val_loss"] is None and "val_metric" not in hist[0]


def test_epoch_loss_is_the_mean_minibatch_loss(be):
    X, y = _regression(n=10)
    net = _linear_net()
    losses = []
    opt = SGD(1e-12, momentum=0.0, batch_size=4, max_epochs=1, random_state=0)
    orig = opt._step          # the epoch's steps: losses stay on the device until summed

    def spy(network, Xb, yb):
        value = orig(network, Xb, yb)
        losses.append((float(value), Xb.shape[0]))
        return value

    opt._step = spy
    hist = opt.minimize(net, X, y)
    assert [n for _, n in losses] == [4, 4, 2]
    assert math.isclose(hist[0]["loss"], sum(v * n for v, n in losses) / 10, rel_tol=1e-12)


def test_reproducible_and_reset(be):
    X, y = _regression(noise=0.3)
    a, b = _mlp(), _mlp()
    ha = SGD(0.05, max_epochs=5, batch_size=8, random_state=42).minimize(a, X, y)
    hb = SGD(0.05, max_epochs=5, batch_size=8, random_state=42).minimize(b, X, y)
    assert [h["loss"] for h in ha] == [h["loss"] for h in hb]
    assert np.array_equal(_np(a.theta), _np(b.theta))
    opt = SGD(0.05, max_epochs=1, random_state=0)
    opt.minimize(_mlp(), X, y)
    assert opt._velocity is not None
    opt.reset()
    assert opt._velocity is None and opt._rng is None


def test_unbuilt_network_is_built_from_X(be):
    X, y = _regression()
    net = Network([Dense(4, "relu"), Dense(1)], "squared_error", dtype="float64")
    SGD(0.01, max_epochs=1, random_state=0).minimize(net, X, y)
    assert net.built and net.input_shape == (3,)


def test_verbose_output(be, capsys):
    X, y = _regression(n=8)
    SGD(0.01, max_epochs=2, verbose=0, random_state=0).minimize(_linear_net(), X, y)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
    SGD(0.01, max_epochs=2, verbose=1, random_state=0).minimize(_linear_net(), X, y)
    err = capsys.readouterr().err          # not a terminal: one line per epoch
    assert err.count("epoch") == 2 and "loss=" in err


@pytest.mark.parametrize("where", ["X", "y", "X_val", "y_val"])
@pytest.mark.parametrize("bad, word", [(np.nan, "NaN"), (np.inf, "infinity")])
def test_nan_or_inf_in_the_data_is_named(be, where, bad, word):
    """Bad data is a ValueError naming the argument and the first bad position, before
    any step (not a FloatingPointError advising a lower learning rate)."""
    X, y = _regression()
    data = {"X": X.copy(), "y": y.copy(), "X_val": X[:10].copy(), "y_val": y[:10].copy()}
    col = 2 if where.startswith("X") else 0
    data[where][5, col] = bad
    net = _linear_net()
    theta = _np(net.get_flat()).copy()
    with pytest.raises(ValueError, match=rf"^{where} contains {word} \(first at "
                                         rf"{where}\[5, {col}\]\)"):
        SGD(max_epochs=2, random_state=0).minimize(net, data["X"], data["y"], data["X_val"],
                                                   data["y_val"])
    assert_close(_np(net.theta), theta, 0)


def test_data_of_different_lengths_or_kinds_are_refused(be):
    X, y = _regression()
    with pytest.raises(ValueError, match="X and y must have the same number of samples"):
        SGD(max_epochs=1).minimize(_linear_net(), X, y[:10])
    with pytest.raises(ValueError, match="X_val and y_val must have the same number"):
        SGD(max_epochs=1).minimize(_linear_net(), X, y, X[:10], y[:5])
    with pytest.raises(ValueError, match="give both X_val and y_val, or neither"):
        SGD(max_epochs=1).minimize(_linear_net(), X, y, X_val=X[:10])
    with pytest.raises(ValueError, match="^X could not be converted"):
        SGD(max_epochs=1).minimize(_linear_net(), [[1.0, "a", 2.0]], y[:1])
    net = Network([Dense(1)], "squared_error", dtype="float64")    # unbuilt, from lists
    SGD(max_epochs=1, random_state=0).minimize(net, X.tolist(), y.tolist())
    assert net.built and net.input_shape == (3,)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_diverging_training_raises(be):
    X, y = _regression()
    with pytest.raises(FloatingPointError, match="learning_rate"):
        SGD(learning_rate=1e6, momentum=0.9, max_epochs=50, random_state=0).minimize(
            _mlp(), X, y * 1e3)


@pytest.mark.parametrize("name, value", [
    ("learning_rate", 0.0), ("learning_rate", -1), ("momentum", 1.0), ("momentum", -0.1),
    ("nesterov", "yes"), ("weight_decay", -1e-3), ("schedule", "warmup"),
    ("clip_norm", 0.0), ("batch_size", 0), ("batch_size", 2.5), ("max_epochs", 0),
    ("early_stopping", 1), ("validation_fraction", 1.0), ("patience", 0), ("tol", -1.0),
    ("verbose", -1), ("random_state", "seed"),
])
def test_hyper_parameters_are_validated_on_use(name, value):
    opt = SGD(**{name: value})                   # the constructor only stores
    assert getattr(opt, name) == value
    X, y = _regression(n=4)
    with pytest.raises(ValueError, match=f"'{name}' parameter of SGD"):
        opt.minimize(_linear_net(), X, y)
    with pytest.raises(ValueError, match=f"'{name}' parameter of SGD"):
        SGD(**{name: value}).step(_linear_net(), X, y)


def test_params_api():
    opt = SGD(learning_rate=0.3, nesterov=True)
    params = opt.get_params()
    assert params["learning_rate"] == 0.3 and params["nesterov"] is True
    assert len(params) == 15 and params["comm"] is None    # comm: docs/distributed.md
    assert opt.set_params(momentum=0.5) is opt and opt.momentum == 0.5
    with pytest.raises(ValueError, match="invalid parameter 'lr'"):
        opt.set_params(lr=0.1)
    assert repr(opt) == "SGD(learning_rate=0.3, momentum=0.5, nesterov=True)"
    assert isinstance(opt, Optimizer)
    with pytest.raises(NotImplementedError):
        Optimizer().step(None, None, None)


@pytest.mark.parametrize("name", deepbio.backends())
def test_minibatches_cover_every_sample_once_and_live_on_the_backend(name):
    from deepbio.optim._base import minibatches
    be = deepbio.backend.get(name)
    host = minibatches(23, 5, np.random.default_rng(3))
    moved = minibatches(23, 5, np.random.default_rng(3), be)
    assert [len(b) for b in host] == [5, 5, 5, 5, 3]
    assert all(isinstance(b, np.ndarray) for b in host)
    assert all(isinstance(b, be.array_type) for b in moved)
    np.testing.assert_array_equal(np.sort(np.concatenate(host)), np.arange(23))
    for h, m in zip(host, moved):                 # the same order, wherever it lives
        np.testing.assert_array_equal(be.to_numpy(m), h)
    np.testing.assert_array_equal(np.concatenate(minibatches(7, 10)), np.arange(7))


def _count_host_reads(be, monkeypatch):
    """Count every named host read of the backend (scalar, truth, all_finite, to_numpy)."""
    reads = []
    for name in ("scalar", "truth", "all_finite", "to_numpy"):
        method = getattr(be, name)
        monkeypatch.setattr(be, name, lambda x, _m=method, _n=name: reads.append(_n) or _m(x))
    return reads


@pytest.mark.parametrize("case", ["mlp", "sparse_autoencoder", "tagger", "tagger_unpadded",
                                  "sequence_cnn"])
def test_an_epoch_reads_the_host_once(be, monkeypatch, case):
    """Minibatch losses (data loss + penalties) stay on the device and are summed there,
    and the masks of sequence batches are trusted once their whole inputs were checked
    (``Network.inputs_checked``): an epoch of 5 SGD steps reads one value back (its mean
    loss), where each step used to read its loss, its penalties, the masked loss's count
    of real positions and 2-5 mask checks."""
    from deepbio.nn import (ChannelsFirst, Conv1D, GlobalMaxPool1D, KLSparsity, LSTM,
                            MaxPool1D, SequenceMask, TimeDistributedDense)
    rng = np.random.default_rng(0)
    if case == "mlp":
        X = rng.standard_normal((20, 4))
        y = np.eye(3)[rng.integers(0, 3, 20)]
        net = Network([Dense(5, "tanh"), Dense(3)], "softmax_cross_entropy", "float64")
    elif case == "sparse_autoencoder":
        X = rng.random((20, 4))
        y = X.copy()
        net = Network([Dense(5, "sigmoid"), KLSparsity(0.1, 2.0), Dense(4)],
                      "squared_error", "float64")
    elif case.startswith("tagger"):
        lengths = rng.integers(2, 6, 20) if case == "tagger" else np.full(20, 5)
        mask = (np.arange(5)[None, :] < lengths[:, None]).astype(float)
        X = np.concatenate([rng.standard_normal((20, 5, 2)), mask[:, :, None]], axis=2)
        y = np.eye(3)[rng.integers(0, 3, (20, 5))] * mask[:, :, None]
        net = Network([SequenceMask(), LSTM(4, return_sequences=True),
                       TimeDistributedDense(3)], "masked_softmax_cross_entropy", "float64")
    else:
        lengths = rng.integers(6, 13, 20)
        mask = (np.arange(12)[None, :] < lengths[:, None]).astype(float)
        X = np.concatenate([rng.standard_normal((20, 12, 4)) * mask[:, :, None],
                            mask[:, :, None]], axis=2)
        y = np.eye(2)[rng.integers(0, 2, 20)]
        net = Network([SequenceMask(), ChannelsFirst(), Conv1D(3, 3, activation="relu"),
                       MaxPool1D(2), GlobalMaxPool1D(), Dense(2)], "softmax_cross_entropy",
                      "float64")
    net.build(X.shape[1:], 0)
    opt = SGD(0.1, batch_size=4, max_epochs=1, random_state=0)
    Xb, yb = be.asarray(X), be.asarray(y)
    reads = _count_host_reads(be, monkeypatch)
    with net.inputs_checked(Xb), net.targets_checked(yb):
        before = len(reads)                  # the whole masks and targets: checked here
        entry = opt._run_epoch(net, Xb, yb, 0)
        assert reads[before:] == ["scalar"]
    if case != "mlp" and case != "sparse_autoencoder":
        assert reads[:before].count("truth") >= 2       # the mask checks, once
    monkeypatch.undo()
    # the value read is the mean of the minibatch losses computed one by one
    opt2 = SGD(0.1, batch_size=4, max_epochs=1, random_state=0)
    net2 = Network.from_config(net.get_config()).build(X.shape[1:], 0)
    order = np.random.default_rng(0).permutation(20)
    want = sum(opt2.step(net2, Xb[be.asarray(order[i:i + 4])], yb[be.asarray(order[i:i + 4])])
               * 4 for i in range(0, 20, 4)) / 20
    assert math.isclose(entry["loss"], want, rel_tol=1e-12)
