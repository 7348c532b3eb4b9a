"""Recurrent kernels: Elman (tanh / relu) and LSTM, one step and whole sequences.

Each step is two matrix products (:func:`.gemm.matmul`) and one fused kernel that does all
the gate arithmetic, one thread per (row n, hidden unit j).  The sequence versions loop
over time calling the same pieces, keeping inside the loop only what is truly sequential
(``h_{t-1} Wh`` and the gate kernel); the products that do not depend on the recurrence
are hoisted out as one large GEMM over all ``T*N`` rows: ``x_t Wx`` for every t in the
forward pass, and ``dx``, ``dWx``, ``dWh``, ``db`` in the backward pass (which therefore
sum over time inside one GEMM rather than step by step).
"""
import math

from numba import cuda

from . import launch, runtime
from ._device import CODES, activate, activate_grad, sigmoid
from .dense import column_sum
from .gemm import matmul

_rt = runtime()
jit, xp = _rt.jit, _rt.xp


# ----------------------------------------------------------------------------- Elman


# h[n, j] = f(zx[n, j] + zh[n, j] + b[j]),  zx = x Wx, zh = h_prev Wh
@jit
def _elman_cell_forward(zx, zh, b, code, h):
    hsz = h.shape[1]
    for idx in range(cuda.grid(1), h.shape[0] * hsz, cuda.gridsize(1)):
        n, j = idx // hsz, idx % hsz
        h[n, j] = activate(zx[n, j] + zh[n, j] + b[j], code)


# dz[n, j] = (dh[n, j] + dh_next[n, j]) f'(z[n, j]), written from h = f(z)
@jit
def _elman_cell_backward(dh, dh_next, h, code, dz):
    hsz = h.shape[1]
    for idx in range(cuda.grid(1), h.shape[0] * hsz, cuda.gridsize(1)):
        n, j = idx // hsz, idx % hsz
        dz[n, j] = activate_grad(h[n, j], dh[n, j] + dh_next[n, j], code)


def elman_step_forward(x, h_prev, Wx, Wh, b, activation):
    h = xp.empty_like(h_prev)
    _elman_cell_forward[launch(h.size)](matmul(x, Wx), matmul(h_prev, Wh), b,
                                        CODES[activation], h)
    return h


def elman_step_backward(dh, x, h_prev, h, Wx, Wh, activation):
    dz = xp.empty_like(h)
    _elman_cell_backward[launch(h.size)](dh, xp.zeros_like(dh), h, CODES[activation], dz)
    return (matmul(dz, Wx, trans_b=True), matmul(dz, Wh, trans_b=True),
            matmul(x, dz, trans_a=True), matmul(h_prev, dz, trans_a=True), column_sum(dz))


def elman_forward(x, h0, Wx, Wh, b, activation):
    t_len, n, d = x.shape
    hsz, code = h0.shape[1], CODES[activation]
    zx = matmul(x.reshape(t_len * n, d), Wx).reshape(t_len, n, hsz)   # x_t Wx, every t
    hs = xp.empty((t_len, n, hsz), dtype=x.dtype)
    h = h0
    for t in range(t_len):
        _elman_cell_forward[launch(n * hsz)](zx[t], matmul(h, Wh), b, code, hs[t])
        h = hs[t]
    return hs


def _previous_states(h0, hs):
    """(T, N, H) stack of h_{t-1}: h0, hs[0], ..., hs[T-2]."""
    return xp.concatenate([h0[None], hs[:-1]], axis=0)


def _sequence_weight_grads(x, h0, hs, dzs):
    """dWx = sum_t x_t^T dz_t, dWh = sum_t h_{t-1}^T dz_t, db = sum_{t, n} dz_t: one GEMM each."""
    t_len, n, d = x.shape
    rows = t_len * n
    dz2 = dzs.reshape(rows, dzs.shape[2])
    hprev = _previous_states(h0, hs).reshape(rows, h0.shape[1])
    return (matmul(x.reshape(rows, d), dz2, trans_a=True), matmul(hprev, dz2, trans_a=True),
            column_sum(dz2))


def elman_backward(dhs, x, h0, hs, Wx, Wh, activation):
    t_len, n, d = x.shape
    hsz, code = h0.shape[1], CODES[activation]
    dzs = xp.empty((t_len, n, hsz), dtype=x.dtype)
    dh_next = xp.zeros_like(h0)
    for t in range(t_len - 1, -1, -1):
        _elman_cell_backward[launch(n * hsz)](dhs[t], dh_next, hs[t], code, dzs[t])
        dh_next = matmul(dzs[t], Wh, trans_b=True)                     # dh_{t-1}
    dx = matmul(dzs.reshape(t_len * n, hsz), Wx, trans_b=True).reshape(t_len, n, d)
    dWx, dWh, db = _sequence_weight_grads(x, h0, hs, dzs)
    return dx, dh_next, dWx, dWh, db


# ------------------------------------------------------------------------------ LSTM


# One LSTM step, gate order (i, f, g, o); for the four gates k = 0..3 of unit j:
#   z_k = zx[n, kH + j] + zh[n, kH + j] + b[kH + j],
#   i = sigm(z_0), f = sigm(z_1), g = tanh(z_2), o = sigm(z_3);
#   c[n, j] = f c_prev[n, j] + i g,  h[n, j] = o tanh(c[n, j]),  gates[n, kH + j] = (i, f, g, o).
@jit
def _lstm_cell_forward(zx, zh, b, c_prev, h, c, gates):
    hsz = h.shape[1]
    for idx in range(cuda.grid(1), h.shape[0] * hsz, cuda.gridsize(1)):
        n, j = idx // hsz, idx % hsz
        ig = sigmoid(zx[n, j] + zh[n, j] + b[j])
        fg = sigmoid(zx[n, hsz + j] + zh[n, hsz + j] + b[hsz + j])
        gg = math.tanh(zx[n, 2 * hsz + j] + zh[n, 2 * hsz + j] + b[2 * hsz + j])
        og = sigmoid(zx[n, 3 * hsz + j] + zh[n, 3 * hsz + j] + b[3 * hsz + j])
        cn = fg * c_prev[n, j] + ig * gg
        c[n, j] = cn
        h[n, j] = og * math.tanh(cn)
        gates[n, j] = ig
        gates[n, hsz + j] = fg
        gates[n, 2 * hsz + j] = gg
        gates[n, 3 * hsz + j] = og


# Backward through one LSTM step, with dh = dh_in + dh_next and tc = tanh(c):
#   dc_tot = dc + dh o (1 - tc^2);  dc_prev = dc_tot f;
#   dz = [dc_tot g i (1 - i), dc_tot c_prev f (1 - f), dc_tot i (1 - g^2), dh tc o (1 - o)].
@jit
def _lstm_cell_backward(dh_in, dh_next, dc, c_prev, c, gates, dz, dc_prev):
    T = c.dtype.type
    hsz = c.shape[1]
    for idx in range(cuda.grid(1), c.shape[0] * hsz, cuda.gridsize(1)):
        n, j = idx // hsz, idx % hsz
        ig, fg = gates[n, j], gates[n, hsz + j]
        gg, og = gates[n, 2 * hsz + j], gates[n, 3 * hsz + j]
        dh = dh_in[n, j] + dh_next[n, j]
        tc = math.tanh(c[n, j])
        dc_tot = dc[n, j] + dh * og * (T(1) - tc * tc)
        dz[n, j] = dc_tot * gg * ig * (T(1) - ig)
        dz[n, hsz + j] = dc_tot * c_prev[n, j] * fg * (T(1) - fg)
        dz[n, 2 * hsz + j] = dc_tot * ig * (T(1) - gg * gg)
        dz[n, 3 * hsz + j] = dh * tc * og * (T(1) - og)
        dc_prev[n, j] = dc_tot * fg


def lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b):
    h, c = xp.empty_like(h_prev), xp.empty_like(h_prev)
    gates = xp.empty((h_prev.shape[0], 4 * h_prev.shape[1]), dtype=x.dtype)
    _lstm_cell_forward[launch(h.size)](matmul(x, Wx), matmul(h_prev, Wh), b, c_prev,
                                       h, c, gates)
    return h, c, gates


def lstm_step_backward(dh, dc, x, h_prev, c_prev, c, gates, Wx, Wh):
    dz, dc_prev = xp.empty_like(gates), xp.empty_like(c)
    _lstm_cell_backward[launch(c.size)](dh, xp.zeros_like(dh), dc, c_prev, c, gates,
                                        dz, dc_prev)
    return (matmul(dz, Wx, trans_b=True), matmul(dz, Wh, trans_b=True), dc_prev,
            matmul(x, dz, trans_a=True), matmul(h_prev, dz, trans_a=True), column_sum(dz))


def lstm_forward(x, h0, c0, Wx, Wh, b):
    t_len, n, d = x.shape
    hsz = h0.shape[1]
    zx = matmul(x.reshape(t_len * n, d), Wx).reshape(t_len, n, 4 * hsz)   # x_t Wx, every t
    hs = xp.empty((t_len, n, hsz), dtype=x.dtype)
    cs = xp.empty_like(hs)
    gates = xp.empty((t_len, n, 4 * hsz), dtype=x.dtype)
    h, c = h0, c0
    for t in range(t_len):
        _lstm_cell_forward[launch(n * hsz)](zx[t], matmul(h, Wh), b, c, hs[t], cs[t],
                                            gates[t])
        h, c = hs[t], cs[t]
    return hs, cs, gates


def lstm_backward(dhs, x, h0, c0, hs, cs, gates, Wx, Wh):
    t_len, n, d = x.shape
    hsz = h0.shape[1]
    dzs = xp.empty((t_len, n, 4 * hsz), dtype=x.dtype)
    dh_next, dc_next = xp.zeros_like(h0), xp.zeros_like(c0)
    for t in range(t_len - 1, -1, -1):
        c_prev = cs[t - 1] if t > 0 else c0
        dc_prev = xp.empty_like(c0)
        _lstm_cell_backward[launch(n * hsz)](dhs[t], dh_next, dc_next, c_prev, cs[t],
                                             gates[t], dzs[t], dc_prev)
        dh_next, dc_next = matmul(dzs[t], Wh, trans_b=True), dc_prev     # dh_{t-1}, dc_{t-1}
    dx = matmul(dzs.reshape(t_len * n, 4 * hsz), Wx, trans_b=True).reshape(t_len, n, d)
    dWx, dWh, db = _sequence_weight_grads(x, h0, hs, dzs)
    return dx, dh_next, dc_next, dWx, dWh, db


__all__ = ["elman_step_forward", "elman_step_backward", "elman_forward", "elman_backward",
           "lstm_step_forward", "lstm_step_backward", "lstm_forward", "lstm_backward"]
