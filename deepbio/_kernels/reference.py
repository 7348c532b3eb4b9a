"""NumPy reference kernels: the specification of every kernel in the contract.

This module is three things at once:

* the **specification**: each function's docstring states the formula it computes,
  and every compiled twin (Cython, CUDA) is tested against it;
* the **teaching text**: short, vectorised NumPy, meant to be read;
* the ``numpy`` **backend**: :mod:`deepbio.backend` serves these functions directly.

Conventions (see ``docs/kernels.md``):

* Arrays are C-contiguous ``float32`` or ``float64``; all floating arrays of one call
  share one dtype, and every output has that dtype.  Index arrays are ``int64``.
* Layouts: dense ``(N, D)``; images ``(N, C, H, W)``; sequences ``(L)`` for conv1d
  ``(N, C, L)``; recurrent kernels are time-major ``(T, N, D)``.
* Dense weights map rows to rows: ``y = x @ W + b`` with ``W`` of shape ``(D_in, D_out)``.
* Kernels are pure: they never modify their inputs, and every output is a new array.
  Parameter gradients are returned, never accumulated into caller's arrays.
* Randomness enters as arrays of uniforms on ``[0, 1)`` drawn by the caller, so
  every backend given the same uniforms produces the same samples.  The uniforms
  themselves come from one counter-based generator, Philox4x32-10
  (:func:`philox_uniform`), which every backend computes bit for bit alike.

Callers go through :mod:`deepbio._kernels`, which validates shapes and dtypes before
any function here runs.
"""
import math

import numpy as np

# --------------------------------------------------------------------------- helpers


def _sigmoid(x):
    """Logistic function 1 / (1 + exp(-x)), without overflow for large |x|."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)


def _softplus(x):
    """log(1 + exp(x)), without overflow for large |x|."""
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def _standard_normal(u1, u2):
    """Box-Muller: z = sqrt(-2 log(1 - u1)) * cos(2 pi u2) is N(0, 1) for uniform u1, u2.

    ``1 - u1`` lies in (0, 1], so the logarithm is finite for u1 in [0, 1).
    """
    return np.sqrt(-2.0 * np.log1p(-u1)) * np.cos((2.0 * np.pi) * u2)


def _pair(v):
    return (v, v) if np.isscalar(v) else tuple(v)


# ------------------------------------------------- random numbers: Philox4x32-10
#
# Salmon, Moraes, Dror & Shaw (2011), "Parallel random numbers: as easy as 1, 2, 3"
# (SC11); the Random123 library.  A counter-based generator is a keyed bijection of a
# 128-bit counter: the j-th block of random bits is a pure function of (key, j), so any
# thread of any backend can compute any block directly, with no state to carry.

PHILOX_M = (0xD2511F53, 0xCD9E8D57)     # round multipliers M0, M1
PHILOX_W = (0x9E3779B9, 0xBB67AE85)     # Weyl key increments W0, W1 (golden ratio, sqrt 3)
_MASK32 = np.uint64(0xFFFFFFFF)


# --8<-- [start:philox_block]
def _philox_rounds(c0, c1, c2, c3, k0, k1, rounds=10):
    """Philox rounds on four words held in uint64 arrays (each word < 2^32).

    mulhilo32(M, c) is the 64-bit product M c split into its high and low 32-bit halves;
    M c < 2^64, so it is exact in uint64 arithmetic.
    """
    m0, m1 = np.uint64(PHILOX_M[0]), np.uint64(PHILOX_M[1])
    k0, k1 = int(k0), int(k1)
    for r in range(rounds):
        if r:                                            # bump the key between rounds
            k0, k1 = (k0 + PHILOX_W[0]) & 0xFFFFFFFF, (k1 + PHILOX_W[1]) & 0xFFFFFFFF
        p0, p1 = m0 * c0, m1 * c2                        # (hi0, lo0), (hi1, lo1)
        c0, c1, c2, c3 = ((p1 >> 32) ^ c1 ^ np.uint64(k0), p1 & _MASK32,
                          (p0 >> 32) ^ c3 ^ np.uint64(k1), p0 & _MASK32)
    return c0, c1, c2, c3


def philox4x32_10(counter, key, rounds=10):
    """The Philox4x32-10 block function: 128-bit counter and 64-bit key to 128 random bits.

    With ``mulhilo32(a, b) = (floor(a b / 2^32), a b mod 2^32)``, one round maps the
    counter ``c = (c0, c1, c2, c3)`` under the key ``k = (k0, k1)`` to::

        (hi0, lo0) = mulhilo32(M0, c0),  (hi1, lo1) = mulhilo32(M1, c2)
        c = (hi1 ^ c1 ^ k0,  lo1,  hi0 ^ c3 ^ k1,  lo0)

    and between rounds the key is bumped, ``k0 += W0, k1 += W1`` (mod 2^32), with
    ``M0 = 0xD2511F53, M1 = 0xCD9E8D57, W0 = 0x9E3779B9, W1 = 0xBB67AE85``; ten rounds.
    Agrees with the Random123 known-answer vectors (``tests/kernels/test_philox.py``).

    counter : uint32 (N, 4).  key : uint32 (2,).  ``rounds``: 10 (other values only for
    the published 7-round test vectors).  Returns uint32 (N, 4).

    Not a contract kernel (its arrays are not floating): it is the definition that
    :func:`philox_uniform` and every backend's generator build on.
    """
    ctr = np.asarray(counter)
    k = np.asarray(key)
    if ctr.ndim != 2 or ctr.shape[1] != 4 or k.shape != (2,):
        raise ValueError(f"philox4x32_10: counter must be (N, 4) and key (2,), got "
                         f"{ctr.shape} and {k.shape}")
    if ctr.dtype != np.uint32 or k.dtype != np.uint32:
        raise TypeError(f"philox4x32_10: counter and key must be uint32, got {ctr.dtype} "
                        f"and {k.dtype}")
    words = _philox_rounds(*(ctr[:, i].astype(np.uint64) for i in range(4)),
                           int(k[0]), int(k[1]), rounds)
    return np.stack(words, axis=1).astype(np.uint32)
# --8<-- [end:philox_block]


# --8<-- [start:philox_uniform]
def philox_uniform(n, seed, stream, offset, dtype):
    """``n`` uniforms on [0, 1) from Philox4x32-10, keyed by (seed, stream, offset).

    deepbio's keying rule (every backend follows it, bit for bit):

    * key ``= (seed mod 2^32, seed >> 32)`` for a 64-bit ``seed``;
    * block ``j = 0, 1, ...`` of the call has the counter
      ``(lo32(offset + j), hi32(offset + j), lo32(stream), hi32(stream))``, ``offset + j``
      taken mod 2^64: ``offset`` counts 128-bit blocks, ``stream`` (64-bit) names an
      independent sequence (one per layer, say);
    * float32: element ``i`` takes word ``x = X[i % 4]`` of block ``i // 4`` and is
      ``u = (x >> 8) 2^-24`` (24 random bits);
    * float64: element ``i`` takes words ``a = X[2 (i % 2)]``, ``b = X[2 (i % 2) + 1]`` of
      block ``i // 2`` and is ``u = ((a >> 5) 2^26 + (b >> 6)) 2^-53`` (53 random bits).

    Both formulas are exact in their dtype, so every ``u`` is a multiple of 2^-24 (2^-53)
    in ``[0, 1 - 2^-24]`` (``[0, 1 - 2^-53]``).  A caller drawing ``n`` uniforms advances
    its offset by ``ceil(n / 4)`` (float32) or ``ceil(n / 2)`` (float64) blocks to draw
    fresh ones next.

    n : int >= 1.  seed, stream, offset : ints in [0, 2^64).  dtype : float32 / float64.
    Returns u : (n,) of ``dtype``.
    """
    dtype = np.dtype(dtype)
    per_block = 4 if dtype == np.float32 else 2
    blocks = -(-n // per_block)
    j = np.arange(blocks, dtype=np.uint64) + np.uint64(offset)       # wraps mod 2^64
    lo_s, hi_s = np.uint64(stream & 0xFFFFFFFF), np.uint64(stream >> 32)
    x = _philox_rounds(j & _MASK32, j >> np.uint64(32), np.full_like(j, lo_s),
                       np.full_like(j, hi_s), seed & 0xFFFFFFFF, seed >> 32)
    x = np.stack(x, axis=1).reshape(-1)                              # X[0..3] of block 0, ...
    if per_block == 4:
        return (x[:n] >> np.uint64(8)).astype(np.float32) * np.float32(2.0 ** -24)
    a, b = x[0::2][:n], x[1::2][:n]                  # words (0, 1) then (2, 3) of a block
    return ((a >> np.uint64(5)).astype(np.float64) * 2.0 ** 26
            + (b >> np.uint64(6)).astype(np.float64)) * 2.0 ** -53
# --8<-- [end:philox_uniform]


# ------------------------------------------------------------------------------- RBM


# --8<-- [start:sigmoid_bernoulli]
def sigmoid_bernoulli(x, u):
    """Fused logistic + Bernoulli sample.

    ``p = 1 / (1 + exp(-x))``,  ``s = 1[u < p]``  (elementwise), so ``P(s = 1) = p``.

    x : (N, D) pre-activations.  u : (N, D) uniforms.  Returns ``(p, s)``, each (N, D).
    """
    p = _sigmoid(x)
    s = (u < p).astype(x.dtype)
    return p, s
# --8<-- [end:sigmoid_bernoulli]


# --8<-- [start:gaussian_sample]
def gaussian_sample(mean, sigma, u1, u2):
    """Gaussian visible sample: ``v = mean + sigma * z``, ``z ~ N(0, 1)`` by Box-Muller.

    ``z = sqrt(-2 log(1 - u1)) cos(2 pi u2)``.
    mean : (N, D).  sigma : (D,) standard deviations.  u1, u2 : (N, D) uniforms.
    Returns v : (N, D).
    """
    return (mean + sigma * _standard_normal(u1, u2)).astype(mean.dtype, copy=False)
# --8<-- [end:gaussian_sample]


# --8<-- [start:cd_statistics]
def cd_statistics(v0, h0, vk, hk):
    """Contrastive-divergence statistics: positive minus negative phase, batch means.

    ``dW = (v0^T h0 - vk^T hk) / N``,  ``db = mean_n(v0 - vk)``,  ``dc = mean_n(h0 - hk)``.

    v0, vk : (N, D) visible data and k-step reconstruction; h0, hk : (N, H) hidden
    probabilities (or samples) given them.  Returns ``(dW (D, H), db (D,), dc (H,))``,
    the ascent direction of the log-likelihood estimate.
    """
    n = v0.shape[0]
    dW = (v0.T @ h0 - vk.T @ hk) / n
    db = (v0 - vk).mean(axis=0)
    dc = (h0 - hk).mean(axis=0)
    return dW.astype(v0.dtype, copy=False), db, dc
# --8<-- [end:cd_statistics]


# --8<-- [start:free_energy]
def free_energy(v, W, b, c, sigma=None):
    """Free energy of an RBM, ``F(v) = -log sum_h exp(-E(v, h))``.

    Bernoulli visible units (``sigma is None``):
        ``F(v) = -v . b - sum_j softplus(c_j + (v W)_j)``.
    Gaussian visible units with standard deviations ``sigma`` (D,):
        ``F(v) = sum_i (v_i - b_i)^2 / (2 sigma_i^2) - sum_j softplus(c_j + ((v / sigma) W)_j)``.

    v : (N, D), W : (D, H), b : (D,), c : (H,).  Returns F : (N,).
    """
    if sigma is None:
        return (-(v @ b) - _softplus(v @ W + c).sum(axis=1)).astype(v.dtype, copy=False)
    quad = (((v - b) / sigma) ** 2).sum(axis=1) / 2
    return (quad - _softplus((v / sigma) @ W + c).sum(axis=1)).astype(v.dtype, copy=False)
# --8<-- [end:free_energy]


# ------------------------------------------------------------------ dense / autoencoder

ACTIVATIONS = ("linear", "sigmoid", "tanh", "relu", "softmax")


# --8<-- [start:activation]
def activation_forward(z, activation):
    """Apply ``f`` elementwise (row-wise for softmax).

    linear: ``z``;  sigmoid: ``1 / (1 + e^-z)``;  tanh: ``tanh z``;  relu: ``max(z, 0)``;
    softmax: ``e^(z_i - max z) / sum_j e^(z_j - max z)`` over the last axis.
    z : (N, D).  Returns a : (N, D).
    """
    if activation == "linear":
        return z.copy()
    if activation == "sigmoid":
        return _sigmoid(z)
    if activation == "tanh":
        return np.tanh(z)
    if activation == "relu":
        return np.maximum(z, 0)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def activation_backward(a, da, activation):
    """Multiply ``da`` by the Jacobian of ``f``, written in terms of the output ``a = f(z)``.

    linear: ``da``;  sigmoid: ``da a (1 - a)``;  tanh: ``da (1 - a^2)``;
    relu: ``da 1[a > 0]``;  softmax: ``a (da - sum_j da_j a_j)``.
    Every Jacobian here is symmetric, so the same product serves backward (``J^T da``)
    and forward-mode (``J v``) differentiation.
    a, da : (N, D).  Returns dz : (N, D).
    """
    if activation == "linear":
        return da.copy()
    if activation == "sigmoid":
        return da * a * (1 - a)
    if activation == "tanh":
        return da * (1 - a * a)
    if activation == "relu":
        return da * (a > 0)
    return a * (da - (da * a).sum(axis=-1, keepdims=True))
# --8<-- [end:activation]


# --8<-- [start:dense]
def dense_forward(x, W, b, activation):
    """Affine map and activation: ``a = f(x W + b)``.

    x : (N, D), W : (D, H), b : (H,).  Returns a : (N, H).
    """
    return activation_forward(x @ W + b, activation)


def dense_backward(x, W, a, da, activation):
    """Backward through ``a = f(x W + b)``.

    ``dz = da * f'(z)`` (from ``a``, see :func:`activation_backward`),
    ``dx = dz W^T``,  ``dW = x^T dz``,  ``db = sum_n dz``.

    x : (N, D), W : (D, H), a, da : (N, H).  Returns ``(dx (N, D), dW (D, H), db (H,))``.
    """
    dz = activation_backward(a, da, activation)
    return dz @ W.T, x.T @ dz, dz.sum(axis=0)
# --8<-- [end:dense]


# --8<-- [start:sparsity_grad]
def sparsity_grad(a, rho, beta):
    """KL sparsity penalty on mean hidden activations and its gradient.

    ``rho_hat_j = mean_n a_nj``,
    ``penalty = beta sum_j [rho log(rho / rho_hat_j) + (1 - rho) log((1 - rho) / (1 - rho_hat_j))]``,
    ``d penalty / d a_nj = (beta / N) (-rho / rho_hat_j + (1 - rho) / (1 - rho_hat_j))``.

    a : (N, H) activations in (0, 1).  rho in (0, 1), beta >= 0.
    Returns ``(penalty, da)``: a 0-d array and (N, H).  ``rho_hat`` is clipped to
    ``[eps, 1 - eps]`` (eps = 1e-7 for float32, 1e-12 for float64) to keep both finite.
    """
    eps = 1e-7 if a.dtype == np.float32 else 1e-12
    n = a.shape[0]
    rho_hat = np.clip(a.mean(axis=0), eps, 1 - eps)
    penalty = beta * np.sum(rho * np.log(rho / rho_hat)
                            + (1 - rho) * np.log((1 - rho) / (1 - rho_hat)))
    g = (beta / n) * (-rho / rho_hat + (1 - rho) / (1 - rho_hat))
    da = np.broadcast_to(g, a.shape).astype(a.dtype, order="C")
    return np.asarray(penalty, dtype=a.dtype), da
# --8<-- [end:sparsity_grad]


# --8<-- [start:corrupt]
def mask_corrupt(x, u, p):
    """Masking noise: ``x_tilde = x * 1[u >= p]``, each entry zeroed with probability p.

    x, u : (N, D).  p in [0, 1].  Returns (N, D).
    """
    return x * (u >= p)


def gaussian_corrupt(x, u1, u2, std):
    """Additive Gaussian noise: ``x_tilde = x + std * z``, z ~ N(0, 1) by Box-Muller.

    x, u1, u2 : (N, D).  std >= 0.  Returns (N, D).
    """
    return (x + std * _standard_normal(u1, u2)).astype(x.dtype, copy=False)
# --8<-- [end:corrupt]


# ------------------------------------------------------------------------ convolution


def out_size(n, k, s=1, p=0):
    """Output length of a convolution or pooling window sliding over ``n`` positions:
    ``(n + 2 p - k) // s + 1`` for kernel ``k``, stride ``s`` and zero padding ``p`` on each
    side (pooling: ``p = 0``).  Works elementwise on integer arrays too.  The one copy of
    this formula: kernels, the contract's checks, layers and masks all call it."""
    return (n + 2 * p - k) // s + 1


# --8<-- [start:im2col]
def _im2col(x, kh, kw, sh, sw, ph, pw):
    """Patches of x (N, C, H, W) as cols (N, C, KH, KW, OH, OW), zero padded."""
    n, c, h, w = x.shape
    oh, ow = out_size(h, kh, sh, ph), out_size(w, kw, sw, pw)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    cols = np.empty_like(x, shape=(n, c, kh, kw, oh, ow))
    for i in range(kh):
        for j in range(kw):
            cols[:, :, i, j] = xp[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw]
    return cols


def _col2im(cols, h, w, sh, sw, ph, pw):
    """Adjoint of _im2col: sum every patch entry back to the pixel it came from."""
    n, c, kh, kw, oh, ow = cols.shape
    xp = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            xp[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw] += cols[:, :, i, j]
    return np.ascontiguousarray(xp[:, :, ph:ph + h, pw:pw + w])
# --8<-- [end:im2col]


# --8<-- [start:conv2d]
def conv2d_forward(x, w, b, stride, padding):
    """2-d cross-correlation (what deep learning calls convolution), zero padding.

    ``y[n, f, i, j] = b[f] + sum_{c, p, q} w[f, c, p, q] * x_pad[n, c, i*sh + p, j*sw + q]``
    with ``OH = (H + 2 ph - KH) // sh + 1`` (likewise OW).  Computed as im2col + GEMM.

    x : (N, C, H, W), w : (F, C, KH, KW), b : (F,), stride = (sh, sw),
    padding = (ph, pw).  Returns y : (N, F, OH, OW).
    """
    f, c, kh, kw = w.shape
    (sh, sw), (ph, pw) = _pair(stride), _pair(padding)
    cols = _im2col(x, kh, kw, sh, sw, ph, pw)            # (N, C, KH, KW, OH, OW)
    n, _, _, _, oh, ow = cols.shape
    y = w.reshape(f, -1) @ cols.reshape(n, c * kh * kw, oh * ow)   # (N, F, OH*OW)
    return (y + b[:, None]).reshape(n, f, oh, ow)


def conv2d_backward_input(dy, w, in_size, stride, padding):
    """Gradient of conv2d with respect to its input.

    ``dx[n, c, h, v] = sum_{f, i, j : h = i*sh + p - ph, v = j*sw + q - pw} w[f, c, p, q] dy[n, f, i, j]``
    (computed as ``cols = w^T dy`` followed by col2im).

    dy : (N, F, OH, OW), w : (F, C, KH, KW), in_size = (H, W).  Returns dx : (N, C, H, W).
    """
    f, c, kh, kw = w.shape
    n, _, oh, ow = dy.shape
    (sh, sw), (ph, pw) = _pair(stride), _pair(padding)
    cols = w.reshape(f, -1).T @ dy.reshape(n, f, oh * ow)    # (N, C*KH*KW, OH*OW)
    return _col2im(cols.reshape(n, c, kh, kw, oh, ow), in_size[0], in_size[1], sh, sw, ph, pw)


def conv2d_backward_weight(dy, x, kernel_size, stride, padding):
    """Gradients of conv2d with respect to its weights and bias.

    ``dw[f, c, p, q] = sum_{n, i, j} dy[n, f, i, j] x_pad[n, c, i*sh + p, j*sw + q]``,
    ``db[f] = sum_{n, i, j} dy[n, f, i, j]``.

    dy : (N, F, OH, OW), x : (N, C, H, W), kernel_size = (KH, KW).
    Returns ``(dw (F, C, KH, KW), db (F,))``.
    """
    n, c = x.shape[:2]
    f, oh, ow = dy.shape[1:]
    kh, kw = kernel_size
    (sh, sw), (ph, pw) = _pair(stride), _pair(padding)
    cols = _im2col(x, kh, kw, sh, sw, ph, pw).reshape(n, c * kh * kw, oh * ow)
    d = dy.reshape(n, f, oh * ow)
    dw = np.einsum("nfo,nko->fk", d, cols).reshape(f, c, kh, kw)
    return dw, d.sum(axis=(0, 2))
# --8<-- [end:conv2d]


# --8<-- [start:conv1d]
def conv1d_forward(x, w, b, stride, padding):
    """1-d cross-correlation, e.g. a motif scanner over one-hot DNA (N, 4, L).

    ``y[n, f, i] = b[f] + sum_{c, p} w[f, c, p] x_pad[n, c, i*s + p]``,
    ``OL = (L + 2 pad - K) // s + 1``.  Same as conv2d with a height of one.

    x : (N, C, L), w : (F, C, K), b : (F,), stride, padding : int.  Returns (N, F, OL).
    """
    y = conv2d_forward(x[:, :, None, :], w[:, :, None, :], b, (1, stride), (0, padding))
    return y[:, :, 0, :]


def conv1d_backward_input(dy, w, in_size, stride, padding):
    """Gradient of conv1d with respect to its input (conv2d's with a height of one).

    dy : (N, F, OL), w : (F, C, K), in_size : L.  Returns dx : (N, C, L).
    """
    dx = conv2d_backward_input(dy[:, :, None, :], w[:, :, None, :], (1, in_size),
                               (1, stride), (0, padding))
    return dx[:, :, 0, :]


def conv1d_backward_weight(dy, x, kernel_size, stride, padding):
    """Gradients of conv1d with respect to its weights and bias.

    ``dw[f, c, p] = sum_{n, i} dy[n, f, i] x_pad[n, c, i*s + p]``, ``db[f] = sum_{n, i} dy[n, f, i]``.
    dy : (N, F, OL), x : (N, C, L), kernel_size : K.  Returns ``(dw (F, C, K), db (F,))``.
    """
    dw, db = conv2d_backward_weight(dy[:, :, None, :], x[:, :, None, :], (1, kernel_size),
                                    (1, stride), (0, padding))
    return dw[:, :, 0, :], db
# --8<-- [end:conv1d]


# ---------------------------------------------------------------------------- pooling


# --8<-- [start:maxpool2d]
def _windows2d(x, kh, kw, sh, sw):
    """Pooling windows of x (N, C, H, W) as (N, C, OH, OW, KH*KW), no padding."""
    n, c, h, w = x.shape
    oh, ow = out_size(h, kh, sh), out_size(w, kw, sw)
    win = np.empty((n, c, oh, ow, kh * kw), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            win[..., i * kw + j] = x[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw]
    return win


def maxpool2d_forward(x, kernel, stride):
    """Max pooling with the position of each maximum.

    ``y[n, c, i, j] = max_{p < KH, q < KW} x[n, c, i*sh + p, j*sw + q]``;
    ``argmax[n, c, i, j] = h * W + v`` of that maximum in its (H, W) plane, the first one
    in row-major window order on ties.  No padding; ``OH = (H - KH) // sh + 1``.

    x : (N, C, H, W), kernel = (KH, KW), stride = (sh, sw).
    Returns ``(y (N, C, OH, OW), argmax (N, C, OH, OW) int64)``.
    """
    (kh, kw), (sh, sw) = _pair(kernel), _pair(stride)
    win = _windows2d(x, kh, kw, sh, sw)
    k = win.argmax(axis=-1)
    y = np.take_along_axis(win, k[..., None], axis=-1)[..., 0]
    oh, ow = y.shape[2:]
    rows = np.arange(oh)[:, None] * sh + k // kw
    cols = np.arange(ow)[None, :] * sw + k % kw
    return y, (rows * x.shape[3] + cols).astype(np.int64)


def maxpool2d_backward(dy, argmax, in_size):
    """Route each output gradient to the input that won its window (summing overlaps).

    ``dx[n, c, argmax[n, c, i, j]] += dy[n, c, i, j]`` over every (i, j).
    dy, argmax : (N, C, OH, OW), in_size = (H, W).  Returns dx : (N, C, H, W).
    """
    n, c = dy.shape[:2]
    h, w = in_size
    dx = np.zeros((n * c, h * w), dtype=dy.dtype)
    rows = np.repeat(np.arange(n * c), dy.shape[2] * dy.shape[3])
    np.add.at(dx, (rows, argmax.reshape(-1)), dy.reshape(-1))
    return dx.reshape(n, c, h, w)
# --8<-- [end:maxpool2d]


# --8<-- [start:avgpool2d]
def avgpool2d_forward(x, kernel, stride):
    """Average pooling: ``y[n, c, i, j] = mean_{p < KH, q < KW} x[n, c, i*sh + p, j*sw + q]``.

    x : (N, C, H, W).  Returns y : (N, C, OH, OW), ``OH = (H - KH) // sh + 1``.
    """
    (kh, kw), (sh, sw) = _pair(kernel), _pair(stride)
    return _windows2d(x, kh, kw, sh, sw).mean(axis=-1)


def avgpool2d_backward(dy, in_size, kernel, stride):
    """Spread each output gradient evenly over its window (summing overlaps).

    ``dx[n, c, i*sh + p, j*sw + q] += dy[n, c, i, j] / (KH KW)``.
    dy : (N, C, OH, OW), in_size = (H, W).  Returns dx : (N, C, H, W).
    """
    (kh, kw), (sh, sw) = _pair(kernel), _pair(stride)
    n, c, oh, ow = dy.shape
    dx = np.zeros((n, c) + tuple(in_size), dtype=dy.dtype)
    g = dy / (kh * kw)
    for i in range(kh):
        for j in range(kw):
            dx[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw] += g
    return dx
# --8<-- [end:avgpool2d]


def maxpool1d_forward(x, kernel, stride):
    """1-d max pooling: ``y[n, c, i] = max_{p < K} x[n, c, i*s + p]``, argmax the position in L.

    x : (N, C, L), kernel, stride : int.  Returns ``(y (N, C, OL), argmax (N, C, OL) int64)``;
    ``kernel = L`` gives global max pooling over the sequence.
    """
    y, k = maxpool2d_forward(x[:, :, None, :], (1, kernel), (1, stride))
    return y[:, :, 0, :], k[:, :, 0, :]


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


# -------------------------------------------------------------------------- recurrent

RNN_ACTIVATIONS = ("tanh", "relu")


# --8<-- [start:elman]
def elman_step_forward(x, h_prev, Wx, Wh, b, activation):
    """One Elman step: ``h = f(x Wx + h_prev Wh + b)``, f = tanh or relu.

    x : (N, D), h_prev : (N, H), Wx : (D, H), Wh : (H, H), b : (H,).  Returns h : (N, H).
    """
    return activation_forward(x @ Wx + h_prev @ Wh + b, activation)


def elman_step_backward(dh, x, h_prev, h, Wx, Wh, activation):
    """Backward through one Elman step, given the total gradient ``dh`` reaching ``h``.

    ``dz = dh * f'(z)``;  ``dx = dz Wx^T``;  ``dh_prev = dz Wh^T``;
    ``dWx = x^T dz``;  ``dWh = h_prev^T dz``;  ``db = sum_n dz``.

    Returns ``(dx (N, D), dh_prev (N, H), dWx (D, H), dWh (H, H), db (H,))``.
    """
    dz = activation_backward(h, dh, activation)
    return dz @ Wx.T, dz @ Wh.T, x.T @ dz, h_prev.T @ dz, dz.sum(axis=0)


def elman_forward(x, h0, Wx, Wh, b, activation):
    """Elman network over a time-major sequence: ``h_t = f(x_t Wx + h_{t-1} Wh + b)``.

    x : (T, N, D), h0 : (N, H).  Returns hs : (T, N, H), hs[t] = h_t (t = 1..T).
    """
    hs = np.empty((x.shape[0],) + h0.shape, dtype=x.dtype)
    h = h0
    for t in range(x.shape[0]):
        h = hs[t] = elman_step_forward(x[t], h, Wx, Wh, b, activation)
    return hs


def elman_backward(dhs, x, h0, hs, Wx, Wh, activation):
    """Backpropagation through time for :func:`elman_forward`.

    Walking t = T..1 with ``dh = dhs[t] + dh_next``: one :func:`elman_step_backward`,
    ``dh_next = dh_prev``; parameter gradients are summed over time.

    dhs : (T, N, H) gradient of the loss with respect to every h_t.
    Returns ``(dx (T, N, D), dh0 (N, H), dWx, dWh, db)``.
    """
    dx = np.empty_like(x)
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(Wh.shape[0], x.dtype)
    dh_next = np.zeros_like(h0)
    for t in range(x.shape[0] - 1, -1, -1):
        h_prev = hs[t - 1] if t > 0 else h0
        dx[t], dh_next, gWx, gWh, gb = elman_step_backward(
            dhs[t] + dh_next, x[t], h_prev, hs[t], Wx, Wh, activation)
        dWx += gWx
        dWh += gWh
        db += gb
    return dx, dh_next, dWx, dWh, db
# --8<-- [end:elman]


# --8<-- [start:lstm_step]
def lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b):
    """One LSTM step (gate order i, f, g, o, as in PyTorch).

    ``[zi, zf, zg, zo] = x Wx + h_prev Wh + b``;
    ``i = sigm(zi), f = sigm(zf), g = tanh(zg), o = sigm(zo)``;
    ``c = f * c_prev + i * g``;  ``h = o * tanh(c)``.

    x : (N, D), h_prev, c_prev : (N, H), Wx : (D, 4H), Wh : (H, 4H), b : (4H,).
    Returns ``(h (N, H), c (N, H), gates (N, 4H))`` with gates = [i, f, g, o] after
    their non-linearities (the backward pass reads them).
    """
    hsz = h_prev.shape[1]
    z = x @ Wx + h_prev @ Wh + b
    gates = np.empty_like(z)
    gates[:, :2 * hsz] = _sigmoid(z[:, :2 * hsz])
    gates[:, 2 * hsz:3 * hsz] = np.tanh(z[:, 2 * hsz:3 * hsz])
    gates[:, 3 * hsz:] = _sigmoid(z[:, 3 * hsz:])
    i, f, g, o = np.split(gates, 4, axis=1)
    c = f * c_prev + i * g
    return o * np.tanh(c), c, gates


def lstm_step_backward(dh, dc, x, h_prev, c_prev, c, gates, Wx, Wh):
    """Backward through one LSTM step.

    With ``tc = tanh(c)``:  ``do = dh tc``;  ``dc_tot = dc + dh o (1 - tc^2)``;
    ``di = dc_tot g``;  ``df = dc_tot c_prev``;  ``dg = dc_tot i``;  ``dc_prev = dc_tot f``;
    pre-activation gradients ``dz = [di i(1-i), df f(1-f), dg (1-g^2), do o(1-o)]``;
    ``dx = dz Wx^T``, ``dh_prev = dz Wh^T``, ``dWx = x^T dz``, ``dWh = h_prev^T dz``,
    ``db = sum_n dz``.

    dh, dc : (N, H) total gradients reaching h and c.
    Returns ``(dx, dh_prev, dc_prev, dWx, dWh, db)``.
    """
    i, f, g, o = np.split(gates, 4, axis=1)
    tc = np.tanh(c)
    dc_tot = dc + dh * o * (1 - tc * tc)
    dz = np.concatenate([dc_tot * g * i * (1 - i),
                         dc_tot * c_prev * f * (1 - f),
                         dc_tot * i * (1 - g * g),
                         dh * tc * o * (1 - o)], axis=1)
    return (dz @ Wx.T, dz @ Wh.T, dc_tot * f, x.T @ dz, h_prev.T @ dz, dz.sum(axis=0))
# --8<-- [end:lstm_step]


def lstm_forward(x, h0, c0, Wx, Wh, b):
    """LSTM over a time-major sequence by :func:`lstm_step_forward`.

    x : (T, N, D), h0, c0 : (N, H).
    Returns ``(hs (T, N, H), cs (T, N, H), gates (T, N, 4H))``.
    """
    t_len, (n, hsz) = x.shape[0], h0.shape
    hs = np.empty((t_len, n, hsz), dtype=x.dtype)
    cs = np.empty_like(hs)
    gates = np.empty((t_len, n, 4 * hsz), dtype=x.dtype)
    h, c = h0, c0
    for t in range(t_len):
        h, c, gates[t] = lstm_step_forward(x[t], h, c, Wx, Wh, b)
        hs[t], cs[t] = h, c
    return hs, cs, gates


def lstm_backward(dhs, x, h0, c0, hs, cs, gates, Wx, Wh):
    """Backpropagation through time for :func:`lstm_forward`.

    Walking t = T..1 with ``dh = dhs[t] + dh_next`` and ``dc = dc_next``: one
    :func:`lstm_step_backward`; parameter gradients are summed over time.

    dhs : (T, N, H) gradient of the loss with respect to every h_t.
    Returns ``(dx (T, N, D), dh0 (N, H), dc0 (N, H), dWx, dWh, db)``.
    """
    dx = np.empty_like(x)
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(Wh.shape[1], x.dtype)
    dh_next, dc_next = np.zeros_like(h0), np.zeros_like(c0)
    for t in range(x.shape[0] - 1, -1, -1):
        h_prev, c_prev = (hs[t - 1], cs[t - 1]) if t > 0 else (h0, c0)
        dx[t], dh_next, dc_next, gWx, gWh, gb = lstm_step_backward(
            dhs[t] + dh_next, dc_next, x[t], h_prev, c_prev, cs[t], gates[t], Wx, Wh)
        dWx += gWx
        dWh += gWh
        db += gb
    return dx, dh_next, dc_next, dWx, dWh, db


# ------------------------------------------------- recurrent: masks, truncation, R-op
#
# Variable-length sequences carry a mask m (T, N): 1 on real steps, 0 on padding (any
# 0/1 pattern, holes included).  A masked step keeps the state: the cell's update h~_t
# (and c~_t) is computed as usual, and the state is ``m_t h~_t + (1 - m_t) h_{t-1}``.
# Truncated BPTT enters as ``keep`` (T, N): the gradient carried from step t into step
# t-1 is multiplied by ``keep[t]`` (0 where step t of row n starts a truncation window);
# ``keep = None`` is full BPTT.  The R-op kernels are forward-mode (directional)
# derivatives of the forward kernels along a tangent whose input part
# ``A_t = R{x_t} Wx + x_t R{Wx} + h_{t-1} R{Wh} + R{b}`` (T, N, G H) the caller forms
# (it needs no recurrence: one product over all T N rows); ``R{h_0} = R{c_0} = 0``.


def _mix(m, new, old):
    """``m new + (1 - m) old`` with m (N,) broadcast over the feature axis."""
    m = m[:, None]
    return m * new + (1 - m) * old


def elman_forward_masked(x, h0, m, Wx, Wh, b, activation):
    """Masked Elman sequence: ``h~_t = f(x_t Wx + h_{t-1} Wh + b)``,
    ``h_t = m_t h~_t + (1 - m_t) h_{t-1}``.

    x : (T, N, D), h0 : (N, H), m : (T, N).  Returns ``(hs (T, N, H), hnew (T, N, H))``,
    ``hs[t] = h_t`` and ``hnew[t] = h~_t`` (the backward pass and the R-op read it).
    """
    hs = np.empty((x.shape[0],) + h0.shape, dtype=x.dtype)
    hnew = np.empty_like(hs)
    h = h0
    for t in range(x.shape[0]):
        hnew[t] = elman_step_forward(x[t], h, Wx, Wh, b, activation)
        h = hs[t] = _mix(m[t], hnew[t], h)
    return hs, hnew


def elman_backward_masked(dhs, x, h0, hs, hnew, m, keep, Wx, Wh, activation):
    """BPTT for :func:`elman_forward_masked`, optionally truncated.

    Walking t = T..1 with the carry ``c`` (0 at t = T): ``dh = dhs_t + c``; one
    :func:`elman_step_backward` of ``m_t dh`` at ``h~_t`` (so ``dz_t = f'(z_t) m_t dh``);
    ``c = (dz_t Wh^T + (1 - m_t) dh) keep_t`` (``keep_t = 1`` when keep is None);
    parameter gradients summed over time.  ``dh0`` is the last carry.

    dhs : (T, N, H); hs, hnew from the forward; m, keep : (T, N).
    Returns ``(dx (T, N, D), dh0 (N, H), dWx, dWh, db)``.
    """
    dx = np.empty_like(x)
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(Wh.shape[0], x.dtype)
    carry = np.zeros_like(h0)
    for t in range(x.shape[0] - 1, -1, -1):
        mt = m[t][:, None]
        dh = dhs[t] + carry
        dx[t], dprev, gWx, gWh, gb = elman_step_backward(
            mt * dh, x[t], hs[t - 1] if t > 0 else h0, hnew[t], Wx, Wh, activation)
        dWx += gWx
        dWh += gWh
        db += gb
        carry = dprev + (1 - mt) * dh
        if keep is not None:
            carry *= keep[t][:, None]
    return dx, carry, dWx, dWh, db


def lstm_forward_masked(x, h0, c0, m, Wx, Wh, b):
    """Masked LSTM sequence: one :func:`lstm_step_forward` from ``(h_{t-1}, c_{t-1})``
    gives ``(h~_t, c~_t, gates_t)``; ``h_t = m_t h~_t + (1 - m_t) h_{t-1}``,
    ``c_t = m_t c~_t + (1 - m_t) c_{t-1}``.

    x : (T, N, D), h0, c0 : (N, H), m : (T, N).
    Returns ``(hs (T, N, H), cs (T, N, H), cnew (T, N, H), gates (T, N, 4H))`` with
    ``cnew[t] = c~_t`` (the backward pass and the R-op read it).
    """
    t_len, (n, hsz) = x.shape[0], h0.shape
    hs = np.empty((t_len, n, hsz), dtype=x.dtype)
    cs, cnew = np.empty_like(hs), np.empty_like(hs)
    gates = np.empty((t_len, n, 4 * hsz), dtype=x.dtype)
    h, c = h0, c0
    for t in range(t_len):
        hn, cnew[t], gates[t] = lstm_step_forward(x[t], h, c, Wx, Wh, b)
        h = hs[t] = _mix(m[t], hn, h)
        c = cs[t] = _mix(m[t], cnew[t], c)
    return hs, cs, cnew, gates


def lstm_backward_masked(dhs, x, h0, c0, hs, cs, cnew, gates, m, keep, Wx, Wh):
    """BPTT for :func:`lstm_forward_masked`, optionally truncated.

    Walking t = T..1 with carries ``c^h``, ``c^c`` (0 at t = T): ``dh = dhs_t + c^h``,
    ``dc = c^c``; one :func:`lstm_step_backward` of ``(m_t dh, m_t dc)`` at
    ``(c_{t-1}, c~_t, gates_t)`` gives ``dz_t``, ``dh_prev``, ``dc_prev``; then
    ``c^h = (dh_prev + (1 - m_t) dh) keep_t``, ``c^c = (dc_prev + (1 - m_t) dc) keep_t``;
    parameter gradients summed over time.  ``dh0``, ``dc0`` are the last carries.

    Returns ``(dx (T, N, D), dh0 (N, H), dc0 (N, H), dWx, dWh, db)``.
    """
    dx = np.empty_like(x)
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(Wh.shape[1], x.dtype)
    dh_carry, dc_carry = np.zeros_like(h0), np.zeros_like(c0)
    for t in range(x.shape[0] - 1, -1, -1):
        mt = m[t][:, None]
        dh, dc = dhs[t] + dh_carry, dc_carry
        hp, cp = (hs[t - 1], cs[t - 1]) if t > 0 else (h0, c0)
        dx[t], dhp, dcp, gWx, gWh, gb = lstm_step_backward(
            mt * dh, mt * dc, x[t], hp, cp, cnew[t], gates[t], Wx, Wh)
        dWx += gWx
        dWh += gWh
        db += gb
        dh_carry = dhp + (1 - mt) * dh
        dc_carry = dcp + (1 - mt) * dc
        if keep is not None:
            dh_carry *= keep[t][:, None]
            dc_carry *= keep[t][:, None]
    return dx, dh_carry, dc_carry, dWx, dWh, db


# --8<-- [start:elman_rop]
def elman_rop(A, hnew, m, Wh, activation):
    """R-op (forward-mode derivative) of :func:`elman_forward_masked` (``m = None``:
    :func:`elman_forward`): with ``R{h_0} = 0``,
    ``R{h~_t} = f'(z_t) (A_t + R{h_{t-1}} Wh)``, ``R{h_t} = m_t R{h~_t} + (1 - m_t)
    R{h_{t-1}}`` (``R{h_t} = R{h~_t}`` without a mask); ``f'`` from ``h~_t``.

    A : (T, N, H) the input tangent; hnew : (T, N, H) the cell updates h~_t (the states
    themselves without a mask); m : (T, N) or None.  Returns ``rh (T, N, H)``.
    """
    rh = np.empty_like(hnew)
    r = np.zeros_like(hnew[0])
    for t in range(A.shape[0]):
        new = activation_backward(hnew[t], A[t] + r @ Wh, activation)
        r = rh[t] = new if m is None else _mix(m[t], new, r)
    return rh
# --8<-- [end:elman_rop]


def lstm_rop(A, c0, cs, cnew, gates, m, Wh):
    """R-op of :func:`lstm_forward_masked` (``m = None``: :func:`lstm_forward`) with
    ``R{h_0} = R{c_0} = 0``: ``R{z_t} = A_t + R{h_{t-1}} Wh``;
    ``R{i} = i(1-i) R{z_i}``, ``R{f} = f(1-f) R{z_f}``, ``R{g} = (1-g^2) R{z_g}``,
    ``R{o} = o(1-o) R{z_o}``; ``R{c~_t} = R{f} c_{t-1} + f R{c_{t-1}} + R{i} g + i R{g}``;
    ``R{h~_t} = R{o} tanh(c~_t) + o (1 - tanh^2 c~_t) R{c~_t}``; then
    ``R{h_t} = m_t R{h~_t} + (1 - m_t) R{h_{t-1}}`` and likewise ``R{c_t}``.

    A : (T, N, 4H); c0 : (N, H); cs, cnew : (T, N, H) states and cell updates;
    gates : (T, N, 4H); m : (T, N) or None.  Returns ``rh (T, N, H)``.
    """
    hsz = c0.shape[1]
    rh_all = np.empty_like(cs)
    rh, rc = np.zeros_like(c0), np.zeros_like(c0)
    for t in range(A.shape[0]):
        rz = A[t] + rh @ Wh
        i, f, g, o = np.split(gates[t], 4, axis=1)
        ri = i * (1 - i) * rz[:, :hsz]
        rf = f * (1 - f) * rz[:, hsz:2 * hsz]
        rg = (1 - g * g) * rz[:, 2 * hsz:3 * hsz]
        ro = o * (1 - o) * rz[:, 3 * hsz:]
        rc_new = rf * (cs[t - 1] if t > 0 else c0) + f * rc + ri * g + i * rg
        tc = np.tanh(cnew[t])
        rh_new = ro * tc + o * (1 - tc * tc) * rc_new
        if m is None:
            rh, rc = rh_new, rc_new
        else:
            rh, rc = _mix(m[t], rh_new, rh), _mix(m[t], rc_new, rc)
        rh_all[t] = rh
    return rh_all


# ------------------------------------------------------------------------------- GRU
#
# Gated recurrent unit (Cho et al. 2014) in PyTorch's formulation (gate order r, z, n,
# separate input and hidden biases, the reset gate applied to the hidden candidate term
# *after* its matrix product):
#   r = sigm(x Wx_r + b_r + h Wh_r + bh_r),  z = sigm(x Wx_z + b_z + h Wh_z + bh_z),
#   n = tanh(x Wx_n + b_n + r * (h Wh_n + bh_n)),  h' = (1 - z) n + z h.
# Cho et al.'s original places r before the product, tanh(x Wx_n + (r * h) Wh_n); the
# placement here lets ``h Wh`` for all three gates be one product per step.  ``gates``
# holds [r, z, n] (T, N, 3H) after their non-linearities and ``hn`` (T, N, H) the hidden
# candidate term ``h_{t-1} Wh_n + bh_n`` (the backward pass and the R-op read both).


# --8<-- [start:gru]
def _gru_step(gx, h_prev, Wh, bh):
    """One GRU step from ``gx = x Wx + b`` (N, 3H): ``(h~, gates, hn)``."""
    hsz = h_prev.shape[1]
    gh = h_prev @ Wh + bh
    gates = np.empty_like(gx)
    gates[:, :2 * hsz] = _sigmoid(gx[:, :2 * hsz] + gh[:, :2 * hsz])
    r, z = gates[:, :hsz], gates[:, hsz:2 * hsz]
    hn = gh[:, 2 * hsz:]
    n = gates[:, 2 * hsz:] = np.tanh(gx[:, 2 * hsz:] + r * hn)
    return (1 - z) * n + z * h_prev, gates, hn


def _gru_step_backward(dh, h_prev, gates, hn):
    """Backward through one GRU step given the gradient ``dh`` reaching ``h~``:

    ``dn = dh (1-z)``, ``da_n = dn (1-n^2)``, ``da_z = dh (h_prev - n) z(1-z)``,
    ``da_r = da_n hn r(1-r)``; ``dzx = [da_r, da_z, da_n]`` (the gradient of
    ``x Wx + b``), ``dzh = [da_r, da_z, da_n r]`` (of ``h_prev Wh + bh``); the direct
    part of ``dh_prev`` is ``dh z``.  Returns ``(dzx, dzh, dh z)``."""
    hsz = h_prev.shape[1]
    r, z, n = gates[:, :hsz], gates[:, hsz:2 * hsz], gates[:, 2 * hsz:]
    dan = dh * (1 - z) * (1 - n * n)
    daz = dh * (h_prev - n) * z * (1 - z)
    dar = dan * hn * r * (1 - r)
    return (np.concatenate([dar, daz, dan], axis=1),
            np.concatenate([dar, daz, dan * r], axis=1), dh * z)


def gru_forward_masked(x, h0, m, Wx, Wh, b, bh):
    """Masked GRU sequence (gate order r, z, n, as in PyTorch):
    ``r = sigm(x_t Wx_r + b_r + h_{t-1} Wh_r + bh_r)``, ``z`` likewise,
    ``n = tanh(x_t Wx_n + b_n + r (h_{t-1} Wh_n + bh_n))``, ``h~_t = (1 - z) n + z h_{t-1}``;
    ``h_t = m_t h~_t + (1 - m_t) h_{t-1}``.

    x : (T, N, D), h0 : (N, H), m : (T, N), Wx : (D, 3H), Wh : (H, 3H), b, bh : (3H,).
    Returns ``(hs (T, N, H), hnew (T, N, H), gates (T, N, 3H), hn (T, N, H))``:
    states, cell updates h~_t, gates [r, z, n] and ``hn = h_{t-1} Wh_n + bh_n``.
    """
    t_len, (n, hsz) = x.shape[0], h0.shape
    gx = (x.reshape(t_len * n, -1) @ Wx + b).reshape(t_len, n, -1)
    hs = np.empty((t_len, n, hsz), dtype=x.dtype)
    hnew, hn = np.empty_like(hs), np.empty_like(hs)
    gates = np.empty_like(gx)
    h = h0
    for t in range(t_len):
        hnew[t], gates[t], hn[t] = _gru_step(gx[t], h, Wh, bh)
        h = hs[t] = hnew[t] if m is None else _mix(m[t], hnew[t], h)
    return hs, hnew, gates, hn


def gru_forward(x, h0, Wx, Wh, b, bh):
    """GRU over a time-major sequence (:func:`gru_forward_masked` without a mask):
    ``h_t = (1 - z) n + z h_{t-1}`` with ``n = tanh(x_t Wx_n + b_n + r (h_{t-1} Wh_n +
    bh_n))`` (r, z sigmoid gates).

    x : (T, N, D), h0 : (N, H), Wx : (D, 3H), Wh : (H, 3H), b, bh : (3H,).
    Returns ``(hs (T, N, H), gates (T, N, 3H), hn (T, N, H))``.
    """
    hs, _, gates, hn = gru_forward_masked(x, h0, None, Wx, Wh, b, bh)
    return hs, gates, hn


def gru_backward_masked(dhs, x, h0, hs, gates, hn, m, keep, Wx, Wh):
    """BPTT for :func:`gru_forward_masked`, optionally truncated.

    Walking t = T..1 with the carry ``c`` (0 at t = T): ``dh = dhs_t + c``; the step
    backward of ``m_t dh`` (``_gru_step_backward``) gives ``dzx_t``, ``dzh_t`` and the
    direct part ``m_t dh z``; ``c = (dzh_t Wh^T + m_t dh z + (1 - m_t) dh) keep_t``.
    ``dx = dZx Wx^T``, ``dWx = X^T dZx``, ``dWh = H_prev^T dZh``, ``db = sum dZx``,
    ``dbh = sum dZh``; ``dh0`` is the last carry.

    Returns ``(dx (T, N, D), dh0 (N, H), dWx (D, 3H), dWh (H, 3H), db (3H,), dbh (3H,))``.
    """
    t_len, n, d = x.shape
    dzx = np.empty_like(gates)
    dzh = np.empty_like(gates)
    carry = np.zeros_like(h0)
    for t in range(t_len - 1, -1, -1):
        dh = dhs[t] + carry
        mdh = dh if m is None else m[t][:, None] * dh
        hp = hs[t - 1] if t > 0 else h0
        dzx[t], dzh[t], direct = _gru_step_backward(mdh, hp, gates[t], hn[t])
        carry = dzh[t] @ Wh.T + direct
        if m is not None:
            carry = carry + (1 - m[t][:, None]) * dh
        if keep is not None:
            carry = carry * keep[t][:, None]
    zx, zh = dzx.reshape(t_len * n, -1), dzh.reshape(t_len * n, -1)
    hprev = np.concatenate([h0[None], hs[:-1]], axis=0).reshape(t_len * n, -1)
    return ((zx @ Wx.T).reshape(t_len, n, d), carry, x.reshape(t_len * n, d).T @ zx,
            hprev.T @ zh, zx.sum(axis=0), zh.sum(axis=0))


def gru_backward(dhs, x, h0, hs, gates, hn, Wx, Wh):
    """Backpropagation through time for :func:`gru_forward` (:func:`gru_backward_masked`
    without mask or truncation).

    dhs : (T, N, H) gradient of the loss with respect to every h_t.
    Returns ``(dx (T, N, D), dh0 (N, H), dWx (D, 3H), dWh (H, 3H), db (3H,), dbh (3H,))``.
    """
    return gru_backward_masked(dhs, x, h0, hs, gates, hn, None, None, Wx, Wh)
# --8<-- [end:gru]


def gru_rop(Ax, Ah, h0, hs, gates, hn, m, Wh):
    """R-op of :func:`gru_forward_masked` (``m = None``: :func:`gru_forward`) with
    ``R{h_0} = 0``.  The input tangent comes in two parts (the reset gate multiplies only
    the hidden one): ``Ax_t = R{x_t} Wx + x_t R{Wx} + R{b}`` and ``Ah_t = h_{t-1} R{Wh} +
    R{bh}``.  With ``Rg = Ah_t + R{h_{t-1}} Wh`` (the tangent of ``h_{t-1} Wh + bh``):
    ``R{r} = r(1-r) (Ax_r + Rg_r)``, ``R{z} = z(1-z) (Ax_z + Rg_z)``,
    ``R{n} = (1-n^2) (Ax_n + R{r} hn + r Rg_n)``,
    ``R{h~_t} = (1-z) R{n} + R{z} (h_{t-1} - n) + z R{h_{t-1}}``; then
    ``R{h_t} = m_t R{h~_t} + (1 - m_t) R{h_{t-1}}``.

    Ax, Ah : (T, N, 3H); h0 : (N, H); hs, hn : (T, N, H); gates : (T, N, 3H);
    m : (T, N) or None.  Returns ``rh (T, N, H)``.
    """
    hsz = h0.shape[1]
    rh_all = np.empty_like(hs)
    rh = np.zeros_like(h0)
    for t in range(Ax.shape[0]):
        rg = Ah[t] + rh @ Wh
        g, ax = gates[t], Ax[t]
        r, z, n = g[:, :hsz], g[:, hsz:2 * hsz], g[:, 2 * hsz:]
        rr = r * (1 - r) * (ax[:, :hsz] + rg[:, :hsz])
        rz = z * (1 - z) * (ax[:, hsz:2 * hsz] + rg[:, hsz:2 * hsz])
        rn = (1 - n * n) * (ax[:, 2 * hsz:] + rr * hn[t] + r * rg[:, 2 * hsz:])
        hp = hs[t - 1] if t > 0 else h0
        new = (1 - z) * rn + rz * (hp - n) + z * rh
        rh = rh_all[t] = new if m is None else _mix(m[t], new, rh)
    return rh_all


# ------------------------------------------------------------------------ optimiser
#
# The optimiser family is the contract's one exception to purity: like PyTorch's fused
# optimisers, these kernels update the parameter vector and the optimiser state IN
# PLACE (the contract marks those arrays with ``!``), in one pass over one flat buffer,
# and return those same arrays.  ``grad`` is never modified.  ``scale`` (1,), when given,
# multiplies the gradient (global-norm clipping: :func:`clip_scale`); L2 weight decay is
# added before the scaling, as SGD's ``g = grad + weight_decay * param``.


def _scaled_grad(param, grad, scale, weight_decay):
    g = grad + weight_decay * param if weight_decay else grad
    return g * scale[0] if scale is not None else g


def clip_scale(grad, param, weight_decay, clip_norm):
    """The global-norm clipping factor, one pass over the flat gradient::

        g     = grad + weight_decay * param
        scale = min(1, clip_norm / max(||g||_2, 1e-30))       returned as a (1,) array

    ``||g||_2`` is summed in float64 for both dtypes.  Multiplying ``g`` by ``scale``
    gives a gradient of norm at most ``clip_norm`` (the update kernels take it as
    ``scale``).
    """
    g = (grad + weight_decay * param if weight_decay else grad).astype(np.float64)
    norm = np.sqrt(np.dot(g, g))
    return np.array([min(1.0, clip_norm / max(norm, 1e-30))], dtype=grad.dtype)


def sgd_update(param, grad, velocity, scale, lr, momentum, weight_decay, nesterov):
    """SGD with momentum, in place on ``param`` and ``velocity`` (one pass)::

        g     = (grad + weight_decay * param) * scale
        v     = momentum * v - lr * g
        param = param + v                              (classical momentum)
        param = param + momentum * v - lr * g          (Nesterov, Sutskever et al. 2013)

    Returns ``(param, velocity)``, the arrays passed in.
    """
    g = _scaled_grad(param, grad, scale, weight_decay)
    velocity *= momentum
    velocity -= lr * g
    if nesterov:
        param += momentum * velocity - lr * g
    else:
        param += velocity
    return param, velocity


def adam_update(param, grad, m, v, vmax, scale, lr, beta1, beta2, eps, weight_decay,
                decoupled_decay, step):
    """Adam (Kingma & Ba 2015) / AdamW (Loshchilov & Hutter 2019), in place (one pass)::

        g     = (grad + weight_decay * param) * scale       (L2 decay: Adam's)
        param = param * (1 - lr * decoupled_decay)          (decoupled decay: AdamW's)
        m     = beta1 m + (1 - beta1) g
        v     = beta2 v + (1 - beta2) g^2
        vmax  = max(vmax, v)          (AMSGrad, when vmax is given; then v_hat is vmax)
        param = param - lr / (1 - beta1^step) * m / (sqrt(v_hat / (1 - beta2^step)) + eps)

    ``step`` counts from 1.  The bias corrections are computed in float64 (as PyTorch's
    are); everything else in the arrays' dtype.  Returns ``(param, m, v)``.
    """
    g = _scaled_grad(param, grad, scale, weight_decay)
    if decoupled_decay:
        param *= 1.0 - lr * decoupled_decay
    m += (1.0 - beta1) * (g - m)
    v *= beta2
    v += (1.0 - beta2) * g * g
    if vmax is not None:
        np.maximum(vmax, v, out=vmax)
    step_size = lr / (1.0 - beta1 ** step)
    root_bc2 = math.sqrt(1.0 - beta2 ** step)
    denom = np.sqrt(vmax if vmax is not None else v) / root_bc2 + eps
    param -= step_size * (m / denom)
    return param, m, v


def rmsprop_update(param, grad, square_avg, grad_avg, buf, scale, lr, alpha, eps, momentum,
                   weight_decay):
    """RMSprop (Tieleman & Hinton 2012), PyTorch's form, in place (one pass)::

        g     = (grad + weight_decay * param) * scale
        s     = alpha s + (1 - alpha) g^2
        a     = alpha a + (1 - alpha) g                  (centered, when grad_avg is given)
        d     = sqrt(s - a^2) + eps  (centered)   or   sqrt(s) + eps
        buf   = momentum buf + g / d ;  param = param - lr * buf     (momentum > 0: buf)
        param = param - lr * g / d                                   (momentum = 0)

    ``buf`` must be given when ``momentum > 0`` (and is ignored otherwise).  Returns
    ``(param, square_avg)``.
    """
    g = _scaled_grad(param, grad, scale, weight_decay)
    square_avg *= alpha
    square_avg += (1.0 - alpha) * g * g
    if grad_avg is not None:
        grad_avg += (1.0 - alpha) * (g - grad_avg)
        denom = np.sqrt(square_avg - grad_avg * grad_avg) + eps
    else:
        denom = np.sqrt(square_avg) + eps
    if momentum > 0:
        buf *= momentum
        buf += g / denom
        param -= lr * buf
    else:
        param -= lr * (g / denom)
    return param, square_avg


# ------------------------------------------------------- probabilistic max-pooling
# Not contract kernels (yet): the convolutional RBM's pooled multinomial.  Each has this
# NumPy reference and a Cython face (deepbio._kernels.cpu.probpool); the functions below
# are written on the array module of their input, so on a GPU backend they run as CuPy
# array code (no CUDA C / Numba face yet: see docs/models/conv_rbm.md).


def _array_module(a):
    """NumPy for a NumPy array, else the package of the array's type (CuPy)."""
    if isinstance(a, np.ndarray):
        return np
    return __import__(type(a).__module__.split(".")[0])


def prob_max_pool(x, u, block):
    """Probabilistic max-pooling (Lee, Grosse, Ranganath & Ng 2009).

    ``x`` (N, K, H, W) are the bottom-up inputs ``I_ij`` of the detection units, cut into
    non-overlapping ``block = (c0, c1)`` blocks alpha (H, W multiples of c0, c1).  A block's
    units and its "off" state form one multinomial over ``c0 * c1 + 1`` outcomes::

        P(h_ij = 1) = exp(I_ij) / (1 + sum_{(k,l) in alpha} exp(I_kl))
        P(off)      = 1 / (1 + sum_{(k,l) in alpha} exp(I_kl))
        P(p_alpha = 1) = 1 - P(off)

    computed stably with ``m = max(0, max_alpha I)`` (the off state's logit 0 included):
    ``e_ij = exp(I_ij - m)``, ``z = exp(-m) + sum e``, ``P(p_alpha = 1) = sum e / z``.
    Given one uniform ``u`` (N, K, PH, PW) per block, the sample switches on unit j of
    the block (row-major order) when
    ``cum_{j-1} <= u < cum_j`` with ``cum_j = sum_{i <= j} P(h_i = 1)``, and no unit (the
    block is off) when ``u >= cum_last = 1 - P(off)``: at most one unit per block is on.

    Returns ``(p_h (N,K,H,W), p_pool (N,K,PH,PW), h (N,K,H,W), pool (N,K,PH,PW))``:
    detection probabilities, pooling-unit probabilities, and the sampled detection and
    pooling states (0/1 in x's dtype).
    """
    xp = _array_module(x)
    c0, c1 = _pair(block)
    n, k, h, w = x.shape
    if h % c0 or w % c1:
        raise ValueError(f"prob_max_pool: map {h}x{w} is not a multiple of block {c0}x{c1}")
    ph, pw = h // c0, w // c1
    if tuple(u.shape) != (n, k, ph, pw):
        raise ValueError(f"prob_max_pool: u must have shape {(n, k, ph, pw)}, got {u.shape}")
    c = c0 * c1
    b = x.reshape(n, k, ph, c0, pw, c1).transpose(0, 1, 2, 4, 3, 5).reshape(n, k, ph, pw, c)
    m = xp.maximum(b.max(axis=-1), 0)
    e = xp.exp(b - m[..., None])
    se = e[..., 0]
    for j in range(1, c):                   # sequential sums (the Cython face's order)
        se = se + e[..., j]
    z = xp.exp(-m) + se
    p = e / z[..., None]
    cum = xp.cumsum(p, axis=-1)
    on = (u[..., None] >= cum).sum(axis=-1)                 # c means "off"
    s = (xp.arange(c) == on[..., None]).astype(x.dtype)

    def back(a):
        return xp.ascontiguousarray(
            a.reshape(n, k, ph, pw, c0, c1).transpose(0, 1, 2, 4, 3, 5).reshape(n, k, h, w))
    p_pool = se / z                         # = 1 - P(off), without cancellation
    return back(p), p_pool, back(s), (on < c).astype(x.dtype)


def prob_max_pool1d(x, u, block):
    """:func:`prob_max_pool` along sequences: ``x`` (N, K, L), blocks of ``block``
    consecutive positions, ``u`` (N, K, L // block).  Same outputs with (L,) / (PL,) maps."""
    n, k, length = x.shape
    c = int(block)
    out = prob_max_pool(x.reshape(n, k, length, 1), u.reshape(n, k, -1, 1), (c, 1))
    return tuple(a.reshape(a.shape[:3]) for a in out)
