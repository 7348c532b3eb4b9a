"""The estimator contract, for every model class: parameters, validation of
hyper-parameters and of data at the public boundary, determinism, history, backends."""
import inspect
import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import scipy.sparse

import deepbio
from deepbio import (DBN, RBM, AutoEncoder, DBNClassifier, DBNRegressor, MLPClassifier,
                     MLPRegressor, StackedAutoEncoder, StackedAutoEncoderClassifier,
                     StackedAutoEncoderRegressor)
from deepbio._validation import NotFittedError

# small, fast configurations of every estimator
FAST = {
    RBM: dict(n_components=6, n_iter=2, batch_size=16),
    DBN: dict(hidden_layer_sizes=(8, 4), n_iter=2, batch_size=16),
    AutoEncoder: dict(n_components=4, max_iter=2),
    StackedAutoEncoder: dict(hidden_layer_sizes=(6, 3), max_iter=2),
    DBNClassifier: dict(hidden_layer_sizes=(8,), pretrain_epochs=2, max_iter=3),
    DBNRegressor: dict(hidden_layer_sizes=(8,), pretrain_epochs=2, max_iter=3),
    StackedAutoEncoderClassifier: dict(hidden_layer_sizes=(8,), pretrain_epochs=2,
                                       max_iter=3),
    StackedAutoEncoderRegressor: dict(hidden_layer_sizes=(8,), pretrain_epochs=2,
                                      max_iter=3),
    MLPClassifier: dict(hidden_layer_sizes=(8,), max_iter=3),
    MLPRegressor: dict(hidden_layer_sizes=(8,), max_iter=3),
}
CLASSIFIERS = [DBNClassifier, StackedAutoEncoderClassifier, MLPClassifier]
REGRESSORS = [DBNRegressor, StackedAutoEncoderRegressor, MLPRegressor]
SUPERVISED = CLASSIFIERS + REGRESSORS
TRANSFORMERS = [RBM, DBN, AutoEncoder, StackedAutoEncoder]
ALL = TRANSFORMERS + SUPERVISED
ids = [c.__name__ for c in ALL]


def make(cls, **kw):
    return cls(**{**FAST[cls], "random_state": 0, **kw})


def fit(est, X, y):
    return est.fit(X, y) if type(est) in SUPERVISED else est.fit(X)


def targets(cls, y):
    return y.astype(float) if cls in REGRESSORS else y


# ------------------------------------------------------------------- parameters


@pytest.mark.parametrize("cls", ALL, ids=ids)
def test_get_set_params_and_repr(cls):
    est = cls()
    params = est.get_params()
    sig = inspect.signature(cls.__init__)
    assert set(params) == set(sig.parameters) - {"self"}
    for name, p in sig.parameters.items():
        if name != "self":
            assert params[name] == p.default
    assert repr(est) == f"{cls.__name__}()"
    assert est.set_params(random_state=3) is est
    assert est.get_params()["random_state"] == 3
    assert "random_state=3" in repr(est)
    with pytest.raises(ValueError, match="Invalid parameter 'bogus'"):
        est.set_params(bogus=1)


def test_get_params_deep_reaches_nested_estimators():
    from deepbio.models._base import BaseEstimator

    class Wrapper(BaseEstimator):
        def __init__(self, inner=None, alpha=1.0):
            self.inner = inner
            self.alpha = alpha

    w = Wrapper(inner=RBM(n_components=3))
    deep = w.get_params(deep=True)
    assert deep["inner__n_components"] == 3 and deep["alpha"] == 1.0
    assert "inner__n_components" not in w.get_params(deep=False)
    w.set_params(inner__n_components=7, alpha=2.0)
    assert w.inner.n_components == 7 and w.alpha == 2.0


@pytest.mark.parametrize("cls", ALL, ids=ids)
def test_hyper_parameters_are_validated_on_fit(cls, small_binary):
    X, y = small_binary
    bad = {"random_state": "seed", "verbose": -1, "dtype": "int8"}
    if "batch_size" in cls().get_params():
        bad["batch_size"] = 0
    if "learning_rate" in cls().get_params():
        bad["learning_rate"] = -0.5
    for name, value in bad.items():
        est = make(cls, **{name: value})
        with pytest.raises(ValueError, match=f"'{name}' parameter of {cls.__name__} must be"):
            fit(est, X, targets(cls, y))
    # the constructor itself never validates
    cls(**{k: v for k, v in bad.items()})


@pytest.mark.parametrize("cls", ALL, ids=ids)
def test_unusual_bad_hyper_parameters_get_clear_messages(cls, small_binary):
    X, y = small_binary
    with pytest.raises(ValueError, match=f"'dtype' parameter of {cls.__name__} must be "
                                         f"'float32' or 'float64'; got array"):
        fit(make(cls, dtype=np.array([3])), X, targets(cls, y))
    # "the range (0, inf)" does not contain infinity
    with pytest.raises(ValueError, match=rf"'learning_rate' parameter of {cls.__name__} must "
                                         rf"be a float in the range \(0, inf\).*; got inf"):
        fit(make(cls, learning_rate=float("inf")), X, targets(cls, y))


def test_constraint_messages_name_the_range(small_binary):
    X, _ = small_binary
    with pytest.raises(ValueError, match=r"'momentum' parameter of RBM must be a float in "
                                         r"the range \[0, 1\); got 1\.5"):
        RBM(momentum=1.5).fit(X)
    with pytest.raises(ValueError, match=r"'visible' parameter of RBM must be one of "
                                         r"'bernoulli', 'gaussian'"):
        RBM(visible="poisson").fit(X)
    with pytest.raises(ValueError, match="'hidden_layer_sizes' parameter of DBN"):
        DBN(hidden_layer_sizes=(4, 0)).fit(X)
    with pytest.raises(ValueError, match="sparsity_target needs activation='sigmoid'"):
        AutoEncoder(sparsity_target=0.1, activation="relu").fit(X)


# ------------------------------------------------------------------- bad data


@pytest.mark.parametrize("cls", ALL, ids=ids)
def test_bad_X_is_rejected_with_a_clear_message(cls, small_binary):
    X, y = small_binary
    y = targets(cls, y)
    X_nan = X.copy()
    X_nan[3, 2] = np.nan
    X_inf = X.copy()
    X_inf[5, 1] = np.inf
    cases = [
        (X_nan, "X contains NaN"),
        (X_inf, "X contains infinity"),
        (np.empty((0, 10)), "X is empty"),
        (np.array([["a", "b"], ["c", "d"]]), "X must contain real numbers"),
        (X[:, 0], "X must be a 2-d array"),
        (np.ones((2, 3, 4)), "X must be a 2-d array"),
        (scipy.sparse.csr_matrix(X), r"X is a scipy.sparse matrix; deepbio needs a dense "
                                     r"array: use X.toarray\(\)"),
    ]
    for bad, message in cases:
        with pytest.raises(ValueError, match=message):
            fit(make(cls), bad, y[:bad.shape[0]])
    # numbers given as strings are numeric data
    est = fit(make(cls), X.astype(str), y)
    assert est.n_features_in_ == 10


@pytest.mark.parametrize("cls", ALL, ids=ids)
def test_prediction_checks_fitted_and_n_features(cls, small_binary):
    X, y = small_binary
    est = make(cls)
    method = "predict" if cls in SUPERVISED else "transform"
    with pytest.raises(NotFittedError, match="not fitted yet"):
        getattr(est, method)(X)
    fit(est, X, targets(cls, y))
    with pytest.raises(ValueError, match=f"X has 9 features, but {cls.__name__} is "
                                         f"expecting 10 features as input"):
        getattr(est, method)(X[:, :9])
    X_nan = X.copy()
    X_nan[0, 0] = np.nan
    with pytest.raises(ValueError, match="X contains NaN"):
        getattr(est, method)(X_nan)
    with pytest.raises(ValueError, match=r"X is a scipy.sparse array; .* use X.toarray\(\)"):
        getattr(est, method)(scipy.sparse.csr_array(X))


def test_not_fitted_error_without_scikit_learn():
    """Without scikit-learn loaded, ``import deepbio`` does not load it and the plain
    NotFittedError (a ValueError and an AttributeError) is raised; likewise when
    scikit-learn cannot be imported."""
    code = textwrap.dedent("""
        import sys
        import deepbio
        from deepbio import MLPClassifier, _validation
        from deepbio._validation import NotFittedError
        assert "sklearn" not in sys.modules, "import deepbio imported scikit-learn"
        for blocked in (False, True):
            if blocked:
                sys.modules["sklearn"] = None          # as if not installed
            try:
                MLPClassifier().predict([[1.0]])
            except (ValueError, AttributeError) as e:
                assert type(e) is NotFittedError, type(e)
        assert not hasattr(_validation, "_SklearnNotFittedError")
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


@pytest.mark.parametrize("cls", SUPERVISED, ids=[c.__name__ for c in SUPERVISED])
def test_bad_y_is_rejected(cls, small_binary):
    X, y = small_binary
    y = targets(cls, y)
    with pytest.raises(ValueError, match="y has the wrong length: X has 120 samples but y "
                                         "has 119"):
        make(cls).fit(X, y[:-1])
    y_nan = y.astype(float)
    y_nan[4] = np.nan
    with pytest.raises(ValueError, match="y contains NaN"):
        make(cls).fit(X, y_nan)
    y_inf = y.astype(float)
    y_inf[4] = np.inf
    with pytest.raises(ValueError, match="y contains infinity"):
        make(cls).fit(X, y_inf)
    with pytest.raises(ValueError, match="y is required"):
        make(cls).fit(X, None)


@pytest.mark.parametrize("cls", SUPERVISED, ids=[c.__name__ for c in SUPERVISED])
def test_score_checks_y_and_sample_weight(cls, small_binary):
    X, y = small_binary
    y = targets(cls, y)
    est = make(cls).fit(X, y)
    with pytest.raises(ValueError, match="y has the wrong length: X has 120 samples but y "
                                         "has 119"):
        est.score(X, y[:-1])
    message = (r"y must be a 1-d array of labels, got shape \(120, 2\)" if cls in CLASSIFIERS
               else r"y has 2 output\(s\), but the model predicts 1")
    with pytest.raises(ValueError, match=message):
        est.score(X, np.column_stack([y, y]))
    nan = np.ones(120)
    nan[7] = np.nan
    for weight, message in [
            (np.ones(3), "sample_weight has the wrong length: X has 120 samples but "
                         "sample_weight has 3"),
            (np.ones((120, 1)), "sample_weight must be a 1-d array"),
            (nan, r"sample_weight contains NaN \(at index 7\)"),
            (np.r_[np.ones(119), -1.0], "sample_weight must be non-negative, got -1.0"),
            (np.zeros(120), "sample_weight sums to zero"),
            (["a"] * 120, "sample_weight must contain real numbers")]:
        with pytest.raises(ValueError, match=message):
            est.score(X, y, sample_weight=weight)
    half = np.r_[np.ones(60), np.zeros(60)]
    assert est.score(X, y, sample_weight=half) == pytest.approx(est.score(X[:60], y[:60]))


@pytest.mark.parametrize("cls", CLASSIFIERS, ids=[c.__name__ for c in CLASSIFIERS])
def test_classifier_labels(cls, small_binary):
    X, y = small_binary
    with pytest.raises(ValueError, match="y contains a single class"):
        make(cls).fit(X, np.zeros(len(X)))
    with pytest.raises(ValueError, match="continuous values"):
        make(cls).fit(X, np.linspace(0, 1, len(X)))
    labels = np.array(["benign", "malignant"])[y]
    clf = make(cls).fit(X, labels)
    assert clf.classes_.tolist() == ["benign", "malignant"]
    pred = clf.predict(X)
    assert pred.dtype == labels.dtype and set(pred) <= {"benign", "malignant"}
    proba = clf.predict_proba(X)
    assert proba.shape == (120, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    assert clf.score(X, labels) == np.mean(pred == labels)
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(proba), rtol=1e-5)
    # three classes, integer labels not starting at 0
    y3 = np.array([5, 7, 9])[np.arange(len(X)) % 3]
    clf3 = make(cls).fit(X, y3)
    assert clf3.classes_.tolist() == [5, 7, 9]
    assert clf3.predict_proba(X).shape == (120, 3)


@pytest.mark.parametrize("cls", REGRESSORS, ids=[c.__name__ for c in REGRESSORS])
def test_regressor_outputs_and_score(cls):
    rng = np.random.default_rng(0)
    X = rng.random((150, 5))
    y = 3 * X[:, 0] - 2 * X[:, 1] + 10
    reg = cls(**{**FAST[cls], "max_iter": 60, "random_state": 0}).fit(X, y)
    pred = reg.predict(X)
    assert pred.shape == (150,)
    assert reg.score(X, y) > 0.8
    Y2 = np.column_stack([y, -y])
    reg2 = make(cls).fit(X, Y2)
    assert reg2.predict(X).shape == (150, 2)
    assert reg2.n_outputs_ == 2


# ------------------------------------------------------------------- behaviour


@pytest.mark.parametrize("cls", ALL, ids=ids)
def test_fit_returns_self_history_and_determinism(cls, small_binary):
    X, y = small_binary
    y = targets(cls, y)
    a = make(cls)
    assert fit(a, X, y) is a
    out_a = a.predict(X) if cls in SUPERVISED else a.transform(X)
    b = fit(make(cls), X, y)
    out_b = b.predict(X) if cls in SUPERVISED else b.transform(X)
    np.testing.assert_array_equal(out_a, out_b)
    c = fit(make(cls, random_state=1), X, y)
    out_c = c.predict_proba(X) if cls in CLASSIFIERS else (
        c.predict(X) if cls in SUPERVISED else c.transform(X))
    out_a2 = a.predict_proba(X) if cls in CLASSIFIERS else out_a
    assert not np.array_equal(out_a2, out_c)
    history = getattr(a, "history_", None)
    if history is None:                     # stacks keep the histories of their layers
        layers = getattr(a, "rbms_", None) or a.autoencoders_
        history = layers[0].history_
    assert isinstance(history, list) and history and isinstance(history[0], dict)


@pytest.mark.parametrize("cls", TRANSFORMERS, ids=[c.__name__ for c in TRANSFORMERS])
def test_transform_include_input(cls, small_binary):
    X, _ = small_binary
    est = fit(make(cls), X, None)
    F = est.transform(X)
    est.set_params(include_input=True)
    G = est.transform(X)
    assert G.shape == (len(X), F.shape[1] + X.shape[1])
    np.testing.assert_array_equal(G[:, :F.shape[1]], F)
    np.testing.assert_allclose(G[:, F.shape[1]:], X)
    np.testing.assert_allclose(make(cls, include_input=True).fit_transform(X), G)


@pytest.mark.parametrize("cls", SUPERVISED, ids=[c.__name__ for c in SUPERVISED])
def test_supervised_transform_gives_top_hidden_layer(cls, small_binary):
    X, y = small_binary
    est = make(cls).fit(X, targets(cls, y))
    assert est.transform(X).shape == (len(X), 8)
    assert len(est.coefs_) == 2 and est.coefs_[0].shape == (10, 8)
    # fit_transform comes with transform, and returns the estimator's dtype
    features = make(cls).fit_transform(X, targets(cls, y))
    np.testing.assert_array_equal(features, est.transform(X))
    assert features.dtype == np.float32
    assert make(cls, dtype="float64").fit_transform(X, targets(cls, y)).dtype == np.float64


def test_float64_and_progress_output(small_binary, capsys):
    X, y = small_binary
    clf = make(MLPClassifier, dtype="float64", verbose=2).fit(X, y)
    assert clf.coefs_[0].dtype == np.float64
    assert clf.predict_proba(X).dtype == np.float64
    rbm = make(RBM, verbose=2).fit(X)
    err = capsys.readouterr().err
    assert "epoch" in err and "RBM" in err
    make(RBM, verbose=0).fit(X)
    make(MLPClassifier, verbose=0).fit(X, y)
    assert capsys.readouterr().err == ""
    assert rbm.W_.dtype == np.float32


@pytest.mark.skipif(len(deepbio.backends()) < 2, reason="needs two backends")
@pytest.mark.parametrize("cls", [RBM, MLPClassifier, AutoEncoder, DBNClassifier],
                         ids=lambda c: c.__name__)
def test_backends_agree(cls, small_binary):
    """Same seed, float64: every backend learns the same model as the NumPy reference."""
    X, y = small_binary
    outs = []
    for name in deepbio.backends():
        with deepbio.use_backend(name):
            est = fit(make(cls, dtype="float64"), X, y)
            outs.append(est.predict_proba(X) if cls in CLASSIFIERS else est.transform(X))
    for out in outs[1:]:
        np.testing.assert_allclose(out, outs[0], rtol=1e-6, atol=1e-9)


def test_public_names_importable():
    for name in ("RBM", "DBN", "DBNClassifier", "DBNRegressor", "AutoEncoder",
                 "StackedAutoEncoder", "StackedAutoEncoderClassifier",
                 "StackedAutoEncoderRegressor", "MLPClassifier", "MLPRegressor", "save",
                 "load"):
        assert hasattr(deepbio, name), name


# ------------------------------------------------------ partial_fit divergence


PARTIAL = [MLPClassifier, MLPRegressor, AutoEncoder]


def partial_fit(est, X, y):
    return est.partial_fit(X) if type(est) is AutoEncoder else est.partial_fit(X, y)


@pytest.mark.parametrize("cls", PARTIAL, ids=[c.__name__ for c in PARTIAL])
def test_partial_fit_raises_on_divergence(cls, small_binary):
    """As fit (SGD.minimize), partial_fit raises FloatingPointError when the loss or the
    weights stop being finite, naming the estimator, the optimiser and learning_rate,
    and leaves the model unfitted instead of holding NaN weights."""
    X, y = small_binary
    y = targets(cls, y)
    est = make(cls, learning_rate=1e20)
    with pytest.raises(FloatingPointError,
                       match=rf"^{cls.__name__} \(SGD\): the training loss became (nan|inf) "
                             rf"in partial_fit \(epoch \d\); lower learning_rate \(it is "
                             rf"1e\+20\) or set clip_norm"):
        for _ in range(5):
            partial_fit(est, X * 100, y * (1000 if cls in REGRESSORS else 1))
    assert not math.isfinite(est.history_[-1]["loss"])
    assert not hasattr(est, "coefs_")
    with pytest.raises(NotFittedError):
        getattr(est, "transform" if cls is AutoEncoder else "predict")(X)
    # the next call starts afresh
    partial_fit(est.set_params(learning_rate=1e-3), X, y)
    assert est.n_iter_ == 1 and all(np.isfinite(W).all() for W in est.coefs_)


def test_partial_fit_raises_on_divergence_with_hessian_free():
    """HessianFree's epoch is a dict with "loss" as well: checked the same way."""
    X = np.random.default_rng(0).normal(size=(32, 3))
    est = MLPRegressor(hidden_layer_sizes=(4,), optimizer="hf", random_state=0)
    with pytest.raises(FloatingPointError,
                       match=r"^MLPRegressor \(HessianFree\): the training loss became inf "
                             r"in partial_fit \(epoch 0\); raise the HessianFree's "
                             r"initial_damping"):
        est.partial_fit(X * 1e20, X[:, 0])       # float32 overflow
    assert not hasattr(est, "coefs_")


def test_partial_fit_checks_the_weights_too(small_binary, monkeypatch):
    """SGD's epoch loss is taken before each step: NaN weights with a finite loss are
    caught as well."""
    from deepbio.optim import SGD
    X, y = small_binary

    def broken_epoch(self, network, X, y, epoch):
        network.theta[0] = np.nan
        return {"loss": 0.5, "lr": self.learning_rate}

    est = make(MLPClassifier).partial_fit(X, y)
    monkeypatch.setattr(SGD, "_run_epoch", broken_epoch)
    with pytest.raises(FloatingPointError, match=r"the weights became NaN or infinite in "
                                                 r"partial_fit \(epoch 1\)"):
        est.partial_fit(X, y)
    assert not hasattr(est, "coefs_") and not hasattr(est, "n_features_in_")


@pytest.mark.parametrize("cls", PARTIAL, ids=[c.__name__ for c in PARTIAL])
def test_partial_fit_history_has_fits_keys(cls, small_binary):
    """partial_fit's history_ entries carry the keys fit's do (no held-out data: val_*
    None), and time runs on from one call to the next."""
    X, y = small_binary
    y = targets(cls, y)
    fitted = make(cls, max_iter=1).fit(*((X,) if cls is AutoEncoder else (X, y)))
    est = make(cls)
    for _ in range(3):
        partial_fit(est, X, y)
    assert [e["epoch"] for e in est.history_] == [0, 1, 2]
    for entry in est.history_:
        assert set(fitted.history_[0]) <= set(entry), set(fitted.history_[0]) - set(entry)
        assert entry["val_loss"] is None and entry["val_metric"] is None
    times = [e["time"] for e in est.history_]
    assert 0 < times[0] < times[1] < times[2]


@pytest.mark.parametrize("cls", CLASSIFIERS, ids=[c.__name__ for c in CLASSIFIERS])
def test_predict_proba_is_float64_whatever_the_network_dtype(cls, small_binary):
    """Probabilities come out as float64 from every classifier (the CNN and RNN ones
    too), so rows sum to 1 to double precision whatever dtype the network trains in."""
    X, y = small_binary
    proba = make(cls).fit(X, y).predict_proba(X)           # float32 network
    assert proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=0, atol=1e-6)
