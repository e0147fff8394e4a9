"""Dataset building: cleaning rules, contiguous ids, stable time order, the leave-one-out
split, persistence, and that later stages can only read the training part."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import unids
from unids.data.dataset import CleanConfig, Dataset, build_dataset
from unids.data.raw import LabelRule, RawLog
from unids.errors import InputError, UserError


def raw_log(users: list[int], items: list[int], times: list[float], **extra: list[float]
            ) -> RawLog:
    columns = {"user_id": users, "item_id": items, "timestamp": times, **extra}
    return RawLog("toy", pa.table(columns), behaviors=tuple(extra))


def test_ids_are_contiguous_from_one_in_raw_id_order() -> None:
    dataset = build_dataset(raw_log([9, 9, 9, 4, 4, 4], [50, 7, 50, 7, 8, 9], [1, 2, 3, 1, 2, 3]))
    assert dataset.users.column("raw_user_id").to_pylist() == [4, 9]
    assert dataset.items.column("raw_item_id").to_pylist() == [7, 8, 9, 50]
    assert dataset.sequences["items"].to_pylist() == [[1, 2, 3], [4, 1, 4]]


def test_time_sort_is_stable() -> None:
    dataset = build_dataset(raw_log([1] * 5, [5, 4, 3, 2, 1], [2, 1, 1, 1, 0]))
    # Items 4, 3, 2 share a timestamp and keep their file order.
    raw_of = dict(zip(dataset.items["item"].to_pylist(), dataset.items["raw_item_id"].to_pylist(),
                      strict=True))
    assert [raw_of[i] for i in dataset.sequences["items"][0].as_py()] == [1, 4, 3, 2, 5]


def test_kcore_reaches_a_fixed_point() -> None:
    # Items 3 and 5 have one interaction each; without them users 2 and 4 keep 2 < 3
    # interactions and go too, which leaves items 1, 2, 4 with 2 interactions each: k = 2 holds.
    users = [1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]
    items = [1, 2, 4, 1, 2, 3, 1, 2, 4, 1, 4, 5]
    dataset = build_dataset(raw_log(users, items, list(range(12))), CleanConfig(kcore=2))
    assert dataset.users["raw_user_id"].to_pylist() == [1, 3]
    assert dataset.items["raw_item_id"].to_pylist() == [1, 2, 4]
    with pytest.raises(UserError, match="no interactions left"):
        build_dataset(raw_log(users, items, list(range(12))), CleanConfig(kcore=3))


def test_dedup_first_and_last() -> None:
    raw = raw_log([1] * 4, [1, 2, 1, 3], [0, 1, 2, 3])
    first = build_dataset(raw, CleanConfig(dedup="first"))
    last = build_dataset(raw, CleanConfig(dedup="last"))
    assert first.sequences["items"].to_pylist() == [[1, 2, 3]]
    assert last.sequences["items"].to_pylist() == [[2, 1, 3]]


def test_max_length_keeps_the_most_recent() -> None:
    dataset = build_dataset(raw_log([1] * 6, [1, 2, 3, 4, 5, 6], list(range(6))),
                            CleanConfig(max_length=4))
    assert dataset.items["raw_item_id"].to_pylist() == [3, 4, 5, 6]


def test_min_length_and_bad_config() -> None:
    dataset = build_dataset(raw_log([1, 1, 2, 2, 2], [1, 2, 1, 2, 3], [0, 1, 0, 1, 2]))
    assert dataset.users["raw_user_id"].to_pylist() == [2]
    with pytest.raises(UserError):
        CleanConfig(min_length=2)
    with pytest.raises(UserError, match="no interactions left"):
        build_dataset(raw_log([1, 1], [1, 2], [0, 1]))


def test_split_and_labels() -> None:
    raw = RawLog("toy", pa.table({"user_id": [1] * 4, "item_id": [10, 11, 12, 13],
                                  "timestamp": [0.0, 1, 2, 3], "rating": [5.0, None, 2, 4]}),
                 behaviors=("rating",), label=LabelRule("rating", 4.0))
    dataset = build_dataset(raw)
    train = dataset.train()
    assert train.items.to_pylist() == [[1, 2]]
    assert train.behaviors["label"].to_pylist() == [[1, None]]
    assert dataset.targets("valid").to_pylist() == [
        {"user": 1, "item": 3, "timestamp": 2.0, "history_length": 2, "rating": 2.0, "label": 0}]
    assert dataset.targets("test")["item"].to_pylist() == [4]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(st.integers(1, 6), min_size=3, max_size=15), min_size=1, max_size=20))
def test_later_stages_only_read_the_training_part(histories: list[list[int]]) -> None:
    """A unique item planted only at test and validation positions never reaches mining or
    segmentation, because they read `Dataset.train()`."""
    secret_valid, secret_test = 1000, 1001
    users, items, times = [], [], []
    for user, history in enumerate(histories):
        for t, item in enumerate([*history, secret_valid, secret_test]):
            users.append(user)
            items.append(item)
            times.append(float(t))
    dataset = build_dataset(raw_log(users, items, times))
    internal = dict(zip(dataset.items["raw_item_id"].to_pylist(),
                        dataset.items["item"].to_pylist(), strict=True))
    train = dataset.train()
    flat = set(train.items.flatten().to_pylist())
    assert internal[secret_valid] not in flat and internal[secret_test] not in flat
    patterns = unids.mine_patterns(train.items, min_support=1, theta_scale=10.0)
    mined = {i for pattern in patterns["pattern"].to_pylist() for i in pattern}
    assert internal[secret_valid] not in mined and internal[secret_test] not in mined
    lengths = unids.segment(train.items, patterns)
    assert [sum(x) for x in lengths.to_pylist()] == [len(h) for h in histories]
    # The training part is a copy: nothing in it points back at the full sequences.
    assert train.items.values.buffers()[1].address != \
        dataset.sequences["items"].combine_chunks().values.buffers()[1].address


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    dataset = build_dataset(raw_log([1, 1, 1, 2, 2, 2], [3, 4, 5, 3, 4, 6], list(range(6))))
    dataset.save(tmp_path / "ds")
    loaded = Dataset.load(tmp_path / "ds")
    assert loaded.sequences.equals(dataset.sequences)
    assert loaded.items.equals(dataset.items)
    assert loaded.manifest == json.loads(json.dumps(dataset.manifest))


def test_loading_another_schema_version_is_a_clear_error(tmp_path: Path) -> None:
    dataset = build_dataset(raw_log([1, 1, 1], [3, 4, 5], [0, 1, 2]))
    dataset.save(tmp_path / "ds")
    manifest = json.loads((tmp_path / "ds" / "manifest.json").read_text())
    manifest["schema_version"] = 99
    (tmp_path / "ds" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(InputError, match="schema version 99"):
        Dataset.load(tmp_path / "ds")
    with pytest.raises(InputError, match="not a prepared dataset"):
        Dataset.load(tmp_path)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 30),
                          st.one_of(st.integers(0, 5).map(float),
                                    st.floats(0, 5, allow_nan=False))),
                min_size=1, max_size=60))
def test_time_order_matches_a_stable_python_sort(rows: list[tuple[int, int, float]]) -> None:
    """Both sort paths (whole-second timestamps folded into one key, fractional ones sorted on
    two keys) give the order of a stable sort by (user, timestamp)."""
    rows = [*rows, (9, 0, 0.0), (9, 1, 0.0), (9, 2, 0.0)]  # one user always survives cleaning
    users, items, times = (list(column) for column in zip(*rows, strict=True))
    dataset = build_dataset(raw_log(users, items, times))
    expected: dict[int, list[int]] = {}
    for user, item, _ in sorted(rows, key=lambda row: (row[0], row[2])):
        expected.setdefault(user, []).append(item)
    raw_item = dict(zip(dataset.items["item"].to_pylist(),
                        dataset.items["raw_item_id"].to_pylist(), strict=True))
    raw_user = dict(zip(dataset.users["user"].to_pylist(),
                        dataset.users["raw_user_id"].to_pylist(), strict=True))
    got = {raw_user[row["user"]]: [raw_item[i] for i in row["items"]]
           for row in dataset.sequences.to_pylist()}
    assert got == {u: seq for u, seq in expected.items() if len(seq) >= 3}
