"""Fixtures for the optimiser tests: run a test with one backend active; the ``slow``
marker (long demonstrations, e.g. Hessian-free on the addition problem at T = 100;
deselect them with ``-m "not slow"``)."""
import pytest

import deepbio


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slow: a long demonstration (minutes on two cores); deselect with "
                   "-m 'not slow'")


@pytest.fixture
def be(backend):
    """The parametrised backend (see tests/conftest.py), made the active one."""
    with deepbio.use_backend(backend.name):
        yield backend
