"""AutoEncoder / StackedAutoEncoder / MLP specifics: tying, decoding, partial_fit."""
import numpy as np
import pytest

from deepbio import (AutoEncoder, MLPClassifier, MLPRegressor, StackedAutoEncoder,
                     StackedAutoEncoderClassifier)
from deepbio.nn import Corruption


@pytest.fixture(scope="module")
def unit_data():
    rng = np.random.default_rng(0)
    Z = rng.random((200, 3))
    A = rng.random((3, 12))
    return 1 / (1 + np.exp(-(4 * Z @ A - 3)))      # (200, 12) in (0, 1), rank-3 structure


@pytest.mark.parametrize("tied", [True, False], ids=["tied", "untied"])
@pytest.mark.parametrize("loss", ["squared_error", "cross_entropy"])
def test_autoencoder_reconstructs(on_backend, unit_data, tied, loss):
    ae = AutoEncoder(4, loss=loss, tied=tied, learning_rate=0.05, max_iter=60,
                     random_state=0).fit(unit_data)
    err = np.mean((ae.reconstruct(unit_data) - unit_data) ** 2)
    baseline = np.mean((unit_data - unit_data.mean(axis=0)) ** 2)
    assert err < 0.5 * baseline, (err, baseline)
    assert ae.history_[-1]["loss"] < ae.history_[0]["loss"]
    W_enc, W_dec = (np.asarray(w) for w in ae.coefs_)
    assert W_enc.shape == (12, 4) and W_dec.shape == (4, 12)
    if tied:
        np.testing.assert_array_equal(W_dec, W_enc.T)
    else:
        assert not np.allclose(W_dec, W_enc.T)
    np.testing.assert_allclose(ae.inverse_transform(ae.transform(unit_data)),
                               ae.reconstruct(unit_data), rtol=1e-5)
    assert ae.score(unit_data) == pytest.approx(
        -np.mean(((ae.reconstruct(unit_data) - unit_data) ** 2).sum(axis=1)), rel=1e-6)


def test_autoencoder_options_are_checked(unit_data):
    with pytest.raises(ValueError, match=r"loss='cross_entropy' needs X in \[0, 1\]"):
        AutoEncoder(loss="cross_entropy").fit(unit_data - 0.5)
    with pytest.raises(ValueError, match="corruption_level is a probability"):
        AutoEncoder(corruption="mask", corruption_level=1.5).fit(unit_data)
    with pytest.raises(ValueError, match="'corruption' parameter of AutoEncoder"):
        AutoEncoder(corruption="salt").fit(unit_data)
    # Gaussian noise: corruption_level is a standard deviation, any finite value >= 0
    with pytest.raises(ValueError, match=r"'corruption_level' parameter of AutoEncoder must "
                                         r"be a float in the range \[0, inf\); got inf"):
        AutoEncoder(corruption="gaussian", corruption_level=float("inf")).fit(unit_data)
    AutoEncoder(4, corruption="gaussian", corruption_level=2.0, max_iter=1).fit(unit_data)
    ae = AutoEncoder(4, max_iter=1).fit(unit_data)
    with pytest.raises(ValueError, match="H has 3 columns"):
        ae.inverse_transform(np.ones((2, 3)))


def test_autoencoder_partial_fit(on_backend, unit_data):
    ae = AutoEncoder(4, random_state=0)
    for _ in range(3):
        assert ae.partial_fit(unit_data) is ae
    assert ae.n_iter_ == 3 and len(ae.history_) == 3
    assert ae.history_[2]["loss"] < ae.history_[0]["loss"]


def test_corruption_layer_names_its_level():
    with pytest.raises(ValueError, match=r"Corruption level must be a finite number.*"
                                         r"got level=inf with kind='gaussian'"):
        Corruption("gaussian", float("inf"))
    with pytest.raises(ValueError, match=r"in \[0, 1\] .* for kind='mask'.*got level=1.5"):
        Corruption("mask", 1.5)
    assert Corruption("gaussian", 2.0).level == 2.0


def test_autoencoder_partial_fit_after_set_params(unit_data):
    ae = AutoEncoder(4, max_iter=2, random_state=0).fit(unit_data)
    for name, value, fitted in [("tied", False, True), ("n_components", 5, 4)]:
        ae.set_params(**{name: value})
        with pytest.raises(ValueError, match=f"was built with {name}={fitted}, but {name} is "
                                             f"now {value}; call fit"):
            ae.partial_fit(unit_data)
        ae.set_params(**{name: fitted})
    untied = AutoEncoder(4, tied=False, max_iter=2, random_state=0).fit(unit_data)
    with pytest.raises(ValueError, match="was built with tied=False"):
        untied.set_params(tied=True).partial_fit(unit_data)
    # other settings take effect: the network is rebuilt from the current weights
    W = np.array(ae.coefs_[0])
    ae.set_params(activation="tanh", corruption="gaussian", corruption_level=0.1,
                  dtype="float64", learning_rate=1e-4)
    ae.partial_fit(unit_data)
    assert ae.n_iter_ == 3 and ae.coefs_[0].dtype == np.float64
    assert not np.array_equal(ae.coefs_[0], W) and np.allclose(ae.coefs_[0], W, atol=1e-2)
    layers = ae._network.layers
    assert isinstance(layers[0], Corruption) and layers[-1].activation == "tanh"
    ae.set_params(activation="relu")
    with pytest.raises(ValueError, match="'activation' parameter of AutoEncoder"):
        ae.set_params(activation="swish").partial_fit(unit_data)


def test_stacked_autoencoder_codes(on_backend, unit_data):
    sae = StackedAutoEncoder((8, 3), max_iter=5, random_state=0).fit(unit_data)
    assert [ae.n_components for ae in sae.autoencoders_] == [8, 3]
    assert sae.autoencoders_[0].loss == "squared_error"
    assert sae.autoencoders_[1].loss == "cross_entropy"      # sigmoid codes
    H = sae.transform(unit_data)
    np.testing.assert_allclose(
        H, sae.autoencoders_[1].transform(sae.autoencoders_[0].transform(unit_data)),
        rtol=1e-5)


def test_stacked_classifier_pretraining(on_backend, unit_data):
    y = (unit_data[:, 0] > np.median(unit_data[:, 0])).astype(int)
    clf = StackedAutoEncoderClassifier((6,), pretrain_epochs=5, max_iter=1,
                                       random_state=0).fit(unit_data, y)
    assert len(clf.pretrain_history_) == 1 and len(clf.pretrain_history_[0]) == 5
    hist = clf.pretrain_history_[0]
    assert hist[-1]["loss"] < hist[0]["loss"]
    no_pre = StackedAutoEncoderClassifier((6,), pretrain_epochs=0, max_iter=1,
                                          random_state=0).fit(unit_data, y)
    assert no_pre.pretrain_history_ == []
    assert np.asarray(clf.coefs_[0]).shape == (12, 6)
    assert not np.allclose(np.asarray(clf.coefs_[0]), np.asarray(no_pre.coefs_[0]))


def test_mlp_partial_fit(on_backend):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    y = np.where(X[:, 0] + X[:, 1] > 0, "a", "b")
    clf = MLPClassifier((8,), random_state=0)
    with pytest.raises(ValueError, match="single class"):
        MLPClassifier().partial_fit(X[y == "a"], y[y == "a"])
    clf.partial_fit(X[:100], y[:100], classes=["a", "b"])
    for _ in range(10):
        clf.partial_fit(X, y)
    assert clf.n_iter_ == 11 and clf.score(X, y) > 0.9
    with pytest.raises(ValueError, match="not seen"):
        clf.partial_fit(X[:3], np.array(["a", "b", "c"]))
    # later calls may repeat classes, in any order, but not change them (as scikit-learn)
    clf.partial_fit(X, y, classes=["b", "a"])
    with pytest.raises(ValueError, match=r"classes=\['a', 'c'\] is not the same as on the "
                                         r"first call .*classes_ = \['a', 'b'\]"):
        clf.partial_fit(X, y, classes=["a", "c"])
    assert clf.classes_.tolist() == ["a", "b"] and clf.n_iter_ == 12
    with pytest.raises(ValueError, match="classes must hold at least 2 labels"):
        MLPClassifier().partial_fit(X, y, classes=["a"])
    failed = MLPClassifier()
    with pytest.raises(ValueError, match="not seen"):
        failed.partial_fit(X, y, classes=["a", "c"])
    assert not hasattr(failed, "classes_") and not hasattr(failed, "n_features_in_")
    reg = MLPRegressor((8,), random_state=0)
    target = X @ [1.0, -1.0, 0.5, 0.0]
    for _ in range(15):
        reg.partial_fit(X, target)
    assert reg.score(X, target) > 0.9


def test_mlp_partial_fit_after_set_params():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 4))
    y = (X[:, 0] > 0).astype(int)
    clf = MLPClassifier((8,), max_iter=2, random_state=0).fit(X, y)
    clf.set_params(hidden_layer_sizes=(5,))
    with pytest.raises(ValueError, match=r"hidden_layer_sizes=\(5,\) does not match the "
                                         r"fitted network .* hidden layers of \(8,\) units"):
        clf.partial_fit(X, y)
    clf.set_params(hidden_layer_sizes=(8,), activation="tanh", dropout=0.2)
    clf.partial_fit(X, y)
    assert clf.n_iter_ == 3
    assert clf._network.layers[0].activation == "tanh"
    assert type(clf._network.layers[1]).__name__ == "Dropout"


def test_mlp_without_hidden_layer_is_linear(on_backend):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = X @ [2.0, -1.0, 0.5] + 1
    reg = MLPRegressor((), max_iter=50, random_state=0).fit(X, y)
    assert len(reg.coefs_) == 1 and reg.score(X, y) > 0.999
    with pytest.raises(ValueError, match="no hidden layer"):
        reg.transform(X)


def test_dropout_and_early_stopping(on_backend):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 5))
    y = (X[:, 0] > 0).astype(int)
    clf = MLPClassifier((16,), dropout=0.3, early_stopping=True, patience=3,
                        max_iter=200, random_state=0).fit(X, y)
    assert clf.n_iter_ < 200
    assert clf.history_[-1]["val_loss"] is not None
    assert clf.history_[-1]["val_metric"] is not None
    # dropout is off at prediction time: predictions are deterministic
    np.testing.assert_array_equal(clf.predict_proba(X), clf.predict_proba(X))
    assert clf.score(X, y) > 0.9
