"""Motifs from the first-layer filters of a sequence CNN, the DeepBind / Basset way, and
their files (MEME minimal format, JASPAR) and comparison.

* :func:`filter_motifs`: for every filter of the first 1-d convolution, the subsequences
  of a data set that activate it most (one per sequence, at its best position) are
  stacked into letter counts, then a position probability matrix (PWM) with a
  pseudocount; a :class:`Motif` carries both, the number of sites and the information
  content.
* :func:`compare_motifs`: the best Pearson correlation of two motifs over their aligned
  columns, every offset and both strands.
* :func:`write_meme` / :func:`read_meme`, :func:`write_jaspar` / :func:`read_jaspar`:
  files written atomically (temporary file in the same directory, fsync, rename), so a
  reader never sees half a file.
"""
import math
import re

import numpy as np

from .._device import to_host
from .._validation import check_int, check_real
from ..datasets.encoding import ALPHABETS
from ..models.cnn import CNNClassifier, CNNRegressor
from ..nn import Conv1D
from ._adapter import Explained
from ._files import write_atomic as _write_atomic

__all__ = ["Motif", "filter_motifs", "compare_motifs", "write_meme", "read_meme",
           "write_jaspar", "read_jaspar"]

_DNA = ALPHABETS["dna"][0]
_RNA = ALPHABETS["rna"][0]
_PROTEIN = ALPHABETS["protein"][0]
#: Alphabets a motif may use, the ones MEME names, in channel order.
KNOWN_ALPHABETS = (_DNA, _RNA, _PROTEIN)


class Motif:
    """A sequence motif: a position probability matrix and where it came from.

    Parameters
    ----------
    name : str
        An identifier without whitespace (it is the first word of a MEME ``MOTIF`` line).
    pwm : array (K, A)
        ``pwm[j, a]``: probability of letter ``a`` at column ``j``; each row sums to 1
        (rows are renormalised; a tolerance of 1e-3 covers rounded file values).
    counts : array (K, A), optional
        Letter counts the PWM came from (None: unknown).
    n_sites : int, optional
        Number of sites (subsequences) behind the counts.
    alphabet : str, default "ACGT"
        The letters of the columns, in order: ``"ACGT"``, ``"ACGU"`` or the 20 amino
        acids of :data:`deepbio.datasets.ALPHABETS`.
    filter : int, optional
        The convolution filter it was read from (:func:`filter_motifs`).

    Attributes
    ----------
    column_ic : (K,) float64
        Information content of each column in bits, ``log2 A + sum_a p log2 p``.
    information_content : float
        Their sum.
    consensus : str
        The most probable letter of each column.
    """

    def __init__(self, name, pwm, counts=None, n_sites=None, alphabet=_DNA, filter=None):
        if not isinstance(name, str) or not name or any(c.isspace() for c in name):
            raise ValueError(f"name must be a non-empty string without whitespace, got "
                             f"{name!r}")
        if alphabet not in KNOWN_ALPHABETS:
            raise ValueError(f"alphabet must be one of {KNOWN_ALPHABETS}, got {alphabet!r}")
        pwm = _matrix("pwm", pwm, len(alphabet))
        sums = pwm.sum(axis=1)
        if not np.allclose(sums, 1.0, atol=1e-3):
            raise ValueError(f"pwm rows must sum to 1 (probabilities over {alphabet}); row "
                             f"{int(np.argmax(np.abs(sums - 1)))} sums to "
                             f"{sums[np.argmax(np.abs(sums - 1))]:.6g}")
        self.name = name
        self.pwm = pwm / sums[:, None]
        self.counts = None if counts is None else _matrix("counts", counts, len(alphabet))
        if self.counts is not None and self.counts.shape != self.pwm.shape:
            raise ValueError(f"counts must be shaped like pwm {self.pwm.shape}, got "
                             f"{self.counts.shape}")
        self.n_sites = None if n_sites is None else check_int("n_sites", n_sites, low=0)
        self.alphabet = alphabet
        self.filter = None if filter is None else check_int("filter", filter, low=0)

    @property
    def length(self):
        return int(self.pwm.shape[0])

    @property
    def column_ic(self):
        p = self.pwm
        with np.errstate(divide="ignore", invalid="ignore"):
            plogp = np.where(p > 0, p * np.log2(np.where(p > 0, p, 1.0)), 0.0)
        return math.log2(len(self.alphabet)) + plogp.sum(axis=1)

    @property
    def information_content(self):
        return float(self.column_ic.sum())

    @property
    def consensus(self):
        return "".join(self.alphabet[i] for i in self.pwm.argmax(axis=1))

    def reverse_complement(self):
        """The motif of the other strand (DNA / RNA only): columns and letters reversed
        (``A C G T`` -> ``T G C A``)."""
        if self.alphabet == _PROTEIN:
            raise ValueError("a protein motif has no reverse complement")
        counts = None if self.counts is None else self.counts[::-1, ::-1].copy()
        return Motif(self.name, self.pwm[::-1, ::-1].copy(), counts, self.n_sites,
                     self.alphabet, self.filter)

    def __repr__(self):
        return (f"Motif({self.name!r}, length={self.length}, consensus={self.consensus!r}, "
                f"n_sites={self.n_sites}, information_content="
                f"{self.information_content:.2f} bits)")


def _matrix(name, a, width):
    """A finite non-negative float64 (K, width) array, K >= 1; ValueError otherwise."""
    try:
        a = np.array(a, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a (length, {width}) array of numbers") from None
    if a.ndim != 2 or a.shape[1] != width or a.shape[0] < 1:
        raise ValueError(f"{name} must have shape (length, {width}) (one column per letter), "
                         f"got {a.shape}")
    if not np.isfinite(a).all() or (a < 0).any():
        raise ValueError(f"{name} must be finite and non-negative")
    return a


def _alphabet_for(size, alphabet):
    if alphabet is not None:
        if alphabet not in KNOWN_ALPHABETS:
            raise ValueError(f"alphabet must be one of {KNOWN_ALPHABETS}, got {alphabet!r}")
        if len(alphabet) != size:
            raise ValueError(f"alphabet {alphabet!r} has {len(alphabet)} letters, but the "
                             f"model was fitted on {size} channels")
        return alphabet
    for letters in (_DNA, _PROTEIN):
        if len(letters) == size:
            return letters
    raise ValueError(f"the model was fitted on {size} channels per position, which is no "
                     f"known alphabet (4: DNA, 20: protein); pass alphabet=")


# ------------------------------------------------------------------ filter motifs


def filter_motifs(model, X, mask=None, top=100, threshold=0.5, pseudocount=1.0,
                  alphabet=None, batch_size=256):
    """One :class:`Motif` per first-layer convolution filter of a sequence CNN.

    For filter ``f`` the activation ``h_f(n, o)`` (after the layer's non-linearity, zero
    beyond each sequence's real outputs) is computed on every sequence ``n``; each
    sequence contributes its best window ``o_n = argmax_o h_f(n, o)``, if that
    activation exceeds ``threshold`` times the filter's largest activation on the data
    set (Basset's rule) and is positive; of those, the ``top`` strongest are the sites.
    The letters of each site's input window (``kernel_size`` positions starting at
    ``o_n stride - padding``; positions outside the real sequence count for nothing) are
    summed into ``counts`` (K, A), and ``pwm[j] = (counts[j] + pseudocount / A) /
    (sum_a counts[j, a] + pseudocount)``.

    Parameters
    ----------
    model : fitted CNNClassifier or CNNRegressor on sequences
    X : (N, L, A) one-hot sequences, with ``mask`` (N, L) when end-padded
    top : int >= 1, default=100
        Most sites per filter.
    threshold : float in [0, 1], default=0.5
        Fraction of the filter's largest activation a site must exceed.
    pseudocount : float >= 0, default=1.0
        Spread uniformly over the letters of each column.
    alphabet : str, optional
        Column letters; default ``"ACGT"`` for 4 channels, the amino acids for 20.
    batch_size : int >= 1, default=256

    Returns
    -------
    list of Motif
        In filter order (``motif.filter``), named ``"filter<i>"``; a filter that no
        sequence activates has ``n_sites == 0`` and a uniform PWM.
    """
    if not isinstance(model, (CNNClassifier, CNNRegressor)):
        raise TypeError(f"model must be a fitted CNNClassifier or CNNRegressor on sequences, "
                        f"got {type(model).__name__}")
    ex = Explained(model)
    if ex.kind != "sequence":
        raise ValueError(f"filter_motifs reads 1-d convolution filters: the "
                         f"{type(model).__name__} was fitted on images")
    top = check_int("top", top, low=1)
    threshold = check_real("threshold", threshold, 0.0, 1.0)
    pseudocount = check_real("pseudocount", pseudocount, low=0.0)
    batch_size = check_int("batch_size", batch_size, low=1)
    Xv, m = ex.validate(X, mask)
    letters = _alphabet_for(Xv.shape[2], alphabet)
    net = ex.net
    first = next(i for i, layer in enumerate(net.layers) if isinstance(layer, Conv1D))
    conv = net.layers[first]
    k, stride, pad = conv.kernel_size, conv.stride, conv.padding
    best_val, best_pos = [], []
    for s in range(0, Xv.shape[0], batch_size):
        a = ex.net_input(Xv[s:s + batch_size], m[s:s + batch_size])
        for layer in net.layers[:first + 1]:
            a = layer.forward(a, train=False)
        h = np.asarray(to_host(a), dtype=np.float64)          # (n, F, OL)
        best_pos.append(h.argmax(axis=2))
        best_val.append(h.max(axis=2))
    best_val = np.concatenate(best_val)                       # (N, F)
    best_pos = np.concatenate(best_pos)
    N, L, A = Xv.shape
    motifs = []
    for f in range(best_val.shape[1]):
        v = best_val[:, f]
        peak = v.max()
        keep = np.flatnonzero((v > 0) & (v > threshold * peak)) if peak > 0 else \
            np.zeros(0, dtype=np.int64)
        keep = keep[np.argsort(-v[keep], kind="stable")][:top]
        counts = np.zeros((k, A))
        for n in keep:
            start = int(best_pos[n, f]) * stride - pad
            for j in range(k):
                p = start + j
                if 0 <= p < L and m[n, p] > 0:
                    counts[j] += Xv[n, p]
        col = counts.sum(axis=1, keepdims=True)
        denom = col + pseudocount
        pwm = np.where(denom > 0, (counts + pseudocount / A) / np.where(denom > 0, denom, 1),
                       1.0 / A)
        motifs.append(Motif(f"filter{f}", pwm, counts, len(keep), letters, f))
    return motifs


# ------------------------------------------------------------------ comparison


def _as_motif_matrix(name, a):
    if isinstance(a, Motif):
        return a.pwm, a.alphabet
    pwm = _matrix(name, a, np.shape(a)[1] if np.ndim(a) == 2 else 4)
    return pwm, (_DNA if pwm.shape[1] == 4 else None)


def compare_motifs(a, b, min_overlap=None):
    """The best Pearson correlation of motifs ``a`` and ``b`` over alignments.

    For every strand of ``b`` (``"+"``; ``"-"``, its reverse complement, for DNA / RNA)
    and every offset ``o`` (column ``i`` of ``a`` against column ``i - o`` of ``b``) with
    at least ``min_overlap`` aligned columns, the Pearson correlation of the aligned
    entries of the two PWMs (all ``overlap x A`` probabilities at once) is computed; the
    best wins.

    Parameters
    ----------
    a, b : Motif or (K, A) arrays (rows: probabilities over the letters; 4 letters are
        taken as A, C, G, T)
    min_overlap : int in [1, shorter length], optional
        Fewest aligned columns.  Default: three quarters of the shorter motif (rounded
        up), so a filter that caught all but the edge of a motif still matches it
        (a first-layer filter often holds a motif shifted against its window), while a
        few columns alone cannot; pass the shorter length to ask for containment.

    Returns
    -------
    (correlation, offset, strand) : (float, int, str)
        ``offset``: the column of ``a`` where column 0 of ``b`` (on ``strand``) lies (may
        be negative).  An alignment whose entries are all equal on one side has
        correlation 0.
    """
    pa, alpha_a = _as_motif_matrix("a", a)
    pb, alpha_b = _as_motif_matrix("b", b)
    if pa.shape[1] != pb.shape[1]:
        raise ValueError(f"a and b have different alphabets ({pa.shape[1]} and "
                         f"{pb.shape[1]} letters)")
    if alpha_a and alpha_b and alpha_a != alpha_b:
        raise ValueError(f"a and b have different alphabets ({alpha_a} and {alpha_b})")
    la, lb = pa.shape[0], pb.shape[0]
    shorter = min(la, lb)
    min_overlap = (max(1, math.ceil(0.75 * shorter)) if min_overlap is None
                   else check_int("min_overlap", min_overlap, low=1, high=shorter))
    strands = [("+", pb)]
    if pa.shape[1] == 4:                    # DNA / RNA: the other strand too
        strands.append(("-", pb[::-1, ::-1]))
    best = (-np.inf, 0, "+")
    for strand, q in strands:
        for offset in range(min_overlap - lb, la - min_overlap + 1):
            i0, i1 = max(0, offset), min(la, offset + lb)
            x = pa[i0:i1].ravel()
            y = q[i0 - offset:i1 - offset].ravel()
            x = x - x.mean()
            y = y - y.mean()
            den = math.sqrt(float(x @ x) * float(y @ y))
            r = float(x @ y) / den if den > 1e-300 else 0.0
            if r > best[0]:
                best = (r, int(offset), strand)
    return best


# ------------------------------------------------------------------ files


def _check_motifs(motifs):
    motifs = list(motifs) if not isinstance(motifs, Motif) else [motifs]
    if not motifs:
        raise ValueError("motifs must hold at least one Motif")
    for i, mo in enumerate(motifs):
        if not isinstance(mo, Motif):
            raise TypeError(f"motifs[{i}] must be a deepbio.explain.Motif, got "
                            f"{type(mo).__name__}")
    if len({mo.alphabet for mo in motifs}) > 1:
        raise ValueError("motifs must share one alphabet to go in one file")
    return motifs


def write_meme(motifs, path, background=None):
    """Write ``motifs`` to ``path`` in MEME minimal motif format (version 4), atomically.

    ``background``: letter frequencies (A,) for the header (default uniform).  Each motif
    is ``MOTIF <name> <consensus>`` and a ``letter-probability matrix`` with its width
    and ``nsites`` (0 when unknown).  Returns ``path``.
    """
    motifs = _check_motifs(motifs)
    letters = motifs[0].alphabet
    A = len(letters)
    if background is None:
        bg = np.full(A, 1.0 / A)
    else:
        bg = np.asarray(background, dtype=np.float64)
        if bg.shape != (A,) or not np.isfinite(bg).all() or (bg < 0).any() \
                or not np.isclose(bg.sum(), 1.0):
            raise ValueError(f"background must be {A} non-negative frequencies summing to 1 "
                             f"(letters {letters}), got {background!r}")
    lines = ["MEME version 4", "", f"ALPHABET= {letters}", ""]
    if letters != _PROTEIN:
        lines += ["strands: + -", ""]
    lines += ["Background letter frequencies",
              " ".join(f"{c} {p:.6f}" for c, p in zip(letters, bg)), ""]
    for mo in motifs:
        lines.append(f"MOTIF {mo.name} {mo.consensus}")
        lines.append(f"letter-probability matrix: alength= {A} w= {mo.length} nsites= "
                     f"{mo.n_sites or 0} E= 0")
        lines += [" " + " ".join(f"{p:.6f}" for p in row) for row in mo.pwm]
        lines.append("")
    return _write_atomic(path, "\n".join(lines), "MEME")


_MATRIX_LINE = re.compile(r"letter-probability matrix:(.*)")


def read_meme(path):
    """The motifs of a MEME (minimal or full text) file, as a list of :class:`Motif`.

    The alphabet comes from the ``ALPHABET=`` line (default ``ACGT``); ``counts`` are
    ``pwm * nsites`` when ``nsites`` is given.  ValueError (naming the file and line) on
    a malformed matrix.
    """
    with open(path, encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    letters = _DNA
    motifs, name, i = [], None, 0
    while i < len(lines):
        line = lines[i].strip()
        if line.startswith("ALPHABET="):
            letters = line.split("=", 1)[1].strip()
            if letters not in KNOWN_ALPHABETS:
                raise ValueError(f"{path}: line {i + 1}: unsupported alphabet {letters!r}")
        elif line.startswith("MOTIF"):
            parts = line.split()
            if len(parts) < 2:
                raise ValueError(f"{path}: line {i + 1}: MOTIF without a name")
            name = parts[1]
        elif _MATRIX_LINE.match(line):
            if name is None:
                raise ValueError(f"{path}: line {i + 1}: a matrix before any MOTIF line")
            fields = dict(re.findall(r"(\w+)=\s*(\S+)", line))
            try:
                w = int(fields["w"])
                nsites = int(float(fields.get("nsites", 0)))
            except (KeyError, ValueError):
                raise ValueError(f"{path}: line {i + 1}: the matrix line must give w= "
                                 f"(and nsites= as a number)") from None
            rows = []
            for j in range(w):
                k = i + 1 + j
                try:
                    rows.append([float(x) for x in lines[k].split()])
                except (IndexError, ValueError):
                    raise ValueError(f"{path}: line {k + 1}: expected row {j + 1} of {w} of "
                                     f"the matrix of {name}") from None
            try:
                pwm = _matrix("pwm", rows, len(letters))
                motif = Motif(name, pwm, pwm * nsites if nsites else None,
                              nsites if nsites else None, letters)
            except ValueError as e:
                raise ValueError(f"{path}: motif {name}: {e}") from None
            motifs.append(motif)
            name = None
            i += w
        i += 1
    return motifs


def write_jaspar(motifs, path):
    """Write DNA ``motifs`` to ``path`` in JASPAR count-matrix format, atomically.

    Each motif is ``>name consensus`` and four rows ``A  [ c1 c2 ... ]`` (C, G, T) of
    letter counts: ``counts`` (integers when they are whole), or, for a motif without
    counts, ``pwm * n_sites`` (``pwm * 100`` when ``n_sites`` is unknown or 0).
    Returns ``path``.
    """
    motifs = _check_motifs(motifs)
    if motifs[0].alphabet != _DNA:
        raise ValueError(f"JASPAR files hold DNA motifs (A, C, G, T); these use "
                         f"{motifs[0].alphabet!r}")
    lines = []
    for mo in motifs:
        counts = mo.counts if mo.counts is not None else mo.pwm * (mo.n_sites or 100)
        whole = np.allclose(counts, np.round(counts))
        lines.append(f">{mo.name} {mo.consensus}")
        for a, letter in enumerate(_DNA):
            cells = " ".join(f"{int(round(c)):6d}" if whole else f"{c:10.4f}"
                             for c in counts[:, a])
            lines.append(f"{letter}  [ {cells} ]")
    return _write_atomic(path, "\n".join(lines) + "\n", "JASPAR")


def read_jaspar(path):
    """The motifs of a JASPAR count-matrix file (``>id name`` then A, C, G, T rows, with
    or without brackets), as :class:`Motif` with ``counts``, ``pwm = counts / column
    total`` and ``n_sites`` the largest column total."""
    with open(path, encoding="utf-8") as fh:
        lines = [ln.strip() for ln in fh.read().splitlines()]
    motifs, i = [], 0
    while i < len(lines):
        line = lines[i]
        if not line:
            i += 1
            continue
        if not line.startswith(">"):
            raise ValueError(f"{path}: line {i + 1}: expected a '>' header, got {line!r}")
        name = line[1:].split()[0] if line[1:].split() else ""
        rows = {}
        for j in range(4):
            k = i + 1 + j
            body = lines[k] if k < len(lines) else ""
            letter, _, rest = body.partition(" ")
            if len(letter) != 1 or letter not in _DNA or letter in rows:
                raise ValueError(f"{path}: line {k + 1}: expected the row of one of "
                                 f"A, C, G, T for {name!r}, got {body!r}")
            try:
                rows[letter] = [float(x) for x in rest.replace("[", " ").replace("]", " ")
                                .split()]
            except ValueError:
                raise ValueError(f"{path}: line {k + 1}: counts must be numbers") from None
        if len({len(r) for r in rows.values()}) != 1:
            raise ValueError(f"{path}: motif {name!r}: the four rows differ in length")
        try:
            counts = _matrix("counts", np.array([rows[c] for c in _DNA]).T, 4)
            total = counts.sum(axis=1, keepdims=True)
            pwm = np.where(total > 0, counts / np.where(total > 0, total, 1), 0.25)
            motifs.append(Motif(name, pwm, counts, int(round(total.max())), _DNA))
        except ValueError as e:
            raise ValueError(f"{path}: motif {name!r}: {e}") from None
        i += 5
    return motifs
