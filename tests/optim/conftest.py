"""Fixtures for the nn tests: run a test with one backend active."""
import pytest

import deepbio


@pytest.fixture
def be(backend):
    """The parametrised backend (see tests/conftest.py), made the active one."""
    with deepbio.use_backend(backend.name):
        yield backend
