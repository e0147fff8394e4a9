"""Planted-pattern recovery of the conditional-entropy miner as θ varies.

Sweeps `theta_scale` (θ = theta_scale × H1) on `make_planted` data, scores the maximal mined
patterns against the planted ones, and prints a markdown table; the DR4SR sliding-window miner
(α = 5, β = 2) is scored in the same run for comparison. With `--doc` the table replaces the
block between the markers in docs/MINING.md; `--json` writes the raw numbers for the history.

    python benches/recovery_table.py --seeds 0,1,2 --doc docs/MINING.md
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import click
import numpy as np

import unids
from unids.data.synthetic import make_planted
from unids.mining.recovery import maximal_patterns, recovery

START = "<!-- recovery-table:start -->"
END = "<!-- recovery-table:end -->"


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def _mean(values: list[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return float(np.mean(finite)) if finite else math.nan


def _cell(value: float, digits: int = 3) -> str:
    return "—" if math.isnan(value) else f"{value:.{digits}f}"


def _json_safe(value):
    """NaN (precision of an empty answer) as null, so the file is strict JSON."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def _timed(mine, *args, **kwargs):
    """(result, seconds) of one call: the miner alone, not the scoring."""
    started = time.perf_counter()
    result = mine(*args, **kwargs)
    return result, time.perf_counter() - started


def _row(miner: str, scale: str, theta: str, runs: list[dict]) -> str:
    """One markdown row: means over the seeds' runs."""
    maximal = _mean([r["maximal"] for r in runs])
    precision = _cell(_mean([r["precision"] for r in runs]))
    recall = _cell(_mean([r["recall"] for r in runs]))
    ms = 1e3 * _mean([r["seconds"] for r in runs])
    return f"| {miner} | {scale} | {theta} | {maximal:.1f} | {precision} | {recall} | {ms:.1f} |"


def score(table, planted) -> dict:
    precision, recall = recovery(table, planted)
    return {"precision": precision, "recall": recall, "maximal": len(maximal_patterns(table))}


@click.command()
@click.option("--scales", default="0.5,0.7,0.8,0.9,1.0,1.1,1.2,1.3,1.4,1.5", show_default=True)
@click.option("--seeds", default="0,1,2", show_default=True, help="make_planted seeds to average")
@click.option(
    "--doc", type=click.Path(path_type=Path), default=None, help="markdown file to update"
)
@click.option("--json", "json_path", type=click.Path(path_type=Path), default=None)
def main(scales: str, seeds: str, doc: Path | None, json_path: Path | None) -> None:
    seed_list = [int(s) for s in seeds.split(",")]
    datasets = [make_planted(seed=s) for s in seed_list]
    arrays = [d.to_arrow() for d in datasets]

    rows = []
    for scale in _floats(scales):
        runs = []
        for data, array in zip(datasets, arrays, strict=True):
            table, seconds = _timed(unids.mine_patterns, array, theta_scale=scale)
            theta = float(table.schema.metadata[b"theta"])
            runs.append({**score(table, data.planted), "theta": theta, "seconds": seconds})
        rows.append({"miner": "conditional-entropy", "theta_scale": scale, "runs": runs})
    window_runs = []
    for data, array in zip(datasets, arrays, strict=True):
        table, seconds = _timed(unids.window_patterns, array, alpha=5, beta=2)
        window_runs.append({**score(table, data.planted), "seconds": seconds})
    window = {"miner": "sliding-window α=5 β=2", "runs": window_runs}

    d0 = datasets[0]
    lines = [
        f"`make_planted()` defaults ({d0.n_users} users, {d0.n_items} items, mean length "
        f"{d0.mean_length:g}, {d0.n_patterns} patterns of length {d0.min_pattern_len}–"
        f"{d0.max_pattern_len}, plant rate {d0.plant_rate:g}, Zipf exponent {d0.zipf_exponent:g}); "
        f"mean over seeds {seeds}; other miner parameters at their defaults "
        "(min_support 2, max_len 5, surprisal).",
        "",
        "| miner | theta_scale | θ (bits) | maximal patterns | precision | recall | ms to mine |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        theta = _mean([r["theta"] for r in row["runs"]])
        lines.append(_row(row["miner"], f"{row['theta_scale']:.2f}", f"{theta:.2f}", row["runs"]))
    lines.append(_row(window["miner"], "—", "—", window_runs))
    text = "\n".join(lines)
    click.echo(text)

    if doc is not None:
        old = doc.read_text()
        if START not in old or END not in old:
            raise click.ClickException(f"{doc} has no {START} … {END} block")
        head, rest = old.split(START, 1)
        _, tail = rest.split(END, 1)
        doc.write_text(f"{head}{START}\n{text}\n{END}{tail}")
        click.echo(f"updated {doc}")
    if json_path is not None:
        record = {"seeds": seed_list, "sweep": rows, "window": window}
        json_path.write_text(json.dumps(_json_safe(record), indent=1))


if __name__ == "__main__":
    main()
