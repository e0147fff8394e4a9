"""From a prepared dataset to one stage dataset: format → pairs → regenerator (trained, or
loaded) → generate → assemble, timed step by step. `unids regenerate` calls this per stage.

    settings = RegenerateSettings(epochs=20)
    stage, summary = regenerate_stage(Dataset.load("prepared/ml-1m"), "recall",
                                      "regenerated/ml-1m/recall", settings)

Output under the stage directory: the stage dataset itself (`stage.json`, `rows.parquet`,
`eval.parquet`, `vocabulary.json`), `regenerator/` (the run directory of
`fit_regenerator`: `regenerator.pt`, `checkpoint.pt`, `run.json`; absent when a regenerator
was given) and `generated/` (`segments.parquet`, `representations.parquet`, `manifest.json`).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unids.data.dataset import Dataset
from unids.errors import UserError
from unids.formats import format_dataset
from unids.pipeline.assemble import StageDataset, assemble_stage
from unids.regen import (
    GenerationConfig,
    RegeneratorConfig,
    build_pairs,
    fit_regenerator,
    generate,
    load_regenerator,
    user_sources,
)
from unids.regen.train import FINAL

REGENERATOR_DIR = "regenerator"
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
    per_user: int = 8
    mix_ratio: float = 1.0
    seed: int = 0
    device: str = "auto"
    format_options: dict[str, Any] = field(default_factory=dict)
    stage_format_options: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.per_user < 1 or not self.lr > 0:
            raise UserError("need epochs ≥ 1, batch_size ≥ 1, per_user ≥ 1 and lr > 0")
        if not 0.0 <= self.mix_ratio <= 1.0:
            raise UserError(f"mix_ratio must lie in [0, 1], not {self.mix_ratio}")

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def regenerate_stage(dataset: Dataset, stage: str, directory: str | Path,
                     settings: RegenerateSettings, *, regenerator: str | Path | None = None,
                     progress: bool = True) -> tuple[StageDataset, dict[str, Any]]:
    """Runs the pipeline for one stage and writes it under `directory` (module docstring).
    regenerator: a `regenerator.pt` / `checkpoint.pt` to use instead of training one.
    Returns (the stage dataset, a summary with counts and seconds per step)."""
    directory = Path(directory)
    seconds: dict[str, float] = {}

    def timed(step: str, started: float) -> None:
        seconds[step] = round(time.perf_counter() - started, 3)

    started = time.perf_counter()
    options = {**settings.format_options, **settings.stage_format_options.get(stage, {})}
    formatted = format_dataset(dataset, stage, **options)  # type: ignore[arg-type]
    timed("format", started)

    started = time.perf_counter()
    config = settings.regenerator
    pairs = build_pairs(formatted, per_user=settings.per_user,
                        max_source_len=config.max_source_len,
                        max_target_len=config.max_target_len, seed=settings.seed)
    timed("pairs", started)

    started = time.perf_counter()
    history: list[dict[str, Any]] = []
    if regenerator is None:
        model, history = fit_regenerator(
            pairs, formatted.vocabulary.size, config, directory / REGENERATOR_DIR,
            epochs=settings.epochs, batch_size=settings.batch_size, lr=settings.lr,
            seed=settings.seed, device=settings.device, weight_decay=settings.weight_decay,
            progress=progress)
        regenerator_path = str(directory / REGENERATOR_DIR / FINAL)
        timed("train_regenerator", started)
    else:
        model, _ = load_regenerator(regenerator, device=settings.device)
        if model.vocab_size != formatted.vocabulary.size:
            raise UserError(f"{regenerator}: a regenerator over {model.vocab_size} tokens, "
                            f"but this dataset's vocabulary has {formatted.vocabulary.size}")
        regenerator_path = str(regenerator)
        timed("load_regenerator", started)

    started = time.perf_counter()
    users, sources = user_sources(formatted.pt, model.config.max_source_len)
    generated = generate(model, users, sources, formatted.vocabulary, settings.generation)
    generated.write(directory / GENERATED_DIR)
    timed("generate", started)

    started = time.perf_counter()
    stage_data = assemble_stage(dataset, formatted, generated, stage=stage,
                                mix_ratio=settings.mix_ratio, seed=settings.seed)
    stage_data.manifest["regenerator"] = {"path": regenerator_path, "history": history,
                                          "settings": settings.as_json()}
    stage_data.save(directory)
    timed("assemble_and_write", started)

    counts = stage_data.manifest["counts"]
    summary = {
        "stage": stage,
        "directory": str(directory),
        "patterns": counts["patterns"],
        "theta": formatted.manifest["theta"],
        "source": formatted.manifest["source"]["used"],
        "pairs": len(pairs),
        "generated_segments": generated.segments.num_rows,
        "generated_kept": counts["generated_rows"],
        "rows": {"before": counts["original_rows"], "after": counts["rows"]},
        "tokens": {"before": counts["original_tokens"], "after": counts["tokens"]},
        "regenerator": regenerator_path,
        "final_loss": history[-1]["loss"] if history else None,
        "notes": formatted.notes,
        "seconds": seconds,
    }
    return stage_data, summary
