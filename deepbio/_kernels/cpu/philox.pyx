"""Cython Philox4x32-10 (twin of ``reference.philox4x32_10`` / ``reference.philox_uniform``).

Callers go through ``deepbio._kernels``, which has already checked every option:
``n >= 1``, ``seed``, ``stream``, ``offset`` in [0, 2^64), ``dtype`` float32 or float64.
The output is a new array.

Blocks of 128 bits are independent (block ``j`` is a pure function of the key and its
counter), so OpenMP shares them among threads; every block writes its own 4 (float32) or
2 (float64) outputs.  All arithmetic is on unsigned 32/64-bit integers, and the
conversions to floating point are exact, so the output equals the reference bit for bit.
"""
import numpy as np

from cython cimport floating
from cython.parallel cimport prange
from libc.stdint cimport uint32_t, uint64_t

from deepbio._kernels.cpu.blas cimport omp_threads

__all__ = ("philox_uniform",)

# Blocks per thread below which fewer threads are used (a block is ~10 ns).
DEF GRAIN = 16384

cdef uint32_t M0 = 0xD2511F53, M1 = 0xCD9E8D57     # round multipliers
cdef uint32_t W0 = 0x9E3779B9, W1 = 0xBB67AE85     # key increments


# --8<-- [start:philox_block]
cdef inline void philox_block(uint32_t* c, uint32_t k0, uint32_t k1) noexcept nogil:
    """Ten Philox4x32 rounds on the counter ``c[0..3]`` in place, key ``(k0, k1)``.

    ``(hi0, lo0) = mulhilo32(M0, c0)``, ``(hi1, lo1) = mulhilo32(M1, c2)``,
    ``c = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0)``; ``k += (W0, W1)`` between rounds.
    """
    cdef uint64_t p0, p1
    cdef int r
    for r in range(10):
        if r > 0:
            k0 = k0 + W0                      # mod 2^32 (unsigned wrap)
            k1 = k1 + W1
        p0 = <uint64_t>M0 * c[0]
        p1 = <uint64_t>M1 * c[2]
        c[0] = <uint32_t>(p1 >> 32) ^ c[1] ^ k0
        c[1] = <uint32_t>p1
        c[2] = <uint32_t>(p0 >> 32) ^ c[3] ^ k1
        c[3] = <uint32_t>p0


cdef inline void uniform_block(floating* out, Py_ssize_t n, Py_ssize_t j, uint64_t key,
                               uint64_t stream, uint64_t offset) noexcept nogil:
    """Block ``j`` of the call: counter ``(lo32(offset + j), hi32(offset + j), lo32(stream),
    hi32(stream))``, key ``(lo32(seed), hi32(seed))``; its uniforms into ``out``."""
    cdef uint32_t x[4]
    cdef uint64_t ctr = offset + <uint64_t>j             # mod 2^64
    cdef Py_ssize_t i, w
    x[0] = <uint32_t>ctr
    x[1] = <uint32_t>(ctr >> 32)
    x[2] = <uint32_t>stream
    x[3] = <uint32_t>(stream >> 32)
    philox_block(x, <uint32_t>key, <uint32_t>(key >> 32))
    if floating is float:
        # element 4 j + w: u = (X[w] >> 8) 2^-24
        for w in range(4):
            i = 4 * j + w
            if i < n:
                out[i] = <float>(x[w] >> 8) * <float>5.9604644775390625e-08
    else:
        # element 2 j + w: u = ((X[2w] >> 5) 2^26 + (X[2w + 1] >> 6)) 2^-53
        for w in range(2):
            i = 2 * j + w
            if i < n:
                out[i] = (<double>(x[2 * w] >> 5) * 67108864.0
                          + <double>(x[2 * w + 1] >> 6)) * 1.1102230246251565e-16
# --8<-- [end:philox_block]


def _fill(floating[::1] out, uint64_t seed, uint64_t stream, uint64_t offset):
    cdef Py_ssize_t n = out.shape[0], per = 4 if floating is float else 2
    cdef Py_ssize_t blocks = (n + per - 1) // per, j
    cdef int nt = omp_threads(blocks, GRAIN)
    cdef floating* o = &out[0]
    for j in prange(blocks, nogil=True, num_threads=nt, schedule="static"):
        uniform_block(o, n, j, seed, stream, offset)


def philox_uniform(n, seed, stream, offset, dtype):
    """``n`` uniforms on [0, 1) of ``dtype`` keyed by (seed, stream, offset); see the
    reference for the keying rule.  Returns u : (n,)."""
    out = np.empty(n, dtype=dtype)
    _fill(out, seed, stream, offset)
    return out


def philox4x32_10(const uint32_t[:, ::1] counter, const uint32_t[::1] key):
    """The raw block function, for the known-answer tests: counter uint32 (N, 4),
    key uint32 (2,).  Returns uint32 (N, 4).  Not a contract kernel."""
    if counter.shape[1] != 4 or key.shape[0] != 2:
        raise ValueError("philox4x32_10: counter must be (N, 4) and key (2,)")
    out_arr = np.array(counter, dtype=np.uint32, copy=True)
    cdef uint32_t[:, ::1] out = out_arr
    cdef Py_ssize_t i
    with nogil:
        for i in range(out.shape[0]):
            philox_block(&out[i, 0], key[0], key[1])
    return out_arr
