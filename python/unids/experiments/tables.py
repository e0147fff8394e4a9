"""Result tables from run records: mean ± std over seeds, the relative change against a
baseline, a paired t-test marker, rendered as Markdown or aligned text.

    rows = summarize(records)                               # one Group per (…, method)
    headers, body = stage_table(rows, "recall")             # method × the stage's metrics
    print(markdown_table(headers, body))

A record is what `unids.train.fit` returns (and `unids run` collects): `dataset, backbone,
stage, method, seed, …, valid, test`. The stage's metrics (SPEC §7): recall MRR, HR@10, HR@50;
coarse NDCG@10, NDCG@50; fine AUC, logloss (lower is better). The marker `*` means the paired
t-test over the seeds both methods share gives p < 0.05 (`unids.eval.significance`); with
fewer than two shared seeds there is no test and no marker.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

STAGE_METRICS: dict[str, tuple[str, ...]] = {
    "recall": ("MRR", "HR@10", "HR@50"),
    "coarse": ("NDCG@10", "NDCG@50"),
    "fine": ("AUC", "logloss"),
}
LOWER_IS_BETTER = frozenset({"logloss"})
GROUP_KEYS = ("dataset", "backbone", "stage", "method")


@dataclass(frozen=True)
class Metric:
    """One metric of one group: its value per seed."""

    values: Mapping[int, float]

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return float(np.mean(list(self.values.values()))) if self.values else math.nan

    @property
    def std(self) -> float | None:
        """Sample standard deviation over seeds (None with a single seed)."""
        if self.n < 2:
            return None
        return float(np.std(list(self.values.values()), ddof=1))


@dataclass(frozen=True)
class Group:
    """The records of one (dataset, backbone, stage, method): each metric over seeds."""

    key: tuple[Any, ...]
    metrics: dict[str, Metric] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Any:
        return self.key[GROUP_KEYS.index(name)]

    @property
    def seeds(self) -> list[int]:
        return sorted({seed for metric in self.metrics.values() for seed in metric.values})


def summarize(records: Iterable[Mapping[str, Any]], split: str = "test") -> list[Group]:
    """One Group per (dataset, backbone, stage, method), in first-seen order. A seed seen
    twice in a group keeps its last record."""
    grouped: dict[tuple[Any, ...], dict[str, dict[int, float]]] = {}
    for record in records:
        key = tuple(record[name] for name in GROUP_KEYS)
        metrics = grouped.setdefault(key, {})
        for name, value in (record.get(split) or {}).items():
            if isinstance(value, int | float):
                metrics.setdefault(name, {})[int(record["seed"])] = float(value)
    return [Group(key, {name: Metric(values) for name, values in metrics.items()})
            for key, metrics in grouped.items()]


@dataclass(frozen=True)
class Comparison:
    """A metric of a method against the baseline's: relative change of the means, and the
    paired t-test over their shared seeds (None without two). `paired_relative` is the
    relative change on the shared seeds alone (None without one): where a cell has run on
    fewer seeds than the other, the like-for-like figure."""

    relative: float | None
    p_value: float | None
    shared: tuple[int, ...] = ()
    paired_relative: float | None = None

    @property
    def marker(self) -> str:
        from unids.eval.significance import mark_significant  # unids.eval imports torch

        return "" if self.p_value is None else mark_significant(self.p_value)


def compare(candidate: Metric, baseline: Metric) -> Comparison:
    relative = _relative(candidate.mean, baseline.mean)
    shared = sorted(set(candidate.values) & set(baseline.values))
    paired = None
    if shared:
        paired = _relative(float(np.mean([candidate.values[s] for s in shared])),
                           float(np.mean([baseline.values[s] for s in shared])))
    p_value = None
    if len(shared) >= 2:
        from unids.eval.significance import paired_t_test

        _, p_value = paired_t_test([candidate.values[s] for s in shared],
                                   [baseline.values[s] for s in shared])
    return Comparison(relative, p_value, tuple(shared), paired)


def _relative(value: float, base: float) -> float | None:
    return None if not base or math.isnan(base) else (value - base) / abs(base)


def format_metric(metric: Metric | None, digits: int = 4) -> str:
    """`0.1234 ± 0.0056` (several seeds), `0.1234` (one), `—` (none)."""
    if metric is None or metric.n == 0:
        return "—"
    std = metric.std
    return f"{metric.mean:.{digits}f}" + ("" if std is None else f" ± {std:.{digits}f}")


def format_relative(comparison: Comparison | None) -> str:
    """`+3.2%*`: the relative change of the mean and the significance marker."""
    if comparison is None or comparison.relative is None:
        return ""
    return f"{comparison.relative:+.1%}{comparison.marker}"


def stage_table(groups: Sequence[Group], stage: str, *, baseline: str = "base",
                metrics: Sequence[str] | None = None
                ) -> tuple[list[str], list[list[str]]]:
    """(headers, rows) of one stage: one row per group of that stage (dataset, backbone,
    method, seeds, then per metric `mean ± std` and the change against `baseline` of the
    same dataset and backbone). Metric headers say ↓ where lower is better."""
    metrics = tuple(metrics or STAGE_METRICS[stage])
    rows_of_stage = [g for g in groups if g["stage"] == stage]
    baselines = {(g["dataset"], g["backbone"]): g for g in rows_of_stage
                 if g["method"] == baseline}
    headers = ["dataset", "backbone", "method", "seeds"]
    for name in metrics:
        arrow = " ↓" if name in LOWER_IS_BETTER else ""
        headers += [f"{name}{arrow}", f"Δ {name}"]
    rows = []
    for group in rows_of_stage:
        base = baselines.get((group["dataset"], group["backbone"]))
        row = [str(group["dataset"]), str(group["backbone"]), str(group["method"]),
               ",".join(map(str, group.seeds))]
        for name in metrics:
            metric = group.metrics.get(name)
            row.append(format_metric(metric))
            comparison = None
            if base is not None and base is not group and metric is not None \
                    and name in base.metrics:
                comparison = compare(metric, base.metrics[name])
            row.append(format_relative(comparison))
        rows.append(row)
    return headers, rows


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured Markdown table (text columns left, the rest right-aligned)."""
    def escape(cell: str) -> str:
        return str(cell).replace("|", "\\|")

    text_columns = {i for i, name in enumerate(headers)
                    if name in ("dataset", "backbone", "stage", "method", "seeds")}
    lines = ["| " + " | ".join(escape(h) for h in headers) + " |",
             "|" + "|".join(":---" if i in text_columns else "---:"
                            for i in range(len(headers))) + "|"]
    lines += ["| " + " | ".join(escape(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def text_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """The table as aligned plain text for a terminal."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows,
                                                                        strict=False)]
    def line(cells: Sequence[str]) -> str:
        return "  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]),
                      *(line(row) for row in rows)])
