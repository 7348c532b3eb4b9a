"""FASTA files: :func:`read_fasta` and its :class:`FastaRecord`.

Records come back as ``(id, sequence)`` tuples with a ``description``; letters are not
checked here (:func:`deepbio.datasets.one_hot` validates them against an alphabet).
"""

import collections

from .._validation import check_int
from ._base import Bunch
from ._text import source_prefix, text_lines

__all__ = ["FastaRecord", "read_fasta", "iter_fasta"]


class FastaRecord(collections.namedtuple("_FastaRecord", ["id", "sequence"])):
    """One FASTA record: a ``(id, sequence)`` tuple with a ``description``.

    It unpacks and compares as the 2-tuple ``(id, sequence)``; the rest of
    the header line after the id is kept in the attribute ``description``
    (``""`` if the header is only the id). ``_replace``, ``_make``,
    ``_asdict``, copying and pickling keep ``description``.
    """

    def __new__(cls, id, sequence, description=""):
        self = super().__new__(cls, id, sequence)
        self.description = description
        return self

    @classmethod
    def _make(cls, iterable):
        """Make a record from ``(id, sequence)`` or ``(id, sequence, description)``."""
        return cls(*iterable)

    def _replace(self, **changes):
        fields = self._asdict()
        unknown = set(changes) - set(fields)
        if unknown:
            raise ValueError(f"Got unexpected field names: {sorted(unknown)!r}")
        fields.update(changes)
        return type(self)(**fields)

    def _asdict(self):
        return {"id": self.id, "sequence": self.sequence, "description": self.description}

    def __getnewargs__(self):
        return (self.id, self.sequence, self.description)

    def __repr__(self):
        return (f"FastaRecord(id={self.id!r}, sequence={self.sequence!r}, "
                f"description={self.description!r})")


def read_fasta(path_or_file, upper=False, encoding="utf-8"):
    """Read all records of a FASTA file.

    Parameters
    ----------
    path_or_file : str, os.PathLike or file object
        A path or an open binary file (gzip-compressed data is recognised by
        its content, any name), or an open text file / iterable of lines.
    upper : bool, default=False
        Upper-case the sequences. By default letters keep their case (lower
        case often marks soft-masked repeats); :func:`one_hot` ignores case.
    encoding : str, default="utf-8"
        Text encoding of a path or binary file. A UTF-8 byte-order mark is
        skipped.

    Returns
    -------
    records : list of FastaRecord
        In file order. Each unpacks as ``(id, sequence)``: ``id`` is the first
        whitespace-separated word after ``>``, ``sequence`` the concatenation
        of the following lines with all whitespace removed. ``description``
        holds the rest of the header.

    Raises
    ------
    ValueError
        If the file is empty, has no ``>`` header, has sequence data before
        the first header, or has a header with no id; if it is not valid
        UTF-8 (e.g. Latin-1 or UTF-16); if its gzip data is truncated. The
        message names the file (when it has a name) and gives the 1-based
        line number.

    Notes
    -----
    Multi-line records, blank lines, Windows (``\\r\\n``) and old Mac
    (``\\r``) line endings are handled, in text and binary files. Lines
    starting with ``;`` are comments and skipped.
    A header followed by no sequence gives a record with an empty sequence.
    No letter is checked here; :func:`one_hot` validates against an alphabet
    (a protein's trailing stop ``*`` must be stripped before encoding).

    Examples
    --------
    >>> import io
    >>> from deepbio.datasets import read_fasta
    >>> fasta = io.StringIO(">seq1 first test\\nACGT\\nacgt\\n\\n>seq2\\nGGCC\\n")
    >>> records = read_fasta(fasta)
    >>> [(r.id, r.sequence) for r in records]
    [('seq1', 'ACGTacgt'), ('seq2', 'GGCC')]
    >>> records[0].description
    'first test'
    """
    records = list(_iter_records(path_or_file, encoding))
    if upper:
        records = [FastaRecord(r.id, r.sequence.upper(), r.description) for r in records]
    return records


def _iter_records(path_or_file, encoding):
    """The records of a FASTA input one by one, as they are read (one record in memory)."""
    prefix = source_prefix(path_or_file)
    header = None
    chunks = []
    seen_any = False
    for line_no, line in enumerate(text_lines(path_or_file, encoding), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        seen_any = True
        if stripped.startswith(";"):
            continue
        if stripped.startswith(">"):
            if header is not None:
                yield FastaRecord(header[0], "".join(chunks), header[1])
            parts = stripped[1:].strip().split(None, 1)
            if not parts:
                raise ValueError(f"{prefix}line {line_no}: FASTA header '>' without an id")
            header = (parts[0], parts[1].strip() if len(parts) > 1 else "")
            chunks = []
            continue
        if header is None:
            raise ValueError(
                f"{prefix}line {line_no}: sequence data before the first '>' header "
                "(is this a FASTA file?)"
            )
        chunks.append("".join(stripped.split()))
    if header is None:
        if not seen_any:
            raise ValueError(f"{prefix}empty FASTA input: no records")
        raise ValueError(f"{prefix}no FASTA records: no line starts with '>'")
    yield FastaRecord(header[0], "".join(chunks), header[1])


def iter_fasta(path_or_file, batch_size=256, alphabet="dna", length=None, truncate=False,
               strict=False, encoding="utf-8", dtype=None):
    """Stream a FASTA file in batches of one-hot encoded sequences.

    The file is read as it is consumed: one batch of records is in memory at a time,
    so files larger than memory (gzip-, bzip2- or xz-compressed or not) can be used to
    train with ``partial_fit``.

    Parameters
    ----------
    path_or_file : str, os.PathLike or file object
        As for :func:`read_fasta`.
    batch_size : int, default=256
        Records per batch (the last batch may be smaller).
    alphabet : {"dna", "rna", "protein"}, default="dna"
        As for :func:`~deepbio.datasets.one_hot`.
    length : int, optional
        Pad (and with ``truncate`` cut) every batch to this many positions, so that all
        batches have the same shape.  Default: each batch to its longest sequence.
    truncate, strict
        As for :func:`~deepbio.datasets.one_hot`.
    encoding : str, default="utf-8"
    dtype : floating dtype, default=numpy.float32

    Yields
    ------
    batch : Bunch
        ``X`` (ndarray (n, L, A)), ``mask`` (ndarray (n, L), bool), ``ids`` and
        ``descriptions`` (lists of n str), ``start`` (the index of the batch's first
        record in the file).  ``model.partial_fit(batch.X, y, mask=batch.mask)``
        trains the sequence estimators that have ``partial_fit``
        (:class:`~deepbio.CNNClassifier`, :class:`~deepbio.RNNClassifier` and their
        regressors); ``predict(batch.X, mask=batch.mask)`` predicts batch by batch.

    Raises
    ------
    ValueError
        As :func:`read_fasta` and :func:`~deepbio.datasets.one_hot` do, when the batch
        holding the fault is read.

    Examples
    --------
    >>> import io
    >>> from deepbio.datasets import iter_fasta
    >>> fasta = io.StringIO(">a\\nACGT\\n>b\\nAC\\n>c\\nGGG\\n")
    >>> [(b.ids, b.X.shape) for b in iter_fasta(fasta, batch_size=2)]
    [(['a', 'b'], (2, 4, 4)), (['c'], (1, 3, 4))]
    """
    import numpy as np

    from .encoding import one_hot
    batch_size = check_int("batch_size", batch_size, low=1)
    dtype = np.float32 if dtype is None else dtype
    batch, start = [], 0

    def encode(records):
        X, mask = one_hot([r.sequence for r in records], alphabet=alphabet, strict=strict,
                          length=length, truncate=truncate, dtype=dtype)
        return Bunch(X=X, mask=mask, ids=[r.id for r in records],
                     descriptions=[r.description for r in records], start=start)

    for record in _iter_records(path_or_file, encoding):
        batch.append(record)
        if len(batch) == batch_size:
            yield encode(batch)
            start += len(batch)
            batch = []
    if batch:
        yield encode(batch)
