//! The patterns kept at one level of a level-wise miner, and their assembly into a
//! `PatternTable`.

use crate::occurrences::Extensions;
use crate::PatternTable;

/// Patterns of one length `len`: pattern `k` is `items[k·len..(k+1)·len]` in dense ids. Every
/// level is sorted lexicographically, because it is built from the previous (sorted) level's
/// extension rows, which are ordered by parent then successor.
pub(crate) struct Level {
    len: usize,
    items: Vec<u32>,
    /// Index of the pattern's prefix in the previous level (empty at level 1).
    parent: Vec<u32>,
    support: Vec<u32>,
}

impl Level {
    /// The single-item patterns `[i]` for the given dense ids (ascending) and their counts.
    pub(crate) fn of_items(items: Vec<u32>, support: Vec<u32>) -> Self {
        Self { len: 1, items, parent: Vec::new(), support }
    }

    /// The extension rows with `keep[row]`, as the next level.
    pub(crate) fn extended(&self, ext: &Extensions, keep: &[bool]) -> Self {
        let mut next = Self { len: self.len + 1, items: Vec::new(), parent: Vec::new(), support: Vec::new() };
        for row in (0..ext.rows()).filter(|&row| keep[row]) {
            let parent = ext.parent[row];
            next.items.extend_from_slice(self.pattern(parent as usize));
            next.items.push(ext.successor[row]);
            next.parent.push(parent);
            next.support.push(ext.count[row]);
        }
        next
    }

    pub(crate) fn len(&self) -> usize {
        self.support.len()
    }

    pub(crate) fn pattern_len(&self) -> usize {
        self.len
    }

    pub(crate) fn pattern(&self, k: usize) -> &[u32] {
        &self.items[k * self.len..(k + 1) * self.len]
    }

    pub(crate) fn support(&self, k: usize) -> u32 {
        self.support[k]
    }

    /// For each pattern of this level, the range of its extensions in `next` (whose parents are
    /// non-decreasing), as offsets: children of `k` are `next[offsets[k]..offsets[k + 1]]`.
    pub(crate) fn child_offsets(&self, next: &Level) -> Vec<usize> {
        let mut offsets = vec![0usize; self.len() + 1];
        for &parent in &next.parent {
            offsets[parent as usize + 1] += 1;
        }
        for k in 0..self.len() {
            offsets[k + 1] += offsets[k];
        }
        offsets
    }
}

/// A pattern chosen for output: (index of its level in the miner's list, index in the level).
pub(crate) type PatternRef = (usize, usize);

/// Assembles the chosen patterns, in the given order, with original ids.
pub(crate) fn pattern_table(
    levels: &[Level],
    order: &[PatternRef],
    originals: &[u32],
    entropy: impl Fn(PatternRef) -> f64,
) -> PatternTable {
    let mut table = PatternTable {
        offsets: Vec::with_capacity(order.len() + 1),
        items: Vec::new(),
        support: Vec::with_capacity(order.len()),
        entropy: Vec::with_capacity(order.len()),
    };
    table.offsets.push(0);
    for &(level, k) in order {
        let patterns = &levels[level];
        table.items.extend(patterns.pattern(k).iter().map(|&dense| originals[dense as usize]));
        table.offsets.push(table.items.len());
        table.support.push(patterns.support(k) as u64);
        table.entropy.push(entropy((level, k)));
    }
    table
}

/// Every pattern of `levels[1..]` in lexicographic order, by a pre-order walk of the prefix tree
/// the levels form (a pattern comes right before its extensions, which are sorted). Iterative, as
/// patterns can be long.
pub(crate) fn lexicographic_order(levels: &[Level]) -> Vec<PatternRef> {
    let children: Vec<Vec<usize>> = levels.windows(2).map(|pair| pair[0].child_offsets(&pair[1])).collect();
    let mut order = Vec::with_capacity(levels.iter().skip(1).map(Level::len).sum());
    // Frames (level, next child to visit, end of the children) of the path being walked.
    let mut stack: Vec<(usize, usize, usize)> = Vec::new();
    if levels.len() > 1 {
        stack.push((1, 0, levels[1].len()));
    }
    while let Some(top) = stack.last_mut() {
        let (level, next, end) = *top;
        if next == end {
            stack.pop();
            continue;
        }
        top.1 += 1;
        order.push((level, next));
        if let Some(offsets) = children.get(level) {
            stack.push((level + 1, offsets[next], offsets[next + 1]));
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(len: usize, items: Vec<u32>, parent: Vec<u32>) -> Level {
        let support = vec![1; items.len() / len];
        Level { len, items, parent, support }
    }

    #[test]
    fn pre_order_is_lexicographic() {
        let levels = vec![
            level(1, vec![0, 1, 2], vec![]),
            level(2, vec![0, 1, 0, 2, 2, 0], vec![0, 0, 2]),
            level(3, vec![0, 1, 1, 2, 0, 0, 2, 0, 1], vec![0, 2, 2]),
        ];
        let order = lexicographic_order(&levels);
        let patterns: Vec<&[u32]> = order.iter().map(|&(l, k)| levels[l].pattern(k)).collect();
        let mut sorted = patterns.clone();
        sorted.sort();
        assert_eq!(patterns, sorted);
        assert_eq!(patterns.len(), 6);
    }

    #[test]
    fn table_uses_original_ids() {
        let levels = vec![level(1, vec![0, 1], vec![]), level(2, vec![1, 0], vec![1])];
        let table = pattern_table(&levels, &[(1, 0)], &[10, 20], |_| 0.5);
        assert_eq!(table.offsets, vec![0, 2]);
        assert_eq!(table.items, vec![20, 10]);
        assert_eq!((table.support, table.entropy), (vec![1], vec![0.5]));
    }
}
