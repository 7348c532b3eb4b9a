"""ConvRBM and ConvDBN: free energy and the exact log-likelihood gradient by enumeration
of every state of a tiny model, pooled probabilities by enumeration, digits features,
motif recovery on sequences, ConvDBN stacking, determinism and bad input."""
import itertools

import numpy as np
import pytest

from deepbio import backend as B
from deepbio.datasets import load_digits, make_motif_sequences
from deepbio.datasets.encoding import one_hot
from deepbio.models import ConvDBN, ConvRBM


def _tiny(pool, seed=0):
    """A fitted-looking ConvRBM: visible 1x3x3 binary, one 2x2 filter (hidden 2x2)."""
    rng = np.random.default_rng(seed)
    m = ConvRBM(n_filters=1, filter_size=2, pool_size=pool)
    m.W_ = rng.normal(0, 1, (1, 1, 2, 2))
    m.hidden_bias_ = rng.normal(0, 0.5, 1)
    m.visible_bias_ = rng.normal(0, 0.5, 1)
    m.input_type_, m.input_shape_, m.n_features_in_ = "image", (1, 3, 3), 9
    m.pooled_shape_ = (1, 2 // pool, 2 // pool)
    return m


def _inputs(W, b, v):
    """I_ij = sum_ab W_ab v_{i+a, j+b} + b, by loops (independent of the kernels)."""
    I = np.zeros((2, 2))
    for i, j in itertools.product(range(2), range(2)):
        I[i, j] = (W[0, 0] * v[0, i:i + 2, j:j + 2]).sum() + b[0]
    return I


def _hidden_states(pool):
    """Every detection configuration allowed by the pooling constraint."""
    out = []
    for h in itertools.product((0, 1), repeat=4):
        h = np.array(h, float).reshape(2, 2)
        if pool == 2 and h.sum() > 1:
            continue
        out.append(h)
    return out


ALL_V = np.array(list(itertools.product((0, 1), repeat=9)), float).reshape(-1, 1, 3, 3)


def _neg_energies(W, b, c, v, pool):
    I = _inputs(W, b, v)
    return np.array([(h * I).sum() + c[0] * v.sum() for h in _hidden_states(pool)])


def _log_marginals(W, b, c, pool):
    """log sum_h exp(-E(v, h)) for every v, and log Z."""
    lm = np.array([np.logaddexp.reduce(_neg_energies(W, b, c, v, pool)) for v in ALL_V])
    return lm, np.logaddexp.reduce(lm)


@pytest.mark.parametrize("pool", [1, 2])
def test_free_energy_equals_enumeration(pool):
    m = _tiny(pool)
    lm, _ = _log_marginals(m.W_, m.hidden_bias_, m.visible_bias_, pool)
    np.testing.assert_allclose(m.free_energy(ALL_V), -lm, rtol=1e-12, atol=1e-12)


def test_pooled_probabilities_equal_enumeration():
    m = _tiny(2, seed=3)
    m.flatten = False
    P = m.transform(ALL_V)
    for v, p in zip(ALL_V, P):
        ne = _neg_energies(m.W_, m.hidden_bias_, m.visible_bias_, v, 2)
        w = np.exp(ne - ne.max())
        on = np.array([h.sum() for h in _hidden_states(2)])
        np.testing.assert_allclose(p[0, 0, 0], (w * on).sum() / w.sum(), rtol=1e-12)


@pytest.mark.parametrize("pool", [1, 2])
def test_gradient_formula_equals_exact_log_likelihood_gradient(pool):
    """data statistics - model expectation (exact, over all 512 visible states) equals
    the finite-difference gradient of the exact mean log-likelihood (log Z enumerated)."""
    m = _tiny(pool, seed=1)
    data = ALL_V[np.random.default_rng(2).choice(len(ALL_V), 7, replace=False)]
    be = B.get("numpy")

    def stats(v):
        I = m._up(be, v, m.W_, m.hidden_bias_)
        ph = m._pool(be, I, np.zeros(m._pooled_shape(I)))[0]
        return m._statistics(be, v, ph)

    lm, logZ = _log_marginals(m.W_, m.hidden_bias_, m.visible_bias_, pool)
    p_v = np.exp(lm - logZ)
    assert abs(p_v.sum() - 1) < 1e-12
    pos = [s / len(data) for s in stats(data)]
    sv = [stats(v[None]) for v in ALL_V]
    neg = [sum(p * s[i] for p, s in zip(p_v, sv)) for i in range(3)]
    grad = [a - b for a, b in zip(pos, neg)]

    index = {tuple(v.ravel()): i for i, v in enumerate(ALL_V)}
    rows = [index[tuple(v.ravel())] for v in data]

    def loglik():
        lm, logZ = _log_marginals(m.W_, m.hidden_bias_, m.visible_bias_, pool)
        return lm[rows].mean() - logZ

    eps = 1e-5
    for name, g in zip(("W_", "hidden_bias_", "visible_bias_"), grad):
        theta = getattr(m, name)
        fd = np.zeros_like(theta)
        for i in np.ndindex(theta.shape):
            old = theta[i]
            theta[i] = old + eps
            up = loglik()
            theta[i] = old - eps
            down = loglik()
            theta[i] = old
            fd[i] = (up - down) / (2 * eps)
        np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8)


def test_free_energy_gradient_by_finite_differences():
    """-dF/dW equals the data statistics ph (*) v of one visible vector."""
    m = _tiny(2, seed=4)
    v = ALL_V[[300]]
    be = B.get("numpy")
    I = m._up(be, v, m.W_, m.hidden_bias_)
    ph = m._pool(be, I, np.zeros(m._pooled_shape(I)))[0]
    dW, db, dc = m._statistics(be, v, ph)
    eps = 1e-6
    for name, g in zip(("W_", "hidden_bias_", "visible_bias_"), (dW, db, dc)):
        theta = getattr(m, name)
        for i in np.ndindex(theta.shape):
            old = theta[i]
            theta[i] = old + eps
            up = m.free_energy(v)[0]
            theta[i] = old - eps
            down = m.free_energy(v)[0]
            theta[i] = old
            assert abs(-(up - down) / (2 * eps) - g[i]) < 1e-7


def _digits():
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    order = np.random.default_rng(0).permutation(len(X))
    return X, y, order[:1000], order[1000:]


def _logistic(F, y, tr, te):
    from sklearn.linear_model import LogisticRegression
    return LogisticRegression(max_iter=2000).fit(F[tr], y[tr]).score(F[te], y[te])


def test_digits_features_beat_raw_pixels():
    pytest.importorskip("sklearn")
    X, y, tr, te = _digits()
    m = ConvRBM(n_filters=24, filter_size=3, pool_size=2, n_iter=15, sparsity_weight=1.0,
                sparsity_target=0.1, random_state=0).fit(X[tr].reshape(-1, 1, 8, 8))
    F = m.transform(X.reshape(-1, 1, 8, 8))
    assert F.shape == (len(X), 24 * 3 * 3)
    raw = _logistic(X, y, tr, te)
    both = _logistic(np.hstack([F, X]), y, tr, te)
    assert raw > 0.95
    assert both > raw + 0.003, (raw, both)
    assert _logistic(F, y, tr, te) > 0.90


def _best_motif_correlation(W, motif="TGACTCA", max_shift=3):
    """Max Pearson correlation between a filter (A, f) (centred per position) and the
    planted motif's one-hot PWM (minus 1/4), over filters and shifts of up to max_shift."""
    k = len(motif)
    pwm = np.zeros((k, 4))
    pwm[np.arange(k), ["ACGT".index(b) for b in motif]] = 1
    best = -1.0
    for w in W:
        w = w.T - w.T.mean(axis=1, keepdims=True)
        for s in range(-max_shift, max_shift + 1):
            a = w[max(0, s):k + min(0, s)]
            b = pwm[max(0, -s):k - max(0, s)] - 0.25
            best = max(best, np.corrcoef(a.ravel(), b.ravel())[0, 1])
    return best


def test_sequence_filters_recover_planted_motif():
    seqs = make_motif_sequences(n=600, length=40, frac_positive=1.0, random_state=0)[0]
    X = one_hot(seqs)[0]
    m = ConvRBM(n_filters=8, filter_size=7, pool_size=34, n_iter=10, learning_rate=0.3,
                sparsity_weight=1.0, sparsity_target=0.02, random_state=0).fit(X)
    assert m.W_.shape == (8, 4, 7) and m.transform(X).shape == (600, 8)
    random = max(_best_motif_correlation(np.random.default_rng(s).normal(size=(8, 4, 7)))
                 for s in range(5))
    got = _best_motif_correlation(m.W_)
    assert random < 0.65
    assert got > 0.75, got


def test_deterministic_and_pcd_gaussian_run():
    X = (np.random.default_rng(0).random((30, 2, 7, 7)) < 0.3).astype(float)
    kw = dict(n_filters=3, filter_size=3, pool_size=5, n_iter=2, random_state=5)
    a, b = ConvRBM(**kw).fit(X), ConvRBM(**kw).fit(X)
    np.testing.assert_array_equal(a.W_, b.W_)
    assert a.transform(X).shape == (30, 3)
    g = ConvRBM(visible="gaussian", persistent=True, cd_k=2, **kw).fit(X - 0.3)
    assert np.all(np.isfinite(g.W_)) and len(g.history_) == 2
    assert set(g.history_[0]) == {"epoch", "reconstruction_error", "hidden_activation", "time"}


@pytest.mark.parametrize("name", [n for n in B.backends() if n != "numpy"])
def test_backends_agree(name):
    """Every other available backend (cython; numba under NUMBA_ENABLE_CUDASIM=1; cupy
    on a GPU) trains the same filters as numpy from the same Philox key."""
    X = (np.random.default_rng(0).random((16, 1, 6, 6)) < 0.3).astype(float)
    kw = dict(n_filters=2, filter_size=3, pool_size=2, n_iter=2, random_state=1)
    with B.use_backend("numpy"):
        a = ConvRBM(**kw).fit(X)
    with B.use_backend(name):
        c = ConvRBM(**kw).fit(X)
        t = c.transform(X)
    np.testing.assert_allclose(a.W_, c.W_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(a.transform(X), t, rtol=1e-8, atol=1e-10)
    if name == "cython":
        from deepbio._kernels.cpu import probpool
        from deepbio.models.conv_rbm import _pool_kernels
        assert _pool_kernels(B.get("cython"))[0] is probpool.prob_max_pool


def test_bad_input():
    X = np.zeros((4, 1, 8, 8))
    with pytest.raises(ValueError, match="pool_size"):
        ConvRBM(filter_size=3, pool_size=4).fit(X)
    with pytest.raises(ValueError, match="filter_size"):
        ConvRBM(filter_size=9).fit(X)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ConvRBM(filter_size=3).fit(X + 2)
    with pytest.raises(ValueError, match="X"):
        ConvRBM().fit(np.zeros((4, 64)))
    m = ConvRBM(n_filters=2, filter_size=3, pool_size=2, n_iter=1, random_state=0).fit(X)
    with pytest.raises(ValueError, match="per-sample shape"):
        m.transform(np.zeros((2, 1, 10, 10)))
    with pytest.raises(ValueError, match="one entry per layer"):
        ConvDBN(n_filters=(2, 2), filter_size=(3,), pool_size=(2, 1)).fit(X)


def test_conv_dbn_shapes_and_digits_floor():
    pytest.importorskip("sklearn")
    X, y, tr, te = _digits()
    Xi = X.reshape(-1, 1, 8, 8)
    d = ConvDBN(n_filters=(16, 16), filter_size=(3, 2), pool_size=(2, 1), n_iter=8,
                sparsity_weight=1.0, sparsity_target=0.1, random_state=0).fit(Xi[tr])
    layers = d.transform_layers(Xi[:5])
    assert [L.shape for L in layers] == [(5, 16, 3, 3), (5, 16, 2, 2)]
    F = d.transform(Xi)
    assert F.shape == (len(X), 16 * 9 + 16 * 4)
    d.set_params(features="top")
    assert d.transform(Xi[:5]).shape == (5, 64)
    assert [r["layer"] for r in d.history_] == [1] * 8 + [2] * 8
    assert _logistic(F, y, tr, te) > 0.90
    # the top layer alone is weak on 3 x 3 maps, but far above chance (0.1)
    assert _logistic(d.transform(Xi), y, tr, te) > 0.40
    S = one_hot(make_motif_sequences(n=40, length=30, random_state=1)[0])[0]
    s = ConvDBN(n_filters=(4, 3), filter_size=(5, 3), pool_size=(2, 1), n_iter=2,
                random_state=0).fit(S)
    assert [L.shape for L in s.transform_layers(S)] == [(40, 4, 13), (40, 3, 11)]


def test_save_load_round_trip(tmp_path):
    X = (np.random.default_rng(0).random((12, 1, 6, 6)) < 0.3).astype(float)
    m = ConvRBM(n_filters=2, filter_size=3, pool_size=2, n_iter=1, random_state=0).fit(X)
    m.save(tmp_path / "c.deepbio")
    r = ConvRBM.load(tmp_path / "c.deepbio")
    np.testing.assert_array_equal(r.transform(X), m.transform(X))
    S = one_hot(make_motif_sequences(n=20, length=20, random_state=1)[0])[0]
    d = ConvDBN(n_filters=(3, 2), filter_size=(5, 2), pool_size=(2, 1), n_iter=1,
                random_state=0).fit(S)
    d.save(tmp_path / "d.deepbio")
    e = ConvDBN.load(tmp_path / "d.deepbio")
    np.testing.assert_array_equal(e.transform(S), d.transform(S))
    m.pooled_shape_ = (2, 1, 1)
    with pytest.raises(ValueError, match="pooled_shape_"):
        m.save(tmp_path / "bad.deepbio")


@pytest.mark.parametrize("pool", [1, 2])
def test_gibbs_chain_reaches_the_exact_model_expectation(pool):
    """CD-infinity: the model's own Gibbs step (pooled sampling of h, then v), run long
    from many chains, gives negative-phase statistics equal to the exact expectation."""
    m = _tiny(pool, seed=1)
    be = B.get("numpy")
    stream = be.stream(7, 0)
    lm, logZ = _log_marginals(m.W_, m.hidden_bias_, m.visible_bias_, pool)
    p_v = np.exp(lm - logZ)

    def stats(v):
        I = m._up(be, v, m.W_, m.hidden_bias_)
        ph = m._pool(be, I, np.zeros(m._pooled_shape(I)))[0]
        return m._statistics(be, v, ph)

    sv = [stats(v[None]) for v in ALL_V]
    exact = [sum(p * s[i] for p, s in zip(p_v, sv)) for i in range(3)]
    n, batches = 20000, 20
    v = (np.random.default_rng(0).random((n, 1, 3, 3)) < 0.5).astype(float)
    for _ in range(30):
        _, _, h = m._hidden(be, v, stream)
        v = m._sample_visible(be, m._down(be, h, m.W_, m.visible_bias_, (3, 3)), stream)
    parts = [stats(b) for b in np.split(v, batches)]
    for i in range(3):
        means = np.array([p[i] / (n / batches) for p in parts])
        se = means.std(axis=0, ddof=1) / np.sqrt(batches)
        assert np.all(np.abs(means.mean(axis=0) - exact[i]) < 5 * se + 1e-12), i
