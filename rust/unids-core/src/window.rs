//! DR4SR's sliding-window pattern miner (docs/ALGORITHMS.md §4).

use crate::{PatternTable, Result};

/// Contiguous windows of length 2..=alpha with support ≥ beta; entropy NaN; sorted by pattern.
pub fn window_patterns(seqs: &[&[u32]], alpha: usize, beta: u64) -> Result<PatternTable> {
    todo!()
}
