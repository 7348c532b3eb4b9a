"""Training curves (``history_``) and classifier diagnostics (ROC, PR, confusion matrix)."""
import math

import numpy as np

from ._mpl import new_axes, new_figure, require_matplotlib, require_sklearn

__all__ = ["learning_curves", "roc_curve", "pr_curve", "confusion_matrix"]

#: Per-epoch quantities drawn on the main axes (same units as the training loss).
_LOSSES = ("loss", "val_loss", "reconstruction_error")
#: Quantities in other units, drawn on a second y axis.
_SECONDARY = ("val_metric", "pseudo_likelihood")
#: Keys that make a history a Hessian-free one (docs/hf.md).
_HF_KEYS = ("damping", "rho", "cg_iters")

_LABELS = {"loss": "loss", "val_loss": "val_loss", "reconstruction_error":
           "reconstruction error", "val_metric": "val_metric",
           "pseudo_likelihood": "pseudo-likelihood"}


def _history(model_or_history):
    hist = getattr(model_or_history, "history_", model_or_history)
    if hasattr(model_or_history, "get_params") and not hasattr(model_or_history,
                                                               "history_"):
        raise ValueError(f"model_or_history: {type(model_or_history).__name__} has no "
                         "history_ (is it fitted?)")
    if not isinstance(hist, (list, tuple)) or not all(isinstance(h, dict) for h in hist):
        raise TypeError("model_or_history must be a fitted model with history_ or a list "
                        f"of per-epoch dicts, got {type(model_or_history).__name__}")
    if not hist:
        raise ValueError("model_or_history: the history is empty (no epoch was run)")
    return list(hist)


def _series(hist, key):
    """The values of ``key`` as floats (NaN where an entry lacks it or it is None)."""
    out = []
    for h in hist:
        v = h.get(key)
        out.append(float(v) if v is not None else math.nan)
    return np.asarray(out)


def _x(hist):
    for key, label in (("epoch", "epoch"), ("iteration", "iteration")):
        if all(key in h for h in hist):
            return np.asarray([h[key] for h in hist]), label
    return np.arange(1, len(hist) + 1), "epoch"


def _integer_ticks(ax):
    from matplotlib.ticker import MaxNLocator
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _draw_losses(ax, hist, x, xlabel):
    drawn = []
    for key in _LOSSES:
        if any(key in h for h in hist):
            y = _series(hist, key)
            ax.plot(x, y, marker="o" if len(x) <= 30 else None, ms=3, label=_LABELS[key])
            drawn.append(key)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("loss" if "reconstruction_error" not in drawn else "reconstruction error")
    _integer_ticks(ax)
    second = [k for k in _SECONDARY if any(k in h for h in hist)]
    handles, labels = ax.get_legend_handles_labels()
    if second:
        ax2 = ax.twinx()
        for k in second:
            ax2.plot(x, _series(hist, k), ls="--", color="C3" if k == "val_metric" else "C4",
                     label=_LABELS[k])
        ax2.set_ylabel(" / ".join(_LABELS[k] for k in second))
        h2, l2 = ax2.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
    if not drawn and not second:
        raise ValueError("model_or_history: the history holds none of "
                         f"{list(_LOSSES + _SECONDARY)} (keys: {sorted(hist[0])})")
    if handles:
        ax.legend(handles, labels, loc="best", fontsize="small")
    return drawn + second


def learning_curves(model_or_history, ax=None):
    """Loss per epoch (and ``val_loss``, ``val_metric``; an RBM's reconstruction error and
    pseudo-likelihood) from a fitted model's ``history_`` or a list of per-epoch dicts.

    For a Hessian-free history (entries with ``damping``, ``rho``, ``cg_iters``;
    ``docs/hf.md``) four panels, per iteration: the loss, the damping λ (log scale), the
    reduction ratio ρ (non-finite values left out; lines at 1/4 and 3/4, where λ is
    raised / lowered) and the CG iterations run.

    Parameters
    ----------
    model_or_history : fitted estimator with ``history_``, or list of dict
    ax : matplotlib Axes, optional
        Where to draw (a new figure when None).  For an HF history: None, a Figure (its
        contents are replaced) or a sequence of 4 Axes.

    Returns
    -------
    Axes (the loss axes), or for an HF history the Figure holding the four panels.
    """
    hist = _history(model_or_history)
    x, xlabel = _x(hist)
    if not all(k in hist[0] for k in _HF_KEYS):
        ax = new_axes(ax, (6, 4))
        _draw_losses(ax, hist, x, xlabel)
        ax.set_title("learning curves")
        return ax
    require_matplotlib()
    from matplotlib.figure import Figure
    if ax is None or isinstance(ax, Figure):
        fig = new_figure(ax, (10, 7), name="ax")
        axes = fig.subplots(2, 2, sharex=True).ravel()
    else:
        axes = list(ax) if isinstance(ax, (list, tuple, np.ndarray)) else None
        if axes is None or len(axes) != 4:
            raise ValueError("ax: a Hessian-free history draws four panels (loss, λ, ρ, "
                             "CG iterations); give None, a Figure or a sequence of 4 Axes")
        for a in axes:
            new_axes(a, None)
        fig = axes[0].figure
    xlabel = "HF iteration"
    _draw_losses(axes[0], hist, x, xlabel)
    axes[0].set_title("loss")
    lam = _series(hist, "damping")
    axes[1].plot(x, lam, marker="o", ms=3, color="C1")
    if np.all(lam[np.isfinite(lam)] > 0):
        axes[1].set_yscale("log")
    axes[1].set_title("damping λ")
    axes[1].set_ylabel("λ")
    rho = _series(hist, "rho")
    ok = np.isfinite(rho)
    axes[2].plot(x[ok], rho[ok], marker="o", ms=3, ls="", color="C2")
    for level in (0.25, 0.75):
        axes[2].axhline(level, color="0.6", lw=0.8, ls=":")
    axes[2].set_title("reduction ratio ρ")
    axes[2].set_ylabel("ρ")
    axes[3].bar(x, _series(hist, "cg_iters"), color="C0")
    axes[3].set_title("CG iterations")
    axes[3].set_ylabel("CG iterations")
    for a in axes:
        a.set_xlabel(xlabel)
        _integer_ticks(a)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------ classifiers


def _scores(model, X, y, mask):
    if not hasattr(model, "predict_proba") or not hasattr(model, "classes_"):
        raise TypeError(f"model must be a fitted classifier (predict_proba, classes_), got "
                        f"{type(model).__name__}")
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-d (one label per sample), got shape {y.shape}")
    if len(y) != len(X):
        raise ValueError(f"y has {len(y)} labels but X has {len(X)} samples")
    classes = np.asarray(model.classes_)
    unknown = sorted({str(v) for v in np.unique(y)} - {str(c) for c in classes})
    if unknown:
        raise ValueError(f"y holds labels that are not classes of the model: {unknown[:5]} "
                         f"(classes: {[str(c) for c in classes]})")
    proba = model.predict_proba(X) if mask is None else model.predict_proba(X, mask=mask)
    # labels compared by their text, so '1' read from a file matches the class 1
    y = np.asarray([str(v) for v in y])
    return classes, np.asarray(proba, dtype=np.float64), y


def _one_vs_rest(kind, model, X, y, ax, mask):
    metrics = require_sklearn()
    classes, proba, y = _scores(model, X, y, mask)
    ax = new_axes(ax, (5, 5))
    display = {"roc": metrics.RocCurveDisplay, "pr": metrics.PrecisionRecallDisplay}[kind]
    columns = [1] if len(classes) == 2 else range(len(classes))
    drawn = 0
    for k in columns:
        truth = y == str(classes[k])
        if truth.all() or not truth.any():     # one class only: no curve is defined
            continue
        name = str(classes[k]) if len(classes) > 2 else f"{classes[k]} vs {classes[0]}"
        display.from_predictions(truth, proba[:, k], ax=ax, name=name)
        drawn += 1
    if not drawn:
        raise ValueError("y: a curve needs both positive and negative samples of a class; "
                         "every sample has the same label")
    if len(classes) > 2:       # scikit-learn names the last curve's positive label
        ax.set_xlabel("False Positive Rate" if kind == "roc" else "Recall")
        ax.set_ylabel("True Positive Rate" if kind == "roc" else "Precision")
    if kind == "roc":
        ax.plot([0, 1], [0, 1], ls=":", color="0.6", lw=0.8)
    ax.set_title(("ROC" if kind == "roc" else "precision-recall") +
                 (" (one vs rest)" if len(classes) > 2 else ""))
    return ax


def roc_curve(model, X, y, ax=None, mask=None):
    """ROC curve of a fitted classifier on ``(X, y)`` (scikit-learn's
    ``RocCurveDisplay.from_predictions``); multiclass: one curve per class, one vs rest.
    ``mask``: the sequence mask, passed to ``predict_proba``.  Returns the Axes."""
    return _one_vs_rest("roc", model, X, y, ax, mask)


def pr_curve(model, X, y, ax=None, mask=None):
    """Precision-recall curve (``PrecisionRecallDisplay.from_predictions``), as
    :func:`roc_curve`.  Returns the Axes."""
    return _one_vs_rest("pr", model, X, y, ax, mask)


def confusion_matrix(model, X, y, ax=None, mask=None, normalize=None):
    """Confusion matrix of ``model.predict`` on ``(X, y)``, rows the true classes
    (``ConfusionMatrixDisplay.from_predictions``; ``normalize`` as scikit-learn takes it:
    None, "true", "pred" or "all").  Returns the Axes."""
    metrics = require_sklearn()
    if normalize not in (None, "true", "pred", "all"):
        raise ValueError(f"normalize must be None, 'true', 'pred' or 'all', got "
                         f"{normalize!r}")
    classes, proba, y = _scores(model, X, y, mask)
    names = [str(c) for c in classes]
    pred = np.asarray(names)[np.argmax(proba, axis=1)]
    ax = new_axes(ax, (5, 5))
    metrics.ConfusionMatrixDisplay.from_predictions(y, pred, labels=names, ax=ax,
                                                    normalize=normalize, colorbar=False)
    ax.set_title("confusion matrix")
    return ax
