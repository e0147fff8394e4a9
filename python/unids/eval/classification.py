"""Fine-ranking metrics on NumPy arrays: global AUC, per-user GAUC and logloss (SPEC §7).

AUC is the Mann–Whitney U statistic: the probability that a random positive scores above a
random negative, a tie counting one half. It is computed from midranks (tied scores share
their average rank) after one O(n log n) sort, never by comparing pairs. GAUC reuses the same
computation with the sort keyed by (user, score), so every user is handled in one vectorised
pass. Rank sums are kept doubled in int64, which makes them exact (midranks are half-integers).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

ArrayLike = npt.ArrayLike


def _labels(labels: ArrayLike) -> np.ndarray:
    """Binary labels as a 1-D int64 array; ValueError unless every value is 0 or 1."""
    y = np.asarray(labels)
    if y.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {y.shape}")
    if y.size == 0:
        raise ValueError("labels are empty")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("labels must be 0 or 1")
    return y.astype(np.int64)


def _scores(scores: ArrayLike, n: int, what: str = "scores") -> np.ndarray:
    """Scores as a 1-D float64 array of length n without NaN."""
    s = np.asarray(scores, dtype=np.float64)
    if s.shape != (n,):
        raise ValueError(f"{what} must have shape ({n},) like the labels, got {s.shape}")
    if np.isnan(s).any():
        raise ValueError(f"{what} contain NaN")
    return s


def _auc_per_user(
    users: np.ndarray, labels: np.ndarray, scores: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(AUC of each user, NaN where the user lacks one of the classes; impressions per user)."""
    n = len(labels)
    order = np.lexsort((scores, users))  # by user, then by score within a user
    u, s, y = users[order], scores[order], labels[order]

    new_user = np.ones(n, dtype=bool)
    new_user[1:] = u[1:] != u[:-1]
    user_starts = np.flatnonzero(new_user)
    user_of = np.cumsum(new_user) - 1  # (n,) index of each row's user

    # A tie group is a run of equal scores inside one user.
    new_tie = new_user.copy()
    new_tie[1:] |= s[1:] != s[:-1]
    tie_starts = np.flatnonzero(new_tie)
    tie_ends = np.append(tie_starts[1:], n)
    tie_of = np.cumsum(new_tie) - 1

    # Sorted positions [start, end) hold the 1-based ranks start+1 … end, whose average is
    # (start + 1 + end) / 2; subtracting the user's first position makes it a per-user rank.
    doubled_rank = (tie_starts + 1 + tie_ends)[tie_of] - 2 * user_starts[user_of]

    impressions = np.diff(np.append(user_starts, n))
    n_pos = np.add.reduceat(y, user_starts)
    n_neg = impressions - n_pos
    # U = (rank sum of the positives) - n_pos (n_pos + 1) / 2 = #(pos > neg) + #(ties) / 2.
    doubled_u = np.add.reduceat(doubled_rank * y, user_starts) - n_pos * (n_pos + 1)
    pairs = n_pos * n_neg
    auc = np.full(len(user_starts), np.nan)
    both = pairs > 0
    auc[both] = doubled_u[both] / (2.0 * pairs[both])
    return auc, impressions


def auc(labels: ArrayLike, scores: ArrayLike) -> float:
    """Global ROC AUC; tied scores count one half. NaN (silently) when only one class occurs.

    Raises ValueError on empty input, labels other than 0/1, NaN scores or a length mismatch.
    """
    y = _labels(labels)
    s = _scores(scores, len(y))
    per_user, _ = _auc_per_user(np.zeros(len(y), dtype=np.int64), y, s)
    return float(per_user[0])


def gauc(users: ArrayLike, labels: ArrayLike, scores: ArrayLike) -> float:
    """Group AUC: each user's AUC weighted by the user's number of impressions.

    Only users with both a positive and a negative impression take part (the others have no
    AUC); NaN when there are none. Raises ValueError like `auc`.
    """
    y = _labels(labels)
    s = _scores(scores, len(y))
    u = np.asarray(users)
    if u.shape != y.shape:
        raise ValueError(f"users must have shape {y.shape} like the labels, got {u.shape}")
    per_user, impressions = _auc_per_user(u, y, s)
    scored = ~np.isnan(per_user)
    if not scored.any():
        return float("nan")
    weights = impressions[scored]
    return float(np.sum(weights * per_user[scored]) / np.sum(weights))


def logloss(labels: ArrayLike, probabilities: ArrayLike, eps: float = 1e-7) -> float:
    """Mean binary cross-entropy (nats), with probabilities clipped to [eps, 1 - eps].

    The clip caps each term at -log(eps) (≈ 16.1 for 1e-7) so one confident mistake cannot
    make the mean infinite. Raises ValueError on probabilities outside [0, 1] or NaN.
    """
    if not 0.0 < eps < 0.5:
        raise ValueError(f"eps must be in (0, 0.5), got {eps}")
    y = _labels(labels)
    p = _scores(probabilities, len(y), what="probabilities")
    if not np.all((p >= 0.0) & (p <= 1.0)):
        raise ValueError("probabilities must be in [0, 1]")
    p = np.clip(p, eps, 1.0 - eps)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


def sigmoid(logits: ArrayLike) -> np.ndarray:
    """1 / (1 + exp(-x)) without overflow: exp(-log(1 + exp(-x))) via `np.logaddexp`."""
    x = np.asarray(logits, dtype=np.float64)
    return np.exp(-np.logaddexp(0.0, -x))


def classification_metrics(
    users: ArrayLike, labels: ArrayLike, logits: ArrayLike
) -> dict[str, float]:
    """{"AUC", "GAUC", "logloss"} from raw logits (logloss on their sigmoid, clipped as in
    `logloss`). AUC and GAUC depend on the logits' order only, so they are ranked directly."""
    return {
        "AUC": auc(labels, logits),
        "GAUC": gauc(users, labels, logits),
        "logloss": logloss(labels, sigmoid(logits)),
    }


def fit_platt(labels: ArrayLike, logits: ArrayLike, max_iterations: int = 100
              ) -> tuple[float, float]:
    """Platt scaling: the (scale, shift) that minimise the logloss of sigmoid(scale·x + shift)
    on these labels — maximum likelihood of a one-feature logistic regression, by Newton's
    method with step halving (the loss is convex in (scale, shift), so this finds its minimum).

    Fitted on a validation split and applied to the test split, it repairs an overconfident
    model's probabilities without touching its order (scale > 0 keeps AUC and GAUC as they
    are). (1, 0) leaves the logits unchanged. ValueError unless both classes occur: with one
    class the loss has no minimum.
    """
    y = _labels(labels).astype(np.float64)
    x = _scores(logits, len(y), what="logits")
    if y.min() == y.max():
        raise ValueError("Platt scaling needs both classes in the labels")
    features = np.stack([x, np.ones_like(x)], axis=1)

    def loss(params: np.ndarray) -> float:
        z = features @ params
        # -[y log σ(z) + (1 - y) log(1 - σ(z))] = log(1 + e^z) - y z, without overflow.
        return float(np.mean(np.logaddexp(0.0, z) - y * z))

    params = np.array([1.0, 0.0])
    current = loss(params)
    for _ in range(max_iterations):
        p = sigmoid(features @ params)
        gradient = features.T @ (p - y) / len(y)
        hessian = (features * (p * (1.0 - p))[:, None]).T @ features / len(y)
        # A tiny ridge keeps the solve defined when the classes are (almost) separable.
        step = np.linalg.solve(hessian + 1e-12 * np.eye(2), gradient)
        fraction = 1.0  # of the Newton step, halved until the loss does not rise
        while fraction > 1e-10:
            candidate = params - fraction * step
            value = loss(candidate)
            if value <= current:
                break
            fraction /= 2.0
        else:
            break  # no step lowers the loss: at the minimum (to rounding)
        moved = np.max(np.abs(candidate - params))
        params, current = candidate, value
        if moved < 1e-10:
            break
    return float(params[0]), float(params[1])


def platt_probabilities(logits: ArrayLike, scale: float, shift: float) -> np.ndarray:
    """sigmoid(scale·logits + shift): probabilities under a `fit_platt` calibration."""
    return sigmoid(scale * np.asarray(logits, dtype=np.float64) + shift)
