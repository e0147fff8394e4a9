"""What every backbone reads: one batch of left-padded token sequences and their context."""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch


@dataclass(frozen=True)
class SequenceInput:
    """A batch of B sequences, each left-padded to length L (0 = padding), so that the most
    recent token is always in the last column and one index reads every user's state.

    tokens:     (B, L) int64 — item ids 1 … I, or Pattern-Token ids (items keep their ids; the
                special tokens of a PT vocabulary follow them, see unids.formats.vocabulary).
    timestamps: (B, L) float64 seconds, or None. HSTU turns gaps into its time bias.
    behaviors:  (B, L) int64 behaviour bucket per position (0 = none), or None. Added to the
                token embedding: the fine-ranking stage feeds each position the behaviour of
                the *previous* interaction, so a position never sees its own label.
    user:       (B, R) float per-user representation (e.g. the regenerator's), or None.
    query_times: (B, L) float64 seconds, or None: when the item each position predicts is
                met — the request time, known when a recommendation is asked for (in
                training the next item's time, at evaluation the held-out item's). HSTU's
                reference measures its time bias from it (`HSTUConfig.time_bias`).
    """

    tokens: torch.Tensor
    timestamps: torch.Tensor | None = None
    behaviors: torch.Tensor | None = None
    user: torch.Tensor | None = None
    query_times: torch.Tensor | None = None

    @property
    def padding(self) -> torch.Tensor:
        """(B, L) bool, True where there is no token."""
        return self.tokens == 0

    def to(self, device: torch.device | str) -> SequenceInput:
        def move(tensor: torch.Tensor | None) -> torch.Tensor | None:
            return None if tensor is None else tensor.to(device, non_blocking=True)

        return replace(self, tokens=move(self.tokens), timestamps=move(self.timestamps),
                       query_times=move(self.query_times),
                       behaviors=move(self.behaviors), user=move(self.user))
