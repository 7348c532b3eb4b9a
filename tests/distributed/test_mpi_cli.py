"""``mpiexec -n 2 deepbio train ...``: each rank reads the file and trains on its shard,
rank 0 alone reports and writes the model, and the model equals one process trained on
the ranks' concatenated minibatches."""
import os
import sys

import numpy as np
import pytest

from test_mpi import HANG, MPIEXEC  # noqa: F401  (skips the module without MPI)
import _cases

from deepbio import cli, models
from deepbio.datasets import load_breast_cancer
from deepbio.optim import SGD
from deepbio.models._training import sgd_from


@pytest.fixture
def small(tmp_path):
    X, y = load_breast_cancer(return_X_y=True)
    X, y = X[:61], y[:61]                        # 61 rows: 31 + 30 over 2 ranks
    np.savetxt(tmp_path / "x.csv", X, delimiter=",", fmt="%.6g")
    np.savetxt(tmp_path / "y.csv", y, fmt="%d")
    return tmp_path


PARAMS = ["--param", "hidden_layer_sizes=[8]", "--param", "max_iter=4",
          "--param", "batch_size=8", "--param", "dtype=float64"]


def test_mpiexec_deepbio_train_is_data_parallel(small):
    import subprocess
    out = small / "m.safetensors"
    cmd = [MPIEXEC, "--allow-run-as-root", "--oversubscribe", "-n", "2", sys.executable,
           "-m", "deepbio", "train", "--model", "MLPClassifier", "--data",
           str(small / "x.csv"), "--labels", str(small / "y.csv"), "--out", str(out),
           "--seed", "3", *PARAMS]
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=HANG, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # one report, from rank 0
    assert proc.stdout.count("trained MLPClassifier on 61 samples x 30 features on 2 MPI "
                             "ranks") == 1, proc.stdout
    model = models.load(str(out))
    assert model.comm is None
    assert [f for f in os.listdir(small) if f.startswith("m.")] == ["m.safetensors"]

    # the single-process reference: the same scaling and settings, SGD on the
    # concatenation of the two ranks' minibatches
    X = np.loadtxt(small / "x.csv", delimiter=",")
    y = np.loadtxt(small / "y.csv").astype(int)
    Xs = cli.apply_scaling(X, cli.fit_scaling(X, "standard"))
    est = models.MLPClassifier(hidden_layer_sizes=[8], max_iter=4, batch_size=8,
                               dtype="float64", random_state=3)
    settings = sgd_from(est, None).get_params()
    settings.pop("random_state"), settings.pop("comm")
    est.optimizer = type("ConcatenatedSGD", (_cases._Concatenated, SGD), {"_P": 2})(
        **settings)
    est.fit(Xs, y)
    np.testing.assert_allclose(model.predict_proba(Xs), est.predict_proba(Xs), rtol=1e-9,
                               atol=1e-12)
    assert model.score(Xs, y) >= 0.85
