"""UniDS: Unified Data Synthesis for multi-stage recommender systems.

The compiled core (`unids._core`) is private; this module re-exports the curated API.
"""

from __future__ import annotations

import warnings

from unids import _core
from unids._core import (
    LevelMiner,
    UnidsError,
    mine_patterns,
    predictability,
    real_entropy,
    segment,
    window_patterns,
)

__version__: str = _core.__version__

__all__ = [
    "LevelMiner",
    "UnidsError",
    "__version__",
    "mine_patterns",
    "predictability",
    "real_entropy",
    "segment",
    "window_patterns",
]

if _core._debug_build():
    # A debug extension is tens of times slower; say so once instead of letting users wonder.
    warnings.warn(
        "unids._core is a debug build; reinstall with `pip install .` for release speed",
        RuntimeWarning,
        stacklevel=2,
    )
