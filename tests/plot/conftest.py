"""Plot tests render headless: the Agg backend, selected here (never by the library).

matplotlib is in the ``test`` extra, so these tests run in CI rather than skip."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402  (a matplotlib dependency)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def read_png(path):
    """The PNG at ``path`` as an (H, W, 3) uint8 array."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def assert_png(path, size):
    """``path`` is a PNG of ``size`` = (width, height) pixels that is not blank: more than
    one colour, positive variance, and a real share of non-white pixels."""
    img = read_png(path)
    assert (img.shape[1], img.shape[0]) == size
    assert img.std() > 0
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 2
    assert (img.min(axis=2) < 250).mean() > 0.01
    return img
