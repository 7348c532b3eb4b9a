"""Generic data files (deepbio.datasets.tables): read_table, table_to_float, has_header,
load_array."""
import gzip

import numpy as np
import pytest

from deepbio.datasets import has_header, load_array, read_table, table_to_float
from deepbio.datasets.tables import is_number

# ---------------------------------------------------------------------------
# read_table
# ---------------------------------------------------------------------------


def test_read_table_with_a_header_and_a_label_column(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("age, dose ,diagnosis\n34,1.5, B\n\n51,2e-1,M\n")
    table = read_table(path)
    assert table.columns == ["age", "dose", "diagnosis"]
    assert table.cells.tolist() == [["34", "1.5", "B"], ["51", "2e-1", "M"]]
    assert table.lines == ["line 2", "line 4"]          # the blank line 3 is skipped
    np.testing.assert_array_equal(table_to_float(table, exclude=2), [[34, 1.5], [51, 0.2]])
    np.testing.assert_array_equal(table_to_float(table, exclude=[-1, 0]), [[1.5], [0.2]])


def test_read_table_headerless_gzip_tsv_and_header_override(tmp_path):
    path = tmp_path / "x.tsv.gz"
    with gzip.open(path, "wt", newline="") as fh:
        fh.write("1\t2\r\n3\t4\r\n")
    table = read_table(path)
    assert table.columns is None and table.cells.shape == (2, 2)
    np.testing.assert_array_equal(table_to_float(table), [[1, 2], [3, 4]])
    forced = read_table(path, header=True)
    assert forced.columns == ["1", "2"] and forced.cells.shape == (1, 2)
    named = tmp_path / "n.csv"
    named.write_text("a,b\n1,2\n")
    assert read_table(named, header=False).cells.shape == (2, 2)
    with pytest.raises(ValueError, match="header must be one of"):
        read_table(named, header="yes")


def test_read_table_sniffs_the_separator_of_other_names(tmp_path):
    path = tmp_path / "data.dat"
    path.write_text("a\tb\n1\t2\n")
    assert read_table(path).columns == ["a", "b"]
    path.write_text("a;b\n1;2\n")
    assert read_table(path, sep=";").columns == ["a", "b"]


@pytest.mark.parametrize("content, match", [
    ("", "empty file"),
    ("\n\n", "empty file"),
    ("a,b\n", "header .*but no data rows"),
    ("1,2\n3\n", "line 2 has 1 fields but line 1 has 2"),
    ('a,b\n1,"2\n', "unbalanced"),
])
def test_read_table_errors_name_the_file_and_line(tmp_path, content, match):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(ValueError, match=match) as info:
        read_table(path)
    assert str(info.value).startswith(f"{str(path)!r}: ")


def test_read_table_encoding_errors(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("a,b\n1,\xb5\n".encode("latin-1"))
    with pytest.raises(ValueError, match="line 2, column 3: byte 0xb5 is not valid UTF-8"):
        read_table(path)
    assert read_table(path, encoding="latin-1").cells.tolist() == [["1", "\xb5"]]


@pytest.mark.parametrize("cell, match", [
    ("x", r"non-numeric value 'x' at line 3, column 2 \(column 'b'\)"),
    ("1_000", "non-numeric value '1_000'"),
    ("\u0661", "non-numeric value"),
    ("inf", "non-finite value 'inf'"),
    ("NA", "missing value 'NA' .*allow_missing=True"),
    ("", "missing value ''"),
])
def test_table_to_float_is_strict_and_locates_the_cell(tmp_path, cell, match):
    path = tmp_path / "t.csv"
    path.write_text(f"a,b,c\n1,2,y\n3,{cell},z\n")
    table = read_table(path)
    with pytest.raises(ValueError, match=match) as info:
        table_to_float(table, exclude=2)
    assert str(info.value).startswith(f"{str(path)!r}: ")


def test_table_to_float_missing_values_and_numeric_cells(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("1,NA\n3,\n")
    X = table_to_float(read_table(path, header=False), allow_missing=True)
    assert X[0, 0] == 1 and np.isnan(X[:, 1]).all()
    headerless = read_table(path, header=False)
    with pytest.raises(ValueError, match=r"line 1, column 2; pass allow_missing"):
        table_to_float(headerless)
    numeric = {"cells": np.arange(6).reshape(2, 3)}
    np.testing.assert_array_equal(table_to_float(numeric, exclude=1), [[0, 2], [3, 5]])


def test_is_number_is_ascii_decimal():
    for text in ["1", "-1.5", " 2e-3 ", ".5", "1.", "+3", "inf", "-Infinity", "nan"]:
        assert is_number(text), text
    for text in ["", "1_000", "0x10", "\u0661", "1.2.3", "abc", "1e"]:
        assert not is_number(text), text


def test_header_rule():
    assert not has_header([["1", "2"], ["3", "4"]])
    assert not has_header([["1", "", "2"], ["3", "4", "5"]])      # a missing value
    assert not has_header([["1.5", "NA"], ["3", "4"]])            # another one
    assert has_header([["age", "x"], ["34", "1"], ["51", "2"]])
    assert has_header([["age"], ["NA"], ["51"]])                  # numbers, one missing
    assert has_header([["", "a", "b"], ["1", "2", "3"]])          # R's row names
    assert not has_header([["1.5", "B"], ["2", "M"], ["3", "B"]])  # string target
    assert not has_header([["B"], ["M"], ["B"]])                  # labels, no header
    assert has_header([["diagnosis"], ["M"], ["B"]])
    assert has_header([["label"], ["0"], ["1"]])
    assert has_header([["only", "row"]])


# ---------------------------------------------------------------------------
# load_array
# ---------------------------------------------------------------------------


def test_load_array_npy_and_npz(tmp_path):
    a = np.arange(6.0).reshape(2, 3)
    np.save(tmp_path / "a.npy", a)
    np.testing.assert_array_equal(load_array(tmp_path / "a.npy"), a)
    np.savez(tmp_path / "one.npz", a=a)
    np.testing.assert_array_equal(load_array(tmp_path / "one.npz"), a)
    np.savez_compressed(tmp_path / "two.npz", X=a, y=np.arange(2))
    both = load_array(tmp_path / "two.npz")
    assert set(both) == {"X", "y"}
    np.testing.assert_array_equal(both["y"], [0, 1])
    np.testing.assert_array_equal(load_array(tmp_path / "two.npz", key="X"), a)
    with pytest.raises(ValueError, match="key"):
        load_array(tmp_path / "two.npz", key="Z")
    with pytest.raises(ValueError, match="single array"):
        load_array(tmp_path / "a.npy", key="X")


def test_load_array_never_unpickles(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError):
        load_array(tmp_path / "obj.npy")



def test_load_array_as_dict_names_a_single_array(tmp_path):
    np.savez(tmp_path / "one.npz", y=np.arange(3))
    arrays = load_array(tmp_path / "one.npz", as_dict=True)
    assert list(arrays) == ["y"]
    np.save(tmp_path / "a.npy", np.arange(3))
    assert isinstance(load_array(tmp_path / "a.npy", as_dict=True), np.ndarray)
