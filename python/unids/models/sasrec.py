"""SASRec (Kang & McAuley, ICDM 2018): self-attentive sequential recommendation.

Learned positions counted back from the most recent item (as the original's left-padded
windows index them), pre-LN Transformer blocks with causal softmax attention and a
position-wise feed-forward network, a final LayerNorm; scores are dot products with the
(tied) item embeddings. Defaults are the paper's ML-1M setting: d = 50, 2 blocks, 1 head,
dropout 0.2, max length 200.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from unids.models.base import Backbone, Vocab
from unids.models.inputs import SequenceInput
from unids.models.layers import causal_attention_mask, positions_from_end

#: Not cuDNN's attention: it builds an execution plan per input shape, and batches trimmed to
#: their longest row have many shapes (measured on an H100: 13 ms of CPU per backward call,
#: a LLaMA2Rec epoch 4–16 s instead of well under one).
ATTENTION_BACKENDS = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION,
                      SDPBackend.MATH]


@dataclass(frozen=True)
class SASRecConfig:
    dim: int = 50
    blocks: int = 2
    heads: int = 1
    dropout: float = 0.2
    max_len: int = 200
    ffn_mult: int = 1  # the paper's point-wise FFN keeps the width d
    #: L2-normalise hidden states and item embeddings (then the temperature defaults to
    #: 0.05): the SASRec baseline of the HSTU reference (`sasrec-sampled-softmax-n128-final`)
    #: whose numbers the anchors CSV publishes; the original SASRec does not
    l2_norm: bool = False


class SelfAttention(nn.Module):
    """Multi-head causal attention through PyTorch's fused scaled_dot_product_attention."""

    def __init__(self, dim: int, heads: int, dropout: float, bias: bool = True) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by heads {heads}")
        self.heads = heads
        self.dropout = dropout
        self.qkv = nn.Linear(dim, 3 * dim, bias=bias)
        self.out = nn.Linear(dim, dim, bias=bias)

    def forward(self, x: torch.Tensor, mask: torch.Tensor,
                rotary: nn.Module | None = None, positions: torch.Tensor | None = None
                ) -> torch.Tensor:
        batch, length, dim = x.shape
        q, k, v = self.qkv(x).view(batch, length, 3, self.heads, dim // self.heads).unbind(2)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # (B, H, L, D)
        if rotary is not None:
            q, k = rotary(q, positions), rotary(k, positions)
        with sdpa_kernel(ATTENTION_BACKENDS):
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                               dropout_p=self.dropout if self.training else 0.0)
        return self.out(y.transpose(1, 2).reshape(batch, length, dim))


class SASRecBlock(nn.Module):
    def __init__(self, config: SASRecConfig) -> None:
        super().__init__()
        self.attention_norm = nn.LayerNorm(config.dim)
        self.attention = SelfAttention(config.dim, config.heads, config.dropout)
        self.ffn_norm = nn.LayerNorm(config.dim)
        hidden = config.dim * config.ffn_mult
        self.ffn = nn.Sequential(nn.Linear(config.dim, hidden), nn.GELU(),
                                 nn.Dropout(config.dropout), nn.Linear(hidden, config.dim))
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = x + self.dropout(self.attention(self.attention_norm(x), mask))
        return x + self.dropout(self.ffn(self.ffn_norm(x)))


class SASRec(Backbone):
    def __init__(self, vocab: Vocab, config: SASRecConfig = SASRecConfig()) -> None:
        super().__init__(vocab, config.dim, config.dropout)
        self.config = config
        self.normalize = config.l2_norm
        self.position_embedding = nn.Embedding(config.max_len, config.dim)
        self.blocks = nn.ModuleList(SASRecBlock(config) for _ in range(config.blocks))
        self.final_norm = nn.LayerNorm(config.dim)
        self.reset_embeddings()
        nn.init.trunc_normal_(self.position_embedding.weight, std=0.02)

    def forward(self, batch: SequenceInput) -> torch.Tensor:
        padding = batch.padding
        positions = positions_from_end(padding).clamp(max=self.config.max_len - 1)
        x = self.embed(batch) + self.position_embedding(positions) * (~padding)[..., None]
        x = self.input_dropout(x)
        mask = causal_attention_mask(padding)
        for block in self.blocks:
            x = block(x, mask)
        return self.final_norm(x)
