"""Convolution kernels: im2col / col2im around the tiled GEMM, 2-d and (through 2-d) 1-d.

Patch matrices are ``cols (N, C*KH*KW, OH*OW)``; the kernels see them as their 6-d view
``(N, C, KH, KW, OH, OW)``, so every size they loop over comes from an array shape.

* forward:         ``y_n = W (F, C*KH*KW) @ cols_n + b``
* backward input:  ``cols_n = W^T @ dy_n``, then col2im sums every patch entry back to
  its pixel.  col2im is a *gather* (one thread per input pixel, summing the patch entries
  that read it, in the reference's (p, q) order): no atomics, deterministic.
* backward weight: ``dW = sum_n dy_n @ cols_n^T`` (one GEMM that also sums over the
  batch), ``db[f] = sum_{n, o} dy[n, f, o]``.
"""
from numba import cuda

from . import launch, runtime
from .gemm import matmul

_rt = runtime()
jit, xp = _rt.jit, _rt.xp


def _pair(v):
    return (int(v[0]), int(v[1])) if isinstance(v, (tuple, list)) or getattr(v, "ndim", 0) \
        else (int(v), int(v))


def _out(n, k, s, p):
    return (n + 2 * p - k) // s + 1


# --8<-- [start:im2col]
# cols[n, c, p, q, i, j] = x[n, c, i sh + p - ph, j sw + q - pw]   (0 in the padding)
@jit
def _im2col(x, sh, sw, ph, pw, cols):
    T = x.dtype.type
    _, C, KH, KW, OH, OW = cols.shape
    H, W = x.shape[2], x.shape[3]
    for idx in range(cuda.grid(1), cols.size, cuda.gridsize(1)):
        j = idx % OW
        i = idx // OW % OH
        q = idx // (OW * OH) % KW
        p = idx // (OW * OH * KW) % KH
        c = idx // (OW * OH * KW * KH) % C
        n = idx // (OW * OH * KW * KH * C)
        h, w = i * sh + p - ph, j * sw + q - pw
        inside = 0 <= h and h < H and 0 <= w and w < W
        cols[n, c, p, q, i, j] = x[n, c, h, w] if inside else T(0)


# dx[n, c, h, w] = sum_{p, q, i, j : i sh + p - ph = h, j sw + q - pw = w} cols[n, c, p, q, i, j]
# One thread per input pixel (a gather: no two threads write one pixel).
@jit
def _col2im(cols, sh, sw, ph, pw, dx):
    T = dx.dtype.type
    _, C, KH, KW, OH, OW = cols.shape
    H, W = dx.shape[2], dx.shape[3]
    for idx in range(cuda.grid(1), dx.size, cuda.gridsize(1)):
        w = idx % W
        h = idx // W % H
        c = idx // (W * H) % C
        n = idx // (W * H * C)
        acc = T(0)
        for p in range(KH):
            hp = h + ph - p                  # = i sh for the output row i that reads h
            if hp < 0 or hp % sh != 0 or hp // sh >= OH:
                continue
            for q in range(KW):
                wq = w + pw - q
                if wq < 0 or wq % sw != 0 or wq // sw >= OW:
                    continue
                acc += cols[n, c, p, q, hp // sh, wq // sw]
        dx[n, c, h, w] = acc
# --8<-- [end:im2col]


# y[n, f, o] += b[f]
@jit
def _add_channel_bias(y, b):
    F, P = y.shape[1], y.shape[2]
    for idx in range(cuda.grid(1), y.size, cuda.gridsize(1)):
        y[idx // (F * P), idx // P % F, idx % P] += b[idx // P % F]


# db[f] = sum_{n, o} dy[n, f, o]   (one thread per filter)
@jit
def _channel_sum(dy, db):
    T = dy.dtype.type
    for f in range(cuda.grid(1), dy.shape[1], cuda.gridsize(1)):
        s = T(0)
        for n in range(dy.shape[0]):
            for o in range(dy.shape[2]):
                s += dy[n, f, o]
        db[f] = s


def _im2col_call(x, kh, kw, sh, sw, ph, pw):
    """cols (N, C*KH*KW, OH*OW) of x (N, C, H, W)."""
    n, c, h, w = x.shape
    oh, ow = _out(h, kh, sh, ph), _out(w, kw, sw, pw)
    cols = xp.empty((n, c, kh, kw, oh, ow), dtype=x.dtype)
    _im2col[launch(cols.size)](x, sh, sw, ph, pw, cols)
    return cols.reshape(n, c * kh * kw, oh * ow), oh, ow


# --8<-- [start:conv2d]
def conv2d_forward(x, w, b, stride, padding):
    f, c, kh, kw = w.shape
    (sh, sw), (ph, pw) = _pair(stride), _pair(padding)
    cols, oh, ow = _im2col_call(x, kh, kw, sh, sw, ph, pw)
    y = matmul(w.reshape(f, c * kh * kw), cols)              # (N, F, OH*OW)
    _add_channel_bias[launch(y.size)](y, b)
    return y.reshape(x.shape[0], f, oh, ow)


def conv2d_backward_input(dy, w, in_size, stride, padding):
    f, c, kh, kw = w.shape
    n, _, oh, ow = dy.shape
    (sh, sw), (ph, pw) = _pair(stride), _pair(padding)
    h, wd = _pair(in_size)
    cols = matmul(w.reshape(f, c * kh * kw), dy.reshape(n, f, oh * ow), trans_a=True)
    dx = xp.empty((n, c, h, wd), dtype=dy.dtype)
    _col2im[launch(dx.size)](cols.reshape(n, c, kh, kw, oh, ow), sh, sw, ph, pw, dx)
    return dx


def conv2d_backward_weight(dy, x, kernel_size, stride, padding):
    n, c = x.shape[:2]
    f, oh, ow = dy.shape[1:]
    kh, kw = _pair(kernel_size)
    (sh, sw), (ph, pw) = _pair(stride), _pair(padding)
    cols, _, _ = _im2col_call(x, kh, kw, sh, sw, ph, pw)
    d = dy.reshape(n, f, oh * ow)
    dw = matmul(d, cols, trans_b=True, sum_batch=True)       # sum_n dy_n cols_n^T (F, CKK)
    db = xp.empty(f, dtype=dy.dtype)
    _channel_sum[launch(f)](d, db)
    return dw.reshape(f, c, kh, kw), db
# --8<-- [end:conv2d]


# 1-d convolution is 2-d convolution with a height of one (reshapes are views).


def conv1d_forward(x, w, b, stride, padding):
    n, c, length = x.shape
    f, _, k = w.shape
    y = conv2d_forward(x.reshape(n, c, 1, length), w.reshape(f, c, 1, k), b,
                       (1, int(stride)), (0, int(padding)))
    return y.reshape(n, f, y.shape[3])


def conv1d_backward_input(dy, w, in_size, stride, padding):
    n, f, ol = dy.shape
    _, c, k = w.shape
    dx = conv2d_backward_input(dy.reshape(n, f, 1, ol), w.reshape(f, c, 1, k),
                               (1, int(in_size)), (1, int(stride)), (0, int(padding)))
    return dx.reshape(n, c, int(in_size))


def conv1d_backward_weight(dy, x, kernel_size, stride, padding):
    n, f, ol = dy.shape
    c, length = x.shape[1:]
    dw, db = conv2d_backward_weight(dy.reshape(n, f, 1, ol), x.reshape(n, c, 1, length),
                                    (1, int(kernel_size)), (1, int(stride)), (0, int(padding)))
    return dw.reshape(f, c, int(kernel_size)), db


__all__ = ["conv2d_forward", "conv2d_backward_input", "conv2d_backward_weight",
           "conv1d_forward", "conv1d_backward_input", "conv1d_backward_weight"]
