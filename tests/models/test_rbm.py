"""RBM specifics: CD-k / PCD, partial_fit, gibbs, monitoring, the Gaussian variant, DBN."""
import warnings

import numpy as np
import pytest

from deepbio import DBN, DBNClassifier, RBM
from deepbio.models._base import current_backend
from deepbio.models.rbm import DIVERGENCE_FACTOR, error_scale


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
            FloatingPointError, match=r"RBM: the reconstruction error (became (inf|nan)|grew to "
                                      r".*) in epoch (\d+); lower learning_rate \(it is 5\)"
    ) as err:
        rbm.fit(wide_gaussian)
    # the epoch named is the last one in history_, which shows the error growing
    assert f"epoch {rbm.history_[-1]['epoch']};" in str(err.value)
    assert not rbm.history_[-1]["reconstruction_error"] < 1e3 * 9
    # no NaN weights left behind to pass for a fitted model
    assert not hasattr(rbm, "W_")
    with pytest.raises(ValueError, match="not fitted"):
        rbm.transform(wide_gaussian)


def test_non_finite_weights_are_caught_even_with_a_finite_error(on_backend, bars):
    rbm = RBM(4, n_iter=1, random_state=0).fit(bars)
    rbm.intercept_hidden_[2] = np.inf
    with pytest.raises(FloatingPointError, match="RBM: the weights or biases became NaN or "
                                                 "infinite in epoch 1; lower learning_rate"):
        rbm._check_diverged(current_backend(), 0.1, 1.0, "epoch 1")
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
                      pretrain_epochs=5, max_iter=1, random_state=0).fit(wide_gaussian, y)


def test_error_scale_is_the_mean_feature_variance_at_least_one():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((500, 4)) * [1, 2, 3, 4]
    assert error_scale(X) == pytest.approx(np.var(X, axis=0).mean())
    assert error_scale(X[:1]) == 1.0                      # one row: variance 0, floor 1
    assert error_scale(rng.random((50, 3))) == 1.0        # [0, 1] data: variance < 1


@pytest.mark.parametrize("dtype, n_iter", [("float64", 60), ("float32", 10)])
def test_fit_raises_as_soon_as_the_error_explodes_not_when_it_overflows(on_backend, dtype,
                                                                         n_iter):
    # learning_rate=1 is 100 times "auto" for Gaussian units: the error grows about
    # 100-fold per epoch, and used to reach 1e119 (float64) with no exception
    X = np.random.default_rng(0).standard_normal((200, 10))
    rbm = RBM(8, visible="gaussian", learning_rate=1, n_iter=n_iter, dtype=dtype,
              random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # caught before NumPy overflows
        with pytest.raises(FloatingPointError,
                           match=r"RBM: the reconstruction error grew to \S+, over 1000 "
                                 r"times its scale on this data \(1\) in epoch \d+; lower "
                                 r"learning_rate \(it is 1\)"):
            rbm.fit(X)
    errors = [h["reconstruction_error"] for h in rbm.history_]
    assert len(errors) <= 5 and errors[-1] > DIVERGENCE_FACTOR * error_scale(X)
    assert all(e < DIVERGENCE_FACTOR * error_scale(X) for e in errors[:-1])
    assert not hasattr(rbm, "W_")


def test_partial_fit_raises_as_soon_as_the_error_explodes(on_backend):
    X = np.random.default_rng(0).standard_normal((200, 10))
    rbm = RBM(8, visible="gaussian", learning_rate=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(FloatingPointError, match="grew to .* in this partial_fit step"):
            for i in range(100):                      # minibatches of 10 rows
                rbm.partial_fit(X[10 * i % 200:][:10])
    assert np.isfinite(rbm.history_[-1]["reconstruction_error"])


# ---------------------------------------------------------------- randomness


def test_score_samples_is_reproducible(on_backend, bars):
    rbm = RBM(6, n_iter=2, random_state=0).fit(bars)
    np.testing.assert_array_equal(rbm.score_samples(bars), rbm.score_samples(bars))
    # with no seed the flips differ from call to call, as in scikit-learn
    free = RBM(6, n_iter=2).fit(bars)
    assert not np.array_equal(free.score_samples(bars), free.score_samples(bars))


@pytest.mark.parametrize("between", ["score_samples", "gibbs"])
def test_scoring_and_sampling_leave_training_unchanged(on_backend, bars, between):
    plain = RBM(6, random_state=0).partial_fit(bars[:150]).partial_fit(bars[150:])
    rbm = RBM(6, random_state=0).partial_fit(bars[:150])
    getattr(rbm, between)(bars[:20])
    rbm.partial_fit(bars[150:])
    np.testing.assert_array_equal(rbm.W_, plain.W_)


def test_gibbs_continues_its_own_stream_and_takes_a_random_state(on_backend, bars):
    rbm = RBM(16, n_iter=5, batch_size=10, random_state=0).fit(bars)
    first, second = rbm.gibbs(bars[:50]), rbm.gibbs(bars[:50])
    assert not np.array_equal(first, second)          # new noise at every call
    again = RBM(16, n_iter=5, batch_size=10, random_state=0).fit(bars)
    np.testing.assert_array_equal(again.gibbs(bars[:50]), first)   # reproducible run
    np.testing.assert_array_equal(rbm.gibbs(bars[:50], steps=2, random_state=7),
                                  rbm.gibbs(bars[:50], steps=2, random_state=7))
    with pytest.raises(ValueError, match="random_state"):
        rbm.gibbs(bars[:5], random_state="seven")


# ---------------------------------------------------------------- hyper-parameters


@pytest.mark.parametrize("change, message", [
    (dict(k=0), "The 'k' parameter of RBM"),
    (dict(learning_rate="fast"), "The 'learning_rate' parameter of RBM"),
    (dict(n_components=3), r"RBM.partial_fit: the fitted model was built with "
                           r"n_components=8, not n_components=3; call fit"),
    (dict(visible="gaussian"), r"the fitted model was built with visible='bernoulli', "
                               r"not visible='gaussian'; call fit"),
], ids=["k", "learning_rate", "n_components", "visible"])
def test_partial_fit_checks_hyper_parameters_at_every_call(on_backend, bars, change,
                                                           message):
    rbm = RBM(8, random_state=0).partial_fit(bars)
    W = np.array(rbm.W_, copy=True)
    rbm.set_params(**change)
    with pytest.raises(ValueError, match=message):
        rbm.partial_fit(bars)
    np.testing.assert_array_equal(rbm.W_, W)          # the model is left as it was
    assert len(rbm.history_) == 1


@pytest.mark.parametrize("persistent", [False, True], ids=["cd", "pcd"])
def test_partial_fit_converts_the_model_to_a_new_dtype(on_backend, bars, persistent):
    rbm = RBM(8, persistent=persistent, sparsity_target=0.1, momentum=0.5,
              random_state=0).partial_fit(bars)
    W = np.array(rbm.W_, copy=True)
    rbm.set_params(dtype="float64").partial_fit(bars)
    for a in (rbm.W_, rbm.intercept_visible_, rbm.intercept_hidden_, *rbm._velocity):
        assert a.dtype == np.float64
    assert not np.allclose(rbm.W_, W) and len(rbm.history_) == 2
    assert rbm.transform(bars).dtype == np.float64


def test_fitted_rbm_follows_a_dtype_change(on_backend, bars):
    rbm = RBM(8, n_iter=3, random_state=0).fit(bars)
    before = {m: getattr(rbm, m)(bars) for m in
              ("transform", "free_energy", "score_samples", "reconstruct")}
    rbm.set_params(dtype="float64")
    for method, expected in before.items():
        got = getattr(rbm, method)(bars)
        assert got.dtype == np.float64, method
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5, err_msg=method)
    assert rbm.gibbs(bars[:5], random_state=0).dtype == np.float64
    assert rbm.W_.dtype == np.float32                 # inference leaves the model as it is


def test_partial_fit_of_a_loaded_model_keeps_its_visible_units(on_backend, bars, tmp_path):
    from deepbio import io
    RBM(8, n_iter=1, random_state=0).fit(bars).save(tmp_path / "rbm")
    rbm = io.load(tmp_path / "rbm").partial_fit(bars)     # continues the saved model
    with pytest.raises(ValueError, match="built with visible='bernoulli'"):
        rbm.set_params(visible="gaussian").partial_fit(bars)


@pytest.mark.parametrize("which", ["dbn", "stacked_autoencoder"])
def test_greedy_pretraining_keeps_the_codes_on_the_device(which, monkeypatch):
    """Each layer's codes go to the next layer as arrays of the backend, never through
    the host (no to_host of an (n_samples, units) code array), and the stack learns what
    layers fitted one by one on host codes learn, bit for bit."""
    import deepbio.models.autoencoder as ae_mod
    import deepbio.models.dbn as dbn_mod
    import deepbio.models.rbm as rbm_mod
    from deepbio import AutoEncoder, StackedAutoEncoder
    rng = np.random.default_rng(0)
    X = rng.random((40, 12))
    copied = []
    for mod in (ae_mod, dbn_mod, rbm_mod):
        original = mod.to_host
        monkeypatch.setattr(mod, "to_host",
                            lambda a, _o=original: copied.append(np.shape(a)) or _o(a))
    if which == "dbn":
        stack = DBN((8, 5), n_iter=2, batch_size=10, random_state=3).fit(X)
        layers = stack.rbms_
    else:
        stack = StackedAutoEncoder((8, 5), max_iter=2, batch_size=10, random_state=3).fit(X)
        layers = stack.autoencoders_
    assert (40, 8) not in copied and (40, 5) not in copied
    monkeypatch.undo()
    # the same layers, each fitted through its public fit on the host codes below it
    child = np.random.default_rng(3)
    from deepbio.models._training import child_seed
    data = X
    for i, layer in enumerate(layers):
        seed = child_seed(child)
        if which == "dbn":
            alone = RBM(**{**layer.get_params(), "random_state": seed}).fit(data)
            for name in ("W_", "intercept_hidden_", "intercept_visible_"):
                assert np.array_equal(getattr(alone, name), getattr(layer, name)), (i, name)
            data = alone.transform(data)
        else:
            alone = AutoEncoder(**{**layer.get_params(), "random_state": seed}).fit(data)
            for a, b in zip(alone.coefs_ + alone.intercepts_, layer.coefs_ + layer.intercepts_):
                assert np.array_equal(a, b), i
            data = alone.transform(data)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


@pytest.mark.parametrize("sparsity", [None, 0.1])
def test_cd_step_through_the_kernels_equals_the_formulas(on_backend, bars, sparsity):
    """Two CD-1 steps (so the momentum term is live) through the backend's kernels equal
    the textbook formulas written out in NumPy, with the same uniforms: the gradient is
    ``(vk^T hk - v0^T h0) / N`` (the negated CD statistics) and the update the momentum
    step with L2 decay."""
    from deepbio.models._base import resolve_rng
    from deepbio.models.rbm import TRAIN_STREAM
    be = current_backend()
    X = bars[:40]
    rbm = RBM(6, momentum=0.5, weight_decay=1e-2, learning_rate=0.3, dtype="float64",
              sparsity_target=sparsity, random_state=0)
    rbm._initialize(be, X, resolve_rng(0))
    W, b, c = (np.array(p, dtype=np.float64) for p in
               (rbm.W_, rbm.intercept_visible_, rbm.intercept_hidden_))
    vel = [np.zeros_like(p) for p in (W, b, c)]
    stream = be.stream(0, TRAIN_STREAM)                 # the RBM's own training stream
    v0 = be.asarray(X, dtype="float64")
    q_run = None
    for _ in range(2):
        rbm._cd_step(be, v0, rbm._stream)
        u = np.asarray(be.uniform(stream, (40, 6), np.float64))
        h0 = _sigmoid(X @ W + c)
        hs = (u < h0).astype(np.float64)
        vk = _sigmoid(hs @ W.T + b)
        hk = _sigmoid(vk @ W + c)
        grads = [(vk.T @ hk - X.T @ h0) / 40, (vk - X).mean(0), (hk - h0).mean(0)]
        if sparsity is not None:
            q = h0.mean(0)
            q_run = q if q_run is None else 0.9 * q_run + 0.1 * q
            grads[2] = grads[2] - 0.1 * (sparsity - q_run)
        for p, v, g in zip((W, b, c), vel, grads):
            v *= 0.5
            v -= 0.3 * (g + 1e-2 * p)
            p += v
    for got, want in zip((rbm.W_, rbm.intercept_visible_, rbm.intercept_hidden_), (W, b, c)):
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12, atol=1e-14)
    for got, want in zip(rbm._velocity, vel):
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("persistent", [False, True])
def test_kernel_backend_steps_match_the_numpy_reference(bars, persistent):
    """The compiled kernels' RBM training equals the NumPy reference kernels' (float64,
    same seed: identical samples; only BLAS rounding differs)."""
    import deepbio
    params = dict(n_components=8, n_iter=3, k=2, persistent=persistent, dtype="float64",
                  random_state=3)
    with deepbio.use_backend("numpy"):
        ref = RBM(**params).fit(bars)
    with deepbio.use_backend("cython"):
        got = RBM(**params).fit(bars)
    np.testing.assert_allclose(got.W_, ref.W_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(got.intercept_hidden_, ref.intercept_hidden_, rtol=1e-9,
                               atol=1e-12)


def test_monitor_every_k_epochs_and_none(on_backend, bars):
    every2 = RBM(4, n_iter=5, monitor=2, random_state=0).fit(bars)
    watched = [h["epoch"] for h in every2.history_ if h["reconstruction_error"] is not None]
    assert watched == [2, 4, 5]                       # every 2nd epoch and the last one
    assert all((h["pseudo_likelihood"] is None) == (h["reconstruction_error"] is None)
               for h in every2.history_)
    quiet = RBM(4, n_iter=3, monitor=None, random_state=0).fit(bars)
    assert [h["reconstruction_error"] for h in quiet.history_] == [None] * 3
    assert all(h["time"] >= 0 for h in quiet.history_)
    # monitoring only measures: the weights are those of a fully monitored run
    full = RBM(4, n_iter=3, random_state=0).fit(bars)
    np.testing.assert_array_equal(quiet.W_, full.W_)


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2"])
def test_monitor_must_be_a_positive_int_or_none(bars, bad):
    with pytest.raises((ValueError, TypeError), match="monitor"):
        RBM(4, monitor=bad).fit(bars)


def test_unmonitored_epochs_still_catch_non_finite_weights(on_backend, bars):
    rbm = RBM(4, n_iter=1, monitor=None, random_state=0).fit(bars)
    rbm.W_[0, 0] = np.nan
    with pytest.raises(FloatingPointError, match="weights or biases became NaN"):
        rbm._check_diverged(current_backend(), None, 1.0, "epoch 1")
