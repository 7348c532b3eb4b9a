"""Data for deepbio: bundled data sets, file loaders, encodings, generators, preprocessing,
metrics.

Only NumPy and the standard library are needed (SciPy is not even imported),
so ``import deepbio.datasets`` is cheap. Array layouts follow the library:
tables are ``(n_samples, n_features)`` and sequences ``(N, T, D)``
(sample, position, channel) with a boolean ``(N, T)`` mask.

One concept per module; every public name is exported here:

=====================  ================================================================
module                 contents
=====================  ================================================================
``_base``              :class:`Bunch`; bundled real data :func:`load_breast_cancer`,
                       :func:`load_digits`
``tables``             generic data files: :func:`read_table`, :func:`table_to_float`,
                       :func:`has_header` (CSV / TSV), :func:`load_array` (``.npy`` /
                       ``.npz``)
``expression``         expression matrices: :func:`read_expression` (CSV / TSV / GCT,
                       ``.h5ad`` with the ``[anndata]`` extra), :func:`read_cls`
``anndata``            :func:`read_h5ad` (AnnData ``.h5ad``; extra ``[anndata]``)
``samples``            :func:`read_samples` (features, target, sample IDs and names of
                       any data file the command line takes), :func:`read_labels`
``fasta``              :func:`read_fasta`, :func:`iter_fasta`, :class:`FastaRecord`
``encoding``           :data:`ALPHABETS`, :func:`one_hot`, :func:`decode_one_hot`
``padding``            :func:`pad_sequences`, :func:`batch_iter`
``synthetic``          :func:`make_expression`, :func:`make_motif_sequences`,
                       :func:`make_long_range_sequences`, :func:`make_addition_problem`,
                       the pathological RNN problems :func:`make_multiplication_problem`,
                       :func:`make_xor_problem`, :func:`make_temporal_order_problem`,
                       :func:`make_random_permutation_problem`,
                       :func:`make_memorization_problem` and their success rules
                       :func:`pathological_error`, :func:`pathological_success`
``_preprocessing``     :func:`train_test_split`, :func:`standardize`,
                       :class:`StandardScaler`, :class:`MinMaxScaler`
``metrics``            :func:`roc_auc_score`, :func:`accuracy_score`,
                       :func:`mean_squared_error`
``_text``              (private) text input: gzip / bzip2 / xz by content, encodings,
                       line endings
``sequences``          (deprecated) the old home of ``fasta``, ``encoding``, ``padding``
                       and the sequence generators; its names warn when read
=====================  ================================================================

Argument checks and ``random_state`` resolution are those of :mod:`deepbio._validation`.
See ``docs/datasets.md`` for formats, the ambiguity-code table and licences.
"""

from ._base import Bunch, load_breast_cancer, load_digits
from ._preprocessing import MinMaxScaler, StandardScaler, standardize, train_test_split
from .encoding import ALPHABETS, decode_one_hot, one_hot
from .anndata import read_h5ad
from .expression import read_cls, read_expression
from .fasta import FastaRecord, iter_fasta, read_fasta
from .metrics import (accuracy_score, confusion_matrix, mean_squared_error,
                      precision_recall_f1, roc_auc_score)
from .padding import batch_iter, pad_sequences
from .synthetic import (PATHOLOGICAL_PROBLEMS, make_addition_problem, make_expression,
                        make_long_range_sequences, make_memorization_problem,
                        make_motif_sequences, make_multiplication_problem,
                        make_random_permutation_problem, make_temporal_order_problem,
                        make_xor_problem, pathological_error, pathological_success)
from .samples import NonNumericColumnsError, read_labels, read_samples
from .tables import has_header, load_array, read_table, table_to_float

__all__ = [
    "ALPHABETS",
    "PATHOLOGICAL_PROBLEMS",
    "Bunch",
    "FastaRecord",
    "MinMaxScaler",
    "NonNumericColumnsError",
    "StandardScaler",
    "accuracy_score",
    "batch_iter",
    "confusion_matrix",
    "decode_one_hot",
    "has_header",
    "iter_fasta",
    "load_array",
    "load_breast_cancer",
    "load_digits",
    "make_addition_problem",
    "make_expression",
    "make_long_range_sequences",
    "make_memorization_problem",
    "make_motif_sequences",
    "make_multiplication_problem",
    "make_random_permutation_problem",
    "make_temporal_order_problem",
    "make_xor_problem",
    "mean_squared_error",
    "one_hot",
    "pad_sequences",
    "pathological_error",
    "pathological_success",
    "precision_recall_f1",
    "read_cls",
    "read_expression",
    "read_fasta",
    "read_h5ad",
    "read_labels",
    "read_samples",
    "read_table",
    "roc_auc_score",
    "standardize",
    "table_to_float",
    "train_test_split",
]


def __getattr__(name):
    # ``deepbio.datasets.sequences`` stayed reachable as an attribute when the package
    # imported it; it is now imported on first use only (reading its names warns).
    if name == "sequences":
        import importlib
        return importlib.import_module(f"{__name__}.sequences")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
