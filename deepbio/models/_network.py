"""What the network-based estimators share: two extra layers and the fine-tuning base class.

* :class:`Corruption`: train-time input corruption of a denoising autoencoder (masking
  noise or additive Gaussian noise, drawn fresh for every minibatch by the kernels
  ``mask_corrupt`` / ``gaussian_corrupt``); the identity at prediction time.
* :class:`TiedAutoEncoder`: encoder ``a = f(x W + c)`` and tied decoder
  ``z = a W^T + b`` in one layer, so the two uses of ``W`` add their gradients.
* :class:`FeedForwardEstimator`: a stack of dense layers plus an output layer, trained
  end to end by :class:`deepbio.optim.SGD`; MLPs, DBN and stacked-autoencoder
  classifiers / regressors derive from it and differ only in how they initialise the
  hidden layers (randomly, from RBMs, from autoencoders).

After ``fit`` the weights live in ``coefs_`` (list of (D_in, D_out) arrays) and
``intercepts_`` (list of (D_out,) arrays); prediction runs the ``dense_forward`` kernel
layer by layer on them, so a model loaded from a file needs no ``Network`` to predict.
"""
import math
import time

import numpy as np

from .. import backend as _backend
from .._validation import Interval, IntSequence, Options, check_X_y, float_dtype_name
from ..nn import Dense, Dropout, Network
from ..nn.layers import Layer, _as_rows, _shape, _size
from ..optim import SGD, HessianFree
from ..optim._base import Optimizer
from ..optim.schedules import SCHEDULES
from ._base import (BaseEstimator, ClassifierMixin, RegressorMixin, TransformerMixin,
                    current_backend, resolve_rng, to_backend, to_host)

ACTIVATIONS = ("sigmoid", "tanh", "relu", "linear")


def child_seed(rng):
    """A fresh integer seed drawn from ``rng`` (to seed a sub-component reproducibly)."""
    return int(rng.integers(0, 2**63 - 1))


# --------------------------------------------------------------------------- layers


class Corruption(Layer):
    """Denoising-autoencoder input corruption, active only when ``train=True``.

    ``kind="mask"``: ``x_tilde = x * 1[u >= level]`` (each input zeroed with probability
    ``level``); ``kind="gaussian"``: ``x_tilde = x + level * z``, ``z ~ N(0, 1)``.
    Fresh uniforms are drawn from the layer's generator at every training forward.
    Backward and rop apply the Jacobian of the last corruption (the same mask; the
    identity for additive noise).

    References
    ----------
    P. Vincent, H. Larochelle, Y. Bengio, P.-A. Manzagol. Extracting and composing robust
    features with denoising autoencoders. ICML 2008.
    """

    def __init__(self, kind="mask", level=0.3, random_state=None):
        super().__init__()
        if kind not in ("mask", "gaussian"):
            raise ValueError(f"kind must be 'mask' or 'gaussian', got {kind!r}")
        if not (isinstance(level, (int, float)) and math.isfinite(level) and 0 <= level
                and (level <= 1 or kind == "gaussian")):
            raise ValueError(f"Corruption level must be a finite number, in [0, 1] (a "
                             f"probability) for kind='mask' or >= 0 (the noise's standard "
                             f"deviation) for kind='gaussian'; got level={level!r} with "
                             f"kind={kind!r}")
        self.kind, self.level, self.random_state = kind, float(level), random_state
        self._u = None
        self._rng = None

    def build(self, input_shape, rng, dtype):
        seed = self.random_state if self.random_state is not None else child_seed(rng)
        self._rng = _backend.current().rng(seed)
        return super().build(input_shape, rng, dtype)

    def forward(self, x, train=False):
        self._check_built()
        self._u = None
        if not train or self.level == 0.0:
            return x
        be = _backend.current()
        x2 = _as_rows(x, be)
        if self.kind == "mask":
            self._u = be.uniform(self._rng, x2.shape, x2.dtype)
            out = be.kernels.mask_corrupt(x2, self._u, self.level)
        else:
            u1 = be.uniform(self._rng, x2.shape, x2.dtype)
            u2 = be.uniform(self._rng, x2.shape, x2.dtype)
            out = be.kernels.gaussian_corrupt(x2, u1, u2, self.level)
        return out.reshape(x.shape)

    def _jacobian(self, t):
        if self._u is None:
            return t
        be = _backend.current()
        return be.kernels.mask_corrupt(_as_rows(t, be), self._u, self.level).reshape(t.shape)

    def backward(self, dy, include_penalty=True):
        return self._jacobian(dy)

    def rop(self, dx, dparams=None):
        return None if dx is None else self._jacobian(dx)

    def get_config(self):
        rs = self.random_state
        return {"kind": self.kind, "level": self.level,
                "random_state": rs if rs is None or isinstance(rs, int) else None}


class TiedAutoEncoder(Layer):
    """An autoencoder whose decoder uses the transposed encoder weights.

    ``a = f(x W + c)`` (encoder, ``W`` (D, H)), ``z = a W^T + b`` (decoder output before
    the loss's non-linearity).  With ``rho`` set, the sparse-autoencoder penalty
    ``beta sum_j KL(rho || mean_n a_nj)`` (kernel ``sparsity_grad``) is added.

    Backward, for ``dz = dL/dz``::

        da  = dz W + d penalty / da          dW_dec = dz^T a  (D, H)
        dx, dW_enc, dc = backward of the encoder with da
        dW  = dW_enc + dW_dec                db = sum_n dz

    Parameters: ``W`` (D, H), ``b_hidden`` = c (H,), ``b_visible`` = b (D,).
    """

    param_names = ("W", "b_hidden", "b_visible")

    def __init__(self, units, activation="sigmoid", rho=None, beta=0.0):
        super().__init__()
        if isinstance(units, bool) or not isinstance(units, int) or units < 1:
            raise ValueError(f"units must be a positive integer, got {units!r}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
        self.units, self.activation, self.rho, self.beta = units, activation, rho, float(beta)
        self._penalty = None

    def build(self, input_shape, rng, dtype):
        be = _backend.current()
        self.input_shape = _shape(input_shape)
        d, h = _size(self.input_shape), self.units
        scale = math.sqrt(6.0 / (d + h))                     # Glorot & Bengio (2010)
        W = scale * (2.0 * be.uniform(rng, (d, h), "float64") - 1.0)
        self._new_params([be.xp.ascontiguousarray(W.astype(dtype)),
                          be.xp.zeros(h, dtype=dtype), be.xp.zeros(d, dtype=dtype)], be)
        self.output_shape = (d,)
        return self.output_shape

    def forward(self, x, train=False):
        self._check_built()
        be = _backend.current()
        K = be.kernels
        W, c, b = self._params
        self._x = _as_rows(x, be)
        self._a = K.dense_forward(self._x, W, c, self.activation)
        if self.rho is not None:
            penalty, self._da_sparse = K.sparsity_grad(self._a, self.rho, self.beta)
            self._penalty = float(penalty)
        self._WT = be.xp.ascontiguousarray(W.T)
        self._z = K.dense_forward(self._a, self._WT, b, "linear")
        return self._z

    def penalty(self):
        return 0.0 if self._penalty is None else self._penalty

    def backward(self, dy, include_penalty=True):
        be = _backend.current()
        K = be.kernels
        dz = be.xp.ascontiguousarray(dy)
        da, dWT, db = K.dense_backward(self._a, self._WT, self._z, dz, "linear")
        if self.rho is not None and include_penalty:
            da = da + self._da_sparse
        dx, dW, dc = K.dense_backward(self._x, self._params[0], self._a, da, self.activation)
        self._grads[0][...] = dW + dWT.T
        self._grads[1][...] = dc
        self._grads[2][...] = db
        return dx

    def backward_squared(self, dy):
        """Per-example squared gradients in one pass (rows of ``dy``: ``d l_n / d z_n``).

        Example n's gradients are ``G_W[n] = x_n^T u_n + dz_n^T a_n`` (encoder and decoder
        use of the one ``W``), ``G_c[n] = u_n``, ``G_b[n] = dz_n``, with ``u = f'(.) (dz W)``
        the encoder's pre-activation gradient.  Squaring the sum of the two outer products
        and summing over n gives three matrix products:
        ``sum_n G_W[n]**2 = (x*x)^T (u*u) + 2 (x*dz)^T (u*a) + (dz*dz)^T (a*a)``.
        The sparsity penalty is left out, as in every ``backward_squared``.
        """
        be = _backend.current()
        xp, K = be.xp, be.kernels
        dz = xp.ascontiguousarray(dy)
        x, a = self._x, self._a
        u = K.activation_backward(a, xp.ascontiguousarray(dz @ self._params[0]),
                                  self.activation)
        self._grads[0][...] = ((x * x).T @ (u * u) + 2.0 * ((x * dz).T @ (u * a))
                               + (dz * dz).T @ (a * a))
        self._grads[1][...] = (u * u).sum(axis=0)
        self._grads[2][...] = (dz * dz).sum(axis=0)
        return u @ self._WT

    def rop(self, dx, dparams=None):
        """``ra = f'(.) (dx W + x dW + dc)``;  ``rz = ra W^T + a dW^T + db``."""
        be = _backend.current()
        xp = be.xp
        W = self._params[0]
        dW, dc, db = dparams if dparams is not None else (None, None, None)
        dW = xp.zeros_like(W) if dW is None else dW
        t = self._x @ dW
        if dc is not None:
            t = t + dc
        if dx is not None:
            t = t + _as_rows(dx, be) @ W
        ra = be.kernels.activation_backward(self._a, xp.ascontiguousarray(t), self.activation)
        rz = ra @ self._WT + self._a @ dW.T
        return rz + db if db is not None else rz

    def get_config(self):
        return {"units": self.units, "activation": self.activation, "rho": self.rho,
                "beta": self.beta}


# ------------------------------------------------------- fine-tuned feed-forward nets

#: Hyper-parameters of the SGD fine-tuning, shared by every FeedForwardEstimator.
SGD_CONSTRAINTS = {
    "learning_rate": [Interval("real", 0, None, closed="neither")],
    "momentum": [Interval("real", 0, 1, closed="left")],
    "nesterov": ["boolean"],
    "weight_decay": [Interval("real", 0, None)],
    "schedule": [Options(*SCHEDULES)],
    "clip_norm": [None, Interval("real", 0, None, closed="neither")],
    "batch_size": [Interval("int", 1, None)],
    "max_epochs": [Interval("int", 1, None)],
    "early_stopping": ["boolean"],
    "validation_fraction": [Interval("real", 0, 1, closed="neither")],
    "patience": [Interval("int", 1, None)],
    "tol": [Interval("real", 0, None)],
    "dropout": [Interval("real", 0, 1, closed="left")],
    "dtype": ["dtype"],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
}


class OptimizerChoice:
    """Constraint for ``optimizer``: "sgd", "hf", or a deepbio optimiser object."""

    def accepts(self, v):
        return (isinstance(v, str) and v in ("sgd", "hf")) or isinstance(v, Optimizer)

    def __str__(self):
        return "'sgd', 'hf', or a deepbio.optim optimiser (SGD, HessianFree) instance"


SGD_CONSTRAINTS["optimizer"] = [OptimizerChoice()]


def sgd_from(est, seed, **overrides):
    """An :class:`SGD` configured from an estimator's fine-tuning hyper-parameters."""
    names = ("learning_rate", "momentum", "nesterov", "weight_decay", "schedule", "clip_norm",
             "batch_size", "max_epochs", "early_stopping", "validation_fraction", "patience",
             "tol", "verbose")
    kwargs = {n: getattr(est, n) for n in names}
    kwargs.update(overrides)
    return SGD(random_state=seed, **kwargs)


def uses_hessian_free(est):
    """Whether ``est`` trains with :class:`HessianFree` (``optimizer="hf"`` or an object)."""
    choice = getattr(est, "optimizer", "sgd")
    return (isinstance(choice, str) and choice == "hf") or isinstance(choice, HessianFree)


def check_deterministic_objective(est):
    """ValueError if ``est`` trains with Hessian-free but its training objective is drawn
    afresh at every pass (dropout, or a denoising autoencoder's corruption).

    HF compares the loss it predicted with the loss it gets, and line-searches along one
    direction: both need one deterministic function of the weights (see docs/hf.md, *One
    objective*).  ``HessianFree`` runs the network in prediction mode, where a dropout or
    corruption layer does nothing, so without this check it would silently train
    another model than the one asked for.
    """
    if not uses_hessian_free(est):
        return
    name = type(est).__name__
    dropout = getattr(est, "dropout", 0) or 0
    if dropout > 0:
        raise ValueError(f"{name}: dropout={dropout} cannot be used with optimizer='hf': "
                         f"Hessian-free needs one deterministic objective, and dropout "
                         f"draws a new mask at every pass; use optimizer='sgd' or dropout=0")
    corruption = getattr(est, "corruption", None)
    if getattr(est, "_corruption_in_objective", False) and corruption is not None \
            and (getattr(est, "corruption_level", 0) or 0) > 0:
        raise ValueError(f"{name}: corruption={corruption!r} cannot be used with "
                         f"optimizer='hf': a denoising autoencoder's objective is redrawn "
                         f"at every pass with the corruption, and Hessian-free needs a "
                         f"deterministic one; use optimizer='sgd' or corruption=None")


class DeterministicWithHF:
    """Mixin: an estimator's parameter check also runs
    :func:`check_deterministic_objective` (before anything is built).

    ``_corruption_in_objective``: whether the estimator's own ``optimizer`` trains the
    corrupted (denoising) objective; the stacked autoencoders' supervised heads corrupt
    only in pre-training, which always uses SGD.
    """

    _corruption_in_objective = False

    def _validate_params(self):
        super()._validate_params()
        check_deterministic_objective(self)


def make_optimizer(est, seed, **overrides):
    """The optimiser an estimator trains with, chosen by its ``optimizer`` parameter.

    * ``"sgd"`` (default): :class:`SGD` from the estimator's own hyper-parameters;
    * ``"hf"``: :class:`HessianFree` with ``max_iter = max_epochs`` HF iterations and the
      estimator's ``weight_decay`` and ``verbose``, other settings at their defaults;
    * an ``SGD`` or ``HessianFree`` object: a fresh copy of it (the user's object is
      never mutated), seeded from ``random_state`` when it has none; for SGD,
      ``overrides`` (e.g. ``max_epochs=1`` in ``partial_fit``) still apply.
    """
    choice = getattr(est, "optimizer", "sgd")
    if isinstance(choice, str) and choice == "sgd":
        return sgd_from(est, seed, **overrides)
    if isinstance(choice, str) and choice == "hf":
        return HessianFree(max_iter=overrides.get("max_epochs", est.max_epochs),
                           weight_decay=est.weight_decay, verbose=est.verbose,
                           random_state=seed)
    params = choice.get_params()
    if params.get("random_state") is None:
        params["random_state"] = seed
    if isinstance(choice, SGD):
        params.update(overrides)
    return type(choice)(**params)


def partial_epoch(est, net, X, T):
    """``partial_fit``'s work: one epoch of ``est._optimizer`` (made on first use) over
    ``(X, T)``, logged in ``est.history_`` and counted in ``est.n_iter_``.

    FloatingPointError (see :func:`check_diverged`) if the epoch's loss or the weights
    are no longer finite, as ``fit`` raises through the optimiser's ``minimize``.
    """
    be = current_backend()
    opt = getattr(est, "_optimizer", None)
    if opt is None:
        seed = child_seed(resolve_rng(est.random_state))
        opt = est._optimizer = make_optimizer(est, seed, max_epochs=1, early_stopping=False)
    opt._validate_params()
    start = time.perf_counter()
    entry = opt._run_epoch(net, be.asarray(X, net.dtype), be.asarray(T, net.dtype),
                           est.n_iter_)
    entry["epoch"] = est.n_iter_
    # the keys fit's history_ has: partial_fit holds no data out, and its time runs
    # on from the previous entry, as fit's counts from the start of training
    entry.setdefault("val_loss", None)
    entry.setdefault("val_metric", None)
    previous = est.history_[-1].get("time") if est.history_ else None
    entry["time"] = (previous or 0.0) + time.perf_counter() - start
    est.history_.append(entry)
    est.n_iter_ += 1
    check_diverged(est, opt, net, entry)


#: What a fitted network estimator holds besides ``history_`` / ``n_iter_``: deleted by
#: :func:`check_diverged`, so a diverged model is unfitted (FeedForwardEstimator and
#: AutoEncoder keep ``coefs_`` / ``intercepts_`` / ``_network``; LayeredEstimator
#: ``layers_`` / ``params_`` / ``input_shape_`` / ``_cache_net``).
_FITTED_NETWORK_ATTRS = ("coefs_", "intercepts_", "_network", "layers_", "params_",
                         "input_shape_", "_cache_net", "_optimizer", "n_features_in_")


def check_diverged(est, opt, net, entry):
    """FloatingPointError if a ``partial_fit`` epoch ended with a NaN or infinite loss
    (``entry["loss"]``, the dict that SGD's and HessianFree's ``_run_epoch`` both return)
    or NaN / infinite weights (SGD's loss is taken before each step, so the last step
    can break the weights with a finite loss).

    The message follows the one of ``Optimizer.minimize`` (``fit``): it names the
    estimator, the optimiser and the epoch, and says what to lower.  The fitted network
    is deleted first (:data:`_FITTED_NETWORK_ATTRS`), so the NaN weights cannot be
    used by mistake and the next ``partial_fit`` starts afresh; ``history_`` keeps the
    diverged epoch.
    """
    loss = float(entry["loss"])
    if math.isfinite(loss) and bool(current_backend().xp.isfinite(net.theta).all()):
        return
    problem = (f"the training loss became {loss}" if not math.isfinite(loss)
               else "the weights became NaN or infinite")
    if isinstance(opt, SGD):
        hint = f"lower learning_rate (it is {opt.learning_rate:g}) or set clip_norm"
    elif isinstance(opt, HessianFree):
        hint = (f"raise the HessianFree's initial_damping (it is {opt.initial_damping:g}) "
                f"or rescale the inputs")
    else:
        hint = "lower the step size"
    for name in _FITTED_NETWORK_ATTRS:
        if hasattr(est, name):
            delattr(est, name)
    raise FloatingPointError(
        f"{type(est).__name__} ({type(opt).__name__}): {problem} in partial_fit (epoch "
        f"{entry['epoch']}); {hint}. The model is left unfitted: the next partial_fit "
        f"(or fit) starts afresh")


def one_hot_labels(y_enc, n_classes, dtype):
    """One-hot targets (n_samples, n_classes) of ``dtype`` for encoded labels ``y_enc``."""
    T = np.zeros((y_enc.shape[0], n_classes), dtype=dtype)
    T[np.arange(y_enc.shape[0]), y_enc] = 1
    return T


def fit_target_scaling(est, y):
    """Learn a regressor's ``y_mean_`` / ``y_scale_`` (and ``target_ndim_``,
    ``n_outputs_``) from ``y``; return it as (n_samples, n_outputs)."""
    Y = y.reshape(len(y), -1)
    est.target_ndim_ = y.ndim
    est.n_outputs_ = Y.shape[1]
    est.y_mean_ = Y.mean(axis=0)
    std = Y.std(axis=0)
    est.y_scale_ = np.where(std > 0, std, 1.0)
    return Y


def hidden_sizes(sizes):
    """``hidden_layer_sizes`` (int or sequence) as a tuple of ints."""
    if isinstance(sizes, (int, np.integer)):
        return (int(sizes),)
    return tuple(int(s) for s in sizes)


class FeedForwardEstimator(DeterministicWithHF, TransformerMixin, BaseEstimator):
    """Dense hidden layers + a linear output layer + a matching loss, fine-tuned by SGD.

    Subclasses provide ``_hidden_activation()`` and may override ``_pretrain(X, rng)``
    to return initial ``(W, b)`` for every hidden layer.  ``_output`` (class attribute)
    is the loss: ``"softmax_cross_entropy"`` or ``"squared_error"``.  ``transform``
    gives the last hidden layer's activations (``fit_transform`` from
    :class:`TransformerMixin`).
    """

    _parameter_constraints = dict(SGD_CONSTRAINTS,
                                  hidden_layer_sizes=[IntSequence(1, allow_empty=True)])
    _loss = None

    def _hidden_activation(self):
        return self.activation

    def _pretrain(self, X, rng):
        """Initial ``[(W, b), ...]`` for the hidden layers, or None for random ones."""
        return None

    # ------------------------------------------------------------------ the network
    def _network_settings(self):
        """The hyper-parameters a training network is built from, besides the sizes."""
        return {"activation": self._hidden_activation(), "dropout": self.dropout,
                "dtype": float_dtype_name(self.dtype)}

    def _build_network(self, n_in, n_out, seed, init=None):
        """A built Network; hidden layers set from ``init`` ([(W, b)]) when given."""
        self._built_with = self._network_settings()
        layers = []
        act = self._hidden_activation()
        for units in hidden_sizes(self.hidden_layer_sizes):
            layers.append(Dense(units, act))
            if self.dropout > 0:
                layers.append(Dropout(self.dropout))
        layers.append(Dense(n_out, "linear"))
        net = Network(layers, self._loss, dtype=str(np.dtype(self.dtype))).build(n_in, seed)
        if init is not None:
            dense = [layer for layer in net.layers if isinstance(layer, Dense)]
            be = current_backend()
            for layer, (W, b) in zip(dense, init):
                layer.W[...] = to_backend(be, W, net.dtype)
                layer.b[...] = to_backend(be, b, net.dtype)
        return net

    def _store(self, net):
        dense = [layer for layer in net.layers if isinstance(layer, Dense)]
        self.coefs_ = [layer.W for layer in dense]
        self.intercepts_ = [layer.b for layer in dense]
        self._network = net

    def _check_hidden_sizes(self):
        """ValueError if ``hidden_layer_sizes`` no longer matches the fitted weights
        (``set_params`` after ``fit``): ``partial_fit`` cannot continue then."""
        fitted = tuple(W.shape[1] for W in self.coefs_[:-1])
        if hidden_sizes(self.hidden_layer_sizes) != fitted:
            raise ValueError(f"hidden_layer_sizes={self.hidden_layer_sizes!r} does not match "
                             f"the fitted network of {type(self).__name__}, built with "
                             f"hidden layers of {fitted} units; call fit to build and train "
                             f"a new network")

    def _network_for_update(self, n_in, n_out):
        """The training network: the cached one, or one rebuilt from ``coefs_`` (also
        when ``activation``, ``dropout`` or ``dtype`` changed since it was built)."""
        self._check_hidden_sizes()
        net = getattr(self, "_network", None)
        if (net is None or net.theta.__class__ is not current_backend().array_type
                or getattr(self, "_built_with", None) != self._network_settings()):
            net = self._build_network(n_in, n_out, 0,
                                      list(zip(self.coefs_[:-1], self.intercepts_[:-1])))
            dense = [layer for layer in net.layers if isinstance(layer, Dense)]
            be = current_backend()
            dense[-1].W[...] = to_backend(be, self.coefs_[-1], net.dtype)
            dense[-1].b[...] = to_backend(be, self.intercepts_[-1], net.dtype)
            self._store(net)
        return net

    def _train(self, X, T, n_out, rng, metric=None):
        """Pre-train (subclass hook), build, then fine-tune on targets ``T`` (N, n_out)."""
        init = self._pretrain(X, rng)
        net = self._build_network(X.shape[1], n_out, child_seed(rng), init)
        be = current_backend()
        sgd = make_optimizer(self, child_seed(rng))
        self.history_ = sgd.minimize(net, be.asarray(X, net.dtype), be.asarray(T, net.dtype),
                                     metric=metric)
        self.n_iter_ = len(self.history_)
        self._store(net)
        self._optimizer = sgd

    def _partial_train(self, X, T, n_out, first):
        """One optimiser epoch over ``(X, T)``, continuing from the current weights."""
        if first:
            rng = resolve_rng(self.random_state)
            net = self._build_network(X.shape[1], n_out, child_seed(rng), None)
            self._store(net)
            self._optimizer = make_optimizer(self, child_seed(rng), max_epochs=1,
                                                  early_stopping=False)
            self.history_ = []
            self.n_iter_ = 0
        net = self._network_for_update(X.shape[1], n_out)
        partial_epoch(self, net, X, T)

    # ------------------------------------------------------------------ prediction
    def _forward(self, X, upto=None):
        """Outputs of the output layer (``upto=None``) or of hidden layer ``upto``."""
        be = current_backend()
        K = be.kernels
        a = be.asarray(X, self.dtype)
        n_layers = len(self.coefs_)
        acts = [self._hidden_activation()] * (n_layers - 1) + ["linear"]
        stop = n_layers if upto is None else upto + 1
        for W, b, act in list(zip(self.coefs_, self.intercepts_, acts))[:stop]:
            a = K.dense_forward(a, to_backend(be, W, self.dtype),
                                to_backend(be, b, self.dtype), act)
        return a

    def transform(self, X):
        """Activations of the last hidden layer after fine-tuning, (n_samples, units)."""
        X = self._check_X(X)
        if len(self.coefs_) < 2:
            raise ValueError(f"{type(self).__name__} has no hidden layer to transform with")
        return to_host(self._forward(X, upto=len(self.coefs_) - 2))


def _accuracy_metric(network, X, Y):
    """Validation accuracy of a softmax network on one-hot targets (for ``history_``)."""
    xp = _backend.current().xp
    z = network.forward(X, train=False)
    return float(xp.mean(xp.argmax(z, axis=1) == xp.argmax(Y, axis=1)))


class FeedForwardClassifier(ClassifierMixin, FeedForwardEstimator):
    """Softmax output (two units for binary problems) + cross-entropy."""

    _loss = "softmax_cross_entropy"

    def _one_hot(self, y_enc):
        return one_hot_labels(y_enc, len(self.classes_), self.dtype)

    def fit(self, X, y):
        """Fit on ``X`` (n_samples, n_features) and labels ``y`` (n_samples,) of any type.

        Returns
        -------
        self
        """
        self._validate_params()
        X, y_enc = self._encode_labels(X, y)
        self.n_features_in_ = X.shape[1]
        rng = resolve_rng(self.random_state)
        self._train(X, self._one_hot(y_enc), len(self.classes_), rng,
                    metric=_accuracy_metric)
        return self

    def predict_proba(self, X):
        """Class probabilities, shape (n_samples, n_classes), columns in ``classes_`` order;
        float64 whatever the network's ``dtype`` (as the CNN and RNN models return)."""
        X = self._check_X(X)
        be = current_backend()
        return to_host(be.kernels.activation_forward(self._forward(X), "softmax")) \
            .astype(np.float64)


class FeedForwardRegressor(RegressorMixin, FeedForwardEstimator):
    """Linear output + squared error.  Targets are standardised internally
    (``y_mean_``, ``y_scale_``) and predictions mapped back."""

    _loss = "squared_error"

    def fit(self, X, y):
        """Fit on ``X`` (n_samples, n_features) and real targets ``y`` (n_samples,) or
        (n_samples, n_outputs).

        Returns
        -------
        self
        """
        self._validate_params()
        X, y = check_X_y(X, y, y_numeric=True, multi_output=True)
        self.n_features_in_ = X.shape[1]
        Y = self._fit_target_scaling(y)
        rng = resolve_rng(self.random_state)
        self._train(X, (Y - self.y_mean_) / self.y_scale_, Y.shape[1], rng)
        return self

    def _fit_target_scaling(self, y):
        """Learn ``y_mean_`` / ``y_scale_`` from ``y``; return it as (n_samples, n_outputs)."""
        return fit_target_scaling(self, y)

    def predict(self, X):
        """Predicted targets, shape (n_samples,) (or (n_samples, n_outputs))."""
        X = self._check_X(X)
        out = to_host(self._forward(X)).astype(np.float64) * self.y_scale_ + self.y_mean_
        return out[:, 0] if self.target_ndim_ == 1 else out
