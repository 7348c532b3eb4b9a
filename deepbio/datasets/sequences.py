"""Biological sequences: FASTA reading, one-hot encoding, padding, toy tasks.

Public sequence arrays are sequence-major ``(N, T, D)``: sample, position,
channel (the layers convert to their internal time-major layout themselves).
Variable lengths are padded with zeros at the end and come with a boolean
mask ``(N, T)`` that is True on real positions.

- :func:`read_fasta` -- records from a (gzipped) FASTA file.
- :func:`one_hot` / :func:`decode_one_hot` -- DNA, RNA, protein with IUPAC
  ambiguity codes as probability vectors.
- :func:`pad_sequences`, :func:`batch_iter` -- real-valued sequences and
  minibatches.
- :func:`make_motif_sequences` (CNN), :func:`make_long_range_sequences` and
  :func:`make_addition_problem` (RNN) -- synthetic tasks with known answers.
"""

import collections
import gzip
import io
import math
import os
import warnings
import zlib

import numpy as np

from ._base import _check_float, _check_int, _check_random_state
from ._text import (GZIP_MAGIC, check_not_utf16, not_decodable_message, peek,
                    python_encoding, source_prefix)

__all__ = [
    "ALPHABETS",
    "FastaRecord",
    "read_fasta",
    "one_hot",
    "decode_one_hot",
    "pad_sequences",
    "batch_iter",
    "make_motif_sequences",
    "make_long_range_sequences",
    "make_addition_problem",
]

# ---------------------------------------------------------------------------
# FASTA
# ---------------------------------------------------------------------------


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


def _decoded_lines(binary, encoding, prefix):
    """Decode a binary stream (gzip allowed) into lines; errors become ``ValueError``.

    Any line ending (``\\n``, ``\\r\\n``, ``\\r``) ends a line, and a UTF-8
    byte-order mark is dropped. Invalid bytes are reported with their line and
    column.
    """
    head, binary = peek(binary, 2)
    stream = gzip.GzipFile(fileobj=binary, mode="rb") if head == GZIP_MAGIC else binary
    if stream is not binary:
        head, stream = peek(stream, 2)
    check_not_utf16(head, encoding, prefix)
    text = io.TextIOWrapper(stream, encoding=python_encoding(encoding), errors="surrogateescape",
                            newline=None)
    line_no = 0
    try:
        for line_no, line in enumerate(text, start=1):
            if not line.isascii():
                _check_decoded(line, line_no, encoding, prefix)
            yield line.rstrip("\r\n")
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise ValueError(
            f"{prefix}truncated or corrupt gzip data after line {line_no} ({err})"
        ) from None
    finally:
        if stream is binary:
            text.detach()  # leave the caller's file open
        else:
            text.close()  # closes the GzipFile, not the caller's file


def _check_decoded(line, line_no, encoding, prefix):
    """Raise ``ValueError`` if ``line`` holds bytes that did not decode."""
    try:
        line.encode("utf-8")
    except UnicodeEncodeError as err:
        # errors="surrogateescape" maps an undecodable byte b to chr(0xDC00 + b).
        byte = ord(line[err.start]) - 0xDC00
        raise ValueError(
            prefix + not_decodable_message(line_no, err.start + 1, byte, encoding)
        ) from None


def _split_line_endings(line):
    """Split a text line on any of ``\\r\\n``, ``\\r``, ``\\n`` (ending removed)."""
    line = line.rstrip("\r\n")
    if "\r" not in line and "\n" not in line:
        return [line]
    return line.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _text_lines(path_or_file, encoding="utf-8"):
    """Yield decoded lines (line endings removed) from a path, file or iterable.

    Paths and binary streams may be gzip-compressed (recognised by content);
    a leading UTF-8 byte-order mark is dropped from every kind of input.
    """
    prefix = source_prefix(path_or_file)
    if isinstance(path_or_file, (str, bytes, os.PathLike)):
        with open(path_or_file, "rb") as raw:
            yield from _decoded_lines(raw, encoding, prefix)
        return
    if hasattr(path_or_file, "read") and not isinstance(path_or_file, io.TextIOBase):
        if isinstance(path_or_file.read(0), bytes):
            yield from _decoded_lines(path_or_file, encoding, prefix)
            return
    # A text stream or an iterable of str (or bytes) lines.
    first = True
    for line_no, line in enumerate(path_or_file, start=1):
        if isinstance(line, bytes):
            try:
                line = line.decode(encoding)
            except UnicodeDecodeError as err:
                raise ValueError(
                    prefix + not_decodable_message(line_no, err.start + 1, line[err.start],
                                                   encoding)
                ) from None
        if first:
            line = line.removeprefix("\ufeff")
            first = False
        yield from _split_line_endings(line)


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
    prefix = source_prefix(path_or_file)
    records = []
    header = None
    chunks = []
    seen_any = False
    for line_no, line in enumerate(_text_lines(path_or_file, encoding), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        seen_any = True
        if stripped.startswith(";"):
            continue
        if stripped.startswith(">"):
            if header is not None:
                records.append(FastaRecord(header[0], "".join(chunks), header[1]))
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
    records.append(FastaRecord(header[0], "".join(chunks), header[1]))
    if upper:
        records = [FastaRecord(r.id, r.sequence.upper(), r.description) for r in records]
    return records


# ---------------------------------------------------------------------------
# Alphabets and one-hot encoding
# ---------------------------------------------------------------------------

_IUPAC_NUCLEOTIDE = {
    "R": "AG", "Y": "CT", "S": "CG", "W": "AT", "K": "GT", "M": "AC",
    "B": "CGT", "D": "AGT", "H": "ACT", "V": "ACG", "N": "ACGT",
}
_PROTEIN = "ACDEFGHIKLMNPQRSTVWY"

#: Letters per alphabet name, in channel order, and their ambiguity codes
#: (each code -> the letters it stands for; probability spread uniformly).
ALPHABETS = {
    "dna": ("ACGT", dict(_IUPAC_NUCLEOTIDE)),
    "rna": ("ACGU", {k: v.replace("T", "U") for k, v in _IUPAC_NUCLEOTIDE.items()}),
    "protein": (_PROTEIN, {"X": _PROTEIN, "B": "DN", "Z": "EQ", "J": "IL", "U": "C", "O": "K"}),
}

_GAPS = "-."


class _Table:
    """Lookup tables for one alphabet, indexed by byte value (both cases)."""

    def __init__(self, name):
        letters, codes = ALPHABETS[name]
        self.name = name
        self.letters = letters
        self.codes = codes
        self.size = len(letters)
        self.rows = np.zeros((256, self.size))
        self.valid = np.zeros(256, dtype=bool)
        self.strict_ok = np.zeros(256, dtype=bool)
        entries = [(c, c) for c in letters] + list(codes.items())
        for letter, meaning in entries:
            row = np.zeros(self.size)
            for m in meaning:
                row[letters.index(m)] += 1.0 / len(meaning)
            for b in (ord(letter), ord(letter.lower())):
                self.rows[b] = row
                self.valid[b] = True
                self.strict_ok[b] = letter in letters
        for g in _GAPS:
            self.valid[ord(g)] = True
            self.strict_ok[ord(g)] = True
        # Candidates for decoding, canonical letters first so they win ties.
        decodable = letters + "".join(c for c in codes if len(codes[c]) > 1) + "-"
        self.decode_letters = decodable
        self.decode_rows = np.array([self.rows[ord(c)] for c in decodable])

    def describe(self):
        codes = ",".join(self.codes)
        return f"{self.name!r} alphabet ({self.letters}; ambiguity codes {codes}; gaps '-' '.')"


_TABLES = {}


def _table(alphabet):
    if not isinstance(alphabet, str) or alphabet.lower() not in ALPHABETS:
        raise ValueError(f"alphabet must be one of {sorted(ALPHABETS)}, got {alphabet!r}")
    name = alphabet.lower()
    if name not in _TABLES:
        _TABLES[name] = _Table(name)
    return _TABLES[name]


def _sequence_list(sequences):
    """Accept strings or (id, sequence) pairs; return a list of str."""
    if isinstance(sequences, (str, bytes)):
        raise TypeError("sequences must be a list of strings; for one sequence pass [sequence]")
    out = []
    for i, s in enumerate(sequences):
        if isinstance(s, tuple) and len(s) == 2 and isinstance(s[1], str):
            s = s[1]  # an (id, sequence) pair such as a FastaRecord
        if not isinstance(s, str):
            raise TypeError(f"sequence {i} is a {type(s).__name__}, expected str")
        if not s:
            raise ValueError(f"sequence {i} is empty")
        out.append(s)
    if not out:
        raise ValueError("no sequences given")
    return out


def _float_dtype(dtype):
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise ValueError(f"dtype must be a floating-point type, got {dtype}")
    return dtype


def one_hot(sequences, alphabet="dna", strict=False, length=None, truncate=False,
            dtype=np.float32):
    """One-hot encode sequences, padded to a common length, with a mask.

    Parameters
    ----------
    sequences : iterable of str
        Sequences (case-insensitive). ``(id, sequence)`` pairs, such as the
        records from :func:`read_fasta`, are accepted too.
    alphabet : {"dna", "rna", "protein"}, default="dna"
        Channel order: DNA ``ACGT``, RNA ``ACGU``, protein
        ``ACDEFGHIKLMNPQRSTVWY`` (the 20 standard amino acids, alphabetical
        one-letter codes).
    strict : bool, default=False
        If True, only the canonical letters (and gaps) are accepted; any
        ambiguity code (and protein ``U``/``O``) raises ``ValueError``.
    length : int, optional
        Output length ``L``. Default: the longest sequence. Shorter sequences
        are padded with all-zero rows at the end.
    truncate : bool, default=False
        If True, sequences longer than ``length`` keep their first ``length``
        letters; otherwise they raise ``ValueError``. All letters are
        validated even when cut off.
    dtype : floating dtype, default=numpy.float32

    Returns
    -------
    X : ndarray of shape (N, L, A)
        ``X[i, t]`` is the probability vector over the ``A`` alphabet letters
        at position ``t`` of sequence ``i`` (A = 4 or 20).
    mask : ndarray of shape (N, L), bool
        True on the sequence's own positions (gaps included), False on
        padding.

    Raises
    ------
    ValueError
        A letter outside the alphabet and its ambiguity codes (digits, ``*``,
        ``U`` in DNA, ``T`` in RNA, ...), always: the message names the
        sequence index, the 0-based position and the letter. Any ambiguity
        code when ``strict=True``. An empty sequence (named by index), no
        sequences, or a sequence longer than ``length`` without ``truncate``.
    TypeError
        If ``sequences`` is a single string.

    Notes
    -----
    Ambiguity codes encode as the uniform distribution over the letters they
    stand for, so every non-gap row sums to 1:

    ======== ================= =========================================
    alphabet code              meaning
    ======== ================= =========================================
    DNA/RNA  R, Y, S, W, K, M  two bases (A/G, C/T(U), C/G, A/T(U),
                               G/T(U), A/C): 1/2 each
    DNA/RNA  B, D, H, V        three bases (not A, not C, not G, not
                               T(U)): 1/3 each
    DNA/RNA  N                 any base: 1/4 each
    protein  X                 any amino acid: 1/20 each
    protein  B, Z, J           D/N, E/Q, I/L: 1/2 each
    protein  U, O              selenocysteine -> C, pyrrolysine -> K
                               (their closest standard residues)
    any      ``-``, ``.``      gap: all-zero row, mask True
    ======== ================= =========================================

    Examples
    --------
    >>> from deepbio.datasets import one_hot
    >>> X, mask = one_hot(["ACGT", "GN"])
    >>> X.shape, mask.shape
    ((2, 4, 4), (2, 4))
    >>> X[1].tolist()
    [[0.0, 0.0, 1.0, 0.0], [0.25, 0.25, 0.25, 0.25], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]
    >>> mask[1].tolist()
    [True, True, False, False]
    """
    table = _table(alphabet)
    seqs = _sequence_list(sequences)
    dtype = _float_dtype(dtype)
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    if length is None:
        L = int(lengths.max())
    else:
        L = _check_int(length, "length", minimum=1)
        too_long = np.flatnonzero(lengths > L)
        if too_long.size and not truncate:
            i = int(too_long[0])
            raise ValueError(
                f"sequence {i} has length {lengths[i]} > length={L}; pass truncate=True to cut it"
            )

    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    joined = "".join(seqs)
    try:
        codes = np.frombuffer(joined.encode("ascii"), dtype=np.uint8)
    except UnicodeEncodeError as err:
        i = int(np.searchsorted(starts, err.start, side="right") - 1)
        pos = err.start - starts[i]
        raise ValueError(
            f"sequence {i}, position {pos}: letter {joined[err.start]!r} is not in the "
            f"{table.describe()}"
        ) from None
    ok = table.strict_ok if strict else table.valid
    bad = np.flatnonzero(~ok[codes])
    if bad.size:
        k = int(bad[0])
        i = int(np.searchsorted(starts, k, side="right") - 1)
        letter = chr(codes[k])
        if table.valid[codes[k]]:
            raise ValueError(
                f"sequence {i}, position {k - starts[i]}: non-canonical letter {letter!r} "
                f"rejected because strict=True (allowed: {table.letters} and gaps)"
            )
        raise ValueError(
            f"sequence {i}, position {k - starts[i]}: letter {letter!r} is not in the "
            f"{table.describe()}"
        )

    rows = np.repeat(np.arange(len(seqs)), lengths)
    cols = np.arange(codes.size) - np.repeat(starts, lengths)
    keep = cols < L
    X = np.zeros((len(seqs), L, table.size), dtype=dtype)
    X[rows[keep], cols[keep]] = table.rows[codes[keep]]
    mask = np.arange(L)[None, :] < np.minimum(lengths, L)[:, None]
    return X, mask


def decode_one_hot(X, mask=None, alphabet="dna"):
    """Turn one-hot (or probability) rows back into letters.

    Each position becomes the letter whose encoding (see :func:`one_hot`) is
    nearest in squared distance, canonical letters winning ties: an exact
    one-hot row gives its letter, an ambiguity vector its IUPAC code, an
    all-zero row ``"-"``. Protein ``U``/``O`` come back as ``C``/``K``.

    Parameters
    ----------
    X : array-like of shape (N, L, A)
    mask : array-like of shape (N, L), bool, optional
        Positions where ``mask`` is False (padding) are dropped. Without a
        mask every position is decoded, padding as ``"-"``.
    alphabet : {"dna", "rna", "protein"}, default="dna"

    Returns
    -------
    sequences : list of N str

    Examples
    --------
    >>> from deepbio.datasets import one_hot, decode_one_hot
    >>> X, mask = one_hot(["acgtn", "GR"])
    >>> decode_one_hot(X, mask)
    ['ACGTN', 'GR']
    """
    table = _table(alphabet)
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 3 or X.shape[2] != table.size:
        raise ValueError(f"X must have shape (N, L, {table.size}), got {X.shape}")
    if mask is None:
        mask = np.ones(X.shape[:2], dtype=bool)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != X.shape[:2]:
        raise ValueError(f"mask must have shape {X.shape[:2]}, got {mask.shape}")
    R = table.decode_rows
    # |x - r|^2 without the |x|^2 term, which is the same for every candidate r.
    dist = (R ** 2).sum(axis=1) - 2.0 * (X @ R.T)
    idx = dist.argmin(axis=-1)
    letters = np.array(list(table.decode_letters))
    return ["".join(letters[idx[i][mask[i]]]) for i in range(X.shape[0])]


# ---------------------------------------------------------------------------
# Real-valued sequences
# ---------------------------------------------------------------------------


def _check_fill_value(value, dtype):
    """Raise ``ValueError`` if ``value`` cannot be stored in ``dtype`` (NaN in int...)."""
    dtype = np.dtype(dtype)
    try:
        with np.errstate(invalid="ignore", over="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            stored = np.array(value).astype(dtype)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"value={value!r} cannot be stored in dtype {dtype}") from None
    if dtype.kind in "fc":
        # Rounding to the precision is fine; overflowing to infinity is not.
        lost = bool(np.isinf(stored)) and not np.isinf(np.asarray(value, dtype=np.complex128))
    else:
        lost = not bool(stored == value)
    if lost:
        raise ValueError(
            f"value={value!r} cannot be represented in dtype {dtype} (it would become "
            f"{stored.item()!r}); pass a value that fits or another dtype"
        )


def pad_sequences(sequences, length=None, value=0.0, truncate=False, dtype=None):
    """Stack variable-length sequences into one padded array and a mask.

    Parameters
    ----------
    sequences : sequence of array-like, each of shape (T_i, D) or (T_i,)
        One array per sample; 1-D arrays are treated as ``(T_i, 1)``. All must
        share ``D``; every ``T_i`` must be >= 1.
    length : int, optional
        Output length ``T``; default ``max(T_i)``.
    value : float, default=0.0
        Fill value for the padding.
    truncate : bool, default=False
        Keep the first ``length`` steps of longer sequences instead of raising
        ``ValueError``.
    dtype : dtype, optional
        Output dtype; default the common (floating) type of the inputs.

    Returns
    -------
    X : ndarray of shape (N, T, D)
        Sequence-major; ``X[i, :T_i] = sequences[i]``, the rest ``value``.
    mask : ndarray of shape (N, T), bool
        True where ``t < T_i``.

    Examples
    --------
    >>> import numpy as np
    >>> from deepbio.datasets import pad_sequences
    >>> X, mask = pad_sequences([np.ones((3, 2)), np.ones((1, 2))])
    >>> X.shape, mask.sum(axis=1).tolist()
    ((2, 3, 2), [3, 1])
    """
    if isinstance(sequences, np.ndarray) and sequences.dtype != object:
        sequences = list(sequences)
    arrays = []
    for i, a in enumerate(sequences):
        a = np.asarray(a)
        if a.ndim == 1:
            a = a[:, None]
        if a.ndim != 2:
            raise ValueError(f"sequence {i} must have shape (T, D) or (T,), got {a.shape}")
        if a.shape[0] == 0:
            raise ValueError(f"sequence {i} is empty")
        if arrays and a.shape[1] != arrays[0].shape[1]:
            raise ValueError(
                f"sequence {i} has {a.shape[1]} features but sequence 0 has {arrays[0].shape[1]}"
            )
        arrays.append(a)
    if not arrays:
        raise ValueError("no sequences given")
    if dtype is None:
        dtype = np.result_type(*arrays)
        if dtype.kind != "f":
            dtype = np.result_type(dtype, np.float64)
    lengths = np.array([a.shape[0] for a in arrays])
    if length is None:
        T = int(lengths.max())
    else:
        T = _check_int(length, "length", minimum=1)
        too_long = np.flatnonzero(lengths > T)
        if too_long.size and not truncate:
            i = int(too_long[0])
            raise ValueError(
                f"sequence {i} has length {lengths[i]} > length={T}; pass truncate=True to cut it"
            )
    _check_fill_value(value, dtype)
    X = np.full((len(arrays), T, arrays[0].shape[1]), value, dtype=dtype)
    for i, a in enumerate(arrays):
        X[i, : min(T, a.shape[0])] = a[:T]
    mask = np.arange(T)[None, :] < np.minimum(lengths, T)[:, None]
    return X, mask


def batch_iter(*arrays, batch_size=32, shuffle=True, random_state=None, drop_last=False):
    """Yield aligned minibatches of several arrays along their first axis.

    Parameters
    ----------
    *arrays : ndarray, each of shape (N, ...)
        E.g. ``X`` (N, T, D), ``mask`` (N, T) and ``y`` (N,). All must have
        the same first dimension.
    batch_size : int, default=32
    shuffle : bool, default=True
        Visit the samples in a random order (one permutation per call).
    random_state : None, int or numpy.random.Generator, default=None
    drop_last : bool, default=False
        Skip the final batch when it is smaller than ``batch_size``.

    Yields
    ------
    batch : tuple of ndarray
        One slice per input array, each of shape (B, ...), B <= batch_size.

    Examples
    --------
    >>> import numpy as np
    >>> from deepbio.datasets import batch_iter
    >>> X, y = np.zeros((10, 3)), np.arange(10)
    >>> [len(yb) for Xb, yb in batch_iter(X, y, batch_size=4, shuffle=False)]
    [4, 4, 2]
    """
    if not arrays:
        raise ValueError("batch_iter needs at least one array")
    batch_size = _check_int(batch_size, "batch_size", minimum=1)
    arrays = [np.asarray(a) for a in arrays]
    n = arrays[0].shape[0] if arrays[0].ndim else 0
    for k, a in enumerate(arrays):
        if a.ndim == 0 or a.shape[0] != n:
            raise ValueError(f"array {k} has {a.shape[:1]} samples, array 0 has {n}")
    order = _check_random_state(random_state).permutation(n) if shuffle else np.arange(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        idx = order[start:start + batch_size]
        yield tuple(a[idx] for a in arrays)


# ---------------------------------------------------------------------------
# Synthetic tasks
# ---------------------------------------------------------------------------

_DNA_BYTES = np.frombuffer(b"ACGT", dtype=np.uint8)


def _codes_to_strings(codes):
    lut = _DNA_BYTES[codes]
    return [row.tobytes().decode("ascii") for row in lut]


def _motif_pwm(motif):
    """Return ``(pwm (k, 4), exact)``; ``exact`` is the motif string if plain ACGT."""
    if isinstance(motif, str):
        if not motif:
            raise ValueError("motif must not be empty")
        try:
            X, _ = one_hot([motif], alphabet="dna")
        except ValueError as err:
            raise ValueError(f"motif {motif!r}: {err}") from None
        pwm = X[0].astype(np.float64)
        if np.any(pwm.sum(axis=1) == 0):
            raise ValueError(f"motif {motif!r} must not contain gaps")
        exact = motif.upper() if set(motif.upper()) <= set("ACGT") else None
        return pwm, exact
    pwm = np.array(motif, dtype=np.float64)
    if pwm.ndim != 2 or pwm.shape[1] != 4 or pwm.shape[0] == 0:
        raise ValueError(f"motif PWM must have shape (k, 4) (columns A, C, G, T), got {pwm.shape}")
    if np.any(~np.isfinite(pwm)) or np.any(pwm < 0) or not np.allclose(pwm.sum(axis=1), 1.0, atol=1e-6):
        raise ValueError("motif PWM rows must be non-negative and sum to 1")
    return pwm / pwm.sum(axis=1, keepdims=True), None


def _sample_pwm(pwm, n, rng):
    """Draw ``n`` motif instances from ``pwm``: int codes of shape (n, k)."""
    cum = np.cumsum(pwm, axis=1)
    u = rng.random((n, pwm.shape[0], 1))
    return np.minimum((u > cum[None]).sum(axis=2), 3)


def _motif_free_failure(motif, length, background):
    """Explain why motif-free negatives could not be drawn."""
    p = float(np.prod([background["ACGT".index(c)] for c in motif]))
    expected = (length - len(motif) + 1) * p
    return (
        f"could not draw negatives free of the motif {motif!r}: a random background "
        f"sequence of length {length} contains it about {expected:.3g} times by chance, "
        f"so motif-free sequences are too rare. Use a longer motif (it has only "
        f"{len(motif)} letters), shorter sequences, or a background that makes it rarer"
    )


def make_motif_sequences(n=1000, length=100, motif="TGACTCA", frac_positive=0.5,
                         mutation_rate=0.0, decoys=False, background=None,
                         random_state=None, return_positions=False):
    """Random DNA where positives carry a planted motif (a CNN toy task).

    Every sequence is i.i.d. background. Each positive gets one motif
    instance at a uniformly random position (``0 .. length - k``), replacing
    the background there. The default motif ``TGACTCA`` is the AP-1
    (Fos/Jun) binding site.

    Parameters
    ----------
    n : int, default=1000
        Number of sequences.
    length : int, default=100
        Length of every sequence; must be >= the motif length ``k``.
    motif : str or array-like of shape (k, 4), default="TGACTCA"
        A DNA string (IUPAC codes allowed: each position is drawn uniformly
        from the bases its code stands for) or a position weight matrix whose
        rows are probabilities over A, C, G, T.
    frac_positive : float in [0, 1], default=0.5
        Fraction of positives; ``round(n * frac_positive)`` of them.
    mutation_rate : float in [0, 1], default=0.0
        Each planted motif position is replaced, with this probability, by
        one of the three other bases (uniformly).
    decoys : bool, default=False
        If True, each negative also gets a decoy: a motif instance with its
        positions shuffled (never equal to the unshuffled draw, when the
        motif has two different letters), at a random position. Decoys have
        the motif's base composition but not its order, so a model must learn
        the order.
    background : array-like of shape (4,), optional
        Base probabilities (A, C, G, T) for the background; default uniform.
    random_state : None, int or numpy.random.Generator, default=None
    return_positions : bool, default=False
        Also return where each motif was planted.

    Returns
    -------
    sequences : list of n str
        Upper-case ``ACGT`` strings of length ``length``.
    y : ndarray of shape (n,), int64
        1 for sequences with a planted motif, 0 otherwise (in random order).
    positions : ndarray of shape (n,), int64
        Only if ``return_positions``: the start of the planted motif, -1 for
        negatives.

    Notes
    -----
    For a plain ``ACGT`` string motif, negatives never contain the motif on
    the given strand: any that do by chance (background or decoy) are
    redrawn. Positives may contain extra chance copies. The reverse
    complement is not treated specially.

    Examples
    --------
    >>> from deepbio.datasets import make_motif_sequences, one_hot
    >>> seqs, y = make_motif_sequences(n=20, length=30, random_state=0)
    >>> len(seqs), len(seqs[0]), int(y.sum())
    (20, 30, 10)
    >>> all(("TGACTCA" in s) == bool(label) for s, label in zip(seqs, y))
    True
    >>> X, mask = one_hot(seqs)
    >>> X.shape
    (20, 30, 4)
    """
    n = _check_int(n, "n", minimum=1)
    length = _check_int(length, "length", minimum=1)
    frac_positive = _check_float(frac_positive, "frac_positive", 0.0, 1.0)
    mutation_rate = _check_float(mutation_rate, "mutation_rate", 0.0, 1.0)
    pwm, exact = _motif_pwm(motif)
    k = pwm.shape[0]
    if length < k:
        raise ValueError(f"length={length} is shorter than the motif (length {k})")
    if background is None:
        background = np.full(4, 0.25)
    else:
        background = np.asarray(background, dtype=np.float64)
        if (background.shape != (4,) or np.any(~np.isfinite(background)) or np.any(background < 0)
                or not np.isclose(background.sum(), 1.0)):
            raise ValueError("background must be 4 non-negative probabilities (A, C, G, T) summing to 1")
        background = background / background.sum()
    if decoys and k > 1 and exact is not None and len(set(exact)) == 1:
        raise ValueError(f"decoys=True needs a motif with two different letters, got {motif!r}")
    rng = _check_random_state(random_state)

    n_pos = int(round(n * frac_positive))
    y = np.zeros(n, dtype=np.int64)
    y[rng.permutation(n)[:n_pos]] = 1
    pos_idx = np.flatnonzero(y == 1)
    neg_idx = np.flatnonzero(y == 0)

    codes = rng.choice(4, size=(n, length), p=background)
    positions = np.full(n, -1, dtype=np.int64)
    positions[pos_idx] = rng.integers(0, length - k + 1, size=pos_idx.size)
    inst = _sample_pwm(pwm, pos_idx.size, rng)
    if mutation_rate > 0:
        hit = rng.random(inst.shape) < mutation_rate
        inst = np.where(hit, (inst + rng.integers(1, 4, size=inst.shape)) % 4, inst)
    cols = positions[pos_idx, None] + np.arange(k)[None, :]
    codes[pos_idx[:, None], cols] = inst

    def fill_negatives(rows):
        codes[rows] = rng.choice(4, size=(rows.size, length), p=background)
        if decoys:
            draw = _sample_pwm(pwm, rows.size, rng)
            dec = draw.copy()
            for r in range(rows.size):
                if len(set(draw[r].tolist())) < 2:
                    continue  # nothing to shuffle
                while True:
                    perm = rng.permutation(k)
                    if not np.array_equal(draw[r, perm], draw[r]):
                        dec[r] = draw[r, perm]
                        break
            start = rng.integers(0, length - k + 1, size=rows.size)
            codes[rows[:, None], start[:, None] + np.arange(k)[None, :]] = dec

    fill_negatives(neg_idx)
    sequences = _codes_to_strings(codes)
    if exact is not None:
        for _ in range(10000):
            redo = np.array([i for i in neg_idx if exact in sequences[i]], dtype=np.int64)
            if redo.size == 0:
                break
            fill_negatives(redo)
            for i, s in zip(redo, _codes_to_strings(codes[redo])):
                sequences[i] = s
        else:
            raise ValueError(_motif_free_failure(exact, length, background))

    if return_positions:
        return sequences, y, positions
    return sequences, y


def make_long_range_sequences(n=1000, length=60, n_symbols=4, random_state=None,
                              dtype=np.float32):
    """One-hot symbol sequences whose label is the first symbol (an RNN memory task).

    Every position holds a symbol drawn uniformly from ``n_symbols``; the
    label is the symbol at position 0, and the ``length - 1`` later symbols
    are independent distractors. A recurrent model that reads the sequence
    left to right must carry the first symbol across ``length - 1`` steps;
    chance accuracy is ``1 / n_symbols``.

    Parameters
    ----------
    n : int, default=1000
    length : int, default=60
        Steps per sequence (>= 2).
    n_symbols : int, default=4
        Alphabet size (>= 2).
    random_state : None, int or numpy.random.Generator, default=None
    dtype : floating dtype, default=numpy.float32

    Returns
    -------
    X : ndarray of shape (n, length, n_symbols)
        One-hot, sequence-major ``(N, T, D)``.
    y : ndarray of shape (n,), int64
        ``y[i] = argmax(X[i, 0])``.

    Examples
    --------
    >>> from deepbio.datasets import make_long_range_sequences
    >>> X, y = make_long_range_sequences(n=8, length=10, random_state=0)
    >>> X.shape, bool((X[:, 0].argmax(axis=1) == y).all())
    ((8, 10, 4), True)
    """
    n = _check_int(n, "n", minimum=1)
    length = _check_int(length, "length", minimum=2)
    n_symbols = _check_int(n_symbols, "n_symbols", minimum=2)
    dtype = _float_dtype(dtype)
    rng = _check_random_state(random_state)
    codes = rng.integers(0, n_symbols, size=(n, length))
    X = np.eye(n_symbols, dtype=dtype)[codes]
    return X, codes[:, 0].astype(np.int64)


def _window_end(fraction, T):
    """``floor(fraction * T)``, robust to rounding: ``10 / 77 * 77`` gives 10, not 9."""
    x = fraction * T
    nearest = round(x)
    if abs(x - nearest) <= 1e-9 * max(1.0, abs(x)):
        return int(nearest)
    return math.floor(x)


def make_addition_problem(n=1000, T=100, first_window=0.5, mean=False, random_state=None,
                          dtype=np.float64):
    """The addition problem of Hochreiter & Schmidhuber (1997) for RNNs.

    Each sequence has two channels. Channel 0 holds ``T`` values drawn
    uniformly from [0, 1). Channel 1 is 0 except at exactly two marked
    steps, where it is 1: the first marker lies uniformly in the first
    ``first_window`` fraction of the sequence (steps ``0 ..
    max(1, floor(first_window * T)) - 1``, where a product within rounding
    error of an integer counts as that integer, so ``first_window=10 / T``
    gives exactly ten steps for every ``T``), the second uniformly in the
    second half (steps ``T // 2 .. T - 1``). The target is the sum of the
    two marked values (or their mean, with ``mean=True``), read out after the
    last step.

    With the defaults (first marker anywhere in the first half) this is the
    form used in much later work on long-range RNN training; the original
    formulation differs in details (value range, marker placement), and
    ``first_window=10 / T`` confines the first marker to the first ten steps
    for a longer minimal lag. Predicting the constant 1
    (the target mean) gives a mean squared error of 1/6 (1/24 with
    ``mean=True``), the baseline a model must beat.

    Parameters
    ----------
    n : int, default=1000
        Number of sequences.
    T : int, default=100
        Steps per sequence (>= 2).
    first_window : float in (0, 0.5], default=0.5
        Fraction of the sequence in which the first marker may fall.
    mean : bool, default=False
        Target = (a + b) / 2 instead of a + b.
    random_state : None, int or numpy.random.Generator, default=None
    dtype : floating dtype, default=numpy.float64

    Returns
    -------
    X : ndarray of shape (n, T, 2)
        ``X[:, :, 0]`` values, ``X[:, :, 1]`` markers; sequence-major.
    y : ndarray of shape (n, 1)
        Targets, same dtype as ``X``.

    References
    ----------
    S. Hochreiter and J. Schmidhuber. Long short-term memory. Neural
    Computation 9(8):1735-1780, 1997 (experiment 4).
    J. Martens and I. Sutskever. Learning recurrent neural networks with
    Hessian-free optimization. ICML 2011.

    Examples
    --------
    >>> import numpy as np
    >>> from deepbio.datasets import make_addition_problem
    >>> X, y = make_addition_problem(n=5, T=20, random_state=0)
    >>> X.shape, y.shape
    ((5, 20, 2), (5, 1))
    >>> X[:, :, 1].sum(axis=1).tolist()
    [2.0, 2.0, 2.0, 2.0, 2.0]
    >>> bool(np.allclose((X[:, :, 0] * X[:, :, 1]).sum(axis=1), y[:, 0]))
    True
    """
    n = _check_int(n, "n", minimum=1)
    T = _check_int(T, "T", minimum=2)
    first_window = _check_float(first_window, "first_window", 0.0, 0.5, low_open=True)
    dtype = _float_dtype(dtype)
    rng = _check_random_state(random_state)
    values = rng.random((n, T))
    first_end = max(1, _window_end(first_window, T))
    first = rng.integers(0, first_end, size=n)
    second = rng.integers(T // 2, T, size=n)
    rows = np.arange(n)
    markers = np.zeros((n, T))
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    X = np.stack([values, markers], axis=-1).astype(dtype)
    target = X[rows, first, 0].astype(np.float64) + X[rows, second, 0]
    if mean:
        target = target / 2.0
    return X, target[:, None].astype(dtype)
