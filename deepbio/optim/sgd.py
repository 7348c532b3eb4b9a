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

The minibatch loop, the clipping and the schedules are :class:`FirstOrder`'s, shared with
Adam and RMSprop; the update itself is one call of the fused kernel ``sgd_update`` (one
pass over the flat parameter vector, see ``docs/kernels.md``).
"""
from .._validation import Interval
from ._first_order import COMMON_CONSTRAINTS, FirstOrder

__all__ = ["SGD", "momentum_update"]


def momentum_update(param, grad, velocity, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
    """One step of gradient descent with momentum, in place on ``param`` and ``velocity``.

    With ``g = grad + weight_decay * param`` (L2 weight decay; ``grad`` is the loss
    gradient, it is not modified)::

        v     <- momentum * v - lr * g
        param <- param + v                          (classical momentum)
        param <- param + momentum * v - lr * g      (Nesterov, Sutskever et al. 2013)

    The DBM updates its parameters here; :class:`SGD` (on its flat parameter vector) and
    the RBM (on each parameter) run the same update as the fused kernel ``sgd_update``.
    """
    g = grad + weight_decay * param if weight_decay else grad
    velocity *= momentum
    velocity -= lr * g
    if nesterov:
        param += momentum * velocity - lr * g
    else:
        param += velocity


class SGD(FirstOrder):
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
    comm : mpi4py communicator or None
        Data-parallel training: each rank passes its own shard, and every step uses the
        gradient of the ranks' concatenated minibatches (``docs/distributed.md``).

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

    _parameter_constraints = dict(
        COMMON_CONSTRAINTS,
        momentum=[Interval("real", 0, 1, closed="left")],
        nesterov=["boolean"],
    )
    _state_names = ("velocity",)

    def __init__(self, learning_rate=0.01, momentum=0.9, nesterov=False, weight_decay=0.0,
                 schedule="constant", clip_norm=None, batch_size=32, max_epochs=100,
                 early_stopping=False, validation_fraction=0.1, patience=10, tol=1e-4,
                 verbose=0, random_state=None, comm=None):
        self.momentum = momentum
        self.nesterov = nesterov
        self._set_common(learning_rate, weight_decay, schedule, clip_norm, batch_size,
                         max_epochs, early_stopping, validation_fraction, patience, tol,
                         verbose, random_state, comm)

    @property
    def _velocity(self):
        """The velocity vector (None before the first step and after :meth:`reset`)."""
        return None if self._state is None else self._state["velocity"]

    def _update(self, kernels, theta, g, scale):
        kernels["sgd_update"](theta, g, self._state["velocity"], scale, self._lr,
                              float(self.momentum), float(self.weight_decay),
                              bool(self.nesterov))
