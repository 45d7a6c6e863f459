//! Custody: which columns each quorum member holds, and how many members recover.
//!
//! Quorum member `k` (0-based) of an `n`-member quorum holds the columns `j` with
//! `j mod n == k`.

use crate::constants::{CELLS_PER_EXT_BLOB, DATA_COLUMNS};

/// Columns held by member `member` of an `n`-member quorum (ascending). Empty when
/// `member >= n` or `n == 0`.
pub fn custody_columns(member: usize, n: usize) -> Vec<u16> {
    if n == 0 || member >= n {
        return Vec::new();
    }
    (member..CELLS_PER_EXT_BLOB)
        .step_by(n)
        .map(|j| j as u16)
        .collect()
}

/// The member that holds column `column` in an `n`-member quorum; `None` if `n == 0`.
pub fn custodian(column: u16, n: usize) -> Option<usize> {
    (n > 0).then(|| usize::from(column) % n)
}

/// The least `m` such that every set of `m` members holds ≥ 64 distinct columns; `None`
/// if no set does (n = 0).
pub fn recovery_nodes(n: usize) -> Option<usize> {
    // Members hold disjoint columns, so the worst set of m members is the m holding the
    // fewest: add the smallest custody counts until they reach 64.
    let mut counts: Vec<usize> = (0..n).map(|k| custody_columns(k, n).len()).collect();
    counts.sort_unstable();
    let mut total = 0;
    for (m, c) in counts.iter().enumerate() {
        total += c;
        if total >= DATA_COLUMNS {
            return Some(m + 1);
        }
    }
    None
}

/// The smallest safe quorum threshold tolerating `f` Byzantine signers:
/// `recovery_nodes(n) + f`, if that is at most `n`.
pub fn min_threshold(n: usize, f: usize) -> Option<usize> {
    recovery_nodes(n).map(|r| r + f).filter(|&t| t <= n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute_force(n: usize) -> Option<usize> {
        // Every subset of size m: feasible for small n.
        (1..=n).find(|&m| {
            (0u32..1 << n)
                .filter(|s| s.count_ones() as usize == m)
                .all(|set| {
                    (0..n)
                        .filter(|k| set >> k & 1 == 1)
                        .map(|k| custody_columns(k, n).len())
                        .sum::<usize>()
                        >= DATA_COLUMNS
                })
        })
    }

    #[test]
    fn custody_partitions_columns() {
        for n in 1..=20 {
            let mut all: Vec<u16> = (0..n).flat_map(|k| custody_columns(k, n)).collect();
            all.sort_unstable();
            assert_eq!(all, (0..128).collect::<Vec<u16>>(), "n = {n}");
            for j in 0..128u16 {
                assert!(custody_columns(custodian(j, n).unwrap(), n).contains(&j));
            }
        }
        assert!(custody_columns(8, 8).is_empty());
        assert_eq!(custodian(3, 0), None);
    }

    #[test]
    fn recovery_nodes_matches_brute_force() {
        assert_eq!(recovery_nodes(0), None);
        assert_eq!(recovery_nodes(1), Some(1));
        assert_eq!(recovery_nodes(8), Some(4));
        assert_eq!(recovery_nodes(3), Some(2)); // 42+43 ≥ 64
        assert_eq!(recovery_nodes(128), Some(64));
        assert_eq!(recovery_nodes(200), Some(136)); // 72 members hold nothing
        for n in 1..=16 {
            assert_eq!(recovery_nodes(n), brute_force(n), "n = {n}");
        }
        assert_eq!(min_threshold(8, 2), Some(6));
        assert_eq!(min_threshold(8, 5), None);
    }
}
