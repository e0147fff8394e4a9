"""A Parquet log grouped by user, cut into ranges of row groups that independent workers (Spark
tasks) read with pyarrow, each handing out exactly the users whose first row lies in its range.

The files of a log (one file, or a folder read in path order, skipping names that start with
`_` or `.` as Spark does) form one sequence of row groups. The streaming precondition
(`unids.io.streaming`) must hold for that sequence: each user's rows contiguous and, with a
timestamp column, in time order. A user may straddle row groups and files. The rule that makes
every user belong to exactly one range, without any exchange between the workers:

* a range **skips its leading user** if that user already appears at the end of the previous
  row group (its first row lies in an earlier range) — the worker reads the user column of that
  one row group to know;
* a range **reads past its end** until its last user ends (usually a few rows of the next row
  group).

    groups = RowGroups.scan("logs/interactions/")        # the driver: footers only
    for start, stop in groups.plan(tasks=8):             # contiguous ranges, balanced by rows
        for batch in groups.read_users(start, stop, Columns(), batch_rows=1 << 20):
            ...                                          # Sequences of whole users

Inside a range the precondition is checked as in streaming (a user that reappears, timestamps
that go back: a `UserError` naming the file and row); across ranges it is trusted.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from unids.errors import InputError, UserError
from unids.io.interactions import Columns, Sequences, validate_interactions
from unids.io.streaming import group_users

#: Footers read at once while scanning a folder (they are small; on object stores the latency
#: dominates).
FOOTER_THREADS = 16


def _filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    """The filesystem of `uri` (`hdfs://…`, `s3://…`, `file://…` or a local path) and the path
    inside it."""
    if "://" in uri:
        try:
            return pafs.FileSystem.from_uri(uri)
        except (pa.ArrowInvalid, OSError) as error:
            raise InputError(uri, f"cannot open ({error})") from None
    return pafs.LocalFileSystem(), os.path.abspath(uri)


def _is_hidden(path: str, root: str) -> bool:
    parts = Path(os.path.relpath(path, root)).parts
    return any(part.startswith(("_", ".")) for part in parts)


@dataclass(frozen=True)
class RowGroups:
    """The non-empty row groups of a Parquet log, in read order (files by path, then row
    groups in file order). Row group `g` is row group `index[g]` of file `file[g]`; its first
    row is row `first_row[g]` of that file."""

    uri: str
    filesystem: pafs.FileSystem
    files: tuple[str, ...]
    schemas: tuple[pa.Schema, ...]  # per file
    file: np.ndarray  # (G,) int64
    index: np.ndarray  # (G,) int64
    rows: np.ndarray  # (G,) int64
    first_row: np.ndarray  # (G,) int64
    nbytes: np.ndarray  # (G,) int64, compressed, all columns

    @classmethod
    def scan(cls, uri: str) -> RowGroups:
        """Lists the files of `uri` and reads their footers (nothing else)."""
        filesystem, root = _filesystem(uri)
        info = filesystem.get_file_info(root)
        if info.type == pafs.FileType.NotFound:
            raise InputError(uri, "no such file or folder")
        if info.type == pafs.FileType.File:
            files = [root]
        else:
            found = filesystem.get_file_info(pafs.FileSelector(root, recursive=True))
            files = sorted(f.path for f in found
                           if f.type == pafs.FileType.File and not _is_hidden(f.path, root))
            if not files:
                raise InputError(uri, "the folder holds no Parquet files")

        def footer(path: str) -> pq.FileMetaData:
            try:
                with filesystem.open_input_file(path) as handle:
                    return pq.ParquetFile(handle).metadata
            except (pa.ArrowInvalid, OSError) as error:
                raise InputError(path, f"not a readable Parquet file ({error})") from None

        with ThreadPoolExecutor(min(FOOTER_THREADS, len(files))) as pool:
            footers = list(pool.map(footer, files))
        file, index, rows, first_row, nbytes = [], [], [], [], []
        for k, meta in enumerate(footers):
            row = 0
            for g in range(meta.num_row_groups):
                group = meta.row_group(g)
                if group.num_rows:
                    file.append(k)
                    index.append(g)
                    rows.append(group.num_rows)
                    first_row.append(row)
                    nbytes.append(sum(group.column(c).total_compressed_size
                                      for c in range(group.num_columns)))
                row += group.num_rows
        if not rows:
            raise InputError(uri, "no interactions (the file has no rows)")

        def array(values: list[int]) -> np.ndarray:
            return np.array(values, dtype=np.int64)

        return cls(uri, filesystem, tuple(files),
                   tuple(meta.schema.to_arrow_schema() for meta in footers),
                   array(file), array(index), array(rows), array(first_row), array(nbytes))

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def total_rows(self) -> int:
        return int(self.rows.sum())

    def check_columns(self, columns: Columns) -> None:
        """Every file has the interaction columns, as numbers."""
        wanted = [c for c in (columns.user, columns.item, columns.timestamp) if c is not None]
        for path, schema in zip(self.files, self.schemas, strict=True):
            missing = [c for c in wanted if c not in schema.names]
            if missing:
                raise InputError(path, f"missing column(s) {missing}; the file has "
                                       f"{schema.names}", column=missing[0])
            for name in wanted:
                kind = schema.field(name).type
                if not (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
                    raise InputError(path, f"has type {kind}, expected numbers", column=name)

    def plan(self, tasks: int) -> list[tuple[int, int]]:
        """At most `tasks` ranges `[start, stop)` of whole row groups covering the log, about
        equal in rows (row group `g` goes to range ⌊first global row of g × tasks / rows⌋),
        never spanning two files: one file's row groups are opened by one reader."""
        if tasks < 1:
            raise ValueError(f"tasks must be ≥ 1, got {tasks}")
        starts = np.concatenate([[0], np.cumsum(self.rows)[:-1]])
        bucket = starts * tasks // self.total_rows
        cut = np.flatnonzero((bucket[1:] != bucket[:-1]) | (self.file[1:] != self.file[:-1])) + 1
        bounds = [0, *cut.tolist(), len(self)]
        return list(itertools.pairwise(bounds))

    # -- reading (a worker) -----------------------------------------------------------------

    def _batches(self, start: int, stop: int, columns: list[str], batch_rows: int
                 ) -> Iterator[tuple[int, int, pa.RecordBatch]]:
        """(file, row in the file of the batch's first row, batch) over row groups
        [start, stop), `batch_rows` rows at a time."""
        g = start
        while g < stop:
            f = int(self.file[g])
            end = g + int(np.searchsorted(self.file[g:stop], f, side="right"))
            row = int(self.first_row[g])
            with self.filesystem.open_input_file(self.files[f]) as handle:
                reader = pq.ParquetFile(handle)
                for batch in reader.iter_batches(batch_size=batch_rows,
                                                 row_groups=self.index[g:end].tolist(),
                                                 columns=columns, use_threads=False):
                    if batch.num_rows:
                        yield f, row, batch
                        row += batch.num_rows
            g = end

    def read_rows(self, start: int, stop: int, columns: Columns, *, batch_rows: int
                  ) -> Iterator[tuple[int, pa.RecordBatch]]:
        """The validated rows of row groups [start, stop) as they are, with the position in
        the whole log (files in path order) of each batch's first row — for readers that bring
        the users together themselves (a shuffle)."""
        wanted = [c for c in (columns.user, columns.item, columns.timestamp) if c is not None]
        before = np.concatenate([[0], np.cumsum(self.rows)[:-1]])  # log rows before group g
        file_start = np.zeros(len(self.files), dtype=np.int64)
        file_start[self.file] = before - self.first_row
        for f, row, batch in self._batches(start, stop, wanted, batch_rows):
            validate_interactions(pa.Table.from_batches([batch]), Path(self.files[f]), columns,
                                  None, row_offset=row)
            yield int(file_start[f]) + row, batch

    def _last_user(self, g: int, user: str) -> object:
        """The user of the last row of row group `g`."""
        with self.filesystem.open_input_file(self.files[self.file[g]]) as handle:
            column = pq.ParquetFile(handle).read_row_group(int(self.index[g]), columns=[user],
                                                           use_threads=False)[user]
        return column[len(column) - 1].as_py()

    def _owned_batches(self, start: int, stop: int, columns: Columns, batch_rows: int
                       ) -> Iterator[tuple[int, int, pa.RecordBatch]]:
        """The validated rows of the users whose first row lies in [start, stop)."""
        wanted = [c for c in (columns.user, columns.item, columns.timestamp) if c is not None]
        skip = self._last_user(start - 1, columns.user) if start > 0 else None
        last: pa.RecordBatch | None = None  # the last row handed out
        for f, row, batch in self._batches(start, stop, wanted, batch_rows):
            if skip is not None:  # the leading user belongs to an earlier range
                other = np.flatnonzero(batch.column(columns.user).to_numpy(
                    zero_copy_only=False) != skip)
                if len(other) == 0:
                    continue
                batch, row, skip = batch.slice(int(other[0])), row + int(other[0]), None
            validate_interactions(pa.Table.from_batches([batch]), Path(self.files[f]), columns,
                                  None, row_offset=row)
            yield f, row, batch
            last = batch.slice(batch.num_rows - 1)
        if last is None:
            return
        # Read on until the last user ends (it may run into the next files).
        user = last.column(columns.user)[0].as_py()
        for f, row, batch in self._batches(stop, len(self), wanted, batch_rows):
            other = np.flatnonzero(batch.column(columns.user).to_numpy(zero_copy_only=False)
                                   != user)
            tail = batch.slice(0, int(other[0])) if len(other) else batch
            if tail.num_rows:
                validate_interactions(pa.Table.from_batches([tail]), Path(self.files[f]),
                                      columns, None, row_offset=row)
                self._check_times(last, tail, columns, self.files[f], row)
                yield f, row, tail
                last = tail.slice(tail.num_rows - 1)
            if len(other):
                return

    @staticmethod
    def _check_times(last: pa.RecordBatch, tail: pa.RecordBatch, columns: Columns, path: str,
                     row: int) -> None:
        """The time order of the rows read past the range (group_users would number them
        from the range's file)."""
        if columns.timestamp is None:
            return
        times = np.concatenate([
            last.column(columns.timestamp).cast(pa.float64()).to_numpy(zero_copy_only=False),
            tail.column(columns.timestamp).cast(pa.float64()).to_numpy(zero_copy_only=False)])
        back = np.flatnonzero(times[1:] < times[:-1])
        if len(back):
            user = tail.column(columns.user)[0].as_py()
            raise UserError(
                f"{path}: row {row + int(back[0])}: the timestamps of user {user} go back in "
                "time; streaming needs each user's rows in time order (sort the log by user "
                "and timestamp)")

    def read_users(self, start: int, stop: int, columns: Columns, *, batch_rows: int,
                   holdout: int = 0) -> Iterator[Sequences]:
        """Batches of the whole users whose first row lies in row groups [start, stop), each
        user without their last `holdout` interactions."""
        if batch_rows < 1:
            raise ValueError(f"batch_rows must be ≥ 1, got {batch_rows}")
        owned = self._owned_batches(start, stop, columns, batch_rows)
        first = next(owned, None)
        if first is None:
            return
        f, row, batch = first
        batches = itertools.chain([batch], (b for _, _, b in owned))
        for sequences in group_users(batches, columns, source=self.files[f], first_row=row):
            yield sequences.truncate_tail(holdout)
