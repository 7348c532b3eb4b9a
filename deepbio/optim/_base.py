"""The optimiser base class: hyper-parameters, state, and the epoch loop with early stopping.

An optimiser is an object whose constructor only stores hyper-parameters; its state
(velocity, random generator, ...) is created on first use and dropped by ``reset()``.
It speaks to a network only through ``theta`` (updated in place), ``get_flat`` /
``set_flat``, ``loss``, ``loss_and_grad`` (and ``gauss_newton_product`` for second-order
methods): see :class:`deepbio.nn.Network`.

A subclass provides ``step(network, X, y) -> float`` and ``_run_epoch(network, X, y,
epoch) -> dict`` (at least ``{"loss": ...}``); :meth:`Optimizer.minimize` runs the epochs,
evaluates the validation set, stops early, reports progress and returns the history.
Every ``minimize`` first checks its data with :meth:`Optimizer._prepare_data` (shapes,
NaN / infinity via :func:`check_finite`) and builds an unbuilt network.
"""
import contextlib
import inspect
import math
import sys
import time

import numpy as np

from .. import backend as _backend
from .. import distributed as _dist
from .._validation import validate_parameters
from . import _checkpoint as _ckpt
from ._distributed import global_network

__all__ = ["Optimizer", "CallableConstraint", "CommConstraint", "check_finite"]


def check_finite(a, name):
    """ValueError if the array ``a`` holds NaN or infinity, naming ``name`` and the first
    bad position, e.g. ``"X contains NaN (first at X[5, 2]); remove or impute ..."``.

    The test runs on the backend's device; only a failing array is copied to the host
    to find the position.
    """
    be = _backend.current()
    if be.all_finite(a):
        return
    host = be.to_numpy(a)
    nan = np.isnan(host)
    if nan.any():
        what, bad, hint = "NaN", nan, "remove or impute the missing values"
    else:
        what, bad, hint = "infinity", ~np.isfinite(host), "remove or clip the infinite values"
    where = ", ".join(str(int(i)) for i in np.argwhere(bad)[0])
    raise ValueError(f"{name} contains {what} (first at {name}[{where}]); {hint} before "
                     f"training")


def _as_data(a, name, dtype):
    """``a`` as a backend array of ``dtype`` with at least one row; ValueError naming
    ``name`` otherwise."""
    be = _backend.current()
    try:
        arr = be.asarray(a, dtype)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} could not be converted to an array of numbers: {e}") \
            from None
    if arr.ndim < 1 or arr.shape[0] < 1:
        raise ValueError(f"{name} must be an array of shape (n_samples, ...) with "
                         f"n_samples >= 1, got shape {tuple(arr.shape)}")
    return arr


def _check_pair(X, y, x_name, y_name, dtype):
    """Inputs and targets as backend arrays of ``dtype``, with as many rows each and
    finite; ValueError naming the argument otherwise."""
    X, y = _as_data(X, x_name, dtype), _as_data(y, y_name, dtype)
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"{x_name} and {y_name} must have the same number of samples, "
                         f"got {X.shape[0]} and {y.shape[0]}")
    check_finite(X, x_name)
    check_finite(y, y_name)
    return X, y


class CallableConstraint:
    """A constraint (for ``_parameter_constraints``) accepting any callable."""

    def accepts(self, v):
        return callable(v)

    def __str__(self):
        return "a callable"


class CommConstraint:
    """A constraint (for ``_parameter_constraints``) accepting None or an MPI communicator
    (an object with ``Get_size``, ``Get_rank`` and ``Allreduce``, e.g. mpi4py's)."""

    def accepts(self, v):
        return v is None or all(hasattr(v, a) for a in ("Get_size", "Get_rank", "Allreduce"))

    def __str__(self):
        return "None or an mpi4py communicator (e.g. MPI.COMM_WORLD)"


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
        """The optimiser's generator: from ``random_state``, and with a communicator
        from rank r's own seed ``deepbio.distributed.rank_seed(random_state, r)`` (rank 0
        keeps ``random_state``): each rank shuffles its own shard differently."""
        if getattr(self, "_rng", None) is None:
            comm = self._comm()
            seed = self.random_state
            if _dist.is_distributed(comm):
                seed = _dist.rank_seed(seed, comm.Get_rank())
            self._rng = _backend.current().rng(seed)
        return self._rng

    def _checkpoint_state(self):
        """``(arrays, values)``: the state a checkpoint keeps besides the generator (a
        subclass adds its buffers; ``values`` JSON-able)."""
        return {}, {}

    def _restore_checkpoint(self, arrays, values, dtype):
        """Put back what :meth:`_checkpoint_state` returned (``arrays`` on the backend)."""
    def _comm(self):
        """The optimiser's communicator (its ``comm`` parameter; None if it has none)."""
        return getattr(self, "comm", None)

    # ------------------------------------------------------------ to override
    def step(self, network, X, y):
        """One update of ``network.theta`` on the batch ``(X, y)``; returns the loss."""
        raise NotImplementedError

    def _run_epoch(self, network, X, y, epoch):
        """One pass over ``(X, y)`` (backend arrays); returns a dict with ``"loss"``."""
        raise NotImplementedError

    # --------------------------------------------------------------- the loop
    def minimize(self, network, X, y, X_val=None, y_val=None, callback=None, metric=None,
                 checkpoint=None, checkpoint_every=1, resume=None):
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
        checkpoint : path, optional
            Write a training checkpoint there after every ``checkpoint_every`` epochs
            and after the last one (weights, optimiser state, generator positions, epoch,
            early-stopping state; atomic, the previous one kept as ``PATH.prev``).
        checkpoint_every : int >= 1
        resume : path, optional
            Continue from that checkpoint (or its ``.prev`` if it is unreadable, with a
            :class:`CheckpointWarning`): the same network, data and optimiser settings
            then give exactly the weights of an uninterrupted run.  See
            docs/reliability.md.

        Returns
        -------
        history : list of dict
            Per epoch: ``epoch`` (0-based), ``loss`` (mean training loss over the epoch's
            minibatches, layer penalties included), ``val_loss`` (None without validation
            data), ``val_metric`` (only if ``metric`` is given), ``lr`` (if the optimiser
            has a learning rate), ``time`` (seconds since ``minimize`` started).

        With ``early_stopping``, training stops once ``val_loss`` has not improved by more
        than ``tol`` for ``patience`` epochs, and the parameters of the epoch with the
        lowest ``val_loss`` are restored into ``network.theta``; they are restored as well
        when training diverges later (a non-finite training loss raises
        FloatingPointError, whose message says so).

        Raises
        ------
        ValueError
            If X, y (or X_val, y_val) cannot be converted to arrays, differ in their
            number of samples, hold NaN or infinity (naming the argument and the first
            bad position), or if only one of X_val and y_val is given; if ``resume``
            names no readable checkpoint, or one of another optimiser, network or data.
        FloatingPointError
            If the training loss becomes NaN or infinite.

        With a communicator ``comm`` (size > 1), each rank passes its own shard: the
        initial parameters are rank 0's (broadcast), the losses, the validation loss
        (each rank splits its own shard) and the metric (weighted by the ranks'
        validation counts) are global, so early stopping decides alike on every rank;
        only rank 0 reports progress.  An error on one rank aborts every rank
        (:func:`deepbio.distributed.abort_on_error`).
        """
        comm = self._comm()
        with _dist.abort_on_error(comm):
            return self._minimize(network, X, y, X_val, y_val, callback, metric, comm,
                                  checkpoint, checkpoint_every, resume)

    def _minimize(self, network, X, y, X_val, y_val, callback, metric, comm,
                  checkpoint, checkpoint_every, resume):
        self._validate_params()
        checkpoint, checkpoint_every, resume = _ckpt.check_paths(checkpoint, checkpoint_every,
                                                                 resume)
        if _dist.is_distributed(comm) and (checkpoint is not None or resume is not None):
            raise _dist.raise_everywhere(ValueError(
                f"{type(self).__name__}: checkpoint= and resume= are not supported with a "
                f"communicator (comm) yet; train without them, or in one process"))
        be = _backend.current()
        rng = self._get_rng()
        X, y, X_val, y_val = self._prepare_data(network, X, y, X_val, y_val)
        if X_val is None and self.early_stopping:
            X, y, X_val, y_val = self._split_validation(X, y, rng, be)
        has_val = X_val is not None
        if _dist.is_distributed(comm) and _dist.global_count(int(has_val), comm) \
                not in (0, comm.Get_size()):
            raise ValueError("give X_val and y_val on every rank, or on none")
        whole = global_network(network, comm)
        verbose = self.verbose if _dist.rank(comm) == 0 else 0

        history, best, best_theta, best_epoch, bad = [], math.inf, None, None, 0
        first = 0
        digest = _ckpt.data_digest(X, y, X_val, y_val) if checkpoint or resume else None
        if resume is not None:
            first, done, history, loop, best_theta = _ckpt.restore(resume, self, network,
                                                                   digest)
            best = math.inf if loop["best"] is None else loop["best"]
            best_epoch, bad = loop["best_epoch"], loop["bad"]
            if done:
                first = self.max_epochs
        start = time.perf_counter()
        with data_checked(network, X, y, X_val, y_val), \
                Progress(self.max_epochs, verbose, type(self).__name__) as bar:
            for epoch in range(first, self.max_epochs):
                entry = {"epoch": epoch}
                entry.update(self._run_epoch(network, X, y, epoch))
                if not math.isfinite(entry["loss"]):
                    restored = ""
                    if best_theta is not None:
                        # do not leave the diverged weights behind: early stopping has
                        # the best ones
                        network.set_flat(best_theta)
                        restored = (f"; the parameters of epoch {best_epoch} (the lowest "
                                    f"val_loss, {best:.6g}) were restored")
                    # the loss is global: every rank raises this alike
                    raise _dist.raise_everywhere(FloatingPointError(
                        f"{type(self).__name__}: the training loss became {entry['loss']} in "
                        f"epoch {epoch}; lower learning_rate or set clip_norm{restored}"))
                entry["val_loss"] = float(whole.loss(X_val, y_val)) if has_val else None
                if metric is not None:
                    entry["val_metric"] = (global_metric(metric, network, X_val, y_val, comm)
                                           if has_val else None)
                entry["time"] = time.perf_counter() - start
                history.append(entry)
                bar.update({k: entry.get(k) for k in ("epoch", "loss", "val_loss",
                                                      "val_metric", "lr")})

                stop = False
                if self.early_stopping:
                    v = entry["val_loss"]
                    bad = 0 if v < best - self.tol else bad + 1
                    if v < best:
                        best, best_theta, best_epoch = v, network.get_flat(), epoch
                    stop = bad >= self.patience
                if callback is not None and callback(entry):
                    stop = True
                last = stop or epoch == self.max_epochs - 1
                if checkpoint is not None and (last or (epoch + 1) % checkpoint_every == 0):
                    loop = {"best": None if best == math.inf else best,
                            "best_epoch": best_epoch, "bad": bad}
                    _ckpt.write(checkpoint, self, network, digest, epoch, last, history,
                                loop, best_theta)
                if stop:
                    break
        if best_theta is not None:
            network.set_flat(best_theta)
        return history

    def _prepare_data(self, network, X, y, X_val=None, y_val=None):
        """Check and convert what ``minimize`` was given; build an unbuilt network.

        Returns ``(X, y, X_val, y_val)`` as backend arrays of the network's dtype (the
        validation pair stays None when not given).  ValueError naming the argument when
        one is not an array of numbers, X and y (or X_val and y_val) differ in length,
        only one of X_val and y_val is given, or one holds NaN or infinity.  An unbuilt
        network is built for ``X.shape[1:]`` with the optimiser's generator.  Shared by
        every optimiser's ``minimize``, so they all reject bad data alike.
        """
        if (X_val is None) != (y_val is None):
            raise ValueError("give both X_val and y_val, or neither")
        dtype = getattr(network, "dtype", None)     # None: a duck-typed network
        comm = self._comm()
        if _dist.is_distributed(comm):
            # before anything that one rank alone may raise: every rank raises this
            _dist.check_same_features(getattr(X, "shape", None) or np.shape(X), comm)
        X, y = _check_pair(X, y, "X", "y", dtype)
        if X_val is not None:
            X_val, y_val = _check_pair(X_val, y_val, "X_val", "y_val", dtype)
        if not getattr(network, "built", True):
            network.build(tuple(X.shape[1:]), random_state=self._get_rng())
        if _dist.is_distributed(comm):
            # every rank starts from rank 0's parameters (theta is the one flat buffer
            # the layers' parameters are views of)
            _dist.broadcast_(network.theta, comm)
        return X, y, X_val, y_val

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


def global_metric(metric, network, X_val, y_val, comm):
    """``metric(network, X_val, y_val)`` as a float; with a communicator the mean over
    the ranks weighted by their validation counts (exact for a mean over examples,
    such as accuracy)."""
    value = float(metric(network, X_val, y_val))
    if not _dist.is_distributed(comm):
        return value
    n = X_val.shape[0]
    total, count = _dist.global_sum([value * n, n], comm)
    return float(total / count)


def targets_checked(network, *targets):
    """``network.targets_checked(*targets)`` (check the whole targets once, trust their
    batches), or nothing for a network object without it."""
    ctx = getattr(network, "targets_checked", None)
    return ctx(*targets) if ctx is not None else contextlib.nullcontext()


@contextlib.contextmanager
def data_checked(network, X, y, X_val=None, y_val=None):
    """Check the whole inputs' masks (``network.inputs_checked``) and targets
    (``network.targets_checked``) once, then trust their batches: inside the block a
    training step reads no input or target value on the host.  Nothing for a network
    object without these methods."""
    inputs = getattr(network, "inputs_checked", None)
    with (inputs(X, X_val) if inputs is not None else contextlib.nullcontext()), \
            targets_checked(network, y, y_val):
        yield network


def minibatches(n, batch_size, rng=None, backend=None):
    """Index arrays of the minibatches of one epoch over ``n`` samples: a random order
    drawn from ``rng``, or ``0..n-1`` when ``rng`` is None, cut into slices of
    ``batch_size`` (the last one shorter).  Every training loop draws its epochs here.

    The order is drawn on the host.  With a ``backend`` it is moved there once per epoch
    and the minibatches are views of it, so a GPU backend uploads one index array per
    epoch, not one per step; without one they are NumPy arrays.
    """
    order = rng.permutation(n) if rng is not None else np.arange(n)
    if backend is not None:
        order = backend.asarray(order)
    bs = min(int(batch_size), n)
    return [order[i:i + bs] for i in range(0, n, bs)]


class Progress:
    """Progress of a training loop on standard error, one ``update`` per epoch or iteration.

    ``verbose=0``: nothing.  ``verbose=1``: a tqdm bar on a terminal, one line per update
    elsewhere.  ``verbose>=2``: always one line per update.  ``update(record, text=None)``
    shows ``text``, or else every non-None entry of ``record`` but the counter.  Use as a
    context manager (the bar is closed on exit, also after an error).
    """

    def __init__(self, total, verbose, desc, unit="epoch"):
        self.verbose, self.desc, self.unit, self.bar = int(verbose), desc, unit, None
        self._count = 0
        if self.verbose == 1 and sys.stderr.isatty():
            from tqdm import tqdm
            self.bar = tqdm(total=total, desc=desc, unit=unit, leave=False, file=sys.stderr,
                            dynamic_ncols=True)

    def update(self, record, text=None):
        self._count += 1
        if text is None:
            text = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                            for k, v in record.items()
                            if k not in ("epoch", "iteration") and v is not None)
        if self.bar is not None:
            self.bar.set_postfix_str(text, refresh=False)
            self.bar.update(1)
        elif self.verbose:
            n = record.get(self.unit, record.get("epoch", self._count))
            print(f"[{self.desc}] {self.unit} {n}: {text}", file=sys.stderr)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.close()
        return False
