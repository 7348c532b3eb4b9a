"""Alphabets and the one-hot codec (deepbio.datasets.encoding)."""
import io

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from deepbio.datasets import ALPHABETS, decode_one_hot, one_hot, read_fasta



def test_one_hot_basic_layout_padding_and_mask():
    X, mask = one_hot(["ACGT", "gga"])
    assert X.shape == (2, 4, 4) and X.dtype == np.float32
    assert mask.dtype == bool and mask.tolist() == [[True] * 4, [True, True, True, False]]
    np.testing.assert_array_equal(X[0], np.eye(4))
    np.testing.assert_array_equal(X[1, 3], 0.0)
    np.testing.assert_array_equal(X[1, :3].argmax(axis=1), [2, 2, 0])


@pytest.mark.parametrize("alphabet", ["dna", "rna", "protein"])
@given(data=st.data())
def test_one_hot_argmax_round_trip(alphabet, data):
    letters = ALPHABETS[alphabet][0]
    seqs = data.draw(st.lists(st.text(alphabet=letters + letters.lower(), min_size=1,
                                      max_size=30), min_size=1, max_size=8))
    X, mask = one_hot(seqs, alphabet=alphabet, strict=True)
    assert X.shape == (len(seqs), max(map(len, seqs)), len(letters))
    assert mask.sum(axis=1).tolist() == [len(s) for s in seqs]
    for i, s in enumerate(seqs):
        idx = X[i, mask[i]].argmax(axis=1)
        assert "".join(letters[j] for j in idx) == s.upper()
    np.testing.assert_array_equal(X[~mask], 0.0)
    assert decode_one_hot(X, mask, alphabet) == [s.upper() for s in seqs]


@pytest.mark.parametrize("alphabet", ["dna", "rna", "protein"])
def test_every_ambiguity_code_is_a_distribution_over_its_letters(alphabet):
    letters, codes = ALPHABETS[alphabet]
    X, mask = one_hot(["".join(codes)], alphabet=alphabet)
    np.testing.assert_allclose(X[0].sum(axis=1), 1.0, rtol=1e-6)
    for row, (code, meaning) in zip(X[0], codes.items()):
        expected = np.zeros(len(letters))
        for m in meaning:
            expected[letters.index(m)] = 1.0 / len(meaning)
        np.testing.assert_allclose(row, expected, rtol=1e-6, err_msg=code)


def test_specific_iupac_values():
    X, _ = one_hot(["RNY"], dtype=np.float64)
    np.testing.assert_array_equal(X[0], [[0.5, 0, 0.5, 0], [0.25] * 4, [0, 0.5, 0, 0.5]])
    X, _ = one_hot(["n"], alphabet="rna")
    np.testing.assert_array_equal(X[0, 0], [0.25] * 4)
    P, _ = one_hot(["XBZJUO"], alphabet="protein", dtype=np.float64)
    aa = ALPHABETS["protein"][0]
    np.testing.assert_allclose(P[0, 0], 1 / 20)
    assert {aa[i] for i in np.flatnonzero(P[0, 1])} == {"D", "N"}
    assert {aa[i] for i in np.flatnonzero(P[0, 2])} == {"E", "Q"}
    assert {aa[i] for i in np.flatnonzero(P[0, 3])} == {"I", "L"}
    assert aa[P[0, 4].argmax()] == "C" and P[0, 4].max() == 1.0
    assert aa[P[0, 5].argmax()] == "K" and P[0, 5].max() == 1.0


def test_gaps_are_zero_rows_inside_the_mask():
    X, mask = one_hot(["A-C.G", "A"])
    np.testing.assert_array_equal(X[0, [1, 3]], 0.0)
    assert mask[0].all() and mask[1].tolist() == [True, False, False, False, False]
    assert decode_one_hot(X, mask) == ["A-C-G", "A"]


def test_decode_recovers_iupac_codes():
    X, mask = one_hot(["ACGTRYSWKMBDHVN"])
    assert decode_one_hot(X, mask) == ["ACGTRYSWKMBDHVN"]


@pytest.mark.parametrize("seqs, alphabet, match", [
    (["ACGT", "AC!T"], "dna", r"sequence 1, position 2: letter '!'"),
    (["AC1"], "dna", r"sequence 0, position 2: letter '1'"),
    (["ACGU"], "dna", r"position 3: letter 'U'"),
    (["ACGT"], "rna", r"position 3: letter 'T'"),
    (["AC GT"], "dna", r"position 2: letter ' '"),
    (["MKV*"], "protein", r"position 3: letter '\*'"),
    (["ACGÅ"], "dna", r"position 3: letter 'Å'"),
])
def test_letters_outside_the_alphabet_always_fail(seqs, alphabet, match):
    for strict in (False, True):
        with pytest.raises(ValueError, match=match):
            one_hot(seqs, alphabet=alphabet, strict=strict)


@pytest.mark.parametrize("seq, alphabet, pos, letter", [
    ("ACNT", "dna", 2, "N"), ("acgr", "dna", 3, "r"), ("MKX", "protein", 2, "X"),
    ("MUK", "protein", 1, "U"), ("AY", "rna", 1, "Y"),
])
def test_strict_rejects_ambiguity_codes(seq, alphabet, pos, letter):
    one_hot([seq], alphabet=alphabet)  # fine when not strict
    with pytest.raises(ValueError, match=rf"sequence 1, position {pos}: .*'{letter}'.*strict"):
        one_hot(["A", seq], alphabet=alphabet, strict=True)


def test_length_truncate_and_errors():
    X, mask = one_hot(["ACGTACGT", "AC"], length=4, truncate=True)
    assert X.shape == (2, 4, 4) and mask.sum(axis=1).tolist() == [4, 2]
    np.testing.assert_array_equal(X[0].argmax(axis=1), [0, 1, 2, 3])
    X, mask = one_hot(["AC"], length=6)
    assert X.shape == (1, 6, 4) and mask.sum() == 2
    with pytest.raises(ValueError, match="sequence 0 has length 8 > length=4"):
        one_hot(["ACGTACGT"], length=4)
    with pytest.raises(ValueError, match="position 6: letter '!'"):
        one_hot(["ACGTAC!"], length=4, truncate=True)  # cut-off letters still validated


def test_one_hot_input_errors():
    with pytest.raises(ValueError, match="sequence 1 is empty"):
        one_hot(["A", ""])
    with pytest.raises(ValueError, match="no sequences"):
        one_hot([])
    with pytest.raises(TypeError, match="list of strings"):
        one_hot("ACGT")
    with pytest.raises(TypeError, match="sequence 0"):
        one_hot([42])
    with pytest.raises(ValueError, match="alphabet"):
        one_hot(["A"], alphabet="dan")
    with pytest.raises(ValueError, match="dtype"):
        one_hot(["A"], dtype=np.int64)


def test_one_hot_accepts_fasta_records_and_dtype():
    recs = read_fasta(io.StringIO(">a\nAC\n>b\nG\n"))
    X, mask = one_hot(recs, dtype=np.float64)
    assert X.dtype == np.float64 and mask.sum() == 3
