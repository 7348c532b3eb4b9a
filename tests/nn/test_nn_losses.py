"""Losses: values against independent formulas, backward against central differences,
gauss_newton against the explicit Hessian (by differences of the gradient), PSD."""
import math

import numpy as np
import pytest

import deepbio
from deepbio.nn import (LOSSES, MaskedSoftmaxCrossEntropy, SigmoidCrossEntropy,
                        SoftmaxCrossEntropy, SquaredError, get_loss)
from deepbio.testing import assert_close, check_gradient

NAMES = ["softmax_cross_entropy", "sigmoid_cross_entropy", "squared_error"]


def _np(a):
    return deepbio.backend.current().to_numpy(a)


def _arr(a, dtype="float64"):
    return deepbio.backend.current().asarray(a, dtype)


def _problem(name, n=5, k=4, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=2.0, size=(n, k))
    if name == "softmax_cross_entropy":
        y = rng.dirichlet(np.ones(k), size=n)          # probability rows (sum to 1)
        y[:2] = np.eye(k)[[1, 3]]                      # and some one-hot rows
    elif name == "sigmoid_cross_entropy":
        y = rng.uniform(size=(n, k))
        y[:2] = rng.integers(0, 2, size=(2, k))
    else:
        y = rng.normal(size=(n, k))
    return z, y


def _reference_value(name, z, y):
    """The loss written out directly (mean over rows of a sum over units)."""
    n = z.shape[0]
    if name == "softmax_cross_entropy":
        p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        return -np.sum(y * np.log(p)) / n
    if name == "sigmoid_cross_entropy":
        p = 1 / (1 + np.exp(-z))
        return -np.sum(y * np.log(p) + (1 - y) * np.log(1 - p)) / n
    return 0.5 * np.sum((z - y) ** 2) / n


def _explicit_hessian(name, z):
    """d^2 L / dz^2 from the formulas, as an (N K, N K) matrix."""
    n, k = z.shape
    blocks = []
    for row in z:
        if name == "softmax_cross_entropy":
            p = np.exp(row) / np.exp(row).sum()
            blocks.append(np.diag(p) - np.outer(p, p))
        elif name == "sigmoid_cross_entropy":
            p = 1 / (1 + np.exp(-row))
            blocks.append(np.diag(p * (1 - p)))
        else:
            blocks.append(np.eye(k))
    H = np.zeros((n * k, n * k))
    for i, b in enumerate(blocks):
        H[i * k:(i + 1) * k, i * k:(i + 1) * k] = b
    return H / n


@pytest.mark.parametrize("name", NAMES)
def test_value_matches_formula(be, name):
    z, y = _problem(name)
    loss = get_loss(name)
    value = loss.forward(_arr(z), _arr(y))
    assert isinstance(value, float)
    assert math.isclose(value, _reference_value(name, z, y), rel_tol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_output(be, name):
    z, _ = _problem(name)
    p = _np(get_loss(name).output(_arr(z)))
    if name == "softmax_cross_entropy":
        assert_close(p, np.exp(z) / np.exp(z).sum(axis=1, keepdims=True), 1e-12)
    elif name == "sigmoid_cross_entropy":
        assert_close(p, 1 / (1 + np.exp(-z)), 1e-12)
    else:
        assert_close(p, z, 0)


@pytest.mark.parametrize("name", NAMES)
def test_backward_is_the_gradient(be, name):
    z, y = _problem(name)
    loss = get_loss(name)
    loss.forward(_arr(z), _arr(y))
    dz = _np(loss.backward())
    p = _np(loss.output(_arr(z)))
    assert_close(dz, (p - y) / z.shape[0], 1e-12)          # the matching-loss delta
    check_gradient(lambda z: loss.forward(_arr(z), _arr(y)), {"z": z}, {"z": dz})


@pytest.mark.parametrize("name", NAMES)
def test_gauss_newton_is_the_loss_hessian(be, name):
    z, y = _problem(name)
    n, k = z.shape
    loss = get_loss(name)

    def grad(zz):
        loss.forward(_arr(zz.reshape(n, k)), _arr(y))
        return _np(loss.backward()).ravel()

    # Hessian by central differences of the analytic gradient, column by column
    eps = 1e-5
    flat = z.ravel()
    H_fd = np.empty((n * k, n * k))
    for j in range(n * k):
        e = np.zeros(n * k)
        e[j] = eps
        H_fd[:, j] = (grad(flat + e) - grad(flat - e)) / (2 * eps)
    H = _explicit_hessian(name, z)
    assert_close(H_fd, H, 1e-7)

    loss.forward(_arr(z), _arr(y))
    rng = np.random.default_rng(1)
    for _ in range(3):
        rz = rng.normal(size=(n, k))
        hz = _np(loss.gauss_newton(_arr(rz)))
        assert_close(hz.ravel(), H @ rz.ravel(), 1e-12)
    # H_L is positive semi-definite: rz^T H_L rz >= 0 and no negative eigenvalue
    assert np.linalg.eigvalsh(H).min() > -1e-12
    for _ in range(5):
        rz = rng.normal(size=(n, k))
        assert float(np.sum(rz * _np(loss.gauss_newton(_arr(rz))))) >= 0


@pytest.mark.parametrize("name", NAMES)
def test_float32(be, name):
    z, y = _problem(name)
    loss = get_loss(name)
    v32 = loss.forward(_arr(z, "float32"), _arr(y, "float32"))
    assert math.isclose(v32, _reference_value(name, z, y), rel_tol=1e-5)
    assert loss.backward().dtype == np.float32


def test_softmax_is_stable_for_large_logits(be):
    z = np.array([[1000.0, 0.0, -1000.0], [0.0, 0.0, 0.0]])
    y = np.eye(3)[[0, 2]]
    loss = SoftmaxCrossEntropy()
    value = loss.forward(_arr(z), _arr(y))
    assert math.isclose(value, np.log(3) / 2, rel_tol=1e-12)
    s = SigmoidCrossEntropy().forward(_arr(np.array([[800.0, -800.0]])),
                                      _arr(np.array([[1.0, 0.0]])))
    assert s == 0.0


def test_three_axis_outputs_average_over_the_batch_only(be):
    rng = np.random.default_rng(0)
    z = rng.normal(size=(3, 4, 5))
    y = np.eye(5)[rng.integers(0, 5, size=(3, 4))]
    loss = SoftmaxCrossEntropy()
    value = loss.forward(_arr(z), _arr(y))
    assert math.isclose(value, _reference_value("softmax_cross_entropy", z.reshape(12, 5),
                                                y.reshape(12, 5)) * 12 / 3, rel_tol=1e-12)
    check_gradient(lambda z: loss.forward(_arr(z), _arr(y)), {"z": z},
                   {"z": (loss.forward(_arr(z), _arr(y)), _np(loss.backward()))[1]})


def test_registry_and_errors():
    assert set(LOSSES) == set(NAMES) | {"masked_softmax_cross_entropy"}
    assert isinstance(get_loss("masked_softmax_cross_entropy"), MaskedSoftmaxCrossEntropy)
    assert isinstance(get_loss("squared_error"), SquaredError)
    inst = SquaredError()
    assert get_loss(inst) is inst
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        get_loss("hinge")
    with pytest.raises(ValueError, match="targets y have shape"):
        SquaredError().forward(np.ones((3, 2)), np.ones(3))
    with pytest.raises(RuntimeError, match="forward"):
        SquaredError().backward()


@pytest.mark.parametrize("name", NAMES)
def test_check_targets_accepts_valid_targets(be, name):
    _, y = _problem(name)
    get_loss(name).check_targets(_arr(y))
    get_loss(name).check_targets(_arr(y, "float32"))


def test_check_targets_rejects_invalid_targets(be):
    _, y = _problem("softmax_cross_entropy")
    soft = SoftmaxCrossEntropy()
    for bad, match in [(2 * y, "lie in \\[0, 1\\]"), (-y, "lie in \\[0, 1\\]"),
                       (0.9 * y, "row 0 sums to 0.9"), (np.full_like(y, np.nan), "finite")]:
        with pytest.raises(ValueError, match=match):
            soft.check_targets(_arr(bad))
    soft.check_targets(_arr(y + 1e-4 * (y == 0)))       # soft labels within tolerance
    with pytest.raises(ValueError, match="lie in \\[0, 1\\]"):
        SigmoidCrossEntropy().check_targets(_arr(np.array([[0.5, 1.5]])))
    with pytest.raises(ValueError, match="finite"):
        SquaredError().check_targets(_arr(np.array([[0.5, np.inf]])))


def test_only_the_masked_loss_takes_all_zero_rows_as_padding(be):
    y = np.eye(3)[[[0, 1], [2, 0]]]                       # (2, 2, 3)
    y[1, 1] = 0                                           # a padded position
    MaskedSoftmaxCrossEntropy().check_targets(_arr(y))
    with pytest.raises(ValueError, match="row 3 sums to 0"):
        SoftmaxCrossEntropy().check_targets(_arr(y))
    y[1, 1, 0] = 0.5                                      # neither padding nor a class
    with pytest.raises(ValueError, match="row 3 sums to 0.5"):
        MaskedSoftmaxCrossEntropy().check_targets(_arr(y))
