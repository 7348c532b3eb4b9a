"""read_samples / read_labels / read_cls (deepbio.datasets.samples, .expression), the
compressed inputs of every reader (gzip, bzip2, xz by content), iter_fasta, and the
per-class metrics."""
import bz2
import gzip
import io
import lzma

import numpy as np
import pytest

from deepbio.datasets import (NonNumericColumnsError, confusion_matrix, iter_fasta,
                              load_array, make_motif_sequences, one_hot, precision_recall_f1,
                              read_cls, read_expression, read_fasta, read_labels,
                              read_samples, read_table)

CELLS = (",cell_type,batch,CD3E,MS4A1\n"
         "AAAC-1,T,b1,5,0\n"
         "AAAG-1,B,b2,0,7\n"
         "AAAT-1,B,b1,1,2.5\n")


def test_pandas_index_target_and_metadata(tmp_path):
    path = tmp_path / "cells.csv"
    path.write_text(CELLS)
    with pytest.raises(NonNumericColumnsError) as exc:
        read_samples(path, target="cell_type")
    assert exc.value.columns == ["batch"] and "'batch'" in str(exc.value)
    with pytest.raises(NonNumericColumnsError) as exc:        # both listed, no other
        read_samples(path, target=None)
    assert exc.value.columns == ["cell_type", "batch"]
    s = read_samples(path, target="cell_type", drop=["batch"])
    assert s.samples == ["AAAC-1", "AAAG-1", "AAAT-1"] and s.index == ""
    assert s.features == ["CD3E", "MS4A1"] and s.y.tolist() == ["T", "B", "B"]
    np.testing.assert_array_equal(s.X, [[5, 0], [0, 7], [1, 2.5]])
    s2 = read_samples(path, target="cell_type", drop_non_numeric=True)
    assert s2.dropped == ["batch"] and np.array_equal(s2.X, s.X)
    s3 = read_samples(path, target=1, drop=[2], index_col=0)       # by index
    assert s3.samples == s.samples and np.array_equal(s3.X, s.X)
    with pytest.raises(NonNumericColumnsError) as exc:   # no IDs: the barcodes are text
        read_samples(path, target=1, drop=[2], index_col=None)
    assert exc.value.columns == [""]


def test_named_index_r_style_and_write_table(tmp_path):
    named = tmp_path / "named.csv"
    named.write_text("barcode,g1,g2\nc1,1,2\nc2,3,4\nc3,5,6\n")
    s = read_samples(named)
    assert s.samples == ["c1", "c2", "c3"] and s.index == "barcode" and s.y is None
    r = tmp_path / "r.csv"                       # write.csv: a quoted empty corner
    r.write_text('"","g1","g2","label"\n"1",1,2,"a"\n"2",3,4,"b"\n"3",5,6,"a"\n')
    s = read_samples(r)
    assert s.samples == ["1", "2", "3"] and s.target == "label"
    assert s.features == ["g1", "g2"] and s.y.tolist() == ["a", "b", "a"]
    t = tmp_path / "r.txt"                       # write.table: no corner cell at all
    t.write_text('"g1"\t"g2"\n"S1"\t1\t2\n"S2"\t3\t4\n')
    s = read_samples(t)
    assert s.samples == ["S1", "S2"] and s.features == ["g1", "g2"]
    assert read_table(t).columns == ["", "g1", "g2"]
    plain = tmp_path / "plain.csv"               # no IDs: numbers only
    plain.write_text("g1,g2,class\n1,2,a\n3,4,b\n")
    s = read_samples(plain)
    assert s.samples is None and s.target == "class" and s.X.shape == (2, 2)
    with pytest.raises(ValueError, match="index_col 'nope' is not a column"):
        read_samples(plain, index_col="nope")
    with pytest.raises(ValueError, match="target 'nope' is not a column"):
        read_samples(plain, target="nope")
    s = read_samples(plain, target="nope", missing_target="ignore", drop=["class"])
    assert s.y is None and s.features == ["g1", "g2"]


def test_a_stray_word_in_a_numeric_column_is_reported_by_its_cell(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text(",g1,g2\nS1,1,2\nS2,x,4\nS3,5,6\n")
    with pytest.raises(ValueError, match=r"non-numeric value 'x' at line 3, column 2 "
                                         r"\(row 'S2', column 'g1'\)"):
        read_samples(path)


def test_genes_in_rows_with_a_metadata_row(tmp_path):
    path = tmp_path / "genes.tsv"
    path.write_text("gene\tS1\tS2\tS3\ncell_type\tT\tB\tB\nCD3E\t5\t0\t1\nMS4A1\t0\t7\t2\n")
    s = read_samples(path, target="cell_type", genes_in_rows=True)
    assert s.samples == ["S1", "S2", "S3"] and s.features == ["CD3E", "MS4A1"]
    assert s.y.tolist() == ["T", "B", "B"]
    np.testing.assert_array_equal(s.X, [[5, 0], [0, 7], [1, 2]])
    with pytest.raises(NonNumericColumnsError) as exc:
        read_samples(path, target=None, genes_in_rows=True)
    assert exc.value.columns == ["cell_type"]
    bad = tmp_path / "bad.tsv"
    bad.write_text("gene\tS1\tS2\tS3\nCD3E\t5\t0\t1\nMS4A1\t0\tq\t2\n")
    with pytest.raises(ValueError, match=r"'q' at line 3, column 3 \(row 'MS4A1', "
                                         r"column 'S2'\)"):
        read_samples(bad, genes_in_rows=True)


def test_cls_names_classes_in_order_of_first_appearance(tmp_path):
    assert read_cls(io.StringIO("4 2 1\n# tumor normal\n1 1 0 1\n")) == \
        ["tumor", "tumor", "normal", "tumor"]
    assert read_cls(io.StringIO("3 2 1\n#\tALL\tAML\nALL\tAML\tALL\n")) == \
        ["ALL", "AML", "ALL"]
    assert read_cls(io.StringIO("3 2 1\n#\n0 1 0\n")) == ["0", "1", "0"]
    with pytest.raises(ValueError, match="3 labels, but line 1 says 4 samples"):
        read_cls(io.StringIO("4 2 1\n# a b\n0 1 0\n"))
    with pytest.raises(ValueError, match="3 distinct labels"):
        read_cls(io.StringIO("3 2 1\n# a b\n0 1 2\n"))
    with pytest.raises(ValueError, match="expected '<n_samples> <n_classes> 1'"):
        read_cls(io.StringIO("three 2 1\n# a b\n0 1 0\n"))
    path = tmp_path / "y.cls.gz"
    path.write_bytes(gzip.compress(b"2 2 1\n# a b\n0 1\n"))
    assert read_cls(path) == ["a", "b"]


def test_read_labels_aligns_on_ids(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("sample,label\nS3,c\nS1,a\nS2,b\nS9,z\n")
    assert read_labels(path, samples=["S1", "S2", "S3"]).tolist() == ["a", "b", "c"]
    with pytest.raises(ValueError, match=r"no label for 1 of the 2 samples \(first: 'S7'\)"):
        read_labels(path, samples=["S1", "S7"])
    one = tmp_path / "one.csv"
    one.write_text("label\nB\nM\n")
    assert read_labels(one, n_samples=2).tolist() == ["B", "M"]
    with pytest.raises(ValueError, match="2 labels for 3 samples"):
        read_labels(one, n_samples=3)
    wide = tmp_path / "wide.csv"
    wide.write_text("a,b,c\nx,y,z\n")
    with pytest.raises(ValueError, match="one column of labels"):
        read_labels(wide)


@pytest.mark.parametrize("compress", [gzip.compress, bz2.compress, lzma.compress],
                         ids=["gzip", "bz2", "xz"])
def test_every_reader_takes_compressed_files(tmp_path, compress):
    table = b"sample,TP53,BRCA1\nS1,1.5,2\nS2,0.5,3.25\n"
    for name in ("x.csv", "x.csv.gz", "x.bin"):           # the content decides
        (tmp_path / name).write_bytes(compress(table))
        m = read_expression(tmp_path / name)
        assert m.samples == ["S1", "S2"] and m.X.tolist() == [[1.5, 2], [0.5, 3.25]]
        assert read_table(tmp_path / name).columns == ["sample", "TP53", "BRCA1"]
        assert read_samples(tmp_path / name).samples == ["S1", "S2"]
    fa = tmp_path / "x.fa.z"
    fa.write_bytes(compress(b">a one\nAC\nGT\n>b\nTT\n"))
    assert read_fasta(fa) == [("a", "ACGT"), ("b", "TT")]
    with open(fa, "rb") as fh:                             # an open binary file too
        assert [r.id for r in read_fasta(fh)] == ["a", "b"]
    buf = io.BytesIO()
    np.save(buf, np.arange(6.0).reshape(3, 2))
    (tmp_path / "x.npy.gz").write_bytes(compress(buf.getvalue()))
    np.testing.assert_array_equal(load_array(tmp_path / "x.npy.gz"),
                                  np.arange(6.0).reshape(3, 2))
    gct = b"#1.2\n2\t2\nName\tDescription\tS1\tS2\ng1\td\t1\t2\ng2\td\t3\t4\n"
    (tmp_path / "x.gct.gz").write_bytes(compress(gct))
    s = read_samples(tmp_path / "x.gct.gz")
    assert s.samples == ["S1", "S2"] and s.features == ["g1", "g2"]
    np.testing.assert_array_equal(s.X, [[1, 3], [2, 4]])


def test_truncated_compressed_data_is_a_clear_error(tmp_path):
    for compress, name in ((gzip.compress, "gzip"), (bz2.compress, "bz2"),
                           (lzma.compress, "xz")):
        data = compress(b">a\n" + b"ACGT" * 5000 + b"\n")
        path = tmp_path / f"cut.{name}"
        path.write_bytes(data[:len(data) // 2])
        with pytest.raises(ValueError, match="truncated or corrupt"):
            read_fasta(path)


def test_h5ad_samples_with_labels_and_a_layer(tmp_path):
    pytest.importorskip("deepbio.datasets.anndata")
    ad = pytest.importorskip("anndata")
    pd = pytest.importorskip("pandas")
    X = np.arange(12, dtype=np.float32).reshape(4, 3)
    adata = ad.AnnData(X=X, obs=pd.DataFrame({"cell_type": pd.Categorical(list("ABAB"))},
                                             index=[f"c{i}" for i in range(4)]),
                       var=pd.DataFrame(index=["g1", "g2", "g3"]),
                       layers={"counts": 2 * X})
    adata.write_h5ad(tmp_path / "x.h5ad")
    s = read_samples(tmp_path / "x.h5ad", label_key="cell_type", layer="counts")
    assert s.samples == ["c0", "c1", "c2", "c3"] and s.features == ["g1", "g2", "g3"]
    assert s.y.tolist() == list("ABAB")
    np.testing.assert_array_equal(s.X, 2 * X)
    with pytest.raises(ValueError, match="no label column"):
        read_samples(tmp_path / "x.h5ad", target="cell_type")


def test_iter_fasta_batches_match_read_fasta(tmp_path):
    seqs, y = make_motif_sequences(n=50, length=30, random_state=0)
    path = tmp_path / "s.fa.gz"
    path.write_bytes(gzip.compress("".join(f">s{i} label={v}\n{s}\n" for i, (s, v) in
                                           enumerate(zip(seqs, y))).encode()))
    batches = list(iter_fasta(path, batch_size=16))
    assert [len(b.ids) for b in batches] == [16, 16, 16, 2]
    assert [b.start for b in batches] == [0, 16, 32, 48]
    X, mask = one_hot([r.sequence for r in read_fasta(path)])
    np.testing.assert_array_equal(np.concatenate([b.X for b in batches]), X)
    np.testing.assert_array_equal(np.concatenate([b.mask for b in batches]), mask)
    assert batches[0].descriptions[0] == f"label={y[0]}"
    with pytest.raises(ValueError, match="batch_size"):
        next(iter_fasta(path, batch_size=0))


def test_iter_fasta_trains_a_cnn_by_partial_fit(tmp_path):
    """A motif CNN trained by partial_fit on streamed batches (5 passes over a file of
    400 sequences) separates held-out sequences (ROC AUC >= 0.9)."""
    from deepbio import CNNClassifier
    from deepbio.datasets import roc_auc_score
    seqs, y = make_motif_sequences(n=400, length=60, random_state=0)
    path = tmp_path / "train.fa"
    path.write_text("".join(f">s{i} {v}\n{s}\n" for i, (s, v) in enumerate(zip(seqs, y))))
    clf = CNNClassifier(filters=(8,), kernel_size=9, learning_rate=0.05, random_state=0)
    for _ in range(5):
        for b in iter_fasta(path, batch_size=100, length=60):
            labels = [int(d) for d in b.descriptions]
            clf.partial_fit(b.X, labels, classes=[0, 1], mask=b.mask)
    st, yt = make_motif_sequences(n=200, length=60, random_state=1)
    Xt, mt = one_hot(st)
    auc = roc_auc_score(yt, clf.predict_proba(Xt, mask=mt)[:, 1])
    assert auc >= 0.9, auc


def test_per_class_metrics_match_scikit_learn():
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    y_true = rng.choice(["a", "b", "c"], 200)
    y_pred = np.where(rng.random(200) < 0.7, y_true, rng.choice(["a", "b", "c", "d"], 200))
    labels = ["a", "b", "c", "d"]
    np.testing.assert_array_equal(confusion_matrix(y_true, y_pred, labels=labels),
                                  sk.confusion_matrix(y_true, y_pred, labels=labels))
    p, r, f, n = precision_recall_f1(y_true, y_pred, labels=labels)
    ps, rs, fs, ns = sk.precision_recall_fscore_support(y_true, y_pred, labels=labels,
                                                        zero_division=0)
    np.testing.assert_allclose(p, ps)
    np.testing.assert_allclose(r, rs)
    np.testing.assert_allclose(f, fs)
    np.testing.assert_array_equal(n, ns)
