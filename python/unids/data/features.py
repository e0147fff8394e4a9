"""Which side features a prepared dataset offers, found by name and type, so that the quality
report's symbol views and the Pattern-Token sources agree on them.

* Domain (genre / category) column of the item table: the first of `DOMAIN_COLUMNS` present,
  as a list column (ML-1M `genres`: list<string>) or a scalar column (one category per item).
* User attributes: the columns of the user table with 2 … `MAX_ATTRIBUTE_VALUES` distinct
  values of a categorical type (string, integer, bool, dictionary); ids and free text such as
  zip codes (thousands of values) are left out.
* Behaviour values as a few symbols (`BehaviorScale`): ratings stay ratings, clicks 0 / 1,
  anything with many values becomes training quantile bins.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from unids.errors import UserError

#: Item columns taken as the domain, in order of preference.
DOMAIN_COLUMNS = ("genres", "genre", "categories", "category", "tags", "tag")
#: A user column with more distinct values than this is not an attribute token source.
MAX_ATTRIBUTE_VALUES = 64
_ID_COLUMNS = {"user", "raw_user_id", "item", "raw_item_id"}


def _categorical(kind: pa.DataType) -> bool:
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return (pa.types.is_string(kind) or pa.types.is_large_string(kind)
            or pa.types.is_integer(kind) or pa.types.is_boolean(kind))


def _list_of_categorical(kind: pa.DataType) -> bool:
    return (pa.types.is_list(kind) or pa.types.is_large_list(kind)) and _categorical(
        kind.value_type)


def find_domain_column(items: pa.Table, requested: str | None = None) -> str | None:
    """The item table's domain column: `requested` (which must exist and be categorical, else a
    UserError), or the first usable one of DOMAIN_COLUMNS, or None."""
    if requested is not None:
        if requested not in items.column_names:
            raise UserError(f"the item table has no column {requested!r} (it has "
                            f"{', '.join(c for c in items.column_names if c not in _ID_COLUMNS)})")
        kind = items.schema.field(requested).type
        if not (_categorical(kind) or _list_of_categorical(kind)):
            raise UserError(f"item column {requested!r} has type {kind}; a domain column must "
                            "hold categories (strings or integers, or lists of them)")
        return requested
    for name in DOMAIN_COLUMNS:
        if name in items.column_names:
            kind = items.schema.field(name).type
            if _categorical(kind) or _list_of_categorical(kind):
                return name
    return None


@dataclass(frozen=True)
class Domains:
    """Per item (row k−1 = item k) the indices of its domain values into `values`."""

    column: str
    values: list[Any]  # sorted distinct values (str or int)
    offsets: np.ndarray  # (I + 1,) int64: item k's indices are indices[offsets[k-1]:offsets[k]]
    indices: np.ndarray  # int32

    @property
    def n_items(self) -> int:
        return len(self.offsets) - 1


def item_domains(items: pa.Table, column: str, restrict_to: np.ndarray | None = None) -> Domains:
    """Domain value indices of every item. `restrict_to`: a boolean mask over items (row k−1 =
    item k); only values carried by those items form the value set (the others are dropped from
    every item), so that values seen only on held-out items never reach a vocabulary."""
    items = _sorted_by(items, "item")
    data = items[column].combine_chunks()
    if pa.types.is_dictionary(data.type):
        data = data.cast(data.type.value_type)
    if not (pa.types.is_list(data.type) or pa.types.is_large_list(data.type)):
        is_valid = pc.is_valid(data).to_numpy(zero_copy_only=False)
        offsets = np.concatenate([[0], np.cumsum(is_valid)]).astype(np.int64)
        flat = data.filter(pa.array(is_valid))
    else:
        data = data.fill_null(pa.scalar([], data.type))
        offsets = data.offsets.to_numpy().astype(np.int64)
        flat = data.values.slice(int(offsets[0]), int(offsets[-1] - offsets[0]))
        offsets = offsets - offsets[0]
    owner = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    pool = flat if restrict_to is None else flat.filter(pa.array(restrict_to[owner]))
    values = pc.unique(pool.drop_null()).sort()
    index = pc.index_in(flat, value_set=values)
    found = pc.is_valid(index).to_numpy(zero_copy_only=False)
    indices = index.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int32)[found]
    kept = np.bincount(owner[found], minlength=len(offsets) - 1)
    return Domains(column=column, values=values.to_pylist(),
                   offsets=np.concatenate([[0], np.cumsum(kept)]).astype(np.int64),
                   indices=indices)


def user_attribute_columns(users: pa.Table) -> list[str]:
    """User-table columns usable as attribute tokens, in table order."""
    found = []
    for name in users.column_names:
        if name in _ID_COLUMNS or not _categorical(users.schema.field(name).type):
            continue
        distinct = len(pc.unique(users[name].combine_chunks().drop_null()))
        if 2 <= distinct <= MAX_ATTRIBUTE_VALUES:
            found.append(name)
    return found


def _sorted_by(table: pa.Table, key: str) -> pa.Table:
    """The side table with row k−1 holding id k (build_dataset already writes it so)."""
    if key not in table.column_names:
        return table
    ids = table[key].to_numpy()
    if not np.array_equal(ids, np.arange(1, len(ids) + 1)):
        table = table.sort_by(key)
        ids = table[key].to_numpy()
        if not np.array_equal(ids, np.arange(1, len(ids) + 1)):
            raise UserError(f"side table ids in column {key!r} are not 1 … n")
    return table


#: A behaviour with at most this many distinct training values gets one token per value.
MAX_ORDINAL_VALUES = 16
QUANTILE_BINS = 8
SHARE_BINS = 5
UNKNOWN = "?"


@dataclass(frozen=True)
class BehaviorScale:
    """How a behaviour's values become tokens.

    binary (values {0, 1} or {0}): item tokens 0 / 1; segment share in SHARE_BINS equal bins.
    (Values {1} alone are ordinal: a training part of 1-star ratings is not a click log.)
    ordinal (≤ MAX_ORDINAL_VALUES distinct values): one item token per value (nearest value for
    unseen ones); segment mean → the nearest point of the values and their midpoints (ties
    round down), e.g. ratings 1 … 5 → 1, 1.5, …, 5.
    quantile: QUANTILE_BINS training quantile bins (`points` are the inner edges), for items and
    segment means alike.
    """

    kind: Literal["binary", "ordinal", "quantile"]
    points: tuple[float, ...]

    @classmethod
    def fit(cls, values: np.ndarray) -> BehaviorScale | None:
        """The scale of a behaviour's training values (NaN = missing; None if all are)."""
        return cls.fit_counts(*value_counts(values))

    @classmethod
    def fit_counts(cls, distinct: np.ndarray, counts: np.ndarray) -> BehaviorScale | None:
        """`fit` from the distinct values (ascending, no NaN) and their counts: sums that a
        distributed job adds up over the users (`unids.formats.sources.TrainStats`)."""
        if len(distinct) == 0:
            return None
        if distinct[0] == 0.0 and np.all(np.isin(distinct, (0.0, 1.0))):
            return cls("binary", (0.0, 1.0))
        if len(distinct) <= MAX_ORDINAL_VALUES:
            return cls("ordinal", tuple(float(v) for v in distinct))
        quantiles = np.arange(1, QUANTILE_BINS) / QUANTILE_BINS
        edges = np.unique(histogram_quantiles(distinct, counts, quantiles))
        return cls("quantile", tuple(float(e) for e in edges))

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "points": list(self.points)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BehaviorScale:
        return cls(data["kind"], tuple(float(p) for p in data["points"]))

    def _grid(self) -> np.ndarray:
        points = np.array(self.points)
        middles = (points[1:] + points[:-1]) / 2
        return np.sort(np.concatenate([points, middles]))

    def item_labels(self, name: str) -> list[str]:
        if self.kind == "quantile":
            return [*_bin_labels(name, self.points), f"{name}={UNKNOWN}"]
        return [*(f"{name}={p:g}" for p in self.points), f"{name}={UNKNOWN}"]

    def item_index(self, values: np.ndarray) -> np.ndarray:
        """Label index of each value (NaN → the unknown label)."""
        return _with_unknown(values, self._item_bins, len(self.item_labels("")) - 1)

    def _item_bins(self, values: np.ndarray) -> np.ndarray:
        points = np.array(self.points)
        if self.kind == "quantile":
            return np.searchsorted(points, values, side="right")
        return _nearest(points, values)

    def aggregate_labels(self, name: str) -> list[str]:
        if self.kind == "binary":
            edges = np.linspace(0, 1, SHARE_BINS + 1)
            bins = [f"{name} share [{lo:g},{hi:g})" for lo, hi in itertools.pairwise(edges)]
            bins[-1] = bins[-1][:-1] + "]"
            return [*bins, f"{name}={UNKNOWN}"]
        if self.kind == "quantile":
            return [*_bin_labels(f"mean {name}", self.points), f"{name}={UNKNOWN}"]
        return [*(f"{name}≈{g:g}" for g in self._grid()), f"{name}={UNKNOWN}"]

    def aggregate_index(self, means: np.ndarray) -> np.ndarray:
        return _with_unknown(means, self._aggregate_bins, len(self.aggregate_labels("")) - 1)

    def _aggregate_bins(self, means: np.ndarray) -> np.ndarray:
        if self.kind == "binary":
            return np.minimum((means * SHARE_BINS).astype(np.int64), SHARE_BINS - 1)
        if self.kind == "quantile":
            return np.searchsorted(np.array(self.points), means, side="right")
        return _nearest(self._grid(), means)


def value_counts(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct values ascending, counts) of the non-NaN `values` (float64, int64)."""
    # + 0.0 turns −0.0 into 0.0: one zero, whichever comes first (Spark's grouping does too).
    values = np.asarray(values, dtype=np.float64) + 0.0
    distinct, counts = np.unique(values[~np.isnan(values)], return_counts=True)
    return distinct, counts.astype(np.int64)


def histogram_quantiles(distinct: np.ndarray, counts: np.ndarray, quantiles: np.ndarray
                        ) -> np.ndarray:
    """`np.quantile(np.repeat(distinct, counts), quantiles)` (the default `linear` method),
    bit for bit, without materialising the values: numpy's virtual index `(n − 1)·q`, its
    neighbours found in the cumulative counts, and numpy's `_lerp` (which interpolates from
    the upper neighbour when γ ≥ 0.5). Tested against np.quantile."""
    n = int(counts.sum())
    virtual = (n - 1) * np.asarray(quantiles, dtype=np.float64)
    previous = np.floor(virtual)
    gamma = virtual - previous
    lower = previous.astype(np.int64)
    upper = lower + 1
    last = virtual >= n - 1  # numpy takes the last value for both neighbours there
    lower[last] = upper[last] = n - 1
    ends = np.cumsum(counts)  # distinct[k] fills the sorted positions [ends[k − 1], ends[k])
    below = distinct[np.searchsorted(ends, lower, side="right")]
    above = distinct[np.searchsorted(ends, upper, side="right")]
    step = above - below
    return np.where(gamma >= 0.5, above - step * (1 - gamma), below + step * gamma)


def _nearest(points: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Index of the nearest point (points sorted); exact ties go to the smaller point."""
    middles = (points[1:] + points[:-1]) / 2
    return np.searchsorted(middles, values, side="left")


def _with_unknown(values: np.ndarray, bins: Any, unknown: int) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    out = np.full(values.shape, unknown, dtype=np.int64)
    known = ~np.isnan(values)
    out[known] = bins(values[known])
    return out


def _bin_labels(name: str, edges: tuple[float, ...]) -> list[str]:
    bounds = ["-inf", *(f"{e:g}" for e in edges), "inf"]
    return [f"{name} in [{lo},{hi})" for lo, hi in itertools.pairwise(bounds)]


def float_values(lists: pa.ListArray) -> np.ndarray:
    """Flat float64 values with nulls as NaN."""
    flat = lists.flatten().cast(pa.float64())
    return flat.fill_null(np.nan).to_numpy(zero_copy_only=False)
