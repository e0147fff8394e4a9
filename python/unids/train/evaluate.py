"""Evaluation of a trained model on one split: full ranking for retrieval stages, pointwise
scores for fine ranking (SPEC §7). Batched; only ranks and scores leave the device."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from unids.eval import (
    classification_metrics,
    fit_platt,
    logloss,
    platt_probabilities,
    retrieval_metrics,
    target_ranks,
)
from unids.train.batches import EvalTensors
from unids.train.model import RankingModel

KS = (10, 50, 200)


def eval_rows(requested: int, device: torch.device) -> int:
    """Users per evaluation batch: `requested`, or for 0 the device's good size. A GPU wants
    large batches; on a CPU a batch of 1024 histories × 200 positions spills the caches.
    Untrained HSTU, 1 thread on a 2-core AMD EPYC, full ranking of every test user: ML-1M
    (6,040 users) 11.3 s at 1024 users per batch, 3.7 s at 32; ML-100K (943) 3.4 s vs 0.43 s;
    SASRec and LLaMA2Rec 1.8–3.7× (benches/bench_eval_batch.py). The metrics are the same."""
    if requested:
        return requested
    return 1024 if device.type == "cuda" else 32


def _batches(cases: EvalTensors, size: int) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Batches of users with similar history lengths (so each trims its padding), and the
    permutation that puts per-batch results back in user order. size 0: eval_rows."""
    size = eval_rows(size, cases.target.device)
    order = torch.argsort(cases.inputs.lengths, stable=True).to(cases.target.device)
    return list(order.split(size)), torch.argsort(order)


@torch.no_grad()
def retrieval_ranks(model: RankingModel, cases: EvalTensors, batch_size: int) -> np.ndarray:
    """Rank of every user's target among all items, the user's earlier items masked."""
    model.eval()
    n_columns = model.backbone.vocab.n_items + 1
    ranks = []
    batches, restore = _batches(cases, batch_size)
    for rows in batches:
        with model.autocast():
            hidden = model.backbone(cases.inputs.input(rows, cases.inputs.width(rows)))[:, -1]
        scores = model.backbone.item_scores(hidden.float()).float()
        ranks.append(target_ranks(scores, cases.target[rows], cases.seen_mask(rows, n_columns)))
    return torch.cat(ranks)[restore].cpu().numpy()


def sampled_negatives(cases: EvalTensors, n_items: int, count: int, seed: int) -> torch.Tensor:
    """(U, count) items each user has not met (nor the target), fixed by `seed` so that
    every model is judged on the same candidates."""
    generator = torch.Generator().manual_seed(seed)
    users = len(cases)
    negatives = torch.randint(1, n_items + 1, (users, count), generator=generator)
    seen = cases.seen_mask(torch.arange(users, device=cases.target.device), n_items + 1).cpu()
    seen[torch.arange(users), cases.target.cpu()] = True
    for _ in range(100):  # redraw collisions; a user who met almost every item keeps a few
        bad = seen.gather(1, negatives)
        if not bad.any():
            break
        redraw = torch.randint(1, n_items + 1, (int(bad.sum()),), generator=generator)
        negatives[bad] = redraw
    return negatives.to(cases.target.device)


@torch.no_grad()
def pointwise_scores(model: RankingModel, cases: EvalTensors, candidates: torch.Tensor,
                     batch_size: int) -> np.ndarray:
    """(U, C) logits of each user's candidates given the user's history."""
    model.eval()
    logits = []
    batches, restore = _batches(cases, batch_size)
    for rows in batches:
        with model.autocast():
            hidden = model.backbone(cases.inputs.input(rows, cases.inputs.width(rows)))[:, -1]
            batch_candidates = candidates[rows]
            expanded = hidden[:, None, :].expand(-1, batch_candidates.shape[1], -1)
            logits.append(model.candidate_logits(expanded, batch_candidates).float())
    return torch.cat(logits)[restore].cpu().numpy()


@dataclass(frozen=True)
class FineScores:
    """One split's fine-ranking impressions, flat: user, label (0/1) and logit of each."""
    users: np.ndarray
    labels: np.ndarray
    logits: np.ndarray

    def metrics(self) -> dict[str, float]:
        return classification_metrics(self.users, self.labels, self.logits)


def fine_scores(model: RankingModel, cases: EvalTensors, *, batch_size: int, negatives: int = 4,
                seed: int = 0) -> FineScores:
    """The impressions fine ranking is judged on. With labels (a held-out interaction's
    rating), that interaction; without, the true item as a positive beside `negatives`
    sampled unseen items."""
    users = cases.users.cpu().numpy()
    if cases.label is not None:
        known = (cases.label >= 0).cpu().numpy()
        logits = pointwise_scores(model, cases, cases.target[:, None], batch_size)[:, 0]
        labels = cases.label.cpu().numpy()
        return FineScores(users[known], labels[known], logits[known])
    negative = sampled_negatives(cases, model.backbone.vocab.n_items, negatives, seed)
    candidates = torch.cat([cases.target[:, None], negative], dim=1)
    logits = pointwise_scores(model, cases, candidates, batch_size)
    labels = np.zeros(logits.shape, dtype=np.int64)
    labels[:, 0] = 1
    return FineScores(np.repeat(users, logits.shape[1]), labels.ravel(), logits.ravel())


def evaluate(model: RankingModel, cases: EvalTensors, *, retrieval: bool, batch_size: int,
             negatives: int = 4, seed: int = 0) -> dict[str, Any]:
    """Metrics of one split: full ranking for retrieval, `fine_scores`' AUC, GAUC and logloss
    for fine ranking."""
    if retrieval:
        return retrieval_metrics(retrieval_ranks(model, cases, batch_size), KS)
    return fine_scores(model, cases, batch_size=batch_size, negatives=negatives,
                       seed=seed).metrics()


def evaluate_splits(model: RankingModel, cases: Mapping[str, EvalTensors],
                    splits: Sequence[str], *, retrieval: bool, batch_size: int,
                    negatives: int = 4, seed: int = 0
                    ) -> tuple[dict[str, dict[str, Any]], dict[str, Any] | None]:
    """({split: metrics}, calibration) of a trained model.

    Fine ranking with both a validation and a test split also gets a calibrated test logloss,
    `logloss_calibrated`: Platt scaling fitted on the validation impressions (never on test)
    and applied to the test logits. An implicit-feedback model trained to rank overfits its
    probabilities long before its order (Books HSTU: validation logloss 0.44 at epoch 7, 1.08
    by epoch 61, while validation AUC rose from 0.819 to 0.846); a user who needs
    probabilities would calibrate like this. `calibration` then says how ({"method",
    "fitted_on", "scale", "shift"}); else (retrieval, no validation split, or a validation
    split of one class, where nothing can be fitted) it is None. AUC, GAUC and the raw
    logloss are unchanged by it.
    """
    if retrieval:
        return {split: evaluate(model, cases[split], retrieval=True, batch_size=batch_size)
                for split in splits}, None
    scores = {split: fine_scores(model, cases[split], batch_size=batch_size,
                                 negatives=negatives, seed=seed) for split in splits}
    metrics = {split: split_scores.metrics() for split, split_scores in scores.items()}
    if not {"valid", "test"} <= scores.keys() or len(np.unique(scores["valid"].labels)) < 2:
        return metrics, None
    scale, shift = fit_platt(scores["valid"].labels, scores["valid"].logits)
    metrics["test"]["logloss_calibrated"] = logloss(
        scores["test"].labels, platt_probabilities(scores["test"].logits, scale, shift))
    return metrics, {"method": "Platt scaling", "fitted_on": "valid", "scale": scale,
                     "shift": shift}
