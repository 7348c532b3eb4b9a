"""The exercises of :mod:`deepbio.course`: each a statement, a starter template and the
cases its grader runs.  Expected values come from deepbio itself -- the NumPy reference
kernels (:mod:`deepbio._kernels.reference`), :class:`deepbio.nn.Network` and
:func:`deepbio.optim.hf.conjugate_gradient` -- never from a second copy of the maths.
"""
from dataclasses import dataclass, field

import numpy as np

from .. import backend as _backend
from .._kernels import reference as ref
from ._grader import (GENERIC_HINTS, CallFailed, Check, call, compare, copy_inputs,
                      describe, gradient_check)

F32, F64 = np.float32, np.float64


@dataclass
class Case:
    """One call of the solution: a ``label`` (the check's name), the ``inputs`` (in the
    order of the signature) and a ``hint`` shown when the values are wrong."""
    label: str
    inputs: dict
    hint: str = ""


@dataclass
class Exercise:
    """An exercise: ``name`` (also the function the student writes), ``title``, the
    ``chapter`` of the docs it goes with, the ``signature``, the ``statement`` (formula,
    shapes, edge cases checked), the ``outputs`` (names, in order).  Its grader runs
    ``cases()`` against ``reference`` and then the ``extras`` (finite differences,
    properties)."""
    name: str
    title: str
    chapter: str
    signature: str
    statement: str
    outputs: tuple
    cases: object = None
    reference: object = None
    extras: list = field(default_factory=list)
    scalars: tuple = ()
    hints: dict = field(default_factory=dict)
    grade_fn: object = None       # a whole custom grader, fn -> [Check]

    def grade(self, fn):
        """The list of :class:`~deepbio.course.Check` of the callable ``fn``."""
        with _backend.use_backend("numpy"):
            if self.grade_fn is not None:
                return self.grade_fn(self, fn)
            checks = [self._run_case(fn, case) for case in self.cases()]
            checks += [extra(fn) for extra in self.extras]
        return checks

    def _run_case(self, fn, case):
        inputs = case.inputs
        dtype = next(v.dtype for v in inputs.values() if isinstance(v, np.ndarray))
        expected = self.reference(**copy_inputs(inputs))
        expected = expected if isinstance(expected, tuple) else (expected,)
        given = copy_inputs(inputs)
        where = f"on {describe(inputs)}"
        try:
            got = call(fn, given)
        except CallFailed as e:
            return Check(case.label, False, f"{where}: {e}", case.hint)
        bad = compare(got, expected, self.outputs, dtype, self.scalars)
        if bad is not None:
            what, message = bad
            hint = (case.hint if what == "values" else "") or self.hints.get(what) \
                or GENERIC_HINTS[what]
            return Check(case.label, False, f"{where}: {message}", hint)
        for k, v in inputs.items():
            if isinstance(v, np.ndarray) and not np.array_equal(v, given[k], equal_nan=True):
                return Check(case.label, False, f"{where}: the function modified its input "
                             f"{k!r}", "kernels are pure: compute into new arrays (x = x + "
                             "d, not x += d, on an input)")
        return Check(case.label, True)

    def template(self, filename=None):
        """The starter file ``deepbio course start`` writes."""
        filename = filename or f"{self.name}.py"
        doc = "\n".join(("    " + line).rstrip() for line in self.statement.splitlines())
        return (f'"""Exercise {self.name}: {self.title}.\n\n'
                f"Goes with the chapter docs/{self.chapter}.  Check your solution with\n\n"
                f"    deepbio course check {self.name} {filename}\n"
                f'"""\nimport numpy as np\n\n\n'
                f"def {self.signature}:\n"
                f'    """\n{doc}\n    """\n'
                f"    # your code here: NumPy only, no loops over the batch needed\n"
                f'    raise NotImplementedError("{self.name}")\n')


def _rng(seed):
    return np.random.default_rng(seed)


def _normal(rng, shape, dtype, scale=1.0):
    return (scale * rng.standard_normal(shape)).astype(dtype)


# ------------------------------------------------------------ 1. sigmoid_bernoulli


def _sb_cases():
    cases = []
    for seed, dtype, shape, label in [(1, F64, (4, 7), "values: float64, (4, 7)"),
                                      (2, F32, (4, 7), "values: float32, (4, 7)"),
                                      (3, F64, (1, 5), "edge case: batch 1"),
                                      (4, F32, (3, 1), "edge case: odd sizes (3, 1)")]:
        rng = _rng(seed)
        cases.append(Case(label, {"x": _normal(rng, shape, dtype, 2.0),
                                  "u": rng.random(shape).astype(dtype)}))
    u = np.full((3, 4), 0.5, F64)
    u[0] = 0.0
    cases.append(Case("edge case: zero inputs, u = p (s = 1 only when u < p)",
                      {"x": np.zeros((3, 4), F64), "u": u},
                      "s = 1[u < p] with a strict <: at x = 0, p = 0.5, so u = 0.5 "
                      "gives s = 0"))
    big = np.array([[-1000.0, -100.0, -30.0, 0.0, 30.0, 100.0, 1000.0]])
    for dtype in (F64, F32):
        cases.append(Case(f"edge case: large |x| without overflow, {np.dtype(dtype)}",
                          {"x": big.astype(dtype), "u": np.full(big.shape, 0.5, dtype)},
                          "exp(-x) overflows for x below -709 (float64) or -88 (float32): "
                          "use e = exp(-|x|) and p = 1/(1+e) for x >= 0, e/(1+e) "
                          "for x < 0"))
    return cases


SIGMOID_BERNOULLI = Exercise(
    name="sigmoid_bernoulli",
    title="the logistic function and a Bernoulli sample",
    chapter="kernels/rbm.md",
    signature="sigmoid_bernoulli(x, u)",
    statement="""\
An RBM samples its hidden units (and binary visible units) given the other layer:
the probability that a unit is on is the logistic function of its input, and a
sample is drawn from one uniform number per unit.

    p = 1 / (1 + exp(-x))          (elementwise)
    s = 1 if u < p else 0          (so P(s = 1) = p for u uniform on [0, 1))

x : (N, D) pre-activations, float32 or float64.
u : (N, D) uniforms on [0, 1), the same dtype.
Returns (p, s), each (N, D) with the dtype of x (s holds 0.0 and 1.0).

Checked: values against deepbio's reference in float64 and float32, batch 1, odd
sizes, x = 0 with u = p exactly (the comparison is strict), and |x| up to 1000
without overflow (NumPy overflow is an error while grading).""",
    outputs=("p", "s"),
    cases=_sb_cases,
    reference=ref.sigmoid_bernoulli,
    hints={"values": "p = 1 / (1 + exp(-x)) elementwise, s = (u < p) as the dtype of x"},
)


# --------------------------------------------------------------- 2. cd_statistics


def _cd_inputs(rng, n, d, h, dtype):
    return {"v0": (rng.random((n, d)) < 0.5).astype(dtype),
            "h0": rng.random((n, h)).astype(dtype),
            "vk": (rng.random((n, d)) < 0.5).astype(dtype),
            "hk": rng.random((n, h)).astype(dtype)}


def _cd_cases():
    cases = [Case("values: float64, N=6, D=5, H=3", _cd_inputs(_rng(1), 6, 5, 3, F64)),
             Case("values: float32, N=6, D=5, H=3", _cd_inputs(_rng(2), 6, 5, 3, F32)),
             Case("edge case: batch 1", _cd_inputs(_rng(3), 1, 4, 2, F64),
                  "with N = 1 the means are the single row itself"),
             Case("edge case: odd sizes D=1, H=1, N=3", _cd_inputs(_rng(4), 3, 1, 1, F32))]
    z = _cd_inputs(_rng(5), 4, 3, 2, F64)
    cases.append(Case("edge case: zero inputs", {k: np.zeros_like(v) for k, v in z.items()}))
    same = _cd_inputs(_rng(6), 5, 4, 3, F64)
    same["vk"], same["hk"] = same["v0"].copy(), same["h0"].copy()
    cases.append(Case("edge case: reconstruction equals the data (zero statistics)", same))
    return cases


def _cd_free_energy_check(fn):
    """The CD statistics with h = P(h=1 | v) are the gradient of mean F(vk) - mean F(v0)
    (F the free energy) with respect to (W, b, c), vk held fixed."""
    name = "finite differences: the gradient of mean F(vk) - mean F(v0)"
    hint = ("positive phase (the data v0, h0) minus negative phase (vk, hk), each "
            "averaged over the batch: divide by N, and mind the order")
    rng = _rng(7)
    n, d, h = 4, 3, 2
    W, b, c = _normal(rng, (d, h), F64), _normal(rng, d, F64), _normal(rng, h, F64)
    v0 = (rng.random((n, d)) < 0.5).astype(F64)
    vk = (rng.random((n, d)) < 0.5).astype(F64)
    hid = lambda v: ref.sigmoid_bernoulli(v @ W + c, np.zeros((n, h)))[0]   # noqa: E731
    inputs = {"v0": v0, "h0": hid(v0), "vk": vk, "hk": hid(vk)}

    def objective(a):
        return (ref.free_energy(a["vk"], a["W"], a["b"], a["c"]).mean()
                - ref.free_energy(a["v0"], a["W"], a["b"], a["c"]).mean())
    return gradient_check(name, fn, inputs, ("dW", "db", "dc"),
                          {"dW": "W", "db": "b", "dc": "c"}, objective,
                          extra={"W": W, "b": b, "c": c}, hint=hint)


CD_STATISTICS = Exercise(
    name="cd_statistics",
    title="the contrastive-divergence (CD-1) statistics",
    chapter="kernels/rbm.md",
    signature="cd_statistics(v0, h0, vk, hk)",
    statement="""\
One CD-k update of an RBM moves the weights along the difference of two
correlations: the positive phase (data v0 and its hidden probabilities h0) minus
the negative phase (the k-step reconstruction vk and its hidden probabilities hk),
each averaged over the batch:

    dW = (v0^T h0 - vk^T hk) / N
    db = mean over rows of (v0 - vk)
    dc = mean over rows of (h0 - hk)

v0, vk : (N, D); h0, hk : (N, H); all float32 or all float64.
Returns (dW (D, H), db (D,), dc (H,)) in the dtype of the inputs: the ascent
direction of the log-likelihood estimate.

Checked: values in float64 and float32, batch 1, D = H = 1, zero inputs, vk = v0
(zero statistics), and, with h = sigmoid(v W + c), against central differences
of mean F(vk) - mean F(v0), F the free energy (the statistics are its gradient).""",
    outputs=("dW", "db", "dc"),
    cases=_cd_cases,
    reference=ref.cd_statistics,
    hints={"values": "dW = (v0^T h0 - vk^T hk) / N: data minus reconstruction, averaged "
                    "over the N rows"},
    extras=[_cd_free_energy_check],
)


# -------------------------------------------------------------- 3. dense_backward


def _dense_inputs(rng, n, d, h, dtype, activation, scale=1.0):
    x, W = _normal(rng, (n, d), dtype), _normal(rng, (d, h), dtype, 0.7)
    b = _normal(rng, h, dtype)
    return ({"x": x, "W": W, "a": ref.dense_forward(x, W, b, activation),
             "da": _normal(rng, (n, h), dtype, scale), "activation": activation}, b)


_ACT_HINTS = {
    "linear": "dz = da; then dx = dz W^T, dW = x^T dz, db = dz summed over rows",
    "sigmoid": "f'(z) written with the output: a (1 - a)",
    "tanh": "f'(z) written with the output: 1 - a^2",
    "relu": "f'(z) = 1 where a > 0, else 0",
    "softmax": "the softmax Jacobian is diag(a) - a a^T per row: dz = a (da - sum_j da_j a_j)",
}


def _dense_cases():
    cases = []
    for i, act in enumerate(ref.ACTIVATIONS):
        for dtype in (F64, F32):
            inputs, _ = _dense_inputs(_rng(10 + i), 5, 4, 3, dtype, act)
            cases.append(Case(f"values: {act}, {np.dtype(dtype)}", inputs, _ACT_HINTS[act]))
    cases.append(Case("edge case: batch 1 (tanh)", _dense_inputs(_rng(20), 1, 4, 3, F64,
                                                                 "tanh")[0],
                      "db sums over the batch axis even when N = 1"))
    cases.append(Case("edge case: odd sizes D=1, H=1 (sigmoid)",
                      _dense_inputs(_rng(21), 3, 1, 1, F32, "sigmoid")[0]))
    cases.append(Case("edge case: zero gradient da (relu)",
                      _dense_inputs(_rng(22), 4, 3, 2, F64, "relu", scale=0.0)[0]))
    zero, _ = _dense_inputs(_rng(23), 3, 2, 2, F64, "sigmoid")
    zero["x"] = np.zeros_like(zero["x"])
    zero["a"] = ref.dense_forward(zero["x"], zero["W"], np.zeros(2), "sigmoid")
    cases.append(Case("edge case: zero inputs x (sigmoid)", zero))
    return cases


def _dense_fd(activation):
    def check(fn):
        inputs, b = _dense_inputs(_rng(30), 3, 4, 3, F64, activation)

        def objective(a):
            return (a["da"] * ref.dense_forward(a["x"], a["W"], a["b"], activation)).sum()
        return gradient_check(f"finite differences: {activation}", fn, inputs,
                              ("dx", "dW", "db"), {"dx": "x", "dW": "W", "db": "b"},
                              objective, extra={"b": b}, hint=_ACT_HINTS[activation])
    return check


DENSE_BACKWARD = Exercise(
    name="dense_backward",
    title="backward through a dense layer",
    chapter="kernels/dense.md",
    signature="dense_backward(x, W, a, da, activation)",
    statement="""\
A dense layer computes a = f(z), z = x W + b.  Given the gradient da of a loss with
respect to a, return the gradients with respect to the input and the parameters:

    dz = da * f'(z)      f' written with the output a:
                         linear 1, sigmoid a (1 - a), tanh 1 - a^2, relu 1[a > 0],
                         softmax (row-wise) dz = a * (da - sum_j da_j a_j)
    dx = dz W^T          dW = x^T dz          db = sum over rows of dz

x : (N, D), W : (D, H), a, da : (N, H), activation one of "linear", "sigmoid",
"tanh", "relu", "softmax".  Returns (dx (N, D), dW (D, H), db (H,)) in the dtype
of the inputs.

Checked: every activation in float64 and float32, batch 1, D = H = 1, da = 0,
x = 0, and each activation against central differences of sum(da * f(x W + b)).""",
    outputs=("dx", "dW", "db"),
    cases=_dense_cases,
    reference=ref.dense_backward,
    extras=[_dense_fd(a) for a in ref.ACTIVATIONS],
)


# ------------------------------------------------------- 4. conv2d_backward_input


def _conv_inputs(rng, x_shape, w_shape, stride, padding, dtype, dy_scale=1.0):
    n, _, h, w = x_shape
    f, _, kh, kw = w_shape
    oh, ow = ref.out_size(h, kh, stride[0], padding[0]), ref.out_size(w, kw, stride[1],
                                                                     padding[1])
    return {"dy": _normal(rng, (n, f, oh, ow), dtype, dy_scale),
            "w": _normal(rng, w_shape, dtype), "in_size": (h, w),
            "stride": stride, "padding": padding}


def _conv_cases():
    spec = [
        ("values: float64, 3x3 kernel, stride 1, no padding", (2, 3, 6, 6), (4, 3, 3, 3),
         (1, 1), (0, 0), F64, "dx[n, c, i*sh + p - ph, j*sw + q - pw] += w[f, c, p, q] "
         "dy[n, f, i, j], summed over f, i, j, p, q"),
        ("values: float32, 3x3 kernel, stride 1, no padding", (2, 3, 6, 6), (4, 3, 3, 3),
         (1, 1), (0, 0), F32, ""),
        ("edge case: stride 2, padding 1, odd sizes 7x5", (2, 2, 7, 5), (3, 2, 3, 3),
         (2, 2), (1, 1), F64, "work on a zero-padded dx of (H + 2 ph, W + 2 pw), then "
         "crop the padding off"),
        ("edge case: stride 2 leaves the last row and column unused", (1, 1, 6, 6),
         (1, 1, 3, 3), (2, 2), (0, 0), F64, "inputs that no window reaches get a zero "
         "gradient; OH = (H + 2 ph - KH) // sh + 1"),
        ("edge case: non-square kernel (2, 3), stride (1, 2), padding (0, 1)",
         (2, 2, 5, 6), (2, 2, 2, 3), (1, 2), (0, 1), F64,
         "keep the height and width parameters apart: (kh, sh, ph) vs (kw, sw, pw)"),
        ("edge case: 1x1 kernel", (3, 4, 3, 3), (2, 4, 1, 1), (1, 1), (0, 0), F32, ""),
        ("edge case: batch 1, one channel, one filter", (1, 1, 4, 4), (1, 1, 2, 2),
         (1, 1), (0, 0), F64, ""),
        ("edge case: kernel as large as the padded input", (2, 1, 3, 3), (2, 1, 5, 5),
         (1, 1), (1, 1), F64, "with padding, some kernel taps land on padding only"),
    ]
    cases = [Case(label, _conv_inputs(_rng(40 + i), xs, ws, s, p, dt), hint)
             for i, (label, xs, ws, s, p, dt, hint) in enumerate(spec)]
    cases.append(Case("edge case: zero dy", _conv_inputs(_rng(50), (2, 2, 5, 5),
                                                         (2, 2, 3, 3), (1, 1), (1, 1), F64,
                                                         0.0)))
    return cases


def _conv_fd(fn):
    rng = _rng(51)
    inputs = _conv_inputs(rng, (1, 2, 5, 4), (2, 2, 3, 2), (2, 1), (1, 1), F64)
    extra = {"x": _normal(rng, (1, 2, 5, 4), F64), "b": _normal(rng, 2, F64)}

    def objective(a):
        return (a["dy"] * ref.conv2d_forward(a["x"], a["w"], a["b"], a["stride"],
                                             a["padding"])).sum()
    return gradient_check("finite differences: stride (2, 1), padding (1, 1)", fn, inputs,
                          ("dx",), {"dx": "x"}, objective, extra=extra,
                          hint="dx is the adjoint of the forward: each output y[n, f, i, j] "
                               "read x_pad[n, c, i*sh + p, j*sw + q]; send dy back there")


CONV2D_BACKWARD_INPUT = Exercise(
    name="conv2d_backward_input",
    title="conv2d backward to the input",
    chapter="kernels/conv.md",
    signature="conv2d_backward_input(dy, w, in_size, stride, padding)",
    statement="""\
The forward (a cross-correlation with zero padding) is

    y[n, f, i, j] = b[f] + sum_{c, p, q} w[f, c, p, q] x_pad[n, c, i*sh + p, j*sw + q]

with OH = (H + 2 ph - KH) // sh + 1 (likewise OW).  Given dy, the gradient of a
loss with respect to y, return the gradient with respect to x:

    dx[n, c, h, v] = sum over (f, i, j, p, q) with h = i*sh + p - ph, v = j*sw + q - pw
                     of w[f, c, p, q] dy[n, f, i, j]

dy : (N, F, OH, OW), w : (F, C, KH, KW), in_size = (H, W), stride = (sh, sw),
padding = (ph, pw) (tuples of ints).  Returns dx : (N, C, H, W), the dtype of dy.

Checked: values in float64 and float32, stride 2 with padding on odd sizes, a
stride that leaves rows unused, a non-square kernel with unequal strides and
paddings, 1x1 kernels, batch 1, a kernel as large as the padded input, dy = 0,
and central differences of sum(dy * conv2d(x)) with respect to x.""",
    outputs=("dx",),
    cases=_conv_cases,
    reference=ref.conv2d_backward_input,
    hints={"values": "dx[n, c, i*sh + p - ph, j*sw + q - pw] += w[f, c, p, q] "
                    "dy[n, f, i, j], summed over f, i, j, p, q"},
    extras=[_conv_fd],
)


# ---------------------------------------------------------- 5. maxpool2d_backward


def _pool_reference(dy, x, kernel, stride):
    _, argmax = ref.maxpool2d_forward(x, kernel, stride)
    return ref.maxpool2d_backward(dy, argmax, x.shape[2:])


def _pool_inputs(rng, x, kernel, stride):
    n, c, h, w = x.shape
    oh, ow = ref.out_size(h, kernel[0], stride[0]), ref.out_size(w, kernel[1], stride[1])
    return {"dy": _normal(rng, (n, c, oh, ow), x.dtype), "x": x, "kernel": kernel,
            "stride": stride}


_OVERLAP = ("when windows overlap (stride < kernel) one input can win several windows: "
            "it gets the sum of their gradients (dx[idx] += dy with a repeated idx keeps "
            "only one of them: use np.add.at or a loop)")


def _pool_cases():
    spec = [
        ("values: float64, 2x2 windows, stride 2", (2, 3, 4, 4), (2, 2), (2, 2), F64, ""),
        ("values: float32, 2x2 windows, stride 2", (2, 3, 4, 4), (2, 2), (2, 2), F32, ""),
        ("edge case: overlapping 3x3 windows, stride 1 (gradients add up)", (2, 2, 5, 5),
         (3, 3), (1, 1), F64, _OVERLAP),
        ("edge case: odd sizes 5x7, 2x2 stride 2 (last row and column in no window)",
         (2, 1, 5, 7), (2, 2), (2, 2), F64, "OH = (H - KH) // sh + 1: rows past the last "
         "window get a zero gradient"),
        ("edge case: window (2, 3), stride (1, 2)", (1, 2, 4, 7), (2, 3), (1, 2), F32,
         "window (i, j) covers rows i*sh .. i*sh + KH - 1 and columns j*sw .. "
         "j*sw + KW - 1"),
        ("edge case: batch 1, one channel, the window is the whole image", (1, 1, 3, 4),
         (3, 4), (1, 1), F64, ""),
    ]
    cases = []
    for i, (label, shape, k, s, dt, hint) in enumerate(spec):
        rng = _rng(60 + i)
        cases.append(Case(label, _pool_inputs(rng, _normal(rng, shape, dt), k, s), hint))
    tie = "on ties the first maximum in row-major window order wins (np.argmax does that)"
    cases.append(Case("edge case: zero inputs (every window a tie)",
                      _pool_inputs(_rng(70), np.zeros((2, 1, 4, 4), F64), (2, 2), (2, 2)),
                      tie))
    rng = _rng(71)
    cases.append(Case("edge case: ties in overlapping windows (small integers)",
                      _pool_inputs(rng, rng.integers(0, 3, (2, 2, 5, 5)).astype(F32),
                                   (2, 2), (1, 1)), tie + "; " + _OVERLAP))
    return cases


def _pool_fd(fn):
    rng = _rng(72)
    x = (rng.permutation(50).reshape(1, 2, 5, 5) * 0.1).astype(F64)   # no ties
    inputs = _pool_inputs(rng, x, (2, 2), (1, 1))

    def objective(a):
        return (a["dy"] * ref.maxpool2d_forward(a["x"], a["kernel"], a["stride"])[0]).sum()
    return gradient_check("finite differences: overlapping 2x2 windows, stride 1", fn,
                          inputs, ("dx",), {"dx": "x"}, objective, hint=_OVERLAP)


MAXPOOL2D_BACKWARD = Exercise(
    name="maxpool2d_backward",
    title="max-pool backward",
    chapter="kernels/pool.md",
    signature="maxpool2d_backward(dy, x, kernel, stride)",
    statement="""\
Max pooling keeps the largest input of each window (no padding):

    y[n, c, i, j] = max_{p < KH, q < KW} x[n, c, i*sh + p, j*sw + q]
    OH = (H - KH) // sh + 1,  OW = (W - KW) // sw + 1

Its gradient sends each dy[n, c, i, j] to the input that won window (i, j) and to
no other; an input that wins several (overlapping) windows gets the sum.  On a tie
the first maximum in row-major window order wins.  (deepbio's kernel gets the
winners' positions from the forward; here you find them yourself from x.)

dy : (N, C, OH, OW), x : (N, C, H, W), kernel = (KH, KW), stride = (sh, sw).
Returns dx : (N, C, H, W), the dtype of x.

Checked: values in float64 and float32, overlapping windows, odd sizes whose last
rows and columns are in no window, non-square windows and strides, batch 1, ties
(zero inputs, small integers), and central differences of sum(dy * maxpool(x)).""",
    outputs=("dx",),
    cases=_pool_cases,
    reference=_pool_reference,
    hints={"values": "window (i, j) starts at row i*sh, column j*sw; dy[n, c, i, j] goes to "
                    "its (first) maximum only"},
    extras=[_pool_fd],
)


# --------------------------------------------------------- 6. elman_step_backward


def _elman_inputs(rng, n, d, h, dtype, activation, dh_scale=1.0):
    x, h_prev = _normal(rng, (n, d), dtype), _normal(rng, (n, h), dtype)
    Wx, Wh = _normal(rng, (d, h), dtype, 0.6), _normal(rng, (h, h), dtype, 0.6)
    b = _normal(rng, h, dtype, 0.3)
    return ({"dh": _normal(rng, (n, h), dtype, dh_scale), "x": x, "h_prev": h_prev,
             "h": ref.elman_step_forward(x, h_prev, Wx, Wh, b, activation), "Wx": Wx,
             "Wh": Wh, "activation": activation}, b)


_ELMAN_HINT = ("dz = dh * f'(z) with f' from the output h (tanh: 1 - h^2, relu: 1[h > 0]); "
               "dh_prev = dz Wh^T, dWh = h_prev^T dz")


def _elman_cases():
    cases = []
    for i, (act, dtype) in enumerate([("tanh", F64), ("relu", F64), ("tanh", F32),
                                      ("relu", F32)]):
        cases.append(Case(f"values: {act}, {np.dtype(dtype)}",
                          _elman_inputs(_rng(80 + i), 4, 3, 5, dtype, act)[0], _ELMAN_HINT))
    cases.append(Case("edge case: batch 1", _elman_inputs(_rng(85), 1, 3, 4, F64, "tanh")[0],
                      "db sums over the batch axis even when N = 1"))
    cases.append(Case("edge case: odd sizes D=1, H=1",
                      _elman_inputs(_rng(86), 3, 1, 1, F32, "relu")[0]))
    cases.append(Case("edge case: zero gradient dh",
                      _elman_inputs(_rng(87), 2, 3, 3, F64, "tanh", 0.0)[0]))
    return cases


def _elman_fd(activation):
    def check(fn):
        inputs, b = _elman_inputs(_rng(88), 3, 2, 3, F64, activation)

        def objective(a):
            return (a["dh"] * ref.elman_step_forward(a["x"], a["h_prev"], a["Wx"], a["Wh"],
                                                     a["b"], activation)).sum()
        return gradient_check(f"finite differences: {activation}", fn, inputs,
                              ("dx", "dh_prev", "dWx", "dWh", "db"),
                              {"dx": "x", "dh_prev": "h_prev", "dWx": "Wx", "dWh": "Wh",
                               "db": "b"}, objective, extra={"b": b}, hint=_ELMAN_HINT)
    return check


def _elman_through_time(fn):
    """The step, looped from t = T down to 1 as BPTT does, against elman_backward."""
    name = "through time: 5 steps of BPTT against deepbio's elman_backward"
    rng = _rng(89)
    T, n, d, h = 5, 2, 3, 4
    x, h0 = _normal(rng, (T, n, d), F64), _normal(rng, (n, h), F64)
    Wx, Wh, b = _normal(rng, (d, h), F64, 0.6), _normal(rng, (h, h), F64, 0.6), \
        _normal(rng, h, F64, 0.3)
    hs = ref.elman_forward(x, h0, Wx, Wh, b, "tanh")
    dhs = _normal(rng, (T, n, h), F64)
    expected = ref.elman_backward(dhs, x, h0, hs, Wx, Wh, "tanh")
    dx, dh_next = np.zeros_like(x), np.zeros_like(h0)
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(h)
    try:
        for t in range(T - 1, -1, -1):
            out = call(fn, {"dh": dhs[t] + dh_next, "x": x[t],
                            "h_prev": hs[t - 1] if t > 0 else h0, "h": hs[t], "Wx": Wx,
                            "Wh": Wh, "activation": "tanh"})
            dx[t], dh_next, gWx, gWh, gb = out
            dWx, dWh, db = dWx + gWx, dWh + gWh, db + gb
    except CallFailed as e:
        return Check(name, False, str(e))
    except (TypeError, ValueError) as e:
        return Check(name, False, f"its outputs cannot be used in the BPTT loop: {e}")
    bad = compare((dx, dh_next, dWx, dWh, db), expected,
                  ("dx", "dh0", "dWx", "dWh", "db"), F64)
    if bad is not None:
        return Check(name, False, f"T=5, N=2, D=3, H=4, tanh: {bad[1]}",
                     "each step gets dh = dhs[t] + the dh_prev of step t+1; dh_prev must "
                     "be the gradient reaching h_{t-1}")
    return Check(name, True)


ELMAN_STEP_BACKWARD = Exercise(
    name="elman_step_backward",
    title="the Elman BPTT step",
    chapter="kernels/recurrent.md",
    signature="elman_step_backward(dh, x, h_prev, h, Wx, Wh, activation)",
    statement="""\
One Elman step computes h = f(z), z = x Wx + h_prev Wh + b, f = tanh or relu.
Backpropagation through time walks the steps backwards; at each step, given the
total gradient dh reaching h (from the loss at this step plus from step t+1):

    dz = dh * f'(z)          f' from the output h: tanh 1 - h^2, relu 1[h > 0]
    dx = dz Wx^T             dh_prev = dz Wh^T
    dWx = x^T dz             dWh = h_prev^T dz          db = sum over rows of dz

dh, h_prev, h : (N, H), x : (N, D), Wx : (D, H), Wh : (H, H), activation "tanh"
or "relu".  Returns (dx (N, D), dh_prev (N, H), dWx (D, H), dWh (H, H), db (H,))
in the dtype of the inputs.

Checked: tanh and relu in float64 and float32, batch 1, D = H = 1, dh = 0,
central differences of sum(dh * h) with respect to x, h_prev, Wx, Wh and b, and
your step looped over 5 time steps against deepbio's elman_backward.""",
    outputs=("dx", "dh_prev", "dWx", "dWh", "db"),
    cases=_elman_cases,
    reference=ref.elman_step_backward,
    hints={"values": _ELMAN_HINT},
    extras=[_elman_fd("tanh"), _elman_fd("relu"), _elman_through_time],
)


# ----------------------------------------------------------- 7. dense_gauss_newton

GN_LOSSES = ("squared_error", "softmax_cross_entropy", "sigmoid_cross_entropy")


def _gn_reference(x, W, b, vW, vb, loss):
    """G v of a one-layer deepbio.nn.Network: Dense(H, "linear") + the loss."""
    from ..nn import Dense, Network
    n, d = x.shape
    h = W.shape[1]
    net = Network([Dense(h)], loss, dtype=np.dtype(x.dtype).name).build((d,), random_state=0)
    net.set_flat(np.concatenate([W.ravel(), b]))
    y = np.zeros((n, h), x.dtype)
    if loss == "softmax_cross_entropy":
        y[:, 0] = 1
    g = net.gauss_newton_product(np.concatenate([vW.ravel(), vb]), x, y)
    g = _backend.current().to_numpy(g)
    return g[:d * h].reshape(d, h), g[d * h:]


def _gn_inputs(rng, n, d, h, dtype, loss, v_scale=1.0):
    return {"x": _normal(rng, (n, d), dtype), "W": _normal(rng, (d, h), dtype, 0.7),
            "b": _normal(rng, h, dtype), "vW": _normal(rng, (d, h), dtype, v_scale),
            "vb": _normal(rng, h, dtype, v_scale), "loss": loss}


_GN_HINT = ("three steps: Jv = x vW + vb (the R-op), u = H_L Jv (the loss's Hessian in z, "
            "divided by N), then the backward of u: (x^T u, sum of u over rows)")


def _gn_cases():
    cases = []
    for i, loss in enumerate(GN_LOSSES):
        for dtype in (F64, F32):
            cases.append(Case(f"values: {loss}, {np.dtype(dtype)}",
                              _gn_inputs(_rng(90 + i), 5, 4, 3, dtype, loss), _GN_HINT))
    cases.append(Case("edge case: batch 1 (softmax_cross_entropy)",
                      _gn_inputs(_rng(95), 1, 3, 4, F64, "softmax_cross_entropy"), _GN_HINT))
    cases.append(Case("edge case: one output unit under softmax (G = 0)",
                      _gn_inputs(_rng(96), 4, 3, 1, F64, "softmax_cross_entropy"),
                      "a softmax over one unit is constant: its Hessian is 0"))
    cases.append(Case("edge case: odd sizes D=1, H=1 (sigmoid_cross_entropy)",
                      _gn_inputs(_rng(97), 3, 1, 1, F32, "sigmoid_cross_entropy")))
    cases.append(Case("edge case: zero direction v",
                      _gn_inputs(_rng(98), 3, 2, 2, F64, "squared_error", 0.0)))
    return cases


def _gn_symmetric(fn):
    """G is symmetric positive semi-definite: u.Gv = v.Gu and v.Gv >= 0."""
    name = "properties: G symmetric (u.Gv = v.Gu) and positive semi-definite (v.Gv >= 0)"
    for i, loss in enumerate(GN_LOSSES):
        rng = _rng(99 + i)
        a = _gn_inputs(rng, 4, 3, 3, F64, loss)
        u = _gn_inputs(rng, 4, 3, 3, F64, loss)
        try:
            Gv = call(fn, a)
            Gu = call(fn, {**a, "vW": u["vW"], "vb": u["vb"]})
            uGv = float((u["vW"] * Gv[0]).sum() + (u["vb"] * Gv[1]).sum())
            vGu = float((a["vW"] * Gu[0]).sum() + (a["vb"] * Gu[1]).sum())
            vGv = float((a["vW"] * Gv[0]).sum() + (a["vb"] * Gv[1]).sum())
        except CallFailed as e:
            return Check(name, False, f"{loss}: {e}")
        except (TypeError, ValueError, IndexError) as e:
            return Check(name, False, f"{loss}: outputs unusable: {e}")
        if not abs(uGv - vGu) <= 1e-9 * (1 + abs(uGv)):
            return Check(name, False, f"{loss}: u.Gv = {uGv:.10g} but v.Gu = {vGu:.10g}",
                         "G = J^T H_L J is symmetric when the same H_L (at z = x W + b) is "
                         "used for every v")
        if vGv < -1e-12:
            return Check(name, False, f"{loss}: v.Gv = {vGv:.6g} < 0", "H_L is positive "
                         "semi-definite for these losses: check its sign")
    return Check(name, True)


DENSE_GAUSS_NEWTON = Exercise(
    name="dense_gauss_newton",
    title="the Gauss-Newton product of a dense layer",
    chapter="hf.md",
    signature="dense_gauss_newton(x, W, b, vW, vb, loss)",
    statement="""\
Hessian-free optimisation needs the curvature-vector product G v = J^T H_L J v,
where J is the Jacobian of the network's output z with respect to the parameters
and H_L the Hessian of the loss with respect to z.  For one dense layer with a
linear output, z = x W + b, and a direction v = (vW, vb):

    Jv = x vW + vb                                    (the R-op, (N, H))
    u  = H_L Jv, per row, divided by N (the losses are batch means):
         squared_error          u = Jv / N
         sigmoid_cross_entropy  u = p (1 - p) Jv / N,   p = sigmoid(z)
         softmax_cross_entropy  u = p * (Jv - sum_j Jv_j p_j) / N,  p = softmax(z)
    G v = (x^T u, sum over rows of u)                 (the backward of u)

x : (N, D), W, vW : (D, H), b, vb : (H,), loss one of "squared_error",
"softmax_cross_entropy", "sigmoid_cross_entropy".  Returns (GvW (D, H), Gvb (H,))
in the dtype of the inputs.  (The targets do not enter: H_L of these losses does
not depend on them.)

Checked: each loss in float64 and float32 against deepbio.nn.Network's
gauss_newton_product, batch 1, one softmax unit (G = 0), D = H = 1, v = 0, and
that G is symmetric and positive semi-definite.""",
    outputs=("GvW", "Gvb"),
    cases=_gn_cases,
    reference=_gn_reference,
    hints={"values": _GN_HINT},
    extras=[_gn_symmetric],
)


# ------------------------------------------------------------------- 8. cg_step


def _spd(rng, p, dtype, diagonal=False):
    eig = np.linspace(1.0, 4.0, p)
    if diagonal:
        return np.diag(eig).astype(dtype)
    q, _ = np.linalg.qr(rng.standard_normal((p, p)))
    return ((q * eig) @ q.T).astype(dtype)


def _cg_reference_x(M, b, x0, k):
    """x_k of deepbio's conjugate_gradient (no preconditioner) after k iterations."""
    from ..optim.hf import conjugate_gradient
    iterates, n = conjugate_gradient(lambda v: M @ v, b, x0, max_iter=k, min_iter=k)
    return iterates[-1][1], n


_CG_HINT = ("alpha = rz / (p^T A p); x + alpha p; r + alpha A p; rz_new = r^T r; "
            "beta = rz_new / rz; p_new = -r + beta p (r = A x - b is the gradient, p "
            "starts at -r)")


def _cg_run(fn, M, b, x0, k):
    """Run the student's step k times from x0; returns the states (x, r, p, rz)."""
    A = lambda v: M @ v          # noqa: E731
    r = A(x0) - b
    state = (x0.copy(), r, -r, float(r @ r))
    states = []
    for _ in range(k):
        given = {"A": A, "x": state[0], "r": state[1], "p": state[2], "rz": state[3]}
        kept = copy_inputs(given)
        state = call(fn, given)
        for name in ("x", "r", "p"):
            if not np.array_equal(kept[name], given[name], equal_nan=True):
                raise CallFailed(f"the function modified its input {name!r} (kernels are "
                                 f"pure: x = x + alpha p, not x += alpha p)")
        if not isinstance(state, (tuple, list)) or len(state) != 4:
            raise CallFailed(f"expected a tuple of 4 outputs (x, r, p, rz), got "
                             f"{type(state).__name__}")
        states.append(tuple(state))
    return states


def _cg_case(label, M, b, x0, k, hint=_CG_HINT):
    def check(fn):
        where = f"A ({M.shape[0]}, {M.shape[0]}) {M.dtype}, {k} iteration(s)"
        try:
            states = _cg_run(fn, M, b, x0, k)
        except CallFailed as e:
            return Check(label, False, f"on {where}: {e}", hint)
        x_ref, _ = _cg_reference_x(M, b, x0, k)
        r_ref = M @ x_ref - b
        x, r, p, rz = states[-1]
        bad = compare((x, r, rz), (x_ref, r_ref, np.float64(r_ref @ r_ref)),
                      ("x", "r", "rz"), M.dtype, ("rz",))
        if bad is None:             # p: deepbio's CG does not return it; its form only
            bad = compare(p, (x_ref,), ("p",), M.dtype)
            bad = None if bad is None or bad[0] == "values" else bad
        if bad is not None:
            what, message = bad
            return Check(label, False, f"on {where}, after iteration {k}: {message}",
                         hint if what == "values" else GENERIC_HINTS[what])
        return Check(label, True)
    return check


def _cg_conjugate(fn):
    """The directions are A-conjugate: p_i^T A p_j = 0 for i != j."""
    name = "properties: successive directions are A-conjugate (p_i^T A p_j = 0)"
    rng = _rng(110)
    M = _spd(rng, 6, F64)
    b, x0 = rng.standard_normal(6), np.zeros(6)
    try:
        states = _cg_run(fn, M, b, x0, 4)
    except CallFailed as e:
        return Check(name, False, str(e), _CG_HINT)
    ps = [-(M @ x0 - b)] + [np.asarray(s[2], dtype=F64) for s in states]
    for i in range(len(ps)):
        for j in range(i):
            pap = float(ps[i] @ M @ ps[j])
            scale = float(np.linalg.norm(ps[i]) * np.linalg.norm(M @ ps[j]))
            if abs(pap) > 1e-8 * max(scale, 1e-300):
                return Check(name, False, f"p_{i}^T A p_{j} = {pap:.3g} (|p_{i}| |A p_{j}|"
                             f" = {scale:.3g}) on A (6, 6) float64",
                             "beta = rz_new / rz (new over old) makes p_new conjugate "
                             "to p; the new direction is -r_new + beta p")
    return Check(name, True)


def _cg_grade(ex, fn):
    rng = _rng(100)
    M6, b6 = _spd(rng, 6, F64), rng.standard_normal(6)
    checks = [
        _cg_case("values: float64, P=6, 3 iterations from x0 = 0", M6, b6, np.zeros(6), 3),
        _cg_case("values: float64, P=6, 6 iterations from a random x0 (solves A x = b)",
                 M6, b6, rng.standard_normal(6), 6),
    ]
    M5 = _spd(rng, 5, F32)
    checks.append(_cg_case("values: float32, P=5, 2 iterations", M5,
                           rng.standard_normal(5).astype(F32), np.zeros(5, F32), 2))
    checks.append(_cg_case("edge case: P=1, one iteration solves it",
                           np.array([[2.5]]), np.array([1.5]), np.zeros(1), 1))
    checks.append(_cg_case("edge case: diagonal A, odd P=3, 2 iterations",
                           _spd(rng, 3, F32, diagonal=True),
                           rng.standard_normal(3).astype(F32), np.ones(3, F32), 2))
    checks.append(_cg_case("edge case: already solved (b = 0, x0 = 0, so r = 0)",
                           _spd(rng, 4, F64), np.zeros(4), np.zeros(4), 1,
                           "with rz = 0 the system is solved: return (x, r, p, rz) as "
                           "they are, without computing 0 / 0"))
    results = [c(fn) for c in checks] + [_cg_conjugate(fn)]
    return results


CG_STEP = Exercise(
    name="cg_step",
    title="one conjugate-gradient iteration",
    chapter="hf.md",
    signature="cg_step(A, x, r, p, rz)",
    statement="""\
Hessian-free optimisation solves A x = b (A = G + lambda I, symmetric positive
definite) by conjugate gradients, minimising phi(x) = 1/2 x^T A x - b^T x.  With
r = A x - b (the gradient of phi), the search direction p (p = -r at the start)
and rz = r^T r, one iteration is

    alpha = rz / (p^T A p)
    x_new = x + alpha p            r_new = r + alpha A p
    rz_new = r_new^T r_new
    beta = rz_new / rz             p_new = -r_new + beta p

A : a callable, v -> A v (one product per iteration is enough); x, r, p : (P,)
arrays, float32 or float64; rz : a number.  Returns (x_new, r_new, p_new, rz_new):
three (P,) arrays in the dtype of x and a number.  When rz = 0 (already solved),
return the inputs unchanged.  Do not modify the inputs.

Checked: your step looped from x0 against deepbio's conjugate_gradient (x, the
residual r = A x - b and rz after k iterations) in float64 and float32, P = 1,
a diagonal A, a warm start, a solved system (r = 0, no 0 / 0), and that the
directions come out A-conjugate.""",
    outputs=("x", "r", "p", "rz"),
    grade_fn=_cg_grade,
)


#: The exercises, in course order.
EXERCISES = {ex.name: ex for ex in (SIGMOID_BERNOULLI, CD_STATISTICS, DENSE_BACKWARD,
                                    CONV2D_BACKWARD_INPUT, MAXPOOL2D_BACKWARD,
                                    ELMAN_STEP_BACKWARD, DENSE_GAUSS_NEWTON, CG_STEP)}
