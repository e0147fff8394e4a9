"""Atomic output: write beside the target, then rename, so a crash never leaves a
half-written file under the final name."""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yields a temporary path in the target's folder; renames it onto `target` on success and
    deletes it on failure."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                                         dir=target.parent)
    os.close(handle)
    temporary_path = Path(temporary)
    try:
        yield temporary_path
        # mkstemp creates owner-only files; give the output the usual umask-based mode.
        umask = os.umask(0)
        os.umask(umask)
        temporary_path.chmod(0o666 & ~umask)
        os.replace(temporary_path, target)  # atomic on POSIX within one file system
    finally:
        temporary_path.unlink(missing_ok=True)


def write_parquet(table: pa.Table, target: str | os.PathLike[str]) -> None:
    with atomic_path(target) as temporary:
        pq.write_table(table, temporary)


def write_json(data: Any, target: str | os.PathLike[str]) -> None:
    """Writes strict JSON: NaN and ±inf (an undefined metric, such as GAUC when every user
    has one label) become null, which every JSON reader accepts."""
    with atomic_path(target) as temporary:
        temporary.write_text(json.dumps(strict_json(data), indent=2, allow_nan=False) + "\n")


def strict_json(value: Any) -> Any:
    """`value` with NaN and ±inf floats replaced by None, at any depth."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: strict_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(item) for item in value]
    return value
