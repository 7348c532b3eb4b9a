"""Trajectory parity: a model trained on a GPU backend from one seed ends with the weights
``cython`` gives (issue #13).  Shared by the ``numba`` (simulator) and ``cupy`` (host
build of the CUDA C kernels) backend tests; float64, so the only differences are the
order of the sums inside the kernels.  Shapes are tiny: both stand-ins are slow.
"""
import numpy as np
import pytest

import deepbio
from deepbio import CNNClassifier, MLPClassifier, RBM, RNNClassifier

needs_cython = pytest.mark.skipif("cython" not in deepbio.backends(),
                                  reason="the Cython kernels are not compiled")
TOL = {"rtol": 1e-10, "atol": 1e-12}


def _fit(name, make, *args):
    with deepbio.use_backend(name):
        return make().fit(*args)


def _same(be, got, want):
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(be.to_numpy(g), w, **TOL)


def rbm_one_epoch(be):
    X = (np.random.default_rng(0).random((20, 6)) < 0.4).astype(float)
    make = lambda: RBM(n_components=4, n_iter=1, batch_size=10, dtype="float64",  # noqa: E731
                       random_state=0)
    a, b = _fit(be.name, make, X), _fit("cython", make, X)
    names = ("W_", "intercept_visible_", "intercept_hidden_")
    _same(be, [getattr(a, n) for n in names], [getattr(b, n) for n in names])


def mlp_few_steps(be, dropout=False):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    kw = {"dropout": 0.3} if dropout else {}
    make = lambda: MLPClassifier((5,), max_iter=2, batch_size=10, dtype="float64",  # noqa: E731
                                 random_state=0, **kw)
    a, b = _fit(be.name, make, X, y), _fit("cython", make, X, y)
    _same(be, a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))


def lstm_few_steps(be):
    rng = np.random.default_rng(2)
    X = np.eye(3)[rng.integers(0, 3, size=(12, 5))]          # one-hot sequences (N, T, D)
    y = (X[:, :, 0].sum(axis=1) > 1).astype(int)
    make = lambda: RNNClassifier(cell="lstm", units=3, max_iter=1, batch_size=6,  # noqa: E731
                                 dtype="float64", random_state=0)
    a, b = _fit(be.name, make, X, y), _fit("cython", make, X, y)
    _same(be, a.params_, b.params_)


def cnn_few_steps(be):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(8, 1, 6, 6))
    y = (X[:, 0, :3].sum(axis=(1, 2)) > 0).astype(int)
    make = lambda: CNNClassifier(filters=(2,), kernel_size=3, pool_size=2,  # noqa: E731
                                 hidden_layer_sizes=(3,), dropout=0.25, max_iter=1,
                                 batch_size=4, dtype="float64", random_state=0)
    a, b = _fit(be.name, make, X, y), _fit("cython", make, X, y)
    _same(be, a.params_, b.params_)


#: Every parity case by name: ``CASES[name](backend)`` trains on ``backend`` and on
#: ``cython`` and asserts the same weights.
CASES = {
    "rbm_one_epoch": rbm_one_epoch,
    "mlp_few_steps": mlp_few_steps,
    "mlp_with_dropout": lambda be: mlp_few_steps(be, dropout=True),
    "lstm_few_steps": lstm_few_steps,
    "cnn_with_dropout": cnn_few_steps,
}
