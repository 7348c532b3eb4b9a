"""Every backward kernel against central finite differences of its forward, in float64.

Each case builds a scalar loss ``L = sum(out * R)`` of a forward kernel's outputs with a
fixed random ``R`` (:func:`deepbio.testing.random_projection_loss`), feeds ``R`` to the
backward kernel as the upstream gradient, and checks every returned gradient with
:func:`deepbio.testing.check_gradient`.  Forward and backward both run through the
backend under test (``backend.kernels``).

:data:`GRADIENT_CASES` maps each gradient kernel to its cases; ``test_coverage.py`` checks
that every backward kernel of the contract has at least one.

``cd_statistics`` has no forward kernel: it is checked as the gradient of the free-energy
difference, ``dW = -(dF(v0)/dW - dF(vk)/dW)`` averaged over the batch (likewise b, c),
with ``h`` the hidden probabilities given ``v``.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from deepbio._kernels import ACTIVATIONS, RNN_ACTIVATIONS
from deepbio.testing import check_gradient, random_projection_loss

from ._examples import as_tuple, distinct


def _normal(rng, *shape, scale=1.0):
    return scale * rng.standard_normal(shape)


def gradient_check(backend, forward, inputs, backward, **kw):
    """Check ``backward(*R)`` (a dict of gradients) against differences of ``forward``.

    forward(**inputs) runs forward kernels and returns their output(s);
    backward(*R) runs the backward kernel with upstream gradients R (one per output).
    Both take and return backend arrays; ``inputs`` are host float64 arrays.
    """
    def run(**a):
        return as_tuple(forward(**{k: backend.asarray(v) for k, v in a.items()}))

    outs = run(**inputs)
    loss, R = random_projection_loss(*(backend.to_numpy(o) for o in outs), seed=1)
    grads = backward(*(backend.asarray(r) for r in R))
    analytic = {k: backend.to_numpy(g) for k, g in grads.items()}
    result = check_gradient(lambda **a: loss(*run(**a)), inputs, analytic, **kw)
    assert result.checked > 0
    return result


# ------------------------------------------------------------------------ dense


def case_activation(backend, activation):
    k, rng = backend.kernels, np.random.default_rng(10)
    z = _normal(rng, 4, 5, scale=2.0)
    a = k.activation_forward(backend.asarray(z), activation)
    gradient_check(backend, lambda z: k.activation_forward(z, activation), {"z": z},
                   lambda R: {"z": k.activation_backward(a, R, activation)})


def case_relu_at_zero(backend):
    """ReLU at exactly 0 has no derivative: those entries are skipped, the rest checked."""
    k, rng = backend.kernels, np.random.default_rng(11)
    z = _normal(rng, 4, 5)
    z[0, :3] = 0.0
    a = k.activation_forward(backend.asarray(z), "relu")
    res = gradient_check(backend, lambda z: k.activation_forward(z, "relu"), {"z": z},
                         lambda R: {"z": k.activation_backward(a, R, "relu")})
    assert res.skipped == 3


def case_dense(backend, activation):
    k, rng = backend.kernels, np.random.default_rng(12)
    x, W, b = _normal(rng, 3, 4), _normal(rng, 4, 5, scale=0.5), _normal(rng, 5, scale=0.5)
    bx, bW = backend.asarray(x), backend.asarray(W)
    a = k.dense_forward(bx, bW, backend.asarray(b), activation)

    def backward(R):
        dx, dW, db = k.dense_backward(bx, bW, a, R, activation)
        return {"x": dx, "W": dW, "b": db}
    gradient_check(backend, lambda x, W, b: k.dense_forward(x, W, b, activation),
                   {"x": x, "W": W, "b": b}, backward)


def case_sparsity(backend, rho, beta):
    k, rng = backend.kernels, np.random.default_rng(13)
    a = rng.uniform(0.05, 0.95, (6, 4))
    _, da = k.sparsity_grad(backend.asarray(a), rho, beta)
    check_gradient(lambda a: k.sparsity_grad(backend.asarray(a), rho, beta)[0], {"a": a},
                   {"a": backend.to_numpy(da)})


# ------------------------------------------------------------------ convolution

CONV2D = {  # (N, C, H, W, F, KH, KW, stride, padding)
    "3x2": (2, 2, 5, 6, 3, 3, 2, (1, 1), (0, 0)),
    "stride2-pad1": (2, 3, 7, 6, 2, 3, 3, (2, 2), (1, 1)),
    "kernel=input": (1, 2, 4, 3, 2, 4, 3, (1, 1), (0, 0)),
    "stride>kernel-pad": (2, 1, 5, 5, 2, 2, 3, (3, 2), (2, 1)),
}
CONV1D = {  # (N, C, L, F, K, stride, padding)
    "k3": (2, 4, 9, 3, 3, 1, 0),
    "stride2-pad2": (2, 3, 8, 2, 4, 2, 2),
    "kernel=input": (1, 2, 5, 2, 5, 1, 0),
    "stride>kernel": (3, 2, 10, 2, 2, 3, 1),
}


def case_conv2d(backend, cfg):
    n, c, h, w, f, kh, kw, stride, pad = CONV2D[cfg]
    k, rng = backend.kernels, np.random.default_rng(14)
    inputs = {"x": _normal(rng, n, c, h, w), "w": _normal(rng, f, c, kh, kw, scale=0.5),
              "b": _normal(rng, f)}
    bx, bw = backend.asarray(inputs["x"]), backend.asarray(inputs["w"])

    def backward(R):
        dw, db = k.conv2d_backward_weight(R, bx, (kh, kw), stride, pad)
        return {"x": k.conv2d_backward_input(R, bw, (h, w), stride, pad), "w": dw, "b": db}
    gradient_check(backend, lambda x, w, b: k.conv2d_forward(x, w, b, stride, pad), inputs,
                   backward)


def case_conv1d(backend, cfg):
    n, c, length, f, ks, stride, pad = CONV1D[cfg]
    k, rng = backend.kernels, np.random.default_rng(15)
    inputs = {"x": _normal(rng, n, c, length), "w": _normal(rng, f, c, ks, scale=0.5),
              "b": _normal(rng, f)}
    bx, bw = backend.asarray(inputs["x"]), backend.asarray(inputs["w"])

    def backward(R):
        dw, db = k.conv1d_backward_weight(R, bx, ks, stride, pad)
        return {"x": k.conv1d_backward_input(R, bw, length, stride, pad), "w": dw, "b": db}
    gradient_check(backend, lambda x, w, b: k.conv1d_forward(x, w, b, stride, pad), inputs,
                   backward)


# ---------------------------------------------------------------------- pooling

POOL2D = {  # (N, C, H, W, kernel, stride)
    "2x2/2": (2, 2, 6, 4, (2, 2), (2, 2)),
    "overlap": (2, 2, 5, 5, (3, 2), (1, 2)),
    "stride>kernel": (1, 3, 7, 6, (2, 3), (3, 1)),
    "global": (2, 2, 3, 4, (3, 4), (1, 1)),
}
POOL1D = {  # (N, C, L, kernel, stride)
    "2/2": (2, 3, 8, 2, 2),
    "overlap": (2, 2, 9, 3, 1),
    "stride>kernel": (1, 2, 11, 2, 3),
    "global": (3, 2, 6, 6, 1),
}


def case_pool2d(backend, kind, cfg):
    n, c, h, w, kern, stride = POOL2D[cfg]
    k, rng = backend.kernels, np.random.default_rng(16)
    x = distinct(rng, (n, c, h, w), np.float64)   # no ties: max pooling is smooth here
    if kind == "max":
        _, argmax = k.maxpool2d_forward(backend.asarray(x), kern, stride)
        gradient_check(backend, lambda x: k.maxpool2d_forward(x, kern, stride)[0], {"x": x},
                       lambda R: {"x": k.maxpool2d_backward(R, argmax, (h, w))})
    else:
        gradient_check(backend, lambda x: k.avgpool2d_forward(x, kern, stride), {"x": x},
                       lambda R: {"x": k.avgpool2d_backward(R, (h, w), kern, stride)})


def case_pool1d(backend, kind, cfg):
    n, c, length, kern, stride = POOL1D[cfg]
    k, rng = backend.kernels, np.random.default_rng(17)
    x = distinct(rng, (n, c, length), np.float64)
    if kind == "max":
        _, argmax = k.maxpool1d_forward(backend.asarray(x), kern, stride)
        gradient_check(backend, lambda x: k.maxpool1d_forward(x, kern, stride)[0], {"x": x},
                       lambda R: {"x": k.maxpool1d_backward(R, argmax, length)})
    else:
        gradient_check(backend, lambda x: k.avgpool1d_forward(x, kern, stride), {"x": x},
                       lambda R: {"x": k.avgpool1d_backward(R, length, kern, stride)})


# -------------------------------------------------------------------- recurrent


def _rnn_params(rng, d, h, gates=1):
    return {"Wx": _normal(rng, d, gates * h, scale=0.5),
            "Wh": _normal(rng, h, gates * h, scale=0.5),
            "b": _normal(rng, gates * h, scale=0.5)}


def case_elman_step(backend, activation):
    k, rng = backend.kernels, np.random.default_rng(18)
    n, d, h = 3, 4, 5
    inputs = {"x": _normal(rng, n, d), "h_prev": _normal(rng, n, h), **_rnn_params(rng, d, h)}
    b = {key: backend.asarray(v) for key, v in inputs.items()}
    hn = k.elman_step_forward(b["x"], b["h_prev"], b["Wx"], b["Wh"], b["b"], activation)

    def backward(R):
        dx, dhp, dWx, dWh, db = k.elman_step_backward(R, b["x"], b["h_prev"], hn, b["Wx"],
                                                      b["Wh"], activation)
        return {"x": dx, "h_prev": dhp, "Wx": dWx, "Wh": dWh, "b": db}
    gradient_check(backend, lambda x, h_prev, Wx, Wh, b: k.elman_step_forward(
        x, h_prev, Wx, Wh, b, activation), inputs, backward)


def case_elman_bptt(backend, activation, t_len):
    k, rng = backend.kernels, np.random.default_rng(19)
    n, d, h = 2, 3, 4
    inputs = {"x": _normal(rng, t_len, n, d), "h0": _normal(rng, n, h), **_rnn_params(rng, d, h)}
    b = {key: backend.asarray(v) for key, v in inputs.items()}
    hs = k.elman_forward(b["x"], b["h0"], b["Wx"], b["Wh"], b["b"], activation)

    def backward(R):
        dx, dh0, dWx, dWh, db = k.elman_backward(R, b["x"], b["h0"], hs, b["Wx"], b["Wh"],
                                                 activation)
        return {"x": dx, "h0": dh0, "Wx": dWx, "Wh": dWh, "b": db}
    gradient_check(backend, lambda x, h0, Wx, Wh, b: k.elman_forward(
        x, h0, Wx, Wh, b, activation), inputs, backward)


def case_lstm_step(backend):
    k, rng = backend.kernels, np.random.default_rng(20)
    n, d, h = 3, 4, 3
    inputs = {"x": _normal(rng, n, d), "h_prev": _normal(rng, n, h), "c_prev": _normal(rng, n, h),
              **_rnn_params(rng, d, h, gates=4)}
    b = {key: backend.asarray(v) for key, v in inputs.items()}
    _, c, gates = k.lstm_step_forward(b["x"], b["h_prev"], b["c_prev"], b["Wx"], b["Wh"], b["b"])

    def backward(Rh, Rc):
        dx, dhp, dcp, dWx, dWh, db = k.lstm_step_backward(
            Rh, Rc, b["x"], b["h_prev"], b["c_prev"], c, gates, b["Wx"], b["Wh"])
        return {"x": dx, "h_prev": dhp, "c_prev": dcp, "Wx": dWx, "Wh": dWh, "b": db}
    # the loss sees h and c (the gates output is a cache for backward, not a result)
    gradient_check(backend, lambda x, h_prev, c_prev, Wx, Wh, b: k.lstm_step_forward(
        x, h_prev, c_prev, Wx, Wh, b)[:2], inputs, backward)


def case_lstm_bptt(backend, t_len):
    k, rng = backend.kernels, np.random.default_rng(21)
    n, d, h = 2, 3, 3
    inputs = {"x": _normal(rng, t_len, n, d), "h0": _normal(rng, n, h), "c0": _normal(rng, n, h),
              **_rnn_params(rng, d, h, gates=4)}
    b = {key: backend.asarray(v) for key, v in inputs.items()}
    hs, cs, gates = k.lstm_forward(b["x"], b["h0"], b["c0"], b["Wx"], b["Wh"], b["b"])

    def backward(R):
        dx, dh0, dc0, dWx, dWh, db = k.lstm_backward(R, b["x"], b["h0"], b["c0"], hs, cs, gates,
                                                     b["Wx"], b["Wh"])
        return {"x": dx, "h0": dh0, "c0": dc0, "Wx": dWx, "Wh": dWh, "b": db}
    gradient_check(backend, lambda x, h0, c0, Wx, Wh, b: k.lstm_forward(
        x, h0, c0, Wx, Wh, b)[0], inputs, backward)


def _mask(rng, t_len, n):
    from ._examples import sequence_mask
    return sequence_mask(rng, t_len, n, np.float64)


def case_elman_masked(backend, activation, t_len):
    """Full BPTT (keep None) of the masked Elman: the exact gradient of sum(hs * R)."""
    k, rng = backend.kernels, np.random.default_rng(23)
    n, d, h = 4, 3, 4
    inputs = {"x": _normal(rng, t_len, n, d), "h0": _normal(rng, n, h), **_rnn_params(rng, d, h)}
    m = backend.asarray(_mask(rng, t_len, n))
    b = {key: backend.asarray(v) for key, v in inputs.items()}
    hs, hnew = k.elman_forward_masked(b["x"], b["h0"], m, b["Wx"], b["Wh"], b["b"], activation)

    def backward(R):
        dx, dh0, dWx, dWh, db = k.elman_backward_masked(R, b["x"], b["h0"], hs, hnew, m, None,
                                                        b["Wx"], b["Wh"], activation)
        return {"x": dx, "h0": dh0, "Wx": dWx, "Wh": dWh, "b": db}
    gradient_check(backend, lambda x, h0, Wx, Wh, b: k.elman_forward_masked(
        x, h0, m, Wx, Wh, b, activation)[0], inputs, backward)


def case_lstm_masked(backend, t_len):
    k, rng = backend.kernels, np.random.default_rng(24)
    n, d, h = 4, 3, 3
    inputs = {"x": _normal(rng, t_len, n, d), "h0": _normal(rng, n, h), "c0": _normal(rng, n, h),
              **_rnn_params(rng, d, h, gates=4)}
    m = backend.asarray(_mask(rng, t_len, n))
    b = {key: backend.asarray(v) for key, v in inputs.items()}
    hs, cs, cnew, gates = k.lstm_forward_masked(b["x"], b["h0"], b["c0"], m, b["Wx"], b["Wh"],
                                                b["b"])

    def backward(R):
        dx, dh0, dc0, dWx, dWh, db = k.lstm_backward_masked(
            R, b["x"], b["h0"], b["c0"], hs, cs, cnew, gates, m, None, b["Wx"], b["Wh"])
        return {"x": dx, "h0": dh0, "c0": dc0, "Wx": dWx, "Wh": dWh, "b": db}
    gradient_check(backend, lambda x, h0, c0, Wx, Wh, b: k.lstm_forward_masked(
        x, h0, c0, m, Wx, Wh, b)[0], inputs, backward)


def _gru_inputs(rng, t_len, n, d, h):
    return {"x": _normal(rng, t_len, n, d), "h0": _normal(rng, n, h),
            **_rnn_params(rng, d, h, gates=3), "bh": _normal(rng, 3 * h, scale=0.5)}


def case_gru_bptt(backend, t_len):
    k, rng = backend.kernels, np.random.default_rng(26)
    inputs = _gru_inputs(rng, t_len, 4, 3, 3)
    b = {key: backend.asarray(v) for key, v in inputs.items()}
    hs, gates, hn = k.gru_forward(b["x"], b["h0"], b["Wx"], b["Wh"], b["b"], b["bh"])

    def backward(R):
        dx, dh0, dWx, dWh, db, dbh = k.gru_backward(R, b["x"], b["h0"], hs, gates, hn,
                                                    b["Wx"], b["Wh"])
        return {"x": dx, "h0": dh0, "Wx": dWx, "Wh": dWh, "b": db, "bh": dbh}
    gradient_check(backend, lambda x, h0, Wx, Wh, b, bh: k.gru_forward(
        x, h0, Wx, Wh, b, bh)[0], inputs, backward)


def case_gru_masked(backend, t_len):
    """Full BPTT (keep None) of the masked GRU: the exact gradient of sum(hs * R)."""
    k, rng = backend.kernels, np.random.default_rng(27)
    inputs = _gru_inputs(rng, t_len, 4, 3, 3)
    m = backend.asarray(_mask(rng, t_len, 4))
    b = {key: backend.asarray(v) for key, v in inputs.items()}
    hs, _, gates, hn = k.gru_forward_masked(b["x"], b["h0"], m, b["Wx"], b["Wh"], b["b"],
                                            b["bh"])

    def backward(R):
        dx, dh0, dWx, dWh, db, dbh = k.gru_backward_masked(R, b["x"], b["h0"], hs, gates, hn,
                                                           m, None, b["Wx"], b["Wh"])
        return {"x": dx, "h0": dh0, "Wx": dWx, "Wh": dWh, "b": db, "bh": dbh}
    gradient_check(backend, lambda x, h0, Wx, Wh, b, bh: k.gru_forward_masked(
        x, h0, m, Wx, Wh, b, bh)[0], inputs, backward)


def _step_loop_elman(k, dhs, x, h0, hs, hnew, m, keep, Wx, Wh, activation):
    """The per-step loop of nn.recurrent.Elman._backward_dir (masked) before the
    whole-sequence kernel replaced it, on host arrays, through one backend's step kernel."""
    dx = np.empty_like(x)
    gwx, gwh, gb = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(Wh.shape[0])
    carry = np.zeros_like(h0)
    for t in range(x.shape[0] - 1, -1, -1):
        mt = m[t][:, None]
        dh = dhs[t] + carry
        out = k(mt * dh, x[t], hs[t - 1] if t else h0, hnew[t], Wx, Wh, activation)
        dx[t] = out[0]
        gwx, gwh, gb = gwx + out[2], gwh + out[3], gb + out[4]
        carry = out[1] + (1 - mt) * dh
        if keep is not None:
            carry = carry * keep[t][:, None]
    return dx, carry, gwx, gwh, gb


def _step_loop_lstm(k, dhs, x, h0, c0, hs, cs, cnew, gates, m, keep, Wx, Wh):
    """The per-step loop of nn.recurrent.LSTM._backward_dir (masked), likewise."""
    dx = np.empty_like(x)
    gwx, gwh, gb = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(Wh.shape[1])
    dh_carry, dc_carry = np.zeros_like(h0), np.zeros_like(c0)
    for t in range(x.shape[0] - 1, -1, -1):
        mt = m[t][:, None]
        dh, dc = dhs[t] + dh_carry, dc_carry
        hp, cp = (hs[t - 1], cs[t - 1]) if t else (h0, c0)
        out = k(mt * dh, mt * dc, x[t], hp, cp, cnew[t], gates[t], Wx, Wh)
        dx[t] = out[0]
        gwx, gwh, gb = gwx + out[3], gwh + out[4], gb + out[5]
        dh_carry, dc_carry = out[1] + (1 - mt) * dh, out[2] + (1 - mt) * dc
        if keep is not None:
            dh_carry, dc_carry = dh_carry * keep[t][:, None], dc_carry * keep[t][:, None]
    return dx, dh_carry, dc_carry, gwx, gwh, gb


@pytest.mark.parametrize("bptt", [None, 1, 2, 3], ids=["full", "k1", "k2", "k3"])
@pytest.mark.parametrize("cell", ["elman-tanh", "elman-relu", "lstm"])
def test_masked_backward_equals_the_step_loop(backend, cell, bptt, dtype):
    """``*_backward_masked`` (truncated or not) equals the loop of step kernels it replaced;
    with truncation windows of k real steps per row (keep from the mask)."""
    from ._examples import carry_keep, make_args
    from .test_equivalence import RTOL
    from deepbio.testing import assert_close
    name = "elman_backward_masked" if cell.startswith("elman") else "lstm_backward_masked"
    dims = {"T": 7, "N": 5, "D": 3, "H": 4, "bptt": 0}
    if cell.startswith("elman"):
        dims["rnn_activation"] = cell.split("-")[1]
    a = make_args(name, dtype, np.random.default_rng(25), dims)
    a["keep"] = None if bptt is None else carry_keep(a["m"], bptt)
    to = backend.asarray
    got = getattr(backend.kernels, name)(**{key: to(v) if isinstance(v, np.ndarray) else v
                                            for key, v in a.items()})
    step = backend.kernels.elman_step_backward if name.startswith("elman") \
        else backend.kernels.lstm_step_backward
    host = lambda f: (lambda *args: tuple(backend.to_numpy(o) for o in f(  # noqa: E731
        *(to(v) if isinstance(v, np.ndarray) else v for v in args))))
    if name.startswith("elman"):
        want = _step_loop_elman(host(step), a["dhs"], a["x"], a["h0"], a["hs"], a["hnew"],
                                a["m"], a["keep"], a["Wx"], a["Wh"], a["activation"])
    else:
        want = _step_loop_lstm(host(step), a["dhs"], a["x"], a["h0"], a["c0"], a["hs"],
                               a["cs"], a["cnew"], a["gates"], a["m"], a["keep"], a["Wx"],
                               a["Wh"])
    for i, (g, w) in enumerate(zip(got, want)):
        w = w.astype(dtype)
        assert_close(backend.to_numpy(g), w, RTOL[np.dtype(dtype)],
                     floor=max(1.0, float(np.abs(w).max())), name=f"{name} output {i}")
    if bptt == 1:       # windows of one step: no gradient crosses a real step
        kept = a["keep"]
        assert (kept[a["m"] > 0] == 0).all()


# ------------------------------------------------------------------------- RBM


def cd_matches_free_energy_gradient(backend, n, d, h, seed, binary, gaussian):
    """cd_statistics(v0, h0, vk, hk) = -d/dtheta [mean F(v0) - mean F(vk)], h = p(h | v)."""
    k, rng = backend.kernels, np.random.default_rng(seed)
    v0, vk = rng.random((n, d)), rng.random((n, d))
    if binary:
        v0, vk = (v0 < 0.5).astype(np.float64), (vk < 0.5).astype(np.float64)
    params = {"W": _normal(rng, d, h, scale=0.5), "b": _normal(rng, d), "c": _normal(rng, h)}
    sigma = rng.uniform(0.5, 1.5, d) if gaussian else None
    B = backend.asarray
    bsig = None if sigma is None else B(sigma)

    def free_energy_gap(W, b, c):
        f0 = backend.to_numpy(k.free_energy(B(v0), B(W), B(b), B(c), bsig)).mean()
        fk = backend.to_numpy(k.free_energy(B(vk), B(W), B(b), B(c), bsig)).mean()
        return -(f0 - fk)

    # Gaussian visibles enter the hidden units as v / sigma
    s0, sk = (v0, vk) if sigma is None else (v0 / sigma, vk / sigma)
    h0 = k.activation_forward(B(s0 @ params["W"] + params["c"]), "sigmoid")
    hk = k.activation_forward(B(sk @ params["W"] + params["c"]), "sigmoid")
    dW, db, dc = (backend.to_numpy(g) for g in k.cd_statistics(B(s0), h0, B(sk), hk))
    analytic = {"W": dW, "c": dc}
    if sigma is None:        # dF/db = -v for Bernoulli visibles (-(v - b)/sigma^2 otherwise)
        analytic["b"] = db
    check_gradient(free_energy_gap, params, analytic)


def case_cd_statistics_property(backend):
    @given(n=st.integers(1, 5), d=st.integers(1, 5), h=st.integers(1, 5),
           seed=st.integers(0, 2**32 - 1), binary=st.booleans(), gaussian=st.booleans())
    def prop(n, d, h, seed, binary, gaussian):
        cd_matches_free_energy_gradient(backend, n, d, h, seed, binary, gaussian)
    prop()


def case_cd_statistics_definition(backend):
    """dW = (v0^T h0 - vk^T hk) / N, db = mean(v0 - vk), dc = mean(h0 - hk), by loops."""
    rng = np.random.default_rng(22)
    n, d, h = 4, 3, 5
    v0, vk, h0, hk = rng.random((n, d)), rng.random((n, d)), rng.random((n, h)), rng.random((n, h))
    dW, db, dc = (backend.to_numpy(g) for g in backend.kernels.cd_statistics(
        *(backend.asarray(a) for a in (v0, h0, vk, hk))))
    want = np.zeros((d, h))
    for s in range(n):
        for i in range(d):
            for j in range(h):
                want[i, j] += (v0[s, i] * h0[s, j] - vk[s, i] * hk[s, j]) / n
    np.testing.assert_allclose(dW, want, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(db, (v0 - vk).sum(0) / n, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(dc, (h0 - hk).sum(0) / n, rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------- the case table

#: gradient kernel name (or a tuple of names one case checks together) -> [(id, case)]
GRADIENT_CASES = {
    "activation_backward": [(f"{a}", lambda bk, a=a: case_activation(bk, a)) for a in ACTIVATIONS]
                           + [("relu-at-zero", case_relu_at_zero)],
    "dense_backward": [(a, lambda bk, a=a: case_dense(bk, a)) for a in ACTIVATIONS],
    "sparsity_grad": [("rho0.1-beta3", lambda bk: case_sparsity(bk, 0.1, 3.0)),
                      ("rho0.6-beta0.5", lambda bk: case_sparsity(bk, 0.6, 0.5))],
    ("conv2d_backward_input", "conv2d_backward_weight"):
        [(c, lambda bk, c=c: case_conv2d(bk, c)) for c in CONV2D],
    ("conv1d_backward_input", "conv1d_backward_weight"):
        [(c, lambda bk, c=c: case_conv1d(bk, c)) for c in CONV1D],
    "maxpool2d_backward": [(c, lambda bk, c=c: case_pool2d(bk, "max", c)) for c in POOL2D],
    "avgpool2d_backward": [(c, lambda bk, c=c: case_pool2d(bk, "avg", c)) for c in POOL2D],
    "maxpool1d_backward": [(c, lambda bk, c=c: case_pool1d(bk, "max", c)) for c in POOL1D],
    "avgpool1d_backward": [(c, lambda bk, c=c: case_pool1d(bk, "avg", c)) for c in POOL1D],
    "elman_step_backward": [(a, lambda bk, a=a: case_elman_step(bk, a)) for a in RNN_ACTIVATIONS],
    "elman_backward": [(f"{a}-T{t}", lambda bk, a=a, t=t: case_elman_bptt(bk, a, t))
                       for a in RNN_ACTIVATIONS for t in (1, 4)],
    "lstm_step_backward": [("step", case_lstm_step)],
    "lstm_backward": [(f"T{t}", lambda bk, t=t: case_lstm_bptt(bk, t)) for t in (1, 3)],
    "elman_backward_masked": [(f"{a}-T{t}", lambda bk, a=a, t=t: case_elman_masked(bk, a, t))
                              for a in RNN_ACTIVATIONS for t in (1, 5)],
    "lstm_backward_masked": [(f"T{t}", lambda bk, t=t: case_lstm_masked(bk, t)) for t in (1, 5)],
    "gru_backward": [(f"T{t}", lambda bk, t=t: case_gru_bptt(bk, t)) for t in (1, 3)],
    "gru_backward_masked": [(f"T{t}", lambda bk, t=t: case_gru_masked(bk, t)) for t in (1, 5)],
    "cd_statistics": [("free-energy-gradient", case_cd_statistics_property),
                      ("definition", case_cd_statistics_definition)],
}


def covered_kernels():
    """Every kernel name with a finite-difference case."""
    names = set()
    for key in GRADIENT_CASES:
        names.update((key,) if isinstance(key, str) else key)
    return names


@pytest.mark.parametrize("case", [
    pytest.param(fn, id=f"{key if isinstance(key, str) else '+'.join(key)}-{cid}")
    for key, cases in GRADIENT_CASES.items() for cid, fn in cases])
def test_gradient(backend, case):
    case(backend)
