"""Small prepared datasets for tests, built through `build_dataset` like real ones; and
`leaky_dataset`, whose held-out items occur nowhere else (the no-leakage tests); and
`load_bench`, a script of benches/ as a module."""

from __future__ import annotations

import importlib.util
from pathlib import Path
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


def motif_log(seed: int, users: int = 60, *, max_length: int = 40, ties: bool = True,
              shuffle: bool = False) -> pa.Table:
    """An interaction table (user_id, item_id, timestamp) whose users repeat a few planted
    motifs among random items, so that every miner finds patterns of several lengths. Users
    have sparse, unsorted ids; with `ties`, timestamps repeat within a user (the stable sort
    must keep file order); rows are grouped by user and in time order unless `shuffle`."""
    import numpy as np

    rng = np.random.default_rng(seed)
    motifs = [[1, 2, 3], [4, 5], [6, 7, 8, 9], [2**31 - 1, 0]]
    ids = rng.permutation(users * 10)[:users] * 7 + 3
    user_ids: list[int] = []
    item_ids: list[int] = []
    stamps: list[float] = []
    for user in ids:
        length = int(rng.integers(1, max_length))
        items: list[int] = []
        while len(items) < length:
            if rng.random() < 0.6:
                items += motifs[int(rng.integers(len(motifs)))]
            else:
                items.append(int(rng.integers(0, 25)))
        items = items[:length]
        step = rng.integers(0, 2 if ties else 3, length) + (0 if ties else 1)
        user_ids += [int(user)] * length
        item_ids += items
        stamps += np.cumsum(step).astype(float).tolist()
    table = pa.table({"user_id": pa.array(user_ids, pa.int64()),
                      "item_id": pa.array(item_ids, pa.int64()),
                      "timestamp": pa.array(stamps, pa.float64())})
    if shuffle:
        table = table.take(pa.array(rng.permutation(table.num_rows)))
    return table


#: Raw item ids of `leaky_dataset`: planted patterns use 1 … 9, the background 10 … 25; LEAK
#: only ever occurs as the validation and test item of users 1 … 3.
PLANTED = ((1, 2, 3), (4, 5, 6, 7), (8, 9))
LEAK = 99


def planted_sequences(n_users: int, events: int, seed: int = 0, *,
                      rng: Any = None) -> list[list[int]]:
    """Per user, `events` events: a PLANTED pattern (probability 0.35) or one background
    item 10 … 25. `rng`: a NumPy generator to draw from instead of one seeded with `seed`."""
    import numpy as np

    rng = np.random.default_rng(seed) if rng is None else rng
    sequences = []
    for _ in range(n_users):
        sequence: list[int] = []
        for _ in range(events):
            if rng.random() < 0.35:
                sequence += PLANTED[rng.integers(len(PLANTED))]
            else:
                sequence.append(int(rng.integers(10, 26)))
        sequences.append(sequence)
    return sequences


def leaky_dataset(n_users: int = 12, events: int = 14, leaky_users: int = 3) -> Dataset:
    """Planted patterns among background items, ratings (so the fine stage has labels and
    interleaves behaviour), genres and ages (every token source); LEAK at the last two
    positions of users 1 … leaky_users and nowhere else (so that [LEAK, LEAK] would be a
    pattern if anything mined more than the training part)."""
    import numpy as np

    rng = np.random.default_rng(0)
    sequences = planted_sequences(n_users, events, rng=rng)
    for sequence in sequences[:leaky_users]:
        sequence += [LEAK, LEAK]
    ratings: list[list[float | None]] = [[float(r) for r in rng.integers(1, 6, len(s))]
                                         for s in sequences]
    genres = {i: "ABC"[i % 3] for i in range(1, 26)} | {LEAK: "Leak"}
    return make_dataset(sequences, ratings=ratings, genres=genres,
                        users={"age": [18 + u % 3 for u in range(n_users)]})


def leak_id(dataset: Dataset) -> int:
    mapping = dict(zip(dataset.items["raw_item_id"].to_pylist(),
                       dataset.items["item"].to_pylist(), strict=True))
    return int(mapping[LEAK])


def load_bench(name: str) -> Any:
    """A script of benches/ as a module (benches is not a package)."""
    path = Path(__file__).parent.parent / "benches" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
