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

This module also holds what the CNN and RNN estimators share (:class:`LayeredEstimator`,
:class:`MaskedClassifierMixin`, :func:`check_sequences`, :func:`check_images`).
"""
import numbers

import numpy as np

from .._validation import (Interval, IntSequence, Options, check_array,
                           check_classification_targets, check_sample_weight)
from ..nn import Dense, Dropout, Flatten, Network, layer_from_config
from ..nn.conv import ChannelsFirst, Conv1D, Conv2D
from ..nn.pool import AvgPool1D, AvgPool2D, GlobalMaxPool1D, MaxPool1D, MaxPool2D
from ..nn.recurrent import MaskedSoftmaxCrossEntropy, SequenceMask
from ._base import (BaseEstimator, ClassifierMixin, RegressorMixin, current_backend,
                    r2_score, resolve_rng, to_backend, to_host)
from ._network import (SGD_CONSTRAINTS, DeterministicWithHF, _accuracy_metric, child_seed,
                       fit_target_scaling, make_optimizer, one_hot_labels, partial_epoch)

__all__ = ["CNNClassifier", "CNNRegressor", "LayeredEstimator", "MaskedClassifierMixin",
           "check_sequences", "check_images"]

PREDICT_BATCH = 512


# ------------------------------------------------------------------------ input checks


def _as_float_array(X, name, what):
    """``X`` as a float64 NumPy array; ValueError for ragged or non-numeric input."""
    if hasattr(X, "get") and not isinstance(X, np.ndarray):
        X = X.get()                                   # CuPy
    try:
        arr = np.asarray(X)
    except ValueError:
        arr = None
    if arr is None or arr.dtype == object:
        raise ValueError(f"{name} is ragged: its {what} have different shapes. Pad sequences "
                         f"to one length with deepbio.datasets.pad_sequences (or one_hot for "
                         f"letters), which also returns the mask, and pass mask=...")
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold numbers, got dtype {arr.dtype} (one-hot encode "
                         f"letters with deepbio.datasets.one_hot)")
    return arr.astype(np.float64, copy=False)


def check_sequences(X, mask=None, n_features=None, prefix=False, who="model"):
    """Validate sequences ``X`` (N, T, D) and their mask; return ``(X, mask)`` as float64.

    ``mask`` (N, T), boolean or 0/1, is True on real positions (None: all real).  Padded
    positions of ``X`` are set to zero.  With ``prefix=True`` the mask must mark a prefix
    of every sequence (padding at the end, as :func:`deepbio.datasets.pad_sequences`
    gives).  ValueError, naming the problem, for: ragged input, wrong rank, no sequence,
    empty sequences (length 0 or no real position), NaN/inf, a feature count different
    from ``n_features`` (the alphabet size at fit), or a malformed mask.
    """
    X = _as_float_array(X, "X", "sequences")
    if X.ndim != 3:
        raise ValueError(f"X must be a 3-d array of sequences (n_sequences, length, "
                         f"n_features), e.g. one-hot DNA (N, L, 4); got a {X.ndim}-d array of "
                         f"shape {X.shape}")
    n, t, d = X.shape
    if n == 0:
        raise ValueError(f"X holds no sequence (shape {X.shape})")
    if t == 0:
        raise ValueError(f"X holds empty sequences (length 0, shape {X.shape}); every sequence "
                         f"needs at least one position")
    if d == 0:
        raise ValueError(f"X has no features per position (shape {X.shape})")
    if not np.isfinite(X).all():
        raise ValueError("X contains NaN or infinity")
    if n_features is not None and d != n_features:
        raise ValueError(f"X has {d} features per position, but the {who} was fitted with "
                         f"{n_features} (a different alphabet or encoding?)")
    if mask is None:
        m = np.ones((n, t))
    else:
        m = np.asarray(mask)
        if m.shape != (n, t):
            raise ValueError(f"mask must have shape (n_sequences, length) = {(n, t)}, got "
                             f"{m.shape}")
        if m.dtype.kind not in "biuf" or not np.isin(m, (0, 1)).all():
            raise ValueError("mask must be boolean (or 0/1): True on real positions, False on "
                             "padding")
        m = m.astype(np.float64)
    empty = m.sum(axis=1) == 0
    if empty.any():
        raise ValueError(f"sequence {int(np.argmax(empty))} is empty: its mask has no real "
                         f"position")
    if prefix:
        lengths = m.sum(axis=1)
        if not (m == (np.arange(t)[None, :] < lengths[:, None])).all():
            raise ValueError("mask must mark a prefix of every sequence (padding at the end "
                             "only), as deepbio.datasets.pad_sequences and one_hot give")
    return X * m[:, :, None], m


def check_images(X, image_shape=None, who="model"):
    """Validate images ``X`` (N, C, H, W); ``image_shape`` = (C, H, W) seen at fit."""
    X = _as_float_array(X, "X", "images")
    if X.ndim != 4:
        hint = " (add a channel axis, X[:, None], for grayscale images)" if X.ndim == 3 else ""
        raise ValueError(f"X must be a 4-d array of images (n_images, channels, height, width)"
                         f"; got a {X.ndim}-d array of shape {X.shape}{hint}")
    if X.shape[0] == 0 or 0 in X.shape[1:]:
        raise ValueError(f"X is empty (shape {X.shape})")
    if not np.isfinite(X).all():
        raise ValueError("X contains NaN or infinity")
    if image_shape is not None:
        c, h, w = image_shape
        if X.shape[1] != c:
            raise ValueError(f"X has {X.shape[1]} channel(s), but the {who} was fitted on "
                             f"images with {c} channel(s)")
        if tuple(X.shape[2:]) != (h, w):
            raise ValueError(f"X has images of {X.shape[2]}x{X.shape[3]} pixels, but the {who} "
                             f"was fitted on {h}x{w} images")
    return X


def min_sequence_length(layers):
    """Fewest real positions a sequence needs to pass through ``layers`` (in order).

    A 1-d convolution or pooling layer with kernel ``k``, stride ``s`` and padding ``p``
    gives ``(len + 2p - k) // s + 1`` outputs from ``len`` real positions (as
    :func:`deepbio.nn.conv.sequence_out_mask` counts them), so it gives at least ``need``
    outputs when ``len >= (need - 1) s + k - 2p``.  Starting from the last such layer,
    which must give at least one output, and working back to the input gives the
    receptive field of the stack.  Other layers keep the length.
    """
    need = 1
    for layer in reversed(layers):
        if isinstance(layer, Conv1D):
            k, s, p = layer.kernel_size, layer.stride, layer.padding
        elif isinstance(layer, (MaxPool1D, AvgPool1D)):
            k, s, p = layer.pool_size, layer.stride, 0
        else:
            continue
        need = max(1, (need - 1) * s + k - 2 * p)
    return need


def check_sequence_lengths(m, layers):
    """ValueError naming the first sequence (row of the mask ``m``) too short for
    ``layers``: one with fewer real positions than :func:`min_sequence_length`."""
    need = min_sequence_length(layers)
    lengths = m.sum(axis=1)
    short = lengths < need
    if short.any():
        i = int(np.argmax(short))
        stack = " -> ".join(
            f"Conv1D(kernel_size={layer.kernel_size}, padding={layer.padding})"
            if isinstance(layer, Conv1D) else f"{type(layer).__name__}({layer.pool_size})"
            for layer in layers if isinstance(layer, (Conv1D, MaxPool1D, AvgPool1D)))
        raise ValueError(
            f"sequence {i} of X has {int(lengths[i])} real position(s), but the layers "
            f"{stack} need at least {need} to give an output; use padding='same' or a "
            f"smaller kernel_size or pool_size, or leave out the short sequences")


def with_mask_channel(X, m):
    """``[X, mask]`` along the last axis: the input of a network led by SequenceMask."""
    return np.concatenate([X, m[:, :, None]], axis=2)


def _ints(v, n=None, name="value"):
    """An int or a sequence of ints as a tuple (repeated to length ``n`` if an int)."""
    if isinstance(v, numbers.Integral) and not isinstance(v, bool):
        return (int(v),) * (n if n is not None else 1)
    v = tuple(int(x) for x in v)
    if n is not None and len(v) != n:
        raise ValueError(f"{name} must be an int or have one entry per stage ({n}), got {v}")
    return v


def check_labels(y, n, what="X"):
    """Labels ``y`` (n,) for a classifier: ValueError if missing, of the wrong length, or
    holding NaN, infinity or None."""
    if y is None:
        raise ValueError("y is required: this estimator is supervised; got y=None")
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"y must be a 1-d array of labels, got shape {y.shape}")
    if y.shape[0] != n:
        raise ValueError(f"y has the wrong length: {what} has {n} samples but y has "
                         f"{y.shape[0]}")
    # a missing label is not a class (and NaN != NaN would make one class per NaN)
    if y.dtype.kind == "f":
        for kind, bad in (("NaN", np.isnan(y)), ("infinity", np.isinf(y))):
            if bad.any():
                raise ValueError(f"y contains {kind} (at index {int(np.argmax(bad))}); "
                                 f"remove or label those samples first")
    if y.dtype.kind == "O" and any(v is None or (isinstance(v, float) and v != v) for v in y):
        raise ValueError("y contains missing labels (None or NaN)")
    return y


# ----------------------------------------------------------------------- shared base


class LayeredEstimator(DeterministicWithHF, BaseEstimator):
    """An estimator around a :class:`deepbio.nn.Network` of any layers, trained by SGD.

    Subclasses implement ``_make_layers(input_shape, n_out) -> list of Layer`` (the last
    one linear) and set ``_loss`` (a loss name, or ``"masked_softmax_cross_entropy"``).
    The fitted network is kept as ``layers_`` / ``params_`` / ``input_shape_`` (plain
    JSON and arrays, so :mod:`deepbio.io` can save it) and rebuilt on demand.
    """

    _loss = None

    def _partial_start(self, X, mask):
        """``partial_fit``'s opening: the hyper-parameters are checked (at every call),
        then ``(first, inputs)``: whether this call builds the network, and ``X`` (with
        ``mask``) checked by ``_inputs``."""
        self._validate_params()
        first = not hasattr(self, "layers_")
        return first, self._inputs(X, mask, fitting=first)

    def _assemble(self, layers, input_shape, seed):
        loss = (MaskedSoftmaxCrossEntropy() if self._loss == MaskedSoftmaxCrossEntropy.name
                else self._loss)
        # (a leading SequenceMask is wired to the layers after it by Network itself)
        return Network(layers, loss, dtype=str(np.dtype(self.dtype))).build(input_shape, seed)

    def _store(self, net):
        self.input_shape_ = tuple(int(s) for s in net.input_shape)
        self.layers_ = [{"name": type(layer).__name__, "config": layer.get_config()}
                        for layer in net.layers]
        self.params_ = [to_host(p).copy() for layer in net.layers for p in layer.params]
        self._cache_net = net

    def _net(self):
        """The fitted network on the active backend (rebuilt from ``layers_`` if needed)."""
        be = current_backend()
        net = getattr(self, "_cache_net", None)
        if net is None or not isinstance(net.theta, be.array_type):
            layers = [layer_from_config(d["name"], d["config"]) for d in self.layers_]
            net = self._assemble(layers, self.input_shape_, 0)
            if self.params_:
                net.set_flat(np.concatenate([np.ravel(p) for p in self.params_]))
            self._cache_net = net
        return net

    def _train(self, Xin, T, rng, n_out, metric=None):
        layers = self._make_layers(Xin.shape[1:], n_out)
        net = self._assemble(layers, Xin.shape[1:], child_seed(rng))
        be = current_backend()
        sgd = make_optimizer(self, child_seed(rng))
        self.history_ = sgd.minimize(net, be.asarray(Xin, net.dtype), be.asarray(T, net.dtype),
                                     metric=metric)
        self.n_iter_ = len(self.history_)
        self._optimizer = sgd
        self._store(net)

    def _partial_train(self, Xin, T, n_out, first):
        """One optimiser epoch over ``(Xin, T)`` from the current weights (built on first call)."""
        if first:
            rng = resolve_rng(self.random_state)
            net = self._assemble(self._make_layers(Xin.shape[1:], n_out), Xin.shape[1:],
                                 child_seed(rng))
            self._store(net)
            self._optimizer = make_optimizer(self, child_seed(rng), max_epochs=1,
                                                  early_stopping=False)
            self.history_, self.n_iter_ = [], 0
        net = self._net()
        if tuple(net.input_shape) != tuple(Xin.shape[1:]):
            # sequences of another padded length: the same weights in a network built
            # for this length (sequence layers have no length-dependent parameters)
            theta = net.get_flat()
            layers = [layer_from_config(d["name"], d["config"]) for d in self.layers_]
            net = self._assemble(layers, Xin.shape[1:], 0)
            net.set_flat(theta)
        partial_epoch(self, net, Xin, T)
        self._store(net)

    def _output(self, Xin):
        """``g(z)`` of the fitted network (class probabilities or regression output), as a
        NumPy array; in batches, through the layers directly so any sequence length works."""
        net = self._net()
        be = current_backend()
        outs = []
        for start in range(0, Xin.shape[0], PREDICT_BATCH):
            a = to_backend(be, Xin[start:start + PREDICT_BATCH], net.dtype)
            for layer in net.layers:
                a = layer.forward(a, train=False)
            outs.append(to_host(net.loss_fn.output(a)))
        return np.concatenate(outs, axis=0)

    @property
    def network_(self):
        """The fitted :class:`deepbio.nn.Network` (rebuilt on the active backend)."""
        self._check_fitted()
        return self._net()


class MaskedClassifierMixin(ClassifierMixin):
    """:class:`ClassifierMixin` for the CNN / RNN classifiers, whose inputs take a
    ``mask``: ``predict`` and ``score`` pass it on; ``score`` checks ``y`` as
    :func:`check_labels` and ``sample_weight`` as ``ClassifierMixin.score`` does."""

    def predict(self, X, mask=None):
        """Most probable class of every image or sequence, shape (N,)."""
        proba = self.predict_proba(X, mask)
        return self.classes_[np.argmax(proba, axis=1)]

    def score(self, X, y, mask=None, sample_weight=None):
        """Mean accuracy of ``predict(X, mask)`` against ``y`` (weighted by
        ``sample_weight``, shape (N,))."""
        pred = self.predict(X, mask)
        y = check_labels(y, pred.shape[0])
        w = check_sample_weight(sample_weight, y.shape[0])
        return float(np.average(pred == y, weights=w))


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
    clip_norm : float > 0 or None, default=None
    batch_size : int, default=32
    max_epochs : int, default=30
    early_stopping : bool, default=False
    validation_fraction : float in (0, 1), default=0.1
    patience : int, default=10
    tol : float >= 0, default=1e-4
    dtype : {"float32", "float64"}, default="float32"
    random_state : None, int or numpy.random.Generator, default=None
    verbose : int, default=0
    optimizer : "sgd", "hf", SGD or HessianFree, default="sgd"
        What trains the network: minibatch SGD from the hyper-parameters above, or
        Hessian-free optimisation ("hf": ``max_epochs`` HF iterations; pass a
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
                 weight_decay=0.0, schedule="constant", clip_norm=None, batch_size=32,
                 max_epochs=30, early_stopping=False, validation_fraction=0.1, patience=10,
                 tol=1e-4, dtype="float32", random_state=None, verbose=0,
                 optimizer="sgd"):
        self.optimizer = optimizer
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
        self.max_epochs = max_epochs
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
    >>> clf = CNNClassifier(kernel_size=7, max_epochs=5, random_state=0).fit(X, y, mask=mask)
    >>> clf.predict_proba(X, mask=mask).shape
    (200, 2)
    """

    _loss = "softmax_cross_entropy"

    def fit(self, X, y, mask=None):
        """Fit on images (N, C, H, W) or sequences (N, L, A) with optional ``mask`` (N, L),
        and labels ``y`` (N,) of any type.

        Returns
        -------
        self
        """
        self._validate_params()
        Xin = self._inputs(X, mask, fitting=True)
        y = check_labels(y, Xin.shape[0])
        self.classes_, y_enc = check_classification_targets(y)
        rng = resolve_rng(self.random_state)
        self._train(Xin, one_hot_labels(y_enc, len(self.classes_), self.dtype), rng,
                    len(self.classes_), metric=_accuracy_metric)
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

    def fit(self, X, y, mask=None):
        """Fit on images or sequences (with ``mask``) and real targets ``y`` (N,) or
        (N, n_outputs).

        Returns
        -------
        self
        """
        self._validate_params()
        Xin = self._inputs(X, mask, fitting=True)
        y = self._check_targets(y, Xin.shape[0], fitted=False)
        Y = self._fit_target_scaling(y)
        self._train(Xin, self._scaled(Y), resolve_rng(self.random_state), Y.shape[1])
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
            raise ValueError("y is required: this estimator is supervised; got y=None")
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
