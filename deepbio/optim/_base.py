"""The optimiser base class: hyper-parameters, state, and the epoch loop with early stopping.

An optimiser is an object whose constructor only stores hyper-parameters; its state
(velocity, random generator, ...) is created on first use and dropped by ``reset()``.
It speaks to a network only through ``theta`` (updated in place), ``get_flat`` /
``set_flat``, ``loss``, ``loss_and_grad`` (and ``gauss_newton_product`` for second-order
methods): see :class:`deepbio.nn.Network`.

A subclass provides ``step(network, X, y) -> float`` and ``_run_epoch(network, X, y,
epoch) -> dict`` (at least ``{"loss": ...}``); :meth:`Optimizer.minimize` runs the epochs,
evaluates the validation set, stops early, reports progress and returns the history.
"""
import inspect
import math
import sys
import time

from .. import backend as _backend
from .._validation import validate_parameters

__all__ = ["Optimizer", "CallableConstraint"]


class CallableConstraint:
    """A constraint (for ``_parameter_constraints``) accepting any callable."""

    def accepts(self, v):
        return callable(v)

    def __str__(self):
        return "a callable"


class Optimizer:
    """Abstract base of deepbio's optimisers.

    Subclasses declare ``_parameter_constraints`` (see :mod:`deepbio._validation`) and
    have, besides their own hyper-parameters, ``max_epochs``, ``early_stopping``,
    ``validation_fraction``, ``patience``, ``tol``, ``verbose`` and ``random_state``,
    which :meth:`minimize` uses.
    """

    _parameter_constraints = {}

    # ------------------------------------------------------------- parameters
    @classmethod
    def _param_names(cls):
        return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]

    def get_params(self, deep=True):
        """Constructor arguments as a dict."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params):
        """Set constructor arguments by name; returns ``self``."""
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"invalid parameter {name!r} for {type(self).__name__}; "
                                 f"valid parameters: {sorted(valid)}")
            setattr(self, name, value)
        return self

    def __repr__(self):
        sig = inspect.signature(type(self).__init__)
        changed = [f"{k}={v!r}" for k, v in self.get_params().items()
                   if sig.parameters[k].default is not v and sig.parameters[k].default != v]
        return f"{type(self).__name__}({', '.join(changed)})"

    def _validate_params(self):
        """Check every hyper-parameter; ValueError naming it and its allowed range."""
        validate_parameters(self)

    # ------------------------------------------------------------------ state
    def reset(self):
        """Forget all state (random generator and the subclass's own state)."""
        self._rng = None

    def _get_rng(self):
        if getattr(self, "_rng", None) is None:
            self._rng = _backend.current().rng(self.random_state)
        return self._rng

    # ------------------------------------------------------------ to override
    def step(self, network, X, y):
        """One update of ``network.theta`` on the batch ``(X, y)``; returns the loss."""
        raise NotImplementedError

    def _run_epoch(self, network, X, y, epoch):
        """One pass over ``(X, y)`` (backend arrays); returns a dict with ``"loss"``."""
        raise NotImplementedError

    # --------------------------------------------------------------- the loop
    def minimize(self, network, X, y, X_val=None, y_val=None, callback=None, metric=None):
        """Train ``network`` on ``(X, y)``; returns the history, one dict per epoch.

        Parameters
        ----------
        network : deepbio.nn.Network
            Built, or built here with ``X.shape[1:]`` and the optimiser's generator.
        X : array (N, ...) ;  y : array (N, *network.output_shape), float targets.
        X_val, y_val : arrays, optional
            Validation data.  When None and ``early_stopping`` is True, a random
            ``validation_fraction`` of ``(X, y)`` is split off (and not trained on).
        callback : callable, optional
            ``callback(entry)`` after each epoch with that epoch's history dict;
            returning True stops training.
        metric : callable, optional
            ``metric(network, X_val, y_val) -> float`` recorded as ``val_metric``.

        Returns
        -------
        history : list of dict
            Per epoch: ``epoch`` (0-based), ``loss`` (mean training loss over the epoch's
            minibatches, layer penalties included), ``val_loss`` (None without validation
            data), ``val_metric`` (only if ``metric`` is given), ``lr`` (if the optimiser
            has a learning rate), ``time`` (seconds since ``minimize`` started).

        With ``early_stopping``, training stops once ``val_loss`` has not improved by more
        than ``tol`` for ``patience`` epochs, and the parameters of the epoch with the
        lowest ``val_loss`` are restored into ``network.theta``.
        """
        self._validate_params()
        be = _backend.current()
        rng = self._get_rng()
        if not network.built:
            network.build(tuple(X.shape[1:]), random_state=rng)
        X = be.asarray(X, network.dtype)
        y = be.asarray(y, network.dtype)
        if X.shape[0] != y.shape[0]:
            raise ValueError(f"X and y must have the same number of samples, got "
                             f"{X.shape[0]} and {y.shape[0]}")
        if X_val is None and y_val is None and self.early_stopping:
            X, y, X_val, y_val = self._split_validation(X, y, rng, be)
        elif (X_val is None) != (y_val is None):
            raise ValueError("give both X_val and y_val, or neither")
        has_val = X_val is not None
        if has_val:
            X_val = be.asarray(X_val, network.dtype)
            y_val = be.asarray(y_val, network.dtype)

        history, best, best_theta, bad = [], math.inf, None, 0
        start = time.perf_counter()
        bar = _progress_bar(self.max_epochs, self.verbose, type(self).__name__)
        try:
            for epoch in range(self.max_epochs):
                entry = {"epoch": epoch}
                entry.update(self._run_epoch(network, X, y, epoch))
                if not math.isfinite(entry["loss"]):
                    raise FloatingPointError(
                        f"{type(self).__name__}: the training loss became {entry['loss']} in "
                        f"epoch {epoch}; lower learning_rate or set clip_norm")
                entry["val_loss"] = float(network.loss(X_val, y_val)) if has_val else None
                if metric is not None:
                    entry["val_metric"] = (float(metric(network, X_val, y_val)) if has_val
                                           else None)
                entry["time"] = time.perf_counter() - start
                history.append(entry)
                _report(bar, entry, self.verbose)

                stop = False
                if self.early_stopping:
                    v = entry["val_loss"]
                    bad = 0 if v < best - self.tol else bad + 1
                    if v < best:
                        best, best_theta = v, network.get_flat()
                    stop = bad >= self.patience
                if callback is not None and callback(entry):
                    stop = True
                if stop:
                    break
        finally:
            if bar is not None:
                bar.close()
        if best_theta is not None:
            network.set_flat(best_theta)
        return history

    def _split_validation(self, X, y, rng, be):
        """A random ``validation_fraction`` of the rows as the validation set."""
        n = X.shape[0]
        n_val = max(1, int(round(self.validation_fraction * n)))
        if n - n_val < 1:
            raise ValueError(f"validation_fraction={self.validation_fraction} leaves no "
                             f"training sample out of {n}; lower it or pass X_val")
        perm = rng.permutation(n)
        train, val = be.asarray(perm[n_val:]), be.asarray(perm[:n_val])
        return X[train], y[train], X[val], y[val]


def _progress_bar(total, verbose, name):
    """A tqdm bar when ``verbose`` and stderr is a terminal; else None."""
    if not verbose or not sys.stderr.isatty():
        return None
    from tqdm import tqdm
    return tqdm(total=total, desc=name, unit="epoch", leave=False, file=sys.stderr)


def _report(bar, entry, verbose):
    parts = {"loss": entry["loss"], "val_loss": entry.get("val_loss"),
             "val_metric": entry.get("val_metric"), "lr": entry.get("lr")}
    shown = {k: f"{v:.4g}" for k, v in parts.items() if v is not None}
    if bar is not None:
        bar.set_postfix(shown)
        bar.update(1)
    elif verbose:
        text = ", ".join(f"{k}={v}" for k, v in shown.items())
        print(f"epoch {entry['epoch']}: {text}", file=sys.stderr)

