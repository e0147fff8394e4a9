"""Amazon 2014 review data as preprocessed TSV folders (`interactions.tsv.gz`: user_id, item_id,
timestamp; `items.tsv.gz`: item_id, title; optional `summary.json`).

These files carry no ratings, so the log has no behaviour and no label (SPEC §1 asks for
`rating >= 4` where ratings exist); that is said in the notes. Titles are UTF-8 and unquoted.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from unids.data.raw import RawLog
from unids.errors import InputError

from ._table import Col, Format, read_delimited

TSV = Format("\t", header=True)
INTERACTIONS = [
    Col("user_id", "user_id", "id"),
    Col("item_id", "item_id", "id"),
    Col("timestamp", "timestamp", "time"),
]
ITEMS = [Col("item_id", "item_id", "id", unique=True), Col("title", "title", "text")]


def load_amazon(path: str | os.PathLike[str]) -> RawLog:
    """Loads one Amazon folder (or its interactions file, with `items.tsv[.gz]` beside it)."""
    given = Path(path)
    folder = given.parent if given.is_file() else given
    if not folder.is_dir():
        raise InputError(str(folder), "no such folder" if not folder.exists() else "not a folder")
    interactions_path = given if given.is_file() else _pick(folder, "interactions")
    interactions, source = read_delimited(interactions_path, TSV, INTERACTIONS)
    files = [source]
    notes = ["no ratings in these files: no behaviour and no label (SPEC §1's rating >= 4 "
             "cannot apply)", "timestamps have day resolution; ties keep file order"]
    items = None
    items_path = _find(folder, "items")
    if items_path is not None:
        items, items_source = read_delimited(items_path, TSV, ITEMS)
        files.append(items_source)
    else:
        notes.append("items.tsv.gz not found: no titles")
    notes += _summary_check(folder, interactions)
    return RawLog(f"amazon-{folder.name}", interactions, items=items, files=tuple(files),
                  notes=tuple(notes))


def _find(folder: Path, stem: str) -> Path | None:
    for name in (f"{stem}.tsv.gz", f"{stem}.tsv"):
        if (folder / name).is_file():
            return folder / name
    return None


def _pick(folder: Path, stem: str) -> Path:
    found = _find(folder, stem)
    if found is None:
        raise InputError(str(folder), f"no {stem}.tsv.gz (or {stem}.tsv) in this folder")
    return found


def _summary_check(folder: Path, interactions: pa.Table) -> list[str]:
    """Compares counts with the source's summary.json, when there is one; a mismatch is a note,
    not an error, since a user may have trimmed the file on purpose."""
    summary_path = folder / "summary.json"
    if not summary_path.is_file():
        return []
    try:
        summary = json.loads(summary_path.read_text())
        expected = (summary["user_size"], summary["item_size"], summary["interactions"])
    except (OSError, ValueError, KeyError, TypeError):
        return ["summary.json is unreadable; counts not cross-checked"]
    found = (pc.count_distinct(interactions["user_id"]).as_py(),
             pc.count_distinct(interactions["item_id"]).as_py(), interactions.num_rows)
    if found == tuple(expected):
        return []
    return [f"counts (users, items, interactions) = {found} differ from summary.json's "
            f"{tuple(expected)}"]
