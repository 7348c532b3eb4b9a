"""Pooling layers: max and average, 1-d and 2-d, and global max pooling over a sequence.

Layouts: 2-d pooling takes images ``(N, C, H, W)``; 1-d pooling takes channels-first
sequences ``(N, C, L)`` (see :class:`deepbio.nn.conv.ChannelsFirst`).  No padding:
``OH = (H - KH) // sh + 1``; the stride defaults to the pool size (non-overlapping).

* max pooling: ``y = max over the window``; the kernel also returns the ``argmax`` of
  every window, which ``backward`` uses to route ``dy`` to the winner and ``rop`` uses to
  route the tangent: ``dy[n, c, i, j] = dx[n, c, argmax[n, c, i, j]]`` (max pooling is
  piecewise linear; away from ties it is the selection of the winners);
* average pooling is linear: ``rop(dx) = avgpool(dx)``.

No layer here has parameters.

Masks (end-padded sequences, see :class:`deepbio.nn.masking.SequenceMask`):
``MaxPool1D`` / ``AvgPool1D`` keep the windows of the unpadded sequence and zero the rest
of their output; :class:`GlobalMaxPool1D` takes the maximum over real positions only, so
a padded position never wins and never receives gradient.
"""
from .. import backend as _backend
from .._kernels.reference import out_size
from ._arrays import _contig
from .conv import _check_input, _pair
from .masking import _TRUSTED, sequence_out_mask
from .layers import LAYERS, Layer, _int, _shape

__all__ = ["MaxPool2D", "AvgPool2D", "MaxPool1D", "AvgPool1D", "GlobalMaxPool1D"]


def _windows_take(dx, argmax):
    """``dx[n, c, argmax[n, c, ...]]``: the entries of ``dx`` that won each window."""
    xp = _backend.current().xp
    n, c = dx.shape[:2]
    flat = dx.reshape(n, c, -1)
    taken = xp.take_along_axis(flat, argmax.reshape(n, c, -1), axis=2)
    return taken.reshape(argmax.shape)


# ------------------------------------------------------------------------------- 2-d


class _Pool2D(Layer):
    variable_length = False

    def __init__(self, pool_size=2, stride=None):
        super().__init__()
        self._in = None                  # the input size, cached by forward
        self.pool_size = _pair("pool_size", pool_size, 1)
        self.stride = self.pool_size if stride is None else _pair("stride", stride, 1)

    def build(self, input_shape, rng, dtype):
        shape = _shape(input_shape)
        name = type(self).__name__
        if len(shape) != 3:
            raise ValueError(f"{name}: input_shape must be (C, H, W), got {shape}")
        c, h, w = shape
        (kh, kw), (sh, sw) = self.pool_size, self.stride
        if kh > h or kw > w:
            raise ValueError(f"{name}: pool {kh}x{kw} is larger than the input {h}x{w}")
        self.input_shape = shape
        self.output_shape = (c, out_size(h, kh, sh), out_size(w, kw, sw))
        return self.output_shape

    def get_config(self):
        return {"pool_size": list(self.pool_size), "stride": list(self.stride)}


class MaxPool2D(_Pool2D):
    """Max pooling over ``pool_size`` windows of images (N, C, H, W).

    Parameters
    ----------
    pool_size : int or (int, int), default 2
    stride : int or (int, int), default ``pool_size``
    """

    def forward(self, x, train=False):
        self._check_built()
        _check_input(self, x, "images")
        y, self._argmax = _backend.current().kernels.maxpool2d_forward(
            _contig(x), self.pool_size, self.stride)
        self._in = x.shape[2:]
        return y

    def backward(self, dy, include_penalty=True):
        self._check_forward(self._in, "backward")
        # the indices are the forward kernel's own: trusted, nothing read on the host
        backward = _backend.current().kernels.trusted["maxpool2d_backward"]
        return backward(_contig(dy), self._argmax, self._in)

    def rop(self, dx, dparams=None):
        self._check_forward(self._in, "rop")
        return None if dx is None else _windows_take(_contig(dx), self._argmax)


class AvgPool2D(_Pool2D):
    """Average pooling over ``pool_size`` windows of images (N, C, H, W).

    Parameters
    ----------
    pool_size : int or (int, int), default 2
    stride : int or (int, int), default ``pool_size``
    """

    def forward(self, x, train=False):
        self._check_built()
        _check_input(self, x, "images")
        self._in = x.shape[2:]
        return _backend.current().kernels.avgpool2d_forward(_contig(x), self.pool_size,
                                                            self.stride)

    def backward(self, dy, include_penalty=True):
        self._check_forward(self._in, "backward")
        return _backend.current().kernels.avgpool2d_backward(_contig(dy), self._in,
                                                             self.pool_size, self.stride)

    def rop(self, dx, dparams=None):
        self._check_forward(self._in, "rop")
        if dx is None:
            return None
        return _backend.current().kernels.avgpool2d_forward(_contig(dx), self.pool_size,
                                                            self.stride)


# ------------------------------------------------------------------------------- 1-d


class _Pool1D(Layer):
    variable_length = True

    def __init__(self, pool_size=2, stride=None):
        super().__init__()
        self.pool_size = _int("pool_size", pool_size)
        self.stride = self.pool_size if stride is None else _int("stride", stride)
        self._mask = None
        self._in = None                  # the input length, cached by forward

    def build(self, input_shape, rng, dtype):
        shape = _shape(input_shape)
        name = type(self).__name__
        if len(shape) != 2:
            raise ValueError(f"{name}: input_shape must be (C, L), got {shape}")
        c, length = shape
        if self.pool_size > length:
            raise ValueError(f"{name}: pool size {self.pool_size} exceeds the sequence length "
                             f"{length}")
        self.input_shape = shape
        self.output_shape = (c, out_size(length, self.pool_size, self.stride))
        return self.output_shape

    def set_mask(self, mask):
        """Use ``mask`` (N, L) in the next forward; return the output mask (N, OL)."""
        self._mask = None if mask is None else sequence_out_mask(
            mask, self.pool_size, self.stride, 0, type(self).__name__)
        return self._mask

    def _masked(self, y):
        return y if self._mask is None else y * self._mask[:, None, :]

    def get_config(self):
        return {"pool_size": self.pool_size, "stride": self.stride}


class MaxPool1D(_Pool1D):
    """Max pooling along channels-first sequences (N, C, L).

    Parameters
    ----------
    pool_size : int, default 2
    stride : int, default ``pool_size``
    """

    def forward(self, x, train=False):
        self._check_built()
        _check_input(self, x, "sequences (channels first)")
        y, self._argmax = _backend.current().kernels.maxpool1d_forward(
            _contig(x), self.pool_size, self.stride)
        self._in = x.shape[2]
        return self._masked(y)

    def backward(self, dy, include_penalty=True):
        self._check_forward(self._in, "backward")
        backward = _backend.current().kernels.trusted["maxpool1d_backward"]
        return backward(_contig(self._masked(dy)), self._argmax, self._in)

    def rop(self, dx, dparams=None):
        self._check_forward(self._in, "rop")
        return None if dx is None else self._masked(_windows_take(_contig(dx), self._argmax))


class AvgPool1D(_Pool1D):
    """Average pooling along channels-first sequences (N, C, L).

    Parameters
    ----------
    pool_size : int, default 2
    stride : int, default ``pool_size``
    """

    def forward(self, x, train=False):
        self._check_built()
        _check_input(self, x, "sequences (channels first)")
        self._in = x.shape[2]
        return self._masked(_backend.current().kernels.avgpool1d_forward(
            _contig(x), self.pool_size, self.stride))

    def backward(self, dy, include_penalty=True):
        self._check_forward(self._in, "backward")
        return _backend.current().kernels.avgpool1d_backward(
            _contig(self._masked(dy)), self._in, self.pool_size, self.stride)

    def rop(self, dx, dparams=None):
        self._check_forward(self._in, "rop")
        if dx is None:
            return None
        return self._masked(_backend.current().kernels.avgpool1d_forward(
            _contig(dx), self.pool_size, self.stride))


class GlobalMaxPool1D(Layer):
    """Maximum over the whole sequence: (N, C, L) -> (N, C).

    For motif finding: with a :class:`~deepbio.nn.conv.Conv1D` in front, output ``c`` is
    the best score of filter ``c`` anywhere in the sequence, whatever the length.

    With a mask (``set_mask``, 1 on real positions) the maximum runs over real positions
    only: padded positions are set to the lowest float before the max-pool kernel, so
    they never win and never receive gradient.  (Any mask is allowed here, not only end
    padding.)  Every sequence needs at least one real position.
    """

    variable_length = True

    def __init__(self):
        super().__init__()
        self._mask = None
        self._in = None                  # the input length, cached by forward

    def build(self, input_shape, rng, dtype):
        shape = _shape(input_shape)
        if len(shape) != 2:
            raise ValueError(f"GlobalMaxPool1D: input_shape must be (C, L), got {shape}")
        self.input_shape = shape
        self.output_shape = (shape[0],)
        return self.output_shape

    def set_mask(self, mask):
        """Use ``mask`` (N, L) in the next forward; the output has no positions: None."""
        if mask is not None and not _TRUSTED.get() \
                and not _backend.current().truth((mask > 0).any(axis=1).all()):
            raise ValueError("GlobalMaxPool1D: a sequence has no real position (empty "
                             "sequence); every sequence needs at least one")
        self._mask = mask
        return None

    def forward(self, x, train=False):
        self._check_built()
        be = _backend.current()
        xp = be.xp
        _check_input(self, x, "sequences (channels first)")
        x = _contig(x)
        if self._mask is not None:
            if self._mask.shape != (x.shape[0], x.shape[2]):
                raise ValueError(f"GlobalMaxPool1D: mask of shape {tuple(self._mask.shape)} "
                                 f"does not match sequences of shape {tuple(x.shape)}")
            lowest = xp.finfo(x.dtype).min
            x = _contig(xp.where(self._mask[:, None, :] > 0, x, lowest).astype(x.dtype))
        self._in = x.shape[2]
        y, self._argmax = be.kernels.maxpool1d_forward(x, self._in, 1)
        return _contig(y[:, :, 0])

    def backward(self, dy, include_penalty=True):
        self._check_forward(self._in, "backward")
        return _backend.current().kernels.trusted["maxpool1d_backward"](
            _contig(dy[:, :, None]), self._argmax, self._in)

    def rop(self, dx, dparams=None):
        self._check_forward(self._in, "rop")
        return None if dx is None else _contig(_windows_take(_contig(dx), self._argmax)[:, :, 0])


LAYERS.update({cls.__name__: cls for cls in (MaxPool2D, AvgPool2D, MaxPool1D, AvgPool1D,
                                             GlobalMaxPool1D)})
