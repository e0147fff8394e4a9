"""How well a mined pattern table recovers known (planted) patterns.

Why maximal patterns: the conditional-entropy miner is level-wise, so every kept pattern's
prefixes are kept too, and a planted pattern's other sub-lists (its suffixes, its middle) are
frequent enough to be mined on their own. For a planted `[a, b, c, d]` the table therefore also
holds `[a, b]`, `[a, b, c]`, `[b, c, d]`, `[c, d]`, … Scoring every row would count those as
false positives (or, read the other way, reward a miner that stops early). The patterns the
miner *asserts* are the maximal ones: mined patterns that are not a contiguous sub-list of any
other mined pattern. A planted pattern is recovered when it is exactly one of them: not cut
short (only a prefix found) and not swallowed by a longer spurious pattern (the planted pattern
plus a background item).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pyarrow as pa


def _patterns(table: pa.Table | Iterable[Sequence[int]]) -> list[tuple[int, ...]]:
    rows = table.column("pattern").to_pylist() if isinstance(table, pa.Table) else table
    return [tuple(int(x) for x in p) for p in rows]


def maximal_patterns(table: pa.Table | Iterable[Sequence[int]]) -> list[tuple[int, ...]]:
    """The mined patterns that are not a contiguous sub-list of another mined pattern, sorted.

    `table` is a pattern table (its `pattern` column is used) or any iterable of patterns.
    """
    patterns = set(_patterns(table))
    # Only contiguous sub-lists of a pattern can be swallowed by it: enumerate those instead of
    # comparing all pairs (patterns are short, tables can be long).
    covered = set()
    for p in patterns:
        for length in range(1, len(p)):
            for j in range(len(p) - length + 1):
                covered.add(p[j : j + length])
    return sorted(patterns - covered)


def recovery(
    table: pa.Table | Iterable[Sequence[int]], planted: Iterable[Sequence[int]]
) -> tuple[float, float]:
    """(precision, recall) of the maximal mined patterns against the planted ones.

    precision = |maximal ∩ planted| / |maximal| (NaN when nothing was mined: undefined),
    recall    = |maximal ∩ planted| / |planted|; patterns match only when exactly equal.
    """
    maximal = set(maximal_patterns(table))
    truth = {tuple(int(x) for x in p) for p in planted}
    hits = len(maximal & truth)
    precision = hits / len(maximal) if maximal else float("nan")
    recall = hits / len(truth) if truth else float("nan")
    return precision, recall
