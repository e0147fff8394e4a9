"""ML-1M loader for the benchmarks: one `list<int32>` sequence of movie ids per user.

The data folder comes from the environment variable ``UNIDS_DATA`` (default ``../shared/data``
relative to the repository root). Sequences: group by ``user_id``, stable sort by ``timestamp``
(ties keep file order), users in ascending id order.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

REPO_ROOT = Path(__file__).resolve().parent.parent
ML1M_FILE = Path("ml-1m") / "ratings_reconstructed.tsv.gz"


def data_dir() -> Path:
    """The shared data folder: ``$UNIDS_DATA`` or ``<repo>/../shared/data``."""
    env = os.environ.get("UNIDS_DATA")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


def load_ml1m(path: Path | None = None) -> pa.ListArray:
    """ML-1M as a `list<int32>` array: 6,040 users, 1,000,209 interactions."""
    path = path or data_dir() / ML1M_FILE
    table = pacsv.read_csv(
        path,
        parse_options=pacsv.ParseOptions(delimiter="\t"),
        convert_options=pacsv.ConvertOptions(
            include_columns=["user_id", "movie_id", "timestamp"],
            column_types={"user_id": pa.int32(), "movie_id": pa.int32(), "timestamp": pa.int64()},
        ),
    )
    # Arrow's multi-key sort_indices is stable, so ties keep the file order; make the file
    # order an explicit last key anyway so that this does not rest on an implementation detail.
    table = table.append_column("row", pa.array(np.arange(table.num_rows, dtype=np.int64)))
    order = pc.sort_indices(
        table,
        sort_keys=[("user_id", "ascending"), ("timestamp", "ascending"), ("row", "ascending")],
    )
    table = table.take(order)
    users = table["user_id"].combine_chunks().to_numpy()
    items = table["movie_id"].combine_chunks()
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    offsets = np.r_[starts, len(users)].astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), items)


def head(sequences: pa.ListArray, k: int) -> pa.ListArray:
    """The first `k` sequences as a compact array (offsets from 0, values trimmed)."""
    part = sequences[:k]
    offsets = part.offsets.to_numpy()
    return pa.ListArray.from_arrays(pa.array(offsets - offsets[0]), part.flatten())


def sequences_as_numpy(sequences: pa.ListArray) -> list[np.ndarray]:
    """Each sequence as a 1-D int32 numpy view (for peers that take per-sequence arrays)."""
    offsets = sequences.offsets.to_numpy()
    values = sequences.values.to_numpy()
    return [values[a:b] for a, b in itertools.pairwise(offsets)]


if __name__ == "__main__":
    seqs = load_ml1m()
    print(f"{len(seqs):,} users, {len(seqs.values):,} interactions, type {seqs.type}")
