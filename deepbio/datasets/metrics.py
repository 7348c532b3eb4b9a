"""Metrics of predictions, with scikit-learn's names and definitions, in plain NumPy.

- :func:`roc_auc_score` -- area under the ROC curve of a binary problem, by ranks.
- :func:`accuracy_score` -- fraction of correct labels.
- :func:`mean_squared_error` -- mean of the squared errors.
- :func:`confusion_matrix`, :func:`precision_recall_f1` -- per-class counts and ratios.

Layer 5 with the rest of :mod:`deepbio.datasets` (see ``docs/architecture.md``); it
imports only NumPy and :mod:`deepbio._validation`, and never needs scikit-learn.
"""

import numpy as np

from .._validation import check_array

__all__ = ["roc_auc_score", "accuracy_score", "mean_squared_error", "confusion_matrix",
           "precision_recall_f1"]


def _average_ranks(a):
    """Ranks 1..n of the 1-d array ``a``, tied values sharing their average rank."""
    n = a.shape[0]
    order = np.argsort(a, kind="mergesort")
    sorted_a = a[order]
    starts = np.flatnonzero(np.r_[True, sorted_a[1:] != sorted_a[:-1]])
    ends = np.r_[starts[1:], n]                 # exclusive ends of the runs of ties
    ranks = np.empty(n, dtype=np.float64)
    ranks[order] = np.repeat((starts + ends - 1) / 2.0 + 1.0, ends - starts)
    return ranks


def _same_length(y_true, y_other, other_name):
    if y_true.shape[0] != y_other.shape[0]:
        raise ValueError(f"y_true has {y_true.shape[0]} samples but {other_name} has "
                         f"{y_other.shape[0]}")


def roc_auc_score(y_true, y_score):
    """Area under the ROC curve of a binary problem, by the rank (Mann-Whitney) formula.

    ``AUC = (R_pos - n_pos (n_pos + 1) / 2) / (n_pos n_neg)``, where ``R_pos`` is the sum
    of the positives' ranks among all scores, tied scores sharing their average rank:
    the probability that a random positive scores above a random negative, ties counting
    one half.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Two classes: booleans, 0 / 1, or any two labels (the greater one is positive,
        as in scikit-learn).
    y_score : array-like of shape (n_samples,)
        Scores of the positive class (probabilities, decision values...), finite.

    Returns
    -------
    auc : float
        In [0, 1]; 0.5 for uninformative scores.

    Raises
    ------
    ValueError
        If ``y_true`` does not hold exactly two classes ("ROC AUC needs both classes
        among the samples"), the lengths differ, or a score is NaN / infinite.

    Examples
    --------
    >>> from deepbio.datasets import roc_auc_score
    >>> roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    """
    y_true = np.asarray(y_true)
    if y_true.ndim != 1:
        raise ValueError(f"y_true must be 1-d, got shape {y_true.shape}")
    score = check_array(y_score, "y_score", ndim=1, min_samples=0)
    _same_length(y_true, score, "y_score")
    classes = np.unique(y_true)
    if classes.shape[0] != 2:
        found = f"only {classes.tolist()!r}" if classes.shape[0] < 2 else \
            f"{classes.shape[0]} classes"
        raise ValueError(f"ROC AUC needs both classes among the samples (a binary y_true); "
                         f"found {found}")
    positive = y_true == classes[1]
    n_pos = int(positive.sum())
    n_neg = positive.shape[0] - n_pos
    ranks = _average_ranks(score)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def accuracy_score(y_true, y_pred):
    """Fraction of samples whose predicted label equals the true one.

    Examples
    --------
    >>> from deepbio.datasets import accuracy_score
    >>> accuracy_score(["a", "b", "b"], ["a", "b", "a"])
    0.6666666666666666
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    _same_length(y_true, y_pred, "y_pred")
    if y_true.shape[0] == 0:
        raise ValueError("accuracy of no samples: y_true is empty")
    return float(np.mean(y_true == y_pred))


def mean_squared_error(y_true, y_pred):
    """Mean of ``(y_true - y_pred) ** 2`` over samples and outputs.

    ``y_true`` and ``y_pred`` are (n_samples,) or (n_samples, n_outputs), of the same
    shape once a single output column is flattened.

    Examples
    --------
    >>> from deepbio.datasets import mean_squared_error
    >>> mean_squared_error([1.0, 2.0], [1.0, 4.0])
    2.0
    """
    y_true = check_array(y_true, "y_true", ndim=(1, 2))
    y_pred = check_array(y_pred, "y_pred", ndim=(1, 2))
    _same_length(y_true, y_pred, "y_pred")
    y_true, y_pred = y_true.reshape(len(y_true), -1), y_pred.reshape(len(y_pred), -1)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has {y_true.shape[1]} output(s) but y_pred has "
                         f"{y_pred.shape[1]}")
    return float(np.mean((y_true - y_pred) ** 2))


def _labels_of(y_true, y_pred, labels):
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    _same_length(y_true, y_pred, "y_pred")
    if y_true.shape[0] == 0:
        raise ValueError("y_true is empty")
    if labels is None:
        labels = np.unique(np.concatenate([y_true, y_pred]))
    return y_true, y_pred, list(labels)


def confusion_matrix(y_true, y_pred, labels=None):
    """Counts ``C[i, j]`` of samples of true class ``labels[i]`` predicted as
    ``labels[j]`` (scikit-learn's convention: rows true, columns predicted).

    ``labels`` default: the sorted union of both label sets; samples whose labels are
    not in ``labels`` are not counted.

    Examples
    --------
    >>> from deepbio.datasets import confusion_matrix
    >>> confusion_matrix(["a", "b", "b"], ["a", "b", "a"]).tolist()
    [[1, 0], [1, 1]]
    """
    y_true, y_pred, labels = _labels_of(y_true, y_pred, labels)
    where = {lab: k for k, lab in enumerate(labels)}
    C = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for t, p in zip(y_true.tolist(), y_pred.tolist()):
        if t in where and p in where:
            C[where[t], where[p]] += 1
    return C


def precision_recall_f1(y_true, y_pred, labels=None):
    """Per-class precision, recall, F1 and support, as ``(precision, recall, f1,
    support)`` arrays in the order of ``labels`` (default: the sorted union of labels).

    A ratio with a zero denominator (a class never predicted, or never present) is 0,
    as scikit-learn's ``zero_division=0`` gives.

    Examples
    --------
    >>> from deepbio.datasets import precision_recall_f1
    >>> p, r, f, n = precision_recall_f1(["a", "b", "b"], ["a", "b", "a"])
    >>> p.tolist(), r.tolist(), n.tolist()
    ([0.5, 1.0], [1.0, 0.5], [1, 2])
    """
    C = confusion_matrix(y_true, y_pred, labels).astype(np.float64)
    tp = np.diag(C)
    predicted, support = C.sum(axis=0), C.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        f1 = np.where(precision + recall > 0,
                      2 * precision * recall / (precision + recall), 0.0)
    return precision, recall, f1, support.astype(np.int64)
