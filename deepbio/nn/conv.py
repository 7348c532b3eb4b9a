"""Convolution layers: :class:`Conv2D` for images, :class:`Conv1D` for sequences.

Layouts (per sample, without the batch axis):

* ``Conv2D``: input ``(C, H, W)``, output ``(filters, OH, OW)``;
* ``Conv1D``: input ``(C, L)``, output ``(filters, OL)``, channels first, as the conv1d
  kernels want.  Public sequence arrays are ``(N, L, A)`` (position, then channel: e.g.
  one-hot DNA with ``A = 4``); put a :class:`ChannelsFirst` layer in front of the first
  ``Conv1D`` to turn ``(N, L, A)`` into ``(N, A, L)`` (it is one transpose, and its
  backward transposes back).

Both compute ``y = f(conv(x, w) + b)`` with ``OH = (H + 2 ph - KH) // sh + 1`` (the
cross-correlation of the kernels in :mod:`deepbio._kernels.reference`), and

* ``backward(dy)``: ``dz = f'(z) dy``; ``dx = conv_backward_input(dz, w)``;
  ``dw, db = conv_backward_weight(dz, x)``;
* ``rop(dx, (dw, db))``: ``dz = conv(dx, w) + conv(x, dw) + db`` (conv is bilinear in
  ``x`` and ``w``), then ``dy = f'(z) dz``;
* ``backward_squared(dy)`` (rows of ``dy`` per example): the per-example gradients
  ``dw_n = dz_n cols_n^T`` (``cols_n``: example n's im2col patches) and ``db_n = sum_o
  dz_n``, formed by a batched matrix product over n, squared and summed over n.

Variable-length sequences: ``Conv1D`` has ``set_mask(mask) -> out_mask`` (see
:class:`deepbio.nn.masking.SequenceMask`).  Sequences are padded at the END, so a
sequence of real length ``len`` gives ``OL_n = (len + 2 pad - K) // s + 1`` real outputs,
exactly those an unpadded run would give; the layer zeroes its outputs beyond them, so a
following layer sees the same zeros that zero padding of the unpadded sequence gives.
"""
import math

from .. import backend as _backend
from .._validation import check_int_pair
from .._kernels import reference as _reference
from .._kernels.reference import out_size
from ._arrays import _chunks, _contig
from .layers import LAYERS, Layer, _choice, _int, _shape
from .masking import sequence_out_mask

__all__ = ["Conv2D", "Conv1D", "ChannelsFirst"]

# softmax would normalise over the wrong axis of a feature map
CONV_ACTIVATIONS = ("linear", "sigmoid", "tanh", "relu")


# ---------------------------------------------------------------------------- helpers


def _pair(name, v, low):
    """An int or a pair of ints (each >= low) as a tuple of two ints."""
    return check_int_pair(name, v, low)


def _glorot(be, rng, shape, fan_in, fan_out, dtype, relu):
    """Uniform on [-s, s]: s = sqrt(6 / (fan_in + fan_out)) (Glorot), or
    s = sqrt(6 / fan_in) for relu (He)."""
    scale = math.sqrt(6.0 / fan_in) if relu else math.sqrt(6.0 / (fan_in + fan_out))
    w = scale * (2.0 * be.uniform(rng, shape, "float64") - 1.0)
    return be.xp.ascontiguousarray(w.astype(dtype))


def _im2col(x, kernel, stride, padding):
    """Patches of ``x`` (N, C, H, W) as (N, C KH KW, OH OW), zero padded, in the layout of
    ``w.reshape(F, -1)``: the reference kernels' im2col (NumPy functions that dispatch on
    the array type), flattened."""
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    cols = _reference._im2col(x, kh, kw, sh, sw, ph, pw)     # (N, C, KH, KW, OH, OW)
    n, c, _, _, oh, ow = cols.shape
    return cols.reshape(n, c * kh * kw, oh * ow)


def _check_input(layer, x, what):
    """ValueError unless ``x`` is (N, *input_shape) (the last axis of sequences may vary)."""
    want = layer.input_shape
    got = tuple(x.shape[1:])
    ok = x.ndim == len(want) + 1 and x.shape[0] >= 1
    if ok:
        fixed = want[:-1] if layer.variable_length else want
        ok = got[:len(fixed)] == fixed and got[-1] >= 1
    if not ok:
        shape = ", ".join(map(str, want[:-1] + (("L",) if layer.variable_length else want[-1:])))
        raise ValueError(f"{type(layer).__name__}: expected {what} of shape (N, {shape}), got "
                         f"{tuple(x.shape)}")


class _ConvBase(Layer):
    """Shared bookkeeping of Conv1D and Conv2D (the kernels differ, the maths not)."""

    param_names = ("w", "b")
    variable_length = False

    def __init__(self, filters, kernel_size, stride, padding, activation):
        super().__init__()
        self.filters = _int("filters", filters)
        self.activation = _choice("activation", activation, CONV_ACTIVATIONS)
        self._x = None      # the last forward's input

    @property
    def w(self):
        return self._params[0]

    @property
    def b(self):
        return self._params[1]

    def _act(self, z, be):
        a = be.kernels.activation_forward(z.reshape(z.shape[0], -1), self.activation)
        return a.reshape(z.shape)

    def _act_grad(self, d, be):
        """``f'(z) * d`` from the cached output (the Jacobian is diagonal, so the same
        product serves backward and rop)."""
        if self.activation == "linear":
            return _contig(d)
        n = d.shape[0]
        dz = be.kernels.activation_backward(self._a.reshape(n, -1), _contig(d).reshape(n, -1),
                                            self.activation)
        return dz.reshape(d.shape)

    # the three kernels, wrapped by the subclasses
    def _conv(self, x, w, b):
        raise NotImplementedError

    def _conv_back_input(self, dz):
        raise NotImplementedError

    def _conv_back_weight(self, dz):
        raise NotImplementedError

    def _cols(self, x):
        """im2col patches of inputs ``x`` (n, C, ...) as (n, C * prod(kernel), O)."""
        raise NotImplementedError

    def forward(self, x, train=False):
        self._check_built()
        be = _backend.current()
        _check_input(self, x, self._what)
        self._x = _contig(x)
        self._a = self._act(self._conv(self._x, self.w, self.b), be)
        return self._masked(self._a)

    def _masked(self, y):
        return y

    def backward(self, dy, include_penalty=True):
        self._check_forward(self._x, "backward")
        be = _backend.current()
        dz = self._act_grad(self._masked(dy), be)
        dw, db = self._conv_back_weight(dz)
        self._grads[0][...] = dw
        self._grads[1][...] = db
        if not self.needs_input_grad:       # lowest layer of a Network: dx is never read
            return None
        return self._conv_back_input(dz)

    def backward_squared(self, dy):
        """Per-example squared gradients in one pass (rows of ``dy``: ``d l_n / d y_n``).

        With ``dz = f'(z) dy`` as in :meth:`backward` and ``cols_n`` example n's im2col
        patches (C KH KW, OH OW), example n's gradients are ``dw_n = dz_n cols_n^T``
        (a batched matrix product over n) and ``db_n = sum_positions dz_n``;
        ``grads = (sum_n dw_n**2, sum_n db_n**2)``.  Returns ``dx`` as :meth:`backward`
        (always: layers below may still pass it on).
        """
        self._check_forward(self._x, "backward_squared")
        be = _backend.current()
        xp = be.xp
        dz = self._act_grad(self._masked(dy), be)
        n, f = dz.shape[:2]
        d = dz.reshape(n, f, -1)                               # (N, F, O)
        sw = xp.zeros((f, self.w[0].size), dtype=dz.dtype)
        k = sw.shape[1]
        for part in _chunks(n, k * d.shape[2] + f * k):
            cols = self._cols(self._x[part])                   # (n, K, O)
            g = xp.matmul(d[part], cols.transpose(0, 2, 1))    # (n, F, K)
            g *= g
            sw += g.sum(axis=0)
        db = d.sum(axis=2)
        self._grads[0][...] = sw.reshape(self.w.shape)
        self._grads[1][...] = (db * db).sum(axis=0)
        return self._conv_back_input(dz)

    def rop(self, dx, dparams=None):
        """``dy = f'(z) (conv(dx, w) + conv(x, dw) + db)``."""
        self._check_forward(self._x, "rop")
        be = _backend.current()
        xp = be.xp
        dw, db = dparams if dparams is not None else (None, None)
        zero_b = xp.zeros(self.filters, dtype=self.w.dtype)
        dz = None
        if dw is not None or db is not None:
            dw = xp.zeros_like(self.w) if dw is None else _contig(dw)
            dz = self._conv(self._x, dw, zero_b if db is None else _contig(db))
        if dx is not None:
            t = self._conv(_contig(dx), self.w, zero_b)
            dz = t if dz is None else dz + t
        if dz is None:
            return xp.zeros_like(self._a)
        return self._masked(self._act_grad(dz, be))


# ----------------------------------------------------------------------------- Conv2D


class Conv2D(_ConvBase):
    """2-d convolution ``y = f(conv2d(x, w) + b)`` over images ``(N, C, H, W)``.

    Parameters
    ----------
    filters : int
        Output channels F.
    kernel_size : int or (int, int)
        (KH, KW).
    stride : int or (int, int), default 1
    padding : int or (int, int), default 0
        Zeros added on each side of H and W.
    activation : {"linear", "sigmoid", "tanh", "relu"}

    Notes
    -----
    ``w`` is (F, C, KH, KW), initialised uniform on ``[-s, s]`` with Glorot's
    ``s = sqrt(6 / (C KH KW + F KH KW))`` (He's ``sqrt(6 / (C KH KW))`` for relu); ``b``
    (F,) starts at zero.  Output ``(F, OH, OW)``, ``OH = (H + 2 ph - KH) // sh + 1``.

    References
    ----------
    LeCun, Bottou, Bengio & Haffner (1998), Gradient-based learning applied to document
    recognition.
    """

    _what = "images"

    def __init__(self, filters, kernel_size, stride=1, padding=0, activation="linear"):
        super().__init__(filters, kernel_size, stride, padding, activation)
        self.kernel_size = _pair("kernel_size", kernel_size, 1)
        self.stride = _pair("stride", stride, 1)
        self.padding = _pair("padding", padding, 0)

    def build(self, input_shape, rng, dtype):
        be = _backend.current()
        shape = _shape(input_shape)
        if len(shape) != 3:
            raise ValueError(f"Conv2D: input_shape must be (C, H, W), got {shape}")
        c, h, w = shape
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        if h + 2 * ph < kh or w + 2 * pw < kw:
            raise ValueError(f"Conv2D: kernel {kh}x{kw} is larger than the padded input "
                             f"{h + 2 * ph}x{w + 2 * pw}")
        self.input_shape = shape
        wt = _glorot(be, rng, (self.filters, c, kh, kw), c * kh * kw, self.filters * kh * kw,
                     dtype, self.activation == "relu")
        self._new_params([wt, be.xp.zeros(self.filters, dtype=dtype)], be)
        self.output_shape = (self.filters, out_size(h, kh, sh, ph), out_size(w, kw, sw, pw))
        return self.output_shape

    def _conv(self, x, w, b):
        return _backend.current().kernels.conv2d_forward(x, w, b, self.stride, self.padding)

    def _conv_back_input(self, dz):
        return _backend.current().kernels.conv2d_backward_input(
            dz, self.w, self._x.shape[2:], self.stride, self.padding)

    def _conv_back_weight(self, dz):
        return _backend.current().kernels.conv2d_backward_weight(
            dz, self._x, self.kernel_size, self.stride, self.padding)

    def _cols(self, x):
        return _im2col(x, self.kernel_size, self.stride, self.padding)

    def get_config(self):
        return {"filters": self.filters, "kernel_size": list(self.kernel_size),
                "stride": list(self.stride), "padding": list(self.padding),
                "activation": self.activation}


# ----------------------------------------------------------------------------- Conv1D


class Conv1D(_ConvBase):
    """1-d convolution over sequences ``(N, C, L)``: ``y = f(conv1d(x, w) + b)``.

    A motif scanner: with one-hot DNA (C = 4) each filter ``w[f]`` (4, K) is a position
    weight matrix and ``y[n, f, i]`` its score at position ``i``.  The sequence length
    may differ from one call to the next (only C is fixed by ``build``).

    Parameters
    ----------
    filters : int
    kernel_size : int
    stride : int, default 1
    padding : int, default 0
        Zeros added at both ends of the sequence.
    activation : {"linear", "sigmoid", "tanh", "relu"}

    Notes
    -----
    ``w`` is (F, C, K), Glorot/He uniform as :class:`Conv2D`; ``b`` (F,) zero.

    Masks: ``set_mask(mask)`` (mask (N, L), 1 on real positions, padding at the end of
    each sequence) makes the next forward zero every output past a sequence's real
    outputs and returns the output mask (N, OL) for the next layer.
    """

    _what = "sequences (channels first; see ChannelsFirst)"
    variable_length = True

    def __init__(self, filters, kernel_size, stride=1, padding=0, activation="linear"):
        super().__init__(filters, kernel_size, stride, padding, activation)
        self.kernel_size = _int("kernel_size", kernel_size)
        self.stride = _int("stride", stride)
        self.padding = _int("padding", padding, 0)
        self._mask = None

    def build(self, input_shape, rng, dtype):
        be = _backend.current()
        shape = _shape(input_shape)
        if len(shape) != 2:
            raise ValueError(f"Conv1D: input_shape must be (C, L), got {shape}")
        c, length = shape
        k, s, p = self.kernel_size, self.stride, self.padding
        if length + 2 * p < k:
            raise ValueError(f"Conv1D: kernel size {k} exceeds the padded sequence length "
                             f"{length + 2 * p}")
        self.input_shape = shape
        wt = _glorot(be, rng, (self.filters, c, k), c * k, self.filters * k, dtype,
                     self.activation == "relu")
        self._new_params([wt, be.xp.zeros(self.filters, dtype=dtype)], be)
        self.output_shape = (self.filters, out_size(length, k, s, p))
        return self.output_shape

    def set_mask(self, mask):
        """Use ``mask`` (N, L) in the next forward; return the output mask (N, OL)."""
        self._mask_in = mask
        self._mask = None if mask is None else sequence_out_mask(
            mask, self.kernel_size, self.stride, self.padding, "Conv1D")
        return self._mask

    def _masked(self, y):
        if self._mask is None:
            return y
        if self._mask.shape != (y.shape[0], y.shape[2]):
            raise ValueError(f"Conv1D: mask of shape {tuple(self._mask_in.shape)} does not "
                             f"match the input batch (N={y.shape[0]})")
        return y * self._mask[:, None, :]

    def _conv(self, x, w, b):
        return _backend.current().kernels.conv1d_forward(x, w, b, self.stride, self.padding)

    def _conv_back_input(self, dz):
        return _backend.current().kernels.conv1d_backward_input(
            dz, self.w, self._x.shape[2], self.stride, self.padding)

    def _conv_back_weight(self, dz):
        return _backend.current().kernels.conv1d_backward_weight(
            dz, self._x, self.kernel_size, self.stride, self.padding)

    def _cols(self, x):
        return _im2col(x[:, :, None, :], (1, self.kernel_size), (1, self.stride),
                       (0, self.padding))

    def get_config(self):
        return {"filters": self.filters, "kernel_size": self.kernel_size,
                "stride": self.stride, "padding": self.padding, "activation": self.activation}


# ------------------------------------------------------------------------- ChannelsFirst


class ChannelsFirst(Layer):
    """Swap the two per-sample axes: sequences ``(N, L, A)`` become ``(N, A, L)``.

    The public sequence layout is position-major ``(N, L, A)``; :class:`Conv1D` and the
    1-d pooling layers want channels first.  Backward and rop transpose back / alike.
    Masks pass through unchanged (they index positions, which this layer keeps).
    """

    def build(self, input_shape, rng, dtype):
        shape = _shape(input_shape)
        if len(shape) != 2:
            raise ValueError(f"ChannelsFirst: input_shape must be (L, A), got {shape}")
        self.input_shape = shape
        self.output_shape = (shape[1], shape[0])
        return self.output_shape

    def set_mask(self, mask):
        return mask

    def forward(self, x, train=False):
        self._check_built()
        if x.ndim != 3 or x.shape[2] != self.input_shape[1]:
            raise ValueError(f"ChannelsFirst: expected sequences of shape (N, L, "
                             f"{self.input_shape[1]}), got {tuple(x.shape)}")
        return _contig(x.transpose(0, 2, 1))

    def backward(self, dy, include_penalty=True):
        return _contig(dy.transpose(0, 2, 1))

    def rop(self, dx, dparams=None):
        return None if dx is None else _contig(dx.transpose(0, 2, 1))


LAYERS.update({cls.__name__: cls for cls in (Conv2D, Conv1D, ChannelsFirst)})
