"""HSTU (Zhai et al., ICML 2024, "Actions speak louder than words"), as pinned in SPEC §7.

Per block: n = LN(x); [u, v, q, k] = SiLU(n W);
A = SiLU(q kᵀ + rab_pos + rab_time) / N (N = max length), causal, no softmax;
y = x + W_o(u ⊙ LN(A v)).
No feed-forward network. As in the reference (generative-recommenders,
`SequentialTransductionUnitJagged`), the layer norms have no learned scale or shift, W has no
bias and starts at N(0, 0.02²), W_o starts Xavier-uniform, and the learned positions
Xavier-normal. Inputs are √d-scaled item embeddings plus learned positions
(counted from the first item, as the reference's right-padded sequences give them); the
hidden states and item embeddings are L2-normalised, so scores are cosine similarities (the
loss divides them by a temperature). Defaults are the published ML-1M configuration:
d = 50, 2 blocks, 1 head, dqk = dv = 50, dropout 0.2, max length 200, 128 time buckets.

rab_time, as the reference computes it (generative-recommenders,
`RelativeBucketedTimeAndPositionBasedBias`: `ts[:, 1:] − ts[:, :-1]` over the sequence with
the target's time appended), buckets the gap between a key's time and the time of the item the
*query* position predicts — the request time, which a serving system knows — not the query
item's own time. `time_bias = "current"` measures it from the query item's own time instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from unids.models.base import Backbone, Vocab
from unids.models.inputs import SequenceInput
from unids.models.layers import causal_attention_mask, positions_from_start

TIME_BIAS_ORIGINS = ("next", "current")


@dataclass(frozen=True)
class HSTUConfig:
    dim: int = 50
    blocks: int = 2
    heads: int = 1
    attention_dim: int = 50  # dqk per head (the reference ML-1M config: 50)
    linear_dim: int = 50  # dv per head (the reference: 50)
    dropout: float = 0.2
    max_len: int = 200
    time_buckets: int = 128
    time_bias: str = "next"  # "next": gaps from the predicted item's time; "current": own
    # True: a position attends only within its segment (`causal_attention_mask`), so that
    # RepPad's copies cannot read each other — the controlled check of its copying shortcut
    # (docs/RESULTS.md §3). Rows without inner padding, every evaluation row among them,
    # are unchanged.
    attention_segments: bool = False

    def __post_init__(self) -> None:
        if self.time_bias not in TIME_BIAS_ORIGINS:
            raise ValueError(f"time_bias must be one of {TIME_BIAS_ORIGINS}, "
                             f"got {self.time_bias!r}")


def time_buckets(gaps: torch.Tensor, buckets: int) -> torch.Tensor:
    """Seconds → log buckets: ⌊ln(max(|Δt|, 1)) / 0.301⌋, capped (the reference's bucketing)."""
    return (torch.log(gaps.abs().clamp(min=1.0)) / 0.301).long().clamp(max=buckets)


class RelativeBias(nn.Module):
    """rab_pos + rab_time: a learned scalar per query–key distance and per log time gap,
    shared by the heads."""

    def __init__(self, max_len: int, buckets: int) -> None:
        super().__init__()
        self.buckets = buckets
        self.position = nn.Parameter(torch.empty(max_len).normal_(std=0.02))
        self.time = nn.Parameter(torch.empty(buckets + 1).normal_(std=0.02))

    def forward(self, length: int, timestamps: torch.Tensor | None,
                query_times: torch.Tensor | None = None) -> torch.Tensor:
        """(B or 1, 1, L, L) bias. Distance i − j (in the padded frame; the same as between
        real positions) is clamped into the table, future keys get any value (masked later).
        The time gap of query i and key j is query_times[i] − timestamps[j] (query_times
        defaults to timestamps)."""
        index = torch.arange(length, device=self.position.device)
        distance = (index[:, None] - index[None, :]).clamp(0, self.position.shape[0] - 1)
        bias = self._lookup(self.position, distance)[None, None]
        if timestamps is not None:
            # Seconds before each row's latest interaction: small enough for float32, so the
            # (B, L, L) gap tensor costs half of float64 (gap error ≲ 1e-7 · the user's span).
            origin = timestamps[:, -1:]
            keys = (timestamps - origin).float()
            queries = keys if query_times is None else (query_times - origin).float()
            gaps = queries[:, :, None] - keys[:, None, :]
            bias = bias + self._lookup(self.time, time_buckets(gaps, self.buckets))[:, None]
        return bias

    @staticmethod
    def _lookup(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """table[index], through embedding: its backward sums the (B, L, L) gradients with a
        dedicated kernel, where advanced indexing's index_put took 86% of an H100 step."""
        return F.embedding(index, table[:, None]).squeeze(-1)


class HSTUBlock(nn.Module):
    def __init__(self, config: HSTUConfig) -> None:
        super().__init__()
        self.config = config
        heads, dqk, dv = config.heads, config.attention_dim, config.linear_dim
        self.norm = nn.LayerNorm(config.dim, eps=1e-6, elementwise_affine=False)
        self.uvqk = nn.Linear(config.dim, heads * (2 * dv + 2 * dqk), bias=False)
        self.attention_norm = nn.LayerNorm(heads * dv, eps=1e-6, elementwise_affine=False)
        self.out = nn.Linear(heads * dv, config.dim)
        self.dropout = nn.Dropout(config.dropout)
        nn.init.normal_(self.uvqk.weight, std=0.02)
        nn.init.xavier_uniform_(self.out.weight)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        batch, length, _ = x.shape
        heads, dqk, dv = self.config.heads, self.config.attention_dim, self.config.linear_dim
        u, v, q, k = F.silu(self.uvqk(self.norm(x))).split(
            [heads * dv, heads * dv, heads * dqk, heads * dqk], dim=-1)
        q = q.view(batch, length, heads, dqk).transpose(1, 2)
        k = k.view(batch, length, heads, dqk).transpose(1, 2)
        v = v.view(batch, length, heads, dv).transpose(1, 2)
        # Pointwise attention: each weight stands alone (no softmax competition), so the
        # strength of a signal survives; dividing by the maximum length keeps the sum bounded
        # (a constant, as in the reference, so that trimming a batch's padding changes nothing).
        weights = F.silu(q @ k.transpose(-1, -2) + bias) / self.config.max_len
        weights = weights * allowed
        attended = (weights @ v).transpose(1, 2).reshape(batch, length, heads * dv)
        return x + self.out(self.dropout(u * self.attention_norm(attended)))


class HSTU(Backbone):
    normalize = True

    def __init__(self, vocab: Vocab, config: HSTUConfig = HSTUConfig()) -> None:
        super().__init__(vocab, config.dim, config.dropout)
        self.config = config
        self.position_embedding = nn.Embedding(config.max_len, config.dim)
        self.relative_bias = RelativeBias(config.max_len, config.time_buckets)
        self.blocks = nn.ModuleList(HSTUBlock(config) for _ in range(config.blocks))
        self.reset_embeddings()
        nn.init.xavier_normal_(self.position_embedding.weight)

    def forward(self, batch: SequenceInput) -> torch.Tensor:
        padding = batch.padding
        positions = positions_from_start(padding).clamp(max=self.config.max_len - 1)
        x = self.embed(batch) + self.position_embedding(positions) * (~padding)[..., None]
        x = self.input_dropout(x)
        allowed = causal_attention_mask(padding, self.config.attention_segments) \
            & ~padding[:, None, :, None]
        query_times = batch.query_times if self.config.time_bias == "next" else None
        bias = self.relative_bias(x.shape[1], batch.timestamps, query_times)
        for block in self.blocks:
            x = block(x, allowed.to(x.dtype), bias)
        return x
