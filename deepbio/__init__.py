"""deepbio: classic deep models for biomedical data, from scratch and readable.

Restricted Boltzmann machines and deep belief networks, autoencoders, convolutional and
recurrent networks, trained by SGD or Hessian-free optimisation.  Every hot loop is a
kernel with a NumPy reference and compiled twins behind one backend switch::

    import deepbio
    deepbio.backends()              # e.g. ['numpy', 'cython']
    with deepbio.use_backend("numpy"):
        ...
"""
# deepbio runs two OpenBLAS builds side by side (NumPy's for the layers' `xp` products,
# SciPy's inside the Cython kernels).  OpenBLAS workers spin for ~2^28 cycles after each
# call by default, so on a small machine one library's idle team holds the cores the
# other needs next.  Short spins let them hand over; a user's own setting wins.  The
# variable reaches a BLAS loaded after this line; an OpenBLAS loaded before (NumPy's,
# when NumPy, SciPy, scikit-learn or PyTorch was imported first) has its thread pool
# restarted to take it (see deepbio/_threads.py and docs/performance.md).
from . import _threads  # noqa: E402  (imports neither NumPy nor SciPy)

_threads.configure_blas_wait()

from .backend import (BackendError, DeviceMemoryError, backends, get_backend,  # noqa: E402,F401
                      set_backend, use_backend)
from ._threads import get_num_threads, set_num_threads, show_config  # noqa: E402,F401

__version__ = "0.1.0"

# Layers 4 and 5: models (scikit-learn estimators), model files and data sets.
from . import datasets  # noqa: E402,F401
from .models import load, save  # noqa: E402,F401
from .models import (DBN, RBM, CNNClassifier, CNNRegressor, RNNClassifier,  # noqa: E402
                     RNNRegressor, RNNTagger, AutoEncoder, DBNClassifier,  # noqa: E402,F401
                     DBNRegressor,
                     MLPClassifier, MLPRegressor, StackedAutoEncoder,
                     StackedAutoEncoderClassifier, StackedAutoEncoderRegressor,
                     DBM, DBMClassifier, SPN, ISA, StackedISA, GSN, ConvRBM, ConvDBN)


def __getattr__(name):
    # Layer 5's interpretation tools load on first use, so ``import deepbio`` stays light:
    # ``deepbio.explain`` works after ``import deepbio`` (as ``import deepbio.explain``).
    # Layer 6's plots likewise: ``deepbio.plot`` imports matplotlib, ``import deepbio``
    # never does.
    if name in ("explain", "plot", "interop"):
        import importlib
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
