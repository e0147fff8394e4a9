"""Bad input to `unids._core` raises ValueError / TypeError naming the problem, never a panic.

A Rust panic surfaces as `pyo3_runtime.PanicException`, a BaseException subclass that
`pytest.raises((ValueError, TypeError))` does not catch, so any panic fails these tests.
"""

import numpy as np
import pyarrow as pa
import pytest

from unids import _core

GOOD = [[1, 2, 3], [1, 2, 3], [4, 5]]
GOOD_TABLE = pa.table(
    {"pattern": pa.array([[1, 2]], type=pa.list_(pa.int32())), "entropy": pa.array([1.0])}
)

# Every function that takes sequences, called with its other arguments fixed.
SEQUENCE_FUNCTIONS = {
    "real_entropy": lambda seqs: _core.real_entropy(seqs),
    "mine_patterns": lambda seqs: _core.mine_patterns(seqs),
    "window_patterns": lambda seqs: _core.window_patterns(seqs),
    "segment": lambda seqs: _core.segment(seqs, GOOD_TABLE),
    "LevelMiner": lambda seqs: _core.LevelMiner(seqs),
}
each_function = pytest.mark.parametrize("call", SEQUENCE_FUNCTIONS.values(), ids=SEQUENCE_FUNCTIONS)


@each_function
@pytest.mark.parametrize(
    "seqs",
    [
        pa.array([[1, -2, 3]], type=pa.list_(pa.int32())),
        pa.array([[1], [-(2**40)]], type=pa.list_(pa.int64())),
        [np.array([3, -1], dtype=np.int32)],
        [np.array([0]), np.array([-7], dtype=np.int64)],
    ],
    ids=["arrow32", "arrow64", "numpy32", "numpy64"],
)
def test_negative_ids(call, seqs):
    with pytest.raises(ValueError, match="negative"):
        call(seqs)


@each_function
@pytest.mark.parametrize(
    "seqs",
    [
        pa.array([[1, 2**31]], type=pa.list_(pa.int64())),
        [np.array([2**40], dtype=np.int64)],
        [np.array([2**63 + 5], dtype=np.uint64)],
    ],
    ids=["arrow64", "numpy64", "uint64"],
)
def test_ids_beyond_int32(call, seqs):
    with pytest.raises(ValueError, match="int32"):
        call(seqs)


@each_function
@pytest.mark.parametrize(
    "seqs",
    [
        pa.array([[1, None, 3]], type=pa.list_(pa.int32())),
        pa.array([[1, 2], None], type=pa.list_(pa.int64())),
        pa.chunked_array(
            [
                pa.array([[1]], type=pa.list_(pa.int32())),
                pa.array([[None]], type=pa.list_(pa.int32())),
            ]
        ),
    ],
    ids=["null-item", "null-list", "chunked-null-item"],
)
def test_nulls(call, seqs):
    with pytest.raises(ValueError, match="null"):
        call(seqs)


def test_null_hidden_by_a_slice_is_not_an_error():
    # The null lies outside the slice: the input itself has none.
    seqs = pa.array([[None], [1, 2], [1, 2]], type=pa.list_(pa.int32())).slice(1)
    assert _core.real_entropy(seqs).tolist() == [1.0, 1.0]
    # Same for a negative id hidden before the slice's offset.
    seqs = pa.array([[-1], [1, 2], [1, 2]], type=pa.list_(pa.int32())).slice(1)
    assert _core.window_patterns(seqs).num_rows == 1


@each_function
@pytest.mark.parametrize(
    "seqs",
    [
        pa.array([[1.0, 2.0]], type=pa.list_(pa.float64())),
        pa.array([["a", "b"]], type=pa.list_(pa.string())),
        pa.array([1, 2, 3], type=pa.int32()),
        [np.array([1.0, 2.0])],
        [np.array(["a", "b"])],
        [np.array([[1, 2], [3, 4]])],
        "abc",
        42,
        None,
    ],
    ids=[
        "arrow-float",
        "arrow-string",
        "arrow-flat-int",
        "numpy-float",
        "numpy-str",
        "numpy-2d",
        "str",
        "int",
        "None",
    ],
)
def test_not_integer_sequences(call, seqs):
    with pytest.raises((TypeError, ValueError)) as info:
        call(seqs)
    assert str(info.value), "the error must say what is wrong"


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"min_support": 0}, "min_support"),
        ({"min_support": -1}, "min_support"),
        ({"max_len": 1}, "max_len"),
        ({"max_len": 0}, "max_len"),
        ({"max_len": -3}, "max_len"),
        ({"increment": "entropy"}, "increment"),
        ({"threads": 0}, "threads"),
    ],
)
def test_bad_miner_parameters(kwargs, name):
    with pytest.raises(ValueError, match=name):
        _core.mine_patterns(GOOD, **kwargs)
    if "threads" not in kwargs:
        with pytest.raises(ValueError, match=name):
            _core.LevelMiner(GOOD, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"estimator": "lz78"}, "estimator"), ({"base": 1.0}, "base"), ({"base": -2.0}, "base")],
)
def test_bad_entropy_parameters(kwargs, name):
    with pytest.raises(ValueError, match=name):
        _core.real_entropy(GOOD, **kwargs)


@pytest.mark.parametrize(("kwargs", "name"), [({"alpha": -1}, "alpha"), ({"beta": -1}, "beta")])
def test_bad_window_parameters(kwargs, name):
    with pytest.raises(ValueError, match=name):
        _core.window_patterns(GOOD, **kwargs)


def test_unknown_segment_method():
    with pytest.raises(ValueError, match="method"):
        _core.segment(GOOD, GOOD_TABLE, method="viterbi")


def test_dp_refuses_nan_entropy():
    table = _core.window_patterns(GOOD)
    assert table.num_rows > 0
    with pytest.raises(ValueError, match=r"(?i)nan|greedy|entropy"):
        _core.segment(GOOD, table, method="dp")
    _core.segment(GOOD, table, method="greedy")  # fine


def test_segment_needs_pattern_and_entropy_columns():
    with pytest.raises((TypeError, ValueError), match="entropy"):
        _core.segment(GOOD, pa.table({"pattern": pa.array([[1, 2]])}))
    with pytest.raises((TypeError, ValueError), match="pattern"):
        _core.segment(GOOD, pa.table({"entropy": pa.array([1.0])}))


def test_predictability_shape_mismatch():
    with pytest.raises(ValueError, match="n_symbols"):
        _core.predictability(np.array([1.0, 2.0, 3.0]), np.array([4.0, 5.0]))


def test_wrong_length_increments():
    miner = _core.LevelMiner(GOOD)
    n = miner.candidates().num_rows
    with pytest.raises(ValueError):
        miner.advance(np.zeros(n + 3))
