"""train_test_split, standardize and StandardScaler."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from deepbio._validation import NotFittedError
from deepbio.datasets import MinMaxScaler, StandardScaler, standardize, train_test_split


def test_split_sizes_disjoint_and_complete():
    X = np.arange(40).reshape(20, 2)
    y = np.arange(20)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=0)
    assert X_tr.shape == (15, 2) and X_te.shape == (5, 2)
    # rows stay aligned with their labels
    np.testing.assert_array_equal(X_tr[:, 0] // 2, y_tr)
    np.testing.assert_array_equal(X_te[:, 0] // 2, y_te)
    assert sorted(np.concatenate([y_tr, y_te]).tolist()) == list(range(20))


def test_split_without_y_and_int_test_size():
    X = np.zeros((10, 3, 4))
    out = train_test_split(X, test_size=3, random_state=1)
    assert len(out) == 2 and out[0].shape == (7, 3, 4) and out[1].shape == (3, 3, 4)


def test_split_reproducible_and_seed_dependent():
    X = np.arange(100)
    a = train_test_split(X, random_state=5)[1]
    b = train_test_split(X, random_state=5)[1]
    c = train_test_split(X, random_state=6)[1]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@given(
    counts=st.lists(st.integers(2, 60), min_size=2, max_size=5),
    test_size=st.floats(0.1, 0.6),
    seed=st.integers(0, 2**31 - 1),
)
def test_stratified_split_keeps_class_ratios(counts, test_size, seed):
    y = np.repeat(np.arange(len(counts)), counts)
    n = y.size
    n_test = math.ceil(test_size * n)
    if n_test < len(counts) or n - n_test < len(counts):
        return
    X = np.arange(n)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=test_size, stratify=y,
                                              random_state=seed)
    assert len(y_te) == n_test
    np.testing.assert_array_equal(y[X_te], y_te)
    te_counts = np.bincount(y_te, minlength=len(counts))
    expected = np.array(counts) * n_test / n
    # largest-remainder rounding: each class within one of its exact share
    assert np.all(np.abs(te_counts - expected) < 1.0 + 1e-9)
    assert np.all(np.bincount(y_tr, minlength=len(counts)) >= 1)


def test_stratified_split_on_imbalanced_labels():
    y = np.array([0] * 90 + [1] * 10)
    _, _, y_tr, y_te = train_test_split(np.zeros((100, 1)), y, test_size=0.2, stratify=y,
                                        random_state=0)
    assert np.bincount(y_te).tolist() == [18, 2]
    assert np.bincount(y_tr).tolist() == [72, 8]


@pytest.mark.parametrize("kwargs, match", [
    (dict(test_size=0.0), "test_size"),
    (dict(test_size=1.0), "test_size"),
    (dict(test_size=10), "test_size"),
    (dict(test_size="a"), "test_size"),
    (dict(stratify=np.array([0] * 9 + [1])), "only 1 member"),
    (dict(stratify=np.zeros(3)), "stratify"),
    (dict(random_state=-1), "random_state"),
])
def test_split_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        train_test_split(np.zeros((10, 2)), **kwargs)


def test_split_y_length_mismatch():
    with pytest.raises(ValueError, match="different numbers of samples"):
        train_test_split(np.zeros((10, 2)), np.zeros(9))


def test_scaler_zero_mean_unit_variance_and_constant_column():
    rng = np.random.default_rng(0)
    X = rng.normal(3.0, 2.0, size=(50, 4))
    X[:, 2] = 0.1  # constant (its computed std is rounding noise, not exactly 0)
    s = StandardScaler().fit(X)
    Z = s.transform(X)
    np.testing.assert_allclose(Z.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(Z[:, [0, 1, 3]].std(axis=0), 1.0)
    assert s.scale_[2] == 1.0
    np.testing.assert_allclose(Z[:, 2], 0.0, atol=1e-15)
    np.testing.assert_allclose(s.inverse_transform(Z), X)
    np.testing.assert_allclose(StandardScaler().fit_transform(X), Z)


def test_scaler_uses_training_statistics_on_new_data():
    s = StandardScaler().fit([[0.0], [2.0]])
    np.testing.assert_array_equal(s.transform([[4.0], [1.0]]), [[3.0], [0.0]])


def test_scaler_matches_scikit_learn():
    preprocessing = pytest.importorskip("sklearn.preprocessing")
    X = np.random.default_rng(1).normal(size=(30, 5)) * [1, 10, 0.1, 5, 2]
    X[:, 1] = 7.0
    np.testing.assert_allclose(StandardScaler().fit_transform(X),
                               preprocessing.StandardScaler().fit_transform(X), atol=1e-12)


def test_scaler_options_errors_and_params():
    X = np.array([[1.0, 2.0], [3.0, 6.0]])
    np.testing.assert_array_equal(StandardScaler(with_mean=False).fit_transform(X),
                                  X / np.array([1.0, 2.0]))
    np.testing.assert_array_equal(StandardScaler(with_std=False).fit_transform(X),
                                  X - X.mean(axis=0))
    with pytest.raises(NotFittedError, match="This StandardScaler instance is not fitted"):
        StandardScaler().transform(X)
    with pytest.raises(ValueError, match="features"):
        StandardScaler().fit(X).transform(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="NaN"):
        StandardScaler().fit([[np.nan, 1.0]])
    s = StandardScaler().set_params(with_mean=False)
    assert s.get_params() == {"with_mean": False, "with_std": True}
    with pytest.raises(ValueError, match="invalid parameter"):
        s.set_params(bogus=1)


def test_standardize_function():
    X = np.array([[1.0, 5.0], [3.0, 5.0], [5.0, 5.0]])
    Z = standardize(X)
    np.testing.assert_allclose(Z[:, 0], [-1.224744871391589, 0.0, 1.224744871391589])
    np.testing.assert_array_equal(Z[:, 1], 0.0)
    np.testing.assert_array_equal(standardize(X, mean=[1.0, 0.0], std=[2.0, 5.0]),
                                  [[0.0, 1.0], [1.0, 1.0], [2.0, 1.0]])
    assert standardize(np.array([[1, 2], [3, 4]])).dtype == np.float64
    with pytest.raises(ValueError, match="mean"):
        standardize(X, mean=[0.0])


def test_scaler_not_fitted_error_is_the_estimators_one():
    """Used before fit, StandardScaler raises NotFittedError like the estimators (a
    ValueError and an AttributeError; scikit-learn's once scikit-learn is loaded)."""
    for method in ("transform", "inverse_transform"):
        with pytest.raises(NotFittedError) as info:
            getattr(StandardScaler(), method)(np.ones((2, 2)))
        assert isinstance(info.value, ValueError) and isinstance(info.value, AttributeError)
    exceptions = pytest.importorskip("sklearn.exceptions")
    with pytest.raises(exceptions.NotFittedError):
        StandardScaler().transform(np.ones((2, 2)))


@pytest.mark.parametrize("test_size, n, expected", [
    (np.float32(0.3), 10, 3), (np.float32(0.7), 10, 7), (np.float32(0.1), 100, 10),
    (np.float16(0.3), 10, 3), (0.3, 10, 3), (np.float64(0.3), 10, 3),
])
def test_numpy_float_test_size_counts_like_scikit_learn(test_size, n, expected):
    _, X_test = train_test_split(np.arange(n), test_size=test_size, random_state=0)
    assert len(X_test) == expected


def test_stratify_singleton_class_message_shows_the_plain_label():
    y = np.array([0, 0, 0, 1])
    with pytest.raises(ValueError, match=r"class 1 has only 1 member") as info:
        train_test_split(y, y, stratify=y)
    assert "np." not in str(info.value)
    labels = np.array(["a", "a", "b"])
    with pytest.raises(ValueError, match=r"class 'b' has only 1 member"):
        train_test_split(labels, stratify=labels)


def test_min_max_scaler_maps_onto_the_range_and_back():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3)) * [1.0, 10.0, 0.0] + [0.0, 5.0, 7.0]  # last column constant
    scaler = MinMaxScaler().fit(X)
    Z = scaler.transform(X)
    np.testing.assert_allclose(Z[:, :2].min(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(Z[:, :2].max(axis=0), 1.0)
    np.testing.assert_array_equal(Z[:, 2], 0.0)                     # constant -> lo
    assert scaler.data_range_[2] == 1.0
    np.testing.assert_allclose(scaler.inverse_transform(Z), X)
    wide = MinMaxScaler(feature_range=(-1, 1)).fit(X).transform(X)
    np.testing.assert_allclose(wide[:, :2].min(axis=0), -1.0)
    outside = X.max(axis=0) + 1.0
    assert MinMaxScaler(clip=True).fit(X).transform(outside[None]).max() == 1.0
    assert MinMaxScaler().fit(X).transform(outside[None]).max() > 1.0
    preprocessing = pytest.importorskip("sklearn.preprocessing")
    theirs = preprocessing.MinMaxScaler(feature_range=(-1, 1)).fit(X)
    np.testing.assert_allclose(wide, theirs.transform(X), atol=1e-12)


def test_min_max_scaler_params_and_errors():
    scaler = MinMaxScaler(clip=True)
    assert scaler.get_params() == {"feature_range": (0.0, 1.0), "clip": True}
    assert scaler.set_params(clip=False) is scaler and not scaler.clip
    with pytest.raises(ValueError, match="invalid parameter"):
        scaler.set_params(with_mean=True)
    with pytest.raises(NotFittedError, match="This MinMaxScaler instance is not fitted"):
        scaler.transform([[1.0]])
    with pytest.raises(ValueError, match="feature_range"):
        MinMaxScaler(feature_range=(1, 0)).fit([[1.0], [2.0]])
    with pytest.raises(ValueError, match="MinMaxScaler was fitted with 1"):
        MinMaxScaler().fit([[1.0], [2.0]]).transform([[1.0, 2.0]])
