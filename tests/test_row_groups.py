"""Ranges of row groups read independently (what each Spark task of a `ParquetLog` does): over
any split of a grouped log into files, row groups, ranges and batches, every user comes out
exactly once, whole, as the streaming reader gives it; violations inside a range name the file
and row."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from builders import motif_log
from unids.errors import InputError, UserError
from unids.io import Columns
from unids.io.interactions import DEFAULT_COLUMNS
from unids.io.row_groups import RowGroups
from unids.io.streaming import stream_sequences


def read_all(groups: RowGroups, tasks: int, batch_rows: int, holdout: int = 0,
             columns: Columns = DEFAULT_COLUMNS) -> list:
    return [batch for start, stop in groups.plan(tasks)
            for batch in groups.read_users(start, stop, columns, batch_rows=batch_rows,
                                           holdout=holdout)]


def flatten(batches: list) -> tuple[np.ndarray, pa.Array, pa.Array | None]:
    users = np.concatenate([b.users for b in batches])
    items = pa.concat_arrays([b.items for b in batches])
    times = None
    if batches[0].timestamps is not None:
        times = pa.concat_arrays([b.timestamps for b in batches])
    return users, items, times


def write_split(table: pa.Table, folder: Path, cuts: list[int], group_rows: list[int]) -> None:
    """`table` cut at `cuts` into files part-0, part-1, … with the given row group sizes."""
    folder.mkdir(parents=True, exist_ok=True)
    bounds = [0, *sorted({c for c in cuts if 0 < c < table.num_rows}), table.num_rows]
    for k, (a, b) in enumerate(itertools.pairwise(bounds)):
        pq.write_table(table.slice(a, b - a), folder / f"part-{k:02d}.parquet",
                       row_group_size=group_rows[k % len(group_rows)])


@st.composite
def grouped_logs(draw) -> pa.Table:
    """Users with random (unsorted, distinct) ids and 1 … 12 rows each, timestamps going up
    with ties, rows grouped by user."""
    lengths = draw(st.lists(st.integers(1, 12), min_size=1, max_size=12))
    ids = draw(st.lists(st.integers(0, 2**40), min_size=len(lengths), max_size=len(lengths),
                        unique=True))
    users, items, times = [], [], []
    for user, length in zip(ids, lengths, strict=True):
        users += [user] * length
        items += draw(st.lists(st.integers(0, 5), min_size=length, max_size=length))
        steps = draw(st.lists(st.integers(0, 2), min_size=length, max_size=length))
        times += np.cumsum(steps).astype(float).tolist()
    return pa.table({"user_id": pa.array(users, pa.int64()), "item_id": items,
                     "timestamp": pa.array(times, pa.float64())})


@settings(max_examples=120, deadline=None)
@given(table=grouped_logs(), cuts=st.lists(st.integers(0, 150), max_size=3),
       group_rows=st.lists(st.integers(1, 9), min_size=1, max_size=3),
       tasks=st.integers(1, 30), batch_rows=st.integers(1, 20), holdout=st.integers(0, 2),
       timestamps=st.booleans())
def test_ranges_read_every_user_once_as_streaming_does(
        tmp_path_factory, table, cuts, group_rows, tasks, batch_rows, holdout,
        timestamps) -> None:
    folder = tmp_path_factory.mktemp("log")
    write_split(table, folder / "log", cuts, group_rows)
    pq.write_table(table, folder / "whole.parquet")
    columns = Columns() if timestamps else Columns(timestamp=None)
    expected = flatten(list(stream_sequences(folder / "whole.parquet", columns,
                                             holdout=holdout)))
    groups = RowGroups.scan(str(folder / "log"))
    got = flatten(read_all(groups, tasks, batch_rows, holdout, columns))
    assert np.array_equal(got[0], expected[0])
    assert got[1].equals(expected[1])
    assert (got[2] is None) == (not timestamps)
    if timestamps:
        assert got[2].equals(expected[2])


def test_plan_covers_the_row_groups_in_balanced_ranges_within_files(tmp_path: Path) -> None:
    table = motif_log(seed=2, users=80)
    write_split(table, tmp_path / "log", [table.num_rows // 3], [10, 25])
    groups = RowGroups.scan(str(tmp_path / "log"))
    assert len(groups.files) == 2 and groups.total_rows == table.num_rows
    for tasks in (1, 2, 3, 7, 1000):
        ranges = groups.plan(tasks)
        assert ranges[0][0] == 0 and ranges[-1][1] == len(groups)
        assert all(a < b for a, b in ranges)
        assert all(b == c for (_, b), (c, _) in itertools.pairwise(ranges))
        assert all(len(set(groups.file[a:b].tolist())) == 1 for a, b in ranges)
        assert len(ranges) <= tasks + len(groups.files) - 1
    rows = [int(groups.rows[a:b].sum()) for a, b in groups.plan(4)]
    assert max(rows) - min(rows) <= 2 * int(groups.rows.max()) + table.num_rows // 3


def test_folders_skip_hidden_files_and_bad_paths_are_one_line_errors(tmp_path: Path) -> None:
    folder = tmp_path / "log"
    write_split(motif_log(seed=4, users=10), folder, [], [50])
    (folder / "_SUCCESS").write_text("")
    (folder / ".part-00.parquet.crc").write_text("x")
    (folder / "_temporary").mkdir()
    (folder / "_temporary" / "junk.parquet").write_text("not parquet")
    assert [Path(f).name for f in RowGroups.scan(str(folder)).files] == ["part-00.parquet"]

    with pytest.raises(InputError, match="no such file or folder"):
        RowGroups.scan(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no Parquet files"):
        RowGroups.scan(str(tmp_path / "empty"))
    (folder / "notes.parquet").write_text("not parquet")
    with pytest.raises(InputError, match=r"notes\.parquet.*not a readable Parquet file"):
        RowGroups.scan(str(folder))
    (folder / "notes.parquet").unlink()
    with pytest.raises(InputError, match="missing column"):
        RowGroups.scan(str(folder)).check_columns(Columns(item="movie_id"))


def bad_log(tmp_path: Path, users: list[int], times: list[float], items: list[int] | None = None,
            cut: int | None = None) -> RowGroups:
    table = pa.table({"user_id": users, "item_id": items or [1] * len(users),
                      "timestamp": times})
    write_split(table, tmp_path / "bad", [cut] if cut else [], [2])
    return RowGroups.scan(str(tmp_path / "bad"))


def test_a_user_that_reappears_inside_a_range_names_the_file_row(tmp_path: Path) -> None:
    groups = bad_log(tmp_path, [1, 1, 2, 2, 3, 3, 5, 3, 4], [float(i) for i in range(9)],
                     cut=4)
    with pytest.raises(UserError, match=r"part-01.parquet: row 3: user 3 reappears"):
        read_all(groups, 1, batch_rows=3)


def test_timestamps_going_back_past_the_end_of_a_range(tmp_path: Path) -> None:
    # User 2 straddles the two files; its time goes back in the second one (its row 1).
    groups = bad_log(tmp_path, [1, 1, 2, 2, 2, 2, 3], [0.0, 1.0, 5.0, 6.0, 7.0, 3.0, 0.0],
                     cut=4)
    with pytest.raises(UserError, match=r"part-01.parquet: row 1: the timestamps of user 2"):
        read_all(groups, 1, batch_rows=2)


def test_bad_values_name_the_file_and_row(tmp_path: Path) -> None:
    groups = bad_log(tmp_path, [1, 1, 2, 2, 3, 3], [0.0] * 6, items=[1, 2, 3, 4, -5, 6], cut=2)
    with pytest.raises(InputError,
                       match=r"part-01.parquet, column .item_id.: row 2: negative id -5"):
        read_all(groups, 3, batch_rows=2)
