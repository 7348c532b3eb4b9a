"""The minibatch loop shared by the first-order optimisers (SGD, Adam, AdamW, RMSprop).

:class:`FirstOrder` holds what they have in common: the learning-rate schedule, L2
weight decay, global-norm gradient clipping, the epoch of shuffled minibatches (early
stopping and the history come from :meth:`Optimizer.minimize`).  A subclass names its
state buffers and its fused update kernel (the ``optim`` family of the kernel contract):

* ``_state_names``: the state vectors, each of ``theta``'s shape and dtype, created
  (zero) on first use and dropped by ``reset()``;
* ``_update(kernels, theta, g, scale)``: one call of its kernel, in place on ``theta``
  and the state, one pass over the flat parameter buffer.

A step is then two passes at most over the parameters: one norm pass for the clipping
factor (``clip_scale``, only when ``clip_norm`` is set) and the fused update.  The
factor stays on the device (a (1,) array): no host round trip per step.

With ``comm`` (an MPI communicator, see ``docs/distributed.md``) each rank steps on a
minibatch of its own shard, and the gradient is the one of the concatenation of the
ranks' minibatches (:class:`deepbio.optim._distributed.GlobalNetwork`: one Allreduce
per step, before the update): the update arithmetic is unchanged, and clipping sees the
global norm.  An epoch has as many steps on every rank, the most any rank's shard needs;
a rank whose shard is shorter contributes empty minibatches to the last steps.
"""
from .. import backend as _backend
from .. import distributed as _dist
from .._validation import Interval, Options
from ._base import CallableConstraint, CommConstraint, Optimizer, minibatches
from ._distributed import global_network
from .schedules import SCHEDULES, get_schedule

__all__ = ["FirstOrder", "COMMON_CONSTRAINTS"]

#: Constraints of the hyper-parameters every first-order optimiser has.
COMMON_CONSTRAINTS = {
    "learning_rate": [Interval("real", 0, None, closed="neither")],
    "weight_decay": [Interval("real", 0, None, closed="left")],
    "schedule": [Options(*SCHEDULES), CallableConstraint()],
    "clip_norm": [None, Interval("real", 0, None, closed="neither")],
    "batch_size": [Interval("int", 1, None, closed="left")],
    "max_epochs": [Interval("int", 1, None, closed="left")],
    "early_stopping": ["boolean"],
    "validation_fraction": [Interval("real", 0, 1, closed="neither")],
    "patience": [Interval("int", 1, None, closed="left")],
    "tol": [Interval("real", 0, None, closed="left")],
    "verbose": ["verbose"],
    "random_state": ["random_state"],
    "comm": [CommConstraint()],
}


class FirstOrder(Optimizer):
    """Base of the minibatch gradient optimisers; see the module docstring."""

    _state_names = ()

    def _set_common(self, learning_rate, weight_decay, schedule, clip_norm, batch_size,
                    max_epochs, early_stopping, validation_fraction, patience, tol, verbose,
                    random_state, comm=None):
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.schedule = schedule
        self.clip_norm = clip_norm
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.tol = tol
        self.verbose = verbose
        self.random_state = random_state
        self.comm = comm
        self.reset()

    def reset(self):
        """Forget the state buffers, the step count, the current learning rate (``step``
        then uses the epoch-0 rate) and the random generator."""
        super().reset()
        self._state = None
        self._lr = None
        self._t = 0

    def _checkpoint_state(self):
        """The state buffers (momentum, Adam moments, ...), the step count, the lr."""
        return dict(self._state or {}), {"t": self._t, "lr": self._lr}

    def _restore_checkpoint(self, arrays, values, dtype):
        self._state = {k: v.astype(dtype, copy=False) for k, v in arrays.items()} or None
        self._t, self._lr = int(values["t"]), values["lr"]

    def learning_rate_at(self, epoch):
        """The learning rate the schedule gives for ``epoch`` (0-based)."""
        return float(get_schedule(self.schedule)(epoch, self.learning_rate, self.max_epochs))

    # ------------------------------------------------------------ to override
    def _clip_decay(self):
        """The weight decay folded into the gradient before clipping (L2 decay)."""
        return self.weight_decay

    def _update(self, kernels, theta, g, scale):
        raise NotImplementedError

    # ------------------------------------------------------------------ steps
    def _buffers(self, theta):
        """The state vectors (zeros on first use, or when ``theta`` changed shape or
        dtype), as a dict by name."""
        st = self._state
        if st is None or set(st) != set(self._state_names) \
                or any(b.shape != theta.shape or b.dtype != theta.dtype for b in st.values()):
            xp = _backend.current().xp
            st = self._state = {n: xp.zeros_like(theta) for n in self._state_names}
            self._t = 0
        return st

    def step(self, network, X, y):
        """One update of ``network.theta`` (in place) on the minibatch ``(X, y)``.

        Uses the learning rate of the optimiser's current epoch: the epoch that
        :meth:`minimize` (or an estimator's ``partial_fit``) started last, so a ``step``
        after ``minimize`` continues at the last epoch's rate; the schedule's epoch-0
        rate before any epoch and after :meth:`reset`.  Returns the minibatch loss
        before the step.
        """
        return _backend.current().scalar(self._step(network, X, y))

    def _step(self, network, X, y):
        """:meth:`step`, returning the loss as a 0-d array of the backend (no host read)."""
        if self._lr is None:
            self._validate_params()
            self._lr = self.learning_rate_at(0)
        kernels = _backend.current().kernels.raw
        # with a communicator: the gradient of the ranks' concatenated minibatches
        value, g = global_network(network, self._comm()).loss_and_grad(X, y, train=True,
                                                                      sync=False)
        theta = network.theta
        scale = None
        if self.clip_norm is not None:
            scale = kernels["clip_scale"](g, theta, float(self._clip_decay()),
                                          float(self.clip_norm))
        self._buffers(theta)
        self._t += 1
        self._update(kernels, theta, g, scale)
        return value

    def _run_epoch(self, network, X, y, epoch):
        """Shuffle, then one step per minibatch; returns the epoch's mean loss and lr.

        The minibatch losses are summed where they are computed (on a GPU, on the
        device) and read once, at the end of the epoch: the one host synchronisation of
        an epoch, where :meth:`minimize` checks for divergence.
        """
        be = _backend.current()
        self._lr = self.learning_rate_at(epoch)
        n = X.shape[0]
        total = 0.0
        batches = minibatches(n, self.batch_size, self._get_rng(), be)
        comm = self._comm()
        if not _dist.is_distributed(comm):
            for idx in batches:
                total = total + self._step(network, X[idx], y[idx]) * idx.shape[0]
            return {"loss": be.scalar(total) / n, "lr": self._lr}
        # every rank takes as many steps (one Allreduce each); a shorter shard's last
        # minibatches are empty.  The epoch loss: the global mean over the steps'
        # concatenated minibatches, weighted by their global sizes.
        steps = _dist.global_max(len(batches), comm)
        batches += [batches[0][:0]] * (steps - len(batches))
        whole = global_network(network, comm)
        weight = 0.0
        for idx in batches:
            total = total + self._step(whole, X[idx], y[idx]) * whole.last_weight
            weight = weight + whole.last_weight
        return {"loss": be.scalar(total) / be.scalar(weight), "lr": self._lr}
