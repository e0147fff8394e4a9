"""Full-ranking leave-one-out evaluation for the retrieval stages (recall and coarse ranking).

Each user has one held-out target item. The model scores every item id; the target is ranked
among all items except the padding id 0 and the items masked out (the user's history), and the
rank is turned into MRR, HR@k and NDCG@k (SPEC §7). Ranks are computed on the scores' device so
that evaluation can stream over users in batches on a GPU and move only B integers to the CPU.

Ties are broken pessimistically: every other candidate scoring *at least as high* as the target
is counted ahead of it. A model that outputs a constant (or that collapses to a few values)
therefore ranks its targets last instead of looking good by luck of the sort order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

DEFAULT_KS: tuple[int, ...] = (10, 50, 200)
PADDING_ID = 0


def target_ranks(
    scores: torch.Tensor, targets: torch.Tensor, exclude: torch.Tensor | None = None
) -> torch.Tensor:
    """The 1-based rank of each user's target among the candidate items.

    scores: (B, V) floating scores over item ids 0…V-1; column 0 is padding and never ranked.
    targets: (B,) int64 target ids in 1…V-1.
    exclude: optional (B, V) bool mask of items dropped from the ranking, typically
        `history_mask(...)`. The target itself always stays a candidate, even when masked
        (a user may re-consume an item seen before).

    Tie rule (pessimistic): rank = 1 + #(other candidates with score >= the target's score).
    A constant scorer thus ranks every target last (rank = number of candidates).

    Returns (B,) int64 ranks on the scores' device. Raises ValueError on NaN scores, on targets
    out of range, and on shape mismatches.
    """
    if scores.dim() != 2:
        raise ValueError(f"scores must be (B, V), got shape {tuple(scores.shape)}")
    if not scores.is_floating_point():
        raise TypeError(f"scores must be a floating tensor, got {scores.dtype}")
    n_users, n_columns = scores.shape
    if targets.shape != (n_users,):
        raise ValueError(f"targets must be ({n_users},), got shape {tuple(targets.shape)}")
    if targets.dtype != torch.int64:
        raise TypeError(f"targets must be int64, got {targets.dtype}")
    if exclude is not None:
        if exclude.shape != scores.shape:
            raise ValueError(
                f"exclude must have the scores' shape {tuple(scores.shape)}, "
                f"got {tuple(exclude.shape)}"
            )
        if exclude.dtype != torch.bool:
            raise TypeError(f"exclude must be a bool mask, got {exclude.dtype}")
    if n_users == 0:
        return torch.zeros(0, dtype=torch.int64, device=scores.device)
    if bool(torch.isnan(scores).any()):
        raise ValueError("scores contain NaN")
    if bool(((targets <= PADDING_ID) | (targets >= n_columns)).any()):
        raise ValueError(f"targets must be item ids in 1…{n_columns - 1}")

    target_scores = scores.gather(1, targets[:, None])  # (B, 1)
    ahead = scores >= target_scores  # (B, V); the target counts itself here
    ahead[:, PADDING_ID] = False
    if exclude is not None:
        ahead.masked_fill_(exclude, False)
    # Count only the *other* items; this also undoes an exclusion of the target itself.
    ahead.scatter_(1, targets[:, None], False)
    return 1 + ahead.sum(dim=1)


def history_mask(histories: torch.Tensor, n_columns: int) -> torch.Tensor:
    """The (B, n_columns) bool mask of the items in each padded (B, L) int64 history.

    Padding (id 0) marks nothing: column 0 stays False (`target_ranks` never ranks it anyway).
    Raises ValueError on ids outside 0…n_columns-1.
    """
    if histories.dim() != 2:
        raise ValueError(f"histories must be (B, L), got shape {tuple(histories.shape)}")
    if histories.dtype != torch.int64:
        raise TypeError(f"histories must be int64, got {histories.dtype}")
    if n_columns < 1:
        raise ValueError(f"n_columns must be >= 1 (column 0 is padding), got {n_columns}")
    mask = torch.zeros((histories.shape[0], n_columns), dtype=torch.bool, device=histories.device)
    if histories.numel() == 0:
        return mask
    if bool(((histories < 0) | (histories >= n_columns)).any()):
        raise ValueError(f"history ids must be in 0…{n_columns - 1}")
    mask.scatter_(1, histories, True)
    mask[:, PADDING_ID] = False
    return mask


def retrieval_metrics(
    ranks: np.ndarray | torch.Tensor, ks: Sequence[int] = DEFAULT_KS
) -> dict[str, float]:
    """MRR, HR@k and NDCG@k averaged over users, from 1-based target ranks.

    With one relevant item per user the ideal DCG is 1, so NDCG@k = 1/log2(rank + 1) when
    rank <= k and 0 otherwise. Keys, in this order: "MRR", "HR@k" for each k, "NDCG@k" for
    each k. Raises ValueError on empty input or ranks below 1.
    """
    if isinstance(ranks, torch.Tensor):
        ranks = ranks.detach().cpu().numpy()
    r = np.asarray(ranks, dtype=np.float64).reshape(-1)
    if r.size == 0:
        raise ValueError("no ranks to average")
    if not np.all(r >= 1):  # also rejects NaN
        raise ValueError("ranks are 1-based: every rank must be >= 1")
    for k in ks:
        if k < 1:
            raise ValueError(f"cut-offs must be >= 1, got {k}")

    metrics = {"MRR": float(np.mean(1.0 / r))}
    for k in ks:
        metrics[f"HR@{k}"] = float(np.mean(r <= k))
    gain = 1.0 / np.log2(r + 1.0)
    for k in ks:
        metrics[f"NDCG@{k}"] = float(np.mean(np.where(r <= k, gain, 0.0)))
    return metrics


class RankAccumulator:
    """Collects target ranks batch by batch; `metrics()` averages them over all users.

    Only the (B,) ranks of each batch are kept (on the CPU), never the scores, so the full
    evaluation costs O(users) host memory whatever the item count.
    """

    def __init__(self, ks: Sequence[int] = DEFAULT_KS) -> None:
        self.ks = tuple(ks)
        self._batches: list[np.ndarray] = []

    def add(self, ranks: torch.Tensor | np.ndarray) -> None:
        """Appends a batch of 1-based ranks (any device)."""
        if isinstance(ranks, torch.Tensor):
            ranks = ranks.detach().cpu().numpy()
        self._batches.append(np.asarray(ranks, dtype=np.int64).reshape(-1))

    def add_scores(
        self, scores: torch.Tensor, targets: torch.Tensor, exclude: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Ranks a batch with `target_ranks`, appends the ranks and returns them."""
        ranks = target_ranks(scores, targets, exclude)
        self.add(ranks)
        return ranks

    def __len__(self) -> int:
        return sum(len(batch) for batch in self._batches)

    def per_user(self) -> np.ndarray:
        """All ranks so far, in the order added: (n_users,) int64 (a copy)."""
        if not self._batches:
            return np.zeros(0, dtype=np.int64)
        return np.concatenate(self._batches)

    def metrics(self) -> dict[str, float]:
        """`retrieval_metrics` over every rank added (ValueError when none were)."""
        return retrieval_metrics(self.per_user(), self.ks)
