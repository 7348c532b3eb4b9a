"""Write the "previous release" model files of ``tests/models/test_persist_release.py``.

These files were written by deepbio 0.1.0 (commit eb141ca, file ``format_version`` 1),
before the model files gained a digest and a tensor schema, with the NumPy backend::

    git worktree add /tmp/wt-old eb141ca
    cd /tmp/wt-old && PYTHONPATH=/tmp/wt-old DEEPBIO_BACKEND=numpy \
        python /work/main/tests/data/release_0_1_0/make_fixtures.py /work/main/tests/data/release_0_1_0

They must keep loading, and predicting exactly what is recorded in ``expected.npz``:
do not regenerate them with a newer deepbio (that would defeat their purpose).
Inputs are stored in ``expected.npz`` too (``input.<name>``), so the test does not
depend on how this script drew them.
"""
import os
import sys

import numpy as np

import deepbio
from deepbio import models


def data():
    rng = np.random.default_rng(0)
    X = (rng.random((24, 6)) < 0.5).astype(np.float64)
    y = np.where(X[:, 0] + X[:, 1] > 1, "tumour", "normal")
    y_reg = X @ np.arange(6.0)
    images = rng.standard_normal((12, 1, 6, 6))
    y_img = np.arange(12) % 3
    letters = rng.integers(0, 4, size=(12, 10))
    seqs = np.eye(4)[letters]                      # one-hot (N, L, 4)
    lengths = np.array([10, 9, 8, 10, 7, 10, 6, 10, 10, 8, 9, 10])
    mask = np.arange(10)[None, :] < lengths[:, None]
    seqs = seqs * mask[:, :, None]
    y_seq = letters[:, 0] % 2
    tags = letters % 2
    return dict(X=X, y=y, y_reg=y_reg, images=images, y_img=y_img, seqs=seqs, mask=mask,
                y_seq=y_seq, tags=tags)


def cases():
    """(file stem, estimator, fit inputs, [(output name, method, inputs)])."""
    M = models
    small = dict(max_iter=2, random_state=0)
    return [
        ("RBM", M.RBM(4, n_iter=2, random_state=0), ("X",), [("transform", ("X",))]),
        ("RBM-gaussian-pcd", M.RBM(3, visible="gaussian", persistent=True, n_iter=2,
                                   dtype="float64", random_state=0), ("X",),
         [("transform", ("X",))]),
        ("DBN", M.DBN((4, 3), n_iter=2, random_state=0), ("X",), [("transform", ("X",))]),
        ("DBNClassifier", M.DBNClassifier((4, 3), pretrain_epochs=2, **small), ("X", "y"),
         [("predict_proba", ("X",)), ("predict", ("X",))]),
        ("DBNRegressor", M.DBNRegressor((4,), pretrain_epochs=2, **small), ("X", "y_reg"),
         [("predict", ("X",))]),
        ("AutoEncoder", M.AutoEncoder(3, **small), ("X",),
         [("transform", ("X",)), ("reconstruct", ("X",))]),
        ("AutoEncoder-untied", M.AutoEncoder(3, tied=False, sparsity_target=0.2,
                                             corruption="mask", dtype="float64", **small),
         ("X",), [("transform", ("X",)), ("reconstruct", ("X",))]),
        ("StackedAutoEncoder", M.StackedAutoEncoder((4, 2), include_input=True, **small),
         ("X",), [("transform", ("X",))]),
        ("StackedAutoEncoderClassifier",
         M.StackedAutoEncoderClassifier((4,), pretrain_epochs=2, **small), ("X", "y"),
         [("predict_proba", ("X",)), ("predict", ("X",))]),
        ("StackedAutoEncoderRegressor",
         M.StackedAutoEncoderRegressor((4,), pretrain_epochs=2, **small), ("X", "y_reg"),
         [("predict", ("X",))]),
        ("MLPClassifier", M.MLPClassifier((4, 3), dropout=0.1, dtype="float64", **small),
         ("X", "y"), [("predict_proba", ("X",)), ("predict", ("X",))]),
        ("MLPRegressor", M.MLPRegressor((3,), **small), ("X", "y_reg"),
         [("predict", ("X",))]),
        ("CNNClassifier-image", M.CNNClassifier(filters=(2,), kernel_size=3,
                                                hidden_layer_sizes=(4,), **small),
         ("images", "y_img"), [("predict_proba", ("images",)), ("predict", ("images",))]),
        ("CNNClassifier-sequence", M.CNNClassifier(filters=(3,), kernel_size=3,
                                                   hidden_layer_sizes=(), **small),
         ("seqs", "y_seq", "mask"), [("predict_proba", ("seqs", "mask"))]),
        ("CNNRegressor", M.CNNRegressor(filters=(2,), kernel_size=3, hidden_layer_sizes=(3,),
                                        pooling="avg", **small), ("images", "y_img"),
         [("predict", ("images",))]),
        ("RNNClassifier", M.RNNClassifier(cell="elman", units=3, **small),
         ("seqs", "y_seq", "mask"), [("predict_proba", ("seqs", "mask"))]),
        ("RNNClassifier-lstm-bi", M.RNNClassifier(cell="lstm", units=(2,), bidirectional=True,
                                                  hidden_layer_sizes=(2,), **small),
         ("seqs", "y_seq", "mask"), [("predict_proba", ("seqs", "mask"))]),
        ("RNNTagger", M.RNNTagger(cell="lstm", units=3, **small), ("seqs", "tags", "mask"),
         [("predict_proba", ("seqs", "mask")), ("predict", ("seqs", "mask"))]),
    ]


def call(method, args, d):
    values = [d[a] for a in args]
    if len(values) == 3 or (len(values) == 2 and args[1] == "mask"):
        *pos, mask = values
        return method(*pos, mask=mask)
    return method(*values)


def main(out):
    assert deepbio.get_backend() == "numpy", "run with DEEPBIO_BACKEND=numpy"
    d = data()
    expected = {f"input.{k}": v for k, v in d.items()}
    for stem, est, fit_args, outputs in cases():
        call(est.fit, fit_args, d)
        deepbio.save(est, os.path.join(out, stem + ".safetensors"),
                     metadata={"fixture": stem, "fit": list(fit_args)})
        for name, args in outputs:
            expected[f"{stem}.{name}"] = call(getattr(est, name), args, d)
            expected[f"{stem}.{name}.args"] = np.array(args)
    missing = set(models.REGISTRY) - {type(c[1]).__name__ for c in cases()}
    assert not missing, missing
    np.savez(os.path.join(out, "expected.npz"), **expected)


if __name__ == "__main__":
    print("deepbio", deepbio.__version__, "from", deepbio.__file__)
    main(sys.argv[1])
