//! Lempel–Ziv real-entropy estimators (docs/ALGORITHMS.md §1).

use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};

use crate::lpnf;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Estimator {
    /// Kontoyiannis/Song: Λ_i against the past `s[0..i)` only. O(n), by `ExactMethod`.
    Exact,
    /// The hash-set variant of the authors' earlier public code. Kept for comparability.
    Approx,
}

/// How the exact Λ are computed. Both give the same numbers; `real_entropy` picks by length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExactMethod {
    /// Matching statistics on a suffix automaton: fastest while the automaton fits in the caches.
    Automaton,
    /// Longest previous non-overlapping factors from a suffix array (`lpnf`): its passes are
    /// sequential or independent random accesses, so its cost per item stays nearly flat as n
    /// grows.
    SuffixArray,
}

/// From this length on the suffix array is the faster method (docs/ALGORITHMS.md §1 has the
/// measurements): below it the automaton fits in the caches, and on the short, mostly distinct
/// histories of rating data it does less work.
pub const SUFFIX_ARRAY_FROM: usize = 1 << 13;

impl ExactMethod {
    /// The faster method for a sequence of length `n`.
    pub fn for_length(n: usize) -> Self {
        if n >= SUFFIX_ARRAY_FROM {
            Self::SuffixArray
        } else {
            Self::Automaton
        }
    }
}

/// Λ_i of the exact estimator for every position.
pub fn lambdas_exact(seq: &[u32]) -> Vec<u32> {
    lambdas_exact_with(seq, ExactMethod::for_length(seq.len()))
}

/// Λ_i of the exact estimator for every position, by the given method.
pub fn lambdas_exact_with(seq: &[u32], method: ExactMethod) -> Vec<u32> {
    let mut lambdas = Vec::with_capacity(seq.len());
    match method {
        ExactMethod::Automaton => {
            let mut automaton = SuffixAutomaton::default();
            automaton.build(seq);
            automaton.for_each_lambda(seq, |lambda| lambdas.push(lambda));
        }
        ExactMethod::SuffixArray => lpnf::for_each_lambda(seq, |lambda| lambdas.push(lambda)),
    }
    lambdas
}

/// Λ_i of the approximate (hash-set) estimator for every position.
pub fn lambdas_approx(seq: &[u32]) -> Vec<u32> {
    let mut lambdas = Vec::with_capacity(seq.len());
    for_each_lambda_approx(seq, &mut FxHashSet::default(), |lambda| lambdas.push(lambda));
    lambdas
}

/// `n · log_base(n) / Σ Λ_i`; NaN for an empty sequence, 0 for length 1.
pub fn real_entropy(seq: &[u32], estimator: Estimator, base: f64) -> f64 {
    let lambda_sum = match estimator {
        Estimator::Exact => exact_lambda_sum(seq, &mut SuffixAutomaton::default()),
        Estimator::Approx => approx_lambda_sum(seq, &mut FxHashSet::default()),
    };
    entropy_from_lambda_sum(seq.len(), lambda_sum, base)
}

/// `real_entropy` of every sequence, in parallel on the current rayon pool.
pub fn real_entropy_many(seqs: &[&[u32]], estimator: Estimator, base: f64) -> Vec<f64> {
    // Each worker reuses one automaton (or one set) across its sequences: with ~165 symbols per
    // user, allocation would otherwise cost as much as the work.
    match estimator {
        Estimator::Exact => seqs
            .par_iter()
            .map_init(SuffixAutomaton::default, |automaton, seq| {
                entropy_from_lambda_sum(seq.len(), exact_lambda_sum(seq, automaton), base)
            })
            .collect(),
        Estimator::Approx => seqs
            .par_iter()
            .map_init(FxHashSet::default, |discovered, seq| {
                entropy_from_lambda_sum(seq.len(), approx_lambda_sum(seq, discovered), base)
            })
            .collect(),
    }
}

/// `S = n · log_b(n) / Σ Λ`, with the reference's operation order. Bits use `log2` directly so
/// that they are exact for powers of two.
fn entropy_from_lambda_sum(n: usize, lambda_sum: u64, base: f64) -> f64 {
    match n {
        0 => f64::NAN,
        1 => 0.0,
        _ => {
            let n = n as f64;
            let log_n = if base == 2.0 { n.log2() } else { n.ln() / base.ln() };
            n * log_n / lambda_sum as f64
        }
    }
}

fn exact_lambda_sum(seq: &[u32], automaton: &mut SuffixAutomaton) -> u64 {
    let mut sum = 0u64;
    match ExactMethod::for_length(seq.len()) {
        ExactMethod::Automaton => {
            automaton.build(seq);
            automaton.for_each_lambda(seq, |lambda| sum += lambda as u64);
        }
        ExactMethod::SuffixArray => lpnf::for_each_lambda(seq, |lambda| sum += lambda as u64),
    }
    sum
}

fn approx_lambda_sum<'a>(seq: &'a [u32], discovered: &mut FxHashSet<&'a [u32]>) -> u64 {
    let mut sum = 0u64;
    for_each_lambda_approx(seq, discovered, |lambda| sum += lambda as u64);
    sum
}

/// The approximate estimator: the first substring from `i` not yet discovered is Λ_i, and only
/// that one substring is added.
fn for_each_lambda_approx<'a>(seq: &'a [u32], discovered: &mut FxHashSet<&'a [u32]>, mut visit: impl FnMut(u32)) {
    let n = seq.len();
    // Clearing costs the set's capacity: after one very long sequence, start afresh instead.
    if discovered.capacity() > 16 * n + 4096 {
        *discovered = FxHashSet::default();
    } else {
        discovered.clear();
    }
    for i in 0..n {
        let mut len = 1;
        let lambda = loop {
            if i + len > n {
                break n - i + 1; // ran off the end
            }
            if discovered.insert(&seq[i..i + len]) {
                break len;
            }
            len += 1;
        };
        visit(lambda as u32);
    }
}

/// No state / no transition.
const NONE: u32 = u32::MAX;

/// Suffix automaton of one whole sequence, with the end position of every state's first
/// occurrence. Item ids are arbitrary `u32`, so there is no per-state array of transitions (the
/// root alone can have ~n of them). Each state keeps its first transition inline — most states
/// have exactly one, and a state reached from another was usually created at a nearby position,
/// so following it stays in the same part of memory — and the rest live in one hash map keyed by
/// `(state, symbol)`, listed per state so that cloning can copy them. On long sequences the
/// automaton outgrows the cache, and touching the hash map only for the few branching states
/// saves most of the misses.
#[derive(Default)]
struct SuffixAutomaton {
    states: Vec<State>,
    /// Overflow transitions: (symbol, next entry of the same state's list).
    symbols: Vec<(u32, u32)>,
    transitions: FxHashMap<u64, u32>,
}

#[derive(Clone, Copy)]
struct State {
    /// Length of the longest string of the state.
    len: u32,
    /// Suffix link (`NONE` for the root).
    link: u32,
    /// End position of the first occurrence of the state's strings (clones inherit it).
    first_end: u32,
    /// The inline transition: symbol and target (`NONE` when the state has none).
    inline_symbol: u32,
    inline_target: u32,
    /// Head of the state's list of overflow symbols in `symbols` (`NONE` when empty).
    first_symbol: u32,
}

#[inline]
fn key(state: u32, symbol: u32) -> u64 {
    (state as u64) << 32 | symbol as u64
}

impl SuffixAutomaton {
    /// Rebuilds the automaton for `seq`, reusing the allocations of the previous build.
    fn build(&mut self, seq: &[u32]) {
        self.reset(seq.len());
        let mut last = self.add_state(0, NONE);
        for (i, &symbol) in seq.iter().enumerate() {
            let cur = self.add_state(self.states[last as usize].len + 1, i as u32);
            let mut p = last;
            // Walk up the suffix links from the old end, adding `symbol` where it is missing.
            let mut existing = NONE;
            while p != NONE {
                match self.target(p, symbol) {
                    Some(target) => {
                        existing = target;
                        break;
                    }
                    None => {
                        self.add_transition(p, symbol, cur);
                        p = self.states[p as usize].link;
                    }
                }
            }
            self.states[cur as usize].link = if existing == NONE {
                0
            } else if self.states[p as usize].len + 1 == self.states[existing as usize].len {
                existing
            } else {
                self.split(p, symbol, existing)
            };
            last = cur;
        }
    }

    #[inline]
    fn target(&self, state: u32, symbol: u32) -> Option<u32> {
        let record = &self.states[state as usize];
        // An empty slot has target NONE (no state has that id), so any u32 symbol is allowed.
        if record.inline_symbol == symbol && record.inline_target != NONE {
            Some(record.inline_target)
        } else if record.first_symbol == NONE {
            None
        } else {
            self.transitions.get(&key(state, symbol)).copied()
        }
    }

    fn add_transition(&mut self, state: u32, symbol: u32, target: u32) {
        let record = &mut self.states[state as usize];
        if record.inline_target == NONE {
            record.inline_symbol = symbol;
            record.inline_target = target;
        } else {
            self.transitions.insert(key(state, symbol), target);
            let entry = self.symbols.len() as u32;
            self.symbols.push((symbol, record.first_symbol));
            record.first_symbol = entry;
        }
    }

    /// Points the existing transition of `state` on `symbol` at `target`.
    fn redirect(&mut self, state: u32, symbol: u32, target: u32) {
        let record = &mut self.states[state as usize];
        if record.inline_symbol == symbol && record.inline_target != NONE {
            record.inline_target = target;
        } else if let Some(slot) = self.transitions.get_mut(&key(state, symbol)) {
            *slot = target;
        }
    }

    /// Clones `q` (reached from `p` by `symbol`) into a state of length `len[p] + 1` and
    /// redirects the transitions that pointed at `q` along `p`'s suffix path. Returns the clone.
    fn split(&mut self, mut p: u32, symbol: u32, q: u32) -> u32 {
        let original = self.states[q as usize];
        let clone = self.add_state(self.states[p as usize].len + 1, original.first_end);
        if original.inline_target != NONE {
            self.add_transition(clone, original.inline_symbol, original.inline_target);
        }
        let mut entry = original.first_symbol;
        while entry != NONE {
            let (s, next) = self.symbols[entry as usize];
            // Every listed symbol has its transition; `if let` just keeps this total.
            if let Some(&target) = self.transitions.get(&key(q, s)) {
                self.add_transition(clone, s, target);
            }
            entry = next;
        }
        self.states[clone as usize].link = original.link;
        self.states[q as usize].link = clone;
        while p != NONE && self.target(p, symbol) == Some(q) {
            self.redirect(p, symbol, clone);
            p = self.states[p as usize].link;
        }
        clone
    }

    /// Λ_i = 1 + ℓ_i for every i, where ℓ_i is the longest prefix of `seq[i..]` that occurs
    /// inside `seq[0..i)`: matching statistics against the automaton of `seq` itself, accepting
    /// a state only if its first occurrence ends before `i`. As `ℓ_{i+1} ≥ ℓ_i − 1`, the match
    /// only drops its first symbol between positions: O(n) steps in total.
    fn for_each_lambda(&self, seq: &[u32], mut visit: impl FnMut(u32)) {
        let n = seq.len();
        let (mut state, mut matched) = (0u32, 0usize);
        for i in 0..n {
            if matched > 0 {
                // Drop seq[i - 1]: the shorter string is in the same state unless that state
                // no longer covers its length, then it is the suffix-link parent's longest.
                matched -= 1;
                let parent = self.states[state as usize].link;
                if matched == self.states[parent as usize].len as usize {
                    state = parent;
                }
            }
            while i + matched < n {
                match self.target(state, seq[i + matched]) {
                    Some(next) if (self.states[next as usize].first_end as usize) < i => {
                        state = next;
                        matched += 1;
                    }
                    _ => break,
                }
            }
            visit(matched as u32 + 1);
        }
    }

    fn reset(&mut self, n: usize) {
        let states = 2 * n + 1;
        self.states.clear();
        self.symbols.clear();
        // Clearing a hash map costs its capacity: after one very long sequence, start afresh
        // rather than pay that for every short one that follows.
        if self.transitions.capacity() > 16 * states + 4096 {
            self.transitions = FxHashMap::default();
        } else {
            self.transitions.clear();
        }
        // At most 2n − 1 states (Blumer et al.). The overflow map is left to grow: how many of
        // the ≤ 3n − 4 transitions overflow the inline slots depends on the sequence.
        self.states.reserve(states);
    }

    fn add_state(&mut self, len: u32, first_end: u32) -> u32 {
        let id = self.states.len() as u32;
        self.states.push(State {
            len,
            link: NONE,
            first_end,
            inline_symbol: NONE,
            inline_target: NONE,
            first_symbol: NONE,
        });
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{self, brute_force_lambdas, XorShift};

    #[test]
    fn exact_by_hand() {
        // i = 2: [1] and [1,2] are in the past [1,2], [1,2,1] is not → 3.
        // i = 3: the suffix [2,1] is in the past [1,2,1] and runs off the end → 5 − 3 + 1.
        assert_eq!(lambdas_exact(&[1, 2, 1, 2, 1]), vec![1, 1, 3, 3, 2]);
        assert_eq!(lambdas_exact(&[7, 7, 7, 7]), vec![1, 2, 3, 2]);
        assert_eq!(lambdas_exact(&[1, 2, 3]), vec![1, 1, 1]);
        assert_eq!(lambdas_exact(&[]), Vec::<u32>::new());
        assert_eq!(lambdas_exact(&[9]), vec![1]);
        // "abab…": the past s[0..i) holds every alternating string of length ≤ i − 1 and, of
        // length i, only the one starting with a; the suffix caps the match at n − i. So
        // ℓ_i = min(i, n − i) for even i and min(i − 1, n − i) for odd i.
        let abab: Vec<u32> = (0..10).map(|i| i % 2).collect();
        assert_eq!(lambdas_exact(&abab), vec![1, 1, 3, 3, 5, 5, 5, 4, 3, 2]);
    }

    #[test]
    fn approx_by_hand() {
        // The set grows by one substring per position, so it can lag behind the exact past.
        assert_eq!(lambdas_approx(&[1, 2, 1, 2, 1]), vec![1, 1, 2, 2, 2]);
        assert_eq!(lambdas_approx(&[7, 7, 7, 7]), vec![1, 2, 3, 2]);
        assert_eq!(lambdas_approx(&[1, 2, 3]), vec![1, 1, 1]);
        assert_eq!(lambdas_approx(&[]), Vec::<u32>::new());
    }

    #[test]
    fn exact_matches_the_definition_on_random_sequences() {
        let mut rng = XorShift::new(1);
        for case in 0..2000 {
            let seq = rng.sequence(1 + case % 4, 40);
            assert_eq!(lambdas_exact(&seq), brute_force_lambdas(&seq), "{seq:?}");
        }
        let high = testing::high_ids(&[rng.sequence(8, 200)]);
        assert_eq!(lambdas_exact(&high[0]), brute_force_lambdas(&high[0]));
    }

    #[test]
    fn both_methods_agree_on_either_side_of_the_switch() {
        let mut rng = XorShift::new(6);
        for len in [SUFFIX_ARRAY_FROM - 1, SUFFIX_ARRAY_FROM, SUFFIX_ARRAY_FROM + 1] {
            for alphabet in [2, 50, 4000] {
                let seq: Vec<u32> = (0..len).map(|_| rng.below(alphabet) as u32).collect();
                let automaton = lambdas_exact_with(&seq, ExactMethod::Automaton);
                assert!(automaton == lambdas_exact_with(&seq, ExactMethod::SuffixArray));
                assert!(automaton == lambdas_exact(&seq));
                let sum: u64 = automaton.iter().map(|&l| l as u64).sum();
                let expected = entropy_from_lambda_sum(len, sum, 2.0);
                assert_eq!(real_entropy(&seq, Estimator::Exact, 2.0).to_bits(), expected.to_bits());
            }
        }
        assert_eq!(ExactMethod::for_length(SUFFIX_ARRAY_FROM - 1), ExactMethod::Automaton);
        assert_eq!(ExactMethod::for_length(SUFFIX_ARRAY_FROM), ExactMethod::SuffixArray);
    }

    #[test]
    fn any_u32_symbol_works() {
        // u32::MAX doubles as "no state" inside the automaton; as a symbol it must be ordinary.
        let mut rng = XorShift::new(3);
        for _ in 0..300 {
            let seq: Vec<u32> = rng.sequence(3, 30).into_iter().map(|s| u32::MAX - s).collect();
            assert_eq!(lambdas_exact(&seq), brute_force_lambdas(&seq), "{seq:?}");
        }
    }

    #[test]
    fn automaton_is_reused_correctly() {
        // A long sequence, then short ones, through one automaton: stale state must not leak.
        let mut rng = XorShift::new(2);
        let mut automaton = SuffixAutomaton::default();
        for len in [300, 3, 0, 50, 1, 120] {
            let seq = rng.sequence(3, len);
            automaton.build(&seq);
            let mut got = Vec::new();
            automaton.for_each_lambda(&seq, |l| got.push(l));
            assert_eq!(got, brute_force_lambdas(&seq));
        }
    }

    #[test]
    fn entropy_by_hand() {
        assert!(real_entropy(&[], Estimator::Exact, 2.0).is_nan());
        assert!(real_entropy(&[], Estimator::Approx, 2.0).is_nan());
        assert_eq!(real_entropy(&[5], Estimator::Exact, 2.0), 0.0);
        assert_eq!(real_entropy(&[1, 2, 1, 2, 1], Estimator::Exact, 2.0), 5.0 * 5f64.log2() / 10.0);
        assert_eq!(real_entropy(&[1, 2, 1, 2, 1], Estimator::Approx, 2.0), 5.0 * 5f64.log2() / 8.0);
    }

    #[test]
    fn all_distinct_gives_log_n() {
        let seq: Vec<u32> = (0..1000).map(|i| i * 2_000_003 % 2_147_483_647).collect();
        for estimator in [Estimator::Exact, Estimator::Approx] {
            // n·log n / n rounds twice, so "= log n" holds to an ulp, and exactly for n = 2^k.
            assert!((real_entropy(&seq, estimator, 2.0) - 1000f64.log2()).abs() < 1e-12);
            assert!((real_entropy(&seq, estimator, std::f64::consts::E) - 1000f64.ln()).abs() < 1e-12);
            let bits = real_entropy(&seq[..8], estimator, 2.0);
            assert_eq!(bits, 3.0);
        }
    }

    #[test]
    fn many_equals_one_by_one() {
        let mut rng = XorShift::new(3);
        let mut seqs: Vec<Vec<u32>> = (0..200).map(|i| rng.sequence(1 + i % 5, 60)).collect();
        // Long ones too, which take the suffix-array path, mixed with short ones on the workers.
        for alphabet in [2, 50] {
            seqs.insert(
                50 * alphabet % 199,
                (0..SUFFIX_ARRAY_FROM + 100).map(|_| rng.below(alphabet) as u32).collect(),
            );
        }
        let slices = testing::slices(&seqs);
        for estimator in [Estimator::Exact, Estimator::Approx] {
            for base in [2.0, std::f64::consts::E, 10.0] {
                let many = real_entropy_many(&slices, estimator, base);
                for (seq, got) in seqs.iter().zip(&many) {
                    let one = real_entropy(seq, estimator, base);
                    assert!(one.to_bits() == got.to_bits(), "{seq:?}: {one} vs {got}");
                }
            }
        }
        assert!(real_entropy_many(&[], Estimator::Exact, 2.0).is_empty());
    }

    /// ns per item of `method` over `seqs`, run `reps` times.
    fn ns_per_item(seqs: &[Vec<u32>], method: ExactMethod, reps: usize) -> f64 {
        let started = std::time::Instant::now();
        for _ in 0..reps {
            for seq in seqs {
                std::hint::black_box(lambdas_exact_with(seq, method));
            }
        }
        let items: usize = seqs.iter().map(Vec::len).sum();
        started.elapsed().as_nanos() as f64 / (reps * items) as f64
    }

    /// Timing only: both exact methods, in ns per item, on what decides `SUFFIX_ARRAY_FROM`
    /// (many sequences of one length, each new to the caches) and on one long sequence.
    #[test]
    #[ignore]
    fn timing_exact_methods() {
        let mut rng = XorShift::new(5);
        let methods = [ExactMethod::Automaton, ExactMethod::SuffixArray];
        // Rating-like (mostly distinct of 3,706 items), 50 items, 4 items.
        for (what, alphabet) in [("3,706 items", 3706), ("50 items", 50), ("4 items", 4)] {
            for len in [300, 1000, 3000, SUFFIX_ARRAY_FROM, 30_000] {
                let seqs: Vec<Vec<u32>> =
                    (0..600_000 / len).map(|_| (0..len).map(|_| rng.below(alphabet) as u32).collect()).collect();
                let [a, s] = methods.map(|m| ns_per_item(&seqs, m, 2));
                println!("{what:>12}, n = {len:>6}: automaton {a:6.1}, suffix array {s:6.1} ns/item");
            }
        }
        for n in [1_000, 10_000, 100_000, 1_000_000, 4_000_000] {
            let seq = vec![(0..n).map(|_| rng.below(50) as u32).collect::<Vec<u32>>()];
            let [a, s] = methods.map(|m| ns_per_item(&seq, m, (2_000_000 / n).max(1)));
            println!("one sequence over 50 items, n = {n:>9}: automaton {a:6.1}, suffix array {s:6.1} ns/item");
        }
        for (what, seq) in testing::structured_sequences(1_000_000, &mut rng) {
            let [a, s] = methods.map(|m| ns_per_item(std::slice::from_ref(&seq), m, 1));
            println!("{what:>22}, n = 1e6: automaton {a:6.1}, suffix array {s:6.1} ns/item");
        }
    }

    /// Timing only (run with `cargo test --release -p unids-core -- --ignored --nocapture`).
    #[test]
    #[ignore]
    fn timing_exact() {
        let mut rng = XorShift::new(4);
        let long: Vec<u32> = (0..1_000_000).map(|_| rng.below(4) as u32).collect();
        let started = std::time::Instant::now();
        let s = real_entropy(&long, Estimator::Exact, 2.0);
        println!("exact, 1e6 symbols over 4 items: {:?} (S = {s:.4})", started.elapsed());
        let distinct: Vec<u32> = (0..1_000_000).collect();
        let started = std::time::Instant::now();
        real_entropy(&distinct, Estimator::Exact, 2.0);
        println!("exact, 1e6 distinct symbols: {:?}", started.elapsed());
        // ML-1M-like: 6,040 users of ~165 mostly distinct items out of 3,706.
        let users: Vec<Vec<u32>> =
            (0..6040).map(|_| (0..10 + rng.below(310)).map(|_| rng.below(3706) as u32).collect()).collect();
        let slices = testing::slices(&users);
        let symbols: usize = users.iter().map(Vec::len).sum();
        for estimator in [Estimator::Exact, Estimator::Approx] {
            let started = std::time::Instant::now();
            real_entropy_many(&slices, estimator, 2.0);
            println!("{estimator:?}, {} users, {symbols} symbols: {:?}", users.len(), started.elapsed());
        }
    }
}
