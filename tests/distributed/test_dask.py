"""The Dask recipe of docs/distributed.md: scikit-learn's cross-validation and
GridSearchCV of deepbio estimators on a ``dask.distributed`` cluster (a LocalCluster of
two worker processes here), through joblib's Dask backend, give what a serial run gives.
"""
import numpy as np
import pytest

distributed = pytest.importorskip(
    "dask.distributed", reason="dask.distributed is not installed: pip install dask "
    "distributed to run the Dask recipe's test")
sklearn = pytest.importorskip("sklearn", reason="the recipe uses scikit-learn")

import joblib  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402

from deepbio.datasets import load_breast_cancer  # noqa: E402
from deepbio.models import MLPClassifier  # noqa: E402


def _data():
    X, y = load_breast_cancer(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    return X[:150], y[:150]


def test_grid_search_and_cross_validation_on_a_local_dask_cluster():
    X, y = _data()
    model = MLPClassifier(hidden_layer_sizes=(4,), max_iter=5, dtype="float64",
                          random_state=0)
    grid = {"hidden_layer_sizes": [(4,), (8,)], "learning_rate": [0.01, 0.1]}
    serial = GridSearchCV(model, grid, cv=3).fit(X, y)
    serial_cv = cross_val_score(model, X, y, cv=3)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        with joblib.parallel_backend("dask"):
            on_dask = GridSearchCV(model, grid, cv=3, n_jobs=-1).fit(X, y)
            dask_cv = cross_val_score(model, X, y, cv=3, n_jobs=-1)
        # the work ran on the cluster's worker processes
        assert len(client.scheduler_info()["workers"]) == 2
    assert on_dask.best_params_ == serial.best_params_
    np.testing.assert_allclose(on_dask.cv_results_["mean_test_score"],
                               serial.cv_results_["mean_test_score"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(dask_cv, serial_cv, rtol=0, atol=1e-12)
    assert on_dask.best_score_ >= 0.9
