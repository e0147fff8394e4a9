"""`unids segment`: cut each user's training sequence into mined patterns."""

from __future__ import annotations

import time

import click
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from unids import _core
from unids.cli.options import emit, input_options, json_option, read_input, threads_option
from unids.errors import InputError
from unids.io import write_parquet


@click.command()
@input_options
@click.option("--patterns", "patterns_path", required=True, type=click.Path(dir_okay=False),
              help="Pattern table written by `unids mine`.")
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Parquet file: user_id, items, segment_lengths.")
@click.option("--method", type=click.Choice(["dp", "greedy"]), default="dp", show_default=True,
              help="dp = minimum total entropy; greedy = longest match first.")
@threads_option
@json_option
def segment(input_path: str, user_col: str, item_col: str, time_col: str, sep: str | None,
            holdout: int, patterns_path: str, output: str | None, method: str,
            threads: int | None, as_json: bool) -> None:
    """Segment every user's training sequence into patterns [P1 … Pk] (SPEC §4).

    \b
    Examples:
      unids mine ratings.csv -o patterns.parquet
      unids segment ratings.csv --patterns patterns.parquet -o segments.parquet
      unids segment ratings.csv --patterns patterns.parquet --method greedy --json
    """
    start = time.perf_counter()
    _, train = read_input(input_path, user_col, item_col, time_col, sep, holdout)
    patterns = _read_patterns(patterns_path)
    lengths = _core.segment(train.items, patterns, method=method, threads=threads)
    table = pa.table({"user_id": train.users, "items": train.items, "segment_lengths": lengths})
    if output:
        write_parquet(table, output)
    flat = lengths.flatten().to_numpy()
    in_patterns = int(flat[flat >= 2].sum())
    summary = {
        "users": len(train),
        "interactions": train.n_interactions,
        "segments": len(flat),
        "mean_segments_per_user": float(np.mean(pc.list_value_length(lengths).to_numpy()))
        if len(train) else 0.0,
        "share_in_patterns": in_patterns / max(1, train.n_interactions),
        "method": method,
        "output": output,
        "seconds": round(time.perf_counter() - start, 3),
    }
    lines = [
        f"{summary['users']} users, {summary['interactions']} interactions → "
        f"{summary['segments']} segments ({method})",
        f"{summary['share_in_patterns']:.1%} of interactions fall in multi-item patterns",
    ]
    if output:
        lines.append(f"wrote {output}")
    emit(summary, as_json, lines)


def _read_patterns(path: str) -> pa.Table:
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as error:
        raise InputError(path, f"not a readable pattern table ({error})") from None
    for column in ("pattern", "entropy"):
        if column not in table.column_names:
            raise InputError(path, "missing column; expected the output of `unids mine`",
                             column=column)
    return table
