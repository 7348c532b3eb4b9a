"""Whole-``fit`` benchmark: deepbio estimators vs scikit-learn and PyTorch CPU training loops.

    python bench/fit.py [--threads 2] [--repeats 3] [--quick] [--cases mlp,rbm_cd,...]
                        [--json FILE] [--markdown FILE]

What a user waits for is ``fit``, not a kernel.  For each case every library trains the
same model on the same data (float32), for the same epochs, minibatch size and optimiser
(plain SGD + momentum, no gradient clipping, no weight decay, no early stopping), from a
fresh model at every run.  The contenders are timed in turn (round robin, one warm-up
each, so every one sees the same machine load) and the table gives medians and ratios.

* ``mlp``: MLP 784-500-10 (relu, softmax cross-entropy), 6000 samples, 3 epochs, batch
  100, SGD lr 0.01 momentum 0.9.  deepbio ``MLPClassifier(clip_norm=None)``;
  scikit-learn ``MLPClassifier(solver="sgd", alpha=0, nesterovs_momentum=False)`` on
  float32 data; PyTorch ``nn.Sequential`` + ``optim.SGD``.
* ``rbm_cd`` / ``rbm_pcd``: RBM 784x500, 6000 binary samples, one epoch, batch 100, lr
  0.1, no momentum or weight decay, CD-1 / PCD-1.  deepbio ``RBM`` (its per-epoch
  monitoring as configured by default); scikit-learn's ``BernoulliRBM`` (float32; it only
  runs PCD-1, so it is listed in the PCD row only); PyTorch: the CD / PCD loop in
  ``no_grad`` tensors.
* ``dbn``: DBN 784-500-500: greedy CD-1 pre-training of both RBMs (one epoch each,
  batch 100, lr 0.1) then one epoch of fine-tuning of the sigmoid network 784-500-500-10
  (batch 100, SGD lr 0.1 momentum 0.9).  deepbio ``DBNClassifier``; PyTorch the same
  two loops (scikit-learn has no fine-tuned DBN).
* ``lenet5``: LeNet-5 on 1x28x28 images ("same" padding: 6@5x5 -> pool -> 16@5x5 ->
  pool -> 120 -> 84 -> 10), 2048 samples, one epoch, batch 64, SGD lr 0.05 momentum
  0.9.  deepbio ``CNNClassifier(padding="same")`` (its default); PyTorch ``nn.Sequential``.
* ``cnn1d``: 1-d CNN on one-hot DNA, L = 200: 16 filters of width 11 ("same") -> relu ->
  global max pool -> dense 32 relu -> 2 classes, 2048 sequences, one epoch, batch 64.
* ``lstm``: LSTM-128 over T = 100 steps of 20 features, its last state into dense 10,
  512 sequences, one epoch, batch 32, SGD lr 0.05 momentum 0.9.  deepbio
  ``RNNClassifier(cell="lstm")``; PyTorch ``nn.LSTM`` + ``nn.Linear``.

For each case the ``gemm floor`` is the time of the case's matrix products alone: every
GEMM of every minibatch step at its shape, in a row (NumPy ``matmul`` into preallocated
outputs; convolutions as their im2col GEMMs), timed as one more contender of the round
robin, so that it sees the same load as the fits.  It is what no implementation on this BLAS can beat; the issue's targets
(printed at the end, marked met or MISSED) are relative to it and to the other libraries.

``--quick`` shrinks every case (fewer samples, shorter sequences) for a smoke run.
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import warnings

# deepbio's own default (see deepbio/__init__.py), set here too because this script
# imports NumPy before deepbio: short OpenBLAS spins, so NumPy's and SciPy's BLAS thread
# teams hand the cores over instead of stalling each other.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "1")
import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)                       # bench/_timing.py, bench/models.py

import deepbio  # noqa: E402
from _timing import process_note, report, time_round_robin  # noqa: E402
from models import make_data  # noqa: E402

F32 = np.float32

#: (case, what, against, limit): the issue's targets (#24 item 5).
TARGETS = (
    ("mlp", "MLP <= 0.7x PyTorch", "torch", 0.7),
    ("lenet5", "LeNet-5 <= 0.7x PyTorch", "torch", 0.7),
    ("cnn1d", "1-d CNN <= 0.7x PyTorch", "torch", 0.7),
    ("lstm", "LSTM <= 0.5x PyTorch", "torch", 0.5),
    ("rbm_cd", "RBM CD-1 epoch <= 0.5x scikit-learn BernoulliRBM (float32, PCD-1)",
     "sklearn_pcd", 0.5),
    ("rbm_pcd", "RBM PCD-1 epoch <= 0.5x scikit-learn BernoulliRBM (float32)", "sklearn", 0.5),
)
FLOOR_LIMIT = 1.3


# ------------------------------------------------------------------------ data


def digits_data(n, seed=0):
    """(n, 784) binary float32 images (bench/models.py's) and their digit labels."""
    from deepbio.datasets import load_digits
    _, y = load_digits(return_X_y=True)
    X = make_data(n, seed)
    return X, np.tile(y, -(-n // len(y)))[:n]


def dna_data(n, length, seed=0):
    """(n, length, 4) one-hot DNA, label 1 when the sequence holds the motif TATAAT."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, 4, (n, length))
    y = rng.integers(0, 2, n)
    motif = np.array([3, 0, 3, 0, 0, 3])              # T A T A A T in ACGT order
    pos = rng.integers(0, length - len(motif), n)
    for i in np.flatnonzero(y):
        idx[i, pos[i]:pos[i] + len(motif)] = motif
    return np.eye(4, dtype=F32)[idx], y


def sequence_data(n, t_len, d=20, k=10, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, t_len, d)).astype(F32), rng.integers(0, k, n)


# ------------------------------------------------------------------ GEMM floor


def gemm_floor(gemms):
    """A callable running the matrix products ``gemms`` (a list of ``(m, k, n, count)``):
    each ``count`` times, ``matmul`` into a preallocated (m, n) output.  It is timed in
    the round robin with the contenders, so it sees the same machine load."""
    rng = np.random.default_rng(0)
    arrays = {}
    for m, k, n, _ in gemms:
        if (m, k, n) not in arrays:
            arrays[(m, k, n)] = (rng.standard_normal((m, k)).astype(F32),
                                 rng.standard_normal((k, n)).astype(F32),
                                 np.empty((m, n), F32))
    plan = [(arrays[(m, k, n)], count) for m, k, n, count in gemms]

    def run():
        for (a, b, out), count in plan:
            for _ in range(count):
                np.matmul(a, b, out=out)
    return run


def _steps(n, batch):
    """(full minibatches, size of the last one or 0)."""
    return n // batch, n % batch


def _times(gemms, count):
    """``gemms`` of one step, ``count`` times."""
    return [(m, k, n, c * count) for m, k, n, c in gemms]


def dense_gemms(n, batch, sizes, epochs=1):
    """Forward + backward GEMMs of a dense network ``sizes`` (input first), per fit: per
    layer ``a W`` forward, ``a^T dz`` (weight gradient) and ``dz W^T`` (input gradient,
    not for the first layer)."""
    full, last = _steps(n, batch)
    out = []
    for m, count in ((batch, full * epochs), (last, epochs if last else 0)):
        if not count:
            continue
        for i, (d, h) in enumerate(zip(sizes[:-1], sizes[1:])):
            out.append((m, d, h, count))
            out.append((d, m, h, count))
            if i:
                out.append((m, h, d, count))
    return out


def rbm_gemms(n, batch, d, h):
    """The five GEMMs of a CD-1 / PCD-1 step (v0 W, h W^T, vk W, v0^T h0, vk^T hk)."""
    full, last = _steps(n, batch)
    out = []
    for m, count in ((batch, full), (last, 1 if last else 0)):
        if count:
            out += [(m, d, h, 2 * count), (m, h, d, count), (d, m, h, 2 * count)]
    return out


def conv2d_gemms(m_batch, count, c, f, k, size, first):
    """im2col GEMMs of a "same" 2-d convolution on ``size`` x ``size`` inputs."""
    rows, ck = m_batch * size * size, c * k * k
    out = [(rows, ck, f, count), (ck, rows, f, count)]
    if not first:
        out.append((rows, f, ck, count))
    return out


def lenet_gemms(n, batch):
    full, last = _steps(n, batch)
    out = []
    for m, count in ((batch, full), (last, 1 if last else 0)):
        if count:
            out += conv2d_gemms(m, count, 1, 6, 5, 28, True)
            out += conv2d_gemms(m, count, 6, 16, 5, 14, False)
            out += _times(dense_gemms(m, m, (784, 120, 84, 10)), count)
            out.append((m, 120, 784, count))     # the first dense layer's input gradient
    return out


def cnn1d_gemms(n, batch, length):
    full, last = _steps(n, batch)
    out = []
    for m, count in ((batch, full), (last, 1 if last else 0)):
        if count:
            out += [(m * length, 44, 16, count), (44, m * length, 16, count)]
            out += _times(dense_gemms(m, m, (16, 32, 2)), count)
            out.append((m, 32, 16, count))
    return out


def lstm_gemms(n, batch, t_len, d=20, h=128, k=10):
    """Input projection of all steps at once, one recurrent GEMM per step forward and
    backward, the weight gradients of all steps at once, the output layer."""
    full, last = _steps(n, batch)
    out = []
    for m, count in ((batch, full), (last, 1 if last else 0)):
        if count:
            out += [(m * t_len, d, 4 * h, count), (m, h, 4 * h, t_len * count),
                    (m, 4 * h, h, t_len * count), (h, m * t_len, 4 * h, count),
                    (d, m * t_len, 4 * h, count), (m, h, k, count), (h, m, k, count),
                    (m, k, h, count)]
    return out


# ------------------------------------------------------------------ PyTorch loops


def torch_classifier_fit(torch, build, X, y, epochs, batch, lr, momentum, seed=0):
    """The tutorial loop: shuffled minibatches, zero_grad, loss, backward, step."""
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))
    loss_fn = torch.nn.CrossEntropyLoss()

    def run():
        torch.manual_seed(seed)
        model = build(torch)
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
        n = Xt.shape[0]
        for _ in range(epochs):
            perm = torch.randperm(n)
            for i in range(0, n, batch):
                idx = perm[i:i + batch]
                opt.zero_grad()
                loss = loss_fn(model(Xt[idx]), yt[idx])
                loss.backward()
                opt.step()
        return model
    return run


def torch_rbm_epoch(torch, Xt, hidden, batch, lr, persistent, gen):
    """One CD-1 / PCD-1 epoch in ``no_grad`` tensors; returns (W, c)."""
    n, d = Xt.shape
    with torch.no_grad():
        W = 0.01 * torch.randn(d, hidden, generator=gen)
        b = torch.zeros(d)
        c = torch.zeros(hidden)
        chain = None
        order = torch.randperm(n, generator=gen)
        for start in range(0, n, batch):
            v0 = Xt[order[start:start + batch]]
            m = v0.shape[0]
            h0 = torch.sigmoid(v0 @ W + c)
            if persistent:
                if chain is None:
                    chain = (torch.rand(m, hidden, generator=gen) < h0).float()
                hs = chain[:m]
                vk = (torch.rand(m, d, generator=gen) < torch.sigmoid(hs @ W.T + b)).float()
                hk = torch.sigmoid(vk @ W + c)
                chain[:m] = (torch.rand(m, hidden, generator=gen) < hk).float()
            else:
                hs = (torch.rand(m, hidden, generator=gen) < h0).float()
                vk = torch.sigmoid(hs @ W.T + b)
                hk = torch.sigmoid(vk @ W + c)
            W += lr * (v0.T @ h0 - vk.T @ hk) / m
            b += lr * (v0 - vk).mean(0)
            c += lr * (h0 - hk).mean(0)
    return W, c


def torch_mlp(torch, sizes, act):
    nn = torch.nn
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


def torch_lenet_same(torch):
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(6, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(784, 120), nn.ReLU(), nn.Linear(120, 84),
                         nn.ReLU(), nn.Linear(84, 10))


def torch_cnn1d(torch):
    nn = torch.nn
    return nn.Sequential(nn.Conv1d(4, 16, 11, padding=5), nn.ReLU(), nn.AdaptiveMaxPool1d(1),
                         nn.Flatten(), nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 2))


def torch_lstm(torch, d=20, h=128, k=10):
    nn = torch.nn

    class LSTMLast(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.LSTM(d, h, batch_first=True)
            self.out = nn.Linear(h, k)

        def forward(self, x):
            seq, _ = self.rnn(x)
            return self.out(seq[:, -1])

    return LSTMLast()


# ------------------------------------------------------------------------ cases


def make_cases(quick, torch):
    """name -> dict(title, contenders [(label, key, fn)], gemms)."""
    from deepbio import (CNNClassifier, DBNClassifier, MLPClassifier, RBM, RNNClassifier)
    cases = {}
    n = 600 if quick else 6000

    # -- MLP 784-500-10
    X, y = digits_data(n)
    c = []
    c.append(("deepbio", "deepbio", lambda X=X, y=y: MLPClassifier(
        (500,), learning_rate=0.01, momentum=0.9, clip_norm=None, batch_size=100,
        max_iter=3, random_state=0).fit(X, y)))
    try:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier as SkMLP

        def sk_mlp(X=X, y=y):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                SkMLP((500,), solver="sgd", learning_rate_init=0.01, momentum=0.9,
                      nesterovs_momentum=False, alpha=0.0, batch_size=100, max_iter=3,
                      tol=0.0, n_iter_no_change=10 ** 6, random_state=0).fit(X, y)
        c.append(("scikit-learn MLPClassifier", "sklearn", sk_mlp))
    except ImportError:
        pass
    if torch is not None:
        c.append(("PyTorch", "torch", torch_classifier_fit(
            torch, lambda t: torch_mlp(t, (784, 500, 10), t.nn.ReLU), X, y, 3, 100, 0.01,
            0.9)))
    cases["mlp"] = dict(title=f"MLP 784-500-10, {n} samples, 3 epochs, batch 100",
                        contenders=c, gemms=dense_gemms(n, 100, (784, 500, 10), 3))

    # -- RBM CD-1 / PCD-1
    for key, persistent in (("rbm_cd", False), ("rbm_pcd", True)):
        c = [("deepbio", "deepbio", lambda X=X, p=persistent: RBM(
            n_components=500, batch_size=100, n_iter=1, learning_rate=0.1, persistent=p,
            momentum=0.0, weight_decay=0.0, random_state=0).fit(X))]
        if persistent:
            try:
                from sklearn.neural_network import BernoulliRBM
                c.append(("scikit-learn BernoulliRBM (float32)", "sklearn",
                          lambda X=X: BernoulliRBM(n_components=500, learning_rate=0.1,
                                                   batch_size=100, n_iter=1,
                                                   random_state=0).fit(X)))
            except ImportError:
                pass
        if torch is not None:
            Xt = torch.from_numpy(X)

            def t_rbm(Xt=Xt, p=persistent):
                torch_rbm_epoch(torch, Xt, 500, 100, 0.1, p, torch.Generator().manual_seed(0))
            c.append(("PyTorch", "torch", t_rbm))
        cases[key] = dict(title=f"RBM 784x500 {'PCD' if persistent else 'CD'}-1, {n} samples, "
                                "1 epoch, batch 100",
                          contenders=c, gemms=rbm_gemms(n, 100, 784, 500))

    # -- DBN 784-500-500: pre-training + fine-tuning
    c = [("deepbio", "deepbio", lambda X=X, y=y: DBNClassifier(
        (500, 500), pretrain_epochs=1, pretrain_learning_rate=0.1, pretrain_batch_size=100,
        pretrain_momentum=0.0, pretrain_weight_decay=0.0, learning_rate=0.1, momentum=0.9,
        clip_norm=None, batch_size=100, max_iter=1, random_state=0).fit(X, y))]
    if torch is not None:
        Xt, yt = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))

        def t_dbn(Xt=Xt, yt=yt):
            gen = torch.Generator().manual_seed(0)
            W1, c1 = torch_rbm_epoch(torch, Xt, 500, 100, 0.1, False, gen)
            with torch.no_grad():
                H = torch.sigmoid(Xt @ W1 + c1)
            W2, c2 = torch_rbm_epoch(torch, H, 500, 100, 0.1, False, gen)
            model = torch_mlp(torch, (784, 500, 500, 10), torch.nn.Sigmoid)
            with torch.no_grad():
                model[0].weight.copy_(W1.T)
                model[0].bias.copy_(c1)
                model[2].weight.copy_(W2.T)
                model[2].bias.copy_(c2)
            opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
            loss_fn = torch.nn.CrossEntropyLoss()
            perm = torch.randperm(Xt.shape[0], generator=gen)
            for i in range(0, Xt.shape[0], 100):
                idx = perm[i:i + 100]
                opt.zero_grad()
                loss_fn(model(Xt[idx]), yt[idx]).backward()
                opt.step()
        c.append(("PyTorch", "torch", t_dbn))
    cases["dbn"] = dict(
        title=f"DBN 784-500-500, {n} samples: CD-1 pre-training 1 epoch per RBM + "
              "1 epoch fine-tuning, batch 100",
        contenders=c, gemms=rbm_gemms(n, 100, 784, 500) + rbm_gemms(n, 100, 500, 500)
        + [(n, 784, 500, 1)] + dense_gemms(n, 100, (784, 500, 500, 10)))

    # -- LeNet-5
    n_img = 256 if quick else 2048
    Xi = np.random.default_rng(0).standard_normal((n_img, 1, 28, 28)).astype(F32)
    yi = np.random.default_rng(1).integers(0, 10, n_img)
    c = [("deepbio", "deepbio", lambda: CNNClassifier(
        padding="same", learning_rate=0.05, momentum=0.9, clip_norm=None, batch_size=64,
        max_iter=1, random_state=0).fit(Xi, yi))]
    if torch is not None:
        c.append(("PyTorch", "torch", torch_classifier_fit(torch, torch_lenet_same, Xi, yi, 1,
                                                           64, 0.05, 0.9)))
    cases["lenet5"] = dict(title=f"LeNet-5 ('same'), {n_img} images 1x28x28, 1 epoch, batch 64",
                           contenders=c, gemms=lenet_gemms(n_img, 64))

    # -- 1-d CNN on DNA
    length = 50 if quick else 200
    Xd, yd = dna_data(n_img, length)
    c = [("deepbio", "deepbio", lambda: CNNClassifier(
        padding="same", learning_rate=0.05, momentum=0.9, clip_norm=None, batch_size=64,
        max_iter=1, random_state=0).fit(Xd, yd))]
    if torch is not None:
        Xdt = np.ascontiguousarray(Xd.transpose(0, 2, 1))    # (N, 4, L), torch's layout
        c.append(("PyTorch", "torch", torch_classifier_fit(torch, torch_cnn1d, Xdt, yd, 1, 64,
                                                           0.05, 0.9)))
    cases["cnn1d"] = dict(title=f"1-d CNN, {n_img} one-hot DNA sequences L={length}, 16@11 -> "
                                "global max -> 32 -> 2, 1 epoch, batch 64",
                          contenders=c, gemms=cnn1d_gemms(n_img, 64, length))

    # -- LSTM-128
    n_seq, t_len = (64, 20) if quick else (512, 100)
    Xs, ys = sequence_data(n_seq, t_len)
    c = [("deepbio", "deepbio", lambda: RNNClassifier(
        cell="lstm", units=128, learning_rate=0.05, momentum=0.9, clip_norm=None,
        batch_size=32, max_iter=1, random_state=0).fit(Xs, ys))]
    if torch is not None:
        c.append(("PyTorch", "torch", torch_classifier_fit(torch, torch_lstm, Xs, ys, 1, 32,
                                                           0.05, 0.9)))
    cases["lstm"] = dict(title=f"LSTM-128, {n_seq} sequences T={t_len} x 20, last state -> "
                               "dense 10, 1 epoch, batch 32",
                         contenders=c, gemms=lstm_gemms(n_seq, 32, t_len))
    return cases


# ------------------------------------------------------------------------ main


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=None, help="round-robin rounds "
                    "(default 5, 2 with --quick)")
    ap.add_argument("--cases", default="mlp,rbm_cd,rbm_pcd,dbn,lenet5,cnn1d,lstm")
    ap.add_argument("--quick", action="store_true", help="small shapes: a smoke run")
    ap.add_argument("--json", default=None, help="also write the results to this file")
    ap.add_argument("--markdown", default=None, help="also write the table to this file")
    args = ap.parse_args(argv)
    repeats = args.repeats or (2 if args.quick else 5)

    deepbio.backend.get("cython")          # load SciPy's BLAS before limiting threads
    deepbio.set_num_threads(args.threads)
    try:
        import torch
        torch.set_num_threads(args.threads)
    except ImportError:
        torch = None
        print("PyTorch is not installed: timing deepbio and scikit-learn only",
              file=sys.stderr)
    load_start = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    cases = make_cases(args.quick, torch)
    wanted = [c for c in args.cases.split(",") if c]
    unknown = sorted(set(wanted) - set(cases))
    if unknown:
        raise SystemExit(f"--cases: unknown case(s) {unknown}; known: {sorted(cases)}")

    results = []
    for name in wanted:
        case = cases[name]
        contenders = [(key, fn) for _, key, fn in case["contenders"]]
        contenders.append(("floor", gemm_floor(case["gemms"])))
        times = time_round_robin(contenders, repeats)
        row = dict(case=name, title=case["title"],
                   **{key: statistics.median(t) for key, t in times.items()})
        row["min"] = {key: min(t) for key, t in times.items()}
        results.append(row)
        print(f"{name}: " + ", ".join(f"{k} {row[k]:.3f} s" for k in
                                       ("deepbio", "sklearn", "torch", "floor") if k in row),
              file=sys.stderr, flush=True)
    load_end = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    by = {r["case"]: r for r in results}

    def cell(r, k):
        return f"{r[k]:.3f}" if k in r else "—"

    def ratio(r, k):
        return f"{r['deepbio'] / r[k]:.2f}" if k in r else "—"

    lines = [f"Whole `fit`, float32, {args.threads} thread(s) per library, median of "
             f"{repeats} round-robin runs after one warm-up each{' (--quick)' if args.quick else ''}; "
             f"{os.cpu_count()} CPUs, load average {load_start:.1f} at the start and "
             f"{load_end:.1f} at the end; {platform.machine()}, Python "
             f"{platform.python_version()}, NumPy {np.__version__}, deepbio "
             f"{deepbio.__version__}" + (f", PyTorch {torch.__version__}" if torch else "")
             + ".", "", process_note() + ".", "",
             "| case | deepbio (s) | scikit-learn (s) | PyTorch (s) | GEMM floor (s) | "
             "deepbio / sklearn | deepbio / torch | deepbio / floor |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r['title']} | {cell(r, 'deepbio')} | {cell(r, 'sklearn')} | "
                     f"{cell(r, 'torch')} | {r['floor']:.3f} | {ratio(r, 'sklearn')} | "
                     f"{ratio(r, 'torch')} | {ratio(r, 'floor')} |")
    lines += ["", "Targets (issue #24 item 5):", ""]
    for r in results:
        q = r["deepbio"] / r["floor"]
        lines.append(f"- {r['case']}: <= {FLOOR_LIMIT}x its GEMM floor: {q:.2f} "
                     f"{'met' if q <= FLOOR_LIMIT else 'MISSED'}")
    for case, what, against, limit in TARGETS:
        r = by.get(case)
        ref = None
        if r is not None:
            ref = by.get("rbm_pcd", {}).get("sklearn") if against == "sklearn_pcd" \
                else r.get(against)
        if ref is None:
            lines.append(f"- {what}: not measured")
            continue
        q = r["deepbio"] / ref
        lines.append(f"- {what}: {q:.2f} {'met' if q <= limit else 'MISSED'}")
    report("\n".join(lines), args.markdown)
    if args.json:
        from deepbio.io import write_atomic
        doc = dict(date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                   threads=args.threads, repeats=repeats, quick=args.quick,
                   cpu_count=os.cpu_count(), loadavg_at_start=load_start,
                   loadavg_at_end=load_end, results=results)
        write_atomic(args.json, (json.dumps(doc, indent=1) + "\n").encode(),
                     action="write the benchmark results")
    return results


if __name__ == "__main__":
    main()
