"""The trained object: a backbone, and for fine ranking its pointwise head, in one module so
that one state dict, one optimizer and one DDP wrapper hold everything. Its forward returns
the training loss, so DDP sees every parameter used inside forward."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from unids.baselines import frec
from unids.models import Backbone, PointwiseHead, SequenceInput
from unids.train.losses import full_softmax_loss, pointwise_loss, sampled_softmax_loss


@dataclass(frozen=True)
class Objective:
    """Which loss a step computes (resolved from TrainConfig and the data)."""

    retrieval: bool
    full_softmax: bool
    temperature: float
    negatives: int
    fine_negatives: int
    per_position_negatives: bool = True


class RankingModel(nn.Module):
    def __init__(self, backbone: Backbone, with_head: bool, amp: bool = False) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = PointwiseHead(backbone) if with_head else None
        self.amp = amp

    def candidate_logits(self, hidden: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        """Logits of candidate items (…) given history states (…, d)."""
        if self.head is None:
            raise RuntimeError("this model has no fine-ranking head")
        embedding = self.backbone.token_embedding(candidates)
        return self.head(hidden, embedding, candidates)

    def forward(self, inputs: SequenceInput, targets: torch.Tensor, labels: torch.Tensor | None,
                objective: Objective, fatigued: torch.Tensor | None = None,
                fatigue_weight: float | torch.Tensor = 0.0) -> torch.Tensor:
        """Summed loss over the batch's examples (see `example_count`).

        FRec (retrieval): `fatigued` (B, L) are the fatigued copies of the input tokens; they
        run through the backbone in the same call, and `fatigue_weight` × the summed fatigue
        loss of the rows' last positions is added (unids.baselines.frec)."""
        rows = len(targets)
        if fatigued is not None:
            inputs = frec.with_copies(inputs, fatigued)
        with self.autocast():
            hidden = self.backbone(inputs)
        if fatigued is None:
            return self._loss(hidden, targets, labels, objective)
        hidden, copies = hidden[:rows], hidden[rows:]
        wanted = targets[:, -1]
        original = frec.target_scores(self.backbone, hidden[:, -1], wanted,
                                      objective.temperature)
        tired = frec.target_scores(self.backbone, copies[:, -1], wanted, objective.temperature)
        changed = (fatigued != inputs.tokens[:rows]).any(dim=1) & (wanted > 0)
        return self._loss(hidden, targets, labels, objective) + \
            fatigue_weight * frec.fatigue_loss(original, tired, changed)

    def _loss(self, hidden: torch.Tensor, targets: torch.Tensor, labels: torch.Tensor | None,
              objective: Objective) -> torch.Tensor:
        has_target = targets > 0
        if objective.retrieval:
            states, wanted = hidden[has_target].float(), targets[has_target]
            if objective.full_softmax:
                return full_softmax_loss(self.backbone, states, wanted, objective.temperature)
            return sampled_softmax_loss(self.backbone, states, wanted, objective.temperature,
                                        objective.negatives,
                                        per_position=objective.per_position_negatives)
        if labels is not None:
            known = has_target & (labels >= 0)
            with self.autocast():
                logits = self.candidate_logits(hidden[known], targets[known])
            return pointwise_loss(logits, labels[known])
        # No explicit feedback: the true next item is a positive, random items negatives.
        states, positives = hidden[has_target], targets[has_target]
        negatives = torch.randint(1, self.backbone.vocab.n_items + 1,
                                  (len(positives), objective.fine_negatives),
                                  device=positives.device)
        candidates = torch.cat([positives[:, None], negatives], dim=1)
        expanded = states[:, None, :].expand(-1, candidates.shape[1], -1)
        with self.autocast():
            logits = self.candidate_logits(expanded, candidates)
        wanted_labels = torch.zeros_like(candidates)
        wanted_labels[:, 0] = 1
        return pointwise_loss(logits, wanted_labels)

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        """bf16 autocast on CUDA when enabled; a no-op on CPU, where bf16 matmuls are slow."""
        device = next(self.parameters()).device
        if self.amp and device.type == "cuda":
            with torch.autocast("cuda", dtype=torch.bfloat16):
                yield
        else:
            yield
