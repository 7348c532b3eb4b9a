"""Benchmark: CNN and RNN training steps, deepbio vs PyTorch CPU, same architectures.

The cases (issue 5):

* ``lenet5``: one SGD step (forward, backward, momentum update) of LeNet-5 on a batch of
  64 images of 1x28x28: conv 6@5x5 (padding 2) -> relu -> 2x2 max pool -> conv 16@5x5
  -> relu -> 2x2 max pool -> dense 120 -> relu -> dense 84 -> relu -> dense 10, softmax
  cross-entropy;
* ``elman`` / ``lstm``: one SGD step of a recurrent layer (input 20, hidden 128, tanh for
  Elman) over T=100 steps for N=32 sequences, its last state into dense 10, softmax
  cross-entropy.

deepbio runs :class:`deepbio.nn.Network` + :class:`deepbio.optim.SGD` (``step``) on each
requested backend; PyTorch runs ``nn.Sequential`` / ``nn.RNN`` / ``nn.LSTM`` + ``Linear``
with ``optim.SGD`` (same learning rate and momentum), float32 everywhere, random inputs
and labels (fixed seed).  Every contender is warmed up, then the contenders are timed in
turn (round robin, so each sees the same machine load), ``--repeats`` times; the table
gives medians and the ratio deepbio / PyTorch (below 1 = deepbio faster; the issue's
target is <= 0.5).  Threads: ``torch.set_num_threads(n)`` and
``deepbio.set_num_threads(n)``, ``n = --threads`` (default 2).

Run ``python bench/models_cnn_rnn.py`` (``--quick`` for a smoke run).
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
sys.path.insert(0, HERE)                       # bench/_timing.py

import deepbio  # noqa: E402
from deepbio.nn import Dense, Flatten, Network  # noqa: E402
from deepbio.nn.conv import Conv2D  # noqa: E402
from deepbio.nn.pool import MaxPool2D  # noqa: E402
from deepbio.nn.recurrent import LSTM, Elman  # noqa: E402
from deepbio.optim import SGD  # noqa: E402
from _timing import process_note, time_round_robin, timed_backends  # noqa: E402

LR, MOMENTUM = 0.01, 0.9


# ------------------------------------------------------------------------ the cases


def lenet5_layers():
    return [Conv2D(6, 5, padding=2, activation="relu"), MaxPool2D(2),
            Conv2D(16, 5, activation="relu"), MaxPool2D(2), Flatten(),
            Dense(120, "relu"), Dense(84, "relu"), Dense(10)]


def lenet5_torch(torch):
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                         nn.Linear(84, 10))


class _LastState:
    """torch: recurrent layer -> last state -> linear (a module built lazily)."""

    @staticmethod
    def make(torch, kind, d, h, k):
        nn = torch.nn

        class Model(nn.Module):
            def __init__(self):
                super().__init__()
                self.rnn = (nn.RNN(d, h, batch_first=True, nonlinearity="tanh")
                            if kind == "elman" else nn.LSTM(d, h, batch_first=True))
                self.out = nn.Linear(h, k)

            def forward(self, x):
                seq, _ = self.rnn(x)
                return self.out(seq[:, -1])

        return Model()


def cases(quick):
    """name -> (input shape per sample, deepbio layers factory, torch factory, batch)."""
    t_len = 20 if quick else 100
    return {
        "lenet5": ((1, 28, 28), lenet5_layers, lenet5_torch, 16 if quick else 64),
        "elman": ((t_len, 20), lambda: [Elman(128), Dense(10)],
                  lambda torch: _LastState.make(torch, "elman", 20, 128, 10), 32),
        "lstm": ((t_len, 20), lambda: [LSTM(128), Dense(10)],
                 lambda torch: _LastState.make(torch, "lstm", 20, 128, 10), 32),
    }


def data(shape, n, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n,) + shape).astype(np.float32)
    y = rng.integers(0, 10, n)
    return X, y


def deepbio_step(backend, shape, layers, X, y):
    """A closure running one SGD step of a fresh network on ``backend``."""
    be = deepbio.backend.get(backend)
    with deepbio.use_backend(backend):
        net = Network(layers(), "softmax_cross_entropy", dtype="float32").build(shape, 0)
        sgd = SGD(learning_rate=LR, momentum=MOMENTUM, random_state=0)
        Xb, Yb = be.asarray(X), be.asarray(np.eye(10, dtype=np.float32)[y])

    def step():
        with deepbio.use_backend(backend):
            sgd.step(net, Xb, Yb)
    return step


def torch_step(torch, factory, X, y):
    torch.manual_seed(0)
    model = factory(torch)
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    loss_fn = torch.nn.CrossEntropyLoss()
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)

    def step():
        opt.zero_grad()
        loss_fn(model(Xt), yt).backward()
        opt.step()
    return step


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--backends", default=",".join(timed_backends()),
                        help="comma-separated deepbio backends (default: all usable)")
    parser.add_argument("--cases", default="lenet5,elman,lstm")
    parser.add_argument("--quick", action="store_true", help="small shapes, 3 repeats")
    args = parser.parse_args(argv)
    repeats = 3 if args.quick else args.repeats

    deepbio.set_num_threads(args.threads)
    try:
        import torch
        torch.set_num_threads(args.threads)
    except ImportError:
        torch = None
        print("PyTorch is not installed: timing deepbio only (pip install torch)")
    backends = [b for b in args.backends.split(",") if b]
    print(f"# CNN / RNN training steps: {platform.processor() or platform.machine()}, "
          f"{args.threads} threads, median of {repeats}, float32")
    print(f"# deepbio {deepbio.__version__}" +
          (f", torch {torch.__version__}" if torch is not None else ""))
    print(f"# {process_note()}")
    header = ["case"] + [f"deepbio {b} (ms)" for b in backends]
    if torch is not None:
        header += ["torch (ms)"] + [f"{b} / torch" for b in backends]
    rows = [header]
    for name in args.cases.split(","):
        shape, layers, tfactory, n = cases(args.quick)[name]
        X, y = data(shape, n)
        contenders = [(b, deepbio_step(b, shape, layers, X, y)) for b in backends]
        if torch is not None:
            contenders.append(("torch", torch_step(torch, tfactory, X, y)))
        times = time_round_robin(contenders, repeats, warmup=2)
        med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
        row = [name] + [f"{med[b]:.2f}" for b in backends]
        if torch is not None:
            row += [f"{med['torch']:.2f}"] + [f"{med[b] / med['torch']:.2f}" for b in backends]
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    for i, r in enumerate(rows):
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |")
        if i == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return rows


if __name__ == "__main__":
    main()
