"""A retrieval checkpoint and its training rows, for the scripts that probe what a trained
model does on them (reppad_copying.py, frec_fatigue.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click
import torch

from unids.models import Backbone
from unids.train.batches import TrainTensors, train_tensors
from unids.train.checkpoint import load_checkpoint
from unids.train.config import TrainConfig
from unids.train.loop import objective_of
from unids.train.stage_data import load_task_data


@dataclass
class RetrievalCheckpoint:
    backbone: Backbone  # in eval mode, on the CPU
    config: TrainConfig
    train: TrainTensors  # each user's last window of `width` positions
    width: int
    temperature: float  # the retrieval loss's: logits are ⟨output(h), e⟩ / temperature
    epoch: int | None


def retrieval_checkpoint(path: Path) -> RetrievalCheckpoint:
    """Load `path` (a `best.pt` or `checkpoint.pt` of a retrieval run) with its dataset."""
    model, meta = load_checkpoint(path, torch.device("cpu"))
    model.eval()
    config = TrainConfig(**meta["train_config"])
    if not config.retrieval:
        raise click.UsageError(f"{path}: a fine-ranking checkpoint; this needs retrieval")
    data = load_task_data(meta["dataset_dir"], behavior=None)
    width = config.max_len or meta["model_config"]["max_len"]
    saved = torch.load(path, map_location="cpu", weights_only=False)
    return RetrievalCheckpoint(
        backbone=model.backbone, config=config,
        train=train_tensors(data, width, torch.device("cpu"), window="last"), width=width,
        temperature=objective_of(config, model.backbone.normalize, data.n_items).temperature,
        epoch=saved.get("epoch") or saved.get("state", {}).get("epoch"))
