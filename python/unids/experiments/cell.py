"""One cell of a comparison: a dataset, a backbone, a stage, a method and a seed, trained and
evaluated through the step cache, so that a cell already done costs nothing.

    cell = Cell(DatasetSource("synthetic"), "sasrec", "recall", "unids", seed=0,
                train={"epochs": 5}, model={"dim": 32})
    record = run_cell(cell, "runs/demo")
    record["test"]["HR@10"], record["config_hash"]

Where each method's data comes from:

* `base`, `reppad`, `frec` train on the prepared dataset itself; reppad and frec change the
  training (`TrainConfig.method`, `unids.baselines`). Their coarse cell is their recall
  cell's training: the same retrieval task on the same data, read through other metrics.
  RepPad and FRec change retrieval training only, so their fine cell is base's training.
* the data-level methods (`unids`, `dr4sr`, `unids-no-tc`, `unids-no-uf`, `unids-no-ug`;
  `unids.baselines.methods`) train on the stage dataset that
  `unids.pipeline.regenerate_stage(dataset, stage, directory, settings, method=…)` builds.
  That is the `regenerate` step, keyed by (dataset, stage, method, regenerate settings, seed)
  and not by the backbone, so every backbone of a grid reuses it. A method that formats
  recall and coarse ranking alike (DR4SR, w/o UF) builds one dataset for both (`data_stage`),
  and a method that builds another's stage dataset takes that one's regeneration and
  training (`data_twin`: w/o TC's recall and coarse cells are UniDS's, and its fine cell is
  UniDS's at the recall θ, the fig2 sweep's θ 1.2 fine cell).

The steps (each cached by `unids.experiments.artifacts.StepCache`): `dataset` (build or
fingerprint the data) → `regenerate` (data-level methods only) → `train` (fit, evaluate on
validation and test, `record.json`). The record is the training loop's (`unids.train.fit`,
the schema of `results/`) plus `experiment` and `config_hash` (the train step's key, which
covers every setting and input of the cell).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unids.baselines import METHODS, TRAINING_METHODS
from unids.baselines.methods import DATA_METHODS
from unids.errors import UserError
from unids.experiments.artifacts import StepCache
from unids.experiments.datasets import DatasetSource, dataset_key, prepare_dataset

if TYPE_CHECKING:
    from unids.pipeline import RegenerateSettings
    from unids.train import TrainConfig

STAGES = ("recall", "coarse", "fine")
#: The tables of regeneration settings, as `unids regenerate --config` has them, except that
#: the regenerator's training settings sit in [regenerate] (the [train] table is the backbone's).
REGENERATE_TABLES = ("regenerate", "regenerator", "generation", "format")
REGENERATE_KEYS = ("epochs", "batch_size", "lr", "weight_decay", "batching", "per_user",
                   "mix_ratio", "device")
#: Settings a cell fixes itself: a [train] table must not set them.
CELL_KEYS = ("stage", "seed", "method")


@dataclass(frozen=True)
class Cell:
    """dataset × backbone × stage × method × seed, and the settings that train it. train:
    TrainConfig fields; model: the backbone's config fields; regenerate: the tables of
    REGENERATE_TABLES (data-level methods only)."""

    dataset: DatasetSource
    backbone: str
    stage: str
    method: str
    seed: int = 0
    train: Mapping[str, Any] = field(default_factory=dict)
    model: Mapping[str, Any] = field(default_factory=dict)
    regenerate: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    experiment: str = "run"

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise UserError(f"method must be one of {', '.join(METHODS)}, not {self.method!r}")
        if self.stage not in STAGES:
            raise UserError(f"stage must be one of {', '.join(STAGES)}, not {self.stage!r}")
        if fixed := [key for key in CELL_KEYS if key in self.train]:
            raise UserError(f"[train] must not set {', '.join(fixed)}: a run sets them per "
                            "cell ([run] stages / methods / seeds, or --stage/--method/--seed)")
        if unknown := [name for name in self.regenerate if name not in REGENERATE_TABLES]:
            raise UserError(f"unknown regeneration table(s) {', '.join(unknown)}; expected "
                            f"{', '.join(REGENERATE_TABLES)}")

    @property
    def data_level(self) -> bool:
        """Whether the method's data is a stage dataset (built by the regenerate step)."""
        return self.method in DATA_METHODS

    def train_config(self) -> TrainConfig:
        from unids.train import TrainConfig

        try:
            return TrainConfig(**{**self.train, "stage": self.stage, "seed": self.seed,
                                  "method": self.method})
        except TypeError as error:
            raise UserError(f"unknown training setting: {error}") from None

    def model_config(self) -> Any:
        from unids.models import backbone_config

        return backbone_config(self.backbone, dict(self.model))

    def regenerate_settings(self) -> RegenerateSettings:
        return regenerate_settings(self.regenerate, self.seed)

    def validate(self) -> None:
        """Builds every config once, so that a bad setting stops a run before any work."""
        self.train_config()
        self.model_config()
        if self.data_level:
            from unids.formats import FormatConfig
            from unids.pipeline.run import format_options

            options = format_options(DATA_METHODS[self.method], self.regenerate_settings(),
                                     self.stage)
            try:
                FormatConfig(stage=self.stage, **options)  # type: ignore[arg-type]
            except TypeError as error:
                raise UserError(f"unknown [format] setting: {error}") from None


def regenerate_settings(tables: Mapping[str, Mapping[str, Any]], seed: int
                        ) -> RegenerateSettings:
    """RegenerateSettings from [regenerate], [regenerator], [generation] and [format] (with
    [format.<stage>] sub-tables); the seed is the cell's (and the decoder's, unless
    [generation] sets one)."""
    from unids.pipeline import RegenerateSettings
    from unids.regen import GenerationConfig, RegeneratorConfig

    training = dict(tables.get("regenerate", {}))
    if bad := [key for key in training if key not in REGENERATE_KEYS]:
        raise UserError(f"unknown [regenerate] setting(s) {', '.join(bad)}; expected "
                        f"{', '.join(REGENERATE_KEYS)}")
    formats = dict(tables.get("format", {}))
    per_stage = {stage: dict(formats.pop(stage)) for stage in STAGES
                 if isinstance(formats.get(stage), dict)}
    generation = {"seed": seed, **tables.get("generation", {})}
    try:
        return RegenerateSettings(regenerator=RegeneratorConfig(**tables.get("regenerator", {})),
                                  generation=GenerationConfig(**generation),
                                  format_options=formats, stage_format_options=per_stage,
                                  seed=seed, **training)
    except TypeError as error:
        raise UserError(f"unknown regeneration setting: {error}") from None


@dataclass(frozen=True)
class CellData:
    """The data a cell trains on: a prepared dataset or a stage dataset directory, the key
    of the step that made it, and (data-level methods) `regenerate_stage`'s summary."""

    directory: Path
    key: str
    summary: dict[str, Any] | None = None


def cell_data(cache: StepCache, cell: Cell, *, progress: bool = True) -> CellData:
    """The `dataset` step, then for a data-level method the `regenerate` step."""
    dataset_dir, dataset_step = prepare_dataset(cache, cell.dataset)
    if not cell.data_level:
        return CellData(dataset_dir, dataset_step.key)
    stage = data_stage(cell)
    method, settings = data_twin(cell)

    def produce(out: Path) -> dict[str, Any]:
        from unids.data.dataset import Dataset
        from unids.pipeline import regenerate_stage

        # `out` survives a crash (a resumable step): a rerun continues the regenerator's
        # training from its last epoch's checkpoint there.
        _, summary = regenerate_stage(Dataset.load(dataset_dir), stage, out, settings,
                                      method=method, progress=progress, resume=True)
        # Paths inside the temporary directory mean nothing once it is renamed.
        summary.pop("directory", None)
        if summary.get("regenerator"):
            summary["regenerator"] = str(Path(summary["regenerator"]).relative_to(out))
        return {"summary": summary}

    step = cache.run("regenerate", regenerate_step(cell), {"dataset": dataset_step.key},
                     produce, resumable=True)
    return CellData(step.directory, step.key, step.result["summary"])


def regenerate_step(cell: Cell) -> dict[str, Any]:
    """The regenerate step's config (its cache key, with the dataset step's key): the data
    twin's method and settings (`data_twin`), so that cells building one stage dataset share
    it."""
    (method, settings), stage = data_twin(cell), data_stage(cell)
    return {"stage": stage, "method": method,
            "settings": _regenerate_key(settings, method, stage)}


def training_key(cache: StepCache, cell: Cell) -> str:
    """The key of the train step a cell runs, which its record keeps as `config_hash`,
    worked out without building or training anything (the data's files are checksummed)."""
    data_key = dataset_key(cache, cell.dataset)
    if cell.data_level:
        data_key = cache.key("regenerate", regenerate_step(cell), {"dataset": data_key})
    return cache.key("train", train_step(cell)[1], {"data": data_key})


def data_stage(cell: Cell) -> str:
    """The stage whose stage dataset a data-level cell trains on: its own, or recall for a
    coarse cell whose method formats the two stages alike. DR4SR's window miner and w/o UF's
    plain sequences leave recall and coarse ranking nothing to differ in (one θ, no special
    tokens), so one regeneration serves both and their trainings are one (`train_step`).
    Fine ranking keeps its own: only a fine stage dataset carries labels."""
    if cell.stage != "coarse":
        return cell.stage
    settings = cell.regenerate_settings()
    same = _formatting(cell.method, settings, "coarse") == \
        _formatting(cell.method, settings, "recall")
    return "recall" if same else "coarse"


def data_twin(cell: Cell) -> tuple[str, RegenerateSettings]:
    """The data-level method whose regeneration (and so training) a data-level cell takes,
    and the settings it takes it with: the first of DATA_METHODS that builds the same stage
    dataset as the cell's method for its `data_stage` (the same formatting, regenerator and
    pattern pairs), either with the cell's settings or with the cell's θ scale set in them.
    That is the method itself, with its settings, unless another comes first.

    w/o TC gives every stage the recall θ. Recall and coarse ranking have that θ anyway, so
    there its cells are UniDS's; at fine ranking it is UniDS's fine cell at the recall θ
    scale, which the fig2 sweep runs too (θ 1.2). The same data trained twice differs only by
    run-to-run noise (docs/RESULTS.md measured it on table3-ml-100k and fig2-ml-100k)."""
    settings = cell.regenerate_settings()
    stage = data_stage(cell)
    own = _recipe(cell.method, settings, stage)
    candidates = (settings, _with_theta_scale(settings, own))
    return next((name, candidate) for name in DATA_METHODS for candidate in candidates
                if _recipe(name, candidate, stage) == own)


def _with_theta_scale(settings: RegenerateSettings, recipe: Any) -> RegenerateSettings:
    """`settings` with the recipe's resolved θ scale as the [format] theta_scale (where a
    fig2 sweep sets it), so that a method that takes its θ from another stage (w/o TC) can
    match a method at that θ; `settings` itself where the recipe has no θ (the window miner)."""
    if recipe is None or recipe[0].theta_scale is None:
        return settings
    options = {**settings.format_options, "theta_scale": recipe[0].theta_scale}
    return dataclasses.replace(settings, format_options=options)


def _recipe(method: str, settings: RegenerateSettings, stage: str) -> Any:
    """What decides a method's stage dataset: its formatting and whether (and on which
    pairs) a regenerator runs; None where the settings contradict the method."""
    spec = DATA_METHODS[method]
    try:
        formatting = _formatting(method, settings, stage)
    except UserError:
        return None
    return formatting, spec.regenerate, spec.pattern_pairs


def _formatting(method: str, settings: RegenerateSettings, stage: str) -> Any:
    """What `format_dataset` does for `stage`: the resolved FormatConfig, less the stage's
    name (which only labels the manifest)."""
    from unids.formats.stage import FormatConfig
    from unids.pipeline.run import format_options

    options = format_options(DATA_METHODS[method], settings, stage)
    resolved = FormatConfig(stage=stage, **options).resolved()  # type: ignore[arg-type]
    return dataclasses.replace(resolved, stage="recall", theta_stage=None)


def _regenerate_key(settings: RegenerateSettings, method: str, stage: str) -> dict[str, Any]:
    """The regenerate step's key: the settings, less a theta_scale that restates the stage's
    default, so that a fig2 sweep value equal to the default reuses the table1 cell that left
    it unset (a regeneration is the costliest step of a cell)."""
    from unids.formats.stage import STAGE_DEFAULTS
    from unids.pipeline.run import format_options

    key = settings.as_json()
    options = format_options(DATA_METHODS[method], settings, stage)
    default = STAGE_DEFAULTS[options.get("theta_stage") or stage].theta_scale
    if options.get("theta_scale") == default:
        key["format_options"].pop("theta_scale", None)
        key["stage_format_options"].get(stage, {}).pop("theta_scale", None)
    return key


def train_step(cell: Cell) -> tuple[TrainConfig, dict[str, Any]]:
    """The TrainConfig a cell trains with and the train step's config (its cache key, with
    the data step's key): experiments whose cells give the same config share the training."""
    config = cell.train_config()
    # Recall and coarse ranking train one task (next-item retrieval, early stopping on
    # validation NDCG@10) and differ only in the metrics a report reads. On one dataset (the
    # original data of base, reppad and frec; the one stage dataset of `data_stage`) the two
    # cells are therefore one training: the coarse cell takes the recall cell's.
    if cell.stage == "coarse" and (not cell.data_level or data_stage(cell) == "recall"):
        config = dataclasses.replace(config, stage="recall")
    # RepPad and FRec change retrieval training only (unids.train.loop): their fine-ranking
    # cells are the base cell's training. Shared, they equal base's exactly, instead of
    # differing by the last bits of another run (docs/TRAINING.md, determinism).
    if cell.stage == "fine" and cell.method in TRAINING_METHODS:
        config = dataclasses.replace(config, method="base")
    # A data-level method's training does not depend on its name, only on its data: a cell
    # on another method's stage dataset is that method's cell (`data_twin`).
    if cell.data_level:
        config = dataclasses.replace(config, method=data_twin(cell)[0])
    model = cell.model_config()
    train = dataclasses.asdict(config)
    # A train.max_len that restates the backbone's is the unset default, keyed as such, so
    # that the table2 sweep's longest value reuses the table1 cell that left it unset.
    if train.get("max_len") is not None and train["max_len"] == getattr(model, "max_len", None):
        train["max_len"] = None
    # RepPad's timestamps came after records were keyed and matter to RepPad's training
    # only: keyed there, unless they are the original times every earlier key was made with.
    if config.method != "reppad" or train["reppad_times"] == "original":
        del train["reppad_times"]
    # Likewise HSTU's attention_segments, keyed only when set (other backbones lack it).
    model_settings = dataclasses.asdict(model)
    if model_settings.get("attention_segments") is False:
        del model_settings["attention_segments"]
    return config, {"backbone": cell.backbone, "stage": config.stage, "method": config.method,
                    "seed": cell.seed, "train": train, "model": model_settings}


def run_cell(cell: Cell, workdir: str | Path | None = None, *, cache: StepCache | None = None,
             progress: bool = True, records: Mapping[str, dict[str, Any]] | None = None
             ) -> dict[str, Any]:
    """Trains and evaluates one cell (module docstring) and returns its record. Give a
    `workdir` or a shared `cache` (which then decides the work directory).

    records: finished records by `config_hash` (`records_by_training`). A cell whose training
    is not in the cache but has a record there takes that record instead of training again:
    a grid sharded over machines brings back records, not the machines' step caches, and a
    later grid (Table 3's UniDS row, Fig. 2's default θ) repeats many of their trainings."""
    from unids.train import fit
    from unids.train.loop import CHECKPOINT, RECORD

    if cache is None:
        if workdir is None:
            raise ValueError("run_cell needs a workdir or a cache")
        cache = StepCache(workdir)
    cell.validate()
    config, step_config = train_step(cell)
    if records:
        key = training_key(cache, cell)
        if cache.lookup("train", key) is None and key in records:
            return _cell_record(cell, config, key, _as_trained(records[key], config))
    data = cell_data(cache, cell, progress=progress)

    def produce(out: Path) -> dict[str, Any]:
        from unids.train.stage_data import load_task_data

        task = load_task_data(data.directory,
                              behavior=None if config.behavior == "none" else config.behavior)
        # `out` survives a crash (a resumable step): a rerun continues from its checkpoint.
        fit(task, cell.backbone, config, out, model_overrides=dict(cell.model), resume=True,
            progress=progress, dataset_dir=str(data.directory))
        (out / CHECKPOINT).unlink(missing_ok=True)  # resume state; best.pt stays
        return {"record": RECORD}

    step = cache.run("train", step_config, {"data": data.key}, produce, resumable=True)
    record = json.loads((step.directory / RECORD).read_text())
    return _cell_record(cell, config, step.key, record)


#: In every note that says a cell is another one's training, so that a record reused for
#: another cell (`_as_trained`) can drop them and take that cell's own.
SHARED_NOTE = "unids.experiments.cell"
#: Begins the note of a record taken from another cell's record of the same training.
REUSED_NOTE = "not trained again: the record of the same training"


def _cell_record(cell: Cell, config: TrainConfig, key: str, record: dict[str, Any]
                 ) -> dict[str, Any]:
    """A training's record as `cell`'s: its experiment and config_hash, and where the cell
    is another one's training (config's stage or method is not the cell's), the cell's own
    stage and method with a note saying whose training it is."""
    record = {**record, "experiment": cell.experiment, "config_hash": key}
    if config.stage != cell.stage:
        record["stage"] = cell.stage
        record["notes"] = [*record.get("notes", []), "coarse ranking on the recall cell's data "
                           f"is the recall cell's training (one task; {SHARED_NOTE})"]
    if config.method != cell.method:
        record["method"] = cell.method
        note = (f"{cell.method} builds {config.method}'s {data_stage(cell)} stage dataset"
                f"{_twin_theta(cell)}: its cell is the {config.method} cell's training"
                if cell.data_level else f"{cell.method} changes retrieval training only: its "
                "fine-ranking cell is the base cell's training")
        record["notes"] = [*record.get("notes", []), f"{note} ({SHARED_NOTE})"]
    return record


def _twin_theta(cell: Cell) -> str:
    """" at theta_scale x" where a cell's data twin takes it at a θ scale the cell's
    settings do not set (w/o TC's fine cell: UniDS's at the recall θ); "" otherwise."""
    _, settings = data_twin(cell)
    if settings == cell.regenerate_settings():
        return ""
    return f" at theta_scale {settings.format_options['theta_scale']}"


def reused_from(record: Mapping[str, Any]) -> str | None:
    """The experiment whose record of the same training `record` was taken from
    (`_as_trained`'s note), or None for a record of its own training."""
    prefix = f"{REUSED_NOTE}, cell "
    for note in record.get("notes", []):
        if isinstance(note, str) and note.startswith(prefix) and " of experiment " in note:
            return note.rsplit(" of experiment ", 1)[1]
    return None


def _as_trained(record: dict[str, Any], config: TrainConfig) -> dict[str, Any]:
    """Another cell's record of a training, as the training's own: its stage and method,
    without the notes of that cell's sharing, and a note naming the record it came from."""
    notes = [note for note in record.get("notes", []) if SHARED_NOTE not in note]
    if not any(note.startswith(REUSED_NOTE) for note in notes):  # the first record's name
        source = record.get("cell") or f"{record.get('stage')}/{record.get('method')}"
        notes.append(f"{REUSED_NOTE}, cell {source} of experiment "
                     f"{record.get('experiment', '?')}")
    trained = {**record, "stage": config.stage, "method": config.method, "notes": notes}
    for added in ("cell", "sweep"):  # the reusing cell's grid sets its own
        trained.pop(added, None)
    return trained


def records_by_training(records: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Finished records by `config_hash` (the train step's key; records without one are
    left out). Several records of one training are one result: the first is kept."""
    by_key: dict[str, dict[str, Any]] = {}
    for record in records:
        if isinstance(key := record.get("config_hash"), str):
            by_key.setdefault(key, record)
    return by_key
