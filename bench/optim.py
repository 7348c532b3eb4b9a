"""The optimiser step at the MLP 784-500-10 shape: fused kernels vs NumPy vs PyTorch.

    python bench/optim.py [--threads 2] [--repeat 200] [--runs 3] [--markdown FILE]

``P = 784*500 + 500 + 500*10 + 10 = 397,510`` float32 parameters, one flat vector.  For
each update (SGD with momentum, with and without global-norm clipping; Adam, with
clipping; AdamW; RMSprop) it times, round-robin so that all see the same machine load,
median microseconds per step:

* ``numpy``: the NumPy reference kernels (``reference.clip_scale`` / ``sgd_update`` /
  ...): several whole-array NumPy passes and temporaries per step, the way SGD.step
  updated before the fused kernels (its old code was exactly these operations);
* ``cython``: the fused Cython kernels (``kernels.raw``, one OpenMP pass, plus one norm
  pass when clipping);
* ``step np`` / ``step cy``: the whole ``SGD.step`` / ``Adam.step`` / ... on each backend,
  with a network whose ``loss_and_grad`` hands back a precomputed gradient, so the time
  is the optimiser's alone (state handling, the kernel calls, the loss read);
* ``torch foreach`` / ``torch fused``: ``torch.optim.<X>(foreach=True)`` (and
  ``fused=True`` where PyTorch has a fused CPU kernel: SGD, Adam, AdamW) ``.step()`` on
  one parameter of the same size, after ``clip_grad_norm_(foreach=True)`` in the
  clipping cases.

deepbio is imported first (so that its OpenMP runtime's idle threads sleep) and both
libraries run at ``--threads`` threads.  The whole set of cases is run ``--runs`` times;
each cell is the median over the runs of each run's median (a busy machine's load comes
in bursts longer than one case).
"""
import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import deepbio  # noqa: E402  (first: see the docstring)
from deepbio.optim import SGD, Adam, AdamW, RMSprop  # noqa: E402
from _timing import process_note, report, time_round_robin  # noqa: E402

P = 784 * 500 + 500 + 500 * 10 + 10


class FixedGradient:
    """A network stand-in: ``theta`` and a ``loss_and_grad`` returning one gradient."""

    def __init__(self, theta, grad, xp):
        self.theta, self.grad, self.dtype = theta, grad, theta.dtype
        self.loss = xp.zeros((), theta.dtype)

    def loss_and_grad(self, X, y, train=True, sync=True):
        return self.loss, self.grad


CASES = [
    # name, deepbio optimiser, torch class, torch kwargs, clip
    ("SGD momentum 0.9", lambda: SGD(learning_rate=0.01, momentum=0.9), "SGD",
     dict(lr=0.01, momentum=0.9), None),
    ("SGD momentum + clip_norm", lambda: SGD(learning_rate=0.01, momentum=0.9, clip_norm=1.0),
     "SGD", dict(lr=0.01, momentum=0.9), 1.0),
    ("Adam", lambda: Adam(), "Adam", dict(lr=1e-3), None),
    ("Adam + clip_norm", lambda: Adam(clip_norm=1.0), "Adam", dict(lr=1e-3), 1.0),
    ("AdamW", lambda: AdamW(), "AdamW", dict(lr=1e-3, weight_decay=0.01), None),
    ("RMSprop", lambda: RMSprop(), "RMSprop", dict(lr=1e-2), None),
]


def _kernel_call(opt, be, theta, grad):
    """The optimiser's update (its kernel calls) on backend ``be``, outside ``step``."""
    kernels = be.kernels.raw
    opt._validate_params()
    opt._lr = opt.learning_rate_at(0)
    opt._buffers(theta)

    def run():
        scale = None
        if opt.clip_norm is not None:
            scale = kernels["clip_scale"](grad, theta, float(opt._clip_decay()),
                                          float(opt.clip_norm))
        opt._t += 1
        opt._update(kernels, theta, grad, scale)
    return run


def _step_call(opt, be_name, theta, grad):
    net = FixedGradient(theta, grad, np)

    def run():
        with deepbio.use_backend(be_name):
            opt.step(net, None, None)
    return run


def _torch_call(torch, cls, kwargs, clip, theta, grad, mode):
    p = torch.nn.Parameter(torch.from_numpy(theta.copy()))
    p.grad = torch.from_numpy(grad.copy())
    opt = getattr(torch.optim, cls)([p], **{mode: True}, **kwargs)

    def run():
        if clip is not None:
            torch.nn.utils.clip_grad_norm_([p], clip, foreach=True)
        opt.step()
    return run


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=200)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--markdown")
    args = ap.parse_args(argv)
    deepbio.set_num_threads(args.threads)
    try:
        import torch
        torch.set_num_threads(args.threads)
    except ImportError:
        torch = None
    deepbio.set_num_threads(args.threads)
    numpy_be, cython_be = deepbio.backend.get("numpy"), deepbio.backend.get("cython")
    rng = np.random.default_rng(0)
    theta0 = (0.05 * rng.standard_normal(P)).astype(np.float32)
    grad = (0.01 * rng.standard_normal(P)).astype(np.float32)

    cols = ["numpy", "cython", "step np", "step cy", "torch foreach", "torch fused"]
    lines = [f"optimiser step, P = {P:,} float32 parameters (MLP 784-500-10), "
             f"{args.threads} threads, median us per step over {args.repeat} round-robin "
             f"rounds, median of {args.runs} runs", process_note(), "",
             "| update | " + " | ".join(cols) + " | cy/np | step cy/np | cy/torch foreach "
             "| cy/torch fused |", "|---" * (len(cols) + 5) + "|"]
    runs = {name: [] for name, *_ in CASES}
    for _ in range(args.runs):
        for name, make, cls, kw, clip in CASES:
            contenders = [("numpy", _kernel_call(make(), numpy_be, theta0.copy(), grad)),
                          ("cython", _kernel_call(make(), cython_be, theta0.copy(), grad)),
                          ("step np", _step_call(make(), "numpy", theta0.copy(), grad)),
                          ("step cy", _step_call(make(), "cython", theta0.copy(), grad))]
            if torch is not None:
                contenders.append(("torch foreach", _torch_call(torch, cls, kw, clip,
                                                                theta0, grad, "foreach")))
                if cls in ("SGD", "Adam", "AdamW"):
                    contenders.append(("torch fused", _torch_call(torch, cls, kw, clip,
                                                                  theta0, grad, "fused")))
            times = time_round_robin(contenders, args.repeat, warmup=5)
            runs[name].append({k: 1e6 * float(np.median(v)) for k, v in times.items()})
    for name, *_ in CASES:
        med = {k: float(np.median([r[k] for r in runs[name]])) for k in runs[name][0]}
        cell = [f"{med[c]:.0f}" if c in med else "-" for c in cols]
        tf, tu = med.get("torch foreach"), med.get("torch fused")
        ratios = [med["cython"] / med["numpy"], med["step cy"] / med["step np"],
                  med["cython"] / tf if tf else float("nan"),
                  med["cython"] / tu if tu else float("nan")]
        lines.append(f"| {name} | " + " | ".join(cell) + " | "
                     + " | ".join("-" if r != r else f"{r:.2f}" for r in ratios) + " |")
    report("\n".join(lines), args.markdown)


if __name__ == "__main__":
    main()
