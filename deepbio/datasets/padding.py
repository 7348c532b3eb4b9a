"""Padding, masks and minibatches of variable-length sequences.

Public sequence arrays are sequence-major ``(N, T, D)``: sample, position, channel (the
layers convert to their internal time-major layout themselves).  Variable lengths are
padded at the end and come with a boolean mask ``(N, T)`` that is True on real
positions.  :func:`deepbio.datasets.one_hot` pads and masks letters with the same
helpers as :func:`pad_sequences` uses for real-valued sequences.

- :func:`pad_sequences` -- stack real-valued sequences into ``(N, T, D)`` and a mask.
- :func:`batch_iter` -- aligned minibatches of several arrays.
"""

import warnings

import numpy as np

from .._validation import check_int, check_random_state

__all__ = ["pad_sequences", "batch_iter"]


def _padded_length(lengths, length=None, truncate=False):
    """The common length ``T`` for sequences of ``lengths`` (an int array).

    ``T`` is ``length`` if given (an int >= 1), else the longest sequence.  A sequence
    longer than ``length`` is a ``ValueError`` unless ``truncate`` (it will be cut).
    """
    if length is None:
        return int(lengths.max())
    T = check_int("length", length, low=1)
    too_long = np.flatnonzero(lengths > T)
    if too_long.size and not truncate:
        i = int(too_long[0])
        raise ValueError(
            f"sequence {i} has length {lengths[i]} > length={T}; pass truncate=True to cut it"
        )
    return T


def _prefix_mask(lengths, T):
    """Boolean mask ``(N, T)``, True on the first ``min(lengths[i], T)`` positions of row i."""
    return np.arange(T)[None, :] < np.minimum(lengths, T)[:, None]


def _check_fill_value(value, dtype):
    """Raise ``ValueError`` if ``value`` cannot be stored in ``dtype`` (NaN in int...)."""
    dtype = np.dtype(dtype)
    try:
        with np.errstate(invalid="ignore", over="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            stored = np.array(value).astype(dtype)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"value={value!r} cannot be stored in dtype {dtype}") from None
    if dtype.kind in "fc":
        # Rounding to the precision is fine; overflowing to infinity is not.
        lost = bool(np.isinf(stored)) and not np.isinf(np.asarray(value, dtype=np.complex128))
    else:
        lost = not bool(stored == value)
    if lost:
        raise ValueError(
            f"value={value!r} cannot be represented in dtype {dtype} (it would become "
            f"{stored.item()!r}); pass a value that fits or another dtype"
        )


def pad_sequences(sequences, length=None, value=0.0, truncate=False, dtype=None):
    """Stack variable-length sequences into one padded array and a mask.

    Parameters
    ----------
    sequences : sequence of array-like, each of shape (T_i, D) or (T_i,)
        One array per sample; 1-D arrays are treated as ``(T_i, 1)``. All must
        share ``D``; every ``T_i`` must be >= 1.
    length : int, optional
        Output length ``T``; default ``max(T_i)``.
    value : float, default=0.0
        Fill value for the padding.
    truncate : bool, default=False
        Keep the first ``length`` steps of longer sequences instead of raising
        ``ValueError``.
    dtype : dtype, optional
        Output dtype; default the common (floating) type of the inputs.

    Returns
    -------
    X : ndarray of shape (N, T, D)
        Sequence-major; ``X[i, :T_i] = sequences[i]``, the rest ``value``.
    mask : ndarray of shape (N, T), bool
        True where ``t < T_i``.

    Examples
    --------
    >>> import numpy as np
    >>> from deepbio.datasets import pad_sequences
    >>> X, mask = pad_sequences([np.ones((3, 2)), np.ones((1, 2))])
    >>> X.shape, mask.sum(axis=1).tolist()
    ((2, 3, 2), [3, 1])
    """
    if isinstance(sequences, np.ndarray) and sequences.dtype != object:
        sequences = list(sequences)
    arrays = []
    for i, a in enumerate(sequences):
        a = np.asarray(a)
        if a.ndim == 1:
            a = a[:, None]
        if a.ndim != 2:
            raise ValueError(f"sequence {i} must have shape (T, D) or (T,), got {a.shape}")
        if a.shape[0] == 0:
            raise ValueError(f"sequence {i} is empty")
        if arrays and a.shape[1] != arrays[0].shape[1]:
            raise ValueError(
                f"sequence {i} has {a.shape[1]} features but sequence 0 has {arrays[0].shape[1]}"
            )
        arrays.append(a)
    if not arrays:
        raise ValueError("no sequences given")
    if dtype is None:
        dtype = np.result_type(*arrays)
        if dtype.kind != "f":
            dtype = np.result_type(dtype, np.float64)
    lengths = np.array([a.shape[0] for a in arrays])
    T = _padded_length(lengths, length, truncate)
    _check_fill_value(value, dtype)
    X = np.full((len(arrays), T, arrays[0].shape[1]), value, dtype=dtype)
    for i, a in enumerate(arrays):
        X[i, : min(T, a.shape[0])] = a[:T]
    return X, _prefix_mask(lengths, T)


def batch_iter(*arrays, batch_size=32, shuffle=True, random_state=None, drop_last=False):
    """Yield aligned minibatches of several arrays along their first axis.

    Parameters
    ----------
    *arrays : ndarray, each of shape (N, ...)
        E.g. ``X`` (N, T, D), ``mask`` (N, T) and ``y`` (N,). All must have
        the same first dimension.
    batch_size : int, default=32
    shuffle : bool, default=True
        Visit the samples in a random order (one permutation per call).
    random_state : None, int or numpy.random.Generator, default=None
    drop_last : bool, default=False
        Skip the final batch when it is smaller than ``batch_size``.

    Yields
    ------
    batch : tuple of ndarray
        One slice per input array, each of shape (B, ...), B <= batch_size.

    Examples
    --------
    >>> import numpy as np
    >>> from deepbio.datasets import batch_iter
    >>> X, y = np.zeros((10, 3)), np.arange(10)
    >>> [len(yb) for Xb, yb in batch_iter(X, y, batch_size=4, shuffle=False)]
    [4, 4, 2]
    """
    if not arrays:
        raise ValueError("batch_iter needs at least one array")
    batch_size = check_int("batch_size", batch_size, low=1)
    arrays = [np.asarray(a) for a in arrays]
    n = arrays[0].shape[0] if arrays[0].ndim else 0
    for k, a in enumerate(arrays):
        if a.ndim == 0 or a.shape[0] != n:
            raise ValueError(f"array {k} has {a.shape[:1]} samples, array 0 has {n}")
    order = check_random_state(random_state).permutation(n) if shuffle else np.arange(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        idx = order[start:start + batch_size]
        yield tuple(a[idx] for a in arrays)
