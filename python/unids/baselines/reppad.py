"""RepPad (Dang et al. 2024, "Repeated padding for sequential recommendation"), SPEC §8.

A training row that is shorter than the maximum length is repeated instead of being padded
with zeros. A row here is a window of input positions, each with the next item as its target
(`unids.train.batches`): tokens x₁ … x_len and targets x₂ … x_{len+1}, i.e. the item sequence
x₁ … x_{len+1} of n = len + 1 items. Repeating that item sequence r times and training next-item
prediction on it gives r copies of the row's (input, target) pairs, with one *boundary*
position between consecutive copies:

- `delimiter=True` (RepPad's delimiter variant, the default): the boundary is a 0 token (the
  padding id, so attention skips it and positions do not advance) with **no target**;
- `delimiter=False`: the boundary is the row's last target x_{len+1} as an input, predicting
  the first item of the next copy — the pair the concatenated item sequence contains there.

So a repeated row has r·(len + 1) − 1 positions, at most `max_len`:
r ~ U{1, ⌊(max_len + 1) / (len + 1)⌋}, which is SPEC's U{1, ⌊max_len / len⌋} counted in items
(`max_len` inputs + their last target = max_len + 1 items; n = len + 1 items per copy).
A row of length `max_len` (or longer) is never repeated. Only the row's own positions are
copied, never another row's, and the result is left-padded like the input. Evaluation windows
are never repeated.

Timestamps (`shift_times`). RepPad was proposed for models without time. A copy that keeps
its original timestamps tells a time-aware model (HSTU's rab_time) that the earlier copies
happened at the same moments as the row itself: a position of a later copy then sees its
own target, in the copy before, at a time gap of zero from the time it predicts. With
`shift_times` each earlier copy is moved back by one period per later copy (period = the
row's span, first input to last target, + 1 s), so the repeated row reads as one longer
history whose time runs forward, and every real gap within a copy is kept. On ML-1M with
HSTU the two trained alike (docs/TRAINING.md), so the default keeps RepPad as published.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Repeated:
    tokens: torch.Tensor  # (B, W') int64, left-padded
    targets: torch.Tensor  # (B, W') int64, 0 = no target (padding, delimiters)
    timestamps: torch.Tensor | None  # (B, W') float64
    query_times: torch.Tensor | None  # (B, W') float64: the time of each position's target
    behaviors: torch.Tensor | None  # (B, W') int64
    copies: torch.Tensor  # (B,) int64 on the CPU: r per row


def repetition_limit(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """(B,) the largest r whose copies, with their r − 1 boundary positions, fit in `max_len`:
    ⌊(max_len + 1) / (len + 1)⌋, and 1 for an empty row."""
    lengths = lengths.cpu().long()
    return torch.where(lengths > 0, (max_len + 1) // (lengths + 1), 1).clamp(min=1)


def draw_copies(lengths: torch.Tensor, max_len: int,
                generator: torch.Generator | None) -> torch.Tensor:
    """(B,) CPU int64: r ~ U{1, repetition_limit} per row."""
    limit = repetition_limit(lengths, max_len)
    return 1 + (torch.rand(len(limit), generator=generator) * limit).long().clamp(
        max=limit - 1)


def repeated_length(lengths: torch.Tensor, copies: torch.Tensor) -> torch.Tensor:
    """(B,) positions of each repeated row: r·(len + 1) − 1 (0 for an empty row)."""
    lengths, copies = lengths.cpu().long(), copies.cpu().long()
    return torch.where(lengths > 0, copies * (lengths + 1) - 1, 0)


def repeated_example_count(targets_per_row: torch.Tensor, lengths: torch.Tensor,
                           copies: torch.Tensor, delimiter: bool) -> int:
    """How many positions with a target the repeated rows have: r × the row's own, plus the
    r − 1 boundary targets without a delimiter."""
    copies = copies.cpu().long()
    count = copies * targets_per_row.cpu().long()
    if not delimiter:
        count = count + torch.where(lengths.cpu() > 0, copies - 1, 0)
    return int(count.sum())


def repeat_padding(tokens: torch.Tensor, targets: torch.Tensor, lengths: torch.Tensor,
                   max_len: int, generator: torch.Generator | None = None, *,
                   delimiter: bool = True, copies: torch.Tensor | None = None,
                   timestamps: torch.Tensor | None = None,
                   query_times: torch.Tensor | None = None,
                   behaviors: torch.Tensor | None = None, n_items: int | None = None,
                   multiple: int = 1, shift_times: bool = False) -> Repeated:
    """RepPad on a left-padded batch: tokens, targets (B, W) with `lengths` (B,) real columns
    at the right. `copies` (B,) fixes r (else drawn with `generator`). The result is trimmed
    to its longest row rounded up to `multiple` (at most `max_len`) columns.

    Without a delimiter the boundary input is the row's last target and its target is the
    row's first item: the first token if it is an item (id ≤ `n_items`; every token when
    `n_items` is None), else the first token's target (a Pattern-Token special token is
    followed by the item it precedes). The boundary copies the last input's timestamp (the
    last target's own time is not in the window), the time of the first item as its query
    time (that is the item it predicts) and no behaviour (0). Every input
    position of a training row is assumed to have a target, as `train_tensors` builds them.
    `shift_times` moves earlier copies back in time (module docstring).
    """
    rows, width = tokens.shape
    device = tokens.device
    lengths = lengths.cpu().long()
    if len(lengths) and int(lengths.max()) > min(width, max_len):
        raise ValueError("a row is longer than its batch or max_len")
    if copies is None:
        copies = draw_copies(lengths, max_len, generator)
    copies = copies.cpu().long()
    total = repeated_length(lengths, copies)
    longest = int(total.max()) if rows else 0
    if longest > max_len:
        raise ValueError("more copies than fit in max_len")
    out_width = max(1, min(max_len, -(-longest // multiple) * multiple))
    if width == 0:  # only empty rows: nothing to repeat
        zeros = torch.zeros(rows, out_width, dtype=torch.long, device=device)
        def no_times(times: torch.Tensor | None) -> torch.Tensor | None:
            return None if times is None else torch.zeros(rows, out_width, dtype=times.dtype,
                                                          device=device)

        return Repeated(zeros, zeros.clone(), no_times(timestamps), no_times(query_times),
                        None if behaviors is None else zeros.clone(), copies)

    length = lengths.to(device)
    column = torch.arange(out_width, device=device)
    position = column[None, :] - (out_width - total.to(device))[:, None]  # in the repeated row
    real = position >= 0
    offset = position.clamp(min=0) % (length + 1)[:, None]  # within a copy + its boundary
    boundary = real & (offset == length[:, None])
    copied = real & ~boundary
    source = ((width - length)[:, None] + offset).clamp(0, width - 1)  # input column

    def take(values: torch.Tensor, fill: float) -> torch.Tensor:
        return torch.where(copied, values.gather(1, source),
                           torch.as_tensor(fill, dtype=values.dtype, device=device))

    out_tokens, out_targets = take(tokens, 0), take(targets, 0)
    out_times = None if timestamps is None else take(timestamps, 0.0)
    out_queries = None if query_times is None else take(query_times, 0.0)
    out_behaviors = None if behaviors is None else take(behaviors, 0)
    if not delimiter:
        first_column = (width - length).clamp(max=width - 1)[:, None]
        first_token = tokens.gather(1, first_column)
        first_target = targets.gather(1, first_column)
        is_item = first_token > 0 if n_items is None else (first_token > 0) & \
            (first_token <= n_items)
        first_item = torch.where(is_item, first_token, first_target)  # (B, 1)
        out_tokens = torch.where(boundary, targets[:, -1:], out_tokens)
        out_targets = torch.where(boundary, first_item, out_targets)
        if out_times is not None and timestamps is not None:
            out_times = torch.where(boundary, timestamps[:, -1:], out_times)
        if out_queries is not None and timestamps is not None and query_times is not None:
            # The boundary predicts the row's first item: the first input's own time, or
            # the time of the item a leading special token precedes (its query time).
            first_time = torch.where(is_item, timestamps.gather(1, first_column),
                                     query_times.gather(1, first_column))
            out_queries = torch.where(boundary, first_time, out_queries)
    if shift_times and timestamps is not None:
        out_times, out_queries = _shift_copies(
            out_times, out_queries, timestamps, query_times, length, copies.to(device),
            position, copied if delimiter else real, boundary)
    return Repeated(out_tokens, out_targets, out_times, out_queries, out_behaviors, copies)


def _shift_copies(times: torch.Tensor, queries: torch.Tensor | None, timestamps: torch.Tensor,
                  query_times: torch.Tensor | None, length: torch.Tensor, copies: torch.Tensor,
                  position: torch.Tensor, timed: torch.Tensor, boundary: torch.Tensor
                  ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Moves copy c of r back by (r − 1 − c) periods (module docstring). `position` is each
    column's index in the repeated row, `timed` the columns that carry a time. A boundary
    takes the last input's time from its own copy and predicts the next copy's first item,
    whose query time is one period later."""
    width = timestamps.shape[1]
    first_column = (width - length).clamp(max=width - 1)[:, None]
    first = timestamps.gather(1, first_column)
    last = (query_times if query_times is not None else timestamps)[:, -1:]
    period = (last - first).clamp(min=0) + 1.0  # (B, 1)
    copy = position.clamp(min=0) // (length + 1)[:, None]
    later = (copies[:, None] - 1 - copy).clamp(min=0).to(times.dtype)
    times = torch.where(timed, times - later * period, times)
    if queries is not None:
        later_query = torch.where(boundary, later - 1, later)
        queries = torch.where(timed, queries - later_query * period, queries)
    return times, queries
