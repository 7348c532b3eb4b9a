"""RNNClassifier / RNNTagger: the long-range memory task (Elman, LSTM and GRU) against a
position-blind baseline, padding invariance of the tagger (loss, training, predictions),
masks, truncated BPTT, save/load, the estimator API and bad input.

The long-range accuracy tests run once, on the fastest usable backend (``cython`` when
compiled, else ``numpy``): the NumPy reference walks the time steps in Python, and every
backend's recurrent layers are checked against central differences in tests/nn.
"""
import numpy as np
import pytest

import deepbio
from deepbio import MLPClassifier
from deepbio.datasets import make_long_range_sequences, pad_sequences
from deepbio.models._checks import with_mask_channel
from deepbio.models.rnn import RNNClassifier, RNNTagger
from deepbio.nn import layer_from_config
from deepbio.testing import assert_close

def _np(a):
    return deepbio.backend.current().to_numpy(a)


@pytest.fixture(scope="module")
def long_range():
    """Label = the first of 51 symbols (4 kinds): read after 50 distractor steps."""
    X, y = make_long_range_sequences(n=2000, length=51, random_state=0)
    Xt, yt = make_long_range_sequences(n=1000, length=51, random_state=1)
    return X, y, Xt, yt


# ------------------------------------------------------------------ quality bar


def test_long_range_task_is_position_blind_hard(fast_backend, long_range):
    """A bag-of-symbols softmax regression (counts of each symbol) stays near chance."""
    X, y, Xt, yt = long_range
    base = MLPClassifier(hidden_layer_sizes=(), max_iter=50, learning_rate=0.01,
                         random_state=0).fit(X.sum(axis=1), y)
    acc = base.score(Xt.sum(axis=1), yt)
    assert acc < 0.4, acc                                   # chance is 0.25


@pytest.mark.parametrize("cell,kw", [
    ("elman", dict(learning_rate=0.05, max_iter=5, schedule="cosine")),
    ("lstm", dict(learning_rate=0.1, max_iter=5, schedule="cosine")),
])
def test_long_range_memory(fast_backend, long_range, cell, kw):
    X, y, Xt, yt = long_range
    clf = RNNClassifier(cell=cell, units=64, random_state=0, **kw).fit(X, y)
    acc = clf.score(Xt, yt)
    assert acc >= 0.9, (cell, acc, [h["loss"] for h in clf.history_])


def test_gru_memory(fast_backend):
    """GRU: the label is the first of 11 symbols, read after 10 distractors.  (With this
    SGD the GRU, like torch.nn.GRU trained the same way, does not learn the 50-step
    version above in 5 epochs: its update gate starts at 1/2, so the first symbol's
    trace halves at every step; see docs/nn.md.)"""
    X, y = make_long_range_sequences(n=2000, length=11, random_state=0)
    Xt, yt = make_long_range_sequences(n=1000, length=11, random_state=1)
    clf = RNNClassifier(cell="gru", units=64, learning_rate=0.1, max_iter=5,
                        schedule="cosine", random_state=0).fit(X, y)
    acc = clf.score(Xt, yt)
    assert acc >= 0.95, (acc, [h["loss"] for h in clf.history_])
    base = MLPClassifier(hidden_layer_sizes=(), max_iter=50, learning_rate=0.01,
                         random_state=0).fit(X.sum(axis=1), y)
    assert base.score(Xt.sum(axis=1), yt) < 0.5


def _shift_task(n, seed, low=6, high=16):
    """Variable-length one-hot sequences; the tag at t is the symbol at t - 1 (0 at t=0)."""
    rng = np.random.default_rng(seed)
    codes = [rng.integers(0, 4, rng.integers(low, high + 1)) for _ in range(n)]
    X, mask = pad_sequences([np.eye(4)[c] for c in codes])
    tags, _ = pad_sequences([np.concatenate([[0], c[:-1]]) for c in codes])
    return X, mask, tags[:, :, 0].astype(int), codes


def test_tagger_learns_a_one_step_memory(fast_backend):
    X, m, y, _ = _shift_task(300, 0)
    Xt, mt, yt, _ = _shift_task(100, 1)
    tagger = RNNTagger(cell="elman", units=16, learning_rate=0.05, max_iter=15,
                       random_state=0).fit(X, y, mask=m)
    assert tagger.score(Xt, yt, mask=mt) > 0.95
    pred = tagger.predict(Xt, mask=mt)
    assert pred.shape == yt.shape


# ---------------------------------------------------------------------- padding


@pytest.mark.parametrize("cell", ["elman", "lstm", "gru"])
@pytest.mark.parametrize("bptt_steps", [None, 3], ids=["full", "bptt3"])
def test_tagger_padding_changes_nothing(on_backend, cell, bptt_steps):
    """Training on the same sequences padded to 16 or to 23 positions gives the same
    losses epoch by epoch and the same weights; the network loss of a batch is the same
    padded or not; and each sequence's predictions in a padded batch equal its
    predictions alone.  With truncated BPTT too: the windows of both directions are
    counted from each sequence's own start (the padding, 7 more positions, is not a
    multiple of bptt_steps)."""
    X, m, y, codes = _shift_task(40, 2)
    X2, m2 = pad_sequences(list(X[i, :len(c)] for i, c in enumerate(codes)), length=23)
    y2 = np.zeros(m2.shape, dtype=int)
    y2[:, :y.shape[1]] = y
    kw = dict(cell=cell, units=5, bidirectional=True, bptt_steps=bptt_steps, max_iter=3,
              batch_size=8, dtype="float64", random_state=0)
    a = RNNTagger(**kw).fit(X, y, mask=m)
    b = RNNTagger(**kw).fit(X2, y2, mask=m2)
    assert_close(np.array([h["loss"] for h in b.history_]),
                 np.array([h["loss"] for h in a.history_]), 1e-10)
    for p, q in zip(b.params_, a.params_):
        assert_close(p, q, 1e-10)

    # the loss and its gradient on one batch, padded to 16 or 23
    be = deepbio.backend.current()
    nets = []
    for Xp, mp, yp in ((X, m, y), (X2, m2, y2)):
        net = a._assemble([layer_from_config(d["name"], d["config"]) for d in a.layers_],
                          (Xp.shape[1], 5), 0)
        net.set_flat(a.network_.get_flat())
        T = a._targets(yp, mp, first=False)
        nets.append(net.loss_and_grad(be.asarray(with_mask_channel(Xp, mp)), be.asarray(T)))
    (l1, g1), (l2, g2) = nets
    assert abs(l1 - l2) <= 1e-12 * abs(l1)
    assert_close(_np(g2), _np(g1), 1e-12)

    # predictions: padded batch vs each sequence alone
    proba = a.predict_proba(X2, mask=m2)
    assert np.all(proba[m2 == 0] == 0)
    for i, c in enumerate(codes[:8]):
        alone = a.predict_proba(np.eye(4)[c][None])
        assert_close(proba[i:i + 1, :len(c)], alone, 1e-12)


def test_classifier_masks_keep_the_last_real_state(on_backend):
    """RNNClassifier on end-padded sequences predicts exactly as on each sequence alone."""
    X, m, _, codes = _shift_task(12, 3)
    y = np.array([c[0] % 2 for c in codes])
    clf = RNNClassifier(cell="lstm", units=4, max_iter=2, dtype="float64",
                        random_state=0).fit(X, y, mask=m)
    proba = clf.predict_proba(X, mask=m)
    for i, c in enumerate(codes):
        assert_close(clf.predict_proba(np.eye(4)[c][None]), proba[i:i + 1], 1e-12)


# ------------------------------------------------------------------ API, files


def test_classifier_api(on_backend, capsys):
    X, y = make_long_range_sequences(n=64, length=8, random_state=0)
    clf = RNNClassifier(cell="elman", units=(6, 5), activation="relu", dropout=0.2,
                        hidden_layer_sizes=(4,), bptt_steps=3, clip_norm=0.5, max_iter=2,
                        early_stopping=True, verbose=2, random_state=0).fit(X, ["ab"[k % 2]
                                                                                for k in y])
    names = [d["name"] for d in clf.layers_]
    assert names == ["SequenceMask", "Elman", "Dropout", "Elman", "Dropout", "Dense",
                     "Dropout", "Dense"]
    assert clf.layers_[1]["config"]["return_sequences"] is True
    assert clf.layers_[3]["config"]["bptt_steps"] == 3
    assert list(clf.classes_) == ["a", "b"]
    assert len(clf.history_) == clf.n_iter_ <= 2
    assert clf.history_[0]["val_loss"] is not None
    assert set(clf.predict(X)) <= {"a", "b"}
    np.testing.assert_array_equal(clf.predict(X), clf.predict(X))   # dropout off
    assert "epoch 0" in capsys.readouterr().err
    clf.partial_fit(X, ["ab"[k % 2] for k in y])
    assert clf.n_iter_ == len(clf.history_)
    # sequences of another length than at fit
    X2, _ = make_long_range_sequences(n=5, length=13, random_state=1)
    assert clf.predict_proba(X2).shape == (5, 2)


def test_save_load_round_trip(on_backend, tmp_path):
    X, m, y, _ = _shift_task(20, 4)
    clf = RNNClassifier(cell="lstm", units=3, bidirectional=True, max_iter=1,
                        random_state=0).fit(X, y[:, 1], mask=m)
    tag = RNNTagger(cell="elman", units=3, hidden_layer_sizes=(4,), max_iter=1,
                    random_state=0).fit(X, y, mask=m)
    gru = RNNClassifier(cell="gru", units=3, bidirectional=True, max_iter=1,
                        random_state=0).fit(X, y[:, 1], mask=m)
    for model in (clf, tag, gru):
        path = tmp_path / f"{type(model).__name__}.safetensors"
        model.save(path)
        loaded = type(model).load(path)
        assert loaded.layers_ == model.layers_
        assert_close(loaded.predict_proba(X, mask=m), model.predict_proba(X, mask=m), 0)


def test_sklearn_clone():
    pytest.importorskip("sklearn")
    from sklearn.base import clone
    clf = RNNTagger(cell="elman", units=(8, 4), bptt_steps=5)
    assert clone(clf).get_params() == clf.get_params()


# -------------------------------------------------------------------- bad input


def test_bad_input():
    X, y = make_long_range_sequences(n=6, length=5, random_state=0)
    clf = RNNClassifier(cell="elman", units=3, max_iter=1, random_state=0)
    with pytest.raises(ValueError, match="ragged"):
        clf.fit([np.zeros((5, 4)), np.zeros((3, 4))], [0, 1])
    with pytest.raises(ValueError, match="3-d array of sequences"):
        clf.fit(X[:, :, 0], y)
    with pytest.raises(ValueError, match="empty sequences"):
        clf.fit(np.zeros((2, 0, 4)), [0, 1])
    with pytest.raises(ValueError, match="sequence 2 is empty"):
        m = np.ones((6, 5), bool)
        m[2] = False
        clf.fit(X, y, mask=m)
    with pytest.raises(ValueError, match="boolean"):
        clf.fit(X, y, mask=np.full((6, 5), 0.5))
    with pytest.raises(ValueError, match="y has the wrong length"):
        clf.fit(X, y[:4])
    with pytest.raises(ValueError, match="NaN"):
        bad = X.copy()
        bad[0, 0, 0] = np.nan
        clf.fit(bad, y)
    clf.fit(X, y)
    with pytest.raises(ValueError, match="3 features per position, but the RNNClassifier "
                                         "was fitted with 4"):
        clf.predict(X[:, :, :3])
    tagger = RNNTagger(cell="elman", units=3, max_iter=1)
    with pytest.raises(ValueError, match="one label per position"):
        tagger.fit(X, y)
    # missing labels at real positions: the classifiers' check and message
    tags = (X.argmax(axis=2) % 2).astype(float)
    tags[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"y contains NaN \(at index 7\)"):
        tagger.fit(X, tags)
    tags[1, 2] = np.inf
    with pytest.raises(ValueError, match="y contains infinity"):
        tagger.fit(X, tags)
    with pytest.raises(ValueError, match="missing labels"):
        tagger.fit(X, np.where(np.isfinite(tags), tags, None).astype(object))
    # ... but anything at padded positions is ignored
    mask = np.ones(tags.shape, bool)
    mask[1, 2:] = False
    tags[1, 3] = np.nan
    assert list(tagger.fit(X, tags, mask=mask).classes_) == [0.0, 1.0]
    with pytest.raises(ValueError, match="not fitted"):
        RNNTagger().predict(X)


@pytest.mark.parametrize("bad", [dict(cell="rnn"), dict(units=0), dict(bptt_steps=0),
                                 dict(activation="sigmoid"), dict(clip_norm=-1.0)])
def test_bad_hyper_parameters(bad):
    X, y = make_long_range_sequences(n=4, length=5, random_state=0)
    with pytest.raises(ValueError, match=list(bad)[0]):
        RNNClassifier(**bad).fit(X, y)


def test_numpy_scalar_hyper_parameters():
    """What the parameter validation accepts, the layers accept: NumPy scalars."""
    X, y = make_long_range_sequences(n=6, length=5, random_state=0)
    clf = RNNClassifier(units=np.int64(3), bptt_steps=np.int64(2),
                        forget_bias=np.float32(1.0), max_iter=1, random_state=0).fit(X, y)
    config = clf.layers_[1]["config"]
    assert config["forget_bias"] == 1.0 and config["units"] == 3
    assert type(config["forget_bias"]) is float


def test_classifier_partial_fit_keeps_its_classes_and_score_checks_weights():
    """A later partial_fit may repeat classes= but not change it (as MLPClassifier),
    for the tagger too; score checks sample_weight."""
    X, y = make_long_range_sequences(n=20, length=5, random_state=0)
    clf = RNNClassifier(cell="elman", units=4, random_state=0)
    clf.partial_fit(X, y, classes=[0, 1, 2, 3]).partial_fit(X, y, classes=[3, 2, 1, 0])
    with pytest.raises(ValueError, match=r"classes=\[0, 1\] is not the same as on the "
                                         r"first call"):
        clf.partial_fit(X, y, classes=[0, 1])
    assert clf.n_iter_ == 2
    for weight, message in [
            (np.ones(3), "sample_weight has the wrong length: X has 20 samples but "
                         "sample_weight has 3"),
            (np.r_[np.ones(19), -1.0], "sample_weight must be non-negative, got -1.0"),
            (np.zeros(20), "sample_weight sums to zero")]:
        with pytest.raises(ValueError, match=message):
            clf.score(X, y, sample_weight=weight)
    half = np.r_[np.ones(10), np.zeros(10)]
    assert clf.score(X, y, sample_weight=half) == pytest.approx(clf.score(X[:10], y[:10]))

    Xs, m, tags, _ = _shift_task(10, 0)
    tagger = RNNTagger(cell="elman", units=4, random_state=0)
    tagger.partial_fit(Xs, tags, classes=[0, 1, 2, 3], mask=m)
    tagger.partial_fit(Xs, tags, classes=[0, 1, 2, 3], mask=m)
    with pytest.raises(ValueError, match=r"classes=\[0, 1, 2, 3, 4\] is not the same"):
        tagger.partial_fit(Xs, tags, classes=[0, 1, 2, 3, 4], mask=m)
    with pytest.raises(ValueError, match="classes must hold at least 2 labels"):
        RNNTagger(units=4).partial_fit(Xs, 0 * tags, classes=[0], mask=m)
    assert tagger.n_iter_ == 2 and list(tagger.classes_) == [0, 1, 2, 3]


@pytest.mark.parametrize("cls", [RNNClassifier, RNNTagger])
def test_partial_fit_raises_on_divergence(cls):
    """As fit, partial_fit raises FloatingPointError instead of keeping NaN weights; the
    model is left unfitted."""
    X = np.eye(4)[np.random.default_rng(0).integers(0, 4, (40, 12))]
    y = np.arange(40) % 2 if cls is RNNClassifier else X.argmax(axis=2) % 2
    est = cls(cell="elman", activation="relu", units=4, learning_rate=1e8, clip_norm=None,
              random_state=0)
    with pytest.raises(FloatingPointError, match=rf"^{cls.__name__} \(SGD\): the training "
                                                 rf"loss became (nan|inf) in partial_fit"):
        for _ in range(5):
            est.partial_fit(X, y)
    assert not hasattr(est, "params_")
    with pytest.raises(ValueError, match="not fitted"):
        est.predict(X)
