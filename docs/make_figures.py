"""Draw the pictures of docs/plot.md into docs/figures/ (PNG, 100 dpi).

    python docs/make_figures.py            # from the repository root; ~20 s on 2 cores

Small models on the synthetic data sets, fixed seeds, the numpy backend: the pictures
are the same on every machine up to font rendering.  Needs ``pip install
"deepbio[plot]"``.
"""
import os
import sys

import matplotlib

matplotlib.use("Agg")            # a script of its own: headless, whatever the default

import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import deepbio  # noqa: E402
from deepbio import explain, plot  # noqa: E402
from deepbio.datasets import make_expression, make_motif_sequences, one_hot  # noqa: E402

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "figures")


def save(fig_or_ax, name, dpi=100):
    path = plot.save_figure(fig_or_ax, os.path.join(HERE, name), dpi=dpi)
    print(f"{path}: {os.path.getsize(path) // 1024} KB")


def main():
    os.makedirs(HERE, exist_ok=True)
    deepbio.set_backend("numpy")

    # expression: a classifier with a validation split, and its HF twin
    X, y = make_expression(n_samples=300, n_genes=60, n_markers=4, n_modules=4,
                           module_size=5, effect_size=1.5, noise=1.0,
                           random_state=0)
    X = (X - X.mean(0)) / X.std(0)
    names = [f"GENE{i:02d}" for i in range(X.shape[1])]
    mlp = deepbio.MLPClassifier(hidden_layer_sizes=(16,), max_iter=40, early_stopping=True,
                                patience=100, random_state=0).fit(X[:200], y[:200])
    save(plot.learning_curves(mlp, ax=Figure(figsize=(6, 4)).subplots()),
         "learning_curves.png")
    hf = deepbio.MLPClassifier(hidden_layer_sizes=(16,), max_iter=20, optimizer="hf",
                               random_state=0).fit(X[:200], y[:200])
    save(plot.learning_curves(hf, ax=Figure(figsize=(10, 7))), "learning_curves_hf.png")
    ranking = explain.rank_features(mlp, X[200:], names=names, y=y[200:])
    fig = Figure(figsize=(6, 0.6 + 0.28 * 15))
    save(plot.feature_ranking(ranking, top=15, class_=ranking.classes[0],
                              ax=fig.subplots()), "feature_ranking.png")
    for name, draw in (("roc_curve.png", plot.roc_curve), ("pr_curve.png", plot.pr_curve),
                       ("confusion_matrix.png", plot.confusion_matrix)):
        save(draw(mlp, X[200:], y[200:], ax=Figure(figsize=(5, 5)).subplots()), name)

    # RBM filters on 8x8 digit-like strokes
    rng = np.random.default_rng(0)
    strokes = np.zeros((600, 8, 8))
    for img in strokes:
        r, c = rng.integers(0, 8, 2)
        img[r, :] = 1.0 if rng.random() < 0.5 else 0.0
        img[:, c] = 1.0 if rng.random() < 0.5 else 0.0
    strokes = np.clip(strokes + 0.1 * rng.random(strokes.shape), 0, 1).reshape(600, 64)
    rbm = deepbio.RBM(n_components=16, n_iter=20, learning_rate=0.05,
                      random_state=0).fit(strokes)
    save(plot.filters(rbm, ax=Figure(figsize=(5, 5.3)).subplots()), "filters.png")

    # sequences: a CNN on a planted motif, its filters' logos and a saliency track
    seqs, yseq = make_motif_sequences(n=1000, length=40, random_state=0)
    S, mask = one_hot(seqs)
    cnn = deepbio.CNNClassifier(filters=8, kernel_size=9, hidden_layer_sizes=(),
                                max_iter=15, random_state=0).fit(S, yseq, mask=mask)
    motifs = explain.filter_motifs(cnn, S, mask=mask)
    best = max(motifs, key=lambda m: m.information_content)
    save(plot.sequence_logo(best, ax=Figure(figsize=(5, 2.2)).subplots()),
         "sequence_logo.png")
    from deepbio.plot.sequences import logo_grid_size
    save(plot.filter_logos(motifs, fig=Figure(figsize=logo_grid_size(motifs))),
         "filter_logos.png", dpi=80)          # eight logos: under 100 KB
    pos = int(np.flatnonzero(yseq == 1)[0])
    A = explain.attributions(cnn, S[pos:pos + 1], method="integrated_gradients", target=1,
                             mask=mask[pos:pos + 1])
    fig = Figure(figsize=(8, 2.2))
    save(plot.saliency_track(A[0], sequence=S[pos], mask=mask[pos], ax=fig.subplots(),
                             title=f"sequence {pos}: integrated gradients"),
         "saliency_track.png")
    features_plus_raw()
    isa_figure()
    gsn_figure()
    conv_rbm_figure()
    return 0


def isa_figure():
    """docs/models/isa.md: layer-1 filters of a StackedISA on the digits, grouped by
    subspace; the subspace energy matrix on planted subspaces, random start against the
    ICA start."""
    from deepbio.datasets import load_digits
    from deepbio.models.isa import subspace_distance
    X, _ = load_digits(return_X_y=True)
    p = np.random.default_rng(0).permutation(len(X))
    stack = deepbio.StackedISA(n_subspaces=(8, 8), patch_size=(4, 2), stride=(2, 1),
                               n_patches=3000, max_iter=100, random_state=0).fit(
        X[p[:1200]].reshape(-1, 1, 8, 8))
    F = stack.isas_[0].components_.reshape(-1, 4, 4)
    fig = Figure(figsize=(10, 3.4))
    grid = fig.add_gridspec(2, 11, width_ratios=[1] * 8 + [0.3, 2.2, 2.2])
    for j, f in enumerate(F):
        ax = fig.add_subplot(grid[j % 2, j // 2])
        ax.imshow(f, cmap="gray")
        ax.set_xticks([])
        ax.set_yticks([])
        if j % 2 == 0:
            ax.set_title(f"S{j // 2 + 1}", fontsize=8)
    rng = np.random.default_rng(0)
    m, s, n = 4, 2, 4000
    S = (rng.standard_normal((n, m, s)) * rng.exponential(size=(n, m))[:, :, None]).reshape(n, -1)
    A = rng.standard_normal((m * s, m * s))
    for col, init in ((9, "random"), (10, "ica")):
        isa = deepbio.ISA(n_subspaces=m, subspace_size=s, max_iter=300, init=init,
                          random_state=0).fit(S @ A.T)
        M = isa.components_ @ A
        M = M / np.linalg.norm(M, axis=1, keepdims=True)
        E = (M ** 2).reshape(m, s, m, s).sum(axis=(1, 3))
        ax = fig.add_subplot(grid[:, col])
        ax.imshow(E, cmap="Blues", vmin=0, vmax=s)
        ax.set_title(f"init={init!r}\ndistance {subspace_distance(isa.components_, A, s):.3f}",
                     fontsize=9)
        ax.set_xlabel("true subspace")
        ax.set_ylabel("learnt subspace")
        ax.set_xticks(range(m))
        ax.set_yticks(range(m))
    fig.suptitle("StackedISA layer-1 filters on the digits (pairs = subspaces); "
                 "planted-subspace energy", fontsize=10)
    fig.tight_layout()
    save(fig, "isa.png")


def gsn_figure():
    """docs/models/gsn.md: a 2-d Gaussian mixture and GSN chain samples (plain DAE and
    walkback), and denoised chain states of a GSN on the digits."""
    from deepbio.datasets import load_digits
    rng = np.random.default_rng(0)
    means = np.array([[-2.0, 0.0], [2.0, 1.0], [0.0, 3.0]])
    X = means[rng.choice(3, 3000, p=[0.3, 0.5, 0.2])] + 0.5 * rng.standard_normal((3000, 2))
    fig = Figure(figsize=(14, 3.8))
    axes = fig.subplots(1, 4, width_ratios=[1, 1, 1, 1.7])
    axes[0].scatter(*X[:1500].T, s=2, color="0.4")
    axes[0].set_title("data (3 Gaussians)")
    for ax, wb in zip(axes[1:3], (1, 2)):
        g = deepbio.GSN(n_components=64, walkback=wb, corruption_level=0.3, max_iter=100,
                        random_state=0).fit(X)
        S = g.sample(1500, n_steps=200, random_state=1)
        ax.scatter(*S.T, s=2, color="C0" if wb == 1 else "C1")
        ax.set_title(f"GSN chain, walkback={wb}")
    for ax in axes[:3]:
        ax.set_xlim(-4, 4)
        ax.set_ylim(-2, 5)
        ax.set_aspect("equal")
    D, _ = load_digits(return_X_y=True)
    p = np.random.default_rng(0).permutation(len(D))
    train, test = D[p[:1200]], D[p[1200:1206]]
    walk = deepbio.GSN(walkback=2, corruption_level=0.5, max_iter=30, random_state=0).fit(train)
    plain = deepbio.GSN(walkback=1, corruption_level=0.5, max_iter=60, random_state=0).fit(train)
    noisy = test + walk.scale_ * np.random.default_rng(5).standard_normal(test.shape)
    rows = [test, noisy, plain.reconstruct(noisy), walk.reconstruct(noisy)]
    tiles = np.clip(np.array(rows), 0, 16).reshape(4, 6, 8, 8).transpose(0, 2, 1, 3)
    axes[3].imshow(tiles.reshape(32, 48), cmap="gray_r", interpolation="nearest")
    axes[3].set_xticks([])
    axes[3].set_yticks([4, 12, 20, 28])
    axes[3].set_yticklabels(["clean", "noise 1 sd", "plain DAE", "walkback 2"], fontsize=8)
    axes[3].set_title("held-out digits denoised")
    fig.tight_layout()
    save(fig, "gsn.png")


def conv_rbm_figure():
    """docs/models/conv_rbm.md: ConvRBM filters on the digits (3 x 3, 24 filters) and the
    first-layer filters of a ConvRBM on sequences with a planted AP-1 motif (TGACTCA)."""
    from deepbio.datasets import load_digits, make_motif_sequences
    from deepbio.datasets.encoding import one_hot
    D, _ = load_digits(return_X_y=True)
    p = np.random.default_rng(0).permutation(len(D))
    m = deepbio.ConvRBM(n_filters=24, filter_size=3, pool_size=2, n_iter=15,
                        sparsity_weight=1.0, sparsity_target=0.1,
                        random_state=0).fit((D[p[:1000]] / 16.0).reshape(-1, 1, 8, 8))
    S = one_hot(make_motif_sequences(n=600, length=40, frac_positive=1.0,
                                     random_state=0)[0])[0]
    s = deepbio.ConvRBM(n_filters=8, filter_size=7, pool_size=34, n_iter=10,
                        learning_rate=0.3, sparsity_weight=1.0, sparsity_target=0.02,
                        random_state=0).fit(S)
    fig = Figure(figsize=(12, 3.6))
    axes = fig.subplots(1, 2, width_ratios=[1, 1.6])
    W = m.W_[:, 0]
    W = (W - W.min(axis=(1, 2), keepdims=True)) / np.ptp(W, axis=(1, 2), keepdims=True)
    tiles = np.ones((4, 6, 4, 4))
    tiles[:, :, :3, :3] = W.reshape(4, 6, 3, 3)
    axes[0].imshow(tiles.transpose(0, 2, 1, 3).reshape(16, 24), cmap="gray",
                   interpolation="nearest")
    axes[0].set_axis_off()
    axes[0].set_title("digits: 24 filters (3 x 3)")
    F = s.W_ - s.W_.mean(axis=1, keepdims=True)              # (8, 4, 7), centred per position
    tiles = np.full((8, 5, 7), np.nan)
    tiles[:, :4] = F
    axes[1].imshow(tiles.reshape(40, 7).T, cmap="RdBu_r", interpolation="nearest",
                   aspect="auto", vmin=-np.nanmax(np.abs(F)), vmax=np.nanmax(np.abs(F)))
    axes[1].set_yticks(range(7))
    axes[1].set_yticklabels([f"pos {i + 1}" for i in range(7)], fontsize=7)
    axes[1].set_xticks([5 * k + j for k in range(8) for j in range(4)])
    axes[1].set_xticklabels(list("ACGT") * 8, fontsize=6)
    axes[1].set_title("sequences with planted TGACTCA: 8 filters (A C G T x 7 positions)")
    fig.tight_layout()
    save(fig, "conv_rbm.png")


def features_plus_raw():
    """The recipe of docs/explain.md: held-out accuracy of a logistic regression on the
    raw data, on learnt features, and on both side by side (``include_input=True``);
    mean and standard deviation over 3 stratified 70/30 splits.  Returns the table."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from deepbio.datasets import MinMaxScaler, load_breast_cancer, load_digits

    def learners(visible, seed, include_input):
        return {"DBN": deepbio.DBN((64,), visible=visible, n_iter=30,
                                   learning_rate=0.01 if visible == "gaussian" else "auto",
                                   include_input=include_input, random_state=seed),
                "stacked AE": deepbio.StackedAutoEncoder((64,), max_iter=30,
                                                         include_input=include_input,
                                                         random_state=seed)}

    sets = (("digits", load_digits, MinMaxScaler, "bernoulli"),
            ("breast cancer", load_breast_cancer, StandardScaler, "gaussian"))
    table = {}
    for name, load, Scaler, visible in sets:
        X, y = load(return_X_y=True)
        for seed in range(3):
            Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, random_state=seed,
                                                  stratify=y)
            runs = {"raw": make_pipeline(Scaler(), LogisticRegression(max_iter=3000))}
            for inc in (False, True):
                for lname, learner in learners(visible, seed, inc).items():
                    runs[f"{lname}{' + raw' if inc else ''}"] = make_pipeline(
                        Scaler(), learner, LogisticRegression(max_iter=3000))
            for what, pipe in runs.items():
                table.setdefault(name, {}).setdefault(what, []).append(
                    pipe.fit(Xtr, ytr).score(Xte, yte))
    fig = Figure(figsize=(8, 3.6))
    axes = fig.subplots(1, 2)
    for ax, (name, rows) in zip(axes, table.items()):
        labels = list(rows)
        means = [np.mean(rows[k]) for k in labels]
        sds = [np.std(rows[k]) for k in labels]
        ax.barh(labels, means, xerr=sds, color=["0.5"] + ["C0", "C1"] * 2)
        ax.set_xlim(min(means) - 0.05, 1.0)
        ax.set_xlabel("held-out accuracy (logistic regression)")
        ax.set_title(name)
        ax.invert_yaxis()
    fig.tight_layout()
    save(fig, "features_plus_raw.png")
    for name, rows in table.items():
        print(name, {k: f"{np.mean(v):.3f} +- {np.std(v):.3f}" for k, v in rows.items()})
    return table


if __name__ == "__main__":
    if sys.argv[1:]:                  # e.g. ``python docs/make_figures.py isa gsn``
        os.makedirs(HERE, exist_ok=True)
        deepbio.set_backend("numpy")
        for part in sys.argv[1:]:
            globals()[f"{part}_figure"]()
        sys.exit(0)
    sys.exit(main())
