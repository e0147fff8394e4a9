"""`unids demo`: UniDS end to end on built-in synthetic data with planted patterns, so a new
user sees what it finds and what it changes without downloading anything.

Part 1 measures and mines a planted dataset and scores the miner against the planted truth.
Part 2 runs the whole `unids run` pipeline (quality → mine → segment → PT format →
regenerate → train → evaluate, for base and UniDS on every stage) on a smaller planted
dataset (`unids.experiments.demo`) and prints the stage × method table.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import click
import numpy as np
import pyarrow as pa

from unids import _core
from unids.cli.options import emit, json_option
from unids.data.synthetic import make_planted
from unids.io import write_parquet
from unids.mining.conditional import mine as mine_conditional
from unids.mining.recovery import maximal_patterns, recovery
from unids.quality import entropy_table


@click.command()
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed of the data.")
@click.option("--users", type=click.IntRange(min=1), default=2000, show_default=True,
              help="Users of part 1's dataset (part 2 uses 400).")
@click.option("--items", type=click.IntRange(min=10), default=2000, show_default=True,
              help="Items of part 1's dataset (part 2 uses 300).")
@click.option("--theta-scale", type=click.FloatRange(min=0, min_open=True), default=1.0,
              show_default=True, help="Part 1: θ = theta_scale × H1.")
@click.option("-o", "--output-dir", type=click.Path(file_okay=False),
              help="Also write part 1's sequences, patterns and segments as Parquet here.")
@click.option("--show", type=click.IntRange(min=0), default=10, show_default=True,
              help="How many found patterns to list.")
@click.option("--workdir", type=click.Path(file_okay=False), default=None,
              help="Keep part 2's pipeline steps, report.md, results.json and plots here "
                   "(a rerun reuses them); default: a temporary folder, removed at the end.")
@click.option("--mining-only", is_flag=True, help="Part 1 only (a second or two).")
@json_option
def demo(seed: int, users: int, items: int, theta_scale: float, output_dir: str | None,
         show: int, workdir: str | None, mining_only: bool, as_json: bool) -> None:
    """Mine a synthetic dataset with planted patterns, then run the whole pipeline on one and
    compare base with UniDS on every stage.

    Part 1 generates sequences with planted patterns, measures their entropy, mines them and
    scores the miner against the planted truth. Part 2 runs `unids run` on a smaller planted
    dataset whose test items are planted successors: per stage it mines, segments, formats,
    trains the regenerator, builds the stage dataset, trains a small SASRec on the original
    data (base) and on the stage dataset (unids), and prints the test metrics (about a minute
    on a 2-core CPU).

    \b
    Examples:
      unids demo
      unids demo --seed 3 --theta-scale 0.8 --mining-only
      unids demo --workdir runs/demo        # keep report.md, results.json and the plots
      unids demo --json -o demo-out/
    """
    start = time.perf_counter()
    summary, lines = _mining(seed, users, items, theta_scale, output_dir, show, as_json)
    if not mining_only:
        pipeline, pipeline_lines = _pipeline(seed, workdir, as_json)
        summary["pipeline"] = pipeline
        lines += ["", *pipeline_lines]
    summary["seconds"] = round(time.perf_counter() - start, 3)
    lines.append(f"done in {summary['seconds']:.1f} s")
    emit(summary, as_json, lines)


def _pipeline(seed: int, workdir: str | None, as_json: bool) -> tuple[dict[str, Any], list[str]]:
    """Part 2: `unids run` with the demo settings; (JSON summary, lines)."""
    import torch

    from unids.experiments.demo import DEMO_DATA, demo_config
    from unids.experiments.pipeline import run_pipeline
    from unids.experiments.tables import text_table

    # The demo's models are tiny: one thread is faster than several (hand-offs between threads
    # cost more than the work), and on a busy machine several times faster.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with tempfile.TemporaryDirectory(prefix="unids-demo-") as temporary:
            config = demo_config(workdir or temporary, seed=seed)
            outcome = run_pipeline(config, progress=not as_json, inner_progress=False)
            tables = outcome.tables()
    finally:
        torch.set_num_threads(threads)
    lines = [f"pipeline (unids run) on a planted dataset of {DEMO_DATA['n_users']} users and "
             f"{DEMO_DATA['n_items']} items whose test items are planted successors; "
             f"{config.backbone}, {config.train['epochs']} epochs, "
             f"{outcome.records[0]['device']}, {outcome.seconds:.1f} s:"]
    for stage, headers, rows in tables:
        keep = [i for i, name in enumerate(headers) if name not in ("dataset", "backbone")]
        lines += [f"{stage} (test)",
                  text_table([headers[i] for i in keep], [[row[i] for i in keep]
                                                          for row in rows])]
    lines.append("Δ: change against base. " + (f"Report, results and plots: {workdir}"
                                               if workdir else
                                               "--workdir DIR keeps report.md and plots."))
    summary = {"seconds": outcome.seconds, "workdir": workdir,
               "records": [{key: record[key] for key in ("stage", "method", "seed", "epochs",
                                                         "device", "wall_time_s", "test")}
                           for record in outcome.records]}
    return summary, lines


def _mining(seed: int, users: int, items: int, theta_scale: float, output_dir: str | None,
            show: int, as_json: bool) -> tuple[dict[str, Any], list[str]]:
    """Part 1: generate, measure, mine and score; (JSON summary, lines)."""
    start = time.perf_counter()
    data = make_planted(n_users=users, n_items=items, seed=seed)
    sequences = data.to_arrow()
    user_ids = np.arange(1, len(data.sequences) + 1)
    _, entropy = entropy_table(user_ids, sequences)
    patterns = mine_conditional(sequences, theta_scale=theta_scale, progress=not as_json)
    precision, recall = recovery(patterns, data.planted)
    maximal = maximal_patterns(patterns)
    lengths = _core.segment(sequences, patterns)
    flat = lengths.flatten().to_numpy()
    meta = patterns.schema.metadata
    summary = {
        "seed": seed,
        "users": len(data.sequences),
        "interactions": len(sequences.values),
        "planted_patterns": len(data.planted),
        "mean_entropy_bits": entropy.mean_entropy_bits,
        "mean_pi_max": entropy.mean_pi_max,
        "theta_bits": float(meta[b"theta"]),
        "h1_bits": float(meta[b"h1"]),
        "mined_patterns": patterns.num_rows,
        "maximal_patterns": len(maximal),
        "precision": precision,
        "recall": recall,
        "share_in_patterns": float(flat[flat >= 2].sum()) / max(1, len(sequences.values)),
        "seconds": round(time.perf_counter() - start, 3),
    }
    if output_dir:
        out = Path(output_dir)
        write_parquet(pa.table({"user_id": user_ids, "items": sequences}),
                      out / "sequences.parquet")
        write_parquet(patterns, out / "patterns.parquet")
        write_parquet(pa.table({"user_id": user_ids, "segment_lengths": lengths}),
                      out / "segments.parquet")
        summary["output_dir"] = str(out)
    planted = set(data.planted)
    lines = [
        f"synthetic data: {summary['users']} users, {summary['interactions']} interactions, "
        f"{summary['planted_patterns']} planted patterns (seed {seed})",
        f"real entropy: mean {entropy.mean_entropy_bits:.3f} bits; Π_max mean "
        f"{entropy.mean_pi_max:.3f}",
        f"mined at θ = {summary['theta_bits']:.3f} bits ({theta_scale} × H1): "
        f"{patterns.num_rows} patterns, {len(maximal)} maximal",
        f"recovery of the planted patterns: precision {precision:.3f}, recall {recall:.3f}",
        f"{summary['share_in_patterns']:.1%} of interactions segmented into multi-item patterns",
    ]
    if show:
        lines.append(f"{'maximal pattern':<36} {'support':>8} {'entropy':>8}  planted?")
        rows = {tuple(r["pattern"]): r for r in patterns.to_pylist()}
        for pattern in sorted(maximal, key=lambda p: rows[p]["entropy"])[:show]:
            row = rows[pattern]
            text = " ".join(map(str, pattern))
            lines.append(f"{text:<36} {row['support']:>8} {row['entropy']:>8.3f}  "
                         f"{'yes' if pattern in planted else 'no'}")
    return summary, lines
