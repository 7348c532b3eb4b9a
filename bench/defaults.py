"""The defaults on unscaled data: does training diverge, and what does it reach?

Reproduces the tables of docs/models/defaults.md.

``python bench/defaults.py`` ("Defaults that do not diverge"): each estimator with its
defaults, then with ``clip_norm=None`` (deepbio 0.2's default), on raw breast-cancer
features, raw 8x8 digits (pixels 0..16) and the data of scikit-learn's
``check_estimators_fit_returns_self``.  Seed 0; training scores.

``python bench/defaults.py --gap [--seeds 0 1 2] [-k NAME]`` ("Defaults that hold up"):
every supervised table estimator with its defaults against logistic regression
(classifiers, accuracy) or ridge regression (regressors, R^2) on standardised data, an
80/20 split (stratified for classifiers) per seed, held-out scores, one line per data
set, estimator and seed, then the median over seeds and the gap to the linear model.
Data: breast cancer (569 x 30, two classes; the regressors predict "mean area" from
the 29 other columns), and ``make_expression(n_samples=400, n_genes=800,
n_subtypes=10, n_markers=10, effect_size=1.35)``: ten cell types, 100 marker genes
among 800, where logistic regression reaches about 0.8.  The DBN estimators run with
``visible="gaussian"``, the choice for standardised data (Bernoulli units need X in
[0, 1]).  Standardisation is fitted on the training split only.

    OMP_NUM_THREADS=1 python bench/defaults.py [--gap]
"""
import argparse
import warnings

import numpy as np

import deepbio.models as M
from deepbio.datasets import load_breast_cancer, load_digits, standardize


def _score(make, X, y):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            est = make().fit(X, y)
        return f"{est.score(X, y):.4g}"
    except FloatingPointError as e:
        return f"FloatingPointError ({str(e).split(':')[1].split(';')[0].strip()})"


def main():
    X, y = load_breast_cancer(return_X_y=True)
    area, rest = X[:, 3], np.delete(X, 3, axis=1)
    D, dy = load_digits(return_X_y=True)
    D, dy = D[:400].reshape(-1, 1, 8, 8), dy[:400]
    cases = [("MLPClassifier", "raw breast cancer", X, y),
             ("MLPClassifier", "standardised breast cancer", standardize(X), y),
             ("MLPRegressor", "raw breast cancer (mean area)", rest, area),
             ("MLPRegressor", "standardised breast cancer (mean area)", standardize(rest),
              area),
             ("CNNClassifier", "raw digits", D, dy),
             ("CNNRegressor", "raw digits (label as target)", D, dy.astype(float))]
    try:
        from sklearn.datasets import make_blobs
        Xb, yb = make_blobs(random_state=0, n_samples=21)
        cases.append(("MLPRegressor", "check_estimators_fit_returns_self data", Xb, yb))
    except ImportError:
        pass
    print(f"{'estimator':15s} {'data':42s} {'defaults':>30s} {'clip_norm=None':>30s}")
    for name, what, A, t in cases:
        cls = getattr(M, name)
        now = _score(lambda: cls(random_state=0), A, t)
        before = _score(lambda: cls(random_state=0, clip_norm=None), A, t)
        print(f"{name:15s} {what:42s} {now:>30s} {before:>30s}", flush=True)


EXPRESSION = dict(n_samples=400, n_genes=800, n_subtypes=10, n_markers=10,
                  effect_size=1.35)

CLASSIFIERS = {"MLPClassifier": {}, "DBNClassifier": {"visible": "gaussian"},
               "StackedAutoEncoderClassifier": {}}
REGRESSORS = {"MLPRegressor": {}, "DBNRegressor": {"visible": "gaussian"},
              "StackedAutoEncoderRegressor": {}}


def gap_data(seed):
    """(name, X_train, X_test, y_train, y_test, is_classification), standardised on the
    training split."""
    from sklearn.model_selection import train_test_split

    from deepbio.datasets import make_expression
    X, y = load_breast_cancer(return_X_y=True)
    E, ey = make_expression(random_state=seed, **EXPRESSION)
    out = []
    for name, A, t, clf in (("breast cancer", X, y, True),
                            ("expression 10 types", E, ey, True),
                            ("breast cancer: mean area", np.delete(X, 3, axis=1),
                             X[:, 3], False)):
        a, b, ya, yb = train_test_split(A, t, test_size=0.2, random_state=seed,
                                        stratify=t if clf else None)
        m, sd = a.mean(0), a.std(0)
        sd[sd == 0] = 1.0
        out.append((name, (a - m) / sd, (b - m) / sd, ya, yb, clf))
    return out


def gap(seeds, k="", **overrides):
    """Print the per-seed table and the medians; return {(data, model): median gap}."""
    from sklearn.linear_model import LogisticRegression, Ridge
    rows = {}
    print(f"{'data':26s} {'model':30s} {'seed':>4s} {'model':>7s} {'linear':>7s} {'gap':>7s}")
    for seed in seeds:
        for name, a, b, ya, yb, clf in gap_data(seed):
            base = (LogisticRegression(max_iter=5000) if clf else Ridge(alpha=1.0))
            lin = base.fit(a, ya).score(b, yb)
            for model, kw in (CLASSIFIERS if clf else REGRESSORS).items():
                if k not in model:
                    continue
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    est = getattr(M, model)(random_state=seed, **kw, **overrides)
                    sc = est.fit(a, ya).score(b, yb)
                rows.setdefault((name, model), []).append((sc, lin))
                print(f"{name:26s} {model:30s} {seed:4d} {sc:7.3f} {lin:7.3f} "
                      f"{sc - lin:+7.3f}", flush=True)
    print(f"\nmedians over seeds {list(seeds)} (accuracy for classifiers, R^2 for "
          "regressors; linear = logistic / ridge regression)")
    print(f"{'data':26s} {'model':30s} {'model':>7s} {'linear':>7s} {'gap':>7s}")
    out = {}
    for (name, model), v in rows.items():
        sc, lin = np.median([x[0] for x in v]), np.median([x[1] for x in v])
        g = np.median([x[0] - x[1] for x in v])
        out[name, model] = g
        print(f"{name:26s} {model:30s} {sc:7.3f} {lin:7.3f} {g:+7.3f}"
              f"{'' if g >= -0.02 else '  more than 0.02 below'}")
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gap", action="store_true", help="defaults vs the linear models")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("-k", default="", help="only estimators whose name contains this")
    args = ap.parse_args()
    if args.gap:
        gap(args.seeds, args.k)
    else:
        main()
