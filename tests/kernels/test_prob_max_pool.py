"""Probabilistic max-pooling (reference.prob_max_pool and its Cython face): the
probabilities equal brute-force enumeration of every block state, samples follow them,
and the Cython face equals the reference."""
import itertools

import numpy as np
import pytest

from deepbio._kernels import cpu, reference


def _enumerate_block(vals):
    """P(unit j on), P(pool on) of one block by summing exp(s . I) over all 2^c binary
    states, those with two or more units on excluded by the pooling constraint."""
    c = len(vals)
    on, total = np.zeros(c), 0.0
    for s in itertools.product((0, 1), repeat=c):
        s = np.array(s, float)
        if s.sum() > 1:
            continue                     # excluded by the pooling constraint
        wgt = np.exp(s @ vals)
        total += wgt
        on += wgt * s
    return on / total, on.sum() / total


@pytest.mark.parametrize("block", [(1, 1), (2, 2), (1, 3), (2, 1)])
def test_prob_max_pool_probabilities_equal_enumeration(block):
    rng = np.random.default_rng(0)
    c0, c1 = block
    x = rng.normal(0, 3, (2, 3, 2 * c0, 2 * c1))
    x[0, 0, :c0, :c1] += 800.0                         # overflow without the max shift
    u = rng.random((2, 3, 2, 2))
    p, pp, s, ps = reference.prob_max_pool(x, u, block)
    for n, k, a, b in itertools.product(range(2), range(3), range(2), range(2)):
        blk = x[n, k, a * c0:(a + 1) * c0, b * c1:(b + 1) * c1]
        if blk.max() > 700:
            vals = blk.ravel() - blk.max()
            want_on = np.exp(vals) / np.exp(vals).sum()   # off state's weight underflows
            want_pool = 1.0
        else:
            want_on, want_pool = _enumerate_block(blk.ravel())
        np.testing.assert_allclose(p[n, k, a * c0:(a + 1) * c0, b * c1:(b + 1) * c1].ravel(),
                                   want_on, rtol=1e-12, atol=1e-300)
        np.testing.assert_allclose(pp[n, k, a, b], want_pool, rtol=1e-12)
    assert np.all(np.isfinite(p))
    # at most one unit on per block, and the pooling unit is on exactly when one is
    blocks = s.reshape(2, 3, 2, c0, 2, c1).sum(axis=(3, 5))
    assert set(np.unique(blocks)) <= {0.0, 1.0}
    np.testing.assert_array_equal(blocks, ps)


def test_prob_max_pool_samples_follow_the_multinomial():
    rng = np.random.default_rng(1)
    x = np.tile(np.array([[0.5, -1.0], [1.5, 0.0]]), (1, 1, 1, 1))
    n = 200000
    xs = np.broadcast_to(x, (n, 1, 2, 2)).copy()
    u = rng.random((n, 1, 1, 1))
    p, pp, s, ps = reference.prob_max_pool(xs, u, 2)
    freq = s.mean(axis=0)[0]
    se = np.sqrt(p[0, 0] * (1 - p[0, 0]) / n)
    assert np.all(np.abs(freq - p[0, 0]) < 5 * se)
    assert abs(ps.mean() - pp[0, 0, 0, 0]) < 5 * np.sqrt(pp[0, 0, 0, 0] * (1 - pp[0, 0, 0, 0]) / n)


@pytest.mark.skipif(not cpu.available(), reason="Cython kernels not compiled")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("block", [(2, 2), (3, 1), (1, 1)])
def test_prob_max_pool_cython_equals_reference(dtype, block):
    from deepbio._kernels.cpu import probpool
    rng = np.random.default_rng(2)
    c0, c1 = block
    x = rng.normal(0, 2, (3, 4, 4 * c0, 3 * c1)).astype(dtype)
    u = rng.random((3, 4, 4, 3)).astype(dtype)
    want = reference.prob_max_pool(x, u, block)
    got = probpool.prob_max_pool(x, u, block)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for g, w in zip(got, want):
        assert g.dtype == dtype and g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol)
    np.testing.assert_array_equal(got[2], want[2])
    np.testing.assert_array_equal(got[3], want[3])


@pytest.mark.skipif(not cpu.available(), reason="Cython kernels not compiled")
def test_prob_max_pool1d_matches_2d_and_cython():
    from deepbio._kernels.cpu import probpool
    rng = np.random.default_rng(3)
    x = rng.normal(0, 2, (2, 3, 12))
    u = rng.random((2, 3, 4))
    want = reference.prob_max_pool1d(x, u, 3)
    got = probpool.prob_max_pool1d(x, u, 3)
    two = reference.prob_max_pool(x[..., None], u[..., None], (3, 1))
    for g, w, t in zip(got, want, two):
        np.testing.assert_allclose(g, w, rtol=1e-12)
        np.testing.assert_array_equal(w, t[..., 0])


@pytest.mark.parametrize("impl", ["reference", "cython"])
def test_prob_max_pool_bad_shapes(impl):
    if impl == "cython" and not cpu.available():
        pytest.skip("Cython kernels not compiled")
    from deepbio._kernels.cpu import probpool
    f = reference.prob_max_pool if impl == "reference" else probpool.prob_max_pool
    x = np.zeros((1, 1, 4, 4))
    with pytest.raises(ValueError, match="multiple of block"):
        f(x, np.zeros((1, 1, 1, 1)), 3)
    with pytest.raises(ValueError, match="u must have shape"):
        f(x, np.zeros((1, 1, 1, 1)), 2)


def test_probpool_is_an_extra_module_outside_the_contract():
    from deepbio._kernels import CONTRACT
    assert "probpool" in cpu.EXTRA_MODULES
    assert "prob_max_pool" not in CONTRACT
    with pytest.raises(ValueError, match="unknown extra kernel module"):
        cpu.load_extra("nope")
    if cpu.available():
        assert cpu.load_extra("probpool").prob_max_pool.__module__ == \
            "deepbio._kernels.cpu.probpool"
