"""Cython kernels of the optimiser family (twins of ``deepbio._kernels.reference``).

Each update is ONE pass over the flat parameter vector, under OpenMP: every element's
new parameter and state are computed together, in registers, and written once (the way
PyTorch's fused / foreach optimisers work), instead of the reference's several NumPy
passes and temporaries.  ``clip_scale`` is one norm pass: fixed blocks summed in
float64 under OpenMP, then the block sums added in order, so the result does not depend
on the thread count.

Callers go through ``deepbio._kernels``, which has checked every shape and dtype.  The
updates write into ``param`` and the state arrays (the contract's ``!`` arrays) and
return them.  Every scalar is first rounded to the arrays' dtype and every element
follows the reference's operations in its order and precision.
"""
import numpy as np

from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport sqrt, sqrtf

from deepbio._kernels.cpu.blas cimport omp_threads

__all__ = ("clip_scale", "sgd_update", "adam_update", "rmsprop_update")

# Elements per thread below which fewer threads are used (see rbm.pyx).
DEF GRAIN = 32768
# Elements per partial sum of the norm pass (fixed: the sum is thread-count independent).
DEF BLOCK = 4096


cdef inline floating _sqrt(floating x) noexcept nogil:
    if floating is float:
        return sqrtf(x)
    else:
        return sqrt(x)


cdef inline double _sq(const floating[::1] grad, const floating[::1] param, floating wd,
                       bint decay, Py_ssize_t k) noexcept nogil:
    cdef floating g = grad[k] + wd * param[k] if decay else grad[k]
    return <double>g * <double>g


def clip_scale(const floating[::1] grad, const floating[::1] param, double weight_decay,
               double clip_norm):
    """``scale = min(1, clip_norm / max(||grad + weight_decay * param||, 1e-30))``, (1,)."""
    cdef Py_ssize_t n = grad.shape[0], nb = (n + BLOCK - 1) // BLOCK, c, k, k1
    cdef int nt = omp_threads(n, GRAIN)
    cdef floating wd = <floating>weight_decay
    cdef double a0, a1, a2, a3, a4, a5, a6, a7, total = 0.0
    cdef double[::1] part = np.empty(nb, dtype=np.float64)
    cdef bint decay = weight_decay != 0
    # eight running sums per block (element k goes to lane k mod 8): independent
    # dependency chains, in a fixed order
    for c in prange(nb, nogil=True, num_threads=nt, schedule="static"):
        k1 = min(n, (c + 1) * BLOCK)
        k = c * BLOCK
        a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = 0.0
        while k + 8 <= k1:
            a0 = a0 + _sq(grad, param, wd, decay, k)
            a1 = a1 + _sq(grad, param, wd, decay, k + 1)
            a2 = a2 + _sq(grad, param, wd, decay, k + 2)
            a3 = a3 + _sq(grad, param, wd, decay, k + 3)
            a4 = a4 + _sq(grad, param, wd, decay, k + 4)
            a5 = a5 + _sq(grad, param, wd, decay, k + 5)
            a6 = a6 + _sq(grad, param, wd, decay, k + 6)
            a7 = a7 + _sq(grad, param, wd, decay, k + 7)
            k = k + 8
        while k < k1:
            a0 = a0 + _sq(grad, param, wd, decay, k)
            k = k + 1
        part[c] = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))
    for c in range(nb):
        total += part[c]
    total = sqrt(total)
    dtype = np.float32 if floating is float else np.float64
    return np.array([min(1.0, clip_norm / max(total, 1e-30))], dtype=dtype)


def sgd_update(floating[::1] param, const floating[::1] grad, floating[::1] velocity,
               scale, double lr, double momentum, double weight_decay, bint nesterov):
    """SGD with momentum / Nesterov, in place; returns ``(param, velocity)``."""
    cdef Py_ssize_t n = param.shape[0], k
    cdef int nt = omp_threads(n, GRAIN)
    cdef floating s = 1, g, v, p
    cdef bint has_scale = scale is not None, decay = weight_decay != 0
    cdef const floating[::1] sv
    if has_scale:
        sv = scale
        s = sv[0]
    cdef floating flr = <floating>lr, mu = <floating>momentum, wd = <floating>weight_decay
    # every array is read before any is written (the arrays are not known not to
    # alias, so a store would force the compiler to reload, and not vectorise)
    for k in prange(n, nogil=True, num_threads=nt, schedule="static"):
        p = param[k]
        g = grad[k] + wd * p if decay else grad[k]
        if has_scale:
            g = g * s
        v = velocity[k] * mu
        v = v - flr * g
        velocity[k] = v
        if nesterov:
            param[k] = p + (mu * v - flr * g)
        else:
            param[k] = p + v
    return param.base, velocity.base


def adam_update(floating[::1] param, const floating[::1] grad, floating[::1] m,
                floating[::1] v, vmax, scale, double lr, double beta1, double beta2,
                double eps, double weight_decay, double decoupled_decay, long step):
    """Adam / AdamW (AMSGrad when ``vmax`` is given), in place; returns ``(param, m, v)``."""
    cdef Py_ssize_t n = param.shape[0], k
    cdef int nt = omp_threads(n, GRAIN)
    cdef floating s = 1, g, mk, vk, vh, p
    cdef bint has_scale = scale is not None, decay = weight_decay != 0
    cdef bint decoupled = decoupled_decay != 0, ams = vmax is not None
    cdef floating[::1] vm
    if ams:
        vm = vmax
    else:
        vm = v                  # never read
    cdef const floating[::1] sv
    if has_scale:
        sv = scale
        s = sv[0]
    cdef floating wd = <floating>weight_decay
    cdef floating shrink = <floating>(1.0 - lr * decoupled_decay)
    cdef floating c1 = <floating>(1.0 - beta1), b2 = <floating>beta2
    cdef floating c2 = <floating>(1.0 - beta2)
    cdef floating step_size = <floating>(lr / (1.0 - beta1 ** step))
    cdef floating root_bc2 = <floating>sqrt(1.0 - beta2 ** step)
    cdef floating feps = <floating>eps
    # one loop with AMSGrad's maximum, one without: no conditional store (see
    # rmsprop_update)
    if ams:
        for k in prange(n, nogil=True, num_threads=nt, schedule="static"):
            p = param[k]
            g = grad[k] + wd * p if decay else grad[k]
            if has_scale:
                g = g * s
            if decoupled:
                p = p * shrink
            mk = m[k]
            mk = mk + c1 * (g - mk)
            vk = v[k] * b2
            vk = vk + c2 * g * g
            vh = vm[k]
            vh = vh if vh >= vk else vk
            vm[k] = vh
            m[k] = mk
            v[k] = vk
            param[k] = p - step_size * (mk / (_sqrt(vh) / root_bc2 + feps))
    else:
        for k in prange(n, nogil=True, num_threads=nt, schedule="static"):
            p = param[k]
            g = grad[k] + wd * p if decay else grad[k]
            if has_scale:
                g = g * s
            if decoupled:
                p = p * shrink
            mk = m[k]
            mk = mk + c1 * (g - mk)
            vk = v[k] * b2
            vk = vk + c2 * g * g
            vh = vk
            m[k] = mk
            v[k] = vk
            param[k] = p - step_size * (mk / (_sqrt(vh) / root_bc2 + feps))
    return param.base, m.base, v.base


def rmsprop_update(floating[::1] param, const floating[::1] grad, floating[::1] square_avg,
                   grad_avg, buf, scale, double lr, double alpha, double eps,
                   double momentum, double weight_decay):
    """RMSprop (centered when ``grad_avg`` is given, momentum when > 0), in place;
    returns ``(param, square_avg)``."""
    cdef Py_ssize_t n = param.shape[0], k
    cdef int nt = omp_threads(n, GRAIN)
    cdef floating s = 1, g, sq, a, d, b, p
    cdef bint has_scale = scale is not None, decay = weight_decay != 0
    cdef bint centered = grad_avg is not None, mom = momentum > 0
    cdef floating[::1] ga, bf
    if centered:
        ga = grad_avg
    else:
        ga = square_avg            # never read
    if mom:
        bf = buf
    else:
        bf = square_avg            # never read
    cdef const floating[::1] sv
    if has_scale:
        sv = scale
        s = sv[0]
    cdef floating flr = <floating>lr, al = <floating>alpha, ca = <floating>(1.0 - alpha)
    cdef floating feps = <floating>eps, mu = <floating>momentum, wd = <floating>weight_decay
    # one loop per form, each without branches on the state and reading every array
    # before writing any: the compiler vectorises them (a conditional store, or a reload
    # after a store to a possibly aliasing array, keeps a loop scalar, 5-10x slower)
    if centered and mom:
        for k in prange(n, nogil=True, num_threads=nt, schedule="static"):
            p = param[k]
            g = grad[k] + wd * p if decay else grad[k]
            if has_scale:
                g = g * s
            sq = square_avg[k] * al
            sq = sq + ca * g * g
            a = ga[k]
            a = a + ca * (g - a)
            d = _sqrt(sq - a * a) + feps
            b = bf[k] * mu
            b = b + g / d
            square_avg[k] = sq
            ga[k] = a
            bf[k] = b
            param[k] = p - flr * b
    elif centered:
        for k in prange(n, nogil=True, num_threads=nt, schedule="static"):
            p = param[k]
            g = grad[k] + wd * p if decay else grad[k]
            if has_scale:
                g = g * s
            sq = square_avg[k] * al
            sq = sq + ca * g * g
            a = ga[k]
            a = a + ca * (g - a)
            d = _sqrt(sq - a * a) + feps
            square_avg[k] = sq
            ga[k] = a
            param[k] = p - flr * (g / d)
    elif mom:
        for k in prange(n, nogil=True, num_threads=nt, schedule="static"):
            p = param[k]
            g = grad[k] + wd * p if decay else grad[k]
            if has_scale:
                g = g * s
            sq = square_avg[k] * al
            sq = sq + ca * g * g
            d = _sqrt(sq) + feps
            b = bf[k] * mu
            b = b + g / d
            square_avg[k] = sq
            bf[k] = b
            param[k] = p - flr * b
    else:
        for k in prange(n, nogil=True, num_threads=nt, schedule="static"):
            p = param[k]
            g = grad[k] + wd * p if decay else grad[k]
            if has_scale:
                g = g * s
            sq = square_avg[k] * al
            sq = sq + ca * g * g
            d = _sqrt(sq) + feps
            square_avg[k] = sq
            param[k] = p - flr * (g / d)
    return param.base, square_avg.base
