//! Pending transactions: per sender by nonce, selected across senders by tip.
//!
//! Bounded against floods: at most [`PoolLimits::per_sender`] transactions per sender,
//! nonces at most [`PoolLimits::max_nonce_gap`] ahead of the sender's state nonce, the
//! sender's pending transactions together within its balance, and when the pool is full
//! a better-paying transaction evicts the lowest-paying one of another sender (the last
//! of its queue, so no gap is opened). Senders idle for [`PoolLimits::lifetime`] are
//! dropped.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::time::{Duration, Instant};

use alloy_consensus::{Transaction, TxEnvelope};
use alloy_primitives::{Address, B256, U256};

/// The pool's limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolLimits {
    /// Transactions in the pool at most.
    pub max: usize,
    /// Transactions per sender at most.
    pub per_sender: usize,
    /// How far ahead of the sender's state nonce a transaction's nonce may be.
    pub max_nonce_gap: u64,
    /// A sender with no new transaction for this long is dropped from the pool.
    pub lifetime: Duration,
}

impl Default for PoolLimits {
    fn default() -> Self {
        Self {
            max: 10_000,
            per_sender: 64,
            max_nonce_gap: 64,
            lifetime: Duration::from_secs(3 * 3600),
        }
    }
}

/// What the pool knows of a sender's account when a transaction arrives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SenderState {
    /// The account's nonce in the latest state.
    pub nonce: u64,
    /// Its balance in the latest state.
    pub balance: U256,
}

/// What an insertion changed besides adding the transaction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inserted {
    /// The transaction it replaced (same sender and nonce).
    pub replaced: Option<B256>,
    /// Transactions of other senders evicted to make room.
    pub evicted: Vec<B256>,
}

/// A validated pending transaction.
#[derive(Clone, Debug)]
pub struct PooledTx {
    /// The signed transaction.
    pub tx: TxEnvelope,
    /// Its recovered sender.
    pub sender: Address,
    /// Its hash.
    pub hash: B256,
    /// When this node received it.
    pub received: Instant,
}

impl PooledTx {
    fn nonce(&self) -> u64 {
        self.tx.nonce()
    }

    /// Most this transaction can cost its sender: gas limit × fee cap + value.
    pub fn max_cost(&self) -> U256 {
        U256::from(self.tx.gas_limit()) * U256::from(self.tx.max_fee_per_gas()) + self.tx.value()
    }

    /// The tip per gas it offers at most (the pool's eviction order).
    fn tip_cap(&self) -> u128 {
        self.tx
            .max_priority_fee_per_gas()
            .unwrap_or(self.tx.max_fee_per_gas())
            .min(self.tx.max_fee_per_gas())
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
    /// The pool is full and the transaction pays no more than the cheapest one.
    #[error("txpool is full")]
    Full,
    /// The sender has as many pending transactions as it may.
    #[error("too many pending transactions from this sender (at most {0})")]
    SenderFull(usize),
    /// The nonce is too far ahead of the sender's.
    #[error("nonce too high: next nonce {next}, tx nonce {nonce}, at most {max_gap} ahead")]
    NonceGap {
        /// The sender's state nonce.
        next: u64,
        /// The transaction's.
        nonce: u64,
        /// The allowed gap.
        max_gap: u64,
    },
    /// The sender's pending transactions together cost more than its balance.
    #[error(
        "insufficient funds for the sender's pending transactions: balance {balance}, total cost {total}"
    )]
    InsufficientFunds {
        /// The sender's balance.
        balance: U256,
        /// What its pending transactions and this one can cost.
        total: U256,
    },
}

/// The pending pool.
#[derive(Debug)]
pub struct Mempool {
    by_sender: HashMap<Address, BTreeMap<u64, PooledTx>>,
    by_hash: HashMap<B256, (Address, u64)>,
    limits: PoolLimits,
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
    /// An empty pool within `limits`.
    pub fn new(limits: PoolLimits) -> Self {
        Self {
            by_sender: HashMap::new(),
            by_hash: HashMap::new(),
            limits,
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

    /// Adds a transaction of a sender in `state`; what it replaced or evicted.
    pub fn insert(&mut self, tx: PooledTx, state: SenderState) -> Result<Inserted, PoolError> {
        if self.by_hash.contains_key(&tx.hash) {
            return Err(PoolError::AlreadyKnown);
        }
        let limits = self.limits;
        if tx.nonce() > state.nonce.saturating_add(limits.max_nonce_gap) {
            return Err(PoolError::NonceGap {
                next: state.nonce,
                nonce: tx.nonce(),
                max_gap: limits.max_nonce_gap,
            });
        }
        let empty = BTreeMap::new();
        let queue = self.by_sender.get(&tx.sender).unwrap_or(&empty);
        let total = queue
            .range(state.nonce..)
            .filter(|(n, _)| **n != tx.nonce())
            .fold(tx.max_cost(), |acc, (_, t)| {
                acc.saturating_add(t.max_cost())
            });
        if total > state.balance {
            return Err(PoolError::InsufficientFunds {
                balance: state.balance,
                total,
            });
        }
        let mut evicted = Vec::new();
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
                if queue.len() >= limits.per_sender {
                    return Err(PoolError::SenderFull(limits.per_sender));
                }
                if self.by_hash.len() >= limits.max {
                    // Evict the cheapest other sender's last transaction if this one
                    // pays more; else refuse.
                    let victim = self
                        .by_sender
                        .iter()
                        .filter(|(s, _)| **s != tx.sender)
                        .filter_map(|(_, q)| q.values().next_back())
                        .min_by_key(|t| t.tip_cap())
                        .map(|t| (t.tip_cap(), t.hash));
                    match victim {
                        Some((tip, hash)) if tip < tx.tip_cap() => evicted.push(hash),
                        _ => return Err(PoolError::Full),
                    }
                }
                None
            }
        };
        for h in &evicted {
            self.remove(h);
        }
        if let Some(h) = replaced {
            self.by_hash.remove(&h);
        }
        self.by_hash.insert(tx.hash, (tx.sender, tx.nonce()));
        self.by_sender
            .entry(tx.sender)
            .or_default()
            .insert(tx.nonce(), tx);
        Ok(Inserted { replaced, evicted })
    }

    /// Drops the senders whose newest transaction arrived more than the pool's lifetime
    /// before `now` (stuck behind a gap, or priced out); returns the hashes dropped.
    pub fn expire(&mut self, now: Instant) -> Vec<B256> {
        let lifetime = self.limits.lifetime;
        let stale: Vec<Address> = self
            .by_sender
            .iter()
            .filter(|(_, q)| {
                q.values()
                    .map(|t| t.received)
                    .max()
                    .is_some_and(|last| now.saturating_duration_since(last) > lifetime)
            })
            .map(|(s, _)| *s)
            .collect();
        let mut dropped = Vec::new();
        for s in stale {
            if let Some(q) = self.by_sender.remove(&s) {
                for t in q.values() {
                    self.by_hash.remove(&t.hash);
                    dropped.push(t.hash);
                }
            }
        }
        dropped
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

#[cfg(test)]
mod tests {
    use alloy_consensus::{SignableTransaction, TxEip1559};
    use alloy_primitives::{Bytes, TxKind};
    use alloy_signer::SignerSync;

    use super::*;

    fn tx(who: u32, nonce: u64, tip: u128) -> PooledTx {
        let s = crate::dev_account(who);
        let t = TxEip1559 {
            chain_id: 1,
            nonce,
            gas_limit: 21_000,
            max_fee_per_gas: 100 + tip,
            max_priority_fee_per_gas: tip,
            to: TxKind::Call(Address::repeat_byte(9)),
            value: U256::from(1),
            access_list: Default::default(),
            input: Bytes::new(),
        };
        let sig = s.sign_hash_sync(&t.signature_hash()).unwrap();
        let env = TxEnvelope::Eip1559(t.into_signed(sig));
        PooledTx {
            hash: *env.tx_hash(),
            tx: env,
            sender: s.address(),
            received: Instant::now(),
        }
    }

    fn rich() -> SenderState {
        SenderState {
            nonce: 0,
            balance: U256::from(10u64).pow(U256::from(20)),
        }
    }

    fn limits(max: usize) -> PoolLimits {
        PoolLimits {
            max,
            per_sender: 4,
            max_nonce_gap: 8,
            lifetime: Duration::from_secs(60),
        }
    }

    #[test]
    fn a_flooding_sender_is_bounded_by_count_and_gap() {
        let mut pool = Mempool::new(limits(100));
        for n in 0..4 {
            pool.insert(tx(0, n * 2, 1), rich()).unwrap();
        }
        assert_eq!(
            pool.insert(tx(0, 1, 1), rich()),
            Err(PoolError::SenderFull(4))
        );
        assert!(matches!(
            pool.insert(tx(1, 9, 1), rich()),
            Err(PoolError::NonceGap {
                next: 0,
                nonce: 9,
                max_gap: 8
            })
        ));
        // Another sender is unaffected, and its transaction is the one selected.
        pool.insert(tx(1, 0, 1), rich()).unwrap();
        let picked = pool.select(|_| 0, 0, 30_000_000);
        assert_eq!(picked.len(), 2, "sender 0's nonce 0 and sender 1's nonce 0");
    }

    #[test]
    fn pending_costs_add_up_against_the_balance() {
        let mut pool = Mempool::new(limits(100));
        let one = tx(0, 0, 1).max_cost();
        let state = SenderState {
            nonce: 0,
            balance: one * U256::from(5) / U256::from(2),
        };
        pool.insert(tx(0, 0, 1), state).unwrap();
        pool.insert(tx(0, 1, 1), state).unwrap();
        assert!(matches!(
            pool.insert(tx(0, 2, 1), state),
            Err(PoolError::InsufficientFunds { .. })
        ));
        // A replacement counts once.
        pool.insert(tx(0, 1, 20), state).unwrap();
    }

    #[test]
    fn a_full_pool_evicts_the_cheapest_for_a_better_payer() {
        let mut pool = Mempool::new(limits(3));
        pool.insert(tx(0, 0, 5), rich()).unwrap();
        pool.insert(tx(1, 0, 1), rich()).unwrap();
        pool.insert(tx(2, 0, 7), rich()).unwrap();
        assert_eq!(pool.insert(tx(3, 0, 1), rich()), Err(PoolError::Full));
        let cheap = tx(1, 0, 1).hash;
        let ins = pool.insert(tx(3, 0, 3), rich()).unwrap();
        assert_eq!(ins.evicted, vec![cheap]);
        assert!(pool.get(&cheap).is_none());
        assert_eq!(pool.len(), 3);
    }

    #[test]
    fn idle_senders_expire() {
        let mut pool = Mempool::new(limits(100));
        pool.insert(tx(0, 3, 1), rich()).unwrap(); // stuck behind a gap
        pool.insert(tx(1, 0, 1), rich()).unwrap();
        assert!(pool.expire(Instant::now()).is_empty());
        let later = Instant::now() + Duration::from_secs(61);
        let dropped = pool.expire(later);
        assert_eq!(dropped.len(), 2);
        assert!(pool.is_empty());
    }
}
