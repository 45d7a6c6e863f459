//! Sampling helpers shared by the light client, DA nodes and the sampling module.

use alloy_primitives::{B256, U256, keccak256};
use alloy_sol_types::SolValue;

use crate::constants::{CELLS_PER_EXT_BLOB, DATA_COLUMNS};

/// `keccak256(abi.encode(seed, data_root, column, blob_index))` as a number: a cell wins
/// a sampling round when this is `<=` the round's target.
pub fn sample_quality(seed: B256, data_root: B256, column: u16, blob_index: u32) -> U256 {
    let h = keccak256((seed, data_root, U256::from(column), U256::from(blob_index)).abi_encode());
    U256::from_be_bytes(h.0)
}

/// Confidence that a payload is recoverable after `s` distinct uniformly drawn columns
/// all verified: `1 − C(63, s) / C(128, s)` (the adversary must withhold ≥ 65 columns).
pub fn availability_confidence(s: usize) -> f64 {
    let available_when_unrecoverable = DATA_COLUMNS - 1; // at most 63 columns served
    if s > available_when_unrecoverable {
        return 1.0;
    }
    // C(63, s)/C(128, s) = Π_{i<s} (63 − i)/(128 − i)
    let fooled: f64 = (0..s)
        .map(|i| (available_when_unrecoverable - i) as f64 / (CELLS_PER_EXT_BLOB - i) as f64)
        .product();
    1.0 - fooled
}

/// Least number of distinct column samples reaching `target` confidence.
pub fn samples_for_confidence(target: f64) -> usize {
    (0..=DATA_COLUMNS)
        .find(|&s| availability_confidence(s) >= target)
        .unwrap_or(DATA_COLUMNS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confidence_values() {
        assert_eq!(availability_confidence(0), 0.0);
        assert!((availability_confidence(1) - (1.0 - 63.0 / 128.0)).abs() < 1e-15);
        // Published: s = 8 → fooled 2.7e-3, s = 16 → 3.9e-6.
        assert!((1.0 - availability_confidence(8) - 2.7e-3).abs() < 0.1e-3);
        assert!((1.0 - availability_confidence(16) - 3.9e-6).abs() < 0.1e-6);
        assert_eq!(availability_confidence(64), 1.0);
        assert_eq!(samples_for_confidence(0.9999), 13);
        assert_eq!(samples_for_confidence(0.999_999), 18);
    }
}
