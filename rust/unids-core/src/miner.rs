//! The conditional-entropy pattern miner, Algorithm 1 (docs/ALGORITHMS.md §3).

use crate::{PatternTable, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Increment {
    /// `h(s|P) = −log2 p(s|P)` (the default; SPEC §3).
    Surprisal,
    /// `h(s|P) = −p·log2 p`, Eq. 5 read literally.
    PLogP,
}

#[derive(Clone, Debug, PartialEq)]
pub struct MinerParams {
    pub theta: Option<f64>, // bits; None → theta_scale × H1
    pub theta_scale: f64,
    pub min_support: u64, // c ≥ 1
    pub max_len: usize,   // L_max ≥ 2
    pub increment: Increment,
}

impl Default for MinerParams {
    fn default() -> Self {
        Self { theta: None, theta_scale: 1.0, min_support: 2, max_len: 5, increment: Increment::Surprisal }
    }
}

/// The miner's answer: patterns of length ≥ 2 sorted by (entropy, pattern), and the θ and H1 used.
#[derive(Clone, Debug, PartialEq)]
pub struct Mined {
    pub patterns: PatternTable,
    pub theta: f64,
    pub h1: f64,
}

/// The candidate extensions `P·s` of the current level, one row each.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Candidates {
    pub prefix_index: Vec<u32>,   // (C,) row of `LevelMiner::current_patterns()` that is P
    pub successor: Vec<u32>,      // (C,) s, as an original item id
    pub count: Vec<u64>,          // (C,) count(P·s) = Occu(P·s)
    pub prefix_count: Vec<u64>,   // (C,) n_P: occurrences of P followed by an item
    pub prefix_entropy: Vec<f64>, // (C,) H(P)
}

/// Algorithm 1 one level at a time, so that an external model can score each level's
/// candidates in one batch. Owns a compact copy of the input.
pub struct LevelMiner {
    // private state: chosen by the implementation
}

impl LevelMiner {
    /// Counts items, fixes θ and H1, and keeps the seeds (level 1).
    pub fn new(seqs: &[&[u32]], params: &MinerParams) -> Result<Self> {
        todo!()
    }
    pub fn theta(&self) -> f64 {
        todo!()
    }
    pub fn h1(&self) -> f64 {
        todo!()
    }
    /// Length of the patterns of the current level (1 for the seeds).
    pub fn level(&self) -> usize {
        todo!()
    }
    /// True when no further level can be built (no pattern kept, or `level == max_len`).
    pub fn is_done(&self) -> bool {
        todo!()
    }
    /// The patterns kept at the current level, with support and entropy.
    pub fn current_patterns(&self) -> PatternTable {
        todo!()
    }
    /// The extensions of the current level (empty when done). Computed once per level and cached.
    pub fn candidates(&mut self) -> &Candidates {
        todo!()
    }
    /// `h(s|P)` of every cached candidate under the count model (what `mine_patterns` uses).
    pub fn count_increments(&mut self) -> Vec<f64> {
        todo!()
    }
    /// Filters the candidates with the given increments (one per candidate row) and moves to the
    /// next level.
    pub fn advance(&mut self, increments: &[f64]) -> Result<()> {
        todo!()
    }
    /// Every kept pattern of length ≥ 2, sorted by (entropy, pattern).
    pub fn finish(self) -> Mined {
        todo!()
    }
}

/// Algorithm 1 with the count model, start to end.
pub fn mine_patterns(seqs: &[&[u32]], params: &MinerParams) -> Result<Mined> {
    todo!()
}
