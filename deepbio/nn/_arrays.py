"""Array-layout helpers shared by the layers (contiguity, chunking of per-example work)."""
from .. import backend as _backend


def _contig(x):
    return _backend.current().xp.ascontiguousarray(x)


#: ``backward_squared`` forms per-example gradients a chunk of examples at a time, so that
#: the chunk's temporaries (im2col patches, per-example gradient stacks) hold about this
#: many entries (1 MiB in float32): they stay in cache and the allocator reuses them
#: (larger chunks measured slower on the CPU, from page faults).
SQUARED_CHUNK = 1 << 18


def _chunks(n, per_example):
    """Slices of ``range(n)`` whose temporaries of ``per_example`` entries each stay
    within :data:`SQUARED_CHUNK` (at least one example per slice)."""
    step = max(1, SQUARED_CHUNK // max(1, per_example))
    return [slice(s, min(s + step, n)) for s in range(0, n, step)]
