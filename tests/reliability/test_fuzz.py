"""The fuzz harnesses of tests/fuzz/ in the normal suite (issue #16 item 3): each runs on
its committed seed corpus plus a fixed number of seeded mutations (no atheris needed;
``bench/fuzz.py`` runs them coverage-guided, for longer).  A finding fails the test
with the input in the message.  Then regression tests for what the fuzzers found."""
import bz2
import gzip
import importlib
import lzma

import numpy as np
import pytest

import deepbio.cli as cli
import deepbio.datasets as ds
from tests.fuzz import _common
from tests.fuzz._common import HARNESSES, drive, seeds

#: Mutations per harness (a few seconds in all on one core).
MUTATIONS = {"kernels": 400, "load": 300, "fasta": 400, "expression": 400, "cli": 150}


@pytest.mark.parametrize("name", HARNESSES)
def test_harness_finds_nothing(name):
    harness = importlib.import_module(f"tests.fuzz.fuzz_{name}")
    runs = drive(name, harness.TestOneInput, MUTATIONS[name], seed=0)
    assert runs == len(seeds(name)) + MUTATIONS[name]


def test_every_harness_has_a_seed_corpus():
    for name in HARNESSES:
        assert len(seeds(name)) >= 5, name


def test_kernel_seeds_reach_every_kernel_and_run_it():
    from deepbio._kernels import CONTRACT
    from tests.fuzz import fuzz_kernels
    fuzz_kernels.OUTCOMES.clear()
    for i in range(len(CONTRACT)):             # the plain seeds: one valid call each
        fuzz_kernels.TestOneInput(bytes([i, 0, 0, 0]))
    assert fuzz_kernels.OUTCOMES == {"ran": len(CONTRACT)}


def test_mutations_are_reproducible():
    a = [_common.mutate(b"abcdef" * 4, np.random.default_rng(3)) for _ in range(3)]
    b = [_common.mutate(b"abcdef" * 4, np.random.default_rng(3)) for _ in range(3)]
    assert a == b


# ------------------------------------------------------------ regressions (findings)


def test_config_file_that_is_not_utf8_is_a_clear_error(tmp_path, capsys):
    # fuzz_cli finding 1: a --config file with invalid UTF-8 raised UnicodeDecodeError
    # out of main (a traceback instead of "deepbio train: error: ...").
    config = tmp_path / "bad.toml"
    config.write_bytes(b'[para\xed\xde"\n[pa')
    assert cli.main(["train", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "not valid TOML" in err and "UTF-8" in err and str(config) in err


def test_undecodable_truncated_gzip_expression_file_is_a_value_error(tmp_path):
    # fuzz_expression finding 2: a gzip file whose text is not UTF-8 *and* whose
    # compressed data is truncated raised EOFError while the error message was being
    # built (it re-reads the file to locate the bad byte).
    data = gzip.compress(b"gene\ts1\ts2\ng1\t1\t2\n\xff\xfe\x87 bad\t3\t4\n" * 50)
    path = tmp_path / "x.tsv"
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(ValueError, match="not valid 'utf-8' text.*truncated or corrupt|"
                                         "truncated or corrupt gzip"):
        ds.read_expression(path)


@pytest.mark.parametrize("compress,kind", [(bz2.compress, "bz2"), (lzma.compress, "xz"),
                                           (gzip.compress, "gzip")])
@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_corrupt_compressed_expression_file_is_a_value_error(tmp_path, compress, kind,
                                                             damage):
    # fuzz_expression finding 4: a corrupt bzip2 stream raised bz2's bare
    # "OSError: Invalid data stream" out of read_expression (and read_table, read_fasta),
    # and xz / bzip2 errors were called "gzip data".  Every codec's error is now the
    # documented ValueError, naming the file and the real compression.
    def damaged(text):
        data = bytearray(compress(text))
        if damage == "flip":
            data[len(data) // 2] ^= 0xFF
            data[len(data) // 2 + 1] ^= 0x55
            return bytes(data)
        return bytes(data[:len(data) // 2])

    # A flipped byte may also decode to bytes that are not UTF-8: that message is fine.
    match = rf"x\.(tsv|fa)'?: .*(truncated or corrupt {kind} data|not valid)"
    path = tmp_path / "x.tsv"
    path.write_bytes(damaged(b"gene\ts1\ts2\n" + b"g1\t1\t2\n" * 300))
    for read in (ds.read_expression, ds.read_table):
        with pytest.raises(ValueError, match=match):
            read(path)
    path = tmp_path / "x.fa"
    path.write_bytes(damaged(b">s\n" + b"ACGT" * 1000 + b"\n"))
    with pytest.raises(ValueError, match=match):
        list(ds.read_fasta(path))


def test_kernel_harness_one_axis_less_of_an_empty_array():
    # harness bug: "one axis less" reshaped a size-0 array with -1 (NumPy's ValueError,
    # raised by the harness itself before any kernel was called).
    from tests.fuzz import fuzz_kernels

    class P:                    # pick the array argument, mutation kind 3
        def __init__(self):
            self.calls = iter([3])

        def pick(self, seq):
            return "x"

        def int(self, lo, hi):
            return next(self.calls)

    from deepbio._kernels import CONTRACT
    name = next(n for n in sorted(CONTRACT) if "x" in CONTRACT[n].arrays)
    for shape in [(0, 3), (2, 0, 4), (0,)]:
        args = {"x": np.zeros(shape, np.float32)}
        fuzz_kernels._mutate(P(), args, name, None)
        assert args["x"].ndim == len(shape) - 1
        assert args["x"].size == (0 if len(shape) > 1 else 1)


@pytest.mark.parametrize("backend", ["numpy", "cython"])
def test_kernel_int_options_past_int64_are_validation_errors(backend):
    # fuzz_kernels finding 3: a stride of 2**63 gave OverflowError ("Python int too large
    # to convert to C long / ssize_t") from inside the kernels instead of the validation
    # layer's ValueError.
    import deepbio.backend
    from deepbio._kernels import MAX_INT_OPTION
    k = deepbio.backend.get(backend).kernels
    x = np.ones((1, 1, 4, 4), np.float32)
    w = np.ones((2, 1, 2, 2), np.float32)
    b = np.zeros(2, np.float32)
    calls = [lambda v: k.maxpool2d_forward(x, (2, 2), (v, 1)),
             lambda v: k.maxpool1d_forward(x[0], 2, v),
             lambda v: k.conv2d_forward(x, w, b, (v, 1), (0, 0)),
             lambda v: k.conv2d_forward(x, w, b, (1, 1), (0, v)),
             lambda v: k.philox_uniform(v, 0, 0, 0, "float32")]
    for call in calls:
        for v in (MAX_INT_OPTION + 1, 2**63, 2**64):
            with pytest.raises(ValueError, match=r"in the range \[\d, 2147483647\]"):
                call(v)
    k.maxpool2d_forward(x, (2, 2), (MAX_INT_OPTION, 1))     # the cap itself is allowed
