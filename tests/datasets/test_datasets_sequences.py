"""FASTA, one-hot encoding, padding, batching and the synthetic sequence tasks."""
import copy
import gzip
import io
import math
import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from deepbio.datasets import (ALPHABETS, FastaRecord, batch_iter, decode_one_hot,
                              make_addition_problem, make_long_range_sequences,
                              make_motif_sequences, one_hot, pad_sequences, read_fasta)

# ---------------------------------------------------------------------------
# FASTA
# ---------------------------------------------------------------------------


def test_fasta_multiline_blank_lines_descriptions(tmp_path):
    path = tmp_path / "x.fa"
    path.write_text(">chr1 Homo sapiens  chromosome 1\nACGT\nacgt\n\n  \n>s2\nNNNN\n>empty\n")
    recs = read_fasta(path)
    assert recs == [("chr1", "ACGTacgt"), ("s2", "NNNN"), ("empty", "")]
    assert recs[0].description == "Homo sapiens  chromosome 1"
    assert recs[1].description == ""
    assert isinstance(recs[0], FastaRecord) and recs[0].id == "chr1"
    ident, seq = recs[1]
    assert (ident, seq) == ("s2", "NNNN")
    assert [r.sequence for r in read_fasta(path, upper=True)] == ["ACGTACGT", "NNNN", ""]


def test_fasta_windows_line_endings_gzip_and_comments(tmp_path):
    path = tmp_path / "x.fasta.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(b";old-style comment\r\n>a desc\r\nAC GT\r\nTT\r\n;inner comment\r\n>b\r\nG\r\n")
    assert read_fasta(path) == [("a", "ACGTTT"), ("b", "G")]
    # gzip detected by content, whatever the name
    other = tmp_path / "plain_name.txt"
    other.write_bytes(path.read_bytes())
    assert read_fasta(other) == [("a", "ACGTTT"), ("b", "G")]


def test_fasta_from_open_files():
    assert read_fasta(io.StringIO(">x\nAC\r\nGT\r\n")) == [("x", "ACGT")]
    assert read_fasta(io.BytesIO(b">x y\nAC\n")) == [("x", "AC")]
    assert read_fasta([">x", "A", "C"]) == [("x", "AC")]


@pytest.mark.parametrize("text, match", [
    ("", "empty"),
    ("\n\n", "empty"),
    ("ACGT\nACGT\n", "line 1"),
    ("\n\nACGT\n>x\nAC\n", "line 3"),
    (">a\nAC\n>\nGG\n", "line 3.*without an id"),
    (";just a comment\n", "no line starts with '>'"),
])
def test_fasta_errors_give_line_numbers(tmp_path, text, match):
    path = tmp_path / "bad.fa"
    path.write_text(text)
    with pytest.raises(ValueError, match=match):
        read_fasta(path)


dna_text = st.text(alphabet="ACGTacgtNRY", min_size=1, max_size=50)


@given(st.lists(st.tuples(st.from_regex(r"[A-Za-z0-9_|.]{1,10}", fullmatch=True), dna_text),
                min_size=1, max_size=6),
       st.integers(1, 20), st.sampled_from(["\n", "\r\n"]))
def test_fasta_round_trip(tmp_path_factory, records, width, newline):
    text = ""
    for ident, seq in records:
        text += f">{ident} some description{newline}"
        text += newline.join(seq[i:i + width] for i in range(0, len(seq), width)) + newline
    path = tmp_path_factory.mktemp("fa") / "r.fa"
    path.write_bytes(text.encode())
    assert read_fasta(path) == records


# ---------------------------------------------------------------------------
# one-hot
# ---------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------
# pad_sequences and batch_iter
# ---------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------
# synthetic generators
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
    from deepbio.datasets.sequences import _window_end
    assert [T for T in range(20, 1001) if _window_end(10 / T, T) != 10] == []
    for T in (77, 154, 303, 999):
        X, _ = make_addition_problem(n=1000, T=T, first_window=10 / T, random_state=0)
        first = X[:, :, 1].argmax(axis=1)
        assert first.max() == 9


# ---------------------------------------------------------------------------
# FASTA input variants: BOM, line endings, gzip streams, encodings
# ---------------------------------------------------------------------------

FASTA = ">seq1 first test\nACGT\nacgt\n\n>seq2\nGGCC\n"
EXPECTED = [("seq1", "ACGTacgt"), ("seq2", "GGCC")]


@pytest.mark.parametrize("make", [
    lambda b: io.BytesIO(b),
    lambda b: io.BufferedReader(io.BytesIO(b)),
    lambda b: io.TextIOWrapper(io.BytesIO(b), encoding="utf-8"),
    lambda b: io.StringIO(b.decode("utf-8")),
], ids=["BytesIO", "BufferedReader", "text utf-8", "StringIO"])
def test_fasta_file_objects_skip_a_utf8_bom(make):
    data = "\ufeff".encode() + FASTA.encode()
    assert read_fasta(make(data)) == EXPECTED


@pytest.mark.parametrize("newline", ["\r", "\r\n"])
def test_fasta_binary_and_text_streams_with_any_line_ending(tmp_path, newline):
    data = FASTA.replace("\n", newline).encode()
    path = tmp_path / "x.fa"
    path.write_bytes(data)
    with open(path, "rb") as fh:
        recs = read_fasta(fh)
    assert recs == EXPECTED and recs[0].description == "first test"
    assert read_fasta(io.BytesIO(data)) == EXPECTED
    assert read_fasta(io.StringIO(data.decode())) == EXPECTED
    with open(path, newline="") as fh:
        assert read_fasta(fh) == EXPECTED


def test_fasta_gzip_binary_streams_and_caller_file_stays_open(tmp_path):
    path = tmp_path / "x.fa.gz"
    path.write_bytes(gzip.compress(FASTA.encode()))
    with open(path, "rb") as fh:
        assert read_fasta(fh) == EXPECTED
        assert not fh.closed
    assert read_fasta(io.BytesIO(path.read_bytes())) == EXPECTED
    plain = io.BytesIO(FASTA.encode())
    read_fasta(plain)
    assert not plain.closed


def test_fasta_truncated_gzip_names_the_file(tmp_path):
    rng = np.random.default_rng(0)
    text = "".join(f">s{i}\n{''.join(rng.choice(list('ACGT'), 60))}\n" for i in range(2000))
    raw = gzip.compress(text.encode())
    path = tmp_path / "cut.fa.gz"
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match=r"cut\.fa\.gz.*truncated or corrupt gzip"):
        read_fasta(path)


def test_fasta_non_utf8_input_is_a_clear_error(tmp_path):
    latin1 = tmp_path / "latin1.fa"
    latin1.write_bytes(">a \xb5m\nACGT\n".encode("latin-1"))
    with pytest.raises(ValueError,
                       match=r"latin1\.fa'?: line 1, column 4: byte 0xb5 is not valid UTF-8"):
        read_fasta(latin1)
    with pytest.raises(ValueError, match="line 1, column 4: byte 0xb5"):
        read_fasta(io.BytesIO(latin1.read_bytes()))
    assert read_fasta(latin1, encoding="latin-1")[0].description == "\xb5m"
    utf16 = tmp_path / "utf16.fa"
    utf16.write_bytes(FASTA.encode("utf-16"))
    with pytest.raises(ValueError, match="utf16.fa.*UTF-16"):
        read_fasta(utf16)
    assert read_fasta(utf16, encoding="utf-16") == EXPECTED


def test_fasta_errors_name_the_file(tmp_path):
    path = tmp_path / "bad.fa"
    path.write_text("ACGT\n")
    with pytest.raises(ValueError, match=r"bad\.fa'?: line 1: sequence data before"):
        read_fasta(path)


def test_fasta_record_replace_make_copy_pickle_keep_description():
    rec = FastaRecord("a", "AC", "some desc")
    new = rec._replace(sequence="GG")
    assert isinstance(new, FastaRecord) and new == ("a", "GG") and new.description == "some desc"
    assert rec._replace(description="x").description == "x"
    with pytest.raises(ValueError, match="unexpected field"):
        rec._replace(name="b")
    assert FastaRecord._make(["b", "T"]).description == ""
    assert FastaRecord._make(["b", "T", "d"]).description == "d"
    assert rec._asdict() == {"id": "a", "sequence": "AC", "description": "some desc"}
    for clone in (pickle.loads(pickle.dumps(rec)), copy.copy(rec), copy.deepcopy(rec)):
        assert clone == rec and clone.description == "some desc"
    ident, seq = rec
    assert (ident, seq) == ("a", "AC") and rec._fields == ("id", "sequence")


def test_motif_too_short_for_length_names_the_cause():
    with pytest.raises(ValueError, match=r"'TG'.*length 300 contains it about 18\.7 times"
                                         r".*longer motif"):
        make_motif_sequences(n=20, length=300, motif="TG", random_state=0)


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
