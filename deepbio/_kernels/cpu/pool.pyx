"""Cython kernels of the pooling family (twins of ``deepbio._kernels.reference``).

Every kernel works on one (H, W) plane of one image and channel at a time, and the
``N*C`` planes are shared among OpenMP threads.  A backward pass only ever writes into the
plane its output gradient came from, so the scatter-adds of overlapping windows (and of
max-pool's argmax routing) never collide between threads.  Results are identical for any
number of threads.

1-d pooling is 2-d pooling with a height of one.  Callers go through
``deepbio._kernels``, which has already checked every shape, dtype and argmax index:
these functions assume C-contiguous arrays of one float dtype, agreeing shapes, and
``0 <= argmax < H*W``.
"""
import numpy as np

from cython cimport floating
from cython.parallel cimport prange

cdef extern from *:
    """
    #ifdef DEEPBIO_DEBUG_BUILD
    #include <assert.h>
    #define deepbio_pool_check(cond) assert(cond)
    #else
    #define deepbio_pool_check(cond) ((void)0)
    #endif
    """
    # Debug builds (DEEPBIO_DEBUG_BUILD=1) assert that the raw-pointer loops stay inside
    # their planes (bounds checks cover memoryviews only); release builds drop the test.
    void _check "deepbio_pool_check"(bint) noexcept nogil

__all__ = ("maxpool2d_forward", "maxpool2d_backward", "avgpool2d_forward",
           "avgpool2d_backward", "maxpool1d_forward", "maxpool1d_backward",
           "avgpool1d_forward", "avgpool1d_backward")


cdef inline Py_ssize_t _window_argmax(const floating *x, Py_ssize_t width, Py_ssize_t h0,
                                      Py_ssize_t v0, Py_ssize_t kh,
                                      Py_ssize_t kw) noexcept nogil:
    """Flat index ``h*W + v`` of the maximum of one window ``x[h0:h0+KH, v0:v0+KW]`` of a
    plane x (H, W).

    The first maximum in row-major window order wins ties (``>``, never ``>=``), and the
    first NaN wins over everything, as in ``numpy.argmax``.  The scan compiles to
    conditional moves (``>`` is false for NaN), so random data costs no mispredicted
    branches; only a window holding a NaN is scanned a second time, for its first NaN.
    """
    cdef Py_ssize_t p, q, at, arg = h0 * width + v0
    cdef floating m = x[arg], v
    cdef bint gt, nan = False
    for p in range(kh):
        at = (h0 + p) * width + v0
        for q in range(kw):
            v = x[at + q]
            gt = v > m
            arg = at + q if gt else arg
            m = v if gt else m
            nan = nan | (v != v)
    if nan:
        for p in range(kh):
            at = (h0 + p) * width + v0
            for q in range(kw):
                if x[at + q] != x[at + q]:
                    return at + q
    return arg


cdef inline Py_ssize_t _argmax_2x2(const floating *x, Py_ssize_t width,
                                   Py_ssize_t at) noexcept nogil:
    """``_window_argmax`` of the 2x2 window whose top-left corner is x[at], unrolled.

    Here the index moves by ``gt * (candidate - arg)`` with ``gt`` 0 or 1 and the maximum
    is ``v if v > m else m`` (a max instruction): unrolled, the compiler would otherwise
    turn the selections into branches, mispredicted half the time on random data.
    """
    cdef floating m = x[at], v, total
    cdef Py_ssize_t arg = at, gt
    # a NaN anywhere makes the total NaN (so may inf - inf: that window merely takes the
    # slow path, which gives the same answer)
    total = ((x[at] + x[at + 1]) + x[at + width]) + x[at + width + 1]
    if total != total:
        return _window_argmax(x, width, at // width, at % width, 2, 2)
    v = x[at + 1]
    gt = v > m
    arg = arg + gt * (at + 1 - arg)
    m = v if v > m else m
    v = x[at + width]
    gt = v > m
    arg = arg + gt * (at + width - arg)
    m = v if v > m else m
    v = x[at + width + 1]
    gt = v > m
    arg = arg + gt * (at + width + 1 - arg)
    return arg


# --8<-- [start:maxpool2d]
def maxpool2d_forward(const floating[:, :, :, ::1] x, kernel, stride):
    """Max pooling with the position of each maximum (see ``reference.maxpool2d_forward``).

    x : (N, C, H, W), kernel = (KH, KW), stride = (sh, sw).
    Returns ``(y (N, C, OH, OW), argmax (N, C, OH, OW) int64)``, ``argmax = h*W + v``.
    """
    cdef Py_ssize_t n = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3]
    cdef Py_ssize_t kh = kernel[0], kw = kernel[1], sh = stride[0], sw = stride[1]
    cdef Py_ssize_t oh = (h - kh) // sh + 1, ow = (w - kw) // sw + 1
    y_arr = np.empty((n, c, oh, ow), dtype=np.float32 if floating is float else np.float64)
    arg_arr = np.empty((n, c, oh, ow), dtype=np.int64)
    cdef floating[:, :, :, ::1] y = y_arr
    cdef long long[:, :, :, ::1] arg = arg_arr
    cdef Py_ssize_t plane, i, ch, a, j, k
    cdef const floating *xp

    # y[i, ch, a, j] = max_{p < KH, q < KW} x[i, ch, a*sh + p, j*sw + q]
    # arg[i, ch, a, j] = (a*sh + p) * W + (j*sw + q) of the first maximum
    for plane in prange(n * c, nogil=True, schedule="static"):
        i = plane // c
        ch = plane % c
        xp = &x[i, ch, 0, 0]
        for a in range(oh):
            if kh == 2 and kw == 2:
                for j in range(ow):
                    k = _argmax_2x2(xp, w, a * sh * w + j * sw)
                    arg[i, ch, a, j] = k
                    y[i, ch, a, j] = xp[k]
            else:
                for j in range(ow):
                    k = _window_argmax(xp, w, a * sh, j * sw, kh, kw)
                    arg[i, ch, a, j] = k
                    y[i, ch, a, j] = xp[k]
    return y_arr, arg_arr


def maxpool2d_backward(const floating[:, :, :, ::1] dy, const long long[:, :, :, ::1] argmax,
                       in_size):
    """Route each output gradient to the input that won its window (summing overlaps).

    dy, argmax : (N, C, OH, OW), in_size = (H, W).  Returns dx : (N, C, H, W).
    """
    cdef Py_ssize_t n = dy.shape[0], c = dy.shape[1], oh = dy.shape[2], ow = dy.shape[3]
    cdef Py_ssize_t h = in_size[0], w = in_size[1]
    dx_arr = np.empty((n, c, h * w), dtype=np.float32 if floating is float else np.float64)
    cdef floating[:, :, ::1] dx = dx_arr
    cdef Py_ssize_t plane, i, ch, o, v
    cdef floating *dxp
    cdef const floating *dyp
    cdef const long long *argp

    # dx[i, ch, :] = 0;  dx[i, ch, argmax[i, ch, a, j]] += dy[i, ch, a, j]  for every (a, j)
    # (each plane of dx is written only by the thread that owns that plane of dy; the
    # validation layer has checked 0 <= argmax < H*W)
    for plane in prange(n * c, nogil=True, schedule="static"):
        i = plane // c
        ch = plane % c
        dxp = &dx[i, ch, 0]
        dyp = &dy[i, ch, 0, 0]
        argp = &argmax[i, ch, 0, 0]
        for v in range(h * w):
            dxp[v] = 0
        for o in range(oh * ow):
            _check(0 <= argp[o] and argp[o] < h * w)
            dxp[argp[o]] += dyp[o]
    return dx_arr.reshape(n, c, h, w)
# --8<-- [end:maxpool2d]


def avgpool2d_forward(const floating[:, :, :, ::1] x, kernel, stride):
    """Average pooling (see ``reference.avgpool2d_forward``).

    x : (N, C, H, W), kernel = (KH, KW), stride = (sh, sw).  Returns y : (N, C, OH, OW).
    """
    cdef Py_ssize_t n = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3]
    cdef Py_ssize_t kh = kernel[0], kw = kernel[1], sh = stride[0], sw = stride[1]
    cdef Py_ssize_t oh = (h - kh) // sh + 1, ow = (w - kw) // sw + 1
    y_arr = np.empty((n, c, oh, ow), dtype=np.float32 if floating is float else np.float64)
    cdef floating[:, :, :, ::1] y = y_arr
    cdef floating count = kh * kw, s
    cdef Py_ssize_t plane, i, ch, a, j, p, q
    cdef const floating *win
    cdef floating *yp

    # y[i, ch, a, j] = (sum_{p < KH, q < KW} x[i, ch, a*sh + p, j*sw + q]) / (KH*KW)
    for plane in prange(n * c, nogil=True, schedule="static"):
        i = plane // c
        ch = plane % c
        yp = &y[i, ch, 0, 0]
        for a in range(oh):
            for j in range(ow):
                win = &x[i, ch, a * sh, j * sw]
                s = 0
                for p in range(kh):
                    for q in range(kw):
                        s = s + win[p * w + q]
                yp[a * ow + j] = s / count
    return y_arr


# --8<-- [start:avgpool2d_backward]
def avgpool2d_backward(const floating[:, :, :, ::1] dy, in_size, kernel, stride):
    """Spread each output gradient evenly over its window (summing overlaps).

    dy : (N, C, OH, OW), in_size = (H, W).  Returns dx : (N, C, H, W).
    """
    cdef Py_ssize_t n = dy.shape[0], c = dy.shape[1], oh = dy.shape[2], ow = dy.shape[3]
    cdef Py_ssize_t h = in_size[0], w = in_size[1]
    cdef Py_ssize_t kh = kernel[0], kw = kernel[1], sh = stride[0], sw = stride[1]
    dx_arr = np.empty((n, c, h, w), dtype=np.float32 if floating is float else np.float64)
    cdef floating[:, :, :, ::1] dx = dx_arr
    cdef floating count = kh * kw, g
    cdef Py_ssize_t plane, i, ch, a, j, p, q, v
    cdef floating *dxp
    cdef floating *win
    cdef const floating *dyp
    _check((oh - 1) * sh + kh <= h and (ow - 1) * sw + kw <= w)   # every window inside

    # dx[i, ch] = 0;  dx[i, ch, a*sh + p, j*sw + q] += dy[i, ch, a, j] / (KH*KW)
    for plane in prange(n * c, nogil=True, schedule="static"):
        i = plane // c
        ch = plane % c
        dxp = &dx[i, ch, 0, 0]
        dyp = &dy[i, ch, 0, 0]
        for v in range(h * w):
            dxp[v] = 0
        for a in range(oh):
            for j in range(ow):
                g = dyp[a * ow + j] / count
                win = dxp + a * sh * w + j * sw
                for p in range(kh):
                    for q in range(kw):
                        win[p * w + q] += g
    return dx_arr
# --8<-- [end:avgpool2d_backward]


# ------------------------------------------------------------------------------- 1-d
# 2-d pooling with a height of one: (N, C, L) is viewed as (N, C, 1, L), no copy.


def maxpool1d_forward(x, kernel, stride):
    """1-d max pooling.  x : (N, C, L).  Returns ``(y (N, C, OL), argmax (N, C, OL) int64)``."""
    y, arg = maxpool2d_forward(x[:, :, None, :], (1, kernel), (1, stride))
    return y[:, :, 0, :], arg[:, :, 0, :]


def maxpool1d_backward(dy, argmax, in_size):
    """``dx[n, c, argmax[n, c, i]] += dy[n, c, i]``.  Returns dx : (N, C, L)."""
    dx = maxpool2d_backward(dy[:, :, None, :], argmax[:, :, None, :], (1, in_size))
    return dx[:, :, 0, :]


def avgpool1d_forward(x, kernel, stride):
    """``y[n, c, i] = mean_{p < K} x[n, c, i*s + p]``.  Returns (N, C, OL)."""
    return avgpool2d_forward(x[:, :, None, :], (1, kernel), (1, stride))[:, :, 0, :]


def avgpool1d_backward(dy, in_size, kernel, stride):
    """``dx[n, c, i*s + p] += dy[n, c, i] / K``.  Returns (N, C, L)."""
    dx = avgpool2d_backward(dy[:, :, None, :], (1, in_size), (1, kernel), (1, stride))
    return dx[:, :, 0, :]
