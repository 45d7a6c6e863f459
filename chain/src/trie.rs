//! The state as a Merkle-Patricia trie, updated incrementally.
//!
//! Trie nodes live in the store's `trie` column family, keyed by their hash (the
//! `eth_trie` crate does the trie work; this module gives it a node database). A block
//! changes only the paths to the accounts and slots it touched, so computing its state
//! root costs `O(changes × depth)` node reads, not a walk over the whole state.
//!
//! Nodes are content-addressed and never deleted (archive mode): a node written for a
//! block that is never committed is harmless, two tries may share a node, and every
//! committed block's state can be proven (`eth_getProof`). New nodes are staged in
//! memory and written in the same atomic batch as the block that needs them.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use alloy_primitives::{Address, B256, U256, keccak256};
use alloy_rlp::Encodable;
use alloy_trie::{EMPTY_ROOT_HASH, TrieAccount};
use eth_trie::{EthTrie, Trie, TrieError};
use parking_lot::Mutex;
use rocksdb::DB;
use zg_node_kit::db;

use crate::error::ChainError;
use crate::state::StateChanges;

/// The column family of trie nodes.
pub(crate) const CF_TRIE: &str = "trie";

/// The trie's view of the node store: committed nodes from RocksDB plus the nodes staged
/// by the block being built.
pub(crate) struct NodeDb {
    db: Arc<DB>,
    cache: Arc<NodeCache>,
    staged: Mutex<HashMap<Vec<u8>, Vec<u8>>>,
}

/// Recently read and committed trie nodes by hash (geth's "clean trie cache"): every
/// block walks the same upper levels of the trie, so they are served from memory.
pub(crate) type NodeCache = quick_cache::sync::Cache<Vec<u8>, Arc<Vec<u8>>, NodeBytes>;

/// Bytes the node cache may hold (filled only as nodes are read or written).
pub const NODE_CACHE_BYTES: u64 = 256 << 20;

/// How many nodes of the top of the state trie are loaded into the cache at open: whole
/// levels while they fit (the top five levels of a 1M-account trie are about 70k nodes).
pub const WARM_NODES: usize = 100_000;

/// A cached node's weight: its bytes plus the entry's overhead.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct NodeBytes;

impl quick_cache::Weighter<Vec<u8>, Arc<Vec<u8>>> for NodeBytes {
    fn weight(&self, key: &Vec<u8>, value: &Arc<Vec<u8>>) -> u64 {
        (key.len() + value.len() + 64) as u64
    }
}

/// A new, empty node cache.
pub(crate) fn node_cache() -> NodeCache {
    NodeCache::with_weighter(
        (NODE_CACHE_BYTES / 400) as usize,
        NODE_CACHE_BYTES,
        NodeBytes,
    )
}

/// Why a trie operation failed, for `eth_trie`'s error type.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct NodeDbError(String);

impl NodeDb {
    pub(crate) fn new(db: Arc<DB>, cache: Arc<NodeCache>) -> Self {
        Self {
            db,
            cache,
            staged: Mutex::new(HashMap::new()),
        }
    }

    /// The nodes written since this view was made, to be committed with the block.
    pub(crate) fn take_staged(&self) -> Vec<NodeEntry> {
        self.staged.lock().drain().collect()
    }
}

impl eth_trie::DB for NodeDb {
    type Error = NodeDbError;

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, Self::Error> {
        if let Some(v) = self.staged.lock().get(key) {
            return Ok(Some(v.clone()));
        }
        if let Some(v) = self.cache.get(key) {
            return Ok(Some(v.as_ref().clone()));
        }
        let v = self
            .db
            .get_cf(db::cf(&self.db, CF_TRIE), key)
            .map_err(|e| NodeDbError(e.to_string()))?;
        if let Some(v) = &v {
            self.cache.insert(key.to_vec(), Arc::new(v.clone()));
        }
        Ok(v)
    }

    fn insert(&self, key: &[u8], value: Vec<u8>) -> Result<(), Self::Error> {
        self.staged.lock().insert(key.to_vec(), value);
        Ok(())
    }

    /// Archive mode: nodes a block no longer references stay (older blocks still do, and
    /// another trie may share them).
    fn remove(&self, _key: &[u8]) -> Result<(), Self::Error> {
        Ok(())
    }

    fn flush(&self) -> Result<(), Self::Error> {
        Ok(())
    }
}

fn trie_error(e: TrieError) -> ChainError {
    match e {
        TrieError::DB(msg) => ChainError::Storage(msg),
        other => ChainError::Corrupt(format!("state trie: {other}")),
    }
}

fn open(nodes: &Arc<NodeDb>, root: B256) -> Result<EthTrie<NodeDb>, ChainError> {
    if root == EMPTY_ROOT_HASH {
        Ok(EthTrie::new(nodes.clone()))
    } else {
        EthTrie::from(nodes.clone(), root).map_err(|e| match e {
            TrieError::InvalidStateRoot => {
                ChainError::Corrupt(format!("trie node {root} is missing"))
            }
            e => trie_error(e),
        })
    }
}

/// RLP of a storage value as the storage trie holds it.
fn slot_value(value: &U256) -> Vec<u8> {
    let mut v = Vec::with_capacity(33);
    value.encode(&mut v);
    v
}

/// A block's effect on the state trie.
#[derive(Clone, Debug)]
pub struct StateRootUpdate {
    /// The new state root.
    pub root: B256,
    /// Post-block trie entries of every changed account (`None`: deleted).
    pub accounts: BTreeMap<Address, Option<TrieAccount>>,
    /// New trie nodes (hash, RLP), written with the block.
    pub nodes: Vec<NodeEntry>,
}

/// A trie node as stored: its hash and its RLP.
pub type NodeEntry = (Vec<u8>, Vec<u8>);

/// Computes the state root after `changes`, starting from the trie at `parent_root`.
/// `old_storage_root(addr)` gives an account's committed storage root.
pub(crate) fn update(
    nodes: &Arc<NodeDb>,
    parent_root: B256,
    changes: &StateChanges,
    mut old_storage_root: impl FnMut(&Address) -> Result<B256, ChainError>,
) -> Result<StateRootUpdate, ChainError> {
    let mut state = open(nodes, parent_root)?;
    let mut accounts = BTreeMap::new();
    for (addr, change) in &changes.accounts {
        let key = keccak256(addr);
        let Some((nonce, balance, code_hash)) = change.info else {
            state.remove(key.as_slice()).map_err(trie_error)?;
            accounts.insert(*addr, None);
            continue;
        };
        let before = if change.storage_cleared {
            EMPTY_ROOT_HASH
        } else {
            old_storage_root(addr)?
        };
        let storage_root = if change.storage.is_empty() {
            before
        } else {
            let mut storage = open(nodes, before)?;
            for (slot, value) in &change.storage {
                let k = keccak256(slot.to_be_bytes::<32>());
                if value.is_zero() {
                    storage.remove(k.as_slice()).map_err(trie_error)?;
                } else {
                    storage
                        .insert(k.as_slice(), &slot_value(value))
                        .map_err(trie_error)?;
                }
            }
            storage.root_hash().map_err(trie_error)?
        };
        let account = TrieAccount {
            nonce,
            balance,
            storage_root,
            code_hash,
        };
        let mut rlp = Vec::with_capacity(110);
        account.encode(&mut rlp);
        state.insert(key.as_slice(), &rlp).map_err(trie_error)?;
        accounts.insert(*addr, Some(account));
    }
    let root = state.root_hash().map_err(trie_error)?;
    Ok(StateRootUpdate {
        root,
        accounts,
        nodes: nodes.take_staged(),
    })
}

/// The account `address` in the state with root `state_root`.
pub(crate) fn get_account(
    nodes: &Arc<NodeDb>,
    state_root: B256,
    address: &Address,
) -> Result<Option<TrieAccount>, ChainError> {
    use alloy_rlp::Decodable;
    let state = open(nodes, state_root)?;
    state
        .get(keccak256(address).as_slice())
        .map_err(trie_error)?
        .map(|rlp| {
            TrieAccount::decode(&mut rlp.as_slice())
                .map_err(|e| ChainError::Corrupt(format!("account {address} in the trie: {e}")))
        })
        .transpose()
}

/// Slot `slot` of the storage trie with root `storage_root` (zero when unset).
pub(crate) fn get_storage(
    nodes: &Arc<NodeDb>,
    storage_root: B256,
    slot: &U256,
) -> Result<U256, ChainError> {
    use alloy_rlp::Decodable;
    if storage_root == EMPTY_ROOT_HASH {
        return Ok(U256::ZERO);
    }
    let trie = open(nodes, storage_root)?;
    trie.get(keccak256(slot.to_be_bytes::<32>()).as_slice())
        .map_err(trie_error)?
        .map_or(Ok(U256::ZERO), |rlp| {
            U256::decode(&mut rlp.as_slice())
                .map_err(|e| ChainError::Corrupt(format!("storage slot {slot}: {e}")))
        })
}

/// An EIP-1186 proof of one account and some of its storage slots, against a state root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountProof {
    /// The account (all zero, with the empty storage root and code hash, when absent).
    pub account: TrieAccount,
    /// Trie nodes from the state root to the account's leaf (or to where it would be).
    pub proof: Vec<Vec<u8>>,
    /// Per slot asked for: the slot, its value (zero when absent) and its proof from
    /// the account's storage root.
    pub storage: Vec<(B256, U256, Vec<Vec<u8>>)>,
}

/// Proves `address` and `slots` in the state whose root is `state_root`. Missing nodes
/// (a state never committed, or one pruned away) are `Corrupt`.
pub(crate) fn prove(
    nodes: &Arc<NodeDb>,
    state_root: B256,
    address: &Address,
    slots: &[B256],
) -> Result<AccountProof, ChainError> {
    use alloy_rlp::Decodable;
    let mut state = open(nodes, state_root)?;
    let key = keccak256(address);
    let proof = state.get_proof(key.as_slice()).map_err(trie_error)?;
    let account = match state.get(key.as_slice()).map_err(trie_error)? {
        Some(rlp) => TrieAccount::decode(&mut rlp.as_slice())
            .map_err(|e| ChainError::Corrupt(format!("account {address} in the trie: {e}")))?,
        None => TrieAccount {
            nonce: 0,
            balance: U256::ZERO,
            storage_root: EMPTY_ROOT_HASH,
            code_hash: alloy_primitives::KECCAK256_EMPTY,
        },
    };
    let mut storage = Vec::with_capacity(slots.len());
    let mut trie = open(nodes, account.storage_root)?;
    for slot in slots {
        let k = keccak256(slot);
        let value = match trie.get(k.as_slice()).map_err(trie_error)? {
            Some(rlp) => U256::decode(&mut rlp.as_slice())
                .map_err(|e| ChainError::Corrupt(format!("slot {slot} of {address}: {e}")))?,
            None => U256::ZERO,
        };
        let p = trie.get_proof(k.as_slice()).map_err(trie_error)?;
        storage.push((*slot, value, p));
    }
    Ok(AccountProof {
        account,
        proof,
        storage,
    })
}

/// Loads the top levels of the trie at `root` into the node cache, whole levels while
/// they fit in `max_nodes`. Returns how many nodes were loaded.
pub(crate) fn warm(nodes: &NodeDb, root: B256, max_nodes: usize) -> Result<usize, ChainError> {
    fn children(node: &eth_trie::node::Node, out: &mut Vec<B256>) {
        use eth_trie::node::Node;
        match node {
            Node::Hash(h) => out.push(h.hash),
            Node::Branch(b) => {
                let b = b.read().unwrap_or_else(std::sync::PoisonError::into_inner);
                for c in &b.children {
                    children(c, out);
                }
            }
            Node::Extension(e) => {
                let e = e.read().unwrap_or_else(std::sync::PoisonError::into_inner);
                children(&e.node, out);
            }
            Node::Leaf(_) | Node::Empty => {}
        }
    }
    if root == EMPTY_ROOT_HASH {
        return Ok(0);
    }
    let (mut level, mut loaded) = (vec![root], 0);
    while !level.is_empty() && loaded + level.len() <= max_nodes {
        let mut next = Vec::new();
        for hash in &level {
            let Some(raw) =
                eth_trie::DB::get(nodes, hash.as_slice()).map_err(|e| ChainError::Storage(e.0))?
            else {
                return Err(ChainError::Corrupt(format!("trie node {hash} is missing")));
            };
            loaded += 1;
            let node = eth_trie::decode_node(&mut raw.as_slice()).map_err(trie_error)?;
            children(&node, &mut next);
        }
        level = next;
    }
    Ok(loaded)
}

/// Builds the whole trie from flat state (`accounts`: hashed address → account and its
/// storage as hashed slot → value), for a datadir written before the trie was kept.
pub(crate) fn rebuild(
    nodes: &Arc<NodeDb>,
    accounts: impl Iterator<Item = Result<(B256, TrieAccount, Vec<(B256, U256)>), ChainError>>,
) -> Result<(B256, Vec<NodeEntry>), ChainError> {
    let mut state = EthTrie::new(nodes.clone());
    for item in accounts {
        let (key, account, slots) = item?;
        if !slots.is_empty() {
            let mut storage = EthTrie::new(nodes.clone());
            for (k, v) in &slots {
                storage
                    .insert(k.as_slice(), &slot_value(v))
                    .map_err(trie_error)?;
            }
            let root = storage.root_hash().map_err(trie_error)?;
            if root != account.storage_root {
                return Err(ChainError::Corrupt(format!(
                    "storage of account {key}: root {root}, recorded {}",
                    account.storage_root
                )));
            }
        }
        let mut rlp = Vec::with_capacity(110);
        account.encode(&mut rlp);
        state.insert(key.as_slice(), &rlp).map_err(trie_error)?;
    }
    let root = state.root_hash().map_err(trie_error)?;
    Ok((root, nodes.take_staged()))
}
