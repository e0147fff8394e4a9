"""Regeneration (SPEC §6): a Transformer regenerator with K memories and a diversity promoter,
trained on (PT training sequence, segment) pairs and decoded per user and per memory.

    formatted = format_dataset(dataset, "recall")
    pairs = build_pairs(formatted)
    model, history = fit_regenerator(pairs, formatted.vocabulary.size, RegeneratorConfig(),
                                     "runs/regen-recall")
    users, sources = user_sources(formatted.pt, model.config.max_source_len)
    generated = generate(model, users, sources, formatted.vocabulary)
    generated.write("regenerated/recall")

docs/REGENERATOR.md describes the architecture, the pairs, the decoding rules and the
entropy-sign choice.
"""

from __future__ import annotations

from unids.regen.backbone import backbone_item_table
from unids.regen.generate import (
    Generated,
    GenerationConfig,
    generate,
    generate_one_at_a_time,
    read_generated,
)
from unids.regen.model import Regenerator, RegeneratorConfig
from unids.regen.pairs import Pairs, build_pairs, pairs_from_tokens, user_sources
from unids.regen.train import fit_regenerator, load_regenerator

__all__ = [
    "Generated",
    "GenerationConfig",
    "Pairs",
    "Regenerator",
    "RegeneratorConfig",
    "backbone_item_table",
    "build_pairs",
    "fit_regenerator",
    "generate",
    "generate_one_at_a_time",
    "load_regenerator",
    "pairs_from_tokens",
    "read_generated",
    "user_sources",
]
