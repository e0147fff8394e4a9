"""Plain-Python reference implementations of every `unids._core` function.

Each function follows docs/ALGORITHMS.md to the letter, including the order of floating-point
operations, so that the Rust core must agree with it bit for bit on patterns and segmentations
and to 1e-12 on entropies. Clarity beats speed here: the quadratic and cubic scans are the
*definitions*, not an implementation strategy. Inputs are lists of non-negative ints.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

Seq = Sequence[int]
Pattern = tuple[int, ...]


# --------------------------------------------------------------------------------------------
# §1 Real entropy (Lempel–Ziv)
# --------------------------------------------------------------------------------------------


def occurs_in(needle: Seq, haystack: Seq) -> bool:
    """True iff `needle` is a contiguous sub-list of `haystack` (the empty list always is)."""
    needle = list(needle)
    haystack = list(haystack)
    k = len(needle)
    return any(haystack[j : j + k] == needle for j in range(len(haystack) - k + 1))


def lambdas_exact(seq: Seq) -> list[int]:
    """Λ_i = the smallest L with seq[i:i+L] not inside the past seq[:i]; n - i + 1 if none."""
    seq = list(seq)
    n = len(seq)
    out = []
    for i in range(n):
        lam = n - i + 1  # the whole suffix occurs in the past: the substring runs off the end
        for length in range(1, n - i + 1):
            if not occurs_in(seq[i : i + length], seq[:i]):
                lam = length
                break
        out.append(lam)
    return out


def lambdas_approx(seq: Seq) -> list[int]:
    """The hash-set variant: one new substring is added to the discovered set per position."""
    seq = list(seq)
    n = len(seq)
    discovered: set[tuple[int, ...]] = set()
    out = []
    for i in range(n):
        length = 1
        while True:
            if i + length > n:
                out.append(n - i + 1)
                break
            sub = tuple(seq[i : i + length])
            if sub not in discovered:
                discovered.add(sub)
                out.append(length)
                break
            length += 1
    return out


def real_entropy(seq: Seq, estimator: str = "exact", base: float = 2.0) -> float:
    """n · log_base(n) / Σ Λ_i; NaN for an empty sequence, 0.0 for length 1."""
    if estimator == "exact":
        lambdas = lambdas_exact(seq)
    elif estimator == "approx":
        lambdas = lambdas_approx(seq)
    else:
        raise ValueError(f"unknown estimator {estimator!r}")
    n = len(lambdas)
    if n == 0:
        return math.nan
    if n == 1:
        return 0.0
    log_n = math.log2(n) if base == 2.0 else math.log(n) / math.log(base)
    return n * log_n / sum(lambdas)  # Σ Λ is an exact integer, so sum() is fine here


# --------------------------------------------------------------------------------------------
# §2 Predictability (Fano)
# --------------------------------------------------------------------------------------------


def _plogp(p: float) -> float:
    """-p log2 p with 0 log 0 = 0."""
    return 0.0 if p <= 0.0 else -p * math.log2(p)


def fano_rhs(pi: float, n_symbols: float) -> float:
    """H_b(Π) + (1 − Π)·log2(N − 1): decreasing on [1/N, 1] from log2 N to 0."""
    return _plogp(pi) + _plogp(1.0 - pi) + (1.0 - pi) * math.log2(n_symbols - 1.0)


def predictability(entropy_bits: float, n_symbols: float) -> float:
    """Π_max solving S = H_b(Π) + (1 − Π)·log2(N − 1) on [1/N, 1] by bisection to 1e-12."""
    s, n = float(entropy_bits), float(n_symbols)
    if math.isnan(s) or math.isnan(n):
        return math.nan
    if n <= 1.0:
        return 1.0
    if s <= 0.0:
        return 1.0
    if s >= math.log2(n):
        return 1.0 / n  # no solution: saturated
    lo, hi = 1.0 / n, 1.0
    while hi - lo >= 1e-12:
        mid = 0.5 * (lo + hi)
        if fano_rhs(mid, n) > s:
            lo = mid  # the right side is still above S: the root lies further right
        else:
            hi = mid
    return 0.5 * (lo + hi)


# --------------------------------------------------------------------------------------------
# Shared counting helpers
# --------------------------------------------------------------------------------------------


def occurrences(seqs: Sequence[Seq], pattern: Pattern) -> int:
    """Occu(P): contiguous occurrences of P across all sequences, overlaps included."""
    k = len(pattern)
    total = 0
    for seq in seqs:
        seq = list(seq)
        for j in range(len(seq) - k + 1):
            if tuple(seq[j : j + k]) == pattern:
                total += 1
    return total


def item_counts(seqs: Sequence[Seq]) -> tuple[Counter, int]:
    """f_i over every position of every sequence, and F = Σ f_i."""
    f: Counter = Counter()
    for seq in seqs:
        for item in seq:
            f[int(item)] += 1
    return f, sum(f.values())


# --------------------------------------------------------------------------------------------
# §3 Conditional-entropy pattern miner (Algorithm 1)
# --------------------------------------------------------------------------------------------


def unigram_entropy(seqs: Sequence[Seq]) -> float:
    """H1 = Σ_i p_i · (−log2 p_i), a plain running sum over items in ascending id order."""
    f, total = item_counts(seqs)
    h1 = 0.0
    for item in sorted(f):
        p = f[item] / total
        h1 += -p * math.log2(p)
    return h1


def _increment(count: int, n_prefix: int, increment: str) -> float:
    p = count / n_prefix
    if increment == "surprisal":
        return -math.log2(p)
    return -p * math.log2(p)


def mine_patterns(
    seqs: Sequence[Seq],
    theta: float | None = None,
    theta_scale: float = 1.0,
    min_support: int = 2,
    max_len: int = 5,
    increment: str = "surprisal",
) -> tuple[list[tuple[Pattern, int, float]], float, float]:
    """Algorithm 1 with the count model. Returns ([(pattern, support, entropy)], theta, h1).

    The pattern list holds every kept pattern of length ≥ 2, sorted by (entropy, pattern).
    """
    if min_support < 1:
        raise ValueError("min_support must be >= 1")
    if max_len < 2:
        raise ValueError("max_len must be >= 2")
    if increment not in ("surprisal", "plogp"):
        raise ValueError(f"unknown increment {increment!r}")
    seqs = [list(map(int, s)) for s in seqs]
    f, total = item_counts(seqs)
    h1 = unigram_entropy(seqs)
    theta_used = theta if theta is not None else theta_scale * h1

    # Level 1: the seeds, with their unigram cost.
    level: list[tuple[Pattern, float]] = []
    for item in sorted(f):
        p = f[item] / total
        cost = -math.log2(p) if increment == "surprisal" else -p * math.log2(p)
        if cost < theta_used and f[item] >= min_support:
            level.append(((item,), cost))

    kept: list[tuple[Pattern, float]] = []
    length = 1
    while level and length < max_len:
        next_level: list[tuple[Pattern, float]] = []
        for prefix, prefix_cost in level:
            # n_P and the successor counts, by brute force over every window of length |P| + 1.
            n_prefix = 0
            successors: Counter = Counter()
            k = len(prefix)
            for seq in seqs:
                for j in range(len(seq) - k):  # an occurrence must be followed by an item
                    if tuple(seq[j : j + k]) == prefix:
                        n_prefix += 1
                        successors[seq[j + k]] += 1
            for s in sorted(successors):
                count = successors[s]
                cost = prefix_cost + _increment(count, n_prefix, increment)
                if cost < theta_used and count >= min_support:
                    next_level.append(((*prefix, s), cost))
        kept.extend(next_level)
        level = next_level
        length += 1

    rows = [(pattern, occurrences(seqs, pattern), cost) for pattern, cost in kept]
    rows.sort(key=lambda row: (row[2], row[0]))
    return rows, theta_used, h1


# --------------------------------------------------------------------------------------------
# §4 Sliding-window patterns (DR4SR)
# --------------------------------------------------------------------------------------------


def window_patterns(
    seqs: Sequence[Seq], alpha: int = 5, beta: int = 2
) -> list[tuple[Pattern, int]]:
    """Every window of length 2..alpha with support (overlaps counted) ≥ beta, sorted."""
    support: Counter = Counter()
    for seq in seqs:
        seq = list(map(int, seq))
        for length in range(2, alpha + 1):
            for j in range(len(seq) - length + 1):
                support[tuple(seq[j : j + length])] += 1
    return sorted((p, c) for p, c in support.items() if c >= beta)


# --------------------------------------------------------------------------------------------
# §5 Segmentation
# --------------------------------------------------------------------------------------------


def segment(
    seqs: Sequence[Seq], patterns: Sequence[tuple[Pattern, float]], method: str = "dp"
) -> list[list[int]]:
    """Segment lengths per sequence, by min-cost DP (strict `<` updates) or greedy longest match."""
    if method not in ("dp", "greedy"):
        raise ValueError(f"unknown method {method!r}")
    table = {tuple(map(int, p)): float(h) for p, h in patterns}
    if method == "dp" and any(math.isnan(h) for h in table.values()):
        raise ValueError("patterns with NaN entropy can only be used with method='greedy'")
    lengths = sorted({len(p) for p in table})
    seqs = [list(map(int, s)) for s in seqs]
    f, total = item_counts(seqs)
    return [
        _segment_dp(seq, table, lengths, f, total)
        if method == "dp"
        else _segment_greedy(seq, table, lengths)
        for seq in seqs
    ]


def _segment_dp(
    seq: list[int], table: dict, lengths: list[int], f: Counter, total: int
) -> list[int]:
    n = len(seq)
    cost = [math.inf] * (n + 1)
    back = [0] * (n + 1)  # back[j]: length of the segment that ends at j in the best split
    cost[0] = 0.0
    for i in range(n):
        single = cost[i] + -math.log2(f[seq[i]] / total)
        if single < cost[i + 1]:
            cost[i + 1] = single
            back[i + 1] = 1
        for length in lengths:  # increasing length
            if i + length > n:
                break
            pattern = tuple(seq[i : i + length])
            if pattern in table:
                candidate = cost[i] + table[pattern]
                if candidate < cost[i + length]:
                    cost[i + length] = candidate
                    back[i + length] = length
    out: list[int] = []
    j = n
    while j > 0:
        out.append(back[j])
        j -= back[j]
    return out[::-1]


def _segment_greedy(seq: list[int], table: dict, lengths: list[int]) -> list[int]:
    n = len(seq)
    out = []
    i = 0
    while i < n:
        take = 1
        for length in lengths:
            if i + length <= n and tuple(seq[i : i + length]) in table:
                take = max(take, length)
        out.append(take)
        i += take
    return out
