"""CuPy kernels: the CUDA C twins of :mod:`deepbio._kernels.reference`.

Each family's kernels are CUDA C templates in a ``.cu`` file beside this one (shipped as
package data), compiled by NVRTC through ``cupy.RawModule`` with one name expression per
kernel and dtype (``"sigmoid_bernoulli<float>"``), and cached per (device, family,
dtype).  The wrappers below have exactly the reference signatures, take and return
``cupy.ndarray``, and do the matrix products with cuBLAS (``cupy.matmul``); the kernels
do everything else: element-wise and row-wise work, im2col / col2im, pooling, the cell
arithmetic of one recurrent step, Philox.  :func:`load` returns ``{kernel_name: fn}`` for
the whole contract.

``import deepbio`` never imports CuPy: it is imported on the first :func:`load` (or
wrapper call).  Without CuPy, :func:`load` raises ImportError; with CuPy but no usable
GPU or driver, RuntimeError; both say what is missing.

Launch geometry (every kernel reads its loop counts from its arguments, so any grid is
correct; the numbers below only size it): 1-d kernels use :data:`THREADS` threads a
block and at most :data:`MAX_BLOCKS` blocks in grid-stride loops; row kernels (a block
reduction per row: softmax, free energy) one block of :data:`ROW_THREADS` threads (a
power of two <= 256) per row, at most :data:`MAX_BLOCKS` blocks.  The host tests
(``tests/kernels/test_cuda_sources.py``) shrink these to make the loops stride.
"""
import functools
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

#: Name expressions of every kernel, per ``.cu`` file; ``{T}`` is ``float`` or ``double``.
SOURCES = {
    "philox": ("philox_uniform<{T}>", "philox_blocks"),
    "rbm": ("sigmoid_bernoulli<{T}>", "gaussian_sample<{T}>", "column_sums<{T}>",
            "gaussian_visible_terms<{T}>", "free_energy_rows<{T}>"),
    "dense": ("activation<{T}>", "softmax_rows<{T}>", "activation_grad<{T}>",
              "softmax_grad_rows<{T}>", "column_sums<{T}>", "sparsity_terms<{T}>",
              "broadcast_rows<{T}>", "mask_corrupt<{T}>", "gaussian_corrupt<{T}>"),
    "conv": ("im2col2d<{T}>", "col2im2d<{T}>", "im2col1d<{T}>", "col2im1d<{T}>"),
    "pool": ("maxpool2d<{T}>", "avgpool2d<{T}>", "avgpool2d_grad<{T}>", "maxpool1d<{T}>",
             "avgpool1d<{T}>", "avgpool1d_grad<{T}>", "maxpool_grad<{T}>"),
    "recurrent": ("elman_cell<{T}>", "elman_cell_grad<{T}>", "lstm_cell<{T}>",
                  "lstm_cell_grad<{T}>", "column_sums<{T}>", "elman_cell_masked<{T}>",
                  "lstm_cell_masked<{T}>", "elman_cell_grad_masked<{T}>",
                  "lstm_cell_grad_masked<{T}>", "masked_carry<{T}>", "elman_rop_step<{T}>",
                  "lstm_rop_step<{T}>", "gru_cell<{T}>", "gru_cell_grad<{T}>",
                  "gru_rop_step<{T}>"),
    "optim": ("sq_norm_partial<{T}>", "clip_factor<{T}>", "sgd_update<{T}>",
              "adam_update<{T}>", "rmsprop_update<{T}>"),
}
#: NVRTC options (the folder is on the include path for common.cuh and philox.cuh).
OPTIONS = ("--std=c++17", f"-I{HERE}")

THREADS, ROW_THREADS, MAX_BLOCKS = 256, 128, 4096

_CTYPE = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}
_ACT = {"linear": 0, "sigmoid": 1, "tanh": 2, "relu": 3, "softmax": 4}   # common.cuh
_NULL = np.uintp(0)                      # a NULL pointer argument
_i64, _u64 = np.int64, np.uint64


def _cupy():
    try:
        import cupy
    except ImportError as e:
        raise ImportError("deepbio's CuPy kernels need CuPy: `pip install cupy-cuda13x` "
                          f"on a machine with an NVIDIA GPU and driver ({e})") from e
    return cupy


@functools.lru_cache(maxsize=None)
def _module(device, family, ctype):
    cp = _cupy()
    code = (HERE / f"{family}.cu").read_text()
    names = tuple(e.format(T=ctype) for e in SOURCES[family])
    return cp.RawModule(code=code, options=OPTIONS, name_expressions=names)


@functools.lru_cache(maxsize=None)
def _kernel(device, family, name, ctype):
    return _module(device, family, ctype).get_function(name.format(T=ctype))


def _fn(family, name, dtype):
    """The compiled kernel ``name`` (a SOURCES entry) of ``family`` for ``dtype``."""
    return _kernel(_cupy().cuda.Device().id, family, name, _CTYPE[np.dtype(dtype)])


def _launch(kernel, work, args):
    """1-d launch for ``work`` items (grid-stride loops inside)."""
    kernel((max(1, min(-(-work // THREADS), MAX_BLOCKS)),), (THREADS,), args)


def _launch_rows(kernel, rows, args):
    """One block per row (a grid-stride loop over rows inside)."""
    kernel((max(1, min(rows, MAX_BLOCKS)),), (ROW_THREADS,), args)


def _pair(v):
    return (v, v) if np.isscalar(v) else tuple(v)


def _opt(a):
    return _NULL if a is None else a


# --8<-- [start:cd_statistics]
def _column_sums(family, a, b=None, mean=False):
    """``sum_i (a - b)[i, :]`` (or the mean) of a 2-d array; ``b`` may be None."""
    n, d = a.shape
    out = _cupy().empty(d, a.dtype)
    _launch(_fn(family, "column_sums<{T}>", a.dtype), d,
            (a, _opt(b), out, _i64(n), _i64(d), np.int32(mean)))
    return out
# --8<-- [end:cd_statistics]


# -------------------------------------------------------------------------- random


def philox_uniform(n, seed, stream, offset, dtype):
    dtype = np.dtype(dtype)
    out = _cupy().empty(n, dtype)
    per = 4 if dtype == np.float32 else 2
    _launch(_fn("philox", "philox_uniform<{T}>", dtype), -(-n // per),
            (out, _i64(n), _u64(seed), _u64(stream), _u64(offset)))
    return out


def philox4x32_10(counter, key):
    """The raw block function on the device: counter uint32 (N, 4), key (k0, k1).
    Not a contract kernel (see reference.philox4x32_10)."""
    cp = _cupy()
    counter = cp.ascontiguousarray(counter, dtype=cp.uint32)
    out = cp.empty_like(counter)
    _launch(_fn("philox", "philox_blocks", np.float32), counter.shape[0],
            (counter, out, _i64(counter.shape[0]), np.uint32(key[0]), np.uint32(key[1])))
    return out


# ----------------------------------------------------------------------------- RBM


def sigmoid_bernoulli(x, u):
    cp = _cupy()
    p, s = cp.empty_like(x), cp.empty_like(x)
    _launch(_fn("rbm", "sigmoid_bernoulli<{T}>", x.dtype), x.size, (x, u, p, s, _i64(x.size)))
    return p, s


def gaussian_sample(mean, sigma, u1, u2):
    v = _cupy().empty_like(mean)
    _launch(_fn("rbm", "gaussian_sample<{T}>", mean.dtype), mean.size,
            (mean, sigma, u1, u2, v, _i64(mean.size), _i64(mean.shape[1])))
    return v


# --8<-- [start:cd_statistics_face]
def cd_statistics(v0, h0, vk, hk):
    cp = _cupy()
    dW = cp.matmul(v0.T, h0)
    dW -= cp.matmul(vk.T, hk)
    dW /= v0.dtype.type(v0.shape[0])
    return dW, _column_sums("rbm", v0, vk, mean=True), _column_sums("rbm", h0, hk, mean=True)
# --8<-- [end:cd_statistics_face]


def free_energy(v, W, b, c, sigma=None):
    cp = _cupy()
    n, d = v.shape
    if sigma is None:
        base = -cp.matmul(v, b)                          # -(v . b)
        z = cp.matmul(v, W)
    else:
        vs, base = cp.empty_like(v), cp.empty(n, v.dtype)    # v / sigma, quad
        _launch_rows(_fn("rbm", "gaussian_visible_terms<{T}>", v.dtype), n,
                     (v, b, sigma, vs, base, _i64(n), _i64(d)))
        z = cp.matmul(vs, W)
    f = cp.empty(n, v.dtype)
    _launch_rows(_fn("rbm", "free_energy_rows<{T}>", v.dtype), n,
                 (z, c, base, f, _i64(n), _i64(W.shape[1])))
    return f


# ------------------------------------------------------------------ dense / autoencoder


def _activation(z, b, out, activation):
    """``out = f(z + b)`` (b may be None; out may be z)."""
    n, d = z.shape
    if activation == "softmax":
        _launch_rows(_fn("dense", "softmax_rows<{T}>", z.dtype), n,
                     (z, _opt(b), out, _i64(n), _i64(d)))
    else:
        _launch(_fn("dense", "activation<{T}>", z.dtype), z.size,
                (z, _opt(b), out, _i64(z.size), _i64(d), np.int32(_ACT[activation])))
    return out


def _activation_grad(a, da, activation):
    n, d = a.shape
    dz = _cupy().empty_like(a)
    if activation == "softmax":
        _launch_rows(_fn("dense", "softmax_grad_rows<{T}>", a.dtype), n,
                     (a, da, dz, _i64(n), _i64(d)))
    else:
        _launch(_fn("dense", "activation_grad<{T}>", a.dtype), a.size,
                (a, da, dz, _i64(a.size), np.int32(_ACT[activation])))
    return dz


def activation_forward(z, activation):
    return _activation(z, None, _cupy().empty_like(z), activation)


def activation_backward(a, da, activation):
    return _activation_grad(a, da, activation)


# --8<-- [start:dense]
def dense_forward(x, W, b, activation):
    z = _cupy().matmul(x, W)
    return _activation(z, b, z, activation)              # f(z + b) in place


def dense_backward(x, W, a, da, activation):
    cp = _cupy()
    dz = da if activation == "linear" else _activation_grad(a, da, activation)
    return cp.matmul(dz, W.T), cp.matmul(x.T, dz), _column_sums("dense", dz)
# --8<-- [end:dense]


def sparsity_grad(a, rho, beta):
    cp = _cupy()
    n, h = a.shape
    t = a.dtype.type
    eps = 1e-7 if a.dtype == np.float32 else 1e-12
    rho_hat = _column_sums("dense", a, mean=True)
    kl, g = cp.empty(h, a.dtype), cp.empty(h, a.dtype)
    _launch(_fn("dense", "sparsity_terms<{T}>", a.dtype), h,
            (rho_hat, kl, g, _i64(h), t(rho), t(1 - rho), t(beta / n), t(eps), t(1 - eps)))
    da = cp.empty_like(a)
    _launch(_fn("dense", "broadcast_rows<{T}>", a.dtype), a.size, (g, da, _i64(a.size), _i64(h)))
    # penalty = beta sum_j KL_j, a 0-d array (asarray: NumPy's sum gives a scalar)
    return cp.asarray(kl.sum() * t(beta)), da


def mask_corrupt(x, u, p):
    out = _cupy().empty_like(x)
    _launch(_fn("dense", "mask_corrupt<{T}>", x.dtype), x.size,
            (x, u, out, _i64(x.size), x.dtype.type(p)))
    return out


def gaussian_corrupt(x, u1, u2, std):
    out = _cupy().empty_like(x)
    _launch(_fn("dense", "gaussian_corrupt<{T}>", x.dtype), x.size,
            (x, u1, u2, out, _i64(x.size), x.dtype.type(std)))
    return out


# --------------------------------------------------------------------- convolution


# --8<-- [start:conv2d]
def _im2col2d(x, kh, kw, stride, padding):
    """cols (N, C*KH*KW, OH*OW) of x (N, C, H, W), zero padded; and (OH, OW)."""
    n, c, h, w = x.shape
    (sh, sw), (ph, pw) = stride, padding
    oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    cols = _cupy().empty((n, c * kh * kw, oh * ow), x.dtype)
    _launch(_fn("conv", "im2col2d<{T}>", x.dtype), cols.size,
            (x, cols, *map(_i64, (cols.size, h, w, kh, kw, sh, sw, ph, pw, oh, ow))))
    return cols, oh, ow


def conv2d_forward(x, w, b, stride, padding):
    f, _, kh, kw = w.shape
    cols, oh, ow = _im2col2d(x, kh, kw, _pair(stride), _pair(padding))
    y = _cupy().matmul(w.reshape(f, -1), cols)                  # (N, F, OH*OW)
    y += b[:, None]
    return y.reshape(x.shape[0], f, oh, ow)


def conv2d_backward_input(dy, w, in_size, stride, padding):
    f, c, kh, kw = w.shape
    n, _, oh, ow = dy.shape
    (h, wd), (sh, sw), (ph, pw) = _pair(in_size), _pair(stride), _pair(padding)
    cp = _cupy()
    cols = cp.matmul(w.reshape(f, -1).T, dy.reshape(n, f, oh * ow))   # (N, C*KH*KW, OH*OW)
    dx = cp.empty((n, c, h, wd), dy.dtype)
    _launch(_fn("conv", "col2im2d<{T}>", dy.dtype), dx.size,
            (cols, dx, *map(_i64, (dx.size, h, wd, kh, kw, sh, sw, ph, pw, oh, ow))))
    return dx


def conv2d_backward_weight(dy, x, kernel_size, stride, padding):
    cp = _cupy()
    n, c = x.shape[:2]
    f = dy.shape[1]
    kh, kw = _pair(kernel_size)
    cols, oh, ow = _im2col2d(x, kh, kw, _pair(stride), _pair(padding))
    d = dy.reshape(n, f, oh * ow)
    dw = cp.tensordot(d, cols, axes=((0, 2), (0, 2)))           # sum_n dy_n cols_n^T
    return cp.ascontiguousarray(dw).reshape(f, c, kh, kw), d.sum(axis=(0, 2))
# --8<-- [end:conv2d]


def _im2col1d(x, k, s, p):
    n, c, length = x.shape
    ol = (length + 2 * p - k) // s + 1
    cols = _cupy().empty((n, c * k, ol), x.dtype)
    _launch(_fn("conv", "im2col1d<{T}>", x.dtype), cols.size,
            (x, cols, *map(_i64, (cols.size, length, k, s, p, ol))))
    return cols, ol


def conv1d_forward(x, w, b, stride, padding):
    f, _, k = w.shape
    cols, ol = _im2col1d(x, k, stride, padding)
    y = _cupy().matmul(w.reshape(f, -1), cols)                  # (N, F, OL)
    y += b[:, None]
    return y


def conv1d_backward_input(dy, w, in_size, stride, padding):
    cp = _cupy()
    f, c, k = w.shape
    n, _, ol = dy.shape
    cols = cp.matmul(w.reshape(f, -1).T, dy)                    # (N, C*K, OL)
    dx = cp.empty((n, c, in_size), dy.dtype)
    _launch(_fn("conv", "col2im1d<{T}>", dy.dtype), dx.size,
            (cols, dx, *map(_i64, (dx.size, in_size, k, stride, padding, ol))))
    return dx


def conv1d_backward_weight(dy, x, kernel_size, stride, padding):
    cp = _cupy()
    c, f = x.shape[1], dy.shape[1]
    cols, _ = _im2col1d(x, kernel_size, stride, padding)
    dw = cp.tensordot(dy, cols, axes=((0, 2), (0, 2)))
    return cp.ascontiguousarray(dw).reshape(f, c, kernel_size), dy.sum(axis=(0, 2))


# ------------------------------------------------------------------------- pooling


# --8<-- [start:maxpool2d]
def maxpool2d_forward(x, kernel, stride):
    cp = _cupy()
    n, c, h, w = x.shape
    (kh, kw), (sh, sw) = _pair(kernel), _pair(stride)
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    y = cp.empty((n, c, oh, ow), x.dtype)
    argmax = cp.empty((n, c, oh, ow), cp.int64)
    _launch(_fn("pool", "maxpool2d<{T}>", x.dtype), y.size,
            (x, y, argmax, *map(_i64, (y.size, h, w, kh, kw, sh, sw, oh, ow))))
    return y, argmax


def _maxpool_grad(dy, argmax, in_shape):
    dx = _cupy().zeros(in_shape, dy.dtype)
    plane_out = dy.size // (dy.shape[0] * dy.shape[1])
    plane_in = dx.size // (dx.shape[0] * dx.shape[1])
    _launch(_fn("pool", "maxpool_grad<{T}>", dy.dtype), dy.size,
            (dy, argmax, dx, _i64(dy.size), _i64(plane_out), _i64(plane_in)))
    return dx


def maxpool2d_backward(dy, argmax, in_size):
    return _maxpool_grad(dy, argmax, dy.shape[:2] + tuple(_pair(in_size)))
# --8<-- [end:maxpool2d]


def avgpool2d_forward(x, kernel, stride):
    n, c, h, w = x.shape
    (kh, kw), (sh, sw) = _pair(kernel), _pair(stride)
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    y = _cupy().empty((n, c, oh, ow), x.dtype)
    _launch(_fn("pool", "avgpool2d<{T}>", x.dtype), y.size,
            (x, y, *map(_i64, (y.size, h, w, kh, kw, sh, sw, oh, ow))))
    return y


def avgpool2d_backward(dy, in_size, kernel, stride):
    n, c, oh, ow = dy.shape
    (h, w), (kh, kw), (sh, sw) = _pair(in_size), _pair(kernel), _pair(stride)
    dx = _cupy().empty((n, c, h, w), dy.dtype)
    _launch(_fn("pool", "avgpool2d_grad<{T}>", dy.dtype), dx.size,
            (dy, dx, *map(_i64, (dx.size, h, w, kh, kw, sh, sw, oh, ow))))
    return dx


def maxpool1d_forward(x, kernel, stride):
    cp = _cupy()
    n, c, length = x.shape
    ol = (length - kernel) // stride + 1
    y = cp.empty((n, c, ol), x.dtype)
    argmax = cp.empty((n, c, ol), cp.int64)
    _launch(_fn("pool", "maxpool1d<{T}>", x.dtype), y.size,
            (x, y, argmax, *map(_i64, (y.size, length, kernel, stride, ol))))
    return y, argmax


def maxpool1d_backward(dy, argmax, in_size):
    return _maxpool_grad(dy, argmax, dy.shape[:2] + (in_size,))


def avgpool1d_forward(x, kernel, stride):
    n, c, length = x.shape
    ol = (length - kernel) // stride + 1
    y = _cupy().empty((n, c, ol), x.dtype)
    _launch(_fn("pool", "avgpool1d<{T}>", x.dtype), y.size,
            (x, y, *map(_i64, (y.size, length, kernel, stride, ol))))
    return y


def avgpool1d_backward(dy, in_size, kernel, stride):
    n, c, ol = dy.shape
    dx = _cupy().empty((n, c, in_size), dy.dtype)
    _launch(_fn("pool", "avgpool1d_grad<{T}>", dy.dtype), dx.size,
            (dy, dx, *map(_i64, (dx.size, in_size, kernel, stride, ol))))
    return dx


# ----------------------------------------------------------------------- recurrent


def _elman_cell(xw, hwh, b, h, activation):
    _launch(_fn("recurrent", "elman_cell<{T}>", xw.dtype), h.size,
            (xw, hwh, b, h, _i64(h.size), _i64(h.shape[-1]), np.int32(_ACT[activation])))


def _elman_cell_grad(dh, dh_next, h, dz, activation):
    _launch(_fn("recurrent", "elman_cell_grad<{T}>", dh.dtype), dz.size,
            (dh, _opt(dh_next), h, dz, _i64(dz.size), np.int32(_ACT[activation])))


def _lstm_cell(xw, hwh, b, c_prev, h, c, gates):
    _launch(_fn("recurrent", "lstm_cell<{T}>", xw.dtype), h.size,
            (xw, hwh, b, c_prev, h, c, gates, _i64(h.size), _i64(h.shape[-1])))


def _lstm_cell_grad(dh, dh_next, dc, c_prev, c, gates, dz, dc_prev):
    _launch(_fn("recurrent", "lstm_cell_grad<{T}>", dh.dtype), dc_prev.size,
            (dh, _opt(dh_next), _opt(dc), c_prev, c, gates, dz, dc_prev,
             _i64(dc_prev.size), _i64(dc_prev.shape[-1])))


def _param_grads(dz, x, h_prev, Wx, Wh):
    """``(dx, dWx, dWh, db)`` from the pre-activation gradients of every step at once:
    ``dx = dz Wx^T``, ``dWx = x^T dz``, ``dWh = h_prev^T dz``, ``db = sum dz`` over all rows."""
    cp = _cupy()
    g = dz.shape[-1]
    dz2, x2, hp2 = dz.reshape(-1, g), x.reshape(-1, x.shape[-1]), h_prev.reshape(-1, Wh.shape[0])
    dx = cp.matmul(dz2, Wx.T).reshape(x.shape)
    return dx, cp.matmul(x2.T, dz2), cp.matmul(hp2.T, dz2), _column_sums("recurrent", dz2)


def elman_step_forward(x, h_prev, Wx, Wh, b, activation):
    cp = _cupy()
    h = cp.empty_like(h_prev)
    _elman_cell(cp.matmul(x, Wx), cp.matmul(h_prev, Wh), b, h, activation)
    return h


def elman_step_backward(dh, x, h_prev, h, Wx, Wh, activation):
    dz = _cupy().empty_like(h)
    _elman_cell_grad(dh, None, h, dz, activation)
    dx, dWx, dWh, db = _param_grads(dz, x, h_prev, Wx, Wh)
    return dx, _cupy().matmul(dz, Wh.T), dWx, dWh, db


# --8<-- [start:elman]
def elman_forward(x, h0, Wx, Wh, b, activation):
    cp = _cupy()
    t_len, n, d = x.shape
    xw = cp.matmul(x.reshape(t_len * n, d), Wx).reshape(t_len, n, -1)   # x_t Wx, every t
    hs = cp.empty((t_len,) + h0.shape, x.dtype)
    hwh = cp.empty_like(h0)
    h = h0
    for t in range(t_len):
        cp.matmul(h, Wh, out=hwh)
        _elman_cell(xw[t], hwh, b, hs[t], activation)
        h = hs[t]
    return hs


def elman_backward(dhs, x, h0, hs, Wx, Wh, activation):
    cp = _cupy()
    dz = cp.empty_like(hs)
    dh_next = None
    for t in range(x.shape[0] - 1, -1, -1):
        _elman_cell_grad(dhs[t], dh_next, hs[t], dz[t], activation)
        dh_next = cp.matmul(dz[t], Wh.T)
    h_prev = cp.concatenate([h0[None], hs[:-1]])
    dx, dWx, dWh, db = _param_grads(dz, x, h_prev, Wx, Wh)
    return dx, dh_next, dWx, dWh, db
# --8<-- [end:elman]


def lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b):
    cp = _cupy()
    h, c = cp.empty_like(h_prev), cp.empty_like(c_prev)
    gates = cp.empty((x.shape[0], Wx.shape[1]), x.dtype)
    _lstm_cell(cp.matmul(x, Wx), cp.matmul(h_prev, Wh), b, c_prev, h, c, gates)
    return h, c, gates


def lstm_step_backward(dh, dc, x, h_prev, c_prev, c, gates, Wx, Wh):
    cp = _cupy()
    dz, dc_prev = cp.empty_like(gates), cp.empty_like(c)
    _lstm_cell_grad(dh, None, dc, c_prev, c, gates, dz, dc_prev)
    dx, dWx, dWh, db = _param_grads(dz, x, h_prev, Wx, Wh)
    return dx, cp.matmul(dz, Wh.T), dc_prev, dWx, dWh, db


def lstm_forward(x, h0, c0, Wx, Wh, b):
    cp = _cupy()
    t_len, n, d = x.shape
    xw = cp.matmul(x.reshape(t_len * n, d), Wx).reshape(t_len, n, -1)
    hs, cs = cp.empty((t_len,) + h0.shape, x.dtype), cp.empty((t_len,) + c0.shape, x.dtype)
    gates = cp.empty((t_len, n, Wx.shape[1]), x.dtype)
    hwh = cp.empty((n, Wx.shape[1]), x.dtype)
    h, c = h0, c0
    for t in range(t_len):
        cp.matmul(h, Wh, out=hwh)
        _lstm_cell(xw[t], hwh, b, c, hs[t], cs[t], gates[t])
        h, c = hs[t], cs[t]
    return hs, cs, gates


def lstm_backward(dhs, x, h0, c0, hs, cs, gates, Wx, Wh):
    cp = _cupy()
    dz = cp.empty_like(gates)
    dh_next = dc_next = None
    for t in range(x.shape[0] - 1, -1, -1):
        c_prev = cs[t - 1] if t > 0 else c0
        dc_prev = cp.empty_like(c0)
        _lstm_cell_grad(dhs[t], dh_next, dc_next, c_prev, cs[t], gates[t], dz[t], dc_prev)
        dh_next, dc_next = cp.matmul(dz[t], Wh.T), dc_prev
    h_prev = cp.concatenate([h0[None], hs[:-1]])
    dx, dWx, dWh, db = _param_grads(dz, x, h_prev, Wx, Wh)
    return dx, dh_next, dc_next, dWx, dWh, db


# ------------------------------------------- recurrent: masks, truncation, R-op
#
# The time loop stays here; per step one cuBLAS product and one fused kernel (see the
# comment block in recurrent.cu).  Row slices m[t], keep[t] of the (T, N) factors are
# contiguous; a missing keep or mask goes to the kernel as NULL.


def _row(a, t):
    return _NULL if a is None else a[t]


def elman_forward_masked(x, h0, m, Wx, Wh, b, activation):
    cp = _cupy()
    t_len, n, d = x.shape
    xw = cp.matmul(x.reshape(t_len * n, d), Wx).reshape(t_len, n, -1)
    hs, hnew = cp.empty((t_len,) + h0.shape, x.dtype), cp.empty((t_len,) + h0.shape, x.dtype)
    hwh = cp.empty_like(h0)
    fn = _fn("recurrent", "elman_cell_masked<{T}>", x.dtype)
    h = h0
    for t in range(t_len):
        cp.matmul(h, Wh, out=hwh)
        _launch(fn, h0.size, (xw[t], hwh, b, m[t], h, hnew[t], hs[t], _i64(h0.size),
                              _i64(h0.shape[1]), np.int32(_ACT[activation])))
        h = hs[t]
    return hs, hnew


def elman_backward_masked(dhs, x, h0, hs, hnew, m, keep, Wx, Wh, activation):
    cp = _cupy()
    t_len = x.shape[0]
    size, hsz = h0.size, _i64(h0.shape[1])
    dz, passed = cp.empty_like(hs), cp.empty_like(h0)
    fn = _fn("recurrent", "elman_cell_grad_masked<{T}>", x.dtype)
    prod = None
    for t in range(t_len - 1, -1, -1):
        first = t == t_len - 1
        _launch(fn, size, (dhs[t], _opt(prod), passed, _NULL if first else _row(keep, t + 1),
                           hnew[t], m[t], dz[t], _i64(size), hsz, np.int32(first),
                           np.int32(_ACT[activation])))
        prod = cp.matmul(dz[t], Wh.T)
    dh0 = cp.empty_like(h0)
    _launch(_fn("recurrent", "masked_carry<{T}>", x.dtype), size,
            (prod, passed, _row(keep, 0), dh0, _i64(size), hsz))
    h_prev = cp.concatenate([h0[None], hs[:-1]])
    dx, dWx, dWh, db = _param_grads(dz, x, h_prev, Wx, Wh)
    return dx, dh0, dWx, dWh, db


def lstm_forward_masked(x, h0, c0, m, Wx, Wh, b):
    cp = _cupy()
    t_len, n, d = x.shape
    xw = cp.matmul(x.reshape(t_len * n, d), Wx).reshape(t_len, n, -1)
    hs, cs, cnew = (cp.empty((t_len,) + h0.shape, x.dtype) for _ in range(3))
    gates = cp.empty((t_len, n, Wx.shape[1]), x.dtype)
    hwh = cp.empty((n, Wx.shape[1]), x.dtype)
    fn = _fn("recurrent", "lstm_cell_masked<{T}>", x.dtype)
    h, c = h0, c0
    for t in range(t_len):
        cp.matmul(h, Wh, out=hwh)
        _launch(fn, h0.size, (xw[t], hwh, b, m[t], h, c, hs[t], cs[t], cnew[t], gates[t],
                              _i64(h0.size), _i64(h0.shape[1])))
        h, c = hs[t], cs[t]
    return hs, cs, cnew, gates


def lstm_backward_masked(dhs, x, h0, c0, hs, cs, cnew, gates, m, keep, Wx, Wh):
    cp = _cupy()
    t_len = x.shape[0]
    size, hsz = h0.size, _i64(h0.shape[1])
    dz = cp.empty_like(gates)
    hpass, cpass = cp.empty_like(h0), cp.empty_like(c0)
    fn = _fn("recurrent", "lstm_cell_grad_masked<{T}>", x.dtype)
    prod = None
    for t in range(t_len - 1, -1, -1):
        first = t == t_len - 1
        c_prev = cs[t - 1] if t > 0 else c0
        _launch(fn, size, (dhs[t], _opt(prod), hpass, cpass,
                           _NULL if first else _row(keep, t + 1), c_prev, cnew[t], gates[t],
                           m[t], dz[t], _i64(size), hsz, np.int32(first)))
        prod = cp.matmul(dz[t], Wh.T)
    carry = _fn("recurrent", "masked_carry<{T}>", x.dtype)
    dh0, dc0 = cp.empty_like(h0), cp.empty_like(c0)
    _launch(carry, size, (prod, hpass, _row(keep, 0), dh0, _i64(size), hsz))
    _launch(carry, size, (_NULL, cpass, _row(keep, 0), dc0, _i64(size), hsz))
    h_prev = cp.concatenate([h0[None], hs[:-1]])
    dx, dWx, dWh, db = _param_grads(dz, x, h_prev, Wx, Wh)
    return dx, dh0, dc0, dWx, dWh, db


# --8<-- [start:elman_rop]
def elman_rop(A, hnew, m, Wh, activation):
    cp = _cupy()
    rh = cp.empty_like(hnew)
    size, hsz = hnew[0].size, _i64(hnew.shape[2])
    fn = _fn("recurrent", "elman_rop_step<{T}>", A.dtype)
    for t in range(A.shape[0]):
        prod = _NULL if t == 0 else cp.matmul(rh[t - 1], Wh)
        _launch(fn, size, (A[t], prod, hnew[t], _row(m, t), _NULL if t == 0 else rh[t - 1],
                           rh[t], _i64(size), hsz, np.int32(_ACT[activation])))
    return rh
# --8<-- [end:elman_rop]


def lstm_rop(A, c0, cs, cnew, gates, m, Wh):
    cp = _cupy()
    rh, rc = cp.empty_like(cs), cp.empty_like(c0)
    size, hsz = c0.size, _i64(c0.shape[1])
    fn = _fn("recurrent", "lstm_rop_step<{T}>", A.dtype)
    for t in range(A.shape[0]):
        prod = _NULL if t == 0 else cp.matmul(rh[t - 1], Wh)
        _launch(fn, size, (A[t], prod, gates[t], cs[t - 1] if t > 0 else c0, cnew[t],
                           _row(m, t), _NULL if t == 0 else rh[t - 1], rc, rh[t], _i64(size),
                           hsz, np.int32(t == 0)))
    return rh


# ----------------------------------------------------------------------------- GRU
#
# The time loop stays here, as for the masked LSTM: x Wx for all steps in one product,
# per step one product (h_{t-1} Wh, dzh_t Wh^T or R{h_{t-1}} Wh) and one fused kernel
# (gru_cell, gru_cell_grad, gru_rop_step; the gate arithmetic in gru_gates).


def _gru_forward(x, h0, m, Wx, Wh, b, bh):
    cp = _cupy()
    t_len, n, d = x.shape
    xw = cp.matmul(x.reshape(t_len * n, d), Wx).reshape(t_len, n, -1)
    hs = cp.empty((t_len,) + h0.shape, x.dtype)
    hnew = hs if m is None else cp.empty_like(hs)
    hn = cp.empty_like(hs)
    gates = cp.empty((t_len, n, Wx.shape[1]), x.dtype)
    hwh = cp.empty((n, Wx.shape[1]), x.dtype)
    fn = _fn("recurrent", "gru_cell<{T}>", x.dtype)
    h = h0
    for t in range(t_len):
        cp.matmul(h, Wh, out=hwh)
        _launch(fn, h0.size, (xw[t], hwh, b, bh, _row(m, t), h, hnew[t], hs[t], gates[t],
                              hn[t], _i64(h0.size), _i64(h0.shape[1])))
        h = hs[t]
    return hs, hnew, gates, hn


def gru_forward(x, h0, Wx, Wh, b, bh):
    hs, _, gates, hn = _gru_forward(x, h0, None, Wx, Wh, b, bh)
    return hs, gates, hn


def gru_forward_masked(x, h0, m, Wx, Wh, b, bh):
    return _gru_forward(x, h0, m, Wx, Wh, b, bh)


def gru_backward_masked(dhs, x, h0, hs, gates, hn, m, keep, Wx, Wh):
    cp = _cupy()
    t_len = x.shape[0]
    size, hsz = h0.size, _i64(h0.shape[1])
    dzx, dzh = cp.empty_like(gates), cp.empty_like(gates)
    passed = cp.empty_like(h0)
    fn = _fn("recurrent", "gru_cell_grad<{T}>", x.dtype)
    prod = None
    for t in range(t_len - 1, -1, -1):
        first = t == t_len - 1
        _launch(fn, size, (dhs[t], _opt(prod), passed, _NULL if first else _row(keep, t + 1),
                           hs[t - 1] if t > 0 else h0, gates[t], hn[t], _row(m, t), dzx[t],
                           dzh[t], _i64(size), hsz, np.int32(first)))
        prod = cp.matmul(dzh[t], Wh.T)
    dh0 = cp.empty_like(h0)
    _launch(_fn("recurrent", "masked_carry<{T}>", x.dtype), size,
            (prod, passed, _row(keep, 0), dh0, _i64(size), hsz))
    g = gates.shape[-1]
    zx, zh = dzx.reshape(-1, g), dzh.reshape(-1, g)
    h_prev = cp.concatenate([h0[None], hs[:-1]]).reshape(-1, Wh.shape[0])
    dx = cp.matmul(zx, Wx.T).reshape(x.shape)
    return (dx, dh0, cp.matmul(x.reshape(-1, x.shape[-1]).T, zx), cp.matmul(h_prev.T, zh),
            _column_sums("recurrent", zx), _column_sums("recurrent", zh))


def gru_backward(dhs, x, h0, hs, gates, hn, Wx, Wh):
    return gru_backward_masked(dhs, x, h0, hs, gates, hn, None, None, Wx, Wh)


def gru_rop(Ax, Ah, h0, hs, gates, hn, m, Wh):
    cp = _cupy()
    rh = cp.empty_like(hs)
    size, hsz = h0.size, _i64(h0.shape[1])
    fn = _fn("recurrent", "gru_rop_step<{T}>", Ax.dtype)
    for t in range(Ax.shape[0]):
        prod = _NULL if t == 0 else cp.matmul(rh[t - 1], Wh)
        _launch(fn, size, (Ax[t], Ah[t], prod, gates[t], hn[t], hs[t - 1] if t > 0 else h0,
                           _row(m, t), _NULL if t == 0 else rh[t - 1], rh[t], _i64(size),
                           hsz, np.int32(t == 0)))
    return rh


# ------------------------------------------------------------------------ optimiser
# In place on the flat parameter vector and the state (the contract's ``!`` arrays): one
# element-wise launch per update; clip_scale is one norm pass (a block sum per block,
# then one block adds the block sums).


def _blocks(work):
    return max(1, min(-(-work // THREADS), MAX_BLOCKS))


def clip_scale(grad, param, weight_decay, clip_norm):
    cp = _cupy()
    n, T = grad.size, grad.dtype.type
    parts = _blocks(n)
    partial = cp.empty(parts, np.float64)
    scale = cp.empty(1, grad.dtype)
    _fn("optim", "sq_norm_partial<{T}>", grad.dtype)(
        (parts,), (THREADS,), (grad, param, T(weight_decay), partial, _i64(n)))
    _fn("optim", "clip_factor<{T}>", grad.dtype)(
        (1,), (THREADS,), (partial, _i64(parts), np.float64(clip_norm), scale))
    return scale


def sgd_update(param, grad, velocity, scale, lr, momentum, weight_decay, nesterov):
    T = param.dtype.type
    _launch(_fn("optim", "sgd_update<{T}>", param.dtype), param.size,
            (param, grad, velocity, _opt(scale), T(lr), T(momentum), T(weight_decay),
             np.int32(bool(nesterov)), _i64(param.size)))
    return param, velocity


def adam_update(param, grad, m, v, vmax, scale, lr, beta1, beta2, eps, weight_decay,
                decoupled_decay, step):
    T = param.dtype.type
    step_size = lr / (1.0 - beta1 ** step)
    root_bc2 = (1.0 - beta2 ** step) ** 0.5
    _launch(_fn("optim", "adam_update<{T}>", param.dtype), param.size,
            (param, grad, m, v, _opt(vmax), _opt(scale), T(step_size), T(root_bc2),
             T(1.0 - beta1), T(beta2), T(1.0 - beta2), T(eps), T(weight_decay),
             T(1.0 - lr * decoupled_decay), np.int32(decoupled_decay != 0),
             _i64(param.size)))
    return param, m, v


def rmsprop_update(param, grad, square_avg, grad_avg, buf, scale, lr, alpha, eps, momentum,
                   weight_decay):
    T = param.dtype.type
    _launch(_fn("optim", "rmsprop_update<{T}>", param.dtype), param.size,
            (param, grad, square_avg, _opt(grad_avg), _opt(buf if momentum > 0 else None),
             _opt(scale), T(lr), T(alpha), T(1.0 - alpha), T(eps), T(momentum),
             T(weight_decay), _i64(param.size)))
    return param, square_avg


# ---------------------------------------------------------------------------- load

_NO_GPU = ("deepbio's CuPy kernels need a usable NVIDIA GPU: CuPy is installed but "
           "found no CUDA device or driver")


def load():
    """``{kernel_name: function}`` for the whole contract (unvalidated implementations).

    Raises ImportError without CuPy and RuntimeError without a usable GPU / driver.
    """
    from .. import CONTRACT
    cp = _cupy()
    try:
        count = cp.cuda.runtime.getDeviceCount()
    except Exception as e:              # CUDARuntimeError: no driver, insufficient driver
        raise RuntimeError(f"{_NO_GPU} ({type(e).__name__}: {e})") from None
    if count < 1:
        raise RuntimeError(_NO_GPU)
    return {name: globals()[name] for name in CONTRACT}


def cache_clear():
    """Forget every compiled module (tests that swap the ``cupy`` module use it)."""
    _module.cache_clear()
    _kernel.cache_clear()


__all__ = ["SOURCES", "OPTIONS", "load", "cache_clear", "philox4x32_10"]
