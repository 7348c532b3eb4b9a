"""Small helpers shared by the text readers: gzip and encoding checks, messages."""

import io
import os

GZIP_MAGIC = b"\x1f\x8b"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


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
