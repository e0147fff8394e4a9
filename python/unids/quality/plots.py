"""PNG figures of a quality report, for people: sequence lengths, item popularity, entropy per
symbol view, Π_max per view.

matplotlib's object API with the Agg canvas: no pyplot, no global backend switch, no display
needed, so it works the same in a terminal, in CI and inside another program.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

if TYPE_CHECKING:
    from unids.quality.report import QualityReport

DPI = 120
EXACT, APPROX, MODEL, CEILING = "#1f77b4", "#9ecae1", "#ff7f0e", "#555555"


def _save(figure: Figure, path: Path) -> Path:
    FigureCanvasAgg(figure)
    figure.savefig(path, dpi=DPI)
    return path


def write_plots(report: QualityReport, directory: Path) -> list[Path]:
    """lengths.png, popularity.png, entropy.png and pi_max.png in `directory`."""
    name = report.summary["dataset"]
    return [
        _save(lengths_figure(report.series["lengths"], name), directory / "lengths.png"),
        _save(popularity_figure(report.series["popularity"], report.summary["popularity"],
                                name), directory / "popularity.png"),
        _save(entropy_figure(report.summary["views"], name), directory / "entropy.png"),
        _save(pi_max_figure(report.series["pi_max"], report.summary["views"], name),
              directory / "pi_max.png"),
    ]


def lengths_figure(lengths: np.ndarray, name: str) -> Figure:
    figure = Figure(figsize=(7, 4.2), layout="constrained")
    axes = figure.add_subplot()
    lengths = np.asarray(lengths)
    low, high = max(1, int(lengths.min())), max(2, int(lengths.max()))
    bins = np.unique(np.geomspace(low, high + 1, 40).astype(int))
    axes.hist(lengths, bins=bins.tolist(), color=EXACT, edgecolor="white", linewidth=0.5)
    axes.set_xscale("log")
    ticks = [t for t in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000,
                         50000) if low <= t <= high]
    axes.set_xticks(ticks, [f"{t:g}" for t in ticks])
    median = float(np.median(lengths))
    axes.axvline(median, color=MODEL, linestyle="--", label=f"median {median:g}")
    axes.set_xlabel("interactions per user (log scale)")
    axes.set_ylabel("users")
    axes.set_title(f"{name}: sequence lengths ({len(lengths)} users)")
    axes.legend(frameon=False)
    return figure


def popularity_figure(ranked: np.ndarray, stats: dict[str, Any], name: str) -> Figure:
    """Rank–frequency curve (log–log) beside the Lorenz curve."""
    figure = Figure(figsize=(10, 4.2), layout="constrained")
    left, right = figure.subplots(1, 2)
    ranked = np.asarray(ranked, dtype=np.float64)
    shown = ranked[ranked > 0]
    left.loglog(np.arange(1, len(shown) + 1), shown, color=EXACT)
    left.set_xlabel("item rank (log)")
    left.set_ylabel("interactions (log)")
    left.set_title("rank–frequency")
    ascending = np.sort(ranked)
    share_items = np.linspace(0, 1, len(ascending) + 1)
    share_interactions = np.concatenate([[0], np.cumsum(ascending)]) / max(1, ascending.sum())
    right.plot(share_items, share_interactions, color=EXACT, label="items")
    right.plot([0, 1], [0, 1], color=CEILING, linestyle=":", label="equal popularity")
    right.set_xlabel("share of items, least popular first")
    right.set_ylabel("share of interactions")
    right.set_title(f"Lorenz curve, Gini {stats['gini']:.3f}")
    right.legend(frameon=False, loc="upper left")
    figure.suptitle(f"{name}: item popularity ({len(ranked)} items; top 10% hold "
                    f"{stats['top_share']['10%']:.0%} of interactions)")
    return figure


def entropy_figure(views: dict[str, Any], name: str) -> Figure:
    """Per view: LZ exact and approximate, model entropy, and log2 n (the no-repeat value)."""
    figure = Figure(figsize=(max(6.0, 1.8 * len(views) + 2), 5.0), layout="constrained")
    axes = figure.add_subplot()
    names = list(views)
    x = np.arange(len(names))
    width = 0.26

    def values(path: tuple[str, ...]) -> np.ndarray:
        out = []
        for view in names:
            value: Any = views[view]
            for key in path:
                value = value[key]
            out.append(np.nan if value is None else value)
        return np.array(out, dtype=np.float64)

    for offset, path, color, label in (
            (-width, ("lz_exact", "mean"), EXACT, "LZ real entropy (exact)"),
            (0.0, ("lz_approx", "mean"), APPROX, "LZ real entropy (approx.)"),
            (width, ("model_entropy", "mean_per_user"), MODEL, "model conditional entropy")):
        bars = axes.bar(x + offset, values(path), width, color=color, label=label)
        axes.bar_label(bars, fmt="%.2f", fontsize=7, padding=1)
    ceiling = values(("log2_length",))
    axes.hlines(ceiling, x - 1.6 * width, x + 1.6 * width, color=CEILING, linestyle="--",
                zorder=3, label="mean log2 n: LZ entropy when nothing repeats")
    axes.set_xticks(x, [f"{n}\n({views[n]['symbols']} symbols)" for n in names])
    axes.set_ylabel("bits per symbol (mean over users)")
    axes.set_title(f"{name}: entropy per symbol view (training part)")
    figure.legend(frameon=False, fontsize=8, loc="outside lower center", ncols=2)
    axes.set_ylim(0, np.nanmax(np.concatenate([values(("lz_exact", "mean")), ceiling,
                                               values(("model_entropy", "mean_per_user")),
                                               [1.0]])) * 1.25)
    return figure


def pi_max_figure(series: dict[str, dict[str, np.ndarray]], views: dict[str, Any], name: str
                  ) -> Figure:
    """Histogram of Π_max per view, for both choices of N."""
    count = max(1, len(series))
    columns = min(2, count)
    rows = (count + columns - 1) // columns
    figure = Figure(figsize=(5.2 * columns, 3.4 * rows), layout="constrained")
    grid = figure.subplots(rows, columns, squeeze=False)
    bins = np.linspace(0, 1, 21).tolist()
    for axes, (view, values) in zip(grid.flat, series.items(), strict=False):
        for key, color, label in (("user", EXACT, "N = user's distinct symbols"),
                                  ("global", MODEL, f"N = {views[view]['symbols']} (all)")):
            data = values[key][~np.isnan(values[key])]
            axes.hist(data, bins=bins, color=color, alpha=0.6, label=label)
        axes.set_title(f"{view}")
        axes.set_xlabel("Π_max")
        axes.set_ylabel("users")
        axes.legend(frameon=False, fontsize=8)
    for axes in list(grid.flat)[len(series):]:
        axes.set_visible(False)
    figure.suptitle(f"{name}: predictability bound Π_max (Fano, exact LZ entropy)")
    return figure
