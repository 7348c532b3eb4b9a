"""Layers: forward, backward and forward-mode (R-op) differentiation, autograd-free.

The contract every layer keeps (shapes are per sample, without the batch axis):

* ``build(input_shape, rng, dtype) -> output_shape`` creates the parameter arrays
  (``params``, named by ``param_names``) and same-shaped gradient arrays (``grads``).
  A :class:`~deepbio.nn.Network` then rebinds both to views of its flat vectors.
* ``forward(x, train=False) -> y`` caches what ``backward`` and ``rop`` need.
* ``backward(dy) -> dx`` returns ``dL/dx`` and **overwrites** ``grads`` (in place, so
  the flat gradient vector behind them is filled) with ``dL/dparams``.
* ``rop(dx, dparams) -> dy`` is the directional derivative of the output at the last
  forward's input: ``dy = (d y / d x) dx + sum_k (d y / d params_k) dparams_k``.
  ``dx`` may be None and ``dparams`` entries may be None (zero tangent); a layer with
  no parameters given ``dx=None`` returns None (a zero tangent) too.
* ``penalty() -> float``: an extra term of the training objective computed by the last
  forward (0.0 for most layers); ``backward`` adds its gradient.

Every heavy operation is a kernel of the active backend (``backend.current().kernels``);
array bookkeeping uses its ``xp``, so one layer runs on every backend unchanged.
"""
import math
import numbers

from .. import backend as _backend
from .._validation import check_choice, check_int, check_real
from ._arrays import _chunks, _contig

__all__ = ["Layer", "Dense", "TimeDistributedDense", "Dropout", "KLSparsity", "Activation",
           "Flatten", "LAYERS", "layer_from_config"]

ACTIVATIONS = ("linear", "sigmoid", "tanh", "relu", "softmax")
INITS = ("glorot", "he", "sparse")
SPARSE_FAN_IN = 15   # Martens (2010): 15 nonzero incoming weights per unit


def _is_int(value):
    """Whether ``value`` is an integer: a Python int or a NumPy integer, but not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _int(name, value, low=1):
    """``value`` as a Python int >= ``low`` (:func:`deepbio._validation.check_int`)."""
    return check_int(name, value, low)


def _shape(shape):
    """A per-sample shape as a tuple of positive ints (an int n means ``(n,)``)."""
    if _is_int(shape):
        shape = (shape,)
    try:
        shape = tuple(shape)
    except TypeError:
        raise ValueError(f"input_shape must be an int or a tuple of positive ints, got "
                         f"{shape!r}") from None
    if not shape or not all(_is_int(s) and s >= 1 for s in shape):
        raise ValueError(f"input_shape must be a non-empty tuple of positive ints, got {shape}")
    return tuple(int(s) for s in shape)


def _size(shape):
    return math.prod(shape)


_choice = check_choice      # the shared checks of deepbio._validation, by their short names
_real = check_real


def _as_rows(x, be):
    """``x`` of shape (N, ...) as a C-contiguous (N, D) array (a view when possible)."""
    return be.xp.ascontiguousarray(x.reshape(x.shape[0], -1))


def _last_axis_rows(x, be):
    """``x`` of shape (..., K) as a C-contiguous (M, K) array: elementwise and softmax
    activations act along the last axis."""
    return be.xp.ascontiguousarray(x.reshape(-1, x.shape[-1]))


def child_seed(rng):
    """A fresh integer seed drawn from ``rng`` (to seed a sub-component reproducibly)."""
    return int(rng.integers(0, 2**63 - 1))


def _normal(be, rng, shape, dtype):
    """Standard normal draws by Box-Muller from the backend's uniforms (on its device)."""
    xp = be.xp
    u1 = be.uniform(rng, shape, "float64")
    u2 = be.uniform(rng, shape, "float64")
    z = xp.sqrt(-2.0 * xp.log1p(-u1)) * xp.cos((2.0 * math.pi) * u2)
    return z.astype(dtype)


class Layer:
    """Base class: a layer with no parameters that passes its input through."""

    param_names = ()

    #: Whether ``backward`` must return the gradient with respect to the input.  A
    #: :class:`Network` clears it on its lowest layer with parameters, whose input
    #: gradient nobody reads; layers may then skip that work and return None.
    needs_input_grad = True

    def __init__(self):
        self._params = []
        self._grads = []
        self.input_shape = None
        self.output_shape = None

    # -- parameters ---------------------------------------------------------------
    @property
    def params(self):
        """Parameter arrays, in the order of ``param_names``."""
        return list(self._params)

    @property
    def grads(self):
        """Gradient arrays, aligned with ``params``; ``backward`` overwrites them."""
        return list(self._grads)

    @property
    def built(self):
        return self.output_shape is not None

    def bind(self, params, grads):
        """Store this layer's parameters and gradients in the given arrays (for example
        views of a network's flat vectors), copying the current parameter values in."""
        if len(params) != len(self._params) or len(grads) != len(self._params):
            raise ValueError(f"{type(self).__name__}.bind: expected {len(self._params)} "
                             f"parameter and gradient arrays")
        for new, old in zip(params, self._params):
            if tuple(new.shape) != tuple(old.shape):
                raise ValueError(f"{type(self).__name__}.bind: shape {tuple(new.shape)} "
                                 f"does not match parameter shape {tuple(old.shape)}")
            new[...] = old
        self._params = list(params)
        self._grads = list(grads)

    def _new_params(self, arrays, be):
        self._params = list(arrays)
        self._grads = [be.xp.zeros_like(a) for a in arrays]

    # -- the contract -------------------------------------------------------------
    def build(self, input_shape, rng, dtype):
        """Create parameters for inputs of per-sample ``input_shape``; return the
        per-sample output shape.  ``rng`` is the backend's generator."""
        self.input_shape = _shape(input_shape)
        self.output_shape = self.input_shape
        return self.output_shape

    def forward(self, x, train=False):
        """Output for inputs ``x`` of shape (N, *input_shape)."""
        return x

    def backward(self, dy, include_penalty=True):
        """``dL/dx`` from ``dy = dL/dy``; overwrites ``grads``.  ``include_penalty=False``
        leaves out the gradient of :meth:`penalty` (a purely linear J^T product)."""
        return dy

    def rop(self, dx, dparams=None):
        """Output tangent for input tangent ``dx`` and parameter tangents ``dparams``."""
        return dx

    def penalty(self):
        """Extra objective term computed by the last forward (here 0.0), a Python float."""
        return _backend.current().scalar(self.penalty_value())

    def penalty_value(self):
        """:meth:`penalty` without a host read: a 0-d array of the backend, or 0.0 for a
        layer without a penalty (subclasses with a penalty override this one)."""
        return 0.0

    def backward_squared(self, dy):
        """Backward pass for per-example squared gradients.

        ``dy`` holds per-example output gradients (row i: d l_i / d y_i).  Returns the
        per-example input gradients and overwrites ``grads`` with ``sum_i g_i**2``, the
        sum over examples of the squared per-example parameter gradients (penalties
        left out).  Parameter-free layers act per example, so their linear backward
        serves; a layer with parameters must override this (else NotImplementedError).
        """
        if self.param_names:
            raise NotImplementedError(f"{type(self).__name__} has no backward_squared")
        return self.backward(dy, include_penalty=False)

    def get_config(self):
        """Constructor arguments (JSON-able), for save/load."""
        return {}

    def _check_built(self):
        if not self.built:
            raise RuntimeError(f"{type(self).__name__} is not built; call build(input_shape, "
                               f"rng, dtype) or use it inside a Network")

    def _check_forward(self, cached, method):
        """RuntimeError unless a forward pass has cached ``cached`` (not None): backward
        and rop differentiate at the last forward's input, so they need one first."""
        if cached is None:
            raise RuntimeError(f"{type(self).__name__}.{method}: call forward before "
                               f"{method} (it differentiates at the last forward's input)")

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Dense(Layer):
    """Fully connected layer ``y = f(x W + b)``.

    Inputs of any per-sample shape are flattened to (N, D); ``W`` is (D, units), ``b``
    is (units,).

    Parameters
    ----------
    units : int
        Output width.
    activation : {"linear", "sigmoid", "tanh", "relu", "softmax"}
    init : {"glorot", "he", "sparse"}
        ``"glorot"``: uniform on ``[-s, s]``, ``s = sqrt(6 / (D + units))`` (Glorot &
        Bengio 2010), except for ``activation="relu"`` where it uses He's
        ``s = sqrt(6 / D)``.  ``"he"``: He's scale whatever the activation.
        ``"sparse"``: each unit gets ``min(15, D)`` nonzero incoming weights drawn from
        ``N(0, s^2)``, ``s = 1`` (Martens 2010), the rest zero.  Biases start at zero.
    weight_scale : float or None
        Replaces ``s`` above (the uniform half-width, or the sparse weights' std).

    References
    ----------
    Glorot & Bengio (2010), Understanding the difficulty of training deep feedforward
    neural networks.  He et al. (2015), Delving deep into rectifiers.  Martens (2010),
    Deep learning via Hessian-free optimization.
    """

    param_names = ("W", "b")

    def __init__(self, units, activation="linear", init="glorot", weight_scale=None):
        super().__init__()
        self.units = _int("units", units)
        self.activation = _choice("activation", activation, ACTIVATIONS)
        self.init = _choice("init", init, INITS)
        if weight_scale is not None:
            weight_scale = _real("weight_scale", weight_scale, 0.0, math.inf, low_open=True,
                                 high_open=True)
        self.weight_scale = weight_scale
        self._x = None      # the last forward's input, as (N, D) rows

    @property
    def W(self):
        return self._params[0]

    @property
    def b(self):
        return self._params[1]

    def build(self, input_shape, rng, dtype):
        be = _backend.current()
        xp = be.xp
        self.input_shape = _shape(input_shape)
        fan_in, fan_out = _size(self.input_shape), self.units
        shape = (fan_in, fan_out)
        if self.init == "sparse":
            scale = 1.0 if self.weight_scale is None else self.weight_scale
            k = min(SPARSE_FAN_IN, fan_in)
            # a random subset of k inputs per unit: the k smallest of uniform keys per column
            keys = be.uniform(rng, shape, "float64")
            ranks = xp.argsort(xp.argsort(keys, axis=0), axis=0)
            W = (scale * _normal(be, rng, shape, "float64")) * (ranks < k)
        else:
            if self.weight_scale is not None:
                scale = self.weight_scale
            elif self.init == "he" or self.activation == "relu":
                scale = math.sqrt(6.0 / fan_in)
            else:
                scale = math.sqrt(6.0 / (fan_in + fan_out))
            W = scale * (2.0 * be.uniform(rng, shape, "float64") - 1.0)
        W = xp.ascontiguousarray(W.astype(dtype))
        b = xp.zeros(fan_out, dtype=dtype)
        self._new_params([W, b], be)
        self.output_shape = (fan_out,)
        return self.output_shape

    def forward(self, x, train=False):
        self._check_built()
        be = _backend.current()
        self._x_shape = x.shape
        self._x = _as_rows(x, be)
        self._a = be.kernels.dense_forward(self._x, self.W, self.b, self.activation)
        return self._a

    def backward(self, dy, include_penalty=True):
        self._check_forward(self._x, "backward")
        be = _backend.current()
        dy = be.xp.ascontiguousarray(dy)
        if not self.needs_input_grad:
            # lowest layer of a Network: dx is never read, so its GEMM (as large as the
            # weight gradient's) is skipped, and dW = x^T dz, db = sum_n dz go straight
            # into the gradient buffer, with no new (D, H) array and no copy
            xp = be.xp
            dz = be.kernels.activation_backward(self._a, dy, self.activation)
            xp.matmul(self._x.T, dz, out=self._grads[0])
            dz.sum(axis=0, out=self._grads[1])
            return None
        dx, dW, db = be.kernels.dense_backward(self._x, self.W, self._a, dy, self.activation)
        self._grads[0][...] = dW
        self._grads[1][...] = db
        return dx.reshape(self._x_shape)

    def backward_squared(self, dy):
        """``dz_i = f'(z_i) dy_i``; ``grads = (sum_i x_i^2 dz_i^2, sum_i dz_i^2)`` (squares
        of the per-example gradients ``x_i^T dz_i`` and ``dz_i``); returns ``dz W^T``."""
        self._check_forward(self._x, "backward_squared")
        be = _backend.current()
        k = be.kernels
        dy = be.xp.ascontiguousarray(dy)
        dz = k.activation_backward(self._a, dy, self.activation)
        dx, _, _ = k.dense_backward(self._x, self.W, dz, dz, "linear")
        dz2 = dz * dz
        _, sW, sb = k.dense_backward(self._x * self._x, self.W, dz2, dz2, "linear")
        self._grads[0][...] = sW
        self._grads[1][...] = sb
        return dx.reshape(self._x_shape)

    def rop(self, dx, dparams=None):
        """``dy = f'(z) (dx W + x dW + db)``, ``z = x W + b`` from the last forward."""
        self._check_forward(self._x, "rop")
        be = _backend.current()
        xp, k = be.xp, be.kernels
        dW, db = dparams if dparams is not None else (None, None)
        zero_b = None
        dz = None
        if dW is not None or db is not None:
            zero_b = xp.zeros(self.units, dtype=self.W.dtype)
            dW = xp.zeros_like(self.W) if dW is None else xp.ascontiguousarray(dW)
            db = zero_b if db is None else xp.ascontiguousarray(db)
            dz = k.dense_forward(self._x, dW, db, "linear")
        if dx is not None:
            zero_b = xp.zeros(self.units, dtype=self.W.dtype) if zero_b is None else zero_b
            t = k.dense_forward(_as_rows(dx, be), self.W, zero_b, "linear")
            dz = t if dz is None else dz + t
        if dz is None:
            return xp.zeros_like(self._a)
        # the activation Jacobian is symmetric, so the backward product is also J dz
        return k.activation_backward(self._a, dz, self.activation)

    def get_config(self):
        return {"units": self.units, "activation": self.activation, "init": self.init,
                "weight_scale": self.weight_scale}


class Activation(Layer):
    """Standalone activation ``y = f(x)`` along the last axis (softmax normalises it)."""

    def __init__(self, activation):
        super().__init__()
        self.activation = _choice("activation", activation, ACTIVATIONS)
        self._a = None      # the last forward's output, as rows

    def forward(self, x, train=False):
        self._check_built()
        be = _backend.current()
        self._a = be.kernels.activation_forward(_last_axis_rows(x, be), self.activation)
        return self._a.reshape(x.shape)

    def backward(self, dy, include_penalty=True):
        self._check_forward(self._a, "backward")
        be = _backend.current()
        dx = be.kernels.activation_backward(self._a, _last_axis_rows(dy, be), self.activation)
        return dx.reshape(dy.shape)

    def rop(self, dx, dparams=None):
        if dx is None:
            return None
        self._check_forward(self._a, "rop")
        be = _backend.current()
        dy = be.kernels.activation_backward(self._a, _last_axis_rows(dx, be), self.activation)
        return dy.reshape(dx.shape)

    def get_config(self):
        return {"activation": self.activation}


class Flatten(Layer):
    """Reshape (N, *input_shape) to (N, prod(input_shape))."""

    def build(self, input_shape, rng, dtype):
        self.input_shape = _shape(input_shape)
        self.output_shape = (_size(self.input_shape),)
        return self.output_shape

    def forward(self, x, train=False):
        self._check_built()
        return _as_rows(x, _backend.current())

    def backward(self, dy, include_penalty=True):
        self._check_built()
        return dy.reshape((dy.shape[0],) + self.input_shape)

    def rop(self, dx, dparams=None):
        return None if dx is None else _as_rows(dx, _backend.current())


class Dropout(Layer):
    """Inverted dropout: ``y = x * m / (1 - rate)`` with ``m_i ~ Bernoulli(1 - rate)``
    at training time, ``y = x`` at prediction time, so ``E[y] = x`` in both.

    The mask comes from ``kernels.mask_corrupt`` applied to uniforms drawn from the
    layer's own generator; ``backward`` and ``rop`` reuse the mask of the last forward,
    so the layer is a fixed linear map between two forwards.

    Parameters
    ----------
    rate : float in [0, 1)
        Probability of dropping each unit.
    random_state : int, numpy Generator or None
        Key of the masks' Philox stream (an int is the key itself, so the masks are the
        same on every backend); None takes a seed from the generator passed to ``build``
        (the network's).

    References
    ----------
    Srivastava et al. (2014), Dropout: a simple way to prevent neural networks from
    overfitting.
    """

    def __init__(self, rate, random_state=None):
        super().__init__()
        self.rate = _real("rate", rate, 0.0, 1.0, high_open=True)
        self.random_state = int(random_state) if _is_int(random_state) else random_state
        self._u = None
        self._rng = None
        self._x_shape = None    # set by forward

    def build(self, input_shape, rng, dtype):
        be = _backend.current()
        seed = self.random_state if self.random_state is not None else child_seed(rng)
        self._rng = be.stream(seed)        # the masks' Philox stream
        return super().build(input_shape, rng, dtype)

    @property
    def mask(self):
        """The scaled mask ``m / (1 - rate)`` of the last forward (None if it was not a
        training forward), shape (N, *input_shape)."""
        if self._u is None:
            return None
        be = _backend.current()
        ones = be.xp.ones(self._u.shape, dtype=self._u.dtype)
        return self._apply(ones, be).reshape(self._x_shape)

    def _apply(self, x2, be):
        return be.kernels.mask_corrupt(x2, self._u, self.rate) * (1.0 / (1.0 - self.rate))

    def forward(self, x, train=False):
        self._check_built()
        self._x_shape = x.shape
        if not train or self.rate == 0.0:
            self._u = None
            return x
        be = _backend.current()
        x2 = _as_rows(x, be)
        self._u = be.uniform(self._rng, x2.shape, x2.dtype)
        return self._apply(x2, be).reshape(x.shape)

    def _same_mask(self, t):
        if self._u is None:
            return t
        be = _backend.current()
        return self._apply(_as_rows(t, be), be).reshape(t.shape)

    def backward(self, dy, include_penalty=True):
        self._check_forward(self._x_shape, "backward")
        return self._same_mask(dy)

    def rop(self, dx, dparams=None):
        if dx is None:
            return None
        self._check_forward(self._x_shape, "rop")
        return self._same_mask(dx)

    def get_config(self):
        rs = self.random_state
        return {"rate": self.rate, "random_state": rs if rs is None or _is_int(rs) else None}


class KLSparsity(Layer):
    """Identity layer that adds the sparse-autoencoder penalty on its input activations.

    ``penalty = beta * sum_j KL(rho || rho_hat_j)``, ``rho_hat_j`` the batch mean of
    activation j (which must lie in (0, 1): put it after a sigmoid layer).  Forward
    returns its input unchanged; backward adds ``d penalty / d a`` (from
    ``kernels.sparsity_grad``) to the incoming gradient; rop is the identity (the penalty
    does not change the network output, so it has no Gauss-Newton term).

    References
    ----------
    Ng (2011), Sparse autoencoder, CS294A lecture notes.
    """

    def __init__(self, rho=0.05, beta=3.0):
        super().__init__()
        self.rho = _real("rho", rho, 0.0, 1.0, low_open=True, high_open=True)
        self.beta = _real("beta", beta, 0.0, math.inf, high_open=True)
        self._penalty = None
        self._da = None

    def forward(self, x, train=False):
        self._check_built()
        be = _backend.current()
        penalty, da = be.kernels.sparsity_grad(_as_rows(x, be), self.rho, self.beta)
        self._penalty, self._da = penalty, da.reshape(x.shape)
        return x

    def penalty_value(self):
        return 0.0 if self._penalty is None else self._penalty

    def backward(self, dy, include_penalty=True):
        self._check_forward(self._da, "backward")
        return dy + self._da if include_penalty else dy

    def rop(self, dx, dparams=None):
        return dx

    def get_config(self):
        return {"rho": self.rho, "beta": self.beta}


# ----------------------------------------------------------------- TimeDistributedDense


class TimeDistributedDense(Dense):
    """A :class:`~deepbio.nn.Dense` layer applied at every position of (N, T, D).

    ``y[n, t] = f(x[n, t] W + b)``, one ``W`` (D, units) shared over time; output
    (N, T, units).  For per-position outputs (sequence tagging).  Same parameters and
    initialisation as ``Dense``; ``softmax`` normalises each position.
    """

    def build(self, input_shape, rng, dtype):
        shape = _shape(input_shape)
        if len(shape) != 2:
            raise ValueError(f"TimeDistributedDense: input_shape must be (T, D), got {shape}")
        super().build((shape[1],), rng, dtype)
        self.input_shape = shape
        self.output_shape = (shape[0], self.units)
        return self.output_shape

    def _rows(self, x):
        self._check_built()
        d = self.input_shape[1]
        if x.ndim != 3 or x.shape[2] != d:
            raise ValueError(f"TimeDistributedDense: expected sequences of shape (N, T, {d}), "
                             f"got {tuple(x.shape)}")
        return _contig(x).reshape(-1, d)

    def forward(self, x, train=False):
        self._nt = x.shape[:2]
        y = super().forward(self._rows(x), train)
        return y.reshape(self._nt + (self.units,))

    def backward(self, dy, include_penalty=True):
        be = _backend.current()
        dx = super().backward(_as_rows(dy.reshape(-1, self.units), be), include_penalty)
        if dx is None:                      # lowest layer of a Network: no input gradient
            return None
        return dx.reshape(self._nt + (self.input_shape[1],))

    def backward_squared(self, dy):
        """Example n's gradients are sums over its positions: ``G_W[n] = sum_t x_{n,t}^T
        dz_{n,t}`` (a batched matrix product over n), ``G_b[n] = sum_t dz_{n,t}``, with
        ``dz = f'(z) dy``; ``grads = (sum_n G_W[n]**2, sum_n G_b[n]**2)``.  (Dense's
        rows-are-examples shortcut does not apply: the weights are shared over time.)"""
        be = _backend.current()
        xp, k = be.xp, be.kernels
        n, t_len = self._nt
        d = self.input_shape[1]
        dz = k.activation_backward(self._a, _as_rows(dy.reshape(-1, self.units), be),
                                   self.activation)
        dx, _, _ = k.dense_backward(self._x, self.W, dz, dz, "linear")
        xn = self._x.reshape(n, t_len, d)
        zn = dz.reshape(n, t_len, self.units)
        sw = xp.zeros_like(self.W)
        for part in _chunks(n, d * self.units):
            gw = xp.matmul(xn[part].transpose(0, 2, 1), zn[part])     # (n, D, units)
            gw *= gw
            sw += gw.sum(axis=0)
        gb = zn.sum(axis=1)
        self._grads[0][...] = sw
        self._grads[1][...] = (gb * gb).sum(axis=0)
        return dx.reshape(n, t_len, d)

    def rop(self, dx, dparams=None):
        rows = None if dx is None else self._rows(dx)
        y = super().rop(rows, dparams)
        return y.reshape(self._nt + (self.units,))


LAYERS = {cls.__name__: cls for cls in (Dense, TimeDistributedDense, Dropout, KLSparsity,
                                        Activation, Flatten)}


def layer_from_config(name, config):
    """A new (unbuilt) layer from its class name and :meth:`Layer.get_config` dict."""
    if name not in LAYERS:
        raise ValueError(f"unknown layer {name!r}; known layers: {sorted(LAYERS)}")
    return LAYERS[name](**config)
