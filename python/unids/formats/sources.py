"""Where the tokens of a PT sequence come from, and the vocabulary that holds them.

Per-item behaviour tokens (item-behaviour interleaving, Appendix A.6.2) and the four segment
token sources of SPEC §5:

* `gap`: log2 bucket (`unids.data.time`) of the time between the last item of P_i and the first
  item of P_{i+1}; the last segment of a user gets the `end` token. Needs real timestamps (not
  positions, as S3-Rec files have).
* `user`: one user attribute, the same token for every segment of the user. Default `age` when
  the user table has it (ML-1M: 7 age groups; taste differs by age, and a few values give
  well-trained tokens), else `gender`, `occupation`, else the first categorical column with
  2 … 64 values (`unids.data.features`).
* `behavior`: the segment's mean feedback, bucketed (`BehaviorScale`): ratings → the nearest
  half step (1, 1.5, …, 5); a 0/1 behaviour (click) → its share in fifths; others → training
  quantiles. Segments whose values are all missing get the unknown token.
* `domain`: the segment's majority genre / category: each item votes once for each of its
  values; ties go to the value more frequent in the training interactions, then to the smaller
  (sorted-first) value. Segments without any value get `none`.

The behaviour column is the label column when the dataset has a label rule (ML-1M `rating`,
KuaiRand `is_click`), else its first behaviour column. Everything is fitted on the training part:
behaviour scales on training values, domain values on items that occur in training. User
attributes come from the user table, which every user in training has.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from unids.data.dataset import Dataset, TrainPart
from unids.data.features import (
    UNKNOWN,
    BehaviorScale,
    Domains,
    find_domain_column,
    float_values,
    item_domains,
    user_attribute_columns,
    value_counts,
)
from unids.data.time import GAP_BUCKETS, clock_steps, gap_bucket, gap_bucket_labels
from unids.errors import UserError
from unids.formats.vocabulary import CONTROL_LABELS, Namespace, Vocabulary

Source = Literal["gap", "user", "behavior", "domain"]
SOURCES: tuple[Source, ...] = ("gap", "user", "behavior", "domain")
#: When a stage's source is missing, the others are tried in this order; `sep` (a plain
#: separator token, `control:sep`) is the last resort and always available.
FALLBACK_ORDER: tuple[Source, ...] = ("domain", "user", "behavior", "gap")
PREFERRED_USER_ATTRIBUTES = ("age", "gender", "occupation")
# -- what the dataset offers ------------------------------------------------------------------


@dataclass(frozen=True)
class Offer:
    """The token sources a dataset can provide, fitted on its training part."""

    behaviors: dict[str, BehaviorScale]  # behaviour column → scale (columns with values only)
    primary_behavior: str | None
    clock_time: bool
    user_attributes: list[str]
    user_attribute: str | None  # the default one for the `user` source
    domains: Domains | None
    domain_counts: np.ndarray | None  # training interactions per domain value (tie-breaking)
    notes: tuple[str, ...]

    def available(self, source: str) -> bool:
        return {
            "gap": self.clock_time,
            "user": self.user_attribute is not None,
            "behavior": self.primary_behavior is not None,
            "domain": self.domains is not None and len(self.domains.values) > 0,
        }[source]

    def why_missing(self, source: str) -> str:
        return {
            "gap": "the timestamps are positions, not times",
            "user": "the user table has no categorical attribute",
            "behavior": "the dataset has no behaviour column with values",
            "domain": "the item table has no genre/category column",
        }[source]


@dataclass(frozen=True)
class TrainStats:
    """The sums over a training part that fit the token sources (and the DP's item costs).
    Each is a sum over users, so a distributed job computes them per batch and `merge`s them;
    `survey_stats` then decides exactly as on the whole part."""

    item_counts: np.ndarray  # (n_items + 1,) int64: training interactions per item id
    behavior_values: dict[str, tuple[np.ndarray, np.ndarray]]  # → (distinct ascending, counts)
    steps: int  # consecutive interactions of one user (`unids.data.time.clock_steps`)
    unit_steps: int  # of which exactly 1 apart

    @classmethod
    def of(cls, train: TrainPart, behaviors: tuple[str, ...], n_items: int) -> TrainStats:
        item_values, _ = _flat_items(train)
        steps, unit_steps = clock_steps(train.timestamps)
        return cls(item_counts=np.bincount(item_values, minlength=n_items + 1).astype(np.int64),
                   behavior_values={name: value_counts(float_values(train.behaviors[name]))
                                    for name in behaviors},
                   steps=steps, unit_steps=unit_steps)

    def merge(self, other: TrainStats) -> TrainStats:
        values = {}
        for name, (distinct, counts) in self.behavior_values.items():
            both = np.concatenate([distinct, other.behavior_values[name][0]])
            merged, where = np.unique(both, return_inverse=True)
            weights = np.concatenate([counts, other.behavior_values[name][1]])
            values[name] = (merged, np.bincount(where, weights=weights,
                                                minlength=len(merged)).astype(np.int64))
        return TrainStats(item_counts=self.item_counts + other.item_counts,
                          behavior_values=values, steps=self.steps + other.steps,
                          unit_steps=self.unit_steps + other.unit_steps)

    @property
    def clock_time(self) -> bool:
        """`unids.data.time.has_clock_time` of the whole part."""
        return self.steps > self.unit_steps


def survey(dataset: Dataset, train: TrainPart, *, behavior: str | None = None,
           user_attribute: str | None = None, domain_column: str | None = None) -> Offer:
    """What `dataset` can provide (see the module docstring for the defaults)."""
    return survey_stats(dataset, TrainStats.of(train, dataset.behaviors, dataset.n_items),
                        behavior=behavior, user_attribute=user_attribute,
                        domain_column=domain_column)


def survey_stats(dataset: Dataset, stats: TrainStats, *, behavior: str | None = None,
                 user_attribute: str | None = None, domain_column: str | None = None) -> Offer:
    """`survey` from the training part's sums (`dataset` needs only its side tables and
    manifest here, not its sequences)."""
    notes: list[str] = []
    scales: dict[str, BehaviorScale] = {}
    for name in dataset.behaviors:
        scale = BehaviorScale.fit_counts(*stats.behavior_values[name])
        if scale is None:
            notes.append(f"behaviour {name!r} has no value in training: no tokens for it")
        else:
            scales[name] = scale
    if behavior is not None:
        if behavior not in dataset.behaviors:
            raise UserError(f"the dataset has no behaviour {behavior!r} (it has "
                            f"{', '.join(dataset.behaviors) or 'none'})")
        primary: str | None = behavior if behavior in scales else None
    else:
        label = (dataset.manifest.get("label") or {}).get("column")
        candidates = [label] if label in scales else []
        candidates += [b for b in dataset.behaviors if b in scales]
        primary = candidates[0] if candidates else None

    attributes = user_attribute_columns(dataset.users)
    if user_attribute is not None:
        if user_attribute not in dataset.users.column_names:
            raise UserError(f"the user table has no column {user_attribute!r}")
        if user_attribute not in attributes:
            raise UserError(f"user column {user_attribute!r} is not categorical with 2 … 64 "
                            "values; it cannot be a token source")
        chosen: str | None = user_attribute
    else:
        preferred = [a for a in PREFERRED_USER_ATTRIBUTES if a in attributes]
        chosen = (preferred or attributes)[0] if (preferred or attributes) else None

    column = find_domain_column(dataset.items, domain_column)
    domains = counts = None
    if column is not None:
        per_item = stats.item_counts[1:]
        domains = item_domains(dataset.items, column, restrict_to=per_item > 0)
        owner = np.repeat(np.arange(domains.n_items), np.diff(domains.offsets))
        counts = np.bincount(domains.indices, weights=per_item[owner],
                             minlength=len(domains.values)).astype(np.int64)
    return Offer(behaviors=scales, primary_behavior=primary, clock_time=stats.clock_time,
                 user_attributes=attributes, user_attribute=chosen, domains=domains,
                 domain_counts=counts, notes=tuple(notes))


def _flat_items(train: TrainPart) -> tuple[np.ndarray, np.ndarray]:
    lengths = train.items.value_lengths().fill_null(0).to_numpy(zero_copy_only=False)
    return (train.items.flatten().to_numpy(zero_copy_only=False).astype(np.int64),
            np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]))


def build_vocabulary(dataset: Dataset, offer: Offer) -> Vocabulary:
    """The vocabulary of `dataset`: every source it offers gets its namespace (module
    docstring of `unids.formats.vocabulary` for the layout). Deterministic."""
    spaces: list[Namespace] = []

    def add(name: str, kind: str, labels: list[str], meta: dict[str, Any] | None = None) -> None:
        start = spaces[-1].stop
        spaces.append(Namespace(name, kind, start, len(labels), tuple(labels), meta or {}))

    spaces.append(Namespace("padding", "padding", 0, 1))
    spaces.append(Namespace("item", "item", 1, dataset.n_items))
    for name, scale in offer.behaviors.items():
        add(f"item-behavior:{name}", "item-behavior", scale.item_labels(name),
            {"field": name, "scale": scale.as_json()})
    if offer.clock_time:
        add("gap", "gap", [*gap_bucket_labels(), "end"], {"buckets": GAP_BUCKETS})
    for attribute in offer.user_attributes:
        values = _attribute_values(dataset.users[attribute])
        add(f"user:{attribute}", "user", [*(f"{attribute}={v}" for v in values),
                                          f"{attribute}={UNKNOWN}"],
            {"field": attribute, "values": values})
    for name, scale in offer.behaviors.items():
        add(f"behavior:{name}", "behavior", scale.aggregate_labels(name),
            {"field": name, "scale": scale.as_json()})
    if offer.domains is not None and offer.domains.values:
        add(f"domain:{offer.domains.column}", "domain", [*map(str, offer.domains.values),
                                                         "none"],
            {"field": offer.domains.column, "values": offer.domains.values})
    add("control", "control", list(CONTROL_LABELS))
    return Vocabulary(spaces)


def _attribute_values(column: pa.ChunkedArray) -> list[Any]:
    data = column.combine_chunks()
    if pa.types.is_dictionary(data.type):
        data = data.cast(data.type.value_type)
    return pc.unique(data.drop_null()).sort().to_pylist()


# -- tokens -----------------------------------------------------------------------------------


def item_behavior_tokens(vocabulary: Vocabulary, behavior: str, values: np.ndarray
                         ) -> np.ndarray:
    """One token per interaction (values float, NaN = missing)."""
    space = vocabulary[f"item-behavior:{behavior}"]
    scale = BehaviorScale.from_json(space.meta["scale"])
    return (space.start + scale.item_index(values)).astype(np.int32)


@dataclass(frozen=True)
class Segments:
    """The flat layout of a segmented training part."""

    lengths: np.ndarray  # (S,) segment lengths, users' lists concatenated
    starts: np.ndarray  # (S,) flat item index of each segment's first item
    user_row: np.ndarray  # (S,) row (0-based) of the segment's user in the sequences table
    last: np.ndarray  # (S,) bool: the user's last segment

    @classmethod
    def of(cls, segment_lengths: pa.ListArray) -> Segments:
        counts = segment_lengths.value_lengths().fill_null(0).to_numpy(zero_copy_only=False)
        lengths = segment_lengths.flatten().to_numpy(zero_copy_only=False).astype(np.int64)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        user_row = np.repeat(np.arange(len(counts)), counts)
        last = np.zeros(len(lengths), dtype=bool)
        ends = np.cumsum(counts)
        last[ends[counts > 0] - 1] = True
        return cls(lengths=lengths, starts=starts[: len(lengths)], user_row=user_row, last=last)

    @property
    def of_item(self) -> np.ndarray:
        """Segment index of every item."""
        return np.repeat(np.arange(len(self.lengths)), self.lengths)


def segment_tokens(source: str, vocabulary: Vocabulary, offer: Offer, train: TrainPart,
                   segments: Segments, user_tokens: np.ndarray | None = None) -> np.ndarray:
    """One token T_i per segment from `source` (which `offer` must provide), or `control:sep`
    for source "sep". `user_tokens`: `user_token_table` of the user attribute (source
    `user`)."""
    if source == "sep":
        return np.full(len(segments.lengths), vocabulary["control"].token("sep"), np.int32)
    if source == "gap":
        return _gap_tokens(vocabulary, train, segments)
    if source == "user":
        assert user_tokens is not None
        user_ids = np.asarray(train.users, dtype=np.int64)  # internal ids, 1 … U
        return user_tokens[user_ids[segments.user_row] - 1]
    if source == "behavior":
        assert offer.primary_behavior is not None
        return _behavior_tokens(vocabulary, offer.primary_behavior, train, segments)
    if source == "domain":
        assert offer.domains is not None and offer.domain_counts is not None
        return _domain_tokens(vocabulary, offer.domains, offer.domain_counts, train, segments)
    raise ValueError(f"unknown source {source!r}")


def _gap_tokens(vocabulary: Vocabulary, train: TrainPart, segments: Segments) -> np.ndarray:
    space = vocabulary["gap"]
    times = float_values(train.timestamps)
    ends = segments.starts + segments.lengths  # first item of the next segment
    inner = ~segments.last
    gaps = np.zeros(len(ends))
    gaps[inner] = times[ends[inner]] - times[ends[inner] - 1]
    tokens = space.start + gap_bucket(gaps)
    tokens[segments.last] = space.token("end")
    return tokens.astype(np.int32)


def user_token_table(vocabulary: Vocabulary, users: pa.Table, attribute: str) -> np.ndarray:
    """The `user` source's token of every user (int32, indexed by internal id − 1)."""
    space = vocabulary[f"user:{attribute}"]
    users = users.sort_by("user")
    column = users[attribute].combine_chunks()
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    index = pc.index_in(column, value_set=pa.array(space.meta["values"], column.type))
    per_user = space.start + index.fill_null(space.size - 1).to_numpy(zero_copy_only=False)
    return per_user.astype(np.int32)


def _behavior_tokens(vocabulary: Vocabulary, behavior: str, train: TrainPart,
                     segments: Segments) -> np.ndarray:
    space = vocabulary[f"behavior:{behavior}"]
    scale = BehaviorScale.from_json(space.meta["scale"])
    values = float_values(train.behaviors[behavior])
    known = ~np.isnan(values)
    of_item = segments.of_item
    n = len(segments.lengths)
    total = np.bincount(of_item[known], weights=values[known], minlength=n)
    count = np.bincount(of_item[known], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return (space.start + scale.aggregate_index(means)).astype(np.int32)


def _domain_tokens(vocabulary: Vocabulary, domains: Domains, counts: np.ndarray,
                   train: TrainPart, segments: Segments) -> np.ndarray:
    """Majority domain value per segment, ties by training frequency, then by value order."""
    space = vocabulary[f"domain:{domains.column}"]
    n_values = len(domains.values)
    item_values, _ = _flat_items(train)
    value_rank = np.empty(n_values, dtype=np.int64)  # 0 = preferred in a tie
    value_rank[np.lexsort((np.arange(n_values), -counts))] = np.arange(n_values)
    tokens = np.full(len(segments.lengths), space.token("none"), dtype=np.int64)

    # A one-item segment (most of them) gets its item's preferred value: all of the item's
    # values have one vote, so the tie-break alone decides.
    owner = np.repeat(np.arange(domains.n_items), np.diff(domains.offsets))
    by_item = np.lexsort((value_rank[domains.indices], owner))
    first = np.ones(len(by_item), dtype=bool)
    first[1:] = owner[by_item][1:] != owner[by_item][:-1]
    item_best = np.full(domains.n_items, -1, dtype=np.int64)
    item_best[owner[by_item][first]] = domains.indices[by_item][first]
    single = np.flatnonzero(segments.lengths == 1)
    best = item_best[item_values[segments.starts[single]] - 1]
    tokens[single[best >= 0]] = space.start + best[best >= 0]

    # Longer segments: every item votes once for each of its values.
    of_item = segments.of_item
    in_long = segments.lengths[of_item] > 1
    voters, voter_segment = item_values[in_long], of_item[in_long]
    per_item = np.diff(domains.offsets)[voters - 1]
    seg = np.repeat(voter_segment, per_item)
    starts = np.repeat(domains.offsets[voters - 1], per_item)
    within = np.arange(len(seg)) - np.repeat(np.cumsum(per_item) - per_item, per_item)
    value = domains.indices[starts + within].astype(np.int64)
    keys, key_votes = np.unique(seg * n_values + value, return_counts=True)
    key_seg, key_value = keys // n_values, keys % n_values
    # Best per segment: most votes, then the value more frequent in training, then the first.
    order = np.lexsort((value_rank[key_value], -key_votes, key_seg))
    first = np.ones(len(order), dtype=bool)
    first[1:] = key_seg[order][1:] != key_seg[order][:-1]
    tokens[key_seg[order][first]] = space.start + key_value[order][first]
    return tokens.astype(np.int32)
