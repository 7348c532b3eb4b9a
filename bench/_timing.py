"""Timers shared by the bench scripts (import with ``bench/`` on ``sys.path``)."""
import time

import numpy as np


def time_us(fn, repeat, stat="median", warmup=5, quiet=0.3):
    """Median (or ``stat="min"``: minimum) wall time of ``fn()`` in microseconds over
    ``repeat`` calls, after ``warmup`` untimed calls.

    Sleeps ``quiet`` seconds first so that the idle workers of the previously timed
    implementation's thread pools (OpenMP, the BLAS of NumPy / SciPy / PyTorch) stop
    spinning: on a machine with as many cores as threads a spinning foreign worker steals
    a core from every parallel region and inflates times by whole scheduler slices.
    """
    time.sleep(quiet)
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e6 * float(np.median(times) if stat == "median" else np.min(times))


def time_round_robin(contenders, repeats, warmup=1):
    """Warm each contender up ``warmup`` times, then time them in turn, ``repeats``
    rounds, so that every one sees the same machine load; returns {name: [seconds]}."""
    for _, fn in contenders:
        for _ in range(warmup):
            fn()
    times = {name: [] for name, _ in contenders}
    for _ in range(repeats):
        for name, fn in contenders:
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return times
