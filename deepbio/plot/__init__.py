"""Layer 6: pictures of fitted models and their explanations (extra ``[plot]``).

::

    from deepbio import plot
    plot.learning_curves(clf)                       # loss / val_loss per epoch (HF: λ, ρ, CG)
    plot.filters(rbm)                               # RBM / autoencoder weights as images
    plot.sequence_logo(motif)                       # a Motif or an (L, 4) PWM, in bits
    plot.filter_logos(cnn, X, mask=mask)            # every first-layer filter's logo
    plot.saliency_track(A[0], sequence=X[0], mask=mask[0])
    plot.feature_ranking(ranking, top=20)           # a FeatureRanking's best genes
    plot.roc_curve(clf, X, y); plot.pr_curve(clf, X, y); plot.confusion_matrix(clf, X, y)
    plot.save_figure(ax, "curve.png")               # atomic PNG

Every function draws into ``ax`` (a new pyplot figure when None) and returns the Axes,
or the Figure for grids; none calls ``plt.show()`` or changes the backend.  matplotlib
is imported on first use (``pip install "deepbio[plot]"``), and ``import deepbio`` never
imports this package.  Guide: ``docs/plot.md``.
"""
from ._mpl import save_figure  # noqa: F401
from .curves import confusion_matrix, learning_curves, pr_curve, roc_curve  # noqa: F401
from .images import filters  # noqa: F401
from .ranking import feature_ranking  # noqa: F401
from .sequences import filter_logos, saliency_track, sequence_logo  # noqa: F401

__all__ = ["learning_curves", "filters", "sequence_logo", "filter_logos", "saliency_track",
           "feature_ranking", "roc_curve", "pr_curve", "confusion_matrix", "save_figure"]
