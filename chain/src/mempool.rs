//! Pending transactions: per sender by nonce, selected across senders by tip.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap, HashMap};

use alloy_consensus::{Transaction, TxEnvelope};
use alloy_primitives::{Address, B256};

/// A validated pending transaction.
#[derive(Clone, Debug)]
pub struct PooledTx {
    /// The signed transaction.
    pub tx: TxEnvelope,
    /// Its recovered sender.
    pub sender: Address,
    /// Its hash.
    pub hash: B256,
}

impl PooledTx {
    fn nonce(&self) -> u64 {
        self.tx.nonce()
    }

    /// Tip per gas the block producer earns at `base_fee`; `None` if the fee cap is below it.
    pub fn effective_tip(&self, base_fee: u64) -> Option<u128> {
        self.tx.effective_tip_per_gas(base_fee)
    }
}

/// Why the pool refused a transaction (JSON-RPC -32000 messages as geth words them).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    /// Same hash already pending.
    #[error("already known")]
    AlreadyKnown,
    /// Same nonce pending with a fee not 10 % lower.
    #[error("replacement transaction underpriced")]
    ReplacementUnderpriced,
    /// The pool is full.
    #[error("txpool is full")]
    Full,
}

/// The pending pool.
#[derive(Debug)]
pub struct Mempool {
    by_sender: HashMap<Address, BTreeMap<u64, PooledTx>>,
    by_hash: HashMap<B256, (Address, u64)>,
    max: usize,
}

struct Candidate {
    tip: u128,
    seq: usize,
    sender: Address,
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Candidate {}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        // Highest tip first; earlier senders (lower seq) first among equals.
        self.tip.cmp(&other.tip).then(other.seq.cmp(&self.seq))
    }
}

impl Mempool {
    /// An empty pool holding at most `max` transactions.
    pub fn new(max: usize) -> Self {
        Self {
            by_sender: HashMap::new(),
            by_hash: HashMap::new(),
            max,
        }
    }

    /// Number of pending transactions.
    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// A pending transaction by hash.
    pub fn get(&self, hash: &B256) -> Option<&PooledTx> {
        let (sender, nonce) = self.by_hash.get(hash)?;
        self.by_sender.get(sender)?.get(nonce)
    }

    /// Adds a transaction; returns the hash it replaced, if any.
    pub fn insert(&mut self, tx: PooledTx) -> Result<Option<B256>, PoolError> {
        if self.by_hash.contains_key(&tx.hash) {
            return Err(PoolError::AlreadyKnown);
        }
        let queue = self.by_sender.entry(tx.sender).or_default();
        let replaced = match queue.get(&tx.nonce()) {
            Some(old) => {
                let bump = |new: u128, old: u128| new >= old + old / 10;
                let fee_ok = bump(tx.tx.max_fee_per_gas(), old.tx.max_fee_per_gas());
                let tip_ok = bump(
                    tx.tx
                        .max_priority_fee_per_gas()
                        .unwrap_or(tx.tx.max_fee_per_gas()),
                    old.tx
                        .max_priority_fee_per_gas()
                        .unwrap_or(old.tx.max_fee_per_gas()),
                );
                if !(fee_ok && tip_ok) {
                    return Err(PoolError::ReplacementUnderpriced);
                }
                Some(old.hash)
            }
            None => {
                if self.by_hash.len() >= self.max {
                    return Err(PoolError::Full);
                }
                None
            }
        };
        if let Some(h) = replaced {
            self.by_hash.remove(&h);
        }
        self.by_hash.insert(tx.hash, (tx.sender, tx.nonce()));
        queue.insert(tx.nonce(), tx);
        Ok(replaced)
    }

    /// The nonce after the sender's consecutive pending transactions.
    pub fn pending_nonce(&self, sender: &Address, state_nonce: u64) -> u64 {
        let mut n = state_nonce;
        if let Some(q) = self.by_sender.get(sender) {
            while q.contains_key(&n) {
                n += 1;
            }
        }
        n
    }

    /// Picks executable transactions: per sender consecutive from its state nonce, across
    /// senders by highest effective tip, within `gas_limit` (by declared gas limits).
    pub fn select(
        &self,
        state_nonce: impl Fn(&Address) -> u64,
        base_fee: u64,
        gas_limit: u64,
    ) -> Vec<PooledTx> {
        let mut next: HashMap<Address, u64> = HashMap::new();
        let mut heap = BinaryHeap::new();
        let senders: Vec<&Address> = self.by_sender.keys().collect();
        for (seq, sender) in senders.iter().enumerate() {
            let n = state_nonce(sender);
            next.insert(**sender, n);
            if let Some(tip) = self.by_sender[*sender]
                .get(&n)
                .and_then(|t| t.effective_tip(base_fee))
            {
                heap.push(Candidate {
                    tip,
                    seq,
                    sender: **sender,
                });
            }
        }
        let mut out = Vec::new();
        let mut gas = 0u64;
        while let Some(c) = heap.pop() {
            let n = next[&c.sender];
            let tx = &self.by_sender[&c.sender][&n];
            if gas + tx.tx.gas_limit() > gas_limit {
                continue; // this sender waits for the next block
            }
            gas += tx.tx.gas_limit();
            out.push(tx.clone());
            next.insert(c.sender, n + 1);
            if let Some(tip) = self.by_sender[&c.sender]
                .get(&(n + 1))
                .and_then(|t| t.effective_tip(base_fee))
            {
                heap.push(Candidate {
                    tip,
                    seq: c.seq,
                    sender: c.sender,
                });
            }
        }
        out
    }

    /// Drops a sender's transactions below `state_nonce` (included or replaced on chain);
    /// returns their hashes.
    pub fn prune(&mut self, sender: &Address, state_nonce: u64) -> Vec<B256> {
        let Some(q) = self.by_sender.get_mut(sender) else {
            return Vec::new();
        };
        let keep = q.split_off(&state_nonce);
        let dropped: Vec<B256> = q.values().map(|t| t.hash).collect();
        *q = keep;
        if q.is_empty() {
            self.by_sender.remove(sender);
        }
        for h in &dropped {
            self.by_hash.remove(h);
        }
        dropped
    }

    /// Removes one transaction (e.g. invalid at execution); returns whether it was there.
    pub fn remove(&mut self, hash: &B256) -> bool {
        let Some((sender, nonce)) = self.by_hash.remove(hash) else {
            return false;
        };
        if let Some(q) = self.by_sender.get_mut(&sender) {
            q.remove(&nonce);
            if q.is_empty() {
                self.by_sender.remove(&sender);
            }
        }
        true
    }

    /// Every pending transaction's sender, for pruning after a block.
    pub fn senders(&self) -> Vec<Address> {
        self.by_sender.keys().copied().collect()
    }
}
