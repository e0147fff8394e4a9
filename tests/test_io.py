"""Reading interaction logs: the happy path on real data, and one test per kind of bad input."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from unids.config import data_dir
from unids.errors import InputError
from unids.io import Columns, atomic_path, load_sequences, read_interactions
from unids.io.interactions import drop_tail

ML1M = data_dir() / "ml-1m" / "ratings_reconstructed.tsv.gz"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_groups_by_user_and_sorts_stably_by_time(tmp_path: Path) -> None:
    path = write(tmp_path, "log.csv",
                 "user_id,item_id,timestamp\n2,10,5\n1,7,3\n2,11,5\n1,8,1\n2,12,4\n")
    sequences = load_sequences(path)
    assert sequences.users.tolist() == [1, 2]
    # user 2: item 12 at t=4, then 10 and 11 tie at t=5 and keep file order.
    assert sequences.items.to_pylist() == [[8, 7], [12, 10, 11]]
    assert sequences.timestamps is not None
    assert sequences.timestamps.to_pylist() == [[1.0, 3.0], [4.0, 5.0, 5.0]]


def test_holdout_keeps_only_the_training_part(tmp_path: Path) -> None:
    path = write(tmp_path, "log.tsv",
                 "user_id\titem_id\ttimestamp\n1\t1\t1\n1\t2\t2\n1\t3\t3\n1\t4\t4\n2\t5\t1\n")
    train = load_sequences(path).truncate_tail(2)
    assert train.items.to_pylist() == [[1, 2], []]


def test_parquet_input_and_custom_columns(tmp_path: Path) -> None:
    path = tmp_path / "log.parquet"
    pq.write_table(pa.table({"u": [3, 3, 4], "movie": [9, 8, 7], "t": [2, 1, 0]}), path)
    sequences = load_sequences(path, Columns(user="u", item="movie", timestamp="t"))
    assert sequences.items.to_pylist() == [[8, 9], [7]]


@pytest.mark.skipif(not ML1M.exists(), reason=f"ML-1M not found at {ML1M} (set UNIDS_DATA)")
def test_real_ml1m_counts() -> None:
    sequences = load_sequences(ML1M, Columns(item="movie_id"))
    assert len(sequences) == 6040
    assert sequences.n_interactions == 1_000_209
    lengths = np.diff(sequences.items.offsets.to_numpy())
    assert lengths.min() >= 20  # ML-1M keeps users with at least 20 ratings


BAD_INPUTS = [
    # (file name, content, expected line, expected column, words in the message)
    ("sep.csv", "user_id\titem_id\ttimestamp\n1\t2\t3\n", 1, "user_id", "separator"),
    ("missing.csv", "user_id,timestamp\n1,3\n", 1, "item_id", "missing column"),
    ("text.csv", "user_id,item_id,timestamp\n1,2,3\n1,abc,4\n", 3, "item_id", "not an integer"),
    ("short.csv", "user_id,item_id,timestamp\n1,2,3\n1,2\n", 3, None, "fields"),
    ("nan.csv", "user_id,item_id,timestamp\n1,2,3\n1,3,nan\n", 3, "timestamp", "NaN"),
    ("negts.csv", "user_id,item_id,timestamp\n1,2,-5\n", 2, "timestamp", "negative"),
    ("negid.csv", "user_id,item_id,timestamp\n1,2,3\n-1,2,3\n", 3, "user_id", "negative"),
    ("big.csv", "user_id,item_id,timestamp\n1,2147483648,3\n", 2, "item_id", "int32"),
    ("dupheader.csv", "user_id,item_id,timestamp\n1,2,3\nuser_id,item_id,timestamp\n", 3,
     "user_id", "not an integer"),
    ("dupcol.csv", "user_id,item_id,item_id,timestamp\n1,2,2,3\n", 1, None, "duplicate"),
    ("empty.csv", "", None, None, "empty"),
    ("header_only.csv", "user_id,item_id,timestamp\n", None, None, "no interactions"),
    ("blank_id.csv", "user_id,item_id,timestamp\n1,,3\n", 2, "item_id", "missing value"),
]


@pytest.mark.parametrize(("name", "content", "line", "column", "words"), BAD_INPUTS,
                         ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_names_file_line_and_column(tmp_path: Path, name: str, content: str,
                                              line: int | None, column: str | None,
                                              words: str) -> None:
    path = write(tmp_path, name, content)
    with pytest.raises(InputError) as caught:
        read_interactions(path)
    error = caught.value
    assert error.file == str(path)
    assert error.line == line
    assert error.column == column
    assert words.lower() in str(error).lower()
    assert "\n" not in str(error)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_interactions(tmp_path / "nope.csv")


def test_truncated_gzip(tmp_path: Path) -> None:
    payload = gzip.compress(("user_id,item_id,timestamp\n" + "1,2,3\n" * 5000).encode())
    path = tmp_path / "log.csv.gz"
    path.write_bytes(payload[: len(payload) // 2])
    with pytest.raises(InputError, match=r"truncated|corrupt|cannot"):
        read_interactions(path)


def test_latin1_bytes_in_other_columns_do_not_matter(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_bytes("user_id,item_id,timestamp,title\n1,2,3,Mis\xe9rables\n".encode("latin-1"))
    assert read_interactions(path).num_rows == 1


def test_parquet_with_wrong_types(tmp_path: Path) -> None:
    path = tmp_path / "log.parquet"
    pq.write_table(pa.table({"user_id": ["a"], "item_id": [1], "timestamp": [1.0]}), path)
    with pytest.raises(InputError, match="expected numbers"):
        read_interactions(path)


def test_not_a_parquet_file(tmp_path: Path) -> None:
    path = write(tmp_path, "log.parquet", "this is text")
    with pytest.raises(InputError, match="Parquet"):
        read_interactions(path)


def test_atomic_path_leaves_nothing_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.parquet"
    with pytest.raises(RuntimeError), atomic_path(target) as temporary:
        temporary.write_text("half")
        raise RuntimeError("crash mid-write")
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_replaces_on_success(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")
    with atomic_path(target) as temporary:
        temporary.write_text("new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.integers(0, 9), max_size=6), max_size=8), st.integers(0, 3),
       st.integers(0, 4))
def test_drop_tail_matches_slicing_lists(lists: list[list[int]], drop: int, start: int) -> None:
    array = pa.array(lists, pa.list_(pa.int32())).slice(min(start, len(lists)))
    expected = [x[: max(len(x) - drop, 0)] for x in lists[min(start, len(lists)):]]
    assert drop_tail(array, drop).to_pylist() == expected
