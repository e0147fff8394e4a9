"""The binding borrows int32 inputs instead of copying them (STYLE §5)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from unids import _core


def test_arrow_int32_values_are_borrowed() -> None:
    array = pa.array([[1, 2, 3], [], [4, 5]], pa.list_(pa.int32()))
    base = array.values.buffers()[1].address
    offsets = array.offsets.to_numpy()
    addresses = _core._sequence_addresses(array)
    # Empty sequences have no memory to point at; compare the others.
    assert [addresses[k] for k in (0, 2)] == [base + 4 * int(offsets[k]) for k in (0, 2)]


def test_sliced_and_chunked_arrow_arrays_are_borrowed() -> None:
    array = pa.array([[1, 2], [3, 4, 5], [6]], pa.list_(pa.int32()))
    base = array.values.buffers()[1].address
    chunked = pa.chunked_array([array.slice(1), array])
    assert _core._sequence_addresses(chunked) == [base + 8, base + 20, base, base + 8, base + 20]


def test_numpy_int32_arrays_are_borrowed() -> None:
    arrays = [np.arange(5, dtype=np.int32), np.arange(3, dtype=np.int32)]
    assert _core._sequence_addresses(arrays) == [a.ctypes.data for a in arrays]


def test_other_integer_types_are_converted_not_rejected() -> None:
    arrays = [np.arange(5, dtype=np.int64), np.arange(3, dtype=np.uint16), [1, 2]]
    expected = _core.real_entropy([np.asarray(a, dtype=np.int32) for a in arrays])
    np.testing.assert_array_equal(_core.real_entropy(arrays), expected)
    large = pa.array([[1, 2, 1]], pa.large_list(pa.int64()))
    np.testing.assert_array_equal(_core.real_entropy(large),
                                  _core.real_entropy([np.array([1, 2, 1], np.int32)]))
