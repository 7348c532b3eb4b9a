"""Case study: discovering two transcription-factor binding motifs from labelled
sequences with a CNN, and checking the discovery against the planted truth.

Run it as ``python docs/case_studies/motif_discovery.py [OUT_DIR]``: it prints what the
page shows and writes ``motif_discovery_logos.png``, ``motif_discovery_sites.png`` and
``motif_discovery.meme`` to OUT_DIR (default: the current directory).  The
documentation build runs it (docs/hooks.py).
"""
import sys
from pathlib import Path

import numpy as np

out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(".")

# --8<-- [start:data]
import deepbio
from deepbio import explain
from deepbio.datasets import make_motif_sequences, one_hot

MOTIFS = {"AP-1": "TGACTCA", "GATA": "AGATAAG"}
LENGTH = 50
# class 0: background; class 1: one AP-1 site; class 2: one GATA site (either strand),
# each planted base mutated with probability 0.05, as real sites are rarely perfect
bg, _ = make_motif_sequences(n=500, length=LENGTH, frac_positive=0.0, random_state=0)
ap1, _, ap1_at = make_motif_sequences(n=500, length=LENGTH, motif=MOTIFS["AP-1"],
                                      frac_positive=1.0, mutation_rate=0.05,
                                      random_state=1, return_positions=True)
gata, _, gata_at = make_motif_sequences(n=500, length=LENGTH, motif=MOTIFS["GATA"],
                                        frac_positive=1.0, mutation_rate=0.05,
                                        random_state=2, return_positions=True)
seqs = bg + ap1 + gata
y = np.repeat([0, 1, 2], 500)
site = np.concatenate([np.full(500, -1), ap1_at, gata_at])
order = np.random.default_rng(0).permutation(len(seqs))
seqs, y, site = [seqs[i] for i in order], y[order], site[order]
X, mask = one_hot(seqs)
train, test = slice(0, 1000), slice(1000, None)
print("sequences", X.shape, "per class", np.bincount(y).tolist())
# --8<-- [end:data]

# --8<-- [start:fit]
cnn = deepbio.CNNClassifier(filters=8, kernel_size=9, hidden_layer_sizes=(), max_iter=25,
                            learning_rate=0.05, random_state=0)
cnn.fit(X[train], y[train], mask=mask[train])
accuracy = cnn.score(X[test], y[test], mask=mask[test])
pred = cnn.predict(X[test], mask=mask[test])
per_class = [float((pred[y[test] == k] == k).mean()) for k in range(3)]
print(f"held-out accuracy {accuracy:.3f}; per class (background, AP-1, GATA) "
      + ", ".join(f"{a:.3f}" for a in per_class))
assert accuracy >= 0.85 and min(per_class) >= 0.8


def near_copy(seq, motif, mismatches=1):
    """Does seq hold a window within `mismatches` of motif, on either strand?"""
    rc = motif[::-1].translate(str.maketrans("ACGT", "TGCA"))
    return any(sum(a != b for a, b in zip(seq[i:i + len(motif)], m)) <= mismatches
               for m in (motif, rc) for i in range(len(seq) - len(motif) + 1))


chance = np.mean([any(near_copy(seqs[n], m) for m in MOTIFS.values())
                  for n in np.flatnonzero(y == 0)])
print(f"background sequences holding a near-copy (<= 1 mismatch) of a motif by chance: "
      f"{chance:.2f}")
# --8<-- [end:fit]

# --8<-- [start:motifs]
motifs = explain.filter_motifs(cnn, X[train], mask=mask[train], top=100)
planted = {name: explain.Motif(name, one_hot([m])[0][0] * 0.96 + 0.01)
           for name, m in MOTIFS.items()}
best = {}
for name, known in planted.items():
    matches = [explain.compare_motifs(m, known) for m in motifs]
    i = int(np.argmax([r for r, _, _ in matches]))
    best[name] = (motifs[i], *matches[i])
    r, offset, strand = matches[i]
    print(f"{name} ({MOTIFS[name]}): best filter {motifs[i].name}, consensus "
          f"{motifs[i].consensus}, r = {r:.2f} (offset {offset}, strand {strand}), "
          f"{motifs[i].n_sites} sites, IC {motifs[i].information_content:.1f} bits")
    assert r >= 0.8
assert best["AP-1"][0].name != best["GATA"][0].name      # two filters, one per motif

explain.write_meme([best[name][0] for name in MOTIFS], out / "motif_discovery.meme")
back = explain.read_meme(out / "motif_discovery.meme")
print("written to motif_discovery.meme:", [(m.name, m.consensus) for m in back])
assert [m.name for m in back] == [best[name][0].name for name in MOTIFS]
# --8<-- [end:motifs]

# --8<-- [start:sites]
# integrated gradients on every held-out sequence that carries a site: how many of the
# 7 positions with the largest attribution fall on the planted site?
idx = 1000 + np.flatnonzero(y[test] > 0)
A = explain.attributions(cnn, X[idx], method="integrated_gradients", target=y[idx],
                         mask=mask[idx])
score = np.abs(A).sum(axis=2)                                    # (n, L) per position
hits = []
for row, n in enumerate(idx):
    top = np.argsort(-score[row])[:7]
    hits.append(((top >= site[n]) & (top < site[n] + 7)).mean())
hits = np.array(hits)
for k, name in ((1, "AP-1"), (2, "GATA")):
    print(f"{name}: {hits[y[idx] == k].mean():.2f} of the top-7 attribution positions lie "
          f"on the planted site (chance {7 / LENGTH:.2f}), over {(y[idx] == k).sum()} "
          "held-out sequences")
    assert hits[y[idx] == k].mean() >= 0.6
# the sites that carry a mismatch, against the perfect copies
perfect = np.array([near_copy(seqs[n][site[n]:site[n] + 7], MOTIFS[list(MOTIFS)[y[n] - 1]],
                              mismatches=0) for n in idx])
print(f"on perfect sites {hits[perfect].mean():.2f} ({perfect.sum()} sequences), "
      f"on sites with a mismatch {hits[~perfect].mean():.2f} ({(~perfect).sum()})")
assert hits[perfect].mean() > hits[~perfect].mean()
# --8<-- [end:sites]

# --8<-- [start:plots]
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from deepbio import plot

fig, axes = plt.subplots(2, 2, figsize=(9, 4))
for row, name in enumerate(MOTIFS):
    m, r, offset, strand = best[name]
    plot.sequence_logo(planted[name], ax=axes[row, 0], title=f"planted {name}")
    plot.sequence_logo(m, ax=axes[row, 1],
                       title=f"{m.name}, learnt (r = {r:.2f}, strand {strand})")
fig.tight_layout()
plot.save_figure(fig, out / "motif_discovery_logos.png")

fig, axes = plt.subplots(2, 1, figsize=(9, 4.6))
for ax, k in zip(axes, (1, 2)):
    row = int(np.flatnonzero(y[idx] == k)[0])
    n = idx[row]
    plot.saliency_track(A[row], sequence=seqs[n], ax=ax, mask=mask[n],
                        title=f"{list(MOTIFS)[k - 1]} sequence {n}: site at "
                              f"{site[n]}..{site[n] + 6}")
fig.tight_layout()
plot.save_figure(fig, out / "motif_discovery_sites.png")
# --8<-- [end:plots]
