"""Bundled real data sets and the ``Bunch`` container the loaders return.

The bundled files live in ``deepbio/datasets/data/`` as gzip-compressed CSV: one
header line of feature names followed by a ``target`` column, then one line per
sample. ``data/README.md`` gives their source, citation and licence.

Only NumPy and the standard library are imported here, so ``import
deepbio.datasets`` is cheap and never needs scikit-learn.
"""

import functools
import gzip
import os

import numpy as np

__all__ = ["Bunch", "load_breast_cancer", "load_digits"]

DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


class Bunch(dict):
    """A dictionary whose keys can also be read and written as attributes.

    ``b["data"]`` and ``b.data`` are the same object. It is what the loaders
    return, in the spirit of :class:`sklearn.utils.Bunch`.

    Examples
    --------
    >>> from deepbio.datasets import Bunch
    >>> b = Bunch(data=[1, 2], target=[0, 1])
    >>> b.data
    [1, 2]
    >>> b.extra = "x"
    >>> b["extra"]
    'x'
    """

    def __init__(self, **kwargs):
        super().__init__(kwargs)

    def __getattr__(self, key):
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None

    def __setattr__(self, key, value):
        self[key] = value

    def __delattr__(self, key):
        try:
            del self[key]
        except KeyError:
            raise AttributeError(key) from None

    def __dir__(self):
        return list(super().__dir__()) + [str(k) for k in self.keys()]


# ---------------------------------------------------------------------------
# Bundled data
# ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _read_bundled(filename):
    """Parse one bundled ``csv.gz`` file: header of names, last column = target.

    Returns ``(data, target, feature_names)``; the arrays are made read-only
    because the result is cached; public loaders hand out copies.
    """
    path = os.path.join(DATA_DIR, filename)
    with gzip.open(path, "rt", encoding="ascii", newline="") as fh:
        header = fh.readline().rstrip("\r\n").split(",")
        table = np.loadtxt(fh, delimiter=",", dtype=np.float64, ndmin=2)
    if header[-1] != "target" or table.shape[1] != len(header):
        raise RuntimeError(f"bundled file {path} is corrupt (header/column mismatch)")
    data = np.ascontiguousarray(table[:, :-1])
    target = table[:, -1].astype(np.int64)
    data.flags.writeable = False
    target.flags.writeable = False
    return data, target, tuple(header[:-1])


_BREAST_CANCER_DESCR = """\
Breast Cancer Wisconsin (Diagnostic) data set
---------------------------------------------

569 fine-needle aspirates of breast masses, 30 real-valued features, binary
diagnosis. Each feature describes the cell nuclei in a digitised image: for
ten nuclear measurements (radius, texture, perimeter, area, smoothness,
compactness, concavity, concave points, symmetry, fractal dimension) the file
gives the mean, the standard error ("error") and the mean of the three largest
values ("worst"), in that order.

Target: 0 = malignant (212 samples), 1 = benign (357 samples), the UCI /
scikit-learn convention. No missing values.

Source: UCI Machine Learning Repository, Breast Cancer Wisconsin (Diagnostic),
https://doi.org/10.24432/C5DW2B (W. H. Wolberg, W. N. Street,
O. L. Mangasarian, 1995), licensed CC BY 4.0. The copy bundled here was
converted from the one shipped with scikit-learn (BSD-3-Clause).

Reference: W. N. Street, W. H. Wolberg and O. L. Mangasarian. Nuclear feature
extraction for breast tumor diagnosis. IS&T/SPIE Symposium on Electronic
Imaging, vol. 1905, pp. 861-870, 1993.
"""

_DIGITS_DESCR = """\
Optical Recognition of Handwritten Digits (8x8) data set
--------------------------------------------------------

1797 handwritten digits, each an 8x8 image of integer pixel counts 0..16,
flattened row by row into 64 features ``pixel_<row>_<col>``. 10 classes
(the digits 0-9, about 180 images each). This is the test part of the UCI
data set: 32x32 bitmaps from the NIST preprocessing programs divided into
non-overlapping 4x4 blocks, each pixel counting the "on" bits in its block.

Source: UCI Machine Learning Repository, Optical Recognition of Handwritten
Digits, https://doi.org/10.24432/C50P49 (E. Alpaydin, C. Kaynak, 1998),
licensed CC BY 4.0. The copy bundled here was converted from the one shipped
with scikit-learn (BSD-3-Clause).

Reference: E. Alpaydin and C. Kaynak. Cascading classifiers. Kybernetika
34(4), 1998.
"""


def load_breast_cancer(return_X_y=False):
    """Load the Wisconsin diagnostic breast cancer data (binary classification).

    ================= ===============================
    Samples           569 (212 malignant, 357 benign)
    Features          30, real, positive
    Classes           2: 0 = malignant, 1 = benign
    ================= ===============================

    The file ships inside the package; nothing is downloaded.

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a :class:`Bunch`.

    Returns
    -------
    bunch : Bunch
        With keys

        - ``data`` : ndarray of shape (569, 30), float64
        - ``target`` : ndarray of shape (569,), int64, 0 = malignant, 1 = benign
        - ``feature_names`` : list of 30 str (``"mean radius"``, ...)
        - ``target_names`` : list of 2 str, ``["malignant", "benign"]``
        - ``DESCR`` : str, description, source and licence
    (data, target) : tuple of ndarray
        If ``return_X_y`` is True; shapes (569, 30) and (569,).

    Notes
    -----
    Every call returns fresh copies of the arrays, so modifying them is safe.
    The numbers are identical to ``sklearn.datasets.load_breast_cancer``.

    References
    ----------
    W. N. Street, W. H. Wolberg and O. L. Mangasarian. Nuclear feature
    extraction for breast tumor diagnosis. IS&T/SPIE 1993 International
    Symposium on Electronic Imaging, volume 1905, pages 861-870, 1993.

    Examples
    --------
    >>> from deepbio.datasets import load_breast_cancer
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> X.shape, y.shape
    ((569, 30), (569,))
    >>> int((y == 0).sum()), int((y == 1).sum())
    (212, 357)
    >>> load_breast_cancer().target_names
    ['malignant', 'benign']
    """
    data, target, names = _read_bundled("breast_cancer.csv.gz")
    data, target = data.copy(), target.copy()
    if return_X_y:
        return data, target
    return Bunch(
        data=data,
        target=target,
        feature_names=list(names),
        target_names=["malignant", "benign"],
        DESCR=_BREAST_CANCER_DESCR,
    )


def load_digits(return_X_y=False):
    """Load the UCI 8x8 optical handwritten digits (10-class classification).

    ================= ==============================
    Samples           1797
    Features          64 pixels, integers 0..16
    Classes           10 (digits 0-9)
    ================= ==============================

    The file ships inside the package; nothing is downloaded.

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a :class:`Bunch`.

    Returns
    -------
    bunch : Bunch
        With keys

        - ``data`` : ndarray of shape (1797, 64), float64, values 0..16
        - ``target`` : ndarray of shape (1797,), int64, values 0..9
        - ``images`` : ndarray of shape (1797, 8, 8), float64, ``data`` reshaped
        - ``feature_names`` : list of 64 str, ``"pixel_<row>_<col>"``
        - ``target_names`` : ndarray of shape (10,), int64, ``0..9``
        - ``DESCR`` : str, description, source and licence
    (data, target) : tuple of ndarray
        If ``return_X_y`` is True; shapes (1797, 64) and (1797,).

    Notes
    -----
    Every call returns fresh copies. Divide ``data`` by 16 to get values in
    [0, 1], e.g. for a Bernoulli RBM. The numbers are identical to
    ``sklearn.datasets.load_digits``.

    References
    ----------
    E. Alpaydin and C. Kaynak. Cascading classifiers. Kybernetika 34(4),
    1998.

    Examples
    --------
    >>> from deepbio.datasets import load_digits
    >>> digits = load_digits()
    >>> digits.data.shape, digits.images.shape
    ((1797, 64), (1797, 8, 8))
    >>> float(digits.data.max()), sorted(set(digits.target.tolist())) == list(range(10))
    (16.0, True)
    """
    data, target, names = _read_bundled("digits.csv.gz")
    data, target = data.copy(), target.copy()
    if return_X_y:
        return data, target
    return Bunch(
        data=data,
        target=target,
        images=data.reshape(-1, 8, 8).copy(),
        feature_names=list(names),
        target_names=np.arange(10, dtype=np.int64),
        DESCR=_DIGITS_DESCR,
    )
