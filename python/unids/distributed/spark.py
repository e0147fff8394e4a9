"""The Spark backend (optional extra `unids[spark]`): the same answers as the single-machine
functions, computed on Spark DataFrames of `(user, item[, timestamp])` rows. Design, cost
model and a spark-submit recipe: docs/SCALE.md.

**Per-user work** (real entropy, segmentation, the sequences themselves):
`repartition(user) → sortWithinPartitions(user, timestamp, input order) → mapInArrow`. After
the repartition every user lives in one partition, sorted; the Arrow batches of a partition may
still cut a user in two, so the batches go through `unids.io.streaming.group_users`, which
carries a straddling user over to the next batch, and each batch of whole users goes to
`unids._core` as a zero-copy `list<int32>` array. Ties of timestamps keep input order
(`monotonically_increasing_id()` is the last sort key), as the in-memory path's stable sort.
With `presorted=True` (files already grouped by user and in time order) there is no shuffle:
each partition handles the users inside it and only the first and last user of every
partition, who may straddle two, take the sorted path.

**A Parquet log** (`read_parquet_log`) skips Spark's row conversion altogether: the driver
reads the files' footers and cuts the row groups into ranges; Spark runs one task per range
(`spark.range(n, numPartitions=n).mapInArrow`), and each task reads its row groups with
pyarrow. Grouped by user, a task hands whole users to `unids._core` itself
(`unids.io.row_groups`: a range skips a leading user that began in the previous one and reads
on past its end until its last user ends, so each user is read by exactly one task, with no
shuffle at all). In any order, a task cuts each batch into one piece per partition — user,
item, timestamp and position in the log as raw buffers, a few large rows —, Spark shuffles the
pieces (`repartition(partitions, bucket)`), and each partition sorts its rows by (user,
timestamp, position) with Arrow's sort: the in-memory stable sort.

**Pattern mining** is a two-phase job per level (`unids.mining.partial`): the training
sequences are built once and persisted as binary chunks; each partition counts unigrams
(level 1), then at each level the extensions `P·s` of the kept patterns (`count_extensions`,
with the driver's `LevelPlan` broadcast); Spark adds the partial counts up
(`groupBy(prefix, successor).agg(sum)`), drops candidates below the support threshold, and the
driver applies θ and builds the next plan. The result equals `unids.mine_patterns` exactly
(patterns, supports, entropies, θ, H1).

Not everything can run in the Rust core here: `_core` has no entry point that counts the
extensions of a given pattern set (its miners count their own input, which is one batch of
one partition here), so the per-level counting runs in NumPy on each Arrow batch
(`unids.mining.partial`). Entropy and segmentation call `unids._core` directly; the DP gets
the whole training part's single-item costs (`item_costs=`), not the batch's.
"""

from __future__ import annotations

import functools
import os
import re
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from unids import _core
from unids.errors import UserError
from unids.io.interactions import (
    DEFAULT_COLUMNS,
    Columns,
    Sequences,
    validate_interactions,
)
from unids.io.row_groups import RowGroups
from unids.io.streaming import DEFAULT_BATCH_ROWS, group_users
from unids.mining.partial import (
    SHIFT,
    LevelPlan,
    Miner,
    PartialMiner,
    _Sums,
    count_extensions,
    count_unigrams,
)
from unids.mining.segmentation import item_costs, segment_batch
from unids.quality.entropy import entropy_table

if TYPE_CHECKING:
    from pyspark.accumulators import Accumulator
    from pyspark.broadcast import Broadcast
    from pyspark.sql import DataFrame, SparkSession

__all__ = [
    "ParquetLog",
    "mine_patterns_spark",
    "read_interactions_spark",
    "read_parquet_log",
    "real_entropy_spark",
    "segment_spark",
    "sequences_spark",
    "session",
    "to_arrow",
]

#: Input order, the last sort key (ties of timestamps keep it).
ORDER = "__unids_order"

#: Arrow rows per batch handed to Python (Spark's default is 10,000).
ARROW_BATCH_ROWS = 1 << 16


def require_pyspark() -> Any:
    """`pyspark.sql`, or a UserError that says how to install it."""
    try:
        import pyspark.sql
    except ImportError:
        raise UserError("the Spark backend needs pyspark ≥ 3.5: pip install 'unids[spark]'"
                        ) from None
    return pyspark.sql


def session(
    master: str | None = None,
    *,
    app_name: str = "unids",
    config: dict[str, str] | None = None,
) -> SparkSession:
    """A SparkSession: the running one (spark-submit, a notebook) or a new one on `master`
    (`local[2]`, `spark://host:7077`, `yarn`, `k8s://…`; None = spark-submit's or local[*]).

    For local masters the Python workers run this interpreter and the shuffle has 2 partitions
    per core; `config` overrides any setting (e.g. `spark.driver.memory`).
    """
    sql = require_pyspark()
    # pyspark 4.x warns about pandas 3 on every job; unids moves Arrow, never pandas frames.
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas",
                            category=FutureWarning)
    builder = sql.SparkSession.builder.appName(app_name)
    if master:
        builder = builder.master(master)
    settings = {
        "spark.sql.execution.arrow.maxRecordsPerBatch": str(ARROW_BATCH_ROWS),
        "spark.ui.showConsoleProgress": "false",
    }
    local = re.fullmatch(r"local(?:\[(\d+|\*)(?:,\d+)?\])?", master or "")
    if master and local:
        cores = local.group(1)
        n = (os.cpu_count() or 1) if cores in (None, "*") else int(cores)
        settings.update({
            "spark.pyspark.python": sys.executable,
            "spark.pyspark.driver.python": sys.executable,
            "spark.sql.shuffle.partitions": str(2 * n),
        })
    settings.update(config or {})
    for key, value in settings.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def read_interactions_spark(
    spark: SparkSession, path: str, columns: Columns = DEFAULT_COLUMNS, *, sep: str | None = None
) -> DataFrame:
    """A Parquet file or folder, or a CSV/TSV file (optionally .gz) with a header, as a
    DataFrame of the interaction columns: user and item as bigint, timestamp as double."""
    functions = require_pyspark().functions
    name = path.lower().rstrip("/").removesuffix(".gz")
    if name.endswith((".csv", ".tsv", ".txt")):
        df = spark.read.csv(path, header=True, sep=sep or ("\t" if name.endswith(".tsv") else ","))
    else:
        df = spark.read.parquet(path)
    _check_columns(df, columns, numeric=False)
    casts = [functions.col(columns.user).cast("bigint"), functions.col(columns.item).cast("bigint")]
    if columns.timestamp is not None:
        casts.append(functions.col(columns.timestamp).cast("double"))
    return df.select(*casts)


@dataclass(frozen=True)
class ParquetLog:
    """A Parquet log (file or folder) whose row groups Spark tasks read with pyarrow: task `k`
    reads the row groups `ranges[k]` (see `read_parquet_log`). Accepted wherever the functions
    below take a DataFrame (`presorted` does not apply: `grouped` says it)."""

    spark: SparkSession
    groups: RowGroups
    ranges: tuple[tuple[int, int], ...]
    grouped: bool = True
    batch_rows: int = DEFAULT_BATCH_ROWS


def read_parquet_log(spark: SparkSession, path: str, *, grouped: bool = True,
                     tasks: int | None = None, batch_rows: int = DEFAULT_BATCH_ROWS
                     ) -> ParquetLog:
    """A Parquet file or folder (any filesystem pyarrow opens: local, `hdfs://`, `s3://`, …)
    to be read by Spark tasks with pyarrow instead of through Spark's rows. The driver reads
    only the footers.

    `grouped=True`: the rows, files in path order, are grouped by user and in time order (the
    streaming precondition, docs/SCALE.md): each task hands out the users that begin in its
    row groups, with no shuffle. `grouped=False`: any order; the tasks send their rows to the
    partition of their user as Arrow buffers (one shuffle of a few large rows), where they are
    sorted by user, timestamp and position in the log (ties keep file order, files in path
    order).

    `tasks`: how many ranges of row groups (default: as many as Spark would make partitions of
    the files — `spark.sql.files.maxPartitionBytes` each —, rounded up to a multiple of
    `defaultParallelism`). `batch_rows`: rows per batch a task reads and hands to the core.
    """
    groups = RowGroups.scan(path)
    if tasks is None:
        tasks = _default_tasks(spark, int(groups.nbytes.sum()))
    return ParquetLog(spark, groups, tuple(groups.plan(tasks)), grouped, batch_rows)


def _default_tasks(spark: SparkSession, nbytes: int) -> int:
    cores = max(1, spark.sparkContext.defaultParallelism)
    limit = _byte_size(spark.conf.get("spark.sql.files.maxPartitionBytes") or "128m")
    splits = max(1, -(-nbytes // limit))
    return cores * -(-splits // cores)


def _byte_size(text: str) -> int:
    """Spark's byte strings: `134217728b`, `128m`, `1g`, `2048`."""
    found = re.fullmatch(r"\s*(\d+)\s*([kmgtp]?)b?\s*", text.lower())
    if not found:
        raise UserError(f"not a byte size: {text!r}")
    return int(found.group(1)) << (10 * " kmgtp".index(found.group(2) or " "))


# ---------------------------------------------------------------------------------------------
# Per-user work


def _wanted(columns: Columns) -> list[str]:
    return [c for c in (columns.user, columns.item, columns.timestamp) if c is not None]


def _check_columns(df: DataFrame, columns: Columns, *, numeric: bool = True) -> None:
    fields = {f.name: f.dataType for f in df.schema.fields}
    for name in _wanted(columns):
        if name not in fields:
            raise UserError(f"the DataFrame has no column {name!r}; it has {sorted(fields)}")
        kind = fields[name].typeName()
        if numeric and kind not in ("byte", "short", "integer", "long", "float", "double"):
            raise UserError(f"column {name!r} has type {fields[name].simpleString()}, "
                            "expected numbers")


@dataclass(frozen=True)
class _Layout:
    """How the input is read: its columns, the holdout, and how users are brought together."""

    columns: Columns = DEFAULT_COLUMNS
    holdout: int = 0
    partitions: int | None = None
    presorted: bool = False


def _user_sorted(df: DataFrame, layout: _Layout) -> DataFrame:
    """Rows of a user in one partition, sorted by (user, timestamp, input order)."""
    functions = require_pyspark().functions
    columns = layout.columns
    df = df.select(*_wanted(columns)).withColumn(ORDER, functions.monotonically_increasing_id())
    df = (df.repartition(layout.partitions, columns.user) if layout.partitions
          else df.repartition(columns.user))
    keys = [columns.user, *([columns.timestamp] if columns.timestamp else []), ORDER]
    return df.sortWithinPartitions(*keys)


def _whole_users(batches: Iterator[pa.RecordBatch], layout: _Layout, *,
                 check: bool) -> Iterator[Sequences]:
    """Sequences of whole users from the Arrow batches of one partition (users contiguous),
    validated like a file and without each user's last `holdout` interactions."""
    source = Path("Spark partition")

    def validated() -> Iterator[pa.RecordBatch]:
        for batch in batches:
            if batch.num_rows:
                validate_interactions(pa.Table.from_batches([batch]), source, layout.columns,
                                      None)
                yield batch

    for sequences in group_users(validated(), layout.columns, check=check,
                                 source="Spark partition"):
        yield sequences.truncate_tail(layout.holdout)


def _inner_users(sequences: Iterator[Sequences]) -> Iterator[Sequences]:
    """The batches of one partition without its first and last user, which may continue in
    the neighbouring partitions (`presorted`: those are handled by the sorted path)."""
    previous: Sequences | None = None
    first = True
    for batch in sequences:
        if first:
            batch, first = _slice(batch, 1, len(batch)), False
        if previous is not None and len(previous):
            yield previous
        previous = batch
    if previous is not None and len(previous) > 1:
        yield _slice(previous, 0, len(previous) - 1)


def _slice(sequences: Sequences, start: int, stop: int) -> Sequences:
    stop = max(start, stop)
    times = sequences.timestamps
    return Sequences(sequences.users[start:stop], sequences.items.slice(start, stop - start),
                     None if times is None else times.slice(start, stop - start))


Kernel = Callable[[Sequences], pa.Table]


def _per_user_job(batches: Iterator[pa.RecordBatch], *, layout: _Layout, inner: bool,
                  kernel: Kernel, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    sequences = _whole_users(batches, layout, check=inner)
    for batch in _inner_users(sequences) if inner else sequences:
        yield from kernel(batch).rename_columns(schema.names).cast(schema).to_batches()


def _edge_users(df: DataFrame, user: str) -> list[Any]:
    """The first and the last user of every partition of `df`, in scan order: a JVM-only job
    over the user column."""
    functions = require_pyspark().functions
    marked = df.select(user, functions.spark_partition_id().alias("p"),
                       functions.monotonically_increasing_id().alias("o"))
    ends = marked.groupBy("p").agg(functions.min_by(user, "o").alias("first"),
                                   functions.max_by(user, "o").alias("last")).collect()
    return sorted({row["first"] for row in ends} | {row["last"] for row in ends})


def _row_group_job(batches: Iterator[pa.RecordBatch], *, groups: RowGroups,
                   ranges: tuple[tuple[int, int], ...], batch_rows: int, layout: _Layout,
                   kernel: Kernel, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """The task of a `ParquetLog`: `batches` hold the task numbers (one, from `spark.range`);
    each reads its range of row groups with pyarrow."""
    for batch in batches:
        for task in batch.column(0).to_pylist():
            start, stop = ranges[task]
            for sequences in groups.read_users(start, stop, layout.columns,
                                               batch_rows=batch_rows, holdout=layout.holdout):
                yield from kernel(sequences).rename_columns(schema.names).cast(schema
                                                                               ).to_batches()


#: Rows sent to one partition by the shuffle of a `ParquetLog` that is not grouped, at most
#: (more partitions than `spark.sql.shuffle.partitions` if needed): the partition's Python
#: worker holds and sorts them, ~60 bytes per row at the peak.
SHUFFLE_PARTITION_ROWS = 1 << 22

#: A shuffled piece: the rows of one source batch bound for one partition, as raw buffers.
PIECE_FIELDS = "bucket bigint, users binary, items binary, times binary, positions binary"

#: Rows read per batch by the sending side, at most: its binary cells (int32 offsets) and
#: Spark's rows stay far below 2 GiB.
PIECE_BATCH_ROWS = 1 << 22


def _bucket_keys(spark: SparkSession, partitions: int) -> np.ndarray:
    """For each partition `p`, a bucket value that Spark's hash partitioning into `partitions`
    (`pmod(hash(bucket), partitions)`) sends to `p`: so that every partition gets one bucket
    (a JVM job over a few ids). Only the balance depends on it, not the answers."""
    functions = require_pyspark().functions
    ids = 8 * partitions
    while True:
        rows = (spark.range(ids)
                .select("id", functions.pmod(functions.hash("id"), functions.lit(partitions))
                        .alias("p"))
                .groupBy("p").agg(functions.min("id").alias("id")).collect())
        if len(rows) == partitions:
            keys = np.zeros(partitions, dtype=np.int64)
            for row in rows:
                keys[row["p"]] = row["id"]
            return keys
        ids *= 4


def _bucket_of(users: np.ndarray, buckets: int) -> np.ndarray:
    """A partition per user, in [0, buckets): a multiplicative hash (ids sharing a stride still
    spread), scaled to the range by a multiply-shift instead of a slow 64-bit modulo."""
    mixed = (users.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(32)
    return ((mixed * np.uint64(buckets)) >> np.uint64(32)).astype(np.int64)


def _binary_cells(values: np.ndarray, bounds: np.ndarray) -> pa.Array:
    """`values` cut at `bounds` (element offsets) into binary cells, without a copy."""
    offsets = (bounds * values.itemsize).astype(np.int32)
    return pa.Array.from_buffers(pa.binary(), len(bounds) - 1,
                                 [None, pa.py_buffer(offsets), pa.py_buffer(values)])


def _cell_values(cells: pa.Array, kind: type) -> np.ndarray:
    """The bytes of all the binary cells of `cells`, end to end, as one array (no copy)."""
    offsets = np.frombuffer(cells.buffers()[1], dtype=np.int32)[cells.offset:
                                                                 cells.offset + len(cells) + 1]
    data = cells.buffers()[2]
    return np.frombuffer(data, dtype=np.uint8)[offsets[0]:offsets[-1]].view(kind)


def _scatter_job(batches: Iterator[pa.RecordBatch], *, groups: RowGroups,
                 ranges: tuple[tuple[int, int], ...], batch_rows: int, columns: Columns,
                 keys: np.ndarray) -> Iterator[pa.RecordBatch]:
    """A task of a `ParquetLog` that is not grouped: reads its row groups and cuts each batch
    into one piece per partition (user, item, timestamp and log position as raw buffers)."""
    for batch in batches:
        for task in batch.column(0).to_pylist():
            start, stop = ranges[task]
            for first, rows in groups.read_rows(start, stop, columns, batch_rows=batch_rows):
                yield _pieces(rows, first, columns, keys)


def _pieces(rows: pa.RecordBatch, first: int, columns: Columns, keys: np.ndarray
            ) -> pa.RecordBatch:
    def values(name: str | None, kind: type) -> np.ndarray:
        if name is None:
            return np.zeros(rows.num_rows, dtype=kind)
        return rows.column(name).cast(pa.from_numpy_dtype(kind)).to_numpy(zero_copy_only=False)

    users = values(columns.user, np.int64)
    target = _bucket_of(users, len(keys))
    # A stable counting sort by partition: a radix sort on 16-bit keys.
    order = np.argsort(target.astype(np.uint16) if len(keys) <= 1 << 16 else target,
                       kind="stable")
    counts = np.bincount(target, minlength=len(keys))
    present = np.flatnonzero(counts)
    bounds = np.concatenate([[0], np.cumsum(counts[present])])
    positions = first + order  # the position in the log of each row, in the new order
    return pa.RecordBatch.from_arrays(
        [pa.array(keys[present]), _binary_cells(users[order], bounds),
         _binary_cells(values(columns.item, np.int32)[order], bounds),
         _binary_cells(values(columns.timestamp, np.float64)[order], bounds),
         _binary_cells(positions, bounds)],
        ["bucket", "users", "items", "times", "positions"])


def _gather_job(batches: Iterator[pa.RecordBatch], *, layout: _Layout, batch_rows: int,
                kernel: Kernel, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """The receiving side: all the pieces of one partition, sorted by (user, timestamp, log
    position) — the in-memory stable sort — and handed to `kernel` as batches of whole
    users."""
    kinds = {"users": np.int64, "items": np.int32, "times": np.float64, "positions": np.int64}
    parts: dict[str, list[np.ndarray]] = {name: [] for name in kinds}
    for batch in batches:
        for name, kind in kinds.items():
            parts[name].append(_cell_values(batch.column(name), kind))
    if not parts["users"]:
        return
    users, items, times, positions = (np.concatenate(parts[name]) for name in kinds)
    del parts
    columns = layout.columns
    keys = {"user": users, **({"time": times} if columns.timestamp else {}),
            "position": positions}
    # Arrow's multi-key sort: 2–3× faster than np.lexsort here; positions are distinct, so
    # the order is total.
    order = pc.sort_indices(pa.table(keys), sort_keys=[(k, "ascending") for k in keys]
                            ).to_numpy()
    names = [columns.user, columns.item, *([columns.timestamp] if columns.timestamp else [])]
    data = [users[order], items[order], *([times[order]] if columns.timestamp else [])]
    del users, items, times, positions, order, keys

    def sorted_batches() -> Iterator[pa.RecordBatch]:
        for start in range(0, len(data[0]), batch_rows):
            yield pa.RecordBatch.from_arrays([pa.array(a[start:start + batch_rows])
                                              for a in data], names)

    for sequences in group_users(sorted_batches(), columns, check=False):
        yield from kernel(sequences.truncate_tail(layout.holdout)).rename_columns(
            schema.names).cast(schema).to_batches()


def _map_parquet_log(log: ParquetLog, layout: _Layout, kernel: Kernel,
                     fields: list[tuple[str, pa.DataType]]) -> DataFrame:
    """`_map_users` of a `ParquetLog`: a task per range of row groups; grouped, each hands out
    its own users; not grouped, the rows go to their user's partition first."""
    from pyspark.sql.pandas.types import from_arrow_schema

    columns = layout.columns
    log.groups.check_columns(columns)
    schema = pa.schema([(columns.user, pa.int64()), *fields])
    tasks = log.spark.range(0, len(log.ranges), 1, len(log.ranges))
    if log.grouped:
        return tasks.mapInArrow(
            functools.partial(_row_group_job, groups=log.groups, ranges=log.ranges,
                              batch_rows=log.batch_rows, layout=layout, kernel=kernel,
                              schema=schema),
            from_arrow_schema(schema))
    partitions = layout.partitions or int(log.spark.conf.get("spark.sql.shuffle.partitions")
                                          or 200)
    partitions = max(partitions, -(-log.groups.total_rows // SHUFFLE_PARTITION_ROWS))
    keys = _bucket_keys(log.spark, partitions)
    pieces = tasks.mapInArrow(
        functools.partial(_scatter_job, groups=log.groups, ranges=log.ranges,
                          batch_rows=min(log.batch_rows, PIECE_BATCH_ROWS), columns=columns,
                          keys=keys),
        PIECE_FIELDS)
    return pieces.repartition(partitions, "bucket").mapInArrow(
        functools.partial(_gather_job, layout=layout, batch_rows=log.batch_rows,
                          kernel=kernel, schema=schema),
        from_arrow_schema(schema))


def _map_users(df: DataFrame | ParquetLog, layout: _Layout, kernel: Kernel,
               fields: list[tuple[str, pa.DataType]], *, needs_times: bool = False
               ) -> DataFrame:
    """`kernel` on every batch of whole users; its table has the user column first, then
    `fields`.

    A `ParquetLog`: one Spark task per range of row groups, reading them with pyarrow (no
    Spark rows; grouped, no shuffle; the user column comes out as bigint).

    A DataFrame, by default: `repartition(user) → sortWithinPartitions(user, timestamp,
    input order) → mapInArrow`. With `layout.presorted` (rows already grouped by user, in time
    order, as the files are read) there is no shuffle: each partition handles the users that
    lie inside it, and only the first and last user of each partition — who may straddle two —
    go through the sorted path. The bulk then trusts the time order and does not read the
    timestamps unless the kernel needs them (`needs_times`): moving a float64 column from Spark
    to Python costs as much as the rest of a mining job.
    """
    if layout.holdout < 0:
        raise ValueError("holdout must be ≥ 0")
    from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_type

    if isinstance(df, ParquetLog):
        return _map_parquet_log(df, layout, kernel, fields)
    columns = layout.columns
    _check_columns(df, columns)
    user_type = to_arrow_type(df.schema[columns.user].dataType)
    schema = pa.schema([(columns.user, user_type), *fields])
    spark_schema = from_arrow_schema(schema)

    def job(inner: bool, layout: _Layout = layout
            ) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
        return functools.partial(_per_user_job, layout=layout, inner=inner, kernel=kernel,
                                 schema=schema)

    if not layout.presorted:
        return _user_sorted(df, layout).mapInArrow(job(False), spark_schema)
    bulk = layout
    if not needs_times:
        bulk = replace(layout, columns=replace(columns, timestamp=None))
    inside = df.select(*_wanted(bulk.columns)).mapInArrow(job(True, bulk), spark_schema)
    df = df.select(*_wanted(columns))
    edges = _edge_users(df, columns.user)
    if not edges:
        return inside
    functions = require_pyspark().functions
    straddling = df.where(functions.col(columns.user).isin(edges))
    return inside.unionByName(_user_sorted(straddling, layout).mapInArrow(job(False),
                                                                         spark_schema))


def _sequences_kernel(sequences: Sequences, *, timestamps: bool) -> pa.Table:
    data: dict[str, Any] = {"user": sequences.users, "items": sequences.items}
    if timestamps:
        data["timestamps"] = sequences.timestamps
    return pa.table(data)


def sequences_spark(
    df: DataFrame | ParquetLog,
    *,
    columns: Columns = DEFAULT_COLUMNS,
    holdout: int = 0,
    partitions: int | None = None,
    presorted: bool = False,
) -> DataFrame:
    """One row per user: the user, `items` (array<int>, in time order) and, with a timestamp
    column, `timestamps` (array<double>), without the last `holdout` interactions of each user.
    What `unids.io.load_sequences(...).truncate_tail(holdout)` holds, as a DataFrame.

    `partitions`: of the shuffle by user (default `spark.sql.shuffle.partitions`).
    `presorted=True`: the rows are already grouped by user and in time order as the files are
    read (the streaming precondition, docs/SCALE.md): no shuffle, except for the users at the
    partition edges. Grouping is checked inside each partition and trusted across partitions;
    the time order is trusted (only this function reads the timestamps then).
    `df` may also be a `ParquetLog` (`read_parquet_log`), whose row groups the tasks read
    with pyarrow — no Spark rows; grouped by user, no shuffle either, grouping and time order
    checked inside each task (`partitions` applies to a log that is not grouped, `presorted`
    to none)."""
    timestamps = columns.timestamp is not None
    fields = [("items", pa.list_(pa.int32()))]
    if timestamps:
        fields.append(("timestamps", pa.list_(pa.float64())))
    kernel = functools.partial(_sequences_kernel, timestamps=timestamps)
    return _map_users(df, _Layout(columns, holdout, partitions, presorted), kernel, fields,
                      needs_times=timestamps)


def _entropy_kernel(sequences: Sequences, *, estimator: str, n_symbols: str,
                    n_items: int | None, threads: int | None) -> pa.Table:
    table, _ = entropy_table(sequences.users, sequences.items, estimator=estimator,  # type: ignore[arg-type]
                             n_symbols=n_symbols, threads=threads,  # type: ignore[arg-type]
                             n_items=n_items)
    return table


ENTROPY_FIELDS = [("length", pa.int64()), ("distinct_items", pa.int64()),
                  ("entropy_bits", pa.float64()), ("pi_max", pa.float64()),
                  ("saturated", pa.bool_())]


def real_entropy_spark(
    df: DataFrame | ParquetLog,
    *,
    columns: Columns = DEFAULT_COLUMNS,
    holdout: int = 0,
    estimator: Literal["exact", "approx"] = "exact",
    n_symbols: Literal["user", "global"] = "user",
    partitions: int | None = None,
    presorted: bool = False,
    threads: int | None = 1,
) -> DataFrame:
    """Real entropy and Π_max per user: the rows of `unids.quality.entropy_table` (length,
    distinct_items, entropy_bits, pi_max, saturated) under the input's user column, computed
    by `unids._core.real_entropy` on each Arrow batch of whole users.

    `n_symbols="global"` first counts the distinct items of the training part (one more job).
    `threads` is per Spark task (1: Spark already runs one task per core). `partitions`,
    `presorted`: as in `sequences_spark`.
    """
    if estimator not in ("exact", "approx"):
        raise ValueError(f"estimator must be 'exact' or 'approx', got {estimator!r}")
    layout = _Layout(columns, holdout, partitions, presorted)
    n_items = None
    if n_symbols == "global":
        items, _ = _unigram_counts(_chunks(df, layout))
        n_items = len(items)
    kernel = functools.partial(_entropy_kernel, estimator=estimator, n_symbols=n_symbols,
                               n_items=n_items, threads=threads)
    return _map_users(df, layout, kernel, ENTROPY_FIELDS)


def _segment_kernel(sequences: Sequences, *, patterns: pa.Table, method: str,
                    costs: tuple[np.ndarray, np.ndarray] | None, threads: int | None
                    ) -> pa.Table:
    lengths = segment_batch(sequences.items, patterns, method, costs, threads=threads)
    return pa.table({"user": sequences.users, "items": sequences.items,
                     "segment_lengths": lengths})


def segment_spark(
    df: DataFrame | ParquetLog,
    patterns: pa.Table,
    *,
    columns: Columns = DEFAULT_COLUMNS,
    holdout: int = 0,
    method: Literal["dp", "greedy"] = "dp",
    partitions: int | None = None,
    presorted: bool = False,
    threads: int | None = 1,
) -> DataFrame:
    """Every user's training sequence cut into patterns, as `unids.segment(items, patterns,
    method=…)` on the whole training part: the user, `items`, `segment_lengths`.

    Both run `unids._core.segment` on each batch; `dp` prices single items with the unigram
    counts of the whole training part (one more job counts them), passed to the core as
    `item_costs` (counted on the batch, they would segment differently).
    """
    if method not in ("dp", "greedy"):
        raise ValueError(f"method must be 'dp' or 'greedy', got {method!r}")
    _core.segment([], patterns, method=method)  # the core's checks, once, on the driver
    layout = _Layout(columns, holdout, partitions, presorted)
    table = pa.table({"pattern": patterns["pattern"], "entropy": patterns["entropy"]})
    costs = None
    if method == "dp":
        items, counts = _unigram_counts(_chunks(df, layout))
        costs = (items, item_costs(items, counts))
    kernel = functools.partial(_segment_kernel, patterns=table, method=method, costs=costs,
                               threads=threads)
    fields = [("items", pa.list_(pa.int32())), ("segment_lengths", pa.list_(pa.int32()))]
    return _map_users(df, layout, kernel, fields)


# ---------------------------------------------------------------------------------------------
# Pattern mining and unigram counts over chunks of sequences

#: A batch of whole users' training sequences as two binary cells (int64 offsets from 0, int32
#: items): cheap for Spark to move and cache, and zero-copy back to NumPy.
CHUNK_FIELDS = [("offsets", pa.binary()), ("items", pa.binary())]


def _chunk_kernel(sequences: Sequences) -> pa.Table:
    offsets = sequences.items.offsets.to_numpy().astype(np.int64)
    values = sequences.items.values.slice(offsets[0], offsets[-1] - offsets[0])
    values = values.to_numpy(zero_copy_only=False).astype(np.int32)
    return pa.table({"user": sequences.users[:1],
                     "offsets": pa.array([(offsets - offsets[0]).tobytes()], pa.binary()),
                     "items": pa.array([values.tobytes()], pa.binary())})


def _chunks(df: DataFrame | ParquetLog, layout: _Layout) -> DataFrame:
    """The users' training sequences as chunks (`CHUNK_FIELDS`), one row per batch."""
    return _map_users(df, layout, _chunk_kernel, CHUNK_FIELDS).select("offsets", "items")


def _chunk_sequences(batch: pa.RecordBatch) -> Iterator[pa.ListArray]:
    offsets, items = batch.column("offsets"), batch.column("items")
    for k in range(batch.num_rows):
        starts = np.frombuffer(offsets[k].as_buffer(), dtype=np.int64)
        values = np.frombuffer(items[k].as_buffer(), dtype=np.int32)
        yield pa.LargeListArray.from_arrays(pa.array(starts), pa.array(values))


def _unigram_job(batches: Iterator[pa.RecordBatch], *, rows: Accumulator[int]
                 ) -> Iterator[pa.RecordBatch]:
    """Unigram counts of one partition of chunks, summed over its sequences."""
    sums = _Sums()
    for batch in batches:
        for sequences in _chunk_sequences(batch):
            sums.add(*count_unigrams(sequences))
    items, counts = sums.total()
    rows.add(len(items))
    if len(items):
        yield pa.RecordBatch.from_arrays([pa.array(items), pa.array(counts)], ["item", "n"])


def _unigram_counts(chunks: DataFrame, rows: Accumulator[int] | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(distinct items ascending, counts) of the sequences of a chunk DataFrame."""
    functions = require_pyspark().functions
    if rows is None:
        rows = chunks.sparkSession.sparkContext.accumulator(0)
    partial = chunks.mapInArrow(functools.partial(_unigram_job, rows=rows),
                                "item bigint, n bigint")
    totals = to_arrow(partial.groupBy("item").agg(functions.sum("n").alias("n")))
    order = np.argsort(totals["item"].to_numpy())
    return totals["item"].to_numpy()[order], totals["n"].to_numpy()[order]


def _extension_job(batches: Iterator[pa.RecordBatch], *, plan: Broadcast[LevelPlan],
                   rows: Accumulator[int]) -> Iterator[pa.RecordBatch]:
    """Partial `count(P·s)` and `n_P` of one partition, summed over its sequences, as rows
    (key, n): key `(P << 32) | s` for `count(P·s)`, `(P << 32) | NO_SUCCESSOR` for `n_P`."""
    level = plan.value
    extensions, followed = _Sums(), _Sums()
    for batch in batches:
        for sequences in _chunk_sequences(batch):
            keys, counts, prefixes, n = count_extensions(sequences, level)
            extensions.add(keys, counts)
            followed.add(prefixes, n)
    keys, counts = extensions.total()
    prefixes, n = followed.total()
    rows.add(len(keys) + len(prefixes))
    if len(prefixes) == 0:
        return
    yield pa.RecordBatch.from_arrays(
        [pa.array(np.concatenate([keys, (prefixes << SHIFT) | NO_SUCCESSOR]), pa.int64()),
         pa.array(np.concatenate([counts, n]), pa.int64())], ["key", "n"])


#: The successor slot of an `n_P` row's key: item ids fit in 31 bits, so no item has it.
NO_SUCCESSOR = (1 << SHIFT) - 1


def to_arrow(df: DataFrame) -> pa.Table:
    """`DataFrame.toArrow()` (pyspark ≥ 4), or its private twin in pyspark 3.5."""
    if hasattr(df, "toArrow"):
        return df.toArrow()
    return pa.Table.from_batches(df._collect_as_arrow())


def mine_patterns_spark(
    df: DataFrame | ParquetLog,
    *,
    columns: Columns = DEFAULT_COLUMNS,
    holdout: int = 0,
    miner: Miner = "entropy",
    theta: float | None = None,
    theta_scale: float = 1.0,
    min_support: int = 2,
    max_len: int = 5,
    increment: Literal["surprisal", "plogp"] = "surprisal",
    partitions: int | None = None,
    presorted: bool = False,
    on_level: Callable[[int], None] | None = None,
    stats: list[dict[str, int]] | None = None,
) -> tuple[pa.Table, int]:
    """Algorithm 1 over a DataFrame of interactions, as a two-phase job per level. Returns the
    pattern table of `unids.mine_patterns` on the users' training sequences (the same rows and
    metadata, bit for bit) and the number of training interactions.

    `miner="window"` gives `unids.window_patterns(alpha=max_len, beta=min_support)` instead.
    `partitions`, `presorted`: as in `sequences_spark`.
    Driver memory: the distinct items, and per level the candidates with support ≥
    `min_support` plus one `n_P` per kept pattern.

    `stats`, if given, receives one entry per level: `shuffle_rows` (partial-count rows the
    partitions wrote to the shuffle, 2 longs each), `driver_rows` (rows collected after the
    sum and the support filter), `kept` (patterns kept at that level) and `occurrences` (of the
    previous level's patterns followed by an item: the most rows a level can shuffle, however
    the data is partitioned; level 1: the interactions).
    """
    driver = PartialMiner(miner=miner, theta=theta, theta_scale=theta_scale,
                          min_support=min_support, max_len=max_len, increment=increment)
    chunks = _chunks(df, _Layout(columns, holdout, partitions, presorted))
    return mine_chunks(chunks, driver, on_level=on_level, stats=stats)


def mine_chunks(chunks: DataFrame, driver: PartialMiner, *,
                on_level: Callable[[int], None] | None = None,
                stats: list[dict[str, int]] | None = None) -> tuple[pa.Table, int]:
    """Algorithm 1 (or the window miner: `driver` says) over a DataFrame of training
    sequences as chunks (`CHUNK_FIELDS`), level by level; see `mine_patterns_spark`."""
    functions, storage = require_pyspark().functions, require_pyspark_storage()
    min_support = driver.min_support
    chunks = chunks.persist(storage.MEMORY_AND_DISK)
    context = chunks.sparkSession.sparkContext

    def record(rows: Accumulator[int], collected: int, occurrences: int) -> None:
        if stats is not None:
            stats.append({"level": driver.level, "shuffle_rows": rows.value,
                          "driver_rows": collected, "kept": driver.kept(),
                          "occurrences": occurrences})

    try:
        rows = context.accumulator(0)
        items, counts = _unigram_counts(chunks, rows)
        driver.add_unigrams(items, counts)
        driver.start()
        record(rows, len(items), int(counts.sum()))
        while not driver.done:
            plan = context.broadcast(driver.plan())
            rows = context.accumulator(0)
            job = functools.partial(_extension_job, plan=plan, rows=rows)
            partial = chunks.mapInArrow(job, "key bigint, n bigint")
            key, n = functions.col("key"), functions.col("n")
            summed = (partial.groupBy("key").agg(functions.sum("n").alias("n"))
                      .where((key.bitwiseAND(NO_SUCCESSOR) == NO_SUCCESSOR)
                             | (n >= min_support)))
            totals = to_arrow(summed)
            plan.destroy()
            keys, counts = totals["key"].to_numpy(), totals["n"].to_numpy()
            ext = (keys & NO_SUCCESSOR) != NO_SUCCESSOR  # the other rows are n_P
            driver.add_extensions(keys[ext], counts[ext], keys[~ext] >> SHIFT, counts[~ext])
            driver.advance()
            record(rows, totals.num_rows, int(counts[~ext].sum()))
            if on_level is not None:
                on_level(driver.level)
    finally:
        chunks.unpersist()
    return driver.finish(), driver.interactions


def require_pyspark_storage() -> Any:
    require_pyspark()
    import pyspark

    return pyspark.StorageLevel
