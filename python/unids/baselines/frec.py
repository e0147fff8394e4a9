"""FRec-style fatigue-aware augmentation (Li et al. 2024, "Modeling user fatigue for
sequential recommendation"), as SPEC §8 pins it.

For each training row (a left-padded window whose last position predicts the row's last
target t), a *fatigued* copy replaces `m` random recent positions by t, as if the user had
already met t again and again just before. "Recent" = the last `window` input positions
before the target (the target itself is not an input, so it is never replaced); a position is
a candidate when it holds an item (id ≤ `n_items` when given, so Pattern-Token special tokens
are kept) other than t. min(m, candidates) positions are replaced.

The contrastive term ranks the original history above its fatigued copy for the target:

    s(h, t)  = ⟨output(h_last), e_t⟩ / τ          (the retrieval loss's own logit)
    L_fat    = (1 / N) Σ_rows softplus(s(fatigued, t) − s(original, t))
    L        = L_main + α · L_fat,   α = 0.1

summed over the rows whose copy differs from the original, N = the rows of the (global) batch
with a target; L_main is the usual mean next-item loss. The fatigued copies only enter L_fat.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from unids.models import Backbone, SequenceInput


def fatigued_copies(tokens: torch.Tensor, lengths: torch.Tensor, targets: torch.Tensor,
                    m: int, window: int, generator: torch.Generator | None,
                    n_items: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(fatigued tokens (B, W), replaced (B, W) bool) for left-padded `tokens` (B, W) with
    `lengths` (B,) real columns and `targets` (B,) the item each row's last position
    predicts (0 = none: the row is left as it is)."""
    rows, width = tokens.shape
    device = tokens.device
    recent = (lengths.to(device).long().clamp(max=window))
    column = torch.arange(width, device=device)
    wanted = targets[:, None]
    candidate = (column[None, :] >= width - recent[:, None]) & (tokens > 0) & \
        (tokens != wanted) & (wanted > 0)
    if n_items is not None:
        candidate &= tokens <= n_items
    keys = torch.rand(rows, width, generator=generator).to(device)
    keys = keys.masked_fill(~candidate, 2.0)  # candidates first, in a random order
    rank = keys.argsort(dim=1).argsort(dim=1)
    replaced = candidate & (rank < m)
    return torch.where(replaced, wanted, tokens), replaced


def with_copies(inputs: SequenceInput, fatigued: torch.Tensor) -> SequenceInput:
    """The batch followed by its fatigued copies (2B rows; context duplicated)."""
    def twice(tensor: torch.Tensor | None) -> torch.Tensor | None:
        return None if tensor is None else torch.cat([tensor, tensor])

    return SequenceInput(tokens=torch.cat([inputs.tokens, fatigued]),
                         timestamps=twice(inputs.timestamps),
                         query_times=twice(inputs.query_times),
                         behaviors=twice(inputs.behaviors), user=twice(inputs.user))


def target_scores(backbone: Backbone, hidden: torch.Tensor, targets: torch.Tensor,
                  temperature: float) -> torch.Tensor:
    """(N,) s(h, t) = ⟨output(h), e_t⟩ / τ for states (N, d) and targets (N,)."""
    output = backbone.output(hidden.float())
    return (output * backbone.item_table()[targets].float()).sum(-1) / temperature


def fatigue_loss(original: torch.Tensor, fatigued: torch.Tensor,
                 mask: torch.Tensor | None = None) -> torch.Tensor:
    """Σ softplus(fatigued − original) over the rows in `mask` (all when None): ~0 with a
    vanishing gradient when the original scores the target far above its fatigued copy."""
    terms = F.softplus(fatigued - original)
    if mask is not None:
        terms = terms * mask
    return terms.sum()
