"""Per-user real entropy and Π_max, with the caveats a user must see.

On a symbol view without repeated symbols (ML-1M item ids: nobody rates a movie twice) the
LZ estimators reduce to log2(n), which measures length, not regularity. `EntropySummary`
counts those users so the CLI can warn.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from unids import _core

Estimator = Literal["exact", "approx"]


def max_predictability(entropy_bits: np.ndarray, n_symbols: np.ndarray | float
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Π_max by Fano inversion, and a flag per user where no solution exists (S ≥ log2 N),
    in which case Π_max is the floor 1/N."""
    entropy_bits = np.asarray(entropy_bits, dtype=np.float64)
    n = np.broadcast_to(np.asarray(n_symbols, dtype=np.float64), entropy_bits.shape)
    pi = _core.predictability(entropy_bits, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        saturated = (n > 1) & (entropy_bits >= np.log2(np.where(n > 1, n, 2)))
    return pi, saturated


@dataclass(frozen=True)
class EntropySummary:
    users: int
    interactions: int
    estimator: str
    mean_entropy_bits: float
    median_entropy_bits: float
    mean_pi_max: float
    users_without_repeats: int
    saturated_users: int

    def as_dict(self) -> dict[str, float | int | str]:
        return asdict(self)


def entropy_table(
    users: np.ndarray,
    items: pa.ListArray,
    *,
    estimator: Estimator = "exact",
    n_symbols: Literal["user", "global"] = "user",
    threads: int | None = None,
) -> tuple[pa.Table, EntropySummary]:
    """One row per user: length, distinct items, entropy (bits), Π_max, saturated flag.

    `n_symbols="user"` uses each user's distinct items as N (Song et al.); `"global"` uses the
    number of distinct items in the whole input (the paper's Eq. 1).
    """
    entropy = _core.real_entropy(items, estimator=estimator, threads=threads)
    lengths = pc.list_value_length(items).to_numpy(zero_copy_only=False).astype(np.int64)
    distinct = distinct_per_list(items)
    if n_symbols == "global":
        n = np.full(len(lengths), float(len(pc.unique(items.flatten()))))
    else:
        n = distinct.astype(np.float64)
    pi, saturated = max_predictability(entropy, n)
    table = pa.table({
        "user_id": pa.array(users),
        "length": lengths,
        "distinct_items": distinct,
        "entropy_bits": entropy,
        "pi_max": pi,
        "saturated": saturated,
    })
    valid = ~np.isnan(entropy)
    summary = EntropySummary(
        users=len(users),
        interactions=int(lengths.sum()),
        estimator=estimator,
        mean_entropy_bits=float(entropy[valid].mean()) if valid.any() else float("nan"),
        median_entropy_bits=float(np.median(entropy[valid])) if valid.any() else float("nan"),
        mean_pi_max=float(np.nanmean(pi)) if valid.any() else float("nan"),
        users_without_repeats=int(((distinct == lengths) & (lengths > 1)).sum()),
        saturated_users=int(saturated.sum()),
    )
    return table, summary


def distinct_per_list(items: pa.ListArray) -> np.ndarray:
    """Distinct values per list, vectorised: sort (list, value) pairs and count changes."""
    lengths = pc.list_value_length(items).to_numpy(zero_copy_only=False).astype(np.int64)
    owner = np.repeat(np.arange(len(lengths)), lengths)
    values = items.flatten().to_numpy().astype(np.int64)
    order = np.lexsort((values, owner))
    owner, values = owner[order], values[order]
    first = np.ones(len(values), dtype=bool)
    first[1:] = (owner[1:] != owner[:-1]) | (values[1:] != values[:-1])
    return np.bincount(owner[first], minlength=len(lengths))
