"""Numba CUDA kernels: the ``numba.cuda.jit`` twins of :mod:`deepbio._kernels.reference`.

Every contract kernel (see :data:`deepbio._kernels.CONTRACT`) has a Python wrapper here with
exactly the reference signature; its hot loops are ``@jit`` kernels defined at module top
level, one module per family (``rbm``, ``dense``, ``conv``, ``pool``, ``recurrent``), plus
``gemm`` (a shared-memory tiled matrix product, the teaching twin of cuBLAS) and ``philox``
(the counter-based generator).  :func:`load` gathers them into ``{kernel_name: function}``.

Where it runs, decided once, here (:func:`runtime`):

* **a real GPU**: kernels are compiled by ``numba.cuda.jit`` and the array module ``xp`` is
  **CuPy**: wrappers take and return ``cupy.ndarray``, which the kernels read through
  ``__cuda_array_interface__``, and launch on CuPy's current stream.  So *this backend needs
  CuPy too on a real GPU* (``pip install numba numba-cuda cupy-cuda13x``).
* **the CUDA simulator** (``NUMBA_ENABLE_CUDASIM=1``): every CUDA thread runs as a Python
  thread and device arrays are NumPy arrays, so ``xp`` is **NumPy** and wrappers take and
  return ``numpy.ndarray``.  The simulator is used when the variable is set before Numba is
  first imported (Numba's own rule) and also when it is set later, after something else
  imported ``numba.cuda`` for the real target: kernels are then built with
  ``numba.cuda.simulator.jit`` (which swaps the simulated ``cuda`` module into a kernel's
  globals while it runs, exactly as the simulator does for ``numba.cuda.jit``).  This keeps
  the simulator tests independent of import order.

Nothing here imports Numba until :func:`runtime` (or :func:`load`) is called, so
``import deepbio`` never does.

On a GPU, Numba synchronises (host-blocking) the stream that a CuPy array's
``__cuda_array_interface__`` names, for every array argument of every launch, unless
``NUMBA_CUDA_ARRAY_INTERFACE_SYNC=0``.  Results are correct either way; the sync only
stops the host from running ahead of the device.  Every launch here queues on CuPy's
current stream, so turning the sync off is safe for deepbio's own work; it is a
process-wide Numba setting, so this package leaves the choice to the user.

Conventions every kernel module follows:

* one thread per output element, found by a grid-stride loop whose trip count comes from
  the array shapes, never from the launch grid (``launch(n)`` below only sizes the grid);
* the formula a kernel computes in the comment above it; float32 and float64 from one
  source (Numba specialises per argument type);
* literals typed to the element type (``T = x.dtype.type`` in a kernel, ``T = type(v)`` in
  a device function): a bare ``1.0`` is a float64 in Numba and would silently promote a
  float32 kernel to float64 arithmetic;
* array maths *between* kernels (allocation, reshapes, a final tiny sum) uses :data:`xp`.
"""
import os
from typing import NamedTuple

#: Kernel modules holding contract kernels (each defines ``__all__``).
_MODULES = ("rbm", "dense", "conv", "pool", "recurrent", "philox", "optim")

_INSTALL = "pip install numba numba-cuda"

#: Threads per block and most blocks of a 1-d launch, on a GPU and under the simulator.
#: The simulator runs one Python thread per CUDA thread, so it gets a tiny grid (two
#: blocks of eight): the grid-stride loops then really stride, even at test sizes.
GPU_THREADS, GPU_MAX_BLOCKS = 256, 4096
SIM_THREADS, SIM_MAX_BLOCKS = 8, 2


class Runtime(NamedTuple):
    """How and where kernels run (see the module docstring)."""
    cuda: object        # the numba.cuda module (the kernels' `cuda` global)
    jit: object         # numba.cuda.jit, or the simulator's jit
    xp: object          # cupy on a GPU, numpy under the simulator
    simulator: bool
    threads: int        # threads per block of a 1-d launch
    max_blocks: int


_runtime = None        # cache of runtime()
_loaded = None         # cache of load()


def _sim_requested():
    try:
        return int(os.environ.get("NUMBA_ENABLE_CUDASIM", "0") or 0) != 0
    except ValueError:
        return False


def _make_runtime():
    try:
        from numba import cuda
    except ImportError as e:
        raise ImportError(
            f"deepbio's Numba CUDA kernels need Numba and its CUDA target: install them with "
            f"`{_INSTALL}` (import failed: {e})", name="numba") from e
    try:
        from numba.cuda.core import config
    except ImportError:                      # Numba's built-in CUDA target
        from numba.core import config
    if config.ENABLE_CUDASIM:                # numba.cuda *is* the simulator
        import numpy
        return Runtime(cuda, cuda.jit, numpy, True, SIM_THREADS, SIM_MAX_BLOCKS)
    if _sim_requested():                     # asked for after numba.cuda was imported
        import numpy
        from numba.cuda import simulator
        return Runtime(cuda, simulator.jit, numpy, True, SIM_THREADS, SIM_MAX_BLOCKS)
    if not cuda.is_available():
        raise ImportError(
            f"deepbio's Numba CUDA kernels need an NVIDIA GPU and its driver: Numba and its "
            f"CUDA target (`{_INSTALL}`) are installed but find no usable CUDA GPU. For "
            f"tests without a GPU, set NUMBA_ENABLE_CUDASIM=1 to run the kernels on Numba's "
            f"CUDA simulator.", name="numba")
    try:
        import cupy
    except ImportError as e:
        raise ImportError(
            "deepbio's Numba CUDA kernels need CuPy too on a real GPU (it is their array "
            f"module, and the 'xp' matrix product): `pip install cupy-cuda13x` "
            f"(import failed: {e})", name="cupy") from e
    return Runtime(cuda, cuda.jit, cupy, False, GPU_THREADS, GPU_MAX_BLOCKS)


def runtime():
    """The :class:`Runtime` (imports Numba on first call); ImportError if it cannot run."""
    global _runtime
    if _runtime is None:
        _runtime = _make_runtime()
    return _runtime


def simulator():
    """True when the kernels run on Numba's CUDA simulator (False when they cannot run)."""
    try:
        return runtime().simulator
    except ImportError:
        return False


def launch(n):
    """Launch configuration ``(blocks, threads, stream)`` for ``n`` grid-stride items.

    The stream is CuPy's current stream on a GPU (so Numba launches queue behind the
    CuPy work that made their inputs) and 0 under the simulator.
    """
    rt = runtime()
    blocks = max(1, min(rt.max_blocks, -(-n // rt.threads)))
    return blocks, rt.threads, stream()


_streams = {}


def stream():
    """The stream kernels launch on: CuPy's current stream wrapped for Numba, or 0."""
    rt = runtime()
    if rt.simulator:
        return 0
    ptr = rt.xp.cuda.get_current_stream().ptr
    if ptr not in _streams:
        _streams[ptr] = rt.cuda.external_stream(ptr) if ptr else rt.cuda.default_stream()
    return _streams[ptr]


def load():
    """Every kernel of the contract: ``{kernel_name: function}``.

    Raises ImportError (saying what is missing and how to install it) when Numba, its CUDA
    target, a GPU (or the simulator) or, on a GPU, CuPy is missing; RuntimeError if a
    contract kernel has no implementation here.
    """
    global _loaded
    if _loaded is None:
        import importlib

        from .. import CONTRACT
        runtime()
        kernels, origin = {}, {}
        for modname in _MODULES:
            module = importlib.import_module(f"{__name__}.{modname}")
            for kname in module.__all__:
                if kname in kernels:
                    raise RuntimeError(f"kernel {kname!r} is exported by both "
                                       f"{origin[kname]} and {modname}")
                kernels[kname], origin[kname] = getattr(module, kname), modname
        missing = sorted(set(CONTRACT) - set(kernels))
        if missing:
            raise RuntimeError(f"deepbio._kernels.numba is missing contract kernels: {missing}")
        _loaded = kernels
    return dict(_loaded)


def available():
    """True when :func:`load` would succeed; never raises ImportError."""
    try:
        load()
    except ImportError:
        return False
    return True


def set_matmul(name):
    """Choose the matrix product every kernel uses: ``"tiled"`` or ``"xp"`` (see gemm)."""
    from . import gemm
    gemm.set_matmul(name)


def get_matmul():
    """Name of the matrix product in use (``"tiled"`` unless changed)."""
    from . import gemm
    return gemm.get_matmul()


__all__ = ["Runtime", "runtime", "simulator", "launch", "stream", "load", "available",
           "set_matmul", "get_matmul"]
