"""Expression matrices: read CSV / TSV / GCT into samples x genes, names kept.

:func:`read_expression` returns matrices as samples x genes, ``(n_samples, n_genes)``,
float64, the orientation the models expect (one row per sample).  Its records and
numbers are parsed by the helpers of :mod:`deepbio.datasets.tables`, so the rules for
numbers, missing cells and quoting are those of :func:`~deepbio.datasets.read_table`.

:func:`load_array` now lives in :mod:`deepbio.datasets.tables` and
:func:`make_expression` in :mod:`deepbio.datasets.synthetic` (both are exported by
:mod:`deepbio.datasets`).
"""

import csv
import warnings

import numpy as np

from ._base import Bunch
from ._text import (GZIP_ERRORS, decode_error_message, first_nonblank_line, open_text,
                    source_prefix, strip_gz, text_lines)
from .tables import _parse_values, _records, _separator

__all__ = ["read_expression", "read_cls"]


def _spans_lines(fields):
    return any("\n" in f or "\r" in f for f in fields)


def _read_delimited(fh, sep, allow_missing):
    """Read a table whose first row holds column names and first column row names."""
    header = None
    rows, row_names = [], []
    for where, fields in _records(fh, sep, csv.QUOTE_MINIMAL):
        if header is None:
            header = [f.strip() for f in fields]
            header_where = where
            continue
        if len(fields) == len(header):
            col_names = header[1:]
        elif len(fields) == len(header) + 1 and not rows:
            # R's write.table convention: the header has no corner cell.
            header = [""] + header
            col_names = header[1:]
        else:
            hint = ""
            if _spans_lines(fields):
                hint = "; a quoted field runs over several lines: check for an unbalanced '\"'"
            raise ValueError(
                f"{where} has {len(fields)} fields but the header ({header_where}) has "
                f"{len(header)}{hint}"
            )
        row_name = fields[0].strip()
        rows.append(_parse_values(fields[1:], where, 1, row_name, col_names, allow_missing))
        row_names.append(row_name)
    if header is None:
        raise ValueError("empty file: no header line and no data")
    if not rows:
        raise ValueError("no data rows after the header line")
    if len(header) < 2:
        raise ValueError("the table has no data columns (only row names)")
    return np.vstack(rows), row_names, header[1:]


def _read_gct(fh, allow_missing):
    """Read GCT #1.2: version line, dimensions line, header, genes x samples.

    GCT is tab-separated without quoting: '"' is an ordinary character.
    """
    lines = _records(fh, "\t", csv.QUOTE_NONE)
    try:
        n1, version = next(lines)
    except StopIteration:
        raise ValueError("empty file: no GCT version line") from None
    if version[0].strip() != "#1.2":
        raise ValueError(
            f"{n1}: unsupported GCT version {version[0].strip()!r}; only '#1.2' is read"
        )
    try:
        n2, dims = next(lines)
        n_rows, n_cols = int(dims[0]), int(dims[1])
    except StopIteration:
        raise ValueError("GCT file ends before the dimensions line") from None
    except (ValueError, IndexError):
        raise ValueError(f"{n2}: GCT dimensions line must be '<n_genes>\\t<n_samples>'") from None
    try:
        n3, header = next(lines)
    except StopIteration:
        raise ValueError("GCT file ends before the header line") from None
    header = [h.strip() for h in header]
    if len(header) < 2 or header[0].lower() != "name" or header[1].lower() != "description":
        raise ValueError(f"{n3}: GCT header must start with 'Name<TAB>Description'")
    samples = header[2:]
    if len(samples) != n_cols:
        raise ValueError(
            f"{n3}: header names {len(samples)} samples but {n2} declares {n_cols}"
        )
    genes, descriptions, rows = [], [], []
    for where, fields in lines:
        if len(fields) != len(header):
            raise ValueError(
                f"{where} has {len(fields)} fields but the header ({n3}) has {len(header)}"
            )
        gene = fields[0].strip()
        rows.append(_parse_values(fields[2:], where, 2, gene, samples, allow_missing))
        genes.append(gene)
        descriptions.append(fields[1].strip())
    if len(genes) != n_rows:
        raise ValueError(f"GCT file has {len(genes)} gene rows but {n2} declares {n_rows}")
    if not genes:
        raise ValueError("no data rows after the GCT header")
    return np.vstack(rows), genes, samples, descriptions


def read_expression(path, sep=None, transpose=False, allow_missing=False, format=None,
                    encoding="utf-8"):
    """Read an expression matrix from CSV, TSV or GCT into samples x genes.

    Parameters
    ----------
    path : str or os.PathLike
        File to read; may be gzip-compressed (detected from its content).
    sep : str, optional
        Field separator for delimited files. By default: tab for ``.tsv``,
        ``.tab`` and ``.txt``, comma for ``.csv``; otherwise tab if the first
        non-blank line contains one, else comma. Ignored for GCT.
    transpose : bool, default=False
        Delimited files are read as rows = samples, columns = genes. Set True
        for a file stored genes x samples (genes in rows). Must stay False for
        GCT, which is always genes x samples and always returned transposed.
    allow_missing : bool, default=False
        If False, a missing cell (empty, ``NA``, ``NaN``, ``N/A``, ``null``,
        ``None``, or any signed ``nan`` such as ``-nan``; case-insensitive)
        raises ``ValueError`` naming its line and column. If True, missing
        cells become ``NaN``.
    format : {None, "csv", "tsv", "gct"}, optional
        Force the format; by default a ``.gct`` name or a first non-blank
        line ``#1.2`` means GCT and anything else is delimited text.
    encoding : str, default="utf-8"
        Text encoding of the file. A UTF-8 byte-order mark is skipped.

    Returns
    -------
    matrix : Bunch
        With keys

        - ``X`` : ndarray of shape (n_samples, n_genes), float64
        - ``samples`` : list of n_samples str
        - ``genes`` : list of n_genes str
        - ``descriptions`` : list of n_genes str (GCT ``Description`` column;
          only for GCT files)

    Raises
    ------
    ValueError
        Empty file or no data rows; a row with the wrong number of fields; a
        non-numeric or non-finite cell (the message gives line, column and
        both names); a missing cell when ``allow_missing=False``; a GCT file
        whose declared dimensions or header disagree with its content; a
        malformed quoted field; a file that is not valid UTF-8 (or
        ``encoding``); truncated or corrupt gzip, bzip2 or xz data. Messages
        start with the file name.

    Notes
    -----
    Delimited layout: the first non-blank line is the header. Its first cell
    is the corner label (ignored; may be empty), the others name the columns.
    Each following line holds a row name then numbers. A header one field
    shorter than the data rows (as R's ``write.table`` writes) is accepted.
    Fields may be quoted (CSV rules). Duplicate names are kept as they are.
    Numbers must be ASCII decimals (``-1.5``, ``2e-3``, ``.5``); ``1_000``
    or non-ASCII digits are rejected as non-numeric.

    GCT files are tab-separated without quoting: a ``"`` is kept as an
    ordinary character (e.g. in a description).

    GCT #1.2 layout (Broad Institute)::

        #1.2
        <n_genes>\\t<n_samples>
        Name\\tDescription\\t<sample 1>\\t...\\t<sample n>
        <gene>\\t<description>\\t<value>\\t...

    Examples
    --------
    >>> import os, tempfile
    >>> from deepbio.datasets import read_expression
    >>> path = os.path.join(tempfile.mkdtemp(), "expr.csv")
    >>> with open(path, "w") as fh:
    ...     _ = fh.write("sample,TP53,BRCA1\\nS1,1.5,2.0\\nS2,0.5,3.25\\n")
    >>> m = read_expression(path)
    >>> m.X.shape, m.samples, m.genes
    ((2, 2), ['S1', 'S2'], ['TP53', 'BRCA1'])
    """
    if str(path).lower().endswith(".h5ad"):    # AnnData: deepbio.datasets.anndata
        if transpose or format is not None:
            raise ValueError("transpose and format do not apply to .h5ad files (always "
                             "cells x genes): leave them at False and None")
        from .anndata import read_h5ad
        return read_h5ad(path, allow_missing=allow_missing)
    if format not in (None, "csv", "tsv", "gct"):
        raise ValueError(f"format must be None, 'csv', 'tsv' or 'gct', got {format!r}")
    prefix = source_prefix(path)
    try:
        return _read_expression(path, sep, transpose, allow_missing, format, encoding)
    except UnicodeDecodeError as err:
        raise ValueError(prefix + decode_error_message(path, encoding, err)) from None
    except GZIP_ERRORS as err:
        raise ValueError(f"{prefix}truncated or corrupt gzip data ({err})") from None
    except ValueError as err:
        raise ValueError(f"{prefix}{err}") from None


def _read_expression(path, sep, transpose, allow_missing, format, encoding):
    """:func:`read_expression` without the file name in the error messages."""
    name = strip_gz(path)
    with open_text(path, encoding) as fh:
        if format is None:
            first = first_nonblank_line(fh)
            is_gct = name.endswith(".gct") or first.strip().split("\t")[0].strip() == "#1.2"
        else:
            is_gct = format == "gct"
            if sep is None and not is_gct:
                sep = "," if format == "csv" else "\t"

        if is_gct:
            if transpose:
                raise ValueError(
                    "transpose must be False for GCT files: GCT is genes x samples by "
                    "definition and is always returned samples x genes"
                )
            X, genes, samples, descriptions = _read_gct(fh, allow_missing)
            return Bunch(X=np.ascontiguousarray(X.T), samples=samples, genes=genes,
                         descriptions=descriptions)

        sep = _separator(name, sep, fh)
        X, row_names, col_names = _read_delimited(fh, sep, allow_missing)

    if transpose:
        return Bunch(X=np.ascontiguousarray(X.T), samples=col_names, genes=row_names)
    return Bunch(X=X, samples=row_names, genes=col_names)


def read_cls(path, encoding="utf-8"):
    """Read the class labels of a GenePattern CLS file (the partner of a GCT file).

    Parameters
    ----------
    path : str, os.PathLike or file object
        A ``.cls`` file; may be gzip-, bzip2- or xz-compressed (recognised by content).
    encoding : str, default="utf-8"

    Returns
    -------
    labels : list of str
        One label per sample, in the order of the samples of the GCT file.  When the
        third line holds numbers and the second line names the classes, each number is
        replaced by its class name: the classes are named in the order in which their
        labels first appear (the CLS convention), so ``# tumor normal`` above
        ``1 1 0`` gives ``["tumor", "tumor", "normal"]``.

    Raises
    ------
    ValueError
        Fewer than three lines, a first line that is not ``<n_samples> <n_classes> 1``,
        a second line that does not start with ``#``, a count of labels or of classes
        that differs from the first line's; the message names the file and the line.

    Notes
    -----
    Layout (fields separated by spaces or tabs)::

        <n_samples> <n_classes> 1
        # <class name 1> <class name 2> ...
        <label of sample 1> <label of sample 2> ...

    Examples
    --------
    >>> import io
    >>> from deepbio.datasets import read_cls
    >>> read_cls(io.StringIO("3 2 1\\n# tumor normal\\n1 1 0\\n"))
    ['tumor', 'tumor', 'normal']
    """
    prefix = source_prefix(path)
    lines = [(i, line.split()) for i, line in enumerate(text_lines(path, encoding), start=1)
             if line.strip()]
    if len(lines) < 3:
        raise ValueError(f"{prefix}a CLS file has three lines (sizes, '# class names', "
                         f"labels); found {len(lines)}")
    (n1, sizes), (n2, names), (n3, labels) = lines[:3]
    if len(lines) > 3:
        labels = labels + [f for _, fields in lines[3:] for f in fields]
    if len(sizes) != 3 or not all(f.isdigit() for f in sizes):
        raise ValueError(f"{prefix}line {n1}: expected '<n_samples> <n_classes> 1', got "
                         f"{' '.join(sizes)!r}")
    n_samples, n_classes = int(sizes[0]), int(sizes[1])
    if not names or not names[0].startswith("#"):
        raise ValueError(f"{prefix}line {n2}: expected '# <class names>', got "
                         f"{' '.join(names)!r}")
    names = ([names[0][1:]] if names[0] != "#" else []) + names[1:]
    if len(labels) != n_samples:
        raise ValueError(f"{prefix}line {n3}: {len(labels)} labels, but line {n1} says "
                         f"{n_samples} samples")
    first_seen = list(dict.fromkeys(labels))
    if len(first_seen) != n_classes:
        raise ValueError(f"{prefix}line {n3}: {len(first_seen)} distinct labels, but line "
                         f"{n1} says {n_classes} classes")
    if names and all(lab.lstrip("-").isdigit() for lab in labels):
        if len(names) != n_classes:
            raise ValueError(f"{prefix}line {n2}: {len(names)} class names, but line {n1} "
                             f"says {n_classes} classes")
        rename = dict(zip(first_seen, names))
        return [rename[lab] for lab in labels]
    return labels


_MOVED = {"load_array": "tables", "make_expression": "synthetic"}


def __getattr__(name):
    # Old homes of names that moved (issue #12): still importable, with a warning.
    if name in _MOVED:
        import importlib
        module = f"deepbio.datasets.{_MOVED[name]}"
        warnings.warn(f"deepbio.datasets.expression.{name} moved to {module}; import it "
                      f"from deepbio.datasets", DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(module), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
