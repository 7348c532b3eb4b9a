"""Tutorial: a plain, a denoising and a sparse autoencoder on the bundled 8x8 digits --
reconstruction of held-out digits under corruption, hidden-unit sparsity, filters.

Run it as ``python docs/tutorials/autoencoders.py [OUT_DIR]``: it prints what the page
shows and writes ``autoencoders_filters.png`` and ``autoencoders_reconstructions.png``
to OUT_DIR (default: the current directory).  The documentation build runs it
(docs/hooks.py).
"""
import sys
from pathlib import Path

import numpy as np

out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(".")

# --8<-- [start:data]
import deepbio
from deepbio.datasets import load_digits, train_test_split

X, y = load_digits(return_X_y=True)
X = X / 16.0                                   # pixels in [0, 1]
X_train, X_test = train_test_split(X, test_size=0.25, random_state=0)

# held-out digits with 30% of their pixels set to 0 (masking noise), one fixed draw
rng = np.random.default_rng(0)
X_test_masked = X_test * (rng.random(X_test.shape) >= 0.3)
print("train", X_train.shape, "test", X_test.shape,
      f"ink pixels zeroed in the masked copy: {(X_test_masked != X_test).sum() / (X_test > 0).sum():.2f}")
# --8<-- [end:data]

# --8<-- [start:fit]
common = dict(n_components=64, loss="cross_entropy", learning_rate=0.1,
              max_iter=30, batch_size=32, random_state=0)
models = {
    "plain": deepbio.AutoEncoder(**common),
    "denoising": deepbio.AutoEncoder(corruption="mask", corruption_level=0.3, **common),
    "sparse": deepbio.AutoEncoder(sparsity_target=0.05, sparsity_weight=3.0, **common),
}
for model in models.values():
    model.fit(X_train)
# --8<-- [end:fit]

# --8<-- [start:evaluate]
def error(model, X_in):
    """Mean squared error per digit between the reconstruction of X_in and the clean
    held-out digits (summed over the 64 pixels)."""
    return float(((model.reconstruct(X_in) - X_test) ** 2).sum(axis=1).mean())

rows = {}
print("| model     | error, clean input | error, 30% masked input | mean activation |"
      " units active > 0.5 |")
for name, model in models.items():
    H = model.transform(X_test)                # hidden probabilities, (n, 64)
    rows[name] = (error(model, X_test), error(model, X_test_masked), H.mean(),
                  (H > 0.5).mean())
    print(f"| {name:9s} | {rows[name][0]:18.2f} | {rows[name][1]:23.2f} |"
          f" {rows[name][2]:15.3f} | {rows[name][3]:18.3f} |")

# the denoising autoencoder repairs masked digits better than the plain one ...
assert rows["denoising"][1] < 0.8 * rows["plain"][1]
# ... and the sparse one keeps its hidden units mostly off
assert rows["sparse"][2] < 0.5 * rows["plain"][2]
assert rows["sparse"][3] < rows["plain"][3]
# the plain one copies clean digits best; both others repair masked ones better than it
assert rows["plain"][0] == min(r[0] for r in rows.values())
assert rows["sparse"][1] < rows["plain"][1]
# --8<-- [end:evaluate]

# --8<-- [start:plots]
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from deepbio import plot

fig, axes = plt.subplots(1, 3, figsize=(11, 4))
for ax, (name, model) in zip(axes, models.items()):
    plot.filters(model, ax=ax, image_shape=(8, 8))
    ax.set_title(f"{name}: the 64 filters")
fig.tight_layout()
plot.save_figure(fig, out / "autoencoders_filters.png")

# six held-out digits: clean, masked, and each model's reconstruction of the masked one
show = np.arange(6)
rows_img = [("clean", X_test[show]), ("masked", X_test_masked[show])] + \
    [(name, model.reconstruct(X_test_masked[show])) for name, model in models.items()]
fig, axes = plt.subplots(len(rows_img), len(show), figsize=(6, 5))
for r, (label, imgs) in enumerate(rows_img):
    for c in range(len(show)):
        axes[r, c].imshow(imgs[c].reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
        axes[r, c].set_xticks([]), axes[r, c].set_yticks([])
    axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center")
fig.tight_layout()
plot.save_figure(fig, out / "autoencoders_reconstructions.png")
# --8<-- [end:plots]
