"""Layer 2: layers, losses and networks with forward, backward and R-op, autograd-free.

::

    from deepbio.nn import Network, Dense, Dropout
    net = Network([Dense(64, "relu"), Dropout(0.2), Dense(10)], "softmax_cross_entropy")
    net.build(input_shape=(64,), random_state=0)
    value, grad = net.loss_and_grad(X, Y)            # Y one-hot, float
    Gv = net.gauss_newton_product(v, X, Y)           # J^T H_L J v

See ``docs/nn.md`` for the maths.  Notes for callers (differences from the first spec):

* ``Network.loss`` is the METHOD ``loss(X, y, train=False)``; the loss object is
  ``Network.loss_fn`` (one attribute cannot be both).
* ``Network.build(input_shape, random_state=None)`` returns the network.
* ``Layer.backward(dy, include_penalty=True)``: the keyword (default keeps the spec'd
  behaviour) lets the Gauss-Newton product run a purely linear ``J^T`` pass.
* ``Layer.rop`` of a parameter-free layer given ``dx=None`` returns None (zero tangent).
* Additions: ``Layer.backward_squared`` / ``Network.squared_example_grads(X, y)`` (the
  empirical Fisher diagonal in one pass, for HF's preconditioner), ``Layer.bind``,
  ``Network.grad`` / ``penalty()`` / ``get_config()`` / ``from_config()``,
  ``Dropout.mask``, the ``Flatten`` layer, ``Dense(init="he")``.
* ``loss_and_grad`` and ``gauss_newton_product`` take ``train=True`` by default (dropout
  active); ``loss`` takes ``train=False``.  Consecutive ``gauss_newton_product`` calls on
  the same ``X``/``y`` objects and unchanged ``theta`` reuse one forward (one dropout
  mask), as a CG solve needs; ``Network.linearize(X, y)`` makes that reuse an explicit
  handle (a :class:`Linearization`) that compares no arrays, which HF uses.
* ``sync=False`` on ``loss`` / ``loss_and_grad`` / ``penalty`` / ``Loss.forward`` keeps the
  value on the device (a 0-d array of the backend); the default returns a Python float.
* A layer object belongs to one network, at one position (its parameters are views of
  that network's ``theta``): ``Network`` raises ValueError otherwise.  A leading
  ``SequenceMask`` is connected to the following layers by ``Network`` itself.
* Targets are checked once per batch (``Loss.check_targets``): softmax rows sum to 1,
  sigmoid targets lie in [0, 1], all finite.
"""
from .layers import (LAYERS, Activation, Dense, Dropout, Flatten, KLSparsity,  # noqa: F401
                     Layer, TimeDistributedDense, layer_from_config)
from .losses import (LOSSES, Loss, MaskedSoftmaxCrossEntropy, SigmoidCrossEntropy,  # noqa: F401
                     SoftmaxCrossEntropy, SquaredError, get_loss)
from .masking import SequenceMask  # noqa: F401
from .network import Linearization, Network  # noqa: F401
from .conv import ChannelsFirst, Conv1D, Conv2D  # noqa: F401,E402
from .pool import AvgPool1D, AvgPool2D, GlobalMaxPool1D, MaxPool1D, MaxPool2D  # noqa: F401
from .recurrent import GRU, LSTM, Elman  # noqa: F401
from .autoencoder import Corruption, TiedAutoEncoder  # noqa: F401

__all__ = ["Layer", "Dense", "Dropout", "KLSparsity", "Activation", "Flatten", "LAYERS",
           "layer_from_config", "Loss", "SoftmaxCrossEntropy", "SigmoidCrossEntropy",
           "SquaredError", "LOSSES", "get_loss", "Network", "Linearization", "ChannelsFirst", "Conv1D", "Conv2D",
           "AvgPool1D", "AvgPool2D", "GlobalMaxPool1D", "MaxPool1D", "MaxPool2D", "LSTM", "GRU",
           "Elman", "MaskedSoftmaxCrossEntropy", "SequenceMask", "TimeDistributedDense",
           "Corruption", "TiedAutoEncoder"]
