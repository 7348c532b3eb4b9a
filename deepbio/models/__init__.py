"""Layer 4: the models, as scikit-learn style estimators (see ``docs/models/``).

======================================  ==============================================
:class:`RBM`                            Bernoulli / Gaussian RBM (CD-k, PCD)
:class:`DBN`                            greedy stack of RBMs (a transformer)
:class:`DBNClassifier`, ``Regressor``   DBN pre-training + backprop fine-tuning
:class:`AutoEncoder`                    plain / sparse / denoising, tied or untied
:class:`StackedAutoEncoder`             greedy stack of autoencoders (a transformer)
:class:`StackedAutoEncoderClassifier`   stacked pre-training + fine-tuning
:class:`MLPClassifier`, ``Regressor``   no pre-training: the baseline
:class:`DBM`, :class:`DBMClassifier`    deep Boltzmann machine (mean field, PCD, AIS)
:class:`SPN`                            sum-product network learnt by LearnSPN
:class:`ISA`, :class:`StackedISA`       independent subspace analysis, conv. stack
:class:`GSN`                            generative stochastic network (walkback DAE)
:class:`ConvRBM`, :class:`ConvDBN`      conv. RBM with prob. max-pooling, greedy stack
======================================  ==============================================

Inputs and outputs of public methods are NumPy arrays; training and prediction run on
the backend active when they are called (:func:`deepbio.use_backend`).
"""
from ._base import BaseEstimator, ClassifierMixin, RegressorMixin, TransformerMixin
from .cnn import CNNClassifier, CNNRegressor
from .rnn import RNNClassifier, RNNRegressor, RNNTagger
from .autoencoder import (AutoEncoder, StackedAutoEncoder, StackedAutoEncoderClassifier,
                          StackedAutoEncoderRegressor)
from .dbn import DBN, DBNClassifier, DBNRegressor
from .dbm import DBM, DBMClassifier
from .spn import SPN
from .isa import ISA, StackedISA
from .gsn import GSN
from .conv_rbm import ConvDBN, ConvRBM
from .mlp import MLPClassifier, MLPRegressor
from .rbm import RBM

__all__ = ["BaseEstimator", "ClassifierMixin", "RegressorMixin", "TransformerMixin", "RBM",
           "DBN", "DBNClassifier", "DBNRegressor", "AutoEncoder", "StackedAutoEncoder",
           "StackedAutoEncoderClassifier", "StackedAutoEncoderRegressor", "MLPClassifier",
           "MLPRegressor", "CNNClassifier", "CNNRegressor", "RNNClassifier", "RNNRegressor",
           "RNNTagger", "DBM", "DBMClassifier", "SPN", "ISA", "StackedISA", "GSN", "ConvRBM",
           "ConvDBN"]

# Model files: deepbio.models.save / load (also deepbio.save / load), and the classes a
# file may name, each with its file schema (deepbio/models/_persist.py).
from ._persist import REGISTRY, load, register, save  # noqa: E402

for _name in __all__:
    if _name not in ("BaseEstimator", "ClassifierMixin", "RegressorMixin", "TransformerMixin"):
        register(globals()[_name])
del _name
__all__ += ["save", "load", "register", "REGISTRY"]
