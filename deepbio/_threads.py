"""CPU parallelism: one knob for the Cython kernels' OpenMP threads and BLAS threads, and
how idle threads of those pools wait.

deepbio runs three thread pools on the CPU: NumPy's BLAS (the layers' ``xp`` products),
SciPy's BLAS (behind ``scipy.linalg.cython_blas``, inside the kernels) and the OpenMP
runtime of the kernels.  A fit alternates between them every few hundred microseconds,
so an idle pool must hand its cores back at once: a pool whose workers busy-wait
holds a core the next pool needs.  Each runtime reads its waiting rule from the
environment once, when it is loaded, and a package imported before deepbio (PyTorch,
SciPy, scikit-learn, or NumPy itself) may have loaded it already; so deepbio

* sets ``OPENBLAS_THREAD_TIMEOUT=1`` (:func:`configure_blas_wait`, at import) and, for an
  OpenBLAS loaded earlier, restarts its thread pool with the new timeout
  (:func:`_restart_openblas_pools`);
* sets ``OMP_WAIT_POLICY=PASSIVE`` (``deepbio._kernels.cpu``) and, when the OpenMP
  runtime was loaded earlier, keeps the kernels' short element-wise loops on the calling
  thread instead (the runtime's waiting cannot be changed once it is loaded).

A user's own setting of any of these variables wins.  ``docs/performance.md`` has the
measurements.
"""
import numbers
import os
import sys

_state = {"n": None}

#: What :func:`configure_blas_wait` found and did.
BLAS_WAIT = {"user_timeout": None, "restarted": [], "not_restarted": []}

#: The environment variables that set how idle threads wait, in show_config's order.
WAIT_VARS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME", "OPENBLAS_THREAD_TIMEOUT")


def configure_blas_wait():
    """Make idle OpenBLAS workers sleep after ~16 cycles instead of spinning ~2^28.

    Sets ``OPENBLAS_THREAD_TIMEOUT=1`` unless the user set it; that reaches every
    OpenBLAS loaded from now on.  An OpenBLAS (pthreads build) loaded before this call,
    NumPy's whenever NumPy was imported before deepbio, read the variable without it:
    its pool is restarted with the new timeout (see :func:`_restart_openblas_pools`).
    Called once, by ``import deepbio``.
    """
    if "OPENBLAS_THREAD_TIMEOUT" in os.environ:
        BLAS_WAIT["user_timeout"] = os.environ["OPENBLAS_THREAD_TIMEOUT"]
        return
    os.environ["OPENBLAS_THREAD_TIMEOUT"] = "1"
    # Only NumPy (or SciPy, which imports it) loads an OpenBLAS deepbio uses; without
    # them loaded there is nothing to restart, and threadpoolctl need not be imported.
    if "numpy" in sys.modules:
        _restart_openblas_pools()


def _restart_openblas_pools():
    """Restart the thread pool of every OpenBLAS loaded now, so it takes the timeout.

    OpenBLAS reads ``OPENBLAS_THREAD_TIMEOUT`` into a cache at load (``openblas_read_env``)
    and turns it into the workers' spin limit when it starts its pool
    (``blas_thread_init``).  Both functions are exported by OpenBLAS; so is
    ``blas_thread_shutdown_``, which OpenBLAS itself calls before every ``fork()`` (its
    ``pthread_atfork`` handler), after which the next threaded call starts a new pool.
    deepbio does the same: re-read the environment, shut the pool down; the next BLAS
    call starts workers that sleep when idle.  The thread count (threadpoolctl's
    setting) is kept.  Like a ``fork()``, it must not run while another thread is inside
    that OpenBLAS, which is why it runs at ``import deepbio`` only.
    """
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:              # pragma: no cover - threadpoolctl is a dependency
        return
    for lib in ThreadpoolController().lib_controllers:
        if lib.internal_api != "openblas":
            continue
        where = lib.filepath
        if getattr(lib, "threading_layer", None) != "pthreads":
            BLAS_WAIT["not_restarted"].append(f"{where} (threading layer "
                                              f"{getattr(lib, 'threading_layer', '?')})")
            continue
        try:
            read_env = lib.dynlib.openblas_read_env
            shutdown = lib.dynlib.blas_thread_shutdown_
        except AttributeError:
            BLAS_WAIT["not_restarted"].append(f"{where} (no openblas_read_env / "
                                              "blas_thread_shutdown_)")
            continue
        read_env.restype = None
        read_env()
        shutdown()
        BLAS_WAIT["restarted"].append(where)


def set_num_threads(n):
    """Use ``n`` threads in the Cython kernels (OpenMP) and in BLAS (via threadpoolctl).

    Returns the previous setting (None if never set).
    """
    import numpy as np
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, numbers.Integral):
        raise TypeError(f"n must be a positive integer, got {n!r}")
    if n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    n = int(n)                                   # np.int64(2) -> 2
    previous = _state["n"]
    # Load every BLAS deepbio calls before limiting: threadpoolctl only reaches
    # libraries already loaded (NumPy's, and SciPy's behind scipy.linalg.cython_blas).
    import scipy.linalg.cython_blas  # noqa: F401
    from threadpoolctl import threadpool_limits
    threadpool_limits(limits=n, user_api="blas")
    from ._kernels import cpu
    if cpu.available():
        cpu.set_num_threads(n)
    _state["n"] = n
    return previous


def get_num_threads():
    """The thread count last set by :func:`set_num_threads`, else the OpenMP default."""
    if _state["n"] is not None:
        return _state["n"]
    from ._kernels import cpu
    return cpu.get_num_threads() if cpu.available() else 1
