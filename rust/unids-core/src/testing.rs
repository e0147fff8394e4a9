//! Deterministic random inputs for the unit tests (no extra crates).

/// Marsaglia's xorshift64: small, fast and reproducible.
pub(crate) struct XorShift(u64);

impl XorShift {
    pub(crate) fn new(seed: u64) -> Self {
        // Any non-zero state works; mix the seed so that small seeds differ quickly.
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform-ish in `0..n` (the modulo bias is irrelevant for tests).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// A sequence of length `0..=max_len` over the items `0..alphabet`.
    pub(crate) fn sequence(&mut self, alphabet: usize, max_len: usize) -> Vec<u32> {
        let len = self.below(max_len + 1);
        (0..len).map(|_| self.below(alphabet) as u32).collect()
    }

    /// `0..=max_seqs` sequences, as `sequence` makes them.
    pub(crate) fn sequences(&mut self, alphabet: usize, max_seqs: usize, max_len: usize) -> Vec<Vec<u32>> {
        let count = self.below(max_seqs + 1);
        (0..count).map(|_| self.sequence(alphabet, max_len)).collect()
    }
}

/// The same sequences over ids at the top of the int32 range mixed with 0 and 1 (as the Python
/// strategies do), to exercise hashing, sorting and the hashed id lookup. Alphabet ≤ 8.
pub(crate) fn high_ids(seqs: &[Vec<u32>]) -> Vec<Vec<u32>> {
    const HIGH: [u32; 8] =
        [i32::MAX as u32, i32::MAX as u32 - 1, 0, 1, i32::MAX as u32 - 2, 1 << 30, 7, (1 << 31) - 1000];
    seqs.iter().map(|s| s.iter().map(|&x| HIGH[x as usize]).collect()).collect()
}

/// Borrowed views, as the public functions take them.
pub(crate) fn slices(seqs: &[Vec<u32>]) -> Vec<&[u32]> {
    seqs.iter().map(Vec::as_slice).collect()
}
