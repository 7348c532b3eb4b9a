"""Expression matrices: read CSV / TSV / GCT and NumPy files, or simulate one.

Every function returns matrices as samples x genes, ``(n_samples, n_genes)``,
float64, the orientation the models expect (one row per sample).

- :func:`read_expression` -- delimited text or GCT #1.2, names kept.
- :func:`load_array` -- ``.npy`` / ``.npz`` without unpickling.
- :func:`make_expression` -- a synthetic log-expression matrix with known
  subtypes, marker genes, co-expression modules and library-size effects.
"""

import csv
import gzip
import io
import os
import re
import zlib

import numpy as np

from ._base import Bunch, _check_float, _check_int, _check_random_state
from ._text import (GZIP_MAGIC, check_not_utf16, not_decodable_message, peek,
                    python_encoding, source_prefix)

__all__ = ["read_expression", "load_array", "make_expression"]

#: Cell contents (after stripping, compared case-insensitively) read as missing.
MISSING_TOKENS = frozenset({"", "na", "nan", "n/a", "null", "none"})


# ASCII decimal floats as written by R, pandas, Excel...: sign, digits, one
# '.', exponent; ``inf`` / ``infinity`` / ``nan``. Python's float() also takes
# '1_000' and non-ASCII digits, which are not numbers in a data file.
_FLOAT_RE = re.compile(
    r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf|infinity|nan)", re.ASCII | re.IGNORECASE
)


def _open_binary(path):
    """Open ``path`` for reading bytes, transparently un-gzipping it."""
    with open(path, "rb") as fh:
        magic = fh.read(2)
    return gzip.open(path, "rb") if magic == GZIP_MAGIC else open(path, "rb")


def _open_text(path, encoding):
    """Open ``path`` as text for the csv module (gzip and UTF-16 checked)."""
    binary = _open_binary(path)
    try:
        head, binary = peek(binary, 2)
        check_not_utf16(head, encoding, "")
    except BaseException:
        binary.close()
        raise
    return io.TextIOWrapper(binary, encoding=python_encoding(encoding), newline="")


def _decode_error_message(path, encoding, err):
    """Locate the first undecodable byte of ``path`` (line and column) for a message."""
    codec = python_encoding(encoding)
    with _open_binary(path) as fh:
        line_no = 0
        for raw in fh:
            # Lines end in \n, \r\n or \r, as for the csv reader.
            for line in raw.rstrip(b"\n").removesuffix(b"\r").split(b"\r"):
                line_no += 1
                try:
                    line.decode(codec if line_no == 1 else encoding)
                except UnicodeDecodeError as bad:
                    column = len(line[:bad.start].decode(encoding, errors="replace")) + 1
                    return not_decodable_message(line_no, column, line[bad.start], encoding)
    return f"the file is not valid {encoding!r} text ({err})"


def _strip_gz(path):
    name = os.fspath(path).lower()
    return name[:-3] if name.endswith(".gz") else name


def _first_nonblank_line(fh):
    """Return the first line of ``fh`` that is not blank (``""`` if none); rewind."""
    for line in fh:
        if line.strip():
            break
    else:
        line = ""
    fh.seek(0)
    return line


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


def _parse_cell(text, where, col_no, row_name, col_name, allow_missing):
    """Parse one cell; raise ``ValueError`` locating it on failure."""
    s = text.strip()
    where = f"{where}, column {col_no} (row {row_name!r}, column {col_name!r})"
    if s.lower() in MISSING_TOKENS or (_FLOAT_RE.fullmatch(s) and s.lower().endswith("nan")):
        if allow_missing:
            return np.nan
        raise ValueError(f"missing value {text!r} at {where}; pass allow_missing=True to keep NaN")
    if not _FLOAT_RE.fullmatch(s):
        raise ValueError(f"non-numeric value {text!r} at {where}")
    value = float(s)
    if not np.isfinite(value):
        raise ValueError(f"non-finite value {text!r} at {where}")
    return value


def _parse_values(fields, where, first_col, row_name, col_names, allow_missing):
    """Parse a row of numeric strings into float64, fast path first."""
    joined = "".join(fields)
    # NumPy (like float()) accepts '1_0' and non-ASCII digits: leave those rows
    # to the strict cell-by-cell parser.
    if joined.isascii() and "_" not in joined:
        try:
            values = np.array(fields, dtype=np.float64)
            if np.all(np.isfinite(values)):
                return values
        except ValueError:
            pass
    # Slow path: cell by cell, so that the error names the offending cell.
    return np.array(
        [
            _parse_cell(f, where, first_col + j + 1, row_name, col_names[j], allow_missing)
            for j, f in enumerate(fields)
        ],
        dtype=np.float64,
    )


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
        ``encoding``); truncated gzip data. Messages start with the file
        name.

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
    if format not in (None, "csv", "tsv", "gct"):
        raise ValueError(f"format must be None, 'csv', 'tsv' or 'gct', got {format!r}")
    prefix = source_prefix(path)
    try:
        return _read_expression(path, sep, transpose, allow_missing, format, encoding)
    except UnicodeDecodeError as err:
        raise ValueError(prefix + _decode_error_message(path, encoding, err)) from None
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise ValueError(f"{prefix}truncated or corrupt gzip data ({err})") from None
    except ValueError as err:
        raise ValueError(f"{prefix}{err}") from None


def _read_expression(path, sep, transpose, allow_missing, format, encoding):
    """:func:`read_expression` without the file name in the error messages."""
    name = _strip_gz(path)
    with _open_text(path, encoding) as fh:
        if format is None:
            first = _first_nonblank_line(fh)
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

        if sep is None:
            if name.endswith((".tsv", ".tab", ".txt")):
                sep = "\t"
            elif name.endswith(".csv"):
                sep = ","
            else:
                sep = "\t" if "\t" in _first_nonblank_line(fh) else ","
        if not isinstance(sep, str) or len(sep) != 1:
            raise ValueError(f"sep must be a single character, got {sep!r}")
        X, row_names, col_names = _read_delimited(fh, sep, allow_missing)

    if transpose:
        return Bunch(X=np.ascontiguousarray(X.T), samples=col_names, genes=row_names)
    return Bunch(X=X, samples=row_names, genes=col_names)


def load_array(path, key=None):
    """Load a NumPy ``.npy`` or ``.npz`` file without unpickling anything.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.npy`` file (one array) or ``.npz`` archive (named arrays).
    key : str, optional
        For ``.npz``: the name of the array to return.

    Returns
    -------
    array : ndarray
        For ``.npy``, or ``.npz`` with ``key`` given, or an ``.npz`` holding a
        single array.
    arrays : dict of str to ndarray
        For an ``.npz`` holding several arrays and no ``key``: all of them,
        read into memory (the file is closed on return).

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
        if len(names) == 1:
            return obj[names[0]]
        return {n: obj[n] for n in names}


def make_expression(n_samples=200, n_genes=500, n_subtypes=3, n_markers=20, noise=1.0,
                    n_modules=10, module_size=20, effect_size=2.0, library_sd=0.5,
                    random_state=None, return_bunch=False):
    """Simulate a log-scale expression matrix with known subtypes.

    Generative model, for sample ``i`` of subtype ``k = y[i]`` and gene ``g``::

        X[i, g] = mu[g]                              gene baseline
                + s[i]                               library-size offset
                + delta[k, g]                        subtype marker effect
                + w[g] * f[i, m(g)]                  co-expression module
                + noise * eps[i, g]                  measurement noise

    - ``mu[g] ~ Normal(6, 2)``: baseline log2 expression of each gene.
    - ``s[i] ~ Normal(0, library_sd)``: a per-sample shift shared by all genes,
      like a log library size / sequencing depth.
    - Subtype markers: ``n_markers`` distinct genes per subtype (disjoint
      between subtypes, chosen at random). For a marker ``g`` of subtype
      ``k``, ``delta[k, g] = sign * effect_size * u`` with ``sign`` = +1 or -1
      with equal probability and ``u ~ Uniform(0.5, 1.5)``; ``delta`` is zero
      elsewhere. So each subtype up- or down-regulates its own markers.
    - Modules: ``n_modules`` groups of ``module_size`` genes (drawn from the
      non-marker genes, disjoint) share a latent factor ``f[i, m] ~ Normal(0,
      1)`` with loadings ``w[g] ~ Uniform(0.5, 1.5)``; genes outside modules
      have ``w = 0``. Module genes are correlated across samples independently
      of subtype.
    - ``eps[i, g] ~ Normal(0, 1)``.

    Subtype labels are balanced: ``y`` is a random permutation of
    ``0, 1, ..., n_subtypes - 1`` repeated (sizes differ by at most one).

    Parameters
    ----------
    n_samples : int, default=200
        Rows; must be >= ``n_subtypes``.
    n_genes : int, default=500
        Columns; must be >= ``n_subtypes * n_markers``.
    n_subtypes : int, default=3
        Number of classes (>= 1).
    n_markers : int, default=20
        Marker genes per subtype (>= 0).
    noise : float, default=1.0
        Standard deviation of the measurement noise (>= 0).
    n_modules : int, default=10
        Number of co-expression modules (>= 0). Fewer are made, and smaller,
        when too few non-marker genes are left.
    module_size : int, default=20
        Genes per module (>= 1).
    effect_size : float, default=2.0
        Typical absolute marker effect on the log scale (>= 0).
    library_sd : float, default=0.5
        Standard deviation of the per-sample offset (>= 0).
    random_state : None, int or numpy.random.Generator, default=None
        Seed; the same seed gives the same data.
    return_bunch : bool, default=False
        Return a :class:`Bunch` with the ground truth instead of ``(X, y)``.

    Returns
    -------
    X : ndarray of shape (n_samples, n_genes), float64
        Log-scale expression, samples x genes.
    y : ndarray of shape (n_samples,), int64
        Subtype labels ``0 .. n_subtypes - 1``.
    bunch : Bunch
        If ``return_bunch``: keys ``data`` (= X), ``target`` (= y),
        ``feature_names`` (gene names ``"GENE0001"``, ...), ``target_names``
        (``"subtype0"``, ...), ``markers`` (int64 (n_subtypes, n_markers),
        column indices of each subtype's markers), ``effects`` (float64
        (n_subtypes, n_genes), ``delta`` above), ``modules`` (list of int64
        arrays of column indices), ``library_size`` (float64 (n_samples,),
        ``s`` above).

    Examples
    --------
    >>> from deepbio.datasets import make_expression
    >>> X, y = make_expression(n_samples=60, n_genes=100, random_state=0)
    >>> X.shape, y.shape, X.dtype, y.dtype
    ((60, 100), (60,), dtype('float64'), dtype('int64'))
    >>> sim = make_expression(n_samples=60, n_genes=100, return_bunch=True,
    ...                       random_state=0)
    >>> sim.markers.shape, sim.feature_names[0]
    ((3, 20), 'GENE0001')
    """
    n_subtypes = _check_int(n_subtypes, "n_subtypes", minimum=1)
    n_samples = _check_int(n_samples, "n_samples", minimum=n_subtypes)
    n_markers = _check_int(n_markers, "n_markers", minimum=0)
    n_genes = _check_int(n_genes, "n_genes", minimum=max(1, n_subtypes * n_markers))
    noise = _check_float(noise, "noise", minimum=0.0)
    n_modules = _check_int(n_modules, "n_modules", minimum=0)
    module_size = _check_int(module_size, "module_size", minimum=1)
    effect_size = _check_float(effect_size, "effect_size", minimum=0.0)
    library_sd = _check_float(library_sd, "library_sd", minimum=0.0)
    rng = _check_random_state(random_state)

    y = rng.permutation(np.arange(n_samples) % n_subtypes).astype(np.int64)

    genes = rng.permutation(n_genes)
    n_mark_total = n_subtypes * n_markers
    markers = genes[:n_mark_total].reshape(n_subtypes, n_markers).astype(np.int64)
    rest = genes[n_mark_total:]

    effects = np.zeros((n_subtypes, n_genes))
    signs = rng.choice(np.array([-1.0, 1.0]), size=(n_subtypes, n_markers))
    mags = rng.uniform(0.5, 1.5, size=(n_subtypes, n_markers))
    np.put_along_axis(effects, markers, signs * mags * effect_size, axis=1)

    modules = []
    size = min(module_size, len(rest))
    if n_modules and size:
        count = min(n_modules, len(rest) // size)
        modules = [np.sort(rest[m * size:(m + 1) * size]).astype(np.int64) for m in range(count)]

    mu = rng.normal(6.0, 2.0, size=n_genes)
    library = rng.normal(0.0, 1.0, size=n_samples) * library_sd
    X = mu[None, :] + library[:, None] + effects[y]
    if modules:
        factors = rng.normal(size=(n_samples, len(modules)))
        for m, cols in enumerate(modules):
            loadings = rng.uniform(0.5, 1.5, size=len(cols))
            X[:, cols] += factors[:, m:m + 1] * loadings[None, :]
    X += noise * rng.normal(size=(n_samples, n_genes))

    if not return_bunch:
        return X, y
    width = max(4, len(str(n_genes)))
    return Bunch(
        data=X,
        target=y,
        feature_names=[f"GENE{j + 1:0{width}d}" for j in range(n_genes)],
        target_names=[f"subtype{k}" for k in range(n_subtypes)],
        markers=markers,
        effects=effects,
        modules=modules,
        library_size=library,
    )
