"""Names renamed by the restructuring still work, with a DeprecationWarning."""
import numpy as np
import pytest

import deepbio
from deepbio import (AutoEncoder, CNNClassifier, DBNClassifier, MLPClassifier, MLPRegressor,
                     RNNClassifier, StackedAutoEncoder)


def _data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 5))
    return X, (X[:, 0] > 0).astype(int)


@pytest.mark.parametrize("cls", [MLPClassifier, MLPRegressor, DBNClassifier])
def test_max_epochs_is_a_deprecated_alias_of_max_iter(cls):
    X, y = _data()
    kw = {"pretrain_epochs": 1, "visible": "gaussian"} if cls is DBNClassifier else {}
    with pytest.warns(DeprecationWarning, match="max_epochs was renamed max_iter"):
        old = cls(max_epochs=3, random_state=0, **kw).fit(X, y)
    new = cls(max_iter=3, random_state=0, **kw).fit(X, y)
    assert len(old.history_) == len(new.history_) == 3
    for a, b in zip(old.coefs_, new.coefs_):
        np.testing.assert_array_equal(a, b)


def test_max_iter_alone_does_not_warn(recwarn):
    X, y = _data()
    MLPClassifier(max_iter=2, random_state=0).fit(X, y)
    assert not [w for w in recwarn if issubclass(w.category, DeprecationWarning)]


@pytest.mark.parametrize("cls", [AutoEncoder, StackedAutoEncoder, CNNClassifier,
                                 RNNClassifier])
def test_every_network_estimator_takes_max_iter(cls):
    params = cls().get_params()
    assert "max_iter" in params and params["max_epochs"] == "deprecated"


def test_max_epochs_is_validated_like_max_iter():
    X, y = _data()
    with pytest.raises(ValueError, match="max_epochs"):
        MLPClassifier(max_epochs=0).fit(X, y)


@pytest.mark.parametrize("name,home", [("SequenceMask", "masking"),
                                       ("TimeDistributedDense", "layers"),
                                       ("MaskedSoftmaxCrossEntropy", "losses")])
def test_names_moved_out_of_nn_recurrent_still_import(name, home):
    from deepbio.nn import recurrent
    with pytest.warns(DeprecationWarning, match=f"deepbio.nn.{home}.{name}"):
        obj = getattr(recurrent, name)
    assert obj is getattr(deepbio.nn, name)


def test_corruption_and_tied_autoencoder_are_registered_layers():
    assert deepbio.nn.LAYERS["Corruption"] is deepbio.nn.Corruption
    assert deepbio.nn.LAYERS["TiedAutoEncoder"] is deepbio.nn.TiedAutoEncoder
    assert "masked_softmax_cross_entropy" in deepbio.nn.LOSSES
