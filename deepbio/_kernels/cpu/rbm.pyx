"""Cython kernels of the RBM family (twins of ``deepbio._kernels.reference``).

Callers go through ``deepbio._kernels``, which has already checked every shape and
dtype: these functions assume C-contiguous arrays of one float dtype and agreeing
shapes, every dimension at least 1 (bounds checks are off in release builds;
``DEEPBIO_DEBUG_BUILD=1`` turns them on).  Every output is a new array.

``exp``, ``log1p`` and ``cos`` are NumPy's own vector loops (``blas.vmap``) and every
other operation follows the reference's order and precision, so given the same uniforms
the sampling kernels return exactly the reference's samples (Bernoulli and Gaussian, in
float32 and float64); sums follow NumPy's order too.  Matrix products go to BLAS.
"""
import numpy as np

from cython cimport floating
from cython.parallel cimport prange, threadid
from libc.math cimport fabs, fabsf

from deepbio._kernels.cpu.blas cimport (VecMath, col_sums, gemm, gemv, load_vecmath,
                                        omp_threads, pairwise_sum, standard_normal, vmap,
                                        vsigmoid)

__all__ = ("sigmoid_bernoulli", "gaussian_sample", "cd_statistics", "free_energy")

cdef VecMath VM
load_vecmath(&VM)

# Element-wise work below this many elements per thread stays on fewer threads.  A
# parallel region only pays when each thread has tens of microseconds of work; and on a
# machine with no spare core, the OpenMP workers of a region spin for a while after it,
# holding the cores the next BLAS call's own threads need.
DEF GRAIN = 32768
# block length of the flattened sigmoid_bernoulli
DEF BLOCK = 2048


# --8<-- [start:sigmoid_bernoulli]
def sigmoid_bernoulli(const floating[:, ::1] x, const floating[:, ::1] u):
    """Fused logistic + Bernoulli sample.

    x : (N, D) pre-activations.  u : (N, D) uniforms on [0, 1), same dtype.
    Returns ``(p, s)``, new (N, D) arrays of that dtype.
    """
    cdef Py_ssize_t total = x.shape[0] * x.shape[1], nb, c, k, k0, m
    cdef int nt = omp_threads(total, GRAIN)
    dtype = np.float32 if floating is float else np.float64
    p_arr = np.empty((x.shape[0], x.shape[1]), dtype=dtype)
    s_arr = np.empty((x.shape[0], x.shape[1]), dtype=dtype)
    cdef floating[:, ::1] pv = p_arr
    cdef floating[:, ::1] sv = s_arr
    cdef floating[::1] scratch = np.empty(nt * BLOCK, dtype=dtype)
    cdef const floating* xp = &x[0, 0]
    cdef const floating* up = &u[0, 0]
    cdef floating* p = &pv[0, 0]
    cdef floating* s = &sv[0, 0]
    cdef floating one = 1, zero = 0
    nb = (total + BLOCK - 1) // BLOCK
    # Blocks of the flattened arrays are independent: OpenMP shares them among threads.
    for c in prange(nb, nogil=True, num_threads=nt, schedule="static"):
        k0 = c * BLOCK
        m = min(BLOCK, total - k0)
        # p = 1 / (1 + exp(-x))     (stable form: see blas.vsigmoid)
        vsigmoid(&VM, xp + k0, p + k0, &scratch[threadid() * BLOCK], m)
        # s = 1 if u < p else 0, so P(s = 1) = p
        for k in range(k0, k0 + m):
            s[k] = one if up[k] < p[k] else zero
    return p_arr, s_arr
# --8<-- [end:sigmoid_bernoulli]


# --8<-- [start:gaussian_sample]
def gaussian_sample(const floating[:, ::1] mean, const floating[::1] sigma,
                    const floating[:, ::1] u1, const floating[:, ::1] u2):
    """Gaussian visible sample ``v = mean + sigma * z``, ``z`` by Box-Muller.

    mean, u1, u2 : (N, D); sigma : (D,).  Returns v : (N, D).
    """
    cdef Py_ssize_t n = mean.shape[0], d = mean.shape[1], i, j
    cdef int nt = omp_threads(n * d, GRAIN)
    dtype = np.float32 if floating is float else np.float64
    v_arr = np.empty((n, d), dtype=dtype)
    cdef floating[:, ::1] v = v_arr
    cdef floating[::1] scratch = np.empty(nt * 3 * d, dtype=dtype)
    cdef floating* z
    for i in prange(n, nogil=True, num_threads=nt, schedule="static"):
        z = &scratch[threadid() * 3 * d]
        # z = sqrt(-2 log1p(-u1)) cos(2 pi u2)
        standard_normal(&VM, &u1[i, 0], &u2[i, 0], z, z + d, d)
        # v = mean + sigma z
        for j in range(d):
            v[i, j] = mean[i, j] + sigma[j] * z[j]
    return v_arr
# --8<-- [end:gaussian_sample]


# --8<-- [start:cd_statistics]
def cd_statistics(const floating[:, ::1] v0, const floating[:, ::1] h0,
                  const floating[:, ::1] vk, const floating[:, ::1] hk):
    """CD statistics ``dW = (v0^T h0 - vk^T hk) / N``, ``db = mean_n(v0 - vk)``,
    ``dc = mean_n(h0 - hk)``.  Returns ``(dW (D, H), db (D,), dc (H,))``."""
    cdef Py_ssize_t n = v0.shape[0], d = v0.shape[1], h = h0.shape[1], j, c, nb, width
    cdef int nt = omp_threads(n * (d + h), GRAIN)
    dtype = np.float32 if floating is float else np.float64
    dW_arr = np.empty((d, h), dtype=dtype)
    db_arr = np.empty(d, dtype=dtype)
    dc_arr = np.empty(h, dtype=dtype)
    cdef floating[:, ::1] dW = dW_arr
    cdef floating[::1] db = db_arr
    cdef floating[::1] dc = dc_arr
    cdef floating inv_n = <floating>(1.0 / n)
    with nogil:
        # dW = v0^T h0 / N - vk^T hk / N          (two GEMMs into one output)
        gemm(c'T', c'N', d, h, n, inv_n, &v0[0, 0], d, &h0[0, 0], h, <floating>0,
             &dW[0, 0], h)
        gemm(c'T', c'N', d, h, n, -inv_n, &vk[0, 0], d, &hk[0, 0], h, <floating>1,
             &dW[0, 0], h)
    # db_j = sum_n (v0 - vk)_nj / N,  dc_j = sum_n (h0 - hk)_nj / N   (NumPy's order)
    # column blocks of both sums (db's first, then dc's) shared among threads
    width = max(16, ((d + h) // nt + 15) // 16 * 16)
    nb = (d + width - 1) // width + (h + width - 1) // width
    for c in prange(nb, nogil=True, num_threads=nt, schedule="static"):
        if c * width < d:
            col_sums(&v0[0, 0], &vk[0, 0], n, d, c * width, min((c + 1) * width, d), &db[0])
        else:
            j = c - (d + width - 1) // width
            col_sums(&h0[0, 0], &hk[0, 0], n, h, j * width, min((j + 1) * width, h), &dc[0])
    for j in range(d):
        db[j] = <floating>(<double>db[j] / n)
    for j in range(h):
        dc[j] = <floating>(<double>dc[j] / n)
    return dW_arr, db_arr, dc_arr
# --8<-- [end:cd_statistics]


# --8<-- [start:free_energy]
cdef inline floating softplus_row_sum(const floating* z, const floating* c, Py_ssize_t h,
                                      floating* buf) noexcept nogil:
    """``sum_j softplus(z_j + c_j)``, ``softplus(x) = max(x, 0) + log1p(exp(-|x|))``;
    ``buf``: 3 h scratch."""
    cdef Py_ssize_t j
    cdef floating* x = buf
    cdef floating* t = buf + h
    cdef floating* e = buf + 2 * h
    cdef floating zero = 0
    for j in range(h):
        x[j] = z[j] + c[j]
    for j in range(h):
        if floating is float:
            t[j] = -fabsf(x[j])                       # -|x|
        else:
            t[j] = -fabs(x[j])
    vmap(&VM.exp, t, e, h)                            # exp(-|x|)
    vmap(&VM.log1p, e, t, h)                          # log1p(exp(-|x|))
    for j in range(h):
        x[j] = (zero if x[j] < 0 else x[j]) + t[j]    # max(x, 0) + log1p(exp(-|x|))
    return pairwise_sum(x, h)


def free_energy(const floating[:, ::1] v, const floating[:, ::1] W, const floating[::1] b,
                const floating[::1] c, const floating[::1] sigma=None):
    """Free energy ``F(v)`` of an RBM (Bernoulli visibles, or Gaussian when ``sigma`` given).

    Bernoulli: ``F = -v . b - sum_j softplus(c_j + (v W)_j)``.
    Gaussian:  ``F = sum_i (v_i - b_i)^2 / (2 sigma_i^2) - sum_j softplus(c_j + ((v / sigma) W)_j)``.
    v : (N, D), W : (D, H), b : (D,), c : (H,), sigma : (D,) or None.  Returns F : (N,).
    """
    cdef Py_ssize_t n = v.shape[0], d = v.shape[1], h = W.shape[1], i, j
    cdef int nt = omp_threads(n * (d + h), GRAIN)
    cdef bint gaussian = sigma is not None
    dtype = np.float32 if floating is float else np.float64
    F_arr = np.empty(n, dtype=dtype)
    cdef floating[::1] F = F_arr
    cdef floating[:, ::1] Z = np.empty((n, h), dtype=dtype)
    cdef floating[:, ::1] vs
    cdef floating[::1] vb
    cdef floating[::1] scratch = np.empty(nt * 3 * max(d, h), dtype=dtype)
    cdef floating* buf
    cdef floating q, two = 2
    if not gaussian:
        vb = np.empty(n, dtype=dtype)
        with nogil:
            # v . b (gemv) and Z = v W (GEMM)
            gemv(c'N', n, d, <floating>1, &v[0, 0], d, &b[0], <floating>0, &vb[0])
            gemm(c'N', c'N', n, h, d, <floating>1, &v[0, 0], d, &W[0, 0], h, <floating>0,
                 &Z[0, 0], h)
        # F_n = -(v . b)_n - sum_j softplus(Z_nj + c_j)
        for i in prange(n, nogil=True, num_threads=nt, schedule="static"):
            F[i] = -vb[i] - softplus_row_sum(&Z[i, 0], &c[0], h,
                                             &scratch[threadid() * 3 * max(d, h)])
        return F_arr
    vs = np.empty((n, d), dtype=dtype)
    for i in prange(n, nogil=True, num_threads=nt, schedule="static"):
        buf = &scratch[threadid() * 3 * max(d, h)]
        for j in range(d):
            q = (v[i, j] - b[j]) / sigma[j]
            buf[j] = q * q                          # ((v - b) / sigma)^2
            vs[i, j] = v[i, j] / sigma[j]           # v / sigma, for the product below
        F[i] = pairwise_sum(buf, d) / two           # quad_n = sum_i (...)^2 / 2
    with nogil:
        # Z = (v / sigma) W
        gemm(c'N', c'N', n, h, d, <floating>1, &vs[0, 0], d, &W[0, 0], h, <floating>0,
             &Z[0, 0], h)
    # F_n = quad_n - sum_j softplus(Z_nj + c_j)
    for i in prange(n, nogil=True, num_threads=nt, schedule="static"):
        F[i] = F[i] - softplus_row_sum(&Z[i, 0], &c[0], h,
                                       &scratch[threadid() * 3 * max(d, h)])
    return F_arr
# --8<-- [end:free_energy]
