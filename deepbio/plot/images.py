"""Learnt filters as images: RBM weights, autoencoder encoder weights."""
import math

import numpy as np

from ._mpl import new_axes

__all__ = ["filters"]


def _weights(model):
    """(n_features, n_filters) weights of an RBM, autoencoder, DBN / stacked autoencoder
    (first layer) or an array."""
    name = type(model).__name__
    if isinstance(model, np.ndarray):
        W = model
    elif hasattr(model, "W_"):                                 # RBM
        W = model.W_
    elif hasattr(model, "rbms_") and model.rbms_:              # DBN: first RBM
        W = model.rbms_[0].W_
    elif hasattr(model, "autoencoders_") and model.autoencoders_:
        W = model.autoencoders_[0].coefs_[0]                   # stacked: first encoder
    elif hasattr(model, "coefs_") and model.coefs_:            # autoencoder, MLP
        W = model.coefs_[0]
    elif hasattr(model, "get_params"):
        raise ValueError(f"model: {name} has no fitted weights (W_ or coefs_); fit it "
                         "first")
    else:
        raise TypeError("model must be a fitted RBM / autoencoder (or DBN, stacked "
                        "autoencoder, MLP: the first layer) or an array (n_features, "
                        f"n_filters), got {name}")
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 2 or W.size == 0:
        raise ValueError(f"model: the weights must be a non-empty 2-d array (n_features, "
                         f"n_filters), got shape {W.shape}")
    return W


def filters(model, ax=None, image_shape=None, max_filters=64, ncols=None, cmap="gray"):
    """Each learnt filter (a column of the first weight matrix) as an image, tiled in one
    grid drawn on ``ax``.

    Parameters
    ----------
    model : RBM (``W_``), AutoEncoder (``coefs_[0]``), DBN / StackedAutoEncoder (first
        layer), MLP (first layer), or an array (n_features, n_filters)
    image_shape : (height, width), optional
        Shape of one filter; default square when ``n_features`` is a square number.
    max_filters : int, default 64
        The first ``max_filters`` filters are drawn.
    ncols : int, optional
        Tiles per row (default about the square root of the number drawn).
    cmap : matplotlib colour map, default "gray"

    Notes
    -----
    Each tile is scaled on its own to ``[-max |w|, max |w|]`` (zero is mid-grey), so
    the pattern of a filter shows whatever its norm; tiles are separated by one blank
    pixel.  Returns the Axes; its image is ``ax.images[0]``.
    """
    W = _weights(model)
    n_features, n_filters = W.shape
    if image_shape is None:
        side = math.isqrt(n_features)
        if side * side != n_features:
            raise ValueError(f"image_shape: the filters have {n_features} features, which "
                             "is not a square number; give image_shape=(height, width)")
        image_shape = (side, side)
    try:
        h, w = (int(v) for v in image_shape)
    except (TypeError, ValueError):
        raise ValueError(f"image_shape must be (height, width), got {image_shape!r}") \
            from None
    if h < 1 or w < 1 or h * w != n_features:
        raise ValueError(f"image_shape {tuple(image_shape)} holds {h * w} pixels but each "
                         f"filter has {n_features} features")
    if isinstance(max_filters, bool) or not isinstance(max_filters, (int, np.integer)) \
            or max_filters < 1:
        raise ValueError(f"max_filters must be a positive int, got {max_filters!r}")
    k = min(n_filters, int(max_filters))
    if ncols is None:
        ncols = math.ceil(math.sqrt(k))
    if isinstance(ncols, bool) or not isinstance(ncols, (int, np.integer)) or ncols < 1:
        raise ValueError(f"ncols must be a positive int, got {ncols!r}")
    ncols = min(int(ncols), k)
    nrows = math.ceil(k / ncols)
    mosaic = np.full((nrows * (h + 1) - 1, ncols * (w + 1) - 1), np.nan)
    for i in range(k):
        tile = W[:, i].reshape(h, w)
        scale = np.abs(tile).max()
        r, c = divmod(i, ncols)
        mosaic[r * (h + 1):r * (h + 1) + h, c * (w + 1):c * (w + 1) + w] = \
            tile / scale if scale > 0 else 0.0
    ax = new_axes(ax, (1.2 * ncols + 0.5, 1.2 * nrows + 0.5))
    ax.set_facecolor("white")
    ax.imshow(np.ma.masked_invalid(mosaic), cmap=cmap, vmin=-1, vmax=1,
              interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"{k} of {n_filters} filters ({type(model).__name__}, {h}x{w})"
                 if not isinstance(model, np.ndarray) else f"{k} of {n_filters} filters")
    return ax
