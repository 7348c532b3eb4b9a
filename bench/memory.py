"""Resident memory over many fit/predict cycles (issue #16 item 7): does it stay flat?

    python bench/memory.py                         # 10000 cycles of each model
    python bench/memory.py --cycles 100000 --models mlp --backend numpy

Each cycle builds a small model, fits it on 32 x 6 data and predicts (transform for an
RBM / autoencoder).  After ``--warmup`` cycles (caches, first-call allocations, kernel
signature caches) the resident set size (``/proc/self/statm``; ``ru_maxrss`` where there
is no /proc) is sampled every ``--every`` cycles; the report gives the growth after
warm-up and its least-squares slope in KiB per 1000 cycles.  A leak of one small array
per cycle shows as a steady slope; allocator noise as a few steps that do not grow.
tests/reliability/test_memory.py is the short version with a bound.
"""
import argparse
import gc
import os
import resource
import sys
import time

import numpy as np

import deepbio
from deepbio import (RBM, AutoEncoder, CNNClassifier, DBNClassifier, MLPClassifier,
                     MLPRegressor, RNNClassifier)

MODELS = {
    "mlp": lambda: MLPClassifier((8,), max_iter=2, random_state=0),
    "mlp_reg": lambda: MLPRegressor((8,), max_iter=2, random_state=0),
    "rbm": lambda: RBM(4, n_iter=2, random_state=0),
    "ae": lambda: AutoEncoder(3, max_iter=2, random_state=0),
    "dbn": lambda: DBNClassifier((4,), pretrain_epochs=1, max_iter=1, random_state=0),
    "cnn": lambda: CNNClassifier(filters=(2,), kernel_size=2, hidden_layer_sizes=(),
                                 max_iter=1, random_state=0),
    "rnn": lambda: RNNClassifier(units=4, max_iter=1, random_state=0),
}


def rss_bytes():
    """Current resident set size (peak RSS where /proc is missing)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        scale = 1 if sys.platform == "darwin" else 1024
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def data(kind, rng):
    X = rng.random((32, 6))
    y = (X[:, 0] > 0.5).astype(int)
    if kind == "cnn":
        return X.reshape(32, 1, 6), y
    if kind == "rnn":
        return X.reshape(32, 3, 2), y
    if kind == "mlp_reg":
        return X, X[:, 0]
    return X, y


def cycle(kind, X, y):
    m = MODELS[kind]()
    if kind in ("rbm", "ae"):
        m.fit(X)
        m.transform(X)
    else:
        m.fit(X, y)
        m.predict(X)


def measure(kind, cycles, warmup=200, every=100):
    """``(samples, seconds)``: [(cycle, rss_bytes)] after warm-up."""
    X, y = data(kind, np.random.default_rng(0))
    for _ in range(warmup):
        cycle(kind, X, y)
    gc.collect()
    samples = [(0, rss_bytes())]
    t0 = time.perf_counter()
    for i in range(1, cycles + 1):
        cycle(kind, X, y)
        if i % every == 0 or i == cycles:
            gc.collect()
            samples.append((i, rss_bytes()))
    return samples, time.perf_counter() - t0


def slope_kib_per_1000(samples):
    c = np.array([s[0] for s in samples], float)
    r = np.array([s[1] for s in samples], float) / 1024
    return float(np.polyfit(c, r, 1)[0] * 1000) if len(c) > 1 else 0.0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cycles", type=int, default=10000)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--every", type=int, default=500)
    ap.add_argument("--models", nargs="+", choices=sorted(MODELS), default=sorted(MODELS))
    ap.add_argument("--backend", default=None, help="default: deepbio's default backend")
    a = ap.parse_args(argv)
    ctx = deepbio.use_backend(a.backend) if a.backend else None
    if ctx is not None:
        ctx.__enter__()
    print(f"backend {deepbio.backend.current().name}, {a.cycles} cycles after {a.warmup} "
          f"warm-up, RSS every {a.every}")
    print(f"{'model':<8} {'start MiB':>9} {'end MiB':>8} {'growth KiB':>10} "
          f"{'KiB/1000 cycles':>15} {'s':>6}")
    for kind in a.models:
        samples, t = measure(kind, a.cycles, a.warmup, a.every)
        start, end = samples[0][1] / 2**20, samples[-1][1] / 2**20
        print(f"{kind:<8} {start:>9.1f} {end:>8.1f} {(end - start) * 1024:>10.0f} "
              f"{slope_kib_per_1000(samples):>15.1f} {t:>6.1f}", flush=True)


if __name__ == "__main__":
    main()
