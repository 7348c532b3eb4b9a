"""Shared fixtures: every backend, both float dtypes, and the hypothesis profiles.

* ``backend``: parametrised over :func:`deepbio.backends` at collection time, so a newly
  installed backend (cython, cupy, numba) runs the whole suite with no edit here.  The
  test ids are the backend names: ``pytest -k cython`` runs one backend.
* ``dtype``: ``numpy.float32`` and ``numpy.float64``.
* hypothesis profiles: ``ci`` (the default; few examples, derandomised, so the kernel suite
  runs in a few minutes on two cores and the same examples run every time) and ``dev``
  (many random examples).  Pick one with ``HYPOTHESIS_PROFILE=dev``.
* Cross-checks against PyTorch call ``pytest.importorskip("torch")``: without torch only
  they are skipped.
"""
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import deepbio
import deepbio.backend

settings.register_profile(
    "ci", deadline=None, max_examples=12, derandomize=True, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile(
    "dev", deadline=None, max_examples=200, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

BACKENDS = deepbio.backends()


@pytest.fixture(scope="session", params=BACKENDS, ids=BACKENDS)
def backend(request):
    """Each usable backend object in turn (``backend.kernels``, ``backend.xp``, ...)."""
    return deepbio.backend.get(request.param)


@pytest.fixture(scope="session")
def reference():
    """The ``numpy`` backend: the reference every backend is compared with."""
    return deepbio.backend.get("numpy")


@pytest.fixture(scope="session", params=[np.float32, np.float64], ids=["float32", "float64"])
def dtype(request):
    return np.dtype(request.param)


@pytest.fixture(scope="session")
def torch():
    """PyTorch, for cross-checks; a test that asks for it is skipped where torch is missing."""
    return pytest.importorskip("torch")
