"""Fixtures for the model tests: run inside each usable backend, and the bundled data
split once (fixed seeds, stratified held-out test sets)."""
import numpy as np
import pytest

import deepbio
from deepbio.datasets import load_breast_cancer, load_digits, train_test_split


@pytest.fixture
def on_backend(backend):
    """Make ``backend`` (parametrised over every usable backend) the active one."""
    with deepbio.use_backend(backend.name):
        yield backend


#: the fastest usable backend, for the slower quality tests (run once, not per backend)
FAST = "cython" if "cython" in deepbio.backends() else "numpy"


@pytest.fixture
def fast_backend():
    """Make the fastest usable backend the active one."""
    with deepbio.use_backend(FAST):
        yield FAST


@pytest.fixture(scope="session")
def digits_split():
    """Digits scaled to [0, 1]; 75 / 25 stratified split, seed 0."""
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16.0, y, test_size=0.25, stratify=y, random_state=0)


@pytest.fixture(scope="session")
def cancer_split():
    """Breast cancer standardised with the training statistics; 75 / 25 stratified, seed 0."""
    X, y = load_breast_cancer(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
    mean, std = Xtr.mean(axis=0), Xtr.std(axis=0)
    return (Xtr - mean) / std, (Xte - mean) / std, ytr, yte


@pytest.fixture(scope="session")
def small_binary():
    """A small binary data set for fast API tests: (X (120, 10), y (120,))."""
    rng = np.random.default_rng(0)
    X = (rng.random((120, 10)) < 0.4).astype(float)
    y = (X[:, 0] + X[:, 1] + rng.random(120) * 0.5 > 1).astype(int)
    return X, y
