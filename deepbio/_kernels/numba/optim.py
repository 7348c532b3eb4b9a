"""Optimiser kernels: the fused updates of SGD, Adam / AdamW and RMSprop, and the
global-norm clipping factor (twins of ``reference.clip_scale``, ``sgd_update``,
``adam_update``, ``rmsprop_update``).

Each update is one grid-stride pass over the flat parameter vector, in place on the
parameters and the optimiser state; scalar constants are computed here in double and
passed in the arrays' dtype (so a float32 kernel stays in float32 arithmetic).  The
norm is two launches: one thread per grid slot sums its elements in float64 into a
partial, then one block adds the partials (a shared-memory tree), so for a given launch
geometry the sum is deterministic.  (Those two are the float32 kernels that do float64
arithmetic by design: ``_ptxcheck.F64_BY_DESIGN``.)  Every kernel compiles to PTX for
sm_90 through libNVVM (``python -m deepbio._kernels.numba._ptxcheck``).
"""
import math

import numpy as np
from numba import cuda

from . import launch, runtime

_rt = runtime()
jit, xp = _rt.jit, _rt.xp

#: Most blocks of the norm's first launch (its partials are added by one block).
NORM_BLOCKS = 64


@jit
def _sq_norm_partial(grad, param, wd, partial):
    i0 = cuda.grid(1)
    acc = 0.0
    for k in range(i0, grad.size, cuda.gridsize(1)):
        g = grad[k] + wd * param[k] if wd != 0 else grad[k]
        acc += np.float64(g) * np.float64(g)
    partial[i0] = acc


@jit
def _clip_factor(partial, clip_norm, scale):
    buf = cuda.shared.array(256, dtype=np.float64)
    t = cuda.threadIdx.x
    nt = cuda.blockDim.x
    acc = 0.0
    for k in range(t, partial.size, nt):
        acc += partial[k]
    buf[t] = acc
    cuda.syncthreads()
    s = nt // 2
    while s > 0:
        if t < s:
            buf[t] += buf[t + s]
        cuda.syncthreads()
        s //= 2
    if t == 0:
        norm = math.sqrt(buf[0])
        f = clip_norm / max(norm, 1e-30)
        scale[0] = min(f, 1.0)


# v = mu v - lr g;  param += v  or  param += mu v - lr g  (Nesterov)
@jit
def _sgd(param, grad, velocity, scale, has_scale, lr, mu, wd, nesterov):
    for k in range(cuda.grid(1), param.size, cuda.gridsize(1)):
        g = grad[k] + wd * param[k] if wd != 0 else grad[k]
        if has_scale:
            g = g * scale[0]
        v = velocity[k] * mu
        v = v - lr * g
        velocity[k] = v
        if nesterov:
            param[k] = param[k] + (mu * v - lr * g)
        else:
            param[k] = param[k] + v


@jit
def _adam(param, grad, m, v, vmax, ams, scale, has_scale, step_size, root_bc2, c1, b2, c2,
          eps, wd, shrink, decoupled):
    for k in range(cuda.grid(1), param.size, cuda.gridsize(1)):
        p = param[k]
        g = grad[k] + wd * p if wd != 0 else grad[k]
        if has_scale:
            g = g * scale[0]
        if decoupled:
            p = p * shrink
        mk = m[k]
        mk = mk + c1 * (g - mk)
        vk = v[k] * b2
        vk = vk + c2 * g * g
        m[k] = mk
        v[k] = vk
        vh = vk
        if ams:
            vh = vmax[k] if vmax[k] >= vk else vk
            vmax[k] = vh
        param[k] = p - step_size * (mk / (math.sqrt(vh) / root_bc2 + eps))


@jit
def _rmsprop(param, grad, sq, ga, centered, buf, mom, scale, has_scale, lr, alpha, ca, eps,
             mu, wd):
    for k in range(cuda.grid(1), param.size, cuda.gridsize(1)):
        g = grad[k] + wd * param[k] if wd != 0 else grad[k]
        if has_scale:
            g = g * scale[0]
        s = sq[k] * alpha
        s = s + ca * g * g
        sq[k] = s
        if centered:
            a = ga[k]
            a = a + ca * (g - a)
            ga[k] = a
            d = math.sqrt(s - a * a) + eps
        else:
            d = math.sqrt(s) + eps
        if mom:
            b = buf[k] * mu
            b = b + g / d
            buf[k] = b
            param[k] = param[k] - lr * b
        else:
            param[k] = param[k] - lr * (g / d)


def _or(a, like):
    """``a``, or (when None) a one-element stand-in of ``like``'s dtype that the kernel
    never reads.  Never another argument: the simulator copies each argument to its
    device and back, so an array passed twice would be written back twice."""
    if a is not None:
        return a
    key = like.dtype.str
    if key not in _STAND_INS:
        _STAND_INS[key] = xp.zeros(1, dtype=like.dtype)
    return _STAND_INS[key]


_STAND_INS = {}


def clip_scale(grad, param, weight_decay, clip_norm):
    T = grad.dtype.type
    blocks, threads, st = launch(grad.size)
    blocks = min(blocks, NORM_BLOCKS)
    partial = xp.empty(blocks * threads, dtype=np.float64)
    scale = xp.empty(1, dtype=grad.dtype)
    _sq_norm_partial[blocks, threads, st](grad, param, T(weight_decay), partial)
    _clip_factor[1, min(threads, 256), st](partial, np.float64(clip_norm), scale)
    return scale


def sgd_update(param, grad, velocity, scale, lr, momentum, weight_decay, nesterov):
    T = param.dtype.type
    _sgd[launch(param.size)](param, grad, velocity, _or(scale, param), scale is not None,
                             T(lr), T(momentum), T(weight_decay), bool(nesterov))
    return param, velocity


def adam_update(param, grad, m, v, vmax, scale, lr, beta1, beta2, eps, weight_decay,
                decoupled_decay, step):
    T = param.dtype.type
    step_size = lr / (1.0 - beta1 ** step)
    root_bc2 = math.sqrt(1.0 - beta2 ** step)
    _adam[launch(param.size)](param, grad, m, v, _or(vmax, v), vmax is not None,
                              _or(scale, param), scale is not None, T(step_size),
                              T(root_bc2), T(1.0 - beta1), T(beta2), T(1.0 - beta2), T(eps),
                              T(weight_decay), T(1.0 - lr * decoupled_decay),
                              decoupled_decay != 0)
    return param, m, v


def rmsprop_update(param, grad, square_avg, grad_avg, buf, scale, lr, alpha, eps, momentum,
                   weight_decay):
    T = param.dtype.type
    mom = momentum > 0
    _rmsprop[launch(param.size)](param, grad, square_avg, _or(grad_avg, square_avg),
                                 grad_avg is not None, _or(buf if mom else None, square_avg),
                                 mom, _or(scale, param), scale is not None, T(lr), T(alpha),
                                 T(1.0 - alpha), T(eps), T(momentum), T(weight_decay))
    return param, square_avg


__all__ = ["clip_scale", "sgd_update", "adam_update", "rmsprop_update"]
