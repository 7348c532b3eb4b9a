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
"""

import math

import numpy as np

from .._validation import check_float_dtype, check_int, check_random_state, check_real
from ._base import Bunch
from .encoding import one_hot

__all__ = ["make_expression", "make_motif_sequences", "make_long_range_sequences",
           "make_addition_problem"]


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
