"""Checks that only concern the ``cython`` backend.

The backend-generic suite (``test_equivalence.py``) already compares every kernel with the
reference within the contract's tolerances.  Here:

* the compiled modules really provide the kernels (no reference function left in place);
* the thread count changes no result, at shapes large enough that the parallel paths run:
  1 and 2 OpenMP threads give bit-identical outputs; through ``deepbio.set_num_threads``
  (OpenMP and BLAS together) they agree to BLAS rounding;
* sampling kernels reproduce the reference's samples exactly, also at the boundaries
  (a uniform equal to the probability, ``u1 = 0``, ``u1`` just below 1): they use NumPy's
  own ``exp`` / ``log1p`` / ``cos`` loops and the reference's order of operations;
* a debug build (``DEEPBIO_DEBUG_BUILD=1`` at build time) has its bounds checks on.
"""
import os

import numpy as np
import pytest

import deepbio
import deepbio.backend
from deepbio._kernels import CONTRACT

cpu = pytest.importorskip("deepbio._kernels.cpu")
pytestmark = pytest.mark.skipif(not cpu.available(), reason="Cython kernels not compiled")

DTYPES = (np.float32, np.float64)
MINE = {"rbm", "dense", "recurrent"}


def _kernels(name):
    return deepbio.backend.get(name).kernels


@pytest.fixture
def small_step_grain():
    """Let the recurrent kernels split even small time steps among threads."""
    from deepbio._kernels.cpu import recurrent
    before = recurrent._set_step_grain(64)
    yield
    recurrent._set_step_grain(before)


@pytest.fixture
def threads():
    """Set the thread count inside a test; restore the previous setting after it."""
    before = deepbio.get_num_threads()
    yield deepbio.set_num_threads
    deepbio.set_num_threads(before)


def test_compiled_modules_provide_every_kernel():
    compiled = cpu.load()
    cy = _kernels("cython")
    for name, spec in CONTRACT.items():
        if spec.family not in MINE:
            continue
        assert name in compiled, f"{name} is not exported by a compiled module"
        assert cy.raw[name] is compiled[name]
        assert cy.raw[name].__module__.startswith("deepbio._kernels.cpu."), name


# ------------------------------------------------------------------------ threads


def _big_args(rng, dt):
    """Arguments for every RBM / dense / recurrent kernel, sized so that the element-wise
    loops run on several threads and BLAS splits its products."""
    def r(*s):
        return rng.standard_normal(s).astype(dt)

    def u(*s):
        return rng.random(s, dtype=dt)

    n, d, h = 192, 400, 360                # N D, N H > 2 * 32768: two threads
    t, rn, rd, rh = 6, 48, 20, 96          # recurrent: see _small_step_grain
    ref = _kernels("numpy")
    p = u(n, h) * 0.9 + 0.05
    out = {
        "sigmoid_bernoulli": [(r(n, d), u(n, d))],
        "gaussian_sample": [(r(n, d), u(d) + 0.5, u(n, d), u(n, d))],
        "cd_statistics": [(u(n, d), p, u(n, d), p[::-1].copy())],
        "free_energy": [(u(n, d), r(d, h) * 0.1, r(d), r(h), None),
                        (r(n, d), r(d, h) * 0.1, r(d), r(h), u(d) + 0.5)],
        "sparsity_grad": [(p, 0.1, 2.0)],
        "mask_corrupt": [(r(n, d), u(n, d), 0.25)],
        "gaussian_corrupt": [(r(n, d), u(n, d), u(n, d), 0.5)],
    }
    acts = ("linear", "sigmoid", "tanh", "relu", "softmax")
    out["activation_forward"] = [(r(n, d), a) for a in acts]
    out["activation_backward"] = [(ref.activation_forward(r(n, d), a), r(n, d), a) for a in acts]
    x, W, b = r(n, d), r(d, h) * 0.05, r(h)
    out["dense_forward"] = [(x, W, b, a) for a in acts]
    out["dense_backward"] = [(x, W, ref.dense_forward(x, W, b, a), r(n, h), a) for a in acts]
    X, h0, c0 = r(t, rn, rd), r(rn, rh), r(rn, rh)
    # end-padded rows of lengths in [1, t]; truncation windows of 3 real steps (keep = 0
    # where a real step starts one, as nn.recurrent's _carry_keep makes it)
    lengths = rng.integers(1, t + 1, rn)
    real = np.arange(t)[:, None] < lengths[None, :]
    m = real.astype(dt)
    keep = (~real | ((np.cumsum(real, axis=0) - 1) % 3 != 0)).astype(dt)
    for act in ("tanh", "relu"):
        Wx, Wh, bb = r(rd, rh) * 0.2, r(rh, rh) * 0.05, r(rh)
        hs = ref.elman_forward(X, h0, Wx, Wh, bb, act)
        out.setdefault("elman_forward", []).append((X, h0, Wx, Wh, bb, act))
        out.setdefault("elman_backward", []).append((r(t, rn, rh), X, h0, hs, Wx, Wh, act))
        out.setdefault("elman_step_forward", []).append((X[0], h0, Wx, Wh, bb, act))
        out.setdefault("elman_step_backward", []).append(
            (r(rn, rh), X[0], h0, hs[0], Wx, Wh, act))
        hs_m, hnew = ref.elman_forward_masked(X, h0, m, Wx, Wh, bb, act)
        out.setdefault("elman_forward_masked", []).append((X, h0, m, Wx, Wh, bb, act))
        out.setdefault("elman_backward_masked", []).extend(
            [(r(t, rn, rh), X, h0, hs_m, hnew, m, k, Wx, Wh, act) for k in (None, keep)])
        out.setdefault("elman_rop", []).extend(
            [(r(t, rn, rh), hnew, mm, Wh, act) for mm in (None, m)])
    Wx, Wh, bb = r(rd, 4 * rh) * 0.2, r(rh, 4 * rh) * 0.05, r(4 * rh)
    hs, cs, gs = ref.lstm_forward(X, h0, c0, Wx, Wh, bb)
    out["lstm_forward"] = [(X, h0, c0, Wx, Wh, bb)]
    out["lstm_backward"] = [(r(t, rn, rh), X, h0, c0, hs, cs, gs, Wx, Wh)]
    out["lstm_step_forward"] = [(X[0], h0, c0, Wx, Wh, bb)]
    out["lstm_step_backward"] = [(r(rn, rh), r(rn, rh), X[0], h0, c0, cs[0], gs[0], Wx, Wh)]
    hs_m, cs_m, cnew, gs_m = ref.lstm_forward_masked(X, h0, c0, m, Wx, Wh, bb)
    out["lstm_forward_masked"] = [(X, h0, c0, m, Wx, Wh, bb)]
    out["lstm_backward_masked"] = [(r(t, rn, rh), X, h0, c0, hs_m, cs_m, cnew, gs_m, m, k,
                                    Wx, Wh) for k in (None, keep)]
    out["lstm_rop"] = [(r(t, rn, 4 * rh), c0, cs_m, cnew, gs_m, mm, Wh) for mm in (None, m)]
    Wx, Wh, bb, bh = r(rd, 3 * rh) * 0.2, r(rh, 3 * rh) * 0.05, r(3 * rh), r(3 * rh)
    hs, gs, hn = ref.gru_forward(X, h0, Wx, Wh, bb, bh)
    out["gru_forward"] = [(X, h0, Wx, Wh, bb, bh)]
    out["gru_backward"] = [(r(t, rn, rh), X, h0, hs, gs, hn, Wx, Wh)]
    hs_m, _, gs_m, hn_m = ref.gru_forward_masked(X, h0, m, Wx, Wh, bb, bh)
    out["gru_forward_masked"] = [(X, h0, m, Wx, Wh, bb, bh)]
    out["gru_backward_masked"] = [(r(t, rn, rh), X, h0, hs_m, gs_m, hn_m, m, k, Wx, Wh)
                                  for k in (None, keep)]
    out["gru_rop"] = [(r(t, rn, 3 * rh), r(t, rn, 3 * rh), h0, hs_m, gs_m, hn_m, mm, Wh)
                      for mm in (None, m)]
    return out


def _run_all(cases):
    cy = _kernels("cython")
    return {name: [getattr(cy, name)(*args) for args in arg_list]
            for name, arg_list in cases.items()}


def _pairs(res1, res2):
    for name in res1:
        for one, two in zip(res1[name], res2[name]):
            one = one if isinstance(one, tuple) else (one,)
            two = two if isinstance(two, tuple) else (two,)
            for i, (a, b) in enumerate(zip(one, two)):
                yield f"{name} output {i}", a, b


@pytest.mark.parametrize("dt", DTYPES, ids=lambda d: np.dtype(d).name)
def test_openmp_threads_change_no_bit(dt, threads, small_step_grain):
    """1 or 2 OpenMP threads, BLAS held at one thread: bit-identical outputs (every
    parallel loop splits independent rows or columns, never a sum)."""
    if not cpu.build_info()["openmp"]:
        pytest.skip("built without OpenMP")
    from threadpoolctl import threadpool_limits
    cases = _big_args(np.random.default_rng(7), dt)
    assert {n for n, s in CONTRACT.items() if s.family in MINE} == set(cases)
    results = {}
    with threadpool_limits(limits=1, user_api="blas"):
        for n_threads in (1, 2):
            cpu.set_num_threads(n_threads)
            assert cpu.get_num_threads() == n_threads
            results[n_threads] = _run_all(cases)
    for what, a, b in _pairs(results[1], results[2]):
        np.testing.assert_array_equal(a, b, err_msg=f"{what}: 1 vs 2 OpenMP threads")


@pytest.mark.parametrize("dt", DTYPES, ids=lambda d: np.dtype(d).name)
def test_set_num_threads_one_or_two(dt, threads, small_step_grain):
    """``deepbio.set_num_threads`` 1 vs 2 (OpenMP and BLAS together): outputs that no
    matrix product touches are bit-identical; the others agree to BLAS rounding (OpenBLAS
    picks other GEMM kernels for one and for several threads)."""
    cases = _big_args(np.random.default_rng(8), dt)
    results = {}
    for n_threads in (1, 2):
        threads(n_threads)
        assert deepbio.get_num_threads() == n_threads
        results[n_threads] = _run_all(cases)
    no_blas = {"sigmoid_bernoulli", "gaussian_sample", "sparsity_grad", "mask_corrupt",
               "gaussian_corrupt", "activation_forward", "activation_backward"}
    eps = np.finfo(dt).eps
    for what, a, b in _pairs(results[1], results[2]):
        if what.split()[0] in no_blas:
            np.testing.assert_array_equal(a, b, err_msg=f"{what}: 1 vs 2 threads")
        else:
            scale = max(float(np.max(np.abs(a))), 1.0)
            np.testing.assert_allclose(a, b, rtol=0, atol=64 * eps * scale,
                                       err_msg=f"{what}: 1 vs 2 threads")


# ------------------------------------------------------------ exact sampling parity


@pytest.mark.parametrize("dt", DTYPES, ids=lambda d: np.dtype(d).name)
def test_bernoulli_samples_exact_even_at_the_boundary(dt):
    rng = np.random.default_rng(1)
    ref, cy = _kernels("numpy"), _kernels("cython")
    x = (rng.standard_normal((64, 300)) * 6).astype(dt)
    x[0, :5] = [0, -0.0, 50, -50, 1e-3]
    p_ref, _ = ref.sigmoid_bernoulli(x, np.zeros_like(x))
    # uniforms equal to p, one ulp either side of it, and random ones
    u = np.stack([p_ref, np.nextafter(p_ref, 0), np.nextafter(p_ref, 1),
                  rng.random(x.shape, dtype=dt)])
    u = np.clip(u, 0, np.nextafter(dt(1), 0)).astype(dt)
    for uu in u:
        want, got = ref.sigmoid_bernoulli(x, uu), cy.sigmoid_bernoulli(x, uu)
        np.testing.assert_array_equal(got[0], want[0])      # p bit for bit
        np.testing.assert_array_equal(got[1], want[1])      # samples exactly


@pytest.mark.parametrize("dt", DTYPES, ids=lambda d: np.dtype(d).name)
def test_gaussian_samples_exact(dt):
    rng = np.random.default_rng(2)
    ref, cy = _kernels("numpy"), _kernels("cython")
    shape = (37, 513)
    u1, u2 = rng.random(shape, dtype=dt), rng.random(shape, dtype=dt)
    one_minus = np.nextafter(dt(1), dt(0))
    u1[0, :4] = [0, one_minus, 0.5, np.finfo(dt).tiny]
    u2[0, :4] = [0, one_minus, 0.25, 0.75]
    mean = rng.standard_normal(shape).astype(dt)
    sigma = (rng.random(shape[1]) + 0.1).astype(dt)
    np.testing.assert_array_equal(cy.gaussian_sample(mean, sigma, u1, u2),
                                  ref.gaussian_sample(mean, sigma, u1, u2))
    for std in (0.0, 0.1, 1.7):
        np.testing.assert_array_equal(cy.gaussian_corrupt(mean, u1, u2, std),
                                      ref.gaussian_corrupt(mean, u1, u2, std))


@pytest.mark.parametrize("dt", DTYPES, ids=lambda d: np.dtype(d).name)
def test_mask_exact_at_the_boundary(dt):
    rng = np.random.default_rng(3)
    ref, cy = _kernels("numpy"), _kernels("cython")
    x = rng.standard_normal((50, 70)).astype(dt)
    for p in (0.0, 0.3, 0.1 + 0.2, 1.0):
        pf = dt(p)     # the reference compares u >= p in the array's precision
        u = rng.choice(np.array([pf, np.nextafter(pf, 0), np.nextafter(pf, 1), 0, 0.9],
                                dtype=dt), size=x.shape)
        np.testing.assert_array_equal(cy.mask_corrupt(x, u, p), ref.mask_corrupt(x, u, p))


@pytest.mark.parametrize("dt", DTYPES, ids=lambda d: np.dtype(d).name)
def test_elementwise_kernels_match_the_reference_bit_for_bit(dt):
    """No matrix product is involved, so nothing may differ, not even the last bit."""
    rng = np.random.default_rng(4)
    ref, cy = _kernels("numpy"), _kernels("cython")
    z = (rng.standard_normal((41, 257)) * 5).astype(dt)
    da = rng.standard_normal(z.shape).astype(dt)
    for act in ("linear", "sigmoid", "tanh", "relu", "softmax"):
        a = ref.activation_forward(z, act)
        np.testing.assert_array_equal(cy.activation_forward(z, act), a, err_msg=act)
        np.testing.assert_array_equal(cy.activation_backward(a, da, act),
                                      ref.activation_backward(a, da, act), err_msg=act)
    s = (rng.random(z.shape) * 0.3).astype(dt)
    for got, want in zip(cy.sparsity_grad(s, 0.05, 3.0), ref.sparsity_grad(s, 0.05, 3.0)):
        np.testing.assert_array_equal(got, want)


# -------------------------------------------------------------------- debug build


@pytest.mark.skipif(os.environ.get("DEEPBIO_DEBUG_BUILD", "") not in ("1", "true", "yes", "on"),
                    reason="only in the debug-build test pass (DEEPBIO_DEBUG_BUILD=1)")
def test_debug_build_has_bounds_checks():
    assert cpu.build_info()["debug"], "DEEPBIO_DEBUG_BUILD is set but the extensions are a " \
                                      "release build: rebuild with it set"
    raw = _kernels("cython").raw
    mean = np.zeros((3, 5))
    u = np.full((3, 5), 0.5)
    # sigma shorter than the rows: the validation layer would refuse this; unvalidated,
    # the debug build must stop at the first out-of-range index instead of reading past it
    with pytest.raises(IndexError):
        raw["gaussian_sample"](mean, np.ones(2), u, u)
