"""The data-level methods of the comparison (SPEC §8): what each one changes in the
regenerate pipeline, as explicit `format_dataset` options plus whether a regenerator runs.

    spec = data_method("dr4sr")
    formatted = format_dataset(dataset, "recall", **spec.format_options)
    if spec.regenerate: ...   # pairs (spec.pattern_pairs) → regenerator → generate

`unids.pipeline.regenerate_stage(..., method=...)` and `unids regenerate --method` read this
table; no other module looks at a method's name. The reference descriptions:

- ``unids`` — UniDS (the paper's §4): the conditional-entropy miner with a stage-specific
  threshold θ = λ_stage·H1 (recall and coarse λ = 1.2, fine 1.4), min-entropy DP
  segmentation, Pattern-Token sequences with the stage's special tokens (segment token T and,
  for fine ranking, item-behaviour tokens), the regenerator trained on (sequence, segment)
  pairs plus the mined patterns alone, K segments decoded per user and added as extra rows.
- ``unids-no-tc`` — ablation w/o threshold control: one θ for every stage, the recall stage's
  default λ (1.2) everywhere, so the fine stage loses its longer patterns. The rest as unids.
- ``unids-no-uf`` — ablation w/o uniform formalisation: the stage's θ, patterns and
  segmentation as unids, but no special tokens at all (no segment token T, no item-behaviour
  interleaving): the sequences are plain items. The regenerator learns from the same segments,
  which now end with eos instead of T, and decodes items only.
- ``unids-no-ug`` — ablation w/o uniform generation: the stage's PT sequences as unids, but no
  regenerator is trained and nothing is generated; the stage dataset is the original PT rows.
- ``dr4sr`` — DR4SR (Yin et al., KDD 2024; the paper's Appendix A.6.1): sliding-window
  patterns (every contiguous window of 2 … α = 5 items seen ≥ β = 2 times) instead of the
  conditional-entropy miner, so no entropy threshold and nothing per stage; no special tokens.
  Each sequence is cut into windows by greedy longest match against the window table (the
  windows carry no entropy, so the min-entropy DP cannot price them, and an entropy cost would
  bring back the entropy control DR4SR lacks). The same regenerator, diversity promoter
  included, trained on (sequence, window found in it) pairs only: DR4SR's pre-training set
  (`1.Build_pretraining_dataset.py`) pairs each sequence with patterns it contains and has no
  pattern-alone pairs.

This module imports nothing heavy (the CLI reads its names at start-up).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from unids.errors import UserError


@dataclass(frozen=True)
class DataMethod:
    """What a data-level method does. format_options: keyword arguments of
    `unids.formats.format_dataset` (FormatConfig fields) the method fixes for every stage;
    regenerate: train a regenerator and add its segments; pattern_pairs: train it on the
    mined patterns alone too (besides the (sequence, segment) pairs)."""

    name: str
    description: str
    format_options: MappingProxyType[str, Any] = field(
        default_factory=lambda: MappingProxyType({}))
    regenerate: bool = True
    pattern_pairs: bool = True


def _method(name: str, description: str, options: dict[str, Any] | None = None,
            **flags: bool) -> DataMethod:
    return DataMethod(name, description, MappingProxyType(dict(options or {})), **flags)


#: The data-level methods, in the order of the paper's tables.
DATA_METHODS: dict[str, DataMethod] = {
    method.name: method for method in (
        _method("dr4sr", "sliding-window patterns, no PT tokens, same regenerator",
                {"miner": "window", "special_tokens": False}, pattern_pairs=False),
        _method("unids", "entropy-controlled patterns per stage, PT tokens, regenerator"),
        _method("unids-no-tc", "w/o threshold control: the recall θ for every stage",
                {"theta_stage": "recall"}),
        _method("unids-no-uf", "w/o uniform formalisation: no special tokens",
                {"special_tokens": False}),
        _method("unids-no-ug", "w/o uniform generation: PT sequences, no regenerator",
                regenerate=False),
    )
}


def data_method(name: str) -> DataMethod:
    """The method called `name` (a UserError naming the choices otherwise)."""
    try:
        return DATA_METHODS[name]
    except KeyError:
        raise UserError(f"method must be one of {', '.join(DATA_METHODS)}, not {name!r}"
                        ) from None
