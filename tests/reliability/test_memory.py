"""Resident memory stays flat over 1,000 fit/predict cycles of a small model (issue #16
item 7).  bench/memory.py runs the same loop for longer and for every model family.

The bound: after 200 warm-up cycles (first-call allocations, caches), 1,000 more cycles
may add at most 1 MiB of RSS, i.e. about 1 KiB per cycle: a leak of one of the cycle's
arrays (32 x 6 float64 input, 1.5 KiB; the model's weights) or of the model object each
cycle would exceed it, while allocator noise (measured: 0-220 KiB) stays below."""
import gc
import importlib.util
import os
import pathlib

import pytest

_spec = importlib.util.spec_from_file_location(
    "deepbio_bench_memory", pathlib.Path(__file__).resolve().parents[2] / "bench" / "memory.py")
_memory = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_memory)
measure, rss_bytes = _memory.measure, _memory.rss_bytes

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/statm"),
                                reason="needs /proc/self/statm (Linux) for the current RSS")

BOUND = 1 << 20


@pytest.mark.parametrize("kind", ["mlp", "rbm"])
def test_rss_is_flat_over_1000_fit_predict_cycles(kind):
    samples, _ = measure(kind, cycles=1000, warmup=200, every=250)
    growth = samples[-1][1] - samples[0][1]
    assert growth < BOUND, (f"{kind}: RSS grew by {growth / 1024:.0f} KiB over 1000 "
                            f"fit/predict cycles: {[(c, r // 1024) for c, r in samples]}")


def test_the_rss_probe_sees_an_allocation():
    # The bound means something only if the probe sees memory that stays allocated.  The
    # block comes from a fresh anonymous mmap, not from malloc: after a long test session
    # glibc's heap holds freed pages that are still resident, and a bytearray may reuse
    # them without any change in RSS (seen in CI: before == after at 875 MiB).
    import mmap
    gc.collect()
    before = rss_bytes()
    block = mmap.mmap(-1, 8 << 20)
    for offset in range(0, len(block), mmap.PAGESIZE):  # touch every page
        block[offset] = 1
    try:
        assert rss_bytes() - before > 6 << 20
    finally:
        block.close()
