"""Input checks of the layered (CNN / RNN) estimators: images, one-hot sequences and their
masks, labels.  Each validates once, on the host, before data reaches a backend."""
import numbers

import numpy as np

from .._device import is_device_array, to_host
from .._validation import column_y_to_1d, y_none_message
from ..nn.conv import Conv1D
from ..nn.pool import AvgPool1D, MaxPool1D

__all__ = ["check_sequences", "check_images", "check_labels", "check_sequence_lengths",
           "min_sequence_length", "with_mask_channel"]

# ------------------------------------------------------------------------ input checks


def _as_float_array(X, name, what):
    """``X`` as a float64 NumPy array; ValueError for ragged or non-numeric input."""
    if is_device_array(X):
        X = to_host(X)                                # CuPy
    try:
        arr = np.asarray(X)
    except ValueError:
        arr = None
    if arr is not None and arr.dtype == object and arr.ndim == 0:
        raise ValueError(f"{name} must be an array of {what}, got {type(X).__name__}")
    if arr is None or arr.dtype == object:
        raise ValueError(f"{name} is ragged: its {what} have different shapes. Pad sequences "
                         f"to one length with deepbio.datasets.pad_sequences (or one_hot for "
                         f"letters), which also returns the mask, and pass mask=...")
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold numbers, got dtype {arr.dtype} (one-hot encode "
                         f"letters with deepbio.datasets.one_hot)")
    return arr.astype(np.float64, copy=False)


def check_sequences(X, mask=None, n_features=None, prefix=False, who="model"):
    """Validate sequences ``X`` (N, T, D) and their mask; return ``(X, mask)`` as float64.

    ``mask`` (N, T), boolean or 0/1, is True on real positions (None: all real).  Padded
    positions of ``X`` are set to zero.  With ``prefix=True`` the mask must mark a prefix
    of every sequence (padding at the end, as :func:`deepbio.datasets.pad_sequences`
    gives).  ValueError, naming the problem, for: ragged input, wrong rank, no sequence,
    empty sequences (length 0 or no real position), NaN/inf, a feature count different
    from ``n_features`` (the alphabet size at fit), or a malformed mask.
    """
    X = _as_float_array(X, "X", "sequences")
    if X.ndim != 3:
        raise ValueError(f"X must be a 3-d array of sequences (n_sequences, length, "
                         f"n_features), e.g. one-hot DNA (N, L, 4); got a {X.ndim}-d array of "
                         f"shape {X.shape}")
    n, t, d = X.shape
    if n == 0:
        raise ValueError(f"X holds no sequence (shape {X.shape})")
    if t == 0:
        raise ValueError(f"X holds empty sequences (length 0, shape {X.shape}); every sequence "
                         f"needs at least one position")
    if d == 0:
        raise ValueError(f"X has no features per position (shape {X.shape})")
    if not np.isfinite(X).all():
        raise ValueError("X contains NaN or infinity")
    if n_features is not None and d != n_features:
        raise ValueError(f"X has {d} features per position, but the {who} was fitted with "
                         f"{n_features} (a different alphabet or encoding?)")
    if mask is None:
        m = np.ones((n, t))
    else:
        m = np.asarray(mask)
        if m.shape != (n, t):
            raise ValueError(f"mask must have shape (n_sequences, length) = {(n, t)}, got "
                             f"{m.shape}")
        if m.dtype.kind not in "biuf" or not np.isin(m, (0, 1)).all():
            raise ValueError("mask must be boolean (or 0/1): True on real positions, False on "
                             "padding")
        m = m.astype(np.float64)
    empty = m.sum(axis=1) == 0
    if empty.any():
        raise ValueError(f"sequence {int(np.argmax(empty))} is empty: its mask has no real "
                         f"position")
    if prefix:
        lengths = m.sum(axis=1)
        if not (m == (np.arange(t)[None, :] < lengths[:, None])).all():
            raise ValueError("mask must mark a prefix of every sequence (padding at the end "
                             "only), as deepbio.datasets.pad_sequences and one_hot give")
    return X * m[:, :, None], m


def check_images(X, image_shape=None, who="model"):
    """Validate images ``X`` (N, C, H, W); ``image_shape`` = (C, H, W) seen at fit."""
    X = _as_float_array(X, "X", "images")
    if X.ndim != 4:
        hint = " (add a channel axis, X[:, None], for grayscale images)" if X.ndim == 3 else ""
        raise ValueError(f"X must be a 4-d array of images (n_images, channels, height, width)"
                         f"; got a {X.ndim}-d array of shape {X.shape}{hint}")
    if X.shape[0] == 0 or 0 in X.shape[1:]:
        raise ValueError(f"X is empty (shape {X.shape})")
    if not np.isfinite(X).all():
        raise ValueError("X contains NaN or infinity")
    if image_shape is not None:
        c, h, w = image_shape
        if X.shape[1] != c:
            raise ValueError(f"X has {X.shape[1]} channel(s), but the {who} was fitted on "
                             f"images with {c} channel(s)")
        if tuple(X.shape[2:]) != (h, w):
            raise ValueError(f"X has images of {X.shape[2]}x{X.shape[3]} pixels, but the {who} "
                             f"was fitted on {h}x{w} images")
    return X


def min_sequence_length(layers):
    """Fewest real positions a sequence needs to pass through ``layers`` (in order).

    A 1-d convolution or pooling layer with kernel ``k``, stride ``s`` and padding ``p``
    gives ``(len + 2p - k) // s + 1`` outputs from ``len`` real positions (as
    :func:`deepbio.nn.masking.sequence_out_mask` counts them), so it gives at least ``need``
    outputs when ``len >= (need - 1) s + k - 2p``.  Starting from the last such layer,
    which must give at least one output, and working back to the input gives the
    receptive field of the stack.  Other layers keep the length.
    """
    need = 1
    for layer in reversed(layers):
        if isinstance(layer, Conv1D):
            k, s, p = layer.kernel_size, layer.stride, layer.padding
        elif isinstance(layer, (MaxPool1D, AvgPool1D)):
            k, s, p = layer.pool_size, layer.stride, 0
        else:
            continue
        need = max(1, (need - 1) * s + k - 2 * p)
    return need


def check_sequence_lengths(m, layers):
    """ValueError naming the first sequence (row of the mask ``m``) too short for
    ``layers``: one with fewer real positions than :func:`min_sequence_length`."""
    need = min_sequence_length(layers)
    lengths = m.sum(axis=1)
    short = lengths < need
    if short.any():
        i = int(np.argmax(short))
        stack = " -> ".join(
            f"Conv1D(kernel_size={layer.kernel_size}, padding={layer.padding})"
            if isinstance(layer, Conv1D) else f"{type(layer).__name__}({layer.pool_size})"
            for layer in layers if isinstance(layer, (Conv1D, MaxPool1D, AvgPool1D)))
        raise ValueError(
            f"sequence {i} of X has {int(lengths[i])} real position(s), but the layers "
            f"{stack} need at least {need} to give an output; use padding='same' or a "
            f"smaller kernel_size or pool_size, or leave out the short sequences")


def with_mask_channel(X, m):
    """``[X, mask]`` along the last axis: the input of a network led by SequenceMask."""
    return np.concatenate([X, m[:, :, None]], axis=2)


def _ints(v, n=None, name="value"):
    """An int or a sequence of ints as a tuple (repeated to length ``n`` if an int)."""
    if isinstance(v, numbers.Integral) and not isinstance(v, bool):
        return (int(v),) * (n if n is not None else 1)
    v = tuple(int(x) for x in v)
    if n is not None and len(v) != n:
        raise ValueError(f"{name} must be an int or have one entry per stage ({n}), got {v}")
    return v


def check_labels(y, n, what="X"):
    """Labels ``y`` (n,) for a classifier: ValueError if missing, of the wrong length, or
    holding NaN, infinity or None; a column (n, 1) is raveled with a
    :class:`~deepbio._validation.DataConversionWarning`."""
    if y is None:
        raise ValueError(y_none_message())
    y = column_y_to_1d(np.asarray(y))
    if y.ndim != 1:
        raise ValueError(f"y must be a 1-d array of labels, got shape {y.shape}")
    if y.shape[0] != n:
        raise ValueError(f"y has the wrong length: {what} has {n} samples but y has "
                         f"{y.shape[0]}")
    # a missing label is not a class (and NaN != NaN would make one class per NaN)
    if y.dtype.kind == "f":
        for kind, bad in (("NaN", np.isnan(y)), ("infinity", np.isinf(y))):
            if bad.any():
                raise ValueError(f"y contains {kind} (at index {int(np.argmax(bad))}); "
                                 f"remove or label those samples first")
    if y.dtype.kind == "O" and any(v is None or (isinstance(v, float) and v != v) for v in y):
        raise ValueError("y contains missing labels (None or NaN)")
    return y


