"""Fuzz ``deepbio.datasets.read_expression`` on CSV, TSV, GCT (and gzip) files.

The first byte picks the file name's extension, a forced ``format``, ``allow_missing``
and ``transpose``; the rest is the file.  Documented: ValueError."""
import numpy as np

import deepbio.datasets as ds

from ._common import run, scratch

EXPECTED = (ValueError,)
SUFFIXES = (".csv", ".tsv", ".gct", ".txt")
FORMATS = (None, "csv", "tsv", "gct")


def TestOneInput(data):
    if not data:
        return
    b, body = data[0], data[1:]
    path = scratch("expr" + SUFFIXES[b & 3])
    with open(path, "wb") as f:
        f.write(body)
    fmt = FORMATS[(b >> 2) & 3]
    allow_missing = bool(b & 16)
    transpose = bool(b & 32) and fmt != "gct"
    try:
        m = ds.read_expression(path, format=fmt, allow_missing=allow_missing,
                               transpose=transpose)
    except EXPECTED:
        return
    X = m.X
    assert isinstance(X, np.ndarray) and X.ndim == 2 and X.dtype == np.float64
    assert X.shape == (len(m.samples), len(m.genes))
    assert not np.isinf(X).any()              # non-finite cells are refused
    if not allow_missing:
        assert not np.isnan(X).any()


if __name__ == "__main__":
    run(TestOneInput)
