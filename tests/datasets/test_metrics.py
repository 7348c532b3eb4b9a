"""deepbio.datasets.metrics: ROC AUC by ranks, accuracy, mean squared error (checked against their
definitions and, where installed, scikit-learn)."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from deepbio.datasets import accuracy_score, mean_squared_error, roc_auc_score
from deepbio.datasets.metrics import _average_ranks


def _pairwise_auc(y, s):
    """P(score of a positive > score of a negative), ties counting one half."""
    pos, neg = s[y], s[~y]
    return ((pos[:, None] > neg[None, :]).sum()
            + 0.5 * (pos[:, None] == neg[None, :]).sum()) / (pos.size * neg.size)


def test_roc_auc_rank_formula():
    assert roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert roc_auc_score([0, 1], [0.2, 0.9]) == 1.0
    assert roc_auc_score([1, 0], [0.2, 0.9]) == 0.0
    assert roc_auc_score([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]) == 0.5    # ties: average rank
    assert roc_auc_score(["B", "M", "M"], [0.1, 0.9, 0.8]) == 1.0       # "M" > "B": positive
    assert roc_auc_score([False, True], [0.3, 0.1]) == 0.0
    rng = np.random.default_rng(0)
    y = rng.random(200) < 0.4
    s = np.round(rng.random(200) + y * 0.5, 1)                         # many ties
    assert roc_auc_score(y, s) == pytest.approx(_pairwise_auc(y, s))
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    assert roc_auc_score(y, s) == pytest.approx(sklearn_metrics.roc_auc_score(y, s))


@given(st.lists(st.tuples(st.booleans(), st.integers(0, 5)), min_size=2, max_size=40))
def test_roc_auc_equals_the_pairwise_probability(pairs):
    y = np.array([p[0] for p in pairs])
    s = np.array([p[1] for p in pairs], dtype=float)
    if y.all() or not y.any():
        with pytest.raises(ValueError, match="both classes"):
            roc_auc_score(y, s)
    else:
        assert roc_auc_score(y, s) == pytest.approx(_pairwise_auc(y, s))


def test_roc_auc_errors():
    with pytest.raises(ValueError, match="both classes"):
        roc_auc_score([1, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match="both classes.*3 classes"):
        roc_auc_score([0, 1, 2], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="y_score contains NaN"):
        roc_auc_score([0, 1], [0.1, np.nan])
    with pytest.raises(ValueError, match="y_true has 2 samples but y_score has 3"):
        roc_auc_score([0, 1], [0.1, 0.2, 0.3])


def test_average_ranks():
    np.testing.assert_array_equal(_average_ranks(np.array([3.0, 1.0, 3.0, 2.0, 3.0])),
                                  [4.0, 1.0, 4.0, 2.0, 4.0])
    assert _average_ranks(np.array([])).shape == (0,)


def test_accuracy_and_mean_squared_error():
    assert accuracy_score([1, 2, 3, 4], [1, 2, 0, 0]) == 0.5
    assert accuracy_score(np.array(["a", "b"]), np.array(["a", "b"])) == 1.0
    with pytest.raises(ValueError, match="y_true has 2 samples but y_pred has 1"):
        accuracy_score([1, 2], [1])
    assert mean_squared_error([1.0, 2.0, 3.0], [1.0, 2.0, 6.0]) == 3.0
    assert mean_squared_error([[1.0], [2.0]], [1.0, 4.0]) == 2.0       # one output column
    assert mean_squared_error([[1.0, 0.0]], [[0.0, 0.0]]) == 0.5
    with pytest.raises(ValueError, match="output"):
        mean_squared_error([[1.0, 0.0]], [[0.0, 0.0, 1.0]])
