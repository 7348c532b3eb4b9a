"""One-pass ``backward_squared`` of the convolution and recurrent layers.

``Network.squared_example_grads(X, y)`` must equal the explicit mean over examples of the
squared gradient of each example alone (``loss_and_grad`` on ``X[i:i+1]``), and must take
the one-pass path: every layer's ``backward_squared``, never the per-example fallback.
Every backend, float64, tiny networks: Conv1D (stride, padding, masks), Conv2D with
pooling, Conv1D + pooling + GlobalMaxPool1D, Elman (tanh, relu), LSTM, bidirectional,
truncated BPTT, masked variable-length sequences, return_sequences + TimeDistributedDense.
"""
import numpy as np
import pytest

import deepbio
from deepbio.nn import Dense, Flatten, Network
from deepbio.nn.conv import ChannelsFirst, Conv1D, Conv2D
from deepbio.nn.pool import AvgPool1D, AvgPool2D, GlobalMaxPool1D, MaxPool1D, MaxPool2D
from deepbio.nn import (GRU, LSTM, Elman, MaskedSoftmaxCrossEntropy, SequenceMask,
                        TimeDistributedDense)
from deepbio.testing import assert_close

RTOL = 1e-10
N = 5


def _np(a):
    return deepbio.backend.current().to_numpy(a)


def _net(layers, loss, input_shape, seed=0):
    """A float64 network with random biases (every parameter takes part), its
    SequenceMask (if first) connected to the layers after it."""
    if isinstance(layers[0], SequenceMask):
        layers[0].connect(layers[1:])
    net = Network(layers, loss, dtype="float64").build(input_shape, random_state=seed)
    rng = np.random.default_rng(seed + 1)
    be = deepbio.backend.current()
    for layer in net.layers:
        for name, p in zip(layer.param_names, layer.params):
            if name.startswith("b"):
                p[...] = be.asarray(rng.normal(scale=0.5, size=p.shape))
    return net


def _targets(net, loss, n, seed=3):
    rng = np.random.default_rng(seed)
    shape = (n,) + net.output_shape
    if loss == "squared_error":
        return rng.normal(size=shape)
    k = shape[-1]
    return np.eye(k)[rng.integers(0, k, size=shape[:-1])]


def _per_example_loop(net, X, y, scale=None):
    """``mean_i (scale_i g_i)**2`` with ``g_i`` the gradient of example i alone."""
    total = 0.0
    for i in range(X.shape[0]):
        _, g = net.loss_and_grad(X[i:i + 1], y[i:i + 1])
        g = _np(g) * (1.0 if scale is None else scale[i])
        total = total + g * g
    return total / X.shape[0]


def _one_pass(net, X, y, monkeypatch):
    """``squared_example_grads`` with the per-example fallback made to fail."""
    def no_fallback(*args, **kwargs):
        raise AssertionError("squared_example_grads fell back to the per-example loop")
    with monkeypatch.context() as m:
        m.setattr(net, "_backward", no_fallback)
        return _np(net.squared_example_grads(X, y))


def _check(net, X, y, monkeypatch, scale=None):
    X = deepbio.backend.current().asarray(X, "float64")
    y = deepbio.backend.current().asarray(y, "float64")
    got = _one_pass(net, X, y, monkeypatch)
    want = _per_example_loop(net, X, y, scale)
    assert np.all(np.isfinite(want)) and np.abs(want).max() > 0
    # layer by layer, so that a failure names the parameter
    for layer, spans in zip(net.layers, net._slices):
        for name, (a, b, _) in zip(layer.param_names, spans):
            assert_close(got[a:b], want[a:b], RTOL, name=f"{type(layer).__name__}.{name}")


def _mask(lengths, t_len):
    return (np.arange(t_len)[None, :] < np.asarray(lengths)[:, None]).astype(float)


def _with_mask(x, mask):
    return np.concatenate([x * mask[:, :, None], mask[:, :, None]], axis=2)


# ------------------------------------------------------------------- convolution

CONV_NETS = {
    "conv1d-stride-pad": (lambda: [ChannelsFirst(),
                                   Conv1D(3, 3, stride=2, padding=1, activation="tanh"),
                                   Flatten(), Dense(2)],
                          "squared_error", (9, 4)),
    "conv1d-linear": (lambda: [ChannelsFirst(), Conv1D(2, 4), Flatten(), Dense(3)],
                      "softmax_cross_entropy", (7, 3)),
    "conv2d-pool": (lambda: [Conv2D(3, (3, 2), stride=(2, 1), padding=1, activation="relu"),
                             MaxPool2D(2), Conv2D(2, 2, padding=(0, 1), activation="sigmoid"),
                             AvgPool2D((1, 2)), Flatten(), Dense(3)],
                    "softmax_cross_entropy", (2, 8, 6)),
    "conv1d-pool-globalmax": (lambda: [ChannelsFirst(),
                                       Conv1D(4, 3, padding=1, activation="relu"),
                                       MaxPool1D(2), Conv1D(3, 2, activation="tanh"),
                                       AvgPool1D(2, stride=1), GlobalMaxPool1D(),
                                       Dense(2)],
                              "squared_error", (10, 4)),
}


@pytest.mark.parametrize("name", list(CONV_NETS))
def test_conv_networks(be, name, monkeypatch):
    make, loss, shape = CONV_NETS[name]
    net = _net(make(), loss, shape)
    X = np.random.default_rng(0).standard_normal((N,) + shape)
    _check(net, X, _targets(net, loss, N), monkeypatch)


def test_masked_conv1d_sequences(be, monkeypatch):
    """End-padded sequences of different lengths: each example's gradient is that of the
    sequence alone (padded positions give no output, so no gradient)."""
    t_len, a = 12, 4
    layers = [SequenceMask(), ChannelsFirst(), Conv1D(3, 3, stride=2, padding=1,
                                                      activation="relu"),
              MaxPool1D(2, stride=1), Conv1D(2, 2, activation="tanh"), GlobalMaxPool1D(),
              Dense(2)]
    net = _net(layers, "softmax_cross_entropy", (t_len, a + 1))
    x = np.random.default_rng(0).standard_normal((N, t_len, a))
    X = _with_mask(x, _mask([12, 9, 7, 10, 8], t_len))
    _check(net, X, _targets(net, "softmax_cross_entropy", N), monkeypatch)


# --------------------------------------------------------------------- recurrent

T, D = 6, 3
CELLS = {
    "elman-tanh": lambda **k: Elman(4, **k),
    "elman-relu": lambda **k: Elman(4, activation="relu", **k),
    "lstm": lambda **k: LSTM(3, **k),
    "gru": lambda **k: GRU(3, **k),
}
OPTIONS = {
    "plain": {},
    "bidirectional": {"bidirectional": True},
    "bptt": {"bptt_steps": 4},
    "bidirectional-bptt": {"bidirectional": True, "bptt_steps": 2},
}
HOLES = np.array([[1, 1, 0, 1, 1, 0],        # a hole and trailing padding
                  [1, 1, 1, 1, 1, 1],
                  [1, 1, 1, 0, 0, 0],
                  [1, 0, 0, 0, 0, 0],
                  [0, 1, 1, 1, 1, 1]], float)


def _recurrent_net(cell, options, return_sequences, masked, loss="squared_error"):
    rnn = CELLS[cell](return_sequences=return_sequences, **OPTIONS[options])
    head = TimeDistributedDense(2) if return_sequences else Dense(2)
    layers = ([SequenceMask()] if masked else []) + [rnn, head]
    return _net(layers, loss, (T, D + int(masked)))


def _sequences(masked, seed=0):
    x = np.random.default_rng(seed).standard_normal((N, T, D))
    return _with_mask(x, HOLES) if masked else x


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("options", list(OPTIONS))
@pytest.mark.parametrize("return_sequences", [False, True], ids=["last", "seq"])
def test_recurrent_networks(be, cell, options, return_sequences, monkeypatch):
    net = _recurrent_net(cell, options, return_sequences, masked=False)
    _check(net, _sequences(False), _targets(net, "squared_error", N), monkeypatch)


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("options", ["plain", "bidirectional-bptt"])
@pytest.mark.parametrize("return_sequences", [False, True], ids=["last", "seq"])
def test_masked_recurrent_networks(be, cell, options, return_sequences, monkeypatch):
    """Masks with holes and end padding: padded steps keep the state and contribute
    nothing, in the one-pass path exactly as in the ordinary backward."""
    net = _recurrent_net(cell, options, return_sequences, masked=True)
    _check(net, _sequences(True), _targets(net, "squared_error", N), monkeypatch)


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("return_sequences", [False, True], ids=["last", "seq"])
def test_truncated_bptt_squared_gradients_ignore_padding(be, cell, return_sequences,
                                                         monkeypatch):
    """Bidirectional with bptt_steps: truncation windows are counted from each
    sequence's own start in each reading direction, so the one-pass squared gradients
    (the ``_dz_dir`` recursion) of end-padded sequences are the same padded to T or
    T + 1 positions, and agree example by example with the ordinary backward."""
    lengths = [6, 5, 3, 2, 1]
    rng = np.random.default_rng(4)
    x = rng.standard_normal((N, T, D))
    labels = np.eye(2)[rng.integers(0, 2, (N, T) if return_sequences else N)]
    be_ = deepbio.backend.current()
    got, theta = [], None
    for t_len in (T, T + 1):
        mask = _mask(lengths, t_len)
        rnn = CELLS[cell](return_sequences=return_sequences, bidirectional=True,
                          bptt_steps=2)
        if return_sequences:
            head, loss = TimeDistributedDense(2), MaskedSoftmaxCrossEntropy()
            y = np.zeros((N, t_len, 2))
            y[:, :T] = labels
            y *= mask[:, :, None]
            counts = mask.sum(axis=1)
            scale = N * counts / counts.sum()
        else:
            head, loss, y, scale = Dense(2), "softmax_cross_entropy", labels, None
        net = _net([SequenceMask(), rnn, head], loss, (t_len, D + 1))
        if theta is None:
            theta = net.get_flat()
        net.set_flat(theta)
        xt = np.zeros((N, t_len, D))
        xt[:, :T] = x
        X = _with_mask(xt, mask)
        _check(net, X, y, monkeypatch, scale)
        got.append(_one_pass(net, be_.asarray(X, "float64"), be_.asarray(y, "float64"),
                             monkeypatch))
    assert_close(got[1], got[0], RTOL, name="padded to T + 1 vs T")


def test_stacked_recurrent_tagger(be, monkeypatch):
    """Elman (sequences) -> bidirectional LSTM (sequences) -> TimeDistributedDense with
    softmax cross-entropy at every position."""
    layers = [Elman(3, return_sequences=True), LSTM(2, return_sequences=True,
                                                    bidirectional=True),
              TimeDistributedDense(3)]
    net = _net(layers, "softmax_cross_entropy", (T, D))
    _check(net, _sequences(False), _targets(net, "softmax_cross_entropy", N), monkeypatch)


def test_masked_tagging_loss(be, monkeypatch):
    """With MaskedSoftmaxCrossEntropy the batch loss is ``(1/M) sum`` over the M real
    positions, so example i's share, ``l_i`` with ``L = (1/N) sum_i l_i``, is ``N M_i / M``
    times its loss alone (the mean over its own M_i positions)."""
    mask = _mask([6, 4, 2, 5, 1], T)
    layers = [SequenceMask(), Elman(4, return_sequences=True, bidirectional=True),
              TimeDistributedDense(3, activation="tanh"), TimeDistributedDense(3)]
    net = _net(layers, MaskedSoftmaxCrossEntropy(), (T, D + 1))
    X = _with_mask(np.random.default_rng(0).standard_normal((N, T, D)), mask)
    y = _targets(net, "softmax_cross_entropy", N) * mask[:, :, None]
    counts = mask.sum(axis=1)
    _check(net, X, y, monkeypatch, scale=N * counts / counts.sum())


def test_fallback_loop_matches_the_one_pass_path(be, monkeypatch):
    """For a layer without ``backward_squared`` the network loops over examples, feeding
    each one its row of ``N dL/dz``: the same per-example gradients as the one pass, also
    where the loss averages over the masked positions of the whole batch."""
    mask = _mask([6, 4, 2, 5, 1], T)
    layers = [SequenceMask(), Elman(4, return_sequences=True),
              TimeDistributedDense(3, activation="tanh"), TimeDistributedDense(3)]
    net = _net(layers, MaskedSoftmaxCrossEntropy(), (T, D + 1))
    X = be.asarray(_with_mask(np.random.default_rng(0).standard_normal((N, T, D)), mask),
                   "float64")
    y = be.asarray(_targets(net, "softmax_cross_entropy", N) * mask[:, :, None], "float64")
    one_pass = _np(net.squared_example_grads(X, y))

    def missing(dy):
        raise NotImplementedError("no backward_squared")

    monkeypatch.setattr(net.layers[1], "backward_squared", missing)
    looped = _np(net.squared_example_grads(X, y))
    assert np.abs(one_pass).max() > 0
    assert_close(looped, one_pass, RTOL, name="fallback vs one pass")


# ------------------------------------------------------------ layer by layer


LAYERS = {
    "conv1d": (lambda: Conv1D(3, 3, stride=2, padding=1, activation="tanh"), (4, 9)),
    "conv2d": (lambda: Conv2D(2, (2, 3), stride=(1, 2), padding=(1, 0),
                              activation="sigmoid"), (3, 5, 6)),
    "elman-bi-seq": (lambda: Elman(4, return_sequences=True, bidirectional=True), (T, D)),
    "lstm-bptt": (lambda: LSTM(3, bptt_steps=2), (T, D)),
    "timedistributed": (lambda: TimeDistributedDense(3, activation="softmax"), (T, D)),
}


@pytest.mark.parametrize("name", list(LAYERS))
def test_backward_squared_returns_the_input_gradient(be, name):
    """``backward_squared`` returns what ``backward`` returns for the same ``dy``, and
    on one example its grads are the squares of ``backward``'s."""
    make, shape = LAYERS[name]
    layer = make()
    layer.build(shape, be.rng(0), "float64")
    rng = np.random.default_rng(1)
    for n in (1, 3):
        x = be.asarray(rng.standard_normal((n,) + shape), "float64")
        dy = be.asarray(rng.standard_normal((n,) + layer.output_shape), "float64")
        layer.forward(x)
        dx = _np(layer.backward(dy)).copy()
        squares = [_np(g) ** 2 for g in layer.grads]
        got = _np(layer.backward_squared(dy))
        assert_close(got, dx, 1e-12, name="dx")
        if n == 1:
            for pname, g, want in zip(layer.param_names, layer.grads, squares):
                assert_close(_np(g), want, 1e-12, name=pname)


def test_chunks_of_one_example_and_one_step(be, monkeypatch):
    """Per-example gradients formed one example at a time (the smallest chunk) give the
    same result; so does a sequence of a single step (no recurrent term)."""
    monkeypatch.setattr("deepbio.nn._arrays.SQUARED_CHUNK", 1)
    make, loss, shape = CONV_NETS["conv2d-pool"]
    net = _net(make(), loss, shape)
    X = np.random.default_rng(0).standard_normal((N,) + shape)
    _check(net, X, _targets(net, loss, N), monkeypatch)
    net = _recurrent_net("lstm", "bidirectional", True, masked=True)
    _check(net, _sequences(True), _targets(net, "squared_error", N), monkeypatch)
    for cell in CELLS:
        net = _net([CELLS[cell](bidirectional=True), Dense(2)], "squared_error", (1, D))
        X = np.random.default_rng(1).standard_normal((N, 1, D))
        _check(net, X, _targets(net, "squared_error", N), monkeypatch)
