"""Masks of variable-length sequences: the :class:`SequenceMask` layer and the helpers
that carry a mask through convolution and pooling.

Sequences are padded at the END; a mask is (N, T) with 1.0 on real positions and 0.0 on
padding.  The public input layout carries the mask as the last feature channel,
``(N, T, D + 1)``; :class:`SequenceMask` splits it off and hands it to the layers after
it, each of which returns the mask of its own output.
"""
import contextlib
import contextvars

from .. import backend as _backend
from .._kernels.reference import out_size
from ._arrays import _contig
from .layers import LAYERS, Activation, Dropout, Layer, _shape

__all__ = ["SequenceMask", "sequence_lengths", "sequence_out_mask", "masks_trusted"]

#: While a SequenceMask hands on the masks of a batch cut from checked inputs (see
#: :meth:`SequenceMask.trusting`): ``"padded"``, or ``"all_real"`` when the checked inputs
#: have no padding at all; False otherwise.  When set, the value checks below (each a host
#: read on a GPU) are skipped: the masks were checked, whole, once.
_TRUSTED = contextvars.ContextVar("deepbio_masks_trusted", default=False)


def masks_trusted():
    """Inside a trusting SequenceMask's hand-over of masks (for ``set_mask``): "padded",
    or "all_real" when the checked inputs hold no padding; False elsewhere."""
    return _TRUSTED.get()


@contextlib.contextmanager
def _trusting(flag):
    token = _TRUSTED.set(flag or False)
    try:
        yield
    finally:
        _TRUSTED.reset(token)


def sequence_lengths(mask, who):
    """Real lengths (N,) of end-padded sequences from their mask (N, L); ValueError if a
    mask has a hole (a padded position before a real one)."""
    be = _backend.current()
    xp = be.xp
    m = mask > 0
    lengths = m.sum(axis=1)
    if _TRUSTED.get():
        return lengths
    prefix = xp.arange(m.shape[1])[None, :] < lengths[:, None]
    if not be.truth((prefix == m).all()):
        raise ValueError(f"{who}: masks must mark a prefix of each sequence (padding at the end "
                         f"only); got a mask with padded positions before real ones")
    return lengths


def sequence_out_mask(mask, kernel, stride, padding, who):
    """The output mask of a 1-d convolution or pooling of end-padded sequences.

    A sequence of real length ``len`` has ``(len + 2 padding - kernel) // stride + 1``
    real outputs (those of the unpadded sequence).  ValueError if that is < 1.
    """
    be = _backend.current()
    xp = be.xp
    lengths = sequence_lengths(mask, who)
    out_len = out_size(lengths, kernel, stride, padding)
    if not _TRUSTED.get() and be.truth((out_len < 1).any()):
        i = int(xp.argmax(out_len < 1))
        raise ValueError(f"{who}: sequence {i} has {int(lengths[i])} real positions, fewer than "
                         f"the kernel size {kernel} (with padding {padding}) needs")
    n_out = out_size(mask.shape[1], kernel, stride, padding)
    return (xp.arange(n_out)[None, :] < out_len[:, None]).astype(mask.dtype)


# ------------------------------------------------------------------------ SequenceMask


class SequenceMask(Layer):
    """First layer of a network on variable-length sequences: splits off the mask.

    Input ``(N, T, D + 1)``: ``D`` features and, last, the mask (1.0 on real positions,
    0.0 on padding; any other value is an error).  Output ``(N, T, D)``.  Before passing
    the features on, ``forward`` hands the mask to the following layers in
    ``downstream`` (set by :meth:`connect`, usually with the rest of the network): each
    layer with a ``set_mask`` method receives it and returns the mask of its own output
    (None ends the chain); :class:`~deepbio.nn.Dropout` and
    :class:`~deepbio.nn.Activation` pass it on unchanged; any other layer ends it.

    A sequence with no real position raises ``ValueError`` (an empty sequence).

    Every forward checks its mask (0/1 only, no empty sequence, and what each layer
    downstream needs: no holes, enough positions for a kernel): a few reductions, each a
    host read on a GPU.  Inside :meth:`trusting` they are skipped: an optimiser checks the
    whole of its inputs once (:meth:`Network.inputs_checked`), then trusts the batches
    cut from them, as it does for targets.
    """

    _PASS = (Dropout, Activation)

    def __init__(self):
        super().__init__()
        self.downstream = []
        self._trusted = False
        self._all_real = False

    @contextlib.contextmanager
    def trusting(self, all_real=False):
        """Skip the value checks of the masks of every forward inside the block.

        ``all_real``: the checked inputs have no padding at all; layers downstream may
        then treat every batch's mask as all ones without looking at it (the recurrent
        layers take their unmasked path)."""
        before = self._trusted, self._all_real
        self._trusted, self._all_real = True, bool(all_real)
        try:
            yield self
        finally:
            self._trusted, self._all_real = before

    def connect(self, layers):
        """Hand masks to ``layers`` (the layers after this one, in order); returns self."""
        self.downstream = list(layers)
        return self

    def build(self, input_shape, rng, dtype):
        shape = _shape(input_shape)
        if len(shape) != 2 or shape[1] < 2:
            raise ValueError(f"SequenceMask: input_shape must be (T, D + 1) with D >= 1 "
                             f"features and the mask last, got {shape}")
        self.input_shape = shape
        self.output_shape = (shape[0], shape[1] - 1)
        return self.output_shape

    def forward(self, x, train=False):
        self._check_built()
        be = _backend.current()
        xp = be.xp
        if x.ndim != 3 or x.shape[2] != self.input_shape[1] or 0 in x.shape:
            raise ValueError(f"SequenceMask: expected (N, T, {self.input_shape[1]}) = features "
                             f"+ a mask channel, got {tuple(x.shape)}")
        mask = _contig(x[:, :, -1])
        if not self._trusted:
            if not be.truth(((mask == 0) | (mask == 1)).all()):
                raise ValueError("SequenceMask: the mask channel must hold only 0 (padding) "
                                 "and 1 (real position)")
            empty = ~(mask > 0).any(axis=1)
            if be.truth(empty.any()):
                raise ValueError(f"SequenceMask: sequence {int(xp.argmax(empty))} is empty "
                                 f"(no real position); every sequence needs at least one")
        m = mask
        with _trusting(self._trusted and ("all_real" if self._all_real else "padded")):
            for layer in self.downstream:
                if m is None:
                    break
                if hasattr(layer, "set_mask"):
                    m = layer.set_mask(m)
                elif not isinstance(layer, self._PASS):
                    break
        self._n_features = x.shape[2] - 1
        return _contig(x[:, :, :-1])

    def backward(self, dy, include_penalty=True):
        xp = _backend.current().xp
        zero = xp.zeros(dy.shape[:2] + (1,), dtype=dy.dtype)
        return _contig(xp.concatenate([dy, zero], axis=2))

    def rop(self, dx, dparams=None):
        return None if dx is None else _contig(dx[:, :, :-1])


LAYERS[SequenceMask.__name__] = SequenceMask
