"""The planted-pattern generator, the recovery metric, and the miner's recovery at defaults."""

import numpy as np
import pyarrow as pa
import pytest

from unids import _core
from unids.data.synthetic import make_planted
from unids.mining.recovery import maximal_patterns, recovery


def test_maximal_patterns():
    mined = [(1, 2), (1, 2, 3), (2, 3), (3, 4), (5, 1, 2), (7, 8)]
    # (1, 2) is inside (1, 2, 3) and (5, 1, 2); (2, 3) inside (1, 2, 3).
    assert maximal_patterns(mined) == [(1, 2, 3), (3, 4), (5, 1, 2), (7, 8)]
    assert maximal_patterns([]) == []
    table = pa.table({"pattern": pa.array([[1, 2], [1, 2, 3]], type=pa.list_(pa.int32()))})
    assert maximal_patterns(table) == [(1, 2, 3)]


def test_recovery_counts_exact_maximal_matches():
    planted = [(1, 2, 3), (4, 5), (6, 7)]
    # (1, 2, 3) found; (4, 5) only inside a longer spurious pattern; (6, 7) cut short: not mined.
    mined = [(1, 2), (1, 2, 3), (4, 5), (4, 5, 9)]
    precision, recall = recovery(mined, planted)
    assert precision == 1 / 2  # maximal: (1, 2, 3) and (4, 5, 9)
    assert recall == 1 / 3
    precision, recall = recovery([], planted)
    assert np.isnan(precision) and recall == 0.0


def test_generator_is_deterministic_and_well_formed():
    a = make_planted(n_users=200, seed=5)
    b = make_planted(n_users=200, seed=5)
    c = make_planted(n_users=200, seed=6)
    assert a.planted == b.planted
    assert all(np.array_equal(x, y) for x, y in zip(a.sequences, b.sequences, strict=True))
    assert a.planted != c.planted
    assert len(a.sequences) == 200
    assert all(s.dtype == np.int32 and s.ndim == 1 and len(s) >= 2 for s in a.sequences)
    values = np.concatenate(a.sequences)
    assert values.min() >= 1 and values.max() <= a.n_items
    # Distinct patterns of the allowed lengths, none inside another.
    assert len(set(a.planted)) == a.n_patterns
    assert all(a.min_pattern_len <= len(p) <= a.max_pattern_len for p in a.planted)
    assert maximal_patterns(a.planted) == sorted(a.planted)
    # The Arrow view holds the same data.
    assert a.to_arrow().to_pylist() == [s.tolist() for s in a.sequences]
    assert a.to_arrow().type == pa.list_(pa.int32())


def test_planted_items_follow_the_popularity_law():
    # Pattern items are drawn from the background law, not hand-picked: their mean popularity
    # is the law's expected popularity Σ p_i², well above the uniform 1 / n_items.
    d = make_planted()
    items = np.array([i for p in d.planted for i in p])
    expected = float(np.sum(d.popularity**2))
    uniform = 1.0 / d.n_items
    mean = float(d.popularity[items].mean())
    assert abs(mean - expected) < abs(mean - uniform)


def test_mean_length():
    d = make_planted(n_users=2000)
    lengths = np.array([len(s) for s in d.sequences])
    assert abs(lengths.mean() - d.mean_length) < 0.1 * d.mean_length


def mined_recovery(seed: int) -> tuple[float, float]:
    data = make_planted(seed=seed)
    table = _core.mine_patterns(data.to_arrow())  # every parameter at its default
    return recovery(table, data.planted)


def test_default_parameters_recover_the_planted_patterns():
    precision, recall = mined_recovery(seed=0)
    assert precision >= 0.9
    assert recall >= 0.9


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_recovery_holds_for_other_seeds(seed):
    precision, recall = mined_recovery(seed)
    assert precision >= 0.9
    assert recall >= 0.9
