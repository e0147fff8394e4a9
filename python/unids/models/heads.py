"""The pointwise fine-ranking head: (history encoding, candidate item) → logit."""

from __future__ import annotations

import torch
from torch import nn

from unids.models.base import Backbone


class PointwiseHead(nn.Module):
    """logit = MLP([h, e, h ⊙ e]) + b_item, where h is the backbone's state at the candidate's
    position and e the candidate's embedding.

    The fine-ranking data puts the candidate itself in the sequence (its behaviour withheld),
    so h already attends from the candidate to the history (target-aware, as HSTU ranks);
    e and the per-item bias add what the candidate is on its own — popular, well-liked items
    are liked by most users.
    """

    def __init__(self, backbone: Backbone, hidden: int = 64, dropout: float = 0.1) -> None:
        super().__init__()
        dim = backbone.dim
        self.mlp = nn.Sequential(nn.Linear(3 * dim, hidden), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, 1))
        self.item_bias = nn.Embedding(backbone.vocab.n_tokens, 1, padding_idx=0)
        nn.init.zeros_(self.item_bias.weight)

    def forward(self, hidden: torch.Tensor, candidate_embedding: torch.Tensor,
                candidates: torch.Tensor) -> torch.Tensor:
        """hidden, candidate_embedding: (…, dim); candidates: (…) ids → (…) logits."""
        features = torch.cat([hidden, candidate_embedding, hidden * candidate_embedding], -1)
        return self.mlp(features).squeeze(-1) + self.item_bias(candidates).squeeze(-1)
