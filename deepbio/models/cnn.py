"""Convolutional networks for images and biological sequences (maths in ``docs/models/cnn.md``).

Two inputs, chosen by ``input_type`` (``"auto"``: by the rank of ``X``):

* images ``(N, C, H, W)`` (rank 4): stages ``Conv2D -> activation -> pool``, then
  ``Flatten`` and dense layers.  Default: LeNet-5 (6 and 16 filters of 5x5, 2x2 max
  pooling, dense 120 and 84);
* one-hot sequences ``(N, L, A)`` (rank 3, e.g. DNA with A = 4), with an optional mask
  ``(N, L)`` for end-padded variable lengths: ``Conv1D -> activation`` stages (1-d
  pooling between them), a global max pool over the sequence, then dense layers.
  Default: one stage of 16 filters of width 11 (DeepBind-like motif scanners).

Both are trained end to end by :class:`deepbio.optim.SGD` on the matching loss.  After
``fit`` the network is described by ``layers_`` (each layer's class name and
``get_config()``), ``params_`` (every parameter array, network order) and
``input_shape_``: enough to rebuild it, so :mod:`deepbio.io` saves and loads it.

The CNN and RNN estimators share their base (:mod:`deepbio.models._layered`) and input
checks (:mod:`deepbio.models._checks`).
"""
import numpy as np

from .._validation import (Interval, IntSequence, Options, check_array,
                           y_none_message)
from ..nn import Dense, Dropout, Flatten, layer_from_config
from ..nn.conv import ChannelsFirst, Conv1D, Conv2D
from ..nn.masking import SequenceMask
from ..nn.pool import AvgPool1D, AvgPool2D, GlobalMaxPool1D, MaxPool1D, MaxPool2D
from ._base import RegressorMixin, r2_score, resolve_rng
from ._checks import (_ints, check_images, check_labels, check_sequence_lengths,
                      check_sequences, with_mask_channel)
from ._layered import LayeredEstimator, MaskedClassifierMixin
from ._base import global_classification_targets
from ._training import SGD_CONSTRAINTS, _accuracy_metric, fit_target_scaling, one_hot_labels

__all__ = ["CNNClassifier", "CNNRegressor"]


# ------------------------------------------------------------------------------- CNN

_CNN_CONSTRAINTS = dict(
    SGD_CONSTRAINTS,
    input_type=[Options("auto", "image", "sequence")],
    filters=[None, IntSequence(1)],
    kernel_size=[None, IntSequence(1)],
    padding=[Options("same", "valid"), IntSequence(0)],
    pool_size=[None, Interval("int", 1, None)],
    pooling=[Options("max", "avg")],
    activation=[Options("relu", "tanh", "sigmoid", "linear")],
    hidden_layer_sizes=[None, IntSequence(1, allow_empty=True)],
)

_CNN_DOC_PARAMS = """
    input_type : {"auto", "image", "sequence"}, default="auto"
        ``"auto"``: 4-d ``X`` is images (N, C, H, W), 3-d ``X`` is sequences (N, L, A).
    filters : int or tuple of int, default=None
        Filters of each convolution stage.  None: ``(6, 16)`` for images (LeNet-5),
        ``(16,)`` for sequences.
    kernel_size : int or tuple of int, default=None
        Kernel size of each stage (square kernels for images).  None: 5 for images,
        11 for sequences.
    padding : "same", "valid", int or tuple of int, default="same"
        Zeros added on each side: ``"same"`` is ``kernel_size // 2`` (the output keeps
        the input size for odd kernels), ``"valid"`` none.
    pool_size : int or None, default=2
        Pooling window (and stride) after each image stage, and between sequence
        stages; None: no pooling there.  The last sequence stage always ends in a
        global max pool over the whole sequence.
    pooling : {"max", "avg"}, default="max"
    activation : {"relu", "tanh", "sigmoid", "linear"}, default="relu"
        Non-linearity of the convolutions and of the hidden dense layers.
    hidden_layer_sizes : tuple of int, default=None
        Dense layers after the convolutions.  None: ``(120, 84)`` for images (LeNet-5),
        ``(32,)`` for sequences.
    dropout : float in [0, 1), default=0.0
        Dropout before every dense layer.
    learning_rate : float > 0, default=0.05
    momentum : float in [0, 1), default=0.9
    nesterov : bool, default=False
    weight_decay : float >= 0, default=0.0
    schedule : {"constant", "inverse_scaling", "step", "cosine"}, default="constant"
    clip_norm : float > 0 or None, default=1.0
        Clip the gradient to this global L2 norm (None: no clipping); on by default, see
        ``docs/models/defaults.md``.
    batch_size : int, default=32
    max_iter : int, default=30
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

_CNN_DOC_ATTRS = """
    input_type_ : {"image", "sequence"}
    n_features_in_ : int
        Alphabet size A (sequences) or C * H * W (images).
    image_shape_ : tuple (C, H, W)
        Images only.
    layers_ : list of dict
        The network: ``{"name": layer class, "config": its get_config()}`` per layer.
    params_ : list of ndarray
        Every parameter array, in network order (``Conv2D.w`` is (F, C, KH, KW), ...).
    input_shape_ : tuple
        The network's per-sample input shape at fit.
    history_ : list of dict
        Per epoch: ``epoch``, ``loss``, ``val_loss``, ``val_metric``, ``lr``, ``time``.
    n_iter_ : int
"""


class _CNNBase(LayeredEstimator):
    _parameter_constraints = _CNN_CONSTRAINTS

    def __init__(self, input_type="auto", filters=None, kernel_size=None, padding="same",
                 pool_size=2, pooling="max", activation="relu", hidden_layer_sizes=None,
                 dropout=0.0, learning_rate=0.05, momentum=0.9, nesterov=False,
                 weight_decay=0.0, schedule="constant", clip_norm=1.0, batch_size=32,
                 max_iter=30, early_stopping=False, validation_fraction=0.1, patience=10,
                 tol=1e-4, dtype="float32", random_state=None, verbose=0,
                 optimizer="sgd", max_epochs="deprecated", comm=None):
        self.comm = comm
        self.optimizer = optimizer
        self.max_epochs = max_epochs
        self.input_type = input_type
        self.filters = filters
        self.kernel_size = kernel_size
        self.padding = padding
        self.pool_size = pool_size
        self.pooling = pooling
        self.activation = activation
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

    # ----------------------------------------------------------------- inputs
    def _kind(self, X):
        if self.input_type != "auto":
            return self.input_type
        try:
            ndim = np.ndim(X)
        except ValueError:
            ndim = 3              # ragged: a list of sequences; check_sequences says so
        if ndim == 4:
            return "image"
        if ndim == 3:
            return "sequence"
        raise ValueError(f"X must be images (n_images, channels, height, width) or sequences "
                         f"(n_sequences, length, n_features); got a {ndim}-d array. Set "
                         f"input_type to say which")

    def _inputs(self, X, mask, fitting):
        """The network input for ``X`` (and ``mask``), validated."""
        if fitting:
            kind = self._kind(X)
        else:
            self._check_fitted()
            kind = self.input_type_
        if kind == "image":
            if mask is not None:
                raise ValueError("mask is only for sequences; images have no padding")
            X = check_images(X, None if fitting else self.image_shape_, type(self).__name__)
            if fitting:
                self.input_type_ = "image"
                self.image_shape_ = tuple(int(s) for s in X.shape[1:])
                self.n_features_in_ = int(np.prod(X.shape[1:]))
            return X
        X, m = check_sequences(X, mask, None if fitting else self.n_features_in_, prefix=True,
                               who=type(self).__name__)
        if fitting:
            self.input_type_ = "sequence"
            self.n_features_in_ = int(X.shape[2])
            layers = self._make_layers(X.shape[1:], 1)       # not built: just the plan
        else:
            layers = [layer_from_config(d["name"], d["config"]) for d in self.layers_]
        check_sequence_lengths(m, layers)
        return with_mask_channel(X, m)

    # ---------------------------------------------------------------- network
    def _architecture(self, kind):
        image = kind == "image"
        filters = _ints(self.filters if self.filters is not None else
                        ((6, 16) if image else (16,)), name="filters")
        n = len(filters)
        kernels = _ints(self.kernel_size if self.kernel_size is not None else
                        (5 if image else 11), n, "kernel_size")
        if self.padding == "same":
            pads = tuple(k // 2 for k in kernels)
        elif self.padding == "valid":
            pads = (0,) * n
        else:
            pads = _ints(self.padding, n, "padding")
        hidden = self.hidden_layer_sizes
        hidden = _ints(((120, 84) if image else (32,)) if hidden is None else hidden)
        return filters, kernels, pads, hidden

    def _make_layers(self, input_shape, n_out):
        kind = self.input_type_
        filters, kernels, pads, hidden = self._architecture(kind)
        act = self.activation
        layers = []
        if kind == "image":
            pool = MaxPool2D if self.pooling == "max" else AvgPool2D
            for f, k, p in zip(filters, kernels, pads):
                layers.append(Conv2D(f, k, padding=p, activation=act))
                if self.pool_size is not None and self.pool_size > 1:
                    layers.append(pool(self.pool_size))
            layers.append(Flatten())
        else:
            pool = MaxPool1D if self.pooling == "max" else AvgPool1D
            layers += [SequenceMask(), ChannelsFirst()]
            for i, (f, k, p) in enumerate(zip(filters, kernels, pads)):
                layers.append(Conv1D(f, k, padding=p, activation=act))
                if i < len(filters) - 1 and self.pool_size is not None and self.pool_size > 1:
                    layers.append(pool(self.pool_size))
            layers.append(GlobalMaxPool1D())
        for units in hidden:
            if self.dropout > 0:
                layers.append(Dropout(self.dropout))
            layers.append(Dense(units, act))
        if self.dropout > 0:
            layers.append(Dropout(self.dropout))
        layers.append(Dense(n_out, "linear"))
        return layers

    def first_layer_filters(self):
        """The first convolution's weights as a NumPy array: (F, C, KH, KW) for images,
        (F, A, K) for sequences (channel ``a`` = letter ``a`` of the alphabet), and its
        biases (F,)."""
        self._check_fitted()
        i = 0
        for d in self.layers_:
            if d["name"] in ("Conv1D", "Conv2D"):
                return self.params_[i], self.params_[i + 1]
            i += len(layer_from_config(d["name"], d["config"]).param_names)
        raise ValueError("the network has no convolution layer")


class CNNClassifier(MaskedClassifierMixin, _CNNBase):
    __doc__ = """Convolutional network classifier for images or one-hot sequences.

    Images (N, C, H, W): ``[Conv2D(f_i, k_i) -> activation -> pool] * stages -> Flatten
    -> Dense * hidden -> softmax``; the default is LeNet-5.  Sequences (N, L, A): ``[Conv1D
    -> activation (-> pool)] * stages -> global max pool -> Dense * hidden -> softmax``;
    pass ``mask`` (N, L) with end-padded variable-length sequences (from
    :func:`deepbio.datasets.one_hot` or :func:`~deepbio.datasets.pad_sequences`).  Small
    images: "same" padding keeps the maps from shrinking, so LeNet-5 runs on 8x8 digits
    (8 -> pool -> 4 -> pool -> 2).

    Parameters
    ----------""" + _CNN_DOC_PARAMS + """
    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)""" + _CNN_DOC_ATTRS + """
    References
    ----------
    Y. LeCun, L. Bottou, Y. Bengio, P. Haffner. Gradient-based learning applied to
    document recognition. Proc. IEEE 86(11), 1998.  B. Alipanahi, A. Delong, M. T.
    Weirauch, B. J. Frey. Predicting the sequence specificities of DNA- and RNA-binding
    proteins by deep learning (DeepBind). Nat. Biotechnol. 33, 2015.

    Examples
    --------
    >>> from deepbio.models.cnn import CNNClassifier
    >>> from deepbio.datasets import make_motif_sequences, one_hot
    >>> seqs, y = make_motif_sequences(n=200, length=40, random_state=0)
    >>> X, mask = one_hot(seqs)
    >>> clf = CNNClassifier(kernel_size=7, max_iter=5, random_state=0).fit(X, y, mask=mask)
    >>> clf.predict_proba(X, mask=mask).shape
    (200, 2)
    """

    _loss = "softmax_cross_entropy"

    def fit(self, X, y, mask=None, checkpoint=None, checkpoint_every=1, resume=None):
        """Fit on images (N, C, H, W) or sequences (N, L, A) with optional ``mask`` (N, L),
        and labels ``y`` (N,) of any type.

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
        Xin = self._inputs(X, mask, fitting=True)
        y = check_labels(y, Xin.shape[0])
        self.classes_, y_enc = global_classification_targets(y, self.comm)
        rng = resolve_rng(self.random_state)
        self._train(Xin, one_hot_labels(y_enc, len(self.classes_), self.dtype), rng,
                    len(self.classes_), metric=_accuracy_metric,
                    checkpoint=checkpoint, checkpoint_every=checkpoint_every, resume=resume)
        return self

    def partial_fit(self, X, y, classes=None, mask=None):
        """One SGD epoch over ``(X, y)``; the first call builds the network (pass every
        label in ``classes`` unless this ``y`` has them all; later calls may repeat
        ``classes`` but not change it: ValueError).  FloatingPointError if training
        diverges; the model is then left unfitted.

        Returns
        -------
        self
        """
        first, Xin = self._partial_start(X, mask)
        y = check_labels(y, Xin.shape[0])
        y_enc = self._partial_fit_labels(y, classes, first)
        self._partial_train(Xin, one_hot_labels(y_enc, len(self.classes_), self.dtype),
                            len(self.classes_), first)
        return self

    def predict_proba(self, X, mask=None):
        """Class probabilities (N, n_classes), columns in ``classes_`` order."""
        return self._output(self._inputs(X, mask, fitting=False)).astype(np.float64)


class CNNRegressor(RegressorMixin, _CNNBase):
    __doc__ = """Convolutional network regressor for images or one-hot sequences.

    The architecture of :class:`CNNClassifier` with a linear output and the half
    squared-error loss.  Targets are standardised internally (``y_mean_``, ``y_scale_``).

    Parameters
    ----------""" + _CNN_DOC_PARAMS + """
    Attributes
    ----------""" + _CNN_DOC_ATTRS + """
    y_mean_, y_scale_ : ndarray of shape (n_outputs,)
    """

    _loss = "squared_error"

    def fit(self, X, y, mask=None, checkpoint=None, checkpoint_every=1, resume=None):
        """Fit on images or sequences (with ``mask``) and real targets ``y`` (N,) or
        (N, n_outputs).

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
        Xin = self._inputs(X, mask, fitting=True)
        y = self._check_targets(y, Xin.shape[0], fitted=False)
        Y = self._fit_target_scaling(y)
        self._train(Xin, self._scaled(Y), resolve_rng(self.random_state), Y.shape[1],
                    checkpoint=checkpoint, checkpoint_every=checkpoint_every, resume=resume)
        return self

    def partial_fit(self, X, y, mask=None):
        """One SGD epoch over ``(X, y)`` (with ``mask`` for sequences); the first call
        builds the network and fixes the target standardisation from this ``y``.

        Returns
        -------
        self
        """
        first, Xin = self._partial_start(X, mask)
        y = self._check_targets(y, Xin.shape[0], fitted=not first)
        Y = self._fit_target_scaling(y) if first else y.reshape(len(y), -1)
        self._partial_train(Xin, self._scaled(Y), Y.shape[1], first)
        return self

    def _check_targets(self, y, n, fitted):
        """``y`` as a finite float array (n,) or (n, n_outputs); ValueError naming ``y``
        for NaN, a wrong length, or (once ``fitted``) a different number of outputs."""
        if y is None:
            raise ValueError(y_none_message(self))
        y = check_array(y, "y", ndim=(1, 2), min_samples=0)
        if y.shape[0] != n:
            raise ValueError(f"y has the wrong length: X has {n} samples but y has "
                             f"{y.shape[0]}")
        n_outputs = 1 if y.ndim == 1 else y.shape[1]
        if fitted and n_outputs != self.n_outputs_:
            raise ValueError(f"y has {n_outputs} output(s), but the {type(self).__name__} "
                             f"was fitted with {self.n_outputs_}")
        return y

    def _fit_target_scaling(self, y):
        """Learn ``y_mean_`` / ``y_scale_`` from ``y``; return it as (n_samples, n_outputs)."""
        return fit_target_scaling(self, y)

    def _scaled(self, Y):
        """Targets (n, n_outputs) standardised as the network learns them."""
        return ((Y - self.y_mean_) / self.y_scale_).astype(self.dtype)

    def predict(self, X, mask=None):
        """Predicted targets, shape (N,) (or (N, n_outputs))."""
        out = self._output(self._inputs(X, mask, fitting=False)).astype(np.float64)
        out = out * self.y_scale_ + self.y_mean_
        return out[:, 0] if self.target_ndim_ == 1 else out

    def score(self, X, y, mask=None, sample_weight=None):
        """R^2 of ``predict(X, mask)``."""
        pred = self.predict(X, mask)
        y = self._check_targets(y, pred.shape[0], fitted=True)
        return r2_score(y, pred, sample_weight)
