"""The CUDA C kernels (``deepbio/_kernels/cuda/*.cu``) and their CuPy face, without a GPU.

No CUDA C line ships that no test ran:

(a) every ``.cu`` file, with every kernel instantiated for float and double (the name
    expressions of ``cuda.SOURCES``), compiles with ``nvcc`` for sm_80 and sm_90 with every
    warning an error (front end and ptxas); skipped only where nvcc is not installed;
    and, where NVRTC can be loaded (CuPy plus libnvrtc on the library path), with NVRTC
    exactly as the face calls it, with an empty compiler log;
(b) the same sources compile for the host through ``cuda_host.h`` (g++, C++20, -Wall
    -Wextra -Werror) into one shared library with an ``extern "C"`` launch shim per name
    expression, and run through ctypes: a stand-in ``cupy`` module (NumPy arrays, and a
    ``RawModule`` whose kernels are those shims) lets the real CuPy face
    (``deepbio._kernels.cuda``) run unchanged, so every contract kernel is checked as the
    equivalence suite checks a backend (purity, output shapes / dtypes / fresh memory,
    equality with the NumPy reference; Philox bit for bit), in float32 and float64, on the
    example arguments and every named edge case.  The launch geometry is shrunk (8 threads
    a block, 4 a row block, at most 3 blocks) so that every grid-stride loop really strides.
    The stand-in checks each launch's arguments against the kernel's parameter types (a
    float64 array where the kernel reads float, an int64 where it takes int, a
    non-contiguous array: all errors), which CuPy itself would not.

Compiled artifacts are built once per test session (tmp_path_factory), in parallel.
"""
import concurrent.futures
import inspect
import os
import re
import shutil
import sys

import numpy as np
import pytest

import deepbio.backend
from deepbio._kernels import CONTRACT, cuda, reference

from ._cuda_host import (CUDA_DIR, FAMILIES, GXX, build_host_library, fake_cupy,
                         name_expressions)
from ._cuda_host import run as _run
from ._examples import edge_cases, make_args
from .test_equivalence import check_call
from .test_philox import KAT10

NVCC = shutil.which("nvcc")
NVCC_FLAGS = ["-std=c++17", "-gencode", "arch=compute_80,code=sm_80",
              "-gencode", "arch=compute_90,code=sm_90", "-fatbin",
              "-Werror", "all-warnings", "-Xptxas", "-Werror"]


def _parallel(jobs):
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        futures = {key: pool.submit(fn) for key, fn in jobs.items()}
        return {key: f.result() for key, f in futures.items()}


# ---------------------------------------------------------------- (a) nvcc, sm_80 and sm_90


@pytest.fixture(scope="session")
def nvcc_results(tmp_path_factory):
    if NVCC is None:
        pytest.skip("nvcc not found on PATH (the CUDA toolkit is not installed)")
    out = tmp_path_factory.mktemp("nvcc")
    jobs = {}
    for family in FAMILIES:
        src = out / f"{family}_all.cu"
        refs = ", ".join(f"(void*)&{e}" for e in name_expressions(family))
        src.write_text(f'#include "{family}.cu"\n'
                       "extern void* const deepbio_instances[];\n"
                       f"void* const deepbio_instances[] = {{{refs}}};\n")
        cmd = [NVCC, *NVCC_FLAGS, f"-I{CUDA_DIR}", "-o", str(out / f"{family}.fatbin"),
               str(src)]
        jobs[family] = (lambda cmd=cmd: _run(cmd, out))
    return _parallel(jobs)


@pytest.mark.parametrize("family", FAMILIES)
def test_nvcc_compiles_for_sm80_and_sm90_without_warnings(nvcc_results, family):
    rc, log = nvcc_results[family]
    assert rc == 0, f"nvcc {' '.join(NVCC_FLAGS)} failed on {family}.cu:\n{log}"


# ------------------------------------------------- (a') NVRTC, as the CuPy face compiles


def _nvrtc():
    try:
        from cupy_backends.cuda.libs import nvrtc
        nvrtc.getVersion()
    except Exception as e:            # no CuPy, or no libnvrtc on the library path
        pytest.skip(f"NVRTC is not loadable here ({type(e).__name__}: {e})")
    return nvrtc


@pytest.mark.parametrize("family", FAMILIES)
def test_nvrtc_compiles_with_the_face_options(family):
    """The exact code, options and name expressions the face gives cupy.RawModule (CuPy
    adds --device-as-default-execution-space and the -arch); an empty compiler log."""
    nvrtc = _nvrtc()
    code = (CUDA_DIR / f"{family}.cu").read_text()
    names = name_expressions(family)
    for arch in ("80", "90"):
        prog = nvrtc.createProgram(code, f"{family}.cu", (), ())
        try:
            for e in names:
                nvrtc.addNameExpression(prog, e)
            try:
                nvrtc.compileProgram(prog, cuda.OPTIONS + (
                    f"-arch=sm_{arch}", "--device-as-default-execution-space"))
            except Exception as e:
                pytest.fail(f"NVRTC sm_{arch} {family}.cu: {e}\n{nvrtc.getProgramLog(prog)}")
            assert nvrtc.getProgramLog(prog).strip() == "", nvrtc.getProgramLog(prog)
            assert all(nvrtc.getLoweredName(prog, e) for e in names)
        finally:
            nvrtc.destroyProgram(prog)


# ----------------------------------------------------------------- (b) the host build


@pytest.fixture(scope="session")
def host_library(tmp_path_factory):
    if GXX is None:
        pytest.skip("g++ not found on PATH")
    return build_host_library(tmp_path_factory.mktemp("cuda_host"))


@pytest.fixture(scope="session")
def launched():
    """Every name expression launched during the session."""
    return set()


@pytest.fixture
def host_cuda(host_library, launched, monkeypatch):
    """The CuPy face running on the host build, with a tiny launch geometry."""
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy(host_library, launched))
    monkeypatch.setattr(cuda, "THREADS", 8)
    monkeypatch.setattr(cuda, "ROW_THREADS", 4)
    monkeypatch.setattr(cuda, "MAX_BLOCKS", 3)
    cuda.cache_clear()
    yield deepbio.backend.Backend("cuda-host", np, cuda.load(), np.ndarray,
                                  "CUDA C kernels compiled for the host")
    cuda.cache_clear()


def test_every_global_kernel_is_listed_in_sources():
    """A kernel written in a .cu file but missing from SOURCES would never be compiled by
    the face, nor tested here."""
    for family in FAMILIES:
        text = (CUDA_DIR / f"{family}.cu").read_text()
        defined = set(re.findall(r"__global__\s+void\s+(\w+)", text))
        listed = {e.split("<")[0] for e in cuda.SOURCES[family]}
        assert defined <= listed, f"{family}.cu: {sorted(defined - listed)} not in SOURCES"
        assert listed - {"column_sums"} <= defined, sorted(listed - defined)


def test_face_has_the_reference_signatures():
    for name in CONTRACT:
        fn = getattr(cuda, name)
        assert list(inspect.signature(fn).parameters) == \
            list(inspect.signature(getattr(reference, name)).parameters), name


@pytest.mark.parametrize("name", sorted(CONTRACT))
def test_kernel_equals_reference(host_cuda, name, dtype):
    """Examples and every named edge case, through the contract's validation."""
    check_call(host_cuda, name, make_args(name, dtype, np.random.default_rng(0)))
    for label, dims in edge_cases(name):
        check_call(host_cuda, name, make_args(name, dtype, np.random.default_rng(7), dims))


@pytest.mark.parametrize("activation", ["linear", "sigmoid", "tanh", "relu", "softmax"])
def test_dense_on_every_activation(host_cuda, activation, dtype):
    rng = np.random.default_rng(1)
    for name in ("activation_forward", "activation_backward", "dense_forward",
                 "dense_backward"):
        check_call(host_cuda, name, make_args(name, dtype, rng, {"activation": activation,
                                                                  "D": 9, "H": 11}))


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_elman_on_both_activations(host_cuda, activation, dtype):
    rng = np.random.default_rng(2)
    for name in ("elman_step_forward", "elman_step_backward", "elman_forward",
                 "elman_backward", "elman_forward_masked", "elman_backward_masked",
                 "elman_rop"):
        check_call(host_cuda, name, make_args(name, dtype, rng, {"rnn_activation": activation}))


@pytest.mark.parametrize("name", ["elman_forward_masked", "elman_backward_masked", "elman_rop",
                                  "lstm_forward_masked", "lstm_backward_masked", "lstm_rop",
                                  "gru_forward", "gru_backward", "gru_forward_masked",
                                  "gru_backward_masked", "gru_rop"])
def test_masked_recurrent_at_the_real_block_size(host_cuda, monkeypatch, name, dtype):
    """Masked / truncated / R-op kernels with 256-thread blocks on rows wider than a block,
    full BPTT and truncated, the R-op with and without a mask."""
    monkeypatch.setattr(cuda, "THREADS", 256)
    rng = np.random.default_rng(6)
    for opts in ({"N": 5, "H": 70, "T": 4}, {"N": 5, "H": 70, "T": 4, "bptt": 0,
                                              "rop_mask": False}):
        check_call(host_cuda, name, make_args(name, dtype, rng, opts))


def test_free_energy_with_gaussian_visibles(host_cuda, dtype):
    check_call(host_cuda, "free_energy",
               make_args("free_energy", dtype, np.random.default_rng(3), {"gaussian": True}))


def test_philox_known_answers(host_cuda):
    for _, counter, key, want in KAT10:
        got = cuda.philox4x32_10(np.array([counter], np.uint32), key)
        assert tuple(int(v) for v in got[0]) == want


def test_philox_long_draw_is_bit_exact(host_cuda, dtype):
    got = host_cuda.kernels.philox_uniform(1001, 2**64 - 2, 9, 2**64 - 100, dtype)
    np.testing.assert_array_equal(got, reference.philox_uniform(1001, 2**64 - 2, 9,
                                                                2**64 - 100, dtype))


def test_row_kernels_at_the_real_block_size(host_cuda, monkeypatch, dtype):
    """The GPU geometry (a block of ROW_THREADS = 128 per row, 256 threads elsewhere): the
    reductions then span rows shorter and longer than the block."""
    monkeypatch.setattr(cuda, "THREADS", 256)
    monkeypatch.setattr(cuda, "ROW_THREADS", 128)
    rng = np.random.default_rng(4)
    for d in (3, 300):
        for name in ("activation_forward", "activation_backward"):
            check_call(host_cuda, name, make_args(name, dtype, rng,
                                                  {"activation": "softmax", "D": d}))
        check_call(host_cuda, "free_energy", make_args("free_energy", dtype, rng,
                                                        {"gaussian": True, "D": d, "H": d}))


def test_stand_in_catches_a_wrong_argument_type(host_cuda):
    """The harness itself: a float64 array where the kernel reads float is an error."""
    k = cuda._fn("rbm", "sigmoid_bernoulli<{T}>", np.float32)
    x = np.zeros((2, 2))
    with pytest.raises(AssertionError, match="reads float32"):
        k((1,), (8,), (x, x, x, x, np.int64(4)))
    with pytest.raises(AssertionError, match="takes int64"):
        f = np.zeros((2, 2), np.float32)
        k((1,), (8,), (f, f, f, f, np.int32(4)))


def test_every_kernel_was_launched_in_both_dtypes(host_cuda, launched):
    """Runs every contract kernel once per dtype (and each activation), then checks that
    every name expression of every .cu file has run."""
    rng = np.random.default_rng(5)
    for dt in (np.float32, np.float64):
        for name in CONTRACT:
            for opts in ({}, {"activation": "softmax"}, {"gaussian": True}):
                getattr(host_cuda.kernels, name)(**make_args(name, dt, rng, opts))
    cuda.philox4x32_10(np.zeros((1, 4), np.uint32), (0, 0))
    every = {e for f in FAMILIES for e in name_expressions(f)}
    assert every <= launched, f"never launched: {sorted(every - launched)}"


# ------------------------------------------------------------------- load() without a GPU


def test_load_without_cupy_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)
    with pytest.raises(ImportError, match="cupy-cuda13x"):
        cuda.load()


def test_load_without_a_gpu_says_so():
    cupy = pytest.importorskip("cupy")
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception:
        n = 0
    if n > 0:
        pytest.skip("a GPU is present")
    cuda.cache_clear()
    with pytest.raises(RuntimeError, match="GPU"):
        cuda.load()
