"""Where a command runs: in memory, streamed from Parquet, or as a Spark job (docs/SCALE.md)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from unids.errors import UserError
from unids.io import Columns

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from unids.distributed.spark import ParquetLog


def check_engine(engine: str, stream: bool, master: str | None, spark_conf: tuple[str, ...],
                 presorted: bool) -> None:
    if engine == "spark" and stream:
        raise click.UsageError("--stream is for --engine local; Spark reads in partitions anyway")
    if engine != "spark" and (master or spark_conf or presorted):
        raise click.UsageError("--master, --spark-conf and --presorted need --engine spark")


def _conf(pairs: tuple[str, ...]) -> dict[str, str]:
    conf = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--spark-conf")
        conf[key.strip()] = value.strip()
    return conf


#: The message of a user error raised inside a Spark task (`unids.errors.InputError: …`).
_TASK_ERROR = re.compile(r"unids\.errors\.(?:InputError|UserError): (.+)")


def is_csv_path(path: str) -> bool:
    return path.lower().rstrip("/").removesuffix(".gz").endswith((".csv", ".tsv", ".txt"))


@contextmanager
def spark_session(master: str | None, spark_conf: tuple[str, ...], input_path: str
                  ) -> Iterator[SparkSession]:
    """A Spark session for one command. A session this command started is stopped at the end;
    a running one (spark-submit, tests) is left alone. Input errors raised inside Spark tasks
    come back as one-line user errors."""
    from unids.distributed import spark as backend

    sql = backend.require_pyspark()
    running = sql.SparkSession.getActiveSession()
    session = backend.session(master, config=_conf(spark_conf))
    try:
        yield session
    except Exception as error:
        found = _TASK_ERROR.search(str(error))
        if found and not isinstance(error, UserError):
            raise UserError(found.group(1).strip()) from None
        if type(error).__name__ == "AnalysisException":
            raise UserError(f"{input_path}: {_first_line(error)}") from None
        raise
    finally:
        if running is None:
            session.stop()


@contextmanager
def spark_input(input_path: str, columns: Columns, sep: str | None, master: str | None,
                spark_conf: tuple[str, ...], *, presorted: bool = False,
                batch_rows: int | None = None) -> Iterator[DataFrame | ParquetLog]:
    """The interaction log: Parquet as a `ParquetLog` whose row groups the Spark tasks read
    with pyarrow (`batch_rows` at a time; `presorted`: grouped by user, no shuffle), CSV/TSV
    as a Spark DataFrame, in a `spark_session`."""
    from unids.distributed import spark as backend

    with spark_session(master, spark_conf, input_path) as session:
        if not is_csv_path(input_path):
            options = {} if batch_rows is None else {"batch_rows": batch_rows}
            yield backend.read_parquet_log(session, input_path, grouped=presorted, **options)
        else:
            yield backend.read_interactions_spark(session, input_path, columns, sep=sep)


def _first_line(error: Any) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
