"""matplotlib, imported on first use, and the figure / file helpers every plot shares."""
import io
import os

__all__ = ["require_matplotlib", "new_axes", "new_figure", "save_figure", "INSTALL_HINT"]

INSTALL_HINT = 'pip install "deepbio[plot]"'


def require_matplotlib():
    """The ``matplotlib`` module; an ImportError saying how to install it when missing.

    The user's backend is never changed here (tests select Agg themselves)."""
    try:
        import matplotlib
    except ImportError:
        raise ImportError("deepbio.plot needs matplotlib, which is not installed: "
                          f"{INSTALL_HINT}") from None
    return matplotlib


def require_sklearn():
    """scikit-learn's ``metrics`` module, or an ImportError saying how to install it."""
    try:
        from sklearn import metrics
    except ImportError:
        raise ImportError("this plot draws through scikit-learn's displays, and "
                          f"scikit-learn is not installed: {INSTALL_HINT}") from None
    return metrics


def _is_axes(ax):
    require_matplotlib()
    from matplotlib.axes import Axes
    return isinstance(ax, Axes)


def new_axes(ax, figsize, name="ax"):
    """``ax`` when it is an Axes, a new figure's single Axes (through pyplot, so it shows in
    notebooks) when it is None; anything else is refused naming the argument."""
    if ax is None:
        require_matplotlib()
        import matplotlib.pyplot as plt
        _, ax = plt.subplots(figsize=figsize)
        return ax
    if not _is_axes(ax):
        raise TypeError(f"{name} must be a matplotlib Axes or None (a new figure), got "
                        f"{type(ax).__name__}")
    return ax


def new_figure(fig, figsize, name="fig"):
    """``fig`` when it is a matplotlib Figure (cleared), a new pyplot figure when None."""
    require_matplotlib()
    from matplotlib.figure import Figure
    if fig is None:
        import matplotlib.pyplot as plt
        return plt.figure(figsize=figsize)
    if not isinstance(fig, Figure):
        raise TypeError(f"{name} must be a matplotlib Figure or None (a new figure), got "
                        f"{type(fig).__name__}")
    fig.clear()
    return fig


def save_figure(fig, path, dpi=100):
    """Write ``fig`` (a Figure, or an Axes: its figure) as PNG to ``path`` atomically:
    rendered into memory, then a temporary file in the same directory, fsync,
    ``os.replace`` (:func:`deepbio.explain._files.write_atomic`).  The image is exactly
    ``figsize x dpi`` pixels (no tight bounding box)."""
    from ..explain._files import write_atomic
    if _is_axes(fig):
        fig = fig.figure
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    write_atomic(path, buf.getvalue(), "PNG")
    return os.fspath(path)
