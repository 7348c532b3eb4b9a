"""The scenarios of tests/distributed: each runs on the ranks of a communicator
(``run(comm)``, each rank on its shard) and, for the comparison, as ONE process on the
concatenation of the ranks' minibatches (``reference(P)``), built here by hand.

The single-process reference of a P-rank first-order run: rank r shards the rows
``shard_bounds(N, P, r)``, draws its validation split and its epochs' minibatch orders
from ``rank_seed(random_state, r)``; step t of the reference is the concatenation, in
rank order, of the ranks' t-th minibatches (empty for a rank whose shard has run out).
"""
import numpy as np

from deepbio import distributed
from deepbio.nn import Dense, Network
from deepbio.optim import SGD, Adam, HessianFree
from deepbio.optim._base import minibatches
from deepbio._validation import check_random_state

N, D, K = 37, 5, 2          # 37 rows: uneven over 2 (19 + 18) and 3 (13 + 12 + 12) ranks
SEED = 7


def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N, D))
    W = rng.normal(size=(D, K))
    y = np.tanh(X @ W) + 0.1 * rng.normal(size=(N, K))
    return X, y


def network(seed=0):
    return Network([Dense(8, activation="tanh"), Dense(K)], "squared_error",
                   dtype="float64").build(D, seed)


# ------------------------------------------------------------ first-order optimisers

FIRST_ORDER = {
    "sgd": (SGD, dict(learning_rate=0.05, momentum=0.9, weight_decay=1e-3, clip_norm=0.5,
                      batch_size=4, max_epochs=6)),
    "sgd_early": (SGD, dict(learning_rate=0.05, momentum=0.9, batch_size=4, max_epochs=40,
                            early_stopping=True, validation_fraction=0.25, patience=2,
                            tol=1e-3)),
    "adam": (Adam, dict(learning_rate=0.01, batch_size=5, max_epochs=5, clip_norm=1.0)),
}


class _Concatenated:
    """Mixin for the single-process reference: ranks' splits and minibatches concatenated.
    ``_P`` (a class attribute: an estimator copies its optimiser object) ranks."""

    _P = None

    def _setup(self, n):
        if getattr(self, "_rngs", None) is None:
            P = self._P
            self._rngs = [check_random_state(distributed.rank_seed(self.random_state, r))
                          for r in range(P)]
            self._bounds = [distributed.shard_bounds(n, P, r) for r in range(P)]
        return self

    def _split_validation(self, X, y, rng, be):
        self._setup(len(X))
        train, val, bounds, start = [], [], [], 0
        for (a, b), r_rng in zip(self._bounds, self._rngs):
            n = b - a
            n_val = max(1, int(round(self.validation_fraction * n)))
            perm = r_rng.permutation(n)
            train.append(a + perm[n_val:])
            val.append(a + perm[:n_val])
            bounds.append((start, start + n - n_val))
            start += n - n_val
        self._bounds = bounds
        t, v = np.concatenate(train), np.concatenate(val)
        return X[t], y[t], X[v], y[v]

    def _run_epoch(self, network, X, y, epoch):
        self._setup(len(X))
        self._lr = self.learning_rate_at(epoch)
        per_rank = [[a + idx for idx in minibatches(b - a, self.batch_size, r_rng)]
                    for (a, b), r_rng in zip(self._bounds, self._rngs)]
        steps = max(len(b) for b in per_rank)
        total, n = 0.0, 0
        for t in range(steps):
            idx = np.concatenate([b[t] for b in per_rank if t < len(b)])
            total += float(self._step(network, X[idx], y[idx])) * len(idx)
            n += len(idx)
        return {"loss": total / n, "lr": self._lr}


def run_first_order(name, comm):
    cls, kw = FIRST_ORDER[name]
    X, y = data()
    Xs, ys = distributed.shard(X, y, comm)
    # each rank builds its own initial weights: rank 0's are broadcast
    net = network(seed=distributed.rank(comm))
    hist = cls(random_state=SEED, comm=comm, **kw).minimize(net, Xs, ys)
    return {"theta": net.get_flat(), "loss": np.array([h["loss"] for h in hist]),
            "val_loss": np.array([h["val_loss"] if h["val_loss"] is not None else np.nan
                                  for h in hist])}


def reference_first_order(name, P):
    cls, kw = FIRST_ORDER[name]
    ref_cls = type(f"Concatenated{cls.__name__}", (_Concatenated, cls), {"_P": P})
    X, y = data()
    net = network(seed=0)
    opt = ref_cls(random_state=SEED, **kw)
    hist = opt.minimize(net, X, y)
    return {"theta": net.get_flat(), "loss": np.array([h["loss"] for h in hist]),
            "val_loss": np.array([h["val_loss"] if h["val_loss"] is not None else np.nan
                                  for h in hist])}


# ------------------------------------------------------------------- Hessian-free

HF = dict(max_iter=4, curvature_batch_size=1.0, weight_decay=1e-3)


def run_hf(comm):
    X, y = data()
    Xs, ys = distributed.shard(X, y, comm)
    net = network(seed=distributed.rank(comm))
    hist = HessianFree(random_state=SEED, comm=comm, **HF).minimize(net, Xs, ys)
    return {"theta": net.get_flat(), "loss": np.array([h["loss"] for h in hist]),
            "cg_iters": np.array([h["cg_iters"] for h in hist])}


def reference_hf(P):
    X, y = data()
    net = network(seed=0)
    hist = HessianFree(random_state=SEED, **HF).minimize(net, X, y)
    return {"theta": net.get_flat(), "loss": np.array([h["loss"] for h in hist]),
            "cg_iters": np.array([h["cg_iters"] for h in hist])}


# -------------------------------------------------------------------- estimators

def _labels(y):
    return np.where(y[:, 0] > 0, "up", "down")


def _sequences():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(N, 6, 3))
    lengths = rng.integers(2, 7, size=N)
    mask = np.arange(6)[None, :] < lengths[:, None]
    y = np.where((X[:, :, 0] * mask).sum(axis=1) > 0, 1, 0)
    return X, y, mask


def _estimator(kind, optimizer, comm=None):
    from deepbio.models import CNNClassifier, MLPClassifier, MLPRegressor, RNNClassifier
    common = dict(dtype="float64", random_state=SEED, optimizer=optimizer)
    if comm is not None:
        common["comm"] = comm
    if kind == "mlp":
        return MLPClassifier(hidden_layer_sizes=(6,), **common)
    if kind == "mlp_regressor":
        return MLPRegressor(hidden_layer_sizes=(6,), **common)
    if kind == "rnn":
        return RNNClassifier(cell="lstm", units=4, **common)
    return CNNClassifier(filters=(4,), kernel_size=(3,), **common)


ESTIMATORS = {
    "mlp": dict(learning_rate=0.05, momentum=0.9, batch_size=4, max_epochs=6,
                early_stopping=True, validation_fraction=0.2, patience=3),
    "mlp_regressor": dict(learning_rate=0.05, momentum=0.9, batch_size=5, max_epochs=4,
                          weight_decay=1e-3),
    "rnn": dict(learning_rate=0.05, momentum=0.9, batch_size=4, max_epochs=3),
    "cnn": dict(learning_rate=0.05, momentum=0.9, batch_size=4, max_epochs=3),
}


def _estimator_data(kind):
    if kind in ("rnn", "cnn"):
        return _sequences()
    X, y = data()
    return X, (_labels(y) if kind == "mlp" else y), None


def _fit_and_predict(est, kind, X, y, mask, X_all, mask_all):
    if mask is None:
        est.fit(X, y)
        out = est.predict_proba(X_all) if hasattr(est, "predict_proba") else est.predict(X_all)
    else:
        est.fit(X, y, mask=mask)
        out = est.predict_proba(X_all, mask=mask_all)
    return {"out": np.asarray(out, dtype=np.float64),
            "loss": np.array([h["loss"] for h in est.history_])}


def run_estimator(kind, comm):
    X, y, mask = _estimator_data(kind)
    Xs, ys = distributed.shard(X, y, comm)
    ms = None if mask is None else distributed.shard(mask, None, comm)
    est = _estimator(kind, SGD(**ESTIMATORS[kind]), comm)
    res = _fit_and_predict(est, kind, Xs, ys, ms, X, mask)
    res["theta"] = res["out"]            # what every rank must agree on
    return res


def reference_estimator(kind, P):
    X, y, mask = _estimator_data(kind)
    ref_cls = type("ConcatenatedSGD", (_Concatenated, SGD), {"_P": P})
    est = _estimator(kind, ref_cls(**ESTIMATORS[kind]))
    return _fit_and_predict(est, kind, X, y, mask, X, mask)


# ------------------------------------------------------------------------- RBM

RBM_SETTINGS = dict(n_components=6, k=1, batch_size=5, n_iter=3, learning_rate=0.1,
                    momentum=0.5, sparsity_target=0.2, dtype="float64", random_state=SEED)


def _binary():
    rng = np.random.default_rng(2)
    return (rng.random((N, 8)) < np.linspace(0.2, 0.8, 8)).astype(np.float64)


def run_rbm(persistent, comm):
    from deepbio.models import RBM
    X = distributed.shard(_binary(), None, comm)
    rbm = RBM(persistent=persistent, comm=comm, **RBM_SETTINGS).fit(X)
    return {"theta": np.concatenate([rbm.W_.ravel(), rbm.intercept_visible_,
                                     rbm.intercept_hidden_]),
            "error": np.array([h["reconstruction_error"] for h in rbm.history_]),
            "pl": np.array([h["pseudo_likelihood"] for h in rbm.history_])}


def _concatenated_rbm_class(P):
    """An RBM whose ``fit`` is the single-process reference of a P-rank fit: one process
    on the concatenated minibatches whose Gibbs samples (and persistent chains) are the
    concatenation of the ranks': rank r's rows are sampled from rank r's stream and
    chain, and each step's statistics are those of the whole concatenation."""
    from deepbio import backend
    from deepbio.models import RBM
    from deepbio.models._base import resolve_rng
    from deepbio.models.rbm import MONITOR_SIZE, error_scale

    class ConcatenatedRBM(RBM):
        def _fit_checked(self, be, X, *checkpointing):   # (checkpoints: not used here)
            self.n_features_in_ = int(X.shape[1])
            error_scale(X)
            rng = resolve_rng(self.random_state)
            self._initialize(be, X, rng)               # biases from the whole data's mean
            gens = self._shuffle_generators(rng, range(P))
            streams = [self._derived_stream(be, self._train_stream(r)) for r in range(P)]
            n_all = X.shape[0]
            bounds = [distributed.shard_bounds(n_all, P, r) for r in range(P)]
            monitors = [a + np.sort(g.permutation(b - a)[:MONITOR_SIZE])
                        for (a, b), g in zip(bounds, gens)]
            chains = [None] * P
            for epoch in range(self.n_iter):
                per_rank = [minibatches(b - a, self.batch_size, g)
                            for (a, b), g in zip(bounds, gens)]
                for t in range(max(len(b) for b in per_rank)):
                    parts, h0s = [], []
                    for r, ((a, _), batches) in enumerate(zip(bounds, per_rank)):
                        if t >= len(batches):
                            continue
                        self._chain = chains[r]
                        dW, db, dc, h0 = self._cd_statistics(be, X[a + batches[t]],
                                                             streams[r])
                        chains[r] = self._chain
                        parts.append((len(batches[t]), dW, db, dc))
                        h0s.append(h0)
                    n = sum(p[0] for p in parts)
                    stats = [sum(p[0] * p[i] for p in parts) / n for i in (1, 2, 3)]
                    self._cd_update(be, *stats, np.concatenate(h0s).sum(axis=0) / n)
                err = sum(self._reconstruction_error(be, X[m]) * len(m) for m in monitors)
                pl = sum(self._mean_pseudo_likelihood(be, X[m], s) * len(m)
                         for m, s in zip(monitors, streams))
                total = sum(len(m) for m in monitors)
                self.history_.append({"epoch": epoch + 1, "reconstruction_error": err / total,
                                      "pseudo_likelihood": pl / total, "time": 0.0})
            self.n_iter_ = self.n_iter
            return self

    backend.current()
    return ConcatenatedRBM


def reference_rbm(persistent, P):
    X = _binary()
    rbm = _concatenated_rbm_class(P)(persistent=persistent, **RBM_SETTINGS).fit(X)
    return {"theta": np.concatenate([rbm.W_.ravel(), rbm.intercept_visible_,
                                     rbm.intercept_hidden_]),
            "error": np.array([h["reconstruction_error"] for h in rbm.history_]),
            "pl": np.array([h["pseudo_likelihood"] for h in rbm.history_])}


# -------------------------------------------------------------------------- DBN

DBN_SETTINGS = dict(hidden_layer_sizes=(6, 4), pretrain_epochs=2, pretrain_batch_size=5,
                    persistent=True, dtype="float64", random_state=SEED)
DBN_SGD = dict(learning_rate=0.1, momentum=0.9, batch_size=4, max_epochs=3)


def _dbn_labels():
    X = _binary()
    return X, np.where(X[:, :4].sum(axis=1) > X[:, 4:].sum(axis=1), "a", "b")


def run_dbn(comm):
    from deepbio.models import DBNClassifier
    X, y = _dbn_labels()
    Xs, ys = distributed.shard(X, y, comm)
    est = DBNClassifier(optimizer=SGD(**DBN_SGD), comm=comm, **DBN_SETTINGS).fit(Xs, ys)
    out = est.predict_proba(X)
    return {"theta": out, "out": out,
            "pretrain_error": np.array([h["reconstruction_error"]
                                        for layer in est.pretrain_history_ for h in layer]),
            "loss": np.array([h["loss"] for h in est.history_])}


def reference_dbn(P):
    from deepbio.models import DBNClassifier, dbn
    X, y = _dbn_labels()
    ref_sgd = type("ConcatenatedSGD", (_Concatenated, SGD), {"_P": P})
    original = dbn.RBM
    dbn.RBM = _concatenated_rbm_class(P)     # the reference pre-training, layer by layer
    try:
        est = DBNClassifier(optimizer=ref_sgd(**DBN_SGD), **DBN_SETTINGS).fit(X, y)
    finally:
        dbn.RBM = original
    return {"out": est.predict_proba(X),
            "pretrain_error": np.array([h["reconstruction_error"]
                                        for layer in est.pretrain_history_ for h in layer]),
            "loss": np.array([h["loss"] for h in est.history_])}


# -------------------------------------------------------------------------- SAE

SAE_SETTINGS = dict(hidden_layer_sizes=(6, 4), pretrain_epochs=2, pretrain_batch_size=5,
                    learning_rate=0.1, batch_size=4, max_iter=3, dtype="float64",
                    random_state=SEED)


def run_sae(comm):
    from deepbio.models import StackedAutoEncoderClassifier
    X, y = _dbn_labels()
    Xs, ys = distributed.shard(X, y, comm)
    est = StackedAutoEncoderClassifier(comm=comm, **SAE_SETTINGS).fit(Xs, ys)
    out = est.predict_proba(X)
    return {"theta": out, "out": out,
            "pretrain_loss": np.array([h["loss"] for layer in est.pretrain_history_
                                       for h in layer]),
            "loss": np.array([h["loss"] for h in est.history_])}


def reference_sae(P):
    """Every SGD of the fit (each autoencoder's pre-training, then the fine-tuning) is
    the concatenated-minibatch reference."""
    from deepbio.models import StackedAutoEncoderClassifier, _training
    X, y = _dbn_labels()
    original = _training.SGD
    _training.SGD = type("ConcatenatedSGD", (_Concatenated, SGD), {"_P": P})
    try:
        est = StackedAutoEncoderClassifier(**SAE_SETTINGS).fit(X, y)
    finally:
        _training.SGD = original
    return {"out": est.predict_proba(X),
            "pretrain_loss": np.array([h["loss"] for layer in est.pretrain_history_
                                       for h in layer]),
            "loss": np.array([h["loss"] for h in est.history_])}


# ------------------------------------------------- same result on every rank only

def run_partial_fit(comm):
    """random_state=None: every rank draws other initial weights; rank 0's are used."""
    from deepbio.models import MLPClassifier
    X, y = data()
    Xs, ys = distributed.shard(X, _labels(y), comm)
    est = MLPClassifier(hidden_layer_sizes=(4,), dtype="float64", comm=comm)
    for _ in range(2):
        est.partial_fit(Xs, ys, classes=["down", "up"])
    return {"theta": est.predict_proba(X)}


def run_rbm_unseeded(comm):
    from deepbio.models import RBM
    X = distributed.shard(_binary(), None, comm)
    rbm = RBM(n_components=3, n_iter=2, batch_size=5, dtype="float64", comm=comm).fit(X)
    return {"theta": rbm.W_.ravel()}


#: Scenarios whose only check is that every rank ends with the same parameters.
SAME_ON_EVERY_RANK = {"partial_fit": run_partial_fit, "rbm_unseeded": run_rbm_unseeded}


# ------------------------------------------------------------------------ faults

def run_bad_rank(comm):
    """Rank 1's shard holds a NaN: its ValueError must end every rank."""
    X, y = data()
    Xs, ys = distributed.shard(X, y, comm)
    if distributed.rank(comm) == 1:
        Xs = Xs.copy()
        Xs[2, 3] = np.nan
    net = network(seed=0)
    SGD(random_state=SEED, comm=comm, max_epochs=50, batch_size=2).minimize(net, Xs, ys)
    return {"theta": net.get_flat()}


def run_bad_features(comm):
    """Rank 1 has one feature more: every rank raises the same ValueError."""
    X, y = data()
    Xs, ys = distributed.shard(X, y, comm)
    if distributed.rank(comm) == 1:
        Xs = np.hstack([Xs, Xs[:, :1]])
    net = network(seed=0)
    try:
        SGD(random_state=SEED, comm=comm, max_epochs=2).minimize(net, Xs, ys)
    except ValueError as e:
        print(f"rank {distributed.rank(comm)} ValueError: {e}", flush=True)
        return {"raised": np.array(1)}
    return {"raised": np.array(0)}


SCENARIOS = {
    **{name: (lambda comm, name=name: run_first_order(name, comm)) for name in FIRST_ORDER},
    "hf": run_hf,
    **{f"est_{k}": (lambda comm, k=k: run_estimator(k, comm)) for k in ESTIMATORS},
    "rbm_cd1": lambda comm: run_rbm(False, comm),
    "rbm_pcd": lambda comm: run_rbm(True, comm),
    "dbn": run_dbn,
    "sae": run_sae,
    **SAME_ON_EVERY_RANK,
    "bad_rank": run_bad_rank,
    "bad_features": run_bad_features,
}

REFERENCES = {
    **{name: (lambda P, name=name: reference_first_order(name, P)) for name in FIRST_ORDER},
    "hf": reference_hf,
    **{f"est_{k}": (lambda P, k=k: reference_estimator(k, P)) for k in ESTIMATORS},
    "rbm_cd1": lambda P: reference_rbm(False, P),
    "rbm_pcd": lambda P: reference_rbm(True, P),
    "dbn": reference_dbn,
    "sae": reference_sae,
}
