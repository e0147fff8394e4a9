"""MovieLens-100K (GroupLens): `u.data` (tab-separated ratings), `u.user` and `u.item`
(`|`-separated; `u.item` is latin-1 and ends in 19 genre flags, which become a genres list named
by `u.genre`)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa

from unids.data.raw import LabelRule, RawLog
from unids.errors import InputError

from ._table import Col, Format, read_delimited

NAME = "ml-100k"
#: The order of the flags in u.item, as u.genre lists them (used when u.genre is absent).
GENRES = ("unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
          "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
          "Romance", "Sci-Fi", "Thriller", "War", "Western")
U_DATA = [
    Col("user id", "user_id", "id"),
    Col("item id", "item_id", "id"),
    Col("rating", "rating", "float", low=1, high=5),
    Col("timestamp", "timestamp", "time"),
]
U_USER = [
    Col("user id", "user_id", "id", unique=True),
    Col("age", "age", "int"),
    Col("gender", "gender", "text"),
    Col("occupation", "occupation", "text"),
    Col("zip code", "zip", "text"),
]
U_ITEM = [
    Col("movie id", "item_id", "id", unique=True),
    Col("movie title", "title", "text"),
    Col("release date", "release_date", "text"),
    Col("video release date", "video_release_date", "text"),
    Col("IMDb URL", "imdb_url", "text"),
    *(Col(genre, genre, "flag") for genre in GENRES),
]


def load_ml100k(path: str | os.PathLike[str], *, encoding: str = "latin-1") -> RawLog:
    """Loads ML-100K from its folder. `encoding`: of `u.item` (latin-1 in the original)."""
    folder = Path(path)
    if not folder.is_dir():
        raise InputError(str(folder), "no such folder" if not folder.exists() else "not a folder")
    interactions, source = read_delimited(folder / "u.data", Format("\t", header=False), U_DATA)
    files = [source]
    notes: list[str] = []
    users = items = None
    if (folder / "u.user").is_file():
        users, user_source = read_delimited(folder / "u.user", Format("|", header=False), U_USER)
        files.append(user_source)
    else:
        notes.append("u.user not found: no user features")
    if (folder / "u.item").is_file():
        table, item_source = read_delimited(
            folder / "u.item", Format("|", header=False, encoding=encoding), U_ITEM)
        items = _with_genre_lists(table)
        files.append(item_source)
    else:
        notes.append("u.item not found: no item features")
    return RawLog(NAME, interactions, users=users, items=items, behaviors=("rating",),
                  label=LabelRule("rating", 4.0), files=tuple(files), notes=tuple(notes))


def _with_genre_lists(table: pa.Table) -> pa.Table:
    """Replaces the 19 flag columns by one list<string> column `genres`."""
    flags = np.column_stack([table[g].to_numpy() for g in GENRES]).astype(bool)
    names = np.array(GENRES, dtype=object)
    offsets = np.concatenate([[0], np.cumsum(flags.sum(axis=1))]).astype(np.int32)
    values = pa.array(np.broadcast_to(names, flags.shape)[flags].tolist(), pa.string())
    genres = pa.ListArray.from_arrays(pa.array(offsets), values)
    kept = table.drop_columns(list(GENRES))
    return kept.append_column("genres", genres)
