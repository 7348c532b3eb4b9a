"""RBM specifics: CD-k / PCD, partial_fit, gibbs, monitoring, the Gaussian variant, DBN."""
import numpy as np
import pytest

from deepbio import DBN, DBNClassifier, RBM
from deepbio.models._base import current_backend


@pytest.fixture(scope="module")
def bars():
    """Bars-and-stripes-like binary data with a clear structure: (300, 16)."""
    rng = np.random.default_rng(0)
    imgs = np.zeros((300, 4, 4))
    for i in range(300):
        rows = rng.random(4) < 0.5
        if rng.random() < 0.5:
            imgs[i, rows, :] = 1
        else:
            imgs[i, :, rows] = 1
    return imgs.reshape(300, 16)


def test_attributes_and_components_view(on_backend, bars):
    rbm = RBM(8, n_iter=3, random_state=0).fit(bars)
    assert rbm.W_.shape == (16, 8)
    assert rbm.components_.shape == (8, 16)
    np.testing.assert_array_equal(rbm.components_, np.asarray(rbm.W_).T)
    assert rbm.intercept_visible_.shape == (16,) and rbm.intercept_hidden_.shape == (8,)
    assert rbm.n_iter_ == 3 and len(rbm.history_) == 3
    assert [h["epoch"] for h in rbm.history_] == [1, 2, 3]
    H = rbm.transform(bars)
    assert H.shape == (300, 8) and np.all((H > 0) & (H < 1))


@pytest.mark.parametrize("kw", [dict(k=1), dict(k=3), dict(persistent=True),
                                dict(persistent=True, k=2), dict(sparsity_target=0.1,
                                                                 sparsity_cost=0.5)],
                         ids=["cd1", "cd3", "pcd1", "pcd2", "sparse"])
def test_training_improves_reconstruction_and_pseudo_likelihood(on_backend, bars, kw):
    rbm = RBM(16, n_iter=30, batch_size=10, learning_rate=0.05, random_state=0, **kw)
    rbm.fit(bars)
    first, last = rbm.history_[0], rbm.history_[-1]
    assert last["reconstruction_error"] < 0.8 * first["reconstruction_error"]
    pl = [h["pseudo_likelihood"] for h in rbm.history_]
    assert np.mean(pl[-5:]) > np.mean(pl[:3])
    assert rbm.score_samples(bars).shape == (300,)
    if "sparsity_target" in kw:
        dense = RBM(16, n_iter=30, batch_size=10, learning_rate=0.05, random_state=0)
        dense.fit(bars)
        assert rbm.transform(bars).mean() < dense.transform(bars).mean()


def test_partial_fit_matches_one_epoch_shape_and_continues(on_backend, bars):
    rbm = RBM(8, random_state=0)
    assert rbm.partial_fit(bars[:50]) is rbm
    W1 = np.array(rbm.W_, copy=True)
    rbm.partial_fit(bars[50:100])
    assert not np.allclose(W1, rbm.W_)
    assert len(rbm.history_) == 2 and rbm.history_[0]["epoch"] is None
    with pytest.raises(ValueError, match="X has 15 features"):
        rbm.partial_fit(bars[:10, :15])


def test_gibbs_sampling(on_backend, bars):
    rbm = RBM(16, n_iter=20, batch_size=10, learning_rate=0.05, random_state=0).fit(bars)
    v = rbm.gibbs(bars[:20], steps=5)
    assert v.shape == (20, 16)
    assert set(np.unique(v)) <= {0.0, 1.0}
    with pytest.raises(ValueError, match="steps"):
        rbm.gibbs(bars[:2], steps=0)
    g = RBM(4, visible="gaussian", n_iter=2, random_state=0).fit(bars - 0.5)
    vg = g.gibbs(bars[:5] - 0.5, steps=2)
    assert vg.shape == (5, 16) and len(np.unique(vg)) > 2


def test_free_energy_matches_formula(on_backend, bars):
    rbm = RBM(6, n_iter=2, random_state=0, dtype="float64").fit(bars)
    W, b, c = (np.asarray(a) for a in (rbm.W_, rbm.intercept_visible_, rbm.intercept_hidden_))
    v = bars[:7]
    expected = -(v @ b) - np.logaddexp(0, v @ W + c).sum(axis=1)
    np.testing.assert_allclose(rbm.free_energy(v), expected, rtol=1e-10)
    np.testing.assert_allclose(rbm.reconstruct(v),
                               1 / (1 + np.exp(-(rbm.transform(v) @ W.T + b))), rtol=1e-10)


def test_pseudo_likelihood_is_a_log_probability(on_backend, bars):
    rbm = RBM(6, n_iter=2, random_state=0).fit(bars)
    pl = rbm.score_samples(bars)
    assert np.all(pl <= 0) and np.all(np.isfinite(pl))


def test_bernoulli_requires_unit_interval(bars):
    with pytest.raises(ValueError, match=r"X must lie in \[0, 1\] for visible='bernoulli'"):
        RBM(4).fit(bars * 2)
    RBM(4, visible="gaussian", n_iter=1).fit(bars * 2)


def test_learning_rate_auto():
    assert RBM()._lr() == 0.1
    assert RBM(visible="gaussian")._lr() == 0.01
    assert RBM(learning_rate=0.3)._lr() == 0.3


def test_dbn_layers_and_transform(on_backend, bars):
    dbn = DBN((12, 6), n_iter=3, random_state=0).fit(bars)
    assert [r.n_components for r in dbn.rbms_] == [12, 6]
    assert dbn.rbms_[1].n_features_in_ == 12
    H = dbn.transform(bars)
    np.testing.assert_allclose(H, dbn.rbms_[1].transform(dbn.rbms_[0].transform(bars)),
                               rtol=1e-6)
    g = DBN((8, 4), visible="gaussian", n_iter=2, random_state=0).fit(bars - 0.5)
    assert g.rbms_[0].visible == "gaussian" and g.rbms_[1].visible == "bernoulli"


def test_parameters_stay_on_the_fit_backend(on_backend, bars):
    rbm = RBM(4, n_iter=1, random_state=0).fit(bars)
    assert isinstance(rbm.W_, current_backend().array_type)


# ---------------------------------------------------------------- divergence


@pytest.fixture(scope="module")
def wide_gaussian():
    """Real-valued data with variance 9, on which Gaussian RBMs with learning_rate=5 blow
    up within a few steps: (50, 10)."""
    return 3 * np.random.default_rng(0).standard_normal((50, 10))


def test_fit_raises_when_training_diverges(on_backend, wide_gaussian):
    rbm = RBM(8, visible="gaussian", learning_rate=5.0, n_iter=5, batch_size=10,
              random_state=0)
    with np.errstate(all="ignore"), pytest.raises(
            FloatingPointError, match=r"RBM: the reconstruction error became (inf|nan) in "
                                      r"epoch (\d+); lower learning_rate \(it is 5\)") as err:
        rbm.fit(wide_gaussian)
    # the epoch named is the last one in history_, which shows the error growing
    assert f"epoch {rbm.history_[-1]['epoch']};" in str(err.value)
    assert not np.isfinite(rbm.history_[-1]["reconstruction_error"])
    # no NaN weights left behind to pass for a fitted model
    assert not hasattr(rbm, "W_")
    with pytest.raises(ValueError, match="not fitted"):
        rbm.transform(wide_gaussian)


def test_non_finite_weights_are_caught_even_with_a_finite_error(on_backend, bars):
    rbm = RBM(4, n_iter=1, random_state=0).fit(bars)
    rbm.intercept_hidden_[2] = np.inf
    with pytest.raises(FloatingPointError, match="RBM: the weights or biases became NaN or "
                                                 "infinite in epoch 1; lower learning_rate"):
        rbm._check_diverged(current_backend(), 0.1, "epoch 1")
    assert not hasattr(rbm, "intercept_hidden_")


def test_partial_fit_raises_when_training_diverges(on_backend, wide_gaussian):
    rbm = RBM(8, visible="gaussian", learning_rate=5.0, random_state=0)
    with np.errstate(all="ignore"), pytest.raises(
            FloatingPointError, match="in this partial_fit step; lower learning_rate"):
        for _ in range(50):
            rbm.partial_fit(wide_gaussian)
    assert not hasattr(rbm, "W_")
    rbm.set_params(learning_rate=0.001).partial_fit(wide_gaussian)    # starts afresh
    assert np.isfinite(rbm.W_).all()


@pytest.mark.parametrize("name", ["learning_rate", "weight_decay", "sparsity_cost"])
def test_rate_and_penalties_must_be_finite(name):
    with pytest.raises(ValueError, match=f"'{name}' parameter of RBM"):
        RBM(**{name: float("inf")}, n_iter=1).fit(np.zeros((4, 3)))
    with pytest.raises(ValueError, match=f"'{name}' parameter of DBN"):
        DBN((2,), **{name: float("inf")}, n_iter=1).fit(np.zeros((4, 3)))


@pytest.mark.parametrize("name", ["pretrain_learning_rate", "pretrain_weight_decay"])
def test_dbn_pretrain_rate_and_penalty_must_be_finite(name):
    with pytest.raises(ValueError, match=f"'{name}' parameter of DBNClassifier"):
        DBNClassifier((2,), **{name: float("inf")}).fit(np.zeros((4, 3)), [0, 1, 0, 1])


def test_dbn_pretraining_divergence_names_the_layer_and_parameter(wide_gaussian):
    with np.errstate(all="ignore"), pytest.raises(
            FloatingPointError, match=r"DBN pre-training diverged in layer 1 of 2 \(8 hidden "
                                      r"units\): RBM: .* lower learning_rate"):
        DBN((8, 4), visible="gaussian", learning_rate=5.0, n_iter=5, batch_size=10,
            random_state=0).fit(wide_gaussian)
    y = np.arange(50) % 2
    with np.errstate(all="ignore"), pytest.raises(
            FloatingPointError, match="DBNClassifier pre-training diverged in layer 1 .*"
                                      "DBNClassifier's pretrain_learning_rate"):
        DBNClassifier((8, 4), visible="gaussian", pretrain_learning_rate=5.0,
                      pretrain_epochs=5, max_epochs=1, random_state=0).fit(wide_gaussian, y)
