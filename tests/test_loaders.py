"""Dataset loaders on the real files (counts from the data README) and on small synthetic
fixtures: what each source becomes as a RawLog, and that it builds into a Dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from unids.config import data_dir
from unids.data.dataset import build_dataset
from unids.data.loaders import LOADERS, load
from unids.data.loaders.kuairand import LOG_COLUMNS
from unids.data.raw import LabelRule, RawLog
from unids.errors import InputError, UserError

DATA = data_dir()


def need(*parts: str) -> Path:
    path = DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not found (set UNIDS_DATA to the shared data folder)")
    return path


def counts(raw: RawLog) -> tuple[int, int, int]:
    table = raw.interactions
    return (table.num_rows, pc.count_distinct(table["user_id"]).as_py(),
            pc.count_distinct(table["item_id"]).as_py())


def loaded(name: str, path: Path, **options: object) -> RawLog:
    return load(name, path, **options)


def build_or_xfail(raw: RawLog):  # type: ignore[no-untyped-def]
    """build_dataset, or xfail when its side-table join rejects list columns (a known gap in
    `_side_table`: Acero joins cannot carry list<…> payload columns)."""
    try:
        return build_dataset(raw)
    except pa.ArrowInvalid as error:
        if "not supported in join non-key field" in str(error):
            pytest.xfail(f"build_dataset cannot join list side columns yet: {error}")
        raise


# --- registry ---------------------------------------------------------------------------------

def test_registry_has_every_cli_source() -> None:
    assert set(LOADERS) == {"ml-1m", "ml-100k", "amazon", "s3rec", "kuairand", "csv", "parquet",
                            "recbole"}
    with pytest.raises(UserError, match="unknown source 'movielens'"):
        load("movielens", ".")
    with pytest.raises(UserError, match="options are ratings, encoding"):
        load("ml-1m", ".", colour="red")


# --- MovieLens-1M ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ml1m() -> RawLog:
    return loaded("ml-1m", need("ml-1m", "ratings_reconstructed.tsv.gz").parent)


def test_ml1m_reconstructed_counts(ml1m: RawLog) -> None:
    raw = ml1m
    assert counts(raw) == (1_000_209, 6_040, 3_706)
    assert raw.behaviors == ("rating",) and raw.label == LabelRule("rating", 4.0)
    assert [f.name for f in raw.files] == ["ratings_reconstructed.tsv.gz", "users.dat",
                                           "movies.dat"]


def test_ml1m_unknown_ratings_are_null_not_zero(ml1m: RawLog) -> None:
    raw = ml1m
    rating = raw.interactions["rating"]
    assert rating.null_count == 259
    assert pc.min(rating).as_py() == 1.0 and pc.max(rating).as_py() == 5.0
    assert pc.sum(pc.equal(raw.interactions["ts_exact"], 0)).as_py() == 279
    assert "ts_exact" not in raw.behaviors
    assert any("259 unknown ratings" in note for note in raw.notes)


def test_ml1m_side_tables(ml1m: RawLog) -> None:
    raw = ml1m
    assert raw.users is not None and raw.items is not None
    assert raw.users.num_rows == 6_040 and raw.items.num_rows == 3_883
    assert raw.users.column_names == ["user_id", "gender", "age", "occupation", "zip"]
    assert raw.items.schema.field("genres").type == pa.list_(pa.string())
    titles = dict(zip(raw.items["item_id"].to_pylist(), raw.items["title"].to_pylist(),
                      strict=True))
    assert titles[73] == "Misérables, Les (1995)"  # latin-1 0xE9, read as é
    assert raw.items["genres"][0].as_py() == ["Animation", "Children's", "Comedy"]


def test_ml1m_head_file_agrees_with_the_reconstruction(ml1m: RawLog) -> None:
    full = ml1m
    head = loaded("ml-1m", need("ml-1m"), ratings="ratings_head_users1-300.dat")
    assert head.interactions.num_rows == 43_745
    assert counts(head)[1] == 300
    columns = ["user_id", "item_id", "rating", "timestamp"]
    expected = full.interactions.slice(0, 43_745).select(columns)
    assert head.interactions.select(columns).equals(expected)


def test_ml1m_ratings_file_as_path() -> None:
    raw = load("ml-1m", need("ml-1m", "ratings_head_users1-300.dat"))
    assert raw.interactions.num_rows == 43_745 and raw.users is not None


def test_ml1m_known_rows_fallback(tmp_path: Path) -> None:
    known = need("ml-1m", "ratings_known_rows.dat.gz")
    (tmp_path / known.name).symlink_to(known.resolve())
    raw = load("ml-1m", tmp_path)
    assert raw.interactions.num_rows == 999_888
    assert raw.interactions["rating"].null_count == 0
    assert raw.users is None and any("users.dat not found" in n for n in raw.notes)


# --- MovieLens-100K --------------------------------------------------------------------------

def test_ml100k_counts_side_tables_and_build() -> None:
    raw = loaded("ml-100k", need("ml-100k", "u.data").parent)
    assert counts(raw) == (100_000, 943, 1_682)
    assert raw.users is not None and raw.users.num_rows == 943
    assert raw.items is not None and raw.items.num_rows == 1_682
    row = raw.items.slice(542, 1).to_pylist()[0]
    assert row["title"] == "Misérables, Les (1995)" and row["genres"] == ["Drama", "Musical"]
    dataset = build_or_xfail(raw)
    assert dataset.manifest["counts"] == {"users": 943, "items": 1_682, "interactions": 100_000}


# --- Amazon ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("folder", "expected"), [
    ("books-2014-sample", (517_167, 38_234, 38_519)),
    ("beauty-2014", (198_215, 22_332, 12_086)),
])
def test_amazon_counts(folder: str, expected: tuple[int, int, int]) -> None:
    raw = loaded("amazon", need("amazon", folder))
    assert counts(raw) == expected
    assert raw.behaviors == () and raw.label is None
    assert any("no ratings" in note for note in raw.notes)
    assert not any("differ from summary.json" in note for note in raw.notes)
    assert raw.items is not None and raw.items.num_rows == expected[2]


def test_amazon_beauty_builds_a_dataset() -> None:
    dataset = build_dataset(load("amazon", need("amazon", "beauty-2014")))
    assert dataset.manifest["counts"] == {"users": 22_332, "items": 12_086,
                                          "interactions": 198_215}
    assert "title" in dataset.items.column_names


# --- S3-Rec ----------------------------------------------------------------------------------

def test_s3rec_beauty_counts_and_positions() -> None:
    raw = loaded("s3rec", need("s3rec-benchmarks", "Beauty.txt"))
    assert counts(raw) == (198_502, 22_363, 12_101)
    first = raw.interactions.slice(0, 5).to_pylist()
    assert [r["item_id"] for r in first] == [1, 2, 3, 4, 5]
    assert [r["timestamp"] for r in first] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert raw.name == "Beauty"


def test_s3rec_small(tmp_path: Path) -> None:
    path = tmp_path / "toy.txt"
    path.write_text("1 5 6 7\n2 7 5 6\n\n3 9 9 9 9\n")
    raw = load("s3rec", path)
    assert raw.interactions["item_id"].to_pylist() == [5, 6, 7, 7, 5, 6, 9, 9, 9, 9]
    assert raw.interactions["timestamp"].to_pylist() == [0, 1, 2, 0, 1, 2, 0, 1, 2, 3]
    assert build_dataset(raw).sequences["items"].to_pylist() == [[1, 2, 3], [3, 1, 2],
                                                                 [4, 4, 4, 4]]


# --- KuaiRand-Pure ---------------------------------------------------------------------------

def kuairand_log(rows: list[tuple[int, int, int, int, int, int, int]]) -> str:
    """A log with exactly the published columns; each row is (user, video, time_ms, is_click,
    is_like, long_view, play_time_ms)."""
    lines = [",".join(LOG_COLUMNS)]
    for user, video, time_ms, click, like, long_view, play in rows:
        lines.append(f"{user},{video},20220408,1600,{time_ms},{click},{like},0,0,0,0,"
                     f"{long_view},{play},87433,0,0,0,0,1")
    return "\n".join(lines) + "\n"


@pytest.fixture()
def kuairand_folder(tmp_path: Path) -> Path:
    real = need("kuairand-pure")
    folder = tmp_path / "kuairand"
    folder.mkdir()
    for name in ("user_features_pure.csv", "video_features_basic_pure.csv"):
        (folder / name).symlink_to((real / name).resolve())
    rng = np.random.default_rng(0)
    rows = [(int(u), int(v), 1_649_408_076_860 + 1000 * i, int(rng.integers(2)),
             int(rng.integers(2)), int(rng.integers(2)), int(rng.integers(0, 200_000)))
            for i, (u, v) in enumerate(zip(rng.integers(0, 50, 600), rng.integers(0, 7583, 600),
                                           strict=True))]
    (folder / "log_standard_4_08_to_4_21_pure.csv").write_text(kuairand_log(rows[:400]))
    (folder / "log_standard_4_22_to_5_08_pure.csv").write_text(kuairand_log(rows[400:500]))
    (folder / "log_random_4_22_to_5_08_pure.csv").write_text(kuairand_log(rows[500:]))
    return folder


def test_kuairand_synthetic_log_with_real_side_tables(kuairand_folder: Path) -> None:
    raw = load("kuairand", kuairand_folder)
    assert raw.interactions.num_rows == 500  # the random-exposure log is left out by default
    assert raw.behaviors == ("is_click", "is_like", "long_view", "play_time_ms")
    assert raw.label == LabelRule("is_click", 1.0)
    assert raw.interactions["timestamp"][0].as_py() == pytest.approx(1_649_408_076.86)
    assert raw.users is not None and raw.users.num_rows == 27_285
    assert raw.items is not None and raw.items.num_rows == 7_583
    assert raw.items.schema.field("tags").type == pa.list_(pa.int64())
    assert raw.items["tags"][0].as_py() == [39]
    assert [f.name for f in raw.files][:2] == ["log_standard_4_08_to_4_21_pure.csv",
                                               "log_standard_4_22_to_5_08_pure.csv"]
    with_random = load("kuairand", kuairand_folder, random=True)
    assert with_random.interactions.num_rows == 600
    dataset = build_or_xfail(raw)
    assert dataset.manifest["label"] == {"column": "is_click", "threshold": 1.0}


def test_kuairand_without_logs_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no interaction log"):
        load("kuairand", tmp_path)


# --- generic CSV / Parquet -------------------------------------------------------------------

def test_generic_csv_with_behaviours_label_and_side_table(tmp_path: Path) -> None:
    log = tmp_path / "log.csv"
    log.write_text("u,movie,t,stars,extra\n1,10,3,5,x\n1,11,1,,y\n2,10,2,2,z\n1,12,5,4,w\n")
    items = tmp_path / "items.csv"
    items.write_text('movie,title\n10,"A, the"\n11,B\n12,C\n')
    raw = load("csv", log, user_col="u", item_col="movie", time_col="t", label="stars>=4",
               items=items)
    assert raw.interactions.column_names == ["user_id", "item_id", "timestamp", "stars"]
    assert raw.interactions["stars"].to_pylist() == [5.0, None, 2.0, 4.0]
    assert raw.behaviors == ("stars",) and raw.label == LabelRule("stars", 4.0)
    assert raw.items is not None and raw.items["title"].to_pylist() == ["A, the", "B", "C"]
    dataset = build_dataset(raw)
    assert dataset.sequences["items"].to_pylist() == [[2, 1, 3]]
    assert dataset.sequences["label"].to_pylist() == [[None, 1, 1]]


def test_generic_without_time_keeps_file_order(tmp_path: Path) -> None:
    log = tmp_path / "log.tsv"
    log.write_text("user_id\titem_id\n1\t3\n1\t2\n1\t1\n")
    raw = load("csv", log, time_col=None)
    assert raw.interactions["timestamp"].to_pylist() == [0.0, 1.0, 2.0]
    assert build_dataset(raw).items["raw_item_id"].to_pylist() == [1, 2, 3]


def test_generic_parquet(tmp_path: Path) -> None:
    path = tmp_path / "log.parquet"
    pq.write_table(pa.table({"user_id": [1, 1, 1], "item_id": [7, 8, 9],
                             "timestamp": [1.0, 2.0, 3.0], "click": [1, 0, 1]}), path)
    raw = load("parquet", path, behaviors="click", label=LabelRule("click", 1.0))
    assert raw.interactions["click"].type == pa.float64()
    assert build_dataset(raw).sequences["label"].to_pylist() == [[1, 0, 1]]


def test_bad_label_rule() -> None:
    with pytest.raises(UserError, match="COLUMN>=THRESHOLD"):
        load("csv", "x.csv", label="rating > 4")


# --- RecBole ---------------------------------------------------------------------------------

def test_recbole_all_field_types(tmp_path: Path) -> None:
    (tmp_path / "toy.inter").write_text(
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\tctx:token\n"
        "u1\t10\t4\t100\ta\nu1\t11\t2\t101\tb\nu1\t12\t\t102\t\n")
    (tmp_path / "toy.item").write_text(
        "item_id:token\ttitle:token_seq\tprice:float\temb:float_seq\n"
        "10\tthe first\t1.5\t0.1 0.2\n11\tsecond\t\t\n12\t\t3\t1e-3\n")
    raw = load("recbole", tmp_path)
    assert raw.name == "toy"
    assert raw.interactions["user_id"].to_pylist() == ["u1"] * 3  # not integers: stay text
    assert raw.interactions["item_id"].type == pa.int64()
    assert raw.interactions["rating"].to_pylist() == [4.0, 2.0, None]
    assert raw.interactions["ctx"].to_pylist() == ["a", "b", None]
    assert raw.behaviors == ("rating",) and raw.label is None
    assert raw.items is not None
    assert raw.items["title"].to_pylist() == [["the", "first"], ["second"], []]
    assert raw.items["emb"].to_pylist() == [[0.1, 0.2], [], [0.001]]
    assert raw.items["price"].to_pylist() == [1.5, None, 3.0]
    labelled = load("recbole", tmp_path / "toy.inter", label="rating>=4")
    assert labelled.label == LabelRule("rating", 4.0)


def test_recbole_without_timestamp(tmp_path: Path) -> None:
    (tmp_path / "a.inter").write_text("user_id:token\titem_id:token\n1\t2\n1\t3\n")
    raw = load("recbole", tmp_path, name="a")
    assert raw.interactions["timestamp"].to_pylist() == [0.0, 1.0]
    assert any("row position" in note for note in raw.notes)


def test_recbole_ids_integer_in_one_file_only_become_text(tmp_path: Path) -> None:
    (tmp_path / "m.inter").write_text("user_id:token\titem_id:token\n1\t10\n1\t11\n1\t12\n")
    (tmp_path / "m.item").write_text("item_id:token\tname:token\n10\ta\n11\tb\nX9\tc\n")
    raw = load("recbole", tmp_path)
    assert raw.interactions["item_id"].to_pylist() == ["10", "11", "12"]
    assert raw.items is not None and raw.items["item_id"].to_pylist() == ["10", "11", "X9"]
    assert raw.interactions["user_id"].type == pa.int64()
    assert build_dataset(raw).items["name"].to_pylist() == ["a", "b", None]


def test_gzip_fast_path_equals_the_slow_path() -> None:
    """The streaming gzip parse (clean numeric files) gives the table the checked slow path
    gives, and declines (None) whenever the slow path would have to word an error."""
    import gzip

    from unids.data.loaders._files import decompressed, read_raw
    from unids.data.loaders._table import Format, parse_delimited, parse_gzip_fast
    from unids.data.loaders.ml1m import RATINGS_TSV

    path = data_dir() / "ml-1m" / "ratings_reconstructed.tsv.gz"
    if not path.exists():
        pytest.skip(f"{path} not found (set UNIDS_DATA)")
    raw, _ = read_raw(path)
    tsv = Format("\t", header=True)
    fast = parse_gzip_fast(path, raw, tsv, RATINGS_TSV)
    assert fast is not None
    assert fast.equals(parse_delimited(path, decompressed(path, raw), tsv, RATINGS_TSV))
    text = b"user_id\tmovie_id\trating\ttimestamp\trating_known\tts_exact\n1\t2\t9\t3\t1\t1\n"
    assert parse_gzip_fast(path, gzip.compress(text), tsv, RATINGS_TSV) is None  # rating 9
    assert parse_gzip_fast(path, gzip.compress(text)[:-9], tsv, RATINGS_TSV) is None  # cut off


def test_kuairand_feeds_every_token_source(kuairand_folder: Path) -> None:
    """KuaiRand's sources per SPEC §5: video tags (domain), user features (user), click share
    (behavior) — each stage gets its own, none falls back."""
    from unids.formats import format_dataset

    dataset = build_dataset(load("kuairand", kuairand_folder))
    for stage, source in (("recall", "domain"), ("coarse", "user"), ("fine", "behavior")):
        result = format_dataset(dataset, stage)
        assert result.manifest["source"] == {"requested": source, "used": source}
        assert result.pt.num_rows == dataset.n_users
