"""End to end: an MLP (a Network of Dense layers) trained by SGD on the bundled digits
reaches >= 0.95 held-out accuracy with a fixed seed."""
import numpy as np

import deepbio
from deepbio import datasets
from deepbio.nn import Dense, Dropout, Network
from deepbio.optim import SGD


def test_mlp_on_digits_reaches_95_percent():
    X, y = datasets.load_digits(return_X_y=True)
    X = np.asarray(X, dtype=np.float64) / 16.0
    y = np.asarray(y)
    X_tr, X_te, y_tr, y_te = datasets.train_test_split(X, y, test_size=0.25, stratify=y,
                                                       random_state=0)
    Y_tr = np.eye(10)[y_tr]
    net = Network([Dense(64, "relu"), Dropout(0.1), Dense(10)], "softmax_cross_entropy")
    net.build(64, random_state=0)
    history = SGD(learning_rate=0.05, momentum=0.9, nesterov=True, batch_size=32,
                  max_epochs=30, schedule="cosine", early_stopping=True,
                  validation_fraction=0.1, patience=8, random_state=0).minimize(net, X_tr, Y_tr)
    assert history[-1]["loss"] < history[0]["loss"]
    proba = deepbio.backend.current().to_numpy(net.predict(X_te))
    accuracy = float(np.mean(proba.argmax(axis=1) == y_te))
    assert accuracy >= 0.95, accuracy
