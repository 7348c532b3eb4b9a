"""The optimiser family of the contract: definitions, in-place semantics, PyTorch.

The equivalence, bad-input and coverage suites run these kernels like every other (the
``optim`` family of ``_examples``).  Here: each update against ``torch.optim`` for one
step on the same state (the trajectories over 100 steps are tests/optim/
test_optim_adam.py), ``clip_scale`` against its formula, the in-place contract (the
returned arrays are the arguments, ``grad`` is untouched, a read-only parameter vector
is refused) and, on the Cython face, no bit changes with the thread count.
"""
import numpy as np
import pytest

from deepbio._kernels import CONTRACT, inplace_arrays
from deepbio.testing import assert_close

from ._examples import example_args

#: Kernels whose outputs this module checks against a definition (test_coverage).
OPTIM_DEFINITIONS = {"clip_scale", "sgd_update", "adam_update", "rmsprop_update"}


def _state(rng, n, dtype):
    return {"param": rng.normal(size=n).astype(dtype), "grad": rng.normal(size=n).astype(dtype)}


def test_the_family_is_in_place_on_its_state():
    assert inplace_arrays("sgd_update") == ("param", "velocity")
    assert inplace_arrays("adam_update") == ("param", "m", "v", "vmax")
    assert inplace_arrays("rmsprop_update") == ("param", "square_avg", "grad_avg", "buf")
    assert inplace_arrays("clip_scale") == ()
    assert {s.family for s in CONTRACT.values() if s.name in OPTIM_DEFINITIONS} == {"optim"}


@pytest.mark.parametrize("wd", [0.0, 0.3])
def test_clip_scale_is_the_clipping_factor(backend, dtype, wd):
    rng = np.random.default_rng(1)
    s = _state(rng, 1000, dtype)
    g = s["grad"].astype(np.float64) + wd * s["param"].astype(np.float64)
    norm = np.sqrt(np.sum(g * g))
    for c, want in ((norm / 4, 0.25), (2 * norm, 1.0)):
        got = backend.to_numpy(backend.kernels.clip_scale(
            backend.asarray(s["grad"]), backend.asarray(s["param"]), wd, float(c)))
        assert got.shape == (1,) and got.dtype == dtype
        assert_close(got, np.array([want], dtype), 1e-6 if dtype == np.float32 else 1e-12)


def _torch_one_step(torch, cls, kwargs, param, grad, state):
    p = torch.nn.Parameter(torch.from_numpy(param.copy()))
    opt = getattr(torch.optim, cls)([p], foreach=False, **kwargs)
    p.grad = torch.from_numpy(grad.copy())
    opt.step()                                  # creates the state ...
    st = opt.state[p]
    with torch.no_grad():                       # ... which is then set to ours
        p.copy_(torch.from_numpy(param))
        for k, v in state.items():
            st[k].copy_(torch.from_numpy(v))
        if "step" in st:
            st["step"].fill_(state.get("_step", 3) - 1)
    opt.step()
    return p.detach().numpy(), {k: st[k].numpy() for k in state}


@pytest.mark.parametrize("variant", ["adam", "amsgrad", "adamw"])
def test_adam_update_is_one_torch_adam_step(backend, dtype, torch, variant):
    rng = np.random.default_rng(2)
    n = 257
    s = _state(rng, n, dtype)
    m = (0.3 * rng.normal(size=n)).astype(dtype)
    v = rng.uniform(0.01, 1, size=n).astype(dtype)
    vmax = (v + rng.uniform(0, 1, size=n)).astype(dtype) if variant == "amsgrad" else None
    kw = dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6)
    cls, wd, dd = "Adam", 0.05, 0.0
    if variant == "adamw":
        cls, wd, dd = "AdamW", 0.0, 0.05
        kw["weight_decay"] = dd
    else:
        kw["weight_decay"] = wd
    if variant == "amsgrad":
        kw["amsgrad"] = True
    torch_state = {"exp_avg": m, "exp_avg_sq": v}
    if vmax is not None:
        torch_state["max_exp_avg_sq"] = vmax
    want_p, want_st = _torch_one_step(torch, cls, kw, s["param"], s["grad"], torch_state)
    b = {k: backend.asarray(x.copy()) for k, x in dict(s, m=m, v=v).items()}
    bvmax = backend.asarray(vmax.copy()) if vmax is not None else None
    out = backend.kernels.adam_update(b["param"], b["grad"], b["m"], b["v"], bvmax, None,
                                      0.01, 0.8, 0.99, 1e-6, wd, dd, 3)
    assert out[0] is b["param"] and out[1] is b["m"] and out[2] is b["v"]
    rtol = 2e-6 if dtype == np.float32 else 1e-13
    assert_close(backend.to_numpy(b["param"]), want_p, rtol, floor=1.0, name="param")
    assert_close(backend.to_numpy(b["m"]), want_st["exp_avg"], rtol, floor=1.0, name="m")
    assert_close(backend.to_numpy(b["v"]), want_st["exp_avg_sq"], rtol, floor=1.0, name="v")
    if vmax is not None:
        assert_close(backend.to_numpy(bvmax), want_st["max_exp_avg_sq"], rtol, floor=1.0)
    np.testing.assert_array_equal(backend.to_numpy(b["grad"]), s["grad"])


@pytest.mark.parametrize("centered", [False, True])
@pytest.mark.parametrize("momentum", [0.0, 0.7])
def test_rmsprop_update_is_one_torch_rmsprop_step(backend, dtype, torch, centered, momentum):
    rng = np.random.default_rng(3)
    n = 130
    s = _state(rng, n, dtype)
    sq = rng.uniform(0.5, 1.5, size=n).astype(dtype)
    ga = (0.1 * rng.normal(size=n)).astype(dtype) if centered else None
    buf = (0.1 * rng.normal(size=n)).astype(dtype) if momentum else None
    torch_state = {"square_avg": sq}
    if centered:
        torch_state["grad_avg"] = ga
    if momentum:
        torch_state["momentum_buffer"] = buf
    kw = dict(lr=0.01, alpha=0.9, eps=1e-6, weight_decay=0.02, momentum=momentum,
              centered=centered)
    want_p, want_st = _torch_one_step(torch, "RMSprop", kw, s["param"], s["grad"],
                                      torch_state)
    b = {k: (backend.asarray(x.copy()) if x is not None else None)
         for k, x in dict(s, sq=sq, ga=ga, buf=buf).items()}
    backend.kernels.rmsprop_update(b["param"], b["grad"], b["sq"], b["ga"], b["buf"], None,
                                   0.01, 0.9, 1e-6, momentum, 0.02)
    rtol = 2e-6 if dtype == np.float32 else 1e-13
    assert_close(backend.to_numpy(b["param"]), want_p, rtol, floor=1.0, name="param")
    assert_close(backend.to_numpy(b["sq"]), want_st["square_avg"], rtol, floor=1.0)
    if centered:
        assert_close(backend.to_numpy(b["ga"]), want_st["grad_avg"], rtol, floor=1.0)
    if momentum:
        assert_close(backend.to_numpy(b["buf"]), want_st["momentum_buffer"], rtol, floor=1.0)


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_update_is_one_torch_sgd_step_with_a_scale(backend, dtype, torch, nesterov):
    """torch's SGD keeps ``b = mu b + g`` and steps ``-lr b``; deepbio's velocity is
    ``v = -lr b`` (the same trajectory at a constant rate)."""
    rng = np.random.default_rng(4)
    n = 99
    s = _state(rng, n, dtype)
    b0 = (0.2 * rng.normal(size=n)).astype(dtype)
    lr, mu, wd, scale = 0.05, 0.9, 0.01, 0.5
    p = torch.nn.Parameter(torch.from_numpy(s["param"].copy()))
    opt = torch.optim.SGD([p], lr=lr, momentum=mu, nesterov=nesterov, foreach=False)
    p.grad = torch.zeros_like(p)
    opt.step()
    with torch.no_grad():
        p.copy_(torch.from_numpy(s["param"]))
        opt.state[p]["momentum_buffer"].copy_(torch.from_numpy(b0))
        p.grad = (torch.from_numpy(s["grad"]) + wd * p.detach()) * scale
    opt.step()
    vel = backend.asarray((-lr * b0).astype(dtype))
    bp = backend.asarray(s["param"].copy())
    backend.kernels.sgd_update(bp, backend.asarray(s["grad"]), vel,
                               backend.asarray(np.array([scale], dtype)), lr, mu, wd, nesterov)
    rtol = 5e-6 if dtype == np.float32 else 1e-12
    assert_close(backend.to_numpy(bp), p.detach().numpy(), rtol, floor=1.0, name="param")
    assert_close(backend.to_numpy(vel), -lr * opt.state[p]["momentum_buffer"].numpy(), rtol,
                 floor=1.0, name="velocity")


def test_a_read_only_parameter_vector_is_refused(reference):
    args = example_args("sgd_update", np.float64, np.random.default_rng(0))
    args["param"].flags.writeable = False
    with pytest.raises(ValueError, match="param.*writeable"):
        reference.kernels.sgd_update(**args)


@pytest.mark.parametrize("name", sorted(OPTIM_DEFINITIONS))
def test_cython_thread_count_changes_no_bit(name):
    """Every element is computed by one thread alone and the norm's block sums are added
    in a fixed order: 1 or 2 threads, the same bits (the grain floor is lowered so that
    two threads really run on this small buffer)."""
    import deepbio.backend
    from deepbio._kernels import cpu
    if "cython" not in deepbio.backend.backends():
        pytest.skip("Cython kernels not compiled")
    be = deepbio.backend.get("cython")
    from deepbio._kernels.cpu import optim
    results = []
    old_threads, old_floor = cpu.get_num_threads(), cpu.get_grain_floor()
    try:
        for threads in (1, 2):
            cpu.set_num_threads(threads)
            args = example_args(name, np.float32, np.random.default_rng(5))
            args.update({k: np.tile(v, 400) for k, v in args.items()
                         if isinstance(v, np.ndarray) and k != "scale"})
            fn = getattr(optim, name)
            out = fn(**args)
            results.append([np.array(o) for o in (out if isinstance(out, tuple) else (out,))])
    finally:
        cpu.set_num_threads(old_threads)
        cpu.set_grain_floor(old_floor)
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)
    assert be.kernels.raw[name] is getattr(optim, name)
