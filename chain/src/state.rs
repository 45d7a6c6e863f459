//! What a block changes in the state: the EVM's output in the shape the store commits
//! and the trie hashes.

use std::collections::BTreeMap;

use alloy_primitives::{Address, B256, Bytes, U256};

/// Changes of one account over a block.
#[derive(Clone, Debug, Default)]
pub struct AccountChange {
    /// New nonce/balance/code hash; `None` deletes the account (self-destruct, or an
    /// empty account touched per EIP-161).
    pub info: Option<(u64, U256, B256)>,
    /// Whether all previous storage is dropped first (account destroyed or re-created).
    pub storage_cleared: bool,
    /// Storage writes (a zero value deletes the slot).
    pub storage: BTreeMap<U256, U256>,
}

/// Everything a block changes in the state.
#[derive(Clone, Debug, Default)]
pub struct StateChanges {
    /// Per-account changes.
    pub accounts: BTreeMap<Address, AccountChange>,
    /// New contract code by hash.
    pub code: BTreeMap<B256, Bytes>,
}
