//! A minimal, read-only importer for the Arrow C Data Interface (PyCapsule protocol):
//! just enough to borrow `list<intN>` / `large_list<intN>` arrays zero-copy.
//!
//! Why not arrow-rs: we need two layouts, read-only, and nothing else; the structs below are the
//! ABI-stable ones from the Arrow specification ("The Arrow C data interface").

use std::ffi::{c_char, c_int, c_void, CStr};
use std::ptr::NonNull;

use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyTuple};

use crate::error::BindError;

#[repr(C)]
pub struct ArrowSchema {
    format: *const c_char,
    name: *const c_char,
    metadata: *const c_char,
    flags: i64,
    n_children: i64,
    children: *mut *mut ArrowSchema,
    dictionary: *mut ArrowSchema,
    release: Option<unsafe extern "C" fn(*mut ArrowSchema)>,
    private_data: *mut c_void,
}

#[repr(C)]
pub struct ArrowArray {
    length: i64,
    null_count: i64,
    offset: i64,
    n_buffers: i64,
    n_children: i64,
    buffers: *mut *const c_void,
    children: *mut *mut ArrowArray,
    dictionary: *mut ArrowArray,
    release: Option<unsafe extern "C" fn(*mut ArrowArray)>,
    private_data: *mut c_void,
}

#[repr(C)]
struct ArrowArrayStream {
    get_schema: Option<unsafe extern "C" fn(*mut ArrowArrayStream, *mut ArrowSchema) -> c_int>,
    get_next: Option<unsafe extern "C" fn(*mut ArrowArrayStream, *mut ArrowArray) -> c_int>,
    get_last_error: Option<unsafe extern "C" fn(*mut ArrowArrayStream) -> *const c_char>,
    release: Option<unsafe extern "C" fn(*mut ArrowArrayStream)>,
    private_data: *mut c_void,
}

impl ArrowSchema {
    const fn empty() -> Self {
        Self {
            format: std::ptr::null(),
            name: std::ptr::null(),
            metadata: std::ptr::null(),
            flags: 0,
            n_children: 0,
            children: std::ptr::null_mut(),
            dictionary: std::ptr::null_mut(),
            release: None,
            private_data: std::ptr::null_mut(),
        }
    }
}

impl ArrowArray {
    const fn empty() -> Self {
        Self {
            length: 0,
            null_count: 0,
            offset: 0,
            n_buffers: 0,
            n_children: 0,
            buffers: std::ptr::null_mut(),
            children: std::ptr::null_mut(),
            dictionary: std::ptr::null_mut(),
            release: None,
            private_data: std::ptr::null_mut(),
        }
    }
}

/// A schema or array moved out of a stream: ours to release.
struct Owned<T: Releasable>(Box<T>);

trait Releasable {
    fn release(&mut self);
}

impl Releasable for ArrowSchema {
    fn release(&mut self) {
        if let Some(release) = self.release {
            // SAFETY: the producer's release callback, called once on the struct it filled.
            unsafe { release(self) };
        }
    }
}

impl Releasable for ArrowArray {
    fn release(&mut self) {
        if let Some(release) = self.release {
            // SAFETY: as above.
            unsafe { release(self) };
        }
    }
}

impl<T: Releasable> Drop for Owned<T> {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// The element type of the list values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntType {
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
}

impl IntType {
    fn from_format(format: &str) -> Option<Self> {
        Some(match format {
            "c" => Self::I8,
            "s" => Self::I16,
            "i" => Self::I32,
            "l" => Self::I64,
            "C" => Self::U8,
            "S" => Self::U16,
            "I" => Self::U32,
            "L" => Self::U64,
            _ => return None,
        })
    }

    fn width(self) -> usize {
        match self {
            Self::I8 | Self::U8 => 1,
            Self::I16 | Self::U16 => 2,
            Self::I32 | Self::U32 => 4,
            Self::I64 | Self::U64 => 8,
        }
    }
}

/// One borrowed list chunk: `length` lists; list `k` spans values
/// `[offset_at(k), offset_at(k + 1))` of `values` (already shifted by the child's offset).
pub struct ListChunk {
    pub length: usize,
    offsets: *const u8,
    large_offsets: bool,
    list_offset: usize,
    list_validity: Option<NonNull<u8>>,
    pub values: *const u8,
    pub value_type: IntType,
    value_offset: usize,
    value_validity: Option<NonNull<u8>>,
    value_null_count: i64,
}

impl ListChunk {
    /// Start and end (in values) of list `k`.
    pub fn bounds(&self, k: usize) -> (usize, usize) {
        let at = |j: usize| -> usize {
            let j = self.list_offset + j;
            // SAFETY: the producer guarantees `offset + length + 1` offsets; reads are unaligned-safe.
            unsafe {
                if self.large_offsets {
                    (self.offsets as *const i64).add(j).read_unaligned() as usize
                } else {
                    (self.offsets as *const i32).add(j).read_unaligned() as usize
                }
            }
        };
        (at(k), at(k + 1))
    }

    /// True when list `k` itself is null.
    pub fn is_null(&self, k: usize) -> bool {
        match self.list_validity {
            None => false,
            Some(bits) => !bit(bits, self.list_offset + k),
        }
    }

    /// Index (within the list's values) of the first null value in `[start, end)`, if any.
    pub fn first_null_value(&self, start: usize, end: usize) -> Option<usize> {
        if self.value_null_count == 0 {
            return None;
        }
        let bits = self.value_validity?;
        (start..end).find(|&i| !bit(bits, self.value_offset + i))
    }

    /// Pointer to value `i` of the child array.
    pub fn value_ptr(&self, i: usize) -> *const u8 {
        // SAFETY: in bounds by the producer's contract; callers pass indices from `bounds`.
        unsafe { self.values.add((self.value_offset + i) * self.value_type.width()) }
    }
}

fn bit(bits: NonNull<u8>, i: usize) -> bool {
    // SAFETY: validity bitmaps cover offset + length bits.
    unsafe { (*bits.as_ptr().add(i / 8) >> (i % 8)) & 1 == 1 }
}

/// Borrowed list arrays and whatever keeps their memory alive.
pub struct ListArrays<'py> {
    pub chunks: Vec<ListChunk>,
    _capsules: Vec<Bound<'py, PyAny>>,
    _owned_arrays: Vec<Owned<ArrowArray>>,
}

/// Imports `obj` if it speaks the Arrow PyCapsule protocol; `Ok(None)` if it does not.
pub fn import_lists<'py>(obj: &Bound<'py, PyAny>) -> Result<Option<ListArrays<'py>>, BindError> {
    if obj.hasattr("__arrow_c_array__")? {
        let pair = obj.call_method0("__arrow_c_array__")?;
        let pair = pair.cast::<PyTuple>().map_err(PyErr::from)?;
        let schema_capsule = pair.get_item(0)?;
        let array_capsule = pair.get_item(1)?;
        let schema = capsule_ptr::<ArrowSchema>(&schema_capsule, c"arrow_schema")?;
        let array = capsule_ptr::<ArrowArray>(&array_capsule, c"arrow_array")?;
        // SAFETY: the capsules own valid structs and stay alive in `_capsules`.
        let chunk = unsafe { list_chunk(&*schema, &*array)? };
        return Ok(Some(ListArrays {
            chunks: vec![chunk],
            _capsules: vec![schema_capsule, array_capsule],
            _owned_arrays: Vec::new(),
        }));
    }
    if obj.hasattr("__arrow_c_stream__")? {
        let capsule = obj.call_method0("__arrow_c_stream__")?;
        let stream = capsule_ptr::<ArrowArrayStream>(&capsule, c"arrow_array_stream")?;
        // SAFETY: the capsule owns a valid stream for as long as `capsule` lives (all of this
        // function); schema and arrays moved out of it are released by `Owned`.
        let (chunks, owned) = unsafe { drain_stream(stream)? };
        return Ok(Some(ListArrays { chunks, _capsules: vec![capsule], _owned_arrays: owned }));
    }
    Ok(None)
}

fn capsule_ptr<T>(capsule: &Bound<'_, PyAny>, name: &CStr) -> Result<*mut T, BindError> {
    let capsule = capsule.cast::<PyCapsule>().map_err(PyErr::from)?;
    Ok(capsule.pointer_checked(Some(name))?.as_ptr().cast())
}

unsafe fn drain_stream(stream: *mut ArrowArrayStream) -> Result<(Vec<ListChunk>, Vec<Owned<ArrowArray>>), BindError> {
    let stream = &mut *stream;
    let (Some(get_schema), Some(get_next)) = (stream.get_schema, stream.get_next) else {
        return Err(BindError::Arrow("the Arrow stream was already released".into()));
    };
    let mut schema = Owned(Box::new(ArrowSchema::empty()));
    if get_schema(stream, &mut *schema.0) != 0 {
        return Err(BindError::Arrow(last_error(stream)));
    }
    let mut chunks = Vec::new();
    let mut owned = Vec::new();
    loop {
        let mut array = Owned(Box::new(ArrowArray::empty()));
        if get_next(stream, &mut *array.0) != 0 {
            return Err(BindError::Arrow(last_error(stream)));
        }
        if array.0.release.is_none() {
            break; // end of stream
        }
        chunks.push(list_chunk(&schema.0, &array.0)?);
        owned.push(array);
    }
    Ok((chunks, owned))
}

unsafe fn last_error(stream: &mut ArrowArrayStream) -> String {
    match stream.get_last_error {
        Some(get) => {
            let message = get(stream);
            if message.is_null() {
                "the Arrow stream failed".into()
            } else {
                CStr::from_ptr(message).to_string_lossy().into_owned()
            }
        }
        None => "the Arrow stream failed".into(),
    }
}

unsafe fn format_of(schema: &ArrowSchema) -> String {
    if schema.format.is_null() {
        return String::new();
    }
    CStr::from_ptr(schema.format).to_string_lossy().into_owned()
}

unsafe fn list_chunk(schema: &ArrowSchema, array: &ArrowArray) -> Result<ListChunk, BindError> {
    let format = format_of(schema);
    let large_offsets = match format.as_str() {
        "+l" => false,
        "+L" => true,
        other => {
            return Err(BindError::NotSequences(format!(
                "expected an Arrow list<int> array, got Arrow format {other:?}"
            )))
        }
    };
    if schema.n_children != 1 || array.n_children != 1 || array.n_buffers != 2 {
        return Err(BindError::Arrow("malformed Arrow list array".into()));
    }
    let child_schema = &**schema.children;
    let child = &**array.children;
    let child_format = format_of(child_schema);
    let value_type = IntType::from_format(&child_format).ok_or_else(|| {
        BindError::NotIntegers(format!("list values must be integers, got Arrow format {child_format:?}"))
    })?;
    if child.n_buffers != 2 {
        return Err(BindError::Arrow("malformed Arrow integer array".into()));
    }
    let buffers = std::slice::from_raw_parts(array.buffers, 2);
    let child_buffers = std::slice::from_raw_parts(child.buffers, 2);
    let length = array.length as usize;
    let offsets = buffers[1] as *const u8;
    if offsets.is_null() && length > 0 {
        return Err(BindError::Arrow("Arrow list array without offsets".into()));
    }
    Ok(ListChunk {
        length,
        offsets,
        large_offsets,
        list_offset: array.offset as usize,
        list_validity: if array.null_count == 0 { None } else { NonNull::new(buffers[0] as *mut u8) },
        values: child_buffers[1] as *const u8,
        value_type,
        value_offset: child.offset as usize,
        value_validity: NonNull::new(child_buffers[0] as *mut u8),
        value_null_count: child.null_count,
    })
}
