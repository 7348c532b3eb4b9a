"""Deep belief networks: greedy layer-wise RBM pre-training, then (for the classifier and
regressor) fine-tuning end to end by backpropagation.  Maths in ``docs/models/dbn.md``.
"""
from .._validation import Interval, IntSequence, Options
from ..optim._base import Progress
from ._base import BaseEstimator, TransformerMixin, current_backend, resolve_rng, to_host
from ._feedforward import FeedForwardClassifier, FeedForwardRegressor
from ._training import child_seed, hidden_sizes
from .rbm import RBM

_RBM_CONSTRAINTS = {
    "hidden_layer_sizes": [IntSequence(1)],
    "visible": [Options("bernoulli", "gaussian")],
    "k": [Interval("int", 1, None)],
    "persistent": ["boolean"],
}


def pretrain_rbms(X, sizes, visible, rbm_params, rng, verbose, who="DBN",
                  lr_name="learning_rate"):
    """Greedy layer-wise training: RBM l learns the hidden probabilities of RBM l - 1.

    The first RBM has ``visible`` units; the ones above are Bernoulli-Bernoulli.
    Returns the list of fitted :class:`RBM`.  If an RBM diverges, FloatingPointError
    names the estimator ``who``, the layer, and ``lr_name``, the estimator's parameter
    that sets the RBMs' ``learning_rate``.

    ``X`` is checked by the first RBM's ``fit``; the codes each RBM hands to the next
    (hidden probabilities: finite, in [0, 1]) stay on the backend's device.
    """
    rbms, data = [], X
    be = current_backend()
    if rbm_params.get("comm") is not None and rbm_params["comm"].Get_rank() != 0:
        verbose = 0                        # only rank 0 reports
    with Progress(len(sizes), verbose if verbose else 0, "DBN pre-training") as bar:
        for i, units in enumerate(sizes):
            rbm = RBM(n_components=units, visible=visible if i == 0 else "bernoulli",
                      random_state=child_seed(rng), **rbm_params)
            try:
                if i == 0:
                    rbm.fit(data)
                else:                      # codes of the RBM below, on the device
                    rbm._validate_params()
                    rbm._fit_checked(be, data)
            except FloatingPointError as e:
                hint = "" if lr_name == "learning_rate" else \
                    f" (the RBMs' learning_rate is {who}'s {lr_name})"
                raise FloatingPointError(f"{who} pre-training diverged in layer {i + 1} of "
                                         f"{len(sizes)} ({units} hidden units): {e}"
                                         f"{hint}") from e
            rbms.append(rbm)
            data = rbm._hidden_probabilities(data, on_device=True)
            bar.update({"epoch": i + 1, "layer": i + 1,
                        "reconstruction_error": rbm.history_[-1]["reconstruction_error"]
                        if rbm.history_ else None})
    return rbms


class DBN(TransformerMixin, BaseEstimator):
    """Deep belief network: a stack of RBMs trained greedily, one layer at a time.

    ``transform`` gives the top layer's hidden probabilities, computed upwards through
    every RBM (``h_l = sigmoid(h_{l-1} W_l + c_l)``).

    Parameters
    ----------
    hidden_layer_sizes : int or tuple of int, default=(256,)
        Hidden units of each RBM, bottom to top.
    visible : {"bernoulli", "gaussian"}, default="bernoulli"
        Visible units of the bottom RBM (see :class:`RBM`: X in [0, 1], or standardised).
    k, persistent, learning_rate, momentum, weight_decay, sparsity_target, \
sparsity_cost, batch_size, n_iter, dtype
        Passed to every :class:`RBM` (``n_iter`` epochs per layer).
    include_input : bool, default=False
        If True, :meth:`transform` returns ``[features, X]``.
    random_state : None, int or numpy.random.Generator, default=None
    verbose : int, default=0
    comm : mpi4py communicator or None, default=None
        Data-parallel training over MPI: each rank fits on its own shard; the RBMs'
        pre-training and the fine-tuning all-reduce their statistics and gradients
        (docs/distributed.md).  Not saved with the model.

    Attributes
    ----------
    rbms_ : list of RBM
        The fitted RBMs, bottom first.
    n_features_in_ : int

    References
    ----------
    G. E. Hinton, S. Osindero, Y.-W. Teh. A fast learning algorithm for deep belief nets.
    Neural Computation 18(7), 2006.

    Examples
    --------
    >>> import numpy as np
    >>> from deepbio import DBN
    >>> X = (np.random.default_rng(0).random((100, 20)) < 0.5).astype(float)
    >>> DBN((16, 8), n_iter=2, random_state=0).fit_transform(X).shape
    (100, 8)
    """

    _parameter_constraints = dict(RBM._parameter_constraints, **_RBM_CONSTRAINTS)
    del _parameter_constraints["n_components"]

    def __init__(self, hidden_layer_sizes=(256,), visible="bernoulli", k=1, persistent=False,
                 learning_rate="auto", momentum=0.5, weight_decay=1e-4, sparsity_target=None,
                 sparsity_cost=0.1, batch_size=100, n_iter=10, include_input=False,
                 dtype="float32", random_state=None, verbose=0, comm=None):
        self.comm = comm
        self.hidden_layer_sizes = hidden_layer_sizes
        self.visible = visible
        self.k = k
        self.persistent = persistent
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.sparsity_target = sparsity_target
        self.sparsity_cost = sparsity_cost
        self.batch_size = batch_size
        self.n_iter = n_iter
        self.include_input = include_input
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose

    def fit(self, X, y=None):
        """Train the RBMs bottom-up on ``X`` (n_samples, n_features).

        Returns
        -------
        self : DBN
        """
        self._validate_params()
        X = self._check_X(X, reset=True)
        params = {n: getattr(self, n) for n in (
            "k", "persistent", "learning_rate", "momentum", "weight_decay",
            "sparsity_target", "sparsity_cost", "batch_size", "n_iter", "dtype", "comm")}
        rng = resolve_rng(self.random_state)
        self.rbms_ = pretrain_rbms(X, hidden_sizes(self.hidden_layer_sizes), self.visible,
                                   params, rng, self.verbose)
        return self

    def _n_features_out(self):
        return int(self.rbms_[-1].W_.shape[1])

    def transform(self, X):
        """Top-layer hidden probabilities, shape (n_samples, hidden_layer_sizes[-1])
        (with ``include_input``: ``[features, X]``)."""
        X = self._check_X(X)
        H = X
        for rbm in self.rbms_:
            H = rbm._hidden_probabilities(H)
        return self._with_input(to_host(H), X)


_DBN_SUPERVISED_DOC = """
    Parameters
    ----------
    hidden_layer_sizes : int or tuple of int, default=(256, 128)
        Hidden units of each RBM / sigmoid layer, bottom to top.
    visible : {"bernoulli", "gaussian"}, default="bernoulli"
        Visible units of the bottom RBM: X in [0, 1] (min-max scaled) for "bernoulli",
        standardised features for "gaussian".
    k : int, default=1
        CD-k steps in pre-training.
    persistent : bool, default=False
        Persistent CD in pre-training.
    pretrain_epochs : int >= 0, default=10
        Epochs of each RBM (0 skips pre-training: a randomly initialised sigmoid MLP).
    pretrain_learning_rate : float or "auto", default="auto"
    pretrain_batch_size : int, default=10
    pretrain_momentum : float in [0, 1), default=0.9
    pretrain_weight_decay : float >= 0, default=1e-4
    dropout : float in [0, 1), default=0.0
        Dropout after each hidden layer during fine-tuning.
    learning_rate, momentum, nesterov, weight_decay, schedule, clip_norm, batch_size, \
max_iter, early_stopping, validation_fraction, patience, tol
        SGD fine-tuning, as in :class:`MLPClassifier` (defaults: 0.1, 0.9, False, 0.0,
        "constant", None, 32, 30, False, 0.1, 10, 1e-4); ``max_iter`` counts epochs
        (``max_epochs``, its old name, is deprecated).
    dtype : {"float32", "float64"}, default="float32"
    random_state : None, int or numpy.random.Generator, default=None
    verbose : int, default=0
    comm : mpi4py communicator or None, default=None
        Data-parallel training over MPI: each rank fits on its own shard; the RBMs'
        pre-training and the fine-tuning all-reduce their statistics and gradients
        (docs/distributed.md).  Not saved with the model.
    optimizer : "sgd", "adam", "adamw", "rmsprop", "hf" or a deepbio.optim optimiser, default="sgd"
        What trains the network: minibatch SGD from the hyper-parameters above, or
        Hessian-free optimisation ("hf": ``max_iter`` HF iterations; pass a
        :class:`deepbio.optim.HessianFree` object to set its options).  HF needs one
        deterministic objective, so fit refuses it with dropout or with an
        autoencoder's own corruption (ValueError; docs/hf.md, *One objective*).

    Attributes
    ----------
    coefs_, intercepts_ : lists of arrays
        Fine-tuned weights (``coefs_[l]`` (units_l, units_{l+1})) and biases; the last
        pair is the output layer.
    pretrain_history_ : list of list of dict
        The ``history_`` of each pre-trained RBM.
    history_ : list of dict
        Fine-tuning history per epoch (see :meth:`deepbio.optim.SGD.minimize`).
    n_features_in_ : int

    References
    ----------
    G. E. Hinton, R. R. Salakhutdinov. Reducing the dimensionality of data with neural
    networks. Science 313, 2006.
    G. E. Hinton, S. Osindero, Y.-W. Teh. A fast learning algorithm for deep belief nets.
    Neural Computation 18(7), 2006.
"""

_DBN_SUPERVISED_CONSTRAINTS = dict(
    _RBM_CONSTRAINTS,
    pretrain_epochs=[Interval("int", 0, None)],
    pretrain_learning_rate=[Interval("real", 0, None, closed="neither"), Options("auto")],
    pretrain_batch_size=[Interval("int", 1, None)],
    pretrain_momentum=[Interval("real", 0, 1, closed="left")],
    pretrain_weight_decay=[Interval("real", 0, None)],
)


class _DBNFineTuned:
    """Pre-training hook shared by DBNClassifier and DBNRegressor."""

    def _hidden_activation(self):
        return "sigmoid"

    def _pretrain(self, X, rng):
        if self.pretrain_epochs == 0:
            self.pretrain_history_ = []
            return None
        params = {"k": self.k, "persistent": self.persistent,
                  "learning_rate": self.pretrain_learning_rate,
                  "momentum": self.pretrain_momentum,
                  "weight_decay": self.pretrain_weight_decay,
                  "batch_size": self.pretrain_batch_size, "n_iter": self.pretrain_epochs,
                  "dtype": self.dtype, "comm": self.comm}
        rbms = pretrain_rbms(X, hidden_sizes(self.hidden_layer_sizes), self.visible, params,
                             rng, self.verbose, who=type(self).__name__,
                             lr_name="pretrain_learning_rate")
        self.pretrain_history_ = [rbm.history_ for rbm in rbms]
        return [(rbm.W_, rbm.intercept_hidden_) for rbm in rbms]


def _dbn_init(self, hidden_layer_sizes, visible, k, persistent, pretrain_epochs,
              pretrain_learning_rate, pretrain_batch_size, pretrain_momentum,
              pretrain_weight_decay, dropout, learning_rate, momentum, nesterov, weight_decay,
              schedule, clip_norm, batch_size, max_iter, early_stopping,
              validation_fraction, patience, tol, dtype, random_state, verbose):
    for name, value in list(locals().items()):
        if name != "self":
            setattr(self, name, value)


class DBNClassifier(_DBNFineTuned, FeedForwardClassifier):
    __doc__ = """DBN classifier: RBM pre-training, then a softmax layer on top and
    fine-tuning of the whole sigmoid network by backpropagation (cross-entropy, SGD).
    """ + _DBN_SUPERVISED_DOC + """
    Examples
    --------
    >>> from deepbio import DBNClassifier
    >>> from deepbio.datasets import load_digits
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = DBNClassifier((64,), pretrain_epochs=2, max_iter=5, random_state=0)
    >>> clf.fit(X / 16, y).predict(X[:3] / 16).shape
    (3,)
    """

    _parameter_constraints = dict(FeedForwardClassifier._parameter_constraints,
                                  **_DBN_SUPERVISED_CONSTRAINTS)

    def __init__(self, hidden_layer_sizes=(256, 128), visible="bernoulli", k=1,
                 persistent=False, pretrain_epochs=10, pretrain_learning_rate="auto",
                 pretrain_batch_size=10, pretrain_momentum=0.9, pretrain_weight_decay=1e-4,
                 dropout=0.0, learning_rate=0.1, momentum=0.9, nesterov=False,
                 weight_decay=0.0, schedule="constant", clip_norm=None, batch_size=32,
                 max_iter=30, early_stopping=False, validation_fraction=0.1, patience=10,
                 tol=1e-4, dtype="float32", random_state=None, verbose=0,
                 optimizer="sgd", max_epochs="deprecated", comm=None):
        self.comm = comm
        self.optimizer = optimizer
        self.max_epochs = max_epochs
        _dbn_init(self, hidden_layer_sizes, visible, k, persistent, pretrain_epochs,
                  pretrain_learning_rate, pretrain_batch_size, pretrain_momentum,
                  pretrain_weight_decay, dropout, learning_rate, momentum, nesterov,
                  weight_decay, schedule, clip_norm, batch_size, max_iter, early_stopping,
                  validation_fraction, patience, tol, dtype, random_state, verbose)


class DBNRegressor(_DBNFineTuned, FeedForwardRegressor):
    __doc__ = """DBN regressor: RBM pre-training, then a linear output layer and
    fine-tuning of the whole network by backpropagation (squared error, SGD).  Targets
    are standardised internally (``y_mean_``, ``y_scale_``).
    """ + _DBN_SUPERVISED_DOC + """
    Examples
    --------
    >>> import numpy as np
    >>> from deepbio import DBNRegressor
    >>> X = np.random.default_rng(0).random((200, 8))
    >>> reg = DBNRegressor((16,), pretrain_epochs=2, max_iter=20, random_state=0)
    >>> reg.fit(X, X.sum(axis=1)).predict(X).shape
    (200,)
    """

    _parameter_constraints = DBNClassifier._parameter_constraints

    def __init__(self, hidden_layer_sizes=(256, 128), visible="bernoulli", k=1,
                 persistent=False, pretrain_epochs=10, pretrain_learning_rate="auto",
                 pretrain_batch_size=10, pretrain_momentum=0.9, pretrain_weight_decay=1e-4,
                 dropout=0.0, learning_rate=0.1, momentum=0.9, nesterov=False,
                 weight_decay=0.0, schedule="constant", clip_norm=None, batch_size=32,
                 max_iter=30, early_stopping=False, validation_fraction=0.1, patience=10,
                 tol=1e-4, dtype="float32", random_state=None, verbose=0,
                 optimizer="sgd", max_epochs="deprecated", comm=None):
        self.comm = comm
        self.optimizer = optimizer
        self.max_epochs = max_epochs
        _dbn_init(self, hidden_layer_sizes, visible, k, persistent, pretrain_epochs,
                  pretrain_learning_rate, pretrain_batch_size, pretrain_momentum,
                  pretrain_weight_decay, dropout, learning_rate, momentum, nesterov,
                  weight_decay, schedule, clip_norm, batch_size, max_iter, early_stopping,
                  validation_fraction, patience, tol, dtype, random_state, verbose)
