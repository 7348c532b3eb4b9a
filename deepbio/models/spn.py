"""Sum-product networks (Poon & Domingos 2011) with the structure learnt by LearnSPN
(Gens & Domingos 2013).  Maths in ``docs/models/spn.md``.

Structure learning, inference and sampling are plain NumPy on the host: an SPN is a
graph of a few hundred small nodes visited once per pass, not a dense hot loop, so no
kernel of the backend layer applies (the estimator runs the same on every backend).
"""
import math

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.stats import chi2, norm

from .._validation import Interval, Options, check_array, check_n_features
from ._base import BaseEstimator, resolve_rng

#: Node kinds in ``node_kind_``.
LEAF, PRODUCT, SUM = 0, 1, 2

#: EM iterations of the instance clustering.
CLUSTER_ITER = 20


def _logsumexp(a, axis):
    m = np.max(a, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    return np.squeeze(m, axis) + np.log(np.sum(np.exp(a - m), axis=axis))


class SPN(BaseEstimator):
    """Sum-product network over binary (Bernoulli leaves) or real (Gaussian leaves)
    variables, its structure and weights learnt by LearnSPN.

    LearnSPN recursion on a block of rows R and variables V: one variable gives a
    univariate leaf; fewer than ``min_instances`` rows give a product of univariate
    leaves; otherwise, if the variables split into groups independent of each other
    (pairwise tests at level ``alpha``: the G-test for binary data, the Fisher z-test
    of the correlation for real data; groups = connected components of the dependence
    graph), a product node over the groups; else a sum node over a two-way clustering
    of the rows (hard EM of a two-component naive-Bayes mixture), weighted by the
    cluster sizes.

    The network is complete and decomposable, so every marginal (any subset of the
    variables observed, the others summed out) is exact in one upward pass
    (:meth:`log_marginal`), and the max-product MPE takes one upward and one downward
    pass (:meth:`mpe`).

    Parameters
    ----------
    leaf : {"bernoulli", "gaussian"}, default="bernoulli"
        Bernoulli leaves take X in {0, 1}; Gaussian leaves take real X.
    alpha : float in (0, 1), default=0.001
        Significance level of the pairwise independence tests: a pair counts as
        dependent when its p-value is below ``alpha``.
    min_instances : int >= 1, default=50
        Blocks of fewer rows become a product of univariate leaves.
    smoothing : float >= 0, default=1.0
        Laplace pseudo-count of the Bernoulli leaves (``p = (n_1 + s) / (n + 2 s)``).
    min_std : float > 0, default=1e-2
        Floor on the standard deviation of the Gaussian leaves.
    random_state : None, int or numpy.random.Generator, default=None
        Initialises the clustering.

    Attributes
    ----------
    node_kind_ : ndarray of int64, shape (n_nodes,)
        0 leaf, 1 product, 2 sum; node 0 is the root and every child has a larger index
        than its parent.
    children_start_ : ndarray of int64, shape (n_nodes + 1,)
        The children of node i are ``children_[children_start_[i]:children_start_[i+1]]``.
    children_ : ndarray of int64, shape (n_edges,)
    log_weights_ : ndarray of float64, shape (n_edges,)
        Log weights of the edges out of sum nodes (0 for product nodes).
    leaf_variable_ : ndarray of int64, shape (n_nodes,)
        The variable of a leaf (-1 for other nodes).
    leaf_params_ : ndarray of float64, shape (n_nodes, 2)
        A Bernoulli leaf's ``(p, 0)``, a Gaussian leaf's ``(mean, std)``.
    n_features_in_ : int

    References
    ----------
    H. Poon, P. Domingos. Sum-product networks: a new deep architecture. UAI 2011.
    R. Gens, P. Domingos. Learning the structure of sum-product networks. ICML 2013.

    Examples
    --------
    >>> import numpy as np
    >>> from deepbio import SPN
    >>> X = (np.random.default_rng(0).random((200, 5)) < 0.3).astype(float)
    >>> spn = SPN(min_instances=20, random_state=0).fit(X)
    >>> spn.score_samples(X[:2]).shape
    (2,)
    """

    _parameter_constraints = {
        "leaf": [Options("bernoulli", "gaussian")],
        "alpha": [Interval("real", 0, 1, closed="neither")],
        "min_instances": [Interval("int", 1, None)],
        "smoothing": [Interval("real", 0, None)],
        "min_std": [Interval("real", 0, None, closed="neither")],
        "random_state": ["random_state"],
    }

    def __init__(self, leaf="bernoulli", alpha=0.001, min_instances=50, smoothing=1.0,
                 min_std=1e-2, random_state=None):
        self.leaf = leaf
        self.alpha = alpha
        self.min_instances = min_instances
        self.smoothing = smoothing
        self.min_std = min_std
        self.random_state = random_state

    def _requires_positive_X(self):
        return self.leaf == "bernoulli"

    # ------------------------------------------------------------------ checks
    def _check_values(self, X, allow_nan=False):
        if self.leaf == "bernoulli":
            seen = X[~np.isnan(X)] if allow_nan else X
            if seen.size and not np.all((seen == 0) | (seen == 1)):
                bad = seen[(seen != 0) & (seen != 1)][0]
                negative = "Negative values in data: " if np.any(seen < 0) else ""
                raise ValueError(f"{negative}X must hold only 0 and 1 for leaf='bernoulli' "
                                 f"(found {bad!r}); binarise it, or use leaf='gaussian' "
                                 f"for real-valued data")
        return X

    def _check_input(self, X, allow_nan=False):
        """``X`` checked against the fitted model; NaN (a missing entry) only with
        ``allow_nan``."""
        if not allow_nan:
            return self._check_values(self._check_X(X))
        self._check_fitted()
        self._check_feature_names(X, reset=False)
        X = check_array(X, "X", dtype=np.float64, ensure_finite=False)
        if np.isinf(X).any():
            raise ValueError("X holds infinity; mark a missing entry with NaN")
        check_n_features(self, X)
        return self._check_values(X, allow_nan=True)

    # ------------------------------------------------------------------ learning
    def fit(self, X, y=None):
        """Learn the structure and weights from ``X`` (n_samples, n_features).

        Returns
        -------
        self : SPN
        """
        self._validate_params()
        X = self._check_values(self._check_X(X, reset=True))
        rng = resolve_rng(self.random_state)
        self._nodes = []                       # (kind, children, log weights, var, params)
        self._build(X, np.arange(X.shape[0]), np.arange(X.shape[1]), rng)
        self._flatten()
        del self._nodes
        return self

    def _new(self, kind, var=-1, params=(0.0, 0.0)):
        self._nodes.append([kind, [], [], var, params])
        return len(self._nodes) - 1

    def _leaf(self, X, rows, var):
        x = X[rows, var]
        if self.leaf == "bernoulli":
            s = self.smoothing
            p = (x.sum() + s) / (len(x) + 2 * s)
            p = min(max(p, 1e-6), 1 - 1e-6)
            return self._new(LEAF, int(var), (float(p), 0.0))
        return self._new(LEAF, int(var), (float(x.mean()),
                                          float(max(x.std(), self.min_std))))

    def _factorised(self, X, rows, cols):
        node = self._new(PRODUCT)
        for v in cols:
            child = self._leaf(X, rows, v)
            self._nodes[node][1].append(child)
            self._nodes[node][2].append(0.0)
        return node

    def _build(self, X, rows, cols, rng):
        if len(cols) == 1:
            return self._leaf(X, rows, cols[0])
        if len(rows) < self.min_instances:
            return self._factorised(X, rows, cols)
        groups = self._independent_groups(X[np.ix_(rows, cols)])
        if len(groups) > 1:
            node = self._new(PRODUCT)
            for g in groups:
                child = self._build(X, rows, cols[g], rng)
                self._nodes[node][1].append(child)
                self._nodes[node][2].append(0.0)
            return node
        labels = self._cluster(X[np.ix_(rows, cols)], rng)
        sizes = np.bincount(labels, minlength=2)
        if sizes.min() == 0:
            return self._factorised(X, rows, cols)
        node = self._new(SUM)
        for k in range(2):
            child = self._build(X, rows[labels == k], cols, rng)
            self._nodes[node][1].append(child)
            self._nodes[node][2].append(math.log(sizes[k] / len(rows)))
        return node

    def _independent_groups(self, D):
        """Connected components of the pairwise dependence graph of the columns of D."""
        n, d = D.shape
        if self.leaf == "bernoulli":
            n11 = D.T @ D
            n1 = D.sum(axis=0)
            n10 = n1[:, None] - n11
            n01 = n1[None, :] - n11
            n00 = n - n1[:, None] - n1[None, :] + n11
            g = np.zeros((d, d))
            for obs, ra, rb in ((n11, n1, n1), (n10, n1, n - n1), (n01, n - n1, n1),
                                (n00, n - n1, n - n1)):
                expected = ra[:, None] * rb[None, :] / n
                with np.errstate(divide="ignore", invalid="ignore"):
                    term = np.where(obs > 0, obs * np.log(obs / expected), 0.0)
                g += term
            dependent = 2 * g > chi2.isf(self.alpha, 1)
        else:
            std = D.std(axis=0)
            Z = (D - D.mean(axis=0)) / np.where(std > 0, std, 1.0)
            r = np.clip((Z.T @ Z) / n, -0.999999, 0.999999)
            r[:, std == 0] = 0.0
            r[std == 0, :] = 0.0
            z = np.arctanh(np.abs(r)) * math.sqrt(max(n - 3, 1))
            dependent = 2 * norm.sf(z) < self.alpha
        np.fill_diagonal(dependent, False)
        i, j = np.nonzero(dependent)
        graph = coo_matrix((np.ones(len(i)), (i, j)), shape=(d, d))
        n_groups, labels = connected_components(graph, directed=False)
        return [np.flatnonzero(labels == k) for k in range(n_groups)]

    def _cluster(self, D, rng):
        """Two clusters of the rows of D by hard EM of a 2-component naive-Bayes
        mixture (Bernoulli or Gaussian), from two random rows as seeds."""
        n = D.shape[0]
        seeds = rng.choice(n, 2, replace=False)
        centre = D[seeds].astype(np.float64)
        labels = np.argmin(((D[:, None, :] - centre[None]) ** 2).sum(axis=2), axis=1)
        for _ in range(CLUSTER_ITER):
            ll = np.empty((n, 2))
            for k in range(2):
                part = D[labels == k]
                if len(part) == 0:
                    return labels
                w = math.log(len(part) / n)
                if self.leaf == "bernoulli":
                    p = (part.sum(axis=0) + 1.0) / (len(part) + 2.0)
                    ll[:, k] = w + D @ np.log(p) + (1 - D) @ np.log(1 - p)
                else:
                    mu, sd = part.mean(axis=0), np.maximum(part.std(axis=0), self.min_std)
                    ll[:, k] = w - (((D - mu) / sd) ** 2 / 2 + np.log(sd)).sum(axis=1)
            new = np.argmax(ll, axis=1)
            if np.array_equal(new, labels):
                break
            labels = new
        return labels

    def _flatten(self):
        nodes = self._nodes
        kind = np.array([nd[0] for nd in nodes], dtype=np.int64)
        start = np.zeros(len(nodes) + 1, dtype=np.int64)
        start[1:] = np.cumsum([len(nd[1]) for nd in nodes])
        self.node_kind_ = kind
        self.children_start_ = start
        self.children_ = np.array([c for nd in nodes for c in nd[1]], dtype=np.int64)
        self.log_weights_ = np.array([w for nd in nodes for w in nd[2]], dtype=np.float64)
        self.leaf_variable_ = np.array([nd[3] for nd in nodes], dtype=np.int64)
        self.leaf_params_ = np.array([nd[4] for nd in nodes], dtype=np.float64).reshape(-1, 2)

    # ------------------------------------------------------------------ inference
    @property
    def n_nodes_(self):
        """Number of nodes of the network."""
        return int(len(self.node_kind_))

    def _leaf_log(self, X, i, use_max=False):
        """log of leaf i at every row of X; where its variable is missing (NaN) the
        variable is summed out (0), or with ``use_max`` maximised (the log at the mode)."""
        x = X[:, self.leaf_variable_[i]]
        a, b = self.leaf_params_[i]
        missing = np.isnan(x)
        x = np.where(missing, 0.0, x)
        if self.leaf == "bernoulli":
            out = x * math.log(a) + (1 - x) * math.log(1 - a)
        else:
            out = -0.5 * ((x - a) / b) ** 2 - math.log(b) - 0.5 * math.log(2 * math.pi)
        if not use_max:
            return np.where(missing, 0.0, out)
        if self.leaf == "bernoulli":
            at_mode = math.log(max(a, 1 - a))
        else:
            at_mode = -math.log(b) - 0.5 * math.log(2 * math.pi)
        return np.where(missing, at_mode, out)

    def _leaf_mode(self, i):
        a, _ = self.leaf_params_[i]
        return float(a >= 0.5) if self.leaf == "bernoulli" else float(a)

    def _upward(self, X, use_max=False):
        """log value of every node at every row: (n_nodes, n_samples)."""
        values = np.empty((self.n_nodes_, X.shape[0]))
        for i in range(self.n_nodes_ - 1, -1, -1):
            kind = self.node_kind_[i]
            if kind == LEAF:
                values[i] = self._leaf_log(X, i, use_max)
                continue
            lo, hi = self.children_start_[i], self.children_start_[i + 1]
            ch = values[self.children_[lo:hi]]
            if kind == PRODUCT:
                values[i] = ch.sum(axis=0)
            else:
                ch = ch + self.log_weights_[lo:hi, None]
                values[i] = ch.max(axis=0) if use_max else _logsumexp(ch, axis=0)
        return values

    def log_marginal(self, X):
        """Exact log marginal probability (density for Gaussian leaves) of every row of
        ``X``, the entries that are NaN summed (integrated) out; one upward pass.

        A row of NaN only gives 0 (the network sums to 1).  Shape (n_samples,).
        """
        X = self._check_input(X, allow_nan=True)
        return self._upward(X)[0]

    def score_samples(self, X):
        """Log-likelihood (log density for Gaussian leaves) of every complete row."""
        return self._upward(self._check_input(X))[0]

    def score(self, X, y=None):
        """Mean log-likelihood of the rows of ``X``."""
        return float(np.mean(self.score_samples(X)))

    def mpe(self, X, return_log_value=False):
        """Most probable explanation of the NaN entries of every row of ``X``, the others
        kept: the max-product pass up (sums replaced by maxima), then down from the root,
        following the best child of every sum node and every child of a product node; a
        reached leaf of a missing variable takes its mode.

        This is the MPE of Poon & Domingos: the most probable completion *together with*
        the choice made at each sum node (the latent variables an SPN's sums marginalise).
        It is the exact argmax of ``p(x)`` when at most one child of each sum node is
        non-zero at a state (selective networks); in general that argmax is NP-hard.

        Returns the completed array (n_samples, n_features) and, with
        ``return_log_value``, the max-product log value of each completion.
        """
        X = self._check_input(X, allow_nan=True)
        values = self._upward(X, use_max=True)
        out = X.copy()
        n = X.shape[0]
        stack = [(0, np.arange(n))]
        while stack:
            i, rows = stack.pop()
            if len(rows) == 0:
                continue
            kind = self.node_kind_[i]
            lo, hi = self.children_start_[i], self.children_start_[i + 1]
            children = self.children_[lo:hi]
            if kind == LEAF:
                v = self.leaf_variable_[i]
                col = out[rows, v]
                out[rows, v] = np.where(np.isnan(col), self._leaf_mode(i), col)
            elif kind == PRODUCT:
                stack.extend((c, rows) for c in children)
            else:
                best = np.argmax(values[children][:, rows] + self.log_weights_[lo:hi, None],
                                 axis=0)
                stack.extend((c, rows[best == k]) for k, c in enumerate(children))
        return (out, values[0]) if return_log_value else out

    def sample(self, n_samples=1, random_state=None):
        """Draw ``n_samples`` rows from the network (ancestral sampling from the root:
        one child of each sum node by its weights, every child of a product node)."""
        self._check_fitted()
        if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) \
                or n_samples < 1:
            raise ValueError(f"n_samples must be an int >= 1, got {n_samples!r}")
        rng = resolve_rng(random_state)
        out = np.zeros((int(n_samples), self.n_features_in_))
        stack = [(0, np.arange(int(n_samples)))]
        while stack:
            i, rows = stack.pop()
            if len(rows) == 0:
                continue
            kind = self.node_kind_[i]
            lo, hi = self.children_start_[i], self.children_start_[i + 1]
            children = self.children_[lo:hi]
            if kind == LEAF:
                a, b = self.leaf_params_[i]
                v = self.leaf_variable_[i]
                if self.leaf == "bernoulli":
                    out[rows, v] = (rng.random(len(rows)) < a).astype(np.float64)
                else:
                    out[rows, v] = a + b * rng.standard_normal(len(rows))
            elif kind == PRODUCT:
                stack.extend((c, rows) for c in children)
            else:
                p = np.exp(self.log_weights_[lo:hi])
                pick = rng.choice(len(children), size=len(rows), p=p / p.sum())
                stack.extend((c, rows[pick == k]) for k, c in enumerate(children))
        return out
