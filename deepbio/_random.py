"""Random streams: where every backend's uniforms come from.

A :class:`PhiloxStream` names one sequence of the counter-based generator Philox4x32-10
(Salmon et al. 2011; the contract kernel ``philox_uniform``, see
``deepbio/_kernels/reference.py`` for the keying rule).  It is three integers, no state
beyond them: the ``seed`` (the 64-bit key), the ``stream`` (which of 2^64 independent
sequences under that key) and the ``offset`` of the next draw, counted in 128-bit
blocks.  A draw of ``n`` uniforms reads blocks ``offset, offset + 1, ...`` and moves the
offset past them, so the next draw gets fresh ones.

Because block ``j`` is a pure function of ``(seed, stream, j)``, the NumPy reference,
the Cython kernel and the CUDA kernels compute the same bits, each where its arrays live:
``random_state=s`` gives the same Gibbs samples, dropout masks and corruptions on every
backend, and a GPU backend draws them on the device with nothing uploaded.

Host generators (``numpy.random.Generator``) remain for what is drawn once or on the host
(initial weights, minibatch shuffles) and to derive the seed of a stream
(:func:`derive_seed`) when ``random_state`` is a Generator or None.
"""
import numpy as np

_U64 = 2 ** 64


def derive_seed(rng):
    """A 64-bit stream seed drawn from the host generator ``rng``."""
    return int(rng.integers(0, _U64, dtype=np.uint64))


class PhiloxStream:
    """One Philox4x32-10 sequence: key ``seed``, sequence number ``stream``, and the
    ``offset`` (in 128-bit blocks) where its next draw starts.

    Draw from it with ``backend.uniform(stream, shape, dtype)``; :meth:`take` is the
    bookkeeping behind that call.
    """

    __slots__ = ("seed", "stream", "offset")

    def __init__(self, seed, stream=0, offset=0):
        for name, v in (("seed", seed), ("stream", stream), ("offset", offset)):
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) \
                    or not 0 <= int(v) < _U64:
                raise ValueError(f"PhiloxStream: {name} must be an int in [0, 2**64), "
                                 f"got {v!r}")
        self.seed, self.stream, self.offset = int(seed), int(stream), int(offset)

    def take(self, n, dtype):
        """The offset for a draw of ``n`` uniforms of ``dtype``, and advance past it:
        ``ceil(n / 4)`` blocks for float32, ``ceil(n / 2)`` for float64."""
        per_block = 4 if np.dtype(dtype) == np.float32 else 2
        start = self.offset
        self.offset = (start + -(-int(n) // per_block)) % _U64
        return start

    def __eq__(self, other):
        return isinstance(other, PhiloxStream) and (
            (self.seed, self.stream, self.offset) == (other.seed, other.stream, other.offset))

    __hash__ = None     # mutable

    def __repr__(self):
        return f"PhiloxStream(seed={self.seed}, stream={self.stream}, offset={self.offset})"


__all__ = ["PhiloxStream", "derive_seed"]
