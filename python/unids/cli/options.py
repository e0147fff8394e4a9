"""Options shared by the commands that read an interaction log."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import click

from unids.io import Columns, Sequences, load_sequences
from unids.io.atomic import strict_json

F = TypeVar("F", bound=Callable[..., Any])


def input_options(function: F) -> F:
    """INPUT plus column names, separator and holdout."""
    decorators = [
        click.argument("input_path", metavar="INPUT", type=click.Path(dir_okay=False)),
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


def read_input(input_path: str, user_col: str, item_col: str, time_col: str,
               sep: str | None, holdout: int) -> tuple[Sequences, Sequences]:
    """(all sequences, training part) of an interaction log."""
    columns = Columns(user=user_col, item=item_col, timestamp=time_col or None)
    if sep is not None:
        sep = sep.encode().decode("unicode_escape")  # let users type --sep '\t'
    sequences = load_sequences(input_path, columns, sep=sep)
    return sequences, sequences.truncate_tail(holdout)


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
