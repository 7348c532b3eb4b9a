"""One knob for CPU parallelism: OpenMP threads of the Cython kernels and BLAS threads."""
import numbers

import numpy as np

_state = {"n": None}


def set_num_threads(n):
    """Use ``n`` threads in the Cython kernels (OpenMP) and in BLAS (via threadpoolctl).

    Returns the previous setting (None if never set).
    """
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
