"""The backend switch: which kernels run, and on which array module.

A backend is an object with

* ``name``: ``"numpy"``, ``"cython"``, ``"cupy"`` or ``"numba"``;
* ``xp``: the array module (``numpy`` or ``cupy``) that layers use for array maths;
* ``kernels``: a :class:`deepbio._kernels.Kernels` namespace holding every contract kernel;
* ``stream(seed, stream)``: a :class:`~deepbio._random.PhiloxStream`, and
  ``uniform(stream, shape, dtype)``: uniforms on [0, 1) drawn from it by the
  ``philox_uniform`` kernel, on this backend's device and bit for bit the same on every
  backend.  Sampling (Gibbs steps, dropout masks, corruption) draws from streams;
* ``rng(seed)``: a seeded host ``numpy.random.Generator`` (a Generator passed in is
  returned as is), for what is drawn once or on the host: initial weights, shuffles,
  the seeds of streams.  ``uniform(rng, shape, dtype)`` accepts one too (drawn on the
  host, then moved);
* ``asarray(x, dtype)`` and ``to_numpy(x)`` to move data in and out, ``scalar(x)``,
  ``truth(x)`` and ``all_finite(x)`` to read a value on the host (each a synchronisation
  on a GPU), and
  ``synchronize()`` to wait for the device;
* ``check_every``: how many iterations a loop that decides on the device (CG) runs
  between two host reads of its stopping flag (1 on the CPU, 8 on a GPU);
* ``device``, ``memory_pool``, ``memory_info()``, ``free_memory()``: the CUDA device and
  the memory pool a GPU backend allocates from (CuPy's current device and default pool,
  shared by the ``cupy`` and ``numba`` backends; kernels of both launch on CuPy's
  current stream); ``device_errors()`` turns running out of device memory into a
  :class:`DeviceMemoryError` that gives the bytes asked for and the bytes free;
* ``simulated``: True when the kernels run on an emulation of their device (the
  ``numba`` backend on Numba's CUDA simulator), which is for testing only: its timings
  mean nothing, and the benchmarks skip it.

Pick one with :func:`set_backend`, ``with use_backend(name):`` or the ``DEEPBIO_BACKEND``
environment variable.  The default is ``cython`` when the compiled kernels are
installed, else ``numpy``.  A backend that cannot run raises :class:`BackendError`
saying what is missing; there is never a silent fall back to another backend.
"""
import contextlib
import contextvars
import math
import os
import threading

import numpy as np

from . import _kernels
from ._device import to_host
from ._random import PhiloxStream, derive_seed
from ._validation import check_random_state

NAMES = ("numpy", "cython", "cupy", "numba")

#: ``Backend.check_every`` of the GPU backends: CG looks at its stopping flag once every
#: 8 iterations (at most 7 curvature products queued past a stop, against 4 host
#: synchronisations per iteration when every scalar was read).
GPU_CHECK_EVERY = 8


class BackendError(RuntimeError):
    """A backend name is unknown, or the backend cannot run on this machine."""


class DeviceMemoryError(MemoryError):
    """A GPU backend ran out of device memory.  The message gives the bytes asked for,
    the bytes free on the device and what deepbio's memory pool holds; ``requested``,
    ``free``, ``total``, ``pool_used`` and ``pool_held`` are the numbers (bytes)."""

    def __init__(self, message, requested=None, free=None, total=None, pool_used=None,
                 pool_held=None):
        super().__init__(message)
        self.requested, self.free, self.total = requested, free, total
        self.pool_used, self.pool_held = pool_used, pool_held


def _bytes(n):
    """``n`` bytes for a person: ``"1,048,576 bytes (1.0 MiB)"``."""
    if n is None:
        return "an unknown number of bytes"
    size, unit = float(n), "bytes"
    for u in ("KiB", "MiB", "GiB", "TiB"):
        if size < 1024:
            break
        size, unit = size / 1024, u
    return f"{int(n):,} bytes" + ("" if unit == "bytes" else f" ({size:.1f} {unit})")


class Backend:
    """One backend: an array module, its kernels and its random generator."""

    #: How many iterations a loop that decides on the device (CG's stopping rule) may
    #: run between two looks of the host: 1 on the CPU, where a look costs nothing and
    #: an iteration queued past a stop would be work thrown away; more on a GPU, where
    #: each look is a synchronisation.
    check_every = 1

    def __init__(self, name, xp, implementations, array_type, description, simulated=False,
                 check_every=1):
        self.name = name
        self.simulated = bool(simulated)
        self.check_every = int(check_every)
        self.xp = xp
        self.kernels = _kernels.Kernels(implementations, array_type)
        self.array_type = array_type
        self.description = description

    def rng(self, seed=None):
        """A generator for this backend (NumPy's PCG64 on the CPU).

        ``seed`` may be None, an int, or a ``numpy.random.Generator`` (returned as is).
        """
        return check_random_state(seed)

    def stream(self, seed=None, stream=0):
        """The Philox stream ``stream`` (an int in [0, 2^64)) keyed by ``seed``.

        ``seed``: an int in [0, 2^64) is the key itself, so ``random_state=s`` names the
        same uniforms on every backend; a ``numpy.random.Generator`` gives a key drawn
        from it (it advances); None a key from fresh OS entropy; a ``PhiloxStream`` is
        returned as is.
        """
        if isinstance(seed, PhiloxStream):
            return seed
        if seed is None or isinstance(seed, np.random.Generator):
            key = derive_seed(check_random_state(seed))
        else:
            check_random_state(seed)                 # the one message for a bad seed
            key = int(seed)
        return PhiloxStream(key, stream)

    def uniform(self, source, shape, dtype):
        """Uniforms on [0, 1) of ``shape`` and ``dtype``, as an array of this backend.

        ``source`` is a :class:`PhiloxStream` (the uniforms are the ``philox_uniform``
        kernel's, computed where this backend's arrays live, and the stream advances past
        them) or a host ``numpy.random.Generator`` (drawn on the host, then moved).
        """
        dtype = np.dtype(dtype)
        if not isinstance(source, PhiloxStream):
            return self.asarray(source.random(shape, dtype=dtype))
        shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
        n = math.prod(shape)
        if n == 0:
            return self.xp.empty(shape, dtype=dtype)
        offset = source.take(n, dtype)
        u = self.kernels.raw["philox_uniform"](n, source.seed, source.stream, offset, dtype)
        return u.reshape(shape)

    def asarray(self, x, dtype=None):
        """``x`` as a C-contiguous array of this backend (optionally of ``dtype``)."""
        return self.xp.ascontiguousarray(self.xp.asarray(x, dtype=dtype))

    def to_numpy(self, x):
        """``x`` as a NumPy array on the host (a device array is copied back)."""
        return to_host(x)

    def scalar(self, x):
        """``x`` (a 0-d or one-element array of this backend) as a Python float.

        The one named synchronisation point: on a GPU it waits for the work that computes
        ``x`` and copies it back, so every place the host waits for the device reads
        ``be.scalar(...)`` (or :meth:`all_finite`, :meth:`to_numpy`) and can be found by
        grep.
        """
        return float(x)

    def truth(self, x):
        """``bool(x)`` of a 0-d (boolean) array of this backend: a host read, like
        :meth:`scalar`, for the conditions that decide on the host (mask checks)."""
        return bool(x)

    def all_finite(self, x):
        """True when no entry of ``x`` is NaN or infinite: one reduction on the device and
        one synchronisation."""
        return bool(self.xp.isfinite(x).all())

    # ---------------------------------------------------------------- the device
    @property
    def device(self):
        """The CUDA device id this backend's arrays live on (None on the CPU backends)."""
        if self.xp is np:
            return None
        return int(self.xp.cuda.Device().id)

    @property
    def memory_pool(self):
        """The memory pool device arrays are allocated from (CuPy's default pool, which
        the ``cupy`` and ``numba`` backends share); None on the CPU."""
        if self.xp is np:
            return None
        return self.xp.get_default_memory_pool()

    def memory_info(self):
        """Device memory in bytes: ``{"free", "total"}`` of the device and ``{"pool_used",
        "pool_held"}`` of the memory pool (what deepbio's arrays use, and what the pool
        keeps for reuse).  Empty on the CPU backends."""
        if self.xp is np:
            return {}
        free, total = self.xp.cuda.runtime.memGetInfo()
        pool = self.memory_pool
        return {"free": int(free), "total": int(total), "pool_used": int(pool.used_bytes()),
                "pool_held": int(pool.total_bytes())}

    def free_memory(self):
        """Give the memory pool's unused blocks back to the device (a no-op on the CPU)."""
        if self.xp is not np:
            self.memory_pool.free_all_blocks()

    def out_of_memory(self, error):
        """A :class:`DeviceMemoryError` that says what ``error`` (CuPy's
        ``OutOfMemoryError``) means for a user, or None when ``error`` is something else.

        The message names the backend and device, the bytes asked for, the bytes free
        of the device's total, and what the pool holds, and says what to do.
        """
        if self.xp is np:
            return None
        oom = getattr(getattr(self.xp.cuda, "memory", None), "OutOfMemoryError", None)
        if oom is None or not isinstance(error, oom):
            return None
        requested = getattr(error, "_size", None)
        try:
            info = self.memory_info()
        except Exception:                    # a device in a bad state: say what we know
            info = {}
        free, total = info.get("free"), info.get("total")
        used, held = info.get("pool_used"), info.get("pool_held")
        where = f"device {self.device}" if info else "the device"
        pool = "" if used is None else (f"; deepbio's memory pool uses {_bytes(used)} and "
                                         f"holds {_bytes(held)}")
        return DeviceMemoryError(
            f"backend {self.name!r}: the GPU ({where}) ran out of memory allocating "
            f"{_bytes(requested)}, with {_bytes(free)} free of {_bytes(total)}{pool}. "
            f"Lower batch_size (or the model's size), free other GPU memory, or call "
            f"deepbio.backend.get({self.name!r}).free_memory() between fits",
            requested, free, total, used, held)

    @contextlib.contextmanager
    def device_errors(self):
        """Turn the device's out-of-memory errors raised inside the block into a
        :class:`DeviceMemoryError` (see :meth:`out_of_memory`); others pass unchanged."""
        try:
            yield self
        except MemoryError as e:
            err = self.out_of_memory(e)
            if err is None:
                raise
            raise err from e

    def synchronize(self):
        """Wait until every kernel queued on this backend's device has finished (a no-op on
        the CPU backends and on a simulator, whose kernels finish before they return).
        Timers call it before they read the clock."""
        if self.xp is np:
            return
        self.xp.cuda.get_current_stream().synchronize()

    def __repr__(self):
        return f"<deepbio backend {self.name!r}: {self.description}>"


# ------------------------------------------------------------------- the backends


def _make_numpy():
    return Backend("numpy", np, _kernels.reference_implementations(), np.ndarray,
                   "NumPy reference kernels")


def _make_cython():
    from ._kernels import cpu
    if not cpu.available():
        raise BackendError(
            "backend 'cython' is unavailable: deepbio's compiled kernels are not installed "
            "(deepbio._kernels.cpu failed to import). Reinstall from source with a C "
            "compiler: `pip install .` in the deepbio checkout.")
    impl = _kernels.reference_implementations()
    impl.update(cpu.load())
    return Backend("cython", np, impl, np.ndarray,
                   "Cython CPU kernels (OpenMP, BLAS through SciPy)")


def _cuda_probe(package, install):
    try:
        mod = __import__(package)
    except ImportError:
        raise BackendError(f"backend {package!r} is unavailable: the package {package!r} is not "
                           f"installed. Install it with `{install}` on a machine with an "
                           f"NVIDIA GPU and CUDA driver.") from None
    return mod


def _make_cupy():
    cupy = _cuda_probe("cupy", "pip install cupy-cuda13x")
    from ._kernels import cuda as _cuda_kernels
    try:
        implementations = _cuda_kernels.load()
    except (ImportError, RuntimeError) as e:     # no usable GPU or driver
        raise BackendError(f"backend 'cupy' is unavailable: {e}") from None
    return Backend("cupy", cupy, implementations, cupy.ndarray,
                   "CUDA C kernels through CuPy (cuBLAS for the matrix products), on the GPU",
                   check_every=GPU_CHECK_EVERY)


def _make_numba():
    _cuda_probe("numba", "pip install numba numba-cuda")
    from ._kernels import numba as _numba_kernels
    try:
        implementations = _numba_kernels.load()
    except ImportError as e:               # no GPU (and no simulator), or no CuPy on a GPU
        raise BackendError(f"backend 'numba' is unavailable: {e}") from None
    rt = _numba_kernels.runtime()
    where = ("on Numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1), NumPy arrays"
             if rt.simulator else "on the GPU, CuPy arrays")
    return Backend("numba", rt.xp, implementations, rt.xp.ndarray,
                   f"Numba CUDA kernels {where}", simulated=rt.simulator,
                   check_every=GPU_CHECK_EVERY)


_FACTORIES = {"numpy": _make_numpy, "cython": _make_cython, "cupy": _make_cupy,
              "numba": _make_numba}
_cache = {}
# made once per process even when threads ask for a backend at the same time (a GPU
# backend owns a device, a stream and a memory pool: there must be one of each)
_cache_lock = threading.Lock()


def get(name):
    """The backend called ``name``; raises :class:`BackendError` if it cannot run."""
    if name not in _FACTORIES:
        raise BackendError(f"unknown backend {name!r}; choose one of {NAMES}")
    backend = _cache.get(name)
    if backend is None:
        with _cache_lock:
            if name not in _cache:
                _cache[name] = _FACTORIES[name]()
            backend = _cache[name]
    return backend


def backends():
    """Names of the backends that are installed and usable here, in the order of
    :data:`NAMES` (the default, when ``DEEPBIO_BACKEND`` is unset, is ``cython`` if it is
    usable, else ``numpy``)."""
    usable = []
    for name in NAMES:
        try:
            get(name)
        except BackendError:
            continue
        usable.append(name)
    return usable


def _default_name():
    env = os.environ.get("DEEPBIO_BACKEND")
    if env:
        return env.strip().lower()
    from ._kernels import cpu
    return "cython" if cpu.available() else "numpy"


# The backend choice, and how it reaches threads (docs/models/defaults.md, "Threads and the
# backend"): ``use_backend`` sets a context variable, so it holds in its block, in that
# thread (and in asyncio tasks or ``contextvars.copy_context().run`` calls made inside
# it), as numpy.errstate does; ``set_backend`` sets the process-wide ``_global``, which
# every thread without a ``use_backend`` of its own sees.  A thread started inside a
# ``use_backend`` block starts from the process-wide backend, as Python threads start
# from an empty context.
_active = contextvars.ContextVar("deepbio_backend", default=None)
_global = [None]


def current():
    """The active :class:`Backend` (the innermost ``use_backend``, else the global one)."""
    b = _active.get()
    if b is not None:
        return b
    if _global[0] is None:
        name = _default_name()
        try:
            _global[0] = get(name)
        except BackendError as e:
            if os.environ.get("DEEPBIO_BACKEND"):       # say where the name came from
                raise BackendError(f"{e} (from the environment variable "
                                   f"DEEPBIO_BACKEND={os.environ['DEEPBIO_BACKEND']!r})") \
                    from None
            raise
    return _global[0]


def set_backend(name):
    """Make ``name`` the process-wide backend, seen by every thread (except inside a
    ``use_backend`` block); returns it.  Raises :class:`BackendError`."""
    _global[0] = get(name)
    return _global[0]


@contextlib.contextmanager
def use_backend(name):
    """Run a block with another backend: ``with deepbio.use_backend("numpy"): ...``.

    Context-local, as ``numpy.errstate``: it holds for the code in the block, in this
    thread, and for what runs in a copy of this context (asyncio tasks created inside it,
    ``contextvars.copy_context().run(f)`` in a thread or an executor); a thread started
    inside the block sees the process-wide backend (:func:`set_backend`) unless it
    enters ``use_backend`` itself.  Raises :class:`BackendError` at once, in the thread
    that asks, for a backend that cannot run."""
    token = _active.set(get(name))
    try:
        yield _active.get()
    finally:
        _active.reset(token)


def get_backend():
    """Name of the active backend."""
    return current().name
