"""The Numba CUDA kernels (``deepbio._kernels.numba``) against the NumPy reference.

Runs on Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``, set here before Numba is
imported; no GPU needed), or on a real GPU with ``DEEPBIO_GPU_TESTS=1``.  Skipped, with
the reason, where Numba or numba-cuda is not installed.  The simulator runs every CUDA
thread as a Python thread, so every shape here is tiny.

* every contract kernel, through the validated contract (``test_equivalence.check_call``:
  purity, output count / shape / dtype / contiguity / no aliasing, reference values), in
  float32 (1e-5) and float64 (1e-12, relative with a floor at the scale of the terms);
  every activation; conv and pooling under stride / padding variants and the named edge
  cases; max pooling with ties (the first maximum in window order wins) and NaNs;
* the tiled GEMM against NumPy: odd sizes spanning several tiles, every transpose,
  batches, a shared operand, a sum over the batch; the ``"xp"`` product too;
* Philox4x32-10: the Random123 known answers through the device function, the reference
  bit for bit;
* the package's own promises: it imports no Numba until asked, its ImportErrors say what
  to install, ``load()`` covers the contract with the reference's signatures.

Setting ``NUMBA_ENABLE_CUDASIM`` affects only Numba.  When something imported
``numba.cuda`` before this file (``tests/conftest.py`` does, listing backends), the
package builds its kernels with the simulator's ``jit`` instead (see its docstring), so
the order of imports does not matter.  ``DEEPBIO_PTX_CHECK=1`` also compiles every kernel
to PTX with the real CUDA compiler (needs libNVVM, about 30 s).
"""
import inspect
import os
import subprocess
import sys
import types

import numpy as np
import pytest

GPU = os.environ.get("DEEPBIO_GPU_TESTS") == "1"
_saved_sim = os.environ.get("NUMBA_ENABLE_CUDASIM")
if not GPU:
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"     # before Numba's first import
try:
    pytest.importorskip("numba", reason="Numba is not installed (pip install numba numba-cuda)")
    import deepbio._kernels.numba as nb
    try:
        KERNELS = nb.load()
    except ImportError as e:
        pytest.skip(f"deepbio's Numba kernels cannot run here: {e}", allow_module_level=True)
finally:                                         # the runtime is chosen: leave no trace
    if _saved_sim is None:
        os.environ.pop("NUMBA_ENABLE_CUDASIM", None)
    else:
        os.environ["NUMBA_ENABLE_CUDASIM"] = _saved_sim

from numba import cuda  # noqa: E402  (after the environment is set)

import deepbio.backend  # noqa: E402
from deepbio._kernels import ACTIVATIONS, CONTRACT, RNN_ACTIVATIONS, reference  # noqa: E402
from deepbio._kernels.numba import gemm, philox  # noqa: E402
from deepbio.testing import assert_close  # noqa: E402

from . import test_equivalence  # noqa: E402
from ._examples import EDGE_DIMS, OPTIM_EDGE_DIMS, edge_cases, make_args  # noqa: E402
from .test_equivalence import check_call  # noqa: E402

XP = nb.runtime().xp
DTYPES = [pytest.param(np.dtype(np.float32), id="float32"),
          pytest.param(np.dtype(np.float64), id="float64")]
RTOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12}


class _NumbaBackend(deepbio.backend.Backend):
    def to_numpy(self, x):
        return XP.asnumpy(x) if hasattr(XP, "asnumpy") else np.asarray(x)


BACKEND = _NumbaBackend("numba", XP, KERNELS, XP.ndarray,
                        "Numba CUDA kernels" + (" (simulator)" if nb.simulator() else ""))


@pytest.fixture(autouse=True)
def _tight_float64(monkeypatch):
    """check_call's float64 tolerance is 1e-10 for every backend; hold these to 1e-12."""
    monkeypatch.setitem(test_equivalence.RTOL, np.dtype(np.float64), RTOL[np.dtype(np.float64)])


def _host(a):
    return BACKEND.to_numpy(a)


def _check(name, dtype, dims=None, seed=0):
    check_call(BACKEND, name, make_args(name, dtype, np.random.default_rng(seed), dims))


# --------------------------------------------------------------------- the package


def test_runtime_is_the_one_asked_for():
    assert nb.simulator() is not GPU
    assert XP is (np if not GPU else __import__("cupy"))
    assert nb.available()


def test_load_covers_the_contract_with_the_reference_signatures():
    assert set(CONTRACT) <= set(KERNELS)
    for name in CONTRACT:
        want = list(inspect.signature(getattr(reference, name)).parameters)
        got = list(inspect.signature(KERNELS[name]).parameters)
        assert got == want, f"{name}{got} differs from the reference's {want}"


def _subprocess_env(**changes):
    """This process's environment, with this checkout of deepbio first on the path."""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    root = os.path.dirname(os.path.dirname(os.path.abspath(deepbio.backend.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    env.update(changes)
    return env


def test_importing_deepbio_or_the_package_imports_no_numba():
    code = ("import sys, deepbio, deepbio.backend, deepbio._kernels.numba as nb; "
            "assert 'numba' not in sys.modules, 'numba imported'; "
            "assert not [m for m in sys.modules if m.startswith('deepbio._kernels.numba.')]")
    subprocess.run([sys.executable, "-c", code], check=True, env=_subprocess_env(), timeout=120)


@pytest.mark.skipif(GPU, reason="simulator only")
def test_simulator_set_before_numba_is_imported():
    """The other way in (here numba.cuda was already imported, so jit is the simulator's)."""
    code = ("import numpy as np, deepbio._kernels.numba as nb\n"
            "from numba import cuda\n"
            "k = nb.load()\n"
            "assert nb.simulator() and nb.runtime().jit is cuda.jit\n"
            "x, w = np.arange(6.0).reshape(2, 3) - 2, np.ones((3, 2))\n"
            "print(k['dense_forward'](x, w, np.zeros(2), 'relu').tolist())")
    out = subprocess.run([sys.executable, "-c", code], check=True, timeout=300, text=True,
                         env=_subprocess_env(NUMBA_ENABLE_CUDASIM="1"),
                         capture_output=True).stdout
    assert out.strip() == "[[0.0, 0.0], [6.0, 6.0]]"


def _forget_runtime(monkeypatch):
    monkeypatch.setattr(nb, "_runtime", None)
    monkeypatch.setattr(nb, "_loaded", None)


def test_missing_numba_says_what_to_install(monkeypatch):
    _forget_runtime(monkeypatch)
    monkeypatch.setitem(sys.modules, "numba", None)
    with pytest.raises(ImportError, match="pip install numba numba-cuda"):
        nb.load()
    assert not nb.available() and not nb.simulator()


def test_no_gpu_and_no_simulator_says_so(monkeypatch):
    _forget_runtime(monkeypatch)
    monkeypatch.delenv("NUMBA_ENABLE_CUDASIM", raising=False)
    fake = types.ModuleType("numba")
    fake.cuda = types.ModuleType("numba.cuda")
    fake.cuda.is_available = lambda: False
    core = types.ModuleType("numba.cuda.core")
    core.config = types.SimpleNamespace(ENABLE_CUDASIM=0)
    for name, mod in (("numba", fake), ("numba.cuda", fake.cuda), ("numba.cuda.core", core)):
        monkeypatch.setitem(sys.modules, name, mod)
    with pytest.raises(ImportError, match="no usable CUDA GPU.*NUMBA_ENABLE_CUDASIM=1"):
        nb.load()


# ------------------------------------------------------------- every contract kernel

_ACT_KERNELS = ("activation_forward", "activation_backward", "dense_forward", "dense_backward")
_RNN_KERNELS = tuple(n for n in CONTRACT if n.startswith("elman"))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(set(CONTRACT) - set(_ACT_KERNELS) - set(_RNN_KERNELS)))
def test_kernel_matches_reference(name, dtype):
    _check(name, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("name", _ACT_KERNELS)
def test_every_activation(name, activation, dtype):
    _check(name, dtype, {"activation": activation})


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", RNN_ACTIVATIONS)
@pytest.mark.parametrize("name", sorted(_RNN_KERNELS))
def test_every_rnn_activation(name, activation, dtype):
    _check(name, dtype, {"rnn_activation": activation})


@pytest.mark.parametrize("dtype", DTYPES)
def test_free_energy_gaussian(dtype):
    _check("free_energy", dtype, {"gaussian": True})


#: Stride / padding variants for conv and pooling (pooling ignores the padding keys).
CONV_VARIANTS = {
    "stride 1, no padding": {"SH": 1, "SW": 1, "PH": 0, "PW": 0, "S": 1, "P": 0},
    "stride 2x3, padding 2x1": {"KH": 3, "KW": 2, "SH": 2, "SW": 3, "PH": 2, "PW": 1,
                                "K": 2, "S": 3, "P": 2},
    "overlapping windows": {"KH": 3, "KW": 3, "SH": 1, "SW": 2, "PH": 1, "PW": 1,
                            "K": 3, "S": 1, "P": 1},
}
_SPATIAL = sorted(n for n in CONTRACT if CONTRACT[n].family in ("conv", "pool"))


# Variants and edge cases test indexing, not rounding: float64 only (float32 runs the
# default shapes above).
@pytest.mark.parametrize("variant", sorted(CONV_VARIANTS))
@pytest.mark.parametrize("name", _SPATIAL)
def test_conv_pool_stride_padding(name, variant):
    _check(name, np.float64, CONV_VARIANTS[variant])


#: The edge cases of tests/kernels/_examples.py that change the shapes of each family.
_EDGE = {"conv": ("all sizes 1", "kernel as large as padded input", "stride larger than input"),
         "recurrent": ("all sizes 1", "sequence length 1", "no truncation, no R-op mask")}
_EDGE["pool"] = _EDGE["conv"]


@pytest.mark.parametrize("name,label", [
    pytest.param(name, label, id=f"{name}-{label.replace(' ', '_')}")
    for name in sorted(CONTRACT) for label, _ in edge_cases(name)
    if label in _EDGE.get(CONTRACT[name].family, ())])
def test_edge_cases(name, label):
    _check(name, np.float64, EDGE_DIMS[label], seed=7)


@pytest.mark.parametrize("name", sorted(n for n in CONTRACT if CONTRACT[n].family == "optim"))
def test_every_form_of_the_optimiser_updates(name):
    """Each update's every form (plain, Nesterov, AMSGrad, decoupled, centered, momentum;
    with and without the clipping scale and L2 decay) in place as the reference."""
    for label, dims in OPTIM_EDGE_DIMS.items():
        _check(name, np.float64, dims, seed=7)


# ---------------------------------------------------------------- max pooling ties


def _ties(shape, dtype, seed=0):
    """Values from {0, 1, 2}: most windows hold several equal maxima."""
    return np.random.default_rng(seed).integers(0, 3, shape).astype(dtype)


MAXPOOL_CASES = [((2, 2), (2, 2)), ((3, 2), (1, 1)), ((2, 3), (1, 2))]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kernel,stride", MAXPOOL_CASES)
def test_maxpool2d_ties_pick_the_first_maximum(kernel, stride, dtype):
    x = _ties((2, 2, 5, 6), dtype)
    y, am = KERNELS["maxpool2d_forward"](XP.asarray(x), kernel, stride)
    y_ref, am_ref = reference.maxpool2d_forward(x, kernel, stride)
    np.testing.assert_array_equal(_host(am), am_ref)
    np.testing.assert_array_equal(_host(y), y_ref)
    dy = np.random.default_rng(1).standard_normal(y_ref.shape).astype(dtype)
    dx = _host(KERNELS["maxpool2d_backward"](XP.asarray(dy), XP.asarray(am_ref), (5, 6)))
    dx_ref = reference.maxpool2d_backward(dy, am_ref, (5, 6))
    if kernel == stride:         # no overlap: at most one gradient per pixel, exactly
        np.testing.assert_array_equal(dx, dx_ref)
    else:                        # overlap: atomic additions in no fixed order
        assert_close(dx, dx_ref, RTOL[np.dtype(dtype)], floor=float(np.abs(dx_ref).max()),
                     name="maxpool2d_backward")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kernel,stride", [(2, 2), (3, 1), (7, 1)])
def test_maxpool1d_ties_pick_the_first_maximum(kernel, stride, dtype):
    x = _ties((2, 3, 7), dtype, seed=2)
    y, am = KERNELS["maxpool1d_forward"](XP.asarray(x), kernel, stride)
    y_ref, am_ref = reference.maxpool1d_forward(x, kernel, stride)
    np.testing.assert_array_equal(_host(am), am_ref)
    np.testing.assert_array_equal(_host(y), y_ref)
    dy = np.random.default_rng(3).standard_normal(y_ref.shape).astype(dtype)
    dx = _host(KERNELS["maxpool1d_backward"](XP.asarray(dy), XP.asarray(am_ref), 7))
    assert_close(dx, reference.maxpool1d_backward(dy, am_ref, 7), RTOL[np.dtype(dtype)],
                 floor=1.0, name="maxpool1d_backward")


def test_maxpool_nan_wins_its_window_like_argmax():
    x = np.arange(2 * 6, dtype=np.float64).reshape(1, 2, 6)
    x[0, 0, 1] = x[0, 1, 4] = np.nan
    y, am = KERNELS["maxpool1d_forward"](XP.asarray(x), 3, 1)
    y_ref, am_ref = reference.maxpool1d_forward(x, 3, 1)
    np.testing.assert_array_equal(_host(am), am_ref)
    np.testing.assert_array_equal(_host(y), y_ref)       # NaNs compare equal here


# ------------------------------------------------------------------- the tiled GEMM

GEMM_SIZES = [(1, 1, 1), (5, 7, 3), (9, 4, 6)]      # (M, K, N); TILE is 4 under the simulator


def _operands(m, k, n, trans_a, trans_b, dtype, batch=()):
    rng = np.random.default_rng(m * 100 + k * 10 + n)
    a = rng.standard_normal(batch + ((k, m) if trans_a else (m, k))).astype(dtype)
    b = rng.standard_normal(batch + ((n, k) if trans_b else (k, n))).astype(dtype)
    return a, b


def _op(x, trans):
    return np.swapaxes(x, -1, -2) if trans else x


def _gemm_close(got, want, dtype, k):
    assert got.dtype == dtype and got.flags.c_contiguous
    # each entry sums k products of O(1) terms: compare at that scale
    assert_close(_host(got), want, RTOL[np.dtype(dtype)], floor=max(1.0, np.sqrt(k)),
                 name="matmul")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("trans_b", [False, True], ids=["B", "BT"])
@pytest.mark.parametrize("trans_a", [False, True], ids=["A", "AT"])
@pytest.mark.parametrize("m,k,n", GEMM_SIZES)
def test_tiled_matmul(tiled_matmul, m, k, n, trans_a, trans_b, dtype):
    a, b = _operands(m, k, n, trans_a, trans_b, dtype)
    c = gemm.matmul(XP.asarray(a), XP.asarray(b), trans_a, trans_b)
    assert c.shape == (m, n)
    _gemm_close(c, _op(a, trans_a) @ _op(b, trans_b), dtype, k)


@pytest.mark.parametrize("dtype", DTYPES)
def test_tiled_matmul_batched(tiled_matmul, dtype):
    # a batch of 3 against a shared operand, both ways, and the sum over the batch
    a, b = _operands(5, 6, 3, False, True, dtype, batch=(3,))
    w = np.random.default_rng(9).standard_normal((4, 5)).astype(dtype)
    got = gemm.matmul(XP.asarray(w), XP.asarray(a))                       # (4,5) @ (3,5,6)
    _gemm_close(got, w @ a, dtype, 5)
    got = gemm.matmul(XP.asarray(a), XP.asarray(b), trans_b=True)          # (3,5,6) @ (3,6,3)
    _gemm_close(got, a @ np.swapaxes(b, 1, 2), dtype, 6)
    got = gemm.matmul(XP.asarray(a), XP.asarray(b), trans_b=True, sum_batch=True)
    assert got.shape == (5, 3)
    _gemm_close(got, np.einsum("zik,zjk->ij", a, b), dtype, 18)


def test_matmul_checks_its_operands():
    a = XP.zeros((3, 4))
    with pytest.raises(ValueError, match="inner sizes"):
        gemm.matmul(a, a)
    with pytest.raises(TypeError, match="dtypes"):
        gemm.matmul(a, XP.zeros((4, 2), dtype=np.float32))
    with pytest.raises(ValueError, match="batch sizes"):
        gemm.matmul(XP.zeros((2, 3, 4)), XP.zeros((3, 4, 2)))
    with pytest.raises(ValueError, match="tiled"):
        gemm.set_matmul("cublas")


def _use_matmul(name):
    before = gemm.get_matmul()
    gemm.set_matmul(name)
    yield
    gemm.set_matmul(before)


@pytest.fixture
def tiled_matmul():
    yield from _use_matmul("tiled")


@pytest.fixture
def xp_matmul():
    yield from _use_matmul("xp")


@pytest.mark.parametrize("dtype", DTYPES)
def test_xp_matmul_is_selectable(xp_matmul, dtype):
    assert nb.get_matmul() == "xp"
    a, b = _operands(5, 7, 3, True, True, dtype, batch=(2,))
    _gemm_close(gemm.matmul(XP.asarray(a), XP.asarray(b), True, True, sum_batch=True),
                np.einsum("zki,zjk->ij", a, b), dtype, 14)
    for name in ("dense_backward", "conv2d_backward_weight", "lstm_backward", "gru_backward"):
        _check(name, dtype)


# ------------------------------------------------------------------ Philox4x32-10

#: Random123 tests/kat_vectors, the philox4x32 10-round lines: counter, key, output.
KAT10 = [
    ((0x00000000, 0x00000000, 0x00000000, 0x00000000), (0x00000000, 0x00000000),
     (0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8)),
    ((0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff), (0xffffffff, 0xffffffff),
     (0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd)),
    ((0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344), (0xa4093822, 0x299f31d0),
     (0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1)),
]


@pytest.mark.parametrize("counter,key,want", KAT10)
def test_philox_known_answers(counter, key, want):
    got = _host(philox.philox_blocks(np.array([counter], np.uint32), np.array(key, np.uint32)))
    assert got.dtype == np.uint32
    assert tuple(int(v) for v in got[0]) == want


def _reference_fn(name):
    fn = getattr(reference, name, None)
    if fn is None:
        pytest.skip(f"reference.{name} is not there yet")
    return fn


def test_philox_blocks_match_the_reference_block_function():
    ref = _reference_fn("philox4x32_10")
    rng = np.random.default_rng(0)
    ctr = rng.integers(0, 2**32, (11, 4), dtype=np.uint32)
    key = rng.integers(0, 2**32, 2, dtype=np.uint32)
    np.testing.assert_array_equal(_host(philox.philox_blocks(ctr, key)), ref(ctr, key))


#: (n, seed, stream, offset): small, the 2^32 carry, the 2^64 wrap, high words only
PHILOX_CALLS = [(1, 0, 0, 0), (7, 1, 2, 3), (13, 2**64 - 1, 2**64 - 1, 2**64 - 1),
                (9, 12345, 0, 2**32 - 2), (22, 2**32, 2**32, 2**32),
                (37, 2**63 + 7, 5, 2**64 - 11)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n,seed,stream,offset", PHILOX_CALLS)
def test_philox_uniform_bit_exact(n, seed, stream, offset, dtype):
    ref = _reference_fn("philox_uniform")
    got = _host(KERNELS["philox_uniform"](n, seed, stream, offset, dtype))
    want = ref(n, seed, stream, offset, dtype)
    assert got.dtype == dtype and got.shape == (n,)
    np.testing.assert_array_equal(got.view(np.uint8), want.view(np.uint8))   # every bit


@pytest.mark.parametrize("dtype", DTYPES)
def test_philox_uniform_through_the_contract(dtype):
    if "philox_uniform" not in CONTRACT:
        pytest.skip("philox_uniform is not in the contract yet")
    for label, dims in edge_cases("philox_uniform"):
        _check("philox_uniform", dtype, dims)


def test_philox_uniform_rejects_bad_keys():
    with pytest.raises(ValueError, match="seed"):
        philox.philox_uniform(3, 2**64, 0, 0, np.float32)
    with pytest.raises(ValueError, match="offset"):
        philox.philox_uniform(3, 0, 0, -1, np.float32)
    with pytest.raises(TypeError, match="dtype"):
        philox.philox_uniform(3, 0, 0, 0, np.int32)


# A fused kernel drawing its uniforms in place: what the device function is for.
# u[i] = (x_0 >> 8) 2^-24 of block (i, 0, 0, 0) under key (7, 0)
@nb.runtime().jit
def _draw_in_place(out):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        x0, _, _, _ = philox.philox4x32_10(np.uint64(i), np.uint64(0), np.uint64(0),
                                           np.uint64(0), np.uint64(7), np.uint64(0))
        out[i] = out.dtype.type(x0 >> np.uint64(8)) * out.dtype.type(2.0 ** -24)


def test_philox_device_function_in_a_fused_kernel():
    out = XP.empty(9, dtype=np.float32)
    _draw_in_place[nb.launch(out.size)](out)
    want = philox.philox_uniform(36, 7, 0, 0, np.float32)[0::4]    # word 0 of blocks 0..8
    np.testing.assert_array_equal(_host(out), _host(want))


# ------------------------------------------------------ the real compiler (opt-in)


@pytest.mark.skipif(os.environ.get("DEEPBIO_PTX_CHECK") != "1",
                    reason="set DEEPBIO_PTX_CHECK=1 to compile every kernel to PTX (~30 s)")
def test_every_kernel_compiles_to_ptx():
    r = subprocess.run([sys.executable, "-m", "deepbio._kernels.numba._ptxcheck"],
                       env=_subprocess_env(),
                       capture_output=True, text=True, timeout=600)
    if "no libdevice" in r.stdout + r.stderr:
        pytest.skip("no libdevice / libNVVM here (set CUDA_HOME)")
    assert r.returncode == 0, r.stdout + r.stderr
