"""Expression matrices: read_expression (CSV / TSV / GCT)."""
import gzip

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from deepbio.datasets import read_expression

# ---------------------------------------------------------------------------
# writers used by the round-trip tests
# ---------------------------------------------------------------------------


def write_delimited(path, X, rows, cols, sep, corner="id"):
    lines = [sep.join([corner] + list(cols))]
    for name, row in zip(rows, X):
        lines.append(sep.join([name] + [repr(float(v)) for v in row]))
    path.write_text("\n".join(lines) + "\n")


def write_gct(path, X_genes_by_samples, genes, samples, descriptions=None):
    descriptions = descriptions or ["na"] * len(genes)
    lines = ["#1.2", f"{len(genes)}\t{len(samples)}", "\t".join(["Name", "Description"] + samples)]
    for g, d, row in zip(genes, descriptions, X_genes_by_samples):
        lines.append("\t".join([g, d] + [repr(float(v)) for v in row]))
    path.write_text("\n".join(lines) + "\n")


names = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-", min_size=1, max_size=8)
finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


@st.composite
def named_matrix(draw):
    n = draw(st.integers(1, 5))
    g = draw(st.integers(1, 6))
    X = np.array(draw(st.lists(st.lists(finite, min_size=g, max_size=g), min_size=n, max_size=n)))
    rows = draw(st.lists(names, min_size=n, max_size=n, unique=True))
    cols = draw(st.lists(names, min_size=g, max_size=g, unique=True))
    return X, rows, cols


@given(named_matrix(), st.sampled_from([(",", "m.csv"), ("\t", "m.tsv"), ("\t", "m.txt")]))
def test_delimited_round_trip(tmp_path_factory, data, fmt):
    X, rows, cols = data
    sep, fname = fmt
    path = tmp_path_factory.mktemp("expr") / fname
    write_delimited(path, X, rows, cols, sep)
    m = read_expression(path)
    assert m.X.dtype == np.float64 and m.X.shape == X.shape
    np.testing.assert_array_equal(m.X, X)
    assert m.samples == rows and m.genes == cols


@given(named_matrix())
def test_gct_round_trip_is_transposed(tmp_path_factory, data):
    X, samples, genes = data  # X: samples x genes
    path = tmp_path_factory.mktemp("gct") / "m.gct"
    write_gct(path, X.T, genes, samples, [f"desc {g}" for g in genes])
    m = read_expression(path)
    np.testing.assert_array_equal(m.X, X)
    assert m.samples == samples and m.genes == genes
    assert m.descriptions == [f"desc {g}" for g in genes]


def test_transpose_reads_genes_by_samples(tmp_path):
    path = tmp_path / "genes_rows.tsv"
    path.write_text("gene\tS1\tS2\tS3\nTP53\t1\t2\t3\nMYC\t4\t5\t6\n")
    m = read_expression(path, transpose=True)
    assert m.X.shape == (3, 2)
    assert m.samples == ["S1", "S2", "S3"] and m.genes == ["TP53", "MYC"]
    np.testing.assert_array_equal(m.X, [[1, 4], [2, 5], [3, 6]])
    assert m.X.flags.c_contiguous


def test_sniffed_separator_gzip_crlf_quotes_and_r_header(tmp_path):
    path = tmp_path / "m.dat.gz"
    with gzip.open(path, "wt", newline="") as fh:
        fh.write('"G 1"\t"G,2"\r\n"S1"\t1.5\t2\r\n\r\n"S2"\t-3e-2\t4\r\n')  # R: no corner cell
    m = read_expression(path)
    assert m.genes == ["G 1", "G,2"] and m.samples == ["S1", "S2"]
    np.testing.assert_array_equal(m.X, [[1.5, 2.0], [-0.03, 4.0]])


def test_gct_detected_by_version_line_and_gzip(tmp_path):
    path = tmp_path / "expr.txt.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("#1.2\n2\t1\nName\tDescription\tS1\nG1\td\t1\nG2\td\t2\n")
    m = read_expression(path)
    assert m.X.shape == (1, 2) and m.genes == ["G1", "G2"]


@pytest.mark.parametrize("cell", ["", "NA", "NaN", "nan", "N/A"])
def test_missing_values_rejected_with_location_or_kept(tmp_path, cell):
    path = tmp_path / "m.csv"
    path.write_text(f"id,A,B\nS1,1,2\nS2,3,{cell}\n")
    with pytest.raises(ValueError, match=r"missing value .*line 3, column 3.*'S2'.*'B'"):
        read_expression(path)
    m = read_expression(path, allow_missing=True)
    assert np.isnan(m.X[1, 1]) and m.X[0, 0] == 1.0 and np.isfinite(m.X).sum() == 3


@pytest.mark.parametrize("cell", ["abc", "1.2.3", "inf"])
def test_bad_cells_name_row_and_column(tmp_path, cell):
    path = tmp_path / "m.tsv"
    path.write_text(f"id\tA\tB\nS1\t{cell}\t2\n")
    with pytest.raises(ValueError, match=r"line 2, column 2 \(row 'S1', column 'A'\)"):
        read_expression(path, allow_missing=True)


def test_bad_cell_in_gct_names_gene_and_sample(tmp_path):
    path = tmp_path / "m.gct"
    path.write_text("#1.2\n1\t2\nName\tDescription\tS1\tS2\nG1\td\t1\tx\n")
    with pytest.raises(ValueError, match=r"row 'G1', column 'S2'"):
        read_expression(path)


@pytest.mark.parametrize("content, match", [
    ("", "empty"),
    ("\n\n", "empty"),
    ("id,A,B\n", "no data rows"),
    ("id,A,B\nS1,1\n", "line 2 has 2 fields"),
    ("id\nS1\n", "no data columns"),
])
def test_malformed_delimited(tmp_path, content, match):
    path = tmp_path / "m.csv"
    path.write_text(content)
    with pytest.raises(ValueError, match=match):
        read_expression(path)


@pytest.mark.parametrize("content, match", [
    ("#1.3\n1\t1\t0\t0\n", "unsupported GCT version"),
    ("#1.2\n2\t1\nName\tDescription\tS1\nG1\td\t1\n", "declares 2"),
    ("#1.2\n1\t2\nName\tDescription\tS1\nG1\td\t1\n", "declares 2"),
    ("#1.2\nx\ty\n", "dimensions"),
    ("#1.2\n1\t1\nGene\tDesc\tS1\nG1\td\t1\n", "Name"),
])
def test_malformed_gct(tmp_path, content, match):
    path = tmp_path / "m.gct"
    path.write_text(content)
    with pytest.raises(ValueError, match=match):
        read_expression(path)


def test_gct_refuses_transpose_and_bad_format(tmp_path):
    path = tmp_path / "m.gct"
    write_gct(path, np.ones((2, 2)), ["G1", "G2"], ["S1", "S2"])
    with pytest.raises(ValueError, match="transpose"):
        read_expression(path, transpose=True)
    with pytest.raises(ValueError, match="format"):
        read_expression(path, format="xlsx")


def test_format_override(tmp_path):
    path = tmp_path / "noext"
    path.write_text("id;A\nS1;2\n")
    with pytest.raises(ValueError):
        read_expression(path, format="csv")  # ';' is not ','
    assert read_expression(path, sep=";").X.tolist() == [[2.0]]


# ---------------------------------------------------------------------------
# Strict numbers, quoting, line numbers, encodings
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["2_8", "1_000.5", "\u0661\u0662", "\uff11\uff12", "0x10",
                                  "1,5", "\u0661e3"])
@pytest.mark.parametrize("slow", [False, True])
def test_only_ascii_decimal_numbers_are_accepted(tmp_path, cell, slow):
    path = tmp_path / "x.tsv"
    # slow=True puts a missing cell in the row, forcing the cell-by-cell parser.
    other = "NA" if slow else "1.0"
    path.write_text(f"id\tA\tB\nS1\t{cell}\t{other}\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"non-numeric value .* line 2, column 2"):
        read_expression(path, allow_missing=True)


def test_ascii_float_syntax_still_parses(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("id,A,B,C,D,E\nS1,-1.5,+2e-3,.5,7.,1E2\nS2, 3 ,4,5,6,NA\n")
    m = read_expression(path, allow_missing=True)
    np.testing.assert_array_equal(m.X[0], [-1.5, 0.002, 0.5, 7.0, 100.0])
    assert m.X[1, 0] == 3.0 and np.isnan(m.X[1, 4])


@pytest.mark.parametrize("token", ["-nan", "+nan", "-NaN", "+NAN"])
def test_signed_nan_is_missing(tmp_path, token):
    path = tmp_path / "x.csv"
    path.write_text(f"id,A,B\nS1,1,{token}\n")
    assert np.isnan(read_expression(path, allow_missing=True).X[0, 1])
    with pytest.raises(ValueError, match="missing value .*allow_missing"):
        read_expression(path)


def test_unbalanced_quote_in_a_big_csv_is_a_value_error_with_the_line(tmp_path):
    rows = [f"G{i},1.0,2.0" for i in range(20000)]
    rows[5] = '"G5,1.0,2.0'
    path = tmp_path / "big.csv"
    path.write_text("id,A,B\n" + "\n".join(rows) + "\n")
    with pytest.raises(ValueError, match=r"big\.csv'?: line 7: .*unbalanced '\"'"):
        read_expression(path)


def test_unbalanced_quote_in_a_small_csv_points_at_the_quote(tmp_path):
    path = tmp_path / "small.csv"
    path.write_text('id,A,B\nS1,1,2\n"S2,3,4\nS3,5,6\n')
    with pytest.raises(ValueError, match=r"line 3: .*unbalanced '\"'"):
        read_expression(path)


def test_gct_quotes_are_ordinary_characters(tmp_path):
    path = tmp_path / "q.gct"
    path.write_text('#1.2\n2\t2\nName\tDescription\tS1\tS2\n'
                    'TP53\t"tumour" protein p53\t1\t2\nMYC\t"unbalanced\t3\t4\n')
    m = read_expression(path)
    assert m.descriptions == ['"tumour" protein p53', '"unbalanced']
    np.testing.assert_array_equal(m.X, [[1, 3], [2, 4]])
    rows = [f"G{i}\tdesc\t1\t2\n" for i in range(20000)]
    rows[5] = 'G5\t"desc\t1\t2\n'
    rows = "".join(rows)
    big = tmp_path / "big.gct"
    big.write_text("#1.2\n20000\t2\nName\tDescription\tS1\tS2\n" + rows)
    assert read_expression(big).X.shape == (2, 20000)


def test_line_numbers_after_a_quoted_field_spanning_lines(tmp_path):
    path = tmp_path / "ml.csv"
    path.write_text('s,A,B\n"S\n1",1,2\nS2,3,x\n')
    with pytest.raises(ValueError, match=r"non-numeric value 'x' at line 4, column 3"):
        read_expression(path)
    path.write_text('s,A,B\n"S\n1",1,y\n')
    with pytest.raises(ValueError, match=r"'y' at lines 2-3, column 3"):
        read_expression(path)


def test_detection_uses_the_first_non_blank_line(tmp_path):
    noext = tmp_path / "table"
    noext.write_text("\n  \nid\tA\tB\nS1\t1\t2\n")
    m = read_expression(noext)
    assert m.genes == ["A", "B"] and m.X.tolist() == [[1.0, 2.0]]
    gct = tmp_path / "expr.txt.gz"
    gct.write_bytes(gzip.compress(b"\n#1.2\n1\t2\nName\tDescription\tS1\tS2\nG\td\t1\t2\n"))
    m = read_expression(gct)
    assert m.descriptions == ["d"] and m.X.shape == (2, 1)


def test_non_utf8_files_are_clear_errors(tmp_path):
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("id,A\nS1,1\nGEN\xb5,2\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin1\.csv'?: line 3, column 4: byte 0xb5 is not "
                                         r"valid UTF-8"):
        read_expression(latin1)
    assert read_expression(latin1, encoding="latin-1").samples == ["S1", "GEN\xb5"]
    utf16 = tmp_path / "utf16.tsv"
    utf16.write_text("id\tA\nS1\t1\n", encoding="utf-16")
    with pytest.raises(ValueError, match=r"utf16\.tsv.*UTF-16"):
        read_expression(utf16)
    assert read_expression(utf16, encoding="utf-16").X.tolist() == [[1.0]]


def test_truncated_gzip_names_the_file(tmp_path):
    raw = gzip.compress(b"s,A\n" + b"".join(b"S%d,%d\n" % (i, i) for i in range(5000)))
    path = tmp_path / "cut.csv.gz"
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match=r"cut\.csv\.gz.*truncated or corrupt gzip"):
        read_expression(path)


def test_errors_name_the_file(tmp_path):
    path = tmp_path / "named.csv"
    path.write_text("id,A\nS1,abc\n")
    with pytest.raises(ValueError, match=r"^'.*named\.csv': non-numeric value 'abc'"):
        read_expression(path)
