"""Reading and writing files: interaction logs in, Parquet/JSON out (atomically)."""

from unids.io.atomic import atomic_path, write_json, write_parquet
from unids.io.interactions import (
    Columns,
    Sequences,
    load_sequences,
    read_interactions,
    to_sequences,
)

__all__ = [
    "Columns",
    "Sequences",
    "atomic_path",
    "load_sequences",
    "read_interactions",
    "to_sequences",
    "write_json",
    "write_parquet",
]
