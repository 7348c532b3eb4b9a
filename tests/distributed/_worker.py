"""Run under ``mpiexec -n P``: one scenario of tests/distributed, on this rank's shard.

``python _worker.py SCENARIO[,SCENARIO...] OUTDIR``: for each scenario every rank writes
``OUTDIR/<scenario>.rank<r>.npz`` with its
final parameters (``theta``) and its history's losses, so the test can check that the
ranks agree with each other and with the single-process reference it builds by hand.
The data and the settings of each scenario come from ``_cases.py``, shared with the
test.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

import numpy as np  # noqa: E402

import _cases  # noqa: E402
from deepbio import distributed  # noqa: E402


def main():
    scenarios, out = sys.argv[1].split(","), sys.argv[2]
    comm = distributed.world()
    for scenario in scenarios:            # one launch runs several (start-up is slow)
        result = _cases.SCENARIOS[scenario](comm)
        np.savez(os.path.join(out, f"{scenario}.rank{comm.Get_rank()}.npz"), **result)


if __name__ == "__main__":
    main()
