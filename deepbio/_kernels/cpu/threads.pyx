"""OpenMP thread control and build facts for the Cython kernels.

When the extensions were compiled without OpenMP, ``get_num_threads()`` returns 1
and ``set_num_threads`` does nothing.  Like ``omp_set_num_threads`` itself (and
threadpoolctl), the setting applies to parallel regions started from the calling
thread.

The *grain floor* is deepbio's own, process-wide knob: element-wise loops of the kernels
(``blas.omp_threads``) give each OpenMP thread at least this many elements of work, so
below it they run on fewer threads (0, the default, leaves the kernels' own grains).
``deepbio._kernels.cpu`` raises it when the OpenMP runtime busy-waits between regions
(see ``docs/performance.md``); it changes no result, only the thread count.
"""

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    #define deepbio_have_openmp 1
    #define deepbio_set_threads(n) omp_set_num_threads(n)
    #define deepbio_max_threads() omp_get_max_threads()
    #else
    #define deepbio_have_openmp 0
    #define deepbio_set_threads(n) ((void)(n))
    #define deepbio_max_threads() 1
    #endif
    #ifdef DEEPBIO_DEBUG_BUILD
    #define deepbio_debug_build 1
    #else
    #define deepbio_debug_build 0
    #endif
    #ifdef DEEPBIO_SANITIZE_BUILD
    #define deepbio_sanitize_build 1
    #else
    #define deepbio_sanitize_build 0
    #endif
    """
    const bint deepbio_have_openmp
    const bint deepbio_debug_build
    const bint deepbio_sanitize_build
    void deepbio_set_threads(int n) noexcept nogil
    int deepbio_max_threads() noexcept nogil

__all__ = ("set_num_threads", "get_num_threads", "build_info", "set_grain_floor",
           "get_grain_floor")

cdef Py_ssize_t _grain_floor = 0


cdef Py_ssize_t grain_floor() noexcept nogil:
    return _grain_floor


def set_num_threads(int n):
    """Use ``n`` OpenMP threads (``n >= 1``) in later kernel calls from this thread."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    deepbio_set_threads(n)


def get_num_threads():
    """The number of OpenMP threads a kernel called from this thread would use."""
    return deepbio_max_threads()


def build_info():
    """How the extensions were built: ``{"openmp": bool, "debug": bool, "sanitize": bool}``
    (``sanitize``: AddressSanitizer + UBSan, ``DEEPBIO_SANITIZE=1``)."""
    return {"openmp": bool(deepbio_have_openmp), "debug": bool(deepbio_debug_build),
            "sanitize": bool(deepbio_sanitize_build)}


def set_grain_floor(Py_ssize_t n):
    """Give every OpenMP thread of an element-wise kernel loop at least ``n`` elements
    (``n >= 0``; 0 removes the floor).  Returns the previous floor."""
    global _grain_floor
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    old, _grain_floor = _grain_floor, n
    return old


def get_grain_floor():
    """The floor set by :func:`set_grain_floor` (0: none)."""
    return _grain_floor
