"""Experiments: the one-command pipeline (`unids run`), its resumable step cache, result tables
and plots, and the published numbers our reports print beside ours.

    config = load_run_config("configs/ml-1m-hstu.toml", overrides=["run.seeds=0,1"])
    outcome = run_pipeline(config)                     # report.md, results.json, plots/
    record = run_cell(Cell(DatasetSource("synthetic"), "sasrec", "recall", "unids"), "runs/x")

Modules: `artifacts` (content-hashed steps), `datasets` (where a run's data comes from; the
synthetic planted dataset), `cell` (one dataset × backbone × stage × method × seed),
`pipeline` (`unids run`), `tables` (mean ± std, t-test markers, Markdown), `plots`, `demo`
(`unids demo`'s settings), `published` (the paper's tables).

Importing this package does not import torch; training does, when a step runs.
"""

from unids.experiments.artifacts import StepCache
from unids.experiments.cell import Cell, run_cell
from unids.experiments.datasets import DatasetSource, planted_dataset
from unids.experiments.pipeline import RunConfig, load_run_config, run_pipeline

__all__ = ["Cell", "DatasetSource", "RunConfig", "StepCache", "load_run_config",
           "planted_dataset", "run_cell", "run_pipeline"]
