"""Every network-trained model accepts optimizer="hf" or a HessianFree object."""
import numpy as np
import pytest

import deepbio
from deepbio.datasets import (load_breast_cancer, make_long_range_sequences, standardize,
                              train_test_split)
from deepbio.optim import SGD, HessianFree

HF_FIELDS = {"loss", "damping", "rho", "cg_iters", "cg_iterate", "step_size"}


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return train_test_split(standardize(X), y, test_size=0.3, stratify=y, random_state=0)


def _hf_history_ok(history):
    assert history and all(HF_FIELDS <= set(h) for h in history)
    losses = [h["loss"] for h in history]
    assert losses[-1] < history[0]["loss_before"]          # it trained
    assert all(b <= a + 1e-6 for a, b in zip(losses, losses[1:]))   # Armijo: monotone


@pytest.mark.parametrize("make", [
    lambda opt: deepbio.MLPClassifier((16,), max_iter=15, optimizer=opt, random_state=0),
    lambda opt: deepbio.DBNClassifier((16,), visible="gaussian", pretrain_epochs=2,
                                      max_iter=15, optimizer=opt, random_state=0),
    lambda opt: deepbio.StackedAutoEncoderClassifier((16,), pretrain_epochs=2, max_iter=15,
                                                     optimizer=opt, random_state=0),
], ids=["mlp", "dbn", "sae"])
def test_classifiers_train_with_hf(backend, cancer, make):
    Xtr, Xte, ytr, yte = cancer
    with deepbio.use_backend(backend.name):
        clf = make("hf").fit(Xtr, ytr)
        _hf_history_ok(clf.history_)
        assert clf.score(Xte, yte) >= 0.95


def test_regressor_and_autoencoders_train_with_hf(backend, cancer):
    Xtr, Xte, ytr, yte = cancer
    with deepbio.use_backend(backend.name):
        reg = deepbio.MLPRegressor((16,), max_iter=15, optimizer="hf",
                                   random_state=0).fit(Xtr, Xtr[:, 0] + Xtr[:, 1] ** 2)
        _hf_history_ok(reg.history_)
        assert reg.score(Xte, Xte[:, 0] + Xte[:, 1] ** 2) > 0.8
        ae = deepbio.AutoEncoder(8, max_iter=15, optimizer="hf", random_state=0).fit(Xtr)
        _hf_history_ok(ae.history_)
        sae = deepbio.StackedAutoEncoder((12, 6), max_iter=5, optimizer="hf",
                                         random_state=0).fit(Xtr)
        assert sae.transform(Xte).shape == (len(Xte), 6)
        for layer in sae.autoencoders_:
            _hf_history_ok(layer.history_)


def test_sequence_and_image_models_train_with_hf():
    X, y = make_long_range_sequences(120, length=8, random_state=0)
    rnn = deepbio.RNNClassifier(cell="elman", units=16, max_iter=6, optimizer="hf",
                                random_state=0).fit(X, y)
    _hf_history_ok(rnn.history_)
    rng = np.random.default_rng(0)
    imgs = rng.random((60, 1, 8, 8)).astype(np.float32)
    labels = (imgs[:, 0, :4].mean(axis=(1, 2)) > imgs[:, 0, 4:].mean(axis=(1, 2))).astype(int)
    cnn = deepbio.CNNClassifier(max_iter=4, optimizer="hf", random_state=0).fit(imgs, labels)
    _hf_history_ok(cnn.history_)


def test_optimizer_object_is_copied_not_mutated(cancer):
    Xtr, _, ytr, _ = cancer
    hf = HessianFree(max_iter=3, cg_max_iter=20)
    before = hf.get_params()
    clf = deepbio.MLPClassifier((8,), optimizer=hf, random_state=0).fit(Xtr, ytr)
    assert hf.get_params() == before and hf.damping_ is None
    assert len(clf.history_) == 3 and max(h["cg_iters"] for h in clf.history_) <= 20
    sgd = SGD(learning_rate=0.05, max_epochs=4)
    clf = deepbio.MLPClassifier((8,), optimizer=sgd, random_state=0).fit(Xtr, ytr)
    assert len(clf.history_) == 4 and sgd.get_params()["random_state"] is None


def test_hf_choice_is_reproducible_and_saved(cancer, tmp_path):
    Xtr, Xte, ytr, _ = cancer
    a = deepbio.MLPClassifier((8,), max_iter=4, optimizer=HessianFree(max_iter=4),
                              random_state=3).fit(Xtr, ytr)
    b = deepbio.MLPClassifier((8,), max_iter=4, optimizer=HessianFree(max_iter=4),
                              random_state=3).fit(Xtr, ytr)
    np.testing.assert_array_equal(a.predict_proba(Xte), b.predict_proba(Xte))
    path = tmp_path / "hf.safetensors"
    a.save(path)
    c = deepbio.load(path)
    assert isinstance(c.optimizer, HessianFree) and c.optimizer.max_iter == 4
    np.testing.assert_array_equal(a.predict_proba(Xte), c.predict_proba(Xte))


@pytest.mark.parametrize("bad", ["nadam", 3, SGD])
def test_bad_optimizer_is_named(cancer, bad):
    Xtr, _, ytr, _ = cancer
    with pytest.raises(ValueError, match="optimizer"):
        deepbio.MLPClassifier((4,), optimizer=bad).fit(Xtr, ytr)


def test_partial_fit_with_hf_takes_one_hf_iteration_per_call(cancer):
    Xtr, Xte, ytr, yte = cancer
    clf = deepbio.MLPClassifier((16,), optimizer="hf", random_state=0)
    for _ in range(6):
        clf.partial_fit(Xtr, ytr, classes=np.unique(ytr))
    assert len(clf.history_) == 6 and HF_FIELDS <= set(clf.history_[-1])
    losses = [h["loss"] for h in clf.history_]
    assert all(b <= a + 1e-6 for a, b in zip(losses, losses[1:]))
    assert clf.score(Xte, yte) >= 0.95


@pytest.mark.parametrize("make", [
    lambda opt: deepbio.MLPClassifier((8,), dropout=0.2, max_iter=2, optimizer=opt),
    lambda opt: deepbio.CNNClassifier(filters=(2,), kernel_size=3, dropout=0.5,
                                      max_iter=1, optimizer=opt),
    lambda opt: deepbio.AutoEncoder(4, corruption="mask", max_iter=2, optimizer=opt),
    lambda opt: deepbio.StackedAutoEncoder((4,), corruption="gaussian", max_iter=2,
                                           optimizer=opt),
], ids=["mlp-dropout", "cnn-dropout", "ae-corruption", "sae-corruption"])
@pytest.mark.parametrize("opt", ["hf", HessianFree(max_iter=2)], ids=["str", "object"])
def test_hf_refuses_a_random_objective_before_training(cancer, make, opt):
    """Dropout and denoising corruption redraw the objective at every pass; HF runs the
    network in prediction mode, where they do nothing, so it would silently train another
    model. The estimator says so at fit and partial_fit, before building anything."""
    Xtr, _, ytr, _ = cancer
    est = make(opt)
    if isinstance(est, deepbio.CNNClassifier):
        Xtr = np.eye(4)[np.random.default_rng(0).integers(0, 4, (len(Xtr), 12))]
    args = (Xtr,) if isinstance(est, (deepbio.AutoEncoder, deepbio.StackedAutoEncoder)) \
        else (Xtr, ytr)
    with pytest.raises(ValueError, match=r"cannot be used with optimizer='hf'.*deterministic"):
        est.fit(*args)
    if hasattr(est, "partial_fit"):
        with pytest.raises(ValueError, match=r"cannot be used with optimizer='hf'"):
            est.partial_fit(*args, **({"classes": np.unique(ytr)} if len(args) == 2 else {}))
    assert not hasattr(est, "n_features_in_")
    make("sgd").fit(*args)                                   # SGD trains the same model


def test_sae_heads_may_fine_tune_with_hf_after_denoising_pretraining(cancer):
    """The supervised stacked autoencoders corrupt only in pre-training (always SGD), so
    HF fine-tuning is allowed with corruption set."""
    Xtr, Xte, ytr, yte = cancer
    clf = deepbio.StackedAutoEncoderClassifier((16,), corruption="mask", pretrain_epochs=2,
                                               max_iter=10, optimizer="hf",
                                               random_state=0).fit(Xtr, ytr)
    assert clf.score(Xte, yte) >= 0.9


def test_gru_trains_with_hf():
    """Hessian-free trains the GRU (its R-op is the gru_rop kernel): the first of 8
    symbols, read after 7 distractors, on held-out sequences (chance 0.25)."""
    X, y = make_long_range_sequences(400, length=8, random_state=0)
    Xt, yt = make_long_range_sequences(400, length=8, random_state=1)
    rnn = deepbio.RNNClassifier(cell="gru", units=16, max_iter=15, optimizer="hf",
                                random_state=0).fit(X, y)
    _hf_history_ok(rnn.history_)
    assert rnn.score(Xt, yt) >= 0.95, [h["loss"] for h in rnn.history_]
