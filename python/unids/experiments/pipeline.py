"""`unids run`: the whole pipeline for one dataset and one backbone, resumable step by step.

    config = load_run_config("configs/ml-1m-hstu.toml", overrides=["run.seeds=0,1"])
    outcome = run_pipeline(config, force={"train"})
    outcome.results_path, outcome.report_path       # <workdir>/results.json, report.md

Steps (each cached under `<workdir>/<step>/<key12>/`, `unids.experiments.artifacts`):

    dataset     build (synthetic, raw file + loader) or fingerprint (prepared directory)
    quality     the data-quality report of `unids data stats` (entropy, Π_max, PNGs)
    regenerate  per stage × data-level method × seed: mine with the stage's θ → segment →
                PT format → regenerator → generate → assemble (`regenerate_stage`)
    train       per stage × method × seed: fit the backbone, evaluate validation and test

then, always rewritten from the records: `results.json` (every record, each step's seconds
and whether it was cached), `report.md` (one table per stage: method × the stage's metrics,
mean ± std over seeds, change against base, paired t-test marker) and `plots/*.png`.

The config file (TOML) is the one `unids train --config` reads — top-level `backbone`,
[train] and [model] tables — plus the tables of `unids regenerate --config` ([regenerator],
[generation], [format], and [regenerate] for the regenerator's epochs, batch_size, lr, …)
and a [run] table:

    [run]
    dataset = "ml-1m"             # "synthetic", a prepared directory, a name, or a raw path
    loader = "csv"                # for a raw path; loader_options = { item_col = "movie" }
    methods = ["base", "unids"]   # default; any of unids.baselines.METHODS
    stages = ["recall", "coarse", "fine"]   # default: all three
    seeds = [0]
    workdir = "runs/ml-1m-hstu"   # default runs/<dataset>-<backbone>
    quality = true                # the quality step (default on)
    [run.synthetic]               # PlantedSettings of the synthetic dataset
    [run.fine.train]              # per-stage [train] / [model] overrides
    [run.fine.model]

A top-level `dataset` works as [run] dataset. The top-level `stage` is `unids train`'s and is
not read here. `--set key=value` sets any of it: a bare key is a training field (else a model
field) as in `unids train`; a dotted key names its table (`model.dim=64`, `run.seeds=0,1`,
`regenerator.memories=3`, `format.fine.theta_scale=1.5`, `run.synthetic.n_users=300`).
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unids import __version__
from unids.baselines import METHODS
from unids.config import load_toml
from unids.errors import UserError
from unids.experiments.artifacts import StepCache
from unids.experiments.cell import REGENERATE_TABLES, STAGES, Cell, cell_data, run_cell
from unids.experiments.datasets import SYNTHETIC, DatasetSource, prepare_dataset
from unids.experiments.tables import STAGE_METRICS, markdown_table, stage_table, summarize
from unids.io import atomic_path, write_json

STEPS = ("dataset", "quality", "regenerate", "train")
DEFAULT_METHODS = ("base", "unids")
RESULTS = "results.json"
REPORT = "report.md"
PLOTS = "plots"
TABLES = ("train", "model", "run", *REGENERATE_TABLES)
TOP_LEVEL_KEYS = ("dataset", "backbone", "stage")
RUN_KEYS = ("dataset", "loader", "loader_options", "synthetic", "methods", "stages", "seeds",
            "workdir", "experiment", "quality", "plots", *STAGES)
LIST_KEYS = ("methods", "stages", "seeds")


@dataclass(frozen=True)
class RunConfig:
    """Everything `run_pipeline` needs (module docstring). train / model: flat settings for
    every stage; stage_train / stage_model: per stage, on top."""

    source: DatasetSource
    backbone: str = "hstu"
    methods: tuple[str, ...] = DEFAULT_METHODS
    stages: tuple[str, ...] = STAGES
    seeds: tuple[int, ...] = (0,)
    train: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)
    stage_train: dict[str, dict[str, Any]] = field(default_factory=dict)
    stage_model: dict[str, dict[str, Any]] = field(default_factory=dict)
    regenerate: dict[str, dict[str, Any]] = field(default_factory=dict)
    workdir: Path | None = None
    experiment: str = "run"
    quality: bool = True
    plots: bool = True

    def __post_init__(self) -> None:
        for name, values, allowed in (("method", self.methods, METHODS),
                                      ("stage", self.stages, STAGES)):
            if not values:
                raise UserError(f"no {name}s to run")
            if bad := [v for v in values if v not in allowed]:
                raise UserError(f"unknown {name}(s) {', '.join(map(repr, bad))}; choose from "
                                f"{', '.join(allowed)}")
        if not self.seeds:
            raise UserError("no seeds to run")

    @property
    def directory(self) -> Path:
        """The work directory: as given, else runs/<dataset>-<backbone>."""
        if self.workdir is not None:
            return Path(self.workdir)
        name = Path(self.source.spec.rstrip("/")).name or self.source.spec
        return Path("runs") / _slug(f"{name}-{self.backbone}")

    def cells(self) -> list[Cell]:
        """stage × method × seed, in that order."""
        return [Cell(self.source, self.backbone, stage, method, seed,
                     train={**self.train, **self.stage_train.get(stage, {})},
                     model={**self.model, **self.stage_model.get(stage, {})},
                     regenerate=self.regenerate, experiment=self.experiment)
                for stage in self.stages for method in self.methods for seed in self.seeds]

    def as_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["workdir"] = str(self.directory)
        return out


def load_run_config(path: str | None = None, *, overrides: Sequence[str] = (),
                    dataset: str | None = None, backbone: str | None = None,
                    methods: Sequence[str] = (), stages: Sequence[str] = (),
                    seeds: Sequence[int] = (), workdir: str | None = None) -> RunConfig:
    """A RunConfig from a TOML file (optional), `--set` overrides and the command line's
    options, in that order of precedence (the last wins). Every cell's settings are checked
    here, so a bad value stops the run before any work."""
    raw: dict[str, Any] = load_toml(path) if path is not None else {}
    for pair in overrides:
        _apply_override(raw, pair)
    return run_config_from_dict(raw, path or "the settings", dataset=dataset,
                                backbone=backbone, methods=methods, stages=stages, seeds=seeds,
                                workdir=workdir)


def run_config_from_dict(raw: Mapping[str, Any], where: str, *, dataset: str | None = None,
                         backbone: str | None = None, methods: Sequence[str] = (),
                         stages: Sequence[str] = (), seeds: Sequence[int] = (),
                         workdir: str | None = None) -> RunConfig:
    """`load_run_config` on settings already read (the TOML file's dict, overrides
    applied); `where` names them in errors. Experiments build one per grid row."""
    for key, value in raw.items():
        if isinstance(value, dict):
            if key not in TABLES:
                raise UserError(f"{where}: unknown table [{key}]; expected "
                                f"{', '.join(f'[{t}]' for t in TABLES)}")
        elif key not in TOP_LEVEL_KEYS:
            raise UserError(f"{where}: unknown top-level key {key!r}; expected "
                            f"{', '.join(TOP_LEVEL_KEYS)} or a table")
    run = dict(raw.get("run", {}))
    if bad := [key for key in run if key not in RUN_KEYS]:
        raise UserError(f"{where}: unknown [run] key(s) {', '.join(bad)}; expected "
                        f"{', '.join(RUN_KEYS)}")
    spec = dataset or run.get("dataset") or raw.get("dataset")
    if spec is None:
        raise UserError("no dataset: give --dataset, [run] dataset in --config, or "
                        f"--set dataset=… (\"{SYNTHETIC}\" needs no files)")
    synthetic = dict(run.get("synthetic", {})) if str(spec) == SYNTHETIC else {}
    if run.get("synthetic") and str(spec) != SYNTHETIC:
        raise UserError(f"[run.synthetic] applies to dataset {SYNTHETIC!r}, not {spec!r}")
    source = DatasetSource(str(spec), loader=run.get("loader"),
                           loader_options=dict(run.get("loader_options", {})),
                           synthetic=synthetic)
    stage_train, stage_model = {}, {}
    for stage in STAGES:
        tables = run.get(stage, {})
        if bad := [key for key in tables if key not in ("train", "model")]:
            raise UserError(f"{where}: [run.{stage}] holds [run.{stage}.train] and "
                            f"[run.{stage}.model] only, not {', '.join(bad)}")
        stage_train[stage] = dict(tables.get("train", {}))
        stage_model[stage] = dict(tables.get("model", {}))
    config = RunConfig(
        source=source,
        backbone=str(backbone or raw.get("backbone", "hstu")),
        methods=tuple(methods) or tuple(_as_list(run.get("methods", DEFAULT_METHODS))),
        stages=tuple(stages) or tuple(_as_list(run.get("stages", STAGES))),
        seeds=tuple(seeds) or tuple(_seeds(run.get("seeds", [0]))),
        train=dict(raw.get("train", {})),
        model=dict(raw.get("model", {})),
        stage_train=stage_train, stage_model=stage_model,
        regenerate={name: dict(raw[name]) for name in REGENERATE_TABLES if name in raw},
        workdir=Path(workdir or run["workdir"]) if workdir or run.get("workdir") else None,
        experiment=str(run.get("experiment", "run")),
        quality=bool(run.get("quality", True)),
        plots=bool(run.get("plots", True)),
    )
    for cell in config.cells():
        cell.validate()
    return config


def _apply_override(raw: dict[str, Any], pair: str) -> None:
    """`key=value` onto the TOML dict (module docstring for the key forms)."""
    from unids.train.config import TrainConfig, parse_value

    key, separator, text = pair.partition("=")
    key = key.strip()
    if not separator or not key:
        raise UserError(f"--set: expected KEY=VALUE, got {pair!r}")
    value = parse_value(text.strip())
    if "." not in key:
        train_fields = {f.name for f in dataclasses.fields(TrainConfig)}
        if key in ("dataset", "backbone"):
            raw[key] = value
            return
        path = ["train" if key in train_fields else "model", key]
    else:
        path = key.split(".")
    if path[0] not in TABLES:
        raise UserError(f"--set {key}: unknown table {path[0]!r}; expected "
                        f"{', '.join(TABLES)} (or a bare training / model setting)")
    table = raw
    for part in path[:-1]:
        table = table.setdefault(part, {})
        if not isinstance(table, dict):
            raise UserError(f"--set {key}: {part!r} is a value, not a table")
    if path[0] == "run" and len(path) == 2 and path[1] in LIST_KEYS and isinstance(value, str):
        value = [item.strip() for item in value.split(",") if item.strip()]
    table[path[-1]] = value


def _as_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    if isinstance(value, list | tuple):
        return [str(item) for item in value]
    return [str(value)]


def _seeds(value: Any) -> list[int]:
    try:
        return [int(item) for item in (_as_list(value) if not isinstance(value, int)
                                       else [value])]
    except ValueError:
        raise UserError(f"seeds must be integers, not {value!r}") from None


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")


@dataclass
class RunOutcome:
    """What a run produced: the records, the step log, the files written."""

    config: RunConfig
    records: list[dict[str, Any]]
    steps: list[dict[str, Any]]
    data: list[dict[str, Any]]
    quality: dict[str, Any] | None
    seconds: float
    workdir: Path
    results_path: Path
    report_path: Path
    plots: list[Path]

    def tables(self) -> list[tuple[str, list[str], list[list[str]]]]:
        """(stage, headers, rows) for every stage run."""
        groups = summarize(self.records)
        return [(stage, *stage_table(groups, stage)) for stage in self.config.stages]


def run_pipeline(config: RunConfig, *, force: Iterable[str] = (), progress: bool = True,
                 inner_progress: bool | None = None,
                 echo: Callable[[str], None] | None = None) -> RunOutcome:
    """Runs (or finds done) every step of `config` and writes results.json, report.md and
    the plots in its work directory (module docstring). progress: a bar over the cells;
    inner_progress: the bars of the steps themselves (default: as progress). `echo` gets
    one line per step."""
    from tqdm.auto import tqdm

    force = set(force)
    if bad := sorted(force - set(STEPS)):
        raise UserError(f"--force: unknown step(s) {', '.join(bad)}; the steps are "
                        f"{', '.join(STEPS)}")
    say = echo or (lambda _line: None)
    steps_progress = progress if inner_progress is None else inner_progress
    started = time.perf_counter()
    workdir = config.directory
    cache = StepCache(workdir, force=force)
    dataset_dir, dataset_step = prepare_dataset(cache, config.source)
    say(f"dataset: {dataset_dir} ({_how(dataset_step.cached, dataset_step.seconds)})")

    quality = None
    if config.quality:
        quality = _quality(cache, dataset_dir, dataset_step.key, config.plots)
        say(f"quality: {workdir / 'quality'} ({_how(quality['cached'], quality['seconds'])})")

    cells = config.cells()
    records, data = [], []
    bar = tqdm(cells, desc="cells", unit="cell", disable=not progress or None,
               dynamic_ncols=True)
    for cell in bar:
        bar.set_postfix(stage=cell.stage, method=cell.method, seed=cell.seed)
        cell_input = cell_data(cache, cell, progress=steps_progress)
        if cell_input.summary is not None:
            summary = cell_input.summary
            data.append({"stage": cell.stage, "method": cell.method, "seed": cell.seed,
                         "key": cell_input.key, **summary})
            made = cache.log[("regenerate", cell_input.key)]
            say(f"{cell.stage} · {cell.method} · seed {cell.seed}: {summary['patterns']} "
                f"patterns, rows {summary['rows']['before']} → {summary['rows']['after']} "
                f"({_how(made['cached'], made['seconds'])})")
        record = run_cell(cell, cache=cache, progress=steps_progress)
        records.append(record)
        trained = cache.log[("train", record["config_hash"])]
        say(f"{cell.stage} · {cell.method} · seed {cell.seed}: "
            + "  ".join(f"{name} {record['test'][name]:.4f}"
                        for name in STAGE_METRICS[cell.stage] if name in record["test"])
            + f" ({_how(trained['cached'], record['wall_time_s'])})")
    bar.close()

    seconds = round(time.perf_counter() - started, 3)
    steps = list(cache.log.values())
    results = {
        "experiment": config.experiment, "created_by": f"unids {__version__}",
        "dataset": config.source.spec, "backbone": config.backbone,
        "workdir": str(workdir), "config": config.as_json(), "records": records,
        "data": data, "quality": quality, "steps": steps,
        "seconds": {"total": seconds, **_seconds_by_step(steps)},
    }
    results_path = workdir / RESULTS
    write_json(results, results_path)
    plots: list[Path] = []
    if config.plots:
        from unids.experiments.plots import write_plots

        plots = write_plots(records, data, config.stages, workdir / PLOTS)
    outcome = RunOutcome(config, records, steps, data, quality, seconds, workdir,
                         results_path, workdir / REPORT, plots)
    with atomic_path(outcome.report_path) as temporary:
        temporary.write_text(render_report(outcome))
    return outcome


def _how(cached: bool, seconds: float) -> str:
    return f"cached, took {seconds:.1f} s before" if cached else f"{seconds:.1f} s"


def _seconds_by_step(steps: list[dict[str, Any]]) -> dict[str, float]:
    """Seconds executed now per step name (cached steps count 0)."""
    out: dict[str, float] = {}
    for step in steps:
        out[step["step"]] = round(out.get(step["step"], 0.0)
                                  + (0.0 if step["cached"] else step["seconds"]), 3)
    return out


def _quality(cache: StepCache, dataset_dir: Path, dataset_key: str, plots: bool
             ) -> dict[str, Any]:
    """The `quality` step: `unids data stats`' report in the step's directory."""
    def produce(out: Path) -> dict[str, Any]:
        from unids.data.dataset import Dataset
        from unids.quality import build_report

        report = build_report(Dataset.load(dataset_dir))
        report.write(out, plots=plots)
        return {"lines": report.lines(), "warnings": report.warnings}

    step = cache.run("quality", {"plots": plots}, {"dataset": dataset_key}, produce)
    return {"directory": str(step.directory), "cached": step.cached, "seconds": step.seconds,
            **step.result}


def render_report(outcome: RunOutcome) -> str:
    """report.md: what ran, one table per stage, the data before/after, the quality report."""
    config = outcome.config
    lines = [
        f"# UniDS run: {config.source.spec} · {config.backbone}",
        "",
        f"Methods {', '.join(config.methods)}; stages {', '.join(config.stages)}; seeds "
        f"{', '.join(map(str, config.seeds))}; protocol "
        f"{', '.join(sorted({str(r['config']['train']['protocol']) for r in outcome.records}))}"
        ". Test split. Each cell: mean ± sample std over seeds; Δ: relative change "
        "of the mean against base (same dataset and backbone); `*`: paired t-test over the "
        "shared seeds, p < 0.05 (needs ≥ 2 seeds). ↓: lower is better.",
        "",
    ]
    devices = sorted({str(record.get("device")) for record in outcome.records})
    lines += [f"Device: {', '.join(devices)}. Total {outcome.seconds:.1f} s "
              f"(steps done now: " + ", ".join(
                  f"{name} {value:.1f} s" for name, value in
                  _seconds_by_step(outcome.steps).items()) + ").", ""]
    for stage, headers, rows in outcome.tables():
        lines += [f"## {stage}", "", markdown_table(headers, rows), ""]
        if outcome.plots and (Path(PLOTS) / f"metrics_{stage}.png").name in \
                {p.name for p in outcome.plots}:
            lines += [f"![{stage}]({PLOTS}/metrics_{stage}.png)", ""]
    if outcome.data:
        lines += ["## Stage data", "",
                  markdown_table(
                      ["stage", "method", "seed", "patterns", "θ (bits)", "token source",
                       "rows before → after", "tokens before → after"],
                      [[item["stage"], item["method"], str(item["seed"]),
                        str(item["patterns"]),
                        "—" if item.get("theta") is None else f"{item['theta']:.2f}",
                        str(item.get("source") or "none"),
                        f"{item['rows']['before']} → {item['rows']['after']}",
                        f"{item['tokens']['before']} → {item['tokens']['after']}"]
                       for item in outcome.data]), ""]
        if any(p.name == "tokens.png" for p in outcome.plots):
            lines += [f"![tokens]({PLOTS}/tokens.png)", ""]
    notes = sorted({note for record in outcome.records for note in record.get("notes", [])})
    if notes:
        lines += ["## Notes", "", *[f"- {note}" for note in notes], ""]
    if outcome.quality:
        quality_dir = Path(outcome.quality["directory"])
        try:
            quality_dir = quality_dir.relative_to(outcome.workdir)
        except ValueError:
            pass
        lines += ["## Data quality", "", f"Full report: `{quality_dir}/report.json` and its "
                  "PNG figures.", "", "```", *outcome.quality["lines"], "```", ""]
        lines += [f"- warning: {w}" for w in outcome.quality.get("warnings", [])]
    lines += ["", f"Records, settings and step times: `{RESULTS}`."]
    return "\n".join(lines).rstrip() + "\n"
