"""LLaMA2Rec: a LLaMA-2-style decoder (Touvron et al. 2023) as a sequential recommender.

Pre-norm blocks with RMSNorm, rotary positions (RoPE) on queries and keys, causal softmax
attention, a SwiGLU feed-forward network and bias-free projections; the item scores use the
token embedding table (tied). No absolute position embedding: RoPE carries order.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from unids.models.base import Backbone, Vocab
from unids.models.inputs import SequenceInput
from unids.models.layers import (
    RMSNorm,
    RotaryEmbedding,
    causal_attention_mask,
    positions_from_start,
)
from unids.models.sasrec import SelfAttention


@dataclass(frozen=True)
class LLaMA2RecConfig:
    dim: int = 64
    blocks: int = 2
    heads: int = 2
    ffn_dim: int = 172  # ≈ 8/3 · dim, LLaMA's SwiGLU width
    dropout: float = 0.2
    max_len: int = 200


class SwiGLU(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.gate = nn.Linear(dim, hidden, bias=False)
        self.up = nn.Linear(dim, hidden, bias=False)
        self.down = nn.Linear(hidden, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(F.silu(self.gate(x)) * self.up(x))


class LLaMABlock(nn.Module):
    def __init__(self, config: LLaMA2RecConfig) -> None:
        super().__init__()
        self.attention_norm = RMSNorm(config.dim)
        self.attention = SelfAttention(config.dim, config.heads, config.dropout, bias=False)
        self.rotary = RotaryEmbedding(config.dim // config.heads)
        self.ffn_norm = RMSNorm(config.dim)
        self.ffn = SwiGLU(config.dim, config.ffn_dim)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor
                ) -> torch.Tensor:
        x = x + self.dropout(self.attention(self.attention_norm(x), mask, self.rotary, positions))
        return x + self.dropout(self.ffn(self.ffn_norm(x)))


class LLaMA2Rec(Backbone):
    scale_embeddings = False

    def __init__(self, vocab: Vocab, config: LLaMA2RecConfig = LLaMA2RecConfig()) -> None:
        super().__init__(vocab, config.dim, config.dropout)
        self.config = config
        self.blocks = nn.ModuleList(LLaMABlock(config) for _ in range(config.blocks))
        self.final_norm = RMSNorm(config.dim)
        self.reset_embeddings()

    def forward(self, batch: SequenceInput) -> torch.Tensor:
        padding = batch.padding
        positions = positions_from_start(padding)
        x = self.input_dropout(self.embed(batch))
        mask = causal_attention_mask(padding)
        for block in self.blocks:
            x = block(x, mask, positions)
        return self.final_norm(x)
