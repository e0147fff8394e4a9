"""Writers: RecBole atomic files round-trip through the RecBole loader into the same dataset,
and the HSTU `sasrec_format.csv` has generative-recommenders' layout."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow as pa
import pytest

from unids.config import data_dir
from unids.data.dataset import Dataset, build_dataset
from unids.data.export import HSTU_COLUMNS, write_hstu_sasrec_csv, write_recbole
from unids.data.loaders import load
from unids.data.raw import LabelRule, RawLog
from unids.errors import UserError


def toy_raw() -> RawLog:
    interactions = pa.table({
        "user_id": [7, 7, 7, 7, 3, 3, 3, 12, 12, 12],
        "item_id": [100, 5, 20, 5, 5, 20, 100, 20, 5, 9],
        "timestamp": [4.0, 1.0, 1.0, 9.5, 3.0, 2.0, 1.0, 0.0, 0.0, 1e9],
        "rating": [5.0, 3.0, None, 4.0, 1.0, 2.0, 5.0, 4.0, 4.5, 2.0],
    })
    users = pa.table({"user_id": [3, 7, 12], "gender": ["F", "M", "F"], "age": [25, 35, 18]})
    items = pa.table({"item_id": [5, 9, 20, 100], "title": ["Heat", "Café crème", "A \"quoted\"",
                                                             "Tom, Jerry"],
                      "price": [1.5, None, 3.0, 0.25]})
    return RawLog("toy", interactions, users=users, items=items, behaviors=("rating",),
                  label=LabelRule("rating", 4.0))


def test_recbole_round_trip(tmp_path: Path) -> None:
    dataset = build_dataset(toy_raw())
    written = write_recbole(dataset, tmp_path / "out", "toy")
    assert [p.name for p in written] == ["toy.inter", "toy.user", "toy.item"]
    header = (tmp_path / "out" / "toy.inter").read_text().splitlines()[0]
    assert header == "user_id:token\titem_id:token\ttimestamp:float\trating:float\tlabel:float"
    assert (tmp_path / "out" / "toy.item").read_text().splitlines()[0] == \
        "item_id:token\ttitle:token\tprice:float"

    raw = load("recbole", tmp_path / "out")
    assert raw.name == "toy"
    assert raw.behaviors == ("rating", "label") and raw.label == LabelRule("label", 1.0)
    again = build_dataset(raw)
    for column in ("user", "items", "timestamps", "rating", "label"):
        assert again.sequences[column].equals(dataset.sequences[column]), column
    assert again.users.equals(dataset.users)
    assert again.items.equals(dataset.items)


def test_recbole_list_columns_round_trip(tmp_path: Path) -> None:
    """Side lists become token_seq / float_seq. The Dataset is built by hand because
    build_dataset cannot yet join list side columns."""
    base = build_dataset(toy_raw())
    items = base.items.append_column(
        "genres", pa.array([["Action", "Crime"], [], ["Drama"], None], pa.list_(pa.string())))
    items = items.append_column("vec", pa.array([[0.5, 1e-3], [2.0], [], [1.0]],
                                                pa.list_(pa.float64())))
    dataset = Dataset(base.sequences, base.users, items, base.manifest)
    write_recbole(dataset, tmp_path, "toy")
    assert "genres:token_seq\tvec:float_seq" in (tmp_path / "toy.item").read_text()
    raw = load("recbole", tmp_path)
    assert raw.items is not None
    assert raw.items["genres"].to_pylist() == [["Action", "Crime"], [], ["Drama"], []]
    assert raw.items["vec"].to_pylist() == [[0.5, 0.001], [2.0], [], [1.0]]


@pytest.mark.parametrize(("column", "value", "message"), [
    ("title", "a\tb", "contains a tab or line break"),
    ("genres", ["two words"], "contains a space"),
])
def test_recbole_refuses_unrepresentable_values(tmp_path: Path, column: str, value: object,
                                                message: str) -> None:
    base = build_dataset(toy_raw())
    items = base.items
    if column == "title":
        items = items.set_column(items.schema.get_field_index("title"), "title",
                                 pa.array([value, "b", "c", "d"]))
    else:
        items = items.append_column(column, pa.array([value, [], [], []]))
    dataset = Dataset(base.sequences, base.users, items, base.manifest)
    with pytest.raises(UserError, match=message):
        write_recbole(dataset, tmp_path, "toy")
    assert list(tmp_path.iterdir()) == []  # not even the .inter file


def test_recbole_round_trip_on_real_amazon(tmp_path: Path) -> None:
    folder = data_dir() / "amazon" / "beauty-2014"
    if not folder.exists():
        pytest.skip(f"{folder} not found (set UNIDS_DATA)")
    dataset = build_dataset(load("amazon", folder))
    write_recbole(dataset, tmp_path, "beauty")
    again = build_dataset(load("recbole", tmp_path))
    assert again.sequences.equals(dataset.sequences)
    assert again.items.equals(dataset.items)


def read_hstu(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_hstu_sasrec_csv_layout(tmp_path: Path) -> None:
    dataset = build_dataset(toy_raw())
    path = write_hstu_sasrec_csv(dataset, tmp_path / "sasrec_format.csv")
    lines = path.read_text().splitlines()
    assert lines[0] == ",".join(HSTU_COLUMNS)
    # User 3 (internal 1): items 100, 20, 5 at t = 1, 2, 3 → internal ids 4, 3, 1.
    assert lines[1] == '0,1,"4,3,1","5,2,1","1,2,3"'
    rows = read_hstu(path)
    assert [r["user_id"] for r in rows] == ["1", "2", "3"]
    # User 7: the unknown rating becomes the placeholder 0; timestamps stay exact.
    assert rows[1]["sequence_ratings"] == "3,0,5,4"
    assert rows[1]["sequence_timestamps"] == "1,1,4,9.5"
    # User 12: a non-integral rating is written as a float.
    assert rows[2]["sequence_ratings"] == "4,4.5,2"


def test_hstu_raw_ids_and_no_ratings(tmp_path: Path) -> None:
    raw = toy_raw()
    no_ratings = RawLog("toy", raw.interactions.drop_columns(["rating"]))
    path = write_hstu_sasrec_csv(build_dataset(no_ratings), tmp_path / "s.csv", raw_ids=True)
    rows = read_hstu(path)
    assert rows[0] == {"index": "0", "user_id": "3", "sequence_item_ids": "100,20,5",
                       "sequence_ratings": "0,0,0", "sequence_timestamps": "1,2,3"}


def test_hstu_errors_leave_nothing(tmp_path: Path) -> None:
    dataset = build_dataset(toy_raw())
    with pytest.raises(UserError, match="no behaviour 'stars'"):
        write_hstu_sasrec_csv(dataset, tmp_path / "s.csv", ratings="stars")
    assert list(tmp_path.iterdir()) == []
