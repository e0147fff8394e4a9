"""TaskData → tensors on the training device, built once per run.

Training rows stay flat (CSR) on the device; each batch gathers left-padded windows of at most
`max_len` input positions, trimmed to the batch's longest row, with the next item (and, for
fine ranking, that item's label) as target. Every evaluation case is one precomputed window of
its history. The datasets of the paper fit on a GPU this way, which takes the data loader out
of the step time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from unids.models import SequenceInput
from unids.train.data import EvalCases, Ragged, TaskData, next_item_index, query_times


@dataclass
class Windows:
    tokens: torch.Tensor  # (R, L) int64
    times: torch.Tensor  # (R, L) float64
    query_times: torch.Tensor  # (R, L) float64: when each position's predicted item is met
    behaviors: torch.Tensor | None  # (R, L) int64

    def __post_init__(self) -> None:
        # On the CPU: batch shapes are decided there without waiting for the device.
        self.lengths = (self.tokens > 0).sum(1).cpu()

    def width(self, rows: torch.Tensor) -> int:
        """Columns these rows need: the longest one's length (windows are left-padded, so the
        columns before it are padding for all of them)."""
        return padded_width(int(self.lengths[rows.cpu()].max()), self.tokens.shape[1])

    def input(self, rows: torch.Tensor, width: int | None = None,
              user: torch.Tensor | None = None) -> SequenceInput:
        """The rows as model input, trimmed to `width` columns (default: all)."""
        columns = slice(-width, None) if width else slice(None)
        return SequenceInput(
            tokens=self.tokens[rows, columns], timestamps=self.times[rows, columns],
            query_times=self.query_times[rows, columns],
            behaviors=None if self.behaviors is None else self.behaviors[rows, columns],
            user=user)


#: Batch widths are rounded up to a multiple of this: few distinct shapes for the kernels'
#: per-shape caches (cuBLAS heuristics, attention plans), at most 7 padded columns.
WIDTH_MULTIPLE = 8


def padded_width(longest: int, limit: int) -> int:
    """`longest` rounded up to WIDTH_MULTIPLE, at least 1, at most `limit`."""
    return max(1, min(limit, -(-longest // WIDTH_MULTIPLE) * WIDTH_MULTIPLE))


def length_bucketed_batches(lengths: torch.Tensor, batch_size: int, generator: torch.Generator,
                            pool_batches: int = 32) -> list[torch.Tensor]:
    """Shuffled batches of row indices in which rows have similar lengths.

    Rows are shuffled, cut into pools of `pool_batches` batches, sorted by length within a
    pool and cut into batches, and the batches are shuffled again: every row is still seen
    once per epoch in a random context, but a batch pads to a similar length — on short-
    sequence datasets (Beauty: ~9 interactions per user) this saves most of the compute.
    """
    count = len(lengths)
    order = torch.randperm(count, generator=generator)
    cpu_lengths = lengths.cpu()
    batches = []
    pool = batch_size * pool_batches
    for start in range(0, count, pool):
        members = order[start:start + pool]
        members = members[torch.sort(cpu_lengths[members], stable=True).indices]
        batches.extend(members[i:i + batch_size] for i in range(0, len(members), batch_size))
    shuffle = torch.randperm(len(batches), generator=generator)
    return [batches[i] for i in shuffle]


def _windows(tokens: Ragged, times: Ragged, queries: Ragged, behaviors: Ragged | None,
             length: int, device: torch.device) -> Windows:
    def tensor(array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(array)).to(device)

    return Windows(
        tokens=tensor(tokens.windows(length).astype(np.int64)),
        times=tensor(times.windows(length).astype(np.float64)),
        query_times=tensor(queries.windows(length).astype(np.float64)),
        behaviors=None if behaviors is None else tensor(behaviors.windows(length)
                                                        .astype(np.int64)))


@dataclass
class TrainBatch:
    inputs: SequenceInput
    targets: torch.Tensor  # (B, W) next item, 0 = no target
    labels: torch.Tensor | None  # (B, W) label of that item, −1 = unknown


class TrainTensors:
    """The training rows as flat device tensors; a batch is gathered on the device as
    left-padded windows of at most `max_len` positions.

    window="last" reads each row's last `max_len` positions (the reference setting);
    "random" ends the window of a longer row at a random position each epoch, so that the
    early part of a long history is trained on too.
    """

    def __init__(self, tokens: Ragged, times: Ragged, queries: Ragged,
                 behaviors: Ragged | None, targets: Ragged, labels: Ragged | None,
                 max_len: int, window: str, device: torch.device) -> None:
        def tensor(array: np.ndarray, dtype: np.dtype) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(array.astype(dtype))).to(device)

        self.max_len = max_len
        self.random_windows = window == "random"
        self.n_rows = len(tokens)
        self.lengths = torch.from_numpy(tokens.lengths.astype(np.int64))  # CPU
        self.starts = torch.from_numpy(tokens.offsets[:-1].astype(np.int64))  # CPU
        self.tokens = tensor(tokens.values, np.int64)
        self.times = tensor(times.values, np.float64)
        self.query_times = tensor(queries.values, np.float64)
        self.behaviors = None if behaviors is None else tensor(behaviors.values, np.int64)
        self.targets = tensor(targets.values, np.int64)
        self.labels = None if labels is None else tensor(labels.values, np.int64)
        # Prefix sums of example counts (CPU): a step knows its loss normaliser without a
        # device round trip.
        has_target = targets.values > 0
        self.target_prefix = _prefix(has_target)
        self.labelled_prefix = None if labels is None else \
            _prefix(has_target & (labels.values >= 0))
        self.device = device

    def window_ends(self, rows: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """(B,) CPU: where each row's window ends, counted from the row's start."""
        lengths = self.lengths[rows]
        if not self.random_windows:
            return lengths
        spare = (lengths - self.max_len).clamp(min=0)
        return lengths - (torch.rand(len(rows), generator=generator) * (spare + 1)).long()

    def example_count(self, rows: torch.Tensor, ends: torch.Tensor, retrieval: bool,
                      fine_negatives: int) -> int:
        """How many examples the model's forward sums over for these windows."""
        stop = self.starts[rows] + ends
        start = stop - torch.minimum(ends, torch.tensor(self.max_len))
        if retrieval or self.labelled_prefix is None:
            count = int((self.target_prefix[stop] - self.target_prefix[start]).sum())
            return count if retrieval else count * (1 + fine_negatives)
        return int((self.labelled_prefix[stop] - self.labelled_prefix[start]).sum())

    def batch(self, rows: torch.Tensor, ends: torch.Tensor, min_width: int = 1) -> TrainBatch:
        """The windows of `rows` ending at `ends`, left-padded to the longest of them (or to
        `min_width` columns)."""
        widths = torch.minimum(ends, torch.tensor(self.max_len))
        # A rank's share of a small last batch may be empty: it still steps (DDP needs every
        # rank's gradients), on a (0, min_width) batch.
        longest = int(widths.max()) if len(widths) else 0
        width = max(min_width, padded_width(longest, self.max_len))
        stop = (self.starts[rows] + ends).to(self.device, non_blocking=True)
        widths = widths.to(self.device, non_blocking=True)
        column = torch.arange(width, device=self.device)
        padding = width - widths  # leading padded columns per row
        index = stop[:, None] - width + column[None, :]
        real = column[None, :] >= padding[:, None]
        index = torch.where(real, index, 0)

        def gather(values: torch.Tensor, fill: float) -> torch.Tensor:
            return torch.where(real, values[index], torch.as_tensor(fill, dtype=values.dtype,
                                                                    device=self.device))

        inputs = SequenceInput(
            tokens=gather(self.tokens, 0), timestamps=gather(self.times, 0.0),
            query_times=gather(self.query_times, 0.0),
            behaviors=None if self.behaviors is None else gather(self.behaviors, 0))
        return TrainBatch(inputs, gather(self.targets, 0),
                          None if self.labels is None else gather(self.labels, -1))


def _prefix(flags: np.ndarray) -> torch.Tensor:
    prefix = np.zeros(len(flags) + 1, dtype=np.int64)
    np.cumsum(flags, out=prefix[1:])
    return torch.from_numpy(prefix)


def train_tensors(data: TaskData, length: int, device: torch.device,
                  window: str = "last") -> TrainTensors:
    """Inputs are the positions that have a next item to predict (the last token of a row
    has none); each predicts that next item, whose time is the position's query time."""
    following = next_item_index(data.tokens, data.n_items)
    has_target = following >= 0
    kept = Ragged(_offsets_of(data.tokens, has_target), data.tokens.values[has_target])

    def select(ragged: Ragged) -> Ragged:
        return Ragged(kept.offsets, ragged.values[has_target])

    def following_values(ragged: Ragged) -> Ragged:
        return Ragged(kept.offsets, ragged.values[following[has_target]])

    return TrainTensors(
        tokens=kept, times=select(data.times), queries=following_values(data.times),
        behaviors=None if data.behaviors is None else select(data.behaviors),
        targets=following_values(data.tokens),
        labels=None if data.labels is None else following_values(data.labels),
        max_len=length, window=window, device=device)


def _offsets_of(ragged: Ragged, keep: np.ndarray) -> np.ndarray:
    """Offsets of `ragged` after dropping the positions where `keep` is False."""
    counts = np.add.reduceat(keep.astype(np.int64), ragged.offsets[:-1]) if len(keep) else \
        np.zeros(len(ragged), dtype=np.int64)
    counts = np.where(ragged.lengths > 0, counts, 0)  # reduceat repeats on empty rows
    offsets = np.zeros(len(ragged) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return offsets


@dataclass
class EvalTensors:
    inputs: Windows
    target: torch.Tensor  # (U,)
    label: torch.Tensor | None  # (U,) −1 unknown
    seen_offsets: torch.Tensor  # (U + 1,) into seen_values
    seen_values: torch.Tensor
    users: torch.Tensor

    def __len__(self) -> int:
        return len(self.target)

    def seen_mask(self, rows: torch.Tensor, n_columns: int) -> torch.Tensor:
        """(B, n_columns) bool: the items each of these users met before the target."""
        starts, stops = self.seen_offsets[rows], self.seen_offsets[rows + 1]
        counts = stops - starts
        batch_row = torch.repeat_interleave(torch.arange(len(rows), device=rows.device), counts)
        within = torch.arange(int(counts.sum()), device=rows.device) - \
            torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)
        items = self.seen_values[torch.repeat_interleave(starts, counts) + within]
        mask = torch.zeros(len(rows), n_columns, dtype=torch.bool, device=rows.device)
        mask[batch_row, items] = True
        return mask


def eval_tensors(cases: EvalCases, length: int, device: torch.device,
                 n_items: int) -> EvalTensors:
    """Each case's last `length` history positions; a position's query time is the time of
    the next history item, or the target's for the positions after the last one."""
    def tensor(array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(array).astype(np.int64)).to(device)

    return EvalTensors(
        inputs=_windows(cases.history, cases.history_times,
                        query_times(cases.history, cases.history_times, n_items,
                                    cases.target_time),
                        cases.history_behaviors, length, device),
        target=tensor(cases.target),
        label=None if cases.label is None else tensor(cases.label),
        seen_offsets=tensor(cases.seen_items.offsets),
        seen_values=tensor(cases.seen_items.values),
        users=tensor(cases.users))
