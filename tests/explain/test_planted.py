"""Planted truth: a motif planted in DNA comes back from the CNN's filters and its
attributions, and planted marker genes come first in the ranking."""
import numpy as np
import pytest

import deepbio
from deepbio import CNNClassifier, MLPClassifier
from deepbio.datasets import make_expression, make_motif_sequences, one_hot, read_expression
from deepbio.explain import attributions, compare_motifs, filter_motifs, rank_features

#: The planted motif: 8 columns, 0.85 on the consensus letter AGCTAGTC.
PWM = np.full((8, 4), 0.05)
PWM[np.arange(8), [0, 2, 1, 3, 0, 2, 3, 1]] = 0.85
N_TRAIN = 1000


@pytest.fixture(scope="module")
def motif_task():
    """A sequence CNN fitted on 1000 sequences (40 bp; half carry one motif instance),
    500 held out; ``(clf, X, y, positions)``."""
    seqs, y, pos = make_motif_sequences(n=1500, length=40, motif=PWM, random_state=0,
                                        return_positions=True)
    X, _ = one_hot(seqs)
    with deepbio.use_backend("numpy"):
        clf = CNNClassifier(filters=8, kernel_size=9, hidden_layer_sizes=(), max_iter=25,
                            learning_rate=0.05, random_state=0).fit(X[:N_TRAIN], y[:N_TRAIN])
    return clf, X, y, pos


def test_the_cnn_learns_the_task(motif_task):
    clf, X, y, _ = motif_task
    # most instances are recognisable (a draw matches all 8 consensus letters with
    # probability 0.85^8 = 0.27, so the Bayes accuracy is well below 1)
    assert clf.score(X[N_TRAIN:], y[N_TRAIN:]) >= 0.8


def test_a_filter_recovers_the_planted_motif(motif_task):
    clf, X, y, _ = motif_task
    motifs = filter_motifs(clf, X[:N_TRAIN], top=100)
    assert len(motifs) == 8 and all(m.length == 9 for m in motifs)
    scores = [compare_motifs(m, PWM) for m in motifs]
    best = int(np.argmax([s[0] for s in scores]))
    r, offset, strand = scores[best]
    assert r >= 0.8, scores
    hit = motifs[best]
    assert hit.n_sites == 100 and hit.filter == best
    assert hit.information_content > 8          # most of the planted 8 x 1.15 bits
    # control: the same letters in another order correlate far less
    shuffled = PWM[[4, 1, 7, 2, 6, 0, 5, 3]]
    assert compare_motifs(hit, shuffled)[0] < r - 0.3


@pytest.mark.parametrize("method", ["gradient_x_input", "integrated_gradients", "ism"])
def test_attribution_mass_peaks_on_the_planted_site(motif_task, method):
    """For >= 80% of the held-out positives, at least 3 of the 5 positions with the
    largest |attribution| lie inside the planted site (8 of 40 positions: chance puts
    3 of 5 there for about 5% of sequences)."""
    clf, X, y, pos = motif_task
    rows = N_TRAIN + np.flatnonzero(y[N_TRAIN:] == 1)
    with deepbio.use_backend("numpy"):
        A = attributions(clf, X[rows], method=method, target=1, n_steps=20) \
            if method == "integrated_gradients" else \
            attributions(clf, X[rows], method=method, target=1)
    score = np.abs(A).sum(axis=2)                          # per position
    top = np.argsort(-score, axis=1)[:, :5]
    start = pos[rows][:, None]
    inside = ((top >= start) & (top < start + 8)).sum(axis=1)
    rate = np.mean(inside >= 3)
    assert rate >= 0.8, rate


@pytest.fixture(scope="module")
def expression_task():
    sim = make_expression(n_samples=400, n_genes=300, n_markers=5, effect_size=3.0,
                          random_state=0, return_bunch=True)
    X = (sim.data - sim.data.mean(axis=0)) / sim.data.std(axis=0)
    with deepbio.use_backend("numpy"):
        clf = MLPClassifier((16,), max_iter=30, weight_decay=1e-2, random_state=0)
        clf.fit(X[:300], sim.target[:300])
    return clf, X, sim


def test_rank_features_puts_the_markers_first(expression_task, tmp_path):
    clf, X, sim = expression_task
    assert clf.score(X[300:], sim.target[300:]) >= 0.95
    # through a file, as a user reads one: the gene names come from read_expression
    path = tmp_path / "expr.tsv"
    rows = ["sample\t" + "\t".join(sim.feature_names)]
    rows += [f"S{i}\t" + "\t".join(repr(float(v)) for v in row) for i, row in enumerate(X)]
    path.write_text("\n".join(rows) + "\n")
    matrix = read_expression(path)
    with deepbio.use_backend("numpy"):
        ranking = rank_features(clf, matrix, y=sim.target, n_steps=20)
    assert ranking.names == sim.feature_names and ranking.classes == [0, 1, 2]
    assert ranking.scores.shape == (3, 300) and list(ranking.n_samples) == [134, 133, 133]
    for c in range(3):
        assert set(ranking.order[c, :5]) == set(sim.markers[c]), c
        top = [name for name, _ in ranking.top(5, cls=c)]
        assert set(top) == {sim.feature_names[g] for g in sim.markers[c]}
    assert set(np.argsort(-ranking.overall)[:15]) == set(sim.markers.ravel())


def test_rank_features_with_predicted_classes_and_gradient_x_input(expression_task):
    clf, X, sim = expression_task
    with deepbio.use_backend("numpy"):
        ranking = rank_features(clf, X, method="gradient_x_input")
    assert ranking.names[:2] == ["feature0", "feature1"]
    assert set(np.argsort(-ranking.overall)[:15]) == set(sim.markers.ravel())


def test_rank_features_errors(expression_task, motif_task):
    clf, X, _ = expression_task
    with pytest.raises(ValueError, match="one name per feature"):
        rank_features(clf, X, names=["a", "b"])
    with pytest.raises(ValueError, match="method='ism' mutates sequences"):
        rank_features(clf, X, method="ism")
    with pytest.raises(ValueError, match=r"y must hold one label per sample, shape \(400,\)"):
        rank_features(clf, X, y=np.zeros(3))
    cnn, Xs, _, _ = motif_task
    with pytest.raises(TypeError, match="ranks the columns of a table"):
        rank_features(cnn, Xs[:5])
    with pytest.raises(TypeError, match="CNNClassifier or CNNRegressor on sequences"):
        filter_motifs(clf, X)
