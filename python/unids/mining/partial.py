"""Algorithm 1 (and the DR4SR window miner) from partial counts, for data that is never in one
place: a Parquet file streamed batch by batch (`unids.io.streaming`) or a Spark job
(`unids.distributed.spark`).

Every count the miner needs is a sum over sequences: `f_i` (level 1), and for a level `L`,
`count(P·s)` and `n_P` of the kept patterns `P`. So the work splits in two phases per level:

* **workers** (`count_unigrams`, `count_extensions`) count one batch of whole sequences;
* the **driver** (`PartialMiner`) adds the partial counts up, applies θ and the support
  threshold exactly as the Rust core does, and hands the workers the next level's `LevelPlan`.

The driver repeats the core's floating-point operations in the same order (`p = count / n` as a
float64 division, `log2` from the C library through `math.log2`, `H(P·s) = H(P) + h(s|P)`, H1 as
a left-to-right running sum over ascending item ids), so the result equals
`unids.mine_patterns` bit for bit: same patterns, supports, entropies, θ and H1
(tests/test_streaming.py, tests/test_spark.py).

Worker memory is one batch plus the plan (the kept patterns of the levels so far); driver
memory is the distinct items plus the distinct candidate extensions `(P, s)` of one level.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pyarrow as pa

from unids import _core

#: Bits a pattern id is shifted by in a `(pattern << SHIFT) | item` key; items fit in 31 bits.
SHIFT = 32
ITEM_MASK = (1 << SHIFT) - 1

Miner = Literal["entropy", "window"]


@dataclass(frozen=True)
class LevelPlan:
    """What a worker needs to count the extensions of level `level` (patterns of that length).

    `seeds` are the kept level-1 items, ascending; pattern `k` of level 1 is `[seeds[k]]`.
    `keys[j]` holds the kept patterns of level `j + 2` as ascending `(parent << 32) | item` keys,
    `parent` being the pattern's prefix at level `j + 1`; pattern `k` of that level is `keys[j][k]`.
    """

    level: int
    seeds: np.ndarray  # (S,) int64
    keys: tuple[np.ndarray, ...]  # level - 1 arrays, (n_l,) int64 each

    def n_patterns(self) -> int:
        return len(self.seeds) if self.level == 1 else len(self.keys[-1])


# ---------------------------------------------------------------------------------------------
# Worker side: counts over one batch of whole sequences.


def _flat(sequences: pa.ListArray | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """(values (N,) int64, offsets (U + 1,) int64 starting at 0) of a list array."""
    if isinstance(sequences, pa.ChunkedArray):
        sequences = sequences.combine_chunks() if sequences.num_chunks else pa.array(
            [], sequences.type)
    offsets = sequences.offsets.to_numpy().astype(np.int64)
    values = sequences.values.slice(offsets[0], offsets[-1] - offsets[0])
    return values.to_numpy(zero_copy_only=False).astype(np.int64), offsets - offsets[0]


def count_unigrams(sequences: pa.ListArray | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct items ascending, their counts), both int64."""
    values, _ = _flat(sequences)
    return _value_counts(values)


def _value_counts(values: np.ndarray, n_dense: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(distinct non-negative values ascending, counts): a bincount when the values are small
    next to their number (at most `n_dense`, default max(4 × count, 2^16)), else a sort."""
    if len(values) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    top = int(values.max())
    if top < (n_dense if n_dense is not None else max(4 * len(values), 1 << 16)):
        counts = np.bincount(values, minlength=top + 1)
        present = np.flatnonzero(counts)
        return present.astype(np.int64), counts[present].astype(np.int64)
    distinct, counts = np.unique(values, return_counts=True)
    return distinct.astype(np.int64), counts.astype(np.int64)


def _lookup(sorted_keys: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Index of each query in `sorted_keys`, or -1 where it is absent."""
    index = np.searchsorted(sorted_keys, queries)
    inside = index < len(sorted_keys)
    found = np.zeros(len(queries), dtype=bool)
    found[inside] = sorted_keys[index[inside]] == queries[inside]
    return np.where(found, index, -1)


def _seed_index(seeds: np.ndarray, items: np.ndarray) -> np.ndarray:
    """`_lookup(seeds, items)`, through a direct table when the ids are small next to the
    batch (the pipeline's contiguous ids): a gather instead of a binary search."""
    top = int(seeds[-1]) if len(seeds) else -1
    if top >= max(len(items), 1 << 16):
        return _lookup(seeds, items)
    table = np.full(top + 2, -1, dtype=np.int64)  # (top + 2,): the last slot for ids > top
    table[seeds] = np.arange(len(seeds))
    return table[np.minimum(items, top + 1)]


def count_extensions(
    sequences: pa.ListArray | pa.ChunkedArray, plan: LevelPlan
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Partial counts of one level over a batch of whole sequences.

    Returns `(keys, counts, prefixes, followed)`: `count(P·s)` for each observed
    `(P << 32) | s` key (ascending, int64), and `n_P` (occurrences of `P` followed by an item) for
    each pattern index `P` of the level that occurs (ascending, int64).
    """
    values, offsets = _flat(sequences)
    level = plan.level
    lengths = np.diff(offsets)
    # Items after position j in its sequence: the window j .. j + level fits iff room ≥ level.
    room = np.repeat(offsets[1:], lengths) - np.arange(len(values), dtype=np.int64) - 1
    position = np.flatnonzero(room >= level)  # (M,) candidate starts
    pattern = _seed_index(plan.seeds, values[position])
    for depth, keys in enumerate(plan.keys, start=1):
        keep = pattern >= 0
        position, pattern = position[keep], pattern[keep]
        pattern = _lookup(keys, (pattern << SHIFT) | values[position + depth])
    keep = pattern >= 0
    position, pattern = position[keep], pattern[keep]
    successor = values[position + level]
    prefixes, followed = _value_counts(pattern)
    if len(successor) and (span := int(successor.max()) + 1) * plan.n_patterns() \
            <= max(4 * len(successor), 1 << 16):
        # Few patterns × items: count `pattern · span + successor` densely, no sort.
        dense, counts = _value_counts(pattern * span + successor, n_dense=1 << 62)
        keys = ((dense // span) << SHIFT) | (dense % span)
    else:
        keys, counts = _value_counts((pattern << SHIFT) | successor, n_dense=0)
    return keys, counts, prefixes, followed


# ---------------------------------------------------------------------------------------------
# Driver side: sums of partial counts, and the decisions of Algorithm 1.


class _Sums:
    """Sums of (key, count) pairs arriving in pieces; merged when the pieces grow, so memory
    stays near the number of distinct keys."""

    def __init__(self) -> None:
        self.keys = np.zeros(0, dtype=np.int64)
        self.counts = np.zeros(0, dtype=np.int64)
        self._pieces: list[tuple[np.ndarray, np.ndarray]] = []
        self._pending = 0

    def add(self, keys: np.ndarray, counts: np.ndarray) -> None:
        self._pieces.append((np.asarray(keys, np.int64), np.asarray(counts, np.int64)))
        self._pending += len(keys)
        if self._pending > max(1 << 22, len(self.keys)):
            self._merge()

    def total(self) -> tuple[np.ndarray, np.ndarray]:
        self._merge()
        return self.keys, self.counts

    def _merge(self) -> None:
        if not self._pieces:
            return
        keys = np.concatenate([self.keys, *(k for k, _ in self._pieces)])
        counts = np.concatenate([self.counts, *(c for _, c in self._pieces)])
        self._pieces, self._pending = [], 0
        order = np.argsort(keys, kind="stable")
        keys, counts = keys[order], counts[order]
        first = np.ones(len(keys), dtype=bool)
        first[1:] = keys[1:] != keys[:-1]
        starts = np.flatnonzero(first)
        self.keys = keys[starts]
        self.counts = np.add.reduceat(counts, starts) if len(keys) else counts


def _log2(p: np.ndarray) -> np.ndarray:
    """log2 of each value through the C library (what the Rust core calls), not NumPy's SIMD
    kernels, which may differ in the last bit on some CPUs."""
    return np.fromiter(map(math.log2, p.tolist()), dtype=np.float64, count=len(p))


def _cost(part: np.ndarray, whole: np.ndarray, increment: str) -> np.ndarray:
    """`−log2 p` or `−p·log2 p` for `p = part / whole`, as the core's `Increment::cost`."""
    p = part.astype(np.float64) / whole.astype(np.float64)
    if increment == "surprisal":
        return -_log2(p)
    return -p * _log2(p)


def rust_float_text(value: float) -> str:
    """`format!("{value:?}")` of the Rust core: Python's repr without the exponent's `+` and
    leading zeros (both switch to exponents below 1e-4 and from 1e16)."""
    text = repr(float(value))
    if "e" not in text:
        return text
    mantissa, exponent = text.split("e")
    return f"{mantissa}e{int(exponent)}"


class PartialMiner:
    """The driver of a level-wise mining job whose counts arrive as partial sums.

    Usage: `add_unigrams` for every batch, then `start()`; while not `done`: hand `plan()` to
    the workers, `add_extensions` for every batch, `advance()`; finally `finish()`.

    `miner="entropy"` is Algorithm 1 with the count model and equals `unids.mine_patterns`;
    `miner="window"` keeps every window of length 2..`max_len` with support ≥ `min_support`
    and equals `unids.window_patterns(alpha=max_len, beta=min_support)`.
    """

    def __init__(
        self,
        *,
        miner: Miner = "entropy",
        theta: float | None = None,
        theta_scale: float = 1.0,
        min_support: int = 2,
        max_len: int = 5,
        increment: Literal["surprisal", "plogp"] = "surprisal",
    ) -> None:
        # The core validates the parameters (same errors as the in-memory miners).
        if miner == "entropy":
            _core.LevelMiner([], theta=theta, theta_scale=theta_scale, min_support=min_support,
                             max_len=max_len, increment=increment)
        elif miner == "window":
            _core.window_patterns([], alpha=max_len, beta=min_support)
        else:
            raise ValueError(f"miner must be 'entropy' or 'window', got {miner!r}")
        self.miner = miner
        self.theta_given, self.theta_scale = theta, theta_scale
        self.min_support, self.max_len, self.increment = min_support, max_len, increment
        self.theta = self.h1 = float("nan")
        self.interactions = 0
        self._unigrams = _Sums()
        self._extensions = _Sums()
        self._followed = _Sums()
        self._started = False
        # Per level: kept keys (level 1: items), support, entropy.
        self._keys: list[np.ndarray] = []
        self._support: list[np.ndarray] = []
        self._entropy: list[np.ndarray] = []

    # -- level 1 --------------------------------------------------------------------------

    def add_unigrams(self, items: np.ndarray, counts: np.ndarray) -> None:
        self._unigrams.add(items, counts)

    def start(self) -> None:
        """Fixes H1 and θ and keeps the seeds."""
        items, counts = self._unigrams.total()
        self._unigrams = _Sums()
        total = int(counts.sum())
        self.interactions = total
        c = self.min_support
        if self.miner == "window":
            keep = counts >= c
            entropy = np.full(int(keep.sum()), np.nan)
        else:
            p = counts.astype(np.float64) / float(total) if total else np.zeros(0)
            logs = _log2(p)
            # H1: a plain running sum over ascending ids, starting from 0.0, as the core does.
            h1 = 0.0
            for term in (-p * logs).tolist():
                h1 += term
            self.h1 = h1
            self.theta = self.theta_given if self.theta_given is not None \
                else self.theta_scale * h1
            cost = -logs if self.increment == "surprisal" else -p * logs  # (items,)
            keep = (cost < self.theta) & (counts >= c)
            entropy = cost[keep]
        self._keys.append(items[keep])
        self._support.append(counts[keep])
        self._entropy.append(entropy)
        self._started = True

    # -- levels 2 … max_len ---------------------------------------------------------------

    @property
    def level(self) -> int:
        """Length of the patterns of the current level (1 for the seeds)."""
        return len(self._keys)

    @property
    def done(self) -> bool:
        if not self._started:
            return False
        return len(self._keys[-1]) == 0 or self.level >= self.max_len

    def kept(self) -> int:
        """Patterns kept at the current level."""
        return len(self._keys[-1]) if self._keys else 0

    def plan(self) -> LevelPlan:
        if not self._started:
            raise RuntimeError("start() first")
        return LevelPlan(self.level, self._keys[0], tuple(self._keys[1:]))

    def add_extensions(self, keys: np.ndarray, counts: np.ndarray, prefixes: np.ndarray,
                       followed: np.ndarray) -> None:
        """One worker's `count_extensions` (or a pre-aggregated sum of several)."""
        self._extensions.add(keys, counts)
        self._followed.add(prefixes, followed)

    def advance(self) -> None:
        """Adds up the level's partial counts and keeps the next level's patterns."""
        if self.done:
            raise RuntimeError("advance() called after the last level")
        keys, counts = self._extensions.total()
        prefixes, followed = self._followed.total()
        self._extensions, self._followed = _Sums(), _Sums()
        frequent = counts >= self.min_support
        keys, counts = keys[frequent], counts[frequent]
        parent = keys >> SHIFT
        if self.miner == "window":
            entropy = np.full(len(keys), np.nan)
        else:
            n_parent = np.zeros(len(self._keys[-1]), dtype=np.int64)
            n_parent[prefixes] = followed
            cost = self._entropy[-1][parent] + _cost(counts, n_parent[parent], self.increment)
            keep = cost < self.theta
            keys, counts, entropy = keys[keep], counts[keep], cost[keep]
        self._keys.append(keys)
        self._support.append(counts)
        self._entropy.append(entropy)

    # -- the answer -----------------------------------------------------------------------

    def finish(self) -> pa.Table:
        """The pattern table of `mine_patterns` (or `window_patterns`), metadata included."""
        width = max(self.level, 1)
        rows: list[np.ndarray] = []  # (n_l, width) items, -1 padded
        items = self._keys[0].reshape(-1, 1) if self._keys else np.zeros((0, 1), np.int64)
        for level in range(2, self.level + 1):
            keys = self._keys[level - 1]
            items = np.concatenate([items[keys >> SHIFT], (keys & ITEM_MASK)[:, None]], axis=1)
            padded = np.full((len(keys), width), -1, dtype=np.int64)
            padded[:, :level] = items
            rows.append(padded)
        matrix = np.concatenate(rows) if rows else np.zeros((0, width), np.int64)
        support = np.concatenate(self._support[1:]) if rows else np.zeros(0, np.int64)
        entropy = np.concatenate(self._entropy[1:]) if rows else np.zeros(0)
        lengths = (matrix >= 0).sum(axis=1).astype(np.int32)
        # Sort by (entropy, pattern) (window miner: by pattern); -1 padding puts a prefix first.
        sort_keys = [matrix[:, j] for j in range(width - 1, -1, -1)]
        if self.miner == "entropy":
            sort_keys.append(entropy)
        order = np.lexsort(sort_keys) if len(matrix) else np.zeros(0, np.int64)
        matrix, support, entropy, lengths = (matrix[order], support[order], entropy[order],
                                             lengths[order])
        offsets = np.zeros(len(lengths) + 1, dtype=np.int32)
        np.cumsum(lengths, out=offsets[1:])
        values = matrix[matrix >= 0].astype(np.int32)  # row-major: each pattern's items in order
        table = pa.Table.from_arrays(
            [pa.ListArray.from_arrays(pa.array(offsets), pa.array(values, pa.int32())),
             pa.array(lengths, pa.int32()), pa.array(support, pa.int64()),
             pa.array(entropy, pa.float64())],
            names=["pattern", "length", "support", "entropy"])
        return table.replace_schema_metadata(self._metadata())

    def _metadata(self) -> dict[str, str]:
        if self.miner == "window":
            return {"miner": "sliding-window", "alpha": str(self.max_len),
                    "beta": str(self.min_support)}
        return {
            "miner": "conditional-entropy",
            "theta": rust_float_text(self.theta),
            "h1": rust_float_text(self.h1),
            "theta_given": "None" if self.theta_given is None
            else rust_float_text(self.theta_given),
            "theta_scale": rust_float_text(self.theta_scale),
            "min_support": str(self.min_support),
            "max_len": str(self.max_len),
            "increment": self.increment,
        }


def mine_in_passes(
    passes: Callable[[], Iterable[pa.ListArray]],
    *,
    miner: Miner = "entropy",
    on_level: Callable[[int], None] | None = None,
    **params: object,
) -> tuple[pa.Table, int]:
    """Mines sequences that can be read several times but not held: `passes()` returns a fresh
    iterable of batches of whole sequences each time it is called (one pass for the unigram
    counts, then one per level). Returns the pattern table and the number of interactions."""
    driver = PartialMiner(miner=miner, **params)  # type: ignore[arg-type]
    for batch in passes():
        driver.add_unigrams(*count_unigrams(batch))
    driver.start()
    while not driver.done:
        plan = driver.plan()
        for batch in passes():
            driver.add_extensions(*count_extensions(batch, plan))
        driver.advance()
        if on_level is not None:
            on_level(driver.level)
    return driver.finish(), driver.interactions

