"""Cython kernels of the recurrent family (twins of ``deepbio._kernels.reference``).

Callers go through ``deepbio._kernels``, which has already checked every shape and dtype:
these functions assume C-contiguous arrays of one float dtype with agreeing shapes, every
dimension at least 1 (bounds checks are off in release builds; ``DEEPBIO_DEBUG_BUILD=1``
turns them on).  Sequences are time-major ``(T, N, D)``.  Every output is a new array.

One implementation per cell, for whole sequences; a step kernel is the sequence kernel
with ``T = 1``.  The time loop runs here, in C, and only the work that is truly sequential
stays inside it:

forward   ``Z = X Wx`` for all T steps at once (one GEMM of (T N, D) by (D, H)), then per
          step ``z_t += h_{t-1} Wh`` (GEMM with beta = 1) and one fused element-wise pass
          (bias, non-linearities, cell update);
backward  per step one fused element-wise pass giving ``dz_t`` (stored for all steps) and
          ``dh_{t-1} = dz_t Wh^T`` (GEMM); after the loop, single big GEMMs
          ``dx = dZ Wx^T``, ``dWx = X^T dZ``, ``dWh = H_prev^T dZ`` over all T N rows.

``exp`` and ``tanh`` are NumPy's own vector loops and element-wise operations follow the
reference's order, so results differ from the reference only by BLAS rounding.
"""
import numpy as np

from cython cimport floating
from cython.parallel cimport prange
from libc.string cimport memcpy, memset

from deepbio._kernels.cpu.blas cimport (VecMath, col_sums, gemm, load_vecmath, omp_threads,
                                        vmap, vsigmoid)

__all__ = ("elman_step_forward", "elman_step_backward", "elman_forward", "elman_backward",
           "lstm_step_forward", "lstm_step_backward", "lstm_forward", "lstm_backward",
           "elman_forward_masked", "elman_backward_masked", "lstm_forward_masked",
           "lstm_backward_masked", "elman_rop", "lstm_rop", "gru_forward", "gru_backward",
           "gru_forward_masked", "gru_backward_masked", "gru_rop")

cdef VecMath VM
load_vecmath(&VM)

cdef enum:
    TANH = 0
    RELU = 1

_ACT = {"tanh": TANH, "relu": RELU}

# Per-step element-wise work below this many entries per thread stays on one thread:
# inside the time loop a parallel region costs more than it saves on small steps.
cdef Py_ssize_t STEP_GRAIN = 32768


def _set_step_grain(Py_ssize_t grain):
    """Tuning hook (private): set the per-step grain above; returns the previous value."""
    global STEP_GRAIN
    if grain < 1:
        raise ValueError("grain must be >= 1")
    old, STEP_GRAIN = STEP_GRAIN, grain
    return old


cdef inline int _nt(Py_ssize_t work) noexcept nogil:
    return omp_threads(work, STEP_GRAIN)


# -------------------------------------------------------------------------- Elman


# --8<-- [start:elman_forward]
cdef inline void elman_act_rows(int act, floating* z, const floating* b, floating* buf,
                                Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t H) noexcept nogil:
    """Rows r0 <= n < r1 of one step, in place: ``h = f(z + b)``; ``buf``: H per row."""
    cdef Py_ssize_t n, j
    cdef floating* zr
    cdef floating* br
    cdef floating zero = 0
    for n in range(r0, r1):
        zr = z + n * H
        br = buf + n * H
        for j in range(H):
            br[j] = zr[j] + b[j]                 # z = x Wx + h_prev Wh + b
        if act == TANH:
            vmap(&VM.tanh, br, zr, H)            # h = tanh z
        else:
            for j in range(H):                   # h = max(z, 0)
                zr[j] = zero if br[j] < 0 else br[j]


cdef void elman_forward_impl(int act, Py_ssize_t T, Py_ssize_t N, Py_ssize_t D, Py_ssize_t H,
                             const floating* x, const floating* h0, const floating* Wx,
                             const floating* Wh, const floating* b, floating* hs,
                             floating* buf) noexcept nogil:
    """``h_t = f(x_t Wx + h_{t-1} Wh + b)`` for t = 1..T into hs (T, N, H); buf: N H."""
    cdef Py_ssize_t t, c, nt = _nt(N * H), per
    cdef const floating* h_prev
    cdef floating* z
    # Z = X Wx, every step at once: (T N, D) @ (D, H)
    gemm(c'N', c'N', T * N, H, D, <floating>1, x, D, Wx, H, <floating>0, hs, H)
    per = (N + nt - 1) // nt
    for t in range(T):
        h_prev = h0 if t == 0 else hs + (t - 1) * N * H
        z = hs + t * N * H
        # z_t += h_{t-1} Wh
        gemm(c'N', c'N', N, H, H, <floating>1, h_prev, H, Wh, H, <floating>1, z, H)
        # h_t = f(z_t + b)
        if nt == 1:
            elman_act_rows(act, z, b, buf, 0, N, H)
        else:
            for c in prange(nt, num_threads=nt, schedule="static"):
                elman_act_rows(act, z, b, buf, c * per, min((c + 1) * per, N), H)
# --8<-- [end:elman_forward]


cdef void step_col_sums(const floating* dZ, Py_ssize_t T, Py_ssize_t N, Py_ssize_t M,
                        floating* db, floating* tmp) noexcept nogil:
    """``db = sum over t = T-1..0 of (sum_n dZ[t, n, :])``, in the reference's order
    (per-step column sums, accumulated backwards in time); ``tmp``: M entries."""
    cdef Py_ssize_t t, j
    memset(db, 0, M * sizeof(floating))
    for t in range(T - 1, -1, -1):
        col_sums(dZ + t * N * M, <floating*>NULL, N, M, 0, M, tmp)
        for j in range(M):
            db[j] = db[j] + tmp[j]


cdef void weight_grads(Py_ssize_t T, Py_ssize_t N, Py_ssize_t D, Py_ssize_t H, Py_ssize_t M,
                       const floating* dZ, const floating* x, const floating* h0,
                       const floating* hs, const floating* Wx, floating* dx, floating* dWx,
                       floating* dWh, floating* db, floating* tmp) noexcept nogil:
    """The products of BPTT that need no time loop, given dZ (T, N, M) for all steps:

    ``dx = dZ Wx^T``;  ``dWx = X^T dZ``;  ``dWh = h_0^T dz_1 + [h_1..h_{T-1}]^T [dz_2..dz_T]``;
    ``db = sum dZ`` (M = H for Elman, 4H for LSTM).
    """
    # dx (T N, D) = dZ (T N, M) Wx^T
    gemm(c'N', c'T', T * N, D, M, <floating>1, dZ, M, Wx, M, <floating>0, dx, D)
    # dWx (D, M) = X^T (D, T N) dZ (T N, M)
    gemm(c'T', c'N', D, M, T * N, <floating>1, x, D, dZ, M, <floating>0, dWx, M)
    # dWh (H, M) = h0^T dz_1 + hs[:-1]^T dZ[1:]
    gemm(c'T', c'N', H, M, N, <floating>1, h0, H, dZ, M, <floating>0, dWh, M)
    if T > 1:
        gemm(c'T', c'N', H, M, (T - 1) * N, <floating>1, hs, H, dZ + N * M, M,
             <floating>1, dWh, M)
    step_col_sums(dZ, T, N, M, db, tmp)


# --8<-- [start:elman_backward]
cdef inline void elman_dz_rows(int act, const floating* dhs_t, const floating* dh_next,
                               const floating* h, floating* dz, Py_ssize_t k0,
                               Py_ssize_t k1) noexcept nogil:
    """Entries k0 <= k < k1 of one step: ``dz = (dhs_t + dh_next) f'(h)``."""
    cdef Py_ssize_t k
    cdef floating dh, m, one = 1, zero = 0
    if act == TANH:
        for k in range(k0, k1):
            dz[k] = (dhs_t[k] + dh_next[k]) * (one - h[k] * h[k])    # tanh' = 1 - h^2
    else:
        for k in range(k0, k1):
            m = zero
            if h[k] > 0:
                m = one
            dz[k] = (dhs_t[k] + dh_next[k]) * m                        # relu' = 1[h > 0]


cdef void elman_backward_impl(int act, Py_ssize_t T, Py_ssize_t N, Py_ssize_t D, Py_ssize_t H,
                              const floating* dhs, const floating* x, const floating* h0,
                              const floating* hs, const floating* Wx, const floating* Wh,
                              floating* dx, floating* dh0, floating* dWx, floating* dWh,
                              floating* db, floating* dZ, floating* tmp) noexcept nogil:
    """BPTT for :func:`elman_forward_impl`.  dh0 doubles as ``dh_next``; dZ: T N H; tmp: H."""
    cdef Py_ssize_t t, c, NH = N * H, nt = _nt(N * H), per
    per = (NH + nt - 1) // nt
    memset(dh0, 0, NH * sizeof(floating))
    for t in range(T - 1, -1, -1):
        # dz_t = (dhs_t + dh_next) f'(h_t)
        if nt == 1:
            elman_dz_rows(act, dhs + t * NH, dh0, hs + t * NH, dZ + t * NH, 0, NH)
        else:
            for c in prange(nt, num_threads=nt, schedule="static"):
                elman_dz_rows(act, dhs + t * NH, dh0, hs + t * NH, dZ + t * NH, c * per,
                              min((c + 1) * per, NH))
        # dh_next = dz_t Wh^T
        gemm(c'N', c'T', N, H, H, <floating>1, dZ + t * NH, H, Wh, H, <floating>0, dh0, H)
    weight_grads(T, N, D, H, H, dZ, x, h0, hs, Wx, dx, dWx, dWh, db, tmp)
# --8<-- [end:elman_backward]


def elman_forward(const floating[:, :, ::1] x, const floating[:, ::1] h0,
                  const floating[:, ::1] Wx, const floating[:, ::1] Wh,
                  const floating[::1] b, activation):
    """``h_t = f(x_t Wx + h_{t-1} Wh + b)``.  x : (T, N, D), h0 : (N, H).
    Returns hs : (T, N, H)."""
    cdef Py_ssize_t T = x.shape[0], N = x.shape[1], D = x.shape[2], H = h0.shape[1]
    cdef int act = _ACT[activation]
    dtype = np.float32 if floating is float else np.float64
    hs_arr = np.empty((T, N, H), dtype=dtype)
    cdef floating[:, :, ::1] hs = hs_arr
    cdef floating[:, ::1] buf = np.empty((N, H), dtype=dtype)
    with nogil:
        elman_forward_impl(act, T, N, D, H, &x[0, 0, 0], &h0[0, 0], &Wx[0, 0], &Wh[0, 0],
                           &b[0], &hs[0, 0, 0], &buf[0, 0])
    return hs_arr


def elman_step_forward(const floating[:, ::1] x, const floating[:, ::1] h_prev,
                       const floating[:, ::1] Wx, const floating[:, ::1] Wh,
                       const floating[::1] b, activation):
    """One Elman step ``h = f(x Wx + h_prev Wh + b)``.  Returns h : (N, H)."""
    cdef Py_ssize_t N = x.shape[0], D = x.shape[1], H = h_prev.shape[1]
    cdef int act = _ACT[activation]
    dtype = np.float32 if floating is float else np.float64
    h_arr = np.empty((N, H), dtype=dtype)
    cdef floating[:, ::1] h = h_arr
    cdef floating[:, ::1] buf = np.empty((N, H), dtype=dtype)
    with nogil:
        elman_forward_impl(act, 1, N, D, H, &x[0, 0], &h_prev[0, 0], &Wx[0, 0], &Wh[0, 0],
                           &b[0], &h[0, 0], &buf[0, 0])
    return h_arr


def elman_backward(const floating[:, :, ::1] dhs, const floating[:, :, ::1] x,
                   const floating[:, ::1] h0, const floating[:, :, ::1] hs,
                   const floating[:, ::1] Wx, const floating[:, ::1] Wh, activation):
    """BPTT for :func:`elman_forward`.  Returns ``(dx (T, N, D), dh0 (N, H), dWx, dWh, db)``."""
    cdef Py_ssize_t T = x.shape[0], N = x.shape[1], D = x.shape[2], H = h0.shape[1]
    cdef int act = _ACT[activation]
    dtype = np.float32 if floating is float else np.float64
    dx_arr = np.empty((T, N, D), dtype=dtype)
    dh0_arr = np.empty((N, H), dtype=dtype)
    dWx_arr = np.empty((D, H), dtype=dtype)
    dWh_arr = np.empty((H, H), dtype=dtype)
    db_arr = np.empty(H, dtype=dtype)
    cdef floating[:, :, ::1] dx = dx_arr
    cdef floating[:, ::1] dh0 = dh0_arr
    cdef floating[:, ::1] dWx = dWx_arr
    cdef floating[:, ::1] dWh = dWh_arr
    cdef floating[::1] db = db_arr
    cdef floating[:, :, ::1] dZ = np.empty((T, N, H), dtype=dtype)
    cdef floating[::1] tmp = np.empty(H, dtype=dtype)
    with nogil:
        elman_backward_impl(act, T, N, D, H, &dhs[0, 0, 0], &x[0, 0, 0], &h0[0, 0],
                            &hs[0, 0, 0], &Wx[0, 0], &Wh[0, 0], &dx[0, 0, 0], &dh0[0, 0],
                            &dWx[0, 0], &dWh[0, 0], &db[0], &dZ[0, 0, 0], &tmp[0])
    return dx_arr, dh0_arr, dWx_arr, dWh_arr, db_arr


def elman_step_backward(const floating[:, ::1] dh, const floating[:, ::1] x,
                        const floating[:, ::1] h_prev, const floating[:, ::1] h,
                        const floating[:, ::1] Wx, const floating[:, ::1] Wh, activation):
    """Backward through one Elman step (``dz = dh f'(h)``, then the products).
    Returns ``(dx (N, D), dh_prev (N, H), dWx (D, H), dWh (H, H), db (H,))``."""
    cdef Py_ssize_t N = x.shape[0], D = x.shape[1], H = h_prev.shape[1]
    cdef int act = _ACT[activation]
    dtype = np.float32 if floating is float else np.float64
    dx_arr = np.empty((N, D), dtype=dtype)
    dhp_arr = np.empty((N, H), dtype=dtype)
    dWx_arr = np.empty((D, H), dtype=dtype)
    dWh_arr = np.empty((H, H), dtype=dtype)
    db_arr = np.empty(H, dtype=dtype)
    cdef floating[:, ::1] dx = dx_arr
    cdef floating[:, ::1] dhp = dhp_arr
    cdef floating[:, ::1] dWx = dWx_arr
    cdef floating[:, ::1] dWh = dWh_arr
    cdef floating[::1] db = db_arr
    cdef floating[:, ::1] dZ = np.empty((N, H), dtype=dtype)
    cdef floating[::1] tmp = np.empty(H, dtype=dtype)
    with nogil:
        elman_backward_impl(act, 1, N, D, H, &dh[0, 0], &x[0, 0], &h_prev[0, 0], &h[0, 0],
                            &Wx[0, 0], &Wh[0, 0], &dx[0, 0], &dhp[0, 0], &dWx[0, 0],
                            &dWh[0, 0], &db[0], &dZ[0, 0], &tmp[0])
    return dx_arr, dhp_arr, dWx_arr, dWh_arr, db_arr


# --------------------------------------------------------------------------- LSTM


# --8<-- [start:lstm_forward]
cdef inline void lstm_cell_rows(floating* g, const floating* b, const floating* c_prev,
                                floating* c, floating* h, floating* zb, floating* tmp,
                                Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t H) noexcept nogil:
    """Rows r0 <= n < r1 of one LSTM step (gate order i, f, g, o).

    On entry ``g`` holds ``x Wx + h_prev Wh`` (N, 4H); on exit the gates after their
    non-linearities.  ``zb``: 4H, ``tmp``: 4H scratch per row (indexed by row).
    """
    cdef Py_ssize_t n, j, G = 4 * H, m = (r1 - r0) * G
    cdef floating* gr
    cdef floating* zr
    cdef floating* cr
    cdef floating* tc
    if m <= 0:
        return
    # z = x Wx + h_prev Wh + b
    for n in range(r0, r1):
        gr = g + n * G
        zr = zb + n * G
        for j in range(G):
            zr[j] = gr[j] + b[j]
    # i, f, o = sigm(z_i), sigm(z_f), sigm(z_o)   (computed on every column, then ...)
    vsigmoid(&VM, zb + r0 * G, g + r0 * G, tmp + r0 * G, m)
    for n in range(r0, r1):
        gr = g + n * G
        zr = zb + n * G
        cr = c + n * H
        tc = tmp + n * G
        # ... g = tanh(z_g) overwrites its columns
        vmap(&VM.tanh, zr + 2 * H, gr + 2 * H, H)
        # c = f * c_prev + i * g
        for j in range(H):
            cr[j] = gr[H + j] * c_prev[n * H + j] + gr[j] * gr[2 * H + j]
        # h = o * tanh(c)
        vmap(&VM.tanh, cr, tc, H)
        for j in range(H):
            h[n * H + j] = gr[3 * H + j] * tc[j]


cdef void lstm_forward_impl(Py_ssize_t T, Py_ssize_t N, Py_ssize_t D, Py_ssize_t H,
                            const floating* x, const floating* h0, const floating* c0,
                            const floating* Wx, const floating* Wh, const floating* b,
                            floating* hs, floating* cs, floating* gates, floating* zb,
                            floating* tmp) noexcept nogil:
    """LSTM over T steps into hs, cs (T, N, H) and gates (T, N, 4H); zb, tmp: N 4H each."""
    cdef Py_ssize_t t, c, G = 4 * H, nt = _nt(N * G), per
    cdef const floating* h_prev
    cdef const floating* c_prev
    cdef floating* g
    # Z = X Wx, every step at once: (T N, D) @ (D, 4H)
    gemm(c'N', c'N', T * N, G, D, <floating>1, x, D, Wx, G, <floating>0, gates, G)
    per = (N + nt - 1) // nt
    for t in range(T):
        h_prev = h0 if t == 0 else hs + (t - 1) * N * H
        c_prev = c0 if t == 0 else cs + (t - 1) * N * H
        g = gates + t * N * G
        # z_t += h_{t-1} Wh
        gemm(c'N', c'N', N, G, H, <floating>1, h_prev, H, Wh, G, <floating>1, g, G)
        if nt == 1:
            lstm_cell_rows(g, b, c_prev, cs + t * N * H, hs + t * N * H, zb, tmp, 0, N, H)
        else:
            for c in prange(nt, num_threads=nt, schedule="static"):
                lstm_cell_rows(g, b, c_prev, cs + t * N * H, hs + t * N * H, zb, tmp,
                               c * per, min((c + 1) * per, N), H)
# --8<-- [end:lstm_forward]


# --8<-- [start:lstm_backward]
cdef inline void lstm_dz_rows(const floating* dhs_t, floating* dh_next, floating* dc_next,
                              const floating* c_prev, const floating* gates, floating* dz,
                              const floating* tc, floating* work, Py_ssize_t r0,
                              Py_ssize_t r1, Py_ssize_t H) noexcept nogil:
    """Rows r0 <= n < r1 of one LSTM backward step (``tc = tanh(c)`` given):

    ``dh = dhs_t + dh_next``;  ``dc_tot = dc_next + dh o (1 - tc^2)``;
    ``dz = [dc_tot g i (1-i), dc_tot c_prev f (1-f), dc_tot i (1-g^2), dh tc o (1-o)]``;
    ``dc_next = dc_tot f``.  ``work``: 2 H entries per row (indexed by row).

    One short loop per quantity (few pointers each, so gcc vectorizes them all).
    """
    cdef Py_ssize_t n, j, G = 4 * H
    cdef floating one = 1
    cdef const floating* i
    cdef const floating* f
    cdef const floating* g
    cdef const floating* o
    cdef const floating* t
    cdef const floating* cp
    cdef floating* dh
    cdef floating* dct
    cdef floating* dzr
    cdef floating* dcn
    for n in range(r0, r1):
        i = gates + n * G
        f = i + H
        g = i + 2 * H
        o = i + 3 * H
        t = tc + n * H
        cp = c_prev + n * H
        dcn = dc_next + n * H
        dh = work + n * 2 * H
        dct = dh + H
        dzr = dz + n * G
        for j in range(H):
            dh[j] = dhs_t[n * H + j] + dh_next[n * H + j]
        for j in range(H):
            dct[j] = dcn[j] + dh[j] * o[j] * (one - t[j] * t[j])
        for j in range(H):
            dzr[j] = dct[j] * g[j] * i[j] * (one - i[j])
        for j in range(H):
            dzr[H + j] = dct[j] * cp[j] * f[j] * (one - f[j])
        for j in range(H):
            dzr[2 * H + j] = dct[j] * i[j] * (one - g[j] * g[j])
        for j in range(H):
            dzr[3 * H + j] = dh[j] * t[j] * o[j] * (one - o[j])
        for j in range(H):
            dcn[j] = dct[j] * f[j]


cdef void lstm_backward_impl(Py_ssize_t T, Py_ssize_t N, Py_ssize_t D, Py_ssize_t H,
                             const floating* dhs, const floating* dc_last,
                             const floating* x, const floating* h0, const floating* c0,
                             const floating* hs, const floating* cs, const floating* gates,
                             const floating* Wx, const floating* Wh, floating* dx,
                             floating* dh0, floating* dc0, floating* dWx, floating* dWh,
                             floating* db, floating* dZ, floating* tc, floating* work,
                             floating* tmp) noexcept nogil:
    """BPTT for :func:`lstm_forward_impl`.  ``dc_last``: gradient reaching c_T (NULL: 0).

    dh0, dc0 double as ``dh_next``, ``dc_next``; dZ: T N 4H; tc: N H; work: N 2H; tmp: 4H.
    """
    cdef Py_ssize_t t, c, G = 4 * H, NH = N * H, nt = _nt(N * G), per
    cdef const floating* c_prev
    per = (N + nt - 1) // nt
    memset(dh0, 0, NH * sizeof(floating))
    if dc_last == NULL:
        memset(dc0, 0, NH * sizeof(floating))
    else:
        memcpy(dc0, dc_last, NH * sizeof(floating))
    for t in range(T - 1, -1, -1):
        c_prev = c0 if t == 0 else cs + (t - 1) * NH
        # tc = tanh(c_t)
        vmap(&VM.tanh, cs + t * NH, tc, NH)
        if nt == 1:
            lstm_dz_rows(dhs + t * NH, dh0, dc0, c_prev, gates + t * N * G, dZ + t * N * G,
                         tc, work, 0, N, H)
        else:
            for c in prange(nt, num_threads=nt, schedule="static"):
                lstm_dz_rows(dhs + t * NH, dh0, dc0, c_prev, gates + t * N * G,
                             dZ + t * N * G, tc, work, c * per, min((c + 1) * per, N), H)
        # dh_next = dz_t Wh^T
        gemm(c'N', c'T', N, H, G, <floating>1, dZ + t * N * G, G, Wh, G, <floating>0, dh0, H)
    weight_grads(T, N, D, H, G, dZ, x, h0, hs, Wx, dx, dWx, dWh, db, tmp)
# --8<-- [end:lstm_backward]


def lstm_forward(const floating[:, :, ::1] x, const floating[:, ::1] h0,
                 const floating[:, ::1] c0, const floating[:, ::1] Wx,
                 const floating[:, ::1] Wh, const floating[::1] b):
    """LSTM over a time-major sequence.  x : (T, N, D), h0, c0 : (N, H).
    Returns ``(hs (T, N, H), cs (T, N, H), gates (T, N, 4H))``."""
    cdef Py_ssize_t T = x.shape[0], N = x.shape[1], D = x.shape[2], H = h0.shape[1]
    dtype = np.float32 if floating is float else np.float64
    hs_arr = np.empty((T, N, H), dtype=dtype)
    cs_arr = np.empty((T, N, H), dtype=dtype)
    g_arr = np.empty((T, N, 4 * H), dtype=dtype)
    cdef floating[:, :, ::1] hs = hs_arr
    cdef floating[:, :, ::1] cs = cs_arr
    cdef floating[:, :, ::1] g = g_arr
    cdef floating[:, :, ::1] w = np.empty((2, N, 4 * H), dtype=dtype)
    with nogil:
        lstm_forward_impl(T, N, D, H, &x[0, 0, 0], &h0[0, 0], &c0[0, 0], &Wx[0, 0],
                          &Wh[0, 0], &b[0], &hs[0, 0, 0], &cs[0, 0, 0], &g[0, 0, 0],
                          &w[0, 0, 0], &w[1, 0, 0])
    return hs_arr, cs_arr, g_arr


def lstm_step_forward(const floating[:, ::1] x, const floating[:, ::1] h_prev,
                      const floating[:, ::1] c_prev, const floating[:, ::1] Wx,
                      const floating[:, ::1] Wh, const floating[::1] b):
    """One LSTM step.  Returns ``(h (N, H), c (N, H), gates (N, 4H))``."""
    cdef Py_ssize_t N = x.shape[0], D = x.shape[1], H = h_prev.shape[1]
    dtype = np.float32 if floating is float else np.float64
    h_arr = np.empty((N, H), dtype=dtype)
    c_arr = np.empty((N, H), dtype=dtype)
    g_arr = np.empty((N, 4 * H), dtype=dtype)
    cdef floating[:, ::1] h = h_arr
    cdef floating[:, ::1] c = c_arr
    cdef floating[:, ::1] g = g_arr
    cdef floating[:, :, ::1] w = np.empty((2, N, 4 * H), dtype=dtype)
    with nogil:
        lstm_forward_impl(1, N, D, H, &x[0, 0], &h_prev[0, 0], &c_prev[0, 0], &Wx[0, 0],
                          &Wh[0, 0], &b[0], &h[0, 0], &c[0, 0], &g[0, 0],
                          &w[0, 0, 0], &w[1, 0, 0])
    return h_arr, c_arr, g_arr


def lstm_backward(const floating[:, :, ::1] dhs, const floating[:, :, ::1] x,
                  const floating[:, ::1] h0, const floating[:, ::1] c0,
                  const floating[:, :, ::1] hs, const floating[:, :, ::1] cs,
                  const floating[:, :, ::1] gates, const floating[:, ::1] Wx,
                  const floating[:, ::1] Wh):
    """BPTT for :func:`lstm_forward`.
    Returns ``(dx (T, N, D), dh0 (N, H), dc0 (N, H), dWx, dWh, db)``."""
    cdef Py_ssize_t T = x.shape[0], N = x.shape[1], D = x.shape[2], H = h0.shape[1]
    dtype = np.float32 if floating is float else np.float64
    out = (np.empty((T, N, D), dtype=dtype), np.empty((N, H), dtype=dtype),
           np.empty((N, H), dtype=dtype), np.empty((D, 4 * H), dtype=dtype),
           np.empty((H, 4 * H), dtype=dtype), np.empty(4 * H, dtype=dtype))
    cdef floating[:, :, ::1] dx = out[0]
    cdef floating[:, ::1] dh0 = out[1]
    cdef floating[:, ::1] dc0 = out[2]
    cdef floating[:, ::1] dWx = out[3]
    cdef floating[:, ::1] dWh = out[4]
    cdef floating[::1] db = out[5]
    cdef floating[:, :, ::1] dZ = np.empty((T, N, 4 * H), dtype=dtype)
    cdef floating[:, ::1] tc = np.empty((N, H), dtype=dtype)
    cdef floating[:, ::1] work = np.empty((N, 2 * H), dtype=dtype)
    cdef floating[::1] tmp = np.empty(4 * H, dtype=dtype)
    with nogil:
        lstm_backward_impl(T, N, D, H, &dhs[0, 0, 0], <floating*>NULL, &x[0, 0, 0],
                           &h0[0, 0], &c0[0, 0], &hs[0, 0, 0], &cs[0, 0, 0],
                           &gates[0, 0, 0], &Wx[0, 0], &Wh[0, 0], &dx[0, 0, 0], &dh0[0, 0],
                           &dc0[0, 0], &dWx[0, 0], &dWh[0, 0], &db[0], &dZ[0, 0, 0],
                           &tc[0, 0], &work[0, 0], &tmp[0])
    return out


def lstm_step_backward(const floating[:, ::1] dh, const floating[:, ::1] dc,
                       const floating[:, ::1] x, const floating[:, ::1] h_prev,
                       const floating[:, ::1] c_prev, const floating[:, ::1] c,
                       const floating[:, ::1] gates, const floating[:, ::1] Wx,
                       const floating[:, ::1] Wh):
    """Backward through one LSTM step.
    Returns ``(dx, dh_prev, dc_prev, dWx (D, 4H), dWh (H, 4H), db (4H,))``."""
    cdef Py_ssize_t N = x.shape[0], D = x.shape[1], H = h_prev.shape[1]
    dtype = np.float32 if floating is float else np.float64
    out = (np.empty((N, D), dtype=dtype), np.empty((N, H), dtype=dtype),
           np.empty((N, H), dtype=dtype), np.empty((D, 4 * H), dtype=dtype),
           np.empty((H, 4 * H), dtype=dtype), np.empty(4 * H, dtype=dtype))
    cdef floating[:, ::1] dx = out[0]
    cdef floating[:, ::1] dhp = out[1]
    cdef floating[:, ::1] dcp = out[2]
    cdef floating[:, ::1] dWx = out[3]
    cdef floating[:, ::1] dWh = out[4]
    cdef floating[::1] db = out[5]
    cdef floating[:, ::1] dZ = np.empty((N, 4 * H), dtype=dtype)
    cdef floating[:, ::1] tc = np.empty((N, H), dtype=dtype)
    cdef floating[:, ::1] work = np.empty((N, 2 * H), dtype=dtype)
    cdef floating[::1] tmp = np.empty(4 * H, dtype=dtype)
    with nogil:
        lstm_backward_impl(1, N, D, H, &dh[0, 0], &dc[0, 0], &x[0, 0], &h_prev[0, 0],
                           &c_prev[0, 0], &h_prev[0, 0], &c[0, 0], &gates[0, 0], &Wx[0, 0],
                           &Wh[0, 0], &dx[0, 0], &dhp[0, 0], &dcp[0, 0], &dWx[0, 0],
                           &dWh[0, 0], &db[0], &dZ[0, 0], &tc[0, 0], &work[0, 0], &tmp[0])
    return out


# ------------------------------------- masks (variable lengths), truncation, R-op
#
# Whole-sequence twins of the step loops in reference.elman_forward_masked and friends:
# the same GEMMs as above (x Wx for all steps at once; h_{t-1} Wh, dz_t Wh^T or
# R{h_{t-1}} Wh per step), and per step one fused pass over rows for the cell and mask
# arithmetic.  m, keep: (T, N), one factor per row and step; keep may be NULL (1).


cdef inline void mix_rows(const floating* m, const floating* new, const floating* old,
                          floating* out, Py_ssize_t r0, Py_ssize_t r1,
                          Py_ssize_t H) noexcept nogil:
    """Rows r0 <= n < r1: ``out = m_n new + (1 - m_n) old``."""
    cdef Py_ssize_t n, j
    cdef floating mn, om, one = 1
    for n in range(r0, r1):
        mn = m[n]
        om = one - mn
        for j in range(H):
            out[n * H + j] = mn * new[n * H + j] + om * old[n * H + j]


cdef inline const floating* _opt_ptr(object a, floating sample):
    """Address of an optional C-contiguous array's data (NULL for None)."""
    cdef const floating[::1] flat
    if a is None:
        return NULL
    flat = a.reshape(-1)
    return &flat[0]


cdef void elman_forward_masked_impl(int act, Py_ssize_t T, Py_ssize_t N, Py_ssize_t D,
                                    Py_ssize_t H, const floating* x, const floating* h0,
                                    const floating* m, const floating* Wx,
                                    const floating* Wh, const floating* b, floating* hs,
                                    floating* hnew, floating* buf) noexcept nogil:
    """``h~_t = f(x_t Wx + h_{t-1} Wh + b)`` into hnew, ``h_t = m_t h~_t + (1 - m_t)
    h_{t-1}`` into hs; buf: N H."""
    cdef Py_ssize_t t, c, NH = N * H, nt = _nt(N * H), per
    cdef const floating* h_prev
    cdef floating* z
    gemm(c'N', c'N', T * N, H, D, <floating>1, x, D, Wx, H, <floating>0, hnew, H)
    per = (N + nt - 1) // nt
    for t in range(T):
        h_prev = h0 if t == 0 else hs + (t - 1) * NH
        z = hnew + t * NH
        gemm(c'N', c'N', N, H, H, <floating>1, h_prev, H, Wh, H, <floating>1, z, H)
        if nt == 1:
            elman_act_rows(act, z, b, buf, 0, N, H)
            mix_rows(m + t * N, z, h_prev, hs + t * NH, 0, N, H)
        else:
            for c in prange(nt, num_threads=nt, schedule="static"):
                elman_act_rows(act, z, b, buf, c * per, min((c + 1) * per, N), H)
                mix_rows(m + t * N, z, h_prev, hs + t * NH, c * per, min((c + 1) * per, N), H)


cdef inline void elman_dz_masked_rows(int act, const floating* dhs_t, const floating* carry,
                                      const floating* h, const floating* m, floating* dz,
                                      floating* dh, Py_ssize_t r0, Py_ssize_t r1,
                                      Py_ssize_t H) noexcept nogil:
    """Rows r0 <= n < r1: ``dh = dhs_t + carry``; ``dz = (m_n dh) f'(h~)``."""
    cdef Py_ssize_t n, j, k
    cdef floating mn, md, one = 1, zero = 0
    for n in range(r0, r1):
        mn = m[n]
        for j in range(H):
            k = n * H + j
            dh[k] = dhs_t[k] + carry[k]
            md = mn * dh[k]
            if act == TANH:
                dz[k] = md * (one - h[k] * h[k])
            else:
                dz[k] = md * (one if h[k] > 0 else zero)


cdef inline void carry_rows(floating* carry, const floating* dh, const floating* m,
                            const floating* keep, Py_ssize_t r0, Py_ssize_t r1,
                            Py_ssize_t H) noexcept nogil:
    """Rows r0 <= n < r1: ``carry = (carry + (1 - m_n) dh) keep_n`` (keep NULL: 1)."""
    cdef Py_ssize_t n, j
    cdef floating om, kp, one = 1
    for n in range(r0, r1):
        om = one - m[n]
        for j in range(H):
            carry[n * H + j] = carry[n * H + j] + om * dh[n * H + j]
        if keep != NULL:
            kp = keep[n]
            for j in range(H):
                carry[n * H + j] = carry[n * H + j] * kp


cdef void elman_backward_masked_impl(int act, Py_ssize_t T, Py_ssize_t N, Py_ssize_t D,
                                     Py_ssize_t H, const floating* dhs, const floating* x,
                                     const floating* h0, const floating* hs,
                                     const floating* hnew, const floating* m,
                                     const floating* keep, const floating* Wx,
                                     const floating* Wh, floating* dx, floating* dh0,
                                     floating* dWx, floating* dWh, floating* db,
                                     floating* dZ, floating* dh, floating* tmp) noexcept nogil:
    """BPTT for the masked Elman; dh0 doubles as the carry; dZ: T N H; dh: N H; tmp: H."""
    cdef Py_ssize_t t, c, NH = N * H, nt = _nt(N * H), per
    cdef const floating* kt
    per = (N + nt - 1) // nt
    memset(dh0, 0, NH * sizeof(floating))
    for t in range(T - 1, -1, -1):
        kt = keep
        if keep != NULL:
            kt = keep + t * N
        if nt == 1:
            elman_dz_masked_rows(act, dhs + t * NH, dh0, hnew + t * NH, m + t * N,
                                 dZ + t * NH, dh, 0, N, H)
        else:
            for c in prange(nt, num_threads=nt, schedule="static"):
                elman_dz_masked_rows(act, dhs + t * NH, dh0, hnew + t * NH, m + t * N,
                                     dZ + t * NH, dh, c * per, min((c + 1) * per, N), H)
        # carry = dz_t Wh^T, then + (1 - m_t) dh, times keep_t
        gemm(c'N', c'T', N, H, H, <floating>1, dZ + t * NH, H, Wh, H, <floating>0, dh0, H)
        if nt == 1:
            carry_rows(dh0, dh, m + t * N, kt, 0, N, H)
        else:
            for c in prange(nt, num_threads=nt, schedule="static"):
                carry_rows(dh0, dh, m + t * N, kt, c * per, min((c + 1) * per, N), H)
    weight_grads(T, N, D, H, H, dZ, x, h0, hs, Wx, dx, dWx, dWh, db, tmp)


cdef void lstm_forward_masked_impl(Py_ssize_t T, Py_ssize_t N, Py_ssize_t D, Py_ssize_t H,
                                   const floating* x, const floating* h0, const floating* c0,
                                   const floating* m, const floating* Wx, const floating* Wh,
                                   const floating* b, floating* hs, floating* cs,
                                   floating* cnew, floating* gates, floating* hn,
                                   floating* zb, floating* tmp) noexcept nogil:
    """Masked LSTM: the cell gives (h~_t into hn, c~_t into cnew, gates); then the mask
    mixes states into hs, cs.  hn: N H; zb, tmp: N 4H each."""
    cdef Py_ssize_t t, c, G = 4 * H, NH = N * H, nt = _nt(N * G), per, r0, r1
    cdef const floating* h_prev
    cdef const floating* c_prev
    cdef floating* g
    gemm(c'N', c'N', T * N, G, D, <floating>1, x, D, Wx, G, <floating>0, gates, G)
    per = (N + nt - 1) // nt
    for t in range(T):
        h_prev = h0 if t == 0 else hs + (t - 1) * NH
        c_prev = c0 if t == 0 else cs + (t - 1) * NH
        g = gates + t * N * G
        gemm(c'N', c'N', N, G, H, <floating>1, h_prev, H, Wh, G, <floating>1, g, G)
        if nt == 1:
            lstm_cell_rows(g, b, c_prev, cnew + t * NH, hn, zb, tmp, 0, N, H)
            mix_rows(m + t * N, hn, h_prev, hs + t * NH, 0, N, H)
            mix_rows(m + t * N, cnew + t * NH, c_prev, cs + t * NH, 0, N, H)
        else:
            for c in prange(nt, num_threads=nt, schedule="static"):
                r0 = c * per
                r1 = min((c + 1) * per, N)
                lstm_cell_rows(g, b, c_prev, cnew + t * NH, hn, zb, tmp, r0, r1, H)
                mix_rows(m + t * N, hn, h_prev, hs + t * NH, r0, r1, H)
                mix_rows(m + t * N, cnew + t * NH, c_prev, cs + t * NH, r0, r1, H)


cdef inline void lstm_dz_masked_rows(const floating* dhs_t, const floating* hcarry,
                                     floating* ccarry, const floating* c_prev,
                                     const floating* gates, const floating* tc,
                                     const floating* m, const floating* keep, floating* dz,
                                     floating* dh, Py_ssize_t r0, Py_ssize_t r1,
                                     Py_ssize_t H) noexcept nogil:
    """Rows r0 <= n < r1 of one masked LSTM backward step (``tc = tanh(c~_t)``):
    ``dh = dhs_t + c^h``; with ``mdh = m dh``, ``mdc = m c^c``: ``dc_tot = mdc + mdh o
    (1 - tc^2)``; ``dz = [dc_tot g i(1-i), dc_tot c_prev f(1-f), dc_tot i (1-g^2),
    mdh tc o(1-o)]``; ``c^c = (dc_tot f + (1 - m) c^c) keep``."""
    cdef Py_ssize_t n, j, G = 4 * H, k
    cdef floating one = 1, mn, om, kp, mdh, mdc, dct, gi, gf, gg, go, t
    cdef const floating* gr
    cdef floating* dzr
    for n in range(r0, r1):
        mn = m[n]
        om = one - mn
        kp = one if keep == NULL else keep[n]
        gr = gates + n * G
        dzr = dz + n * G
        for j in range(H):
            k = n * H + j
            gi = gr[j]
            gf = gr[H + j]
            gg = gr[2 * H + j]
            go = gr[3 * H + j]
            t = tc[k]
            dh[k] = dhs_t[k] + hcarry[k]
            mdh = mn * dh[k]
            mdc = mn * ccarry[k]
            dct = mdc + mdh * go * (one - t * t)
            dzr[j] = dct * gg * gi * (one - gi)
            dzr[H + j] = dct * c_prev[k] * gf * (one - gf)
            dzr[2 * H + j] = dct * gi * (one - gg * gg)
            dzr[3 * H + j] = mdh * t * go * (one - go)
            ccarry[k] = dct * gf + om * ccarry[k]
            if keep != NULL:
                ccarry[k] = ccarry[k] * kp


cdef void lstm_backward_masked_impl(Py_ssize_t T, Py_ssize_t N, Py_ssize_t D, Py_ssize_t H,
                                    const floating* dhs, const floating* x,
                                    const floating* h0, const floating* c0,
                                    const floating* hs, const floating* cs,
                                    const floating* cnew, const floating* gates,
                                    const floating* m, const floating* keep,
                                    const floating* Wx, const floating* Wh, floating* dx,
                                    floating* dh0, floating* dc0, floating* dWx,
                                    floating* dWh, floating* db, floating* dZ, floating* tc,
                                    floating* dh, floating* tmp) noexcept nogil:
    """BPTT for the masked LSTM; dh0, dc0 double as the carries; dZ: T N 4H; tc, dh: N H;
    tmp: 4H."""
    cdef Py_ssize_t t, c, G = 4 * H, NH = N * H, nt = _nt(N * G), per
    cdef const floating* c_prev
    cdef const floating* kt
    per = (N + nt - 1) // nt
    memset(dh0, 0, NH * sizeof(floating))
    memset(dc0, 0, NH * sizeof(floating))
    for t in range(T - 1, -1, -1):
        c_prev = c0 if t == 0 else cs + (t - 1) * NH
        kt = keep
        if keep != NULL:
            kt = keep + t * N
        vmap(&VM.tanh, cnew + t * NH, tc, NH)
        if nt == 1:
            lstm_dz_masked_rows(dhs + t * NH, dh0, dc0, c_prev, gates + t * N * G, tc,
                                m + t * N, kt, dZ + t * N * G, dh, 0, N, H)
        else:
            for c in prange(nt, num_threads=nt, schedule="static"):
                lstm_dz_masked_rows(dhs + t * NH, dh0, dc0, c_prev, gates + t * N * G, tc,
                                    m + t * N, kt, dZ + t * N * G, dh, c * per,
                                    min((c + 1) * per, N), H)
        gemm(c'N', c'T', N, H, G, <floating>1, dZ + t * N * G, G, Wh, G, <floating>0, dh0, H)
        if nt == 1:
            carry_rows(dh0, dh, m + t * N, kt, 0, N, H)
        else:
            for c in prange(nt, num_threads=nt, schedule="static"):
                carry_rows(dh0, dh, m + t * N, kt, c * per, min((c + 1) * per, N), H)
    weight_grads(T, N, D, H, G, dZ, x, h0, hs, Wx, dx, dWx, dWh, db, tmp)


# --8<-- [start:elman_rop]
cdef inline void elman_rop_rows(int act, const floating* rz, const floating* h,
                                const floating* m, const floating* r_prev, floating* r,
                                Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t H) noexcept nogil:
    """Rows r0 <= n < r1: ``new = f'(h~) rz``; ``r = m new + (1 - m) r_prev`` (m NULL:
    ``r = new``)."""
    cdef Py_ssize_t n, j, k
    cdef floating one = 1, zero = 0, new, mn
    for n in range(r0, r1):
        mn = one if m == NULL else m[n]
        for j in range(H):
            k = n * H + j
            if act == TANH:
                new = rz[k] * (one - h[k] * h[k])
            else:
                new = rz[k] * (one if h[k] > 0 else zero)
            if m == NULL:
                r[k] = new
            else:
                r[k] = mn * new + (one - mn) * r_prev[k]


cdef void elman_rop_impl(int act, Py_ssize_t T, Py_ssize_t N, Py_ssize_t H,
                         const floating* A, const floating* hnew, const floating* m,
                         const floating* Wh, floating* rh, floating* rz,
                         const floating* zeros) noexcept nogil:
    """``R{h_t}`` into rh (T, N, H); rz: N H scratch; zeros: N H zeros (R{h_0})."""
    cdef Py_ssize_t t, c, NH = N * H, nt = _nt(N * H), per
    cdef const floating* r_prev
    cdef const floating* mt
    per = (N + nt - 1) // nt
    for t in range(T):
        r_prev = zeros
        if t > 0:
            r_prev = rh + (t - 1) * NH
        mt = m
        if m != NULL:
            mt = m + t * N
        # rz = A_t + R{h_{t-1}} Wh
        memcpy(rz, A + t * NH, NH * sizeof(floating))
        if t > 0:
            gemm(c'N', c'N', N, H, H, <floating>1, r_prev, H, Wh, H, <floating>1, rz, H)
        if nt == 1:
            elman_rop_rows(act, rz, hnew + t * NH, mt, r_prev, rh + t * NH, 0, N, H)
        else:
            for c in prange(nt, num_threads=nt, schedule="static"):
                elman_rop_rows(act, rz, hnew + t * NH, mt, r_prev, rh + t * NH, c * per,
                               min((c + 1) * per, N), H)
# --8<-- [end:elman_rop]


cdef inline void lstm_rop_rows(const floating* rz, const floating* gates,
                               const floating* c_prev, const floating* tc,
                               const floating* m, const floating* rh_prev, floating* rc,
                               floating* rh, Py_ssize_t r0, Py_ssize_t r1,
                               Py_ssize_t H) noexcept nogil:
    """Rows r0 <= n < r1 of one LSTM R-op step (``tc = tanh(c~_t)``, rc carried in place)."""
    cdef Py_ssize_t n, j, k, G = 4 * H
    cdef floating one = 1, mn, gi, gf, gg, go, ri, rf, rg, ro, rcn, rhn, t
    cdef const floating* gr
    cdef const floating* zr
    for n in range(r0, r1):
        mn = one if m == NULL else m[n]
        gr = gates + n * G
        zr = rz + n * G
        for j in range(H):
            k = n * H + j
            gi = gr[j]
            gf = gr[H + j]
            gg = gr[2 * H + j]
            go = gr[3 * H + j]
            ri = gi * (one - gi) * zr[j]
            rf = gf * (one - gf) * zr[H + j]
            rg = (one - gg * gg) * zr[2 * H + j]
            ro = go * (one - go) * zr[3 * H + j]
            rcn = rf * c_prev[k] + gf * rc[k] + ri * gg + gi * rg
            t = tc[k]
            rhn = ro * t + go * (one - t * t) * rcn
            if m == NULL:
                rh[k] = rhn
                rc[k] = rcn
            else:
                rh[k] = mn * rhn + (one - mn) * rh_prev[k]
                rc[k] = mn * rcn + (one - mn) * rc[k]


cdef void lstm_rop_impl(Py_ssize_t T, Py_ssize_t N, Py_ssize_t H, const floating* A,
                        const floating* c0, const floating* cs, const floating* cnew,
                        const floating* gates, const floating* m, const floating* Wh,
                        floating* rh, floating* rz, floating* rc, floating* tc,
                        const floating* zeros) noexcept nogil:
    """``R{h_t}`` into rh (T, N, H); rz: N 4H; rc (zeroed here), tc: N H; zeros: N H."""
    cdef Py_ssize_t t, c, G = 4 * H, NH = N * H, nt = _nt(N * G), per
    cdef const floating* rh_prev
    cdef const floating* c_prev
    cdef const floating* mt
    per = (N + nt - 1) // nt
    memset(rc, 0, NH * sizeof(floating))
    for t in range(T):
        rh_prev = zeros
        if t > 0:
            rh_prev = rh + (t - 1) * NH
        c_prev = c0 if t == 0 else cs + (t - 1) * NH
        mt = m
        if m != NULL:
            mt = m + t * N
        memcpy(rz, A + t * N * G, N * G * sizeof(floating))
        if t > 0:
            gemm(c'N', c'N', N, G, H, <floating>1, rh_prev, H, Wh, G, <floating>1, rz, G)
        vmap(&VM.tanh, cnew + t * NH, tc, NH)
        if nt == 1:
            lstm_rop_rows(rz, gates + t * N * G, c_prev, tc, mt, rh_prev, rc, rh + t * NH,
                          0, N, H)
        else:
            for c in prange(nt, num_threads=nt, schedule="static"):
                lstm_rop_rows(rz, gates + t * N * G, c_prev, tc, mt, rh_prev, rc,
                              rh + t * NH, c * per, min((c + 1) * per, N), H)


def elman_forward_masked(const floating[:, :, ::1] x, const floating[:, ::1] h0,
                         const floating[:, ::1] m, const floating[:, ::1] Wx,
                         const floating[:, ::1] Wh, const floating[::1] b, activation):
    """Masked Elman sequence.  Returns ``(hs (T, N, H), hnew (T, N, H))``."""
    cdef Py_ssize_t T = x.shape[0], N = x.shape[1], D = x.shape[2], H = h0.shape[1]
    cdef int act = _ACT[activation]
    dtype = np.float32 if floating is float else np.float64
    hs_arr = np.empty((T, N, H), dtype=dtype)
    hn_arr = np.empty((T, N, H), dtype=dtype)
    cdef floating[:, :, ::1] hs = hs_arr
    cdef floating[:, :, ::1] hn = hn_arr
    cdef floating[:, ::1] buf = np.empty((N, H), dtype=dtype)
    with nogil:
        elman_forward_masked_impl(act, T, N, D, H, &x[0, 0, 0], &h0[0, 0], &m[0, 0],
                                  &Wx[0, 0], &Wh[0, 0], &b[0], &hs[0, 0, 0], &hn[0, 0, 0],
                                  &buf[0, 0])
    return hs_arr, hn_arr


def elman_backward_masked(const floating[:, :, ::1] dhs, const floating[:, :, ::1] x,
                          const floating[:, ::1] h0, const floating[:, :, ::1] hs,
                          const floating[:, :, ::1] hnew, const floating[:, ::1] m, keep,
                          const floating[:, ::1] Wx, const floating[:, ::1] Wh, activation):
    """BPTT for :func:`elman_forward_masked` (keep None: full BPTT).
    Returns ``(dx (T, N, D), dh0 (N, H), dWx, dWh, db)``."""
    cdef Py_ssize_t T = x.shape[0], N = x.shape[1], D = x.shape[2], H = h0.shape[1]
    cdef int act = _ACT[activation]
    dtype = np.float32 if floating is float else np.float64
    cdef const floating* kp = _opt_ptr(keep, x[0, 0, 0])
    out = (np.empty((T, N, D), dtype=dtype), np.empty((N, H), dtype=dtype),
           np.empty((D, H), dtype=dtype), np.empty((H, H), dtype=dtype),
           np.empty(H, dtype=dtype))
    cdef floating[:, :, ::1] dx = out[0]
    cdef floating[:, ::1] dh0 = out[1]
    cdef floating[:, ::1] dWx = out[2]
    cdef floating[:, ::1] dWh = out[3]
    cdef floating[::1] db = out[4]
    cdef floating[:, :, ::1] dZ = np.empty((T, N, H), dtype=dtype)
    cdef floating[:, ::1] dh = np.empty((N, H), dtype=dtype)
    cdef floating[::1] tmp = np.empty(H, dtype=dtype)
    with nogil:
        elman_backward_masked_impl(act, T, N, D, H, &dhs[0, 0, 0], &x[0, 0, 0], &h0[0, 0],
                                   &hs[0, 0, 0], &hnew[0, 0, 0], &m[0, 0], kp, &Wx[0, 0],
                                   &Wh[0, 0], &dx[0, 0, 0], &dh0[0, 0], &dWx[0, 0],
                                   &dWh[0, 0], &db[0], &dZ[0, 0, 0], &dh[0, 0], &tmp[0])
    return out


def lstm_forward_masked(const floating[:, :, ::1] x, const floating[:, ::1] h0,
                        const floating[:, ::1] c0, const floating[:, ::1] m,
                        const floating[:, ::1] Wx, const floating[:, ::1] Wh,
                        const floating[::1] b):
    """Masked LSTM sequence.
    Returns ``(hs (T, N, H), cs (T, N, H), cnew (T, N, H), gates (T, N, 4H))``."""
    cdef Py_ssize_t T = x.shape[0], N = x.shape[1], D = x.shape[2], H = h0.shape[1]
    dtype = np.float32 if floating is float else np.float64
    out = (np.empty((T, N, H), dtype=dtype), np.empty((T, N, H), dtype=dtype),
           np.empty((T, N, H), dtype=dtype), np.empty((T, N, 4 * H), dtype=dtype))
    cdef floating[:, :, ::1] hs = out[0]
    cdef floating[:, :, ::1] cs = out[1]
    cdef floating[:, :, ::1] cn = out[2]
    cdef floating[:, :, ::1] g = out[3]
    cdef floating[:, ::1] hn = np.empty((N, H), dtype=dtype)
    cdef floating[:, :, ::1] w = np.empty((2, N, 4 * H), dtype=dtype)
    with nogil:
        lstm_forward_masked_impl(T, N, D, H, &x[0, 0, 0], &h0[0, 0], &c0[0, 0], &m[0, 0],
                                 &Wx[0, 0], &Wh[0, 0], &b[0], &hs[0, 0, 0], &cs[0, 0, 0],
                                 &cn[0, 0, 0], &g[0, 0, 0], &hn[0, 0], &w[0, 0, 0],
                                 &w[1, 0, 0])
    return out


def lstm_backward_masked(const floating[:, :, ::1] dhs, const floating[:, :, ::1] x,
                         const floating[:, ::1] h0, const floating[:, ::1] c0,
                         const floating[:, :, ::1] hs, const floating[:, :, ::1] cs,
                         const floating[:, :, ::1] cnew, const floating[:, :, ::1] gates,
                         const floating[:, ::1] m, keep, const floating[:, ::1] Wx,
                         const floating[:, ::1] Wh):
    """BPTT for :func:`lstm_forward_masked` (keep None: full BPTT).
    Returns ``(dx (T, N, D), dh0 (N, H), dc0 (N, H), dWx, dWh, db)``."""
    cdef Py_ssize_t T = x.shape[0], N = x.shape[1], D = x.shape[2], H = h0.shape[1]
    dtype = np.float32 if floating is float else np.float64
    cdef const floating* kp = _opt_ptr(keep, x[0, 0, 0])
    out = (np.empty((T, N, D), dtype=dtype), np.empty((N, H), dtype=dtype),
           np.empty((N, H), dtype=dtype), np.empty((D, 4 * H), dtype=dtype),
           np.empty((H, 4 * H), dtype=dtype), np.empty(4 * H, dtype=dtype))
    cdef floating[:, :, ::1] dx = out[0]
    cdef floating[:, ::1] dh0 = out[1]
    cdef floating[:, ::1] dc0 = out[2]
    cdef floating[:, ::1] dWx = out[3]
    cdef floating[:, ::1] dWh = out[4]
    cdef floating[::1] db = out[5]
    cdef floating[:, :, ::1] dZ = np.empty((T, N, 4 * H), dtype=dtype)
    cdef floating[:, :, ::1] w = np.empty((2, N, H), dtype=dtype)
    cdef floating[::1] tmp = np.empty(4 * H, dtype=dtype)
    with nogil:
        lstm_backward_masked_impl(T, N, D, H, &dhs[0, 0, 0], &x[0, 0, 0], &h0[0, 0],
                                  &c0[0, 0], &hs[0, 0, 0], &cs[0, 0, 0], &cnew[0, 0, 0],
                                  &gates[0, 0, 0], &m[0, 0], kp, &Wx[0, 0], &Wh[0, 0],
                                  &dx[0, 0, 0], &dh0[0, 0], &dc0[0, 0], &dWx[0, 0],
                                  &dWh[0, 0], &db[0], &dZ[0, 0, 0], &w[0, 0, 0],
                                  &w[1, 0, 0], &tmp[0])
    return out


def elman_rop(const floating[:, :, ::1] A, const floating[:, :, ::1] hnew, m,
              const floating[:, ::1] Wh, activation):
    """R-op of the (masked) Elman sequence (m None: unmasked).  Returns rh (T, N, H)."""
    cdef Py_ssize_t T = A.shape[0], N = A.shape[1], H = A.shape[2]
    cdef int act = _ACT[activation]
    dtype = np.float32 if floating is float else np.float64
    cdef const floating* mp = _opt_ptr(m, A[0, 0, 0])
    rh_arr = np.empty((T, N, H), dtype=dtype)
    cdef floating[:, :, ::1] rh = rh_arr
    cdef floating[:, ::1] rz = np.empty((N, H), dtype=dtype)
    cdef floating[:, ::1] zeros = np.zeros((N, H), dtype=dtype)
    with nogil:
        elman_rop_impl(act, T, N, H, &A[0, 0, 0], &hnew[0, 0, 0], mp, &Wh[0, 0],
                       &rh[0, 0, 0], &rz[0, 0], &zeros[0, 0])
    return rh_arr


def lstm_rop(const floating[:, :, ::1] A, const floating[:, ::1] c0,
             const floating[:, :, ::1] cs, const floating[:, :, ::1] cnew,
             const floating[:, :, ::1] gates, m, const floating[:, ::1] Wh):
    """R-op of the (masked) LSTM sequence (m None: unmasked).  Returns rh (T, N, H)."""
    cdef Py_ssize_t T = cs.shape[0], N = cs.shape[1], H = cs.shape[2]
    dtype = np.float32 if floating is float else np.float64
    cdef const floating* mp = _opt_ptr(m, A[0, 0, 0])
    rh_arr = np.empty((T, N, H), dtype=dtype)
    cdef floating[:, :, ::1] rh = rh_arr
    cdef floating[:, ::1] rz = np.empty((N, 4 * H), dtype=dtype)
    cdef floating[:, :, ::1] w = np.empty((3, N, H), dtype=dtype)
    cdef floating[:, ::1] zeros = np.zeros((N, H), dtype=dtype)
    with nogil:
        lstm_rop_impl(T, N, H, &A[0, 0, 0], &c0[0, 0], &cs[0, 0, 0], &cnew[0, 0, 0],
                      &gates[0, 0, 0], mp, &Wh[0, 0], &rh[0, 0, 0], &rz[0, 0], &w[0, 0, 0],
                      &w[1, 0, 0], &zeros[0, 0])
    return rh_arr


# ---------------------------------------------------------------------------- GRU
#
# Gate order r, z, n and PyTorch's reset-gate placement (reference.gru_forward_masked):
# ``n = tanh(x Wx_n + b_n + r (h Wh_n + bh_n))``, ``h~ = (1 - z) n + z h``.  Forward: the
# input projection of every step in one GEMM (into gates), per step ``h_{t-1} Wh`` in one
# GEMM (into gh) and one fused pass over rows.  Backward: per step one fused pass giving
# ``dzx_t`` and ``dzh_t`` (stored for all steps), the carry ``dzh_t Wh^T + m dh z`` in one
# GEMM with beta = 1; after the loop the weight GEMMs over all T N rows.  m, keep may
# be NULL (1).


# --8<-- [start:gru_forward]
cdef inline void gru_cell_rows(floating* g, const floating* gh, const floating* b,
                               const floating* bh, const floating* h_prev,
                               const floating* m, floating* hnew, floating* hs,
                               floating* hn, floating* zb, floating* tmp, Py_ssize_t r0,
                               Py_ssize_t r1, Py_ssize_t H) noexcept nogil:
    """Rows r0 <= n < r1 of one GRU step.  On entry ``g`` holds ``x Wx`` (N, 3H) and
    ``gh`` ``h_prev Wh``; on exit ``g`` holds [r, z, n], ``hn = gh_n + bh_n``,
    ``hnew = h~`` and ``hs = m h~ + (1 - m) h_prev`` (m NULL: hs = hnew, which may be
    the same array).  ``zb``, ``tmp``: 3H scratch per row (indexed by row)."""
    cdef Py_ssize_t n, j, G = 3 * H, k
    cdef floating one = 1, mn, z, nn
    cdef floating* gr
    cdef floating* zr
    cdef const floating* hr
    for n in range(r0, r1):
        gr = g + n * G
        hr = gh + n * G
        zr = zb + n * G
        # r, z = sigm((x Wx + b) + (h Wh + bh)) over the first 2H columns
        for j in range(2 * H):
            zr[j] = (gr[j] + b[j]) + (hr[j] + bh[j])
        vsigmoid(&VM, zr, gr, tmp + n * G, 2 * H)
        # n = tanh((x Wx_n + b_n) + r (h Wh_n + bh_n))
        for j in range(H):
            k = n * H + j
            hn[k] = hr[2 * H + j] + bh[2 * H + j]
            zr[2 * H + j] = (gr[2 * H + j] + b[2 * H + j]) + gr[j] * hn[k]
        vmap(&VM.tanh, zr + 2 * H, gr + 2 * H, H)
        for j in range(H):
            k = n * H + j
            hnew[k] = (one - gr[H + j]) * gr[2 * H + j] + gr[H + j] * h_prev[k]
        if m != NULL:
            mn = m[n]
            for j in range(H):
                k = n * H + j
                hs[k] = mn * hnew[k] + (one - mn) * h_prev[k]


cdef void gru_forward_impl(Py_ssize_t T, Py_ssize_t N, Py_ssize_t D, Py_ssize_t H,
                           const floating* x, const floating* h0, const floating* m,
                           const floating* Wx, const floating* Wh, const floating* b,
                           const floating* bh, floating* hs, floating* hnew,
                           floating* gates, floating* hn, floating* gh, floating* zb,
                           floating* tmp) noexcept nogil:
    """GRU over T steps into hs, hnew, hn (T, N, H) and gates (T, N, 3H); m NULL: no mask
    (hnew may then be hs).  gh, zb, tmp: N 3H each."""
    cdef Py_ssize_t t, c, G = 3 * H, NH = N * H, nt = _nt(N * G), per
    cdef const floating* h_prev
    cdef const floating* mt
    # X Wx, every step at once: (T N, D) @ (D, 3H)
    gemm(c'N', c'N', T * N, G, D, <floating>1, x, D, Wx, G, <floating>0, gates, G)
    per = (N + nt - 1) // nt
    for t in range(T):
        h_prev = h0 if t == 0 else hs + (t - 1) * NH
        mt = m
        if m != NULL:
            mt = m + t * N
        # gh = h_{t-1} Wh
        gemm(c'N', c'N', N, G, H, <floating>1, h_prev, H, Wh, G, <floating>0, gh, G)
        if nt == 1:
            gru_cell_rows(gates + t * N * G, gh, b, bh, h_prev, mt, hnew + t * NH,
                          hs + t * NH, hn + t * NH, zb, tmp, 0, N, H)
        else:
            for c in prange(nt, num_threads=nt, schedule="static"):
                gru_cell_rows(gates + t * N * G, gh, b, bh, h_prev, mt, hnew + t * NH,
                              hs + t * NH, hn + t * NH, zb, tmp, c * per,
                              min((c + 1) * per, N), H)
# --8<-- [end:gru_forward]


# --8<-- [start:gru_backward]
cdef inline void gru_dz_rows(const floating* dhs_t, floating* carry, const floating* h_prev,
                             const floating* gates, const floating* hn, const floating* m,
                             floating* dzx, floating* dzh, floating* dh, Py_ssize_t r0,
                             Py_ssize_t r1, Py_ssize_t H) noexcept nogil:
    """Rows r0 <= n < r1 of one GRU backward step: ``dh = dhs_t + carry`` (kept in
    ``dh``); with ``mdh = m dh`` (m NULL: 1): ``da_n = mdh (1-z)(1-n^2)``, ``da_z = mdh
    (h_prev - n) z(1-z)``, ``da_r = da_n hn r(1-r)``; ``dzx = [da_r, da_z, da_n]``,
    ``dzh = [da_r, da_z, da_n r]``; ``carry = mdh z`` (the direct part, before the GEMM
    adds ``dzh Wh^T``).  One short loop per quantity (few pointers each, so gcc
    vectorizes them), as in lstm_dz_rows."""
    cdef Py_ssize_t n, j, G = 3 * H
    cdef floating one = 1, mn
    cdef const floating* r
    cdef const floating* z
    cdef const floating* nn
    cdef const floating* hp
    cdef const floating* hr
    cdef const floating* dt
    cdef floating* d
    cdef floating* cr
    cdef floating* xr
    cdef floating* zr
    for n in range(r0, r1):
        mn = one if m == NULL else m[n]
        r = gates + n * G
        z = r + H
        nn = r + 2 * H
        hp = h_prev + n * H
        hr = hn + n * H
        dt = dhs_t + n * H
        d = dh + n * H
        cr = carry + n * H
        xr = dzx + n * G
        zr = dzh + n * G
        for j in range(H):
            d[j] = dt[j] + cr[j]
        for j in range(H):
            xr[2 * H + j] = mn * d[j] * (one - z[j]) * (one - nn[j] * nn[j])
        for j in range(H):
            xr[H + j] = mn * d[j] * (hp[j] - nn[j]) * z[j] * (one - z[j])
        for j in range(H):
            xr[j] = xr[2 * H + j] * hr[j] * r[j] * (one - r[j])
        for j in range(2 * H):
            zr[j] = xr[j]
        for j in range(H):
            zr[2 * H + j] = xr[2 * H + j] * r[j]
        for j in range(H):
            cr[j] = mn * d[j] * z[j]


cdef void gru_backward_impl(Py_ssize_t T, Py_ssize_t N, Py_ssize_t D, Py_ssize_t H,
                            const floating* dhs, const floating* x, const floating* h0,
                            const floating* hs, const floating* gates, const floating* hn,
                            const floating* m, const floating* keep, const floating* Wx,
                            const floating* Wh, floating* dx, floating* dh0, floating* dWx,
                            floating* dWh, floating* db, floating* dbh, floating* dZx,
                            floating* dZh, floating* dh, floating* tmp) noexcept nogil:
    """BPTT for :func:`gru_forward_impl` (m, keep NULL: unmasked, full).  dh0 doubles as
    the carry; dZx, dZh: T N 3H; dh: N H; tmp: 3H."""
    cdef Py_ssize_t t, c, G = 3 * H, NH = N * H, nt = _nt(N * G), per
    cdef const floating* h_prev
    cdef const floating* mt
    cdef const floating* kt
    per = (N + nt - 1) // nt
    memset(dh0, 0, NH * sizeof(floating))
    for t in range(T - 1, -1, -1):
        h_prev = h0 if t == 0 else hs + (t - 1) * NH
        mt = m
        if m != NULL:
            mt = m + t * N
        kt = keep
        if keep != NULL:
            kt = keep + t * N
        if nt == 1:
            gru_dz_rows(dhs + t * NH, dh0, h_prev, gates + t * N * G, hn + t * NH, mt,
                        dZx + t * N * G, dZh + t * N * G, dh, 0, N, H)
        else:
            for c in prange(nt, num_threads=nt, schedule="static"):
                gru_dz_rows(dhs + t * NH, dh0, h_prev, gates + t * N * G, hn + t * NH, mt,
                            dZx + t * N * G, dZh + t * N * G, dh, c * per,
                            min((c + 1) * per, N), H)
        # carry = dzh_t Wh^T + m dh z
        gemm(c'N', c'T', N, H, G, <floating>1, dZh + t * N * G, G, Wh, G, <floating>1,
             dh0, H)
        if m != NULL:
            # carry = (carry + (1 - m) dh) keep
            if nt == 1:
                carry_rows(dh0, dh, mt, kt, 0, N, H)
            else:
                for c in prange(nt, num_threads=nt, schedule="static"):
                    carry_rows(dh0, dh, mt, kt, c * per, min((c + 1) * per, N), H)
    # dx = dZx Wx^T;  dWx = X^T dZx;  dWh = H_prev^T dZh;  db, dbh column sums
    gemm(c'N', c'T', T * N, D, G, <floating>1, dZx, G, Wx, G, <floating>0, dx, D)
    gemm(c'T', c'N', D, G, T * N, <floating>1, x, D, dZx, G, <floating>0, dWx, G)
    gemm(c'T', c'N', H, G, N, <floating>1, h0, H, dZh, G, <floating>0, dWh, G)
    if T > 1:
        gemm(c'T', c'N', H, G, (T - 1) * N, <floating>1, hs, H, dZh + N * G, G,
             <floating>1, dWh, G)
    step_col_sums(dZx, T, N, G, db, tmp)
    step_col_sums(dZh, T, N, G, dbh, tmp)
# --8<-- [end:gru_backward]


cdef inline void gru_rop_rows(const floating* ax, const floating* rg, const floating* gates,
                              const floating* hn, const floating* h_prev, const floating* m,
                              const floating* rh_prev, floating* rh, Py_ssize_t r0,
                              Py_ssize_t r1, Py_ssize_t H) noexcept nogil:
    """Rows r0 <= n < r1 of one GRU R-op step (``rg = Ah_t + R{h_{t-1}} Wh``)."""
    cdef Py_ssize_t n, j, k, G = 3 * H
    cdef floating one = 1, mn, r, z, nn, rr, rz, rn, new
    cdef const floating* gr
    cdef const floating* ar
    cdef const floating* qr
    for n in range(r0, r1):
        mn = one if m == NULL else m[n]
        gr = gates + n * G
        ar = ax + n * G
        qr = rg + n * G
        for j in range(H):
            k = n * H + j
            r = gr[j]
            z = gr[H + j]
            nn = gr[2 * H + j]
            rr = r * (one - r) * (ar[j] + qr[j])
            rz = z * (one - z) * (ar[H + j] + qr[H + j])
            rn = (one - nn * nn) * (ar[2 * H + j] + rr * hn[k] + r * qr[2 * H + j])
            new = (one - z) * rn + rz * (h_prev[k] - nn) + z * rh_prev[k]
            if m == NULL:
                rh[k] = new
            else:
                rh[k] = mn * new + (one - mn) * rh_prev[k]


cdef void gru_rop_impl(Py_ssize_t T, Py_ssize_t N, Py_ssize_t H, const floating* Ax,
                       const floating* Ah, const floating* h0, const floating* hs,
                       const floating* gates, const floating* hn, const floating* m,
                       const floating* Wh, floating* rh, floating* rg,
                       const floating* zeros) noexcept nogil:
    """``R{h_t}`` into rh (T, N, H); rg: N 3H scratch; zeros: N H zeros (R{h_0})."""
    cdef Py_ssize_t t, c, G = 3 * H, NH = N * H, nt = _nt(N * G), per
    cdef const floating* rh_prev
    cdef const floating* h_prev
    cdef const floating* mt
    per = (N + nt - 1) // nt
    for t in range(T):
        rh_prev = zeros
        if t > 0:
            rh_prev = rh + (t - 1) * NH
        h_prev = h0 if t == 0 else hs + (t - 1) * NH
        mt = m
        if m != NULL:
            mt = m + t * N
        # rg = Ah_t + R{h_{t-1}} Wh
        memcpy(rg, Ah + t * N * G, N * G * sizeof(floating))
        if t > 0:
            gemm(c'N', c'N', N, G, H, <floating>1, rh_prev, H, Wh, G, <floating>1, rg, G)
        if nt == 1:
            gru_rop_rows(Ax + t * N * G, rg, gates + t * N * G, hn + t * NH, h_prev, mt,
                         rh_prev, rh + t * NH, 0, N, H)
        else:
            for c in prange(nt, num_threads=nt, schedule="static"):
                gru_rop_rows(Ax + t * N * G, rg, gates + t * N * G, hn + t * NH, h_prev, mt,
                             rh_prev, rh + t * NH, c * per, min((c + 1) * per, N), H)


def _gru_forward(x, h0, m, Wx, Wh, b, bh, bint masked):
    cdef Py_ssize_t T = x.shape[0], N = x.shape[1], H = h0.shape[1]
    dtype = x.dtype
    hs = np.empty((T, N, H), dtype=dtype)
    hnew = np.empty((T, N, H), dtype=dtype) if masked else hs
    gates = np.empty((T, N, 3 * H), dtype=dtype)
    hn = np.empty((T, N, H), dtype=dtype)
    work = np.empty((3, N, 3 * H), dtype=dtype)
    if dtype == np.float32:
        _gru_forward_t[float](x, h0, m, Wx, Wh, b, bh, hs, hnew, gates, hn, work)
    else:
        _gru_forward_t[double](x, h0, m, Wx, Wh, b, bh, hs, hnew, gates, hn, work)
    return hs, hnew, gates, hn


cdef void _gru_forward_t(const floating[:, :, ::1] x, const floating[:, ::1] h0, m,
                         const floating[:, ::1] Wx, const floating[:, ::1] Wh,
                         const floating[::1] b, const floating[::1] bh,
                         floating[:, :, ::1] hs, floating[:, :, ::1] hnew,
                         floating[:, :, ::1] gates, floating[:, :, ::1] hn,
                         floating[:, :, ::1] w):
    cdef Py_ssize_t T = x.shape[0], N = x.shape[1], D = x.shape[2], H = h0.shape[1]
    cdef const floating* mp = _opt_ptr(m, x[0, 0, 0])
    with nogil:
        gru_forward_impl(T, N, D, H, &x[0, 0, 0], &h0[0, 0], mp, &Wx[0, 0], &Wh[0, 0],
                         &b[0], &bh[0], &hs[0, 0, 0], &hnew[0, 0, 0], &gates[0, 0, 0],
                         &hn[0, 0, 0], &w[0, 0, 0], &w[1, 0, 0], &w[2, 0, 0])


def gru_forward(x, h0, Wx, Wh, b, bh):
    """GRU over a time-major sequence.  x : (T, N, D), h0 : (N, H), Wx : (D, 3H),
    Wh : (H, 3H), b, bh : (3H,).  Returns ``(hs (T, N, H), gates (T, N, 3H), hn (T, N, H))``."""
    hs, _, gates, hn = _gru_forward(x, h0, None, Wx, Wh, b, bh, False)
    return hs, gates, hn


def gru_forward_masked(x, h0, m, Wx, Wh, b, bh):
    """Masked GRU sequence.
    Returns ``(hs (T, N, H), hnew (T, N, H), gates (T, N, 3H), hn (T, N, H))``."""
    return _gru_forward(x, h0, m, Wx, Wh, b, bh, True)


cdef void _gru_backward_t(const floating[:, :, ::1] dhs, const floating[:, :, ::1] x,
                          const floating[:, ::1] h0, const floating[:, :, ::1] hs,
                          const floating[:, :, ::1] gates, const floating[:, :, ::1] hn,
                          m, keep, const floating[:, ::1] Wx, const floating[:, ::1] Wh,
                          floating[:, :, ::1] dx, floating[:, ::1] dh0,
                          floating[:, ::1] dWx, floating[:, ::1] dWh, floating[::1] db,
                          floating[::1] dbh, floating[:, :, :, ::1] dZ,
                          floating[:, ::1] dh, floating[::1] tmp):
    cdef Py_ssize_t T = x.shape[0], N = x.shape[1], D = x.shape[2], H = h0.shape[1]
    cdef const floating* mp = _opt_ptr(m, x[0, 0, 0])
    cdef const floating* kp = _opt_ptr(keep, x[0, 0, 0])
    with nogil:
        gru_backward_impl(T, N, D, H, &dhs[0, 0, 0], &x[0, 0, 0], &h0[0, 0], &hs[0, 0, 0],
                          &gates[0, 0, 0], &hn[0, 0, 0], mp, kp, &Wx[0, 0], &Wh[0, 0],
                          &dx[0, 0, 0], &dh0[0, 0], &dWx[0, 0], &dWh[0, 0], &db[0],
                          &dbh[0], &dZ[0, 0, 0, 0], &dZ[1, 0, 0, 0], &dh[0, 0], &tmp[0])


def _gru_backward(dhs, x, h0, hs, gates, hn, m, keep, Wx, Wh):
    cdef Py_ssize_t T = x.shape[0], N = x.shape[1], D = x.shape[2], H = h0.shape[1]
    dtype = x.dtype
    out = (np.empty((T, N, D), dtype=dtype), np.empty((N, H), dtype=dtype),
           np.empty((D, 3 * H), dtype=dtype), np.empty((H, 3 * H), dtype=dtype),
           np.empty(3 * H, dtype=dtype), np.empty(3 * H, dtype=dtype))
    dZ = np.empty((2, T, N, 3 * H), dtype=dtype)
    dh = np.empty((N, H), dtype=dtype)
    tmp = np.empty(3 * H, dtype=dtype)
    if dtype == np.float32:
        _gru_backward_t[float](dhs, x, h0, hs, gates, hn, m, keep, Wx, Wh, *out, dZ, dh, tmp)
    else:
        _gru_backward_t[double](dhs, x, h0, hs, gates, hn, m, keep, Wx, Wh, *out, dZ, dh, tmp)
    return out


def gru_backward(dhs, x, h0, hs, gates, hn, Wx, Wh):
    """BPTT for :func:`gru_forward`.
    Returns ``(dx (T, N, D), dh0 (N, H), dWx (D, 3H), dWh (H, 3H), db (3H,), dbh (3H,))``."""
    return _gru_backward(dhs, x, h0, hs, gates, hn, None, None, Wx, Wh)


def gru_backward_masked(dhs, x, h0, hs, gates, hn, m, keep, Wx, Wh):
    """BPTT for :func:`gru_forward_masked` (keep None: full BPTT).
    Returns ``(dx (T, N, D), dh0 (N, H), dWx, dWh, db, dbh)``."""
    return _gru_backward(dhs, x, h0, hs, gates, hn, m, keep, Wx, Wh)


cdef void _gru_rop_t(const floating[:, :, ::1] Ax, const floating[:, :, ::1] Ah,
                     const floating[:, ::1] h0, const floating[:, :, ::1] hs,
                     const floating[:, :, ::1] gates, const floating[:, :, ::1] hn, m,
                     const floating[:, ::1] Wh, floating[:, :, ::1] rh,
                     floating[:, ::1] rg, floating[:, ::1] zeros):
    cdef Py_ssize_t T = hs.shape[0], N = hs.shape[1], H = hs.shape[2]
    cdef const floating* mp = _opt_ptr(m, Ax[0, 0, 0])
    with nogil:
        gru_rop_impl(T, N, H, &Ax[0, 0, 0], &Ah[0, 0, 0], &h0[0, 0], &hs[0, 0, 0],
                     &gates[0, 0, 0], &hn[0, 0, 0], mp, &Wh[0, 0], &rh[0, 0, 0], &rg[0, 0],
                     &zeros[0, 0])


def gru_rop(Ax, Ah, h0, hs, gates, hn, m, Wh):
    """R-op of the (masked) GRU sequence (m None: unmasked).  Returns rh (T, N, H)."""
    cdef Py_ssize_t T = hs.shape[0], N = hs.shape[1], H = hs.shape[2]
    dtype = hs.dtype
    rh = np.empty((T, N, H), dtype=dtype)
    rg = np.empty((N, 3 * H), dtype=dtype)
    zeros = np.zeros((N, H), dtype=dtype)
    if dtype == np.float32:
        _gru_rop_t[float](Ax, Ah, h0, hs, gates, hn, m, Wh, rh, rg, zeros)
    else:
        _gru_rop_t[double](Ax, Ah, h0, hs, gates, hn, m, Wh, rh, rg, zeros)
    return rh
