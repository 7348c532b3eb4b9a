"""Estimator base class and mixins: the scikit-learn API without a scikit-learn dependency.

* :class:`BaseEstimator`: ``get_params`` / ``set_params`` read from the ``__init__``
  signature (``deep=True`` reaches nested estimators as ``outer__inner``), ``__repr__``
  shows the parameters that differ from their defaults, hyper-parameters are checked on
  entering ``fit`` against the class's ``_parameter_constraints`` table, and
  ``save(path)`` / ``load(path)`` go through :mod:`deepbio.models._persist`.
* :class:`ClassifierMixin` (labels of any type encoded through ``classes_``; ``score`` is
  accuracy), :class:`RegressorMixin` (``score`` is R^2), :class:`TransformerMixin`
  (``fit_transform``, optional concatenation of the raw input to the features; every
  estimator with a ``transform`` method derives from it).

scikit-learn duck-types all of this; ``__sklearn_tags__`` is provided (built lazily,
only when scikit-learn asks) so ``Pipeline``, ``GridSearchCV`` and ``clone`` work.
"""
import functools
import inspect
import sys

import numpy as np

from .. import backend as _backend
from .._device import to_host
from .. import distributed as _dist
from .._validation import (check_array, check_classification_targets, check_feature_names,
                           check_is_fitted, check_n_features, check_random_state,
                           check_sample_weight, check_X_y, float_dtype_name,
                           validate_parameters)


#: The public methods that run on the backend's device; on a GPU backend each turns the
#: device running out of memory into a ``deepbio.DeviceMemoryError`` (bytes asked for,
#: bytes free), see :meth:`deepbio.backend.Backend.device_errors`.
DEVICE_METHODS = ("fit", "partial_fit", "predict", "predict_proba", "predict_log_proba",
                  "transform", "fit_transform", "inverse_transform", "reconstruct", "score",
                  "score_samples", "gibbs")


def _with_device_errors(method):
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except MemoryError as e:
            err = current_backend().out_of_memory(e)
            if err is None:
                raise
            raise err from e
    wrapper._device_errors = True
    return wrapper


def _with_abort(method):
    """``method`` (fit, partial_fit) inside :func:`deepbio.distributed.abort_on_error`
    of the estimator's ``comm``: an error on one rank ends every rank."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with _dist.abort_on_error(getattr(self, "comm", None)):
            return method(self, *args, **kwargs)
    wrapper._abort = True
    return wrapper


def global_classification_targets(y, comm):
    """``check_classification_targets(y)`` with a communicator: ``classes_`` is the union
    of every rank's labels (one small allgather per fit), so every rank one-hot encodes
    alike even when its shard misses a class."""
    if not _dist.is_distributed(comm):
        return check_classification_targets(y)
    y = np.asarray(y)
    labels = np.concatenate(comm.allgather(np.unique(y)))
    classes, _ = check_classification_targets(labels)
    return classes, np.searchsorted(classes, y).astype(np.int64)


def _with_set_output(method):
    @functools.wraps(method)
    def wrapper(self, X, *args, **kwargs):
        out = method(self, X, *args, **kwargs)
        return self._wrap_output(out, X)
    wrapper._set_output = True
    return wrapper


class BaseEstimator:
    """Base class of every deepbio estimator.

    ``__init__`` of a subclass only stores its arguments under the same names; learnt
    attributes end in ``_`` and are set by ``fit``.  The public methods of
    :data:`DEVICE_METHODS` a subclass defines report a GPU running out of memory as a
    ``deepbio.DeviceMemoryError`` (wrapped once, here, for every estimator).
    """

    _parameter_constraints = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in DEVICE_METHODS:
            method = cls.__dict__.get(name)
            if callable(method) and not getattr(method, "_device_errors", False):
                setattr(cls, name, _with_device_errors(method))
        for name in ("fit", "partial_fit"):
            method = cls.__dict__.get(name)
            if callable(method) and not getattr(method, "_abort", False):
                setattr(cls, name, _with_abort(method))
        # transform's output as set_output asks (pandas), for every transformer
        for name in ("transform", "fit_transform"):
            method = cls.__dict__.get(name)
            if callable(method) and not getattr(method, "_set_output", False):
                setattr(cls, name, _with_set_output(method))

    # ------------------------------------------------------------------ parameters
    @classmethod
    def _param_names(cls):
        sig = inspect.signature(cls.__init__)
        names = []
        for p in sig.parameters.values():
            if p.name == "self":
                continue
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise RuntimeError(f"{cls.__name__}.__init__ must not take *args/**kwargs")
            names.append(p.name)
        return sorted(names)

    def get_params(self, deep=True):
        """Hyper-parameters of this estimator as a dict ``{name: value}``.

        With ``deep=True`` the parameters of nested estimators are included too, as
        ``"<name>__<inner name>"``.
        """
        out = {}
        for name in self._param_names():
            value = getattr(self, name)
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                out.update((f"{name}__{k}", v) for k, v in value.get_params().items())
            out[name] = value
        return out

    def set_params(self, **params):
        """Set hyper-parameters by name (``inner__name`` for nested estimators); returns self."""
        if not params:
            return self
        valid = self.get_params(deep=True)
        nested = {}
        for key, value in params.items():
            name, sep, sub = key.partition("__")
            if name not in valid:
                raise ValueError(f"Invalid parameter {name!r} for estimator "
                                 f"{type(self).__name__}. Valid parameters are: "
                                 f"{sorted(self._param_names())}.")
            if sep:
                nested.setdefault(name, {})[sub] = value
            else:
                setattr(self, name, value)
                valid[name] = value
        for name, sub in nested.items():
            valid[name].set_params(**sub)
        return self

    def _validate_params(self):
        """Check hyper-parameters against ``_parameter_constraints`` (called by ``fit``)."""
        validate_parameters(self)

    def __repr__(self):
        defaults = {p.name: p.default
                    for p in inspect.signature(type(self).__init__).parameters.values()}
        shown = []
        for name in self._param_names():
            value = getattr(self, name, None)
            default = defaults.get(name, inspect.Parameter.empty)
            try:
                same = value is default or (type(value) is type(default) and value == default)
                same = bool(same)
            except Exception:
                same = False
            if not same:
                shown.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"

    # ------------------------------------------------------------------ files
    def save(self, path, metadata=None):
        """Save this estimator to ``path`` (safetensors + JSON); see :func:`deepbio.save`."""
        # _persist (the models' file format) imports this module, so it is imported
        # here, when a file is written, not at the top
        from ._persist import save
        save(self, path, metadata=metadata)
        return path

    @classmethod
    def load(cls, path):
        """Load an estimator saved by :meth:`save`; it must be an instance of ``cls``."""
        from ._persist import load
        model = load(path)
        if not isinstance(model, cls):
            raise ValueError(f"{path!s} holds a {type(model).__name__}, not a {cls.__name__}")
        return model

    # ------------------------------------------------------------------ scikit-learn
    _estimator_type = None

    #: Per-sample input rank of ``X``: 2 for tables (n_samples, n_features); the CNN
    #: and RNN estimators take 3-d sequences or 4-d images (their tags say so).
    _input_ndim = 2

    def _requires_positive_X(self):
        """Whether this configuration needs X >= 0 (scikit-learn's ``positive_only``):
        Bernoulli visible units and the cross-entropy reconstruction take X in [0, 1]."""
        pretrains = getattr(self, "pretrain_epochs", 1) != 0
        return ((getattr(self, "visible", None) == "bernoulli" and pretrains)
                or getattr(self, "loss", None) == "cross_entropy")

    def __sklearn_tags__(self):
        from sklearn.utils import (ClassifierTags, InputTags, RegressorTags, Tags,
                                   TargetTags, TransformerTags)
        kind = self._estimator_type
        transformer_tags = None
        if hasattr(self, "transform"):
            # transform returns features of the estimator's own dtype whatever the input's
            # (float32 by default), so only that dtype is preserved
            dtype = float_dtype_name(getattr(self, "dtype", "float64"))
            transformer_tags = TransformerTags(preserves_dtype=[dtype] if dtype else [])
        # what X may be: dense real numbers, no NaN, no sparse matrix, no strings; tables
        # for most estimators, sequences / images for the CNN and RNN ones
        input_tags = InputTags(two_d_array=self._input_ndim == 2,
                               three_d_array=self._input_ndim == 3, sparse=False,
                               allow_nan=False, positive_only=self._requires_positive_X())
        target_tags = TargetTags(required=kind is not None,
                                 multi_output=kind == "regressor",
                                 single_output=True)
        tags = Tags(estimator_type=kind, target_tags=target_tags,
                    transformer_tags=transformer_tags, input_tags=input_tags,
                    classifier_tags=ClassifierTags() if kind == "classifier" else None,
                    regressor_tags=RegressorTags() if kind == "regressor" else None)
        tags.non_deterministic = False
        return tags

    # ------------------------------------------------------------------ helpers
    def _check_fitted(self):
        check_is_fitted(self, "n_features_in_")

    def _check_feature_names(self, X, reset):
        """Record (``reset``, at fit) or check the column names of a data frame ``X``
        (``feature_names_in_``; see :func:`deepbio._validation.check_feature_names`)."""
        check_feature_names(self, X, reset)

    def _check_X(self, X, reset=False, name="X"):
        """Validate ``X`` (2-d, finite, numeric, non-empty) and convert it once to the
        estimator's ``dtype`` (float64 if it has none); at predict time check features."""
        # an invalid dtype is reported by _validate_params; float64 meanwhile
        dtype = float_dtype_name(getattr(self, "dtype", "float64")) or "float64"
        self._check_feature_names(X, reset)
        X = check_array(X, name, dtype=np.dtype(dtype))
        if reset:
            self.n_features_in_ = X.shape[1]
        else:
            self._check_fitted()
            check_n_features(self, X)
        return X


class ClassifierMixin:
    """Classifier API: ``classes_`` from any labels, ``predict`` from ``predict_proba``.

    Subclasses implement ``predict_proba(X) -> (N, n_classes)``.
    """

    _estimator_type = "classifier"

    def _encode_labels(self, X, y):
        X, y = check_X_y(X, y, estimator=self)
        self.classes_, y_enc = global_classification_targets(y, getattr(self, "comm", None))
        return X, y_enc

    def _encode_known_labels(self, y):
        """Indices of ``y`` in ``classes_`` (for partial_fit); ValueError on an unknown label."""
        idx = np.searchsorted(self.classes_, y)
        idx = np.clip(idx, 0, len(self.classes_) - 1)
        bad = self.classes_[idx] != y
        if np.any(bad):
            raise ValueError(f"y contains label {y[bad][0]!r} not seen in the first call to fit "
                             f"/ partial_fit (classes_ = {self.classes_.tolist()})")
        return idx.astype(np.int64)

    def _partial_fit_labels(self, y, classes, first):
        """Encoded ``y`` for ``partial_fit`` (``y`` already checked as 1-d labels).

        The ``first`` call fixes ``classes_``: ``np.unique(classes)``, or the labels of
        ``y`` when ``classes`` is None.  Later calls accept ``classes`` only if it is
        the same set (ValueError otherwise, as scikit-learn), and labels in ``classes_``.
        """
        if classes is not None:
            classes = np.unique(np.asarray(classes))
        if not first:
            if classes is not None and not (classes.shape == self.classes_.shape
                                            and np.all(classes == self.classes_)):
                raise ValueError(f"classes={classes.tolist()} is not the same as on the "
                                 f"first call to fit / partial_fit (classes_ = "
                                 f"{self.classes_.tolist()}); call fit to start again with "
                                 f"other classes")
            return self._encode_known_labels(y)
        if classes is None:
            self.classes_, y_enc = check_classification_targets(y)
            return y_enc
        if len(classes) < 2:
            raise ValueError(f"classes must hold at least 2 labels, got {classes.tolist()}")
        self.classes_ = classes
        try:
            return self._encode_known_labels(y)
        except ValueError:
            del self.classes_                   # leave the estimator as it was
            raise

    def predict(self, X):
        """Most probable class of every sample: array of shape (n_samples,) of ``classes_``."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`, shape (n_samples, n_classes)."""
        return np.log(np.clip(self.predict_proba(X), 1e-300, None))

    def score(self, X, y, sample_weight=None):
        """Mean accuracy of ``predict(X)`` against ``y`` (weighted by ``sample_weight``)."""
        pred = self.predict(X)
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1:
            raise ValueError(f"y must be a 1-d array of labels, got shape {y.shape}")
        if pred.shape[0] != y.shape[0]:
            raise ValueError(f"y has the wrong length: X has {pred.shape[0]} samples but y "
                             f"has {y.shape[0]}")
        w = check_sample_weight(sample_weight, y.shape[0])
        return float(np.average(pred == y, weights=w))


class RegressorMixin:
    """Regressor API: ``score`` is the coefficient of determination R^2."""

    _estimator_type = "regressor"

    def score(self, X, y, sample_weight=None):
        """R^2 = 1 - sum (y - y_hat)^2 / sum (y - mean y)^2 (averaged over outputs)."""
        pred = self.predict(X)
        y = check_array(y, "y", ndim=(1, 2))
        return r2_score(y, pred, sample_weight)


class TransformerMixin:
    """Transformer API: ``fit_transform``; ``include_input`` appends raw X to the features;
    ``get_feature_names_out`` and ``set_output(transform="pandas")`` as scikit-learn.

    Subclasses give the number of features they output with ``_n_features_out()``.
    """

    def fit_transform(self, X, y=None, **fit_params):
        """``fit(X, y)`` then ``transform(X)``."""
        if y is None:
            return self.fit(X, **fit_params).transform(X)
        return self.fit(X, y, **fit_params).transform(X)

    # ------------------------------------------------------------ names and frames
    def _n_features_out(self):
        """How many learnt features ``transform`` gives (before ``include_input``)."""
        raise NotImplementedError

    def get_feature_names_out(self, input_features=None):
        """Names of the columns ``transform`` returns, as a 1-d object array of str.

        The learnt features are ``<class name in lower case><i>``: ``rbm0``, ``rbm1``,
        ... for an RBM, ``autoencoder0``, ... (scikit-learn's convention for features
        that are not input columns).  With ``include_input=True`` the input columns
        follow, named ``input_features``, else ``feature_names_in_``, else ``x0``,
        ``x1``, ...

        Parameters
        ----------
        input_features : sequence of str, optional
            Names of the input columns: one per feature, and equal to
            ``feature_names_in_`` when the model was fitted on a data frame.
        """
        self._check_fitted()
        n_in = self.n_features_in_
        fitted = getattr(self, "feature_names_in_", None)
        if input_features is not None:
            input_features = np.asarray(input_features, dtype=object)
            if input_features.ndim != 1 or len(input_features) != n_in:
                raise ValueError(f"input_features should have length equal to number of "
                                 f"features ({n_in}), got {len(input_features)}")
            if fitted is not None and not np.array_equal(input_features, fitted):
                raise ValueError("input_features is not equal to feature_names_in_")
        elif fitted is not None:
            input_features = fitted
        else:
            input_features = np.asarray([f"x{j}" for j in range(n_in)], dtype=object)
        prefix = type(self).__name__.lower()
        names = [f"{prefix}{i}" for i in range(self._n_features_out())]
        if getattr(self, "include_input", False):
            names += [str(s) for s in input_features]
        return np.asarray(names, dtype=object)

    def set_output(self, *, transform=None):
        """Choose the container of ``transform`` / ``fit_transform``'s output.

        ``transform="pandas"``: a ``pandas.DataFrame`` with the columns of
        :meth:`get_feature_names_out` (and the index of ``X`` when ``X`` is a frame);
        ``"default"``: NumPy arrays; None: leave it as it is.  As scikit-learn's
        ``set_output`` (a ``Pipeline`` calls it on its steps; scikit-learn's global
        ``set_config(transform_output="pandas")`` applies when no choice is made here).
        pandas is optional: needed only when a frame is made.  Returns self.
        """
        if transform is None:
            return self
        if not (isinstance(transform, str) and transform in ("default", "pandas")):
            raise ValueError(f"transform must be 'default', 'pandas' or None, got "
                             f"{transform!r}")
        # scikit-learn's attribute name: its clone() copies it to the clone
        self._sklearn_output_config = dict(getattr(self, "_sklearn_output_config", {}),
                                           transform=transform)
        return self

    def _output_container(self):
        chosen = getattr(self, "_sklearn_output_config", {}).get("transform")
        if chosen is None:
            sklearn = sys.modules.get("sklearn")       # its global choice, if it is loaded
            chosen = sklearn.get_config().get("transform_output", "default") \
                if sklearn is not None and hasattr(sklearn, "get_config") else "default"
        return chosen

    def _wrap_output(self, out, X):
        """``out`` (what transform returned) as a frame when set_output asks for one."""
        if self._output_container() != "pandas" or not isinstance(out, np.ndarray):
            return out
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("set_output(transform='pandas') needs pandas, which is not "
                              "installed: pip install 'deepbio[pandas]' (or pandas)") from None
        index = getattr(X, "index", None) if isinstance(X, pd.DataFrame) else None
        return pd.DataFrame(out, columns=self.get_feature_names_out(), index=index,
                            copy=False)

    def _with_input(self, features, X):
        """``[features, X]`` side by side when the estimator's ``include_input`` is True."""
        if getattr(self, "include_input", False):
            return np.hstack([features, np.asarray(X, dtype=features.dtype)])
        return features


def r2_score(y, pred, sample_weight=None):
    """Coefficient of determination, averaged uniformly over outputs (as scikit-learn).

    ``y`` and ``pred`` are (n_samples,) or (n_samples, n_outputs); ValueError if their
    lengths or numbers of outputs differ, or if ``sample_weight`` is invalid.
    """
    y = np.asarray(y, dtype=np.float64)
    pred = np.asarray(pred, dtype=np.float64)
    if y.shape[0] != pred.shape[0]:
        raise ValueError(f"y has the wrong length: X has {pred.shape[0]} samples but y has "
                         f"{y.shape[0]}")
    y, pred = y.reshape(len(y), -1), pred.reshape(len(pred), -1)
    if y.shape[1] != pred.shape[1]:
        raise ValueError(f"y has {y.shape[1]} output(s), but the model predicts "
                         f"{pred.shape[1]}")
    w = check_sample_weight(sample_weight, y.shape[0])
    if w is None:
        w = np.ones(y.shape[0])
    mean = np.average(y, axis=0, weights=w)
    ss_res = (w[:, None] * (y - pred) ** 2).sum(axis=0)
    ss_tot = (w[:, None] * (y - mean) ** 2).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(ss_tot > 0, 1 - ss_res / np.where(ss_tot > 0, ss_tot, 1),
                      np.where(ss_res > 0, 0.0, 1.0))
    return float(r2.mean())


# ---------------------------------------------------------------------- backend glue


def to_backend(be, a, dtype=None):
    """Array ``a`` (NumPy or another backend's) as an array of backend ``be``."""
    if a is None:
        return None
    if not isinstance(a, be.array_type):
        a = to_host(a)
    return be.asarray(a, dtype=dtype)


def current_backend():
    """The active backend (models look it up once per public call)."""
    return _backend.current()


def resolve_rng(random_state):
    """``random_state`` (None, int or Generator) as a ``numpy.random.Generator``."""
    return check_random_state(random_state)


