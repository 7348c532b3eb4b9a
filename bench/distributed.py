"""Data-parallel scaling over MPI: measured at 1 and 2 processes, modelled beyond.

    python bench/distributed.py [--quick] [--json OUT.json]

The driver launches itself under ``mpiexec -n 1`` and ``-n 2`` (``--worker``) and prints
a Markdown report (the one in docs/benchmarks_distributed.md):

1. **Allreduce time per byte**: the minimum time (over repetitions) of ``Allreduce(IN_PLACE, SUM)`` on 2
   ranks for float64 buffers of 8 B to 8 MiB, fitted as ``t(m) = a + b m`` (latency
   ``a``, inverse bandwidth ``b``).
2. **Strong scaling** (a fixed global minibatch cut over the ranks) and **weak scaling**
   (a fixed minibatch per rank) of SGD steps of each model at 1 and 2 processes: the
   time per step, split into compute (the network's ``loss_and_grad`` and the update)
   and the gradient's Allreduce.
3. **A cost model**: ``T(P) = C(B_rank) + t_ring(P, m)`` with ``C`` the measured compute
   time of one step at the per-rank batch (linear in the batch: ``C(B) = c0 + c1 B``
   from the 1-process runs), ``m`` the allreduce bytes per step (the flat gradient plus
   loss and count) and a ring allreduce ``t_ring(P, m) = 2 (P - 1) a + 2 (P - 1) / P m b``.
   It is checked against the 2-process measurements and predicts 8, 64 and 512 nodes.
   The latency and bandwidth are those measured between two processes of THIS machine
   (shared memory): a cluster's network is slower, so the predictions are an upper
   bound on the efficiency; pass ``--latency`` / ``--bandwidth`` to model a network.
"""
import argparse
import json
import os
import pathlib
import subprocess
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

#: (name, network factory, input shape, output width): the models timed.
MODELS = ("mlp", "cnn1d")


def _network(name):
    from deepbio.nn import Conv1D, Dense, Flatten, MaxPool1D, Network
    if name == "mlp":
        layers = [Dense(256, activation="relu"), Dense(256, activation="relu"), Dense(10)]
        return Network(layers, "softmax_cross_entropy", dtype="float32"), (784,), 10
    layers = [Conv1D(32, 9, activation="relu"), MaxPool1D(4), Flatten(), Dense(2)]
    return Network(layers, "softmax_cross_entropy", dtype="float32"), (4, 200), 2


def _median_time(fn, reps, warmup=2, best=False):
    """The median (``best``: the minimum) of ``reps`` timed calls of ``fn``."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.min(times) if best else np.median(times))


def worker(quick):
    """Run under mpiexec: measure, print one JSON line on rank 0."""
    from deepbio import distributed
    from deepbio.optim import SGD
    from deepbio.optim._distributed import global_network
    comm = distributed.world()
    P, rank = comm.Get_size(), comm.Get_rank()
    MPI = distributed.mpi()
    out = {"P": P, "allreduce": [], "models": {}}
    reps = 5 if quick else 20

    # 1. allreduce time per byte (only meaningful with P > 1)
    if P > 1:
        for k in range(0, 21, 2 if quick else 1):          # 8 B .. 8 MiB
            buf = np.ones(2 ** k, dtype=np.float64)

            def ar():
                comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
            comm.Barrier()
            # the minimum: on a shared machine a descheduled rank adds milliseconds
            out["allreduce"].append((buf.nbytes, _median_time(ar, max(reps, 10),
                                                              best=True)))

    # 2. steps of each model: strong (global batch 256) and weak (256 per rank)
    rng = np.random.default_rng(rank)
    for name in MODELS:
        net, shape, k = _network(name)
        net.build(shape, 0)
        res = {"n_params": int(net.theta.size),
               "allreduce_bytes": int((net.theta.size + 2) * net.theta.itemsize)}
        for mode, batch in (("strong", 256 // P), ("weak", 256)):
            X = rng.normal(size=(batch,) + shape).astype(np.float32)
            y = np.eye(k, dtype=np.float32)[rng.integers(0, k, batch)]
            opt = SGD(learning_rate=0.01, comm=comm)
            whole = global_network(net, comm)

            def step():
                opt._step(whole, X, y)

            def compute():
                net.loss_and_grad(X, y, train=True, sync=True)
            comm.Barrier()
            t_step = _median_time(step, reps)
            comm.Barrier()
            t_compute = _median_time(compute, reps)
            times = comm.allgather((t_step, t_compute))
            res[mode] = {"batch_per_rank": batch, "step_s": max(t for t, _ in times),
                         "compute_s": max(c for _, c in times)}
        out["models"][name] = res
    if rank == 0:
        print("RESULT " + json.dumps(out), flush=True)


def _launch(P, quick):
    mpiexec = pathlib.Path(sys.executable).parent / "mpiexec"
    cmd = [str(mpiexec) if mpiexec.exists() else "mpiexec", "--allow-run-as-root",
           "--oversubscribe", "-n", str(P), sys.executable, __file__, "--worker"]
    if quick:
        cmd.append("--quick")
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               PYTHONPATH=str(ROOT))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"mpiexec -n {P} failed:\n{proc.stdout}\n{proc.stderr}")


def ring(P, m, a, b):
    """Ring allreduce time of ``m`` bytes on P ranks with latency a and s/byte b."""
    return 0.0 if P == 1 else 2 * (P - 1) * a + 2 * (P - 1) / P * m * b


def report(one, two, latency=None, bandwidth=None):
    lines = []
    sizes = np.array([m for m, _ in two["allreduce"]], dtype=float)
    times = np.array([t for _, t in two["allreduce"]])
    # robust to a descheduled rank: the latency is the median of the small messages'
    # times, the inverse bandwidth the slope of a fit over the large ones (>= 64 KiB)
    a_fit = float(np.median(times[sizes <= 256]))
    large = sizes >= 65536
    b_fit = float(np.polyfit(sizes[large], times[large], 1)[0])
    a = latency if latency is not None else a_fit
    b = 1.0 / bandwidth if bandwidth is not None else max(b_fit, 1e-12)
    lines.append("### Allreduce on 2 processes (float64, IN_PLACE, SUM)\n")
    lines.append("| bytes | best time (us) |\n|---:|---:|")
    for m, t in two["allreduce"]:
        lines.append(f"| {m} | {t * 1e6:.1f} |")
    lines.append(f"\nMeasured: latency a = {a_fit * 1e6:.1f} us (median over messages "
                 f"<= 256 B), b = {b_fit * 1e9:.3f} ns/byte ({1 / max(b_fit, 1e-15) / 1e9:.2f}"
                 f" GB/s; slope over messages >= 64 KiB). The model below uses a = "
                 f"{a * 1e6:.1f} us and b = {b * 1e9:.3f} ns/byte.\n")
    for mode in ("strong", "weak"):
        lines.append(f"### {mode.capitalize()} scaling "
                     f"({'global batch 256' if mode == 'strong' else '256 per rank'})\n")
        lines.append("| model | params | allreduce bytes | 1 proc step (ms) | 2 proc step "
                     "(ms) | 2 proc predicted (ms) | 2 proc efficiency | predicted "
                     "efficiency at 8 / 64 / 512 |\n|---|---:|---:|---:|---:|---:|---:|---|")
        for name in MODELS:
            r1, r2 = one["models"][name], two["models"][name]
            m = r1["allreduce_bytes"]
            # compute time as c0 + c1 * batch, from the 1-process strong (256) and the
            # 2-process strong (128 per rank) compute timings
            B1, C1 = r1["strong"]["batch_per_rank"], r1["strong"]["compute_s"]
            B2, C2 = r2["strong"]["batch_per_rank"], r2["strong"]["compute_s"]
            c1 = (C1 - C2) / (B1 - B2) if B1 != B2 else C1 / B1
            c0 = max(C1 - c1 * B1, 0.0)
            step1 = r1[mode]["step_s"]
            update = max(step1 - C1 if mode == "strong" else step1 - r1["weak"]["compute_s"],
                         0.0)

            def T(P):
                batch = 256 / P if mode == "strong" else 256
                return c0 + c1 * batch + update + ring(P, m, a, b)

            def eff(P):
                return (T(1) / (P * T(P))) if mode == "strong" else T(1) / T(P)
            meas = r2[mode]["step_s"]
            meas_eff = (step1 / (2 * meas)) if mode == "strong" else step1 / meas
            lines.append(f"| {name} | {r1['n_params']} | {m} | {step1 * 1e3:.2f} | "
                         f"{meas * 1e3:.2f} | {T(2) * 1e3:.2f} | {meas_eff:.2f} | "
                         f"{eff(8):.2f} / {eff(64):.2f} / {eff(512):.2f} |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true", help="fewer repetitions and sizes")
    ap.add_argument("--json", help="also write the raw measurements here")
    ap.add_argument("--latency", type=float, help="model this latency (s) instead")
    ap.add_argument("--bandwidth", type=float, help="model this bandwidth (bytes/s) instead")
    ap.add_argument("--from-json", help="report measurements saved by --json (no run)")
    args = ap.parse_args(argv)
    if args.worker:
        return worker(args.quick)
    if args.from_json:
        saved = json.loads(pathlib.Path(args.from_json).read_text())
        one, two = saved["1"], saved["2"]
    else:
        one, two = _launch(1, args.quick), _launch(2, args.quick)
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps({"1": one, "2": two}, indent=1))
    print(report(one, two, args.latency, args.bandwidth))
    if args.latency is None and args.bandwidth is None:
        print("\n#### The same model with a 10 Gb/s, 20 us network\n")
        print(report(one, two, 20e-6, 10e9 / 8))
    return 0


if __name__ == "__main__":
    sys.exit(main())
