"""The reference itself, checked against small examples worked out by hand."""

import math

import pytest

from reference import (
    fano_rhs,
    lambdas_approx,
    lambdas_exact,
    mine_patterns,
    occurrences,
    predictability,
    real_entropy,
    segment,
    unigram_entropy,
    window_patterns,
)


def test_lambdas_exact_by_hand():
    # i=2: [1] and [1,2] are in the past [1,2], [1,2,1] is not → 3.
    # i=3: [2] and [2,1] are in the past [1,2,1]; the suffix runs off the end → 5 - 3 + 1 = 3.
    assert lambdas_exact([1, 2, 1, 2, 1]) == [1, 1, 3, 3, 2]
    assert lambdas_exact([7, 7, 7, 7]) == [1, 2, 3, 2]
    assert lambdas_exact([1, 2, 3]) == [1, 1, 1]
    assert lambdas_exact([]) == []
    assert lambdas_exact([9]) == [1]


def test_lambdas_approx_by_hand():
    # The set only grows by one substring per position, so it can lag behind the exact past.
    assert lambdas_approx([1, 2, 1, 2, 1]) == [1, 1, 2, 2, 2]
    assert lambdas_approx([7, 7, 7, 7]) == [1, 2, 3, 2]
    assert lambdas_approx([1, 2, 3]) == [1, 1, 1]


def test_real_entropy_by_hand():
    assert math.isnan(real_entropy([]))
    assert real_entropy([5]) == 0.0
    assert real_entropy([1, 2, 1, 2, 1]) == 5 * math.log2(5) / 10
    assert real_entropy([1, 2, 1, 2, 1], "approx") == 5 * math.log2(5) / 8
    # No repeated symbol: S = log n, in any base.
    assert real_entropy([1, 2, 3]) == pytest.approx(math.log2(3), rel=1e-15)
    assert real_entropy([1, 2, 3], base=math.e) == pytest.approx(math.log(3), rel=1e-15)
    with pytest.raises(ValueError):
        real_entropy([1], "lz78")


def test_predictability_by_hand():
    assert math.isnan(predictability(math.nan, 10))
    assert math.isnan(predictability(1.0, math.nan))
    assert predictability(3.0, 1) == 1.0
    assert predictability(0.0, 10) == 1.0
    assert predictability(-1.0, 10) == 1.0
    assert predictability(1.0, 2) == 0.5  # S = log2 N: saturated
    assert predictability(5.0, 4) == 0.25
    # N = 2: H_b(Π) = 0.5 at Π = 1 - 0.1100278644...
    assert predictability(0.5, 2) == pytest.approx(0.8899721356, abs=1e-9)
    for s, n in [(0.3, 100), (2.0, 100), (6.6, 100), (4.0, 17)]:
        pi = predictability(s, n)
        assert 1.0 / n <= pi <= 1.0
        assert fano_rhs(pi, n) == pytest.approx(s, abs=1e-9)


def test_unigram_entropy_and_occurrences():
    seqs = [[1, 2, 3], [1, 2, 3], [4, 5]]
    assert unigram_entropy(seqs) == 2.25
    assert unigram_entropy([]) == 0.0
    assert occurrences([[1, 1, 1]], (1, 1)) == 2  # overlaps count
    assert occurrences([[1, 1], [1]], (1,)) == 3


def test_mine_patterns_by_hand():
    # f = {1,2,3: 2; 4,5: 1}, F = 8: H1 = 3·(1/4·2) + 2·(1/8·3) = 2.25. Seeds 1, 2, 3 (2 bits).
    # Every occurrence of [1] is followed by 2, of [2] by 3, of [1,2] by 3: increments are 0.
    seqs = [[1, 2, 3], [1, 2, 3], [4, 5]]
    rows, theta, h1 = mine_patterns(seqs)
    assert (theta, h1) == (2.25, 2.25)
    assert rows == [((1, 2), 2, 2.0), ((1, 2, 3), 2, 2.0), ((2, 3), 2, 2.0)]
    assert mine_patterns(seqs, min_support=3)[0] == []
    assert mine_patterns(seqs, theta=2.0)[0] == []  # seeds need H < θ strictly
    assert mine_patterns(seqs, max_len=2)[0] == [((1, 2), 2, 2.0), ((2, 3), 2, 2.0)]
    rows, theta, _ = mine_patterns(seqs, theta_scale=2.0)
    assert theta == 4.5
    # plogp: seeds cost −p log2 p = 0.5; increments −1·log2 1 = 0.
    rows, _, h1 = mine_patterns(seqs, increment="plogp")
    assert h1 == 2.25  # H1 is the unigram entropy whatever the increment
    assert rows == [((1, 2), 2, 0.5), ((1, 2, 3), 2, 0.5), ((2, 3), 2, 0.5)]


def test_mine_patterns_dilution_by_hand():
    # f = {1: 2, 2: 1, 3: 1}, F = 4, H1 = 1.5. [1] is followed by 2 once and by 3 once: n_P = 2.
    seqs = [[1, 2, 1, 3]]
    assert mine_patterns(seqs)[0] == []
    assert mine_patterns(seqs, min_support=1)[0] == []  # H([1,2]) = 1 + 1 = 2 ≥ 1.5
    rows, _, _ = mine_patterns(seqs, theta=3.0, min_support=1)
    # Ties on entropy 2.0 are broken by the pattern, compared as integer lists.
    assert rows == [
        ((1, 2), 1, 2.0),
        ((1, 2, 1), 1, 2.0),
        ((1, 2, 1, 3), 1, 2.0),
        ((1, 3), 1, 2.0),
        ((2, 1), 1, 2.0),
        ((2, 1, 3), 1, 2.0),
    ]


def test_mine_patterns_rejects_bad_parameters():
    for kwargs in [{"min_support": 0}, {"max_len": 1}, {"increment": "entropy"}]:
        with pytest.raises(ValueError):
            mine_patterns([[1, 2]], **kwargs)


def test_window_patterns_by_hand():
    assert window_patterns([[1, 1, 1], [1, 1]]) == [((1, 1), 3)]
    assert window_patterns([[1, 1, 1], [1, 1]], beta=1) == [((1, 1), 3), ((1, 1, 1), 1)]
    assert window_patterns([[1, 2, 3, 4]], alpha=2, beta=1) == [
        ((1, 2), 1),
        ((2, 3), 1),
        ((3, 4), 1),
    ]
    assert window_patterns([]) == []


def test_segment_by_hand():
    seqs = [[1, 2, 3], [1, 2, 3], [4, 5], []]
    table = [((1, 2), 2.0), ((1, 2, 3), 2.0), ((2, 3), 2.0)]
    assert segment(seqs, table) == [[3], [3], [1, 1], []]
    assert segment(seqs, table, "greedy") == [[3], [3], [1, 1], []]
    assert segment(seqs, []) == [[1, 1, 1], [1, 1, 1], [1, 1], []]


def test_segment_ties_keep_the_earlier_candidate():
    # Items 1 and 2 cost 1 bit each; [1,2] costs 2.0 = 1 + 1. The pattern reaches cost[2] first
    # (from i = 0), the second single item ties it later and must not replace it.
    seqs = [[1, 2, 1, 2]]
    assert segment(seqs, [((1, 2), 2.0)]) == [[2, 2]]
    assert segment(seqs, [((1, 2), 2.5)]) == [[1, 1, 1, 1]]
    assert segment(seqs, [((1, 2), 2.5)], "greedy") == [[2, 2]]


def test_segment_dp_minimises_where_greedy_does_not():
    # Greedy takes [1,2,3] then [4]; DP prefers [1] + [2,3,4] because it is cheaper.
    seqs = [[1, 2, 3, 4]]
    table = [((1, 2, 3), 9.0), ((2, 3, 4), 0.5)]
    assert segment(seqs, table, "greedy") == [[3, 1]]
    assert segment(seqs, table, "dp") == [[1, 3]]


def test_segment_nan_entropy_needs_greedy():
    table = [((1, 2), math.nan)]
    with pytest.raises(ValueError):
        segment([[1, 2]], table, "dp")
    assert segment([[1, 2]], table, "greedy") == [[2]]
