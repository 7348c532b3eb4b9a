"""Generic data files: delimited text tables and NumPy arrays.

- :func:`read_table` -- a CSV / TSV file (optionally gzipped) as a table of strings,
  with or without a header row (:func:`has_header` decides when asked to).
- :func:`table_to_float` -- the numeric columns of such a table as float64, strictly
  parsed, every error naming its line and column.
- :func:`load_array` -- ``.npy`` / ``.npz`` without unpickling.

The record reader and the number parser here are also those of
:func:`deepbio.datasets.read_expression`: numbers are ASCII decimals (``-1.5``, ``2e-3``,
``.5``, ``inf``, ``nan``); Python's ``float()`` extras such as ``1_000`` or non-ASCII
digits are not numbers in a data file.
"""

import csv
import io
import os
import re

import numpy as np

from .._validation import check_choice
from ._base import Bunch
from ._text import (GZIP_ERRORS, CompressedDataError, compression, decode_error_message,
                    first_nonblank_line, open_binary, open_text, source_prefix, strip_gz)

__all__ = ["read_table", "table_to_float", "has_header", "load_array"]

#: Cell contents (after stripping, compared case-insensitively) read as missing.
MISSING_TOKENS = frozenset({"", "na", "nan", "n/a", "null", "none"})


# ASCII decimal floats as written by R, pandas, Excel...: sign, digits, one
# '.', exponent; ``inf`` / ``infinity`` / ``nan``. Python's float() also takes
# '1_000' and non-ASCII digits, which are not numbers in a data file.
_FLOAT_RE = re.compile(
    r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf|infinity|nan)", re.ASCII | re.IGNORECASE
)


def is_number(text):
    """Whether ``text`` (surrounding whitespace ignored) is a number in a data file.

    ASCII decimals (``-1.5``, ``2e-3``, ``.5``), ``inf``, ``infinity`` and ``nan`` in any
    case; not ``1_000``, non-ASCII digits, hexadecimal or the empty string.
    """
    return _FLOAT_RE.fullmatch(text.strip()) is not None


def _is_missing(text):
    return text.strip().lower() in MISSING_TOKENS


# ----------------------------------------------------------------------- records


def _line_label(first, last):
    return f"line {first}" if first == last else f"lines {first}-{last}"


def _records(fh, delimiter, quoting):
    """Yield ``(where, fields)`` for each non-blank record of a delimited file.

    ``where`` names the physical line(s) of the record ("line 4", or
    "lines 2-3" for a quoted field spanning lines); a malformed record raises
    ``ValueError`` naming the line where it starts.
    """
    reader = csv.reader(fh, delimiter=delimiter, quoting=quoting, strict=True)
    last = 0
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            hint = ""
            if quoting != csv.QUOTE_NONE:
                hint = " (check for an unbalanced '\"': a quoted field must end with '\"')"
            raise ValueError(f"line {last + 1}: malformed record: {err}{hint}") from None
        first, last = last + 1, reader.line_num
        if fields and any(f.strip() for f in fields):
            yield _line_label(first, last), fields


def _separator(name, sep, fh):
    """The field separator of a delimited file: ``sep``, else from its name or content.

    Tab for ``.tsv``, ``.tab`` and ``.txt``, comma for ``.csv``; otherwise tab if the
    first non-blank line contains one, else comma.
    """
    if sep is None:
        if name.endswith((".tsv", ".tab", ".txt")):
            sep = "\t"
        elif name.endswith(".csv"):
            sep = ","
        else:
            sep = "\t" if "\t" in first_nonblank_line(fh) else ","
    if not isinstance(sep, str) or len(sep) != 1:
        raise ValueError(f"sep must be a single character, got {sep!r}")
    return sep


# ----------------------------------------------------------------------- numbers


def _cell_location(where, col_no, row_name=None, col_name=None):
    """``"line 3, column 2 (row 'S2', column 'TP53')"``; the names only when known."""
    names = []
    if row_name is not None:
        names.append(f"row {row_name!r}")
    if col_name is not None:
        names.append(f"column {col_name!r}")
    return f"{where}, column {col_no}" + (f" ({', '.join(names)})" if names else "")


def _parse_cell(text, location, allow_missing):
    """Parse one cell; raise ``ValueError`` giving ``location`` on failure."""
    s = text.strip()
    if s.lower() in MISSING_TOKENS or (_FLOAT_RE.fullmatch(s) and s.lower().endswith("nan")):
        if allow_missing:
            return np.nan
        raise ValueError(
            f"missing value {text!r} at {location}; pass allow_missing=True to keep NaN")
    if not _FLOAT_RE.fullmatch(s):
        raise ValueError(f"non-numeric value {text!r} at {location}")
    value = float(s)
    if not np.isfinite(value):
        raise ValueError(f"non-finite value {text!r} at {location}")
    return value


def _fast_float(fields):
    """``fields`` (strings) as float64 if they are all plain finite numbers, else None."""
    joined = "".join(fields)
    # NumPy (like float()) accepts '1_0' and non-ASCII digits: leave those to the strict
    # cell-by-cell parser.
    if joined.isascii() and "_" not in joined:
        try:
            values = np.array(fields, dtype=np.float64)
        except ValueError:
            return None
        if np.all(np.isfinite(values)):
            return values
    return None


def _parse_values(fields, where, first_col, row_name, col_names, allow_missing):
    """Parse a row of numeric strings into float64, fast path first."""
    values = _fast_float(fields)
    if values is not None:
        return values
    # Slow path: cell by cell, so that the error names the offending cell.
    return np.array(
        [
            _parse_cell(f, _cell_location(where, first_col + j + 1, row_name, col_names[j]),
                        allow_missing)
            for j, f in enumerate(fields)
        ],
        dtype=np.float64,
    )


# ------------------------------------------------------------------------ tables


def has_header(rows):
    """Whether the first of ``rows`` (lists of cell strings) is a header row.

    A header differs in kind from the rows below it.  With a *word* meaning a cell that is
    neither a number (see :func:`is_number`) nor missing (empty, ``NA``, ...):

    * a first row without words (numbers, maybe missing cells) is data;
    * otherwise it is a header if one of its words stands above a column of numbers
      (``age`` above ``34, 51, ...``);
    * otherwise (its words stand above words, as in a labels file ``B, M, M, ...``) it
      is a header if none of its words appears again below it in its column:
      ``diagnosis`` above ``B, M, ...`` is a header, a first row ``B`` is a label.

    Examples
    --------
    >>> from deepbio.datasets import has_header
    >>> has_header([["age", "dose"], ["34", "1.5"]]), has_header([["1", "2"], ["3", "4"]])
    (True, False)
    >>> has_header([["diagnosis"], ["M"], ["B"]]), has_header([["B"], ["M"], ["B"]])
    (True, False)
    """
    first, below = rows[0], rows[1:]
    words = [j for j, cell in enumerate(first) if not _is_missing(cell) and not is_number(cell)]
    if not words:
        return False
    for j in words:
        column = [row[j] for row in below if not _is_missing(row[j])]
        if column and all(is_number(cell) for cell in column):
            return True
    return not any(first[j].strip() in {row[j].strip() for row in below} for j in words)


def read_table(path, header="auto", sep=None, encoding="utf-8"):
    """Read a delimited text file (CSV / TSV) as a table of strings.

    For data files without row names, such as the command line reads: numeric feature
    columns and perhaps a target column of labels.  Expression matrices, whose first
    column names the samples, are read by :func:`read_expression`.

    Parameters
    ----------
    path : str or os.PathLike
        File to read; may be gzip-compressed (detected from its content).
    header : {"auto", True, False}, default="auto"
        Whether the first non-blank row holds column names; ``"auto"`` asks
        :func:`has_header`.
    sep : str, optional
        Field separator. By default: tab for ``.tsv``, ``.tab`` and ``.txt``, comma for
        ``.csv``; otherwise tab if the first non-blank line contains one, else comma.
    encoding : str, default="utf-8"
        Text encoding of the file. A UTF-8 byte-order mark is skipped.

    Returns
    -------
    table : Bunch
        With keys

        - ``cells`` : ndarray of shape (n_rows, n_columns), str, each cell stripped of
          surrounding whitespace
        - ``columns`` : list of n_columns str, or None without a header row
        - ``lines`` : list of n_rows str, where each row is in the file (``"line 3"``,
          or ``"lines 3-4"`` for a quoted field spanning lines)
        - ``source`` : str, ``"'path': "``, the prefix of error messages

    Raises
    ------
    ValueError
        An empty file, a header without data rows, rows of different lengths (both
        lines named), a malformed quoted field, text that is not valid UTF-8 (or
        ``encoding``), truncated or corrupt gzip, bzip2 or xz data. Messages start with the
        file name.

    Notes
    -----
    Blank lines are skipped. CSV quoting rules apply. A first row one field shorter
    than every row below it is a header without its corner cell (as R's
    ``write.table`` writes it): an empty first column name is put in.

    Examples
    --------
    >>> import os, tempfile
    >>> from deepbio.datasets import read_table, table_to_float
    >>> path = os.path.join(tempfile.mkdtemp(), "data.csv")
    >>> with open(path, "w") as fh:
    ...     _ = fh.write("age,dose,diagnosis\\n34,1.5,B\\n51,2.0,M\\n")
    >>> table = read_table(path)
    >>> table.columns, table.cells[:, 2].tolist()
    (['age', 'dose', 'diagnosis'], ['B', 'M'])
    >>> table_to_float(table, exclude=2).tolist()
    [[34.0, 1.5], [51.0, 2.0]]
    """
    header = check_choice("header", header, ("auto", True, False))
    prefix = source_prefix(path)
    try:
        with open_text(path, encoding) as fh:
            delimiter = _separator(strip_gz(path), sep, fh)
            records = list(_records(fh, delimiter, csv.QUOTE_MINIMAL))
    except UnicodeDecodeError as err:
        raise ValueError(prefix + decode_error_message(path, encoding, err)) from None
    except GZIP_ERRORS as err:
        raise ValueError(f"{prefix}truncated or corrupt gzip data ({err})") from None
    except ValueError as err:
        raise ValueError(f"{prefix}{err}") from None
    if not records:
        raise ValueError(f"{prefix}empty file: no rows")
    lines = [where for where, _ in records]
    rows = [[f.strip() for f in fields] for _, fields in records]
    if header is not False and len(rows) > 1 and \
            all(len(r) == len(rows[0]) + 1 for r in rows[1:]):
        # R's write.table: the header has no corner cell above the row names
        rows[0] = [""] + rows[0]
        header = True
    width = len(rows[0])
    for where, row in zip(lines, rows):
        if len(row) != width:
            raise ValueError(f"{prefix}{where} has {len(row)} fields but {lines[0]} has "
                             f"{width}")
    columns = None
    if header is True or (header == "auto" and has_header(rows)):
        columns, rows, lines = rows[0], rows[1:], lines[1:]
        if not rows:
            raise ValueError(f"{prefix}a header ({records[0][0]}) but no data rows")
    cells = np.array(rows, dtype=str).reshape(len(rows), width)
    return Bunch(cells=cells, columns=columns, lines=lines, source=prefix)


def table_to_float(table, exclude=None, allow_missing=False):
    """The columns of a :func:`read_table` table as a float64 matrix, strictly parsed.

    Parameters
    ----------
    table : Bunch
        As :func:`read_table` returns it: ``cells``, a 2-d array of strings, and
        optionally ``columns``, ``lines``, ``source`` for the messages.  Numeric
        ``cells`` (e.g. an array from :func:`load_array`) are converted as they are.
    exclude : int or sequence of int, optional
        Columns to leave out (e.g. a target column of labels), by index.
    allow_missing : bool, default=False
        If False, a missing cell (empty, ``NA``, ``NaN``, ``N/A``, ``null``, ``None``,
        any signed ``nan``; case-insensitive) raises ``ValueError``; if True it becomes
        ``NaN``.

    Returns
    -------
    X : ndarray of shape (n_rows, n_columns - len(exclude)), float64

    Raises
    ------
    ValueError
        A non-numeric or infinite cell, or a missing one unless ``allow_missing``; the
        message gives the file, line, column number in the file and column name, e.g.
        ``"'x.csv': non-numeric value 'x' at line 2, column 2 (column 'b')"``.
    """
    cells = np.asarray(table["cells"])
    n_rows, width = cells.shape
    if exclude is None:
        exclude = ()
    elif isinstance(exclude, (int, np.integer)):
        exclude = (exclude,)
    drop = {int(j) % width for j in exclude}
    keep = [j for j in range(width) if j not in drop]
    sub = cells[:, keep]
    if sub.dtype.kind in "biuf":                 # numbers already (a NumPy file's array)
        return sub.astype(np.float64)
    values = _fast_float(sub.ravel().tolist()) if sub.size else np.zeros(0)
    if values is not None:
        return values.reshape(n_rows, len(keep))
    columns = table.get("columns")
    lines = table.get("lines") or [f"data row {i + 1}" for i in range(n_rows)]
    out = np.empty((n_rows, len(keep)))
    try:
        for i in range(n_rows):
            for k, j in enumerate(keep):
                location = _cell_location(lines[i], j + 1, None,
                                          columns[j] if columns else None)
                out[i, k] = _parse_cell(str(cells[i, j]), location, allow_missing)
    except ValueError as err:
        raise ValueError(f"{table.get('source', '')}{err}") from None
    return out


# ------------------------------------------------------------------ NumPy files


def load_array(path, key=None, as_dict=False):
    """Load a NumPy ``.npy`` or ``.npz`` file without unpickling anything.

    The file may be gzip-, bzip2- or xz-compressed (``x.npy.gz``; recognised by content),
    in which case it is decompressed in memory.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.npy`` file (one array) or ``.npz`` archive (named arrays).
    key : str, optional
        For ``.npz``: the name of the array to return.
    as_dict : bool, default=False
        For ``.npz`` without ``key``: return the dict of arrays even when the archive
        holds a single one (so its name is known).

    Returns
    -------
    array : ndarray
        For ``.npy``, or ``.npz`` with ``key`` given, or an ``.npz`` holding a
        single array (unless ``as_dict``).
    arrays : dict of str to ndarray
        For an ``.npz`` holding several arrays (or with ``as_dict``) and no ``key``: all
        of them, read into memory (the file is closed on return).

    Raises
    ------
    ValueError
        If the file holds object arrays (``allow_pickle=False``), if ``key``
        is not in the archive, or if ``key`` is given for a ``.npy`` file.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from deepbio.datasets import load_array
    >>> path = os.path.join(tempfile.mkdtemp(), "x.npz")
    >>> np.savez(path, X=np.zeros((3, 2)), y=np.arange(3))
    >>> sorted(load_array(path))
    ['X', 'y']
    >>> load_array(path, key="X").shape
    (3, 2)
    """
    with open(path, "rb") as fh:
        compressed = compression(fh.read(6)) is not None
    if compressed:                 # x.npy.gz, x.npz.xz, ...: decompress in memory
        with open_binary(path) as fh:
            try:
                data = fh.read()
            except CompressedDataError as err:
                raise ValueError(f"{os.fspath(path)!r}: {err}") from None
        obj = np.load(io.BytesIO(data), allow_pickle=False)
    else:
        obj = np.load(path, allow_pickle=False)
    if isinstance(obj, np.ndarray):
        if key is not None:
            raise ValueError(f"key={key!r} given but {os.fspath(path)!r} holds a single array")
        return obj
    with obj:
        names = list(obj.files)
        if key is not None:
            if key not in names:
                raise ValueError(f"key {key!r} not in {os.fspath(path)!r}; it holds {names}")
            return obj[key]
        if len(names) == 1 and not as_dict:
            return obj[names[0]]
        return {n: obj[n] for n in names}
