"""Model conditional entropy (SPEC §2, Eq. 5) under the count model of SPEC §3.

For every position t of every sequence, the cost of its symbol given what came before:

    h(s_t | C_t) = −log2( count(C_t · s_t) / n(C_t) )

where C_t is the longest suffix s[t−k .. t) of the user's history with 1 ≤ k ≤ max_len − 1 whose
context count n(C) — occurrences of C followed by a symbol inside a sequence, across all users,
the miner's n_P — is at least `min_support`; with no such context (t = 0, or every context too
rare) the unigram cost −log2(f_s / F) is used. n(C) shrinks as C grows, so the qualifying
orders are always 1 … k*. Counts come from the same sequences that are scored: this is the
in-sample entropy of the data under its own variable-order model (what the miner sees), not a
held-out likelihood; it is finite because every scored window is counted.

Per user: the mean of h over the user's positions (bits per interaction), i.e. H(S_u) / n_u.

Vectorised: each context of order k gets a dense integer id from the pair (id of its order-(k−1)
suffix, the symbol before it), and one sort per order of the (context, symbol) keys yields both
counts as run lengths; no Python loop over positions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa


@dataclass(frozen=True)
class ModelEntropy:
    """Per-position costs (flat, in list order) and per-user means."""

    bits: np.ndarray  # (N,) h(s_t | context) in bits
    order: np.ndarray  # (N,) context length used (0 = unigram)
    per_user: np.ndarray  # (U,) mean bits per interaction; NaN for an empty sequence
    max_len: int
    min_support: int

    @property
    def mean_bits(self) -> float:
        """Mean over all interactions (each interaction weighs the same)."""
        return float(self.bits.mean()) if len(self.bits) else float("nan")

    def order_shares(self) -> dict[int, float]:
        """Share of positions scored with each context length."""
        counts = np.bincount(self.order, minlength=self.max_len)
        total = max(1, len(self.order))
        return {k: float(c) / total for k, c in enumerate(counts)}


def model_entropy(sequences: pa.ListArray, *, max_len: int = 5, min_support: int = 2
                  ) -> ModelEntropy:
    """The count-model conditional entropy of every position (see the module docstring)."""
    if max_len < 1:
        raise ValueError("max_len must be ≥ 1")
    if min_support < 1:
        raise ValueError("min_support must be ≥ 1")
    lengths = sequences.value_lengths().fill_null(0).to_numpy(zero_copy_only=False)
    lengths = lengths.astype(np.int64)
    raw = sequences.flatten().to_numpy(zero_copy_only=False)
    n = len(raw)
    starts = (np.cumsum(lengths) - lengths).astype(np.int64)
    position = np.arange(n, dtype=np.int64) - np.repeat(starts, lengths)  # index within user
    _, symbol = np.unique(raw, return_inverse=True)
    symbol = symbol.astype(np.int64).ravel()
    n_symbols = int(symbol.max()) + 1 if n else 1

    frequency = np.bincount(symbol, minlength=n_symbols)
    bits = -np.log2(frequency[symbol] / max(n, 1)) if n else np.zeros(0)
    order = np.zeros(n, dtype=np.int64)

    context = np.zeros(n, dtype=np.int64)  # id of s[t−k .. t) at position t, for k so far
    for k in range(1, max_len):
        at = np.flatnonzero(position >= k)  # positions with k symbols of history
        if len(at) == 0:
            break
        previous = symbol[at - k]
        key = previous if k == 1 else context[at] * n_symbols + previous
        if int(key.max()) >= (2**62) // n_symbols:  # keep key · n_symbols inside int64
            key = np.unique(key, return_inverse=True)[1].ravel().astype(np.int64)
        context_id, n_context, count = _group_counts(key, symbol[at], n_symbols)
        context[at] = context_id
        use = n_context >= min_support
        bits[at[use]] = -np.log2(count[use] / n_context[use])
        order[at[use]] = k

    per_user = np.full(len(lengths), np.nan)
    owner = np.repeat(np.arange(len(lengths)), lengths)
    total = np.bincount(owner, weights=bits, minlength=len(lengths))
    nonempty = lengths > 0
    per_user[nonempty] = total[nonempty] / lengths[nonempty]
    return ModelEntropy(bits=bits, order=order, per_user=per_user, max_len=max_len,
                        min_support=min_support)


def _group_counts(context_key: np.ndarray, symbol: np.ndarray, n_symbols: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each position: a dense id of its context, n(context), and count(context · symbol).

    One sort of the joint key (context_key · n_symbols + symbol) groups equal windows together
    and, within them, equal contexts, so both counts are run lengths of the sorted keys.
    """
    joint = context_key * n_symbols + symbol
    order = np.argsort(joint)
    ranked = joint[order]
    new_joint = np.ones(len(ranked), dtype=bool)
    new_joint[1:] = ranked[1:] != ranked[:-1]
    contexts = ranked // n_symbols
    new_context = np.ones(len(ranked), dtype=bool)
    new_context[1:] = contexts[1:] != contexts[:-1]
    joint_run = np.cumsum(new_joint) - 1
    context_run = np.cumsum(new_context) - 1
    context_id = np.empty(len(ranked), dtype=np.int64)
    n_context = np.empty(len(ranked), dtype=np.int64)
    count = np.empty(len(ranked), dtype=np.int64)
    context_id[order] = context_run
    n_context[order] = np.bincount(context_run)[context_run]
    count[order] = np.bincount(joint_run)[joint_run]
    return context_id, n_context, count

