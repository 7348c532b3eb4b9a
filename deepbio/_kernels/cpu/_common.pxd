# cython: language_level=3
"""Scalar helpers shared by the Cython kernels (``cimport``-ed, never imported).

Every helper is ``inline noexcept nogil`` and generic over the fused type
``floating`` (float32 / float64), so one source serves both dtypes.  Arithmetic is
done in the argument's own precision (``float`` stays ``float``: constants are cast,
and ``expf`` is called for float32), matching what NumPy computes for that dtype.
"""
from cython cimport floating
from libc.math cimport exp, expf, fabs, fabsf


cdef inline floating sigmoid(floating x) noexcept nogil:
    """Logistic ``1 / (1 + exp(-x))`` without overflow for large ``|x|``.

    With ``e = exp(-|x|)`` (always in (0, 1]):
    ``x >= 0``: ``1 / (1 + e)``;  ``x < 0``: ``e / (1 + e)`` (= ``exp(x) / (1 + exp(x))``).
    Same operations, in the same order, as ``reference._sigmoid``.
    """
    cdef floating one = 1
    cdef floating e
    if floating is float:
        e = expf(-fabsf(x))
    else:
        e = exp(-fabs(x))
    # one division, numerator picked without a branch (random signs mispredict)
    return (one if x >= 0 else e) / (one + e)
