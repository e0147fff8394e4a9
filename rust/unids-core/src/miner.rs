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
        let mut order: Vec<PatternRef> = self
            .levels
            .iter()
            .enumerate()
            .skip(1)
            .flat_map(|(l, level)| (0..level.len()).map(move |k| (l, k)))
            .collect();
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
        // An extension occurs fewer than u32::MAX times (positions are u32), so clamping changes
        // nothing; `advance` compares in u64 anyway.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{self, slices, XorShift};
    use std::collections::BTreeMap;

    type Row = (Vec<u32>, u64, f64);

    fn rows(table: &PatternTable) -> Vec<Row> {
        (0..table.support.len())
            .map(|k| (table.items[table.offsets[k]..table.offsets[k + 1]].to_vec(), table.support[k], table.entropy[k]))
            .collect()
    }

    fn params(theta: Option<f64>, min_support: u64, max_len: usize, increment: Increment) -> MinerParams {
        MinerParams { theta, theta_scale: 1.0, min_support, max_len, increment }
    }

    fn mine(seqs: &[&[u32]], params: &MinerParams) -> Vec<Row> {
        rows(&mine_patterns(seqs, params).unwrap().patterns)
    }

    fn row(pattern: &[u32], support: u64, entropy: f64) -> Row {
        (pattern.to_vec(), support, entropy)
    }

    const HAND: &[&[u32]] = &[&[1, 2, 3], &[1, 2, 3], &[4, 5]];

    #[test]
    fn hand_worked_example() {
        // f = {1,2,3: 2; 4,5: 1}, F = 8: H1 = 3·(1/4·2) + 2·(1/8·3) = 2.25. Seeds 1, 2, 3 (2 bits).
        // Every occurrence of [1] is followed by 2, of [2] by 3, of [1,2] by 3: increments are 0.
        let mined = mine_patterns(HAND, &MinerParams::default()).unwrap();
        assert_eq!((mined.theta, mined.h1), (2.25, 2.25));
        let expected = vec![row(&[1, 2], 2, 2.0), row(&[1, 2, 3], 2, 2.0), row(&[2, 3], 2, 2.0)];
        assert_eq!(rows(&mined.patterns), expected);
        assert_eq!(mined.patterns.offsets, vec![0, 2, 5, 7]);
        // Support ≥ c: 2 passes at c = 2, nothing at c = 3.
        assert!(mine(HAND, &params(None, 3, 5, Increment::Surprisal)).is_empty());
        // H < θ strictly: seeds cost exactly 2.0.
        assert!(mine(HAND, &params(Some(2.0), 2, 5, Increment::Surprisal)).is_empty());
        assert_eq!(mine(HAND, &params(Some(2.0000001), 2, 5, Increment::Surprisal)), expected);
        // L_max bounds the length.
        let short = mine(HAND, &params(None, 2, 2, Increment::Surprisal));
        assert_eq!(short, vec![row(&[1, 2], 2, 2.0), row(&[2, 3], 2, 2.0)]);
        let scaled = mine_patterns(HAND, &MinerParams { theta_scale: 2.0, ..Default::default() }).unwrap();
        assert_eq!(scaled.theta, 4.5);
        // plogp: seeds cost −p·log2 p = 0.5, increments −1·log2 1 = 0; H1 is unchanged.
        let plogp = mine_patterns(HAND, &params(None, 2, 5, Increment::PLogP)).unwrap();
        assert_eq!(plogp.h1, 2.25);
        assert_eq!(rows(&plogp.patterns), vec![row(&[1, 2], 2, 0.5), row(&[1, 2, 3], 2, 0.5), row(&[2, 3], 2, 0.5)]);
    }

    #[test]
    fn dilution_and_tie_breaking() {
        // f = {1: 2, 2: 1, 3: 1}, F = 4, H1 = 1.5. [1] is followed by 2 once and by 3 once: n_P = 2.
        let seqs: &[&[u32]] = &[&[1, 2, 1, 3]];
        assert!(mine(seqs, &params(None, 2, 5, Increment::Surprisal)).is_empty());
        assert!(mine(seqs, &params(None, 1, 5, Increment::Surprisal)).is_empty()); // 1 + 1 ≥ 1.5
                                                                                   // Ties on entropy 2.0 are broken by the pattern, compared as integer lists.
        assert_eq!(
            mine(seqs, &params(Some(3.0), 1, 5, Increment::Surprisal)),
            vec![
                row(&[1, 2], 1, 2.0),
                row(&[1, 2, 1], 1, 2.0),
                row(&[1, 2, 1, 3], 1, 2.0),
                row(&[1, 3], 1, 2.0),
                row(&[2, 1], 1, 2.0),
                row(&[2, 1, 3], 1, 2.0),
            ]
        );
    }

    #[test]
    fn overlapping_occurrences_count() {
        // [a,a,a]: [a,a] occurs twice; [a,a,a] once.
        let seqs: &[&[u32]] = &[&[1, 1, 1], &[2, 3]];
        let cost_a = -(3.0f64 / 5.0).log2();
        assert_eq!(mine(seqs, &params(None, 2, 5, Increment::Surprisal)), vec![row(&[1, 1], 2, cost_a)]);
        // At c = 1, [a,a,a] follows: [a,a] at 0 is followed by a, at 1 by nothing, so n_P = 1.
        assert_eq!(
            mine(seqs, &params(None, 1, 5, Increment::Surprisal)),
            vec![row(&[1, 1], 2, cost_a), row(&[1, 1, 1], 1, cost_a)]
        );
    }

    #[test]
    fn empty_inputs() {
        for seqs in [vec![], vec![vec![]], vec![vec![], vec![7]]] {
            for theta in [None, Some(1.5)] {
                let mined = mine_patterns(&slices(&seqs), &params(theta, 2, 5, Increment::Surprisal)).unwrap();
                assert_eq!(mined.patterns, PatternTable { offsets: vec![0], ..Default::default() });
                assert_eq!((mined.h1, mined.theta), (0.0, theta.unwrap_or(0.0)));
            }
        }
        let mut miner = LevelMiner::new(&[], &MinerParams::default()).unwrap();
        assert!(miner.is_done());
        assert_eq!(miner.candidates(), &Candidates::default());
        assert!(miner.count_increments().is_empty());
        assert!(matches!(miner.advance(&[]), Err(Error::MinerState(_))));
    }

    #[test]
    fn invalid_parameters() {
        let cases = [
            ("min_support", MinerParams { min_support: 0, ..Default::default() }),
            ("max_len", MinerParams { max_len: 1, ..Default::default() }),
            ("max_len", MinerParams { max_len: 0, ..Default::default() }),
            ("theta_scale", MinerParams { theta_scale: 0.0, ..Default::default() }),
            ("theta_scale", MinerParams { theta_scale: -1.0, ..Default::default() }),
            ("theta_scale", MinerParams { theta_scale: f64::NAN, ..Default::default() }),
            ("theta_scale", MinerParams { theta_scale: f64::INFINITY, ..Default::default() }),
            ("theta", MinerParams { theta: Some(f64::NAN), ..Default::default() }),
            ("theta", MinerParams { theta: Some(f64::INFINITY), ..Default::default() }),
        ];
        for (name, p) in cases {
            assert!(matches!(mine_patterns(HAND, &p), Err(Error::InvalidParameter { name: n, .. }) if n == name));
            assert!(matches!(LevelMiner::new(HAND, &p), Err(Error::InvalidParameter { name: n, .. }) if n == name));
        }
        // A negative finite θ is allowed: it keeps nothing.
        assert!(mine(HAND, &params(Some(-1.0), 2, 5, Increment::Surprisal)).is_empty());
    }

    #[test]
    fn level_miner_by_hand() {
        let mut miner = LevelMiner::new(HAND, &MinerParams::default()).unwrap();
        assert_eq!((miner.theta(), miner.h1(), miner.level(), miner.is_done()), (2.25, 2.25, 1, false));
        let seeds = miner.current_patterns();
        assert_eq!(rows(&seeds), vec![row(&[1], 2, 2.0), row(&[2], 2, 2.0), row(&[3], 2, 2.0)]);
        // [3] is never followed, so it has no candidate.
        let expected = Candidates {
            prefix_index: vec![0, 1],
            successor: vec![2, 3],
            count: vec![2, 2],
            prefix_count: vec![2, 2],
            prefix_entropy: vec![2.0, 2.0],
        };
        assert_eq!(miner.candidates(), &expected);
        assert_eq!(miner.count_increments(), vec![0.0, 0.0]);
        // Wrong lengths are refused and leave the miner usable.
        for wrong in [vec![], vec![0.0], vec![0.0; 3]] {
            assert!(
                matches!(miner.advance(&wrong), Err(Error::ScoreLength { expected: 2, got }) if got == wrong.len())
            );
        }
        // A NaN increment rejects its row.
        miner.advance(&[f64::NAN, 0.0]).unwrap();
        assert_eq!(miner.level(), 2);
        assert_eq!(rows(&miner.current_patterns()), vec![row(&[2, 3], 2, 2.0)]);
        assert!(!miner.is_done());
        // [2,3] is never followed: an empty level, then done.
        assert!(miner.candidates().successor.is_empty());
        miner.advance(&[]).unwrap();
        assert_eq!((miner.level(), miner.is_done()), (3, true));
        assert!(matches!(miner.advance(&[]), Err(Error::MinerState(_))));
        assert_eq!(rows(&miner.finish().patterns), vec![row(&[2, 3], 2, 2.0)]);
    }

    #[test]
    fn advance_without_asking_for_candidates() {
        let mut asked = LevelMiner::new(HAND, &MinerParams::default()).unwrap();
        let mut blind = LevelMiner::new(HAND, &MinerParams::default()).unwrap();
        while !asked.is_done() {
            let n = asked.candidates().successor.len();
            asked.advance(&vec![0.0; n]).unwrap();
            blind.advance(&vec![0.0; n]).unwrap();
        }
        assert!(blind.is_done());
        assert_eq!(asked.finish(), blind.finish());
    }

    #[test]
    fn external_increments_change_the_result() {
        // h = 0 everywhere keeps every extension frequent enough; −0.0 and 0.0 sort as equal.
        let seqs: &[&[u32]] = &[&[1, 2, 3, 4], &[1, 2, 3, 5], &[4, 5]];
        let mut miner = LevelMiner::new(seqs, &params(Some(10.0), 2, 5, Increment::Surprisal)).unwrap();
        while !miner.is_done() {
            let n = miner.candidates().count.len();
            let zeros: Vec<f64> = (0..n).map(|i| if i % 2 == 0 { 0.0 } else { -0.0 }).collect();
            miner.advance(&zeros).unwrap();
        }
        let patterns: Vec<Vec<u32>> = rows(&miner.finish().patterns).into_iter().map(|r| r.0).collect();
        assert_eq!(patterns, vec![vec![1, 2], vec![1, 2, 3], vec![2, 3]]);
    }

    /// Algorithm 1 by brute force, a line-by-line port of the Python reference.
    fn reference(seqs: &[Vec<u32>], p: &MinerParams) -> (Vec<Row>, f64, f64) {
        let mut f: BTreeMap<u32, u64> = BTreeMap::new();
        for &x in seqs.iter().flatten() {
            *f.entry(x).or_default() += 1;
        }
        let total: u64 = f.values().sum();
        let mut h1 = 0.0;
        for &c in f.values() {
            let q = c as f64 / total as f64;
            h1 += -q * q.log2();
        }
        let theta = p.theta.unwrap_or(p.theta_scale * h1);
        let mut level: Vec<(Vec<u32>, f64)> = Vec::new();
        for (&item, &c) in &f {
            let cost = p.increment.cost(c, total);
            if cost < theta && c >= p.min_support {
                level.push((vec![item], cost));
            }
        }
        let mut kept = Vec::new();
        let mut len = 1;
        while !level.is_empty() && len < p.max_len {
            let mut next = Vec::new();
            for (prefix, prefix_cost) in &level {
                let mut n_prefix = 0;
                let mut successors: BTreeMap<u32, u64> = BTreeMap::new();
                for seq in seqs {
                    for j in 0..seq.len().saturating_sub(len) {
                        if &seq[j..j + len] == prefix.as_slice() {
                            n_prefix += 1;
                            *successors.entry(seq[j + len]).or_default() += 1;
                        }
                    }
                }
                for (&s, &c) in &successors {
                    let cost = prefix_cost + p.increment.cost(c, n_prefix);
                    if cost < theta && c >= p.min_support {
                        let mut pattern = prefix.clone();
                        pattern.push(s);
                        next.push((pattern, cost));
                    }
                }
            }
            kept.extend(next.iter().cloned());
            level = next;
            len += 1;
        }
        let occurrences = |pattern: &[u32]| {
            seqs.iter().map(|s| s.windows(pattern.len()).filter(|w| *w == pattern).count() as u64).sum()
        };
        let mut out: Vec<Row> =
            kept.into_iter().map(|(pattern, cost)| (pattern.clone(), occurrences(&pattern), cost)).collect();
        out.sort_by(|a, b| a.2.partial_cmp(&b.2).unwrap().then_with(|| a.0.cmp(&b.0)));
        (out, theta, h1)
    }

    fn random_params(rng: &mut XorShift) -> MinerParams {
        MinerParams {
            theta: if rng.below(4) == 0 { Some([0.5, 1.0, 2.0, 4.0][rng.below(4)]) } else { None },
            theta_scale: [1.0, 1.5, 2.0, 3.0][rng.below(4)],
            min_support: 1 + rng.below(3) as u64,
            max_len: 2 + rng.below(4),
            increment: if rng.below(2) == 0 { Increment::Surprisal } else { Increment::PLogP },
        }
    }

    #[test]
    fn matches_the_brute_force_reference_bit_for_bit() {
        let mut rng = XorShift::new(7);
        for case in 0..600 {
            let seqs = rng.sequences(1 + case % 4, 6, 30);
            let seqs = if case % 3 == 0 { testing::high_ids(&seqs) } else { seqs };
            let p = random_params(&mut rng);
            let (expected, theta, h1) = reference(&seqs, &p);
            let mined = mine_patterns(&slices(&seqs), &p).unwrap();
            assert_eq!((mined.theta.to_bits(), mined.h1.to_bits()), (theta.to_bits(), h1.to_bits()));
            let got = rows(&mined.patterns);
            assert_eq!(got.len(), expected.len(), "case {case}: {seqs:?} {p:?}");
            for (g, e) in got.iter().zip(&expected) {
                assert!(g.0 == e.0 && g.1 == e.1 && g.2.to_bits() == e.2.to_bits(), "case {case}: {g:?} vs {e:?}");
            }
        }
    }

    #[test]
    fn level_miner_with_count_increments_equals_mine_patterns() {
        let mut rng = XorShift::new(8);
        for case in 0..300 {
            let seqs = rng.sequences(1 + case % 4, 6, 30);
            let p = random_params(&mut rng);
            let mut miner = LevelMiner::new(&slices(&seqs), &p).unwrap();
            while !miner.is_done() {
                let level = miner.level();
                let patterns = miner.current_patterns();
                let candidates = miner.candidates().clone();
                // Every row's prefix is a current pattern; rows are sorted by (prefix, successor).
                assert!(candidates.prefix_index.iter().all(|&k| (k as usize) < patterns.support.len()));
                let keys: Vec<(u32, u32)> =
                    candidates.prefix_index.iter().copied().zip(candidates.successor.iter().copied()).collect();
                assert!(keys.windows(2).all(|w| w[0] < w[1]));
                let increments = miner.count_increments();
                assert_eq!(increments.len(), candidates.count.len());
                miner.advance(&increments).unwrap();
                assert_eq!(miner.level(), level + 1);
            }
            assert_eq!(miner.finish(), mine_patterns(&slices(&seqs), &p).unwrap(), "case {case}");
        }
    }

    /// Timing only: `UNIDS_USERS=300000 cargo test --release -p unids-core timing -- --ignored --nocapture`
    /// (6,040 users by default: an ML-1M-sized input).
    #[test]
    #[ignore]
    fn timing_ml1m_like() {
        let env = |name: &str, default: usize| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
        let (users, items) = (env("UNIDS_USERS", 6040), env("UNIDS_ITEMS", 3706));
        let mut rng = XorShift::new(9);
        // ~165 interactions per user with skewed item popularity; 40% of the time the next item
        // follows a fixed "chain" from the previous one, so that patterns exist.
        let popular = |rng: &mut XorShift| (rng.below(items) * rng.below(items) / items) as u32;
        let seqs: Vec<Vec<u32>> = (0..users)
            .map(|_| {
                let mut seq = vec![popular(&mut rng)];
                for _ in 0..20 + rng.below(292) {
                    let prev = *seq.last().unwrap() as usize;
                    seq.push(if rng.below(10) < 4 { ((prev * 7 + 3) % items) as u32 } else { popular(&mut rng) });
                }
                seq
            })
            .collect();
        // UNIDS_SPREAD=1 scatters the ids over the int32 range (the hashed id lookup).
        let seqs = if env("UNIDS_SPREAD", 0) == 1 {
            seqs.iter().map(|s| s.iter().map(|&x| (x as u64 * 2_654_435_761 % (1 << 31)) as u32).collect()).collect()
        } else {
            seqs
        };
        let slices = slices(&seqs);
        let total: usize = seqs.iter().map(Vec::len).sum();
        println!("{users} users, {total} interactions, {} threads", rayon::current_num_threads());
        let started = std::time::Instant::now();
        let mined = mine_patterns(&slices, &MinerParams::default()).unwrap();
        println!("mine_patterns: {} patterns: {:?}", mined.patterns.support.len(), started.elapsed());
        let started = std::time::Instant::now();
        let loose = MinerParams { theta_scale: 1.5, ..Default::default() };
        let many = mine_patterns(&slices, &loose).unwrap();
        println!("mine_patterns (θ = 1.5·H1): {} patterns: {:?}", many.patterns.support.len(), started.elapsed());
        let started = std::time::Instant::now();
        let mut miner = LevelMiner::new(&slices, &MinerParams::default()).unwrap();
        let mut rows = 0;
        while !miner.is_done() {
            rows += miner.candidates().count.len();
            let increments = miner.count_increments();
            miner.advance(&increments).unwrap();
        }
        println!("LevelMiner with every candidate row ({rows} rows): {:?}", started.elapsed());
        let started = std::time::Instant::now();
        let windows = crate::window::window_patterns(&slices, 5, 2).unwrap();
        println!("window_patterns: {} patterns: {:?}", windows.support.len(), started.elapsed());
        let started = std::time::Instant::now();
        crate::segment::segment(&slices, &mined.patterns, crate::segment::SegmentMethod::Dp).unwrap();
        println!("segment (dp): {:?}", started.elapsed());
        let started = std::time::Instant::now();
        crate::lz::real_entropy_many(&slices, crate::lz::Estimator::Exact, 2.0);
        println!("real_entropy (exact): {:?}", started.elapsed());
    }
}
