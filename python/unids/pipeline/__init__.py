"""The end of the data pipeline (SPEC §7): one dataset per stage = the original training
sequences, PT-formatted for that stage, ∪ the regenerated segments.

    formatted = format_dataset(dataset, "recall")
    stage = assemble_stage(dataset, formatted, generated, stage="recall", mix_ratio=1.0)
    stage.save("regenerated/ml-1m/recall")
    data = unids.train.stage_data.stage_task_data(StageDataset.load("regenerated/ml-1m/recall"))

`regenerate_stage` runs format → pairs → regenerator → generate → assemble in one call.
"""

from __future__ import annotations

from unids.pipeline.assemble import StageDataset, assemble_stage
from unids.pipeline.run import RegenerateSettings, regenerate_stage

__all__ = ["RegenerateSettings", "StageDataset", "assemble_stage", "regenerate_stage"]
