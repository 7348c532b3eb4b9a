"""Minibatch stochastic gradient descent with momentum, Nesterov momentum, L2 weight
decay, gradient clipping, learning-rate schedules and early stopping.

One step on a minibatch, with ``lr`` the current learning rate and ``mu`` the momentum::

    g = grad L(theta) + weight_decay * theta
    g = g * min(1, clip_norm / ||g||)               (if clip_norm is set)
    v = mu * v - lr * g
    theta = theta + v                               (classical momentum)
    theta = theta + mu * v - lr * g                 (Nesterov, Sutskever et al. 2013)

The Nesterov form is the usual re-parametrisation of "evaluate the gradient at the
look-ahead point theta + mu v": it stores the look-ahead parameters in ``theta``.
"""
from .. import backend as _backend
from .._validation import Interval, Options
from ._base import CallableConstraint, Optimizer, minibatches
from .schedules import SCHEDULES, get_schedule

__all__ = ["SGD", "momentum_update"]


def momentum_update(param, grad, velocity, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
    """One step of gradient descent with momentum, in place on ``param`` and ``velocity``.

    With ``g = grad + weight_decay * param`` (L2 weight decay; ``grad`` is the loss
    gradient, it is not modified)::

        v     <- momentum * v - lr * g
        param <- param + v                          (classical momentum)
        param <- param + momentum * v - lr * g      (Nesterov, Sutskever et al. 2013)

    Every deepbio training loop updates its parameters here: :class:`SGD` on the flat
    parameter vector, the RBM on ``W`` and its biases.
    """
    g = grad + weight_decay * param if weight_decay else grad
    velocity *= momentum
    velocity -= lr * g
    if nesterov:
        param += momentum * velocity - lr * g
    else:
        param += velocity


class SGD(Optimizer):
    """Minibatch SGD for a :class:`deepbio.nn.Network`.

    Parameters
    ----------
    learning_rate : float > 0
        Base step size; the schedule scales it per epoch.
    momentum : float in [0, 1)
    nesterov : bool
        Nesterov's accelerated gradient instead of classical momentum.
    weight_decay : float >= 0
        L2 coefficient: adds ``weight_decay * theta`` to the gradient (the objective
        gains ``weight_decay / 2 * ||theta||^2``, biases included).
    schedule : {"constant", "inverse_scaling", "step", "cosine"}, Schedule or callable
        Learning rate per epoch, see :mod:`deepbio.optim.schedules`; a callable
        ``f(epoch) -> lr`` gives the rate directly.
    clip_norm : float > 0 or None
        Rescale the gradient (after weight decay) to at most this global L2 norm.
    batch_size : int >= 1
        Minibatch size (the last minibatch of an epoch may be smaller).
    max_epochs : int >= 1
    early_stopping : bool
        Hold out ``validation_fraction`` of the data (unless ``X_val`` is given), stop
        after ``patience`` epochs without a ``val_loss`` improvement larger than ``tol``,
        and restore the best parameters.
    validation_fraction : float in (0, 1)
    patience : int >= 1
    tol : float >= 0
    verbose : int or bool
        0: silent; otherwise a progress bar on a terminal, one line per epoch elsewhere.
    random_state : None, int or numpy Generator
        Seeds the shuffling and the validation split.

    Examples
    --------
    >>> import numpy as np
    >>> from deepbio.nn import Network, Dense
    >>> from deepbio.optim import SGD
    >>> X = np.random.default_rng(0).normal(size=(64, 3))
    >>> y = X @ np.array([[1.0], [-2.0], [0.5]])
    >>> net = Network([Dense(1)], "squared_error", dtype="float64").build(3, 0)
    >>> history = SGD(learning_rate=0.1, max_epochs=50, random_state=0).minimize(net, X, y)
    >>> history[-1]["loss"] < 1e-4
    True

    References
    ----------
    Sutskever, Martens, Dahl & Hinton (2013), On the importance of initialization and
    momentum in deep learning.  Bengio (2012), Practical recommendations for
    gradient-based training of deep architectures.
    """

    _parameter_constraints = {
        "learning_rate": [Interval("real", 0, None, closed="neither")],
        "momentum": [Interval("real", 0, 1, closed="left")],
        "nesterov": ["boolean"],
        "weight_decay": [Interval("real", 0, None, closed="left")],
        "schedule": [Options(*SCHEDULES), CallableConstraint()],
        "clip_norm": [None, Interval("real", 0, None, closed="neither")],
        "batch_size": [Interval("int", 1, None, closed="left")],
        "max_epochs": [Interval("int", 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval("real", 0, 1, closed="neither")],
        "patience": [Interval("int", 1, None, closed="left")],
        "tol": [Interval("real", 0, None, closed="left")],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
    }

    def __init__(self, learning_rate=0.01, momentum=0.9, nesterov=False, weight_decay=0.0,
                 schedule="constant", clip_norm=None, batch_size=32, max_epochs=100,
                 early_stopping=False, validation_fraction=0.1, patience=10, tol=1e-4,
                 verbose=0, random_state=None):
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
        self.verbose = verbose
        self.random_state = random_state
        self.reset()

    def reset(self):
        """Forget the velocity, the current learning rate (``step`` then uses the epoch-0
        rate) and the random generator."""
        super().reset()
        self._velocity = None
        self._lr = None

    def learning_rate_at(self, epoch):
        """The learning rate the schedule gives for ``epoch`` (0-based)."""
        return float(get_schedule(self.schedule)(epoch, self.learning_rate, self.max_epochs))

    def step(self, network, X, y):
        """One SGD update of ``network.theta`` (in place) on the minibatch ``(X, y)``.

        Uses the learning rate of the optimiser's current epoch: the epoch that
        :meth:`minimize` (or an estimator's ``partial_fit``) started last, so a ``step``
        after ``minimize`` continues at the last epoch's rate; the schedule's epoch-0
        rate before any epoch and after :meth:`reset`.  Returns the minibatch loss
        before the step.
        """
        return _backend.current().scalar(self._step(network, X, y))

    def _step(self, network, X, y):
        """:meth:`step`, returning the loss as a 0-d array of the backend (no host read)."""
        if self._lr is None:
            self._validate_params()
            self._lr = self.learning_rate_at(0)
        xp = _backend.current().xp
        value, g = network.loss_and_grad(X, y, train=True, sync=False)
        theta = network.theta
        if self.weight_decay:
            g += self.weight_decay * theta
        if self.clip_norm is not None:
            norm = xp.sqrt(xp.sum(g * g))
            # scale = min(1, c / ||g||), computed on the device (no host round trip)
            g *= xp.minimum(1.0, self.clip_norm / xp.maximum(norm, 1e-30)).astype(g.dtype)
        if self._velocity is None or self._velocity.shape != theta.shape \
                or self._velocity.dtype != theta.dtype:
            self._velocity = xp.zeros_like(theta)
        momentum_update(theta, g, self._velocity, self._lr, self.momentum, self.nesterov)
        return value

    def _run_epoch(self, network, X, y, epoch):
        """Shuffle, then one step per minibatch; returns the epoch's mean loss and lr.

        The minibatch losses are summed where they are computed (on a GPU, on the
        device) and read once, at the end of the epoch: the one host synchronisation of
        an epoch, where :meth:`minimize` checks for divergence.
        """
        be = _backend.current()
        self._lr = self.learning_rate_at(epoch)
        n = X.shape[0]
        total = 0.0
        for idx in minibatches(n, self.batch_size, self._get_rng(), be):
            total = total + self._step(network, X[idx], y[idx]) * idx.shape[0]
        return {"loss": be.scalar(total) / n, "lr": self._lr}
