"""Atomic text files for :mod:`deepbio.explain` (motifs, rankings, attributions)."""
from ..io import write_atomic as _write_bytes

__all__ = ["write_atomic"]


def write_atomic(path, text, what):
    """Write ``text`` (str: UTF-8, newlines as they are; bytes: as they are) to ``path``
    atomically (:func:`deepbio.io.write_atomic`: ``path`` holds the old file or the whole
    new one, never a part; a symbolic link is followed; the new file gets the old file's
    permissions, or ``0o666`` minus the umask).  Errors name the ``what`` file.
    Returns ``path``."""
    data = text if isinstance(text, bytes) else text.encode("utf-8")
    _write_bytes(path, data, f"write the {what} file")
    return path
