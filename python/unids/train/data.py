"""From a prepared dataset to what the training loop reads: ragged training sequences and,
per evaluation split, each user's history and held-out target.

Training sees each user's training part only (all but the last two interactions); the
validation case is (training part → 2nd-last item), the test case (training part + the
validation item → last item), as SPEC §1 splits them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from unids.data.dataset import HOLDOUT, Dataset

#: Behaviours with at most this many distinct values (ratings 1–5, clicks 0/1) keep one bucket
#: per value; others are cut into quantile buckets.
MAX_EXACT_BEHAVIOR_VALUES = 32
QUANTILE_BUCKETS = 16
LEAVE_LAST_OUT_NOTE = ("leave-last-out protocol: trained on all but each user's last interaction "
                       "(the validation item included) for a fixed number of epochs, no "
                       "validation metrics")


@dataclass(frozen=True)
class Ragged:
    """Rows of variable length, CSR-style: row r is values[offsets[r]:offsets[r + 1]]."""

    offsets: np.ndarray  # (R + 1,) int64
    values: np.ndarray

    @classmethod
    def from_arrow(cls, lists: pa.ListArray | pa.ChunkedArray) -> Ragged:
        if isinstance(lists, pa.ChunkedArray):
            lists = lists.combine_chunks()
        offsets = lists.offsets.to_numpy().astype(np.int64)
        values = lists.values.to_numpy(zero_copy_only=False)
        return cls(offsets - offsets[0], values[offsets[0]:offsets[-1]])

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def rows(self, index: np.ndarray) -> Ragged:
        """The selected rows, in that order."""
        starts, stops = self.offsets[index], self.offsets[index + 1]
        lengths = stops - starts
        offsets = np.zeros(len(index) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        gather = np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1])
        return Ragged(offsets, self.values[gather])

    def drop_last(self, count: int) -> Ragged:
        """Every row without its last `count` values (shorter rows become empty)."""
        lengths = np.maximum(self.lengths - count, 0)
        position_in_row = np.arange(len(self.values)) - np.repeat(self.offsets[:-1], self.lengths)
        keep = position_in_row < np.repeat(lengths, self.lengths)
        offsets = np.zeros(len(self) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return Ragged(offsets, self.values[keep])

    def last(self, count: int) -> np.ndarray:
        """(R,) the value `count` places from the end of each row (1 = the last)."""
        return self.values[self.offsets[1:] - count]

    def windows(self, length: int, pad: float | int = 0) -> np.ndarray:
        """(R, length): the last `length` values of every row, right-aligned, left-padded."""
        ends = self.offsets[1:]
        index = ends[:, None] - length + np.arange(length)[None, :]
        inside = index >= self.offsets[:-1, None]
        gathered = self.values[np.clip(index, 0, max(len(self.values) - 1, 0))] \
            if len(self.values) else np.zeros(index.shape, dtype=self.values.dtype)
        return np.where(inside, gathered, np.asarray(pad, dtype=self.values.dtype))


def next_item_index(tokens: Ragged, n_items: int) -> np.ndarray:
    """For each flat position, the flat position of the next *item* token later in the same
    row, or −1.

    Retrieval targets are items only: in a Pattern-Token sequence the special tokens are
    context, so a position followed by a special token still predicts the item after it.
    """
    values = tokens.values
    item_positions = np.flatnonzero((values >= 1) & (values <= n_items))
    if len(item_positions) == 0:
        return np.full(len(values), -1, dtype=np.int64)
    following = np.searchsorted(item_positions, np.arange(len(values)) + 1)
    candidate = item_positions[np.minimum(following, len(item_positions) - 1)]
    row_end = np.repeat(tokens.offsets[1:], tokens.lengths)
    valid = (following < len(item_positions)) & (candidate < row_end)
    return np.where(valid, candidate, -1)


def query_times(tokens: Ragged, times: Ragged, n_items: int, final: np.ndarray) -> Ragged:
    """For each position, when the item it predicts is met: the time of the next item later
    in the row, else `final[row]` (an evaluation history's held-out target)."""
    index = next_item_index(tokens, n_items)
    row_of = np.repeat(np.arange(len(tokens)), tokens.lengths)
    following = times.values[np.maximum(index, 0)] if len(index) else times.values
    values = np.where(index >= 0, following, np.asarray(final, dtype=np.float64)[row_of])
    return Ragged(tokens.offsets, values.astype(np.float64))


def next_item(tokens: Ragged, n_items: int) -> Ragged:
    """For each position, the next item token later in the same row (0 if none)."""
    index = next_item_index(tokens, n_items)
    return Ragged(tokens.offsets, np.where(index >= 0, tokens.values[index], 0))


def behavior_buckets(values: np.ndarray) -> tuple[np.ndarray, list[float]]:
    """Behaviour values → bucket ids 1 … K (0 = missing) and the K bucket lower edges."""
    values = np.asarray(values, dtype=np.float64)
    known = ~np.isnan(values)
    distinct = np.unique(values[known])
    if len(distinct) <= MAX_EXACT_BEHAVIOR_VALUES:
        edges = distinct
    else:
        edges = np.unique(np.quantile(values[known], np.linspace(0, 1, QUANTILE_BUCKETS + 1)[:-1]))
    buckets = np.zeros(len(values), dtype=np.int64)
    buckets[known] = np.searchsorted(edges, values[known], side="right")
    return buckets, [float(edge) for edge in edges]


@dataclass(frozen=True)
class EvalCases:
    """One row per user: the history the model reads, the items masked from its ranking
    (everything the user interacted with before the target) and the held-out target."""

    history: Ragged  # tokens
    history_times: Ragged
    history_behaviors: Ragged | None
    seen_items: Ragged
    target: np.ndarray  # (U,) item id
    target_time: np.ndarray  # (U,)
    label: np.ndarray | None  # (U,) 0/1, −1 where unknown
    users: np.ndarray  # (U,) user id


@dataclass(frozen=True)
class TaskData:
    """Everything a run needs: training rows, evaluation cases, vocabulary sizes."""

    name: str
    n_items: int
    n_tokens: int
    tokens: Ragged
    times: Ragged
    behaviors: Ragged | None
    labels: Ragged | None  # 0/1 per position, −1 unknown; None = no explicit feedback
    row_users: np.ndarray
    cases: dict[str, EvalCases] = field(default_factory=dict)
    #: True for rows that are not a user's own training sequence (regenerated segments of a
    #: stage dataset); None = every row is the original sequence of its user
    row_generated: np.ndarray | None = None
    behavior_edges: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def n_behaviors(self) -> int:
        return len(self.behavior_edges)


def task_data(dataset: Dataset, behavior: str | None = "auto") -> TaskData:
    """The base training data of a prepared dataset: each user's plain item sequence.

    behavior: the behaviour column fed to the model as context ("auto": the dataset's first
    behaviour, if any; None: none). The label of a position is never part of its own input.
    """
    sequences = dataset.sequences
    items = Ragged.from_arrow(sequences["items"])
    times = Ragged.from_arrow(sequences["timestamps"])
    if behavior == "auto":
        behavior = dataset.behaviors[0] if dataset.behaviors else None
    behaviors, edges = None, []
    if behavior is not None:
        raw = Ragged.from_arrow(sequences[behavior])
        buckets, edges = behavior_buckets(raw.values)
        behaviors = Ragged(raw.offsets, buckets)
    labels = None
    if "label" in sequences.column_names:
        raw_labels = sequences["label"].combine_chunks()
        flat = raw_labels.values.to_numpy(zero_copy_only=False)
        label_values = np.where(np.isnan(flat.astype(np.float64)), -1, flat).astype(np.int8)
        labels = Ragged(items.offsets, label_values[: len(items.values)])
    users = sequences["user"].to_numpy().astype(np.int64)

    def cases(holdout: int) -> EvalCases:
        # The history ends just before the target: `holdout` from the end (2 = validation).
        history = items.drop_last(holdout)
        return EvalCases(
            history=history,
            history_times=times.drop_last(holdout),
            history_behaviors=None if behaviors is None else behaviors.drop_last(holdout),
            seen_items=history,
            target=items.last(holdout).astype(np.int64),
            target_time=times.last(holdout),
            label=None if labels is None else labels.last(holdout),
            users=users,
        )

    notes = [] if labels is not None else [
        "no explicit feedback: fine ranking uses the true next item as positive and 4 sampled "
        "unseen items as negatives (SPEC §7)"]
    return TaskData(
        name=dataset.name, n_items=dataset.n_items, n_tokens=dataset.n_items + 1,
        tokens=items.drop_last(HOLDOUT), times=times.drop_last(HOLDOUT),
        behaviors=None if behaviors is None else behaviors.drop_last(HOLDOUT),
        labels=None if labels is None else labels.drop_last(HOLDOUT),
        row_users=users, cases={"valid": cases(2), "test": cases(1)},
        behavior_edges=edges, notes=notes)


def with_validation_item(data: TaskData) -> TaskData:
    """The data of the leave-last-out protocol: every user's original training row becomes
    its test history (the training part + the validation item), other rows stay.

    The HSTU reference (generative-recommenders, `ignore_last_n=1`) trains on all but each
    user's last interaction and has no validation split; its published ML-1M and Books
    numbers — the floors of the anchors CSV — are measured that way. The appended positions
    keep their time and behaviour; an appended item's label is the validation label.
    """
    test, valid = data.cases["test"], data.cases["valid"]
    generated = np.zeros(len(data.tokens), dtype=bool) if data.row_generated is None \
        else data.row_generated
    case_of_user = {int(user): index for index, user in enumerate(test.users)}
    tokens, times, behaviors, labels = [], [], [], []
    for row in range(len(data.tokens)):
        case = None if generated[row] else case_of_user.get(int(data.row_users[row]))
        if case is None:
            tokens.append(_row(data.tokens, row))
            times.append(_row(data.times, row))
            behaviors.append(None if data.behaviors is None else _row(data.behaviors, row))
            labels.append(None if data.labels is None else _row(data.labels, row))
            continue
        history = _row(test.history, case)
        old_length = data.tokens.lengths[row]
        tokens.append(history)
        times.append(_row(test.history_times, case))
        if data.behaviors is not None:
            behaviors.append(_row(test.history_behaviors, case)
                             if test.history_behaviors is not None
                             else np.concatenate([_row(data.behaviors, row),
                                                  np.zeros(len(history) - old_length,
                                                           dtype=data.behaviors.values.dtype)]))
        if data.labels is not None:
            extra = history[old_length:]
            label = -1 if valid.label is None else int(valid.label[case])
            appended = np.where((extra >= 1) & (extra <= data.n_items), label, -1)
            labels.append(np.concatenate([_row(data.labels, row),
                                          appended.astype(data.labels.values.dtype)]))
    return dataclasses.replace(
        data, tokens=_stack(tokens, data.tokens.values.dtype),
        times=_stack(times, data.times.values.dtype),
        behaviors=None if data.behaviors is None else _stack(behaviors,
                                                             data.behaviors.values.dtype),
        labels=None if data.labels is None else _stack(labels, data.labels.values.dtype),
        notes=[*data.notes, LEAVE_LAST_OUT_NOTE])


def _row(ragged: Ragged, row: int) -> np.ndarray:
    return ragged.values[ragged.offsets[row]:ragged.offsets[row + 1]]


def _stack(rows: list, dtype: np.dtype) -> Ragged:
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum([len(row) for row in rows], out=offsets[1:])
    values = np.concatenate(rows).astype(dtype, copy=False) if rows else np.zeros(0, dtype)
    return Ragged(offsets, values)
