"""The `unids` command line. Each command lives in its own module; this one wires them up,
reads `--config`, and turns user errors into one line and exit code 2."""

from __future__ import annotations

import sys
from typing import Any

import click

from unids import __version__
from unids.cli.data import data
from unids.cli.demo import demo
from unids.cli.entropy import entropy
from unids.cli.experiment import experiment
from unids.cli.format import format_command
from unids.cli.mine import mine
from unids.cli.regenerate import regenerate
from unids.cli.run import run
from unids.cli.segment import segment
from unids.cli.train import evaluate, train
from unids.config import load_toml
from unids.errors import UserError

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class UnidsGroup(click.Group):
    """A group whose user errors print as `error: …` (exit 2) instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UserError as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(2)


def _load_config(ctx: click.Context, _param: click.Parameter, path: str | None) -> None:
    """Turns a TOML file into click defaults: `[mine] theta_scale = 0.8` sets `unids mine
    --theta-scale`; explicit command-line options still win."""
    if path is None:
        return
    config = load_toml(path)
    ctx.default_map = {command: dict(values) for command, values in config.items()
                       if isinstance(values, dict)}


@click.group(cls=UnidsGroup, context_settings=CONTEXT)
@click.version_option(__version__, prog_name="unids")
@click.option("--config", type=click.Path(dir_okay=False), callback=_load_config,
              is_eager=True, expose_value=False,
              help="TOML file with one table per command, e.g. [mine] theta_scale = 0.8. "
                   "Command-line options override it.")
def main() -> None:
    """UniDS: unified data synthesis for multi-stage recommender systems.

    \b
    Start here:
      unids demo                                  # the pipeline on a built-in synthetic dataset
      unids run --config configs/ml-1m-hstu.toml  # the whole pipeline, resumable
      unids entropy ratings.csv -o entropy.parquet
      unids mine ratings.csv -o patterns.parquet --theta-scale 0.8
      unids segment ratings.csv --patterns patterns.parquet -o segments.parquet

    Input files are CSV/TSV (optionally .gz) or Parquet with columns user_id, item_id and
    optionally timestamp (rename with --user-col/--item-col/--time-col). Each user's rows are
    sorted stably by timestamp. By default the last 2 interactions of every user (the
    leave-one-out validation and test items) are held out of mining and segmentation.
    """


main.add_command(data)
main.add_command(demo)
main.add_command(entropy)
main.add_command(experiment)
main.add_command(format_command)
main.add_command(mine)
main.add_command(regenerate)
main.add_command(run)
main.add_command(segment)
main.add_command(train)
main.add_command(evaluate)
