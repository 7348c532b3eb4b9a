"""Model files of the estimators: how an estimator is encoded into the container of
:mod:`deepbio.io` and decoded from it, which classes may be built (:data:`REGISTRY`),
which optimisers (:data:`OPTIMIZERS`), and the file schema of every estimator class.

* :func:`save` / :func:`load` (also ``deepbio.save`` / ``deepbio.load``,
  ``Estimator.save`` / ``Estimator.load``);
* :data:`REGISTRY` and :func:`register`: the classes a file may name;
* the schemas (:data:`SCHEMAS`): for each class, the fitted attributes a file holds and
  every tensor's name, dtype and shape as a function of the estimator's parameters and
  fitted sizes, e.g. ``coefs_.0 : (n_features_in_, hidden_layer_sizes[0])`` of the
  model's ``dtype``.

The document (the JSON in the container) is::

    {"format_version": 2, "deepbio_version": "0.1.0",
     "model": {"class": "DBNClassifier",              # a REGISTRY name
               "params": {...},                       # get_params(deep=False)
               "attributes": {...}},                  # fitted attributes (ending in _)
     "metadata": {...}}                               # optional user metadata

Inside ``params`` and ``attributes`` a value is a JSON scalar or list, or one of the
tagged objects ``{"__tensor__": name, "dtype": "float32"}`` (an array stored as the tensor
``name``, which is the value's path: ``coefs_.0``, ``rbms_.1/W_``; the dtype, which the
tensor table must repeat, is new in format version 2), ``{"__array__": [...], "dtype": "str"}``
(labels that are not numbers; ``"object"`` for mixed ones), ``{"__tuple__": [...]}``,
``{"__dict__": {...}}``, ``{"__float__": "nan"}``, ``{"__estimator__": {...}}`` (a nested
model, same layout as ``model``) and ``{"__optimizer__": {"class": ..., "params": ...}}``.

What :func:`load` checks, after :func:`deepbio.io.read_container` has checked the
container (structure, digest): the class is in :data:`REGISTRY`; every parameter is one
the class declares, and the set of them passes the class's ``_validate_params`` (the
check ``fit`` makes: ranges, options, types), optimiser objects their own; every
attribute is one the class's schema declares, every fitted attribute is there and of
the right kind; every tensor is referenced once, from its own path, and has the dtype
and shape the schema gives (missing, extra, wrong dtype, wrong shape: a ValueError
naming the tensor, what was expected and what was found); weights are finite, labels
sorted and distinct, target scales positive, a tied autoencoder's decoder the transpose
of its encoder, a CNN's / RNN's layers exactly those its parameters build; nested
models (a DBN's ``rbms_``, a stacked autoencoder's ``autoencoders_``) are checked alike
and must chain (sizes, dtype).  :func:`save` runs the same checks on what it is about
to write, so it never writes a file that :func:`load` would refuse.

Loading never unpickles and never runs code from the file: classes are built through
their constructors (which only store their arguments), and only declared attributes
are set.  Private training state (optimiser velocities, persistent chains, random
generators) is not saved: a loaded model predicts identically, and further
``partial_fit`` calls restart momentum from zero.
"""
import json
import math
import sys
from typing import Callable, NamedTuple

import numpy as np

from .. import io as _io
from .._device import to_host
from .._kernels.reference import out_size
from .._validation import float_dtype_name
from ..optim import SGD, Adam, AdamW, HessianFree, RMSprop
from ._base import BaseEstimator, ClassifierMixin, RegressorMixin
from .autoencoder import (AutoEncoder, StackedAutoEncoder, StackedAutoEncoderClassifier,
                          StackedAutoEncoderRegressor)
from .cnn import CNNClassifier, CNNRegressor
from .dbm import DBM, DBMClassifier
from .spn import LEAF, PRODUCT, SUM, SPN
from .isa import ISA, StackedISA
from .conv_rbm import ConvDBN, ConvRBM
from .gsn import GSN
from .dbn import DBN, DBNClassifier, DBNRegressor
from .mlp import MLPClassifier, MLPRegressor
from .rbm import RBM
from .rnn import RNNClassifier, RNNRegressor, RNNTagger

__all__ = ["save", "load", "register", "REGISTRY", "OPTIMIZERS", "SCHEMAS", "Schema",
           "TensorSpec"]

#: Estimator classes that :func:`load` may construct, by class name (filled by
#: ``deepbio.models`` with every public estimator; :func:`register` adds more).
REGISTRY = {}

#: Optimiser classes a model file may name as an ``optimizer`` parameter.
OPTIMIZERS = {"SGD": SGD, "Adam": Adam, "AdamW": AdamW, "RMSprop": RMSprop,
              "HessianFree": HessianFree}

#: Deepest nesting of lists / tagged values accepted in a document.
MAX_DEPTH = 32

_DOCUMENT_KEYS = {"format_version", "deepbio_version", "model", "metadata"}
_NUMERIC = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
            "float16", "float32", "float64")


def _deepbio_version():
    # deepbio/__init__.py (the top layer) sets __version__ before it imports the models;
    # read it from there at call time instead of importing upwards.
    return str(getattr(sys.modules.get("deepbio"), "__version__", "unknown"))


# --------------------------------------------------------------------------- schemas


class TensorSpec(NamedTuple):
    """One tensor of a file layout."""

    name: str             #: its path relative to the estimator: "W_", "coefs_.0", "params_.3"
    dtypes: tuple         #: the NumPy dtype names allowed
    shape: tuple          #: expected shape; None entries match any size
    why: str              #: the shape as a formula of the estimator, for messages
    dtype_why: str = ""   #: where the dtype comes from, for messages


class Schema(NamedTuple):
    """The file layout of an estimator class.

    ``fitted``: attributes a fitted model (one with ``n_features_in_``) holds, all of
    them; ``optional``: attributes it may hold; ``weights``: those only a fitted model
    may hold (an unfitted one, e.g. after a diverged ``partial_fit``, keeps at most its
    training record); ``tensors(est, fitted, stored)`` -> list of :class:`TensorSpec`
    (``stored(name)`` tells whether attribute path ``name`` is a tensor in the file);
    ``check(est, fitted)``: cross-field checks, raising ValueError.
    """

    fitted: frozenset
    optional: frozenset
    weights: frozenset
    tensors: Callable
    check: Callable = None


def _weights_dtype(est):
    name = float_dtype_name(est.dtype)
    return (name,), f" (the model's dtype={est.dtype!r})"


def _sizes(v):
    if isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)):
        return (int(v),)
    return tuple(int(s) for s in v)


def _label_specs(est, stored):
    """classes_ when it is a tensor (numeric labels; strings are a JSON ``__array__``)."""
    if stored("classes_"):
        return [TensorSpec("classes_", _NUMERIC, (None,), "(n_classes,)",
                           " (numeric labels, as given to fit)")]
    return []


def _target_specs(est, stored):
    n = getattr(est, "n_outputs_", None)
    specs = []
    for name in ("y_mean_", "y_scale_"):
        if stored(name) or n is not None:
            specs.append(TensorSpec(name, ("float64",), (n,), "(n_outputs_,)",
                                    " (the target standardisation is float64)"))
    return specs


def _head(est, stored):
    """Label tensors of a classifier, target-scaling tensors of a regressor."""
    if isinstance(est, ClassifierMixin):
        return _label_specs(est, stored)
    if isinstance(est, RegressorMixin):
        return _target_specs(est, stored)
    return []


def _n_out(est):
    """Width of the output layer and how it is named in messages."""
    if isinstance(est, ClassifierMixin):
        return len(est.classes_), "len(classes_)"
    return est.n_outputs_, "n_outputs_"


# -- RBM, DBN


def _rbm_tensors(est, fitted, stored):
    if not fitted:
        return []
    w, why = _weights_dtype(est)
    d, h = est.n_features_in_, est.n_components
    return [TensorSpec("W_", w, (d, h), "(n_features_in_, n_components)", why),
            TensorSpec("intercept_visible_", w, (d,), "(n_features_in_,)", why),
            TensorSpec("intercept_hidden_", w, (h,), "(n_components,)", why)]


def _check_rbm(est, fitted):
    if fitted:
        _check_finite(est, "W_", "intercept_visible_", "intercept_hidden_")


def _check_stack(est, attr, cls, sizes, size_name, first_params):
    """Nested models ``est.<attr>``: instances of ``cls``, fitted, one per entry of
    ``sizes`` (their ``size_name``), chained (each one's input is the previous one's
    output), of the outer dtype, with the parameters ``first_params`` for the first."""
    stack = getattr(est, attr)
    if not isinstance(stack, list) or len(stack) != len(sizes) \
            or not all(type(m) is cls for m in stack):
        raise ValueError(f"{attr} must be a list of {len(sizes)} {cls.__name__} (one per "
                         f"entry of hidden_layer_sizes={tuple(sizes)}), found "
                         f"{_describe(stack)}")
    n_in = est.n_features_in_
    for i, (m, size) in enumerate(zip(stack, sizes)):
        where = f"{attr}[{i}]"
        if not hasattr(m, "n_features_in_"):
            raise ValueError(f"{where} is not fitted")
        if getattr(m, size_name) != size:
            raise ValueError(f"{where}.{size_name} is {getattr(m, size_name)!r}, expected "
                             f"hidden_layer_sizes[{i}] = {size}")
        if m.n_features_in_ != n_in:
            raise ValueError(f"{where}.n_features_in_ is {m.n_features_in_}, expected {n_in} "
                             f"(" + ("the model's n_features_in_" if i == 0 else
                                     f"hidden_layer_sizes[{i - 1}]") + ")")
        if float_dtype_name(m.dtype) != float_dtype_name(est.dtype):
            raise ValueError(f"{where}.dtype is {m.dtype!r}, expected the model's "
                             f"dtype={est.dtype!r}")
        for name, value in (first_params(i) or {}).items():
            if getattr(m, name) != value:
                raise ValueError(f"{where}.{name} is {getattr(m, name)!r}, expected {value!r}")
        n_in = size


def _check_dbn(est, fitted):
    if fitted:
        _check_stack(est, "rbms_", RBM, _sizes(est.hidden_layer_sizes), "n_components",
                     lambda i: {"visible": est.visible if i == 0 else "bernoulli"})


# -- DBM


def _dbm_units(est):
    return [est.n_features_in_, *_sizes(est.hidden_layer_sizes)]


def _dbm_tensors(est, fitted, stored):
    if not fitted:
        return []
    w, why = _weights_dtype(est)
    units = _dbm_units(est)
    names = ["n_features_in_", *(f"hidden_layer_sizes[{i}]" for i in range(len(units) - 1))]
    specs = [TensorSpec(f"coefs_.{i}", w, (units[i], units[i + 1]),
                        f"({names[i]}, {names[i + 1]})", why) for i in range(len(units) - 1)]
    specs += [TensorSpec(f"intercepts_.{i}", w, (units[i],), f"({names[i]},)", why)
              for i in range(len(units))]
    return specs


def _check_dbm(est, fitted):
    if fitted:
        if len(est.coefs_) not in (2, 3):
            raise ValueError(f"a DBM has 2 or 3 hidden layers, found {len(est.coefs_)}")
        _check_finite(est, "coefs_", "intercepts_")


def _dbm_classifier_tensors(est, fitted, stored):
    specs = _head(est, stored)
    if not fitted:
        return specs
    w, why = _weights_dtype(est)
    hidden = _sizes(est.hidden_layer_sizes)
    n_out, out_name = _n_out(est)
    sizes = [est.n_features_in_ + hidden[1], *hidden, n_out]
    names = ["n_features_in_ + hidden_layer_sizes[1]",
             *(f"hidden_layer_sizes[{i}]" for i in range(len(hidden))), out_name]
    for i in range(len(sizes) - 1):
        specs.append(TensorSpec(f"coefs_.{i}", w, (sizes[i], sizes[i + 1]),
                                f"({names[i]}, {names[i + 1]})", why))
    for i in range(len(sizes) - 1):
        specs.append(TensorSpec(f"intercepts_.{i}", w, (sizes[i + 1],), f"({names[i + 1]},)",
                                why))
    return specs


def _check_dbm_classifier(est, fitted):
    _check_head(est)
    if fitted:
        _check_finite(est, "coefs_", "intercepts_")
        dbm = est.dbm_
        if not hasattr(dbm, "n_features_in_") or dbm.n_features_in_ != est.n_features_in_ \
                or _sizes(dbm.hidden_layer_sizes) != _sizes(est.hidden_layer_sizes) \
                or float_dtype_name(dbm.dtype) != float_dtype_name(est.dtype) \
                or dbm.visible != est.visible:
            raise ValueError(f"dbm_ must be a fitted DBM with the classifier's "
                             f"n_features_in_={est.n_features_in_}, hidden_layer_sizes="
                             f"{est.hidden_layer_sizes!r}, visible={est.visible!r} and "
                             f"dtype={est.dtype!r}")


# -- ISA, StackedISA


def _isa_tensors(est, fitted, stored):
    if not fitted:
        return []
    d = est.n_features_in_
    r = est.whitening_.shape[0] if isinstance(est.whitening_, np.ndarray) else None
    k = est.n_subspaces_ * est.subspace_size_
    f = ("float64",)
    return [TensorSpec("mean_", f, (d,), "(n_features_in_,)"),
            TensorSpec("whitening_", f, (r, d), "(n_whitened, n_features_in_)"),
            TensorSpec("W_", f, (k, r), "(n_subspaces_ * subspace_size_, n_whitened)"),
            TensorSpec("components_", f, (k, d),
                       "(n_subspaces_ * subspace_size_, n_features_in_)")]


def _check_isa(est, fitted):
    """Finite weights, orthonormal rows of W_, and components_ = W_ @ whitening_."""
    if not fitted:
        return
    _check_finite(est, "mean_", "whitening_", "W_", "components_")
    W = est.W_
    if W.shape[0] > W.shape[1] or \
            np.max(np.abs(W @ W.T - np.eye(W.shape[0]))) > 1e-8:
        raise ValueError("W_ must have orthonormal rows (W_ @ W_.T = I within 1e-8)")
    if not np.allclose(est.components_, W @ est.whitening_, rtol=1e-10, atol=1e-12):
        raise ValueError("components_ must equal W_ @ whitening_")


def _check_stacked_isa(est, fitted):
    if not fitted:
        return
    n = len(est.isas_)
    if n < 1 or len(est.map_shapes_) != n:
        raise ValueError(f"isas_ and map_shapes_ need one entry per layer, found {n} and "
                         f"{len(est.map_shapes_)}")
    channels = est.input_shape_[0] if est.input_type_ == "image" else est.input_shape_[1]
    for i, (isa, shape) in enumerate(zip(est.isas_, est.map_shapes_)):
        if not hasattr(isa, "n_features_in_"):
            raise ValueError(f"isas_[{i}] is not fitted")
        if isa.n_features_in_ % channels:
            raise ValueError(f"isas_[{i}].n_features_in_ ({isa.n_features_in_}) is not a "
                             f"multiple of the {channels} channels of its input")
        if shape[0] != isa.n_subspaces_:
            raise ValueError(f"map_shapes_[{i}] has {shape[0]} channels, expected "
                             f"isas_[{i}].n_subspaces_ = {isa.n_subspaces_}")
        channels = isa.n_subspaces_


# -- GSN


def _gsn_tensors(est, fitted, stored):
    if not fitted:
        return []
    d = est.n_features_in_
    return [TensorSpec(name, ("float64",), (d,), "(n_features_in_,)")
            for name in ("mean_", "scale_", "reconstruction_std_")]


def _check_gsn(est, fitted):
    if not fitted:
        return
    _check_finite(est, "mean_", "scale_", "reconstruction_std_")
    if np.any(est.scale_ <= 0) or np.any(est.reconstruction_std_ <= 0):
        raise ValueError("scale_ and reconstruction_std_ must be positive")
    ae = est.autoencoder_
    if not hasattr(ae, "n_features_in_") or ae.n_features_in_ != est.n_features_in_ \
            or ae.n_components != est.n_components \
            or float_dtype_name(ae.dtype) != float_dtype_name(est.dtype):
        raise ValueError(f"autoencoder_ must be a fitted AutoEncoder with the GSN's "
                         f"n_features_in_={est.n_features_in_}, n_components="
                         f"{est.n_components} and dtype={est.dtype!r}")


# -- ConvRBM, ConvDBN


def _conv_rbm_tensors(est, fitted, stored):
    if not fitted:
        return []
    image = est.input_type_ == "image"
    c = est.input_shape_[0] if image else est.input_shape_[1]
    k, f = est.n_filters, est.filter_size
    w = (k, c, f, f) if image else (k, c, f)
    f64 = ("float64",)
    return [TensorSpec("W_", f64, w, "(n_filters, channels, filter_size[, filter_size])"),
            TensorSpec("hidden_bias_", f64, (k,), "(n_filters,)"),
            TensorSpec("visible_bias_", f64, (c,), "(channels,)")]


def _check_conv_rbm(est, fitted):
    """Finite weights; the input and pooled shapes agree with the parameters."""
    if not fitted:
        return
    _check_finite(est, "W_", "hidden_bias_", "visible_bias_")
    if est.input_type_ not in ("image", "sequence"):
        raise ValueError(f"input_type_ must be 'image' or 'sequence', found {est.input_type_!r}")
    shape = tuple(est.input_shape_)
    spatial = shape[1:] if est.input_type_ == "image" else shape[:1]
    if len(shape) != (3 if est.input_type_ == "image" else 2) or \
            any((n - est.filter_size + 1) % est.pool_size or n < est.filter_size
                for n in spatial):
        raise ValueError(f"input_shape_ {shape} does not fit filter_size={est.filter_size} "
                         f"and pool_size={est.pool_size}")
    want = (est.n_filters,) + tuple((n - est.filter_size + 1) // est.pool_size
                                    for n in spatial)
    if tuple(est.pooled_shape_) != want:
        raise ValueError(f"pooled_shape_ must be {want}, found {tuple(est.pooled_shape_)}")


def _check_conv_dbn(est, fitted):
    """The layers chain: layer l+1 was fitted on layer l's pooled maps."""
    if not fitted:
        return
    n = len(est.conv_rbms_)
    if n < 1 or n != len(tuple(est.n_filters)):
        raise ValueError(f"conv_rbms_ needs one fitted ConvRBM per layer "
                         f"({len(tuple(est.n_filters))}), found {n}")
    shape = tuple(est.input_shape_)
    for i, rbm in enumerate(est.conv_rbms_):
        if not hasattr(rbm, "n_features_in_") or tuple(rbm.input_shape_) != shape:
            raise ValueError(f"conv_rbms_[{i}] must be a fitted ConvRBM on inputs of shape "
                             f"{shape}")
        p = tuple(rbm.pooled_shape_)
        shape = p if est.input_type_ == "image" else (p[1], p[0])


# -- SPN


def _spn_tensors(est, fitted, stored):
    if not fitted:
        return []
    n = len(est.node_kind_) if isinstance(est.node_kind_, np.ndarray) else None
    e = len(est.children_) if isinstance(est.children_, np.ndarray) else None
    i, f = ("int64",), ("float64",)
    return [TensorSpec("node_kind_", i, (n,), "(n_nodes,)"),
            TensorSpec("children_start_", i, (None if n is None else n + 1,), "(n_nodes + 1,)"),
            TensorSpec("children_", i, (e,), "(n_edges,)"),
            TensorSpec("log_weights_", f, (e,), "(n_edges,)"),
            TensorSpec("leaf_variable_", i, (n,), "(n_nodes,)"),
            TensorSpec("leaf_params_", f, (n, 2), "(n_nodes, 2)")]


def _check_spn(est, fitted):
    """The network is a valid tree of nodes: kinds known, children after their parent,
    every node but the root the child of one node, leaves on known variables with valid
    parameters, every sum node's weights a distribution."""
    if not fitted:
        return
    _check_finite(est, "log_weights_", "leaf_params_")
    kind, start, children = est.node_kind_, est.children_start_, est.children_
    n = len(kind)
    if n < 1 or not np.isin(kind, (LEAF, PRODUCT, SUM)).all():
        raise ValueError("node_kind_ must hold 0 (leaf), 1 (product) or 2 (sum) for every "
                         "node")
    if start[0] != 0 or start[-1] != len(children) or np.any(np.diff(start) < 0):
        raise ValueError("children_start_ must rise from 0 to len(children_)")
    counts = np.diff(start)
    parent = np.repeat(np.arange(n), counts)
    if np.any(children <= parent) or np.any(children >= n) \
            or np.bincount(children, minlength=n)[1:].tolist() != [1] * (n - 1):
        raise ValueError("children_ must make a tree rooted at node 0 whose children come "
                         "after their parent")
    if np.any((counts == 0) != (kind == LEAF)):
        raise ValueError("leaves (and only leaves) must have no children")
    var = est.leaf_variable_
    leaves = kind == LEAF
    if np.any(var[leaves] < 0) or np.any(var[leaves] >= est.n_features_in_) \
            or np.any(var[~leaves] != -1):
        raise ValueError("leaf_variable_ must name a variable < n_features_in_ for every "
                         "leaf and be -1 elsewhere")
    a, b = est.leaf_params_[leaves, 0], est.leaf_params_[leaves, 1]
    if (est.leaf == "bernoulli" and not np.all((a > 0) & (a < 1))) or \
            (est.leaf == "gaussian" and not np.all(b > 0)):
        raise ValueError("leaf_params_ must hold probabilities in (0, 1) (Bernoulli) or "
                         "positive standard deviations (Gaussian)")
    for node in np.flatnonzero(kind == SUM):
        w = np.exp(est.log_weights_[start[node]:start[node + 1]])
        if abs(w.sum() - 1) > 1e-9:
            raise ValueError(f"the weights of sum node {node} sum to {w.sum()!r}, not 1")


# -- autoencoders


def _ae_tensors(est, fitted, stored):
    if not fitted:
        return []
    w, why = _weights_dtype(est)
    d, h = est.n_features_in_, est.n_components
    return [TensorSpec("coefs_.0", w, (d, h), "(n_features_in_, n_components)", why),
            TensorSpec("coefs_.1", w, (h, d), "(n_components, n_features_in_)", why),
            TensorSpec("intercepts_.0", w, (h,), "(n_components,)", why),
            TensorSpec("intercepts_.1", w, (d,), "(n_features_in_,)", why)]


def _check_ae(est, fitted):
    if not fitted:
        return
    _check_finite(est, "coefs_", "intercepts_")
    if est.tied and not np.array_equal(est.coefs_[1], est.coefs_[0].T):
        raise ValueError("coefs_.1 is not the transpose of coefs_.0, but the autoencoder is "
                         "tied=True (one weight matrix for encoder and decoder)")


def _check_sae(est, fitted):
    if fitted:
        _check_stack(est, "autoencoders_", AutoEncoder, _sizes(est.hidden_layer_sizes),
                     "n_components", lambda i: None)


# -- feed-forward networks (MLP, DBN / stacked-autoencoder classifiers and regressors)


def _ff_tensors(est, fitted, stored):
    specs = _head(est, stored)
    if not fitted:
        return specs
    w, why = _weights_dtype(est)
    hidden = _sizes(est.hidden_layer_sizes)
    n_out, out_name = _n_out(est)
    sizes = [est.n_features_in_, *hidden, n_out]
    names = ["n_features_in_", *(f"hidden_layer_sizes[{i}]" for i in range(len(hidden))),
             out_name]
    for i in range(len(sizes) - 1):
        specs.append(TensorSpec(f"coefs_.{i}", w, (sizes[i], sizes[i + 1]),
                                f"({names[i]}, {names[i + 1]})", why))
    for i in range(len(sizes) - 1):
        specs.append(TensorSpec(f"intercepts_.{i}", w, (sizes[i + 1],), f"({names[i + 1]},)",
                                why))
    return specs


def _check_ff(est, fitted):
    _check_head(est)
    if fitted:
        _check_finite(est, "coefs_", "intercepts_")


# -- CNN and RNN: a network of nn layers, its parameters params_.i in network order


def _dense_params(layer, shape):
    d, u = math.prod(shape), layer.units
    return [((d, u), f"(input size {d}, units {u})"), ((u,), f"(units {u},)")], (u,)


def _time_dense_params(layer, shape):
    t, d = shape
    u = layer.units
    return [((d, u), f"(features {d}, units {u})"), ((u,), f"(units {u},)")], (t, u)


def _conv1d_params(layer, shape):
    c, length = shape
    f, k, s, p = layer.filters, layer.kernel_size, layer.stride, layer.padding
    if length + 2 * p < k:
        raise ValueError(f"Conv1D kernel {k} exceeds its padded input length {length + 2 * p}")
    return ([((f, c, k), f"(filters {f}, channels {c}, kernel {k})"), ((f,), f"(filters {f},)")],
            (f, out_size(length, k, s, p)))


def _conv2d_params(layer, shape):
    c, h, w = shape
    f = layer.filters
    (kh, kw), (sh, sw), (ph, pw) = layer.kernel_size, layer.stride, layer.padding
    if h + 2 * ph < kh or w + 2 * pw < kw:
        raise ValueError(f"Conv2D kernel {kh}x{kw} exceeds its padded input "
                         f"{h + 2 * ph}x{w + 2 * pw}")
    return ([((f, c, kh, kw), f"(filters {f}, channels {c}, {kh}, {kw})"),
             ((f,), f"(filters {f},)")],
            (f, out_size(h, kh, sh, ph), out_size(w, kw, sw, pw)))


def _recurrent_params(gates, biases=1):
    def params(layer, shape):
        t, d = shape
        h, g = layer.units, gates * layer.units
        one = [((d, g), f"(features {d}, {gates} x units {h})"),
               ((h, g), f"(units {h}, {gates} x units {h})")]
        one += [((g,), f"({gates} x units {h},)")] * biases
        width = h * (2 if layer.bidirectional else 1)
        return one * (2 if layer.bidirectional else 1), \
            ((t, width) if layer.return_sequences else (width,))
    return params


#: Parameter shapes of the nn layers that hold parameters, in ``param_names`` order, and
#: their output shape, from their configuration and per-sample input shape.  (Layers
#: without parameters give their output shape through their own ``build``.)
LAYER_PARAMS = {"Dense": _dense_params, "TimeDistributedDense": _time_dense_params,
                "Conv1D": _conv1d_params, "Conv2D": _conv2d_params,
                "Elman": _recurrent_params(1), "LSTM": _recurrent_params(4),
                "GRU": _recurrent_params(3, biases=2)}


def _plain(value):
    """``value`` as JSON would give it back (tuples as lists), for comparisons."""
    return json.loads(json.dumps(value))


def _layered_tensors(est, fitted, stored):
    specs = _head(est, stored)
    if not fitted:
        return specs
    _check_input_shapes(est)
    n_out, _ = _n_out(est)
    plan = est._make_layers(est.input_shape_, n_out)
    want = [{"name": type(layer).__name__, "config": layer.get_config()} for layer in plan]
    have = est.layers_
    if not isinstance(have, list) or _plain(have) != _plain(want):
        raise ValueError(f"layers_ are not the layers {type(est).__name__}'s parameters build "
                         f"for input {est.input_shape_} and {n_out} outputs: expected "
                         f"{_plain(want)!s:.600}, found {_describe(have, 600)}")
    w, why = _weights_dtype(est)
    shape, i = tuple(est.input_shape_), 0
    rng = np.random.default_rng(0)
    for k, layer in enumerate(plan):
        name = type(layer).__name__
        if name in LAYER_PARAMS:
            params, shape = LAYER_PARAMS[name](layer, shape)
            for (pshape, text), pname in zip(params, layer.param_names):
                specs.append(TensorSpec(f"params_.{i}", w, pshape,
                                        f"{text}, {name}.{pname} of layers_[{k}]", why))
                i += 1
        elif layer.param_names:
            raise ValueError(f"layer {name} has parameters but deepbio.models._persist has no "
                             f"file schema for it (add it to LAYER_PARAMS)")
        else:                             # parameter-free: shapes only, no allocation
            shape = tuple(layer.build(shape, rng, w[0]))
    return specs


def _check_input_shapes(est):
    shape = est.input_shape_
    if getattr(est, "input_type_", "sequence") == "image":
        image = getattr(est, "image_shape_", None)
        if image != shape:
            raise ValueError(f"image_shape_ is {image!r}, expected input_shape_ = {shape}")
        if est.n_features_in_ != math.prod(image):
            raise ValueError(f"n_features_in_ is {est.n_features_in_}, expected C * H * W = "
                             f"{math.prod(image)} for images of shape {image}")
        return
    if hasattr(est, "image_shape_"):
        raise ValueError("image_shape_ is only for images, but input_type_ is 'sequence'")
    if len(shape) != 2 or shape[1] != est.n_features_in_ + 1:
        raise ValueError(f"input_shape_ is {shape}, expected (length, n_features_in_ + 1) = "
                         f"(length, {est.n_features_in_ + 1}) for sequences (the mask is the "
                         f"last channel)")


def _check_layered(est, fitted):
    _check_head(est)
    if fitted:
        _check_finite(est, "params_")


# -- shared checks


def _check_finite(est, *names):
    for name in names:
        value = getattr(est, name)
        for i, a in enumerate(value if isinstance(value, list) else [value]):
            if a.dtype.kind == "f" and not np.isfinite(a).all():
                which = f"{name}.{i}" if isinstance(value, list) else name
                raise ValueError(f"tensor {which!r} holds NaN or infinite values (fit never "
                                 f"leaves such weights)")


def _check_head(est):
    if isinstance(est, RegressorMixin):
        if getattr(est, "target_ndim_", None) == 1 and getattr(est, "n_outputs_", 1) != 1:
            raise ValueError(f"n_outputs_ is {est.n_outputs_}, but target_ndim_ = 1 (a 1-d "
                             f"target) means one output")
        for name in ("y_mean_", "y_scale_"):
            a = getattr(est, name, None)
            if a is not None and not np.isfinite(a).all():
                raise ValueError(f"tensor {name!r} holds NaN or infinite values")
        scale = getattr(est, "y_scale_", None)
        if scale is not None and not (scale > 0).all():
            raise ValueError("tensor 'y_scale_' holds values <= 0 (fit makes every target "
                             "scale positive)")


def _check_labels(v):
    if not isinstance(v, np.ndarray) or v.ndim != 1 or v.shape[0] < 2:
        return f"must be a 1-d array of at least 2 labels, found {_describe(v)}"
    if v.dtype.kind == "f" and not np.isfinite(v).all():
        return "holds NaN or infinity (not class labels)"
    try:
        ordered = bool(np.all(v[1:] > v[:-1]))
    except TypeError:
        ordered = False
    if not ordered:
        return f"must be sorted and distinct (np.unique of the labels), found {v.tolist()!s:.200}"
    return None


def _int_at_least(low):
    def check(v):
        if type(v) is int and v >= low:
            return None
        return f"must be an int >= {low}, found {_describe(v)}"
    return check


def _one_of(*options):
    def check(v):
        if type(v) in (int, str) and v in options:
            return None
        return f"must be one of {list(options)}, found {_describe(v)}"
    return check


def _int_tuple(length=None):
    def check(v):
        if isinstance(v, tuple) and (length is None or len(v) == length) and len(v) >= 1 \
                and all(type(s) is int and s >= 1 for s in v):
            return None
        n = f"{length} " if length else ""
        return f"must be a tuple of {n}ints >= 1, found {_describe(v)}"
    return check


def _list_of(kind, inner=None):
    def check(v):
        if isinstance(v, list) and all(isinstance(x, kind) for x in v) \
                and (inner is None or all(isinstance(y, inner) for x in v for y in x)):
            return None
        return f"must be a list of {kind.__name__}, found {_describe(v)}"
    return check


#: Checks of the fitted attributes that are not tensors, common to every class (an
#: attribute of this name means the same everywhere).  Each returns an error or None.
ATTRIBUTE_CHECKS = {
    "n_features_in_": _int_at_least(1),
    "n_iter_": _int_at_least(0),
    "n_outputs_": _int_at_least(1),
    "target_ndim_": _one_of(1, 2),
    "input_type_": _one_of("image", "sequence"),
    "image_shape_": _int_tuple(3),
    "input_shape_": _int_tuple(),
    "history_": _list_of(dict),
    "pretrain_history_": _list_of(list, dict),
    "layers_": _list_of(dict),
    "classes_": _check_labels,
    "rbms_": _list_of(RBM),
    "autoencoders_": _list_of(AutoEncoder),
    "dbm_": lambda v: None if type(v) is DBM else f"must be a DBM, found {_describe(v)}",
    "isas_": _list_of(ISA),
    "conv_rbms_": _list_of(ConvRBM),
    "pooled_shape_": _int_tuple(),
    "autoencoder_": lambda v: None if type(v) is AutoEncoder else
    f"must be an AutoEncoder, found {_describe(v)}",
    "n_subspaces_": _int_at_least(1),
    "subspace_size_": _int_at_least(1),
    "map_shapes_": lambda v: None if isinstance(v, list) and v and all(
        _int_tuple()(s) is None for s in v) else f"must be a list of tuples of ints >= 1, "
        f"found {_describe(v)}",
}


def _feature_names(v):
    if isinstance(v, np.ndarray) and v.ndim == 1 and v.dtype == object and len(v) >= 1 \
            and all(isinstance(x, str) for x in v):
        return None
    return f"must be a 1-d object array of str (column names), found {_describe(v)}"


ATTRIBUTE_CHECKS["feature_names_in_"] = _feature_names


def _f(*names):
    return frozenset(names)


#: Attributes any estimator may hold: the column names of the data frame it was fitted on.
COMMON_OPTIONAL = frozenset({"feature_names_in_"})


_TRAINED = _f("n_features_in_", "n_iter_", "history_")
_CLASSIFIER = _f("classes_")
_REGRESSOR = _f("y_mean_", "y_scale_", "n_outputs_", "target_ndim_")
_FF = _TRAINED | _f("coefs_", "intercepts_")
_PRE = _FF | _f("pretrain_history_")          # pre-trained, then fine-tuned
_NET = _TRAINED | _f("layers_", "params_", "input_shape_")

_RBM = Schema(_TRAINED | _f("W_", "intercept_visible_", "intercept_hidden_"), _f(),
              _f("W_", "intercept_visible_", "intercept_hidden_"), _rbm_tensors, _check_rbm)
_AE = Schema(_FF, _f(), _f("coefs_", "intercepts_"), _ae_tensors, _check_ae)
_FF_WEIGHTS = _f("coefs_", "intercepts_")
_NET_WEIGHTS = _f("layers_", "params_", "input_shape_")

_ISA_ARRAYS = ("mean_", "whitening_", "W_", "components_")

_SPN_ARRAYS = ("node_kind_", "children_start_", "children_", "log_weights_",
               "leaf_variable_", "leaf_params_")

#: The file schema of every estimator class (subclasses use their first ancestor's).
SCHEMAS = {
    RBM: _RBM,
    DBN: Schema(_f("n_features_in_", "rbms_"), _f(), _f("rbms_"),
                lambda est, fitted, stored: [], _check_dbn),
    AutoEncoder: _AE,
    StackedAutoEncoder: Schema(_f("n_features_in_", "autoencoders_"), _f("n_iter_"),
                               _f("autoencoders_"), lambda est, fitted, stored: [],
                               _check_sae),
    MLPClassifier: Schema(_FF | _CLASSIFIER, _f(), _FF_WEIGHTS, _ff_tensors, _check_ff),
    MLPRegressor: Schema(_FF | _REGRESSOR, _f(), _FF_WEIGHTS, _ff_tensors, _check_ff),
    DBNClassifier: Schema(_PRE | _CLASSIFIER, _f(), _FF_WEIGHTS, _ff_tensors, _check_ff),
    DBNRegressor: Schema(_PRE | _REGRESSOR, _f(), _FF_WEIGHTS, _ff_tensors, _check_ff),
    StackedAutoEncoderClassifier: Schema(_PRE | _CLASSIFIER, _f(), _FF_WEIGHTS, _ff_tensors,
                                         _check_ff),
    StackedAutoEncoderRegressor: Schema(_PRE | _REGRESSOR, _f(), _FF_WEIGHTS, _ff_tensors,
                                        _check_ff),
    CNNClassifier: Schema(_NET | _CLASSIFIER | _f("input_type_"), _f("image_shape_"),
                          _NET_WEIGHTS, _layered_tensors, _check_layered),
    CNNRegressor: Schema(_NET | _REGRESSOR | _f("input_type_"), _f("image_shape_"),
                         _NET_WEIGHTS, _layered_tensors, _check_layered),
    RNNClassifier: Schema(_NET | _CLASSIFIER, _f(), _NET_WEIGHTS, _layered_tensors,
                          _check_layered),
    RNNTagger: Schema(_NET | _CLASSIFIER, _f(), _NET_WEIGHTS, _layered_tensors,
                      _check_layered),
    RNNRegressor: Schema(_NET | _REGRESSOR, _f(), _NET_WEIGHTS, _layered_tensors,
                         _check_layered),
    SPN: Schema(_f("n_features_in_", *_SPN_ARRAYS), _f(), _f(*_SPN_ARRAYS), _spn_tensors,
                _check_spn),
    DBM: Schema(_FF | _f("pretrain_history_"), _f(), _FF_WEIGHTS, _dbm_tensors, _check_dbm),
    ISA: Schema(_TRAINED | _f(*_ISA_ARRAYS, "n_subspaces_", "subspace_size_", "objective_",
                              "restart_objectives_"), _f(), _f(*_ISA_ARRAYS), _isa_tensors,
                _check_isa),
    GSN: Schema(_TRAINED | _f("autoencoder_", "mean_", "scale_", "reconstruction_std_"), _f(),
                _f("autoencoder_", "mean_", "scale_", "reconstruction_std_"), _gsn_tensors,
                _check_gsn),
    StackedISA: Schema(_f("n_features_in_", "isas_", "input_type_", "input_shape_",
                          "map_shapes_", "history_"), _f(), _f("isas_", "map_shapes_"),
                       lambda est, fitted, stored: [], _check_stacked_isa),
    ConvRBM: Schema(_TRAINED | _f("W_", "hidden_bias_", "visible_bias_", "input_type_",
                                  "input_shape_", "pooled_shape_"), _f(),
                    _f("W_", "hidden_bias_", "visible_bias_", "pooled_shape_"),
                    _conv_rbm_tensors, _check_conv_rbm),
    ConvDBN: Schema(_f("n_features_in_", "conv_rbms_", "input_type_", "input_shape_",
                       "history_"), _f(), _f("conv_rbms_"), lambda est, fitted, stored: [],
                    _check_conv_dbn),
    DBMClassifier: Schema(_FF | _CLASSIFIER | _f("dbm_"), _f(), _FF_WEIGHTS | _f("dbm_"),
                          _dbm_classifier_tensors, _check_dbm_classifier),
}


def schema_of(cls):
    """The :class:`Schema` of estimator class ``cls`` (its own, or its first ancestor's)."""
    for base in cls.__mro__:
        if base in SCHEMAS:
            return SCHEMAS[base]
    raise ValueError(f"{cls.__name__} has no file schema: pass schema= to "
                     f"deepbio.models.register")


def register(cls, schema=None):
    """Allow :func:`load` to build ``cls`` (a BaseEstimator subclass); returns ``cls``.

    ``schema`` (a :class:`Schema`) declares its file layout; by default it is that of the
    first of its ancestors that has one (a class with fitted attributes of its own needs
    its own).  TypeError if ``cls`` is not an estimator class or no schema is found.
    """
    if not (isinstance(cls, type) and issubclass(cls, BaseEstimator)):
        raise TypeError(f"only deepbio estimator classes can be registered, got {cls!r}")
    if schema is not None:
        if not isinstance(schema, Schema):
            raise TypeError(f"schema must be a deepbio.models._persist.Schema, got "
                            f"{type(schema).__name__}")
        SCHEMAS[cls] = schema
    else:
        try:
            schema_of(cls)
        except ValueError as e:
            raise TypeError(str(e)) from None
    REGISTRY[cls.__name__] = cls
    return cls


def _describe(v, limit=80):
    if isinstance(v, np.ndarray):
        return f"an array {v.dtype} {v.shape}"
    if isinstance(v, BaseEstimator):
        return f"a {type(v).__name__}"
    if isinstance(v, list) and v and all(isinstance(x, BaseEstimator) for x in v):
        return f"[{', '.join(type(x).__name__ for x in v)}]"
    return f"{v!r:.{limit}}" if limit else repr(v)


# ------------------------------------------------------------------------ encoding


def _is_array(v):
    return isinstance(v, np.ndarray) or (hasattr(v, "__array__") and hasattr(v, "shape")
                                         and hasattr(v, "dtype") and not np.isscalar(v))


class _Encoder:
    def __init__(self):
        self.tensors = {}

    def value(self, v, name):
        if v is None or isinstance(v, (bool, str)):
            return v
        if isinstance(v, (int, np.integer)) and not isinstance(v, np.bool_):
            return int(v)
        if isinstance(v, np.bool_):
            return bool(v)
        if isinstance(v, (float, np.floating)):
            v = float(v)
            return v if math.isfinite(v) else {"__float__": repr(v)}
        if isinstance(v, BaseEstimator):
            return {"__estimator__": self.estimator(v, name + "/")}
        if type(v).__name__ in OPTIMIZERS and isinstance(v, OPTIMIZERS[type(v).__name__]):
            params = {k: self.value(x, f"{name}.{k}") for k, x in v.get_params().items()
                      if k != "comm"}
            return {"__optimizer__": {"class": type(v).__name__, "params": params}}
        if isinstance(v, tuple):
            return {"__tuple__": [self.value(x, f"{name}.{i}") for i, x in enumerate(v)]}
        if isinstance(v, list):
            return [self.value(x, f"{name}.{i}") for i, x in enumerate(v)]
        if isinstance(v, dict):
            if not all(isinstance(k, str) for k in v):
                raise ValueError(f"cannot save {name}: dict keys must be strings")
            return {"__dict__": {k: self.value(x, f"{name}.{k}") for k, x in v.items()}}
        if _is_array(v):
            a = to_host(v)
            if a.dtype.kind in "biuf":
                self.tensors[name] = np.ascontiguousarray(a)
                return {"__tensor__": name, "dtype": a.dtype.name}
            if a.dtype.kind in "UO" and a.ndim == 1:
                return {"__array__": [self.value(x, name) for x in a.tolist()],
                        "dtype": "str" if a.dtype.kind == "U" else "object"}
            raise ValueError(f"cannot save {name}: arrays of dtype {a.dtype} are not supported")
        if isinstance(v, np.random.Generator):
            return None          # generators are not saved (see the module docstring)
        raise ValueError(f"cannot save {name}: values of type {type(v).__name__} are not "
                         f"supported")

    def estimator(self, est, prefix=""):
        # comm (an MPI communicator, docs/distributed.md) is never saved: a loaded
        # model has comm=None, and files stay those of a model without it
        params = {k: self.value(v, f"{prefix}param.{k}")
                  for k, v in est.get_params(deep=False).items() if k != "comm"}
        attributes = {}
        for k, v in sorted(vars(est).items()):
            if k.endswith("_") and not k.startswith("_"):
                attributes[k] = self.value(v, prefix + k)
        return {"class": type(est).__name__, "params": params, "attributes": attributes}


# ------------------------------------------------------------------------ decoding


class _Decoder:
    """Builds an estimator from a document's ``model`` entry and the file's tensors,
    checking everything listed in the module docstring."""

    def __init__(self, tensors, version):
        self.tensors = tensors
        self.version = version
        self.used = set()
        self.declared = {}

    def value(self, v, name, refs, depth=0):
        """Decode ``v``, the value at path ``name``; tensors it references go to ``refs``."""
        if depth > MAX_DEPTH:
            raise ValueError(f"{name} nests deeper than {MAX_DEPTH} levels")
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        if isinstance(v, list):
            return [self.value(x, f"{name}.{i}", refs, depth + 1) for i, x in enumerate(v)]
        tags = [k for k in v if k.startswith("__")] if isinstance(v, dict) else []
        if len(tags) != 1 or set(v) - {tags[0], "dtype"}:
            raise ValueError(f"unexpected value at {name}: {v!r:.80}")
        tag = tags[0]
        if ("dtype" in v) != (tag == "__array__") and tag != "__tensor__":
            raise ValueError(f"unexpected value at {name}: {v!r:.80}")
        body = v[tag]
        if tag == "__tensor__":
            if not isinstance(body, str) or body not in self.tensors:
                raise ValueError(f"tensor {body!r:.80} is missing (referenced at {name})")
            if body != name:
                raise ValueError(f"tensor {body!r} is referenced at {name}; a tensor is "
                                 f"named by its place in the model, so it must be {name!r}")
            if "dtype" in v:
                self.declared[body] = v["dtype"]       # checked after the schema's check
            elif self.version >= 2:
                raise ValueError(f"the reference to tensor {body!r} does not declare its "
                                 f"dtype (a format version {self.version} document must)")
            self.used.add(body)
            refs[body] = self.tensors[body]
            return self.tensors[body]
        if tag == "__array__":
            kind = v["dtype"]
            if kind not in ("str", "object") or not isinstance(body, list) \
                    or not all(x is None or isinstance(x, (bool, int, float, str))
                               for x in body) \
                    or (kind == "str" and not all(isinstance(x, str) for x in body)):
                raise ValueError(f"bad label array at {name}: {v!r:.80}")
            if kind == "str":
                return np.array(body, dtype=str)
            out = np.empty(len(body), dtype=object)
            out[:] = body
            return out
        if tag == "__tuple__" and isinstance(body, list):
            return tuple(self.value(x, f"{name}.{i}", refs, depth + 1)
                         for i, x in enumerate(body))
        if tag == "__dict__" and isinstance(body, dict):
            return {k: self.value(x, f"{name}.{k}", refs, depth + 1) for k, x in body.items()}
        if tag == "__float__" and body in ("nan", "inf", "-inf"):
            return float(body)
        if tag == "__estimator__":
            return self.estimator(body, name + "/", depth + 1)
        if tag == "__optimizer__":
            return self.optimizer(body, name, depth + 1)
        raise ValueError(f"unexpected value at {name}: {v!r:.80}")

    def optimizer(self, spec, name, depth):
        if not isinstance(spec, dict) or set(spec) != {"class", "params"} \
                or spec["class"] not in OPTIMIZERS or not isinstance(spec["params"], dict):
            raise ValueError(f"unknown optimiser entry at {name}: {spec!r:.80} (known: "
                             f"{sorted(OPTIMIZERS)})")
        cls = OPTIMIZERS[spec["class"]]
        refs = {}
        params = {k: self.value(x, f"{name}.{k}", refs, depth) for k, x in spec["params"].items()}
        if refs:
            raise ValueError(f"the optimiser at {name} has array parameters")
        try:
            opt = cls(**params)
            opt._validate_params()
        except (TypeError, ValueError) as e:
            raise ValueError(f"bad optimiser parameters at {name}: {e}") from None
        return opt

    def estimator(self, tree, prefix="", depth=0):
        where = f"the model at {prefix[:-1]}" if prefix else "the model"
        if not isinstance(tree, dict) or set(tree) != {"class", "params", "attributes"} \
                or not isinstance(tree["params"], dict) \
                or not isinstance(tree["attributes"], dict):
            raise ValueError(f"{where} must be {{'class', 'params', 'attributes'}}, found "
                             f"{tree!r:.80}")
        name = tree["class"]
        if not isinstance(name, str) or name not in REGISTRY:
            raise ValueError(f"the file holds a model of class {name!r:.80}, which deepbio does "
                             f"not know how to load (known: {sorted(REGISTRY)})")
        cls = REGISTRY[name]
        params = tree["params"]
        unknown = set(params) - set(cls._param_names())
        if unknown:
            raise ValueError(f"the file's {name} has parameters {sorted(unknown)} that this "
                             f"version of deepbio does not know")
        refs = {}
        kwargs = {k: self.value(v, f"{prefix}param.{k}", refs, depth + 1)
                  for k, v in params.items()}
        if refs:
            raise ValueError(f"the file's {name} has array-valued parameters {sorted(refs)}")
        est = cls(**kwargs)
        try:
            est._validate_params()
        except (TypeError, ValueError) as e:
            raise ValueError(f"the file's {name} has an invalid configuration: {e}") from None
        attributes = tree["attributes"]
        for k in attributes:
            if not (k.isidentifier() and k.endswith("_") and not k.startswith("_")):
                raise ValueError(f"bad attribute name {k!r:.80} in the file's {name}")
        values = {k: self.value(v, prefix + k, refs, depth + 1) for k, v in attributes.items()}
        for k, v in values.items():
            setattr(est, k, v)
        try:
            _check_layout(est, set(values), refs, prefix)
            for ref, a in refs.items():
                if self.declared.get(ref, a.dtype.name) != a.dtype.name:
                    raise ValueError(f"tensor {ref!r} is stored as {a.dtype.name}, but the "
                                     f"document declares it {self.declared[ref]!r:.40}")
        except ValueError as e:
            raise ValueError(f"{where} ({name}): {e}") from None
        return est


def _check_layout(est, present, refs, prefix):
    """ValueError unless ``est`` (built from a file, its attributes ``present`` set, the
    tensors ``refs`` referenced by them) matches its class's schema."""
    cls = type(est)
    schema = schema_of(cls)
    allowed = schema.fitted | schema.optional | COMMON_OPTIONAL
    unknown = present - allowed
    if unknown:
        raise ValueError(f"unknown attribute(s) {sorted(unknown)}; a {cls.__name__} file holds "
                         f"{sorted(allowed)}")
    fitted = "n_features_in_" in present
    if fitted and schema.fitted - present:
        raise ValueError(f"fitted attribute(s) {sorted(schema.fitted - present)} are missing")
    if not fitted and present & schema.weights:
        raise ValueError(f"it holds {sorted(present & schema.weights)} but no n_features_in_ "
                         f"(weights of a model that is not fitted)")
    for k in sorted(present):
        check = ATTRIBUTE_CHECKS.get(k)
        problem = check(getattr(est, k)) if check else None
        if problem:
            raise ValueError(f"attribute {k} {problem}")
    names = getattr(est, "feature_names_in_", None) if "feature_names_in_" in present else None
    if names is not None and fitted and len(names) != est.n_features_in_:
        raise ValueError(f"attribute feature_names_in_ holds {len(names)} names, but "
                         f"n_features_in_ is {est.n_features_in_}")
    specs = schema.tensors(est, fitted, lambda name: prefix + name in refs)
    expected = {}
    for spec in specs:
        full = prefix + spec.name
        expected[full] = spec
        kinds = " or ".join(spec.dtypes) if len(spec.dtypes) < 4 else "numeric"
        want = "(" + ", ".join("n" if s is None else str(s) for s in spec.shape) + \
            ("," if len(spec.shape) == 1 else "") + ")"
        if full not in refs:
            raise ValueError(f"tensor {full!r} is missing: expected {kinds} of shape {want} = "
                             f"{spec.why}")
        a = refs[full]
        if a.dtype.name not in spec.dtypes:
            raise ValueError(f"tensor {full!r} has dtype {a.dtype.name}, expected {kinds}"
                             f"{spec.dtype_why}")
        if a.ndim != len(spec.shape) or any(s is not None and s != n
                                            for s, n in zip(spec.shape, a.shape)):
            raise ValueError(f"tensor {full!r} has shape {tuple(a.shape)}, expected {want} = "
                             f"{spec.why}")
    extra = sorted(set(refs) - set(expected))
    if extra:
        raise ValueError(f"unexpected tensor {extra[0]!r}: a {cls.__name__} file has no such "
                         f"tensor (expected: {sorted(expected) or 'none'})")
    by_attr = {}
    for spec in specs:
        attr, _, index = spec.name.partition(".")
        by_attr.setdefault(attr, []).append((index, prefix + spec.name))
    for attr, items in by_attr.items():
        value = getattr(est, attr)
        if items == [("", items[0][1])]:
            ok = value is refs[items[0][1]]
        else:
            ok = isinstance(value, list) and len(value) == len(items) \
                and all(value[int(i)] is refs[full] for i, full in items)
        if not ok:
            raise ValueError(f"attribute {attr} must be " + (
                f"the tensor {items[0][1]!r}" if items[0][0] == "" else
                f"the list of tensors {[full for _, full in items]}") +
                f", found {_describe(value)}")
    if schema.check is not None:
        schema.check(est, fitted)


# --------------------------------------------------------------------------- files


def save(model, path, metadata=None):
    """Save a deepbio estimator to ``path`` atomically (safetensors + JSON + digest).

    Parameters
    ----------
    model : deepbio estimator
        Fitted or not.  Its class must be in :data:`REGISTRY`.
    path : str or os.PathLike
        Destination file; replaced atomically if it exists (keeping its permissions; a
        symbolic link is followed and kept).  Its directory must exist.
    metadata : dict, optional
        JSON-able user metadata stored alongside (``load(path, return_metadata=True)``
        returns it).

    Returns
    -------
    path : str

    Raises
    ------
    ValueError
        If the model cannot be written as a file :func:`load` accepts (its class is not
        registered, a value cannot be encoded, or its fitted state does not match its
        class's schema, e.g. after ``set_params(hidden_layer_sizes=...)`` on a fitted
        model), or ``metadata`` is not JSON-serialisable.
    FileNotFoundError
        If the directory of ``path`` does not exist.
    IsADirectoryError
        If ``path`` is a directory.
    """
    if not isinstance(model, BaseEstimator):
        raise TypeError(f"model must be a deepbio estimator, got {type(model).__name__}")
    name = type(model).__name__
    if REGISTRY.get(name) is not type(model):
        raise ValueError(f"{name} is not a registered deepbio model class "
                         f"(deepbio.models.register)")
    if metadata is not None:
        try:
            json.dumps(metadata, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise ValueError(f"cannot save: metadata is not JSON-serialisable ({e})") from None
    enc = _Encoder()
    doc = {"deepbio_version": _deepbio_version(), "model": enc.estimator(model)}
    if metadata is not None:
        doc["metadata"] = metadata
    try:                     # never write a file that load would refuse
        _decode(enc.tensors, json.loads(json.dumps({"format_version": _io.FORMAT_VERSION,
                                                    **doc})))
    except ValueError as e:
        raise ValueError(f"cannot save this {name}: {e}") from None
    return _io.write_container(path, enc.tensors, doc)


def load(path, return_metadata=False):
    """Load an estimator saved by :func:`save` (or by deepbio 0.1.0).

    Parameters
    ----------
    path : str or os.PathLike
    return_metadata : bool, default=False
        Also return the user metadata dict given to :func:`save` (or None).

    Returns
    -------
    model : deepbio estimator
        Its arrays are NumPy arrays; it predicts exactly as the saved model did.
    metadata : dict or None
        Only with ``return_metadata=True``.

    Raises
    ------
    ValueError
        If the file is truncated, corrupt, edited since it was saved (digest), not a
        deepbio model file, of a newer format version, names an unknown class, holds an
        invalid setting, or its attributes or tensors do not match the class's schema;
        the message names the file and the problem.
    """
    tensors, doc = _io.read_container(path)
    try:
        model, metadata = _decode(tensors, doc)
    except ValueError as e:
        raise ValueError(f"{path!s}: {e}") from None
    return (model, metadata) if return_metadata else model


def _decode(tensors, doc):
    """``(model, metadata)`` from a container's tensors and document."""
    unknown = set(doc) - _DOCUMENT_KEYS
    if unknown:
        raise ValueError(f"unknown document keys {sorted(unknown)} (known: "
                         f"{sorted(_DOCUMENT_KEYS)})")
    if "model" not in doc:
        raise ValueError("no model entry in the document")
    if not isinstance(doc.get("deepbio_version"), str):
        raise ValueError(f"deepbio_version must be a string, found "
                         f"{doc.get('deepbio_version')!r:.80}")
    decoder = _Decoder(tensors, doc.get("format_version", _io.FORMAT_VERSION))
    try:
        model = decoder.estimator(doc["model"])
    except RecursionError:
        raise ValueError("the document nests too deeply") from None
    unused = sorted(set(tensors) - decoder.used)
    if unused:
        raise ValueError(f"unexpected tensor {unused[0]!r}: no attribute of the model refers "
                         f"to it")
    return model, doc.get("metadata")
