"""`unids experiment NAME`: one of the paper's experiments as a restartable, shardable grid
(unids.experiments.grid), and its report beside the published numbers
(unids.experiments.report)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from unids.cli.options import emit, json_option
from unids.errors import UserError

#: Where NAME is looked up when --config is not given: the working directory's configs/,
#: then the source tree's (an editable install or a checkout).
SEARCH = (Path("configs") / "experiments",
          Path(__file__).resolve().parents[3] / "configs" / "experiments")


def _config_path(name: str, config_path: str | None) -> Path:
    if config_path is not None:
        return Path(config_path)
    for folder in SEARCH:
        candidate = folder / f"{name}.toml"
        if candidate.is_file():
            return candidate
    raise UserError(f"no experiment {name!r}: no {name}.toml in "
                    f"{' or '.join(str(f) for f in SEARCH)}; give --config FILE")


def _key_if_data(cache: Any, cell: Any) -> str | None:
    """The cell's training key, or None where its dataset is not here to checksum (a list
    on a machine that only holds records)."""
    from unids.experiments.cell import training_key

    try:
        return training_key(cache, cell)
    except UserError:
        return None


def _record_is_current(plan: Any, planned: Any, cache: Any) -> bool | None:
    """Whether a done cell's record was trained under the cell's training key of today
    (its config_hash); None where that cannot be worked out (the dataset is not here)."""
    key = _key_if_data(cache, planned.cell)
    if key is None:
        return None
    record = json.loads((plan.results_dir / f"{planned.name}.json").read_text())
    return record.get("config_hash") == key


def _list_state(row: dict[str, Any]) -> str:
    if row["done"]:
        return "stale  " if row["current"] is False else "done   "
    return "record " if row["record"] else "pending"


def _only(pairs: tuple[str, ...]) -> dict[str, set[str]]:
    """--only dataset=ml-1m,backbone=hstu → {"dataset": {"ml-1m"}, "backbone": {"hstu"}}."""
    wanted: dict[str, set[str]] = {}
    for text in pairs:
        for item in text.split(","):
            key, separator, value = item.partition("=")
            if not separator or key.strip() not in ("dataset", "backbone", "stage", "method",
                                                    "seed", "sweep"):
                raise UserError(f"--only: expected dataset|backbone|stage|method|seed|sweep="
                                f"VALUE, got {item!r}")
            wanted.setdefault(key.strip(), set()).add(value.strip())
    return wanted


def _matches(planned: Any, wanted: dict[str, set[str]]) -> bool:
    cell = planned.cell
    values = {"dataset": cell.dataset.spec, "backbone": cell.backbone, "stage": cell.stage,
              "method": cell.method, "seed": str(cell.seed)}
    for key, allowed in wanted.items():
        if key == "sweep":  # the swept value, as a number where both are (1.3 = 1.30)
            if not any(_same_value(value, text) for value in planned.sweep.values()
                       for text in allowed):
                return False
        elif values[key] not in allowed:
            return False
    return True


def _same_value(value: Any, text: str) -> bool:
    try:
        return float(value) == float(text)
    except (TypeError, ValueError):
        return str(value) == text


@click.command()
@click.argument("name")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, exists=True),
              default=None, help="The experiment file (default: configs/experiments/NAME.toml).")
@click.option("--shard", default="1/1", show_default=True,
              help="Run shard i of n (1-based): whole data groups, dealt round robin.")
@click.option("--queue", is_flag=True,
              help="Share the grid with the other --queue processes of this work directory: "
                   "each takes the next data group nobody holds (those that regenerate "
                   "first), instead of a share dealt out beforehand. Start N on one machine.")
@click.option("--only", "only", multiple=True, metavar="KEY=VALUE[,…]",
              help="Run only matching cells: dataset=…, backbone=…, stage=…, method=…, seed=…, "
                   "sweep=… (the swept value).")
@click.option("--set", "pairs", multiple=True, metavar="KEY=VALUE",
              help="Override a setting of every cell (as `unids run --set`), e.g. epochs=20; "
                   "of one backbone's or dataset's cells with backbone.NAME.KEY=VALUE or "
                   "dataset.NAME.KEY=VALUE, e.g. backbone.hstu.model.dim=64.")
@click.option("--results", "results_root", type=click.Path(file_okay=False),
              default="results", show_default=True,
              help="Records go to RESULTS/NAME/, one JSON file per cell.")
@click.option("--reports", "reports_root", type=click.Path(file_okay=False),
              default="reports", show_default=True, help="The report goes to REPORTS/NAME/.")
@click.option("--workdir", type=click.Path(file_okay=False), default=None,
              help="Step cache (default: the file's [experiment] workdir, else "
                   "runs/experiments/NAME); reruns skip finished steps.")
@click.option("--merge", "merge", multiple=True, type=click.Path(exists=True),
              help="More records for the report: a results directory or a results.json "
                   "(another machine's shard), repeatable.")
@click.option("--report-only", is_flag=True, help="Only (re)write the report from records.")
@click.option("--records-only", is_flag=True,
              help="Fill only the cells whose training already has a record (any experiment "
                   "under RESULTS, or --merge): a coarse cell from its recall cell's, Table "
                   "3's UniDS row from table1's. Trains nothing.")
@click.option("--recalibrate", "recalibrate_records", is_flag=True,
              help="Add the calibrated test logloss to finished fine-ranking records written "
                   "before training recorded it: each training's best checkpoint in the work "
                   "directory is scored again, and the fields are added only where that "
                   "reproduces the record's AUC and logloss. Trains nothing.")
@click.option("--list", "list_cells", is_flag=True,
              help="List this shard's cells and whether each is done (`stale` where its "
                   "record was trained under other code or settings than today's), or has "
                   "its training recorded already (`record`); run nothing.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@json_option
def experiment(name: str, config_path: str | None, shard: str, queue: bool,
               only: tuple[str, ...],
               pairs: tuple[str, ...], results_root: str, reports_root: str,
               workdir: str | None, merge: tuple[str, ...], report_only: bool,
               records_only: bool, recalibrate_records: bool, list_cells: bool, quiet: bool,
               as_json: bool) -> None:
    """Run one of the paper's experiments — table1, table2, fig2, table3, beauty
    (configs/experiments/) — and write reports/NAME/report.md with our numbers beside the
    published ones, pending cells marked with the command that fills them.

    Restartable: finished steps are cached in the work directory and finished cells keep
    their record in RESULTS/NAME/ (a cell with a record is skipped). Shardable: --shard i/n
    on n machines, then one --report-only run with --merge for the others' records. On one
    machine (one GPU), run several --queue processes over one work directory instead. A cell
    whose training another cell has already recorded (here or in --merge) takes that record.

    \b
    Examples:
      unids experiment table1 --list
      unids experiment table1 --shard 1/4                 # a quarter of the grid
      for i in 1 2 3 4; do unids experiment table1 --queue --quiet & done; wait
      unids experiment table1 --only dataset=ml-1m,backbone=hstu
      unids experiment fig2 --only stage=fine,sweep=1.4,sweep=1.6
      unids experiment fig2 --set epochs=20
      unids experiment table1 --only backbone=hstu --set backbone.hstu.model.dim=64
      unids experiment table1 --report-only --merge other-machine/results/table1
      unids experiment table3 --records-only              # what table1's records give
      unids experiment table1 --recalibrate --only stage=fine
    """
    from tqdm.auto import tqdm

    from unids.experiments.artifacts import StepCache
    from unids.experiments.cell import training_key
    from unids.experiments.grid import (
        done_cells,
        known_trainings,
        load_experiment,
        parse_shard,
        report_records,
        run_planned,
        take_from_queue,
    )
    from unids.experiments.report import LAYOUTS, write_report

    path = _config_path(name, config_path)
    plan = load_experiment(path, overrides=pairs, results_root=results_root, workdir=workdir)
    if plan.report not in LAYOUTS:  # said now, not after the grid has run
        raise UserError(f"{path}: [experiment] report = {plan.report!r} is no report layout; "
                        f"have {', '.join(LAYOUTS)}")
    index, count = parse_shard(shard)
    wanted = _only(only)
    cells = [p for p in plan.shard(index, count) if _matches(p, wanted)]
    done = done_cells(plan)
    if list_cells:
        # "record": not done, but its training has a record (--records-only fills it).
        # "current": a done cell's record has the cell's training key of today (None where
        # the dataset is not here to checksum); "stale" cells were trained under other code
        # or settings, and their record stays until it is deleted.
        known = known_trainings(plan, *merge) if len(done) < len(cells) else {}
        cache = StepCache(plan.workdir)
        rows: list[dict[str, Any]] = [
            {"cell": p.name, "done": p.name in done,
             # No record to take: no checksum of a dataset that may not be here.
             "record": bool(known) and p.name not in done
             and _key_if_data(cache, p.cell) in known,
             "current": _record_is_current(plan, p, cache) if p.name in done else None}
            for p in cells]
        fillable = sum(r["record"] for r in rows)
        stale = sum(r["current"] is False for r in rows)
        emit({"experiment": plan.name, "cells": rows}, as_json,
             [f"{_list_state(r)} {r['cell']}" for r in rows]
             + [f"{sum(r['done'] for r in rows)} of {len(rows)} done"
                + (f" ({stale} stale: trained under other code or settings than today's; "
                   "delete a record to run its cell again)" if stale else "")
                + (f"; {fillable} more from records (--records-only)" if fillable else "")])
        return
    recalibrated: list[dict[str, Any]] | None = None
    if recalibrate_records:
        from unids.experiments.recalibrate import recalibrate

        outcomes = recalibrate([plan.results_dir / f"{p.name}.json" for p in cells
                                if p.name in done], StepCache(plan.workdir))
        recalibrated = [vars(o) for o in outcomes]
        if not as_json:  # with --json, the summary below holds them
            for o in outcomes:
                click.echo(f"{o.status:<13} {o.cell}" + (f": {o.detail}" if o.detail else ""))
        report_only = True  # the report then shows the records as they now are
    ran = []
    if not report_only:
        todo = [p for p in cells if p.name not in done]
        cache = StepCache(plan.workdir)
        known = known_trainings(plan, *merge) if todo else {}
        if records_only:
            todo = [p for p in todo if known and training_key(cache, p.cell) in known]
        taken = take_from_queue(todo, plan) if queue else todo
        for planned in tqdm(taken, total=len(todo), desc=plan.name, unit="cell",
                            disable=quiet or None, dynamic_ncols=True):
            run_planned(planned, plan, progress=not quiet, cache=cache, records=known)
            ran.append(planned.name)
    records = report_records(plan, *merge)
    report = write_report(plan, records, Path(reports_root) / plan.name)
    summary = {"experiment": plan.name, "config": str(path), "shard": shard,
               "cells_in_shard": len(cells), "ran": ran, "records": len(records),
               "report": str(report)}
    lines = [f"{plan.name}: ran {len(ran)} cell(s) of {len(cells)} in this shard; "
             f"{len(records)} record(s) in the report → {report}"]
    if recalibrated is not None:
        summary["recalibrated"] = recalibrated
        added = sum(o["status"] == "added" for o in recalibrated)
        lines.insert(0, f"recalibrated {added} of {len(recalibrated)} fine-ranking record(s)")
    emit(summary, as_json, lines)
