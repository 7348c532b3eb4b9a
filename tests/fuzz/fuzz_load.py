"""Fuzz ``deepbio.load`` on hostile model files.  Documented: ValueError.

The first byte picks the mode: even -- the rest is the file as it is (almost every
mutation then fails the digest, which tests the container parser and the digest check);
odd -- the rest is "re-signed" first: if it parses as a safetensors header, its tensor
digests and file digest are recomputed as a forger would, so the mutation reaches the
document decoder and the schema checks behind the digest."""
import hashlib
import json
import struct

import numpy as np

import deepbio

from ._common import run, scratch

EXPECTED = (ValueError,)
PLACEHOLDER = "sha256:" + "0" * 64


def _sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def resign(data):
    """``data`` with valid digests, when its header can be parsed; else unchanged."""
    if len(data) < 8:
        return data
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8 or n > 1 << 20:
        return data
    try:
        header = json.loads(data[8:8 + n])
        meta = header["__metadata__"]
        body = data[8 + n:]
        digests = {}
        for k, v in header.items():
            if k != "__metadata__":
                b, e = v["data_offsets"]
                digests[k] = _sha(body[int(b):int(e)])
        meta["tensor_digests"] = json.dumps(digests, sort_keys=True)
        meta["digest"] = PLACEHOLDER
        text = json.dumps(header).encode()
    except Exception:                       # not parseable: leave the mutation as it is
        return data
    text += b" " * (-len(text) % 8)
    head = struct.pack("<Q", len(text)) + text
    digest = _sha(head)
    head = head.replace(PLACEHOLDER.encode(), digest.encode(), 1)
    return head + body


def TestOneInput(data):
    if not data:
        return
    body = resign(data[1:]) if data[0] & 1 else data[1:]
    path = scratch("model.safetensors")
    with open(path, "wb") as f:
        f.write(body)
    try:
        model, meta = deepbio.load(path, return_metadata=True)
    except EXPECTED:
        return
    # A file that loads is a working model: it can be saved again and reloads.
    again = scratch("again.safetensors")
    deepbio.save(model, again, metadata=meta)
    deepbio.load(again)
    if hasattr(model, "n_features_in_") and isinstance(model.n_features_in_, int) \
            and 0 < model.n_features_in_ <= 64 and hasattr(model, "predict") \
            and getattr(model, "input_shape", None) is None:
        X = np.zeros((2, model.n_features_in_))
        try:
            model.predict(X)
        except EXPECTED:
            pass


if __name__ == "__main__":
    run(TestOneInput)
