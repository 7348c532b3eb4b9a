"""The grading machinery of :mod:`deepbio.course`: loading a solution, calling it safely,
comparing what it returns with deepbio's own implementation, finite differences, and the
result objects.

Nothing here knows any formula: the expected values always come from deepbio itself
(:mod:`deepbio._kernels.reference`, :mod:`deepbio.nn`, :mod:`deepbio.optim`), given to the
grader by each exercise (``_exercises.py``).
"""
import importlib.util
import os
import traceback
from dataclasses import dataclass, field

import numpy as np

#: relative tolerance of a value comparison, by dtype (an implementation may sum in
#: another order than the reference; float32 keeps about 7 digits)
RTOL = {np.dtype(np.float64): 1e-8, np.dtype(np.float32): 1e-4}
#: finite differences: step, and the tolerance of the comparison (float64 only)
FD_EPS = 1e-6
FD_RTOL = 1e-5


class SolutionError(Exception):
    """The solution could not be loaded, or does not define the function asked for."""


@dataclass
class Check:
    """One check's outcome: its ``name`` (what was checked, e.g. ``"values: float32,
    batch 1"``), ``passed``, and when it failed a ``message`` (what went wrong, on which
    inputs, the largest error and where) and a ``hint``."""
    name: str
    passed: bool
    message: str = ""
    hint: str = ""

    def __str__(self):
        if self.passed:
            return f"PASS  {self.name}"
        text = f"FAIL  {self.name}\n      {self.message}"
        if self.hint:
            text += f"\n      hint: {self.hint}"
        return text


@dataclass
class Result:
    """The outcome of :func:`deepbio.course.check`: the ``exercise`` name, where the
    solution came from (``source``) and the list of :class:`Check` in the order run.
    ``passed`` is True when every check passed (and there was at least one)."""
    exercise: str
    source: str
    checks: list = field(default_factory=list)

    @property
    def passed(self):
        return bool(self.checks) and all(c.passed for c in self.checks)

    @property
    def failed(self):
        """The checks that failed."""
        return [c for c in self.checks if not c.passed]

    def __bool__(self):
        return self.passed

    def __getitem__(self, name):
        """The check called ``name`` (KeyError if none)."""
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    def report(self):
        """The text ``deepbio course check`` prints."""
        lines = [f"deepbio course check {self.exercise}: {self.source}"]
        lines += [str(c) for c in self.checks]
        n_ok = sum(c.passed for c in self.checks)
        verdict = "all checks passed" if self.passed else f"{len(self.failed)} failed"
        lines.append(f"{n_ok}/{len(self.checks)} checks passed ({verdict})")
        return "\n".join(lines)

    __str__ = report


# ----------------------------------------------------------------------- loading


def load_solution(solution, function):
    """The callable to grade: ``solution`` itself when callable, else the function named
    ``function`` in the Python file at path ``solution``.  SolutionError otherwise."""
    if callable(solution):
        return solution
    path = os.fspath(solution)
    if not os.path.isfile(path):
        raise SolutionError(f"solution file {path!r} does not exist")
    name = "_deepbio_course_solution_" + os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None:
        raise SolutionError(f"cannot import {path!r}: not a Python file (.py)")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        last = traceback.extract_tb(e.__traceback__)[-1:]
        where = f" (line {last[0].lineno})" if last and last[0].filename == path else ""
        raise SolutionError(f"importing {path} failed{where}: "
                            f"{type(e).__name__}: {e}") from e
    fn = getattr(module, function, None)
    if not callable(fn):
        found = sorted(k for k, v in vars(module).items()
                       if callable(v) and not k.startswith("_")
                       and getattr(v, "__module__", None) == name)
        raise SolutionError(f"{path} defines no function {function!r}"
                            + (f" (it defines {', '.join(found)})" if found else ""))
    return fn


# ----------------------------------------------------------------------- helpers


def describe(inputs):
    """``x (4, 7) float64, activation='tanh'``: the inputs of a call, for messages."""
    parts = []
    for k, v in inputs.items():
        if isinstance(v, np.ndarray):
            parts.append(f"{k} {tuple(v.shape)} {v.dtype}")
        elif callable(v):
            parts.append(f"{k}=<matrix-vector product>")
        else:
            parts.append(f"{k}={v!r}")
    return ", ".join(parts)


def copy_inputs(inputs):
    return {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in inputs.items()}


class CallFailed(Exception):
    """The solution raised; the message says what and where."""


def call(fn, inputs):
    """``fn(**inputs)`` (positionally, in order), with NumPy's overflow, invalid and
    divide-by-zero raising FloatingPointError; any exception becomes CallFailed."""
    try:
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            return fn(*inputs.values())
    except NotImplementedError as e:
        raise CallFailed("the function is not written yet (it raised NotImplementedError"
                         + (f": {e}" if str(e) else "") + ")") from e
    except FloatingPointError as e:
        raise CallFailed(f"NumPy floating-point error: {e} (an overflow, 0/0 or "
                         f"division by zero)") from e
    except Exception as e:
        tb = traceback.extract_tb(e.__traceback__)
        where = f" at line {tb[-1].lineno} of {os.path.basename(tb[-1].filename)}" \
            if tb else ""
        raise CallFailed(f"it raised {type(e).__name__}{where}: {e}") from e


def largest_error(got, expected):
    """``largest error E at index I (got G, expected X); K of M entries are off``."""
    g = np.asarray(got, dtype=np.float64)
    x = np.asarray(expected, dtype=np.float64)
    d = np.abs(g - x)
    d = np.where(np.isnan(d), np.inf, d)
    if d.ndim == 0:
        return f"got {float(g):.6g}, expected {float(x):.6g} (error {float(d):.3g})"
    i = np.unravel_index(int(np.argmax(d)), d.shape)
    return (f"largest error {d[i]:.3g} at index {tuple(int(j) for j in i)} (got "
            f"{g[i]:.6g}, expected {x[i]:.6g})")


def close(got, expected, rtol):
    """Elementwise ``|got - expected| <= rtol (|expected| + max(1, max |expected|))``."""
    g = np.asarray(got, dtype=np.float64)
    x = np.asarray(expected, dtype=np.float64)
    scale = max(1.0, float(np.abs(x).max())) if x.size else 1.0
    ok = np.abs(g - x) <= rtol * (np.abs(x) + scale)
    return bool(np.all(ok & np.isfinite(g))), int((~(ok & np.isfinite(g))).sum())


def compare(got, expected, names, dtype, scalars=()):
    """None when ``got`` matches the ``expected`` outputs (a tuple of arrays named
    ``names``): count, type, shape, dtype and values.  Else ``(what, message)``, ``what``
    one of ``"outputs"``, ``"shape"``, ``"dtype"``, ``"values"``.  Outputs named in
    ``scalars`` may be a Python float or a 0-d array and have no dtype check."""
    if len(names) == 1:
        got = (got,)
    elif not isinstance(got, (tuple, list)) or len(got) != len(names):
        n = len(got) if isinstance(got, (tuple, list)) else f"one {type(got).__name__}"
        return "outputs", (f"expected a tuple of {len(names)} outputs ({', '.join(names)})"
                           f", got {n}")
    for name, g, x in zip(names, got, expected):
        if name in scalars:
            try:
                g = np.asarray(g, dtype=np.float64)
            except (TypeError, ValueError):
                return "outputs", f"{name} should be a number, got {type(g).__name__}"
            if g.shape != ():
                return "shape", f"{name} should be a number (shape ()), got shape {g.shape}"
            ok, _ = close(g, x, RTOL[np.dtype(dtype)])
            if not ok:
                return "values", f"{name}: {largest_error(g, x)}"
            continue
        if not isinstance(g, np.ndarray):
            return "outputs", (f"{name} should be a NumPy array, got {type(g).__name__}")
        if g.shape != x.shape:
            return "shape", f"{name} has shape {g.shape}, expected {x.shape}"
        if g.dtype != x.dtype:
            return "dtype", (f"{name} has dtype {g.dtype}, expected {x.dtype} (the dtype of "
                             f"the inputs)")
        ok, n_bad = close(g, x, RTOL[np.dtype(x.dtype)])
        if not ok:
            return "values", (f"{name}: {largest_error(g, x)}; {n_bad} of {x.size} entries "
                              f"are off")
    return None


GENERIC_HINTS = {
    "outputs": "return exactly the outputs the statement lists, in that order",
    "shape": "compare your result's shape with the statement's shape line; watch for a "
             "sum over the wrong axis, keepdims, or a missing transpose",
    "dtype": "keep the dtype of the inputs: float32 in, float32 out (np.zeros(..., "
             "dtype=x.dtype), .astype(x.dtype); a NumPy float64 scalar or array mixed in "
             "turns a float32 result into float64)",
    "values": "",
    "raised": "",
}


def numerical_gradient(f, x, eps=FD_EPS):
    """Central differences of the scalar function ``f()`` with respect to the float64
    array ``x``, perturbed in place (and restored)."""
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        fp = f()
        x[i] = old - eps
        fm = f()
        x[i] = old
        g[i] = (fp - fm) / (2 * eps)
    return g


def gradient_check(name, fn, inputs, outputs, wrt, scalar, extra=None, hint=""):
    """Compare the solution's outputs (named ``outputs``) on ``inputs`` with central
    differences of ``scalar(arrays)`` with respect to the arrays named in ``wrt`` (a dict
    output name -> array name, float64), ``arrays`` being ``inputs`` and ``extra`` (the
    arrays the scalar needs that the solution does not take); one :class:`Check`."""
    try:
        got = call(fn, copy_inputs(inputs))
    except CallFailed as e:
        return Check(name, False, f"on {describe(inputs)}: {e}", hint)
    got = (got,) if len(outputs) == 1 else tuple(got)
    if len(got) != len(outputs):
        return Check(name, False, f"expected {len(outputs)} outputs", hint)
    work = copy_inputs({**inputs, **(extra or {})})
    for out, arg in wrt.items():
        g = got[outputs.index(out)]
        num = numerical_gradient(lambda: float(scalar(work)), work[arg])
        if not isinstance(g, np.ndarray) or g.shape != num.shape:
            return Check(name, False, f"{out} should have shape {num.shape}", hint)
        ok, n_bad = close(g, num, FD_RTOL)
        if not ok:
            return Check(name, False,
                         f"{out} is not the derivative with respect to {arg} on "
                         f"{describe(inputs)}: against central differences (step "
                         f"{FD_EPS:g}), {largest_error(g, num)}; {n_bad} of {num.size} "
                         f"entries are off", hint)
    return Check(name, True)
