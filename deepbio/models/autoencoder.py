"""Autoencoders (plain, sparse, denoising; tied or untied) and stacked autoencoders with
fine-tuned classifier / regressor heads.  Maths in ``docs/models/autoencoder.md``.

An :class:`AutoEncoder` is trained as a :class:`deepbio.nn.Network` whose target is its
own (clean) input, by :class:`deepbio.optim.SGD`:

* untied: ``[Corruption?] -> Dense(H, f) -> [KLSparsity?] -> Dense(D, linear)``;
* tied:   ``[Corruption?] -> TiedAutoEncoder(H, f)`` (decoder weights ``W^T``).

The reconstruction loss fixes the decoder's output non-linearity: ``"squared_error"``
(identity output, any real data) or ``"cross_entropy"`` (sigmoid output, data in [0, 1]).
"""
import numpy as np

from .._validation import Interval, IntSequence, Options, float_dtype_name
from ..nn import Dense, KLSparsity, Network
from ..nn.autoencoder import ACTIVATIONS, Corruption, TiedAutoEncoder
from ..optim._base import Progress
from ._base import (BaseEstimator, TransformerMixin, current_backend, resolve_rng, to_backend,
                    to_host)
from ._feedforward import FeedForwardClassifier, FeedForwardRegressor
from ._training import (SGD_CONSTRAINTS, DeterministicWithHF, child_seed, hidden_sizes,
                        make_optimizer, partial_epoch, training_epochs)

_LOSSES = {"squared_error": "squared_error", "cross_entropy": "sigmoid_cross_entropy"}

_AE_CONSTRAINTS = {
    "activation": [Options(*ACTIVATIONS)],
    "loss": [Options(*_LOSSES)],
    "tied": ["boolean"],
    "sparsity_target": [None, Interval("real", 0, 1, closed="neither")],
    "sparsity_weight": [Interval("real", 0, None)],
    "corruption": [None, Options("mask", "gaussian")],
    "corruption_level": [Interval("real", 0, None)],
    "include_input": ["boolean"],
}


def _check_ae_options(est, X, loss):
    """Checks that involve several hyper-parameters or the data (ValueError)."""
    if est.sparsity_target is not None and est.activation != "sigmoid":
        raise ValueError(f"sparsity_target needs activation='sigmoid' (mean activations in "
                         f"(0, 1)); got activation={est.activation!r}")
    if est.corruption == "mask" and est.corruption_level > 1:
        raise ValueError(f"corruption_level is a probability for corruption='mask' and must "
                         f"lie in [0, 1]; got {est.corruption_level}")
    if loss == "cross_entropy" and X is not None and (X.min() < -1e-6 or X.max() > 1 + 1e-6):
        negative = "Negative values in data: " if X.min() < -1e-6 else ""
        raise ValueError(f"{negative}loss='cross_entropy' needs X in [0, 1] (got values in "
                         f"[{X.min():.4g}, {X.max():.4g}]); min-max scale X or use "
                         f"loss='squared_error'")


class AutoEncoder(DeterministicWithHF, TransformerMixin, BaseEstimator):
    """One-hidden-layer autoencoder: plain, sparse, denoising; tied or untied weights.

    Encoder ``h = f(x W_1 + c)``, decoder ``x_hat = g(h W_2 + b)`` with ``W_2 = W_1^T``
    when ``tied``; ``g`` is the identity for ``loss="squared_error"`` and the sigmoid for
    ``loss="cross_entropy"``.  The objective, averaged over a minibatch, is the
    reconstruction loss of the clean input from the (optionally corrupted) input, plus
    ``sparsity_weight * sum_j KL(sparsity_target || mean h_j)`` when sparse, plus
    ``weight_decay / 2 * ||theta||^2``.

    Parameters
    ----------
    n_components : int, default=64
        Hidden units H (the code size).
    activation : {"sigmoid", "tanh", "relu", "linear"}, default="sigmoid"
        Encoder non-linearity ``f``.
    loss : {"squared_error", "cross_entropy"}, default="squared_error"
        Reconstruction loss (cross-entropy needs X in [0, 1]).
    tied : bool, default=True
        Decoder weights are the transposed encoder weights.
    sparsity_target : float in (0, 1) or None, default=None
        Target mean activation rho of each hidden unit (needs ``activation="sigmoid"``).
    sparsity_weight : float >= 0, default=3.0
        beta, the weight of the KL sparsity penalty.
    corruption : {None, "mask", "gaussian"}, default=None
        Denoising: masking noise (each input zeroed with probability
        ``corruption_level``) or additive Gaussian noise (std ``corruption_level``),
        drawn fresh for every minibatch.
    corruption_level : float >= 0, default=0.3
    learning_rate, momentum, nesterov, weight_decay, schedule, clip_norm, batch_size, \
max_iter, early_stopping, validation_fraction, patience, tol
        SGD settings (defaults 0.01, 0.9, False, 0.0, "constant", None, 32, 50, False,
        0.1, 10, 1e-4), see :class:`deepbio.optim.SGD`;
        ``max_iter`` counts epochs (``max_epochs``, its old name, is deprecated).
    include_input : bool, default=False
        If True, :meth:`transform` returns ``[codes, X]``.
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

    Attributes
    ----------
    coefs_ : list of two arrays
        Encoder weights (n_features, n_components) and decoder weights
        (n_components, n_features) (the transpose of the first when tied).
    intercepts_ : list of two arrays
        Hidden biases (n_components,) and visible biases (n_features,).
    history_ : list of dict
        Per epoch: ``loss`` (reconstruction loss + penalties), ``val_loss``, ``lr``,
        ``time`` (see :meth:`deepbio.optim.SGD.minimize`).
    n_features_in_, n_iter_ : int

    References
    ----------
    Y. Bengio, P. Lamblin, D. Popovici, H. Larochelle. Greedy layer-wise training of deep
    networks. NIPS 2006.
    P. Vincent, H. Larochelle, I. Lajoie, Y. Bengio, P.-A. Manzagol. Stacked denoising
    autoencoders. JMLR 11, 2010.
    A. Ng. Sparse autoencoder. CS294A lecture notes, 2011.

    Examples
    --------
    >>> import numpy as np
    >>> from deepbio import AutoEncoder
    >>> X = np.random.default_rng(0).random((100, 12))
    >>> ae = AutoEncoder(4, loss="cross_entropy", max_iter=5, random_state=0).fit(X)
    >>> ae.transform(X).shape, ae.reconstruct(X).shape
    ((100, 4), (100, 12))
    """

    _corruption_in_objective = True       # its optimizer trains the denoising loss
    _parameter_constraints = dict(SGD_CONSTRAINTS, n_components=[Interval("int", 1, None)],
                                  **_AE_CONSTRAINTS)

    def __init__(self, n_components=64, activation="sigmoid", loss="squared_error", tied=True,
                 sparsity_target=None, sparsity_weight=3.0, corruption=None,
                 corruption_level=0.3, learning_rate=0.01, momentum=0.9, nesterov=False,
                 weight_decay=0.0, schedule="constant", clip_norm=None, batch_size=32,
                 max_iter=50, early_stopping=False, validation_fraction=0.1, patience=10,
                 tol=1e-4, include_input=False, dtype="float32", random_state=None,
                 verbose=0,
                 optimizer="sgd", max_epochs="deprecated", comm=None):
        self.comm = comm
        self.optimizer = optimizer
        self.max_epochs = max_epochs
        self.n_components = n_components
        self.activation = activation
        self.loss = loss
        self.tied = tied
        self.sparsity_target = sparsity_target
        self.sparsity_weight = sparsity_weight
        self.corruption = corruption
        self.corruption_level = corruption_level
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
        self.include_input = include_input
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ the network
    #: Hyper-parameters that fix the shapes and the layout of the fitted weights.
    _STRUCTURE_PARAMS = ("n_components", "tied")

    def _network_settings(self):
        """The hyper-parameters the training network is built from."""
        names = self._STRUCTURE_PARAMS + ("activation", "loss", "sparsity_target",
                                          "sparsity_weight", "corruption",
                                          "corruption_level")
        settings = {name: getattr(self, name) for name in names}
        settings["dtype"] = float_dtype_name(self.dtype)
        return settings

    def _check_structure(self):
        """ValueError if ``n_components`` or ``tied`` changed since the weights were
        built (``set_params`` after ``fit``): ``partial_fit`` cannot continue then."""
        # (a loaded model has no record of its network: trust its saved ``tied``)
        tied = getattr(self, "_built_with", {}).get("tied", self.tied)
        built = {"n_components": self.coefs_[0].shape[1], "tied": tied}
        for name in self._STRUCTURE_PARAMS:
            if getattr(self, name) != built[name]:
                raise ValueError(f"partial_fit cannot continue training: the fitted network "
                                 f"of this AutoEncoder was built with {name}={built[name]!r}, "
                                 f"but {name} is now {getattr(self, name)!r}; call fit to "
                                 f"build and train a new network")

    def _build_network(self, d, seed):
        self._built_with = self._network_settings()
        h, act = self.n_components, self.activation
        layers = []
        if self.corruption is not None:
            layers.append(Corruption(self.corruption, float(self.corruption_level)))
        if self.tied:
            layers.append(TiedAutoEncoder(h, act, self.sparsity_target,
                                          self.sparsity_weight))
        else:
            layers.append(Dense(h, act))
            if self.sparsity_target is not None:
                layers.append(KLSparsity(self.sparsity_target, self.sparsity_weight))
            layers.append(Dense(d, "linear"))
        return Network(layers, _LOSSES[self.loss], dtype=str(np.dtype(self.dtype))).build(
            d, seed)

    def _store(self, net):
        xp = current_backend().xp
        if self.tied:
            W, c, b = net.layers[-1].params
            self.coefs_ = [W, xp.ascontiguousarray(W.T)]
            self.intercepts_ = [c, b]
        else:
            enc, dec = [layer for layer in net.layers if isinstance(layer, Dense)]
            self.coefs_ = [enc.W, dec.W]
            self.intercepts_ = [enc.b, dec.b]
        self._network = net

    def _restore(self, net):
        """Copy ``coefs_`` / ``intercepts_`` into a freshly built network."""
        be = current_backend()

        def put(dst, src):
            dst[...] = to_backend(be, src, net.dtype)
        if self.tied:
            W, c, b = net.layers[-1].params
            put(W, self.coefs_[0])
            put(c, self.intercepts_[0])
            put(b, self.intercepts_[1])
        else:
            enc, dec = [layer for layer in net.layers if isinstance(layer, Dense)]
            for layer, W, b in ((enc, self.coefs_[0], self.intercepts_[0]),
                                (dec, self.coefs_[1], self.intercepts_[1])):
                put(layer.W, W)
                put(layer.b, b)

    # ------------------------------------------------------------------ fitting
    def fit(self, X, y=None):
        """Train on ``X`` (n_samples, n_features) to reconstruct itself.

        Returns
        -------
        self : AutoEncoder
        """
        self._validate_params()
        X = self._check_X(X, reset=True)
        _check_ae_options(self, X, self.loss)
        return self._fit_checked(current_backend(), X)

    def _fit_checked(self, be, X):
        """:meth:`fit` on data already checked: a NumPy array, or an array of backend
        ``be`` that stays there (a stacked autoencoder hands each layer the codes of the
        one below on the device)."""
        self.n_features_in_ = int(X.shape[1])
        rng = resolve_rng(self.random_state)
        net = self._build_network(X.shape[1], child_seed(rng))
        Xb = be.asarray(X, net.dtype)
        sgd = make_optimizer(self, child_seed(rng))
        self.history_ = sgd.minimize(net, Xb, Xb)
        self.n_iter_ = len(self.history_)
        self._store(net)
        self._optimizer = sgd
        return self

    def partial_fit(self, X, y=None):
        """One SGD epoch over ``X``; the first call builds the network.

        Later calls continue training it.  After ``set_params`` changes ``activation``,
        ``loss``, the sparsity or corruption settings or ``dtype``, they continue from
        the current weights with the new settings; a change of ``n_components`` or
        ``tied`` raises ValueError (the weights no longer fit: call ``fit``).

        Returns
        -------
        self : AutoEncoder
        """
        first = not hasattr(self, "coefs_")
        self._validate_params()
        if not first:
            self._check_structure()
        X = self._check_X(X, reset=first)
        _check_ae_options(self, X, self.loss)
        net = getattr(self, "_network", None)
        # a changed activation, loss, sparsity, corruption or dtype takes effect in a
        # network rebuilt from the current weights
        if (first or net is None
                or getattr(self, "_built_with", None) != self._network_settings()):
            rng = resolve_rng(self.random_state)
            net = self._build_network(X.shape[1], child_seed(rng))
            if not first:
                self._restore(net)
            self._optimizer = make_optimizer(self, child_seed(rng), max_epochs=1,
                                                  early_stopping=False)
            if first:
                self.history_, self.n_iter_ = [], 0
        partial_epoch(self, net, X, X)
        self._store(net)
        return self

    # ------------------------------------------------------------------ inference
    def _encode(self, be, X):
        K = be.kernels
        return K.dense_forward(be.asarray(X, self.dtype),
                               to_backend(be, self.coefs_[0], self.dtype),
                               to_backend(be, self.intercepts_[0], self.dtype),
                               self.activation)

    def _decode(self, be, H):
        out = "sigmoid" if self.loss == "cross_entropy" else "linear"
        return be.kernels.dense_forward(be.asarray(H, self.dtype),
                                        to_backend(be, self.coefs_[1], self.dtype),
                                        to_backend(be, self.intercepts_[1], self.dtype), out)

    def _n_features_out(self):
        return int(self.coefs_[0].shape[1])

    def transform(self, X):
        """Codes ``h = f(X W_1 + c)``, shape (n_samples, n_components)
        (``[codes, X]`` with ``include_input``)."""
        X = self._check_X(X)
        return self._with_input(to_host(self._encode(current_backend(), X)), X)

    def inverse_transform(self, H):
        """Decode codes ``H`` (n_samples, n_components) to (n_samples, n_features)."""
        self._check_fitted()
        from .._validation import check_array
        H = check_array(H, "H")
        if H.shape[1] != self.coefs_[1].shape[0]:
            raise ValueError(f"H has {H.shape[1]} columns, but this AutoEncoder has "
                             f"{self.coefs_[1].shape[0]} hidden units")
        return to_host(self._decode(current_backend(), H))

    def reconstruct(self, X):
        """``decode(encode(X))`` (no corruption), shape (n_samples, n_features)."""
        X = self._check_X(X)
        be = current_backend()
        return to_host(self._decode(be, self._encode(be, X)))

    def score(self, X, y=None):
        """Negative mean squared reconstruction error per sample (higher is better)."""
        X = self._check_X(X)
        be = current_backend()
        R = to_host(self._decode(be, self._encode(be, X))).astype(np.float64)
        return -float(((R - X) ** 2).sum(axis=1).mean())


# ---------------------------------------------------------------------- stacked


def pretrain_autoencoders(X, sizes, ae_params, first_loss, rng, verbose):
    """Greedy layer-wise training: autoencoder l reconstructs the codes of l - 1.

    The first autoencoder uses ``first_loss``; the ones above reconstruct codes with
    cross-entropy when the activation is the sigmoid (codes in (0, 1)), squared error
    otherwise.  Returns the fitted :class:`AutoEncoder` list.  ``X`` is checked by the
    first autoencoder's ``fit``; the codes stay on the backend's device between layers.
    """
    aes, data = [], X
    if ae_params.get("comm") is not None and ae_params["comm"].Get_rank() != 0:
        verbose = 0                        # only rank 0 reports
    upper_loss = "cross_entropy" if ae_params["activation"] == "sigmoid" else "squared_error"
    be = current_backend()
    with Progress(len(sizes), verbose if verbose else 0, "autoencoder pre-training") as bar:
        for i, units in enumerate(sizes):
            ae = AutoEncoder(units, loss=first_loss if i == 0 else upper_loss,
                             random_state=child_seed(rng), **ae_params)
            if i == 0:
                ae.fit(data)
            else:       # the codes of the layer below, on the device: finite, and in
                ae._validate_params()          # (0, 1) when the loss needs it (sigmoid)
                _check_ae_options(ae, None, ae.loss)
                ae._fit_checked(be, data)
            aes.append(ae)
            data = ae._encode(be, data)
            bar.update({"epoch": i + 1, "loss": ae.history_[-1]["loss"]})
    return aes


class StackedAutoEncoder(DeterministicWithHF, TransformerMixin, BaseEstimator):
    """Autoencoders trained greedily, each on the codes of the one below.

    ``transform`` runs every encoder upwards and returns the top codes.

    Parameters
    ----------
    hidden_layer_sizes : int or tuple of int, default=(128, 64)
        Code sizes, bottom to top.
    activation, loss, tied, sparsity_target, sparsity_weight, corruption, \
corruption_level, learning_rate, momentum, weight_decay, batch_size, max_iter, dtype
        As in :class:`AutoEncoder`, for every layer; ``loss`` applies to the bottom
        layer (layers above reconstruct sigmoid codes with cross-entropy, other codes
        with squared error).
    include_input : bool, default=False
        If True, :meth:`transform` returns ``[codes, X]``.
    random_state : None, int or numpy.random.Generator, default=None
    verbose : int, default=0
    comm : mpi4py communicator or None, default=None
        Data-parallel training over MPI: each rank fits on its own shard; the
        autoencoders' pre-training and the fine-tuning all-reduce their gradients
        (docs/distributed.md).  Not saved with the model.
    optimizer : "sgd", "adam", "adamw", "rmsprop", "hf" or a deepbio.optim optimiser, default="sgd"
        What trains the network: minibatch SGD from the hyper-parameters above, or
        Hessian-free optimisation ("hf": ``max_iter`` HF iterations; pass a
        :class:`deepbio.optim.HessianFree` object to set its options).  HF needs one
        deterministic objective, so fit refuses it with dropout or with an
        autoencoder's own corruption (ValueError; docs/hf.md, *One objective*).

    Attributes
    ----------
    autoencoders_ : list of AutoEncoder
    n_features_in_ : int
    n_iter_ : int
        Epochs run, summed over the layers.

    References
    ----------
    P. Vincent et al. Stacked denoising autoencoders. JMLR 11, 2010.

    Examples
    --------
    >>> import numpy as np
    >>> from deepbio import StackedAutoEncoder
    >>> X = np.random.default_rng(0).random((100, 12))
    >>> StackedAutoEncoder((8, 4), max_iter=3, random_state=0).fit_transform(X).shape
    (100, 4)
    """

    _corruption_in_objective = True       # its optimizer trains the denoising loss
    _parameter_constraints = dict(SGD_CONSTRAINTS, hidden_layer_sizes=[IntSequence(1)],
                                  **_AE_CONSTRAINTS)

    def __init__(self, hidden_layer_sizes=(128, 64), activation="sigmoid",
                 loss="squared_error", tied=True, sparsity_target=None, sparsity_weight=3.0,
                 corruption=None, corruption_level=0.3, learning_rate=0.01, momentum=0.9,
                 weight_decay=0.0, batch_size=32, max_iter=50, include_input=False,
                 dtype="float32", random_state=None, verbose=0,
                 optimizer="sgd", max_epochs="deprecated", comm=None):
        self.comm = comm
        self.optimizer = optimizer
        self.max_epochs = max_epochs
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.loss = loss
        self.tied = tied
        self.sparsity_target = sparsity_target
        self.sparsity_weight = sparsity_weight
        self.corruption = corruption
        self.corruption_level = corruption_level
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.include_input = include_input
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose

    def fit(self, X, y=None):
        """Train the autoencoders bottom-up on ``X`` (n_samples, n_features).

        Returns
        -------
        self : StackedAutoEncoder
        """
        self._validate_params()
        X = self._check_X(X, reset=True)
        _check_ae_options(self, X, self.loss)
        params = {n: getattr(self, n) for n in (
            "activation", "tied", "sparsity_target", "sparsity_weight", "corruption",
            "corruption_level", "learning_rate", "momentum", "weight_decay", "batch_size",
            "dtype", "optimizer", "comm")}
        params["max_iter"] = training_epochs(self)
        self.autoencoders_ = pretrain_autoencoders(
            X, hidden_sizes(self.hidden_layer_sizes), params, self.loss,
            resolve_rng(self.random_state), self.verbose)
        # epochs run, summed over the layers (scikit-learn's n_iter_, one number)
        self.n_iter_ = sum(ae.n_iter_ for ae in self.autoencoders_)
        return self

    def _n_features_out(self):
        return int(self.autoencoders_[-1].coefs_[0].shape[1])

    def transform(self, X):
        """Top-layer codes, (n_samples, hidden_layer_sizes[-1]) (``[codes, X]`` with
        ``include_input``)."""
        X = self._check_X(X)
        be = current_backend()
        H = X
        for ae in self.autoencoders_:
            H = ae._encode(be, H)
        return self._with_input(to_host(H), X)


# ------------------------------------------------------------- fine-tuned heads

_SAE_SUPERVISED_CONSTRAINTS = dict(
    _AE_CONSTRAINTS,
    hidden_layer_sizes=[IntSequence(1)],
    pretrain_epochs=[Interval("int", 0, None)],
    pretrain_learning_rate=[Interval("real", 0, None, closed="neither")],
    pretrain_batch_size=[Interval("int", 1, None)],
    pretrain_momentum=[Interval("real", 0, 1, closed="left")],
)
del _SAE_SUPERVISED_CONSTRAINTS["include_input"]

_SAE_SUPERVISED_DOC = """
    Parameters
    ----------
    hidden_layer_sizes : int or tuple of int, default=(128, 64)
    activation : {"sigmoid", "tanh", "relu", "linear"}, default="sigmoid"
        Encoder non-linearity, kept in the fine-tuned network.
    loss : {"squared_error", "cross_entropy"}, default="squared_error"
        Reconstruction loss of the bottom autoencoder (cross-entropy needs X in [0, 1]).
    tied, sparsity_target, sparsity_weight, corruption, corruption_level
        Pre-training autoencoders, as in :class:`AutoEncoder`.
    pretrain_epochs : int >= 0, default=20
        Epochs of each autoencoder (0: no pre-training).
    pretrain_learning_rate : float > 0, default=0.01
    pretrain_batch_size : int, default=32
    pretrain_momentum : float in [0, 1), default=0.9
    dropout, learning_rate, momentum, nesterov, weight_decay, schedule, clip_norm, \
batch_size, max_iter, early_stopping, validation_fraction, patience, tol
        SGD fine-tuning as in :class:`MLPClassifier` (defaults: 0.0, 0.05, 0.9, False,
        0.0, "constant", None, 32, 50, False, 0.1, 10, 1e-4).
    dtype : {"float32", "float64"}, default="float32"
    random_state : None, int or numpy.random.Generator, default=None
    verbose : int, default=0
    comm : mpi4py communicator or None, default=None
        Data-parallel training over MPI: each rank fits on its own shard; the
        autoencoders' pre-training and the fine-tuning all-reduce their gradients
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
        Fine-tuned encoder weights and biases, then the output layer's.
    pretrain_history_ : list of list of dict
        The ``history_`` of each pre-trained autoencoder.
    history_ : list of dict
        Fine-tuning history per epoch.
    n_features_in_ : int

    References
    ----------
    Y. Bengio, P. Lamblin, D. Popovici, H. Larochelle. Greedy layer-wise training of deep
    networks. NIPS 2006.
    P. Vincent et al. Stacked denoising autoencoders. JMLR 11, 2010.
"""


class _SAEFineTuned:
    """Pre-training hook shared by the stacked-autoencoder classifier and regressor."""

    def _hidden_activation(self):
        return self.activation

    def _pretrain(self, X, rng):
        if self.pretrain_epochs == 0:
            self.pretrain_history_ = []
            return None
        _check_ae_options(self, X, self.loss)
        params = {"activation": self.activation, "tied": self.tied,
                  "sparsity_target": self.sparsity_target,
                  "sparsity_weight": self.sparsity_weight, "corruption": self.corruption,
                  "corruption_level": self.corruption_level,
                  "learning_rate": self.pretrain_learning_rate,
                  "momentum": self.pretrain_momentum, "batch_size": self.pretrain_batch_size,
                  "max_iter": self.pretrain_epochs, "dtype": self.dtype, "comm": self.comm}
        aes = pretrain_autoencoders(X, hidden_sizes(self.hidden_layer_sizes), params,
                                    self.loss, rng, self.verbose)
        self.pretrain_history_ = [ae.history_ for ae in aes]
        return [(ae.coefs_[0], ae.intercepts_[0]) for ae in aes]


def _sae_init(self, hidden_layer_sizes, activation, loss, tied, sparsity_target,
              sparsity_weight, corruption, corruption_level, pretrain_epochs,
              pretrain_learning_rate, pretrain_batch_size, pretrain_momentum, dropout,
              learning_rate, momentum, nesterov, weight_decay, schedule, clip_norm, batch_size,
              max_iter, early_stopping, validation_fraction, patience, tol, dtype,
              random_state, verbose):
    for name, value in list(locals().items()):
        if name != "self":
            setattr(self, name, value)


class StackedAutoEncoderClassifier(_SAEFineTuned, FeedForwardClassifier):
    __doc__ = """Stacked-autoencoder classifier: greedy autoencoder pre-training, then a
    softmax layer on the top codes and fine-tuning of the whole network (cross-entropy,
    SGD).
    """ + _SAE_SUPERVISED_DOC + """
    Examples
    --------
    >>> from deepbio import StackedAutoEncoderClassifier
    >>> from deepbio.datasets import load_breast_cancer, standardize
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> clf = StackedAutoEncoderClassifier((16,), pretrain_epochs=3, max_iter=10,
    ...                                    random_state=0).fit(standardize(X), y)
    >>> clf.predict_proba(standardize(X)[:2]).shape
    (2, 2)
    """

    _parameter_constraints = dict(FeedForwardClassifier._parameter_constraints,
                                  **_SAE_SUPERVISED_CONSTRAINTS)

    def __init__(self, hidden_layer_sizes=(128, 64), activation="sigmoid",
                 loss="squared_error", tied=True, sparsity_target=None, sparsity_weight=3.0,
                 corruption=None, corruption_level=0.3, pretrain_epochs=20,
                 pretrain_learning_rate=0.01, pretrain_batch_size=32, pretrain_momentum=0.9,
                 dropout=0.0, learning_rate=0.05, momentum=0.9, nesterov=False,
                 weight_decay=0.0, schedule="constant", clip_norm=None, batch_size=32,
                 max_iter=50, early_stopping=False, validation_fraction=0.1, patience=10,
                 tol=1e-4, dtype="float32", random_state=None, verbose=0,
                 optimizer="sgd", max_epochs="deprecated", comm=None):
        self.comm = comm
        self.optimizer = optimizer
        self.max_epochs = max_epochs
        _sae_init(self, hidden_layer_sizes, activation, loss, tied, sparsity_target,
                  sparsity_weight, corruption, corruption_level, pretrain_epochs,
                  pretrain_learning_rate, pretrain_batch_size, pretrain_momentum, dropout,
                  learning_rate, momentum, nesterov, weight_decay, schedule, clip_norm,
                  batch_size, max_iter, early_stopping, validation_fraction, patience, tol,
                  dtype, random_state, verbose)


class StackedAutoEncoderRegressor(_SAEFineTuned, FeedForwardRegressor):
    __doc__ = """Stacked-autoencoder regressor: greedy autoencoder pre-training, then a
    linear output layer and fine-tuning of the whole network (squared error, SGD).
    Targets are standardised internally (``y_mean_``, ``y_scale_``).
    """ + _SAE_SUPERVISED_DOC + """
    Examples
    --------
    >>> import numpy as np
    >>> from deepbio import StackedAutoEncoderRegressor
    >>> X = np.random.default_rng(0).normal(size=(200, 6))
    >>> reg = StackedAutoEncoderRegressor((8,), pretrain_epochs=2, max_iter=10,
    ...                                   random_state=0).fit(X, X[:, 0] - X[:, 1])
    >>> reg.predict(X).shape
    (200,)
    """

    _parameter_constraints = StackedAutoEncoderClassifier._parameter_constraints

    def __init__(self, hidden_layer_sizes=(128, 64), activation="sigmoid",
                 loss="squared_error", tied=True, sparsity_target=None, sparsity_weight=3.0,
                 corruption=None, corruption_level=0.3, pretrain_epochs=20,
                 pretrain_learning_rate=0.01, pretrain_batch_size=32, pretrain_momentum=0.9,
                 dropout=0.0, learning_rate=0.05, momentum=0.9, nesterov=False,
                 weight_decay=0.0, schedule="constant", clip_norm=None, batch_size=32,
                 max_iter=50, early_stopping=False, validation_fraction=0.1, patience=10,
                 tol=1e-4, dtype="float32", random_state=None, verbose=0,
                 optimizer="sgd", max_epochs="deprecated", comm=None):
        self.comm = comm
        self.optimizer = optimizer
        self.max_epochs = max_epochs
        _sae_init(self, hidden_layer_sizes, activation, loss, tied, sparsity_target,
                  sparsity_weight, corruption, corruption_level, pretrain_epochs,
                  pretrain_learning_rate, pretrain_batch_size, pretrain_momentum, dropout,
                  learning_rate, momentum, nesterov, weight_decay, schedule, clip_norm,
                  batch_size, max_iter, early_stopping, validation_fraction, patience, tol,
                  dtype, random_state, verbose)
