"""MovieLens-1M (GroupLens): `ratings.dat`, or the reconstructions in the shared data folder, plus
`users.dat` and `movies.dat`.

Which ratings file, in order: the `ratings=` option; the original `ratings.dat`; the
reconstructed `ratings_reconstructed.tsv.gz` (all 1,000,209 rows; 259 ratings unknown and 279
timestamps imputed, see the data README); `ratings_known_rows.dat.gz` (only the 999,888 rows known
exactly). Unknown ratings become null, never 0 (0 is not a MovieLens rating), so they get no
label. The reconstruction's `ts_exact` flag is kept as an int8 info column of the interactions:
not a behaviour, so `build_dataset` leaves it out; its count goes into the notes.

`::`-separated files are parsed by pyarrow after `::` is replaced by a tab (the files hold no
tabs). `movies.dat` is latin-1.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from unids.data.raw import LabelRule, RawLog, SourceFile
from unids.errors import InputError

from ._files import read_source
from ._table import Col, Format, line_of_row, read_delimited

NAME = "ml-1m"
RATINGS_CANDIDATES = ("ratings.dat", "ratings_reconstructed.tsv.gz", "ratings_known_rows.dat.gz")
DAT = Format("::", header=False)
RATINGS_DAT = [
    Col("UserID", "user_id", "id"),
    Col("MovieID", "item_id", "id"),
    Col("Rating", "rating", "float", low=1, high=5),
    Col("Timestamp", "timestamp", "time"),
]
RATINGS_TSV = [
    Col("user_id", "user_id", "id"),
    Col("movie_id", "item_id", "id"),
    Col("rating", "rating", "float", low=0, high=5),
    Col("timestamp", "timestamp", "time"),
    Col("rating_known", "rating_known", "flag"),
    Col("ts_exact", "ts_exact", "flag"),
]
USERS_DAT = [
    Col("UserID", "user_id", "id", unique=True),
    Col("Gender", "gender", "text"),
    Col("Age", "age", "int"),
    Col("Occupation", "occupation", "int"),
    Col("Zip-code", "zip", "text"),
]
MOVIES_DAT = [
    Col("MovieID", "item_id", "id", unique=True),
    Col("Title", "title", "text"),
    Col("Genres", "genres", "text"),
]


def load_ml1m(path: str | os.PathLike[str], *, ratings: str | os.PathLike[str] | None = None,
              encoding: str = "latin-1") -> RawLog:
    """Loads ML-1M from its folder (or from a ratings file, with side files beside it).

    `ratings`: a ratings file to use instead of the folder's (`.dat`/`.dat.gz` in the `::`
    format, or a `.tsv`/`.tsv.gz` reconstruction). `encoding`: of `movies.dat` (latin-1 in the
    original; "utf-8" for re-encoded copies).
    """
    folder = Path(path)
    if ratings is None and folder.is_file():
        ratings, folder = folder, folder.parent
    if ratings is not None:
        ratings_path = Path(ratings)
        if not ratings_path.is_absolute() and not ratings_path.exists():
            ratings_path = folder / ratings_path
    else:
        if not folder.is_dir():
            raise InputError(str(folder), "no such folder" if not folder.exists()
                             else "not a folder")
        found = [folder / name for name in RATINGS_CANDIDATES if (folder / name).is_file()]
        if not found:
            raise InputError(str(folder), "no ratings file: expected one of "
                             f"{', '.join(RATINGS_CANDIDATES)} (or pass ratings=FILE)")
        ratings_path = found[0]

    # The side files are read while the ratings are gunzipped and parsed: zlib, hashing and
    # pyarrow release the interpreter, so the second core does the side files.
    with ThreadPoolExecutor(max_workers=2) as pool:
        users_job = (pool.submit(read_delimited, folder / "users.dat", DAT, USERS_DAT)
                     if (folder / "users.dat").is_file() else None)
        movies_job = (pool.submit(read_movies, folder / "movies.dat", encoding)
                      if (folder / "movies.dat").is_file() else None)
        interactions, source, notes = _read_ratings(ratings_path)
        files = [source]
        users = items = None
        if users_job is not None:
            users, users_source = users_job.result()
            files.append(users_source)
        else:
            notes.append("users.dat not found: no user features")
        if movies_job is not None:
            items, movies_source = movies_job.result()
            files.append(movies_source)
        else:
            notes.append("movies.dat not found: no item features")
    return RawLog(NAME, interactions, users=users, items=items, behaviors=("rating",),
                  label=LabelRule("rating", 4.0), files=tuple(files), notes=tuple(notes))


def _read_ratings(path: Path) -> tuple[pa.Table, SourceFile, list[str]]:
    notes = [f"ratings from {path.name}"]
    if ".tsv" not in path.name:
        table, source = read_delimited(path, DAT, RATINGS_DAT)
        if path.name.startswith("ratings_known_rows"):
            notes.append("only the rows whose rating and timestamp are known exactly; the "
                         "original ratings.dat has 1,000,209 rows")
        return table, source, notes
    table, source = read_delimited(path, Format("\t", header=True), RATINGS_TSV)
    known = pc.equal(table["rating_known"], 1)
    zero_but_known = pc.and_(known, pc.less(table["rating"], 1))
    if pc.any(zero_but_known).as_py():
        row = int(pc.index(zero_but_known.combine_chunks(), True).as_py())
        raise InputError(str(path), f"rating {table['rating'][row].as_py():g} is marked known "
                         "(rating_known = 1) but is not a MovieLens rating (1 to 5)",
                         line=line_of_row(read_source(path)[0], row, header=True),
                         column="rating")
    rating = pc.if_else(known, table["rating"], pa.scalar(None, pa.float64()))
    unknown = table.num_rows - pc.sum(known).as_py()
    inexact = table.num_rows - pc.sum(table["ts_exact"]).as_py()
    table = pa.table({
        "user_id": table["user_id"], "item_id": table["item_id"],
        "timestamp": table["timestamp"], "rating": rating,
        "ts_exact": table["ts_exact"].cast(pa.int8()),
    })
    notes.append(f"{unknown} unknown ratings are null (no label); {inexact} timestamps are "
                 "imputed (ts_exact = 0, an info column that is not a behaviour)")
    return table, source, notes


def read_movies(path: Path, encoding: str = "latin-1") -> tuple[pa.Table, SourceFile]:
    """`MovieID::Title::Genres` with genres `|`-separated → item_id, title, genres list."""
    table, source = read_delimited(path, Format("::", header=False, encoding=encoding),
                                   MOVIES_DAT)
    return table.set_column(2, "genres", split_genres(table["genres"])), source


def split_genres(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """'A|B' → ['A', 'B']; an empty field gives an empty list."""
    lists = pc.split_pattern(column, "|")
    empty = pc.equal(column, "")
    return pc.if_else(empty, pa.scalar([], pa.list_(pa.string())), lists)
