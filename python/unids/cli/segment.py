"""`unids segment`: cut each user's training sequence into mined patterns."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

import click
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from unids import _core
from unids.cli.engines import check_engine, spark_input
from unids.cli.options import (
    emit,
    input_columns,
    input_options,
    json_option,
    read_input,
    scale_options,
    threads_option,
)
from unids.errors import InputError
from unids.io import Columns, Sequences, atomic_path, write_parquet
from unids.io.streaming import stream_sequences
from unids.mining.segmentation import segment_batch, unigram_costs


@click.command()
@input_options
@click.option("--patterns", "patterns_path", required=True, type=click.Path(dir_okay=False),
              help="Pattern table written by `unids mine`.")
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Parquet file: user_id, items, segment_lengths.")
@click.option("--method", type=click.Choice(["dp", "greedy"]), default="dp", show_default=True,
              help="dp = minimum total entropy; greedy = longest match first.")
@scale_options
@threads_option
@json_option
def segment(input_path: str, user_col: str, item_col: str, time_col: str, sep: str | None,
            holdout: int, patterns_path: str, output: str | None, method: str, stream: bool,
            batch_rows: int, engine: str, master: str | None, spark_conf: tuple[str, ...],
            presorted: bool, threads: int | None, as_json: bool) -> None:
    """Segment every user's training sequence into patterns [P1 … Pk] (SPEC §4).

    With --stream (a Parquet log grouped by user, read twice for dp: the unigram costs, then
    the segments; rows written as they come, in the file's user order) or --engine spark (rows
    by ascending user) the segments are those of the in-memory path (docs/SCALE.md).

    \b
    Examples:
      unids mine ratings.csv -o patterns.parquet
      unids segment ratings.csv --patterns patterns.parquet -o segments.parquet
      unids segment ratings.csv --patterns patterns.parquet --method greedy --json
      unids segment huge.parquet --patterns patterns.parquet --stream -o segments.parquet
      unids segment logs/ --patterns patterns.parquet --engine spark --presorted -o seg.parquet
    """
    start = time.perf_counter()
    check_engine(engine, stream, master, spark_conf, presorted)
    patterns = _read_patterns(patterns_path)
    columns = input_columns(user_col, item_col, time_col)
    counts = _Counts()
    if engine == "spark":
        table = _segment_on_spark(input_path, columns, sep, master, spark_conf, presorted,
                                  batch_rows, patterns, holdout, method, threads)
        counts.add(table["items"], table["segment_lengths"])
        if output:
            write_parquet(table, output)
    elif stream:
        def batches() -> Iterator[Sequences]:
            return stream_sequences(input_path, columns, holdout=holdout, batch_rows=batch_rows)

        costs = unigram_costs(b.items for b in batches()) if method == "dp" else None
        with _row_group_writer(output) as write:
            for batch in batches():
                lengths = segment_batch(batch.items, patterns, method, costs, threads=threads)
                counts.add(batch.items, lengths)
                write(pa.table({"user_id": batch.users, "items": batch.items,
                                       "segment_lengths": lengths}))
    else:
        _, train = read_input(input_path, user_col, item_col, time_col, sep, holdout)
        lengths = _core.segment(train.items, patterns, method=method,  # type: ignore[arg-type]
                                threads=threads)
        table = pa.table({"user_id": train.users, "items": train.items,
                          "segment_lengths": lengths})
        counts.add(train.items, lengths)
        if output:
            write_parquet(table, output)
    summary = {
        **counts.as_dict(),
        "method": method,
        "engine": "spark" if engine == "spark" else "stream" if stream else "memory",
        "output": output,
        "seconds": round(time.perf_counter() - start, 3),
    }
    lines = [
        f"{summary['users']} users, {summary['interactions']} interactions → "
        f"{summary['segments']} segments ({method})",
        f"{summary['share_in_patterns']:.1%} of interactions fall in multi-item patterns",
    ]
    if output:
        lines.append(f"wrote {output}")
    emit(summary, as_json, lines)


class _Counts:
    """The summary's sums, added up batch by batch (the same numbers however the users are
    cut into batches)."""

    def __init__(self) -> None:
        self.users = self.interactions = self.segments = self.in_patterns = 0

    def add(self, items: pa.Array | pa.ChunkedArray, lengths: pa.Array | pa.ChunkedArray
            ) -> None:
        flat = pc.list_flatten(lengths).to_numpy(zero_copy_only=False)
        self.users += len(lengths)
        self.interactions += len(pc.list_flatten(items))
        self.segments += len(flat)
        self.in_patterns += int(flat[flat >= 2].sum())

    def as_dict(self) -> dict[str, object]:
        return {
            "users": self.users,
            "interactions": self.interactions,
            "segments": self.segments,
            # = np.mean of the per-user counts: an exact integer sum, then one division.
            "mean_segments_per_user": self.segments / self.users if self.users else 0.0,
            "share_in_patterns": self.in_patterns / max(1, self.interactions),
        }


@contextlib.contextmanager
def _row_group_writer(path: str | None) -> Iterator[Callable[[pa.Table], None]]:
    """A function that appends a table to `path` as Parquet row groups, written into a
    temporary file renamed onto `path` at the end (without a path it writes nothing)."""
    if path is None:
        yield lambda table: None
        return
    with atomic_path(path) as temporary:
        writer: pq.ParquetWriter | None = None

        def write(table: pa.Table) -> None:
            nonlocal writer
            if writer is None:
                writer = pq.ParquetWriter(temporary, table.schema)
            writer.write_table(table)

        try:
            yield write
        finally:
            if writer is not None:
                writer.close()
        if writer is None:  # no batch at all: an empty table, not an empty file
            pq.write_table(pa.table({"user_id": pa.array([], pa.int64()),
                                     "items": pa.array([], pa.list_(pa.int32())),
                                     "segment_lengths": pa.array([], pa.list_(pa.int32()))}),
                           temporary)


def _segment_on_spark(input_path: str, columns: Columns, sep: str | None, master: str | None,
                      spark_conf: tuple[str, ...], presorted: bool, batch_rows: int,
                      patterns: pa.Table, holdout: int, method: str, threads: int | None
                      ) -> pa.Table:
    """The segments of every user, collected on the driver, by ascending user."""
    from unids.distributed.spark import segment_spark, to_arrow

    with spark_input(input_path, columns, sep, master, spark_conf, presorted=presorted,
                     batch_rows=batch_rows) as df:
        table = to_arrow(segment_spark(df, patterns, columns=columns, holdout=holdout,
                                       method=method,  # type: ignore[arg-type]
                                       presorted=presorted, threads=threads))
    table = table.take(pc.sort_indices(table[columns.user]))
    lists = pa.list_(pa.int32())  # Spark names the list field `element`
    return pa.table({"user_id": table[columns.user].combine_chunks(),
                     "items": table["items"].combine_chunks().cast(lists),
                     "segment_lengths": table["segment_lengths"].combine_chunks().cast(lists)})


def _read_patterns(path: str) -> pa.Table:
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as error:
        raise InputError(path, f"not a readable pattern table ({error})") from None
    for column in ("pattern", "entropy"):
        if column not in table.column_names:
            raise InputError(path, "missing column; expected the output of `unids mine`",
                             column=column)
    return table
