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
import importlib
import os

# Idle OpenMP threads should sleep, not spin: on a 2-core machine a spinning team
# steals the core that BLAS (or the other backend's BLAS) needs next, and every
# short parallel region then waits a scheduler slice.  Must be set before libgomp
# initialises, i.e. before the first compiled module loads; a user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

#: Compiled modules holding contract kernels (each defines ``__all__``).
_MODULES = ("philox", "rbm", "conv", "pool", "dense", "recurrent")

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
        _import(_THREADS)
        _compiled = kernels
    return dict(_compiled)


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


def build_info():
    """``{"openmp": bool, "debug": bool}``: how the extensions were compiled."""
    return _import(_THREADS).build_info()


def __getattr__(name):
    # COMPILED is computed on first access, so that importing this package never
    # fails: only asking for the kernels does.
    if name == "COMPILED":
        return load()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["COMPILED", "available", "load", "set_num_threads", "get_num_threads",
           "build_info"]
