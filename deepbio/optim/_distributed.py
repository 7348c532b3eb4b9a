"""Global (all-rank) views of a network's loss, gradient and curvature products.

:class:`GlobalNetwork` wraps a :class:`deepbio.nn.Network` for an optimiser running on
the ranks of an MPI communicator, each with its own shard of the data.  Its ``loss``,
``loss_and_grad``, ``gauss_newton_product`` (and the products of a ``linearize``
handle) and ``squared_example_grads`` return the values of the CONCATENATION of the
ranks' batches: each rank weights its batch value by the loss's normaliser (the number
of examples; for a masked sequence loss the number of real positions), one
``Allreduce`` of one contiguous buffer ``[w * value, w]`` sums them, and the sums are
divided.  Layer penalties, which are the same on every rank, come out unchanged.

So an optimiser that only sees a GlobalNetwork takes, on every rank, the step that one
process takes on the concatenated batch: clipping on the global norm, weight decay,
momentum, Hessian-free's CG products, damping and line search are all computed from
global quantities, identical on every rank, and need no change.

A rank whose batch is empty (uneven shards: it ran out of minibatches before the others)
contributes weight 0 without running the network.
"""
from .. import backend as _backend
from .. import distributed as _dist

__all__ = ["GlobalNetwork", "global_network"]


def global_network(network, comm):
    """``network`` itself for ``comm`` None or of size 1, else a :class:`GlobalNetwork`."""
    if not _dist.is_distributed(comm) or isinstance(network, GlobalNetwork):
        return network
    return GlobalNetwork(network, comm)


def _weight(network, n):
    """The normaliser of the last batch loss: the loss's own (``_n``: examples, or real
    positions for a masked loss), else the number of examples ``n``."""
    loss_fn = getattr(network, "loss_fn", None)
    w = getattr(loss_fn, "_n", None)
    return n if w is None else w


class GlobalNetwork:
    """A network whose batch values are summed over the ranks of ``comm``; see the
    module docstring.  Every other attribute is the wrapped network's.

    ``last_weight``: the global weight (normaliser sum) of the last ``loss`` /
    ``loss_and_grad`` call, a 0-d array of the backend.
    """

    def __init__(self, network, comm):
        object.__setattr__(self, "network", network)
        object.__setattr__(self, "comm", comm)
        object.__setattr__(self, "last_weight", None)

    def __getattr__(self, name):
        return getattr(self.network, name)

    def __setattr__(self, name, value):
        if name == "last_weight":
            object.__setattr__(self, name, value)
        else:
            setattr(self.network, name, value)

    # ------------------------------------------------------------------ helpers
    def _reduce(self, vector, value, weight):
        """``(sum_r w_r vector_r / W, sum_r w_r value_r / W, W)`` over the ranks: one
        Allreduce of ``[w * vector, w * value, w]`` in the parameters' dtype, on the
        backend's device (no host read)."""
        xp = _backend.current().xp
        theta = self.network.theta
        p = 0 if vector is None else vector.shape[0]
        buf = xp.zeros(p + 2, dtype=theta.dtype)
        if weight is not None:
            w = xp.asarray(weight, dtype=theta.dtype)
            if vector is not None:
                buf[:p] = vector * w
            if value is not None:
                buf[p] = xp.asarray(value, dtype=theta.dtype) * w
            buf[p + 1] = w
        _dist.allreduce_(buf, self.comm)
        total = xp.maximum(buf[p + 1], 1e-300) if theta.dtype == xp.float64 \
            else xp.maximum(buf[p + 1], 1e-30)
        vec = buf[:p] / total if vector is not None or p else None
        return vec, buf[p] / total, buf[p + 1]

    # ------------------------------------------------------------------ values
    def loss(self, X, y, *args, sync=True, **kwargs):
        """The loss on the concatenation of the ranks' batches (a float, or a 0-d
        array with ``sync=False``)."""
        if len(X) == 0:
            value, w = None, None
        else:
            value = self.network.loss(X, y, *args, sync=False, **kwargs)
            w = _weight(self.network, len(X))
        _, value, total = self._reduce(None, value, w)
        self.last_weight = total
        return _backend.current().scalar(value) if sync else value

    def loss_and_grad(self, X, y, *args, sync=True, **kwargs):
        """``(loss, grad)`` on the concatenation of the ranks' batches."""
        xp = _backend.current().xp
        if len(X) == 0:
            value, g, w = None, xp.zeros_like(self.network.theta), None
        else:
            value, g = self.network.loss_and_grad(X, y, *args, sync=False, **kwargs)
            w = _weight(self.network, len(X))
        g, value, total = self._reduce(g, value, w)
        self.last_weight = total
        return (_backend.current().scalar(value) if sync else value), g

    def squared_example_grads(self, X, y, *args, **kwargs):
        """The mean over all ranks' examples of the squared per-example gradients."""
        xp = _backend.current().xp
        if len(X) == 0:
            s, w = xp.zeros_like(self.network.theta), None
        else:
            s, w = self.network.squared_example_grads(X, y, *args, **kwargs), len(X)
        return self._reduce(s, None, w)[0]

    # --------------------------------------------------------------- curvature
    def gauss_newton_product(self, v, X, y, *args, **kwargs):
        """``G v`` of the concatenated batches' Gauss-Newton matrix."""
        xp = _backend.current().xp
        if len(X) == 0:
            gv, w = xp.zeros_like(self.network.theta), None
        else:
            gv = self.network.gauss_newton_product(v, X, y, *args, **kwargs)
            w = _weight(self.network, len(X))
        return self._reduce(gv, None, w)[0]

    def linearize(self, X, y, *args, **kwargs):
        """A handle whose products are the global ``G v`` (one Allreduce each)."""
        return _GlobalLinearization(self, X, y, args, kwargs)


class _GlobalLinearization:
    """The global Gauss-Newton products of one linearisation point (Hessian-free's CG
    run): each rank's product (through its network's own ``linearize`` handle when it has
    one) weighted and all-reduced."""

    def __init__(self, owner, X, y, args, kwargs):
        self.owner, self.n = owner, len(X)
        net = owner.network
        self.lin, self.weight = None, None
        if self.n:
            if hasattr(net, "linearize"):
                self.lin = net.linearize(X, y, *args, **kwargs)
            else:
                self.X, self.y, self.args, self.kwargs = X, y, args, kwargs
            self.weight = _weight(net, self.n)

    @property
    def valid(self):
        return self.lin.valid if self.lin is not None else True

    def gauss_newton_product(self, v):
        net = self.owner.network
        if not self.n:
            gv = _backend.current().xp.zeros_like(net.theta)
        elif self.lin is not None:
            gv = self.lin.gauss_newton_product(v)
        else:
            gv = net.gauss_newton_product(v, self.X, self.y, *self.args, **self.kwargs)
        return self.owner._reduce(gv, None, self.weight)[0]
