"""Splitting and scaling without scikit-learn.

``train_test_split`` (optionally stratified), ``standardize``, and the
``StandardScaler`` and ``MinMaxScaler`` with ``fit`` / ``transform`` (the
scikit-learn API): enough for the tests, the demo and the command line to run
where scikit-learn is not installed.
"""

import math
import numbers

import numpy as np

from .._validation import check_is_fitted, check_random_state

__all__ = ["train_test_split", "standardize", "StandardScaler", "MinMaxScaler"]


def _n_test(test_size, n):
    """Number of test samples for ``test_size`` (fraction or count) out of ``n``."""
    if isinstance(test_size, (bool, np.bool_)) or not isinstance(test_size, numbers.Real):
        raise ValueError(f"test_size must be a float in (0, 1) or an int, got {test_size!r}")
    if isinstance(test_size, numbers.Integral):
        n_test = int(test_size)
        if not 1 <= n_test <= n - 1:
            raise ValueError(
                f"test_size={n_test} must be between 1 and n_samples - 1 = {n - 1}"
            )
        return n_test
    if not 0.0 < float(test_size) < 1.0:
        raise ValueError(f"test_size must be in (0, 1) when a float, got {float(test_size)}")
    # As scikit-learn: multiply in the fraction's own precision, so that
    # np.float32(0.3) * 10 is 3 (in float64 it is 3.0000001, which rounds up to 4).
    if isinstance(test_size, np.floating):
        n_test = math.ceil(float(test_size * test_size.dtype.type(n)))
    else:
        n_test = math.ceil(float(test_size) * n)
    test_size = float(test_size)
    if not 1 <= n_test <= n - 1:
        raise ValueError(
            f"test_size={test_size} with n_samples={n} leaves an empty train or test set"
        )
    return n_test


def _stratified_test_counts(counts, n_test, rng):
    """Split ``n_test`` across classes in proportion to ``counts``.

    Largest-remainder rounding: each class first gets ``floor(n_test * n_c /
    n)``, and the leftover test slots go to the classes with the largest
    fractional parts (ties broken at random), never exceeding ``n_c - 1`` so
    each class keeps a training member.
    """
    n = counts.sum()
    quota = counts * (n_test / n)
    take = np.minimum(np.floor(quota).astype(np.int64), counts - 1)
    left = n_test - int(take.sum())
    if left > 0:
        frac = quota - take
        order = np.lexsort((rng.random(len(counts)), -frac))
        for c in order:
            if left == 0:
                break
            if take[c] < counts[c] - 1:
                take[c] += 1
                left -= 1
        if left > 0:  # pragma: no cover - unreachable when n_test <= n - n_classes
            raise ValueError("cannot place the test samples while keeping every class in train")
    return take


def train_test_split(X, y=None, test_size=0.25, stratify=None, random_state=None):
    """Split arrays into random train and test subsets, optionally stratified.

    Parameters
    ----------
    X : array-like of shape (n_samples, ...)
        Samples along the first axis (any trailing shape: ``(N, D)``,
        ``(N, T, D)``, ``(N, C, H, W)``).
    y : array-like of shape (n_samples, ...), optional
        Targets, split with the same indices as ``X``.
    test_size : float in (0, 1) or int, default=0.25
        Fraction of the samples (rounded up) or absolute number of samples in
        the test set. Both sets must be non-empty.
    stratify : array-like of shape (n_samples,), optional
        Class labels. If given, every class keeps its share of the samples in
        the test set up to rounding (largest-remainder rounding; each class
        keeps at least one training sample). Each class needs >= 2 members.
        Pass ``stratify=y`` for the usual stratified split.
    random_state : None, int or numpy.random.Generator, default=None
        Seed for the shuffle; the same seed gives the same split.

    Returns
    -------
    X_train, X_test : ndarray
        Shapes ``(n_train, ...)`` and ``(n_test, ...)``.
    y_train, y_test : ndarray
        Only when ``y`` is given.

    Notes
    -----
    Both subsets are returned in shuffled order. Sizes match scikit-learn's
    ``train_test_split`` (``n_test = ceil(test_size * n)``) but the particular
    samples chosen differ.

    Examples
    --------
    >>> import numpy as np
    >>> from deepbio.datasets import train_test_split
    >>> X = np.arange(20).reshape(10, 2)
    >>> y = np.array([0] * 6 + [1] * 4)
    >>> X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.5,
    ...                                           stratify=y, random_state=0)
    >>> X_tr.shape, X_te.shape
    ((5, 2), (5, 2))
    >>> np.bincount(y_te).tolist()
    [3, 2]
    """
    X = np.asarray(X)
    if X.ndim == 0:
        raise ValueError("X must have at least one dimension (samples first)")
    n = X.shape[0]
    if n < 2:
        raise ValueError(f"X needs at least 2 samples to split, got {n}")
    if y is not None:
        y = np.asarray(y)
        if y.ndim == 0 or y.shape[0] != n:
            raise ValueError(f"X and y have different numbers of samples: {n} and {y.shape[:1]}")
    n_test = _n_test(test_size, n)
    rng = check_random_state(random_state)

    if stratify is None:
        perm = rng.permutation(n)
        test_idx, train_idx = perm[:n_test], perm[n_test:]
    else:
        stratify = np.asarray(stratify)
        if stratify.shape != (n,):
            raise ValueError(f"stratify must have shape ({n},), got {stratify.shape}")
        classes, inverse, counts = np.unique(stratify, return_inverse=True, return_counts=True)
        if counts.min() < 2:
            bad = classes[np.argmin(counts)]
            if isinstance(bad, np.generic):
                bad = bad.item()  # show 1, not np.int64(1)
            raise ValueError(
                f"stratify: class {bad!r} has only 1 member; every class needs at least 2"
            )
        if n_test < len(classes) or n - n_test < len(classes):
            raise ValueError(
                f"stratify: test size {n_test} and train size {n - n_test} must each be "
                f">= the number of classes ({len(classes)})"
            )
        take = _stratified_test_counts(counts, n_test, rng)
        test_parts, train_parts = [], []
        for c in range(len(classes)):
            members = rng.permutation(np.flatnonzero(inverse == c))
            test_parts.append(members[: take[c]])
            train_parts.append(members[take[c]:])
        test_idx = rng.permutation(np.concatenate(test_parts))
        train_idx = rng.permutation(np.concatenate(train_parts))

    out = [X[train_idx], X[test_idx]]
    if y is not None:
        out += [y[train_idx], y[test_idx]]
    return tuple(out)


def _as_float_2d(X, name="X"):
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape {X.shape}")
    if not np.issubdtype(X.dtype, np.floating):
        X = X.astype(np.float64)
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{name} contains NaN or infinity")
    return X


def _safe_scale(std, mean):
    """Replace (near-)zero standard deviations by 1 so constant columns map to 0.

    A column counts as constant when its std is below ``10 * eps * max(1,
    |mean|)``: rounding in the mean of a constant column leaves a tiny
    non-zero std that must not be divided by.
    """
    std = np.array(std, dtype=np.result_type(std, np.float64), copy=True)
    eps = np.finfo(std.dtype).eps
    tiny = std <= 10 * eps * np.maximum(1.0, np.abs(mean))
    std[tiny] = 1.0
    return std


def standardize(X, mean=None, std=None):
    """Centre each column on ``mean`` and divide it by ``std``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    mean : array-like of shape (n_features,), optional
        Column means to subtract; computed from ``X`` when omitted. Pass the
        training set's means to scale a test set the same way.
    std : array-like of shape (n_features,), optional
        Column standard deviations to divide by; computed from ``X``
        (population std, ``ddof=0``) when omitted. Zero (or rounding-level)
        values are replaced by 1, so constant columns become zeros (up to
        the rounding of their mean) instead of NaN.

    Returns
    -------
    Z : ndarray of shape (n_samples, n_features)
        ``(X - mean) / std``, floating point (float64 for integer input).

    See Also
    --------
    StandardScaler : the same with the statistics kept for later use.

    Examples
    --------
    >>> import numpy as np
    >>> from deepbio.datasets import standardize
    >>> Z = standardize([[1.0, 5.0], [3.0, 5.0]])
    >>> Z.tolist()
    [[-1.0, 0.0], [1.0, 0.0]]
    """
    X = _as_float_2d(X)
    mean = X.mean(axis=0) if mean is None else np.asarray(mean, dtype=X.dtype)
    std = X.std(axis=0) if std is None else np.asarray(std, dtype=X.dtype)
    for name, arr in (("mean", mean), ("std", std)):
        if arr.shape != (X.shape[1],):
            raise ValueError(f"{name} must have shape ({X.shape[1]},), got {arr.shape}")
    if np.any(std < 0):
        raise ValueError("std must be non-negative")
    return (X - mean) / _safe_scale(std, mean).astype(X.dtype)


class _ColumnScaler:
    """What the scalers share: the scikit-learn parameter API and the fitted checks.

    A subclass lists its constructor arguments in ``_params`` and sets
    ``n_features_in_`` and its statistics in ``fit``; ``_fitted_attribute`` is one of
    them.
    """

    _params = ()
    _fitted_attribute = "scale_"

    def get_params(self, deep=True):
        """Return the constructor arguments as a dict (scikit-learn API)."""
        return {name: getattr(self, name) for name in self._params}

    def set_params(self, **params):
        """Set constructor arguments by name and return ``self``."""
        for key, value in params.items():
            if key not in self._params:
                raise ValueError(f"invalid parameter {key!r} for {type(self).__name__}")
            setattr(self, key, value)
        return self

    def _check_fit_input(self, X):
        X = _as_float_2d(X)
        if X.shape[0] == 0:
            raise ValueError("X has no samples")
        return X

    def _check_fitted(self, X):
        # NotFittedError (a ValueError and an AttributeError; also scikit-learn's once it
        # is imported), as the estimators of deepbio.models raise
        check_is_fitted(self, self._fitted_attribute)
        X = _as_float_2d(X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(self).__name__} was fitted with "
                f"{self.n_features_in_}"
            )
        return X

    def fit_transform(self, X, y=None):
        """``fit(X)`` then ``transform(X)``; shape (n_samples, n_features)."""
        return self.fit(X).transform(X)


class StandardScaler(_ColumnScaler):
    """Standardise features to zero mean and unit variance.

    Learns the per-column mean and (population) standard deviation on
    ``fit``; ``transform`` applies ``(X - mean_) / scale_``. Columns with zero
    variance get ``scale_ = 1`` so they map to 0 (up to the rounding of their
    mean) instead of NaN.

    Parameters
    ----------
    with_mean : bool, default=True
        Subtract the mean.
    with_std : bool, default=True
        Divide by the standard deviation.

    Attributes
    ----------
    mean_ : ndarray of shape (n_features,)
        Column means (zeros if ``with_mean=False``).
    var_ : ndarray of shape (n_features,)
        Column variances (``ddof=0``).
    scale_ : ndarray of shape (n_features,)
        Divisors used by ``transform`` (ones if ``with_std=False``).
    n_features_in_ : int
        Number of columns seen in ``fit``.

    Examples
    --------
    >>> import numpy as np
    >>> from deepbio.datasets import StandardScaler
    >>> scaler = StandardScaler().fit([[0.0, 1.0], [2.0, 1.0]])
    >>> scaler.mean_.tolist(), scaler.scale_.tolist()
    ([1.0, 1.0], [1.0, 1.0])
    >>> scaler.transform([[4.0, 1.0]]).tolist()
    [[3.0, 0.0]]
    """

    _params = ("with_mean", "with_std")

    def __init__(self, with_mean=True, with_std=True):
        self.with_mean = with_mean
        self.with_std = with_std

    def fit(self, X, y=None):
        """Learn column means and scales from ``X`` of shape (n_samples, n_features).

        Returns
        -------
        self : StandardScaler
        """
        X = self._check_fit_input(X)
        mean = X.mean(axis=0)
        self.var_ = X.var(axis=0)
        self.mean_ = mean if self.with_mean else np.zeros_like(mean)
        self.scale_ = (
            _safe_scale(np.sqrt(self.var_), mean) if self.with_std else np.ones_like(mean)
        )
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        """Return ``(X - mean_) / scale_``, shape (n_samples, n_features)."""
        X = self._check_fitted(X)
        return (X - self.mean_.astype(X.dtype)) / self.scale_.astype(X.dtype)

    def inverse_transform(self, Z):
        """Undo ``transform``: ``Z * scale_ + mean_``, shape (n_samples, n_features)."""
        Z = self._check_fitted(Z)
        return Z * self.scale_.astype(Z.dtype) + self.mean_.astype(Z.dtype)


class MinMaxScaler(_ColumnScaler):
    """Scale each feature linearly onto ``feature_range`` (default [0, 1]).

    Learns each column's minimum and maximum on ``fit``; ``transform`` maps them to the
    ends of ``feature_range``: ``X * scale_ + min_``, where ``scale_ = (hi - lo) /
    data_range_`` and ``min_ = lo - data_min_ * scale_`` (scikit-learn's definition).
    Constant columns get ``data_range_ = 1``, so they map to ``lo`` instead of NaN.
    Bernoulli visible units (RBM, DBN) want their inputs in [0, 1].

    Parameters
    ----------
    feature_range : tuple (lo, hi), default=(0.0, 1.0)
        Target range; ``lo < hi``.
    clip : bool, default=False
        Clip transformed values to ``feature_range`` (for data outside the range seen
        at ``fit``, such as a test set).

    Attributes
    ----------
    data_min_, data_max_ : ndarray of shape (n_features,)
        Column minima and maxima seen in ``fit``.
    data_range_ : ndarray of shape (n_features,)
        ``data_max_ - data_min_``, with 1 for constant columns.
    scale_, min_ : ndarray of shape (n_features,)
        The affine map ``transform`` applies.
    n_features_in_ : int
        Number of columns seen in ``fit``.

    Examples
    --------
    >>> from deepbio.datasets import MinMaxScaler
    >>> scaler = MinMaxScaler(clip=True).fit([[0.0, 5.0], [4.0, 5.0]])
    >>> scaler.data_range_.tolist()
    [4.0, 1.0]
    >>> scaler.transform([[1.0, 5.0], [8.0, 5.0]]).tolist()
    [[0.25, 0.0], [1.0, 0.0]]
    """

    _params = ("feature_range", "clip")

    def __init__(self, feature_range=(0.0, 1.0), clip=False):
        self.feature_range = feature_range
        self.clip = clip

    def _range(self):
        try:
            lo, hi = (float(v) for v in self.feature_range)
        except (TypeError, ValueError):
            raise ValueError(f"feature_range must be a pair (lo, hi) of numbers, got "
                             f"{self.feature_range!r}") from None
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            raise ValueError(f"feature_range must be a pair (lo, hi) with finite lo < hi, "
                             f"got {self.feature_range!r}")
        return lo, hi

    def fit(self, X, y=None):
        """Learn column minima and maxima from ``X`` of shape (n_samples, n_features).

        Returns
        -------
        self : MinMaxScaler
        """
        lo, hi = self._range()
        X = self._check_fit_input(X)
        self.data_min_ = X.min(axis=0)
        self.data_max_ = X.max(axis=0)
        mid = (self.data_min_ + self.data_max_) / 2
        self.data_range_ = _safe_scale(self.data_max_ - self.data_min_, mid)
        self.scale_ = (hi - lo) / self.data_range_
        self.min_ = lo - self.data_min_ * self.scale_
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        """Return ``X * scale_ + min_`` (clipped if ``clip``), shape (n_samples, n_features)."""
        X = self._check_fitted(X)
        Z = X * self.scale_.astype(X.dtype) + self.min_.astype(X.dtype)
        if self.clip:
            lo, hi = self._range()
            Z = np.clip(Z, lo, hi)
        return Z

    def inverse_transform(self, Z):
        """Undo ``transform``: ``(Z - min_) / scale_``, shape (n_samples, n_features)."""
        Z = self._check_fitted(Z)
        return (Z - self.min_.astype(Z.dtype)) / self.scale_.astype(Z.dtype)
