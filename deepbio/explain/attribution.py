"""Attributions: how much each input feature (gene, base, pixel) contributes to one output
of a fitted supervised model, computed through the model's own backward pass.

See ``docs/explain.md`` for the formulas and the choices made.
"""
import numpy as np

from .._validation import check_choice, check_int
from ._adapter import Explained

__all__ = ["attributions", "METHODS"]

METHODS = ("gradient", "gradient_x_input", "integrated_gradients", "ism")


def attributions(model, X, method="gradient", target=None, baseline=None, mask=None,
                 n_steps=50, batch_size=256, output=None, return_delta=False):
    """Attribute one output of ``model`` to every entry of its input ``X``.

    Parameters
    ----------
    model : fitted MLP, DBN or stacked-autoencoder classifier / regressor, CNNClassifier,
        CNNRegressor (images or sequences), RNNClassifier, RNNRegressor or RNNTagger
    X : array
        What the model takes: a table (N, n_features), images (N, C, H, W) or sequences
        (N, L, A) (e.g. one-hot DNA), checked as the model's ``predict`` checks it.
    method : {"gradient", "gradient_x_input", "integrated_gradients", "ism"}
        * ``"gradient"``: ``d f / d x`` (saliency);
        * ``"gradient_x_input"``: ``x * d f / d x``;
        * ``"integrated_gradients"``: ``(x - x') * integral_0^1 d f / d x (x' + a (x - x'))
          da`` (Sundararajan et al. 2017) by the trapezoid rule on ``n_steps`` intervals;
        * ``"ism"`` (one-hot sequences only): in-silico mutagenesis, entry ``[n, l, a]``
          is ``f(x_n with position l set to letter a) - f(x_n)`` (zero for the letter
          already there).
    target : None, a label, or an array of labels
        The output explained.  Classifiers: a label of ``classes_`` (for every sample) or
        one per sample (N,) (the tagger: one per position, (N, L), or one label for all
        positions); None: the class the model predicts for each sample (position).
        Regressors: an output index (int or (N,)); None: the only output (multi-output
        regressors need ``target``).
    baseline : None or array, integrated gradients only
        The reference input ``x'``: shaped like ``X`` or like one sample ``X[0]``
        (broadcast); None: zeros (an all-zero row of a one-hot sequence is "no base").
    mask : (N, L) bool, optional
        Real positions of end-padded sequences; attributions are zero on padding.
    n_steps : int >= 1, default=50
        Trapezoid intervals of integrated gradients (``n_steps + 1`` gradient passes).
    batch_size : int >= 1, default=256
        Inputs per forward / backward pass (interpolation points, mutants).
    output : {None, "probability", "logit", "prediction"}
        What ``f`` is.  Classifiers: ``"probability"`` (default), the softmax probability
        of the target class, or ``"logit"``, its pre-softmax score ``z_t``.  Regressors:
        ``"prediction"`` (the only choice), in the units of ``y``.  The tagger's ``f`` is
        the sum over the real positions of a sequence.
    return_delta : bool, default=False
        Integrated gradients only: also return the completeness error per sample,
        ``sum(attributions) - (f(x) - f(x'))`` (N,), which shrinks as ``n_steps`` grows.

    Returns
    -------
    A : ndarray of float64 shaped like ``X``
        (and ``delta`` (N,) with ``return_delta``).

    Raises
    ------
    TypeError for an unsupported model; NotFittedError for an unfitted one; ValueError
    for an unknown ``method`` or ``output``, ``X`` of the wrong shape, ``"ism"`` on input
    that is not one-hot sequences, a ``baseline`` of the wrong shape or with another
    method, or a ``target`` the model does not have.
    """
    method = check_choice("method", method, METHODS)
    n_steps = check_int("n_steps", n_steps, low=1)
    batch_size = check_int("batch_size", batch_size, low=1)
    if not isinstance(return_delta, (bool, np.bool_)):
        raise ValueError(f"return_delta must be True or False, got {return_delta!r}")
    ex = Explained(model)
    output = ex.check_output(output)
    if baseline is not None and method != "integrated_gradients":
        raise ValueError(f"baseline is used by method='integrated_gradients' only, not by "
                         f"method={method!r}")
    if return_delta and method != "integrated_gradients":
        raise ValueError(f"return_delta is for method='integrated_gradients', not "
                         f"method={method!r}")
    Xv, m = ex.validate(X, mask)
    if method == "ism":
        _check_one_hot(ex, Xv, m)
    t = ex.resolve_target(target, Xv, m, batch_size)
    if method in ("gradient", "gradient_x_input"):
        A = np.empty_like(Xv)
        for sl in _batches(Xv.shape[0], batch_size):
            _, A[sl] = ex.value_and_grad(Xv[sl], _part(m, sl), t[sl], output)
        return A * Xv if method == "gradient_x_input" else A
    if method == "integrated_gradients":
        base = _baseline(baseline, Xv, m)
        return _integrated_gradients(ex, Xv, m, t, base, output, n_steps, batch_size,
                                     return_delta)
    return _ism(ex, Xv, m, t, output, batch_size)


# ------------------------------------------------------------------------- helpers


def _batches(n, size):
    return [slice(s, min(s + size, n)) for s in range(0, n, size)]


def _part(m, sl):
    return None if m is None else m[sl]


def _baseline(baseline, Xv, m):
    """The baseline as a float64 array shaped like ``Xv`` (zero on padding)."""
    if baseline is None:
        return np.zeros_like(Xv)
    try:
        b = np.asarray(baseline, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"baseline must be an array of numbers shaped like X "
                         f"{Xv.shape} or like one sample {Xv.shape[1:]}") from None
    if b.shape not in (Xv.shape, Xv.shape[1:]):
        raise ValueError(f"baseline must be shaped like X {Xv.shape} or like one sample "
                         f"{Xv.shape[1:]}, got {b.shape}")
    if not np.isfinite(b).all():
        raise ValueError("baseline contains NaN or infinity")
    b = np.broadcast_to(b, Xv.shape).copy()
    if m is not None:
        b *= m[:, :, None]
    return b


def _check_one_hot(ex, Xv, m):
    """ValueError unless ``Xv`` is one-hot sequences: at each real position one entry 1
    and the others 0 (ISM substitutes whole letters)."""
    if ex.kind != "sequence":
        raise ValueError(f"method='ism' (in-silico mutagenesis) is for one-hot sequences; "
                         f"{ex.name} was fitted on {'images' if ex.kind == 'image' else 'a table'}")
    real = m > 0
    rows = Xv[real]
    ok = np.isin(rows, (0.0, 1.0)).all(axis=1) & (rows.sum(axis=1) == 1)
    if not ok.all():
        n_i, l_i = np.nonzero(real)
        bad = int(np.argmax(~ok))
        raise ValueError(f"method='ism' needs one-hot sequences (one 1 per real position, "
                         f"zeros elsewhere), but sequence {int(n_i[bad])} has "
                         f"{Xv[n_i[bad], l_i[bad]].tolist()} at position {int(l_i[bad])} "
                         f"(ambiguity codes or soft encodings cannot be mutated base by "
                         f"base)")


def _integrated_gradients(ex, Xv, m, t, base, output, n_steps, batch_size, return_delta):
    """Trapezoid rule on ``n_steps`` intervals: points ``a_k = k / n_steps``, weights
    ``1 / n_steps`` (halved at both ends)."""
    n = Xv.shape[0]
    alphas = np.arange(n_steps + 1) / n_steps
    weights = np.full(n_steps + 1, 1.0 / n_steps)
    weights[[0, -1]] *= 0.5
    P = len(alphas)
    total = np.zeros_like(Xv)
    f0 = np.zeros(n)
    f1 = np.zeros(n)
    diff = Xv - base
    # flat index over (sample, alpha) pairs, evaluated batch_size points at a time
    for sl in _batches(n * P, batch_size):
        idx = np.arange(sl.start, sl.stop)
        s, k = idx // P, idx % P
        pts = base[s] + alphas[k].reshape((-1,) + (1,) * (Xv.ndim - 1)) * diff[s]
        f, g = ex.value_and_grad(pts, None if m is None else m[s], t[s], output)
        np.add.at(total, s, g * weights[k].reshape((-1,) + (1,) * (Xv.ndim - 1)))
        f0[s[k == 0]] = f[k == 0]
        f1[s[k == P - 1]] = f[k == P - 1]
    A = diff * total
    if return_delta:
        return A, A.reshape(n, -1).sum(axis=1) - (f1 - f0)
    return A


def _ism(ex, Xv, m, t, output, batch_size):
    """Every single-letter substitution at every real position, batch_size mutants at a
    time; ``A[n, l, a] = f(mutant) - f(x_n)``."""
    n, L, A_ = Xv.shape
    ref = np.concatenate([ex.values(Xv[sl], m[sl], t[sl], output)
                          for sl in _batches(n, batch_size)])
    current = Xv.argmax(axis=2)
    real = m > 0
    n_i, l_i, a_i = np.nonzero(real[:, :, None] & (np.arange(A_)[None, None, :]
                                                  != current[:, :, None]))
    out = np.zeros_like(Xv)
    for sl in _batches(len(n_i), batch_size):
        rows, pos, let = n_i[sl], l_i[sl], a_i[sl]
        mut = Xv[rows].copy()
        mut[np.arange(len(rows)), pos, :] = 0.0
        mut[np.arange(len(rows)), pos, let] = 1.0
        out[rows, pos, let] = ex.values(mut, m[rows], t[rows], output) - ref[rows]
    return out
