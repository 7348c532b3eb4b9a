"""Atomic text files for :mod:`deepbio.explain` (motifs, rankings)."""
import errno
import os
import tempfile

from ..io import _umask   # the umask, read without changing it where possible

__all__ = ["write_atomic"]


def write_atomic(path, text, what):
    """Write ``text`` (str: UTF-8; bytes: as they are) to ``path`` through a temporary
    file in the same directory, fsync and ``os.replace``: ``path`` holds the old file or the whole new one, never a
    part.  A symbolic link is followed (the file it names is replaced).  The new file
    gets the old file's permissions, or ``0o666`` minus the umask."""
    target = os.path.realpath(os.fspath(path))
    directory = os.path.dirname(target)
    if not os.path.isdir(directory):
        raise FileNotFoundError(errno.ENOENT, f"cannot write the {what} file: the directory "
                                f"{directory!r} does not exist", os.fspath(path))
    if os.path.isdir(target):
        raise IsADirectoryError(errno.EISDIR, f"cannot write the {what} file: the "
                                f"destination is a directory (give a file name)",
                                os.fspath(path))
    try:
        mode = os.stat(target).st_mode & 0o777
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp",
                               prefix="." + os.path.basename(target) + ".")
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, mode)
        binary = isinstance(text, bytes)
        with (os.fdopen(fd, "wb") if binary else
              os.fdopen(fd, "w", encoding="utf-8", newline="\n")) as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path
