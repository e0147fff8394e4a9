//! Suffix array (SA-IS) and LCP array (Φ method) of a sequence over a dense integer alphabet.
//! Used by `lpnf` for the exact entropy of long sequences (docs/ALGORITHMS.md §1).
//!
//! Every function here takes a *terminated* text: symbols in `1..alphabet`, then one `0`.
//! The terminator is the smallest suffix, so the suffix array starts with it, and it stops
//! every symbol-by-symbol comparison before the end of the text.

use crate::prefetch::{prefetch, AHEAD};

/// Empty slot of the suffix array under construction (no suffix starts there).
const EMPTY: u32 = u32::MAX;

/// `text` mapped to dense symbols `1..=k` in order of first appearance, then the terminator `0`,
/// and the alphabet size `k + 1`. The suffix order depends on these labels, but nothing computed
/// from it afterwards does: equal stays equal, which is all that common prefixes look at.
pub(crate) fn terminated_dense_text(seq: &[u32]) -> (Vec<u32>, usize) {
    let mut labels = rustc_hash::FxHashMap::default();
    let mut text = Vec::with_capacity(seq.len() + 1);
    for &item in seq {
        let next = labels.len() as u32 + 1;
        text.push(*labels.entry(item).or_insert(next));
    }
    text.push(0);
    (text, labels.len() + 1)
}

/// The suffix array of a terminated text: `sa[r]` is the start of the `r`-th smallest suffix.
/// SA-IS (Nong, Zhang & Chan 2009): O(n) time for an alphabet of size O(n).
pub(crate) fn suffix_array(text: &[u32], alphabet: usize) -> Vec<u32> {
    debug_assert!(text.last() == Some(&0) && text[..text.len() - 1].iter().all(|&c| c > 0));
    let mut sa = vec![EMPTY; text.len()];
    sais(text, alphabet, &mut sa);
    sa
}

/// `plcp[i]` = length of the longest common prefix of suffix `i` and the suffix just before it in
/// `sa` (0 for the first). Kärkkäinen, Manzini & Puglisi's Φ method: the same
/// `plcp[i + 1] ≥ plcp[i] − 1` argument as Kasai's, but it walks the text in order, so only the
/// comparison partner is a random access.
pub(crate) fn lcp_by_position(text: &[u32], sa: &[u32]) -> Vec<u32> {
    // Φ[sa[r]] = sa[r − 1]; then overwritten in place by the answer, position by position.
    let mut plcp = vec![EMPTY; text.len()];
    for pair in sa.windows(2) {
        plcp[pair[1] as usize] = pair[0];
    }
    let mut common = 0usize;
    for i in 0..text.len() {
        // The slot ahead still holds Φ: the partner whose symbols will be compared there.
        if let Some(&ahead) = plcp.get(i + AHEAD) {
            prefetch(text, ahead as usize);
        }
        let previous = plcp[i];
        if previous == EMPTY {
            plcp[i] = 0;
            common = 0;
            continue;
        }
        let j = previous as usize;
        // The unique terminator differs from every other symbol, so this stops inside the text.
        while text[i + common] == text[j + common] {
            common += 1;
        }
        plcp[i] = common as u32;
        common = common.saturating_sub(1);
    }
    plcp
}

/// One level of SA-IS: `text` is terminated, `sa` has its length.
fn sais(text: &[u32], alphabet: usize, sa: &mut [u32]) {
    let n = text.len();
    if n == 1 {
        sa[0] = 0;
        return;
    }
    let is_s = suffix_types(text);
    let is_lms = |i: u32| i > 0 && is_s[i as usize] && !is_s[i as usize - 1];
    let lms_in_text_order: Vec<u32> = (1..n as u32).filter(|&i| is_lms(i)).collect();
    let mut counts = vec![0u32; alphabet];
    for &symbol in text {
        counts[symbol as usize] += 1;
    }

    // 1. LMS positions at the ends of their buckets, then induce: sorts the LMS substrings.
    sa.fill(EMPTY);
    place_at_tails(text, &counts, lms_in_text_order.iter().copied(), sa);
    induce(text, &counts, sa);

    // 2. Name the sorted LMS substrings (equal substrings share a name), in text order.
    let lms_count = lms_in_text_order.len();
    let mut sorted = 0;
    for r in 0..n {
        // Branch-free compaction: the test is unpredictable, the write is harmless (sorted ≤ r).
        let i = sa[r];
        sa[sorted] = i;
        sorted += is_lms(i) as usize;
    }
    debug_assert_eq!(sorted, lms_count);
    // LMS positions are at least two apart, so `i / 2` indexes them without collisions. First
    // each slot holds the length of its LMS substring (to the next LMS position, inclusive):
    // two substrings are equal iff their lengths and symbols are (the types follow from the
    // symbols, as both end on an S-type position).
    let mut name_at = vec![EMPTY; n / 2 + 1];
    for pair in lms_in_text_order.windows(2) {
        name_at[pair[0] as usize / 2] = pair[1] - pair[0] + 1;
    }
    name_at[(n - 1) / 2] = 1; // the terminator: the last LMS position, a substring of its own
    let mut names = 0u32;
    let mut previous: Option<(usize, u32)> = None;
    for &start in &sa[..lms_count] {
        let start = start as usize;
        let len = name_at[start / 2];
        let same = previous
            .is_some_and(|(p, p_len)| p_len == len && text[p..p + len as usize] == text[start..start + len as usize]);
        names += !same as u32;
        previous = Some((start, len));
        name_at[start / 2] = names - 1;
    }
    let reduced: Vec<u32> = lms_in_text_order.iter().map(|&i| name_at[i as usize / 2]).collect();
    drop(name_at);

    // 3. Sort the LMS suffixes: directly when every name is unique, else recursively. The
    //    reduced text ends with the terminator's LMS position, whose name 0 is unique.
    let mut reduced_sa = vec![EMPTY; lms_count];
    if names as usize == lms_count {
        for (k, &name) in reduced.iter().enumerate() {
            reduced_sa[name as usize] = k as u32;
        }
    } else {
        sais(&reduced, names as usize, &mut reduced_sa);
    }
    drop(reduced);

    // 4. The sorted LMS suffixes at the ends of their buckets, largest first; induce the rest.
    sa.fill(EMPTY);
    let sorted_lms = reduced_sa.iter().rev().map(|&k| lms_in_text_order[k as usize]);
    place_at_tails(text, &counts, sorted_lms, sa);
    induce(text, &counts, sa);
}

/// `is_s[i]`: suffix `i` is smaller than suffix `i + 1` (S-type); the terminator is S-type.
fn suffix_types(text: &[u32]) -> Vec<bool> {
    let n = text.len();
    let mut is_s = vec![false; n];
    is_s[n - 1] = true;
    for i in (0..n - 1).rev() {
        is_s[i] = text[i] < text[i + 1] || (text[i] == text[i + 1] && is_s[i + 1]);
    }
    is_s
}

/// Puts `positions` at the ends of their buckets, each one left of the previous in its bucket.
fn place_at_tails(text: &[u32], counts: &[u32], positions: impl Iterator<Item = u32>, sa: &mut [u32]) {
    let mut tails = bucket_tails(counts);
    for i in positions {
        let bucket = &mut tails[text[i as usize] as usize];
        *bucket -= 1;
        sa[*bucket as usize] = i;
    }
}

/// Induced sorting: from the LMS suffixes in place, the L-type suffixes left to right into the
/// bucket heads, then the S-type ones right to left into the bucket tails. Types are read off
/// the text rather than a type array, which would be one more random access per entry.
fn induce(text: &[u32], counts: &[u32], sa: &mut [u32]) {
    let mut heads = bucket_heads(counts);
    for r in 0..sa.len() {
        // The slot ahead may still change before the scan gets there; then the hint is wasted.
        if let Some(&ahead) = sa.get(r + AHEAD) {
            prefetch(text, (ahead as usize).wrapping_sub(1));
        }
        let i = sa[r];
        // Only L-type and LMS suffixes are in the array yet. Before either, `text[i − 1] ≥
        // text[i]` is exactly "L-type" (before an L-type: ≥; before an S-type, an L is >).
        if i != EMPTY && i > 0 && text[i as usize - 1] >= text[i as usize] {
            let bucket = &mut heads[text[i as usize - 1] as usize];
            sa[*bucket as usize] = i - 1;
            *bucket += 1;
        }
    }
    let mut tails = bucket_tails(counts);
    for r in (0..sa.len()).rev() {
        if let Some(&ahead) = r.checked_sub(AHEAD).map(|a| &sa[a]) {
            prefetch(text, (ahead as usize).wrapping_sub(1));
        }
        let i = sa[r];
        if i == EMPTY || i == 0 {
            continue;
        }
        let (before, at) = (text[i as usize - 1], text[i as usize]);
        // `i` is S-type iff it sits in the part of its bucket this pass has filled already
        // (S-type suffixes take the tail of a bucket, and every slot holds its final suffix
        // when the scan reaches it). An equal symbol before an S-type is S-type.
        if before < at || (before == at && r as u32 >= tails[at as usize]) {
            let bucket = &mut tails[before as usize];
            *bucket -= 1;
            sa[*bucket as usize] = i - 1;
        }
    }
}

fn bucket_heads(counts: &[u32]) -> Vec<u32> {
    let mut start = 0;
    counts
        .iter()
        .map(|&c| {
            start += c;
            start - c
        })
        .collect()
}

fn bucket_tails(counts: &[u32]) -> Vec<u32> {
    let mut end = 0;
    counts
        .iter()
        .map(|&c| {
            end += c;
            end
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{fibonacci_word, structured_sequences, XorShift};

    fn naive_suffix_array(text: &[u32]) -> Vec<u32> {
        let mut sa: Vec<u32> = (0..text.len() as u32).collect();
        sa.sort_by(|&a, &b| text[a as usize..].cmp(&text[b as usize..]));
        sa
    }

    fn check(seq: &[u32]) {
        let (text, alphabet) = terminated_dense_text(seq);
        let sa = suffix_array(&text, alphabet);
        assert_eq!(sa, naive_suffix_array(&text), "{seq:?}");
        let plcp = lcp_by_position(&text, &sa);
        for r in 1..sa.len() {
            let (a, b) = (&text[sa[r - 1] as usize..], &text[sa[r] as usize..]);
            let common = a.iter().zip(b).take_while(|(x, y)| x == y).count();
            assert_eq!(plcp[sa[r] as usize] as usize, common, "{seq:?}");
        }
        assert_eq!(plcp[sa[0] as usize], 0);
    }

    #[test]
    fn matches_sorting_the_suffixes() {
        for seq in [vec![], vec![5], vec![5, 5], vec![3, 1], vec![7; 100], vec![u32::MAX, 0, u32::MAX]] {
            check(&seq);
        }
        let mut rng = XorShift::new(11);
        for case in 0..3000 {
            check(&rng.sequence(1 + case % 6, 80));
        }
        // Deep recursion: periodic and Fibonacci texts reduce to long LMS texts again and again.
        let periodic: Vec<u32> = (0..500).map(|i| [1, 2, 1, 2, 2][i % 5]).collect();
        check(&periodic);
        check(&fibonacci_word(700));
        for (_, seq) in structured_sequences(400, &mut rng) {
            check(&seq);
        }
    }
}
