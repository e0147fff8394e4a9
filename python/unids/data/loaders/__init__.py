"""Dataset loaders: each turns one source's files into a `RawLog` and nothing more (cleaning and
id mapping happen once, in `unids.data.dataset.build_dataset`).

`load(name, path, **options)` picks the loader from `LOADERS`; each loader's own options are
in its docstring. The keys are the source names the CLI accepts.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from typing import Any

from unids.data.raw import RawLog
from unids.errors import UserError

from .amazon import load_amazon
from .generic import load_table
from .kuairand import load_kuairand
from .ml1m import load_ml1m
from .ml100k import load_ml100k
from .recbole import load_recbole
from .s3rec import load_s3rec

LOADERS: dict[str, Callable[..., RawLog]] = {
    "ml-1m": load_ml1m,
    "ml-100k": load_ml100k,
    "amazon": load_amazon,
    "s3rec": load_s3rec,
    "kuairand": load_kuairand,
    "csv": load_table,
    "parquet": load_table,
    "recbole": load_recbole,
}


def load(name: str, path: str | os.PathLike[str], /, **options: Any) -> RawLog:
    """Loads `path` with the loader registered as `name`."""
    try:
        loader = LOADERS[name]
    except KeyError:
        raise UserError(f"unknown source {name!r}; known: {', '.join(LOADERS)}") from None
    try:
        inspect.signature(loader).bind(path, **options)
    except TypeError as error:
        accepted = [p for p in inspect.signature(loader).parameters if p != "path"]
        raise UserError(f"{name}: {error}; its options are {', '.join(accepted)}") from None
    return loader(path, **options)


__all__ = [
    "LOADERS",
    "load",
    "load_amazon",
    "load_kuairand",
    "load_ml1m",
    "load_ml100k",
    "load_recbole",
    "load_s3rec",
    "load_table",
]
