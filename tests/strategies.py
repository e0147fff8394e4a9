"""Hypothesis strategies and helpers shared by the parity tests.

Sequences are drawn over a tiny alphabet so that repeats (and therefore non-trivial Λ_i,
patterns and segmentations) are common, and the alphabet is optionally mapped onto ids at the
top of the int32 range to catch narrowing and sign bugs. Each sequence list can be handed to
`unids._core` in any of the input layouts the binding accepts (`INPUT_KINDS`).
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
from hypothesis import strategies as st

INT32_MAX = 2**31 - 1

# Small alphabet → ids: the identity, or the top of the int32 range mixed with 0 and 1
# (so that sorting, hashing and narrowing to u32/i32 are all exercised).
HIGH_IDS = (INT32_MAX, INT32_MAX - 1, 0, 1, INT32_MAX - 2, 2**30, 7, 2**31 - 1000)

INPUT_KINDS = (
    "arrow32",  # pa.ListArray list<int32>
    "arrow64",  # pa.ListArray list<int64>
    "large64",  # pa.LargeListArray large_list<int64>
    "chunked",  # pa.ChunkedArray of list<int32>, split into up to three chunks (some empty)
    "sliced",  # a list<int32> array sliced out of a bigger one: non-zero array offset
    "offsets",  # ListArray.from_arrays whose first offset is not 0
    "numpy32",  # Python list of contiguous int32 NumPy arrays
    "numpy64",  # Python list of int64 NumPy arrays
    "numpy32_strided",  # Python list of non-contiguous int32 views
)


@st.composite
def sequences(
    draw,
    max_alphabet: int = 4,
    max_sequences: int = 6,
    max_length: int = 30,
    min_sequences: int = 0,
) -> list[list[int]]:
    """A list of sequences of non-negative int32 ids over a small alphabet."""
    k = draw(st.integers(1, max_alphabet))
    high = draw(st.booleans())
    ids = HIGH_IDS[:k] if high else tuple(range(k))
    symbols = st.integers(0, k - 1).map(lambda j: ids[j])
    return draw(
        st.lists(
            st.lists(symbols, max_size=max_length),
            min_size=min_sequences,
            max_size=max_sequences,
        )
    )


@st.composite
def motif_sequences(
    draw, max_alphabet: int = 6, max_sequences: int = 6, max_pieces: int = 12
) -> list[list[int]]:
    """Sequences made of a few repeated motifs and single items: patterns long enough to reach
    max_len, DP choices between overlapping patterns, and supports well above 2."""
    k = draw(st.integers(2, max_alphabet))
    ids = HIGH_IDS[:k] if draw(st.booleans()) else tuple(range(k))
    symbol = st.integers(0, k - 1).map(lambda j: ids[j])
    motifs = draw(st.lists(st.lists(symbol, min_size=2, max_size=5), min_size=1, max_size=3))
    piece = st.sampled_from(motifs) | symbol.map(lambda x: [x])
    flat = st.lists(piece, min_size=2, max_size=max_pieces).map(
        lambda parts: [x for p in parts for x in p]
    )
    return draw(st.lists(flat, min_size=1, max_size=max_sequences))


def mining_sequences() -> st.SearchStrategy[list[list[int]]]:
    """Uniform random sequences or motif-built ones, half and half."""
    return sequences() | motif_sequences()


@st.composite
def single_sequences(draw, max_alphabet: int = 4, max_length: int = 40) -> list[int]:
    """One sequence: the all-equal and the no-repeat extremes come up naturally (k = 1, n ≤ k)."""
    return draw(sequences(max_alphabet, 1, max_length, min_sequences=1))[0]


input_kinds = st.sampled_from(INPUT_KINDS)
threads = st.sampled_from([None, 1, 2])


def to_input(seqs: list[list[int]], kind: str):
    """The same sequences in one of the layouts of `INPUT_KINDS`."""
    list32 = pa.list_(pa.int32())
    if kind == "arrow32":
        return pa.array(seqs, type=list32)
    if kind == "arrow64":
        return pa.array(seqs, type=pa.list_(pa.int64()))
    if kind == "large64":
        return pa.array(seqs, type=pa.large_list(pa.int64()))
    if kind == "chunked":
        # Chunks [0, a), [a, b), [b, n) with a ≤ b; the middle one may be empty.
        n = len(seqs)
        a, b = n // 3, (2 * n) // 3
        chunks = [pa.array(part, type=list32) for part in (seqs[:a], seqs[a:b], seqs[b:])]
        return pa.chunked_array(chunks, type=list32)
    if kind == "sliced":
        # Valid ids in the hidden rows: a binding that ignores the offset gives wrong answers.
        padded = [[3, 3, 1], [2], *seqs, [1, 3]]
        return pa.array(padded, type=list32).slice(2, len(seqs))
    if kind == "offsets":
        flat = [5, 5, 4]  # values before the first offset, never part of any sequence
        offsets = [len(flat)]
        for seq in seqs:
            flat.extend(seq)
            offsets.append(len(flat))
        flat.extend([6, 6])
        return pa.ListArray.from_arrays(
            pa.array(offsets, type=pa.int32()), pa.array(flat, type=pa.int32())
        )
    if kind == "numpy32":
        return [np.asarray(seq, dtype=np.int32) for seq in seqs]
    if kind == "numpy64":
        return [np.asarray(seq, dtype=np.int64) for seq in seqs]
    if kind == "numpy32_strided":
        # Every other element of an interleaved buffer: a non-contiguous int32 view.
        views = []
        for seq in seqs:
            buffer = np.full(2 * len(seq), 9, dtype=np.int32)
            buffer[::2] = seq
            views.append(buffer[::2])
        return views
    raise ValueError(f"unknown input kind {kind!r}")


def same_float(a: float, b: float, tol: float = 1e-12) -> bool:
    """isclose with rel = abs = tol, and NaN equal to NaN."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=tol, abs_tol=tol)


def assert_floats_match(got, expected, tol: float = 1e-12, what: str = "value") -> None:
    got = [float(x) for x in got]
    expected = [float(x) for x in expected]
    assert len(got) == len(expected), f"{what}: {len(got)} values, expected {len(expected)}"
    for i, (g, e) in enumerate(zip(got, expected, strict=True)):
        assert same_float(g, e, tol), f"{what}[{i}]: got {g!r}, expected {e!r}"


def table_rows(table: pa.Table) -> list[tuple[tuple[int, ...], int, float]]:
    """(pattern, support, entropy) per row of a pattern table, in table order."""
    patterns = table.column("pattern").to_pylist()
    support = table.column("support").to_pylist()
    entropy = table.column("entropy").to_pylist()
    return [(tuple(p), s, h) for p, s, h in zip(patterns, support, entropy, strict=True)]


def pattern_table(rows: list[tuple[tuple[int, ...], float]]) -> pa.Table:
    """A minimal pattern table (columns `pattern`, `entropy`) for `segment`."""
    return pa.table(
        {
            "pattern": pa.array([list(p) for p, _ in rows], type=pa.list_(pa.int32())),
            "entropy": pa.array([h for _, h in rows], type=pa.float64()),
        }
    )


@st.composite
def random_pattern_tables(draw, seqs: list[list[int]]) -> list[tuple[tuple[int, ...], float]]:
    """Distinct patterns (length 1..4) cut from the sequences or made up from their alphabet, with
    entropies from a small set of round values (so that DP ties happen) or arbitrary floats.
    A length-1 pattern competes with the item's unigram cost (it is tried after the single item)."""
    alphabet = sorted({x for seq in seqs for x in seq}) or [0]
    windows = [
        tuple(seq[j : j + length])
        for seq in seqs
        for length in range(1, 5)
        for j in range(len(seq) - length + 1)
    ]
    made_up = st.lists(st.sampled_from(alphabet), min_size=1, max_size=4).map(tuple)
    pattern = st.sampled_from(windows) | made_up if windows else made_up
    patterns = draw(st.lists(pattern, max_size=8, unique=True))
    entropy = st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0]) | st.floats(0.0, 30.0)
    return [(p, draw(entropy)) for p in patterns]
