"""Synthetic data (deepbio.datasets.synthetic): expression matrices and sequence tasks."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from deepbio.datasets import (make_addition_problem, make_expression, make_long_range_sequences,
                              make_motif_sequences)

# ---------------------------------------------------------------------------
# make_expression
# ---------------------------------------------------------------------------


def test_make_expression_shapes_dtypes_and_balance():
    X, y = make_expression(n_samples=61, n_genes=120, n_subtypes=4, n_markers=10, random_state=0)
    assert X.shape == (61, 120) and X.dtype == np.float64
    assert y.shape == (61,) and y.dtype == np.int64
    assert sorted(np.bincount(y).tolist()) == [15, 15, 15, 16]
    assert np.isfinite(X).all()


def test_make_expression_reproducible_and_seed_dependent():
    a = make_expression(n_samples=20, n_genes=50, n_markers=5, random_state=3)
    b = make_expression(n_samples=20, n_genes=50, n_markers=5, random_state=3)
    c = make_expression(n_samples=20, n_genes=50, n_markers=5, random_state=4)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.allclose(a[0], c[0])


def test_make_expression_markers_carry_the_subtype_signal():
    sim = make_expression(n_samples=300, n_genes=200, n_subtypes=3, n_markers=15, noise=0.5,
                          random_state=0, return_bunch=True)
    X, y = sim.data, sim.target
    assert sim.markers.shape == (3, 15) and len(set(sim.markers.ravel().tolist())) == 45
    assert len(sim.feature_names) == 200 and sim.feature_names[0] == "GENE0001"
    for k in range(3):
        cols = sim.markers[k]
        diff = X[y == k][:, cols].mean(axis=0) - X[y != k][:, cols].mean(axis=0)
        # sign and size of each marker's shift follow the planted effect
        assert np.all(np.sign(diff) == np.sign(sim.effects[k, cols]))
        assert np.all(np.abs(diff) > 0.5)
    non_markers = np.setdiff1d(np.arange(200), sim.markers.ravel())
    non = [abs(X[y == 0][:, j].mean() - X[y != 0][:, j].mean()) for j in non_markers]
    assert np.median(non) < 0.3


def test_make_expression_modules_are_correlated_and_library_shifts_samples():
    sim = make_expression(n_samples=400, n_genes=100, n_subtypes=2, n_markers=5, n_modules=2,
                          module_size=10, noise=0.3, library_sd=0.0, random_state=1,
                          return_bunch=True)
    assert len(sim.modules) == 2 and all(len(m) == 10 for m in sim.modules)
    assert not set(sim.modules[0]) & set(sim.markers.ravel())
    C = np.corrcoef(sim.data[:, sim.modules[0]].T)
    assert C[np.triu_indices(10, 1)].min() > 0.3
    outside = np.setdiff1d(np.arange(100), np.concatenate([*sim.modules, sim.markers.ravel()]))
    C2 = np.corrcoef(sim.data[:, outside[:10]].T)
    assert np.abs(C2[np.triu_indices(10, 1)]).max() < 0.3
    np.testing.assert_array_equal(sim.library_size, 0.0)
    sim2 = make_expression(n_samples=400, n_genes=100, library_sd=2.0, random_state=1,
                           return_bunch=True)
    # the per-sample offset moves every gene of a sample: row means track it
    r = np.corrcoef(sim2.data.mean(axis=1), sim2.library_size)[0, 1]
    assert r > 0.9


def test_make_expression_noise_zero_is_deterministic_given_structure():
    sim = make_expression(n_samples=10, n_genes=30, n_markers=2, noise=0.0, n_modules=0,
                          library_sd=0.0, random_state=2, return_bunch=True)
    # without noise, modules or library effect, samples of one subtype are identical
    for k in range(3):
        rows = sim.data[sim.target == k]
        np.testing.assert_array_equal(rows, np.broadcast_to(rows[0], rows.shape))


@pytest.mark.parametrize("kwargs, name", [
    (dict(n_samples=2, n_subtypes=3), "n_samples"),
    (dict(n_genes=10, n_subtypes=3, n_markers=4), "n_genes"),
    (dict(n_subtypes=0), "n_subtypes"),
    (dict(n_markers=-1), "n_markers"),
    (dict(noise=-1.0), "noise"),
    (dict(noise=float("nan")), "noise"),
    (dict(n_samples=10.5), "n_samples"),
    (dict(n_samples=True), "n_samples"),
    (dict(effect_size=-2), "effect_size"),
    (dict(module_size=0), "module_size"),
    (dict(random_state="seed"), "random_state"),
])
def test_make_expression_argument_errors_name_the_parameter(kwargs, name):
    with pytest.raises(ValueError, match=name):
        make_expression(**kwargs)


# ---------------------------------------------------------------------------
# sequence tasks
# ---------------------------------------------------------------------------


def test_motif_sequences_labels_positions_and_shapes():
    seqs, y, pos = make_motif_sequences(n=300, length=50, frac_positive=0.3, random_state=0,
                                        return_positions=True)
    assert len(seqs) == 300 and all(len(s) == 50 and set(s) <= set("ACGT") for s in seqs)
    assert y.dtype == np.int64 and y.sum() == 90
    assert np.all((pos >= 0) == (y == 1)) and pos.max() <= 50 - 7
    for s, label, p in zip(seqs, y, pos):
        if label:
            assert s[p:p + 7] == "TGACTCA"
        else:
            assert "TGACTCA" not in s
    assert 0 < y[:150].sum() < 90  # positives are spread, not sorted first


def test_motif_sequences_reproducible_and_seed_dependent():
    a = make_motif_sequences(n=50, length=40, random_state=1)
    b = make_motif_sequences(n=50, length=40, random_state=1)
    c = make_motif_sequences(n=50, length=40, random_state=2)
    assert a[0] == b[0] and np.array_equal(a[1], b[1])
    assert a[0] != c[0]


def test_motif_decoys_mutations_pwm_and_iupac():
    seqs, y = make_motif_sequences(n=200, length=30, decoys=True, random_state=3)
    for s, label in zip(seqs, y):
        assert ("TGACTCA" in s) == bool(label)

    def has_anagram(s, motif):
        k = len(motif)
        return any(sorted(s[i:i + k]) == sorted(motif) for i in range(len(s) - k + 1))

    long_motif = "TGACTCAGGT"
    for decoys in (True, False):
        seqs, y = make_motif_sequences(n=200, length=12, motif=long_motif, decoys=decoys,
                                       random_state=7)
        neg = [s for s, label in zip(seqs, y) if not label]
        frac = np.mean([has_anagram(s, long_motif) for s in neg])
        assert not any(long_motif in s for s in neg)
        # decoys: every negative holds a shuffled copy; without: only by chance (~7%)
        assert frac == 1.0 if decoys else frac < 0.3

    seqs, y, pos = make_motif_sequences(n=400, length=20, mutation_rate=0.5, random_state=4,
                                        return_positions=True)
    planted = [s[p:p + 7] for s, p in zip(seqs, pos) if p >= 0]
    mismatches = np.mean([sum(a != b for a, b in zip(m, "TGACTCA")) for m in planted])
    assert 3.0 < mismatches < 4.0  # 7 * 0.5 expected

    pwm = np.array([[1, 0, 0, 0], [0, 0, 0, 1], [0.5, 0.5, 0, 0]])
    seqs, y, pos = make_motif_sequences(n=200, length=10, motif=pwm, random_state=5,
                                        return_positions=True)
    third = {s[p + 2] for s, p in zip(seqs, pos) if p >= 0}
    assert all(s[p:p + 2] == "AT" for s, p in zip(seqs, pos) if p >= 0) and third == {"A", "C"}

    seqs, y, pos = make_motif_sequences(n=100, length=8, motif="ANT", random_state=6,
                                        return_positions=True)
    middles = {s[p + 1] for s, p in zip(seqs, pos) if p >= 0}
    assert middles == set("ACGT")


@pytest.mark.parametrize("kwargs, name", [
    (dict(n=0), "n"), (dict(length=5), "length"), (dict(frac_positive=1.5), "frac_positive"),
    (dict(mutation_rate=-0.1), "mutation_rate"), (dict(motif="AC!"), "motif"),
    (dict(motif=np.ones((3, 4))), "motif"), (dict(motif="AAAA", decoys=True), "decoys"),
    (dict(background=[0.5, 0.5, 0.5, 0.5]), "background"),
])
def test_motif_argument_errors(kwargs, name):
    with pytest.raises(ValueError, match=name):
        make_motif_sequences(**kwargs)


def test_long_range_sequences():
    X, y = make_long_range_sequences(n=500, length=25, n_symbols=3, random_state=0)
    assert X.shape == (500, 25, 3) and X.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(X.sum(axis=2), 1.0)
    np.testing.assert_array_equal(X[:, 0].argmax(axis=1), y)
    # the label is unrelated to later symbols: each later step agrees about 1/3 of the time
    agree = (X[:, 1:].argmax(axis=2) == y[:, None]).mean()
    assert 0.28 < agree < 0.39
    X2, y2 = make_long_range_sequences(n=500, length=25, n_symbols=3, random_state=0)
    X3, _ = make_long_range_sequences(n=500, length=25, n_symbols=3, random_state=1)
    np.testing.assert_array_equal(X, X2)
    assert not np.array_equal(X, X3)
    with pytest.raises(ValueError, match="n_symbols"):
        make_long_range_sequences(n_symbols=1)
    with pytest.raises(ValueError, match="length"):
        make_long_range_sequences(length=1)


def window_end(fraction, T):
    """floor(fraction * T), counting a product within rounding of an integer as it."""
    x = fraction * T
    return round(x) if abs(x - round(x)) <= 1e-9 * max(1.0, x) else math.floor(x)


@given(st.integers(2, 60), st.floats(0.01, 0.5), st.booleans(), st.integers(0, 1000))
def test_addition_problem_structure(T, first_window, mean, seed):
    X, y = make_addition_problem(n=40, T=T, first_window=first_window, mean=mean,
                                 random_state=seed)
    assert X.shape == (40, T, 2) and y.shape == (40, 1)
    assert X.dtype == np.float64 and y.dtype == np.float64
    marks = X[:, :, 1]
    assert set(np.unique(marks).tolist()) <= {0.0, 1.0}
    np.testing.assert_array_equal(marks.sum(axis=1), 2.0)
    first = marks.argmax(axis=1)
    second = T - 1 - marks[:, ::-1].argmax(axis=1)
    assert np.all(first < max(1, window_end(first_window, T)))
    assert np.all(second >= T // 2)
    assert np.all((X[:, :, 0] >= 0) & (X[:, :, 0] < 1))
    total = (X[:, :, 0] * marks).sum(axis=1)
    np.testing.assert_allclose(y[:, 0], total / 2 if mean else total)


def test_addition_problem_reproducible_dtype_and_errors():
    a = make_addition_problem(n=10, T=30, random_state=0)
    b = make_addition_problem(n=10, T=30, random_state=0)
    c = make_addition_problem(n=10, T=30, random_state=1)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], c[0])
    X, y = make_addition_problem(n=3, T=10, dtype=np.float32)
    assert X.dtype == np.float32 and y.dtype == np.float32
    with pytest.raises(ValueError, match="T"):
        make_addition_problem(T=1)
    with pytest.raises(ValueError, match="first_window"):
        make_addition_problem(first_window=0.7)
    with pytest.raises(ValueError, match="first_window"):
        make_addition_problem(first_window=0.0)


def test_addition_problem_first_window_of_ten_steps_for_every_T():
    # 10 / T * T is 9.999999999999998 for T = 77, 154, 303, ...: still ten steps.
    from deepbio.datasets.synthetic import _window_end
    assert [T for T in range(20, 1001) if _window_end(10 / T, T) != 10] == []
    for T in (77, 154, 303, 999):
        X, _ = make_addition_problem(n=1000, T=T, first_window=10 / T, random_state=0)
        first = X[:, :, 1].argmax(axis=1)
        assert first.max() == 9

def test_motif_too_short_for_length_names_the_cause():
    with pytest.raises(ValueError, match=r"'TG'.*length 300 contains it about 18\.7 times"
                                         r".*longer motif"):
        make_motif_sequences(n=20, length=300, motif="TG", random_state=0)
