"""Dense / autoencoder kernels: activations, affine layers, sparsity, corruption.

Matrix products go through :func:`.gemm.matmul`; everything elementwise or per row is one
kernel here.  Elementwise kernels work on flat (1-d) views: one thread per element.
"""
import math

from numba import cuda

from . import launch, runtime
from ._device import CODES, LINEAR, SOFTMAX, activate, activate_grad, standard_normal
from .gemm import matmul

_rt = runtime()
jit, xp = _rt.jit, _rt.xp


# ------------------------------------------------------------------------ activations


# a[i] = f(z[i])   (elementwise activations)
@jit
def _activation_forward(z, code, a):
    for i in range(cuda.grid(1), z.size, cuda.gridsize(1)):
        a[i] = activate(z[i], code)


# --8<-- [start:activation]
# a[n, h] = f(z[n, h] + b[h])   (bias fused into the activation)
@jit
def _bias_activation(z, b, code, a):
    hsz = z.shape[1]
    for idx in range(cuda.grid(1), z.shape[0] * hsz, cuda.gridsize(1)):
        n, h = idx // hsz, idx % hsz
        a[n, h] = activate(z[n, h] + b[h], code)


# a[n, d] = e^(z[n, d] - m_n) / sum_d' e^(z[n, d'] - m_n),  m_n = max_d z[n, d]
# One thread per row (a tuned kernel gives a row to a block and reduces in shared memory).
@jit
def _softmax_rows(z, a):
    T = z.dtype.type
    for n in range(cuda.grid(1), z.shape[0], cuda.gridsize(1)):
        zmax = z[n, 0]
        for d in range(1, z.shape[1]):
            zmax = max(zmax, z[n, d])
        s = T(0)
        for d in range(z.shape[1]):
            e = math.exp(z[n, d] - zmax)
            a[n, d] = e
            s += e
        for d in range(z.shape[1]):
            a[n, d] = a[n, d] / s


# dz[i] = da[i] f'(z[i]), from the output a = f(z)   (elementwise activations)
@jit
def _activation_backward(a, da, code, dz):
    for i in range(cuda.grid(1), a.size, cuda.gridsize(1)):
        dz[i] = activate_grad(a[i], da[i], code)


# dz[n, d] = a[n, d] (da[n, d] - sum_d' da[n, d'] a[n, d'])   (softmax; one thread per row)
@jit
def _softmax_backward_rows(a, da, dz):
    T = a.dtype.type
    for n in range(cuda.grid(1), a.shape[0], cuda.gridsize(1)):
        s = T(0)
        for d in range(a.shape[1]):
            s += da[n, d] * a[n, d]
        for d in range(a.shape[1]):
            dz[n, d] = a[n, d] * (da[n, d] - s)
# --8<-- [end:activation]


# out[h] = sum_n x[n, h]   (one thread per column: the bias gradient)
@jit
def _column_sum(x, out):
    T = x.dtype.type
    for h in range(cuda.grid(1), x.shape[1], cuda.gridsize(1)):
        s = T(0)
        for n in range(x.shape[0]):
            s += x[n, h]
        out[h] = s


def column_sum(x):
    """``x.sum(axis=0)`` of a 2-d array, by :func:`_column_sum`."""
    out = xp.empty(x.shape[1], dtype=x.dtype)
    _column_sum[launch(x.shape[1])](x, out)
    return out


def _flat(a):
    return a.reshape(-1)


def activation_forward(z, activation):
    code = CODES[activation]
    a = xp.empty_like(z)
    if code == SOFTMAX:
        _softmax_rows[launch(z.shape[0])](z, a)
    else:
        _activation_forward[launch(z.size)](_flat(z), code, _flat(a))
    return a


def activation_backward(a, da, activation):
    code = CODES[activation]
    dz = xp.empty_like(a)
    if code == SOFTMAX:
        _softmax_backward_rows[launch(a.shape[0])](a, da, dz)
    else:
        _activation_backward[launch(a.size)](_flat(a), _flat(da), code, _flat(dz))
    return dz


# ----------------------------------------------------------------------- dense layer


# --8<-- [start:dense]
def dense_forward(x, W, b, activation):
    code = CODES[activation]
    z = matmul(x, W)                                          # x W  (N, H)
    if code == SOFTMAX:
        _bias_activation[launch(z.size)](z, b, LINEAR, z)     # z += b, in place
        a = xp.empty_like(z)
        _softmax_rows[launch(z.shape[0])](z, a)
        return a
    _bias_activation[launch(z.size)](z, b, code, z)           # a = f(z + b), in place
    return z


def dense_backward(x, W, a, da, activation):
    dz = activation_backward(a, da, activation)
    return matmul(dz, W, trans_b=True), matmul(x, dz, trans_a=True), column_sum(dz)
# --8<-- [end:dense]


# -------------------------------------------------------------------------- sparsity


# Per hidden unit j, with rho_hat = clip(mean_n a[n, j], lo, hi):
#   kl[j] = rho log(rho / rho_hat) + (1 - rho) log((1 - rho) / (1 - rho_hat)),
#   g[j]  = (beta / N) (-rho / rho_hat + (1 - rho) / (1 - rho_hat)).
@jit
def _sparsity_columns(a, rho, beta_n, lo, hi, kl, g):
    T = a.dtype.type
    for j in range(cuda.grid(1), a.shape[1], cuda.gridsize(1)):
        s = T(0)
        for n in range(a.shape[0]):
            s += a[n, j]
        rho_hat = min(max(s / T(a.shape[0]), lo), hi)
        kl[j] = (rho * math.log(rho / rho_hat)
                 + (T(1) - rho) * math.log((T(1) - rho) / (T(1) - rho_hat)))
        g[j] = beta_n * (-rho / rho_hat + (T(1) - rho) / (T(1) - rho_hat))


# out[n, j] = g[j]
@jit
def _broadcast_rows(g, out):
    hsz = out.shape[1]
    for idx in range(cuda.grid(1), out.shape[0] * hsz, cuda.gridsize(1)):
        out[idx // hsz, idx % hsz] = g[idx % hsz]


def sparsity_grad(a, rho, beta):
    T = a.dtype.type
    eps = 1e-7 if a.dtype == xp.float32 else 1e-12
    n, hsz = a.shape
    kl, g = xp.empty(hsz, dtype=a.dtype), xp.empty(hsz, dtype=a.dtype)
    _sparsity_columns[launch(hsz)](a, T(rho), T(beta / n), T(eps), T(1 - eps), kl, g)
    da = xp.empty_like(a)
    _broadcast_rows[launch(a.size)](g, da)
    penalty = xp.asarray(T(beta) * kl.sum(), dtype=a.dtype)  # a sum of H numbers: xp's
    return penalty, da


# ------------------------------------------------------------------------ corruption


# x_tilde[i] = x[i] 1[u[i] >= p]
@jit
def _mask_corrupt(x, u, p, out):
    T = x.dtype.type
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        out[i] = x[i] if u[i] >= p else T(0)


# x_tilde[i] = x[i] + std z[i],  z = sqrt(-2 log(1 - u1)) cos(2 pi u2)
@jit
def _gaussian_corrupt(x, u1, u2, std, out):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        out[i] = x[i] + std * standard_normal(u1[i], u2[i])


def mask_corrupt(x, u, p):
    out = xp.empty_like(x)
    # p in x's precision, as the reference compares u >= p in that precision
    _mask_corrupt[launch(x.size)](_flat(x), _flat(u), x.dtype.type(p), _flat(out))
    return out


def gaussian_corrupt(x, u1, u2, std):
    out = xp.empty_like(x)
    _gaussian_corrupt[launch(x.size)](_flat(x), _flat(u1), _flat(u2), x.dtype.type(std),
                                      _flat(out))
    return out


__all__ = ["activation_forward", "activation_backward", "dense_forward", "dense_backward",
           "sparsity_grad", "mask_corrupt", "gaussian_corrupt"]
