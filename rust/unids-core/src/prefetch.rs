//! A cache prefetch hint, for the suffix-array passes whose random accesses are known a few
//! iterations ahead (`suffix_array`, `lpnf`). On long sequences those passes wait on memory;
//! asking for the line early lets the waits overlap.

/// How many iterations ahead the passes ask for their data: enough to cover a trip to memory,
/// few enough that the line is still in L1 when it is used.
pub(crate) const AHEAD: usize = 16;

/// Hints that `data[index]` will be read soon. Any index is allowed: out of range, it only
/// wastes the hint.
#[inline(always)]
pub(crate) fn prefetch<T>(data: &[T], index: usize) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 is an SSE instruction (part of every x86_64 CPU) and never faults,
    // whatever the address; `wrapping_add` computes the address without dereferencing it.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(data.as_ptr().wrapping_add(index).cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (data, index);
}
