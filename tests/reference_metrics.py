"""Plain-Python reference implementations of the `unids.eval` metrics.

Written for clarity, not speed: loops over users and items, AUC by counting every
(positive, negative) pair, and a t-test whose p-value comes from integrating the t density
numerically instead of the continued fraction used by the package. Inputs are Python lists.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

# --------------------------------------------------------------------------------------------
# Retrieval: ranks and MRR / HR@k / NDCG@k
# --------------------------------------------------------------------------------------------


def target_rank(scores: Sequence[float], target: int, excluded: set[int]) -> int:
    """1 + the number of other candidate items scoring at least as high as the target.

    Candidates are the ids 1…len(scores)-1 (0 is padding) not in `excluded`; the target is
    always a candidate.
    """
    ahead = 0
    for item in range(1, len(scores)):
        if item == target or item in excluded:
            continue
        if scores[item] >= scores[target]:
            ahead += 1
    return 1 + ahead


def history_set(history: Sequence[int]) -> set[int]:
    """The items of one padded history (0 is padding, not an item)."""
    return {item for item in history if item != 0}


def retrieval_metrics(ranks: Sequence[int], ks: Sequence[int]) -> dict[str, float]:
    n = len(ranks)
    metrics = {"MRR": sum(1.0 / r for r in ranks) / n}
    for k in ks:
        metrics[f"HR@{k}"] = sum(1.0 for r in ranks if r <= k) / n
    for k in ks:
        metrics[f"NDCG@{k}"] = sum(1.0 / math.log2(r + 1) for r in ranks if r <= k) / n
    return metrics


# --------------------------------------------------------------------------------------------
# Fine ranking: AUC, GAUC, logloss
# --------------------------------------------------------------------------------------------


def auc(labels: Sequence[int], scores: Sequence[float]) -> float:
    """The fraction of (positive, negative) pairs ordered correctly, a tie counting 1/2."""
    positives = [s for y, s in zip(labels, scores, strict=True) if y == 1]
    negatives = [s for y, s in zip(labels, scores, strict=True) if y == 0]
    if not positives or not negatives:
        return math.nan
    correct = 0.0
    for p in positives:
        for q in negatives:
            if p > q:
                correct += 1.0
            elif p == q:
                correct += 0.5
    return correct / (len(positives) * len(negatives))


def gauc(users: Sequence[int], labels: Sequence[int], scores: Sequence[float]) -> float:
    """Impression-weighted mean of the per-user AUCs, over users with both classes."""
    rows: dict[int, list[tuple[int, float]]] = {}
    for u, y, s in zip(users, labels, scores, strict=True):
        rows.setdefault(u, []).append((y, s))
    weighted_sum = 0.0
    total_weight = 0
    for user_rows in rows.values():
        user_auc = auc([y for y, _ in user_rows], [s for _, s in user_rows])
        if math.isnan(user_auc):
            continue
        weighted_sum += len(user_rows) * user_auc
        total_weight += len(user_rows)
    return weighted_sum / total_weight if total_weight else math.nan


def sigmoid(x: float) -> float:
    """The logistic function, on the branch where exp cannot overflow."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def logloss(labels: Sequence[int], probabilities: Sequence[float], eps: float = 1e-7) -> float:
    total = 0.0
    for y, p in zip(labels, probabilities, strict=True):
        p = min(max(p, eps), 1.0 - eps)
        total += -math.log(p) if y == 1 else -math.log(1.0 - p)
    return total / len(labels)


# --------------------------------------------------------------------------------------------
# Paired t-test
# --------------------------------------------------------------------------------------------


def simpson(f, lo: float, hi: float, intervals: int = 4000) -> float:
    """Composite Simpson's rule with an even number of intervals."""
    h = (hi - lo) / intervals
    total = f(lo) + f(hi)
    for i in range(1, intervals):
        total += (4 if i % 2 else 2) * f(lo + i * h)
    return total * h / 3


def two_sided_p_value(t: float, df: int) -> float:
    """P(|T| >= |t|) by integrating the Student-t density numerically.

    The density ∝ (1 + x²/df)^(-(df+1)/2) has a long tail, so substitute x = √df·tan θ:
    dx = √df·sec²θ dθ and 1 + x²/df = sec²θ, so the integrand becomes ∝ cos^(df-1) θ on the
    finite interval [0, π/2). The tail probability is then the ratio of two Simpson integrals,
    and the normalising constant cancels.
    """
    if math.isinf(t):
        return 0.0
    theta = math.atan(abs(t) / math.sqrt(df))

    def density(angle: float) -> float:
        return math.cos(angle) ** (df - 1)

    return simpson(density, theta, math.pi / 2) / simpson(density, 0.0, math.pi / 2)


def paired_t_test(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """(t, two-sided p); zero variance: (0, 1) if a == b, (±inf, 0) for a constant shift."""
    differences = [x - y for x, y in zip(a, b, strict=True)]
    n = len(differences)
    if all(d == differences[0] for d in differences):
        if differences[0] == 0:
            return 0.0, 1.0
        return math.copysign(math.inf, differences[0]), 0.0
    mean = sum(differences) / n
    variance = sum((d - mean) ** 2 for d in differences) / (n - 1)
    t = mean / math.sqrt(variance / n)
    return t, two_sided_p_value(t, n - 1)
