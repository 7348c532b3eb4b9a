"""Kernel benchmarks: the NumPy reference, the ``cython`` backend and PyTorch CPU, side by side.

    python bench/kernels.py [--threads 2] [--repeat N] [--quick] [-k SUBSTRING] [--json FILE]

For each kernel family at realistic shapes this prints the median time (microseconds) of

* ``numpy``  the reference kernels (``deepbio.backend.get("numpy")``);
* ``cython`` the compiled kernels (``deepbio.backend.get("cython")``);
* ``torch``  the same operation in PyTorch CPU (when installed), forward + backward through
  autograd where the case is a forward + backward pass;
* ``blas``   for GEMM-bound cases, the BLAS floor: the case's matrix products alone (NumPy's
  ``@`` on the same shapes, nothing else);

and the ratios cython/torch, cython/numpy and cython/blas.  deepbio is set to the same
thread count for OpenMP and BLAS (``deepbio.set_num_threads``) and PyTorch to the same
intra-op thread count (``torch.set_num_threads``).  Everything is float32, data prepared
outside the timed calls, kernels called through ``backend.kernels`` (validated public
entry points).  The convolution and pooling cases come from ``bench/_conv_pool_cases.py``
and are timed with the same timer.  The run ends with the issue's speed targets, each
marked met or missed with its numbers.

Shapes: RBM 784 visible x 500 hidden, batch 100 (the CD-1 update: hidden probabilities
and sample, visible reconstruction, hidden probabilities, CD statistics); dense 784 -> 500,
batch 100; Elman, LSTM and GRU with T = 100, N = 32, 20 inputs, 128 hidden units (the
GRU's matrix-product floor is timed with the LSTM's procedure at 3H gate columns).
"""
import argparse
import json
import os
import platform
import sys

# deepbio's own default (see deepbio/__init__.py), set here too because this script
# imports NumPy before deepbio: short OpenBLAS spins, so NumPy's and SciPy's BLAS thread
# teams hand the cores over instead of stalling each other.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "1")
import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))      # run from a checkout without installing
sys.path.insert(0, HERE)

import deepbio                                 # noqa: E402
import deepbio.backend                         # noqa: E402
from _timing import process_note, time_us      # noqa: E402

F32 = np.float32
RBM = dict(n=100, d=784, h=500)
DENSE = dict(n=100, d=784, h=500)
RNN = dict(t=100, n=32, d=20, h=128)


# ------------------------------------------------------------------------------ timer


def _torch(threads):
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    return torch


def _rand(rng, *shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(F32)


def _unif(rng, *shape):
    return rng.random(shape, dtype=F32)


def _case(family, name, K, run, torch=None, blas=None):
    """A case dict: ``run(kernels)`` returns the callable for one backend."""
    return dict(family=family, name=name, numpy=run(K["numpy"]), cython=run(K["cython"]),
                torch=torch, blas=blas)


# -------------------------------------------------------------------------------- RBM


def _rbm_cases(rng, K, T):
    n, d, h = RBM["n"], RBM["d"], RBM["h"]
    v0 = (rng.random((n, d)) < 0.3).astype(F32)
    W = _rand(rng, d, h, scale=0.01)
    b, c = _rand(rng, d, scale=0.1), _rand(rng, h, scale=0.1)
    u = _unif(rng, n, h)
    cases = []

    def cd1(k):
        def step():
            # hidden probabilities and sample given the data
            ph0, h0 = k.sigmoid_bernoulli(k.dense_forward(v0, W, c, "linear"), u)
            # visible reconstruction (probabilities)
            a = h0 @ W.T
            a += b
            pv1 = k.activation_forward(a, "sigmoid")
            # hidden probabilities given the reconstruction
            ph1 = k.dense_forward(pv1, W, c, "sigmoid")
            return k.cd_statistics(v0, ph0, pv1, ph1)
        return step

    ph0, h0 = K["numpy"].sigmoid_bernoulli(v0 @ W + c, u)
    pv1 = K["numpy"].activation_forward(h0 @ W.T + b, "sigmoid")
    ph1 = K["numpy"].dense_forward(pv1, W, c, "sigmoid")

    def cd1_blas():
        v0 @ W
        h0 @ W.T
        pv1 @ W
        v0.T @ ph0
        pv1.T @ ph1

    case = _case("rbm", f"RBM CD-1 update {d}x{h}, N={n}", K, cd1, blas=cd1_blas)
    if T is not None:
        tv0, tW, tb, tc, tu = (T.from_numpy(a) for a in (v0, W, b, c, u))

        def cd1_torch():
            ph0 = T.addmm(tc, tv0, tW).sigmoid_()
            h0 = (tu < ph0).to(T.float32)
            pv1 = T.addmm(tb, h0, tW.t()).sigmoid_()
            ph1 = T.addmm(tc, pv1, tW).sigmoid_()
            dW = (tv0.t() @ ph0).sub_(pv1.t() @ ph1).div_(n)
            return dW, (tv0 - pv1).mean(0), (ph0 - ph1).mean(0)

        case["torch"] = cd1_torch
    cases.append(case)

    # the RBM kernels one by one
    x = _rand(rng, n, h, scale=2.0)
    case = _case("rbm", f"sigmoid_bernoulli {n}x{h}", K,
                 lambda k: lambda: k.sigmoid_bernoulli(x, u))
    if T is not None:
        tx = T.from_numpy(x)

        def sb_torch():
            p = T.sigmoid(tx)
            return p, (tu < p).to(T.float32)
        case["torch"] = sb_torch
    cases.append(case)

    mean, sigma = _rand(rng, n, d), _unif(rng, d) + 0.5
    u1, u2 = _unif(rng, n, d), _unif(rng, n, d)
    case = _case("rbm", f"gaussian_sample {n}x{d}", K,
                 lambda k: lambda: k.gaussian_sample(mean, sigma, u1, u2))
    if T is not None:
        tm, ts, tu1, tu2 = (T.from_numpy(a) for a in (mean, sigma, u1, u2))
        case["torch"] = lambda: tm + ts * (T.sqrt(-2.0 * T.log1p(-tu1))
                                           * T.cos((2.0 * np.pi) * tu2))
    cases.append(case)

    case = _case("rbm", f"cd_statistics {d}x{h}, N={n}", K,
                 lambda k: lambda: k.cd_statistics(v0, ph0, pv1, ph1),
                 blas=lambda: (v0.T @ ph0, pv1.T @ ph1))
    if T is not None:
        tph0, tpv1, tph1 = (T.from_numpy(a) for a in (ph0, pv1, ph1))
        case["torch"] = lambda: ((tv0.t() @ tph0).sub_(tpv1.t() @ tph1).div_(n),
                                 (tv0 - tpv1).mean(0), (tph0 - tph1).mean(0))
    cases.append(case)

    case = _case("rbm", f"free_energy {n}x{d}, H={h}", K,
                 lambda k: lambda: k.free_energy(v0, W, b, c),
                 blas=lambda: (v0 @ W, v0 @ b))
    if T is not None:
        F = T.nn.functional
        case["torch"] = lambda: -(tv0 @ tb) - F.softplus(T.addmm(tc, tv0, tW)).sum(1)
    cases.append(case)
    return cases


# ------------------------------------------------------------------------------ dense


def _dense_cases(rng, K, T):
    n, d, h = DENSE["n"], DENSE["d"], DENSE["h"]
    x = _rand(rng, n, d)
    W, b = _rand(rng, d, h, scale=0.05), _rand(rng, h, scale=0.1)
    da = _rand(rng, n, h)
    cases = []
    for act in ("sigmoid", "relu"):
        a = K["numpy"].dense_forward(x, W, b, act)
        dz = K["numpy"].activation_backward(a, da, act)

        def run(k, act=act):
            def step():
                a = k.dense_forward(x, W, b, act)
                return k.dense_backward(x, W, a, da, act)
            return step

        def blas(dz=dz):
            x @ W
            dz @ W.T
            x.T @ dz

        case = _case("dense", f"dense {d}->{h} {act} fwd+bwd, N={n}", K, run, blas=blas)
        if T is not None:
            tx = T.from_numpy(x).requires_grad_()
            tW = T.from_numpy(W.copy()).requires_grad_()
            tb = T.from_numpy(b.copy()).requires_grad_()
            tda = T.from_numpy(da)
            f = T.sigmoid if act == "sigmoid" else T.relu

            def torch_step(f=f, tx=tx, tW=tW, tb=tb, tda=tda):
                for p in (tx, tW, tb):
                    p.grad = None
                f(T.addmm(tb, tx, tW)).backward(tda)

            case["torch"] = torch_step
        cases.append(case)

    z = _rand(rng, n, h, scale=2.0)
    for act in ("sigmoid", "tanh", "relu", "softmax"):
        a = K["numpy"].activation_forward(z, act)

        def run(k, act=act, a=a):
            def step():
                k.activation_forward(z, act)
                return k.activation_backward(a, da, act)
            return step

        case = _case("dense", f"activation {act} fwd+bwd {n}x{h}", K, run)
        if T is not None:
            tz, ta, tda = T.from_numpy(z), T.from_numpy(a), T.from_numpy(da)
            aten = T.ops.aten
            fb = {"sigmoid": (T.sigmoid, lambda: aten.sigmoid_backward(tda, ta)),
                  "tanh": (T.tanh, lambda: aten.tanh_backward(tda, ta)),
                  "relu": (T.relu, lambda: aten.threshold_backward(tda, ta, 0)),
                  "softmax": (lambda t: T.softmax(t, -1),
                              lambda: aten._softmax_backward_data(tda, ta, -1, T.float32))}
            fwd, bwd = fb[act]

            def torch_step(fwd=fwd, bwd=bwd, tz=tz):
                fwd(tz)
                return bwd()
            case["torch"] = torch_step
        cases.append(case)

    s = (rng.random((n, h)) * 0.2).astype(F32)
    case = _case("dense", f"sparsity_grad {n}x{h}", K,
                 lambda k: lambda: k.sparsity_grad(s, 0.05, 3.0))
    if T is not None:
        ts = T.from_numpy(s)

        def sp_torch(rho=0.05, beta=3.0):
            rh = ts.mean(0).clamp_(1e-7, 1 - 1e-7)
            pen = beta * (rho * T.log(rho / rh) + (1 - rho) * T.log((1 - rho) / (1 - rh))).sum()
            g = (beta / n) * (-rho / rh + (1 - rho) / (1 - rh))
            return pen, g.expand(n, h).contiguous()
        case["torch"] = sp_torch
    cases.append(case)

    xd, u1, u2 = _rand(rng, n, d), _unif(rng, n, d), _unif(rng, n, d)
    case = _case("dense", f"mask_corrupt {n}x{d}", K,
                 lambda k: lambda: k.mask_corrupt(xd, u1, 0.3))
    if T is not None:
        txd, tu1, tu2 = (T.from_numpy(a) for a in (xd, u1, u2))
        case["torch"] = lambda: txd * (tu1 >= 0.3)
    cases.append(case)
    case = _case("dense", f"gaussian_corrupt {n}x{d}", K,
                 lambda k: lambda: k.gaussian_corrupt(xd, u1, u2, 0.1))
    if T is not None:
        case["torch"] = lambda: txd + 0.1 * (T.sqrt(-2.0 * T.log1p(-tu1))
                                             * T.cos((2.0 * np.pi) * tu2))
    cases.append(case)
    return cases


# -------------------------------------------------------------------------- recurrent


def _rnn_cases(rng, K, T):
    t, n, d, h = RNN["t"], RNN["n"], RNN["d"], RNN["h"]
    x = _rand(rng, t, n, d)
    h0, c0 = np.zeros((n, h), F32), np.zeros((n, h), F32)
    dhs = _rand(rng, t, n, h)
    s = 1 / np.sqrt(h)
    cases = []
    for cell, g in (("elman", h), ("lstm", 4 * h), ("gru", 3 * h)):
        Wx, Wh = _rand(rng, d, g, scale=s), _rand(rng, h, g, scale=s)
        b = _rand(rng, g, scale=s)
        bh = _rand(rng, g, scale=s) if cell == "gru" else None
        if cell == "elman":
            def run(k, Wx=Wx, Wh=Wh, b=b):
                def step():
                    hs = k.elman_forward(x, h0, Wx, Wh, b, "tanh")
                    return k.elman_backward(dhs, x, h0, hs, Wx, Wh, "tanh")
                return step
            hs = K["numpy"].elman_forward(x, h0, Wx, Wh, b, "tanh")
            dZ = K["numpy"].activation_backward(hs.reshape(t * n, h),
                                                dhs.reshape(t * n, h), "tanh")
        elif cell == "lstm":
            def run(k, Wx=Wx, Wh=Wh, b=b):
                def step():
                    hs, cs, gates = k.lstm_forward(x, h0, c0, Wx, Wh, b)
                    return k.lstm_backward(dhs, x, h0, c0, hs, cs, gates, Wx, Wh)
                return step
            hs = K["numpy"].lstm_forward(x, h0, c0, Wx, Wh, b)[0]
            dZ = _rand(rng, t * n, g)
        else:
            def run(k, Wx=Wx, Wh=Wh, b=b, bh=bh):
                def step():
                    hs, gates, hn = k.gru_forward(x, h0, Wx, Wh, b, bh)
                    return k.gru_backward(dhs, x, h0, hs, gates, hn, Wx, Wh)
                return step
            hs = K["numpy"].gru_forward(x, h0, Wx, Wh, b, bh)[0]
            dZ = _rand(rng, t * n, g)
        X, HS = x.reshape(t * n, d), hs.reshape(t * n, h)

        def blas(Wx=Wx, Wh=Wh, dZ=dZ, HS=HS, X=X):
            # forward: X Wx once, then h_{t-1} Wh per step
            X @ Wx
            for i in range(t):
                HS[i * n:(i + 1) * n] @ Wh
            # backward: dz_t Wh^T per step, then dX, dWx, dWh as single products
            for i in range(t):
                dZ[i * n:(i + 1) * n] @ Wh.T
            dZ @ Wx.T
            X.T @ dZ
            HS.T @ dZ

        label = {"elman": "Elman (tanh)", "lstm": "LSTM", "gru": "GRU"}[cell]
        case = _case("recurrent", f"{label} T={t} N={n} D={d} H={h} fwd+BPTT", K, run,
                     blas=blas)
        if T is not None:
            mod = {"elman": T.nn.RNN, "lstm": T.nn.LSTM, "gru": T.nn.GRU}[cell](d, h)
            tx = T.from_numpy(x).requires_grad_()
            th0 = T.zeros(1, n, h)
            tdhs = T.from_numpy(dhs)

            def torch_step(mod=mod, tx=tx, th0=th0, tdhs=tdhs, lstm=cell == "lstm"):
                for p in list(mod.parameters()) + [tx]:
                    p.grad = None
                y, _ = mod(tx, (th0, th0) if lstm else th0)
                y.backward(tdhs)

            case["torch"] = torch_step
        cases.append(case)
        if cell == "gru":              # (the GRU has whole-sequence kernels only)
            continue

        # one step forward + backward (the step kernels), N = 32
        x1, h1, c1, dh1 = x[0], _rand(rng, n, h), _rand(rng, n, h), dhs[0]
        if cell == "elman":
            def run1(k, Wx=Wx, Wh=Wh, b=b):
                def step():
                    hh = k.elman_step_forward(x1, h1, Wx, Wh, b, "tanh")
                    return k.elman_step_backward(dh1, x1, h1, hh, Wx, Wh, "tanh")
                return step
        else:
            def run1(k, Wx=Wx, Wh=Wh, b=b):
                def step():
                    hh, cc, gg = k.lstm_step_forward(x1, h1, c1, Wx, Wh, b)
                    return k.lstm_step_backward(dh1, dh1, x1, h1, c1, cc, gg, Wx, Wh)
                return step
        case = _case("recurrent", f"{cell}_step fwd+bwd N={n} D={d} H={h}", K, run1)
        if T is not None:
            mod = (T.nn.RNNCell if cell == "elman" else T.nn.LSTMCell)(d, h)
            tx1, th1, tc1, tdh1 = (T.from_numpy(a) for a in (x1, h1, c1, dh1))
            tx1.requires_grad_()
            th1.requires_grad_()
            tc1.requires_grad_()

            def torch_step1(mod=mod, lstm=cell == "lstm"):
                for p in list(mod.parameters()) + [tx1, th1, tc1]:
                    p.grad = None
                if lstm:
                    hh, cc = mod(tx1, (th1, tc1))
                    T.autograd.backward([hh, cc], [tdh1, tdh1])
                else:
                    mod(tx1, th1).backward(tdh1)

            case["torch"] = torch_step1
        cases.append(case)
    return cases


# ------------------------------------------------------------------------------- main


def cases(threads):
    """Every benchmark case of this file at ``threads`` threads (same dict format as
    ``bench/_conv_pool_cases.py``)."""
    # load the backends first: a thread limit only reaches the BLAS libraries already
    # loaded, and the compiled kernels load SciPy's
    K = {name: deepbio.backend.get(name).kernels for name in ("numpy", "cython")}
    deepbio.set_num_threads(threads)
    T = _torch(threads)
    rng = np.random.default_rng(0)
    return _rbm_cases(rng, K, T) + _dense_cases(rng, K, T) + _rnn_cases(rng, K, T)


def _conv_pool(threads):
    try:
        import _conv_pool_cases
    except ImportError:
        return []
    out = _conv_pool_cases.cases(threads)
    deepbio.set_num_threads(threads)   # (re)set both knobs after the other module
    _torch(threads)
    return out


def machine():
    """A short description of this machine and of the library versions."""
    model, cores = platform.processor() or platform.machine(), os.cpu_count()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import scipy
    from threadpoolctl import threadpool_info
    blas = sorted({f"{i['internal_api']} {i['version']} ({i.get('architecture')})"
                   for i in threadpool_info() if i["user_api"] == "blas"})
    versions = f"Python {platform.python_version()}, NumPy {np.__version__}, SciPy {scipy.__version__}"
    try:
        import torch
        versions += f", PyTorch {torch.__version__}"
    except ImportError:
        versions += ", PyTorch not installed"
    from deepbio._kernels import cpu
    info = cpu.build_info()
    return (f"{model}, {cores} logical CPUs; {versions}; BLAS: {'; '.join(blas)}; "
            f"deepbio Cython build: openmp={info['openmp']} debug={info['debug']}")


TARGETS = (
    # (case name prefix, description, check(times) -> (ratio, limit, what))
    ("Elman", "Elman fwd+BPTT <= 0.5x torch.nn.RNN", "torch", 0.5),
    ("LSTM", "LSTM fwd+BPTT <= 0.7x torch.nn.LSTM", "torch", 0.7),
    ("LSTM", "LSTM fwd+BPTT <= 0.4x torch.nn.LSTM (issue #22)", "torch", 0.4),
    ("GRU", "GRU fwd+BPTT <= 0.4x torch.nn.GRU (issue #22)", "torch", 0.4),
    ("RBM CD-1", "RBM CD-1 <= 1.25x its matrix products alone", "blas", 1.25),
    ("RBM CD-1", "RBM CD-1 faster than PyTorch", "torch", 1.0),
    ("LeNet-5", "LeNet-5 conv+pool fwd+bwd <= 0.5x PyTorch", "torch", 0.5),
)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2, help="threads for deepbio and torch")
    ap.add_argument("--repeat", type=int, default=None, help="timed calls per median "
                    "(default 50, or 10 with --quick)")
    ap.add_argument("--quick", action="store_true", help="few repeats: a smoke test")
    ap.add_argument("-k", default="", help="only cases whose name contains this")
    ap.add_argument("--json", default=None, help="also write the results to this file")
    args = ap.parse_args(argv)
    repeat = args.repeat or (10 if args.quick else 50)
    quiet = 0.05 if args.quick else 0.3

    load_start = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    all_cases = cases(args.threads) + _conv_pool(args.threads)
    print(machine())
    print(process_note())
    print(f"threads={args.threads}, float32, median of {repeat} calls, microseconds")
    head = (f"{'family':9s} {'case':46s} {'numpy':>9s} {'cython':>9s} {'torch':>9s} "
            f"{'blas':>9s} {'cy/torch':>8s} {'cy/np':>6s} {'cy/blas':>7s}")
    print(head)
    print("-" * len(head))
    results = []
    for case in all_cases:
        if args.k not in case["name"]:
            continue
        t = {k: (time_us(case[k], repeat, quiet=quiet) if case.get(k) is not None
                 else float("nan")) for k in ("numpy", "cython", "torch", "blas")}
        results.append(dict(family=case["family"], name=case["name"], **t))
        print(f"{case['family']:9s} {case['name'][:46]:46s} {t['numpy']:9.0f} "
              f"{t['cython']:9.0f} {t['torch']:9.0f} {t['blas']:9.0f} "
              f"{t['cython'] / t['torch']:8.2f} {t['cython'] / t['numpy']:6.3f} "
              f"{t['cython'] / t['blas']:7.2f}", flush=True)

    print("\ntargets (2 threads, float32):" if args.threads == 2 else
          f"\ntargets (stated for 2 threads; this run used {args.threads}):")
    for prefix, what, against, limit in TARGETS:
        hits = [r for r in results if r["name"].startswith(prefix)]
        if not hits or np.isnan(hits[0][against]):
            print(f"  {what}: not measured")
            continue
        ratio = hits[0]["cython"] / hits[0][against]
        print(f"  {what}: {ratio:.2f}  {'met' if ratio <= limit else 'MISSED'}")
    slower = [r["name"] for r in results if not r["cython"] < r["numpy"]]
    print(f"  every kernel faster than its NumPy reference: "
          f"{'met' if not slower else 'MISSED: ' + ', '.join(slower)}")
    if args.json:
        import datetime
        from deepbio.io import write_atomic
        doc = dict(machine=machine(), cpu_count=os.cpu_count(), threads=args.threads,
                   repeat=repeat, quick=args.quick,
                   date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                   loadavg_at_start=load_start,
                   loadavg_at_end=list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
                   results=results)
        write_atomic(args.json, (json.dumps(doc, indent=1) + "\n").encode(),
                     action="write the benchmark results")


if __name__ == "__main__":
    main()
