"""Tutorial: an RBM on the bundled 8x8 digits -- its filters and its pseudo-likelihood.

Run it as ``python docs/tutorials/rbm_digits.py [OUT_DIR]``: it prints what the page
shows and writes ``rbm_digits_filters.png`` and ``rbm_digits_curves.png`` to OUT_DIR
(default: the current directory).  The documentation build runs it (docs/hooks.py).
"""
import sys
from pathlib import Path

import numpy as np

out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(".")

# --8<-- [start:data]
import deepbio
from deepbio.datasets import load_digits, train_test_split

X, y = load_digits(return_X_y=True)
X = X / 16.0                                   # pixels in [0, 1]: Bernoulli visibles
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y,
                                                    random_state=0)
print("train", X_train.shape, "test", X_test.shape)
# --8<-- [end:data]

# --8<-- [start:fit]
rbm = deepbio.RBM(n_components=64, visible="bernoulli", learning_rate=0.05,
                  n_iter=30, batch_size=20, k=1, random_state=0)
rbm.fit(X_train)
for h in rbm.history_[::5] + [rbm.history_[-1]]:
    print(f"epoch {h['epoch']:2d}  reconstruction error {h['reconstruction_error']:.4f}"
          f"  pseudo-likelihood {h['pseudo_likelihood']:8.3f}")
# --8<-- [end:fit]

# --8<-- [start:score]
# pseudo-likelihood per sample, sum_i log p(v_i | v_-i) estimated with one flipped bit:
# the trained RBM against an untrained one (fit for no epoch) and on held-out digits
untrained = deepbio.RBM(n_components=64, n_iter=0, random_state=0).fit(X_train)
pl_train = rbm.score_samples(X_train).mean()
pl_test = rbm.score_samples(X_test).mean()
pl_untrained = untrained.score_samples(X_test).mean()
print(f"mean pseudo-likelihood: train {pl_train:.2f}, test {pl_test:.2f}, "
      f"untrained on test {pl_untrained:.2f}")
assert pl_test > pl_untrained + 3           # training raised it by several nats
assert rbm.history_[-1]["reconstruction_error"] < rbm.history_[0]["reconstruction_error"] / 2
# --8<-- [end:score]

# --8<-- [start:features]
# the hidden probabilities as features for a linear classifier (nearest class mean
# here, to stay within deepbio): are the filters useful beyond the pixels?
def nearest_mean_accuracy(F_train, F_test):
    means = np.stack([F_train[y_train == c].mean(axis=0) for c in range(10)])
    d = ((F_test[:, None, :] - means[None]) ** 2).sum(axis=2)
    return float((d.argmin(axis=1) == y_test).mean())

print(f"nearest-class-mean accuracy: pixels {nearest_mean_accuracy(X_train, X_test):.3f}, "
      f"RBM features {nearest_mean_accuracy(rbm.transform(X_train), rbm.transform(X_test)):.3f}")
assert nearest_mean_accuracy(rbm.transform(X_train), rbm.transform(X_test)) >= 0.85
# --8<-- [end:features]

# --8<-- [start:plots]
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from deepbio import plot

fig, ax = plt.subplots(figsize=(5, 5))
plot.filters(rbm, ax=ax, image_shape=(8, 8))
ax.set_title("the 64 filters (columns of W)")
plot.save_figure(fig, out / "rbm_digits_filters.png")

fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
epochs = [h["epoch"] for h in rbm.history_]
axes[0].plot(epochs, [h["reconstruction_error"] for h in rbm.history_])
axes[0].set(xlabel="epoch", ylabel="reconstruction error")
axes[1].plot(epochs, [h["pseudo_likelihood"] for h in rbm.history_])
axes[1].set(xlabel="epoch", ylabel="pseudo-likelihood")
fig.tight_layout()
plot.save_figure(fig, out / "rbm_digits_curves.png")
# --8<-- [end:plots]
