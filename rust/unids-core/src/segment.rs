//! Min-entropy segmentation of sequences into mined patterns (docs/ALGORITHMS.md §5).

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::items::ItemIndex;
use crate::{Error, PatternTable, Result};

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
///
/// The table's `support` column is not read. A table with no offsets at all counts as empty.
pub fn segment(seqs: &[&[u32]], patterns: &PatternTable, method: SegmentMethod) -> Result<Segmentation> {
    let trie = PatternTrie::new(patterns, method)?;
    let segmenter = match method {
        SegmentMethod::Dp => Segmenter::Dp { trie: &trie, item_cost: ItemCosts::new(seqs) },
        SegmentMethod::Greedy => Segmenter::Greedy { trie: &trie },
    };
    run(seqs, &segmenter)
}

/// `segment` by the DP with the single-item costs given instead of counted on `seqs`:
/// `costs[k]` prices item `items[k]` (items distinct, in any order). With the whole input's
/// `−log2(f_i / F)` this segments one batch exactly as `segment` segments the whole input,
/// which is what a stream or a Spark task needs. Every item of `seqs` must have a cost.
pub fn segment_priced(seqs: &[&[u32]], patterns: &PatternTable, items: &[u32], costs: &[f64]) -> Result<Segmentation> {
    let trie = PatternTrie::new(patterns, SegmentMethod::Dp)?;
    let item_cost = ItemCosts::given(items, costs)?;
    if let Some(&item) = seqs.iter().flat_map(|s| s.iter()).find(|&&item| item_cost.index.dense(item).is_none()) {
        return Err(Error::InvalidParameter { name: "item_costs", reason: format!("item {item} has no cost") });
    }
    run(seqs, &Segmenter::Dp { trie: &trie, item_cost })
}

fn run(seqs: &[&[u32]], segmenter: &Segmenter<'_>) -> Result<Segmentation> {
    // Blocks of sequences, each producing its lengths back to back, then joined in order.
    const SEQUENCES_PER_TASK: usize = 64;
    let blocks: Vec<(Vec<u32>, Vec<usize>)> = seqs
        .par_chunks(SEQUENCES_PER_TASK)
        .map_init(Scratch::default, |scratch, block| {
            let mut lengths = Vec::new();
            let mut counts = Vec::with_capacity(block.len());
            for seq in block {
                let before = lengths.len();
                segmenter.segment(seq, scratch, &mut lengths);
                counts.push(lengths.len() - before);
            }
            (lengths, counts)
        })
        .collect();
    let mut out = Segmentation {
        offsets: Vec::with_capacity(seqs.len() + 1),
        lengths: Vec::with_capacity(blocks.iter().map(|b| b.0.len()).sum()),
    };
    out.offsets.push(0);
    for (lengths, counts) in blocks {
        for count in counts {
            out.offsets.push(out.offsets.last().copied().unwrap_or(0) + count);
        }
        out.lengths.extend_from_slice(&lengths);
    }
    Ok(out)
}

enum Segmenter<'t> {
    Dp { trie: &'t PatternTrie, item_cost: ItemCosts },
    Greedy { trie: &'t PatternTrie },
}

/// Per-worker buffers of the DP, reused across sequences.
#[derive(Default)]
struct Scratch {
    cost: Vec<f64>,
    /// `back[j]`: length of the segment that ends at `j` in the best split of `seq[..j]`.
    back: Vec<u32>,
}

impl Segmenter<'_> {
    /// Appends the segment lengths of `seq` to `out`.
    fn segment(&self, seq: &[u32], scratch: &mut Scratch, out: &mut Vec<u32>) {
        match self {
            Segmenter::Dp { trie, item_cost } => segment_dp(seq, trie, item_cost, scratch, out),
            Segmenter::Greedy { trie } => segment_greedy(seq, trie, out),
        }
    }
}

/// Forward DP, exactly as docs/ALGORITHMS.md §5: at each `i`, first the single item, then the
/// patterns matching at `i` by increasing length; only a strictly smaller cost replaces, so ties
/// keep the earlier candidate.
fn segment_dp(seq: &[u32], trie: &PatternTrie, item_cost: &ItemCosts, scratch: &mut Scratch, out: &mut Vec<u32>) {
    let n = seq.len();
    let Scratch { cost, back } = scratch;
    cost.clear();
    cost.resize(n + 1, f64::INFINITY);
    back.clear();
    back.resize(n + 1, 0);
    cost[0] = 0.0;
    for i in 0..n {
        let single = cost[i] + item_cost.of(seq[i]);
        if single < cost[i + 1] {
            cost[i + 1] = single;
            back[i + 1] = 1;
        }
        trie.for_each_match(&seq[i..], |len, entropy| {
            let candidate = cost[i] + entropy;
            if candidate < cost[i + len] {
                cost[i + len] = candidate;
                back[i + len] = len as u32;
            }
        });
    }
    let start = out.len();
    let mut j = n;
    while j > 0 {
        // Every cost[j] is reached at least by the single item from j − 1, so back[j] ≥ 1; the
        // clamp only makes the walk total.
        let len = back[j].max(1);
        out.push(len);
        j -= (len as usize).min(j);
    }
    out[start..].reverse();
}

/// At each position the longest table pattern that matches, else one item.
fn segment_greedy(seq: &[u32], trie: &PatternTrie, out: &mut Vec<u32>) {
    let mut i = 0;
    while i < seq.len() {
        let mut take = 1;
        trie.for_each_match(&seq[i..], |len, _| take = take.max(len));
        out.push(take as u32);
        i += take;
    }
}

/// `−log2(f_i / F)` for the items of the sequences being segmented.
struct ItemCosts {
    index: ItemIndex,
    cost: Vec<f64>,
}

impl ItemCosts {
    fn new(seqs: &[&[u32]]) -> Self {
        let index = ItemIndex::new(seqs);
        let counts = index.counts(seqs);
        let total: u64 = counts.iter().sum();
        let cost = counts.iter().map(|&f| -(f as f64 / total as f64).log2()).collect();
        Self { index, cost }
    }

    fn given(items: &[u32], costs: &[f64]) -> Result<Self> {
        let invalid = |reason: String| Error::InvalidParameter { name: "item_costs", reason };
        if items.len() != costs.len() {
            return Err(invalid(format!("{} items but {} costs", items.len(), costs.len())));
        }
        if let Some(k) = costs.iter().position(|c| c.is_nan()) {
            return Err(invalid(format!("the cost of item {} is NaN", items[k])));
        }
        let index = ItemIndex::new(&[items]);
        if index.len() != items.len() {
            return Err(invalid("an item is listed twice".to_string()));
        }
        let mut cost = vec![0.0; items.len()];
        for (&item, &c) in items.iter().zip(costs) {
            cost[index.dense(item).expect("indexed above") as usize] = c;
        }
        Ok(Self { index, cost })
    }

    /// The cost of an item of the indexed sequences.
    #[inline]
    fn of(&self, item: u32) -> f64 {
        // Every item segmented was counted; +∞ for an unknown one is a safe fallback.
        self.index.dense(item).map_or(f64::INFINITY, |d| self.cost[d as usize])
    }
}

/// A trie over the table's patterns, with hashed children because item ids are arbitrary.
struct PatternTrie {
    /// `(node << 32 | item)` → child node; the root is node 0.
    children: FxHashMap<u64, u32>,
    /// Entropy of the pattern that ends at each node; `None` where no pattern ends.
    entropy: Vec<Option<f64>>,
}

impl PatternTrie {
    /// Validates the table and indexes its patterns.
    fn new(table: &PatternTable, method: SegmentMethod) -> Result<Self> {
        let count = validate(table)?;
        if method == SegmentMethod::Dp {
            if let Some(k) = table.entropy.iter().position(|h| h.is_nan()) {
                return Err(Error::InvalidPatterns(format!(
                    "pattern {k} has a NaN entropy (as window patterns do): the DP needs a cost for every pattern; \
                     use greedy segmentation"
                )));
            }
        }
        let mut trie = Self { children: FxHashMap::default(), entropy: vec![None] };
        for k in 0..count {
            let pattern = &table.items[table.offsets[k]..table.offsets[k + 1]];
            let mut node = 0u32;
            for &item in pattern {
                let fresh = trie.entropy.len() as u32;
                node = *trie.children.entry(key(node, item)).or_insert(fresh);
                if node == fresh {
                    trie.entropy.push(None);
                }
            }
            let slot = &mut trie.entropy[node as usize];
            if slot.is_some() {
                return Err(Error::InvalidPatterns(format!("pattern {k} {pattern:?} appears more than once")));
            }
            *slot = Some(table.entropy[k]);
        }
        Ok(trie)
    }

    /// Calls `visit(length, entropy)` for every table pattern that is a prefix of `rest`, by
    /// increasing length.
    #[inline]
    fn for_each_match(&self, rest: &[u32], mut visit: impl FnMut(usize, f64)) {
        let mut node = 0u32;
        for (depth, &item) in rest.iter().enumerate() {
            match self.children.get(&key(node, item)) {
                Some(&child) => node = child,
                None => return,
            }
            if let Some(entropy) = self.entropy[node as usize] {
                visit(depth + 1, entropy);
            }
        }
    }
}

#[inline]
fn key(node: u32, item: u32) -> u64 {
    (node as u64) << 32 | item as u64
}

/// Checks the compressed-row layout; returns the number of patterns.
fn validate(table: &PatternTable) -> Result<usize> {
    let count = table.entropy.len();
    let invalid = |reason: String| Err(Error::InvalidPatterns(reason));
    if table.offsets.is_empty() && count == 0 && table.items.is_empty() {
        return Ok(0); // `PatternTable::default()`
    }
    if table.offsets.len() != count + 1 {
        return invalid(format!("{} offsets for {count} entropies (expected {})", table.offsets.len(), count + 1));
    }
    if table.offsets[0] != 0 {
        return invalid(format!("offsets must start at 0, not {}", table.offsets[0]));
    }
    if let Some(k) = (0..count).find(|&k| table.offsets[k + 1] <= table.offsets[k]) {
        return invalid(format!("pattern {k} is empty or its offsets decrease (every pattern needs ≥ 1 item)"));
    }
    if table.offsets[count] != table.items.len() {
        return invalid(format!(
            "the last offset is {} but there are {} items",
            table.offsets[count],
            table.items.len()
        ));
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{slices, XorShift};

    fn table(rows: &[(&[u32], f64)]) -> PatternTable {
        let mut table = PatternTable { offsets: vec![0], ..Default::default() };
        for (pattern, entropy) in rows {
            table.items.extend_from_slice(pattern);
            table.offsets.push(table.items.len());
            table.support.push(0);
            table.entropy.push(*entropy);
        }
        table
    }

    /// Per-sequence lists, from the compressed rows.
    fn lists(seg: &Segmentation) -> Vec<Vec<u32>> {
        seg.offsets.windows(2).map(|w| seg.lengths[w[0]..w[1]].to_vec()).collect()
    }

    fn run(seqs: &[&[u32]], rows: &[(&[u32], f64)], method: SegmentMethod) -> Vec<Vec<u32>> {
        lists(&segment(seqs, &table(rows), method).unwrap())
    }

    #[test]
    fn by_hand() {
        let seqs: &[&[u32]] = &[&[1, 2, 3], &[1, 2, 3], &[4, 5], &[]];
        let rows: &[(&[u32], f64)] = &[(&[1, 2], 2.0), (&[1, 2, 3], 2.0), (&[2, 3], 2.0)];
        assert_eq!(run(seqs, rows, SegmentMethod::Dp), vec![vec![3], vec![3], vec![1, 1], vec![]]);
        assert_eq!(run(seqs, rows, SegmentMethod::Greedy), vec![vec![3], vec![3], vec![1, 1], vec![]]);
        assert_eq!(run(seqs, &[], SegmentMethod::Dp), vec![vec![1, 1, 1], vec![1, 1, 1], vec![1, 1], vec![]]);
    }

    #[test]
    fn ties_keep_the_earlier_candidate() {
        // Items 1 and 2 cost 1 bit each; [1,2] at 2.0 reaches cost[2] first and is kept.
        let seqs: &[&[u32]] = &[&[1, 2, 1, 2]];
        assert_eq!(run(seqs, &[(&[1, 2], 2.0)], SegmentMethod::Dp), vec![vec![2, 2]]);
        assert_eq!(run(seqs, &[(&[1, 2], 2.5)], SegmentMethod::Dp), vec![vec![1, 1, 1, 1]]);
        assert_eq!(run(seqs, &[(&[1, 2], 2.5)], SegmentMethod::Greedy), vec![vec![2, 2]]);
    }

    #[test]
    fn dp_minimises_where_greedy_does_not() {
        let seqs: &[&[u32]] = &[&[1, 2, 3, 4]];
        let rows: &[(&[u32], f64)] = &[(&[1, 2, 3], 9.0), (&[2, 3, 4], 0.5)];
        assert_eq!(run(seqs, rows, SegmentMethod::Greedy), vec![vec![3, 1]]);
        assert_eq!(run(seqs, rows, SegmentMethod::Dp), vec![vec![1, 3]]);
    }

    #[test]
    fn single_item_patterns_compete_with_unigram_costs() {
        // [7] costs 1 bit as an item; the table prices it at 0.25.
        let seqs: &[&[u32]] = &[&[7, 8]];
        let seg = segment(seqs, &table(&[(&[7], 0.25), (&[7, 8], 1.5)]), SegmentMethod::Dp).unwrap();
        assert_eq!(lists(&seg), vec![vec![1, 1]]); // 0.25 + 1 < 1.5
    }

    #[test]
    fn given_costs_of_the_whole_input_segment_a_batch_as_the_whole() {
        let seqs: &[&[u32]] = &[&[1, 2, 3], &[1, 2, 9, 9, 3], &[4, 5], &[9, 1, 2]];
        let rows: &[(&[u32], f64)] = &[(&[1, 2], 3.0), (&[9, 9], 4.5), (&[2, 3], 2.0)];
        // −log2(f / F) of the whole input, items listed out of order.
        let counts = [(9u32, 3.0), (1, 3.0), (2, 3.0), (3, 2.0), (4, 1.0), (5, 1.0)];
        let (items, costs): (Vec<u32>, Vec<f64>) = counts.iter().map(|&(i, f)| (i, -(f / 13.0f64).log2())).unzip();
        let whole = lists(&segment(seqs, &table(rows), SegmentMethod::Dp).unwrap());
        for (start, batch) in [(0, &seqs[..2]), (2, &seqs[2..])] {
            let got = segment_priced(batch, &table(rows), &items, &costs).unwrap();
            assert_eq!(lists(&got), whole[start..start + batch.len()].to_vec());
        }
        // Counted on the batch [4, 5] alone, items cost 1 bit each and beat the pattern; the
        // whole input's costs (3.7 bits each) do not.
        let pair: &[(&[u32], f64)] = &[(&[4, 5], 3.0)];
        assert_eq!(lists(&segment(&seqs[2..3], &table(pair), SegmentMethod::Dp).unwrap()), vec![vec![1, 1]]);
        assert_eq!(lists(&segment_priced(&seqs[2..3], &table(pair), &items, &costs).unwrap()), vec![vec![2]]);
    }

    #[test]
    fn given_costs_are_checked() {
        let rows: &[(&[u32], f64)] = &[(&[1, 2], 1.0)];
        let err = |items: &[u32], costs: &[f64]| {
            segment_priced(&[&[1, 2]], &table(rows), items, costs).unwrap_err().to_string()
        };
        assert!(err(&[1], &[1.0]).contains("item 2 has no cost"));
        assert!(err(&[1, 2, 1], &[1.0, 1.0, 1.0]).contains("twice"));
        assert!(err(&[1, 2], &[1.0]).contains("2 items but 1 costs"));
        assert!(err(&[1, 2], &[1.0, f64::NAN]).contains("NaN"));
    }

    #[test]
    fn nan_entropy_needs_greedy() {
        let rows: &[(&[u32], f64)] = &[(&[1, 2], f64::NAN)];
        let err = segment(&[&[1, 2]], &table(rows), SegmentMethod::Dp).unwrap_err();
        assert!(matches!(&err, Error::InvalidPatterns(m) if m.contains("greedy")), "{err}");
        assert_eq!(run(&[&[1, 2]], rows, SegmentMethod::Greedy), vec![vec![2]]);
    }

    #[test]
    fn invalid_tables() {
        let good = table(&[(&[1, 2], 1.0), (&[3], 2.0)]);
        let mut bad = Vec::new();
        let mut t = good.clone();
        t.offsets.push(3);
        bad.push(t); // one offset too many
        let mut t = good.clone();
        t.offsets[0] = 1;
        bad.push(t);
        let mut t = good.clone();
        t.offsets[1] = 0;
        bad.push(t); // empty pattern
        let mut t = good.clone();
        t.items.push(4);
        bad.push(t); // last offset ≠ items
        bad.push(table(&[(&[1, 2], 1.0), (&[1, 2], 2.0)])); // duplicate
        bad.push(PatternTable { offsets: vec![], items: vec![], support: vec![], entropy: vec![1.0] });
        for t in &bad {
            for method in [SegmentMethod::Dp, SegmentMethod::Greedy] {
                assert!(matches!(segment(&[&[1, 2, 3]], t, method), Err(Error::InvalidPatterns(_))), "{t:?}");
            }
        }
        // The default (offset-less) table is an empty table.
        let seg = segment(&[&[1, 1]], &PatternTable::default(), SegmentMethod::Dp).unwrap();
        assert_eq!(lists(&seg), vec![vec![1, 1]]);
    }

    #[test]
    fn empty_inputs() {
        let seg = segment(&[], &table(&[]), SegmentMethod::Dp).unwrap();
        assert_eq!(seg, Segmentation { offsets: vec![0], lengths: vec![] });
        assert_eq!(run(&[&[], &[5, 5]], &[], SegmentMethod::Dp), vec![vec![], vec![1, 1]]);
        assert_eq!(run(&[&[], &[5, 5]], &[], SegmentMethod::Greedy), vec![vec![], vec![1, 1]]);
    }

    /// Every split of `seq` into segments (as lengths), in no particular order.
    fn all_splits(n: usize) -> Vec<Vec<usize>> {
        if n == 0 {
            return vec![vec![]];
        }
        (1..=n)
            .flat_map(|first| {
                all_splits(n - first).into_iter().map(move |mut rest| {
                    rest.insert(0, first);
                    rest
                })
            })
            .collect()
    }

    #[test]
    fn dp_finds_the_minimum_over_all_segmentations() {
        let mut rng = XorShift::new(5);
        for case in 0..400 {
            let seqs = rng.sequences(1 + case % 3, 4, 9);
            let alphabet = 1 + case % 3;
            // Distinct patterns of length 1..=4 with entropies drawn from a few round values, so
            // that ties between segmentations are common.
            let mut patterns: Vec<Vec<u32>> = (0..rng.below(7)).map(|_| rng.sequence(alphabet, 4)).collect();
            patterns.retain(|p| !p.is_empty());
            patterns.sort();
            patterns.dedup();
            let entropies: Vec<f64> = patterns.iter().map(|_| [0.0, 0.5, 1.0, 2.0, 3.0][rng.below(5)]).collect();
            let rows: Vec<(&[u32], f64)> = patterns.iter().map(Vec::as_slice).zip(entropies).collect();
            let seg = lists(&segment(&slices(&seqs), &table(&rows), SegmentMethod::Dp).unwrap());

            let total: usize = seqs.iter().map(Vec::len).sum();
            let count = |item: u32| seqs.iter().flatten().filter(|&&x| x == item).count();
            let lookup = |piece: &[u32]| rows.iter().find(|(p, _)| *p == piece).map(|&(_, h)| h);
            // Costs summed left to right, as the DP does.
            let cost_of = |seq: &[u32], split: &[usize]| -> Option<f64> {
                let (mut cost, mut at) = (0.0, 0);
                for &len in split {
                    let piece = &seq[at..at + len];
                    cost += if len == 1 {
                        let single = -(count(piece[0]) as f64 / total as f64).log2();
                        lookup(piece).map_or(single, |h| h.min(single))
                    } else {
                        lookup(piece)?
                    };
                    at += len;
                }
                Some(cost)
            };
            for (seq, got) in seqs.iter().zip(&seg) {
                let got: Vec<usize> = got.iter().map(|&l| l as usize).collect();
                let best = all_splits(seq.len()).iter().filter_map(|s| cost_of(seq, s)).fold(f64::INFINITY, f64::min);
                let got_cost = cost_of(seq, &got).expect("the DP only uses table patterns");
                assert!((got_cost - best).abs() < 1e-9, "case {case}: {seq:?} {rows:?} → {got:?}");
            }
        }
    }

    #[test]
    fn greedy_takes_the_longest_match() {
        let seqs: &[&[u32]] = &[&[1, 2, 3, 1, 2, 9]];
        let rows: &[(&[u32], f64)] = &[(&[1, 2], 0.0), (&[1, 2, 3, 1], 5.0), (&[2, 9], 0.0)];
        assert_eq!(run(seqs, rows, SegmentMethod::Greedy), vec![vec![4, 2]]);
        // Greedy ignores costs, NaN included.
        let rows: &[(&[u32], f64)] = &[(&[1, 2], f64::NAN), (&[3], f64::NAN)];
        assert_eq!(run(seqs, rows, SegmentMethod::Greedy), vec![vec![2, 1, 2, 1]]);
    }

    #[test]
    fn parallel_blocks_keep_sequence_order() {
        let mut rng = XorShift::new(6);
        let seqs: Vec<Vec<u32>> = (0..1000).map(|_| rng.sequence(3, 12)).collect();
        let rows: &[(&[u32], f64)] = &[(&[0, 1], 1.0), (&[2, 2], 0.5), (&[0, 1, 2], 1.5)];
        for method in [SegmentMethod::Dp, SegmentMethod::Greedy] {
            let seg = segment(&slices(&seqs), &table(rows), method).unwrap();
            assert_eq!(seg.offsets.len(), 1001);
            for (seq, lengths) in seqs.iter().zip(lists(&seg)) {
                assert_eq!(lengths.iter().sum::<u32>() as usize, seq.len());
            }
            let one_thread = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
            let sequential = one_thread.install(|| segment(&slices(&seqs), &table(rows), method)).unwrap();
            assert_eq!(seg, sequential);
        }
    }
}
