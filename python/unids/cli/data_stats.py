"""`unids data stats`: the data-quality report of a prepared dataset."""

from __future__ import annotations

import json
import time

import click

from unids.cli.options import json_option, threads_option
from unids.data.dataset import Dataset
from unids.quality.report import build_report


@click.command()
@click.argument("dataset_dir", type=click.Path(file_okay=False))
@click.option("-o", "--output", "report_dir", type=click.Path(file_okay=False), default=None,
              help="Directory for report.json, per_user.parquet and the PNG plots.")
@click.option("--max-len", type=click.IntRange(min=1), default=5, show_default=True,
              help="Model entropy: contexts of up to MAX_LEN − 1 items (the miner's L_max).")
@click.option("--min-support", type=click.IntRange(min=1), default=2, show_default=True,
              help="Model entropy: a context is used when seen at least this often (c).")
@click.option("--no-plots", is_flag=True, help="With -o: skip the PNG plots.")
@threads_option
@json_option
def stats(dataset_dir: str, report_dir: str | None, max_len: int, min_support: int,
          no_plots: bool, threads: int | None, as_json: bool) -> None:
    """Counts, length and popularity distributions, real entropy per symbol view (item, genre,
    behaviour, time gap), model conditional entropy and Π_max of a prepared dataset.

    Entropies are measured on the training part (all but each user's last 2 interactions).
    A view on which users never repeat a symbol (ML-1M items) gets a warning: there LZ entropy
    is log2(length), not a measure of regularity.

    \b
    Examples:
      unids data stats prepared/ml-1m
      unids data stats prepared/ml-1m -o reports/ml-1m
      unids data stats prepared/beauty --json > beauty-stats.json
    """
    start = time.perf_counter()
    dataset = Dataset.load(dataset_dir)
    report = build_report(dataset, max_len=max_len, min_support=min_support, threads=threads)
    written = report.write(report_dir, plots=not no_plots) if report_dir else []
    report.summary["seconds"] = round(time.perf_counter() - start, 3)
    if as_json:
        click.echo(json.dumps({**report.summary, "output": report_dir}, indent=2))
        return
    for line in report.lines():
        click.echo(line)
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    if written:
        click.echo(f"wrote {', '.join(p.name for p in written)} to {report_dir}")
    click.echo(f"done in {report.summary['seconds']:.1f} s")
