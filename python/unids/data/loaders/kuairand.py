"""KuaiRand-Pure (Gao et al., CIKM'22): the interaction logs `log_standard_*.csv` (and
`log_random_*.csv`), `user_features_pure.csv` and `video_features_basic_pure.csv`.

Log columns, as published: user_id, video_id, date, hourmin, time_ms, is_click, is_like,
is_follow, is_comment, is_forward, is_hate, long_view, play_time_ms, duration_ms,
profile_stay_time, comment_stay_time, is_profile_enter, is_rand, tab. We keep is_click, is_like,
long_view and play_time_ms as behaviours (SPEC §1: label is_click ≥ 1), timestamp = time_ms / 1000,
and `is_rand` as an info column. The random-exposure log is left out unless `random=True`: it
was collected for unbiased evaluation, and mixing it into histories changes what a sequence means.
Video tags (`tag`, e.g. "20,43") become a list<int64> column `tags`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from unids.data.raw import LabelRule, RawLog, SourceFile
from unids.errors import InputError

from ._files import read_source
from ._table import Col, Format, line_of_row, parse_delimited, read_delimited

NAME = "kuairand-pure"
CSV = Format(",", header=True, quoted=True)
LOG_COLUMNS = (
    "user_id", "video_id", "date", "hourmin", "time_ms", "is_click", "is_like", "is_follow",
    "is_comment", "is_forward", "is_hate", "long_view", "play_time_ms", "duration_ms",
    "profile_stay_time", "comment_stay_time", "is_profile_enter", "is_rand", "tab",
)
BEHAVIORS = ("is_click", "is_like", "long_view", "play_time_ms")
LOG = [
    Col("user_id", "user_id", "id"),
    Col("video_id", "item_id", "id"),
    Col("time_ms", "timestamp", "time"),
    Col("is_click", "is_click", "flag"),
    Col("is_like", "is_like", "flag"),
    Col("long_view", "long_view", "flag"),
    Col("play_time_ms", "play_time_ms", "float"),
    Col("is_rand", "is_rand", "flag"),
]


def load_kuairand(path: str | os.PathLike[str], *, random: bool = False,
                  logs: Sequence[str | os.PathLike[str]] | None = None) -> RawLog:
    """Loads KuaiRand-Pure from its `data/` folder.

    `random`: also read `log_random_*.csv`. `logs`: explicit log files instead of the folder's.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise InputError(str(folder), "no such folder" if not folder.exists() else "not a folder")
    log_paths = [Path(p) for p in logs] if logs is not None else _find_logs(folder, random)
    if not log_paths:
        raise InputError(str(folder), "no interaction log (log_standard_*.csv) in this folder; "
                         "KuaiRand-Pure's logs must be downloaded separately")
    tables, files = [], []
    for log_path in log_paths:
        table, source = read_delimited(log_path, CSV, LOG)
        tables.append(table)
        files.append(source)
    interactions = pa.concat_tables(tables)
    interactions = interactions.set_column(
        2, "timestamp", pc.divide(interactions["timestamp"], 1000.0))
    for name in BEHAVIORS:
        index = interactions.schema.get_field_index(name)
        interactions = interactions.set_column(index, name,
                                               interactions[name].cast(pa.float64()))
    interactions = interactions.set_column(
        interactions.schema.get_field_index("is_rand"), "is_rand",
        interactions["is_rand"].cast(pa.int8()))
    notes = [f"logs: {', '.join(p.name for p in log_paths)}",
             "timestamp = time_ms / 1000; is_rand is an info column, not a behaviour"]
    users = _side(folder, "user_features*.csv", "user_id", files, notes)
    items = _side(folder, "video_features_basic*.csv", "video_id", files, notes)
    if items is not None:
        items = items.rename_columns(
            ["item_id" if c == "video_id" else c for c in items.column_names])
    return RawLog(NAME, interactions, users=users, items=items, behaviors=BEHAVIORS,
                  label=LabelRule("is_click", 1.0), files=tuple(files), notes=tuple(notes))


def _find_logs(folder: Path, random: bool) -> list[Path]:
    patterns = ["log_standard_*.csv", "log_standard_*.csv.gz"]
    if random:
        patterns += ["log_random_*.csv", "log_random_*.csv.gz"]
    return sorted({p for pattern in patterns for p in folder.glob(pattern)})


def _side(folder: Path, pattern: str, key: str, files: list[SourceFile],
          notes: list[str]) -> pa.Table | None:
    """A side table with every column (types inferred; only the key and tags are checked)."""
    found = sorted(folder.glob(pattern))
    if not found:
        notes.append(f"no {pattern} in the folder: no side features")
        return None
    columns = [Col(key, key, "id", unique=True)]
    if key == "video_id":
        columns.append(Col("tag", "tag", "text"))  # text, so that "39" and "20,43" parse alike
    data, source = read_source(found[0])
    table = parse_delimited(found[0], data, CSV, columns, keep_others=True)
    files.append(source)
    if key == "video_id":
        table = _with_tag_lists(found[0], data, table)
    return table


def _with_tag_lists(path: Path, data: bytes, items: pa.Table) -> pa.Table:
    """`tag` "20,43" → `tags` [20, 43]; an empty tag gives an empty list."""
    tags = []
    for row, text in enumerate(items["tag"].to_pylist()):
        try:
            tags.append([int(t) for t in text.split(",") if t.strip()])
        except ValueError:
            raise InputError(str(path), f"tag {text!r} is not a comma-separated list of "
                             "integers", line=line_of_row(data, row, header=True),
                             column="tag") from None
    return items.set_column(items.schema.get_field_index("tag"), "tags",
                            pa.array(tags, pa.list_(pa.int64())))
