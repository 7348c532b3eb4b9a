"""Adam, AdamW and RMSprop: minibatch optimisers with per-parameter step sizes.

They share SGD's loop (:class:`deepbio.optim._first_order.FirstOrder`): the same
learning-rate schedules (evaluated per epoch), global-norm gradient clipping, weight
decay, minibatches and early stopping.  Each step is one fused kernel call over the
flat parameter vector (``adam_update``, ``rmsprop_update``; formulas in their
docstrings in :mod:`deepbio._kernels.reference`, and in ``docs/optim.md``).  The
updates follow PyTorch's ``torch.optim.Adam`` / ``AdamW`` / ``RMSprop`` operation for
operation, so given the same gradients the trajectories agree to float rounding.

Weight decay:

* ``Adam(weight_decay=w)``: L2 decay, ``w * theta`` added to the gradient before the
  moments (and before the clipping), as ``torch.optim.Adam``;
* ``Adam(weight_decay=w, decoupled=True)`` or ``AdamW(weight_decay=w)``: decoupled decay
  (Loshchilov & Hutter 2019), ``theta *= 1 - lr * w`` beside the Adam step, as
  ``torch.optim.AdamW``; clipping then sees the loss gradient only.
"""
from .._validation import Interval
from ._first_order import COMMON_CONSTRAINTS, FirstOrder

__all__ = ["Adam", "AdamW", "RMSprop"]


class Adam(FirstOrder):
    """Adam (Kingma & Ba 2015) for a :class:`deepbio.nn.Network`.

    Per step ``t`` (from 1) with learning rate ``lr`` from the schedule::

        g = grad + weight_decay * theta             (decoupled=False: L2, as torch Adam)
        theta = theta * (1 - lr * weight_decay)     (decoupled=True: as torch AdamW)
        m = beta1 m + (1 - beta1) g ;  v = beta2 v + (1 - beta2) g^2
        v_hat = max(v_hat, v) if amsgrad else v
        theta = theta - lr / (1 - beta1^t) * m / (sqrt(v_hat / (1 - beta2^t)) + eps)

    Parameters
    ----------
    learning_rate : float > 0, default 0.001
    beta1, beta2 : float in [0, 1), defaults 0.9, 0.999
        Decay rates of the first and second moment estimates.
    eps : float >= 0, default 1e-8
        Added to the denominator (after the square root, as PyTorch).
    amsgrad : bool
        Use the running maximum of ``v`` (Reddi, Kale & Kumar 2018).
    decoupled : bool
        Decoupled weight decay (AdamW) instead of L2.
    weight_decay : float >= 0
    schedule : {"constant", "inverse_scaling", "step", "cosine"}, Schedule or callable
        Learning rate per epoch (see :mod:`deepbio.optim.schedules`).
    clip_norm : float > 0 or None
        Rescale the gradient (after L2 decay) to at most this global L2 norm.
    batch_size, max_epochs, early_stopping, validation_fraction, patience, tol, verbose,
    random_state, comm
        As for :class:`deepbio.optim.SGD`.

    Example
    -------
    >>> import numpy as np
    >>> from deepbio.nn import Network, Dense
    >>> from deepbio.optim import Adam
    >>> X = np.random.default_rng(0).normal(size=(64, 3))
    >>> y = X @ np.array([[1.0], [-2.0], [0.5]])
    >>> net = Network([Dense(1)], "squared_error", dtype="float64").build(3, 0)
    >>> h = Adam(learning_rate=0.05, max_epochs=100, random_state=0).minimize(net, X, y)
    >>> h[-1]["loss"] < 1e-4
    True

    References
    ----------
    Kingma & Ba (2015), Adam: a method for stochastic optimization.  Loshchilov & Hutter
    (2019), Decoupled weight decay regularization.  Reddi, Kale & Kumar (2018), On the
    convergence of Adam and beyond.
    """

    _parameter_constraints = dict(
        COMMON_CONSTRAINTS,
        beta1=[Interval("real", 0, 1, closed="left")],
        beta2=[Interval("real", 0, 1, closed="left")],
        eps=[Interval("real", 0, None, closed="left")],
        amsgrad=["boolean"],
        decoupled=["boolean"],
    )

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, eps=1e-8,
                 weight_decay=0.0, amsgrad=False, decoupled=False, schedule="constant",
                 clip_norm=None, batch_size=32, max_epochs=100, early_stopping=False,
                 validation_fraction=0.1, patience=10, tol=1e-4, verbose=0,
                 random_state=None, comm=None):
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.amsgrad = amsgrad
        self.decoupled = decoupled
        self._set_common(learning_rate, weight_decay, schedule, clip_norm, batch_size,
                         max_epochs, early_stopping, validation_fraction, patience, tol,
                         verbose, random_state, comm)

    @property
    def _state_names(self):
        return ("m", "v", "vmax") if self.amsgrad else ("m", "v")

    def _clip_decay(self):
        return 0.0 if self.decoupled else self.weight_decay

    def _update(self, kernels, theta, g, scale):
        st, wd = self._state, float(self.weight_decay)
        kernels["adam_update"](theta, g, st["m"], st["v"], st.get("vmax"), scale, self._lr,
                               float(self.beta1), float(self.beta2), float(self.eps),
                               0.0 if self.decoupled else wd, wd if self.decoupled else 0.0,
                               self._t)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019), as ``torch.optim.AdamW``:
    ``Adam(decoupled=True)`` with PyTorch's default ``weight_decay=0.01``.

    Every parameter of :class:`Adam` but ``decoupled`` (always True here).
    """

    _parameter_constraints = {k: v for k, v in Adam._parameter_constraints.items()
                              if k != "decoupled"}

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, eps=1e-8,
                 weight_decay=0.01, amsgrad=False, schedule="constant", clip_norm=None,
                 batch_size=32, max_epochs=100, early_stopping=False,
                 validation_fraction=0.1, patience=10, tol=1e-4, verbose=0,
                 random_state=None, comm=None):
        super().__init__(learning_rate, beta1, beta2, eps, weight_decay, amsgrad, True,
                         schedule, clip_norm, batch_size, max_epochs, early_stopping,
                         validation_fraction, patience, tol, verbose, random_state, comm)

    @property
    def decoupled(self):
        return True

    @decoupled.setter
    def decoupled(self, value):
        if value is not True:
            raise ValueError("AdamW's weight decay is always decoupled; use Adam for L2 decay")


class RMSprop(FirstOrder):
    """RMSprop (Tieleman & Hinton 2012), PyTorch's form (``torch.optim.RMSprop``)::

        g = grad + weight_decay * theta
        s = alpha s + (1 - alpha) g^2
        a = alpha a + (1 - alpha) g                 (centered)
        d = sqrt(s - a^2) + eps  if centered  else  sqrt(s) + eps
        b = momentum b + g / d ;  theta = theta - lr b     (momentum > 0)
        theta = theta - lr g / d                           (momentum = 0)

    Parameters
    ----------
    learning_rate : float > 0, default 0.01
    alpha : float in [0, 1), default 0.99
        Decay rate of the mean square.
    eps : float >= 0, default 1e-8
    momentum : float in [0, 1), default 0
    centered : bool
        Normalise by the estimated variance (Graves 2013) instead of the mean square.
    weight_decay : float >= 0
    schedule : {"constant", "inverse_scaling", "step", "cosine"}, Schedule or callable
        Learning rate per epoch (see :mod:`deepbio.optim.schedules`).
    clip_norm : float > 0 or None
        Rescale the gradient (after L2 decay) to at most this global L2 norm.
    batch_size, max_epochs, early_stopping, validation_fraction, patience, tol, verbose,
    random_state, comm
        As for :class:`deepbio.optim.SGD`.

    References
    ----------
    Tieleman & Hinton (2012), Lecture 6.5, rmsprop.  Graves (2013), Generating sequences
    with recurrent neural networks (the centered form).
    """

    _parameter_constraints = dict(
        COMMON_CONSTRAINTS,
        alpha=[Interval("real", 0, 1, closed="left")],
        eps=[Interval("real", 0, None, closed="left")],
        momentum=[Interval("real", 0, 1, closed="left")],
        centered=["boolean"],
    )

    def __init__(self, learning_rate=0.01, alpha=0.99, eps=1e-8, momentum=0.0,
                 centered=False, weight_decay=0.0, schedule="constant", clip_norm=None,
                 batch_size=32, max_epochs=100, early_stopping=False,
                 validation_fraction=0.1, patience=10, tol=1e-4, verbose=0,
                 random_state=None, comm=None):
        self.alpha = alpha
        self.eps = eps
        self.momentum = momentum
        self.centered = centered
        self._set_common(learning_rate, weight_decay, schedule, clip_norm, batch_size,
                         max_epochs, early_stopping, validation_fraction, patience, tol,
                         verbose, random_state, comm)

    @property
    def _state_names(self):
        return (("square_avg",) + (("grad_avg",) if self.centered else ())
                + (("buf",) if self.momentum > 0 else ()))

    def _update(self, kernels, theta, g, scale):
        st = self._state
        kernels["rmsprop_update"](theta, g, st["square_avg"], st.get("grad_avg"),
                                  st.get("buf"), scale, self._lr, float(self.alpha),
                                  float(self.eps), float(self.momentum),
                                  float(self.weight_decay))
