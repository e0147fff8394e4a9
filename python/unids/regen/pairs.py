"""Training pairs of the regenerator (SPEC §6), from the output of `unids.formats.format_dataset`.

* Sequence pairs: for every user, (its PT training sequence, one of its segments [P, T] with
  |P| ≥ 2 items). At most `per_user` segments per user (default 8), chosen uniformly at random
  with a seeded generator; the kept pairs stay in sequence order.
* Pattern pairs: every mined pattern alone, (the pattern's items, the pattern's items). A
  pattern has no segment token of its own (which T follows it depends on the user and the
  time), so its target ends without one.
* Plain item sequences (formatted with `special_tokens=False`: w/o UF, DR4SR) have no segment
  token to cut at; their segments come from the `segment_lengths` column instead, and their
  targets are the segment's items alone.

The source is the last `max_source_len` tokens of the user's PT sequence; the target segment is
part of it, as in DR4SR (the diversity promoter and the K memories are what keeps the model
from merely copying). A segment of more than `max_target_len − 1` tokens (room is kept for
eos) is skipped and counted. Everything is offset arithmetic on flat NumPy arrays: no loop over
users or segments.

The PT sequences come from `Dataset.train()` (format_dataset reads nothing else), so no pair
holds a validation or test item.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from unids.errors import UserError
from unids.formats.pt import as_list_array, flat_parts
from unids.formats.stage import FormatResult
from unids.formats.vocabulary import Vocabulary
from unids.train.data import Ragged

DEFAULT_PER_USER = 8


@dataclass(frozen=True)
class Pairs:
    """(source, target) pairs. Sources are stored once per user (and once per pattern);
    `source_of[n]` is the source row of pair n. Targets hold no bos / eos: the model adds them.
    """

    sources: Ragged  # (R rows) int32 PT tokens: user windows first, then patterns
    targets: Ragged  # (N rows) int32 segment tokens [P, T] (patterns: [P])
    source_of: np.ndarray  # (N,) int64 row of `sources`
    user: np.ndarray  # (N,) int32 internal user id; 0 for a pattern pair
    vocab_size: int
    bos: int
    eos: int
    stats: dict[str, Any] = field(default_factory=dict, compare=False)

    def __len__(self) -> int:
        return len(self.targets)

    @property
    def source_lengths(self) -> np.ndarray:
        return self.sources.lengths[self.source_of]  # (N,)

    def pair(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(source tokens, target tokens) of pair n."""
        s = self.source_of[n]
        src = self.sources.values[self.sources.offsets[s] : self.sources.offsets[s + 1]]
        return src, self.targets.values[self.targets.offsets[n] : self.targets.offsets[n + 1]]

    def padded(self) -> tuple[np.ndarray, np.ndarray]:
        """(R, S_max) sources and (N, T_max) targets, int64, right-padded with 0."""
        return padded(self.sources), padded(self.targets)


def padded(rows: Ragged, width: int | None = None) -> np.ndarray:
    """(R, width) int64: each row left-aligned, right-padded with 0 (width: the longest row)."""
    lengths = rows.lengths
    width = int(lengths.max(initial=0)) if width is None else width
    out = np.zeros((len(rows), width), dtype=np.int64)
    row = np.repeat(np.arange(len(rows)), lengths)
    column = np.arange(len(rows.values)) - np.repeat(rows.offsets[:-1], lengths)
    out[row, column] = rows.values
    return out


def spans(values: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> Ragged:
    """Rows values[starts[r]:stops[r]] as one Ragged (int32)."""
    lengths = (stops - starts).astype(np.int64)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    gather = np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1])
    return Ragged(offsets, values[gather].astype(np.int32, copy=False))


def user_sources(pt: pa.Table, max_source_len: int) -> tuple[np.ndarray, Ragged]:
    """(users (U,) int32, their PT sequences cut to the last `max_source_len` tokens): the
    regenerator's input for every user of a formatted stage (empty rows stay empty)."""
    values, offsets = flat_parts(as_list_array(pt["tokens"]))
    starts = np.maximum(offsets[:-1], offsets[1:] - max_source_len)
    users = pt["user"].to_numpy().astype(np.int32)
    return users, spans(values, starts, offsets[1:])


def build_pairs(formatted: FormatResult, *, per_user: int = DEFAULT_PER_USER,
                max_source_len: int = 200, max_target_len: int = 12,
                with_patterns: bool = True, seed: int = 0) -> Pairs:
    """Pairs of one formatted stage (see the module docstring)."""
    patterns = formatted.patterns["pattern"] if with_patterns else None
    segment_ends = None
    if not formatted.manifest.get("special_tokens", True):
        # Plain items: token k is item k, so a segment ends where its lengths add up to.
        lengths, _ = flat_parts(as_list_array(formatted.pt["segment_lengths"]))
        segment_ends = np.cumsum(lengths.astype(np.int64)) - 1
    return pairs_from_tokens(formatted.pt["tokens"], formatted.pt["user"].to_numpy(),
                             formatted.vocabulary, patterns, per_user=per_user,
                             max_source_len=max_source_len, max_target_len=max_target_len,
                             seed=seed, segment_ends=segment_ends)


def pairs_from_tokens(tokens: Any, users: np.ndarray, vocabulary: Vocabulary,
                      patterns: Any | None, *, per_user: int = DEFAULT_PER_USER,
                      max_source_len: int = 200, max_target_len: int = 12,
                      seed: int = 0, segment_ends: np.ndarray | None = None) -> Pairs:
    """Pairs from PT sequences (list<int32>, one per user, with `users` their ids) and mined
    patterns (list<int32> of item ids, or None). segment_ends: the flat token index of every
    segment's last token, in order (None: the segment tokens close the segments)."""
    if per_user < 1 or max_source_len < 1 or max_target_len < 2:
        raise UserError("need per_user ≥ 1, max_source_len ≥ 1 and max_target_len ≥ 2")
    if "control" not in vocabulary:
        raise UserError("the vocabulary has no control tokens (bos, eos)")
    values, offsets = flat_parts(as_list_array(tokens))
    values = values.astype(np.int64)
    users = np.asarray(users, dtype=np.int32)
    if len(users) != len(offsets) - 1:
        raise ValueError(f"{len(users)} users for {len(offsets) - 1} sequences")

    # Segments: each ends at a segment token (or a given end) and starts after the previous
    # one of its user.
    if segment_ends is None:
        close_at = np.flatnonzero(vocabulary.is_segment_token(values))  # (G,)
    else:
        close_at = np.asarray(segment_ends, dtype=np.int64)
        if len(close_at) and (close_at.min() < 0 or close_at.max() >= len(values)
                              or (np.diff(close_at) <= 0).any()):
            raise ValueError("segment_ends must be increasing token indices")
    owner = np.searchsorted(offsets, close_at, side="right") - 1  # (G,) row of the user
    starts = offsets[owner].copy()
    same = np.zeros(len(close_at), dtype=bool)
    same[1:] = owner[1:] == owner[:-1]
    starts[same] = close_at[:-1][same[1:]] + 1
    items_before = np.concatenate([[0], np.cumsum(vocabulary.is_item(values))])
    n_items = items_before[close_at + 1] - items_before[starts]  # (G,)
    n_tokens = close_at + 1 - starts  # (G,)
    long_enough = n_items >= 2
    fits = n_tokens <= max_target_len - 1
    eligible = np.flatnonzero(long_enough & fits)

    # Up to `per_user` of them per user: rank by a seeded random key within each user.
    rng = np.random.default_rng(seed)
    keys = rng.random(len(eligible))
    order = np.lexsort((keys, owner[eligible]))
    ranked_owner = owner[eligible][order]
    first = np.searchsorted(ranked_owner, ranked_owner, side="left")
    chosen = np.sort(eligible[order[np.arange(len(order)) - first < per_user]])

    pair_owner = owner[chosen]
    source_rows, source_of = np.unique(pair_owner, return_inverse=True)
    source_starts = np.maximum(offsets[source_rows], offsets[source_rows + 1] - max_source_len)
    sources = spans(values, source_starts, offsets[source_rows + 1])
    targets = spans(values, starts[chosen], close_at[chosen] + 1)
    pair_user = users[pair_owner]
    n_sequence_pairs = len(chosen)

    n_patterns = skipped_patterns = 0
    if patterns is not None:
        pattern_values, pattern_offsets = flat_parts(as_list_array(patterns))
        lengths = np.diff(pattern_offsets)
        keep = (lengths >= 2) & (lengths <= min(max_target_len - 1, max_source_len))
        skipped_patterns = int((~keep).sum())
        kept = np.flatnonzero(keep)
        rows = spans(pattern_values.astype(np.int64), pattern_offsets[kept],
                     pattern_offsets[kept + 1])
        n_patterns = len(kept)
        base = len(sources)
        sources = concat(sources, rows)
        targets = concat(targets, rows)
        source_of = np.concatenate([source_of, base + np.arange(n_patterns)])
        pair_user = np.concatenate([pair_user, np.zeros(n_patterns, dtype=np.int32)])

    control = vocabulary["control"]
    if len(targets.values) and (targets.values.max() >= vocabulary.size
                                or sources.values.max() >= vocabulary.size):
        raise UserError("tokens outside the vocabulary: the patterns or PT sequences belong "
                        "to another vocabulary")
    stats = {
        "users": len(users),
        "users_with_pairs": len(source_rows),
        "sequence_pairs": n_sequence_pairs,
        "pattern_pairs": n_patterns,
        "segments": len(close_at),
        "segments_eligible": len(eligible),
        "segments_too_long": int((long_enough & ~fits).sum()),
        "patterns_skipped": skipped_patterns,
        "per_user": per_user,
        "max_source_len": max_source_len,
        "max_target_len": max_target_len,
        "seed": seed,
    }
    return Pairs(sources=sources, targets=targets, source_of=source_of.astype(np.int64),
                 user=pair_user.astype(np.int32), vocab_size=vocabulary.size,
                 bos=control.token("bos"), eos=control.token("eos"), stats=stats)


def concat(first: Ragged, second: Ragged) -> Ragged:
    offsets = np.concatenate([first.offsets, first.offsets[-1] + second.offsets[1:]])
    return Ragged(offsets, np.concatenate([first.values, second.values]).astype(np.int32))
