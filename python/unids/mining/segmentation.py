"""Minimum-entropy segmentation (docs/ALGORITHMS.md §5) of a batch of sequences with the
single-item costs of a larger input — what a streamed or distributed job needs.

`unids.segment(method="dp")` prices a single item at `−log2(f_i / F)` counted over the
sequences it is given. Applied to one batch (one Spark partition, one streamed chunk) that
would count the batch, not the whole input, and segment differently. `segment_batch` passes
the whole input's costs to the core instead (`_core.segment(..., item_costs=(items, costs))`),
so the segment lengths equal `unids.segment` on the whole input exactly, at the core's speed.
`segment_dp` is its plain reference: the same DP — the single item first, then the matching
patterns by increasing length, a candidate replacing only on a strictly smaller cost — in
NumPy, all the sequences of a batch in lockstep (tests/test_streaming.py: hypothesis parity
with the core and with `unids.segment` of the whole input).

    items, costs = unigram_costs(b.items for b in stream_sequences("log.parquet", holdout=2))
    for batch in stream_sequences("log.parquet", holdout=2):
        lengths = segment_batch(batch.items, patterns, "dp", (items, costs))
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pyarrow as pa

from unids import _core
from unids.mining.partial import SHIFT, _flat, _lookup, _Sums, count_unigrams


def item_costs(items: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """`−log2(f_i / F)` for each item, computed as the core computes it (C `log2`)."""
    total = float(counts.sum())
    return np.array([-math.log2(f / total) for f in counts.astype(np.float64).tolist()],
                    dtype=np.float64)


def unigram_costs(batches: Iterable[pa.ListArray]) -> tuple[np.ndarray, np.ndarray]:
    """(distinct items ascending, `item_costs`) of all the sequences of `batches`."""
    sums = _Sums()
    for sequences in batches:
        sums.add(*count_unigrams(sequences))
    items, counts = sums.total()
    return items, item_costs(items, counts)


def segment_batch(sequences: pa.ListArray, patterns: pa.Table, method: str,
                  costs: tuple[np.ndarray, np.ndarray] | None, *, threads: int | None = None
                  ) -> pa.ListArray:
    """Segment lengths of one batch as `unids.segment(method=…)` of the whole input, in the
    core: `greedy` needs no counts; `dp` prices single items with `costs` (`unigram_costs` of
    the whole input) instead of the batch's own counts. `segment_dp` is the NumPy reference."""
    if method == "greedy":
        return _core.segment(sequences, patterns, method="greedy", threads=threads)
    if method != "dp":
        raise ValueError(f"method must be 'dp' or 'greedy', got {method!r}")
    if costs is None:
        raise ValueError("dp needs the unigram costs of the whole input")
    return _core.segment(sequences, patterns, method="dp", threads=threads, item_costs=costs)


class _Trie:
    """The table's patterns as a trie: `(node << 32) | item` keys (ascending) → child node;
    node 0 is the root; `entropy[node]` is NaN where no pattern ends."""

    def __init__(self, patterns: pa.Table) -> None:
        children: dict[int, int] = {}
        entropy = [math.nan]
        column = patterns["pattern"].combine_chunks()
        for pattern, h in zip(column.to_pylist(), patterns["entropy"].to_pylist(), strict=True):
            node = 0
            for item in pattern:
                key = (node << SHIFT) | item
                if key not in children:
                    children[key] = len(entropy)
                    entropy.append(math.nan)
                node = children[key]
            entropy[node] = h
        keys = np.array(sorted(children), dtype=np.int64)
        self.keys = keys
        self.child = np.array([children[k] for k in keys.tolist()], dtype=np.int64)
        self.entropy = np.array(entropy, dtype=np.float64)
        self.depth = max((len(p) for p in column.to_pylist()), default=0)


def segment_dp(
    sequences: pa.ListArray | pa.ChunkedArray,
    patterns: pa.Table,
    items: np.ndarray,
    costs: np.ndarray,
) -> pa.ListArray:
    """Segment lengths per sequence (a `list<int32>` array), as `unids.segment(method="dp")`
    would give on the whole input whose distinct items are `items` (ascending) with single-item
    costs `costs` (`item_costs` of the whole input's counts)."""
    _core.segment([], patterns, method="dp")  # the core's checks: duplicates, NaN, layout
    values, offsets = _flat(sequences)
    n, users = len(values), len(offsets) - 1
    lengths = np.diff(offsets)
    trie = _Trie(patterns)

    # match[L - 1][j]: entropy of the table pattern of length L starting at j, +inf if none.
    room = np.repeat(offsets[1:], lengths) - np.arange(n, dtype=np.int64)  # items from j on
    match = []
    position, node = np.arange(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    for length in range(1, trie.depth + 1):
        fits = room[position] >= length
        position, node = position[fits], node[fits]
        found = _lookup(trie.keys, (node << SHIFT) | values[position + length - 1])
        position, node = position[found >= 0], trie.child[found[found >= 0]]
        entropy = trie.entropy[node]
        ends = ~np.isnan(entropy)
        row = np.full(n, np.inf)
        row[position[ends]] = entropy[ends]
        match.append(row)
    single = costs[np.searchsorted(items, values)] if n else np.zeros(0)

    # cost[base[u] + i] = best cost of the first i items of sequence u (slots 0 … length).
    base = offsets[:-1] + np.arange(users)
    slots = n + users + trie.depth + 1  # the tail absorbs reads past the last sequence
    cost = np.full(slots, np.inf)
    cost[base] = 0.0
    back = np.zeros(slots, dtype=np.int64)
    order = np.argsort(-lengths, kind="stable")  # active sequences are a prefix at each step
    descending = lengths[order]
    for i in range(int(descending[0]) if users else 0):
        active = order[: np.searchsorted(-descending, -i, side="left")]
        here, at = base[active] + i, offsets[active] + i
        start = cost[here]
        candidate = start + single[at]
        better = candidate < cost[here + 1]
        cost[here[better] + 1] = candidate[better]
        back[here[better] + 1] = 1
        for length in range(1, trie.depth + 1):
            candidate = start + match[length - 1][at]
            target = here + length
            better = candidate < cost[target]
            cost[target[better]] = candidate[better]
            back[target[better]] = length

    # Backtrack all sequences in lockstep; segments come out last first.
    user_of, start_of, length_of = [], [], []
    remaining = lengths.copy()
    live = np.flatnonzero(remaining > 0)
    while len(live):
        take = np.minimum(np.maximum(back[base[live] + remaining[live]], 1), remaining[live])
        remaining[live] -= take
        user_of.append(live)
        start_of.append(remaining[live])
        length_of.append(take)
        live = live[remaining[live] > 0]
    if user_of:
        user, first, size = (np.concatenate(user_of), np.concatenate(start_of),
                             np.concatenate(length_of))
        ordered = np.lexsort((first, user))
        size = size[ordered]
        counts = np.bincount(user, minlength=users)
    else:
        size, counts = np.zeros(0, np.int64), np.zeros(users, np.int64)
    list_offsets = np.zeros(users + 1, dtype=np.int32)
    np.cumsum(counts, out=list_offsets[1:])
    return pa.ListArray.from_arrays(pa.array(list_offsets), pa.array(size.astype(np.int32)))
