//! The miners' compact copy of the input: every sequence back to back as dense ids, with a bit
//! per position marking the last position of its sequence. Positions are `u32`, which halves
//! the occurrence lists compared with `usize`.

use crate::items::ItemIndex;
use crate::{Error, Result};

pub(crate) struct Corpus {
    /// Dense item ids, sequences back to back (empty sequences leave no trace).
    items: Vec<u32>,
    /// Bit `p` is set iff position `p` is the last one of its sequence: an occurrence ending
    /// there has no successor, and no pattern may run across it.
    sequence_ends: Vec<u64>,
    /// Dense id → original id (ascending).
    originals: Vec<u32>,
    /// `f_i` per dense id.
    counts: Vec<u32>,
}

impl Corpus {
    /// Fails with `TooManyInteractions` when positions would not fit in `u32`.
    pub(crate) fn new(seqs: &[&[u32]]) -> Result<Self> {
        let total: usize = seqs.iter().map(|s| s.len()).sum();
        if total > u32::MAX as usize {
            return Err(Error::TooManyInteractions(total));
        }
        let index = ItemIndex::new(seqs);
        let mut items = Vec::with_capacity(total);
        let mut sequence_ends = vec![0u64; total.div_ceil(64)];
        let mut counts = vec![0u32; index.len()];
        for seq in seqs.iter().filter(|s| !s.is_empty()) {
            for &item in seq.iter() {
                // Every item of `seqs` is in the index built from `seqs`.
                let dense = index.dense(item).unwrap_or_default();
                counts[dense as usize] += 1;
                items.push(dense);
            }
            let last = items.len() - 1;
            sequence_ends[last / 64] |= 1 << (last % 64);
        }
        Ok(Self { items, sequence_ends, originals: index.originals().to_vec(), counts })
    }

    /// Total number of interactions `F`.
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    pub(crate) fn items(&self) -> &[u32] {
        &self.items
    }

    pub(crate) fn originals(&self) -> &[u32] {
        &self.originals
    }

    pub(crate) fn counts(&self) -> &[u32] {
        &self.counts
    }

    /// The item right after position `end` in the same sequence, if any.
    #[inline]
    pub(crate) fn successor(&self, end: usize) -> Option<u32> {
        let is_last = self.sequence_ends[end / 64] >> (end % 64) & 1 == 1;
        if is_last {
            None
        } else {
            Some(self.items[end + 1])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flattens_with_sequence_ends() {
        let corpus = Corpus::new(&[&[9, 4], &[], &[4], &[9, 9, 4]]).unwrap();
        assert_eq!(corpus.items(), &[1, 0, 0, 1, 1, 0]);
        assert_eq!(corpus.originals(), &[4, 9]);
        assert_eq!(corpus.counts(), &[3, 3]);
        let successors: Vec<Option<u32>> = (0..corpus.len()).map(|p| corpus.successor(p)).collect();
        assert_eq!(successors, vec![Some(0), None, None, Some(1), Some(0), None]);
    }

    #[test]
    fn empty() {
        let corpus = Corpus::new(&[]).unwrap();
        assert_eq!(corpus.len(), 0);
        assert!(corpus.counts().is_empty());
    }
}
