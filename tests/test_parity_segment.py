"""`unids._core.segment` against the plain-Python reference, on mined and on random tables."""

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

import reference
from strategies import (
    input_kinds,
    mining_sequences,
    pattern_table,
    random_pattern_tables,
    table_rows,
    threads,
    to_input,
)
from unids import _core

SEGMENT = settings(max_examples=200, deadline=None)
methods = st.sampled_from(["dp", "greedy"])


def check_segmentation(result, seqs, expected) -> None:
    assert isinstance(result, pa.Array), type(result)
    assert result.type == pa.list_(pa.int32()), result.type
    got = result.to_pylist()
    assert got == expected
    # Whatever the method, segments tile the sequence.
    assert [sum(lengths) for lengths in got] == [len(seq) for seq in seqs]


@SEGMENT
@given(
    seqs=mining_sequences(),
    kind=input_kinds,
    theta_scale=st.sampled_from([1.0, 1.5, 2.0, 3.0]),
    min_support=st.integers(1, 2),
    method=methods,
    n_threads=threads,
)
def test_segment_parity_with_mined_patterns(
    seqs, kind, theta_scale, min_support, method, n_threads
):
    # The pipeline's use: mine, then segment the same sequences with the mined table.
    table = _core.mine_patterns(seqs, theta_scale=theta_scale, min_support=min_support)
    result = _core.segment(to_input(seqs, kind), table, method=method, threads=n_threads)
    rows = [(p, h) for p, _, h in table_rows(table)]
    check_segmentation(result, seqs, reference.segment(seqs, rows, method))


@SEGMENT
@given(data=st.data(), seqs=mining_sequences(), kind=input_kinds, method=methods)
def test_segment_parity_with_random_tables(data, seqs, kind, method):
    # Round entropies make exact cost ties common: the strict `<` rule must decide alike.
    rows = data.draw(random_pattern_tables(seqs))
    result = _core.segment(to_input(seqs, kind), pattern_table(rows), method=method)
    check_segmentation(result, seqs, reference.segment(seqs, rows, method))


@SEGMENT
@given(seqs=mining_sequences(), kind=input_kinds, alpha=st.integers(2, 5))
def test_segment_greedy_with_window_patterns(seqs, kind, alpha):
    # Window patterns have NaN entropy: greedy only.
    table = _core.window_patterns(seqs, alpha=alpha)
    result = _core.segment(to_input(seqs, kind), table, method="greedy")
    rows = [(p, h) for p, _, h in table_rows(table)]
    check_segmentation(result, seqs, reference.segment(seqs, rows, "greedy"))


def test_segment_by_hand():
    seqs = [[1, 2, 1, 2], [], [3]]
    tie = pattern_table([((1, 2), 2.0)])  # items 1, 2 cost 1.2223... bits here, not a tie
    got = _core.segment(seqs, tie).to_pylist()
    assert got == reference.segment(seqs, [((1, 2), 2.0)])
    # Exact tie: in [[1, 2, 1, 2]] alone items 1 and 2 cost 1 bit each and [1, 2] costs 2.0.
    assert _core.segment([[1, 2, 1, 2]], tie).to_pylist() == [[2, 2]]
    costly = pattern_table([((1, 2), 2.5)])
    assert _core.segment([[1, 2, 1, 2]], costly).to_pylist() == [[1, 1, 1, 1]]
    assert _core.segment([[1, 2, 1, 2]], costly, method="greedy").to_pylist() == [[2, 2]]


def test_segment_empty_inputs():
    empty_table = pattern_table([])
    assert _core.segment(pa.array([], type=pa.list_(pa.int32())), empty_table).to_pylist() == []
    assert _core.segment([[], [5, 5]], empty_table).to_pylist() == [[], [1, 1]]
