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

/// Λ_i of the exact estimator straight from its definition: 1 + the length of the longest
/// prefix of `s[i..]` that occurs inside `s[0..i)`. Cubic: for short sequences only.
pub(crate) fn brute_force_lambdas(seq: &[u32]) -> Vec<u32> {
    let n = seq.len();
    (0..n)
        .map(|i| {
            let occurs_in_past = |len: usize| seq[..i].windows(len).any(|w| w == &seq[i..i + len]);
            1 + (1..=n - i).take_while(|&len| occurs_in_past(len)).count() as u32
        })
        .collect()
}

/// Sequences of length `n` that stress match-length algorithms: long repeats, many periods,
/// overlapping occurrences, no repeats at all, ids at the top of the `u32` range.
pub(crate) fn structured_sequences(n: usize, rng: &mut XorShift) -> Vec<(&'static str, Vec<u32>)> {
    let block: Vec<u32> = (0..97).map(|_| rng.below(50) as u32).collect();
    let mut mutated: Vec<u32> = (0..n).map(|i| (i % 3) as u32).collect();
    for _ in 0..n / 1000 + 1 {
        mutated[rng.below(n.max(1))] = 7;
    }
    let mut growing_runs = Vec::with_capacity(n + 1);
    for k in 1.. {
        if growing_runs.len() >= n {
            break;
        }
        growing_runs.extend(std::iter::repeat_n(0, k));
        growing_runs.push(1);
    }
    growing_runs.truncate(n);
    vec![
        ("all equal", vec![5; n]),
        ("period 2", (0..n).map(|i| (i % 2) as u32).collect()),
        ("period 7", (0..n).map(|i| (i % 7) as u32).collect()),
        ("Fibonacci word", fibonacci_word(n)),
        ("Thue-Morse word", (0..n).map(|i: usize| i.count_ones() % 2).collect()),
        ("random binary", (0..n).map(|_| rng.below(2) as u32).collect()),
        ("random block repeated", (0..n).map(|i| block[i % block.len()]).collect()),
        ("period 3, mutated", mutated),
        ("runs growing by one", growing_runs),
        ("all distinct", (0..n as u32).collect()),
        ("top of u32, period 5", (0..n).map(|i| u32::MAX - (i % 5) as u32).collect()),
        ("around 2^31, random", (0..n).map(|_| (1 << 31) - 2 + rng.below(4) as u32).collect()),
    ]
}

/// The Fibonacci word `abaababa…` over {0, 1}, cut to length `n`: no period, many squares.
pub(crate) fn fibonacci_word(n: usize) -> Vec<u32> {
    let (mut shorter, mut longer) = (vec![0u32], vec![0u32, 1]);
    while longer.len() < n {
        let next = [longer.as_slice(), shorter.as_slice()].concat();
        shorter = std::mem::replace(&mut longer, next);
    }
    longer.truncate(n);
    longer
}
