"""The checkers of :mod:`deepbio.testing` themselves: they pass right derivatives, catch
wrong ones with a message naming the entry, and skip kinks without hiding errors."""
import math

import numpy as np
import pytest

import deepbio.backend
from deepbio.testing import (assert_close, check_gradient, check_rop, numerical_gradient,
                             random_projection_loss)

REF = deepbio.backend.get("numpy").kernels


def _quadratic():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((3, 3))
    x = rng.standard_normal(3)
    W = rng.standard_normal((2, 3))
    f = lambda x, W: float(x @ A @ x + np.sum(np.sin(W @ x)))  # noqa: E731
    gx = (A + A.T) @ x + W.T @ np.cos(W @ x)
    gW = np.outer(np.cos(W @ x), x)
    return f, {"x": x, "W": W}, {"x": gx, "W": gW}


def test_right_gradient_passes_and_reports():
    f, inputs, grads = _quadratic()
    res = check_gradient(f, inputs, grads)
    assert res.checked == 3 + 6 and res.skipped == 0
    assert res.max_error < 1e-7


def test_inputs_are_not_modified():
    f, inputs, grads = _quadratic()
    before = {k: v.copy() for k, v in inputs.items()}
    check_gradient(f, inputs, grads)
    for k in inputs:
        np.testing.assert_array_equal(inputs[k], before[k])


def test_wrong_entry_is_named_with_both_values():
    f, inputs, grads = _quadratic()
    grads["W"] = grads["W"].copy()
    grads["W"][1, 2] += 1e-3
    with pytest.raises(AssertionError) as e:
        check_gradient(f, inputs, grads)
    msg = str(e.value)
    assert "1 of 9" in msg and "W[1, 2]" in msg
    assert f"analytic {grads['W'][1, 2]:.10g}" in msg and "numeric" in msg


def test_small_relative_errors_on_large_gradients_are_caught():
    # a 1e-4 relative error on a gradient of size 1e3 is far above the 1e-5 tolerance
    x = np.array([10.0, -20.0])
    f = lambda x: float(np.sum(x ** 4)) / 40  # noqa: E731
    g = x ** 3 / 10
    check_gradient(f, {"x": x}, {"x": g})
    with pytest.raises(AssertionError, match=r"x\[1\]"):
        check_gradient(f, {"x": x}, {"x": g * np.array([1, 1 + 1e-4])})


def test_floor_makes_tiny_gradients_absolute():
    x = np.array([1e-9, 2.0])
    f = lambda x: float(1e-9 * x[0] + x[1] ** 2)  # noqa: E731
    # 1e-9 vs 2e-9 is 100% off relatively but far below rtol * floor absolutely (the default
    # floor is 1e-3 of the largest gradient, 4): at 1e-9 of the scale, below what the
    # differences of f ~ 4 can resolve
    check_gradient(f, {"x": x}, {"x": np.array([2e-9, 4.0])})
    with pytest.raises(AssertionError):
        check_gradient(f, {"x": x}, {"x": np.array([2e-9, 4.0])}, floor=1e-12)


def test_relu_kink_at_zero_is_skipped_automatically():
    z = np.array([[0.0, 1.5, -0.7], [0.3, 0.0, -2.0]])
    R = np.array([[1.0, -2.0, 0.5], [0.7, 1.3, -1.1]])
    f = lambda z: float(np.sum(np.maximum(z, 0) * R))  # noqa: E731
    res = check_gradient(f, {"z": z}, {"z": R * (z > 0)})
    assert (res.checked, res.skipped) == (4, 2)
    # the kink test never looks at the analytic gradient: errors elsewhere are still caught
    bad = R * (z > 0)
    bad[0, 1] = 0.0
    with pytest.raises(AssertionError, match=r"z\[0, 1\]"):
        check_gradient(f, {"z": z}, {"z": bad})


def test_maxpool_ties_are_skipped():
    x = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4) / 4
    x[0, 0, 0, 0] = x[0, 0, 1, 1]          # a tie for the max of the first 2x2 window
    loss, (R,) = random_projection_loss(REF.maxpool2d_forward(x, 2, 2)[0])
    _, argmax = REF.maxpool2d_forward(x, 2, 2)
    dx = REF.maxpool2d_backward(R, argmax, (4, 4))
    res = check_gradient(lambda x: loss(REF.maxpool2d_forward(x, 2, 2)[0]), {"x": x}, {"x": dx})
    assert res.skipped == 2 and res.checked == 14


def test_caller_named_kinks_are_skipped():
    f, inputs, grads = _quadratic()
    grads["x"] = grads["x"].copy()
    grads["x"][0] = 99.0
    mask = np.array([True, False, False])
    assert check_gradient(f, inputs, grads, skip={"x": mask}).skipped == 1
    assert check_gradient(f, inputs, grads,
                          kink=lambda name, idx: name == "x" and idx == (0,)).skipped == 1


def test_everywhere_kinked_function_fails():
    x = np.zeros(4)
    with pytest.raises(AssertionError, match="skipped as kinks"):
        check_gradient(lambda x: float(np.abs(x).sum()), {"x": x}, {"x": np.zeros(4)})


def test_max_entries_samples_a_subset():
    f, inputs, grads = _quadratic()
    assert check_gradient(f, inputs, grads, max_entries=2).checked == 4


def test_bad_calls_are_explained():
    f, inputs, grads = _quadratic()
    with pytest.raises(TypeError, match="float64"):
        check_gradient(f, {k: v.astype(np.float32) for k, v in inputs.items()}, grads)
    with pytest.raises(ValueError, match="shape"):
        check_gradient(f, inputs, {"x": np.zeros(4)})
    with pytest.raises(ValueError, match="not among the inputs"):
        check_gradient(f, inputs, {"y": np.zeros(3)})
    with pytest.raises(ValueError, match="scalar"):
        check_gradient(lambda x, W: W @ x, inputs, grads)


def test_numerical_gradient():
    f, inputs, grads = _quadratic()
    np.testing.assert_allclose(numerical_gradient(f, inputs, "W"), grads["W"], rtol=1e-7)


def test_random_projection_loss():
    y = np.zeros((2, 3))
    loss, (R,) = random_projection_loss(y, seed=3)
    assert R.shape == (2, 3) and R.dtype == np.float64
    out = np.arange(6.0).reshape(2, 3)
    assert loss(out) == pytest.approx(float(np.sum(out * R)))
    loss2, (R2, R3) = random_projection_loss(y, np.zeros(4), seed=3)
    np.testing.assert_array_equal(R2, R)            # same seed, same weights
    assert loss2(out, np.ones(4)) == pytest.approx(float(np.sum(out * R) + R3.sum()))
    with pytest.raises(ValueError):
        loss(np.zeros((3, 2)))


# ------------------------------------------------------------------- check_rop


def test_rop_right_and_wrong():
    rng = np.random.default_rng(1)
    x, v = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    f = lambda x: (np.tanh(x), x.sum(axis=1) ** 2)  # noqa: E731
    jvp = ((1 - np.tanh(x) ** 2) * v, 2 * x.sum(axis=1) * v.sum(axis=1))
    res = check_rop(f, x, v, jvp)
    assert res.checked == 12 + 3 and res.skipped == 0
    with pytest.raises(AssertionError, match=r"output 1\[2\]"):
        check_rop(f, x, v, (jvp[0], jvp[1] + np.array([0, 0, 1e-3])))


def test_rop_dict_inputs_and_kinks():
    rng = np.random.default_rng(2)
    x, W = rng.standard_normal((4, 3)), rng.standard_normal((3, 2))
    vx, vW = rng.standard_normal((4, 3)), rng.standard_normal((3, 2))
    x[0] = 0.0                                 # row 0 of x @ W sits on ReLU's kink
    f = lambda x, W: np.maximum(x @ W, 0)      # noqa: E731
    z = x @ W
    jvp = (z > 0) * (vx @ W + x @ vW)
    res = check_rop(f, {"x": x, "W": W}, {"x": vx, "W": vW}, jvp)
    assert (res.checked, res.skipped) == (6, 2)
    with pytest.raises(ValueError, match="same arrays"):
        check_rop(f, {"x": x, "W": W}, {"x": vx}, jvp)


# ---------------------------------------------------------------- assert_close


def test_assert_close():
    e = np.array([1000.0, 1e-3, -5.0])
    assert_close(e + np.array([1e-8, 1e-8, 0]), e, rtol=1e-10)       # scale = max |e|
    with pytest.raises(AssertionError, match=r"worst at \(1,\)"):
        assert_close(e + np.array([0, 1e-3, 0]), e, rtol=1e-10, name="y")
    with pytest.raises(AssertionError, match="dtype"):
        assert_close(e.astype(np.float32), e, rtol=1e-5)
    with pytest.raises(AssertionError, match="shape"):
        assert_close(e[:2], e, rtol=1e-5)
    with pytest.raises(AssertionError, match="NaN"):
        assert_close(np.array([np.nan, 1.0]), np.array([0.0, 1.0]), rtol=1e-5)
    assert_close(np.array([np.inf, 1.0]), np.array([np.inf, 1.0]), rtol=1e-5)


def test_assert_close_infinities_are_matched_exactly():
    # an inf in expected must neither set the default floor (every tolerance would be inf)
    # nor be matched by anything but the same inf
    with pytest.raises(AssertionError, match=r"worst at \(0,\)"):
        assert_close(np.array([1.0, 5.0, -3.0]), np.array([np.inf, 0.0, 7.0]), 1e-6)
    with pytest.raises(AssertionError):
        assert_close(np.array([1.0, 0.0, 7.0]), np.array([np.inf, 0.0, 7.0]), 1e-6)
    with pytest.raises(AssertionError):
        assert_close(np.array([-np.inf, 0.0]), np.array([np.inf, 0.0]), 1e-6)
    with pytest.raises(AssertionError):
        assert_close(np.array([np.inf, 0.0]), np.array([1.0, 0.0]), 1e-6)
    with pytest.raises(AssertionError, match="floor=7"):     # the floor is over finite entries
        assert_close(np.array([np.inf, 0.0, 7.1]), np.array([np.inf, 0.0, 7.0]), 1e-6)
    assert_close(np.array([-np.inf, np.nan, 7.0]), np.array([-np.inf, np.nan, 7.0]), 1e-6)
    assert_close(np.array([np.inf, -np.inf]), np.array([np.inf, -np.inf]), 1e-6)


def test_rounding_noise_is_not_taken_for_a_kink():
    """|f| ~ 1e3 makes the one-sided slopes differ by rounding (~1e-7): not a kink, even
    with a kink tolerance far below that."""
    x = np.array([0.3, -0.2, 1.1])
    f = lambda x: float(1e3 + np.sum(np.sin(x)))  # noqa: E731
    res = check_gradient(f, {"x": x}, {"x": np.cos(x)}, kink_tol=1e-12)
    assert (res.checked, res.skipped) == (3, 0)


# ------------------------------------------- the default floor follows the gradient's scale

SCALES = [1.0, 1e-3, 1e-6]


def _scaled_sin(s):
    x = np.random.default_rng(3).standard_normal(20)
    return (lambda x: s * float(np.sum(np.sin(x)))), x, s * np.cos(x)


@pytest.mark.parametrize("s", SCALES)
def test_right_gradient_passes_at_every_scale(s):
    f, x, g = _scaled_sin(s)
    res = check_gradient(f, {"x": x}, {"x": g})
    assert (res.checked, res.skipped) == (20, 0) and res.max_error < 1e-7


@pytest.mark.parametrize("s", SCALES)
@pytest.mark.parametrize("wrong", ["scaled 1.01x", "sign flipped", "all zero"])
def test_wrong_gradient_fails_at_every_scale(s, wrong):
    """A fixed floor of 1 made the tolerance an absolute 1e-5: at s = 1e-3 a 1 % error
    passed, at s = 1e-6 a negated or all-zero gradient did."""
    f, x, g = _scaled_sin(s)
    bad = {"scaled 1.01x": 1.01 * g, "sign flipped": -g, "all zero": np.zeros_like(g)}[wrong]
    with pytest.raises(AssertionError, match="checked entries disagree"):
        check_gradient(f, {"x": x}, {"x": bad})


@pytest.mark.parametrize("s", SCALES)
def test_one_wrong_entry_is_caught_at_every_scale(s):
    # a 1 % error in one entry (at 1e-6, just above the ~2e-9 rounding floor of f's differences)
    f, x, g = _scaled_sin(s)
    i = int(np.argmax(np.abs(g)))
    bad = g.copy()
    bad[i] *= 1.01
    with pytest.raises(AssertionError, match=rf"1 of 20 .*\n  x\[{i}\]"):
        check_gradient(f, {"x": x}, {"x": bad})


@pytest.mark.parametrize("s", SCALES)
def test_rop_wrong_at_every_scale(s):
    rng = np.random.default_rng(4)
    x, v = rng.standard_normal(10), rng.standard_normal(10)
    f = lambda x: s * np.tanh(x)  # noqa: E731
    jvp = s * (1 - np.tanh(x) ** 2) * v
    assert check_rop(f, x, v, jvp).checked == 10
    for bad in (1.01 * jvp, -jvp, np.zeros_like(jvp)):
        with pytest.raises(AssertionError, match="checked entries disagree"):
            check_rop(f, x, v, bad)


@pytest.mark.parametrize("s", SCALES)
def test_relu_kinks_are_found_at_every_scale(s):
    z = np.array([[0.0, 1.5, -0.7], [0.3, 0.0, -2.0]])
    R = s * np.array([[1.0, -2.0, 0.5], [0.7, 1.3, -1.1]])
    f = lambda z: float(np.sum(np.maximum(z, 0) * R))  # noqa: E731
    res = check_gradient(f, {"z": z}, {"z": R * (z > 0)})
    assert (res.checked, res.skipped) == (4, 2)


def test_loss_cancelling_to_rounding_is_not_failed_for_its_noise():
    """f = sum(t) - sum(t) in two summation orders, t ~ 1: the true gradient is 0 and f is
    rounding (~1e-15), yet its differences carry ~ u / h ~ 4e-10 of noise from the order-one
    terms.  The noise floor counts those terms (|f| floored at 1), so a right (zero) gradient
    passes, while a wrong one is still caught."""
    x = np.random.default_rng(5).standard_normal(12)

    def f(x):
        t = np.exp(x) / 3
        return math.fsum(t) - sum(t[::-1].tolist())
    assert np.abs(numerical_gradient(f, {"x": x}, "x")).max() > 1e-10      # noise is there
    check_gradient(f, {"x": x}, {"x": np.zeros(12)})
    with pytest.raises(AssertionError):
        check_gradient(f, {"x": x}, {"x": np.full(12, 1e-6)})


def test_huge_entries_get_a_relative_step():
    """1e12 + 1e-6 == 1e12: a fixed step divided by zero; the step is relative to |x|."""
    res = check_gradient(lambda x: 0 * np.sum(x), {"x": np.array([1e12])}, {"x": np.array([0.0])})
    assert res.checked == 1
    x = np.array([1e12, -3e8, 0.5])
    f = lambda x: float(np.sum(x ** 2)) * 1e-12  # noqa: E731
    check_gradient(f, {"x": x}, {"x": 2e-12 * x})
    # f ~ 1e12: its differences at x[1] (h = 3e2) carry ~1e-6 of rounding, so a 10 % error
    # of that 6e-4 gradient entry is what they can resolve
    with pytest.raises(AssertionError, match=r"x\[1\]"):
        check_gradient(f, {"x": x}, {"x": 2e-12 * x * np.array([1, 1.1, 1])})
    np.testing.assert_allclose(numerical_gradient(f, {"x": x}, "x"), 2e-12 * x, rtol=1e-6,
                               atol=1e-5)            # f ~ 1e12: u |f| / h ~ 1e-6 at x[1]
    with pytest.raises(ValueError, match="no usable step"):
        check_gradient(lambda x: 0.0, {"x": np.array([np.inf])}, {"x": np.array([0.0])})
