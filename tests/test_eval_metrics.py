"""`unids.eval` against the plain-Python reference (tests/reference_metrics.py) and the
properties any ranking or classification metric must have."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

import reference_metrics as reference
from unids.eval import (
    RankAccumulator,
    auc,
    classification_metrics,
    fit_platt,
    gauc,
    history_mask,
    logloss,
    mark_significant,
    paired_t_test,
    platt_probabilities,
    retrieval_metrics,
    sigmoid,
    target_ranks,
    two_sided_p_value,
)
from unids.eval.significance import regularized_incomplete_beta

CHEAP = settings(max_examples=100, deadline=None)
KS = (1, 3, 10)

# Scores drawn from a few integers so that ties are the rule; exact in every float dtype.
FLOAT_DTYPES = st.sampled_from([torch.float32, torch.float64, torch.bfloat16])


@st.composite
def ranking_batches(draw) -> tuple[list[list[int]], list[int], list[list[int]]]:
    """(scores (B, V), targets (B,), padded histories (B, L)); targets often in the history."""
    n_users = draw(st.integers(1, 5))
    n_columns = draw(st.integers(2, 12))
    levels = draw(st.integers(0, 3))
    score = st.integers(-levels, levels)
    scores = [draw(st.lists(score, min_size=n_columns, max_size=n_columns)) for _ in range(n_users)]
    targets = [draw(st.integers(1, n_columns - 1)) for _ in range(n_users)]
    length = draw(st.integers(0, 6))
    histories = []
    for target in targets:
        history = draw(st.lists(st.integers(0, n_columns - 1), min_size=length, max_size=length))
        if length and draw(st.booleans()):
            history[draw(st.integers(0, length - 1))] = target
        histories.append(history)
    return scores, targets, histories


def reference_ranks(
    scores: list[list[int]], targets: list[int], histories: list[list[int]] | None
) -> list[int]:
    ranks = []
    for u, (row, target) in enumerate(zip(scores, targets, strict=True)):
        excluded = reference.history_set(histories[u]) if histories is not None else set()
        ranks.append(reference.target_rank(row, target, excluded))
    return ranks


def as_tensors(
    scores: list[list[int]], targets: list[int], dtype: torch.dtype = torch.float64
) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.tensor(scores, dtype=dtype), torch.tensor(targets, dtype=torch.int64)


# --------------------------------------------------------------------------------------------
# Ranks
# --------------------------------------------------------------------------------------------


@CHEAP
@given(batch=ranking_batches(), dtype=FLOAT_DTYPES, masked=st.booleans())
def test_target_ranks_match_reference(batch, dtype, masked):
    scores, targets, histories = batch
    s, t = as_tensors(scores, targets, dtype)
    exclude = (
        history_mask(torch.tensor(histories, dtype=torch.int64), s.shape[1]) if masked else None
    )
    got = target_ranks(s, t, exclude)
    assert got.dtype == torch.int64
    assert got.tolist() == reference_ranks(scores, targets, histories if masked else None)


@CHEAP
@given(batch=ranking_batches())
def test_history_mask_matches_reference(batch):
    scores, _, histories = batch
    n_columns = len(scores[0])
    got = history_mask(torch.tensor(histories, dtype=torch.int64), n_columns)
    assert got.dtype == torch.bool
    assert got.shape == (len(histories), n_columns)
    for row, history in zip(got.tolist(), histories, strict=True):
        assert {item for item, marked in enumerate(row) if marked} == reference.history_set(history)


@CHEAP
@given(batch=ranking_batches(), value=st.sampled_from([0.0, -3.5, 1e30, -math.inf]))
def test_constant_scores_rank_the_target_last(batch, value):
    _, targets, histories = batch
    n_columns = len(batch[0][0])
    s = torch.full((len(targets), n_columns), value, dtype=torch.float64)
    exclude = history_mask(torch.tensor(histories, dtype=torch.int64), n_columns)
    got = target_ranks(s, torch.tensor(targets), exclude)
    for rank, target, history in zip(got.tolist(), targets, histories, strict=True):
        candidates = set(range(1, n_columns)) - (reference.history_set(history) - {target})
        assert rank == len(candidates)


@CHEAP
@given(batch=ranking_batches())
def test_a_strictly_best_target_ranks_first(batch):
    scores, targets, histories = batch
    s, t = as_tensors(scores, targets)
    s[torch.arange(len(targets)), t] = 100.0
    s[:, 0] = 1e9  # the padding column must not count, however high it scores
    exclude = history_mask(torch.tensor(histories, dtype=torch.int64), s.shape[1])
    ranks = target_ranks(s, t, exclude)
    assert ranks.tolist() == [1] * len(targets)
    assert retrieval_metrics(ranks, KS) == {key: 1.0 for key in retrieval_metrics([1], KS)}


@CHEAP
@given(batch=ranking_batches(), masked=st.booleans())
def test_ranks_are_invariant_under_increasing_transforms(batch, masked):
    scores, targets, histories = batch
    s, t = as_tensors(scores, targets)
    exclude = (
        history_mask(torch.tensor(histories, dtype=torch.int64), s.shape[1]) if masked else None
    )
    before = target_ranks(s, t, exclude)
    for transform in (lambda x: 7 * x - 2, lambda x: torch.exp(x / 3), torch.sigmoid):
        assert torch.equal(target_ranks(transform(s), t, exclude), before)


def test_target_in_history_stays_ranked():
    # Items 1..4 score 4 3 2 1; the user saw 1 and 3 before, and the target is 3 again.
    scores = torch.tensor([[0.0, 4.0, 3.0, 2.0, 1.0]])
    exclude = history_mask(torch.tensor([[1, 3, 0]]), 5)
    assert exclude.tolist() == [[False, True, False, True, False]]
    assert target_ranks(scores, torch.tensor([3]), exclude).tolist() == [2]  # behind item 2 only
    assert target_ranks(scores, torch.tensor([3])).tolist() == [3]  # unmasked: behind 1 and 2


def test_ties_are_pessimistic():
    scores = torch.tensor([[9.0, 1.0, 2.0, 2.0, 2.0, 0.0]])
    assert target_ranks(scores, torch.tensor([3])).tolist() == [3]
    assert target_ranks(scores, torch.tensor([1])).tolist() == [4]
    assert target_ranks(scores, torch.tensor([5])).tolist() == [5]


def test_target_ranks_reject_bad_input():
    scores = torch.zeros(2, 4)
    with pytest.raises(ValueError, match="NaN"):
        target_ranks(torch.tensor([[0.0, 1.0, math.nan]]), torch.tensor([1]))
    with pytest.raises(ValueError, match="item ids"):
        target_ranks(scores, torch.tensor([0, 1]))  # the padding id is not a target
    with pytest.raises(ValueError, match="item ids"):
        target_ranks(scores, torch.tensor([1, 4]))
    with pytest.raises(ValueError, match="targets"):
        target_ranks(scores, torch.tensor([1]))
    with pytest.raises(ValueError, match="exclude"):
        target_ranks(scores, torch.tensor([1, 2]), torch.zeros(2, 3, dtype=torch.bool))
    with pytest.raises(TypeError, match="bool"):
        target_ranks(scores, torch.tensor([1, 2]), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="history ids"):
        history_mask(torch.tensor([[1, 4]]), 4)
    assert target_ranks(torch.zeros(0, 4), torch.zeros(0, dtype=torch.int64)).shape == (0,)


# --------------------------------------------------------------------------------------------
# MRR / HR@k / NDCG@k
# --------------------------------------------------------------------------------------------

ranks_lists = st.lists(st.integers(1, 300), min_size=1, max_size=40)


@CHEAP
@given(ranks=ranks_lists, ks=st.lists(st.integers(1, 250), max_size=4, unique=True))
def test_retrieval_metrics_match_reference(ranks, ks):
    got = retrieval_metrics(np.array(ranks), ks)
    expected = reference.retrieval_metrics(ranks, ks)
    assert list(got) == list(expected)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-12, abs=1e-15)


@CHEAP
@given(ranks=ranks_lists)
def test_ndcg_is_at_most_hr_and_both_grow_with_k(ranks):
    ks = (1, 5, 10, 50, 200, 1000)
    got = retrieval_metrics(torch.tensor(ranks), ks)
    for k in ks:
        assert 0.0 <= got[f"NDCG@{k}"] <= got[f"HR@{k}"] <= 1.0
    for small, large in itertools.pairwise(ks):
        assert got[f"HR@{small}"] <= got[f"HR@{large}"]
        assert got[f"NDCG@{small}"] <= got[f"NDCG@{large}"]
    assert got["HR@1"] == got["NDCG@1"]  # one relevant item: a hit at rank 1 has gain 1


def test_retrieval_metric_names_and_values():
    got = retrieval_metrics([1, 2, 100])
    assert list(got) == ["MRR", "HR@10", "HR@50", "HR@200", "NDCG@10", "NDCG@50", "NDCG@200"]
    assert got["MRR"] == pytest.approx((1 + 1 / 2 + 1 / 100) / 3)
    assert got["HR@10"] == pytest.approx(2 / 3)
    assert got["NDCG@10"] == pytest.approx((1 + 1 / math.log2(3)) / 3)
    assert got["NDCG@200"] == pytest.approx((1 + 1 / math.log2(3) + 1 / math.log2(101)) / 3)


def test_retrieval_metrics_reject_bad_input():
    with pytest.raises(ValueError, match="no ranks"):
        retrieval_metrics([])
    with pytest.raises(ValueError, match="1-based"):
        retrieval_metrics([0, 1])
    with pytest.raises(ValueError, match="cut-offs"):
        retrieval_metrics([1], ks=(0,))
    with pytest.raises(ValueError, match="no ranks"):
        RankAccumulator().metrics()


@CHEAP
@given(batch=ranking_batches(), split=st.integers(0, 5))
def test_accumulator_streams_like_one_batch(batch, split):
    scores, targets, histories = batch
    s, t = as_tensors(scores, targets)
    exclude = history_mask(torch.tensor(histories, dtype=torch.int64), s.shape[1])
    accumulator = RankAccumulator(KS)
    accumulator.add_scores(s[:split], t[:split], exclude[:split])
    accumulator.add_scores(s[split:], t[split:], exclude[split:])
    whole = target_ranks(s, t, exclude)
    assert len(accumulator) == len(targets)
    assert accumulator.per_user().tolist() == whole.tolist()
    assert accumulator.per_user().dtype == np.int64
    assert accumulator.metrics() == retrieval_metrics(whole, KS)


# --------------------------------------------------------------------------------------------
# AUC / GAUC / logloss
# --------------------------------------------------------------------------------------------


@st.composite
def impressions(draw, max_users: int = 4) -> tuple[list[int], list[int], list[float]]:
    """(users, labels, scores): scores from a few values (ties) or arbitrary floats."""
    n = draw(st.integers(1, 40))
    users = draw(st.lists(st.integers(0, max_users - 1), min_size=n, max_size=n))
    labels = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    few = st.integers(-2, 2).map(float)
    any_float = st.floats(-1e6, 1e6, allow_nan=False)
    scores = draw(st.lists(few | any_float if draw(st.booleans()) else few, min_size=n, max_size=n))
    return users, labels, scores


def same_or_both_nan(got: float, expected: float) -> bool:
    if math.isnan(expected):
        return math.isnan(got)
    return math.isclose(got, expected, rel_tol=1e-12, abs_tol=1e-12)


@CHEAP
@given(data=impressions())
@example(data=([0, 0], [1, 1], [0.5, 0.2]))  # one class only
@example(data=([0, 0, 0, 0], [0, 1, 0, 1], [3.0, 3.0, 3.0, 3.0]))  # all tied: 1/2
def test_auc_and_gauc_match_reference(data):
    users, labels, scores = data
    assert same_or_both_nan(auc(labels, scores), reference.auc(labels, scores))
    assert same_or_both_nan(gauc(users, labels, scores), reference.gauc(users, labels, scores))
    assert same_or_both_nan(gauc([0] * len(users), labels, scores), auc(labels, scores))


@CHEAP
@given(data=impressions())
def test_auc_of_negated_scores_is_the_complement(data):
    _, labels, scores = data
    forward = auc(np.array(labels), np.array(scores))
    backward = auc(np.array(labels), -np.array(scores))
    if math.isnan(forward):
        assert math.isnan(backward)
    else:
        assert backward == pytest.approx(1.0 - forward, abs=1e-12)


@CHEAP
@given(
    negatives=st.lists(st.floats(-10, 0), min_size=1),
    positives=st.lists(st.floats(0.5, 10), min_size=1),
)
def test_perfect_separation_gives_auc_one(negatives, positives):
    labels = [0] * len(negatives) + [1] * len(positives)
    scores = negatives + positives
    assert auc(labels, scores) == 1.0
    assert auc(labels, [-s for s in scores]) == 0.0
    assert gauc([7] * len(labels), labels, scores) == 1.0


def test_auc_is_nan_without_warning_for_one_class():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(auc([1, 1, 1], [0.1, 0.2, 0.3]))
        assert math.isnan(gauc([0, 1], [0, 1], [0.1, 0.2]))  # each user has one class only


def test_gauc_weights_users_by_impressions():
    # User "a": 4 impressions, AUC 1. User "b": 2 impressions, AUC 0. User "c": positives only.
    users = np.array(["a", "a", "a", "a", "b", "b", "c"])
    labels = [0, 1, 0, 1, 1, 0, 1]
    scores = [0.1, 0.9, 0.2, 0.8, 0.1, 0.9, 0.5]
    assert gauc(users, labels, scores) == pytest.approx((4 * 1.0 + 2 * 0.0) / 6)


@CHEAP
@given(
    labels=st.lists(st.integers(0, 1), min_size=1, max_size=30),
    data=st.data(),
)
def test_logloss_matches_reference(labels, data):
    probabilities = data.draw(
        st.lists(
            st.floats(0, 1) | st.sampled_from([0.0, 1.0, 1e-9, 1 - 1e-9]),
            min_size=len(labels),
            max_size=len(labels),
        )
    )
    assert logloss(labels, probabilities) == pytest.approx(
        reference.logloss(labels, probabilities), rel=1e-12
    )


def test_logloss_of_perfect_confident_predictions_is_nearly_zero():
    labels = [1, 0, 1, 0]
    assert logloss(labels, [1.0, 0.0, 1.0, 0.0]) == pytest.approx(0.0, abs=1e-6)
    assert logloss(labels, [0.0, 1.0, 0.0, 1.0]) == pytest.approx(-math.log(1e-7))  # clipped


@CHEAP
@given(
    data=impressions(),
    scale=st.sampled_from([1.0, 50.0, 1e4]),
)
def test_classification_metrics_from_logits(data, scale):
    users, labels, scores = data
    logits = [scale * s for s in scores]  # large logits: sigmoid must not overflow or warn
    got = classification_metrics(users, labels, np.array(logits, dtype=np.float32))
    assert list(got) == ["AUC", "GAUC", "logloss"]
    logits32 = [float(x) for x in np.array(logits, dtype=np.float32)]
    assert same_or_both_nan(got["AUC"], reference.auc(labels, logits32))
    assert same_or_both_nan(got["GAUC"], reference.gauc(users, labels, logits32))
    expected = reference.logloss(labels, [reference.sigmoid(x) for x in logits32])
    assert got["logloss"] == pytest.approx(expected, rel=1e-9)
    assert np.all(np.isfinite(sigmoid(np.array(logits))))


def test_platt_scaling_recovers_the_calibration_that_made_the_labels():
    """Labels drawn from sigmoid(0.5·x - 1): maximum likelihood finds (0.5, -1)."""
    rng = np.random.default_rng(0)
    logits = rng.normal(0.0, 2.0, 200_000)
    labels = (rng.random(len(logits)) < sigmoid(0.5 * logits - 1.0)).astype(np.int64)
    scale, shift = fit_platt(labels, logits)
    assert scale == pytest.approx(0.5, abs=0.01) and shift == pytest.approx(-1.0, abs=0.02)
    # An overconfident model (logits twice too large): calibration lowers its logloss.
    raw = logloss(labels, sigmoid(logits))
    calibrated = platt_probabilities(logits, scale, shift)
    assert logloss(labels, calibrated) < raw - 0.05
    assert auc(labels, calibrated) == pytest.approx(auc(labels, logits), abs=1e-9)  # same order


def _mean_logloss(labels, logits, scale, shift) -> float:
    """The plain sum Platt scaling minimises, term by term."""
    total = 0.0
    for y, x in zip(labels, logits, strict=True):
        p = reference.sigmoid(scale * x + shift)
        total -= math.log(p) if y else math.log1p(-p)
    return total / len(labels)


@CHEAP
@given(scored=st.lists(st.tuples(st.integers(0, 1), st.floats(-6, 6)), min_size=1,
                       max_size=40))
def test_platt_scaling_is_the_logloss_minimum(scored):
    """No nearby (scale, shift) has a lower logloss than the fit, the identity (1, 0)
    included. Four fixed impressions with both labels at x = ±1 make sure no threshold
    separates the classes, so the minimum is finite."""
    rows = [*scored, (1, -1.0), (0, -1.0), (1, 1.0), (0, 1.0)]
    labels = [y for y, _ in rows]
    logits = [x for _, x in rows]
    scale, shift = fit_platt(labels, logits)
    best = _mean_logloss(labels, logits, scale, shift)
    assert best <= _mean_logloss(labels, logits, 1.0, 0.0) + 1e-9
    for d_scale, d_shift in [(1e-3, 0), (-1e-3, 0), (0, 1e-3), (0, -1e-3)]:
        assert best <= _mean_logloss(labels, logits, scale + d_scale, shift + d_shift) + 1e-9


def test_platt_scaling_needs_both_classes():
    with pytest.raises(ValueError, match="both classes"):
        fit_platt([1, 1, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="NaN"):
        fit_platt([0, 1], [0.1, math.nan])


def test_classification_input_errors():
    with pytest.raises(ValueError, match="0 or 1"):
        auc([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="NaN"):
        auc([0, 1], [0.1, math.nan])
    with pytest.raises(ValueError, match="shape"):
        auc([0, 1], [0.1])
    with pytest.raises(ValueError, match="empty"):
        auc([], [])
    with pytest.raises(ValueError, match="users"):
        gauc([0], [0, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        logloss([0, 1], [0.1, 1.2])


# --------------------------------------------------------------------------------------------
# Paired t-test
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("df", "t"),
    [(1, 12.706), (2, 4.303), (4, 2.776), (10, 2.228), (30, 2.042)],  # two-sided 5% points
)
def test_p_values_at_textbook_critical_values(df, t):
    assert round(two_sided_p_value(t, df), 3) == 0.05
    assert round(two_sided_p_value(-t, df), 3) == 0.05
    assert two_sided_p_value(t, df) == pytest.approx(reference.two_sided_p_value(t, df), abs=1e-9)


@settings(max_examples=300, deadline=None)
@given(t=st.floats(-1e8, 1e8, allow_nan=False))
@example(t=0.0)
@example(t=1e-12)
def test_p_values_match_closed_forms_for_one_and_two_degrees(t):
    # df = 1 is Cauchy: p = 1 - 2 atan|t| / π = 2 atan(1/|t|) / π. df = 2: p = 1 - |t| / r with
    # r = √(2 + t²), i.e. 2 / (r (r + |t|)). The second forms stay accurate in the far tail, so
    # the comparison is relative: tiny p-values must keep their digits too.
    cauchy = 1.0 if t == 0 else 2 * math.atan(1 / abs(t)) / math.pi
    r = math.sqrt(2 + t * t)
    assert math.isclose(two_sided_p_value(t, 1), cauchy, rel_tol=1e-13)
    assert math.isclose(two_sided_p_value(t, 2), 2 / (r * (r + abs(t))), rel_tol=1e-13)


def test_incomplete_beta_special_cases():
    for x in (0.0, 0.1, 0.5, 0.93, 1.0):
        assert regularized_incomplete_beta(1, 1, x) == pytest.approx(x, abs=1e-15)
        assert regularized_incomplete_beta(3, 1, x) == pytest.approx(x**3, abs=1e-15)
        assert regularized_incomplete_beta(1, 4, x) == pytest.approx(1 - (1 - x) ** 4, abs=1e-15)
    # Far tail at huge df: slightly heavier than the normal 2 Φ(-10), not rounded to 0.
    assert 1.523970604832e-23 < two_sided_p_value(10.0, 1e6) < 1.01 * 1.523970604832e-23


# Values on a dyadic grid, so that differences and sums are exact and the fast and the reference
# t statistics agree to rounding even when the spread is small.
grid_values = st.integers(-40, 40).map(lambda v: v / 8)


def check_against_reference(a: list[float], b: list[float]) -> None:
    t, p = paired_t_test(a, b)
    t_ref, p_ref = reference.paired_t_test(a, b)
    assert t == pytest.approx(t_ref, rel=1e-9)
    assert p == pytest.approx(p_ref, abs=1e-9)
    assert 0.0 <= p <= 1.0
    t_swapped, p_swapped = paired_t_test(b, a)
    assert t_swapped == -t
    assert p_swapped == p


@settings(max_examples=100, deadline=None)
@given(data=st.data(), n=st.integers(2, 12))
def test_paired_t_test_matches_reference(data, n):
    a = data.draw(st.lists(grid_values, min_size=n, max_size=n))
    b = data.draw(st.lists(grid_values, min_size=n, max_size=n))
    check_against_reference(a, b)


def test_paired_t_test_on_metric_values():
    # NDCG@10 of two methods over 5 seeds.
    a = [0.1843, 0.1871, 0.1822, 0.1859, 0.1848]
    b = [0.1791, 0.1803, 0.1811, 0.1788, 0.1822]
    check_against_reference(a, b)
    assert mark_significant(paired_t_test(a, b)[1]) == "*"
    assert mark_significant(paired_t_test(a, a[::-1])[1]) == ""


def test_paired_t_test_with_zero_variance():
    assert paired_t_test([0.3, 0.1, 0.2], [0.3, 0.1, 0.2]) == (0.0, 1.0)
    assert paired_t_test([1.5, 2.5, 3.5], [1.0, 2.0, 3.0]) == (math.inf, 0.0)
    assert paired_t_test([1.0, 2.0], [1.5, 2.5]) == (-math.inf, 0.0)


def test_paired_t_test_rejects_bad_input():
    with pytest.raises(ValueError, match="at least 2"):
        paired_t_test([1.0], [2.0])
    with pytest.raises(ValueError, match="equal length"):
        paired_t_test([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="finite"):
        paired_t_test([1.0, math.nan], [1.0, 2.0])


def test_mark_significant():
    assert mark_significant(0.049) == "*"
    assert mark_significant(0.05) == ""
    assert mark_significant(0.2, alpha=0.25) == "*"
    assert mark_significant(math.nan) == ""
