"""Benchmark cases of the convolution and pooling kernels (used by ``bench/kernels.py``).

:func:`cases` returns one dict per case: ``family``, ``name``, and callables ``numpy``
(the reference kernels), ``cython``, ``torch`` (the same operations in PyTorch CPU, or None
without torch) and ``blas`` (the case's matrix products alone: the same per-image products
the Cython kernels ask BLAS for, the batch shared among the same number of threads; None
where there are none).  Each callable runs the operation once; the data are prepared here,
outside the callables.  Everything is float32.

deepbio's kernels are called through ``backend.kernels`` (the validated public entry
points, as ``deepbio.nn`` calls them); the LeNet-5 case is repeated through
``backend.kernels.raw`` (no validation) to show what the checks cost.  The PyTorch side of a backward pass is what autograd runs for it:
``aten.convolution_backward`` with the same output mask, ``max_pool2d_with_indices_backward``,
``avg_pool2d_backward``.  Composite cases (LeNet-5, one-hot DNA) run forward and backward
in one call on both sides; in PyTorch through ``autograd`` with the input not requiring a
gradient, so neither side computes the gradient with respect to the network's input.

``python bench/_conv_pool_cases.py [--threads 2] [--repeat 200] [--stat min]`` times these
cases alone and prints medians (or minima) in microseconds.
"""
import os
import sys

import numpy as np

# run from a checkout without installing (bench/kernels.py, which imports this module,
# does the same)
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import deepbio  # noqa: E402
import deepbio.backend  # noqa: E402
from _timing import process_note, time_us  # noqa: E402

DTYPE = np.float32

# LeNet-5 feature extractor: batch 64 of 1x28x28; conv 6@5x5 -> 24x24, max-pool 2 -> 12x12,
# conv 16@5x5 -> 8x8, max-pool 2 -> 4x4.
LENET = dict(n=64, c0=1, hw=28, f1=6, f2=16, k=5)
# Motif scanner over one-hot DNA: N=64 sequences of length 200, 32 filters of width 12.
DNA = dict(n=64, c=4, length=200, f=32, k=12)


def _torch(threads):
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    return torch


def _one_hot_dna(rng, n, length):
    x = np.zeros((n, 4, length), dtype=DTYPE)
    x[np.arange(n)[:, None], rng.integers(0, 4, (n, length)), np.arange(length)[None, :]] = 1
    return x


def _per_image_products(threads, rng, specs):
    """A callable running per-image matrix products, the batch split among ``threads``.

    ``specs``: ``(n, (m, k), (k, n2))`` for ``n`` products ``A (m, k) @ B_i (k, n2)`` with
    one shared ``A``, the shapes in which the conv kernels call BLAS once per image.  Each
    thread runs ``numpy.matmul`` on its share of the stack (numpy calls BLAS once per
    image and lets go of the GIL), as the kernels run their images: the BLAS floor.
    """
    from concurrent.futures import ThreadPoolExecutor
    mats = [(rng.standard_normal(a_shape).astype(DTYPE),
             rng.standard_normal((n,) + b_shape).astype(DTYPE)) for n, a_shape, b_shape in specs]
    outs = [np.empty((b.shape[0], a.shape[0], b.shape[2]), DTYPE) for a, b in mats]
    pool = ThreadPoolExecutor(threads)
    shares = [slice(t * specs[0][0] // threads, (t + 1) * specs[0][0] // threads)
              for t in range(threads)]

    def share(sl):
        for (a, b), out in zip(mats, outs):
            np.matmul(a, b[sl], out=out[sl])

    def run():
        for f in [pool.submit(share, sl) for sl in shares]:
            f.result()
    return run


def _lenet(rng, K, T, threads):
    d = LENET
    n, k = d["n"], d["k"]
    x = rng.standard_normal((n, d["c0"], d["hw"], d["hw"])).astype(DTYPE)
    w1 = (rng.standard_normal((d["f1"], d["c0"], k, k)) * 0.2).astype(DTYPE)
    b1 = (rng.standard_normal(d["f1"]) * 0.1).astype(DTYPE)
    w2 = (rng.standard_normal((d["f2"], d["f1"], k, k)) * 0.1).astype(DTYPE)
    b2 = (rng.standard_normal(d["f2"]) * 0.1).astype(DTYPE)
    h1 = d["hw"] - k + 1            # 24
    h2 = h1 // 2 - k + 1            # 8
    dp2 = rng.standard_normal((n, d["f2"], h2 // 2, h2 // 2)).astype(DTYPE)

    def run(kern):
        def step():
            y1 = kern.conv2d_forward(x, w1, b1, 1, 0)                  # (64, 6, 24, 24)
            p1, a1 = kern.maxpool2d_forward(y1, 2, 2)                 # (64, 6, 12, 12)
            y2 = kern.conv2d_forward(p1, w2, b2, 1, 0)                 # (64, 16, 8, 8)
            p2, a2 = kern.maxpool2d_forward(y2, 2, 2)                 # (64, 16, 4, 4)
            dy2 = kern.maxpool2d_backward(dp2, a2, (h2, h2))
            dp1 = kern.conv2d_backward_input(dy2, w2, (h1 // 2, h1 // 2), 1, 0)
            dw2, db2 = kern.conv2d_backward_weight(dy2, p1, (k, k), 1, 0)
            dy1 = kern.maxpool2d_backward(dp1, a1, (h1, h1))
            dw1, db1 = kern.conv2d_backward_weight(dy1, x, (k, k), 1, 0)
            return dw1, db1, dw2, db2
        return step

    def run_raw(kern):
        r = kern.raw
        s1, p0, two, k2 = (1, 1), (0, 0), (2, 2), (k, k)

        def step():
            y1 = r["conv2d_forward"](x, w1, b1, s1, p0)
            p1, a1 = r["maxpool2d_forward"](y1, two, two)
            y2 = r["conv2d_forward"](p1, w2, b2, s1, p0)
            p2, a2 = r["maxpool2d_forward"](y2, two, two)
            dy2 = r["maxpool2d_backward"](dp2, a2, (h2, h2))
            dp1 = r["conv2d_backward_input"](dy2, w2, (h1 // 2, h1 // 2), s1, p0)
            dw2, db2 = r["conv2d_backward_weight"](dy2, p1, k2, s1, p0)
            dy1 = r["maxpool2d_backward"](dp1, a1, (h1, h1))
            dw1, db1 = r["conv2d_backward_weight"](dy1, x, k2, s1, p0)
            return dw1, db1, dw2, db2
        return step

    # the kernels' matrix products, per image, in the orientation they call BLAS:
    # y_i = w cols_i;  dw^T += cols_i dy_i^T;  cols_i = w^T dy_i
    kk1, kk2, p1n, p2n = d["c0"] * k * k, d["f1"] * k * k, h1 * h1, h2 * h2
    blas = _per_image_products(threads, rng, [
        (n, (d["f1"], kk1), (kk1, p1n)),        # conv1 forward
        (n, (kk1, p1n), (p1n, d["f1"])),        # conv1 weight gradient
        (n, (d["f2"], kk2), (kk2, p2n)),        # conv2 forward
        (n, (kk2, p2n), (p2n, d["f2"])),        # conv2 weight gradient
        (n, (kk2, d["f2"]), (d["f2"], p2n)),    # conv2 input gradient (before col2im)
    ])

    name = "LeNet-5 conv+pool fwd+bwd (N=64)"
    cases = [dict(family="conv", name=name, blas=blas, numpy=run(K["numpy"]),
                  cython=run(K["cython"]), torch=None),
             dict(family="conv", name=name + ", kernels.raw", blas=blas,
                  numpy=run_raw(K["numpy"]), cython=run_raw(K["cython"]), torch=None)]
    if T is not None:
        F = T.nn.functional
        tx, tdp2 = T.from_numpy(x), T.from_numpy(dp2)
        params = [T.from_numpy(a.copy()).requires_grad_() for a in (w1, b1, w2, b2)]

        def torch_step():
            tw1, tb1, tw2, tb2 = params
            for p in params:
                p.grad = None
            y = F.max_pool2d(F.conv2d(tx, tw1, tb1), 2)
            y = F.max_pool2d(F.conv2d(y, tw2, tb2), 2)
            y.backward(tdp2)

        for case in cases:
            case["torch"] = torch_step
    return cases


def _dna(rng, K, T, threads):
    d = DNA
    x = _one_hot_dna(rng, d["n"], d["length"])
    w = (rng.standard_normal((d["f"], d["c"], d["k"])) * 0.3).astype(DTYPE)
    b = (rng.standard_normal(d["f"]) * 0.1).astype(DTYPE)
    ol = d["length"] - d["k"] + 1
    dy = rng.standard_normal((d["n"], d["f"], ol)).astype(DTYPE)

    def run(kern):
        def step():
            kern.conv1d_forward(x, w, b, 1, 0)
            return kern.conv1d_backward_weight(dy, x, d["k"], 1, 0)
        return step

    kk = d["c"] * d["k"]
    blas = _per_image_products(threads, rng, [(d["n"], (d["f"], kk), (kk, ol)),
                                              (d["n"], (kk, ol), (ol, d["f"]))])
    cases = [dict(family="conv", name="conv1d one-hot DNA fwd+bwd-weight (64x4x200, 32@12)",
                  numpy=run(K["numpy"]), cython=run(K["cython"]), torch=None, blas=blas)]
    if T is not None:
        tx, tdy = T.from_numpy(x), T.from_numpy(dy)
        tw, tb = (T.from_numpy(a.copy()).requires_grad_() for a in (w, b))

        def torch_step():
            tw.grad = tb.grad = None
            T.nn.functional.conv1d(tx, tw, tb).backward(tdy)

        cases[0]["torch"] = torch_step
    return cases


def _conv_kernels(rng, K, T):
    """Each conv kernel alone: conv2d at LeNet's second convolution, conv1d on DNA."""
    out = []
    d = LENET
    x2 = rng.standard_normal((d["n"], d["f1"], 12, 12)).astype(DTYPE)
    w2 = (rng.standard_normal((d["f2"], d["f1"], 5, 5)) * 0.1).astype(DTYPE)
    b2 = np.zeros(d["f2"], DTYPE)
    dy2 = rng.standard_normal((d["n"], d["f2"], 8, 8)).astype(DTYPE)
    e = DNA
    x1 = _one_hot_dna(rng, e["n"], e["length"])
    w1 = (rng.standard_normal((e["f"], e["c"], e["k"])) * 0.3).astype(DTYPE)
    b1 = np.zeros(e["f"], DTYPE)
    dy1 = rng.standard_normal((e["n"], e["f"], e["length"] - e["k"] + 1)).astype(DTYPE)
    specs = [
        ("conv2d_forward", "64x6x12x12 * 16@5x5", (x2, w2, b2, 1, 0),
         lambda t: t.nn.functional.conv2d(t.from_numpy(x2), t.from_numpy(w2), t.from_numpy(b2))),
        ("conv2d_backward_input", "64x16x8x8 -> 64x6x12x12", (dy2, w2, (12, 12), 1, 0),
         lambda t: t.ops.aten.convolution_backward(
             t.from_numpy(dy2), t.from_numpy(x2), t.from_numpy(w2), [d["f2"]], [1, 1], [0, 0],
             [1, 1], False, [0, 0], 1, [True, False, False])),
        ("conv2d_backward_weight", "64x16x8x8, 64x6x12x12", (dy2, x2, (5, 5), 1, 0),
         lambda t: t.ops.aten.convolution_backward(
             t.from_numpy(dy2), t.from_numpy(x2), t.from_numpy(w2), [d["f2"]], [1, 1], [0, 0],
             [1, 1], False, [0, 0], 1, [False, True, True])),
        ("conv1d_forward", "64x4x200 * 32@12", (x1, w1, b1, 1, 0),
         lambda t: t.nn.functional.conv1d(t.from_numpy(x1), t.from_numpy(w1), t.from_numpy(b1))),
        ("conv1d_backward_input", "64x32x189 -> 64x4x200", (dy1, w1, e["length"], 1, 0),
         lambda t: t.ops.aten.convolution_backward(
             t.from_numpy(dy1), t.from_numpy(x1), t.from_numpy(w1), [e["f"]], [1], [0], [1],
             False, [0], 1, [True, False, False])),
        ("conv1d_backward_weight", "64x32x189, 64x4x200", (dy1, x1, e["k"], 1, 0),
         lambda t: t.ops.aten.convolution_backward(
             t.from_numpy(dy1), t.from_numpy(x1), t.from_numpy(w1), [e["f"]], [1], [0], [1],
             False, [0], 1, [False, True, True])),
    ]
    for kname, shape, args, tfn in specs:
        out.append(dict(family="conv", name=f"{kname} {shape}", blas=None,
                        numpy=_bind(K["numpy"], kname, args), cython=_bind(K["cython"], kname, args),
                        torch=(lambda f=tfn: f(T)) if T is not None else None))
    return out


def _bind(kern, name, args):
    f = getattr(kern, name)
    return lambda: f(*args)


def _pool(rng, K, T):
    """Each pooling kernel: 2-d at LeNet's first pool, 1-d over the DNA scanner's output."""
    out = []
    x2 = rng.standard_normal((LENET["n"], LENET["f1"], 24, 24)).astype(DTYPE)
    x1 = rng.standard_normal((DNA["n"], DNA["f"], 189)).astype(DTYPE)
    for dim, x, kern_size, stride, in_size in ((2, x2, (2, 2), (2, 2), (24, 24)),
                                               (1, x1, 4, 4, 189)):
        ref = K["numpy"]
        y, argmax = getattr(ref, f"maxpool{dim}d_forward")(x, kern_size, stride)
        dy = rng.standard_normal(y.shape).astype(DTYPE)
        shape = "x".join(map(str, x.shape)) + f" k{kern_size} s{stride}"
        args = {
            f"maxpool{dim}d_forward": (x, kern_size, stride),
            f"maxpool{dim}d_backward": (dy, argmax, in_size),
            f"avgpool{dim}d_forward": (x, kern_size, stride),
            f"avgpool{dim}d_backward": (dy, in_size, kern_size, stride),
        }
        tfns = {}
        if T is not None:
            tk, ts = (list(kern_size) if dim == 2 else [1, kern_size],
                      list(stride) if dim == 2 else [1, stride])
            tx = T.from_numpy(x if dim == 2 else x[:, :, None, :])
            tdy = T.from_numpy(dy if dim == 2 else dy[:, :, None, :])
            _, tidx = T.ops.aten.max_pool2d_with_indices(tx, tk, ts)
            pool = T.nn.functional.max_pool1d if dim == 1 else T.nn.functional.max_pool2d
            avg = T.nn.functional.avg_pool1d if dim == 1 else T.nn.functional.avg_pool2d
            tx0 = T.from_numpy(x)
            tfns = {
                f"maxpool{dim}d_forward": lambda pool=pool, tx0=tx0: pool(
                    tx0, kern_size, stride, return_indices=True),
                f"maxpool{dim}d_backward": lambda tdy=tdy, tx=tx, tk=tk, ts=ts, tidx=tidx:
                    T.ops.aten.max_pool2d_with_indices_backward(tdy, tx, tk, ts, [0, 0], [1, 1],
                                                                False, tidx),
                f"avgpool{dim}d_forward": lambda avg=avg, tx0=tx0: avg(tx0, kern_size, stride),
                f"avgpool{dim}d_backward": lambda tdy=tdy, tx=tx, tk=tk, ts=ts:
                    T.ops.aten.avg_pool2d_backward(tdy, tx, tk, ts, [0, 0], False, True, None),
            }
        for kname, a in args.items():
            out.append(dict(family="pool", name=f"{kname} {shape}", blas=None,
                            numpy=_bind(K["numpy"], kname, a), cython=_bind(K["cython"], kname, a),
                            torch=tfns.get(kname)))
    return out


def cases(threads):
    """The conv and pool benchmark cases at ``threads`` threads (deepbio, BLAS and torch)."""
    # load the backends first: a thread limit reaches only the BLAS libraries already
    # loaded, and the compiled kernels load SciPy's
    K = {name: deepbio.backend.get(name).kernels for name in ("numpy", "cython")}
    deepbio.set_num_threads(threads)
    T = _torch(threads)
    rng = np.random.default_rng(0)
    return (_lenet(rng, K, T, threads) + _dna(rng, K, T, threads) + _conv_kernels(rng, K, T)
            + _pool(rng, K, T))


def main(argv=None):
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=200)
    ap.add_argument("--stat", choices=("median", "min"), default="median",
                    help="median (default), or min on a machine shared with other work")
    ap.add_argument("-k", default="", help="only cases whose name contains this")
    args = ap.parse_args(argv)
    all_cases = cases(args.threads)
    print(process_note())
    print(f"threads={args.threads}, float32, {args.stat} of {args.repeat} (microseconds)")
    print(f"{'case':58s} {'numpy':>9s} {'cython':>9s} {'torch':>9s} {'blas':>9s} "
          f"{'cy/torch':>8s} {'cy/np':>6s}")
    for case in all_cases:
        if args.k not in case["name"]:
            continue
        t = {k: (time_us(case[k], args.repeat, args.stat, warmup=10) if case[k] is not None
                 else float("nan")) for k in ("numpy", "cython", "torch", "blas")}
        print(f"{case['name']:58s} {t['numpy']:9.0f} {t['cython']:9.0f} {t['torch']:9.0f} "
              f"{t['blas']:9.0f} {t['cython'] / t['torch']:8.2f} {t['cython'] / t['numpy']:6.3f}")


if __name__ == "__main__":
    main()
