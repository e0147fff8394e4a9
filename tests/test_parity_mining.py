"""`unids._core.mine_patterns` and `window_patterns` against the plain-Python reference."""

import math

import pyarrow as pa
from hypothesis import example, given, settings
from hypothesis import strategies as st

import reference
from strategies import (
    HIGH_IDS,
    input_kinds,
    mining_sequences,
    same_float,
    sequences,
    table_rows,
    threads,
    to_input,
)
from unids import _core

MINING = settings(max_examples=200, deadline=None)

PATTERN_SCHEMA = pa.schema(
    [
        ("pattern", pa.list_(pa.int32())),
        ("length", pa.int32()),
        ("support", pa.int64()),
        ("entropy", pa.float64()),
    ]
)

miner_params = st.fixed_dictionaries(
    {
        "theta_scale": st.sampled_from([1.0, 0.5, 1.5, 2.0, 3.0]),
        "min_support": st.integers(1, 3),
        "max_len": st.integers(2, 5),
        "increment": st.sampled_from(["surprisal", "plogp"]),
    },
    optional={"theta": st.sampled_from([0.5, 1.0, 2.0, 4.0, 8.0])},
)


def assert_same_patterns(table: pa.Table, expected: list, what: str) -> None:
    """Same pattern set with the same supports (exactly), entropies to 1e-12, same row order."""
    assert table.schema.remove_metadata().equals(PATTERN_SCHEMA), table.schema
    got = table_rows(table)
    got_set = {p: (s, h) for p, s, h in got}
    expected_set = {p: (s, h) for p, s, h in expected}
    assert len(got_set) == len(got), f"{what}: duplicate patterns in the table"
    missing = sorted(set(expected_set) - set(got_set))
    extra = sorted(set(got_set) - set(expected_set))
    assert not missing and not extra, f"{what}: missing {missing}, extra {extra}"
    for p, (s, h) in expected_set.items():
        assert got_set[p][0] == s, f"{what}: support of {p}: got {got_set[p][0]}, expected {s}"
        assert same_float(got_set[p][1], h), (
            f"{what}: entropy of {p}: got {got_set[p][1]!r}, expected {h!r}"
        )
    assert [r[0] for r in got] == [r[0] for r in expected], f"{what}: row order differs"
    lengths = table.column("length").to_pylist()
    assert lengths == [len(r[0]) for r in got], f"{what}: length column"


@MINING
@given(seqs=mining_sequences(), kind=input_kinds, params=miner_params, n_threads=threads)
@example(seqs=[[0, 1, 2], [0, 1, 2], [3, 4]], kind="arrow32", params={}, n_threads=None)
@example(seqs=[[0, 1, 2] * 4] * 2, kind="numpy64", params={"theta_scale": 2.0}, n_threads=1)
@example(seqs=[[HIGH_IDS[0], HIGH_IDS[1]] * 5], kind="sliced", params={}, n_threads=None)
def test_mine_patterns_parity(seqs, kind, params, n_threads):
    table = _core.mine_patterns(to_input(seqs, kind), threads=n_threads, **params)
    expected, theta, h1 = reference.mine_patterns(seqs, **params)
    assert_same_patterns(table, expected, f"mine_patterns({params})")
    meta = table.schema.metadata
    assert same_float(float(meta[b"theta"]), theta), (meta[b"theta"], theta)
    assert same_float(float(meta[b"h1"]), h1), (meta[b"h1"], h1)


@MINING
@given(seqs=sequences(max_alphabet=3, max_sequences=3, max_length=40))
def test_mine_patterns_h1_and_theta_are_bit_exact(seqs):
    # ALGORITHMS.md pins the order of the H1 running sum precisely so that the seeds' `H < θ`
    # decisions agree bit for bit (uniform counts put H([i]) and H1 one rounding apart).
    table = _core.mine_patterns(seqs)
    _, theta, h1 = reference.mine_patterns(seqs)
    assert float(table.schema.metadata[b"h1"]) == h1
    assert float(table.schema.metadata[b"theta"]) == theta


def test_mine_patterns_metadata_round_trips():
    seqs = [[1, 2, 3], [1, 2, 3], [4, 5]]
    table = _core.mine_patterns(seqs, theta_scale=1.25, min_support=2, max_len=4)
    meta = table.schema.metadata
    assert float(meta[b"h1"]) == 2.25
    assert float(meta[b"theta"]) == 1.25 * 2.25
    assert meta[b"min_support"] == b"2"
    assert meta[b"max_len"] == b"4"
    assert meta[b"increment"] == b"surprisal"
    assert table_rows(table) == [((1, 2), 2, 2.0), ((1, 2, 3), 2, 2.0), ((2, 3), 2, 2.0)]


def test_thresholds_are_strict():
    # f(1) = 2 of F = 4: H([1]) = 1 bit; [1] is followed once by 2 and once by 3, so
    # H([1, 2]) = H([1, 3]) = 2 bits exactly. Both comparisons with θ are strict.
    seqs = [[1, 2, 1, 3]]
    # At θ = 2.5, [2] and [3] (2 bits) become seeds too, and every extension adds 0 bits.
    above = [(1, 2), (1, 2, 1), (1, 2, 1, 3), (1, 3), (2, 1), (2, 1, 3)]
    for theta, expected in [(1.0, []), (2.0, []), (2.5, above)]:
        table = _core.mine_patterns(seqs, theta=theta, min_support=1)
        assert [p for p, _, _ in table_rows(table)] == expected, theta
        reference_rows = reference.mine_patterns(seqs, theta=theta, min_support=1)[0]
        assert_same_patterns(table, reference_rows, f"theta={theta}")
    # Supports are compared with ≥: min_support = 2 keeps a pattern seen exactly twice.
    table = _core.mine_patterns([[1, 2], [1, 2]], theta=10.0, min_support=2)
    assert [p for p, _, _ in table_rows(table)] == [(1, 2)]
    assert _core.mine_patterns([[1, 2], [1, 2]], theta=10.0, min_support=3).num_rows == 0


def test_mine_patterns_uniform_counts():
    # Every item equally frequent: H([i]) = log2 k and H1 = Σ p·log2(1/p) differ by rounding
    # at most; the pinned running sum decides. Compare with the reference for several k.
    for k in range(2, 12):
        seqs = [list(range(k)) * 3]
        table = _core.mine_patterns(seqs)
        expected, _, _ = reference.mine_patterns(seqs)
        assert_same_patterns(table, expected, f"uniform k={k}")


def test_mine_patterns_empty_inputs():
    for seqs in ([], [[]], [[], [7]]):
        table = _core.mine_patterns(pa.array(seqs, type=pa.list_(pa.int32())))
        assert table.num_rows == 0
        assert table.schema.remove_metadata().equals(PATTERN_SCHEMA)
        _, theta, h1 = reference.mine_patterns(seqs)
        assert same_float(float(table.schema.metadata[b"h1"]), h1)
        assert same_float(float(table.schema.metadata[b"theta"]), theta)


@MINING
@given(
    seqs=mining_sequences(),
    kind=input_kinds,
    alpha=st.integers(2, 6),
    beta=st.integers(1, 3),
    n_threads=threads,
)
def test_window_patterns_parity(seqs, kind, alpha, beta, n_threads):
    table = _core.window_patterns(to_input(seqs, kind), alpha=alpha, beta=beta, threads=n_threads)
    assert table.schema.remove_metadata().equals(PATTERN_SCHEMA), table.schema
    rows = table_rows(table)
    assert [(p, s) for p, s, _ in rows] == reference.window_patterns(seqs, alpha, beta)
    assert all(math.isnan(h) for _, _, h in rows)
    assert table.column("length").to_pylist() == [len(p) for p, _, _ in rows]


def test_window_patterns_defaults():
    seqs = [[1, 1, 1], [1, 1], [1, 2, 3, 1, 2, 3]]
    rows = table_rows(_core.window_patterns(seqs))
    assert [(p, s) for p, s, _ in rows] == reference.window_patterns(seqs)
