"""`unids._core.real_entropy` and `predictability` against the plain-Python reference."""

import math

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import reference
from strategies import (
    assert_floats_match,
    input_kinds,
    sequences,
    single_sequences,
    threads,
    to_input,
)
from unids import _core

CHEAP = settings(max_examples=200, deadline=None)


@CHEAP
@given(seq=single_sequences(max_length=60))
@example(seq=[])
@example(seq=[2**31 - 1])
@example(seq=[0] * 50)
@example(seq=list(range(40)))
def test_lambdas_exact_equals_quadratic_definition(seq):
    # Two readings of the exact estimator: the definition, and Λ_i = 1 + ℓ_i with ℓ_i the
    # longest prefix of the suffix that occurs in the past. They must agree.
    n = len(seq)
    for i, lam in enumerate(reference.lambdas_exact(seq)):
        ell = max(
            (
                length
                for length in range(n - i + 1)
                if reference.occurs_in(seq[i : i + length], seq[:i])
            ),
            default=0,
        )
        assert lam == 1 + ell


@CHEAP
@given(seqs=sequences(max_length=60), method=st.sampled_from(["automaton", "suffix_array"]))
@example(seqs=[[], [7], [7, 7], [7, 8], [2**31 - 1] * 9, [0, 2**31 - 1] * 6], method="suffix_array")
@example(seqs=[[], [7], [7, 7], [7, 8], [2**31 - 1] * 9, [0, 2**31 - 1] * 6], method="automaton")
def test_lambdas_exact_parity_by_method(seqs, method):
    # `real_entropy` takes the suffix array only for long sequences (lz.rs SUFFIX_ARRAY_FROM),
    # beyond what the reference affords: here each method is forced on short ones.
    got = _core._lambdas_exact(pa.array(seqs, type=pa.list_(pa.int32())), method)
    assert [g.tolist() for g in got] == [reference.lambdas_exact(seq) for seq in seqs]
    assert all(g.dtype == np.uint32 for g in got)


def test_lambdas_exact_rejects_unknown_method():
    with pytest.raises(ValueError, match="method"):
        _core._lambdas_exact([np.array([1, 2], dtype=np.int32)], "quadratic")


def test_real_entropy_long_sequences_take_either_method():
    # Above the switch real_entropy uses the suffix array; it must equal the automaton's value.
    rng = np.random.default_rng(11)
    seqs = [rng.integers(0, k, size=n).astype(np.int32) for k, n in [(3, 9000), (50, 20_000)]]
    seqs.append(np.tile(np.array([4, 2**31 - 1, 4], dtype=np.int32), 4000))
    got = _core.real_entropy(seqs)
    for seq, value in zip(seqs, got, strict=True):
        lambdas = _core._lambdas_exact([seq], "automaton")[0]
        n = len(seq)
        assert value == n * math.log2(n) / float(lambdas.sum(dtype=np.int64))
        assert np.array_equal(lambdas, _core._lambdas_exact([seq], "suffix_array")[0])


@CHEAP
@given(
    seqs=sequences(max_length=60),
    kind=input_kinds,
    estimator=st.sampled_from(["exact", "approx"]),
    base=st.sampled_from([2.0, math.e, 10.0]),
    n_threads=threads,
)
def test_real_entropy_parity(seqs, kind, estimator, base, n_threads):
    got = _core.real_entropy(
        to_input(seqs, kind), estimator=estimator, base=base, threads=n_threads
    )
    assert isinstance(got, np.ndarray)
    assert got.dtype == np.float64
    expected = [reference.real_entropy(seq, estimator, base) for seq in seqs]
    assert_floats_match(got, expected, what=f"real_entropy[{estimator}, base={base}]")


@pytest.mark.parametrize("estimator", ["exact", "approx"])
def test_real_entropy_edge_cases(estimator):
    seqs = [[], [4], [4, 4], [2**31 - 1] * 7, [1, 2, 3, 4, 5], [2**31 - 1, 0, 2**31 - 1, 0]]
    got = _core.real_entropy(pa.array(seqs, type=pa.list_(pa.int32())), estimator=estimator)
    expected = [reference.real_entropy(seq, estimator) for seq in seqs]
    assert_floats_match(got, expected, what="real_entropy")
    assert math.isnan(got[0]) and got[1] == 0.0
    # No repeated symbol: S = log2 n exactly as the caveat in ALGORITHMS.md §1 says.
    assert got[4] == pytest.approx(math.log2(5), rel=1e-12)


def test_real_entropy_of_nothing():
    assert len(_core.real_entropy(pa.array([], type=pa.list_(pa.int32())))) == 0
    assert len(_core.real_entropy([])) == 0


def test_real_entropy_long_sequence():
    # Long enough that a quadratic or cubic implementation would show; small alphabet so the
    # automaton gets deep. Compared with the reference on a prefix the reference can afford.
    rng = np.random.default_rng(7)
    seq = rng.integers(0, 3, size=400).astype(np.int32)
    for estimator in ("exact", "approx"):
        got = _core.real_entropy([seq], estimator=estimator)[0]
        assert math.isclose(got, reference.real_entropy(seq.tolist(), estimator), rel_tol=1e-12)


entropies = st.one_of(
    st.floats(-1.0, 25.0),
    st.sampled_from([math.nan, 0.0, -0.0, math.inf, 1.0, 2.0, 10.0]),
)
symbol_counts = st.one_of(
    st.integers(0, 100_000).map(float),
    st.sampled_from([math.nan, 1.0, 2.0, 3.0, 0.5, 1.5]),
)


@CHEAP
@given(
    pairs=st.lists(st.tuples(entropies, symbol_counts), max_size=20),
)
def test_predictability_parity(pairs):
    s = np.array([p[0] for p in pairs], dtype=np.float64)
    n = np.array([p[1] for p in pairs], dtype=np.float64)
    got = _core.predictability(s, n)
    expected = [reference.predictability(a, b) for a, b in pairs]
    assert_floats_match(got, expected, tol=1e-9, what="predictability")


@CHEAP
@given(s=st.lists(st.floats(0.0, 12.0), min_size=1, max_size=10), n=st.integers(0, 5000))
def test_predictability_scalar_symbol_count(s, n):
    got = _core.predictability(np.array(s), n)
    assert_floats_match(got, [reference.predictability(x, n) for x in s], tol=1e-9)


def test_predictability_boundaries():
    s = [math.nan, 1.0, 0.0, -2.0, 1.0, 5.0, math.log2(100)]
    n = [10, math.nan, 10, 10, 1, 4, 100]
    got = _core.predictability(s, n)
    assert math.isnan(got[0]) and math.isnan(got[1])
    assert list(got[2:]) == [1.0, 1.0, 1.0, 0.25, 0.01]
