//! When a block counts as final, per chain: the node's `finalized` tag (BFT chains such
//! as the bundled one or 0G, and Ethereum after its two-epoch finality), or a number of
//! confirmations on a chain that may reorg (a dev chain, an L2 before its batch posts).
//!
//! A client never trusts a receipt alone: it asks what the state says at the final
//! block ([`FinalHead`], pinned by hash so a reorg between two calls is noticed), and
//! tracks the blocks it already acted on ([`Checkpoints`]) to find where a reorg forked.

use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;

use alloy::eips::{BlockId, BlockNumberOrTag};
use alloy::providers::Provider;
use alloy_primitives::B256;

use crate::tx::TxError;

/// How a component decides that a block is final.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FinalityRule {
    /// The block the node tags `finalized`.
    #[default]
    Finalized,
    /// The block this many blocks below the newest one (0: the newest block).
    Confirmations(u64),
}

impl fmt::Display for FinalityRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Finalized => f.write_str("finalized"),
            Self::Confirmations(n) => write!(f, "{n}"),
        }
    }
}

impl FromStr for FinalityRule {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("finalized") {
            return Ok(Self::Finalized);
        }
        s.parse::<u64>()
            .ok()
            .filter(|&n| n <= MAX_CONFIRMATIONS)
            .map(Self::Confirmations)
            .ok_or_else(|| {
                format!("finality rule `{s}`: `finalized` or a number of confirmations (0..={MAX_CONFIRMATIONS})")
            })
    }
}

/// The deepest confirmation count accepted: the EVM serves block hashes (and nodes keep
/// recent state) for about this many blocks.
pub const MAX_CONFIRMATIONS: u64 = 256;

/// The newest final block: its number and hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FinalHead {
    /// Height.
    pub number: u64,
    /// Hash.
    pub hash: B256,
}

impl FinalHead {
    /// The block, for state reads (`eth_call`, `eth_getProof`) pinned by hash with
    /// `requireCanonical` (EIP-1898): if a reorg replaced it since, the node refuses
    /// instead of answering from another chain.
    pub fn block_id(&self) -> BlockId {
        BlockId::Hash(alloy::eips::RpcBlockHash {
            block_hash: self.hash,
            require_canonical: Some(true),
        })
    }
}

/// The newest block final by `rule` (`None` when the chain has none yet: fewer blocks
/// than the confirmations asked for).
pub async fn final_head(
    provider: &impl Provider,
    rule: FinalityRule,
) -> Result<Option<FinalHead>, TxError> {
    let tag = match rule {
        FinalityRule::Finalized => BlockNumberOrTag::Finalized,
        FinalityRule::Confirmations(n) => {
            let head = provider.get_block_number().await?;
            if head < n {
                return Ok(None);
            }
            BlockNumberOrTag::Number(head - n)
        }
    };
    Ok(provider.get_block_by_number(tag).await?.map(|b| FinalHead {
        number: b.header.number,
        hash: b.header.hash,
    }))
}

/// The hash of the canonical block at `number` (`None`: no such block yet).
pub async fn canonical_hash(
    provider: &impl Provider,
    number: u64,
) -> Result<Option<B256>, TxError> {
    Ok(provider
        .get_block_by_number(BlockNumberOrTag::Number(number))
        .await?
        .map(|b| b.header.hash))
}

/// The blocks a follower acted on, newest last, bounded: where a reorg forked is the
/// newest one still canonical.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Checkpoints {
    blocks: VecDeque<(u64, B256)>,
}

/// Checkpoints kept: a reorg deeper than this many follower steps is not resolved
/// automatically (the follower stops and says so).
pub const CHECKPOINTS: usize = 128;

impl Checkpoints {
    /// Records that the follower acted on blocks up to `number` (hash `hash`).
    pub fn push(&mut self, number: u64, hash: B256) {
        while self.blocks.back().is_some_and(|&(n, _)| n >= number) {
            self.blocks.pop_back();
        }
        self.blocks.push_back((number, hash));
        while self.blocks.len() > CHECKPOINTS {
            self.blocks.pop_front();
        }
    }

    /// The newest checkpoint.
    pub fn last(&self) -> Option<(u64, B256)> {
        self.blocks.back().copied()
    }

    /// Forgets the checkpoints above `number`.
    pub fn truncate_above(&mut self, number: u64) {
        while self.blocks.back().is_some_and(|&(n, _)| n > number) {
            self.blocks.pop_back();
        }
    }

    /// Newest first.
    pub fn newest_first(&self) -> impl Iterator<Item = (u64, B256)> + '_ {
        self.blocks.iter().rev().copied()
    }

    /// How many are kept.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }
}

/// Where a chain that replaced the follower's newest checkpoint forked from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fork {
    /// The newest checkpoint is still canonical: no reorg.
    None,
    /// The newest checkpoint still canonical (undo everything above it).
    At(u64, B256),
    /// No checkpoint is canonical any more: the reorg is deeper than the checkpoints.
    Deeper,
}

/// Compares the checkpoints with the canonical chain, newest first.
pub async fn find_fork(
    provider: &impl Provider,
    checkpoints: &Checkpoints,
) -> Result<Fork, TxError> {
    let mut first = true;
    for (number, hash) in checkpoints.newest_first() {
        if canonical_hash(provider, number).await? == Some(hash) {
            return Ok(if first {
                Fork::None
            } else {
                Fork::At(number, hash)
            });
        }
        first = false;
    }
    Ok(if first { Fork::None } else { Fork::Deeper })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_and_print() {
        assert_eq!("finalized".parse(), Ok(FinalityRule::Finalized));
        assert_eq!("FINALIZED".parse(), Ok(FinalityRule::Finalized));
        assert_eq!("12".parse(), Ok(FinalityRule::Confirmations(12)));
        assert_eq!("0".parse(), Ok(FinalityRule::Confirmations(0)));
        assert!("257".parse::<FinalityRule>().is_err());
        assert!("-1".parse::<FinalityRule>().is_err());
        assert!("latest".parse::<FinalityRule>().is_err());
        for r in [FinalityRule::Finalized, FinalityRule::Confirmations(7)] {
            assert_eq!(r.to_string().parse(), Ok(r));
        }
    }

    #[test]
    fn checkpoints_stay_ordered_and_bounded() {
        let h = |i: u64| B256::with_last_byte(i as u8);
        let mut c = Checkpoints::default();
        for i in 0..300 {
            c.push(i, h(i));
        }
        assert_eq!(c.len(), CHECKPOINTS);
        assert_eq!(c.last(), Some((299, h(299))));
        // A push at or below the newest replaces what it supersedes.
        c.push(250, h(1));
        assert_eq!(c.last(), Some((250, h(1))));
        assert!(c.newest_first().skip(1).all(|(n, _)| n < 250));
        c.truncate_above(200);
        assert_eq!(c.last().map(|l| l.0), Some(200));
        let v: Vec<u64> = c.newest_first().map(|l| l.0).collect();
        assert!(v.windows(2).all(|w| w[0] > w[1]));
    }
}
