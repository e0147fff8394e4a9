//! DR4SR's sliding-window pattern miner (docs/ALGORITHMS.md §4).

use crate::corpus::Corpus;
use crate::level::{self, Level};
use crate::occurrences::{self, ExtendOptions, Occurrences};
use crate::{Error, PatternTable, Result};

/// Contiguous windows of length 2..=alpha with support ≥ beta; entropy NaN; sorted by pattern.
pub fn window_patterns(seqs: &[&[u32]], alpha: usize, beta: u64) -> Result<PatternTable> {
    if alpha < 2 {
        return Err(Error::InvalidParameter { name: "alpha", reason: format!("must be ≥ 2, got {alpha}") });
    }
    if beta < 1 {
        return Err(Error::InvalidParameter { name: "beta", reason: format!("must be ≥ 1, got {beta}") });
    }
    let corpus = Corpus::new(seqs)?;

    // Level 1: a window can only reach the support if its first item does.
    let keep: Vec<bool> = corpus.counts().iter().map(|&f| f as u64 >= beta).collect();
    let seeds = (0..keep.len() as u32).filter(|&i| keep[i as usize]).collect();
    let support = corpus.counts().iter().copied().filter(|&f| f as u64 >= beta).collect();
    let mut levels = vec![Level::of_items(seeds, support)];
    let mut occurrences = Occurrences::of_items(&corpus, &keep);

    // Level L + 1 from level L: a window's support is at most its prefix's. A window of length
    // ≥ 2 occurs fewer than u32::MAX times, so clamping beta to u32 changes nothing.
    let beta = beta.min(u32::MAX as u64) as u32;
    let options = ExtendOptions { min_row_count: beta, min_cached_count: beta };
    while let Some(current) = levels.last().filter(|l| l.len() > 0 && l.pattern_len() < alpha) {
        let mut ext = occurrences::extend(&corpus, current.pattern_len(), &occurrences, options);
        let all = vec![true; ext.rows()];
        let next = current.extended(&ext, &all);
        occurrences = if next.pattern_len() < alpha { ext.take_occurrences(&all) } else { Occurrences::default() };
        levels.push(next);
    }

    let order = level::lexicographic_order(&levels);
    Ok(level::pattern_table(&levels, &order, corpus.originals(), |_| f64::NAN))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{self, slices, XorShift};
    use std::collections::BTreeMap;

    /// Every window of length 2..=alpha counted directly, kept at support ≥ beta, sorted.
    fn brute_force(seqs: &[Vec<u32>], alpha: usize, beta: u64) -> Vec<(Vec<u32>, u64)> {
        let mut support: BTreeMap<Vec<u32>, u64> = BTreeMap::new();
        for seq in seqs {
            for len in 2..=alpha.min(seq.len()) {
                for window in seq.windows(len) {
                    *support.entry(window.to_vec()).or_default() += 1;
                }
            }
        }
        support.into_iter().filter(|&(_, s)| s >= beta).collect()
    }

    fn rows(table: &PatternTable) -> Vec<(Vec<u32>, u64)> {
        (0..table.support.len())
            .map(|k| (table.items[table.offsets[k]..table.offsets[k + 1]].to_vec(), table.support[k]))
            .collect()
    }

    #[test]
    fn by_hand() {
        let seqs = vec![vec![1, 1, 1], vec![1, 1]];
        let table = window_patterns(&slices(&seqs), 5, 2).unwrap();
        assert_eq!(rows(&table), vec![(vec![1, 1], 3)]);
        assert!(table.entropy.iter().all(|h| h.is_nan()));
        let table = window_patterns(&slices(&seqs), 5, 1).unwrap();
        assert_eq!(rows(&table), vec![(vec![1, 1], 3), (vec![1, 1, 1], 1)]);
        let table = window_patterns(&[&[1, 2, 3, 4]], 2, 1).unwrap();
        assert_eq!(rows(&table), vec![(vec![1, 2], 1), (vec![2, 3], 1), (vec![3, 4], 1)]);
    }

    #[test]
    fn empty_inputs() {
        for seqs in [vec![], vec![vec![]], vec![vec![], vec![7]]] {
            let table = window_patterns(&slices(&seqs), 5, 2).unwrap();
            assert_eq!(table, PatternTable { offsets: vec![0], ..Default::default() });
        }
    }

    #[test]
    fn invalid_parameters() {
        assert!(matches!(window_patterns(&[], 1, 2), Err(Error::InvalidParameter { name: "alpha", .. })));
        assert!(matches!(window_patterns(&[], 2, 0), Err(Error::InvalidParameter { name: "beta", .. })));
    }

    #[test]
    fn matches_brute_force_counting() {
        let mut rng = XorShift::new(11);
        for case in 0..300 {
            let seqs = rng.sequences(1 + case % 4, 6, 25);
            let seqs = if case % 2 == 0 { seqs } else { testing::high_ids(&seqs) };
            let alpha = 2 + case % 5;
            let beta = 1 + (case / 5) as u64 % 3;
            let table = window_patterns(&slices(&seqs), alpha, beta).unwrap();
            assert_eq!(rows(&table), brute_force(&seqs, alpha, beta), "case {case}: {seqs:?}");
        }
    }
}
