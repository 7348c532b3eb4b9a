"""Recurrent layers (Elman, LSTM), SequenceMask, TimeDistributedDense and the masked
tagging loss: gradients and R-ops against central differences on every backend in
float64, masks (padding keeps the state, gets no gradient, never changes real outputs),
truncated BPTT, structural damping, configs and bad input."""
import numpy as np
import pytest

from deepbio.nn import LAYERS, Network, layer_from_config
from deepbio.nn import (GRU, LSTM, Elman, MaskedSoftmaxCrossEntropy, SequenceMask,
                        TimeDistributedDense)
from deepbio.testing import assert_close, check_gradient

from .test_conv_pool_layers import _arr, _built, _np, check_layer

T, N, D = 6, 3, 3
HOLES = np.array([[1, 1, 0, 1, 1, 0],       # a hole and trailing padding
                  [1, 1, 1, 1, 1, 1],
                  [1, 1, 1, 0, 0, 0]], float)


def _x(seed=0, t=T):
    return np.random.default_rng(seed).standard_normal((N, t, D))


CELLS = {
    "elman-tanh": lambda **k: Elman(4, **k),
    "elman-relu": lambda **k: Elman(4, activation="relu", **k),
    "lstm": lambda **k: LSTM(3, **k),
    "gru": lambda **k: GRU(3, **k),
}


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("return_sequences", [False, True], ids=["last", "seq"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
def test_recurrent_gradients(be, cell, return_sequences, bidirectional):
    layer = _built(CELLS[cell](return_sequences=return_sequences,
                               bidirectional=bidirectional), (T, D))
    check_layer(layer, _x(), max_entries=40)


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("return_sequences", [False, True], ids=["last", "seq"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
def test_recurrent_masked_gradients(be, cell, return_sequences, bidirectional):
    layer = _built(CELLS[cell](return_sequences=return_sequences,
                               bidirectional=bidirectional), (T, D))
    dx = check_layer(layer, _x(), mask=HOLES, max_entries=40)
    assert np.all(dx[HOLES == 0] == 0), "padded steps must get zero gradient"


@pytest.mark.parametrize("cell", list(CELLS))
def test_padding_keeps_state(be, cell):
    """Each end-padded sequence gives exactly its unpadded result, in both directions;
    padded positions of a returned sequence are zero."""
    lengths = [6, 4, 1]
    mask = (np.arange(T)[None, :] < np.array(lengths)[:, None]).astype(float)
    x = _x(1) * mask[:, :, None]
    for rs in (False, True):
        layer = _built(CELLS[cell](return_sequences=rs, bidirectional=True), (T, D), 4)
        layer.set_mask(_arr(mask))
        padded = _np(layer.forward(_arr(x)))
        layer.set_mask(None)
        for i, n in enumerate(lengths):
            alone = _np(layer.forward(_arr(np.ascontiguousarray(x[i:i + 1, :n]))))
            got = padded[i:i + 1, :n] if rs else padded[i:i + 1]
            assert_close(got, alone, 1e-12, name=f"sequence {i}")
            if rs:
                assert np.all(padded[i, n:] == 0)


@pytest.mark.parametrize("cell", list(CELLS))
def test_all_ones_mask_equals_no_mask_and_step_path(be, cell):
    """An all-ones mask takes the whole-sequence kernels; a mask with padding the step
    kernels: on the real steps of an end-padded batch both paths agree, forward,
    backward and rop."""
    x = _x(2)
    layer = _built(CELLS[cell](return_sequences=True), (T, D), 1)
    layer.set_mask(_arr(np.ones((N, T))))
    y1 = _np(layer.forward(_arr(x)))
    layer.set_mask(None)
    y0 = _np(layer.forward(_arr(x)))
    assert_close(y1, y0, 0)
    # step path: pad one more position that is masked out
    xp_ = np.concatenate([x, np.zeros((N, 1, D))], axis=1)
    m = np.concatenate([np.ones((N, T)), np.zeros((N, 1))], axis=1)
    R = np.random.default_rng(0).standard_normal(y0.shape)
    dx0 = _np(layer.backward(_arr(R)))
    g0 = [_np(g).copy() for g in layer.grads]
    v = [np.random.default_rng(k).standard_normal(p.shape) for k, p in enumerate(layer.params)]
    r0 = _np(layer.rop(_arr(x), [_arr(a) for a in v]))
    layer.set_mask(_arr(m))
    y2 = _np(layer.forward(_arr(xp_)))
    assert_close(y2[:, :T], y0, 1e-12)
    dx2 = _np(layer.backward(_arr(np.concatenate([R, np.ones((N, 1, R.shape[2]))], axis=1))))
    assert_close(dx2[:, :T], dx0, 1e-12)
    for a, b in zip(layer.grads, g0):
        assert_close(_np(a), b, 1e-12)
    r2 = _np(layer.rop(_arr(xp_), [_arr(a) for a in v]))
    assert_close(r2[:, :T], r0, 1e-12)


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("masked", [False, True], ids=["kernels", "steps"])
def test_truncated_bptt(be, cell, masked):
    """bptt_steps=k: with the last state as output, inputs before the last window get no
    gradient and the last window's input gradient equals full BPTT's restricted to it;
    bptt_steps >= T is full BPTT."""
    t_len, k = 7, 3                    # windows [0, 3), [3, 6), [6, 7)
    x = _x(3, t_len)
    full = _built(CELLS[cell](), (t_len, D), 2)
    trunc = _built(CELLS[cell](bptt_steps=k), (t_len, D), 2)
    long = _built(CELLS[cell](bptt_steps=50), (t_len, D), 2)
    mask = np.ones((N, t_len))
    if masked:                          # a padded step forces the step-kernel path
        x = np.concatenate([x, np.zeros((N, 1, D))], axis=1)
        mask = np.concatenate([mask, np.zeros((N, 1))], axis=1)
        for layer in (full, trunc, long):
            layer.set_mask(_arr(mask))
    dy = np.random.default_rng(1).standard_normal((N, full.units))
    dxs = []
    for layer in (full, trunc, long):
        layer.forward(_arr(x))
        dxs.append(_np(layer.backward(_arr(dy))))
    d_full, d_trunc, d_long = dxs
    assert np.abs(d_full[:, :6]).max() > 0
    assert np.all(d_trunc[:, :6] == 0)
    assert_close(d_trunc[:, 6:], d_full[:, 6:], 1e-12)
    assert_close(d_long, d_full, 1e-12)


@pytest.mark.parametrize("cell", list(CELLS))
def test_truncated_bptt_backward_direction_counts_from_the_real_end(be, cell):
    """The backward-reading direction's windows start at the last REAL position of each
    sequence: with its "last" state (after reading position 0) as the only output, row n
    of length L gets input gradient exactly on t <= (L - 1) % k (its last window in
    reading order), equal there to full BPTT's (checked against central differences in
    test_recurrent_masked_gradients), and zero elsewhere, however much padding follows."""
    t_len, k, lengths = 8, 3, [7, 5, 2]          # last windows: t <= 0, t <= 1, t <= 1
    mask = (np.arange(t_len)[None, :] < np.array(lengths)[:, None]).astype(float)
    x = _x(6, t_len) * mask[:, :, None]
    full = _built(CELLS[cell](bidirectional=True), (t_len, D), 2)
    trunc = _built(CELLS[cell](bidirectional=True, bptt_steps=k), (t_len, D), 2)
    dy = np.random.default_rng(2).standard_normal((N, 2 * full.units))
    dy[:, :full.units] = 0                       # the backward-reading direction only
    dxs = []
    for layer in (full, trunc):
        layer.set_mask(_arr(mask))
        layer.forward(_arr(x))
        dxs.append(_np(layer.backward(_arr(dy))))
    d_full, d_trunc = dxs
    for n, length in enumerate(lengths):
        last = (length - 1) % k
        assert_close(d_trunc[n, :last + 1], d_full[n, :last + 1], 1e-12, name=f"row {n}")
        assert np.all(d_trunc[n, last + 1:] == 0), f"row {n}"
        assert np.abs(d_full[n, last + 1:length]).max(initial=1.0) > 0


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("return_sequences", [False, True], ids=["last", "seq"])
def test_truncated_bptt_is_the_same_padded_or_alone(be, cell, return_sequences):
    """Truncation windows are counted from each sequence's own start in each reading
    direction: the gradients of an end-padded batch (the step loop, per-row windows)
    equal the sums of each sequence's gradients alone (no mask: the whole-sequence
    kernels, windows at 0, k, 2k, ... in reading order), input gradients included."""
    t_len, k, lengths = 8, 3, [8, 7, 5, 2]
    mask = (np.arange(t_len)[None, :] < np.array(lengths)[:, None]).astype(float)
    x = np.random.default_rng(7).standard_normal((len(lengths), t_len, D)) * mask[:, :, None]
    layer = _built(CELLS[cell](return_sequences=return_sequences, bidirectional=True,
                               bptt_steps=k), (t_len, D), 3)
    dy = np.random.default_rng(8).standard_normal((len(lengths),) + layer.output_shape)
    if return_sequences:
        dy *= mask[:, :, None]
    layer.set_mask(_arr(mask))
    layer.forward(_arr(x))
    dx = _np(layer.backward(_arr(dy)))
    grads = [_np(g).copy() for g in layer.grads]
    layer.set_mask(None)
    alone_grads = [np.zeros_like(g) for g in grads]
    for n, length in enumerate(lengths):
        layer.forward(_arr(np.ascontiguousarray(x[n:n + 1, :length])))
        dyn = dy[n:n + 1, :length] if return_sequences else dy[n:n + 1]
        dxn = _np(layer.backward(_arr(np.ascontiguousarray(dyn))))
        assert_close(dx[n:n + 1, :length], dxn, 1e-12, name=f"dx of sequence {n}")
        for acc, g in zip(alone_grads, layer.grads):
            acc += _np(g)
    for name, a, b in zip(layer.param_names, grads, alone_grads):
        assert_close(a, b, 1e-12, name=name)


@pytest.mark.parametrize("cell", ["elman", "lstm"])
def test_truncated_bptt_network_gradient_ignores_padding(be, cell):
    """SequenceMask -> bidirectional recurrent layer with bptt_steps -> per-position
    outputs and the masked loss: the same sequences padded to 7, 8 or 9 positions give
    the same loss and the same gradient."""
    lengths, k = [7, 5, 3], 3
    x = np.random.default_rng(9).standard_normal((len(lengths), 7, D))
    labels = np.random.default_rng(10).integers(0, 2, (len(lengths), 7))
    results = []
    for t_len in (7, 8, 9):
        mask = (np.arange(t_len)[None, :] < np.array(lengths)[:, None]).astype(float)
        xp_ = np.zeros((len(lengths), t_len, D))
        xp_[:, :7] = x
        Xin = np.concatenate([xp_ * mask[:, :, None], mask[:, :, None]], axis=2)
        Y = np.zeros((len(lengths), t_len, 2))
        Y[:, :7] = np.eye(2)[labels]
        Y *= mask[:, :, None]
        rnn = (Elman(4, return_sequences=True, bidirectional=True, bptt_steps=k)
               if cell == "elman" else
               LSTM(3, return_sequences=True, bidirectional=True, bptt_steps=k))
        layers = [SequenceMask(), rnn, TimeDistributedDense(2)]
        net = Network(layers, MaskedSoftmaxCrossEntropy(), dtype="float64").build(
            (t_len, D + 1), 0)
        layers[0].connect(layers[1:])
        value, g = net.loss_and_grad(_arr(Xin), _arr(Y), train=False)
        results.append((value, _np(g).copy()))
    for value, g in results[1:]:
        assert abs(value - results[0][0]) <= 1e-12 * abs(results[0][0])
        assert_close(g, results[0][1], 1e-12)


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("mask", [None, HOLES], ids=["nomask", "mask"])
def test_structural_damping(be, cell, mask):
    """With structural_damping = s, the Gauss-Newton backward after a rop adds
    s J_h^T (m * J_h v): computed independently with a return_sequences twin (which emits
    m_t h_t) as its rop followed by its backward."""
    s = 0.7
    x = _arr(_x(4))
    layer = _built(CELLS[cell](bidirectional=True), (T, D), 3)
    twin = _built(CELLS[cell](bidirectional=True, return_sequences=True), (T, D), 3)
    v = [_arr(np.random.default_rng(k).standard_normal(p.shape))
         for k, p in enumerate(layer.params)]
    dv = _arr(np.random.default_rng(9).standard_normal((N, T, D)))
    dy = _arr(np.random.default_rng(8).standard_normal((N, 2 * layer.units)))
    for lay in (layer, twin):
        lay.set_mask(None if mask is None else _arr(mask))
        lay.forward(x)

    layer.rop(dv, v)
    plain_dx = _np(layer.backward(dy, include_penalty=False))
    plain_g = [_np(g).copy() for g in layer.grads]

    layer.structural_damping = s
    layer.rop(dv, v)
    damped_dx = _np(layer.backward(dy, include_penalty=False))
    damped_g = [_np(g).copy() for g in layer.grads]
    # the damping term is consumed: a second backward is plain again
    again = _np(layer.backward(dy, include_penalty=False))
    assert_close(again, plain_dx, 1e-12)
    # ... and an ordinary gradient backward never adds it
    layer.rop(dv, v)
    assert_close(_np(layer.backward(dy)), plain_dx, 1e-12)

    jv = twin.rop(dv, v)                      # m_t R{h_t} per direction, (N, T, 2H)
    if mask is not None:                      # J_h^T (m J_h v): the twin masks again
        jv = jv * _arr(mask)[:, :, None]
    extra_dx = _np(twin.backward(s * jv))
    extra_g = [_np(g) for g in twin.grads]
    assert_close(damped_dx - plain_dx, extra_dx, 1e-10)
    for a, b, c in zip(damped_g, plain_g, extra_g):
        assert_close(a - b, c, 1e-10)


# ------------------------------------------------------------ SequenceMask and friends


def test_sequence_mask_network_gradients(be):
    """SequenceMask -> LSTM -> Dense in a Network: the loss gradient against central
    differences over the parameters, with holes in the mask."""
    from deepbio.nn import Dense
    layers = [SequenceMask(), LSTM(3, bidirectional=True), Dense(2)]
    net = Network(layers, "softmax_cross_entropy", dtype="float64").build((T, D + 1), 0)
    layers[0].connect(layers[1:])
    Xin = np.concatenate([_x(5), HOLES[:, :, None]], axis=2)
    Y = np.eye(2)[[0, 1, 1]]
    value, g = net.loss_and_grad(_arr(Xin), _arr(Y), train=False)
    theta0 = _np(net.theta).copy()

    def f(theta):
        net.set_flat(_arr(theta))
        return net.loss(_arr(Xin), _arr(Y))

    check_gradient(f, {"theta": theta0}, {"theta": _np(g)})
    net.set_flat(_arr(theta0))
    # Gauss-Newton product against J^T H J built from check_rop-verified pieces
    v = np.random.default_rng(1).standard_normal(theta0.shape)
    gv = _np(net.gauss_newton_product(_arr(v), _arr(Xin), _arr(Y), train=False))
    assert np.isfinite(gv).all() and float(v @ gv) >= 0


def test_sequence_mask_layer(be):
    layer = _built(SequenceMask(), (4, 3))
    rnn = _built(Elman(2), (4, 2))
    layer.connect([rnn])
    Xin = np.concatenate([np.ones((2, 4, 2)), np.array([[1, 1, 0, 0], [1, 1, 1, 1.]])[:, :, None]],
                         axis=2)
    out = _np(layer.forward(_arr(Xin)))
    assert out.shape == (2, 4, 2)
    assert_close(_np(rnn._mask), Xin[:, :, 2], 0)
    dx = _np(layer.backward(_arr(np.ones((2, 4, 2)))))
    assert dx.shape == (2, 4, 3) and np.all(dx[:, :, 2] == 0)
    bad = Xin.copy()
    bad[0, 0, 2] = 0.5
    with pytest.raises(ValueError, match="only 0"):
        layer.forward(_arr(bad))
    bad = Xin.copy()
    bad[1, :, 2] = 0
    with pytest.raises(ValueError, match="sequence 1 is empty"):
        layer.forward(_arr(bad))


def test_time_distributed_dense_gradients(be):
    layer = _built(TimeDistributedDense(3, "tanh"), (T, 4))
    check_layer(layer, np.random.default_rng(0).standard_normal((2, T, 4)))


def test_masked_cross_entropy(be):
    """Padded positions (all-zero target rows) change neither the loss nor its gradient
    at real positions, and get zero gradient and curvature; the gradient is verified by
    central differences."""
    rng = np.random.default_rng(0)
    z = rng.standard_normal((2, 5, 3))
    Y = np.eye(3)[rng.integers(0, 3, (2, 5))]
    Y[1, 3:] = 0
    loss = MaskedSoftmaxCrossEntropy()
    value = loss.forward(_arr(z), _arr(Y))
    dz = _np(loss.backward())
    assert np.all(dz[1, 3:] == 0)
    check_gradient(lambda z: MaskedSoftmaxCrossEntropy().forward(_arr(z), _arr(Y)),
                   {"z": z}, {"z": dz})
    gn = _np(loss.gauss_newton(_arr(rng.standard_normal(z.shape))))
    assert np.all(gn[1, 3:] == 0)
    # the same positions without padding: mean over the 8 real positions
    p = np.exp(z - z.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    real = Y.sum(-1) > 0
    want = -(Y * np.log(p)).sum(-1)[real].mean()
    assert abs(value - want) < 1e-12
    short = MaskedSoftmaxCrossEntropy().forward(_arr(np.ascontiguousarray(z[:, :3])),
                                                _arr(np.ascontiguousarray(Y[:, :3])))
    assert short != value     # sanity: different positions, different loss
    with pytest.raises(ValueError, match="no real position"):
        MaskedSoftmaxCrossEntropy().forward(_arr(z), _arr(np.zeros_like(Y)))


# ------------------------------------------------------------- configs and bad input


@pytest.mark.parametrize("layer", [
    Elman(5, "relu", True, True, 4), LSTM(3, False, True, None, 2.0), GRU(3, True, True, 2),
    SequenceMask(),
    TimeDistributedDense(4, "relu")], ids=lambda v: type(v).__name__)
def test_config_round_trip(be, layer):
    name = type(layer).__name__
    assert LAYERS[name] is type(layer)
    twin = layer_from_config(name, layer.get_config())
    assert twin.get_config() == layer.get_config()
    shape = (T, D + 1) if isinstance(layer, SequenceMask) else (T, D)
    _built(layer, shape, 5)
    _built(twin, shape, 5)
    x = _arr(np.concatenate([_x(), np.ones((N, T, 1))], axis=2)
             if isinstance(layer, SequenceMask) else _x())
    assert_close(_np(twin.forward(x)), _np(layer.forward(x)), 0)


def test_initialisation(be):
    layer = _built(LSTM(8, forget_bias=2.5, bidirectional=True), (T, D))
    assert layer.param_names == ("Wx", "Wh", "b", "Wx_rev", "Wh_rev", "b_rev")
    wh, b = _np(layer.params[1]), _np(layer.params[2])
    assert wh.shape == (8, 32) and b.shape == (32,)
    for k in range(4):                        # one orthogonal block per gate
        blk = wh[:, 8 * k:8 * (k + 1)]
        assert_close(blk.T @ blk, np.eye(8), 1e-12, floor=1.0)
    assert np.all(b[8:16] == 2.5) and np.all(b[:8] == 0) and np.all(b[16:] == 0)
    e = _built(Elman(6), (T, D))
    wh = _np(e.params[1])
    assert_close(wh.T @ wh, np.eye(6), 1e-12, floor=1.0)
    assert e.structural_damping == 0.0 and e.output_shape == (6,)
    assert _built(Elman(6, return_sequences=True, bidirectional=True), (T, D)).output_shape \
        == (T, 12)


def test_recurrent_bad_input(be):
    layer = _built(Elman(4), (T, D))
    with pytest.raises(ValueError, match=r"\(N, T, 3\)"):
        layer.forward(_arr(np.zeros((2, T, 5))))
    with pytest.raises(ValueError, match=r"\(N, T, 3\)"):
        layer.forward(_arr(np.zeros((2, 3))))
    layer.set_mask(_arr(np.ones((2, T + 1))))
    with pytest.raises(ValueError, match="mask of shape"):
        layer.forward(_arr(np.zeros((2, T, D))))


@pytest.mark.parametrize("make", [
    lambda: Elman(0), lambda: Elman(3, activation="sigmoid"), lambda: LSTM(3, bptt_steps=0),
    lambda: LSTM(2, forget_bias=float("nan")), lambda: Elman(3, return_sequences="yes"),
    lambda: Elman(True), lambda: LSTM(np.bool_(True)), lambda: Elman(2.0),
    lambda: LSTM(2, bptt_steps=True), lambda: LSTM(2, forget_bias=True),
    lambda: LSTM(2, forget_bias=np.bool_(True)), lambda: LSTM(2, forget_bias="1"),
    lambda: LSTM(2, forget_bias=np.float32("inf")), lambda: LSTM(2, forget_bias=None),
])
def test_bad_hyper_parameters(make):
    with pytest.raises(ValueError):
        make()


def test_numpy_scalar_hyper_parameters():
    """NumPy scalars are numbers: integers for units and bptt_steps, reals for
    forget_bias (stored as Python numbers, so configs stay plain JSON)."""
    lstm = LSTM(np.int64(3), bptt_steps=np.int32(2), forget_bias=np.float32(1.5))
    assert lstm.get_config() == {"units": 3, "return_sequences": False,
                                 "bidirectional": False, "bptt_steps": 2,
                                 "forget_bias": 1.5}
    assert type(lstm.units) is int and type(lstm.forget_bias) is float
    assert LSTM(2, forget_bias=np.int64(2)).forget_bias == 2.0
    assert Elman(np.int16(4), bidirectional=np.bool_(True)).units == 4


def test_time_distributed_dense_before_build():
    layer = TimeDistributedDense(3)
    with pytest.raises(RuntimeError, match="not built"):
        layer.forward(np.zeros((2, 4, 3)))
    with pytest.raises(RuntimeError, match="not built"):
        layer.rop(np.zeros((2, 4, 3)))


# ------------------------------------------------------------ GRU against PyTorch


def test_gru_layer_matches_torch_gru(be, torch):
    """nn.GRU (bidirectional, every state, end-padded sequences) = torch.nn.GRU with the
    same weights (``weight_ih_l0 = Wx.T``, ``weight_hh_l0 = Wh.T``, ``bias_ih_l0 = b``,
    ``bias_hh_l0 = bh``, ``*_reverse`` for the backward direction) on packed sequences, in
    float64: the outputs at real positions, the input gradient and every parameter's."""
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
    lengths = np.array([6, 4, 1])
    mask = (np.arange(T)[None, :] < lengths[:, None]).astype(float)
    x = _x(3) * mask[:, :, None]
    layer = _built(GRU(4, return_sequences=True, bidirectional=True), (T, D), 5)
    rng = np.random.default_rng(6)
    for p in layer.params:                    # non-zero biases, so both are exercised
        p[...] = _arr(rng.uniform(-0.8, 0.8, p.shape))
    tg = torch.nn.GRU(D, 4, bidirectional=True, batch_first=True, dtype=torch.float64)
    P = dict(zip(layer.param_names, (_np(p) for p in layer.params)))
    with torch.no_grad():
        for sfx, rev in (("", ""), ("_rev", "_reverse")):
            getattr(tg, "weight_ih_l0" + rev).copy_(torch.from_numpy(P["Wx" + sfx].T.copy()))
            getattr(tg, "weight_hh_l0" + rev).copy_(torch.from_numpy(P["Wh" + sfx].T.copy()))
            getattr(tg, "bias_ih_l0" + rev).copy_(torch.from_numpy(P["b" + sfx]))
            getattr(tg, "bias_hh_l0" + rev).copy_(torch.from_numpy(P["bh" + sfx]))
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    packed = pack_padded_sequence(tx, torch.from_numpy(lengths), batch_first=True,
                                  enforce_sorted=False)
    tout = pad_packed_sequence(tg(packed)[0], batch_first=True, total_length=T)[0]
    layer.set_mask(_arr(mask))
    y = _np(layer.forward(_arr(x)))
    assert_close(y, tout.detach().numpy(), 1e-12, name="outputs")
    dy = np.random.default_rng(7).standard_normal(y.shape) * mask[:, :, None]
    tout.backward(torch.from_numpy(dy))
    dx = _np(layer.backward(_arr(dy)))
    assert_close(dx * mask[:, :, None], tx.grad.numpy() * mask[:, :, None], 1e-12, name="dx")
    G = dict(zip(layer.param_names, (_np(g) for g in layer.grads)))
    for sfx, rev in (("", ""), ("_rev", "_reverse")):
        for ours, theirs, tr in (("Wx", "weight_ih_l0", True), ("Wh", "weight_hh_l0", True),
                                 ("b", "bias_ih_l0", False), ("bh", "bias_hh_l0", False)):
            want = getattr(tg, theirs + rev).grad.numpy()
            assert_close(G[ours + sfx], want.T if tr else want, 1e-12, name=ours + sfx)
