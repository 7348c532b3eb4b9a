"""FASTA files: read_fasta and FastaRecord (deepbio.datasets.fasta)."""
import copy
import gzip
import io
import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from deepbio.datasets import FastaRecord, read_fasta



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
