"""What the three backbones share: the token table (tied to the item scores), optional
behaviour and user inputs, and the scoring of hidden states against items."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from unids.models.inputs import SequenceInput


@dataclass(frozen=True)
class Vocab:
    """Sizes the data decides, not the model config.

    n_items: items are token ids 1 … n_items (scored by retrieval); n_tokens ≥ n_items + 1
    includes padding and any Pattern-Token special tokens; n_behaviors: behaviour buckets
    1 … n_behaviors (0 = none; 0 disables the behaviour input); user_dim: width of the
    per-user representation (0 = none).
    """

    n_items: int
    n_tokens: int
    n_behaviors: int = 0
    user_dim: int = 0

    def __post_init__(self) -> None:
        if self.n_items < 1 or self.n_tokens < self.n_items + 1:
            raise ValueError(f"need n_tokens ≥ n_items + 1 ≥ 2, got {self}")


class Backbone(nn.Module):
    """A causal sequence encoder: `forward(SequenceInput) → (B, L, dim)` hidden states, where
    position t has seen tokens 0 … t only. `item_scores(hidden)` gives (…, n_items + 1) logits
    over item ids (column 0 = padding)."""

    #: multiply token embeddings by √dim before adding positions (SASRec and HSTU do this)
    scale_embeddings = True
    #: L2-normalise hidden states and item embeddings before the dot product (HSTU)
    normalize = False

    def __init__(self, vocab: Vocab, dim: int, dropout: float) -> None:
        super().__init__()
        self.vocab = vocab
        self.dim = dim
        self.token_embedding = nn.Embedding(vocab.n_tokens, dim, padding_idx=0)
        self.behavior_embedding = (nn.Embedding(vocab.n_behaviors + 1, dim, padding_idx=0)
                                   if vocab.n_behaviors else None)
        self.user_projection = nn.Linear(vocab.user_dim, dim) if vocab.user_dim else None
        self.input_dropout = nn.Dropout(dropout)

    def reset_embeddings(self) -> None:
        for table in (self.token_embedding, self.behavior_embedding):
            if table is not None:
                nn.init.trunc_normal_(table.weight, std=0.02)
                with torch.no_grad():
                    table.weight[0].zero_()

    def embed(self, batch: SequenceInput) -> torch.Tensor:
        """(B, L, dim) input vectors: token (+ behaviour) (+ projected user), padding zeroed."""
        x = self.token_embedding(batch.tokens)
        if self.scale_embeddings:
            x = x * math.sqrt(self.dim)
        if self.behavior_embedding is not None and batch.behaviors is not None:
            x = x + self.behavior_embedding(batch.behaviors)
        if self.user_projection is not None and batch.user is not None:
            # The user vector conditions every position, like a learned per-user bias.
            x = x + self.user_projection(batch.user)[:, None, :]
        return x * (~batch.padding)[..., None]

    def item_table(self) -> torch.Tensor:
        """(n_items + 1, dim) item embeddings as the scorer sees them."""
        table = self.token_embedding.weight[: self.vocab.n_items + 1]
        return F.normalize(table, dim=-1) if self.normalize else table

    def output(self, hidden: torch.Tensor) -> torch.Tensor:
        """Hidden states as the scorer sees them."""
        return F.normalize(hidden, dim=-1) if self.normalize else hidden

    def item_scores(self, hidden: torch.Tensor) -> torch.Tensor:
        """(…, dim) → (…, n_items + 1) dot products with every item."""
        return self.output(hidden) @ self.item_table().t()
