"""Checks at the public boundary: arrays and hyper-parameters going into an estimator.

Every check raises ``ValueError`` (``TypeError`` only for a wrong *kind* of
hyper-parameter) with a message that names the argument and the problem, e.g.
``"X contains NaN (first at row 3, column 7)"`` or
``"The 'learning_rate' parameter of RBM must be a float in the range (0, inf); got -1."``.
These functions work on NumPy arrays on the host: they run once per public call,
before any data reaches a backend.

Contents

* :func:`check_array`, :func:`check_X_y`, :func:`check_classification_targets`,
  :func:`check_sample_weight`, :func:`check_n_features`, :func:`check_is_fitted`,
  :func:`check_random_state`; their messages carry scikit-learn's conventional phrases
  too ("Complex data not supported", "Reshape your data", ...; docs/models/defaults.md);
* data frames: :func:`feature_names` and :func:`check_feature_names`
  (``feature_names_in_``; a TypeError for column names of mixed types, as
  scikit-learn), and :class:`DataConversionWarning` for a column-vector ``y``;
* hyper-parameter constraints :class:`Interval`, :class:`Options`, :class:`IntSequence`
  and :func:`validate_parameters`, which reads an estimator's ``_parameter_constraints``;
* single arguments of functions, layers, kernels and schedules: :func:`check_int`,
  :func:`check_int_pair`, :func:`check_real`, :func:`check_choice`,
  :func:`check_float_dtype` (a wrong *kind* of value raises
  :class:`InvalidParameterError`, which is both a ValueError and a TypeError; a value out
  of range a ValueError).

This module imports from deepbio only ``_device`` (layer 0 too), so every layer (kernels
included) may use it.
"""
import importlib
import math
import numbers
import operator
import os
import sys
import warnings

import numpy as np

from ._device import is_device_array, to_host

__all__ = ["NotFittedError", "InvalidParameterError", "DataConversionWarning", "feature_names",
           "check_feature_names", "check_array", "check_X_y",
           "check_classification_targets", "check_sample_weight", "check_n_features",
           "check_is_fitted", "check_random_state", "check_int", "check_int_pair",
           "check_real", "check_choice", "check_float_dtype", "float_dtype_name", "Interval",
           "Options", "IntSequence", "validate_parameters"]


class InvalidParameterError(ValueError, TypeError):
    """An argument of the wrong kind (a float or a string where an int is needed, ...).

    Both a ValueError and a TypeError, as scikit-learn's ``InvalidParameterError``: code
    written for either convention catches it.
    """


class NotFittedError(ValueError, AttributeError):
    """An estimator was used before ``fit`` (a ValueError and an AttributeError, as in sklearn).

    When scikit-learn has been imported, what :func:`check_is_fitted` raises is also an
    instance of ``sklearn.exceptions.NotFittedError`` (see :func:`_not_fitted_error_type`).
    """


# scikit-learn is optional, and ``import sklearn.exceptions`` costs about 0.7 s (it
# imports the whole ``sklearn`` package; ``python -X importtime``, scikit-learn 1.9),
# six times ``import deepbio`` (0.12 s).  So NotFittedError cannot subclass sklearn's
# class at import time.  Instead the class is
# chosen when the error is *raised*: if scikit-learn is loaded by then, a subclass of
# both NotFittedError and sklearn.exceptions.NotFittedError is raised.  Code that writes
# ``except sklearn.exceptions.NotFittedError`` has imported scikit-learn before the
# error happens, so it catches it; ``except NotFittedError`` (deepbio's),
# ``except ValueError`` and ``except AttributeError`` always do.  The trade-off:
# ``issubclass(NotFittedError, sklearn.exceptions.NotFittedError)`` is False, only the
# raised instances are sklearn NotFittedErrors.
_sklearn_not_fitted_error = None


def _not_fitted_error_type():
    """NotFittedError, or its scikit-learn-compatible subclass once sklearn is loaded."""
    global _sklearn_not_fitted_error
    if _sklearn_not_fitted_error is None and "sklearn" in sys.modules:
        try:
            from sklearn.exceptions import NotFittedError as SklearnNotFittedError
        except ImportError:                 # a broken or half-imported scikit-learn
            return NotFittedError

        class _SklearnNotFittedError(NotFittedError, SklearnNotFittedError):
            __doc__ = NotFittedError.__doc__

        _SklearnNotFittedError.__qualname__ = "_SklearnNotFittedError"   # for pickle
        _sklearn_not_fitted_error = _SklearnNotFittedError
    return _sklearn_not_fitted_error or NotFittedError


def __getattr__(name):
    # Module attribute made on demand, so pickle (e.g. joblib workers sending back the
    # error) finds the scikit-learn-compatible class by its name.
    if name == "_SklearnNotFittedError":
        try:
            importlib.import_module("sklearn.exceptions")   # then build the class
        except ImportError:
            raise AttributeError(f"{name} needs scikit-learn, which is not installed") \
                from None
        return _not_fitted_error_type()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class DataConversionWarning(UserWarning):
    """Data were converted to what an estimator needs (a column-vector ``y`` raveled).

    As for :class:`NotFittedError`, when scikit-learn is loaded the warning issued is
    also an instance of ``sklearn.exceptions.DataConversionWarning``, so filters written
    for either class apply (see :func:`_data_conversion_warning_type`).
    """


_sklearn_data_conversion_warning = None


def _data_conversion_warning_type():
    """DataConversionWarning, or its scikit-learn-compatible subclass once sklearn is
    loaded (the same trade-off as :func:`_not_fitted_error_type`)."""
    global _sklearn_data_conversion_warning
    if _sklearn_data_conversion_warning is None and "sklearn" in sys.modules:
        try:
            from sklearn.exceptions import DataConversionWarning as SklearnWarning
        except ImportError:
            return DataConversionWarning

        # the same class name as scikit-learn's: its checks look for it in the text
        class DataConversionWarning_(DataConversionWarning, SklearnWarning):
            __doc__ = DataConversionWarning.__doc__

        DataConversionWarning_.__name__ = "DataConversionWarning"
        DataConversionWarning_.__qualname__ = "_SklearnDataConversionWarning"
        _sklearn_data_conversion_warning = DataConversionWarning_
    return _sklearn_data_conversion_warning or DataConversionWarning


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _user_stacklevel():
    """``stacklevel`` for ``warnings.warn`` called by the caller of this function that
    points at the first frame outside the deepbio package (the user's line)."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    return level


def column_y_to_1d(y):
    """``y`` of shape (n, 1) raveled to (n,), with a :class:`DataConversionWarning`
    (scikit-learn's convention for an estimator that takes one target column)."""
    if getattr(y, "ndim", 0) == 2 and y.shape[1] == 1:
        warnings.warn("A column-vector y was passed when a 1d array was expected. Please "
                      "change the shape of y to (n_samples,), for example using ravel().",
                      _data_conversion_warning_type(), stacklevel=_user_stacklevel())
        return y[:, 0]
    return y


# ------------------------------------------------------------------------------- arrays


def _first_bad(mask):
    """``(row, column)`` of the first True in a boolean array, as a short string."""
    idx = np.argwhere(mask)[0]
    if idx.size == 1:
        return f"at index {int(idx[0])}"
    return f"first at row {int(idx[0])}, column {int(idx[1])}"


def _is_scipy_sparse(a):
    """True for a scipy.sparse matrix or array (without importing SciPy)."""
    sparse = sys.modules.get("scipy.sparse")     # loaded if ``a`` is one of its objects
    return sparse is not None and sparse.issparse(a)


def _to_numeric(a, name, dtype):
    """``a`` as a NumPy array of ``dtype``; ValueError naming ``name`` if non-numeric."""
    if _is_scipy_sparse(a):
        kind = "matrix" if isinstance(a, sys.modules["scipy.sparse"].spmatrix) else "array"
        raise ValueError(f"{name} is a scipy.sparse {kind}; deepbio needs a dense array: "
                         f"use {name}.toarray()")
    if is_device_array(a):
        a = to_host(a)                   # a CuPy array: validate on the host
    try:
        arr = np.asarray(a)
    except Exception as e:               # ragged lists and the like
        raise ValueError(f"{name} could not be converted to an array: {e}") from None
    if arr.dtype.kind == "c":
        raise ValueError(f"{name} must contain real numbers, got complex data (dtype "
                         f"{arr.dtype}). Complex data not supported: pass the real part, "
                         f"the modulus, or both as separate features")
    if arr.dtype.kind in "OUSV":
        try:
            return np.asarray(arr, dtype=dtype if dtype is not None else np.float64)
        except ValueError:
            pass
        except TypeError as e:
            # a Python object that is not a number at all (a dict, None, ...): a wrong
            # kind of value, as NumPy says (both a ValueError and a TypeError)
            raise InvalidParameterError(
                f"{name} must contain real numbers, got dtype {arr.dtype} holding a value "
                f"that is no number ({e}); encode categorical columns as numbers "
                f"first") from None
        raise ValueError(f"{name} must contain real numbers, got non-numeric data "
                         f"(dtype {arr.dtype}); encode categorical columns as numbers first")
    if dtype is not None:
        arr = arr.astype(dtype, copy=False)
    return arr


def feature_names(X):
    """The column names of a data frame ``X`` as a 1-d object array of str, or None.

    A data frame is anything with ``columns`` that is not a NumPy array (pandas; deepbio
    never imports pandas itself).  As scikit-learn: columns that are all strings are
    names; columns with no string (a default ``RangeIndex``) are none; a mix of
    strings and other types is a TypeError (rename the columns to strings).
    """
    if isinstance(X, np.ndarray):
        return None
    columns = getattr(X, "columns", None)
    if columns is None or isinstance(columns, str) or not hasattr(columns, "__len__"):
        return None
    names = np.asarray(list(columns), dtype=object)
    if names.ndim != 1:
        return None
    is_str = np.array([isinstance(c, str) for c in names], dtype=bool)
    if is_str.all() and len(names):
        return names
    if is_str.any():
        kinds = sorted({type(c).__name__ for c in names})
        raise TypeError(f"X's column names must all be strings to be used as feature names, "
                        f"got column names of types {kinds}; convert them all to str "
                        f"(X.columns = X.columns.astype(str))")
    return None


def _list_names(names, limit=5):
    text = "".join(f"- {n}\n" for n in names[:limit])
    return text + ("- ...\n" if len(names) > limit else "")


def check_feature_names(estimator, X, reset):
    """Record (``reset``) or check the column names of a data frame ``X``.

    At fit (``reset=True``): ``estimator.feature_names_in_`` is set to the names of ``X``,
    or deleted when ``X`` has none.  Afterwards: a frame whose names differ from
    ``feature_names_in_`` (other names, or the same in another order) is a ValueError
    naming the first mismatch, with scikit-learn's wording; a frame given to an
    estimator fitted without names, or an array to one fitted with names, gives a
    UserWarning (as scikit-learn), since the columns cannot be matched by name.
    """
    names = feature_names(X)
    who = type(estimator).__name__
    if reset:
        if names is not None:
            estimator.feature_names_in_ = names
        elif hasattr(estimator, "feature_names_in_"):
            del estimator.feature_names_in_
        return
    fitted = getattr(estimator, "feature_names_in_", None)
    if fitted is None and names is None:
        return
    if fitted is None:
        warnings.warn(f"X has feature names, but {who} was fitted without feature names",
                      UserWarning, stacklevel=_user_stacklevel())
        return
    if names is None:
        warnings.warn(f"X does not have valid feature names, but {who} was fitted with "
                      f"feature names", UserWarning, stacklevel=_user_stacklevel())
        return
    if len(names) == len(fitted) and (names == fitted).all():
        return
    first = next((j for j in range(min(len(names), len(fitted))) if names[j] != fitted[j]),
                 min(len(names), len(fitted)))
    if first < min(len(names), len(fitted)):
        where = (f"column {first} of X is {names[first]!r}, but {who} was fitted with "
                 f"{fitted[first]!r} there")
    elif len(names) < len(fitted):
        where = f"X ends after column {first - 1}, but {who} was fitted with {fitted[first]!r} next"
    else:
        where = f"X has an extra column {names[first]!r} at position {first}"
    message = (f"X's columns are not those {who} was fitted with: {where} (first mismatch). "
               f"The feature names should match those that were passed during fit.\n")
    unexpected = sorted(set(names) - set(fitted))
    missing = sorted(set(fitted) - set(names))
    if unexpected:
        message += "Feature names unseen at fit time:\n" + _list_names(unexpected)
    if missing:
        message += "Feature names seen at fit time, yet now missing:\n" + _list_names(missing)
    if not unexpected and not missing:
        message += "Feature names must be in the same order as they were in fit.\n"
    raise ValueError(message)


def check_array(X, name="X", dtype=np.float64, ndim=2, ensure_finite=True, min_samples=1,
                min_features=1):
    """Validate ``X`` and return it as a C-contiguous NumPy array of ``dtype``.

    Parameters
    ----------
    X : array-like
        Data, of ``ndim`` dimensions (``(n_samples, n_features)`` when ``ndim=2``).
    name : str
        How the argument is called in error messages.
    dtype : NumPy dtype or None
        Target dtype; None keeps a numeric dtype as it is.
    ndim : int or tuple of int
        Accepted numbers of dimensions.
    ensure_finite : bool
        Reject NaN and infinity.
    min_samples, min_features : int
        Smallest accepted ``X.shape[0]`` and (for ``ndim >= 2``) ``X.shape[1]``.

    Raises
    ------
    ValueError
        If ``X`` is non-numeric, has the wrong number of dimensions, is empty, or holds
        NaN / infinity; the message names ``name`` and the problem.
    """
    arr = _to_numeric(X, name, dtype)
    ndims = (ndim,) if isinstance(ndim, numbers.Integral) else tuple(ndim)
    if arr.ndim not in ndims:
        hint = ""
        if 2 in ndims and arr.ndim == 1:
            hint = (f". Reshape your data: {name}.reshape(-1, 1) if it has a single "
                    f"feature or {name}.reshape(1, -1) if it is a single sample")
        want = " or ".join(f"{d}-d" for d in ndims)
        raise ValueError(f"{name} must be a {want} array, got a {arr.ndim}-d array of shape "
                         f"{arr.shape}{hint}")
    if arr.shape[0] < min_samples:
        raise ValueError(f"{name} is empty: found {arr.shape[0]} sample(s) "
                         f"(shape={arr.shape}) while a minimum of {min_samples} is "
                         f"required: {name} needs at least {min_samples} row(s)")
    if arr.ndim >= 2 and arr.shape[1] < min_features:
        raise ValueError(f"{name} has {arr.shape[1]} feature(s) (shape={arr.shape}) while a "
                         f"minimum of {min_features} is required: {name} needs at least "
                         f"{min_features} column(s)")
    if ensure_finite and arr.dtype.kind == "f":
        finite = np.isfinite(arr)
        if not finite.all():
            nan = np.isnan(arr)
            if nan.any():
                raise ValueError(f"{name} contains NaN ({_first_bad(nan)}); remove or impute "
                                 f"missing values first")
            raise ValueError(f"{name} contains infinity ({_first_bad(~finite)})")
    return np.ascontiguousarray(arr)


def y_none_message(estimator=None):
    """The error for ``fit(X, None)`` on a supervised estimator (scikit-learn's phrase)."""
    who = type(estimator).__name__ if estimator is not None else "this estimator"
    return (f"y is required: {who} is supervised and requires y to be passed, but the "
            f"target y is None")


def check_X_y(X, y, dtype=np.float64, y_numeric=False, multi_output=False, estimator=None):
    """Validate a pair of data and targets; return ``(X, y)`` as NumPy arrays.

    ``X`` goes through :func:`check_array`.  ``y`` must be 1-d (or 2-d when
    ``multi_output``), have one entry per row of ``X``, and, when ``y_numeric``, be
    finite real numbers (converted to ``dtype``).  Labels for classification may be of any
    type (strings included) and are returned unconverted; a column of labels (n, 1) is
    raveled with a :class:`DataConversionWarning`.  ``estimator`` is named in the error
    for a missing ``y``.
    """
    X = check_array(X, "X", dtype=dtype)
    if y is None:
        raise ValueError(y_none_message(estimator))
    if y_numeric:
        y = check_array(y, "y", dtype=dtype, ndim=(1, 2) if multi_output else 1,
                        min_samples=0)
    else:
        y = column_y_to_1d(np.asarray(y))
        if y.ndim != 1:
            raise ValueError(f"y must be a 1-d array of labels, got shape {y.shape}")
        if y.dtype.kind == "f":
            bad = ~np.isfinite(y)
            if bad.any():
                kind = "NaN" if np.isnan(y).any() else "infinity"
                raise ValueError(f"y contains {kind} ({_first_bad(bad)})")
        if y.dtype.kind == "O" and any(v is None or (isinstance(v, float) and v != v)
                                       for v in y):
            raise ValueError("y contains missing labels (None or NaN)")
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"y has the wrong length: X has {X.shape[0]} samples but y has "
                         f"{y.shape[0]}")
    return X, y


def check_classification_targets(y):
    """Return ``(classes, y_encoded)`` for labels ``y``; ValueError if fewer than 2 classes.

    ``classes`` is ``np.unique(y)`` (sorted); ``y_encoded[i]`` is the index of ``y[i]`` in
    ``classes`` (int64).
    """
    if y.dtype.kind == "f" and not np.all(y == np.round(y)):
        raise ValueError("y must hold class labels for a classifier, got continuous values "
                         f"such as {y[y != np.round(y)][0]!r}; use a regressor instead")
    try:
        classes, encoded = np.unique(y, return_inverse=True)
    except TypeError:
        raise ValueError("y holds labels of mixed types that cannot be sorted") from None
    if classes.shape[0] < 2:
        raise ValueError(f"y contains a single class ({classes[0]!r}); a classifier needs "
                         f"samples of at least 2 classes, got 1 class")
    return classes, encoded.reshape(-1).astype(np.int64)


def check_sample_weight(sample_weight, n_samples):
    """``sample_weight`` as a float64 array of shape (n_samples,), or None if it is None.

    Raises
    ------
    ValueError
        If ``sample_weight`` is not a 1-d array of ``n_samples`` finite, non-negative
        real numbers with a positive sum.
    """
    if sample_weight is None:
        return None
    w = check_array(sample_weight, "sample_weight", ndim=1, min_samples=0)
    if w.shape[0] != n_samples:
        raise ValueError(f"sample_weight has the wrong length: X has {n_samples} samples "
                         f"but sample_weight has {w.shape[0]}")
    if (w < 0).any():
        raise ValueError(f"sample_weight must be non-negative, got {float(w[w < 0][0])!r} "
                         f"({_first_bad(w < 0)})")
    if n_samples and not w.sum() > 0:
        raise ValueError("sample_weight sums to zero: at least one weight must be positive")
    return w


def check_n_features(estimator, X):
    """ValueError if ``X`` has not the number of columns ``estimator`` was fitted with."""
    n = X.shape[1]
    if n != estimator.n_features_in_:
        raise ValueError(f"X has {n} features, but {type(estimator).__name__} is expecting "
                         f"{estimator.n_features_in_} features as input (the number it was "
                         f"fitted with)")


def check_is_fitted(estimator, attribute="n_features_in_"):
    """:class:`NotFittedError` unless ``estimator`` has ``attribute`` (set by ``fit``)."""
    if not hasattr(estimator, attribute):
        error = _not_fitted_error_type()
        raise error(f"This {type(estimator).__name__} instance is not fitted yet; call fit "
                    f"(or partial_fit) before using it")


def check_random_state(random_state, name="random_state"):
    """Resolve ``random_state`` into a :class:`numpy.random.Generator`.

    The one resolver of deepbio: None gives fresh OS entropy, an int >= 0 seeds a new
    generator (``numpy.random.default_rng(seed)``), and a Generator is used as is (and
    advanced).  Legacy ``numpy.random.RandomState`` objects are refused: deepbio uses no
    global or legacy RNG.

    Raises
    ------
    InvalidParameterError
        For any other kind of value (naming ``name``).
    ValueError
        For a negative seed.
    """
    if isinstance(random_state, np.random.Generator):
        return random_state
    if random_state is None:
        return np.random.default_rng()
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state,
                                                                     (bool, np.bool_)):
        if random_state < 0:
            raise ValueError(f"{name} must be None, an int >= 0 (a seed) or a "
                             f"numpy.random.Generator; got the negative seed {random_state}")
        return np.random.default_rng(int(random_state))
    hint = ""
    if isinstance(random_state, np.random.RandomState):
        hint = " (a legacy RandomState is not accepted: pass numpy.random.default_rng(seed))"
    raise InvalidParameterError(f"{name} must be None, an int >= 0 (a seed) or a "
                                f"numpy.random.Generator; got {random_state!r}{hint}")


# ------------------------------------------------------------------- single arguments


def _is_array_with_axes(value):
    """A NumPy (or CuPy) array with at least one axis: never a scalar argument."""
    return getattr(value, "ndim", 0) != 0


def _closed(low_open, high_open):
    return {(False, False): "both", (False, True): "left", (True, False): "right",
            (True, True): "neither"}[(bool(low_open), bool(high_open))]


def _what(kind, low, high, closed="both"):
    """What an argument must be, for a message: "an int", "a float in the range [0, 1)".
    Built only when a check fails."""
    if low is None and high is None:
        return "an int" if kind == "int" else "a finite float"
    return str(Interval(kind, low, high, closed=closed))


def _what_real(low, high, low_open, high_open):
    return _what("real", low, high, _closed(low_open, high_open))


def _kind_error(name, what, value):
    return InvalidParameterError(f"{name} must be {what}; got {type(value).__name__} "
                                 f"{value!r}")


def check_int(name, value, low=None, high=None):
    """``value`` as a Python int in ``[low, high]`` (None: unbounded on that side).

    Accepted: Python and NumPy integers and 0-d integer arrays (anything with a working
    ``__index__``).  Refused as the wrong kind: bools, floats (even ``5.0``), strings,
    arrays with axes.

    Raises
    ------
    InvalidParameterError
        ``value`` is not an integer; e.g. ``"units must be an int in the range [1, inf);
        got float 2.5"``.
    ValueError
        ``value`` is outside the range; e.g. ``"units must be an int in the range
        [1, inf); got 0"``.
    """
    if type(value) is int:                       # the common case, checked first
        v = value
    else:
        if isinstance(value, (bool, np.bool_)) or _is_array_with_axes(value):
            raise _kind_error(name, _what("int", low, high, "both"), value)
        try:
            v = operator.index(value)
        except TypeError:
            raise _kind_error(name, _what("int", low, high, "both"), value) from None
    if (low is not None and v < low) or (high is not None and v > high):
        raise ValueError(f"{name} must be {_what('int', low, high, 'both')}; got {v}")
    return v


def check_int_pair(name, value, low=None, high=None):
    """An int or a pair of ints (each checked by :func:`check_int`) as a tuple of 2 ints.

    ``3`` gives ``(3, 3)``; ``(2, 3)``, ``[2, 3]`` and ``np.array([2, 3])`` give
    ``(2, 3)``.  The elements are named ``name[0]`` and ``name[1]`` in messages.

    Raises
    ------
    ValueError
        A sequence of another length than 2; an element out of range.
    InvalidParameterError
        An element (or ``value`` itself) that is not an integer.
    """
    if _is_array_with_axes(value) and getattr(value, "ndim", 0) == 1:
        value = tuple(value.tolist())
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair of ints; got {value!r}")
        return (check_int(f"{name}[0]", value[0], low, high),
                check_int(f"{name}[1]", value[1], low, high))
    if _is_array_with_axes(value):
        raise ValueError(f"{name} must be an int or a pair of ints; got an array of shape "
                         f"{value.shape}")
    v = check_int(name, value, low, high)
    return (v, v)


def check_real(name, value, low=None, high=None, low_open=False, high_open=False):
    """``value`` as a finite Python float in the interval from ``low`` to ``high``.

    ``low_open`` / ``high_open`` exclude the bound; None means unbounded on that side.
    NaN and infinity are never accepted.  Accepted kinds: Python and NumPy reals (ints
    included) and 0-d real arrays; bools, strings, None and arrays with axes are refused.

    Raises
    ------
    InvalidParameterError
        ``value`` is not a real number; e.g. ``"rate must be a float in the range [0, 1);
        got str '0.5'"``.
    ValueError
        ``value`` is NaN, infinite or outside the interval; e.g. ``"rate must be a float
        in the range [0, 1); got 1.0"``.
    """
    if type(value) is float or type(value) is int:     # the common cases, checked first
        v = float(value)
    else:
        if isinstance(value, (bool, np.bool_)) or _is_array_with_axes(value):
            raise _kind_error(name, _what_real(low, high, low_open, high_open), value)
        if getattr(value, "ndim", None) == 0 and getattr(value, "dtype", None) is not None:
            if value.dtype.kind not in "iuf":
                raise _kind_error(name, _what_real(low, high, low_open, high_open), value)
            value = value.item()                 # a 0-d array
        if not isinstance(value, numbers.Real):
            raise _kind_error(name, _what_real(low, high, low_open, high_open), value)
        v = float(value)
    if not (math.isfinite(v)
            and (low is None or (v > low if low_open else v >= low))
            and (high is None or (v < high if high_open else v <= high))):
        raise ValueError(f"{name} must be {_what_real(low, high, low_open, high_open)}; "
                         f"got {v}")
    return v


def check_choice(name, value, allowed):
    """``value`` if it is one of ``allowed`` (returned as the element of ``allowed``).

    Strings compare by value (a ``numpy.str_`` matches its ``str``); other values by
    type and value, so ``True`` never passes for ``1`` nor ``1.0`` for ``1``.

    Raises
    ------
    ValueError
        e.g. ``"activation must be one of 'relu', 'tanh'; got 'swish'"``.
    """
    for option in allowed:
        if value is option:
            return option
        same_kind = (isinstance(value, str) and isinstance(option, str)) or \
            type(value) is type(option)
        if same_kind:
            try:
                if bool(value == option):
                    return option
            except (TypeError, ValueError):    # arrays and the like
                pass
    options = ", ".join(repr(o) for o in allowed)
    raise ValueError(f"{name} must be one of {options}; got {value!r}")


def check_float_dtype(name, dtype, allowed=None):
    """``dtype`` as a floating-point :class:`numpy.dtype`.

    ``dtype`` is a NumPy dtype, a scalar type (``np.float32``) or a name
    (``"float64"``).  ``allowed`` (names or dtypes, e.g. ``("float32", "float64")``)
    restricts the choice; by default any floating dtype (float16 included) passes.
    None, bools and numbers are refused (``numpy.dtype(None)`` would be float64).

    Raises
    ------
    InvalidParameterError
        e.g. ``"dtype must be one of 'float32', 'float64' (a dtype or its name); got
        'float16'"``.
    """
    if allowed is None:
        what = "a floating-point dtype such as numpy.float32"
    else:
        allowed = tuple(np.dtype(a) for a in allowed)
        what = "one of " + ", ".join(repr(a.name) for a in allowed) + " (a dtype or its name)"
    dt = None
    if dtype is not None and not isinstance(dtype, (bool, numbers.Number, np.bool_)):
        try:
            dt = np.dtype(dtype)
        except (TypeError, ValueError):
            dt = None
    if dt is None or dt.kind != "f" or (allowed is not None and dt not in allowed):
        raise InvalidParameterError(f"{name} must be {what}; got {dtype!r}")
    return dt


# ------------------------------------------------------------------- hyper-parameters


def float_dtype_name(dtype):
    """``"float32"`` or ``"float64"`` for an accepted ``dtype`` hyper-parameter, else None.

    Accepted: those two strings, ``np.float32`` / ``np.float64`` and their
    ``numpy.dtype`` objects.  Any other value (arrays included) gives None without
    raising, so callers can report a clear error.
    """
    if isinstance(dtype, str):
        name = dtype
    elif isinstance(dtype, np.dtype):
        name = dtype.name
    elif dtype is np.float32 or dtype is np.float64:
        name = np.dtype(dtype).name
    else:
        return None
    return name if name in ("float32", "float64") else None



class Interval:
    """Finite numbers of ``kind`` (``"int"`` or ``"real"``) between ``low`` and ``high``.

    ``closed`` is ``"both"``, ``"left"``, ``"right"`` or ``"neither"``; None for a bound
    means unbounded.  ``Interval("real", 0, None, closed="neither")`` is (0, inf):
    infinity itself is never accepted.
    """

    def __init__(self, kind, low, high, closed="both"):
        self.kind, self.low, self.high, self.closed = kind, low, high, closed

    def accepts(self, v):
        if isinstance(v, (bool, np.bool_)):
            return False
        if self.kind == "int" and not isinstance(v, numbers.Integral):
            return False
        if not isinstance(v, numbers.Real):
            return False
        if not isinstance(v, numbers.Integral) and not math.isfinite(v):
            return False                  # NaN and infinity
        lo_ok = self.low is None or (v >= self.low if self.closed in ("both", "left")
                                     else v > self.low)
        hi_ok = self.high is None or (v <= self.high if self.closed in ("both", "right")
                                      else v < self.high)
        return lo_ok and hi_ok

    def __str__(self):
        lo = "-inf" if self.low is None else self.low
        hi = "inf" if self.high is None else self.high
        lb = "[" if self.closed in ("both", "left") and self.low is not None else "("
        rb = "]" if self.closed in ("both", "right") and self.high is not None else ")"
        what = "an int" if self.kind == "int" else "a float"
        return f"{what} in the range {lb}{lo}, {hi}{rb}"


class Options:
    """One of a fixed set of values (strings, usually)."""

    def __init__(self, *values):
        self.values = values

    def accepts(self, v):
        return any(v is o or (type(v) is type(o) and v == o) for o in self.values)

    def __str__(self):
        return "one of " + ", ".join(repr(v) for v in self.values)


class IntSequence:
    """A non-empty list or tuple of ints >= ``low`` (e.g. ``hidden_layer_sizes``)."""

    def __init__(self, low=1, allow_empty=False):
        self.low, self.allow_empty = low, allow_empty

    def accepts(self, v):
        if isinstance(v, numbers.Integral) and not isinstance(v, bool):
            v = (v,)
        if not isinstance(v, (list, tuple)) or (not v and not self.allow_empty):
            return False
        return all(isinstance(x, numbers.Integral) and not isinstance(x, bool)
                   and x >= self.low for x in v)

    def __str__(self):
        empty = "possibly empty " if self.allow_empty else "non-empty "
        return f"an int >= {self.low} or a {empty}list/tuple of ints >= {self.low}"


class _Kind:
    def __init__(self, name, test):
        self.name, self.test = name, test

    def accepts(self, v):
        return self.test(v)

    def __str__(self):
        return self.name


_NAMED = {
    None: _Kind("None", lambda v: v is None),
    "boolean": _Kind("a bool", lambda v: isinstance(v, (bool, np.bool_))),
    "random_state": _Kind("None, an int or a numpy.random.Generator",
                          lambda v: v is None or isinstance(v, np.random.Generator)
                          or (isinstance(v, numbers.Integral) and not isinstance(v, bool))),
    "verbose": _Kind("an int >= 0 or a bool",
                     lambda v: isinstance(v, (bool, np.bool_))
                     or (isinstance(v, numbers.Integral) and v >= 0)),
    "dtype": _Kind("'float32' or 'float64'", lambda v: float_dtype_name(v) is not None),
}


def validate_parameters(estimator):
    """Check every hyper-parameter of ``estimator`` against its ``_parameter_constraints``.

    ``_parameter_constraints`` maps a parameter name to a list of accepted constraints
    (:class:`Interval`, :class:`Options`, :class:`IntSequence`, or one of the names
    ``None``, ``"boolean"``, ``"random_state"``, ``"verbose"``, ``"dtype"``).  The value
    is accepted if any constraint accepts it.

    Raises
    ------
    ValueError
        Naming the parameter, the allowed values and the value received.
    """
    constraints = getattr(type(estimator), "_parameter_constraints", {})
    params = estimator.get_params(deep=False)
    for name, allowed in constraints.items():
        if name not in params:
            continue
        value = params[name]
        checks = [_NAMED[c] if (c is None or isinstance(c, str)) else c for c in allowed]
        if not any(c.accepts(value) for c in checks):
            options = " or ".join(str(c) for c in checks)
            raise ValueError(f"The {name!r} parameter of {type(estimator).__name__} must be "
                             f"{options}; got {value!r}.")
