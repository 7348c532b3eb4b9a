"""The pathological long-range problems of Martens & Sutskever (2011): shapes, dtypes,
determinism, targets recomputed independently from the inputs, and the success rules
on perfect and on chance predictions."""
import numpy as np
import pytest

import deepbio
from deepbio.datasets import (PATHOLOGICAL_PROBLEMS, make_addition_problem,
                              make_memorization_problem, make_multiplication_problem,
                              make_random_permutation_problem, make_temporal_order_problem,
                              make_xor_problem, pathological_error, pathological_success)

GENERATORS = {
    "multiplication": lambda **k: make_multiplication_problem(**k),
    "xor": lambda **k: make_xor_problem(**k),
    "temporal_order": lambda **k: make_temporal_order_problem(n_symbols=2, **k),
    "temporal_order_3bit": lambda **k: make_temporal_order_problem(n_symbols=3, **k),
    "random_permutation": lambda **k: make_random_permutation_problem(**k),
    "memorization": lambda **k: make_memorization_problem(**k),
}


def test_exported_from_the_package():
    for name in ("make_multiplication_problem", "make_xor_problem",
                 "make_temporal_order_problem", "make_random_permutation_problem",
                 "make_memorization_problem", "pathological_error", "pathological_success"):
        assert name in deepbio.datasets.__all__
        assert getattr(deepbio.datasets, name) is not None
    assert set(GENERATORS) | {"addition"} == set(PATHOLOGICAL_PROBLEMS)


@pytest.mark.parametrize("problem", sorted(GENERATORS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_determinism_and_dtype(problem, dtype):
    a = GENERATORS[problem](n=50, T=100, random_state=3, dtype=dtype)
    b = GENERATORS[problem](n=50, T=100, random_state=3, dtype=dtype)
    c = GENERATORS[problem](n=50, T=100, random_state=4, dtype=dtype)
    assert len(a) == len(b)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[0], c[0])
    assert a[0].dtype == dtype and a[0].ndim == 3 and a[0].shape[0] == 50
    # a Generator is consumed, as everywhere in deepbio
    rng = np.random.default_rng(0)
    first = GENERATORS[problem](n=5, T=100, random_state=rng)
    second = GENERATORS[problem](n=5, T=100, random_state=rng)
    assert not np.array_equal(first[0], second[0]) or first[0].shape != second[0].shape


def _check_markers(X, mask, T, first, second, length):
    """Independent recomputation of the marker channel rules of the two-operand problems:
    returns the two marked positions of each sequence."""
    n = X.shape[0]
    lengths = mask.sum(axis=1)
    assert ((lengths - 1 >= length[0]) & (lengths - 1 < length[1])).all(), lengths
    assert (mask == (np.arange(X.shape[1]) < lengths[:, None])).all()   # a prefix
    assert X.shape[1] == lengths.max()
    pos = np.empty((n, 2), dtype=int)
    for i in range(n):
        L = lengths[i]
        m = X[i, :, 1]
        assert m[0] == -1 and m[L - 4] == -1
        ones = np.flatnonzero(m == 1)
        assert len(ones) == 2
        assert np.count_nonzero(m) == 4
        assert (X[i, L:] == 0).all()
        assert first[0] <= ones[0] < first[1] and second[0] <= ones[1] < second[1]
        pos[i] = ones
    return pos


def test_multiplication_coding_and_target():
    X, y, mask = make_multiplication_problem(n=300, T=100, random_state=0)
    assert y.shape == (300, 1) and y.dtype == np.float64 and mask.dtype == bool
    pos = _check_markers(X, mask, 100, (1, 10), (10, 50), (100, 110))
    rows = np.arange(300)
    values = X[:, :, 0]
    assert ((values[mask] >= 0) & (values[mask] < 1)).all()
    np.testing.assert_allclose(y[:, 0], values[rows, pos[:, 0]] * values[rows, pos[:, 1]])
    # T = 200: every window doubles
    X2, y2, m2 = make_multiplication_problem(n=100, T=200, random_state=1)
    _check_markers(X2, m2, 200, (2, 20), (20, 100), (200, 220))


def test_xor_coding_and_target():
    X, y, mask = make_xor_problem(n=300, T=100, random_state=0)
    assert y.shape == (300,) and y.dtype == np.int64
    pos = _check_markers(X, mask, 100, (1, 10), (15, 25), (50, 55))
    rows = np.arange(300)
    bits = X[:, :, 0]
    assert set(np.unique(bits[mask])) == {0.0, 1.0}
    expect = (bits[rows, pos[:, 0]].astype(int) ^ bits[rows, pos[:, 1]].astype(int))
    np.testing.assert_array_equal(y, expect)
    assert 0.4 < y.mean() < 0.6


@pytest.mark.parametrize("n_symbols, windows", [
    (2, [(1, 10), (40, 50)]), (3, [(1, 10), (30, 40), (50, 60)])])
def test_temporal_order_coding_and_target(n_symbols, windows):
    n = 400
    X, y, mask = make_temporal_order_problem(n=n, T=100, n_symbols=n_symbols,
                                             random_state=0)
    assert X.shape[2] == 8 and y.dtype == np.int64
    K = 2 ** n_symbols
    np.testing.assert_array_equal(np.bincount(y, minlength=K), [n // K] * K)   # balanced
    lengths = mask.sum(axis=1)
    assert ((lengths - 1 >= 100) & (lengths - 1 < 110)).all()
    for i in range(n):
        L = lengths[i]
        codes = X[i, :L].argmax(axis=1)
        assert (X[i, :L].sum(axis=1) == 1).all() and (X[i, L:] == 0).all()
        assert codes[0] == 7 and codes[L - 1] == 6
        assert (codes[1:L - 1] != 7).all() and (codes[1:L - 1] != 6).all()
        special = np.flatnonzero((codes == 4) | (codes == 5))
        assert len(special) == n_symbols
        label = 0
        for p, (lo, hi) in zip(special, windows):
            assert lo <= p <= hi
            label = 2 * label + int(codes[p] == 5)          # X = 0, Y = 1, first = high
        assert label == y[i]


def test_random_permutation_coding_and_target():
    X, y = make_random_permutation_problem(n=200, T=30, n_symbols=20, random_state=0)
    assert X.shape == (200, 30, 20) and y.shape == (200, 30)
    codes = X.argmax(axis=2)
    assert (X.sum(axis=2) == 1).all()
    assert set(np.unique(codes[:, 0])) == {0, 1} and (codes[:, 0] == 1).sum() == 100
    assert (codes[:, 1:] >= 2).all()
    np.testing.assert_array_equal(y[:, :-1], codes[:, 1:])
    np.testing.assert_array_equal(y[:, -1], codes[:, 0])


@pytest.mark.parametrize("n_chars, n_symbols", [(5, 2), (10, 5)])
def test_memorization_coding_and_target(n_chars, n_symbols):
    T = 40
    X, y = make_memorization_problem(n=100, T=T, n_chars=n_chars, n_symbols=n_symbols,
                                     random_state=0)
    assert X.shape == (100, T, n_symbols + 2) and y.shape == (100, T)
    codes = X.argmax(axis=2)
    assert (X.sum(axis=2) == 1).all()
    blank, trigger = n_symbols + 1, n_symbols
    assert (codes[:, :n_chars] < n_symbols).all()
    assert (codes[:, T - n_chars - 1] == trigger).all()
    rest = np.delete(codes[:, n_chars:], T - n_chars - 1 - n_chars, axis=1)
    assert (rest == blank).all()
    np.testing.assert_array_equal(y[:, -n_chars:], codes[:, :n_chars])
    assert (y[:, :-n_chars] == n_symbols).all()


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="T"):
        make_multiplication_problem(n=5, T=5)
    with pytest.raises(ValueError, match="n_symbols"):
        make_temporal_order_problem(n=5, n_symbols=4)
    with pytest.raises(ValueError, match="T"):
        make_memorization_problem(n=5, T=10, n_chars=5)
    with pytest.raises(ValueError, match="problem"):
        pathological_error("subtraction", [1.0], [1.0])
    with pytest.raises(ValueError, match="n_chars"):
        pathological_error("memorization", np.zeros((2, 20), int), np.zeros((2, 20), int))
    with pytest.raises(ValueError, match="y_pred"):
        pathological_error("temporal_order", np.zeros(4, int), np.zeros((4, 3, 2)))
    with pytest.raises(ValueError, match="max_error"):
        pathological_success("addition", [1.0], [1.0], max_error=2)


def test_success_on_perfect_and_chance_predictions():
    rng = np.random.default_rng(0)
    # real-valued: the 0.04 tolerance, both sides of it
    for make, name in ((make_addition_problem, "addition"),
                       (make_multiplication_problem, "multiplication")):
        out = make(n=1000, T=100, random_state=1)
        y = out[1]
        assert pathological_error(name, y, y) == 0.0
        assert pathological_success(name, y, y + 0.039)
        assert pathological_error(name, y, y + 0.041) == 1.0
        chance = np.full_like(y, y.mean())                 # the constant predictor
        assert not pathological_success(name, y, chance)
        assert pathological_error(name, y[:, 0], chance[:, 0]) > 0.7
    # classification: perfect labels, perfect one-hot scores, random guesses
    _, y, _ = make_xor_problem(n=1000, random_state=1)
    assert pathological_success("xor", y, y)
    assert pathological_success("xor", y, np.where(y == 1, 0.9, 0.1))      # probabilities
    assert pathological_success("xor", y, np.eye(2)[y])                    # scores
    assert 0.4 < pathological_error("xor", y, rng.random(1000)) < 0.6
    for n_symbols, name in ((2, "temporal_order"), (3, "temporal_order_3bit")):
        _, y, _ = make_temporal_order_problem(n=1000, n_symbols=n_symbols, random_state=1)
        K = 2 ** n_symbols
        assert pathological_success(name, y, y)
        assert pathological_success(name, y, np.eye(K)[y] + 0.01)
        err = pathological_error(name, y, rng.integers(0, K, 1000))
        assert abs(err - (1 - 1 / K)) < 0.06
    _, y = make_random_permutation_problem(n=1000, T=20, n_symbols=10, random_state=1)
    pred = rng.integers(0, 10, y.shape)
    pred[:, -1] = y[:, -1]                    # only the last step counts
    assert pathological_error("random_permutation", y, pred) == 0.0
    pred[:, -1] = rng.integers(0, 2, 1000)
    assert 0.4 < pathological_error("random_permutation", y, pred) < 0.6
    _, y = make_memorization_problem(n=1000, T=30, n_chars=5, random_state=1)
    assert pathological_success("memorization", y, np.eye(3)[y], n_chars=5)
    guess = y.copy()
    guess[:, -5:] = rng.integers(0, 2, (1000, 5))
    assert 0.45 < pathological_error("memorization", y, guess, n_chars=5) < 0.55
    guess[:, -1] = 1 - y[:, -1]                      # one char of five always wrong
    guess[:, -5:-1] = y[:, -5:-1]
    assert pathological_error("memorization", y, guess, n_chars=5) == pytest.approx(0.2)
