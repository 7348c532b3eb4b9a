"""Benchmark: does importing (or using) PyTorch or scikit-learn first slow deepbio's fits?

Issue 25: with PyTorch imported before deepbio an RBM epoch took 5x longer (idle workers
of thread pools that deepbio could not configure busy-waited; ``docs/performance.md``).
This script times small but realistic fits, each scenario in fresh subprocesses:

==============  ==========================================================================
``alone``       ``import deepbio`` first (deepbio configures every pool it loads)
``torch``       ``import torch`` first (PyTorch loads its libgomp and NumPy's OpenBLAS)
``torch-used``  ``import torch`` and one 512x512 ``torch.matmul`` first (its OpenMP team
                and MKL have run)
``sklearn``     ``import sklearn.linear_model`` first (SciPy's and NumPy's OpenBLAS and
                scikit-learn's own libgomp loaded)
==============  ==========================================================================

and, on request (``--scenarios``), ``scipy`` / ``numpy`` (``import scipy.linalg`` /
``import numpy`` first) and ``torch-after`` (deepbio first, then ``import torch`` and one
``torch.matmul``).  ``--limits N`` wraps every fit in ``threadpoolctl.threadpool_limits(N)``.

Cases (float32, ``random_state=0``, data drawn once per process outside the timing):

* ``rbm``: RBM 784 -> 500, one epoch (n_iter=1) over 3000 binary samples, batch 100;
* ``dbn``: DBN 784 -> 256 -> 128, one epoch per layer, same data;
* ``mlp``: MLPClassifier 784 -> 256 -> 10, two epochs over the same data, batch 32;
* ``cnn``: CNNClassifier, conv 8@5x5 -> relu -> 2x2 max pool -> dense 32 -> 10, one
  epoch over 2000 images of 1x28x28;
* ``lstm``: RNNClassifier (LSTM, 64 units), one epoch over 600 sequences of 40 steps x 20.

Every child process imports per its scenario, sets ``deepbio.set_num_threads(--threads)``
(default 2, the issue's setting), fits each case once untimed, then times ``--repeats``
fits (``_timing.time_us``, median).  The parent runs ``--rounds`` rounds (default 5), each round one
child per scenario in turn, the order rotated every round (so every scenario sees the same
machine load), and prints,
per case and scenario, the median over rounds of the children's medians and its ratio to
``alone``.  Target (issue 25): every ratio <= 1.1.  Runs in about two minutes on two
cores; ``--quick`` is a smoke run.  The contenders never share a process: each
scenario's numbers come from its own subprocesses.

    python bench/threads.py [--threads 2] [--rounds 5] [--repeats 3] [--quick] [--root DIR]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)                       # bench/_timing.py


def _root(argv):
    """The checkout whose deepbio is benchmarked: this one, or ``--root DIR``."""
    if "--root" in argv[:-1]:
        return os.path.abspath(argv[argv.index("--root") + 1])
    return ROOT


sys.path.insert(0, _root(sys.argv))             # before any deepbio import

SCENARIOS = ("alone", "torch", "torch-used", "sklearn")
EXTRA_SCENARIOS = ("scipy", "numpy", "torch-after")
CASES = ("rbm", "dbn", "mlp", "cnn", "lstm")


# ------------------------------------------------------------------ child process


def _import_first(scenario):
    """What the scenario imports (and runs) before deepbio; returns a note for the table."""
    if scenario in ("torch", "torch-used"):
        import torch
        if scenario == "torch-used":
            a = torch.randn(512, 512)
            float((a @ a).sum())
        return f"torch {torch.__version__}"
    if scenario == "sklearn":
        import sklearn.linear_model
        return f"sklearn {sklearn.__version__}"
    if scenario == "scipy":
        import scipy.linalg
        return f"scipy {scipy.__version__}"
    if scenario == "numpy":
        import numpy
        return f"numpy {numpy.__version__}"
    return ""


def _use_torch_after():
    """``torch-after``: deepbio is imported; now PyTorch, and one product."""
    import torch
    a = torch.randn(512, 512)
    float((a @ a).sum())
    return f"torch {torch.__version__} after deepbio"


def _cases(quick):
    """{name: fit()} on data drawn here (outside the timing)."""
    import numpy as np

    import deepbio
    rng = np.random.default_rng(0)
    n = 600 if quick else 3000
    X = (rng.random((n, 784)) < 0.3).astype(np.float32)
    y = rng.integers(0, 10, n)
    n_img = 200 if quick else 2000
    images = rng.random((n_img, 1, 28, 28)).astype(np.float32)
    y_img = rng.integers(0, 10, n_img)
    n_seq = 100 if quick else 600
    seqs = rng.standard_normal((n_seq, 40, 20)).astype(np.float32)
    y_seq = rng.integers(0, 2, n_seq)
    return {
        "rbm": lambda: deepbio.RBM(n_components=500, n_iter=1, batch_size=100,
                                   random_state=0).fit(X),
        "dbn": lambda: deepbio.DBN(hidden_layer_sizes=(256, 128), n_iter=1, batch_size=100,
                                   random_state=0).fit(X),
        "mlp": lambda: deepbio.MLPClassifier(hidden_layer_sizes=(256,), max_epochs=2,
                                             batch_size=32, random_state=0).fit(X, y),
        "cnn": lambda: deepbio.CNNClassifier(filters=(8,), kernel_size=5,
                                             hidden_layer_sizes=(32,), max_epochs=1,
                                             batch_size=32, random_state=0).fit(images, y_img),
        "lstm": lambda: deepbio.RNNClassifier(cell="lstm", units=64, max_epochs=1,
                                              batch_size=32, random_state=0).fit(seqs, y_seq),
    }


def child(args):
    note = _import_first(args.child)
    import deepbio
    from _timing import time_us
    if args.child == "torch-after":
        note = _use_torch_after()
    deepbio.set_num_threads(args.threads)
    cases = _cases(args.quick)
    out = {"note": note, "times": {}}
    for name in args.cases:
        fit = cases[name]
        if args.limits:
            from threadpoolctl import threadpool_limits

            def fit(fit=fit):
                with threadpool_limits(limits=args.limits):
                    return fit()
        out["times"][name] = 1e-6 * time_us(fit, args.repeats, warmup=1, quiet=0.1)
    if hasattr(deepbio, "show_config"):          # (a --root checkout may predate it)
        cfg = deepbio.show_config(as_dict=True)["deepbio_applied"]
        out["grain_floor"] = cfg["kernel_grain_floor"]
        out["restarted"] = len(cfg["openblas_pools_restarted"])
    else:
        out["grain_floor"] = out["restarted"] = "?"
    print(json.dumps(out))


# ----------------------------------------------------------------- parent process


def run_child(scenario, args):
    cmd = [sys.executable, os.path.abspath(__file__), "--child", scenario,
           "--threads", str(args.threads), "--repeats", str(args.repeats),
           "--root", args.root, "--limits", str(args.limits or 0),
           "--cases", *args.cases] + (["--quick"] if args.quick else [])
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if r.returncode != 0:
        sys.exit(f"child {scenario!r} failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=5, help="children per scenario")
    p.add_argument("--repeats", type=int, default=3, help="timed fits per child and case")
    p.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    p.add_argument("--scenarios", nargs="+", default=list(SCENARIOS),
                   choices=SCENARIOS + EXTRA_SCENARIOS)
    p.add_argument("--limits", type=int, default=0,
                   help="wrap every fit in threadpoolctl.threadpool_limits(N) (0: no)")
    p.add_argument("--quick", action="store_true", help="smaller data, 1 round, 1 repeat")
    p.add_argument("--root", default=ROOT,
                   help="import deepbio from this checkout (default: the one holding this "
                        "script), e.g. to time a version before a change")
    p.add_argument("--child", choices=SCENARIOS + EXTRA_SCENARIOS, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return child(args)
    if args.quick:
        args.rounds, args.repeats = 1, 1
    if "alone" not in args.scenarios:
        args.scenarios.insert(0, "alone")
    limits = f", fits inside threadpool_limits({args.limits})" if args.limits else ""
    print(f"deepbio thread-pool benchmark ({args.root}): {args.threads} thread(s){limits}, "
          f"{os.cpu_count()} CPUs, "
          f"{args.rounds} round(s) x {args.repeats} timed fit(s) per case; every scenario "
          "in its own subprocesses (no two contenders share a process)")
    t0 = time.perf_counter()
    results = {s: [] for s in args.scenarios}
    notes = {}
    for k in range(args.rounds):
        # rotate the order every round, so that no scenario always runs first
        order = args.scenarios[k % len(args.scenarios):] + args.scenarios[:k % len(args.scenarios)]
        for s in order:
            r = run_child(s, args)
            results[s].append(r["times"])
            notes[s] = (r["note"], r["grain_floor"], r["restarted"])
    med = {s: {c: statistics.median(t[c] for t in results[s]) for c in args.cases}
           for s in args.scenarios}
    width = 12
    print()
    print("median fit time, seconds (ratio to alone)")
    print("case".ljust(6) + "".join(s.rjust(width + 8) for s in args.scenarios))
    worst = 0.0
    for c in args.cases:
        row = c.ljust(6)
        for s in args.scenarios:
            ratio = med[s][c] / med["alone"][c]
            if s != "alone":
                worst = max(worst, ratio)
            row += f"{med[s][c]:.3f} ({ratio:.2f})".rjust(width + 8)
        print(row)
    print()
    for s in args.scenarios:
        note, floor, restarted = notes[s]
        print(f"  {s}: {note or 'deepbio first'}; kernel grain floor {floor}, "
              f"OpenBLAS pools restarted {restarted}")
    print(f"\nworst ratio {worst:.2f} (target <= 1.1: {'met' if worst <= 1.1 else 'MISSED'}); "
          f"{time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
