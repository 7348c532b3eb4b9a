"""Case study: classifying tumours from expression profiles, and ranking the genes the
classifier relies on.

Run it as ``python docs/case_studies/tumour_expression.py [OUT_DIR]``: it prints what
the page shows and writes ``tumour_expression_genes.png`` and
``tumour_expression_breast.png`` to OUT_DIR (default: the current directory).  The
documentation build runs it (docs/hooks.py).
"""
import sys
from pathlib import Path

import numpy as np

out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(".")

# --8<-- [start:simulate]
import deepbio
from deepbio import explain
from deepbio.datasets import StandardScaler, confusion_matrix, make_expression, \
    train_test_split

sim = make_expression(n_samples=300, n_genes=500, n_subtypes=3, n_markers=10,
                      effect_size=1.5, noise=1.0, random_state=0, return_bunch=True)
genes = np.array(sim.feature_names)
X_train, X_test, y_train, y_test = train_test_split(sim.data, sim.target, test_size=0.3,
                                                    stratify=sim.target, random_state=0)
scaler = StandardScaler().fit(X_train)       # per gene, from the training samples only
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
print("samples x genes:", sim.data.shape, " subtypes:", sim.target_names)
print("planted markers of subtype0:", ", ".join(genes[sim.markers[0]]))
# --8<-- [end:simulate]

# --8<-- [start:classify]
mlp = deepbio.MLPClassifier(hidden_layer_sizes=(32,), weight_decay=0.1, max_iter=40,
                            random_state=0).fit(X_train, y_train)
accuracy = mlp.score(X_test, y_test)
print(f"held-out accuracy {accuracy:.3f} on {len(y_test)} tumours")
print("confusion matrix (rows: true subtype, columns: predicted):")
print(confusion_matrix(y_test, mlp.predict(X_test)))
assert accuracy >= 0.9
# --8<-- [end:classify]

# --8<-- [start:rank]
ranking = explain.rank_features(mlp, X_test, names=list(genes), y=y_test)
planted = {k: set(genes[sim.markers[k]]) for k in range(3)}
all_planted = set().union(*planted.values())
for k in range(3):
    top = ranking.top(10, cls=k)
    own = sum(name in planted[k] for name, _ in top)
    print(f"subtype{k}: top 10 genes " + ", ".join(name for name, _ in top))
    print(f"          {own} of them are subtype{k}'s planted markers, "
          f"{sum(name in all_planted for name, _ in top)} are planted markers of any subtype")
    assert own >= 8 and sum(name in all_planted for name, _ in top) == 10
top30 = [name for name, _ in ranking.top(30)]
print(f"overall top 30: {sum(n in all_planted for n in top30)} of 30 are planted markers")
assert sum(n in all_planted for n in top30) >= 28
ranking.write_tsv(out / "tumour_expression_genes.tsv")     # class, rank, name, index, score
# --8<-- [end:rank]

# --8<-- [start:breast]
from deepbio.datasets import load_breast_cancer, precision_recall_f1

bc = load_breast_cancer()
Xb_train, Xb_test, yb_train, yb_test = train_test_split(bc.data, bc.target, test_size=0.3,
                                                        stratify=bc.target, random_state=0)
bscaler = StandardScaler().fit(Xb_train)
Xb_train, Xb_test = bscaler.transform(Xb_train), bscaler.transform(Xb_test)
clf = deepbio.MLPClassifier(hidden_layer_sizes=(16,), weight_decay=1e-3, max_iter=40,
                            random_state=0).fit(Xb_train, yb_train)
pred = clf.predict(Xb_test)
precision, recall, f1, support = precision_recall_f1(yb_test, pred, labels=[0, 1])
print(f"breast cancer: held-out accuracy {clf.score(Xb_test, yb_test):.3f}; "
      f"malignant: precision {precision[0]:.3f}, recall (sensitivity) {recall[0]:.3f}")
assert clf.score(Xb_test, yb_test) >= 0.95 and recall[0] >= 0.9
b_ranking = explain.rank_features(clf, Xb_test, names=bc.feature_names, y=yb_test)
print("features the classifier relies on most, for 'malignant':")
for name, score in b_ranking.top(5, cls=0):
    print(f"  {name:24s} {score:.4f}")
# --8<-- [end:breast]

# --8<-- [start:plots]
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from deepbio import plot

fig, axes = plt.subplots(1, 3, figsize=(12, 4))
for k, ax in enumerate(axes):
    plot.feature_ranking(ranking, top=15, class_=k, ax=ax, color=f"C{k}")
    ax.set_title(f"subtype{k}")
fig.tight_layout()
plot.save_figure(fig, out / "tumour_expression_genes.png")

fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
plot.confusion_matrix(clf, Xb_test, yb_test, ax=axes[0])
plot.roc_curve(clf, Xb_test, yb_test, ax=axes[1])
plot.feature_ranking(b_ranking, top=10, class_=0, ax=axes[2])
axes[2].set_title("malignant: top 10 features")
fig.tight_layout()
plot.save_figure(fig, out / "tumour_expression_breast.png")
# --8<-- [end:plots]
