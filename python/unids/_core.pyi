"""Type stubs of the compiled core (rust/unids-py). Semantics: docs/ALGORITHMS.md."""

from typing import Any, Literal, final

import numpy as np
import numpy.typing as npt
import pyarrow as pa

__all__ = [
    "LevelMiner",
    "UnidsError",
    "__version__",
    "_debug_build",
    "_lambdas_exact",
    "_sequence_addresses",
    "mine_patterns",
    "predictability",
    "real_entropy",
    "segment",
    "window_patterns",
]

__version__: str

#: An Arrow list<int> array or chunked array (anything with __arrow_c_array__ or
#: __arrow_c_stream__), or a sequence of 1-D integer NumPy arrays.
_Sequences = Any

class UnidsError(Exception): ...

def real_entropy(
    sequences: _Sequences,
    *,
    estimator: Literal["exact", "approx"] = "exact",
    base: float = 2.0,
    threads: int | None = None,
) -> npt.NDArray[np.float64]: ...
def predictability(
    entropy: npt.ArrayLike, n_symbols: npt.ArrayLike
) -> npt.NDArray[np.float64]: ...
def mine_patterns(
    sequences: _Sequences,
    *,
    theta: float | None = None,
    theta_scale: float = 1.0,
    min_support: int = 2,
    max_len: int = 5,
    increment: Literal["surprisal", "plogp"] = "surprisal",
    threads: int | None = None,
) -> pa.Table: ...
def window_patterns(
    sequences: _Sequences, *, alpha: int = 5, beta: int = 2, threads: int | None = None
) -> pa.Table: ...
def segment(
    sequences: _Sequences,
    patterns: Any,
    *,
    method: Literal["dp", "greedy"] = "dp",
    threads: int | None = None,
    item_costs: tuple[npt.ArrayLike, npt.ArrayLike] | None = None,
) -> pa.ListArray: ...
def _sequence_addresses(sequences: _Sequences) -> list[int]: ...
def _debug_build() -> bool: ...
def _lambdas_exact(
    sequences: _Sequences, method: Literal["automaton", "suffix_array"]
) -> list[npt.NDArray[np.uint32]]: ...

@final
class LevelMiner:
    def __new__(
        cls,
        sequences: _Sequences,
        *,
        theta: float | None = None,
        theta_scale: float = 1.0,
        min_support: int = 2,
        max_len: int = 5,
        increment: Literal["surprisal", "plogp"] = "surprisal",
    ) -> LevelMiner: ...
    @property
    def theta(self) -> float: ...
    @property
    def h1(self) -> float: ...
    @property
    def level(self) -> int: ...
    @property
    def done(self) -> bool: ...
    def candidates(self) -> pa.Table: ...
    def advance(self, increments: npt.ArrayLike | None = None) -> None: ...
    def finish(self) -> pa.Table: ...
