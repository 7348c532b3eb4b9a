"""Deep Boltzmann machine: AIS against the exact partition function, the mean-field fixed
point, training that raises the exact log-likelihood, the classifier on digits, files."""
import itertools

import numpy as np
import pytest
from scipy.special import logsumexp

import deepbio
from deepbio import DBM, DBMClassifier
from deepbio.datasets import load_digits


def _states(n):
    return np.array(list(itertools.product((0.0, 1.0), repeat=n))).reshape(-1, n)


def brute_force(dbm):
    """log Z and log p(v) for every visible state, by enumerating every joint state."""
    Ws = [np.asarray(W, np.float64) for W in dbm.coefs_]
    bs = [np.asarray(b, np.float64) for b in dbm.intercepts_]
    units = [len(b) for b in bs]
    S = _states(sum(units))
    layers = np.split(S, np.cumsum(units)[:-1], axis=1)
    neg_e = sum(x @ b for x, b in zip(layers, bs))
    neg_e = neg_e + sum(((a @ W) * c).sum(axis=1) for a, W, c in zip(layers, Ws, layers[1:]))
    log_z = logsumexp(neg_e)
    # joint states are in lexicographic order, visible bits first
    log_pv = logsumexp(neg_e.reshape(2 ** units[0], -1), axis=1) - log_z
    return log_z, log_pv


def visible_index(X):
    return (X @ (2 ** np.arange(X.shape[1])[::-1])).astype(int)


@pytest.fixture(scope="module")
def patterns():
    """Three binary prototypes of 6 bits, each bit flipped with probability 0.1."""
    rng = np.random.default_rng(0)
    proto = rng.random((3, 6)) < 0.5
    X = proto[rng.integers(0, 3, 300)].astype(float)
    return np.abs(X - (rng.random(X.shape) < 0.1))


def tiny(X, sizes=(4, 3), **kw):
    params = dict(pretrain_epochs=10, n_iter=30, n_chains=100, batch_size=20,
                  learning_rate=0.05, pretrain_learning_rate=0.1, random_state=0,
                  dtype="float64")
    params.update(kw)
    return DBM(sizes, **params).fit(X)


@pytest.mark.parametrize("sizes", [(4, 3), (4, 3, 2)])
def test_exact_log_partition_equals_enumeration_of_every_state(patterns, sizes):
    rng = np.random.default_rng(1)
    dbm = tiny(patterns[:, :5], sizes, n_iter=2, pretrain_epochs=2)
    dbm.coefs_ = [rng.normal(size=W.shape) for W in dbm.coefs_]
    dbm.intercepts_ = [rng.normal(size=b.shape) for b in dbm.intercepts_]
    assert dbm.exact_log_partition() == pytest.approx(brute_force(dbm)[0], abs=1e-9)


@pytest.mark.parametrize("sizes", [(4, 3), (4, 3, 2)])
def test_ais_estimates_the_exact_log_partition(patterns, sizes, backend):
    """A 6-4-3 (and 6-4-3-2) model with weights of standard deviation 1 (so far from the
    uniform base distribution): AIS with 100 chains and 1000 betas within 0.05 nats."""
    rng = np.random.default_rng(2)
    dbm = tiny(patterns, sizes, n_iter=1, pretrain_epochs=1)
    dbm.coefs_ = [rng.normal(size=W.shape) for W in dbm.coefs_]
    dbm.intercepts_ = [rng.normal(scale=0.5, size=b.shape) for b in dbm.intercepts_]
    exact = brute_force(dbm)[0]
    with deepbio.use_backend(backend.name):
        ais = dbm.log_partition(n_chains=100, n_betas=1000, random_state=0)
    assert abs(ais - exact) < 0.05, (ais, exact)


def test_ais_is_the_same_on_every_backend(patterns, backend):
    dbm = tiny(patterns, n_iter=2)
    ref = dbm.log_partition(20, 50, random_state=3)
    with deepbio.use_backend(backend.name):
        assert dbm.log_partition(20, 50, random_state=3) == pytest.approx(ref, abs=1e-9)


def test_mean_field_reaches_its_fixed_point(patterns):
    dbm = tiny(patterns, (4, 3, 2), n_iter=5).set_params(mean_field_iter=500,
                                                          mean_field_tol=1e-12)
    q = dbm.mean_field(patterns)
    layers = [patterns] + q
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    for l in range(1, len(layers)):
        z = dbm.intercepts_[l] + layers[l - 1] @ dbm.coefs_[l - 1]
        if l + 1 < len(layers):
            z = z + layers[l + 1] @ dbm.coefs_[l].T
        np.testing.assert_allclose(layers[l], sig(z), atol=1e-9)
    np.testing.assert_array_equal(dbm.transform(patterns), q[-1])


def test_training_raises_the_exact_log_likelihood(patterns):
    """Exact mean log p(v) on the training data (enumeration): a random model, after
    greedy initialisation, after joint training (measured: -3.24, -2.97, -2.77)."""
    scores = []
    for pre, joint in ((0, 0), (10, 0), (10, 30)):
        dbm = tiny(patterns, pretrain_epochs=pre, n_iter=joint)
        scores.append(brute_force(dbm)[1][visible_index(patterns)].mean())
    assert scores[0] < scores[1] - 0.1 and scores[1] < scores[2] - 0.1, scores
    assert dbm.n_iter_ == 30 and len(dbm.history_) == 30
    assert len(dbm.pretrain_history_) == 2


def test_score_samples_is_a_lower_bound_on_the_log_likelihood(patterns):
    dbm = tiny(patterns)
    exact = brute_force(dbm)[1][visible_index(patterns)]
    bound = dbm.score_samples(patterns)
    # the mean-field gap is >= 0; the AIS error (about 0.01 here) is the only slack
    assert np.all(bound <= exact + 0.02)
    assert bound.mean() > exact.mean() - 0.1
    np.testing.assert_array_equal(dbm.score_samples(patterns), bound)   # cached log Z


def test_fit_is_the_same_on_every_backend(patterns, backend):
    ref = tiny(patterns, n_iter=3).transform(patterns)
    with deepbio.use_backend(backend.name):
        out = tiny(patterns, n_iter=3).transform(patterns)
    np.testing.assert_allclose(out, ref, atol=1e-8)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    p = np.random.default_rng(0).permutation(len(X))
    return X[p[:1200]] / 16, y[p[:1200]], X[p[1200:]] / 16, y[p[1200:]]


@pytest.fixture(scope="module")
def digits_classifier(digits):
    X, y, _, _ = digits
    return DBMClassifier((64, 32), pretrain_epochs=5, dbm_epochs=5, max_iter=30,
                         learning_rate=0.3, random_state=0).fit(X, y)


def test_dbm_classifier_accuracy_on_held_out_digits(digits, digits_classifier):
    """Held-out accuracy 0.978 measured (seed 0); the floor is 0.95."""
    _, _, Xt, yt = digits
    assert digits_classifier.score(Xt, yt) > 0.95
    assert digits_classifier.coefs_[0].shape == (64 + 32, 64)
    assert digits_classifier.predict_proba(Xt[:4]).shape == (4, 10)


def test_save_load_round_trip(tmp_path, patterns, digits, digits_classifier):
    dbm = tiny(patterns, (4, 3, 2), n_iter=3)
    deepbio.save(dbm, tmp_path / "dbm.deepbio")
    back = deepbio.load(tmp_path / "dbm.deepbio")
    assert type(back) is DBM and back.get_params() == dbm.get_params()
    np.testing.assert_array_equal(back.transform(patterns), dbm.transform(patterns))
    assert back.exact_log_partition() == dbm.exact_log_partition()
    _, _, Xt, _ = digits
    deepbio.save(digits_classifier, tmp_path / "clf.deepbio")
    clf = deepbio.load(tmp_path / "clf.deepbio")
    assert type(clf.dbm_) is DBM
    np.testing.assert_array_equal(clf.predict_proba(Xt), digits_classifier.predict_proba(Xt))


def test_bad_input_is_refused_with_a_clear_error(patterns):
    with pytest.raises(ValueError, match="2 or 3 hidden layers"):
        DBM((4,)).fit(patterns)
    with pytest.raises(ValueError, match=r"X must lie in \[0, 1\]"):
        DBM((4, 3)).fit(patterns * 2)
    with pytest.raises(ValueError, match="Negative values"):
        DBMClassifier((4, 3)).fit(patterns - 1, np.arange(len(patterns)) % 2)
    dbm = tiny(patterns, n_iter=1)
    with pytest.raises(ValueError, match="n_betas must be an int >= 2"):
        dbm.log_partition(n_betas=1)
    big = DBM((30, 3), pretrain_epochs=1, n_iter=0).fit(patterns)
    with pytest.raises(ValueError, match="use log_partition"):
        big.exact_log_partition()


def test_gaussian_visible_log_partition_equals_quadrature(backend):
    """Gaussian visible units: exact log Z (v integrated out in closed form) against
    quadrature over a 2-d grid of v with every hidden state enumerated, and AIS."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2))
    dbm = DBM((3, 2), visible="gaussian", pretrain_epochs=3, n_iter=5, n_chains=50,
              batch_size=20, random_state=0, dtype="float64").fit(X)
    dbm.coefs_ = [rng.normal(scale=0.7, size=W.shape) for W in dbm.coefs_]
    g = np.linspace(-12, 12, 601)
    V = np.array(np.meshgrid(g, g)).reshape(2, -1).T
    H = _states(5)
    h1, h2 = H[:, :3], H[:, 3:]
    (W1, W2), (b0, b1, b2) = dbm.coefs_, dbm.intercepts_
    neg_e = -0.5 * ((V - b0) ** 2).sum(1)[:, None] + V @ W1 @ h1.T \
        + (h1 @ b1 + h2 @ b2 + ((h1 @ W2) * h2).sum(1))[None, :]
    quadrature = logsumexp(neg_e) + 2 * np.log(g[1] - g[0])
    assert dbm.exact_log_partition() == pytest.approx(quadrature, abs=1e-9)
    with deepbio.use_backend(backend.name):
        assert abs(dbm.log_partition(100, 1000, random_state=0) - quadrature) < 0.05
    assert dbm.transform(X).shape == (200, 2)


def test_divergence_raises_and_leaves_the_model_unfitted(patterns):
    dbm = DBM((4, 3), pretrain_epochs=1, n_iter=5, learning_rate=1e30,
              pretrain_learning_rate=1e30, random_state=0)
    with np.errstate(all="ignore"), pytest.raises(FloatingPointError, match="lower"):
        dbm.fit(patterns)
    assert not hasattr(dbm, "coefs_") and not hasattr(dbm, "n_features_in_")
