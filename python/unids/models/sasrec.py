"""SASRec (Kang & McAuley, ICDM 2018): self-attentive sequential recommendation.

The original's block, which is not a textbook pre-LN Transformer block: the queries are the
layer-normed inputs but the keys and values are the inputs themselves, and the residual adds
the normed queries:

    q = LN(x);  h = LN(q + Attention(q, keys = values = x));  y = h + FFN(h)

with causal softmax attention (dropout on its weights), a point-wise ReLU FFN of width d and
padding re-zeroed after every block. The HSTU reference's SASRec (generative-recommenders,
whose ML-1M numbers the anchors CSV publishes) is the same block with Xavier-normal weights.

Two choices differ between the original and that reference and are settings:
`positions` — "from_end" (the original's left-padded windows: an embedding means "k steps
ago") or "from_start" (the reference's right-padded sequences); `final_norm` — the
original's last LayerNorm, which the reference drops (it L2-normalises instead, `l2_norm`).
Scores are dot products with the (tied) item embeddings. Defaults are the paper's ML-1M
setting: d = 50, 2 blocks, 1 head, dropout 0.2, max length 200.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from unids.models.base import Backbone, Vocab
from unids.models.inputs import SequenceInput
from unids.models.layers import causal_attention_mask, positions_from_end, positions_from_start

#: Not cuDNN's attention: it builds an execution plan per input shape, and batches trimmed to
#: their longest row have many shapes (measured on an H100: 13 ms of CPU per backward call,
#: a LLaMA2Rec epoch 4–16 s instead of well under one).
ATTENTION_BACKENDS = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION,
                      SDPBackend.MATH]


POSITION_ORIGINS = ("from_end", "from_start")


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
    #: "from_end" (the original) or "from_start" (the HSTU reference)
    positions: str = "from_end"
    #: the original's LayerNorm after the last block (the HSTU reference has none)
    final_norm: bool = True

    def __post_init__(self) -> None:
        if self.positions not in POSITION_ORIGINS:
            raise ValueError(f"positions must be one of {POSITION_ORIGINS}, "
                             f"got {self.positions!r}")


class SelfAttention(nn.Module):
    """Multi-head causal attention through PyTorch's fused scaled_dot_product_attention.
    Queries come from `x`, keys and values from `context` (default: `x` too)."""

    def __init__(self, dim: int, heads: int, dropout: float, bias: bool = True) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by heads {heads}")
        self.heads = heads
        self.dropout = dropout
        self.qkv = nn.Linear(dim, 3 * dim, bias=bias)
        self.out = nn.Linear(dim, dim, bias=bias)

    def forward(self, x: torch.Tensor, mask: torch.Tensor,
                rotary: nn.Module | None = None, positions: torch.Tensor | None = None,
                context: torch.Tensor | None = None) -> torch.Tensor:
        batch, length, dim = x.shape
        if context is None:
            q, k, v = self.qkv(x).view(batch, length, 3, self.heads, dim // self.heads).unbind(2)
        else:
            bias = self.qkv.bias
            q = F.linear(x, self.qkv.weight[:dim], None if bias is None else bias[:dim])
            k, v = F.linear(context, self.qkv.weight[dim:], None if bias is None else bias[dim:]
                            ).view(batch, length, 2, dim).unbind(2)
            q, k, v = (t.view(batch, length, self.heads, dim // self.heads) for t in (q, k, v))
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
        self.attention_norm = nn.LayerNorm(config.dim, eps=1e-8)
        self.attention = SelfAttention(config.dim, config.heads, config.dropout)
        self.ffn_norm = nn.LayerNorm(config.dim, eps=1e-8)
        hidden = config.dim * config.ffn_mult
        self.ffn = nn.Sequential(nn.Linear(config.dim, hidden), nn.ReLU(),
                                 nn.Dropout(config.dropout), nn.Linear(hidden, config.dim),
                                 nn.Dropout(config.dropout))
        for layer in (self.attention.qkv, self.attention.out, self.ffn[0], self.ffn[3]):
            nn.init.xavier_normal_(layer.weight)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        queries = self.attention_norm(x)
        h = self.ffn_norm(queries + self.attention(queries, mask, context=x))
        return (h + self.ffn(h)) * real


class SASRec(Backbone):
    def __init__(self, vocab: Vocab, config: SASRecConfig = SASRecConfig()) -> None:
        super().__init__(vocab, config.dim, config.dropout)
        self.config = config
        self.normalize = config.l2_norm
        self.position_embedding = nn.Embedding(config.max_len, config.dim)
        self.blocks = nn.ModuleList(SASRecBlock(config) for _ in range(config.blocks))
        self.final_norm = nn.LayerNorm(config.dim, eps=1e-8) if config.final_norm else None
        self.reset_embeddings()
        # The reference's positions: N(0, 1/d), as large as a √d-scaled item embedding.
        nn.init.trunc_normal_(self.position_embedding.weight, std=config.dim ** -0.5)

    def forward(self, batch: SequenceInput) -> torch.Tensor:
        padding = batch.padding
        count = positions_from_end if self.config.positions == "from_end" else \
            positions_from_start
        positions = count(padding).clamp(max=self.config.max_len - 1)
        real = (~padding)[..., None].to(self.position_embedding.weight.dtype)
        x = self.input_dropout(self.embed(batch) + self.position_embedding(positions) * real)
        mask = causal_attention_mask(padding)
        for block in self.blocks:
            x = block(x, mask, real)
        return x if self.final_norm is None else self.final_norm(x)
