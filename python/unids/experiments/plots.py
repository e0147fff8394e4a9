"""PNG figures of a run: per stage, each method's test metrics (mean over seeds, a bar per
method, the sample std as error bars); and the stage data before and after regeneration
(training tokens and rows per stage and data-level method).

matplotlib's object API with the Agg canvas, as the quality report's figures
(`unids.quality.plots`): no pyplot, no display needed.

    paths = write_plots(records, data_summaries, ("recall", "fine"), Path("runs/x/plots"))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from unids.experiments.tables import LOWER_IS_BETTER, STAGE_METRICS, summarize
from unids.io import atomic_path

DPI = 120


def write_plots(records: Sequence[Mapping[str, Any]], data: Sequence[Mapping[str, Any]],
                stages: Sequence[str], directory: Path) -> list[Path]:
    """metrics_<stage>.png for every stage with records, tokens.png when a data-level method
    ran; returns the paths written (each atomically)."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    groups = summarize(records)
    for stage in stages:
        of_stage = [g for g in groups if g["stage"] == stage]
        if of_stage:
            figure = metrics_figure(stage, [str(g["method"]) for g in of_stage],
                                    [{name: (m.mean, m.std or 0.0) for name, m in
                                      g.metrics.items()} for g in of_stage])
            written.append(_save(figure, directory / f"metrics_{stage}.png"))
    if data:
        written.append(_save(tokens_figure(data), directory / "tokens.png"))
    return written


def _save(figure: Any, path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=DPI, format="png")
    return path


def metrics_figure(stage: str, methods: list[str],
                   values: list[dict[str, tuple[float, float]]]) -> Any:
    """One panel per metric of the stage, one bar per method (mean ± std)."""
    from matplotlib.figure import Figure

    metrics = [m for m in STAGE_METRICS[stage] if any(m in v for v in values)]
    figure = Figure(figsize=(3.2 * max(1, len(metrics)), 3.6), layout="constrained")
    axes = figure.subplots(1, max(1, len(metrics)), squeeze=False)[0]
    colors = [f"C{i}" for i in range(len(methods))]
    for ax, metric in zip(axes, metrics, strict=False):
        means = [v.get(metric, (np.nan, 0.0))[0] for v in values]
        errors = [v.get(metric, (np.nan, 0.0))[1] for v in values]
        positions = np.arange(len(methods))
        ax.bar(positions, means, yerr=errors, color=colors, capsize=3)
        ax.set_xticks(positions, methods, rotation=30, ha="right")
        ax.set_title(metric + (" (lower is better)" if metric in LOWER_IS_BETTER else ""))
        for x, mean in zip(positions, means, strict=True):
            if np.isfinite(mean):
                ax.annotate(f"{mean:.3f}", (x, mean), ha="center", va="bottom", fontsize=8)
    figure.suptitle(f"{stage} stage: test metrics by method")
    return figure


def tokens_figure(data: Sequence[Mapping[str, Any]]) -> Any:
    """Training tokens (and rows) before and after, per stage and data-level method (the
    first seed of each)."""
    from matplotlib.figure import Figure

    seen: dict[tuple[str, str], Mapping[str, Any]] = {}
    for item in data:
        seen.setdefault((str(item["stage"]), str(item["method"])), item)
    labels = [f"{stage}\n{method}" for stage, method in seen]
    figure = Figure(figsize=(max(5.0, 1.4 * len(labels) + 2), 3.8), layout="constrained")
    token_axes, row_axes = figure.subplots(1, 2)
    positions = np.arange(len(labels))
    width = 0.38
    for ax, what in ((token_axes, "tokens"), (row_axes, "rows")):
        before = [item[what]["before"] for item in seen.values()]
        after = [item[what]["after"] for item in seen.values()]
        ax.bar(positions - width / 2, before, width, label="original", color="C0")
        ax.bar(positions + width / 2, after, width, label="stage dataset", color="C1")
        ax.set_xticks(positions, labels, fontsize=8)
        ax.set_title(f"training {what}")
        ax.legend(frameon=False, fontsize=8)
    figure.suptitle("data before and after (original ∪ regenerated)")
    return figure
