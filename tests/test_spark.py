"""The Spark backend on a real local Spark (`local[2]`, one session for the module): per-user
entropy, sequences and segmentation equal the in-memory answers, and the two-phase level-wise
mining job equals `unids.mine_patterns` bit for bit. Few, small tests: Spark starts slowly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import unids
from builders import motif_log
from test_streaming import assert_same_table
from unids.cli import main
from unids.io import Columns, load_sequences
from unids.quality.entropy import entropy_table

pytest.importorskip("pyspark", reason="the Spark backend needs pyspark: pip install '.[spark]'")

from unids.distributed import spark as backend

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Rows in random order, with timestamp ties (the sort must keep file order)."""
    path = tmp_path_factory.mktemp("spark") / "log.parquet"
    pq.write_table(motif_log(seed=5, users=50, shuffle=True), path)
    return path


def by_user(table: pa.Table, column: str = "user_id") -> pa.Table:
    return table.take(pa.array(np.argsort(table[column].to_numpy(), kind="stable")))


def test_per_user_work_equals_in_memory(spark, log: Path) -> None:
    train = load_sequences(log).truncate_tail(2)
    df = spark.read.parquet(str(log))

    sequences = by_user(backend.sequences_spark(df, holdout=2).toArrow())
    assert np.array_equal(sequences["user_id"].to_numpy(), train.users)
    assert sequences["items"].combine_chunks().equals(train.items)
    assert sequences["timestamps"].combine_chunks().equals(train.timestamps)

    expected, _ = entropy_table(train.users, train.items)
    assert_same_table(by_user(backend.real_entropy_spark(df, holdout=2).toArrow()), expected)

    patterns = unids.mine_patterns(train.items, theta_scale=1.5)
    for method in ("dp", "greedy"):
        segments = by_user(backend.segment_spark(df, patterns, holdout=2, method=method)
                           .toArrow())
        assert segments["segment_lengths"].combine_chunks().equals(
            unids.segment(train.items, patterns, method=method)), method


def test_presorted_input_skips_the_shuffle(spark, tmp_path: Path) -> None:
    """A log grouped by user, read in many small partitions: users straddle partitions, and the
    edge users go through the sorted path; everything else stays where it was read."""
    path = tmp_path / "grouped.parquet"
    pq.write_table(motif_log(seed=8, users=40), path, row_group_size=16)
    df = spark.read.option("mergeSchema", "false").parquet(str(path))
    assert df.rdd.getNumPartitions() >= 4
    train = load_sequences(path).truncate_tail(2)

    expected, _ = entropy_table(train.users, train.items)
    got = backend.real_entropy_spark(df, holdout=2, presorted=True)
    assert_same_table(by_user(got.toArrow()), expected)

    params = {"theta_scale": 2.0, "max_len": 4}
    mined, _ = backend.mine_patterns_spark(df, holdout=2, presorted=True, **params)
    assert_same_table(mined, unids.mine_patterns(train.items, **params))


def test_parquet_log_tasks_read_row_groups_with_pyarrow(spark, tmp_path: Path) -> None:
    """A grouped log in two files of row groups of 16 rows, read by Spark tasks through
    pyarrow in batches of 5 rows: users straddle batches, row groups, tasks and the files."""
    table = motif_log(seed=8, users=40)
    cut = table.num_rows // 2
    (tmp_path / "log").mkdir()
    pq.write_table(table.slice(0, cut), tmp_path / "log" / "part-0.parquet", row_group_size=16)
    pq.write_table(table.slice(cut), tmp_path / "log" / "part-1.parquet", row_group_size=16)
    (tmp_path / "log" / "_SUCCESS").write_text("")
    assert table["user_id"][cut - 1] == table["user_id"][cut]  # a user straddles the files
    whole = tmp_path / "whole.parquet"
    pq.write_table(table, whole)
    train = load_sequences(whole).truncate_tail(2)

    log = backend.read_parquet_log(spark, str(tmp_path / "log"), batch_rows=5)
    assert len(log.ranges) >= 6  # maxPartitionBytes is 2 KiB here

    sequences = by_user(backend.sequences_spark(log, holdout=2).toArrow())
    assert np.array_equal(sequences["user_id"].to_numpy(), train.users)
    assert sequences["items"].combine_chunks().equals(train.items)
    assert sequences["timestamps"].combine_chunks().equals(train.timestamps)

    expected, _ = entropy_table(train.users, train.items)
    assert_same_table(by_user(backend.real_entropy_spark(log, holdout=2).toArrow()), expected)

    params = {"theta_scale": 2.0, "max_len": 4}
    mined, interactions = backend.mine_patterns_spark(log, holdout=2, **params)
    assert_same_table(mined, unids.mine_patterns(train.items, **params))
    assert interactions == train.n_interactions

    for method in ("dp", "greedy"):
        segments = by_user(backend.segment_spark(log, mined, holdout=2, method=method)
                           .toArrow())
        assert segments["segment_lengths"].combine_chunks().equals(
            unids.segment(train.items, mined, method=method)), method


def test_parquet_log_in_any_order_goes_through_an_arrow_shuffle(spark, log: Path) -> None:
    """Rows in random order with timestamp ties, read by the tasks with pyarrow and sent to
    their user's partition as Arrow buffers: the in-memory sort, ties in file order."""
    train = load_sequences(log).truncate_tail(2)
    source = backend.read_parquet_log(spark, str(log), grouped=False, tasks=3, batch_rows=50)
    sequences = by_user(backend.sequences_spark(source, holdout=2, partitions=3).toArrow())
    assert np.array_equal(sequences["user_id"].to_numpy(), train.users)
    assert sequences["items"].combine_chunks().equals(train.items)
    assert sequences["timestamps"].combine_chunks().equals(train.timestamps)

    params = {"theta_scale": 2.0, "max_len": 4}
    mined, _ = backend.mine_patterns_spark(source, holdout=2, **params)
    assert_same_table(mined, unids.mine_patterns(train.items, **params))


def test_two_phase_mining_equals_mine_patterns(spark, log: Path) -> None:
    train = load_sequences(log).truncate_tail(2)
    df = spark.read.parquet(str(log))
    params = {"theta_scale": 2.0, "max_len": 4}
    expected = unids.mine_patterns(train.items, **params)
    assert expected.num_rows > 5 and len(set(expected["length"].to_pylist())) > 2
    got, interactions = backend.mine_patterns_spark(df, holdout=2, partitions=3, **params)
    assert_same_table(got, expected)
    assert interactions == train.n_interactions

    # Without timestamps (file order), the window miner.
    files = load_sequences(log, Columns(timestamp=None))
    windows, _ = backend.mine_patterns_spark(df, columns=Columns(timestamp=None), miner="window",
                                             max_len=3, min_support=3)
    expected = unids.window_patterns(files.items, alpha=3, beta=3)
    assert windows.drop_columns("entropy").equals(expected.drop_columns("entropy"))


def test_cli_engine_spark(spark, log: Path, tmp_path: Path) -> None:
    # The running session is reused (and left running); --master only matters for a new one.
    def run(*args: str) -> dict:
        result = CliRunner().invoke(main, [*args, "--json"])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    options = ["--max-len", "3", "--theta-scale", "2"]
    memory = run("mine", str(log), "-o", str(tmp_path / "a.parquet"), *options)
    on_spark = run("mine", str(log), "-o", str(tmp_path / "b.parquet"), *options,
                   "--engine", "spark", "--master", "local[2]")
    assert on_spark["engine"] == "spark" and on_spark["patterns"] == memory["patterns"] > 0
    a, b = pq.read_table(tmp_path / "a.parquet"), pq.read_table(tmp_path / "b.parquet")
    assert a.equals(b)

    memory = run("entropy", str(log), "-o", str(tmp_path / "c.parquet"))
    on_spark = run("entropy", str(log), "-o", str(tmp_path / "d.parquet"), "--engine", "spark")
    volatile = {"output", "seconds", "engine"}
    assert {k: v for k, v in memory.items() if k not in volatile} == \
        {k: v for k, v in on_spark.items() if k not in volatile}
    assert_same_table(pq.read_table(tmp_path / "d.parquet"), pq.read_table(tmp_path / "c.parquet"))
    assert spark.sparkContext._jsc is not None  # still running

    # A CSV log: Spark reads it (a DataFrame, shuffled by user).
    csv = tmp_path / "log.csv"
    pacsv.write_csv(pq.read_table(log), csv)
    on_spark = run("entropy", str(csv), "-o", str(tmp_path / "g.parquet"), "--engine", "spark")
    assert {k: v for k, v in memory.items() if k not in volatile} == \
        {k: v for k, v in on_spark.items() if k not in volatile}

    # Segmentation: with the shuffle by user, and presorted (the tasks read the row groups).
    grouped = tmp_path / "grouped.parquet"
    pq.write_table(motif_log(seed=6, users=30), grouped, row_group_size=16)
    patterns = tmp_path / "patterns.parquet"
    run("mine", str(grouped), "-o", str(patterns), "--theta-scale", "1.5")
    for method in ("dp", "greedy"):
        args = ["segment", str(grouped), "--patterns", str(patterns), "--method", method]
        memory = run(*args, "-o", str(tmp_path / "e.parquet"))
        for engine in (["--engine", "spark"], ["--engine", "spark", "--presorted",
                                                 "--batch-rows", "5"]):
            on_spark = run(*args, "-o", str(tmp_path / "f.parquet"), *engine)
            assert {k: v for k, v in memory.items() if k not in volatile} == \
                {k: v for k, v in on_spark.items() if k not in volatile}
            assert pq.read_table(tmp_path / "e.parquet").equals(
                pq.read_table(tmp_path / "f.parquet")), (method, engine)
    # --presorted on a log that is not grouped: the task's check, as one line.
    result = CliRunner().invoke(main, ["segment", str(log), "--patterns", str(patterns),
                                       "--engine", "spark", "--presorted"])
    assert result.exit_code == 2, result.output
    assert "reappears after other users" in result.stderr and "Traceback" not in result.stderr

    # An input error inside a Spark task comes back as one line, exit code 2.
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"user_id": [1, 1, 2], "item_id": [3, -4, 5],
                             "timestamp": [0.0, 1.0, 2.0]}), bad)
    result = CliRunner().invoke(main, ["entropy", str(bad), "--engine", "spark"])
    assert result.exit_code == 2, result.output
    assert "negative id -4" in result.stderr and "Traceback" not in result.stderr
