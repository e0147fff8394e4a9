//! Π_max by inverting Fano's inequality (docs/ALGORITHMS.md §2).

/// Π solving `S = H_b(Π) + (1 − Π)·log2(N − 1)` on `[1/N, 1]`; `S` in bits.
pub fn max_predictability(entropy_bits: f64, n_symbols: f64) -> f64 {
    todo!()
}

/// Element-wise `max_predictability`, in parallel. Both slices have the same length.
pub fn max_predictability_many(entropy_bits: &[f64], n_symbols: &[f64]) -> Vec<f64> {
    todo!()
}
