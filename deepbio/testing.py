"""Test utilities: gradient and forward-mode checkers, and a tolerant comparison.

deepbio has no autograd, so every hand-written derivative is checked numerically.  These
helpers are what deepbio's own test-suite runs on every kernel and layer, on every backend;
they are public so that a user writing a new layer can check it the same way::

    from deepbio.testing import check_gradient, random_projection_loss

    loss, (R,) = random_projection_loss(layer_forward(x))      # L = sum(y * R)
    check_gradient(lambda x: loss(layer_forward(x)), {"x": x}, {"x": layer_backward(R)})

The tolerance rule, borrowed from Caffe's gradient checker, is relative with a floor:
an analytic value ``a`` and a numerical one ``n`` agree when

    |a - n| <= rtol * max(|a|, |n|, floor)

so large gradients are compared relatively and tiny ones absolutely (to ``rtol * floor``).
The default floor follows the check's own scale (a fixed floor would make the check
absolute, and blind, for small gradients): ``floor = max(1e-3 * G, noise / rtol)`` with
``G`` the largest ``|a|`` or ``|n|`` of the check and ``noise`` the float64 rounding error
of the difference quotient, ``8 u max(|f(x)| + |f(x+h)| + |f(x-h)|, 1) / h``
(see :func:`check_gradient`).  Steps are relative, ``h = eps * max(1, |x|)``.  Central
differences of a float64 function are accurate to about ``1e-9`` relative here, so the
default ``rtol = 1e-5`` leaves a wide margin while still catching any real error.

Entries that sit on a kink of the function (ReLU at 0, a tie in max pooling) have no
derivative; the checkers skip them.  The caller can name them (``skip`` mask or ``kink``
predicate), and they are also found automatically: at a kink the one-sided differences
``(f(x + h) - f(x)) / h`` and ``(f(x) - f(x - h)) / h`` disagree by far more than the
curvature of a smooth function allows.  That test looks at ``f`` only, never at the
analytic gradient, so a wrong gradient can never be skipped as a kink; and a check in which
most entries are skipped fails, so a function that is non-smooth everywhere cannot pass.
"""
from typing import NamedTuple

import numpy as np

from ._device import to_host

__all__ = ["CheckResult", "check_gradient", "check_rop", "numerical_gradient",
           "random_projection_loss", "assert_close"]


class CheckResult(NamedTuple):
    """What a check compared: entries checked, entries skipped as kinks, worst error.

    ``max_error`` is the largest ``|a - n| / max(|a|, |n|, floor)`` over checked entries.
    """
    checked: int
    skipped: int
    max_error: float


# ------------------------------------------------------------------------- helpers


def _host(a):
    """A NumPy view/copy of a NumPy, CuPy or Numba device array."""
    return to_host(a)


def _require_float64(what, name, a):
    dtype = getattr(a, "dtype", None)
    if dtype is None or np.dtype(dtype) != np.float64:
        raise TypeError(f"{what}: {name} must be a float64 array (finite differences in lower "
                        f"precision are meaningless), got {type(a).__name__} of dtype {dtype}")


def _scalar(what, value):
    """``value`` as a Python float; f must return a scalar (0-d array or number)."""
    v = _host(value) if not isinstance(value, (int, float)) else value
    if np.ndim(v) != 0:
        raise ValueError(f"{what}: f must return a scalar, got an array of shape {np.shape(v)}")
    return float(v)


def _fmt_index(name, idx):
    return f"{name}[{', '.join(map(str, idx))}]" if idx else name


def _entries(shape, max_entries, rng):
    """Every index of ``shape``, or a random sample of ``max_entries`` of them."""
    size = int(np.prod(shape, dtype=np.int64))
    if max_entries is None or max_entries >= size:
        return list(np.ndindex(*shape))
    flat = np.sort(rng.choice(size, size=max_entries, replace=False))
    return [tuple(int(i) for i in np.unravel_index(k, shape)) for k in flat]


_U = np.finfo(np.float64).eps


def _is_kink(fwd, bwd, kink_tol, floor, noise):
    """True when the one-sided slopes disagree: f is not differentiable within [x-h, x+h].

    ``noise`` bounds the rounding error of the slopes (``~ u |f| / h``), so that a flat,
    large ``f`` is not mistaken for a kinked one.
    """
    return abs(fwd - bwd) > kink_tol * max(abs(fwd), abs(bwd), floor) + noise


def _fail(what, failures, checked, rtol, floor, scale):
    rule = (f"floor={floor:g}" if floor is not None else
            f"floor = max({SCALE_FRACTION:g} * gradient scale {scale:.3g}, noise / rtol)")
    lines = [f"{what}: {len(failures)} of {checked} checked entries disagree "
             f"(|analytic - numeric| > rtol * max(|analytic|, |numeric|, floor), "
             f"rtol={rtol:g}, {rule}); worst first:"]
    failures.sort(key=lambda t: -t[4] if not np.isnan(t[4]) else -np.inf)
    for label, a, n, diff, err, fl in failures[:12]:
        lines.append(f"  {label}: analytic {a:.10g}, numeric {n:.10g}, |diff| {diff:.3g} "
                     f"(relative error {err:.3g}, floor {fl:.3g})")
    if len(failures) > 12:
        lines.append(f"  ... and {len(failures) - 12} more")
    raise AssertionError("\n".join(lines))


def _too_many_skipped(what, skipped, total, max_skip_fraction):
    if total == 0:
        raise AssertionError(f"{what}: nothing to check (no entries)")
    if skipped > max_skip_fraction * total or skipped == total:
        raise AssertionError(
            f"{what}: {skipped} of {total} entries were skipped as kinks (more than "
            f"max_skip_fraction={max_skip_fraction:g}); the function looks non-smooth almost "
            f"everywhere, so the check would prove nothing. Move the inputs away from the kinks "
            f"(e.g. distinct values for max pooling, no exact zeros for ReLU).")


# ------------------------------------------------------------------ gradient checks


def _step(x0, eps):
    """The finite-difference step at ``x0``: ``eps`` scaled by ``max(1, |x0|)``.

    A fixed step would vanish in ``x0 + eps`` for large ``|x0|`` (``1e12 + 1e-6 == 1e12``);
    a step relative to ``|x0|`` keeps the same number of significant digits of ``x0`` moving
    at every magnitude.  The differences divide by the steps actually taken
    (``(x0 + h) - x0``), not by ``h``.
    """
    h = eps * max(1.0, abs(x0))
    xp, xm = x0 + h, x0 - h
    if not (xm < x0 < xp) or not np.isfinite(xp - xm):
        raise ValueError(f"finite differences: no usable step of size {h:g} at x = {x0!r} "
                         f"(eps={eps:g})")
    return xp, xm


def numerical_gradient(f, inputs, name, eps=1e-6):
    """Central-difference gradient of the scalar ``f(**inputs)`` with respect to ``inputs[name]``.

    ``g[i] = (f(x + h e_i) - f(x - h e_i)) / 2h`` with ``h = eps * max(1, |x[i]|)``.
    ``inputs`` is not modified.  Returns a float64 NumPy array shaped like ``inputs[name]``.
    """
    arrays = {k: v.copy() for k, v in inputs.items()}
    _require_float64("numerical_gradient", name, arrays[name])
    x = arrays[name]
    g = np.empty(x.shape)
    for idx in np.ndindex(*x.shape):
        x0 = float(x[idx])
        xp, xm = _step(x0, eps)
        x[idx] = xp
        fp = _scalar("numerical_gradient", f(**arrays))
        x[idx] = xm
        fm = _scalar("numerical_gradient", f(**arrays))
        x[idx] = x0
        g[idx] = (fp - fm) / (xp - xm)
    return g


#: the default floor is this fraction of the check's gradient scale (see check_gradient)
SCALE_FRACTION = 1e-3
#: rounding-error bound of the slopes, in units of ``u |f| / h`` (u = float64 epsilon)
_NOISE_UNITS = 8


def _noise(f_abs_sum, h):
    """Bound on the rounding error of a slope ``(f(x+h) - f(x-h)) / 2h`` (and of the one-sided
    ones): each ``f`` value carries an error of a few ulps of the quantities it is computed
    from, taken as ``max(|f(x)| + |f(x+h)| + |f(x-h)|, 1)`` (a loss that cancels to a small
    value, or to exactly 0, still carries the rounding of its order-one terms), divided by
    the step."""
    return _NOISE_UNITS * _U * np.maximum(f_abs_sum, 1.0) / h


def _default_floor(scale, noise, rtol):
    """``max(SCALE_FRACTION * scale, noise / rtol)``, elementwise (see check_gradient)."""
    return np.maximum(SCALE_FRACTION * scale, np.asarray(noise) / rtol)


def _rel_error(diff, a, n, floor):
    den = np.maximum(np.maximum(np.abs(a), np.abs(n)), floor)
    with np.errstate(invalid="ignore", divide="ignore"):
        err = np.where(den > 0, diff / np.where(den > 0, den, 1.0), np.where(diff > 0, np.inf, 0.0))
    # NaN anywhere (analytic or numeric) must fail, never pass
    return np.where(np.isnan(diff), np.nan, err)


def _finite_max(*arrays):
    m = 0.0
    for a in arrays:
        a = np.abs(np.asarray(a, dtype=np.float64))
        a = a[np.isfinite(a)]
        if a.size:
            m = max(m, float(a.max()))
    return m


def check_gradient(f, inputs, analytic, *, eps=1e-6, rtol=1e-5, floor=None, kink_tol=1e-3,
                   skip=None, kink=None, max_entries=None, max_skip_fraction=0.5, seed=0):
    """Check analytic gradients of a scalar function against central differences.

    Parameters
    ----------
    f : callable
        ``f(**inputs)`` returns a scalar (a Python number or a 0-d array).
    inputs : dict of str -> float64 array
        The point at which to differentiate.  Copies are perturbed, never the originals.
    analytic : dict of str -> array
        ``dL/d inputs[name]`` for each name to check (a subset of ``inputs``), each shaped
        like its input.
    eps : float
        Relative step: entry ``x`` is moved by ``h = eps * max(1, |x|)``.
    rtol, floor : float
        Entries agree when ``|a - n| <= rtol * max(|a|, |n|, floor)``.  By default
        (``floor=None``) the floor follows the check's own scale, see below; an explicit
        ``floor`` is used as given, for every entry.
    kink_tol : float
        An entry is a kink, and skipped, when its one-sided slopes differ by more than
        ``kink_tol * max(|fwd|, |bwd|, S) + noise``, ``S`` the largest one-sided slope of
        the check (or the explicit ``floor``).  A smooth ``f`` keeps that difference near
        ``h * |f''|``.
    skip : dict of str -> bool array, optional
        Entries known to be kinks (True = skip), per name.
    kink : callable, optional
        ``kink(name, index) -> bool``: True skips that entry.
    max_entries : int, optional
        Check only this many entries per input, chosen at random (by ``seed``).
    max_skip_fraction : float
        Fail if more than this fraction of the entries is skipped.

    The default floor
    -----------------
    For entry ``i`` with step ``h_i``, ``floor_i = max(c * G, noise_i / rtol)`` where

    - ``G = max_j max(|a_j|, |n_j|)`` over all checked entries of all names: the scale of
      the gradient itself, so the check means the same at every scale (a fixed floor of 1
      would make it absolute, ``1e-5``, and pass anything when the gradient is ``1e-6``);
      ``c = SCALE_FRACTION = 1e-3``: entries within ``1e-3`` of the largest are compared
      relatively, smaller ones to ``rtol * c * G``;
    - ``noise_i = 8 u max(|f(x)| + |f(x + h_i)| + |f(x - h_i)|, 1) / h_i`` (``u`` = float64
      epsilon) bounds the rounding error of the difference quotient, the accuracy below
      which no numerical gradient can resolve anything.  The ``1`` stands for the order-one
      terms a loss is computed from: a loss that cancels to ``1e-15`` (or to exactly 0)
      still carries their rounding, ``~ u / h``, in its differences.  With the default
      ``eps`` this absolute part is ``~ 2e-9``, so a relative error ``r`` is caught for
      gradients larger than about ``2e-9 / r`` (``2e-7`` for ``r = 1 %``).

    Returns
    -------
    CheckResult
        ``(checked, skipped, max_error)``.

    Raises
    ------
    AssertionError
        Listing, for the worst entries, ``name[index]``, the analytic and numerical values.
    ValueError
        Bad arguments, or an entry so large that no step ``h`` moves it.
    """
    what = "check_gradient"
    if not analytic:
        raise ValueError(f"{what}: analytic is empty, nothing to check")
    unknown = sorted(set(analytic) - set(inputs))
    if unknown:
        raise ValueError(f"{what}: analytic names {unknown} are not among the inputs "
                         f"{sorted(inputs)}")
    arrays = {}
    for k, v in inputs.items():
        _require_float64(what, k, v)
        arrays[k] = v.copy()
    rng = np.random.default_rng(seed)
    f0 = _scalar(what, f(**arrays))
    grads = {}
    for name, grad in analytic.items():
        grad = _host(grad)
        if tuple(grad.shape) != tuple(arrays[name].shape):
            raise ValueError(f"{what}: analytic[{name!r}] has shape {tuple(grad.shape)}, but "
                             f"input {name!r} has shape {tuple(arrays[name].shape)}")
        grads[name] = grad
    # pass 1: the differences (f only)
    rows, skipped, total = [], 0, 0       # (label, a, n, fwd, bwd, noise)
    for name, grad in grads.items():
        x = arrays[name]
        mask = None if skip is None or name not in skip else _host(skip[name])
        for idx in _entries(x.shape, max_entries, rng):
            total += 1
            if (mask is not None and mask[idx]) or (kink is not None and kink(name, idx)):
                skipped += 1
                continue
            x0 = float(x[idx])
            try:
                xp, xm = _step(x0, eps)
            except ValueError as e:
                raise ValueError(f"{what}: {_fmt_index(name, idx)}: {e}") from None
            x[idx] = xp
            fp = _scalar(what, f(**arrays))
            x[idx] = xm
            fm = _scalar(what, f(**arrays))
            x[idx] = x0
            fwd, bwd = (fp - f0) / (xp - x0), (f0 - fm) / (x0 - xm)
            noise = _noise(abs(f0) + abs(fp) + abs(fm), min(xp - x0, x0 - xm))
            rows.append((_fmt_index(name, idx), float(grad[idx]), (fp - fm) / (xp - xm),
                         fwd, bwd, noise))
    # pass 2: kinks, judged from f alone, on the scale of the slopes
    kfloor = floor if floor is not None else _finite_max([(r[3], r[4]) for r in rows])
    kept = []
    for r in rows:
        if _is_kink(r[3], r[4], kink_tol, kfloor, r[5]):
            skipped += 1
        else:
            kept.append(r)
    _too_many_skipped(what, skipped, total, max_skip_fraction)
    # pass 3: the comparison
    checked = len(kept)
    a = np.array([r[1] for r in kept])
    n = np.array([r[2] for r in kept])
    noise = np.array([r[5] for r in kept])
    scale = _finite_max(a, n)
    floors = (np.full(checked, float(floor)) if floor is not None
              else _default_floor(scale, noise, rtol))
    diff = np.abs(a - n)
    err = _rel_error(diff, a, n, floors)
    ok = err <= rtol                    # NaN fails
    worst = float(np.max(np.where(np.isnan(err), np.inf, err), initial=0.0))
    if not ok.all():
        failures = [(kept[i][0], a[i], n[i], diff[i], err[i], floors[i])
                    for i in np.nonzero(~ok)[0]]
        _fail(what, failures, checked, rtol, floor, scale)
    return CheckResult(checked, skipped, worst)



def check_rop(f, x, v, jvp, *, eps=1e-6, rtol=1e-5, floor=None, kink_tol=1e-3,
              max_skip_fraction=0.5):
    """Check a forward-mode directional derivative ``J v`` against central differences.

    ``numeric = (f(x + t v) - f(x - t v)) / 2t`` with ``t = eps * max(1, max|x| / max|v|)``
    (a step relative to the size of ``x``, as in :func:`check_gradient`), compared entry by
    entry with ``jvp`` by the same rule as :func:`check_gradient`: by default
    ``floor = max(SCALE_FRACTION * G, noise / rtol)`` with ``G`` the largest ``|jvp|`` or
    ``|numeric|`` over all outputs and ``noise = 8 u max(|y(0)| + |y(t)| + |y(-t)|, 1) / t``
    per output entry.  Output entries at which ``f`` is not differentiable along ``v`` (the
    one-sided differences disagree by more than ``kink_tol * max(|fwd|, |bwd|, S) + noise``,
    ``S`` the largest one-sided difference) are skipped.

    Parameters
    ----------
    f : callable
        ``f(x)`` for an array ``x``, or ``f(**x)`` for a dict; returns an array or a tuple
        of arrays.
    x, v : float64 array, or dict of str -> float64 array
        The point and the direction (same structure and shapes).
    jvp : array, or tuple of arrays
        The analytic directional derivative, structured like ``f``'s output.

    Returns
    -------
    CheckResult
    """
    what = "check_rop"
    is_dict = isinstance(x, dict)
    xs, vs = (x, v) if is_dict else ({"x": x}, {"x": v})
    if set(xs) != set(vs):
        raise ValueError(f"{what}: x and v must name the same arrays, got {sorted(xs)} and "
                         f"{sorted(vs)}")
    for k in xs:
        _require_float64(what, f"x[{k!r}]" if is_dict else "x", xs[k])
        _require_float64(what, f"v[{k!r}]" if is_dict else "v", vs[k])
        if tuple(xs[k].shape) != tuple(vs[k].shape):
            raise ValueError(f"{what}: v{'[' + repr(k) + ']' if is_dict else ''} has shape "
                             f"{tuple(vs[k].shape)}, x has {tuple(xs[k].shape)}")
    xmax = _finite_max(*(_host(a) for a in xs.values()))
    vmax = _finite_max(*(_host(a) for a in vs.values()))
    if vmax == 0:
        raise ValueError(f"{what}: the direction v is zero")
    t = eps * max(1.0, xmax / vmax)

    def call(s):
        moved = {k: xs[k] + s * vs[k] for k in xs}
        out = f(**moved) if is_dict else f(moved["x"])
        single = not isinstance(out, (tuple, list))
        return [_host(o).astype(np.float64) for o in ([out] if single else out)], single

    (y0, single), (yp, _), (ym, _) = call(0.0), call(t), call(-t)
    jv = [_host(j) for j in ([jvp] if single else jvp)]
    if len(jv) != len(y0):
        raise ValueError(f"{what}: f returns {len(y0)} outputs but jvp holds {len(jv)}")
    parts = []
    for k, (a0, ap, am, j) in enumerate(zip(y0, yp, ym, jv)):
        if tuple(j.shape) != tuple(a0.shape):
            raise ValueError(f"{what}: jvp[{k}] has shape {tuple(j.shape)}, f's output {k} "
                             f"has shape {tuple(a0.shape)}")
        parts.append(((ap - am) / (2 * t), (ap - a0) / t, (a0 - am) / t,
                      _noise(np.abs(a0) + np.abs(ap) + np.abs(am), t)))
    kfloor = floor if floor is not None else _finite_max(*(p[c] for p in parts for c in (1, 2)))
    kinks = [np.abs(fwd - bwd) > kink_tol * np.maximum(np.maximum(np.abs(fwd), np.abs(bwd)),
                                                       kfloor) + noise
             for _, fwd, bwd, noise in parts]
    total = sum(j.size for j in jv)
    skipped = int(sum(kk.sum() for kk in kinks))
    checked = total - skipped
    _too_many_skipped(what, skipped, total, max_skip_fraction)
    scale = _finite_max(*(np.where(kk, 0.0, np.abs(j)) for kk, j in zip(kinks, jv)),
                        *(np.where(kk, 0.0, np.abs(p[0])) for kk, p in zip(kinks, parts)))
    failures, worst = [], 0.0
    for k, (j, (num, _, _, noise), kk) in enumerate(zip(jv, parts, kinks)):
        floors = (np.full(j.shape, float(floor)) if floor is not None
                  else _default_floor(scale, noise, rtol))
        diff = np.abs(j - num)
        err = _rel_error(diff, j, num, floors)
        ok = kk | (err <= rtol)
        if (~kk).any():
            worst = max(worst, float(np.max(np.where(kk, 0.0, np.where(np.isnan(err), np.inf,
                                                                         err)))))
        label = "output" if single else f"output {k}"
        for idx in zip(*np.nonzero(~ok)):
            idx = tuple(int(i) for i in idx)
            failures.append((_fmt_index(label, idx), float(j[idx]), float(num[idx]),
                             float(diff[idx]), float(err[idx]), float(floors[idx])))
    if failures:
        _fail(what, failures, checked, rtol, floor, scale)
    return CheckResult(checked, skipped, worst)


def random_projection_loss(*outputs, seed=0):
    """A scalar loss that sees every entry of some outputs: ``L = sum_k sum(out_k * R_k)``.

    The ``R_k`` are fixed standard normal arrays (float64, drawn from ``seed``) shaped like
    the given outputs, so ``dL/d out_k = R_k``: feed them to a backward kernel as the
    upstream gradient, and check the result against :func:`check_gradient` of
    ``loss(forward(...))``.

    Returns ``(loss, R)``: ``loss(*outs) -> float`` and the tuple of the ``R_k``.
    """
    rng = np.random.default_rng(seed)
    weights = tuple(rng.standard_normal(tuple(o.shape)) for o in outputs)

    def loss(*outs):
        if len(outs) != len(weights):
            raise ValueError(f"random_projection_loss: expected {len(weights)} outputs, "
                             f"got {len(outs)}")
        total = 0.0
        for o, r in zip(outs, weights):
            if tuple(o.shape) != r.shape:
                raise ValueError(f"random_projection_loss: output of shape {tuple(o.shape)}, "
                                 f"expected {r.shape}")
            total += float(np.sum(_host(o).astype(np.float64) * r))
        return total

    return loss, weights


# ------------------------------------------------------------------------ comparison


def assert_close(actual, expected, rtol, floor=None, name="array"):
    """Assert ``|actual - expected| <= rtol * max(|expected|, floor)`` entry by entry.

    ``floor`` defaults to ``max |expected|`` over the finite entries of the whole array: the
    natural scale when entries are sums whose terms cancel (matrix products, convolutions),
    where a small entry carries the absolute rounding error of its large terms.  Shapes and
    dtypes must match; NaN must sit in the same places in both; an infinite expected entry
    must be matched by the same infinity (same sign), and a finite one by a finite value.
    """
    a, e = _host(actual), _host(expected)
    if tuple(a.shape) != tuple(e.shape):
        raise AssertionError(f"{name}: shape {tuple(a.shape)}, expected {tuple(e.shape)}")
    if a.dtype != e.dtype:
        raise AssertionError(f"{name}: dtype {a.dtype}, expected {e.dtype}")
    a64, e64 = a.astype(np.float64), e.astype(np.float64)
    nan_a, nan_e = np.isnan(a64), np.isnan(e64)
    if (nan_a != nan_e).any():
        idx = tuple(int(i) for i in np.argwhere(nan_a != nan_e)[0])
        raise AssertionError(f"{name}: NaN mismatch at {idx}: {a64[idx]} vs expected {e64[idx]}")
    finite = np.isfinite(e64)
    if floor is None:        # infinities carry no scale: they would make every tolerance inf
        floor = float(np.max(np.abs(e64[finite]), initial=0.0))
    inf_bad = np.isinf(e64) & (a64 != e64)              # inf must meet the same inf
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.where(finite, np.abs(a64 - e64), np.where(inf_bad, np.inf, 0.0))
    tol = rtol * np.maximum(np.abs(np.where(finite, e64, 0.0)), floor)
    bad = inf_bad | (finite & ~(diff <= tol))            # an inf actual fails a finite expected
    if bad.any():
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.where(bad, diff / np.maximum(tol, np.finfo(np.float64).tiny), 0.0)
        ratio = np.where(bad & ~(ratio > 0), np.inf, ratio)
        idx = tuple(int(i) for i in np.unravel_index(np.argmax(ratio), a.shape))
        raise AssertionError(
            f"{name}: {int(bad.sum())} of {a.size} entries differ by more than "
            f"rtol * max(|expected|, floor) (rtol={rtol:g}, floor={floor:.3g}); worst at "
            f"{idx}: actual {a64[idx]:.17g}, expected {e64[idx]:.17g}, "
            f"|diff| {diff[idx]:.3g} > {tol[idx]:.3g}")
