"""The retrieval losses against plain per-example references."""

from __future__ import annotations

import math

import pytest
import torch

from unids.models import Vocab, build_backbone
from unids.train.losses import full_softmax_loss, sampled_softmax_loss

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(params=["sasrec", "hstu"])
def backbone(request: pytest.FixtureRequest) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_backbone(request.param, Vocab(n_items=12, n_tokens=13), {"dim": 8, "blocks": 1})


def reference_sampled(backbone, hidden, targets, temperature, sampled) -> float:
    """Σ over examples of −log softmax(target | target ∪ its negatives ≠ target)."""
    table, output = backbone.item_table(), backbone.output(hidden)
    total = 0.0
    for n, target in enumerate(targets.tolist()):
        row = sampled[n] if sampled.dim() == 2 else sampled
        scores = [float(output[n] @ table[target]) / temperature]
        scores += [float(output[n] @ table[k]) / temperature for k in row.tolist() if k != target]
        top = max(scores)
        total += -(scores[0] - top - math.log(sum(math.exp(s - top) for s in scores)))
    return total


@pytest.mark.parametrize("per_position", [True, False])
@pytest.mark.parametrize("dense", [True, False])
def test_sampled_softmax_matches_reference(backbone, per_position: bool, dense: bool,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Both ways of scoring per-position negatives: through every item's score (few items)
    and by gathering the sampled embeddings."""
    monkeypatch.setattr("unids.train.losses.DENSE_SCORING_FACTOR", 32 if dense else 0)
    hidden = torch.randn(7, 8)
    targets = torch.tensor([1, 5, 5, 12, 3, 7, 2])
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        got = sampled_softmax_loss(backbone, hidden, targets, 0.5, 9, generator,
                                   per_position=per_position)
        shape = (7, 9) if per_position else (9,)
        sampled = torch.randint(1, 13, shape, generator=torch.Generator().manual_seed(3))
        # 9 draws from 12 items: some draw equals its target, so the masking is exercised.
        rows = sampled if per_position else sampled.expand(7, 9)
        assert (rows == targets[:, None]).any()
        expected = reference_sampled(backbone, hidden, targets, 0.5, sampled)
    assert float(got) == pytest.approx(expected, rel=1e-5)


def test_full_softmax_matches_reference(backbone) -> None:
    hidden, targets = torch.randn(5, 8), torch.tensor([1, 2, 12, 4, 4])
    with torch.no_grad():
        got = full_softmax_loss(backbone, hidden, targets, 0.05)
        everything = torch.arange(1, 13)
        expected = reference_sampled(backbone, hidden, targets, 0.05, everything)
    assert float(got) == pytest.approx(expected, rel=1e-5)
