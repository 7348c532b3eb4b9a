"""Fuzz every kernel entry point of the contract through its validation layer.

The input picks a kernel, a backend (numpy and cython; ``DEEPBIO_FUZZ_BACKENDS`` names
others), a float dtype and the sizes; valid arguments are built as the kernel tests do
(tests/kernels/_examples.py), then up to four mutations spoil them: NaN / inf / huge /
subnormal values, another dtype (ints, float16, complex, bool, object), one axis more or
less, an empty axis, a non-contiguous view, a shape drawn at random, a list, a scalar,
None or a string instead of an array, and options out of range or of the wrong type.
Documented: the validation errors, TypeError and ValueError.  A crash, a hang, any
other exception, or an output of the wrong shape or dtype for a call that passed
validation is a finding."""
import collections
import os

import numpy as np

import deepbio.backend
from deepbio._kernels import ACTIVATIONS, CONTRACT

from ._common import Bytes, run

EXPECTED = (TypeError, ValueError)
NAMES = sorted(CONTRACT)
BACKENDS = tuple(os.environ.get("DEEPBIO_FUZZ_BACKENDS", "numpy,cython").split(","))
SIZE_KEYS = ("N", "D", "H", "T", "C", "F", "IH", "IW", "KH", "KW", "SH", "SW", "PH", "PW",
             "L", "K", "S", "P")
SPECIAL = (np.nan, np.inf, -np.inf, 1e308, -1e308, 5e-324, 1e38, 0.0, -0.0)
#: How calls ended ("ran" / "refused" / "not built"), for bench/fuzz.py's report.
OUTCOMES = collections.Counter()
DTYPES = ("int64", "int32", "float16", "float32", "float64", "complex128", "bool", "object",
          "uint8")
OPTION_VALUES = (-1, 0, 1, 2, 3, 7, 1.5, -0.5, 0.0, 1.0, float("nan"), float("inf"), "x",
                 "relu", None, True, False, (1,), (0, 2), (2, 2, 2), (1, -1), [1, 1],
                 2**31, 2**63, 2**64, -2**63, "float16", "int64", np.float64, 1 + 2j)


def _kernels(name):
    return deepbio.backend.get(name).kernels


def _mutate(p, args, name, rng):
    spec = CONTRACT[name]
    keys = sorted(args)
    if not keys:
        return
    k = p.pick(keys)
    v = args[k]
    kind = p.int(0, 9)
    if k in spec.options or not isinstance(v, np.ndarray):
        args[k] = p.pick(OPTION_VALUES) if kind < 8 else p.pick(ACTIVATIONS)
        return
    if kind == 0 and v.size:                              # special values
        flat = v.astype(np.float64 if v.dtype.kind != "f" else v.dtype).ravel().copy()
        for _ in range(p.int(1, 4)):
            flat[p.int(0, flat.size - 1)] = p.pick(SPECIAL)
        with np.errstate(all="ignore"):
            args[k] = flat.astype(v.dtype).reshape(v.shape)
    elif kind == 1:                                       # another dtype
        dt = p.pick(DTYPES)
        with np.errstate(all="ignore"):
            args[k] = v.astype(dt)
    elif kind == 2:                                       # one axis more
        args[k] = v[None] if p.bool() else v[..., None]
    elif kind == 3 and v.ndim:                            # one axis less
        # Explicit sizes, not -1: reshape(..., -1) of a size-0 array is ambiguous (a
        # ValueError from NumPy, i.e. from the harness, not the kernel).
        if v.ndim > 1:
            args[k] = v.reshape(v.shape[:-2] + (v.shape[-2] * v.shape[-1],))
        else:
            args[k] = v[0] if v.size else np.zeros((), v.dtype)
    elif kind == 4:                                       # an empty axis
        ax = p.int(0, max(v.ndim - 1, 0))
        args[k] = np.take(v, [], axis=ax) if v.ndim else v
    elif kind == 5 and v.ndim:                            # non-contiguous
        ax = p.int(0, v.ndim - 1)
        args[k] = np.repeat(v, 2, axis=ax)[(slice(None),) * ax + (slice(None, None, 2),)]
    elif kind == 6:                                       # a random shape
        shape = tuple(p.int(0, 5) for _ in range(p.int(0, 5)))
        args[k] = rng.standard_normal(shape).astype(v.dtype) if v.dtype.kind == "f" \
            else rng.integers(-3, 40, shape).astype(v.dtype)
    elif kind == 7:                                       # not an array
        args[k] = p.pick((v.tolist(), None, 1.0, "array", v.astype(np.float64).tobytes()))
    elif kind == 8 and v.dtype.kind == "i" and v.size:    # indices anywhere
        w = v.copy().ravel()
        w[p.int(0, w.size - 1)] = p.pick((-1, -2**62, 2**62, 10**6, 0))
        args[k] = w.reshape(v.shape)
    elif kind == 9:                                       # transposed (F-order)
        args[k] = np.asfortranarray(v) if v.ndim > 1 else v.T


def TestOneInput(data):
    from tests.kernels._examples import make_args
    p = Bytes(data)
    name = p.pick(NAMES)
    backend = p.pick(BACKENDS)
    dtype = p.pick(("float32", "float64"))
    n_mut = p.int(0, 4)
    dims = {k: p.int(0 if k.startswith("P") else 1, 6) for k in SIZE_KEYS if p.bool()}
    if p.bool():
        dims["activation"] = p.pick(ACTIVATIONS)
    rng = np.random.default_rng(p.int(0, 2**16))
    try:
        args = make_args(name, dtype, rng, dims)
    except Exception:             # sizes the test builder cannot make valid: no call
        OUTCOMES["not built"] += 1
        return
    for _ in range(n_mut):
        _mutate(p, args, name, rng)
    kernel = getattr(_kernels(backend), name)
    try:
        out = kernel(**args)
    except EXPECTED:
        OUTCOMES["refused"] += 1
        return
    OUTCOMES["ran"] += 1
    outs = out if isinstance(out, tuple) else (out,)
    arrays = [a for a in args.values() if isinstance(a, np.ndarray) and a.dtype.kind == "f"]
    want = arrays[0].dtype if arrays else np.dtype(args.get("dtype", dtype))
    for o in outs:
        if o is None:
            continue
        o = np.asarray(o)
        assert o.dtype in (want, np.int64), (name, backend, o.dtype, want)


if __name__ == "__main__":
    run(TestOneInput)
