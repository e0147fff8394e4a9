"""`unids regenerate`: the stage datasets of a prepared dataset (SPEC §6–§7)."""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Any

import click
from tqdm.auto import tqdm

from unids.baselines.methods import DATA_METHODS
from unids.cli.options import emit, json_option
from unids.config import load_toml
from unids.errors import UserError

STAGE_CHOICES = ("recall", "coarse", "fine", "all")
TABLES = ("regenerator", "generation", "train", "format")
TRAIN_KEYS = ("epochs", "batch_size", "lr", "weight_decay", "batching", "per_user", "mix_ratio",
              "seed", "device")


def _build(config_path: str | None, epochs: int | None, memories: int | None,
           seed: int | None, mix_ratio: float | None, device: str | None,
           beam_size: int | None = None) -> Any:
    """RegenerateSettings from the TOML file, then the command-line options on top."""
    from unids.pipeline import RegenerateSettings
    from unids.regen import GenerationConfig, RegeneratorConfig

    config = load_toml(config_path) if config_path is not None else {}
    unknown = [key for key in config if key not in TABLES]
    if unknown:
        raise UserError(f"{config_path}: unknown table(s) {', '.join(map(repr, unknown))}; "
                        f"expected {', '.join(TABLES)}")
    tables = {name: dict(config.get(name, {})) for name in TABLES}
    train = tables["train"]
    if bad := [key for key in train if key not in TRAIN_KEYS]:
        raise UserError(f"{config_path}: unknown [train] setting(s) {', '.join(bad)}; "
                        f"expected {', '.join(TRAIN_KEYS)}")
    for key, value in (("epochs", epochs), ("seed", seed), ("mix_ratio", mix_ratio),
                       ("device", device)):
        if value is not None:
            train[key] = value
    model = tables["regenerator"]
    if memories is not None:
        model["memories"] = memories
    generation = tables["generation"]
    if beam_size is not None:
        generation["beam_size"] = beam_size
    if seed is not None or "seed" not in generation:
        generation["seed"] = train.get("seed", 0)
    formats = tables["format"]
    per_stage = {stage: dict(formats.pop(stage)) for stage in ("recall", "coarse", "fine")
                 if isinstance(formats.get(stage), dict)}
    try:
        return RegenerateSettings(regenerator=RegeneratorConfig(**model),
                                  generation=GenerationConfig(**generation),
                                  format_options=formats, stage_format_options=per_stage,
                                  **train)
    except TypeError as error:
        raise UserError(f"unknown setting in {config_path}: {error}") from None


def _regenerator_for(path: str | None, stage: str) -> Path | None:
    """A checkpoint file, or a directory holding `<stage>/regenerator/regenerator.pt` (an
    earlier output) or `regenerator.pt`."""
    from unids.pipeline.run import REGENERATOR_DIR
    from unids.regen.train import FINAL

    if path is None:
        return None
    given = Path(path)
    if given.is_file():
        return given
    for candidate in (given / stage / REGENERATOR_DIR / FINAL, given / FINAL):
        if candidate.is_file():
            return candidate
    raise UserError(f"{path}: no regenerator checkpoint (a regenerator.pt file, or a directory "
                    f"with {stage}/{REGENERATOR_DIR}/{FINAL} or {FINAL})")


@click.command()
@click.argument("dataset_dir", type=click.Path(file_okay=False))
@click.option("--stage", required=True, type=click.Choice(STAGE_CHOICES),
              help="Which stage dataset to build; all builds the three.")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False),
              help="Output directory: one stage dataset per stage in OUT/<stage>/, and "
                   "OUT/summary.json.")
@click.option("--method", type=click.Choice(list(DATA_METHODS)), default="unids",
              show_default=True,
              help="Data-level method: unids; dr4sr (sliding-window patterns, no special "
                   "tokens); the ablations unids-no-tc (one θ for every stage), unids-no-uf (no "
                   "special tokens), unids-no-ug (no regenerator). See docs/METHODS.md.")
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help="Regenerator training epochs (default 20).")
@click.option("--memories", type=click.IntRange(min=1), default=None,
              help="Number K of memories, hence segments decoded per user (default 5).")
@click.option("--seed", type=int, default=None,
              help="Seed of pairs, training, decoding and mixing (default 0).")
@click.option("--mix-ratio", type=click.FloatRange(0.0, 1.0), default=None,
              help="Fraction of the regenerated segments added to the stage dataset "
                   "(default 1).")
@click.option("--beam-size", type=click.IntRange(min=1), default=None,
              help="Decoding: 1 = greedy (default), else beam search of that width.")
@click.option("--regenerator", "regenerator_path", type=click.Path(exists=True), default=None,
              help="Use this trained regenerator (regenerator.pt, or an earlier OUT) instead "
                   "of training one.")
@click.option("--init-from", "init_from", type=click.Path(exists=True, dir_okay=False),
              default=None,
              help="Start the regenerator's item vectors from this `unids train` checkpoint "
                   "(best.pt / checkpoint.pt of a backbone trained on the same prepared "
                   "dataset, with the regenerator's dim), rescaled to the regenerator's "
                   "initial RMS (docs/REGENERATOR.md).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="TOML with [regenerator], [generation], [train] and [format] tables "
                   "([format.fine] for one stage).")
@click.option("--device", default=None, help="auto (default), cpu, cuda, cuda:1 …")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@json_option
def regenerate(dataset_dir: str, stage: str, output: str, method: str, epochs: int | None,
               memories: int | None, seed: int | None, mix_ratio: float | None,
               beam_size: int | None, regenerator_path: str | None, init_from: str | None,
               config_path: str | None, device: str | None, quiet: bool,
               as_json: bool) -> None:
    """Build stage datasets: format the training part for the stage, train the regenerator on
    (sequence, segment) pairs, decode K segments per user and add them, as extra short
    sequences of the same user, to the stage's PT training sequences.

    The validation and test items are never read by any of these steps. Each OUT/<stage>/ is
    a stage dataset that `unids train --data OUT/<stage>` reads, with the regenerator run
    (regenerator/) and the decoded segments and user representations (generated/) beside it.

    --method builds the data of another method of the comparison instead of UniDS's: dr4sr
    (sliding-window patterns, plain item sequences, the same regenerator), unids-no-tc (the
    recall θ for every stage), unids-no-uf (no special tokens), unids-no-ug (no regenerator:
    the PT sequences alone). The stage dataset records it and `unids train` labels its run
    with it.

    Under `torchrun --nproc_per_node=N -m unids regenerate …` the regenerator trains with DDP
    (the same weights as one process, up to float noise) and rank 0 alone generates, writes
    and reports.

    \b
    Examples:
      unids regenerate --stage recall prepared/ml-1m -o regenerated/ml-1m
      unids regenerate --stage all prepared/ml-1m -o regenerated/ml-1m --epochs 30 --memories 5
      unids regenerate --stage fine prepared/ml-1m -o out/ --mix-ratio 0.5 --seed 1 --json
      unids regenerate --stage recall prepared/ml-1m -o out/ --beam-size 4
      unids regenerate --stage coarse prepared/ml-1m -o out2/ --regenerator regenerated/ml-1m
      unids regenerate --stage all prepared/beauty -o out/ --config configs/regen.toml
      unids regenerate --stage all prepared/ml-1m -o regenerated/ml-1m-dr4sr --method dr4sr
      unids regenerate --stage fine prepared/ml-1m -o ablations/no-ug --method unids-no-ug
      unids regenerate --stage recall prepared/ml-100k -o out/ --init-from runs/sasrec/best.pt
      torchrun --nproc_per_node=2 -m unids regenerate --stage all prepared/ml-1m -o out/

    \b
    A --config file:
      [regenerator]        dim = 64, memories = 5, max_target_len = 12, entropy_sign = "reward"
      [generation]         gamma = 0.1, restrict_steps = 2, beam_size = 1, length_alpha = 1
      [train]              epochs = 20, batch_size = 256, lr = 0.001, per_user = 8,
                           batching = "sources"   (a user's pairs share a batch: faster)
      [format]             min_support = 2           (every stage)
      [format.fine]        theta_scale = 1.5         (one stage)
    """
    from unids.data.dataset import Dataset
    from unids.io import write_json
    from unids.pipeline import regenerate_stage
    from unids.train.distributed import teardown

    started = time.perf_counter()
    settings = _build(config_path, epochs, memories, seed, mix_ratio, device, beam_size)
    stages = ("recall", "coarse", "fine") if stage == "all" else (stage,)
    if regenerator_path is not None and not DATA_METHODS[method].regenerate:
        raise UserError(f"--method {method} uses no regenerator; drop --regenerator")
    if init_from is not None and (regenerator_path is not None
                                  or not DATA_METHODS[method].regenerate):
        raise UserError("--init-from starts a regenerator's training; with --regenerator or "
                        f"--method {method} none is trained")
    checkpoints = {name: _regenerator_for(regenerator_path, name) for name in stages}
    dataset = Dataset.load(dataset_dir)
    out = Path(output)
    summaries: dict[str, Any] = {}
    main_rank = int(os.environ.get("RANK", "0")) == 0
    bar = tqdm(stages, desc="stages", unit="stage",
               disable=quiet or len(stages) < 2 or not main_rank or None, dynamic_ncols=True)
    try:
        for name in bar:
            bar.set_postfix(stage=name)
            _, summaries[name] = regenerate_stage(dataset, name, out / name, settings,
                                                  method=method, regenerator=checkpoints[name],
                                                  init_from=init_from, progress=not quiet)
    finally:
        teardown()  # leave torchrun's process group cleanly (a no-op in a single process)
    bar.close()
    if not main_rank:
        return  # under torchrun rank 0 alone writes summary.json and reports
    summary = {"dataset": dataset.name, "dataset_dir": dataset_dir, "output": output,
               "method": method, "stages": summaries, "settings": dataclasses.asdict(settings),
               "seconds": round(time.perf_counter() - started, 3)}
    write_json(summary, out / "summary.json")
    lines = [f"{dataset.name}: {len(stages)} {method} stage dataset(s) in {output} "
             f"({summary['seconds']:.1f} s)"]
    for name, item in summaries.items():
        steps = ", ".join(f"{step} {value:.1f} s" for step, value in item["seconds"].items())
        lines += [
            f"  {name}: {item['patterns']} patterns, {item['pairs']} pairs, "
            f"{item['generated_segments']} segments generated ({item['generated_kept']} kept)",
            f"    rows {item['rows']['before']} → {item['rows']['after']}, tokens "
            f"{item['tokens']['before']} → {item['tokens']['after']}",
            f"    {steps}",
            *[f"    note: {note}" for note in item["notes"]],
        ]
    emit(summary, as_json, lines)
