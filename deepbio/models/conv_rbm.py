"""Convolutional RBM with probabilistic max-pooling and its greedy stack, the
convolutional DBN (Lee, Grosse, Ranganath & Ng 2009).  Maths in ``docs/models/conv_rbm.md``.

The up pass is a valid convolution (the backend's ``conv2d_forward`` / ``conv1d_forward``
kernels), the down pass the full convolution with flipped filters (``*_backward_input``,
the adjoint of the up pass), the weight statistics the ``*_backward_weight`` kernels; the
pooled multinomial is the ``prob_max_pool`` kernel (NumPy reference, Cython face).  Every
uniform comes from the backend's Philox stream keyed by ``random_state``.
"""
import time

import numpy as np

from .._kernels import reference as _reference
from .._validation import Interval, IntSequence, Options, check_array
from ..optim._base import Progress, minibatches
from ._base import BaseEstimator, TransformerMixin, current_backend, resolve_rng, to_host

#: Philox stream of the training Gibbs samples.
TRAIN_STREAM = 0


def _pool_kernels(be):
    """``(prob_max_pool, prob_max_pool1d)`` of backend ``be``: the Cython face
    (``deepbio._kernels.cpu.probpool``) on the ``cython`` backend, else the reference
    (written on the array module, so it runs as CuPy array code on a GPU backend; there
    is no CUDA C / Numba face yet).  Not contract kernels, so not in ``be.kernels``."""
    if be.name == "cython":
        from .._kernels import cpu
        probpool = cpu.load_extra("probpool")     # ImportError with how to build it
        return probpool.prob_max_pool, probpool.prob_max_pool1d
    return _reference.prob_max_pool, _reference.prob_max_pool1d


class ConvRBM(TransformerMixin, BaseEstimator):
    """Convolutional RBM with probabilistic max-pooling (Lee et al. 2009), on images
    (n_samples, channels, height, width) or one-hot sequences (n_samples, length,
    alphabet).

    K filters ``W^k`` (C, f, f) (sequences: (A, f)) are shared over positions.  Detection
    unit ``h^k_ij`` receives ``I^k_ij = (W^k * v)_ij + b_k`` (valid cross-correlation); the
    detection map is cut into ``pool_size`` blocks and within each block at most one unit
    is on (the block's units and its "off" state are one multinomial); the pooling unit
    ``p^k_alpha`` is on when one of its block's units is.  Visible units are Bernoulli
    (``sigmoid(sum_k W^k (*) h^k + c)``, full convolution with the flipped filters) or
    Gaussian with unit variance (mean ``sum_k W^k (*) h^k + c``; standardise the data).

    Parameters
    ----------
    n_filters : int >= 1, default=16
    filter_size : int >= 1, default=5
        Filter side (images) or length (sequences).
    pool_size : int >= 1, default=2
        Pooling block side (images) or length (sequences); the detection map
        ``H - filter_size + 1`` (and W, or L) must be a multiple of it.
    visible : {"bernoulli", "gaussian"}, default="bernoulli"
    learning_rate : float > 0, default=0.05
        Step on the per-sample mean log-likelihood gradient estimate.
    momentum : float in [0, 1), default=0.5
    weight_decay : float >= 0, default=0.0
        L2 penalty on the filters.
    n_iter : int >= 1, default=10
        Epochs.
    batch_size : int >= 1, default=32
    cd_k : int >= 1, default=1
        Gibbs steps per update (CD-k; PCD-k with ``persistent=True``).
    persistent : bool, default=False
        Persistent chains (one per sample of a minibatch) for the negative phase.
    sparsity_target : float in (0, 1), default=0.05
        Target mean activation p of the detection units.
    sparsity_weight : float >= 0, default=0.0
        lambda: the hidden biases move by ``lambda * (p - mean_h)`` each update, with
        ``mean_h`` the minibatch mean of the detection probabilities of filter k (Lee et
        al.'s regulariser, applied to the biases only).
    flatten : bool, default=True
        ``transform`` returns (n_samples, n_filters * pooled positions); False keeps the
        pooled maps (n_samples, n_filters, PH, PW) or (n_samples, n_filters, PL).
    random_state : None, int or numpy.random.Generator, default=None
    verbose : int, default=0

    Attributes
    ----------
    W_ : ndarray (n_filters, C, f, f) or (n_filters, A, f)
    hidden_bias_ : ndarray (n_filters,)
    visible_bias_ : ndarray (C,) or (A,)
        One shared bias per input channel.
    input_type_ : "image" or "sequence"
    input_shape_ : tuple
        Per-sample shape seen at fit.
    pooled_shape_ : tuple
        Per-sample shape of the pooled map (n_filters, PH, PW) or (n_filters, PL).
    n_iter_ : int
        Epochs run.
    history_ : list of dict
        Per epoch: ``epoch``, ``reconstruction_error`` (mean squared one-step
        reconstruction error), ``hidden_activation`` (mean detection probability),
        ``time``.
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> X = (np.random.default_rng(0).random((20, 1, 8, 8)) < 0.3).astype(float)
    >>> ConvRBM(n_filters=4, filter_size=3, pool_size=2, n_iter=2,
    ...         random_state=0).fit_transform(X).shape
    (20, 36)
    """

    _input_ndim = 3

    _parameter_constraints = {
        "n_filters": [Interval("int", 1, None)],
        "filter_size": [Interval("int", 1, None)],
        "pool_size": [Interval("int", 1, None)],
        "visible": [Options("bernoulli", "gaussian")],
        "learning_rate": [Interval("real", 0, None, closed="neither")],
        "momentum": [Interval("real", 0, 1, closed="left")],
        "weight_decay": [Interval("real", 0, None)],
        "n_iter": [Interval("int", 1, None)],
        "batch_size": [Interval("int", 1, None)],
        "cd_k": [Interval("int", 1, None)],
        "persistent": ["boolean"],
        "sparsity_target": [Interval("real", 0, 1, closed="neither")],
        "sparsity_weight": [Interval("real", 0, None)],
        "flatten": ["boolean"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(self, n_filters=16, filter_size=5, pool_size=2, visible="bernoulli",
                 learning_rate=0.05, momentum=0.5, weight_decay=0.0, n_iter=10,
                 batch_size=32, cd_k=1, persistent=False, sparsity_target=0.05,
                 sparsity_weight=0.0, flatten=True, random_state=None, verbose=0):
        self.n_filters = n_filters
        self.filter_size = filter_size
        self.pool_size = pool_size
        self.visible = visible
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.n_iter = n_iter
        self.batch_size = batch_size
        self.cd_k = cd_k
        self.persistent = persistent
        self.sparsity_target = sparsity_target
        self.sparsity_weight = sparsity_weight
        self.flatten = flatten
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ input
    def _as_maps(self, X, reset):
        """X as channels-first maps: (N, C, H, W) for images, (N, A, L) for sequences."""
        X = check_array(X, "X", dtype=np.float64, ndim=(3, 4))
        kind = "image" if X.ndim == 4 else "sequence"
        maps = X if X.ndim == 4 else np.ascontiguousarray(X.transpose(0, 2, 1))
        f, c = self.filter_size, self.pool_size
        if reset:
            spatial = maps.shape[2:]
            for n in spatial:
                if n < f:
                    raise ValueError(f"filter_size={f} is larger than the input ({spatial})")
                if (n - f + 1) % c:
                    raise ValueError(f"pool_size={c} must divide the detection map size "
                                     f"{n - f + 1} (input {n} - filter_size {f} + 1)")
            if self.visible == "bernoulli" and (X.min() < 0 or X.max() > 1):
                raise ValueError("X must lie in [0, 1] for visible='bernoulli' (use "
                                 "visible='gaussian' for real-valued data)")
            self.input_type_, self.input_shape_ = kind, tuple(int(s) for s in X.shape[1:])
            self.n_features_in_ = int(np.prod(X.shape[1:]))
        else:
            self._check_fitted()
            if kind != self.input_type_ or tuple(X.shape[1:]) != self.input_shape_:
                raise ValueError(f"X has per-sample shape {tuple(X.shape[1:])}, but ConvRBM "
                                 f"was fitted on {self.input_type_}s of shape "
                                 f"{self.input_shape_}")
        return maps

    # ------------------------------------------------------------------ passes
    def _up(self, be, v, W, b):
        """Bottom-up inputs ``I = W * v + b`` of the detection units (valid correlation)."""
        if v.ndim == 4:
            return be.kernels.conv2d_forward(v, W, b, (1, 1), (0, 0))
        return be.kernels.conv1d_forward(v, W, b, 1, 0)

    def _down(self, be, h, W, c, size):
        """Top-down input of the visible units: ``sum_k W^k (*) h^k + c`` (the full
        convolution with flipped filters = the adjoint of the up pass)."""
        if h.ndim == 4:
            a = be.kernels.conv2d_backward_input(h, W, size, (1, 1), (0, 0))
            return a + c[None, :, None, None]
        a = be.kernels.conv1d_backward_input(h, W, size, 1, 0)
        return a + c[None, :, None]

    def _pool(self, be, I, u):
        p2, p1 = _pool_kernels(be)
        if I.ndim == 4:
            return p2(I, u, (self.pool_size, self.pool_size))
        return p1(I, u, self.pool_size)

    def _pooled_shape(self, I):
        return I.shape[:2] + tuple(n // self.pool_size for n in I.shape[2:])

    def _statistics(self, be, v, ph):
        """Sufficient statistics (sums over the batch) ``(sum_n ph (*) v, sum_n,pos ph^k,
        sum_n,pos v_c)``: minus the gradient of the summed free energy for ``ph`` the
        detection probabilities given ``v``."""
        if v.ndim == 4:
            dW, db = be.kernels.conv2d_backward_weight(ph, v, self.W_.shape[2:], (1, 1), (0, 0))
            dc = v.sum(axis=(0, 2, 3))
        else:
            dW, db = be.kernels.conv1d_backward_weight(ph, v, self.W_.shape[2], 1, 0)
            dc = v.sum(axis=(0, 2))
        return dW, db, dc

    def _sample_visible(self, be, mean_in, stream):
        xp = be.xp
        shape = mean_in.shape
        flat = xp.ascontiguousarray(mean_in.reshape(shape[0], -1))
        if self.visible == "bernoulli":
            u = be.uniform(stream, flat.shape, flat.dtype)
            _, s = be.kernels.sigmoid_bernoulli(flat, u)
        else:
            u1 = be.uniform(stream, flat.shape, flat.dtype)
            u2 = be.uniform(stream, flat.shape, flat.dtype)
            s = be.kernels.gaussian_sample(flat, xp.ones(flat.shape[1], flat.dtype), u1, u2)
        return s.reshape(shape)

    def _visible_mean(self, be, a):
        if self.visible == "bernoulli":
            return 1.0 / (1.0 + be.xp.exp(-a))
        return a

    def _hidden(self, be, v, stream):
        """Detection probabilities, pooled probabilities and a sample of h given v."""
        I = self._up(be, v, self.W_, self.hidden_bias_)
        u = be.uniform(stream, self._pooled_shape(I), I.dtype)
        ph, pp, h, _ = self._pool(be, I, u)
        return ph, pp, h

    # ------------------------------------------------------------------ fit
    def fit(self, X, y=None):
        """Fit by CD-k (or PCD-k) on ``X``.  Returns self."""
        self._validate_params()
        maps = self._as_maps(X, reset=True)
        rng = resolve_rng(self.random_state)
        be = current_backend()
        xp = be.xp
        C, f, K = maps.shape[1], self.filter_size, self.n_filters
        wshape = (K, C, f, f) if maps.ndim == 4 else (K, C, f)
        fan_in = C * f ** (maps.ndim - 2)
        self.W_ = be.asarray(rng.normal(0, 1 / np.sqrt(fan_in), wshape), dtype="float64")
        self.hidden_bias_ = be.asarray(np.zeros(K), dtype="float64")
        if self.visible == "bernoulli":
            m = np.clip(maps.mean(axis=(0,) + tuple(range(2, maps.ndim))), 1e-3, 1 - 1e-3)
            self.visible_bias_ = be.asarray(np.log(m / (1 - m)), dtype="float64")
        else:
            self.visible_bias_ = be.asarray(
                maps.mean(axis=(0,) + tuple(range(2, maps.ndim))), dtype="float64")
        stream = be.stream(int(rng.integers(0, 2 ** 63)), TRAIN_STREAM)
        data = be.asarray(maps, dtype="float64")
        vel = [xp.zeros_like(self.W_), xp.zeros_like(self.hidden_bias_),
               xp.zeros_like(self.visible_bias_)]
        chain = None
        self.history_ = []
        size = tuple(maps.shape[2:]) if maps.ndim == 4 else int(maps.shape[2])
        with Progress(self.n_iter, self.verbose, "ConvRBM") as bar:
            for epoch in range(1, self.n_iter + 1):
                t0 = time.perf_counter()
                err, act, seen = 0.0, 0.0, 0
                for idx in minibatches(len(maps), self.batch_size, rng, be):
                    v0 = data[idx]
                    n = v0.shape[0]
                    ph0, _, h = self._hidden(be, v0, stream)
                    if self.persistent:
                        if chain is None or chain.shape[0] != n:
                            chain = v0
                        vk = chain
                        _, _, h = self._hidden(be, vk, stream)
                    for step in range(self.cd_k):
                        a = self._down(be, h, self.W_, self.visible_bias_, size)
                        if step == 0 and not self.persistent:
                            recon = self._visible_mean(be, a)
                        vk = self._sample_visible(be, a, stream)
                        phk, _, h = self._hidden(be, vk, stream)
                    if self.persistent:
                        chain = vk
                        recon = self._visible_mean(
                            be, self._down(be, self._hidden(be, v0, stream)[2], self.W_,
                                           self.visible_bias_, size))
                    pos = self._statistics(be, v0, ph0)
                    neg = self._statistics(be, vk, phk)
                    positions = float(np.prod(ph0.shape[2:]))
                    grads = [(p - q) / n for p, q in zip(pos, neg)]
                    grads[0] = grads[0] - self.weight_decay * self.W_
                    mean_h = ph0.mean(axis=tuple(i for i in range(ph0.ndim) if i != 1))
                    grads[1] = grads[1] + self.sparsity_weight * positions * (
                        self.sparsity_target - mean_h)
                    # the gradient sums over positions: scale the step by their number
                    params = [self.W_, self.hidden_bias_, self.visible_bias_]
                    for i, g in enumerate(grads):
                        vel[i] = self.momentum * vel[i] + (self.learning_rate / positions) * g
                        params[i] = params[i] + vel[i]
                    self.W_, self.hidden_bias_, self.visible_bias_ = params
                    err += be.scalar(((v0 - recon) ** 2).mean()) * n
                    act += be.scalar(ph0.mean()) * n
                    seen += n
                record = {"epoch": epoch, "reconstruction_error": err / seen,
                          "hidden_activation": act / seen, "time": time.perf_counter() - t0}
                if not np.isfinite(record["reconstruction_error"]) or \
                        not be.all_finite(self.W_):
                    raise FloatingPointError(f"ConvRBM diverged at epoch {epoch}; lower "
                                             f"learning_rate (now {self.learning_rate})")
                self.history_.append(record)
                bar.update(record)
        self.W_ = np.asarray(to_host(self.W_), dtype=np.float64)
        self.hidden_bias_ = np.asarray(to_host(self.hidden_bias_), dtype=np.float64)
        self.visible_bias_ = np.asarray(to_host(self.visible_bias_), dtype=np.float64)
        self.n_iter_ = self.n_iter
        self.pooled_shape_ = (K,) + tuple((n - f + 1) // self.pool_size
                                          for n in maps.shape[2:])
        return self

    # ------------------------------------------------------------------ features
    def _n_features_out(self):
        return int(np.prod(self.pooled_shape_))

    def _on_backend(self, be):
        """Copies of the fitted parameters on backend ``be``."""
        return (be.asarray(self.W_, dtype="float64"), be.asarray(self.hidden_bias_, "float64"),
                be.asarray(self.visible_bias_, "float64"))

    def pooled_probabilities(self, maps_backend, be):
        """Pooling-unit probabilities P(p_alpha = 1 | v) of channels-first maps on ``be``."""
        W, b, _ = self._on_backend(be)
        I = self._up(be, maps_backend, W, b)
        u = be.xp.zeros(self._pooled_shape(I), dtype=I.dtype)
        return self._pool(be, I, u)[1]

    def transform(self, X):
        """Pooled probabilities ``P(p^k_alpha = 1 | v)``: (n_samples, n_filters * pooled
        positions), or the maps when ``flatten=False``."""
        maps = self._as_maps(X, reset=False)
        be = current_backend()
        P = np.asarray(to_host(self.pooled_probabilities(be.asarray(maps, "float64"), be)),
                       dtype=np.float64)
        return P.reshape(P.shape[0], -1) if self.flatten else P

    def free_energy(self, X):
        """``F(v) = -sum_c c_c sum_pos v_c - sum_{k, alpha} log(1 + sum_{ij in alpha}
        exp(I^k_ij))`` (Bernoulli visible; Gaussian adds ``sum (v - c)^2 / 2`` instead of
        the linear term), so that ``p(v) = exp(-F(v)) / Z``.  Shape (n_samples,)."""
        maps = self._as_maps(X, reset=False)
        be = current_backend()
        xp = be.xp
        W, b, c = self._on_backend(be)
        v = be.asarray(maps, "float64")
        I = self._up(be, v, W, b)
        p = self.pool_size
        n, k = I.shape[:2]
        if I.ndim == 4:
            ph, pw = I.shape[2] // p, I.shape[3] // p
            B = I.reshape(n, k, ph, p, pw, p).transpose(0, 1, 2, 4, 3, 5).reshape(
                n, k, ph, pw, p * p)
        else:
            B = I.reshape(n, k, I.shape[2] // p, p)
        m = xp.maximum(B.max(axis=-1), 0)
        lse = m + xp.log(xp.exp(-m) + xp.exp(B - m[..., None]).sum(axis=-1))
        hidden = lse.reshape(n, -1).sum(axis=1)
        shape = (1, -1) + (1,) * (v.ndim - 2)
        if self.visible == "bernoulli":
            vis = -(v * c.reshape(shape)).reshape(n, -1).sum(axis=1)
        else:
            vis = 0.5 * ((v - c.reshape(shape)) ** 2).reshape(n, -1).sum(axis=1)
        return np.asarray(to_host(vis - hidden), dtype=np.float64)

    def score(self, X, y=None):
        """Minus the mean one-step reconstruction error (mean-field up, then down)."""
        maps = self._as_maps(X, reset=False)
        be = current_backend()
        W, b, c = self._on_backend(be)
        v = be.asarray(maps, "float64")
        I = self._up(be, v, W, b)
        ph = self._pool(be, I, be.xp.zeros(self._pooled_shape(I), dtype=I.dtype))[0]
        size = tuple(maps.shape[2:]) if maps.ndim == 4 else int(maps.shape[2])
        r = self._visible_mean(be, self._down(be, ph, W, c, size))
        return -float(be.scalar(((v - r) ** 2).mean()))


class ConvDBN(TransformerMixin, BaseEstimator):
    """Convolutional DBN: ConvRBMs stacked greedily (Lee et al. 2009).

    Layer 1 is a :class:`ConvRBM` on the input; layer l > 1 a Bernoulli ConvRBM on layer
    l-1's pooled probabilities (maps (K, PH, PW) for images; for sequences the pooled map
    (K, PL) read as a sequence of length PL over K channels).

    Parameters
    ----------
    n_filters, filter_size, pool_size : sequence of int, default=(16, 16), (5, 3), (2, 1)
        One entry per layer.
    visible : {"bernoulli", "gaussian"}, default="bernoulli"
        Visible units of layer 1 (later layers are Bernoulli).
    learning_rate, momentum, weight_decay, n_iter, batch_size, cd_k, persistent,
    sparsity_target, sparsity_weight : as :class:`ConvRBM`, shared by every layer
    features : {"top", "all"}, default="all"
        ``transform`` returns the top layer's pooled probabilities, or every layer's,
        flattened and concatenated.
    random_state : None, int or numpy.random.Generator, default=None
    verbose : int, default=0

    Attributes
    ----------
    conv_rbms_ : list of ConvRBM
    input_type_, input_shape_, n_features_in_ : as :class:`ConvRBM`
    history_ : list of dict
        The layers' histories one after the other, each record with its ``layer``.
    """

    _input_ndim = 3

    _parameter_constraints = {
        "n_filters": [IntSequence(1)],
        "filter_size": [IntSequence(1)],
        "pool_size": [IntSequence(1)],
        "visible": [Options("bernoulli", "gaussian")],
        "learning_rate": [Interval("real", 0, None, closed="neither")],
        "momentum": [Interval("real", 0, 1, closed="left")],
        "weight_decay": [Interval("real", 0, None)],
        "n_iter": [Interval("int", 1, None)],
        "batch_size": [Interval("int", 1, None)],
        "cd_k": [Interval("int", 1, None)],
        "persistent": ["boolean"],
        "sparsity_target": [Interval("real", 0, 1, closed="neither")],
        "sparsity_weight": [Interval("real", 0, None)],
        "features": [Options("top", "all")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(self, n_filters=(16, 16), filter_size=(5, 3), pool_size=(2, 1),
                 visible="bernoulli", learning_rate=0.05, momentum=0.5, weight_decay=0.0,
                 n_iter=10, batch_size=32, cd_k=1, persistent=False, sparsity_target=0.05,
                 sparsity_weight=0.0, features="all", random_state=None, verbose=0):
        self.n_filters = n_filters
        self.filter_size = filter_size
        self.pool_size = pool_size
        self.visible = visible
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.n_iter = n_iter
        self.batch_size = batch_size
        self.cd_k = cd_k
        self.persistent = persistent
        self.sparsity_target = sparsity_target
        self.sparsity_weight = sparsity_weight
        self.features = features
        self.random_state = random_state
        self.verbose = verbose

    def _layers(self):
        k, f, p = tuple(self.n_filters), tuple(self.filter_size), tuple(self.pool_size)
        if not (len(k) == len(f) == len(p)):
            raise ValueError(f"n_filters, filter_size and pool_size need one entry per "
                             f"layer, got {len(k)}, {len(f)} and {len(p)}")
        return list(zip(k, f, p))

    @staticmethod
    def _next_input(P, kind):
        """Layer l's pooled maps as layer l+1's input ((N, K, PL) -> (N, PL, K))."""
        return P if kind == "image" else np.ascontiguousarray(P.transpose(0, 2, 1))

    def fit(self, X, y=None):
        """Fit the layers one after the other.  Returns self."""
        self._validate_params()
        layers = self._layers()
        X = check_array(X, "X", dtype=np.float64, ndim=(3, 4))
        self.input_type_ = "image" if X.ndim == 4 else "sequence"
        self.input_shape_ = tuple(int(s) for s in X.shape[1:])
        self.n_features_in_ = int(np.prod(X.shape[1:]))
        rng = resolve_rng(self.random_state)
        self.conv_rbms_, self.history_ = [], []
        current = X
        for layer, (k, f, p) in enumerate(layers):
            rbm = ConvRBM(n_filters=k, filter_size=f, pool_size=p,
                          visible=self.visible if layer == 0 else "bernoulli",
                          learning_rate=self.learning_rate, momentum=self.momentum,
                          weight_decay=self.weight_decay, n_iter=self.n_iter,
                          batch_size=self.batch_size, cd_k=self.cd_k,
                          persistent=self.persistent, sparsity_target=self.sparsity_target,
                          sparsity_weight=self.sparsity_weight, flatten=False,
                          random_state=int(rng.integers(0, 2 ** 31 - 1)),
                          verbose=self.verbose).fit(current)
            self.conv_rbms_.append(rbm)
            self.history_ += [dict(r, layer=layer + 1) for r in rbm.history_]
            current = self._next_input(rbm.transform(current), self.input_type_)
        return self

    def transform_layers(self, X):
        """Each layer's pooled probability maps, a list of arrays."""
        self._check_fitted()
        X = check_array(X, "X", dtype=np.float64, ndim=(3, 4))
        if tuple(X.shape[1:]) != self.input_shape_:
            raise ValueError(f"X has per-sample shape {tuple(X.shape[1:])}, but ConvDBN was "
                             f"fitted on {self.input_type_}s of shape {self.input_shape_}")
        out, current = [], X
        for rbm in self.conv_rbms_:
            P = rbm.transform(current)
            out.append(P)
            current = self._next_input(P, self.input_type_)
        return out

    def _n_features_out(self):
        sizes = [int(np.prod(r.pooled_shape_)) for r in self.conv_rbms_]
        return sizes[-1] if self.features == "top" else sum(sizes)

    def transform(self, X):
        """Pooled probabilities of the top layer, or of every layer concatenated
        (``features``), flattened: (n_samples, n_features)."""
        layers = self.transform_layers(X)
        if self.features == "top":
            layers = layers[-1:]
        return np.hstack([L.reshape(L.shape[0], -1) for L in layers])
