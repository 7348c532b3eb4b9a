"""Sequence logos (motifs, PWMs, convolution filters) and per-position saliency tracks."""
import math

import numpy as np

from ._mpl import new_axes, new_figure, require_matplotlib

__all__ = ["sequence_logo", "filter_logos", "saliency_track", "LETTER_COLORS"]

#: The usual nucleotide colours (A green, C blue, G orange, T / U red); amino acids by
#: chemistry (hydrophobic, polar, basic, acidic, special).
LETTER_COLORS = {"A": "#109648", "C": "#255C99", "G": "#F7B32B", "T": "#D62839",
                 "U": "#D62839"}
_PROTEIN_COLORS = {**{a: "#333333" for a in "AVLIMFWP"}, **{a: "#109648" for a in "STYNQGC"},
                   **{a: "#255C99" for a in "KRH"}, **{a: "#D62839" for a in "DE"}}
_NUCLEOTIDES = set("ACGTU")

_glyphs = {}


def _color(letter, alphabet):
    if set(alphabet) <= _NUCLEOTIDES:
        return LETTER_COLORS.get(letter, "0.3")
    return _PROTEIN_COLORS.get(letter, "0.3")


def _glyph(letter):
    """The outline of ``letter`` in bold DejaVu Sans, and its bounding box."""
    if letter not in _glyphs:
        from matplotlib.font_manager import FontProperties
        from matplotlib.textpath import TextPath
        path = TextPath((0, 0), letter, size=1,
                        prop=FontProperties(family="DejaVu Sans", weight="bold"))
        _glyphs[letter] = (path, path.get_extents())
    return _glyphs[letter]


def _draw_letter(ax, letter, x, bottom, height, color, width=0.9):
    """Letter ``letter`` stretched into the box ``[x - width/2, x + width/2] x [bottom,
    bottom + height]`` (a negative height draws it upside down below ``bottom``) as a
    PathPatch whose gid is the letter."""
    from matplotlib.patches import PathPatch
    from matplotlib.transforms import Affine2D
    path, box = _glyph(letter)
    t = (Affine2D().translate(-box.x0, -box.y0)
         .scale(width / box.width, height / box.height)
         .translate(x - width / 2, bottom))
    patch = PathPatch(t.transform_path(path), facecolor=color, edgecolor="none")
    patch.set_gid(letter)
    ax.add_patch(patch)
    return patch


def _pwm(pwm_or_motif, alphabet):
    from ..explain import Motif
    if isinstance(pwm_or_motif, Motif):
        return np.asarray(pwm_or_motif.pwm, dtype=np.float64), pwm_or_motif.alphabet, \
            pwm_or_motif.name
    try:
        P = np.asarray(pwm_or_motif, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError("pwm_or_motif must be a deepbio.explain.Motif or an array (L, A) "
                        f"of letter probabilities, got {type(pwm_or_motif).__name__}") \
            from None
    if not isinstance(alphabet, str) or len(set(alphabet)) != len(alphabet) or \
            len(alphabet) < 2:
        raise ValueError(f"alphabet must be a string of distinct letters, got {alphabet!r}")
    if P.ndim != 2 or P.shape[0] < 1 or P.shape[1] != len(alphabet):
        raise ValueError(f"pwm_or_motif must have shape (length, {len(alphabet)}) for the "
                         f"alphabet {alphabet!r}, got {P.shape}")
    if not np.isfinite(P).all() or (P < 0).any():
        raise ValueError("pwm_or_motif must hold finite, non-negative probabilities")
    sums = P.sum(axis=1)
    if np.any(np.abs(sums - 1) > 1e-3):
        bad = int(np.argmax(np.abs(sums - 1)))
        raise ValueError(f"pwm_or_motif: each row must sum to 1 (probabilities); row {bad} "
                         f"sums to {sums[bad]:.4g}")
    return P / sums[:, None], alphabet, None


def sequence_logo(pwm_or_motif, ax=None, alphabet="ACGT", information=True, title=None):
    """A sequence logo: at each column the letters stacked, the most probable on top.

    ``pwm_or_motif``: a :class:`deepbio.explain.Motif` (its ``alphabet`` is used) or an
    array (L, A) whose rows are letter probabilities in the order of ``alphabet``.
    ``information=True``: letter height = probability x the column's information
    content ``log2 A + sum_a p log2 p`` (bits, y axis up to ``log2 A``); False: the
    probability itself.  Each letter is a PathPatch (gid = the letter).  Returns the Axes.
    """
    require_matplotlib()
    P, alphabet, name = _pwm(pwm_or_motif, alphabet)
    L, A = P.shape
    if information:
        with np.errstate(divide="ignore", invalid="ignore"):
            plogp = np.where(P > 0, P * np.log2(P), 0.0)
        heights = P * (math.log2(A) + plogp.sum(axis=1))[:, None]
    else:
        heights = P
    ax = new_axes(ax, (max(3.0, 0.45 * L + 1), 2.2))
    for j in range(L):
        bottom = 0.0
        for a in np.argsort(heights[j], kind="stable"):
            if heights[j, a] > 1e-6:
                _draw_letter(ax, alphabet[a], j + 1, bottom, heights[j, a],
                             _color(alphabet[a], alphabet))
                bottom += heights[j, a]
    ax.set_xlim(0.5, L + 0.5)
    ax.set_ylim(0, math.log2(A) if information else 1.0)
    ax.set_xticks(range(1, L + 1))
    ax.set_xlabel("position")
    ax.set_ylabel("bits" if information else "probability")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if title is None and name is not None:
        title = name
    if title:
        ax.set_title(title)
    return ax


def logo_grid_size(motifs, ncols=4):
    """The figure size (inches) :func:`filter_logos` gives ``motifs`` in ``ncols``
    columns (for a Figure made outside pyplot)."""
    ncols = max(1, min(int(ncols), len(motifs)))
    width = max(len(m.pwm) for m in motifs)
    return (ncols * max(2.5, 0.3 * width + 0.8), 1.9 * math.ceil(len(motifs) / ncols))


def filter_logos(model_or_motifs, X=None, mask=None, fig=None, ncols=4, top=100,
                 information=True, alphabet=None):
    """The logo of every first-layer convolution filter of a sequence CNN, read by
    :func:`deepbio.explain.filter_motifs` on ``X`` (``mask``, ``top``, ``alphabet`` go
    to it), or of a given list of Motifs, in a grid of ``ncols`` columns.  A filter with
    no site is drawn empty, titled so.  Returns the Figure: ``fig`` (cleared; its size is
    kept, see :func:`logo_grid_size`) or a new pyplot figure."""
    from ..explain import Motif, filter_motifs
    if isinstance(model_or_motifs, (list, tuple)):
        motifs = list(model_or_motifs)
        if not motifs or not all(isinstance(m, Motif) for m in motifs):
            raise TypeError("model_or_motifs: a list must hold deepbio.explain.Motif "
                            "objects (at least one)")
    else:
        if X is None:
            raise ValueError("X: the sequences to read the filters' motifs from are needed "
                             "with a model (or pass a list of Motifs)")
        motifs = filter_motifs(model_or_motifs, X, mask=mask, top=top, alphabet=alphabet)
    if isinstance(ncols, bool) or not isinstance(ncols, (int, np.integer)) or ncols < 1:
        raise ValueError(f"ncols must be a positive int, got {ncols!r}")
    ncols = min(int(ncols), len(motifs))
    nrows = math.ceil(len(motifs) / ncols)
    fig = new_figure(fig, logo_grid_size(motifs, ncols))
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for ax, m in zip(axes, motifs):
        label = f"{m.name}: {m.n_sites} sites" if m.n_sites is not None else m.name
        if m.n_sites == 0:
            ax.set_title(f"{m.name}: no site")
            ax.set_xticks([])
            ax.set_yticks([])
            continue
        sequence_logo(m, ax=ax, information=information, title=label)
    for ax in axes[len(motifs):]:
        ax.set_axis_off()
    fig.tight_layout()
    return fig


def _one_hot_letters(S, alphabet, L):
    """The letter of each one-hot row; None for an all-zero row (padding, a gap) and
    ``"?"`` for a row that is no single letter (an ambiguity code's soft row)."""
    if S.shape != (L, len(alphabet)):
        raise ValueError(f"sequence: a one-hot sequence must have the attributions' shape "
                         f"{(L, len(alphabet))}, got {S.shape}")
    letters = []
    for row in S:
        if row.max() <= 0:
            letters.append(None)
        elif row.max() >= 0.5:
            letters.append(alphabet[int(np.argmax(row))])
        else:
            letters.append("?")
    return letters


def saliency_track(attributions_row, sequence=None, ax=None, mask=None, alphabet="ACGT",
                   title=None):
    """Per-position attribution along one sequence, padding cut off.

    Parameters
    ----------
    attributions_row : array (L, A) or (L,)
        One sequence's attributions (a row of :func:`deepbio.explain.attributions`).
        (L, A) is summed over the letters: for gradient x input and integrated gradients
        from the zero baseline that is the attribution of the letter present; for ISM,
        the total effect of the mutations at a position.
    sequence : str or array (L, A), optional
        The sequence (text, or its one-hot rows).  With it the track is drawn as letters
        whose signed heights are the per-position scores (upside down when negative);
        without it, as bars (red positive, blue negative).  A soft one-hot row (an
        ambiguity code, no letter at 0.5 or more) is drawn as a grey bar.
    mask : bool array (L,), optional
        Real positions; the others (padding) are cut off.  Without a mask, positions past
        a text ``sequence``'s length, or the trailing all-zero rows of a one-hot one, are.
    alphabet : str, default "ACGT"
        Letters of the one-hot columns.

    Returns
    -------
    matplotlib.axes.Axes
        The Axes (x axis: positions 1..n of the real sequence).
    """
    require_matplotlib()
    A = np.asarray(attributions_row, dtype=np.float64)
    if A.ndim not in (1, 2) or A.shape[0] < 1:
        raise ValueError("attributions_row must be one sequence's attributions, (L, A) or "
                         f"(L,), got shape {A.shape} (index a row of the batch)")
    if not np.isfinite(A).all():
        raise ValueError("attributions_row must be finite")
    L = A.shape[0]
    score = A.sum(axis=1) if A.ndim == 2 else A
    letters = None
    n = L
    if sequence is not None:
        if isinstance(sequence, str):
            if len(sequence) > L:
                raise ValueError(f"sequence has {len(sequence)} letters but "
                                 f"attributions_row has {L} positions")
            letters = list(sequence.upper()) + [None] * (L - len(sequence))
            n = len(sequence)
        else:
            letters = _one_hot_letters(np.asarray(sequence, dtype=np.float64), alphabet, L)
            real = [i for i, c in enumerate(letters) if c is not None]
            n = real[-1] + 1 if real else 0
    if mask is not None:
        m = np.asarray(mask)
        if m.shape != (L,):
            raise ValueError(f"mask must be a bool array of shape ({L},), got {m.shape}")
        keep = m.astype(bool)
    else:
        keep = np.arange(L) < n
    idx = np.flatnonzero(keep)
    if len(idx) == 0:
        raise ValueError("mask: no real position to draw (all padding)")
    s = score[idx]
    x = np.arange(1, len(idx) + 1)
    ax = new_axes(ax, (max(4.0, 0.12 * len(idx) + 1.5), 2.2))
    if letters is None:
        ax.bar(x, s, width=0.85, color=np.where(s >= 0, "#D62839", "#255C99"))
    else:
        for xi, i in zip(x, idx):
            c = letters[i]
            if c == "?" or (c is None and s[xi - 1] != 0):    # no single letter: a bar
                ax.bar([xi], [s[xi - 1]], width=0.85, color="0.6")
            elif c is not None and s[xi - 1] != 0:
                _draw_letter(ax, c, xi, 0.0, s[xi - 1], _color(c, alphabet))
        ax.set_xlim(0.5, len(idx) + 0.5)
        lim = np.abs(s).max()
        ax.set_ylim(min(0.0, s.min()) - 0.05 * lim, max(0.0, s.max()) + 0.05 * lim
                    if lim > 0 else 1.0)
    ax.axhline(0, color="0.5", lw=0.6)
    ax.set_xlabel("position")
    ax.set_ylabel("attribution")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if title:
        ax.set_title(title)
    return ax
