"""Per-user real entropy and Π_max, with the caveats a user must see.

On a symbol view without repeated symbols (ML-1M item ids: nobody rates a movie twice) the
LZ estimators reduce to log2(n), which measures length, not regularity. `EntropySummary`
counts those users so the CLI can warn.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from unids import _core
from unids.io.interactions import Sequences

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
    n_items: int | None = None,
) -> tuple[pa.Table, EntropySummary]:
    """One row per user: length, distinct items, entropy (bits), Π_max, saturated flag.

    `n_symbols="user"` uses each user's distinct items as N (Song et al.); `"global"` uses the
    number of distinct items in the whole input (the paper's Eq. 1), or `n_items` when given
    (a batch of a larger input).
    """
    entropy = _core.real_entropy(items, estimator=estimator, threads=threads)
    lengths = pc.list_value_length(items).to_numpy(zero_copy_only=False).astype(np.int64)
    distinct = distinct_per_list(items)
    if n_symbols == "global":
        if n_items is None:
            n_items = len(pc.unique(items.flatten()))
        n = np.full(len(lengths), float(n_items))
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
    return table, summarize(table, estimator)


def summarize(table: pa.Table, estimator: str) -> EntropySummary:
    """The summary of a per-user table made by `entropy_table` (or several, concatenated)."""
    lengths = table["length"].to_numpy()
    distinct = table["distinct_items"].to_numpy()
    entropy = table["entropy_bits"].to_numpy()
    pi = table["pi_max"].to_numpy()
    saturated = table["saturated"].to_numpy(zero_copy_only=False)
    valid = ~np.isnan(entropy)
    summary = EntropySummary(
        users=table.num_rows,
        interactions=int(lengths.sum()),
        estimator=estimator,
        mean_entropy_bits=_mean(entropy[valid]),
        median_entropy_bits=float(np.median(entropy[valid])) if valid.any() else float("nan"),
        mean_pi_max=_mean(pi[~np.isnan(pi)]) if valid.any() else float("nan"),
        users_without_repeats=int(((distinct == lengths) & (lengths > 1)).sum()),
        saturated_users=int(saturated.sum()),
    )
    return summary


def _mean(values: np.ndarray) -> float:
    """Mean from an exactly rounded sum: the same whatever the order of the users (streamed
    batches keep file order, Spark hashes users to partitions)."""
    return math.fsum(values.tolist()) / len(values) if len(values) else float("nan")


def entropy_table_batches(
    batches: Iterable[Sequences],
    *,
    estimator: Estimator = "exact",
    n_symbols: Literal["user", "global"] = "user",
    threads: int | None = None,
    n_items: int | None = None,
) -> tuple[pa.Table, EntropySummary]:
    """`entropy_table` over batches of whole users (a streamed log), one row per user in input
    order. `n_symbols="global"` needs `n_items`, the distinct items of the whole input. Memory:
    one batch plus ~40 bytes per user of the result."""
    if n_symbols == "global" and n_items is None:
        raise ValueError("n_symbols='global' over batches needs n_items")
    tables = [entropy_table(batch.users, batch.items, estimator=estimator, n_symbols=n_symbols,
                            threads=threads, n_items=n_items)[0] for batch in batches]
    if not tables:
        tables = [entropy_table(np.zeros(0, np.int64), pa.array([], pa.list_(pa.int32())),
                                estimator=estimator, n_items=0)[0]]
    table = pa.concat_tables(tables).combine_chunks()
    return table, summarize(table, estimator)


def distinct_per_list(items: pa.ListArray) -> np.ndarray:
    """Distinct values per list, vectorised: sort (list, value) pairs and count changes."""
    lengths = pc.list_value_length(items).to_numpy(zero_copy_only=False).astype(np.int64)
    owner = np.repeat(np.arange(len(lengths)), lengths)
    values = items.flatten().to_numpy().astype(np.int64)
    if len(values) and 0 <= values.min() and values.max() < 2**32:
        # One sort of (list << 32 | value) keys: ~3× faster than a two-key lexsort.
        keys = np.sort((owner << 32) | values)
        first = np.ones(len(keys), dtype=bool)
        first[1:] = keys[1:] != keys[:-1]
        return np.bincount(keys[first] >> 32, minlength=len(lengths))
    order = np.lexsort((values, owner))
    owner, values = owner[order], values[order]
    first = np.ones(len(values), dtype=bool)
    first[1:] = (owner[1:] != owner[:-1]) | (values[1:] != values[:-1])
    return np.bincount(owner[first], minlength=len(lengths))
