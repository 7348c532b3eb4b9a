"""Multi-layer perceptrons without pre-training: the baseline the review compares against.

Maths in ``docs/models/mlp.md``.  Both estimators are :class:`FeedForwardEstimator`
subclasses: random (Glorot / He) initialisation, then SGD on the matching loss.
"""
from .._validation import Options, check_X_y
from ._feedforward import FeedForwardClassifier, FeedForwardRegressor

_MLP_DOC_PARAMS = """
    hidden_layer_sizes : int or tuple of int, default=(100,)
        Units of each hidden layer; ``()`` gives a linear model (softmax / linear
        regression on the inputs).
    activation : {"relu", "sigmoid", "tanh", "linear"}, default="relu"
        Hidden-layer non-linearity.
    dropout : float in [0, 1), default=0.0
        Inverted-dropout rate after every hidden layer (off at prediction time).
    learning_rate : float > 0, default=0.01
    momentum : float in [0, 1), default=0.9
    nesterov : bool, default=False
    weight_decay : float >= 0, default=0.0
        L2 penalty ``weight_decay / 2 * ||theta||^2`` (biases included).
    schedule : {"constant", "inverse_scaling", "step", "cosine"}, default="constant"
        Learning-rate schedule over epochs (:mod:`deepbio.optim.schedules`).
    clip_norm : float > 0 or None, default=1.0
        Clip the gradient to this global L2 norm (None: no clipping).  On by default so
        that unscaled inputs cannot make the first steps diverge; see
        ``docs/models/defaults.md``.
    batch_size : int, default=32
    max_iter : int, default=100
        Training epochs (with ``optimizer=\"hf\"``: HF iterations), scikit-learn's
        name; ``max_epochs``, the old name, still works and warns that it is deprecated.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data, stop after ``patience``
        epochs without improvement of the validation loss by ``tol``, keep the best
        weights.
    validation_fraction : float in (0, 1), default=0.1
    patience : int, default=10
    tol : float >= 0, default=1e-4
    dtype : {"float32", "float64"}, default="float32"
    random_state : None, int or numpy.random.Generator, default=None
    verbose : int, default=0
        0: silent; otherwise a progress bar on a terminal, one line per epoch elsewhere.
    comm : mpi4py communicator or None, default=None
        Data-parallel training over MPI (``mpiexec -n P``): each rank calls ``fit`` on
        its own shard (see :func:`deepbio.distributed.shard`); the gradients are summed
        over the ranks, ``classes_`` and the target scaling are global, and the result
        equals one process on the ranks' concatenated minibatches (docs/distributed.md).
        Not saved with the model.
    optimizer : "sgd", "adam", "adamw", "rmsprop", "hf" or a deepbio.optim optimiser, default="sgd"
        What trains the network: minibatch SGD from the hyper-parameters above, or
        Hessian-free optimisation ("hf": ``max_iter`` HF iterations; pass a
        :class:`deepbio.optim.HessianFree` object to set its options).  HF needs one
        deterministic objective, so fit refuses it with dropout or with an
        autoencoder's own corruption (ValueError; docs/hf.md, *One objective*).
"""

_MLP_DOC_ATTRS = """
    coefs_ : list of arrays
        ``coefs_[i]`` of shape (units_i, units_{i+1}): the weights of layer i.
    intercepts_ : list of arrays
        ``intercepts_[i]`` of shape (units_{i+1},).
    n_features_in_ : int
    n_iter_ : int
        Epochs run.
    history_ : list of dict
        Per epoch: ``epoch``, ``loss`` (mean training loss), ``val_loss`` and
        ``val_metric`` (None unless ``early_stopping``), ``lr``, ``time``.
"""


def _mlp_init(self, hidden_layer_sizes, activation, dropout, learning_rate, momentum,
              nesterov, weight_decay, schedule, clip_norm, batch_size, max_iter,
              early_stopping, validation_fraction, patience, tol, dtype, random_state,
              verbose):
    self.hidden_layer_sizes = hidden_layer_sizes
    self.activation = activation
    self.dropout = dropout
    self.learning_rate = learning_rate
    self.momentum = momentum
    self.nesterov = nesterov
    self.weight_decay = weight_decay
    self.schedule = schedule
    self.clip_norm = clip_norm
    self.batch_size = batch_size
    self.max_iter = max_iter
    self.early_stopping = early_stopping
    self.validation_fraction = validation_fraction
    self.patience = patience
    self.tol = tol
    self.dtype = dtype
    self.random_state = random_state
    self.verbose = verbose


class MLPClassifier(FeedForwardClassifier):
    __doc__ = """Multi-layer perceptron classifier trained by minibatch SGD.

    Hidden layers ``a_l = f(a_{l-1} W_l + b_l)``, output ``p = softmax(a_L W + b)``,
    loss the mean cross-entropy.  Labels may be of any type (``classes_``).

    Parameters
    ----------""" + _MLP_DOC_PARAMS + """
    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)""" + _MLP_DOC_ATTRS + """
    References
    ----------
    D. E. Rumelhart, G. E. Hinton, R. J. Williams. Learning representations by
    back-propagating errors. Nature 323, 1986.

    Examples
    --------
    >>> from deepbio import MLPClassifier
    >>> from deepbio.datasets import load_breast_cancer, standardize
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> clf = MLPClassifier((16,), max_iter=20, random_state=0).fit(standardize(X), y)
    >>> clf.score(standardize(X), y) > 0.95
    True
    """

    _parameter_constraints = dict(FeedForwardClassifier._parameter_constraints,
                                  activation=[Options("relu", "sigmoid", "tanh", "linear")])

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", dropout=0.0,
                 learning_rate=0.01, momentum=0.9, nesterov=False, weight_decay=0.0,
                 schedule="constant", clip_norm=1.0, batch_size=32, max_iter=100,
                 early_stopping=False, validation_fraction=0.1, patience=10, tol=1e-4,
                 dtype="float32", random_state=None, verbose=0,
                 optimizer="sgd", max_epochs="deprecated", comm=None):
        self.comm = comm
        self.optimizer = optimizer
        self.max_epochs = max_epochs
        _mlp_init(self, hidden_layer_sizes, activation, dropout, learning_rate, momentum,
                  nesterov, weight_decay, schedule, clip_norm, batch_size, max_iter,
                  early_stopping, validation_fraction, patience, tol, dtype, random_state,
                  verbose)

    def partial_fit(self, X, y, classes=None):
        """One SGD epoch over ``(X, y)``; the first call builds the network.

        ``classes`` (all labels that will ever appear) is required on the first call
        unless ``y`` already contains every class; later calls may repeat it, but not
        change it (ValueError).

        Returns
        -------
        self
        """
        first = not hasattr(self, "coefs_")
        self._validate_params()
        if not first:
            X = self._check_X(X)             # the fitted number of features (and names)
        else:
            self._check_feature_names(X, reset=True)
        X, y = check_X_y(X, y, estimator=self)
        y_enc = self._partial_fit_labels(y, classes, first)
        self.n_features_in_ = X.shape[1]
        self._partial_train(X, self._one_hot(y_enc), len(self.classes_), first)
        return self


class MLPRegressor(FeedForwardRegressor):
    __doc__ = """Multi-layer perceptron regressor trained by minibatch SGD.

    Hidden layers ``a_l = f(a_{l-1} W_l + b_l)``, linear output, half squared-error loss.
    Targets are standardised internally (``y_mean_``, ``y_scale_``).

    Parameters
    ----------""" + _MLP_DOC_PARAMS + """
    Attributes
    ----------""" + _MLP_DOC_ATTRS + """
    y_mean_, y_scale_ : ndarray of shape (n_outputs,)
        Target standardisation learnt by ``fit``.

    Examples
    --------
    >>> import numpy as np
    >>> from deepbio import MLPRegressor
    >>> X = np.random.default_rng(0).normal(size=(200, 3))
    >>> y = X @ [1.0, -2.0, 0.5]
    >>> MLPRegressor((), max_iter=30, random_state=0).fit(X, y).score(X, y) > 0.99
    True
    """

    _parameter_constraints = MLPClassifier._parameter_constraints

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", dropout=0.0,
                 learning_rate=0.01, momentum=0.9, nesterov=False, weight_decay=0.0,
                 schedule="constant", clip_norm=1.0, batch_size=32, max_iter=100,
                 early_stopping=False, validation_fraction=0.1, patience=10, tol=1e-4,
                 dtype="float32", random_state=None, verbose=0,
                 optimizer="sgd", max_epochs="deprecated", comm=None):
        self.comm = comm
        self.optimizer = optimizer
        self.max_epochs = max_epochs
        _mlp_init(self, hidden_layer_sizes, activation, dropout, learning_rate, momentum,
                  nesterov, weight_decay, schedule, clip_norm, batch_size, max_iter,
                  early_stopping, validation_fraction, patience, tol, dtype, random_state,
                  verbose)

    def partial_fit(self, X, y):
        """One SGD epoch over ``(X, y)``; the first call builds the network and fixes the
        target standardisation from this ``y``.

        Returns
        -------
        self
        """
        first = not hasattr(self, "coefs_")
        self._validate_params()
        if not first:
            X = self._check_X(X)             # the fitted number of features (and names)
        else:
            self._check_feature_names(X, reset=True)
        X, y = check_X_y(X, y, y_numeric=True, multi_output=True, estimator=self)
        if first:
            self.n_features_in_ = X.shape[1]
            self._fit_target_scaling(y)
        else:
            Y = y.reshape(len(y), -1)
            if Y.shape[1] != self.n_outputs_:
                raise ValueError(f"y has {Y.shape[1]} outputs, but the model was fitted with "
                                 f"{self.n_outputs_}")
        Y = y.reshape(len(y), -1)
        self._partial_train(X, (Y - self.y_mean_) / self.y_scale_, Y.shape[1], first)
        return self

