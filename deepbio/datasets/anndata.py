"""AnnData (``.h5ad``) files: read into samples x genes, names kept (extra ``[anndata]``).

:func:`read_h5ad` returns the :class:`~deepbio.datasets.Bunch` that
:func:`~deepbio.datasets.read_expression` returns for CSV / TSV / GCT (``X``,
``samples`` = the ``obs_names``, ``genes`` = the ``var_names``), plus the labels of one
``obs`` column when asked.  :func:`read_expression` reads ``.h5ad`` files through it.

:func:`densify` turns an AnnData matrix (``X`` or a layer: NumPy, SciPy sparse, an HDF5
dataset or a backed sparse dataset) into one dense C-contiguous array, filled chunk by
chunk in the target dtype (float32 by default), so a sparse matrix is never densified
whole in float64 on the way.  The bytes the dense array needs are logged (logger
``deepbio.datasets``) before it is allocated, checked against ``max_bytes``, and named in
the error when the allocation fails.

The file is read through ``h5py`` and ``anndata.io`` (``read_elem``, ``sparse_dataset``):
only ``obs``, ``var`` and the rows of the one matrix asked for are read.  Nothing here
imports ``anndata`` until a function is called (``pip install "deepbio[anndata]"``).
"""
import logging
import os

import numpy as np

from .._validation import check_float_dtype, check_int
from ._base import Bunch

__all__ = ["read_h5ad", "densify"]

INSTALL_HINT = 'pip install "deepbio[anndata]"'

logger = logging.getLogger("deepbio.datasets")

#: Default size of one chunk of the dense output (bytes), which sets the rows per chunk.
CHUNK_BYTES = 32 * 2**20


def require_anndata(who="this function"):
    """Import and return ``anndata``; ImportError naming the extra if it is missing."""
    try:
        import anndata
    except ImportError as e:
        raise ImportError(f"{who} needs anndata, which is not installed: "
                          f"{INSTALL_HINT}") from e
    return anndata


def _anndata_io():
    """``(read_elem, sparse_dataset)`` from ``anndata.io`` (``anndata.experimental``
    before anndata 0.11)."""
    require_anndata("read_h5ad")
    try:
        from anndata.io import read_elem, sparse_dataset
    except ImportError:                                  # anndata < 0.11
        from anndata.experimental import read_elem, sparse_dataset
    return read_elem, sparse_dataset


def format_bytes(n):
    """``1536`` -> ``'1.5 KiB'``."""
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def _sparse_format(M):
    """``'csr'``, ``'csc'``, ``'other'`` (another SciPy sparse format) or None (dense)."""
    import sys
    sparse = sys.modules.get("scipy.sparse")
    if sparse is not None and sparse.issparse(M):
        return M.format if M.format in ("csr", "csc") else "other"
    fmt = getattr(M, "format", None)                     # anndata's backed CSR/CSC datasets
    if fmt in ("csr", "csc") and hasattr(M, "shape"):
        return fmt
    return None


def densify(M, dtype=np.float32, rows=None, chunk_size=None, max_bytes=None,
            allow_missing=False, what="X"):
    """The matrix ``M`` as a dense C-contiguous ``(n_rows, n_cols)`` array of ``dtype``.

    Parameters
    ----------
    M : ndarray, scipy.sparse matrix or array, h5py.Dataset, or a backed AnnData
        sparse dataset (``adata.X`` of ``read_h5ad(..., backed="r")``)
    dtype : {float32, float64}, default=float32
    rows : int array, optional
        Keep only these rows (sorted, distinct), e.g. the samples with a label.
    chunk_size : int, optional
        Rows (columns for CSC) converted at a time; default: about 32 MiB of output.
    max_bytes : int, optional
        Refuse, with a ``MemoryError`` saying how much is needed, a dense result larger
        than this many bytes (checked before anything is allocated).
    allow_missing : bool, default=False
        If False, NaN or infinity raises ``ValueError`` naming the first one's row and
        column.
    what : str
        How the matrix is called in messages (``"X"``, ``"layer 'counts'"``).

    Raises
    ------
    MemoryError
        Over ``max_bytes``, or the allocation failed; the message gives the bytes needed.
    """
    dtype = np.dtype(check_float_dtype("dtype", dtype))
    if max_bytes is not None:
        max_bytes = check_int("max_bytes", max_bytes, low=0)
    shape = tuple(int(s) for s in M.shape)
    if len(shape) != 2:
        raise ValueError(f"{what} must be 2-d (n_obs, n_vars), got shape {shape}")
    if rows is not None:
        rows = np.asarray(rows, dtype=np.intp)
        if rows.ndim != 1 or (rows.size and (rows[0] < 0 or rows[-1] >= shape[0]
                                             or np.any(np.diff(rows) <= 0))):
            raise ValueError(f"rows must be sorted distinct indices in [0, {shape[0]})")
    n_rows = shape[0] if rows is None else rows.size
    n_cols = shape[1]
    need = n_rows * n_cols * dtype.itemsize
    fmt = _sparse_format(M)
    kind = f"sparse {fmt.upper()}" if fmt in ("csr", "csc") else (
        "sparse" if fmt else "dense")
    say = (f"{what}: densifying {kind} ({n_rows}, {n_cols}) to {dtype.name} needs "
           f"{format_bytes(need)} ({need} bytes)")
    if max_bytes is not None and need > max_bytes:
        raise MemoryError(f"{say}, over max_bytes={max_bytes} ({format_bytes(max_bytes)}); "
                          f"select genes or cells first, or raise max_bytes")
    logger.info(say)
    try:
        out = np.zeros((n_rows, n_cols), dtype=dtype)     # calloc: pages committed as filled
    except MemoryError:
        raise MemoryError(f"{say}, and that much memory could not be allocated; select "
                          f"genes or cells first") from None
    if n_rows == 0 or n_cols == 0:
        return out
    if fmt == "other":
        M = M.tocsr()
        fmt = "csr"
    along_cols = fmt == "csc"
    length = n_cols if along_cols else shape[0]
    if chunk_size is None:
        across = n_rows if along_cols else n_cols
        chunk_size = max(1, CHUNK_BYTES // max(1, across * dtype.itemsize))
    else:
        chunk_size = check_int("chunk_size", chunk_size, low=1)
    done = 0                                              # output rows filled so far
    for start in range(0, length, chunk_size):
        stop = min(start + chunk_size, length)
        if along_cols:
            block = M[:, start:stop]
            if rows is not None:
                block = block[rows]
            out[:, start:stop] = _to_dense(block, fmt, dtype)
            continue
        if rows is None:
            local = None
        else:
            lo, hi = np.searchsorted(rows, [start, stop])
            if lo == hi:
                continue
            local = rows[lo:hi] - start
        block = M[start:stop]
        if local is not None and local.size != stop - start:
            block = block[local]
        n = block.shape[0]
        target = out[done:done + n]
        if fmt == "csr":
            # adds into the zeroed rows (so duplicate entries sum, as SciPy's do)
            block.astype(dtype, copy=False).toarray(out=target)
        else:
            target[...] = np.asarray(block, dtype=dtype)
        done += n
    if not allow_missing:
        _check_finite(out, what, rows)
    return out


def _to_dense(block, fmt, dtype):
    if fmt:
        return block.astype(dtype, copy=False).toarray()
    return np.asarray(block, dtype=dtype)


def _check_finite(out, what, rows):
    step = max(1, CHUNK_BYTES // max(1, out.shape[1] * out.itemsize))
    for start in range(0, out.shape[0], step):
        bad = ~np.isfinite(out[start:start + step])
        if bad.any():
            i, j = np.argwhere(bad)[0]
            i = start + int(i)
            src = i if rows is None else int(rows[i])
            value = out[i, j]
            kind = "NaN" if np.isnan(value) else "infinity"
            raise ValueError(f"{what} contains {kind} at row {src}, column {int(j)}; pass "
                             f"allow_missing=True to keep it")


def labels_from_obs(obs, label_key, dropna=False, where="obs"):
    """``(y, keep, classes)`` for the column ``obs[label_key]``.

    ``y``: the labels of the rows kept (categorical columns: their category values, as a
    NumPy array; others: the column's values); ``keep``: the sorted row indices kept
    (every row, or with ``dropna`` those with a label); ``classes``: the categories of a
    categorical column (list), else None.  A missing label (NaN / None / pandas NA) is a
    ValueError naming how many and the first row, unless ``dropna``.
    """
    if not isinstance(label_key, str):
        raise TypeError(f"label_key must be a str (a column of {where}), got "
                        f"{type(label_key).__name__}")
    if label_key not in obs.columns:
        cols = ", ".join(repr(str(c)) for c in obs.columns[:20]) or "none"
        raise ValueError(f"label_key={label_key!r} is not a column of {where}; its columns "
                         f"are: {cols}")
    col = obs[label_key]
    missing = np.asarray(col.isna(), dtype=bool)
    if missing.all():
        raise ValueError(f"{where}[{label_key!r}] has no labels: all {missing.size} are "
                         f"missing")
    if missing.any() and not dropna:
        first = str(obs.index[int(np.argmax(missing))])
        raise ValueError(f"{where}[{label_key!r}] has {int(missing.sum())} missing label(s) "
                         f"of {missing.size} (first: {first!r}); fill them, or pass "
                         f"dropna=True to leave those samples out")
    keep = np.flatnonzero(~missing)
    classes = None
    if hasattr(col, "cat"):
        classes = list(col.cat.categories)
        y = np.asarray(col.cat.categories)[np.asarray(col.cat.codes)[keep]]
    else:
        y = col.to_numpy()[keep]
        if y.dtype == object:
            y = np.asarray(list(y))
    return y, keep, classes


def read_h5ad(path, label_key=None, layer=None, dtype="float32", dropna=False,
              allow_missing=False, max_bytes=None, chunk_size=None):
    """Read an AnnData ``.h5ad`` file into samples (cells) x genes, names kept.

    Parameters
    ----------
    path : str or os.PathLike
    label_key : str, optional
        A column of ``obs`` to return as labels ``y`` (e.g. ``"cell_type"``).
    layer : str, optional
        Read ``layers[layer]`` instead of ``X``.
    dtype : {"float32", "float64"}, default="float32"
        Of the dense matrix.  float32 (the models' default dtype, and what ``.h5ad``
        counts are usually stored as) halves the memory of float64.
    dropna : bool, default=False
        With ``label_key``: leave out the samples whose label is missing (else a
        missing label is a ValueError).  Their rows are never densified.
    allow_missing : bool, default=False
        If False, a NaN or infinite value in the matrix is a ValueError naming its row
        and column (as :func:`~deepbio.datasets.read_expression`).
    max_bytes : int, optional
        Largest dense matrix to allocate; a larger one is a ``MemoryError`` saying how
        many bytes it needs, raised before anything is allocated.
    chunk_size : int, optional
        Rows (columns, for a CSC matrix) densified at a time; default about 32 MiB.

    Returns
    -------
    matrix : Bunch
        - ``X`` : ndarray (n_samples, n_genes) of ``dtype``, C-contiguous
        - ``samples`` : list of str (``obs_names``)
        - ``genes`` : list of str (``var_names``)
        - with ``label_key``: ``y`` (ndarray (n_samples,); a categorical column gives
          its category values), ``label_key``, and ``classes`` (the categories of a
          categorical column, else None)
        - ``layer`` : the layer read (None: ``X``)

    Raises
    ------
    ImportError
        anndata is not installed (``pip install "deepbio[anndata]"``).
    ValueError
        Not an AnnData file; no such layer or ``obs`` column; missing labels without
        ``dropna``; NaN / infinity without ``allow_missing``.  Messages start with the
        file name.
    MemoryError
        The dense matrix needs more than ``max_bytes`` or than the memory available; the
        message says how much.

    Notes
    -----
    Sparse matrices (CSR or CSC, as anndata stores them) are read from the file a chunk
    at a time and written into the dense result in ``dtype``: the memory needed is that
    of the result plus one chunk.  The bytes needed are logged at INFO level on the
    ``deepbio.datasets`` logger before the result is allocated.
    """
    read_elem, sparse_dataset = _anndata_io()
    import h5py

    prefix = f"{os.fspath(path)}: "
    if not os.path.exists(path):
        raise FileNotFoundError(f"{prefix}no such file")
    try:
        fh = h5py.File(path, "r")
    except OSError as e:
        raise ValueError(f"{prefix}not an HDF5 (.h5ad) file ({e})") from None
    with fh:
        for key in ("obs", "var"):
            if key not in fh:
                raise ValueError(f"{prefix}not an AnnData file: no {key!r} group")
        obs = read_elem(fh["obs"])
        var = read_elem(fh["var"])
        if layer is None:
            if "X" not in fh:
                raise ValueError(f"{prefix}the file has no X matrix; pass layer= one of "
                                 f"{_layers(fh)}")
            node, what = fh["X"], "X"
        else:
            if not isinstance(layer, str):
                raise TypeError(f"layer must be a str, got {type(layer).__name__}")
            if "layers" not in fh or layer not in fh["layers"]:
                raise ValueError(f"{prefix}layer={layer!r} is not in the file; its layers "
                                 f"are: {_layers(fh) or 'none'}")
            node, what = fh["layers"][layer], f"layer {layer!r}"
        if isinstance(node, h5py.Group):
            enc = node.attrs.get("encoding-type", "")
            if isinstance(enc, bytes):
                enc = enc.decode()
            M = sparse_dataset(node) if enc in ("csr_matrix", "csc_matrix") \
                else read_elem(node)
        else:
            M = node
        if M.shape != (len(obs), len(var)):
            raise ValueError(f"{prefix}{what} has shape {tuple(M.shape)} but obs and var "
                             f"have {len(obs)} and {len(var)} rows")
        try:
            keep = y = classes = None
            if label_key is not None:
                y, keep, classes = labels_from_obs(obs, label_key, dropna)
                if keep.size == len(obs):
                    keep = None
            X = densify(M, dtype=dtype, rows=keep, chunk_size=chunk_size,
                        max_bytes=max_bytes, allow_missing=allow_missing, what=what)
        except MemoryError as e:
            raise MemoryError(f"{prefix}{e}") from None
        except ValueError as e:
            raise ValueError(f"{prefix}{e}") from None
    samples = [str(s) for s in obs.index]
    if keep is not None:
        samples = [samples[i] for i in keep]
    out = Bunch(X=X, samples=samples, genes=[str(g) for g in var.index], layer=layer)
    if label_key is not None:
        out.update(y=y, label_key=label_key, classes=classes)
    return out


def _layers(fh):
    return ", ".join(repr(k) for k in fh["layers"].keys()) if "layers" in fh else ""
