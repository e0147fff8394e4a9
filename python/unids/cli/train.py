"""`unids train` and `unids evaluate`: fit a stage backbone on a prepared dataset, and score a
saved checkpoint again."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import click

from unids.baselines import METHODS
from unids.cli.options import emit, json_option
from unids.config import load_toml
from unids.errors import UserError

METRIC_ORDER = ("MRR", "HR@10", "HR@50", "HR@200", "NDCG@10", "NDCG@50", "NDCG@200", "AUC",
                "GAUC", "logloss", "logloss_calibrated")


def _settings(config_path: str | None, pairs: tuple[str, ...]) -> dict[str, Any]:
    """A TOML file's settings ([train] and [model] tables, plus top-level backbone/stage),
    then `--set key=value` pairs on top."""
    from unids.train.config import parse_value

    settings: dict[str, Any] = {}
    if config_path is not None:
        config = load_toml(config_path)
        for key, value in config.items():
            if key in ("train", "model") and isinstance(value, dict):
                settings.update({f"{key}.{name}": item for name, item in value.items()})
            elif not isinstance(value, dict):
                settings[key] = value
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--set")
        settings[key.strip()] = parse_value(value.strip())
    return settings


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")


def metrics_line(metrics: dict[str, float]) -> str:
    return "  ".join(f"{name} {metrics[name]:.4f}" for name in METRIC_ORDER if name in metrics)


@click.command()
@click.option("--data", "data_dir", required=True, type=click.Path(file_okay=False),
              help="A prepared dataset directory (see `unids data prepare`).")
@click.option("--backbone", type=click.Choice(["sasrec", "hstu", "llama2rec"]), default=None,
              help="Stage backbone (default: the config file's, else hstu).")
@click.option("--stage", type=click.Choice(["recall", "coarse", "fine"]), default=None,
              help="recall/coarse: next-item retrieval; fine: pointwise ranking "
                   "(default: the config file's, else recall).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="TOML with optional backbone/stage keys and [train] / [model] tables "
                   "(see configs/).")
@click.option("--set", "pairs", multiple=True, metavar="KEY=VALUE",
              help="Override a setting, repeatable: epochs=20, lr=0.002, model.dim=64.")
@click.option("--method", type=click.Choice(METHODS), default=None,
              help="The compared method (default: the config file's, else the one a stage "
                   "dataset was built with, else base): reppad and frec change retrieval "
                   "training; the others label the record (their data comes from "
                   "`unids regenerate --method`).")
@click.option("--seed", type=int, default=None, help="Random seed (default 0).")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Maximum epochs.")
@click.option("-o", "--output", "run_dir", type=click.Path(file_okay=False), default=None,
              help="Run directory for checkpoints and logs "
                   "(default runs/<dataset>-<backbone>-<stage>-<method>-s<seed>).")
@click.option("--results", "results_dir", type=click.Path(file_okay=False), default=None,
              help="Also write the run's record to this folder as one JSON file.")
@click.option("--resume", is_flag=True, help="Continue from the run directory's last checkpoint.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@json_option
def train(data_dir: str, backbone: str | None, stage: str | None, config_path: str | None,
          pairs: tuple[str, ...], method: str | None, seed: int | None, epochs: int | None,
          run_dir: str | None, results_dir: str | None, resume: bool, quiet: bool,
          as_json: bool) -> None:
    """Train a stage backbone on a prepared dataset and report validation and test metrics.

    Retrieval stages rank all items for each user (history masked) and stop early on
    validation NDCG@10; the fine stage trains a pointwise head (label from the dataset, e.g.
    rating ≥ 4) and stops early on validation AUC. Uses CUDA when present. Under
    `torchrun --nproc_per_node=N -m unids train …` it trains with DDP.

    \b
    Examples:
      unids train --data prepared/ml-1m --backbone hstu --stage recall
      unids train --data prepared/ml-1m --config configs/ml-1m-hstu.toml --seed 1
      unids train --data prepared/beauty --backbone sasrec --set epochs=50 --set model.dim=64
      unids train --data prepared/ml-1m --stage fine --results results/
      unids train --data prepared/ml-1m --method reppad --results results/
      unids train --data prepared/ml-1m -o runs/a --resume     # continue after a crash
    """
    from unids.io import write_json
    from unids.pipeline.assemble import stage_method
    from unids.train import TrainConfig, fit
    from unids.train.config import split_overrides
    from unids.train.distributed import teardown
    from unids.train.stage_data import load_task_data

    settings = _settings(config_path, pairs)
    backbone = backbone or str(settings.pop("backbone", "hstu"))
    settings.pop("backbone", None)
    stage = stage or str(settings.pop("stage", "recall"))
    settings.pop("stage", None)
    train_settings, model_settings = split_overrides(settings)
    train_settings["stage"] = stage
    if method is not None:
        train_settings["method"] = method
    elif "method" not in train_settings and (built_with := stage_method(data_dir)):
        train_settings["method"] = built_with  # a stage dataset: the method that built it
    if seed is not None:
        train_settings["seed"] = seed
    if epochs is not None:
        train_settings["epochs"] = epochs
    try:
        config = TrainConfig(**train_settings)
    except TypeError as error:
        raise UserError(f"unknown training setting: {error}") from None
    # A prepared dataset (base) or a stage dataset written by `unids regenerate`.
    data = load_task_data(data_dir,
                          behavior=None if config.behavior == "none" else config.behavior)
    method = config.method
    run_dir = run_dir or str(Path("runs") / _slug(
        f"{data.name}-{backbone}-{stage}-{config.method}-s{config.seed}"))
    try:
        record = fit(data, backbone, config, run_dir, model_overrides=model_settings,
                     resume=resume, progress=not quiet, method=method, dataset_dir=data_dir)
    finally:
        teardown()  # leave torchrun's process group cleanly (a no-op in a single process)
    record["run_dir"] = run_dir
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and int(os.environ.get("RANK", "0")) != 0:
        return  # under torchrun every process trains; rank 0 alone reports and writes --results
    if results_dir is not None:
        name = _slug(f"{record['dataset']}-{backbone}-{stage}-{method}-s{config.seed}") + ".json"
        write_json(record, Path(results_dir) / name)
    emit(record, as_json, [
        f"{record['dataset']} · {backbone} · {stage} · seed {config.seed} · "
        f"{record['epochs']} epochs (best {record['best_epoch']}) on {record['device']} in "
        f"{record['wall_time_s']:.0f} s",
        f"  valid  {metrics_line(record['valid'])}",
        f"  test   {metrics_line(record['test'])}",
        f"  run directory: {run_dir}",
        *[f"  note: {note}" for note in record["notes"]],
    ])


@click.command()
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.option("--data", "data_dir", default=None, type=click.Path(file_okay=False),
              help="Prepared dataset (default: the one the checkpoint was trained on).")
@click.option("--split", type=click.Choice(["valid", "test"]), default="test", show_default=True)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:1 …")
@json_option
def evaluate(checkpoint: str, data_dir: str | None, split: str, device: str,
             as_json: bool) -> None:
    """Evaluate a saved model (a run directory's best.pt or checkpoint.pt) on a split.

    \b
    Examples:
      unids evaluate runs/ml-1m-hstu-recall-base-s0/best.pt
      unids evaluate runs/ml-1m-hstu-fine-base-s0/best.pt --split valid --json
    """
    from unids.train.checkpoint import evaluate_checkpoint

    metrics = evaluate_checkpoint(checkpoint, data_dir=data_dir, split=split, device=device)
    emit(metrics, as_json, [f"{split}  {metrics_line(metrics)}"])

