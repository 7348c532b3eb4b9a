"""Cython kernels of the convolution family (twins of ``deepbio._kernels.reference``).

Every convolution is im2col + one matrix product per image, as in the reference:

* ``cols`` (K, P) holds the zero-padded patches of one image, ``K = C*KH*KW`` rows
  (one per weight) by ``P = OH*OW`` columns (one per output pixel);
* forward ``y_i = w (F, K) @ cols_i + b``; backward to the input ``cols_i = w^T @ dy_i``
  then col2im (the adjoint of im2col); backward to the weights
  ``dw^T = sum_i cols_i @ dy_i^T`` and ``db = sum_i dy_i @ 1``.

Images are shared among OpenMP threads; each thread owns one ``cols`` buffer (a slice of a
``(threads, K, P)`` scratch array), so the patches of one image stay in its cache and go to
BLAS (``scipy.linalg.cython_blas``) straight from there.  At LeNet-5's shapes these
per-image products run in OpenBLAS's small-matrix kernels at ~100 GFLOP/s per core, 2-3x
faster than one product over the whole batch, and need no transposition of the output.
When there are fewer images than threads, images are done one at a time and the rows of
im2col / channels of col2im are shared instead, leaving the product to BLAS's own threads.
``dw`` and ``db`` are summed over chunks of the batch fixed by the shapes (never by the
thread count) and then in chunk order, so every kernel here returns bit-identical results
for any number of OpenMP threads.

conv1d is conv2d with a height of one.  Callers go through ``deepbio._kernels``, which has
already checked every shape and dtype: these functions assume C-contiguous arrays of one
float dtype and agreeing shapes.
"""
import numpy as np

from cython cimport floating
from cython.parallel cimport prange, threadid

from deepbio._kernels.cpu.blas cimport gemm

__all__ = ("conv2d_forward", "conv2d_backward_input", "conv2d_backward_weight",
           "conv1d_forward", "conv1d_backward_input", "conv1d_backward_weight")

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    #define deepbio_conv_max_threads() omp_get_max_threads()
    #else
    #define deepbio_conv_max_threads() 1
    #endif
    #ifdef DEEPBIO_DEBUG_BUILD
    #include <assert.h>
    #define deepbio_conv_check(cond) assert(cond)
    #else
    #define deepbio_conv_check(cond) ((void)0)
    #endif
    """
    int deepbio_conv_max_threads() noexcept nogil
    # Debug builds (DEEPBIO_DEBUG_BUILD=1) assert that the raw-pointer loops stay inside
    # their arrays (bounds checks cover memoryviews only); release builds drop the test.
    void _check "deepbio_conv_check"(bint) noexcept nogil


# The row loops of im2col / col2im and the bias-gradient sums, in C only to say
# ``restrict`` (the two rows never overlap), so that the compiler vectorises them with no
# run-time overlap test in front of each row.  The rows are short (OW: 8 to 24 numbers
# for a 5x5 kernel on LeNet), so a row is moved eight numbers at a time with no loop
# set-up; rows of 32 or more go to memcpy, which uses the widest vector moves of the
# machine it runs on.  The sum keeps eight partial sums in double: a float running sum
# would be a chain of dependent additions (and lose digits over long rows).
cdef extern from *:
    """
    #include <string.h>
    #if defined(_MSC_VER)
    #define DEEPBIO_RESTRICT __restrict
    #else
    #define DEEPBIO_RESTRICT __restrict__
    #endif
    #define DEEPBIO_ROW_OPS(T, S)                                                        \
    static inline void deepbio_copy_rows_##S(T *DEEPBIO_RESTRICT d,                     \
                                             const T *DEEPBIO_RESTRICT s,               \
                                             Py_ssize_t rows, Py_ssize_t n,             \
                                             Py_ssize_t step) {                         \
        for (Py_ssize_t r = 0; r < rows; r++, d += n, s += step) {                      \
            Py_ssize_t j = 0;                                                           \
            if (n >= 32) { memcpy(d, s, (size_t)n * sizeof(T)); continue; }            \
            for (; j + 8 <= n; j += 8) {                                                \
                d[j] = s[j]; d[j + 1] = s[j + 1]; d[j + 2] = s[j + 2];                  \
                d[j + 3] = s[j + 3]; d[j + 4] = s[j + 4]; d[j + 5] = s[j + 5];          \
                d[j + 6] = s[j + 6]; d[j + 7] = s[j + 7];                               \
            }                                                                           \
            for (; j < n; j++) d[j] = s[j];                                             \
        }                                                                               \
    }                                                                                   \
    static inline void deepbio_add_rows_##S(T *DEEPBIO_RESTRICT d,                      \
                                            const T *DEEPBIO_RESTRICT s,                \
                                            Py_ssize_t rows, Py_ssize_t n,              \
                                            Py_ssize_t dstep, Py_ssize_t sstep) {       \
        for (Py_ssize_t r = 0; r < rows; r++, d += dstep, s += sstep) {                 \
            Py_ssize_t j = 0;                                                           \
            for (; j + 8 <= n; j += 8) {                                                \
                d[j] += s[j]; d[j + 1] += s[j + 1]; d[j + 2] += s[j + 2];               \
                d[j + 3] += s[j + 3]; d[j + 4] += s[j + 4]; d[j + 5] += s[j + 5];       \
                d[j + 6] += s[j + 6]; d[j + 7] += s[j + 7];                             \
            }                                                                           \
            for (; j < n; j++) d[j] += s[j];                                            \
        }                                                                               \
    }                                                                                   \
    static inline double deepbio_sum_##S(const T *s, Py_ssize_t n) {                    \
        double a[8] = {0, 0, 0, 0, 0, 0, 0, 0}, t = 0;                                  \
        Py_ssize_t j = 0;                                                               \
        for (; j + 8 <= n; j += 8)                                                      \
            for (int u = 0; u < 8; u++) a[u] += s[j + u];                               \
        for (; j < n; j++) t += s[j];                                                   \
        return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7])) + t;   \
    }
    DEEPBIO_ROW_OPS(float, f)
    DEEPBIO_ROW_OPS(double, d)
    """
    void deepbio_copy_rows_f(float *d, const float *s, Py_ssize_t rows, Py_ssize_t n,
                             Py_ssize_t step) noexcept nogil
    void deepbio_copy_rows_d(double *d, const double *s, Py_ssize_t rows, Py_ssize_t n,
                             Py_ssize_t step) noexcept nogil
    void deepbio_add_rows_f(float *d, const float *s, Py_ssize_t rows, Py_ssize_t n,
                            Py_ssize_t dstep, Py_ssize_t sstep) noexcept nogil
    void deepbio_add_rows_d(double *d, const double *s, Py_ssize_t rows, Py_ssize_t n,
                            Py_ssize_t dstep, Py_ssize_t sstep) noexcept nogil
    double deepbio_sum_f(const float *s, Py_ssize_t n) noexcept nogil
    double deepbio_sum_d(const double *s, Py_ssize_t n) noexcept nogil


cdef inline void _copy_rows(floating *d, const floating *s, Py_ssize_t rows, Py_ssize_t n,
                            Py_ssize_t step) noexcept nogil:
    """``d[r*n + j] = s[r*step + j]`` for r < rows, j < n; d and s never overlap."""
    if floating is float:
        deepbio_copy_rows_f(d, s, rows, n, step)
    else:
        deepbio_copy_rows_d(d, s, rows, n, step)


cdef inline double _sum(const floating *s, Py_ssize_t n) noexcept nogil:
    """``sum_j s[j]`` for j < n, in double, over eight interleaved partial sums (a fixed
    order: the same result on every call; eight independent additions in flight)."""
    if floating is float:
        return deepbio_sum_f(s, n)
    else:
        return deepbio_sum_d(s, n)


cdef inline void _add_rows(floating *d, const floating *s, Py_ssize_t rows, Py_ssize_t n,
                           Py_ssize_t dstep, Py_ssize_t sstep) noexcept nogil:
    """``d[r*dstep + j] += s[r*sstep + j]`` for r < rows, j < n; d and s never overlap."""
    if floating is float:
        deepbio_add_rows_f(d, s, rows, n, dstep, sstep)
    else:
        deepbio_add_rows_d(d, s, rows, n, dstep, sstep)


ctypedef struct Geom:
    # x (N, C, H, W) * w (F, C, KH, KW), stride (sh, sw), padding (ph, pw) -> y (N, F, OH, OW)
    Py_ssize_t n, c, h, w, f, kh, kw, sh, sw, ph, pw, oh, ow
    Py_ssize_t k    # C * KH * KW: rows of cols
    Py_ssize_t p    # OH * OW: columns of cols
    bint direct     # 1x1 kernel, stride 1, no padding: cols_n is x_n itself


cdef Geom _geom(Py_ssize_t n, Py_ssize_t c, Py_ssize_t h, Py_ssize_t w, Py_ssize_t f,
                Py_ssize_t kh, Py_ssize_t kw, stride, padding):
    cdef Geom g
    g.n, g.c, g.h, g.w, g.f, g.kh, g.kw = n, c, h, w, f, kh, kw
    g.sh, g.sw = stride
    g.ph, g.pw = padding
    g.oh = (h + 2 * g.ph - kh) // g.sh + 1
    g.ow = (w + 2 * g.pw - kw) // g.sw + 1
    g.k = c * kh * kw
    g.p = g.oh * g.ow
    g.direct = kh == 1 and kw == 1 and g.sh == 1 and g.sw == 1 and g.ph == 0 and g.pw == 0
    return g


cdef inline Py_ssize_t _first(Py_ssize_t q, Py_ssize_t pad, Py_ssize_t s,
                              Py_ssize_t out) noexcept nogil:
    """Smallest output index j >= 0 whose tap ``j*s + q - pad`` is >= 0, at most out.

    (With more padding than image, e.g. a 5-tap kernel on 1 pixel padded by 2, the first
    tap inside the image can lie beyond the last output: then j = out, an empty range.)
    """
    cdef Py_ssize_t j
    if q >= pad:
        return 0
    if s == 1:                              # (no integer division on the common path)
        j = pad - q
    else:
        j = (pad - q + s - 1) // s
    return j if j < out else out


cdef inline Py_ssize_t _stop(Py_ssize_t q, Py_ssize_t pad, Py_ssize_t s, Py_ssize_t size,
                             Py_ssize_t out) noexcept nogil:
    """One past the largest output index j < out whose tap ``j*s + q - pad`` is < size."""
    cdef Py_ssize_t top = size + pad - q       # need j*s < top
    if top <= 0:
        return 0
    if s != 1:
        top = (top + s - 1) // s
    return top if top < out else out


# --8<-- [start:im2col]
cdef void _im2col_rows(const floating *x, floating *cols, const Geom *g, Py_ssize_t cp0,
                       Py_ssize_t cp1) noexcept nogil:
    """Rows of the patches of one image x (C, H, W) into cols (K, P), for the (channel,
    kernel row) pairs ``cp0 <= c*KH + p < cp1``.

    Row r = (c*KH + p)*KW + q, column a*OW + j:
    ``cols[r, a*OW + j] = x[c, a*sh + p - ph, j*sw + q - pw]``, or 0 where that tap falls in
    the padding.  Output rows a0 <= a < a1 (they depend on p only) and columns j0 <= j < j1
    (on q only) have their taps inside the image.  Raw pointers into validated arrays:
    every offset stays within (C, H, W) and (K, P) by construction of OH, OW and these
    ranges.
    """
    cdef Py_ssize_t cp, c, p, q, a, a0, a1, j, j0, j1, v0
    cdef const floating *src
    cdef floating *dst
    for cp in range(cp0, cp1):
        c = cp // g.kh
        p = cp - c * g.kh
        a0 = _first(p, g.ph, g.sh, g.oh)
        a1 = _stop(p, g.ph, g.sh, g.h, g.oh)
        if a1 < a0:
            a1 = a0
        for q in range(g.kw):
            j0 = _first(q, g.pw, g.sw, g.ow)
            j1 = _stop(q, g.pw, g.sw, g.w, g.ow)
            if j1 < j0:
                j1 = j0
            _check(0 <= a0 and a0 <= a1 and a1 <= g.oh and 0 <= j0 and j0 <= j1 and j1 <= g.ow)
            _check(a0 == a1 or j0 == j1 or (
                0 <= a0 * g.sh + p - g.ph and (a1 - 1) * g.sh + p - g.ph < g.h
                and 0 <= j0 * g.sw + q - g.pw and (j1 - 1) * g.sw + q - g.pw < g.w))
            dst = cols + (cp * g.kw + q) * g.p
            for j in range(a0 * g.ow):                       # rows above the image
                dst[j] = 0
            for j in range(a1 * g.ow, g.p):                  # rows below it
                dst[j] = 0
            dst += a0 * g.ow
            src = x + (c * g.h + a0 * g.sh + p - g.ph) * g.w + q - g.pw
            if g.sw == 1 and j0 == 0 and j1 == g.ow:         # plain copies of OW numbers
                _copy_rows(dst, src, a1 - a0, g.ow, g.sh * g.w)
            else:
                for a in range(a0, a1):
                    for j in range(j0):
                        dst[j] = 0
                    for j in range(j0, j1):
                        dst[j] = src[j * g.sw]
                    for j in range(j1, g.ow):
                        dst[j] = 0
                    dst += g.ow
                    src += g.sh * g.w


cdef void _col2im_channel(const floating *cols, floating *dx, const Geom *g,
                          Py_ssize_t c) noexcept nogil:
    """Channel c of one image's input gradient dx (C, H, W) from cols (K, P).

    The adjoint of im2col, overlapping taps adding up:
    ``dx[c] = 0;  dx[c, a*sh + p - ph, j*sw + q - pw] += cols[(c*KH + p)*KW + q, a*OW + j]``
    for every tap inside the image (taps in the padding are dropped): output rows
    a0 <= a < a1 and columns j0 <= j < j1, as in im2col.
    """
    cdef Py_ssize_t p, q, a, a0, a1, j, j0, j1
    cdef floating *plane = dx + c * g.h * g.w
    cdef floating *dst
    cdef const floating *src
    for j in range(g.h * g.w):
        plane[j] = 0
    for p in range(g.kh):
        a0 = _first(p, g.ph, g.sh, g.oh)
        a1 = _stop(p, g.ph, g.sh, g.h, g.oh)
        if a1 <= a0:
            continue
        for q in range(g.kw):
            j0 = _first(q, g.pw, g.sw, g.ow)
            j1 = _stop(q, g.pw, g.sw, g.w, g.ow)
            if j1 <= j0:
                continue
            _check(0 <= a0 and a1 <= g.oh and 0 <= j0 and j1 <= g.ow
                   and 0 <= a0 * g.sh + p - g.ph and (a1 - 1) * g.sh + p - g.ph < g.h
                   and 0 <= j0 * g.sw + q - g.pw and (j1 - 1) * g.sw + q - g.pw < g.w)
            src = cols + ((c * g.kh + p) * g.kw + q) * g.p + a0 * g.ow
            dst = plane + (a0 * g.sh + p - g.ph) * g.w + q - g.pw
            if g.sw == 1:
                _add_rows(dst + j0, src + j0, a1 - a0, j1 - j0, g.sh * g.w, g.ow)
            else:
                for a in range(a0, a1):
                    for j in range(j0, j1):
                        dst[j * g.sw] += src[j]
                    src += g.ow
                    dst += g.sh * g.w
# --8<-- [end:im2col]


cdef inline void _im2col(const floating *x, floating *cols, const Geom *g,
                         bint split) noexcept nogil:
    """All K rows of one image's patches; (channel, kernel row) pairs shared if split."""
    cdef Py_ssize_t cp
    if split:
        for cp in prange(g.c * g.kh, schedule="static"):
            _im2col_rows(x, cols, g, cp, cp + 1)
    else:
        _im2col_rows(x, cols, g, 0, g.c * g.kh)


cdef inline void _col2im(const floating *cols, floating *dx, const Geom *g,
                         bint split) noexcept nogil:
    """One image of dx from cols; channels (whose taps never collide) shared if split."""
    cdef Py_ssize_t c
    if split:
        for c in prange(g.c, schedule="static"):
            _col2im_channel(cols, dx, g, c)
    else:
        for c in range(g.c):
            _col2im_channel(cols, dx, g, c)


cdef inline Py_ssize_t _threads() noexcept nogil:
    cdef int nt = deepbio_conv_max_threads()
    return nt if nt > 1 else 1


# --------------------------------------------------------------------------- conv2d


# --8<-- [start:conv2d]
cdef inline void _forward_image(const floating *x, const floating *w, const floating *b,
                                floating *y, floating *cols, const Geom *g,
                                bint split) noexcept nogil:
    """One image: ``y (F, P) = b[:, None] + w (F, K) @ cols (K, P)``, ``cols`` its im2col
    patches (the image itself for a direct 1x1 convolution); im2col's rows are shared
    among threads if ``split``."""
    cdef Py_ssize_t f, o
    cdef const floating *patches = x
    for f in range(g.f):
        for o in range(g.p):
            y[f * g.p + o] = b[f]
    if not g.direct:
        _im2col(x, cols, g, split)
        patches = cols
    gemm(c"N", c"N", g.f, g.p, g.k, 1, w, g.k, patches, g.p, 1, y, g.p)


cdef _forward(const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] w,
              const floating[::1] b, Geom g):
    dtype = np.float32 if floating is float else np.float64
    cdef Py_ssize_t nt = _threads()
    cdef bint per_image = g.n >= nt          # share images among threads, else share rows
    cdef Py_ssize_t nbuf = nt if per_image else 1        # one cols buffer per thread
    y_arr = np.empty((g.n, g.f, g.oh, g.ow), dtype=dtype)
    scratch = np.empty((nbuf, 1 if g.direct else g.k, 1 if g.direct else g.p), dtype=dtype)
    cdef floating[:, :, :, ::1] y = y_arr
    cdef floating[:, :, ::1] cols = scratch
    cdef Py_ssize_t i

    # y[i] (F, P) = b[:, None] + w (F, K) @ cols_i (K, P), one image per iteration
    if per_image:
        for i in prange(g.n, nogil=True, schedule="static"):
            _forward_image(&x[i, 0, 0, 0], &w[0, 0, 0, 0], &b[0], &y[i, 0, 0, 0],
                           &cols[threadid(), 0, 0], &g, False)
    else:
        with nogil:
            for i in range(g.n):
                _forward_image(&x[i, 0, 0, 0], &w[0, 0, 0, 0], &b[0], &y[i, 0, 0, 0],
                               &cols[0, 0, 0], &g, True)
    return y_arr


cdef _backward_input(const floating[:, :, :, ::1] dy, const floating[:, :, :, ::1] w, Geom g):
    dtype = np.float32 if floating is float else np.float64
    cdef Py_ssize_t nt = _threads()
    cdef bint per_image = g.n >= nt
    cdef Py_ssize_t nbuf = (nt if per_image else 1) if not g.direct else 1
    dx_arr = np.empty((g.n, g.c, g.h, g.w), dtype=dtype)
    scratch = np.empty((nbuf, 1 if g.direct else g.k, 1 if g.direct else g.p), dtype=dtype)
    cdef floating[:, :, :, ::1] dx = dx_arr
    cdef floating[:, :, ::1] cols = scratch
    cdef Py_ssize_t i, t

    # cols_i (K, P) = w^T (K, F) @ dy[i] (F, P), then dx[i] = col2im(cols_i)
    # (with a 1x1 kernel, stride 1 and no padding, col2im is the identity)
    if per_image:
        for i in prange(g.n, nogil=True, schedule="static"):
            t = threadid()
            if g.direct:
                gemm(c"T", c"N", g.k, g.p, g.f, 1, &w[0, 0, 0, 0], g.k, &dy[i, 0, 0, 0], g.p,
                      0, &dx[i, 0, 0, 0], g.p)
            else:
                gemm(c"T", c"N", g.k, g.p, g.f, 1, &w[0, 0, 0, 0], g.k, &dy[i, 0, 0, 0], g.p,
                      0, &cols[t, 0, 0], g.p)
                _col2im(&cols[t, 0, 0], &dx[i, 0, 0, 0], &g, False)
    else:
        with nogil:
            for i in range(g.n):
                if g.direct:
                    gemm(c"T", c"N", g.k, g.p, g.f, 1, &w[0, 0, 0, 0], g.k, &dy[i, 0, 0, 0],
                          g.p, 0, &dx[i, 0, 0, 0], g.p)
                else:
                    gemm(c"T", c"N", g.k, g.p, g.f, 1, &w[0, 0, 0, 0], g.k, &dy[i, 0, 0, 0],
                          g.p, 0, &cols[0, 0, 0], g.p)
                    _col2im(&cols[0, 0, 0], &dx[i, 0, 0, 0], &g, True)
    return dx_arr
# --8<-- [end:conv2d]


cdef Py_ssize_t _chunks(Geom g):
    """How many partial sums of dw the batch is split into: a function of the shapes only.

    Up to 16 chunks (enough to share among threads), fewer if their (F, K) partial sums
    would pass 4 Mi elements.  The chunks are summed in order, so dw and db come out
    bit-identical whatever the number of threads.
    """
    cdef Py_ssize_t nch = 16 if g.n > 16 else g.n
    while nch > 1 and nch * g.f * g.k > (1 << 22):
        nch //= 2
    return nch


# --8<-- [start:conv2d_weight]
cdef void _weight_grad_image(const floating *x, const floating *dy, floating *cols,
                             floating *dyt, floating *part, double *dbpart, const Geom *g,
                             bint split) noexcept nogil:
    """Add one image's share to a partial sum of the weight and bias gradients.

    ``part (K, F) += cols (K, P) @ dy^T (P, F)`` (dw^T: BLAS's small-matrix kernels run it
    faster than dw), ``dbpart[f] += sum_o dy[f, o]`` in double.  With ``dyt`` not NULL,
    dy^T is first written out as a (P, F) matrix, so that the product needs no transposed
    operand (faster still for short rows of dy: see ``_backward_weight``).
    """
    cdef Py_ssize_t f, o
    cdef const floating *patches = x
    if not g.direct:
        _im2col(x, cols, g, split)
        patches = cols
    if dyt != NULL:
        # dyt[o, f] = dy[f, o]
        for o in range(g.p):
            for f in range(g.f):
                dyt[o * g.f + f] = dy[f * g.p + o]
        gemm(c"N", c"N", g.k, g.f, g.p, 1, patches, g.p, dyt, g.f, 1, part, g.f)
    else:
        gemm(c"N", c"T", g.k, g.f, g.p, 1, patches, g.p, dy, g.p, 1, part, g.f)
    for f in range(g.f):
        dbpart[f] += _sum(dy + f * g.p, g.p)


cdef _backward_weight(const floating[:, :, :, ::1] dy, const floating[:, :, :, ::1] x, Geom g):
    dtype = np.float32 if floating is float else np.float64
    cdef Py_ssize_t nt = _threads()
    cdef Py_ssize_t nch = _chunks(g)
    cdef Py_ssize_t per = (g.n + nch - 1) // nch          # images per chunk
    nch = (g.n + per - 1) // per
    cdef bint per_chunk = nch >= nt          # share chunks among threads, else share rows
    cdef Py_ssize_t nbuf = nt if per_chunk else 1
    # Transpose dy first when its rows are short: measured with OpenBLAS's small-matrix
    # kernels, cols @ dyt ran 1.3-1.5x faster than cols @ dy^T for P = 64 (LeNet's second
    # convolution) and P = 189 (a DNA scanner), 0.85x for P = 576 (LeNet's first).
    cdef bint transpose = g.p <= 256
    part_arr = np.zeros((nch, g.k, g.f), dtype=dtype)
    dbpart_arr = np.zeros((nch, g.f), dtype=np.float64)
    scratch = np.empty((nbuf, 1 if g.direct else g.k, 1 if g.direct else g.p), dtype=dtype)
    scratch_t = np.empty((nbuf, g.p if transpose else 1, g.f if transpose else 1), dtype=dtype)
    cdef floating[:, :, ::1] part = part_arr
    cdef double[:, ::1] dbpart = dbpart_arr
    cdef floating[:, :, ::1] cols = scratch
    cdef floating[:, :, ::1] dyt = scratch_t
    cdef Py_ssize_t ch, i, t

    # part[ch] (K, F) = sum_{i in chunk ch} cols_i (K, P) @ dy[i]^T (P, F)
    # dbpart[ch, f] = sum_{i in chunk ch} sum_o dy[i, f, o]      (in double)
    if per_chunk:
        for ch in prange(nch, nogil=True, schedule="static"):
            t = threadid()
            for i in range(ch * per, min(g.n, (ch + 1) * per)):
                _weight_grad_image(&x[i, 0, 0, 0], &dy[i, 0, 0, 0], &cols[t, 0, 0],
                                   &dyt[t, 0, 0] if transpose else NULL, &part[ch, 0, 0],
                                   &dbpart[ch, 0], &g, False)
    else:
        with nogil:
            for i in range(g.n):
                ch = i // per
                _weight_grad_image(&x[i, 0, 0, 0], &dy[i, 0, 0, 0], &cols[0, 0, 0],
                                   &dyt[0, 0, 0] if transpose else NULL, &part[ch, 0, 0],
                                   &dbpart[ch, 0], &g, True)

    # dw = (sum_ch part[ch])^T, db = sum_ch dbpart[ch]   (in chunk order, whatever the
    # number of threads)
    dwt = part_arr[0] if nch == 1 else part_arr.sum(axis=0)
    dw_arr = np.ascontiguousarray(dwt.T).reshape(g.f, g.c, g.kh, g.kw)
    db_arr = dbpart_arr.sum(axis=0).astype(dtype)
    return dw_arr, db_arr
# --8<-- [end:conv2d_weight]


def conv2d_forward(const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] w,
                   const floating[::1] b, stride, padding):
    """2-d cross-correlation with zero padding (see ``reference.conv2d_forward``).

    x : (N, C, H, W), w : (F, C, KH, KW), b : (F,), stride = (sh, sw),
    padding = (ph, pw).  Returns y : (N, F, OH, OW).
    """
    cdef Geom g = _geom(x.shape[0], x.shape[1], x.shape[2], x.shape[3], w.shape[0],
                        w.shape[2], w.shape[3], stride, padding)
    return _forward(x, w, b, g)


def conv2d_backward_input(const floating[:, :, :, ::1] dy, const floating[:, :, :, ::1] w,
                          in_size, stride, padding):
    """Gradient of conv2d with respect to its input (see the reference).

    dy : (N, F, OH, OW), w : (F, C, KH, KW), in_size = (H, W).  Returns dx : (N, C, H, W).
    """
    cdef Geom g = _geom(dy.shape[0], w.shape[1], in_size[0], in_size[1], w.shape[0],
                        w.shape[2], w.shape[3], stride, padding)
    return _backward_input(dy, w, g)


def conv2d_backward_weight(const floating[:, :, :, ::1] dy, const floating[:, :, :, ::1] x,
                           kernel_size, stride, padding):
    """Gradients of conv2d with respect to its weights and bias (see the reference).

    dy : (N, F, OH, OW), x : (N, C, H, W), kernel_size = (KH, KW).
    Returns ``(dw (F, C, KH, KW), db (F,))``.
    """
    cdef Geom g = _geom(x.shape[0], x.shape[1], x.shape[2], x.shape[3], dy.shape[1],
                        kernel_size[0], kernel_size[1], stride, padding)
    return _backward_weight(dy, x, g)


# --------------------------------------------------------------------------- conv1d
# conv2d with a height of one: (N, C, L) is viewed as (N, C, 1, L), no copy.


def conv1d_forward(x, w, b, stride, padding):
    """1-d cross-correlation (see ``reference.conv1d_forward``).

    x : (N, C, L), w : (F, C, K), b : (F,), stride, padding : int.  Returns y : (N, F, OL).
    """
    y = conv2d_forward(x[:, :, None, :], w[:, :, None, :], b, (1, stride), (0, padding))
    return y[:, :, 0, :]


def conv1d_backward_input(dy, w, in_size, stride, padding):
    """Gradient of conv1d with respect to its input.  Returns dx : (N, C, L)."""
    dx = conv2d_backward_input(dy[:, :, None, :], w[:, :, None, :], (1, in_size),
                               (1, stride), (0, padding))
    return dx[:, :, 0, :]


def conv1d_backward_weight(dy, x, kernel_size, stride, padding):
    """Gradients of conv1d with respect to its weights and bias.

    Returns ``(dw (F, C, K), db (F,))``.
    """
    dw, db = conv2d_backward_weight(dy[:, :, None, :], x[:, :, None, :], (1, kernel_size),
                                    (1, stride), (0, padding))
    return dw[:, :, 0, :], db
