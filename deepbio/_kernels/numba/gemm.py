"""Matrix products for the Numba kernels: a shared-memory tiled GEMM, the twin of cuBLAS.

``TILE`` (the side of the square tile, in elements) is 16 on a GPU: a block of 16 x 16 =
256 threads computes a 16 x 16 tile of C, staging one 16 x 16 tile of A and one of B in
shared memory per step along k (2 x 16 x 17 x 8 B = 4.3 KiB of shared memory in float64;
the 17 pads each row so that the transposed stores below fall in different banks).  Under
the simulator it is 4, so that tiny test shapes still span several tiles (edge tiles,
several k steps) and each simulated block has only 16 Python threads.

Every product in the layers goes through :func:`matmul`, which runs either

* ``"tiled"`` (the default, on a GPU and under the simulator): :func:`_matmul_tiled`
  below, so that the backend stands on its own and the code the simulator tests is the
  code a GPU runs; or
* ``"xp"``: the array module's own ``matmul`` (cuBLAS through CuPy on a GPU, NumPy's BLAS
  under the simulator), for speed.

Pick one with :func:`set_matmul` or the environment variable ``DEEPBIO_NUMBA_MATMUL``.
"""
import os

from numba import cuda

from . import runtime, stream

_rt = runtime()
jit, xp = _rt.jit, _rt.xp

TILE = 4 if _rt.simulator else 16
TILE_PAD = TILE + 1            # row length of the shared tiles (bank-conflict padding)
_MAX_GRID = 2 if _rt.simulator else 65535   # grid-stride loops cover the rest

MATMULS = ("tiled", "xp")
_matmul_name = [os.environ.get("DEEPBIO_NUMBA_MATMUL", "tiled").strip().lower() or "tiled"]
if _matmul_name[0] not in MATMULS:
    raise ValueError(f"DEEPBIO_NUMBA_MATMUL must be one of {MATMULS}, "
                     f"got {_matmul_name[0]!r}")


def set_matmul(name):
    """Use ``"tiled"`` (this module's kernel) or ``"xp"`` (cuBLAS / NumPy) from now on."""
    if name not in MATMULS:
        raise ValueError(f"matmul must be one of {MATMULS}, got {name!r}")
    _matmul_name[0] = name


def get_matmul():
    """The matrix product in use: ``"tiled"`` or ``"xp"``."""
    return _matmul_name[0]


# C[z] = op(A[z]) @ op(B[z]):  c[z, i, j] = sum_k Aop[z, i, k] * Bop[k, j],
#   Aop[z] = a[z] (M, K), or a[z]^T when trans_a (a[z] is then (K, M)); Bop likewise;
#   an operand with a batch of 1 is shared by every z;
#   sum_batch: c[0] = sum_z op(A[z]) @ op(B[z])  (c has a batch of 1).
# Block (TILE, TILE) computes the tile of c at rows i0.., columns j0..; thread (ty, tx)
# owns c[z, i0 + ty, j0 + tx].  Per step along k, each thread loads one element of the A
# tile and one of the B tile; threads along x read consecutive addresses of a row in
# memory (coalesced), which for a transposed operand means storing the tile transposed.
@jit
def _matmul_tiled(a, b, c, trans_a, trans_b, sum_batch):
    T = c.dtype.type
    sa = cuda.shared.array((TILE, TILE_PAD), dtype=c.dtype)   # sa[r, k] = Aop[i0 + r, k0 + k]
    sb = cuda.shared.array((TILE, TILE_PAD), dtype=c.dtype)   # sb[k, s] = Bop[k0 + k, j0 + s]
    ty, tx = cuda.threadIdx.y, cuda.threadIdx.x
    m, n = c.shape[1], c.shape[2]
    kdim = a.shape[1] if trans_a else a.shape[2]
    nz = max(a.shape[0], b.shape[0])
    for zc in range(cuda.blockIdx.z, c.shape[0], cuda.gridDim.z):
        z_lo, z_hi = (0, nz) if sum_batch else (zc, zc + 1)
        for i0 in range(cuda.blockIdx.y * TILE, m, cuda.gridDim.y * TILE):
            for j0 in range(cuda.blockIdx.x * TILE, n, cuda.gridDim.x * TILE):
                acc = T(0)
                for z in range(z_lo, z_hi):
                    za = z if a.shape[0] > 1 else 0
                    zb = z if b.shape[0] > 1 else 0
                    for k0 in range(0, kdim, TILE):
                        if trans_a:                   # a[za] is (K, M): read along i
                            r, k = tx, ty
                            ok = i0 + r < m and k0 + k < kdim
                            sa[r, k] = a[za, k0 + k, i0 + r] if ok else T(0)
                        else:                         # a[za] is (M, K): read along k
                            r, k = ty, tx
                            ok = i0 + r < m and k0 + k < kdim
                            sa[r, k] = a[za, i0 + r, k0 + k] if ok else T(0)
                        if trans_b:                   # b[zb] is (N, K): read along k
                            k, s = tx, ty
                            ok = k0 + k < kdim and j0 + s < n
                            sb[k, s] = b[zb, j0 + s, k0 + k] if ok else T(0)
                        else:                         # b[zb] is (K, N): read along j
                            k, s = ty, tx
                            ok = k0 + k < kdim and j0 + s < n
                            sb[k, s] = b[zb, k0 + k, j0 + s] if ok else T(0)
                        cuda.syncthreads()            # both tiles are in shared memory
                        for kk in range(TILE):
                            acc += sa[ty, kk] * sb[kk, tx]
                        cuda.syncthreads()            # done with them: the next step overwrites
                if i0 + ty < m and j0 + tx < n:
                    c[zc, i0 + ty, j0 + tx] = acc


def _as3d(a):
    return a.reshape((1,) + a.shape) if a.ndim == 2 else a


def _op_shape(a, trans):
    rows, cols = a.shape[-2:]
    return (cols, rows) if trans else (rows, cols)


def matmul(a, b, trans_a=False, trans_b=False, sum_batch=False):
    """``op(a) @ op(b)`` with ``op(x) = x.T`` where asked; batched over a leading axis.

    a, b : 2-d, or 3-d ``(B, ., .)`` stacks (a 2-d operand is shared by the whole batch).
    Returns a new C-contiguous array of a's dtype: 2-d when both are 2-d, else
    ``(B, M, N)``; with ``sum_batch``, the 2-d sum over the batch of the products.
    Runs the tiled kernel or ``xp.matmul``, see :func:`set_matmul`.
    """
    (m, ka), (kb, n) = _op_shape(a, trans_a), _op_shape(b, trans_b)
    if ka != kb:
        raise ValueError(f"matmul: inner sizes differ: op(a) is {m}x{ka}, op(b) is {kb}x{n}")
    if a.dtype != b.dtype:
        raise TypeError(f"matmul: dtypes differ: {a.dtype} and {b.dtype}")
    ba = a.shape[0] if a.ndim == 3 else 1
    bb = b.shape[0] if b.ndim == 3 else 1
    if ba != bb and 1 not in (ba, bb):
        raise ValueError(f"matmul: batch sizes differ: {ba} and {bb}")
    batched = a.ndim == 3 or b.ndim == 3
    nb = max(ba, bb)

    if _matmul_name[0] == "xp":
        pa = a.swapaxes(-1, -2) if trans_a else a
        pb = b.swapaxes(-1, -2) if trans_b else b
        c = xp.matmul(pa, pb)
        if sum_batch and batched:
            c = c.sum(axis=0)
        return xp.ascontiguousarray(c, dtype=a.dtype)

    reduce = bool(sum_batch and batched)
    c = xp.empty((1 if reduce or not batched else nb, m, n), dtype=a.dtype)
    grid = (min(_MAX_GRID, -(-n // TILE)), min(_MAX_GRID, -(-m // TILE)),
            min(_MAX_GRID, c.shape[0]))
    _matmul_tiled[grid, (TILE, TILE), stream()](_as3d(a), _as3d(b), c,
                                                 bool(trans_a), bool(trans_b), reduce)
    return c[0] if reduce or not batched else c


__all__ = ["TILE", "MATMULS", "matmul", "set_matmul", "get_matmul"]
