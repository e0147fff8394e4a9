"""Real datasets for tests, read ad hoc from the shared data folder (`unids.config.data_dir()`).

ML-1M is parsed here directly (ratings_reconstructed.tsv.gz + users.dat + movies.dat) so these
tests do not depend on `unids.data.loaders`; callers skip when the files are missing.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from unids.config import data_dir
from unids.data.dataset import Dataset, build_dataset
from unids.data.raw import LabelRule, RawLog


def ml1m_dir() -> Path | None:
    path = data_dir() / "ml-1m"
    needed = ("ratings_reconstructed.tsv.gz", "users.dat", "movies.dat")
    return path if all((path / name).is_file() for name in needed) else None


def _dat(path: Path) -> list[list[str]]:
    lines = path.read_text(encoding="latin-1").splitlines()
    return [line.split("::") for line in lines if line]


def ml1m_raw(path: Path, max_users: int | None = None) -> RawLog:
    """ML-1M as a RawLog: rating (unknown ratings, stored as 0, become null), label rating ≥ 4,
    users (gender, age, occupation, zip), items (title, genres as list<string>)."""
    table = pacsv.read_csv(path / "ratings_reconstructed.tsv.gz",
                           parse_options=pacsv.ParseOptions(delimiter="\t"))
    if max_users is not None:
        table = table.filter(pc.less_equal(table["user_id"], max_users))
    rating = table["rating"].cast(pa.float64())
    rating = pc.if_else(pc.equal(table["rating_known"], 1), rating, pa.scalar(None, pa.float64()))
    interactions = pa.table({
        "user_id": table["user_id"].cast(pa.int64()),
        "item_id": table["movie_id"].cast(pa.int64()),
        "timestamp": table["timestamp"].cast(pa.float64()),
        "rating": rating,
    })
    users = _dat(path / "users.dat")
    movies = _dat(path / "movies.dat")
    user_table = pa.table({
        "user_id": pa.array([int(u[0]) for u in users], pa.int64()),
        "gender": [u[1] for u in users],
        "age": pa.array([int(u[2]) for u in users], pa.int64()),
        "occupation": pa.array([int(u[3]) for u in users], pa.int64()),
        "zip": [u[4] for u in users],
    })
    item_table = pa.table({
        "item_id": pa.array([int(m[0]) for m in movies], pa.int64()),
        "title": [m[1] for m in movies],
        # build_dataset's side-table join cannot carry list columns (pyarrow's hash join
        # refuses them), so genres travel as "A|B" and are split after the build (`ml1m`).
        "genres": [m[2] for m in movies],
    })
    return RawLog("ml-1m", interactions, users=user_table, items=item_table,
                  behaviors=("rating",), label=LabelRule("rating", 4.0))


def ml1m(max_users: int | None = None) -> Dataset | None:
    path = ml1m_dir()
    if path is None:
        return None
    dataset = build_dataset(ml1m_raw(path, max_users))
    items = dataset.items
    genres = pc.split_pattern(items["genres"], "|")
    items = items.set_column(items.column_names.index("genres"), "genres", genres)
    return Dataset(dataset.sequences, dataset.users, items, dataset.manifest)
