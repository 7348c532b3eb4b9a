"""pandas in, names kept (issue 21, item 1): every estimator that takes a table takes a
DataFrame and records ``feature_names_in_``; other columns at predict time are an error
naming the first mismatch; ``set_output(transform="pandas")`` gives frames with
``get_feature_names_out`` columns; ``rank_features`` uses the names; pandas stays
optional.  (scikit-learn's own checks of all this run in test_sklearn_checks.py.)"""
import subprocess
import sys
import warnings

import numpy as np
import pytest

pd = pytest.importorskip("pandas")

import deepbio  # noqa: E402
from deepbio import (DBN, RBM, AutoEncoder, DBNClassifier, DBNRegressor,  # noqa: E402
                     MLPClassifier, MLPRegressor, StackedAutoEncoder,
                     StackedAutoEncoderClassifier, StackedAutoEncoderRegressor)
from deepbio.datasets import load_breast_cancer, standardize  # noqa: E402
from deepbio.explain import rank_features  # noqa: E402

SMALL = {
    RBM: dict(n_components=6, n_iter=3, visible="gaussian"),
    DBN: dict(hidden_layer_sizes=(6,), n_iter=3, visible="gaussian"),
    AutoEncoder: dict(n_components=4, max_iter=5),
    StackedAutoEncoder: dict(hidden_layer_sizes=(6, 4), max_iter=5),
    DBNClassifier: dict(hidden_layer_sizes=(8,), visible="gaussian", pretrain_epochs=2,
                        max_iter=10),
    DBNRegressor: dict(hidden_layer_sizes=(8,), visible="gaussian", pretrain_epochs=2,
                       max_iter=10),
    StackedAutoEncoderClassifier: dict(hidden_layer_sizes=(8,), pretrain_epochs=2,
                                       max_iter=10),
    StackedAutoEncoderRegressor: dict(hidden_layer_sizes=(8,), pretrain_epochs=2,
                                      max_iter=10),
    MLPClassifier: dict(hidden_layer_sizes=(8,), max_iter=10),
    MLPRegressor: dict(hidden_layer_sizes=(8,), max_iter=10),
}
ids = [c.__name__ for c in SMALL]


@pytest.fixture(scope="module")
def cancer():
    """Standardised breast cancer as a frame named by its features (10 of them), and y."""
    b = load_breast_cancer()
    X = standardize(b.data[:, :10])
    names = [str(n) for n in b.feature_names[:10]]
    return pd.DataFrame(X, columns=names, index=[f"s{i}" for i in range(len(X))]), b.target


def _fit(cls, frame, y, **kw):
    est = cls(**{**SMALL[cls], "random_state": 0, **kw})
    if cls._estimator_type == "regressor":
        return est.fit(frame, frame.iloc[:, 0].to_numpy() + y)
    return est.fit(frame, y) if cls._estimator_type else est.fit(frame)


def _infer(est):
    return est.predict if hasattr(est, "predict") else est.transform


@pytest.mark.parametrize("cls", SMALL, ids=ids)
def test_a_frame_is_taken_and_its_names_kept(cls, cancer):
    frame, y = cancer
    est = _fit(cls, frame, y)
    assert isinstance(est.feature_names_in_, np.ndarray)
    assert est.feature_names_in_.dtype == object
    assert est.feature_names_in_.tolist() == list(frame.columns)
    assert est.n_features_in_ == 10
    # the same numbers as the array gives
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        np.testing.assert_array_equal(_infer(est)(frame), _infer(est)(frame.to_numpy()))
    # refit on an array: the names are forgotten
    est.fit(frame.to_numpy(), *([] if not cls._estimator_type else
                                [y if cls._estimator_type == "classifier" else y * 1.0]))
    assert not hasattr(est, "feature_names_in_")


@pytest.mark.parametrize("cls", SMALL, ids=ids)
def test_other_columns_at_predict_are_an_error_naming_the_first_mismatch(cls, cancer):
    frame, y = cancer
    est = _fit(cls, frame, y)
    infer = _infer(est)
    swapped = frame[[frame.columns[0], frame.columns[2], frame.columns[1]]
                    + list(frame.columns[3:])]
    with pytest.raises(ValueError, match=r"(?s)column 1 of X is 'mean perimeter', but "
                                         rf"{cls.__name__} was fitted with 'mean texture' "
                                         r"there \(first mismatch\).*same order"):
        infer(swapped)
    renamed = frame.rename(columns={"mean area": "area"})
    with pytest.raises(ValueError, match=r"(?s)column 3 of X is 'area'.*Feature names unseen at "
                                         r"fit time:\n- area\n.*yet now missing:\n- mean "
                                         r"area"):
        infer(renamed)
    with pytest.raises(ValueError, match="X ends after column 8"):
        infer(frame.iloc[:, :9])
    # an array after a fit on a frame: the columns cannot be matched, so a warning
    with pytest.warns(UserWarning, match="X does not have valid feature names, but "
                                         f"{cls.__name__} was fitted with feature names"):
        infer(frame.to_numpy())


def test_partial_fit_checks_the_names_on_later_calls(cancer):
    frame, y = cancer
    est = MLPClassifier((4,), random_state=0).partial_fit(frame, y, classes=[0, 1])
    assert est.feature_names_in_.tolist() == list(frame.columns)
    with pytest.raises(ValueError, match="first mismatch"):
        est.partial_fit(frame[frame.columns[::-1]], y)


def test_column_names_that_are_not_strings(cancer):
    frame, y = cancer
    est = MLPClassifier((4,), max_iter=2, random_state=0).fit(frame.set_axis(range(10),
                                                                          axis=1), y)
    assert not hasattr(est, "feature_names_in_")          # a RangeIndex: no names
    mixed = frame.set_axis(["a"] + list(range(9)), axis=1)
    with pytest.raises(TypeError, match="column names must all be strings"):
        MLPClassifier((4,), max_iter=2).fit(mixed, y)


def test_set_output_pandas_gives_named_columns_and_keeps_the_index(cancer):
    frame, _ = cancer
    rbm = RBM(5, visible="gaussian", n_iter=2, random_state=0).set_output(transform="pandas")
    out = rbm.fit_transform(frame)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == ["rbm0", "rbm1", "rbm2", "rbm3", "rbm4"]
    assert list(out.index) == list(frame.index)
    np.testing.assert_array_equal(out.to_numpy(), rbm.set_output(transform="default")
                                  .transform(frame))
    both = RBM(3, visible="gaussian", n_iter=2, include_input=True, random_state=0) \
        .set_output(transform="pandas").fit(frame).transform(frame)
    assert list(both.columns) == ["rbm0", "rbm1", "rbm2"] + list(frame.columns)
    ae = AutoEncoder(2, max_iter=2, random_state=0).fit(frame.to_numpy())
    assert ae.get_feature_names_out().tolist() == ["autoencoder0", "autoencoder1"]
    clf = MLPClassifier((3,), max_iter=2, random_state=0).fit(frame, _)
    assert clf.get_feature_names_out().tolist() == ["mlpclassifier0", "mlpclassifier1",
                                                    "mlpclassifier2"]
    with pytest.raises(ValueError, match="transform must be 'default', 'pandas' or None"):
        rbm.set_output(transform="polars")


def test_set_output_through_a_pipeline_and_clone(cancer):
    pytest.importorskip("sklearn")
    from sklearn.base import clone
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    frame, _ = cancer
    pipe = make_pipeline(StandardScaler(), DBN((4,), visible="gaussian", n_iter=2,
                                               random_state=0)).set_output(transform="pandas")
    out = pipe.fit_transform(frame)
    assert list(out.columns) == ["dbn0", "dbn1", "dbn2", "dbn3"]
    assert pipe[-1].feature_names_in_.tolist() == list(frame.columns)   # scaler kept them
    twin = clone(pipe[-1])
    assert isinstance(twin.fit(frame).transform(frame), pd.DataFrame)


def test_rank_features_uses_feature_names_in(cancer):
    frame, y = cancer
    clf = MLPClassifier((8,), max_iter=30, random_state=0).fit(frame, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)             # no name warning inside
        ranking = rank_features(clf, frame.to_numpy(), method="gradient_x_input")
        from_frame = rank_features(clf, frame, method="gradient_x_input")
    assert sorted(ranking.names) == sorted(frame.columns)
    assert list(ranking.names) == list(from_frame.names)
    with pytest.raises(ValueError, match="first mismatch"):
        rank_features(clf, frame[frame.columns[::-1]], method="gradient_x_input")


def test_names_survive_save_and_load(cancer, tmp_path):
    frame, y = cancer
    clf = MLPClassifier((4,), max_iter=5, random_state=0).fit(frame, y)
    again = deepbio.load(clf.save(tmp_path / "clf"))
    assert again.feature_names_in_.tolist() == list(frame.columns)
    np.testing.assert_array_equal(again.predict(frame), clf.predict(frame))
    with pytest.raises(ValueError, match="first mismatch"):
        again.predict(frame[frame.columns[::-1]])


def test_pandas_is_not_imported_by_import_deepbio():
    code = "import sys, deepbio, deepbio.models; print('pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "False"
