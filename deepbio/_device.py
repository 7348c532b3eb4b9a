"""Where an array lives, and the one way to bring it to the host.

Every conversion of a backend's array to NumPy goes through :func:`to_host`, so each
device-to-host copy (a synchronisation on a GPU) can be found with grep.  An array is a
device array when it exposes ``__cuda_array_interface__`` (CuPy and Numba device arrays
do); anything else is taken as host data.  Duck typing on ``.get`` is not used: a dict
or a pandas Series has a ``get`` too.
"""
import numpy as np


def is_device_array(a):
    """True for a CUDA device array (CuPy, Numba): one exposing ``__cuda_array_interface__``."""
    return not isinstance(a, np.ndarray) and hasattr(a, "__cuda_array_interface__")


def to_host(a):
    """``a`` as a NumPy array: a NumPy array as is; a CuPy array by ``.get()`` and a Numba
    device array by ``.copy_to_host()`` (each a synchronising copy); anything else by
    ``numpy.asarray``."""
    if isinstance(a, np.ndarray):
        return a
    if is_device_array(a):
        if hasattr(a, "get"):               # CuPy
            return a.get()
        if hasattr(a, "copy_to_host"):      # Numba
            return a.copy_to_host()
    return np.asarray(a)


__all__ = ["is_device_array", "to_host"]
