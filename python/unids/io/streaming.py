"""Interaction logs too large for memory: read a Parquet file batch by batch and hand out whole
users, so that per-user work (entropy, segmentation) and the partial counts of the level-wise
miner (`unids.mining.partial`) never need the whole log.

**Precondition.** The rows of one user are contiguous, and, when there is a timestamp column,
in time order. The output of `unids data prepare` is, and so is any export sorted by
`(user, timestamp)`. The reader checks it as it goes and raises a `UserError` naming the row
where a user reappears after other users, or where a user's timestamps go back in time. (The
in-memory path sorts instead; ties of timestamps keep file order in both.)

**Memory.** One read batch (`batch_rows` rows, plus the Parquet row group being decoded), the
rows of the user that straddles the batch boundary (carried over to the next batch; a single
user longer than a batch is held whole), and 8 bytes per user seen so far (to detect a user
that reappears).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from unids.errors import InputError, UserError
from unids.io.interactions import (
    DEFAULT_COLUMNS,
    Columns,
    Sequences,
    check_parquet_schema,
    validate_interactions,
)

#: Rows read per batch by default: ~16 MiB of (user, item, timestamp) columns.
DEFAULT_BATCH_ROWS = 1 << 20


def is_parquet_path(path: str | os.PathLike[str]) -> bool:
    return Path(path).suffix.lower() in {".parquet", ".pq"}


def iter_parquet_batches(
    path: str | os.PathLike[str],
    columns: Columns = DEFAULT_COLUMNS,
    *,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> Iterator[pa.RecordBatch]:
    """The interaction columns of a Parquet file, `batch_rows` rows at a time, validated like
    `read_interactions` (row numbers count from the start of the file)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(str(path), "no such file" if not path.exists() else "not a file")
    if not is_parquet_path(path):
        raise InputError(str(path), "streaming reads Parquet files (.parquet, .pq); convert the "
                                    "log first, e.g. with `unids data prepare`")
    if batch_rows < 1:
        raise ValueError(f"batch_rows must be ≥ 1, got {batch_rows}")
    wanted = [c for c in (columns.user, columns.item, columns.timestamp) if c is not None]
    check_parquet_schema(path, wanted)
    rows = 0
    with pq.ParquetFile(path) as reader:
        for batch in reader.iter_batches(batch_size=batch_rows, columns=wanted):
            if batch.num_rows == 0:
                continue
            validate_interactions(pa.Table.from_batches([batch]), path, columns, None,
                                  row_offset=rows)
            rows += batch.num_rows
            yield batch
    if rows == 0:
        raise InputError(str(path), "no interactions (the file has no rows)")


class _Rows:
    """A user, item[, timestamp] block of rows as NumPy arrays."""

    __slots__ = ("items", "times", "users")

    def __init__(self, users: np.ndarray, items: np.ndarray, times: np.ndarray | None) -> None:
        self.users, self.items, self.times = users, items, times

    @classmethod
    def of(cls, batch: pa.RecordBatch | pa.Table, columns: Columns) -> _Rows:
        def column(name: str) -> pa.Array:
            values = batch.column(name)
            return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values

        users = column(columns.user).to_numpy(zero_copy_only=False)
        items = column(columns.item).cast(pa.int32()).to_numpy(zero_copy_only=False)
        times = None
        if columns.timestamp is not None:
            times = column(columns.timestamp).cast(pa.float64()).to_numpy(zero_copy_only=False)
        return cls(users, items, times)

    def __len__(self) -> int:
        return len(self.users)

    def slice(self, start: int, stop: int | None = None) -> _Rows:
        times = None if self.times is None else self.times[start:stop]
        return _Rows(self.users[start:stop], self.items[start:stop], times)

    @staticmethod
    def concat(parts: list[_Rows]) -> _Rows:
        if len(parts) == 1:
            return parts[0]
        times = None
        if parts[0].times is not None:
            times = np.concatenate([p.times for p in parts])  # type: ignore[misc]
        return _Rows(np.concatenate([p.users for p in parts]),
                     np.concatenate([p.items for p in parts]), times)


def group_users(
    batches: Iterable[pa.RecordBatch | pa.Table],
    columns: Columns = DEFAULT_COLUMNS,
    *,
    source: str = "input",
    check: bool = True,
    first_row: int = 0,
) -> Iterator[Sequences]:
    """Whole users from row batches in which each user's rows are contiguous (and in time
    order): one `Sequences` per batch, holding the users that end in it; a user that straddles a
    boundary is carried over and handed out with the batch where it ends.

    With `check`, a user that reappears after other users, or whose timestamps decrease, raises
    a `UserError` (`source` names the input in the message, `first_row` is the row number of
    the first row in it). Spark's sorted partitions pass `check=False`: they are sorted by
    construction.
    """
    seen = _Seen()  # the users handed out so far (check only)
    carried: list[_Rows] = []  # rows of the user that may continue in the next batch
    rows_before = first_row  # rows of the input before the first carried row
    for batch in batches:
        if batch.num_rows == 0:
            continue
        fresh = _Rows.of(batch, columns)
        rows = _Rows.concat([*carried, fresh])
        users = rows.users
        change = np.flatnonzero(users[1:] != users[:-1]) + 1  # first row of each new run
        if len(change) == 0:  # the whole batch continues one user: keep collecting
            carried = [*carried, fresh]
            continue
        last = int(change[-1])
        done = rows.slice(0, last)
        carried = [rows.slice(last)]
        if check:
            _check(done, change[:-1], seen, rows_before, source)
        rows_before += last
        yield _sequences(done, change[:-1])
    if carried:
        rows = _Rows.concat(carried)
        change = np.flatnonzero(rows.users[1:] != rows.users[:-1]) + 1
        if check:
            _check(rows, change, seen, rows_before, source)
        yield _sequences(rows, change)


def _sequences(rows: _Rows, change: np.ndarray) -> Sequences:
    """`Sequences` of rows made of whole, contiguous users; `change` = first row of each user
    but the first."""
    offsets = np.concatenate([[0], change, [len(rows)]]).astype(np.int32)
    offset_array = pa.array(offsets)
    items = pa.ListArray.from_arrays(offset_array, pa.array(rows.items, pa.int32()))
    times = None
    if rows.times is not None:
        times = pa.ListArray.from_arrays(offset_array, pa.array(rows.times, pa.float64()))
    return Sequences(rows.users[offsets[:-1]], items, times)


class _Seen:
    """The users handed out so far. While they come in ascending order (a log sorted by user,
    the common case) only the last one is needed; the first time they do not, the set is
    built, and from then on kept sorted."""

    def __init__(self) -> None:
        self.last: Any = None
        self.pieces: list[np.ndarray] = []  # ascending runs, in order, while `table` is None
        self.table: np.ndarray | None = None

    def find(self, users: np.ndarray) -> np.ndarray:
        """Which of `users` (distinct) were seen before."""
        if self.table is None:
            ascending = bool(np.all(users[1:] > users[:-1])) if len(users) > 1 else True
            if ascending and (self.last is None or users[0] > self.last):
                return np.zeros(len(users), dtype=bool)
            self.table = np.sort(np.concatenate(self.pieces), kind="stable") if self.pieces \
                else users[:0]
            self.pieces = []
        position = np.searchsorted(self.table, users)
        inside = position < len(self.table)
        again = np.zeros(len(users), dtype=bool)
        again[inside] = self.table[position[inside]] == users[inside]
        return again

    def add(self, users: np.ndarray) -> None:
        if self.table is None:
            self.pieces.append(users)
            self.last = users[-1]
        else:
            self.table = np.sort(np.concatenate([self.table, users]), kind="stable")


def _check(rows: _Rows, change: np.ndarray, seen: _Seen, rows_before: int,
           source: str) -> None:
    """Raises if a user of `rows` appeared before or goes back in time; records the users."""
    starts = np.concatenate([[0], change]).astype(np.int64)
    users = rows.users[starts]
    order = np.argsort(users, kind="stable")
    ranked = users[order]
    repeated = np.flatnonzero(ranked[1:] == ranked[:-1])
    bad_runs = [int(starts[order[repeated[0] + 1]])] if len(repeated) else []
    if not bad_runs:
        again = seen.find(users)
        bad_runs += [int(starts[np.flatnonzero(again)[0]])] if again.any() else []
    if bad_runs:
        row = min(bad_runs)
        raise UserError(
            f"{source}: row {rows_before + row}: user {rows.users[row]} reappears after other "
            "users; streaming needs each user's rows contiguous (sort the log by user and "
            "timestamp, or use the output of `unids data prepare`)")
    if rows.times is not None and len(rows) > 1:
        back = rows.times[1:] < rows.times[:-1]
        back[change - 1] = False  # a new user may start earlier
        if back.any():
            row = int(np.flatnonzero(back)[0]) + 1
            raise UserError(
                f"{source}: row {rows_before + row}: the timestamps of user {rows.users[row]} "
                "go back in time; streaming needs each user's rows in time order (sort the log "
                "by user and timestamp)")
    seen.add(users)


def stream_sequences(
    path: str | os.PathLike[str],
    columns: Columns = DEFAULT_COLUMNS,
    *,
    holdout: int = 0,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> Iterator[Sequences]:
    """Batches of whole users of a Parquet log (see the module's precondition), each user
    without their last `holdout` interactions, as `Sequences.truncate_tail` does in memory."""
    batches = iter_parquet_batches(path, columns, batch_rows=batch_rows)
    for sequences in group_users(batches, columns, source=str(path)):
        yield sequences.truncate_tail(holdout)
