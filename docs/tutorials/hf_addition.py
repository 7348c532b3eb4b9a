"""Tutorial: Hessian-free optimisation against SGD on the addition problem (short
sequences, T = 20), at the same counted cost.

Run it as ``python docs/tutorials/hf_addition.py [OUT_DIR]``: it prints what the page
shows and writes ``hf_addition_curves.png`` to OUT_DIR (default: the current
directory).  The documentation build runs it (docs/hooks.py).
"""
import sys
from pathlib import Path

import numpy as np

out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(".")

# --8<-- [start:data]
import deepbio
from deepbio.datasets import make_addition_problem
from deepbio.nn import Dense, Elman, Network
from deepbio.optim import SGD, HessianFree

# small matrices (20 units): threads cost more than they save, so one thread
# (deepbio.set_num_threads; see docs/performance.md)
deepbio.set_num_threads(1)

T = 20
X, y = make_addition_problem(1000, T, random_state=0, dtype=np.float32)
X_test, y_test = make_addition_problem(500, T, random_state=1, dtype=np.float32)
print("X", X.shape, "y", y.shape, "first sequence, marked steps:",
      np.flatnonzero(X[0, :, 1]).tolist(), "target", float(y[0, 0]))


def rnn():
    """An Elman RNN of 20 tanh units, a linear read-out, squared error; seed 0."""
    return Network([Elman(20, "tanh"), Dense(1)], "squared_error",
                   dtype="float32").build((T, 2), random_state=0)


def mae(net):
    return float(np.abs(np.asarray(net.predict(X_test)) - y_test).mean())


print(f"held-out MAE of predicting the mean (1): {np.abs(y_test - 1).mean():.3f}")
# --8<-- [end:data]

# --8<-- [start:hf]
BUDGET = 80_000            # counted gradient evaluations (one = one example's gradient)
hf_net, hf_curve = rnn(), []
hf = HessianFree(max_iter=10**6, max_cost=BUDGET, gradient_batch_size=1000,
                 curvature_batch_size=100, cg_max_iter=15, preconditioner=False,
                 structural_damping=1 / 30, random_state=0)
history = hf.minimize(hf_net, X, y,
                      callback=lambda h: hf_curve.append((h["cost"], mae(hf_net))) and False)
products = sum(h["cg_iters"] for h in history)
print(f"HF: {len(history)} iterations = {len(history)} gradients on 1000 sequences and "
      f"{products} Gauss-Newton products on 100; "
      f"{sum(h['step_size'] == 0 for h in history)} rejected steps; "
      f"counted cost {history[-1]['cost']:.0f}; held-out MAE {mae(hf_net):.3f}")
# --8<-- [end:hf]

# --8<-- [start:sgd]
epochs = int(np.ceil(BUDGET / len(X)))        # an SGD epoch over n examples costs n
sgd_curves = {}
# 0.03: the best of 0.003, 0.01, 0.03 and 0.1 at this budget when this page was
# written (MAE 0.156, 0.124, 0.090, 0.092); only it is run here, to keep the build short
for lr in (0.03,):
    net, curve = rnn(), []
    SGD(learning_rate=lr, momentum=0.9, batch_size=20, clip_norm=1.0, max_epochs=epochs,
        random_state=0).minimize(
            net, X, y, callback=lambda h: curve.append(((h["epoch"] + 1) * len(X), mae(net)))
            and False)
    sgd_curves[lr] = curve
    print(f"SGD, learning rate {lr}: {epochs} epochs, counted cost {epochs * len(X)}, "
          f"held-out MAE {curve[-1][1]:.3f} (best epoch {min(m for _, m in curve):.3f})")
best_sgd = min(c[-1][1] for c in sgd_curves.values())
assert mae(hf_net) < 0.05 and mae(hf_net) < 0.6 * best_sgd
assert best_sgd < 0.2                         # SGD has left the plateau too, more slowly
# --8<-- [end:sgd]

# --8<-- [start:plots]
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from deepbio import plot

fig, ax = plt.subplots(figsize=(6, 3.4))
ax.plot(*zip(*hf_curve), marker=".", label="Hessian-free")
for lr, curve in sgd_curves.items():
    ax.plot(*zip(*curve), alpha=0.8, label=f"SGD, lr {lr}")
ax.axhline(np.abs(y_test - 1).mean(), color="0.6", ls="--", label="predict the mean")
ax.set(xlabel="counted cost (gradient evaluations)", ylabel="held-out MAE", yscale="log")
ax.legend()
fig.tight_layout()
plot.save_figure(fig, out / "hf_addition_curves.png")
# --8<-- [end:plots]
