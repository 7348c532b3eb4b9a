"""A FeatureRanking (deepbio.explain.rank_features) as a horizontal bar chart."""
import numpy as np

from ._mpl import new_axes

__all__ = ["feature_ranking"]


def feature_ranking(ranking, top=20, class_=None, ax=None, color="C0"):
    """The ``top`` best features of a :class:`deepbio.explain.FeatureRanking` as
    horizontal bars, the best at the top, their names (genes) on the y axis.

    ``class_``: a class label of ``ranking.classes`` (None: ``ranking.overall``, the
    mean over classes).  The x axis is the mean |attribution| (of ``ranking.method``).
    Returns the Axes."""
    from ..explain import FeatureRanking
    if not isinstance(ranking, FeatureRanking):
        raise TypeError("ranking must be a deepbio.explain.FeatureRanking (from "
                        f"rank_features), got {type(ranking).__name__}")
    if isinstance(top, bool) or not isinstance(top, (int, np.integer)) or top < 1:
        raise ValueError(f"top must be a positive int, got {top!r}")
    if class_ is not None and not any(c == class_ for c in ranking.classes):
        raise ValueError(f"class_ must be one of {ranking.classes} (or None: over all "
                         f"classes), got {class_!r}")
    pairs = ranking.top(min(int(top), len(ranking.names)), cls=class_)
    names = [n for n, _ in pairs]
    scores = [s for _, s in pairs]
    ax = new_axes(ax, (6, 0.6 + 0.28 * len(pairs)))
    pos = np.arange(len(pairs))[::-1]
    ax.barh(pos, scores, color=color)
    ax.set_yticks(pos)
    ax.set_yticklabels(names)
    ax.set_ylim(-0.6, len(pairs) - 0.4)
    ax.set_xlabel(f"mean |attribution| ({ranking.method})")
    ax.set_title(f"top {len(pairs)} features: " +
                 ("all classes" if class_ is None else f"class {class_}"))
    return ax
