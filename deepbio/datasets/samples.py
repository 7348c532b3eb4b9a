"""Samples from the files biomedical users have: row names, metadata columns, genes in
rows, GCT + CLS, AnnData, NumPy, compressed or not.

- :func:`read_samples` -- a data file as features ``X``, an optional target ``y``, the
  sample IDs and the feature names.  Delimited files (CSV / TSV as pandas ``to_csv``, R's
  ``write.csv`` / ``write.table`` or a spreadsheet write them) are read by
  :func:`~deepbio.datasets.read_table`; GCT and ``.h5ad`` by
  :func:`~deepbio.datasets.read_expression`; ``.npy`` / ``.npz`` by
  :func:`~deepbio.datasets.load_array`.
- :func:`read_labels` -- a labels file (one column, ``ID,label`` pairs, a GenePattern CLS
  file or a NumPy array), aligned to the samples by their IDs when both have them.

The command line (``deepbio train | predict | evaluate``) reads its data with these two
functions only.
"""

import os

import numpy as np

from .._validation import check_choice
from ._base import Bunch
from ._text import strip_gz
from .tables import _cell_location, _fast_float, _parse_cell, is_number, _is_missing

__all__ = ["read_samples", "read_labels", "NonNumericColumnsError", "TARGET_NAMES"]

#: Column names taken as the target when none is named (``target="auto"``),
#: compared case-insensitively.
TARGET_NAMES = ("target", "label", "labels", "class", "y")

_NUMPY = (".npy", ".npz")


class NonNumericColumnsError(ValueError):
    """Feature columns hold text: ``columns`` lists them all (names, or 0-based indices
    for a file without a header)."""

    def __init__(self, message, columns):
        super().__init__(message)
        self.columns = list(columns)


def _is_numeric_column(values):
    """A column is a feature unless most of its non-missing cells are text: a stray
    typo in a column of numbers is reported by its cell, not taken for metadata."""
    present = [v for v in values if not _is_missing(v)]
    words = sum(not is_number(v) for v in present)
    return 2 * words <= len(present)


def _column(spec, names, width, what):
    """The 0-based index of column ``spec`` (a name, an int or a str holding one)."""
    if names is not None and isinstance(spec, str) and spec in names:
        return names.index(spec)
    try:
        i = int(spec)
    except (TypeError, ValueError):
        shown = "no header" if names is None else f"columns: {names}"
        raise ValueError(f"{what} {spec!r} is not a column of the data ({shown})") from None
    if not -width <= i < width:
        raise ValueError(f"{what} {i} is out of range for {width} columns")
    return i % width


def _detect_index(cells, names):
    """Whether the first column holds sample IDs: its header cell is empty (as pandas'
    ``to_csv`` and R's ``write.csv`` write row names), or its values are text (not
    numbers, not missing) and all different."""
    if cells.shape[1] < 2:
        return False
    if names is not None and names[0] == "":
        return True
    first = cells[:, 0].tolist()
    return (len(first) > 1 and len(set(first)) == len(first)
            and not any(is_number(v) or _is_missing(v) for v in first))


def _text_columns(cells, candidates):
    """``(text, values)``: the columns of ``candidates`` that hold text (metadata), and
    the float64 values of all candidates when they are plain numbers (else None), so
    that the common case parses the matrix once."""
    if not candidates:
        return [], np.zeros((cells.shape[0], 0))
    block = cells if len(candidates) == cells.shape[1] else cells[:, candidates]
    values = _fast_float(block.ravel().tolist())
    if values is not None:
        return [], values.reshape(block.shape)
    return [j for j in candidates if _fast_float(cells[:, j].tolist()) is None
            and not _is_numeric_column(cells[:, j].tolist())], None


def _to_float(cells, location, allow_missing):
    """``cells`` (strings) as float64; a bad cell raises naming ``location(i, j)``."""
    values = _fast_float(cells.ravel().tolist()) if cells.size else np.zeros(0)
    if values is not None:
        return values.reshape(cells.shape)
    out = np.empty(cells.shape)
    for i, j in np.ndindex(*cells.shape):
        out[i, j] = _parse_cell(str(cells[i, j]), location(i, j), allow_missing)
    return out


def _label_name(names, j):
    return repr(names[j]) if names is not None else str(j)


def read_samples(path, target="auto", index_col="auto", drop=(), drop_non_numeric=False,
                 genes_in_rows=False, header="auto", allow_missing=False,
                 require_target=False, missing_target="error", missing_drop="error",
                 label_key=None, layer=None, sep=None, encoding="utf-8"):
    """Read a data file as samples: features, target, sample IDs and feature names.

    Parameters
    ----------
    path : str or os.PathLike
        CSV / TSV (any of them gzip-, bzip2- or xz-compressed), GCT, ``.h5ad`` (the
        ``[anndata]`` extra), ``.npy`` (2-d, or 1-d = one column) or ``.npz`` (arrays
        ``X`` and optionally ``y``).
    target : "auto", str, int or None, default="auto"
        The column of a delimited file (a row with ``genes_in_rows``) holding the
        target: a name or a 0-based index.  ``"auto"``: a column named ``target``,
        ``label``, ``labels``, ``class`` or ``y`` (any case), if there is one.  None: no
        target column.
    index_col : "auto", str, int or None, default="auto"
        The column of sample IDs (row names).  ``"auto"``: the first column when its
        header cell is empty (pandas ``to_csv``, R ``write.csv`` / ``write.table``) or
        when it holds text values that are all different (cell barcodes, sample
        names).  None: no ID column.  With ``genes_in_rows`` this is the column of the
        gene names (default the first), and the sample IDs are the header's.
    drop : sequence of str or int, default=()
        Further columns (rows with ``genes_in_rows``) to leave out, by name or index.
    drop_non_numeric : bool, default=False
        Leave out every other column that holds text (metadata such as ``batch`` or
        ``donor``); by default such columns are an error that lists them all.
    genes_in_rows : bool, default=False
        The file is genes x samples: a header of sample IDs, one row per gene (or
        metadata row such as ``cell_type``).  GCT files are genes x samples by
        definition and need no flag.
    header : {"auto", True, False}, default="auto"
        Whether a delimited file's first row is a header (see
        :func:`~deepbio.datasets.has_header`); True with ``genes_in_rows``.
    allow_missing : bool, default=False
        Missing feature cells become NaN instead of an error.
    require_target : bool, default=False
        With no target found: raise, except for a NumPy file, whose last column is then
        the target (or the ``y`` of an ``.npz`` file).
    missing_target : {"error", "ignore"}, default="error"
        A named ``target`` that the file does not have: an error, or no target (for
        prediction data, which may or may not hold the label column).
    missing_drop : {"error", "ignore"}, default="error"
        A ``drop`` column that the file does not have: an error, or nothing to drop (for
        prediction data read with the training's ``drop`` list).
    label_key, layer : str, optional
        For ``.h5ad`` files: the ``obs`` column of the labels and the layer to read.
    sep, encoding
        As for :func:`~deepbio.datasets.read_table`.

    Returns
    -------
    samples : Bunch
        With keys ``X`` (ndarray (n_samples, n_features), float64), ``y`` (ndarray of
        n_samples labels, as strings from a text file, or None), ``samples`` (list of
        n_samples str, or None without IDs), ``features`` (list of n_features str, or
        None without names), ``target`` (the target column's name or index, or None),
        ``index`` (the name of the ID column, ``""`` when unnamed or with
        ``genes_in_rows``, or None without IDs), ``dropped``
        (names / indices of the columns left out by ``drop`` and
        ``drop_non_numeric``).

    Raises
    ------
    NonNumericColumnsError
        Feature columns hold text (a ``ValueError`` whose ``columns`` lists them all,
        by their names in the file, or by 0-based index without a header).
    ValueError
        A named column (``target``, ``index_col``, ``drop``) that the file does not
        have; no target with ``require_target``; and every error of the readers. The
        messages name the file.

    Examples
    --------
    >>> import os, tempfile
    >>> from deepbio.datasets import read_samples
    >>> path = os.path.join(tempfile.mkdtemp(), "cells.csv")
    >>> with open(path, "w") as fh:
    ...     _ = fh.write(",cell_type,CD3E,MS4A1\\nAAAC-1,T,5,0\\nAAAG-1,B,0,7\\n")
    >>> s = read_samples(path, target="cell_type")
    >>> s.samples, s.features, s.y.tolist(), s.X.tolist()
    (['AAAC-1', 'AAAG-1'], ['CD3E', 'MS4A1'], ['T', 'B'], [[5.0, 0.0], [0.0, 7.0]])
    """
    check_choice("missing_target", missing_target, ("error", "ignore"))
    check_choice("missing_drop", missing_drop, ("error", "ignore"))
    name = strip_gz(path)
    prefix = f"{os.fspath(path)!r}: "
    if not os.path.exists(path):
        raise FileNotFoundError(f"data file not found: {os.fspath(path)}")
    if name.endswith(_NUMPY):
        return _numpy_samples(path, prefix, target, require_target)
    if name.endswith((".gct", ".h5ad")):
        if genes_in_rows:
            raise ValueError(f"{prefix}genes_in_rows is for delimited files; GCT is genes "
                             f"x samples by definition and .h5ad samples x genes")
        if target not in ("auto", None) and missing_target == "error":
            raise ValueError(f"{prefix}a {name.rsplit('.', 1)[1].upper()} file has no "
                             f"label column: give the labels in a separate file "
                             f"(.cls, one column, or ID,label pairs)"
                             + (" or by label_key" if name.endswith(".h5ad") else ""))
        if name.endswith(".h5ad"):
            # the [anndata] extra; read_expression(path) reads the same matrix, this
            # also takes the labels and the layer
            from .anndata import read_h5ad
            m = read_h5ad(path, label_key=label_key, layer=layer)
        else:
            m = _read_expression(path)
        y = m.get("y", m.get("labels"))
        if label_key is not None and y is None:
            raise ValueError(f"{prefix}no labels were read for label_key={label_key!r}")
        return Bunch(X=np.asarray(m["X"], dtype=np.float64), samples=list(m["samples"]),
                     features=list(m["genes"]), y=None if y is None else np.asarray(y),
                     target=label_key, index="", dropped=[])
    if label_key is not None or layer is not None:
        raise ValueError(f"{prefix}label_key and layer are for .h5ad files only")
    from .tables import read_table
    header = check_choice("header", header, ("auto", True, False))
    table = read_table(path, header=True if genes_in_rows else header, sep=sep,
                       encoding=encoding)
    if genes_in_rows:
        return _delimited_transposed(table, prefix, target, index_col, drop,
                                     drop_non_numeric, allow_missing, require_target,
                                     (missing_target, missing_drop))
    return _delimited(table, prefix, target, index_col, drop, drop_non_numeric,
                      allow_missing, require_target, (missing_target, missing_drop))


def _read_expression(path, **kw):
    from .expression import read_expression
    return read_expression(path, **kw)


def _numpy_samples(path, prefix, target, require_target):
    from .tables import load_array
    try:
        arrays = load_array(path, as_dict=True)
    except OSError as e:
        raise ValueError(f"{prefix}not a readable NumPy file ({e})") from None
    if isinstance(arrays, dict):
        if "X" not in arrays:
            raise ValueError(f"{prefix}a .npz file must hold an array named 'X' (and "
                             f"optionally 'y'); found {sorted(arrays)}")
        X, y = arrays["X"], arrays.get("y")
    else:
        X, y = arrays, None
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2:
        raise ValueError(f"{prefix}expected a 1-d or 2-d array, got shape {X.shape}")
    if X.dtype.kind not in "biuf":
        raise ValueError(f"{prefix}expected a numeric array, got dtype {X.dtype}")
    if y is not None:
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1 or len(y) != len(X):
            raise ValueError(f"{prefix}'y' must hold one label per row of 'X' ({len(X)}), "
                             f"got shape {y.shape}")
    t = None
    if target not in ("auto", None) and y is None:
        t = _column(target, None, X.shape[1], "target")
    elif y is None and require_target and X.shape[1] > 1:
        t = X.shape[1] - 1                       # a NumPy file's last column
    if t is not None:
        y = X[:, t]
        X = np.delete(X, t, axis=1)
    elif y is None and require_target:
        raise ValueError(f"{prefix}no target: a 1-column array holds no labels")
    return Bunch(X=X.astype(np.float64), y=y, samples=None, features=None,
                 target=t if t is not None else ("y" if y is not None else None),
                 index=None, dropped=[])


def _auto_target(names):
    if names:
        for i, h in enumerate(names):
            if h.lower() in TARGET_NAMES:
                return i
    return None


def _resolve(cells, names, prefix, target, index_col, drop, require_target,
             missing, what="column"):
    """``(index, target, dropped)`` column indices of a table of strings."""
    missing_target, missing_drop = missing
    width = cells.shape[1]
    where = prefix
    if index_col == "auto":
        index = 0 if _detect_index(cells, names) else None
    elif index_col is None:
        index = None
    else:
        index = _column(index_col, names, width, where + "index_col")
    if target == "auto":
        t = _auto_target(names)
        if t == index:
            t = None
    elif target is None:
        t = None
    else:
        try:
            t = _column(target, names, width, where + "target")
        except ValueError:
            if missing_target == "ignore":
                t = None
            else:
                raise
    if t is None and require_target:
        raise ValueError(f"{prefix}no target {what}: name it (target=, --target NAME) "
                         f"or give the labels in a separate file")
    if index_col == "auto" and index is not None and t == index:
        index = None
    dropped = []
    for spec in drop or ():
        try:
            dropped.append(_column(spec, names, width, where + "drop"))
        except ValueError:
            if missing_drop == "error":
                raise
    taken = {index, t} - {None}
    if taken & set(dropped):
        raise ValueError(f"{prefix}a dropped {what} is also the "
                         f"{'target' if t in dropped else 'index'}")
    return index, t, dropped


def _delimited(table, prefix, target, index_col, drop, drop_non_numeric, allow_missing,
               require_target, missing_target):
    cells, names, lines = table.cells, table.columns, table.lines
    index, t, dropped = _resolve(cells, names, prefix, target, index_col, drop,
                                 require_target, missing_target)
    rest = [j for j in range(cells.shape[1]) if j not in {index, t} and j not in dropped]
    text, values = _text_columns(cells, rest)
    if text and not drop_non_numeric:
        _non_numeric(prefix, text, names, "column")
    dropped += text
    keep = [j for j in rest if j not in text]
    ids = cells[:, index].tolist() if index is not None else None

    def location(i, k):
        j = keep[k]
        return _cell_location(lines[i], j + 1, None if ids is None else ids[i],
                              None if names is None else names[j])

    try:
        X = values if values is not None else _to_float(cells[:, keep], location,
                                                        allow_missing)
    except ValueError as err:
        raise ValueError(f"{prefix}{err}") from None
    label = lambda j: names[j] if names is not None else j          # noqa: E731
    return Bunch(X=X, y=None if t is None else cells[:, t].copy(), samples=ids,
                 features=None if names is None else [names[j] for j in keep],
                 target=None if t is None else label(t),
                 index=None if index is None else label(index),
                 dropped=[label(j) for j in dropped])


def _delimited_transposed(table, prefix, target, index_col, drop, drop_non_numeric,
                          allow_missing, require_target, missing_target):
    """A genes x samples table: rows are features (or metadata rows), the header's
    cells after the gene-name column are the sample IDs."""
    cells, names, lines = table.cells, table.columns, table.lines
    width = cells.shape[1]
    g = 0 if index_col in ("auto", None) else _column(index_col, names, width,
                                                      prefix + "index_col")
    row_names = cells[:, g].tolist()
    columns = [j for j in range(width) if j != g]
    samples = [names[j] for j in columns]
    flipped = cells[:, columns].T                  # samples x rows
    _, t, dropped = _resolve(flipped, row_names, prefix, target, None, drop,
                             require_target, missing_target, what="row")
    rest = [r for r in range(len(row_names)) if r != t and r not in dropped]
    text, values = _text_columns(flipped, rest)  # rows of the file = columns here
    if text and not drop_non_numeric:
        _non_numeric(prefix, text, row_names, "row")
    dropped += text
    keep = [r for r in rest if r not in text]

    def location(i, k):
        r = keep[k]
        return _cell_location(lines[r], columns[i] + 1, row_names[r], samples[i])

    try:
        X = values if values is not None else _to_float(flipped[:, keep], location,
                                                        allow_missing)
    except ValueError as err:
        raise ValueError(f"{prefix}{err}") from None
    return Bunch(X=X, y=None if t is None else flipped[:, t].copy(), samples=samples,
                 features=[row_names[r] for r in keep],
                 target=None if t is None else row_names[t], index="",
                 dropped=[row_names[r] for r in dropped])


def _non_numeric(prefix, bad, names, what):
    shown = [names[j] if names is not None else j for j in bad]
    listed = ", ".join(_label_name(names, j) for j in bad)
    plural = f"{what}s" if len(bad) > 1 else what
    raise NonNumericColumnsError(
        f"{prefix}non-numeric {plural} {listed} among the features: name the label "
        f"with target=, leave {'them' if len(bad) > 1 else 'it'} out with drop=[...], or "
        f"pass drop_non_numeric=True", shown)


# ------------------------------------------------------------------------ labels


def read_labels(path, samples=None, n_samples=None, header="auto", encoding="utf-8"):
    """Read a labels file, one label per sample, aligned to ``samples`` by ID.

    Parameters
    ----------
    path : str or os.PathLike
        A GenePattern ``.cls`` file (see :func:`~deepbio.datasets.read_cls`); a
        ``.npy`` array (or the ``y`` of an ``.npz`` file); or a delimited file of one
        column of labels, or of two columns ``ID,label`` (IDs detected as by
        :func:`read_samples`).  Any of them may be compressed.
    samples : list of str, optional
        The data's sample IDs.  When the labels file has IDs too, its labels are
        returned in the order of ``samples`` (every sample must have one; extra IDs
        are ignored).  Otherwise labels are taken in file order.
    n_samples : int, optional
        The number of labels expected (default ``len(samples)``); without IDs to align
        on, the file must hold exactly that many.
    header, encoding
        As for :func:`read_samples`.

    Returns
    -------
    y : ndarray of shape (n_samples,)
        Labels (strings from a text file).

    Raises
    ------
    ValueError
        More than one label column; a count that differs from ``n_samples``; a sample
        ID that the labels file lacks (the first ones are named).
    """
    from .expression import read_cls
    if n_samples is None and samples is not None:
        n_samples = len(samples)
    prefix = f"{os.fspath(path)!r}: "
    if not os.path.exists(path):
        raise FileNotFoundError(f"labels file not found: {os.fspath(path)}")
    name = strip_gz(path)
    ids = None
    if name.endswith(".cls"):
        y = np.asarray(read_cls(path, encoding=encoding))
    elif name.endswith(_NUMPY):
        s = _numpy_samples(path, prefix, "auto", False)
        if s.y is not None:
            y = s.y
        elif s.X.shape[1] == 1:
            y = s.X[:, 0]
        else:
            raise ValueError(f"{prefix}a labels array has one column, found "
                             f"{s.X.shape[1]}")
    else:
        from .tables import read_table
        table = read_table(path, header=header, encoding=encoding)
        cells, names = table.cells, table.columns
        index = 0 if cells.shape[1] == 2 and _detect_index(cells, names) else None
        if cells.shape[1] - (index is not None) != 1:
            raise ValueError(f"{prefix}a labels file holds one column of labels (or "
                             f"ID,label pairs), found {cells.shape[1]} columns")
        y = cells[:, -1].copy()
        ids = cells[:, 0].tolist() if index is not None else None
    if ids is not None and samples is not None:
        where = {}
        for i, s in enumerate(ids):
            where.setdefault(s, i)
        missing = [s for s in samples if s not in where]
        if missing:
            shown = ", ".join(repr(s) for s in missing[:3])
            raise ValueError(f"{prefix}no label for {len(missing)} of the "
                             f"{len(samples)} samples (first: {shown})")
        return y[[where[s] for s in samples]]
    if n_samples is not None and len(y) != n_samples:
        raise ValueError(f"{prefix}{len(y)} labels for {n_samples} samples")
    return y
