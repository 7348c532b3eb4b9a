"""deepbio.course: every worked solution passes its grader, the templates and
deliberately broken solutions fail with the right check and a message that says what
went wrong, and the ``deepbio course`` command lists, starts and checks."""
import io
import os
from pathlib import Path

import pytest

from deepbio import course
from deepbio.cli import main
from deepbio._kernels import reference as ref

SOLUTIONS = Path(__file__).parent / "solutions"


def run(*argv):
    out = io.StringIO()
    return main(list(argv), out), out.getvalue()


# --------------------------------------------------------------- the solutions


def test_there_are_eight_exercises_each_with_a_solution():
    assert course.exercises() == [
        "sigmoid_bernoulli", "cd_statistics", "dense_backward", "conv2d_backward_input",
        "maxpool2d_backward", "elman_step_backward", "dense_gauss_newton", "cg_step"]
    assert sorted(p.stem for p in SOLUTIONS.glob("*.py")) == sorted(course.exercises())


@pytest.mark.parametrize("name", course.exercises())
def test_worked_solution_passes_every_check(name):
    result = course.check(name, SOLUTIONS / f"{name}.py")
    assert result.passed, result.report()
    names = [c.name for c in result.checks]
    assert len(names) >= 7 and len(set(names)) == len(names)
    # every exercise checks both dtypes and edge cases
    assert any("float32" in n for n in names) and any("float64" in n for n in names)
    assert any(n.startswith("edge case") for n in names)
    assert result.report().endswith("all checks passed)")


@pytest.mark.parametrize("name", ["dense_backward", "conv2d_backward_input",
                                  "maxpool2d_backward", "elman_step_backward",
                                  "cd_statistics"])
def test_derivative_exercises_check_finite_differences(name):
    result = course.check(name, SOLUTIONS / f"{name}.py")
    assert any(c.name.startswith("finite differences") for c in result.checks)


def test_reference_kernels_pass_their_own_exercises():
    # the reference itself, handed over as a callable, passes (the grader is fair)
    for name in ("sigmoid_bernoulli", "cd_statistics", "dense_backward",
                 "conv2d_backward_input", "elman_step_backward"):
        assert course.check(name, getattr(ref, name)).passed, name


@pytest.mark.parametrize("name", course.exercises())
def test_template_is_valid_python_and_fails_not_written(name, tmp_path):
    path = course.start(name, tmp_path)
    assert path == os.path.join(tmp_path, f"{name}.py")
    text = Path(path).read_text()
    assert f"deepbio course check {name} {name}.py" in text
    result = course.check(name, path)
    assert not result.passed and result.checks
    assert all(not c.passed for c in result.checks)
    assert "not written yet" in result.checks[0].message


# ---------------------------------------------------------- broken solutions

BROKEN = {
    "naive sigmoid overflows": (
        "sigmoid_bernoulli",
        "def sigmoid_bernoulli(x, u):\n"
        "    p = 1 / (1 + np.exp(-x))\n"
        "    return p, (u < p).astype(x.dtype)\n",
        "edge case: large |x| without overflow, float64", "floating-point error",
        "exp(-|x|)"),
    "sigmoid: missing dtype handling": (
        "sigmoid_bernoulli",
        "def sigmoid_bernoulli(x, u):\n"
        "    e = np.exp(-np.abs(x))\n"
        "    p = np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)\n"
        "    return p, (u < p).astype(float)\n",
        "values: float32, (4, 7)", "s has dtype float64, expected float32", "dtype"),
    "sigmoid: <= instead of <": (
        "sigmoid_bernoulli",
        "def sigmoid_bernoulli(x, u):\n"
        "    e = np.exp(-np.abs(x))\n"
        "    p = np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)\n"
        "    return p, (u <= p).astype(x.dtype)\n",
        "edge case: zero inputs, u = p (s = 1 only when u < p)", "s: largest error 1",
        "strict"),
    "CD: wrong sign": (
        "cd_statistics",
        "def cd_statistics(v0, h0, vk, hk):\n"
        "    n = v0.shape[0]\n"
        "    return (vk.T @ hk - v0.T @ h0) / n, (vk - v0).mean(0), (hk - h0).mean(0)\n",
        "finite differences: the gradient of mean F(vk) - mean F(v0)",
        "dW is not the derivative with respect to W", "positive phase"),
    "CD: sum instead of mean": (
        "cd_statistics",
        "def cd_statistics(v0, h0, vk, hk):\n"
        "    return v0.T @ h0 - vk.T @ hk, (v0 - vk).sum(0), (h0 - hk).sum(0)\n",
        "values: float64, N=6, D=5, H=3", "dW: largest error", ""),
    "dense: wrong sign": (
        "dense_backward",
        "def dense_backward(x, W, a, da, activation):\n"
        "    dz = da * a * (1 - a) if activation == 'sigmoid' else da\n"
        "    return -dz @ W.T, x.T @ dz, dz.sum(0)\n",
        "finite differences: linear", "dx is not the derivative with respect to x", ""),
    "dense: wrong shape of db": (
        "dense_backward",
        "def dense_backward(x, W, a, da, activation):\n"
        "    dz = da\n"
        "    return dz @ W.T, x.T @ dz, dz.sum(0, keepdims=True)\n",
        "values: linear, float64", "db has shape (1, 3), expected (3,)", "keepdims"),
    "dense: tanh derivative 1 - a": (
        "dense_backward",
        "def dense_backward(x, W, a, da, activation):\n"
        "    dz = da * (1 - a) if activation == 'tanh' else da\n"
        "    return dz @ W.T, x.T @ dz, dz.sum(0)\n",
        "values: tanh, float64", "dx: largest error", "1 - a^2"),
    "dense: two outputs": (
        "dense_backward",
        "def dense_backward(x, W, a, da, activation):\n"
        "    return da @ W.T, x.T @ da\n",
        "values: linear, float64", "expected a tuple of 3 outputs (dx, dW, db), got 2",
        "in that order"),
    "conv: padding not cropped": (
        "conv2d_backward_input",
        "def conv2d_backward_input(dy, w, in_size, stride, padding):\n"
        "    n, f, oh, ow = dy.shape\n"
        "    _, c, kh, kw = w.shape\n"
        "    (h, wd), (sh, sw), (ph, pw) = in_size, stride, padding\n"
        "    dxp = np.zeros((n, c, h + 2 * ph, wd + 2 * pw), dy.dtype)\n"
        "    for p in range(kh):\n"
        "        for q in range(kw):\n"
        "            dxp[:, :, p:p + sh * oh:sh, q:q + sw * ow:sw] += "
        "np.einsum('fc,nfij->ncij', w[:, :, p, q], dy)\n"
        "    return dxp\n",
        "edge case: stride 2, padding 1, odd sizes 7x5",
        "dx has shape (2, 2, 9, 7), expected (2, 2, 7, 5)", "shape"),
    "conv: the height's stride used for the width": (
        "conv2d_backward_input",
        "def conv2d_backward_input(dy, w, in_size, stride, padding):\n"
        "    n, f, oh, ow = dy.shape\n"
        "    _, c, kh, kw = w.shape\n"
        "    (h, wd), (sh, _), (ph, pw) = in_size, stride, padding\n"
        "    sw = sh\n"
        "    dxp = np.zeros((n, c, h + 2 * ph, wd + 2 * pw), dy.dtype)\n"
        "    for p in range(kh):\n"
        "        for q in range(kw):\n"
        "            dxp[:, :, p:p + sh * oh:sh, q:q + sw * ow:sw] += "
        "np.einsum('fc,nfij->ncij', w[:, :, p, q], dy)\n"
        "    return dxp[:, :, ph:ph + h, pw:pw + wd]\n",
        "edge case: non-square kernel (2, 3), stride (1, 2), padding (0, 1)",
        "dx: largest error", "keep the height and width parameters apart"),
    "pool: off-by-one in the number of windows": (
        "maxpool2d_backward",
        (SOLUTIONS / "maxpool2d_backward.py").read_text().replace(
            "oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1",
            "oh, ow = (h - kh) // sh, (w - kw) // sw"),
        "values: float64, 2x2 windows, stride 2", "dx: largest error", ""),
    "pool: overlapping windows not summed": (
        "maxpool2d_backward",
        (SOLUTIONS / "maxpool2d_backward.py").read_text().replace(
            "np.add.at(dx, (nn, cc, rows, cols), dy[:, :, i, j])",
            "dx[nn, cc, rows, cols] = dy[:, :, i, j]"),
        "edge case: overlapping 3x3 windows, stride 1 (gradients add up)",
        "dx: largest error", "np.add.at"),
    "pool: the last maximum wins ties": (
        "maxpool2d_backward",
        (SOLUTIONS / "maxpool2d_backward.py").read_text().replace(
            "k = win.argmax(axis=-1)",
            "k = win.shape[-1] - 1 - win[..., ::-1].argmax(axis=-1)"),
        "edge case: zero inputs (every window a tie)", "dx: largest error",
        "first maximum in row-major"),
    "Elman: dh_prev without the transpose": (
        "elman_step_backward",
        "def elman_step_backward(dh, x, h_prev, h, Wx, Wh, activation):\n"
        "    dz = dh * (1 - h * h) if activation == 'tanh' else dh * (h > 0)\n"
        "    return dz @ Wx.T, dz @ Wh, x.T @ dz, h_prev.T @ dz, dz.sum(0)\n",
        "through time: 5 steps of BPTT against deepbio's elman_backward",
        "largest error", "dh_prev must be the gradient reaching h_{t-1}"),
    "GN: the batch mean forgotten": (
        "dense_gauss_newton",
        (SOLUTIONS / "dense_gauss_newton.py").read_text().replace("u = (u / n)", "u = (u)"),
        "values: squared_error, float64", "GvW: largest error", "divided by N"),
    "GN: missing dtype handling": (
        "dense_gauss_newton",
        (SOLUTIONS / "dense_gauss_newton.py").read_text().replace(
            "u = (u / n).astype(x.dtype)", "u = u / np.float64(n)"),
        "values: squared_error, float32", "GvW has dtype float64, expected float32",
        "dtype"),
    "CG: beta inverted": (
        "cg_step",
        (SOLUTIONS / "cg_step.py").read_text().replace("(rz_new / rz)", "(rz / rz_new)"),
        "properties: successive directions are A-conjugate (p_i^T A p_j = 0)",
        "p_1^T A p_0", "new over old"),
    "CG: no guard for a solved system": (
        "cg_step",
        (SOLUTIONS / "cg_step.py").read_text().replace("if rz == 0:", "if False:"),
        "edge case: already solved (b = 0, x0 = 0, so r = 0)", "division by zero",
        "without computing 0 / 0"),
    "CG: updates in place": (
        "cg_step",
        (SOLUTIONS / "cg_step.py").read_text().replace("x = x + alpha * p",
                                                        "x += alpha * p"),
        "values: float64, P=6, 3 iterations from x0 = 0",
        "the function modified its input 'x'", ""),
    "CG: missing dtype handling": (
        "cg_step",
        (SOLUTIONS / "cg_step.py").read_text().replace("alpha = rz / float(p @ Ap)",
                                                        "alpha = np.float64(rz) / (p @ Ap)")
        .replace('"""Worked', 'import numpy as np\n"""Worked'),
        "values: float32, P=5, 2 iterations", "x has dtype float64, expected float32",
        "dtype"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_solution_fails_the_right_check(case, tmp_path):
    name, body, check_name, message, hint = BROKEN[case]
    path = tmp_path / f"{name}.py"
    path.write_text(body if body.lstrip().startswith(('"""', "import")) else
                    "import numpy as np\n\n\n" + body)
    result = course.check(name, path)
    assert not result.passed
    failed = {c.name: c for c in result.failed}
    assert check_name in failed, (f"{case}: expected {check_name!r} to fail; "
                                  f"report:\n{result.report()}")
    assert message in failed[check_name].message, failed[check_name]
    assert hint in failed[check_name].hint, failed[check_name]
    # the message names the inputs it failed on
    if check_name.startswith(("values", "edge case")):
        assert "on " in failed[check_name].message and "(" in failed[check_name].message


def test_value_message_says_where_and_by_how_much(tmp_path):
    def wrong(x, W, a, da, activation):
        dx, dW, db = ref.dense_backward(x, W, a, da, activation)
        dx = dx.copy()
        dx[1, 2] += 0.5
        return dx, dW, db
    c = course.check("dense_backward", wrong)["values: linear, float64"]
    assert not c.passed
    assert "x (5, 4) float64" in c.message and "activation='linear'" in c.message
    assert "largest error 0.5 at index (1, 2)" in c.message
    assert "1 of 20 entries are off" in c.message


# ------------------------------------------------------------------ loading


def test_load_errors_are_one_failed_check(tmp_path):
    r = course.check("cg_step", tmp_path / "missing.py")
    assert [c.name for c in r.checks] == ["load solution"] and "does not exist" in \
        r.checks[0].message
    bad = tmp_path / "bad.py"
    bad.write_text("def cg_step(:\n")
    r = course.check("cg_step", bad)
    assert not r.passed and "SyntaxError" in r.checks[0].message
    other = tmp_path / "other.py"
    other.write_text("def cg(A, x, r, p, rz):\n    pass\n")
    r = course.check("cg_step", other)
    assert "defines no function 'cg_step' (it defines cg)" in r.checks[0].message
    assert "deepbio course start cg_step" in r.checks[0].hint
    with pytest.raises(ValueError, match="exercise must be one of sigmoid_bernoulli"):
        course.check("nope", other)


def test_start_never_overwrites_without_force(tmp_path):
    path = tmp_path / "mine.py"
    path.write_text("my work")
    with pytest.raises(FileExistsError, match="already exists; pass force=True"):
        course.start("cg_step", path)
    assert path.read_text() == "my work"
    assert course.start("cg_step", path, force=True) == str(path)
    assert "def cg_step(A, x, r, p, rz):" in path.read_text()
    assert sorted(os.listdir(tmp_path)) == ["mine.py"]       # no temporary left behind


# ---------------------------------------------------------------------- CLI


def test_cli_list_start_check(tmp_path, capsys):
    rc, out = run("course", "list")
    assert rc == 0 and len(out.splitlines()) == 8
    assert "5. maxpool2d_backward" in out and "docs/kernels/pool.md" in out
    rc, out = run("course", "show", "cg_step")
    assert rc == 0 and "beta = rz_new / rz" in out
    target = tmp_path / "cd.py"
    rc, out = run("course", "start", "cd_statistics", str(target))
    assert rc == 0 and target.is_file() and f"deepbio course check cd_statistics {target}" \
        in out
    rc, _ = run("course", "start", "cd_statistics", str(target))
    assert rc == 1 and "already exists" in capsys.readouterr().err
    rc, out = run("course", "check", "cd_statistics", str(target))
    assert rc == 1 and "FAIL  values: float64" in out and "checks passed (" in out
    rc, out = run("course", "start", "cd_statistics", str(target), "--force")
    assert rc == 0
    rc, out = run("course", "check", "cd_statistics", str(SOLUTIONS / "cd_statistics.py"))
    assert rc == 0 and "PASS  finite differences" in out and "all checks passed" in out
    with pytest.raises(SystemExit):
        run("course", "check", "no_such_exercise", str(target))
    assert "invalid choice" in capsys.readouterr().err
