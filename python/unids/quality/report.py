"""The data-quality report of a prepared dataset: counts, length and popularity distributions,
real entropy per symbol view, model conditional entropy, and the predictability bound Π_max.

What is measured on what:
* counts, sequence lengths and item popularity: all interactions (the dataset as prepared);
* LZ real entropy (exact and approximate), model conditional entropy and Π_max: the training
  part (`Dataset.train()`), which is what mining and segmentation see.

Π_max uses the exact LZ entropy, with N = the user's distinct symbols (Song et al.) and with N =
the view's distinct symbols (the paper's Eq. 1). A view on which most users never repeat a
symbol gets a warning: there LZ entropy is log2(n), a measure of length, not of regularity.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

import unids
from unids.data.dataset import Dataset
from unids.data.time import has_clock_time
from unids.io import write_json, write_parquet
from unids.quality.entropy import distinct_per_list, max_predictability
from unids.quality.model_entropy import model_entropy
from unids.quality.views import View, symbol_views

QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9, 0.99)
PI_BINS = 20
TOP_SHARES = (0.01, 0.1, 0.2)


def distribution(values: np.ndarray) -> dict[str, float]:
    """min, quantiles (p10 … p99), mean and max."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return {}
    out = {"min": float(values.min())}
    out.update({f"p{round(q * 100)}": float(np.quantile(values, q)) for q in QUANTILES})
    out.update(mean=float(values.mean()), max=float(values.max()))
    return out


def gini(counts: np.ndarray) -> float:
    """Gini coefficient of non-negative counts (0 = all equal, → 1 = all on one item)."""
    counts = np.sort(np.asarray(counts, dtype=np.float64))
    n, total = len(counts), counts.sum()
    if n == 0 or total == 0:
        return float("nan")
    ranks = np.arange(1, n + 1)
    return float(2 * np.sum(ranks * counts) / (n * total) - (n + 1) / n)


@dataclass
class QualityReport:
    """`summary` is report.json; `per_user` one row per user; `series` what the plots need."""

    summary: dict[str, Any]
    per_user: pa.Table
    series: dict[str, Any] = field(repr=False)

    @property
    def warnings(self) -> list[str]:
        return list(self.summary["warnings"])

    def lines(self) -> list[str]:
        """The report as a text table for the terminal."""
        s = self.summary
        counts, lengths, popularity = s["counts"], s["lengths"], s["popularity"]
        out = [
            f"{s['dataset']}: {counts['users']} users, {counts['items']} items, "
            f"{counts['interactions']} interactions (density {counts['density']:.3%}); "
            f"training part {counts['train_interactions']}",
            "sequence length   " + _row(lengths),
            "item popularity   " + _row(popularity["counts"])
            + f"  Gini {popularity['gini']:.3f}",
            "                  top 1% / 10% / 20% of items hold "
            + " / ".join(f"{popularity['top_share'][k]:.1%}" for k in ("1%", "10%", "20%"))
            + f" of interactions; {popularity['items_below_5']} items seen < 5 times",
            "",
            f"entropy in bits on the training part (means over users; model: count model, "
            f"context ≤ {s['model']['max_len'] - 1}, seen ≥ {s['model']['min_support']}×)",
            f"{'view':<18}{'symbols':>8}{'no-repeat':>11}{'LZ exact':>10}{'LZ approx':>10}"
            f"{'log2 n':>8}{'model H':>9}{'Π user':>8}{'Π global':>9}",
        ]
        for name, v in s["views"].items():
            out.append(
                f"{name:<18}{v['symbols']:>8}{v['share_without_repeats']:>10.0%} "
                f"{_number(v['lz_exact']['mean']):>10}{_number(v['lz_approx']['mean']):>10}"
                f"{_number(v['log2_length']):>8}"
                f"{_number(v['model_entropy']['mean_per_user']):>9}"
                f"{_number(v['pi_max']['user']['mean']):>8}"
                f"{_number(v['pi_max']['global']['mean']):>9}")
        for name, reason in s["skipped_views"].items():
            out.append(f"{name:<18}skipped: {reason}")
        out.append("no-repeat: users who never repeat a symbol (LZ entropy = log2 n for them); "
                   "Π: mean Π_max with N = the user's / the view's distinct symbols")
        return out

    def write(self, directory: str | os.PathLike[str], *, plots: bool = True) -> list[Path]:
        """report.json, per_user.parquet and (with `plots`) the PNG figures; returns the paths.
        report.json goes last and lists the plots."""
        from unids.quality.plots import write_plots  # matplotlib only when plotting

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        written = []
        write_parquet(self.per_user, directory / "per_user.parquet")
        written.append(directory / "per_user.parquet")
        if plots:
            written += write_plots(self, directory)
        self.summary["files"] = [p.name for p in written] + ["report.json"]
        write_json(self.summary, directory / "report.json")
        return [*written, directory / "report.json"]


def _number(value: float | None) -> str:
    return "—" if value is None or value != value else f"{value:.3f}"


def _row(stats: dict[str, float]) -> str:
    keys = ("min", "p25", "p50", "mean", "p75", "p90", "max")
    names = {"p50": "median"}
    return "  ".join(f"{names.get(k, k)} {stats[k]:.4g}" for k in keys if k in stats)


def build_report(dataset: Dataset, *, max_len: int = 5, min_support: int = 2,
                 threads: int | None = None) -> QualityReport:
    """Measures `dataset` (see the module docstring). `max_len` and `min_support` are the
    count model's L_max and c (SPEC §3 defaults)."""
    start = time.perf_counter()
    train = dataset.train()
    items = dataset.sequences["items"].combine_chunks()
    lengths = items.value_lengths().to_numpy(zero_copy_only=False)
    flat_items = items.flatten().to_numpy(zero_copy_only=False)
    popularity = np.bincount(flat_items, minlength=dataset.n_items + 1)[1:]
    ranked = np.sort(popularity)[::-1]
    n_interactions = int(lengths.sum())

    counts: dict[str, Any] = {
        "users": dataset.n_users,
        "items": dataset.n_items,
        "interactions": n_interactions,
        "train_interactions": len(train.items.values),
        "density": n_interactions / max(1, dataset.n_users * dataset.n_items),
        "behaviors": list(dataset.behaviors),
    }
    if "label" in dataset.sequences.column_names:
        labels = dataset.sequences["label"].combine_chunks().flatten().drop_null()
        labels = labels.to_numpy(zero_copy_only=False)
        counts["label_positive_share"] = float(labels.mean()) if len(labels) else None
    timestamps = dataset.sequences["timestamps"].combine_chunks()
    counts["clock_time"] = has_clock_time(timestamps)
    if counts["clock_time"]:
        stamps = timestamps.flatten().to_numpy(zero_copy_only=False)
        counts["time_span_days"] = float((stamps.max() - stamps.min()) / 86400.0)

    views, skipped = symbol_views(dataset, train)
    warnings: list[str] = []
    view_summaries: dict[str, Any] = {}
    per_user: dict[str, Any] = {
        "user": pa.array(train.users),
        "train_length": train.items.value_lengths().to_numpy(zero_copy_only=False),
    }
    pi_series: dict[str, dict[str, np.ndarray]] = {}
    for view in views:
        summary, columns, pis = _measure_view(view, max_len=max_len, min_support=min_support,
                                              threads=threads)
        view_summaries[view.name] = summary
        pi_series[view.name] = pis
        key = view.name.replace(":", "_")
        per_user.update({f"{key}_{c}": v for c, v in columns.items()})
        if summary["users"] and summary["share_without_repeats"] > 0.5:
            what = ("no user repeats a symbol" if summary["no_repeats"] else
                    f"{summary['users_without_repeats']} of {summary['users']} users never "
                    "repeat a symbol")
            warnings.append(f"view {view.name!r}: {what}; there LZ entropy reduces to log2(n), "
                            "a measure of length, not of regularity (compare the coarser views "
                            "and the model entropy)")

    summary = {
        "dataset": dataset.name,
        "part": {"counts, lengths, popularity": "all interactions",
                 "entropy, model entropy, Π_max": "training part (all but the last 2 of "
                                                  "every user)"},
        "counts": counts,
        "lengths": distribution(lengths),
        "popularity": {
            "counts": distribution(popularity),
            "gini": gini(popularity),
            "top_share": {f"{round(q * 100)}%": float(ranked[:max(1, round(q * len(ranked)))]
                                                      .sum() / max(1, ranked.sum()))
                          for q in TOP_SHARES},
            "items_below_5": int((popularity < 5).sum()),
        },
        "model": {"kind": "count model (SPEC §3), in-sample", "max_len": max_len,
                  "min_support": min_support},
        "pi_max_bins": np.linspace(0, 1, PI_BINS + 1).tolist(),
        "views": view_summaries,
        "skipped_views": skipped,
        "warnings": warnings,
        "created_by": f"unids {unids.__version__}",
        "seconds": 0.0,
    }
    summary["seconds"] = round(time.perf_counter() - start, 3)
    series = {"lengths": lengths, "popularity": ranked, "pi_max": pi_series}
    return QualityReport(summary=summary, per_user=pa.table(per_user), series=series)


def _measure_view(view: View, *, max_len: int, min_support: int, threads: int | None
                  ) -> tuple[dict[str, Any], dict[str, np.ndarray], dict[str, np.ndarray]]:
    sequences = view.sequences
    lengths = sequences.value_lengths().to_numpy(zero_copy_only=False).astype(np.int64)
    exact = unids.real_entropy(sequences, estimator="exact", threads=threads)
    approx = unids.real_entropy(sequences, estimator="approx", threads=threads)
    distinct = distinct_per_list(sequences)
    pi_user, saturated_user = max_predictability(exact, distinct.astype(np.float64))
    pi_global, saturated_global = max_predictability(exact, float(view.n_symbols))
    model = model_entropy(sequences, max_len=max_len, min_support=min_support)
    measured = lengths > 0
    several = lengths > 1
    without_repeats = several & (distinct == lengths)

    def stats(values: np.ndarray) -> dict[str, float | None]:
        values = values[measured & ~np.isnan(values)]
        if len(values) == 0:
            return {"mean": None, "median": None}
        return {"mean": float(values.mean()), "median": float(np.median(values))}

    def pi_stats(pi: np.ndarray, saturated: np.ndarray) -> dict[str, Any]:
        kept = pi[measured & ~np.isnan(pi)]
        histogram = np.histogram(kept, bins=PI_BINS, range=(0.0, 1.0))[0]
        return {**stats(pi), "saturated": int(saturated[measured].sum()),
                "histogram": histogram.tolist()}

    summary = {
        "description": view.description,
        "symbols": view.n_symbols,
        "users": int(measured.sum()),
        "mean_length": float(lengths[measured].mean()) if measured.any() else 0.0,
        "users_without_repeats": int(without_repeats.sum()),
        "share_without_repeats": float(without_repeats.sum() / max(1, several.sum())),
        "no_repeats": bool(several.any() and without_repeats.sum() == several.sum()),
        "lz_exact": stats(exact),
        "lz_approx": stats(approx),
        "log2_length": float(np.log2(lengths[several]).mean()) if several.any() else 0.0,
        "model_entropy": {"mean_per_user": stats(model.per_user)["mean"],
                          "mean_per_interaction": model.mean_bits,
                          "context_length_shares": {str(k): v for k, v in
                                                    model.order_shares().items()}},
        "pi_max": {"user": pi_stats(pi_user, saturated_user),
                   "global": pi_stats(pi_global, saturated_global)},
    }
    columns = {"length": lengths, "lz_exact": exact, "lz_approx": approx,
               "model_bits": model.per_user, "pi_max_user": pi_user,
               "pi_max_global": pi_global}
    return summary, columns, {"user": pi_user[measured], "global": pi_global[measured]}
