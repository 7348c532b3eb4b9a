"""A network: a sequence of layers and a matching loss, over one flat parameter vector.

:meth:`Network.build` creates every layer's parameters, then copies them into ONE flat
vector ``theta`` and rebinds each layer's ``params`` to reshaped views of it (and each
layer's ``grads`` to views of ONE flat vector ``grad``).  Optimisers therefore update
``network.theta`` in place, and a backward pass fills ``network.grad`` as a side effect.

The optimisers speak only to this interface::

    loss(X, y)                    -> float            data loss + layer penalties
    loss_and_grad(X, y)           -> (float, g)       g = d loss / d theta (a copy)

(``sync=False`` keeps either loss on the device, a 0-d array of the backend)
    gauss_newton_product(v, X, y) -> G v              G = J^T H_L J

where ``J = dz/dtheta`` is the Jacobian of the network's output (before the loss's
non-linearity) and ``H_L`` the loss Hessian with respect to that output.

Because a layer's parameters are views of ONE network's ``theta``, a layer object
belongs to one network, once: a second network (or a second place in the same one)
would rebind them and silently break the first.  :class:`Network` refuses both.
"""
import contextlib
import weakref

import numpy as np

from .. import backend as _backend
from .layers import Layer, layer_from_config, _shape, _size
from .losses import get_loss
from .masking import SequenceMask

__all__ = ["Network", "Linearization"]

DTYPES = ("float32", "float64")

#: The network each layer belongs to: ``layer -> weakref.ref(network)``.  Weak on both
#: sides, so a network that is garbage collected frees its layers, and nothing about the
#: owner is stored on the layer itself (a ``copy.deepcopy`` of a layer is a free layer).
_OWNERS = weakref.WeakKeyDictionary()



def _snapshot(a):
    """A copy of array ``a`` to compare with later (None for anything else)."""
    return a.copy() if hasattr(a, "copy") and hasattr(a, "shape") else None


def _same(saved, a):
    """Whether ``a`` still equals the ``saved`` copy (shape and every entry)."""
    if saved is None:
        return not hasattr(a, "shape")
    return saved.shape == a.shape and _backend.current().truth((saved == a).all())

class Network:
    """A feed-forward stack of layers trained against a matching loss.

    Parameters
    ----------
    layers : list of Layer
        Applied in order.  The last layer's output is ``z``, the loss's input: keep it
        linear (the loss applies softmax / sigmoid itself).
        Each layer object may appear once, in this network only (ValueError otherwise:
        make a new layer, or ``copy.deepcopy`` one).  A leading
        :class:`~deepbio.nn.SequenceMask` is connected to the layers after it.
    loss : str or Loss
        ``"softmax_cross_entropy"``, ``"sigmoid_cross_entropy"``, ``"squared_error"`` or
        ``"masked_softmax_cross_entropy"``.
    dtype : {"float32", "float64"}

    Attributes (after :meth:`build`)
    ----------
    theta : (n_params,) array
        All parameters; each layer's ``params`` are views of it.
    grad : (n_params,) array
        Filled by every backward pass; each layer's ``grads`` are views of it.
    loss_fn : Loss
        The loss object.  (``loss`` is the method ``loss(X, y)``.)

    Examples
    --------
    >>> import numpy as np
    >>> from deepbio.nn import Network, Dense
    >>> net = Network([Dense(8, "tanh"), Dense(3)], "softmax_cross_entropy")
    >>> net = net.build(4, random_state=0)
    >>> X, y = np.ones((5, 4)), np.eye(3)[[0, 1, 2, 0, 1]]
    >>> value, g = net.loss_and_grad(X, y)
    >>> g.shape == (net.n_params,)
    True
    """

    def __init__(self, layers, loss, dtype="float32"):
        layers = list(layers)
        if not layers:
            raise ValueError("layers must be a non-empty list of Layer objects")
        first = {}            # id(layer) -> its first position
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"layers[{i}] must be a deepbio.nn Layer, got "
                                f"{type(layer).__name__}")
            if id(layer) in first:
                raise ValueError(f"layer {layer!r} appears twice in this network (layers"
                                 f"[{first[id(layer)]}] and layers[{i}]); each position needs "
                                 f"its own layer object, with its own parameters")
            first[id(layer)] = i
            if isinstance(layer, SequenceMask) and i > 0:
                raise ValueError(f"layers[{i}] is a SequenceMask; it must be the first layer "
                                 f"(it splits the mask channel off the network's input)")
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
        self.layers = layers
        self.loss_fn = get_loss(loss)
        self.dtype = dtype
        self._claim_layers()
        if isinstance(layers[0], SequenceMask):
            # the mask channel reaches the layers that use it (Conv1D, LSTM, ...)
            layers[0].connect(layers[1:])
        self.theta = None
        self.grad = None
        self.input_shape = None
        self.output_shape = None
        self._slices = []     # per layer: list of (start, stop, shape) of its params
        self._gn_key = None   # what the last gauss_newton_product's forward was run on
        self._forwards = 0    # forwards run; a Linearization is of one of them
        self._version = 0     # bumped when the parameters are set (build, set_flat)
        self._targets_trusted = False    # inside targets_checked(): batches of checked y

    # ---------------------------------------------------------------- building
    def _claim_layers(self):
        """Record this network as the owner of its layers; ValueError if one already
        belongs to another (living) network."""
        for i, layer in enumerate(self.layers):
            ref = _OWNERS.get(layer)
            owner = None if ref is None else ref()
            if owner is not None and owner is not self:
                raise ValueError(f"layers[{i}] ({layer!r}) already belongs to another Network, "
                                 f"whose theta holds its parameters; make a new layer (or "
                                 f"copy.deepcopy it) for this network")
        for layer in self.layers:
            _OWNERS[layer] = weakref.ref(self)

    @property
    def built(self):
        return self.theta is not None

    def build(self, input_shape, random_state=None):
        """Create all parameters for per-sample ``input_shape``; return ``self``.

        ``random_state`` (None, int or a generator) seeds the initialisation.
        """
        self._claim_layers()   # again: a deep-copied or unpickled network has new layers
        be = _backend.current()
        xp = be.xp
        rng = be.rng(random_state)
        shape = _shape(input_shape)
        self.input_shape = shape
        for layer in self.layers:
            shape = tuple(layer.build(shape, rng, self.dtype))
        self.output_shape = shape

        sizes = [[_size(p.shape) for p in layer.params] for layer in self.layers]
        n = sum(sum(s) for s in sizes)
        self.theta = xp.zeros(n, dtype=self.dtype)
        self.grad = xp.zeros(n, dtype=self.dtype)
        self._slices, start = [], 0
        for layer, layer_sizes in zip(self.layers, sizes):
            spans = []
            for p, size in zip(layer.params, layer_sizes):
                spans.append((start, start + size, tuple(p.shape)))
                start += size
            self._slices.append(spans)
            layer.bind(self._views(self.theta, spans), self._views(self.grad, spans))
        # Backward passes stop at the lowest layer with parameters: below it there is
        # nothing to differentiate, and its own input gradient is never read.
        self._lowest = next((i for i, layer in enumerate(self.layers) if layer.params), 0)
        for i, layer in enumerate(self.layers):
            layer.needs_input_grad = i > self._lowest
        self._gn_key = None
        self._version += 1
        return self

    @staticmethod
    def _views(flat, spans):
        return [flat[a:b].reshape(shape) for a, b, shape in spans]

    def _check_built(self):
        if not self.built:
            raise RuntimeError("the network is not built; call build(input_shape, "
                               "random_state) first")

    @property
    def n_params(self):
        self._check_built()
        return int(self.theta.shape[0])

    def get_flat(self):
        """A copy of the flat parameter vector."""
        self._check_built()
        return self.theta.copy()

    def set_flat(self, theta):
        """Copy ``theta`` (n_params,) into the parameters (in place: views stay valid).

        ``theta`` must be real and finite (TypeError / ValueError otherwise)."""
        self._check_built()
        if np.iscomplexobj(theta):
            raise TypeError("theta must be real, got a complex array (its imaginary part "
                            "would be dropped)")
        be = _backend.current()
        theta = be.asarray(theta, self.dtype)
        if theta.shape != self.theta.shape:
            raise ValueError(f"theta must have shape {tuple(self.theta.shape)}, got "
                             f"{tuple(theta.shape)}")
        if not be.all_finite(theta):
            raise ValueError("theta must be finite; it holds NaN or inf")
        self.theta[...] = theta
        self._version += 1

    # ------------------------------------------------------------ evaluation
    def _inputs(self, X):
        X = _backend.current().asarray(X, self.dtype)
        if tuple(X.shape[1:]) != self.input_shape or X.shape[0] < 1:
            raise ValueError(f"X must have shape (N, {', '.join(map(str, self.input_shape))})"
                             f" with N >= 1, got {tuple(X.shape)}")
        return X

    def _targets(self, y, n):
        y = _backend.current().asarray(y, self.dtype)
        want = (n,) + self.output_shape
        if tuple(y.shape) != want:
            raise ValueError(f"y must have shape {want} (the network's output shape), got "
                             f"{tuple(y.shape)}; one-hot encode class labels and reshape "
                             f"1-d targets to (N, 1)")
        if not self._targets_trusted:
            self.loss_fn.check_targets(y)  # e.g. softmax rows sum to 1; ValueError if not
        return y

    @contextlib.contextmanager
    def targets_checked(self, *targets):
        """Check whole target arrays once, then trust their minibatches inside the block.

        The loss's target check (finite, rows summing to 1, ...) is row-wise, so checking
        every ``y`` of ``targets`` (None entries are skipped) once is checking every batch
        cut from them.  Inside the block the per-call check is skipped (the shape check
        stays): an optimiser runs its epochs here, and each step reads no target value on
        the host.  Only batches of the checked arrays may be passed inside the block.
        """
        for y in targets:
            if y is not None:
                self._targets(y, y.shape[0])
        before, self._targets_trusted = self._targets_trusted, True
        try:
            yield self
        finally:
            self._targets_trusted = before

    @contextlib.contextmanager
    def inputs_checked(self, *inputs):
        """Check the masks of whole input arrays once, then trust their minibatches.

        With a leading :class:`~deepbio.nn.SequenceMask`, every forward checks its mask
        channel (0/1, no empty sequence, no hole, enough real positions for each
        convolution and pooling): row-wise properties, so checking each ``X`` of
        ``inputs`` once (None entries are skipped) is checking every batch cut from it.
        Inside the block those checks are skipped (the shape checks stay), so a forward
        reads no mask value on the host.  Only batches of the checked arrays may be
        passed inside the block.  Without a SequenceMask there is nothing to check.
        """
        first = self.layers[0]
        if not isinstance(first, SequenceMask) or not self.built:
            yield self
            return
        be = _backend.current()
        all_real = True
        for X in inputs:
            if X is not None:
                X = self._inputs(X)
                first.forward(X)                        # the checks of every forward
                all_real = all_real and be.truth((X[:, :, -1] > 0).all())
        with first.trusting(all_real):
            yield self

    def forward(self, X, train=False):
        """The pre-loss output ``z`` (N, *output_shape); caches every layer's state."""
        self._check_built()
        self._gn_key = None
        self._forwards += 1
        a = self._inputs(X)
        for layer in self.layers:
            a = layer.forward(a, train=train)
        return a

    def predict(self, X):
        """``y_hat = g(z)``: class probabilities, or the regression output."""
        return self.loss_fn.output(self.forward(X, train=False))

    def penalty(self, sync=True):
        """Sum of the layers' penalties from the last forward: a Python float, or with
        ``sync=False`` a 0-d array of the backend (or 0.0 when no layer has a penalty)."""
        total = 0.0
        for layer in self.layers:
            total = total + layer.penalty_value()
        return _backend.current().scalar(total) if sync else total

    def loss(self, X, y, train=False, sync=True):
        """Mean data loss + layer penalties at the current parameters.

        A Python float; with ``sync=False`` a 0-d array of the backend, read by nobody
        yet, so a GPU is not waited for (an optimiser sums these over an epoch and reads
        the sum once).
        """
        z = self.forward(X, train=train)
        value = self.loss_fn.forward(z, self._targets(y, z.shape[0]), sync=False) \
            + self.penalty(sync=False)
        return _backend.current().scalar(value) if sync else value

    def _backward(self, dz, include_penalty):
        """Backward from the loss down to the lowest layer with parameters (filling
        ``self.grad``); the input gradient of the network is not computed."""
        for layer in reversed(self.layers[self._lowest:]):
            dz = layer.backward(dz, include_penalty=include_penalty)

    def loss_and_grad(self, X, y, train=True, sync=True):
        """``(loss, d loss / d theta)``; the gradient is a copy of ``self.grad``.  The loss
        is a Python float, or with ``sync=False`` a 0-d array of the backend (see
        :meth:`loss`)."""
        z = self.forward(X, train=train)
        value = self.loss_fn.forward(z, self._targets(y, z.shape[0]), sync=False) \
            + self.penalty(sync=False)
        self._backward(self.loss_fn.backward(), include_penalty=True)
        return (_backend.current().scalar(value) if sync else value), self.grad.copy()

    def input_gradient(self, X, dz, train=False):
        """``dX = J_x^T dz``: the gradient of ``sum(dz * z)`` with respect to the input.

        One forward pass on ``X`` (N, *input_shape) and one backward pass through EVERY
        layer, the parameter-free ones below the lowest layer with parameters included
        (the training path, :meth:`_backward`, stops at that layer and skips its input
        gradient; here it is asked for, just for this call).  This is what attribution
        methods need (:mod:`deepbio.explain`); no autograd is involved.

        Parameters
        ----------
        X : (N, *input_shape) array
        dz : (N, *output_shape) array, or a callable ``dz(z) -> array``
            The output gradient ``d f / d z`` of a scalar function ``f`` of the pre-loss
            output ``z`` (summed over the batch).  A callable gets the forward's ``z``,
            so a gradient that depends on ``z`` (e.g. of a softmax probability) costs no
            second forward.
        train : bool, default=False
            Prediction-mode forward (dropout off), as attributions want.

        Returns
        -------
        (dX, z) : the input gradient (N, *input_shape) and the forward's output ``z``.

        Layer penalties are left out, and ``self.grad`` is overwritten (a backward pass
        fills the parameter gradients as a side effect).
        """
        z = self.forward(X, train=train)
        if callable(dz):
            dz = dz(z)
        dz = _backend.current().asarray(dz, self.dtype)
        if tuple(dz.shape) != tuple(z.shape):
            raise ValueError(f"dz must have the network output's shape {tuple(z.shape)}, "
                             f"got {tuple(dz.shape)}")
        lowest = self.layers[self._lowest]
        lowest.needs_input_grad = True
        try:
            for layer in reversed(self.layers):
                dz = layer.backward(dz, include_penalty=False)
        finally:
            lowest.needs_input_grad = False     # as build() left it: training stays lean
        return dz, z

    def squared_example_grads(self, X, y, train=True):
        """``(1/N) sum_i g_i**2``: the mean of the squared per-example gradients ``g_i`` of
        the data loss (the empirical Fisher diagonal, for preconditioning), shape
        (n_params,).  ``g_i`` is the gradient of example i's term ``l_i`` of the batch
        loss ``L = (1/N) sum_i l_i``: its output gradient is row i of ``N dL/dz``.  One
        forward and one backward pass when every layer implements ``backward_squared``;
        else one forward and backward per example, fed that row (the same ``g_i``, so a
        loss that averages over a batch's masked positions is split alike).  Layer
        penalties are left out.  ``self.grad`` is overwritten.
        """
        z = self.forward(X, train=train)
        n = z.shape[0]
        xp = _backend.current().xp
        self.loss_fn.forward(z, self._targets(y, n), sync=False)
        rows = self.loss_fn.backward() * n         # row i: d l_i / d z_i
        try:
            delta = rows
            for layer in reversed(self.layers):
                delta = layer.backward_squared(delta)
            return self.grad / n
        except NotImplementedError:
            pass
        X = self._inputs(X)
        total = xp.zeros_like(self.theta)
        for i in range(n):
            self.forward(X[i:i + 1], train=train)
            self._backward(rows[i:i + 1], include_penalty=False)
            total += self.grad * self.grad
        return total / n

    # --------------------------------------------------------- curvature
    def linearize(self, X, y, train=True):
        """The network linearised at its current parameters on the batch ``(X, y)``: a
        :class:`Linearization` whose ``gauss_newton_product(v)`` gives ``G v`` without
        running a forward again (and so with one dropout mask, when ``train``).

        One forward here; the handle holds no copy of anything and compares nothing: it
        stays valid until this network runs another forward or its parameters are set
        (``set_flat``, ``build``), after which its products raise RuntimeError.  Writing
        into ``theta`` or into the batch in place is not seen: linearise again after it.
        A Hessian-free CG run makes every product of one solve through one handle.
        """
        self._check_built()
        z = self.forward(X, train=train)
        self.loss_fn.forward(z, self._targets(y, z.shape[0]), sync=False)
        return Linearization(self)

    def _forward_for_gn(self, X, y, train):
        """Run (or reuse) the forward that :meth:`gauss_newton_product` linearises around.

        Consecutive products on the same ``X`` and ``y`` (the same objects, with the same
        contents: a batch refilled in place is a new batch), ``train`` flag and unchanged
        ``theta`` reuse one forward (and so one dropout mask).  Any other forward, or a
        change of ``theta``, invalidates it.  The contents are compared entry by entry
        (three reductions, each a host read on a GPU): loops that make many products
        take a :meth:`linearize` handle instead, which compares nothing.
        """
        key = self._gn_key
        if key is not None and key[0] is X and key[1] is y and key[2] == train \
                and key[6].valid and _same(key[3], self.theta) and _same(key[4], X) \
                and _same(key[5], y):
            return
        lin = self.linearize(X, y, train)
        self._gn_key = (X, y, train, self.theta.copy(), _snapshot(X), _snapshot(y), lin)

    def gauss_newton_product(self, v, X, y, train=True):
        """``G v = J^T H_L J v`` at the current parameters on the batch ``(X, y)``.

        One forward (reused across consecutive calls on the same batch and parameters,
        see :meth:`_forward_for_gn`; :meth:`linearize` makes the reuse explicit), one
        R-op pass giving ``J v`` (each layer's ``rop`` with its parameter tangents as
        views of ``v``), ``H_L (J v)`` from the loss, and one linear backward pass giving
        ``J^T (H_L J v)`` (layer penalties are left out of the curvature).  Returns a new
        (n_params,) array; ``self.grad`` is overwritten.
        """
        self._check_built()
        v = self._tangent(v)
        self._forward_for_gn(X, y, train)
        return self._gn_product(v)

    def _tangent(self, v):
        v = _backend.current().asarray(v, self.dtype)
        if v.shape != self.theta.shape:
            raise ValueError(f"v must have shape {tuple(self.theta.shape)}, got "
                             f"{tuple(v.shape)}")
        return v

    def _gn_product(self, v):
        """``J^T H_L J v`` around the last forward (an R-op pass, then a backward)."""
        t = None
        for layer, spans in zip(self.layers, self._slices):
            t = layer.rop(t, self._views(v, spans) if spans else None)
        if t is None:   # no parameter before the output: J = 0
            return _backend.current().xp.zeros_like(self.theta)
        self._backward(self.loss_fn.gauss_newton(t), include_penalty=False)
        return self.grad.copy()

    # ------------------------------------------------------------ describing
    def describe(self):
        """A text table: each layer, its output shape and parameter count."""
        rows = [("layer", "output shape", "params")]
        for layer in self.layers:
            n = sum(_size(p.shape) for p in layer.params) if layer.built else "?"
            rows.append((repr(layer), str(layer.output_shape), str(n)))
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        total = self.n_params if self.built else "?"
        lines.append(f"loss: {self.loss_fn.name}   input shape: {self.input_shape}   "
                     f"parameters: {total}   dtype: {self.dtype}")
        return "\n".join(lines)

    def get_config(self):
        """JSON-able description: layers (name + config), loss name and dtype."""
        return {"layers": [{"name": type(layer).__name__, "config": layer.get_config()}
                           for layer in self.layers],
                "loss": self.loss_fn.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        """An unbuilt network from :meth:`get_config`'s dict."""
        layers = [layer_from_config(d["name"], d["config"]) for d in config["layers"]]
        return cls(layers, config["loss"], dtype=config.get("dtype", "float32"))

    def __repr__(self):
        return (f"Network({len(self.layers)} layers, loss={self.loss_fn.name!r}, "
                f"dtype={self.dtype!r}, n_params="
                f"{self.n_params if self.built else None})")


class Linearization:
    """A network linearised around one forward: ``G v`` products at that point.

    Made by :meth:`Network.linearize`.  Valid while the network runs no other forward
    and its parameters are not set; it checks two counters of the network for that
    (host integers: nothing is read from a device), never the arrays themselves.
    """

    def __init__(self, network):
        self.network = network
        self._forwards, self._version = network._forwards, network._version

    @property
    def valid(self):
        """True while the network is still at this linearisation point."""
        net = self.network
        return net._forwards == self._forwards and net._version == self._version

    def gauss_newton_product(self, v):
        """``G v = J^T H_L J v`` at the linearisation point (a new (n_params,) array;
        the network's ``grad`` is overwritten).  RuntimeError once the handle is stale."""
        if not self.valid:
            raise RuntimeError("this Linearization is stale: the network has run another "
                               "forward, or its parameters were set, since linearize(); "
                               "call network.linearize(X, y) again")
        return self.network._gn_product(self.network._tangent(v))
