"""Deprecated: the old home of the sequence tools, split up by issue #12.

- ``FastaRecord``, ``read_fasta``: :mod:`deepbio.datasets.fasta`
- ``ALPHABETS``, ``one_hot``, ``decode_one_hot``: :mod:`deepbio.datasets.encoding`
- ``pad_sequences``, ``batch_iter``: :mod:`deepbio.datasets.padding`
- ``make_motif_sequences``, ``make_long_range_sequences``, ``make_addition_problem``:
  :mod:`deepbio.datasets.synthetic`

All of them are exported by :mod:`deepbio.datasets`, as before.

Importing this module is silent; reading any of its names (``from
deepbio.datasets.sequences import one_hot`` included) gives that name from its new module
with a :class:`DeprecationWarning`.  Import from :mod:`deepbio.datasets` instead.
"""

import importlib
import warnings

_HOMES = {
    "FastaRecord": "fasta",
    "read_fasta": "fasta",
    "ALPHABETS": "encoding",
    "one_hot": "encoding",
    "decode_one_hot": "encoding",
    "pad_sequences": "padding",
    "batch_iter": "padding",
    "make_motif_sequences": "synthetic",
    "make_long_range_sequences": "synthetic",
    "make_addition_problem": "synthetic",
}

# The old module's private helpers too, for code (and pickles) that reached into it.
_PRIVATE_HOMES = ("fasta", "encoding", "padding", "synthetic", "_text")

__all__ = list(_HOMES)


def _find(name):
    if name in _HOMES:
        return importlib.import_module(f"deepbio.datasets.{_HOMES[name]}")
    if name.startswith("_") and not name.startswith("__"):
        for home in _PRIVATE_HOMES:
            module = importlib.import_module(f"deepbio.datasets.{home}")
            if hasattr(module, name):
                return module
    return None


def __getattr__(name):
    module = _find(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(f"deepbio.datasets.sequences is deprecated: {name} now lives in "
                  f"{module.__name__}; import it from deepbio.datasets",
                  DeprecationWarning, stacklevel=2)
    return getattr(module, name)
