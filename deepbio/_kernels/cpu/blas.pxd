# cython: language_level=3
"""Shared low-level helpers of the Cython kernels: row-major BLAS, NumPy's vector maths,
NumPy's summation order, and the OpenMP thread count.  ``cimport`` only.

Everything here is ``inline`` (compiled into each module that cimports it) and fused over
``floating`` (float32 / float64), so one source serves both dtypes.

1. Row-major BLAS over ``scipy.linalg.cython_blas``
---------------------------------------------------
SciPy's BLAS is column-major (Fortran).  A row-major matrix ``X`` (rows of stride
``ldx``) is, read column-major, its transpose ``X^T`` with the same leading dimension.
So the row-major product ``C = op(A) op(B)`` is the column-major product
``C^T = op(B)^T op(A)^T``: swap the operands and the sizes ``m`` and ``n``, keep the
transpose flags.  Example, ``C (m, n) = A (m, k) @ B (k, n)``, all C-contiguous::

    gemm(c'N', c'N', m, n, k, 1, &A[0, 0], k, &B[0, 0], n, 0, &C[0, 0], n)

calls ``sgemm('N', 'N', n, m, k, 1, B, n, A, k, 0, C, n)``.

2. Vector maths: NumPy's own loops
----------------------------------
``exp``, ``tanh``, ``log``, ``log1p`` and ``cos`` are NumPy's ufunc inner loops (SIMD,
chosen by NumPy for this CPU), called directly from ``nogil`` code through the public
head of ``PyUFuncObject``.  So a kernel computes *bit for bit* what the NumPy reference
computes (sampling kernels then draw exactly the reference's samples), and 5-40x faster
than the scalar libm functions.  :func:`load_vecmath` checks each loop against its ufunc
on a sample when a module is imported and raises ImportError on any difference.

3. NumPy's summation order
--------------------------
``pairwise_sum`` is NumPy's pairwise summation of a contiguous run (what ``a.sum(axis=-1)``
does per row); ``col_sums`` is its axis-0 reduction of a C-contiguous matrix (rows added
one after another; a single column pairwise).  With them reductions match the reference bit for bit.
"""
from cython cimport floating
from libc.math cimport fabs, fabsf, sqrt, sqrtf
from scipy.linalg.cython_blas cimport sgemm, dgemm, sgemv, dgemv

from deepbio._kernels.cpu.threads cimport grain_floor

cdef extern from *:
    """
    /* The head of NumPy's PyUFuncObject (numpy/ufuncobject.h): public, ABI-stable since
       NumPy 1.x.  Only the fields up to `types` are read. */
    typedef void (*deepbio_ufunc_loop)(char **, const Py_ssize_t *, const Py_ssize_t *, void *);
    typedef struct {
        PyObject_HEAD
        int nin, nout, nargs, identity;
        deepbio_ufunc_loop *functions;
        void *const *data;
        int ntypes, reserved1;
        const char *name;
        const char *types;
    } deepbio_ufunc_head;
    #ifdef _OPENMP
    #include <omp.h>
    #define deepbio_omp_max_threads() omp_get_max_threads()
    #else
    #define deepbio_omp_max_threads() 1
    #endif
    """
    ctypedef void (*deepbio_ufunc_loop)(char** args, const Py_ssize_t* dims,
                                        const Py_ssize_t* steps, void* data) noexcept nogil
    ctypedef struct deepbio_ufunc_head:
        int nin, nout, nargs, ntypes
        deepbio_ufunc_loop* functions
        void** data
        const char* types
    int deepbio_omp_max_threads() noexcept nogil


# ----------------------------------------------------------------- 1. row-major BLAS


cdef inline void gemm(char transa, char transb, int m, int n, int k, floating alpha,
                      const floating* A, int lda, const floating* B, int ldb,
                      floating beta, floating* C, int ldc) noexcept nogil:
    """Row-major ``C (m, n) = alpha op(A) op(B) + beta C``.

    ``op(X)`` is ``X`` for ``c'N'``, ``X^T`` for ``c'T'``; ``op(A)`` is (m, k) and
    ``op(B)`` is (k, n).  ``lda``, ``ldb``, ``ldc`` are row strides (in elements) of the
    arrays as stored: for ``A`` stored (m, k) that is k, stored (k, m) (``transa = c'T'``)
    it is m.  With ``beta = 0`` ``C`` is overwritten and never read.
    """
    if floating is float:
        sgemm(&transb, &transa, &n, &m, &k, &alpha, <float*>B, &ldb, <float*>A, &lda,
              &beta, C, &ldc)
    else:
        dgemm(&transb, &transa, &n, &m, &k, &alpha, <double*>B, &ldb, <double*>A, &lda,
              &beta, C, &ldc)


cdef inline void gemv(char trans, int m, int n, floating alpha, const floating* A, int lda,
                      const floating* x, floating beta, floating* y) noexcept nogil:
    """Row-major ``y = alpha op(A) x + beta y`` for ``A`` stored (m, n) with row stride lda.

    ``trans = c'N'``: ``x`` has n entries and ``y`` m; ``c'T'``: ``x`` has m, ``y`` n.
    Unit strides for ``x`` and ``y``.
    """
    cdef char t = c'T' if trans == c'N' else c'N'
    cdef int one = 1
    if floating is float:
        sgemv(&t, &n, &m, &alpha, <float*>A, &lda, <float*>x, &one, &beta, y, &one)
    else:
        dgemv(&t, &n, &m, &alpha, <double*>A, &lda, <double*>x, &one, &beta, y, &one)


# ------------------------------------------------------- 2. vector maths (NumPy loops)


cdef struct VecFunc:
    deepbio_ufunc_loop loop[2]      # [float32 loop, float64 loop]
    void* data[2]


cdef struct VecMath:
    VecFunc exp, tanh, log, log1p, cos


cdef inline int _load_vecfunc(VecFunc* f, object ufunc, object sample) except -1:
    """Fill ``f`` with the float32 and float64 inner loops NumPy uses for ``ufunc``."""
    import numpy as np
    if type(ufunc) is not np.ufunc or ufunc.nin != 1 or ufunc.nout != 1:
        raise ImportError(f"deepbio: {ufunc!r} is not a unary NumPy ufunc")
    cdef deepbio_ufunc_head* head = <deepbio_ufunc_head*><void*>ufunc
    if head.nin != 1 or head.nout != 1 or head.nargs != 2 or head.ntypes != ufunc.ntypes:
        raise ImportError("deepbio: unexpected PyUFuncObject layout in this NumPy "
                          f"{np.__version__}; the Cython kernels need rebuilding against it")
    cdef int which, i, k
    cdef char* args[2]
    cdef Py_ssize_t steps[2]
    cdef Py_ssize_t n
    for which, dtype in enumerate((np.float32, np.float64)):
        num = np.dtype(dtype).num
        k = -1
        for i in range(head.ntypes):     # NumPy's type resolution takes the first match
            if head.types[2 * i] == num and head.types[2 * i + 1] == num:
                k = i
                break
        if k < 0:
            raise ImportError(f"deepbio: {ufunc.__name__} has no {dtype.__name__} loop")
        f.loop[which] = head.functions[k]
        f.data[which] = head.data[k]
        # self-check: the loop must give exactly what the ufunc gives
        x = np.ascontiguousarray(sample, dtype=dtype)
        want = ufunc(x)
        got = np.empty_like(x)
        n = x.size
        args[0] = <char*><Py_ssize_t>x.ctypes.data
        args[1] = <char*><Py_ssize_t>got.ctypes.data
        steps[0] = steps[1] = x.itemsize
        with np.errstate(all="ignore"):
            f.loop[which](args, &n, steps, f.data[which])
        if not np.array_equal(got, want, equal_nan=True):
            raise ImportError(f"deepbio: NumPy's {dtype.__name__} {ufunc.__name__} loop does "
                              "not reproduce np." f"{ufunc.__name__} on this machine")
    return 0


cdef inline int load_vecmath(VecMath* m) except -1:
    """Fill ``m`` with NumPy's exp, tanh, log, log1p, cos loops (checked); call at import."""
    import numpy as np
    x = np.linspace(-30.0, 30.0, 4099)
    u = np.linspace(0.0, 1.0, 4099, endpoint=False)
    _load_vecfunc(&m.exp, np.exp, np.concatenate([x, -np.abs(x) / 10]))
    _load_vecfunc(&m.tanh, np.tanh, np.concatenate([x, x / 30]))
    _load_vecfunc(&m.log, np.log, np.concatenate([u + 1e-6, np.exp(x / 3)]))
    _load_vecfunc(&m.log1p, np.log1p, np.concatenate([-u, np.exp(-np.abs(x))]))
    _load_vecfunc(&m.cos, np.cos, 2 * np.pi * u)
    return 0


cdef inline void vmap(const VecFunc* f, const floating* x, floating* y,
                      Py_ssize_t n) noexcept nogil:
    """``y[k] = f(x[k])`` for k < n by NumPy's loop; ``x`` and ``y`` must not overlap."""
    cdef char* args[2]
    cdef Py_ssize_t steps[2]
    if n <= 0:
        return
    args[0] = <char*>x
    args[1] = <char*>y
    steps[0] = sizeof(floating)
    steps[1] = sizeof(floating)
    if floating is float:
        f.loop[0](args, &n, steps, f.data[0])
    else:
        f.loop[1](args, &n, steps, f.data[1])


cdef inline void vsigmoid(const VecMath* m, const floating* z, floating* out, floating* buf,
                          Py_ssize_t n) noexcept nogil:
    """``out = 1 / (1 + exp(-z))`` exactly as ``reference._sigmoid``; ``buf``: n scratch.

    ``e = exp(-|z|)``;  ``out = 1 / (1 + e)`` where ``z >= 0``, else ``e / (1 + e)``.
    ``z``, ``out`` and ``buf`` must be distinct.
    """
    cdef Py_ssize_t k
    cdef floating one = 1, e, num
    for k in range(n):
        if floating is float:
            buf[k] = -fabsf(z[k])
        else:
            buf[k] = -fabs(z[k])
    vmap(&m.exp, buf, out, n)
    # (a select of the numerator, then one division: no branch, so the loop vectorizes)
    for k in range(n):
        e = out[k]
        num = e
        if z[k] >= 0:
            num = one
        out[k] = num / (one + e)


cdef inline void standard_normal(const VecMath* m, const floating* u1, const floating* u2,
                                 floating* z, floating* buf, Py_ssize_t n) noexcept nogil:
    """Box-Muller exactly as ``reference._standard_normal``; ``buf``: 2 n scratch.

    ``z = sqrt(-2 log1p(-u1)) * cos((2 pi) u2)``, every operation in the input precision
    (``2 pi`` rounded to it first, as NumPy casts the Python float).
    """
    cdef Py_ssize_t k
    cdef floating* t1 = buf
    cdef floating* t2 = buf + n
    cdef floating two_pi = <floating>(2.0 * 3.141592653589793)
    cdef floating minus_two = -2
    for k in range(n):
        t1[k] = -u1[k]
    vmap(&m.log1p, t1, t2, n)                   # t2 = log1p(-u1)
    for k in range(n):
        t1[k] = two_pi * u2[k]
    vmap(&m.cos, t1, z, n)                      # z = cos(2 pi u2)
    for k in range(n):
        if floating is float:
            z[k] = sqrtf(minus_two * t2[k]) * z[k]
        else:
            z[k] = sqrt(minus_two * t2[k]) * z[k]


# ------------------------------------------------------------ 3. NumPy's summation


cdef inline floating pairwise_sum_diff(const floating* a, const floating* b, Py_ssize_t n,
                                       Py_ssize_t stride) noexcept nogil:
    """NumPy's pairwise sum of ``a[i s] - b[i s]`` for i < n (``b`` may be NULL: ``a[i s]``),
    ``s = stride``: same grouping, same roundings.

    n < 8: left to right from 0.  n <= 128: eight running sums over strided lanes,
    combined as ``((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))``, then the tail.
    Larger: halves (cut at a multiple of 8) summed recursively.
    """
    cdef floating res = 0
    cdef floating r[8]
    cdef Py_ssize_t i, j, n2
    if n < 8:
        for i in range(n):
            res = res + (a[i * stride] - (b[i * stride] if b != NULL else 0))
        return res
    if n <= 128:
        for j in range(8):
            r[j] = a[j * stride] - (b[j * stride] if b != NULL else 0)
        i = 8
        while i < n - (n % 8):
            for j in range(8):
                r[j] = r[j] + (a[(i + j) * stride] - (b[(i + j) * stride] if b != NULL else 0))
            i = i + 8
        res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
        while i < n:
            res = res + (a[i * stride] - (b[i * stride] if b != NULL else 0))
            i = i + 1
        return res
    n2 = n // 2
    n2 = n2 - n2 % 8
    return (pairwise_sum_diff(a, b, n2, stride)
            + pairwise_sum_diff(a + n2 * stride, b + n2 * stride if b != NULL else NULL,
                                n - n2, stride))


cdef inline floating pairwise_sum(const floating* a, Py_ssize_t n) noexcept nogil:
    """NumPy's pairwise sum of the contiguous ``a[0:n]`` (what ``sum(axis=-1)`` does per row)."""
    return pairwise_sum_diff(a, <const floating*>NULL, n, 1)


cdef inline void col_sums(const floating* a, const floating* b, Py_ssize_t n, Py_ssize_t d,
                          Py_ssize_t j0, Py_ssize_t j1, floating* out) noexcept nogil:
    """``out[j] = sum_i (a[i, j] - b[i, j])`` (``b`` may be NULL: ``sum_i a[i, j]``) for
    ``j0 <= j < j1``, as NumPy's ``sum(axis=0)`` does: rows added in order; but a single
    column (d = 1) is a contiguous run, which NumPy sums pairwise.  ``a`` is (n, d)."""
    cdef Py_ssize_t i, j
    cdef const floating* row
    cdef const floating* brow
    if d == 1:
        if j0 < j1:
            out[0] = pairwise_sum_diff(a, b, n, 1)
        return
    for j in range(j0, j1):
        out[j] = 0
    for i in range(n):
        row = a + i * d
        if b == NULL:
            for j in range(j0, j1):
                out[j] = out[j] + row[j]
        else:
            brow = b + i * d
            for j in range(j0, j1):
                out[j] = out[j] + (row[j] - brow[j])


# ------------------------------------------------------------------ 4. OpenMP threads


cdef inline int omp_threads(Py_ssize_t work, Py_ssize_t grain) noexcept nogil:
    """Threads for ``work`` units of element-wise work: one per ``grain`` units (or per
    ``threads.grain_floor()`` units when that is larger), at least one, at most the
    OpenMP setting (``deepbio.set_num_threads``)."""
    cdef int t = deepbio_omp_max_threads()
    cdef Py_ssize_t floor = grain_floor()
    if floor > grain:
        grain = floor
    cdef Py_ssize_t want = work // grain
    if want < 1:
        return 1
    if want < t:
        return <int>want
    return t
