"""The quality bar of issue 4, on every backend: fixed seeds, held-out test sets.

Each test trains a small model for a few epochs, but the thresholds are the issue's.
"""
import numpy as np

from deepbio import (RBM, AutoEncoder, DBNClassifier, MLPClassifier,
                     StackedAutoEncoderClassifier)
from deepbio.datasets import make_expression, standardize


def test_dbn_classifier_digits_accuracy(on_backend, digits_split):
    Xtr, Xte, ytr, yte = digits_split
    clf = DBNClassifier(hidden_layer_sizes=(256, 128), pretrain_epochs=10,
                        pretrain_batch_size=10, max_iter=30, random_state=0)
    clf.fit(Xtr, ytr)
    acc = clf.score(Xte, yte)
    assert acc >= 0.97, acc
    # pre-training ran for both layers and reduced the reconstruction error
    assert len(clf.pretrain_history_) == 2
    for hist in clf.pretrain_history_:
        assert hist[-1]["reconstruction_error"] < hist[0]["reconstruction_error"]


def test_stacked_autoencoder_classifier_breast_cancer(on_backend, cancer_split):
    Xtr, Xte, ytr, yte = cancer_split
    clf = StackedAutoEncoderClassifier(hidden_layer_sizes=(64, 32), pretrain_epochs=20,
                                       max_iter=50, random_state=0)
    acc = clf.fit(Xtr, ytr).score(Xte, yte)
    assert acc >= 0.96, acc


def _mask(X, p, seed):
    return X * (np.random.default_rng(seed).random(X.shape) >= p)


def test_denoising_autoencoder_beats_identity_on_masked_inputs(on_backend, digits_split):
    Xtr, Xte, _, _ = digits_split
    ae = AutoEncoder(32, loss="cross_entropy", corruption="mask", corruption_level=0.3,
                     max_iter=30, random_state=0).fit(Xtr)
    Xm = _mask(Xte, 0.3, seed=1)
    err_identity = np.mean((Xm - Xte) ** 2)
    err_ae = np.mean((ae.reconstruct(Xm) - Xte) ** 2)
    assert err_ae < 0.6 * err_identity, (err_ae, err_identity)


def test_denoising_with_gaussian_noise_untied(on_backend, digits_split):
    Xtr, Xte, _, _ = digits_split
    ae = AutoEncoder(32, tied=False, corruption="gaussian", corruption_level=0.2,
                     max_iter=20, random_state=0).fit(Xtr)
    noisy = Xte + 0.2 * np.random.default_rng(2).standard_normal(Xte.shape)
    assert np.mean((ae.reconstruct(noisy) - Xte) ** 2) < np.mean((noisy - Xte) ** 2)


def test_sparse_autoencoder_mean_activation_near_target(on_backend, digits_split):
    Xtr, Xte, _, _ = digits_split
    for tied, rho in ((True, 0.1), (False, 0.05)):
        ae = AutoEncoder(64, sparsity_target=rho, sparsity_weight=3.0, tied=tied,
                         max_iter=30, random_state=0).fit(Xtr)
        for X in (Xtr, Xte):
            mean = ae.transform(X).mean()
            assert abs(mean - rho) <= 0.2 * rho, (tied, rho, mean)
        # without the penalty the code is far from sparse
    dense = AutoEncoder(64, max_iter=30, random_state=0).fit(Xtr)
    assert dense.transform(Xtr).mean() > 0.2


def test_rbm_features_beat_raw_pixels_with_a_linear_classifier(on_backend, digits_split):
    Xtr, Xte, ytr, yte = digits_split

    def linear():   # softmax regression: deepbio's MLP with no hidden layer
        return MLPClassifier(hidden_layer_sizes=(), learning_rate=0.1, max_iter=100,
                             random_state=0)

    raw = linear().fit(Xtr, ytr).score(Xte, yte)
    rbm = RBM(n_components=512, n_iter=20, batch_size=10, momentum=0.9,
              random_state=0).fit(Xtr)
    feat = linear().fit(rbm.transform(Xtr), ytr).score(rbm.transform(Xte), yte)
    assert feat >= raw + 0.01, (feat, raw)


def test_gaussian_rbm_trains_on_standardised_expression(on_backend):
    X, _ = make_expression(n_samples=300, n_genes=200, random_state=0)
    X = standardize(X)
    rbm = RBM(64, visible="gaussian", n_iter=15, batch_size=20, random_state=0).fit(X)
    errors = [h["reconstruction_error"] for h in rbm.history_]
    assert np.all(np.isfinite(errors))
    assert errors[-1] < 0.7 * errors[0], errors
    # decreasing overall: every epoch after the fifth below the first epoch
    assert max(errors[5:]) < errors[0]
    for a in (rbm.W_, rbm.intercept_hidden_, rbm.intercept_visible_):
        assert np.all(np.isfinite(np.asarray(a)))
    assert np.all(np.isfinite(rbm.transform(X)))
    assert all(h["pseudo_likelihood"] is None for h in rbm.history_)
