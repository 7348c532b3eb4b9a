"""deepbio estimators on AnnData objects, in the way scanpy's tools work (extra
``[anndata]``).

Three functions, each a thin layer over an estimator's own ``fit`` / ``transform`` /
``predict``:

- :func:`fit` -- fit an estimator on ``adata.X`` (or a layer), with the labels of one
  ``obs`` column for a classifier or regressor; returns the fitted estimator.
- :func:`embed` -- ``model.transform`` into ``adata.obsm[key_added]`` (e.g. the features
  of a DBN, as ``sc.tl.pca`` writes ``obsm["X_pca"]``).
- :func:`annotate` -- ``model.predict`` into ``adata.obs[key_added]`` (categorical for a
  classifier), with the class probabilities in ``obsm[key_added + "_proba"]``.

``embed`` and ``annotate`` record the model's settings in ``adata.uns[key_added]``
(class name, ``get_params()``, deepbio version, the layer and, for a classifier, its
classes).  They follow scanpy's convention: they change ``adata`` in place and return
None, or with ``copy=True`` leave it untouched and return a changed copy.

The matrix (``X`` or ``layers[layer]``; NumPy, SciPy sparse or backed) is densified in
chunks, in the model's dtype (float32 unless the model's ``dtype`` is float64), by
:func:`deepbio.datasets.anndata.densify`, which logs the bytes needed first.  Gene names
(``var_names``) go to the estimator as the columns of a pandas DataFrame, so an
estimator that records ``feature_names_in_`` learns them; ``embed`` and ``annotate``
check a model's ``feature_names_in_`` (or ``n_features_in_``) against ``var_names``
first, and name the first gene that differs.
"""
import numpy as np

from .. import __version__
from ..datasets.anndata import densify, labels_from_obs, require_anndata

__all__ = ["fit", "embed", "annotate"]


def _check_adata(adata, who):
    ad = require_anndata(f"deepbio.interop.anndata.{who}")
    if not isinstance(adata, ad.AnnData):
        raise TypeError(f"adata must be an anndata.AnnData, got {type(adata).__name__}")
    return adata


def _check_key(name, value):
    if not isinstance(value, str) or not value:
        raise TypeError(f"{name} must be a non-empty str, got {value!r}")
    return value


def _source(adata, layer):
    """``(matrix, what)``: ``adata.X`` or ``adata.layers[layer]``."""
    if layer is None:
        if adata.X is None:
            raise ValueError("adata.X is None; pass layer= one of "
                             f"{list(adata.layers.keys())}")
        return adata.X, "adata.X"
    _check_key("layer", layer)
    if layer not in adata.layers:
        have = ", ".join(repr(k) for k in adata.layers.keys()) or "none"
        raise ValueError(f"layer={layer!r} is not in adata.layers; its layers are: {have}")
    return adata.layers[layer], f"adata.layers[{layer!r}]"


def _dtype(model):
    d = getattr(model, "dtype", None)
    return np.float64 if d in ("float64", np.float64) or (
        isinstance(d, np.dtype) and d == np.float64) else np.float32


def _var_names(adata):
    """The gene names as a list of str, or None when they are not unique (anndata warns
    about those; a DataFrame would then have ambiguous columns)."""
    names = [str(v) for v in adata.var_names]
    return names if len(set(names)) == len(names) else None


def _frame(X, names):
    """``X`` with ``names`` as its columns (no copy), for an estimator that records
    ``feature_names_in_``; ``X`` itself when there are no names."""
    if names is None:
        return X
    import pandas as pd
    return pd.DataFrame(X, columns=names, copy=False)


def _model_input(adata, model, layer, who):
    """The dense matrix for ``model``'s transform / predict, its names checked."""
    fitted = getattr(model, "feature_names_in_", None)
    n_in = getattr(model, "n_features_in_", None)
    if fitted is None and n_in is None:
        raise ValueError(f"{who} needs a fitted model (no n_features_in_ on "
                         f"{type(model).__name__}): fit it first, e.g. with "
                         f"deepbio.interop.anndata.fit")
    names = _var_names(adata)
    if fitted is not None:
        fitted = [str(f) for f in fitted]
        have = [str(v) for v in adata.var_names]
        if have != fitted:
            for i, (a, b) in enumerate(zip(have, fitted)):
                if a != b:
                    raise ValueError(f"adata.var_names differ from the genes the model was "
                                     f"fitted on: position {i} is {a!r}, the model has "
                                     f"{b!r}; subset adata to the model's genes "
                                     f"(adata[:, model.feature_names_in_])")
            raise ValueError(f"adata has {len(have)} genes but the model was fitted on "
                             f"{len(fitted)}")
    elif n_in != adata.n_vars:
        raise ValueError(f"adata has {adata.n_vars} genes (n_vars) but "
                         f"{type(model).__name__} was fitted on {n_in} features")
    M, what = _source(adata, layer)
    X = densify(M, dtype=_dtype(model), what=what)
    return _frame(X, names) if fitted is not None else X


def _uns_value(v, depth=0):
    """``v`` in a form ``write_h5ad`` stores: scalars as they are, tuples as lists,
    anything else (an estimator, an optimiser, a generator) as its repr."""
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, dict) and depth < 4:
        return {str(k): _uns_value(x, depth + 1) for k, x in v.items()}
    if isinstance(v, (list, tuple, np.ndarray)):
        items = list(v)
        if all(isinstance(x, str) for x in items) or all(
                isinstance(x, (int, float, np.integer, np.floating))
                and not isinstance(x, bool) for x in items) or all(
                isinstance(x, (bool, np.bool_)) for x in items):
            return [x.item() if isinstance(x, np.generic) else x for x in items]
    return repr(v)


def _settings(model, layer, **more):
    params = model.get_params(deep=False) if hasattr(model, "get_params") else {}
    out = {"model": type(model).__name__, "params": _uns_value(params),
           "deepbio_version": __version__, "layer": "X" if layer is None else layer}
    out.update({k: _uns_value(v) for k, v in more.items()})
    return out


def fit(adata, estimator, label_key=None, layer=None, dropna=False):
    """Fit ``estimator`` on the cells x genes matrix of ``adata``.

    Parameters
    ----------
    adata : anndata.AnnData
        Not modified.
    estimator : a deepbio estimator (or any with ``fit(X[, y])``)
        Unfitted or fitted: it is fitted again.
    label_key : str, optional
        The ``obs`` column holding the labels, for a classifier or regressor.  A
        categorical column gives its category values as the labels, so the fitted
        classifier's ``classes_`` are the category names.  None: ``fit(X)`` alone (an
        RBM, a DBN, an autoencoder).
    layer : str, optional
        Fit on ``adata.layers[layer]`` instead of ``adata.X``.
    dropna : bool, default=False
        Leave out the cells whose label is missing; else a missing label is a
        ValueError saying how many there are and naming the first cell.

    Returns
    -------
    estimator
        The fitted estimator (``adata`` is left as it was).

    Notes
    -----
    The genes reach ``estimator.fit`` as the columns of a pandas DataFrame (no copy of
    the matrix), so an estimator that records ``feature_names_in_`` learns
    ``adata.var_names``; one that does not sees the plain array.  Non-unique
    ``var_names`` are not passed (call ``adata.var_names_make_unique()`` first).
    """
    _check_adata(adata, "fit")
    if not hasattr(estimator, "fit"):
        raise TypeError(f"estimator must have a fit method, got {type(estimator).__name__}")
    M, what = _source(adata, layer)
    supervised = getattr(estimator, "_estimator_type", None) in ("classifier", "regressor")
    if label_key is None:
        if supervised:
            raise ValueError(f"{type(estimator).__name__} is a "
                             f"{estimator._estimator_type}: pass label_key, the adata.obs "
                             f"column holding the labels")
        X = densify(M, dtype=_dtype(estimator), what=what)
        estimator.fit(_frame(X, _var_names(adata)))
        return estimator
    y, keep, _ = labels_from_obs(adata.obs, label_key, dropna, where="adata.obs")
    rows = None if keep.size == adata.n_obs else keep
    X = densify(M, dtype=_dtype(estimator), rows=rows, what=what)
    estimator.fit(_frame(X, _var_names(adata)), y)
    return estimator


def embed(adata, model, key_added="X_deepbio", layer=None, copy=False):
    """Write ``model.transform`` of the cells into ``adata.obsm[key_added]``.

    Parameters
    ----------
    adata : anndata.AnnData
    model : fitted deepbio transformer (RBM, DBN, AutoEncoder, StackedAutoEncoder, ...)
    key_added : str, default="X_deepbio"
        ``obsm`` key of the features, ``(n_obs, n_features_out)``, and ``uns`` key of
        the settings: ``{"model", "params", "deepbio_version", "layer",
        "n_components"}``.
    layer : str, optional
        Transform ``adata.layers[layer]`` instead of ``adata.X``.
    copy : bool, default=False
        scanpy's convention: False changes ``adata`` in place and returns None; True
        leaves it untouched and returns a changed copy.

    Returns
    -------
    None, or the changed copy of ``adata`` when ``copy=True``.
    """
    _check_adata(adata, "embed")
    _check_key("key_added", key_added)
    if not hasattr(model, "transform"):
        raise TypeError(f"model must have a transform method; {type(model).__name__} has "
                        f"none (use annotate for predictions)")
    Z = np.asarray(model.transform(_model_input(adata, model, layer, "embed")))
    if Z.ndim == 1:
        Z = Z[:, None]
    adata = adata.copy() if copy else adata
    adata.obsm[key_added] = Z
    adata.uns[key_added] = _settings(model, layer, n_components=int(Z.shape[1]))
    return adata if copy else None


def annotate(adata, model, key_added="deepbio_pred", layer=None, copy=False):
    """Write ``model.predict`` of the cells into ``adata.obs[key_added]``.

    Parameters
    ----------
    adata : anndata.AnnData
    model : fitted deepbio classifier or regressor
    key_added : str, default="deepbio_pred"
        ``obs`` column of the predictions: categorical for a classifier, its categories
        the model's ``classes_`` in their order; float for a regressor (one output; a
        multi-output regressor's predictions go to ``obsm[key_added]``).  A classifier
        with ``predict_proba`` also writes ``obsm[key_added + "_proba"]``,
        ``(n_obs, n_classes)``, columns in ``classes_`` order.  ``uns[key_added]``: the
        settings (``{"model", "params", "deepbio_version", "layer"}``, and ``classes``
        for a classifier).
    layer : str, optional
        Predict from ``adata.layers[layer]`` instead of ``adata.X``.
    copy : bool, default=False
        As :func:`embed`: in place and None, or a changed copy returned.

    Returns
    -------
    None, or the changed copy of ``adata`` when ``copy=True``.
    """
    import pandas as pd

    _check_adata(adata, "annotate")
    _check_key("key_added", key_added)
    if not hasattr(model, "predict"):
        raise TypeError(f"model must have a predict method; {type(model).__name__} has "
                        f"none (use embed for features)")
    X = _model_input(adata, model, layer, "annotate")
    pred = np.asarray(model.predict(X))
    classes = getattr(model, "classes_", None)
    proba = None
    if classes is not None and hasattr(model, "predict_proba"):
        proba = np.asarray(model.predict_proba(X))
    adata = adata.copy() if copy else adata
    more = {}
    if classes is not None:
        cats = list(np.asarray(classes).tolist())
        adata.obs[key_added] = pd.Categorical(pred.tolist(), categories=cats)
        more["classes"] = cats
        if proba is not None:
            adata.obsm[f"{key_added}_proba"] = proba
            more["proba_key"] = f"{key_added}_proba"
    elif pred.ndim == 1:
        adata.obs[key_added] = pred
    else:
        adata.obsm[key_added] = pred
    adata.uns[key_added] = _settings(model, layer, **more)
    return adata if copy else None
