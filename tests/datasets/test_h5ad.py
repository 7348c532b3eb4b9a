"""read_h5ad / read_expression on AnnData files, and the chunked densification behind them."""
import logging
import sys

import numpy as np
import pytest

ad = pytest.importorskip("anndata")
pd = pytest.importorskip("pandas")
sp = pytest.importorskip("scipy.sparse")

from deepbio.datasets import read_expression, read_h5ad  # noqa: E402
from deepbio.datasets.anndata import densify  # noqa: E402

N_OBS, N_VARS = 23, 11


def _dense(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N_OBS, N_VARS)).astype(np.float32)
    X[rng.random(X.shape) < 0.6] = 0.0                    # mostly zeros, as counts are
    return X


def _adata(X, storage="csr"):
    """A small AnnData: X stored as ``storage``, a dense ``counts`` layer, categorical
    labels with two missing, and a numeric label column."""
    rng = np.random.default_rng(1)
    kinds = np.array(["B", "T", "NK"])[rng.integers(0, 3, N_OBS)].astype(object)
    kinds[[4, 9]] = None
    obs = pd.DataFrame({
        "cell_type": pd.Categorical(kinds, categories=["B", "NK", "T"]),
        "age": np.arange(N_OBS, dtype=np.float64),
    }, index=[f"cell{i:02d}" for i in range(N_OBS)])
    var = pd.DataFrame(index=[f"G{j}" for j in range(N_VARS)])
    stored = {"csr": sp.csr_matrix, "csc": sp.csc_matrix, "dense": np.asarray}[storage](X)
    a = ad.AnnData(X=stored, obs=obs, var=var)
    a.layers["counts"] = np.round(np.abs(X) * 10).astype(np.float32)
    return a


@pytest.mark.parametrize("storage", ["csr", "csc", "dense"])
def test_round_trip_write_h5ad_read_expression(tmp_path, storage):
    X = _dense()
    a = _adata(X, storage)
    path = tmp_path / "cells.h5ad"
    a.write_h5ad(path)
    m = read_expression(path)
    assert m.X.dtype == np.float32 and m.X.flags.c_contiguous
    np.testing.assert_array_equal(m.X, X)
    assert m.samples == list(a.obs_names) and m.genes == list(a.var_names)
    assert m.layer is None
    # many chunks (rows, or columns for CSC) give the same matrix
    np.testing.assert_array_equal(read_h5ad(path, chunk_size=3).X, X)
    np.testing.assert_array_equal(read_h5ad(str(path), dtype="float64").X, X)
    with pytest.raises(ValueError, match="transpose and format do not apply to .h5ad"):
        read_expression(path, transpose=True)


def test_layer_and_missing_layer(tmp_path):
    a = _adata(_dense())
    path = tmp_path / "cells.h5ad"
    a.write_h5ad(path)
    m = read_h5ad(path, layer="counts")
    np.testing.assert_array_equal(m.X, a.layers["counts"])
    assert m.layer == "counts"
    with pytest.raises(ValueError, match=r"layer='spliced' is not in the file.*'counts'"):
        read_h5ad(path, layer="spliced")


@pytest.mark.parametrize("storage", ["csr", "csc", "dense"])
def test_categorical_labels_missing_error_and_dropna(tmp_path, storage):
    X = _dense()
    a = _adata(X, storage)
    path = tmp_path / "cells.h5ad"
    a.write_h5ad(path)
    with pytest.raises(ValueError, match=r"cells\.h5ad: obs\['cell_type'\] has 2 missing "
                                         r"label\(s\) of 23 \(first: 'cell04'\).*dropna=True"):
        read_h5ad(path, label_key="cell_type")
    m = read_h5ad(path, label_key="cell_type", dropna=True, chunk_size=4)
    keep = [i for i in range(N_OBS) if i not in (4, 9)]
    np.testing.assert_array_equal(m.X, X[keep])
    assert m.samples == [f"cell{i:02d}" for i in keep]
    assert m.classes == ["B", "NK", "T"]
    np.testing.assert_array_equal(m.y, a.obs["cell_type"].to_numpy()[keep].astype(str))
    assert m.label_key == "cell_type"
    numeric = read_h5ad(path, label_key="age")
    np.testing.assert_array_equal(numeric.y, np.arange(N_OBS, dtype=np.float64))
    assert numeric.classes is None
    with pytest.raises(ValueError, match=r"label_key='batch' is not a column of obs; its "
                                         r"columns are: 'cell_type', 'age'"):
        read_h5ad(path, label_key="batch")


def test_memory_is_said_before_allocation(tmp_path, caplog):
    a = _adata(_dense())
    path = tmp_path / "cells.h5ad"
    a.write_h5ad(path)
    need = N_OBS * N_VARS * 4
    with pytest.raises(MemoryError, match=rf"densifying sparse CSR \(23, 11\) to float32 "
                                          rf"needs .*\({need} bytes\), over max_bytes=100"):
        read_h5ad(path, max_bytes=100)
    with caplog.at_level(logging.INFO, logger="deepbio.datasets"):
        read_h5ad(path, max_bytes=need)
    assert f"({need} bytes)" in caplog.text


def test_allocation_failure_names_the_bytes(monkeypatch):
    M = sp.csr_matrix(_dense())

    def no_memory(*args, **kwargs):
        raise MemoryError()
    monkeypatch.setattr(np, "zeros", no_memory)
    with pytest.raises(MemoryError, match=r"needs .* \(1012 bytes\), and that much memory "
                                          r"could not be allocated"):
        densify(M)


def test_densify_formats_and_duplicates():
    X = _dense()
    for M in (sp.coo_matrix(X), sp.csc_array(X), sp.lil_matrix(X), X.astype(np.float64)):
        got = densify(M, chunk_size=5)
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, X)
    rows = np.array([0, 3, 4, 5, 22])
    for M in (sp.csr_matrix(X), sp.csc_matrix(X), X):
        np.testing.assert_array_equal(densify(M, rows=rows, chunk_size=2), X[rows])
    # a CSR matrix with a repeated (row, column) entry: the entries sum, as in SciPy
    dup = sp.csr_matrix((np.array([1.0, 2.0, 5.0]), np.array([1, 1, 0]),
                         np.array([0, 2, 3])), shape=(2, 3))
    np.testing.assert_array_equal(densify(dup), [[0, 3, 0], [5, 0, 0]])
    with pytest.raises(ValueError, match="rows must be sorted distinct"):
        densify(X, rows=[3, 1])


def test_nan_is_an_error_unless_allowed(tmp_path):
    X = _dense()
    X[7, 2] = np.nan
    a = _adata(X, "csr")
    path = tmp_path / "nan.h5ad"
    a.write_h5ad(path)
    with pytest.raises(ValueError, match=r"nan\.h5ad: X contains NaN at row 7, column 2"):
        read_expression(path)
    assert np.isnan(read_expression(path, allow_missing=True).X[7, 2])


def test_not_an_h5ad_file(tmp_path):
    bad = tmp_path / "bad.h5ad"
    bad.write_text("sample,G1\nS1,1\n")
    with pytest.raises(ValueError, match=r"bad\.h5ad: not an HDF5"):
        read_expression(bad)
    with pytest.raises(FileNotFoundError):
        read_h5ad(tmp_path / "absent.h5ad")


def test_without_anndata_the_error_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "anndata", None)
    with pytest.raises(ImportError, match=r'pip install "deepbio\[anndata\]"'):
        read_h5ad(tmp_path / "x.h5ad")
