//! Level-wise occurrence lists, shared by the entropy miner and the window miner.
//!
//! A level is a set of patterns of one length, each with the sorted list of positions where an
//! occurrence starts. A position starts at most one pattern per level, so a level never holds more
//! entries than there are interactions. The next level is found by grouping the occurrences of
//! each pattern by the item that follows them.

use std::ops::Range;

use rayon::prelude::*;

use crate::corpus::Corpus;

/// Occurrence start positions grouped by pattern: pattern `k` starts at
/// `starts[offsets[k]..offsets[k + 1]]`, in increasing order.
#[derive(Default)]
pub(crate) struct Occurrences {
    offsets: Vec<u32>,
    starts: Vec<u32>,
}

impl Occurrences {
    /// The single-item patterns `[i]` for every dense id with `keep[i]`, by counting sort.
    pub(crate) fn of_items(corpus: &Corpus, keep: &[bool]) -> Self {
        let mut offsets = Vec::with_capacity(keep.len() + 1);
        let mut rank = vec![u32::MAX; keep.len()];
        let mut total = 0u32;
        offsets.push(0);
        for (item, &count) in corpus.counts().iter().enumerate() {
            if keep[item] {
                rank[item] = offsets.len() as u32 - 1;
                total += count;
                offsets.push(total);
            }
        }
        let mut cursor = offsets.clone();
        let mut starts = vec![0u32; total as usize];
        for (position, &item) in corpus.items().iter().enumerate() {
            let r = rank[item as usize];
            if r != u32::MAX {
                starts[cursor[r as usize] as usize] = position as u32;
                cursor[r as usize] += 1;
            }
        }
        Self { offsets, starts }
    }

    pub(crate) fn pattern_count(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    pub(crate) fn of(&self, pattern: usize) -> &[u32] {
        &self.starts[self.offsets[pattern] as usize..self.offsets[pattern + 1] as usize]
    }
}

/// The one-item extensions `P·s` of a level's patterns, one row per (pattern, observed
/// successor), ordered by pattern then successor (so by `P·s`, lexicographically).
#[derive(Default)]
pub(crate) struct Extensions {
    /// Row → index of `P` in its level.
    pub(crate) parent: Vec<u32>,
    /// Row → dense id of `s`.
    pub(crate) successor: Vec<u32>,
    /// Row → `count(P·s)`.
    pub(crate) count: Vec<u32>,
    /// Pattern → `n_P`, its occurrences followed by an item (one entry per pattern of the level).
    pub(crate) followed: Vec<u32>,
    /// Row → occurrence starts of `P·s`; empty for rows below the caching threshold, which can
    /// never be kept.
    cached: Occurrences,
}

impl Extensions {
    pub(crate) fn rows(&self) -> usize {
        self.parent.len()
    }

    /// Compacts the cached occurrence lists down to the rows with `keep[row]`, in row order:
    /// those become the next level. Each kept row must have been cached.
    pub(crate) fn take_occurrences(&mut self, keep: &[bool]) -> Occurrences {
        let Occurrences { offsets, mut starts } = std::mem::take(&mut self.cached);
        let mut kept_offsets = vec![0u32];
        let mut end = 0usize;
        for (row, _) in keep.iter().enumerate().filter(|(_, &k)| k) {
            let (from, to) = (offsets[row] as usize, offsets[row + 1] as usize);
            debug_assert_eq!(to - from, self.count[row] as usize, "kept row {row} was not cached");
            starts.copy_within(from..to, end);
            end += to - from;
            kept_offsets.push(end as u32);
        }
        starts.truncate(end);
        starts.shrink_to_fit();
        Occurrences { offsets: kept_offsets, starts }
    }
}

/// Which extension rows to build.
#[derive(Clone, Copy)]
pub(crate) struct ExtendOptions {
    /// Rows with `count(P·s)` below this are left out entirely.
    pub(crate) min_row_count: u32,
    /// Rows with `count(P·s)` below this keep no occurrence list.
    pub(crate) min_cached_count: u32,
}

/// Every extension of the patterns of length `pattern_len` whose occurrences are `level`.
/// Parallel over blocks of patterns; the result does not depend on the number of threads.
pub(crate) fn extend(corpus: &Corpus, pattern_len: usize, level: &Occurrences, options: ExtendOptions) -> Extensions {
    let blocks = blocks_of_similar_work(level);
    let parts: Vec<Extensions> =
        blocks.into_par_iter().map(|block| extend_block(corpus, pattern_len, level, block, options)).collect();
    concatenate(parts)
}

/// Splits the patterns into contiguous blocks of roughly equal occurrence totals, several per
/// thread so that work stealing can even out skew (one popular item can dominate a level).
fn blocks_of_similar_work(level: &Occurrences) -> Vec<Range<usize>> {
    let total = level.starts.len();
    let target = (total / (rayon::current_num_threads() * 8)).max(1 << 12);
    let mut blocks = Vec::new();
    let mut begin = 0;
    for k in 0..level.pattern_count() {
        if (level.offsets[k + 1] - level.offsets[begin]) as usize >= target {
            blocks.push(begin..k + 1);
            begin = k + 1;
        }
    }
    if begin < level.pattern_count() {
        blocks.push(begin..level.pattern_count());
    }
    blocks
}

fn extend_block(
    corpus: &Corpus,
    pattern_len: usize,
    level: &Occurrences,
    patterns: Range<usize>,
    options: ExtendOptions,
) -> Extensions {
    let mut out = Extensions::default();
    out.cached.offsets.push(0);
    // (successor << 32 | start) of one pattern's followed occurrences: sorting groups them by
    // successor, with starts ascending inside each group.
    let mut keyed: Vec<u64> = Vec::new();
    for pattern in patterns {
        keyed.clear();
        for &start in level.of(pattern) {
            if let Some(next) = corpus.successor(start as usize + pattern_len - 1) {
                keyed.push((next as u64) << 32 | start as u64);
            }
        }
        out.followed.push(keyed.len() as u32);
        keyed.sort_unstable();
        for group in keyed.chunk_by(|a, b| a >> 32 == b >> 32) {
            let count = group.len() as u32;
            if count < options.min_row_count {
                continue;
            }
            out.parent.push(pattern as u32);
            out.successor.push((group[0] >> 32) as u32);
            out.count.push(count);
            if count >= options.min_cached_count {
                out.cached.starts.extend(group.iter().map(|&key| key as u32));
            }
            out.cached.offsets.push(out.cached.starts.len() as u32);
        }
    }
    out
}

/// Joins the blocks' rows in block order, rebasing the occurrence offsets.
fn concatenate(parts: Vec<Extensions>) -> Extensions {
    let rows: usize = parts.iter().map(Extensions::rows).sum();
    let patterns: usize = parts.iter().map(|p| p.followed.len()).sum();
    let cached: usize = parts.iter().map(|p| p.cached.starts.len()).sum();
    let mut all = Extensions {
        parent: Vec::with_capacity(rows),
        successor: Vec::with_capacity(rows),
        count: Vec::with_capacity(rows),
        followed: Vec::with_capacity(patterns),
        cached: Occurrences { offsets: Vec::with_capacity(rows + 1), starts: Vec::with_capacity(cached) },
    };
    all.cached.offsets.push(0);
    for part in parts {
        let base = all.cached.starts.len() as u32;
        all.parent.extend_from_slice(&part.parent);
        all.successor.extend_from_slice(&part.successor);
        all.count.extend_from_slice(&part.count);
        all.followed.extend_from_slice(&part.followed);
        all.cached.offsets.extend(part.cached.offsets[1..].iter().map(|&o| o + base));
        all.cached.starts.extend_from_slice(&part.cached.starts);
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus(seqs: &[&[u32]]) -> Corpus {
        Corpus::new(seqs).unwrap()
    }

    #[test]
    fn items_grouped_by_counting_sort() {
        let corpus = corpus(&[&[3, 1, 3], &[2, 3]]);
        // dense: 1 → 0, 2 → 1, 3 → 2
        let level = Occurrences::of_items(&corpus, &[true, false, true]);
        assert_eq!(level.pattern_count(), 2);
        assert_eq!(level.of(0), &[1]);
        assert_eq!(level.of(1), &[0, 2, 4]);
    }

    #[test]
    fn extensions_group_by_successor_and_stop_at_sequence_ends() {
        // [a, a, a] | [a, b] with a = 0, b = 1.
        let corpus = corpus(&[&[5, 5, 5], &[5, 6]]);
        let level = Occurrences::of_items(&corpus, &[true, true]);
        let all = ExtendOptions { min_row_count: 1, min_cached_count: 1 };
        let mut ext = extend(&corpus, 1, &level, all);
        assert_eq!(ext.parent, vec![0, 0]);
        assert_eq!(ext.successor, vec![0, 1]);
        assert_eq!(ext.count, vec![2, 1]);
        assert_eq!(ext.followed, vec![3, 0]);
        let next = ext.take_occurrences(&[true, true]);
        assert_eq!(next.of(0), &[0, 1]);
        assert_eq!(next.of(1), &[3]);

        // Length 2: [a, a] at 0 is followed by a, at 1 by nothing.
        let ext2 = extend(&corpus, 2, &next, all);
        assert_eq!((ext2.parent, ext2.successor, ext2.count, ext2.followed), (vec![0], vec![0], vec![1], vec![1, 0]));
    }

    #[test]
    fn thresholds_drop_rows_or_their_lists() {
        let corpus = corpus(&[&[5, 5, 5], &[5, 6]]);
        let level = Occurrences::of_items(&corpus, &[true, true]);
        let ext = extend(&corpus, 1, &level, ExtendOptions { min_row_count: 2, min_cached_count: 2 });
        assert_eq!((ext.rows(), ext.followed.clone()), (1, vec![3, 0]));
        let mut ext = extend(&corpus, 1, &level, ExtendOptions { min_row_count: 1, min_cached_count: 2 });
        assert_eq!(ext.rows(), 2);
        let next = ext.take_occurrences(&[true, false]);
        assert_eq!((next.pattern_count(), next.of(0)), (1, &[0u32, 1][..]));
    }

    #[test]
    fn many_blocks_give_the_same_rows() {
        // Enough patterns and occurrences for several blocks.
        let seq: Vec<u32> = (0..50_000u32).map(|i| (i * 7919) % 613).collect();
        let corpus = corpus(&[&seq]);
        let keep = vec![true; corpus.originals().len()];
        let level = Occurrences::of_items(&corpus, &keep);
        assert!(blocks_of_similar_work(&level).len() > 1);
        let all = ExtendOptions { min_row_count: 1, min_cached_count: 1 };
        let ext = extend(&corpus, 1, &level, all);
        let one_block = extend_block(&corpus, 1, &level, 0..level.pattern_count(), all);
        assert_eq!(ext.parent, one_block.parent);
        assert_eq!(ext.successor, one_block.successor);
        assert_eq!(ext.count, one_block.count);
        assert_eq!(ext.followed, one_block.followed);
        assert_eq!(ext.cached.offsets, one_block.cached.offsets);
        assert_eq!(ext.cached.starts, one_block.cached.starts);
    }
}
