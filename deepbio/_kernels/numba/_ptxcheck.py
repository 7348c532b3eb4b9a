"""Compile every Numba kernel to PTX with the real CUDA compiler, on a machine with no GPU.

    python -m deepbio._kernels.numba._ptxcheck [--cc 9.0] [-v]

The simulator runs kernels as Python, so it accepts code the CUDA compiler rejects (an
unsupported call, a type that does not unify) and hides silent float64 promotion in a
float32 kernel.  This tool catches both: it runs every contract kernel's wrapper on tiny
NumPy inputs in both dtypes with a ``jit`` whose launches do not run but compile the
kernel, for the argument types of that launch, to PTX through libNVVM; then it reports
each kernel's specialisations, and any float32 one whose PTX holds float64 arithmetic.

It needs libNVVM and libdevice (the CUDA toolkit's ``nvvm``), not a driver or a GPU.
Because Numba looks for a device (and for NVRTC) while compiling, it patches three Numba
internals, so it is a development tool tied to numba-cuda 0.30, not part of the backend.
Outputs of the wrappers are meaningless here (no kernel runs); only compilation is checked.
"""
import argparse
import glob
import os
import re
import sys
import time
import types


def _patch_numba(cc):
    """Let numba-cuda compile to PTX without a driver: fixed CC list and libdevice path."""
    import numba.cuda.cudadrv.libs as libs
    import numba.cuda.cudadrv.nvrtc as nvrtc
    import numba.cuda.cudadrv.nvvm as nvvm
    import numba.cuda.dispatcher as dispatcher

    home = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH") or "/usr/local/cuda"
    found = sorted(glob.glob(os.path.join(home, "nvvm", "libdevice", "libdevice*.bc")))
    if not found:
        raise SystemExit(f"no libdevice under {home}/nvvm/libdevice (set CUDA_HOME)")
    nvrtc.get_supported_ccs = lambda: (cc,)
    libs.get_libdevice = nvvm.get_libdevice = lambda: found[-1]
    dispatcher.get_current_device = lambda: types.SimpleNamespace(compute_capability=cc)


class _CompileOnly:
    """A kernel whose launch compiles it to PTX for the launch's argument types."""

    compiled = {}        # (kernel name, argument types) -> (PTX, seconds)

    def __init__(self, fn, cc):
        self.fn, self.cc = fn, cc

    def __getitem__(self, config):
        return self._launch

    def _launch(self, *args):
        import numba
        from numba import cuda
        sig = tuple(numba.typeof(a) for a in args)
        key = (f"{self.fn.__module__.rsplit('.', 1)[-1]}.{self.fn.__name__}", sig)
        if key not in self.compiled:
            t = time.perf_counter()
            ptx, _ = cuda.compile_ptx(self.fn, sig, cc=self.cc)
            self.compiled[key] = (ptx, time.perf_counter() - t)


def _install_runtime(cc):
    """Make deepbio._kernels.numba build its kernels with the compile-only jit."""
    import numpy
    from numba import cuda

    import deepbio._kernels.numba as nb

    def jit(fn=None, device=False, **kw):
        if fn is None:
            return lambda f: jit(f, device=device, **kw)
        return cuda.jit(device=True, **kw)(fn) if device else _CompileOnly(fn, cc)

    nb._runtime = nb.Runtime(cuda, jit, numpy, False, nb.SIM_THREADS, nb.SIM_MAX_BLOCKS)
    nb.stream = lambda: 0
    return nb


#: Kernels that do float64 arithmetic in float32 on purpose: the clipping norm is summed
#: in float64 for both dtypes (the contract's ``clip_scale``).
F64_BY_DESIGN = {"optim._sq_norm_partial", "optim._clip_factor"}


def _f64_lines(ptx):
    """PTX instructions doing float64 arithmetic or conversion, registers renamed away."""
    out = []
    for ln in ptx.splitlines():
        ln = ln.strip()
        if ".f64" in ln and not ln.startswith(("//", ".param", "ld.param", ".reg")):
            out.append(re.sub(r"%(fd|rd|f|r)\d+", r"%\1", ln))
    return out


def _libdevice_f64(cc):
    """float64 instructions that libdevice's own float32 maths contains (cosf's argument
    reduction for huge inputs multiplies in float64): not a promotion of ours."""
    import math

    from numba import cuda, float32

    def probe(x, y):
        i = cuda.grid(1)
        if i < x.size:
            v = x[i]
            y[i] = (math.cos(v) + math.sin(v) + math.exp(v) + math.log1p(v) + math.tanh(v)
                    + math.sqrt(v) + math.log(v))
    ptx, _ = cuda.compile_ptx(probe, (float32[::1], float32[::1]), cc=cc)
    return set(_f64_lines(ptx))


def run(cc=(9, 0), verbose=False):
    """Compile everything; return (number of specialisations, list of problems)."""
    os.environ.pop("NUMBA_ENABLE_CUDASIM", None)
    _patch_numba(cc)
    nb = _install_runtime(cc)
    import numpy as np

    from deepbio._kernels import CONTRACT
    from deepbio._kernels.reference import ACTIVATIONS, RNN_ACTIVATIONS

    kernels = nb.load()
    from . import gemm, philox
    problems = []
    for dtype in (np.float32, np.float64):
        for name in sorted(CONTRACT):
            for args in _args(name, dtype, ACTIVATIONS, RNN_ACTIVATIONS):
                try:
                    kernels[name](**args)
                except Exception as e:       # noqa: BLE001 - report every failure
                    problems.append(f"{name} [{np.dtype(dtype).name}]: {type(e).__name__}: "
                                    f"{str(e).splitlines()[0] if str(e) else ''}")
        for ta in (False, True):
            for tb in (False, True):
                a = np.ones((2, 3) if ta else (3, 2), dtype)
                b = np.ones((3, 2) if tb else (2, 3), dtype)
                gemm.matmul(a, b, ta, tb)
        philox.philox_uniform(5, 1, 2, 3, dtype)
    philox.philox_blocks(np.zeros((1, 4), np.uint32), (0, 0))
    baseline = _libdevice_f64(cc)
    for (kname, sig), (ptx, secs) in sorted(_CompileOnly.compiled.items(), key=str):
        f32 = any(getattr(getattr(t, "dtype", t), "bitwidth", 0) == 32
                  and "float" in str(getattr(t, "dtype", t)) for t in sig)
        f64 = [ln for ln in _f64_lines(ptx) if ln not in baseline] \
            if f32 and kname not in F64_BY_DESIGN else []
        if f64:
            problems.append(f"{kname}{sig}: float32 kernel does float64 arithmetic: {f64[:3]}")
        if verbose:
            print(f"{secs:6.2f}s  {kname}  {', '.join(map(str, sig))}")
    return len(_CompileOnly.compiled), problems


def _args(name, dtype, activations, rnn_activations):
    """A few valid calls of kernel ``name`` (tiny NumPy arrays; values do not matter)."""
    import numpy as np
    rng = np.random.default_rng(0)

    def a(*shape):
        return rng.random(shape).astype(dtype)

    def mask():
        return (rng.random((t, n)) < 0.7).astype(dtype)

    n, d, h, t, c, f = 2, 3, 2, 2, 2, 2
    if name in ("activation_forward", "activation_backward", "dense_forward", "dense_backward"):
        for act in activations:
            yield {"activation_forward": {"z": a(n, d), "activation": act},
                   "activation_backward": {"a": a(n, d), "da": a(n, d), "activation": act},
                   "dense_forward": {"x": a(n, d), "W": a(d, h), "b": a(h), "activation": act},
                   "dense_backward": {"x": a(n, d), "W": a(d, h), "a": a(n, h), "da": a(n, h),
                                      "activation": act}}[name]
        return
    if name.startswith("elman"):
        for act in rnn_activations:
            yield {"elman_step_forward": dict(x=a(n, d), h_prev=a(n, h), Wx=a(d, h),
                                              Wh=a(h, h), b=a(h), activation=act),
                   "elman_step_backward": dict(dh=a(n, h), x=a(n, d), h_prev=a(n, h),
                                               h=a(n, h), Wx=a(d, h), Wh=a(h, h),
                                               activation=act),
                   "elman_forward": dict(x=a(t, n, d), h0=a(n, h), Wx=a(d, h), Wh=a(h, h),
                                         b=a(h), activation=act),
                   "elman_backward": dict(dhs=a(t, n, h), x=a(t, n, d), h0=a(n, h),
                                          hs=a(t, n, h), Wx=a(d, h), Wh=a(h, h),
                                          activation=act),
                   "elman_forward_masked": dict(x=a(t, n, d), h0=a(n, h), m=mask(),
                                                Wx=a(d, h), Wh=a(h, h), b=a(h),
                                                activation=act),
                   "elman_backward_masked": dict(dhs=a(t, n, h), x=a(t, n, d), h0=a(n, h),
                                                 hs=a(t, n, h), hnew=a(t, n, h), m=mask(),
                                                 keep=mask(), Wx=a(d, h), Wh=a(h, h),
                                                 activation=act),
                   "elman_rop": dict(A=a(t, n, h), hnew=a(t, n, h), m=mask(), Wh=a(h, h),
                                     activation=act)}[name]
            if name == "elman_rop":
                yield dict(A=a(t, n, h), hnew=a(t, n, h), m=None, Wh=a(h, h),
                           activation=act)
        return
    if name.startswith("gru") or name.endswith("_masked") or name == "lstm_rop":
        g3, g4 = 3 * h, 4 * h
        for m, keep in ((None, None), (mask(), None), (mask(), mask())):
            if name in ("gru_forward", "gru_backward") and m is not None:
                continue
            if (name.endswith("_masked") and m is None) or (name.endswith("rop") and keep
                                                                 is not None):
                continue
            yield {"gru_forward": dict(x=a(t, n, d), h0=a(n, h), Wx=a(d, g3), Wh=a(h, g3),
                                       b=a(g3), bh=a(g3)),
                   "gru_forward_masked": dict(x=a(t, n, d), h0=a(n, h), m=m, Wx=a(d, g3),
                                              Wh=a(h, g3), b=a(g3), bh=a(g3)),
                   "gru_backward": dict(dhs=a(t, n, h), x=a(t, n, d), h0=a(n, h),
                                        hs=a(t, n, h), gates=a(t, n, g3), hn=a(t, n, h),
                                        Wx=a(d, g3), Wh=a(h, g3)),
                   "gru_backward_masked": dict(dhs=a(t, n, h), x=a(t, n, d), h0=a(n, h),
                                               hs=a(t, n, h), gates=a(t, n, g3),
                                               hn=a(t, n, h), m=m, keep=keep, Wx=a(d, g3),
                                               Wh=a(h, g3)),
                   "gru_rop": dict(Ax=a(t, n, g3), Ah=a(t, n, g3), h0=a(n, h),
                                   hs=a(t, n, h), gates=a(t, n, g3), hn=a(t, n, h), m=m,
                                   Wh=a(h, g3)),
                   "lstm_rop": dict(A=a(t, n, g4), c0=a(n, h), cs=a(t, n, h),
                                    cnew=a(t, n, h), gates=a(t, n, g4), m=m, Wh=a(h, g4)),
                   "lstm_forward_masked": dict(x=a(t, n, d), h0=a(n, h), c0=a(n, h), m=m,
                                               Wx=a(d, g4), Wh=a(h, g4), b=a(g4)),
                   "lstm_backward_masked": dict(dhs=a(t, n, h), x=a(t, n, d), h0=a(n, h),
                                                c0=a(n, h), hs=a(t, n, h), cs=a(t, n, h),
                                                cnew=a(t, n, h), gates=a(t, n, g4), m=m,
                                                keep=keep, Wx=a(d, g4), Wh=a(h, g4))}[name]
        return
    if name in ("clip_scale", "sgd_update", "adam_update", "rmsprop_update"):
        p, one = 9, np.array([0.5], dtype)
        for full in (False, True):          # without / with every optional array
            sc = one if full else None
            yield {"clip_scale": dict(grad=a(p), param=a(p), weight_decay=0.1, clip_norm=1.0),
                   "sgd_update": dict(param=a(p), grad=a(p), velocity=a(p), scale=sc, lr=0.1,
                                      momentum=0.9, weight_decay=0.1, nesterov=full),
                   "adam_update": dict(param=a(p), grad=a(p), m=a(p), v=a(p),
                                       vmax=a(p) if full else None, scale=sc, lr=0.1,
                                       beta1=0.9, beta2=0.99, eps=1e-8, weight_decay=0.1,
                                       decoupled_decay=0.1, step=2),
                   "rmsprop_update": dict(param=a(p), grad=a(p), square_avg=a(p) + 1,
                                          grad_avg=a(p) * 0.1 if full else None,
                                          buf=a(p) if full else None, scale=sc, lr=0.1,
                                          alpha=0.9, eps=1e-8, momentum=0.5 if full else 0.0,
                                          weight_decay=0.1)}[name]
        return
    g = 4 * h
    yield {
        "sigmoid_bernoulli": dict(x=a(n, d), u=a(n, d)),
        "gaussian_sample": dict(mean=a(n, d), sigma=a(d), u1=a(n, d), u2=a(n, d)),
        "cd_statistics": dict(v0=a(n, d), h0=a(n, h), vk=a(n, d), hk=a(n, h)),
        "free_energy": dict(v=a(n, d), W=a(d, h), b=a(d), c=a(h), sigma=None),
        "sparsity_grad": dict(a=a(n, h), rho=0.1, beta=3.0),
        "mask_corrupt": dict(x=a(n, d), u=a(n, d), p=0.3),
        "gaussian_corrupt": dict(x=a(n, d), u1=a(n, d), u2=a(n, d), std=0.5),
        "conv2d_forward": dict(x=a(n, c, 4, 4), w=a(f, c, 2, 2), b=a(f), stride=(1, 2),
                               padding=(1, 0)),
        "conv2d_backward_input": dict(dy=a(n, f, 5, 2), w=a(f, c, 2, 2), in_size=(4, 4),
                                      stride=(1, 2), padding=(1, 0)),
        "conv2d_backward_weight": dict(dy=a(n, f, 5, 2), x=a(n, c, 4, 4), kernel_size=(2, 2),
                                       stride=(1, 2), padding=(1, 0)),
        "conv1d_forward": dict(x=a(n, c, 5), w=a(f, c, 2), b=a(f), stride=1, padding=1),
        "conv1d_backward_input": dict(dy=a(n, f, 6), w=a(f, c, 2), in_size=5, stride=1,
                                      padding=1),
        "conv1d_backward_weight": dict(dy=a(n, f, 6), x=a(n, c, 5), kernel_size=2, stride=1,
                                       padding=1),
        "maxpool2d_forward": dict(x=a(n, c, 4, 4), kernel=(2, 2), stride=(2, 2)),
        "maxpool2d_backward": dict(dy=a(n, c, 2, 2), argmax=np.zeros((n, c, 2, 2), np.int64),
                                   in_size=(4, 4)),
        "avgpool2d_forward": dict(x=a(n, c, 4, 4), kernel=(2, 2), stride=(2, 2)),
        "avgpool2d_backward": dict(dy=a(n, c, 2, 2), in_size=(4, 4), kernel=(2, 2),
                                   stride=(2, 2)),
        "maxpool1d_forward": dict(x=a(n, c, 4), kernel=2, stride=2),
        "maxpool1d_backward": dict(dy=a(n, c, 2), argmax=np.zeros((n, c, 2), np.int64),
                                   in_size=4),
        "avgpool1d_forward": dict(x=a(n, c, 4), kernel=2, stride=2),
        "avgpool1d_backward": dict(dy=a(n, c, 2), in_size=4, kernel=2, stride=2),
        "lstm_step_forward": dict(x=a(n, d), h_prev=a(n, h), c_prev=a(n, h), Wx=a(d, g),
                                  Wh=a(h, g), b=a(g)),
        "lstm_step_backward": dict(dh=a(n, h), dc=a(n, h), x=a(n, d), h_prev=a(n, h),
                                   c_prev=a(n, h), c=a(n, h), gates=a(n, g), Wx=a(d, g),
                                   Wh=a(h, g)),
        "lstm_forward": dict(x=a(t, n, d), h0=a(n, h), c0=a(n, h), Wx=a(d, g), Wh=a(h, g),
                             b=a(g)),
        "lstm_backward": dict(dhs=a(t, n, h), x=a(t, n, d), h0=a(n, h), c0=a(n, h),
                              hs=a(t, n, h), cs=a(t, n, h), gates=a(t, n, g), Wx=a(d, g),
                              Wh=a(h, g)),
        "philox_uniform": dict(n=5, seed=1, stream=2, offset=3, dtype=dtype),
    }[name]
    if name == "free_energy":
        yield dict(v=a(n, d), W=a(d, h), b=a(d), c=a(h), sigma=a(d))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cc", default="9.0", help="compute capability to compile for (9.0)")
    p.add_argument("-v", "--verbose", action="store_true", help="list every specialisation")
    ns = p.parse_args(argv)
    cc = tuple(int(x) for x in ns.cc.split("."))
    t = time.perf_counter()
    count, problems = run(cc, ns.verbose)
    print(f"{count} kernel specialisations compiled to PTX for sm_{cc[0]}{cc[1]} "
          f"in {time.perf_counter() - t:.1f} s")
    for line in problems:
        print("PROBLEM:", line)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
