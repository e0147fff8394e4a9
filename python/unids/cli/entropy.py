"""`unids entropy`: real entropy and Π_max per user."""

from __future__ import annotations

import time

import click

from unids.cli.options import emit, input_options, json_option, read_input, threads_option
from unids.io import write_parquet
from unids.quality import entropy_table


@click.command()
@input_options
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Parquet file with one row per user.")
@click.option("--estimator", type=click.Choice(["exact", "approx"]), default="exact",
              show_default=True, help="Lempel-Ziv estimator (approx = the hash-set variant).")
@click.option("--n-symbols", type=click.Choice(["user", "global"]), default="user",
              show_default=True,
              help="N in Fano's inequality: the user's distinct items, or all items.")
@threads_option
@json_option
def entropy(input_path: str, user_col: str, item_col: str, time_col: str, sep: str | None,
            holdout: int, output: str | None, estimator: str, n_symbols: str,
            threads: int | None, as_json: bool) -> None:
    """Lempel-Ziv real entropy (bits) and the predictability bound Π_max of every user.

    \b
    Examples:
      unids entropy ratings.csv -o entropy.parquet
      unids entropy log.parquet --item-col movie_id --estimator approx --json
      unids entropy ratings.tsv.gz --holdout 0 --n-symbols global
    """
    start = time.perf_counter()
    _, train = read_input(input_path, user_col, item_col, time_col, sep, holdout)
    table, summary = entropy_table(train.users, train.items, estimator=estimator,  # type: ignore[arg-type]
                                   n_symbols=n_symbols, threads=threads)  # type: ignore[arg-type]
    if output:
        write_parquet(table, output)
    result = {**summary.as_dict(), "holdout": holdout, "output": output,
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
