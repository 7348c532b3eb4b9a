"""The command line: demo, train / predict / evaluate round trip, errors and exit codes."""
import csv
import io
import os
import subprocess
import sys

import numpy as np
import pytest

from deepbio import cli
from deepbio.datasets import load_breast_cancer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(*argv):
    out = io.StringIO()
    code = cli.main(list(argv), out=out)
    return code, out.getvalue()


def test_roc_auc_rank_formula():
    assert cli.roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert cli.roc_auc([0, 1], [0.2, 0.9]) == 1.0
    assert cli.roc_auc([1, 0], [0.2, 0.9]) == 0.0
    assert cli.roc_auc([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]) == 0.5    # ties: average rank
    rng = np.random.default_rng(0)
    y = rng.random(200) < 0.4
    s = rng.random(200) + y * 0.5
    pairs = np.mean([(si > sj) + 0.5 * (si == sj) for si, yi in zip(s, y) if yi
                     for sj, yj in zip(s, y) if not yj])
    assert cli.roc_auc(y, s) == pytest.approx(pairs)
    with pytest.raises(ValueError, match="both classes"):
        cli.roc_auc([1, 1], [0.1, 0.2])
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    assert cli.roc_auc(y, s) == pytest.approx(sklearn_metrics.roc_auc_score(y, s))


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
                     "--param", "max_epochs=20", "--test-size", "0.25", "--out", str(model))
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
    assert lines[0] == "benign,malignant" and len(lines) == 570

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
