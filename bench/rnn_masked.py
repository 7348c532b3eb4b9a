"""Masked recurrent layers and the R-op: whole-sequence kernels vs the per-step loops.

    python bench/rnn_masked.py [--backend cython] [--repeat 25] [--threads 2]
                               [--before REV] [--markdown FILE]

Times, in one process, a layer of ``deepbio.nn.recurrent`` as it is now and as it was at
git revision ``--before`` (default ``bbba417``, the last commit whose masked / R-op paths
ran a Python loop over time steps), loaded from ``git show REV:deepbio/nn/recurrent.py``
as a module of its own; both run on the same backend, kernels, parameters and data.

Cases (float32, T = 100, N = 32, D = 32, H = 128, ``return_sequences=True``; the mask
right-pads half the rows to random lengths in [T/4, T)):

* LSTM and Elman (tanh), masked forward + backward, full BPTT and ``bptt_steps=20``;
* the R-op (``rop(dx, dparams)``) of each, masked and unmasked.

Median of ``--repeat`` calls (>= 20) after 3 warm-up calls; the two implementations of a
case are timed in turn, round by round (``_timing.time_round_robin``), so that both see
the same machine load (the bench machine may be shared).
"""
import argparse
import subprocess
import sys
import types
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from _timing import report, time_round_robin  # noqa: E402

import deepbio  # noqa: E402
from deepbio import backend as _backend  # noqa: E402
from deepbio.nn import recurrent as now  # noqa: E402
from deepbio.nn.layers import LAYERS  # noqa: E402


def load_before(rev):
    """``deepbio/nn/recurrent.py`` at ``rev`` as a module (the layer registry untouched)."""
    src = subprocess.run(["git", "show", f"{rev}:deepbio/nn/recurrent.py"], cwd=HERE.parent,
                         check=True, capture_output=True, text=True).stdout
    mod = types.ModuleType("deepbio.nn._recurrent_before")
    mod.__package__ = "deepbio.nn"
    mod.__file__ = f"<git {rev}>/deepbio/nn/recurrent.py"
    saved = dict(LAYERS)
    exec(compile(src, mod.__file__, "exec"), mod.__dict__)
    LAYERS.clear()
    LAYERS.update(saved)
    return mod


def make_layer(module, cls, be, bptt, shape):
    kw = {"return_sequences": True, "bptt_steps": bptt}
    layer = getattr(module, cls)(128, **kw)
    layer.build(shape, be.rng(0), "float32")
    return layer


def _medians(fns, repeat):
    """Median microseconds of each of ``fns`` (before, after), timed round-robin."""
    times = time_round_robin(list(zip(("before", "after"), fns)), repeat, warmup=3)
    return [1e6 * float(np.median(times[k])) for k in ("before", "after")]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default="cython")
    ap.add_argument("--repeat", type=int, default=25)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--before", default="bbba417")
    ap.add_argument("--markdown", default=None)
    a = ap.parse_args(argv)
    if a.repeat < 20:
        ap.error("--repeat must be at least 20")
    if a.threads:
        deepbio.set_num_threads(a.threads)
    before = load_before(a.before)
    _backend.set_backend(a.backend)
    be = _backend.current()
    T, N, D = 100, 32, 32
    rng = np.random.default_rng(0)
    x = be.asarray(rng.standard_normal((N, T, D)).astype(np.float32))
    lengths = np.full(N, T)
    lengths[N // 2:] = rng.integers(T // 4, T, N - N // 2)
    mask = be.asarray((np.arange(T)[None, :] < lengths[:, None]).astype(np.float32))
    dy = be.asarray(rng.standard_normal((N, T, 128)).astype(np.float32))
    dx = be.asarray(rng.standard_normal((N, T, D)).astype(np.float32))
    rows = []
    for cls in ("LSTM", "Elman"):
        for bptt in (None, 20):
            fns = []
            for module in (before, now):
                layer = make_layer(module, cls, be, bptt, (T, D))

                def fit_step(layer=layer):
                    layer.set_mask(mask)
                    layer.forward(x, train=True)
                    layer.backward(dy)
                    be.synchronize()
                fns.append(fit_step)
            rows.append((f"{cls} masked forward+backward, bptt={bptt}", *_medians(fns, a.repeat)))
        for masked in (True, False):
            fns = []
            for module in (before, now):
                layer = make_layer(module, cls, be, None, (T, D))
                layer.set_mask(mask if masked else None)
                layer.forward(x, train=True)
                dparams = [be.asarray(rng.standard_normal(p.shape).astype(np.float32))
                           for p in layer._params]

                def rop(layer=layer, dparams=dparams):
                    layer.rop(dx, dparams)
                    be.synchronize()
                fns.append(rop)
            rows.append((f"{cls} R-op, {'masked' if masked else 'unmasked'}",
                         *_medians(fns, a.repeat)))
    head = (f"backend {a.backend}, threads {deepbio.get_num_threads()}, float32, T={T}, "
            f"N={N}, D={D}, H=128, half the rows shorter; median of {a.repeat} (us)\n")
    lines = [head, f"| case | before ({a.before}) | after | speed-up |", "|---|---|---|---|"]
    for name, t0, t1 in rows:
        lines.append(f"| {name} | {t0:.0f} | {t1:.0f} | {t0 / t1:.2f}x |")
    report("\n".join(lines), a.markdown)


if __name__ == "__main__":
    main()
