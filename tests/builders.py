"""Small prepared datasets for tests, built through `build_dataset` like real ones."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from unids.data.dataset import Dataset, build_dataset
from unids.data.raw import LabelRule, RawLog


def make_dataset(sequences: list[list[int]], *, times: list[list[float]] | None = None,
                 ratings: list[list[float | None]] | None = None,
                 genres: dict[int, str] | None = None,
                 users: dict[str, list[Any]] | None = None) -> Dataset:
    """A prepared dataset from per-user raw item lists (users 1 … U). `genres`: raw item id →
    'A|B' (split into a list<string> column after the build, as loaders deliver it)."""
    user_ids, item_ids, stamps, rating_values = [], [], [], []
    for u, items in enumerate(sequences, start=1):
        user_ids += [u] * len(items)
        item_ids += items
        stamps += times[u - 1] if times else [float(t) for t in range(len(items))]
        if ratings:
            rating_values += ratings[u - 1]
    columns: dict[str, Any] = {"user_id": user_ids, "item_id": item_ids,
                               "timestamp": pa.array(stamps, pa.float64())}
    behaviors: tuple[str, ...] = ()
    label = None
    if ratings:
        columns["rating"] = pa.array(rating_values, pa.float64())
        behaviors, label = ("rating",), LabelRule("rating", 4.0)
    item_table = None
    if genres is not None:
        keys = sorted(genres)
        item_table = pa.table({"item_id": keys, "genres": [genres[k] for k in keys]})
    user_table = None
    if users is not None:
        user_table = pa.table({"user_id": list(range(1, len(sequences) + 1)), **users})
    dataset = build_dataset(RawLog("toy", pa.table(columns), users=user_table, items=item_table,
                                   behaviors=behaviors, label=label))
    if genres is not None:
        items = dataset.items
        split = pc.if_else(pc.equal(items["genres"], ""),
                           pa.scalar([], pa.list_(pa.string())),
                           pc.split_pattern(items["genres"], "|"))
        items = items.set_column(items.column_names.index("genres"), "genres", split)
        dataset = Dataset(dataset.sequences, dataset.users, items, dataset.manifest)
    return dataset


def with_empty_training_part(dataset: Dataset) -> Dataset:
    """The dataset with user 1 cut to its last 2 interactions: an empty training part, which
    build_dataset never makes but a hand-made dataset may have."""
    rows = dataset.sequences.to_pylist()
    for column in ("items", "timestamps", *dataset.behaviors, "label"):
        if column in rows[0]:
            rows[0][column] = rows[0][column][-2:]
    sequences = pa.Table.from_pylist(rows, schema=dataset.sequences.schema)
    return Dataset(sequences, dataset.users, dataset.items, dataset.manifest)
