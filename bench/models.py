"""Benchmark: one RBM training epoch, deepbio vs scikit-learn's BernoulliRBM vs PyTorch.

The task (issue 4): 6000 x 784 binary data, 500 hidden units, minibatches of 100, one
epoch, learning rate 0.1.

* Data: the bundled 8x8 digits upsampled to 28x28 by nearest neighbour (MNIST's shape),
  binarised at half intensity, and tiled to 6000 rows with 3% of the pixels flipped at
  random in each copy (so no two rows repeat).  Fixed seed.
* Algorithm: persistent contrastive divergence with one Gibbs step (PCD-1), which is what
  scikit-learn's ``BernoulliRBM.fit`` runs; deepbio runs ``RBM(persistent=True, k=1,
  momentum=0, weight_decay=0)`` so the update is the same plain SGD step.  deepbio's
  time includes its per-epoch monitoring (reconstruction error and pseudo-likelihood on
  256 samples); scikit-learn computes no pseudo-likelihood with ``verbose=0``.
* PyTorch: the same PCD-1 loop written with torch tensors (float32, ``no_grad``),
  uniforms from ``torch.rand``.
* Each contender runs once to warm up, then ``--repeats`` times; the table gives the
  median wall time and each one's ratio to deepbio's default backend.  Threads: every
  library is limited to ``--threads`` (default: all CPUs).

Run ``python bench/models.py`` (or ``deepbio bench``); ``--quick`` for a small smoke run.
"""
import argparse
import os
import platform
import statistics
import sys

# deepbio's own default (see deepbio/__init__.py), set here too because this script
# imports NumPy before deepbio: short OpenBLAS spins, so NumPy's and SciPy's BLAS thread
# teams hand the cores over instead of stalling each other.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "1")
import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)                       # bench/_timing.py (also under runpy)

import deepbio  # noqa: E402
from deepbio.datasets import load_digits  # noqa: E402
from _timing import process_note, report, time_round_robin, timed_backends  # noqa: E402


def make_data(n_samples, seed=0):
    """(n_samples, 784) float32 binary images: upsampled, binarised, noisy digits."""
    X, _ = load_digits(return_X_y=True)
    rows = (np.arange(28) * 8) // 28                     # nearest-neighbour 8 -> 28
    big = X.reshape(-1, 8, 8)[:, rows][:, :, rows].reshape(-1, 784) / 16.0 > 0.5
    rng = np.random.default_rng(seed)
    reps = -(-n_samples // len(big))
    data = np.tile(big, (reps, 1))[:n_samples]
    flips = rng.random(data.shape) < 0.03
    return np.ascontiguousarray(np.logical_xor(data, flips), dtype=np.float32)


def deepbio_epoch(X, hidden, batch, backend):
    def run():
        with deepbio.use_backend(backend):
            deepbio.RBM(n_components=hidden, batch_size=batch, n_iter=1, learning_rate=0.1,
                        persistent=True, momentum=0.0, weight_decay=0.0,
                        random_state=0).fit(X)
    return run


def sklearn_epoch(X, hidden, batch, dtype):
    from sklearn.neural_network import BernoulliRBM
    Xd = X.astype(dtype)

    def run():
        BernoulliRBM(n_components=hidden, learning_rate=0.1, batch_size=batch, n_iter=1,
                     random_state=0).fit(Xd)
    return run


def torch_epoch(X, hidden, batch):
    import torch
    Xt = torch.from_numpy(X)

    def run():
        gen = torch.Generator().manual_seed(0)
        n, d = Xt.shape
        with torch.no_grad():
            W = 0.01 * torch.randn(d, hidden, generator=gen)
            b = torch.zeros(d)
            c = torch.zeros(hidden)
            chain = None
            order = torch.randperm(n, generator=gen)
            lr = 0.1
            for start in range(0, n, batch):
                v0 = Xt[order[start:start + batch]]
                m = v0.shape[0]
                h0 = torch.sigmoid(v0 @ W + c)
                if chain is None:
                    chain = (torch.rand(m, hidden, generator=gen) < h0).float()
                hs = chain[:m]
                vk = (torch.rand(m, d, generator=gen) < torch.sigmoid(hs @ W.T + b)).float()
                hk = torch.sigmoid(vk @ W + c)
                chain[:m] = (torch.rand(m, hidden, generator=gen) < hk).float()
                W += lr * (v0.T @ h0 - vk.T @ hk) / m
                b += lr * (v0 - vk).mean(0)
                c += lr * (h0 - hk).mean(0)
    return run


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--samples", type=int, default=6000)
    p.add_argument("--hidden", type=int, default=500)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--quick", action="store_true", help="600 samples, 2 repeats")
    p.add_argument("--markdown", help="also write the table to this file")
    args = p.parse_args(argv)
    if args.quick:
        args.samples, args.repeats = 600, 2

    # load every backend (and so every BLAS library: SciPy's for the Cython kernels,
    # NumPy's for ``@``) before limiting the threads, so the limit reaches them all
    usable = timed_backends()
    deepbio.set_num_threads(args.threads)
    X = make_data(args.samples)
    contenders = []
    default = deepbio.get_backend()
    for name in [default] + [b for b in usable if b != default]:
        contenders.append((f"deepbio RBM ({name} backend, float32)",
                           deepbio_epoch(X, args.hidden, args.batch, name)))
    try:
        import sklearn
        contenders.append((f"scikit-learn {sklearn.__version__} BernoulliRBM (float64)",
                           sklearn_epoch(X, args.hidden, args.batch, np.float64)))
        contenders.append((f"scikit-learn {sklearn.__version__} BernoulliRBM (float32)",
                           sklearn_epoch(X, args.hidden, args.batch, np.float32)))
    except ImportError:
        print("scikit-learn not installed: skipped", file=sys.stderr)
    try:
        import torch
        torch.set_num_threads(args.threads)
        contenders.append((f"PyTorch {torch.__version__} PCD-1 loop (float32)",
                           torch_epoch(X, args.hidden, args.batch)))
    except ImportError:
        print("PyTorch not installed: skipped", file=sys.stderr)

    times = time_round_robin(contenders, args.repeats)
    results = [(name, statistics.median(t), min(t)) for name, t in times.items()]
    ref, ref_min = results[0][1], results[0][2]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [f"One RBM epoch: {args.samples} x 784 binary samples, {args.hidden} hidden, "
             f"batch {args.batch}, PCD-1, lr 0.1; median (and min) of {args.repeats} "
             f"round-robin runs after 1 warm-up each; {args.threads} thread(s); "
             f"{os.cpu_count()} CPUs, load average {load:.1f} at the end; "
             f"{platform.machine()}, Python {platform.python_version()}, "
             f"NumPy {np.__version__}.",
             "",
             process_note() + ".",
             "",
             "| contender | median (s) | min (s) | median / deepbio default |",
             "|---|---:|---:|---:|"]
    for name, med, best in results:
        lines.append(f"| {name} | {med:.3f} | {best:.3f} | {med / ref:.2f}x |")
    lines.append("")
    for name, med, best in results[1:]:
        lines.append(f"- {results[0][0]} is {med / ref:.2f}x as fast as {name} "
                     f"(medians; {best / ref_min:.2f}x by minimum)")
    report("\n".join(lines), args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
