"""Time gaps as tokens and symbols: log2 buckets of the seconds between two interactions.

Shared by the `time` symbol view of the quality report and the `gap` token source of the
Pattern-Token format, so that both speak of the same buckets.

Bucket 0 holds gaps under one second (ties: ML-1M rates many movies in the same second);
bucket k ≥ 1 holds [2^(k−1), 2^k) seconds; the last bucket, `GAP_BUCKETS − 1`, holds everything
from 2^(GAP_BUCKETS − 2) s ≈ 1.1 years on.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

#: Buckets 0 … 26: under 1 s, then doublings up to 2^25 s (≈ 1.1 years) and beyond.
GAP_BUCKETS = 27


def gap_bucket(seconds: np.ndarray) -> np.ndarray:
    """Bucket index (int32) of each gap in seconds; negative or NaN gaps count as 0."""
    seconds = np.nan_to_num(np.asarray(seconds, dtype=np.float64), nan=0.0)
    bucket = np.zeros(seconds.shape, dtype=np.int32)
    positive = seconds >= 1.0
    bucket[positive] = 1 + np.floor(np.log2(seconds[positive])).astype(np.int32)
    return np.minimum(bucket, GAP_BUCKETS - 1)


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= size:
            return f"{seconds / size:.3g}{unit}"
    return f"{seconds:.3g}s"


def gap_bucket_labels() -> list[str]:
    """Human-readable ranges, one per bucket: '<1s', '[1s,2s)', …, '≥388d'."""
    labels = ["<1s"]
    for k in range(1, GAP_BUCKETS - 1):
        labels.append(f"[{_duration(2.0 ** (k - 1))},{_duration(2.0 ** k)})")
    labels.append(f"≥{_duration(2.0 ** (GAP_BUCKETS - 2))}")
    return labels


def has_clock_time(timestamps: pa.ListArray) -> bool:
    """False when the timestamps are evidently positions, not times: every step inside every
    user's sequence is exactly 1 (how loaders without time, e.g. S3-Rec, fill the column).
    Also False when no user has two interactions (no gap to measure)."""
    steps, unit_steps = clock_steps(timestamps)
    return steps > unit_steps


def clock_steps(timestamps: pa.ListArray) -> tuple[int, int]:
    """(steps between consecutive interactions of the same user, of which exactly 1): what
    `has_clock_time` decides from, as sums over the users (a distributed job adds them up)."""
    offsets = timestamps.offsets.to_numpy().astype(np.int64)
    values = timestamps.values.to_numpy(zero_copy_only=False).astype(np.float64)
    values = values[offsets[0]:offsets[-1]]
    owner = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    inside = owner[1:] == owner[:-1]  # step i joins values i and i+1 of the same user
    steps = np.diff(values)[inside]
    return len(steps), int(np.count_nonzero(steps == 1.0))
