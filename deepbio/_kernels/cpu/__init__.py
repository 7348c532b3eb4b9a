"""Compiled CPU kernels (Cython, OpenMP), built by ``setup.py`` from ``*.pyx`` here.

Each compiled module lists its kernels in ``__all__``; :func:`load` gathers them all
into one ``{kernel_name: function}`` dict, also reachable as ``COMPILED``.  A new
kernel file ``foo.pyx`` is built automatically; to expose it, add ``"foo"`` to
:data:`_MODULES`.

If the extensions were not compiled, :func:`load` (and ``COMPILED``,
:func:`set_num_threads`, :func:`get_num_threads`, :func:`build_info`) raise one
``ImportError`` that says how to build them; :func:`available` answers without
raising.  Nothing here falls back to the NumPy reference.
"""
import ctypes
import importlib
import os

#: Shared-library names of the OpenMP runtimes the kernels may be linked with
#: (GCC's libgomp; LLVM's libomp; Intel's libiomp5).
_OPENMP_SONAMES = ("libgomp.so.1", "libomp.so", "libomp.so.5", "libiomp5.so")

#: Environment variables that set how idle OpenMP threads wait.
WAIT_POLICY_VARS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")

#: Grain floor (elements per thread) of the kernels' element-wise loops when the OpenMP
#: runtime busy-waits after each region: about 2 ms of element-wise work per thread, so
#: only loops that outlast the spin of the idle workers still run in parallel.
SPIN_GRAIN = 1 << 21


def _loaded_openmp():
    """Names of the OpenMP runtimes already loaded in this process (POSIX: dlopen with
    RTLD_NOLOAD loads nothing; it answers whether a library of that name is mapped)."""
    mode = getattr(os, "RTLD_NOLOAD", None)
    if mode is None:
        return []
    found = []
    for name in _OPENMP_SONAMES:
        try:
            ctypes.CDLL(name, mode=mode)
        except OSError:
            continue
        found.append(name)
    return found


def _passive(env):
    """Whether the wait-policy variables in ``env`` make idle OpenMP threads sleep at once."""
    spin = (env.get("GOMP_SPINCOUNT") or "").strip()
    if spin:
        return spin == "0"
    blocktime = (env.get("KMP_BLOCKTIME") or "").strip()
    if blocktime:
        return blocktime == "0"
    return (env.get("OMP_WAIT_POLICY") or "").strip().lower() == "passive"


# Idle OpenMP threads should sleep, not spin: on a 2-core machine a spinning team
# steals the core that BLAS (or the other backend's BLAS) needs next, and every
# short parallel region then waits a scheduler slice.  The runtime reads the variable
# once, when it is loaded: that is here, at the first compiled module, unless another
# package (PyTorch, ...) loaded it first; then its idle threads spin and the kernels'
# element-wise loops stay serial below SPIN_GRAIN instead (see _apply_wait_policy).
# A user's own setting wins, and is assumed to have been read by the runtime.
_USER_WAIT_ENV = {name: os.environ[name] for name in WAIT_POLICY_VARS if name in os.environ}
_PRELOADED_OPENMP = _loaded_openmp()
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

#: How the kernels' OpenMP runtime waits, as decided at import (empty if not compiled):
#: ``preloaded`` (runtimes loaded before deepbio), ``user_env`` (the user's wait-policy
#: variables), ``spinning`` (idle threads busy-wait), ``grain_floor`` (applied).
WAIT_POLICY = {}

#: Compiled modules holding contract kernels (each defines ``__all__``).
_MODULES = ("philox", "rbm", "conv", "pool", "dense", "recurrent", "optim")

#: Compiled modules of kernels outside the contract, imported by name where they are
#: used (``probpool``: the convolutional RBM's probabilistic max-pooling).
EXTRA_MODULES = ("probpool",)

#: Compiled module with thread control and build facts (not kernels).
_THREADS = "threads"

_NOT_COMPILED = (
    "deepbio's Cython kernels are not compiled; reinstall with `pip install .` "
    "(needs a C compiler)"
)

_compiled = None   # cache of load()


def _import(name):
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ImportError as exc:
        raise ImportError(
            f"{_NOT_COMPILED} [{__name__}.{name}: {exc}]", name=f"{__name__}.{name}"
        ) from exc


def load_extra(name):
    """The compiled module ``name`` of :data:`EXTRA_MODULES` (kernels outside the
    contract); ImportError saying how to build it when it is not compiled."""
    if name not in EXTRA_MODULES:
        raise ValueError(f"unknown extra kernel module {name!r}; known: {EXTRA_MODULES}")
    return _import(name)


def load():
    """Import every compiled kernel module; return ``{kernel_name: function}``.

    Raises ImportError (with how to fix it) if any module is missing, and
    RuntimeError if two modules export the same kernel name.
    """
    global _compiled
    if _compiled is None:
        kernels, origin = {}, {}
        for modname in _MODULES:
            module = _import(modname)
            for kname in module.__all__:
                if kname in kernels:
                    raise RuntimeError(
                        f"kernel {kname!r} is exported by both {origin[kname]} and {modname}"
                    )
                kernels[kname], origin[kname] = getattr(module, kname), modname
        _compiled = kernels
    return dict(_compiled)


def _apply_wait_policy():
    """Decide whether the OpenMP runtime's idle threads spin; if they do, set the grain
    floor so that short element-wise loops (most of them) run on the calling thread.

    Runs once, when this package is imported, so that the floor is in place before any
    kernel runs, however the kernels are reached.  Loading the ``threads`` extension here
    loads the OpenMP runtime, just after OMP_WAIT_POLICY was set above.
    """
    try:
        threads = importlib.import_module(f"{__name__}.{_THREADS}")
    except ImportError:
        return                       # not compiled: load() will say so when asked
    openmp = threads.build_info()["openmp"]
    if _USER_WAIT_ENV:
        # The user chose: a passive choice sleeps; an active one is meant to spin.
        spinning = not _passive(_USER_WAIT_ENV)
        floor = 0
    else:
        # No choice made: the runtime saw our PASSIVE unless it was loaded before us.
        spinning = bool(_PRELOADED_OPENMP)
        floor = SPIN_GRAIN if spinning else 0
    if not openmp:
        spinning, floor = False, 0
    threads.set_grain_floor(floor)
    WAIT_POLICY.update(preloaded=list(_PRELOADED_OPENMP), user_env=dict(_USER_WAIT_ENV),
                       spinning=spinning, grain_floor=floor)


def available():
    """True when every compiled module imports; never raises ImportError."""
    try:
        load()
    except ImportError:
        return False
    return True


def set_num_threads(n):
    """Use ``n`` OpenMP threads in later kernel calls from this thread (no-op without OpenMP)."""
    _import(_THREADS).set_num_threads(n)


def get_num_threads():
    """OpenMP threads a kernel called from this thread would use (1 without OpenMP)."""
    return _import(_THREADS).get_num_threads()


def set_grain_floor(n):
    """Minimum elements per OpenMP thread in the kernels' element-wise loops (0: none);
    returns the previous floor.  Changes thread counts only, never a result."""
    return _import(_THREADS).set_grain_floor(n)


def get_grain_floor():
    """The grain floor in force (0: the kernels' own grains)."""
    return _import(_THREADS).get_grain_floor()


def build_info():
    """``{"openmp": bool, "debug": bool, "sanitize": bool}``: how the extensions were
    compiled (``sanitize``: AddressSanitizer + UBSan, ``DEEPBIO_SANITIZE=1``)."""
    return _import(_THREADS).build_info()


def __getattr__(name):
    # COMPILED is computed on first access, so that importing this package never
    # fails: only asking for the kernels does.
    if name == "COMPILED":
        return load()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["COMPILED", "available", "load", "set_num_threads", "get_num_threads",
           "set_grain_floor", "get_grain_floor", "build_info", "WAIT_POLICY"]

_apply_wait_policy()
