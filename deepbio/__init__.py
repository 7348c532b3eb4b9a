"""deepbio: classic deep models for biomedical data, from scratch and readable.

Restricted Boltzmann machines and deep belief networks, autoencoders, convolutional and
recurrent networks, trained by SGD or Hessian-free optimisation.  Every hot loop is a
kernel with a NumPy reference and compiled twins behind one backend switch::

    import deepbio
    deepbio.backends()              # e.g. ['numpy', 'cython']
    with deepbio.use_backend("numpy"):
        ...
"""
import os as _os

# deepbio runs two OpenBLAS builds side by side (NumPy's for the layers' `xp` products,
# SciPy's inside the Cython kernels).  OpenBLAS workers spin for ~2^28 cycles after each
# call by default, so on a small machine one library's idle team holds the cores the
# other needs next.  Short spins let them hand over; a user's own setting wins.  It only
# reaches a BLAS loaded after this line (always SciPy's; NumPy's if deepbio is imported
# first).
_os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "1")

from .backend import (BackendError, backends, get_backend, set_backend,  # noqa: F401
                      use_backend)
from ._threads import get_num_threads, set_num_threads  # noqa: F401

__version__ = "0.1.0"

# Layers 4 and 5: models (scikit-learn estimators), model files and data sets.
from . import datasets  # noqa: E402,F401
from .models import load, save  # noqa: E402,F401
from .models import (DBN, RBM, CNNClassifier, CNNRegressor, RNNClassifier,  # noqa: E402
                     RNNTagger, AutoEncoder, DBNClassifier, DBNRegressor,  # noqa: E402,F401
                     MLPClassifier, MLPRegressor, StackedAutoEncoder,
                     StackedAutoEncoderClassifier, StackedAutoEncoderRegressor)
