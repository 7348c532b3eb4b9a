"""Checkpoint and resume (issue #16 item 5): ``fit(..., checkpoint=PATH,
checkpoint_every=K)`` and ``fit(..., resume=PATH)``.

The main test kills a training subprocess with SIGKILL after a checkpoint was written (the
child blocks right after its third checkpoint, so the kill lands mid-fit every time, with
no timing), resumes in this process and requires the exact weights of an uninterrupted
fit with the same seed.  A checkpoint truncated by a kill is detected (its SHA-256 digest
or its container), and the previous one (``PATH.prev``) is used with a warning."""
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from deepbio import (RBM, CNNClassifier, DBNClassifier, MLPClassifier, MLPRegressor, RNNClassifier,
                     RNNRegressor)
from deepbio.optim._checkpoint import CheckpointWarning, load

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _data(seed=0, n=120, d=5):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    return X, (X[:, 0] + X[:, 1] > 0).astype(int)


MLP_SETTINGS = dict(hidden_layer_sizes=(8,), max_iter=10, optimizer="adam",
                    early_stopping=True, patience=100, random_state=7)

CHILD = textwrap.dedent("""
    import sys
    import numpy as np
    import deepbio.optim._checkpoint as ck
    from deepbio import MLPClassifier
    from tests.reliability.test_checkpoint import MLP_SETTINGS, _data

    saves = 0
    real_save = ck.save

    def save(*args, **kwargs):           # after the third checkpoint: wait to be killed
        global saves
        real_save(*args, **kwargs)
        saves += 1
        if saves == 3:
            print("checkpointed", flush=True)
            sys.stdin.read()

    ck.save = save
    X, y = _data()
    MLPClassifier(**MLP_SETTINGS).fit(X, y, checkpoint=sys.argv[1], checkpoint_every=1)
    print("finished", flush=True)
""")


def _same_weights(a, b):
    return all(np.array_equal(u, v) for u, v in zip(a.coefs_ + a.intercepts_,
                                                    b.coefs_ + b.intercepts_))


def test_sigkill_mid_fit_then_resume_equals_the_uninterrupted_fit(tmp_path):
    X, y = _data()
    full = MLPClassifier(**MLP_SETTINGS).fit(X, y)
    path = tmp_path / "run.ckpt"
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OMP_NUM_THREADS="1")
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], cwd=ROOT, env=env,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline()
        assert line.strip() == "checkpointed", child.stderr.read()
        child.send_signal(signal.SIGKILL)
        child.wait()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL
    _, doc = load(path)
    assert doc["epoch"] == 2 and not doc["done"]          # killed mid-fit
    assert load(str(path) + ".prev")[1]["epoch"] == 1

    resumed = MLPClassifier(**MLP_SETTINGS).fit(X, y, resume=path)
    assert _same_weights(resumed, full)
    assert resumed.n_iter_ == full.n_iter_ == MLP_SETTINGS["max_iter"]
    assert [h["loss"] for h in resumed.history_] == [h["loss"] for h in full.history_]
    assert [h["val_loss"] for h in resumed.history_] == [h["val_loss"] for h in full.history_]


def test_truncated_checkpoint_falls_back_to_the_previous_one(tmp_path):
    X, y = _data()
    full = MLPClassifier(**MLP_SETTINGS).fit(X, y)
    path = tmp_path / "run.ckpt"
    MLPClassifier(**MLP_SETTINGS).fit(X, y, checkpoint=path, checkpoint_every=4)
    assert load(path)[1]["epoch"] == 9 and load(str(path) + ".prev")[1]["epoch"] == 7
    data = path.read_bytes()
    path.write_bytes(data[:len(data) * 2 // 3])            # what a torn write would leave
    with pytest.warns(CheckpointWarning, match=r"unreadable.*previous checkpoint.*epoch 7"):
        resumed = MLPClassifier(**MLP_SETTINGS).fit(X, y, resume=path)
    assert _same_weights(resumed, full)


def test_flipped_byte_is_detected_and_previous_used(tmp_path):
    X, y = _data()
    path = tmp_path / "run.ckpt"
    MLPClassifier(**MLP_SETTINGS).fit(X, y, checkpoint=path, checkpoint_every=3)
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x01                                       # one bit of a tensor
    path.write_bytes(bytes(data))
    with pytest.warns(CheckpointWarning, match="digest|SHA-256|changed"):
        resumed = MLPClassifier(**MLP_SETTINGS).fit(X, y, resume=path)
    assert _same_weights(resumed, MLPClassifier(**MLP_SETTINGS).fit(X, y))


def _resume_from_prev(make, fit_args, path, every):
    make().fit(*fit_args, checkpoint=path, checkpoint_every=every)
    os.replace(str(path) + ".prev", path)                  # an earlier, mid-fit checkpoint
    assert not load(path)[1]["done"]
    return make().fit(*fit_args, resume=path)


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "rmsprop", "hf"])
def test_resume_is_exact_for_every_optimiser(tmp_path, optimizer):
    # momentum / Adam moments / RMSprop averages / HF damping and CG direction
    X, y = _data(1)
    kw = dict(hidden_layer_sizes=(6,), max_iter=8, optimizer=optimizer, momentum=0.9,
              random_state=3)
    full = MLPRegressor(**kw).fit(X, X[:, 0] - X[:, 2])
    resumed = _resume_from_prev(lambda: MLPRegressor(**kw), (X, X[:, 0] - X[:, 2]),
                                tmp_path / "c", 3)
    assert _same_weights(resumed, full)
    assert len(resumed.history_) == len(full.history_)


def test_dbn_fine_tuning_resume_is_exact(tmp_path):
    # the pre-training is repeated from the seed, the fine-tuning continues
    X, y = _data(5, n=80, d=6)
    X = (X > 0).astype(float)

    def make():
        return DBNClassifier(hidden_layer_sizes=(5,), pretrain_epochs=2, max_iter=6,
                             random_state=4)
    full = make().fit(X, y)
    assert _same_weights(_resume_from_prev(make, (X, y), tmp_path / "c", 2), full)


@pytest.mark.parametrize("name", ["cnn_dropout", "rnn_lstm", "rnn_dropout"])
def test_resume_is_exact_for_layered_estimators(tmp_path, name):
    rng = np.random.default_rng(2)
    if name == "cnn_dropout":
        X = rng.normal(size=(30, 1, 6, 6))
        y = (X.mean(axis=(1, 2, 3)) > 0).astype(int)

        def make():
            return CNNClassifier(filters=(3,), kernel_size=3, dropout=0.3, max_iter=6,
                                 random_state=2)
    else:
        X = rng.normal(size=(40, 6, 3))
        y = X[:, :, 0].sum(axis=1)
        if name == "rnn_dropout":
            y = (y > 0).astype(int)

        def make():
            if name == "rnn_lstm":
                return RNNRegressor(units=5, cell="lstm", max_iter=6, random_state=2)
            return RNNClassifier(units=5, dropout=0.2, optimizer="adam",
                                 early_stopping=True, max_iter=6, random_state=2)
    full = make().fit(X, y)
    resumed = _resume_from_prev(make, (X, y), tmp_path / "c", 2)
    assert all(np.array_equal(a, b) for a, b in zip(full.params_, resumed.params_))
    np.testing.assert_array_equal(full.predict(X), resumed.predict(X))


@pytest.mark.parametrize("persistent", [False, True])
def test_rbm_resume_is_exact(tmp_path, persistent):
    X = (np.random.default_rng(4).random((100, 12)) < 0.3).astype(float)

    def make():
        return RBM(n_components=6, n_iter=8, batch_size=10, persistent=persistent,
                   random_state=1)
    full = make().fit(X)
    resumed = _resume_from_prev(make, (X,), tmp_path / "c", 3)
    for name in ("W_", "intercept_visible_", "intercept_hidden_"):
        np.testing.assert_array_equal(getattr(resumed, name), getattr(full, name))
    assert resumed.n_iter_ == 8
    assert [h["reconstruction_error"] for h in resumed.history_] == \
        [h["reconstruction_error"] for h in full.history_]


def test_resume_of_a_finished_checkpoint_trains_no_further(tmp_path):
    X, y = _data()
    path = tmp_path / "c"
    first = MLPClassifier(**MLP_SETTINGS).fit(X, y, checkpoint=path)
    assert load(path)[1]["done"]
    again = MLPClassifier(**MLP_SETTINGS).fit(X, y, resume=path)
    assert _same_weights(first, again) and again.n_iter_ == first.n_iter_


def test_bad_checkpoint_arguments_are_clear_errors(tmp_path):
    X, y = _data()
    est = MLPClassifier(**MLP_SETTINGS)
    with pytest.raises(ValueError, match="checkpoint_every must be an int >= 1"):
        est.fit(X, y, checkpoint=tmp_path / "c", checkpoint_every=0)
    with pytest.raises(TypeError, match="checkpoint must be a file path"):
        est.fit(X, y, checkpoint=3)
    with pytest.raises(ValueError, match="resume=.*no such checkpoint"):
        est.fit(X, y, resume=tmp_path / "missing")
    with pytest.raises(ValueError, match="checkpoint=.*directory .* does not exist"):
        est.fit(X, y, checkpoint=tmp_path / "no" / "c")
    path = tmp_path / "c"
    est.fit(X, y, checkpoint=path)
    with pytest.raises(ValueError, match="other training data"):
        MLPClassifier(**MLP_SETTINGS).fit(X + 1, y, resume=path)
    with pytest.raises(ValueError, match="written by the Adam optimiser, this fit trains "
                                         "with SGD"):
        MLPClassifier(**{**MLP_SETTINGS, "optimizer": "sgd"}).fit(X, y, resume=path)
    with pytest.raises(ValueError, match="parameters"):
        MLPClassifier(**{**MLP_SETTINGS, "hidden_layer_sizes": (9,)}).fit(X, y, resume=path)
    with pytest.raises(ValueError, match="not of an RBM"):
        RBM(n_components=3, n_iter=2).fit((X > 0).astype(float), resume=path)
    path.write_bytes(b"junk")
    (tmp_path / "c.prev").write_bytes(b"junk")
    with pytest.raises(ValueError, match="no readable checkpoint"):
        MLPClassifier(**MLP_SETTINGS).fit(X, y, resume=path)
