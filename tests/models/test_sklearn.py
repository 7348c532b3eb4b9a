"""deepbio estimators inside scikit-learn: clone, Pipeline, GridSearchCV, cross-validation.

Skipped when scikit-learn is not installed (it is not a dependency of deepbio)."""
import pickle

import numpy as np
import pytest

from deepbio import (DBN, RBM, AutoEncoder, DBNClassifier, MLPClassifier, MLPRegressor,
                     StackedAutoEncoder, StackedAutoEncoderClassifier)

sklearn = pytest.importorskip("sklearn")
from sklearn.base import clone, is_classifier, is_regressor  # noqa: E402
from sklearn.exceptions import NotFittedError as SklearnNotFittedError  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import Pipeline, make_pipeline  # noqa: E402
from sklearn.preprocessing import MinMaxScaler, StandardScaler  # noqa: E402

from deepbio._validation import NotFittedError  # noqa: E402


@pytest.fixture(scope="module")
def data():
    from deepbio.datasets import load_breast_cancer
    X, y = load_breast_cancer(return_X_y=True)
    return X, y


@pytest.mark.parametrize("cls", [RBM, DBN, AutoEncoder, StackedAutoEncoder, DBNClassifier,
                                 StackedAutoEncoderClassifier, MLPClassifier, MLPRegressor],
                         ids=lambda c: c.__name__)
def test_clone_and_tags(cls):
    est = cls(random_state=5)
    twin = clone(est)
    assert twin is not est and type(twin) is cls
    assert twin.get_params() == est.get_params()
    assert is_classifier(est) == cls.__name__.endswith("Classifier")
    assert is_regressor(est) == cls.__name__.endswith("Regressor")


def test_pipeline_rbm_features_into_sklearn(data):
    X, y = data
    pipe = Pipeline([("scale", MinMaxScaler()),
                     ("rbm", RBM(n_components=32, n_iter=20, batch_size=10, momentum=0.9,
                                 random_state=0)),
                     ("logistic", LogisticRegression(max_iter=500))])
    pipe.fit(X, y)
    assert pipe.score(X, y) > 0.9
    pipe.set_params(rbm__include_input=True)
    assert pipe[:-1].transform(X).shape == (len(X), 32 + 30)


def test_pipeline_and_grid_search(data):
    X, y = data
    pipe = make_pipeline(StandardScaler(), MLPClassifier((8,), max_iter=10,
                                                         random_state=0))
    grid = GridSearchCV(pipe, {"mlpclassifier__learning_rate": [0.001, 0.05],
                               "mlpclassifier__hidden_layer_sizes": [(4,), (8,)]}, cv=3)
    grid.fit(X, y)
    assert set(grid.best_params_) == {"mlpclassifier__learning_rate",
                                      "mlpclassifier__hidden_layer_sizes"}
    assert grid.best_score_ > 0.9
    assert grid.predict(X).shape == (len(X),)


def test_cross_val_score_dbn(data):
    X, y = data
    pipe = make_pipeline(StandardScaler(), DBNClassifier((16,), visible="gaussian",
                                                         pretrain_epochs=2, max_iter=10,
                                                         random_state=0))
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.mean() > 0.9


def test_grid_search_unsupervised_uses_score(data):
    X, _ = data
    X = StandardScaler().fit_transform(X)
    grid = GridSearchCV(AutoEncoder(max_iter=5, random_state=0),
                        {"n_components": [2, 12]}, cv=3).fit(X)
    assert grid.best_params_ == {"n_components": 12}


@pytest.mark.parametrize("cls,method", [(MLPClassifier, "predict_proba"),
                                        (MLPRegressor, "predict"), (AutoEncoder, "transform"),
                                        (RBM, "transform")],
                         ids=lambda c: getattr(c, "__name__", c))
def test_not_fitted_error_is_sklearns(cls, method):
    X = np.ones((3, 4))
    with pytest.raises(SklearnNotFittedError, match="not fitted yet") as info:
        getattr(cls(), method)(X)
    # still deepbio's NotFittedError, a ValueError and an AttributeError
    assert all(isinstance(info.value, c) for c in (NotFittedError, ValueError, AttributeError))
    again = pickle.loads(pickle.dumps(info.value))        # e.g. from a joblib worker
    assert type(again) is type(info.value) and str(again) == str(info.value)


@pytest.mark.parametrize("cls", [RBM, DBN, AutoEncoder, StackedAutoEncoder, DBNClassifier,
                                 MLPClassifier, MLPRegressor], ids=lambda c: c.__name__)
def test_transformer_tags_declare_the_preserved_dtype(cls):
    """transform returns the estimator's dtype, whatever the input's."""
    for dtype in ("float32", "float64"):
        tags = cls(dtype=dtype).__sklearn_tags__()
        assert tags.transformer_tags.preserves_dtype == [dtype]
    assert cls(dtype="int8").__sklearn_tags__().transformer_tags.preserves_dtype == []


# scikit-learn's own estimator checks, all of them over every estimator: see
# tests/models/test_sklearn_checks.py
