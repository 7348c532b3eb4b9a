"""The ``deepbio`` command line: ``demo``, ``train``, ``predict``, ``evaluate``, ``explain``,
``bench``.

::

    deepbio demo                                   # DBN on the bundled breast cancer data
    deepbio train --model DBNClassifier --data train.csv --target diagnosis \\
                  --scale minmax --param hidden_layer_sizes=[64,32] --out model.safetensors
    deepbio predict --model model.safetensors --data new.csv --out predictions.csv
    deepbio evaluate --model model.safetensors --data test.csv --target diagnosis
    deepbio explain model.safetensors test.csv --target-column diagnosis --out explained/
    deepbio bench                                  # runs bench/models.py from a checkout

Data files: CSV / TSV (optionally gzipped; the first row is a header when it differs in
kind from the rows below, see :func:`deepbio.datasets.has_header`, or as ``--header
yes|no`` says; read by :func:`deepbio.datasets.read_table`), ``.npy``
(2-d, or 1-d = one column) or ``.npz`` (arrays ``X`` and optionally ``y``, read
separately).  The target is a column (``--target NAME`` or index; default: a column
named ``target``, ``label``, ``class`` or ``y``), a separate file (``--labels``: one
column, one label per data row; not together with ``--target``), the ``y`` of an
``.npz`` file, or else the last column of a NumPy file.

Scaling (``--scale standard|minmax|none``) is learnt on the training data (by
:class:`deepbio.datasets.StandardScaler` / :class:`~deepbio.datasets.MinMaxScaler`) and
stored in the model file's metadata, so ``predict`` and ``evaluate`` apply the same
scaling.  Metrics come from :mod:`deepbio.datasets.metrics`.

Exit status: 0 on success, 1 on an error in the data, the model file or the backend, or
a diverging training (the message says which), 2 on a usage error.
"""
import argparse
import csv
import io
import json
import os
import sys
import time

import numpy as np

from .datasets import (Bunch, MinMaxScaler, StandardScaler, accuracy_score, load_array,
                       mean_squared_error, read_table, roc_auc_score, standardize,
                       table_to_float)
from .datasets.tables import is_number

_TARGET_NAMES = ("target", "label", "labels", "class", "y")

#: ``--header`` choices as :func:`deepbio.datasets.read_table` takes them.
_HEADER = {"auto": "auto", "yes": True, "no": False}

#: The ROC AUC the reports print (the library's; kept under its old name here).
roc_auc = roc_auc_score


class CLIError(Exception):
    """An error to report in one line, with exit status 1."""


# ----------------------------------------------------------------------- metrics


def _classification_report(model, X, y):
    proba = model.predict_proba(X)
    pred = model.classes_[np.argmax(proba, axis=1)]
    out = {"accuracy": accuracy_score(y, pred)}
    present = [k for k, c in enumerate(model.classes_) if np.any(y == c)]
    if len(model.classes_) == 2 and len(present) == 2:
        out["roc_auc"] = roc_auc_score(y == model.classes_[1], proba[:, 1])
    elif len(present) > 2:       # macro average of one-vs-rest AUCs
        out["roc_auc_ovr"] = float(np.mean([roc_auc_score(y == model.classes_[k],
                                                          proba[:, k])
                                            for k in present]))
    return out


def _regression_report(model, X, y):
    pred = model.predict(X).reshape(y.shape)
    return {"r2": model.score(X, y), "mse": mean_squared_error(y, pred)}


# -------------------------------------------------------------------------- data


def _read_numpy(path):
    """``(X, y)`` of a ``.npy`` file (y None) or of an ``.npz`` file (y None without one);
    a 1-d ``X`` is one column."""
    try:
        arrays = load_array(path, as_dict=True)
    except (ValueError, OSError) as e:      # not a NumPy file, or an object array
        raise CLIError(f"{path}: not a readable NumPy file ({e})") from None
    if isinstance(arrays, dict):
        if "X" not in arrays:
            raise CLIError(f"{path}: a .npz file must hold an array named 'X' "
                           f"(and optionally 'y'); found {sorted(arrays)}")
        X, y = arrays["X"], arrays.get("y")
    else:
        X, y = arrays, None
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2:
        raise CLIError(f"{path}: expected a 1-d or 2-d array, got shape {X.shape}")
    if y is not None:
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1 or len(y) != len(X):
            raise CLIError(f"{path}: 'y' must hold one label per row of 'X' ({len(X)}), "
                           f"got shape {y.shape}")
    return X, y


def read_data(path, header="auto"):
    """``(table, y)`` of a data file: ``table`` as :func:`deepbio.datasets.read_table`
    returns it (``cells``, ``columns``, ...; for a NumPy file its array as ``cells``,
    no column names) and ``y``, the ``y`` of an ``.npz`` file (else None).

    ``header`` is ``"auto"`` (see :func:`deepbio.datasets.has_header`), ``"yes"`` or
    ``"no"``."""
    if not os.path.exists(path):
        raise CLIError(f"data file not found: {path}")
    if path.endswith((".npy", ".npz")):
        X, y = _read_numpy(path)
        return Bunch(cells=X, columns=None, source=f"{path!r}: "), y
    return read_table(path, header=_HEADER[header]), None


def read_labels(path, data_path, n_rows, header="auto"):
    """The labels of a ``--labels`` file, read the same way by every command: one
    column (or the ``y`` of an ``.npz`` file), exactly one label per row of the data."""
    table, y = read_data(path, header)
    if y is None:
        if table.cells.shape[1] != 1:
            raise CLIError(f"--labels {path} must hold one column of labels, "
                           f"found {table.cells.shape[1]} columns")
        y = table.cells[:, 0]
    if len(y) != n_rows:
        raise CLIError(f"--labels {path} has {len(y)} labels but --data {data_path} has "
                       f"{n_rows} rows")
    return y


def _column_index(spec, header, width):
    if spec is None:
        if header:
            for i, h in enumerate(header):
                if h.lower() in _TARGET_NAMES:
                    return i
        return None
    if header and spec in header:
        return header.index(spec)
    try:
        i = int(spec)
    except ValueError:
        raise CLIError(f"--target {spec!r} is not a column of the data "
                       f"(columns: {header})") from None
    if not -width <= i < width:
        raise CLIError(f"--target {i} is out of range for {width} columns")
    return i % width


def _split_target(table, t):
    """``(X, y, names)``: the float features of ``table`` without column ``t`` (None:
    all columns), that column (None if ``t`` is None) and the features' names."""
    names = table.columns
    if t is None:
        return table_to_float(table), None, names
    if names:
        names = names[:t] + names[t + 1:]
    return table_to_float(table, exclude=t), table.cells[:, t], names


def load_xy(path, target=None, labels=None, need_target=False, header_mode="auto"):
    """Features ``X`` (float), target ``y`` (or None) and feature names from data files.

    ``y``: the ``labels`` file, else the ``target`` column (default: one named ``target``,
    ``label``, ...), else the ``y`` of an ``.npz`` file, else (if ``need_target``) the
    last column of a NumPy file."""
    table, y = read_data(path, header_mode)
    width = table.cells.shape[1]
    if labels is not None:
        X, _, names = _split_target(table, None)
        return X, read_labels(labels, path, len(X), header_mode), names
    t = _column_index(target, table.columns, width)
    if t is None and y is None and need_target:            # and no 'y' in an .npz file
        if table.cells.dtype.kind == "f" and width > 1:    # NumPy files: last column
            t = width - 1
        else:
            raise CLIError("no target column: name it with --target (column name or index) "
                           "or give --labels FILE")
    X, y_column, names = _split_target(table, t)
    return X, (y if t is None else y_column), names


def _all_numbers(y):
    return all(is_number(v) for v in y)


def _as_targets(y, classifier):
    if y is None:
        return None
    text = y.dtype.kind in "US"
    if classifier:
        if text and _all_numbers(y):
            f = y.astype(np.float64)
            return f.astype(np.int64) if np.all(f == np.round(f)) else f
        return y
    if text and not _all_numbers(y):
        raise CLIError("the target of a regressor must be numeric")
    try:
        return np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError):
        raise CLIError("the target of a regressor must be numeric") from None


# ----------------------------------------------------------------------- scaling


def fit_scaling(X, kind):
    """The scaling ``kind`` (``standard``, ``minmax`` or ``none``) learnt on ``X``, as the
    JSON-able dict stored in a model file: ``apply_scaling`` computes
    ``(X - offset) / scale`` (then clips to [0, 1] for ``minmax``)."""
    if kind == "none":
        return {"kind": "none"}
    if kind == "standard":
        scaler = StandardScaler().fit(X)
        return {"kind": kind, "offset": scaler.mean_.tolist(),
                "scale": scaler.scale_.tolist()}
    scaler = MinMaxScaler(clip=True).fit(X)
    return {"kind": kind, "offset": scaler.data_min_.tolist(),
            "scale": scaler.data_range_.tolist(), "clip": True}


def apply_scaling(X, scaling):
    """``X`` scaled as ``fit_scaling`` learnt (``scaling`` from a model file's metadata)."""
    if not scaling or scaling.get("kind") == "none":
        return X
    offset, scale = np.asarray(scaling["offset"]), np.asarray(scaling["scale"])
    if X.shape[1] != len(offset):
        raise CLIError(f"the data has {X.shape[1]} feature columns, but the model was "
                       f"trained on {len(offset)}")
    Z = standardize(X, mean=offset, std=scale)
    return np.clip(Z, 0.0, 1.0) if scaling.get("clip") else Z


# ----------------------------------------------------------------------- commands


def _backend_name(name):
    import deepbio
    if name:
        deepbio.set_backend(name)
    return deepbio.get_backend()


def cmd_demo(args, out):
    """Train a DBN classifier on the bundled breast cancer data; print held-out metrics."""
    from . import DBNClassifier
    from .datasets import load_breast_cancer, train_test_split
    backend = _backend_name(args.backend)
    t0 = time.perf_counter()
    X, y = load_breast_cancer(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, stratify=y,
                                          random_state=args.seed)
    scaling = fit_scaling(Xtr, "minmax")        # Bernoulli visible units want [0, 1]
    Xtr, Xte = apply_scaling(Xtr, scaling), apply_scaling(Xte, scaling)
    clf = DBNClassifier(hidden_layer_sizes=(64, 32), visible="bernoulli", pretrain_epochs=20,
                        max_iter=50, random_state=args.seed, verbose=args.verbose)
    clf.fit(Xtr, ytr)
    report = _classification_report(clf, Xte, yte)
    elapsed = time.perf_counter() - t0
    print("deepbio demo: DBN classifier on the Wisconsin breast cancer data", file=out)
    print(f"  backend            {backend}", file=out)
    print(f"  data               {len(X)} samples x {X.shape[1]} features; stratified "
          f"held-out split: {len(ytr)} train / {len(yte)} test (seed {args.seed})", file=out)
    print("  model              min-max scaling -> RBM 30-64 -> RBM 64-32 (pre-trained "
          "20 epochs each) -> softmax, fine-tuned 50 epochs", file=out)
    print(f"  held-out accuracy  {report['accuracy']:.4f}", file=out)
    print(f"  held-out ROC AUC   {report['roc_auc']:.4f}", file=out)
    print(f"  time               {elapsed:.2f} s", file=out)
    return 0


def _parse_params(items):
    params = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CLIError(f"--param expects NAME=VALUE, got {item!r}")
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = value
    return params


def _check_out_dir(path):
    """Fail before training, not after it, when the model file cannot be written."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise CLIError(f"--out {path} is a directory; give a file name")
    if not os.path.isdir(folder):
        raise CLIError(f"--out {path}: the directory {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise CLIError(f"--out {path}: the directory {folder} is not writable")


def cmd_train(args, out):
    from . import models
    _check_out_dir(args.out)
    if args.plots is not None:
        _check_plots_dir(args.plots)
    _backend_name(args.backend)
    if args.model not in models.REGISTRY:
        raise CLIError(f"unknown model {args.model!r}; choose one of "
                       f"{sorted(models.REGISTRY)}")
    cls = models.REGISTRY[args.model]
    kind = getattr(cls, "_estimator_type", None)
    supervised = kind in ("classifier", "regressor")
    X, y, names = load_xy(args.data, args.target, args.labels, need_target=supervised,
                          header_mode=args.header)
    y = _as_targets(y, kind == "classifier") if supervised else None
    params = _parse_params(args.param)
    if "random_state" in cls._param_names() and "random_state" not in params:
        params["random_state"] = args.seed
    try:
        model = cls(**params)
    except TypeError as e:
        raise CLIError(f"bad --param for {args.model}: {e}") from None
    X_test = y_test = None
    if args.test_size and supervised:
        from .datasets import train_test_split
        strat = y if kind == "classifier" else None
        X, X_test, y, y_test = train_test_split(X, y, test_size=args.test_size,
                                                stratify=strat, random_state=args.seed)
    scaling = fit_scaling(X, args.scale)
    X = apply_scaling(X, scaling)
    t0 = time.perf_counter()
    model.fit(X, y) if supervised else model.fit(X)
    elapsed = time.perf_counter() - t0
    meta = {"scaling": scaling, "feature_names": names, "target": args.target,
            "trained_on": os.path.basename(args.data)}
    models.save(model, args.out, metadata=meta)
    print(f"trained {args.model} on {X.shape[0]} samples x {X.shape[1]} features in "
          f"{elapsed:.2f} s; saved to {args.out}", file=out)
    if X_test is not None:
        report = _report(model, apply_scaling(X_test, scaling), y_test, kind)
        print("held-out " + ", ".join(f"{k} {v:.4f}" for k, v in report.items()), file=out)
    if args.plots is not None:
        test = None if X_test is None else (apply_scaling(X_test, scaling), y_test)
        files = _train_plots(model, kind, test, args.plots)
        print(f"wrote {', '.join(files) or 'no plot'} to {args.plots}", file=out)
    return 0


def _check_plots_dir(path):
    """``--plots DIR`` is checked before training: matplotlib importable, DIR a folder."""
    if not _matplotlib_available():
        raise CLIError('--plots needs matplotlib, which is not installed: pip install '
                       '"deepbio[plot]"')
    if os.path.exists(path) and not os.path.isdir(path):
        raise CLIError(f"--plots {path} is a file; give a folder (it is made if missing)")
    os.makedirs(path, exist_ok=True)


def _train_plots(model, kind, test, folder):
    """``learning_curves.png`` from ``history_``; for a classifier with a held-out set
    (``--test-size``) also ``roc.png`` and ``confusion_matrix.png`` (scikit-learn's
    displays; skipped, said on stderr, without scikit-learn)."""
    from . import plot
    written = []
    hist = getattr(model, "history_", None)
    if hist:
        hf = all(k in hist[0] for k in ("damping", "rho", "cg_iters"))
        fig = _new_figure((10, 7) if hf else (6, 4))
        plot.learning_curves(model, ax=fig if hf else fig.subplots())
        plot.save_figure(fig, os.path.join(folder, "learning_curves.png"))
        written.append("learning_curves.png")
    if kind == "classifier" and test is not None:
        try:
            import sklearn  # noqa: F401
        except ImportError:
            print("deepbio train: scikit-learn is not installed, so roc.png and "
                  'confusion_matrix.png were skipped (pip install "deepbio[plot]")',
                  file=sys.stderr)
            return written
        X_test, y_test = test
        for name, draw in (("roc.png", plot.roc_curve),
                           ("confusion_matrix.png", plot.confusion_matrix)):
            fig = _new_figure((5, 5))
            try:
                draw(model, X_test, y_test, ax=fig.subplots())
            except ValueError as e:          # e.g. one class only in the held-out set
                print(f"deepbio train: {name} skipped: {e}", file=sys.stderr)
                continue
            plot.save_figure(fig, os.path.join(folder, name))
            written.append(name)
    return written


def _report(model, X, y, kind):
    if kind == "classifier":
        return _classification_report(model, X, y)
    return _regression_report(model, X, y)


def _load_model(path):
    from .models import load
    if not os.path.exists(path):
        raise CLIError(f"model file not found: {path}")
    model, meta = load(path, return_metadata=True)
    return model, meta or {}


def _features_for(model, path, meta, target, drop_target, header_mode="auto"):
    """Scaled features ``X`` of a data file and its target ``y`` (None if it has none):
    the target column, found when ``drop_target`` or when the file has one column more
    than the model's features, or else the ``y`` of an ``.npz`` file."""
    table, y = read_data(path, header_mode)
    width = table.cells.shape[1]
    n = model.n_features_in_ if hasattr(model, "n_features_in_") else None
    t = None
    # an .npz file's y is the target, unless --target names a column of its X
    if (drop_target and (y is None or target is not None)) or \
            (n is not None and width == n + 1):
        t = _column_index(target if target is not None else meta.get("target"),
                          table.columns, width)
    X, y_column, _ = _split_target(table, t)
    return apply_scaling(X, meta.get("scaling")), (y if t is None else y_column)


def cmd_predict(args, out):
    _backend_name(args.backend)
    model, meta = _load_model(args.model)
    X, _ = _features_for(model, args.data, meta, args.target, drop_target=False,
                         header_mode=args.header)
    kind = getattr(model, "_estimator_type", None)
    if args.proba:
        if not hasattr(model, "predict_proba"):
            raise CLIError(f"{type(model).__name__} has no class probabilities")
        values, header = model.predict_proba(X), [str(c) for c in model.classes_]
    elif kind in ("classifier", "regressor"):
        values = model.predict(X)
        header = ["prediction"] if values.ndim == 1 else \
            [f"output_{i}" for i in range(values.shape[1])]
    else:
        values = model.transform(X)
        header = [f"feature_{i}" for i in range(values.shape[1])]
    values = np.asarray(values)
    if values.ndim == 1:
        values = values[:, None]
    dest = open(args.out, "w", newline="", encoding="utf-8") if args.out else out
    try:
        writer = csv.writer(dest)
        writer.writerow(header)
        for row in values:
            writer.writerow([f"{v:.8g}" if isinstance(v, (float, np.floating)) else v
                             for v in row])
    finally:
        if args.out:
            dest.close()
    if args.out:
        print(f"wrote {len(values)} predictions to {args.out}", file=out)
    return 0


def cmd_evaluate(args, out):
    _backend_name(args.backend)
    model, meta = _load_model(args.model)
    kind = getattr(model, "_estimator_type", None)
    if kind not in ("classifier", "regressor"):
        raise CLIError(f"{type(model).__name__} is not a classifier or regressor")
    if args.labels:
        X, _ = _features_for(model, args.data, meta, None, drop_target=False,
                             header_mode=args.header)
        y = read_labels(args.labels, args.data, len(X), args.header)
    else:
        X, y = _features_for(model, args.data, meta, args.target, drop_target=True,
                             header_mode=args.header)
        if y is None:
            raise CLIError("no target column found: give --target or --labels")
    y = _as_targets(np.asarray(y).astype(str) if kind == "classifier" else y,
                    kind == "classifier")
    report = _report(model, X, y, kind)
    print(f"{type(model).__name__} on {len(X)} samples: " +
          ", ".join(f"{k} {v:.4f}" for k, v in report.items()), file=out)
    return 0


# ----------------------------------------------------------------------- explain

_FASTA = (".fa", ".fasta", ".fna", ".faa", ".fa.gz", ".fasta.gz", ".fna.gz", ".faa.gz")


def _explain_sequences(model, path, alphabet):
    """``(X, mask)`` of sequences for a sequence model: a FASTA file one-hot encoded in
    the model's alphabet, or an ``.npy`` (N, L, A) / ``.npz`` (``X``, optional ``mask``)
    array."""
    from .datasets import one_hot, read_fasta
    if not os.path.exists(path):
        raise CLIError(f"data file not found: {path}")
    if path.lower().endswith(_FASTA):
        if alphabet == "auto":
            alphabet = {4: "dna", 20: "protein"}.get(model.n_features_in_)
            if alphabet is None:
                raise CLIError(f"the model takes {model.n_features_in_} channels per "
                               f"position, which is no alphabet; give an .npy array")
        seqs = [r.sequence for r in read_fasta(path)]
        return one_hot(seqs, alphabet=alphabet, dtype=np.float64)
    if path.endswith((".npy", ".npz")):
        arrays = load_array(path, as_dict=True)
        if isinstance(arrays, dict):
            if "X" not in arrays:
                raise CLIError(f"{path}: a .npz file must hold an array named 'X' (and "
                               f"optionally 'mask'); found {sorted(arrays)}")
            return arrays["X"], arrays.get("mask")
        return arrays, None
    raise CLIError(f"{path}: sequence data must be FASTA ({', '.join(_FASTA[:4])}) or "
                   f"NumPy (.npy / .npz)")


def _explain_images(path):
    """Images (N, C, H, W) from an ``.npy`` file or the ``X`` of an ``.npz`` file."""
    if not os.path.exists(path):
        raise CLIError(f"data file not found: {path}")
    if not path.endswith((".npy", ".npz")):
        raise CLIError(f"{path}: images must be a NumPy file (.npy, or .npz with 'X') of "
                       f"shape (n_images, channels, height, width)")
    arrays = load_array(path, as_dict=True)
    if isinstance(arrays, dict):
        if "X" not in arrays:
            raise CLIError(f"{path}: a .npz file must hold an array named 'X'; found "
                           f"{sorted(arrays)}")
        return arrays["X"]
    return arrays


def _explain_target(model, spec):
    """``--target`` as the Python API's ``target``: a class label (matched by its text)
    or, for a regressor, an output index."""
    if spec is None:
        return None
    if hasattr(model, "classes_"):
        for c in model.classes_:
            if str(c) == spec:
                return c
        raise CLIError(f"--target {spec!r} is not a class of the model (classes: "
                       f"{[str(c) for c in model.classes_]})")
    try:
        return int(spec)
    except ValueError:
        raise CLIError(f"--target of a regressor is an output index, got {spec!r}") from None


def _matplotlib_available():
    """Whether matplotlib can be imported (the PNG plots are written only then)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _new_figure(size):
    """A matplotlib Figure outside pyplot: no backend, no GUI, nothing left open."""
    from matplotlib.figure import Figure
    return Figure(figsize=size)


#: Saliency tracks drawn by ``deepbio explain`` (the first sequences of the data).
N_SALIENCY = 3


def _letters(alphabet, width):
    """The letters of the one-hot columns: the named alphabet's, or for "auto" DNA (4)
    or protein (20) by width; None when unknown."""
    from .datasets import ALPHABETS
    if alphabet != "auto":
        return ALPHABETS[alphabet][0]
    return {4: "ACGT", 20: ALPHABETS["protein"][0]}.get(width)


def _attributions_csv(A, kind, names=None, mask=None, letters=None):
    """The attributions as CSV text.  Tables: one row per sample, a column per feature
    (``sample`` first, then the feature names).  Sequences: long format, one row per
    real position and letter (``sample,position,letter,attribution``; letters are
    column indices when the alphabet is unknown).  Images: long format
    ``sample,channel,row,column,attribution``."""
    lines = []
    A = np.asarray(A, dtype=np.float64)
    if kind == "table":
        cols = list(names) if names is not None else [f"x{j}" for j in range(A.shape[1])]
        lines.append(",".join(["sample"] + [_csv_field(c) for c in cols]))
        lines += [",".join([str(i)] + [repr(float(v)) for v in row]) for i, row in
                  enumerate(A)]
    elif kind == "sequence":
        width = A.shape[2]
        labels = list(letters) if letters is not None and len(letters) == width else \
            [str(a) for a in range(width)]
        lines.append("sample,position,letter,attribution")
        real = np.ones(A.shape[:2], bool) if mask is None else np.asarray(mask, bool)
        for n, t in zip(*np.nonzero(real)):
            lines += [f"{n},{t},{labels[a]},{float(A[n, t, a])!r}" for a in range(width)]
    else:
        lines.append("sample,channel,row,column,attribution")
        for idx in np.ndindex(*A.shape):
            lines.append(",".join(map(str, idx)) + f",{float(A[idx])!r}")
    return "\n".join(lines) + "\n"


def _csv_field(text):
    """A CSV field, quoted when it holds a comma, a quote or a line break."""
    text = str(text)
    if any(c in text for c in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _explain_plots(model, kind, X, A, mask, ranking, motifs, alphabet, method, folder):
    """The PNGs of ``deepbio explain``: saliency tracks of the first sequences, the filter
    logos, the gene-ranking bars; each written atomically.  Returns the file names."""
    from . import plot
    written = []

    def save(fig, name):
        plot.save_figure(fig, os.path.join(folder, name))
        written.append(name)

    if kind == "sequence" and A.ndim == 3:
        letters = _letters(alphabet, A.shape[2])
        # a raw gradient is drawn at the letter present (its other letters' entries
        # would be summed in); the other methods' rows already are (ISM: the sum of
        # the mutations' effects)
        track = A * X if method == "gradient" else A
        for i in range(min(N_SALIENCY, len(A))):
            m = None if mask is None else np.asarray(mask[i], dtype=bool)
            n = A.shape[1] if m is None else int(m.sum())
            fig = _new_figure((max(4.0, 0.12 * n + 1.5), 2.2))
            if letters is not None and X.shape[2] == len(letters):
                plot.saliency_track(track[i], sequence=X[i], mask=m, alphabet=letters,
                                    ax=fig.subplots(), title=f"sequence {i}: {method}")
            else:
                plot.saliency_track(track[i], mask=m, ax=fig.subplots(),
                                    title=f"sequence {i}: {method}")
            save(fig, f"saliency_{i}.png")
    if motifs:
        from .plot.sequences import logo_grid_size
        fig = plot.filter_logos(motifs, fig=_new_figure(logo_grid_size(motifs)))
        save(fig, "filter_logos.png")
    if ranking is not None:
        rows = ranking.classes[:6]
        top = min(20, len(ranking.names))
        fig = _new_figure((6 * len(rows), 0.6 + 0.28 * top))
        for ax, cls in zip(np.atleast_1d(fig.subplots(1, len(rows), squeeze=False)).ravel(),
                           rows):
            plot.feature_ranking(ranking, top=top, class_=cls, ax=ax)
        fig.tight_layout()
        save(fig, "genes.png")
    return written


def cmd_explain(args, out):
    """Attributions (NPY and CSV), ranked genes (TSV, table models), filter motifs (MEME,
    sequence CNNs) of a saved model on a data file, into the folder ``--out``."""
    from . import explain
    from .explain._adapter import Explained
    from .explain._files import write_atomic
    _backend_name(args.backend)
    model, meta = _load_model(args.model)
    try:
        kind = Explained(model).kind
    except TypeError as e:
        raise CLIError(str(e)) from None
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise CLIError(f"--out {args.out} is a file; give a folder (it is made if missing)")
    target = _explain_target(model, args.target)
    mask = names = y = None
    if kind == "table":
        table, _ = read_data(args.data, args.header)
        width = table.cells.shape[1]
        t = None
        if args.target_column is not None or width == model.n_features_in_ + 1:
            t = _column_index(args.target_column or meta.get("target"), table.columns,
                              width)
        X, y, names = _split_target(table, t)
        X = apply_scaling(X, meta.get("scaling"))
        names = names or meta.get("feature_names")
        if y is not None and hasattr(model, "classes_"):
            y = _as_targets(np.asarray(y).astype(str), True)
    elif kind == "sequence":
        X, mask = _explain_sequences(model, args.data, args.alphabet)
    else:
        X = _explain_images(args.data)
    A = explain.attributions(model, X, method=args.method, target=target, mask=mask,
                             n_steps=args.n_steps)
    os.makedirs(args.out, exist_ok=True)

    def save_npy(name, array):
        buf = io.BytesIO()
        np.save(buf, np.asarray(array))
        write_atomic(os.path.join(args.out, name), buf.getvalue(), "NPY")
        return name

    written = [save_npy("attributions.npy", A)]
    write_atomic(os.path.join(args.out, "attributions.csv"),
                 _attributions_csv(A, kind, names, mask,
                                   _letters(args.alphabet, A.shape[-1]) if kind == "sequence"
                                   else None), "CSV")
    written.append("attributions.csv")
    if mask is not None:
        written.append(save_npy("mask.npy", np.asarray(mask, dtype=bool)))
    ranking = motifs = None
    if kind == "table":
        method = args.method if args.method != "ism" else "integrated_gradients"
        ranking = explain.rank_features(model, X, names=names, y=y, method=method,
                                        n_steps=args.n_steps)
        ranking.write_tsv(os.path.join(args.out, "genes.tsv"))
        written.append("genes.tsv")
    if kind == "sequence" and type(model).__name__ in ("CNNClassifier", "CNNRegressor"):
        from .datasets import ALPHABETS
        letters = None if args.alphabet == "auto" else ALPHABETS[args.alphabet][0]
        motifs = explain.filter_motifs(model, X, mask=mask, top=args.top, alphabet=letters)
        explain.write_meme(motifs, os.path.join(args.out, "motifs.meme"))
        written.append("motifs.meme")
    if _matplotlib_available():
        written += _explain_plots(model, kind, np.asarray(X, dtype=np.float64), A, mask,
                                  ranking, motifs, args.alphabet, args.method, args.out)
    else:
        print("deepbio explain: matplotlib is not installed, so the PNG plots were skipped "
              '(pip install "deepbio[plot]")', file=sys.stderr)
    print(f"explained {type(model).__name__} on {len(A)} samples ({args.method}); wrote "
          f"{', '.join(written)} to {args.out}", file=out)
    if kind == "table":
        for cls, row in zip(ranking.classes, ranking.order):
            top = ", ".join(ranking.names[g] for g in row[:5])
            print(f"  top features for {cls}: {top}", file=out)
    return 0


def _find_bench():
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for root in (os.getcwd(), here):
        path = os.path.join(root, "bench", "models.py")
        if os.path.exists(path):
            return path
    return None


def cmd_bench(args, out):
    path = _find_bench()
    if path is None:
        raise CLIError("bench/models.py was not found: the benchmarks live in the deepbio "
                       "source checkout (run `deepbio bench` from its root, or "
                       "`python bench/models.py`)")
    from ._threads import show_config
    show_config(file=out)
    import runpy
    argv = sys.argv
    sys.argv = [path] + list(args.bench_args or [])
    try:
        runpy.run_path(path, run_name="__main__")
    except SystemExit as e:
        return int(e.code or 0)
    finally:
        sys.argv = argv
    return 0


# ----------------------------------------------------------------------- parser


def build_parser():
    p = argparse.ArgumentParser(prog="deepbio", description="Classic deep models for "
                                "biomedical data: demo, train, predict, evaluate, explain, "
                                "bench.")
    from . import __version__
    p.add_argument("--version", action="version", version=f"deepbio {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def common(sp):
        sp.add_argument("--backend", help="backend to use (default: DEEPBIO_BACKEND or the "
                                          "fastest installed)")
        sp.add_argument("--seed", type=int, default=0, help="random seed (default 0)")

    def header(sp):
        sp.add_argument("--header", choices=("auto", "yes", "no"), default="auto",
                        help="whether the first row of the CSV / TSV files is a header "
                             "(default auto: when it differs in kind from the rows below)")

    def target_or_labels(sp, target_help):
        # the target is either a column of --data or a separate file, never both
        g = sp.add_mutually_exclusive_group()
        g.add_argument("--target", help=target_help)
        g.add_argument("--labels", help="file with the targets: one column, one per row "
                                        "of --data")

    d = sub.add_parser("demo", help="train a DBN on bundled breast cancer data")
    common(d)
    d.add_argument("--verbose", type=int, default=0)
    d.set_defaults(func=cmd_demo)

    t = sub.add_parser("train", help="train a model on a CSV / NPY file and save it")
    common(t)
    t.add_argument("--model", required=True, help="class name, e.g. DBNClassifier")
    t.add_argument("--data", required=True, help="CSV / TSV / NPY / NPZ file")
    target_or_labels(t, "target column (name or index)")
    header(t)
    t.add_argument("--out", required=True, help="model file to write (.safetensors)")
    t.add_argument("--scale", choices=("standard", "minmax", "none"), default="standard",
                   help="feature scaling learnt on the training data (default standard)")
    t.add_argument("--param", action="append", metavar="NAME=VALUE",
                   help="hyper-parameter (JSON value), repeatable")
    t.add_argument("--test-size", type=float, default=0.0,
                   help="fraction held out to report metrics (default 0: none)")
    t.add_argument("--plots", metavar="DIR",
                   help="folder for learning_curves.png (and roc.png, confusion_matrix.png "
                        "with --test-size for a classifier); needs matplotlib")
    t.set_defaults(func=cmd_train)

    pr = sub.add_parser("predict", help="predict with a saved model")
    common(pr)
    pr.add_argument("--model", required=True)
    pr.add_argument("--data", required=True)
    pr.add_argument("--target", help="target column to drop if present")
    header(pr)
    pr.add_argument("--out", help="CSV file to write (default: standard output)")
    pr.add_argument("--proba", action="store_true", help="class probabilities")
    pr.set_defaults(func=cmd_predict)

    e = sub.add_parser("evaluate", help="metrics of a saved model on labelled data")
    common(e)
    e.add_argument("--model", required=True)
    e.add_argument("--data", required=True)
    target_or_labels(e, "target column (default: as at training)")
    header(e)
    e.set_defaults(func=cmd_evaluate)

    x = sub.add_parser("explain", help="attributions, ranked genes and filter motifs of a "
                                       "saved model on a data file")
    common(x)
    x.add_argument("model", metavar="MODEL", help="model file saved by deepbio train / save")
    x.add_argument("data", metavar="DATA",
                   help="table models: CSV / TSV / NPY / NPZ (scaled as at training); "
                        "sequence models: FASTA or NPY / NPZ (X, mask); image models: NPY")
    x.add_argument("--out", required=True, metavar="DIR",
                   help="folder for attributions.npy (and mask.npy), genes.tsv, "
                        "motifs.meme and, with matplotlib, PNG plots (made if missing)")
    x.add_argument("--method", default="integrated_gradients",
                   choices=("gradient", "gradient_x_input", "integrated_gradients", "ism"))
    x.add_argument("--target", help="class label (regressors: output index) to explain; "
                                    "default: the predicted class")
    x.add_argument("--target-column", help="label column of a table to leave out (and to "
                                           "group the gene ranking by)")
    x.add_argument("--n-steps", type=int, default=50, help="integrated-gradients steps")
    x.add_argument("--top", type=int, default=100, help="most sites per filter motif")
    x.add_argument("--alphabet", choices=("auto", "dna", "rna", "protein"), default="auto",
                   help="alphabet of a FASTA file (default: from the model's channels)")
    header(x)
    x.set_defaults(func=cmd_explain)

    # no -h of its own: `deepbio bench --help` shows bench/models.py's options
    b = sub.add_parser("bench", add_help=False,
                       help="run bench/models.py (from a source checkout); further "
                            "arguments, --help included, go to it (--quick, --repeats N, ...)")
    b.set_defaults(func=cmd_bench)

    # `deepbio course list|show|start|check`: arguments and actions in deepbio/course/
    from .course._cli import add_parser as add_course_parser
    add_course_parser(sub)
    return p


def main(argv=None, out=None):
    """Entry point of the ``deepbio`` console script; returns the exit status."""
    from .backend import BackendError
    out = out or sys.stdout
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command == "bench":
        args.bench_args = extra[1:] if extra[:1] == ["--"] else extra
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return args.func(args, out)
    # FloatingPointError: training diverged (the message suggests a remedy)
    except (CLIError, ValueError, OSError, BackendError, FloatingPointError) as e:
        print(f"deepbio {args.command}: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":     # pragma: no cover
    sys.exit(main())
