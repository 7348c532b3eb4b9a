"""Threads (issue 16, item 7): one fitted model predicting from 8 threads at once gives
what serial calls give, and the backend choice in threads is what docs/models/defaults.md
("Threads and the backend") says:

* ``set_backend`` (and ``DEEPBIO_BACKEND``) is process-wide: every thread sees it;
* ``use_backend`` is context-local (a ``contextvars`` variable, as ``numpy.errstate`` and
  ``decimal.localcontext``; thread-local as ``torch.no_grad``): it holds for the code in
  its block, in that thread, and for what runs in a copy of that context
  (``contextvars.copy_context().run``, asyncio tasks); a thread started inside the block
  starts from the process-wide backend, as a thread does in Python, unless it enters
  ``use_backend`` itself.
"""
import contextvars
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import deepbio
from deepbio import RBM, MLPClassifier
from deepbio.datasets import make_motif_sequences, one_hot
from deepbio.models.cnn import CNNClassifier
from deepbio.models.rnn import RNNClassifier

N_THREADS = 8
ROUNDS = 3


def _in_threads(backend_name, call, inputs):
    """``call(*inputs[i])`` from 8 threads at once (lined up by a barrier), each one
    ``ROUNDS`` times, inside ``use_backend(backend_name)`` in the worker: the list of
    every thread's results."""
    barrier = threading.Barrier(N_THREADS)

    def work(i):
        with deepbio.use_backend(backend_name):
            assert deepbio.get_backend() == backend_name
            barrier.wait()
            return [call(*inputs[i]) for _ in range(ROUNDS)]

    with ThreadPoolExecutor(N_THREADS) as pool:
        return list(pool.map(work, range(N_THREADS)))


def _sequences(rng):
    """8 batches of DNA of different padded lengths and masks (one per thread)."""
    batches = []
    for i in range(N_THREADS):
        seqs, _ = make_motif_sequences(n=12 + i, length=30 + 3 * i, random_state=i)
        seqs = [s[: 20 + int(rng.integers(0, len(s) - 19))] for s in seqs]
        batches.append(one_hot(seqs))
    return batches


@pytest.fixture(scope="module")
def fitted():
    """Small fitted models (the fastest backend) and the 8 per-thread inputs of each."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 10))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    seqs, labels = make_motif_sequences(n=120, length=40, random_state=0)
    S, mask = one_hot(seqs)
    tables = [(rng.normal(size=(50 + 7 * i, 10)),) for i in range(N_THREADS)]
    batches = _sequences(rng)
    return {
        "MLPClassifier.predict_proba": (
            MLPClassifier((16,), max_iter=5, random_state=0).fit(X, y).predict_proba, tables),
        "RBM.transform": (
            RBM(8, visible="gaussian", n_iter=2, random_state=0).fit(X).transform, tables),
        "CNNClassifier.predict_proba": (
            CNNClassifier(kernel_size=5, max_iter=2, random_state=0)
            .fit(S, labels, mask=mask).predict_proba, batches),
        "RNNClassifier.predict_proba": (
            RNNClassifier(cell="lstm", units=8, max_iter=2, random_state=0)
            .fit(S, labels, mask=mask).predict_proba, batches),
    }


@pytest.mark.parametrize("name", ["MLPClassifier.predict_proba", "RBM.transform",
                                  "CNNClassifier.predict_proba",
                                  "RNNClassifier.predict_proba"])
def test_predict_from_8_threads_equals_serial_calls(fitted, backend, name):
    call, inputs = fitted[name]
    with deepbio.use_backend(backend.name):
        serial = [call(*args) for args in inputs]
    results = _in_threads(backend.name, call, inputs)
    for i, per_thread in enumerate(results):
        for out in per_thread:
            np.testing.assert_array_equal(out, serial[i])


def test_set_backend_reaches_every_thread():
    before = deepbio.get_backend()
    other = "numpy" if before != "numpy" else deepbio.backends()[-1]
    try:
        deepbio.set_backend(other)
        with ThreadPoolExecutor(4) as pool:
            seen = list(pool.map(lambda _: deepbio.get_backend(), range(4)))
        assert seen == [other] * 4
    finally:
        deepbio.set_backend(before)


def test_use_backend_is_context_local():
    """Not inherited by a thread started inside the block (it starts from the
    process-wide backend); carried by a copy of the context; entered in a thread, it
    holds there only."""
    default = deepbio.get_backend()
    other = "numpy" if default != "numpy" else deepbio.backends()[-1]
    if other == default:
        pytest.skip("needs two usable backends")
    seen = {}
    with deepbio.use_backend(other):
        t = threading.Thread(target=lambda: seen.setdefault("plain", deepbio.get_backend()))
        t.start()
        t.join()
        ctx = contextvars.copy_context()
        t = threading.Thread(target=ctx.run, args=(
            lambda: seen.setdefault("copied", deepbio.get_backend()),))
        t.start()
        t.join()
        with ThreadPoolExecutor(1) as pool:
            seen["submitted"] = pool.submit(contextvars.copy_context().run,
                                            deepbio.get_backend).result()
    assert seen == {"plain": default, "copied": other, "submitted": other}

    # entered inside a worker: it holds there, and nowhere else
    inside = threading.Event()
    leave = threading.Event()

    def worker():
        with deepbio.use_backend(other):
            seen["worker"] = deepbio.get_backend()
            inside.set()
            leave.wait()
    t = threading.Thread(target=worker)
    t.start()
    inside.wait()
    seen["main while worker inside"] = deepbio.get_backend()
    leave.set()
    t.join()
    assert seen["worker"] == other and seen["main while worker inside"] == default


def test_use_backend_with_an_unknown_name_fails_in_the_thread_that_asks():
    def worker():
        with deepbio.use_backend("tpu"):
            pass
    with ThreadPoolExecutor(1) as pool:
        with pytest.raises(deepbio.BackendError, match="unknown backend 'tpu'"):
            pool.submit(worker).result()
