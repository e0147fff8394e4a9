"""Delimited text → typed Arrow table, fast when the file is clean and precise when it is not.

The hot path hands the whole file to pyarrow's multithreaded CSV parser and then checks the
parsed columns with vectorised kernels. Only when either step finds a problem do we scan the
lines in Python, to name the first bad line and column in the words of `unids.errors.InputError`.
Text formats without quoting (MovieLens, the Amazon TSVs) are parsed with quoting off, so a title
that starts with a quote character is data, not syntax.
"""

from __future__ import annotations

import csv
import io
import math
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from unids.data.raw import SourceFile
from unids.errors import InputError

from ._files import (
    GZIP_MAGIC,
    check_utf8,
    decode_latin1,
    decompressed,
    first_line,
    has_rows_after_header,
    read_raw,
)

Kind = Literal["id", "int", "float", "time", "flag", "text"]
_ARROW_TYPES: dict[str, pa.DataType] = {
    "id": pa.int64(), "int": pa.int64(), "flag": pa.int64(),
    "float": pa.float64(), "time": pa.float64(), "text": pa.string(),
}
INT64_MAX = 2**63 - 1
_INTEGER = re.compile(r"[+-]?[0-9]+")
OTHER_SEPARATORS = ("\t", ",", ";", "|", "::", " ")


@dataclass(frozen=True)
class Col:
    """One column to read. `source` is its name in the file's header (or, for headerless files,
    its documented name) and is what errors show; `name` is the output name. Kinds: `id`
    (integer ≥ 0), `int`, `flag` (0 or 1), `float`, `time` (finite seconds ≥ 0), `text`."""

    source: str
    name: str
    kind: Kind
    nullable: bool = False
    low: float | None = None
    high: float | None = None
    unique: bool = False  # a side table's key: a repeat would duplicate rows when joined


@dataclass(frozen=True)
class Format:
    """How a text file is laid out. `header`: the first line names the columns; otherwise
    `columns` of `read_delimited` lists every column in order. `quoted`: CSV quoting applies."""

    sep: str
    header: bool
    encoding: str = "utf-8"
    quoted: bool = False


def read_delimited(path: Path, fmt: Format, columns: Sequence[Col], *,
                   all_names: Sequence[str] | None = None,
                   keep_others: bool = False) -> tuple[pa.Table, SourceFile]:
    """Reads `columns` of a delimited file (optionally gzipped) into a table with the columns'
    output names and Arrow types, in file order.

    For headerless files `all_names` lists every column of a line (default: the `columns`
    themselves); columns not asked for are skipped, unless `keep_others` (side tables), which
    keeps them under their own names with types that pyarrow infers, unchecked.
    """
    raw, source = read_raw(path)
    table = None
    if raw.startswith(GZIP_MAGIC) and not keep_others:
        table = parse_gzip_fast(path, raw, fmt, columns, all_names=all_names)
    if table is None:
        data = decompressed(path, raw)
        table = parse_delimited(path, data, fmt, columns, all_names=all_names,
                                keep_others=keep_others)
    return table, source


def parse_gzip_fast(path: Path, raw: bytes, fmt: Format, columns: Sequence[Col], *,
                    all_names: Sequence[str] | None = None) -> pa.Table | None:
    """The clean-file fast path for gzip data: pyarrow decompresses while it parses (one core
    each), instead of gunzipping everything first. Only for numeric columns in a single-byte
    separated UTF-8 file, where parsing checks everything the slow path would. Returns None on
    any doubt, and the caller takes the slow path, which also words the error precisely."""
    if len(fmt.sep) != 1 or fmt.encoding != "utf-8" or any(c.kind == "text" for c in columns):
        return None
    if fmt.header:
        head = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS).decompress(raw, 1 << 16)
        if b"\n" not in head:
            return None
        try:
            names = _header(path, head, fmt, columns)
        except InputError:
            return None
    else:
        names = list(all_names) if all_names is not None else [c.source for c in columns]
    try:
        table = pacsv.read_csv(
            pa.CompressedInputStream(pa.BufferReader(raw), "gzip"),
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1 if fmt.header else 0,
                                           block_size=1 << 20),
            parse_options=pacsv.ParseOptions(delimiter=fmt.sep,
                                             quote_char='"' if fmt.quoted else False),
            convert_options=pacsv.ConvertOptions(
                include_columns=[c.source for c in columns],
                column_types={c.source: _ARROW_TYPES[c.kind] for c in columns},
                null_values=[""], strings_can_be_null=False, quoted_strings_can_be_null=False),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError):
        return None
    if table.num_rows == 0 or _first_bad_value(table, columns) is not None:
        return None
    if any(c.unique and first_repeat(table[c.source]) is not None for c in columns):
        return None
    output = {c.source: c.name for c in columns}
    return table.rename_columns([output.get(name, name) for name in table.column_names])


def parse_delimited(path: Path, data: bytes, fmt: Format, columns: Sequence[Col], *,
                    all_names: Sequence[str] | None = None,
                    keep_others: bool = False) -> pa.Table:
    sep = fmt.sep.encode()
    if fmt.header:
        names = _header(path, data, fmt, columns)
    else:
        names = list(all_names) if all_names is not None else [c.source for c in columns]
    if fmt.encoding == "utf-8":
        if not data.isascii():
            check_utf8(path, data, sep, names)
    else:
        data = decode_latin1(path, data, sep, names, fmt.encoding)
    if fmt.header and not has_rows_after_header(data):
        raise InputError(str(path), "no rows (the file has a header but no data)")
    table = _parse(path, data, fmt, names, columns, keep_others)
    problem = _first_bad_value(table, columns)
    if problem is not None:
        row, column, message = problem
        line = line_of_row(data, row, fmt.header)
        raise InputError(str(path), message, line=line, column=column.source)
    for column in columns:
        if column.unique:
            repeat = first_repeat(table[column.source])
            if repeat is not None:
                row, first = repeat
                raise InputError(str(path), f"{column.source} {table[column.source][row]} "
                                 f"already appears on line {line_of_row(data, first, fmt.header)}",
                                 line=line_of_row(data, row, fmt.header), column=column.source)
    output = {c.source: c.name for c in columns}
    return table.rename_columns([output.get(name, name) for name in table.column_names])


def _header(path: Path, data: bytes, fmt: Format, columns: Sequence[Col]) -> list[str]:
    first = first_line(data)
    try:
        text = first.decode("utf-8" if fmt.encoding == "utf-8" else "latin-1")
    except UnicodeDecodeError as error:
        raise InputError(str(path), f"the header has a byte (0x{first[error.start]:02X}) that is "
                         "not valid UTF-8; convert the file to UTF-8", line=1) from None
    header = split_line(text, fmt)
    if len(set(header)) != len(header):
        duplicated = sorted({c for c in header if header.count(c) > 1})
        raise InputError(str(path), f"duplicate column name(s) {duplicated} in the header",
                         line=1, column=duplicated[0])
    missing = [c.source for c in columns if c.source not in header]
    if missing:
        shown = repr(header) if len(repr(header)) <= 160 else repr(header)[:157] + "…"
        raise InputError(str(path), f"missing column {missing[0]!r}; the header is {shown}"
                         f"{separator_hint(header, fmt.sep)}", line=1, column=missing[0])
    return header


def split_line(text: str, fmt: Format) -> list[str]:
    if fmt.quoted:
        return next(csv.reader([text], delimiter=fmt.sep), [])
    return text.split(fmt.sep)


def separator_hint(fields: list[str], sep: str) -> str:
    """' (the separator should be X, …)' when a single field holds another separator."""
    if len(fields) != 1:
        return ""
    for other in OTHER_SEPARATORS:
        if other != sep and other in fields[0] and other not in sep:
            return f" (the separator should be {sep!r}; this line seems to use {other!r})"
    return ""


def _parse(path: Path, data: bytes, fmt: Format, names: list[str], columns: Sequence[Col],
           keep_others: bool) -> pa.Table:
    delimiter = fmt.sep
    parse_data = data
    if len(fmt.sep) > 1:
        # pyarrow takes one-byte delimiters: swap the separator for a tab when none is present.
        if b"\t" in data:
            raise diagnose(path, data, fmt, names, columns) or InputError(
                str(path), f"contains tab characters, which a {fmt.sep!r}-separated file may "
                "not hold")
        parse_data = data.replace(fmt.sep.encode(), b"\t")
        delimiter = "\t"
    try:
        return pacsv.read_csv(
            io.BytesIO(parse_data),
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1 if fmt.header else 0,
                                           block_size=1 << 24),
            parse_options=pacsv.ParseOptions(delimiter=delimiter,
                                             quote_char='"' if fmt.quoted else False),
            convert_options=pacsv.ConvertOptions(
                include_columns=None if keep_others else [c.source for c in columns],
                column_types={c.source: _ARROW_TYPES[c.kind] for c in columns},
                null_values=[""], strings_can_be_null=False, quoted_strings_can_be_null=False),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        found = diagnose(path, data, fmt, names, columns)
        if found is not None:
            raise found from None
        raise InputError(str(path), f"cannot parse: {str(error).splitlines()[0]}") from None


def diagnose(path: Path, data: bytes, fmt: Format, names: list[str],
             columns: Sequence[Col]) -> InputError | None:
    """The first line (in file order) that does not parse, as an InputError; None if all do."""
    positions = {c.source: names.index(c.source) for c in columns}
    encoding = "utf-8" if fmt.encoding == "utf-8" else "latin-1"
    header_text = None
    for number, raw_line in enumerate(data.split(b"\n"), start=1):
        line = raw_line.rstrip(b"\r")
        if not line:
            continue
        text = line.decode(encoding, errors="replace")
        if fmt.header and number == 1:
            header_text = text
            continue
        if header_text is not None and text == header_text:
            return InputError(str(path), "the header line appears again (were two files "
                              "concatenated?)", line=number)
        fields = split_line(text, fmt)
        if len(fields) != len(names):
            return InputError(str(path), f"expected {len(names)} fields separated by "
                              f"{fmt.sep!r}, found {len(fields)}{separator_hint(fields, fmt.sep)}",
                              line=number)
        for column in columns:
            message = parse_problem(column, fields[positions[column.source]])
            if message is not None:
                if number == 1 and not fmt.header and positions[column.source] == 0:
                    message += " (this format has no header line)"
                return InputError(str(path), message, line=number, column=column.source)
    return None


def parse_problem(column: Col, value: str) -> str | None:
    """Why one text value does not parse as its column's kind (None if it does). Range and
    sign checks happen after parsing, in `_first_bad_value`."""
    if value == "":
        return None if column.nullable or column.kind == "text" else "missing value"
    if column.kind in ("id", "int", "flag"):
        if _INTEGER.fullmatch(value) is None:
            return f"{value!r} is not an integer"
        if abs(int(value)) > INT64_MAX:
            return f"{value!r} does not fit in a 64-bit integer"
    elif column.kind in ("float", "time"):
        try:
            float(value)
        except ValueError:
            return f"{value!r} is not a number"
    return None


def _first_bad_value(table: pa.Table, columns: Sequence[Col]) -> tuple[int, Col, str] | None:
    """(row, column, message) of the earliest bad value over all columns."""
    best: tuple[int, Col, str] | None = None
    for column in columns:
        if column.kind == "text":
            continue
        values = table[column.source].combine_chunks()
        bad = _bad_mask(values, column)
        if bad is None or not pc.any(bad).as_py():
            continue
        row = int(pc.index(bad, True).as_py())
        if best is None or row < best[0]:
            best = (row, column, _describe(values[row].as_py(), column))
    return best


def _bad_mask(values: pa.Array, column: Col) -> pa.Array | None:
    checks = []
    if not column.nullable:
        checks.append(pc.is_null(values, nan_is_null=True))
    if column.kind == "id":
        checks.append(pc.less(values, 0))
    elif column.kind == "flag":
        checks.append(pc.invert(pc.is_in(values, pa.array([0, 1]))))
    elif column.kind == "time":
        checks.append(pc.less(values, 0))
        checks.append(pc.is_inf(values))
    elif column.kind == "float":
        checks.append(pc.is_inf(values))
    if column.low is not None:
        checks.append(pc.less(values, column.low))
    if column.high is not None:
        checks.append(pc.greater(values, column.high))
    if not checks:
        return None
    mask = checks[0]
    for check in checks[1:]:
        mask = pc.or_kleene(mask, check)
    return pc.fill_null(mask, False)


def _describe(value: float | int | None, column: Col) -> str:
    if value is None:
        return "missing value"
    if isinstance(value, float) and math.isnan(value):
        return "NaN timestamp" if column.kind == "time" else "NaN value"
    if column.kind == "time":
        return f"infinite timestamp {value}" if math.isinf(value) else \
            f"negative timestamp {_fmt(value)}"
    if column.kind == "id" and value < 0:
        return f"negative id {value}"
    if column.kind == "flag":
        return f"expected 0 or 1, found {value}"
    if isinstance(value, float) and math.isinf(value):
        return f"infinite value {value}"
    return f"{_fmt(value)} is outside the range {_fmt(column.low)} to {_fmt(column.high)}"


def _fmt(number: float | None) -> str:
    """3.0 → '3', 2.5 → '2.5', None → '…' (an open end of a range)."""
    if number is None:
        return "…"
    return str(int(number)) if float(number).is_integer() else str(number)


def first_repeat(column: pa.ChunkedArray | pa.Array) -> tuple[int, int] | None:
    """(row of the first value seen before, row where it was first seen), or None."""
    values = column.to_numpy() if isinstance(column, pa.Array) else \
        column.combine_chunks().to_numpy(zero_copy_only=False)
    order = np.argsort(values, kind="stable")
    same = np.flatnonzero(values[order][1:] == values[order][:-1])
    if len(same) == 0:
        return None
    repeats = order[same + 1]
    index = int(np.argmin(repeats))
    row = int(repeats[index])
    first = int(order[np.searchsorted(values[order], values[row])])
    return row, first


def line_of_row(data: bytes, row: int, header: bool) -> int:
    """1-based line number of data row `row`, skipping the header and blank lines as pyarrow
    does."""
    seen = -1
    for number, line in enumerate(data.split(b"\n"), start=1):
        if header and number == 1:
            continue
        if line.rstrip(b"\r"):
            seen += 1
            if seen == row:
                return number
    return row + (2 if header else 1)
