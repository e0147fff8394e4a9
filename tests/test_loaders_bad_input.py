"""Bad input, loader by loader: each case writes a small valid fixture, breaks one file in one
way (wrong separator, missing column, non-numeric id, NaN or negative timestamp, truncated gzip,
empty file, encoding trouble, duplicate header, …) and expects an InputError that names the file,
and the line and column where that is meaningful. Loading never writes anything."""

from __future__ import annotations

import gzip
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from unids.data.loaders import load
from unids.data.loaders.kuairand import LOG_COLUMNS
from unids.errors import InputError

# --- valid fixtures, one per loader ----------------------------------------------------------

ML1M = {
    "ratings.dat": b"1::10::5::978300760\n1::20::3::978302109\n2::10::4::978301968\n",
    "users.dat": b"1::F::1::10::48067\n2::M::56::16::70072\n",
    "movies.dat": "10::Misérables, Les (1995)::Drama|Musical\n20::Heat (1995)::Action\n"
                  .encode("latin-1"),
}
ML1M_TSV_HEADER = "user_id\tmovie_id\trating\ttimestamp\trating_known\tts_exact\n"
ML1M_TSV = {
    "ratings_reconstructed.tsv.gz": gzip.compress(
        (ML1M_TSV_HEADER + "1\t10\t5\t978300760\t1\t1\n1\t20\t0\t978302109\t0\t0\n").encode()),
}
ML100K = {
    "u.data": b"196\t242\t3\t881250949\n186\t302\t3\t891717742\n",
    "u.user": b"196|24|M|technician|85711\n186|53|F|other|94043\n",
    "u.item": "242|Misérables, Les (1995)|01-Jan-1995||http://x|".encode("latin-1")
              + b"|".join([b"0"] * 18 + [b"1"]) + b"\n"
              + b"302|Heat (1995)|01-Jan-1995||http://y|" + b"|".join([b"1"] + [b"0"] * 18)
              + b"\n",
}
AMAZON = {
    "interactions.tsv.gz": gzip.compress(
        b"user_id\titem_id\ttimestamp\n100\t200\t1405296000\n100\t201\t1405382400\n"),
    "items.tsv.gz": gzip.compress("item_id\ttitle\n200\tCafé crème\n201\tSoap\n".encode()),
}
S3REC = {"Toy.txt": b"1 1 2 3\n2 4 5 1\n"}
KUAIRAND_LOG = (",".join(LOG_COLUMNS) + "\n"
                + "3,1071,20220408,1600,1649408076860,1,0,0,0,0,0,1,175045,87433,0,0,0,0,1\n"
                + "3,1072,20220408,1600,1649408077860,0,0,0,0,0,0,0,1200,9000,0,0,0,0,1\n")
KUAIRAND = {
    "log_standard_4_08_to_4_21_pure.csv": KUAIRAND_LOG.encode(),
    "user_features_pure.csv": b"user_id,user_active_degree\n3,full_active\n",
    "video_features_basic_pure.csv": b"video_id,author_id,tag\n1071,5,\"20,43\"\n1072,6,39\n",
}
CSV = {
    "log.csv": b"user_id,item_id,timestamp,rating\n1,10,5,4\n1,11,6,2\n",
    "items.csv": "item_id,title\n10,Café\n11,Tea\n".encode(),
}
RECBOLE = {
    "toy.inter": b"user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
                 b"1\t10\t4\t100\n1\t11\t2\t101\n",
    "toy.item": "item_id:token\ttitle:token_seq\n10\tCafé crème\n11\tTea\n".encode(),
}


def parquet_bytes(**columns: list[object]) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.table(columns), sink)
    return sink.getvalue()


PARQUET = {"log.parquet": parquet_bytes(user_id=[1, 1], item_id=[10, 11], timestamp=[5.0, 6.0])}


def big_gzip(header: str, line: Callable[[int], str], keep: float = 0.5) -> bytes:
    """A gzip file of many lines, cut off in the middle."""
    text = header + "".join(line(i) for i in range(20_000))
    data = gzip.compress(text.encode(), compresslevel=1)
    return data[: int(len(data) * keep)]


# --- the cases -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    id: str
    loader: str
    files: dict[str, bytes]
    broken: dict[str, bytes]
    file: str  # the file the error must name
    match: str
    line: int | None = None
    column: str | None = None
    target: str | None = None  # what to load (default: the folder)
    options: dict[str, object] = field(default_factory=dict)


def dat(text: str) -> bytes:
    return text.encode()


CASES = [
    # MovieLens-1M
    Case("ml1m-wrong-separator", "ml-1m", ML1M,
         {"ratings.dat": b"1\t10\t5\t978300760\n"}, "ratings.dat",
         r"expected 4 fields separated by '::', found 1 .*seems to use '\\t'", line=1),
    Case("ml1m-missing-column", "ml-1m", ML1M,
         {"ratings.dat": dat("1::10::5::978300760\n1::20::3\n")}, "ratings.dat",
         "expected 4 fields", line=2),
    Case("ml1m-non-numeric-id", "ml-1m", ML1M,
         {"ratings.dat": dat("1::10::5::978300760\n\n1::x20::3::978302109\n")}, "ratings.dat",
         "'x20' is not an integer", line=3, column="MovieID"),
    Case("ml1m-nan-timestamp", "ml-1m", ML1M,
         {"ratings.dat": dat("1::10::5::978300760\n1::20::3::NaN\n")}, "ratings.dat",
         "NaN timestamp", line=2, column="Timestamp"),
    Case("ml1m-negative-timestamp", "ml-1m", ML1M,
         {"ratings.dat": dat("1::10::5::-978300760\n")}, "ratings.dat",
         "negative timestamp", line=1, column="Timestamp"),
    Case("ml1m-rating-out-of-range", "ml-1m", ML1M,
         {"ratings.dat": dat("1::10::5::978300760\n1::20::0::978300761\n")}, "ratings.dat",
         "0 is outside the range 1 to 5", line=2, column="Rating"),
    Case("ml1m-header-line", "ml-1m", ML1M,
         {"ratings.dat": dat("UserID::MovieID::Rating::Timestamp\n1::10::5::978300760\n")},
         "ratings.dat", "'UserID' is not an integer .*no header line", line=1, column="UserID"),
    Case("ml1m-truncated-gzip", "ml-1m", {},
         {"ratings_known_rows.dat.gz": big_gzip("", lambda i: f"{i}::1::5::97830{i:04d}\n")},
         "ratings_known_rows.dat.gz", "truncated gzip"),
    Case("ml1m-empty", "ml-1m", ML1M, {"ratings.dat": b""}, "ratings.dat", "the file is empty"),
    Case("ml1m-movies-utf8", "ml-1m", ML1M,
         {"movies.dat": dat("20::Heat (1995)::Action\n10::Misérables, Les (1995)::Drama\n")},
         "movies.dat", "looks UTF-8 encoded.*encoding='utf-8'", line=2, column="Title"),
    Case("ml1m-movies-damaged", "ml-1m", ML1M,
         {"movies.dat": dat("10::Mis\ufffdrables, Les (1995)::Drama\n")}, "movies.dat",
         "U\\+FFFD", line=1, column="Title"),
    Case("ml1m-movies-latin1-as-utf8", "ml-1m", ML1M, {}, "movies.dat",
         "byte 0xE9 is not valid UTF-8", line=1, column="Title",
         options={"encoding": "utf-8"}),
    Case("ml1m-duplicate-user", "ml-1m", ML1M,
         {"users.dat": dat("1::F::1::10::48067\n1::M::56::16::70072\n")}, "users.dat",
         "UserID 1 already appears on line 1", line=2, column="UserID"),
    Case("ml1m-tsv-duplicate-header", "ml-1m", ML1M_TSV,
         {"ratings_reconstructed.tsv.gz": gzip.compress(
             dat("user_id\tuser_id\trating\ttimestamp\trating_known\tts_exact\n1\t1\t1\t1\t1\t1\n"))},
         "ratings_reconstructed.tsv.gz", "duplicate column name", line=1, column="user_id"),
    Case("ml1m-tsv-header-repeated", "ml-1m", ML1M_TSV,
         {"ratings_reconstructed.tsv.gz": gzip.compress(
             dat(ML1M_TSV_HEADER + "1\t10\t5\t978300760\t1\t1\n" + ML1M_TSV_HEADER))},
         "ratings_reconstructed.tsv.gz", "header line appears again", line=3),
    Case("ml1m-tsv-missing-column", "ml-1m", ML1M_TSV,
         {"ratings_reconstructed.tsv.gz": gzip.compress(
             dat("user_id\tmovie_id\ttimestamp\n1\t10\t978300760\n"))},
         "ratings_reconstructed.tsv.gz", "missing column 'rating'", line=1, column="rating"),
    Case("ml1m-tsv-known-zero-rating", "ml-1m", ML1M_TSV,
         {"ratings_reconstructed.tsv.gz": gzip.compress(
             dat(ML1M_TSV_HEADER + "1\t10\t5\t978300760\t1\t1\n1\t20\t0\t978302109\t1\t1\n"))},
         "ratings_reconstructed.tsv.gz", "marked known", line=3, column="rating"),
    Case("ml1m-tsv-bad-flag", "ml-1m", ML1M_TSV,
         {"ratings_reconstructed.tsv.gz": gzip.compress(
             dat(ML1M_TSV_HEADER + "1\t10\t5\t978300760\t2\t1\n"))},
         "ratings_reconstructed.tsv.gz", "expected 0 or 1, found 2", line=2,
         column="rating_known"),
    # MovieLens-100K
    Case("ml100k-wrong-separator", "ml-100k", ML100K,
         {"u.data": b"196,242,3,881250949\n"}, "u.data", "found 1 .*seems to use ','", line=1),
    Case("ml100k-missing-column", "ml-100k", ML100K,
         {"u.data": b"196\t242\t3\n"}, "u.data", "expected 4 fields", line=1),
    Case("ml100k-non-numeric-id", "ml-100k", ML100K,
         {"u.data": b"196\t242\t3\t881250949\nabc\t302\t3\t891717742\n"}, "u.data",
         "'abc' is not an integer", line=2, column="user id"),
    Case("ml100k-nan-timestamp", "ml-100k", ML100K,
         {"u.data": b"196\t242\t3\tnan\n"}, "u.data", "NaN timestamp", line=1,
         column="timestamp"),
    Case("ml100k-negative-timestamp", "ml-100k", ML100K,
         {"u.data": b"196\t242\t3\t1\n196\t243\t3\t-1\n"}, "u.data", "negative timestamp",
         line=2, column="timestamp"),
    Case("ml100k-truncated-gzip", "ml-100k", ML100K,
         {"u.data": big_gzip("", lambda i: f"{i}\t1\t3\t88125{i:04d}\n")}, "u.data",
         "truncated gzip"),
    Case("ml100k-empty", "ml-100k", ML100K, {"u.data": b"\n\n"}, "u.data", "the file is empty"),
    Case("ml100k-item-utf8", "ml-100k", ML100K,
         {"u.item": ML100K["u.item"].replace("é".encode("latin-1"), "é".encode())}, "u.item",
         "looks UTF-8 encoded", line=1, column="movie title"),
    Case("ml100k-duplicate-item", "ml-100k", ML100K,
         {"u.item": ML100K["u.item"].replace(b"302|", b"242|")}, "u.item",
         "movie id 242 already appears on line 1", line=2, column="movie id"),
    Case("ml100k-item-bad-flag", "ml-100k", ML100K,
         {"u.item": ML100K["u.item"].replace(b"|1\n", b"|x\n", 1)}, "u.item",
         "'x' is not an integer", line=1, column="Western"),
    # Amazon
    Case("amazon-wrong-separator", "amazon", AMAZON,
         {"interactions.tsv.gz": gzip.compress(b"user_id,item_id,timestamp\n100,200,1\n")},
         "interactions.tsv.gz", "missing column 'user_id'.*should be '\\\\t'.*','", line=1,
         column="user_id"),
    Case("amazon-missing-column", "amazon", AMAZON,
         {"interactions.tsv.gz": gzip.compress(b"user_id\titem_id\n100\t200\n")},
         "interactions.tsv.gz", "missing column 'timestamp'", line=1, column="timestamp"),
    Case("amazon-non-numeric-id", "amazon", AMAZON,
         {"interactions.tsv.gz": gzip.compress(b"user_id\titem_id\ttimestamp\n100\tB00X\t1\n")},
         "interactions.tsv.gz", "'B00X' is not an integer", line=2, column="item_id"),
    Case("amazon-nan-timestamp", "amazon", AMAZON,
         {"interactions.tsv.gz": gzip.compress(
             b"user_id\titem_id\ttimestamp\n100\t200\t1\n100\t201\tNaN\n")},
         "interactions.tsv.gz", "NaN timestamp", line=3, column="timestamp"),
    Case("amazon-negative-timestamp", "amazon", AMAZON,
         {"interactions.tsv.gz": gzip.compress(b"user_id\titem_id\ttimestamp\n100\t200\t-7\n")},
         "interactions.tsv.gz", "negative timestamp -7", line=2, column="timestamp"),
    Case("amazon-missing-timestamp", "amazon", AMAZON,
         {"interactions.tsv.gz": gzip.compress(b"user_id\titem_id\ttimestamp\n100\t200\t\n")},
         "interactions.tsv.gz", "missing value", line=2, column="timestamp"),
    Case("amazon-truncated-gzip", "amazon", AMAZON,
         {"interactions.tsv.gz": big_gzip("user_id\titem_id\ttimestamp\n",
                                          lambda i: f"{i}\t{i}\t14052960{i:02d}\n")},
         "interactions.tsv.gz", "truncated gzip"),
    Case("amazon-not-gzip", "amazon", AMAZON,
         {"interactions.tsv.gz": b"user_id\titem_id\ttimestamp\n"}, "interactions.tsv.gz",
         "not gzip data"),
    Case("amazon-empty", "amazon", AMAZON, {"interactions.tsv.gz": gzip.compress(b"")},
         "interactions.tsv.gz", "the file is empty"),
    Case("amazon-header-only", "amazon", AMAZON,
         {"interactions.tsv.gz": gzip.compress(b"user_id\titem_id\ttimestamp\n")},
         "interactions.tsv.gz", "no rows"),
    Case("amazon-latin1-title", "amazon", AMAZON,
         {"items.tsv.gz": gzip.compress("item_id\ttitle\n200\tCafé\n".encode("latin-1"))},
         "items.tsv.gz", "byte 0xE9 is not valid UTF-8.*latin-1", line=2, column="title"),
    Case("amazon-duplicate-header", "amazon", AMAZON,
         {"interactions.tsv.gz": gzip.compress(
             b"user_id\titem_id\ttimestamp\ttimestamp\n100\t200\t1\t1\n")},
         "interactions.tsv.gz", "duplicate column name", line=1, column="timestamp"),
    Case("amazon-extra-field", "amazon", AMAZON,
         {"interactions.tsv.gz": gzip.compress(b"user_id\titem_id\ttimestamp\n100\t200\t1\t9\n")},
         "interactions.tsv.gz", "expected 3 fields", line=2),
    # S3-Rec
    Case("s3rec-wrong-separator", "s3rec", S3REC, {"Toy.txt": b"1 1 2\n2,4,5\n"}, "Toy.txt",
         "'2,4,5' is not an integer id.*separates ids by spaces", line=2, column="user_id",
         target="Toy.txt"),
    Case("s3rec-missing-items", "s3rec", S3REC, {"Toy.txt": b"1 1 2\n2\n"}, "Toy.txt",
         "a user id with no items", line=2, column="item_id", target="Toy.txt"),
    Case("s3rec-non-numeric-id", "s3rec", S3REC, {"Toy.txt": b"1 1 B00X 3\n"}, "Toy.txt",
         "'B00X' is not an integer id \\(item 2 of the line\\)", line=1, column="item_id",
         target="Toy.txt"),
    Case("s3rec-negative-id", "s3rec", S3REC, {"Toy.txt": b"1 1 2\n2 -4 5\n"}, "Toy.txt",
         "negative id -4", line=2, column="item_id", target="Toy.txt"),
    Case("s3rec-truncated-gzip", "s3rec", {},
         {"Toy.txt.gz": big_gzip("", lambda i: f"{i + 1} {i} {i + 1} {i + 2}\n")},
         "Toy.txt.gz", "truncated gzip", target="Toy.txt.gz"),
    Case("s3rec-empty", "s3rec", S3REC, {"Toy.txt": b""}, "Toy.txt", "the file is empty",
         target="Toy.txt"),
    Case("s3rec-latin1", "s3rec", S3REC, {"Toy.txt": "1 1 2\n2 é\n".encode("latin-1")},
         "Toy.txt", "is not an integer id", line=2, column="item_id", target="Toy.txt"),
    Case("s3rec-header-line", "s3rec", S3REC, {"Toy.txt": b"user_id item_ids\n1 1 2\n"},
         "Toy.txt", "'user_id' is not an integer id", line=1, column="user_id",
         target="Toy.txt"),
    Case("s3rec-user-twice", "s3rec", S3REC, {"Toy.txt": b"1 1 2\n2 3 4\n1 5 6\n"}, "Toy.txt",
         "user 1 already has a line \\(line 1\\)", line=3, column="user_id", target="Toy.txt"),
    # KuaiRand
    Case("kuairand-wrong-separator", "kuairand", KUAIRAND,
         {"log_standard_4_08_to_4_21_pure.csv": KUAIRAND_LOG.replace(",", "\t").encode()},
         "log_standard_4_08_to_4_21_pure.csv", "missing column 'user_id'.*'\\\\t'", line=1,
         column="user_id"),
    Case("kuairand-missing-column", "kuairand", KUAIRAND,
         {"log_standard_4_08_to_4_21_pure.csv": KUAIRAND_LOG.replace("is_click", "click")
          .encode()},
         "log_standard_4_08_to_4_21_pure.csv", "missing column 'is_click'", line=1,
         column="is_click"),
    Case("kuairand-non-numeric-id", "kuairand", KUAIRAND,
         {"log_standard_4_08_to_4_21_pure.csv": KUAIRAND_LOG.replace("3,1072", "3,v1072")
          .encode()},
         "log_standard_4_08_to_4_21_pure.csv", "'v1072' is not an integer", line=3,
         column="video_id"),
    Case("kuairand-nan-timestamp", "kuairand", KUAIRAND,
         {"log_standard_4_08_to_4_21_pure.csv": KUAIRAND_LOG.replace("1649408077860", "nan")
          .encode()},
         "log_standard_4_08_to_4_21_pure.csv", "NaN timestamp", line=3, column="time_ms"),
    Case("kuairand-negative-timestamp", "kuairand", KUAIRAND,
         {"log_standard_4_08_to_4_21_pure.csv": KUAIRAND_LOG.replace("1649408076860", "-1")
          .encode()},
         "log_standard_4_08_to_4_21_pure.csv", "negative timestamp", line=2, column="time_ms"),
    Case("kuairand-bad-click", "kuairand", KUAIRAND,
         {"log_standard_4_08_to_4_21_pure.csv": KUAIRAND_LOG.replace("1649408076860,1,",
                                                                     "1649408076860,3,")
          .encode()},
         "log_standard_4_08_to_4_21_pure.csv", "expected 0 or 1, found 3", line=2,
         column="is_click"),
    Case("kuairand-truncated-gzip", "kuairand", KUAIRAND,
         {"log_standard_4_08_to_4_21_pure.csv.gz": big_gzip(
             ",".join(LOG_COLUMNS) + "\n",
             lambda i: f"{i},{i},20220408,1600,16494080{i:05d},1,0,0,0,0,0,1,1,1,0,0,0,0,1\n")},
         "log_standard_4_08_to_4_21_pure.csv.gz", "truncated gzip"),
    Case("kuairand-empty", "kuairand", KUAIRAND,
         {"log_standard_4_08_to_4_21_pure.csv": b""}, "log_standard_4_08_to_4_21_pure.csv",
         "the file is empty"),
    Case("kuairand-latin1", "kuairand", KUAIRAND,
         {"video_features_basic_pure.csv": "video_id,author_id,tag\n1071,5,é\n"
          .encode("latin-1")},
         "video_features_basic_pure.csv", "byte 0xE9 is not valid UTF-8", line=2, column="tag"),
    Case("kuairand-duplicate-header", "kuairand", KUAIRAND,
         {"log_standard_4_08_to_4_21_pure.csv": KUAIRAND_LOG.replace("is_like", "is_click")
          .encode()},
         "log_standard_4_08_to_4_21_pure.csv", "duplicate column name", line=1,
         column="is_click"),
    Case("kuairand-bad-tag", "kuairand", KUAIRAND,
         {"video_features_basic_pure.csv": b"video_id,author_id,tag\n1071,5,\"20,x\"\n"},
         "video_features_basic_pure.csv", "tag '20,x'", line=2, column="tag"),
    # generic CSV (through unids.io.read_interactions)
    Case("csv-wrong-separator", "csv", CSV, {"log.csv": b"user_id;item_id;timestamp\n1;2;3\n"},
         "log.csv", "missing column 'user_id'.*separator", line=1, column="user_id",
         target="log.csv"),
    Case("csv-missing-column", "csv", CSV, {"log.csv": b"user_id,item_id\n1,2\n"}, "log.csv",
         "missing column 'timestamp'", line=1, column="timestamp", target="log.csv"),
    Case("csv-non-numeric-id", "csv", CSV, {"log.csv": b"user_id,item_id,timestamp\n1,a,3\n"},
         "log.csv", "'a' is not an integer", line=2, column="item_id", target="log.csv"),
    Case("csv-nan-timestamp", "csv", CSV,
         {"log.csv": b"user_id,item_id,timestamp\n1,2,3\n1,2,NaN\n"}, "log.csv",
         "NaN timestamp", line=3, column="timestamp", target="log.csv"),
    Case("csv-negative-timestamp", "csv", CSV,
         {"log.csv": b"user_id,item_id,timestamp\n1,2,-3\n"}, "log.csv", "negative timestamp",
         line=2, column="timestamp", target="log.csv"),
    Case("csv-truncated-gzip", "csv", {},
         {"log.csv.gz": big_gzip("user_id,item_id,timestamp\n", lambda i: f"{i},{i},{i}\n")},
         "log.csv.gz", "truncated gzip", target="log.csv.gz"),
    Case("csv-empty", "csv", CSV, {"log.csv": b""}, "log.csv", "the file is empty",
         target="log.csv"),
    Case("csv-latin1-header", "csv", CSV,
         {"log.csv": "user_id,item_id,année\n1,2,3\n".encode("latin-1")}, "log.csv",
         "0xE9.*not valid UTF-8", line=1, target="log.csv", options={"time_col": "année"}),
    Case("csv-latin1-side-table", "csv", CSV,
         {"items.csv": "item_id,title\n10,Café\n".encode("latin-1")}, "items.csv",
         "0xE9 is not valid UTF-8", line=2, column="title", target="log.csv",
         options={"items": "items.csv"}),
    Case("csv-duplicate-header", "csv", CSV,
         {"log.csv": b"user_id,item_id,timestamp,item_id\n1,2,3,4\n"}, "log.csv",
         "duplicate column name", line=1, target="log.csv"),
    Case("csv-bad-behaviour", "csv", CSV,
         {"log.csv": b"user_id,item_id,timestamp,rating\n1,2,3,4\n1,3,4,five\n"}, "log.csv",
         "'five' is not a number", line=3, column="rating", target="log.csv",
         options={"behaviors": "rating"}),
    # generic Parquet
    Case("parquet-missing-column", "parquet", PARQUET,
         {"log.parquet": parquet_bytes(user_id=[1], item_id=[2])}, "log.parquet",
         "missing column", column="timestamp", target="log.parquet"),
    Case("parquet-non-numeric-id", "parquet", PARQUET,
         {"log.parquet": parquet_bytes(user_id=["a"], item_id=[2], timestamp=[1.0])},
         "log.parquet", "expected numbers", column="user_id", target="log.parquet"),
    Case("parquet-nan-timestamp", "parquet", PARQUET,
         {"log.parquet": parquet_bytes(user_id=[1, 1], item_id=[2, 3],
                                       timestamp=[1.0, float("nan")])},
         "log.parquet", "row 1: missing or NaN timestamp", column="timestamp",
         target="log.parquet"),
    Case("parquet-negative-timestamp", "parquet", PARQUET,
         {"log.parquet": parquet_bytes(user_id=[1], item_id=[2], timestamp=[-1.0])},
         "log.parquet", "negative timestamp", column="timestamp", target="log.parquet"),
    Case("parquet-truncated", "parquet", PARQUET,
         {"log.parquet": PARQUET["log.parquet"][:-40]}, "log.parquet",
         "not a readable Parquet file", target="log.parquet"),
    Case("parquet-empty", "parquet", PARQUET, {"log.parquet": b""}, "log.parquet",
         "not a readable Parquet file", target="log.parquet"),
    # RecBole
    Case("recbole-wrong-separator", "recbole", RECBOLE,
         {"toy.inter": b"user_id:token item_id:token\n1 10\n"}, "toy.inter",
         "single field; RecBole atomic files are tab-separated", line=1),
    Case("recbole-missing-column", "recbole", RECBOLE,
         {"toy.inter": b"user_id:token\ttimestamp:float\n1\t100\n"}, "toy.inter",
         "missing field 'item_id'", line=1, column="item_id"),
    Case("recbole-missing-type", "recbole", RECBOLE,
         {"toy.inter": b"user_id:token\titem_id\n1\t10\n"}, "toy.inter", "has no type",
         line=1, column="item_id"),
    Case("recbole-unknown-type", "recbole", RECBOLE,
         {"toy.inter": b"user_id:token\titem_id:int\n1\t10\n"}, "toy.inter",
         "unknown field type 'int'", line=1, column="item_id"),
    Case("recbole-non-numeric-float", "recbole", RECBOLE,
         {"toy.inter": b"user_id:token\titem_id:token\trating:float\n1\t10\t4\n1\t11\tgood\n"},
         "toy.inter", "'good' is not a number", line=3, column="rating:float"),
    Case("recbole-missing-id", "recbole", RECBOLE,
         {"toy.inter": b"user_id:token\titem_id:token\n1\t10\n\t11\n"}, "toy.inter",
         "missing value", line=3, column="user_id:token"),
    Case("recbole-nan-timestamp", "recbole", RECBOLE,
         {"toy.inter": b"user_id:token\titem_id:token\ttimestamp:float\n1\t10\tnan\n"},
         "toy.inter", "NaN timestamp", line=2, column="timestamp:float"),
    Case("recbole-negative-timestamp", "recbole", RECBOLE,
         {"toy.inter": b"user_id:token\titem_id:token\ttimestamp:float\n1\t10\t1\n1\t11\t-1\n"},
         "toy.inter", "negative timestamp", line=3, column="timestamp:float"),
    Case("recbole-truncated", "recbole", RECBOLE,
         {"toy.inter": RECBOLE["toy.inter"][:-6]}, "toy.inter", "expected 4 fields", line=3),
    Case("recbole-truncated-gzip", "recbole", RECBOLE,
         {"toy.inter": big_gzip("user_id:token\titem_id:token\n", lambda i: f"{i}\t{i}\n")},
         "toy.inter", "truncated gzip"),
    Case("recbole-empty", "recbole", RECBOLE, {"toy.inter": b""}, "toy.inter",
         "the file is empty"),
    Case("recbole-latin1", "recbole", RECBOLE,
         {"toy.item": "item_id:token\ttitle:token_seq\n10\tCafé\n".encode("latin-1")},
         "toy.item", "0xE9 is not valid UTF-8", line=2, column="title:token_seq"),
    Case("recbole-duplicate-header", "recbole", RECBOLE,
         {"toy.inter": b"user_id:token\titem_id:token\titem_id:float\n1\t10\t1\n"},
         "toy.inter", "duplicate field 'item_id'", line=1, column="item_id"),
    Case("recbole-duplicate-item", "recbole", RECBOLE,
         {"toy.item": b"item_id:token\ttitle:token_seq\n10\ta\n10\tb\n"}, "toy.item",
         "item_id 10 already appears on line 2", line=3, column="item_id:token"),
]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*")
            if p.is_file()}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_names_file_line_and_column(case: Case, tmp_path: Path) -> None:
    for name, content in {**case.files, **case.broken}.items():
        (tmp_path / name).write_bytes(content)
    before = snapshot(tmp_path)
    target = tmp_path / case.target if case.target else tmp_path
    options = {k: str(tmp_path / v) if k in ("items", "users") else v
               for k, v in case.options.items()}
    with pytest.raises(InputError, match=case.match) as raised:
        load(case.loader, target, **options)
    error = raised.value
    assert Path(error.file).name == case.file, str(error)
    if case.line is not None:
        assert error.line == case.line, str(error)
    if case.column is not None:
        assert error.column == case.column, str(error)
    assert str(error).startswith(error.file)
    assert snapshot(tmp_path) == before  # nothing written, nothing changed


def test_truncated_gzip_names_the_line_where_data_stops(tmp_path: Path) -> None:
    path = tmp_path / "interactions.tsv.gz"
    path.write_bytes(big_gzip("user_id\titem_id\ttimestamp\n",
                              lambda i: f"{i}\t{i}\t14052960{i:02d}\n"))
    with pytest.raises(InputError, match="truncated gzip") as raised:
        load("amazon", path)
    assert raised.value.line is not None and 100 < raised.value.line < 20_000


@pytest.mark.parametrize("loader", ["ml-1m", "ml-100k", "amazon", "kuairand", "recbole"])
def test_missing_folder(loader: str, tmp_path: Path) -> None:
    with pytest.raises(InputError) as raised:
        load(loader, tmp_path / "nowhere")
    assert "nowhere" in raised.value.file


@pytest.mark.parametrize("loader", ["s3rec", "csv", "parquet"])
def test_missing_file(loader: str, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        load(loader, tmp_path / "nothing.txt")


def test_valid_fixtures_load(tmp_path: Path) -> None:
    """The fixtures above are valid, so each failure comes from its one change."""
    for loader, files, target, options in [
        ("ml-1m", ML1M, None, {}), ("ml-1m", ML1M_TSV, None, {}), ("ml-100k", ML100K, None, {}),
        ("amazon", AMAZON, None, {}), ("s3rec", S3REC, "Toy.txt", {}),
        ("kuairand", KUAIRAND, None, {}), ("csv", CSV, "log.csv", {"items": "items.csv"}),
        ("parquet", PARQUET, "log.parquet", {}), ("recbole", RECBOLE, None, {}),
    ]:
        folder = tmp_path / f"{loader}-{len(files)}-{target}"
        folder.mkdir()
        for name, content in files.items():
            (folder / name).write_bytes(content)
        if "items" in options:
            options = {"items": folder / options["items"]}
        raw = load(loader, folder / target if target else folder, **options)
        assert raw.interactions.num_rows >= 2, loader
