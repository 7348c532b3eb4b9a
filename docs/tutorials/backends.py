"""Tutorial: choosing a backend, checking that it gives the same results, and timing it
on one kernel and one fit.

Run it as ``python docs/tutorials/backends.py [OUT_DIR]``: it prints what the page
shows and writes ``backends_times.png`` to OUT_DIR (default: the current directory).
The documentation build runs it (docs/hooks.py).  It checks that the backends agree;
it does not check which is faster (timings depend on the machine and its load).
"""
import sys
import time
from pathlib import Path

import numpy as np

out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(".")

# --8<-- [start:choose]
import deepbio
import deepbio.backend

print("available here:", deepbio.backends())     # e.g. ['numpy', 'cython'], + GPU ones
print("active:", deepbio.get_backend())           # cython when compiled, else numpy
with deepbio.use_backend("numpy"):                 # a block on the reference
    print("inside the block:", deepbio.get_backend())
print("after it:", deepbio.get_backend())
NAMES = [b for b in deepbio.backends() if b in ("numpy", "cython")]
# --8<-- [end:choose]


# --8<-- [start:kernel]
def median_time(f, repeats=5):
    """Median wall-clock seconds of ``f()`` over ``repeats`` calls, after one warm-up."""
    f()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


rng = np.random.default_rng(0)
x = rng.standard_normal((64, 6, 12, 12)).astype(np.float32)    # (N, C, H, W)
dy = rng.standard_normal((64, 16, 8, 8)).astype(np.float32)    # gradient of a 16@5x5 conv
pool_x = rng.standard_normal((64, 6, 24, 24)).astype(np.float32)
CASES = {  # name: (kernel, its array arguments, its options)
    "conv2d_backward_weight 16@5x5": ("conv2d_backward_weight", (dy, x), (5, 1, 0)),
    "maxpool2d_forward 2x2": ("maxpool2d_forward", (pool_x,), (2, 2)),
}
kernel_out, kernel_time = {}, {}
for name in NAMES:
    be = deepbio.backend.get(name)
    for case, (kernel, arrays, options) in CASES.items():
        args = [be.asarray(a) for a in arrays] + list(options)   # on the backend's device
        f = getattr(be.kernels, kernel)
        result = f(*args)
        first = result[0] if isinstance(result, tuple) else result   # (pooled, argmax)
        kernel_out[name, case] = be.to_numpy(first)
        kernel_time[name, case] = median_time(lambda: f(*args))
        print(f"{case:30s} on {name:6s}: {kernel_time[name, case] * 1e3:6.2f} ms "
              "(median of 5)")
# --8<-- [end:kernel]

# --8<-- [start:fit]
from deepbio.datasets import load_digits, make_motif_sequences, one_hot

X_digits, y_digits = load_digits(return_X_y=True)
seqs, y_seqs = make_motif_sequences(n=500, length=60, random_state=0)
X_seqs, _ = one_hot(seqs)
FITS = {  # name: (a function making the model, X, y)
    "MLPClassifier, digits": (lambda: deepbio.MLPClassifier(
        hidden_layer_sizes=(64,), max_iter=5, random_state=0), X_digits / 16.0, y_digits),
    "CNNClassifier, DNA": (lambda: deepbio.CNNClassifier(
        filters=16, kernel_size=9, hidden_layer_sizes=(), max_iter=3, random_state=0),
        X_seqs, y_seqs),
}
fit_time, proba = {}, {}
for name in NAMES:
    with deepbio.use_backend(name):
        for fit, (make, X, y) in FITS.items():
            model = make()
            start = time.perf_counter()
            model.fit(X, y)
            fit_time[name, fit] = time.perf_counter() - start
            proba[name, fit] = model.predict_proba(X)
            print(f"{fit:22s} fit on {name:6s}: {fit_time[name, fit]:.2f} s, "
                  f"training accuracy {model.score(X, y):.3f}")
# --8<-- [end:fit]

# --8<-- [start:agree]
ref = NAMES[0]
for name in NAMES[1:]:
    for case in CASES:
        a, r = kernel_out[name, case], kernel_out[ref, case]
        print(f"{case:30s}: {name} against {ref}, max |difference| "
              f"{np.abs(a - r).max():.1e} (values up to {np.abs(r).max():.0f}); "
              f"time {ref}/{name} = {kernel_time[ref, case] / kernel_time[name, case]:.1f}")
        np.testing.assert_allclose(a, r, rtol=1e-5, atol=1e-4)
    for fit in FITS:
        a, r = proba[name, fit], proba[ref, fit]
        print(f"{fit + ' fit':30s}: {name} against {ref}, predicted probabilities max "
              f"|difference| {np.abs(a - r).max():.1e}; "
              f"time {ref}/{name} = {fit_time[ref, fit] / fit_time[name, fit]:.1f}")
        np.testing.assert_allclose(a, r, rtol=1e-4, atol=1e-5)
        assert (a.argmax(axis=1) == r.argmax(axis=1)).all()
# --8<-- [end:agree]

# --8<-- [start:plots]
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from deepbio import plot

fig, axes = plt.subplots(1, len(CASES) + len(FITS), figsize=(12, 2.8))
colours = ["C0", "C1"][:len(NAMES)]
for ax, case in zip(axes, CASES):
    ax.bar(NAMES, [kernel_time[n, case] * 1e3 for n in NAMES], color=colours)
    ax.set(ylabel="ms", title=case, xlabel="backend")
for ax, fit in zip(axes[len(CASES):], FITS):
    ax.bar(NAMES, [fit_time[n, fit] for n in NAMES], color=colours)
    ax.set(ylabel="s", title=f"{fit} fit", xlabel="backend")
for ax in axes:
    ax.title.set_fontsize(9)
fig.tight_layout()
plot.save_figure(fig, out / "backends_times.png")
# --8<-- [end:plots]
