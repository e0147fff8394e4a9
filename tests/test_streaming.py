"""Streaming a Parquet log in tiny row groups and batches gives what the in-memory path gives:
the same users and sequences, the same per-user entropies, and — through the level-wise
partial counts of `unids.mining.partial` — the same patterns as `mine_patterns`, bit for bit."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

import unids
from builders import motif_log
from strategies import mining_sequences, pattern_table, random_pattern_tables
from unids import _core
from unids.cli import main
from unids.errors import InputError, UserError
from unids.io import Columns, load_sequences
from unids.io.streaming import group_users, stream_sequences
from unids.mining.partial import (
    PartialMiner,
    count_extensions,
    count_unigrams,
    mine_in_passes,
    rust_float_text,
)
from unids.mining.segmentation import item_costs, segment_batch, segment_dp, unigram_costs
from unids.quality.entropy import entropy_table, entropy_table_batches

LIST32 = pa.list_(pa.int32())


def assert_same_table(got: pa.Table, expected: pa.Table) -> None:
    """Same schema and metadata, same values; floats equal bit for bit (NaN included)."""
    assert got.schema.equals(expected.schema, check_metadata=True), (got.schema, expected.schema)
    for name in expected.column_names:
        a, b = got[name].combine_chunks(), expected[name].combine_chunks()
        if pa.types.is_floating(b.type):
            assert np.array_equal(a.to_numpy().view(np.int64), b.to_numpy().view(np.int64)), name
        else:
            assert a.equals(b), name


assert_same_patterns = assert_same_table


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """~1,200 rows grouped by user, in row groups of 7 rows."""
    path = tmp_path_factory.mktemp("stream") / "log.parquet"
    pq.write_table(motif_log(seed=3, users=60), path, row_group_size=7)
    return path


@pytest.mark.parametrize("batch_rows", [1, 5, 64, 1 << 20])
@pytest.mark.parametrize("holdout", [0, 2])
def test_batches_hold_whole_users_as_in_memory(log: Path, batch_rows: int, holdout: int) -> None:
    # batch_rows = 1: every user straddles batches; 5 and 64: some do; 1 << 20: one batch.
    expected = load_sequences(log).truncate_tail(holdout)
    batches = list(stream_sequences(log, holdout=holdout, batch_rows=batch_rows))
    assert all(len(b) for b in batches)
    assert len(batches) > 1 or batch_rows > 1000
    users = np.concatenate([b.users for b in batches])
    # The file is grouped but not sorted by user; the in-memory path sorts users.
    order = np.argsort(users)
    assert np.array_equal(users[order], expected.users)
    items = pa.concat_arrays([b.items for b in batches]).take(pa.array(order))
    times = pa.concat_arrays([b.timestamps for b in batches]).take(pa.array(order))
    assert items.equals(expected.items)
    assert times.equals(expected.timestamps)


def test_a_user_longer_than_many_batches() -> None:
    table = pa.table({"user_id": [5] * 23 + [1] * 2 + [9] * 11,
                      "item_id": list(range(36)), "timestamp": [0.0] * 36})
    batches = list(group_users(table.to_batches(max_chunksize=3), Columns()))
    assert [b.users.tolist() for b in batches] == [[5], [1], [9]]
    assert [len(b.items.values) for b in batches] == [23, 2, 11]


@pytest.mark.parametrize("n_symbols", ["user", "global"])
def test_streamed_entropy_equals_in_memory(log: Path, n_symbols: str) -> None:
    train = load_sequences(log).truncate_tail(2)
    expected, summary = entropy_table(train.users, train.items, n_symbols=n_symbols)
    n_items = len(np.unique(train.items.values.to_numpy())) if n_symbols == "global" else None
    got, got_summary = entropy_table_batches(
        stream_sequences(log, holdout=2, batch_rows=13), n_symbols=n_symbols, n_items=n_items)
    got = got.take(pa.array(np.argsort(got["user_id"].to_numpy())))
    assert_same_table(got, expected)
    assert str(got_summary) == str(summary)  # NaN-safe


PARAMS = [
    {},
    {"theta_scale": 1.4, "min_support": 3, "max_len": 4},
    {"theta": 9.5, "min_support": 1, "increment": "plogp"},
]


@pytest.mark.parametrize("params", PARAMS)
@pytest.mark.parametrize("batch_rows", [3, 200])
def test_streamed_mining_equals_mine_patterns(log: Path, params: dict, batch_rows: int) -> None:
    train = load_sequences(log).truncate_tail(2)
    expected = unids.mine_patterns(train.items, **params)
    assert expected.num_rows > 5 and len(set(expected["length"].to_pylist())) > 1

    def passes():
        return (b.items for b in stream_sequences(log, holdout=2, batch_rows=batch_rows))

    got, interactions = mine_in_passes(passes, **params)
    assert_same_patterns(got, expected)
    assert interactions == train.n_interactions


def test_streamed_window_miner_equals_window_patterns(log: Path) -> None:
    train = load_sequences(log).truncate_tail(2)
    expected = unids.window_patterns(train.items, alpha=4, beta=3)
    got, _ = mine_in_passes(lambda: (b.items for b in stream_sequences(log, batch_rows=50,
                                                                       holdout=2)),
                            miner="window", max_len=4, min_support=3)
    assert got.schema.equals(expected.schema, check_metadata=True)
    assert got.drop_columns("entropy").equals(expected.drop_columns("entropy"))
    assert np.isnan(got["entropy"].to_numpy()).all()


params_strategy = st.fixed_dictionaries(
    {
        "theta_scale": st.sampled_from([0.5, 1.0, 1.5, 2.0, 3.0]),
        "min_support": st.integers(1, 3),
        "max_len": st.integers(2, 5),
        "increment": st.sampled_from(["surprisal", "plogp"]),
    }
)


@settings(max_examples=150, deadline=None)
@given(seqs=mining_sequences(), params=params_strategy, cuts=st.lists(st.integers(0, 6)))
def test_partial_counts_in_any_split_equal_mine_patterns(seqs, params, cuts) -> None:
    """Random sequences, split into random batches of whole sequences: summing the partial
    counts of the batches reproduces `mine_patterns` exactly (ids up to 2^31 − 1 included)."""
    data = pa.array(seqs, LIST32)
    bounds = sorted({0, len(seqs), *(c for c in cuts if c <= len(seqs))})
    batches = [data.slice(a, b - a) for a, b in itertools.pairwise(bounds)]
    driver = PartialMiner(**params)
    for batch in batches:
        driver.add_unigrams(*count_unigrams(batch))
    driver.start()
    while not driver.done:
        plan = driver.plan()
        for batch in batches:
            driver.add_extensions(*count_extensions(batch, plan))
        driver.advance()
    assert_same_patterns(driver.finish(), unids.mine_patterns(data, **params))


@pytest.mark.parametrize("value", [0.0, 2.25, 1e-5, 0.0001, 123.456, 1e16, 9.5e17, 1 / 3])
def test_metadata_floats_are_written_as_the_core_writes_them(value: float) -> None:
    meta = unids.mine_patterns(pa.array([], LIST32), theta=value).schema.metadata
    assert rust_float_text(value) == meta[b"theta"].decode()


def test_parameters_are_checked_like_the_core() -> None:
    with pytest.raises(ValueError, match="max_len"):
        PartialMiner(max_len=1)
    with pytest.raises(ValueError, match="min_support"):
        PartialMiner(min_support=0)


# --- violations of the precondition, and bad input ---------------------------------------------


def write(tmp_path: Path, users: list[int], times: list[float] | None = None,
          items: list[int] | None = None) -> Path:
    path = tmp_path / "bad.parquet"
    columns = {"user_id": users, "item_id": items or [1] * len(users)}
    columns["timestamp"] = times if times is not None else [float(i) for i in range(len(users))]
    pq.write_table(pa.table(columns), path, row_group_size=2)
    return path


@pytest.mark.parametrize(("users", "row"), [([4, 4, 7, 7, 7, 4, 9], 5),
                                           ([3, 3, 8, 8, 5, 5, 3], 6),
                                           ([9, 9, 3, 5, 5, 1, 3, 2], 6)])
def test_a_user_that_reappears_is_an_error_naming_the_row(tmp_path: Path, users: list[int],
                                                          row: int) -> None:
    path = write(tmp_path, users)
    for batch_rows in (1, 2, 3, 100):
        with pytest.raises(UserError, match=rf"row {row}: user {users[row]} reappears after"):
            list(stream_sequences(path, batch_rows=batch_rows))
    # Grouped but not sorted by user is fine.
    fine = write(tmp_path, users[:row])
    for batch_rows in (1, 2, 100):
        assert len(np.concatenate([b.users for b in stream_sequences(fine, batch_rows=batch_rows)
                                   ])) == len(set(users[:row]))


def test_timestamps_going_back_are_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, [4, 4, 4, 2, 2], times=[1.0, 3.0, 2.0, 9.0, 0.0])
    with pytest.raises(UserError, match=r"row 2: the timestamps of user 4 go back in time"):
        list(stream_sequences(path, batch_rows=2))
    # Without a timestamp column, file order is the order: no check.
    assert len(list(stream_sequences(path, Columns(timestamp=None), batch_rows=2))) >= 1


def test_bad_values_are_reported_with_the_row_of_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, [1, 1, 2, 2, 3, 3], items=[1, 2, 3, 4, -5, 6])
    with pytest.raises(InputError, match=r"row 4: negative id -5"):
        list(stream_sequences(path, batch_rows=2))


def test_only_parquet_streams(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text("user_id,item_id,timestamp\n1,2,3\n")
    with pytest.raises(InputError, match="streaming reads Parquet"):
        list(stream_sequences(path))


# --- the command line ---------------------------------------------------------------------------


def run(*args: str) -> dict:
    result = CliRunner().invoke(main, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_cli_stream_gives_the_in_memory_answers(log: Path, tmp_path: Path) -> None:
    memory = run("mine", str(log), "-o", str(tmp_path / "a.parquet"), "--theta-scale", "1.3")
    stream = run("mine", str(log), "-o", str(tmp_path / "b.parquet"), "--theta-scale", "1.3",
                 "--stream", "--batch-rows", "10")
    a, b = pq.read_table(tmp_path / "a.parquet"), pq.read_table(tmp_path / "b.parquet")
    assert a.num_rows > 5 and a.equals(b)
    for key in (b"theta", b"h1"):
        assert a.schema.metadata[key] == b.schema.metadata[key]
    volatile = {"output", "seconds", "engine"}
    assert {k: v for k, v in memory.items() if k not in volatile} == \
        {k: v for k, v in stream.items() if k not in volatile}
    assert stream["engine"] == "stream"

    memory = run("entropy", str(log), "-o", str(tmp_path / "c.parquet"))
    stream = run("entropy", str(log), "-o", str(tmp_path / "d.parquet"), "--stream",
                 "--batch-rows", "10")
    assert {k: v for k, v in memory.items() if k not in volatile} == \
        {k: v for k, v in stream.items() if k not in volatile}


def test_cli_stream_of_ungrouped_log_is_a_one_line_error(tmp_path: Path) -> None:
    path = write(tmp_path, [4, 4, 7, 4])
    result = CliRunner().invoke(main, ["entropy", str(path), "--stream"])
    assert result.exit_code == 2
    assert "reappears after other users" in result.stderr
    result = CliRunner().invoke(main, ["mine", str(path), "--stream", "--engine", "spark"])
    assert result.exit_code == 2 and "--stream is for --engine local" in result.output


# --- segmentation of a batch with the unigram costs of the whole input ---------------------------


@settings(max_examples=150, deadline=None)
@given(data=st.data(), seqs=mining_sequences(), cut=st.integers(0, 6))
def test_batch_dp_with_global_costs_equals_segment_of_the_whole(data, seqs, cut) -> None:
    """Cutting the input in two batches and segmenting each with the whole input's item costs
    gives `unids.segment(method="dp")` of the whole input, sequence by sequence."""
    table = pattern_table(data.draw(random_pattern_tables(seqs)))
    whole = pa.array(seqs, LIST32)
    expected = _core.segment(whole, table, method="dp").to_pylist()
    items, counts = count_unigrams(whole)
    costs = item_costs(items, counts)
    cut = min(cut, len(seqs))
    got = [*segment_dp(whole.slice(0, cut), table, items, costs).to_pylist(),
           *segment_dp(whole.slice(cut), table, items, costs).to_pylist()]
    assert got == expected


@settings(max_examples=150, deadline=None)
@given(data=st.data(), seqs=mining_sequences())
def test_core_dp_with_given_costs_equals_the_numpy_reference(data, seqs) -> None:
    """`_core.segment(item_costs=…)`, what `segment_batch` runs, equals the NumPy `segment_dp`
    for any single-item costs (not only the unigram ones), items listed in any order."""
    table = pattern_table(data.draw(random_pattern_tables(seqs)))
    whole = pa.array(seqs, LIST32)
    items = np.unique([x for s in seqs for x in s]).astype(np.int64)
    costs = np.array(data.draw(st.lists(st.floats(0.0, 20.0), min_size=len(items),
                                        max_size=len(items))), dtype=np.float64)
    expected = segment_dp(whole, table, items, costs)
    order = np.array(data.draw(st.permutations(range(len(items)))), dtype=np.int64)
    got = _core.segment(whole, table, method="dp", item_costs=(items[order], costs[order]))
    assert got.equals(expected)


def test_core_dp_given_costs_are_checked() -> None:
    table = unids.mine_patterns([[1, 2], [1, 2]], theta_scale=2.0)
    with pytest.raises(ValueError, match="item 2 has no cost"):
        _core.segment([[1, 2]], table, item_costs=([1], [1.0]))
    with pytest.raises(ValueError, match="only the dp method"):
        _core.segment([[1, 2]], table, method="greedy", item_costs=([1, 2], [1.0, 1.0]))
    with pytest.raises(ValueError, match="not in 0"):
        _core.segment([[1, 2]], table, item_costs=([-1, 2], [1.0, 1.0]))


def test_batch_dp_on_mined_patterns(log: Path) -> None:
    train = load_sequences(log).truncate_tail(2)
    patterns = unids.mine_patterns(train.items, theta_scale=1.5)
    items, counts = count_unigrams(train.items)
    costs = item_costs(items, counts)
    batches = list(stream_sequences(log, holdout=2, batch_rows=40))
    got = pa.concat_arrays([segment_dp(b.items, patterns, items, costs) for b in batches])
    users = np.concatenate([b.users for b in batches])
    got = got.take(pa.array(np.argsort(users)))
    assert got.equals(unids.segment(train.items, patterns, method="dp"))
    with pytest.raises(ValueError, match="NaN"):
        segment_dp(train.items, unids.window_patterns(train.items), items, costs)


# --- `unids segment --stream` ------------------------------------------------------------------


@settings(max_examples=80, deadline=None)
@given(data=st.data(), seqs=mining_sequences(), group_rows=st.integers(1, 9),
       batch_rows=st.integers(1, 25), holdout=st.integers(0, 2),
       method=st.sampled_from(["dp", "greedy"]))
def test_streamed_segmentation_equals_segment_of_the_whole(
        tmp_path_factory, data, seqs, group_rows, batch_rows, holdout, method) -> None:
    """A grouped log in tiny row groups, streamed in tiny batches (users straddle both): the
    unigram costs of one pass and the per-batch segmentation of a second pass give the
    in-memory `unids.segment` of the training part, user by user."""
    users = [u for u, seq in enumerate(seqs) for _ in seq]
    if not users:
        return
    path = tmp_path_factory.mktemp("seg") / "log.parquet"
    pq.write_table(pa.table({"user_id": pa.array(users, pa.int64()),
                             "item_id": pa.array([x for s in seqs for x in s], pa.int64()),
                             "timestamp": pa.array(np.arange(len(users)), pa.float64())}),
                   path, row_group_size=group_rows)
    train = load_sequences(path).truncate_tail(holdout)
    table = pattern_table(data.draw(random_pattern_tables(seqs)))
    expected = _core.segment(train.items, table, method=method)

    def batches():
        return stream_sequences(path, holdout=holdout, batch_rows=batch_rows)

    costs = unigram_costs(b.items for b in batches()) if method == "dp" else None
    got = pa.concat_arrays([segment_batch(b.items, table, method, costs) for b in batches()])
    assert got.equals(expected)


def test_cli_segment_stream_gives_the_in_memory_answers(log: Path, tmp_path: Path) -> None:
    patterns = tmp_path / "patterns.parquet"
    run("mine", str(log), "-o", str(patterns), "--theta-scale", "1.5")
    ascending = tmp_path / "ascending.parquet"  # users ascending, as `unids data prepare` writes
    pq.write_table(pq.read_table(log).sort_by("user_id"), ascending, row_group_size=7)
    volatile = {"output", "seconds", "engine"}
    for method in ("dp", "greedy"):
        for path in (log, ascending):
            args = ["segment", str(path), "--patterns", str(patterns), "--method", method]
            memory = run(*args, "-o", str(tmp_path / "a.parquet"))
            stream = run(*args, "-o", str(tmp_path / "b.parquet"), "--stream",
                         "--batch-rows", "10")
            assert stream["engine"] == "stream" and memory["segments"] > memory["users"] > 0
            assert {k: v for k, v in memory.items() if k not in volatile} == \
                {k: v for k, v in stream.items() if k not in volatile}
            a, b = pq.read_table(tmp_path / "a.parquet"), pq.read_table(tmp_path / "b.parquet")
            if path == ascending:
                assert a.equals(b)
            else:  # the streamed rows follow the file's user order
                assert a.equals(b.take(pa.array(np.argsort(b["user_id"].to_numpy()))))
                assert not a.equals(b)
    # Without -o: the summary only.
    assert run("segment", str(ascending), "--patterns", str(patterns), "--stream")["users"] > 0
