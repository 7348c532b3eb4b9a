"""Sampling kernels: the same uniforms give every backend the reference's samples, and the
samples have the distribution they claim.

Statistical checks use a fixed seed (so they are deterministic) and tolerances of six
standard errors for the sample size, far from both a flaky and a vacuous test: a wrong
probability, mean or variance of a few percent fails them.
"""
import numpy as np
import pytest
from scipy import stats

import deepbio.backend
from deepbio.testing import assert_close

REF = deepbio.backend.get("numpy").kernels
SE = 6.0          # tolerances in standard errors


def _u(backend, seed, shape, dtype):
    return backend.uniform(backend.rng(seed), shape, dtype)


def _host(backend, out):
    return tuple(backend.to_numpy(o) for o in out) if isinstance(out, tuple) \
        else backend.to_numpy(out)


# ------------------------------------------------------- same uniforms, same samples


def test_bernoulli_samples_equal_reference(backend, dtype):
    rng = np.random.default_rng(0)
    x = (3 * rng.standard_normal((300, 40))).astype(dtype)
    u = rng.random(x.shape, dtype=dtype)
    p, s = _host(backend, backend.kernels.sigmoid_bernoulli(backend.asarray(x),
                                                            backend.asarray(u)))
    p_ref, s_ref = REF.sigmoid_bernoulli(x, u)
    assert set(np.unique(s)) <= {0.0, 1.0}
    np.testing.assert_array_equal(s, (u < p).astype(dtype))
    # a sample may only differ where u lies within rounding of p
    near = np.abs(u.astype(np.float64) - p_ref) <= 4 * np.finfo(dtype).eps
    assert near.sum() <= 2
    np.testing.assert_array_equal(s[~near], s_ref[~near])


def test_mask_samples_equal_reference_exactly(backend, dtype):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((200, 30)).astype(dtype)
    u = rng.random(x.shape, dtype=dtype)
    for p in (0.0, 0.3, 1.0):
        got = _host(backend, backend.kernels.mask_corrupt(backend.asarray(x),
                                                          backend.asarray(u), p))
        np.testing.assert_array_equal(got, REF.mask_corrupt(x, u, p))


@pytest.mark.parametrize("kernel", ["gaussian_sample", "gaussian_corrupt"])
def test_gaussian_samples_equal_reference(backend, dtype, kernel):
    rng = np.random.default_rng(2)
    shape = (200, 30)
    x = rng.standard_normal(shape).astype(dtype)
    u1, u2 = rng.random(shape, dtype=dtype), rng.random(shape, dtype=dtype)
    if kernel == "gaussian_sample":
        sigma = rng.uniform(0.5, 2, shape[1]).astype(dtype)
        args = (x, sigma, u1, u2)
    else:
        args = (x, u1, u2, 0.7)
    B = backend.asarray
    got = _host(backend, getattr(backend.kernels, kernel)(
        *(B(a) if isinstance(a, np.ndarray) else a for a in args)))
    want = getattr(REF, kernel)(*args)
    rtol = 1e-5 if dtype == np.float32 else 1e-10
    assert_close(got, want, rtol, floor=max(1.0, float(np.abs(want).max())), name=kernel)


# ---------------------------------------------------------------- distributions


def test_bernoulli_frequency(backend, dtype):
    n, probs = 40000, np.array([0.02, 0.1, 0.5, 0.9, 0.999])
    x = np.broadcast_to(np.log(probs / (1 - probs)), (n, probs.size)).astype(dtype)
    u = _u(backend, 3, x.shape, dtype)
    p, s = _host(backend, backend.kernels.sigmoid_bernoulli(backend.asarray(x), u))
    np.testing.assert_allclose(p[0], probs, rtol=1e-5)
    freq = s.mean(axis=0, dtype=np.float64)
    se = np.sqrt(probs * (1 - probs) / n)
    assert np.all(np.abs(freq - probs) <= SE * se), (freq, probs, se)


def test_bernoulli_extremes(backend, dtype):
    big = 80.0 if dtype == np.float32 else 800.0
    x = np.array([[-big, big, 0.0]], dtype=dtype)
    u = np.array([[0.0, np.nextafter(dtype.type(1), dtype.type(0)), 0.5]], dtype=dtype)
    p, s = _host(backend, backend.kernels.sigmoid_bernoulli(backend.asarray(x),
                                                            backend.asarray(u)))
    assert np.all(np.isfinite(p))
    assert p[0, 0] < 1e-30 and p[0, 2] == 0.5
    assert p[0, 1] > u[0, 1]                    # sigmoid(big) rounds to 1 > largest uniform
    np.testing.assert_array_equal(s, (u < p).astype(dtype))
    assert s[0, 1] == 1.0 and s[0, 2] == 0.0


def test_box_muller_standard_normal(backend, dtype):
    n = 200000
    u1, u2 = _u(backend, 4, (n, 1), dtype), _u(backend, 5, (n, 1), dtype)
    zero = backend.asarray(np.zeros((n, 1), dtype=dtype))
    z = _host(backend, backend.kernels.gaussian_sample(
        zero, backend.asarray(np.ones(1, dtype=dtype)), u1, u2)).astype(np.float64).ravel()
    assert np.all(np.isfinite(z))
    assert abs(z.mean()) <= SE / np.sqrt(n)
    assert abs(z.var() - 1) <= SE * np.sqrt(2 / n)
    assert abs(stats.skew(z)) <= SE * np.sqrt(6 / n)
    assert stats.kstest(z, "norm").pvalue > 1e-6


def test_gaussian_sample_mean_and_sigma(backend, dtype):
    n = 50000
    mean = np.array([-2.0, 0.0, 3.0], dtype=dtype)
    sigma = np.array([0.5, 1.0, 2.0], dtype=dtype)
    m = np.broadcast_to(mean, (n, 3)).astype(dtype)
    v = _host(backend, backend.kernels.gaussian_sample(
        backend.asarray(m), backend.asarray(sigma), _u(backend, 6, (n, 3), dtype),
        _u(backend, 7, (n, 3), dtype))).astype(np.float64)
    assert np.all(np.abs(v.mean(0) - mean) <= SE * sigma / np.sqrt(n))
    assert np.all(np.abs(v.var(0) / sigma.astype(np.float64) ** 2 - 1) <= SE * np.sqrt(2 / n))


def test_gaussian_corrupt_noise(backend, dtype):
    n, std = 50000, 0.3
    x = np.random.default_rng(8).standard_normal((n, 2)).astype(dtype)
    out = _host(backend, backend.kernels.gaussian_corrupt(
        backend.asarray(x), _u(backend, 9, x.shape, dtype), _u(backend, 10, x.shape, dtype),
        std))
    noise = (out.astype(np.float64) - x) / std
    assert np.all(np.abs(noise.mean(0)) <= SE / np.sqrt(n))
    assert np.all(np.abs(noise.var(0) - 1) <= SE * np.sqrt(2 / n))
    zero = _host(backend, backend.kernels.gaussian_corrupt(
        backend.asarray(x), _u(backend, 9, x.shape, dtype), _u(backend, 10, x.shape, dtype), 0.0))
    np.testing.assert_array_equal(zero, x)


def test_box_muller_extreme_uniforms_are_finite(backend, dtype):
    top = np.nextafter(dtype.type(1), dtype.type(0))
    u1 = np.array([[0.0, top, 0.5, top]], dtype=dtype)
    u2 = np.array([[0.0, 0.0, top, 0.25]], dtype=dtype)
    z = _host(backend, backend.kernels.gaussian_sample(
        backend.asarray(np.zeros_like(u1)), backend.asarray(np.ones(4, dtype)),
        backend.asarray(u1), backend.asarray(u2)))
    assert np.all(np.isfinite(z))
    assert z[0, 0] == 0.0                        # u1 = 0 gives radius 0
    assert abs(z[0, 1]) > 5                      # u1 -> 1 gives the far tail


@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 0.95, 1.0])
def test_mask_zero_fraction(backend, dtype, p):
    n = 100000
    x = np.full((n, 1), 2.5, dtype=dtype)
    out = _host(backend, backend.kernels.mask_corrupt(
        backend.asarray(x), _u(backend, 11, x.shape, dtype), p))
    assert set(np.unique(out)) <= {0.0, 2.5}     # kept entries are unchanged
    frac = float((out == 0).mean())
    if p in (0.0, 1.0):
        assert frac == p
    else:
        assert abs(frac - p) <= SE * np.sqrt(p * (1 - p) / n)
