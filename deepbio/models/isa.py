"""Independent subspace analysis (Hyvarinen & Hoyer 2000) and its convolutional stack
(Le, Zou, Yeung & Ng 2011).  Maths in ``docs/models/isa.md``.

The optimisation (matrix products, the symmetric orthogonalisation's eigen-decomposition)
runs on the backend's array module ``xp``; the convolutional stack applies each layer's
whitened filters with the backend's ``conv2d_forward`` / ``conv1d_forward`` kernels.
Patch sampling for training is NumPy indexing on the host (data preparation, once).
"""
import math
import time

import numpy as np

from .._validation import Interval, IntSequence, Options, check_array
from ..optim._base import Progress
from ._base import BaseEstimator, TransformerMixin, current_backend, resolve_rng, to_host

#: Smoothing inside the square root of the pooling: ``sqrt(EPS + sum_j (w_j . x)^2)``.
EPS = 1e-6

#: Eigenvalues below ``RANK_TOL * largest`` count as zero in the whitening.
RANK_TOL = 1e-10

#: Backtracking: step shrink on failure, growth after an accepted step, smallest step.
SHRINK, GROW, MIN_STEP = 0.5, 1.5, 1e-10


def _pairs(v, name):
    v = tuple(int(s) for s in (v if isinstance(v, (tuple, list)) else (v, v)))
    if len(v) != 2 or min(v) < 1:
        raise ValueError(f"{name} must be an int >= 1 or a pair of them, got {v!r}")
    return v


def symmetric_orthogonalize(xp, W):
    """``(W W^T)^(-1/2) W``: the nearest matrix with orthonormal rows (Frobenius norm)."""
    s, U = xp.linalg.eigh(W @ W.T)
    s = xp.maximum(s, 1e-300)
    return (U * (1.0 / xp.sqrt(s))) @ U.T @ W


def subspace_matrix(n_subspaces, subspace_size):
    """H (k, m): ``H[j, l] = 1`` when filter j belongs to subspace l (consecutive rows)."""
    k = n_subspaces * subspace_size
    H = np.zeros((k, n_subspaces))
    H[np.arange(k), np.arange(k) // subspace_size] = 1.0
    return H


def subspace_distance(W, A, subspace_size):
    """Amari-like distance between the subspaces of the filters W (k, d) and of a mixing
    matrix A (d, k) whose column blocks of ``subspace_size`` span the true subspaces.

    ``E[l, t] = ||(W A)[S_l, T_t]||_F^2`` (rows of W A normalised to unit length), the
    share of learnt subspace l's energy in true subspace t; the distance is
    ``(sum_l (sum_t E_lt / max_t E_lt - 1) + sum_t (sum_l E_lt / max_l E_lt - 1))
    / (2 m (m - 1))``: 0 for a block permutation (the subspaces recovered up to order and
    rotation within each), 1 at worst.
    """
    M = np.asarray(W) @ np.asarray(A)
    M = M / np.linalg.norm(M, axis=1, keepdims=True)
    m = M.shape[0] // subspace_size
    E = (M ** 2).reshape(m, subspace_size, m, subspace_size).sum(axis=(1, 3))
    rows = (E.sum(axis=1) / E.max(axis=1) - 1).sum()
    cols = (E.sum(axis=0) / E.max(axis=0) - 1).sum()
    return float((rows + cols) / (2 * m * (m - 1))) if m > 1 else 0.0


class ISA(TransformerMixin, BaseEstimator):
    """Independent subspace analysis: PCA whitening, then filters with orthonormal rows
    grouped into subspaces, each feature the L2 norm of its subspace's responses.

    ``transform(x)_l = sqrt(EPS + sum_{j in S_l} (w_j . V (x - mean))^2)`` with V the
    PCA whitening and W (rows w_j) minimising ``J(W) = mean_i sum_l transform(x_i)_l``
    (a sparse, heavy-tailed prior on the subspace norms) subject to ``W W^T = I``.
    Every step is a gradient step followed by the symmetric orthogonalisation
    ``W <- (W W^T)^(-1/2) W``, with backtracking: a step is accepted only if it lowers J
    (halving the step until it does, growing it by 1.5 after each success), so
    ``history_`` decreases within each phase (the ICA start's, then ISA's).
    ``n_restarts`` starts are run and the lowest J kept (J has local minima that mix
    subspaces; see ``init``).

    Parameters
    ----------
    n_subspaces : int >= 1, default=10
    subspace_size : int >= 1, default=2
        Filters per subspace; ``n_subspaces * subspace_size`` filters in all, at most
        the rank of the data (fewer subspaces are fitted otherwise: ``n_subspaces_``).
    max_iter : int >= 1, default=200
        Gradient steps per start.
    tol : float >= 0, default=1e-7
        Stop when a step lowers J by less than ``tol * |J|``.
    learning_rate : float > 0, default=1.0
        First step size (adapted by the backtracking).
    n_restarts : int >= 1, default=1
    init : {"ica", "random"}, default="ica"
        Start of each restart: a random orthonormal W, or (``"ica"``) that start first
        optimised with one filter per subspace (ICA) and its filters grouped into
        subspaces by the correlation of their energies (Hyvarinen & Hoyer's observation
        that ICA components of one subspace have dependent energies).
    random_state : None, int or numpy.random.Generator, default=None
        The random orthonormal starts.
    verbose : int, default=0

    Attributes
    ----------
    mean_ : ndarray (n_features_in_,)
    whitening_ : ndarray (n_whitened, n_features_in_)
        PCA whitening V: rows are eigenvectors of the covariance over sqrt(eigenvalue).
    W_ : ndarray (n_subspaces_ * subspace_size_, n_whitened)
        Orthonormal rows, in whitened coordinates.
    components_ : ndarray (n_subspaces_ * subspace_size_, n_features_in_)
        ``W_ @ whitening_``: the filters on the input.
    n_subspaces_, subspace_size_ : int
    objective_ : float
        J of the kept start (its last ``"isa"`` record).
    history_ : list of dict
        Per accepted step of the kept start: ``phase`` (``"ica"`` for the ICA start,
        whose objective has one filter per subspace, then ``"isa"``), ``iteration``
        (0 for each phase's starting point), ``objective``, ``step``,
        ``orthonormality_error`` (``max |W W^T - I|``), ``time``.
    restart_objectives_ : list of float
    n_iter_ : int
        Accepted steps of the kept start, both phases.
    n_features_in_ : int

    References
    ----------
    A. Hyvarinen, P. Hoyer. Emergence of phase- and shift-invariant features by
    decomposition of natural images into independent feature subspaces. Neural
    Computation 12, 2000.
    Q. V. Le, W. Y. Zou, S. Y. Yeung, A. Y. Ng. Learning hierarchical invariant
    spatio-temporal features for action recognition with independent subspace analysis.
    CVPR 2011.

    Examples
    --------
    >>> import numpy as np
    >>> from deepbio import ISA
    >>> X = np.random.default_rng(0).laplace(size=(300, 8))
    >>> ISA(n_subspaces=2, subspace_size=2, random_state=0).fit_transform(X).shape
    (300, 2)
    """

    _parameter_constraints = {
        "n_subspaces": [Interval("int", 1, None)],
        "subspace_size": [Interval("int", 1, None)],
        "max_iter": [Interval("int", 1, None)],
        "tol": [Interval("real", 0, None)],
        "learning_rate": [Interval("real", 0, None, closed="neither")],
        "n_restarts": [Interval("int", 1, None)],
        "init": [Options("ica", "random")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(self, n_subspaces=10, subspace_size=2, max_iter=200, tol=1e-7,
                 learning_rate=1.0, n_restarts=1, init="ica", random_state=None, verbose=0):
        self.n_subspaces = n_subspaces
        self.subspace_size = subspace_size
        self.max_iter = max_iter
        self.tol = tol
        self.learning_rate = learning_rate
        self.n_restarts = n_restarts
        self.init = init
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ fitting
    def fit(self, X, y=None):
        """Whiten ``X`` (n_samples, n_features) and learn the subspaces.  Returns self."""
        self._validate_params()
        X = self._check_X(X, reset=True)
        if X.shape[0] < 2:
            raise ValueError(f"ISA needs at least 2 samples to whiten, got {X.shape[0]} "
                             f"sample (n_samples = 1)")
        rng = resolve_rng(self.random_state)
        self._whiten(X)
        r = self.whitening_.shape[0]
        size = min(self.subspace_size, r)
        m = max(1, min(self.n_subspaces, r // size))
        self.n_subspaces_, self.subspace_size_ = int(m), int(size)
        be = current_backend()
        Z = be.asarray((X - self.mean_) @ self.whitening_.T, dtype="float64")
        H = be.asarray(subspace_matrix(m, size), dtype="float64")
        best = None
        self.restart_objectives_ = []
        for restart in range(self.n_restarts):
            W0 = be.asarray(np.linalg.qr(rng.standard_normal((r, m * size)))[0].T, "float64")
            start = []
            if self.init == "ica" and size > 1:
                W0, start = self._ica_init(be, Z, W0, m, size, restart)
            W, history = self._optimise(be, Z, H, W0, restart)
            history = start + [dict(r, phase="isa") for r in history]
            self.restart_objectives_.append(history[-1]["objective"])
            if best is None or history[-1]["objective"] < best[1][-1]["objective"]:
                best = (W, history)
        W, self.history_ = best
        self.W_ = to_host(W).astype(np.float64)
        self.objective_ = float(self.history_[-1]["objective"])
        self.n_iter_ = sum(r["iteration"] > 0 for r in self.history_)
        self.components_ = self.W_ @ self.whitening_
        return self

    def _ica_init(self, be, Z, W0, m, size, restart):
        """ISA with one filter per subspace (ICA with a Laplace-like prior) from ``W0``,
        its filters then grouped into ``m`` subspaces of ``size`` by the correlation of
        their energies ``(w_j . z)^2`` (filters of one subspace have dependent energies)."""
        k = W0.shape[0]
        W, history = self._optimise(be, Z, be.asarray(np.eye(k), "float64"), W0, restart)
        Y = to_host(Z @ W.T)
        C = np.corrcoef((Y * Y).T)
        np.fill_diagonal(C, -np.inf)
        free, groups = set(range(k)), []
        for _ in range(m):
            idx = sorted(free)
            sub = C[np.ix_(idx, idx)]
            seed = idx[int(np.argmax(sub.max(axis=1)))] if len(idx) > 1 else idx[0]
            group = [seed]
            free.discard(seed)
            while len(group) < size:
                rest = sorted(free)
                nxt = rest[int(np.argmax(C[np.ix_(group, rest)].sum(axis=0)))]
                group.append(nxt)
                free.discard(nxt)
            groups.append(group)
        order = [j for g in groups for j in g]
        return W[be.asarray(np.array(order))], [dict(r, phase="ica") for r in history]

    def _whiten(self, X):
        self.mean_ = X.mean(axis=0)
        C = np.cov(X - self.mean_, rowvar=False, bias=True).reshape(X.shape[1], X.shape[1])
        s, U = np.linalg.eigh(C)
        order = np.argsort(s)[::-1]
        s, U = s[order], U[:, order]
        keep = s > RANK_TOL * max(s[0], 1e-300)
        if not keep.any():                      # constant data: one unit direction
            keep[0], s[0] = True, 1.0
        self.whitening_ = (U[:, keep] / np.sqrt(s[keep])).T

    @staticmethod
    def _objective(xp, Z, W, H):
        """J and the pooled units P (n, m)."""
        Y = Z @ W.T
        P = xp.sqrt(EPS + (Y * Y) @ H)
        return P.sum(axis=1).mean(), Y, P

    def _optimise(self, be, Z, H, W, restart):
        xp = be.xp
        n = Z.shape[0]
        J, Y, P = self._objective(xp, Z, W, H)
        J = be.scalar(J)
        k = W.shape[0]
        eye = xp.eye(k)
        history = [{"iteration": 0, "objective": J, "step": 0.0, "orthonormality_error":
                    be.scalar(xp.max(xp.abs(W @ W.T - eye))), "time": 0.0}]
        step = float(self.learning_rate)
        with Progress(self.max_iter, self.verbose, f"ISA start {restart + 1}",
                      unit="step") as bar:
            for it in range(1, self.max_iter + 1):
                t0 = time.perf_counter()
                G = ((Y / (P @ H.T)).T @ Z) / n
                # the gradient's component in the tangent space of the orthonormal rows
                G = G - 0.5 * (G @ W.T + W @ G.T) @ W
                accepted = False
                while step >= MIN_STEP:
                    W_new = symmetric_orthogonalize(xp, W - step * G)
                    J_new, Y_new, P_new = self._objective(xp, Z, W_new, H)
                    J_new = be.scalar(J_new)
                    if J_new < J:
                        accepted = True
                        break
                    step *= SHRINK
                if not accepted:
                    break
                gain = J - J_new
                W, J, Y, P = W_new, J_new, Y_new, P_new
                record = {"iteration": it, "objective": J, "step": step,
                          "orthonormality_error": be.scalar(xp.max(xp.abs(W @ W.T - eye))),
                          "time": time.perf_counter() - t0}
                history.append(record)
                bar.update(record)
                if not math.isfinite(J):
                    raise FloatingPointError(f"the ISA objective became {J} at step {it}")
                step *= GROW
                if gain <= self.tol * abs(J):
                    break
        return W, history

    # ------------------------------------------------------------------ features
    def _n_features_out(self):
        return self.n_subspaces_

    def transform(self, X):
        """Subspace norms ``sqrt(EPS + sum_{j in S_l} (w_j . V (x - mean))^2)``,
        shape (n_samples, n_subspaces_)."""
        return self._features(self._check_X(X))

    def _features(self, X):
        be = current_backend()
        xp = be.xp
        F = be.asarray(self.components_, dtype="float64")
        Y = be.asarray(X - self.mean_, dtype="float64") @ F.T
        H = be.asarray(subspace_matrix(self.n_subspaces_, self.subspace_size_), "float64")
        out = to_host(xp.sqrt(EPS + (Y * Y) @ H))
        return np.asarray(out, dtype=np.float64)

    def score(self, X, y=None):
        """Minus the ISA objective on ``X`` (higher is better: sparser subspace norms)."""
        return -float(self._features(self._check_X(X)).sum(axis=1).mean())


class StackedISA(TransformerMixin, BaseEstimator):
    """Two or more ISA layers stacked convolutionally (Le et al. 2011), on images
    (n_samples, channels, height, width) or sequences (n_samples, length, alphabet).

    Layer 1 is an :class:`ISA` fitted on random ``patch_size[0]`` patches of the input
    (PCA-whitened inside); it is applied by convolution at ``stride[0]``, its pooled
    subspace norms making a response map (n_subspaces, H1, W1).  Layer l > 1 is an ISA
    fitted on random ``patch_size[l]`` patches of layer l-1's response map (whitened
    again), applied by convolution at ``stride[l]``.  A layer's whitening and filters
    fold into one convolution (filters ``components_`` reshaped, bias
    ``-components_ @ mean_``), run by the backend's conv kernel.

    ``transform`` returns every layer's response map, flattened and concatenated (Le et
    al. feed the concatenation of layer 1 and layer 2 features to the classifier).

    Parameters
    ----------
    n_subspaces : sequence of int, default=(16, 8)
        One entry per layer.
    subspace_size : int >= 1, default=2
    patch_size : sequence of int, default=(4, 2)
        Square patch side per layer (layer 1 in input positions, layer l > 1 in
        positions of layer l-1's map); for sequences, the window length.
    stride : sequence of int, default=(2, 1)
    n_patches : int >= 1, default=10000
        Patches sampled per layer for its ISA.
    max_iter, tol, learning_rate, n_restarts : as :class:`ISA`
    random_state : None, int or numpy.random.Generator, default=None
    verbose : int, default=0

    Attributes
    ----------
    isas_ : list of ISA
    input_type_ : "image" or "sequence"
    input_shape_ : tuple
        Per-sample shape seen at fit ((C, H, W) or (L, A)).
    map_shapes_ : list of tuple
        Each layer's response map shape (per sample, channels first).
    history_ : list of dict
        The layers' ISA histories one after the other, each record with its ``layer``
        (1, 2, ...).
    n_features_in_ : int
        Number of input values per sample.
    """

    _input_ndim = 3

    _parameter_constraints = {
        "n_subspaces": [IntSequence(1)],
        "subspace_size": [Interval("int", 1, None)],
        "patch_size": [IntSequence(1)],
        "stride": [IntSequence(1)],
        "n_patches": [Interval("int", 1, None)],
        "max_iter": [Interval("int", 1, None)],
        "tol": [Interval("real", 0, None)],
        "learning_rate": [Interval("real", 0, None, closed="neither")],
        "n_restarts": [Interval("int", 1, None)],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(self, n_subspaces=(16, 8), subspace_size=2, patch_size=(4, 2),
                 stride=(2, 1), n_patches=10000, max_iter=200, tol=1e-7, learning_rate=1.0,
                 n_restarts=1, random_state=None, verbose=0):
        self.n_subspaces = n_subspaces
        self.subspace_size = subspace_size
        self.patch_size = patch_size
        self.stride = stride
        self.n_patches = n_patches
        self.max_iter = max_iter
        self.tol = tol
        self.learning_rate = learning_rate
        self.n_restarts = n_restarts
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ input
    def _as_maps(self, X, reset):
        """X as channels-first maps: (N, C, H, W) for images, (N, A, L) for sequences."""
        X = check_array(X, "X", dtype=np.float64, ndim=(3, 4))
        if X.ndim == 4:
            kind, maps = "image", X
        elif X.ndim == 3:
            kind, maps = "sequence", np.ascontiguousarray(X.transpose(0, 2, 1))
        else:                                   # pragma: no cover (check_array's ndim)
            raise ValueError(f"X must be images (n_samples, channels, height, width) or "
                             f"sequences (n_samples, length, alphabet), got shape {X.shape}")
        if reset:
            self.input_type_, self.input_shape_ = kind, tuple(int(s) for s in X.shape[1:])
            self.n_features_in_ = int(np.prod(X.shape[1:]))
        else:
            self._check_fitted()
            if kind != self.input_type_ or tuple(X.shape[1:]) != self.input_shape_:
                raise ValueError(f"X has per-sample shape {tuple(X.shape[1:])}, but "
                                 f"StackedISA was fitted on {self.input_type_}s of shape "
                                 f"{self.input_shape_}")
        return maps

    def _layer_settings(self):
        sizes = tuple(self.n_subspaces)
        patch, stride = tuple(self.patch_size), tuple(self.stride)
        if not (len(sizes) == len(patch) == len(stride)):
            raise ValueError(f"n_subspaces, patch_size and stride need one entry per layer, "
                             f"got {len(sizes)}, {len(patch)} and {len(stride)}")
        return sizes, patch, stride

    # ------------------------------------------------------------------ patches
    @staticmethod
    def _patches(maps, p, rng, n_patches):
        """``n_patches`` random p x p (or length-p) patches of maps, flattened in the
        filter layout of the conv kernels (C, p, p) / (C, p)."""
        n = maps.shape[0]
        if maps.ndim == 4:
            H, W = maps.shape[2:]
            if p > H or p > W:
                raise ValueError(f"patch_size {p} is larger than the map ({H} x {W})")
            i = rng.integers(0, n, n_patches)
            r = rng.integers(0, H - p + 1, n_patches)
            c = rng.integers(0, W - p + 1, n_patches)
            a = np.arange(p)
            P = maps[i[:, None, None], :, (r[:, None] + a)[:, :, None],
                     (c[:, None] + a)[:, None, :]]            # (n, p, p, C)
            return P.transpose(0, 3, 1, 2).reshape(n_patches, -1)
        L = maps.shape[2]
        if p > L:
            raise ValueError(f"patch_size {p} is longer than the sequence map ({L})")
        i = rng.integers(0, n, n_patches)
        s = rng.integers(0, L - p + 1, n_patches)
        P = maps[i[:, None], :, s[:, None] + np.arange(p)]      # (n, p, C)
        return P.transpose(0, 2, 1).reshape(n_patches, -1)

    @staticmethod
    def _respond(be, isa, maps, p, stride):
        """The pooled responses of ``isa`` convolved over ``maps`` (a backend array)."""
        xp = be.xp
        k = isa.components_.shape[0]
        c = maps.shape[1]
        bias = be.asarray(-(isa.components_ @ isa.mean_), dtype="float64")
        if maps.ndim == 4:
            w = be.asarray(isa.components_.reshape(k, c, p, p), dtype="float64")
            Y = be.kernels.conv2d_forward(maps, w, bias, (stride, stride), (0, 0))
        else:
            w = be.asarray(isa.components_.reshape(k, c, p), dtype="float64")
            Y = be.kernels.conv1d_forward(maps, w, bias, stride, 0)
        m, s = isa.n_subspaces_, isa.subspace_size_
        E = (Y * Y).reshape(Y.shape[0], m, s, *Y.shape[2:]).sum(axis=2)
        return xp.sqrt(EPS + E)

    # ------------------------------------------------------------------ fit
    def fit(self, X, y=None):
        """Fit the layers one after the other on ``X``.  Returns self."""
        self._validate_params()
        sizes, patch, stride = self._layer_settings()
        maps = self._as_maps(X, reset=True)
        rng = resolve_rng(self.random_state)
        be = current_backend()
        self.isas_, self.history_, self.map_shapes_ = [], [], []
        current = maps
        for layer, (m, p, s) in enumerate(zip(sizes, patch, stride)):
            host = np.asarray(to_host(current), dtype=np.float64)
            P = self._patches(host, p, rng, self.n_patches)
            isa = ISA(n_subspaces=m, subspace_size=self.subspace_size, max_iter=self.max_iter,
                      tol=self.tol, learning_rate=self.learning_rate,
                      n_restarts=self.n_restarts,
                      random_state=int(rng.integers(0, 2 ** 31 - 1)),
                      verbose=self.verbose).fit(P)
            self.isas_.append(isa)
            self.history_ += [dict(record, layer=layer + 1) for record in isa.history_]
            current = self._respond(be, isa, be.asarray(host, dtype="float64"), p, s)
            self.map_shapes_.append(tuple(int(v) for v in current.shape[1:]))
        return self

    def _n_features_out(self):
        return int(sum(np.prod(s) for s in self.map_shapes_))

    def transform_layers(self, X):
        """Each layer's response maps, a list of arrays (n_samples, n_subspaces, ...)."""
        maps = self._as_maps(X, reset=False)
        be = current_backend()
        _, patch, stride = self._layer_settings()
        current, out = be.asarray(maps, dtype="float64"), []
        for isa, p, s in zip(self.isas_, patch, stride):
            current = self._respond(be, isa, current, p, s)
            out.append(np.asarray(to_host(current), dtype=np.float64))
        return out

    def transform(self, X):
        """Every layer's response map, flattened and concatenated: (n_samples,
        sum of the map sizes)."""
        layers = self.transform_layers(X)
        return np.hstack([L.reshape(L.shape[0], -1) for L in layers])
