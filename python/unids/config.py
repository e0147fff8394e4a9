"""Where UniDS finds things: the shared data folder and user config files."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from unids.errors import InputError

#: Environment variable that points at the folder of datasets (ml-1m/, amazon/, …).
DATA_ENV = "UNIDS_DATA"
#: Default data folder, relative to the working directory (a checkout beside `shared/`).
DEFAULT_DATA_DIR = Path("..") / "shared" / "data"


def data_dir() -> Path:
    """The datasets folder: `$UNIDS_DATA`, else `../shared/data`."""
    return Path(os.environ.get(DATA_ENV, DEFAULT_DATA_DIR))


def load_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Reads a TOML config file, turning I/O and syntax problems into one-line errors."""
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except OSError as error:
        raise InputError(str(path), f"cannot read config: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise InputError(str(path), f"invalid TOML: {error}") from None
