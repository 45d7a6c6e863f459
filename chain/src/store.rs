//! Persistence in RocksDB: blocks, transactions, receipts, state and the pending-tx
//! journal. A block and its state changes are written in one atomic batch.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use alloy_consensus::{Header, ReceiptEnvelope, TxEnvelope};
use alloy_eips::eip2718::{Decodable2718, Encodable2718};
use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use alloy_rlp::{Decodable, Encodable};
use alloy_trie::{EMPTY_ROOT_HASH, TrieAccount};
use rocksdb::{DB, IteratorMode, WriteBatch};
use zg_node_kit::db;

use crate::error::ChainError;
pub use crate::state::{AccountChange, StateChanges};
use crate::trie::{self, CF_TRIE, NodeCache, NodeDb, StateRootUpdate};

const CF_META: &str = "meta";
const CF_HEADERS: &str = "headers";
const CF_HASHES: &str = "hashes";
const CF_BODIES: &str = "bodies";
const CF_TX_INDEX: &str = "tx_index";
const CF_RECEIPTS: &str = "receipts";
const CF_ACCOUNTS: &str = "accounts";
const CF_STORAGE: &str = "storage";
const CF_CODE: &str = "code";
const CF_POOL: &str = "pool";
/// Finality certificates by block number (validator networks).
const CF_FINALITY: &str = "finality";
const ALL_CFS: [&str; 12] = [
    CF_META,
    CF_HEADERS,
    CF_HASHES,
    CF_BODIES,
    CF_TX_INDEX,
    CF_RECEIPTS,
    CF_ACCOUNTS,
    CF_STORAGE,
    CF_CODE,
    CF_POOL,
    CF_TRIE,
    CF_FINALITY,
];

const KEY_HEAD: &[u8] = b"head";
const KEY_GENESIS: &[u8] = b"genesis";

/// An account as stored: nonce, balance, code hash and storage root.
pub type StoredAccount = TrieAccount;

/// What one transaction's index entry points to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxLocation {
    /// Block number.
    pub block: u64,
    /// Index within the block.
    pub index: u32,
}

/// A block ready to be committed.
#[derive(Clone, Debug)]
pub struct BlockCommit {
    /// Its header.
    pub header: Header,
    /// Its hash.
    pub hash: B256,
    /// Its transactions.
    pub txs: Vec<TxEnvelope>,
    /// One receipt per transaction.
    pub receipts: Vec<ReceiptEnvelope>,
    /// State changes.
    pub state: StateChanges,
    /// The state root computation's result: changed accounts' trie entries and the
    /// new trie nodes.
    pub trie: StateRootUpdate,
}

/// The node's database.
#[derive(Clone)]
pub struct Store {
    db: Arc<DB>,
    nodes: Arc<NodeCache>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.db.path())
            .finish()
    }
}

fn num_key(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

fn storage_key(address: &Address, slot: &U256) -> [u8; 52] {
    let mut k = [0u8; 52];
    k[..20].copy_from_slice(address.as_slice());
    k[20..].copy_from_slice(keccak256(slot.to_be_bytes::<32>()).as_slice());
    k
}

impl Store {
    /// Opens (or creates) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, ChainError> {
        // Trie nodes are mostly hashes (nothing to compress); the cache holds the
        // trie levels below the node cache and the hot accounts.
        let tuning = db::Tuning {
            uncompressed: &[CF_TRIE],
            block_cache_bytes: 256 << 20,
            ..db::Tuning::default()
        };
        let db = db::open_tuned(path, &ALL_CFS, &tuning).map_err(ChainError::storage)?;
        Ok(Self {
            db,
            nodes: Arc::new(trie::node_cache()),
        })
    }

    fn cf(&self, name: &str) -> &rocksdb::ColumnFamily {
        db::cf(&self.db, name)
    }

    fn get(&self, cf: &str, key: &[u8]) -> Result<Option<Vec<u8>>, ChainError> {
        self.db
            .get_cf(self.cf(cf), key)
            .map_err(ChainError::storage)
    }

    /// Number of the newest committed block, if any.
    pub fn head(&self) -> Result<Option<u64>, ChainError> {
        Ok(self
            .get(CF_META, KEY_HEAD)?
            .map(|v| u64::from_be_bytes(v.try_into().expect("8 bytes"))))
    }

    /// The genesis fingerprint recorded at initialisation.
    pub fn genesis_fingerprint(&self) -> Result<Option<B256>, ChainError> {
        Ok(self
            .get(CF_META, KEY_GENESIS)?
            .map(|v| B256::from_slice(&v)))
    }

    /// Header of block `n`.
    pub fn header(&self, n: u64) -> Result<Option<Header>, ChainError> {
        self.get(CF_HEADERS, &num_key(n))?
            .map(|v| Header::decode(&mut v.as_slice()).map_err(ChainError::corrupt))
            .transpose()
    }

    /// Number of the block with hash `hash`.
    pub fn block_number(&self, hash: &B256) -> Result<Option<u64>, ChainError> {
        Ok(self
            .get(CF_HASHES, hash.as_slice())?
            .map(|v| u64::from_be_bytes(v.try_into().expect("8 bytes"))))
    }

    /// Transactions of block `n`.
    pub fn block_txs(&self, n: u64) -> Result<Vec<TxEnvelope>, ChainError> {
        let Some(raw) = self.get(CF_BODIES, &num_key(n))? else {
            return Ok(Vec::new());
        };
        let list: Vec<Bytes> =
            Decodable::decode(&mut raw.as_slice()).map_err(ChainError::corrupt)?;
        list.iter()
            .map(|b| TxEnvelope::decode_2718(&mut b.as_ref()).map_err(ChainError::corrupt))
            .collect()
    }

    /// Receipts of block `n`.
    pub fn receipts(&self, n: u64) -> Result<Vec<ReceiptEnvelope>, ChainError> {
        let Some(raw) = self.get(CF_RECEIPTS, &num_key(n))? else {
            return Ok(Vec::new());
        };
        let list: Vec<Bytes> =
            Decodable::decode(&mut raw.as_slice()).map_err(ChainError::corrupt)?;
        list.iter()
            .map(|b| ReceiptEnvelope::decode_2718(&mut b.as_ref()).map_err(ChainError::corrupt))
            .collect()
    }

    /// Where a transaction was included.
    pub fn tx_location(&self, hash: &B256) -> Result<Option<TxLocation>, ChainError> {
        Ok(self.get(CF_TX_INDEX, hash.as_slice())?.map(|v| TxLocation {
            block: u64::from_be_bytes(v[..8].try_into().expect("8 bytes")),
            index: u32::from_be_bytes(v[8..12].try_into().expect("4 bytes")),
        }))
    }

    /// An account's committed state.
    pub fn account(&self, address: &Address) -> Result<Option<StoredAccount>, ChainError> {
        self.get(CF_ACCOUNTS, keccak256(address).as_slice())?
            .map(|v| TrieAccount::decode(&mut &v[20..]).map_err(ChainError::corrupt))
            .transpose()
    }

    /// A committed storage slot (zero when unset).
    pub fn storage(&self, address: &Address, slot: &U256) -> Result<U256, ChainError> {
        Ok(self
            .get(CF_STORAGE, &storage_key(address, slot))?
            .map(|v| U256::from_be_slice(&v[32..64]))
            .unwrap_or_default())
    }

    /// Contract code by hash.
    pub fn code(&self, hash: &B256) -> Result<Option<Bytes>, ChainError> {
        Ok(self.get(CF_CODE, hash.as_slice())?.map(Bytes::from))
    }

    /// The state root after `changes`, computed incrementally from the trie at
    /// `parent_root` (which must be a committed block's state root).
    pub fn state_update(
        &self,
        parent_root: B256,
        changes: &StateChanges,
    ) -> Result<StateRootUpdate, ChainError> {
        let nodes = Arc::new(NodeDb::new(self.db.clone(), self.nodes.clone()));
        trie::update(&nodes, parent_root, changes, |addr| {
            Ok(self
                .account(addr)?
                .map_or(EMPTY_ROOT_HASH, |a| a.storage_root))
        })
    }

    /// An account in the state with root `state_root` (any committed block's).
    pub fn account_at(
        &self,
        state_root: B256,
        address: &Address,
    ) -> Result<Option<TrieAccount>, ChainError> {
        let nodes = Arc::new(NodeDb::new(self.db.clone(), self.nodes.clone()));
        trie::get_account(&nodes, state_root, address)
    }

    /// A storage slot in the state with root `state_root` (zero when unset).
    pub fn storage_at(
        &self,
        state_root: B256,
        address: &Address,
        slot: &U256,
    ) -> Result<U256, ChainError> {
        let nodes = Arc::new(NodeDb::new(self.db.clone(), self.nodes.clone()));
        match trie::get_account(&nodes, state_root, address)? {
            Some(a) => trie::get_storage(&nodes, a.storage_root, slot),
            None => Ok(U256::ZERO),
        }
    }

    /// An EIP-1186 proof of `address` and its `slots` in the state with root
    /// `state_root` (any committed block's: the trie keeps every version).
    pub fn prove(
        &self,
        state_root: B256,
        address: &Address,
        slots: &[B256],
    ) -> Result<trie::AccountProof, ChainError> {
        let nodes = Arc::new(NodeDb::new(self.db.clone(), self.nodes.clone()));
        trie::prove(&nodes, state_root, address, slots)
    }

    /// The state root recomputed from the flat state alone (every account, from
    /// scratch): the reference the incremental trie is checked against, and the
    /// benchmark's baseline.
    pub fn state_root_full(&self) -> Result<B256, ChainError> {
        let mut all: BTreeMap<B256, TrieAccount> = BTreeMap::new();
        for item in self
            .db
            .iterator_cf(self.cf(CF_ACCOUNTS), IteratorMode::Start)
        {
            let (k, v) = item.map_err(ChainError::storage)?;
            let acc = TrieAccount::decode(&mut &v[20..]).map_err(ChainError::corrupt)?;
            all.insert(B256::from_slice(&k), acc);
        }
        Ok(alloy_trie::root::state_root(all))
    }

    /// Loads the top of the state trie at `state_root` into the node cache.
    pub fn warm_trie(&self, state_root: B256) -> Result<usize, ChainError> {
        let nodes = NodeDb::new(self.db.clone(), self.nodes.clone());
        trie::warm(&nodes, state_root, trie::WARM_NODES)
    }

    /// Makes sure the trie holds the nodes of `state_root` (the head's); a datadir
    /// written before the trie was kept gets it built from the flat state, which must
    /// reproduce the root.
    pub fn ensure_trie(&self, state_root: B256) -> Result<(), ChainError> {
        if state_root == EMPTY_ROOT_HASH || self.get(CF_TRIE, state_root.as_slice())?.is_some() {
            return Ok(());
        }
        tracing::info!(target: "zg_chain::store", %state_root, "building the state trie from the flat state");
        let nodes = Arc::new(NodeDb::new(self.db.clone(), self.nodes.clone()));
        let accounts = self
            .db
            .iterator_cf(self.cf(CF_ACCOUNTS), IteratorMode::Start)
            .map(|item| {
                let (k, v) = item.map_err(ChainError::storage)?;
                let acc = TrieAccount::decode(&mut &v[20..]).map_err(ChainError::corrupt)?;
                let mut slots = Vec::new();
                for item in self.db.prefix_iterator_cf(self.cf(CF_STORAGE), &v[..20]) {
                    let (sk, sv) = item.map_err(ChainError::storage)?;
                    if !sk.starts_with(&v[..20]) {
                        break;
                    }
                    slots.push((
                        B256::from_slice(&sk[20..52]),
                        U256::from_be_slice(&sv[32..64]),
                    ));
                }
                Ok((B256::from_slice(&k), acc, slots))
            });
        let (root, staged) = trie::rebuild(&nodes, accounts)?;
        if root != state_root {
            return Err(ChainError::Corrupt(format!(
                "the flat state gives root {root}, the head records {state_root}"
            )));
        }
        let mut batch = WriteBatch::default();
        for (k, v) in staged {
            batch.put_cf(self.cf(CF_TRIE), k, v);
        }
        self.db
            .write_opt(batch, &db::durable())
            .map_err(ChainError::storage)
    }

    /// Writes a block with its state changes, indexes and journal clean-up atomically.
    pub fn commit_block(
        &self,
        block: &BlockCommit,
        genesis: Option<B256>,
    ) -> Result<(), ChainError> {
        let mut batch = WriteBatch::default();
        let n = block.header.number;
        let mut buf = Vec::new();
        block.header.encode(&mut buf);
        batch.put_cf(self.cf(CF_HEADERS), num_key(n), &buf);
        batch.put_cf(self.cf(CF_HASHES), block.hash.as_slice(), num_key(n));
        let raw_txs: Vec<Bytes> = block
            .txs
            .iter()
            .map(|t| Bytes::from(t.encoded_2718()))
            .collect();
        buf.clear();
        raw_txs.encode(&mut buf);
        batch.put_cf(self.cf(CF_BODIES), num_key(n), &buf);
        let raw_receipts: Vec<Bytes> = block
            .receipts
            .iter()
            .map(|r| Bytes::from(r.encoded_2718()))
            .collect();
        buf.clear();
        raw_receipts.encode(&mut buf);
        batch.put_cf(self.cf(CF_RECEIPTS), num_key(n), &buf);
        for (i, tx) in block.txs.iter().enumerate() {
            let mut loc = [0u8; 12];
            loc[..8].copy_from_slice(&n.to_be_bytes());
            loc[8..].copy_from_slice(&(i as u32).to_be_bytes());
            batch.put_cf(self.cf(CF_TX_INDEX), tx.tx_hash().as_slice(), loc);
            batch.delete_cf(self.cf(CF_POOL), tx.tx_hash().as_slice());
        }
        self.put_state(&mut batch, &block.state, &block.trie);
        if let Some(g) = genesis {
            batch.put_cf(self.cf(CF_META), KEY_GENESIS, g.as_slice());
        }
        batch.put_cf(self.cf(CF_META), KEY_HEAD, num_key(n));
        // Synced: a block the node has announced survives power loss.
        self.db
            .write_opt(batch, &db::durable())
            .map_err(ChainError::storage)?;
        // Committed nodes are the next block's hottest.
        for (k, v) in &block.trie.nodes {
            self.nodes.insert(k.clone(), Arc::new(v.clone()));
        }
        Ok(())
    }

    /// Adds a block's state changes (flat state and trie nodes) to `batch`.
    fn put_state(&self, batch: &mut WriteBatch, state: &StateChanges, trie: &StateRootUpdate) {
        for (k, v) in &trie.nodes {
            batch.put_cf(self.cf(CF_TRIE), k, v);
        }
        for (hash, code) in &state.code {
            batch.put_cf(self.cf(CF_CODE), hash.as_slice(), code);
        }
        for (addr, change) in &state.accounts {
            if change.storage_cleared || change.info.is_none() {
                let mut end = [0xffu8; 52];
                end[..20].copy_from_slice(addr.as_slice());
                let mut start = [0u8; 52];
                start[..20].copy_from_slice(addr.as_slice());
                batch.delete_range_cf(self.cf(CF_STORAGE), start, end);
                batch.delete_cf(self.cf(CF_STORAGE), end);
            }
            for (slot, value) in &change.storage {
                let key = storage_key(addr, slot);
                if value.is_zero() {
                    batch.delete_cf(self.cf(CF_STORAGE), key);
                } else {
                    let mut v = [0u8; 64];
                    v[..32].copy_from_slice(&slot.to_be_bytes::<32>());
                    v[32..].copy_from_slice(&value.to_be_bytes::<32>());
                    batch.put_cf(self.cf(CF_STORAGE), key, v);
                }
            }
        }
        for (addr, acc) in &trie.accounts {
            let key = keccak256(addr);
            match acc {
                Some(a) => {
                    let mut v = addr.to_vec();
                    a.encode(&mut v);
                    batch.put_cf(self.cf(CF_ACCOUNTS), key.as_slice(), v);
                }
                None => batch.delete_cf(self.cf(CF_ACCOUNTS), key.as_slice()),
            }
        }
    }

    /// Commits state changes without a block (tests of the trie).
    #[cfg(test)]
    pub(crate) fn commit_state_for_test(
        &self,
        state: &StateChanges,
        trie: &StateRootUpdate,
    ) -> Result<(), ChainError> {
        let mut batch = WriteBatch::default();
        self.put_state(&mut batch, state, trie);
        self.db.write(batch).map_err(ChainError::storage)
    }

    /// Journals a pending transaction (before it is acknowledged). The write-ahead log
    /// is written before this returns, so the entry survives a killed process; it is not
    /// fsynced per transaction (an OS crash may lose the last few).
    pub fn pool_put(&self, tx: &TxEnvelope) -> Result<(), ChainError> {
        self.db
            .put_cf(self.cf(CF_POOL), tx.tx_hash().as_slice(), tx.encoded_2718())
            .map_err(ChainError::storage)
    }

    /// Drops a journaled transaction that can never be included.
    pub fn pool_delete(&self, hash: &B256) -> Result<(), ChainError> {
        self.db
            .delete_cf(self.cf(CF_POOL), hash.as_slice())
            .map_err(ChainError::storage)
    }

    /// All journaled pending transactions.
    pub fn pool_all(&self) -> Result<Vec<TxEnvelope>, ChainError> {
        let mut out = Vec::new();
        for item in self.db.iterator_cf(self.cf(CF_POOL), IteratorMode::Start) {
            let (_, v) = item.map_err(ChainError::storage)?;
            out.push(TxEnvelope::decode_2718(&mut v.as_ref()).map_err(ChainError::corrupt)?);
        }
        Ok(out)
    }

    /// Flushes the memtables and compacts every column family (an operator's
    /// maintenance step; also how a benchmark reaches the steady state of a long-running
    /// node after a bulk load).
    pub fn compact(&self) -> Result<(), ChainError> {
        self.flush()?;
        for cf in ALL_CFS {
            self.db
                .compact_range_cf(self.cf(cf), None::<&[u8]>, None::<&[u8]>);
        }
        Ok(())
    }

    /// Stores the finality certificate of block `n` (synced).
    pub fn put_finality(&self, n: u64, certificate: &[u8]) -> Result<(), ChainError> {
        self.db
            .put_cf_opt(
                self.cf(CF_FINALITY),
                num_key(n),
                certificate,
                &db::durable(),
            )
            .map_err(ChainError::storage)
    }

    /// The lowest block at or above `n` with a stored finality certificate, and the
    /// certificate: it finalizes `n` too (through the parent hashes).
    pub fn finality_from(&self, n: u64) -> Result<Option<(u64, Vec<u8>)>, ChainError> {
        let mut it = self.db.raw_iterator_cf(self.cf(CF_FINALITY));
        it.seek(num_key(n));
        match (it.key(), it.value()) {
            (Some(k), Some(v)) if k.len() == 8 => {
                let at = u64::from_be_bytes(k.try_into().expect("8 bytes"));
                Ok(Some((at, v.to_vec())))
            }
            _ => it.status().map(|()| None).map_err(ChainError::storage),
        }
    }

    /// Flushes memtables (clean shutdown).
    pub fn flush(&self) -> Result<(), ChainError> {
        self.db.flush_wal(true).map_err(ChainError::storage)?;
        for cf in ALL_CFS {
            self.db.flush_cf(self.cf(cf)).map_err(ChainError::storage)?;
        }
        Ok(())
    }
}

/// The incremental trie against a from-scratch recomputation, through the store.
#[cfg(test)]
mod trie_tests {
    use std::collections::BTreeMap;

    use alloy_primitives::{Address, B256, U256, keccak256};
    use alloy_trie::{EMPTY_ROOT_HASH, TrieAccount};
    use proptest::prelude::*;

    use super::{AccountChange, StateChanges, Store};

    /// The reference: alloy-trie's root over the whole state, computed from scratch.
    fn reference(
        state: &BTreeMap<Address, (u64, U256, BTreeMap<U256, U256>)>,
    ) -> (B256, BTreeMap<Address, B256>) {
        let mut all = BTreeMap::new();
        let mut storage_roots = BTreeMap::new();
        for (addr, (nonce, balance, slots)) in state {
            let hashed: BTreeMap<B256, U256> = slots
                .iter()
                .filter(|(_, v)| !v.is_zero())
                .map(|(k, v)| (keccak256(k.to_be_bytes::<32>()), *v))
                .collect();
            let storage_root = if hashed.is_empty() {
                EMPTY_ROOT_HASH
            } else {
                alloy_trie::root::storage_root(hashed)
            };
            storage_roots.insert(*addr, storage_root);
            all.insert(
                keccak256(addr),
                TrieAccount {
                    nonce: *nonce,
                    balance: *balance,
                    storage_root,
                    code_hash: alloy_primitives::KECCAK256_EMPTY,
                },
            );
        }
        (alloy_trie::root::state_root(all), storage_roots)
    }

    /// Every account of the first 42 addresses (present or not) and its first 9 slots
    /// are proven at `root` and the proofs verify against the model with alloy-trie's
    /// verifier (inclusion and exclusion).
    fn check_proofs(
        store: &Store,
        root: B256,
        model: &BTreeMap<Address, (u64, U256, BTreeMap<U256, U256>)>,
    ) {
        use alloy_rlp::Encodable;
        use alloy_trie::Nibbles;
        use alloy_trie::proof::verify_proof;
        let slots: Vec<B256> = (0..9u8).map(|i| B256::from(U256::from(i))).collect();
        for a in 0..42u8 {
            let addr = Address::with_last_byte(a);
            let proof = store.prove(root, &addr, &slots).unwrap();
            let nodes: Vec<alloy_primitives::Bytes> =
                proof.proof.iter().cloned().map(Into::into).collect();
            let expected = model.get(&addr).map(|_| {
                let mut rlp = Vec::new();
                proof.account.encode(&mut rlp);
                rlp
            });
            verify_proof(root, Nibbles::unpack(keccak256(addr)), expected, &nodes)
                .unwrap_or_else(|e| panic!("account {addr} at {root}: {e}"));
            let (_, balance, model_slots) = model.get(&addr).cloned().unwrap_or_default();
            assert_eq!(proof.account.balance, balance);
            for (slot, value, nodes) in &proof.storage {
                let want = model_slots
                    .get(&U256::from_be_bytes(slot.0))
                    .copied()
                    .unwrap_or_default();
                assert_eq!(*value, want, "slot {slot} of {addr}");
                let nodes: Vec<alloy_primitives::Bytes> =
                    nodes.iter().cloned().map(Into::into).collect();
                let expected = (!want.is_zero()).then(|| {
                    let mut rlp = Vec::new();
                    want.encode(&mut rlp);
                    rlp
                });
                verify_proof(
                    proof.account.storage_root,
                    Nibbles::unpack(keccak256(slot)),
                    expected,
                    &nodes,
                )
                .unwrap_or_else(|e| panic!("slot {slot} of {addr}: {e}"));
            }
        }
    }

    #[derive(Clone, Debug)]
    enum Op {
        Set(u8, u64, u8, u8),
        Delete(u8),
        Clear(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (any::<u8>(), any::<u64>(), any::<u8>(), any::<u8>())
                .prop_map(|(a, b, s, v)| Op::Set(a % 40, b, s % 8, v % 4)),
            1 => any::<u8>().prop_map(|a| Op::Delete(a % 40)),
            1 => any::<u8>().prop_map(|a| Op::Clear(a % 40)),
        ]
    }

    /// A datadir written before the trie was kept (flat state only) gets its trie built
    /// at open, and must reproduce the head's root; warming then loads it.
    #[test]
    fn a_datadir_without_trie_nodes_is_rebuilt_and_checked() {
        let dir = zg_node_kit::TempDir::new("trie-rebuild");
        let store = Store::open(&dir.0).unwrap();
        let mut changes = StateChanges::default();
        for a in 0..50u8 {
            let c = changes
                .accounts
                .entry(Address::with_last_byte(a))
                .or_default();
            c.info = Some((
                u64::from(a),
                U256::from(a),
                alloy_primitives::KECCAK256_EMPTY,
            ));
            if a % 3 == 0 {
                c.storage.insert(U256::from(a), U256::from(7));
            }
        }
        let mut update = store.state_update(EMPTY_ROOT_HASH, &changes).unwrap();
        let root = update.root;
        update.nodes.clear(); // as an old datadir: flat state only
        store.commit_state_for_test(&changes, &update).unwrap();
        assert!(store.warm_trie(root).is_err(), "no trie yet");
        assert!(matches!(
            store.ensure_trie(B256::repeat_byte(1)),
            Err(crate::ChainError::Corrupt(_))
        ));
        store.ensure_trie(root).unwrap();
        assert!(store.warm_trie(root).unwrap() > 1);
        // The next block builds on the rebuilt trie.
        let mut next = StateChanges::default();
        next.accounts
            .entry(Address::with_last_byte(1))
            .or_default()
            .info = Some((9, U256::from(9), alloy_primitives::KECCAK256_EMPTY));
        let update = store.state_update(root, &next).unwrap();
        store.commit_state_for_test(&next, &update).unwrap();
        assert_eq!(store.state_root_full().unwrap(), update.root);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Block after block of random account, storage, delete and clear changes: the
        /// incremental root equals the from-scratch root every time.
        #[test]
        fn incremental_root_matches_full_recomputation(
            blocks in proptest::collection::vec(proptest::collection::vec(op(), 1..20), 1..8)
        ) {
            let dir = zg_node_kit::TempDir::new("trie");
            let store = Store::open(&dir.0).unwrap();
            let mut model: BTreeMap<Address, (u64, U256, BTreeMap<U256, U256>)> = BTreeMap::new();
            let mut root = EMPTY_ROOT_HASH;
            let mut history = Vec::new();
            for (n, ops) in blocks.into_iter().enumerate() {
                let mut changes = StateChanges::default();
                for op in ops {
                    match op {
                        Op::Set(a, balance, slot, value) => {
                            let addr = Address::with_last_byte(a);
                            let entry = model.entry(addr).or_default();
                            entry.1 = U256::from(balance);
                            entry.2.insert(U256::from(slot), U256::from(value));
                            let c = changes.accounts.entry(addr).or_default();
                            c.info = Some((0, U256::from(balance), alloy_primitives::KECCAK256_EMPTY));
                            c.storage.insert(U256::from(slot), U256::from(value));
                        }
                        Op::Delete(a) => {
                            let addr = Address::with_last_byte(a);
                            model.remove(&addr);
                            changes.accounts.insert(addr, AccountChange {
                                info: None,
                                storage_cleared: true,
                                ..Default::default()
                            });
                        }
                        Op::Clear(a) => {
                            let addr = Address::with_last_byte(a);
                            let entry = model.entry(addr).or_default();
                            entry.2.clear();
                            changes.accounts.insert(addr, AccountChange {
                                info: Some((entry.0, entry.1, alloy_primitives::KECCAK256_EMPTY)),
                                storage_cleared: true,
                                ..Default::default()
                            });
                        }
                    }
                }
                let update = store.state_update(root, &changes).unwrap();
                let (expected, storage_roots) = reference(&model);
                prop_assert_eq!(update.root, expected, "block {}", n);
                for (addr, acc) in &update.accounts {
                    match acc {
                        Some(a) => prop_assert_eq!(Some(&a.storage_root), storage_roots.get(addr)),
                        None => prop_assert!(!model.contains_key(addr)),
                    }
                }
                store.commit_state_for_test(&changes, &update).unwrap();
                prop_assert_eq!(store.state_root_full().unwrap(), expected);
                root = update.root;
                history.push((root, model.clone()));
            }
            // Every block's state stays provable (archive mode), not only the head's.
            for (root, model) in &history {
                check_proofs(&store, *root, model);
            }
        }
    }
}
