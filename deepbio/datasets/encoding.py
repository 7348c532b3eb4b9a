"""Alphabets and the one-hot codec of biological sequences.

- :data:`ALPHABETS` -- DNA ``ACGT``, RNA ``ACGU``, protein (20 amino acids), each with
  its IUPAC ambiguity codes.
- :func:`one_hot` / :func:`decode_one_hot` -- letters to probability vectors
  ``(N, L, A)`` with a mask ``(N, L)``, and back.
"""

import numpy as np

from .._validation import check_choice, check_float_dtype
from .padding import _padded_length, _prefix_mask

__all__ = ["ALPHABETS", "one_hot", "decode_one_hot"]

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
    """The lookup tables of ``alphabet`` (a name of :data:`ALPHABETS`, any case)."""
    name = alphabet.lower() if isinstance(alphabet, str) else alphabet
    name = check_choice("alphabet", name, tuple(ALPHABETS))
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
    dtype = check_float_dtype("dtype", dtype)
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    L = _padded_length(lengths, length, truncate)

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
    return X, _prefix_mask(lengths, L)


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
