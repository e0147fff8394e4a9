"""Reading a source file into memory once: existence checks, gzip (with a precise message when
the archive is cut off), the file's checksum for the manifest, and encoding checks.

Loaders parse bytes that are already in memory, so a file is read from disk exactly once and its
SHA-256 comes for free; the files these loaders handle are tens of MB at most.
"""

from __future__ import annotations

import hashlib
import os
import re
import zlib
from pathlib import Path

from unids.data.raw import SourceFile
from unids.errors import InputError

GZIP_MAGIC = b"\x1f\x8b"
REPLACEMENT_CHARACTER = "\ufffd".encode()
_NON_SPACE = re.compile(rb"\S")


def require_file(path: Path) -> None:
    """The same three checks, in the same words, as `unids.io.read_interactions`."""
    if not path.is_file():
        raise InputError(str(path), "no such file" if not path.exists() else "not a file")
    if not os.access(path, os.R_OK):
        raise InputError(str(path), "permission denied")


def read_source(path: Path) -> tuple[bytes, SourceFile]:
    """The file's content (gunzipped when it is gzip data) and its SourceFile record."""
    raw, source = read_raw(path)
    return decompressed(path, raw), source


def read_raw(path: Path) -> tuple[bytes, SourceFile]:
    """The file's bytes as stored (still compressed) and its SourceFile record."""
    require_file(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise InputError(str(path), f"cannot read: {error.strerror}") from None
    return raw, SourceFile(name=path.name, sha256=hashlib.sha256(raw).hexdigest(),
                           bytes=len(raw))


def decompressed(path: Path, raw: bytes) -> bytes:
    """`raw` gunzipped when it is gzip data; an empty file is an error."""
    if raw.startswith(GZIP_MAGIC):
        data = gunzip(path, raw)
    elif path.name.endswith(".gz") and raw:
        raise InputError(str(path), "not gzip data, although the name ends in .gz")
    else:
        data = raw
    if _NON_SPACE.search(data) is None:
        raise InputError(str(path), "the file is empty")
    return data


def gunzip(path: Path, raw: bytes) -> bytes:
    """Decompresses all gzip members; a cut-off archive names the line where the data stops,
    which tells a partial download from a corrupt one."""
    parts: list[bytes] = []
    rest = raw
    while rest:
        decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            parts.append(decompressor.decompress(rest))
        except zlib.error as error:
            line = b"".join(parts).count(b"\n") + 1
            raise InputError(str(path), f"corrupt gzip data ({error})", line=line) from None
        if not decompressor.eof:
            parts.append(decompressor.flush())
            line = b"".join(parts).count(b"\n") + 1
            raise InputError(str(path), "truncated gzip file: the data stops in the middle "
                             "(incomplete download?)", line=line)
        rest = decompressor.unused_data.lstrip(b"\0")
        if rest and not rest.startswith(GZIP_MAGIC):
            raise InputError(str(path), "trailing garbage after the gzip data")
    return b"".join(parts)


def first_line(data: bytes) -> bytes:
    """The first line without its line break (without copying the rest of the data)."""
    end = data.find(b"\n")
    return (data if end < 0 else data[:end]).rstrip(b"\r")


def has_rows_after_header(data: bytes) -> bool:
    """Whether anything but whitespace follows the first line."""
    end = data.find(b"\n")
    return end >= 0 and _NON_SPACE.search(data, end + 1) is not None


def line_and_offset(data: bytes, offset: int) -> tuple[int, int]:
    """1-based line number of byte `offset`, and the offset where that line starts."""
    start = data.rfind(b"\n", 0, offset) + 1
    return data.count(b"\n", 0, offset) + 1, start


def field_at(line: bytes, position: int, sep: bytes) -> int:
    """0-based index of the field that holds byte `position` of a line."""
    return line.count(sep, 0, position)


def check_utf8(path: Path, data: bytes, sep: bytes, labels: list[str] | None) -> None:
    """Raises at the first byte that is not UTF-8, naming line and column, with the likely
    cause (a latin-1 file)."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _encoding_error(path, data, error.start, sep, labels,
                              f"byte 0x{data[error.start]:02X} is not valid UTF-8 (is the file "
                              "latin-1 / ISO-8859-1? convert it to UTF-8)") from None


def decode_latin1(path: Path, data: bytes, sep: bytes, labels: list[str] | None,
                  encoding: str) -> bytes:
    """Latin-1 source files (MovieLens titles) as UTF-8 bytes for pyarrow.

    A copy that was re-encoded to UTF-8, or one whose accents were replaced by U+FFFD (such copies
    circulate), would silently give wrong titles if decoded as latin-1, so both are errors unless
    the caller says `encoding="utf-8"`.
    """
    if encoding not in ("latin-1", "utf-8"):
        raise InputError(str(path), f"encoding must be 'latin-1' or 'utf-8', not {encoding!r}")
    damaged = data.find(REPLACEMENT_CHARACTER)
    if damaged >= 0:
        raise _encoding_error(path, data, damaged, sep, labels,
                              "contains U+FFFD replacement characters: a damaged copy whose "
                              "accents were lost; use the original file")
    if encoding == "utf-8":
        check_utf8(path, data, sep, labels)
        return data
    if data.isascii():
        return data
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1").encode("utf-8")
    first = next(i for i, byte in enumerate(data) if byte >= 0x80)
    raise _encoding_error(path, data, first, sep, labels,
                          "the file looks UTF-8 encoded, but the original is latin-1 "
                          "(ISO-8859-1); pass encoding='utf-8' to read it as UTF-8")


def _encoding_error(path: Path, data: bytes, offset: int, sep: bytes, labels: list[str] | None,
                    message: str) -> InputError:
    line, start = line_and_offset(data, offset)
    end = data.find(b"\n", offset)
    text = data[start:end if end >= 0 else len(data)]
    index = field_at(text, offset - start, sep)
    column = labels[index] if labels is not None and index < len(labels) else None
    return InputError(str(path), message, line=line, column=column)
