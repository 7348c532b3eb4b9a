"""deepbio.plot: every plot rendered to PNG headless, with its labels and its data
checked, and the bad inputs refused by name."""
import math
import subprocess
import sys

import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import PathPatch

import deepbio
from deepbio import explain, plot
from deepbio.datasets import make_expression

from .conftest import assert_png


def _letters(ax):
    return [p for p in ax.patches if isinstance(p, PathPatch) and p.get_gid()]


@pytest.fixture(scope="module")
def table():
    X, y = make_expression(n_samples=150, n_genes=30, n_subtypes=3, n_markers=3,
                           n_modules=2, module_size=5, effect_size=3.0, random_state=0)
    return (X - X.mean(0)) / X.std(0), y


@pytest.fixture(scope="module")
def mlp(table):
    X, y = table
    return deepbio.MLPClassifier(hidden_layer_sizes=(8,), max_iter=8, early_stopping=True,
                                 random_state=0).fit(X, y)


def test_import_deepbio_does_not_import_plot_or_matplotlib():
    code = ("import sys, deepbio; assert 'deepbio.plot' not in sys.modules; "
            "assert 'matplotlib' not in sys.modules; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_missing_matplotlib_says_how_to_install(monkeypatch):
    from deepbio.plot import _mpl
    monkeypatch.setitem(sys.modules, "matplotlib", None)     # import matplotlib fails
    with pytest.raises(ImportError, match=r'pip install "deepbio\[plot\]"'):
        _mpl.require_matplotlib()
    for draw in (lambda: plot.sequence_logo(np.full((3, 4), 0.25)),
                 lambda: plot.saliency_track(np.ones(5)),
                 lambda: plot.filters(np.eye(4)),
                 lambda: plot.learning_curves([{"epoch": 1, "loss": 1.0}])):
        with pytest.raises(ImportError, match=r'pip install "deepbio\[plot\]"'):
            draw()
    monkeypatch.setitem(sys.modules, "sklearn", None)
    with pytest.raises(ImportError, match=r'deepbio\[plot\]'):
        _mpl.require_sklearn()
    for draw in (plot.roc_curve, plot.pr_curve, plot.confusion_matrix):
        with pytest.raises(ImportError, match="scikit-learn is not installed"):
            draw(None, np.zeros((2, 2)), [0, 1])


def test_learning_curves_sgd(mlp, tmp_path):
    ax = plot.learning_curves(mlp)
    assert isinstance(ax, Axes)
    assert ax.get_xlabel() == "epoch"
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels[:2] == ["loss", "val_loss"]
    np.testing.assert_allclose(ax.get_lines()[0].get_xdata(),
                               [h["epoch"] for h in mlp.history_])
    np.testing.assert_allclose(ax.get_lines()[1].get_ydata(),
                               [h["val_loss"] for h in mlp.history_])
    twin = [a for a in ax.figure.axes if a is not ax]
    assert [line.get_label() for line in twin[0].get_lines()] == ["val_metric"]
    ticks = [t for t in ax.get_xticks() if 1 <= t <= len(mlp.history_)]
    assert ticks and all(float(t).is_integer() for t in ticks)
    path = plot.save_figure(ax, tmp_path / "lc.png")
    assert_png(path, (600, 400))


def test_learning_curves_hessian_free_panels(table, tmp_path):
    X, y = table
    hf = deepbio.MLPClassifier(hidden_layer_sizes=(4,), max_iter=4, optimizer="hf",
                               random_state=0).fit(X, y)
    fig = plot.learning_curves(hf)
    assert isinstance(fig, Figure)
    titles = [a.get_title() for a in fig.axes]
    assert titles == ["loss", "damping λ", "reduction ratio ρ", "CG iterations"]
    lam = fig.axes[1].get_lines()[0].get_ydata()
    np.testing.assert_allclose(lam, [h["damping"] for h in hf.history_])
    assert fig.axes[1].get_yscale() == "log"
    cg = [p.get_height() for p in fig.axes[3].patches]
    assert cg == [h["cg_iters"] for h in hf.history_]
    assert all(a.get_xlabel() == "HF iteration" for a in fig.axes)
    assert_png(plot.save_figure(fig, tmp_path / "hf.png"), (1000, 700))
    with pytest.raises(ValueError, match="ax: a Hessian-free history draws four panels"):
        plot.learning_curves(hf, ax=Figure().subplots())


def test_learning_curves_rbm_and_history_list():
    X = np.random.default_rng(0).random((40, 16))
    rbm = deepbio.RBM(n_components=4, n_iter=3, random_state=0).fit(X)
    ax = plot.learning_curves(rbm.history_)
    assert [line.get_label() for line in ax.get_lines()] == ["reconstruction error"]
    assert ax.get_ylabel() == "reconstruction error"
    twin = [a for a in ax.figure.axes if a is not ax][0]
    assert twin.get_ylabel() == "pseudo-likelihood"


@pytest.mark.parametrize("bad,err,match", [
    ([], ValueError, "the history is empty"),
    ("loss", TypeError, "model_or_history must be"),
    ([{"epoch": 1, "foo": 2.0}], ValueError, "holds none of"),
])
def test_learning_curves_bad_input(bad, err, match):
    with pytest.raises(err, match=match):
        plot.learning_curves(bad)
    with pytest.raises(ValueError, match="has no history_"):
        plot.learning_curves(deepbio.MLPClassifier())


def test_filters_grid(tmp_path):
    X = np.random.default_rng(0).random((40, 36))
    rbm = deepbio.RBM(n_components=5, n_iter=2, random_state=0).fit(X)
    ax = plot.filters(rbm)
    img = ax.images[0].get_array()
    assert img.shape == (2 * 7 - 1, 3 * 7 - 1)           # 3 x 2 tiles of 6 x 6, 1 px gaps
    np.testing.assert_allclose(img[:6, :6], rbm.W_[:, 0].reshape(6, 6)
                               / np.abs(rbm.W_[:, 0]).max(), rtol=1e-6)
    assert img.mask[6].all() and img.mask[:, 6].all()      # the gaps are blank
    assert img.mask[7:, 14:].all()                         # the sixth tile is absent
    assert "5 of 5 filters" in ax.get_title()
    assert_png(plot.save_figure(ax, tmp_path / "f.png"), tuple(
        round(v) for v in ax.figure.get_size_inches() * 100))
    ae = deepbio.AutoEncoder(n_components=3, max_iter=2, random_state=0).fit(X[:, :30])
    ax = plot.filters(ae, image_shape=(5, 6))
    np.testing.assert_allclose(ax.images[0].get_array()[:5, :6],
                               ae.coefs_[0][:, 0].reshape(5, 6)
                               / np.abs(ae.coefs_[0][:, 0]).max(), rtol=1e-6)
    with pytest.raises(ValueError, match="image_shape: the filters have 30 features"):
        plot.filters(ae)
    with pytest.raises(ValueError, match="image_shape"):
        plot.filters(ae, image_shape=(4, 4))
    with pytest.raises(ValueError, match="model: RBM has no fitted weights"):
        plot.filters(deepbio.RBM())
    with pytest.raises(TypeError, match="model must be"):
        plot.filters("W")


def _planted_pwm():
    consensus = "TGACGTCA"
    P = np.full((8, 4), 0.05)
    P[np.arange(8), ["ACGT".index(c) for c in consensus]] = 0.85
    P[3] = 0.25                                            # one uninformative column
    return consensus, P


def test_sequence_logo_letters_and_heights(tmp_path):
    consensus, P = _planted_pwm()
    ax = plot.sequence_logo(P)
    letters = _letters(ax)
    assert len(letters) == 7 * 4                           # the uniform column: 0 bits
    assert ax.get_ylabel() == "bits" and ax.get_ylim() == (0, 2)
    for j in range(8):
        column = [p for p in letters
                  if abs(p.get_path().get_extents().x0 + 0.45 - (j + 1)) < 1e-6]
        assert len(column) == (4 if j != 3 else 0)
        if j == 3:
            continue
        tallest = max(column, key=lambda p: p.get_path().get_extents().height)
        assert tallest.get_gid() == consensus[j]
        ic = 2 + 0.85 * math.log2(0.85) + 3 * 0.05 * math.log2(0.05)
        top = max(p.get_path().get_extents().y1 for p in column)
        assert top == pytest.approx(ic, rel=1e-6)          # the stack is the column's IC
    from matplotlib.colors import to_rgb
    colours = {"A": "#109648", "C": "#255C99", "G": "#F7B32B", "T": "#D62839"}
    for p in letters:                                      # A green, C blue, G orange, T red
        assert p.get_facecolor()[:3] == pytest.approx(to_rgb(colours[p.get_gid()]))
    assert_png(plot.save_figure(ax, tmp_path / "logo.png"), tuple(
        round(v) for v in ax.figure.get_size_inches() * 100))
    ax = plot.sequence_logo(P, information=False)
    assert ax.get_ylabel() == "probability"
    assert max(p.get_path().get_extents().y1 for p in _letters(ax)) == pytest.approx(1.0)


def test_sequence_logo_of_a_motif_and_bad_pwms():
    consensus, P = _planted_pwm()
    m = explain.Motif("site", P[:, [0, 1, 2, 3]], alphabet="ACGU")
    ax = plot.sequence_logo(m)
    assert ax.get_title() == "site"
    assert {p.get_gid() for p in _letters(ax)} == set("ACGU")
    with pytest.raises(ValueError, match=r"shape \(length, 4\)"):
        plot.sequence_logo(P[:, :3])
    with pytest.raises(ValueError, match="row 0 sums to"):
        plot.sequence_logo(P * 2)
    with pytest.raises(ValueError, match="non-negative"):
        plot.sequence_logo(-P)
    with pytest.raises(TypeError, match="pwm_or_motif must be"):
        plot.sequence_logo({"A": 1})
    with pytest.raises(TypeError, match="ax must be a matplotlib Axes"):
        plot.sequence_logo(P, ax="here")


def test_filter_logos_of_a_cnn(tmp_path):
    from deepbio.datasets import make_motif_sequences, one_hot
    seqs, y = make_motif_sequences(n=200, length=30, random_state=0)
    X, mask = one_hot(seqs)
    cnn = deepbio.CNNClassifier(filters=4, kernel_size=7, hidden_layer_sizes=(), max_iter=3,
                                random_state=0).fit(X, y, mask=mask)
    fig = plot.filter_logos(cnn, X, mask=mask, ncols=2)
    assert isinstance(fig, Figure)
    motifs = explain.filter_motifs(cnn, X, mask=mask)
    used = [a for a in fig.axes if a.get_title()]
    assert len(used) == 4
    for ax, m in zip(used, motifs):
        assert ax.get_title().startswith(m.name)
        if m.n_sites:
            assert len(_letters(ax)) > 0
    assert_png(plot.save_figure(fig, tmp_path / "filters.png"), tuple(
        round(v) for v in fig.get_size_inches() * 100))
    with pytest.raises(ValueError, match="X: the sequences"):
        plot.filter_logos(cnn)


def test_saliency_track_letters_and_padding(tmp_path):
    rng = np.random.default_rng(1)
    L, n = 20, 14
    idx = rng.integers(0, 4, L)
    S = np.eye(4)[idx]
    S[n:] = 0                                              # end padding
    A = rng.normal(size=(L, 4)) * S
    mask = np.arange(L) < n
    ax = plot.saliency_track(A, sequence=S, mask=mask)
    letters = _letters(ax)
    assert len(letters) == n
    assert ax.get_xlim() == (0.5, n + 0.5)
    for p in letters:
        pos = int(round(p.get_path().get_extents().x0 + 0.45)) - 1
        assert p.get_gid() == "ACGT"[idx[pos]]
        ext = p.get_path().get_extents()
        want = A[pos].sum()
        assert (ext.y1 if want > 0 else -ext.y0) == pytest.approx(abs(want), rel=1e-6)
    assert_png(plot.save_figure(ax, tmp_path / "sal.png"), tuple(
        round(v) for v in ax.figure.get_size_inches() * 100))
    S2 = S.copy()
    S2[2] = 0.25                                           # an N: no letter, a grey bar
    A2 = A.copy()
    A2[2] = 0.1
    ax = plot.saliency_track(A2, sequence=S2, mask=mask)
    assert len(_letters(ax)) == n - 1
    bars = [p for p in ax.patches if not isinstance(p, PathPatch)]
    assert len(bars) == 1 and bars[0].get_height() == pytest.approx(0.4)
    assert bars[0].get_x() + bars[0].get_width() / 2 == pytest.approx(3)
    ax = plot.saliency_track(A, mask=mask)                 # bars, no letters
    assert len(ax.patches) == n
    np.testing.assert_allclose([b.get_height() for b in ax.patches], A[:n].sum(axis=1))
    ax = plot.saliency_track(A[:, 0], sequence="ACGTA")    # text: cut at its length
    assert len(_letters(ax)) == np.count_nonzero(A[:5, 0])
    with pytest.raises(ValueError, match="attributions_row must be one sequence"):
        plot.saliency_track(np.zeros((2, L, 4)))
    with pytest.raises(ValueError, match=r"mask must be a bool array of shape \(20,\)"):
        plot.saliency_track(A, mask=mask[:5])
    with pytest.raises(ValueError, match="sequence has 25 letters"):
        plot.saliency_track(A, sequence="A" * 25)
    with pytest.raises(ValueError, match="mask: no real position"):
        plot.saliency_track(A, mask=np.zeros(L, bool))


def test_feature_ranking_bars(mlp, table, tmp_path):
    X, y = table
    names = [f"GENE{i}" for i in range(X.shape[1])]
    ranking = explain.rank_features(mlp, X, names=names, y=y, method="gradient_x_input")
    ax = plot.feature_ranking(ranking, top=5)
    want = ranking.top(5)
    assert [t.get_text() for t in ax.get_yticklabels()] == [n for n, _ in want]
    best = max(ax.patches, key=lambda b: b.get_y())        # the top bar is the best gene
    assert best.get_width() == pytest.approx(want[0][1])
    assert "all classes" in ax.get_title()
    assert "gradient_x_input" in ax.get_xlabel()
    assert_png(plot.save_figure(ax, tmp_path / "genes.png"), tuple(
        round(v) for v in ax.figure.get_size_inches() * 100))
    c = ranking.classes[1]
    ax = plot.feature_ranking(ranking, top=3, class_=c)
    assert [t.get_text() for t in ax.get_yticklabels()] == [n for n, _ in
                                                            ranking.top(3, cls=c)]
    with pytest.raises(ValueError, match="class_ must be one of"):
        plot.feature_ranking(ranking, class_="nope")
    with pytest.raises(ValueError, match="top must be a positive int"):
        plot.feature_ranking(ranking, top=0)
    with pytest.raises(TypeError, match="ranking must be a deepbio.explain.FeatureRanking"):
        plot.feature_ranking({"GENE1": 1.0})


def test_roc_pr_confusion_multiclass_and_binary(mlp, table, tmp_path):
    X, y = table
    ax = plot.roc_curve(mlp, X, y)
    curves = [line for line in ax.get_lines() if line.get_label()[0] != "_"]
    assert len(curves) == len(mlp.classes_)               # one vs rest
    assert "one vs rest" in ax.get_title()
    assert ax.get_xlabel() == "False Positive Rate"
    assert_png(plot.save_figure(ax, tmp_path / "roc.png"), (500, 500))
    ax = plot.pr_curve(mlp, X, y)
    assert ax.get_ylabel().startswith("Precision")
    ax = plot.confusion_matrix(mlp, X, y)
    counts = np.array([[int(t.get_text()) for t in row] for row in
                       np.asarray(ax.texts).reshape(len(mlp.classes_), -1)])
    assert counts.sum() == len(y)
    assert np.trace(counts) == int(np.sum(mlp.predict(X) == y))
    assert [t.get_text() for t in ax.get_yticklabels()] == [str(c) for c in mlp.classes_]
    yb = (y == mlp.classes_[0]).astype(int)
    clf = deepbio.MLPClassifier(hidden_layer_sizes=(4,), max_iter=3,
                                random_state=0).fit(X, yb)
    ax = plot.roc_curve(clf, X, yb)
    assert len([ln for ln in ax.get_lines() if ln.get_label()[0] != "_"]) == 1
    with pytest.raises(ValueError, match="y has 3 labels but X has"):
        plot.roc_curve(clf, X, yb[:3])
    with pytest.raises(ValueError, match="not classes of the model"):
        plot.roc_curve(clf, X, yb + 5)
    with pytest.raises(TypeError, match="model must be a fitted classifier"):
        plot.roc_curve(deepbio.RBM(), X, yb)
    with pytest.raises(ValueError, match="normalize must be"):
        plot.confusion_matrix(clf, X, yb, normalize="rows")


def test_deepbio_plot_loads_on_first_use():
    code = ("import sys, deepbio; p = deepbio.plot; import deepbio.plot as q; "
            "assert p is q and p.__name__ == 'deepbio.plot'; "
            "assert deepbio.explain.__name__ == 'deepbio.explain'; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_filters_of_stacked_models_and_arrays():
    X = np.random.default_rng(2).random((30, 16))
    dbn = deepbio.DBN(hidden_layer_sizes=(3, 2), n_iter=1, random_state=0).fit(X)
    W = dbn.rbms_[0].W_
    img = plot.filters(dbn).images[0].get_array()
    np.testing.assert_allclose(img[:4, :4], W[:, 0].reshape(4, 4) / np.abs(W[:, 0]).max(),
                               rtol=1e-6)
    sae = deepbio.StackedAutoEncoder(hidden_layer_sizes=(2,), max_iter=1,
                                     random_state=0).fit(X)
    W = sae.autoencoders_[0].coefs_[0]
    img = plot.filters(sae).images[0].get_array()
    np.testing.assert_allclose(img[:4, 5:9], W[:, 1].reshape(4, 4) / np.abs(W[:, 1]).max(),
                               rtol=1e-6)
    ax = plot.filters(np.eye(16)[:, :10], max_filters=4, ncols=4)
    assert ax.images[0].get_array().shape == (4, 4 * 5 - 1)
    with pytest.raises(ValueError, match="max_filters must be a positive int"):
        plot.filters(np.eye(16), max_filters=0)


def test_learning_curves_hf_into_given_axes():
    hist = [{"iteration": i, "loss": 1.0 / i, "damping": 0.5 ** i, "rho": r,
             "cg_iters": 3 + i} for i, r in zip(range(1, 5), [0.9, -math.inf, 0.5, 0.8])]
    axes = list(Figure().subplots(2, 2).ravel())
    fig = plot.learning_curves(hist, ax=axes)
    assert fig is axes[0].figure
    rho = axes[2].get_lines()[0]
    np.testing.assert_allclose(rho.get_xdata(), [1, 3, 4])   # -inf (no promise) left out
    np.testing.assert_allclose(rho.get_ydata(), [0.9, 0.5, 0.8])
