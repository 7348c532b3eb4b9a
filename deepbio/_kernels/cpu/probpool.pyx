"""Cython face of probabilistic max-pooling (twin of ``reference.prob_max_pool``).

Not a contract kernel: ``deepbio.models.conv_rbm`` calls it directly, after checking the
shapes (H, W multiples of the block; one uniform per block).  OpenMP shares the ``N*K``
planes among threads; each plane's blocks are independent.  Per block the operations
follow the reference's order (max with 0, exponentials, sequential sum, running
cumulative sum compared with the uniform), so given the same uniforms the samples agree
with the reference's (up to an exponential's last bit, which can move a sample only when
a uniform lies within that bit of a boundary).
"""
import numpy as np

from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport exp, expf

__all__ = ("prob_max_pool", "prob_max_pool1d")

#: Largest block (units per pooling unit) accepted.
DEF MAX_BLOCK = 4096


def _check(x, u, c0, c1):
    n, k, h, w = x.shape
    if c0 < 1 or c1 < 1 or c0 * c1 > MAX_BLOCK:
        raise ValueError(f"prob_max_pool: block must be >= 1 with at most {MAX_BLOCK} units, "
                         f"got {c0}x{c1}")
    if h % c0 or w % c1:
        raise ValueError(f"prob_max_pool: map {h}x{w} is not a multiple of block {c0}x{c1}")
    if tuple(u.shape) != (n, k, h // c0, w // c1):
        raise ValueError(f"prob_max_pool: u must have shape {(n, k, h // c0, w // c1)}, "
                         f"got {tuple(u.shape)}")


def _pool2d(const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] u, int c0, int c1):
    cdef Py_ssize_t n = x.shape[0], k = x.shape[1], h = x.shape[2], w = x.shape[3]
    cdef Py_ssize_t ph = h // c0, pw = w // c1, plane, a, b, i, j, t, at, on
    cdef int c = c0 * c1
    dtype = np.float32 if floating is float else np.float64
    p_arr = np.empty((n, k, h, w), dtype=dtype)
    s_arr = np.empty((n, k, h, w), dtype=dtype)
    pp_arr = np.empty((n, k, ph, pw), dtype=dtype)
    ps_arr = np.empty((n, k, ph, pw), dtype=dtype)
    cdef floating[:, :, :, ::1] p = p_arr, s = s_arr, pp = pp_arr, ps = ps_arr
    cdef floating m, se, z, e0, cum, uu, v, e
    for plane in prange(n * k, nogil=True, schedule="static"):
        i = plane // k
        j = plane % k
        for a in range(ph):
            for b in range(pw):
                m = 0
                for t in range(c):
                    v = x[i, j, a * c0 + t // c1, b * c1 + t % c1]
                    if v > m:
                        m = v
                se = 0
                for t in range(c):
                    if floating is float:
                        e = expf(x[i, j, a * c0 + t // c1, b * c1 + t % c1] - m)
                    else:
                        e = exp(x[i, j, a * c0 + t // c1, b * c1 + t % c1] - m)
                    if t == 0:
                        se = e
                    else:
                        se = se + e
                if floating is float:
                    e0 = expf(-m)
                else:
                    e0 = exp(-m)
                z = e0 + se
                uu = u[i, j, a, b]
                cum = 0
                on = c
                for t in range(c):
                    # the exponential again (a per-thread scratch buffer would cost more)
                    if floating is float:
                        e = expf(x[i, j, a * c0 + t // c1, b * c1 + t % c1] - m)
                    else:
                        e = exp(x[i, j, a * c0 + t // c1, b * c1 + t % c1] - m)
                    v = e / z
                    p[i, j, a * c0 + t // c1, b * c1 + t % c1] = v
                    cum = cum + v
                    if on == c and uu < cum:
                        on = t
                for t in range(c):
                    s[i, j, a * c0 + t // c1, b * c1 + t % c1] = 1 if t == on else 0
                pp[i, j, a, b] = se / z
                ps[i, j, a, b] = 1 if on < c else 0
    return p_arr, pp_arr, s_arr, ps_arr


def prob_max_pool(x, u, block):
    """Probabilistic max-pooling; see ``reference.prob_max_pool`` (same arguments and
    outputs: ``(p_h, p_pool, h, pool)``)."""
    c0, c1 = (block, block) if np.isscalar(block) else tuple(block)
    _check(x, u, int(c0), int(c1))
    return _pool2d(x, u, int(c0), int(c1))


def prob_max_pool1d(x, u, block):
    """Probabilistic max-pooling along sequences; see ``reference.prob_max_pool1d``."""
    n, k, length = x.shape
    out = prob_max_pool(x.reshape(n, k, length, 1), u.reshape(n, k, -1, 1), (int(block), 1))
    return tuple(a.reshape(a.shape[:3]) for a in out)
