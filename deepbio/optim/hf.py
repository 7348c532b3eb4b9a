"""Hessian-free optimisation (Martens 2010; Martens & Sutskever 2011).

Each iteration minimises a damped quadratic model of the loss around the current
parameters ``theta``,

    q(p) = f(theta) + g^T p + 1/2 p^T (G + lambda I + wd I) p,

by preconditioned conjugate gradient, where ``g`` is the gradient on a (large)
gradient minibatch and ``G`` the Gauss-Newton matrix on a (smaller) curvature minibatch.
``G`` is never formed: CG only needs products ``G v``, which the network computes with
one R-op (forward-mode) pass and one backward pass (``Network.gauss_newton_product``).

The ingredients, each switchable:

* **CG warm start**: CG starts from ``zeta`` times the previous solution (zeta = 0.95).
* **Martens' stopping rule**: stop at iteration i > k = max(10, 0.1 i) once the
  quadratic has stalled, ``(phi_i - phi_{i-k}) / phi_i < k * eps`` (eps = 5e-4).
* **CG-iterate backtracking**: iterates saved at i = ceil(1.3^j) are tried from the
  last backwards; the first whose predecessor is worse on the loss wins.
* **Levenberg-Marquardt damping**: from the reduction ratio
  ``rho = (f(theta + p) - f(theta)) / (q(p) - q(0))``: lambda *= 3/2 if rho < 1/4,
  lambda *= 2/3 if rho > 3/4.
* **Armijo line search** on the chosen step: ``alpha`` shrinks by 0.8 until
  ``f(theta + alpha p) <= f(theta) + c alpha g^T p``.
* **Diagonal preconditioner** ``M = (diag(F) + lambda + wd)^0.75``, with ``F`` the mean
  of squared per-example gradients (the empirical Fisher diagonal).
* **Structural damping** (recurrent layers): the curvature product gains
  ``(mu lambda / N_c) J_h^T J_h v``, the Gauss-Newton matrix of the penalty
  ``(mu lambda / 2 N_c) sum_n sum_t ||h_t(theta + p) - h_t(theta)||^2`` on changes of the
  hidden states (averaged over the N_c curvature examples, like the loss); layers that
  have a ``structural_damping`` attribute receive ``mu * lambda / N_c`` for each CG run
  and 0 afterwards.

One objective throughout: the gradient, the curvature products, the preconditioner and
every trial loss ``f(theta + p)`` are computed in prediction mode (``train=False``), so
rho and the line search compare values of the same function.  A network with an active
``Dropout`` layer has no such deterministic objective (a new mask at every pass):
``minimize`` and ``step`` refuse it with ValueError.

Cost is counted, not timed: :class:`CountingNetwork` tallies every pass in units of
one gradient evaluation per example (forward = 1/3, backward = 2/3, R-op = 2/3; a
Gauss-Newton product reusing its cached forward is 4/3), so HF and SGD can be compared
at an equal counted budget.  See ``docs/hf.md`` for the maths, the measured costs and
the demonstrations.

Data parallel (``comm``, see ``docs/distributed.md``): each rank holds a shard; the
gradient, every Gauss-Newton product of CG, the preconditioner's squared gradients and
every trial loss are those of the concatenated shards (one Allreduce each, through
:class:`deepbio.optim._distributed.GlobalNetwork`), so the CG scalars, rho, the damping
and the line search are global and identical on every rank.  The gradient and curvature
batches are drawn by each rank from its own shard (``gradient_batch_size`` and
``curvature_batch_size`` are per rank).
"""
import math
import numbers
import time

import numpy as np

from .. import backend as _backend
from .. import distributed as _dist
from .._validation import Interval, Options
from ..nn import Dropout
from . import _checkpoint as _ckpt
from ._base import CommConstraint, Optimizer, Progress, data_checked, global_metric
from ._distributed import GlobalNetwork, global_network

_FORWARD, _BACKWARD, _ROP = 1.0 / 3.0, 2.0 / 3.0, 2.0 / 3.0
_NO_CACHE = object()


class CountingNetwork:
    """Wrap a network and count its work in gradient-evaluation equivalents per example.

    ``cost`` grows by ``n * units`` for a call on ``n`` examples, where a forward pass
    is 1/3 of a unit, a backward pass 2/3 and an R-op pass 2/3 (a dense layer's forward
    is one matrix product, its backward and its R-op two each); so ``loss`` costs 1/3,
    ``loss_and_grad`` 1, ``squared_example_grads`` 1 and ``gauss_newton_product`` 5/3
    per example, or 4/3 when the network reuses the forward of the previous product;
    ``linearize`` (one forward) costs 1/3 and each product of its handle 4/3, so a CG
    run of k products costs 1/3 + 4k/3 either way.  ``calls`` counts the calls by method
    (a handle's products as ``gauss_newton_product``).  Every other attribute is the
    wrapped network's.
    """

    def __init__(self, network):
        object.__setattr__(self, "network", network)
        object.__setattr__(self, "cost", 0.0)
        object.__setattr__(self, "calls", {"loss": 0, "loss_and_grad": 0,
                                           "gauss_newton_product": 0})

    def __getattr__(self, name):
        return getattr(self.network, name)

    def __setattr__(self, name, value):
        if name in ("cost", "calls"):
            object.__setattr__(self, name, value)
        else:
            setattr(self.network, name, value)

    def _count(self, what, n, units):
        self.calls[what] = self.calls.get(what, 0) + 1
        self.cost += n * units

    def loss(self, X, y, *args, **kwargs):
        self._count("loss", len(X), _FORWARD)
        return self.network.loss(X, y, *args, **kwargs)

    def loss_and_grad(self, X, y, *args, **kwargs):
        self._count("loss_and_grad", len(X), _FORWARD + _BACKWARD)
        return self.network.loss_and_grad(X, y, *args, **kwargs)

    def linearize(self, X, y, *args, **kwargs):
        """The wrapped network's :meth:`~deepbio.nn.Network.linearize` (one forward),
        with its products counted (an R-op and a backward pass each)."""
        self._count("linearize", len(X), _FORWARD)
        return _CountedLinearization(self, self.network.linearize(X, y, *args, **kwargs),
                                     len(X))

    def gauss_newton_product(self, v, X, y, *args, **kwargs):
        # A network that linearises around a cached forward (deepbio.nn.Network keeps
        # it in ``_gn_key`` across the products of one CG run) runs its forward only
        # when that cache is replaced; the forward is counted only then.
        key = getattr(self.network, "_gn_key", _NO_CACHE)
        out = self.network.gauss_newton_product(v, X, y, *args, **kwargs)
        reused = key is not _NO_CACHE and key is not None \
            and getattr(self.network, "_gn_key", None) is key
        self._count("gauss_newton_product", len(X),
                    _ROP + _BACKWARD + (0.0 if reused else _FORWARD))
        return out

    def squared_example_grads(self, X, y, *args, **kwargs):
        # n per-example gradients: one gradient evaluation per example
        self._count("squared_example_grads", len(X), _FORWARD + _BACKWARD)
        return self.network.squared_example_grads(X, y, *args, **kwargs)


class _CountedLinearization:
    """A Linearization whose products a CountingNetwork counts."""

    def __init__(self, counter, lin, n):
        self.counter, self.lin, self.n = counter, lin, n

    @property
    def valid(self):
        return self.lin.valid

    def gauss_newton_product(self, v):
        self.counter._count("gauss_newton_product", self.n, _ROP + _BACKWARD)
        return self.lin.gauss_newton_product(v)


class _Relinearizing:
    """For a network without ``linearize``: each product is the network's own
    ``gauss_newton_product`` on the batch (which may cache what it likes)."""

    def __init__(self, network, X, y, train):
        self.network, self.X, self.y, self.train = network, X, y, train

    def gauss_newton_product(self, v):
        return self.network.gauss_newton_product(v, self.X, self.y, train=self.train)


def _linearize(network, X, y, train):
    """``network.linearize(X, y, train)``, or products through ``gauss_newton_product``
    for a duck-typed network that has no ``linearize``."""
    inner = network.network if isinstance(network, CountingNetwork) else network
    if hasattr(inner, "linearize"):
        return network.linearize(X, y, train=train)
    return _Relinearizing(network, X, y, train)


def _dot(a, b):
    """``a^T b`` as a Python float (a host read)."""
    return _backend.current().scalar((a * b).sum())


def check_deterministic(network):
    """ValueError if ``network`` has a :class:`deepbio.nn.Dropout` layer with rate > 0.

    HF compares values of one objective: the reduction ratio rho and the Armijo line
    search set ``f(theta + p)`` against ``f(theta)`` and the model built from ``g`` and
    ``G``.  Dropout draws a new mask at every training pass (and is the identity at
    prediction time), so there is no single objective to compare.
    """
    active = [(i, layer.rate) for i, layer in enumerate(getattr(network, "layers", ()))
              if isinstance(layer, Dropout) and layer.rate > 0]
    if active:
        where = ", ".join(f"rate {rate:g} in layer {i}" for i, rate in active)
        raise ValueError(f"HessianFree needs a deterministic objective: Dropout layers "
                         f"({where}) draw a new mask at every pass, so the reduction ratio "
                         f"and the line search would compare different functions; use SGD, "
                         f"or set the dropout rate to 0")


def conjugate_gradient(A, b, x0, M=None, max_iter=250, min_iter=1, tol=5e-4,
                       save_gamma=1.3, check_every=None):
    """Preconditioned CG on ``phi(x) = 1/2 x^T A x - b^T x`` with Martens' stopping rule.

    Parameters
    ----------
    A : callable, v -> A v, for a symmetric positive definite A.
    b : array (P,).
    x0 : array (P,), the starting point (warm start).
    M : array (P,) or None, a diagonal preconditioner (solves ``M z = r`` elementwise).
    max_iter : int, at most this many iterations.
    min_iter : int, at least this many iterations before the stopping rule applies.
    tol : float, eps in Martens' rule: stop at i > k = max(10, 0.1 i) once
        ``phi_i < 0`` and ``(phi_i - phi_{i-k}) / phi_i < k * eps``.
    save_gamma : float, iterates at i = ceil(save_gamma^j) (and the last) are kept.
    check_every : int >= 1 or None
        How often the host looks at the iterations (None: the backend's
        ``check_every``, 1 on the CPU).  Every scalar of CG (``r^T z``, ``p^T A p``,
        ``phi``) stays on the device, and so does the decision to stop: iteration i is
        run only while no stopping condition has held, through a 0/1 flag ``go`` that
        multiplies the update.  The host reads the flag once every ``check_every``
        iterations; the iterations queued past a stop change nothing, so the result is
        the same for every ``check_every``, and a GPU waits once per ``check_every``
        iterations instead of four times per iteration.

    Returns
    -------
    iterates : list of (i, x_i, phi_i), in increasing i; the last is the final iterate.
        ``phi_i`` is a Python float.
    n_iter : int, iterations run.

    Stopping, per iteration: ``p^T A p <= 0`` or not finite (A is not positive definite
    along p; the iteration is not taken), Martens' rule, or ``r^T z = 0`` (solved).
    """
    be = _backend.current()
    xp = be.xp
    every = be.check_every if check_every is None else check_every
    dt = x0.dtype
    f64 = xp.float64

    def dot(u, v):                     # a 0-d float64 array of the backend: no host read
        return xp.asarray((u * v).sum(), dtype=f64)

    x = x0.copy()
    r = A(x) - b                     # residual = gradient of phi at x
    z = r / M if M is not None else r
    p = -z
    rz = dot(r, z)
    phis = [0.5 * dot(x, r - b)]
    go = xp.asarray(True)            # no stopping condition has held yet
    stop_at = xp.asarray(-1)         # the last iteration taken, once stopped
    saves, next_save, j = [], 1, 0
    i = last = 0
    for i in range(1, max_iter + 1):
        Ap = A(p)
        pAp = dot(p, Ap)
        ok = go & (pAp > 0) & xp.isfinite(pAp)
        stop_at = xp.where(go & ~ok, i - 1, stop_at)      # not PD along p: not taken
        alpha = xp.where(ok, rz / xp.where(ok, pAp, 1.0), 0.0)
        # the scalar meets the vectors in their dtype (as a Python float would)
        x += xp.where(ok, alpha.astype(dt) * p, 0)
        r += xp.where(ok, alpha.astype(dt) * Ap, 0)
        z = r / M if M is not None else r
        rz_new = dot(r, z)
        beta = xp.where(rz > 0, rz_new / xp.where(rz > 0, rz, 1.0), 0.0)
        p = -z + beta.astype(dt) * p
        rz = rz_new
        phi = 0.5 * dot(x, r - b)
        phis.append(phi)
        if i >= next_save:
            saves.append((i, x.copy(), phi))
            while next_save <= i:
                j += 1
                next_save = math.ceil(save_gamma ** j)
        k = max(10, int(0.1 * i))
        stop = rz == 0.0
        if i > max(k, min_iter - 1):
            prev = phis[i - k]
            stop = stop | ((phi < 0) & ((phi - prev) / xp.where(phi < 0, phi, -1.0)
                                        < k * tol))
        stop_at = xp.where(ok & stop, i, stop_at)
        go = ok & ~stop
        if i % every == 0 or i == max_iter:
            if not be.scalar(go):            # the host looks: one read per check
                break
    last = int(be.scalar(stop_at))
    i = i if last < 0 else last          # no stop: every iteration was taken
    saves = [s for s in saves if s[0] <= i]
    if not saves or saves[-1][0] != i:
        saves.append((i, x.copy(), phis[i]))
    values = be.to_numpy(xp.stack([xp.asarray(q, dtype=f64) for _, _, q in saves]))
    return [(it, xi, float(q)) for (it, xi, _), q in zip(saves, values)], i


class HessianFree(Optimizer):
    """Hessian-free (truncated Newton with Gauss-Newton curvature) optimiser.

    Parameters
    ----------
    max_iter : int, default=50
        HF iterations (each one CG run and one parameter update).
    initial_damping : float, default=1.0
        Starting Tikhonov damping lambda.
    damping_adjust : bool, default=True
        Levenberg-Marquardt adjustment of lambda from the reduction ratio rho.
    cg_max_iter : int, default=250
    cg_min_iter : int, default=1
    cg_tol : float, default=5e-4
        eps of Martens' CG stopping rule.
    cg_decay : float, default=0.95
        Warm start: CG starts from ``cg_decay`` times the previous CG solution.
    preconditioner : bool, default=True
        Diagonal preconditioner ``(mean squared per-example gradient + lambda + wd)^power``.
    precond_power : float, default=0.75
    precond_batch : {"gradient", "curvature"}, default="gradient"
        Examples whose squared gradients build the preconditioner: the gradient batch
        (Martens 2010) or the (smaller, cheaper) curvature batch.
    gradient_batch_size : int or None, default=None
        Examples used for the gradient (None: all of X).
    curvature_batch_size : int or float, default=0.1
        Examples for Gauss-Newton products: an int (Python or NumPy) is a count, any
        other real number in (0, 1] a fraction of the gradient batch (so ``1`` is one
        example and ``1.0`` the whole gradient batch).
    structural_damping : float, default=0.0
        mu: recurrent layers' hidden-state penalty is weighted mu * lambda (per
        curvature example); the addition demo (docs/hf.md) uses 1/30.
    backtracking : bool, default=True
        CG-iterate backtracking.
    line_search : bool, default=True
        Armijo backtracking line search on the chosen step.
    armijo_c : float, default=1e-2
    armijo_shrink : float, default=0.8
    max_line_search : int, default=20
    weight_decay : float, default=0.0
        L2 penalty ``wd/2 ||theta||^2`` added to the objective.
    max_cost : float or None, default=None
        Stop once the counted cost (gradient-evaluation equivalents per example, see
        :class:`CountingNetwork`) exceeds this.
    tol : float, default=0.0
        Stop when an accepted step lowers the loss by less than ``tol`` (relative).  A
        rejected step (``step_size`` 0) never counts: lambda has just been raised and
        the next iteration retries.
    verbose : int, default=0
        1: progress bar (on a terminal) showing lambda, rho and CG iterations.
    random_state : int, Generator or None
        Seeds the choice of minibatches.
    comm : mpi4py communicator or None
        Data-parallel HF: each rank passes its own shard; gradients, curvature products
        and losses are summed over the ranks (see the module docstring).

    Attributes
    ----------
    damping_ : float
        The current lambda (carried from one ``minimize``/``step`` call to the next).
    history_ : list of dict
        What the last ``minimize`` returned, one entry per HF iteration.

    Notes
    -----
    The network must have no active ``Dropout`` layer (see :func:`check_deterministic`);
    every network call passes ``train=False``, so the gradient, the Gauss-Newton products,
    the preconditioner and the trial losses are all of the prediction-mode objective.

    ``minimize`` logs one ``history`` entry per HF iteration with ``loss``, ``damping``
    (lambda used), ``rho``, ``cg_iters``, ``cg_iterate`` (the backtracked iterate chosen),
    ``step_size`` (Armijo alpha), ``cost`` and, with validation data, ``val_loss``.
    With ``verbose`` a progress bar shows lambda, rho, CG iterations run / iterate chosen
    and the step size (one line per iteration when stderr is not a terminal).

    References
    ----------
    J. Martens. Deep learning via Hessian-free optimization. ICML 2010.
    J. Martens and I. Sutskever. Learning recurrent neural networks with Hessian-free
    optimization. ICML 2011.
    """

    _parameter_constraints = {
        "max_iter": [Interval("int", 1, None)],
        "initial_damping": [Interval("real", 0, None, closed="neither")],
        "damping_adjust": ["boolean"],
        "cg_max_iter": [Interval("int", 1, None)],
        "cg_min_iter": [Interval("int", 1, None)],
        "cg_tol": [Interval("real", 0, None, closed="neither")],
        "cg_decay": [Interval("real", 0, 1)],
        "preconditioner": ["boolean"],
        "precond_power": [Interval("real", 0, 1, closed="right")],
        "precond_batch": [Options("gradient", "curvature")],
        "gradient_batch_size": [None, Interval("int", 1, None)],
        "curvature_batch_size": [Interval("int", 1, None),
                                 Interval("real", 0, 1, closed="right")],
        "structural_damping": [Interval("real", 0, None)],
        "backtracking": ["boolean"],
        "line_search": ["boolean"],
        "armijo_c": [Interval("real", 0, 1, closed="neither")],
        "armijo_shrink": [Interval("real", 0, 1, closed="neither")],
        "max_line_search": [Interval("int", 0, None)],
        "weight_decay": [Interval("real", 0, None)],
        "max_cost": [None, Interval("real", 0, None, closed="neither")],
        "tol": [Interval("real", 0, None)],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
        "comm": [CommConstraint()],
    }

    def __init__(self, max_iter=50, initial_damping=1.0, damping_adjust=True,
                 cg_max_iter=250, cg_min_iter=1, cg_tol=5e-4, cg_decay=0.95,
                 preconditioner=True, precond_power=0.75, gradient_batch_size=None,
                 curvature_batch_size=0.1, structural_damping=0.0, backtracking=True,
                 line_search=True, armijo_c=1e-2, armijo_shrink=0.8, max_line_search=20,
                 weight_decay=0.0, max_cost=None, tol=0.0, verbose=0, random_state=None,
                 precond_batch="gradient", comm=None):
        self.max_iter = max_iter
        self.initial_damping = initial_damping
        self.damping_adjust = damping_adjust
        self.cg_max_iter = cg_max_iter
        self.cg_min_iter = cg_min_iter
        self.cg_tol = cg_tol
        self.cg_decay = cg_decay
        self.preconditioner = preconditioner
        self.precond_power = precond_power
        self.gradient_batch_size = gradient_batch_size
        self.curvature_batch_size = curvature_batch_size
        self.structural_damping = structural_damping
        self.backtracking = backtracking
        self.line_search = line_search
        self.armijo_c = armijo_c
        self.armijo_shrink = armijo_shrink
        self.max_line_search = max_line_search
        self.weight_decay = weight_decay
        self.max_cost = max_cost
        self.tol = tol
        self.verbose = verbose
        self.random_state = random_state
        self.precond_batch = precond_batch
        self.comm = comm
        self.reset()

    # -------------------------------------------------------------------- set-up

    def reset(self):
        """Forget the damping, the warm start, the history and the random state."""
        self.damping_ = None
        self.history_ = []
        self._direction = None
        self._rng = None

    def _validate_params(self):
        """The declared constraints, plus ``cg_min_iter <= cg_max_iter``."""
        super()._validate_params()
        if self.cg_min_iter > self.cg_max_iter:
            raise ValueError(f"The 'cg_min_iter' parameter of HessianFree must be <= "
                             f"cg_max_iter = {self.cg_max_iter}; got {self.cg_min_iter!r}.")

    # -------------------------------------------------------------------- pieces

    def _objective(self, net, X, y):
        f = net.loss(X, y, train=False)
        if self.weight_decay:
            f += 0.5 * self.weight_decay * _dot(net.theta, net.theta)
        return f

    def _set_structural(self, net, value):
        for layer in getattr(net, "layers", ()):
            if hasattr(layer, "structural_damping"):
                layer.structural_damping = value

    def _fisher_diagonal(self, net, X, y):
        """Mean over examples of squared per-example gradients, (1/n) sum_i g_i**2."""
        inner = net.network if isinstance(net, CountingNetwork) else net
        if hasattr(inner, "squared_example_grads"):
            return net.squared_example_grads(X, y, train=False)
        xp = _backend.current().xp
        total = xp.zeros_like(net.theta)
        for i in range(len(X)):
            _, g = net.loss_and_grad(X[i:i + 1], y[i:i + 1], train=False)
            total += g * g
        return total / len(X)

    def _batches(self, n):
        """Indices of the gradient batch among ``n`` rows and of the curvature batch
        within it (None: all of them)."""
        rng = self._get_rng()
        gb = n if self.gradient_batch_size is None else min(int(self.gradient_batch_size), n)
        g_idx = np.sort(rng.choice(n, gb, replace=False)) if gb < n else None
        cb = self.curvature_batch_size
        if isinstance(cb, numbers.Integral):       # a count (Python or NumPy int)
            cn = min(int(cb), gb)
        else:                                      # a fraction in (0, 1] of any real type
            cn = max(1, int(round(float(cb) * gb)))
        c_idx = np.sort(rng.choice(gb, cn, replace=False)) if cn < gb else None
        return g_idx, c_idx

    def step(self, network, X, y, Xc=None, yc=None):
        """One HF iteration on gradient batch (X, y) and curvature batch (Xc, yc).

        Updates ``network.theta`` in place and returns a dict of what happened
        (the ``history`` entry without bookkeeping fields).  ValueError if the network
        has an active Dropout layer (see :func:`check_deterministic`).
        """
        check_deterministic(network)
        network = self._global(network)
        xp = _backend.current().xp
        if self.damping_ is None:
            self.damping_ = float(self.initial_damping)
        if Xc is None:
            Xc, yc = X, y
        lam, wd = self.damping_, self.weight_decay
        theta0 = network.get_flat()
        # every call below is in prediction mode: one deterministic objective
        f0, g = network.loss_and_grad(X, y, train=False)
        if wd:
            f0 += 0.5 * wd * _dot(theta0, theta0)
            g = g + wd * theta0
        # the hidden-state penalty is averaged over the curvature batch, like the loss
        self._set_structural(network, self.structural_damping * lam / len(Xc))

        M = None
        if self.preconditioner:
            Xf, yf = (X, y) if self.precond_batch == "gradient" else (Xc, yc)
            M = (self._fisher_diagonal(network, Xf, yf) + lam + wd) ** self.precond_power
        # every product of the CG run at one linearisation point (one forward)
        lin = _linearize(network, Xc, yc, train=False)

        def A(v):
            return lin.gauss_newton_product(v) + (lam + wd) * v
        if self._direction is None or self._direction.shape != g.shape:
            x0 = xp.zeros_like(g)
        else:
            x0 = self.cg_decay * self._direction
        iterates, n_cg = conjugate_gradient(A, -g, x0, M, self.cg_max_iter,
                                            self.cg_min_iter, self.cg_tol)
        self._set_structural(network, 0.0)
        self._direction = iterates[-1][1]

        # CG-iterate backtracking: walk back while the earlier iterate is better.
        def f_at(p):
            theta = theta0 + p
            if not _backend.current().all_finite(theta):
                return math.inf          # a CG iterate that overflowed: rho = -inf below
            network.set_flat(theta)
            return self._objective(network, X, y)

        k = len(iterates) - 1
        f_best = f_at(iterates[k][1])
        while self.backtracking and k > 0:
            f_prev = f_at(iterates[k - 1][1])
            if not (f_prev < f_best):
                break
            k, f_best = k - 1, f_prev
        i_chosen, p, q = iterates[k]

        # Levenberg-Marquardt: compare the actual reduction with the model's.
        rho = (f_best - f0) / q if q < 0 else -math.inf
        if not math.isfinite(f_best):
            rho = -math.inf
        if self.damping_adjust:
            if rho < 0.25:
                self.damping_ = lam * 1.5
            elif rho > 0.75:
                self.damping_ = lam * (2.0 / 3.0)

        # Armijo line search along p.
        gp = _dot(g, p)
        alpha, f_new = 1.0, f_best
        if self.line_search:
            tries = 0
            while not (f_new <= f0 + self.armijo_c * alpha * gp):
                tries += 1
                if tries > self.max_line_search:
                    alpha, f_new = 0.0, f0
                    break
                alpha *= self.armijo_shrink
                f_new = f_at(alpha * p)
        elif not f_new <= f0:
            alpha, f_new = 0.0, f0
        network.set_flat(theta0 + alpha * p)
        return {"loss": f_new, "loss_before": f0, "damping": lam, "rho": rho,
                "cg_iters": n_cg, "cg_iterate": i_chosen, "step_size": alpha}

    def _global(self, network):
        """``network`` seen through :class:`GlobalNetwork` when there is a communicator
        (not twice: a CountingNetwork around one is kept)."""
        inner = network.network if isinstance(network, CountingNetwork) else network
        if isinstance(inner, GlobalNetwork) or not _dist.is_distributed(self._comm()):
            return network
        return global_network(network, self._comm())

    # ------------------------------------------------------------------ the loop

    def minimize(self, network, X, y, X_val=None, y_val=None, callback=None, metric=None,
                 checkpoint=None, checkpoint_every=1, resume=None):
        """Run HF iterations on (X, y); returns the history, one dict per iteration.

        ``network`` needs ``theta``, ``get_flat``, ``set_flat``, ``loss``,
        ``loss_and_grad`` and ``gauss_newton_product`` (see ``deepbio.nn.Network``); HF
        calls the last three (and ``squared_example_grads``, if present) with
        ``train=False``.
        ``callback(entry)`` returning True stops early.  ``metric(network, X_val, y_val)``
        adds ``val_metric`` to each entry.  The data are checked as in
        :meth:`Optimizer.minimize` (ValueError naming the argument for different lengths,
        only one of X_val / y_val, NaN or infinity), moved to the backend, and an unbuilt
        network is built for ``X.shape[1:]``.  ValueError as well for an active Dropout
        layer (see :func:`check_deterministic`).

        ``checkpoint`` / ``checkpoint_every`` / ``resume``: as in
        :meth:`Optimizer.minimize`, counted in iterations; the checkpoint keeps the
        damping, the CG warm start (the last CG direction), the generator drawing the
        batches and the cost so far.
        With a communicator, each rank passes its own shard (and its own validation
        shard, or none on every rank); rank 0's initial parameters are broadcast, and
        only rank 0 reports progress.
        """
        comm = self._comm()
        with _dist.abort_on_error(comm):
            return self._minimize(network, X, y, X_val, y_val, callback, metric, comm,
                                  checkpoint, checkpoint_every, resume)

    def _minimize(self, network, X, y, X_val, y_val, callback, metric, comm,
                  checkpoint, checkpoint_every, resume):
        self._validate_params()
        checkpoint, checkpoint_every, resume = _ckpt.check_paths(checkpoint, checkpoint_every,
                                                                 resume)
        if _dist.is_distributed(comm) and (checkpoint is not None or resume is not None):
            raise _dist.raise_everywhere(ValueError(
                f"{type(self).__name__}: checkpoint= and resume= are not supported with a "
                f"communicator (comm) yet; train without them, or in one process"))
        check_deterministic(network)
        X, y, X_val, y_val = self._prepare_data(network, X, y, X_val, y_val)
        counting = network if isinstance(network, CountingNetwork) else CountingNetwork(network)
        # with a communicator: each rank counts its own work, every value is global
        net = self._global(counting)
        whole = self._global(counting.network)      # validation: global, not counted
        n = X.shape[0]
        history = self.history_ = []
        first = 1
        digest = _ckpt.data_digest(X, y, X_val, y_val) if checkpoint or resume else None
        if resume is not None:
            first, done, history, loop, _ = _ckpt.restore(resume, self, net, digest)
            self.history_ = history
            first = self.max_iter + 1 if done else first + 1
            object.__setattr__(net, "cost", float(loop["cost"]))
        start = time.perf_counter()
        verbose = self.verbose if _dist.rank(comm) == 0 else 0
        with data_checked(network, X, y, X_val, y_val), \
                Progress(self.max_iter, verbose, "HF", unit="iteration") as bar:
            for it in range(first, self.max_iter + 1):
                g_idx, c_idx = self._batches(n)
                Xg, yg = (X, y) if g_idx is None else (X[g_idx], y[g_idx])
                Xc, yc = (Xg, yg) if c_idx is None else (Xg[c_idx], yg[c_idx])
                entry = self.step(net, Xg, yg, Xc, yc)
                entry.update(iteration=it, cost=net.cost, time=time.perf_counter() - start)
                if X_val is not None:
                    # validation is bookkeeping: not counted in the cost
                    entry["val_loss"] = float(whole.loss(X_val, y_val, train=False))
                    if metric is not None:
                        entry["val_metric"] = global_metric(metric, counting.network, X_val,
                                                            y_val, comm)
                history.append(entry)
                bar.update(entry, f"{_postfix(entry)} cost={net.cost:.4g}")
                stop = callback is not None and callback(entry)
                if not stop and not math.isfinite(entry["loss"]):
                    raise _dist.raise_everywhere(FloatingPointError(
                        f"HessianFree: loss became {entry['loss']} at iteration {it}"))
                stop = stop or (self.max_cost is not None and net.cost >= self.max_cost)
                # a rejected step (alpha = 0) changes nothing, which is not convergence:
                # lambda has just been raised, and the next iteration retries
                before, accepted = entry["loss_before"], entry["step_size"] > 0
                stop = stop or bool(self.tol and accepted and abs(before - entry["loss"])
                                    <= self.tol * max(abs(before), 1e-12))
                last = stop or it == self.max_iter
                if checkpoint is not None and (last or it % checkpoint_every == 0):
                    # iteration it is "epoch" it - 1 of the checkpoint (0-based)
                    _ckpt.write(checkpoint, self, net, digest, it - 1, last, history,
                                {"cost": net.cost})
                if stop:
                    break
        return history

    def _checkpoint_state(self):
        """The damping and the CG warm start (the last CG direction)."""
        arrays = {} if self._direction is None else {"direction": self._direction}
        return arrays, {"damping": self.damping_}

    def _restore_checkpoint(self, arrays, values, dtype):
        self.damping_ = values["damping"]
        d = arrays.get("direction")
        self._direction = None if d is None else d.astype(dtype, copy=False)


    # ------------------------------------------------------------ partial_fit

    def _run_epoch(self, network, X, y, epoch):
        """One HF iteration on (X, y), for an estimator's ``partial_fit``.

        The gradient batch is X (or a ``gradient_batch_size`` sample of it) and the
        curvature batch is drawn from it as in :meth:`minimize`; damping and the CG warm
        start carry over between calls.  Returns the iteration's history entry.
        """
        g_idx, c_idx = self._batches(len(X))
        Xg, yg = (X, y) if g_idx is None else (X[g_idx], y[g_idx])
        Xc, yc = (Xg, yg) if c_idx is None else (Xg[c_idx], yg[c_idx])
        entry = self.step(network, Xg, yg, Xc, yc)
        entry["iteration"] = epoch + 1
        return entry


def _postfix(entry):
    """The progress bar's text for one iteration: loss, lambda, rho, CG iterations run /
    backtracked iterate chosen, Armijo step size."""
    return (f"loss={entry['loss']:.4g} lam={entry['damping']:.3g} rho={entry['rho']:.2f} "
            f"cg={entry['cg_iters']}/{entry['cg_iterate']} step={entry['step_size']:.2g}")

