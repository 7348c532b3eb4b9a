"""Bundled real data: shapes, dtypes, class counts, copies, and equality with
scikit-learn's copies when scikit-learn is installed."""
import pickle

import numpy as np
import pytest

from deepbio.datasets import Bunch, load_breast_cancer, load_digits


def test_breast_cancer_shapes_and_counts():
    b = load_breast_cancer()
    assert b.data.shape == (569, 30) and b.data.dtype == np.float64
    assert b.target.shape == (569,) and b.target.dtype == np.int64
    assert np.bincount(b.target).tolist() == [212, 357]
    assert b.target_names == ["malignant", "benign"]
    assert len(b.feature_names) == 30
    assert b.feature_names[0] == "mean radius" and b.feature_names[-1] == "worst fractal dimension"
    assert "Wisconsin" in b.DESCR and "CC BY 4.0" in b.DESCR
    # a few values straight from the UCI file (first sample)
    assert b.data[0, 0] == 17.99 and b.data[0, 3] == 1001.0 and b.target[0] == 0


def test_digits_shapes_and_values():
    d = load_digits()
    assert d.data.shape == (1797, 64) and d.data.dtype == np.float64
    assert d.target.shape == (1797,) and d.target.dtype == np.int64
    assert d.images.shape == (1797, 8, 8)
    np.testing.assert_array_equal(d.images.reshape(1797, 64), d.data)
    assert d.data.min() == 0 and d.data.max() == 16
    np.testing.assert_array_equal(d.data, np.round(d.data))
    assert np.bincount(d.target).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    assert d.feature_names[:2] == ["pixel_0_0", "pixel_0_1"] and d.feature_names[-1] == "pixel_7_7"
    np.testing.assert_array_equal(d.target_names, np.arange(10))


@pytest.mark.parametrize("loader", [load_breast_cancer, load_digits])
def test_return_X_y_matches_bunch(loader):
    X, y = loader(return_X_y=True)
    b = loader()
    np.testing.assert_array_equal(X, b.data)
    np.testing.assert_array_equal(y, b.target)


@pytest.mark.parametrize("loader", [load_breast_cancer, load_digits])
def test_each_call_returns_independent_writable_copies(loader):
    X, y = loader(return_X_y=True)
    X[:] = -1.0
    y[:] = 99
    X2, y2 = loader(return_X_y=True)
    assert X2.min() >= 0 and y2.max() < 10


def test_matches_scikit_learn_breast_cancer():
    datasets = pytest.importorskip("sklearn.datasets")
    ref = datasets.load_breast_cancer()
    b = load_breast_cancer()
    np.testing.assert_array_equal(b.data, ref.data)  # exact, not approximate
    np.testing.assert_array_equal(b.target, ref.target)
    assert b.feature_names == list(ref.feature_names)
    assert b.target_names == list(ref.target_names)


def test_matches_scikit_learn_digits():
    datasets = pytest.importorskip("sklearn.datasets")
    ref = datasets.load_digits()
    d = load_digits()
    np.testing.assert_array_equal(d.data, ref.data)
    np.testing.assert_array_equal(d.target, ref.target)
    np.testing.assert_array_equal(d.images, ref.images)
    assert d.feature_names == list(ref.feature_names)


def test_bunch_attribute_and_key_access():
    b = Bunch(a=1)
    b.c = 3
    assert b["c"] == 3 and b.a == 1
    del b.a
    assert "a" not in b
    with pytest.raises(AttributeError):
        b.missing
    assert "c" in dir(b)
    b2 = pickle.loads(pickle.dumps(b))
    assert isinstance(b2, Bunch) and b2.c == 3
