"""Pooling kernels: max (with argmax) and average, forward and backward, 2-d and 1-d.

No padding; ``OH = (H - KH) // sh + 1``.  ``argmax`` is the int64 position ``h * W + w``
of the maximum in its (H, W) plane, the first one in row-major window order on ties
(``np.argmax``'s rule; a NaN wins its window, as in ``np.argmax``).

Max-pool backward uses **atomics**: one thread per output gradient adds it to
``dx[argmax]`` with ``cuda.atomic.add`` (the backward has no kernel size or stride to
gather with, only the argmax, and a gather over the whole plane would cost O(OH*OW) per
pixel).  Without overlap (stride >= kernel, the usual case) every input pixel receives
at most one gradient, so the result is exact, bit for bit the reference's.  With
overlapping windows one pixel may win several windows; the atomic additions then happen
in no fixed order, so the float sum may differ from the reference's (which adds in output
order) in the last bits, and from run to run on a GPU.  float64 atomics need a GPU of
compute capability 6.0 or newer.

Average-pool backward is a gather (one thread per input pixel, summing ``dy / (KH KW)``
over the windows that cover it, in the reference's order): no atomics, deterministic.
"""
from numba import cuda

from . import launch, runtime

_rt = runtime()
jit, xp = _rt.jit, _rt.xp


def _pair(v):
    return (int(v[0]), int(v[1])) if isinstance(v, (tuple, list)) or getattr(v, "ndim", 0) \
        else (int(v), int(v))


# --8<-- [start:maxpool2d]
# y[n, c, i, j] = max_{p < KH, q < KW} x[n, c, i sh + p, j sw + q];
# argmax[n, c, i, j] = (i sh + p*) W + (j sw + q*), the first maximum in row-major order.
@jit
def _maxpool2d_forward(x, kh, kw, sh, sw, y, argmax):
    C, W = x.shape[1], x.shape[3]
    OH, OW = y.shape[2], y.shape[3]
    for idx in range(cuda.grid(1), y.size, cuda.gridsize(1)):
        j = idx % OW
        i = idx // OW % OH
        c = idx // (OW * OH) % C
        n = idx // (OW * OH * C)
        best_h, best_w = i * sh, j * sw
        best = x[n, c, best_h, best_w]
        for p in range(kh):
            for q in range(kw):
                v = x[n, c, i * sh + p, j * sw + q]
                if v > best or (v != v and best == best):     # strictly greater; NaN wins
                    best, best_h, best_w = v, i * sh + p, j * sw + q
        y[n, c, i, j] = best
        argmax[n, c, i, j] = best_h * W + best_w


# dx[plane, argmax[plane, o]] += dy[plane, o]  (atomically: windows may share a winner)
@jit
def _maxpool_backward(dy, argmax, dx):
    P = dy.shape[1]
    for idx in range(cuda.grid(1), dy.size, cuda.gridsize(1)):
        plane, o = idx // P, idx % P
        cuda.atomic.add(dx, (plane, argmax[plane, o]), dy[plane, o])
# --8<-- [end:maxpool2d]


# y[n, c, i, j] = sum_{p < KH, q < KW} x[n, c, i sh + p, j sw + q] / (KH KW)
@jit
def _avgpool2d_forward(x, kh, kw, sh, sw, y):
    T = x.dtype.type
    C = x.shape[1]
    OH, OW = y.shape[2], y.shape[3]
    for idx in range(cuda.grid(1), y.size, cuda.gridsize(1)):
        j = idx % OW
        i = idx // OW % OH
        c = idx // (OW * OH) % C
        n = idx // (OW * OH * C)
        s = T(0)
        for p in range(kh):
            for q in range(kw):
                s += x[n, c, i * sh + p, j * sw + q]
        y[n, c, i, j] = s / T(kh * kw)


# --8<-- [start:avgpool2d_backward]
# dx[n, c, h, w] = sum_{p, q, i, j : i sh + p = h, j sw + q = w} dy[n, c, i, j] / (KH KW)
# One thread per input pixel (a gather).
@jit
def _avgpool2d_backward(dy, kh, kw, sh, sw, dx):
    T = dx.dtype.type
    C, H, W = dx.shape[1], dx.shape[2], dx.shape[3]
    OH, OW = dy.shape[2], dy.shape[3]
    area = T(kh * kw)
    for idx in range(cuda.grid(1), dx.size, cuda.gridsize(1)):
        w = idx % W
        h = idx // W % H
        c = idx // (W * H) % C
        n = idx // (W * H * C)
        acc = T(0)
        for p in range(kh):
            hp = h - p                       # = i sh for the window row i that covers h
            if hp < 0 or hp % sh != 0 or hp // sh >= OH:
                continue
            for q in range(kw):
                wq = w - q
                if wq < 0 or wq % sw != 0 or wq // sw >= OW:
                    continue
                acc += dy[n, c, hp // sh, wq // sw] / area
        dx[n, c, h, w] = acc
# --8<-- [end:avgpool2d_backward]


def _out(n, k, s):
    return (n - k) // s + 1


def maxpool2d_forward(x, kernel, stride):
    (kh, kw), (sh, sw) = _pair(kernel), _pair(stride)
    n, c, h, w = x.shape
    shape = (n, c, _out(h, kh, sh), _out(w, kw, sw))
    y, argmax = xp.empty(shape, dtype=x.dtype), xp.empty(shape, dtype=xp.int64)
    _maxpool2d_forward[launch(y.size)](x, kh, kw, sh, sw, y, argmax)
    return y, argmax


def maxpool2d_backward(dy, argmax, in_size):
    n, c, oh, ow = dy.shape
    h, w = _pair(in_size)
    dx = xp.zeros((n * c, h * w), dtype=dy.dtype)
    _maxpool_backward[launch(dy.size)](dy.reshape(n * c, oh * ow),
                                       argmax.reshape(n * c, oh * ow), dx)
    return dx.reshape(n, c, h, w)


def avgpool2d_forward(x, kernel, stride):
    (kh, kw), (sh, sw) = _pair(kernel), _pair(stride)
    n, c, h, w = x.shape
    y = xp.empty((n, c, _out(h, kh, sh), _out(w, kw, sw)), dtype=x.dtype)
    _avgpool2d_forward[launch(y.size)](x, kh, kw, sh, sw, y)
    return y


def avgpool2d_backward(dy, in_size, kernel, stride):
    (kh, kw), (sh, sw) = _pair(kernel), _pair(stride)
    n, c = dy.shape[:2]
    h, w = _pair(in_size)
    dx = xp.empty((n, c, h, w), dtype=dy.dtype)
    _avgpool2d_backward[launch(dx.size)](dy, kh, kw, sh, sw, dx)
    return dx


# 1-d pooling is 2-d pooling with a height of one (reshapes are views).


def maxpool1d_forward(x, kernel, stride):
    n, c, length = x.shape
    y, argmax = maxpool2d_forward(x.reshape(n, c, 1, length), (1, int(kernel)), (1, int(stride)))
    ol = y.shape[3]
    return y.reshape(n, c, ol), argmax.reshape(n, c, ol)


def maxpool1d_backward(dy, argmax, in_size):
    n, c, ol = dy.shape
    dx = maxpool2d_backward(dy.reshape(n, c, 1, ol), argmax.reshape(n, c, 1, ol),
                            (1, int(in_size)))
    return dx.reshape(n, c, int(in_size))


def avgpool1d_forward(x, kernel, stride):
    n, c, length = x.shape
    y = avgpool2d_forward(x.reshape(n, c, 1, length), (1, int(kernel)), (1, int(stride)))
    return y.reshape(n, c, y.shape[3])


def avgpool1d_backward(dy, in_size, kernel, stride):
    n, c, ol = dy.shape
    dx = avgpool2d_backward(dy.reshape(n, c, 1, ol), (1, int(in_size)), (1, int(kernel)),
                            (1, int(stride)))
    return dx.reshape(n, c, int(in_size))


__all__ = ["maxpool2d_forward", "maxpool2d_backward", "avgpool2d_forward",
           "avgpool2d_backward", "maxpool1d_forward", "maxpool1d_backward",
           "avgpool1d_forward", "avgpool1d_backward"]
