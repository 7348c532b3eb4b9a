"""`deepbio explain` writes PNG plots when matplotlib is installed (and says on stderr that
it skipped them when not); `deepbio train --plots DIR` writes the learning curves and, for
a classifier with a held-out set, ROC and confusion matrix."""
import csv
import io
import sys

import numpy as np
import pytest

from deepbio import CNNClassifier, MLPClassifier, cli
from deepbio.datasets import make_expression, make_motif_sequences, one_hot

from .conftest import assert_png


def run(*argv):
    out = io.StringIO()
    code = cli.main([str(a) for a in argv], out=out)
    return code, out.getvalue()


@pytest.fixture(scope="module")
def sequence_model():
    seqs, y = make_motif_sequences(n=120, length=30, random_state=0)
    X, mask = one_hot(seqs)
    cnn = CNNClassifier(filters=3, kernel_size=7, hidden_layer_sizes=(), max_iter=3,
                        random_state=0).fit(X, y, mask=mask)
    return cnn, seqs


def test_explain_writes_saliency_logo_pngs(tmp_path, monkeypatch, sequence_model):
    cnn, seqs = sequence_model
    fasta = tmp_path / "s.fa"
    fasta.write_text("".join(f">s{i}\n{s[:24 + i % 5]}\n" for i, s in enumerate(seqs[:12])))
    monkeypatch.setattr(cli, "_load_model", lambda path: (cnn, {}))
    code, text = run("explain", "m", fasta, "--out", tmp_path / "ex", "--method",
                     "gradient_x_input")
    assert code == 0, text
    assert "saliency_0.png, saliency_1.png, saliency_2.png, filter_logos.png" in text
    for i in range(cli.N_SALIENCY):
        img = assert_png(tmp_path / "ex" / f"saliency_{i}.png",
                         (round(100 * max(4.0, 0.12 * (24 + i) + 1.5)), 220))
        assert img.shape[0] == 220
    # 3 filters of width 7 in one row: 3 x (0.3 x 7 + 0.8) by 1.9 inches at 100 dpi
    assert_png(tmp_path / "ex" / "filter_logos.png", (870, 190))
    assert not list((tmp_path / "ex").glob(".*tmp"))      # no temporary file left


def test_explain_table_writes_gene_bars(tmp_path, monkeypatch):
    sim = make_expression(n_samples=90, n_genes=12, n_markers=2, n_modules=2, module_size=3,
                          effect_size=3.0, random_state=0, return_bunch=True)
    labels = np.array([f"s{k}" for k in sim.target])
    with open(tmp_path / "e.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(sim.feature_names + ["subtype"])
        for row, label in zip(sim.data, labels):
            w.writerow([repr(float(v)) for v in row] + [label])
    scaling = cli.fit_scaling(sim.data, "standard")
    mlp = MLPClassifier((4,), max_iter=5, random_state=0).fit(
        cli.apply_scaling(sim.data, scaling), labels)
    meta = {"scaling": scaling, "feature_names": sim.feature_names, "target": "subtype"}
    monkeypatch.setattr(cli, "_load_model", lambda path: (mlp, meta))
    code, text = run("explain", "m", tmp_path / "e.csv", "--out", tmp_path / "ex",
                     "--method", "gradient_x_input")
    assert code == 0, text
    assert "genes.tsv, genes.png" in text
    assert_png(tmp_path / "ex" / "genes.png", (1800, round(100 * (0.6 + 0.28 * 12))))


def test_explain_without_matplotlib_skips_the_pngs(tmp_path, monkeypatch, capsys,
                                                   sequence_model):
    cnn, seqs = sequence_model
    np.save(tmp_path / "x.npy", one_hot(seqs[:4])[0])
    monkeypatch.setattr(cli, "_load_model", lambda path: (cnn, {}))
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    code, text = run("explain", "m", tmp_path / "x.npy", "--out", tmp_path / "ex",
                     "--method", "gradient")
    assert code == 0, text
    assert "matplotlib is not installed, so the PNG plots were skipped" in \
        capsys.readouterr().err
    assert not list((tmp_path / "ex").glob("*.png"))
    assert (tmp_path / "ex" / "motifs.meme").exists()


@pytest.fixture(scope="module")
def train_csv(tmp_path_factory):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 5))
    y = np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")
    path = tmp_path_factory.mktemp("train") / "t.csv"
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([f"g{i}" for i in range(5)] + ["label"])
        for row, label in zip(X, y):
            w.writerow([f"{v:.6f}" for v in row] + [label])
    return path


def test_train_plots_learning_curves_roc_confusion(tmp_path, train_csv):
    code, text = run("train", "--model", "MLPClassifier", "--data", train_csv,
                     "--param", "hidden_layer_sizes=[4]", "--param", "max_iter=4",
                     "--test-size", "0.3", "--out", tmp_path / "m.safetensors",
                     "--plots", tmp_path / "plots")
    assert code == 0, text
    assert "wrote learning_curves.png, roc.png, confusion_matrix.png" in text
    assert_png(tmp_path / "plots" / "learning_curves.png", (600, 400))
    assert_png(tmp_path / "plots" / "roc.png", (500, 500))
    assert_png(tmp_path / "plots" / "confusion_matrix.png", (500, 500))


def test_train_plots_hf_and_errors(tmp_path, train_csv, capsys, monkeypatch):
    code, text = run("train", "--model", "MLPClassifier", "--data", train_csv,
                     "--param", "hidden_layer_sizes=[3]", "--param", "max_iter=3",
                     "--param", "optimizer=hf", "--out", tmp_path / "m.safetensors",
                     "--plots", tmp_path / "p")
    assert code == 0, text
    assert "wrote learning_curves.png to" in text            # no held-out set: no ROC
    assert_png(tmp_path / "p" / "learning_curves.png", (1000, 700))
    (tmp_path / "file").write_text("x")
    code, _ = run("train", "--model", "MLPClassifier", "--data", train_csv, "--out",
                  tmp_path / "m2.safetensors", "--plots", tmp_path / "file")
    assert code == 1 and "--plots" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    code, _ = run("train", "--model", "MLPClassifier", "--data", train_csv, "--out",
                  tmp_path / "m3.safetensors", "--plots", tmp_path / "q")
    err = capsys.readouterr().err
    assert code == 1 and 'needs matplotlib' in err and 'deepbio[plot]' in err
    assert not (tmp_path / "m3.safetensors").exists()        # refused before training
