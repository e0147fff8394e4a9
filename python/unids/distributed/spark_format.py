"""`unids format --engine spark`: a prepared dataset's Pattern-Token sequences for one stage,
with the users spread over Spark tasks. The result equals `unids.formats.format_dataset`
(tests/test_spark_format.py): the same PT table, vocabulary, patterns and manifest.

Both engines run the same two halves of `unids.formats.stage`: `plan_format` decides
everything global from sums over the training part (`TrainStats`) and the mined patterns;
`format_part` formats any batch of users with that plan. Here:

1. The driver reads the side tables, the manifest and the footers of `sequences.parquet`
   (one row per user), and cuts its row groups into ranges; Spark runs one task per range
   (`spark.range(n, numPartitions=n).mapInArrow`), which reads its row groups with pyarrow.
   A user is one row, so no user straddles two tasks and nothing is shuffled.
2. Sums: each task emits its partial `TrainStats` as rows (item counts, behaviour value
   histograms, time steps); Spark adds them up (`groupBy(kind, key).agg(sum)`).
3. Patterns: the tasks turn their training sequences into mining chunks, and the level-wise
   two-phase job of `mine_patterns_spark` mines them (`unids.distributed.spark.mine_chunks`).
4. The driver builds the plan (with the whole part's single-item costs for the DP) and
   broadcasts it; each task formats its users (`format_part`), and the driver collects the
   rows and sorts them by user.

Every user's training part stays in its task: no holdout item reaches the sums, the miner
or the tokens (the tasks drop it as they read, with `unids.data.dataset.train_part`).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from unids.data.dataset import HOLDOUT, Dataset, TrainPart, train_part
from unids.distributed.spark import _default_tasks, mine_chunks, require_pyspark, to_arrow
from unids.formats.sources import TrainStats
from unids.formats.stage import (
    FormatConfig,
    FormatPlan,
    FormatResult,
    Stage,
    format_manifest,
    format_part,
    plan_format,
)
from unids.io.interactions import drop_tail
from unids.io.row_groups import RowGroups
from unids.mining.partial import PartialMiner

if TYPE_CHECKING:
    from pyspark.broadcast import Broadcast
    from pyspark.sql import SparkSession

#: Rows of the sums job: `kind` 0 = training interactions of item `key`, 1 = time steps
#: (`key` 0: all, 1: exactly 1 apart), 2 + b = how often behaviour b has the value `key`.
STATS_SCHEMA = "kind int, key double, n bigint"
ITEM_KIND, STEPS_KIND, BEHAVIOR_KIND = 0, 1, 2
#: Users per batch a task formats, by default: one packed row of its PT tokens stays near
#: 10 MB at 50 interactions per user (Spark rows and binary cells must stay far below 2 GiB).
BATCH_USERS = 1 << 14
PT_SCHEMA = pa.schema([("user", pa.int32()), ("tokens", pa.list_(pa.int32())),
                       ("segment_lengths", pa.list_(pa.int32()))])


def format_dataset_spark(spark: SparkSession, directory: str | Path, stage: Stage, *,
                         tasks: int | None = None, batch_rows: int = BATCH_USERS,
                         timings: dict[str, float] | None = None,
                         **options: Any) -> FormatResult:
    """`unids.formats.format_dataset(Dataset.load(directory), stage, **options)` on Spark.

    `directory` must be readable by the driver (side tables, manifest) and by the executors
    (`sequences.parquet`, opened with pyarrow: local or shared paths, `hdfs://`, `s3://`).
    `tasks`: ranges of row groups, one Spark task each (default: as for a Parquet log,
    docs/SCALE.md §2); a dataset written as one row group is read by one task. `batch_rows`:
    users a task reads and formats at a time.
    The PT rows are collected on the driver (about 4 bytes per token), as `unids segment
    --engine spark` does; the per-user work is what runs in the tasks. `timings`, if given,
    receives the seconds of each phase (sums, mining, formatting and collecting).
    """
    clock = _Clock(timings)
    given = FormatConfig(stage=stage, **options)
    config = given.resolved()
    dataset = Dataset.load(directory, sequences=False)
    groups = RowGroups.scan(str(Path(directory) / "sequences.parquet"))
    if tasks is None:
        tasks = _default_tasks(spark, int(groups.nbytes.sum()))
    reader = _Reader(groups, tuple(groups.plan(tasks)), dataset.behaviors,
                     tuple(dataset.sequences.column_names), batch_rows)
    task_ids = spark.range(0, len(reader.ranges), 1, len(reader.ranges))

    stats = _train_stats(task_ids, reader, dataset.n_items)
    clock.lap("sums")
    miner = PartialMiner(miner="entropy" if config.miner == "conditional" else "window",
                         theta=config.theta, theta_scale=float(config.theta_scale or 1.0),
                         min_support=config.min_support, max_len=config.max_len)
    chunks = task_ids.mapInArrow(functools.partial(_chunk_job, reader=reader),
                                 "offsets binary, items binary")
    patterns, _ = mine_chunks(chunks, miner)
    clock.lap("mining")
    plan = plan_format(dataset, stats, given, patterns, batch_costs=True)
    # One core thread per task unless asked (Spark already runs a task per core); the
    # manifest keeps the options as given.
    task_config = replace(plan.config, threads=plan.config.threads or 1)
    shared = spark.sparkContext.broadcast(replace(plan, config=task_config))
    try:
        packed = task_ids.mapInArrow(functools.partial(_format_job, reader=reader, plan=shared),
                                     PACKED_SCHEMA)
        pt = _unpack(to_arrow(packed))
    finally:
        shared.destroy()
    clock.lap("formatting")
    manifest = format_manifest(plan, dataset, pt, seconds=clock.total())
    return FormatResult(pt=pt, vocabulary=plan.vocabulary, patterns=patterns,
                        manifest=manifest)


class _Clock:
    def __init__(self, timings: dict[str, float] | None) -> None:
        self.timings = timings
        self.start = self.last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        if self.timings is not None:
            self.timings[name] = now - self.last
        self.last = now

    def total(self) -> float:
        return time.perf_counter() - self.start


class _Reader:
    """What a task needs to read its users' training parts (picklable, sent to the tasks)."""

    def __init__(self, groups: RowGroups, ranges: tuple[tuple[int, int], ...],
                 behaviors: tuple[str, ...], columns: tuple[str, ...], batch_rows: int) -> None:
        self.groups, self.ranges, self.behaviors = groups, ranges, behaviors
        self.columns, self.batch_rows = columns, batch_rows

    def rows(self, batches: Iterator[pa.RecordBatch], columns: list[str]
             ) -> Iterator[pa.RecordBatch]:
        """The rows (`columns` only) of the tasks named in `batches` (from `spark.range`),
        `batch_rows` users at a time."""
        for batch in batches:
            for task in batch.column(0).to_pylist():
                start, stop = self.ranges[task]
                for _, _, rows in self.groups._batches(start, stop, columns, self.batch_rows):
                    yield rows

    def parts(self, batches: Iterator[pa.RecordBatch]) -> Iterator[TrainPart]:
        """The training parts of the users of the tasks named in `batches`."""
        for rows in self.rows(batches, list(self.columns)):
            yield train_part(rows, self.behaviors)


def _stats_job(batches: Iterator[pa.RecordBatch], *, reader: _Reader, n_items: int
               ) -> Iterator[pa.RecordBatch]:
    """Partial `TrainStats` of a task's users, as `STATS_SCHEMA` rows."""
    total: TrainStats | None = None
    for part in reader.parts(batches):
        stats = TrainStats.of(part, reader.behaviors, n_items)
        total = stats if total is None else total.merge(stats)
    if total is None:
        return
    items = np.flatnonzero(total.item_counts)
    kinds = [np.full(len(items), ITEM_KIND), [STEPS_KIND, STEPS_KIND]]
    keys: list[Any] = [items.astype(np.float64), [0.0, 1.0]]
    counts: list[Any] = [total.item_counts[items], [total.steps, total.unit_steps]]
    for b, name in enumerate(reader.behaviors):
        values, n = total.behavior_values[name]
        kinds.append(np.full(len(values), BEHAVIOR_KIND + b))
        keys.append(values)
        counts.append(n)
    yield pa.RecordBatch.from_arrays(
        [pa.array(np.concatenate(kinds).astype(np.int32)),
         pa.array(np.concatenate(keys).astype(np.float64)),
         pa.array(np.concatenate(counts).astype(np.int64))], ["kind", "key", "n"])


def _train_stats(task_ids: Any, reader: _Reader, n_items: int) -> TrainStats:
    """The `TrainStats` of the whole training part: the tasks' partial sums added up."""
    functions = require_pyspark().functions
    partial = task_ids.mapInArrow(functools.partial(_stats_job, reader=reader,
                                                    n_items=n_items), STATS_SCHEMA)
    sums = to_arrow(partial.groupBy("kind", "key").agg(functions.sum("n").alias("n")))
    kind, key, n = (sums[c].to_numpy() for c in ("kind", "key", "n"))
    order = np.lexsort((key, kind))
    kind, key, n = kind[order], key[order], n[order].astype(np.int64)
    item_counts = np.zeros(n_items + 1, dtype=np.int64)
    items = kind == ITEM_KIND
    item_counts[key[items].astype(np.int64)] = n[items]
    steps = dict(zip(key[kind == STEPS_KIND].tolist(), n[kind == STEPS_KIND].tolist(),
                     strict=True))
    behavior_values = {name: (key[kind == BEHAVIOR_KIND + b], n[kind == BEHAVIOR_KIND + b])
                       for b, name in enumerate(reader.behaviors)}
    return TrainStats(item_counts=item_counts, behavior_values=behavior_values,
                      steps=int(steps.get(0.0, 0)), unit_steps=int(steps.get(1.0, 0)))


def _chunk_job(batches: Iterator[pa.RecordBatch], *, reader: _Reader
               ) -> Iterator[pa.RecordBatch]:
    """The training sequences of a task's users as mining chunks (`CHUNK_FIELDS` of
    `unids.distributed.spark`); reads the `items` column only."""
    for rows in reader.rows(batches, ["items"]):
        items = drop_tail(rows.column("items"), HOLDOUT)
        offsets = items.offsets.to_numpy().astype(np.int64)
        values = items.values.to_numpy(zero_copy_only=False).astype(np.int32)
        yield pa.RecordBatch.from_arrays([pa.array([offsets.tobytes()], pa.binary()),
                                          pa.array([values.tobytes()], pa.binary())],
                                         ["offsets", "items"])


def _format_job(batches: Iterator[pa.RecordBatch], *, reader: _Reader,
                plan: Broadcast[FormatPlan]) -> Iterator[pa.RecordBatch]:
    """A task's users formatted with the broadcast plan, each batch packed into one row."""
    for part in reader.parts(batches):
        yield _pack(format_part(plan.value, part))


#: A batch of PT rows as one row of raw buffers (user int32; per list column its offsets from
#: 0 as int64 and its int32 values): Spark moves a few large binary cells instead of
#: converting every token to and from its row format.
PACKED_SCHEMA = ("users binary, tokens_offsets binary, tokens binary, "
                 "segment_lengths_offsets binary, segment_lengths binary")


def _pack(pt: pa.Table) -> pa.RecordBatch:
    cells: dict[str, bytes] = {"users": pt["user"].to_numpy().astype(np.int32).tobytes()}
    for name in ("tokens", "segment_lengths"):
        lists = pt[name].combine_chunks()
        offsets = lists.offsets.to_numpy().astype(np.int64)
        values = lists.values.to_numpy(zero_copy_only=False).astype(np.int32)
        cells[f"{name}_offsets"] = (offsets - offsets[0]).tobytes()
        cells[name] = values[offsets[0]:offsets[-1]].tobytes()
    return pa.RecordBatch.from_pydict({k: pa.array([v], pa.binary()) for k, v in cells.items()})


def _unpack(packed: pa.Table) -> pa.Table:
    """The PT table of the packed rows, sorted by user (the in-memory order)."""
    def column(name: str, dtype: type) -> list[np.ndarray]:
        return [np.frombuffer(cell.as_buffer(), dtype=dtype)
                for cell in packed[name].combine_chunks()]

    users = np.concatenate([np.zeros(0, np.int32), *column("users", np.int32)])
    order = pa.array(np.argsort(users, kind="stable"))
    data: dict[str, pa.Array] = {"user": pa.array(users).take(order)}
    for name in ("tokens", "segment_lengths"):
        offsets, values = column(f"{name}_offsets", np.int64), column(name, np.int32)
        shift = np.cumsum([0, *(len(v) for v in values)])[:-1]
        flat_offsets = np.concatenate([np.zeros(1, np.int64),
                                       *(o[1:] + k for o, k in zip(offsets, shift, strict=True))])
        lists = pa.ListArray.from_arrays(pa.array(flat_offsets.astype(np.int32)),
                                         pa.array(np.concatenate([np.zeros(0, np.int32),
                                                                  *values])))
        data[name] = lists.take(order)
    return pa.table(data, schema=PT_SCHEMA).combine_chunks()
