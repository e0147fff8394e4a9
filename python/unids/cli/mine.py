"""`unids mine`: low-entropy item patterns from the training part of an interaction log."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import click
import numpy as np
import pyarrow as pa
from tqdm import tqdm

from unids import _core
from unids.cli.engines import check_engine, spark_input
from unids.cli.options import (
    emit,
    input_columns,
    input_options,
    json_option,
    read_input,
    scale_options,
    threads_option,
)
from unids.io import write_parquet
from unids.io.streaming import stream_sequences
from unids.mining.conditional import mine as mine_conditional
from unids.mining.partial import mine_in_passes


@click.command()
@input_options
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Parquet file of patterns (pattern, length, support, entropy).")
@click.option("--miner", type=click.Choice(["entropy", "window"]), default="entropy",
              show_default=True,
              help="entropy = conditional-entropy miner (Algorithm 1); window = DR4SR's "
                   "sliding windows.")
@click.option("--theta", type=float, default=None, help="Entropy threshold θ in bits.")
@click.option("--theta-scale", type=click.FloatRange(min=0, min_open=True), default=1.0,
              show_default=True,
              help="θ = theta_scale × H1 (unigram entropy) when --theta is unset.")
@click.option("--min-support", type=click.IntRange(min=1), default=2, show_default=True,
              help="Minimum occurrences c (window miner: β).")
@click.option("--max-len", type=click.IntRange(min=2), default=5, show_default=True,
              help="Maximum pattern length L_max (window miner: α).")
@click.option("--increment", type=click.Choice(["surprisal", "plogp"]), default="surprisal",
              show_default=True, help="Entropy increment h(s|P): -log2 p, or Eq. 5's -p log2 p.")
@click.option("--top", type=click.IntRange(min=0), default=10, show_default=True,
              help="How many patterns to show.")
@scale_options
@threads_option
@json_option
def mine(input_path: str, user_col: str, item_col: str, time_col: str, sep: str | None,
         holdout: int, output: str | None, miner: str, theta: float | None, theta_scale: float,
         min_support: int, max_len: int, increment: str, top: int, stream: bool,
         batch_rows: int, engine: str, master: str | None, spark_conf: tuple[str, ...],
         presorted: bool,
         threads: int | None, as_json: bool) -> None:
    """Mine contiguous item patterns whose entropy H(P) = H(i1) + Σ h(s|P) is below θ.

    With --stream (a Parquet log grouped by user) or --engine spark the patterns are the same
    as in memory, bit for bit: the counts are summed level by level (docs/SCALE.md).

    \b
    Examples:
      unids mine ratings.csv -o patterns.parquet
      unids mine ratings.csv -o patterns.parquet --theta-scale 0.8 --max-len 4
      unids mine log.parquet --item-col movie_id --miner window --json
      unids mine huge.parquet --stream -o patterns.parquet
      unids mine logs/ --engine spark --master local[2] -o patterns.parquet
    """
    start = time.perf_counter()
    check_engine(engine, stream, master, spark_conf, presorted)
    params: dict[str, Any] = {"min_support": min_support, "max_len": max_len}
    if miner == "entropy":
        params.update(theta=theta, theta_scale=theta_scale, increment=increment)
    if engine == "spark" or stream:
        columns = input_columns(user_col, item_col, time_col)
        with tqdm(total=max_len - 1, desc="mining levels", unit="level",
                  disable=as_json) as bar:
            def on_level(level: int) -> None:
                bar.update(1)
                bar.set_postfix(length=level)

            if engine == "spark":
                from unids.distributed.spark import mine_patterns_spark

                with spark_input(input_path, columns, sep, master, spark_conf,
                                 presorted=presorted, batch_rows=batch_rows) as df:
                    table, interactions = mine_patterns_spark(
                        df, columns=columns, holdout=holdout, miner=miner,  # type: ignore[arg-type]
                        presorted=presorted,
                        on_level=on_level, **params)
            else:
                def passes() -> Iterator[pa.ListArray]:
                    for batch in stream_sequences(input_path, columns, holdout=holdout,
                                                  batch_rows=batch_rows):
                        yield batch.items

                table, interactions = mine_in_passes(passes, miner=miner,  # type: ignore[arg-type]
                                                     on_level=on_level, **params)
            bar.update(bar.total - bar.n)
    else:
        _, train = read_input(input_path, user_col, item_col, time_col, sep, holdout)
        interactions = train.n_interactions
        if miner == "entropy":
            table = mine_conditional(train.items, progress=not as_json,
                                     **params)
        else:
            table = _core.window_patterns(train.items, alpha=max_len, beta=min_support,
                                          threads=threads)
    if output:
        write_parquet(table, output)
    summary = _summary(table, interactions, miner, holdout)
    summary["engine"] = "spark" if engine == "spark" else "stream" if stream else "memory"
    summary.update(output=output, seconds=round(time.perf_counter() - start, 3))
    emit(summary, as_json, _lines(table, summary, top))


def _summary(table: pa.Table, interactions: int, miner: str, holdout: int) -> dict[str, object]:
    meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
    lengths = table["length"].to_numpy()
    summary: dict[str, object] = {
        "miner": miner,
        "interactions": interactions,
        "holdout": holdout,
        "patterns": table.num_rows,
        "by_length": {int(n): int(c) for n, c in zip(*np.unique(lengths, return_counts=True),
                                                     strict=True)},
    }
    if "theta" in meta:
        summary.update(theta_bits=float(meta["theta"]), h1_bits=float(meta["h1"]))
    return summary


def _lines(table: pa.Table, summary: dict[str, object], top: int) -> list[str]:
    lines = [f"{summary['patterns']} patterns from {summary['interactions']} interactions "
             f"(holdout {summary['holdout']}); by length: {summary['by_length']}"]
    if "theta_bits" in summary:
        lines.append(f"θ = {summary['theta_bits']:.4f} bits (H1 = {summary['h1_bits']:.4f} bits)")
    if top and table.num_rows:
        lines.append(f"{'pattern':<40} {'support':>8} {'entropy':>9}")
        for row in table.slice(0, top).to_pylist():
            pattern = " ".join(map(str, row["pattern"]))
            lines.append(f"{pattern:<40} {row['support']:>8} {row['entropy']:>9.4f}")
    if summary.get("output"):
        lines.append(f"wrote {summary['output']}")
    return lines
