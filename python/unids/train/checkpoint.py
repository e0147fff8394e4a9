"""Loading a saved run again: rebuild the model from the checkpoint's own metadata."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch

from unids.errors import InputError, UserError
from unids.models import Vocab, build_backbone
from unids.train.batches import eval_tensors
from unids.train.config import TrainConfig
from unids.train.distributed import pick_device
from unids.train.evaluate import evaluate_splits
from unids.train.model import RankingModel


def load_checkpoint(path: str | Path, device: torch.device) -> tuple[RankingModel, dict[str, Any]]:
    """(model with the saved weights, the run's metadata)."""
    try:
        saved = torch.load(path, map_location=device, weights_only=False)
        meta = saved["meta"]
    except FileNotFoundError:
        raise InputError(str(path), "no such checkpoint") from None
    except (OSError, RuntimeError, KeyError, EOFError, TypeError,
            pickle.UnpicklingError) as error:  # a damaged file, or another program's
        raise InputError(str(path), f"not a unids checkpoint ({error})") from None
    config = TrainConfig(**meta["train_config"])
    try:
        backbone = build_backbone(meta["backbone"], Vocab(**meta["vocab"]), meta["model_config"])
        model = RankingModel(backbone, with_head=not config.retrieval, amp=config.amp).to(device)
        model.load_state_dict(saved["model"])
    except (UserError, RuntimeError, TypeError, ValueError) as error:
        # E.g. a checkpoint of an older unids whose layers had other parameters.
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        raise InputError(str(path), f"its {meta['backbone']} weights do not fit this version of "
                         f"unids (written by an older one? retrain it): {first_line}") from None
    return model, meta


def evaluate_checkpoint(path: str | Path, *, data_dir: str | None = None, split: str = "test",
                        device: str = "auto") -> dict[str, Any]:
    """A saved model's metrics on one split of its dataset (or of `data_dir`)."""
    return score_checkpoint(path, data_dir=data_dir, split=split, device=device)[0]


def score_checkpoint(path: str | Path, *, data_dir: str | None = None, split: str = "test",
                     device: str = "auto") -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(metrics on `split`, calibration): as `evaluate_checkpoint`, plus how fine ranking's
    test `logloss_calibrated` was fitted (`evaluate_splits`; None where nothing was)."""
    from unids.train.stage_data import load_task_data

    model, meta = load_checkpoint(path, pick_device(device))
    config = TrainConfig(**meta["train_config"])
    directory = data_dir or meta.get("dataset_dir")
    if directory is None:
        raise UserError(f"{path}: the checkpoint does not say which dataset it was trained on; "
                        "pass --data")
    # A prepared dataset or a stage dataset (`unids regenerate`'s, which UniDS cells train on).
    data = load_task_data(directory,
                          behavior=None if config.behavior == "none" else config.behavior)
    if data.n_items != model.backbone.vocab.n_items:
        raise UserError(f"{directory} has {data.n_items} items but the checkpoint was trained "
                        f"on {model.backbone.vocab.n_items}: not the same dataset")
    max_len = config.max_len or meta["model_config"]["max_len"]
    device_of_model = next(model.parameters()).device
    # Fine ranking's test logloss is also reported calibrated on validation, as in training's
    # record (evaluate_splits); that needs the validation split beside test.
    calibrate = (split == "test" and not config.retrieval
                 and config.protocol != "leave-last-out" and "valid" in data.cases)
    splits = ("valid", "test") if calibrate else (split,)
    cases = {name: eval_tensors(data.cases[name], max_len, device_of_model,
                                model.backbone.vocab.n_items) for name in splits}
    metrics, calibration = evaluate_splits(model, cases, splits, retrieval=config.retrieval,
                                           batch_size=config.eval_batch_size,
                                           negatives=config.fine_negatives, seed=config.seed)
    return metrics[split], calibration
