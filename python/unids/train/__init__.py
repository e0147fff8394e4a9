"""Training and evaluation of the stage backbones (SPEC §7).

    data = task_data(Dataset.load("prepared/ml-1m"))
    record = fit(data, "hstu", TrainConfig(stage="recall", seed=0), "runs/ml-1m-hstu")
    record["test"]["NDCG@10"]
"""

from __future__ import annotations

from unids.train.config import STAGES, TrainConfig
from unids.train.data import Ragged, TaskData, task_data
from unids.train.loop import fit

__all__ = ["STAGES", "Ragged", "TaskData", "TrainConfig", "fit", "task_data"]
