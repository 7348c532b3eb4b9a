"""The defaults on unscaled data: does training diverge, and what does it reach?

Reproduces the table of docs/models/defaults.md ("Defaults that do not diverge"): each
estimator with its defaults, then with ``clip_norm=None`` (deepbio 0.2's default), on
raw breast-cancer features, raw 8x8 digits (pixels 0..16) and the data of scikit-learn's
``check_estimators_fit_returns_self``.  Seed 0; training scores.

    OMP_NUM_THREADS=1 python bench/defaults.py
"""
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


if __name__ == "__main__":
    main()
