"""RecBole atomic files: `<name>.inter` (+ `.user`, `.item`), tab-separated, header fields
`name:type` with type token, float, token_seq or float_seq (sequences space-separated).

Mapping to a RawLog: `float` fields of `.inter` other than the timestamp are behaviours; other
fields stay as info columns. A token column whose every value is a plain decimal integer (no
leading zeros) is read as int64, so integer ids survive a write/read round trip and keep their
numeric order; any other token column stays text. Without a label rule given, a float field named
`label` gives the rule `label >= 1` (RecBole's CTR convention). Without a timestamp field the row
position is the timestamp.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from unids.data.raw import LabelRule, RawLog, SourceFile
from unids.errors import InputError

from ._files import first_line, read_source
from ._table import Col, Format, first_repeat, line_of_row, parse_delimited
from .generic import parse_label

TYPES = ("token", "float", "token_seq", "float_seq")
TSV = Format("\t", header=True)
_CANONICAL_INT = re.compile(r"(0|-?[1-9][0-9]{0,17})")


def load_recbole(path: str | os.PathLike[str], *, name: str | None = None,
                 user_field: str = "user_id", item_field: str = "item_id",
                 time_field: str = "timestamp", label: LabelRule | str | None = None) -> RawLog:
    """Loads `<name>.inter` from a folder (name: the folder's, or its only `.inter` file) or
    from the `.inter` file itself, with `.user` / `.item` beside it when present."""
    given = Path(path)
    inter = _inter_file(given, name)
    stem = inter.name[: -len(".inter")]
    table, data, source, types = read_atomic(inter, time_field)
    for field in (user_field, item_field):
        if field not in types:
            raise InputError(str(inter), f"missing field {field!r}; the header has "
                             f"{list(types)}", line=1, column=field)
        _require_ids(inter, data, table, field, types)
    columns = {"user_id": table[user_field], "item_id": table[item_field]}
    notes = []
    if time_field in types:
        if types[time_field] != "float":
            raise InputError(str(inter), f"{time_field!r} must be a float field, not "
                             f"{types[time_field]}", line=1, column=time_field)
        columns["timestamp"] = table[time_field]
    else:
        columns["timestamp"] = pa.array(range(table.num_rows), pa.float64())
        notes.append(f"no {time_field!r} field: timestamp = row position in the file")
    behaviors = tuple(f for f, t in types.items() if t == "float" and f != time_field)
    for field in table.column_names:
        if field not in (user_field, item_field, time_field):
            columns[field] = table[field]
    rule = parse_label(label)
    if rule is None and types.get("label") == "float":
        rule = LabelRule("label", 1.0)
    if rule is not None and rule.column not in behaviors:
        raise InputError(str(inter), f"label column {rule.column!r} is not a float field",
                         line=1)
    files = [source]
    users = _side(inter.with_name(f"{stem}.user"), user_field, "user_id", files)
    items = _side(inter.with_name(f"{stem}.item"), item_field, "item_id", files)
    users = _same_id_type(columns, "user_id", users)
    items = _same_id_type(columns, "item_id", items)
    return RawLog(stem, pa.table(columns), users=users, items=items, behaviors=behaviors,
                  label=rule, files=tuple(files), notes=tuple(notes))


def _same_id_type(columns: dict[str, pa.ChunkedArray | pa.Array], key: str,
                  side: pa.Table | None) -> pa.Table | None:
    """Tokens that are integers in one file and not in the other are text in both, so the
    side table can be joined on them."""
    if side is None or side[key].type == columns[key].type:
        return side
    columns[key] = columns[key].cast(pa.string())
    return side.set_column(side.schema.get_field_index(key), key, side[key].cast(pa.string()))


def _inter_file(given: Path, name: str | None) -> Path:
    if given.is_file() or given.suffix == ".inter":
        return given
    if not given.is_dir():
        raise InputError(str(given), "no such folder" if not given.exists() else "not a folder")
    if name is not None:
        return given / f"{name}.inter"
    if (given / f"{given.name}.inter").is_file():
        return given / f"{given.name}.inter"
    found = sorted(given.glob("*.inter"))
    if len(found) != 1:
        raise InputError(str(given), f"expected one .inter file, found {len(found)}; pass name=")
    return found[0]


def read_atomic(path: Path, time_field: str | None = None
                ) -> tuple[pa.Table, bytes, SourceFile, dict[str, str]]:
    """Any atomic file → (table under the bare field names, raw bytes, source, types). The
    `time_field`, when a float, must be a finite number ≥ 0 on every row."""
    data, source = read_source(path)
    types = _header_types(path, data)
    columns = [Col(f"{field}:{kind}", field, "time", nullable=False)
               if field == time_field and kind == "float" else
               Col(f"{field}:{kind}", field, "float" if kind == "float" else "text",
                   nullable=True)
               for field, kind in types.items()]
    table = parse_delimited(path, data, TSV, columns)
    for field, kind in types.items():
        if kind == "token":
            table = _set(table, field, _maybe_int(pc.if_else(
                pc.equal(table[field], ""), pa.scalar(None, pa.string()), table[field])))
        elif kind == "token_seq":
            table = _set(table, field, _split(table[field]))
        elif kind == "float_seq":
            table = _set(table, field, _float_lists(path, data, table[field], field))
    return table, data, source, types


def _header_types(path: Path, data: bytes) -> dict[str, str]:
    header = first_line(data).decode("utf-8", errors="replace").split("\t")
    if len(header) == 1 and any(sep in header[0] for sep in (" ", ",", ";")):
        raise InputError(str(path), f"the header {header[0]!r} is a single field; RecBole atomic "
                         "files are tab-separated", line=1)
    types: dict[str, str] = {}
    for field in header:
        base, colon, kind = field.rpartition(":")
        if not colon or not base:
            hint = " (is the file tab-separated?)" if " " in field or "," in field else ""
            raise InputError(str(path), f"header field {field!r} has no type; RecBole headers "
                             f"are name:type{hint}", line=1, column=field)
        if kind not in TYPES:
            raise InputError(str(path), f"unknown field type {kind!r}; expected one of "
                             f"{', '.join(TYPES)}", line=1, column=base)
        if base in types:
            raise InputError(str(path), f"duplicate field {base!r} in the header", line=1,
                             column=base)
        types[base] = kind
    return types


def _set(table: pa.Table, field: str, values: pa.Array | pa.ChunkedArray) -> pa.Table:
    return table.set_column(table.schema.get_field_index(field), field, values)


def _maybe_int(values: pa.ChunkedArray) -> pa.ChunkedArray:
    """int64 when every present value is a canonical decimal integer, else unchanged."""
    present = values.drop_null()
    if len(present) == 0:
        return values
    pattern = _CANONICAL_INT.pattern
    if not pc.all(pc.match_substring_regex(present, f"^{pattern}$")).as_py():
        return values
    return values.cast(pa.int64())


def _split(values: pa.ChunkedArray) -> pa.ChunkedArray:
    lists = pc.split_pattern(values, " ")
    return pc.if_else(pc.equal(values, ""), pa.scalar([], pa.list_(pa.string())), lists)


def _float_lists(path: Path, data: bytes, values: pa.ChunkedArray,
                 field: str) -> pa.ChunkedArray:
    lists = _split(values)
    try:
        return lists.cast(pa.list_(pa.float64()))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        for row, items in enumerate(lists.to_pylist()):
            for item in items:
                try:
                    float(item)
                except ValueError:
                    raise InputError(str(path), f"{item!r} in a float_seq is not a number",
                                     line=line_of_row(data, row, header=True),
                                     column=field) from None
        raise


def _require_ids(path: Path, data: bytes, table: pa.Table, field: str,
                 types: dict[str, str]) -> None:
    missing = pc.is_null(table[field])
    if pc.any(missing).as_py():
        row = int(pc.index(missing.combine_chunks() if isinstance(missing, pa.ChunkedArray)
                           else missing, True).as_py())
        raise InputError(str(path), "missing value", line=line_of_row(data, row, header=True),
                         column=f"{field}:{types[field]}")


def _side(path: Path, field: str, output: str, files: list[SourceFile]) -> pa.Table | None:
    if not path.is_file():
        return None
    table, data, source, types = read_atomic(path)
    if field not in types:
        raise InputError(str(path), f"missing field {field!r}; the header has {list(types)}",
                         line=1, column=field)
    _require_ids(path, data, table, field, types)
    repeat = first_repeat(table[field])
    if repeat is not None:
        row, first = repeat
        raise InputError(str(path), f"{field} {table[field][row]} already appears on line "
                         f"{line_of_row(data, first, True)}",
                         line=line_of_row(data, row, True), column=f"{field}:{types[field]}")
    files.append(source)
    return table.rename_columns([output if c == field else c for c in table.column_names])
