//! Dense renumbering of the item ids that occur in a set of sequences.
//!
//! Dense ids are assigned in ascending order of the original id, so comparing dense ids compares
//! original ids: patterns sorted by dense ids are sorted by original ids, and "ascending item
//! id" loops (H1) can run over dense ids.

use rustc_hash::FxHashMap;

/// Marks an original id that does not occur.
const ABSENT: u32 = u32::MAX;

/// The distinct items of some sequences, as dense ids `0..len()`.
pub(crate) struct ItemIndex {
    /// `originals[dense]` = the original id; strictly increasing.
    originals: Vec<u32>,
    lookup: Lookup,
}

enum Lookup {
    /// `table[original]` = dense id, or `ABSENT`. Used when ids are small next to the input size
    /// (the pipeline's contiguous ids), where an array beats hashing.
    Direct(Vec<u32>),
    /// Arbitrary ids up to 2^32 − 1, where a direct table could take 16 GiB.
    Hashed(FxHashMap<u32, u32>),
}

impl ItemIndex {
    pub(crate) fn new(seqs: &[&[u32]]) -> Self {
        let total: usize = seqs.iter().map(|s| s.len()).sum();
        let Some(max_id) = seqs.iter().filter_map(|s| s.iter().max()).max().copied() else {
            return Self { originals: Vec::new(), lookup: Lookup::Direct(Vec::new()) };
        };
        // A direct table of at most max(total, 65536) + 1 entries: never more than 4 bytes per
        // interaction beyond a fixed quarter mebibyte.
        if max_id as usize <= total.max(1 << 16) {
            Self::direct(seqs, max_id)
        } else {
            Self::hashed(seqs)
        }
    }

    fn direct(seqs: &[&[u32]], max_id: u32) -> Self {
        const SEEN: u32 = 0;
        let mut table = vec![ABSENT; max_id as usize + 1];
        for &item in seqs.iter().flat_map(|s| s.iter()) {
            table[item as usize] = SEEN;
        }
        let mut originals = Vec::new();
        for (original, slot) in table.iter_mut().enumerate() {
            if *slot != ABSENT {
                *slot = originals.len() as u32;
                originals.push(original as u32);
            }
        }
        Self { originals, lookup: Lookup::Direct(table) }
    }

    fn hashed(seqs: &[&[u32]]) -> Self {
        let mut map: FxHashMap<u32, u32> = FxHashMap::default();
        for &item in seqs.iter().flat_map(|s| s.iter()) {
            map.insert(item, ABSENT);
        }
        let mut originals: Vec<u32> = map.keys().copied().collect();
        originals.sort_unstable();
        for (dense, original) in originals.iter().enumerate() {
            map.insert(*original, dense as u32);
        }
        Self { originals, lookup: Lookup::Hashed(map) }
    }

    /// Number of distinct items.
    pub(crate) fn len(&self) -> usize {
        self.originals.len()
    }

    /// Dense id → original id.
    pub(crate) fn originals(&self) -> &[u32] {
        &self.originals
    }

    /// The dense id of an item of the indexed sequences; `None` for an id that never occurs.
    #[inline]
    pub(crate) fn dense(&self, original: u32) -> Option<u32> {
        let dense = match &self.lookup {
            Lookup::Direct(table) => table.get(original as usize).copied().unwrap_or(ABSENT),
            Lookup::Hashed(map) => map.get(&original).copied().unwrap_or(ABSENT),
        };
        (dense != ABSENT).then_some(dense)
    }

    /// `f_i` per dense id over every position of `seqs` (the indexed sequences).
    pub(crate) fn counts(&self, seqs: &[&[u32]]) -> Vec<u64> {
        let mut counts = vec![0u64; self.len()];
        for &item in seqs.iter().flat_map(|s| s.iter()) {
            if let Some(dense) = self.dense(item) {
                counts[dense as usize] += 1;
            }
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_ids_follow_ascending_original_ids() {
        for seqs in [vec![vec![5u32, 3, 9, 3], vec![], vec![1]], vec![vec![u32::MAX - 1, 0, 2_147_483_647, 0]]] {
            let slices: Vec<&[u32]> = seqs.iter().map(|s| s.as_slice()).collect();
            let index = ItemIndex::new(&slices);
            let mut expected: Vec<u32> = seqs.iter().flatten().copied().collect();
            expected.sort_unstable();
            expected.dedup();
            assert_eq!(index.originals(), expected.as_slice());
            for (dense, &original) in expected.iter().enumerate() {
                assert_eq!(index.dense(original), Some(dense as u32));
            }
            assert_eq!(index.dense(4), None);
        }
    }

    #[test]
    fn counts_every_position() {
        let seqs: Vec<&[u32]> = vec![&[7, 7, 2], &[2, 7]];
        let index = ItemIndex::new(&seqs);
        assert_eq!(index.counts(&seqs), vec![2, 3]);
    }

    #[test]
    fn empty_input() {
        let index = ItemIndex::new(&[&[], &[]]);
        assert_eq!(index.len(), 0);
        assert_eq!(index.dense(0), None);
        assert!(index.counts(&[]).is_empty());
    }
}
