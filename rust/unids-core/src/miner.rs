//! The conditional-entropy pattern miner, Algorithm 1 (docs/ALGORITHMS.md §3).

use std::cmp::Ordering;

use rayon::prelude::*;

use crate::corpus::Corpus;
use crate::level::{self, Level, PatternRef};
use crate::occurrences::{self, ExtendOptions, Extensions, Occurrences};
use crate::{Error, PatternTable, Result};

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
    corpus: Corpus,
    min_support: u64,
    max_len: usize,
    increment: Increment,
    theta: f64,
    h1: f64,
    rows: CandidateRows,
    /// Kept patterns per level (`levels[0]` = the seeds) and their entropies `H`.
    levels: Vec<Level>,
    entropy: Vec<Vec<f64>>,
    /// Occurrences of the current level's patterns (empty once done).
    occurrences: Occurrences,
    /// The current level's extensions, computed on first use.
    extensions: Option<Extensions>,
    /// The public view of `extensions`, built only when asked for.
    candidates: Option<Candidates>,
}

/// Which extensions become candidate rows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum CandidateRows {
    /// Every observed successor: what an external scorer is shown (docs/ALGORITHMS.md §3).
    All,
    /// Only rows with `count ≥ min_support`, the only ones that can be kept. `mine_patterns`
    /// uses this to save memory and time; the kept patterns are the same.
    Frequent,
}

impl LevelMiner {
    /// Counts items, fixes θ and H1, and keeps the seeds (level 1).
    pub fn new(seqs: &[&[u32]], params: &MinerParams) -> Result<Self> {
        Self::with_rows(seqs, params, CandidateRows::All)
    }

    fn with_rows(seqs: &[&[u32]], params: &MinerParams, rows: CandidateRows) -> Result<Self> {
        validate(params)?;
        let corpus = Corpus::new(seqs)?;
        let total = corpus.len() as u64;
        let counts = corpus.counts();
        // Ascending dense id = ascending item id; a plain running sum, as the reference does.
        let mut h1 = 0.0;
        for &f in counts {
            let p = f as f64 / total as f64;
            h1 += -p * p.log2();
        }
        let theta = params.theta.unwrap_or(params.theta_scale * h1);

        let mut keep = vec![false; counts.len()];
        let (mut seeds, mut support, mut entropy) = (Vec::new(), Vec::new(), Vec::new());
        for (item, &f) in counts.iter().enumerate() {
            let cost = params.increment.cost(f as u64, total);
            if cost < theta && f as u64 >= params.min_support {
                keep[item] = true;
                seeds.push(item as u32);
                support.push(f);
                entropy.push(cost);
            }
        }
        let occurrences = Occurrences::of_items(&corpus, &keep);
        Ok(Self {
            corpus,
            min_support: params.min_support,
            max_len: params.max_len,
            increment: params.increment,
            theta,
            h1,
            rows,
            levels: vec![Level::of_items(seeds, support)],
            entropy: vec![entropy],
            occurrences,
            extensions: None,
            candidates: None,
        })
    }

    pub fn theta(&self) -> f64 {
        self.theta
    }
    pub fn h1(&self) -> f64 {
        self.h1
    }
    /// Length of the patterns of the current level (1 for the seeds).
    pub fn level(&self) -> usize {
        self.current().pattern_len()
    }
    /// True when no further level can be built (no pattern kept, or `level == max_len`).
    pub fn is_done(&self) -> bool {
        self.current().len() == 0 || self.level() >= self.max_len
    }
    /// The patterns kept at the current level, with support and entropy.
    pub fn current_patterns(&self) -> PatternTable {
        let last = self.levels.len() - 1;
        let order: Vec<PatternRef> = (0..self.current().len()).map(|k| (last, k)).collect();
        level::pattern_table(&self.levels, &order, self.corpus.originals(), |(l, k)| self.entropy[l][k])
    }
    /// The extensions of the current level (empty when done). Computed once per level and cached.
    pub fn candidates(&mut self) -> &Candidates {
        if self.candidates.is_none() {
            let candidates = self.build_candidates();
            self.candidates = Some(candidates);
        }
        self.candidates.get_or_insert_with(Candidates::default)
    }
    /// `h(s|P)` of every cached candidate under the count model (what `mine_patterns` uses).
    pub fn count_increments(&mut self) -> Vec<f64> {
        let increment = self.increment;
        let ext = self.extensions();
        (0..ext.rows())
            .map(|row| increment.cost(ext.count[row] as u64, ext.followed[ext.parent[row] as usize] as u64))
            .collect()
    }
    /// Filters the candidates with the given increments (one per candidate row) and moves to the
    /// next level.
    pub fn advance(&mut self, increments: &[f64]) -> Result<()> {
        if self.is_done() {
            return Err(Error::MinerState("advance() called after the last level"));
        }
        let (theta, min_support) = (self.theta, self.min_support);
        let mut ext = self.extensions.take().unwrap_or_else(|| self.extend());
        if increments.len() != ext.rows() {
            let expected = ext.rows();
            self.extensions = Some(ext); // the miner stays usable after a refused call
            return Err(Error::ScoreLength { expected, got: increments.len() });
        }
        let parent_entropy = &self.entropy[self.levels.len() - 1];
        let mut keep = vec![false; ext.rows()];
        let mut entropy = Vec::new();
        for (row, &h) in increments.iter().enumerate() {
            // H(P·s) = H(P) + h(s|P); a NaN increment gives NaN, which is never < θ.
            let cost = parent_entropy[ext.parent[row] as usize] + h;
            if cost < theta && ext.count[row] as u64 >= min_support {
                keep[row] = true;
                entropy.push(cost);
            }
        }
        let next = self.current().extended(&ext, &keep);
        let more_levels = next.len() > 0 && next.pattern_len() < self.max_len;
        self.occurrences = if more_levels { ext.take_occurrences(&keep) } else { Occurrences::default() };
        self.levels.push(next);
        self.entropy.push(entropy);
        self.candidates = None;
        Ok(())
    }
    /// Every kept pattern of length ≥ 2, sorted by (entropy, pattern).
    pub fn finish(self) -> Mined {
        let mut order: Vec<PatternRef> =
            self.levels.iter().enumerate().skip(1).flat_map(|(l, level)| (0..level.len()).map(move |k| (l, k))).collect();
        let entropy = |(l, k): PatternRef| self.entropy[l][k];
        // Kept entropies are never NaN (they passed `H < θ`); -0.0 and 0.0 tie, as in Python.
        order.par_sort_unstable_by(|&a, &b| {
            entropy(a)
                .partial_cmp(&entropy(b))
                .unwrap_or(Ordering::Equal)
                .then_with(|| self.levels[a.0].pattern(a.1).cmp(self.levels[b.0].pattern(b.1)))
        });
        let patterns = level::pattern_table(&self.levels, &order, self.corpus.originals(), entropy);
        Mined { patterns, theta: self.theta, h1: self.h1 }
    }

    fn current(&self) -> &Level {
        self.levels.last().expect("there is always a seed level")
    }

    /// The current level's extensions, computed now if needed.
    fn extensions(&mut self) -> &Extensions {
        if self.extensions.is_none() {
            self.extensions = Some(self.extend());
        }
        self.extensions.get_or_insert_with(Extensions::default)
    }

    fn extend(&self) -> Extensions {
        if self.is_done() {
            return Extensions::default();
        }
        // Counts never exceed u32::MAX, so a larger min_support keeps nothing either way.
        let min_support = self.min_support.min(u32::MAX as u64) as u32;
        let min_row_count = match self.rows {
            CandidateRows::All => 1,
            CandidateRows::Frequent => min_support,
        };
        let options = ExtendOptions { min_row_count, min_cached_count: min_support };
        occurrences::extend(&self.corpus, self.level(), &self.occurrences, options)
    }

    fn build_candidates(&mut self) -> Candidates {
        let level = self.levels.len() - 1;
        let ext = self.extensions.take().unwrap_or_else(|| self.extend());
        let originals = self.corpus.originals();
        let entropy = &self.entropy[level];
        let candidates = Candidates {
            prefix_index: ext.parent.clone(),
            successor: ext.successor.iter().map(|&s| originals[s as usize]).collect(),
            count: ext.count.iter().map(|&c| c as u64).collect(),
            prefix_count: ext.parent.iter().map(|&p| ext.followed[p as usize] as u64).collect(),
            prefix_entropy: ext.parent.iter().map(|&p| entropy[p as usize]).collect(),
        };
        self.extensions = Some(ext);
        candidates
    }
}

impl Increment {
    /// `−log2 p` or `−p·log2 p` for `p = part / whole`, exactly as docs/ALGORITHMS.md writes it
    /// (the same operations in the same order, so the bits match the reference).
    fn cost(self, part: u64, whole: u64) -> f64 {
        let p = part as f64 / whole as f64;
        match self {
            Increment::Surprisal => -p.log2(),
            Increment::PLogP => -p * p.log2(),
        }
    }
}

fn validate(params: &MinerParams) -> Result<()> {
    let invalid = |name, reason| Err(Error::InvalidParameter { name, reason });
    if params.min_support < 1 {
        return invalid("min_support", format!("must be ≥ 1, got {}", params.min_support));
    }
    if params.max_len < 2 {
        return invalid("max_len", format!("must be ≥ 2, got {}", params.max_len));
    }
    if !(params.theta_scale.is_finite() && params.theta_scale > 0.0) {
        return invalid("theta_scale", format!("must be finite and > 0, got {}", params.theta_scale));
    }
    if let Some(theta) = params.theta.filter(|t| !t.is_finite()) {
        return invalid("theta", format!("must be finite, got {theta}"));
    }
    Ok(())
}

/// Algorithm 1 with the count model, start to end.
pub fn mine_patterns(seqs: &[&[u32]], params: &MinerParams) -> Result<Mined> {
    let mut miner = LevelMiner::with_rows(seqs, params, CandidateRows::Frequent)?;
    while !miner.is_done() {
        let increments = miner.count_increments();
        miner.advance(&increments)?;
    }
    Ok(miner.finish())
}
