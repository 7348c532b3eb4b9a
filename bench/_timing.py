"""Timers shared by the bench scripts (import with ``bench/`` on ``sys.path``)."""
import os
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


def process_note():
    """One header line: do deepbio and PyTorch share this process, and who came first?

    A deepbio number measured in a process that also imported PyTorch is measured beside
    it: the two share the OpenMP runtime and NumPy's BLAS, and whichever loaded first set
    how their idle threads wait (``docs/performance.md``).  ``bench/threads.py`` times
    deepbio alone and beside PyTorch in separate processes.
    """
    import sys
    if "torch" not in sys.modules:
        return "process: deepbio alone (PyTorch not imported in this process)"
    version = getattr(sys.modules["torch"], "__version__", "?")
    import deepbio
    how = "deepbio's settings unknown (a deepbio without show_config)"
    if hasattr(deepbio, "show_config"):
        applied = deepbio.show_config(as_dict=True)["deepbio_applied"]
        if applied["openmp_loaded_before_deepbio"]:
            how = ("PyTorch loaded the OpenMP runtime first: its idle threads spin, and "
                   f"deepbio's kernels keep loops under {applied['kernel_grain_floor']} "
                   "elements per thread serial")
        else:
            how = ("deepbio loaded the OpenMP runtime first: PyTorch runs on it with "
                   f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}")
    return (f"process: deepbio and PyTorch {version} SHARE this process ({how}); deepbio's "
            "numbers here are measured beside an imported torch (bench/threads.py times "
            "deepbio in processes of its own)")


def timed_backends():
    """The usable deepbio backends worth timing: ``deepbio.backends()`` less those that
    run on an emulation of their device (the ``numba`` backend on Numba's CUDA simulator,
    where every CUDA thread is a Python thread); each one left out is said on stderr."""
    import sys

    import deepbio
    from deepbio import backend as _backend
    names = []
    for name in deepbio.backends():
        if _backend.get(name).simulated:
            print(f"deepbio backend {name!r} runs on a simulator here: not timed",
                  file=sys.stderr)
        else:
            names.append(name)
    return names


def report(text, markdown=None):
    """Print a benchmark's ``text`` and, with ``--markdown PATH``, write it there too."""
    print(text)
    if markdown:
        with open(markdown, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
