"""Recurrent kernels: Elman (tanh / relu), LSTM and GRU, one step and whole sequences.

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


# --8<-- [start:elman]
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
# --8<-- [end:elman]


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


# --8<-- [start:elman_sequence]
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
# --8<-- [end:elman_sequence]


# ------------------------------------------------------------------------------ LSTM


# --8<-- [start:lstm]
# One LSTM step, gate order (i, f, g, o); for the four gates k = 0..3 of unit j:
#   z_k = zx[n, kH + j] + zh[n, kH + j] + b[kH + j],
#   i = sigm(z_0), f = sigm(z_1), g = tanh(z_2), o = sigm(z_3);
#   c[n, j] = f c_prev[n, j] + i g,  h[n, j] = o tanh(c[n, j]),  gates[n, kH + j] = (i, f, g, o).
# The gate arithmetic of (row n, unit j), shared by both LSTM cells: writes the four
# gates and returns (c, o tanh(c)).
@jit(device=True)
def _lstm_gates(zx, zh, b, c_prev, gates, n, j, hsz):
    ig = sigmoid(zx[n, j] + zh[n, j] + b[j])
    fg = sigmoid(zx[n, hsz + j] + zh[n, hsz + j] + b[hsz + j])
    gg = math.tanh(zx[n, 2 * hsz + j] + zh[n, 2 * hsz + j] + b[2 * hsz + j])
    og = sigmoid(zx[n, 3 * hsz + j] + zh[n, 3 * hsz + j] + b[3 * hsz + j])
    gates[n, j] = ig
    gates[n, hsz + j] = fg
    gates[n, 2 * hsz + j] = gg
    gates[n, 3 * hsz + j] = og
    cn = fg * c_prev + ig * gg
    return cn, og * math.tanh(cn)


@jit
def _lstm_cell_forward(zx, zh, b, c_prev, h, c, gates):
    hsz = h.shape[1]
    for idx in range(cuda.grid(1), h.shape[0] * hsz, cuda.gridsize(1)):
        n, j = idx // hsz, idx % hsz
        c[n, j], h[n, j] = _lstm_gates(zx, zh, b, c_prev[n, j], gates, n, j, hsz)


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
# --8<-- [end:lstm]


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


# --------------------------------------------- masks (variable lengths), truncation, R-op
#
# The same loops over time with a mask m (T, N) (1 real step, 0 padding: the state is
# kept), truncated BPTT (keep (T, N): the carry into step t-1 is multiplied by keep[t])
# and the forward-mode R-op; per step one product and one fused kernel.  Optional
# arrays go to the kernels with an int flag (0: absent; the array passed is then a
# placeholder that is never read), so each kernel has one signature.


# hnew = f(zx + zh + b);  h = m hnew + (1 - m) h_prev     (m: this step's row factors)
@jit
def _elman_cell_masked(zx, zh, b, m, h_prev, code, hnew, h):
    T = h.dtype.type
    hsz = h.shape[1]
    for idx in range(cuda.grid(1), h.shape[0] * hsz, cuda.gridsize(1)):
        n, j = idx // hsz, idx % hsz
        hn = activate(zx[n, j] + zh[n, j] + b[j], code)
        hnew[n, j] = hn
        h[n, j] = m[n] * hn + (T(1) - m[n]) * h_prev[n, j]


# carry = first ? 0 : (prod + pss) keep_next;  d = dh + carry;  dz = f'(hnew) (m d);
# pss = (1 - m) d   (pss read and written in place, each entry by its own thread)
@jit
def _elman_cell_grad_masked(dh, prod, pss, keep_next, use_keep, hnew, m, first, code, dz):
    T = dz.dtype.type
    hsz = dz.shape[1]
    for idx in range(cuda.grid(1), dz.shape[0] * hsz, cuda.gridsize(1)):
        n, j = idx // hsz, idx % hsz
        carry = T(0)
        if first == 0:
            carry = prod[n, j] + pss[n, j]
            if use_keep != 0:
                carry = carry * keep_next[n]
        d = dh[n, j] + carry
        dz[n, j] = activate_grad(hnew[n, j], m[n] * d, code)
        pss[n, j] = (T(1) - m[n]) * d


# out = (prod + pss) keep   (use_prod / use_keep 0: no product / keep = 1)
@jit
def _masked_carry(prod, use_prod, pss, keep, use_keep, out):
    hsz = out.shape[1]
    for idx in range(cuda.grid(1), out.shape[0] * hsz, cuda.gridsize(1)):
        n, j = idx // hsz, idx % hsz
        v = pss[n, j]
        if use_prod != 0:
            v = prod[n, j] + pss[n, j]
        if use_keep != 0:
            v = v * keep[n]
        out[n, j] = v


# the LSTM cell (as _lstm_cell_forward) into cnew, gates; h, c mixed by the mask
@jit
def _lstm_cell_masked(zx, zh, b, m, h_prev, c_prev, h, c, cnew, gates):
    T = h.dtype.type
    hsz = h.shape[1]
    for idx in range(cuda.grid(1), h.shape[0] * hsz, cuda.gridsize(1)):
        n, j = idx // hsz, idx % hsz
        cn, hn = _lstm_gates(zx, zh, b, c_prev[n, j], gates, n, j, hsz)
        cnew[n, j] = cn
        h[n, j] = m[n] * hn + (T(1) - m[n]) * h_prev[n, j]
        c[n, j] = m[n] * cn + (T(1) - m[n]) * c_prev[n, j]


# hc = first ? 0 : (prod + hpass) keep_next, cc = first ? 0 : cpass keep_next;
# d = dh + hc, mdh = m d, mdc = m cc, tc = tanh(cnew): dc_tot = mdc + mdh o (1 - tc^2);
# dz = [dc_tot g i(1-i), dc_tot c_prev f(1-f), dc_tot i (1-g^2), mdh tc o(1-o)];
# hpass = (1 - m) d;  cpass = dc_tot f + (1 - m) cc   (in place)
@jit
def _lstm_cell_grad_masked(dh, prod, hpass, cpass, keep_next, use_keep, c_prev, cnew, gates,
                           m, first, dz):
    T = dz.dtype.type
    hsz = cnew.shape[1]
    for idx in range(cuda.grid(1), cnew.shape[0] * hsz, cuda.gridsize(1)):
        n, j = idx // hsz, idx % hsz
        hc, cc = T(0), T(0)
        if first == 0:
            hc = prod[n, j] + hpass[n, j]
            cc = cpass[n, j]
            if use_keep != 0:
                hc = hc * keep_next[n]
                cc = cc * keep_next[n]
        ig, fg = gates[n, j], gates[n, hsz + j]
        gg, og = gates[n, 2 * hsz + j], gates[n, 3 * hsz + j]
        d = dh[n, j] + hc
        mdh, mdc = m[n] * d, m[n] * cc
        tc = math.tanh(cnew[n, j])
        dct = mdc + mdh * og * (T(1) - tc * tc)
        dz[n, j] = dct * gg * ig * (T(1) - ig)
        dz[n, hsz + j] = dct * c_prev[n, j] * fg * (T(1) - fg)
        dz[n, 2 * hsz + j] = dct * ig * (T(1) - gg * gg)
        dz[n, 3 * hsz + j] = mdh * tc * og * (T(1) - og)
        hpass[n, j] = (T(1) - m[n]) * d
        cpass[n, j] = dct * fg + (T(1) - m[n]) * cc


# --8<-- [start:elman_rop]
# new = f'(hnew) (a + prod) (first: prod = 0);  r = m new + (1 - m) r_prev (use_mask 0:
# r = new; first: r_prev = 0)
@jit
def _elman_rop_step(a, prod, hnew, m, use_mask, r_prev, first, code, r):
    T = r.dtype.type
    hsz = r.shape[1]
    for idx in range(cuda.grid(1), r.shape[0] * hsz, cuda.gridsize(1)):
        n, j = idx // hsz, idx % hsz
        rz = a[n, j]
        if first == 0:
            rz = a[n, j] + prod[n, j]
        nw = activate_grad(hnew[n, j], rz, code)
        if use_mask != 0:
            old = T(0)
            if first == 0:
                old = r_prev[n, j]
            nw = m[n] * nw + (T(1) - m[n]) * old
        r[n, j] = nw
# --8<-- [end:elman_rop]


# one step of reference.lstm_rop: rz = a + prod; R{i} = i(1-i) rz_i, ...;
# rc~ = R{f} c_prev + f rc + R{i} g + i R{g};  rh~ = R{o} tanh(c~) + o (1 - tanh^2 c~) rc~;
# rh = m rh~ + (1 - m) rh_prev, rc likewise (rc in place; first: rc = rh_prev = 0)
@jit
def _lstm_rop_step(a, prod, gates, c_prev, cnew, m, use_mask, rh_prev, first, rc, rh):
    T = rh.dtype.type
    hsz = rh.shape[1]
    for idx in range(cuda.grid(1), rh.shape[0] * hsz, cuda.gridsize(1)):
        n, j = idx // hsz, idx % hsz
        zi, zf = a[n, j], a[n, hsz + j]
        zg, zo = a[n, 2 * hsz + j], a[n, 3 * hsz + j]
        if first == 0:
            zi = a[n, j] + prod[n, j]
            zf = a[n, hsz + j] + prod[n, hsz + j]
            zg = a[n, 2 * hsz + j] + prod[n, 2 * hsz + j]
            zo = a[n, 3 * hsz + j] + prod[n, 3 * hsz + j]
        ig, fg = gates[n, j], gates[n, hsz + j]
        gg, og = gates[n, 2 * hsz + j], gates[n, 3 * hsz + j]
        ri = ig * (T(1) - ig) * zi
        rf = fg * (T(1) - fg) * zf
        rg = (T(1) - gg * gg) * zg
        ro = og * (T(1) - og) * zo
        rc_old = T(0)
        if first == 0:
            rc_old = rc[n, j]
        rcn = rf * c_prev[n, j] + fg * rc_old + ri * gg + ig * rg
        tc = math.tanh(cnew[n, j])
        rhn = ro * tc + og * (T(1) - tc * tc) * rcn
        if use_mask != 0:
            rh_old = T(0)
            if first == 0:
                rh_old = rh_prev[n, j]
            rhn = m[n] * rhn + (T(1) - m[n]) * rh_old
            rcn = m[n] * rcn + (T(1) - m[n]) * rc_old
        rh[n, j] = rhn
        rc[n, j] = rcn


def _opt_row(a, t, placeholder):
    """``(a[t], 1)``, or ``(placeholder, 0)`` when a is None."""
    return (placeholder, 0) if a is None else (a[t], 1)


def elman_forward_masked(x, h0, m, Wx, Wh, b, activation):
    t_len, n, d = x.shape
    hsz, code = h0.shape[1], CODES[activation]
    zx = matmul(x.reshape(t_len * n, d), Wx).reshape(t_len, n, hsz)
    hs = xp.empty((t_len, n, hsz), dtype=x.dtype)
    hnew = xp.empty_like(hs)
    h = h0
    for t in range(t_len):
        _elman_cell_masked[launch(n * hsz)](zx[t], matmul(h, Wh), b, m[t], h, code, hnew[t],
                                            hs[t])
        h = hs[t]
    return hs, hnew


def elman_backward_masked(dhs, x, h0, hs, hnew, m, keep, Wx, Wh, activation):
    t_len, n, d = x.shape
    hsz, code = h0.shape[1], CODES[activation]
    dzs = xp.empty((t_len, n, hsz), dtype=x.dtype)
    pss = xp.empty_like(h0)
    prod = h0                                     # placeholder until the first product
    for t in range(t_len - 1, -1, -1):
        first = int(t == t_len - 1)
        kn, use_keep = _opt_row(keep, min(t + 1, t_len - 1), m[t])
        _elman_cell_grad_masked[launch(n * hsz)](dhs[t], prod, pss, kn, use_keep, hnew[t],
                                                 m[t], first, code, dzs[t])
        prod = matmul(dzs[t], Wh, trans_b=True)
    dh0 = xp.empty_like(h0)
    k0, use_keep = _opt_row(keep, 0, m[0])
    _masked_carry[launch(n * hsz)](prod, 1, pss, k0, use_keep, dh0)
    dx = matmul(dzs.reshape(t_len * n, hsz), Wx, trans_b=True).reshape(t_len, n, d)
    dWx, dWh, db = _sequence_weight_grads(x, h0, hs, dzs)
    return dx, dh0, dWx, dWh, db


def lstm_forward_masked(x, h0, c0, m, Wx, Wh, b):
    t_len, n, d = x.shape
    hsz = h0.shape[1]
    zx = matmul(x.reshape(t_len * n, d), Wx).reshape(t_len, n, 4 * hsz)
    hs = xp.empty((t_len, n, hsz), dtype=x.dtype)
    cs, cnew = xp.empty_like(hs), xp.empty_like(hs)
    gates = xp.empty((t_len, n, 4 * hsz), dtype=x.dtype)
    h, c = h0, c0
    for t in range(t_len):
        _lstm_cell_masked[launch(n * hsz)](zx[t], matmul(h, Wh), b, m[t], h, c, hs[t], cs[t],
                                           cnew[t], gates[t])
        h, c = hs[t], cs[t]
    return hs, cs, cnew, gates


def lstm_backward_masked(dhs, x, h0, c0, hs, cs, cnew, gates, m, keep, Wx, Wh):
    t_len, n, d = x.shape
    hsz = h0.shape[1]
    dzs = xp.empty((t_len, n, 4 * hsz), dtype=x.dtype)
    hpass, cpass = xp.empty_like(h0), xp.empty_like(c0)
    prod = h0                                     # placeholder until the first product
    for t in range(t_len - 1, -1, -1):
        first = int(t == t_len - 1)
        kn, use_keep = _opt_row(keep, min(t + 1, t_len - 1), m[t])
        c_prev = cs[t - 1] if t > 0 else c0
        _lstm_cell_grad_masked[launch(n * hsz)](dhs[t], prod, hpass, cpass, kn, use_keep,
                                                c_prev, cnew[t], gates[t], m[t], first,
                                                dzs[t])
        prod = matmul(dzs[t], Wh, trans_b=True)
    dh0, dc0 = xp.empty_like(h0), xp.empty_like(c0)
    k0, use_keep = _opt_row(keep, 0, m[0])
    _masked_carry[launch(n * hsz)](prod, 1, hpass, k0, use_keep, dh0)
    _masked_carry[launch(n * hsz)](prod, 0, cpass, k0, use_keep, dc0)
    dx = matmul(dzs.reshape(t_len * n, 4 * hsz), Wx, trans_b=True).reshape(t_len, n, d)
    dWx, dWh, db = _sequence_weight_grads(x, h0, hs, dzs)
    return dx, dh0, dc0, dWx, dWh, db


def elman_rop(A, hnew, m, Wh, activation):
    t_len, n, hsz = A.shape
    code = CODES[activation]
    rh = xp.empty_like(hnew)
    ones = xp.ones(n, dtype=A.dtype)              # placeholder mask row (not read)
    for t in range(t_len):
        first = int(t == 0)
        prev = rh[t - 1] if t > 0 else hnew[0]    # (a placeholder at t = 0)
        prod = matmul(prev, Wh) if t > 0 else hnew[0]
        mt, use_mask = _opt_row(m, t, ones)
        _elman_rop_step[launch(n * hsz)](A[t], prod, hnew[t], mt, use_mask, prev, first, code,
                                         rh[t])
    return rh


def lstm_rop(A, c0, cs, cnew, gates, m, Wh):
    t_len, n, hsz = cs.shape
    rh, rc = xp.empty_like(cs), xp.empty_like(c0)
    ones = xp.ones(n, dtype=A.dtype)              # placeholder mask row (not read)
    for t in range(t_len):
        first = int(t == 0)
        prev = rh[t - 1] if t > 0 else c0         # (a placeholder at t = 0)
        prod = matmul(prev, Wh) if t > 0 else A[0]
        mt, use_mask = _opt_row(m, t, ones)
        _lstm_rop_step[launch(n * hsz)](A[t], prod, gates[t], cs[t - 1] if t > 0 else c0,
                                        cnew[t], mt, use_mask, prev, first, rc, rh[t])
    return rh


# ----------------------------------------------------------------------------- GRU
#
# Gate order r, z, n and PyTorch's reset-gate placement (reference.gru_forward_masked).
# As for the masked LSTM: zx = x Wx for all steps in one GEMM; per step one product and
# one fused kernel (_gru_cell, _gru_cell_grad, _gru_rop_step; gate arithmetic in
# _gru_gates).  Flags use_mask / use_keep / first say whether m, keep_next, prod hold data.


# The gate arithmetic of (row n, unit j) of one GRU step: writes [r, z, n] and hn,
# returns h~ = (1 - z) n + z h_prev.
# --8<-- [start:gru]
@jit(device=True)
def _gru_gates(zx, zh, b, bh, h_prev, gates, hn, n, j, hsz):
    T = gates.dtype.type
    r = sigmoid((zx[n, j] + b[j]) + (zh[n, j] + bh[j]))
    z = sigmoid((zx[n, hsz + j] + b[hsz + j]) + (zh[n, hsz + j] + bh[hsz + j]))
    hh = zh[n, 2 * hsz + j] + bh[2 * hsz + j]
    nn = math.tanh((zx[n, 2 * hsz + j] + b[2 * hsz + j]) + r * hh)
    gates[n, j] = r
    gates[n, hsz + j] = z
    gates[n, 2 * hsz + j] = nn
    hn[n, j] = hh
    return (T(1) - z) * nn + z * h_prev


# gates, hn, hnew = h~;  h = m h~ + (1 - m) h_prev (use_mask 0: h is not written)
@jit
def _gru_cell(zx, zh, b, bh, m, use_mask, h_prev, hnew, h, gates, hn):
    T = gates.dtype.type
    hsz = h_prev.shape[1]
    for idx in range(cuda.grid(1), h_prev.shape[0] * hsz, cuda.gridsize(1)):
        n, j = idx // hsz, idx % hsz
        hp = h_prev[n, j]
        nw = _gru_gates(zx, zh, b, bh, hp, gates, hn, n, j, hsz)
        hnew[n, j] = nw
        if use_mask != 0:
            h[n, j] = m[n] * nw + (T(1) - m[n]) * hp


# carry = first ? 0 : (prod + pss) keep_next;  d = dh + carry;  with mdh = m d:
# da_n = mdh (1-z)(1-n^2), da_z = mdh (h_prev - n) z(1-z), da_r = da_n hn r(1-r);
# dzx = [da_r, da_z, da_n], dzh = [da_r, da_z, r da_n];  pss = mdh z + (1 - m) d
@jit
def _gru_cell_grad(dh, prod, pss, keep_next, use_keep, h_prev, gates, hn, m, use_mask,
                   first, dzx, dzh):
    T = dzx.dtype.type
    hsz = dh.shape[1]
    for idx in range(cuda.grid(1), dh.shape[0] * hsz, cuda.gridsize(1)):
        n, j = idx // hsz, idx % hsz
        carry = T(0)
        if first == 0:
            carry = prod[n, j] + pss[n, j]
            if use_keep != 0:
                carry = carry * keep_next[n]
        d = dh[n, j] + carry
        mdh = d
        if use_mask != 0:
            mdh = m[n] * d
        r, z, nn = gates[n, j], gates[n, hsz + j], gates[n, 2 * hsz + j]
        dan = mdh * (T(1) - z) * (T(1) - nn * nn)
        daz = mdh * (h_prev[n, j] - nn) * z * (T(1) - z)
        dar = dan * hn[n, j] * r * (T(1) - r)
        dzx[n, j] = dar
        dzx[n, hsz + j] = daz
        dzx[n, 2 * hsz + j] = dan
        dzh[n, j] = dar
        dzh[n, hsz + j] = daz
        dzh[n, 2 * hsz + j] = dan * r
        p = mdh * z
        if use_mask != 0:
            p = p + (T(1) - m[n]) * d
        pss[n, j] = p
# --8<-- [end:gru]


# one step of reference.gru_rop: rg = ah + prod;  R{r} = r(1-r)(ax_r + rg_r), R{z} likewise,
# R{n} = (1-n^2)(ax_n + R{r} hn + r rg_n);  R{h~} = (1-z) R{n} + R{z}(h_prev - n) + z rh_prev;
# rh = m R{h~} + (1 - m) rh_prev  (first: prod and rh_prev are 0)
@jit
def _gru_rop_step(ax, ah, prod, gates, hn, h_prev, m, use_mask, rh_prev, first, rh):
    T = rh.dtype.type
    hsz = rh.shape[1]
    for idx in range(cuda.grid(1), rh.shape[0] * hsz, cuda.gridsize(1)):
        n, j = idx // hsz, idx % hsz
        gr, gz, gn = ah[n, j], ah[n, hsz + j], ah[n, 2 * hsz + j]
        old = T(0)
        if first == 0:
            gr = ah[n, j] + prod[n, j]
            gz = ah[n, hsz + j] + prod[n, hsz + j]
            gn = ah[n, 2 * hsz + j] + prod[n, 2 * hsz + j]
            old = rh_prev[n, j]
        r, z, nn = gates[n, j], gates[n, hsz + j], gates[n, 2 * hsz + j]
        rr = r * (T(1) - r) * (ax[n, j] + gr)
        rz = z * (T(1) - z) * (ax[n, hsz + j] + gz)
        rn = (T(1) - nn * nn) * (ax[n, 2 * hsz + j] + rr * hn[n, j] + r * gn)
        nw = (T(1) - z) * rn + rz * (h_prev[n, j] - nn) + z * old
        if use_mask != 0:
            nw = m[n] * nw + (T(1) - m[n]) * old
        rh[n, j] = nw


def _gru_forward(x, h0, m, Wx, Wh, b, bh):
    t_len, n, d = x.shape
    hsz = h0.shape[1]
    zx = matmul(x.reshape(t_len * n, d), Wx).reshape(t_len, n, 3 * hsz)
    hs = xp.empty((t_len, n, hsz), dtype=x.dtype)
    hnew = hs if m is None else xp.empty_like(hs)
    hn = xp.empty_like(hs)
    gates = xp.empty((t_len, n, 3 * hsz), dtype=x.dtype)
    ones = xp.ones(n, dtype=x.dtype)              # placeholder mask row (not read)
    h = h0
    for t in range(t_len):
        mt, use_mask = _opt_row(m, t, ones)
        # unmasked, hnew is hs and the kernel does not write h: pass h_prev there (one
        # array passed twice would be copied back twice by the simulator)
        out = hs[t] if use_mask else h
        _gru_cell[launch(n * hsz)](zx[t], matmul(h, Wh), b, bh, mt, use_mask, h, hnew[t],
                                   out, gates[t], hn[t])
        h = hs[t]
    return hs, hnew, gates, hn


def gru_forward(x, h0, Wx, Wh, b, bh):
    hs, _, gates, hn = _gru_forward(x, h0, None, Wx, Wh, b, bh)
    return hs, gates, hn


def gru_forward_masked(x, h0, m, Wx, Wh, b, bh):
    return _gru_forward(x, h0, m, Wx, Wh, b, bh)


def gru_backward_masked(dhs, x, h0, hs, gates, hn, m, keep, Wx, Wh):
    t_len, n, d = x.shape
    hsz = h0.shape[1]
    dzx, dzh = xp.empty_like(gates), xp.empty_like(gates)
    pss = xp.empty_like(h0)
    ones = xp.ones(n, dtype=x.dtype)              # placeholder rows (not read)
    prod = h0                                     # placeholder until the first product
    for t in range(t_len - 1, -1, -1):
        first = int(t == t_len - 1)
        kn, use_keep = _opt_row(keep, min(t + 1, t_len - 1), ones)
        mt, use_mask = _opt_row(m, t, ones)
        _gru_cell_grad[launch(n * hsz)](dhs[t], prod, pss, kn, use_keep,
                                        hs[t - 1] if t > 0 else h0, gates[t], hn[t], mt,
                                        use_mask, first, dzx[t], dzh[t])
        prod = matmul(dzh[t], Wh, trans_b=True)
    dh0 = xp.empty_like(h0)
    k0, use_keep = _opt_row(keep, 0, ones)
    _masked_carry[launch(n * hsz)](prod, 1, pss, k0, use_keep, dh0)
    g = 3 * hsz
    zx2, zh2 = dzx.reshape(t_len * n, g), dzh.reshape(t_len * n, g)
    dx = matmul(zx2, Wx, trans_b=True).reshape(t_len, n, d)
    dWx = matmul(x.reshape(t_len * n, d), zx2, trans_a=True)
    dWh = matmul(_previous_states(h0, hs).reshape(t_len * n, hsz), zh2, trans_a=True)
    return dx, dh0, dWx, dWh, column_sum(zx2), column_sum(zh2)


def gru_backward(dhs, x, h0, hs, gates, hn, Wx, Wh):
    return gru_backward_masked(dhs, x, h0, hs, gates, hn, None, None, Wx, Wh)


def gru_rop(Ax, Ah, h0, hs, gates, hn, m, Wh):
    t_len, n, hsz = hs.shape
    rh = xp.empty_like(hs)
    ones = xp.ones(n, dtype=Ax.dtype)             # placeholder mask row (not read)
    for t in range(t_len):
        first = int(t == 0)
        prev = rh[t - 1] if t > 0 else h0         # (a placeholder at t = 0)
        prod = matmul(prev, Wh) if t > 0 else Ah[0]
        mt, use_mask = _opt_row(m, t, ones)
        _gru_rop_step[launch(n * hsz)](Ax[t], Ah[t], prod, gates[t], hn[t],
                                       hs[t - 1] if t > 0 else h0, mt, use_mask, prev, first,
                                       rh[t])
    return rh


__all__ = ["elman_step_forward", "elman_step_backward", "elman_forward", "elman_backward",
           "lstm_step_forward", "lstm_step_backward", "lstm_forward", "lstm_backward",
           "elman_forward_masked", "elman_backward_masked", "lstm_forward_masked",
           "lstm_backward_masked", "elman_rop", "lstm_rop", "gru_forward", "gru_backward",
           "gru_forward_masked", "gru_backward_masked", "gru_rop"]
