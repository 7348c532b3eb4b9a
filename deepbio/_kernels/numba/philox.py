"""Philox4x32-10, the counter-based generator every backend shares (Salmon et al., SC 2011).

A block is ``x = philox4x32_10(counter, key)``: four 32-bit words from a 128-bit counter
and a 64-bit key, ten rounds of

    (hi0, lo0) = mulhilo32(M0, c0),  (hi1, lo1) = mulhilo32(M1, c2),
    c = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0),  then  k0 += W0, k1 += W1  (mod 2^32),

with M0 = 0xD2511F53, M1 = 0xCD9E8D57, W0 = 0x9E3779B9, W1 = 0xBB67AE85.

:func:`philox_uniform` (the contract kernel) keys it by ``(seed, stream, offset)``:
``key = (lo32(seed), hi32(seed))``; block j has counter
``(lo32(offset + j), hi32(offset + j), lo32(stream), hi32(stream))`` (offset counts 128-bit
blocks, 64-bit arithmetic mod 2^64); then

* float32: element i = ``(x[i % 4] >> 8) * 2^-24`` of block ``i // 4``;
* float64: element i = ``((a >> 5) * 2^26 + (b >> 6)) * 2^-53`` of block ``i // 2``, with
  ``a, b = x[2 (i % 2)], x[2 (i % 2) + 1]``.

Both are exact (a 24- or 53-bit integer times a power of two), so every backend gives
the same bits.  :func:`philox4x32_10` is a ``@jit(device=True)`` function that fused
kernels call to draw their uniforms in place.

32-bit words live in ``uint64`` values throughout: the product of two words is then the
full 64-bit ``mulhilo`` (never an overflow), sums are masked back to 32 bits explicitly,
and every constant is a ``np.uint64`` (mixing a uint64 with a signed int64 would make
Numba compute in float64).
"""
import numpy as np
from numba import cuda

from . import launch, runtime

_rt = runtime()
jit, xp = _rt.jit, _rt.xp

M0, M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
W0, W1 = np.uint64(0x9E3779B9), np.uint64(0xBB67AE85)
MASK32, U32 = np.uint64(0xFFFFFFFF), np.uint64(32)
U5, U6, U8, U26 = np.uint64(5), np.uint64(6), np.uint64(8), np.uint64(26)
TWO_M24, TWO_M53 = 2.0 ** -24, 2.0 ** -53
ROUNDS = 10


# --8<-- [start:philox_block]
# x = Philox4x32-10(counter (c0, c1, c2, c3), key (k0, k1)); every word a uint64 < 2^32.
@jit(device=True)
def philox4x32_10(c0, c1, c2, c3, k0, k1):
    for _ in range(ROUNDS):
        p0 = M0 * c0                         # mulhilo32(M0, c0) = (p0 >> 32, p0 & MASK32)
        p1 = M1 * c2                         # mulhilo32(M1, c2)
        c0, c1, c2, c3 = ((p1 >> U32) ^ c1 ^ k0, p1 & MASK32,
                          (p0 >> U32) ^ c3 ^ k1, p0 & MASK32)
        k0 = (k0 + W0) & MASK32              # bump the key (after the last round: unused)
        k1 = (k1 + W1) & MASK32
    return c0, c1, c2, c3
# --8<-- [end:philox_block]


# (lo32(offset + j), hi32(offset + j)) from offset = (off_lo, off_hi), mod 2^64
@jit(device=True)
def _block_counter(off_lo, off_hi, j):
    jj = np.uint64(j)
    lo = off_lo + (jj & MASK32)                               # < 2^33: the carry is bit 32
    return lo & MASK32, (off_hi + (jj >> U32) + (lo >> U32)) & MASK32


# --8<-- [start:philox_uniform]
# out[4 j + w] = (x_w >> 8) 2^-24,  x = philox4x32_10(counter_j, key)   (one thread per block j)
@jit
def _uniform_float32(k0, k1, s_lo, s_hi, off_lo, off_hi, out):
    T = out.dtype.type
    n = out.size
    for j in range(cuda.grid(1), (n + 3) // 4, cuda.gridsize(1)):
        c0, c1 = _block_counter(off_lo, off_hi, j)
        x0, x1, x2, x3 = philox4x32_10(c0, c1, s_lo, s_hi, k0, k1)
        i = 4 * j
        out[i] = T(x0 >> U8) * T(TWO_M24)
        if i + 1 < n:
            out[i + 1] = T(x1 >> U8) * T(TWO_M24)
        if i + 2 < n:
            out[i + 2] = T(x2 >> U8) * T(TWO_M24)
        if i + 3 < n:
            out[i + 3] = T(x3 >> U8) * T(TWO_M24)
# --8<-- [end:philox_uniform]


# out[2 j + w] = ((a >> 5) 2^26 + (b >> 6)) 2^-53,  (a, b) = (x_2w, x_2w+1)   (thread per block)
@jit
def _uniform_float64(k0, k1, s_lo, s_hi, off_lo, off_hi, out):
    T = out.dtype.type
    n = out.size
    for j in range(cuda.grid(1), (n + 1) // 2, cuda.gridsize(1)):
        c0, c1 = _block_counter(off_lo, off_hi, j)
        x0, x1, x2, x3 = philox4x32_10(c0, c1, s_lo, s_hi, k0, k1)
        i = 2 * j
        out[i] = T(((x0 >> U5) << U26) | (x1 >> U6)) * T(TWO_M53)
        if i + 1 < n:
            out[i + 1] = T(((x2 >> U5) << U26) | (x3 >> U6)) * T(TWO_M53)


# out[m] = philox4x32_10(counter[m], key)   (raw blocks: the known-answer tests use this)
@jit
def _blocks(counter, key, out):
    for m in range(cuda.grid(1), counter.shape[0], cuda.gridsize(1)):
        x0, x1, x2, x3 = philox4x32_10(
            np.uint64(counter[m, 0]), np.uint64(counter[m, 1]), np.uint64(counter[m, 2]),
            np.uint64(counter[m, 3]), np.uint64(key[0]), np.uint64(key[1]))
        out[m, 0] = x0
        out[m, 1] = x1
        out[m, 2] = x2
        out[m, 3] = x3


def _u64(name, v):
    if isinstance(v, (bool, np.bool_)) or not hasattr(v, "__index__"):
        raise TypeError(f"philox_uniform: {name} must be an integer, got {type(v).__name__}")
    v = int(v)
    if not 0 <= v < 2 ** 64:
        raise ValueError(f"philox_uniform: {name} must lie in [0, 2**64), got {v}")
    return v


def _halves(v):
    return np.uint64(v & 0xFFFFFFFF), np.uint64(v >> 32)


def philox_uniform(n, seed, stream, offset, dtype):
    """``n`` uniforms on [0, 1) of ``dtype`` from Philox4x32-10 keyed by (seed, stream, offset).

    See the module docstring for the exact rule.  Returns a new (n,) array.
    """
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"philox_uniform: dtype must be float32 or float64, got {dtype}")
    n = _u64("n", n)
    k0, k1 = _halves(_u64("seed", seed))
    s_lo, s_hi = _halves(_u64("stream", stream))
    o_lo, o_hi = _halves(_u64("offset", offset))
    out = xp.empty(n, dtype=dtype)
    if n:
        words = 4 if dtype == np.float32 else 2
        kernel = _uniform_float32 if dtype == np.float32 else _uniform_float64
        kernel[launch(-(-n // words))](k0, k1, s_lo, s_hi, o_lo, o_hi, out)
    return out


def philox_blocks(counter, key):
    """Raw Philox4x32-10 blocks: counter (M, 4) and key (2,) uint32 -> (M, 4) uint32."""
    counter = xp.ascontiguousarray(xp.asarray(counter, dtype=xp.uint32).reshape(-1, 4))
    key = xp.ascontiguousarray(xp.asarray(key, dtype=xp.uint32).reshape(2))
    out = xp.empty_like(counter)
    _blocks[launch(counter.shape[0])](counter, key, out)
    return out


__all__ = ["philox_uniform"]
