"""CNNClassifier / CNNRegressor: the quality bar of issue 5 (digits, motif finding), padding
invariance, save/load, the estimator API and bad input.

The two accuracy tests train for tens of epochs, so they run once, on the fastest usable
backend (``cython`` when compiled, else ``numpy``): the NumPy reference builds every
im2col in Python and is several times slower, and each backend's layers are already
checked against central differences in tests/nn.  Everything else runs on every backend.
"""
import numpy as np
import pytest

import deepbio
from deepbio._validation import NotFittedError
from deepbio.datasets import load_digits, make_motif_sequences, one_hot, train_test_split
from deepbio.models.cnn import CNNClassifier, CNNRegressor
from deepbio.testing import assert_close

def roc_auc(y, score):
    """Area under the ROC curve (Mann-Whitney U; ties count one half)."""
    y, score = np.asarray(y), np.asarray(score, dtype=np.float64)
    pos, neg = score[y == 1], score[y == 0]
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return greater / (pos.size * neg.size)


@pytest.fixture(scope="module")
def digit_images():
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).reshape(-1, 1, 8, 8)
    return train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)


@pytest.fixture(scope="module")
def motif_data():
    """AP-1 motif (TGACTCA) planted in half of random 100-bp sequences, 3% of the
    planted letters mutated; separate draws for training and testing."""
    s, y = make_motif_sequences(n=600, length=100, mutation_rate=0.03, random_state=0)
    st, yt = make_motif_sequences(n=300, length=100, mutation_rate=0.03, random_state=1)
    X, m = one_hot(s)
    Xt, mt = one_hot(st)
    return X, m, y, Xt, mt, yt


# ------------------------------------------------------------------ quality bar


def test_lenet5_digits_accuracy(fast_backend, digit_images):
    """LeNet-5 (the default architecture; "same" padding for 8x8 inputs) reaches >= 0.98
    held-out accuracy on the bundled digits."""
    Xtr, Xte, ytr, yte = digit_images
    clf = CNNClassifier(dropout=0.25, learning_rate=0.02, schedule="cosine", max_iter=40,
                        random_state=0).fit(Xtr, ytr)
    assert [d["name"] for d in clf.layers_] == [
        "Conv2D", "MaxPool2D", "Conv2D", "MaxPool2D", "Flatten", "Dropout", "Dense",
        "Dropout", "Dense", "Dropout", "Dense"]
    acc = clf.score(Xte, yte)
    assert acc >= 0.98, acc
    assert len(clf.history_) == 40 and clf.history_[-1]["loss"] < clf.history_[0]["loss"]


def _filter_scores(X, w, b):
    """Best score of every filter over every window of X (N, L, 4): (N, F)."""
    k = w.shape[2]
    windows = np.stack([X[:, i:i + k] for i in range(X.shape[1] - k + 1)], axis=1)
    return (np.einsum("nwka,fak->nfw", windows, w) + b[None, :, None]).max(axis=2)


def test_motif_finding(fast_backend, motif_data):
    """conv1d -> global max pool -> dense finds the planted motif: held-out ROC AUC >= 0.95,
    and the filter that alone best separates the classes spells TGACTCA (the argmax
    letter at each of 7 consecutive positions) and correlates with its PWM > 0.8."""
    X, m, y, Xt, mt, yt = motif_data
    clf = CNNClassifier(max_iter=15, random_state=0).fit(X, y, mask=m)
    assert [d["name"] for d in clf.layers_][:4] == ["SequenceMask", "ChannelsFirst", "Conv1D",
                                                    "GlobalMaxPool1D"]
    auc = roc_auc(yt, clf.predict_proba(Xt, mask=mt)[:, 1])
    assert auc >= 0.95, auc

    w, b = clf.first_layer_filters()                     # (16, 4, 11), (16,)
    assert w.shape == (16, 4, 11)
    scores = _filter_scores(X, w.astype(np.float64), b.astype(np.float64))
    best = int(np.argmax([roc_auc(y, scores[:, f]) for f in range(w.shape[0])]))
    letters = "".join(np.array(list("ACGT"))[w[best].argmax(axis=0)])
    motif = "TGACTCA"
    pwm = one_hot([motif])[0][0].T                       # (4, 7)
    corr = max(np.corrcoef(w[best][:, o:o + 7].ravel(), pwm.ravel())[0, 1]
               for o in range(w.shape[2] - 6))
    assert motif in letters, (letters, corr)
    assert corr > 0.8, (letters, corr)


# -------------------------------------------------------------------- padding


def test_sequence_padding_never_changes_predictions(on_backend):
    """Variable-length one-hot sequences: each one's prediction in an end-padded batch
    equals its prediction alone, whatever the padding."""
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), n)) for n in (30, 12, 21, 8)]
    y = [0, 1, 0, 1]
    X, m = one_hot(seqs)
    clf = CNNClassifier(filters=(4, 3), kernel_size=(5, 3), max_iter=2, dtype="float64",
                        random_state=0).fit(X, y, mask=m)
    batch = clf.predict_proba(X, mask=m)
    X2, m2 = one_hot(seqs, length=40)
    assert_close(clf.predict_proba(X2, mask=m2), batch, 1e-12)
    for i, s in enumerate(seqs):
        Xi, mi = one_hot([s])
        assert_close(clf.predict_proba(Xi, mask=mi), batch[i:i + 1], 1e-12, name=s)


# ------------------------------------------------------------------ API, files


def test_image_regressor_and_api(on_backend):
    rng = np.random.default_rng(0)
    X = rng.random((40, 2, 6, 6))
    y = X[:, 0, :3].mean(axis=(1, 2)) - X[:, 1].mean(axis=(1, 2))
    reg = CNNRegressor(filters=(4,), kernel_size=3, hidden_layer_sizes=(8,), max_iter=60,
                       learning_rate=0.02, random_state=0).fit(X, y)
    assert reg.predict(X).shape == (40,)
    assert reg.score(X, y) > 0.5
    assert reg.input_type_ == "image" and reg.image_shape_ == (2, 6, 6)
    assert reg.n_features_in_ == 72
    params = reg.get_params()
    assert params["filters"] == (4,) and params["pooling"] == "max"


def test_save_load_round_trip(on_backend, tmp_path, motif_data):
    X, m, y, Xt, mt, _ = motif_data
    seq = CNNClassifier(filters=(4,), kernel_size=7, max_iter=1, random_state=0)
    seq.fit(X[:60], y[:60], mask=m[:60])
    img = CNNClassifier(filters=(2, 3), kernel_size=3, hidden_layer_sizes=(5,), dropout=0.1,
                        max_iter=1, random_state=0)
    Xi = np.random.default_rng(0).random((20, 1, 8, 8))
    img.fit(Xi, np.arange(20) % 3)
    for model, args in ((seq, (Xt[:10],), ), (img, (Xi,))):
        kw = {"mask": mt[:10]} if model is seq else {}
        path = tmp_path / f"{model.input_type_}.safetensors"
        model.save(path)
        loaded = CNNClassifier.load(path)
        assert loaded.layers_ == model.layers_
        assert_close(loaded.predict_proba(*args, **kw), model.predict_proba(*args, **kw), 0)
        assert list(loaded.classes_) == list(model.classes_)


def test_partial_fit(on_backend):
    X = np.random.default_rng(0).random((30, 1, 6, 6))
    y = np.arange(30) % 2
    clf = CNNClassifier(filters=(2,), kernel_size=3, hidden_layer_sizes=(), random_state=0)
    clf.partial_fit(X[:15], y[:15], classes=[0, 1]).partial_fit(X[15:], y[15:])
    assert clf.n_iter_ == 2 and len(clf.history_) == 2
    assert clf.predict(X).shape == (30,)


def test_sklearn_clone_and_pipeline_params():
    sklearn = pytest.importorskip("sklearn")
    from sklearn.base import clone
    clf = CNNClassifier(filters=(3,), kernel_size=5, max_iter=2)
    twin = clone(clf)
    assert twin.get_params() == clf.get_params()
    assert sklearn is not None


# -------------------------------------------------------------------- bad input


@pytest.fixture(scope="module")
def tiny_image_model():
    X = np.random.default_rng(0).random((12, 1, 8, 8))
    with deepbio.use_backend("numpy"):
        return CNNClassifier(filters=(2,), kernel_size=3, hidden_layer_sizes=(), max_iter=1,
                             random_state=0).fit(X, np.arange(12) % 2)


def test_images_of_wrong_rank(tiny_image_model):
    with pytest.raises(ValueError, match=r"4-d array of images.*add a channel axis"):
        tiny_image_model.predict(np.zeros((3, 8, 8)))
    with pytest.raises(ValueError, match="images .* or sequences"):
        CNNClassifier().fit(np.zeros((4, 64)), [0, 1, 0, 1])


def test_images_with_wrong_channels_or_size(tiny_image_model):
    with pytest.raises(ValueError, match=r"X has 3 channel\(s\), but the CNNClassifier was "
                                         r"fitted on images with 1 channel"):
        tiny_image_model.predict(np.zeros((2, 3, 8, 8)))
    with pytest.raises(ValueError, match="X has images of 9x8 pixels"):
        tiny_image_model.predict(np.zeros((2, 1, 9, 8)))


def test_sequence_bad_input():
    X, m = one_hot(["ACGTACGT", "ACG"])
    clf = CNNClassifier(filters=(2,), kernel_size=3, hidden_layer_sizes=(), max_iter=1,
                        random_state=0)
    with pytest.raises(ValueError, match="ragged"):
        clf.fit([np.zeros((5, 4)), np.zeros((3, 4))], [0, 1])
    with pytest.raises(ValueError, match="empty sequences"):
        clf.fit(np.zeros((2, 0, 4)), [0, 1])
    with pytest.raises(ValueError, match="sequence 1 is empty"):
        clf.fit(X, [0, 1], mask=np.array([[1] * 8, [0] * 8], bool))
    with pytest.raises(ValueError, match="prefix"):
        clf.fit(X, [0, 1], mask=np.array([[1] * 8, [0] + [1] * 7], bool))
    with pytest.raises(ValueError, match="mask must have shape"):
        clf.fit(X, [0, 1], mask=m[:, :5])
    with pytest.raises(ValueError, match="mask is only for sequences"):
        CNNClassifier().fit(np.zeros((2, 1, 8, 8)), [0, 1], mask=m)
    clf.fit(X, [0, 1], mask=m)
    with pytest.raises(ValueError, match="20 features per position, but the CNNClassifier "
                                         "was fitted with 4"):
        clf.predict(one_hot(["ACDE"], alphabet="protein")[0])


def test_letters_outside_the_alphabet():
    """one_hot (the way letters reach the models) names the bad letter; strict mode also
    rejects ambiguity codes such as N."""
    with pytest.raises(ValueError, match="Z"):
        one_hot(["ACGZ"])
    with pytest.raises(ValueError, match="N"):
        one_hot(["ACGN"], strict=True)
    X, _ = one_hot(["ACGN"])                           # non-strict: N is uniform
    assert np.allclose(X[0, 3], 0.25)
    with pytest.raises(ValueError, match="empty"):
        one_hot(["ACG", ""])


@pytest.mark.parametrize("bad", [dict(pooling="min"), dict(filters=(0,)),
                                 dict(padding="full"), dict(input_type="volume"),
                                 dict(activation="softmax")])
def test_bad_hyper_parameters(bad):
    with pytest.raises(ValueError, match=list(bad)[0]):
        CNNClassifier(**bad).fit(np.zeros((4, 1, 8, 8)), [0, 1, 0, 1])


def _random_dna(n, length, seed=0):
    return np.eye(4)[np.random.default_rng(seed).integers(0, 4, (n, length))]


@pytest.mark.parametrize("batch_size,seed", [(4, 0), (32, 1)])
def test_sequence_shorter_than_the_kernels_is_named_up_front(batch_size, seed):
    """With padding="valid" a sequence needs as many real positions as the receptive
    field of the convolution stack; the error names the row of X, whatever the batch."""
    X, y = _random_dna(30, 12), np.arange(30) % 2
    m = np.ones((30, 12))
    m[7, 3:] = 0
    one = CNNClassifier(filters=(2,), kernel_size=5, padding="valid", max_iter=1,
                        batch_size=batch_size, random_state=seed)
    with pytest.raises(ValueError, match=r"sequence 7 of X has 3 real position\(s\), but the "
                                         r"layers Conv1D\(kernel_size=5, padding=0\) need at "
                                         r"least 5"):
        one.fit(X, y, mask=m)
    # conv(3) -> pool(2) -> conv(3), all valid: the last conv needs 3 inputs, so the pool
    # needs (3 - 1) * 2 + 2 = 6 and the first conv 6 + 3 - 1 = 8 real positions
    two = CNNClassifier(filters=(2, 2), kernel_size=3, padding="valid", pool_size=2,
                        max_iter=1, batch_size=batch_size, random_state=seed)
    m[7, :8], m[7, 8:] = 1, 0
    two.fit(X, y, mask=m)                             # exactly enough: trains
    m[7, 7:] = 0
    with pytest.raises(ValueError, match="sequence 7 of X has 7 real position.* at least 8"):
        two.fit(X, y, mask=m)
    with pytest.raises(ValueError, match="sequence 7 of X has 7 real position.* at least 8"):
        two.predict(X, mask=m)                        # checked again at predict


def test_regressor_partial_fit(on_backend):
    X = _random_dna(40, 10)
    y = X[:, :, 0].sum(axis=1)                        # count of A
    reg = CNNRegressor(filters=(4,), kernel_size=3, hidden_layer_sizes=(), learning_rate=0.01,
                       random_state=0)
    for _ in range(8):
        assert reg.partial_fit(X, y) is reg
    losses = [h["loss"] for h in reg.history_]
    assert reg.n_iter_ == 8 and len(losses) == 8
    assert losses[-1] < 0.7 * losses[0], losses
    assert reg.predict(X).shape == (40,) and reg.n_features_in_ == 4
    with pytest.raises(ValueError, match=r"y has 2 output\(s\), but the CNNRegressor was "
                                         r"fitted with 1"):
        reg.partial_fit(X, np.ones((40, 2)))
    with pytest.raises(ValueError, match="y has the wrong length: X has 40 samples but y "
                                         "has 39"):
        reg.partial_fit(X, y[:39])
    # hyper-parameters are checked at every call, not only the first
    with pytest.raises(ValueError, match="learning_rate"):
        reg.set_params(learning_rate=-1.0).partial_fit(X, y)
    reg.set_params(learning_rate=0.01)
    # after fit, partial_fit continues from the fitted weights
    fitted = CNNRegressor(filters=(2,), kernel_size=3, max_iter=2, random_state=0).fit(X, y)
    before = [p.copy() for p in fitted.params_]
    fitted.partial_fit(X, y)
    assert fitted.n_iter_ == 3 and len(fitted.history_) == 3
    assert any(not np.allclose(a, b) for a, b in zip(before, fitted.params_))


def test_regressor_score_checks_y():
    X = _random_dna(20, 6)
    with deepbio.use_backend("numpy"):
        reg = CNNRegressor(filters=(2,), kernel_size=3, max_iter=1, random_state=0)
        reg.fit(X, np.arange(20.0))
        with pytest.raises(ValueError, match="y has the wrong length: X has 20 samples but y "
                                             "has 19"):
            reg.score(X, np.arange(19.0))
        with pytest.raises(ValueError, match=r"y has 3 output\(s\)"):
            reg.score(X, np.ones((20, 3)))
        with pytest.raises(ValueError, match="y contains NaN"):
            reg.score(X, np.r_[np.nan, np.arange(19.0)])


def test_classifier_rejects_missing_labels():
    X = _random_dna(6, 5)
    clf = CNNClassifier(filters=(2,), kernel_size=3, max_iter=1, random_state=0)
    with pytest.raises(ValueError, match=r"y contains NaN \(at index 4\)"):
        clf.fit(X, [0.0, 1.0, 0.0, 1.0, np.nan, 1.0])
    with pytest.raises(ValueError, match="y contains missing labels"):
        clf.fit(X, np.array(["a", "b", None, "a", "b", "a"], dtype=object))


SAMPLE_WEIGHT_ERRORS = [
    (np.ones(3), "sample_weight has the wrong length: X has 20 samples but sample_weight "
                 "has 3"),
    (np.r_[np.ones(19), -1.0], "sample_weight must be non-negative, got -1.0"),
    (np.zeros(20), "sample_weight sums to zero"),
    (np.r_[np.nan, np.ones(19)], r"sample_weight contains NaN \(at index 0\)"),
]


def test_classifier_partial_fit_keeps_its_classes_and_score_checks_weights():
    """A later partial_fit may repeat classes= but not change it (as MLPClassifier);
    score checks sample_weight as the other estimators' score does."""
    X, y = _random_dna(20, 6), np.arange(20) % 2
    clf = CNNClassifier(filters=(2,), kernel_size=3, random_state=0)
    clf.partial_fit(X, y, classes=[0, 1]).partial_fit(X, y, classes=[1, 0])
    with pytest.raises(ValueError, match=r"classes=\[0, 1, 2\] is not the same as on the "
                                         r"first call"):
        clf.partial_fit(X, y, classes=[0, 1, 2])
    assert list(clf.classes_) == [0, 1] and clf.n_iter_ == 2
    with pytest.raises(ValueError, match="classes must hold at least 2 labels"):
        CNNClassifier(filters=(2,), kernel_size=3).partial_fit(X, 0 * y, classes=[0])
    for weight, message in SAMPLE_WEIGHT_ERRORS:
        with pytest.raises(ValueError, match=message):
            clf.score(X, y, sample_weight=weight)
    half = np.r_[np.ones(10), np.zeros(10)]
    assert clf.score(X, y, sample_weight=half) == pytest.approx(clf.score(X[:10], y[:10]))


@pytest.mark.parametrize("cls", [CNNClassifier, CNNRegressor])
def test_partial_fit_raises_on_divergence(cls):
    """As fit, partial_fit raises FloatingPointError instead of keeping NaN weights; the
    model is left unfitted."""
    X = _random_dna(40, 12)
    y = np.arange(40) % 2 if cls is CNNClassifier else np.arange(40.0) ** 3
    est = cls(kernel_size=3, learning_rate=1e8, clip_norm=None, random_state=0)
    with pytest.raises(FloatingPointError, match=rf"^{cls.__name__} \(SGD\): the training "
                                                 rf"loss became (nan|inf) in partial_fit"):
        for _ in range(5):
            est.partial_fit(X, y)
    assert not hasattr(est, "params_") and not hasattr(est, "layers_")
    with pytest.raises(NotFittedError, match="not fitted"):
        est.predict(X)
