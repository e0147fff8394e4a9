"""Pattern-Token sequences as Arrow list arrays: build them from items + segmentation, and take
them apart again. Vectorised over all users at once (offset arithmetic on flat NumPy arrays).

A user whose items are segmented as [P1 … Pk] becomes

    [P1, T1, P2, T2, …, Pk, Tk]                        (interleave off)
    [i1, b1, i2, b2, T1, i3, b3, T2, …]               (interleave on: each item then its
                                                       behaviour token, Appendix A.6.2)

Globally, with the users' lists concatenated, item k (flat index) of segment s (flat index)
lands at `k·w + s` where `w` is 2 with interleaving and 1 without, its behaviour token at
`k·w + s + 1`, and the segment token of s right after the segment's last item, at
`end(s)·w + s` with `end(s)` the flat index one past that item. Every list offset is
`item_offset·w + segment_offset`. No per-item Python loop.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from unids.formats.vocabulary import Vocabulary

ListLike = Any  # pa.ListArray, pa.ChunkedArray of lists, or a list of int lists


_INT32 = pa.int32()


def as_list_array(data: ListLike, value_type: pa.DataType = _INT32) -> pa.ListArray:
    """A (possibly sliced) Arrow list array of the given value type."""
    if isinstance(data, pa.ChunkedArray):
        data = data.combine_chunks() if data.num_chunks else pa.array([], pa.list_(value_type))
    if not isinstance(data, pa.Array):
        data = pa.array(data, pa.list_(value_type))
    if isinstance(data, pa.LargeListArray):
        data = data.cast(pa.list_(data.type.value_type))
    if not isinstance(data, pa.ListArray):
        raise TypeError(f"expected a list array, got {data.type}")
    if data.type.value_type != value_type:
        data = data.cast(pa.list_(value_type))
    return data


def flat_parts(lists: pa.ListArray) -> tuple[np.ndarray, np.ndarray]:
    """(values, offsets starting at 0) of a list array, honouring slicing; nulls are empty."""
    lengths = lists.value_lengths().fill_null(0).to_numpy(zero_copy_only=False)
    offsets = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)])
    values = lists.flatten().to_numpy(zero_copy_only=False)
    return values, offsets


def to_pattern_tokens(items: ListLike, segment_lengths: ListLike, segment_tokens: np.ndarray,
                      behavior_tokens: np.ndarray | None = None) -> pa.ListArray:
    """PT sequences (list<int32>), one per user.

    items: list<int> per user; segment_lengths: list<int> per user, each ≥ 1 and summing to
    the user's item count; segment_tokens: one token T_i per segment, in the flattened order
    of `segment_lengths`; behavior_tokens: one token per item, in the flattened order of
    `items`, to interleave after each item (None: no interleaving).
    """
    items = as_list_array(items)
    segment_lengths = as_list_array(segment_lengths)
    if len(items) != len(segment_lengths):
        raise ValueError(f"{len(items)} item lists but {len(segment_lengths)} segmentations")
    item_values, item_offsets = flat_parts(items)
    seg_values, seg_offsets = flat_parts(segment_lengths)
    seg_values = seg_values.astype(np.int64)
    segment_tokens = np.asarray(segment_tokens, dtype=np.int32)
    if len(segment_tokens) != len(seg_values):
        raise ValueError(f"{len(segment_tokens)} segment tokens for {len(seg_values)} segments")
    if len(seg_values) and seg_values.min() < 1:
        raise ValueError("segment lengths must be ≥ 1")
    seg_ends = np.cumsum(seg_values)  # flat item index one past each segment
    covered = np.concatenate([[0], seg_ends])
    if not np.array_equal(covered[seg_offsets[1:]] - covered[seg_offsets[:-1]],
                          np.diff(item_offsets)):
        raise ValueError("segment lengths do not sum to the sequence lengths")
    width = 1 if behavior_tokens is None else 2
    n_items, n_segments = len(item_values), len(seg_values)
    out = np.empty(n_items * width + n_segments, dtype=np.int32)
    segment_of_item = np.repeat(np.arange(n_segments, dtype=np.int64), seg_values)
    item_position = np.arange(n_items, dtype=np.int64) * width + segment_of_item
    out[item_position] = item_values
    if behavior_tokens is not None:
        behavior_tokens = np.asarray(behavior_tokens, dtype=np.int32)
        if len(behavior_tokens) != n_items:
            raise ValueError(f"{len(behavior_tokens)} behaviour tokens for {n_items} items")
        out[item_position + 1] = behavior_tokens
    out[seg_ends * width + np.arange(n_segments, dtype=np.int64)] = segment_tokens
    offsets = (item_offsets * width + seg_offsets).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(out))


def _filter_lists(lists: pa.ListArray, keep: np.ndarray, offsets: np.ndarray) -> pa.ListArray:
    owner = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    counts = np.bincount(owner[keep], minlength=len(offsets) - 1)
    new_offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    values = lists.flatten().filter(pa.array(keep))
    return pa.ListArray.from_arrays(pa.array(new_offsets), values)


def to_items(tokens: ListLike, vocabulary: Vocabulary) -> Any:
    """The item sequence(s) inside PT sequence(s): every non-item token dropped.

    A list array (or list of lists) gives a list<int32> array; a flat 1-D sequence of ints gives
    a 1-D int32 NumPy array.
    """
    flat_input = isinstance(tokens, np.ndarray) and tokens.ndim == 1
    flat_input |= isinstance(tokens, (list, tuple)) and len(tokens) > 0 and all(
        isinstance(t, (int, np.integer)) for t in tokens)
    if flat_input:
        flat = np.asarray(tokens, dtype=np.int32)
        return flat[vocabulary.is_item(flat)]
    lists = as_list_array(tokens)
    values, offsets = flat_parts(lists)
    return _filter_lists(lists, vocabulary.is_item(values.astype(np.int64)), offsets)


def segment_lengths_of(tokens: ListLike, vocabulary: Vocabulary) -> pa.ListArray:
    """The segmentation a PT sequence encodes: the number of items before each segment token.
    Items after a user's last segment token (a truncated sequence) form no segment."""
    lists = as_list_array(tokens)
    values, offsets = flat_parts(lists)
    values = values.astype(np.int64)
    closes = vocabulary.is_segment_token(values)
    items_before = np.cumsum(vocabulary.is_item(values))  # items up to and including here
    owner = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    close_at = np.flatnonzero(closes)
    ends = items_before[close_at]
    close_owner = owner[close_at]
    # Items before each user's first token: the running count at the start of the user's list.
    start_count = np.concatenate([[0], items_before])[offsets[:-1]]
    previous = np.concatenate([[0], ends[:-1]])
    first = np.ones(len(close_at), dtype=bool)
    first[1:] = close_owner[1:] != close_owner[:-1]
    previous[first] = start_count[close_owner[first]]
    lengths = (ends - previous).astype(np.int32)
    counts = np.bincount(close_owner, minlength=len(offsets) - 1)
    new_offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(new_offsets), pa.array(lengths, pa.int32()))
