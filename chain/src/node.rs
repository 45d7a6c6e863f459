//! The node: a handle over the store, the pool and the head, plus the block-producer
//! worker.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use alloy_consensus::transaction::{Recovered, SignerRecoverable};
use alloy_consensus::{
    EMPTY_OMMER_ROOT_HASH, Header, Receipt, ReceiptEnvelope, ReceiptWithBloom, Transaction,
    TxEnvelope, TxType,
};
use alloy_eips::eip1559::BaseFeeParams;
use alloy_eips::eip2718::Decodable2718;
use alloy_eips::eip7685::EMPTY_REQUESTS_HASH;
use alloy_primitives::{Address, B64, B256, Bloom, Bytes, U256, keccak256};
use alloy_trie::{EMPTY_ROOT_HASH, KECCAK_EMPTY};
use parking_lot::Mutex;
use revm::context::result::{EVMError, ExecutionResult};
use revm::database::CacheDB;
use revm::{ExecuteCommitEvm, ExecuteEvm};
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use crate::config::{Genesis, NodeConfig};
use crate::consensus::ZgBlock;
use crate::error::ChainError;
use crate::executor::{self, Mode, StoreDb};
use crate::mempool::{Mempool, PooledTx};
use crate::metrics::Metrics;
use crate::modules::MODULES;
use crate::store::{AccountChange, BlockCommit, StateChanges, Store};

/// Code placed at module addresses so they are non-empty accounts (`INVALID`).
const MODULE_CODE: &[u8] = &[0xfe];
/// How far past the later of the local clock and the parent's next second a
/// proposal's timestamp may be (seconds).
pub const MAX_TIMESTAMP_DRIFT: u64 = 15;
/// Executed, not yet finalized blocks kept for commit.
const MAX_KEPT_BLOCKS: usize = 64;
/// Per-transaction gas cap of the fork (EIP-7825).
pub const TX_GAS_LIMIT_CAP: u64 = 1 << 24;

/// Head of the chain.
#[derive(Clone, Debug)]
pub struct Head {
    /// Header.
    pub header: Header,
    /// Its hash.
    pub hash: B256,
}

struct Inner {
    store: Store,
    config: NodeConfig,
    /// `config.genesis`, shared with every EVM built (it may hold a large alloc table).
    genesis: Arc<Genesis>,
    head: Mutex<Head>,
    pool: Mutex<Mempool>,
    /// Serialises block production (the miner and `evm_mine`).
    producing: tokio::sync::Mutex<()>,
    /// Held while a block executes on the head or is committed: execution reads the
    /// head state, which a commit changes.
    exec: Mutex<()>,
    /// When the head was committed.
    head_at: Mutex<std::time::Instant>,
    /// Where accepted transactions go to reach the other validators.
    gossip: Mutex<Option<tokio::sync::mpsc::UnboundedSender<Vec<u8>>>>,
    /// Hashes of transactions entering the pool (`newPendingTransactions`).
    pending: tokio::sync::broadcast::Sender<B256>,
    /// Blocks proposed or verified for consensus, by hash, until finalized or dropped.
    executed: Mutex<std::collections::HashMap<B256, Built>>,
    new_tx: Notify,
    head_tx: watch::Sender<u64>,
    metrics: Metrics,
}

/// Handle to a running chain node. Cheap to clone.
#[derive(Clone)]
pub struct Node {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("head", &self.head().header.number)
            .finish()
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A fingerprint of the genesis configuration, checked on every restart.
fn genesis_fingerprint(config: &NodeConfig) -> B256 {
    keccak256(serde_json::to_vec(&config.genesis).expect("genesis serialises"))
}

impl Node {
    /// Opens the datadir, writing the genesis block if it is new, and reloads the
    /// journaled pending transactions.
    pub fn open(datadir: &Path, config: NodeConfig) -> Result<Self, ChainError> {
        config.genesis.validate().map_err(ChainError::Config)?;
        std::fs::create_dir_all(datadir)
            .map_err(|e| ChainError::Config(format!("{}: {e}", datadir.display())))?;
        let store = Store::open(&datadir.join("chain"))?;
        let fingerprint = genesis_fingerprint(&config);
        let head = match store.head()? {
            Some(n) => {
                if store.genesis_fingerprint()? != Some(fingerprint) {
                    return Err(ChainError::Config(
                        "the datadir was initialised with another genesis; use a new --datadir"
                            .into(),
                    ));
                }
                let header = store
                    .header(n)?
                    .ok_or_else(|| ChainError::Corrupt(format!("missing head {n}")))?;
                store.ensure_trie(header.state_root)?;
                let warmed = store.warm_trie(header.state_root)?;
                tracing::debug!(target: "zg_chain::store", warmed, "state trie nodes cached");
                Head {
                    hash: header.hash_slow(),
                    header,
                }
            }
            None => Self::write_genesis(&store, &config, fingerprint)?,
        };
        let (head_tx, _) = watch::channel(head.header.number);
        let metrics = Metrics::default();
        metrics.head.set(head.header.number as i64);
        let node = Self {
            inner: Arc::new(Inner {
                pool: Mutex::new(Mempool::new(config.pool)),
                genesis: Arc::new(config.genesis.clone()),
                store,
                config,
                head: Mutex::new(head),
                producing: tokio::sync::Mutex::new(()),
                exec: Mutex::new(()),
                head_at: Mutex::new(std::time::Instant::now()),
                gossip: Mutex::new(None),
                pending: tokio::sync::broadcast::channel(4096).0,
                executed: Mutex::new(std::collections::HashMap::new()),
                new_tx: Notify::new(),
                head_tx,
                metrics,
            }),
        };
        node.reload_pool()?;
        Ok(node)
    }

    fn write_genesis(
        store: &Store,
        config: &NodeConfig,
        fingerprint: B256,
    ) -> Result<Head, ChainError> {
        let g = &config.genesis;
        let mut state = StateChanges::default();
        for (addr, balance) in &g.alloc {
            state.accounts.insert(
                *addr,
                AccountChange {
                    info: Some((0, *balance, KECCAK_EMPTY)),
                    ..Default::default()
                },
            );
        }
        let code_hash = keccak256(MODULE_CODE);
        state
            .code
            .insert(code_hash, Bytes::from_static(MODULE_CODE));
        for m in &MODULES {
            state.accounts.insert(
                *m,
                AccountChange {
                    info: Some((1, U256::ZERO, code_hash)),
                    ..Default::default()
                },
            );
        }
        let trie = store.state_update(EMPTY_ROOT_HASH, &state)?;
        let state_root = trie.root;
        let header = Header {
            parent_hash: B256::ZERO,
            beneficiary: Address::ZERO,
            state_root,
            transactions_root: EMPTY_ROOT_HASH,
            receipts_root: EMPTY_ROOT_HASH,
            logs_bloom: Bloom::ZERO,
            number: 0,
            gas_limit: g.gas_limit,
            gas_used: 0,
            timestamp: g.timestamp,
            extra_data: Bytes::from_static(b"zg-chain genesis"),
            mix_hash: B256::ZERO,
            base_fee_per_gas: Some(crate::config::INITIAL_BASE_FEE),
            ..header_defaults()
        };
        let hash = header.hash_slow();
        store.commit_block(
            &BlockCommit {
                header: header.clone(),
                hash,
                txs: vec![],
                receipts: vec![],
                state,
                trie,
            },
            Some(fingerprint),
        )?;
        Ok(Head { header, hash })
    }

    fn reload_pool(&self) -> Result<(), ChainError> {
        let journaled = self.inner.store.pool_all()?;
        let mut restored = 0;
        for tx in journaled {
            let hash = *tx.tx_hash();
            match self.validate(tx) {
                Ok(p) => {
                    let state = self.sender_state(&p.sender)?;
                    let inserted = self.inner.pool.lock().insert(p, state);
                    match inserted {
                        Ok(ins) => {
                            restored += 1;
                            for h in ins.evicted {
                                self.inner.store.pool_delete(&h)?;
                            }
                        }
                        Err(e) => {
                            // Over a limit (which may have changed): not kept.
                            tracing::info!(target: "zg_chain::pool", %hash, error = %e, "dropping journaled transaction");
                            self.inner.store.pool_delete(&hash)?;
                        }
                    }
                }
                Err(e) => {
                    tracing::info!(target: "zg_chain::pool", %hash, error = %e, "dropping journaled transaction");
                    self.inner.store.pool_delete(&hash)?;
                }
            }
        }
        if restored > 0 {
            tracing::info!(target: "zg_chain::pool", restored, "restored pending transactions");
        }
        self.inner
            .metrics
            .pool
            .set(self.inner.pool.lock().len() as i64);
        Ok(())
    }

    /// The node's configuration.
    pub fn config(&self) -> &NodeConfig {
        &self.inner.config
    }

    /// The genesis, shared.
    pub fn genesis(&self) -> &Arc<Genesis> {
        &self.inner.genesis
    }

    /// The chain id.
    pub fn chain_id(&self) -> u64 {
        self.inner.config.genesis.chain_id
    }

    /// The store (read access for RPC).
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The current head.
    pub fn head(&self) -> Head {
        self.inner.head.lock().clone()
    }

    /// Watches the head block number.
    pub fn subscribe_head(&self) -> watch::Receiver<u64> {
        self.inner.head_tx.subscribe()
    }

    /// Base fee of the next block.
    pub fn next_base_fee(&self) -> u64 {
        let h = self.head().header;
        BaseFeeParams::ethereum().next_block_base_fee(
            h.gas_used,
            h.gas_limit,
            h.base_fee_per_gas.unwrap_or_default(),
        )
    }

    /// A pending transaction by hash.
    pub fn pending_tx(&self, hash: &B256) -> Option<PooledTx> {
        self.inner.pool.lock().get(hash).cloned()
    }

    /// The sender's next nonce counting pending transactions.
    pub fn pending_nonce(&self, sender: &Address) -> Result<u64, ChainError> {
        let state = self.inner.store.account(sender)?.map_or(0, |a| a.nonce);
        Ok(self.inner.pool.lock().pending_nonce(sender, state))
    }

    /// Number of pending transactions.
    pub fn pool_len(&self) -> usize {
        self.inner.pool.lock().len()
    }

    /// Validates a signed transaction against the head state (the checks geth makes).
    pub fn validate(&self, tx: TxEnvelope) -> Result<PooledTx, ChainError> {
        let reject = |m: String| Err(ChainError::TxRejected(m));
        match tx.tx_type() {
            TxType::Legacy | TxType::Eip2930 | TxType::Eip1559 | TxType::Eip7702 => {}
            TxType::Eip4844 => return reject("blob transactions are not supported".into()),
        }
        match tx.chain_id() {
            None => {
                return reject(
                    "only replay-protected (EIP-155) transactions allowed over RPC".into(),
                );
            }
            Some(id) if id != self.chain_id() => {
                return reject(format!(
                    "invalid chain id: have {id}, want {}",
                    self.chain_id()
                ));
            }
            Some(_) => {}
        }
        let sender = tx
            .recover_signer()
            .map_err(|_| ChainError::TxRejected("invalid sender signature".into()))?;
        let block_gas = self.inner.config.genesis.gas_limit;
        if tx.gas_limit() > block_gas {
            return reject("exceeds block gas limit".into());
        }
        if tx.gas_limit() > TX_GAS_LIMIT_CAP {
            return reject(format!(
                "transaction gas limit {} exceeds the cap {TX_GAS_LIMIT_CAP}",
                tx.gas_limit()
            ));
        }
        let intrinsic = intrinsic_gas(&tx);
        if tx.gas_limit() < intrinsic {
            return reject(format!(
                "intrinsic gas too low: have {}, want {intrinsic}",
                tx.gas_limit()
            ));
        }
        if tx
            .max_priority_fee_per_gas()
            .is_some_and(|tip| tip > tx.max_fee_per_gas())
        {
            return reject("max priority fee per gas higher than max fee per gas".into());
        }
        if tx.kind().is_create() && tx.input().len() > 2 * executor::MAX_CODE_SIZE {
            return reject("max initcode size exceeded".into());
        }
        let account = self.inner.store.account(&sender)?.unwrap_or_default();
        if tx.nonce() < account.nonce {
            return reject(format!(
                "nonce too low: next nonce {}, tx nonce {}",
                account.nonce,
                tx.nonce()
            ));
        }
        let cost = U256::from(tx.gas_limit()) * U256::from(tx.max_fee_per_gas()) + tx.value();
        if account.balance < cost {
            return reject(format!(
                "insufficient funds for gas * price + value: balance {}, tx cost {cost}",
                account.balance
            ));
        }
        Ok(PooledTx {
            hash: *tx.tx_hash(),
            tx,
            sender,
            received: std::time::Instant::now(),
        })
    }

    /// A sender's account as the pool weighs its transactions.
    fn sender_state(&self, sender: &Address) -> Result<crate::mempool::SenderState, ChainError> {
        let account = self.inner.store.account(sender)?.unwrap_or_default();
        Ok(crate::mempool::SenderState {
            nonce: account.nonce,
            balance: account.balance,
        })
    }

    /// `eth_sendRawTransaction`: decode, validate, journal, queue. Returns the hash once
    /// the transaction is durable.
    pub fn submit_raw(&self, raw: &[u8]) -> Result<B256, ChainError> {
        let hash = self.admit_raw(raw)?;
        if let Some(gossip) = self.inner.gossip.lock().as_ref() {
            let _ = gossip.send(raw.to_vec());
        }
        Ok(hash)
    }

    /// A transaction a peer gossiped: admitted like [`Self::submit_raw`], not gossiped
    /// again (every validator hears it from the node it was sent to).
    pub fn submit_gossiped(&self, raw: &[u8]) -> Result<B256, ChainError> {
        self.admit_raw(raw)
    }

    /// Hands every transaction accepted through [`Self::submit_raw`] to `gossip`.
    pub fn set_gossip(&self, gossip: tokio::sync::mpsc::UnboundedSender<Vec<u8>>) {
        *self.inner.gossip.lock() = Some(gossip);
    }

    /// Hashes of transactions as they enter the pool (a slow receiver misses some).
    pub fn subscribe_pending(&self) -> tokio::sync::broadcast::Receiver<B256> {
        self.inner.pending.subscribe()
    }

    /// How long ago the head was committed (or the node opened).
    pub fn head_age(&self) -> Duration {
        self.inner.head_at.lock().elapsed()
    }

    fn admit_raw(&self, raw: &[u8]) -> Result<B256, ChainError> {
        let tx = TxEnvelope::decode_2718(&mut &raw[..])
            .map_err(|e| ChainError::InvalidParams(format!("invalid transaction encoding: {e}")))?;
        let pooled = self.validate(tx)?;
        let hash = pooled.hash;
        let state = self.sender_state(&pooled.sender)?;
        {
            let mut pool = self.inner.pool.lock();
            if pool.get(&hash).is_some() {
                return Err(ChainError::TxRejected("already known".into()));
            }
            // Journal first: an acknowledged transaction survives a crash.
            self.inner.store.pool_put(&pooled.tx)?;
            match pool.insert(pooled, state) {
                Ok(ins) => {
                    for h in ins.replaced.iter().chain(&ins.evicted) {
                        self.inner.store.pool_delete(h)?;
                    }
                }
                Err(e) => {
                    drop(pool);
                    self.inner.store.pool_delete(&hash)?;
                    return Err(ChainError::TxRejected(e.to_string()));
                }
            }
            self.inner.metrics.pool.set(pool.len() as i64);
        }
        let _ = self.inner.pending.send(hash);
        self.inner.new_tx.notify_one();
        Ok(hash)
    }

    /// Runs the block producer until `cancel`.
    pub async fn run_miner(self, cancel: CancellationToken) -> Result<(), ChainError> {
        let block_time = self.inner.config.block_time;
        loop {
            if block_time.is_zero() {
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = self.inner.new_tx.notified() => {}
                }
            } else {
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = tokio::time::sleep(block_time) => {}
                }
            }
            let before = self.head().header.number;
            match self.mine_one().await {
                Ok(_) => {
                    // Automine: keep going while blocks still include transactions.
                    let included = self
                        .inner
                        .store
                        .block_txs(before + 1)
                        .map(|t| !t.is_empty())
                        .unwrap_or(false);
                    if block_time.is_zero() && included && self.pool_len() > 0 {
                        self.inner.new_tx.notify_one();
                    }
                }
                Err(e) => {
                    tracing::error!(target: "zg_chain::miner", error = %e, "block production failed");
                    if e.is_fatal() {
                        return Err(e);
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
        tracing::info!(target: "zg_chain::miner", "block producer stopped");
        Ok(())
    }

    /// Produces one block now (also `evm_mine`). Returns its number.
    pub async fn mine_one(&self) -> Result<u64, ChainError> {
        let _guard = self.inner.producing.lock().await;
        let node = self.clone();
        tokio::task::spawn_blocking(move || node.produce_block())
            .await
            .map_err(|e| ChainError::Storage(format!("block production task: {e}")))?
    }

    /// Builds and commits one block. A transaction whose execution panics or breaks an
    /// invariant is dropped (from the pool and its journal) and the block is built
    /// again without it, so one poisoned transaction neither halts the chain nor
    /// crash-loops it on restart. Each retry removes a transaction, so this ends.
    fn produce_block(&self) -> Result<u64, ChainError> {
        loop {
            match self.build_block() {
                Ok(n) => return Ok(n),
                Err(Attempt::Failed(e)) => return Err(e),
                Err(Attempt::Invalid(why)) => return Err(ChainError::Corrupt(why)),
                Err(Attempt::Poisoned(hash, why)) => {
                    tracing::error!(target: "zg_chain::miner", %hash, error = %why, "dropping a transaction whose execution failed; rebuilding the block without it");
                    self.inner.pool.lock().remove(&hash);
                    self.inner.store.pool_delete(&hash)?;
                    self.inner.metrics.poisoned.inc();
                }
            }
        }
    }

    fn build_block(&self) -> Result<u64, Attempt> {
        let _exec = self.inner.exec.lock();
        let parent = self.head();
        let timestamp = now_secs().max(parent.header.timestamp + 1);
        let built = self.execute(&parent, timestamp, self.inner.config.coinbase, Source::Pool)?;
        Ok(self.apply(built)?)
    }

    /// Executes a block on `parent` (which must be the head: execution reads the head
    /// state) without committing it.
    fn execute(
        &self,
        parent: &Head,
        timestamp: u64,
        beneficiary: Address,
        source: Source,
    ) -> Result<Built, Attempt> {
        let started = std::time::Instant::now();
        let g = &self.inner.config.genesis;
        let number = parent.header.number + 1;
        let base_fee = self.next_base_fee();
        let prevrandao = keccak256(parent.hash);
        let env = executor::block_env(
            number,
            timestamp,
            beneficiary,
            g.gas_limit,
            base_fee,
            prevrandao,
        );
        let store = &self.inner.store;
        let strict = matches!(source, Source::Given(_));
        let candidates: Vec<(B256, Address, TxEnvelope)> = match source {
            Source::Pool => {
                let pool = self.inner.pool.lock();
                pool.select(
                    |a| store.account(a).ok().flatten().map_or(0, |acc| acc.nonce),
                    base_fee,
                    g.gas_limit,
                )
                .into_iter()
                .map(|p| (p.hash, p.sender, p.tx))
                .collect()
            }
            Source::Given(txs) => {
                // Senders of transactions already in the pool were recovered on admission.
                let known: Vec<Option<Address>> = {
                    let pool = self.inner.pool.lock();
                    txs.iter()
                        .map(|tx| pool.get(tx.tx_hash()).map(|p| p.sender))
                        .collect()
                };
                let mut out = Vec::with_capacity(txs.len());
                for (tx, known) in txs.into_iter().zip(known) {
                    let sender = match known {
                        Some(s) => s,
                        None => tx.recover_signer().map_err(|e| {
                            Attempt::Invalid(format!("transaction {}: {e}", tx.tx_hash()))
                        })?,
                    };
                    out.push((*tx.tx_hash(), sender, tx));
                }
                out
            }
        };
        tracing::trace!(target: "zg_chain::miner", pending = self.pool_len(), selected = candidates.len(), base_fee, "selecting");
        let mut evm = executor::build_evm(
            CacheDB::new(StoreDb::new(store.clone())),
            &self.inner.genesis,
            env,
            Mode::Block,
        );
        let mut changes = StateChanges::default();
        let (mut txs, mut receipts) = (Vec::new(), Vec::new());
        let mut cumulative = 0u64;
        let mut dropped = Vec::new();
        for (hash, sender, tx) in candidates {
            if cumulative + tx.gas_limit() > g.gas_limit {
                if strict {
                    return Err(Attempt::Invalid(format!(
                        "transaction {hash} exceeds the block gas limit"
                    )));
                }
                continue;
            }
            let recovered = Recovered::new_unchecked(tx.clone(), sender);
            let executed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                #[cfg(test)]
                fault::check(&hash);
                evm.transact(executor::tx_env(&recovered))
            }));
            let out = match executed {
                Ok(Ok(out)) => out,
                Ok(Err(EVMError::Transaction(e))) => {
                    if strict {
                        return Err(Attempt::Invalid(format!("transaction {hash}: {e}")));
                    }
                    tracing::info!(target: "zg_chain::miner", %hash, error = %e, "dropping invalid transaction");
                    dropped.push(hash);
                    continue;
                }
                // The store failed: not the transaction's fault.
                Ok(Err(EVMError::Database(e))) => return Err(Attempt::Failed(e)),
                // A module or EVM invariant failed on this transaction.
                Ok(Err(e)) => return Err(Attempt::Poisoned(hash, e.to_string())),
                Err(panic) => {
                    let why = panic
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_owned())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "panic".into());
                    return Err(Attempt::Poisoned(hash, format!("panic: {why}")));
                }
            };
            let gas_used = out.result.tx_gas_used();
            cumulative += gas_used;
            executor::accumulate(&mut changes, &out.state);
            let success = out.result.is_success();
            let logs = match out.result {
                ExecutionResult::Success { logs, .. } => logs,
                _ => Vec::new(),
            };
            let receipt = Receipt {
                status: success.into(),
                cumulative_gas_used: cumulative,
                logs,
            };
            let bloom = receipt.bloom_slow();
            let with_bloom = ReceiptWithBloom {
                receipt,
                logs_bloom: bloom,
            };
            receipts.push(match tx.tx_type() {
                TxType::Legacy => ReceiptEnvelope::Legacy(with_bloom),
                TxType::Eip2930 => ReceiptEnvelope::Eip2930(with_bloom),
                TxType::Eip1559 => ReceiptEnvelope::Eip1559(with_bloom),
                TxType::Eip4844 => ReceiptEnvelope::Eip4844(with_bloom),
                TxType::Eip7702 => ReceiptEnvelope::Eip7702(with_bloom),
            });
            evm.commit(out.state);
            txs.push(tx);
        }
        let trie = store.state_update(parent.header.state_root, &changes)?;
        let state_root = trie.root;
        let mut logs_bloom = Bloom::ZERO;
        for r in &receipts {
            logs_bloom.accrue_bloom(r.logs_bloom());
        }
        let header = Header {
            parent_hash: parent.hash,
            beneficiary,
            state_root,
            transactions_root: alloy_consensus::proofs::calculate_transaction_root(&txs),
            receipts_root: alloy_consensus::proofs::calculate_receipt_root(&receipts),
            logs_bloom,
            number,
            gas_limit: g.gas_limit,
            gas_used: cumulative,
            timestamp,
            extra_data: Bytes::new(),
            mix_hash: prevrandao,
            base_fee_per_gas: Some(base_fee),
            ..header_defaults()
        };
        let hash = header.hash_slow();
        Ok(Built {
            commit: BlockCommit {
                header,
                hash,
                txs,
                receipts,
                state: changes,
                trie,
            },
            dropped,
            started,
        })
    }

    /// Commits an executed block on the head and moves the head to it.
    fn apply(&self, built: Built) -> Result<u64, ChainError> {
        let Built {
            commit,
            dropped,
            started,
        } = built;
        let store = &self.inner.store;
        if commit.header.parent_hash != self.head().hash {
            return Err(ChainError::Corrupt(format!(
                "block {} does not extend the head",
                commit.header.number
            )));
        }
        store.commit_block(&commit, None)?;
        {
            let mut pool = self.inner.pool.lock();
            for s in pool.senders() {
                let nonce = store.account(&s)?.map_or(0, |a| a.nonce);
                for h in pool.prune(&s, nonce) {
                    store.pool_delete(&h)?; // normally already removed with the block
                }
            }
            for h in &dropped {
                pool.remove(h);
                store.pool_delete(h)?;
            }
            for h in pool.expire(std::time::Instant::now()) {
                tracing::info!(target: "zg_chain::pool", hash = %h, "expired a stuck transaction");
                store.pool_delete(&h)?;
            }
            self.inner.metrics.pool.set(pool.len() as i64);
        }
        let number = commit.header.number;
        let included = commit.txs.len();
        let gas = commit.header.gas_used;
        *self.inner.head.lock() = Head {
            header: commit.header,
            hash: commit.hash,
        };
        *self.inner.head_at.lock() = std::time::Instant::now();
        self.inner.head_tx.send_replace(number);
        let m = &self.inner.metrics;
        m.head.set(number as i64);
        m.blocks.inc();
        m.txs.inc_by(included as u64);
        m.block_seconds.observe(started.elapsed().as_secs_f64());
        tracing::debug!(target: "zg_chain::miner", number, txs = included, gas, "block committed");
        Ok(number)
    }

    /// Builds a block on the head for consensus to propose, from the pool; nothing is
    /// committed (the block is kept until [`Self::commit_finalized`]). `None` when the
    /// head is not `parent` (the caller waits for it).
    pub fn propose_block(&self, parent: B256) -> Result<Option<ZgBlock>, ChainError> {
        loop {
            let _exec = self.inner.exec.lock();
            let head = self.head();
            if head.hash != parent {
                return Ok(None);
            }
            let timestamp = now_secs().max(head.header.timestamp + 1);
            match self.execute(&head, timestamp, self.inner.config.coinbase, Source::Pool) {
                Ok(built) => {
                    let block = ZgBlock::new(built.commit.header.clone(), built.commit.txs.clone());
                    self.keep(built);
                    return Ok(Some(block));
                }
                Err(Attempt::Failed(e)) => return Err(e),
                Err(Attempt::Invalid(why)) => return Err(ChainError::Corrupt(why)),
                Err(Attempt::Poisoned(hash, why)) => {
                    tracing::error!(target: "zg_chain::miner", %hash, error = %why, "dropping a transaction whose execution failed; building the proposal without it");
                    self.inner.pool.lock().remove(&hash);
                    self.inner.store.pool_delete(&hash)?;
                    self.inner.metrics.poisoned.inc();
                }
            }
        }
    }

    /// Re-executes a peer's proposal on the head. `Ok(None)` when the head is not its
    /// parent (the caller waits); `Ok(Some(Err(why)))` when the block is invalid: a
    /// header field off the rules, a transaction that cannot execute, or a state root,
    /// receipts root, bloom or gas figure other than the execution's.
    pub fn verify_block(&self, block: &ZgBlock) -> Result<Option<Result<(), String>>, ChainError> {
        let _exec = self.inner.exec.lock();
        let head = self.head();
        if block.header.parent_hash != head.hash {
            return Ok(None);
        }
        if let Err(why) = self.check_header(&head, block) {
            return Ok(Some(Err(why)));
        }
        match self.execute(
            &head,
            block.header.timestamp,
            block.header.beneficiary,
            Source::Given(block.txs.clone()),
        ) {
            Ok(built) if built.commit.hash == block.hash() => {
                self.keep(built);
                Ok(Some(Ok(())))
            }
            Ok(built) => Ok(Some(Err(format!(
                "block {} executes to another header: state root {} (claimed {}), receipts root {} (claimed {}), gas {} (claimed {})",
                block.header.number,
                built.commit.header.state_root,
                block.header.state_root,
                built.commit.header.receipts_root,
                block.header.receipts_root,
                built.commit.header.gas_used,
                block.header.gas_used
            )))),
            Err(Attempt::Failed(e)) => Err(e),
            Err(Attempt::Invalid(why)) => Ok(Some(Err(why))),
            Err(Attempt::Poisoned(hash, why)) => {
                self.inner.pool.lock().remove(&hash);
                self.inner.store.pool_delete(&hash)?;
                Ok(Some(Err(format!(
                    "transaction {hash} failed to execute: {why}"
                ))))
            }
        }
    }

    /// The header rules a proposal must follow before it is executed.
    fn check_header(&self, parent: &Head, block: &ZgBlock) -> Result<(), String> {
        let h = &block.header;
        let g = &self.inner.config.genesis;
        if h.number != parent.header.number + 1 {
            return Err(format!(
                "number {} after {}",
                h.number, parent.header.number
            ));
        }
        if !block.transactions_match() {
            return Err("the transactions are not those of the transactions root".into());
        }
        // Seconds only move forward, and not further than the allowed drift past the
        // later of our clock and the parent's next second.
        let latest = now_secs().max(parent.header.timestamp + 1) + MAX_TIMESTAMP_DRIFT;
        if h.timestamp <= parent.header.timestamp || h.timestamp > latest {
            return Err(format!(
                "timestamp {} outside ({}, {latest}]",
                h.timestamp, parent.header.timestamp
            ));
        }
        if h.gas_limit != g.gas_limit || !h.extra_data.is_empty() {
            return Err("gas limit or extra data off the chain's rules".into());
        }
        Ok(())
    }

    fn keep(&self, built: Built) {
        let mut kept = self.inner.executed.lock();
        let head = self.head().header.number;
        kept.retain(|_, b| b.commit.header.number > head);
        if kept.len() >= MAX_KEPT_BLOCKS {
            return;
        }
        kept.insert(built.commit.hash, built);
    }

    /// Commits a finalized block: from its kept execution, or by executing it now (a
    /// block this node did not propose or verify, as when catching up). A block at or
    /// below the head must be the one committed there (redelivery after a restart).
    pub fn commit_finalized(&self, block: &ZgBlock) -> Result<(), ChainError> {
        let _exec = self.inner.exec.lock();
        let head = self.head();
        let n = block.header.number;
        if n <= head.header.number {
            let ours = self.inner.store.header(n)?.map(|h| h.hash_slow());
            return if ours == Some(block.hash()) {
                Ok(())
            } else {
                Err(ChainError::Corrupt(format!(
                    "finalized block {n} {} conflicts with the committed one",
                    block.hash()
                )))
            };
        }
        if block.header.parent_hash != head.hash {
            return Err(ChainError::Corrupt(format!(
                "finalized block {n} does not extend the head {}",
                head.header.number
            )));
        }
        let kept = self.inner.executed.lock().remove(&block.hash());
        let built = match kept {
            Some(built) => built,
            None => {
                if let Err(why) = self.check_header(&head, block) {
                    tracing::warn!(target: "zg_chain::consensus", number = n, %why, "a finalized block breaks a header rule (clock drift?); executing it anyway");
                }
                match self.execute(
                    &head,
                    block.header.timestamp,
                    block.header.beneficiary,
                    Source::Given(block.txs.clone()),
                ) {
                    Ok(built) if built.commit.hash == block.hash() => built,
                    Ok(_) => {
                        return Err(ChainError::Corrupt(format!(
                            "finalized block {n} does not execute to its header"
                        )));
                    }
                    Err(Attempt::Failed(e)) => return Err(e),
                    Err(Attempt::Invalid(why) | Attempt::Poisoned(_, why)) => {
                        return Err(ChainError::Corrupt(format!(
                            "finalized block {n} does not execute: {why}"
                        )));
                    }
                }
            }
        };
        self.apply(built)?;
        Ok(())
    }

    /// Flushes the store (clean shutdown).
    pub fn shutdown(&self) -> Result<(), ChainError> {
        self.inner.store.flush()
    }
}

/// How a block's transactions are chosen.
enum Source {
    /// From the pool, skipping those that cannot execute (block production).
    Pool,
    /// Exactly these, each of which must execute (a peer's proposal).
    Given(Vec<TxEnvelope>),
}

/// A block executed on the head, not yet committed.
struct Built {
    commit: BlockCommit,
    /// Pool transactions found invalid while building.
    dropped: Vec<B256>,
    started: std::time::Instant,
}

/// Why building a block stopped.
enum Attempt {
    /// A transaction's execution panicked or broke an invariant: drop it and rebuild.
    Poisoned(B256, String),
    /// A given block is invalid (a transaction that cannot execute, a header field that
    /// does not follow the rules).
    Invalid(String),
    /// Anything else (the store failed).
    Failed(ChainError),
}

impl From<ChainError> for Attempt {
    fn from(e: ChainError) -> Self {
        Self::Failed(e)
    }
}

/// Fault injection for the poisoned-transaction tests: execution of the named
/// transaction panics.
#[cfg(test)]
pub(crate) mod fault {
    use alloy_primitives::B256;

    pub(crate) static PANIC_ON: std::sync::Mutex<Option<B256>> = std::sync::Mutex::new(None);

    pub(crate) fn check(hash: &B256) {
        if PANIC_ON.lock().map(|h| *h == Some(*hash)).unwrap_or(false) {
            panic!("injected fault executing {hash}");
        }
    }
}

/// The fields every header of this chain shares: post-merge constants and the Cancun and
/// Prague fields without blobs, withdrawals or requests.
fn header_defaults() -> Header {
    Header {
        ommers_hash: EMPTY_OMMER_ROOT_HASH,
        difficulty: U256::ZERO,
        nonce: B64::ZERO,
        withdrawals_root: Some(EMPTY_ROOT_HASH),
        blob_gas_used: Some(0),
        excess_blob_gas: Some(0),
        parent_beacon_block_root: Some(B256::ZERO),
        requests_hash: Some(EMPTY_REQUESTS_HASH),
        ..Default::default()
    }
}

/// Intrinsic gas of a transaction under Prague/Osaka rules (including the EIP-7623 floor).
pub fn intrinsic_gas(tx: &TxEnvelope) -> u64 {
    let data = tx.input();
    let zeros = data.iter().filter(|b| **b == 0).count() as u64;
    let nonzeros = data.len() as u64 - zeros;
    let mut gas = 21_000 + zeros * 4 + nonzeros * 16;
    if tx.kind().is_create() {
        gas += 32_000 + 2 * (data.len() as u64).div_ceil(32);
    }
    if let Some(list) = tx.access_list() {
        gas += list
            .0
            .iter()
            .map(|i| 2_400 + 1_900 * i.storage_keys.len() as u64)
            .sum::<u64>();
    }
    if let Some(auths) = tx.authorization_list() {
        gas += 25_000 * auths.len() as u64;
    }
    let floor = 21_000 + 10 * (zeros + nonzeros * 4);
    gas.max(floor)
}

#[cfg(test)]
mod tests {
    use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
    use alloy_eips::eip2718::Encodable2718;
    use alloy_primitives::{Address, Bytes, TxKind, U256};
    use alloy_signer::SignerSync;
    use alloy_signer_local::PrivateKeySigner;

    use super::{Node, fault};
    use crate::{NodeConfig, dev_accounts};

    fn transfer(s: &PrivateKeySigner, nonce: u64) -> Vec<u8> {
        let tx = TxEip1559 {
            chain_id: NodeConfig::default().genesis.chain_id,
            nonce,
            gas_limit: 21_000,
            max_fee_per_gas: 100_000_000_000,
            max_priority_fee_per_gas: 1_000_000_000,
            to: TxKind::Call(Address::repeat_byte(0x42)),
            value: U256::from(1),
            access_list: Default::default(),
            input: Bytes::new(),
        };
        let sig = s.sign_hash_sync(&tx.signature_hash()).unwrap();
        TxEnvelope::Eip1559(tx.into_signed(sig)).encoded_2718()
    }

    /// A transaction whose execution panics is dropped with its journal entry; the block
    /// is built without it, and the node restarts cleanly (no crash loop).
    #[tokio::test(flavor = "multi_thread")]
    async fn a_panicking_transaction_is_dropped_not_fatal() {
        let dir = zg_node_kit::TempDir::new("poisoned");
        let config = NodeConfig {
            block_time: std::time::Duration::from_secs(3600),
            ..NodeConfig::default()
        };
        let accounts = dev_accounts(2);
        let node = Node::open(&dir.0, config.clone()).unwrap();
        let good_a = node.submit_raw(&transfer(&accounts[0], 0)).unwrap();
        let poisoned = node.submit_raw(&transfer(&accounts[0], 1)).unwrap();
        let good_b = node.submit_raw(&transfer(&accounts[1], 0)).unwrap();
        *fault::PANIC_ON.lock().unwrap() = Some(poisoned);
        let n = node.mine_one().await.unwrap();
        *fault::PANIC_ON.lock().unwrap() = None;
        assert_eq!(n, 1);
        let included: Vec<_> = node
            .store()
            .block_txs(1)
            .unwrap()
            .iter()
            .map(|t| *t.tx_hash())
            .collect();
        assert!(included.contains(&good_a) && included.contains(&good_b));
        assert!(!included.contains(&poisoned));
        assert!(
            node.pending_tx(&poisoned).is_none(),
            "dropped from the pool"
        );
        assert!(
            node.store()
                .pool_all()
                .unwrap()
                .iter()
                .all(|t| *t.tx_hash() != poisoned),
            "dropped from the journal"
        );
        assert_eq!(node.inner.metrics.poisoned.get(), 1);
        drop(node);
        // Restart: nothing replays the poisoned transaction; blocks keep coming.
        let node = Node::open(&dir.0, config).unwrap();
        assert_eq!(node.pool_len(), 0);
        node.submit_raw(&transfer(&accounts[0], 1)).unwrap();
        assert_eq!(node.mine_one().await.unwrap(), 2);
        assert_eq!(node.store().block_txs(2).unwrap().len(), 1);
    }
}
