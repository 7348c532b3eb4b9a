"""How the network-based estimators train: optimiser choice and set-up, minibatch epochs,
the divergence check, label encoding.  Shared by the feed-forward, CNN, RNN and
autoencoder estimators; no estimator class lives here.
"""
import inspect
import math
import time
import warnings

import numpy as np

from .. import backend as _backend
from .. import distributed as _dist
from .._validation import Interval, Options
from ..nn.layers import child_seed  # noqa: F401  (re-exported for the estimators)

from ..optim import SGD, Adam, AdamW, HessianFree, RMSprop
from ..optim._base import CommConstraint, Optimizer
from ..optim.schedules import SCHEDULES
from ._base import current_backend, resolve_rng

#: Hyper-parameters of the SGD fine-tuning, shared by every FeedForwardEstimator.
SGD_CONSTRAINTS = {
    "learning_rate": [Interval("real", 0, None, closed="neither")],
    "momentum": [Interval("real", 0, 1, closed="left")],
    "nesterov": ["boolean"],
    "weight_decay": [Interval("real", 0, None)],
    "schedule": [Options(*SCHEDULES)],
    "clip_norm": [None, Interval("real", 0, None, closed="neither")],
    "batch_size": [Interval("int", 1, None)],
    "max_iter": [Interval("int", 1, None)],
    "max_epochs": [Options("deprecated"), Interval("int", 1, None)],
    "early_stopping": ["boolean"],
    "validation_fraction": [Interval("real", 0, 1, closed="neither")],
    "patience": [Interval("int", 1, None)],
    "tol": [Interval("real", 0, None)],
    "dropout": [Interval("real", 0, 1, closed="left")],
    "dtype": ["dtype"],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
    "comm": [CommConstraint()],
}


class OptimizerChoice:
    """Constraint for ``optimizer``: "sgd", "adam", "adamw", "rmsprop", "hf", or a deepbio
    optimiser object."""

    def accepts(self, v):
        return (isinstance(v, str) and v in OPTIMIZER_NAMES) or isinstance(v, Optimizer)

    def __str__(self):
        return ("'sgd', 'adam', 'adamw', 'rmsprop', 'hf', or a deepbio.optim optimiser "
                "(SGD, Adam, AdamW, RMSprop, HessianFree) instance")


#: The first-order optimisers an estimator's ``optimizer=`` can name (besides "hf").
FIRST_ORDER = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop}
OPTIMIZER_NAMES = tuple(FIRST_ORDER) + ("hf",)


SGD_CONSTRAINTS["optimizer"] = [OptimizerChoice()]


def training_epochs(est):
    """The number of training epochs (HF: iterations) of a network estimator: ``max_iter``,
    scikit-learn's name; the old name ``max_epochs``, when given, wins with a warning."""
    old = getattr(est, "max_epochs", "deprecated")
    if isinstance(old, str) and old == "deprecated":
        return est.max_iter
    warnings.warn(f"{type(est).__name__}: max_epochs was renamed max_iter (scikit-learn's name) "
                  f"in deepbio 0.2 and will be removed; max_epochs={old} is used now",
                  DeprecationWarning, stacklevel=4)
    return old


def sgd_from(est, seed, **overrides):
    """An :class:`SGD` configured from an estimator's fine-tuning hyper-parameters."""
    names = ("learning_rate", "momentum", "nesterov", "weight_decay", "schedule", "clip_norm",
             "batch_size", "early_stopping", "validation_fraction", "patience", "tol",
             "verbose")
    kwargs = {n: getattr(est, n) for n in names}
    kwargs["max_epochs"] = training_epochs(est)
    kwargs["comm"] = getattr(est, "comm", None)
    kwargs.update(overrides)
    return SGD(random_state=seed, **kwargs)


def first_order_from(est, name, seed, **overrides):
    """``optimizer="adam"`` / ``"adamw"`` / ``"rmsprop"``: that optimiser with the
    estimator's batch size, epochs, schedule, clipping, weight decay, early stopping and
    verbosity, its own defaults for the rest (betas, eps, ...; pass an ``Adam(...)``
    object to set them).  The estimator's ``learning_rate`` is used when it was set; left
    at the estimator's default (an SGD step size) the optimiser's own default is used
    (Adam, AdamW: 0.001; RMSprop: 0.01), as PyTorch's ``torch.optim.Adam(params)``.
    ``momentum`` and ``nesterov`` are SGD's and not used."""
    names = ("weight_decay", "schedule", "clip_norm", "batch_size", "early_stopping",
             "validation_fraction", "patience", "tol", "verbose")
    kwargs = {n: getattr(est, n) for n in names}
    if name == "adamw" and kwargs["weight_decay"] == 0:
        del kwargs["weight_decay"]          # AdamW's own default decay (0.01), as torch's
    default = inspect.signature(type(est).__init__).parameters.get("learning_rate")
    if default is None or est.learning_rate != default.default:
        kwargs["learning_rate"] = est.learning_rate
    kwargs["max_epochs"] = training_epochs(est)
    kwargs["comm"] = getattr(est, "comm", None)
    kwargs.update(overrides)
    return FIRST_ORDER[name](random_state=seed, **kwargs)


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
    * ``"adam"``, ``"adamw"``, ``"rmsprop"``: see :func:`first_order_from`;
    * ``"hf"``: :class:`HessianFree` with the estimator's ``max_iter`` HF iterations and the
      estimator's ``weight_decay`` and ``verbose``, other settings at their defaults;
    * an ``SGD``, ``Adam``, ``AdamW``, ``RMSprop`` or ``HessianFree`` object: a fresh copy
      of it (the user's object is never mutated), seeded from ``random_state`` when it
      has none; for the first-order ones ``overrides`` (e.g. ``max_epochs=1`` in
      ``partial_fit``) still apply.
    """
    choice = getattr(est, "optimizer", "sgd")
    if isinstance(choice, str) and choice == "sgd":
        return sgd_from(est, seed, **overrides)
    if isinstance(choice, str) and choice in FIRST_ORDER:
        return first_order_from(est, choice, seed, **overrides)
    if isinstance(choice, str) and choice == "hf":
        return HessianFree(max_iter=overrides.get("max_epochs", training_epochs(est)),
                           weight_decay=est.weight_decay, verbose=est.verbose,
                           random_state=seed, comm=getattr(est, "comm", None))
    params = choice.get_params()
    if params.get("random_state") is None:
        params["random_state"] = seed
    if getattr(est, "comm", None) is not None:
        params["comm"] = est.comm           # the estimator's communicator wins
    if not isinstance(choice, HessianFree):
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
    if est.n_iter_ == 0:
        # data parallel: every rank starts from rank 0's weights (a no-op without comm)
        _dist.broadcast_(net.theta, getattr(est, "comm", None))
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
    if math.isfinite(loss) and current_backend().all_finite(net.theta):
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
    comm = getattr(est, "comm", None)
    if _dist.is_distributed(comm):
        # the mean and standard deviation of the ranks' targets together
        k = Y.shape[1]
        sums = _dist.global_sum(np.concatenate([Y.sum(axis=0), (Y * Y).sum(axis=0),
                                                [len(Y)]]), comm)
        mean = sums[:k] / sums[-1]
        est.y_mean_ = mean
        std = np.sqrt(np.maximum(sums[k:2 * k] / sums[-1] - mean * mean, 0.0))
    else:
        est.y_mean_ = Y.mean(axis=0)
        std = Y.std(axis=0)
    est.y_scale_ = np.where(std > 0, std, 1.0)
    return Y


def hidden_sizes(sizes):
    """``hidden_layer_sizes`` (int or sequence) as a tuple of ints."""
    if isinstance(sizes, (int, np.integer)):
        return (int(sizes),)
    return tuple(int(s) for s in sizes)


def _accuracy_metric(network, X, Y):
    """Validation accuracy of a softmax network on one-hot targets (for ``history_``)."""
    be = _backend.current()
    xp = be.xp
    z = network.forward(X, train=False)
    return be.scalar(xp.mean(xp.argmax(z, axis=1) == xp.argmax(Y, axis=1)))


