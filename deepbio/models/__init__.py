"""Layer 4: the models, as scikit-learn style estimators (see ``docs/models/``).

======================================  ==============================================
:class:`RBM`                            Bernoulli / Gaussian RBM (CD-k, PCD)
:class:`DBN`                            greedy stack of RBMs (a transformer)
:class:`DBNClassifier`, ``Regressor``   DBN pre-training + backprop fine-tuning
:class:`AutoEncoder`                    plain / sparse / denoising, tied or untied
:class:`StackedAutoEncoder`             greedy stack of autoencoders (a transformer)
:class:`StackedAutoEncoderClassifier`   stacked pre-training + fine-tuning
:class:`MLPClassifier`, ``Regressor``   no pre-training: the baseline
======================================  ==============================================

Inputs and outputs of public methods are NumPy arrays; training and prediction run on
the backend active when they are called (:func:`deepbio.use_backend`).
"""
from ._base import BaseEstimator, ClassifierMixin, RegressorMixin, TransformerMixin
from .cnn import CNNClassifier, CNNRegressor
from .rnn import RNNClassifier, RNNTagger
from .autoencoder import (AutoEncoder, StackedAutoEncoder, StackedAutoEncoderClassifier,
                          StackedAutoEncoderRegressor)
from .dbn import DBN, DBNClassifier, DBNRegressor
from .mlp import MLPClassifier, MLPRegressor
from .rbm import RBM

__all__ = ["BaseEstimator", "ClassifierMixin", "RegressorMixin", "TransformerMixin", "RBM",
           "DBN", "DBNClassifier", "DBNRegressor", "AutoEncoder", "StackedAutoEncoder",
           "StackedAutoEncoderClassifier", "StackedAutoEncoderRegressor", "MLPClassifier",
           "MLPRegressor", "CNNClassifier", "CNNRegressor", "RNNClassifier", "RNNTagger"]

#: Estimator classes that :func:`deepbio.io.load` may construct, by class name.
REGISTRY = {name: globals()[name] for name in __all__
            if name not in ("BaseEstimator", "ClassifierMixin", "RegressorMixin",
                            "TransformerMixin")}


def register(cls):
    """Allow :func:`deepbio.io.load` to build ``cls`` (a BaseEstimator subclass)."""
    if not (isinstance(cls, type) and issubclass(cls, BaseEstimator)):
        raise TypeError(f"only deepbio estimator classes can be registered, got {cls!r}")
    REGISTRY[cls.__name__] = cls
    return cls
