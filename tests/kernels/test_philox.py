"""Philox4x32-10 and ``philox_uniform``: known answers, the keying rule, every backend bit-exact.

* The block function against the Random123 known-answer vectors (``tests/kat_vectors`` of
  the Random123 distribution, the ``philox4x32`` lines; columns: counter (4 words), key
  (2 words), expected output (4 words)), and against a scalar pure-Python Philox written
  here from the paper's round equations.
* ``philox_uniform`` on every backend equals the reference bit for bit, both dtypes, at
  counters that cross 2^32 and wrap past 2^64 - 1, and at ``n`` not a multiple of 4.
* The keying rule's promises: fresh offsets continue a stream, streams and seeds differ,
  values lie on the 2^-24 / 2^-53 grid in [0, 1); uniformity at a fixed key.
"""
import numpy as np
import pytest
from scipy import stats

from deepbio._kernels import reference

# (rounds, counter, key, expected): Random123 tests/kat_vectors, philox4x32 lines
KAT = [
    (7, (0x00000000, 0x00000000, 0x00000000, 0x00000000), (0x00000000, 0x00000000),
     (0x5f6fb709, 0x0d893f64, 0x4f121f81, 0x4f730a48)),
    (7, (0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff), (0xffffffff, 0xffffffff),
     (0x5207ddc2, 0x45165e59, 0x4d8ee751, 0x8c52f662)),
    (7, (0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344), (0xa4093822, 0x299f31d0),
     (0x4dfccaba, 0x190a87f0, 0xc47362ba, 0xb6b5242a)),
    (10, (0x00000000, 0x00000000, 0x00000000, 0x00000000), (0x00000000, 0x00000000),
     (0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8)),
    (10, (0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff), (0xffffffff, 0xffffffff),
     (0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd)),
    (10, (0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344), (0xa4093822, 0x299f31d0),
     (0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1)),
]
KAT10 = [k for k in KAT if k[0] == 10]

MASK = 0xFFFFFFFF


def philox_py(counter, key, rounds=10):
    """Philox4x32 on Python ints, one block: the round equations of Salmon et al. (2011)."""
    c0, c1, c2, c3 = counter
    k0, k1 = key
    for r in range(rounds):
        if r:
            k0, k1 = (k0 + 0x9E3779B9) & MASK, (k1 + 0xBB67AE85) & MASK
        p0, p1 = 0xD2511F53 * c0, 0xCD9E8D57 * c2
        c0, c1, c2, c3 = (p1 >> 32) ^ c1 ^ k0, p1 & MASK, (p0 >> 32) ^ c3 ^ k1, p0 & MASK
    return c0, c1, c2, c3


def philox_uniform_py(n, seed, stream, offset, dtype):
    """The keying rule, element by element on Python ints (see reference.philox_uniform)."""
    key = (seed & MASK, seed >> 32)
    out = []
    for i in range(n):
        per = 4 if np.dtype(dtype) == np.float32 else 2
        j = (offset + i // per) % 2**64
        x = philox_py((j & MASK, j >> 32, stream & MASK, stream >> 32), key)
        if per == 4:
            out.append((x[i % 4] >> 8) / 2**24)
        else:
            a, b = x[2 * (i % 2)], x[2 * (i % 2) + 1]
            out.append(((a >> 5) * 2**26 + (b >> 6)) / 2**53)
    return np.array(out, dtype=dtype)


def _cython():
    from deepbio._kernels import cpu
    if not cpu.available():
        pytest.skip("deepbio._kernels.cpu is not compiled here")
    return __import__("deepbio._kernels.cpu.philox", fromlist=["philox"])


# ----------------------------------------------------------------- block function


@pytest.mark.parametrize("rounds,counter,key,want", KAT)
def test_known_answers(rounds, counter, key, want):
    got = reference.philox4x32_10(np.array([counter], np.uint32), np.array(key, np.uint32),
                                  rounds=rounds)
    assert got.dtype == np.uint32 and got.shape == (1, 4)
    assert tuple(int(v) for v in got[0]) == want
    assert philox_py(counter, key, rounds) == want


def test_known_answers_cython():
    philox = _cython()
    ctr = np.array([k[1] for k in KAT10], np.uint32)
    for i, (_, counter, key, want) in enumerate(KAT10):
        got = philox.philox4x32_10(ctr[i:i + 1], np.array(key, np.uint32))
        assert tuple(int(v) for v in got[0]) == want


def test_block_function_matches_scalar_python_on_random_counters():
    rng = np.random.default_rng(0)
    ctr = rng.integers(0, 2**32, (64, 4), dtype=np.uint32)
    key = rng.integers(0, 2**32, 2, dtype=np.uint32)
    got = reference.philox4x32_10(ctr, key)
    want = [philox_py(tuple(map(int, c)), tuple(map(int, key))) for c in ctr]
    np.testing.assert_array_equal(got, np.array(want, np.uint32))


def test_block_function_checks_its_arguments():
    with pytest.raises(ValueError, match="counter"):
        reference.philox4x32_10(np.zeros((2, 3), np.uint32), np.zeros(2, np.uint32))
    with pytest.raises(TypeError, match="uint32"):
        reference.philox4x32_10(np.zeros((2, 4), np.int64), np.zeros(2, np.uint32))


# --------------------------------------------------- philox_uniform: the keying rule

#: (n, seed, stream, offset): small, the 2^32 carry, the 2^64 wrap, high words only
CALLS = [
    (1, 0, 0, 0),
    (7, 1, 2, 3),
    (13, 2**64 - 1, 2**64 - 1, 2**64 - 1),
    (9, 12345, 0, 2**32 - 2),
    (22, 2**32, 2**32, 2**32),
    (101, 2**63 + 7, 5, 2**64 - 11),
]


@pytest.mark.parametrize("n,seed,stream,offset", CALLS)
def test_reference_follows_the_keying_rule(n, seed, stream, offset, dtype):
    got = reference.philox_uniform(n, seed, stream, offset, dtype)
    want = philox_uniform_py(n, seed, stream, offset, dtype)
    assert got.dtype == dtype and got.shape == (n,)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("n,seed,stream,offset", CALLS + [(200_003, 99, 1, 2**64 - 5000)])
def test_every_backend_is_bit_exact(backend, n, seed, stream, offset, dtype):
    """Through the contract (validated) on every backend; the last case is large enough to
    run the Cython kernel on several OpenMP threads."""
    got = backend.to_numpy(backend.kernels.philox_uniform(n, seed, stream, offset, dtype))
    want = reference.philox_uniform(n, seed, stream, offset, dtype)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("threads", [1, 2])
def test_cython_is_bit_exact_on_any_thread_count(threads, dtype):
    _cython()
    from deepbio._kernels import cpu
    before = cpu.get_num_threads()
    cpu.set_num_threads(threads)
    try:
        got = cpu.load()["philox_uniform"](300_001, 7, 2**40, 2**32 - 100, dtype)
    finally:
        cpu.set_num_threads(before)
    np.testing.assert_array_equal(got, reference.philox_uniform(300_001, 7, 2**40,
                                                                2**32 - 100, dtype))


def test_offset_continues_the_stream(backend, dtype):
    """Drawing n then m from offset + ceil(n / per_block) equals drawing n + m at once when
    n fills whole blocks; otherwise the tail of the last block is skipped."""
    k = backend.kernels
    per = 4 if dtype == np.float32 else 2

    def draw(n, offset):
        return backend.to_numpy(k.philox_uniform(n, 42, 7, offset, dtype))

    for n, m, offset in [(8, 5, 0), (4 * 3, 9, 2**32 - 2), (4, 6, 2**64 - 1)]:
        n -= n % per
        both = draw(n + m, offset)
        np.testing.assert_array_equal(
            np.concatenate([draw(n, offset), draw(m, (offset + n // per) % 2**64)]), both)
    # 5 uniforms (not whole blocks): the next call starts at the next whole block
    blocks = -(-5 // per)
    np.testing.assert_array_equal(draw(3, blocks), draw(blocks * per + 3, 0)[blocks * per:])


def test_counter_wraps_past_2_64(dtype):
    per = 4 if dtype == np.float32 else 2
    u = reference.philox_uniform(2 * per, 3, 4, 2**64 - 1, dtype)
    np.testing.assert_array_equal(u[per:], reference.philox_uniform(per, 3, 4, 0, dtype))


def test_streams_seeds_and_offsets_differ(dtype):
    base = reference.philox_uniform(4000, 5, 0, 0, dtype)
    for args in [(5, 1, 0), (5, 2**32, 0), (6, 0, 0), (5 + 2**32, 0, 0), (5, 0, 1000)]:
        other = reference.philox_uniform(4000, *args, dtype)
        assert np.mean(base == other) < 0.01, args
        assert abs(np.corrcoef(base, other)[0, 1]) < 0.1, args


def test_values_lie_on_the_grid_in_unit_interval(dtype):
    u = reference.philox_uniform(10_000, 11, 12, 13, dtype).astype(np.float64)
    bits = 24 if dtype == np.float32 else 53
    assert u.min() >= 0 and u.max() <= 1 - 2.0 ** -bits
    scaled = u * 2.0 ** bits
    np.testing.assert_array_equal(scaled, np.floor(scaled))


def test_uniformity_at_a_fixed_key(dtype):
    n = 200_000
    u = reference.philox_uniform(n, 2024, 1, 0, dtype).astype(np.float64)
    se_mean = np.sqrt(1 / 12 / n)
    assert abs(u.mean() - 0.5) < 6 * se_mean
    se_var = np.sqrt(1 / 180 / n)                     # var of (u - 1/2)^2 is 1/180
    assert abs(u.var() - 1 / 12) < 6 * se_var
    assert stats.kstest(u, "uniform").pvalue > 1e-4
    # consecutive pairs are uncorrelated, and every word position is uniform
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 6 / np.sqrt(n)
    per = 4 if dtype == np.float32 else 2
    for w in range(per):
        assert stats.kstest(u[w::per], "uniform").pvalue > 1e-4
