"""The paper's experiments as grids of cells (`unids experiment NAME`): which datasets,
backbones, methods, stages, seeds and swept setting make up a table, run restartably and in
shards, each finished cell's record kept as one JSON file.

    experiment = load_experiment("configs/experiments/table1.toml", overrides=["epochs=5"])
    for planned in experiment.shard(0, 4):            # this machine's quarter of the cells
        record = run_planned(planned, experiment)    # cached in the work directory
    records = report_records(experiment)             # every shard's records, merged

An experiment file (TOML) has an [experiment] table and, beside it, the tables of a
`unids run` config (`unids.experiments.pipeline`) applied to every cell — [train], [model],
[regenerate], [regenerator], [generation], [format] — plus per-dataset and per-backbone
tables on top of those (`[dataset.ml-1m.train]`, `[backbone.hstu.model]`; a setting may be in
one of the two, not both):

    [experiment]
    name = "table1"
    report = "table1"              # the report's layout (unids.experiments.report)
    datasets = ["ml-1m", "books"]  # a name of the shared data folder or a prepared directory
    backbones = ["hstu", "llama2rec"]
    methods = ["base", "dr4sr", "reppad", "frec", "unids"]
    stages = ["recall", "coarse", "fine"]
    seeds = [0, 1, 2]
    sweep = { key = "format.theta_scale", values = [0.8, 1.2, 1.6], name = "theta_scale" }
    pending = [{ dataset = "kuairand-pure", why = "needs the KuaiRand-Pure logs" }]
    workdir = "runs/experiments/table1"  # the step cache (default runs/experiments/<name>)
    merge_records = ["table1"]     # other experiments whose records the report also reads

A sweep sets one setting (a `--set` key) to each value in turn: one more axis of the grid,
recorded in each record's `sweep`. Cells are sharded by *data group* — (dataset, stage,
method, seed, sweep value, the regeneration's key), where cells that share a training (a
coarse cell on its recall cell's data, RepPad's and FRec's fine cells on base's, w/o TC's
cells on UniDS's data) count as the one they share — so the
stage dataset a group regenerates is built once, by one shard, and reused by its
backbones. Restarting in the same work directory skips every step already done (the step
cache); records land in `results/<name>/`, one file per cell, which is what shards on
different machines merge through. Experiments that name one `workdir`
share their steps: a fig2 or table2 cell whose swept value restates the default (the stage's
θ scale, the backbone's max_len) is the table1 cell, and costs nothing twice.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unids.baselines.methods import DATA_METHODS
from unids.config import load_toml
from unids.errors import InputError, UserError
from unids.experiments.artifacts import KEY_LENGTH, content_key, try_exclusive
from unids.experiments.cell import (
    Cell,
    records_by_training,
    regenerate_step,
    train_step,
)
from unids.experiments.pipeline import (
    REGENERATE_TABLES,
    _apply_override,
    run_config_from_dict,
)

EXPERIMENT_KEYS = ("name", "report", "datasets", "backbones", "methods", "stages", "seeds",
                   "sweep", "pending", "published", "description", "workdir", "merge_records")
CELL_TABLES = ("train", "model", *REGENERATE_TABLES)


@dataclass(frozen=True)
class Planned:
    """One cell of the grid and where its record goes."""

    cell: Cell
    sweep: dict[str, Any]  # {name: value}, empty without a sweep
    group: tuple[Any, ...]  # the data group (sharding unit)

    @property
    def name(self) -> str:
        """A file-name-safe, unique name: dataset-backbone-stage-method[-sweep]-s<seed>."""
        cell = self.cell
        parts = [Path(cell.dataset.spec.rstrip("/")).name, cell.backbone, cell.stage,
                 cell.method, *(f"{k}{v}" for k, v in self.sweep.items()), f"s{cell.seed}"]
        return re.sub(r"[^A-Za-z0-9_.-]+", "-", "-".join(map(str, parts)))


@dataclass(frozen=True)
class Experiment:
    name: str
    report: str
    cells: tuple[Planned, ...]
    results_dir: Path
    workdir: Path
    settings: dict[str, Any] = field(default_factory=dict)  # the file's tables, for the record
    pending: tuple[dict[str, str], ...] = ()
    published: str | None = None
    description: str = ""
    merge_records: tuple[str, ...] = ()  # other experiments' names (`report_records`)

    def shard(self, index: int, count: int) -> list[Planned]:
        """The cells of shard `index` of `count` (0-based): whole data groups, dealt round
        robin in the grid's order."""
        if count < 1 or not 0 <= index < count:
            raise UserError(f"--shard: need 0 ≤ i < n, got {index}/{count}")
        groups: dict[tuple[Any, ...], int] = {}
        for planned in self.cells:
            groups.setdefault(planned.group, len(groups))
        return [p for p in self.cells if groups[p.group] % count == index]


#: Under the work directory: one lock file per data group that a `--queue` process holds.
QUEUE = "queue"


def take_from_queue(cells: Sequence[Planned], experiment: Experiment) -> Iterator[Planned]:
    """The cells without a record, one data group at a time, each group held under a lock in
    the work directory while the caller runs its cells; a group another process holds is
    skipped. Processes sharing a work directory thus share a grid as a queue: each takes the
    next group nobody has, so none sits idle while groups wait (`--shard` deals them out
    beforehand, blind to how long each takes). Groups that regenerate their data — a
    regenerator, then a backbone: the longest chains — go first."""
    groups: dict[tuple[Any, ...], list[Planned]] = {}
    for planned in cells:
        groups.setdefault(planned.group, []).append(planned)
    ordered = sorted(groups.values(), key=lambda group: not _regenerates(group[0].cell.method))
    for group in ordered:
        with try_exclusive(queue_lock(experiment, group[0].group)) as held:
            if not held:
                continue
            for planned in group:
                # Checked under the lock: another process may have run it since we listed.
                if not (experiment.results_dir / f"{planned.name}.json").exists():
                    yield planned


def queue_lock(experiment: Experiment, group: tuple[Any, ...]) -> Path:
    """The lock file a `--queue` process holds while it runs `group`."""
    key = content_key([str(part) for part in group])[:KEY_LENGTH]
    return experiment.workdir / QUEUE / f"group-{key}.lock"


def _regenerates(method: str) -> bool:
    return method in DATA_METHODS and DATA_METHODS[method].regenerate


def parse_shard(text: str) -> tuple[int, int]:
    """`i/n` (1-based, as people count shards: 1/4 … 4/4) → (i − 1, n)."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match or not 1 <= int(match[1]) <= int(match[2]):
        raise UserError(f"--shard: expected i/n with 1 ≤ i ≤ n, got {text!r}")
    return int(match[1]) - 1, int(match[2])


def load_experiment(path: str | Path, *, overrides: Sequence[str] = (),
                    results_root: str | Path = "results", workdir: str | Path | None = None
                    ) -> Experiment:
    """Reads an experiment file (module docstring); `overrides` are `--set key=value` pairs
    applied to every cell. Every cell's settings are checked before anything runs."""
    raw = load_toml(str(path))
    where = str(path)
    head = dict(raw.pop("experiment", {}))
    if not head:
        raise UserError(f"{where}: no [experiment] table")
    if bad := [key for key in head if key not in EXPERIMENT_KEYS]:
        raise UserError(f"{where}: unknown [experiment] key(s) {', '.join(bad)}; expected "
                        f"{', '.join(EXPERIMENT_KEYS)}")
    per_dataset = raw.pop("dataset", {})
    per_backbone = raw.pop("backbone", {})
    if bad := [key for key in raw if key not in CELL_TABLES]:
        raise UserError(f"{where}: unknown table(s) {', '.join(bad)}; expected [experiment], "
                        f"{', '.join(f'[{t}]' for t in CELL_TABLES)}, [dataset.<name>.…] or "
                        "[backbone.<name>.…]")
    for pair in overrides:
        _apply_scoped_override(raw, per_dataset, per_backbone, pair)
    name = str(head.get("name") or Path(path).stem)
    sweep = head.get("sweep")
    sweep_values: list[Any] = [None]
    if sweep is not None:
        if not isinstance(sweep, dict) or "key" not in sweep or not sweep.get("values"):
            raise UserError(f"{where}: sweep needs a key and a list of values")
        sweep_values = list(sweep["values"])
    planned: list[Planned] = []
    for dataset in _strings(head, "datasets", where):
        for backbone in _strings(head, "backbones", where):
            for value in sweep_values:
                tables = copy.deepcopy(raw)
                _refuse_clash(per_dataset.get(dataset, {}), per_backbone.get(backbone, {}),
                              f"{where}: [dataset.{dataset}] and [backbone.{backbone}]")
                for extra in (per_dataset.get(dataset, {}), per_backbone.get(backbone, {})):
                    _merge(tables, extra)
                label: dict[str, Any] = {}
                if sweep is not None:
                    _apply_override(tables, f"{sweep['key']}={value}")
                    label = {str(sweep.get("name", sweep["key"].rsplit(".", 1)[-1])): value}
                tables["backbone"] = backbone
                tables["run"] = {"dataset": dataset, "methods": head.get("methods", ["base"]),
                                 "stages": head.get("stages", ["recall", "coarse", "fine"]),
                                 "seeds": head.get("seeds", [0]), "experiment": name,
                                 "quality": False, "plots": False}
                config = run_config_from_dict(tables, where)
                for cell in config.cells():
                    # Cells that share a training (and so its data) share a group: one
                    # shard or queue process runs them, the rest are cache hits there. The
                    # regeneration's key tells apart one method's data at two θ (UniDS's
                    # fine cell, and w/o TC's, which is UniDS's at the recall θ).
                    trained = train_step(cell)[0]
                    data = content_key(regenerate_step(cell)) if cell.data_level else None
                    group = (dataset, trained.stage, trained.method, cell.seed, value, data)
                    planned.append(Planned(cell, label, group))
    root = Path(results_root)
    return Experiment(
        name=name, report=str(head.get("report", name)), cells=tuple(planned),
        results_dir=root / name,
        workdir=Path(workdir if workdir is not None else
                     head.get("workdir", Path("runs") / "experiments" / name)),
        settings=raw, pending=tuple(head.get("pending", [])),
        published=head.get("published"), description=str(head.get("description", "")),
        merge_records=_other_experiments(head, Path(path).parent, where))


def _other_experiments(head: dict[str, Any], folder: Path, where: str) -> tuple[str, ...]:
    """`merge_records`: names of experiments beside this file, said now rather than read as
    no records at report time."""
    if "merge_records" not in head:
        return ()
    names = _strings(head, "merge_records", where)
    if missing := [n for n in names if not (folder / f"{n}.toml").is_file()]:
        raise UserError(f"{where}: [experiment] merge_records names no experiment file "
                        f"beside it: {', '.join(missing)}")
    return tuple(names)


def _apply_scoped_override(raw: dict[str, Any], per_dataset: dict[str, Any],
                           per_backbone: dict[str, Any], pair: str) -> None:
    """`--set key=value` onto every cell, or, as `backbone.NAME.key=value` or
    `dataset.NAME.key=value`, onto one backbone's or one dataset's cells — the file's
    `[backbone.NAME.…]` tables. A setting that only one backbone has (HSTU's
    attention_segments) can only be set this way: every other cell would refuse it."""
    key, separator, value = pair.partition("=")
    scope, _, scoped = key.strip().partition(".")
    name, dot, inner = scoped.partition(".")
    if separator and scope in ("dataset", "backbone") and name and dot and inner:
        tables = per_dataset if scope == "dataset" else per_backbone
        _apply_override(tables.setdefault(name, {}), f"{inner}={value}")
    else:
        _apply_override(raw, pair)


def _strings(head: dict[str, Any], key: str, where: str) -> list[str]:
    values = head.get(key)
    if not values or not isinstance(values, list):
        raise UserError(f"{where}: [experiment] {key} must be a non-empty list")
    return [str(v) for v in values]


def _refuse_clash(per_dataset: dict[str, Any], per_backbone: dict[str, Any], where: str,
                  path: str = "") -> None:
    """A setting both tables give would silently take the backbone's value (it is applied
    last), whatever the dataset needs: say so instead."""
    for key, value in per_dataset.items():
        if key not in per_backbone:
            continue
        if isinstance(value, dict) and isinstance(per_backbone[key], dict):
            _refuse_clash(value, per_backbone[key], where, f"{path}{key}.")
        else:
            raise UserError(f"{where} both set {path}{key}; set it in one of them (or in the "
                            "common table, with the exception in the other)")


def _merge(into: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, dict):
            _merge(into.setdefault(key, {}), value)
        else:
            into[key] = value


def run_planned(planned: Planned, experiment: Experiment, *, progress: bool = True,
                cache: Any = None, records: Mapping[str, dict[str, Any]] | None = None
                ) -> dict[str, Any]:
    """Runs (or finds cached) one cell and writes its record to the results directory, with
    `experiment`, `sweep` and `cell` added. Returns the record. records: finished records by
    training (`known_trainings`), which a cell takes instead of training again."""
    from unids.experiments.cell import run_cell
    from unids.io import write_json

    record = run_cell(planned.cell, experiment.workdir, cache=cache, progress=progress,
                      records=records)
    record = {**record, "experiment": experiment.name, "sweep": planned.sweep,
              "cell": planned.name}
    write_json(record, experiment.results_dir / f"{planned.name}.json")
    return record


def report_records(experiment: Experiment, *merged: str | Path) -> list[dict[str, Any]]:
    """The report's records, later sources winning for the same cell: this grid's cells
    among the records of the experiments its `merge_records` names (table3-ml-100k's UniDS
    row is table1-ml-100k's cells, trained under keys that have changed since, so no cell
    here takes their record), then this experiment's own records, then `--merge`'s."""
    root = experiment.results_dir.parent
    ours = {planned.name for planned in experiment.cells}
    borrowed = [record for record in read_records(*(root / n for n in experiment.merge_records))
                if record.get("cell") in ours]
    by_cell = {record.get("cell") or _cell_name(record): record
               for record in [*borrowed, *read_records(experiment.results_dir, *merged)]}
    return list(by_cell.values())


def read_records(*sources: str | Path) -> list[dict[str, Any]]:
    """Every record in the given directories (`*.json` files, one record each) and
    `results.json` files (a `records` list), later sources winning for the same cell."""
    by_cell: dict[str, dict[str, Any]] = {}
    for source in map(Path, sources):
        files = sorted(source.glob("*.json")) if source.is_dir() else [source]
        for file in files:
            if not file.exists():
                continue
            try:
                content = json.loads(file.read_text())
            except (OSError, json.JSONDecodeError) as error:
                raise InputError(str(file), f"unreadable record ({error})") from None
            for record in content.get("records", [content]) if isinstance(content, dict) \
                    else []:
                if isinstance(record, dict) and "test" in record:
                    by_cell[record.get("cell") or _cell_name(record)] = record
    return list(by_cell.values())


def known_trainings(experiment: Experiment, *merged: str | Path) -> dict[str, dict[str, Any]]:
    """Every finished record by its training (`config_hash`): each experiment's directory
    under the results root (Table 3's UniDS row is table1's cells, say) and the merged
    sources (another machine's shard), read one source at a time, since two experiments
    name a cell alike."""
    root = experiment.results_dir.parent
    sources = [*sorted(p for p in root.iterdir() if p.is_dir()), *map(Path, merged)] \
        if root.is_dir() else list(map(Path, merged))
    return records_by_training(record for source in sources for record in read_records(source))


def _cell_name(record: dict[str, Any]) -> str:
    sweep = "".join(f"-{k}{v}" for k, v in (record.get("sweep") or {}).items())
    return (f"{record['dataset']}-{record['backbone']}-{record['stage']}-{record['method']}"
            f"{sweep}-s{record['seed']}")


def done_cells(experiment: Experiment) -> set[str]:
    """Names of the cells with a record in the results directory."""
    return {path.stem for path in experiment.results_dir.glob("*.json")}
