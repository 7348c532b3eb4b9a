"""The ``deepbio`` command line: ``demo``, ``train``, ``predict``, ``evaluate``, ``info``,
``explain``, ``bench``.

::

    deepbio demo                                   # DBN on the bundled breast cancer data
    deepbio train --model DBNClassifier --data train.csv --target diagnosis \\
                  --scale minmax --param hidden_layer_sizes=[64,32] --out model.safetensors
    deepbio predict --model model.safetensors --data new.csv --out predictions.csv
    deepbio evaluate --model model.safetensors --data test.csv --target diagnosis --json
    deepbio info model.safetensors                 # configuration, data SHA-256, version
    deepbio explain model.safetensors test.csv --target-column diagnosis --out explained/
    deepbio bench                                  # runs bench/models.py from a checkout

Data files (read by :func:`deepbio.datasets.read_samples`, labels files by
:func:`deepbio.datasets.read_labels`; ``docs/cli.md`` has the details): CSV / TSV as
pandas, R or a spreadsheet write them (a first column of sample IDs is detected, or
named by ``--index-col``; metadata columns are left out by ``--drop COL`` or
``--drop-non-numeric``; ``--genes-in-rows`` for genes x samples), GCT (with a CLS class
file as ``--labels``), ``.h5ad`` (``--label-key``; the ``[anndata]`` extra), ``.npy`` /
``.npz``; any of them gzip-, bzip2- or xz-compressed.  The target is a column
(``--target NAME`` or 0-based index; default: a column named ``target``, ``label``,
``class`` or ``y``), a separate file (``--labels``: one column, ``ID,label`` pairs joined
on the sample IDs, or a ``.cls`` file), the ``y`` of an ``.npz`` file, or else the last
column of a NumPy file.  ``predict`` and ``evaluate`` write the sample IDs with their
predictions.

``deepbio train --config run.toml`` takes every option (and a ``[params]`` table);
flags override the file.  The model file records the resolved configuration, the
SHA-256 of the training data, the deepbio version and the backend: ``deepbio info
MODEL`` prints them.

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

from .datasets import (MinMaxScaler, StandardScaler, accuracy_score, load_array,
                       mean_squared_error, roc_auc_score, standardize)
from .datasets.tables import is_number

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


def _reading(args, meta=None):
    """The :func:`deepbio.datasets.read_samples` options of the command line; for
    ``predict`` / ``evaluate`` those not given default to the ones recorded at training."""
    rec = (meta or {}).get("reading") or {}

    def pick(name, default):
        v = getattr(args, name, None)
        if v is None or v == [] or v is False:
            return rec.get(name, default)
        return v

    index_col = pick("index_col", "auto")
    if isinstance(index_col, str) and index_col.lower() == "none":
        index_col = None
    return {"index_col": index_col, "drop": list(pick("drop", [])),
            "drop_non_numeric": bool(pick("drop_non_numeric", False)),
            "genes_in_rows": bool(pick("genes_in_rows", False)),
            "label_key": pick("label_key", None), "layer": pick("layer", None)}


def read_samples(path, reading, target="auto", header="auto", require_target=False,
                 missing_target="error", missing_drop="error"):
    """:func:`deepbio.datasets.read_samples` with the command line's errors: the flags
    (``--drop``, ``--drop-non-numeric``) in the message of a non-numeric column, and the
    ``[anndata]`` extra named for an ``.h5ad`` file that cannot be read."""
    from .datasets import NonNumericColumnsError
    from .datasets import read_samples as _read
    if not os.path.exists(path):
        raise CLIError(f"data file not found: {path}")
    try:
        return _read(path, target=target, header=_HEADER[header],
                     require_target=require_target, missing_target=missing_target,
                     missing_drop=missing_drop, **reading)
    except NonNumericColumnsError as e:
        cols = ", ".join(repr(c) if isinstance(c, str) else str(c) for c in e.columns)
        what = "rows" if reading["genes_in_rows"] else "columns"
        import shlex
        first = shlex.quote(str(e.columns[0]))
        raise CLIError(f"{path}: non-numeric {what} {cols} among the features: name the "
                       f"label with --target, leave them out with --drop {first} "
                       f"(repeatable), or drop every non-numeric {what[:-1]} with "
                       f"--drop-non-numeric") from None
    except ImportError as e:
        if strip_compression(path).endswith(".h5ad"):
            raise CLIError(f"{path}: reading .h5ad files needs the [anndata] extra: pip "
                           f"install \"deepbio[anndata]\" ({e})") from None
        raise


def strip_compression(path):
    from .datasets._text import strip_gz
    return strip_gz(path)


def labels_for(path, data_path, samples, n_rows, header="auto"):
    """The ``--labels`` of the data, aligned on the sample IDs when both files have
    them (:func:`deepbio.datasets.read_labels`)."""
    from .datasets import read_labels as _read
    if not os.path.exists(path):
        raise CLIError(f"labels file not found: {path}")
    try:
        y = _read(path, samples=samples, header=_HEADER[header])
    except ValueError as e:
        msg = str(e)
        if "one column" in msg:
            raise CLIError(f"--labels {path} must hold one column of labels (or ID,label "
                           f"pairs): {msg}") from None
        raise
    if len(y) != n_rows:
        raise CLIError(f"--labels {path} has {len(y)} labels but --data {data_path} has "
                       f"{n_rows} rows")
    return y


def load_xy(path, target=None, labels=None, need_target=False, header_mode="auto",
            reading=None):
    """Features ``X`` (float), target ``y`` (or None), feature names and sample IDs.

    ``y``: the ``labels`` file, else the ``target`` column (default: one named ``target``,
    ``label``, ...), else the ``y`` of an ``.npz`` file or the labels of an ``.h5ad``
    file's ``--label-key``, else (if ``need_target``) the last column of a NumPy file."""
    reading = reading or _reading(argparse.Namespace())
    if labels is not None:
        s = read_samples(path, reading, target=None, header=header_mode)
        y = labels_for(labels, path, s.samples, len(s.X), header_mode)
        return s.X, y, s.features, s.samples
    try:
        s = read_samples(path, reading, target="auto" if target is None else target,
                         header=header_mode, require_target=need_target)
    except ValueError as e:
        if "no target" in str(e):
            raise CLIError("no target column: name it with --target (column name or "
                           "index) or give --labels FILE") from None
        if "is not a column" in str(e) and target is not None:
            raise CLIError(f"--target {target!r} is not a column of {path}") from None
        raise
    return s.X, s.y, s.features, s.samples


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


#: The options of ``deepbio train`` that a ``--config`` file may set (its keys, with
#: ``-`` or ``_``), besides the table ``[params]`` of hyper-parameters.
CONFIG_KEYS = ("model", "data", "labels", "target", "out", "header", "scale", "test_size",
               "seed", "backend", "plots", "index_col", "drop", "drop_non_numeric",
               "genes_in_rows", "label_key", "layer", "quiet")
_PATH_KEYS = ("data", "labels", "out", "plots")


def _load_toml(path):
    """The TOML file ``path`` as a dict: ``tomllib`` (Python 3.11+), else ``tomli`` if
    it is installed, else an error saying so."""
    try:
        import tomllib
    except ImportError:                 # pragma: no cover - Python 3.10
        try:
            import tomli as tomllib
        except ImportError:
            raise CLIError("--config needs Python 3.11 (tomllib) or, on Python 3.10, the "
                           "tomli package: pip install tomli") from None
    if not os.path.exists(path):
        raise CLIError(f"config file not found: {path}")
    with open(path, "rb") as fh:
        try:
            return tomllib.load(fh)
        except tomllib.TOMLDecodeError as e:
            raise CLIError(f"--config {path}: not valid TOML ({e})") from None
        except UnicodeDecodeError as e:         # TOML is UTF-8 text
            raise CLIError(f"--config {path}: not valid TOML (not UTF-8 text: byte "
                           f"{e.start})") from None


def read_config(path):
    """``(options, params)`` of a ``deepbio train --config`` TOML file: its top-level
    keys (the long options without ``--``, ``-`` or ``_`` alike; relative paths are taken
    from the config file's folder) and its ``[params]`` table of hyper-parameters."""
    doc = _load_toml(path)
    params = doc.pop("params", {})
    if not isinstance(params, dict):
        raise CLIError(f"--config {path}: 'params' must be a table ([params])")
    options, unknown = {}, []
    folder = os.path.dirname(os.path.abspath(path))
    for key, value in doc.items():
        name = key.replace("-", "_")
        if name not in CONFIG_KEYS:
            unknown.append(key)
            continue
        if name in _PATH_KEYS and isinstance(value, str) and not os.path.isabs(value):
            value = os.path.join(folder, value)
        if name == "drop" and isinstance(value, (str, int)):
            value = [value]
        if name == "index_col" and value is not None:
            value = str(value)
        options[name] = value
    if unknown:
        raise CLIError(f"--config {path}: unknown key(s) {unknown}; the keys are "
                       f"{list(CONFIG_KEYS)} and the table [params]")
    return options, params


def _sha256(path):
    import hashlib
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _show_progress(args):
    """A progress bar only for a person watching: stderr a terminal and no --quiet."""
    return not getattr(args, "quiet", False) and sys.stderr.isatty()


def _mpi_comm(cls, name):
    """``MPI.COMM_WORLD`` when this process was started by ``mpiexec -n P`` (P > 1, read
    from the launcher's environment before mpi4py is imported), else None.  CLIError if
    the model cannot train data-parallel (it has no ``comm`` parameter)."""
    from . import distributed
    if not distributed.launched_by_mpi():
        return None
    if "comm" not in cls._param_names():
        raise CLIError(f"{name} does not train data-parallel (it has no comm parameter; "
                       f"see docs/distributed.md); run it without mpiexec")
    try:
        return distributed.world()
    except ImportError as e:
        raise CLIError(str(e)) from None


def cmd_train(args, out):
    from . import __version__, distributed, models
    for name in ("model", "data", "out"):
        if getattr(args, name) is None:
            raise CLIError(f"--{name} is required (on the command line or in --config)")
    if args.target is not None and args.labels is not None:
        raise CLIError("--target and --labels are mutually exclusive")
    _check_out_dir(args.out)
    if args.plots is not None:
        _check_plots_dir(args.plots)
    backend = _backend_name(args.backend)
    if args.model not in models.REGISTRY:
        raise CLIError(f"unknown model {args.model!r}; choose one of "
                       f"{sorted(models.REGISTRY)}")
    cls = models.REGISTRY[args.model]
    comm = _mpi_comm(cls, args.model)
    rank0 = distributed.rank(comm) == 0
    if not rank0:
        out = open(os.devnull, "w")        # only rank 0 reports
    kind = getattr(cls, "_estimator_type", None)
    supervised = kind in ("classifier", "regressor")
    reading = _reading(args)
    X, y, names, ids = load_xy(args.data, args.target, args.labels, need_target=supervised,
                               header_mode=args.header, reading=reading)
    y = _as_targets(y, kind == "classifier") if supervised else None
    params = dict(getattr(args, "config_params", None) or {})
    params.update(_parse_params(args.param))
    if "random_state" in cls._param_names() and "random_state" not in params:
        params["random_state"] = args.seed
    auto_verbose = ("verbose" in cls._param_names() and "verbose" not in params and
                    _show_progress(args))
    if auto_verbose:
        params["verbose"] = 1              # tqdm bars on a terminal (optim.Progress)
    try:
        model = cls(**params, **({} if comm is None else {"comm": comm}))
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
    n_train = len(X)
    if comm is not None:
        # every rank read the whole file and split it alike; each trains on its shard
        X, y = distributed.shard(X, y, comm) if supervised else (distributed.shard(X, None,
                                                                                   comm), None)
    t0 = time.perf_counter()
    model.fit(X, y) if supervised else model.fit(X)
    elapsed = time.perf_counter() - t0
    if comm is not None:
        model.comm = None                  # not saved, and the reports below are local
        if not rank0:
            return 0                       # rank 0 writes the model and the reports
    if auto_verbose:                       # a terminal's bar is no part of the run
        params.pop("verbose")
        model.verbose = 0
    config = {k: getattr(args, k, None) for k in CONFIG_KEYS if k not in ("quiet",)}
    config.update(backend=backend, params=params)
    config = json.loads(json.dumps(config, default=str))
    trained_on = {"data": os.path.basename(args.data),
                  "data_sha256": _sha256(args.data)}
    if args.labels:
        trained_on.update(labels=os.path.basename(args.labels),
                          labels_sha256=_sha256(args.labels))
    meta = {"scaling": scaling, "feature_names": names, "target": args.target,
            "trained_on": os.path.basename(args.data), "data": trained_on,
            "n_samples": int(n_train + (0 if X_test is None else len(X_test))),
            "reading": reading, "config": config, "deepbio_version": __version__,
            "backend": backend, "elapsed_s": round(elapsed, 3)}
    if comm is not None:
        meta["mpi_ranks"] = comm.Get_size()
    models.save(model, args.out, metadata=meta)
    ranks = "" if comm is None else f" on {comm.Get_size()} MPI ranks"
    print(f"trained {args.model} on {n_train} samples x {X.shape[1]} features{ranks} in "
          f"{elapsed:.2f} s; saved to {args.out}", file=out)
    if X_test is not None:
        report = _report(model, apply_scaling(X_test, scaling), y_test, kind)
        print("held-out " + ", ".join(f"{k} {v:.4f}" for k, v in report.items()
                                      if isinstance(v, float)), file=out)
    if args.plots is not None:
        test = None if X_test is None else (apply_scaling(X_test, scaling), y_test)
        files = _train_plots(model, kind, test, args.plots)
        print(f"wrote {', '.join(files) or 'no plot'} to {args.plots}", file=out)
    return 0


def cmd_info(args, out):
    """What a model file records: class, deepbio version, backend, training data and its
    SHA-256, the resolved configuration (``--json``: all of it as JSON)."""
    from .models._persist import load
    if not os.path.exists(args.model):
        raise CLIError(f"model file not found: {args.model}")
    from . import io as _io
    model, meta = load(args.model, return_metadata=True)
    meta = meta or {}
    _, doc = _io.read_container(args.model)
    saved_by = doc.get("deepbio_version")
    info = {"model": type(model).__name__,
            "deepbio_version": meta.get("deepbio_version", saved_by),
            "backend": meta.get("backend"),
            "data": meta.get("data") or {"data": meta.get("trained_on")},
            "n_samples": meta.get("n_samples"),
            "n_features": getattr(model, "n_features_in_", None),
            "classes": [c.item() if hasattr(c, "item") else c
                        for c in getattr(model, "classes_", [])] or None,
            "target": meta.get("target"),
            "config": meta.get("config")}
    if args.json:
        print(json.dumps(info, indent=2, default=str), file=out)
        return 0
    print(f"{args.model}: {info['model']}", file=out)
    for key in ("deepbio_version", "backend", "n_samples", "n_features", "classes",
                "target"):
        if info[key] is not None:
            print(f"  {key:<16} {info[key]}", file=out)
    for key, value in (info["data"] or {}).items():
        if value is not None:
            print(f"  {key:<16} {value}", file=out)
    if info["config"]:
        print("  config:", file=out)
        for key, value in info["config"].items():
            if key == "params":
                continue
            if value is not None and value != [] and value is not False:
                print(f"    {key} = {json.dumps(value)}", file=out)
        if info["config"].get("params"):
            print("    [params]", file=out)
            for key, value in info["config"]["params"].items():
                print(f"    {key} = {json.dumps(value)}", file=out)
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


def _features_for(model, path, meta, target, drop_target, header_mode="auto",
                  reading=None):
    """Scaled features ``X`` of a data file, its target ``y`` (None if it has none) and
    its sample IDs (None without).  The target column is the one named by ``target`` or
    recorded at training (or one named ``target``, ``label``, ...); it is required when
    ``drop_target``, else left out if the file has it.  The feature names, when both the
    model and the file have them, must match the training's."""
    reading = reading or _reading(argparse.Namespace(), meta)
    spec = target if target is not None else meta.get("target")
    if spec is None:
        spec = "auto"
    try:
        # the training's --drop list may name columns new data no longer has
        s = read_samples(path, reading, target=spec, header=header_mode,
                         missing_target="error" if drop_target else "ignore",
                         missing_drop="ignore")
    except ValueError as e:
        if "is not a column" in str(e) and drop_target:
            raise CLIError(f"no target column {spec!r} in {path}: give --target or "
                           f"--labels") from None
        raise
    trained = meta.get("feature_names")
    if trained and s.features and list(trained) != list(s.features):
        if len(trained) == len(s.features):
            k = next(i for i, (a, b) in enumerate(zip(trained, s.features)) if a != b)
            raise CLIError(f"{path}: feature {k} is {s.features[k]!r}, but the model was "
                           f"trained with {trained[k]!r} there (same names, same order "
                           f"as at training)")
        raise CLIError(f"{path}: {len(s.features)} feature columns, but the model was "
                       f"trained on {len(trained)}")
    return apply_scaling(s.X, meta.get("scaling")), s.y, s.samples, s.index, s.features


def _id_column(index):
    return index if isinstance(index, str) and index else "sample"


def _class_columns(classes, taken):
    """Probability column names: the class names, ``proba_<class>`` where a class name
    would repeat another column's."""
    names = [str(c) for c in classes]
    if set(names) & set(taken) or len(set(names)) < len(names):
        names = [f"proba_{c}" for c in names]
    return names


def _write_csv(path, header, rows, out):
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([f"{v:.8g}" if isinstance(v, (float, np.floating)) else v
                         for v in row])
    if path:
        from .io import write_atomic
        write_atomic(path, buf.getvalue().encode("utf-8"), "write the predictions")
    else:
        out.write(buf.getvalue())


def cmd_predict(args, out):
    _backend_name(args.backend)
    model, meta = _load_model(args.model)
    X, _, ids, index, _ = _features_for(model, args.data, meta, args.target,
                                     drop_target=False, header_mode=args.header,
                                     reading=_reading(args, meta))
    kind = getattr(model, "_estimator_type", None)
    header, columns = [], []
    if ids is not None:
        header.append(_id_column(index))
        columns.append(np.asarray(ids, dtype=object))
    if kind in ("classifier", "regressor"):
        if args.proba and not hasattr(model, "predict_proba"):
            raise CLIError(f"{type(model).__name__} has no class probabilities")
        if args.proba:
            proba = model.predict_proba(X)
            pred = model.classes_[np.argmax(proba, axis=1)]
        else:
            pred = np.asarray(model.predict(X))
        if pred.ndim == 1:
            header.append("prediction")
            columns.append(pred)
        else:
            header += [f"output_{i}" for i in range(pred.shape[1])]
            columns += list(pred.T)
        if args.proba:
            header += _class_columns(model.classes_, header)
            columns += list(proba.T)
    else:
        if args.proba:
            raise CLIError(f"{type(model).__name__} has no class probabilities")
        values = np.asarray(model.transform(X))
        header += [f"feature_{i}" for i in range(values.shape[1])]
        columns += list(values.T)
    rows = zip(*columns)
    _write_csv(args.out, header, rows, out)
    if args.out:
        print(f"wrote {len(X)} predictions to {args.out}", file=out)
    return 0


def _full_classification_report(model, X, y):
    """Accuracy, ROC AUC, per-class precision / recall / F1 / support and the
    confusion matrix (rows: true class, columns: predicted, in ``classes``' order)."""
    from .datasets.metrics import confusion_matrix, precision_recall_f1
    report = _classification_report(model, X, y)
    proba = model.predict_proba(X)
    pred = model.classes_[np.argmax(proba, axis=1)]
    labels = list(model.classes_) + sorted(set(y.tolist()) - set(model.classes_.tolist()))
    p, r, f, support = precision_recall_f1(y, pred, labels=labels)
    report["per_class"] = {str(c): {"precision": float(p[k]), "recall": float(r[k]),
                                    "f1": float(f[k]), "support": int(support[k])}
                           for k, c in enumerate(labels)}
    report["confusion_matrix"] = {"labels": [str(c) for c in labels],
                                  "matrix": confusion_matrix(y, pred, labels=labels)
                                  .tolist()}
    return report, proba, pred


def _print_report(name, n, report, out):
    print(f"{name} on {n} samples: " +
          ", ".join(f"{k} {v:.4f}" for k, v in report.items() if isinstance(v, float)),
          file=out)
    if "per_class" in report:
        width = max(8, max(len(c) for c in report["per_class"]))
        print(f"  {'class':<{width}} precision  recall      f1  support", file=out)
        for c, m in report["per_class"].items():
            print(f"  {c:<{width}} {m['precision']:>9.4f} {m['recall']:>7.4f} "
                  f"{m['f1']:>7.4f} {m['support']:>8d}", file=out)
        cm = report["confusion_matrix"]
        cells = max([len(c) for c in cm["labels"]] +
                    [len(str(v)) for row in cm["matrix"] for v in row])
        print("  confusion matrix (rows: true, columns: predicted)", file=out)
        print("  " + " " * width + " " + " ".join(f"{c:>{cells}}" for c in cm["labels"]),
              file=out)
        for c, row in zip(cm["labels"], cm["matrix"]):
            print(f"  {c:<{width}} " + " ".join(f"{v:>{cells}}" for v in row), file=out)


def cmd_evaluate(args, out):
    _backend_name(args.backend)
    model, meta = _load_model(args.model)
    kind = getattr(model, "_estimator_type", None)
    if kind not in ("classifier", "regressor"):
        raise CLIError(f"{type(model).__name__} is not a classifier or regressor")
    reading = _reading(args, meta)
    if args.labels:
        X, _, ids, index, _ = _features_for(model, args.data, meta, None, drop_target=False,
                                         header_mode=args.header, reading=reading)
        y = labels_for(args.labels, args.data, ids, len(X), args.header)
    else:
        X, y, ids, index, _ = _features_for(model, args.data, meta, args.target,
                                         drop_target=True, header_mode=args.header,
                                         reading=reading)
        if y is None:
            raise CLIError("no target column found: give --target or --labels")
    y = _as_targets(np.asarray(y).astype(str) if kind == "classifier" else y,
                    kind == "classifier")
    if kind == "classifier":
        report, proba, pred = _full_classification_report(model, X, y)
    else:
        report, proba = _regression_report(model, X, y), None
        pred = np.asarray(model.predict(X)).reshape(len(X), -1)[:, 0]
    if args.json:
        print(json.dumps({"model": type(model).__name__, "n_samples": int(len(X)),
                          **report}, indent=2), file=out)
    else:
        _print_report(type(model).__name__, len(X), report, out)
    if args.out:
        header = [_id_column(index)] if ids is not None else []
        header += ["true", "prediction"]
        columns = ([np.asarray(ids, dtype=object)] if ids is not None else []) + [y, pred]
        if proba is not None:
            header += _class_columns(model.classes_, header)
            columns += list(proba.T)
        _write_csv(args.out, header, zip(*columns), out)
        if not args.json:
            print(f"wrote {len(X)} predictions to {args.out}", file=out)
    return 0


# ----------------------------------------------------------------------- explain

#: FASTA names (also compressed: ``.gz``, ``.bz2``, ``.xz``).
_FASTA = (".fa", ".fasta", ".fna", ".faa")


def _explain_sequences(model, path, alphabet):
    """``(X, mask)`` of sequences for a sequence model: a FASTA file one-hot encoded in
    the model's alphabet, or an ``.npy`` (N, L, A) / ``.npz`` (``X``, optional ``mask``)
    array."""
    from .datasets import one_hot, read_fasta
    if not os.path.exists(path):
        raise CLIError(f"data file not found: {path}")
    if strip_compression(path).endswith(_FASTA):
        if alphabet == "auto":
            alphabet = {4: "dna", 20: "protein"}.get(model.n_features_in_)
            if alphabet is None:
                raise CLIError(f"the model takes {model.n_features_in_} channels per "
                               f"position, which is no alphabet; give an .npy array")
        seqs = [r.sequence for r in read_fasta(path)]
        return one_hot(seqs, alphabet=alphabet, dtype=np.float64)
    if strip_compression(path).endswith((".npy", ".npz")):
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


def _attributions_csv(A, kind, names=None, mask=None, letters=None, ids=None):
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
        keys = [str(i) for i in range(len(A))] if ids is None else \
            [_csv_field(i) for i in ids]
        lines += [",".join([k] + [repr(float(v)) for v in row]) for k, row in zip(keys, A)]
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
    mask = names = y = ids = None
    if kind == "table":
        X, y, ids, _, names = _features_for(model, args.data, meta, args.target_column,
                                            drop_target=False, header_mode=args.header)
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
                                   else None, ids=ids), "CSV")
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
                                "biomedical data: demo, train, predict, evaluate, info, explain, "
                                "bench, course.")
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
        g.add_argument("--labels", help="file with the targets: one column (one per row "
                                        "of --data), ID,label pairs (joined on the "
                                        "sample IDs) or a GenePattern .cls file")

    def reading(sp):
        sp.add_argument("--index-col", metavar="N|NAME|none",
                        help="column of sample IDs (0-based index or name; none: no "
                             "IDs); default: the first column when its header is empty "
                             "or its values are distinct text")
        sp.add_argument("--drop", action="append", metavar="COL",
                        help="leave out a (metadata) column, by name or index; repeatable")
        sp.add_argument("--drop-non-numeric", action="store_true", default=None,
                        help="leave out every non-numeric column but the target")
        sp.add_argument("--genes-in-rows", action="store_true", default=None,
                        help="the file is genes x samples (header: sample IDs)")
        sp.add_argument("--label-key", metavar="KEY",
                        help=".h5ad files: the obs column of the labels ([anndata] extra)")
        sp.add_argument("--layer", help=".h5ad files: the layer to read instead of X")

    d = sub.add_parser("demo", help="train a DBN on bundled breast cancer data")
    common(d)
    d.add_argument("--verbose", type=int, default=0)
    d.set_defaults(func=cmd_demo)

    t = sub.add_parser("train", help="train a model on a data file and save it")
    common(t)
    t.add_argument("--config", metavar="TOML",
                   help="run file: every option below (as keys) and a [params] table of "
                        "hyper-parameters; flags override it")
    t.add_argument("--model", help="class name, e.g. DBNClassifier (required)")
    t.add_argument("--data", help="CSV / TSV / GCT / H5AD / NPY / NPZ file, maybe "
                                  "compressed (.gz, .bz2, .xz) (required)")
    target_or_labels(t, "target column (name or index)")
    reading(t)
    header(t)
    t.add_argument("--out", help="model file to write (.safetensors) (required)")
    t.add_argument("--quiet", action="store_true", default=None,
                   help="no progress bar (shown only when stderr is a terminal)")
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
    pr.add_argument("--target", help="target column to drop if present (default: as at "
                                     "training)")
    reading(pr)
    header(pr)
    pr.add_argument("--out", help="CSV file to write: the sample IDs (when the data has "
                                  "them), the prediction (default: standard output)")
    pr.add_argument("--proba", action="store_true",
                    help="also one probability column per class, named by the class")
    pr.set_defaults(func=cmd_predict)

    e = sub.add_parser("evaluate", help="metrics of a saved model on labelled data")
    common(e)
    e.add_argument("--model", required=True)
    e.add_argument("--data", required=True)
    target_or_labels(e, "target column (default: as at training)")
    reading(e)
    header(e)
    e.add_argument("--json", action="store_true", help="the report as JSON")
    e.add_argument("--out", help="CSV of the sample IDs, true labels, predictions and "
                                 "class probabilities")
    e.set_defaults(func=cmd_evaluate)

    i = sub.add_parser("info", help="what a model file records: model, deepbio version, "
                                    "backend, training data SHA-256, configuration")
    i.add_argument("model", metavar="MODEL")
    i.add_argument("--json", action="store_true", help="as JSON")
    i.set_defaults(func=cmd_info)

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
    p.subcommands = {"train": t}
    return p


def _apply_config(parser, argv, options, params):
    """Parse ``argv`` again with the config file's options as the defaults of the
    ``train`` sub-command, so that the flags given win over the file (and ``--param``
    over ``[params]``)."""
    train = parser.subcommands["train"]
    actions = {a.dest: a for a in train._actions}
    for key, value in options.items():
        action = actions[key]
        if action.type in (int, float) and value is not None:
            try:
                if isinstance(value, bool) or (action.type is int and value != int(value)):
                    raise ValueError
                options[key] = action.type(value)
            except (TypeError, ValueError):
                raise CLIError(f"--config: {key} must be {action.type.__name__}, got "
                               f"{value!r}") from None
        if action.choices is not None and options[key] not in action.choices:
            raise CLIError(f"--config: {key} must be one of {list(action.choices)}, got "
                           f"{value!r}")
    train.set_defaults(**options)
    args, extra = parser.parse_known_args(argv)
    args.config_params = params
    return args, extra


def main(argv=None, out=None):
    """Entry point of the ``deepbio`` console script; returns the exit status."""
    from .backend import BackendError
    out = out or sys.stdout
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if getattr(args, "config", None):
        try:
            options, params = read_config(args.config)
            args, extra = _apply_config(parser, argv, options, params)
        except CLIError as e:
            print(f"deepbio {args.command}: error: {e}", file=sys.stderr)
            return 1
    if args.command == "train":
        missing = [f"--{n}" for n in ("model", "data", "out") if getattr(args, n) is None]
        if missing:
            parser.subcommands["train"].error(
                f"the following arguments are required: {', '.join(missing)} (on the "
                f"command line or as keys of --config)")
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
