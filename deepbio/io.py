"""The model-file container: tensors in safetensors, a JSON document, a digest, one file
written atomically.  Layer 1: this module knows bytes, not estimators.

How an estimator becomes tensors and a document (and back), which classes may be built
and what each one's file must hold is the models layer's business
(:mod:`deepbio.models._persist`, reached as :func:`deepbio.save` / :func:`deepbio.load`).
This module imports nothing from deepbio.

Container (``format_version`` 2; docs/models/files.md)
------------------------------------------------------
One `safetensors <https://github.com/huggingface/safetensors>`_ file: an 8-byte
little-endian header length, a JSON header (the tensor table: name -> ``dtype``,
``shape``, ``data_offsets``; and the string-to-string ``__metadata__``), then the tensor
bytes.  ``__metadata__`` holds::

    {"format": "deepbio",
     "deepbio": "<the JSON document>",             # {"format_version": 2, ...}
     "tensor_digests": "<JSON {name: 'sha256:<hex>'}>",
     "digest": "sha256:<hex>"}

``tensor_digests`` has the SHA-256 of every tensor's bytes; ``digest`` is the SHA-256 of
the file from its first byte to the end of the header, computed with the 64 hex digits
of ``digest`` itself written as zeros.  So ``digest`` covers the header length, the
tensor table (names, dtypes, shapes, offsets), the document, the tensor digests and the
header's padding, and through the tensor digests every tensor byte: an edit anywhere is
detected, and the error says whether the header or which tensor's data changed.  It is
a checksum against corruption and edits, not a signature: whoever can write the file can
recompute it, so the models layer also checks every tensor against the estimator's
schema and every setting as the estimator's constructor would.

``format_version`` 1 files (deepbio 0.1.0) have no digest; they are read without that
check.  A version 2 file without a digest is refused.

:func:`read_container` parses the header itself (no pickle, no code from the file, no
``safetensors`` parsing): the header length must fit the file and stay under
:data:`MAX_HEADER_BYTES`, the JSON must be an object without repeated keys (a nesting too deep
for the parser is refused too), every tensor must have a known dtype, a shape of
non-negative ints and offsets that match its size, and the tensors must tile the data
exactly.  Anything else is a ``ValueError`` naming the file and the problem.

Atomicity: :func:`write_container` writes to a temporary file in the destination's
directory, flushes and ``fsync``s it, then ``os.replace``s it onto the destination, so a
reader sees either the old file or the new one, and a failed write leaves an earlier
file intact.  A symbolic link is followed: the file it points to is replaced and the
link stays.  The new file keeps the permission bits of the file it replaces (its owner
becomes whoever saved it), and a new file gets those ``open(path, "wb")`` would give
(``0o666`` minus the umask).  A missing directory or a destination that is a directory
raises an error naming ``path``.

``deepbio.io.save`` / ``deepbio.io.load`` (deepbio 0.1.0) are deprecated aliases of
:func:`deepbio.save` / :func:`deepbio.load`: they warn (DeprecationWarning) and forward.
"""
import errno
import hashlib
import importlib
import json
import os
import struct
import tempfile
import warnings

import numpy as np

__all__ = ["write_container", "read_container", "FORMAT_VERSION", "MAGIC",
           "MAX_HEADER_BYTES", "DTYPES"]

#: Version written in the document's ``format_version``; versions 1 to this are read.
FORMAT_VERSION = 2
#: The ``__metadata__["format"]`` marker of a deepbio file.
MAGIC = "deepbio"
#: Largest header accepted (the limit the safetensors library applies, 100 MB).
MAX_HEADER_BYTES = 100_000_000

_ALGORITHM = "sha256"
_DIGEST_PLACEHOLDER = _ALGORITHM + ":" + "0" * 64
_METADATA_KEYS = {"format", MAGIC, "digest", "tensor_digests"}

#: safetensors dtype names and their little-endian NumPy dtypes.
DTYPES = {"BOOL": np.dtype("bool"), "U8": np.dtype("u1"), "I8": np.dtype("i1"),
          "U16": np.dtype("<u2"), "I16": np.dtype("<i2"), "F16": np.dtype("<f2"),
          "U32": np.dtype("<u4"), "I32": np.dtype("<i4"), "F32": np.dtype("<f4"),
          "U64": np.dtype("<u8"), "I64": np.dtype("<i8"), "F64": np.dtype("<f8")}
_NAMES = {dt: name for name, dt in DTYPES.items()}


# ------------------------------------------------------------------------- writing


def write_container(path, tensors, document):
    """Write ``tensors`` and ``document`` to ``path`` atomically; return ``path`` (a str).

    Parameters
    ----------
    path : str or os.PathLike
        Destination file; replaced atomically if it exists (keeping its permissions; a
        symbolic link is followed and kept).  Its directory must exist.
    tensors : dict of str -> numpy.ndarray
        Arrays of a dtype in :data:`DTYPES` (bool, ints, floats).
    document : dict
        JSON-able; written with ``"format_version": FORMAT_VERSION`` first (a
        ``format_version`` in ``document`` is replaced).

    Raises
    ------
    ValueError
        If ``document`` is not JSON-serialisable or a tensor has an unsupported dtype.
    FileNotFoundError, IsADirectoryError, PermissionError
        From the file system, naming ``path``.
    """
    import safetensors.numpy

    arrays, digests = {}, {}
    for name, a in tensors.items():
        a = np.asarray(a)
        if a.dtype.newbyteorder("<") not in _NAMES:
            raise ValueError(f"cannot save tensor {name!r}: dtype {a.dtype} is not one of "
                             f"bool, int8-64, uint8-64, float16-64")
        a = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
        arrays[name] = a
        digests[name] = _hash(a.tobytes())
    doc = {"format_version": FORMAT_VERSION}
    doc.update((k, v) for k, v in document.items() if k != "format_version")
    try:
        text = json.dumps(doc, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ValueError(f"cannot save: the document is not JSON-serialisable ({e})") from None
    meta = {"format": MAGIC, MAGIC: text, "tensor_digests": json.dumps(digests, sort_keys=True),
            "digest": _DIGEST_PLACEHOLDER}
    blob = bytearray(safetensors.numpy.save(arrays, metadata=meta))
    (n,) = struct.unpack("<Q", blob[:8])
    needle = json.dumps(_DIGEST_PLACEHOLDER).encode()
    at = blob.find(needle, 8, 8 + n)
    if at < 0 or blob.find(needle, at + 1, 8 + n) >= 0:
        raise RuntimeError("deepbio.io: cannot place the file digest in the header")
    digest = _hash(bytes(blob[:8 + n])).encode()
    blob[at + 1:at + 1 + len(digest)] = digest
    blob = bytes(blob)
    _parse_container(blob, "the file being written")      # never write what we cannot read
    path = os.fspath(path)
    write_atomic(path, blob)
    return path


def _hash(data):
    return _ALGORITHM + ":" + hashlib.sha256(data).hexdigest()


def write_atomic(path, data, action="save the model"):
    """Write ``data`` (bytes) to ``path`` through a temporary file + fsync + os.replace:
    ``path`` holds the old file or the whole new one, never a part.  Errors say
    ``"cannot {action}: ..."``.  Every file deepbio writes goes through here.

    If ``path`` is a symbolic link, the file it points to is replaced and the link is
    kept.  The new file gets the permissions of the file it replaces, or, for a new
    file, those ``open(path, "wb")`` would give (``0o666`` minus the umask).
    """
    target = os.path.realpath(path)       # follow symlinks: replace the file, keep links
    directory = os.path.dirname(target)
    if not os.path.isdir(directory):
        raise FileNotFoundError(errno.ENOENT, f"cannot {action}: the directory "
                                f"{directory!r} does not exist", path)
    if os.path.isdir(target):
        raise IsADirectoryError(errno.EISDIR, f"cannot {action}: the destination is a "
                                f"directory (give a file name)", path)
    mode = _mode_for(target)
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp",
                                   prefix="." + os.path.basename(target) + ".")
    except OSError as e:                  # e.g. no write permission on the directory
        raise type(e)(e.errno, f"cannot {action}: cannot create a temporary file in "
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


# ------------------------------------------------------------------------- reading


def read_container(path):
    """Read a file written by :func:`write_container` (or by deepbio 0.1.0).

    Returns
    -------
    tensors : dict of str -> numpy.ndarray
        Fresh, writable, C-contiguous arrays.
    document : dict
        The JSON document, ``format_version`` included.

    Raises
    ------
    ValueError
        If the file is empty, truncated, not a safetensors file, a safetensors file not
        written by deepbio, of a format version this deepbio does not read, malformed
        in any way (see the module docstring), or edited since it was written (digest).
    """
    path = os.fspath(path)
    with open(path, "rb") as fh:
        data = fh.read()
    return _parse_container(data, path)


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise _DuplicateKey(k)
        out[k] = v
    return out


def _json(text, what, where):
    """``json.loads(text)`` as a dict; ValueError naming ``what`` otherwise."""
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates)
    except _DuplicateKey as e:
        raise ValueError(f"{where} is a corrupt deepbio model file: its {what} repeats the "
                         f"key {str(e)!r}") from None
    except (json.JSONDecodeError, RecursionError):
        raise ValueError(f"{where} is not a valid deepbio model file: its {what} is not JSON "
                         f"(corrupt, or not a safetensors file)") from None
    if not isinstance(value, dict):
        raise ValueError(f"{where} is not a valid deepbio model file: its {what} is not a "
                         f"JSON object")
    return value


def _parse_container(data, where):
    """``(tensors, document)`` from the bytes of a model file (see :func:`read_container`)."""
    if len(data) < 8:
        raise ValueError(f"{where} is not a deepbio model file: it is truncated or empty "
                         f"({len(data)} bytes)")
    (n,) = struct.unpack("<Q", data[:8])
    if n < 2 or n > MAX_HEADER_BYTES or 8 + n > len(data):
        raise ValueError(f"{where} is not a valid deepbio model file: its header length "
                         f"({n} bytes) does not fit the file ({len(data)} bytes; at most "
                         f"{MAX_HEADER_BYTES} allowed); the file is truncated, corrupt or of "
                         f"another format")
    try:
        header_text = data[8:8 + n].decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{where} is not a valid deepbio model file: its header is not JSON "
                         f"(not UTF-8 text)") from None
    header = _json(header_text, "header", where)
    meta = header.get("__metadata__")
    if not isinstance(meta, dict) or meta.get("format") != MAGIC or MAGIC not in meta:
        raise ValueError(f"{where} is a safetensors file but not a deepbio model (no deepbio "
                         f"metadata in its header)")
    if not all(isinstance(v, str) for v in meta.values()):
        raise ValueError(f"{where} is a corrupt deepbio model file: its __metadata__ values "
                         f"must be strings")
    unknown = set(meta) - _METADATA_KEYS
    if unknown:
        raise ValueError(f"{where} is a corrupt deepbio model file: unknown __metadata__ "
                         f"keys {sorted(unknown)} (known: {sorted(_METADATA_KEYS)})")
    if "digest" in meta:
        _check_header_digest(data, n, meta["digest"], where)
    elif "tensor_digests" in meta:
        raise ValueError(f"{where} is a corrupt deepbio model file: it has tensor digests but "
                         f"no file digest")
    table = _tensor_table(header, len(data) - 8 - n, where)
    doc = _json(meta[MAGIC], "configuration (the deepbio document)", where)
    version = doc.get("format_version")
    if type(version) is not int or not 1 <= version <= FORMAT_VERSION:
        raise ValueError(f"{where} has deepbio file format version {version!r}; this deepbio "
                         f"reads versions 1 to {FORMAT_VERSION} (upgrade deepbio)")
    if version >= 2 and "digest" not in meta:
        raise ValueError(f"{where} is a corrupt deepbio model file: a format version "
                         f"{version} file must carry a digest, and this one has none (edited?)")
    start = 8 + n
    if "digest" in meta:
        digests = _json(meta["tensor_digests"], "tensor digests", where) \
            if "tensor_digests" in meta else None
        if digests is None or set(digests) != set(table):
            raise ValueError(f"{where} is a corrupt deepbio model file: its tensor digests do "
                             f"not list exactly its tensors")
        for name, (_, _, begin, end) in table.items():
            found = _hash(data[start + begin:start + end])
            if digests[name] != found:
                raise ValueError(f"{where} was modified or corrupted after it was saved: the "
                                 f"data of tensor {name!r} does not match its digest "
                                 f"(expected {digests[name]!s:.80}, found {found})")
    tensors = {}
    for name, (dtype, shape, begin, end) in table.items():
        a = np.frombuffer(data, dtype=dtype, count=(end - begin) // dtype.itemsize,
                          offset=start + begin)
        if dtype.kind == "b" and a.size and not np.isin(a.view(np.uint8), (0, 1)).all():
            raise ValueError(f"{where} is a corrupt deepbio model file: the BOOL tensor "
                             f"{name!r} holds bytes other than 0 and 1")
        tensors[name] = a.reshape(shape).astype(dtype.newbyteorder("="), copy=True)
    return tensors, doc


def _check_header_digest(data, n, digest, where):
    """ValueError unless ``digest`` is the SHA-256 of the file's first ``8 + n`` bytes
    with the digest's hex digits written as zeros."""
    if not (digest.startswith(_ALGORITHM + ":") and len(digest) == len(_DIGEST_PLACEHOLDER)
            and all(c in "0123456789abcdef" for c in digest[len(_ALGORITHM) + 1:])):
        raise ValueError(f"{where} is a corrupt deepbio model file: its digest is not a "
                         f"{_ALGORITHM} digest ({digest[:80]!r})")
    head = data[:8 + n]
    needle = json.dumps(digest).encode()
    at = head.find(needle)
    if at < 0 or head.find(needle, at + 1) >= 0:
        raise ValueError(f"{where} is a corrupt deepbio model file: its digest is not written "
                         f"once, verbatim, in its header")
    blank = head[:at] + json.dumps(_DIGEST_PLACEHOLDER).encode() + head[at + len(needle):]
    found = _hash(blank)
    if found != digest:
        raise ValueError(f"{where} was modified or corrupted after it was saved: its header "
                         f"(the configuration or the tensor table: names, dtypes, shapes, "
                         f"offsets) does not match its digest (expected {digest}, found "
                         f"{found})")


def _tensor_table(header, data_size, where):
    """``{name: (dtype, shape, begin, end)}`` from the header, every entry checked, the
    tensors tiling the ``data_size`` data bytes exactly."""
    table = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        bad = f"{where} is a corrupt deepbio model file: bad entry for tensor {name!r}"
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise ValueError(f"{bad} (it must have exactly dtype, shape and data_offsets)")
        dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if not isinstance(dtype, str) or dtype not in DTYPES:
            raise ValueError(f"{bad}: dtype {dtype!r:.40} is not one of {sorted(DTYPES)}")
        if not (isinstance(shape, list) and all(type(s) is int and s >= 0 for s in shape)):
            raise ValueError(f"{bad}: shape {shape!r:.80} is not a list of ints >= 0")
        if not (isinstance(offsets, list) and len(offsets) == 2
                and all(type(o) is int for o in offsets) and 0 <= offsets[0] <= offsets[1]):
            raise ValueError(f"{bad}: data_offsets {offsets!r:.80} are not [begin, end] with "
                             f"0 <= begin <= end")
        size = DTYPES[dtype].itemsize
        for s in shape:
            size *= s
        if offsets[1] - offsets[0] != size:
            raise ValueError(f"{bad}: its data_offsets {offsets} span {offsets[1] - offsets[0]} "
                             f"bytes, but {dtype} {tuple(shape)} needs {size}")
        table[name] = (DTYPES[dtype], tuple(shape), offsets[0], offsets[1])
    end = 0
    for name, (_, _, begin, stop) in sorted(table.items(), key=lambda kv: kv[1][2:]):
        if begin != end:
            raise ValueError(f"{where} is a corrupt deepbio model file: tensor {name!r} starts "
                             f"at byte {begin} of the data, expected {end} (tensors must "
                             f"follow one another with no gap or overlap)")
        end = stop
    if end != data_size:
        raise ValueError(f"{where} is a corrupt or truncated deepbio model file: its tensors "
                         f"take {end} bytes, the file holds {data_size} after the header")
    return table


# --------------------------------------------------------------- deprecated aliases


def __getattr__(name):
    # deepbio 0.1.0 had save / load here.  They are estimator-level functions, which
    # live in the models layer now; these aliases reach it only when used (the one
    # reference from this module to a higher layer, kept for compatibility and made by
    # name so that importing deepbio.io never imports the models).
    if name in ("save", "load"):
        warnings.warn(f"deepbio.io.{name} is deprecated since deepbio 0.2 and will be removed; "
                      f"use deepbio.{name} (deepbio.io now holds only the file container)",
                      DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module("deepbio.models._persist"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
