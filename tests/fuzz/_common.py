"""Shared pieces of the fuzz harnesses."""
import os
import pathlib
import sys
import tempfile
import warnings

import numpy as np

CORPUS = pathlib.Path(__file__).resolve().parent / "corpus"
_TMP = None


def scratch(name):
    """A path in a per-process scratch folder (files fed to path-taking readers)."""
    global _TMP
    if _TMP is None:
        _TMP = tempfile.mkdtemp(prefix="deepbio-fuzz-")
    return os.path.join(_TMP, name)


def quiet():
    """Numerical warnings on NaN/inf input are expected, not findings."""
    warnings.simplefilter("ignore")


def run(test_one_input):
    """``python -m tests.fuzz.fuzz_X [libFuzzer flags] [corpus dirs]`` under atheris,
    without coverage instrumentation; ``python -m tests.fuzz X`` instruments deepbio."""
    import atheris
    quiet()
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


class Bytes:
    """Draws choices from fuzz input (a small stand-in for atheris.FuzzedDataProvider,
    so that the pytest runs need no atheris).  Past the end, every draw is 0."""

    def __init__(self, data):
        self.data, self.i = data, 0

    def byte(self):
        if self.i >= len(self.data):
            return 0
        self.i += 1
        return self.data[self.i - 1]

    def int(self, lo, hi):
        """An int in [lo, hi]."""
        span = hi - lo + 1
        v = 0
        for _ in range((span.bit_length() + 7) // 8):
            v = (v << 8) | self.byte()
        return lo + v % span

    def bool(self):
        return bool(self.byte() & 1)

    def pick(self, seq):
        return seq[self.int(0, len(seq) - 1)]

    def rest(self):
        out, self.i = self.data[self.i:], len(self.data)
        return out


HARNESSES = ("kernels", "load", "fasta", "expression", "cli")


def seeds(name):
    """The committed seed corpus of harness ``name``, in file-name order."""
    return [p.read_bytes() for p in sorted((CORPUS / name).iterdir())]


def mutate(data, rng, pool=()):
    """One libFuzzer-like mutation of ``data`` with the NumPy generator ``rng``: bit
    flips, byte sets (interesting values), inserts, deletions, duplication, splicing
    with another input of ``pool``, truncation."""
    b = bytearray(data)
    for _ in range(int(rng.integers(1, 5))):
        op = int(rng.integers(0, 8))
        at = int(rng.integers(0, len(b) + 1))
        if op == 0 and b:
            i = min(at, len(b) - 1)
            b[i] ^= 1 << int(rng.integers(0, 8))
        elif op == 1 and b:
            i = min(at, len(b) - 1)
            b[i] = int(rng.choice([0, 1, 0x7F, 0x80, 0xFF, ord("-"), ord("\n"), ord(","),
                                   ord("\t"), ord('"'), ord(">"), ord("e"), ord("9")]))
        elif op == 2:
            b[at:at] = bytes(rng.integers(0, 256, int(rng.integers(1, 9)), dtype=np.uint8))
        elif op == 3 and b:
            del b[at:at + int(rng.integers(1, 9))]
        elif op == 4 and b:
            n = int(rng.integers(1, 17))
            b[at:at] = b[at:at + n]
        elif op == 5 and pool:
            other = pool[int(rng.integers(0, len(pool)))]
            cut = int(rng.integers(0, len(other) + 1))
            b = b[:at] + bytearray(other[cut:])
        elif op == 6:
            del b[at:]
        elif op == 7 and len(b) > 1:
            i, j = sorted(int(x) for x in rng.integers(0, len(b), 2))
            b[i], b[j] = b[j], b[i]
    return bytes(b)


def drive(name, test_one_input, n_mutations, seed=0):
    """Run ``test_one_input`` on every seed of ``name`` and on ``n_mutations`` mutants
    drawn with ``numpy.random.default_rng(seed)``; returns the number of executions.
    A finding propagates, with the input attached to the exception's notes."""
    quiet()
    pool = seeds(name)
    rng = np.random.default_rng(seed)
    inputs = list(pool)
    runs = 0
    for i in range(len(pool) + n_mutations):
        data = inputs[i] if i < len(pool) else mutate(inputs[int(rng.integers(0, len(inputs)))],
                                                      rng, pool)
        try:
            test_one_input(data)
        except BaseException as e:
            e.add_note(f"fuzz harness {name!r}: finding on input {data!r:.2000}")
            raise
        runs += 1
        if i >= len(pool) and len(inputs) < 4 * len(pool) + 64 and rng.random() < 0.2:
            inputs.append(data)              # keep some mutants: mutations compound
    return runs
