"""Small building blocks shared by the backbones."""

from __future__ import annotations

import torch
from torch import nn


def causal_attention_mask(padding: torch.Tensor, within_segments: bool = False) -> torch.Tensor:
    """(B, 1, L, L) bool, True where query i may attend key j: j ≤ i and j is a token.

    Every position may attend itself, padding included, so that no softmax row is empty
    (an all-masked row gives NaN); padded positions are never read by a loss or a metric.
    `within_segments`: j must also lie in i's segment, the run of tokens since the last
    padding position. A left-padded row is one segment; RepPad's delimiter (a padding token
    between copies, `unids.baselines.reppad`) makes each copy its own.
    """
    length = padding.shape[1]
    causal = torch.ones(length, length, dtype=torch.bool, device=padding.device).tril()
    allowed = causal & ~padding[:, None, :]
    if within_segments:
        segment = padding.long().cumsum(dim=1)  # a padding position starts a new segment
        allowed = allowed & (segment[:, :, None] == segment[:, None, :])
    allowed = allowed | torch.eye(length, dtype=torch.bool, device=padding.device)
    return allowed[:, None, :, :]


class RMSNorm(nn.Module):
    """Root-mean-square layer norm (LLaMA): x / rms(x) · g, no centring, no bias."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + self.eps)
        return (x.float() * scale).type_as(x) * self.weight


class RotaryEmbedding(nn.Module):
    """Rotary position embedding (RoPE, Su et al. 2021) on the last dimension of q and k.

    Positions count from the first real token of each sequence, so left padding does not
    shift a user's positions.
    """

    def __init__(self, head_dim: int, base: float = 10000.0) -> None:
        super().__init__()
        if head_dim % 2:
            raise ValueError("RoPE needs an even head dimension")
        inverse = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
        self.register_buffer("inverse_frequency", inverse, persistent=False)

    def forward(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """x: (B, H, L, D); positions: (B, L) int."""
        angles = positions[:, None, :, None].float() * self.inverse_frequency  # (B, 1, L, D/2)
        cos, sin = angles.cos(), angles.sin()
        even, odd = x[..., 0::2].float(), x[..., 1::2].float()
        rotated = torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1)
        return rotated.flatten(-2).type_as(x)


def positions_from_start(padding: torch.Tensor) -> torch.Tensor:
    """(B, L) int64: 0 at each sequence's first real token, counting up; 0 on padding."""
    real = (~padding).long()
    return (real.cumsum(dim=1) - 1).clamp(min=0)


def positions_from_end(padding: torch.Tensor) -> torch.Tensor:
    """(B, L) int64: 0 at each sequence's most recent token, 1 before it, …; 0 on padding.

    The position SASRec's left-padded windows give (index in a window that ends at the most
    recent token): the same embedding always means "k steps ago", whatever the length.
    """
    real = (~padding).long()
    return (real.flip(1).cumsum(dim=1).flip(1) - 1).clamp(min=0) * real
