"""The ``cupy`` backend, end to end, without a GPU: CuPy replaced by the host build of the
CUDA C kernels (``tests/kernels/_cuda_host.py``: every ``.cu`` compiled by g++ through
``cuda_host.h``, launched through a ``RawModule`` stand-in), so the backend that
``deepbio.backend`` builds, with the real CuPy face ``deepbio._kernels.cuda`` and its
launch geometry, trains whole models; they must end where ``cython`` ends from the same
seed (``tests/_parity.py``).  The dropout masks and Gibbs samples are the same Philox
uniforms on both.

What this cannot check is CuPy itself on a device (memory, streams, cuBLAS): that is the
GPU run of the suite (``bench/gpu.py``, issue #13).
"""
import sys

import numpy as np
import pytest

import deepbio
from deepbio._kernels import CONTRACT, cuda

from . import _parity
from ._parity import needs_cython
from .kernels._cuda_host import GXX, build_host_library, fake_cupy


@pytest.fixture(scope="module")
def cupy_backend(tmp_path_factory):
    if GXX is None:
        pytest.skip("g++ not found on PATH")
    library = build_host_library(tmp_path_factory.mktemp("cupy_backend"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(sys.modules, "cupy", fake_cupy(library, set()))
        mp.delitem(deepbio.backend._cache, "cupy", raising=False)
        cuda.cache_clear()
        try:
            yield deepbio.backend.get("cupy")
        finally:
            deepbio.backend._cache.pop("cupy", None)
            cuda.cache_clear()


def test_the_backend_is_the_cuda_c_face(cupy_backend):
    assert cupy_backend.name == "cupy" and not cupy_backend.simulated
    assert cupy_backend.xp is sys.modules["cupy"]
    assert set(cupy_backend.kernels.raw) == set(CONTRACT)
    for name in CONTRACT:
        assert cupy_backend.kernels.raw[name] is getattr(cuda, name), name
    assert "cupy" in deepbio.backends()


def test_stream_uniforms_are_the_reference_philox(cupy_backend):
    from deepbio._kernels import reference
    u = cupy_backend.uniform(cupy_backend.stream(11, 2), (7, 3), "float32")
    np.testing.assert_array_equal(u.ravel(), reference.philox_uniform(21, 11, 2, 0, "float32"))


@needs_cython
@pytest.mark.parametrize("case", sorted(_parity.CASES))
def test_trains_to_the_weights_cython_gives(case, cupy_backend):
    _parity.CASES[case](cupy_backend)


def test_a_fitted_model_predicts_on_every_backend_and_saves_the_same_file(cupy_backend,
                                                                          tmp_path):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(24, 4))
    y = (X[:, 0] > 0).astype(int)
    with deepbio.use_backend("cupy"):
        model = deepbio.MLPClassifier((4,), max_iter=2, batch_size=8, dtype="float64",
                                      random_state=0).fit(X, y)
        p_gpu = model.predict_proba(X)
        deepbio.save(model, tmp_path / "gpu.safetensors")
    with deepbio.use_backend("numpy"):
        np.testing.assert_allclose(model.predict_proba(X), p_gpu, rtol=1e-12)
        again = deepbio.load(tmp_path / "gpu.safetensors")
        np.testing.assert_allclose(again.predict_proba(X), p_gpu, rtol=1e-12)


def test_bench_gpu_runs_on_the_backend(cupy_backend, tmp_path, capsys):
    """bench/gpu.py end to end at its tiny shapes (the timings mean nothing here: the
    kernels run on the host); every kernel's parity with the reference is met."""
    import os
    bench = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench")
    if not os.path.isdir(bench):
        pytest.skip("not a source checkout: bench/ is absent")
    sys.path.insert(0, bench)
    try:
        import gpu
    finally:
        sys.path.remove(bench)
    out = tmp_path / "gpu.md"
    assert gpu.main(["--tiny", "--backends", "cupy", "--markdown", str(out)]) == 0
    text = out.read_text()
    assert "Largest error per backend: cupy" in text and "(met)" in text
    for name in CONTRACT:
        assert f"| {name} " in text, name
    for step in ("lenet5", "lstm", "rbm_cd1"):
        assert f"| {step} " in text, step
