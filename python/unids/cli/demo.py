"""`unids demo`: the whole measuring-and-mining path on a built-in synthetic dataset with
planted patterns, so a new user sees what UniDS finds without downloading anything."""

from __future__ import annotations

import time
from pathlib import Path

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
@click.option("--users", type=click.IntRange(min=1), default=2000, show_default=True)
@click.option("--items", type=click.IntRange(min=10), default=2000, show_default=True)
@click.option("--theta-scale", type=click.FloatRange(min=0, min_open=True), default=1.0,
              show_default=True, help="θ = theta_scale × H1.")
@click.option("-o", "--output-dir", type=click.Path(file_okay=False),
              help="Also write sequences, patterns and segments as Parquet here.")
@click.option("--show", type=click.IntRange(min=0), default=10, show_default=True,
              help="How many found patterns to list.")
@json_option
def demo(seed: int, users: int, items: int, theta_scale: float, output_dir: str | None,
         show: int, as_json: bool) -> None:
    """Generate sequences with planted patterns, measure them, mine them, and score the miner.

    \b
    Examples:
      unids demo
      unids demo --seed 3 --theta-scale 0.8
      unids demo --json -o demo-out/
    """
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
    lines.append(f"done in {summary['seconds']:.1f} s")
    emit(summary, as_json, lines)
