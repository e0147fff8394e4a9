"""The methods of the paper's comparison (SPEC §8): what a record's `method` names.

Training-time baselines live here and switch on through `TrainConfig.method` (retrieval
stages; the fine stage trains them as `base`). Data-level methods are produced by the
regenerate pipeline as a stage dataset and then trained as `base` is; for them `method` only
labels the record.

- ``base``: the backbone on the original data.
- ``reppad``: RepPad, repeated instead of zero padding during training (`reppad`).
- ``frec``: FRec-style fatigued copies and a contrastive loss, weight α = 0.1 (`frec`).
- ``dr4sr``: DR4SR, sliding-window patterns (A.6.1) + the same regenerator without PT tokens
  and without entropy control (built by the regenerate pipeline).
- ``unids``: UniDS, entropy-controlled patterns, PT sequences and regenerated segments per
  stage (built by the regenerate pipeline).
- ``unids-no-tc``: ablation w/o TC, one θ for every stage.
- ``unids-no-uf``: ablation w/o UF, patterns only, no special tokens.
- ``unids-no-ug``: ablation w/o UG, segmentation only, no regenerator.

This module imports nothing heavy (the CLI reads METHODS at start-up); the implementations
are `unids.baselines.reppad` and `unids.baselines.frec` (training) and
`unids.baselines.methods` (what each data-level method changes in `unids regenerate`;
docs/METHODS.md).
"""

from __future__ import annotations

from unids.baselines.methods import DATA_METHODS, DataMethod, data_method

#: Every method a record may name, in the order of the paper's tables.
METHODS = ("base", "reppad", "frec", "dr4sr", "unids", "unids-no-tc", "unids-no-uf",
           "unids-no-ug")
#: The methods that change how a backbone is trained (the others change its data).
TRAINING_METHODS = ("reppad", "frec")

__all__ = ["DATA_METHODS", "METHODS", "TRAINING_METHODS", "DataMethod", "data_method"]
