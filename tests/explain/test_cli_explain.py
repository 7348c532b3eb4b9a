"""`deepbio explain MODEL DATA --out DIR`: attributions (NPY), ranked genes (TSV), filter
motifs (MEME), and its errors.  The model file is stubbed (cli._load_model) where the
test is about the command, and read for real where safetensors is installed."""
import csv
import io

import numpy as np
import pytest

from deepbio import RBM, CNNClassifier, MLPClassifier, cli
from deepbio.datasets import make_expression, make_motif_sequences, one_hot
from deepbio.explain import read_meme


def run(*argv):
    out = io.StringIO()
    code = cli.main([str(a) for a in argv], out=out)
    return code, out.getvalue()


@pytest.fixture(scope="module")
def expression():
    sim = make_expression(n_samples=200, n_genes=40, n_markers=3, effect_size=3.0,
                          random_state=0, return_bunch=True)
    labels = np.array([f"s{k}" for k in sim.target])
    return sim, labels


def _write_csv(path, sim, labels):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(sim.feature_names + ["subtype"])
        for row, label in zip(sim.data, labels):
            w.writerow([repr(float(v)) for v in row] + [label])


@pytest.fixture(scope="module")
def table_model(expression):
    sim, labels = expression
    scaling = cli.fit_scaling(sim.data, "standard")
    mlp = MLPClassifier((8,), max_iter=30, random_state=0)
    mlp.fit(cli.apply_scaling(sim.data, scaling), labels)
    return mlp, {"scaling": scaling, "feature_names": sim.feature_names, "target": "subtype"}


def test_table_model_writes_attributions_and_ranked_genes(tmp_path, monkeypatch, expression,
                                                          table_model):
    sim, labels = expression
    data = tmp_path / "expr.csv"
    _write_csv(data, sim, labels)
    monkeypatch.setattr(cli, "_load_model", lambda path: table_model)
    code, text = run("explain", "model.safetensors", data, "--out", tmp_path / "ex",
                     "--n-steps", 10)
    assert code == 0, text
    assert "wrote attributions.npy, attributions.csv, genes.tsv" in text
    A = np.load(tmp_path / "ex" / "attributions.npy")
    assert A.shape == sim.data.shape                  # the label column left out
    csv = (tmp_path / "ex" / "attributions.csv").read_text().splitlines()
    assert csv[0].split(",") == ["sample"] + list(sim.feature_names)
    assert len(csv) == 1 + len(A)
    np.testing.assert_array_equal(np.array([r.split(",")[1:] for r in csv[1:]], float), A)
    rows = [ln.split("\t") for ln in (tmp_path / "ex" / "genes.tsv").read_text().splitlines()]
    assert rows[0] == ["class", "rank", "name", "index", "score"]
    for k, cls in enumerate(["s0", "s1", "s2"]):
        first = {r[2] for r in rows[1:] if r[0] == cls and int(r[1]) <= 3}
        assert first == {sim.feature_names[g] for g in sim.markers[k]}, cls
        assert f"top features for {cls}: " in text


@pytest.fixture(scope="module")
def sequence_model():
    seqs, y = make_motif_sequences(n=300, length=30, random_state=0)
    X, _ = one_hot(seqs)
    return CNNClassifier(filters=4, kernel_size=9, max_iter=10, random_state=0).fit(X, y), seqs


def test_sequence_model_writes_attributions_mask_and_motifs(tmp_path, monkeypatch,
                                                            sequence_model):
    cnn, seqs = sequence_model
    fasta = tmp_path / "s.fa"
    fasta.write_text("".join(f">s{i}\n{s[:25 + i % 5]}\n" for i, s in enumerate(seqs[:20])))
    monkeypatch.setattr(cli, "_load_model", lambda path: (cnn, {}))
    code, text = run("explain", "m", fasta, "--out", tmp_path / "ex", "--method", "ism",
                     "--target", "1")
    assert code == 0, text
    assert "wrote attributions.npy, attributions.csv, mask.npy, motifs.meme" in text
    A = np.load(tmp_path / "ex" / "attributions.npy")
    mask = np.load(tmp_path / "ex" / "mask.npy")
    csv = (tmp_path / "ex" / "attributions.csv").read_text().splitlines()
    assert csv[0] == "sample,position,letter,attribution"
    rows = [r.split(",") for r in csv[1:]]
    assert len(rows) == 4 * int(mask.sum())                    # real positions only
    assert {r[2] for r in rows} == set("ACGT")
    for n, t, letter, v in rows[:60]:
        assert float(v) == A[int(n), int(t), "ACGT".index(letter)]
    assert A.shape == (20, 29, 4) and mask.dtype == bool
    assert list(mask.sum(axis=1)[:5]) == [25, 26, 27, 28, 29]
    assert np.all(A[~mask] == 0) and np.abs(A[mask]).max() > 0
    motifs = read_meme(tmp_path / "ex" / "motifs.meme")
    assert [m.name for m in motifs] == ["filter0", "filter1", "filter2", "filter3"]


def test_image_model_reads_npy(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    imgs = rng.normal(size=(20, 1, 6, 6))
    cnn = CNNClassifier(filters=(2,), kernel_size=3, hidden_layer_sizes=(4,), max_iter=2,
                        random_state=0).fit(imgs, rng.integers(0, 2, size=20))
    np.save(tmp_path / "imgs.npy", imgs[:3])
    monkeypatch.setattr(cli, "_load_model", lambda path: (cnn, {}))
    code, text = run("explain", "m", tmp_path / "imgs.npy", "--out", tmp_path / "ex",
                     "--method", "gradient")
    assert code == 0, text
    A = np.load(tmp_path / "ex" / "attributions.npy")
    assert A.shape == (3, 1, 6, 6)
    assert sorted(p.name for p in (tmp_path / "ex").iterdir()) == ["attributions.csv",
                                                                     "attributions.npy"]
    csv = (tmp_path / "ex" / "attributions.csv").read_text().splitlines()
    assert csv[0] == "sample,channel,row,column,attribution" and len(csv) == 1 + A.size
    n, c, r, k, v = csv[1 + 50].split(",")
    assert float(v) == A[int(n), int(c), int(r), int(k)]


def test_errors_are_one_line_with_exit_status_1(tmp_path, monkeypatch, capsys,
                                                sequence_model):
    cnn, seqs = sequence_model
    fasta = tmp_path / "s.fa"
    fasta.write_text(f">a\n{seqs[0]}\n")
    (tmp_path / "file").write_text("x")
    rbm = RBM(n_components=2, n_iter=1, random_state=0).fit(np.ones((4, 4)))
    cases = [((cnn, {}), ["--target", "7"], "--target '7' is not a class"),
             ((cnn, {}), ["--out", tmp_path / "file"], "is a file; give a folder"),
             ((rbm, {}), [], "supervised deepbio model")]
    for model, extra, message in cases:
        monkeypatch.setattr(cli, "_load_model", lambda path, m=model: m)
        argv = ["explain", "m", fasta] + (["--out", tmp_path / "ex"] if "--out" not in extra
                                          else []) + extra
        code, _ = run(*argv)
        err = capsys.readouterr().err
        assert code == 1 and message in err and err.count("\n") == 1, err
    monkeypatch.setattr(cli, "_load_model", lambda path: (cnn, {}))
    code, _ = run("explain", "m", tmp_path / "missing.fa", "--out", tmp_path / "ex")
    assert code == 1 and "data file not found" in capsys.readouterr().err


def test_train_then_explain_from_the_model_file(tmp_path, expression):
    pytest.importorskip("safetensors")
    sim, labels = expression
    data = tmp_path / "expr.csv"
    _write_csv(data, sim, labels)
    model = tmp_path / "m.safetensors"
    code, text = run("train", "--model", "MLPClassifier", "--data", data, "--target",
                     "subtype", "--param", "hidden_layer_sizes=[8]", "--param",
                     "max_iter=30", "--out", model)
    assert code == 0, text
    code, text = run("explain", model, data, "--out", tmp_path / "ex", "--n-steps", 10)
    assert code == 0, text
    assert np.load(tmp_path / "ex" / "attributions.npy").shape == sim.data.shape
