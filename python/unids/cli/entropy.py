"""`unids entropy`: real entropy and Π_max per user."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import click
import numpy as np
import pyarrow as pa

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
from unids.io import Sequences, write_parquet
from unids.io.streaming import stream_sequences
from unids.quality import entropy_table
from unids.quality.entropy import entropy_table_batches, summarize


@click.command()
@input_options
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Parquet file with one row per user.")
@click.option("--estimator", type=click.Choice(["exact", "approx"]), default="exact",
              show_default=True, help="Lempel-Ziv estimator (approx = the hash-set variant).")
@click.option("--n-symbols", type=click.Choice(["user", "global"]), default="user",
              show_default=True,
              help="N in Fano's inequality: the user's distinct items, or all items.")
@scale_options
@threads_option
@json_option
def entropy(input_path: str, user_col: str, item_col: str, time_col: str, sep: str | None,
            holdout: int, output: str | None, estimator: str, n_symbols: str, stream: bool,
            batch_rows: int, engine: str, master: str | None,
            spark_conf: tuple[str, ...], presorted: bool,
            threads: int | None, as_json: bool) -> None:
    """Lempel-Ziv real entropy (bits) and the predictability bound Π_max of every user.

    With --stream (a Parquet log grouped by user; rows in input order) or --engine spark (rows
    by ascending user) the per-user values are those of the in-memory path (docs/SCALE.md).

    \b
    Examples:
      unids entropy ratings.csv -o entropy.parquet
      unids entropy log.parquet --item-col movie_id --estimator approx --json
      unids entropy ratings.tsv.gz --holdout 0 --n-symbols global
      unids entropy huge.parquet --stream -o entropy.parquet
      unids entropy logs/ --engine spark --master local[2] -o entropy.parquet
    """
    start = time.perf_counter()
    check_engine(engine, stream, master, spark_conf, presorted)
    options: dict[str, Any] = {"estimator": estimator, "n_symbols": n_symbols}
    columns = input_columns(user_col, item_col, time_col)
    if engine == "spark":
        from unids.distributed.spark import real_entropy_spark

        with spark_input(input_path, columns, sep, master, spark_conf,
                         presorted=presorted, batch_rows=batch_rows) as df:
            per_user = real_entropy_spark(df, columns=columns, holdout=holdout, threads=threads,
                                          presorted=presorted, **options)
            table = per_user.toArrow() if hasattr(per_user, "toArrow") else \
                pa.Table.from_pylist([row.asDict() for row in per_user.collect()])
        table = table.sort_by(columns.user).rename_columns(["user_id", *table.column_names[1:]])
        table = table.combine_chunks()
        summary = summarize(table, estimator)
    elif stream:
        def batches() -> Iterator[Sequences]:
            return stream_sequences(input_path, columns, holdout=holdout, batch_rows=batch_rows)

        n_items = None
        if n_symbols == "global":  # one more pass: the distinct items of the training part
            n_items = len(np.unique(np.concatenate(
                [np.unique(b.items.values.to_numpy()) for b in batches()]
                or [np.zeros(0, np.int32)])))
        table, summary = entropy_table_batches(batches(), threads=threads, n_items=n_items,
                                               **options)
    else:
        _, train = read_input(input_path, user_col, item_col, time_col, sep, holdout)
        table, summary = entropy_table(train.users, train.items, threads=threads, **options)
    if output:
        write_parquet(table, output)
    result = {**summary.as_dict(), "holdout": holdout, "output": output,
              "engine": "spark" if engine == "spark" else "stream" if stream else "memory",
              "seconds": round(time.perf_counter() - start, 3)}
    lines = [
        f"{summary.users} users, {summary.interactions} interactions (holdout {holdout})",
        f"real entropy ({estimator}): mean {summary.mean_entropy_bits:.3f} bits, "
        f"median {summary.median_entropy_bits:.3f} bits",
        f"Π_max: mean {summary.mean_pi_max:.3f} ({summary.saturated_users} users at the 1/N floor)",
    ]
    if summary.users_without_repeats > summary.users // 2:
        # Without repeats every Λ_i is 1 and the estimate is log2(n): say so rather than let it
        # pass for a measure of regularity.
        message = (f"warning: {summary.users_without_repeats} of {summary.users} users never "
                   "repeat an item; on this symbol view LZ entropy reduces to log2(length). "
                   "Use a coarser view (genre, category, behaviour) to measure regularity.")
        click.echo(message, err=True)
    if output:
        lines.append(f"wrote {output}")
    emit(result, as_json, lines)
