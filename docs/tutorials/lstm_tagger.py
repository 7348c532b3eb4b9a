"""Tutorial: an LSTM tagger marks, base by base, where a binding site lies in DNA
sequences of different lengths (padding and masks), one direction against two.

Run it as ``python docs/tutorials/lstm_tagger.py [OUT_DIR]``: it prints what the page
shows and writes ``lstm_tagger_positions.png`` and ``lstm_tagger_example.png`` to
OUT_DIR (default: the current directory).  The documentation build runs it
(docs/hooks.py).
"""
import sys
from pathlib import Path

import numpy as np

out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(".")

# --8<-- [start:data]
import deepbio
from deepbio.datasets import make_motif_sequences, one_hot

MOTIF = "TGACTCA"                      # the AP-1 site, planted on either strand
seqs, where = [], []
for i, length in enumerate((16, 20, 24)):     # three lengths, 300 sequences each
    s, _, w = make_motif_sequences(n=300, length=length, motif=MOTIF, frac_positive=0.7,
                                   random_state=i, return_positions=True)
    seqs += s
    where += list(w)
order = np.random.default_rng(0).permutation(len(seqs))
seqs = [seqs[i] for i in order]
where = np.array(where)[order]         # planted position, -1 in a negative

X, mask = one_hot(seqs)                # padded to the longest: (N, 24, 4), mask (N, 24)
tags = np.zeros(mask.shape, dtype=np.int64)        # 1 on the site's bases, else 0
for n, w in enumerate(where):
    if w >= 0:
        tags[n, w:w + len(MOTIF)] = 1
print("X", X.shape, "real positions per sequence", sorted(set(mask.sum(axis=1).tolist())),
      "fraction of real positions tagged 1:", f"{tags[mask].mean():.3f}")
print(seqs[0])
print("".join(str(t) for t in tags[0, :mask[0].sum()]))
train, test = slice(0, 600), slice(600, None)
# --8<-- [end:data]

# --8<-- [start:fit]
taggers = {}
for name, bidirectional in (("forward LSTM", False), ("bidirectional LSTM", True)):
    taggers[name] = deepbio.RNNTagger(cell="lstm", units=16, bidirectional=bidirectional,
                                      learning_rate=0.1, max_iter=20, batch_size=20,
                                      random_state=0)
    taggers[name].fit(X[train], tags[train], mask=mask[train])
# --8<-- [end:fit]

# --8<-- [start:evaluate]
real = mask[test]
site = real & (tags[test] == 1)
results = {}
for name, tagger in taggers.items():
    pred = tagger.predict(X[test], mask=mask[test])
    hit = pred == tags[test]
    # accuracy at each position of the padded layout, over the sequences that reach it
    per_position = hit.sum(axis=0, where=real) / real.sum(axis=0)
    # accuracy at each base of the site (0 = its first base), over the positives
    pos = np.flatnonzero(where[test] >= 0)
    in_site = np.array([[hit[i, where[test][i] + j] for j in range(len(MOTIF))]
                        for i in pos]).mean(axis=0)
    results[name] = (tagger.score(X[test], tags[test], mask=mask[test]),
                     hit[site].mean(), per_position, in_site)
    print(f"{name:18s}  accuracy over real positions {results[name][0]:.3f}   "
          f"on the site's bases {results[name][1]:.3f}")
    print("  per position:     ", " ".join(f"{a:.2f}" for a in per_position))
    print("  per base of site: ", " ".join(f"{a:.2f}" for a in in_site))
fwd, bi = results["forward LSTM"], results["bidirectional LSTM"]
assert bi[0] >= 0.97 and bi[1] >= 0.9
assert bi[1] > fwd[1] + 0.05          # the site's first bases need what follows them
assert fwd[3][0] < 0.2 and fwd[3][2:].min() >= 0.9   # forward: from the third base on
# padding changes nothing: the same sequence alone, unpadded, gets the same tags
n = 600 + int(np.argmin(mask[test].sum(axis=1)))        # a short held-out sequence
L = int(mask[n].sum())
alone = taggers["bidirectional LSTM"].predict(X[n:n + 1, :L])
padded = taggers["bidirectional LSTM"].predict(X[n:n + 1], mask=mask[n:n + 1])
assert (alone[0] == padded[0, :L]).all()
print(f"sequence {n} (length {L}): the same tags alone as padded to {mask.shape[1]}")
# --8<-- [end:evaluate]

# --8<-- [start:plots]
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from deepbio import plot

fig, axes = plt.subplots(1, 2, figsize=(9, 3))
for name, (_, _, per_position, in_site) in results.items():
    axes[0].plot(np.arange(len(per_position)), per_position, marker="o", label=name)
    axes[1].plot(np.arange(len(in_site)), in_site, marker="o", label=name)
axes[0].set(xlabel="position in the sequence", ylabel="held-out accuracy")
axes[1].set(xlabel="base of the planted site", ylabel="held-out accuracy")
axes[1].set_xticks(np.arange(len(MOTIF)))
axes[0].legend()
fig.tight_layout()
plot.save_figure(fig, out / "lstm_tagger_positions.png")

# one held-out positive: the true tags and each tagger's probability of "site"
n = 600 + int(np.flatnonzero(where[test] >= 0)[0])
L = int(mask[n].sum())
fig, ax = plt.subplots(figsize=(8, 2.6))
ax.bar(np.arange(L), tags[n, :L], color="0.85", label="planted site")
for name, tagger in taggers.items():
    p = tagger.predict_proba(X[n:n + 1], mask=mask[n:n + 1])[0, :L, 1]
    ax.plot(np.arange(L), p, marker=".", label=f"{name}: p(site)")
ax.set_xticks(np.arange(L), list(seqs[n]))
ax.set(ylabel="probability", title=f"held-out sequence {n}")
ax.legend(fontsize=7, loc="upper right")
fig.tight_layout()
plot.save_figure(fig, out / "lstm_tagger_example.png")
# --8<-- [end:plots]
