"""Adam, AdamW and RMSprop: update trajectories against torch.optim over 100 steps on the
same gradients, the shared loop (schedules, clipping, weight decay, early stopping),
parameters, estimators with optimizer="adam" on held-out data."""
import numpy as np
import pytest

from deepbio.nn import Dense, Network
from deepbio.optim import SGD, Adam, AdamW, RMSprop
from deepbio.testing import assert_close

P = 37          # parameters of the scripted problem
STEPS = 100

#: (deepbio optimiser, torch class name, torch keyword arguments) for the same update.
CASES = {
    "adam": (lambda: Adam(learning_rate=0.01), "Adam", dict(lr=0.01)),
    "adam-l2": (lambda: Adam(learning_rate=0.01, weight_decay=0.1), "Adam",
                dict(lr=0.01, weight_decay=0.1)),
    "adam-amsgrad": (lambda: Adam(learning_rate=0.01, beta1=0.8, beta2=0.99, eps=1e-6,
                                  amsgrad=True),
                     "Adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, amsgrad=True)),
    "adamw": (lambda: AdamW(learning_rate=0.01, weight_decay=0.1), "AdamW",
              dict(lr=0.01, weight_decay=0.1)),
    "adam-decoupled": (lambda: Adam(learning_rate=0.01, weight_decay=0.05, decoupled=True),
                       "AdamW", dict(lr=0.01, weight_decay=0.05)),
    "adamw-amsgrad": (lambda: AdamW(learning_rate=0.02, amsgrad=True), "AdamW",
                      dict(lr=0.02, amsgrad=True)),
    "rmsprop": (lambda: RMSprop(learning_rate=0.01), "RMSprop", dict(lr=0.01)),
    "rmsprop-momentum": (lambda: RMSprop(learning_rate=0.005, momentum=0.9, alpha=0.9),
                         "RMSprop", dict(lr=0.005, momentum=0.9, alpha=0.9)),
    "rmsprop-centered": (lambda: RMSprop(learning_rate=0.005, centered=True,
                                         weight_decay=0.01),
                         "RMSprop", dict(lr=0.005, centered=True, weight_decay=0.01)),
    "rmsprop-centered-momentum": (lambda: RMSprop(learning_rate=0.005, centered=True,
                                                  momentum=0.5, eps=1e-5),
                                  "RMSprop", dict(lr=0.005, centered=True, momentum=0.5,
                                                  eps=1e-5)),
    "sgd-nesterov": (lambda: SGD(learning_rate=0.01, momentum=0.9, nesterov=True,
                                 weight_decay=0.01),
                     "SGD", dict(lr=0.01, momentum=0.9, nesterov=True, weight_decay=0.01)),
}


def _gradient_sequence(dtype, seed=0):
    """``grad_t(theta) = A theta + noise_t``: a gradient that depends on where the
    optimiser is (so a wrong step shows up in every later one) plus fresh noise."""
    rng = np.random.default_rng(seed)
    Q = rng.normal(size=(P, P)) / np.sqrt(P)
    A = (Q @ Q.T + 0.1 * np.eye(P)).astype(dtype)
    noise = (rng.normal(size=(STEPS, P)) * np.geomspace(1e-3, 10, P)).astype(dtype)
    theta0 = rng.normal(size=P).astype(dtype)
    return A, noise, theta0


class ScriptedNetwork:
    """A duck-typed network whose gradient is the scripted one: ``theta``, ``dtype`` and
    ``loss_and_grad`` are all an optimiser's ``step`` uses."""

    def __init__(self, A, noise, theta0, xp):
        self.A, self.noise, self.xp, self.t = xp.asarray(A), xp.asarray(noise), xp, 0
        self.theta = xp.asarray(theta0).copy()
        self.dtype = theta0.dtype

    def loss_and_grad(self, X, y, train=True, sync=True):
        g = self.A @ self.theta + self.noise[self.t]
        self.t += 1
        return self.xp.sum(self.theta * self.theta), g


def _torch_trajectory(torch, cls, kwargs, A, noise, theta0):
    p = torch.nn.Parameter(torch.from_numpy(theta0.copy()))
    opt = getattr(torch.optim, cls)([p], foreach=False, **kwargs)
    At, nt = torch.from_numpy(A), torch.from_numpy(noise)
    out = []
    for t in range(STEPS):
        with torch.no_grad():
            p.grad = At @ p + nt[t]
        opt.step()
        out.append(p.detach().numpy().copy())
    return np.array(out)


@pytest.mark.parametrize("case", sorted(CASES))
def test_trajectory_matches_torch(be, dtype, torch, case):
    make, cls, kwargs = CASES[case]
    A, noise, theta0 = _gradient_sequence(dtype)
    want = _torch_trajectory(torch, cls, kwargs, A, noise, theta0)
    net = ScriptedNetwork(A, noise, theta0, be.xp)
    opt = make()
    got = []
    for _ in range(STEPS):
        opt.step(net, None, None)
        got.append(be.to_numpy(net.theta).copy())
    got = np.array(got)
    assert got.dtype == dtype
    # rounding differs (the order of a few float operations, float64 bias corrections)
    # and is carried from step to step: at most a few float32 ulps of the parameter scale
    rtol = 1e-10 if dtype == np.float64 else 2e-5
    assert_close(got, want, rtol, floor=float(np.abs(want).max()), name=case)
    assert not np.allclose(want[-1], theta0), "the scripted problem did not move"


def test_clipping_matches_torch_clip_grad_norm(be, torch):
    """``clip_norm`` rescales the gradient to that global norm before the moments, as
    torch.nn.utils.clip_grad_norm_ before the step.  (torch divides by ``norm + 1e-6``,
    deepbio, as its SGD always did, by ``norm``: the torch side here uses deepbio's factor
    ``min(1, c / ||g||)``.)"""
    A, noise, theta0 = _gradient_sequence(np.float64, seed=1)
    p = torch.nn.Parameter(torch.from_numpy(theta0.copy()))
    topt = torch.optim.Adam([p], lr=0.01, foreach=False)
    net, opt = ScriptedNetwork(A, noise, theta0, be.xp), Adam(learning_rate=0.01,
                                                              clip_norm=0.5)
    for t in range(STEPS):
        with torch.no_grad():
            p.grad = torch.from_numpy(A) @ p + torch.from_numpy(noise[t])
            p.grad *= min(1.0, 0.5 / float(torch.linalg.vector_norm(p.grad)))
        topt.step()
        opt.step(net, None, None)
    assert_close(be.to_numpy(net.theta), p.detach().numpy(), 1e-10, floor=1.0, name="theta")


def test_amsgrad_keeps_the_maximum_and_reset_forgets(be):
    A, noise, theta0 = _gradient_sequence(np.float64)
    opt, net = Adam(amsgrad=True), ScriptedNetwork(A, noise, theta0, be.xp)
    for _ in range(5):
        opt.step(net, None, None)
    st = {k: be.to_numpy(v) for k, v in opt._state.items()}
    assert set(st) == {"m", "v", "vmax"} and np.all(st["vmax"] >= st["v"])
    assert opt._t == 5
    opt.reset()
    assert opt._state is None and opt._t == 0


def _regression(n=64, d=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    return X, X @ rng.normal(size=(d, 1)) + 0.7


@pytest.mark.parametrize("make", [lambda: Adam(learning_rate=0.05),
                                  lambda: AdamW(learning_rate=0.05, weight_decay=0.0),
                                  lambda: RMSprop(learning_rate=0.01)],
                         ids=["adam", "adamw", "rmsprop"])
def test_minimize_converges_on_least_squares(be, make):
    X, y = _regression()
    net = Network([Dense(1)], "squared_error", dtype="float64").build(3, random_state=0)
    opt = make().set_params(max_epochs=150, batch_size=16, random_state=0)
    history = opt.minimize(net, X, y)
    assert history[-1]["loss"] < 1e-3 * history[0]["loss"]
    assert [h["epoch"] for h in history] == list(range(150))


def test_schedule_and_early_stopping_are_the_shared_loop(be):
    X, y = _regression(n=80)
    net = Network([Dense(4, "tanh"), Dense(1)], "squared_error",
                  dtype="float64").build(3, random_state=0)
    opt = Adam(learning_rate=0.02, schedule="step", max_epochs=300, early_stopping=True,
               patience=3, tol=0.0, random_state=0)
    history = opt.minimize(net, X, y)
    assert [h["lr"] for h in history[:11]] == [0.02] * 10 + [0.01]
    assert len(history) < 300                      # stopped early
    best = min(h["val_loss"] for h in history)
    # the best parameters are restored: the validation loss of the final network is it
    assert all(h["val_loss"] is not None for h in history)
    assert best <= history[-1]["val_loss"]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_diverging_rmsprop_raises_floating_point_error(be):
    X, y = _regression()
    net = Network([Dense(1)], "squared_error", dtype="float64").build(3, random_state=0)
    opt = RMSprop(learning_rate=1e300, max_epochs=5, random_state=0)
    with pytest.raises(FloatingPointError, match="RMSprop"):
        opt.minimize(net, X, y * 1e300)


@pytest.mark.parametrize("cls,name,value,words", [
    (Adam, "beta1", 1.0, "beta1"), (Adam, "beta2", -0.1, "beta2"), (Adam, "eps", -1, "eps"),
    (Adam, "amsgrad", "yes", "amsgrad"), (AdamW, "learning_rate", 0, "learning_rate"),
    (RMSprop, "alpha", 1.5, "alpha"), (RMSprop, "momentum", 1.0, "momentum"),
    (RMSprop, "centered", 1, "centered"), (RMSprop, "clip_norm", 0.0, "clip_norm")])
def test_bad_hyper_parameters_name_themselves(be, cls, name, value, words):
    X, y = _regression(n=8)
    net = Network([Dense(1)], "squared_error", dtype="float64").build(3, random_state=0)
    with pytest.raises((ValueError, TypeError), match=words):
        cls(**{name: value}).minimize(net, X, y)


def test_params_repr_and_adamw_is_decoupled():
    opt = AdamW()
    assert opt.decoupled is True and opt.weight_decay == 0.01
    assert "decoupled" not in opt.get_params()
    assert repr(Adam(beta2=0.99)) == "Adam(beta2=0.99)"
    assert AdamW(**AdamW(learning_rate=0.1).get_params()).learning_rate == 0.1
    with pytest.raises(ValueError, match="decoupled"):
        opt.decoupled = False
    assert RMSprop().set_params(centered=True).centered is True


# ------------------------------------------------------------------ estimators


def _digits():
    from deepbio import datasets
    X, y = datasets.load_digits(return_X_y=True)
    X = np.asarray(X, dtype=np.float64) / 16.0
    return datasets.train_test_split(X, np.asarray(y), test_size=0.25, stratify=y,
                                     random_state=0)


@pytest.mark.parametrize("name", ["adam", "adamw", "rmsprop"])
def test_mlp_classifier_with_optimizer_name_on_held_out_digits(name):
    from deepbio.models import MLPClassifier
    X_tr, X_te, y_tr, y_te = _digits()
    clf = MLPClassifier(hidden_layer_sizes=(64,), optimizer=name, max_iter=15,
                        batch_size=32, random_state=0).fit(X_tr, y_tr)
    opt = clf._optimizer
    assert type(opt).__name__.lower() == name
    # left at the estimator's (SGD) default, the learning rate is the optimiser's own
    assert opt.learning_rate == {"adam": 1e-3, "adamw": 1e-3, "rmsprop": 1e-2}[name]
    assert clf.score(X_te, y_te) >= 0.95


def test_estimator_passes_its_shared_settings_and_an_optimizer_object():
    from deepbio.models import MLPClassifier
    from deepbio.models._training import make_optimizer
    est = MLPClassifier(optimizer="adam", learning_rate=0.003, weight_decay=1e-4,
                        clip_norm=2.0, schedule="cosine", batch_size=50, max_iter=7)
    opt = make_optimizer(est, 0)
    assert isinstance(opt, Adam) and not opt.decoupled
    assert (opt.learning_rate, opt.weight_decay, opt.clip_norm, opt.schedule,
            opt.batch_size, opt.max_epochs) == (0.003, 1e-4, 2.0, "cosine", 50, 7)
    assert make_optimizer(MLPClassifier(optimizer="adamw"), 0).weight_decay == 0.01
    user = RMSprop(centered=True, momentum=0.5)
    got = make_optimizer(MLPClassifier(optimizer=user), 3, max_epochs=1)
    assert got is not user and got.centered and got.max_epochs == 1 and got.random_state == 3
    with pytest.raises(ValueError, match="adam"):
        MLPClassifier(optimizer="nadam").fit(np.zeros((4, 2)), [0, 1, 0, 1])


def test_fitted_adam_model_round_trips_through_save(tmp_path):
    from deepbio.models import MLPClassifier, load
    X_tr, X_te, y_tr, _ = _digits()
    clf = MLPClassifier(hidden_layer_sizes=(16,), optimizer=AdamW(learning_rate=0.01),
                        max_iter=2, random_state=0).fit(X_tr[:200], y_tr[:200])
    clf.save(tmp_path / "m.deepbio")
    again = load(tmp_path / "m.deepbio")
    assert isinstance(again.optimizer, AdamW) and again.optimizer.learning_rate == 0.01
    np.testing.assert_array_equal(again.predict_proba(X_te), clf.predict_proba(X_te))


def test_lstm_classifier_with_adam_remembers_over_twenty_steps():
    """The long-range task (label = the first of 21 symbols) on held-out sequences."""
    from deepbio.datasets import make_long_range_sequences
    from deepbio.models import RNNClassifier
    X, y = make_long_range_sequences(n=600, length=21, random_state=0)
    Xt, yt = make_long_range_sequences(n=400, length=21, random_state=1)
    clf = RNNClassifier(cell="lstm", units=32, optimizer="adam", learning_rate=0.005,
                        max_iter=10, batch_size=32, random_state=0).fit(X, y)
    assert isinstance(clf._optimizer, Adam) and clf._optimizer.learning_rate == 0.005
    assert clf.score(Xt, yt) >= 0.95
