//! Lempel–Ziv real-entropy estimators (docs/ALGORITHMS.md §1).

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Estimator {
    /// Kontoyiannis/Song: Λ_i against the past `s[0..i)` only, via a suffix automaton. O(n).
    Exact,
    /// The hash-set variant of the authors' earlier public code. Kept for comparability.
    Approx,
}

/// Λ_i of the exact estimator for every position.
pub fn lambdas_exact(seq: &[u32]) -> Vec<u32> {
    todo!()
}

/// Λ_i of the approximate (hash-set) estimator for every position.
pub fn lambdas_approx(seq: &[u32]) -> Vec<u32> {
    todo!()
}

/// `n · log_base(n) / Σ Λ_i`; NaN for an empty sequence, 0 for length 1.
pub fn real_entropy(seq: &[u32], estimator: Estimator, base: f64) -> f64 {
    todo!()
}

/// `real_entropy` of every sequence, in parallel on the current rayon pool.
pub fn real_entropy_many(seqs: &[&[u32]], estimator: Estimator, base: f64) -> Vec<f64> {
    todo!()
}
