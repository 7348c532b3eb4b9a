"""Restricted Boltzmann machine (Bernoulli-Bernoulli and Gaussian-Bernoulli), trained by CD-k / PCD.

The maths is in ``docs/models/rbm.md``.  The training loop is a loop over one private
minibatch step, :meth:`RBM._cd_step`, which runs on the backend's kernels: ``dense_forward``
for the hidden pre-activations and probabilities, ``sigmoid_bernoulli`` /
``gaussian_sample`` for the samples, ``cd_statistics`` for the gradient and the fused
``sgd_update`` for the momentum step (one pass per parameter).  The visible
pre-activations ``h W^T + b`` are the one product made with the array module ``xp``
(into a preallocated buffer): no kernel of the contract multiplies by a transposed weight
matrix.
"""
import math
import time

import numpy as np

from .. import distributed as _dist
from .._random import PhiloxStream
from .._validation import Interval, Options, check_random_state
from ..optim import _checkpoint as _ckpt
from ..optim._base import CommConstraint, Progress, minibatches
from ._base import (BaseEstimator, TransformerMixin, current_backend, resolve_rng, to_backend,
                    to_host)

#: Samples (a fixed random subset of the training data) on which the monitored epochs
#: measure the reconstruction error and the pseudo-likelihood of ``history_``.
MONITOR_SIZE = 256

#: Training counts as diverged once the reconstruction error exceeds this many times its
#: scale on the data (:func:`error_scale`); healthy training stays near 1 or below.
DIVERGENCE_FACTOR = 1e3

#: Philox stream numbers (``deepbio._random``): training's Gibbs samples, and the draws
#: made outside training (:meth:`RBM._derived_stream`), each its own sequence; the bit
#: flips of the monitored pseudo-likelihood have their own, so ``monitor`` never changes
#: what is learnt.
TRAIN_STREAM, SCORE_STREAM, GIBBS_STREAM, MONITOR_STREAM = 0, 1, 2, 3


def _affine_t(xp, a, W, bias, out):
    """``a @ W.T + bias`` into ``out`` (preallocated), the bias added in place."""
    xp.matmul(a, W.T, out=out)
    out += bias
    return out


def error_scale(X):
    """The scale of the reconstruction error on data ``X`` (n_samples, D): the mean
    variance of its features, and at least 1.

    Reconstructing every sample by the feature means has exactly the mean variance as
    error; an RBM starts close to that (its visible biases are initialised from the
    means) and training lowers it.  The floor 1 is the variance of the Gaussian units,
    and keeps the scale meaningful for a batch of one row or of constant features.
    Bernoulli errors lie in [0, 1], so for them the scale is 1 and only non-finite
    values can signal divergence.
    """
    if isinstance(X, np.ndarray):
        return max(1.0, float(np.mean(np.var(X, axis=0))))
    be = current_backend()                 # an array of the backend: one host read
    return max(1.0, be.scalar(be.xp.mean(be.xp.var(X, axis=0))))


class _RawKernels:
    """The backend's kernels without the validation layer, as attributes (hot loops)."""

    def __init__(self, be):
        self.__dict__.update(be.kernels.raw)


class RBM(TransformerMixin, BaseEstimator):
    """Restricted Boltzmann machine with binary hidden units.

    Energy, for visible ``v`` (D,) and hidden ``h`` in {0, 1}^H:

    * ``visible="bernoulli"`` (v in {0, 1}^D, or probabilities in [0, 1]):
      ``E(v, h) = -b.v - c.h - v W h``;
    * ``visible="gaussian"`` (real v, unit variance):
      ``E(v, h) = |v - b|^2 / 2 - c.h - v W h``.

    Trained by contrastive divergence (CD-k) or persistent CD, with momentum, L2 weight
    decay and an optional sparsity target on the hidden units.

    Parameters
    ----------
    n_components : int, default=256
        Number of hidden units H.
    visible : {"bernoulli", "gaussian"}, default="bernoulli"
        Type of the visible units.  Bernoulli units expect X in [0, 1] (min-max scale
        first; values in between are read as probabilities).  Gaussian units expect each
        feature standardised to mean 0 and variance 1: their standard deviation is fixed
        to 1 and not learnt.
    k : int, default=1
        Gibbs steps in the negative phase (CD-k).
    persistent : bool, default=False
        Persistent CD (Tieleman 2008): the negative chain continues from one minibatch
        to the next instead of restarting at the data.
    learning_rate : float > 0 or "auto", default="auto"
        Step size; "auto" is 0.1 for Bernoulli and 0.01 for Gaussian visible units.  Too
        large a step makes training diverge: :meth:`fit` then raises FloatingPointError
        (once the reconstruction error exceeds 1000 times its scale on the data; see
        ``docs/models/rbm.md``).
    momentum : float in [0, 1), default=0.5
        Momentum of the parameter updates.
    weight_decay : float >= 0, default=1e-4
        L2 penalty on every parameter (``W`` and both biases), applied as
        :class:`deepbio.optim.SGD` applies it: the step uses ``grad + weight_decay * param``.
    sparsity_target : float in (0, 1) or None, default=None
        Target mean activation of each hidden unit (Hinton 2010, sec. 11); None disables.
    sparsity_cost : float >= 0, default=0.1
        Weight of the sparsity term, applied to the hidden biases.
    batch_size : int, default=100
        Minibatch size.
    n_iter : int, default=10
        Epochs (passes over the data) of :meth:`fit`.
    include_input : bool, default=False
        If True, :meth:`transform` returns ``[features, X]`` side by side.
    dtype : {"float32", "float64"}, default="float32"
        Floating type of the parameters and of the computation.
    random_state : None, int or numpy.random.Generator, default=None
        Seeds initialisation and shuffling (a host generator) and the Gibbs samples of
        training (a Philox stream, ``deepbio._random``; an int is its key, so the samples
        are the same on every backend).  The flips of :meth:`score_samples` and the
        samples of :meth:`gibbs` come from streams of their own derived from it (for an
        int, the same flips at every call), so they never change training.  A Generator
        is used as is: initialisation and shuffles draw from it, and the streams' keys.
    verbose : int, default=0
        0: silent; 1: a progress bar; 2: one line per epoch.
    comm : mpi4py communicator or None, default=None
        Data-parallel CD-k / PCD over MPI: each rank fits on its own shard; every step
        all-reduces the CD statistics, so the run equals one process on the ranks'
        concatenated minibatches whose Gibbs samples and persistent chains are the
        concatenation of the ranks' (docs/distributed.md).  Not saved with the model.
    monitor : int >= 1 or None, default=1
        Measure the reconstruction error and the pseudo-likelihood of ``history_`` every
        ``monitor`` epochs and at the last one, on a fixed random subset of up to 256
        training samples (``MONITOR_SIZE``); the other epochs record None for both.
        None: never (the fastest ``fit``).  The divergence check on the reconstruction
        error runs at the monitored epochs; every epoch still checks that the weights are
        finite.

    Attributes
    ----------
    W_ : array of shape (n_features, n_components)
        Weights, ``W_[i, j]`` couples visible unit i and hidden unit j (an array of the
        backend active at fit: NumPy on the CPU backends).
    components_ : array of shape (n_components, n_features)
        ``W_.T`` (a view), under scikit-learn's name.
    intercept_visible_ : array of shape (n_features,)
        Visible biases b.
    intercept_hidden_ : array of shape (n_components,)
        Hidden biases c.
    n_features_in_ : int
        Number of visible units D.
    n_iter_ : int
        Epochs run by the last :meth:`fit`.
    history_ : list of dict
        One dict per epoch: ``epoch``, ``reconstruction_error`` (mean squared error of
        the mean-field reconstruction ``E[v | h = p(h | v)]``) and ``pseudo_likelihood``
        (mean per sample; None for Gaussian units), both measured at the end of the
        epoch on a fixed random subset of up to 256 training samples (None at the epochs
        that ``monitor`` skips), and ``time`` (seconds).  Each :meth:`partial_fit` call appends one dict with ``epoch`` None
        and the reconstruction error of its minibatch.

    References
    ----------
    G. E. Hinton. Training products of experts by minimizing contrastive divergence.
    Neural Computation 14(8), 2002.
    G. E. Hinton. A practical guide to training restricted Boltzmann machines.
    UTML TR 2010-003, 2010.
    T. Tieleman. Training restricted Boltzmann machines using approximations to the
    likelihood gradient. ICML 2008.

    Examples
    --------
    >>> import numpy as np
    >>> from deepbio import RBM
    >>> X = (np.random.default_rng(0).random((200, 16)) < 0.3).astype(float)
    >>> rbm = RBM(n_components=8, n_iter=3, random_state=0).fit(X)
    >>> rbm.transform(X).shape
    (200, 8)
    """

    _parameter_constraints = {
        "n_components": [Interval("int", 1, None)],
        "visible": [Options("bernoulli", "gaussian")],
        "k": [Interval("int", 1, None)],
        "persistent": ["boolean"],
        "learning_rate": [Interval("real", 0, None, closed="neither"), Options("auto")],
        "momentum": [Interval("real", 0, 1, closed="left")],
        "weight_decay": [Interval("real", 0, None)],
        "sparsity_target": [Interval("real", 0, 1, closed="neither"), None],
        "sparsity_cost": [Interval("real", 0, None)],
        "batch_size": [Interval("int", 1, None)],
        "n_iter": [Interval("int", 0, None)],
        "include_input": ["boolean"],
        "dtype": ["dtype"],
        "random_state": ["random_state"],
        "comm": [CommConstraint()],
        "verbose": ["verbose"],
        "monitor": [Interval("int", 1, None), None],
    }

    def __init__(self, n_components=256, visible="bernoulli", k=1, persistent=False,
                 learning_rate="auto", momentum=0.5, weight_decay=1e-4,
                 sparsity_target=None, sparsity_cost=0.1, batch_size=100, n_iter=10,
                 include_input=False, dtype="float32", random_state=None, verbose=0,
                 monitor=1, comm=None):
        self.comm = comm
        self.n_components = n_components
        self.visible = visible
        self.k = k
        self.persistent = persistent
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.sparsity_target = sparsity_target
        self.sparsity_cost = sparsity_cost
        self.batch_size = batch_size
        self.n_iter = n_iter
        self.include_input = include_input
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose
        self.monitor = monitor

    # ------------------------------------------------------------------ properties
    @property
    def components_(self):
        """Weights as (n_components, n_features): a transposed view of ``W_``."""
        return self.W_.T

    def _lr(self):
        if self.learning_rate == "auto":
            return 0.1 if self.visible == "bernoulli" else 0.01
        return float(self.learning_rate)

    # ------------------------------------------------------------------ fitting
    def _check_data(self, X, reset):
        X = self._check_X(X, reset=reset)
        if self.visible == "bernoulli":
            lo, hi = X.min(), X.max()
            # rounding in a min-max scaler may overshoot [0, 1] by a few ulps: tolerate it
            if lo < -1e-6 or hi > 1 + 1e-6:
                # (scikit-learn's phrase for data outside a positive_only estimator's range)
                negative = "Negative values in data: " if lo < -1e-6 else ""
                raise ValueError(
                    f"{negative}X must lie in [0, 1] for visible='bernoulli' (got values in "
                    f"[{lo:.4g}, {hi:.4g}]); min-max scale it, or use "
                    f"visible='gaussian' for standardised real-valued data")
            if lo < 0 or hi > 1:
                X = np.clip(X, 0.0, 1.0)
        return X

    def _initialize(self, be, X, rng):
        """Small random weights; visible biases from the data (Hinton 2010, sec. 8)."""
        d, h = X.shape[1], self.n_components
        dt = np.dtype(self.dtype)
        xp = np if isinstance(X, np.ndarray) else be.xp     # where the data are
        mean = X.mean(axis=0)
        if _dist.is_distributed(self.comm):
            # the visible biases from the mean of every rank's data
            total = _dist.global_sum(np.append(to_host(X.sum(axis=0)), X.shape[0]),
                                     self.comm)
            mean = xp.asarray(total[:-1] / total[-1])
        if self.visible == "bernoulli":
            p = xp.clip(mean, 1e-3, 1 - 1e-3)
            b = xp.log(p / (1 - p))
        else:
            b = mean
        self.W_ = to_backend(be, 0.01 * rng.standard_normal((d, h)), dt)
        self.intercept_visible_ = to_backend(be, b, dt)
        self.intercept_hidden_ = to_backend(be, np.zeros(h), dt)
        if _dist.is_distributed(self.comm):
            # every rank starts from rank 0's weights (random_state=None differs per rank)
            _dist.broadcast_(self.W_, self.comm)
        xp = be.xp
        self._velocity = [xp.zeros_like(self.W_), xp.zeros_like(self.intercept_visible_),
                          xp.zeros_like(self.intercept_hidden_)]
        self._chain = None
        self._hidden_mean = None
        self._rng = rng                 # host generator: shuffles (partial_fit continues it)
        self._stream = self._derived_stream(be, self._train_stream(_dist.rank(self.comm)))
        self._gibbs_stream = None       # gibbs' own stream, created at its first call
        self._visible_built = self.visible
        self.history_ = []

    def _ensure_on(self, be):
        """Move the learnt parameters (and training state) onto backend ``be``, as
        arrays of ``dtype`` (which ``set_params`` may have changed since they were made).

        A model loaded from a file has no training state: it starts from zero velocity,
        no persistent chain and a training generator fresh from ``random_state``.
        """
        dt = np.dtype(self.dtype)
        for name in ("W_", "intercept_visible_", "intercept_hidden_"):
            setattr(self, name, to_backend(be, getattr(self, name), dt))
        if getattr(self, "_velocity", None) is None:
            self._velocity = [be.xp.zeros_like(p) for p in
                              (self.W_, self.intercept_visible_, self.intercept_hidden_)]
        else:
            self._velocity = [to_backend(be, v, dt) for v in self._velocity]
        if getattr(self, "_rng", None) is None:
            self._rng = resolve_rng(self.random_state)
        if getattr(self, "_stream", None) is None:
            self._stream = self._derived_stream(be, self._train_stream(_dist.rank(self.comm)))
        self._chain = to_backend(be, getattr(self, "_chain", None), dt)
        self._hidden_mean = to_backend(be, getattr(self, "_hidden_mean", None), dt)

    def _check_same_structure(self):
        """ValueError if ``n_components`` or ``visible`` differ from those the fitted model
        was built with: :meth:`partial_fit` can only continue training the same model."""
        if not hasattr(self, "_visible_built"):
            # loaded from a file (which keeps no private state): the visible it was saved
            # with is the one it was built with; remember it for the calls to come
            self._visible_built = self.visible
        built = {"n_components": self.W_.shape[1], "visible": self._visible_built}
        for name, value in built.items():
            if getattr(self, name) != value:
                raise ValueError(
                    f"RBM.partial_fit: the fitted model was built with {name}={value!r}, "
                    f"not {name}={getattr(self, name)!r}; call fit to train a new model "
                    f"(or set {name} back to continue this one)")

    def fit(self, X, y=None, checkpoint=None, checkpoint_every=1, resume=None):
        """Fit the RBM to ``X`` of shape (n_samples, n_features) for ``n_iter`` epochs.

        Parameters
        ----------
        checkpoint, checkpoint_every, resume
            Checkpoint and resume (docs/reliability.md): write a training checkpoint
            (weights, momentum, the persistent chain, the generator positions, the epoch)
            to the path ``checkpoint`` every ``checkpoint_every`` epochs and after the
            last (atomically; the previous one kept as ``PATH.prev``), or continue the fit
            from the checkpoint ``resume`` (same ``X`` and settings: the weights then
            equal those of an uninterrupted fit).

        Returns
        -------
        self : RBM

        Raises
        ------
        FloatingPointError
            If training diverges (at the end of an epoch the reconstruction error exceeds
            ``DIVERGENCE_FACTOR`` = 1000 times its scale on ``X``, see :func:`error_scale`,
            or it or the weights are NaN or infinite); the RBM is then left unfitted.
            Lower ``learning_rate``.
        """
        self._validate_params()
        checkpointing = _ckpt.check_paths(checkpoint, checkpoint_every, resume)
        X = self._check_data(X, reset=True)
        return self._fit_checked(current_backend(), X, *checkpointing)

    def _fit_checked(self, be, X, checkpoint=None, checkpoint_every=1, resume=None):
        """:meth:`fit` on data already checked: a NumPy array, or an array of backend
        ``be`` that stays there (a DBN hands each RBM the codes of the one below on the
        device)."""
        self.n_features_in_ = int(X.shape[1])
        scale = error_scale(X)
        rng = resolve_rng(self.random_state)
        self._initialize(be, X, rng)
        if _dist.is_distributed(self.comm):
            if checkpoint is not None or resume is not None:
                raise _dist.raise_everywhere(ValueError(
                    "RBM.fit: checkpoint= and resume= are not supported with a "
                    "communicator (comm) yet; train without them, or in one process"))
            return self._fit_distributed(be, X, rng, scale)
        Xb = be.asarray(X, dtype=self.dtype)
        n = X.shape[0]
        subset = Xb[be.asarray(np.sort(rng.permutation(n)[:MONITOR_SIZE]))]
        every = self.monitor
        flips = self._derived_stream(be, MONITOR_STREAM) if every is not None else None
        self.n_iter_ = 0
        first = 0
        digest = _ckpt.data_digest(Xb) if checkpoint or resume else None
        if resume is not None:
            first = self._restore_checkpoint(be, resume, digest)
        with Progress(self.n_iter, self.verbose, "RBM") as bar:
            for epoch in range(first, self.n_iter):
                t0 = time.perf_counter()
                for idx in minibatches(n, self.batch_size, rng, be):
                    self._cd_step(be, Xb[idx], self._stream)
                watched = every is not None and \
                    ((epoch + 1) % every == 0 or epoch + 1 == self.n_iter)
                error = self._reconstruction_error(be, subset) if watched else None
                record = {"epoch": epoch + 1,
                          "reconstruction_error": error,
                          "pseudo_likelihood": self._mean_pseudo_likelihood(
                              be, subset, flips) if watched else None,
                          "time": time.perf_counter() - t0}
                self.history_.append(record)
                self.n_iter_ = epoch + 1
                self._check_diverged(be, error, scale, f"epoch {epoch + 1}")
                bar.update(record)
                if checkpoint is not None and (epoch + 1 == self.n_iter
                                               or (epoch + 1) % checkpoint_every == 0):
                    self._write_checkpoint(be, checkpoint, digest, epoch)
        return self

    _CHECKPOINT_TENSORS = ("W_", "intercept_visible_", "intercept_hidden_")

    def _write_checkpoint(self, be, path, digest, epoch):
        """Save the training state after ``epoch`` (0-based) to ``path``."""
        tensors = {name: be.to_numpy(getattr(self, name)) for name in self._CHECKPOINT_TENSORS}
        tensors.update({f"velocity/{i}": be.to_numpy(v) for i, v in enumerate(self._velocity)})
        for name in ("_chain", "_hidden_mean"):
            if getattr(self, name) is not None:
                tensors[name] = be.to_numpy(getattr(self, name))
        s = self._stream
        _ckpt.save(path, tensors, {
            "optimizer": "RBM", "epoch": int(epoch), "done": epoch + 1 == self.n_iter,
            "n_params": int(self.W_.size), "data": digest,
            "rng": _ckpt.rng_state(self._rng),
            "stream": [str(s.seed), str(s.stream), str(s.offset)],
            "history": _ckpt.to_json(self.history_)})

    def _restore_checkpoint(self, be, path, digest):
        """Load the checkpoint ``path`` (or ``.prev``) into this RBM; the next epoch."""
        tensors, doc = _ckpt.load(path)
        where = f"resume={str(path)!r}"
        if doc.get("optimizer") != "RBM" or tensors["W_"].shape != tuple(self.W_.shape):
            raise ValueError(f"{where}: the checkpoint is not of an RBM with weights of shape "
                             f"{tuple(self.W_.shape)}; resume with the same settings")
        if doc["data"] != digest:
            raise ValueError(f"{where}: the checkpoint was written for other training data; "
                             f"resume with the X it was trained on")
        dt = np.dtype(self.dtype)
        for name in self._CHECKPOINT_TENSORS:
            setattr(self, name, to_backend(be, tensors[name], dt))
        self._velocity = [to_backend(be, tensors[f"velocity/{i}"], dt) for i in range(3)]
        for name in ("_chain", "_hidden_mean"):
            setattr(self, name, to_backend(be, tensors.get(name), dt))
        _ckpt.set_rng_state(self._rng, doc["rng"])
        seed, stream, offset = (int(v) for v in doc["stream"])
        self._stream = PhiloxStream(seed, stream, offset)
        self.history_ = _ckpt.from_json(doc["history"])
        self.n_iter_ = doc["epoch"] + 1
        return self.n_iter if doc["done"] else doc["epoch"] + 1

    # ------------------------------------------------------------ data parallel
    @staticmethod
    def _train_stream(rank):
        """The Philox stream of rank ``rank``'s training samples: ``TRAIN_STREAM`` on rank 0
        (a one-process run is unchanged), a stream of its own on every other rank."""
        return TRAIN_STREAM if rank == 0 else TRAIN_STREAM + (int(rank) << 32)

    @staticmethod
    def _shuffle_generators(rng, ranks):
        """The generators of the ranks' own minibatch orders (and monitor rows), one per
        rank of ``ranks``, from one int drawn from the fit's generator ``rng`` (the same
        on every rank): ``rank_seed(seed, r)``."""
        seed = int(rng.integers(0, 2 ** 63 - 1))
        return [check_random_state(_dist.rank_seed(seed, r)) for r in ranks]

    def _fit_distributed(self, be, X, rng, scale):
        """:meth:`fit` on this rank's shard ``X`` of a communicator's data.

        Rank 0's initial weights are broadcast by :meth:`_initialize` (every rank draws
        the same ones from an int ``random_state`` anyway) and the visible biases come
        from the global mean.  Each
        rank shuffles its own shard (:meth:`_shuffle_generators`) and draws its Gibbs
        samples from its own Philox stream (:meth:`_train_stream`); a PCD run keeps a
        chain per rank.  Each step all-reduces the CD statistics (and the hidden
        activities of the sparsity target) weighted by the ranks' minibatch sizes, so the
        update is the one of one process on the concatenated minibatches whose samples
        (and persistent chains) are the concatenation of the ranks'.  The monitored
        reconstruction error and pseudo-likelihood are the global means over the ranks'
        monitor rows; only rank 0 shows progress.
        """
        comm = self.comm
        shuffle = self._shuffle_generators(rng, [comm.Get_rank()])[0]
        Xb = be.asarray(X, dtype=self.dtype)
        n = X.shape[0]
        monitor = Xb[be.asarray(np.sort(shuffle.permutation(n)[:MONITOR_SIZE]))]
        self.n_iter_ = 0
        verbose = self.verbose if comm.Get_rank() == 0 else 0
        with Progress(self.n_iter, verbose, "RBM") as bar:
            for epoch in range(self.n_iter):
                t0 = time.perf_counter()
                batches = minibatches(n, self.batch_size, shuffle, be)
                steps = _dist.global_max(len(batches), comm)
                batches += [batches[0][:0]] * (steps - len(batches))
                for idx in batches:
                    self._cd_step(be, Xb[idx], self._stream)
                error = self._reconstruction_error(be, monitor)
                pl = self._mean_pseudo_likelihood(be, monitor, self._stream)
                m = monitor.shape[0]
                total = _dist.global_sum([error * m, (pl or 0.0) * m, m], comm)
                record = {"epoch": epoch + 1,
                          "reconstruction_error": float(total[0] / total[2]),
                          "pseudo_likelihood": None if pl is None else
                          float(total[1] / total[2]),
                          "time": time.perf_counter() - t0}
                self.history_.append(record)
                self.n_iter_ = epoch + 1
                # global values: every rank raises alike
                try:
                    self._check_diverged(be, record["reconstruction_error"], scale,
                                         f"epoch {epoch + 1}")
                except FloatingPointError as e:
                    raise _dist.raise_everywhere(e)
                bar.update(record)
        return self

    def partial_fit(self, X, y=None):
        """One CD step on ``X`` (n_samples, n_features) used as a single minibatch.

        The first call initialises the model (from this ``X``); later calls continue it,
        with the hyper-parameters as they are now (checked at every call): ``k``,
        ``learning_rate``, ``momentum``, ... may change between calls, and a new ``dtype``
        converts the parameters, but ``n_components`` and ``visible`` define the model.

        Returns
        -------
        self : RBM

        Raises
        ------
        ValueError
            If ``n_components`` or ``visible`` changed since the model was built (call
            :meth:`fit` for a new model), or a hyper-parameter is invalid.
        FloatingPointError
            If the step diverges, as in :meth:`fit` (the scale is this ``X``'s); the RBM
            is then left unfitted (the next call starts afresh).
        """
        self._validate_params()
        first = not hasattr(self, "W_")
        if not first:
            self._check_same_structure()
        X = self._check_data(X, reset=first)
        be = current_backend()
        if first:
            self._initialize(be, X, resolve_rng(self.random_state))
            self.n_iter_ = 0
        else:
            self._ensure_on(be)
        v = be.asarray(X, dtype=self.dtype)
        self._cd_step(be, v, self._stream)
        self.history_ = getattr(self, "history_", [])
        error = self._reconstruction_error(be, v)
        self.history_.append({"epoch": None, "reconstruction_error": error,
                              "pseudo_likelihood": None, "time": None})
        self._check_diverged(be, error, error_scale(X), "this partial_fit step")
        return self

    def _check_diverged(self, be, error, scale, when):
        """FloatingPointError if training diverged: the reconstruction ``error`` exceeds
        ``DIVERGENCE_FACTOR`` times its ``scale`` on the data (:func:`error_scale`), or it
        or a parameter is NaN or infinite (``error`` None: an epoch ``monitor`` skips,
        only the parameters are checked).

        Called once per epoch (and per :meth:`partial_fit` call): a step size too large
        for the data makes CD training blow up, the error growing by orders of magnitude
        each epoch, so the growth is caught long before the numbers overflow.  Healthy
        training keeps the error near its scale or below.  The learnt parameters are deleted
        before raising, so the broken model cannot pass for a fitted one; ``history_`` is
        kept to show how the error grew.
        """
        params = (self.W_, self.intercept_visible_, self.intercept_hidden_)
        if error is None:
            problem = None
        elif not math.isfinite(error):
            problem = f"the reconstruction error became {error}"
        elif error > DIVERGENCE_FACTOR * scale:
            problem = (f"the reconstruction error grew to {error:.3g}, over "
                       f"{DIVERGENCE_FACTOR:g} times its scale on this data ({scale:.3g})")
        else:
            problem = None
        if problem is None and not all(be.all_finite(p) for p in params):
            problem = "the weights or biases became NaN or infinite"
        if problem is None:
            return
        for name in ("W_", "intercept_visible_", "intercept_hidden_", "n_features_in_"):
            delattr(self, name)
        raise FloatingPointError(
            f"RBM: {problem} in {when}; lower learning_rate (it is {self._lr():g})")

    # ------------------------------------------------------------------ the CD step
    def _sample_visible(self, K, be, pre, rng):
        """``(mean, sample)`` of p(v | h) from the pre-activation ``pre = h W^T + b``."""
        n, d = pre.shape
        if self.visible == "bernoulli":
            return K.sigmoid_bernoulli(pre, be.uniform(rng, (n, d), pre.dtype))
        sigma = be.xp.ones(d, dtype=pre.dtype)
        u1, u2 = be.uniform(rng, (n, d), pre.dtype), be.uniform(rng, (n, d), pre.dtype)
        return pre, K.gaussian_sample(pre, sigma, u1, u2)

    def _visible_mean(self, K, pre):
        if self.visible == "bernoulli":
            return K.activation_forward(pre, "sigmoid")
        return pre

    def _visible_buffer(self, be, n, d, dt):
        """The (n, d) buffer of the visible pre-activations, kept from step to step (a new
        one only when the minibatch size, dtype or backend changes)."""
        buf = getattr(self, "_vis_pre", None)
        if buf is None or buf.shape != (n, d) or buf.dtype != dt \
                or not isinstance(buf, be.array_type):
            buf = self._vis_pre = be.xp.empty((n, d), dtype=dt)
        return buf

    def _cd_step(self, be, v0, rng):
        """One CD-k (or PCD-k) update of the parameters from the minibatch ``v0`` (n, D).

        Positive phase ``h0 = p(h | v0)``.  Negative phase: k Gibbs steps, from a sample
        of ``h0`` (CD) or from the persistent chain's hidden state (PCD), ending in
        ``vk`` (the mean-field reconstruction for CD, a sample for PCD) and
        ``hk = p(h | vk)``.  The loss gradient is ``cd_statistics(vk, hk, v0, h0)`` (the
        statistics with the phases swapped: the negated log-likelihood ascent direction)
        and the update the fused ``sgd_update`` kernel, in place on each parameter.  The
        arrays are built here with matching shapes and dtype, so the kernels are called
        unvalidated (``kernels.raw``).
        """
        n = v0.shape[0]
        comm = self.comm
        if not _dist.is_distributed(comm):
            dW, db, dc, h0 = self._cd_statistics(be, v0, rng)
            self._cd_update(be, dW, db, dc, h0.mean(axis=0))
            return
        # the gradient of the ranks' concatenated minibatches: one Allreduce of
        # [n gW, n gb, n gc, sum h0, n] (a rank with an empty minibatch adds zeros)
        xp = be.xp
        D, H = self.W_.shape
        buf = xp.zeros(D * H + D + 2 * H + 1, dtype=self.W_.dtype)
        if n:
            dW, db, dc, h0 = self._cd_statistics(be, v0, rng)
            buf[:D * H] = (dW * n).reshape(-1)
            buf[D * H:D * H + D] = db * n
            buf[D * H + D:D * H + D + H] = dc * n
            buf[D * H + D + H:-1] = h0.sum(axis=0)
            buf[-1] = n
        _dist.allreduce_(buf, comm)
        total = be.scalar(buf[-1])
        buf /= total
        self._cd_update(be, buf[:D * H].reshape(D, H), buf[D * H:D * H + D],
                        buf[D * H + D:D * H + D + H], buf[D * H + D + H:-1])

    def _cd_statistics(self, be, v0, rng):
        """The loss gradient of the minibatch ``v0`` estimated by CD-k (PCD-k):
        ``(gW, gb, gc)``, batch means, the statistics :func:`cd_statistics` with the phases
        swapped; and ``h0 = p(h | v0)`` (for the sparsity target).  Advances the
        persistent chain."""
        K = _RawKernels(be)
        xp = be.xp
        W, b, c = self.W_, self.intercept_visible_, self.intercept_hidden_
        n, d, h = v0.shape[0], W.shape[0], W.shape[1]
        dt = v0.dtype
        pre = self._visible_buffer(be, n, d, dt)

        if self.persistent:
            # positive phase: h0 = p(h | v0) = sigmoid(v0 W + c)
            h0 = K.dense_forward(v0, W, c, "sigmoid")
            if self._chain is None or self._chain.shape[0] < n:
                # the chains start at a sample of the data's hidden units
                _, self._chain = K.sigmoid_bernoulli(K.dense_forward(v0, W, c, "linear"),
                                                     be.uniform(rng, (n, h), dt))
            hs = self._chain[:n]
            for _ in range(self.k):
                _, v = self._sample_visible(K, be, _affine_t(xp, hs, W, b, pre), rng)
                hk, hs = K.sigmoid_bernoulli(K.dense_forward(v, W, c, "linear"),
                                             be.uniform(rng, (n, h), dt))
            self._chain[:n] = hs
            vk = v
        else:
            # positive phase: h0 = p(h | v0) = sigmoid(v0 W + c), and a sample of it
            h0, hs = K.sigmoid_bernoulli(K.dense_forward(v0, W, c, "linear"),
                                         be.uniform(rng, (n, h), dt))
            for step in range(self.k):
                _affine_t(xp, hs, W, b, pre)
                if step < self.k - 1:
                    _, v = self._sample_visible(K, be, pre, rng)
                    _, hs = K.sigmoid_bernoulli(K.dense_forward(v, W, c, "linear"),
                                                be.uniform(rng, (n, h), dt))
                else:
                    vk = self._visible_mean(K, pre)          # mean-field reconstruction
            hk = K.dense_forward(vk, W, c, "sigmoid")

        # the loss gradient: the CD statistics (which estimate the log-likelihood's
        # gradient) with the phases swapped, i.e. negated
        gW, gb, gc = K.cd_statistics(vk, hk, v0, h0)
        return gW, gb, gc, h0

    def _cd_update(self, be, gW, gb, gc, q):
        """The momentum update of ``(W, b, c)`` from the loss gradient ``(gW, gb, gc)`` of
        :meth:`_cd_statistics`, with ``q`` the minibatch's mean hidden activity (used by
        the sparsity target)."""
        K = _RawKernels(be)
        W, b, c = self.W_, self.intercept_visible_, self.intercept_hidden_
        if self.sparsity_target is not None:
            # running mean activation q of each hidden unit; push it towards the target
            self._hidden_mean = q if self._hidden_mean is None else \
                0.9 * self._hidden_mean + 0.1 * q
            gc = gc - self.sparsity_cost * (self.sparsity_target - self._hidden_mean)
        # The update (momentum, L2 weight decay on every parameter) is the one SGD makes,
        # as one fused pass per parameter (deepbio.optim.sgd.momentum_update's formula).
        lr, mu, wd = self._lr(), float(self.momentum), float(self.weight_decay)
        for param, vel, g in zip((W, b, c), self._velocity, (gW, gb, gc)):
            K.sgd_update(param.reshape(-1), g.reshape(-1), vel.reshape(-1), None, lr, mu, wd,
                         False)

    def _reconstruction_error(self, be, v):
        """Mean squared error of the mean-field reconstruction E[v | h = p(h | v)]."""
        K = be.kernels
        W, b, c = self.W_, self.intercept_visible_, self.intercept_hidden_
        recon = self._visible_mean(K, K.dense_forward(v, W, c, "sigmoid") @ W.T + b)
        diff = v - recon
        return be.scalar(be.xp.mean(diff * diff))

    # ------------------------------------------------------------------ inference
    def _host_X(self, X):
        return self._check_X(X)

    def _parameters(self, be):
        """``(W, b, c)`` as arrays of backend ``be`` and of ``dtype``: converted when the
        backend or ``dtype`` changed since fit (the model itself is left as it is)."""
        dt = np.dtype(self.dtype)
        return tuple(to_backend(be, p, dt) for p in
                     (self.W_, self.intercept_visible_, self.intercept_hidden_))

    def _derived_stream(self, be, stream):
        """The Philox stream number ``stream`` of this RBM: ``TRAIN_STREAM`` for training's
        Gibbs samples, the others for draws made outside training, which so never touch
        training's.

        From an int ``random_state`` the stream ``(random_state, stream)``: the same
        draws at every call and on every backend.  None: a fresh unpredictable key.  A
        Generator ``random_state`` gives a key drawn from it (the caller shares it on
        purpose).
        """
        return be.stream(self.random_state, stream)

    def _n_features_out(self):
        return int(self.W_.shape[1])

    def transform(self, X):
        """Hidden probabilities ``p(h = 1 | X) = sigmoid(X W + c)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        H : ndarray of shape (n_samples, n_components)
            (n_samples, n_components + n_features) with ``include_input=True``.
        """
        X = self._host_X(X)
        return self._with_input(self._hidden_probabilities(X), X)

    def _hidden_probabilities(self, X, on_device=False):
        """p(h = 1 | X), as a NumPy array (``on_device``: as an array of the backend)."""
        be = current_backend()
        Xb = be.asarray(X, dtype=self.dtype)
        W, _, c = self._parameters(be)
        H = be.kernels.dense_forward(Xb, W, c, "sigmoid")
        return H if on_device else to_host(H)

    def gibbs(self, v, steps=1, random_state=None):
        """Run ``steps`` full Gibbs steps v -> h -> v from ``v`` (n_samples, n_features).

        Returns the visible sample after the last step, shape (n_samples, n_features):
        binary for Bernoulli units, real for Gaussian units.

        ``random_state`` (None, int or Generator) is the source of the samples.  None
        uses the RBM's own sampling stream, derived from the RBM's ``random_state``
        after each fit and continued from call to call (a chain run one step per call
        gets new noise at every step; a refit RBM repeats the same samples).  The
        training stream is never used, so sampling between :meth:`partial_fit` calls
        leaves training unchanged.
        """
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
            raise ValueError(f"steps must be an int >= 1, got {steps!r}")
        v = self._host_X(v)
        be = current_backend()
        if random_state is not None:
            rng = be.stream(random_state)
        else:
            if getattr(self, "_gibbs_stream", None) is None:
                self._gibbs_stream = self._derived_stream(be, GIBBS_STREAM)
            rng = self._gibbs_stream
        K = be.kernels
        W, b, c = self._parameters(be)
        v = be.asarray(v, dtype=self.dtype)
        n, h = v.shape[0], W.shape[1]
        for _ in range(int(steps)):
            _, hs = K.sigmoid_bernoulli(v @ W + c, be.uniform(rng, (n, h), v.dtype))
            _, v = self._sample_visible(K, be, hs @ W.T + b, rng)
        return to_host(v)

    def free_energy(self, X):
        """Free energy ``F(v) = -log sum_h exp(-E(v, h))`` of every row, shape (n_samples,)."""
        X = self._host_X(X)
        be = current_backend()
        return to_host(self._free_energy(be, be.asarray(X, dtype=self.dtype)))

    def _free_energy(self, be, v):
        sigma = None if self.visible == "bernoulli" else be.xp.ones(v.shape[1], dtype=v.dtype)
        return be.kernels.free_energy(v, *self._parameters(be), sigma)

    def _pseudo_likelihood(self, be, v, rng):
        """Stochastic pseudo-likelihood per row (Bernoulli): flip one random bit i per row,
        ``PL(v) ~= D log sigmoid(F(v_flipped) - F(v))``."""
        xp = be.xp
        n, d = v.shape
        i = xp.minimum((be.uniform(rng, (n,), "float64") * d).astype(xp.int64), d - 1)
        rows = xp.arange(n)
        flipped = v.copy()
        flipped[rows, i] = 1 - flipped[rows, i]
        gap = self._free_energy(be, flipped) - self._free_energy(be, v)
        # log sigmoid(x) = -softplus(-x), computed without overflow
        log_sig = xp.minimum(gap, 0) - xp.log1p(xp.exp(-xp.abs(gap)))
        return d * log_sig

    def _mean_pseudo_likelihood(self, be, v, rng):
        if self.visible != "bernoulli":
            return None
        return be.scalar(be.xp.mean(self._pseudo_likelihood(be, v, rng)))

    def score_samples(self, X):
        """Log-likelihood proxy per sample, shape (n_samples,).

        Bernoulli units: the stochastic pseudo-likelihood (one random bit flipped per
        sample, as scikit-learn's ``BernoulliRBM``).  The flips come from a generator
        derived afresh from ``random_state`` at every call (see :meth:`_derived_stream`):
        with an int seed repeated calls give identical scores, and training is never
        disturbed.  Gaussian units: ``-F(v)``, the unnormalised log-density.
        """
        X = self._host_X(X)
        be = current_backend()
        v = be.asarray(X, dtype=self.dtype)
        if self.visible == "bernoulli":
            return to_host(self._pseudo_likelihood(be, v, self._derived_stream(be, SCORE_STREAM)))
        return -to_host(self._free_energy(be, v))

    def reconstruct(self, X):
        """Mean-field reconstruction ``E[v | h = p(h | X)]``, shape (n_samples, n_features)."""
        X = self._host_X(X)
        be = current_backend()
        H = be.asarray(self._hidden_probabilities(X), dtype=self.dtype)
        W, b, _ = self._parameters(be)
        return to_host(self._visible_mean(be.kernels, H @ W.T + b))
