"""Any CSV/TSV (optionally .gz) or Parquet interaction log, with the user's column names.

The id and timestamp columns go through `unids.io.read_interactions`, so this loader gives the
same checks and the same errors as the rest of the `io` layer. Behaviour columns (optional,
numeric, null where empty) and side tables are read beside it. Without a timestamp column the
row position is the timestamp, so file order is kept.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from unids.data.raw import LabelRule, RawLog, SourceFile
from unids.errors import InputError, UserError
from unids.io import Columns, read_interactions
from unids.io.interactions import sniff_separator

from ._files import GZIP_MAGIC, first_line, read_source, require_file
from ._table import Col, Format, first_repeat, read_delimited

_RULE = re.compile(r"\s*([^\s>=]+)\s*>=\s*([-+0-9.eE]+)\s*")


def parse_label(rule: LabelRule | str | None) -> LabelRule | None:
    """A LabelRule from `"column>=threshold"` (e.g. "rating>=4"), or as given."""
    if rule is None or isinstance(rule, LabelRule):
        return rule
    match = _RULE.fullmatch(rule)
    if match is None:
        raise UserError(f"label rule {rule!r} is not of the form COLUMN>=THRESHOLD")
    try:
        return LabelRule(match.group(1), float(match.group(2)))
    except ValueError:
        raise UserError(f"label rule {rule!r}: {match.group(2)!r} is not a number") from None


def names(value: Sequence[str] | str | None) -> tuple[str, ...]:
    """Column names from a list or a comma-separated string."""
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    return tuple(value)


def load_table(path: str | os.PathLike[str], *, user_col: str = "user_id",
               item_col: str = "item_id", time_col: str | None = "timestamp",
               behaviors: Sequence[str] | str | None = None,
               label: LabelRule | str | None = None, sep: str | None = None,
               users: str | os.PathLike[str] | None = None,
               items: str | os.PathLike[str] | None = None,
               name: str | None = None) -> RawLog:
    """Loads a log with columns named by the caller.

    `behaviors`: numeric columns to keep (a label column is added to them). `label`: a LabelRule
    or "column>=threshold". `sep`: for text files (default: from the extension or the header).
    `users` / `items`: side tables (CSV/TSV/Parquet) keyed by `user_col` / `item_col`.
    """
    path = Path(path)
    rule = parse_label(label)
    behavior_names = names(behaviors)
    if rule is not None and rule.column not in behavior_names:
        behavior_names = (*behavior_names, rule.column)
    time_col = time_col or None
    require_file(path)
    parquet = _is_parquet(path)
    if not parquet:
        _check_text(path)
    core = read_interactions(path, Columns(user_col, item_col, time_col), sep=sep)
    columns = {"user_id": core[user_col], "item_id": core[item_col]}
    notes = []
    if time_col is None:
        columns["timestamp"] = pa.array(range(core.num_rows), pa.float64())
        notes.append("no timestamp column: timestamp = row position in the file")
    else:
        columns["timestamp"] = core[time_col].cast(pa.float64())
    if behavior_names:
        extra = _read_parquet_behaviors(path, behavior_names) if parquet else \
            _read_text_behaviors(path, behavior_names, sep)
        for behavior in behavior_names:
            if behavior in ("user_id", "item_id", "timestamp"):
                raise UserError(f"behaviour column {behavior!r} clashes with a core column name")
            columns[behavior] = extra[behavior]
    files = [SourceFile.of(path)]
    user_table = _side(users, user_col, "user_id", sep, files)
    item_table = _side(items, item_col, "item_id", sep, files)
    return RawLog(name or path.name.split(".")[0], pa.table(columns), users=user_table,
                  items=item_table, behaviors=behavior_names, label=rule, files=tuple(files),
                  notes=tuple(notes))


def _is_parquet(path: Path) -> bool:
    return path.suffix.lower() in {".parquet", ".pq"}


def _check_text(path: Path) -> None:
    """Checks what `read_interactions` would report vaguely: a cut-off gzip file (we name the
    line where the data stops) and a header that is not UTF-8 (it would turn into U+FFFD and
    give a puzzling 'missing column')."""
    with open(path, "rb") as handle:
        first = handle.readline()
    if first.startswith(GZIP_MAGIC):
        data, _ = read_source(path)
        first = first_line(data)
    try:
        first.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError(str(path), f"the header has a byte (0x{first[error.start]:02X}) that is "
                         "not valid UTF-8 (is the file latin-1? convert it to UTF-8)",
                         line=1) from None


def _read_text_behaviors(path: Path, behaviors: tuple[str, ...], sep: str | None) -> pa.Table:
    fmt = Format(sep or sniff_separator(path), header=True, quoted=True)
    table, _ = read_delimited(path, fmt, [Col(b, b, "float", nullable=True) for b in behaviors])
    return table


def _read_parquet_behaviors(path: Path, behaviors: tuple[str, ...]) -> pa.Table:
    schema = pq.read_schema(path)
    missing = [b for b in behaviors if b not in schema.names]
    if missing:
        raise InputError(str(path), f"missing column(s) {missing}; the file has {schema.names}",
                         column=missing[0])
    table = pq.read_table(path, columns=list(behaviors))
    out = {}
    for behavior in behaviors:
        column = table[behavior]
        if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)
                or pa.types.is_boolean(column.type)):
            raise InputError(str(path), f"has type {column.type}, expected numbers",
                             column=behavior)
        values = column.cast(pa.float64())
        infinite = pc.fill_null(pc.is_inf(values), False)
        if pc.any(infinite).as_py():
            row = int(pc.index(infinite.combine_chunks(), True).as_py())
            raise InputError(str(path), f"row {row}: infinite value", column=behavior)
        out[behavior] = values
    return pa.table(out)


def _side(path: str | os.PathLike[str] | None, key: str, output: str, sep: str | None,
          files: list[SourceFile]) -> pa.Table | None:
    if path is None:
        return None
    path = Path(path)
    require_file(path)
    files.append(SourceFile.of(path))
    if _is_parquet(path):
        try:
            table = pq.read_table(path)
        except (pa.ArrowInvalid, OSError) as error:
            raise InputError(str(path), f"not a readable Parquet file ({error})") from None
        if key not in table.column_names:
            raise InputError(str(path), f"missing key column {key!r}; the file has "
                             f"{table.column_names}", column=key)
        repeat = first_repeat(table[key])
        if repeat is not None:
            raise InputError(str(path), f"row {repeat[0]}: {key} {table[key][repeat[0]]} "
                             f"already appears in row {repeat[1]}", column=key)
    else:
        fmt = Format(sep or sniff_separator(path), header=True, quoted=True)
        table, _ = read_delimited(path, fmt, [Col(key, key, "id", unique=True)],
                                  keep_others=True)
    return table.rename_columns([output if c == key else c for c in table.column_names])
