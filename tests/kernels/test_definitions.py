"""Every forward kernel against its definition, written out independently in the test.

The gradient tests tie each backward kernel to its forward; these tie the forwards to the
formulas of the contract, written the slow, obvious way (explicit loops over outputs, no
im2col, enumeration of hidden states for the free energy) so they share no code with any
implementation.  They need no third-party reference, so they also run without torch.
"""
import itertools
import math

import numpy as np
import pytest
from scipy.special import logsumexp

from deepbio._kernels import ACTIVATIONS, RNN_ACTIVATIONS
from deepbio.testing import assert_close

from ._examples import distinct
from .test_optim_kernels import OPTIM_DEFINITIONS
from .test_philox import philox_uniform_py

#: Kernels whose outputs this module checks against a definition (read by test_coverage).
DEFINITION_COVERED = {
    "philox_uniform", "sigmoid_bernoulli", "gaussian_sample", "free_energy", "activation_forward",
    "dense_forward", "sparsity_grad", "mask_corrupt", "gaussian_corrupt", "conv2d_forward",
    "conv1d_forward", "maxpool2d_forward", "avgpool2d_forward", "maxpool1d_forward",
    "avgpool1d_forward", "elman_step_forward", "elman_forward", "lstm_step_forward",
    "lstm_forward", "elman_forward_masked", "lstm_forward_masked", "elman_rop", "lstm_rop",
    "gru_forward", "gru_forward_masked", "gru_rop",
} | OPTIM_DEFINITIONS


class Run:
    """Host arrays in, host arrays out, through one backend's kernels."""

    def __init__(self, backend):
        self.b = backend

    def __getattr__(self, name):
        fn = getattr(self.b.kernels, name)

        def call(*args):
            out = fn(*(self.b.asarray(a) if isinstance(a, np.ndarray) else a for a in args))
            return tuple(map(self.b.to_numpy, out)) if isinstance(out, tuple) \
                else self.b.to_numpy(out)
        return call


def close(actual, expected, name="", rtol=1e-12):
    expected = np.asarray(expected, dtype=np.float64)
    assert_close(np.asarray(actual, dtype=np.float64), expected, rtol,
                 floor=max(1.0, float(np.abs(expected).max(initial=0))), name=name)


def _sigm(z):
    return 1 / (1 + math.exp(-z)) if z >= 0 else math.exp(z) / (1 + math.exp(z))


# ----------------------------------------------------------------- random numbers


@pytest.mark.parametrize("n,seed,stream,offset", [(9, 0, 0, 0), (6, 2**64 - 1, 3, 2**64 - 2),
                                                  (11, 2**33 + 1, 2**40, 2**32 - 1)])
def test_philox_uniform(backend, dtype, n, seed, stream, offset):
    """The keying rule element by element (Philox on Python ints, see test_philox)."""
    got = Run(backend).philox_uniform(n, seed, stream, offset, dtype)
    np.testing.assert_array_equal(got, philox_uniform_py(n, seed, stream, offset, dtype))


# -------------------------------------------------------------------- RBM, dense


def test_sigmoid_bernoulli(backend):
    k, rng = Run(backend), np.random.default_rng(0)
    x, u = 4 * rng.standard_normal((5, 6)), rng.random((5, 6))
    p, s = k.sigmoid_bernoulli(x, u)
    want_p = np.vectorize(_sigm)(x)
    close(p, want_p, "p")
    np.testing.assert_array_equal(s, (u < want_p).astype(float))


def test_gaussian_sample_and_corrupt(backend):
    k, rng = Run(backend), np.random.default_rng(1)
    mean, sigma = rng.standard_normal((4, 3)), rng.uniform(0.5, 2, 3)
    u1, u2 = rng.random((4, 3)), rng.random((4, 3))
    z = np.vectorize(lambda a, b: math.sqrt(-2 * math.log(1 - a)) * math.cos(2 * math.pi * b))(
        u1, u2)
    close(k.gaussian_sample(mean, sigma, u1, u2), mean + sigma * z, "gaussian_sample")
    close(k.gaussian_corrupt(mean, u1, u2, 0.3), mean + 0.3 * z, "gaussian_corrupt")


def test_mask_corrupt(backend):
    k, rng = Run(backend), np.random.default_rng(2)
    x, u = rng.standard_normal((6, 5)), rng.random((6, 5))
    u[0, :2] = 0.25                              # u == p keeps the entry (u >= p)
    want = np.array([[x[i, j] if u[i, j] >= 0.25 else 0.0 for j in range(5)] for i in range(6)])
    np.testing.assert_array_equal(k.mask_corrupt(x, u, 0.25), want)


@pytest.mark.parametrize("gaussian", [False, True], ids=["bernoulli", "gaussian"])
def test_free_energy_is_minus_log_partition_over_hidden_states(backend, gaussian):
    """F(v) = -log sum_h exp(-E(v, h)), summing over all 2^H binary hidden vectors."""
    k, rng = Run(backend), np.random.default_rng(3)
    n, d, h = 4, 3, 4
    v, W = rng.random((n, d)), rng.standard_normal((d, h))
    b, c = rng.standard_normal(d), rng.standard_normal(h)
    sigma = rng.uniform(0.5, 1.5, d) if gaussian else None
    states = np.array(list(itertools.product([0.0, 1.0], repeat=h)))     # (2^H, H)
    want = []
    for row in v:
        if gaussian:
            quad = (((row - b) / sigma) ** 2).sum() / 2
            energy = quad - states @ c - (row / sigma) @ W @ states.T
        else:
            energy = -row @ b - states @ c - row @ W @ states.T
        want.append(-logsumexp(-energy))
    close(k.free_energy(v, W, b, c, sigma), want, "F")


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_activation_forward(backend, activation):
    k, rng = Run(backend), np.random.default_rng(4)
    z = 3 * rng.standard_normal((4, 5))
    z[0] = [-700.0, -30.0, 0.0, 30.0, 700.0]
    f = {"linear": lambda t: t, "sigmoid": _sigm, "tanh": math.tanh,
         "relu": lambda t: t if t > 0 else 0.0}
    if activation == "softmax":
        want = []
        for row in z:
            m = max(row)
            e = [math.exp(t - m) for t in row]
            want.append([t / sum(e) for t in e])
    else:
        want = np.vectorize(f[activation])(z)
    close(k.activation_forward(z, activation), want, activation)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_dense_forward(backend, activation):
    k, rng = Run(backend), np.random.default_rng(5)
    x, W, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 2)), rng.standard_normal(2)
    z = np.array([[sum(x[n, i] * W[i, j] for i in range(4)) + b[j] for j in range(2)]
                  for n in range(3)])
    close(k.dense_forward(x, W, b, activation), k.activation_forward(z, activation))


def test_sparsity_penalty(backend):
    k, rng = Run(backend), np.random.default_rng(6)
    a, rho, beta = rng.uniform(0.05, 0.95, (5, 3)), 0.2, 2.5
    penalty, da = k.sparsity_grad(a, rho, beta)
    want, grad = 0.0, np.empty(3)
    for j in range(3):
        r = a[:, j].mean()
        want += beta * (rho * math.log(rho / r) + (1 - rho) * math.log((1 - rho) / (1 - r)))
        grad[j] = beta / 5 * (-rho / r + (1 - rho) / (1 - r))
    assert penalty.shape == ()
    close(penalty, want, "penalty")
    close(da, np.tile(grad, (5, 1)), "da")


# -------------------------------------------------------------- conv and pooling


def conv2d_by_definition(x, w, b, stride, padding):
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    (sh, sw), (ph, pw) = stride, padding
    oh, ow = (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1
    y = np.zeros((n, f, oh, ow))
    for s, o, i, j in itertools.product(range(n), range(f), range(oh), range(ow)):
        acc = b[o]
        for ch, p, q in itertools.product(range(c), range(kh), range(kw)):
            r, col = i * sh + p - ph, j * sw + q - pw
            if 0 <= r < h and 0 <= col < wd:          # outside: zero padding
                acc += w[o, ch, p, q] * x[s, ch, r, col]
        y[s, o, i, j] = acc
    return y


CONV2D = [((2, 2, 5, 4), (3, 2, 3, 2), (1, 1), (0, 0)),
          ((1, 3, 6, 7), (2, 3, 3, 3), (2, 3), (1, 2)),
          ((2, 1, 3, 3), (2, 1, 5, 5), (1, 1), (1, 1)),     # kernel = padded input
          ((1, 2, 4, 4), (1, 2, 1, 1), (3, 3), (0, 0))]


@pytest.mark.parametrize("xs,ws,stride,padding", CONV2D)
def test_conv2d_forward(backend, xs, ws, stride, padding):
    k, rng = Run(backend), np.random.default_rng(7)
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    close(k.conv2d_forward(x, w, b, stride, padding),
          conv2d_by_definition(x, w, b, stride, padding))


@pytest.mark.parametrize("L,K,stride,padding", [(9, 3, 1, 0), (8, 4, 3, 2), (3, 5, 1, 1),
                                                (5, 5, 2, 0)])
def test_conv1d_forward(backend, L, K, stride, padding):
    k, rng = Run(backend), np.random.default_rng(8)
    x, w = rng.standard_normal((2, 4, L)), rng.standard_normal((3, 4, K))
    b = rng.standard_normal(3)
    want = np.zeros((2, 3, (L + 2 * padding - K) // stride + 1))
    for s, o, i in itertools.product(*map(range, want.shape)):
        want[s, o, i] = b[o] + sum(w[o, c, p] * x[s, c, i * stride + p - padding]
                                   for c in range(4) for p in range(K)
                                   if 0 <= i * stride + p - padding < L)
    close(k.conv1d_forward(x, w, b, stride, padding), want)


POOL2D = [((2, 2, 4, 6), (2, 2), (2, 2)), ((1, 3, 5, 5), (3, 2), (1, 2)),
          ((1, 1, 7, 6), (2, 3), (3, 1)), ((2, 1, 3, 4), (3, 4), (1, 1))]


@pytest.mark.parametrize("shape,kernel,stride", POOL2D)
def test_pool2d_forward(backend, shape, kernel, stride):
    k, rng = Run(backend), np.random.default_rng(9)
    x = distinct(rng, shape, np.float64)
    (kh, kw), (sh, sw) = kernel, stride
    oh, ow = (shape[2] - kh) // sh + 1, (shape[3] - kw) // sw + 1
    ymax, yavg = np.zeros(shape[:2] + (oh, ow)), np.zeros(shape[:2] + (oh, ow))
    amax = np.zeros(ymax.shape, dtype=np.int64)
    for s, c, i, j in itertools.product(range(shape[0]), range(shape[1]), range(oh), range(ow)):
        cells = [(i * sh + p, j * sw + q) for p in range(kh) for q in range(kw)]
        vals = [x[s, c, r, q] for r, q in cells]
        best = cells[vals.index(max(vals))]
        ymax[s, c, i, j], amax[s, c, i, j] = max(vals), best[0] * shape[3] + best[1]
        yavg[s, c, i, j] = sum(vals) / len(vals)
    y, argmax = k.maxpool2d_forward(x, kernel, stride)
    np.testing.assert_array_equal(y, ymax)
    np.testing.assert_array_equal(argmax, amax)
    close(k.avgpool2d_forward(x, kernel, stride), yavg)


@pytest.mark.parametrize("L,K,stride", [(8, 2, 2), (9, 3, 1), (11, 2, 3), (6, 6, 1)])
def test_pool1d_forward(backend, L, K, stride):
    k, rng = Run(backend), np.random.default_rng(10)
    x = distinct(rng, (2, 3, L), np.float64)
    ol = (L - K) // stride + 1
    win = np.array([[[x[s, c, i * stride:i * stride + K] for i in range(ol)] for c in range(3)]
                    for s in range(2)])
    y, argmax = k.maxpool1d_forward(x, K, stride)
    np.testing.assert_array_equal(y, win.max(-1))
    np.testing.assert_array_equal(argmax, win.argmax(-1) + np.arange(ol) * stride)
    close(k.avgpool1d_forward(x, K, stride), win.mean(-1))


def test_maxpool_ties_pick_the_first_in_window_order(backend):
    k = Run(backend)
    x = np.zeros((1, 1, 2, 2))
    _, argmax = k.maxpool2d_forward(x, (2, 2), (1, 1))
    assert argmax.ravel().tolist() == [0]
    _, argmax = k.maxpool1d_forward(np.array([[[1.0, 3.0, 3.0, 0.0]]]), 3, 1)
    assert argmax.ravel().tolist() == [1, 1]


# -------------------------------------------------------------------- recurrent


@pytest.mark.parametrize("activation", RNN_ACTIVATIONS)
def test_elman_forward(backend, activation):
    k, rng = Run(backend), np.random.default_rng(11)
    T, N, D, H = 4, 2, 3, 5
    x, h0 = rng.standard_normal((T, N, D)), rng.standard_normal((N, H))
    Wx, Wh = rng.standard_normal((D, H)), 0.5 * rng.standard_normal((H, H))
    b = rng.standard_normal(H)
    act = np.tanh if activation == "tanh" else (lambda z: np.maximum(z, 0))
    h, want = h0, []
    for t in range(T):
        h = act(np.einsum("nd,dh->nh", x[t], Wx) + np.einsum("nk,kh->nh", h, Wh) + b)
        want.append(h)
        close(k.elman_step_forward(x[t], want[-2] if t else h0, Wx, Wh, b, activation), h)
    close(k.elman_forward(x, h0, Wx, Wh, b, activation), np.array(want))


def test_lstm_forward(backend):
    k, rng = Run(backend), np.random.default_rng(12)
    T, N, D, H = 3, 2, 3, 2
    x, h0, c0 = (rng.standard_normal(s) for s in ((T, N, D), (N, H), (N, H)))
    Wx, Wh, b = (rng.standard_normal(s) for s in ((D, 4 * H), (H, 4 * H), (4 * H,)))
    sig = np.vectorize(_sigm)
    h, c, hs, cs, gs = h0, c0, [], [], []
    for t in range(T):
        z = np.einsum("nd,dg->ng", x[t], Wx) + np.einsum("nk,kg->ng", h, Wh) + b
        i, f = sig(z[:, :H]), sig(z[:, H:2 * H])
        g, o = np.tanh(z[:, 2 * H:3 * H]), sig(z[:, 3 * H:])
        h_step, c_step, g_step = k.lstm_step_forward(x[t], h, c, Wx, Wh, b)
        c = f * c + i * g
        h = o * np.tanh(c)
        close(h_step, h, "h")
        close(c_step, c, "c")
        close(g_step, np.concatenate([i, f, g, o], axis=1), "gates")
        hs.append(h), cs.append(c), gs.append(np.concatenate([i, f, g, o], axis=1))
    got = k.lstm_forward(x, h0, c0, Wx, Wh, b)
    for a, w, name in zip(got, (hs, cs, gs), ("hs", "cs", "gates")):
        close(a, np.array(w), name)


# ---------------------------------------- recurrent: masks and the R-op (directional)


def _masked_data(rng, T, N, D, H, gates=1):
    from ._examples import sequence_mask
    x, h0, c0 = (rng.standard_normal(s) for s in ((T, N, D), (N, H), (N, H)))
    Wx = 0.5 * rng.standard_normal((D, gates * H))
    Wh = 0.5 * rng.standard_normal((H, gates * H))
    b = 0.5 * rng.standard_normal(gates * H)
    return x, h0, c0, Wx, Wh, b, sequence_mask(rng, T, N, np.float64)


@pytest.mark.parametrize("activation", RNN_ACTIVATIONS)
def test_elman_forward_masked(backend, activation):
    """By the formula (einsum), and equal to the loop of step kernels it replaces."""
    k, rng = Run(backend), np.random.default_rng(13)
    T, N, D, H = 5, 4, 3, 4
    x, h0, _, Wx, Wh, b, m = _masked_data(rng, T, N, D, H)
    act = np.tanh if activation == "tanh" else (lambda z: np.maximum(z, 0))
    h, hs, hn = h0, [], []
    h_step = h0
    for t in range(T):
        new = act(np.einsum("nd,dh->nh", x[t], Wx) + np.einsum("nk,kh->nh", h, Wh) + b)
        h = m[t][:, None] * new + (1 - m[t][:, None]) * h
        hs.append(h), hn.append(new)
        new_step = k.elman_step_forward(x[t], h_step, Wx, Wh, b, activation)
        h_step = m[t][:, None] * new_step + (1 - m[t][:, None]) * h_step
        close(h_step, h, "step loop")
    got_hs, got_hn = k.elman_forward_masked(x, h0, m, Wx, Wh, b, activation)
    close(got_hs, np.array(hs), "hs")
    close(got_hn, np.array(hn), "hnew")
    # an all-ones mask is elman_forward
    close(k.elman_forward_masked(x, h0, np.ones((T, N)), Wx, Wh, b, activation)[0],
          k.elman_forward(x, h0, Wx, Wh, b, activation), "all-ones mask")


def test_lstm_forward_masked(backend):
    k, rng = Run(backend), np.random.default_rng(14)
    T, N, D, H = 5, 4, 3, 2
    x, h0, c0, Wx, Wh, b, m = _masked_data(rng, T, N, D, H, gates=4)
    sig = np.vectorize(_sigm)
    h, c, want = h0, c0, {"hs": [], "cs": [], "cnew": [], "gates": []}
    for t in range(T):
        z = np.einsum("nd,dg->ng", x[t], Wx) + np.einsum("nk,kg->ng", h, Wh) + b
        i, f = sig(z[:, :H]), sig(z[:, H:2 * H])
        g, o = np.tanh(z[:, 2 * H:3 * H]), sig(z[:, 3 * H:])
        h_step, c_step, g_step = k.lstm_step_forward(x[t], h, c, Wx, Wh, b)
        cn = f * c + i * g
        hn = o * np.tanh(cn)
        close(h_step, hn, "step h"), close(c_step, cn, "step c")
        mt = m[t][:, None]
        h, c = mt * hn + (1 - mt) * h, mt * cn + (1 - mt) * c
        for key, v in zip(want, (h, c, cn, np.concatenate([i, f, g, o], axis=1))):
            want[key].append(v)
    got = k.lstm_forward_masked(x, h0, c0, m, Wx, Wh, b)
    for a, (key, w) in zip(got, want.items()):
        close(a, np.array(w), key)
    unmasked = k.lstm_forward(x, h0, c0, Wx, Wh, b)
    ones = k.lstm_forward_masked(x, h0, c0, np.ones((T, N)), Wx, Wh, b)
    for a, w, key in zip((ones[0], ones[1], ones[2], ones[3]),
                         (unmasked[0], unmasked[1], unmasked[1], unmasked[2]),
                         ("hs", "cs", "cnew", "gates")):
        close(a, w, f"all-ones mask: {key}")


def _directional(fn, theta, v, eps=1e-5):
    """Central difference ``(fn(theta + eps v) - fn(theta - eps v)) / (2 eps)``."""
    plus = fn(*(t + eps * d for t, d in zip(theta, v)))
    minus = fn(*(t - eps * d for t, d in zip(theta, v)))
    return (plus - minus) / (2 * eps)


def _input_tangent(x, hprev, Wx, v):
    """A_t = R{x_t} Wx + x_t R{Wx} + h_{t-1} R{Wh} + R{b}, as the layer forms it."""
    rx, rWx, rWh, rb = v
    return (np.einsum("tnd,dg->tng", rx, Wx) + np.einsum("tnd,dg->tng", x, rWx)
            + np.einsum("tnh,hg->tng", hprev, rWh) + rb)


@pytest.mark.parametrize("masked", [True, False], ids=["masked", "unmasked"])
@pytest.mark.parametrize("activation", RNN_ACTIVATIONS)
def test_elman_rop_is_the_directional_derivative(backend, activation, masked):
    """``elman_rop`` = d/de h(theta + e v) at e = 0, by central differences of the forward
    kernel (h0 fixed, so R{h_0} = 0); float64, eps = 1e-5 (error ~1e-10)."""
    k, rng = Run(backend), np.random.default_rng(15)
    T, N, D, H = 5, 3, 3, 4
    x, h0, _, Wx, Wh, b, m = _masked_data(rng, T, N, D, H)
    v = [rng.standard_normal(a.shape) for a in (x, Wx, Wh, b)]
    mask = m if masked else np.ones((T, N))

    def forward(x, Wx, Wh, b):
        return k.elman_forward_masked(x, h0, mask, Wx, Wh, b, activation)[0]
    hs, hnew = k.elman_forward_masked(x, h0, mask, Wx, Wh, b, activation)
    hprev = np.concatenate([h0[None], hs[:-1]])
    A = _input_tangent(x, hprev, Wx, [v[0], v[1], v[2], v[3]])
    got = k.elman_rop(A, hnew, m if masked else None, Wh, activation)
    want = _directional(forward, (x, Wx, Wh, b), v)
    close(got, want, "R{h}", rtol=1e-7)


@pytest.mark.parametrize("masked", [True, False], ids=["masked", "unmasked"])
def test_lstm_rop_is_the_directional_derivative(backend, masked):
    k, rng = Run(backend), np.random.default_rng(16)
    T, N, D, H = 5, 3, 3, 3
    x, h0, c0, Wx, Wh, b, m = _masked_data(rng, T, N, D, H, gates=4)
    v = [rng.standard_normal(a.shape) for a in (x, Wx, Wh, b)]
    mask = m if masked else np.ones((T, N))

    def forward(x, Wx, Wh, b):
        return k.lstm_forward_masked(x, h0, c0, mask, Wx, Wh, b)[0]
    hs, cs, cnew, gates = k.lstm_forward_masked(x, h0, c0, mask, Wx, Wh, b)
    hprev = np.concatenate([h0[None], hs[:-1]])
    A = _input_tangent(x, hprev, Wx, v)
    got = k.lstm_rop(A, c0, cs, cnew, gates, m if masked else None, Wh)
    want = _directional(forward, (x, Wx, Wh, b), v)
    close(got, want, "R{h}", rtol=1e-7)
    if not masked:                 # the unmasked caches of lstm_forward serve as well
        hs, cs, gates = k.lstm_forward(x, h0, c0, Wx, Wh, b)
        close(k.lstm_rop(A, c0, cs, cs, gates, None, Wh), want, "R{h} from lstm_forward",
              rtol=1e-7)


def test_gru_forward_masked(backend):
    """The GRU equations written out (PyTorch's reset-gate placement: r multiplies
    ``h Wh_n + bh_n``), step by step with explicit einsums and a scalar sigmoid; the
    unmasked kernel and an all-ones mask agree with them."""
    k, rng = Run(backend), np.random.default_rng(17)
    T, N, D, H = 5, 4, 3, 2
    x, h0, _, Wx, Wh, b, m = _masked_data(rng, T, N, D, H, gates=3)
    bh = 0.5 * rng.standard_normal(3 * H)
    sig = np.vectorize(_sigm)
    h, want = h0, {"hs": [], "hnew": [], "gates": [], "hn": []}
    for t in range(T):
        gx = np.einsum("nd,dg->ng", x[t], Wx) + b
        gh = np.einsum("nk,kg->ng", h, Wh) + bh
        r, z = sig(gx[:, :H] + gh[:, :H]), sig(gx[:, H:2 * H] + gh[:, H:2 * H])
        n = np.tanh(gx[:, 2 * H:] + r * gh[:, 2 * H:])
        new = (1 - z) * n + z * h
        mt = m[t][:, None]
        h_next = mt * new + (1 - mt) * h
        for key, v in zip(want, (h_next, new, np.concatenate([r, z, n], axis=1), gh[:, 2 * H:])):
            want[key].append(v)
        h = h_next
    got = k.gru_forward_masked(x, h0, m, Wx, Wh, b, bh)
    for a, (key, w) in zip(got, want.items()):
        close(a, np.array(w), key)
    unmasked = k.gru_forward(x, h0, Wx, Wh, b, bh)
    ones = k.gru_forward_masked(x, h0, np.ones((T, N)), Wx, Wh, b, bh)
    for a, w, key in zip((ones[0], ones[1], ones[2], ones[3]),
                         (unmasked[0], unmasked[0], unmasked[1], unmasked[2]),
                         ("hs", "hnew", "gates", "hn")):
        close(a, w, f"all-ones mask: {key}")


@pytest.mark.parametrize("masked", [True, False], ids=["masked", "unmasked"])
def test_gru_rop_is_the_directional_derivative(backend, masked):
    """``gru_rop`` = d/de h(theta + e v) at e = 0 (every parameter, both biases, and x
    move), by central differences of the forward kernel; the tangent in its two parts
    ``Ax = R{x} Wx + x R{Wx} + R{b}``, ``Ah = h_{t-1} R{Wh} + R{bh}``."""
    k, rng = Run(backend), np.random.default_rng(18)
    T, N, D, H = 5, 3, 3, 3
    x, h0, _, Wx, Wh, b, m = _masked_data(rng, T, N, D, H, gates=3)
    bh = 0.5 * rng.standard_normal(3 * H)
    v = [rng.standard_normal(a.shape) for a in (x, Wx, Wh, b, bh)]
    mask = m if masked else np.ones((T, N))

    def forward(x, Wx, Wh, b, bh):
        return k.gru_forward_masked(x, h0, mask, Wx, Wh, b, bh)[0]
    hs, _, gates, hn = k.gru_forward_masked(x, h0, mask, Wx, Wh, b, bh)
    hprev = np.concatenate([h0[None], hs[:-1]])
    ax = np.einsum("tnd,dg->tng", v[0], Wx) + np.einsum("tnd,dg->tng", x, v[1]) + v[3]
    ah = np.einsum("tnh,hg->tng", hprev, v[2]) + v[4]
    got = k.gru_rop(ax, ah, h0, hs, gates, hn, m if masked else None, Wh)
    want = _directional(forward, (x, Wx, Wh, b, bh), v)
    close(got, want, "R{h}", rtol=1e-7)
    if not masked:                 # the caches of gru_forward serve as well
        hs, gates, hn = k.gru_forward(x, h0, Wx, Wh, b, bh)
        close(k.gru_rop(ax, ah, h0, hs, gates, hn, None, Wh), want,
              "R{h} from gru_forward", rtol=1e-7)
