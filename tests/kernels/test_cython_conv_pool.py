"""Checks of the Cython convolution and pooling kernels that the generic suite does not make.

``test_equivalence.py`` already compares every kernel with the reference at small random
shapes.  Here:

* large shapes (LeNet-5, one-hot DNA, padded and strided 3x3 layers): equal to the
  reference within the contract's tolerances;
* each code path of ``conv.pyx`` runs: images shared among threads (N >= threads), rows
  of one image shared (N < threads), the 1x1 / stride 1 / no padding path that skips
  im2col, padding wider than the kernel, strides wider than the kernel;
* the thread count changes no result: with OpenMP alone set to 1, 2 or 3 threads every
  output is bit-identical (the weight gradient is summed over chunks of the batch fixed by
  the shapes, not by the threads); through ``deepbio.set_num_threads`` (BLAS too) they agree
  to rounding;
* max pooling ties, NaN and infinities are handled as ``numpy.argmax`` does (first maximum
  in row-major window order; the first NaN wins), on the unrolled 2x2 path and the general
  one.
"""
import numpy as np
import pytest

import deepbio
import deepbio.backend
from deepbio._kernels import CONTRACT
from deepbio.testing import assert_close

cpu = pytest.importorskip("deepbio._kernels.cpu")
pytestmark = pytest.mark.skipif(not cpu.available(), reason="Cython kernels not compiled")

RTOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-10}
DTYPES = (np.float32, np.float64)


def _k(name):
    return deepbio.backend.get(name).kernels


@pytest.fixture
def omp_threads():
    """Set the OpenMP thread count only (BLAS unchanged); restore it afterwards."""
    before = cpu.get_num_threads()
    yield cpu.set_num_threads
    cpu.set_num_threads(before)


@pytest.fixture
def threads():
    """Set OpenMP and BLAS threads together; restore the previous setting afterwards."""
    before = deepbio.get_num_threads()
    yield deepbio.set_num_threads
    deepbio.set_num_threads(before)


def _as_tuple(out):
    return out if isinstance(out, tuple) else (out,)


def _compare(name, args, kwargs=None):
    """Run ``name`` on both backends and compare every output with the reference."""
    kwargs = kwargs or {}
    got = _as_tuple(getattr(_k("cython"), name)(*args, **kwargs))
    want = _as_tuple(getattr(_k("numpy"), name)(*args, **kwargs))
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        assert g.shape == w.shape and g.dtype == w.dtype, (name, i, g.shape, w.shape)
        assert g.flags.c_contiguous
        if w.dtype == np.int64:
            np.testing.assert_array_equal(g, w, err_msg=f"{name} output {i}")
        else:
            assert_close(g, w, RTOL[w.dtype], name=f"{name} output {i}")
    return got


# ---------------------------------------------------------------- convolution shapes

# (N, C, H, W, F, KH, KW, stride, padding)
CONV2D = {
    "lenet_conv1": (64, 1, 28, 28, 6, 5, 5, (1, 1), (0, 0)),
    "lenet_conv2": (64, 6, 12, 12, 16, 5, 5, (1, 1), (0, 0)),
    "padded_3x3": (8, 16, 20, 18, 12, 3, 3, (1, 1), (1, 1)),
    "strided_padded": (5, 3, 31, 29, 7, 5, 3, (2, 3), (2, 1)),
    "one_by_one": (6, 24, 9, 11, 10, 1, 1, (1, 1), (0, 0)),
    "one_by_one_strided": (4, 8, 9, 9, 5, 1, 1, (2, 2), (0, 0)),
    "padding_wider_than_kernel": (3, 2, 3, 4, 3, 2, 2, (1, 1), (3, 2)),
    "stride_wider_than_kernel": (3, 4, 17, 15, 5, 2, 3, (5, 4), (1, 0)),
    "kernel_as_large_as_input": (4, 3, 7, 6, 2, 7, 6, (1, 1), (0, 0)),
    "single_image": (1, 5, 16, 16, 8, 3, 3, (1, 1), (1, 1)),
    "two_images": (2, 3, 10, 10, 4, 3, 3, (1, 1), (1, 1)),
}


def _conv2d_args(rng, dt, n, c, h, w, f, kh, kw, stride, padding):
    x = rng.standard_normal((n, c, h, w)).astype(dt)
    wt = rng.standard_normal((f, c, kh, kw)).astype(dt)
    b = rng.standard_normal(f).astype(dt)
    y = _k("numpy").conv2d_forward(x, wt, b, stride, padding)
    dy = rng.standard_normal(y.shape).astype(dt)
    return x, wt, b, dy


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("case", list(CONV2D), ids=list(CONV2D))
def test_conv2d_matches_reference_at_large_and_odd_shapes(case, dtype, omp_threads):
    n, c, h, w, f, kh, kw, stride, padding = CONV2D[case]
    x, wt, b, dy = _conv2d_args(np.random.default_rng(0), dtype, *CONV2D[case])
    for nt in (1, 2, 3):       # 3 > N for 1 or 2 images: rows of one image are shared
        omp_threads(nt)
        _compare("conv2d_forward", (x, wt, b, stride, padding))
        _compare("conv2d_backward_input", (dy, wt, (h, w), stride, padding))
        _compare("conv2d_backward_weight", (dy, x, (kh, kw), stride, padding))


# (N, C, L, F, K, stride, padding)
CONV1D = {
    "one_hot_dna": (64, 4, 200, 32, 12, 1, 0),
    "protein_padded": (9, 20, 57, 16, 7, 1, 3),
    "strided": (5, 4, 101, 8, 9, 4, 2),
    "single_sequence": (1, 4, 30, 6, 5, 2, 1),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("case", list(CONV1D), ids=list(CONV1D))
def test_conv1d_matches_reference_at_large_and_odd_shapes(case, dtype, omp_threads):
    n, c, length, f, k, s, p = CONV1D[case]
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, c, length)).astype(dtype)
    w = rng.standard_normal((f, c, k)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype)
    y = _k("numpy").conv1d_forward(x, w, b, s, p)
    dy = rng.standard_normal(y.shape).astype(dtype)
    for nt in (1, 2):
        omp_threads(nt)
        _compare("conv1d_forward", (x, w, b, s, p))
        _compare("conv1d_backward_input", (dy, w, length, s, p))
        _compare("conv1d_backward_weight", (dy, x, k, s, p))


# ------------------------------------------------------------------- thread counts


def _all_conv_pool_calls(rng, dt):
    """One call of each conv / pool kernel at a shape where the parallel paths run."""
    ref = _k("numpy")
    calls = []
    for n, c, h, w, f, kh, kw, stride, padding in (CONV2D["padded_3x3"], CONV2D["single_image"],
                                                   CONV2D["two_images"], CONV2D["lenet_conv2"]):
        x, wt, b, dy = _conv2d_args(rng, dt, n, c, h, w, f, kh, kw, stride, padding)
        calls += [("conv2d_forward", (x, wt, b, stride, padding)),
                  ("conv2d_backward_input", (dy, wt, (h, w), stride, padding)),
                  ("conv2d_backward_weight", (dy, x, (kh, kw), stride, padding))]
    x = rng.standard_normal((33, 4, 120)).astype(dt)
    w = rng.standard_normal((8, 4, 9)).astype(dt)
    b = rng.standard_normal(8).astype(dt)
    dy = rng.standard_normal(ref.conv1d_forward(x, w, b, 2, 3).shape).astype(dt)
    calls += [("conv1d_forward", (x, w, b, 2, 3)),
              ("conv1d_backward_input", (dy, w, 120, 2, 3)),
              ("conv1d_backward_weight", (dy, x, 9, 2, 3))]
    x2 = rng.standard_normal((7, 5, 24, 23)).astype(dt)
    for kern, stride in (((2, 2), (2, 2)), ((3, 3), (1, 2))):
        y, am = ref.maxpool2d_forward(x2, kern, stride)
        g = rng.standard_normal(y.shape).astype(dt)
        calls += [("maxpool2d_forward", (x2, kern, stride)),
                  ("maxpool2d_backward", (g, am, (24, 23))),
                  ("avgpool2d_forward", (x2, kern, stride)),
                  ("avgpool2d_backward", (g, (24, 23), kern, stride))]
    x1 = rng.standard_normal((6, 7, 50)).astype(dt)
    y, am = ref.maxpool1d_forward(x1, 4, 3)
    g = rng.standard_normal(y.shape).astype(dt)
    calls += [("maxpool1d_forward", (x1, 4, 3)), ("maxpool1d_backward", (g, am, 50)),
              ("avgpool1d_forward", (x1, 4, 3)), ("avgpool1d_backward", (g, 50, 4, 3))]
    return calls


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_openmp_thread_count_changes_no_bit(dtype, omp_threads):
    calls = _all_conv_pool_calls(np.random.default_rng(2), dtype)
    cy = _k("cython")
    results = {}
    for nt in (1, 2, 3):
        omp_threads(nt)
        results[nt] = [_as_tuple(getattr(cy, name)(*args)) for name, args in calls]
    for nt in (2, 3):
        for (name, _), one, many in zip(calls, results[1], results[nt]):
            for i, (a, b) in enumerate(zip(one, many)):
                np.testing.assert_array_equal(a, b, err_msg=f"{name} output {i}: 1 vs {nt} "
                                                            f"OpenMP threads")


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_set_num_threads_agrees_to_rounding(dtype, threads):
    calls = _all_conv_pool_calls(np.random.default_rng(3), dtype)
    cy = _k("cython")
    results = {}
    for nt in (1, 2):
        threads(nt)
        results[nt] = [_as_tuple(getattr(cy, name)(*args)) for name, args in calls]
    for (name, _), one, two in zip(calls, results[1], results[2]):
        for i, (a, b) in enumerate(zip(one, two)):
            if a.dtype == np.int64:
                np.testing.assert_array_equal(a, b, err_msg=f"{name} output {i}")
            else:
                assert_close(b, a, RTOL[a.dtype], name=f"{name} output {i}, 2 vs 1 threads")


# ----------------------------------------------------------- max pooling: ties, NaN, inf


def _special_planes(dt, h, w):
    """Planes of x full of ties, NaNs and infinities in every position of a window."""
    rng = np.random.default_rng(4)
    planes = [np.zeros((h, w)), np.ones((h, w)),                      # all ties
              rng.integers(0, 3, (h, w)).astype(float),                # many ties
              np.full((h, w), -np.inf), np.full((h, w), np.inf)]
    for value in (np.nan, np.inf, -np.inf):
        for pos in range(6):
            p = rng.integers(0, 2, (h, w)).astype(float)
            p.reshape(-1)[pos::5] = value
            planes.append(p)
    p = np.full((h, w), np.nan)
    planes.append(p)
    mixed = rng.standard_normal((h, w))
    mixed.reshape(-1)[::3] = np.inf
    mixed.reshape(-1)[1::7] = -np.inf
    mixed.reshape(-1)[2::11] = np.nan
    planes.append(mixed)
    return np.stack(planes)[None].astype(dt)                       # (1, C, H, W)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("kernel,stride", [((2, 2), (2, 2)), ((2, 2), (1, 1)),
                                           ((3, 2), (2, 1)), ((1, 4), (1, 3))],
                         ids=["2x2_s2", "2x2_s1", "3x2", "1x4"])
def test_maxpool_ties_nan_inf_as_numpy_argmax(dtype, kernel, stride):
    x = _special_planes(dtype, 8, 9)
    with np.errstate(invalid="ignore"):
        y, am = _compare("maxpool2d_forward", (x, kernel, stride))
        x1 = np.ascontiguousarray(x.reshape(x.shape[0], x.shape[1], -1))
        _compare("maxpool1d_forward", (x1, kernel[1], stride[1]))
    g = np.random.default_rng(5).standard_normal(y.shape).astype(dtype)
    _compare("maxpool2d_backward", (g, am, x.shape[2:]))


def test_every_conv_pool_kernel_is_compiled():
    compiled = cpu.load()
    for name, spec in CONTRACT.items():
        if spec.family in ("conv", "pool"):
            assert name in compiled, name
            assert _k("cython").raw[name].__module__ in ("deepbio._kernels.cpu.conv",
                                                         "deepbio._kernels.cpu.pool"), name
