"""Writing a prepared `Dataset` in other tools' input formats, so baselines can be trained on
exactly the data UniDS used.

* RecBole atomic files (`write_recbole`): `<name>.inter`, `.user`, `.item`, read back by
  `unids.data.loaders.load_recbole` into the same sequences.
* generative-recommenders' `sasrec_format.csv` (`write_hstu_sasrec_csv`), the file HSTU's
  training reads.

Both build every line with Arrow kernels (no Python loop over rows) and write atomically: all
output is computed first, then each file goes to a temporary name and is renamed, so a failure
leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from unids.data.dataset import Dataset
from unids.errors import UserError
from unids.io import atomic_path

HSTU_COLUMNS = ("index", "user_id", "sequence_item_ids", "sequence_ratings",
                "sequence_timestamps")


def write_recbole(dataset: Dataset, directory: str | os.PathLike[str], name: str) -> list[Path]:
    """Writes `<directory>/<name>.inter` (+ `.user`, `.item` when there are features).

    `.inter` has one row per interaction in each user's time order: `user_id:token` and
    `item_id:token` hold the raw ids, then `timestamp:float`, one `:float` field per behaviour
    and `label:float` when the dataset has labels. Side features map integer and text columns to
    `token`, floating and boolean columns to `float`, lists to `token_seq` / `float_seq`.
    """
    directory = Path(directory)
    sequences = dataset.sequences
    items = sequences["items"].combine_chunks()
    offsets = items.offsets.to_numpy()
    lengths = np.diff(offsets)
    user_raw = dataset.users["raw_user_id"].combine_chunks()
    item_raw = dataset.items["raw_item_id"].combine_chunks()
    users = pc.take(user_raw, pa.array(np.repeat(sequences["user"].to_numpy() - 1, lengths)))
    inter: dict[str, pa.Array] = {
        "user_id": users,
        "item_id": pc.take(item_raw, pa.array(items.values.to_numpy() - 1)),
        "timestamp": sequences["timestamps"].combine_chunks().values,
    }
    for column in (*dataset.behaviors,
                   *(["label"] if "label" in sequences.column_names else [])):
        inter[column] = sequences[column].combine_chunks().values.cast(pa.float64())
    contents = {f"{name}.inter": _atomic_text(pa.table(inter), f"{name}.inter")}
    for suffix, table, internal in (("user", dataset.users, "user"),
                                    ("item", dataset.items, "item")):
        side = table.drop_columns([internal]).rename_columns(
            [f"{suffix}_id" if c == f"raw_{suffix}_id" else c
             for c in table.column_names if c != internal])
        if side.num_columns > 1:
            contents[f"{name}.{suffix}"] = _atomic_text(side, f"{name}.{suffix}")
    written = []
    with contextlib.ExitStack() as stack:
        for file_name, text in contents.items():
            temporary = stack.enter_context(atomic_path(directory / file_name))
            temporary.write_bytes(text)
            written.append(directory / file_name)
    return written


def _atomic_text(table: pa.Table, file_name: str) -> bytes:
    """A table as RecBole atomic text: `name:type` header, tab-separated, no quoting."""
    header, fields = [], []
    for column_name in table.column_names:
        column = table[column_name].combine_chunks()
        kind, text = _atomic_field(column, column_name, file_name)
        header.append(f"{column_name}:{kind}")
        fields.append(text)
    return _join_lines(header, fields, "\t")


def _atomic_field(column: pa.Array, name: str, file_name: str) -> tuple[str, pa.Array]:
    kind = column.type
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        value_type = kind.value_type
        seq = "float_seq" if pa.types.is_floating(value_type) else "token_seq"
        values = _strings(column.values, name, file_name)
        if seq == "token_seq" and pc.any(pc.match_substring(values, " ")).as_py():
            raise UserError(f"{file_name}: a value of list column {name!r} contains a space, "
                            "which RecBole uses to separate sequence items")
        lists = pa.ListArray.from_arrays(column.offsets, values)
        return seq, pc.fill_null(pc.binary_join(lists, " "), "")
    if pa.types.is_floating(kind) or pa.types.is_boolean(kind):
        return "float", pc.fill_null(_strings(column.cast(pa.float64()), name, file_name), "")
    if (pa.types.is_integer(kind) or pa.types.is_string(kind) or pa.types.is_large_string(kind)
            or pa.types.is_temporal(kind)):
        return "token", pc.fill_null(_strings(column, name, file_name), "")
    raise UserError(f"{file_name}: column {name!r} has type {kind}, which RecBole atomic files "
                    "cannot hold")


def _strings(values: pa.Array, name: str, file_name: str) -> pa.Array:
    text = values.cast(pa.string())
    bad = pc.fill_null(pc.match_substring_regex(text, "[\t\n\r]"), False)
    if pc.any(bad).as_py():
        row = int(pc.index(bad, True).as_py())
        raise UserError(f"{file_name}: column {name!r} value {text[row].as_py()!r} contains a tab "
                        "or line break, which RecBole atomic files cannot hold")
    return text


def _join_lines(header: list[str], fields: list[pa.Array], sep: str) -> bytes:
    lines = pc.binary_join_element_wise(*fields, sep)
    body = pc.binary_join(pa.ListArray.from_arrays(pa.array([0, len(lines)], pa.int32()),
                                                   lines), "\n")[0].as_py()
    return (sep.join(header) + "\n" + body + ("\n" if len(lines) else "")).encode("utf-8")


def write_hstu_sasrec_csv(dataset: Dataset, path: str | os.PathLike[str], *,
                          ratings: str | None = None, raw_ids: bool = False,
                          missing_rating: int = 0) -> Path:
    """Writes generative-recommenders' `sasrec_format.csv`: columns index, user_id,
    sequence_item_ids, sequence_ratings, sequence_timestamps, one row per user, each list
    comma-joined and quoted when it has a comma (pandas' `to_csv` layout).

    Ids are the dataset's contiguous ids (items 1 … I, 0 free for padding, as HSTU expects);
    `raw_ids=True` writes the source's ids instead (they must be integers). `ratings`: the
    behaviour for `sequence_ratings` (default `rating` when present). HSTU's reader needs an
    integer in every position, so a dataset without ratings, and unknown ratings, get
    `missing_rating` (0 by default). Rows are in user order (generative-recommenders shuffles
    them; its training shuffles again anyway).
    """
    path = Path(path)
    sequences = dataset.sequences
    items = sequences["items"].combine_chunks()
    offsets = items.offsets
    users = sequences["user"].combine_chunks()
    item_values = items.values
    if raw_ids:
        user_raw = dataset.users["raw_user_id"].combine_chunks()
        item_raw = dataset.items["raw_item_id"].combine_chunks()
        if not (pa.types.is_integer(user_raw.type) and pa.types.is_integer(item_raw.type)):
            raise UserError("raw_ids=True needs integer raw ids; these are "
                            f"{user_raw.type} / {item_raw.type}")
        users = pc.take(user_raw, pc.subtract(users, 1))
        item_values = pc.take(item_raw, pc.subtract(item_values, 1))
    if ratings is None and "rating" in dataset.behaviors:
        ratings = "rating"
    if ratings is not None:
        if ratings not in dataset.behaviors:
            raise UserError(f"no behaviour {ratings!r}; the dataset has "
                            f"{list(dataset.behaviors) or 'none'}")
        rating_values = pc.fill_null(sequences[ratings].combine_chunks().values,
                                     float(missing_rating))
    else:
        rating_values = pa.array(np.full(len(item_values), missing_rating, dtype=np.int64))
    columns = [
        pa.array(np.arange(len(users)).astype(str).tolist(), pa.string()),
        users.cast(pa.string()),
        _joined(offsets, item_values),
        _joined(offsets, rating_values),
        _joined(offsets, sequences["timestamps"].combine_chunks().values),
    ]
    text = _join_lines(list(HSTU_COLUMNS), columns, ",")
    with atomic_path(path) as temporary:
        temporary.write_bytes(text)
    return path


def _joined(offsets: pa.Array, values: pa.Array) -> pa.Array:
    """Comma-joined lists, quoted where they hold a comma."""
    joined = pc.binary_join(pa.ListArray.from_arrays(offsets, _numbers(values)), ",")
    quoted = pc.binary_join_element_wise('"', joined, '"', "")
    return pc.if_else(pc.match_substring(joined, ","), quoted, joined)


def _numbers(values: pa.Array) -> pa.Array:
    """Integral floats written as integers ("5", not "5.0"), like the ints HSTU reads."""
    if pa.types.is_floating(values.type):
        finite = pc.fill_null(pc.is_finite(values), False)
        if pc.all(finite).as_py() and pc.all(pc.equal(pc.floor(values), values)).as_py():
            return values.cast(pa.int64()).cast(pa.string())
        if not pc.all(finite).as_py():
            raise UserError("cannot write NaN or infinite numbers to sasrec_format.csv")
    return values.cast(pa.string())
