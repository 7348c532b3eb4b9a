"""Data for deepbio: bundled data sets, file loaders, generators, preprocessing.

Only NumPy and the standard library are needed (SciPy is not even imported),
so ``import deepbio.datasets`` is cheap. Array layouts follow the library:
tables are ``(n_samples, n_features)`` and sequences ``(N, T, D)``
(sample, position, channel) with a boolean ``(N, T)`` mask.

Bundled real data
    :func:`load_breast_cancer`, :func:`load_digits`
Files
    :func:`read_expression` (CSV / TSV / GCT), :func:`load_array` (``.npy`` /
    ``.npz``), :func:`read_fasta`
Sequences
    :func:`one_hot`, :func:`decode_one_hot`, :func:`pad_sequences`,
    :func:`batch_iter`
Synthetic data
    :func:`make_expression`, :func:`make_motif_sequences`,
    :func:`make_long_range_sequences`, :func:`make_addition_problem`
Preprocessing
    :func:`train_test_split`, :func:`standardize`, :class:`StandardScaler`

See ``docs/datasets.md`` for formats, the ambiguity-code table and licences.
"""

from ._base import Bunch, load_breast_cancer, load_digits
from ._preprocessing import StandardScaler, standardize, train_test_split
from .expression import load_array, make_expression, read_expression
from .sequences import (
    ALPHABETS,
    FastaRecord,
    batch_iter,
    decode_one_hot,
    make_addition_problem,
    make_long_range_sequences,
    make_motif_sequences,
    one_hot,
    pad_sequences,
    read_fasta,
)

__all__ = [
    "ALPHABETS",
    "Bunch",
    "FastaRecord",
    "StandardScaler",
    "batch_iter",
    "decode_one_hot",
    "load_array",
    "load_breast_cancer",
    "load_digits",
    "make_addition_problem",
    "make_expression",
    "make_long_range_sequences",
    "make_motif_sequences",
    "one_hot",
    "pad_sequences",
    "read_expression",
    "read_fasta",
    "standardize",
    "train_test_split",
]
