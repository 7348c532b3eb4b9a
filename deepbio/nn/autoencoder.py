"""The autoencoder's layers: input corruption (denoising) and a tied-weight autoencoder.

* :class:`Corruption`: train-time input corruption of a denoising autoencoder (masking
  noise or additive Gaussian noise, drawn fresh for every minibatch by the kernels
  ``mask_corrupt`` / ``gaussian_corrupt``); the identity at prediction time.
* :class:`TiedAutoEncoder`: encoder ``a = f(x W + c)`` and tied decoder
  ``z = a W^T + b`` in one layer, so the two uses of ``W`` add their gradients.

Both are registered in :data:`deepbio.nn.LAYERS` like every other layer.
"""
import math

from .. import backend as _backend
from .layers import LAYERS, Layer, _as_rows, _shape, _size, child_seed

__all__ = ["Corruption", "TiedAutoEncoder"]

#: Hidden activations of a tied autoencoder (softmax would not make a code).
ACTIVATIONS = ("sigmoid", "tanh", "relu", "linear")


class Corruption(Layer):
    """Denoising-autoencoder input corruption, active only when ``train=True``.

    ``kind="mask"``: ``x_tilde = x * 1[u >= level]`` (each input zeroed with probability
    ``level``); ``kind="gaussian"``: ``x_tilde = x + level * z``, ``z ~ N(0, 1)``.
    Fresh uniforms are drawn from the layer's Philox stream at every training forward.
    Backward and rop apply the Jacobian of the last corruption (the same mask; the
    identity for additive noise).

    References
    ----------
    P. Vincent, H. Larochelle, Y. Bengio, P.-A. Manzagol. Extracting and composing robust
    features with denoising autoencoders. ICML 2008.
    """

    def __init__(self, kind="mask", level=0.3, random_state=None):
        super().__init__()
        if kind not in ("mask", "gaussian"):
            raise ValueError(f"kind must be 'mask' or 'gaussian', got {kind!r}")
        if not (isinstance(level, (int, float)) and math.isfinite(level) and 0 <= level
                and (level <= 1 or kind == "gaussian")):
            raise ValueError(f"Corruption level must be a finite number, in [0, 1] (a "
                             f"probability) for kind='mask' or >= 0 (the noise's standard "
                             f"deviation) for kind='gaussian'; got level={level!r} with "
                             f"kind={kind!r}")
        self.kind, self.level, self.random_state = kind, float(level), random_state
        self._u = None
        self._rng = None

    def build(self, input_shape, rng, dtype):
        seed = self.random_state if self.random_state is not None else child_seed(rng)
        self._rng = _backend.current().stream(seed)     # the noise's Philox stream
        return super().build(input_shape, rng, dtype)

    def forward(self, x, train=False):
        self._check_built()
        self._u = None
        if not train or self.level == 0.0:
            return x
        be = _backend.current()
        x2 = _as_rows(x, be)
        if self.kind == "mask":
            self._u = be.uniform(self._rng, x2.shape, x2.dtype)
            out = be.kernels.mask_corrupt(x2, self._u, self.level)
        else:
            u1 = be.uniform(self._rng, x2.shape, x2.dtype)
            u2 = be.uniform(self._rng, x2.shape, x2.dtype)
            out = be.kernels.gaussian_corrupt(x2, u1, u2, self.level)
        return out.reshape(x.shape)

    def _jacobian(self, t):
        if self._u is None:
            return t
        be = _backend.current()
        return be.kernels.mask_corrupt(_as_rows(t, be), self._u, self.level).reshape(t.shape)

    def backward(self, dy, include_penalty=True):
        return self._jacobian(dy)

    def rop(self, dx, dparams=None):
        return None if dx is None else self._jacobian(dx)

    def get_config(self):
        rs = self.random_state
        return {"kind": self.kind, "level": self.level,
                "random_state": rs if rs is None or isinstance(rs, int) else None}


class TiedAutoEncoder(Layer):
    """An autoencoder whose decoder uses the transposed encoder weights.

    ``a = f(x W + c)`` (encoder, ``W`` (D, H)), ``z = a W^T + b`` (decoder output before
    the loss's non-linearity).  With ``rho`` set, the sparse-autoencoder penalty
    ``beta sum_j KL(rho || mean_n a_nj)`` (kernel ``sparsity_grad``) is added.

    Backward, for ``dz = dL/dz``::

        da  = dz W + d penalty / da          dW_dec = dz^T a  (D, H)
        dx, dW_enc, dc = backward of the encoder with da
        dW  = dW_enc + dW_dec                db = sum_n dz

    Parameters: ``W`` (D, H), ``b_hidden`` = c (H,), ``b_visible`` = b (D,).
    """

    param_names = ("W", "b_hidden", "b_visible")

    def __init__(self, units, activation="sigmoid", rho=None, beta=0.0):
        super().__init__()
        if isinstance(units, bool) or not isinstance(units, int) or units < 1:
            raise ValueError(f"units must be a positive integer, got {units!r}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
        self.units, self.activation, self.rho, self.beta = units, activation, rho, float(beta)
        self._penalty = None

    def build(self, input_shape, rng, dtype):
        be = _backend.current()
        self.input_shape = _shape(input_shape)
        d, h = _size(self.input_shape), self.units
        scale = math.sqrt(6.0 / (d + h))                     # Glorot & Bengio (2010)
        W = scale * (2.0 * be.uniform(rng, (d, h), "float64") - 1.0)
        self._new_params([be.xp.ascontiguousarray(W.astype(dtype)),
                          be.xp.zeros(h, dtype=dtype), be.xp.zeros(d, dtype=dtype)], be)
        self.output_shape = (d,)
        return self.output_shape

    def forward(self, x, train=False):
        self._check_built()
        be = _backend.current()
        K = be.kernels
        W, c, b = self._params
        self._x = _as_rows(x, be)
        self._a = K.dense_forward(self._x, W, c, self.activation)
        if self.rho is not None:
            penalty, self._da_sparse = K.sparsity_grad(self._a, self.rho, self.beta)
            self._penalty = penalty          # a 0-d array: read only when asked
        self._WT = be.xp.ascontiguousarray(W.T)
        self._z = K.dense_forward(self._a, self._WT, b, "linear")
        return self._z

    def penalty_value(self):
        return 0.0 if self._penalty is None else self._penalty

    def backward(self, dy, include_penalty=True):
        be = _backend.current()
        K = be.kernels
        dz = be.xp.ascontiguousarray(dy)
        da, dWT, db = K.dense_backward(self._a, self._WT, self._z, dz, "linear")
        if self.rho is not None and include_penalty:
            da = da + self._da_sparse
        dx, dW, dc = K.dense_backward(self._x, self._params[0], self._a, da, self.activation)
        self._grads[0][...] = dW + dWT.T
        self._grads[1][...] = dc
        self._grads[2][...] = db
        return dx

    def backward_squared(self, dy):
        """Per-example squared gradients in one pass (rows of ``dy``: ``d l_n / d z_n``).

        Example n's gradients are ``G_W[n] = x_n^T u_n + dz_n^T a_n`` (encoder and decoder
        use of the one ``W``), ``G_c[n] = u_n``, ``G_b[n] = dz_n``, with ``u = f'(.) (dz W)``
        the encoder's pre-activation gradient.  Squaring the sum of the two outer products
        and summing over n gives three matrix products:
        ``sum_n G_W[n]**2 = (x*x)^T (u*u) + 2 (x*dz)^T (u*a) + (dz*dz)^T (a*a)``.
        The sparsity penalty is left out, as in every ``backward_squared``.
        """
        be = _backend.current()
        xp, K = be.xp, be.kernels
        dz = xp.ascontiguousarray(dy)
        x, a = self._x, self._a
        u = K.activation_backward(a, xp.ascontiguousarray(dz @ self._params[0]),
                                  self.activation)
        self._grads[0][...] = ((x * x).T @ (u * u) + 2.0 * ((x * dz).T @ (u * a))
                               + (dz * dz).T @ (a * a))
        self._grads[1][...] = (u * u).sum(axis=0)
        self._grads[2][...] = (dz * dz).sum(axis=0)
        return u @ self._WT

    def rop(self, dx, dparams=None):
        """``ra = f'(.) (dx W + x dW + dc)``;  ``rz = ra W^T + a dW^T + db``."""
        be = _backend.current()
        xp = be.xp
        W = self._params[0]
        dW, dc, db = dparams if dparams is not None else (None, None, None)
        dW = xp.zeros_like(W) if dW is None else dW
        t = self._x @ dW
        if dc is not None:
            t = t + dc
        if dx is not None:
            t = t + _as_rows(dx, be) @ W
        ra = be.kernels.activation_backward(self._a, xp.ascontiguousarray(t), self.activation)
        rz = ra @ self._WT + self._a @ dW.T
        return rz + db if db is not None else rz

    def get_config(self):
        return {"units": self.units, "activation": self.activation, "rho": self.rho,
                "beta": self.beta}


LAYERS.update({cls.__name__: cls for cls in (Corruption, TiedAutoEncoder)})
