"""Recurrent networks for sequences: one label per sequence, or one per position.

Maths in ``docs/models/rnn.md``.  Inputs are sequence-major ``(N, T, D)`` arrays (e.g.
one-hot DNA or protein from :func:`deepbio.datasets.one_hot`, or real-valued features),
with an optional boolean ``mask`` (N, T), True on real positions, for variable-length
sequences padded to a common ``T``.  The network is

``SequenceMask -> [Elman | LSTM | GRU] * len(units) (-> Dropout) -> Dense * hidden -> output``

where :class:`~deepbio.nn.masking.SequenceMask` carries the mask into the recurrent
layers (padded steps keep the state and get zero gradient), and the output is a dense
softmax layer on the last state (:class:`RNNClassifier`), a linear layer on the last
state with the squared error (:class:`RNNRegressor`), or a softmax on every state
(:class:`RNNTagger`, whose loss averages over real positions only).  Training is
minibatch SGD with gradient clipping (``clip_norm``, on by default) and optionally
truncated back-propagation through time (``bptt_steps``).
"""
import numpy as np

from .._validation import Interval, IntSequence, Options, check_array
from ..nn import (GRU, LSTM, Dense, Dropout, Elman, MaskedSoftmaxCrossEntropy, SequenceMask,
                  TimeDistributedDense)
from ._base import ClassifierMixin, RegressorMixin, current_backend, r2_score, resolve_rng
from ._checks import _ints, check_labels, check_sequences, with_mask_channel
from ._layered import LayeredEstimator, MaskedClassifierMixin
from ._base import global_classification_targets
from ._training import SGD_CONSTRAINTS, _accuracy_metric, fit_target_scaling, one_hot_labels

__all__ = ["RNNClassifier", "RNNRegressor", "RNNTagger"]

_RNN_CONSTRAINTS = dict(
    SGD_CONSTRAINTS,
    cell=[Options("elman", "lstm", "gru")],
    units=[IntSequence(1)],
    activation=[Options("tanh", "relu")],
    bidirectional=["boolean"],
    bptt_steps=[None, Interval("int", 1, None)],
    forget_bias=[Interval("real", None, None)],
    hidden_layer_sizes=[IntSequence(1, allow_empty=True)],
)

_RNN_DOC_PARAMS = """
    cell : {"elman", "lstm", "gru"}, default="lstm"
        The recurrent cell: Elman (simple), LSTM, or GRU (PyTorch's formulation; see
        :class:`deepbio.nn.GRU`).
    units : int or tuple of int, default=64
        Hidden units of each recurrent layer (a tuple stacks layers; all but the last
        pass their whole sequence of states to the next).
    activation : {"tanh", "relu"}, default="tanh"
        Non-linearity of Elman cells (the LSTM's and GRU's are fixed).
    bidirectional : bool, default=False
        Add a backward-reading twin to every recurrent layer.
    bptt_steps : int or None, default=None
        Truncated back-propagation through time: the gradient flows back through at most
        the current window of ``bptt_steps`` steps (windows counted from each sequence's
        first real position, or its last for the backward-reading direction, so padding
        changes nothing).  None: full BPTT.
    forget_bias : float, default=1.0
        Initial bias of the gate that keeps a unit's state: the LSTM's forget gate, the
        GRU's update gate (``update_bias`` of :class:`deepbio.nn.GRU`).  Not used by
        Elman cells.
    hidden_layer_sizes : tuple of int, default=()
        Dense layers (tanh) between the recurrent layers and the output.
    dropout : float in [0, 1), default=0.0
        Dropout after every recurrent and hidden layer.
    learning_rate : float > 0, default=0.05
    momentum : float in [0, 1), default=0.9
    nesterov : bool, default=False
    weight_decay : float >= 0, default=0.0
    schedule : {"constant", "inverse_scaling", "step", "cosine"}, default="constant"
    clip_norm : float > 0 or None, default=1.0
        Gradient clipping to this global L2 norm (exploding gradients).
    batch_size : int, default=32
    max_iter : int, default=20
        Training epochs (with ``optimizer=\"hf\"``: HF iterations), scikit-learn's
        name; ``max_epochs``, the old name, still works and warns that it is deprecated.
    early_stopping : bool, default=False
    validation_fraction : float in (0, 1), default=0.1
    patience : int, default=10
    tol : float >= 0, default=1e-4
    dtype : {"float32", "float64"}, default="float32"
    random_state : None, int or numpy.random.Generator, default=None
    verbose : int, default=0
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

_RNN_DOC_ATTRS = """
    n_features_in_ : int
        Features per position D.
    layers_, params_, input_shape_
        The fitted network (see :class:`deepbio.models.cnn.CNNClassifier`).
    history_ : list of dict
        Per epoch: ``epoch``, ``loss``, ``val_loss``, ``val_metric``, ``lr``, ``time``.
    n_iter_ : int
"""


class _RNNBase(LayeredEstimator):
    _parameter_constraints = _RNN_CONSTRAINTS
    _per_position = False

    def __init__(self, cell="lstm", units=64, activation="tanh", bidirectional=False,
                 bptt_steps=None, forget_bias=1.0, hidden_layer_sizes=(), dropout=0.0,
                 learning_rate=0.05, momentum=0.9, nesterov=False, weight_decay=0.0,
                 schedule="constant", clip_norm=1.0, batch_size=32, max_iter=20,
                 early_stopping=False, validation_fraction=0.1, patience=10, tol=1e-4,
                 dtype="float32", random_state=None, verbose=0,
                 optimizer="sgd", max_epochs="deprecated", comm=None):
        self.comm = comm
        self.optimizer = optimizer
        self.max_epochs = max_epochs
        self.cell = cell
        self.units = units
        self.activation = activation
        self.bidirectional = bidirectional
        self.bptt_steps = bptt_steps
        self.forget_bias = forget_bias
        self.hidden_layer_sizes = hidden_layer_sizes
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

    def _inputs(self, X, mask, fitting):
        """``[X, mask]`` (N, T, D + 1) for the network, validated; also the mask."""
        if not fitting:
            self._check_fitted()
        X, m = check_sequences(X, mask, None if fitting else self.n_features_in_,
                               who=type(self).__name__)
        if fitting:
            self.n_features_in_ = int(X.shape[2])
        return with_mask_channel(X, m), m

    def _make_layers(self, input_shape, n_out):
        layers = [SequenceMask()]
        sizes = _ints(self.units)
        for i, units in enumerate(sizes):
            seq = self._per_position or i < len(sizes) - 1
            if self.cell == "elman":
                layers.append(Elman(units, self.activation, seq, self.bidirectional,
                                    self.bptt_steps))
            elif self.cell == "gru":
                layers.append(GRU(units, seq, self.bidirectional, self.bptt_steps,
                                  self.forget_bias))
            else:
                layers.append(LSTM(units, seq, self.bidirectional, self.bptt_steps,
                                   self.forget_bias))
            if self.dropout > 0:
                layers.append(Dropout(self.dropout))
        dense = TimeDistributedDense if self._per_position else Dense
        for units in _ints(self.hidden_layer_sizes):
            layers.append(dense(units, "tanh"))
            if self.dropout > 0:
                layers.append(Dropout(self.dropout))
        layers.append(dense(n_out, "linear"))
        return layers


class RNNClassifier(MaskedClassifierMixin, _RNNBase):
    __doc__ = """Recurrent network classifier: one label per sequence.

    The last state of the (last) recurrent layer, after the last real position of each
    sequence, feeds a softmax layer; loss the mean cross-entropy.

    Parameters
    ----------""" + _RNN_DOC_PARAMS + """
    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)""" + _RNN_DOC_ATTRS + """
    References
    ----------
    J. L. Elman. Finding structure in time. Cognitive Science 14, 1990.
    S. Hochreiter, J. Schmidhuber. Long short-term memory. Neural Computation 9, 1997.

    Examples
    --------
    >>> from deepbio.models.rnn import RNNClassifier
    >>> from deepbio.datasets import make_long_range_sequences
    >>> X, y = make_long_range_sequences(n=300, length=10, random_state=0)
    >>> clf = RNNClassifier(cell="elman", units=16, max_iter=10, random_state=0).fit(X, y)
    >>> clf.score(X, y) > 0.9
    True
    """

    _loss = "softmax_cross_entropy"

    def fit(self, X, y, mask=None, checkpoint=None, checkpoint_every=1, resume=None):
        """Fit on sequences ``X`` (N, T, D), optional ``mask`` (N, T) and labels ``y`` (N,).

        Parameters
        ----------
        checkpoint, checkpoint_every, resume
            Checkpoint and resume (docs/reliability.md): write a training checkpoint to
            the path ``checkpoint`` every ``checkpoint_every`` epochs (atomically; the
            previous one kept as ``PATH.prev``), or continue the fit from the checkpoint
            ``resume`` (same data, settings and ``random_state``: the weights then equal
            those of an uninterrupted fit).

        Returns
        -------
        self
        """
        self._validate_params()
        Xin, _ = self._inputs(X, mask, fitting=True)
        y = check_labels(y, Xin.shape[0])
        self.classes_, y_enc = global_classification_targets(y, self.comm)
        self._train(Xin, one_hot_labels(y_enc, len(self.classes_), self.dtype),
                    resolve_rng(self.random_state), len(self.classes_),
                    metric=_accuracy_metric,
                    checkpoint=checkpoint, checkpoint_every=checkpoint_every, resume=resume)
        return self

    def partial_fit(self, X, y, classes=None, mask=None):
        """One SGD epoch over ``(X, y)``; the first call builds the network (and fixes
        ``classes_``: from ``classes`` when given; later calls may repeat ``classes`` but
        not change it: ValueError).  FloatingPointError if training diverges; the model
        is then left unfitted.

        Returns
        -------
        self
        """
        first, (Xin, _) = self._partial_start(X, mask)
        y = check_labels(y, Xin.shape[0])
        y_enc = self._partial_fit_labels(y, classes, first)
        self._partial_train(Xin, one_hot_labels(y_enc, len(self.classes_), self.dtype),
                            len(self.classes_), first)
        return self

    def predict_proba(self, X, mask=None):
        """Class probabilities (N, n_classes)."""
        Xin, _ = self._inputs(X, mask, fitting=False)
        return self._output(Xin).astype(np.float64)


def _masked_accuracy(network, X, Y):
    """Accuracy over real positions (target rows that are not all zero)."""
    be = current_backend()
    xp = be.xp
    z = network.forward(X, train=False)
    real = Y.sum(axis=-1) > 0
    hit = (xp.argmax(z, axis=-1) == xp.argmax(Y, axis=-1)) & real
    return be.scalar(hit.sum() / xp.maximum(real.sum(), 1))


class RNNTagger(ClassifierMixin, _RNNBase):
    __doc__ = """Recurrent sequence tagger: one label per position (e.g. per-residue
    secondary structure).

    Every state of the recurrent layers feeds a softmax over the classes at that
    position (:class:`~deepbio.nn.layers.TimeDistributedDense`); the loss is the
    cross-entropy averaged over the real positions of the batch
    (:class:`~deepbio.nn.losses.MaskedSoftmaxCrossEntropy`), so padding never changes
    the loss, the gradient or the predictions at real positions.  Use
    ``bidirectional=True`` when a position's label depends on what follows it.

    ``y`` is (N, T): labels of any type; entries at padded positions (mask False) are
    ignored (fill them with anything).  ``predict`` returns (N, T); its entries at
    padded positions are ``classes_[0]`` and mean nothing.

    Parameters
    ----------""" + _RNN_DOC_PARAMS + """
    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Labels seen at real positions.""" + _RNN_DOC_ATTRS + """
    Examples
    --------
    >>> import numpy as np
    >>> from deepbio.models.rnn import RNNTagger
    >>> X = np.eye(4)[np.random.default_rng(0).integers(0, 4, (100, 12))]
    >>> y = X.argmax(axis=2) % 2                # tag = parity of the symbol
    >>> tagger = RNNTagger(cell="elman", units=8, max_iter=10, random_state=0).fit(X, y)
    >>> tagger.predict(X).shape
    (100, 12)
    """

    _loss = MaskedSoftmaxCrossEntropy.name
    _per_position = True

    def _targets(self, y, m, classes=None, first=True):
        """One-hot targets (N, T, K), zero rows at padded positions.

        The labels at real positions are encoded by ``_partial_fit_labels``: the
        ``first`` call (and ``fit``) fixes ``classes_`` (from ``classes`` when given),
        later ones check ``classes`` and the labels against it."""
        y = np.asarray(y)
        if y.dtype == object and y.ndim == 1:
            raise ValueError("y is ragged: pad the per-position labels to (n_sequences, "
                             "length) like X (the entries at padded positions are ignored)")
        if y.shape != m.shape:
            raise ValueError(f"y must hold one label per position, shape (n_sequences, length)"
                             f" = {m.shape}, got {y.shape}")
        real = m > 0
        # NaN, infinity or None at a real position: the classifiers' check and message
        # (the index counts the real positions, row by row)
        labels = check_labels(y[real], int(real.sum()), what="the real positions of X")
        idx = self._partial_fit_labels(labels, classes, first)
        T = np.zeros(m.shape + (len(self.classes_),), dtype=self.dtype)
        n_i, t_i = np.nonzero(real)
        T[n_i, t_i, idx] = 1
        return T

    def fit(self, X, y, mask=None, checkpoint=None, checkpoint_every=1, resume=None):
        """Fit on sequences ``X`` (N, T, D), optional ``mask`` (N, T) and per-position
        labels ``y`` (N, T).

        Parameters
        ----------
        checkpoint, checkpoint_every, resume
            Checkpoint and resume (docs/reliability.md): write a training checkpoint to
            the path ``checkpoint`` every ``checkpoint_every`` epochs (atomically; the
            previous one kept as ``PATH.prev``), or continue the fit from the checkpoint
            ``resume`` (same data, settings and ``random_state``: the weights then equal
            those of an uninterrupted fit).

        Returns
        -------
        self
        """
        self._validate_params()
        Xin, m = self._inputs(X, mask, fitting=True)
        T = self._targets(y, m)
        self._train(Xin, T, resolve_rng(self.random_state), len(self.classes_),
                    metric=_masked_accuracy,
                    checkpoint=checkpoint, checkpoint_every=checkpoint_every, resume=resume)
        return self

    def partial_fit(self, X, y, classes=None, mask=None):
        """One SGD epoch over ``(X, y)``; the first call builds the network (and fixes
        ``classes_``: from ``classes`` when given; later calls may repeat ``classes`` but
        not change it: ValueError).  FloatingPointError if training diverges; the model
        is then left unfitted.

        Returns
        -------
        self
        """
        first, (Xin, m) = self._partial_start(X, mask)
        T = self._targets(y, m, classes, first)
        self._partial_train(Xin, T, len(self.classes_), first)
        return self

    def predict_proba(self, X, mask=None):
        """Per-position class probabilities (N, T, n_classes); zeros at padded positions."""
        Xin, m = self._inputs(X, mask, fitting=False)
        return self._output(Xin).astype(np.float64) * m[:, :, None]

    def predict(self, X, mask=None):
        """Most probable class at every position, shape (N, T) (``classes_[0]`` on
        padding)."""
        proba = self.predict_proba(X, mask)
        return self.classes_[np.argmax(proba, axis=2)]

    def score(self, X, y, mask=None):
        """Accuracy over the real positions."""
        _, m = self._inputs(X, mask, fitting=False)
        pred = self.predict(X, mask)
        y = np.asarray(y)
        if y.shape != pred.shape:
            raise ValueError(f"y must have shape {pred.shape}, got {y.shape}")
        real = m > 0
        return float(np.mean(pred[real] == y[real]))


class RNNRegressor(RegressorMixin, _RNNBase):
    __doc__ = """Recurrent network regressor: one real value (or vector) per sequence.

    The network of :class:`RNNClassifier` (the same ``cell`` choices and layers, masks
    and truncated BPTT) with a linear output on the last state after the last real
    position of each sequence, and the half squared-error loss.  Targets are
    standardised internally (``y_mean_``, ``y_scale_``: the loss is on the standardised
    scale, predictions are mapped back), as in :class:`deepbio.models.cnn.CNNRegressor`.
    With ``optimizer="hf"`` or a :class:`deepbio.optim.HessianFree` object it is the
    recurrent network of Martens & Sutskever (2011) on problems such as
    :func:`deepbio.datasets.make_addition_problem` (see docs/hf.md: structural damping
    is set on the HessianFree object, ``structural_damping=1/30``).

    ``y`` is (N,) or (N, n_outputs), finite reals; ``predict`` returns the same shape.

    Parameters
    ----------""" + _RNN_DOC_PARAMS + """
    Attributes
    ----------""" + _RNN_DOC_ATTRS + """
    y_mean_, y_scale_ : ndarray of shape (n_outputs,)
    n_outputs_ : int
    target_ndim_ : {1, 2}
        Whether ``fit`` saw a 1-d or a 2-d ``y`` (``predict`` answers alike).

    References
    ----------
    J. Martens and I. Sutskever. Learning recurrent neural networks with Hessian-free
    optimization. ICML 2011.

    Examples
    --------
    >>> import numpy as np
    >>> from deepbio.models.rnn import RNNRegressor
    >>> X = np.random.default_rng(0).random((200, 8, 1))
    >>> y = X[:, :, 0].mean(axis=1)                   # the mean of the sequence
    >>> reg = RNNRegressor(cell="elman", units=8, max_iter=30, random_state=0).fit(X, y)
    >>> reg.score(X, y) > 0.9
    True
    """

    _loss = "squared_error"

    def fit(self, X, y, mask=None, checkpoint=None, checkpoint_every=1, resume=None):
        """Fit on sequences ``X`` (N, T, D), optional ``mask`` (N, T) and real targets
        ``y`` (N,) or (N, n_outputs).

        Parameters
        ----------
        checkpoint, checkpoint_every, resume
            Checkpoint and resume (docs/reliability.md): write a training checkpoint to
            the path ``checkpoint`` every ``checkpoint_every`` epochs (atomically; the
            previous one kept as ``PATH.prev``), or continue the fit from the checkpoint
            ``resume`` (same data, settings and ``random_state``: the weights then equal
            those of an uninterrupted fit).

        Returns
        -------
        self
        """
        self._validate_params()
        Xin, _ = self._inputs(X, mask, fitting=True)
        y = self._check_targets(y, Xin.shape[0], fitted=False)
        Y = fit_target_scaling(self, y)
        self._train(Xin, self._scaled(Y), resolve_rng(self.random_state), Y.shape[1],
                    checkpoint=checkpoint, checkpoint_every=checkpoint_every, resume=resume)
        return self

    def partial_fit(self, X, y, mask=None):
        """One SGD epoch over ``(X, y)``; the first call builds the network and fixes
        the target standardisation from this ``y``.  FloatingPointError if training
        diverges.

        Returns
        -------
        self
        """
        first, (Xin, _) = self._partial_start(X, mask)
        y = self._check_targets(y, Xin.shape[0], fitted=not first)
        Y = fit_target_scaling(self, y) if first else y.reshape(len(y), -1)
        self._partial_train(Xin, self._scaled(Y), Y.shape[1], first)
        return self

    def _check_targets(self, y, n, fitted):
        """``y`` as a finite float array (n,) or (n, n_outputs); ValueError naming ``y``
        for NaN, a wrong length, or (once ``fitted``) a different number of outputs."""
        if y is None:
            raise ValueError("y is required: this estimator is supervised; got y=None")
        y = check_array(y, "y", ndim=(1, 2), min_samples=0)
        if y.shape[0] != n:
            raise ValueError(f"y has the wrong length: X has {n} sequences but y has "
                             f"{y.shape[0]}")
        n_outputs = 1 if y.ndim == 1 else y.shape[1]
        if fitted and n_outputs != self.n_outputs_:
            raise ValueError(f"y has {n_outputs} output(s), but the {type(self).__name__} "
                             f"was fitted with {self.n_outputs_}")
        return y

    def _scaled(self, Y):
        """Targets (n, n_outputs) standardised as the network learns them."""
        return ((Y - self.y_mean_) / self.y_scale_).astype(self.dtype)

    def predict(self, X, mask=None):
        """Predicted targets, shape (N,) (or (N, n_outputs))."""
        Xin, _ = self._inputs(X, mask, fitting=False)
        out = self._output(Xin).astype(np.float64) * self.y_scale_ + self.y_mean_
        return out[:, 0] if self.target_ndim_ == 1 else out

    def score(self, X, y, mask=None, sample_weight=None):
        """R^2 of ``predict(X, mask)`` (averaged over outputs)."""
        pred = self.predict(X, mask)
        y = self._check_targets(y, pred.shape[0], fitted=True)
        return r2_score(y, pred, sample_weight)
