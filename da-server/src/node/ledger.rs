//! What a node has signed for each disperser and not yet seen paid: stored bytes are
//! accounted against the disperser's deposit, so one small deposit does not buy
//! unlimited storage.
//!
//! Each store request reserves its blob fee. A request is admitted only while the
//! disperser's deposit covers everything reserved for it plus the new fee. A
//! reservation ends when its payload is anchored (the chain then charged the fee to the
//! deposit) or when its epoch leaves the signing window (its signature can no longer be
//! anchored). Anchors are only looked up when a disperser runs short, so an honest
//! disperser with headroom costs no extra chain calls.
//!
//! Reservations live in memory, and each signed payload's payer and fee are stored with
//! its attestation: a restarted node restores the reservations of the epochs still in
//! the window ([`DepositLedger::restore`]) before it serves.

use std::collections::HashMap;

use alloy_primitives::{Address, B256, U256};
use parking_lot::Mutex;
use zg_da_client::DaChain;
use zg_primitives::{Certificate, StoreRefusal};

/// Dispersers tracked at once; beyond, a new disperser is refused as over capacity
/// until reservations end (every admitted one holds a deposit on chain).
pub const MAX_DISPERSERS: usize = 10_000;

/// Anchor lookups per admission check of a disperser that ran short.
const MAX_ANCHOR_CHECKS: usize = 64;

/// One signed, not yet anchored payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Reservation {
    root: B256,
    epoch: u64,
    quorum_id: u64,
    fee: U256,
}

/// The node's reservations per disperser.
#[derive(Debug, Default)]
pub struct DepositLedger {
    reserved: Mutex<HashMap<Address, Vec<Reservation>>>,
}

/// A payload to be reserved.
#[derive(Clone, Copy, Debug)]
pub struct Payment {
    /// The disperser (recovered from its signature).
    pub disperser: Address,
    /// The payload.
    pub root: B256,
    /// The certificate's epoch.
    pub epoch: u64,
    /// The certificate's quorum.
    pub quorum_id: u64,
    /// Blobs of the payload.
    pub blob_count: u32,
}

impl DepositLedger {
    /// The fees reserved for `disperser` (whatever their epochs).
    pub fn reserved(&self, disperser: &Address) -> U256 {
        self.reserved
            .lock()
            .get(disperser)
            .map_or(U256::ZERO, |v| v.iter().map(|r| r.fee).sum())
    }

    /// Restores reservations of signed payloads (from the store, at start): the
    /// certificate, its disperser and fee. Anchored ones are dropped by the next
    /// admission that runs short, like any other.
    pub fn restore(&self, signed: impl IntoIterator<Item = (Certificate, Address, U256)>) {
        let mut all = self.reserved.lock();
        for (cert, disperser, fee) in signed {
            if all.len() >= MAX_DISPERSERS && !all.contains_key(&disperser) {
                continue;
            }
            let v = all.entry(disperser).or_default();
            let r = Reservation {
                root: cert.data_root,
                epoch: cert.epoch,
                quorum_id: cert.quorum_id,
                fee,
            };
            if !fee.is_zero() && !v.contains(&r) {
                v.push(r);
            }
        }
    }

    /// Reserves the fee of `p` against its disperser's deposit and returns the fee, or
    /// refuses with `NoDeposit` (the deposit does not cover what is reserved plus this
    /// fee). `oldest_epoch` is the oldest epoch the node still signs for.
    pub async fn reserve<C: DaChain>(
        &self,
        chain: &C,
        p: Payment,
        oldest_epoch: u64,
    ) -> Result<U256, StoreRefusal> {
        let internal = |e: zg_da_client::ChainClientError| StoreRefusal::Internal(e.to_string());
        let fee = chain.blob_fee().await.map_err(internal)? * U256::from(p.blob_count);
        let balance = chain.deposit_of(p.disperser).await.map_err(internal)?;
        if balance.is_zero() || balance < fee {
            return Err(StoreRefusal::NoDeposit {
                disperser: p.disperser,
                balance,
                required: fee,
            });
        }
        if self.try_reserve(p, fee, balance, oldest_epoch)? {
            return Ok(fee);
        }
        // Short: drop the reservations whose payloads have been anchored since.
        let pending: Vec<Reservation> = self
            .reserved
            .lock()
            .get(&p.disperser)
            .map(|v| v.iter().take(MAX_ANCHOR_CHECKS).copied().collect())
            .unwrap_or_default();
        let mut anchored = Vec::new();
        for r in pending {
            let cert = zg_primitives::Certificate {
                epoch: r.epoch,
                quorum_id: r.quorum_id,
                data_root: r.root,
            };
            if chain.commitment_exists(&cert).await.map_err(internal)? {
                anchored.push(r);
            }
        }
        if let Some(v) = self.reserved.lock().get_mut(&p.disperser) {
            v.retain(|r| !anchored.contains(r));
        }
        if self.try_reserve(p, fee, balance, oldest_epoch)? {
            return Ok(fee);
        }
        Err(StoreRefusal::NoDeposit {
            disperser: p.disperser,
            balance,
            required: self.reserved(&p.disperser) + fee,
        })
    }

    /// Reserves if the deposit covers it; `Ok(false)` when short.
    fn try_reserve(
        &self,
        p: Payment,
        fee: U256,
        balance: U256,
        oldest_epoch: u64,
    ) -> Result<bool, StoreRefusal> {
        let mut all = self.reserved.lock();
        if !all.contains_key(&p.disperser) && all.len() >= MAX_DISPERSERS {
            all.retain(|_, v| {
                v.retain(|r| r.epoch >= oldest_epoch);
                !v.is_empty()
            });
            if all.len() >= MAX_DISPERSERS {
                return Err(StoreRefusal::OverCapacity(format!(
                    "{MAX_DISPERSERS} dispersers with unpaid payloads"
                )));
            }
        }
        let v = all.entry(p.disperser).or_default();
        v.retain(|r| r.epoch >= oldest_epoch);
        let held: U256 = v.iter().map(|r| r.fee).sum();
        if held.saturating_add(fee) > balance {
            return Ok(false);
        }
        if !fee.is_zero() {
            v.push(Reservation {
                root: p.root,
                epoch: p.epoch,
                quorum_id: p.quorum_id,
                fee,
            });
        }
        Ok(true)
    }

    /// Ends the reservation of a payload that was not signed after all.
    pub fn release(&self, p: &Payment) {
        let mut all = self.reserved.lock();
        if let Some(v) = all.get_mut(&p.disperser) {
            if let Some(i) = v
                .iter()
                .position(|r| r.root == p.root && r.epoch == p.epoch && r.quorum_id == p.quorum_id)
            {
                v.remove(i);
            }
            if v.is_empty() {
                all.remove(&p.disperser);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use alloy_primitives::{Address, B256, U256};
    use zg_primitives::StoreRefusal;
    use zg_testkit::fakes::FakeChain;

    use super::{DepositLedger, Payment};

    fn payment(disperser: Address, i: u8, epoch: u64) -> Payment {
        Payment {
            disperser,
            root: B256::repeat_byte(i),
            epoch,
            quorum_id: 0,
            blob_count: 1,
        }
    }

    /// A deposit of three blob fees buys three unpaid payloads, not more; an anchored
    /// one (the chain charged it) no longer counts; an epoch leaving the window frees
    /// its reservations; a failed request releases its own.
    #[tokio::test]
    async fn stored_payloads_are_accounted_against_the_deposit() {
        let chain = FakeChain::new(31337);
        let disperser = Address::repeat_byte(7);
        let fee = U256::from(1_000u64);
        chain.set_blob_fee(fee);
        chain.set_deposit(disperser, fee * U256::from(3));
        let ledger = DepositLedger::default();
        for i in 0..3 {
            ledger
                .reserve(&chain, payment(disperser, i, 5), 4)
                .await
                .unwrap();
        }
        let e = ledger
            .reserve(&chain, payment(disperser, 3, 5), 4)
            .await
            .unwrap_err();
        assert!(
            matches!(e, StoreRefusal::NoDeposit { required, .. } if required == fee * U256::from(4)),
            "{e:?}"
        );
        // Another disperser is not affected by this one's reservations.
        let other = Address::repeat_byte(8);
        chain.set_deposit(other, fee);
        ledger
            .reserve(&chain, payment(other, 9, 5), 4)
            .await
            .unwrap();
        // Payload 0 is anchored: the chain charged its fee.
        chain.anchor_unchecked(&zg_primitives::Certificate {
            epoch: 5,
            quorum_id: 0,
            data_root: B256::repeat_byte(0),
        });
        chain.set_deposit(disperser, fee * U256::from(2));
        // What is left covers exactly the two unpaid payloads.
        assert!(
            ledger
                .reserve(&chain, payment(disperser, 3, 5), 4)
                .await
                .is_err()
        );
        // Topped up: payload 0's reservation is gone (anchored), so one fee of room.
        chain.set_deposit(disperser, fee * U256::from(3));
        ledger
            .reserve(&chain, payment(disperser, 3, 5), 4)
            .await
            .unwrap();
        assert_eq!(ledger.reserved(&disperser), fee * U256::from(3));
        // A request that then fails releases its reservation.
        ledger.release(&payment(disperser, 3, 5));
        assert_eq!(ledger.reserved(&disperser), fee * U256::from(2));
        // Epoch 5 leaves the window: its reservations can never be anchored.
        ledger
            .reserve(&chain, payment(disperser, 10, 7), 6)
            .await
            .unwrap();
        assert_eq!(ledger.reserved(&disperser), fee);
    }

    /// What a node signed for survives its restart: the payer and fee stored with each
    /// attestation are restored for the epochs still in the window, so the same deposit
    /// does not buy another round of unpaid payloads.
    #[tokio::test]
    async fn reservations_survive_a_restart() {
        use crate::node::store::NodeStore;
        use zg_primitives::{BlobHeader, BlsSignature, Certificate, KzgCommitment};

        let chain = FakeChain::new(31337);
        let disperser = Address::repeat_byte(7);
        let fee = U256::from(1_000u64);
        chain.set_blob_fee(fee);
        chain.set_deposit(disperser, fee * U256::from(3));
        let dir = zg_node_kit::TempDir::new("ledger-restart");
        let header = BlobHeader::new(10, vec![KzgCommitment([1u8; 48])]);
        {
            let ledger = DepositLedger::default();
            let store = NodeStore::open(&dir.0).unwrap();
            for i in 0..3 {
                let p = payment(disperser, i, 5);
                let fee = ledger.reserve(&chain, p, 4).await.unwrap();
                let cert = Certificate {
                    epoch: 5,
                    quorum_id: 0,
                    data_root: p.root,
                };
                store
                    .put(
                        &cert,
                        &header,
                        &[],
                        &BlsSignature([7u8; 96]),
                        Some((disperser, fee)),
                        1,
                    )
                    .unwrap();
            }
        } // the node stops
        let store = NodeStore::open(&dir.0).unwrap();
        let ledger = DepositLedger::default();
        ledger.restore(store.reservations(4).unwrap());
        assert_eq!(ledger.reserved(&disperser), fee * U256::from(3));
        let e = ledger
            .reserve(&chain, payment(disperser, 3, 5), 4)
            .await
            .unwrap_err();
        assert!(matches!(e, StoreRefusal::NoDeposit { .. }), "{e:?}");
        // Restarted after epoch 5 left the window: nothing to restore.
        let later = DepositLedger::default();
        later.restore(store.reservations(6).unwrap());
        assert_eq!(later.reserved(&disperser), U256::ZERO);
    }
}
