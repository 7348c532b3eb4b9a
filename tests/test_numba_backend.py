"""The ``numba`` backend, end to end, on Numba's CUDA simulator (no GPU needed).

Trajectory parity (issue #13, ``tests/_parity.py``): a model trained on ``numba`` from
one seed ends with the weights ``cython`` gives, within float64 rounding.  The Gibbs samples and dropout masks
come from the same Philox stream on both backends (drawn by each one's own
``philox_uniform`` kernel, bit for bit alike), the shuffles and initialisations from the
same host generator; the kernels differ only in the order of their sums.
Shapes are tiny: the simulator runs one Python thread per CUDA thread.

``DEEPBIO_GPU_TESTS=1`` runs the same tests on a real GPU instead.
"""
import os

import numpy as np
import pytest

import deepbio

from . import _parity
from ._parity import needs_cython

pytest.importorskip("numba")


@pytest.fixture(scope="module")
def numba_backend():
    import deepbio._kernels.numba as numba_kernels

    def forget():
        numba_kernels._runtime = numba_kernels._loaded = None    # decide afresh
        deepbio.backend._cache.pop("numba", None)
    simulate = os.environ.get("DEEPBIO_GPU_TESTS") != "1"
    old = os.environ.get("NUMBA_ENABLE_CUDASIM")
    if simulate:
        os.environ["NUMBA_ENABLE_CUDASIM"] = "1"
        forget()
    try:
        yield deepbio.backend.get("numba")
    except deepbio.BackendError as e:
        pytest.skip(str(e))
    finally:
        if simulate:     # later tests see the machine as it is (no simulated GPU)
            if old is None:
                os.environ.pop("NUMBA_ENABLE_CUDASIM", None)
            else:
                os.environ["NUMBA_ENABLE_CUDASIM"] = old
            forget()


def test_the_backend_says_where_it_runs(numba_backend):
    assert numba_backend.name == "numba"
    assert "Numba CUDA kernels" in numba_backend.description
    assert numba_backend.simulated == (numba_backend.xp is np)
    if numba_backend.simulated:
        assert "simulator" in numba_backend.description
    assert set(numba_backend.kernels.raw) == set(deepbio._kernels.CONTRACT)


@needs_cython
@pytest.mark.parametrize("case", sorted(_parity.CASES))
def test_trains_to_the_weights_cython_gives(case, numba_backend):
    _parity.CASES[case](numba_backend)


def test_the_benchmarks_do_not_time_a_simulated_backend(numba_backend, capsys):
    """A backend on the simulator is usable (the test suite runs on it) but never timed:
    one Python thread per CUDA thread made `deepbio bench` run for hours."""
    if not numba_backend.simulated:
        pytest.skip("the numba backend runs on a real GPU here")
    import sys
    bench = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench")
    if not os.path.isdir(bench):
        pytest.skip("not a source checkout: bench/ is absent")
    sys.path.insert(0, bench)
    try:
        from _timing import timed_backends
    finally:
        sys.path.remove(bench)
    assert "numba" in deepbio.backends()
    timed = timed_backends()
    assert "numba" not in timed and set(timed) == set(deepbio.backends()) - {"numba"}
    assert "'numba' runs on a simulator here: not timed" in capsys.readouterr().err
