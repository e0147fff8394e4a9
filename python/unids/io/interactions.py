"""Reading interaction logs (`user_id, item_id[, timestamp]`) from CSV/TSV/Parquet into
per-user item sequences, with one-line errors that name the file, line and column.

The fast path is pyarrow's multithreaded CSV reader. Only when it fails (or when validation
finds a bad value) do we look closer, so a clean file is read once and a broken one gets a
precise diagnosis.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from unids.errors import InputError

INT32_MAX = 2**31 - 1


@dataclass(frozen=True)
class Columns:
    """Names of the columns to read; `timestamp=None` keeps file order."""

    user: str = "user_id"
    item: str = "item_id"
    timestamp: str | None = "timestamp"


#: The default column names, for signatures (a frozen dataclass, shared safely).
DEFAULT_COLUMNS = Columns()


@dataclass(frozen=True)
class Sequences:
    """Per-user item sequences in time order.

    `items` is a pyarrow `list<int32>` array (one list per user), `users` the user ids in the
    same order (ascending), `timestamps` a parallel `list<float64>` array or None.
    """

    users: np.ndarray
    items: pa.ListArray
    timestamps: pa.ListArray | None

    def __len__(self) -> int:
        return len(self.users)

    @property
    def n_interactions(self) -> int:
        return len(self.items.values)

    def truncate_tail(self, holdout: int) -> Sequences:
        """Drops each user's last `holdout` interactions (the leave-one-out valid/test items),
        so that mining and segmentation see only the training part. Users left empty stay,
        as empty lists, to keep rows aligned with `users`."""
        if holdout < 0:
            raise ValueError("holdout must be ≥ 0")
        if holdout == 0:
            return self
        return Sequences(self.users, drop_tail(self.items, holdout),
                         None if self.timestamps is None else drop_tail(self.timestamps, holdout))


def drop_tail(lists: pa.ListArray, drop: int) -> pa.ListArray:
    """A fresh list array without the last `drop` values of each list (the values are copied,
    so the result shares no memory with the input)."""
    offsets = lists.offsets.to_numpy().astype(np.int64)
    kept = np.maximum(np.diff(offsets) - drop, 0)
    new_offsets = np.concatenate([[0], np.cumsum(kept)])
    # Value j of the result comes from the same position within its list in the input.
    index = np.repeat(offsets[:-1] - new_offsets[:-1], kept) + np.arange(new_offsets[-1])
    values = pc.take(lists.values, pa.array(index, pa.int64()))
    return pa.ListArray.from_arrays(pa.array(new_offsets.astype(np.int32)), values)


def sniff_separator(path: Path) -> str:
    """Separator from the extension, else from the header line."""
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(".csv"):
        return ","
    if name.endswith(".tsv"):
        return "\t"
    header = _open_text(path).readline()
    for sep in ("\t", ",", ";", "|"):
        if sep in header:
            return sep
    raise InputError(str(path), "cannot tell the separator from the header; pass --sep", line=1)


def _open_text(path: Path) -> io.TextIOBase:
    raw = gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb")
    return io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="")


def _is_parquet(path: Path) -> bool:
    return path.suffix.lower() in {".parquet", ".pq"}


def read_interactions(
    path: str | os.PathLike[str],
    columns: Columns = Columns(),
    *,
    sep: str | None = None,
) -> pa.Table:
    """Reads and validates the interaction columns of a CSV/TSV (optionally .gz) or Parquet file.

    Returns a table with int64 `user`, `item` and float64 `timestamp` (when configured) columns,
    under the caller's column names, in file order.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(str(path), "no such file" if not path.exists() else "not a file")
    if not os.access(path, os.R_OK):
        raise InputError(str(path), "permission denied")
    wanted = [c for c in (columns.user, columns.item, columns.timestamp) if c is not None]
    if _is_parquet(path):
        table = _read_parquet(path, wanted)
        first_data_line = None
    else:
        sep = sep or sniff_separator(path)
        table = _read_csv(path, wanted, columns, sep)
        first_data_line = 2  # line 1 is the header
    validate_interactions(table, path, columns, first_data_line)
    return table


def _read_parquet(path: Path, wanted: list[str]) -> pa.Table:
    check_parquet_schema(path, wanted)
    return pq.read_table(path, columns=wanted)


def check_parquet_schema(path: Path, wanted: list[str]) -> None:
    """The file is readable Parquet and has the wanted columns, all numeric."""
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowInvalid, OSError) as error:
        raise InputError(str(path), f"not a readable Parquet file ({error})") from None
    missing = [c for c in wanted if c not in schema.names]
    if missing:
        raise InputError(str(path), f"missing column(s) {missing}; the file has {schema.names}",
                         column=missing[0])
    for name in wanted:
        kind = schema.field(name).type
        if not (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
            raise InputError(str(path), f"has type {kind}, expected numbers", column=name)


def _read_csv(path: Path, wanted: list[str], columns: Columns, sep: str) -> pa.Table:
    header = _read_header(path, sep)
    missing = [c for c in wanted if c not in header]
    if missing:
        hint = ""
        if len(header) == 1 and any(s in header[0] for s in ("\t", ",", ";", "|", ":")):
            hint = f" (is the separator {sep!r} right? pass --sep)"
        raise InputError(str(path), f"missing column {missing[0]!r}; the header is {header}{hint}",
                         line=1, column=missing[0])
    if len(set(header)) != len(header):
        duplicated = sorted({c for c in header if header.count(c) > 1})
        raise InputError(str(path), f"duplicate column name(s) {duplicated} in the header", line=1)
    types = {columns.user: pa.int64(), columns.item: pa.int64()}
    if columns.timestamp is not None:
        types[columns.timestamp] = pa.float64()
    try:
        return pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(block_size=1 << 24),
            parse_options=pacsv.ParseOptions(delimiter=sep),
            convert_options=pacsv.ConvertOptions(include_columns=wanted, column_types=types),
        )
    except (pa.ArrowInvalid, OSError, EOFError) as error:
        raise _diagnose_csv(path, sep, header, wanted, str(error)) from None


def _read_header(path: Path, sep: str) -> list[str]:
    try:
        with _open_text(path) as handle:
            line = handle.readline()
    except (OSError, EOFError) as error:
        raise InputError(str(path), f"cannot read: {error}") from None
    if not line:
        raise InputError(str(path), "the file is empty")
    return next(csv.reader([line.rstrip("\r\n")], delimiter=sep))


def _diagnose_csv(path: Path, sep: str, header: list[str], wanted: list[str],
                  arrow_message: str) -> InputError:
    """Finds the first offending line and column of a CSV that pyarrow refused."""
    index = {name: header.index(name) for name in wanted}
    integer_columns = set(wanted[:2])
    try:
        with _open_text(path) as handle:
            reader = csv.reader(handle, delimiter=sep)
            next(reader)
            for line_number, row in enumerate(reader, start=2):
                if len(row) != len(header):
                    return InputError(str(path), f"expected {len(header)} fields, found {len(row)}",
                                      line=line_number)
                for name, position in index.items():
                    value = row[position]
                    if not _parses(value, integer=name in integer_columns):
                        kind = "an integer" if name in integer_columns else "a number"
                        return InputError(str(path), f"{value!r} is not {kind}",
                                          line=line_number, column=name)
    except (OSError, EOFError) as error:
        return InputError(str(path), f"truncated or corrupt file ({error})")
    return InputError(str(path), f"cannot parse: {arrow_message.splitlines()[0]}")


def _parses(value: str, *, integer: bool) -> bool:
    try:
        int(value) if integer else float(value)
    except ValueError:
        return False
    return True


def validate_interactions(table: pa.Table, path: Path, columns: Columns,
                          first_data_line: int | None, row_offset: int = 0) -> None:
    """Rejects nulls, negative or too large ids, NaN or negative timestamps, empty input.
    `row_offset` numbers the rows of a batch read from the middle of a file."""
    if table.num_rows == 0:
        raise InputError(str(path), "no interactions (the file has a header but no rows)")

    def fail(row: int, name: str, message: str) -> InputError:
        row += row_offset
        if first_data_line is None:
            return InputError(str(path), f"row {row}: {message}", column=name)
        return InputError(str(path), message, line=row + first_data_line, column=name)

    for name in (columns.user, columns.item):
        values = table[name].combine_chunks()
        if values.null_count:
            row = int(pc.index(pc.is_null(values), True).as_py())
            raise fail(row, name, "missing value")
        as_int = values.cast(pa.int64()) if pa.types.is_integer(values.type) else values
        if not pa.types.is_integer(values.type):
            whole = pc.equal(pc.floor(as_int), as_int)
            if not pc.all(whole).as_py():
                row = int(pc.index(whole, False).as_py())
                raise fail(row, name, f"{values[row].as_py()!r} is not an integer id")
        negative = pc.less(as_int, 0)
        if pc.any(negative).as_py():
            row = int(pc.index(negative, True).as_py())
            raise fail(row, name, f"negative id {values[row].as_py()}")
        if name == columns.item:
            too_large = pc.greater(as_int, INT32_MAX)
            if pc.any(too_large).as_py():
                row = int(pc.index(too_large, True).as_py())
                raise fail(row, name, f"item id {values[row].as_py()} does not fit in int32; "
                                      "remap item ids first")
    if columns.timestamp is not None:
        times = table[columns.timestamp].combine_chunks().cast(pa.float64())
        bad = pc.or_kleene(pc.is_null(times, nan_is_null=True), pc.less(times, 0))
        if pc.any(bad).as_py():
            row = int(pc.index(bad, True).as_py())
            value = times[row].as_py()
            raise fail(row, columns.timestamp,
                       "missing or NaN timestamp" if value is None or value != value
                       else f"negative timestamp {value}")


def to_sequences(table: pa.Table, columns: Columns = Columns()) -> Sequences:
    """Groups a validated interaction table by user, stably sorted by timestamp (ties keep file
    order), users ascending."""
    keys = [(columns.user, "ascending")]
    if columns.timestamp is not None:
        keys.append((columns.timestamp, "ascending"))
    # Arrow's sort_indices is stable, so equal keys keep file order.
    order = pc.sort_indices(table, sort_keys=keys)
    users = table[columns.user].take(order).to_numpy()
    items = table[columns.item].take(order).cast(pa.int32()).combine_chunks()
    boundaries = np.flatnonzero(np.diff(users)) + 1
    offsets = np.concatenate([[0], boundaries, [len(users)]]).astype(np.int32)
    item_lists = pa.ListArray.from_arrays(pa.array(offsets), items)
    time_lists = None
    if columns.timestamp is not None:
        times = table[columns.timestamp].take(order).cast(pa.float64()).combine_chunks()
        time_lists = pa.ListArray.from_arrays(pa.array(offsets), times)
    unique_users = users[offsets[:-1]] if len(users) else users
    return Sequences(unique_users, item_lists, time_lists)


def load_sequences(
    path: str | os.PathLike[str],
    columns: Columns = Columns(),
    *,
    sep: str | None = None,
) -> Sequences:
    """`read_interactions` then `to_sequences`."""
    return to_sequences(read_interactions(path, columns, sep=sep), columns)
