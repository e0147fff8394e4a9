//! Longest previous non-overlapping factors from a suffix array: the exact estimator's Λ for
//! long sequences, where the suffix automaton of `lz` no longer fits in the caches
//! (docs/ALGORITHMS.md §1).
//!
//! `ℓ_i = max over j < i of min(lcp(i, j), i − j)`: an occurrence at `j` is usable for its first
//! `i − j` symbols only, since it must end before `i`. Only some `j` can be the best. Scanning
//! the suffix array leftwards from suffix `i`, the common prefix with `i` only shrinks, so a
//! suffix is worth looking at only if it starts before every suffix passed so far: those are
//! the *chain* of `i` on that side, and the same holds rightwards. Both chains are ancestor paths
//! in two trees over the positions — the parent of `j` is the nearest suffix on that side that
//! starts before `j` (previous / next smaller value) — so one pass over the suffix array builds
//! them, and then each position walks its two chains. Along a chain the common prefix shrinks
//! and `i − j` grows, so a walk stops at the first occurrence that no longer overlaps `i`.
//! Before that, every step overlaps `i`: the text is periodic there, and the steps of one
//! period are taken in one go (`ChainTrees::runs`). With the floor `ℓ_i ≥ ℓ_{i−1} − 1` a walk
//! takes well under one step per position on average, periodic and Fibonacci texts included
//! (the structured sequences of the tests); the suffix array and the sweeps are O(n).

use crate::prefetch::{prefetch, AHEAD};
use crate::suffix_array::{lcp_by_position, suffix_array, terminated_dense_text};

/// No parent: the root of a chain tree.
const NONE: u32 = u32::MAX;

/// The edge from a position to its parent in one of the chain trees.
#[derive(Clone, Copy)]
struct Link {
    /// The nearest suffix on this side of the suffix array that starts earlier (`NONE` if none).
    parent: u32,
    /// Common prefix length of the position's suffix and the parent's.
    lcp: u32,
}

const ROOT: Link = Link { parent: NONE, lcp: 0 };

/// Index of a side in `[Link; 2]`: towards smaller suffixes, towards larger ones.
const LEFT: usize = 0;
const RIGHT: usize = 1;

/// Both chain trees, per position. A position's two links sit together because the sweep that
/// finds them usually writes the second soon after the first.
struct ChainTrees {
    links: Vec<[Link; 2]>,
    /// How many edges from here on form one periodic stretch: each of them joins `j` to
    /// `j − p` with the same `p` and `lcp ≥ p`. Then the next one has `lcp` exactly `p` longer
    /// (the two squares overlap by `p`, so they lie in one run of period `p`, which ends where
    /// the shorter common prefix stops), so everything along the stretch shares its first `lcp`
    /// with the start: a walk can jump to any point of it. Read only where occurrences overlap.
    runs: Vec<[u32; 2]>,
}

/// Calls `visit(Λ_i)` for every position `i` of `seq`, in order.
// Kept out of line: inlined into the per-sequence loop of `lz`, it slowed the automaton path
// that short sequences take (measured ~4% on ML-1M).
#[inline(never)]
pub(crate) fn for_each_lambda(seq: &[u32], mut visit: impl FnMut(u32)) {
    let trees = ChainTrees::new(seq);
    let mut previous = 0u32;
    for (i, links) in trees.links.iter().enumerate() {
        // ℓ_i ≥ ℓ_{i−1} − 1 (drop the first symbol of the previous match): a floor that lets
        // the walks stop early.
        let floor = previous.saturating_sub(1);
        let best = trees.best_along_chain(i, LEFT, links[LEFT], floor);
        let best = trees.best_along_chain(i, RIGHT, links[RIGHT], best);
        visit(best + 1);
        previous = best;
    }
}

impl ChainTrees {
    fn new(seq: &[u32]) -> Self {
        let (text, alphabet) = terminated_dense_text(seq);
        let sa = suffix_array(&text, alphabet);
        let plcp = lcp_by_position(&text, &sa);
        drop(text);
        let links = nearest_earlier_suffixes(&sa, &plcp);
        drop((sa, plcp));
        let runs = periodic_runs(&links);
        Self { links, runs }
    }

    /// The larger of `best` and the best `min(lcp(i, j), i − j)` over the chain of `i` on `side`
    /// (starting with `first`, the link of `i` itself), skipping what cannot beat `best`.
    fn best_along_chain(&self, i: usize, side: usize, first: Link, mut best: u32) -> u32 {
        let (mut j, mut lcp) = (first.parent, first.lcp);
        // The common prefix with i only shrinks along the chain: nothing past lcp ≤ best helps.
        while j != NONE && lcp > best {
            let distance = (i - j as usize) as u32;
            if distance >= lcp {
                // The first occurrence that ends before i; later ones share less with i.
                return lcp;
            }
            // It overlaps i, so only its first `distance` symbols count.
            best = best.max(distance);
            let link = self.links[j as usize][side];
            let run = self.runs[j as usize][side];
            if run == 0 {
                lcp = lcp.min(link.lcp);
                j = link.parent;
                continue;
            }
            // A periodic stretch: j − k·period for k = 1..=run, all sharing `lcp_run` with i.
            let period = j - link.parent;
            let lcp_run = lcp.min(link.lcp);
            if lcp_run <= best {
                return best;
            }
            // The first k whose occurrence ends before i scores lcp_run, the most any further
            // one can.
            let first_clear = lcp_run.saturating_sub(distance).div_ceil(period).max(1);
            if first_clear <= run {
                return lcp_run;
            }
            // All of the stretch overlaps i: carry on from its far end (scored at the loop's top).
            j -= run * period;
            lcp = lcp_run;
        }
        best
    }
}

/// For every position, its parent in both chain trees.
fn nearest_earlier_suffixes(sa: &[u32], plcp: &[u32]) -> Vec<[Link; 2]> {
    let mut links = vec![[ROOT; 2]; sa.len() - 1];
    // One sweep finds both nearest smaller values: a stack of the suffixes that start earlier
    // than everything after them so far, each with its common prefix with the one below it. A
    // suffix popped by a smaller start has found its right parent. The terminator (rank 0) is
    // nobody's candidate: it starts after every real position.
    let mut stack: Vec<(u32, u32)> = Vec::new();
    for (r, &start) in sa.iter().enumerate().skip(1) {
        // Both accesses below land at random: ask for them early.
        if let Some(&ahead) = sa.get(r + AHEAD) {
            prefetch(plcp, ahead as usize);
            prefetch(&links, ahead as usize);
        }
        // Common prefix with the previous suffix of the array, i.e. with the top of the stack.
        let mut lcp = plcp[start as usize];
        while let Some(&(top, below)) = stack.last() {
            if top < start {
                break;
            }
            links[top as usize][RIGHT] = Link { parent: start, lcp };
            lcp = lcp.min(below);
            stack.pop();
        }
        if let Some(&(top, _)) = stack.last() {
            links[start as usize][LEFT] = Link { parent: top, lcp };
        }
        stack.push((start, lcp));
    }
    links
}

/// `ChainTrees::runs`. Parents start earlier than their children, so one pass in position order
/// sees every parent first.
fn periodic_runs(links: &[[Link; 2]]) -> Vec<[u32; 2]> {
    let mut runs = vec![[0u32; 2]; links.len()];
    for j in 0..links.len() {
        for side in [LEFT, RIGHT] {
            let Link { parent, lcp } = links[j][side];
            let period = (j as u32).wrapping_sub(parent);
            // The root's parent NONE makes `period` wrap to a value above any lcp.
            if parent == NONE || lcp < period {
                continue;
            }
            let up = links[parent as usize][side];
            let continues = up.parent != NONE && parent - up.parent == period && up.lcp >= period;
            runs[j][side] = if continues { runs[parent as usize][side] + 1 } else { 1 };
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lz::{lambdas_exact_with, ExactMethod};
    use crate::testing::{brute_force_lambdas, high_ids, structured_sequences, XorShift};

    fn lambdas(seq: &[u32]) -> Vec<u32> {
        let mut out = Vec::with_capacity(seq.len());
        for_each_lambda(seq, |l| out.push(l));
        out
    }

    #[test]
    fn by_hand() {
        assert_eq!(lambdas(&[1, 2, 1, 2, 1]), vec![1, 1, 3, 3, 2]);
        assert_eq!(lambdas(&[7, 7, 7, 7]), vec![1, 2, 3, 2]);
        assert_eq!(lambdas(&[1, 2, 3]), vec![1, 1, 1]);
        assert_eq!(lambdas(&[]), Vec::<u32>::new());
        assert_eq!(lambdas(&[9]), vec![1]);
        assert_eq!(lambdas(&[9, 9]), vec![1, 2]);
        assert_eq!(lambdas(&[9, 8]), vec![1, 1]);
        let abab: Vec<u32> = (0..10).map(|i| i % 2).collect();
        assert_eq!(lambdas(&abab), vec![1, 1, 3, 3, 5, 5, 5, 4, 3, 2]);
    }

    #[test]
    fn matches_the_definition_on_random_sequences() {
        let mut rng = XorShift::new(21);
        for case in 0..3000 {
            let seq = rng.sequence(1 + case % 5, 60);
            assert_eq!(lambdas(&seq), brute_force_lambdas(&seq), "{seq:?}");
        }
        let high = high_ids(&[rng.sequence(8, 300)]);
        assert_eq!(lambdas(&high[0]), brute_force_lambdas(&high[0]));
        let top: Vec<u32> = rng.sequence(3, 200).into_iter().map(|s| u32::MAX - s).collect();
        assert_eq!(lambdas(&top), brute_force_lambdas(&top));
    }

    #[test]
    fn matches_the_definition_on_structured_sequences() {
        let mut rng = XorShift::new(22);
        for n in [2, 3, 50, 151] {
            for (what, seq) in structured_sequences(n, &mut rng) {
                assert_eq!(lambdas(&seq), brute_force_lambdas(&seq), "{what}, n = {n}");
            }
        }
    }

    #[test]
    fn matches_the_automaton_on_long_sequences() {
        // Long enough for deep SA-IS recursion and long periodic stretches (`Link::run`).
        let mut rng = XorShift::new(23);
        let mut cases = structured_sequences(20_000, &mut rng);
        for alphabet in [2, 3, 50, 5000] {
            cases.push(("random", (0..20_000).map(|_| rng.below(alphabet) as u32).collect()));
        }
        for (what, seq) in cases {
            assert!(lambdas(&seq) == lambdas_exact_with(&seq, ExactMethod::Automaton), "{what}");
        }
    }
}
