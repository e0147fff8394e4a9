"""Formats: Pattern-Token (PT) sequences [P1, T1, …, Pk, Tk] over one namespaced vocabulary
(SPEC §5), built from the training part of a prepared dataset for one stage."""

from unids.formats.pt import segment_lengths_of, to_items, to_pattern_tokens
from unids.formats.sources import FALLBACK_ORDER, SOURCES, BehaviorScale, build_vocabulary, survey
from unids.formats.stage import (
    STAGE_DEFAULTS,
    STAGES,
    FormatConfig,
    FormatResult,
    format_dataset,
)
from unids.formats.vocabulary import Namespace, Vocabulary

__all__ = [
    "FALLBACK_ORDER",
    "SOURCES",
    "STAGES",
    "STAGE_DEFAULTS",
    "BehaviorScale",
    "FormatConfig",
    "FormatResult",
    "Namespace",
    "Vocabulary",
    "build_vocabulary",
    "format_dataset",
    "segment_lengths_of",
    "survey",
    "to_items",
    "to_pattern_tokens",
]
