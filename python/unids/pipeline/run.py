"""From a prepared dataset to one stage dataset: format → pairs → regenerator (trained, or
loaded) → generate → assemble, timed step by step. `unids regenerate` calls this per stage.

    settings = RegenerateSettings(epochs=20)
    stage, summary = regenerate_stage(Dataset.load("prepared/ml-1m"), "recall",
                                      "regenerated/ml-1m/recall", settings)
    regenerate_stage(dataset, "fine", "regenerated/ml-1m-dr4sr/fine", settings, method="dr4sr")

`method` picks a data-level method of the comparison (`unids.baselines.methods`:
unids, dr4sr, unids-no-tc, unids-no-uf, unids-no-ug; docs/METHODS.md): it fixes some
`format_dataset` options and whether a regenerator runs at all. The stage dataset's manifest
records it, and `unids train --data` labels its record with it.

Output under the stage directory: the stage dataset itself (`stage.json`, `rows.parquet`,
`eval.parquet`, `vocabulary.json`), `regenerator/` (the run directory of
`fit_regenerator`: `regenerator.pt`, `checkpoint.pt`, `run.json`; absent when a regenerator
was given) and `generated/` (`segments.parquet`, `representations.parquet`, `manifest.json`).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch.distributed as dist

from unids.baselines.methods import DataMethod, data_method
from unids.data.dataset import Dataset
from unids.errors import UserError
from unids.formats import FormatResult, format_dataset
from unids.pipeline.assemble import StageDataset, assemble_stage
from unids.regen import (
    Generated,
    GenerationConfig,
    RegeneratorConfig,
    build_pairs,
    fit_regenerator,
    generate,
    load_regenerator,
    user_sources,
)
from unids.regen.backbone import backbone_item_table
from unids.regen.train import BATCHING, FINAL
from unids.train.distributed import setup

REGENERATOR_DIR = "regenerator"
#: How long the other torchrun ranks wait for rank 0 to generate and write a stage.
GENERATION_WAIT = timedelta(hours=12)
GENERATED_DIR = "generated"


@dataclass(frozen=True)
class RegenerateSettings:
    """Everything `regenerate_stage` needs besides the data. format_options: keyword arguments
    of `format_dataset` (theta_scale, source, …) for every stage; stage_format_options: per
    stage, on top."""

    regenerator: RegeneratorConfig = field(default_factory=RegeneratorConfig)
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    epochs: int = 20
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.01
    batching: str = "pairs"  # or "sources": `unids.regen.train`
    per_user: int = 8
    mix_ratio: float = 1.0
    seed: int = 0
    device: str = "auto"
    format_options: dict[str, Any] = field(default_factory=dict)
    stage_format_options: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.per_user < 1 or not self.lr > 0:
            raise UserError("need epochs ≥ 1, batch_size ≥ 1, per_user ≥ 1 and lr > 0")
        if self.batching not in BATCHING:
            raise UserError(f"batching must be one of {', '.join(BATCHING)}, not "
                            f"{self.batching!r}")
        if not 0.0 <= self.mix_ratio <= 1.0:
            raise UserError(f"mix_ratio must lie in [0, 1], not {self.mix_ratio}")

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def regenerate_stage(dataset: Dataset, stage: str, directory: str | Path,
                     settings: RegenerateSettings, *, method: str = "unids",
                     regenerator: str | Path | None = None,
                     init_from: str | Path | None = None,
                     progress: bool = True, resume: bool = False
                     ) -> tuple[StageDataset, dict[str, Any]]:
    """Runs the pipeline for one stage and writes it under `directory` (module docstring).
    method: the data-level method (`unids.baselines.methods.DATA_METHODS`). regenerator: a
    `regenerator.pt` / `checkpoint.pt` to use instead of training one. init_from: a `unids
    train` checkpoint whose item vectors start the regenerator's (`unids.regen.backbone`).
    resume: an interrupted call with the same settings left the regenerator's checkpoint in
    `directory`: its training continues from there (generation and assembly are redone).
    Returns (the stage dataset, a summary with counts and seconds per step).

    Under torchrun every process calls this: all train the regenerator together (DDP), then
    rank 0 alone generates and writes while the others wait at a barrier; they return the
    stage dataset read back and a summary of only stage, method, directory and rank."""
    spec = data_method(method)
    if regenerator is not None and not spec.regenerate:
        raise UserError(f"method {method} uses no regenerator; do not give one")
    if regenerator is not None and init_from is not None:
        raise UserError("a given regenerator is not trained: init_from has nothing to start")
    placement = setup(settings.device)
    directory = Path(directory)
    seconds: dict[str, float] = {}

    def timed(step: str, started: float) -> None:
        seconds[step] = round(time.perf_counter() - started, 3)

    started = time.perf_counter()
    options = format_options(spec, settings, stage)
    formatted = format_dataset(dataset, stage, **options)  # type: ignore[arg-type]
    timed("format", started)

    history: list[dict[str, Any]] = []
    n_pairs = 0
    regenerator_path: str | None = None
    generated: Generated | None = None
    if spec.regenerate:
        generated, n_pairs, regenerator_path, history = _regenerate(
            formatted, spec, directory, settings, regenerator, progress, timed,
            init_from=init_from, generate_here=placement.is_main, resume=resume)
    # NCCL's default timeout (10 minutes) could end the wait for a long generation: the
    # ranks wait on a CPU (gloo) group with a long one instead.
    waiting = dist.new_group(backend="gloo", timeout=GENERATION_WAIT) \
        if placement.world > 1 else None
    if not placement.is_main:
        dist.barrier(group=waiting)  # rank 0 generates and writes the stage dataset meanwhile
        return StageDataset.load(directory), {"stage": stage, "method": method,
                                              "directory": str(directory),
                                              "rank": placement.rank}

    started = time.perf_counter()
    stage_data = assemble_stage(dataset, formatted, generated, stage=stage,
                                mix_ratio=settings.mix_ratio, seed=settings.seed)
    stage_data.manifest["method"] = method
    stage_data.manifest["regenerator"] = {"path": regenerator_path, "history": history,
                                          "settings": settings.as_json(),
                                          "init_from": None if init_from is None
                                          else str(init_from)}
    stage_data.save(directory)
    timed("assemble_and_write", started)
    if waiting is not None:
        dist.barrier(group=waiting)  # the other ranks read the finished stage dataset

    counts = stage_data.manifest["counts"]
    summary = {
        "stage": stage,
        "method": method,
        "directory": str(directory),
        "patterns": counts["patterns"],
        "miner": formatted.manifest["mining"]["miner"],
        "theta": formatted.manifest["theta"],
        "special_tokens": formatted.manifest["special_tokens"],
        "source": formatted.manifest["source"]["used"],
        "pairs": n_pairs,
        "generated_segments": 0 if generated is None else generated.segments.num_rows,
        "generated_kept": counts["generated_rows"],
        "rows": {"before": counts["original_rows"], "after": counts["rows"]},
        "tokens": {"before": counts["original_tokens"], "after": counts["tokens"]},
        "regenerator": regenerator_path,
        "final_loss": history[-1]["loss"] if history else None,
        "notes": formatted.notes,
        "seconds": seconds,
    }
    return stage_data, summary


def format_options(spec: DataMethod, settings: RegenerateSettings, stage: str
                   ) -> dict[str, Any]:
    """The `format_dataset` options of one stage: the settings' ([format], then
    [format.<stage>]) and the method's. A setting that contradicts the method is an error."""
    given = {**settings.format_options, **settings.stage_format_options.get(stage, {})}
    for key, value in spec.format_options.items():
        if key in given and given[key] != value:
            raise UserError(f"method {spec.name} sets the format option {key} = {value!r}; "
                            f"the settings' {given[key]!r} contradicts it")
    return {**given, **spec.format_options}


def _regenerate(formatted: FormatResult, spec: DataMethod, directory: Path,
                settings: RegenerateSettings, regenerator: str | Path | None, progress: bool,
                timed: Callable[[str, float], None], *, init_from: str | Path | None = None,
                generate_here: bool = True, resume: bool = False
                ) -> tuple[Generated | None, int, str, list[dict[str, Any]]]:
    """pairs → regenerator (trained or loaded) → generate; returns (the generated segments,
    the number of pairs, the regenerator's path, the training history). generate_here=False
    (a DDP rank other than 0) stops after training and returns no segments."""
    started = time.perf_counter()
    config = settings.regenerator
    pairs = build_pairs(formatted, per_user=settings.per_user,
                        max_source_len=config.max_source_len,
                        max_target_len=config.max_target_len, with_patterns=spec.pattern_pairs,
                        seed=settings.seed)
    timed("pairs", started)

    started = time.perf_counter()
    history: list[dict[str, Any]] = []
    if regenerator is None:
        item_table = None if init_from is None else \
            backbone_item_table(init_from, formatted.vocabulary, config.dim, rescale=True)
        model, history = fit_regenerator(
            pairs, formatted.vocabulary.size, config, directory / REGENERATOR_DIR,
            epochs=settings.epochs, batch_size=settings.batch_size, lr=settings.lr,
            seed=settings.seed, device=settings.device, weight_decay=settings.weight_decay,
            batching=settings.batching, progress=progress, item_table=item_table,
            n_items=formatted.vocabulary.n_items, resume=resume)
        regenerator_path = str(directory / REGENERATOR_DIR / FINAL)
        timed("train_regenerator", started)
    else:
        model, _ = load_regenerator(regenerator, device=settings.device)
        if model.vocab_size != formatted.vocabulary.size:
            raise UserError(f"{regenerator}: a regenerator over {model.vocab_size} tokens, "
                            f"but this dataset's vocabulary has {formatted.vocabulary.size}")
        regenerator_path = str(regenerator)
        timed("load_regenerator", started)

    if not generate_here:
        return None, len(pairs), regenerator_path, history
    started = time.perf_counter()
    users, sources = user_sources(formatted.pt, model.config.max_source_len)
    # Plain item sequences (no special tokens) are decoded as plain items too.
    generation = dataclasses.replace(
        settings.generation,
        special_tokens=settings.generation.special_tokens
        and bool(formatted.manifest["special_tokens"]))
    generated = generate(model, users, sources, formatted.vocabulary, generation)
    generated.write(directory / GENERATED_DIR)
    timed("generate", started)
    return generated, len(pairs), regenerator_path, history
