"""Layer 5: interpretation of fitted supervised models, through their own backward passes.

::

    from deepbio import explain
    A = explain.attributions(clf, X, method="integrated_gradients", mask=mask)
    ranking = explain.rank_features(mlp, expression)          # a read_expression Bunch
    motifs = explain.filter_motifs(cnn, X, mask=mask)
    explain.write_meme(motifs, "filters.meme")

* :func:`attributions` -- gradient, gradient x input, integrated gradients, in-silico
  mutagenesis (:mod:`deepbio.explain.attribution`);
* :func:`rank_features` -> :class:`FeatureRanking` -- genes ranked by mean |attribution|
  per class (:mod:`deepbio.explain.ranking`);
* :func:`filter_motifs` -> list of :class:`Motif`, :func:`compare_motifs`,
  :func:`write_meme` / :func:`read_meme`, :func:`write_jaspar` / :func:`read_jaspar`
  (:mod:`deepbio.explain.motifs`).

``import deepbio`` does not import this package; ``import deepbio.explain`` (or
``deepbio.explain`` after ``import deepbio``, loaded on first use) does.  Maths and
choices: ``docs/explain.md``.
"""
from .attribution import METHODS, attributions  # noqa: F401
from .motifs import (Motif, compare_motifs, filter_motifs, read_jaspar,  # noqa: F401
                     read_meme, write_jaspar, write_meme)
from .ranking import FeatureRanking, rank_features  # noqa: F401

__all__ = ["attributions", "METHODS", "rank_features", "FeatureRanking", "filter_motifs",
           "Motif", "compare_motifs", "write_meme", "read_meme", "write_jaspar",
           "read_jaspar"]
