"""RBM kernels: fused sigmoid + Bernoulli sample, Gaussian sample, CD statistics, free energy.

Elementwise kernels work on flat (1-d) views, one thread per element; the per-row free
energy has one thread per row; matrix products go through :func:`.gemm.matmul`.
"""
from numba import cuda

from . import launch, runtime
from ._device import sigmoid, softplus, standard_normal
from .gemm import matmul

_rt = runtime()
jit, xp = _rt.jit, _rt.xp


# --8<-- [start:sigmoid_bernoulli]
# p[i] = 1 / (1 + e^-x[i]),  s[i] = 1[u[i] < p[i]]   (s from p as stored, in its dtype)
@jit
def _sigmoid_bernoulli(x, u, p, s):
    T = x.dtype.type
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        p[i] = sigmoid(x[i])
        s[i] = T(1) if u[i] < p[i] else T(0)
# --8<-- [end:sigmoid_bernoulli]


# v[n, d] = mean[n, d] + sigma[d] z[n, d],  z = sqrt(-2 log(1 - u1)) cos(2 pi u2)
@jit
def _gaussian_sample(mean, sigma, u1, u2, v):
    dsz = mean.shape[1]
    for idx in range(cuda.grid(1), mean.shape[0] * dsz, cuda.gridsize(1)):
        n, d = idx // dsz, idx % dsz
        v[n, d] = mean[n, d] + sigma[d] * standard_normal(u1[n, d], u2[n, d])


# --8<-- [start:cd_statistics]
# out[j] = mean_n (a[n, j] - b[n, j])   (one thread per column: the bias statistics)
@jit
def _column_mean_diff(a, b, out):
    T = a.dtype.type
    for j in range(cuda.grid(1), a.shape[1], cuda.gridsize(1)):
        s = T(0)
        for n in range(a.shape[0]):
            s += a[n, j] - b[n, j]
        out[j] = s / T(a.shape[0])


# dW[d, h] = (pos[d, h] - neg[d, h]) / N
@jit
def _difference_over_n(pos, neg, n, out):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = (pos[i] - neg[i]) / n
# --8<-- [end:cd_statistics]


# --8<-- [start:free_energy]
# Bernoulli visible units, one thread per row n, with vw = v W:
#   F[n] = -sum_d v[n, d] b[d] - sum_h softplus(vw[n, h] + c[h])
@jit
def _free_energy_bernoulli(v, vw, b, c, out):
    T = v.dtype.type
    for n in range(cuda.grid(1), v.shape[0], cuda.gridsize(1)):
        vb = T(0)
        for d in range(v.shape[1]):
            vb += v[n, d] * b[d]
        sp = T(0)
        for h in range(vw.shape[1]):
            sp += softplus(vw[n, h] + c[h])
        out[n] = -vb - sp
# --8<-- [end:free_energy]


# Gaussian visible units, one thread per row n, with vw = (v / sigma) W:
#   F[n] = sum_d ((v[n, d] - b[d]) / sigma[d])^2 / 2 - sum_h softplus(vw[n, h] + c[h])
@jit
def _free_energy_gaussian(v, vw, b, c, sigma, out):
    T = v.dtype.type
    for n in range(cuda.grid(1), v.shape[0], cuda.gridsize(1)):
        quad = T(0)
        for d in range(v.shape[1]):
            r = (v[n, d] - b[d]) / sigma[d]
            quad += r * r
        sp = T(0)
        for h in range(vw.shape[1]):
            sp += softplus(vw[n, h] + c[h])
        out[n] = quad / T(2) - sp


# vs[n, d] = v[n, d] / sigma[d]
@jit
def _divide_columns(v, sigma, out):
    dsz = v.shape[1]
    for idx in range(cuda.grid(1), v.shape[0] * dsz, cuda.gridsize(1)):
        n, d = idx // dsz, idx % dsz
        out[n, d] = v[n, d] / sigma[d]


def sigmoid_bernoulli(x, u):
    p, s = xp.empty_like(x), xp.empty_like(x)
    _sigmoid_bernoulli[launch(x.size)](x.reshape(-1), u.reshape(-1), p.reshape(-1),
                                       s.reshape(-1))
    return p, s


def gaussian_sample(mean, sigma, u1, u2):
    v = xp.empty_like(mean)
    _gaussian_sample[launch(mean.size)](mean, sigma, u1, u2, v)
    return v


# --8<-- [start:cd_statistics_face]
def cd_statistics(v0, h0, vk, hk):
    n = v0.shape[0]
    pos = matmul(v0, h0, trans_a=True)          # v0^T h0  (D, H)
    neg = matmul(vk, hk, trans_a=True)          # vk^T hk
    dW = xp.empty_like(pos)
    _difference_over_n[launch(dW.size)](pos.reshape(-1), neg.reshape(-1), v0.dtype.type(n),
                                        dW.reshape(-1))
    db = xp.empty(v0.shape[1], dtype=v0.dtype)
    dc = xp.empty(h0.shape[1], dtype=v0.dtype)
    _column_mean_diff[launch(db.size)](v0, vk, db)
    _column_mean_diff[launch(dc.size)](h0, hk, dc)
    return dW, db, dc
# --8<-- [end:cd_statistics_face]


def free_energy(v, W, b, c, sigma=None):
    out = xp.empty(v.shape[0], dtype=v.dtype)
    if sigma is None:
        vw = matmul(v, W)
        _free_energy_bernoulli[launch(v.shape[0])](v, vw, b, c, out)
        return out
    vs = xp.empty_like(v)
    _divide_columns[launch(v.size)](v, sigma, vs)
    vw = matmul(vs, W)
    _free_energy_gaussian[launch(v.shape[0])](v, vw, b, c, sigma, out)
    return out


__all__ = ["sigmoid_bernoulli", "gaussian_sample", "cd_statistics", "free_energy"]
