"""Feature (gene) rankings: mean |attribution| per class, names kept.

:func:`rank_features` takes a fitted dense model (MLP, DBN or stacked-autoencoder
classifier / regressor) and a table of samples x features, e.g. the :class:`Bunch` that
:func:`deepbio.datasets.read_expression` returns (its ``genes`` become the names), and
returns a :class:`FeatureRanking`.
"""
import warnings

import numpy as np

from .attribution import METHODS, attributions
from ._adapter import Explained
from ._files import write_atomic

__all__ = ["FeatureRanking", "rank_features"]


class FeatureRanking:
    """Features ranked by mean absolute attribution, per class (or regression output).

    Attributes
    ----------
    names : list of str (n_features,)
    classes : list (n_classes,)
        Class labels (``classes_``) of a classifier; output indices of a regressor.
    scores : ndarray (n_classes, n_features), float64
        ``scores[c, g]``: mean over the samples of class ``c`` of ``|A[n, g]|``, the
        attribution of feature ``g`` to the output of class ``c``.
    order : ndarray (n_classes, n_features), int64
        Feature indices by decreasing score (ties: lower index first).
    n_samples : ndarray (n_classes,), int64
        Samples behind each class's mean (0: no sample; its scores are 0).
    method : str
        The attribution method.
    overall : ndarray (n_features,)
        ``scores`` averaged over the classes with samples (property).
    """

    def __init__(self, names, classes, scores, n_samples, method):
        self.names = [str(n) for n in names]
        self.classes = list(classes)
        self.scores = np.array(scores, dtype=np.float64)
        want = (len(self.classes), len(self.names))
        if self.scores.shape != want:
            raise ValueError(f"scores must have shape (n_classes, n_features) = {want}, got "
                             f"{self.scores.shape}")
        if not np.isfinite(self.scores).all():
            raise ValueError("scores must be finite")
        self.n_samples = np.array(n_samples, dtype=np.int64)
        if self.n_samples.shape != (len(self.classes),):
            raise ValueError(f"n_samples must hold one count per class ({len(self.classes)}),"
                             f" got shape {self.n_samples.shape}")
        self.method = method
        self.order = np.argsort(-self.scores, axis=1, kind="stable")

    @property
    def overall(self):
        used = self.n_samples > 0
        return self.scores[used].mean(axis=0) if used.any() else np.zeros(len(self.names))

    def _row(self, cls):
        if cls is None:
            return self.overall
        for i, c in enumerate(self.classes):
            if c == cls:
                return self.scores[i]
        raise ValueError(f"cls must be one of {self.classes} (or None: over all classes), "
                         f"got {cls!r}")

    def top(self, k=10, cls=None):
        """The ``k`` best ``(name, score)`` pairs of class ``cls`` (None: ``overall``)."""
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be a positive int, got {k!r}")
        row = self._row(cls)
        idx = np.argsort(-row, kind="stable")[:int(k)]
        return [(self.names[i], float(row[i])) for i in idx]

    def to_records(self):
        """One dict per (class, feature): ``class``, ``rank`` (1 = first), ``name``,
        ``index`` (the feature's column) and ``score``; class by class, best first."""
        out = []
        for c, cls in enumerate(self.classes):
            for r, g in enumerate(self.order[c]):
                out.append({"class": cls, "rank": r + 1, "name": self.names[g],
                            "index": int(g), "score": float(self.scores[c, g])})
        return out

    def write_tsv(self, path):
        """Write :meth:`to_records` as a tab-separated table with a header, atomically;
        returns ``path``."""
        lines = ["class\trank\tname\tindex\tscore"]
        lines += [f"{r['class']}\t{r['rank']}\t{r['name']}\t{r['index']}\t{r['score']:.6g}"
                  for r in self.to_records()]
        return write_atomic(path, "\n".join(lines) + "\n", "ranking")

    def __repr__(self):
        heads = ", ".join(f"{c}: {self.names[self.order[i, 0]]}"
                          for i, c in enumerate(self.classes[:3]))
        more = ", ..." if len(self.classes) > 3 else ""
        return (f"FeatureRanking({len(self.names)} features, {len(self.classes)} classes, "
                f"method={self.method!r}; first: {heads}{more})")


def _table_and_names(X, names):
    """``(X, names)``: a Bunch from read_expression gives its ``X`` and ``genes``; a
    table with ``columns`` (a data frame) its column names."""
    found = None
    if isinstance(X, dict) and "X" in X:
        found = X.get("genes")
        X = X["X"]
    elif hasattr(X, "columns") and hasattr(X, "to_numpy"):
        found = [str(c) for c in X.columns]
        X = X.to_numpy()
    return X, (names if names is not None else found)


def rank_features(model, X, names=None, y=None, method="integrated_gradients", output=None,
                  batch_size=256, **kwargs):
    """Rank the features of a table by their mean absolute attribution, per class.

    Parameters
    ----------
    model : fitted MLP, DBN or stacked-autoencoder classifier or regressor
    X : (n_samples, n_features) array, or the Bunch of
        :func:`deepbio.datasets.read_expression` (then ``names`` default to its
        ``genes``), or a data frame (its column names)
    names : sequence of n_features str, optional
        Default: from ``X`` as above, else the model's ``feature_names_in_`` (the columns
        of the data frame it was fitted on), else ``"feature0"``, ``"feature1"``, ...
        A data frame whose columns differ from ``feature_names_in_`` is a ValueError.
    y : (n_samples,) labels, optional
        Classifiers: the samples of class ``c`` are those with ``y == c`` (default: those
        the model predicts as ``c``); each class's attributions explain that class's
        output.  Regressors: ignored (every sample, once per output).
    method : {"integrated_gradients", "gradient_x_input", "gradient"}
        Default integrated gradients from the zero baseline, which is the average
        sample when the features are standardised (do so first); ``n_steps + 1``
        gradient passes over ``X``.  ``"gradient_x_input"`` costs one.
    output, batch_size, **kwargs
        Passed to :func:`deepbio.explain.attributions` (e.g. ``n_steps``, ``baseline``
        for integrated gradients).

    Returns
    -------
    FeatureRanking
    """
    if method == "ism":
        raise ValueError("method='ism' mutates sequences; rank_features ranks the columns of "
                         "a table: use 'gradient', 'gradient_x_input' or "
                         "'integrated_gradients'")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS[:3]}, got {method!r}")
    ex = Explained(model)
    if ex.kind != "table":
        raise TypeError(f"rank_features ranks the columns of a table (MLP, DBN, stacked-"
                        f"autoencoder models); {ex.name} takes {ex.kind}s: use "
                        f"deepbio.explain.attributions")
    fitted_names = getattr(model, "feature_names_in_", None)
    if fitted_names is not None and hasattr(X, "columns") and hasattr(X, "to_numpy"):
        model._check_feature_names(X, reset=False)   # other columns: an error naming them
    X, names = _table_and_names(X, names)
    if names is None and fitted_names is not None:
        names = list(fitted_names)                # the columns the model was fitted on
    # the table, its names checked above, goes on as an array: the model's own warning
    # for an array after a fit on a frame would be noise here
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="X does not have valid feature names",
                                category=UserWarning)
        Xv, _ = ex.validate(X, None)
        n, d = Xv.shape
        if names is None:
            names = [f"feature{j}" for j in range(d)]
        else:
            names = [str(s) for s in names]
            if len(names) != d:
                raise ValueError(f"names must hold one name per feature ({d}), got "
                                 f"{len(names)}")
        kw = dict(kwargs, method=method, output=output, batch_size=batch_size)
        if not ex.classifier:
            classes = list(range(ex.n_outputs))
            scores = [np.abs(attributions(model, Xv, target=j, **kw)).mean(axis=0)
                      for j in classes]
            return FeatureRanking(names, classes, scores, [n] * len(classes), method)
        classes = model.classes_
        if y is None:
            labels = model.predict(Xv)
        else:
            labels = np.asarray(y)
            if labels.ndim != 1 or labels.shape[0] != n:
                raise ValueError(f"y must hold one label per sample, shape ({n},), got "
                                 f"{labels.shape}")
        scores, counts = [], []
        for c in classes:
            rows = np.flatnonzero(labels == c)
            counts.append(len(rows))
            if len(rows) == 0:
                scores.append(np.zeros(d))
                continue
            A = attributions(model, Xv[rows], target=c, **kw)
            scores.append(np.abs(A).mean(axis=0))
        return FeatureRanking(names, classes.tolist(), scores, counts, method)
