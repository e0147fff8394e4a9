"""The training objectives of SPEC §7, each returning a *sum* over examples so that the
caller decides the normaliser (the global batch's example count under DDP)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from unids.models import Backbone


def full_softmax_loss(backbone: Backbone, hidden: torch.Tensor, targets: torch.Tensor,
                      temperature: float) -> torch.Tensor:
    """Cross-entropy of the target among all items. hidden (N, d), targets (N,) in 1 … I.

    The temperature scales the (N, d) states rather than the (N, I) logits, and the padding
    row is left out of the product instead of being masked: the logits are the big tensor.
    """
    items = backbone.item_table()[1:]  # padding (id 0) is never a candidate
    logits = (backbone.output(hidden) / temperature) @ items.t()
    return F.cross_entropy(logits.float(), targets - 1, reduction="sum")


#: Per-position negatives are scored through one (N, I) product when the item table has at
#: most this many rows per negative (dense BLAS against a gather and scatter of (N, K, d)).
DENSE_SCORING_FACTOR = 32


def sampled_softmax_loss(backbone: Backbone, hidden: torch.Tensor, targets: torch.Tensor,
                         temperature: float, negatives: int,
                         generator: torch.Generator | None = None, *,
                         per_position: bool = True) -> torch.Tensor:
    """Cross-entropy of the target against `negatives` items drawn uniformly; a negative that
    equals the target is masked out.

    per_position: every position draws its own negatives, as the HSTU reference's
    `LocalNegativesSampler` does; else one draw is shared by the whole batch (cheaper: a
    (N, K) product instead of gathering (N, K, d) embeddings, but each step then pushes
    down only K items, and on ML-1M it trains a weaker model — docs/TRAINING.md).
    """
    table = backbone.item_table()
    output = backbone.output(hidden)
    shape = (len(targets), negatives) if per_position else (negatives,)
    sampled = torch.randint(1, backbone.vocab.n_items + 1, shape, device=hidden.device,
                            generator=generator)
    positive = (output * table[targets]).sum(-1, keepdim=True)
    if per_position and len(table) <= DENSE_SCORING_FACTOR * negatives:
        # Few items (ML-1M: 3,707 rows): scoring every item with one matrix product and
        # picking the sampled scores beats gathering (N, K, d) embeddings and scattering
        # their gradients back (same values, up to float rounding: a test checks it).
        negative = (output @ table.t()).gather(1, sampled)
        collides = sampled == targets[:, None]
    elif per_position:
        negative = torch.bmm(table[sampled], output[:, :, None])[..., 0]
        collides = sampled == targets[:, None]
    else:
        negative = output @ table[sampled].t()
        collides = sampled[None, :] == targets[:, None]
    negative = negative.masked_fill(collides, float("-inf"))
    logits = torch.cat([positive, negative], dim=1).float() / temperature
    zeros = torch.zeros(len(targets), dtype=torch.long, device=hidden.device)
    return F.cross_entropy(logits, zeros, reduction="sum")


def pointwise_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy on logits, summed."""
    return F.binary_cross_entropy_with_logits(logits.float(), labels.float(), reduction="sum")
