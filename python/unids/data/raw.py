"""What every loader returns: a raw interaction log in file order, with its side tables.

Loaders only parse; cleaning, id remapping, sorting and splitting happen once, in
`unids.data.dataset.build_dataset`, whatever the source.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa


@dataclass(frozen=True)
class SourceFile:
    """A file a dataset was built from, with enough to tell later whether it changed."""

    name: str
    sha256: str
    bytes: int

    @classmethod
    def of(cls, path: str | os.PathLike[str]) -> SourceFile:
        path = Path(path)
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return cls(name=path.name, sha256=digest.hexdigest(), bytes=path.stat().st_size)


@dataclass(frozen=True)
class LabelRule:
    """Binary fine-ranking label from a behaviour column: `value >= threshold` (SPEC §1:
    ML-1M `rating >= 4`, KuaiRand `is_click >= 1`). Missing values give missing labels."""

    column: str
    threshold: float


@dataclass(frozen=True)
class RawLog:
    """An interaction log as the files have it.

    `interactions` is in file order with columns `user_id`, `item_id` (int64 or string raw
    ids), `timestamp` (float64, seconds; sources without time use the position in the file)
    and one column per name in `behaviors` (float64; null where unknown). `users` and `items`
    are side tables keyed by `user_id` / `item_id` (or None).
    """

    name: str
    interactions: pa.Table
    users: pa.Table | None = None
    items: pa.Table | None = None
    behaviors: tuple[str, ...] = ()
    label: LabelRule | None = None
    files: tuple[SourceFile, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        names = self.interactions.column_names
        for required in ("user_id", "item_id", "timestamp", *self.behaviors):
            if required not in names:
                raise ValueError(f"RawLog {self.name!r}: interactions lack column {required!r}")
        if self.label is not None and self.label.column not in self.behaviors:
            raise ValueError(f"RawLog {self.name!r}: label column {self.label.column!r} "
                             "is not a behaviour column")
