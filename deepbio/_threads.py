"""CPU parallelism: one knob for the Cython kernels' OpenMP threads and BLAS threads, how
idle threads of those pools wait, and :func:`show_config`.

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

#: What :func:`configure_blas_wait` found and did (for :func:`show_config`).
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


def _kernels_openmp_path():
    """File of the OpenMP runtime the kernels are bound to (the first one loaded under the
    soname they link), or None where this cannot be told (no dladdr, no OpenMP)."""
    import ctypes
    from ._kernels import cpu
    if not hasattr(os, "RTLD_NOLOAD"):
        return None
    for name in cpu._OPENMP_SONAMES:
        try:
            lib = ctypes.CDLL(name, mode=os.RTLD_NOLOAD)
            func = lib.omp_get_max_threads
        except (OSError, AttributeError):
            continue

        class _DlInfo(ctypes.Structure):
            _fields_ = [("dli_fname", ctypes.c_char_p), ("dli_fbase", ctypes.c_void_p),
                        ("dli_sname", ctypes.c_char_p), ("dli_saddr", ctypes.c_void_p)]
        try:
            dladdr = ctypes.CDLL(None).dladdr
        except (OSError, AttributeError):
            return None
        dladdr.argtypes = [ctypes.c_void_p, ctypes.POINTER(_DlInfo)]
        info = _DlInfo()
        if dladdr(ctypes.cast(func, ctypes.c_void_p), ctypes.byref(info)) and info.dli_fname:
            return os.path.realpath(info.dli_fname.decode())
        return None
    return None


def _config():
    """The facts :func:`show_config` prints, as a dict."""
    from threadpoolctl import threadpool_info

    from . import backend
    from ._kernels import cpu
    compiled = cpu.available()          # loads the kernels: their OpenMP and SciPy's BLAS
    import scipy.linalg.cython_blas  # noqa: F401  (the BLAS the kernels call)
    try:
        active = backend.current()
        be = {"name": active.name, "description": active.description}
    except backend.BackendError as exc:
        be = {"name": None, "description": str(exc)}
    pools = []
    for info in threadpool_info():
        pools.append({key: info.get(key) for key in
                      ("user_api", "internal_api", "prefix", "filepath", "version",
                       "num_threads", "threading_layer", "architecture")
                      if info.get(key) is not None})
    omp = dict(cpu.WAIT_POLICY) if compiled else {}
    if not compiled:
        omp_applied = None
    elif "OMP_WAIT_POLICY" in omp.get("user_env", {}):
        omp_applied = "not set: the user's own value is kept"
    elif omp.get("preloaded"):
        omp_applied = ("PASSIVE, too late: the OpenMP runtime was loaded before deepbio, "
                       "so its idle threads spin; short kernel loops run serial instead")
    else:
        omp_applied = "PASSIVE, before the OpenMP runtime was loaded"
    if BLAS_WAIT["user_timeout"] is not None:
        blas_applied = "not set: the user's own value is kept"
    elif BLAS_WAIT["restarted"] or BLAS_WAIT["not_restarted"]:
        blas_applied = ("1; OpenBLAS loaded before deepbio: pools restarted to take it "
                        f"{len(BLAS_WAIT['restarted'])}, could not be "
                        f"{len(BLAS_WAIT['not_restarted'])}")
    else:
        blas_applied = "1, before NumPy's and SciPy's OpenBLAS were loaded"
    return {
        "backend": be,
        "build": cpu.build_info() if compiled else {"openmp": False, "debug": False,
                                                     "compiled": False},
        "threads": {"set_num_threads": _state["n"], "effective": get_num_threads(),
                    "openmp_max_threads": cpu.get_num_threads() if compiled else 1},
        "threadpools": pools,
        "environment": {name: os.environ.get(name) for name in WAIT_VARS},
        "deepbio_applied": {
            "OMP_WAIT_POLICY": omp_applied,
            "OPENBLAS_THREAD_TIMEOUT": blas_applied,
            "kernels_openmp_runtime": _kernels_openmp_path() if compiled else None,
            "openblas_pools_restarted": list(BLAS_WAIT["restarted"]),
            "openblas_pools_not_restarted": list(BLAS_WAIT["not_restarted"]),
            "openmp_loaded_before_deepbio": omp.get("preloaded", []),
            "openmp_idle_threads_spin": omp.get("spinning"),
            "kernel_grain_floor": cpu.get_grain_floor() if compiled else 0,
        },
    }


def show_config(as_dict=False, file=None):
    """Print how deepbio uses the CPU: backend, OpenMP runtime(s) and BLAS libraries with
    their thread counts (``threadpoolctl.threadpool_info``), the wait-policy settings in
    force and what deepbio applied, and deepbio's own thread setting.

    With ``as_dict=True`` return those facts as a dict instead of printing them;
    ``file`` is where to print (default ``sys.stdout``).
    Loads the compiled kernels (and so their OpenMP runtime and SciPy's BLAS) first, so
    that every library deepbio would use is listed.
    """
    cfg = _config()
    if as_dict:
        return cfg
    be, th, ap = cfg["backend"], cfg["threads"], cfg["deepbio_applied"]
    lines = ["deepbio configuration",
             f"  backend: {be['name']} ({be['description']})",
             f"  build: openmp={cfg['build'].get('openmp')} debug={cfg['build'].get('debug')}",
             f"  threads: deepbio.set_num_threads={th['set_num_threads']} "
             f"effective={th['effective']} openmp_max_threads={th['openmp_max_threads']}",
             "  thread pools (threadpoolctl):"]
    for pool in cfg["threadpools"]:
        extra = f" threading_layer={pool['threading_layer']}" if "threading_layer" in pool else ""
        lines.append(f"    {pool.get('user_api')}/{pool.get('internal_api')} "
                     f"num_threads={pool.get('num_threads')} version={pool.get('version')}"
                     f"{extra}")
        lines.append(f"      {pool.get('filepath')}")
    lines.append("  wait policy (environment now):")
    for name, value in cfg["environment"].items():
        lines.append(f"    {name}={'<unset>' if value is None else value}")
    lines.append("  applied by deepbio:")
    for name, value in ap.items():
        lines.append(f"    {name}: {value}")
    print("\n".join(lines), file=file if file is not None else sys.stdout)
    return None
