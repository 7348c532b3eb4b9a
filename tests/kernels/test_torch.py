"""Cross-checks against PyTorch CPU, forward and backward, on random shapes.

PyTorch is an independent implementation of the same operations: convolution and pooling
(``torch.nn.functional``), Elman and LSTM recurrences (``torch.nn.RNN`` / ``RNNCell`` /
``LSTM`` / ``LSTMCell`` / ``GRU``), dense layers, activations, softmax, the logistic + cross-entropy
pairing, softplus in the free energy and the KL sparsity penalty.  Backward kernels are
compared with autograd given the same upstream gradient.  Every test takes the ``torch``
fixture (``tests/conftest.py``), which skips it when torch is not installed.

Weight mapping for the recurrent layers (ours <- torch): ``Wx = weight_ih_l0.T`` (D, H or
4H), ``Wh = weight_hh_l0.T``, ``b = bias_ih_l0 + bias_hh_l0``; the LSTM gate order
(i, f, g, o) is the same.  The GRU keeps torch's two biases: ``b = bias_ih_l0``,
``bh = bias_hh_l0`` (gate order r, z, n, and torch's reset-gate placement).

Tolerances, relative with a floor: ``|ours - torch| <= rtol * max(|torch|, floor)`` with
``floor = max(1, max |torch|)`` (inputs are O(1), so sums that cancel to a tiny value still
carry the rounding error of O(1) terms); ``rtol = 1e-10`` in float64, ``1e-5`` in float32.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from deepbio._kernels import ACTIVATIONS, RNN_ACTIVATIONS
from deepbio.testing import assert_close

from ._examples import dims_strategy, distinct

TOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-10}

#: Kernels this module compares with PyTorch (read by test_coverage.py).
TORCH_COVERED = {
    "conv2d_forward", "conv2d_backward_input", "conv2d_backward_weight",
    "conv1d_forward", "conv1d_backward_input", "conv1d_backward_weight",
    "maxpool2d_forward", "maxpool2d_backward", "avgpool2d_forward", "avgpool2d_backward",
    "maxpool1d_forward", "maxpool1d_backward", "avgpool1d_forward", "avgpool1d_backward",
    "elman_step_forward", "elman_step_backward", "elman_forward", "elman_backward",
    "lstm_step_forward", "lstm_step_backward", "lstm_forward", "lstm_backward",
    "elman_forward_masked", "elman_backward_masked", "lstm_forward_masked",
    "lstm_backward_masked", "elman_rop", "lstm_rop",
    "gru_forward", "gru_backward", "gru_forward_masked", "gru_backward_masked", "gru_rop",
    "dense_forward", "dense_backward", "activation_forward", "activation_backward",
    "sigmoid_bernoulli", "free_energy", "sparsity_grad",
}


def _t(torch, a, grad=False):
    t = torch.from_numpy(np.array(a, copy=True))
    return t.requires_grad_(grad)


def _n(t):
    return t.detach().numpy()


class Run:
    """Call kernels of one backend on host arrays and get host arrays back."""

    def __init__(self, backend):
        self.b = backend

    def __getattr__(self, name):
        fn = getattr(self.b.kernels, name)

        def call(*args, **kw):
            conv = (lambda v: self.b.asarray(v) if isinstance(v, np.ndarray) else v)
            out = fn(*map(conv, args), **{k: conv(v) for k, v in kw.items()})
            if isinstance(out, tuple):
                return tuple(self.b.to_numpy(o) for o in out)
            return self.b.to_numpy(out)
        return call


def close(actual, expected, name):
    """Within TOL of max(|expected|, 1): inputs are O(1), so 1 is the scale of the terms
    whose sums may cancel to a tiny result."""
    expected = np.asarray(expected).astype(actual.dtype)
    floor = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    assert_close(actual, expected, TOL[actual.dtype], floor=floor, name=name)


def _given_dims(name, body):
    """Run ``body(dims, rng)`` for hypothesis-drawn sizes of kernel ``name``."""
    @given(dims=dims_strategy(name), seed=st.integers(0, 2**32 - 1))
    def run(dims, seed):
        body(dims, np.random.default_rng(seed))
    run()


# ------------------------------------------------------------------ convolution


def test_conv2d(backend, dtype, torch):
    k = Run(backend)
    F = torch.nn.functional

    def body(d, rng):
        x = rng.standard_normal((d["N"], d["C"], d["IH"], d["IW"])).astype(dtype)
        w = rng.standard_normal((d["F"], d["C"], d["KH"], d["KW"])).astype(dtype)
        b = rng.standard_normal(d["F"]).astype(dtype)
        stride, pad = (d["SH"], d["SW"]), (d["PH"], d["PW"])
        tx, tw, tb = _t(torch, x, True), _t(torch, w, True), _t(torch, b, True)
        ty = F.conv2d(tx, tw, tb, stride=stride, padding=pad)
        y = k.conv2d_forward(x, w, b, stride, pad)
        close(y, _n(ty), "conv2d y")
        dy = rng.standard_normal(y.shape).astype(dtype)
        ty.backward(torch.from_numpy(dy))
        close(k.conv2d_backward_input(dy, w, x.shape[2:], stride, pad), _n(tx.grad), "dx")
        dw, db = k.conv2d_backward_weight(dy, x, w.shape[2:], stride, pad)
        close(dw, _n(tw.grad), "dw")
        close(db, _n(tb.grad), "db")
    _given_dims("conv2d_forward", body)


def test_conv1d(backend, dtype, torch):
    k = Run(backend)
    F = torch.nn.functional

    def body(d, rng):
        x = rng.standard_normal((d["N"], d["C"], d["L"])).astype(dtype)
        w = rng.standard_normal((d["F"], d["C"], d["K"])).astype(dtype)
        b = rng.standard_normal(d["F"]).astype(dtype)
        s, p = d["S"], d["P"]
        tx, tw, tb = _t(torch, x, True), _t(torch, w, True), _t(torch, b, True)
        ty = F.conv1d(tx, tw, tb, stride=s, padding=p)
        y = k.conv1d_forward(x, w, b, s, p)
        close(y, _n(ty), "conv1d y")
        dy = rng.standard_normal(y.shape).astype(dtype)
        ty.backward(torch.from_numpy(dy))
        close(k.conv1d_backward_input(dy, w, x.shape[2], s, p), _n(tx.grad), "dx")
        dw, db = k.conv1d_backward_weight(dy, x, w.shape[2], s, p)
        close(dw, _n(tw.grad), "dw")
        close(db, _n(tb.grad), "db")
    _given_dims("conv1d_forward", body)


# ---------------------------------------------------------------------- pooling


@pytest.mark.parametrize("dim", [1, 2])
def test_maxpool(backend, dtype, torch, dim):
    k = Run(backend)
    F = torch.nn.functional

    def body(d, rng):
        if dim == 2:
            shape, kern, stride = (d["N"], d["C"], d["IH"], d["IW"]), (d["KH"], d["KW"]), \
                (d["SH"], d["SW"])
            fwd, bwd, tpool = k.maxpool2d_forward, k.maxpool2d_backward, F.max_pool2d
        else:
            shape, kern, stride = (d["N"], d["C"], d["L"]), d["K"], d["S"]
            fwd, bwd, tpool = k.maxpool1d_forward, k.maxpool1d_backward, F.max_pool1d
        x = distinct(rng, shape, dtype)              # no ties: the argmax is unique
        tx = _t(torch, x, True)
        ty, tidx = tpool(tx, kern, stride, return_indices=True)
        y, argmax = fwd(x, kern, stride)
        np.testing.assert_array_equal(y, _n(ty))
        np.testing.assert_array_equal(argmax, tidx.numpy())
        assert argmax.dtype == np.int64
        dy = rng.standard_normal(y.shape).astype(dtype)
        ty.backward(torch.from_numpy(dy))
        close(bwd(dy, argmax, shape[2:] if dim == 2 else shape[2]), _n(tx.grad), "dx")
    _given_dims(f"maxpool{dim}d_forward", body)


@pytest.mark.parametrize("dim", [1, 2])
def test_avgpool(backend, dtype, torch, dim):
    k = Run(backend)
    F = torch.nn.functional

    def body(d, rng):
        if dim == 2:
            shape, kern, stride = (d["N"], d["C"], d["IH"], d["IW"]), (d["KH"], d["KW"]), \
                (d["SH"], d["SW"])
            fwd, bwd, tpool, in_size = k.avgpool2d_forward, k.avgpool2d_backward, \
                F.avg_pool2d, shape[2:]
        else:
            shape, kern, stride = (d["N"], d["C"], d["L"]), d["K"], d["S"]
            fwd, bwd, tpool, in_size = k.avgpool1d_forward, k.avgpool1d_backward, \
                F.avg_pool1d, shape[2]
        x = rng.standard_normal(shape).astype(dtype)
        tx = _t(torch, x, True)
        ty = tpool(tx, kern, stride)
        y = fwd(x, kern, stride)
        close(y, _n(ty), "y")
        dy = rng.standard_normal(y.shape).astype(dtype)
        ty.backward(torch.from_numpy(dy))
        close(bwd(dy, in_size, kern, stride), _n(tx.grad), "dx")
    _given_dims(f"avgpool{dim}d_forward", body)


# -------------------------------------------------------------------- recurrent


def _torch_weights(torch, module, Wx, Wh, rng, dtype):
    """Load ours into a torch RNN/LSTM(Cell): biases split randomly, b = b_ih + b_hh."""
    sfx = "_l0" if hasattr(module, "weight_ih_l0") else ""
    b_ih = rng.standard_normal(Wx.shape[1]).astype(dtype)
    b_hh = rng.standard_normal(Wx.shape[1]).astype(dtype)
    with torch.no_grad():
        getattr(module, "weight_ih" + sfx).copy_(torch.from_numpy(Wx.T.copy()))
        getattr(module, "weight_hh" + sfx).copy_(torch.from_numpy(Wh.T.copy()))
        getattr(module, "bias_ih" + sfx).copy_(torch.from_numpy(b_ih))
        getattr(module, "bias_hh" + sfx).copy_(torch.from_numpy(b_hh))
    return (b_ih + b_hh).astype(dtype)


def _grads(module, sfx):
    g = lambda n: _n(getattr(module, n + sfx).grad)  # noqa: E731
    close(g("bias_ih"), g("bias_hh"), "torch's two bias gradients")
    return g("weight_ih").T, g("weight_hh").T, g("bias_ih")


def _rnn_data(d, rng, dtype, gates=1):
    T, N, D, H = d["T"], d["N"], d["D"], d["H"]
    x = rng.standard_normal((T, N, D)).astype(dtype)
    h0 = (0.5 * rng.standard_normal((N, H))).astype(dtype)
    c0 = rng.standard_normal((N, H)).astype(dtype)
    Wx = (0.5 * rng.standard_normal((D, gates * H))).astype(dtype)
    Wh = (0.5 * rng.standard_normal((H, gates * H))).astype(dtype)
    return x, h0, c0, Wx, Wh


@pytest.mark.parametrize("activation", RNN_ACTIVATIONS)
def test_elman(backend, dtype, torch, activation):
    k = Run(backend)
    tdtype = getattr(torch, dtype.name)

    def body(d, rng):
        x, h0, _, Wx, Wh = _rnn_data(d, rng, dtype)
        rnn = torch.nn.RNN(d["D"], d["H"], nonlinearity=activation, dtype=tdtype)
        b = _torch_weights(torch, rnn, Wx, Wh, rng, dtype)
        tx, th0 = _t(torch, x, True), _t(torch, h0[None], True)
        tout, _ = rnn(tx, th0)
        hs = k.elman_forward(x, h0, Wx, Wh, b, activation)
        close(hs, _n(tout), "hs")
        dhs = rng.standard_normal(hs.shape).astype(dtype)
        tout.backward(torch.from_numpy(dhs))
        dx, dh0, dWx, dWh, db = k.elman_backward(dhs, x, h0, hs, Wx, Wh, activation)
        for got, want, name in zip((dx, dh0, dWx, dWh, db),
                                   (_n(tx.grad), _n(th0.grad)[0]) + _grads(rnn, "_l0"),
                                   ("dx", "dh0", "dWx", "dWh", "db")):
            close(got, want, name)
    _given_dims("elman_forward", body)


@pytest.mark.parametrize("activation", RNN_ACTIVATIONS)
def test_elman_step(backend, dtype, torch, activation):
    k = Run(backend)
    tdtype = getattr(torch, dtype.name)

    def body(d, rng):
        x, h0, _, Wx, Wh = _rnn_data(d, rng, dtype)
        cell = torch.nn.RNNCell(d["D"], d["H"], nonlinearity=activation, dtype=tdtype)
        b = _torch_weights(torch, cell, Wx, Wh, rng, dtype)
        tx, th = _t(torch, x[0], True), _t(torch, h0, True)
        th1 = cell(tx, th)
        h = k.elman_step_forward(x[0], h0, Wx, Wh, b, activation)
        close(h, _n(th1), "h")
        dh = rng.standard_normal(h.shape).astype(dtype)
        th1.backward(torch.from_numpy(dh))
        got = k.elman_step_backward(dh, x[0], h0, h, Wx, Wh, activation)
        want = (_n(tx.grad), _n(th.grad)) + _grads(cell, "")
        for g, w, name in zip(got, want, ("dx", "dh_prev", "dWx", "dWh", "db")):
            close(g, w, name)
    _given_dims("elman_step_forward", body)


def test_lstm(backend, dtype, torch):
    k = Run(backend)
    tdtype = getattr(torch, dtype.name)

    def body(d, rng):
        x, h0, c0, Wx, Wh = _rnn_data(d, rng, dtype, gates=4)
        lstm = torch.nn.LSTM(d["D"], d["H"], dtype=tdtype)
        b = _torch_weights(torch, lstm, Wx, Wh, rng, dtype)
        tx, th0, tc0 = _t(torch, x, True), _t(torch, h0[None], True), _t(torch, c0[None], True)
        tout, (thn, tcn) = lstm(tx, (th0, tc0))
        hs, cs, gates = k.lstm_forward(x, h0, c0, Wx, Wh, b)
        close(hs, _n(tout), "hs")
        close(cs[-1], _n(tcn)[0], "c_T")
        dhs = rng.standard_normal(hs.shape).astype(dtype)
        tout.backward(torch.from_numpy(dhs))
        got = k.lstm_backward(dhs, x, h0, c0, hs, cs, gates, Wx, Wh)
        want = (_n(tx.grad), _n(th0.grad)[0], _n(tc0.grad)[0]) + _grads(lstm, "_l0")
        for g, w, name in zip(got, want, ("dx", "dh0", "dc0", "dWx", "dWh", "db")):
            close(g, w, name)
    _given_dims("lstm_forward", body)


def test_lstm_step(backend, dtype, torch):
    k = Run(backend)
    tdtype = getattr(torch, dtype.name)

    def body(d, rng):
        x, h0, c0, Wx, Wh = _rnn_data(d, rng, dtype, gates=4)
        cell = torch.nn.LSTMCell(d["D"], d["H"], dtype=tdtype)
        b = _torch_weights(torch, cell, Wx, Wh, rng, dtype)
        tx, th, tc = _t(torch, x[0], True), _t(torch, h0, True), _t(torch, c0, True)
        th1, tc1 = cell(tx, (th, tc))
        h, c, gates = k.lstm_step_forward(x[0], h0, c0, Wx, Wh, b)
        close(h, _n(th1), "h")
        close(c, _n(tc1), "c")
        # gates = [sigm(zi), sigm(zf), tanh(zg), sigm(zo)] of z = x Wx + h Wh + b
        z = torch.from_numpy(x[0] @ Wx + h0 @ Wh + b)
        zi, zf, zg, zo = z.chunk(4, dim=1)
        tg = torch.cat([zi.sigmoid(), zf.sigmoid(), zg.tanh(), zo.sigmoid()], dim=1)
        close(gates, _n(tg), "gates")
        dh = rng.standard_normal(h.shape).astype(dtype)
        dc = rng.standard_normal(c.shape).astype(dtype)
        torch.autograd.backward([th1, tc1], [torch.from_numpy(dh), torch.from_numpy(dc)])
        got = k.lstm_step_backward(dh, dc, x[0], h0, c0, c, gates, Wx, Wh)
        want = (_n(tx.grad), _n(th.grad), _n(tc.grad)) + _grads(cell, "")
        for g, w, name in zip(got, want, ("dx", "dh_prev", "dc_prev", "dWx", "dWh", "db")):
            close(g, w, name)
    _given_dims("lstm_step_forward", body)


# ------------------------------------------- recurrent: right-padded sequences, R-op


def _lengths_mask(rng, T, N, dtype):
    """Right padding: lengths in [1, T] (row 0 the full length), mask (T, N)."""
    lengths = rng.integers(1, T + 1, N)
    lengths[0] = T
    return lengths, (np.arange(T)[:, None] < lengths[None, :]).astype(dtype)


def _packed_run(torch, module, x, state, lengths):
    """``module`` over right-padded ``x`` (T, N, D) through pack_padded_sequence; returns
    the padded outputs (zero at padding) and the final state (after each row's last step)."""
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
    packed = pack_padded_sequence(x, torch.from_numpy(lengths), enforce_sorted=False)
    out, final = module(packed, state)
    return pad_packed_sequence(out, total_length=x.shape[0])[0], final


@pytest.mark.parametrize("activation", RNN_ACTIVATIONS)
def test_elman_masked_right_padded(backend, dtype, torch, activation):
    """elman_forward_masked / elman_backward_masked (full BPTT) = torch.nn.RNN on packed
    right-padded sequences: outputs at real steps, the final state, every gradient."""
    k = Run(backend)
    tdtype = getattr(torch, dtype.name)

    def body(d, rng):
        x, h0, _, Wx, Wh = _rnn_data(d, rng, dtype)
        lengths, m = _lengths_mask(rng, d["T"], d["N"], dtype)
        rnn = torch.nn.RNN(d["D"], d["H"], nonlinearity=activation, dtype=tdtype)
        b = _torch_weights(torch, rnn, Wx, Wh, rng, dtype)
        tx, th0 = _t(torch, x, True), _t(torch, h0[None], True)
        tout, thn = _packed_run(torch, rnn, tx, th0, lengths)
        hs, hnew = k.elman_forward_masked(x, h0, m, Wx, Wh, b, activation)
        close(hs * m[:, :, None], _n(tout), "hs at real steps")
        close(hs[-1], _n(thn)[0], "final state")
        dhs = rng.standard_normal(hs.shape).astype(dtype) * m[:, :, None]
        tout.backward(torch.from_numpy(dhs))
        got = k.elman_backward_masked(dhs, x, h0, hs, hnew, m, None, Wx, Wh, activation)
        want = (_n(tx.grad), _n(th0.grad)[0]) + _grads(rnn, "_l0")
        for g, w, name in zip(got, want, ("dx", "dh0", "dWx", "dWh", "db")):
            close(g, w, name)
    _given_dims("elman_forward_masked", body)


def test_lstm_masked_right_padded(backend, dtype, torch):
    k = Run(backend)
    tdtype = getattr(torch, dtype.name)

    def body(d, rng):
        x, h0, c0, Wx, Wh = _rnn_data(d, rng, dtype, gates=4)
        lengths, m = _lengths_mask(rng, d["T"], d["N"], dtype)
        lstm = torch.nn.LSTM(d["D"], d["H"], dtype=tdtype)
        b = _torch_weights(torch, lstm, Wx, Wh, rng, dtype)
        tx, th0, tc0 = _t(torch, x, True), _t(torch, h0[None], True), _t(torch, c0[None], True)
        tout, (thn, tcn) = _packed_run(torch, lstm, tx, (th0, tc0), lengths)
        hs, cs, cnew, gates = k.lstm_forward_masked(x, h0, c0, m, Wx, Wh, b)
        close(hs * m[:, :, None], _n(tout), "hs at real steps")
        close(hs[-1], _n(thn)[0], "final h")
        close(cs[-1], _n(tcn)[0], "final c")
        dhs = rng.standard_normal(hs.shape).astype(dtype) * m[:, :, None]
        tout.backward(torch.from_numpy(dhs))
        got = k.lstm_backward_masked(dhs, x, h0, c0, hs, cs, cnew, gates, m, None, Wx, Wh)
        want = (_n(tx.grad), _n(th0.grad)[0], _n(tc0.grad)[0]) + _grads(lstm, "_l0")
        for g, w, name in zip(got, want, ("dx", "dh0", "dc0", "dWx", "dWh", "db")):
            close(g, w, name)
    _given_dims("lstm_forward_masked", body)


def _torch_jvp_rows(torch, module, x, state, lengths, tangents, tx):
    """Forward-mode AD (torch.func.jvp) of ``module``'s outputs, row by row over each row's
    real prefix (a right-padded row is its prefix: packing has no forward AD in torch)."""
    from torch.func import functional_call, jvp
    params = {k: v.detach() for k, v in module.named_parameters()}
    T, N = x.shape[:2]
    out = np.zeros((T, N, module.hidden_size), dtype=x.dtype)
    for n, length in enumerate(lengths):
        row_state = tuple(s[:, n:n + 1] for s in state) if isinstance(state, tuple) \
            else state[:, n:n + 1]

        def f(p, xr):
            return functional_call(module, p, (xr, row_state))[0]
        xr = torch.from_numpy(np.ascontiguousarray(x[:length, n:n + 1]))
        txr = torch.from_numpy(np.ascontiguousarray(tx[:length, n:n + 1]))
        with torch.backends.mkldnn.flags(enabled=False):     # (oneDNN's LSTM has no jvp)
            _, r = jvp(f, (params, xr), (tangents, txr))
        out[:length, n] = _n(r)[:, 0]
        out[length:, n] = out[length - 1, n]          # the state is kept on padding
    return out


def _tangents(torch, module, rng, dtype):
    """Random tangents of the torch parameters and ours: R{Wx}, R{Wh}, R{b} (the two torch
    biases get R{b}/2 each)."""
    sfx = "_l0"
    rWx = rng.standard_normal(getattr(module, "weight_ih" + sfx).shape[::-1]).astype(dtype)
    rWh = rng.standard_normal(getattr(module, "weight_hh" + sfx).shape[::-1]).astype(dtype)
    rb = rng.standard_normal(rWx.shape[1]).astype(dtype)
    t = {"weight_ih" + sfx: torch.from_numpy(rWx.T.copy()),
         "weight_hh" + sfx: torch.from_numpy(rWh.T.copy()),
         "bias_ih" + sfx: torch.from_numpy(rb / 2), "bias_hh" + sfx: torch.from_numpy(rb / 2)}
    return t, rWx, rWh, rb


@pytest.mark.parametrize("activation", RNN_ACTIVATIONS)
def test_elman_rop_forward_ad(backend, dtype, torch, activation):
    """elman_rop (masked, right padding) = torch.func.jvp of torch.nn.RNN per row."""
    k = Run(backend)
    tdtype = getattr(torch, dtype.name)

    def body(d, rng):
        x, h0, _, Wx, Wh = _rnn_data(d, rng, dtype)
        lengths, m = _lengths_mask(rng, d["T"], d["N"], dtype)
        rnn = torch.nn.RNN(d["D"], d["H"], nonlinearity=activation, dtype=tdtype)
        b = _torch_weights(torch, rnn, Wx, Wh, rng, dtype)
        tangents, rWx, rWh, rb = _tangents(torch, rnn, rng, dtype)
        rx = rng.standard_normal(x.shape).astype(dtype)
        hs, hnew = k.elman_forward_masked(x, h0, m, Wx, Wh, b, activation)
        hprev = np.concatenate([h0[None], hs[:-1]])
        A = (rx @ Wx + x @ rWx + hprev @ rWh + rb).astype(dtype)
        got = k.elman_rop(A, hnew, m, Wh, activation)
        want = _torch_jvp_rows(torch, rnn, x, torch.from_numpy(h0[None]), lengths, tangents, rx)
        close(got, want, "R{h}")
    _given_dims("elman_rop", body)


def test_lstm_rop_forward_ad(backend, dtype, torch):
    k = Run(backend)
    tdtype = getattr(torch, dtype.name)

    def body(d, rng):
        x, h0, c0, Wx, Wh = _rnn_data(d, rng, dtype, gates=4)
        lengths, m = _lengths_mask(rng, d["T"], d["N"], dtype)
        lstm = torch.nn.LSTM(d["D"], d["H"], dtype=tdtype)
        b = _torch_weights(torch, lstm, Wx, Wh, rng, dtype)
        tangents, rWx, rWh, rb = _tangents(torch, lstm, rng, dtype)
        rx = rng.standard_normal(x.shape).astype(dtype)
        hs, cs, cnew, gates = k.lstm_forward_masked(x, h0, c0, m, Wx, Wh, b)
        hprev = np.concatenate([h0[None], hs[:-1]])
        A = (rx @ Wx + x @ rWx + hprev @ rWh + rb).astype(dtype)
        got = k.lstm_rop(A, c0, cs, cnew, gates, m, Wh)
        state = (torch.from_numpy(h0[None]), torch.from_numpy(c0[None]))
        want = _torch_jvp_rows(torch, lstm, x, state, lengths, tangents, rx)
        close(got, want, "R{h}")
    _given_dims("lstm_rop", body)


# ------------------------------------------------------------------------- GRU


def _gru_module(torch, d, rng, dtype, Wx, Wh):
    """A torch.nn.GRU holding ours, and our random biases ``(b, bh)`` (torch's two)."""
    gru = torch.nn.GRU(d["D"], d["H"], dtype=getattr(torch, dtype.name))
    b = rng.standard_normal(3 * d["H"]).astype(dtype)
    bh = rng.standard_normal(3 * d["H"]).astype(dtype)
    with torch.no_grad():
        for name, v in (("weight_ih_l0", Wx.T), ("weight_hh_l0", Wh.T), ("bias_ih_l0", b),
                        ("bias_hh_l0", bh)):
            getattr(gru, name).copy_(torch.from_numpy(np.ascontiguousarray(v)))
    return gru, b, bh


def _gru_grads(gru):
    g = lambda n: _n(getattr(gru, n).grad)  # noqa: E731
    return g("weight_ih_l0").T, g("weight_hh_l0").T, g("bias_ih_l0"), g("bias_hh_l0")


_GRU_GRADS = ("dx", "dh0", "dWx", "dWh", "db", "dbh")


def test_gru(backend, dtype, torch):
    """gru_forward / gru_backward = torch.nn.GRU with copied weights: every state, and
    the gradients of x, h0, both weights and both biases."""
    k = Run(backend)

    def body(d, rng):
        x, h0, _, Wx, Wh = _rnn_data(d, rng, dtype, gates=3)
        gru, b, bh = _gru_module(torch, d, rng, dtype, Wx, Wh)
        tx, th0 = _t(torch, x, True), _t(torch, h0[None], True)
        tout, thn = gru(tx, th0)
        hs, gates, hn = k.gru_forward(x, h0, Wx, Wh, b, bh)
        close(hs, _n(tout), "hs")
        # gates = [r, z, n] and hn = h_{t-1} Wh_n + bh_n, from torch's own ops
        hp = np.concatenate([h0[None], hs[:-1]])
        gx = torch.from_numpy(x @ Wx + b)
        gh = torch.from_numpy(hp @ Wh + bh)
        xr, xz, xn = gx.chunk(3, dim=2)
        hr, hz, hh = gh.chunk(3, dim=2)
        r = (xr + hr).sigmoid()
        tg = torch.cat([r, (xz + hz).sigmoid(), (xn + r * hh).tanh()], dim=2)
        close(gates, _n(tg), "gates")
        close(hn, _n(hh), "hn")
        dhs = rng.standard_normal(hs.shape).astype(dtype)
        tout.backward(torch.from_numpy(dhs))
        got = k.gru_backward(dhs, x, h0, hs, gates, hn, Wx, Wh)
        want = (_n(tx.grad), _n(th0.grad)[0]) + _gru_grads(gru)
        for g, w, name in zip(got, want, _GRU_GRADS):
            close(g, w, name)
    _given_dims("gru_forward", body)


def test_gru_masked_right_padded(backend, dtype, torch):
    """gru_forward_masked / gru_backward_masked (full BPTT) = torch.nn.GRU on packed
    right-padded sequences: outputs at real steps, the final state, every gradient."""
    k = Run(backend)

    def body(d, rng):
        x, h0, _, Wx, Wh = _rnn_data(d, rng, dtype, gates=3)
        lengths, m = _lengths_mask(rng, d["T"], d["N"], dtype)
        gru, b, bh = _gru_module(torch, d, rng, dtype, Wx, Wh)
        tx, th0 = _t(torch, x, True), _t(torch, h0[None], True)
        tout, thn = _packed_run(torch, gru, tx, th0, lengths)
        hs, hnew, gates, hn = k.gru_forward_masked(x, h0, m, Wx, Wh, b, bh)
        close(hs * m[:, :, None], _n(tout), "hs at real steps")
        close(hnew * m[:, :, None], _n(tout), "h~ at real steps")
        close(hs[-1], _n(thn)[0], "final state")
        dhs = rng.standard_normal(hs.shape).astype(dtype) * m[:, :, None]
        tout.backward(torch.from_numpy(dhs))
        got = k.gru_backward_masked(dhs, x, h0, hs, gates, hn, m, None, Wx, Wh)
        want = (_n(tx.grad), _n(th0.grad)[0]) + _gru_grads(gru)
        for g, w, name in zip(got, want, _GRU_GRADS):
            close(g, w, name)
    _given_dims("gru_forward_masked", body)


def test_gru_rop_forward_ad(backend, dtype, torch):
    """gru_rop (masked, right padding) = torch.func.jvp of torch.nn.GRU per row, with
    tangents of x, both weights and both biases."""
    k = Run(backend)

    def body(d, rng):
        x, h0, _, Wx, Wh = _rnn_data(d, rng, dtype, gates=3)
        lengths, m = _lengths_mask(rng, d["T"], d["N"], dtype)
        gru, b, bh = _gru_module(torch, d, rng, dtype, Wx, Wh)
        rWx = rng.standard_normal(Wx.shape).astype(dtype)
        rWh = rng.standard_normal(Wh.shape).astype(dtype)
        rb = rng.standard_normal(b.shape).astype(dtype)
        rbh = rng.standard_normal(bh.shape).astype(dtype)
        tangents = {"weight_ih_l0": torch.from_numpy(rWx.T.copy()),
                    "weight_hh_l0": torch.from_numpy(rWh.T.copy()),
                    "bias_ih_l0": torch.from_numpy(rb), "bias_hh_l0": torch.from_numpy(rbh)}
        rx = rng.standard_normal(x.shape).astype(dtype)
        hs, _, gates, hn = k.gru_forward_masked(x, h0, m, Wx, Wh, b, bh)
        hprev = np.concatenate([h0[None], hs[:-1]])
        ax = (rx @ Wx + x @ rWx + rb).astype(dtype)
        ah = (hprev @ rWh + rbh).astype(dtype)
        got = k.gru_rop(ax, ah, h0, hs, gates, hn, m, Wh)
        want = _torch_jvp_rows(torch, gru, x, torch.from_numpy(h0[None]), lengths, tangents, rx)
        close(got, want, "R{h}")
    _given_dims("gru_rop", body)


# ------------------------------------------------------------------------ dense


def _torch_act(torch, z, activation):
    return {"linear": lambda z: z, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
            "relu": torch.relu, "softmax": lambda z: torch.softmax(z, dim=-1)}[activation](z)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_dense(backend, dtype, torch, activation):
    k = Run(backend)
    F = torch.nn.functional

    def body(d, rng):
        x = rng.standard_normal((d["N"], d["D"])).astype(dtype)
        W = rng.standard_normal((d["D"], d["H"])).astype(dtype)
        b = rng.standard_normal(d["H"]).astype(dtype)
        tx, tW, tb = _t(torch, x, True), _t(torch, W, True), _t(torch, b, True)
        ta = _torch_act(torch, F.linear(tx, tW.T, tb), activation)
        a = k.dense_forward(x, W, b, activation)
        close(a, _n(ta), "a")
        da = rng.standard_normal(a.shape).astype(dtype)
        ta.backward(torch.from_numpy(da))
        for g, w, name in zip(k.dense_backward(x, W, a, da, activation),
                              (tx.grad, tW.grad, tb.grad), ("dx", "dW", "db")):
            close(g, _n(w), name)
    _given_dims("dense_forward", body)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_activation(backend, dtype, torch, activation):
    k = Run(backend)
    rng = np.random.default_rng(3)
    # include large magnitudes: sigmoid / softmax must not overflow
    z = np.concatenate([4 * rng.standard_normal((5, 7)),
                        [[-800.0, -60.0, -1e-3, 0.0, 1e-3, 60.0, 800.0]]]).astype(dtype)
    if dtype == np.float32:
        z = np.clip(z, -80, 80)
    tz = _t(torch, z, True)
    ta = _torch_act(torch, tz, activation)
    a = k.activation_forward(z, activation)
    close(a, _n(ta), "a")
    assert np.all(np.isfinite(a))
    da = rng.standard_normal(a.shape).astype(dtype)
    ta.backward(torch.from_numpy(da))
    close(k.activation_backward(a, da, activation), _n(tz.grad), "dz")


def test_sigmoid_bernoulli_probabilities(backend, dtype, torch):
    k = Run(backend)
    x = np.linspace(-50, 50, 401).astype(dtype)[None]
    p, s = k.sigmoid_bernoulli(x, np.full_like(x, 0.5))
    close(p, torch.sigmoid(torch.from_numpy(x)).numpy(), "p")
    np.testing.assert_array_equal(s, (p > 0.5).astype(dtype))


def test_output_deltas(backend, torch):
    """Sigmoid + BCE and softmax + cross-entropy: d loss / d z = a - y (our forward kernels)."""
    k = Run(backend)
    F = torch.nn.functional
    rng = np.random.default_rng(4)
    z = 3 * rng.standard_normal((6, 4))
    y = (rng.random((6, 4)) < 0.5).astype(np.float64)
    tz = _t(torch, z, True)
    F.binary_cross_entropy_with_logits(tz, torch.from_numpy(y), reduction="sum").backward()
    close(k.activation_forward(z, "sigmoid") - y, _n(tz.grad), "sigmoid delta")
    t = rng.random((6, 4))
    t /= t.sum(axis=1, keepdims=True)
    tz = _t(torch, z, True)
    F.cross_entropy(tz, torch.from_numpy(t), reduction="sum").backward()
    close(k.activation_forward(z, "softmax") - t, _n(tz.grad), "softmax delta")


# -------------------------------------------------------------------------- RBM


@pytest.mark.parametrize("gaussian", [False, True], ids=["bernoulli", "gaussian"])
def test_free_energy(backend, dtype, torch, gaussian):
    k = Run(backend)
    F = torch.nn.functional

    def body(d, rng):
        v = rng.random((d["N"], d["D"])).astype(dtype)
        W = rng.standard_normal((d["D"], d["H"])).astype(dtype)
        b = rng.standard_normal(d["D"]).astype(dtype)
        c = rng.standard_normal(d["H"]).astype(dtype)
        sigma = rng.uniform(0.5, 1.5, d["D"]).astype(dtype) if gaussian else None
        tv, tW, tb, tc = (torch.from_numpy(a) for a in (v, W, b, c))
        if gaussian:
            ts = torch.from_numpy(sigma)
            want = (((tv - tb) / ts) ** 2).sum(1) / 2 - F.softplus((tv / ts) @ tW + tc).sum(1)
        else:
            want = -(tv @ tb) - F.softplus(tv @ tW + tc).sum(1)
        close(k.free_energy(v, W, b, c, sigma), want.numpy(), "F")
    _given_dims("free_energy", body)


def test_sparsity_penalty_and_gradient(backend, dtype, torch):
    k = Run(backend)

    def body(d, rng):
        a = rng.uniform(0.02, 0.98, (d["N"], d["H"])).astype(dtype)
        rho, beta = 0.05 + 0.9 * float(rng.random()), 3 * float(rng.random())
        ta = _t(torch, a, True)
        rh = ta.mean(0)
        pen = beta * (rho * torch.log(rho / rh) + (1 - rho) * torch.log((1 - rho) / (1 - rh))).sum()
        pen.backward()
        penalty, da = k.sparsity_grad(a, rho, beta)
        close(penalty, _n(pen), "penalty")
        close(da, _n(ta.grad), "da")
    _given_dims("sparsity_grad", body)
