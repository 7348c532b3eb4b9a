"""Padding, masks and minibatches of sequences (deepbio.datasets.padding)."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from deepbio.datasets import batch_iter, pad_sequences



@given(st.lists(st.integers(1, 12), min_size=1, max_size=6), st.integers(1, 3),
       st.floats(-5, 5))
def test_pad_sequences_places_data_and_mask(lengths, D, value):
    rng = np.random.default_rng(len(lengths))
    seqs = [rng.normal(size=(t, D)) for t in lengths]
    X, mask = pad_sequences(seqs, value=value)
    assert X.shape == (len(lengths), max(lengths), D) and X.dtype == np.float64
    assert mask.sum(axis=1).tolist() == lengths
    for i, s in enumerate(seqs):
        np.testing.assert_array_equal(X[i, : len(s)], s)
        np.testing.assert_array_equal(X[i, len(s):], value)


def test_pad_sequences_options_and_errors():
    X, mask = pad_sequences([np.arange(5), np.arange(2)], length=3, truncate=True)
    assert X.shape == (2, 3, 1) and X[0, :, 0].tolist() == [0, 1, 2]
    assert X.dtype == np.float64 and mask.tolist() == [[True] * 3, [True, True, False]]
    assert pad_sequences([np.ones((2, 2), np.float32)])[0].dtype == np.float32
    with pytest.raises(ValueError, match="sequence 0 has length 5"):
        pad_sequences([np.arange(5)], length=3)
    with pytest.raises(ValueError, match="sequence 1 has 3 features"):
        pad_sequences([np.ones((2, 2)), np.ones((2, 3))])
    with pytest.raises(ValueError, match="sequence 0 is empty"):
        pad_sequences([np.ones((0, 2))])


def test_batch_iter_covers_everything_once_and_stays_aligned():
    X = np.arange(23)[:, None] * np.ones((1, 3))
    y = np.arange(23)
    batches = list(batch_iter(X, y, batch_size=5, shuffle=True, random_state=0))
    assert [len(b[1]) for b in batches] == [5, 5, 5, 5, 3]
    seen = np.concatenate([b[1] for b in batches])
    assert sorted(seen.tolist()) == list(range(23)) and seen.tolist() != list(range(23))
    for Xb, yb in batches:
        np.testing.assert_array_equal(Xb[:, 0], yb)
    assert [len(b[0]) for b in batch_iter(y, batch_size=5, drop_last=True)] == [5] * 4
    with pytest.raises(ValueError, match="array 1"):
        list(batch_iter(X, y[:3]))
    with pytest.raises(ValueError, match="batch_size"):
        list(batch_iter(X, batch_size=0))



@pytest.mark.parametrize("value, dtype", [
    (np.nan, int), (0.5, np.int32), (300, np.uint8), (-1, np.uint8), (1e40, np.float32),
])
def test_pad_sequences_rejects_a_value_the_dtype_cannot_hold(value, dtype):
    with pytest.raises(ValueError, match="cannot be represented in dtype"):
        pad_sequences([[1, 2], [1]], value=value, dtype=dtype)


def test_pad_sequences_accepts_representable_values():
    X, _ = pad_sequences([[1, 2], [1]], value=-1, dtype=int)
    assert X[1, 1, 0] == -1
    X, _ = pad_sequences([[1, 2], [1]], value=0.1, dtype=np.float32)
    assert X[1, 1, 0] == np.float32(0.1)
    X, _ = pad_sequences([[1, 2], [1]], value=np.inf, dtype=np.float32)
    assert np.isinf(X[1, 1, 0])
