"""Tutorial: a DBN on the bundled breast-cancer data, with greedy RBM pre-training
against none (the same network from a random start).

Run it as ``python docs/tutorials/dbn_breast_cancer.py [OUT_DIR]``: it prints what the
page shows and writes ``dbn_breast_cancer_curves.png`` to OUT_DIR (default: the current
directory).  The documentation build runs it (docs/hooks.py).
"""
import sys
from pathlib import Path

import numpy as np

out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(".")

# --8<-- [start:data]
import deepbio
from deepbio.datasets import MinMaxScaler, load_breast_cancer, train_test_split

data = load_breast_cancer()
X_train, X_test, y_train, y_test = train_test_split(data.data, data.target, test_size=0.3,
                                                    stratify=data.target, random_state=0)
scaler = MinMaxScaler().fit(X_train)          # Bernoulli visibles: features in [0, 1]
X_train, X_test = scaler.transform(X_train), np.clip(scaler.transform(X_test), 0, 1)
print("train", X_train.shape, "test", X_test.shape, "classes", data.target_names)
# --8<-- [end:data]

# --8<-- [start:fit]
SEEDS = (0, 1, 2)
EPOCHS = 8
common = dict(hidden_layer_sizes=(64, 32), learning_rate=0.05, max_iter=EPOCHS,
              batch_size=32)
results = {}
for name, pretrain_epochs in (("pre-trained", 10), ("random start", 0)):
    accs, curves = [], []
    for seed in SEEDS:
        dbn = deepbio.DBNClassifier(pretrain_epochs=pretrain_epochs, random_state=seed,
                                    **common).fit(X_train, y_train)
        accs.append(dbn.score(X_test, y_test))
        curves.append([h["loss"] for h in dbn.history_])
    results[name] = (np.array(accs), np.array(curves))

print(f"held-out accuracy after {EPOCHS} fine-tuning epochs (seeds {SEEDS}):")
print("| start        | " + " | ".join(f"seed {s}" for s in SEEDS) + " | mean  |")
for name, (accs, _) in results.items():
    print(f"| {name:12s} | " + " | ".join(f"{a:.3f} " for a in accs)
          + f" | {accs.mean():.3f} |")
pre, rnd = results["pre-trained"][0], results["random start"][0]
assert pre.min() >= 0.92
assert pre.mean() > rnd.mean() + 0.05        # pre-training helps, on every seed
assert (pre > rnd).all()
# --8<-- [end:fit]

# --8<-- [start:plots]
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from deepbio import plot

fig, ax = plt.subplots(figsize=(5.5, 3.2))
for (name, (_, curves)), colour in zip(results.items(), ("C0", "C1")):
    for i, c in enumerate(curves):
        ax.plot(np.arange(1, len(c) + 1), c, colour, alpha=0.8,
                label=name if i == 0 else None)
ax.set(xlabel="fine-tuning epoch", ylabel="training loss (cross-entropy)", yscale="log")
ax.legend()
fig.tight_layout()
plot.save_figure(fig, out / "dbn_breast_cancer_curves.png")
# --8<-- [end:plots]
