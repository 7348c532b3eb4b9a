"""Sum-product networks: exact marginals and MPE against brute force over every state,
normalisation, sampling, test log-likelihood on binarised digits, files."""
import itertools

import numpy as np
import pytest
from scipy.special import logsumexp

import deepbio
from deepbio import SPN
from deepbio.datasets import load_digits


def _states(d):
    return np.array(list(itertools.product((0.0, 1.0), repeat=d)))


def planted(d, n=600, seed=0):
    """Binary data with dependent pairs and a two-cluster structure (so LearnSPN makes
    sum and product nodes)."""
    rng = np.random.default_rng(seed)
    z = rng.random(n) < 0.4
    p = np.where(z[:, None], np.linspace(0.2, 0.8, d), np.linspace(0.8, 0.3, d))
    X = (rng.random((n, d)) < p).astype(float)
    X[:, 1] = np.abs(X[:, 0] - (rng.random(n) < 0.1))
    if d > 4:
        X[:, 4] = np.abs(X[:, 3] - (rng.random(n) < 0.2))
    return X


@pytest.fixture(scope="module", params=[6, 8], ids=["d6", "d8"])
def model(request):
    d = request.param
    X = planted(d)
    spn = SPN(min_instances=40, alpha=0.01, random_state=0).fit(X)
    return spn, d


def test_the_learnt_network_has_sums_and_products(model):
    spn, _ = model
    kinds = set(spn.node_kind_.tolist())
    assert kinds == {0, 1, 2}, kinds


def test_the_distribution_sums_to_one(model):
    spn, d = model
    assert logsumexp(spn.score_samples(_states(d))) == pytest.approx(0.0, abs=1e-10)
    assert spn.log_marginal(np.full((1, d), np.nan))[0] == pytest.approx(0.0, abs=1e-10)


def test_marginals_equal_brute_force_sums(model):
    spn, d = model
    S = _states(d)
    joint = spn.score_samples(S)
    rng = np.random.default_rng(1)
    queries = np.where(rng.random((40, d)) < 0.5, np.nan, (rng.random((40, d)) < 0.5) * 1.0)
    got = spn.log_marginal(queries)
    for q, value in zip(queries, got):
        seen = ~np.isnan(q)
        match = np.all(S[:, seen] == q[seen], axis=1)
        assert value == pytest.approx(logsumexp(joint[match]), abs=1e-10)


def test_mpe_equals_the_brute_force_argmax_of_the_max_product_value(model):
    """The max-product value of the completion mpe returns is the largest over every
    completion of the evidence (the MPE over the states and the sum nodes' choices)."""
    spn, d = model
    S = _states(d)
    max_product = spn._upward(S, use_max=True)[0]
    joint = spn.score_samples(S)
    rng = np.random.default_rng(2)
    queries = np.where(rng.random((40, d)) < 0.6, np.nan, (rng.random((40, d)) < 0.5) * 1.0)
    queries[0] = np.nan                          # no evidence at all
    completed, value = spn.mpe(queries, return_log_value=True)
    agree = 0
    for q, x, v in zip(queries, completed, value):
        seen = ~np.isnan(q)
        np.testing.assert_array_equal(x[seen], q[seen])
        match = np.all(S[:, seen] == q[seen], axis=1)
        assert v == pytest.approx(max_product[match].max(), abs=1e-10)
        index = int(x @ (2 ** np.arange(d)[::-1]))
        assert max_product[index] == pytest.approx(v, abs=1e-10)
        agree += joint[index] == pytest.approx(joint[match].max(), abs=1e-12)
    # not selective, so not guaranteed; on these models it finds the true argmax of p(x)
    # for most queries (37 / 40 for d = 6, 40 / 40 for d = 8, measured)
    assert agree >= 35


def test_samples_follow_the_model(model):
    spn, d = model
    draws = spn.sample(20000, random_state=0)
    assert set(np.unique(draws)) <= {0.0, 1.0}
    for i in range(d):
        q = np.full((1, d), np.nan)
        q[0, i] = 1.0
        assert draws[:, i].mean() == pytest.approx(np.exp(spn.log_marginal(q)[0]), abs=0.015)
    q = np.full((1, d), np.nan)
    q[0, :2] = 1.0                                # a pair the data make dependent
    assert np.all(draws[:, :2] == 1, axis=1).mean() == pytest.approx(
        np.exp(spn.log_marginal(q)[0]), abs=0.015)
    np.testing.assert_array_equal(spn.sample(5, random_state=3), spn.sample(5, random_state=3))


def test_test_log_likelihood_on_binarised_digits_beats_independent_pixels():
    """Held-out mean log-likelihood: -17.99 nats measured against -24.48 for independent
    Bernoulli pixels (seed 0, 1200 / 597 split)."""
    X, _ = load_digits(return_X_y=True)
    X = (X / 16 > 0.5).astype(float)
    p = np.random.default_rng(0).permutation(len(X))
    train, test = X[p[:1200]], X[p[1200:]]
    spn = SPN(random_state=0).fit(train)
    m = np.clip(train.mean(axis=0), 1e-3, 1 - 1e-3)
    baseline = (test * np.log(m) + (1 - test) * np.log(1 - m)).sum(axis=1).mean()
    assert spn.score(test) > baseline + 5, (spn.score(test), baseline)


def test_gaussian_leaves_give_a_normalised_density():
    rng = np.random.default_rng(0)
    z = rng.random(500) < 0.5
    X = np.column_stack([np.where(z, -2, 2) + rng.normal(size=500),
                         np.where(z, 1, -1) + 0.5 * rng.normal(size=500)])
    spn = SPN(leaf="gaussian", min_instances=30, random_state=0).fit(X)
    assert 2 in spn.node_kind_
    g = np.linspace(-10, 10, 401)
    V = np.array(np.meshgrid(g, g)).reshape(2, -1).T
    step = g[1] - g[0]
    assert np.exp(spn.score_samples(V)).sum() * step ** 2 == pytest.approx(1.0, abs=1e-6)
    # the marginal of the first variable is the integral over the second
    q = np.column_stack([g, np.full_like(g, np.nan)])
    inner = np.exp(spn.score_samples(V)).reshape(len(g), len(g)).sum(axis=0) * step
    np.testing.assert_allclose(np.exp(spn.log_marginal(q)), inner, atol=1e-8)


def test_save_load_round_trip(tmp_path, model):
    spn, d = model
    deepbio.save(spn, tmp_path / "spn.deepbio")
    back = deepbio.load(tmp_path / "spn.deepbio")
    S = _states(d)
    np.testing.assert_array_equal(back.score_samples(S), spn.score_samples(S))
    np.testing.assert_array_equal(back.sample(10, random_state=0), spn.sample(10, random_state=0))


def test_a_broken_file_is_refused(tmp_path, model):
    spn, _ = model
    bad = SPN(**spn.get_params())
    for name, value in vars(spn).items():
        setattr(bad, name, value.copy() if isinstance(value, np.ndarray) else value)
    bad.log_weights_ = bad.log_weights_ + np.where(bad.log_weights_ < 0, 0.1, 0.0)
    with pytest.raises(ValueError, match="sum to"):
        deepbio.save(bad, tmp_path / "bad.deepbio")


def test_bad_input_is_refused_with_a_clear_error(model):
    spn, d = model
    with pytest.raises(ValueError, match="only 0 and 1"):
        SPN().fit(np.full((10, 3), 0.5))
    with pytest.raises(ValueError, match="NaN"):
        spn.score_samples(np.full((2, d), np.nan))
    with pytest.raises(ValueError, match="infinity"):
        spn.log_marginal(np.full((2, d), np.inf))
    with pytest.raises(ValueError, match="n_samples must be an int >= 1"):
        spn.sample(0)
    with pytest.raises(ValueError, match="features"):
        spn.score_samples(np.zeros((2, d + 1)))


def test_the_same_on_every_backend(backend):
    """Host NumPy whatever the backend: the same network and scores."""
    X = planted(6)
    ref = SPN(min_instances=40, random_state=0).fit(X)
    with deepbio.use_backend(backend.name):
        spn = SPN(min_instances=40, random_state=0).fit(X)
        np.testing.assert_array_equal(spn.score_samples(X), ref.score_samples(X))
