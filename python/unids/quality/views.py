"""Symbol views of a dataset's sequences: the same interactions read as different alphabets.

LZ real entropy measures repetition. On ML-1M's item ids there is none (nobody rates a movie
twice), so the estimate is just log2(n); a coarser alphabet shows whether behaviour is regular
(SPEC §2). Each view maps every interaction of the training part to an int32 symbol:

* `item`: the item id.
* `genre`: the item's whole genre / category set as one symbol ("Comedy|Romance" is one
  symbol, distinct from "Comedy"), order-independent; items without one share a "none" symbol.
  The whole set rather than the first genre: ML-1M lists genres alphabetically, so "first"
  would mostly say "Action" or "Adventure" and not what the film is.
* `behavior:<column>`: the feedback value (ML-1M rating 1–5), bucketed like the PT tokens
  (`BehaviorScale`: one symbol per value for ≤ 16 values, else training quantiles); missing
  values share a symbol.
* `time`: the log2 bucket (`unids.data.time`) of the gap to the previous interaction, so a
  user's view has n − 1 symbols. Only where timestamps are times, not positions.

A view the dataset cannot provide is reported as skipped, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from unids.data.dataset import Dataset, TrainPart
from unids.data.features import BehaviorScale, find_domain_column, float_values, item_domains
from unids.data.time import gap_bucket, has_clock_time


@dataclass(frozen=True)
class View:
    name: str
    description: str
    sequences: pa.ListArray  # list<int32> per user, aligned with the training part's users
    n_symbols: int  # distinct symbols in the view


def _lists(offsets: np.ndarray, values: np.ndarray) -> pa.ListArray:
    return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)),
                                    pa.array(values.astype(np.int32)))


def _offsets(lists: pa.ListArray) -> np.ndarray:
    lengths = lists.value_lengths().fill_null(0).to_numpy(zero_copy_only=False)
    return np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)])


def symbol_views(dataset: Dataset, train: TrainPart) -> tuple[list[View], dict[str, str]]:
    """(the views the dataset has, {skipped view: reason})."""
    views: list[View] = []
    skipped: dict[str, str] = {}
    offsets = _offsets(train.items)
    items = train.items.flatten().to_numpy(zero_copy_only=False).astype(np.int64)
    views.append(View("item", "item id", _lists(offsets, items),
                      len(np.unique(items))))

    column = find_domain_column(dataset.items)
    if column is None:
        skipped["genre"] = "the item table has no genre/category column"
    else:
        domains = item_domains(dataset.items, column)
        per_item = [tuple(sorted(set(domains.indices[a:b].tolist())))
                    for a, b in zip(domains.offsets[:-1], domains.offsets[1:], strict=True)]
        _, set_id = np.unique(np.array(["|".join(map(str, s)) for s in per_item]),
                              return_inverse=True)
        symbols = set_id.ravel()[items - 1]
        views.append(View("genre", f"the item's {column} set as one symbol",
                          _lists(offsets, symbols), len(np.unique(symbols))))

    for name in dataset.behaviors:
        values = float_values(train.behaviors[name])
        scale = BehaviorScale.fit(values)
        if scale is None:
            skipped[f"behavior:{name}"] = "no value in the training part"
            continue
        symbols = scale.item_index(values)
        views.append(View(f"behavior:{name}", f"{name} ({scale.kind} buckets)",
                          _lists(offsets, symbols), len(np.unique(symbols))))
    if not dataset.behaviors:
        skipped["behavior"] = "the dataset has no behaviour column"

    if not has_clock_time(train.timestamps):
        skipped["time"] = "the timestamps are positions, not times"
    else:
        times = float_values(train.timestamps)
        lengths = np.diff(offsets)
        owner = np.repeat(np.arange(len(lengths)), lengths)
        inside = np.zeros(len(times), dtype=bool)  # position t has a predecessor in its user
        inside[1:] = owner[1:] == owner[:-1]
        gaps = times[inside] - times[np.flatnonzero(inside) - 1]
        symbols = gap_bucket(gaps)
        new_offsets = np.concatenate([[0], np.cumsum(np.maximum(lengths - 1, 0))])
        views.append(View("time", "log2 bucket of the gap to the previous interaction",
                          _lists(new_offsets, symbols), len(np.unique(symbols))))
    return views, skipped
