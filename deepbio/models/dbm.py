"""Deep Boltzmann machines (Salakhutdinov & Hinton 2009): binary units in two or three
hidden layers, greedy initialisation with the doubled-input correction, mean-field
inference for the data term and persistent Gibbs chains for the model term; annealed
importance sampling (AIS) for log Z.  Maths in ``docs/models/dbm.md``.

The sampling and the affine + sigmoid steps run on the backend through its kernels
(``sigmoid_bernoulli``, ``dense_forward``, ``cd_statistics``) and array module ``xp``;
the exact partition function (enumeration, for small models) is plain NumPy on the host.
"""
import itertools
import math
import time

import numpy as np

from .._validation import Interval, IntSequence, Options
from ..optim._base import Progress, minibatches
from ..optim.sgd import momentum_update
from ._base import (BaseEstimator, TransformerMixin, current_backend, resolve_rng, to_backend,
                    to_host)
from ._feedforward import FeedForwardClassifier
from ._training import child_seed, hidden_sizes

#: Philox stream numbers of a DBM: pre-training, the persistent chains, and AIS.
PRETRAIN_STREAM, CHAIN_STREAM, AIS_STREAM = 10, 11, 12

#: AIS settings of :meth:`DBM.score_samples` (its log Z estimate, cached per fit).
SCORE_AIS_CHAINS, SCORE_AIS_BETAS = 64, 2000

#: Minibatch size of the DBM a :class:`DBMClassifier` trains (``batch_size`` is the
#: fine-tuning's).
DBM_BATCH_SIZE = 100

#: Most states :meth:`DBM.exact_log_partition` enumerates.
MAX_EXACT_STATES = 2 ** 22


def _softplus(xp, x):
    return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))


def _logsumexp(a):
    m = np.max(a)
    return float(m + np.log(np.sum(np.exp(a - m))))


def _check_unit_range(X):
    """``X`` clipped to [0, 1] (rounding may overshoot by a few ulps); ValueError for
    values outside it."""
    lo, hi = X.min(), X.max()
    if lo < -1e-6 or hi > 1 + 1e-6:
        negative = "Negative values in data: " if lo < -1e-6 else ""
        raise ValueError(f"{negative}X must lie in [0, 1] for a DBM's binary visible units "
                         f"(got values in [{lo:.4g}, {hi:.4g}]); min-max scale it or "
                         f"binarise it first")
    return np.clip(X, 0.0, 1.0)


def _all_states(n):
    return np.array(list(itertools.product((0.0, 1.0), repeat=n))).reshape(-1, n)


class DBM(TransformerMixin, BaseEstimator):
    """Deep Boltzmann machine with binary visible and hidden units.

    Energy of ``x = (v, h1, ..., hL)`` (L = 2 or 3 hidden layers)::

        E(x) = - sum_l b_l . h_l - sum_l h_{l-1} W_l h_l          (h_0 = v)

    for binary visible units (``visible="bernoulli"``); with ``visible="gaussian"`` the
    visible term ``- b_0 . v`` becomes ``|v - b_0|^2 / 2`` (real v of unit variance, as
    the Gaussian-Bernoulli RBM).

    Every layer talks to the one below and the one above, so unlike a DBN the posterior
    over the hidden layers is not factorial; it is approximated by mean field.

    Training (:meth:`fit`): greedy layer-wise initialisation by RBMs with the
    doubled-input correction of Salakhutdinov & Hinton (the bottom RBM uses ``2 W`` on
    the way up, the top one ``2 W`` on the way down, a middle one is trained plainly and
    its weights halved), then ``n_iter`` epochs of the DBM's own stochastic gradient:
    data term from mean-field posteriors, model term from ``n_chains`` persistent Gibbs
    chains (Tieleman 2008).

    Parameters
    ----------
    hidden_layer_sizes : tuple of 2 or 3 int, default=(64, 32)
        Units of each hidden layer, bottom to top.
    visible : {"bernoulli", "gaussian"}, default="bernoulli"
        Bernoulli units take X in [0, 1] (values in between are read as probabilities);
        Gaussian units take features standardised to mean 0 and variance 1.
    pretrain_epochs : int >= 0, default=10
        Epochs of CD-1 for each greedy RBM (0: small random initial weights).
    pretrain_learning_rate : float > 0, default=0.05
    n_iter : int >= 0, default=20
        Epochs of joint DBM training.
    learning_rate : float > 0, default=0.01
        Step size of joint training (divided by ``1 + epoch / 10`` in epoch ``epoch``,
        which persistent chains need to stay near equilibrium).
    momentum : float in [0, 1), default=0.5
    weight_decay : float >= 0, default=1e-4
        L2 penalty on the weights (not on the biases).
    batch_size : int, default=100
    n_chains : int, default=100
        Persistent Gibbs chains ("fantasy particles") of the model term.
    k : int, default=1
        Gibbs sweeps of the chains per parameter update.
    mean_field_iter : int, default=30
        Most mean-field sweeps per inference (training, :meth:`transform`, scores).
    mean_field_tol : float >= 0, default=1e-6
        Mean field stops once no posterior moves by more than this in a sweep.
    include_input : bool, default=False
        If True, :meth:`transform` returns ``[features, X]``.
    dtype : {"float32", "float64"}, default="float32"
    random_state : None, int or numpy.random.Generator, default=None
        Initial weights and shuffles (host generator) and the Gibbs samples (Philox
        streams of their own for pre-training, chains and AIS: an int gives the same
        samples on every backend).
    verbose : int, default=0

    Attributes
    ----------
    coefs_ : list of arrays
        ``coefs_[l]`` of shape (units_l, units_{l+1}) couples layer l and l + 1 (layer 0
        is the visible one).
    intercepts_ : list of arrays
        Biases of every layer, the visible one first (L + 1 arrays).
    n_features_in_ : int
    n_iter_ : int
    history_ : list of dict
        Per joint-training epoch: ``epoch``, ``reconstruction_error`` (mean squared
        error of ``sigmoid(q1 W1^T + b0)`` against the data, q1 the mean-field posterior
        of the first hidden layer, on up to 256 training samples), ``mean_field_sweeps``
        (mean sweeps to converge on them) and ``time``.
    pretrain_history_ : list of list of dict
        Per greedy RBM, per epoch: ``epoch``, ``reconstruction_error``.

    References
    ----------
    R. Salakhutdinov, G. Hinton. Deep Boltzmann machines. AISTATS 2009.
    R. Salakhutdinov, I. Murray. On the quantitative analysis of deep belief networks.
    ICML 2008 (AIS).

    Examples
    --------
    >>> import numpy as np
    >>> from deepbio import DBM
    >>> X = (np.random.default_rng(0).random((100, 12)) < 0.3).astype(float)
    >>> DBM((8, 4), pretrain_epochs=2, n_iter=2, random_state=0).fit_transform(X).shape
    (100, 4)
    """

    _parameter_constraints = {
        "hidden_layer_sizes": [IntSequence(1)],
        "visible": [Options("bernoulli", "gaussian")],
        "pretrain_epochs": [Interval("int", 0, None)],
        "pretrain_learning_rate": [Interval("real", 0, None, closed="neither")],
        "n_iter": [Interval("int", 0, None)],
        "learning_rate": [Interval("real", 0, None, closed="neither")],
        "momentum": [Interval("real", 0, 1, closed="left")],
        "weight_decay": [Interval("real", 0, None)],
        "batch_size": [Interval("int", 1, None)],
        "n_chains": [Interval("int", 1, None)],
        "k": [Interval("int", 1, None)],
        "mean_field_iter": [Interval("int", 1, None)],
        "mean_field_tol": [Interval("real", 0, None)],
        "include_input": ["boolean"],
        "dtype": ["dtype"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(self, hidden_layer_sizes=(64, 32), visible="bernoulli", pretrain_epochs=10,
                 pretrain_learning_rate=0.05, n_iter=20, learning_rate=0.01, momentum=0.5,
                 weight_decay=1e-4, batch_size=100, n_chains=100, k=1, mean_field_iter=30,
                 mean_field_tol=1e-6, include_input=False, dtype="float32",
                 random_state=None, verbose=0):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.visible = visible
        self.pretrain_epochs = pretrain_epochs
        self.pretrain_learning_rate = pretrain_learning_rate
        self.n_iter = n_iter
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.n_chains = n_chains
        self.k = k
        self.mean_field_iter = mean_field_iter
        self.mean_field_tol = mean_field_tol
        self.include_input = include_input
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ checks
    def _sizes(self):
        sizes = hidden_sizes(self.hidden_layer_sizes)
        if len(sizes) not in (2, 3):
            raise ValueError(f"hidden_layer_sizes must give 2 or 3 hidden layers for a DBM, "
                             f"got {self.hidden_layer_sizes!r}")
        return sizes

    def _check_data(self, X, reset=False):
        X = self._check_X(X, reset=reset)
        return _check_unit_range(X) if self.visible == "bernoulli" else X

    def _requires_positive_X(self):
        return self.visible == "bernoulli"

    # ------------------------------------------------------------------ fitting
    def fit(self, X, y=None):
        """Greedy initialisation, then ``n_iter`` epochs of joint training on ``X``
        (n_samples, n_features) with values in [0, 1].

        Returns
        -------
        self : DBM

        Raises
        ------
        FloatingPointError
            If the weights become NaN or infinite (lower the learning rates).
        """
        self._validate_params()
        sizes = self._sizes()
        X = self._check_data(X, reset=True)
        be = current_backend()
        rng = resolve_rng(self.random_state)
        dt = np.dtype(self.dtype)
        Xb = be.asarray(X, dtype=dt)
        self._log_z = None
        self._pretrain(be, Xb, (X.shape[1],) + sizes, rng)
        self._train(be, Xb, rng)
        return self

    def _pretrain(self, be, Xb, units, rng):
        """Greedy RBMs with the doubled-input correction; sets ``coefs_``/``intercepts_``."""
        xp, K = be.xp, be.kernels
        dt = Xb.dtype
        L = len(units) - 1
        mean = Xb.mean(axis=0)
        if self.visible == "bernoulli":
            mean = xp.clip(mean, 1e-3, 1 - 1e-3)
            mean = xp.log(mean / (1 - mean))
        self.intercepts_ = [mean] + \
            [xp.zeros(u, dtype=dt) for u in units[1:]]
        self.coefs_ = [to_backend(be, 0.01 * rng.standard_normal((units[i], units[i + 1])), dt)
                       for i in range(L)]
        self.pretrain_history_ = []
        if self.pretrain_epochs == 0:
            return
        stream = be.stream(self._stream_seed(rng), PRETRAIN_STREAM)
        data = Xb
        for l in range(L):
            up = 2.0 if l == 0 else 1.0               # bottom: twice the input going up
            down = 2.0 if l == L - 1 else 1.0         # top: twice the input going down
            W, b, c = self.coefs_[l], xp.zeros(units[l], dtype=dt), self.intercepts_[l + 1]
            if l == 0:
                b = self.intercepts_[0].copy()
            vel = [xp.zeros_like(W), xp.zeros_like(b), xp.zeros_like(c)]
            record = []
            n = data.shape[0]
            for epoch in range(self.pretrain_epochs):
                err = 0.0
                for idx in minibatches(n, self.batch_size, rng, be):
                    v0 = data[idx]
                    h0, hs = K.sigmoid_bernoulli(up * (v0 @ W) + c,
                                                 be.uniform(stream, (len(v0), W.shape[1]), dt))
                    vk = down * (hs @ W.T) + b
                    if l > 0 or self.visible == "bernoulli":
                        vk = K.activation_forward(vk, "sigmoid")
                    hk = K.activation_forward(up * (vk @ W) + c, "sigmoid")
                    dW, db, dc = K.cd_statistics(v0, h0, vk, hk)
                    for p, vv, g, wd in zip((W, b, c), vel, (dW, db, dc),
                                            (self.weight_decay, 0.0, 0.0)):
                        momentum_update(p, -g, vv, self.pretrain_learning_rate, 0.5,
                                        weight_decay=wd)
                    diff = v0 - vk
                    err += be.scalar(xp.sum(diff * diff))
                record.append({"epoch": epoch + 1, "reconstruction_error": err / data.size})
            self._check_finite(be, f"pre-training layer {l + 1}")
            if l == 0:
                self.intercepts_[0] = b
            if 0 < l < L - 1:
                W *= 0.5                              # a middle layer: halved both ways
            self.pretrain_history_.append(record)
            # the next RBM learns the (doubled) codes of this one
            data = K.activation_forward(up * (data @ W) + c, "sigmoid")

    def _stream_seed(self, rng):
        """The Philox key: the int ``random_state`` itself, else a key drawn from ``rng``."""
        rs = self.random_state
        if isinstance(rs, (int, np.integer)) and not isinstance(rs, bool):
            return int(rs)
        return int(rng.integers(2 ** 63))

    def _train(self, be, Xb, rng):
        xp, K = be.xp, be.kernels
        dt = Xb.dtype
        n = Xb.shape[0]
        params = self.coefs_ + self.intercepts_
        velocity = [xp.zeros_like(p) for p in params]
        stream = be.stream(self._stream_seed(rng), CHAIN_STREAM)
        # persistent chains start at random training samples and their mean-field codes
        start = be.asarray(rng.integers(0, n, self.n_chains))
        chain = self._mean_field(be, Xb[start])[0]
        chain = [Xb[start]] + [(be.uniform(stream, q.shape, dt) < q).astype(dt)
                               for q in chain]
        monitor = Xb[be.asarray(np.sort(rng.permutation(n)[:256]))]
        self.history_, self.n_iter_ = [], 0
        with Progress(self.n_iter, self.verbose, "DBM") as bar:
            for epoch in range(self.n_iter):
                t0 = time.perf_counter()
                lr = self.learning_rate / (1 + epoch / 10)
                for idx in minibatches(n, self.batch_size, rng, be):
                    v = Xb[idx]
                    q, _ = self._mean_field(be, v)
                    data_layers = [v] + q
                    for _ in range(self.k):
                        chain = self._gibbs_sweep(be, chain, stream)
                    grads = self._statistics(data_layers, chain)
                    for i, (p, vel, g) in enumerate(zip(params, velocity, grads)):
                        wd = self.weight_decay if i < len(self.coefs_) else 0.0
                        momentum_update(p, -g, vel, lr, self.momentum, weight_decay=wd)
                self._check_finite(be, f"epoch {epoch + 1}")
                q, sweeps = self._mean_field(be, monitor)
                recon = K.activation_forward(q[0] @ self.coefs_[0].T + self.intercepts_[0],
                                             "sigmoid")
                diff = monitor - recon
                record = {"epoch": epoch + 1,
                          "reconstruction_error": be.scalar(xp.mean(diff * diff)),
                          "mean_field_sweeps": sweeps, "time": time.perf_counter() - t0}
                self.history_.append(record)
                self.n_iter_ = epoch + 1
                bar.update(record)

    def _check_finite(self, be, when):
        if not all(be.all_finite(p) for p in self.coefs_ + self.intercepts_):
            for name in ("coefs_", "intercepts_", "n_features_in_"):
                if hasattr(self, name):
                    delattr(self, name)
            raise FloatingPointError(f"DBM: the weights became NaN or infinite in {when}; "
                                     f"lower learning_rate / pretrain_learning_rate")

    @staticmethod
    def _statistics(data_layers, chain):
        """Gradient of the log-likelihood: data statistics minus model statistics, for
        every weight matrix then every bias (batch means)."""
        nd, nm = data_layers[0].shape[0], chain[0].shape[0]
        dW = [(a.T @ b) / nd - (c.T @ d) / nm
              for a, b, c, d in zip(data_layers[:-1], data_layers[1:], chain[:-1], chain[1:])]
        db = [a.mean(axis=0) - c.mean(axis=0) for a, c in zip(data_layers, chain)]
        return dW + db

    # ------------------------------------------------------------------ inference
    def _params(self, be, dtype=None):
        dt = np.dtype(self.dtype if dtype is None else dtype)
        return ([to_backend(be, W, dt) for W in self.coefs_],
                [to_backend(be, b, dt) for b in self.intercepts_])

    def _input(self, Ws, bs, layers, l):
        """Total input to layer ``l`` from its neighbours in ``layers``."""
        z = bs[l]
        if l > 0:
            z = z + layers[l - 1] @ Ws[l - 1]
        if l + 1 < len(layers):
            z = z + layers[l + 1] @ Ws[l].T
        return z

    def _mean_field(self, be, v, params=None, n_iter=None, tol=None):
        """Mean-field posteriors ``[q1, ..., qL]`` of the hidden layers given ``v`` (an
        array of the backend), and the sweeps it took.

        Initialised by one bottom-up pass with the doubled weights (``sigmoid(2 v W1 +
        b1)`` ...: each layer stands in for its missing top-down input), then sweeps
        ``q_l = sigmoid(q_{l-1} W_l + q_{l+1} W_{l+1}^T + b_l)`` bottom to top until no
        value moves by more than ``tol``.
        """
        K, xp = be.kernels, be.xp
        Ws, bs = params if params is not None else (self.coefs_, self.intercepts_)
        n_iter = self.mean_field_iter if n_iter is None else n_iter
        tol = self.mean_field_tol if tol is None else tol
        L = len(Ws)
        q, a = [], v
        for l in range(L):
            scale = 2.0 if l < L - 1 else 1.0
            a = K.activation_forward(scale * (a @ Ws[l]) + bs[l + 1], "sigmoid")
            q.append(a)
        layers = [v] + q
        sweeps = 0
        for sweeps in range(1, n_iter + 1):
            change = 0.0
            for l in range(1, L + 1):
                new = K.activation_forward(self._input(Ws, bs, layers, l), "sigmoid")
                change = max(change, be.scalar(xp.max(xp.abs(new - layers[l]))))
                layers[l] = new
            if change <= tol:
                break
        return layers[1:], sweeps

    def _gibbs_sweep(self, be, layers, stream, beta=1.0, params=None):
        """One Gibbs sweep: layers v and h2 given h1 (and h3), then h1 and h3 given v
        and h2; the interactions scaled by ``beta`` (AIS: the Gaussian visible units keep
        their unit-variance term, so their mean is ``b_0 + beta h1 W_1^T``).  Returns the
        new layers."""
        K = be.kernels
        Ws, bs = params if params is not None else (self.coefs_, self.intercepts_)
        layers = list(layers)
        dt = layers[0].dtype
        for parity in (0, 1):
            for l in range(parity, len(layers), 2):
                if l == 0 and self.visible == "gaussian":
                    mean = bs[0] + beta * (layers[1] @ Ws[0].T)
                    sigma = be.xp.ones(mean.shape[1], dtype=dt)
                    layers[0] = K.gaussian_sample(mean, sigma, be.uniform(stream, mean.shape, dt),
                                                  be.uniform(stream, mean.shape, dt))
                    continue
                z = self._input(Ws, bs, layers, l)
                if beta != 1.0:
                    z = beta * z
                layers[l] = K.sigmoid_bernoulli(z, be.uniform(stream, z.shape, dt))[1]
        return layers

    def _n_features_out(self):
        return int(self.coefs_[-1].shape[1])

    def transform(self, X):
        """Mean-field posterior of the top hidden layer, shape (n_samples, units_L)
        (with ``include_input``: ``[features, X]``)."""
        X = self._check_data(X)
        return self._with_input(self._host_mean_field(X)[-1], X)

    def mean_field(self, X):
        """Mean-field posteriors of every hidden layer given ``X``: a list of L arrays
        (n_samples, units_l), bottom first."""
        return self._host_mean_field(self._check_data(X))

    def _host_mean_field(self, X):
        be = current_backend()
        q, _ = self._mean_field(be, be.asarray(X, dtype=self.dtype), self._params(be))
        return [to_host(a) for a in q]

    # ------------------------------------------------------------------ log Z
    def _log_unnormalised_even(self, xp, Ws, bs, even, beta):
        """``log sum_{v, h2} f_beta(v, h)`` for the hidden layers ``even = {1: h1, 3: h3}``
        (v and h2 summed, or integrated, out analytically), per row, where
        ``f_beta = exp(-beta E)`` (binary v) or ``exp(-|v - b_0|^2 / 2 - beta E')`` with
        ``E'`` the energy without the Gaussian term."""
        L = len(Ws)
        layers = {l: even[l] for l in even}
        out = 0.0
        for l, h in even.items():
            out = out + beta * (h @ bs[l])
        for l in range(0, L + 1, 2):                      # the layers summed out: v, h2
            if l == 0 and self.visible == "gaussian":
                a = layers[1] @ Ws[0].T
                out = out + beta * (a @ bs[0]) + 0.5 * beta * beta * (a * a).sum(axis=1) \
                    + 0.5 * Ws[0].shape[0] * math.log(2 * math.pi)
                continue
            z = bs[l]
            if l - 1 in layers:
                z = z + layers[l - 1] @ Ws[l - 1]
            if l + 1 in layers:
                z = z + layers[l + 1] @ Ws[l].T
            out = out + _softplus(xp, beta * z).sum(axis=1)
        return out

    def log_partition(self, n_chains=100, n_betas=1000, random_state=None):
        """Estimate ``log Z`` by annealed importance sampling (Neal 2001; Salakhutdinov &
        Murray 2008).

        The chain runs over the hidden layers h1 (and h3), the visible layer and h2
        being summed out analytically; it anneals from the uniform distribution
        (``beta = 0``, ``log Z_0 = (D + sum_l H_l) log 2``; for Gaussian visible units
        ``v ~ N(b_0, I)`` there, ``log Z_0 = D log(2 pi) / 2 + sum_l H_l log 2``) to the
        DBM through ``n_betas`` equally spaced inverse temperatures, one Gibbs sweep at each.  The
        estimate is ``log Z_0 + log mean_chains exp(log w)``; it is unbiased for Z (not
        log Z) and tends to underestimate log Z when too few betas are used.

        Parameters
        ----------
        n_chains : int, default=100
        n_betas : int, default=1000
        random_state : None, int or numpy.random.Generator
            Source of the samples (a Philox stream: the same estimate on every backend).

        Returns
        -------
        log_z : float
        """
        for name, v, low in (("n_chains", n_chains, 1), ("n_betas", n_betas, 2)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
                raise ValueError(f"{name} must be an int >= {low}, got {v!r}")
        self._check_fitted()
        be = current_backend()
        xp = be.xp
        Ws, bs = self._params(be, "float64")
        L = len(Ws)
        stream = be.stream(random_state, AIS_STREAM)
        units = [W.shape[0] for W in Ws] + [Ws[-1].shape[1]]
        log_z0 = sum(units) * math.log(2.0)
        if self.visible == "gaussian":        # v ~ N(b_0, I) at beta = 0
            log_z0 += units[0] * (0.5 * math.log(2 * math.pi) - math.log(2.0))
        layers = [xp.zeros((n_chains, u), dtype="float64") for u in units]
        for l in range(1, L + 1, 2):
            layers[l] = (be.uniform(stream, (n_chains, units[l]), "float64") < 0.5) \
                .astype("float64")
        log_w = xp.zeros(n_chains, dtype="float64")
        betas = np.linspace(0.0, 1.0, int(n_betas))
        params = (Ws, bs)
        for k in range(1, len(betas)):
            even = {l: layers[l] for l in range(1, L + 1, 2)}
            log_w += self._log_unnormalised_even(xp, Ws, bs, even, betas[k]) \
                - self._log_unnormalised_even(xp, Ws, bs, even, betas[k - 1])
            if k < len(betas) - 1:
                layers = self._gibbs_sweep(be, layers, stream, beta=betas[k], params=params)
        log_w = to_host(log_w)
        return float(log_z0 + _logsumexp(log_w) - math.log(n_chains))

    def exact_log_partition(self):
        """``log Z`` by enumerating every state of h1 (and h3), the other layers summed
        out analytically; NumPy on the host.  ValueError above 2**22 states."""
        self._check_fitted()
        Ws = [to_host(W).astype(np.float64) for W in self.coefs_]
        bs = [to_host(b).astype(np.float64) for b in self.intercepts_]
        even_units = [Ws[l - 1].shape[1] for l in range(1, len(Ws) + 1, 2)]
        if 2 ** sum(even_units) > MAX_EXACT_STATES:
            raise ValueError(f"exact_log_partition enumerates 2**{sum(even_units)} states "
                             f"(hidden layers 1 and 3), more than 2**22; use log_partition")
        states = _all_states(sum(even_units))
        even, start = {}, 0
        for l, u in zip(range(1, len(Ws) + 1, 2), even_units):
            even[l] = states[:, start:start + u]
            start += u
        return _logsumexp(self._log_unnormalised_even(np, Ws, bs, even, 1.0))

    # ------------------------------------------------------------------ scores
    def variational_bound(self, X):
        """Mean-field lower bound on the unnormalised ``log p*(v) = log Z + log p(v)``,
        per row: ``-E(v, q) + H(q)`` at the mean-field posteriors ``q``."""
        return self._bound(self._check_data(X))

    def _bound(self, X):
        be = current_backend()
        xp = be.xp
        Ws, bs = self._params(be, "float64")
        v = be.asarray(X, dtype="float64")
        q, _ = self._mean_field(be, v, (Ws, bs))
        layers = [v] + q
        if self.visible == "bernoulli":
            out = v @ bs[0]
        else:
            out = -0.5 * ((v - bs[0]) ** 2).sum(axis=1)
        for l in range(1, len(layers)):
            p = xp.clip(layers[l], 1e-12, 1 - 1e-12)
            out = out + layers[l] @ bs[l] + ((layers[l - 1] @ Ws[l - 1]) * layers[l]).sum(axis=1)
            out = out - (p * xp.log(p) + (1 - p) * xp.log(1 - p)).sum(axis=1)
        return to_host(out)

    def score_samples(self, X):
        """Lower bound on ``log p(v)`` per row: :meth:`variational_bound` minus an AIS
        estimate of log Z (``SCORE_AIS_CHAINS`` = 64 chains, ``SCORE_AIS_BETAS`` = 2000
        betas, samples from a stream derived from ``random_state``; computed once per fit
        and kept).  The bound is exact up to the mean-field gap and the AIS error."""
        X = self._check_data(X)
        if getattr(self, "_log_z", None) is None:
            seed = self.random_state if isinstance(self.random_state, (int, np.integer)) \
                else None
            self._log_z = self.log_partition(SCORE_AIS_CHAINS, SCORE_AIS_BETAS, seed)
        return self._bound(X) - self._log_z

    def score(self, X, y=None):
        """Mean of :meth:`score_samples`."""
        return float(np.mean(self.score_samples(X)))


class DBMClassifier(FeedForwardClassifier):
    """DBM pre-training, then discriminative fine-tuning of a sigmoid network initialised
    from the DBM (Salakhutdinov & Hinton 2009, sec. 4).

    As in the paper, the mean-field posterior ``q2`` of the DBM's second hidden layer
    joins the input: the network's first layer sees ``[x, q2]`` through the weights
    ``[W1; W2^T]`` (the DBM's bottom-up and top-down inputs to h1), the layers above use
    ``W2`` (and ``W3``) and the DBM's biases, a softmax layer on top; the whole network
    is trained by backpropagation (cross-entropy, SGD).  ``q2`` is computed by the fitted
    DBM (``dbm_``) at fit and at every prediction, and held fixed during fine-tuning.

    Parameters
    ----------
    hidden_layer_sizes : tuple of 2 or 3 int, default=(64, 32)
    visible : {"bernoulli", "gaussian"}, default="bernoulli"
        The DBM's visible units: X in [0, 1], or standardised features.
    pretrain_epochs, pretrain_learning_rate, n_chains, mean_field_iter
        Of the DBM's greedy initialisation and joint training (see :class:`DBM`).
    dbm_epochs : int >= 0, default=20
        Epochs of joint DBM training (the DBM's ``n_iter``).
    dbm_learning_rate : float > 0, default=0.01
        (The DBM trains on minibatches of 100, ``DBM_BATCH_SIZE``; its other settings
        are :class:`DBM`'s defaults.)
    learning_rate, momentum, nesterov, weight_decay, schedule, clip_norm, batch_size, \
max_iter, early_stopping, validation_fraction, patience, tol, dropout, optimizer
        Fine-tuning, as in :class:`MLPClassifier` (``max_iter`` epochs).
    dtype : {"float32", "float64"}, default="float32"
    random_state : None, int or numpy.random.Generator, default=None
    verbose : int, default=0

    Attributes
    ----------
    dbm_ : DBM
        The pre-trained DBM (it computes the mean-field input ``q2``).
    coefs_, intercepts_ : lists of arrays
        Fine-tuned weights; ``coefs_[0]`` has shape (n_features_in_ + units_2, units_1).
    classes_, history_, n_iter_, n_features_in_
    """

    _parameter_constraints = dict(
        FeedForwardClassifier._parameter_constraints,
        visible=[Options("bernoulli", "gaussian")],
        pretrain_epochs=[Interval("int", 0, None)],
        pretrain_learning_rate=[Interval("real", 0, None, closed="neither")],
        dbm_epochs=[Interval("int", 0, None)],
        dbm_learning_rate=[Interval("real", 0, None, closed="neither")],
        n_chains=[Interval("int", 1, None)],
        mean_field_iter=[Interval("int", 1, None)])

    def __init__(self, hidden_layer_sizes=(64, 32), visible="bernoulli", pretrain_epochs=10,
                 pretrain_learning_rate=0.05, dbm_epochs=20, dbm_learning_rate=0.01,
                 n_chains=100, mean_field_iter=30, dropout=0.0, learning_rate=0.1,
                 momentum=0.9, nesterov=False, weight_decay=0.0, schedule="constant",
                 clip_norm=1.0, batch_size=32, max_iter=30, early_stopping=False,
                 validation_fraction=0.1, patience=10, tol=1e-4, dtype="float32",
                 random_state=None, verbose=0, optimizer="sgd"):
        for name, value in list(locals().items()):
            if name != "self":
                setattr(self, name, value)

    def _hidden_activation(self):
        return "sigmoid"

    def _make_dbm(self, rng):
        return DBM(self.hidden_layer_sizes, visible=self.visible,
                   pretrain_epochs=self.pretrain_epochs,
                   pretrain_learning_rate=self.pretrain_learning_rate,
                   n_iter=self.dbm_epochs, learning_rate=self.dbm_learning_rate,
                   n_chains=self.n_chains, mean_field_iter=self.mean_field_iter,
                   batch_size=DBM_BATCH_SIZE, dtype=self.dtype, random_state=child_seed(rng))

    def _augment(self, X):
        """``[X, q2]``: the input with the DBM's mean-field posterior of layer 2."""
        be = current_backend()
        Xb = be.asarray(X, dtype=self.dtype)
        q, _ = self.dbm_._mean_field(be, Xb, self.dbm_._params(be))
        return be.xp.concatenate([Xb, q[1]], axis=1)

    def fit(self, X, y):
        """Train the DBM on ``X`` (values in [0, 1]), then fine-tune on labels ``y``.

        Returns
        -------
        self : DBMClassifier
        """
        from ._training import make_optimizer
        self._validate_params()
        self._check_feature_names(X, reset=True)
        X, T, n_out, metric = self._fit_targets(X, y)
        rng = resolve_rng(self.random_state)
        dbm = self._make_dbm(rng)
        dbm.fit(X)
        self.dbm_ = dbm
        self.n_features_in_ = X.shape[1]
        be = current_backend()
        Ws, bs = dbm._params(be)
        xp = be.xp
        init = [(xp.concatenate([Ws[0], Ws[1].T], axis=0), bs[1])] + \
            [(Ws[l], bs[l + 1]) for l in range(1, len(Ws))]
        A = self._augment(X)
        net = self._build_network(A.shape[1], n_out, child_seed(rng), init)
        sgd = make_optimizer(self, child_seed(rng))
        self.history_ = sgd.minimize(net, be.asarray(A, net.dtype), be.asarray(T, net.dtype),
                                     metric=metric)
        self.n_iter_ = len(self.history_)
        self._store(net)
        self._optimizer = sgd
        return self

    def _check_X(self, X, reset=False, name="X"):
        X = super()._check_X(X, reset=reset, name=name)
        return _check_unit_range(X) if self.visible == "bernoulli" else X

    def _encode_labels(self, X, y):
        X, y_enc = super()._encode_labels(X, y)
        return (_check_unit_range(X) if self.visible == "bernoulli" else X), y_enc

    def _forward(self, X, upto=None):
        return super()._forward(self._augment(X), upto)

    def _requires_positive_X(self):
        return self.visible == "bernoulli"
