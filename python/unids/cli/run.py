"""`unids run`: the one-command pipeline (unids.experiments.pipeline)."""

from __future__ import annotations

from typing import Any

import click

from unids.baselines import METHODS
from unids.cli.options import emit, json_option
from unids.experiments.pipeline import STEPS


@click.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="TOML: backbone, [train], [model] (as `unids train`), [regenerate], "
                   "[regenerator], [generation], [format] (as `unids regenerate`) and [run] "
                   "(dataset, methods, stages, seeds, workdir).")
@click.option("--dataset", default=None,
              help="synthetic, a prepared directory, or a name in the shared data folder "
                   "(ml-1m, ml-100k, beauty, books; $UNIDS_DATA, default ../shared/data).")
@click.option("--backbone", type=click.Choice(["sasrec", "hstu", "llama2rec"]), default=None,
              help="Stage backbone (default: the config's, else hstu).")
@click.option("--method", "methods", multiple=True, type=click.Choice(METHODS),
              help="A method to compare, repeatable (default: [run] methods, else base and "
                   "unids).")
@click.option("--stage", "stages", multiple=True,
              type=click.Choice(["recall", "coarse", "fine"]),
              help="A stage, repeatable (default: [run] stages, else all three).")
@click.option("--seed", "seeds", multiple=True, type=int,
              help="A seed, repeatable (default: [run] seeds, else 0). Two or more give "
                   "mean ± std and the paired t-test.")
@click.option("--set", "pairs", multiple=True, metavar="KEY=VALUE",
              help="Override a setting, repeatable: epochs=20, model.dim=64, "
                   "run.seeds=0,1, regenerator.memories=3, format.fine.theta_scale=1.5.")
@click.option("--workdir", type=click.Path(file_okay=False), default=None,
              help="Where steps, results.json, report.md and plots/ go "
                   "(default: [run] workdir, else runs/<dataset>-<backbone>).")
@click.option("--force", "force", multiple=True, type=click.Choice(STEPS),
              help="Redo this step even where it is done, repeatable.")
@click.option("--quiet", is_flag=True, help="No progress bars or step lines.")
@json_option
def run(config_path: str | None, dataset: str | None, backbone: str | None,
        methods: tuple[str, ...], stages: tuple[str, ...], seeds: tuple[int, ...],
        pairs: tuple[str, ...], workdir: str | None, force: tuple[str, ...], quiet: bool,
        as_json: bool) -> None:
    """Run the whole pipeline for one dataset and backbone: load → quality report → per
    stage: mine with the stage's θ → segment → PT format → regenerate → train each method's
    backbone on its data → evaluate → report.md, results.json and PNG plots in the work
    directory.

    Resumable: every step is stored under WORKDIR/<step>/<hash>/ with a content hash of its
    settings and inputs, so a rerun skips what is done (a changed setting redoes only what
    depends on it); --force STEP redoes one step. Steps: dataset, quality, regenerate, train.

    \b
    Examples:
      unids run --config configs/ml-1m-hstu.toml
      unids run --dataset synthetic --backbone sasrec --set epochs=5 --set model.dim=32
      unids run --dataset prepared/beauty --backbone sasrec --stage recall --seed 0 --seed 1
      unids run --config configs/ml-1m-hstu.toml --method base --method unids --method dr4sr
      unids run --config configs/ml-1m-hstu.toml --force train       # retrain, keep the data
      unids run --dataset ml-1m --set run.stages=recall,fine --set regenerate.epochs=5 --json
    """
    from unids.experiments.pipeline import load_run_config, run_pipeline

    config = load_run_config(config_path, overrides=pairs, dataset=dataset, backbone=backbone,
                             methods=methods, stages=stages, seeds=seeds, workdir=workdir)
    echo = None if quiet or as_json else (lambda line: click.echo(line, err=True))
    outcome = run_pipeline(config, force=force, progress=not quiet and not as_json, echo=echo)
    emit(_summary(outcome), as_json, _lines(outcome))


def _summary(outcome: Any) -> dict[str, Any]:
    return {"workdir": str(outcome.workdir), "results": str(outcome.results_path),
            "report": str(outcome.report_path), "plots": [str(p) for p in outcome.plots],
            "seconds": outcome.seconds, "steps": outcome.steps,
            "records": [{key: record[key] for key in ("dataset", "backbone", "stage", "method",
                                                      "seed", "epochs", "device",
                                                      "wall_time_s", "config_hash", "test")}
                        for record in outcome.records]}


def _lines(outcome: Any) -> list[str]:
    from unids.experiments.tables import text_table

    lines = []
    for stage, headers, rows in outcome.tables():
        lines += [f"{stage} (test):", text_table(headers, rows), ""]
    executed = sum(not step["cached"] for step in outcome.steps)
    lines += [f"{len(outcome.records)} cells, {executed} of {len(outcome.steps)} steps run now, "
              f"{outcome.seconds:.1f} s; report: {outcome.report_path}; results: "
              f"{outcome.results_path}"]
    return lines
