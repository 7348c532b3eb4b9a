"""GPU benchmark: parity and speed of the ``cupy`` and ``numba`` backends against the NumPy
reference and PyTorch CUDA, in one run (issue #13).

    python bench/gpu.py [--backends cupy,numba] [--repeats 20] [--quick] [--markdown FILE]

It reports, for each GPU backend that runs here:

1. **parity**: every contract kernel, float32, on moderate example shapes, against the
   NumPy reference: the largest relative error ``max|got - ref| / max(max|ref|, 1e-30)``
   over all outputs (target: float32 tolerance, <= 1e-4);
2. **matrix products**: ``xp.matmul`` (cuBLAS), the Numba shared-memory tiled GEMM
   (``deepbio._kernels.numba.gemm.matmul``, the teaching twin) and ``torch.matmul``, on
   square float32 matrices: GFLOP/s (target: tiled GEMM within 3x of cuBLAS);
3. **training steps**, against PyTorch CUDA eager and ``torch.compile`` (where it works):
   one SGD step of LeNet-5 (batch 64), one of an LSTM (T = 100, N = 32, 20 inputs, 128
   units, forward and BPTT), and one RBM CD-1 step (784 x 500, batch 100); median
   milliseconds and ratios deepbio / torch (target: <= 1.0 against eager).

Every timed call ends in a device synchronisation (``Backend.synchronize()``,
``torch.cuda.synchronize()``), contenders run round robin after a warm-up, and all of
them share this process.  The run prints the GPU's name; ``--markdown`` also writes the
tables (``docs/benchmarks_gpu.md``).

A backend on a simulator (Numba's CUDA simulator) is never timed; ``--quick`` shrinks
every shape for a smoke run (``--tiny``, smaller still and one repeat, is what the test
suite runs on the host build of the CUDA C kernels).  The parity part uses the example builder of the test suite
(``tests/kernels/_examples.py``, which needs hypothesis: ``pip install ".[test]"``).
"""
import argparse
import os
import platform
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

import deepbio  # noqa: E402
from deepbio import backend as _backend  # noqa: E402
from deepbio._kernels import CONTRACT  # noqa: E402
from _timing import process_note, report  # noqa: E402
from models_cnn_rnn import LR, MOMENTUM, cases as step_cases, data, deepbio_step  # noqa: E402

GPU_BACKENDS = ("cupy", "numba")


# ----------------------------------------------------------------------- helpers


def usable_gpu_backends(requested):
    """The requested GPU backends that run here on a device (not on a simulator)."""
    out = []
    for name in requested:
        try:
            be = _backend.get(name)
        except deepbio.BackendError as e:
            print(f"# {name}: not run ({e})")
            continue
        if be.simulated:
            print(f"# {name}: runs on a simulator here, not timed")
            continue
        out.append(name)
    return out


def timed(fn, sync, repeats, warmup=3):
    """Median seconds of ``fn(); sync()`` over ``repeats`` calls after ``warmup``."""
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def round_robin(contenders, repeats, warmup=3):
    """``{name: median seconds}`` for ``[(name, fn, sync)]``, timed in turn."""
    for _, fn, sync in contenders:
        for _ in range(warmup):
            fn()
        sync()
    times = {name: [] for name, _, _ in contenders}
    for _ in range(repeats):
        for name, fn, sync in contenders:
            t0 = time.perf_counter()
            fn()
            sync()
            times[name].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def table(rows):
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for i, r in enumerate(rows):
        lines.append("| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |")
        if i == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return lines


def _torch_cuda():
    try:
        import torch
    except ImportError:
        print("# PyTorch is not installed: no PyTorch columns")
        return None
    if not torch.cuda.is_available():
        print("# PyTorch has no CUDA device here: no PyTorch columns")
        return None
    return torch


def gpu_name(backends):
    for name in backends:
        xp = _backend.get(name).xp
        try:
            props = xp.cuda.runtime.getDeviceProperties(xp.cuda.Device().id)
            n = props["name"]
            return n.decode() if isinstance(n, bytes) else str(n)
        except Exception:
            continue
    return "unknown GPU"


# ------------------------------------------------------------------------ 1. parity


PARITY_DIMS = {"N": 64, "D": 96, "H": 80, "T": 12, "C": 3, "F": 8, "IH": 20, "IW": 18,
               "L": 50, "n": 100_003}


def parity(backends, quick):
    from tests.kernels._examples import make_args
    ref = _backend.get("numpy").kernels
    dims = {} if quick else PARITY_DIMS
    rows = [["kernel"] + [f"{b} max rel. error" for b in backends]]
    worst = {b: 0.0 for b in backends}
    for name in sorted(CONTRACT):
        args = make_args(name, np.float32, np.random.default_rng(0), dims)
        want = getattr(ref, name)(**args)
        want = want if isinstance(want, tuple) else (want,)
        row = [name]
        for b in backends:
            be = _backend.get(b)
            dev = {k: be.asarray(v) if isinstance(v, np.ndarray) and v.dtype.kind == "f"
                   else (be.xp.asarray(v) if isinstance(v, np.ndarray) else v)
                   for k, v in args.items()}
            got = getattr(be.kernels, name)(**dev)
            got = got if isinstance(got, tuple) else (got,)
            err = 0.0
            for g, w in zip(got, want):
                g, w = be.to_numpy(g).astype(np.float64), np.asarray(w, np.float64)
                scale = max(float(np.max(np.abs(w))) if w.size else 0.0, 1e-30)
                err = max(err, float(np.max(np.abs(g - w))) / scale if w.size else 0.0)
            worst[b] = max(worst[b], err)
            row.append(f"{err:.1e}")
        rows.append(row)
    return rows, worst


# ------------------------------------------------------------- 2. matrix products


def gemm(backends, torch, quick, repeats):
    n = 256 if quick else 4096
    flops = 2.0 * n ** 3
    rng = np.random.default_rng(0)
    A, B = (rng.standard_normal((n, n)).astype(np.float32) for _ in range(2))
    rows = [["matrix product", "ms", "GFLOP/s"]]
    results = {}
    for b in backends:
        be = _backend.get(b)
        a, bb = be.asarray(A), be.asarray(B)
        results[f"{b}: xp.matmul (cuBLAS)"] = timed(lambda: be.xp.matmul(a, bb),
                                                   be.synchronize, repeats)
        if b == "numba":
            from deepbio._kernels.numba import gemm as tiled
            before = tiled.get_matmul()
            tiled.set_matmul("tiled")
            try:
                results["numba: tiled GEMM (shared memory)"] = timed(
                    lambda: tiled.matmul(a, bb), be.synchronize, repeats)
            finally:
                tiled.set_matmul(before)
    if torch is not None:
        ta, tb = (torch.from_numpy(M).cuda() for M in (A, B))
        results["torch.matmul"] = timed(lambda: torch.matmul(ta, tb), torch.cuda.synchronize,
                                        repeats)
    for k, t in results.items():
        rows.append([k, f"{t * 1e3:.3f}", f"{flops / t / 1e9:.0f}"])
    return rows, results


# ------------------------------------------------------------- 3. training steps


def torch_step(torch, factory, X, y, compiled):
    torch.manual_seed(0)
    model = factory(torch).cuda()
    if compiled:
        model = torch.compile(model)
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    loss_fn = torch.nn.CrossEntropyLoss()
    Xt, yt = torch.from_numpy(X).cuda(), torch.from_numpy(y).cuda()

    def step():
        opt.zero_grad()
        loss_fn(model(Xt), yt).backward()
        opt.step()
    return step


def rbm_step_deepbio(backend, V):
    """One CD-1 step (sampling, statistics, momentum update) of a 784 x 500 RBM."""
    be = _backend.get(backend)
    with deepbio.use_backend(backend):
        rbm = deepbio.RBM(n_components=500, batch_size=len(V), n_iter=1, learning_rate=0.1,
                          momentum=0.5, random_state=0)
        rbm.partial_fit(V)                        # initialises the model on the device
        v = be.asarray(V, dtype=np.float32)

    def step():
        with deepbio.use_backend(backend):
            rbm._cd_step(be, v, rbm._stream)
    return step


def rbm_step_torch(torch, V):
    gen = torch.Generator(device="cuda").manual_seed(0)
    v0 = torch.from_numpy(V).cuda()
    d, h = v0.shape[1], 500
    W = 0.01 * torch.randn(d, h, device="cuda", generator=gen)
    b, c = torch.zeros(d, device="cuda"), torch.zeros(h, device="cuda")
    vel = [torch.zeros_like(p) for p in (W, b, c)]

    def step():
        with torch.no_grad():
            h0 = torch.sigmoid(v0 @ W + c)
            hs = (torch.rand(h0.shape, device="cuda", generator=gen) < h0).float()
            vk = torch.sigmoid(hs @ W.T + b)
            hk = torch.sigmoid(vk @ W + c)
            m = v0.shape[0]
            grads = ((v0.T @ h0 - vk.T @ hk) / m, (v0 - vk).mean(0), (h0 - hk).mean(0))
            for p, g, u in zip((W, b, c), grads, vel):
                u.mul_(0.5).add_(g, alpha=0.1)
                p.add_(u)
    return step


def training_steps(backends, torch, quick, repeats, tiny=False, warmup=3):
    all_cases = step_cases(quick)
    if tiny:                               # the test suite's smoke run: 2 images, T = 3
        all_cases = {"lenet5": all_cases["lenet5"][:3] + (2,),
                     "lstm": ((3, 20),) + all_cases["lstm"][1:3] + (2,)}
    rows = [["step"] + [f"deepbio {b} (ms)" for b in backends]
            + (["torch eager (ms)", "torch.compile (ms)"] + [f"{b} / eager" for b in backends]
               if torch is not None else [])]
    results = {}
    specs = []
    for name in ("lenet5", "lstm"):
        shape, layers, factory, n = all_cases[name]
        X, y = data(shape, n)
        specs.append((name, [(b, deepbio_step(b, shape, layers, X, y),
                              _backend.get(b).synchronize) for b in backends],
                      None if torch is None else (lambda c, f=factory, X=X, y=y:
                                                  torch_step(torch, f, X, y, c))))
    V = (np.random.default_rng(0).random((2 if tiny else 20 if quick else 100, 784))
         < 0.3).astype(np.float32)
    specs.append(("rbm_cd1", [(b, rbm_step_deepbio(b, V), _backend.get(b).synchronize)
                              for b in backends],
                  None if torch is None else (lambda c: rbm_step_torch(torch, V))))
    for name, contenders, make_torch in specs:
        if make_torch is not None:
            contenders = contenders + [("torch eager", make_torch(False),
                                        torch.cuda.synchronize)]
            try:
                compiled = make_torch(True) if name != "rbm_cd1" else None
                if compiled is not None:
                    compiled()                    # compile outside the timing
                    contenders.append(("torch.compile", compiled, torch.cuda.synchronize))
            except Exception as e:                # no Triton / no compiler here
                print(f"# torch.compile failed for {name}: {type(e).__name__}: {e}")
        med = round_robin(contenders, repeats, warmup)
        results[name] = med
        row = [name] + [f"{med[b] * 1e3:.3f}" for b in backends]
        if torch is not None:
            eager = med["torch eager"]
            comp = med.get("torch.compile")
            row += [f"{eager * 1e3:.3f}", "-" if comp is None else f"{comp * 1e3:.3f}"]
            row += [f"{med[b] / eager:.2f}" for b in backends]
        rows.append(row)
    return rows, results


# ---------------------------------------------------------------------------- main


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--backends", default=",".join(GPU_BACKENDS))
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--quick", action="store_true", help="small shapes, 3 repeats")
    p.add_argument("--markdown", help="also write the tables to this file")
    p.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)   # the tests' run
    args = p.parse_args(argv)
    args.quick = args.quick or args.tiny
    repeats = 1 if args.tiny else 3 if args.quick else args.repeats
    backends = usable_gpu_backends([b for b in args.backends.split(",") if b])
    if not backends:
        print("No GPU backend runs here: nothing to measure.")
        return 1
    torch = _torch_cuda()
    lines = [f"# deepbio GPU benchmark: {gpu_name(backends)}",
             "",
             f"deepbio {deepbio.__version__}, backends {', '.join(backends)}"
             + (f", torch {torch.__version__}" if torch is not None else "")
             + f"; {platform.machine()}, Python {platform.python_version()}; "
             f"{'quick shapes, ' if args.quick else ''}medians of {repeats}; "
             f"{process_note()}.", ""]
    prows, worst = parity(backends, args.quick)
    lines += ["## Parity (float32, against the NumPy reference)", ""] + table(prows)
    lines += ["", "Largest error per backend: "
              + ", ".join(f"{b} {worst[b]:.1e} ({'met' if worst[b] <= 1e-4 else 'MISSED'})"
                          for b in backends), ""]
    grows, gres = gemm(backends, torch, args.quick, repeats)
    lines += ["## Matrix products (float32)", ""] + table(grows) + [""]
    tiled, cublas = gres.get("numba: tiled GEMM (shared memory)"), \
        gres.get("numba: xp.matmul (cuBLAS)")
    if tiled is not None and cublas is not None:
        lines += [f"Tiled GEMM / cuBLAS: {tiled / cublas:.2f}x (target <= 3: "
                  f"{'met' if tiled / cublas <= 3 else 'MISSED'})", ""]
    srows, _ = training_steps(backends, torch, args.quick, repeats, args.tiny,
                              warmup=1 if args.tiny else 3)
    lines += ["## Training steps (float32)", ""] + table(srows) + [""]
    report("\n".join(lines), args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
