"""Synthetic data with known answers, for tests, demos and teaching.

Every generator takes ``random_state`` (None, an int or a ``numpy.random.Generator``;
resolved by :func:`deepbio._validation.check_random_state`), so the same seed gives the
same data.

- :func:`make_expression` -- a log-expression matrix with known subtypes, marker genes,
  co-expression modules and library-size effects (samples x genes).
- :func:`make_motif_sequences` -- DNA where positives carry a planted motif (a CNN task).
- :func:`make_long_range_sequences` -- one-hot symbols labelled by the first one (an
  RNN memory task).
- :func:`make_addition_problem` -- the addition problem of Hochreiter & Schmidhuber
  (1997) for RNNs.
- the other pathological long-range problems of Martens & Sutskever (2011):
  :func:`make_multiplication_problem`, :func:`make_xor_problem`,
  :func:`make_temporal_order_problem` (2 or 3 symbols),
  :func:`make_random_permutation_problem`, :func:`make_memorization_problem`; their
  success rules in :func:`pathological_error` / :func:`pathological_success`.
"""

import math

import numpy as np

from .._validation import check_float_dtype, check_int, check_random_state, check_real
from ._base import Bunch
from .encoding import one_hot

__all__ = ["make_expression", "make_motif_sequences", "make_long_range_sequences",
           "make_addition_problem", "make_multiplication_problem", "make_xor_problem",
           "make_temporal_order_problem", "make_random_permutation_problem",
           "make_memorization_problem", "pathological_error", "pathological_success",
           "PATHOLOGICAL_PROBLEMS"]


# ---------------------------------------------------------------------------
# Expression matrices
# ---------------------------------------------------------------------------


def make_expression(n_samples=200, n_genes=500, n_subtypes=3, n_markers=20, noise=1.0,
                    n_modules=10, module_size=20, effect_size=2.0, library_sd=0.5,
                    random_state=None, return_bunch=False):
    """Simulate a log-scale expression matrix with known subtypes.

    Generative model, for sample ``i`` of subtype ``k = y[i]`` and gene ``g``::

        X[i, g] = mu[g]                              gene baseline
                + s[i]                               library-size offset
                + delta[k, g]                        subtype marker effect
                + w[g] * f[i, m(g)]                  co-expression module
                + noise * eps[i, g]                  measurement noise

    - ``mu[g] ~ Normal(6, 2)``: baseline log2 expression of each gene.
    - ``s[i] ~ Normal(0, library_sd)``: a per-sample shift shared by all genes,
      like a log library size / sequencing depth.
    - Subtype markers: ``n_markers`` distinct genes per subtype (disjoint
      between subtypes, chosen at random). For a marker ``g`` of subtype
      ``k``, ``delta[k, g] = sign * effect_size * u`` with ``sign`` = +1 or -1
      with equal probability and ``u ~ Uniform(0.5, 1.5)``; ``delta`` is zero
      elsewhere. So each subtype up- or down-regulates its own markers.
    - Modules: ``n_modules`` groups of ``module_size`` genes (drawn from the
      non-marker genes, disjoint) share a latent factor ``f[i, m] ~ Normal(0,
      1)`` with loadings ``w[g] ~ Uniform(0.5, 1.5)``; genes outside modules
      have ``w = 0``. Module genes are correlated across samples independently
      of subtype.
    - ``eps[i, g] ~ Normal(0, 1)``.

    Subtype labels are balanced: ``y`` is a random permutation of
    ``0, 1, ..., n_subtypes - 1`` repeated (sizes differ by at most one).

    Parameters
    ----------
    n_samples : int, default=200
        Rows; must be >= ``n_subtypes``.
    n_genes : int, default=500
        Columns; must be >= ``n_subtypes * n_markers``.
    n_subtypes : int, default=3
        Number of classes (>= 1).
    n_markers : int, default=20
        Marker genes per subtype (>= 0).
    noise : float, default=1.0
        Standard deviation of the measurement noise (>= 0).
    n_modules : int, default=10
        Number of co-expression modules (>= 0). Fewer are made, and smaller,
        when too few non-marker genes are left.
    module_size : int, default=20
        Genes per module (>= 1).
    effect_size : float, default=2.0
        Typical absolute marker effect on the log scale (>= 0).
    library_sd : float, default=0.5
        Standard deviation of the per-sample offset (>= 0).
    random_state : None, int or numpy.random.Generator, default=None
        Seed; the same seed gives the same data.
    return_bunch : bool, default=False
        Return a :class:`Bunch` with the ground truth instead of ``(X, y)``.

    Returns
    -------
    X : ndarray of shape (n_samples, n_genes), float64
        Log-scale expression, samples x genes.
    y : ndarray of shape (n_samples,), int64
        Subtype labels ``0 .. n_subtypes - 1``.
    bunch : Bunch
        If ``return_bunch``: keys ``data`` (= X), ``target`` (= y),
        ``feature_names`` (gene names ``"GENE0001"``, ...), ``target_names``
        (``"subtype0"``, ...), ``markers`` (int64 (n_subtypes, n_markers),
        column indices of each subtype's markers), ``effects`` (float64
        (n_subtypes, n_genes), ``delta`` above), ``modules`` (list of int64
        arrays of column indices), ``library_size`` (float64 (n_samples,),
        ``s`` above).

    Examples
    --------
    >>> from deepbio.datasets import make_expression
    >>> X, y = make_expression(n_samples=60, n_genes=100, random_state=0)
    >>> X.shape, y.shape, X.dtype, y.dtype
    ((60, 100), (60,), dtype('float64'), dtype('int64'))
    >>> sim = make_expression(n_samples=60, n_genes=100, return_bunch=True,
    ...                       random_state=0)
    >>> sim.markers.shape, sim.feature_names[0]
    ((3, 20), 'GENE0001')
    """
    n_subtypes = check_int("n_subtypes", n_subtypes, low=1)
    n_samples = check_int("n_samples", n_samples, low=n_subtypes)
    n_markers = check_int("n_markers", n_markers, low=0)
    n_genes = check_int("n_genes", n_genes, low=max(1, n_subtypes * n_markers))
    noise = check_real("noise", noise, low=0.0)
    n_modules = check_int("n_modules", n_modules, low=0)
    module_size = check_int("module_size", module_size, low=1)
    effect_size = check_real("effect_size", effect_size, low=0.0)
    library_sd = check_real("library_sd", library_sd, low=0.0)
    rng = check_random_state(random_state)

    y = rng.permutation(np.arange(n_samples) % n_subtypes).astype(np.int64)

    genes = rng.permutation(n_genes)
    n_mark_total = n_subtypes * n_markers
    markers = genes[:n_mark_total].reshape(n_subtypes, n_markers).astype(np.int64)
    rest = genes[n_mark_total:]

    effects = np.zeros((n_subtypes, n_genes))
    signs = rng.choice(np.array([-1.0, 1.0]), size=(n_subtypes, n_markers))
    mags = rng.uniform(0.5, 1.5, size=(n_subtypes, n_markers))
    np.put_along_axis(effects, markers, signs * mags * effect_size, axis=1)

    modules = []
    size = min(module_size, len(rest))
    if n_modules and size:
        count = min(n_modules, len(rest) // size)
        modules = [np.sort(rest[m * size:(m + 1) * size]).astype(np.int64) for m in range(count)]

    mu = rng.normal(6.0, 2.0, size=n_genes)
    library = rng.normal(0.0, 1.0, size=n_samples) * library_sd
    X = mu[None, :] + library[:, None] + effects[y]
    if modules:
        factors = rng.normal(size=(n_samples, len(modules)))
        for m, cols in enumerate(modules):
            loadings = rng.uniform(0.5, 1.5, size=len(cols))
            X[:, cols] += factors[:, m:m + 1] * loadings[None, :]
    X += noise * rng.normal(size=(n_samples, n_genes))

    if not return_bunch:
        return X, y
    width = max(4, len(str(n_genes)))
    return Bunch(
        data=X,
        target=y,
        feature_names=[f"GENE{j + 1:0{width}d}" for j in range(n_genes)],
        target_names=[f"subtype{k}" for k in range(n_subtypes)],
        markers=markers,
        effects=effects,
        modules=modules,
        library_size=library,
    )


# ---------------------------------------------------------------------------
# Sequences
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
    n = check_int("n", n, low=1)
    length = check_int("length", length, low=1)
    frac_positive = check_real("frac_positive", frac_positive, 0.0, 1.0)
    mutation_rate = check_real("mutation_rate", mutation_rate, 0.0, 1.0)
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
    rng = check_random_state(random_state)

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
    n = check_int("n", n, low=1)
    length = check_int("length", length, low=2)
    n_symbols = check_int("n_symbols", n_symbols, low=2)
    dtype = check_float_dtype("dtype", dtype)
    rng = check_random_state(random_state)
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
    n = check_int("n", n, low=1)
    T = check_int("T", T, low=2)
    first_window = check_real("first_window", first_window, 0.0, 0.5, low_open=True)
    dtype = check_float_dtype("dtype", dtype)
    rng = check_random_state(random_state)
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


# ---------------------------------------------------------------------------
# The pathological long-range problems of Martens & Sutskever (2011)
# ---------------------------------------------------------------------------
#
# Hochreiter & Schmidhuber (1997) defined most of these; Martens & Sutskever (2011,
# section 6 and the supplementary material) used them to show that Hessian-free
# optimisation with structural damping trains RNNs on them.  The codings below follow
# the data generators that Martens & Sutskever released with their paper (the
# ``problems.py`` / ``utils.py`` of their HF-RNN code), in deepbio's conventions:
# sequence-major ``(N, T, D)`` arrays, a boolean ``mask`` (N, T) for variable-length
# problems, ``random_state``.  Every place where deepbio had to choose is said in the
# generator's docstring.  Positions scale with the nominal length ``T`` as in that code:
# ``p% of T`` means ``floor(p * T / 100)``, so ``T = 100`` gives the paper's problem
# exactly and ``T = 200`` its longer version.


def _pct(p, T):
    """``floor(p * T / 100)``: a position given in hundredths of the nominal length."""
    return (p * T) // 100


def _window(lo, hi, floor=1):
    """``[lo, hi)`` with ``lo >= floor`` and at least one position (short sequences)."""
    lo = max(lo, floor)
    return lo, max(hi, lo + 1)


def _readout_steps(n, lo, hi, rng):
    """Index of the last real step of each sequence, uniform in ``[lo, hi)``."""
    lo, hi = _window(lo, hi, 0)
    return rng.integers(lo, hi, size=n)


def _length_mask(last, length):
    """Boolean (N, length): True on steps ``0 .. last[i]``."""
    return np.arange(length)[None, :] <= last[:, None]


def _balanced_labels(n, n_classes, rng):
    """Labels ``0 .. n_classes - 1`` in equal numbers (sizes differ by at most one),
    in random order: what the released code gets from ``b % 2`` over a batch."""
    return rng.permutation(np.arange(n) % n_classes)


def _two_operand_problem(n, T, op, binary, length_pct, first_pct, second_pct, rng, dtype):
    """The shared generator of the addition-type problems (the released code's
    ``op_cls``): channel 0 values, channel 1 markers; see make_multiplication_problem."""
    last = _readout_steps(n, _pct(length_pct[0], T), _pct(length_pct[1], T), rng)
    length = int(last.max()) + 1
    if binary:
        values = (rng.random((n, length)) < 0.5).astype(np.float64)
    else:
        values = rng.random((n, length))
    a_lo, a_hi = _window(_pct(first_pct[0], T), _pct(first_pct[1], T))
    b_lo, b_hi = _window(max(_pct(second_pct[0], T), a_hi), _pct(second_pct[1], T))
    first = rng.integers(a_lo, a_hi, size=n)
    second = rng.integers(b_lo, b_hi, size=n)
    rows = np.arange(n)
    markers = np.zeros((n, length))
    markers[:, 0] = -1.0                      # the start of the sequence
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    markers[rows, last - 3] = -1.0            # "the answer is due in three steps"
    mask = _length_mask(last, length)
    values = values * mask                    # nothing after the end
    markers = markers * mask
    X = np.stack([values, markers], axis=-1).astype(dtype)
    target = op(X[rows, first, 0].astype(np.float64), X[rows, second, 0].astype(np.float64))
    return X, target, mask


def _check_T(T, low=10):
    return check_int("T", T, low=low)


def make_multiplication_problem(n=1000, T=100, random_state=None, dtype=np.float64):
    """The multiplication problem (Hochreiter & Schmidhuber 1997, experiment 5; Martens &
    Sutskever 2011), variable length.

    Coding (that of Martens & Sutskever's released generator, at nominal length ``T``):

    - each sequence has ``L`` real steps, ``L - 1`` (the read-out step) uniform in
      ``[T, 1.1 T)`` (``floor`` of both ends), padded to the longest in the batch;
      ``mask`` marks the real steps;
    - channel 0: values uniform in [0, 1) at every real step;
    - channel 1: markers: -1 at step 0, +1 at the two operand steps -- the first uniform
      in ``[max(1, 1% of T), 10% of T)``, the second in ``[10% of T, 50% of T)`` --
      -1 three steps before the read-out step (``L - 4``), 0 elsewhere (and on padding);
    - target ``y`` = the product of the two marked values, read out after the last real
      step.

    Success criterion (the released code's real-valued zero-one loss): a test sequence
    is predicted correctly when ``|prediction - y| <= 0.04``; see
    :func:`pathological_success`.  Predicting the constant mean (1/4) is right on about
    11 % of sequences (MAE about 0.18): the baseline to beat.

    Parameters
    ----------
    n : int, default=1000
    T : int >= 10, default=100
        Nominal length (the paper's ``T``); real lengths are ``T + 1 .. 1.1 T``.
    random_state : None, int or numpy.random.Generator, default=None
    dtype : floating dtype, default=numpy.float64

    Returns
    -------
    X : ndarray of shape (n, L_max, 2)
    y : ndarray of shape (n, 1), of ``dtype``
    mask : ndarray of shape (n, L_max), bool

    Notes
    -----
    deepbio's choices: the read-out happens after the last real step of the sequence (the
    estimators read the last state there), i.e. the released code's target index is the
    last real step; positions and lengths are drawn independently per sequence; short
    ``T`` (below 100) keep every window at least one step wide and the second operand
    after the first window.

    Examples
    --------
    >>> import numpy as np
    >>> from deepbio.datasets import make_multiplication_problem
    >>> X, y, mask = make_multiplication_problem(n=4, T=100, random_state=0)
    >>> X.shape[0], X.shape[2], y.shape, mask.shape == X.shape[:2]
    (4, 2, (4, 1), True)
    >>> marked = np.where(X[:, :, 1] == 1, X[:, :, 0], 1.0).prod(axis=1)
    >>> bool(np.allclose(marked, y[:, 0]))
    True
    """
    n = check_int("n", n, low=1)
    T = _check_T(T)
    dtype = check_float_dtype("dtype", dtype)
    rng = check_random_state(random_state)
    X, target, mask = _two_operand_problem(n, T, np.multiply, False, (100, 110), (1, 10),
                                           (10, 50), rng, dtype)
    return X, target[:, None].astype(dtype), mask


def make_xor_problem(n=1000, T=100, random_state=None, dtype=np.float64):
    """The XOR problem of Martens & Sutskever (2011): the exclusive or of two marked bits.

    Coding (their released generator, at nominal length ``T``; note that for this
    problem it makes the sequences *half* as long as ``T``):

    - ``L - 1`` (the read-out step) uniform in ``[50% of T, 55% of T)``; ``mask`` marks
      the real steps;
    - channel 0: random bits (0 or 1, probability 1/2) at every real step;
    - channel 1: markers as in :func:`make_multiplication_problem`: -1 at step 0, +1 at
      the two operand steps -- the first in ``[max(1, 1% of T), 10% of T)``, the second
      in ``[15% of T, 25% of T)`` -- and -1 at step ``L - 4``;
    - target: ``a XOR b`` of the two marked bits, an integer label 0 or 1 (the paper uses
      a logistic output with cross-entropy; a two-class :class:`deepbio.RNNClassifier`
      has the same loss).

    Success criterion: a sequence is right when the predicted probability of 1 is on the
    same side of 1/2 as the target (the released code's sign test on the logistic
    output's input); :func:`pathological_success`.  Chance: half right.

    Parameters
    ----------
    n : int, default=1000
    T : int >= 20, default=100
    random_state : None, int or numpy.random.Generator, default=None
    dtype : floating dtype, default=numpy.float64
        Of ``X``.

    Returns
    -------
    X : ndarray of shape (n, L_max, 2)
    y : ndarray of shape (n,), int64 in {0, 1}
    mask : ndarray of shape (n, L_max), bool

    Examples
    --------
    >>> from deepbio.datasets import make_xor_problem
    >>> X, y, mask = make_xor_problem(n=6, T=100, random_state=0)
    >>> X.shape[1] <= 55, sorted(set(y.tolist())) <= [0, 1]
    (True, True)
    """
    n = check_int("n", n, low=1)
    T = _check_T(T, 20)
    dtype = check_float_dtype("dtype", dtype)
    rng = check_random_state(random_state)
    X, target, mask = _two_operand_problem(
        n, T, lambda a, b: np.logical_xor(a > 0.5, b > 0.5), True, (50, 55), (1, 10),
        (15, 25), rng, dtype)
    return X, target.astype(np.int64), mask


#: Symbols of the temporal-order problems (one-hot channels): 0-3 distractors, then
TEMPORAL_X, TEMPORAL_Y, TEMPORAL_TRIGGER, TEMPORAL_START = 4, 5, 6, 7


def _temporal_order(n, T, windows, rng, dtype):
    n_sym = len(windows)
    labels = _balanced_labels(n, 2 ** n_sym, rng)
    last = _readout_steps(n, T, _pct(110, T), rng)
    length = int(last.max()) + 1
    codes = rng.integers(0, 4, size=(n, length))
    rows = np.arange(n)
    codes[:, 0] = TEMPORAL_START
    codes[rows, last] = TEMPORAL_TRIGGER
    floor = 1
    for k, (lo, hi) in enumerate(windows):
        lo, hi = _window(_pct(lo, T), _pct(hi, T) + 1, floor)   # inclusive ends
        pos = rng.integers(lo, hi, size=n)
        bit = (labels >> (n_sym - 1 - k)) & 1                   # first symbol = high bit
        codes[rows, pos] = TEMPORAL_X + bit
        floor = hi
    mask = _length_mask(last, length)
    X = np.eye(8, dtype=dtype)[codes] * mask[:, :, None]
    return X, labels.astype(np.int64), mask


def make_temporal_order_problem(n=1000, T=100, n_symbols=2, random_state=None,
                                dtype=np.float64):
    """The temporal order problems (Hochreiter & Schmidhuber 1997, experiments 6a / 6b;
    Martens & Sutskever 2011's "temporal order" and "3-bit temporal order").

    A sequence of random distractor symbols holds ``n_symbols`` (2 or 3) special symbols,
    each X or Y, at widely separated steps; the class is their order, e.g. (X, Y) or
    (Y, Y, X).  Coding (their released generator, at nominal length ``T``), one-hot over
    8 symbols:

    - channels 0-3 distractors (uniform), 4 = X, 5 = Y, 6 = the trigger ("answer now"),
      7 = the start symbol (step 0);
    - ``L - 1`` (the read-out step, which holds the trigger) uniform in ``[T, 1.1 T)``;
      ``mask`` marks the real steps (padding is all zeros);
    - ``n_symbols=2``: X/Y at a step in ``[max(1, 1% of T), 10% of T]`` and one in
      ``[40% of T, 50% of T]`` (both ends included); ``n_symbols=3``: in
      ``[1%, 10%]``, ``[30%, 40%]`` and ``[50%, 60%]`` of ``T``;
    - target: the class ``sum_k bit_k 2^(n_symbols - 1 - k)`` with ``bit_k = 1`` for Y
      at the k-th special step: for two symbols XX = 0, XY = 1, YX = 2, YY = 3; 8
      classes for three.

    Success criterion: the most probable class is the target (the released code's
    softmax zero-one loss); :func:`pathological_success`.  Chance: 1/4 or 1/8 right.

    Parameters
    ----------
    n : int, default=1000
    T : int >= 10, default=100
    n_symbols : {2, 3}, default=2
    random_state : None, int or numpy.random.Generator, default=None
    dtype : floating dtype, default=numpy.float64

    Returns
    -------
    X : ndarray of shape (n, L_max, 8)
    y : ndarray of shape (n,), int64 in ``0 .. 2**n_symbols - 1``
    mask : ndarray of shape (n, L_max), bool

    Notes
    -----
    deepbio's choices: the classes are balanced (equal counts, random order; the released
    code alternates them over a batch for the same reason); the trigger sits on the last
    real step and the answer is read there (the released code has it one step before
    the read-out for two symbols and on it for three); the bits are numbered with the
    first special symbol as the high bit (the released code's three-symbol labels put it
    low); each special window starts after the previous one for short ``T``.

    Examples
    --------
    >>> from deepbio.datasets import make_temporal_order_problem
    >>> X, y, mask = make_temporal_order_problem(n=8, T=100, n_symbols=3, random_state=0)
    >>> X.shape[2], sorted(set(y.tolist()))
    (8, [0, 1, 2, 3, 4, 5, 6, 7])
    """
    n = check_int("n", n, low=1)
    T = _check_T(T)
    n_symbols = check_int("n_symbols", n_symbols, low=2, high=3)
    dtype = check_float_dtype("dtype", dtype)
    rng = check_random_state(random_state)
    windows = ([(1, 10), (40, 50)] if n_symbols == 2 else [(1, 10), (30, 40), (50, 60)])
    return _temporal_order(n, T, windows, rng, dtype)


def make_random_permutation_problem(n=1000, T=100, n_symbols=100, random_state=None,
                                    dtype=np.float64):
    """The random permutation problem of Martens & Sutskever (2011): predict the next
    symbol at every step; the last one is the first symbol of the sequence.

    Coding (their released generator): one-hot over ``n_symbols`` (100 in the paper);
    step 0 holds symbol 0 or 1 (the one to remember), steps ``1 .. T - 1`` symbols drawn
    uniformly from ``2 .. n_symbols - 1``.  The target at step ``t < T - 1`` is the
    symbol at step ``t + 1`` (unpredictable: the network can only learn their
    frequencies); the target at the last step is the symbol of step 0.  All sequences
    have length ``T`` (no mask).  Train a per-position model
    (:class:`deepbio.RNNTagger`) on ``y``.

    Success criterion: only the last step counts (the released code's
    ``zero_one_loss_softmax_last``): right when its most probable class is the step-0
    symbol; :func:`pathological_success`.  Chance: half right.

    Parameters
    ----------
    n : int, default=1000
    T : int >= 2, default=100
    n_symbols : int >= 3, default=100
    random_state : None, int or numpy.random.Generator, default=None
    dtype : floating dtype, default=numpy.float64

    Returns
    -------
    X : ndarray of shape (n, T, n_symbols)
    y : ndarray of shape (n, T), int64: the next symbol; ``y[:, -1]`` the first one

    Notes
    -----
    deepbio's choice: the symbol at step 0 is balanced over the sequences (equal counts
    of 0 and 1, random order), as the released code balances it over a batch.  (Despite
    its name, the released generator draws the later symbols independently, not as a
    permutation; so does this one.)

    Examples
    --------
    >>> from deepbio.datasets import make_random_permutation_problem
    >>> X, y = make_random_permutation_problem(n=4, T=10, random_state=0)
    >>> X.shape, y.shape, bool((X[:, 0].argmax(axis=1) == y[:, -1]).all())
    ((4, 10, 100), (4, 10), True)
    """
    n = check_int("n", n, low=1)
    T = check_int("T", T, low=2)
    n_symbols = check_int("n_symbols", n_symbols, low=3)
    dtype = check_float_dtype("dtype", dtype)
    rng = check_random_state(random_state)
    first = _balanced_labels(n, 2, rng)
    codes = np.empty((n, T), dtype=np.int64)
    codes[:, 0] = first
    codes[:, 1:] = rng.integers(2, n_symbols, size=(n, T - 1))
    X = np.eye(n_symbols, dtype=dtype)[codes]
    y = np.empty_like(codes)
    y[:, :-1] = codes[:, 1:]
    y[:, -1] = first
    return X, y


def make_memorization_problem(n=1000, T=100, n_chars=5, n_symbols=2, random_state=None,
                              dtype=np.float64):
    """Noiseless memorisation (Hochreiter & Schmidhuber 1997; Martens & Sutskever 2011's
    "5-bit" and "20-bit" problems): read a string, wait, then recall it.

    Coding (their released generator, with one fix, below): ``D = n_symbols + 2``
    input channels: ``0 .. n_symbols - 1`` the data symbols, ``n_symbols`` the trigger,
    ``n_symbols + 1`` the blank.  Steps ``0 .. n_chars - 1`` show the string (each
    character uniform over the ``n_symbols`` symbols), then blanks, the trigger at step
    ``T - n_chars - 1``, and blanks for the last ``n_chars`` steps.  The target at every
    step is the blank class (``n_symbols``), except on the last ``n_chars`` steps, where
    it is the string, one character per step.  The paper's 5-bit problem is
    ``n_chars=5, n_symbols=2``; its 20-bit problem ``n_chars=10, n_symbols=5`` (5^10
    strings, about 2^23).  All sequences have length ``T``; train a per-position model
    (:class:`deepbio.RNNTagger`) on ``y``.

    Success criterion: the most probable class is right at the ``n_chars`` recall steps
    (errors counted per recalled character, as the released code's loss restricted to
    those steps); :func:`pathological_success` with ``n_chars``.  Chance: ``1 /
    n_symbols`` right.

    Parameters
    ----------
    n : int, default=1000
    T : int, default=100
        Total length, at least ``2 * n_chars + 1``.
    n_chars : int >= 1, default=5
    n_symbols : int >= 2, default=2
    random_state : None, int or numpy.random.Generator, default=None
    dtype : floating dtype, default=numpy.float64

    Returns
    -------
    X : ndarray of shape (n, T, n_symbols + 2)
    y : ndarray of shape (n, T), int64 in ``0 .. n_symbols`` (``n_symbols`` = blank)

    Notes
    -----
    The fix: the released generator gives the blank and the trigger the last two of only
    ``n_symbols`` channels, which overlap two data symbols; here they have channels of
    their own.  deepbio's choice: strings are drawn at random (the released code
    enumerates all 32 strings when a batch holds exactly 32 of the 5-bit problem).

    Examples
    --------
    >>> from deepbio.datasets import make_memorization_problem
    >>> X, y = make_memorization_problem(n=3, T=20, random_state=0)
    >>> X.shape, y.shape
    ((3, 20, 4), (3, 20))
    >>> bool((X[:, :5].argmax(axis=2) == y[:, -5:]).all())
    True
    """
    n = check_int("n", n, low=1)
    n_chars = check_int("n_chars", n_chars, low=1)
    n_symbols = check_int("n_symbols", n_symbols, low=2)
    T = check_int("T", T, low=2 * n_chars + 1)
    dtype = check_float_dtype("dtype", dtype)
    rng = check_random_state(random_state)
    blank, trigger = n_symbols + 1, n_symbols
    data = rng.integers(0, n_symbols, size=(n, n_chars))
    codes = np.full((n, T), blank, dtype=np.int64)
    codes[:, :n_chars] = data
    codes[:, T - n_chars - 1] = trigger
    X = np.eye(n_symbols + 2, dtype=dtype)[codes]
    y = np.full((n, T), n_symbols, dtype=np.int64)
    y[:, T - n_chars:] = data
    return X, y


# ------------------------------------------------------------- success criteria

#: The problems :func:`pathological_success` knows, with the generator of each.
PATHOLOGICAL_PROBLEMS = {
    "addition": "make_addition_problem",
    "multiplication": "make_multiplication_problem",
    "xor": "make_xor_problem",
    "temporal_order": "make_temporal_order_problem",        # n_symbols=2
    "temporal_order_3bit": "make_temporal_order_problem",   # n_symbols=3
    "random_permutation": "make_random_permutation_problem",
    "memorization": "make_memorization_problem",
}

#: |prediction - target| above this makes a real-valued answer wrong (Hochreiter &
#: Schmidhuber 1997; the released code of Martens & Sutskever 2011).
REAL_VALUED_TOLERANCE = 0.04


def _labels_from(pred, true, name="y_pred"):
    """Predicted labels: ``pred`` itself when it has ``true``'s shape, its argmax over
    the last axis when it has one more (probabilities or scores)."""
    if pred.shape == true.shape:
        return pred
    if pred.ndim == true.ndim + 1 and pred.shape[:-1] == true.shape:
        return pred.argmax(axis=-1)
    raise ValueError(f"{name} must have the shape of y_true {true.shape} (labels) or "
                     f"{true.shape + ('n_classes',)} (scores), got {pred.shape}")


def pathological_error(problem, y_true, y_pred, n_chars=None):
    """Fraction of test cases wrongly predicted, by the success rule of ``problem``.

    The per-case rules are those of Martens & Sutskever's released code (and, for the
    real-valued problems, of Hochreiter & Schmidhuber 1997):

    ==========================  ==================================================
    ``problem``                 a case is wrong when
    ==========================  ==================================================
    ``"addition"``,             ``|y_pred - y_true| > 0.04`` (``y`` (N,) or (N, 1))
    ``"multiplication"``
    ``"xor"``                   ``(y_pred > 1/2) != y_true`` (``y_pred``: the
                                probability of 1, a 0/1 label, or (N, 2) scores)
    ``"temporal_order"``,       the predicted class (labels (N,), or the argmax of
    ``"temporal_order_3bit"``   (N, K) scores) is not ``y_true``
    ``"random_permutation"``    the class predicted at the last step is wrong
                                (``y_true`` (N, T); ``y_pred`` (N, T) labels or
                                (N, T, K) scores; the other steps do not count)
    ``"memorization"``          per recalled character: each of the last
                                ``n_chars`` steps whose predicted class is wrong
                                (``n_chars`` is required)
    ==========================  ==================================================

    Returns
    -------
    float in [0, 1]
    """
    if problem not in PATHOLOGICAL_PROBLEMS:
        raise ValueError(f"problem must be one of {sorted(PATHOLOGICAL_PROBLEMS)}, got "
                         f"{problem!r}")
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_true.ndim == 0 or y_true.shape[0] == 0:
        raise ValueError(f"y_true must hold at least one test case, got shape "
                         f"{y_true.shape}")
    if y_pred.dtype.kind not in "biuf" or y_true.dtype.kind not in "biuf":
        raise ValueError("y_true and y_pred must be numeric arrays")
    if y_pred.dtype.kind == "f" and not np.isfinite(y_pred).all():
        raise ValueError("y_pred contains NaN or infinity")
    if problem in ("addition", "multiplication"):
        t, p = y_true.reshape(len(y_true), -1), y_pred.reshape(len(y_pred), -1)
        if t.shape != p.shape or t.shape[1] != 1:
            raise ValueError(f"y_true and y_pred must both be (N,) or (N, 1), got "
                             f"{y_true.shape} and {y_pred.shape}")
        wrong = np.abs(p - t)[:, 0] > REAL_VALUED_TOLERANCE
    elif problem == "xor":
        t = y_true.reshape(-1)
        if y_pred.ndim == 2 and y_pred.shape == (len(t), 2):
            p = y_pred.argmax(axis=1)
        else:
            p = y_pred.reshape(-1)
            if p.shape != t.shape:
                raise ValueError(f"y_pred must be (N,) or (N, 1) probabilities or labels, "
                                 f"or (N, 2) scores, for y_true of shape {y_true.shape}; "
                                 f"got {y_pred.shape}")
        wrong = (p > 0.5) != (t > 0.5)
    elif problem in ("temporal_order", "temporal_order_3bit"):
        if y_true.ndim != 1:
            raise ValueError(f"y_true must be (N,) class labels, got shape {y_true.shape}")
        wrong = _labels_from(y_pred, y_true) != y_true
    else:
        if y_true.ndim != 2:
            raise ValueError(f"y_true must be (N, T) per-step labels, got shape "
                             f"{y_true.shape}")
        p = _labels_from(y_pred, y_true)
        if problem == "random_permutation":
            wrong = p[:, -1] != y_true[:, -1]
        else:
            if n_chars is None:
                raise ValueError("n_chars is required for the memorization problem (the "
                                 "number of recalled characters, as given to "
                                 "make_memorization_problem)")
            n_chars = check_int("n_chars", n_chars, low=1, high=y_true.shape[1])
            wrong = p[:, -n_chars:] != y_true[:, -n_chars:]
    return float(np.mean(wrong))


def pathological_success(problem, y_true, y_pred, max_error=0.01, n_chars=None):
    """Whether predictions solve a pathological problem: :func:`pathological_error`
    at most ``max_error``.

    ``max_error=0.01`` (at most 1 % of the test cases wrong) is deepbio's default for
    "solved"; the per-case rules (e.g. ``|error| <= 0.04`` for addition) are the
    papers', the 1 % threshold is a choice (Hochreiter & Schmidhuber 1997 allowed at most
    3 of 2560 addition sequences wrong, about 0.12 %; Martens & Sutskever's released
    code leaves the stopping threshold to the user).  Evaluate on held-out sequences
    (e.g. 1000, drawn with another ``random_state``).

    Examples
    --------
    >>> import numpy as np
    >>> from deepbio.datasets import make_multiplication_problem, pathological_success
    >>> X, y, mask = make_multiplication_problem(n=1000, random_state=1)
    >>> pathological_success("multiplication", y, y + 0.03)
    True
    >>> pathological_success("multiplication", y, np.full_like(y, 0.25))
    False
    """
    max_error = check_real("max_error", max_error, 0.0, 1.0)
    return pathological_error(problem, y_true, y_pred, n_chars=n_chars) <= max_error
