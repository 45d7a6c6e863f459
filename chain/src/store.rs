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
const ALL_CFS: [&str; 10] = [
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
];

const KEY_HEAD: &[u8] = b"head";
const KEY_GENESIS: &[u8] = b"genesis";

/// An account as stored: nonce, balance, code hash and storage root.
pub type StoredAccount = TrieAccount;

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
    /// New accounts' post-block trie entries, as computed for the state root.
    pub accounts: BTreeMap<Address, Option<StoredAccount>>,
}

/// The node's database.
#[derive(Clone)]
pub struct Store {
    db: Arc<DB>,
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
        let db = db::open(path, &ALL_CFS).map_err(ChainError::storage)?;
        Ok(Self { db })
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

    /// Storage root of `address` after applying `change` to its committed storage.
    pub fn storage_root_after(
        &self,
        address: &Address,
        change: &AccountChange,
    ) -> Result<B256, ChainError> {
        let mut slots: BTreeMap<B256, U256> = BTreeMap::new();
        if !change.storage_cleared {
            let iter = self
                .db
                .prefix_iterator_cf(self.cf(CF_STORAGE), address.as_slice());
            for item in iter {
                let (k, v) = item.map_err(ChainError::storage)?;
                if !k.starts_with(address.as_slice()) {
                    break;
                }
                slots.insert(
                    B256::from_slice(&k[20..52]),
                    U256::from_be_slice(&v[32..64]),
                );
            }
        }
        for (slot, value) in &change.storage {
            let h = keccak256(slot.to_be_bytes::<32>());
            if value.is_zero() {
                slots.remove(&h);
            } else {
                slots.insert(h, *value);
            }
        }
        Ok(if slots.is_empty() {
            EMPTY_ROOT_HASH
        } else {
            alloy_trie::root::storage_root(slots)
        })
    }

    /// State root after replacing the given accounts' trie entries (`None` deletes).
    pub fn state_root_after(
        &self,
        accounts: &BTreeMap<Address, Option<StoredAccount>>,
    ) -> Result<B256, ChainError> {
        let mut all: BTreeMap<B256, TrieAccount> = BTreeMap::new();
        for item in self
            .db
            .iterator_cf(self.cf(CF_ACCOUNTS), IteratorMode::Start)
        {
            let (k, v) = item.map_err(ChainError::storage)?;
            let acc = TrieAccount::decode(&mut &v[20..]).map_err(ChainError::corrupt)?;
            all.insert(B256::from_slice(&k), acc);
        }
        for (addr, acc) in accounts {
            match acc {
                Some(a) => all.insert(keccak256(addr), *a),
                None => all.remove(&keccak256(addr)),
            };
        }
        Ok(alloy_trie::root::state_root(all))
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
        for (hash, code) in &block.state.code {
            batch.put_cf(self.cf(CF_CODE), hash.as_slice(), code);
        }
        for (addr, change) in &block.state.accounts {
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
        for (addr, acc) in &block.accounts {
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
        if let Some(g) = genesis {
            batch.put_cf(self.cf(CF_META), KEY_GENESIS, g.as_slice());
        }
        batch.put_cf(self.cf(CF_META), KEY_HEAD, num_key(n));
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

    /// Flushes memtables (clean shutdown).
    pub fn flush(&self) -> Result<(), ChainError> {
        self.db.flush_wal(true).map_err(ChainError::storage)?;
        for cf in ALL_CFS {
            self.db.flush_cf(self.cf(cf)).map_err(ChainError::storage)?;
        }
        Ok(())
    }
}
