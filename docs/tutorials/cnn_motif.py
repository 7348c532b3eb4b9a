"""Tutorial: a CNN finds a planted motif in DNA, and its first-layer filter reads back
as the motif.

Run it as ``python docs/tutorials/cnn_motif.py [OUT_DIR]``: it prints what the page
shows and writes ``cnn_motif_logos.png`` and ``cnn_motif_saliency.png`` to OUT_DIR
(default: the current directory).  The documentation build runs it (docs/hooks.py).
"""
import sys
from pathlib import Path

import numpy as np

out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(".")

# --8<-- [start:data]
import deepbio
from deepbio import explain
from deepbio.datasets import make_motif_sequences, one_hot

MOTIF = "TGACTCA"                      # the AP-1 site, planted in half the sequences
seqs, y, where = make_motif_sequences(n=1500, length=40, motif=MOTIF, random_state=0,
                                      return_positions=True)
X, mask = one_hot(seqs)                # (N, L, 4) one-hot, and the real positions
print(seqs[0], "label", y[0])
print("X", X.shape, "positives", int(y.sum()))
train, test = slice(0, 1000), slice(1000, None)
# --8<-- [end:data]

# --8<-- [start:fit]
cnn = deepbio.CNNClassifier(filters=8, kernel_size=9, hidden_layer_sizes=(), max_iter=25,
                            learning_rate=0.05, random_state=0)
cnn.fit(X[train], y[train], mask=mask[train])
accuracy = cnn.score(X[test], y[test], mask=mask[test])
print(f"held-out accuracy {accuracy:.3f}")
assert accuracy >= 0.9
# --8<-- [end:fit]

# --8<-- [start:motifs]
# each first-layer filter as a position weight matrix, from its strongest sites
motifs = explain.filter_motifs(cnn, X[train], mask=mask[train], top=100)
planted = explain.Motif("planted", one_hot([MOTIF])[0][0] * 0.96 + 0.01)  # rows sum to 1
scores = []
for m in motifs:
    r, offset, strand = explain.compare_motifs(m, planted)
    scores.append(r)
    print(f"{m.name}: consensus {m.consensus}  sites {m.n_sites:3d}  "
          f"IC {m.information_content:5.2f} bits  r = {r:+.2f} (offset {offset}, {strand})")
best = int(np.argmax(scores))
print(f"best match: {motifs[best].name}, correlation {scores[best]:.2f} with {MOTIF}")
assert scores[best] >= 0.8
# --8<-- [end:motifs]

# --8<-- [start:saliency]
# where the model looks: integrated gradients on one held-out positive sequence
n = 1000 + int(np.flatnonzero(y[test] == 1)[0])
A = explain.attributions(cnn, X[n:n + 1], method="integrated_gradients", target=1,
                         mask=mask[n:n + 1])[0]
score = np.abs(A).sum(axis=1)          # per position
top5 = np.sort(np.argsort(-score)[:5])
print(f"sequence {n}: motif planted at {where[n]}..{where[n] + len(MOTIF) - 1}, "
      f"the 5 largest |attributions| at {top5.tolist()}")
assert ((top5 >= where[n]) & (top5 < where[n] + len(MOTIF))).sum() >= 3
# --8<-- [end:saliency]

# --8<-- [start:plots]
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from deepbio import plot

fig = plot.filter_logos(motifs, ncols=4)
plot.save_figure(fig, out / "cnn_motif_logos.png")

fig, ax = plt.subplots(figsize=(9, 2.4))
plot.saliency_track(A, sequence=seqs[n], ax=ax, mask=mask[n],
                    title=f"integrated gradients, sequence {n}")
plot.save_figure(fig, out / "cnn_motif_saliency.png")
# --8<-- [end:plots]
