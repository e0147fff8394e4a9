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

**Pattern mining** is a two-phase job per level (`unids.mining.partial`): the training
sequences are built once and persisted as binary chunks; each partition counts unigrams
(level 1), then at each level the extensions `P·s` of the kept patterns (`count_extensions`,
with the driver's `LevelPlan` broadcast); Spark adds the partial counts up
(`groupBy(prefix, successor).agg(sum)`), drops candidates below the support threshold, and the
driver applies θ and builds the next plan. The result equals `unids.mine_patterns` exactly
(patterns, supports, entropies, θ, H1).

Not everything can run in the Rust core here: `_core` has no entry point that counts the
extensions of a given pattern set, nor one that segments with given single-item costs (its
miners and its DP count their own input, which is one batch of one partition here). The
per-level counting and the DP segmentation therefore run in NumPy on each Arrow batch
(`unids.mining.partial`, `unids.mining.segmentation`); entropy and greedy segmentation call
`unids._core` directly.
"""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pyarrow as pa

from unids import _core
from unids.errors import UserError
from unids.io.interactions import (
    DEFAULT_COLUMNS,
    Columns,
    Sequences,
    validate_interactions,
)
from unids.io.streaming import group_users
from unids.mining.partial import (
    SHIFT,
    LevelPlan,
    Miner,
    PartialMiner,
    _Sums,
    count_extensions,
    count_unigrams,
)
from unids.mining.segmentation import item_costs, segment_dp
from unids.quality.entropy import entropy_table

if TYPE_CHECKING:
    from pyspark.accumulators import Accumulator
    from pyspark.broadcast import Broadcast
    from pyspark.sql import DataFrame, SparkSession

__all__ = [
    "mine_patterns_spark",
    "read_interactions_spark",
    "real_entropy_spark",
    "segment_spark",
    "sequences_spark",
    "session",
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


def _map_users(df: DataFrame, layout: _Layout, kernel: Kernel,
               fields: list[tuple[str, pa.DataType]], *, needs_times: bool = False
               ) -> DataFrame:
    """`kernel` on every batch of whole users; its table has the user column first, then
    `fields`.

    Default: `repartition(user) → sortWithinPartitions(user, timestamp, input order) →
    mapInArrow`. With `layout.presorted` (rows already grouped by user, in time order, as the
    files are read) there is no shuffle: each partition handles the users that lie inside it,
    and only the first and last user of each partition — who may straddle two — go through
    the sorted path. The bulk then trusts the time order and does not read the timestamps
    unless the kernel needs them (`needs_times`): moving a float64 column from Spark to Python
    costs as much as the rest of a mining job.
    """
    if layout.holdout < 0:
        raise ValueError("holdout must be ≥ 0")
    from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_type

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
    df: DataFrame,
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
    the time order is trusted (only this function reads the timestamps then)."""
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
    df: DataFrame,
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
    if costs is None:
        lengths = _core.segment(sequences.items, patterns, method="greedy", threads=threads)
    else:
        lengths = segment_dp(sequences.items, patterns, *costs)
    return pa.table({"user": sequences.users, "items": sequences.items,
                     "segment_lengths": lengths})


def segment_spark(
    df: DataFrame,
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

    `greedy` runs `unids._core.segment` on each batch. `dp` prices single items with the
    unigram counts of the whole training part (one more job counts them); `_core.segment`
    would count the batch instead, so the DP runs in NumPy (`unids.mining.segmentation`):
    exact, but a few µs per interaction instead of tens of ns.
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


def _chunks(df: DataFrame, layout: _Layout) -> DataFrame:
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
    totals = _to_arrow(partial.groupBy("item").agg(functions.sum("n").alias("n")))
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


def _to_arrow(df: DataFrame) -> pa.Table:
    """`DataFrame.toArrow()` (pyspark ≥ 4), or its private twin in pyspark 3.5."""
    if hasattr(df, "toArrow"):
        return df.toArrow()
    return pa.Table.from_batches(df._collect_as_arrow())


def mine_patterns_spark(
    df: DataFrame,
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
    sql = require_pyspark()
    functions, storage = sql.functions, require_pyspark_storage()
    driver = PartialMiner(miner=miner, theta=theta, theta_scale=theta_scale,
                          min_support=min_support, max_len=max_len, increment=increment)
    spark = df.sparkSession
    chunks = _chunks(df, _Layout(columns, holdout, partitions, presorted))
    chunks = chunks.persist(storage.MEMORY_AND_DISK)
    context = spark.sparkContext

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
            totals = _to_arrow(summed)
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
