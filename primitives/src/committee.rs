//! Quorum formation: stake-weighted ballots over a seed nobody knew at registration.
//!
//! Signers register for epoch `e` during epoch `e − 1` with a weight (ballots) that grows
//! with their bonded stake up to a cap. Registration for `e` closes with block
//! `e · epochBlocks − 1`, and that block's hash is the epoch's seed: it did not exist
//! when anyone registered, so nothing a registrant controls (its address, key,
//! signature, weight or timing) lets it choose a ballot. Each registrant's ballot is
//! `keccak256(seed ‖ epoch ‖ signer) / weight`; the seats go to the lowest ballots
//! (ties broken by address), in that order, cut into quorums of `quorum_size`. A
//! registrant of weight `w` wins a given seat threshold `t` with probability
//! `min(1, t · w / 2²⁵⁶)`: seats are proportional to stake until a signer is certain of
//! one.
//!
//! The same functions serve the chain's precompile, the portable contract's transcript
//! tests and any client that wants to predict a quorum.

use alloy_primitives::{Address, B256, U256, keccak256};

/// A registrant's ballot for the epoch with `seed`: lower is better.
pub fn ballot(seed: B256, epoch: u64, signer: Address, weight: u64) -> U256 {
    let mut buf = [0u8; 32 + 32 + 20];
    buf[..32].copy_from_slice(seed.as_slice());
    buf[32..64].copy_from_slice(&U256::from(epoch).to_be_bytes::<32>());
    buf[64..].copy_from_slice(signer.as_slice());
    U256::from_be_bytes(keccak256(buf).0) / U256::from(weight.max(1))
}

/// The weight of `stake`: one ballot per `stake_per_ballot`, at most `max_ballots`;
/// zero below `min_stake`.
pub fn ballot_weight(
    stake: U256,
    min_stake: U256,
    stake_per_ballot: U256,
    max_ballots: u64,
) -> u64 {
    if stake < min_stake || stake_per_ballot.is_zero() {
        return 0;
    }
    let w = stake / stake_per_ballot;
    u64::try_from(w).unwrap_or(u64::MAX).min(max_ballots)
}

/// The seats of an epoch: the registrants (signer, weight) ordered by ballot (then
/// address), those of weight zero (ejected after registering) left out, as many as fill `min(len / quorum_size, max_quorums)` quorums. Quorum `q`
/// is `seats[q · quorum_size ..][.. quorum_size]`; its member `k` holds columns
/// `j ≡ k (mod quorum_size)`.
pub fn form_quorums(
    seed: B256,
    epoch: u64,
    registrants: &[(Address, u64)],
    quorum_size: u64,
    max_quorums: u64,
) -> Vec<Address> {
    if quorum_size == 0 {
        return Vec::new();
    }
    let mut ranked: Vec<(U256, Address)> = registrants
        .iter()
        .filter(|&&(_, w)| w > 0)
        .map(|&(a, w)| (ballot(seed, epoch, a, w), a))
        .collect();
    let quorums = (ranked.len() as u64 / quorum_size).min(max_quorums);
    let seats = (quorums * quorum_size) as usize;
    ranked.sort_unstable();
    ranked.truncate(seats);
    ranked.into_iter().map(|(_, a)| a).collect()
}

/// The index of the registrant a newcomer of weight `weight` displaces from a full
/// registration list: the lightest (the latest of equals), if the newcomer is heavier;
/// `None` if it is not.
pub fn displaced(registrants: &[(Address, u64)], weight: u64) -> Option<usize> {
    let (idx, lightest) = registrants
        .iter()
        .enumerate()
        .min_by(|(i, (_, a)), (j, (_, b))| a.cmp(b).then(j.cmp(i)))
        .map(|(i, (_, w))| (i, *w))?;
    (weight > lightest).then_some(idx)
}

/// A registration list entry as stored: the weight in the top 96 bits, the address in
/// the low 160 (one storage word per registrant).
pub fn pack_registrant(signer: Address, weight: u64) -> U256 {
    (U256::from(weight) << 160) | U256::from_be_slice(signer.as_slice())
}

/// The inverse of [`pack_registrant`].
pub fn unpack_registrant(word: U256) -> (Address, u64) {
    let bytes = word.to_be_bytes::<32>();
    let signer = Address::from_slice(&bytes[12..]);
    let weight: U256 = word >> 160;
    let weight = weight.saturating_to::<u64>();
    (signer, weight)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(i: u64) -> Address {
        let mut b = [0u8; 20];
        b[12..].copy_from_slice(&i.to_be_bytes());
        Address::from(b)
    }

    fn seed(i: u64) -> B256 {
        keccak256(i.to_be_bytes())
    }

    #[test]
    fn packing_round_trips() {
        let a = Address::repeat_byte(0xab);
        assert_eq!(unpack_registrant(pack_registrant(a, 7)), (a, 7));
        assert_eq!(
            unpack_registrant(pack_registrant(a, u64::MAX)),
            (a, u64::MAX)
        );
    }

    #[test]
    fn weight_follows_stake_up_to_the_cap() {
        let e = U256::from(10u64).pow(U256::from(18));
        assert_eq!(ballot_weight(e / U256::from(2), e, e, 10), 0);
        assert_eq!(ballot_weight(e, e, e, 10), 1);
        assert_eq!(
            ballot_weight(e * U256::from(7) + U256::from(1), e, e, 10),
            7
        );
        assert_eq!(ballot_weight(e * U256::from(1000), e, e, 10), 10);
    }

    #[test]
    fn quorums_are_whole_and_capped() {
        let regs: Vec<_> = (0..21).map(|i| (addr(i), 1)).collect();
        assert_eq!(form_quorums(seed(1), 5, &regs, 8, 16).len(), 16);
        assert_eq!(form_quorums(seed(1), 5, &regs, 4, 2).len(), 8);
        assert!(form_quorums(seed(1), 5, &regs[..7], 8, 16).is_empty());
        // Every seat is a distinct registrant.
        let seats = form_quorums(seed(2), 5, &regs, 4, 16);
        let mut d = seats.clone();
        d.sort();
        d.dedup();
        assert_eq!(d.len(), seats.len());
    }

    #[test]
    fn displacement_takes_the_lightest_latest() {
        let regs = vec![(addr(1), 3), (addr(2), 1), (addr(3), 2), (addr(4), 1)];
        assert_eq!(displaced(&regs, 2), Some(3));
        assert_eq!(displaced(&regs, 1), None);
        assert_eq!(displaced(&[], 5), None);
    }

    /// Over many seeds, a signer's share of seats follows its share of stake.
    #[test]
    fn seats_are_proportional_to_weight() {
        // 64 registrants of weight 1 and 16 of weight 3 compete for 16 seats: the heavy
        // ones hold 48 of 112 units of weight, so ≈ 43 % of the seats.
        let mut regs: Vec<_> = (0..64).map(|i| (addr(i), 1)).collect();
        regs.extend((64..80).map(|i| (addr(i), 3)));
        let (mut heavy, mut total) = (0u64, 0u64);
        for s in 0..2000 {
            for a in form_quorums(seed(s), s, &regs, 8, 2) {
                total += 1;
                if a >= addr(64) {
                    heavy += 1;
                }
            }
        }
        let share = heavy as f64 / total as f64;
        assert!((share - 48.0 / 112.0).abs() < 0.03, "heavy share {share}");
    }

    /// The seed decides: the same registrants under another seed give other quorums,
    /// and a registrant's own choices (its place in the list) change nothing.
    #[test]
    fn registration_order_does_not_matter() {
        let regs: Vec<_> = (0..40).map(|i| (addr(i), 1 + i % 3)).collect();
        let mut reversed = regs.clone();
        reversed.reverse();
        assert_eq!(
            form_quorums(seed(9), 3, &regs, 8, 4),
            form_quorums(seed(9), 3, &reversed, 8, 4)
        );
        assert_ne!(
            form_quorums(seed(9), 3, &regs, 8, 4),
            form_quorums(seed(10), 3, &regs, 8, 4)
        );
    }
}
