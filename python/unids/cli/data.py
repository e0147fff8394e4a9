"""`unids data …`: turn the files a user has into a prepared dataset, and look at it."""

from __future__ import annotations

import time
from typing import Any

import click

from unids.cli.data_stats import stats
from unids.cli.options import emit, json_option
from unids.data.dataset import CleanConfig, Dataset, build_dataset

SOURCES = ["ml-1m", "ml-100k", "amazon", "s3rec", "kuairand", "csv", "parquet", "recbole"]


@click.group()
def data() -> None:
    """Prepare datasets (load → clean → contiguous ids → time order → leave-one-out split)."""


@data.command()
@click.argument("source", type=click.Choice(SOURCES))
@click.option("--path", "path", required=True, type=click.Path(exists=True),
              help="The dataset's folder or file, as distributed.")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False),
              help="Directory for the prepared dataset.")
@click.option("--kcore", type=click.IntRange(min=0), default=0, show_default=True,
              help="Keep users and items with at least K interactions (0 = off).")
@click.option("--min-len", type=click.IntRange(min=3), default=3, show_default=True,
              help="Drop users with fewer interactions (3 = one train + valid + test).")
@click.option("--max-len", type=click.IntRange(min=3), default=None,
              help="Keep only each user's most recent N interactions.")
@click.option("--dedup", type=click.Choice(["keep-all", "first", "last"]), default="keep-all",
              show_default=True, help="Repeated (user, item) pairs: keep all, or one.")
@click.option("--user-col", default="user_id", show_default=True, help="csv/parquet: user column.")
@click.option("--item-col", default="item_id", show_default=True, help="csv/parquet: item column.")
@click.option("--time-col", default="timestamp", show_default=True,
              help="csv/parquet: timestamp column.")
@click.option("--option", "loader_options", multiple=True, metavar="KEY=VALUE",
              help="A loader option, repeatable: e.g. ml-1m ratings=ratings.dat, kuairand "
                   "random=true, csv behaviors=rating label=rating>=4, csv items=items.csv.")
@json_option
def prepare(source: str, path: str, output: str, kcore: int, min_len: int, max_len: int | None,
            dedup: str, user_col: str, item_col: str, time_col: str,
            loader_options: tuple[str, ...], as_json: bool) -> None:
    """Load a dataset from its files and write a prepared dataset directory.

    \b
    Examples:
      unids data prepare ml-1m --path ~/data/ml-1m -o prepared/ml-1m
      unids data prepare amazon --path ~/data/beauty-2014 -o prepared/beauty --kcore 5
      unids data prepare csv --path log.csv --item-col movie -o prepared/mine --max-len 200
      unids data prepare ml-1m --path ml-1m -o prepared/ml1m --option ratings=ml-1m/ratings.dat
    """
    from unids.data.loaders import load  # imported here: loaders pull in every source's code

    start = time.perf_counter()
    options: dict[str, Any] = {}
    if source in ("csv", "parquet"):
        options = {"user_col": user_col, "item_col": item_col, "time_col": time_col}
    options.update(_parse_options(loader_options))
    raw = load(source, path, **options)
    config = CleanConfig(dedup=dedup, kcore=kcore, min_length=min_len,  # type: ignore[arg-type]
                         max_length=max_len)
    dataset = build_dataset(raw, config)
    dataset.save(output)
    for note in raw.notes:
        click.echo(f"note: {note}", err=True)
    summary = {**dataset.manifest["counts"], "output": output,
               "seconds": round(time.perf_counter() - start, 3)}
    emit(summary, as_json, [
        f"{dataset.name}: {summary['users']} users, {summary['items']} items, "
        f"{summary['interactions']} interactions → {output}",
    ])


def _parse_options(pairs: tuple[str, ...]) -> dict[str, Any]:
    """`key=value` strings → keyword arguments; true/false become booleans."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--option")
        lowered = value.lower()
        options[key.replace("-", "_")] = {"true": True, "false": False}.get(lowered, value)
    return options


data.add_command(stats)


@data.command()
@click.argument("dataset_dir", type=click.Path(file_okay=False))
@json_option
def info(dataset_dir: str, as_json: bool) -> None:
    """Print a prepared dataset's manifest and counts.

    \b
    Examples:
      unids data info prepared/ml-1m
      unids data info prepared/ml-1m --json
    """
    dataset = Dataset.load(dataset_dir)
    manifest = dataset.manifest
    counts = manifest["counts"]
    lines = [
        f"{manifest['name']} (schema {manifest['schema_version']}, {manifest['created_by']})",
        f"  users {counts['users']}, items {counts['items']}, interactions "
        f"{counts['interactions']}",
        f"  split: {manifest['split']['kind']} (valid = {manifest['split']['valid']}, "
        f"test = {manifest['split']['test']})",
        f"  cleaning: {manifest['clean']}",
        f"  behaviours: {', '.join(manifest['behaviors']) or 'none'}; label: "
        f"{manifest['label'] or 'none'}",
    ]
    lines += [f"  source {s['name']}: {s['bytes']} bytes, sha256 {s['sha256'][:16]}…"
              for s in manifest["sources"]]
    lines += [f"  note: {note}" for note in manifest["notes"]]
    emit(manifest, as_json, lines)


@data.command()
@click.argument("name")
@click.option("-d", "--dest", default=".", show_default=True, type=click.Path(file_okay=False),
              help="Folder to unpack into (as DEST/NAME).")
@click.option("--url", default=None, help="Download from here instead of the known address.")
@click.option("--sha256", default=None, help="Expected SHA-256 of the archive.")
def fetch(name: str, dest: str, url: str | None, sha256: str | None) -> None:
    """Download a dataset's official archive, verify its checksum and unpack it (needs internet).

    \b
    Examples:
      unids data fetch ml-1m -d ~/data
      unids data fetch mydata --url https://example.org/mydata.zip --sha256 0123…
    """
    import warnings

    from unids.data.fetch import fetch as fetch_archive

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        folder = fetch_archive(name, dest, url=url, sha256=sha256, progress=None)
    for warning in caught:
        click.echo(f"warning: {warning.message}", err=True)
    click.echo(f"{name} → {folder}")


@data.command()
@click.argument("dataset_dir", type=click.Path(file_okay=False))
@click.option("--format", "fmt", type=click.Choice(["recbole", "hstu"]), required=True,
              help="recbole = atomic .inter/.user/.item files; hstu = generative-recommenders' "
                   "sasrec_format.csv.")
@click.option("-o", "--output", required=True, type=click.Path(),
              help="recbole: a directory; hstu: a .csv file.")
def export(dataset_dir: str, fmt: str, output: str) -> None:
    """Write a prepared dataset in another toolkit's format.

    \b
    Examples:
      unids data export prepared/ml-1m --format recbole -o recbole/ml-1m
      unids data export prepared/ml-1m --format hstu -o hstu/sasrec_format.csv
    """
    from unids.data.export import write_hstu_sasrec_csv, write_recbole

    dataset = Dataset.load(dataset_dir)
    if fmt == "recbole":
        written = write_recbole(dataset, output, dataset.name)
        click.echo("wrote " + ", ".join(str(p) for p in written))
    else:
        write_hstu_sasrec_csv(dataset, output)
        click.echo(f"wrote {output}")
