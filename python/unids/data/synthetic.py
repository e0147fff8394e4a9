"""Synthetic user sequences with planted patterns: ground truth for the pattern miner.

`make_planted` builds user histories in which whole *planted patterns* (short item sequences)
are interleaved with *background* items drawn i.i.d. from a Zipf-like popularity law. Planted
pattern items are drawn from that same popularity law (popular items are as likely to appear in
a pattern as they are in the background), so the miner cannot find patterns simply by looking
for unusual items: it has to find unusual *successions*.

Why the defaults recover the planted patterns at θ = H1 (docs/MINING.md has the sweep)
------------------------------------------------------------------------------------------
Under the surprisal increment the miner's cost telescopes: `H([a]) = −log2(f_a / F)` and each
step adds `−log2(count(P·s) / n_P)`, and since almost every occurrence of a prefix is followed
by an item (`n_P ≈ Occu(P)`), `H(P) ≈ −log2(Occu(P) / F)`. So the miner keeps, to a good
approximation, every pattern whose relative frequency `Occu(P) / F` exceeds `2^−θ`; at θ = H1
that is `F / 2^H1`, the count of a "typical" item (F divided by the perplexity). Recovery is
therefore a question of frequencies:

* A planted pattern is found when it occurs well above `F / 2^H1` times. With the defaults
  (≈ 120k interactions, H1 ≈ 10.2 bits, so a threshold of ≈ 100 occurrences) each pattern is
  planted ≈ 240 times on average and at least ≈ 200 times: more than 1 bit of margin.
  The dilution of `p(b | a)` by a popular first item `a` does not hurt by itself: the extra
  `−log2 p(b|a)` is paid back by the cheaper seed `−log2 p_a`. What hurts is a steep popularity
  law: it lowers H1, which *raises* the count threshold `F / 2^H1` above the plant count.
* A background pair `[x, y]` occurs ≈ `F · p_x · p_y` times. If the popularity law is too
  steep, the most popular pairs pass the same threshold and every maximal pattern built from
  them is a false positive. With exponent 0.5 the top item holds ≈ 1.1% of the background and
  the most frequent background pair occurs 10–20 times: about 2.5 bits below the threshold.
  Measured with the default sizes: exponent 0.7 still works at θ = H1 but with half a bit of
  margin (top background pairs ≈ 100 times against a threshold of ≈ 150); exponent 1.0 fails
  both ways (the top item holds 12% of the mass, H1 drops to 7.9 bits, the threshold rises to
  ≈ 520 occurrences, above every planted pattern, while the top background pairs occur ≈ 1 300
  times).
* A planted pattern followed by a background item, or preceded by one, or two patterns back to
  back, is rarer than the pattern by the background probability of that item (≤ 1%) or by the
  plant rate divided by the number of patterns: never near the threshold.
* No planted pattern is a contiguous sub-list of another (the generator redraws such a pattern):
  otherwise the shorter one could not be recovered as a *maximal* pattern.

Raising θ (`theta_scale` > 1) lowers the count threshold until ordinary background pairs pass
(false positives, from about 1.3 × H1); lowering it below `log2(F / 200) / H1 ≈ 0.9` loses the
planted patterns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa


@dataclass(frozen=True)
class PlantedDataset:
    """Sequences with known planted patterns, and the parameters that made them."""

    sequences: list[np.ndarray]  # one int32 array of item ids (1 … n_items) per user
    planted: list[tuple[int, ...]]  # the distinct planted patterns, in the order drawn
    popularity: np.ndarray  # (n_items + 1,) float64: the popularity law by item id; [0] = 0
    n_users: int
    n_items: int
    mean_length: float
    n_patterns: int
    min_pattern_len: int
    max_pattern_len: int
    plant_rate: float
    zipf_exponent: float
    seed: int

    def to_arrow(self) -> pa.ListArray:
        """The sequences as an Arrow `list<int32>` array (one row per user)."""
        lengths = np.array([len(s) for s in self.sequences], dtype=np.int64)
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        if offsets[-1] > np.iinfo(np.int32).max:
            raise ValueError("too many interactions for list<int32> offsets")
        values = np.concatenate(self.sequences) if self.sequences else np.zeros(0, np.int32)
        return pa.ListArray.from_arrays(
            pa.array(offsets.astype(np.int32)), pa.array(values.astype(np.int32, copy=False))
        )


def zipf_popularity(n_items: int, exponent: float) -> np.ndarray:
    """p(rank r) ∝ r^−exponent for r = 1 … n_items. (n_items,) float64 summing to 1."""
    weights = np.arange(1, n_items + 1, dtype=np.float64) ** -exponent
    return weights / weights.sum()


def _is_sublist(short: tuple[int, ...], long: tuple[int, ...]) -> bool:
    k = len(short)
    return any(long[j : j + k] == short for j in range(len(long) - k + 1))


def _draw_patterns(
    rng: np.random.Generator,
    popularity: np.ndarray,
    item_ids: np.ndarray,
    n_patterns: int,
    min_len: int,
    max_len: int,
) -> list[tuple[int, ...]]:
    """Distinct patterns whose items follow the popularity law, none inside another."""
    patterns: list[tuple[int, ...]] = []
    for _ in range(1000 * n_patterns):
        if len(patterns) == n_patterns:
            return patterns
        length = int(rng.integers(min_len, max_len + 1))
        # Without replacement inside one pattern: a pattern like [a, a] would overlap itself.
        ranks = rng.choice(len(popularity), size=length, replace=False, p=popularity)
        pattern = tuple(int(i) for i in item_ids[ranks])
        if any(_is_sublist(pattern, p) or _is_sublist(p, pattern) for p in patterns):
            continue  # a duplicate, or one inside another: cannot be told apart as maximal
        patterns.append(pattern)
    raise ValueError(f"could not draw {n_patterns} distinct patterns from {len(popularity)} items")


def make_planted(
    n_users: int = 2000,
    n_items: int = 2000,
    mean_length: float = 60.0,
    n_patterns: int = 40,
    min_pattern_len: int = 2,
    max_pattern_len: int = 5,
    plant_rate: float = 0.1,
    zipf_exponent: float = 0.5,
    seed: int = 0,
) -> PlantedDataset:
    """User sequences that interleave i.i.d. background items with whole planted patterns.

    Each user's target length is `mean_length` on average (a geometric law shifted to start at
    `min_pattern_len`). The sequence is built event by event: with probability `plant_rate` the
    event is one whole planted pattern (chosen uniformly), otherwise one background item drawn
    from the Zipf popularity law; events are appended until the target length is reached (a
    pattern is never cut, so a sequence may overshoot by up to `max_pattern_len − 1`).

    Item ids are 1 … n_items (0 is padding); which id gets which popularity rank is a random
    permutation, so ids carry no information. Everything is deterministic in `seed`.
    """
    if not 2 <= min_pattern_len <= max_pattern_len:
        raise ValueError("need 2 ≤ min_pattern_len ≤ max_pattern_len")
    if not 0.0 <= plant_rate <= 1.0:
        raise ValueError("plant_rate must lie in [0, 1]")
    if mean_length <= min_pattern_len:
        raise ValueError("mean_length must exceed min_pattern_len")
    rng = np.random.default_rng(seed)
    popularity = zipf_popularity(n_items, zipf_exponent)  # (n_items,) by rank
    item_ids = rng.permutation(n_items).astype(np.int64) + 1  # rank → id
    planted = _draw_patterns(
        rng, popularity, item_ids, n_patterns, min_pattern_len, max_pattern_len
    )
    planted_arrays = [np.array(p, dtype=np.int32) for p in planted]

    shift = min_pattern_len - 1
    targets = shift + rng.geometric(1.0 / (mean_length - shift), size=n_users)  # (U,)
    sequences = []
    for target in targets:
        # At most `target` events are needed, since every event adds at least one item.
        is_plant = rng.random(target) < plant_rate  # (target,)
        background = item_ids[rng.choice(n_items, size=target, p=popularity)]  # (target,)
        which = rng.integers(0, len(planted), size=target)  # (target,)
        parts = []
        length = 0
        for k in range(target):
            if length >= target:
                break
            part = planted_arrays[which[k]] if is_plant[k] else background[k : k + 1]
            parts.append(part)
            length += len(part)
        sequences.append(np.concatenate(parts).astype(np.int32))

    by_id = np.zeros(n_items + 1, dtype=np.float64)
    by_id[item_ids] = popularity
    return PlantedDataset(
        sequences=sequences,
        planted=planted,
        popularity=by_id,
        n_users=n_users,
        n_items=n_items,
        mean_length=mean_length,
        n_patterns=n_patterns,
        min_pattern_len=min_pattern_len,
        max_pattern_len=max_pattern_len,
        plant_rate=plant_rate,
        zipf_exponent=zipf_exponent,
        seed=seed,
    )
