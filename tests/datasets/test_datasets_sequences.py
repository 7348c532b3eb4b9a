"""deepbio.datasets.sequences, the old home of the sequence tools, is a deprecated shim.

The tools themselves are tested in test_fasta.py, test_encoding.py, test_padding.py and
test_synthetic.py."""
import importlib
import subprocess
import sys
import warnings

import pytest

import deepbio.datasets as datasets

OLD_NAMES = ["ALPHABETS", "FastaRecord", "read_fasta", "one_hot", "decode_one_hot",
             "pad_sequences", "batch_iter", "make_motif_sequences",
             "make_long_range_sequences", "make_addition_problem"]


def test_every_old_name_is_the_new_object_with_a_deprecation_warning():
    sequences = importlib.import_module("deepbio.datasets.sequences")
    assert sorted(sequences.__all__) == sorted(OLD_NAMES)
    for name in OLD_NAMES:
        with pytest.warns(DeprecationWarning, match=f"{name} now lives in deepbio.datasets"):
            old = getattr(sequences, name)
        assert old is getattr(datasets, name)
    with pytest.warns(DeprecationWarning):
        from deepbio.datasets.sequences import _window_end       # private helpers too
    from deepbio.datasets.synthetic import _window_end as new
    assert _window_end is new
    with pytest.raises(AttributeError):
        sequences.no_such_name


def test_the_package_and_its_new_modules_import_without_warnings():
    code = ("import warnings; warnings.simplefilter('error');"
            "import deepbio.datasets as d; from deepbio.datasets import one_hot, read_fasta;"
            "import deepbio.datasets.sequences; import deepbio.datasets.expression;"
            "d.one_hot(['AC']); d.sequences")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_names_moved_out_of_expression_still_import_with_a_warning():
    expression = importlib.import_module("deepbio.datasets.expression")
    for name in ("load_array", "make_expression"):
        with pytest.warns(DeprecationWarning, match=name):
            assert getattr(expression, name) is getattr(datasets, name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert expression.read_expression is datasets.read_expression
