# cython: language_level=3
"""C-level face of ``threads.pyx``, ``cimport``-ed by ``blas.pxd`` (so by every kernel module).

``grain_floor()`` is the process-wide minimum work per OpenMP thread (0: no floor), set
by :func:`deepbio._kernels.cpu.threads.set_grain_floor`.  Cython shares it between the
extension modules through the module's C-API table, so one setting reaches them all.
"""

cdef Py_ssize_t grain_floor() noexcept nogil
