//! Π_max by inverting Fano's inequality (docs/ALGORITHMS.md §2).

use rayon::prelude::*;

/// Bisection stops once the bracket is narrower than this.
const BRACKET: f64 = 1e-12;

/// Π solving `S = H_b(Π) + (1 − Π)·log2(N − 1)` on `[1/N, 1]`; `S` in bits.
pub fn max_predictability(entropy_bits: f64, n_symbols: f64) -> f64 {
    let (s, n) = (entropy_bits, n_symbols);
    if s.is_nan() || n.is_nan() {
        return f64::NAN;
    }
    if n <= 1.0 || s <= 0.0 {
        return 1.0;
    }
    if s >= n.log2() {
        return 1.0 / n; // no solution: saturated
    }
    let (mut lo, mut hi) = (1.0 / n, 1.0);
    // The bracket halves every step, so this ends after about 40 steps; the iteration cap only
    // guards against a bracket that floating point could no longer split.
    for _ in 0..200 {
        if hi - lo < BRACKET {
            break;
        }
        let mid = 0.5 * (lo + hi);
        if fano_rhs(mid, n) > s {
            lo = mid; // the right side is still above S: the root lies further right
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// Element-wise `max_predictability`, in parallel. Both slices have the same length (extra
/// entries of the longer one are ignored).
pub fn max_predictability_many(entropy_bits: &[f64], n_symbols: &[f64]) -> Vec<f64> {
    entropy_bits.par_iter().zip(n_symbols.par_iter()).map(|(&s, &n)| max_predictability(s, n)).collect()
}

/// `H_b(Π) + (1 − Π)·log2(N − 1)`: decreasing on `[1/N, 1]` from `log2 N` to 0. The operation
/// order is the reference's.
fn fano_rhs(pi: f64, n: f64) -> f64 {
    plogp(pi) + plogp(1.0 - pi) + (1.0 - pi) * (n - 1.0).log2()
}

/// `−p·log2 p` with `0·log 0 = 0`.
fn plogp(p: f64) -> f64 {
    if p <= 0.0 {
        0.0
    } else {
        -p * p.log2()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edge_cases() {
        assert!(max_predictability(f64::NAN, 10.0).is_nan());
        assert!(max_predictability(1.0, f64::NAN).is_nan());
        assert!(max_predictability(f64::NAN, 1.0).is_nan()); // NaN wins over N ≤ 1
        assert_eq!(max_predictability(3.0, 1.0), 1.0);
        assert_eq!(max_predictability(3.0, 0.0), 1.0);
        assert_eq!(max_predictability(3.0, -4.0), 1.0);
        assert_eq!(max_predictability(0.0, 10.0), 1.0);
        assert_eq!(max_predictability(-0.0, 10.0), 1.0);
        assert_eq!(max_predictability(-1.0, 10.0), 1.0);
        assert_eq!(max_predictability(1.0, 2.0), 0.5); // S = log2 N: saturated
        assert_eq!(max_predictability(5.0, 4.0), 0.25);
        assert_eq!(max_predictability(f64::INFINITY, 100.0), 0.01);
        assert_eq!(max_predictability(100.0_f64.log2(), 100.0), 0.01);
        assert_eq!(max_predictability(2.0, 1.5), 1.0 / 1.5);
    }

    #[test]
    fn binary_case_by_hand() {
        // N = 2: H_b(Π) = 0.5 at Π = 1 − 0.1100278644…
        assert!((max_predictability(0.5, 2.0) - 0.889_972_135_6).abs() < 1e-9);
    }

    #[test]
    fn round_trip() {
        for n in [2.0, 3.0, 17.0, 100.0, 3706.0, 1e6] {
            for step in 1..40 {
                let pi = 1.0 / n + (1.0 - 1.0 / n) * step as f64 / 40.0;
                let s = fano_rhs(pi, n);
                let got = max_predictability(s, n);
                assert!((1.0 / n..=1.0).contains(&got));
                assert!((got - pi).abs() < 1e-9, "N = {n}, Π = {pi}: got {got}");
                assert!((fano_rhs(got, n) - s).abs() < 1e-9);
            }
        }
    }

    #[test]
    fn many_is_element_wise() {
        let s = [0.3, 2.0, f64::NAN, 6.6, 0.0];
        let n = [100.0, 100.0, 5.0, 100.0, 3.0];
        let many = max_predictability_many(&s, &n);
        let one: Vec<f64> = s.iter().zip(&n).map(|(&s, &n)| max_predictability(s, n)).collect();
        assert_eq!(many.len(), 5);
        for (a, b) in many.iter().zip(&one) {
            assert!(a == b || (a.is_nan() && b.is_nan()));
        }
        assert!(max_predictability_many(&[], &[]).is_empty());
    }
}
