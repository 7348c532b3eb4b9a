"""The command line: demo, train / predict / evaluate round trip, errors and exit codes."""
import csv
import io
import os
import subprocess
import sys

import numpy as np
import pytest

from deepbio import cli
from deepbio.datasets import has_header, load_breast_cancer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(*argv):
    out = io.StringIO()
    code = cli.main(list(argv), out=out)
    return code, out.getvalue()


def test_roc_auc_is_the_librarys():
    """The reports' ROC AUC is deepbio.datasets.roc_auc_score (tested in
    tests/datasets/test_metrics.py), still reachable under its old name cli.roc_auc."""
    from deepbio.datasets import roc_auc_score
    assert cli.roc_auc is roc_auc_score
    assert cli.roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)


def test_demo_prints_backend_metrics_and_time():
    code, text = run("demo")
    assert code == 0
    assert "backend" in text and "time" in text
    acc = float(text.split("held-out accuracy")[1].split()[0])
    auc = float(text.split("held-out ROC AUC")[1].split()[0])
    assert acc >= 0.95 and auc >= 0.98, text


def test_python_dash_m_deepbio_demo():
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-m", "deepbio", "demo", "--backend", "numpy"],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "backend            numpy" in proc.stdout


@pytest.fixture
def cancer_csv(tmp_path):
    data = load_breast_cancer()
    X, y = data.data, np.array(data.target_names)[data.target]
    path = tmp_path / "cancer.csv"
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(data.feature_names + ["diagnosis"])
        for row, label in zip(X, y):
            w.writerow([f"{v:.6g}" for v in row] + [label])
    return path, X, y


def test_train_predict_evaluate_round_trip(tmp_path, cancer_csv):
    path, X, y = cancer_csv
    model = tmp_path / "m.safetensors"
    code, text = run("train", "--model", "MLPClassifier", "--data", str(path),
                     "--target", "diagnosis", "--param", "hidden_layer_sizes=[16]",
                     "--param", "max_iter=20", "--test-size", "0.25", "--out", str(model))
    assert code == 0, text
    assert "held-out accuracy" in text and model.exists()
    held_out = float(text.split("held-out accuracy")[1].split(",")[0])
    assert held_out > 0.93

    preds = tmp_path / "p.csv"
    code, text = run("predict", "--model", str(model), "--data", str(path), "--out",
                     str(preds))
    assert code == 0 and "wrote 569 predictions" in text
    rows = list(csv.reader(open(preds)))
    assert rows[0] == ["prediction"] and len(rows) == 570
    assert np.mean(np.array([r[0] for r in rows[1:]]) == y) > 0.93

    code, text = run("predict", "--model", str(model), "--data", str(path), "--proba")
    assert code == 0
    lines = text.strip().splitlines()
    # issue #23: the predicted label, then one probability column per class
    assert lines[0] == "prediction,benign,malignant" and len(lines) == 570

    code, text = run("evaluate", "--model", str(model), "--data", str(path))
    assert code == 0 and "accuracy" in text and "roc_auc" in text


def test_train_transformer_and_npy(tmp_path):
    X = (np.random.default_rng(0).random((60, 8)) < 0.5).astype(float)
    np.save(tmp_path / "x.npy", X)
    model = tmp_path / "rbm.safetensors"
    code, text = run("train", "--model", "RBM", "--data", str(tmp_path / "x.npy"),
                     "--scale", "none", "--param", "n_components=3", "--out", str(model))
    assert code == 0, text
    code, text = run("predict", "--model", str(model), "--data", str(tmp_path / "x.npy"))
    assert code == 0
    assert text.splitlines()[0] == "feature_0,feature_1,feature_2"


def test_regressor_with_labels_file(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 3))
    np.savetxt(tmp_path / "x.csv", X, delimiter=",")
    np.savetxt(tmp_path / "y.csv", X @ [1.0, 2.0, -1.0], delimiter=",")
    model = tmp_path / "r.safetensors"
    code, text = run("train", "--model", "MLPRegressor", "--data", str(tmp_path / "x.csv"),
                     "--labels", str(tmp_path / "y.csv"), "--param", "hidden_layer_sizes=[]",
                     "--out", str(model))
    assert code == 0, text
    code, text = run("evaluate", "--model", str(model), "--data", str(tmp_path / "x.csv"),
                     "--labels", str(tmp_path / "y.csv"))
    assert code == 0 and "r2" in text
    assert float(text.split("r2")[1].split(",")[0]) > 0.95


def test_errors_have_exit_code_1_and_a_message(tmp_path, cancer_csv, capsys):
    path, _, _ = cancer_csv
    out = str(tmp_path / "m.safetensors")
    cases = [
        (["train", "--model", "Nope", "--data", str(path), "--out", out], "unknown model"),
        (["train", "--model", "MLPClassifier", "--data", str(tmp_path / "missing.csv"),
          "--out", out], "not found"),
        (["train", "--model", "MLPClassifier", "--data", str(path), "--target", "nope",
          "--out", out], "not a column"),
        (["train", "--model", "MLPClassifier", "--data", str(path), "--target", "diagnosis",
          "--param", "learning_rate=-1", "--out", out], "'learning_rate' parameter"),
        (["train", "--model", "MLPClassifier", "--data", str(path), "--target", "diagnosis",
          "--param", "colour=3", "--out", out], "bad --param"),
        (["predict", "--model", str(path), "--data", str(path)], "not a"),
        (["predict", "--model", str(tmp_path / "none.safetensors"), "--data", str(path)],
         "model file not found"),
        (["demo", "--backend", "cupy"], "cupy"),
    ]
    for argv, message in cases:
        code, _ = run(*argv)
        err = capsys.readouterr().err
        assert code == 1, argv
        assert message in err and err.startswith(f"deepbio {argv[0]}: error:"), err
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,label\n1,x,0\n2,3,1\n")
    code, _ = run("train", "--model", "MLPClassifier", "--data", str(bad), "--out", out)
    assert code == 1 and "non-numeric value 'x'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        cli.main(["train"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        cli.main([])
    assert exc.value.code == 2


def test_bench_command_finds_the_script(monkeypatch, capsys):
    if cli._find_bench() is None:
        code, _ = run("bench")
        assert code == 1
        return
    code, text = run("bench", "--quick", "--repeats", "1", "--hidden", "16",
                     "--samples", "200")
    captured = capsys.readouterr()
    assert code == 0
    assert "One RBM epoch" in captured.out


@pytest.mark.parametrize("argv", [("bench", "--help"), ("bench", "--", "--help")])
def test_bench_help_shows_the_benchmarks_options(argv, capsys):
    """`deepbio bench --help` (or `-- --help`) is bench/models.py's own help."""
    if cli._find_bench() is None:
        pytest.skip("not a source checkout: bench/models.py is absent")
    assert cli.main(list(argv)) == 0
    assert "--repeats" in capsys.readouterr().out


# ------------------------------------------------- data files, labels files, headers

SMALL_MLP = ("--model", "MLPClassifier", "--param", "hidden_layer_sizes=[8]",
             "--param", "max_iter=5")


@pytest.fixture
def small(tmp_path):
    """120 breast cancer rows: headerless features x.csv, 0/1 labels y.csv, y.npy (1-d)."""
    X, y = load_breast_cancer(return_X_y=True)
    X, y = X[:120], y[:120]
    np.savetxt(tmp_path / "x.csv", X, delimiter=",", fmt="%.6g")
    np.savetxt(tmp_path / "y.csv", y, fmt="%d")
    np.save(tmp_path / "y.npy", y)
    return tmp_path, X, y


def test_evaluate_reads_a_1d_npy_as_one_label_per_row(small, capsys):
    d, X, y = small
    model = str(d / "m.safetensors")
    code, text = run("train", *SMALL_MLP, "--data", str(d / "x.csv"),
                     "--labels", str(d / "y.npy"), "--out", model)
    assert code == 0 and "on 120 samples" in text, text
    _, from_csv = run("evaluate", "--model", model, "--data", str(d / "x.csv"),
                      "--labels", str(d / "y.csv"))
    code, from_npy = run("evaluate", "--model", model, "--data", str(d / "x.csv"),
                         "--labels", str(d / "y.npy"))
    assert code == 0 and "accuracy" in from_npy and from_npy == from_csv
    np.save(d / "y100.npy", y[:100])
    code, _ = run("evaluate", "--model", model, "--data", str(d / "x.csv"),
                  "--labels", str(d / "y100.npy"))
    err = capsys.readouterr().err
    assert code == 1 and len(err.splitlines()) == 1
    assert "y100.npy has 100 labels" in err and "x.csv has 120 rows" in err, err


def test_labels_file_with_a_header_is_read_alike_by_train_and_evaluate(small):
    d, X, y = small
    (d / "labels.csv").write_text("label\n" + "".join(f"{v}\n" for v in y))
    model = str(d / "m.safetensors")
    code, text = run("train", *SMALL_MLP, "--data", str(d / "x.csv"),
                     "--labels", str(d / "labels.csv"), "--out", model)
    assert code == 0 and "on 120 samples" in text, text
    _, plain = run("evaluate", "--model", model, "--data", str(d / "x.csv"),
                   "--labels", str(d / "y.csv"))
    code, headed = run("evaluate", "--model", model, "--data", str(d / "x.csv"),
                       "--labels", str(d / "labels.csv"))
    assert code == 0 and "accuracy" in headed and headed == plain


def test_header_rule():
    """``--header auto`` is deepbio.datasets.has_header."""
    assert not has_header([["1", "2"], ["3", "4"]])
    assert not has_header([["1", "", "2"], ["3", "4", "5"]])      # a missing value
    assert not has_header([["1.5", "NA", "2"], ["3", "4", "5"]])  # another missing value
    assert has_header([["age", "x"], ["34", "1"], ["51", "2"]])
    assert has_header([["age", "x"], ["34", "NA"], ["", "2"]])    # numbers, some missing
    assert has_header([["", "a", "b"], ["1", "2", "3"]])          # R's row names
    assert not has_header([["1.5", "B"], ["2", "M"], ["3", "B"]])  # string target
    assert not has_header([["B"], ["M"], ["B"]])                  # labels, no header
    assert has_header([["diagnosis"], ["M"], ["B"]])
    assert has_header([["label"], ["0"], ["1"]])


def test_headerless_csv_with_string_labels_keeps_its_first_row(small):
    d, X, y = small
    names = np.where(y == 1, "B", "M")
    with open(d / "xs.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([f"{v:.6g}" for v in row] + [c] for row, c in zip(X, names))
    (d / "names.csv").write_text("".join(f"{c}\n" for c in names))
    model, preds = str(d / "m.safetensors"), str(d / "p.csv")
    code, text = run("train", *SMALL_MLP, "--data", str(d / "xs.csv"), "--target", "30",
                     "--out", model)
    assert code == 0 and "on 120 samples" in text, text
    code, text = run("predict", "--model", model, "--data", str(d / "xs.csv"), "--out", preds)
    assert code == 0 and "wrote 120 predictions" in text
    assert len(list(csv.reader(open(preds)))) == 121
    code, text = run("train", *SMALL_MLP, "--data", str(d / "x.csv"),
                     "--labels", str(d / "names.csv"), "--out", model)
    assert code == 0 and "on 120 samples" in text, text
    # the override applies to --data and --labels: both first rows become headers
    code, text = run("evaluate", "--model", model, "--data", str(d / "x.csv"),
                     "--labels", str(d / "names.csv"), "--header", "yes")
    assert code == 0 and "on 119 samples" in text
    code, text = run("evaluate", "--model", model, "--data", str(d / "x.csv"),
                     "--labels", str(d / "names.csv"), "--header", "no")
    assert code == 0 and "on 120 samples" in text


def test_target_and_labels_together_are_refused(small, capsys):
    d, _, _ = small
    for command in ("train", "evaluate"):
        with pytest.raises(SystemExit) as exc:
            cli.main([command, "--model", "MLPClassifier", "--data", str(d / "x.csv"),
                      "--labels", str(d / "y.csv"), "--target", "0",
                      "--out", str(d / "m.safetensors")])
        assert exc.value.code == 2
        assert "not allowed with argument" in capsys.readouterr().err


# the overflow on the way to NaN warns from inside the model; the CLI's line is the point
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_diverging_training_is_a_one_line_error(small, capsys):
    d, _, _ = small
    # (clip_norm=null: the MLP's default clipping would keep even this step from diverging)
    code, _ = run("train", *SMALL_MLP, "--param", "learning_rate=1e6",
                  "--param", "clip_norm=null",
                  "--data", str(d / "x.csv"), "--labels", str(d / "y.csv"),
                  "--out", str(d / "m.safetensors"))
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert err.splitlines()[-1].startswith("deepbio train: error: SGD: the training loss")


def test_npz_x_and_y_are_read_separately(small):
    d, X, y = small
    npz, model = str(d / "data.npz"), str(d / "m.safetensors")
    np.savez(npz, X=X, y=np.where(y == 1, "benign", "malignant"))
    code, text = run("train", *SMALL_MLP, "--data", npz, "--out", model)
    assert code == 0 and "on 120 samples x 30 features" in text, text
    code, text = run("predict", "--model", model, "--data", npz)
    lines = text.splitlines()
    assert code == 0 and lines[0] == "prediction" and len(lines) == 121
    assert set(lines[1:]) <= {"benign", "malignant"}
    code, text = run("evaluate", "--model", model, "--data", npz)
    assert code == 0 and "on 120 samples: accuracy" in text, text


def test_train_checks_the_out_directory_before_training(small, monkeypatch, capsys):
    d, _, _ = small
    from deepbio import MLPClassifier
    monkeypatch.setattr(MLPClassifier, "fit", lambda *a, **k: pytest.fail("trained"))
    out = str(d / "nodir" / "m.safetensors")
    code, _ = run("train", *SMALL_MLP, "--data", str(d / "x.csv"),
                  "--labels", str(d / "y.csv"), "--out", out)
    err = capsys.readouterr().err
    assert code == 1 and len(err.splitlines()) == 1
    assert f"--out {out}" in err and "does not exist" in err


def test_scaling_uses_the_library_scalers_and_keeps_the_model_file_format():
    from deepbio.datasets import MinMaxScaler, StandardScaler
    X = np.array([[0.0, 5.0, 1.0], [2.0, 5.0, 3.0], [4.0, 5.0, 8.0]])
    standard = cli.fit_scaling(X, "standard")
    scaler = StandardScaler().fit(X)
    assert standard == {"kind": "standard", "offset": scaler.mean_.tolist(),
                        "scale": scaler.scale_.tolist()}
    np.testing.assert_allclose(cli.apply_scaling(X, standard), scaler.transform(X))
    minmax = cli.fit_scaling(X, "minmax")
    assert minmax["clip"] is True and minmax["scale"][1] == 1.0      # constant column
    np.testing.assert_allclose(cli.apply_scaling(X, minmax), MinMaxScaler().fit(X).transform(X))
    assert cli.apply_scaling(X + 10, minmax).max() == 1.0             # clipped
    # a model file written before the scalers moved into the library reads the same
    old = {"kind": "minmax", "offset": [0.0, 5.0], "scale": [4.0, 1.0], "clip": True}
    np.testing.assert_allclose(cli.apply_scaling(np.array([[1.0, 5.0], [8.0, 4.0]]), old),
                               [[0.25, 0.0], [1.0, 0.0]])
    assert cli.fit_scaling(X, "none") == {"kind": "none"}
    assert cli.apply_scaling(X, {"kind": "none"}) is X


def test_gzipped_tsv_and_strict_cells(small, capsys):
    d, X, y = small
    import gzip
    with gzip.open(d / "x.tsv.gz", "wt") as fh:
        fh.write("\t".join([f"f{j}" for j in range(X.shape[1])] + ["label"]) + "\n")
        for row, label in zip(X, y):
            fh.write("\t".join([f"{v:.6g}" for v in row] + [str(label)]) + "\n")
    model = str(d / "m.safetensors")
    code, text = run("train", *SMALL_MLP, "--data", str(d / "x.tsv.gz"), "--out", model)
    assert code == 0 and "on 120 samples x 30 features" in text, text
    code, text = run("evaluate", "--model", model, "--data", str(d / "x.tsv.gz"))
    assert code == 0 and "on 120 samples: accuracy" in text, text
    for cell, message in [("NA", "missing value 'NA' at line 3, column 2 (column 'b')"),
                          ("1_000", "non-numeric value '1_000' at line 3, column 2")]:
        (d / "bad.csv").write_text(f"a,b,label\n1,2,0\n3,{cell},1\n")
        code, _ = run("train", *SMALL_MLP, "--data", str(d / "bad.csv"), "--out", model)
        err = capsys.readouterr().err
        assert code == 1 and message in err and len(err.splitlines()) == 1, err


# ------------------------------------------- issue #23: the files users really have

import gzip  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402

pd = pytest.importorskip("pandas")

FAST = ("--model", "MLPClassifier", "--param", "hidden_layer_sizes=[16]",
        "--param", "max_iter=40", "--param", "learning_rate=0.05")


@pytest.fixture(scope="module")
def expr():
    """3 subtypes, 40 genes: a train and a held-out frame indexed by cell barcodes,
    with the label and two metadata columns (batch, donor) before the genes."""
    from deepbio.datasets import make_expression
    b = make_expression(n_samples=240, n_genes=40, n_subtypes=3, n_markers=8,
                        effect_size=3.0, random_state=0, return_bunch=True)
    labels = np.array(b.target_names)[b.target]
    barcodes = [f"AAAC{i:05d}-1" for i in range(240)]
    df = pd.DataFrame(b.data, index=pd.Index(barcodes, name="barcode"),
                      columns=b.feature_names)
    df.insert(0, "donor", [f"d{i % 4}" for i in range(240)])
    df.insert(0, "batch", [f"b{i % 2}" for i in range(240)])
    df.insert(0, "cell_type", labels)
    return df.iloc[:180], df.iloc[180:]


def _accuracy(pred_csv, truth, id_col):
    """Join predictions on the sample IDs and score them."""
    pred = pd.read_csv(pred_csv, index_col=id_col)
    joined = pred.join(truth.rename("truth"), how="inner")
    assert len(joined) == len(truth)
    return float(np.mean(joined["prediction"] == joined["truth"]))


def test_pandas_index_label_inside_and_metadata_columns(tmp_path, expr, capsys):
    train, test = expr
    train.to_csv(tmp_path / "train.csv")
    test.to_csv(tmp_path / "test.csv")
    model = str(tmp_path / "m.safetensors")
    # the metadata columns are an error listing them all, suggesting --drop ...
    code, _ = run("train", *FAST, "--data", str(tmp_path / "train.csv"), "--target",
                  "cell_type", "--out", model)
    err = capsys.readouterr().err
    assert code == 1 and "'batch', 'donor'" in err and "--drop batch" in err, err
    assert "--drop-non-numeric" in err and "barcode" not in err and "'index'" not in err
    # ... dropped by name, or all at once
    code, text = run("train", *FAST, "--data", str(tmp_path / "train.csv"), "--target",
                     "cell_type", "--drop-non-numeric", "--out", model)
    assert code == 0 and "on 180 samples x 40 features" in text, text
    code, text = run("train", *FAST, "--data", str(tmp_path / "train.csv"), "--target",
                     "cell_type", "--drop", "batch", "--drop", "donor", "--out", model)
    assert code == 0 and "on 180 samples x 40 features" in text, text
    # predict: the reading options recorded at training apply; IDs come first
    out = tmp_path / "pred.csv"
    code, text = run("predict", "--model", model, "--data", str(tmp_path / "test.csv"),
                     "--out", str(out))
    assert code == 0 and "wrote 60 predictions" in text, text
    assert open(out).readline().strip() == "barcode,prediction"
    assert _accuracy(out, test["cell_type"], "barcode") >= 0.9
    # new data without the metadata (or the label) columns: the recorded drops are moot
    test.drop(columns=["batch", "donor", "cell_type"]).to_csv(tmp_path / "bare.csv")
    code, text = run("predict", "--model", model, "--data", str(tmp_path / "bare.csv"))
    assert code == 0 and text.splitlines()[0] == "barcode,prediction", text


def test_pandas_without_an_index(tmp_path, expr):
    train, test = expr
    train.drop(columns=["batch", "donor"]).to_csv(tmp_path / "train.csv", index=False)
    model = str(tmp_path / "m.safetensors")
    code, text = run("train", *FAST, "--data", str(tmp_path / "train.csv"), "--target",
                     "cell_type", "--out", model)
    assert code == 0 and "on 180 samples x 40 features" in text, text
    code, text = run("predict", "--model", model, "--data", str(tmp_path / "train.csv"))
    assert code == 0 and text.splitlines()[0] == "prediction"    # no IDs: file order
    assert np.mean(np.array(text.splitlines()[1:]) == train["cell_type"].values) >= 0.9


def test_r_style_quoted_header_and_labels_joined_on_ids(tmp_path, expr):
    """write.csv: a quoted empty corner, quoted row names; the labels in another file
    as ID,label pairs in another order (joined on the IDs)."""
    train, test = expr
    genes = train.columns[3:]
    with open(tmp_path / "x.csv", "w") as fh:
        fh.write(",".join(['""'] + [f'"{g}"' for g in genes]) + "\n")
        for bc, row in train[genes].iterrows():
            fh.write(",".join([f'"{bc}"'] + [f"{v:.6g}" for v in row]) + "\n")
    shuffled = train["cell_type"].sample(frac=1.0, random_state=0)
    shuffled.to_csv(tmp_path / "labels.csv")
    model = str(tmp_path / "m.safetensors")
    code, text = run("train", *FAST, "--data", str(tmp_path / "x.csv"), "--labels",
                     str(tmp_path / "labels.csv"), "--test-size", "0.25", "--out", model)
    assert code == 0 and "on 135 samples x 40 features" in text, text
    assert float(text.split("held-out accuracy")[1].split(",")[0]) >= 0.85
    code, text = run("evaluate", "--model", model, "--data", str(tmp_path / "x.csv"),
                     "--labels", str(tmp_path / "labels.csv"))
    assert code == 0 and float(text.split("accuracy")[1].split(",")[0]) >= 0.9, text


def test_genes_in_rows_and_gzip(tmp_path, expr):
    train, test = expr
    genes = train.columns[3:]
    with gzip.open(tmp_path / "genes.tsv.gz", "wt") as fh:
        train[genes].T.to_csv(fh, sep="\t")             # genes x cells, gzipped
    model = str(tmp_path / "m.safetensors")
    code, text = run("train", *FAST, "--data", str(tmp_path / "genes.tsv.gz"),
                     "--genes-in-rows", "--labels", str(tmp_path / "y.csv"), "--out",
                     model)
    assert code == 1                                     # no labels file yet
    train["cell_type"].to_csv(tmp_path / "y.csv")
    code, text = run("train", *FAST, "--data", str(tmp_path / "genes.tsv.gz"),
                     "--genes-in-rows", "--labels", str(tmp_path / "y.csv"), "--out",
                     model)
    assert code == 0 and "on 180 samples x 40 features" in text, text
    with gzip.open(tmp_path / "test.csv.gz", "wt") as fh:
        test.drop(columns=["batch", "donor"]).to_csv(fh)
    out = tmp_path / "p.csv"
    # the recorded --genes-in-rows applies: a samples x genes file is refused (its
    # rows are read as genes, and the cell_type values are no numbers)
    code, text = run("predict", "--model", model, "--data", str(tmp_path / "test.csv.gz"),
                     "--out", str(out))
    assert code == 1
    test.drop(columns=["batch", "donor", "cell_type"]).T.to_csv(tmp_path / "t.tsv",
                                                                 sep="\t")
    code, text = run("predict", "--model", model, "--data", str(tmp_path / "t.tsv"),
                     "--out", str(out))
    assert code == 0, text
    assert _accuracy(out, test["cell_type"], "sample") >= 0.9


def test_gct_and_cls(tmp_path, expr):
    train, _ = expr
    genes = train.columns[3:]
    X = train[genes].values
    with open(tmp_path / "x.gct", "w") as fh:
        fh.write(f"#1.2\n{len(genes)}\t{len(X)}\n")
        fh.write("\t".join(["Name", "Description"] + list(train.index)) + "\n")
        for j, g in enumerate(genes):
            fh.write("\t".join([g, "na"] + [f"{v:.6g}" for v in X[:, j]]) + "\n")
    labels = train["cell_type"].values
    names = list(dict.fromkeys(labels))
    codes = {c: str(k) for k, c in enumerate(names)}
    (tmp_path / "y.cls").write_text(f"{len(X)} {len(names)} 1\n# {' '.join(names)}\n" +
                                    " ".join(codes[c] for c in labels) + "\n")
    model = str(tmp_path / "m.safetensors")
    code, text = run("train", *FAST, "--data", str(tmp_path / "x.gct"), "--labels",
                     str(tmp_path / "y.cls"), "--out", model)
    assert code == 0 and "on 180 samples x 40 features" in text, text
    code, text = run("evaluate", "--model", model, "--data", str(tmp_path / "x.gct"),
                     "--labels", str(tmp_path / "y.cls"), "--json")
    report = json.loads(text)
    assert report["accuracy"] >= 0.9 and set(report["per_class"]) == set(names)
    cm = np.array(report["confusion_matrix"]["matrix"])
    assert cm.sum() == 180 and np.trace(cm) / 180 == pytest.approx(report["accuracy"])
    for k, c in enumerate(report["confusion_matrix"]["labels"]):
        assert report["per_class"][c]["support"] == cm[k].sum()
        assert report["per_class"][c]["recall"] == pytest.approx(cm[k, k] / cm[k].sum())


def test_toml_config_flags_override_and_info(tmp_path, expr, capsys):
    train, _ = expr
    (tmp_path / "runs").mkdir()
    train.to_csv(tmp_path / "runs" / "train.csv")
    (tmp_path / "runs" / "run.toml").write_text(
        'model = "MLPClassifier"\ndata = "train.csv"\ntarget = "cell_type"\n'
        'drop = ["batch", "donor"]\nout = "m.safetensors"\nscale = "minmax"\nseed = 3\n'
        '[params]\nhidden_layer_sizes = [16]\nmax_iter = 40\nlearning_rate = 0.05\n')
    cfg = str(tmp_path / "runs" / "run.toml")
    code, text = run("train", "--config", cfg, "--param", "max_iter=30")
    assert code == 0 and "on 180 samples x 40 features" in text, text
    model = tmp_path / "runs" / "m.safetensors"        # relative to the config file
    code, text = run("info", str(model), "--json")
    info = json.loads(text)
    assert info["model"] == "MLPClassifier" and info["n_features"] == 40
    import deepbio
    assert info["deepbio_version"] == deepbio.__version__
    assert info["backend"] == deepbio.get_backend()
    digest = hashlib.sha256((tmp_path / "runs" / "train.csv").read_bytes()).hexdigest()
    assert info["data"]["data_sha256"] == digest
    c = info["config"]
    assert c["params"] == {"hidden_layer_sizes": [16], "max_iter": 30,       # flag won
                           "learning_rate": 0.05, "random_state": 3}
    assert c["scale"] == "minmax" and c["drop"] == ["batch", "donor"] and c["seed"] == 3
    code, text = run("info", str(model))
    assert code == 0 and digest in text and "max_iter = 30" in text
    # a flag overrides a key of the file
    code, text = run("train", "--config", cfg, "--scale", "standard", "--out",
                     str(tmp_path / "m2.safetensors"))
    assert code == 0, text
    _, text = run("info", str(tmp_path / "m2.safetensors"), "--json")
    assert json.loads(text)["config"]["scale"] == "standard"
    for bad, message in (('colour = 3', "unknown key(s) ['colour']"),
                         ('scale = "bogus"', "scale must be one of"),
                         ('seed = 1.5', "seed must be int"),
                         ('model = ', "not valid TOML")):
        (tmp_path / "bad.toml").write_text(bad + "\n")
        code, _ = run("train", "--config", str(tmp_path / "bad.toml"))
        err = capsys.readouterr().err
        assert code == 1 and message in err, err


def test_round_trip_train_predict_proba_join_on_ids(tmp_path, expr):
    train, test = expr
    train.to_csv(tmp_path / "train.csv")
    test.drop(columns=["cell_type"]).sample(frac=1.0, random_state=1).to_csv(
        tmp_path / "new.csv")                           # no label, shuffled rows
    model = str(tmp_path / "m.safetensors")
    code, text = run("train", *FAST, "--data", str(tmp_path / "train.csv"), "--target",
                     "cell_type", "--drop-non-numeric", "--out", model)
    assert code == 0, text
    out = tmp_path / "pred.csv"
    code, text = run("predict", "--model", model, "--data", str(tmp_path / "new.csv"),
                     "--proba", "--out", str(out))
    assert code == 0, text
    pred = pd.read_csv(out, index_col="barcode")
    classes = sorted(set(train["cell_type"]))
    assert list(pred.columns) == ["prediction"] + classes
    np.testing.assert_allclose(pred[classes].sum(axis=1), 1.0, atol=1e-6)
    assert (pred[classes].idxmax(axis=1) == pred["prediction"]).all()
    assert _accuracy(out, test["cell_type"], "barcode") >= 0.9
    # evaluate carries the IDs too
    ev = tmp_path / "ev.csv"
    test.to_csv(tmp_path / "test.csv")
    code, text = run("evaluate", "--model", model, "--data", str(tmp_path / "test.csv"),
                     "--out", str(ev))
    assert code == 0 and "precision" in text and "confusion matrix" in text, text
    rows = pd.read_csv(ev, index_col="barcode")
    assert list(rows.columns[:2]) == ["true", "prediction"]
    assert (rows["true"] == test["cell_type"]).all()


def test_feature_names_must_match_the_training(tmp_path, expr, capsys):
    train, test = expr
    train.drop(columns=["batch", "donor"]).to_csv(tmp_path / "train.csv")
    model = str(tmp_path / "m.safetensors")
    assert run("train", *FAST, "--data", str(tmp_path / "train.csv"), "--target",
               "cell_type", "--out", model)[0] == 0
    cols = list(test.columns[3:])
    swapped = test[["cell_type"] + cols[1:2] + cols[:1] + cols[2:]]
    swapped.to_csv(tmp_path / "swapped.csv")
    code, _ = run("predict", "--model", model, "--data", str(tmp_path / "swapped.csv"))
    err = capsys.readouterr().err
    assert code == 1 and f"feature 0 is {cols[1]!r}" in err, err


def test_progress_bar_only_on_a_terminal_and_quiet(tmp_path, expr, capsys, monkeypatch):
    from deepbio.models import load
    train, _ = expr
    train.drop(columns=["batch", "donor"]).to_csv(tmp_path / "train.csv")
    model = str(tmp_path / "m.safetensors")
    argv = ("train", *FAST, "--data", str(tmp_path / "train.csv"), "--target",
            "cell_type", "--out", model)
    assert run(*argv)[0] == 0
    assert capsys.readouterr().err == ""                # not a terminal: no bar
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert run(*argv)[0] == 0
    assert "epoch/s]" in capsys.readouterr().err       # tqdm: "SGD:   0%|   | 0/40 ..."
    assert load(model).get_params()["verbose"] == 0       # the bar is not saved
    assert run(*argv, "--quiet")[0] == 0
    assert capsys.readouterr().err == ""


def test_h5ad_needs_the_anndata_extra_or_works(tmp_path, capsys):
    try:
        import deepbio.datasets.anndata  # noqa: F401
    except ImportError:
        (tmp_path / "x.h5ad").write_bytes(b"\x89HDF\r\n\x1a\n")
        code, _ = run("train", *FAST, "--data", str(tmp_path / "x.h5ad"), "--label-key",
                      "cell_type", "--out", str(tmp_path / "m.safetensors"))
        err = capsys.readouterr().err
        assert code == 1 and "[anndata]" in err, err
        return
    ad = pytest.importorskip("anndata")
    rng = np.random.default_rng(0)
    y = np.repeat(["A", "B"], 30)
    X = rng.normal(size=(60, 10)) + (y == "B")[:, None] * 2.0
    adata = ad.AnnData(X=X.astype(np.float32),
                       obs=pd.DataFrame({"cell_type": pd.Categorical(y)},
                                        index=[f"c{i}" for i in range(60)]))
    adata.write_h5ad(tmp_path / "x.h5ad")
    model = str(tmp_path / "m.safetensors")
    code, text = run("train", *FAST, "--data", str(tmp_path / "x.h5ad"), "--label-key",
                     "cell_type", "--out", model)
    assert code == 0 and "on 60 samples x 10 features" in text, text
    code, text = run("predict", "--model", model, "--data", str(tmp_path / "x.h5ad"))
    assert code == 0 and text.splitlines()[0] == "sample,prediction"


def test_explain_reads_compressed_fasta_and_npy(tmp_path):
    import lzma
    from types import SimpleNamespace
    path = tmp_path / "s.fa.xz"
    path.write_bytes(lzma.compress(b">a\nACGT\n>b\nAC\n"))
    X, mask = cli._explain_sequences(SimpleNamespace(n_features_in_=4), str(path), "auto")
    assert X.shape == (2, 4, 4) and mask.sum(axis=1).tolist() == [4, 2]
    buf = io.BytesIO()
    np.save(buf, X)
    (tmp_path / "x.npy.gz").write_bytes(gzip.compress(buf.getvalue()))
    X2, m2 = cli._explain_sequences(None, str(tmp_path / "x.npy.gz"), "auto")
    assert m2 is None and np.array_equal(X2, X)
