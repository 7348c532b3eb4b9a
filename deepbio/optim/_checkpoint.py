"""Training checkpoints: the files behind ``fit(..., checkpoint=PATH, checkpoint_every=K)``
and ``fit(..., resume=PATH)`` (docs/reliability.md, *Checkpoint and resume*).

A checkpoint is a model-file container (:func:`deepbio.io.write_container`: safetensors
tensors, a JSON document, SHA-256 digests of both, checked when read) holding whatever
the training loop needs to go on exactly where it was: the weights, the optimiser's state
(momentum / Adam moments / RMSprop averages and step count; Hessian-free's damping and CG
warm start), the position of every random generator (NumPy ``bit_generator.state``,
Philox stream offsets), the epoch and the early-stopping bookkeeping.

Writing (:func:`save`): the new file goes to ``PATH.tmp`` (itself written through a
temporary file, ``fsync`` and rename), the current ``PATH`` becomes ``PATH.prev``, then
``PATH.tmp`` becomes ``PATH``; the directory is ``fsync``-ed.  A kill at any moment leaves
``PATH`` or ``PATH.prev`` complete.  Reading (:func:`load`): ``PATH``; if it is missing,
truncated or fails its digest, ``PATH.prev`` with a :class:`CheckpointWarning`; neither
readable is a ``ValueError`` naming both.
"""
import hashlib
import math
import os
import warnings

import numpy as np

from .. import backend as _backend
from .. import io as _io
from .._random import PhiloxStream

__all__ = ["CheckpointWarning", "save", "load", "check_paths", "rng_state", "set_rng_state",
           "streams_of", "set_streams", "data_digest", "to_json", "from_json"]

KIND = "deepbio-checkpoint"
VERSION = 1


class CheckpointWarning(UserWarning):
    """A checkpoint could not be read and the previous one (``PATH.prev``) was used."""


def check_paths(checkpoint, checkpoint_every, resume):
    """Validate ``fit``'s checkpoint arguments; return them (paths as str or None)."""
    for name, value in (("checkpoint", checkpoint), ("resume", resume)):
        if value is not None and not isinstance(value, (str, os.PathLike)):
            raise TypeError(f"{name} must be a file path (str or os.PathLike) or None, got "
                            f"{type(value).__name__}")
    if isinstance(checkpoint_every, bool) or not isinstance(checkpoint_every,
                                                            (int, np.integer)) \
            or checkpoint_every < 1:
        raise ValueError(f"checkpoint_every must be an int >= 1, got {checkpoint_every!r}")
    if resume is not None:
        resume = os.fspath(resume)
        if not (os.path.exists(resume) or os.path.exists(resume + ".prev")):
            raise ValueError(f"resume={resume!r}: no such checkpoint (nor {resume + '.prev'!r})")
    if checkpoint is not None:
        checkpoint = os.fspath(checkpoint)
        directory = os.path.dirname(os.path.abspath(checkpoint))
        if not os.path.isdir(directory):
            raise ValueError(f"checkpoint={checkpoint!r}: the directory {directory!r} does "
                             f"not exist")
    return checkpoint, int(checkpoint_every), resume


# ------------------------------------------------------------------------- files


def save(path, tensors, document):
    """Write a checkpoint to ``path``, keeping the one it replaces as ``path.prev``."""
    path = os.fspath(path)
    tmp, prev = path + ".tmp", path + ".prev"
    doc = {"kind": KIND, "checkpoint_version": VERSION}
    doc.update(document)
    _io.write_container(tmp, {k: np.asarray(v) for k, v in tensors.items()}, doc)
    if os.path.exists(path):
        os.replace(path, prev)
    os.replace(tmp, path)
    try:                                  # make the renames durable (POSIX)
        fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


def _read(path):
    tensors, doc = _io.read_container(path)
    if doc.get("kind") != KIND:
        raise ValueError(f"{path!r} is a deepbio file but not a training checkpoint "
                         f"(a saved model? load it with deepbio.load)")
    if doc.get("checkpoint_version") != VERSION:
        raise ValueError(f"{path!r}: checkpoint version {doc.get('checkpoint_version')!r} "
                         f"is not {VERSION}, the one this deepbio reads")
    return tensors, doc


def load(path):
    """``(tensors, document)`` of the checkpoint ``path``, or of ``path.prev`` (with a
    :class:`CheckpointWarning`) when ``path`` is missing or unreadable."""
    path = os.fspath(path)
    try:
        return _read(path)
    except (OSError, ValueError) as err:
        first = err
    prev = path + ".prev"
    try:
        out = _read(prev)
    except (OSError, ValueError) as err:
        raise ValueError(f"resume={path!r}: no readable checkpoint: {path!r}: {first}; "
                         f"{prev!r}: {err}") from None
    warnings.warn(f"checkpoint {path!r} is unreadable ({first}); resuming from the previous "
                  f"checkpoint {prev!r} (epoch {out[1].get('epoch')})", CheckpointWarning,
                  stacklevel=4)
    return out


# ----------------------------------------------------------------- random state


def rng_state(rng):
    """The position of a NumPy generator (``bit_generator.state``, JSON-able)."""
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"checkpoints need a numpy.random.Generator as the training "
                         f"generator; the active backend uses {type(rng).__name__}")
    return to_json(rng.bit_generator.state)


def set_rng_state(rng, state):
    """Move ``rng`` to the position :func:`rng_state` recorded."""
    rng.bit_generator.state = from_json(state)


def streams_of(network):
    """``[[layer index, offset], ...]`` for the layers of ``network`` that draw from their
    own Philox stream (dropout)."""
    out = []
    for i, layer in enumerate(getattr(network, "layers", ())):
        s = getattr(layer, "_rng", None)
        if isinstance(s, PhiloxStream):
            out.append([i, [str(s.seed), str(s.stream), str(s.offset)]])
    return out


def set_streams(network, streams, where):
    """Put the Philox streams :func:`streams_of` recorded back into ``network``'s layers."""
    layers = list(getattr(network, "layers", ()))
    for i, (seed, stream, offset) in streams:
        s = getattr(layers[i], "_rng", None) if i < len(layers) else None
        if not isinstance(s, PhiloxStream):
            raise ValueError(f"{where}: the checkpoint's random streams do not match this "
                             f"network (layer {i} draws none); resume with the same model "
                             f"settings")
        s.seed, s.stream, s.offset = int(seed), int(stream), int(offset)


def data_digest(*arrays):
    """SHA-256 of the training arrays (shapes, dtypes, bytes), to refuse resuming on
    other data."""
    be = _backend.current()
    h = hashlib.sha256()
    for a in arrays:
        if a is None:
            h.update(b"none")
            continue
        a = np.ascontiguousarray(be.to_numpy(a))
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return "sha256:" + h.hexdigest()


# ------------------------------------------------------------------------ JSON


def to_json(obj):
    """``obj`` with non-finite floats, big ints and NumPy scalars made JSON-safe."""
    if isinstance(obj, dict):
        return {str(k): to_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_json(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        v = int(obj)
        return v if abs(v) < 2**53 else {"__int__": str(v)}
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        return v if math.isfinite(v) else {"__float__": repr(v)}
    return obj


def from_json(obj):
    """Undo :func:`to_json`."""
    if isinstance(obj, dict):
        if set(obj) == {"__int__"}:
            return int(obj["__int__"])
        if set(obj) == {"__float__"}:
            return float(obj["__float__"])
        return {k: from_json(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [from_json(v) for v in obj]
    return obj


# --------------------------------------------------------- an optimiser's loop


def write(path, optimizer, network, digest, epoch, done, history, loop, best_theta=None):
    """Save the state of ``optimizer.minimize`` after ``epoch`` (0-based) to ``path``.

    ``loop``: the loop's own JSON-able bookkeeping (early stopping); ``best_theta``: the
    early-stopping copy of the weights, if any; ``done``: training ended here (a resume
    then returns at once)."""
    be = _backend.current()
    inner = getattr(network, "network", network)
    arrays, values = optimizer._checkpoint_state()
    tensors = {"theta": be.to_numpy(network.get_flat())}
    if best_theta is not None:
        tensors["best_theta"] = be.to_numpy(best_theta)
    tensors.update({f"optimizer/{k}": be.to_numpy(v) for k, v in arrays.items()})
    save(path, tensors, {
        "optimizer": type(optimizer).__name__, "epoch": int(epoch), "done": bool(done),
        "n_params": int(tensors["theta"].size), "data": digest,
        "rng": rng_state(optimizer._get_rng()), "streams": streams_of(inner),
        "optimizer_state": to_json(values), "loop": to_json(loop),
        "history": to_json(history)})


def restore(path, optimizer, network, digest):
    """Load the checkpoint ``path`` (or its ``.prev``) into ``network`` and
    ``optimizer``; return ``(next_epoch, done, history, loop, best_theta)``.

    ValueError naming ``resume`` if the checkpoint is of another optimiser, another
    number of parameters or other training data."""
    be = _backend.current()
    tensors, doc = load(path)
    where = f"resume={os.fspath(path)!r}"
    name = type(optimizer).__name__
    if doc["optimizer"] != name:
        raise ValueError(f"{where}: the checkpoint was written by the {doc['optimizer']} "
                         f"optimiser, this fit trains with {name}")
    theta = network.get_flat()
    if doc["n_params"] != int(theta.size):
        raise ValueError(f"{where}: the checkpoint has {doc['n_params']} parameters, this "
                         f"network {int(theta.size)}; resume with the same model settings")
    if doc["data"] != digest:
        raise ValueError(f"{where}: the checkpoint was written for other training data "
                         f"(X, y differ); resume with the data it was trained on")
    network.set_flat(be.asarray(tensors["theta"], theta.dtype))
    prefix = "optimizer/"
    arrays = {k[len(prefix):]: be.asarray(v) for k, v in tensors.items()
              if k.startswith(prefix)}
    optimizer._restore_checkpoint(arrays, from_json(doc["optimizer_state"]), theta.dtype)
    set_rng_state(optimizer._get_rng(), doc["rng"])
    set_streams(getattr(network, "network", network), doc["streams"], where)
    best = tensors.get("best_theta")
    best = None if best is None else be.asarray(best, theta.dtype)
    return (doc["epoch"] + 1, doc["done"], from_json(doc["history"]), from_json(doc["loop"]),
            best)
