"""Model files: tensors in safetensors, configuration in JSON, one file, written atomically.

File format (``format_version`` 1)
----------------------------------
One `safetensors <https://github.com/huggingface/safetensors>`_ file (the suggested
extension is ``.safetensors``).  The tensors are the model's learnt arrays, named by
attribute path (``W_``, ``coefs_.0``, ``rbms_.1/W_``); the safetensors header's
string-to-string ``__metadata__`` holds::

    {"format": "deepbio", "deepbio": "<JSON document>"}

and the JSON document is::

    {"format_version": 1, "deepbio_version": "0.1.0",
     "model": {"class": "DBNClassifier",              # a whitelisted class name
               "params": {...},                       # get_params(deep=False)
               "attributes": {...}},                  # fitted attributes (ending in _)
     "metadata": {...}}                               # optional user metadata

Inside ``params`` and ``attributes`` a value is a JSON scalar or list, or one of the
tagged objects ``{"__tensor__": name}`` (an array stored as a tensor),
``{"__array__": [...], "dtype": "str"}`` (labels that are not numbers),
``{"__tuple__": [...]}``, ``{"__dict__": {...}}``, ``{"__float__": "nan"}`` and
``{"__estimator__": {...}}`` (a nested model, same layout as ``model``).

Safety: loading parses the header itself, then hands the bytes to
``safetensors.numpy.load``; it never unpickles and never runs code from the file.  Only
classes listed in :data:`deepbio.models.REGISTRY` can be built, only through their
constructor (which stores arguments and nothing else), and only attributes named like
fitted attributes (``name_``) are set.  A truncated, corrupt or foreign file raises
``ValueError`` saying so.

Atomicity: :func:`save` writes to a temporary file in the destination's directory,
flushes and ``fsync``s it, then ``os.replace``s it onto the destination, so a reader sees
either the old file or the new one, and a failed save leaves an earlier file intact.  A
symbolic link is followed: the file it points to is replaced and the link stays.  The new
file keeps the permission bits of the file it replaces (its owner becomes whoever saved
it), and a new file gets those ``open(path, "wb")`` would give (``0o666`` minus the
umask).  A missing directory or a destination that is a directory raises an error naming
``path``.

Private training state (optimiser velocities, persistent chains, random generators) is
not saved: a loaded model predicts identically, and further ``partial_fit`` calls
restart momentum from zero.
"""
import errno
import json
import math
import os
import struct
import tempfile

import numpy as np

__all__ = ["save", "load", "FORMAT_VERSION"]

FORMAT_VERSION = 1
_MAGIC = "deepbio"


# ------------------------------------------------------------------------ encoding


def _to_numpy(a):
    if isinstance(a, np.ndarray):
        return a
    if hasattr(a, "get"):            # CuPy
        return a.get()
    return np.asarray(a)


def _is_array(v):
    return isinstance(v, np.ndarray) or (hasattr(v, "__array__") and hasattr(v, "shape")
                                         and hasattr(v, "dtype") and not np.isscalar(v))


class _Encoder:
    def __init__(self):
        self.tensors = {}

    def value(self, v, name):
        from .models._base import BaseEstimator
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
        if type(v).__name__ in _optimizers() and isinstance(v, _optimizers()[type(v).__name__]):
            params = {k: self.value(x, f"{name}.{k}") for k, x in v.get_params().items()}
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
            a = _to_numpy(v)
            if a.dtype.kind in "biuf":
                self.tensors[name] = np.ascontiguousarray(a)
                return {"__tensor__": name}
            if a.dtype.kind in "UO" and a.ndim == 1:
                return {"__array__": [self.value(x, name) for x in a.tolist()],
                        "dtype": "str" if a.dtype.kind == "U" else "object"}
            raise ValueError(f"cannot save {name}: arrays of dtype {a.dtype} are not supported")
        if isinstance(v, np.random.Generator):
            return None          # generators are not saved (see the module docstring)
        raise ValueError(f"cannot save {name}: values of type {type(v).__name__} are not "
                         f"supported")

    def estimator(self, est, prefix=""):
        params = {k: self.value(v, f"{prefix}param.{k}")
                  for k, v in est.get_params(deep=False).items()}
        attributes = {}
        for k, v in sorted(vars(est).items()):
            if k.endswith("_") and not k.startswith("_"):
                attributes[k] = self.value(v, prefix + k)
        return {"class": type(est).__name__, "params": params, "attributes": attributes}


def _optimizers():
    """Optimiser classes a model file may name as its ``optimizer`` parameter."""
    from .optim import SGD, HessianFree
    return {"SGD": SGD, "HessianFree": HessianFree}


def _registry():
    from .models import REGISTRY
    return REGISTRY


class _Decoder:
    def __init__(self, tensors):
        self.tensors = tensors

    def value(self, v):
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        if isinstance(v, list):
            return [self.value(x) for x in v]
        if not isinstance(v, dict) or len(v) not in (1, 2):
            raise ValueError(f"corrupt deepbio model file: unexpected value {v!r:.80}")
        if "__tensor__" in v:
            name = v["__tensor__"]
            if name not in self.tensors:
                raise ValueError(f"corrupt deepbio model file: tensor {name!r} is missing")
            return self.tensors[name]
        if "__array__" in v:
            return np.array([self.value(x) for x in v["__array__"]],
                            dtype=object if v.get("dtype") == "object" else None)
        if "__tuple__" in v:
            return tuple(self.value(x) for x in v["__tuple__"])
        if "__dict__" in v:
            return {str(k): self.value(x) for k, x in v["__dict__"].items()}
        if "__float__" in v:
            if v["__float__"] not in ("nan", "inf", "-inf"):
                raise ValueError("corrupt deepbio model file: bad float tag")
            return float(v["__float__"])
        if "__estimator__" in v:
            return self.estimator(v["__estimator__"])
        if "__optimizer__" in v:
            spec = v["__optimizer__"]
            known = _optimizers()
            if not isinstance(spec, dict) or spec.get("class") not in known \
                    or not isinstance(spec.get("params"), dict):
                raise ValueError(f"corrupt deepbio model file: unknown optimiser entry "
                                 f"{spec!r:.80} (known: {sorted(known)})")
            params = {str(k): self.value(x) for k, x in spec["params"].items()}
            try:
                return known[spec["class"]](**params)
            except TypeError as e:
                raise ValueError(f"corrupt deepbio model file: bad optimiser parameters "
                                 f"({e})") from None
        raise ValueError(f"corrupt deepbio model file: unknown tag in {v!r:.80}")

    def estimator(self, tree):
        if not isinstance(tree, dict) or not {"class", "params", "attributes"} <= set(tree):
            raise ValueError("corrupt deepbio model file: model entry lacks class, params or "
                             "attributes")
        registry = _registry()
        name = tree["class"]
        if name not in registry:
            raise ValueError(f"the file holds a model of class {name!r}, which deepbio does not "
                             f"know how to load (known: {sorted(registry)})")
        cls = registry[name]
        allowed = set(cls._param_names())
        params = tree["params"]
        unknown = set(params) - allowed
        if unknown:
            raise ValueError(f"the file's {name} has parameters {sorted(unknown)} that this "
                             f"version of deepbio does not know")
        est = cls(**{k: self.value(v) for k, v in params.items()})
        for k, v in tree["attributes"].items():
            if not (isinstance(k, str) and k.isidentifier() and k.endswith("_")
                    and not k.startswith("_")):
                raise ValueError(f"corrupt deepbio model file: bad attribute name {k!r:.80}")
            if isinstance(getattr(cls, k, None), property):
                continue
            setattr(est, k, self.value(v))
        return est


# --------------------------------------------------------------------------- files


def save(model, path, metadata=None):
    """Save a deepbio estimator to ``path`` atomically (see the module docstring).

    Parameters
    ----------
    model : deepbio estimator
        Fitted or not.  Its class must be in :data:`deepbio.models.REGISTRY`.
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
    FileNotFoundError
        If the directory of ``path`` does not exist.
    IsADirectoryError
        If ``path`` is a directory.
    """
    import safetensors.numpy

    from . import __version__
    from .models._base import BaseEstimator
    if not isinstance(model, BaseEstimator):
        raise TypeError(f"model must be a deepbio estimator, got {type(model).__name__}")
    if type(model).__name__ not in _registry():
        raise ValueError(f"{type(model).__name__} is not a registered deepbio model class")
    enc = _Encoder()
    doc = {"format_version": FORMAT_VERSION, "deepbio_version": __version__,
           "model": enc.estimator(model)}
    if metadata is not None:
        doc["metadata"] = metadata
    try:
        text = json.dumps(doc, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ValueError(f"cannot save: metadata is not JSON-serialisable ({e})") from None
    blob = safetensors.numpy.save(enc.tensors, metadata={"format": _MAGIC, _MAGIC: text})
    path = os.fspath(path)
    _atomic_write(path, blob)
    return path


def _atomic_write(path, data):
    """Write ``data`` to ``path`` through a temporary file + fsync + os.replace.

    If ``path`` is a symbolic link, the file it points to is replaced and the link is
    kept.  The new file gets the permissions of the file it replaces, or, for a new
    file, those ``open(path, "wb")`` would give (``0o666`` minus the umask).
    """
    target = os.path.realpath(path)       # follow symlinks: replace the file, keep links
    directory = os.path.dirname(target)
    if not os.path.isdir(directory):
        raise FileNotFoundError(errno.ENOENT, f"cannot save the model: the directory "
                                f"{directory!r} does not exist", path)
    if os.path.isdir(target):
        raise IsADirectoryError(errno.EISDIR, "cannot save the model: the destination is a "
                                "directory (give a file name)", path)
    mode = _mode_for(target)
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp",
                                   prefix="." + os.path.basename(target) + ".")
    except OSError as e:                  # e.g. no write permission on the directory
        raise type(e)(e.errno, f"cannot save the model: cannot create a temporary file in "
                      f"{directory!r} ({e.strerror})", path) from e
    try:
        if hasattr(os, "fchmod"):         # mkstemp made it 0o600 (fchmod: not on Windows)
            os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:                                  # make the rename itself durable (POSIX)
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def _mode_for(target):
    """Permission bits for the file saved at ``target``: those of the file it replaces,
    or, for a new file, ``0o666`` minus the umask (what ``open(target, "wb")`` gives)."""
    try:
        return os.stat(target).st_mode & 0o777
    except FileNotFoundError:
        return 0o666 & ~_umask()


def _umask():
    """The process's umask.  Linux shows it in /proc/self/status; elsewhere the only way
    to read it is to set a new one, which returns the old one, and set that back at once
    (the umask is shared by all threads, so keep that window tiny)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def _parse_header(data, path):
    """The safetensors header of ``data`` as a dict; ValueError if it is not one."""
    if len(data) < 8:
        raise ValueError(f"{path} is not a deepbio model file: it is truncated or empty "
                         f"({len(data)} bytes)")
    (n,) = struct.unpack("<Q", data[:8])
    if n < 2 or 8 + n > len(data):
        raise ValueError(f"{path} is not a valid deepbio model file: its header length "
                         f"({n} bytes) does not fit the file ({len(data)} bytes); the file is "
                         f"truncated, corrupt or of another format")
    try:
        header = json.loads(data[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError(f"{path} is not a valid deepbio model file: its header is not JSON "
                         f"(corrupt, or not a safetensors file)") from None
    if not isinstance(header, dict):
        raise ValueError(f"{path} is not a valid deepbio model file: bad header")
    return header, 8 + n


def load(path, return_metadata=False):
    """Load an estimator saved by :func:`save`.

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
        If the file is truncated, corrupt, not a safetensors file, a safetensors file
        not written by deepbio, of a newer format version, or names an unknown class.
    """
    import safetensors.numpy
    path = os.fspath(path)
    with open(path, "rb") as fh:
        data = fh.read()
    header, data_start = _parse_header(data, path)
    meta = header.get("__metadata__") or {}
    if not isinstance(meta, dict) or meta.get("format") != _MAGIC or _MAGIC not in meta:
        raise ValueError(f"{path} is a safetensors file but not a deepbio model (no deepbio "
                         f"metadata in its header)")
    end = 0
    for key, info in header.items():
        if key == "__metadata__":
            continue
        try:
            end = max(end, int(info["data_offsets"][1]))
        except (TypeError, KeyError, IndexError, ValueError):
            raise ValueError(f"{path} is a corrupt deepbio model file: bad entry for tensor "
                             f"{key!r}") from None
    if data_start + end != len(data):
        raise ValueError(f"{path} is a corrupt or truncated deepbio model file: expected "
                         f"{data_start + end} bytes, found {len(data)}")
    try:
        doc = json.loads(meta[_MAGIC])
    except json.JSONDecodeError:
        raise ValueError(f"{path} is a corrupt deepbio model file: its configuration is not "
                         f"valid JSON") from None
    if not isinstance(doc, dict) or "model" not in doc:
        raise ValueError(f"{path} is a corrupt deepbio model file: no model entry")
    version = doc.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise ValueError(f"{path} has deepbio file format version {version!r}; this deepbio "
                         f"reads versions 1 to {FORMAT_VERSION} (upgrade deepbio)")
    try:
        tensors = safetensors.numpy.load(data)
    except Exception as e:  # safetensors raises its own error types
        raise ValueError(f"{path} is a corrupt deepbio model file: {e}") from None
    tensors = {k: np.array(v, copy=True, order="C") for k, v in tensors.items()}
    model = _Decoder(tensors).estimator(doc["model"])
    if return_metadata:
        return model, doc.get("metadata")
    return model
