"""Layer 3: optimisers.  They talk to a :class:`deepbio.nn.Network` only through its flat
parameter vector ``theta`` and ``loss`` / ``loss_and_grad`` / ``gauss_newton_product``.

* :class:`SGD`: minibatches, momentum / Nesterov, L2 weight decay, gradient clipping,
  learning-rate schedules (:mod:`deepbio.optim.schedules`), early stopping.
* :class:`Adam`, :class:`AdamW`, :class:`RMSprop`: the same loop (schedules, clipping,
  weight decay, early stopping) with per-parameter step sizes.
* :class:`HessianFree`: Martens (2010) truncated-Newton with Gauss-Newton products.
* :class:`Optimizer`: the base class (hyper-parameters, ``reset``, the epoch loop).

Every optimiser has ``step(network, X, y)`` and
``minimize(network, X, y, X_val=None, y_val=None, callback=None, metric=None,
checkpoint=None, checkpoint_every=1, resume=None) -> history``.  See ``docs/optim.md``;
checkpoints (:class:`CheckpointWarning`): ``docs/reliability.md``.
"""
from ._base import Optimizer  # noqa: F401
from ._checkpoint import CheckpointWarning  # noqa: F401
from .adam import Adam, AdamW, RMSprop  # noqa: F401
from .hf import HessianFree  # noqa: F401
from .schedules import (SCHEDULES, Constant, Cosine, InverseScaling, Schedule,  # noqa: F401
                        StepDecay, get_schedule)
from .sgd import SGD  # noqa: F401

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "HessianFree", "Schedule",
           "Constant", "InverseScaling", "StepDecay", "Cosine", "SCHEDULES", "get_schedule",
           "CheckpointWarning"]
