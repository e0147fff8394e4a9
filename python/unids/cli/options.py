"""Options shared by the commands that read an interaction log."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import click

from unids.io import Columns, Sequences, load_sequences
from unids.io.atomic import strict_json
from unids.io.streaming import DEFAULT_BATCH_ROWS

F = TypeVar("F", bound=Callable[..., Any])


def input_options(function: F) -> F:
    """INPUT plus column names, separator and holdout."""
    decorators = [
        click.argument("input_path", metavar="INPUT", type=click.Path()),
        click.option("--user-col", default="user_id", show_default=True, help="User id column."),
        click.option("--item-col", default="item_id", show_default=True, help="Item id column."),
        click.option("--time-col", default="timestamp", show_default=True,
                     help="Timestamp column; '' to keep file order."),
        click.option("--sep", default=None,
                     help="Field separator (default: from the extension or the header)."),
        click.option("--holdout", default=2, show_default=True, type=click.IntRange(min=0),
                     help="Interactions held out at the end of each user (leave-one-out "
                          "validation + test); 0 uses everything."),
    ]
    for decorator in reversed(decorators):
        function = decorator(function)
    return function


def input_columns(user_col: str, item_col: str, time_col: str) -> Columns:
    return Columns(user=user_col, item=item_col, timestamp=time_col or None)


def read_input(input_path: str, user_col: str, item_col: str, time_col: str,
               sep: str | None, holdout: int) -> tuple[Sequences, Sequences]:
    """(all sequences, training part) of an interaction log."""
    columns = input_columns(user_col, item_col, time_col)
    if sep is not None:
        sep = sep.encode().decode("unicode_escape")  # let users type --sep '\t'
    sequences = load_sequences(input_path, columns, sep=sep)
    return sequences, sequences.truncate_tail(holdout)


def scale_options(function: F) -> F:
    """--stream/--batch-rows (one machine, bounded memory) and --engine/--master/--spark-conf."""
    decorators = [
        click.option("--stream", is_flag=True,
                     help="Read a Parquet log batch by batch in bounded memory; each user's rows "
                          "must be contiguous and in time order (docs/SCALE.md)."),
        click.option("--batch-rows", type=click.IntRange(min=1), default=DEFAULT_BATCH_ROWS,
                     show_default=True,
                     help="Rows per batch read with --stream (and by each Spark task from a "
                          "Parquet input)."),
        click.option("--engine", type=click.Choice(["local", "spark"]), default="local",
                     show_default=True,
                     help="local = this process; spark = a Spark job (pip install "
                          "'unids[spark]'): INPUT a Parquet file or folder that pyarrow opens "
                          "(local, hdfs://, s3://; the tasks read its row groups), or a CSV/TSV "
                          "file Spark reads."),
        click.option("--master", default=None,
                     help="Spark master URL: local[2], spark://host:7077, yarn, k8s://… "
                          "(default: spark-submit's, else local[*])."),
        click.option("--spark-conf", multiple=True, metavar="KEY=VALUE",
                     help="A Spark setting, repeatable: e.g. spark.driver.memory=8g."),
        click.option("--presorted", is_flag=True,
                     help="With --engine spark: the rows are already grouped by user and in "
                          "time order (as --stream needs), so Spark skips the shuffle by "
                          "user."),
    ]
    for decorator in reversed(decorators):
        function = decorator(function)
    return function


def threads_option(function: F) -> F:
    return click.option("--threads", type=click.IntRange(min=1), default=None,
                        help="Worker threads (default: all cores).")(function)


def json_option(function: F) -> F:
    return click.option("--json", "as_json", is_flag=True,
                        help="Print a machine-readable JSON summary on stdout.")(function)


def emit(summary: dict[str, Any], as_json: bool, lines: list[str]) -> None:
    """The summary as JSON on stdout, or the human lines."""
    if as_json:
        click.echo(json.dumps(strict_json(summary), indent=2, allow_nan=False))
    else:
        for line in lines:
            click.echo(line)
