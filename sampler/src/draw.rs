//! Drawing sample columns: distinct, uniform, from a cryptographically secure generator
//! (a node cannot predict which columns a light client will ask for).

use rand::{CryptoRng, Rng};
use zg_primitives::CELLS_PER_EXT_BLOB;

/// `s` distinct columns of 128, uniformly (all `C(128, s)` sets equally likely), sorted.
pub fn draw_columns<R: Rng + CryptoRng + ?Sized>(rng: &mut R, s: usize) -> Vec<u16> {
    let s = s.min(CELLS_PER_EXT_BLOB);
    let mut v: Vec<u16> = rand::seq::index::sample(rng, CELLS_PER_EXT_BLOB, s)
        .into_iter()
        .map(|i| i as u16)
        .collect();
    v.sort_unstable();
    v
}

/// Columns for one sampling, from the thread's CSPRNG (ChaCha, seeded by the OS).
pub fn draw(s: usize) -> Vec<u16> {
    draw_columns(&mut rand::rng(), s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn distinct_in_range() {
        let mut rng = StdRng::seed_from_u64(7);
        for s in [0, 1, 16, 64, 128, 500] {
            let v = draw_columns(&mut rng, s);
            assert_eq!(v.len(), s.min(128));
            assert!(v.windows(2).all(|w| w[0] < w[1]));
            assert!(v.iter().all(|&c| usize::from(c) < 128));
        }
    }

    /// Every column is drawn equally often: a chi-squared test over 20 000 draws of 16
    /// (expected 2 500 per column, 127 degrees of freedom; the 99.9 % critical value is
    /// 181.99), with a fixed seed so the test is deterministic.
    #[test]
    fn unbiased() {
        let mut rng = StdRng::seed_from_u64(0x5a3_91e);
        let draws = 20_000;
        let mut counts = [0u64; 128];
        for _ in 0..draws {
            for c in draw_columns(&mut rng, 16) {
                counts[usize::from(c)] += 1;
            }
        }
        let expected = (draws * 16) as f64 / 128.0;
        let chi2: f64 = counts
            .iter()
            .map(|&o| (o as f64 - expected).powi(2) / expected)
            .sum();
        assert!(chi2 < 181.99, "chi-squared {chi2}");
        // And pairs are not correlated: column 0 and column 1 appear together as often
        // as independence predicts (16/128 · 15/127 of draws), within 5 sigma.
        let mut rng = StdRng::seed_from_u64(99);
        let both = (0..draws)
            .filter(|_| {
                let v = draw_columns(&mut rng, 16);
                v.contains(&0) && v.contains(&1)
            })
            .count() as f64;
        let p = 16.0 / 128.0 * 15.0 / 127.0;
        let mean = draws as f64 * p;
        let sd = (draws as f64 * p * (1.0 - p)).sqrt();
        assert!((both - mean).abs() < 5.0 * sd, "{both} vs {mean} ± {sd}");
    }
}
