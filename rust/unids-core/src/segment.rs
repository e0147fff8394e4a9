//! Min-entropy segmentation of sequences into mined patterns (docs/ALGORITHMS.md §5).

use crate::{PatternTable, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentMethod {
    Dp,
    Greedy,
}

/// Segment lengths per sequence in compressed-row form: sequence `u` has segment lengths
/// `lengths[offsets[u]..offsets[u + 1]]`, summing to its length.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Segmentation {
    pub offsets: Vec<usize>, // (U + 1,)
    pub lengths: Vec<u32>,
}

/// Segments every sequence; `patterns.entropy` gives pattern costs, the unigram counts of `seqs`
/// give single-item costs. Parallel across sequences.
pub fn segment(seqs: &[&[u32]], patterns: &PatternTable, method: SegmentMethod) -> Result<Segmentation> {
    todo!()
}
