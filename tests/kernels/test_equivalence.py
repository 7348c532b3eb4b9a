"""Every backend obeys the contract and equals the NumPy reference, on every kernel.

For hypothesis-drawn sizes (and the named edge cases: batch 1, kernel as large as the
input, stride larger than the kernel or the input, padding, sequence length 1), in float32
and float64, each call through ``backend.kernels``

* leaves its inputs unchanged (kernels are pure); the optimiser family's ``!`` arrays
  are updated in place instead, returned as themselves, and their new values must equal
  the reference's;
* returns the outputs the contract's ``returns`` promises: count, shape, dtype, the
  backend's array type, C-contiguous and writeable new arrays sharing no memory with the
  inputs or with each other;
* equals the reference: float64 within ``1e-10`` and float32 within ``1e-5``, relative
  with a floor: ``|got - ref| <= rtol * max(|ref|, floor)``, ``floor = max(1, max |ref|)``
  (inputs are O(1) and sums cancel, so each entry is compared at the scale of its terms);
  argmax indices, masks and Philox uniforms exactly; Bernoulli samples exactly wherever the uniform is not
  within rounding of the probability (the sample is ``1[u < p]`` and ``p`` may differ in
  its last bit between backends).
"""
import numpy as np
import pytest
from hypothesis import given

import deepbio.backend
from deepbio._kernels import CONTRACT, inplace_arrays
from deepbio.testing import assert_close

from ._examples import as_tuple, edge_cases, expected_outputs, kernel_args, make_args, to_backend

RTOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-10}

#: Outputs compared exactly (no arithmetic of rounding consequence lies behind them).
EXACT = {("maxpool2d_forward", 1), ("maxpool1d_forward", 1), ("mask_corrupt", 0),
         ("philox_uniform", 0)}


def _compare_bernoulli(name, args, got, ref):
    (p, s), (p_ref, s_ref) = got, ref
    u = args["u"]
    assert_close(p, p_ref, RTOL[p_ref.dtype], floor=1.0, name=f"{name}: p")
    # each backend's sample is exactly 1[u < p] of its own p ...
    np.testing.assert_array_equal(s, (u < p).astype(s.dtype), err_msg=f"{name}: s != 1[u < p]")
    # ... and equals the reference's wherever u is not within rounding of p
    ulp = np.finfo(p_ref.dtype).eps
    near = np.abs(u.astype(np.float64) - p_ref.astype(np.float64)) <= 4 * ulp
    np.testing.assert_array_equal(np.where(near, 0, s), np.where(near, 0, s_ref),
                                  err_msg=f"{name}: samples differ from the reference")


def check_call(backend, name, args):
    """Run ``name`` on ``backend`` and check it against the contract and the reference."""
    spec = CONTRACT[name]
    inplace = {k for k in inplace_arrays(name) if args[k] is not None}
    # in-place kernels write into their arguments: the backend and the reference each
    # get their own copies
    fresh = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in args.items()}
    bargs = to_backend(fresh, backend)
    snapshot = {k: np.array(backend.to_numpy(v), copy=True) for k, v in bargs.items()
                if k in spec.arrays and v is not None and k not in inplace}
    got = as_tuple(getattr(backend.kernels, name)(**bargs))

    for k, before in snapshot.items():
        np.testing.assert_array_equal(backend.to_numpy(bargs[k]), before,
                                      err_msg=f"{name} modified its input {k}")
    want = expected_outputs(name, args)
    assert len(got) == len(want), f"{name}: {len(got)} outputs, the contract says {len(want)}"
    inputs = {k: v for k, v in bargs.items() if k in spec.arrays and v is not None}
    for i, (out, (oname, shape, dtype)) in enumerate(zip(got, want)):
        if oname in inplace:
            assert out is bargs[oname], f"{name}: output {oname} is not its in-place input"
            continue
        assert isinstance(out, backend.array_type), (
            f"{name}: output {oname} is a {type(out).__name__}, not {backend.array_type}")
        assert tuple(out.shape) == shape, f"{name}: output {oname} has shape {out.shape}, " \
                                          f"the contract says {shape}"
        assert out.dtype == dtype, f"{name}: output {oname} has dtype {out.dtype}, not {dtype}"
        assert out.flags.c_contiguous, f"{name}: output {oname} is not C-contiguous"
        assert out.flags.writeable, f"{name}: output {oname} is not writeable (a view?)"
        for k, v in inputs.items():
            assert not backend.xp.shares_memory(out, v), \
                f"{name}: output {oname} shares memory with input {k}"
        for j in range(i):
            assert not backend.xp.shares_memory(out, got[j]), \
                f"{name}: outputs {oname} and {want[j][0]} share memory"

    ref_args = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in args.items()}
    ref = as_tuple(getattr(deepbio.backend.get("numpy").kernels, name)(**ref_args))
    host = tuple(backend.to_numpy(o) for o in got)
    for k in sorted(inplace - {o for o, _, _ in want}):      # in place, not returned
        r = ref_args[k]
        assert_close(backend.to_numpy(bargs[k]), r, RTOL[r.dtype],
                     floor=max(1.0, float(np.max(np.abs(r), initial=0.0))), name=f"{name}: {k}")
    if name == "sigmoid_bernoulli":
        _compare_bernoulli(name, args, host, ref)
        return
    for i, (h, r, (oname, _, _)) in enumerate(zip(host, ref, want)):
        if (name, i) in EXACT:
            np.testing.assert_array_equal(h, r, err_msg=f"{name}: {oname} differs from reference")
        else:
            floor = max(1.0, float(np.max(np.abs(r), initial=0.0)))
            assert_close(h, r, RTOL[r.dtype], floor=floor, name=f"{name}: {oname}")


@pytest.mark.parametrize("name", sorted(CONTRACT))
def test_matches_reference_on_random_shapes(backend, name, dtype):
    @given(case=kernel_args(name, dtype))
    def run(case):
        dims, args = case
        check_call(backend, name, args)
    run()


@pytest.mark.parametrize("name,label,dims", [
    pytest.param(name, label, dims, id=f"{name}-{label.replace(' ', '_')}")
    for name in sorted(CONTRACT) for label, dims in edge_cases(name)])
def test_matches_reference_on_edge_cases(backend, name, label, dims, dtype):
    check_call(backend, name, make_args(name, dtype, np.random.default_rng(7), dims))


def test_check_call_catches_a_wrong_kernel(reference, monkeypatch):
    """The harness itself: a kernel that is off by a little, or modifies its input, fails."""
    from deepbio._kernels import Kernels, reference_implementations

    impl = reference_implementations()
    impl["dense_forward"] = lambda x, W, b, activation: (
        reference.kernels.raw["dense_forward"](x, W, b, activation) * (1 + 1e-7))

    def scribbling(x, u):
        p, s = reference.kernels.raw["sigmoid_bernoulli"](x, u)
        x[...] = 0
        return p, s
    impl["sigmoid_bernoulli"] = scribbling
    fake = deepbio.backend.Backend("fake", np, impl, np.ndarray, "test double")
    assert isinstance(fake.kernels, Kernels)
    rng = np.random.default_rng(0)
    with pytest.raises(AssertionError, match="dense_forward"):
        check_call(fake, "dense_forward", make_args("dense_forward", np.float64, rng))
    with pytest.raises(AssertionError, match="modified its input x"):
        check_call(fake, "sigmoid_bernoulli", make_args("sigmoid_bernoulli", np.float64, rng))
