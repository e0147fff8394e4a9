"""Evaluation of a trained model on one split: full ranking for retrieval stages, pointwise
scores for fine ranking (SPEC §7). Batched; only ranks and scores leave the device."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from unids.eval import classification_metrics, retrieval_metrics, target_ranks
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


def evaluate(model: RankingModel, cases: EvalTensors, *, retrieval: bool, batch_size: int,
             negatives: int = 4, seed: int = 0) -> dict[str, Any]:
    """Metrics of one split. Fine ranking uses the held-out interaction's label when the data
    has one; otherwise the true item is a positive beside `negatives` sampled unseen items."""
    if retrieval:
        return retrieval_metrics(retrieval_ranks(model, cases, batch_size), KS)
    users = cases.users.cpu().numpy()
    if cases.label is not None:
        known = (cases.label >= 0).cpu().numpy()
        logits = pointwise_scores(model, cases, cases.target[:, None], batch_size)[:, 0]
        labels = cases.label.cpu().numpy()
        return classification_metrics(users[known], labels[known], logits[known])
    negative = sampled_negatives(cases, model.backbone.vocab.n_items, negatives, seed)
    candidates = torch.cat([cases.target[:, None], negative], dim=1)
    logits = pointwise_scores(model, cases, candidates, batch_size)
    labels = np.zeros(logits.shape, dtype=np.int64)
    labels[:, 0] = 1
    return classification_metrics(np.repeat(users, logits.shape[1]), labels.ravel(),
                                  logits.ravel())
