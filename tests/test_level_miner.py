"""`LevelMiner` driven by a Python scorer that reproduces the count model must give exactly the
table `mine_patterns` gives; the external-scorer loop must not change any decision."""

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strategies import input_kinds, mining_sequences, table_rows, to_input
from unids import _core

CANDIDATE_SCHEMA = pa.schema(
    [
        ("prefix", pa.list_(pa.int32())),
        ("successor", pa.int32()),
        ("count", pa.int64()),
        ("prefix_count", pa.int64()),
        ("prefix_entropy", pa.float64()),
    ]
)


def count_model(candidates: pa.Table, increment: str) -> np.ndarray:
    """h(s|P) of every candidate row under the count model, computed in NumPy."""
    count = candidates.column("count").to_numpy()  # (C,) int64
    prefix_count = candidates.column("prefix_count").to_numpy()  # (C,) int64
    p = count / prefix_count  # (C,) float64, correctly rounded like the core's division
    if increment == "surprisal":
        return -np.log2(p)
    return -p * np.log2(p)


def mine_with_python_scorer(data, **params) -> pa.Table:
    miner = _core.LevelMiner(data, **params)
    assert miner.level == 1
    while not miner.done:
        level = miner.level
        candidates = miner.candidates()
        assert candidates.schema.remove_metadata().equals(CANDIDATE_SCHEMA), candidates.schema
        prefixes = candidates.column("prefix").to_pylist()
        assert all(len(p) == level for p in prefixes)
        miner.advance(count_model(candidates, params.get("increment", "surprisal")))
        assert miner.level == level + 1
    return miner.finish()


params_strategy = st.fixed_dictionaries(
    {
        "theta_scale": st.sampled_from([1.0, 1.5, 2.0, 3.0]),
        "min_support": st.integers(1, 3),
        "max_len": st.integers(2, 5),
        "increment": st.sampled_from(["surprisal", "plogp"]),
    }
)


@settings(max_examples=100, deadline=None)
@given(seqs=mining_sequences(), kind=input_kinds, params=params_strategy)
def test_python_count_scorer_matches_mine_patterns(seqs, kind, params):
    data = to_input(seqs, kind)
    expected = _core.mine_patterns(data, **params)
    got = mine_with_python_scorer(data, **params)
    # Patterns and supports exactly; entropies to the last bits (the two sum their
    # surprisals in different orders, 1 ulp apart on some inputs).
    got_rows, expected_rows = table_rows(got), table_rows(expected)
    assert [r[:2] for r in got_rows] == [r[:2] for r in expected_rows]
    assert [r[2] for r in got_rows] == pytest.approx([r[2] for r in expected_rows], rel=1e-12)
    assert got.column("length").to_pylist() == expected.column("length").to_pylist()
    for key in (b"theta", b"h1"):
        assert got.schema.metadata[key] == expected.schema.metadata[key]


def test_theta_h1_and_candidates_by_hand():
    # f = {1,2,3: 2; 4,5: 1}, F = 8: H1 = 2.25; seeds 1, 2, 3 at 2 bits each.
    seqs = [[1, 2, 3], [1, 2, 3], [4, 5]]
    miner = _core.LevelMiner(seqs)
    assert (miner.theta, miner.h1, miner.level, miner.done) == (2.25, 2.25, 1, False)
    candidates = miner.candidates()
    rows = sorted(
        zip(
            [tuple(p) for p in candidates.column("prefix").to_pylist()],
            candidates.column("successor").to_pylist(),
            candidates.column("count").to_pylist(),
            candidates.column("prefix_count").to_pylist(),
            candidates.column("prefix_entropy").to_pylist(),
            strict=True,
        )
    )
    # [3] is never followed, so it has no candidate.
    assert rows == [((1,), 2, 2, 2, 2.0), ((2,), 3, 2, 2, 2.0)]


def test_a_real_external_scorer_changes_the_result():
    # A scorer that finds every continuation certain (h = 0) keeps everything frequent enough.
    seqs = [[1, 2, 3, 4], [1, 2, 3, 5], [4, 5]]
    miner = _core.LevelMiner(seqs, theta=10.0)
    while not miner.done:
        miner.advance(np.zeros(miner.candidates().num_rows))
    patterns = {p for p, _, _ in table_rows(miner.finish())}
    assert {(1, 2), (2, 3), (1, 2, 3)} <= patterns


def test_wrong_length_increments_raise():
    miner = _core.LevelMiner([[1, 2, 3], [1, 2, 3], [4, 5]])
    n = miner.candidates().num_rows
    assert n > 0
    for wrong in (np.zeros(n + 1), np.zeros(n - 1), np.zeros(0)):
        with pytest.raises(ValueError, match=str(n)):
            miner.advance(wrong)
    # The failed calls left the miner usable.
    miner.advance(np.zeros(n))
    assert miner.level == 2


def test_finish_twice_is_an_error_not_a_panic():
    miner = _core.LevelMiner([[1, 2, 1, 2]])
    miner.finish()
    with pytest.raises(Exception, match="finish"):
        miner.finish()


def test_seed_threshold_is_strict():
    # With the count model a seed sitting exactly on θ could never grow a kept pattern
    # (increments are ≥ 0), so only the level-1 candidates show whether it was kept.
    # f(1) = 2 of F = 4: H([1]) = 1 bit; H([2]) = H([3]) = 2 bits.
    for theta, seeds in [(1.0, set()), (2.0, {(1,)}), (2.5, {(1,), (2,), (3,)})]:
        miner = _core.LevelMiner([[1, 2, 1, 3]], theta=theta, min_support=1)
        prefixes = {tuple(p) for p in miner.candidates().column("prefix").to_pylist()}
        # [3] is never followed, so it has no candidate even when kept.
        assert prefixes == seeds - {(3,)}, theta
