//! Exact availability confidence.
//!
//! A payload is unrecoverable only if at most 63 of its 128 columns are served. Suppose
//! it is: then `s` distinct uniformly drawn columns are a hypergeometric draw from 128
//! with at most 63 "good", and the chance of seeing at least `k` verified columns is
//! largest when exactly 63 are good:
//! `P(X ≥ k) = Σ_{x ≥ k} C(63, x) · C(65, s − x) / C(128, s)`.
//! The confidence after `k` of `s` samples verified is `1 − P(X ≥ k)`; with every sample
//! verified it is the familiar `1 − C(63, s) / C(128, s)`. A failed sample can only
//! lower it. Binomials up to `C(128, 64) ≈ 2.4·10³⁷` are exact in `u128`.

use std::sync::OnceLock;

use zg_primitives::{CELLS_PER_EXT_BLOB, DATA_COLUMNS};

const N: usize = CELLS_PER_EXT_BLOB;
/// Most columns served when a payload is unrecoverable.
const GOOD_WHEN_UNRECOVERABLE: usize = DATA_COLUMNS - 1;

fn pascal() -> &'static Vec<Vec<u128>> {
    static TABLE: OnceLock<Vec<Vec<u128>>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = vec![vec![0u128; N + 1]; N + 1];
        for n in 0..=N {
            t[n][0] = 1;
            for k in 1..=n {
                t[n][k] = t[n - 1][k - 1] + if k < n { t[n - 1][k] } else { 0 };
            }
        }
        t
    })
}

/// `C(n, k)` for `n ≤ 128`, exactly.
pub fn binomial(n: usize, k: usize) -> u128 {
    if k > n || n > N {
        return 0;
    }
    pascal()[n][k]
}

/// Confidence that a payload is recoverable after `verified` of `samples` distinct
/// uniformly drawn columns verified (the rest failed).
pub fn confidence(verified: usize, samples: usize) -> f64 {
    let samples = samples.min(N);
    let verified = verified.min(samples);
    if verified > GOOD_WHEN_UNRECOVERABLE {
        // More verified distinct columns than an unrecoverable payload can serve.
        return 1.0;
    }
    let bad = N - GOOD_WHEN_UNRECOVERABLE;
    // Σ_{x ≥ verified} C(63, x)·C(65, s − x); each term ≤ C(128, s) so the sum fits
    // (it is at most C(128, s) by Vandermonde).
    let fooled: u128 = (verified..=samples.min(GOOD_WHEN_UNRECOVERABLE))
        .filter(|&x| samples - x <= bad)
        .map(|x| binomial(GOOD_WHEN_UNRECOVERABLE, x) * binomial(bad, samples - x))
        .sum();
    let total = binomial(N, samples);
    1.0 - ratio(fooled, total)
}

/// `a / b` as f64 (each conversion is correctly rounded, so the ratio keeps ~16 digits).
fn ratio(a: u128, b: u128) -> f64 {
    if b == 0 {
        return 1.0;
    }
    a as f64 / b as f64
}

/// Least number of samples that, all verified, reach `target`.
pub fn samples_needed(target: f64) -> usize {
    (1..=N).find(|&s| confidence(s, s) >= target).unwrap_or(N)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binomials_are_exact() {
        assert_eq!(binomial(128, 0), 1);
        assert_eq!(binomial(128, 1), 128);
        assert_eq!(binomial(10, 3), 120);
        assert_eq!(binomial(63, 2), 1953);
        // C(128, 64), exact.
        assert_eq!(
            binomial(128, 64),
            23_951_146_041_928_082_866_135_587_776_380_551_750
        );
        assert_eq!(binomial(5, 6), 0);
    }

    #[test]
    fn matches_the_closed_form_when_all_verify() {
        for s in 1..=30 {
            assert!(
                (confidence(s, s) - zg_primitives::availability_confidence(s)).abs() < 1e-12,
                "s = {s}"
            );
        }
    }

    #[test]
    fn exact_values() {
        // One sample: fooled with probability 63/128.
        assert!((confidence(1, 1) - 65.0 / 128.0).abs() < 1e-15);
        // Two samples, both verified: C(63,2)/C(128,2) = 1953/8128.
        assert!((confidence(2, 2) - (1.0 - 1953.0 / 8128.0)).abs() < 1e-15);
        // Two samples, one verified: P(X ≥ 1) = 1 − C(65,2)/C(128,2) = 1 − 2080/8128.
        assert!((confidence(1, 2) - 2080.0 / 8128.0).abs() < 1e-15);
        // 16 of 16: 1 − 3.9e-6 (the design's figure).
        assert!((1.0 - confidence(16, 16) - 3.9e-6).abs() < 0.1e-6);
        // Failures only lower confidence; none verified is no confidence.
        assert!(confidence(15, 16) < confidence(16, 16));
        assert_eq!(confidence(0, 16), 0.0);
        assert_eq!(confidence(64, 64), 1.0);
        assert_eq!(samples_needed(0.9999), 13);
    }
}
