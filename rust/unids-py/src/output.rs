//! Wrapping core results as pyarrow objects. NumPy arrays take ownership of our vectors
//! (`into_pyarray`, no copy) and pyarrow wraps NumPy buffers without copying either.

use numpy::IntoPyArray;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use unids_core::PatternTable;

/// Offsets (`n + 1` of them) and int32 values as a pyarrow `list<int32>` array
/// (`large_list<int32>` if the offsets do not fit in int32).
pub fn list_array<'py>(py: Python<'py>, offsets: Vec<usize>, values: Vec<u32>) -> PyResult<Bound<'py, PyAny>> {
    let pa = py.import("pyarrow")?;
    // Ids were checked to fit in int32 on the way in, so the cast is lossless.
    let values: Vec<i32> = values.into_iter().map(|v| v as i32).collect();
    let values = values.into_pyarray(py);
    let total = offsets.last().copied().unwrap_or(0);
    if let Ok(max) = i32::try_from(total) {
        debug_assert!(max >= 0);
        let offsets: Vec<i32> = offsets.into_iter().map(|o| o as i32).collect();
        pa.getattr("ListArray")?.call_method1("from_arrays", (offsets.into_pyarray(py), values))
    } else {
        let offsets: Vec<i64> = offsets.into_iter().map(|o| o as i64).collect();
        pa.getattr("LargeListArray")?.call_method1("from_arrays", (offsets.into_pyarray(py), values))
    }
}

/// A pattern table as `pyarrow.Table` with columns pattern, length, support, entropy and the
/// given schema metadata (string keys and values).
pub fn pattern_table<'py>(
    py: Python<'py>,
    table: PatternTable,
    metadata: &[(&str, String)],
) -> PyResult<Bound<'py, PyAny>> {
    let pa = py.import("pyarrow")?;
    let lengths: Vec<i32> = table.offsets.windows(2).map(|w| (w[1] - w[0]) as i32).collect();
    let support: Vec<i64> = table.support.into_iter().map(|s| s as i64).collect();
    let columns = (
        list_array(py, table.offsets, table.items)?,
        pa.call_method1("array", (lengths.into_pyarray(py),))?,
        pa.call_method1("array", (support.into_pyarray(py),))?,
        pa.call_method1("array", (table.entropy.into_pyarray(py),))?,
    );
    let names = ("pattern", "length", "support", "entropy");
    let kwargs = PyDict::new(py);
    kwargs.set_item("names", names)?;
    let table = pa.getattr("Table")?.call_method("from_arrays", (columns,), Some(&kwargs))?;
    let meta = PyDict::new(py);
    for (key, value) in metadata {
        meta.set_item(key, value)?;
    }
    table.call_method1("replace_schema_metadata", (meta,))
}

/// `repr`-precision text of a float, so metadata round-trips exactly.
pub fn float_text(value: f64) -> String {
    format!("{value:?}")
}
