//! Turning what Python hands us into `&[&[u32]]` for the core: Arrow `list<int>` arrays
//! (borrowed, zero-copy for int32/uint32 values) or a sequence of 1-D integer NumPy arrays
//! (borrowed for int32, converted otherwise).

use numpy::PyReadonlyArray1;
use pyo3::prelude::*;
use pyo3::types::PyString;

use crate::arrow::{import_lists, IntType, ListArrays};
use crate::error::BindError;

/// The largest item id: ids must fit in int32 (patterns come back as `list<int32>`).
const MAX_ID: i64 = i32::MAX as i64;

/// Sequences ready for the core. Borrowed slices point into Arrow/NumPy memory kept alive by
/// `_arrow` / `_numpy`, or into `_owned` where a conversion was unavoidable.
pub struct Sequences<'py> {
    spans: Vec<(*const u32, usize)>,
    _arrow: Option<ListArrays<'py>>,
    _numpy: Vec<PyReadonlyArray1<'py, i32>>,
    _owned: Vec<Vec<u32>>,
}

impl<'py> Sequences<'py> {
    /// One slice per sequence, in input order.
    pub fn slices(&self) -> Vec<&[u32]> {
        self.spans
            .iter()
            // SAFETY: every span points into memory owned by `self` (Arrow capsules, NumPy
            // borrows or `owned`, whose heap buffers never move after being pushed), valid for
            // `len` u32 values; `&self` keeps it alive for the returned lifetime.
            .map(|&(ptr, len)| if len == 0 { &[][..] } else { unsafe { std::slice::from_raw_parts(ptr, len) } })
            .collect()
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }
}

pub fn extract_sequences<'py>(obj: &Bound<'py, PyAny>) -> Result<Sequences<'py>, BindError> {
    if let Some(arrays) = import_lists(obj)? {
        return from_arrow(arrays);
    }
    from_numpy_list(obj)
}

fn from_arrow(arrays: ListArrays<'_>) -> Result<Sequences<'_>, BindError> {
    let mut spans = Vec::new();
    let mut owned: Vec<Vec<u32>> = Vec::new();
    let mut row = 0usize;
    for chunk in &arrays.chunks {
        for k in 0..chunk.length {
            if chunk.is_null(k) {
                return Err(BindError::NullValue(format!("sequence {row} is null")));
            }
            let (start, end) = chunk.bounds(k);
            if let Some(i) = chunk.first_null_value(start, end) {
                return Err(BindError::NullValue(format!("sequence {row} has a null item at position {}", i - start)));
            }
            let len = end - start;
            let ptr = chunk.value_ptr(start);
            match chunk.value_type {
                // Same width as u32: borrow after checking the range.
                IntType::I32 => {
                    // SAFETY: `len` int32 values starting at `ptr`, inside the Arrow buffer.
                    let values = unsafe { typed_slice::<i32>(ptr, len) };
                    check_range(values.iter().map(|&v| v as i64), row)?;
                    spans.push((ptr as *const u32, len));
                }
                IntType::U32 => {
                    let values = unsafe { typed_slice::<u32>(ptr, len) };
                    check_range(values.iter().map(|&v| v as i64), row)?;
                    spans.push((ptr as *const u32, len));
                }
                other => {
                    let converted = convert_values(other, ptr, len, row)?;
                    spans.push((converted.as_ptr(), converted.len()));
                    owned.push(converted);
                }
            }
            row += 1;
        }
    }
    Ok(Sequences { spans, _arrow: Some(arrays), _numpy: Vec::new(), _owned: owned })
}

/// # Safety
/// `ptr` must point to `len` initialised values of `T`, suitably aligned (Arrow buffers are
/// 8-byte aligned at least, and values are naturally aligned within them).
unsafe fn typed_slice<'a, T>(ptr: *const u8, len: usize) -> &'a [T] {
    if len == 0 {
        return &[];
    }
    std::slice::from_raw_parts(ptr as *const T, len)
}

fn convert_values(kind: IntType, ptr: *const u8, len: usize, row: usize) -> Result<Vec<u32>, BindError> {
    // SAFETY: `len` values of the named type at `ptr` (see `typed_slice`).
    let wide: Vec<i64> = unsafe {
        match kind {
            IntType::I8 => typed_slice::<i8>(ptr, len).iter().map(|&v| v as i64).collect(),
            IntType::I16 => typed_slice::<i16>(ptr, len).iter().map(|&v| v as i64).collect(),
            IntType::I64 => typed_slice::<i64>(ptr, len).to_vec(),
            IntType::U8 => typed_slice::<u8>(ptr, len).iter().map(|&v| v as i64).collect(),
            IntType::U16 => typed_slice::<u16>(ptr, len).iter().map(|&v| v as i64).collect(),
            IntType::U64 => {
                typed_slice::<u64>(ptr, len).iter().map(|&v| i64::try_from(v).unwrap_or(i64::MAX)).collect()
            }
            IntType::I32 | IntType::U32 => unreachable!("borrowed, never converted"),
        }
    };
    check_range(wide.iter().copied(), row)?;
    Ok(wide.into_iter().map(|v| v as u32).collect())
}

fn check_range(values: impl Iterator<Item = i64>, row: usize) -> Result<(), BindError> {
    for (position, value) in values.enumerate() {
        if value < 0 {
            return Err(BindError::NegativeId { row, position, value });
        }
        if value > MAX_ID {
            return Err(BindError::IdTooLarge { row, position, value });
        }
    }
    Ok(())
}

fn from_numpy_list<'py>(obj: &Bound<'py, PyAny>) -> Result<Sequences<'py>, BindError> {
    let py = obj.py();
    if obj.is_instance_of::<PyString>() {
        return Err(not_sequences(obj));
    }
    let iter = obj.try_iter().map_err(|_| not_sequences(obj))?;
    let numpy = py.import("numpy")?;
    let mut spans = Vec::new();
    let mut borrowed = Vec::new();
    let mut owned: Vec<Vec<u32>> = Vec::new();
    for (row, item) in iter.enumerate() {
        let item = item?;
        // The fast path: a contiguous int32 array is borrowed as it is.
        if let Ok(array) = item.extract::<PyReadonlyArray1<'py, i32>>() {
            if let Ok(values) = array.as_slice() {
                check_range(values.iter().map(|&v| v as i64), row)?;
                spans.push((values.as_ptr() as *const u32, values.len()));
                borrowed.push(array);
                continue;
            }
        }
        let array = numpy.call_method1("asarray", (&item,))?;
        let kind: String = array.getattr("dtype")?.getattr("kind")?.extract()?;
        let ndim: usize = array.getattr("ndim")?.extract()?;
        if ndim != 1 {
            return Err(BindError::NotSequences(format!("sequence {row} is not one-dimensional (ndim = {ndim})")));
        }
        // An empty Python list becomes a float64 array; it has no values to misread.
        let size: usize = array.getattr("size")?.extract()?;
        if kind != "i" && kind != "u" && size > 0 {
            let dtype = array.getattr("dtype")?.str()?.to_string();
            return Err(BindError::NotIntegers(format!("sequence {row} has dtype {dtype}; item ids must be integers")));
        }
        let array = if size == 0 {
            numpy.call_method1("zeros", (0, "int64"))?
        } else if kind == "u" {
            // uint64 beyond int64 would wrap: clip to a value that fails the range check.
            numpy
                .call_method1("minimum", (array.call_method1("astype", ("uint64",))?, MAX_ID + 1))?
                .call_method1("astype", ("int64",))?
        } else {
            array.call_method1("astype", ("int64",))?
        };
        let array = array.extract::<PyReadonlyArray1<'py, i64>>()?;
        let values = array.as_array();
        check_range(values.iter().copied(), row)?;
        let converted: Vec<u32> = values.iter().map(|&v| v as u32).collect();
        spans.push((converted.as_ptr(), converted.len()));
        owned.push(converted);
    }
    Ok(Sequences { spans, _arrow: None, _numpy: borrowed, _owned: owned })
}

fn not_sequences(obj: &Bound<'_, PyAny>) -> BindError {
    let name = obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into());
    BindError::NotSequences(format!(
        "sequences must be an Arrow list<int> array (pyarrow, polars, …) or a list of 1-D integer \
         NumPy arrays, got {name}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_check_names_the_offender() {
        let err = check_range([1i64, -3].into_iter(), 7).unwrap_err();
        assert!(matches!(err, BindError::NegativeId { row: 7, position: 1, value: -3 }));
        let err = check_range([MAX_ID + 1].into_iter(), 0).unwrap_err();
        assert!(matches!(err, BindError::IdTooLarge { .. }));
        assert!(check_range([0, MAX_ID].into_iter(), 0).is_ok());
    }
}
