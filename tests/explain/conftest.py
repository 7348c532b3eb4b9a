"""Small fitted float64 models of every supervised kind, fitted once per session (a
few epochs: these fixtures test the arithmetic of the attributions, not accuracy)."""
import numpy as np
import pytest

import deepbio
from deepbio import (CNNClassifier, CNNRegressor, DBNClassifier, MLPClassifier, MLPRegressor,
                     RNNClassifier, RNNRegressor, RNNTagger, StackedAutoEncoderClassifier)

F64 = dict(dtype="float64", random_state=0)


def _sequences(rng, n=12, length=9, alphabet=4):
    """One-hot sequences with end padding (lengths 6..9) and their mask."""
    codes = rng.integers(0, alphabet, size=(n, length))
    X = np.eye(alphabet)[codes]
    lengths = rng.integers(6, length + 1, size=n)
    lengths[0] = length
    mask = np.arange(length)[None, :] < lengths[:, None]
    return X * mask[:, :, None], mask


@pytest.fixture(scope="session")
def fitted():
    """``{name: (model, X, mask)}`` for every supervised model kind (numpy backend)."""
    rng = np.random.default_rng(0)
    out = {}
    with deepbio.use_backend("numpy"):
        Xt = rng.normal(size=(30, 5))
        yt = rng.integers(0, 3, size=30)
        out["mlp"] = (MLPClassifier((6,), activation="tanh", max_iter=3, **F64).fit(Xt, yt),
                      Xt[:6], None)
        Yr = np.c_[Xt[:, 0] - Xt[:, 1], Xt[:, 2] ** 2]
        out["mlp_regressor"] = (MLPRegressor((6,), activation="tanh", max_iter=3, **F64)
                                .fit(Xt, Yr), Xt[:6], None)
        Xp = 1 / (1 + np.exp(-Xt))
        out["dbn"] = (DBNClassifier((6,), pretrain_epochs=1, max_iter=2, **F64).fit(Xp, yt),
                      Xp[:6], None)
        out["sae"] = (StackedAutoEncoderClassifier((6,), pretrain_epochs=1, max_iter=2,
                                                   **F64).fit(Xp, yt), Xp[:6], None)
        imgs = rng.normal(size=(16, 1, 6, 6))
        yi = rng.integers(0, 2, size=16)
        out["cnn_image"] = (CNNClassifier(filters=(2,), kernel_size=3, pooling="avg",
                                          activation="tanh", hidden_layer_sizes=(4,),
                                          max_iter=2, **F64).fit(imgs, yi), imgs[:4], None)
        Xs, ms = _sequences(rng)
        ys = rng.integers(0, 2, size=len(Xs))
        out["cnn_sequence"] = (CNNClassifier(filters=(3,), kernel_size=3, activation="tanh",
                                             hidden_layer_sizes=(4,), max_iter=2, **F64)
                               .fit(Xs, ys, mask=ms), Xs[:5], ms[:5])
        out["cnn_regressor"] = (CNNRegressor(filters=(3,), kernel_size=3, activation="tanh",
                                             hidden_layer_sizes=(4,), max_iter=2, **F64)
                                .fit(Xs, Xs[:, :, 0].sum(axis=1), mask=ms), Xs[:5], ms[:5])
        out["rnn"] = (RNNClassifier(cell="lstm", units=4, max_iter=2, **F64)
                      .fit(Xs, ys, mask=ms), Xs[:5], ms[:5])
        out["rnn_elman"] = (RNNClassifier(cell="elman", units=4, bidirectional=True,
                                          max_iter=2, **F64).fit(Xs, ys, mask=ms),
                            Xs[:5], ms[:5])
        out["rnn_regressor"] = (RNNRegressor(cell="gru", units=4, max_iter=2, **F64)
                                .fit(Xs, Xs[:, :, 1].sum(axis=1), mask=ms), Xs[:5], ms[:5])
        tags = Xs.argmax(axis=2) % 2
        out["tagger"] = (RNNTagger(cell="elman", units=4, max_iter=2, **F64)
                         .fit(Xs, tags, mask=ms), Xs[:5], ms[:5])
    return out


@pytest.fixture
def numpy_backend():
    with deepbio.use_backend("numpy"):
        yield
