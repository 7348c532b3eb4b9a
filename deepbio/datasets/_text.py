"""Text input shared by the readers: compression by content, encodings, line endings,
messages.

Every reader of deepbio.datasets (FASTA, expression matrices, delimited tables, class
files, NumPy files) opens its input through these helpers, so they all recognise gzip,
bzip2 and xz data by its first bytes (any file name), skip a UTF-8 byte-order mark, name
UTF-16 files as such, and report an undecodable byte by line and column.  bzip2 and xz
need the standard library's ``bz2`` / ``lzma`` modules (present in every CPython build
that has their C libraries); a file needing a missing one is a clear error.
"""

import gzip
import io
import os
import zlib

GZIP_MAGIC = b"\x1f\x8b"
BZ2_MAGIC = b"BZh"
XZ_MAGIC = b"\xfd7zXZ\x00"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")

#: File-name endings of compressed files (the content decides; these are stripped from
#: names before the format is guessed from them).
COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz")


def _codec_errors():
    errors = [EOFError, zlib.error, gzip.BadGzipFile]
    try:
        import lzma
        errors.append(lzma.LZMAError)
    except ImportError:        # pragma: no cover - CPython built without liblzma
        pass
    return tuple(errors)


#: What a truncated or corrupt compressed stream raises while it is read (bz2 raises
#: OSError / EOFError, which the readers catch where they read).
GZIP_ERRORS = _codec_errors()
COMPRESSION_ERRORS = GZIP_ERRORS


def compression(head):
    """The compression of data starting with the bytes ``head``: ``"gzip"``, ``"bz2"``,
    ``"xz"`` or None."""
    if head[:2] == GZIP_MAGIC:
        return "gzip"
    if head[:3] == BZ2_MAGIC and head[3:4] in tuple(bytes([c]) for c in b"123456789"):
        return "bz2"
    if head[:6] == XZ_MAGIC:
        return "xz"
    return None


class CompressedDataError(ValueError):
    """A truncated or corrupt compressed stream (gzip, bzip2 or xz), whatever the codec
    module raised for it (``EOFError``, ``zlib.error``, ``gzip.BadGzipFile``,
    ``lzma.LZMAError`` or bz2's bare ``OSError: Invalid data stream``)."""

    def __init__(self, kind, err):
        self.kind, self.detail = kind, str(err)
        super().__init__(f"truncated or corrupt {kind} data ({err})")


def _is_codec_error(err):
    # bz2 reports corrupt data as a bare OSError (no errno); an OSError with an errno is
    # a real I/O error of the file underneath and stays what it is.
    return isinstance(err, GZIP_ERRORS) or (type(err) is OSError and err.errno is None)


class _CheckedStream(io.BufferedIOBase):
    """A decompressing binary stream whose codec errors are :class:`CompressedDataError`,
    so every reader turns a bad gzip, bzip2 or xz file into the same ``ValueError``."""

    def __init__(self, inner, kind):
        super().__init__()
        self._inner, self._kind = inner, kind
        self.name = getattr(inner, "name", None)

    def _call(self, fn, *args):
        try:
            return fn(*args)
        except CompressedDataError:
            raise
        except (OSError, EOFError, *GZIP_ERRORS) as err:
            if _is_codec_error(err):
                raise CompressedDataError(self._kind, err) from None
            raise

    def readable(self):
        return True

    def seekable(self):
        return self._inner.seekable()

    def read(self, size=-1):
        return self._call(self._inner.read, size)

    def read1(self, size=-1):
        return self._call(self._inner.read1, size)

    def readinto(self, b):
        return self._call(self._inner.readinto, b)

    def readline(self, size=-1):
        return self._call(self._inner.readline, size)

    def peek(self, n=0):
        return self._call(self._inner.peek, n)

    def seek(self, offset, whence=io.SEEK_SET):
        return self._call(self._inner.seek, offset, whence)

    def tell(self):
        return self._inner.tell()

    def close(self):
        try:
            self._inner.close()
        finally:
            super().close()


def decompressor(kind, fileobj):
    """A binary stream decompressing ``fileobj`` (``kind`` from :func:`compression`; a
    path for bz2 and xz is opened, and closed with the stream).  Its codec errors are
    :class:`CompressedDataError` (a ``ValueError``)."""
    if kind == "gzip":
        return _CheckedStream(gzip.GzipFile(fileobj=fileobj, mode="rb"), kind)
    module = {"bz2": "bz2", "xz": "lzma"}[kind]
    try:
        lib = __import__(module)
    except ImportError:        # pragma: no cover - CPython built without it
        raise ValueError(f"this file is {kind}-compressed, but this Python has no "
                         f"{module!r} module; decompress it first") from None
    return _CheckedStream(lib.open(fileobj, "rb"), kind)


def source_prefix(path_or_file):
    """``"'name': "`` for a path or a named file object, else ``""`` (for messages)."""
    if isinstance(path_or_file, (str, bytes, os.PathLike)):
        name = os.fsdecode(path_or_file)
    else:
        name = getattr(path_or_file, "name", None)
    return f"{name!r}: " if isinstance(name, str) else ""


def peek(fh, n):
    """Return the first ``n`` bytes of a binary stream without consuming them.

    Returns ``(head, fh)``: ``fh`` is a replacement stream holding all the data
    when the original can neither peek nor seek.
    """
    if hasattr(fh, "peek"):
        return fh.peek(n)[:n], fh
    if getattr(fh, "seekable", lambda: False)():
        pos = fh.tell()
        head = fh.read(n)
        fh.seek(pos)
        return head, fh
    data = fh.read()
    return data[:n], io.BytesIO(data)


def is_utf8(encoding):
    return encoding.lower().replace("_", "-") in ("utf-8", "utf8", "utf-8-sig")


def python_encoding(encoding):
    """The codec to decode with: UTF-8 skips a leading byte-order mark."""
    return "utf-8-sig" if is_utf8(encoding) else encoding


def check_not_utf16(head, encoding, prefix):
    """Raise ``ValueError`` if UTF-8 is expected but ``head`` is a UTF-16 byte-order mark."""
    if is_utf8(encoding) and head in _UTF16_BOMS:
        raise ValueError(
            f"{prefix}the file starts with a UTF-16 byte-order mark: it is UTF-16, not "
            "UTF-8; re-save it as UTF-8 or pass encoding='utf-16'"
        )


def not_decodable_message(line_no, column, byte, encoding):
    """Message for a byte that is not valid in ``encoding``."""
    codec = "UTF-8" if is_utf8(encoding) else repr(encoding)
    return (
        f"line {line_no}, column {column}: byte 0x{byte:02x} is not valid {codec}; the "
        f"file is not {codec} encoded (re-save it as UTF-8 or pass encoding=)"
    )


def strip_gz(path):
    """The lower-cased file name of ``path`` without a trailing ``.gz``, ``.bz2`` or
    ``.xz``."""
    name = os.fsdecode(os.fspath(path)).lower()
    for suffix in COMPRESSED_SUFFIXES:
        if name.endswith(suffix):
            return name[:-len(suffix)]
    return name


# ------------------------------------------------------------------ paths, for csv


def open_binary(path):
    """Open ``path`` for reading bytes, transparently decompressing gzip, bzip2 or xz
    (recognised by content)."""
    with open(path, "rb") as fh:
        kind = compression(fh.read(6))
    if kind is None:
        return open(path, "rb")
    if kind == "gzip":
        return _CheckedStream(gzip.open(path, "rb"), kind)
    return decompressor(kind, path)      # bz2.open / lzma.open take a path too


def open_text(path, encoding):
    """Open ``path`` as text for the csv module (gzip by content; UTF-16 checked).

    Universal newlines are off (``newline=""``), as the csv module wants.
    """
    binary = open_binary(path)
    try:
        head, binary = peek(binary, 2)
        check_not_utf16(head, encoding, "")
    except BaseException:
        binary.close()
        raise
    return io.TextIOWrapper(binary, encoding=python_encoding(encoding), newline="")


def decode_error_message(path, encoding, err):
    """Locate the first undecodable byte of ``path`` (line and column) for a message."""
    codec = python_encoding(encoding)
    try:
        with open_binary(path) as fh:
            line_no = 0
            for raw in fh:
                # Lines end in \n, \r\n or \r, as for the csv reader.
                for line in raw.rstrip(b"\n").removesuffix(b"\r").split(b"\r"):
                    line_no += 1
                    try:
                        line.decode(codec if line_no == 1 else encoding)
                    except UnicodeDecodeError as bad:
                        column = len(line[:bad.start].decode(encoding, errors="replace")) + 1
                        return not_decodable_message(line_no, column, line[bad.start],
                                                     encoding)
    except GZIP_ERRORS + (CompressedDataError,) as bad:
        # Compressed data that is corrupt after the undecodable byte: say both.
        detail = bad.detail if isinstance(bad, CompressedDataError) else bad
        return (f"the file is not valid {encoding!r} text ({err}), and its compressed "
                f"data is truncated or corrupt ({detail})")
    return f"the file is not valid {encoding!r} text ({err})"


def first_nonblank_line(fh):
    """Return the first line of ``fh`` that is not blank (``""`` if none); rewind."""
    for line in fh:
        if line.strip():
            break
    else:
        line = ""
    fh.seek(0)
    return line


# ------------------------------------------- paths, file objects, iterables: lines


def _decoded_lines(binary, encoding, prefix):
    """Decode a binary stream (gzip allowed) into lines; errors become ``ValueError``.

    Any line ending (``\\n``, ``\\r\\n``, ``\\r``) ends a line, and a UTF-8
    byte-order mark is dropped. Invalid bytes are reported with their line and
    column.
    """
    head, binary = peek(binary, 6)
    kind = compression(head)
    stream = binary if kind is None else decompressor(kind, binary)
    if stream is not binary:
        try:
            head, stream = peek(stream, 2)
        except CompressedDataError as err:
            raise ValueError(f"{prefix}{err}") from None
    head = head[:2]
    check_not_utf16(head, encoding, prefix)
    text = io.TextIOWrapper(stream, encoding=python_encoding(encoding), errors="surrogateescape",
                            newline=None)
    line_no = 0
    try:
        for line_no, line in enumerate(text, start=1):
            if not line.isascii():
                _check_decoded(line, line_no, encoding, prefix)
            yield line.rstrip("\r\n")
    except CompressedDataError as err:
        raise ValueError(
            f"{prefix}truncated or corrupt {err.kind} data after line {line_no} ({err.detail})"
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


def text_lines(path_or_file, encoding="utf-8"):
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
