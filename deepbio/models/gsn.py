"""Generative stochastic networks (Bengio, Yao, Alain & Vincent 2013; Bengio,
Thibodeau-Laufer, Alain & Yosinski 2014): a denoising autoencoder trained with walkback,
sampled by running its Markov chain.  Maths in ``docs/models/gsn.md``.

The denoising autoencoder is a :class:`deepbio.models.AutoEncoder` (its network, its SGD
epoch); the corruption and the reconstruction samples are the backend's
``gaussian_sample`` kernel fed by Philox uniforms, the encoder and decoder its
``dense_forward`` kernel, so training and sampling stay on the backend.
"""
import time

import numpy as np

from .._validation import Interval, Options
from ..nn.autoencoder import ACTIVATIONS
from ..optim._base import Progress
from ._base import BaseEstimator, TransformerMixin, current_backend, resolve_rng, to_host
from ._training import child_seed, partial_epoch
from .autoencoder import AutoEncoder

#: Philox streams of a GSN: the training walks, and :meth:`GSN.sample`'s chains.
WALK_STREAM, SAMPLE_STREAM = 20, 21

#: Floor on the reconstruction distribution's standard deviation (standardised units).
MIN_STD = 1e-3


class GSN(TransformerMixin, BaseEstimator):
    """Generative stochastic network: a denoising autoencoder whose reconstruction is a
    distribution, trained with walkback; :meth:`sample` runs the chain it defines.

    On standardised data ``z = (x - mean_) / scale_``: corruption
    ``C(z~ | z) = N(z, corruption_level^2 I)``; reconstruction distribution
    ``P(z | z~) = N(mu(z~), diag(reconstruction_std_^2))`` with ``mu`` a one-hidden-layer
    autoencoder (``autoencoder_``) and ``reconstruction_std_`` the maximum-likelihood
    standard deviation of its residuals.  The chain ``z~_t ~ C(. | z_t)``,
    ``z_{t+1} ~ P(. | z~_t)`` has, when ``P`` is the true denoising distribution, the data
    distribution as its stationary distribution (Bengio et al. 2013, theorem 1).

    Walkback: every epoch, each training row z starts a walk of ``walkback`` steps
    ``z~_1 ~ C(.|z)``, ``z*_1 ~ P(.|z~_1)``, ``z~_2 ~ C(.|z*_1)``, ...; every ``z~_k`` is a
    training input with target z.  Walks from the model's own samples reach the spurious
    modes the chain would visit and train them back towards the data.  ``walkback=1``
    is the plain denoising autoencoder.

    Parameters
    ----------
    n_components : int >= 1, default=128
        Hidden units.
    activation : {"sigmoid", "tanh", "relu", "linear"}, default="tanh"
    tied : bool, default=False
    corruption_level : float > 0, default=0.5
        Standard deviation of the Gaussian corruption, in units of each feature's
        standard deviation.
    walkback : int >= 1, default=3
        Corrupted inputs per training row and epoch (steps of the walk).
    learning_rate, momentum, weight_decay, batch_size : training settings
        (defaults 0.01, 0.9, 0.0, 32), see :class:`deepbio.optim.SGD`.
    optimizer : {"adam", "sgd", "rmsprop"}, default="adam"
        The autoencoder's optimiser (as :class:`AutoEncoder`'s ``optimizer``).
    max_iter : int >= 1, default=50
        Epochs (each over ``walkback`` times the training rows).
    dtype : {"float32", "float64"}, default="float32"
    random_state : None, int or numpy.random.Generator, default=None
        Weights, minibatch order and the walks' Philox key.
    verbose : int, default=0

    Attributes
    ----------
    autoencoder_ : AutoEncoder
        The denoising autoencoder ``mu`` (on standardised data).
    mean_, scale_ : ndarray (n_features_in_,)
    reconstruction_std_ : ndarray (n_features_in_,)
        Standard deviation of ``P(z | z~)`` per standardised feature.
    history_ : list of dict
        Per epoch: ``loss`` (the SGD epoch's mean squared-error loss over the walk
        pairs), ``reconstruction_std`` (mean over features), ``time``.
    n_iter_, n_features_in_ : int

    References
    ----------
    Y. Bengio, L. Yao, G. Alain, P. Vincent. Generalized denoising auto-encoders as
    generative models. NIPS 2013.
    Y. Bengio, E. Thibodeau-Laufer, G. Alain, J. Yosinski. Deep generative stochastic
    networks trainable by backprop. ICML 2014.

    Examples
    --------
    >>> import numpy as np
    >>> from deepbio import GSN
    >>> X = np.random.default_rng(0).normal(size=(200, 2))
    >>> gsn = GSN(n_components=16, max_iter=5, random_state=0).fit(X)
    >>> gsn.sample(10, n_steps=20, random_state=0).shape
    (10, 2)
    """

    _parameter_constraints = {
        "n_components": [Interval("int", 1, None)],
        "activation": [Options(*ACTIVATIONS)],
        "tied": ["boolean"],
        "corruption_level": [Interval("real", 0, None, closed="neither")],
        "walkback": [Interval("int", 1, None)],
        "learning_rate": [Interval("real", 0, None, closed="neither")],
        "momentum": [Interval("real", 0, 1, closed="left")],
        "weight_decay": [Interval("real", 0, None)],
        "batch_size": [Interval("int", 1, None)],
        "max_iter": [Interval("int", 1, None)],
        "optimizer": [Options("sgd", "adam", "rmsprop")],
        "dtype": ["dtype"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(self, n_components=128, activation="tanh", tied=False, corruption_level=0.5,
                 walkback=3, learning_rate=0.01, momentum=0.9, weight_decay=0.0,
                 batch_size=32, max_iter=50, optimizer="adam", dtype="float32",
                 random_state=None, verbose=0):
        self.n_components = n_components
        self.activation = activation
        self.tied = tied
        self.corruption_level = corruption_level
        self.walkback = walkback
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.optimizer = optimizer
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ helpers
    def _key(self, rng):
        rs = self.random_state
        if isinstance(rs, (int, np.integer)) and not isinstance(rs, bool):
            return int(rs)
        return int(rng.integers(2 ** 63))

    @staticmethod
    def _gaussian(be, stream, mean, sigma):
        """``mean + sigma * N(0, 1)`` by the gaussian_sample kernel (sigma per column)."""
        u1 = be.uniform(stream, mean.shape, mean.dtype)
        u2 = be.uniform(stream, mean.shape, mean.dtype)
        return be.kernels.gaussian_sample(mean, sigma, u1, u2)

    def _mu(self, be, Z):
        ae = self.autoencoder_
        return ae._decode(be, ae._encode(be, Z))

    # ------------------------------------------------------------------ fitting
    def fit(self, X, y=None):
        """Train the denoising autoencoder with walkback on ``X`` (n_samples,
        n_features).  Returns self."""
        self._validate_params()
        X = self._check_X(X, reset=True)
        X64 = X.astype(np.float64)
        rng = resolve_rng(self.random_state)
        be = current_backend()
        xp = be.xp
        dt = str(np.dtype(self.dtype))
        self.mean_ = X64.mean(axis=0)
        std = X64.std(axis=0)
        self.scale_ = np.where(std > 0, std, 1.0)
        d = X.shape[1]
        ae = AutoEncoder(self.n_components, activation=self.activation, loss="squared_error",
                         tied=self.tied, corruption=None, learning_rate=self.learning_rate,
                         momentum=self.momentum, weight_decay=self.weight_decay,
                         batch_size=self.batch_size, max_iter=1, dtype=self.dtype,
                         optimizer=self.optimizer, random_state=child_seed(rng))
        ae.n_features_in_ = d
        net = ae._build_network(d, child_seed(rng))
        ae.history_, ae.n_iter_ = [], 0
        ae._store(net)
        self.autoencoder_ = ae
        Zb = be.asarray((X64 - self.mean_) / self.scale_, dt)
        stream = be.stream(self._key(rng), WALK_STREAM)
        corrupt = be.asarray(np.full(d, self.corruption_level), dt)
        recon_std = be.asarray(np.ones(d), dt)
        self.history_, self.n_iter_ = [], 0
        with Progress(self.max_iter, self.verbose, "GSN") as bar:
            for epoch in range(self.max_iter):
                t0 = time.perf_counter()
                inputs, z = [], Zb
                for k in range(self.walkback):
                    noisy = self._gaussian(be, stream, z, corrupt)
                    inputs.append(noisy)
                    if k + 1 < self.walkback:
                        z = self._gaussian(be, stream, self._mu(be, noisy), recon_std)
                A = xp.concatenate(inputs)
                T = xp.concatenate([Zb] * self.walkback)
                partial_epoch(ae, net, A, T)
                ae._store(net)
                # maximum likelihood std of P(z | z~) over this epoch's first-step pairs
                # (at stationarity the chain corrupts data-distributed states: those)
                R = self._mu(be, inputs[0]) - Zb
                recon_std = xp.maximum(xp.sqrt(xp.mean(R * R, axis=0)), MIN_STD).astype(dt)
                record = {"epoch": epoch + 1, "loss": float(ae.history_[-1]["loss"]),
                          "reconstruction_std": be.scalar(xp.mean(recon_std)),
                          "time": time.perf_counter() - t0}
                self.history_.append(record)
                self.n_iter_ = epoch + 1
                bar.update(record)
        self.reconstruction_std_ = np.asarray(to_host(recon_std), dtype=np.float64)
        return self

    # ------------------------------------------------------------------ the chain
    def sample(self, n_samples=1, n_steps=100, random_state=None, return_mean=False):
        """Run ``n_samples`` independent chains for ``n_steps`` steps each, from
        ``N(mean_, diag(scale_^2))``, and return their last states (n_samples,
        n_features).

        One step: ``z~ ~ N(z, corruption_level^2)``, ``z ~ N(mu(z~),
        reconstruction_std_^2)``.  With ``return_mean``, the last step returns
        ``mu(z~)`` (the denoised mean, as GSN papers show samples) instead of a draw.
        """
        self._check_fitted()
        for name, v in (("n_samples", n_samples), ("n_steps", n_steps)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be an int >= 1, got {v!r}")
        be = current_backend()
        dt = str(np.dtype(self.dtype))
        rng = resolve_rng(random_state)
        key = int(random_state) if isinstance(random_state, (int, np.integer)) \
            and not isinstance(random_state, bool) else int(rng.integers(2 ** 63))
        stream = be.stream(key, SAMPLE_STREAM)
        d = self.n_features_in_
        corrupt = be.asarray(np.full(d, self.corruption_level), dt)
        recon = be.asarray(self.reconstruction_std_, dt)
        z = self._gaussian(be, stream, be.asarray(np.zeros((int(n_samples), d)), dt),
                           be.asarray(np.ones(d), dt))
        for step in range(int(n_steps)):
            mu = self._mu(be, self._gaussian(be, stream, z, corrupt))
            z = mu if (return_mean and step + 1 == n_steps) else \
                self._gaussian(be, stream, mu, recon)
        return np.asarray(to_host(z), dtype=np.float64) * self.scale_ + self.mean_

    # ------------------------------------------------------------------ features
    def _standardise(self, X):
        return ((X.astype(np.float64) - self.mean_) / self.scale_).astype(self.dtype)

    def reconstruct(self, X):
        """The denoised mean ``mu((x - mean_) / scale_)`` back in data units, shape
        (n_samples, n_features); feed it a noisy ``X`` to denoise."""
        return self._reconstruct(self._check_X(X))

    def _reconstruct(self, X):
        be = current_backend()
        R = np.asarray(to_host(self._mu(be, be.asarray(self._standardise(X)))), np.float64)
        return R * self.scale_ + self.mean_

    def _n_features_out(self):
        return int(self.n_components)

    def transform(self, X):
        """Hidden codes of the standardised ``X``, shape (n_samples, n_components)."""
        X = self._check_X(X)
        be = current_backend()
        H = self.autoencoder_._encode(be, be.asarray(self._standardise(X)))
        return np.asarray(to_host(H))

    def score(self, X, y=None):
        """Negative mean squared reconstruction error per sample, in standardised units
        (higher is better)."""
        X = self._check_X(X)
        R = (self._reconstruct(X) - X) / self.scale_
        return -float((R ** 2).sum(axis=1).mean())
