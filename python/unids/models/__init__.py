"""Stage backbones (SPEC §7): SASRec, HSTU and LLaMA2Rec, each a causal encoder over
left-padded token sequences (`SequenceInput`), plus the fine-ranking `PointwiseHead`.

    backbone = build_backbone("hstu", Vocab(n_items=3706, n_tokens=3707), {"dropout": 0.2})
    hidden = backbone(SequenceInput(tokens))        # (B, L, d)
    scores = backbone.item_scores(hidden[:, -1])    # (B, n_items + 1)
"""

from __future__ import annotations

import dataclasses
from typing import Any

from unids.errors import UserError
from unids.models.base import Backbone, Vocab
from unids.models.heads import PointwiseHead
from unids.models.hstu import HSTU, HSTUConfig
from unids.models.inputs import SequenceInput
from unids.models.llama2rec import LLaMA2Rec, LLaMA2RecConfig
from unids.models.sasrec import SASRec, SASRecConfig

#: name → (config dataclass, model class)
BACKBONES: dict[str, tuple[type, type[Backbone]]] = {
    "sasrec": (SASRecConfig, SASRec),
    "hstu": (HSTUConfig, HSTU),
    "llama2rec": (LLaMA2RecConfig, LLaMA2Rec),
}


def backbone_config(name: str, overrides: dict[str, Any] | None = None) -> Any:
    """The config dataclass of a backbone with `overrides` applied; unknown keys are errors."""
    if name not in BACKBONES:
        raise UserError(f"unknown backbone {name!r}; choose from {', '.join(BACKBONES)}")
    config_class, _ = BACKBONES[name]
    known = {field.name for field in dataclasses.fields(config_class)}
    unknown = set(overrides or {}) - known
    if unknown:
        raise UserError(f"{name} has no setting {', '.join(sorted(unknown))}; "
                        f"its settings are {', '.join(sorted(known))}")
    return config_class(**(overrides or {}))


def build_backbone(name: str, vocab: Vocab, overrides: dict[str, Any] | None = None
                   ) -> Backbone:
    config = backbone_config(name, overrides)  # checks the name first: a UserError, not KeyError
    _, model_class = BACKBONES[name]
    return model_class(vocab, config)  # type: ignore[call-arg]


__all__ = ["BACKBONES", "HSTU", "Backbone", "HSTUConfig", "LLaMA2Rec", "LLaMA2RecConfig",
           "PointwiseHead", "SASRec", "SASRecConfig", "SequenceInput", "Vocab",
           "backbone_config", "build_backbone"]
