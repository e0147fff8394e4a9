"""S3-Rec / ICLRec benchmark files (`Beauty.txt`, …): one line per user, `user item item …`,
space-separated, items already in time order.

The files have no timestamps, so an item's timestamp is its position in its user's line (0, 1,
…): sorting by it reproduces the file's order. There are no ratings either, hence no behaviour and
no label. A user on two lines would make those positions collide, so it is an error.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pyarrow as pa

from unids.data.raw import RawLog
from unids.errors import InputError

from ._files import read_source
from ._table import INT64_MAX

_TOKEN = re.compile(rb"[0-9]+")


def load_s3rec(path: str | os.PathLike[str]) -> RawLog:
    """Loads one `.txt` sequence file."""
    path = Path(path)
    data, source = read_source(path)
    users: list[int] = []
    lengths: list[int] = []
    tokens: list[bytes] = []
    first_line: dict[int, int] = {}
    for number, raw_line in enumerate(data.split(b"\n"), start=1):
        fields = raw_line.split()
        if not fields:
            continue
        if not b"".join(fields).isdigit() or len(fields) < 2:
            raise _line_error(path, number, fields)
        user = int(fields[0])
        if user in first_line:
            raise InputError(str(path), f"user {user} already has a line (line "
                             f"{first_line[user]}); this format has one line per user",
                             line=number, column="user_id")
        first_line[user] = number
        users.append(user)
        lengths.append(len(fields) - 1)
        tokens.extend(fields[1:])
    if not users:
        raise InputError(str(path), "the file is empty")
    try:
        items = np.array(tokens).astype(np.int64)
        user_ids = np.array(users, dtype=np.int64)
    except OverflowError:
        raise _overflow(path, data) from None
    counts = np.array(lengths, dtype=np.int64)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    positions = (np.arange(len(items)) - starts).astype(np.float64)
    table = pa.table({"user_id": np.repeat(user_ids, counts), "item_id": items,
                      "timestamp": positions})
    return RawLog(path.stem if path.suffix == ".txt" else path.name, table, files=(source,),
                  notes=("no timestamps in this format: timestamp = position in the user's "
                         "line", "no ratings: no behaviour and no label"))


def _line_error(path: Path, number: int, fields: list[bytes]) -> InputError:
    if len(fields) == 1 and _TOKEN.fullmatch(fields[0]):
        return InputError(str(path), "a user id with no items", line=number, column="item_id")
    for index, field in enumerate(fields):
        if not _TOKEN.fullmatch(field):
            text = field.decode("utf-8", errors="backslashreplace")
            column = "user_id" if index == 0 else "item_id"
            hint = ""
            if any(sep in text for sep in (",", ";", "|", ":")):
                hint = " (this format separates ids by spaces)"
            elif text.startswith("-") and text[1:].isdigit():
                return InputError(str(path), f"negative id {text}", line=number, column=column)
            where = "" if index == 0 else f" (item {index} of the line)"
            return InputError(str(path), f"'{text}' is not an integer id{where}{hint}",
                              line=number, column=column)
    return InputError(str(path), "cannot parse the line", line=number)


def _overflow(path: Path, data: bytes) -> InputError:
    for number, raw_line in enumerate(data.split(b"\n"), start=1):
        for index, field in enumerate(raw_line.split()):
            if int(field) > INT64_MAX:
                return InputError(str(path), f"id {field.decode()} does not fit in 64 bits",
                                  line=number, column="user_id" if index == 0 else "item_id")
    return InputError(str(path), "an id does not fit in 64 bits")
