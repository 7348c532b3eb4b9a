"""Cython kernels of the dense / autoencoder family (twins of ``deepbio._kernels.reference``).

Callers go through ``deepbio._kernels``, which has already checked every shape and dtype:
these functions assume C-contiguous arrays of one float dtype with agreeing shapes, every
dimension at least 1 (bounds checks are off in release builds; ``DEEPBIO_DEBUG_BUILD=1``
turns them on).  Every output is a new array of the input dtype.

How the work is split:

* matrix products go to BLAS (``blas.gemm``, SciPy's ``cython_blas``);
* element-wise work is fused into one pass per row (or per block of a flattened array),
  rows shared among OpenMP threads; scratch space is allocated once per call, one slice
  per thread;
* ``exp``, ``tanh``, ``log``, ``log1p``, ``cos`` are NumPy's own vector loops
  (``blas.vmap``), and sums follow NumPy's order (``blas.pairwise_sum``, ``blas.col_sums``),
  with every other operation written in the reference's order and precision: for a given
  input, outputs equal the reference's bit for bit except where a matrix product (BLAS
  rounding) is involved.
"""
import numpy as np

from cython cimport floating
from cython.parallel cimport prange, threadid
from libc.string cimport memcpy

from deepbio._kernels.cpu.blas cimport (VecMath, col_sums, gemm, load_vecmath, omp_threads,
                                        pairwise_sum, standard_normal, vmap, vsigmoid)

__all__ = ("activation_forward", "activation_backward", "dense_forward", "dense_backward",
           "sparsity_grad", "mask_corrupt", "gaussian_corrupt")

cdef VecMath VM
load_vecmath(&VM)

# activation codes (same order as reference.ACTIVATIONS)
cdef enum:
    LINEAR = 0
    SIGMOID = 1
    TANH = 2
    RELU = 3
    SOFTMAX = 4

_ACT = {"linear": LINEAR, "sigmoid": SIGMOID, "tanh": TANH, "relu": RELU, "softmax": SOFTMAX}

# Element-wise work below this many elements per thread stays on fewer threads.  A
# parallel region only pays when each thread has tens of microseconds of work; and on a
# machine with no spare core, the OpenMP workers of a region spin for a while after it,
# holding the cores the next BLAS call's own threads need.
DEF GRAIN = 32768
# ... and for a kernel as cheap as a compare and a multiply per element (about 0.25 ns),
# where GRAIN elements are a few microseconds: less than waking a sleeping worker costs
DEF GRAIN_CHEAP = 8 * GRAIN
# block length of flattened element-wise kernels
DEF BLOCK = 2048


# ------------------------------------------------------------------ row primitives


cdef inline floating row_max(const floating* z, Py_ssize_t d) noexcept nogil:
    """``max_k z_k`` over eight interleaved lanes (independent compare chains, so the loop
    pipelines).  A NaN entry may be skipped here; softmax needs no more: ``z_k - m`` is
    then NaN for it, so the row's sum, and every output, is NaN, as in the reference."""
    cdef floating r[8]
    cdef Py_ssize_t k, j
    cdef floating m
    if d < 8:
        m = z[0]
        for k in range(1, d):
            m = z[k] if z[k] > m else m
        return m
    for j in range(8):
        r[j] = z[j]
    k = 8
    while k + 8 <= d:
        for j in range(8):
            r[j] = z[k + j] if z[k + j] > r[j] else r[j]
        k = k + 8
    while k < d:
        r[0] = z[k] if z[k] > r[0] else r[0]
        k = k + 1
    m = r[0]
    for j in range(1, 8):
        m = r[j] if r[j] > m else m
    return m


# --8<-- [start:activation]
cdef inline void act_forward_row(int act, const floating* z, const floating* b,
                                 floating* out, Py_ssize_t d, floating* buf) noexcept nogil:
    """``out = f(z + b)`` over one row of ``d`` entries (``b`` may be NULL: no bias).

    ``z`` may be ``out`` (in place) when ``b`` is given (without a bias ``z`` is read
    directly, so it must not overlap ``out``); ``buf`` holds 2 d scratch entries.
    """
    cdef Py_ssize_t k
    cdef const floating* zb = z
    cdef floating* zbuf = buf
    cdef floating* tmp = buf + d
    cdef floating m, s, zero = 0
    # zb = z + b   (the reference's ``x @ W + b``); without a bias z itself is read
    if b != NULL:
        zb = zbuf
        for k in range(d):
            zbuf[k] = z[k] + b[k]
    if act == LINEAR:
        # a = z
        memcpy(out, zb, d * sizeof(floating))
    elif act == SIGMOID:
        # a = 1 / (1 + e^-z)   (stable form, see blas.vsigmoid)
        vsigmoid(&VM, zb, out, tmp, d)
    elif act == TANH:
        # a = tanh z
        vmap(&VM.tanh, zb, out, d)
    elif act == RELU:
        # a = max(z, 0)   (NaN propagates, like np.maximum: NaN < 0 is false)
        for k in range(d):
            out[k] = zero if zb[k] < 0 else zb[k]
    else:
        # softmax: a_k = e^(z_k - max z) / sum_j e^(z_j - max z)
        m = row_max(zb, d)
        for k in range(d):
            tmp[k] = zb[k] - m
        vmap(&VM.exp, tmp, out, d)
        s = pairwise_sum(out, d)
        for k in range(d):
            out[k] = out[k] / s


cdef inline void act_backward_row(int act, const floating* a, const floating* da,
                                  floating* dz, Py_ssize_t d, floating* buf) noexcept nogil:
    """``dz = da * f'(z)`` over one row, written with the output ``a = f(z)``.

    ``buf`` holds d scratch entries (softmax only).
    """
    cdef Py_ssize_t k
    cdef floating s, one = 1, zero = 0
    if act == LINEAR:
        memcpy(dz, da, d * sizeof(floating))
    elif act == SIGMOID:
        # dz = da a (1 - a)
        for k in range(d):
            dz[k] = da[k] * a[k] * (one - a[k])
    elif act == TANH:
        # dz = da (1 - a^2)
        for k in range(d):
            dz[k] = da[k] * (one - a[k] * a[k])
    elif act == RELU:
        # dz = da 1[a > 0]
        for k in range(d):
            s = zero
            if a[k] > 0:
                s = one
            dz[k] = da[k] * s
    else:
        # softmax: dz = a (da - sum_j da_j a_j)
        for k in range(d):
            buf[k] = da[k] * a[k]
        s = pairwise_sum(buf, d)
        for k in range(d):
            dz[k] = a[k] * (da[k] - s)
# --8<-- [end:activation]


# ------------------------------------------------------- parallel drivers (nogil)


cdef void act_forward_rows(int act, const floating* z, const floating* b, floating* out,
                           Py_ssize_t n, Py_ssize_t d, floating* scratch,
                           int nt) noexcept nogil:
    """``out[i] = f(z[i] + b)`` for every row i < n; ``scratch``: nt * 2d entries."""
    cdef Py_ssize_t i
    for i in prange(n, num_threads=nt, schedule="static"):
        act_forward_row(act, z + i * d, b, out + i * d, d, scratch + threadid() * 2 * d)


cdef void act_backward_rows(int act, const floating* a, const floating* da, floating* dz,
                            Py_ssize_t n, Py_ssize_t d, floating* scratch,
                            int nt) noexcept nogil:
    """``dz[i] = da[i] * f'(z[i])`` for every row i < n; ``scratch``: nt * d entries."""
    cdef Py_ssize_t i
    for i in prange(n, num_threads=nt, schedule="static"):
        act_backward_row(act, a + i * d, da + i * d, dz + i * d, d, scratch + threadid() * d)


cdef void col_sums_par(const floating* a, const floating* b, Py_ssize_t n, Py_ssize_t d,
                       floating* out, int nt) noexcept nogil:
    """``out[j] = sum_i (a[i, j] - b[i, j])`` (b may be NULL), NumPy's order; columns shared
    among ``nt`` threads in blocks."""
    cdef Py_ssize_t nb, c, width
    width = (d + nt - 1) // nt
    width = ((width + 15) // 16) * 16            # whole cache lines per thread
    nb = (d + width - 1) // width
    for c in prange(nb, num_threads=nt, schedule="static"):
        col_sums(a, b, n, d, c * width, min((c + 1) * width, d), out)


cdef inline int _nt(Py_ssize_t work):
    return omp_threads(work, GRAIN)


def _scratch(int nt, Py_ssize_t per_thread, dtype):
    return np.empty(max(nt * per_thread, 1), dtype=dtype)


# ------------------------------------------------------------------------ kernels


def activation_forward(const floating[:, ::1] z, activation):
    """Apply ``f`` elementwise (row-wise for softmax).  z : (N, D).  Returns a : (N, D)."""
    cdef Py_ssize_t n = z.shape[0], d = z.shape[1]
    cdef int act = _ACT[activation]
    cdef int nt = _nt(n * d)
    dtype = np.float32 if floating is float else np.float64
    out = np.empty((n, d), dtype=dtype)
    cdef floating[:, ::1] o = out
    cdef floating[::1] s = _scratch(nt, 2 * d, dtype)
    with nogil:
        act_forward_rows(act, &z[0, 0], <floating*>NULL, &o[0, 0], n, d, &s[0], nt)
    return out


def activation_backward(const floating[:, ::1] a, const floating[:, ::1] da, activation):
    """``dz = da * f'(z)`` from the output ``a``.  a, da : (N, D).  Returns dz : (N, D)."""
    cdef Py_ssize_t n = a.shape[0], d = a.shape[1]
    cdef int act = _ACT[activation]
    cdef int nt = _nt(n * d)
    dtype = np.float32 if floating is float else np.float64
    out = np.empty((n, d), dtype=dtype)
    cdef floating[:, ::1] o = out
    cdef floating[::1] s = _scratch(nt, d, dtype)
    with nogil:
        act_backward_rows(act, &a[0, 0], &da[0, 0], &o[0, 0], n, d, &s[0], nt)
    return out


# --8<-- [start:dense]
def dense_forward(const floating[:, ::1] x, const floating[:, ::1] W,
                  const floating[::1] b, activation):
    """``a = f(x W + b)``.  x : (N, D), W : (D, H), b : (H,).  Returns a : (N, H)."""
    cdef Py_ssize_t n = x.shape[0], d = x.shape[1], h = W.shape[1]
    cdef int act = _ACT[activation]
    cdef int nt = _nt(n * h)
    dtype = np.float32 if floating is float else np.float64
    out = np.empty((n, h), dtype=dtype)
    cdef floating[:, ::1] o = out
    cdef floating[::1] s = _scratch(nt, 2 * h, dtype)
    with nogil:
        # z = x W                     (BLAS, into the output)
        gemm(c'N', c'N', n, h, d, <floating>1, &x[0, 0], d, &W[0, 0], h,
             <floating>0, &o[0, 0], h)
        # a = f(z + b)                (one fused pass per row, in place)
        act_forward_rows(act, &o[0, 0], &b[0], &o[0, 0], n, h, &s[0], nt)
    return out


def dense_backward(const floating[:, ::1] x, const floating[:, ::1] W,
                   const floating[:, ::1] a, const floating[:, ::1] da, activation):
    """Backward through ``a = f(x W + b)``: ``dz = da f'(z)``, ``dx = dz W^T``,
    ``dW = x^T dz``, ``db = sum_n dz``.  Returns ``(dx (N, D), dW (D, H), db (H,))``."""
    cdef Py_ssize_t n = x.shape[0], d = x.shape[1], h = W.shape[1]
    cdef int act = _ACT[activation]
    cdef int nt = _nt(n * h)
    dtype = np.float32 if floating is float else np.float64
    dx_arr = np.empty((n, d), dtype=dtype)
    dW_arr = np.empty((d, h), dtype=dtype)
    db_arr = np.empty(h, dtype=dtype)
    cdef floating[:, ::1] dx = dx_arr
    cdef floating[:, ::1] dW = dW_arr
    cdef floating[::1] db = db_arr
    cdef floating[:, ::1] dz_view
    cdef floating[::1] s
    cdef const floating* dz
    if act == LINEAR:
        dz = &da[0, 0]                       # f' = 1: dz is da itself
    else:
        dz_view = np.empty((n, h), dtype=dtype)
        s = _scratch(nt, h, dtype)
        with nogil:
            act_backward_rows(act, &a[0, 0], &da[0, 0], &dz_view[0, 0], n, h, &s[0], nt)
        dz = &dz_view[0, 0]
    with nogil:
        # dx (N, D) = dz (N, H) W^T
        gemm(c'N', c'T', n, d, h, <floating>1, dz, h, &W[0, 0], h, <floating>0, &dx[0, 0], d)
        # dW (D, H) = x^T (D, N) dz (N, H)
        gemm(c'T', c'N', d, h, n, <floating>1, &x[0, 0], d, dz, h, <floating>0, &dW[0, 0], h)
        # db_j = sum_n dz_nj
        col_sums_par(dz, <floating*>NULL, n, h, &db[0], nt)
    return dx_arr, dW_arr, db_arr
# --8<-- [end:dense]


# --8<-- [start:sparsity_grad]
def sparsity_grad(const floating[:, ::1] a, double rho, double beta):
    """KL sparsity penalty on mean activations and its gradient (see the reference).

    a : (N, H).  Returns ``(penalty, da)``: a 0-d array and (N, H).
    """
    cdef Py_ssize_t n = a.shape[0], h = a.shape[1], i, j
    cdef int nt = _nt(n * h)
    dtype = np.float32 if floating is float else np.float64
    # constants in the array's precision, as NumPy casts Python floats (NEP 50)
    cdef double eps = 1e-7 if floating is float else 1e-12
    cdef floating lo = <floating>eps, hi = <floating>(1 - eps)
    cdef floating r = <floating>rho, omr = <floating>(1 - rho), mr = <floating>(-rho)
    cdef floating bf = <floating>beta, bn = <floating>(beta / n), one = 1
    da_arr = np.empty((n, h), dtype=dtype)
    cdef floating[:, ::1] da = da_arr
    cdef floating[:, ::1] w = np.empty((6, h), dtype=dtype)
    cdef floating* rho_hat = &w[0, 0]
    cdef floating* q1 = &w[1, 0]
    cdef floating* q2 = &w[2, 0]
    cdef floating* l1 = &w[3, 0]
    cdef floating* l2 = &w[4, 0]
    cdef floating* g = &w[5, 0]
    cdef floating penalty, rh
    with nogil:
        # rho_hat_j = clip(mean_n a_nj, eps, 1 - eps)
        col_sums_par(&a[0, 0], <floating*>NULL, n, h, rho_hat, nt)
        for j in range(h):
            rh = <floating>(<double>rho_hat[j] / n)
            rh = lo if rh < lo else rh
            rh = hi if rh > hi else rh
            rho_hat[j] = rh
            q1[j] = r / rh
            q2[j] = omr / (one - rh)
        vmap(&VM.log, q1, l1, h)
        vmap(&VM.log, q2, l2, h)
        for j in range(h):
            # KL_j = rho log(rho / rho_hat_j) + (1 - rho) log((1 - rho) / (1 - rho_hat_j))
            l1[j] = r * l1[j] + omr * l2[j]
            # g_j = (beta / N) (-rho / rho_hat_j + (1 - rho) / (1 - rho_hat_j))
            g[j] = bn * (mr / rho_hat[j] + omr / (one - rho_hat[j]))
        # penalty = beta sum_j KL_j
        penalty = bf * pairwise_sum(l1, h)
        # da_nj = g_j for every row n
        for i in prange(n, num_threads=nt, schedule="static"):
            memcpy(&da[i, 0], g, h * sizeof(floating))
    return np.asarray(penalty, dtype=dtype), da_arr
# --8<-- [end:sparsity_grad]


def mask_corrupt(const floating[:, ::1] x, const floating[:, ::1] u, double p):
    """Masking noise ``x_tilde = x * 1[u >= p]``.  x, u : (N, D).  Returns (N, D)."""
    cdef Py_ssize_t total = x.shape[0] * x.shape[1], k
    cdef int nt = omp_threads(total, GRAIN_CHEAP)
    cdef floating pf = <floating>p, one = 1, zero = 0
    out = np.empty((x.shape[0], x.shape[1]), dtype=np.float32 if floating is float else np.float64)
    cdef floating[:, ::1] o = out
    cdef const floating* xp = &x[0, 0]
    cdef const floating* up = &u[0, 0]
    cdef floating* op = &o[0, 0]
    # x_tilde = x * 1[u >= p]    (p in the array's precision, as NumPy compares)
    for k in prange(total, nogil=True, num_threads=nt, schedule="static"):
        op[k] = xp[k] * (one if up[k] >= pf else zero)
    return out


cdef void gaussian_corrupt_blocks(const floating* x, floating std, Py_ssize_t total,
                                  const floating* u1, const floating* u2, floating* out,
                                  floating* scratch, int nt) noexcept nogil:
    """Flattened arrays in blocks of ``BLOCK`` entries, blocks shared among threads;
    ``scratch``: nt * 3 BLOCK entries."""
    cdef Py_ssize_t nb = (total + BLOCK - 1) // BLOCK, c, k, k0, m
    cdef floating* z
    for c in prange(nb, num_threads=nt, schedule="static"):
        k0 = c * BLOCK
        m = min(BLOCK, total - k0)
        z = scratch + threadid() * 3 * BLOCK
        # z = sqrt(-2 log1p(-u1)) cos(2 pi u2)
        standard_normal(&VM, u1 + k0, u2 + k0, z, z + BLOCK, m)
        # x_tilde = x + std z
        for k in range(m):
            out[k0 + k] = x[k0 + k] + std * z[k]


def gaussian_corrupt(const floating[:, ::1] x, const floating[:, ::1] u1,
                     const floating[:, ::1] u2, double std):
    """Additive Gaussian noise ``x_tilde = x + std * z``, z by Box-Muller.  Returns (N, D)."""
    cdef Py_ssize_t n = x.shape[0], d = x.shape[1]
    cdef int nt = _nt(n * d)
    dtype = np.float32 if floating is float else np.float64
    out = np.empty((n, d), dtype=dtype)
    cdef floating[:, ::1] o = out
    cdef floating[::1] s = _scratch(nt, 3 * BLOCK, dtype)
    with nogil:
        gaussian_corrupt_blocks(&x[0, 0], <floating>std, n * d, &u1[0, 0], &u2[0, 0],
                                &o[0, 0], &s[0], nt)
    return out
