//! [`FakeChain`]: the DA modules in memory.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use alloy_primitives::{Address, B256, U256, keccak256};
use parking_lot::Mutex;
use zg_da_client::{ChainClientError, DaChain, Quorum, QuorumMember, TxStatus};
use zg_primitives::abi::IDAEntrance::CommitRootSubmission;
use zg_primitives::{
    BlsPublicKey, BlsSignature, Certificate, attestation_message, verify_quorum_aggregate,
};

/// The DA modules of a chain, in memory: epochs, quorums (members with real BLS keys),
/// deposits and the blob fee, and anchored commitments. Anchoring checks each
/// submission's aggregate BLS signature against the quorum like the chain does; a
/// transaction with one bad submission reverts as a whole.
///
/// Every method of [`DaChain`] counts its calls ([`FakeChain::calls`]) and fails with
/// the error set by [`FakeChain::set_outage`], if any. Cheap to clone (shared state).
#[derive(Clone, Debug)]
pub struct FakeChain {
    inner: Arc<Mutex<State>>,
}

#[derive(Debug)]
struct State {
    chain_id: u64,
    epoch: u64,
    quorums: BTreeMap<(u64, u64), Arc<Quorum>>,
    anchored: Vec<CommitRootSubmission>,
    anchored_set: HashSet<(B256, u64, u64)>,
    deposits: HashMap<Address, U256>,
    blob_fee: U256,
    outage: Option<ChainClientError>,
    method_outage: HashMap<&'static str, ChainClientError>,
    anchor_window: Option<u64>,
    calls: HashMap<&'static str, usize>,
    transactions: u64,
    /// Anchors are not final until [`FakeChain::finalize`] (off: final at once).
    hold_finality: bool,
    /// Anchors not final yet, with the transaction that made them.
    unfinal: HashMap<(B256, u64, u64), B256>,
    /// Transactions on the chain.
    mined: HashSet<B256>,
}

impl FakeChain {
    /// A chain in epoch 0 with no quorums, a blob fee of 1 wei and no deposits.
    pub fn new(chain_id: u64) -> Self {
        Self {
            inner: Arc::new(Mutex::new(State {
                chain_id,
                epoch: 0,
                quorums: BTreeMap::new(),
                anchored: Vec::new(),
                anchored_set: HashSet::new(),
                deposits: HashMap::new(),
                blob_fee: U256::from(1),
                outage: None,
                method_outage: HashMap::new(),
                anchor_window: None,
                calls: HashMap::new(),
                transactions: 0,
                hold_finality: false,
                unfinal: HashMap::new(),
                mined: HashSet::new(),
            })),
        }
    }

    /// Moves to `epoch`.
    pub fn set_epoch(&self, epoch: u64) {
        self.inner.lock().epoch = epoch;
    }

    /// Forms the next quorum of `epoch` (ids count from 0 per epoch); members get their
    /// position as index.
    pub fn add_quorum(
        &self,
        epoch: u64,
        threshold: usize,
        members: Vec<QuorumMember>,
    ) -> Arc<Quorum> {
        let mut s = self.inner.lock();
        let quorum_id = s.quorums.range((epoch, 0)..=(epoch, u64::MAX)).count() as u64;
        let members = members
            .into_iter()
            .enumerate()
            .map(|(index, m)| QuorumMember { index, ..m })
            .collect();
        let q = Arc::new(Quorum {
            epoch,
            quorum_id,
            threshold,
            members,
        });
        s.quorums.insert((epoch, quorum_id), q.clone());
        q
    }

    /// Replaces a member's socket (a node that moved), keeping the quorum otherwise.
    pub fn move_member(&self, epoch: u64, quorum_id: u64, index: usize, socket: String) {
        let mut s = self.inner.lock();
        if let Some(q) = s.quorums.get_mut(&(epoch, quorum_id)) {
            let q = Arc::make_mut(q);
            if let Some(m) = q.members.get_mut(index) {
                m.socket = socket;
            }
        }
    }

    /// Sets the deposit of `account`.
    pub fn set_deposit(&self, account: Address, amount: U256) {
        self.inner.lock().deposits.insert(account, amount);
    }

    /// Sets the fee per blob.
    pub fn set_blob_fee(&self, fee: U256) {
        self.inner.lock().blob_fee = fee;
    }

    /// Every call fails with `error` until cleared with `None` (an unreachable endpoint,
    /// say [`ChainClientError::Unavailable`]).
    pub fn set_outage(&self, error: Option<ChainClientError>) {
        self.inner.lock().outage = error;
    }

    /// Only method `method` fails, with `error`, until cleared with `None` (the anchoring
    /// transactions of a chain that still answers reads, say).
    pub fn set_method_outage(&self, method: &'static str, error: Option<ChainClientError>) {
        let mut s = self.inner.lock();
        match error {
            Some(e) => s.method_outage.insert(method, e),
            None => s.method_outage.remove(method),
        };
    }

    /// Refuses anchors of quorums more than `epochs` behind the current epoch, as the
    /// entrance module does ([`ChainClientError::StaleEpoch`]); unlimited by default.
    pub fn set_anchor_window(&self, epochs: Option<u64>) {
        self.inner.lock().anchor_window = epochs;
    }

    /// Records `cert` as anchored without checking signatures (a payload placed by a
    /// test directly, see [`crate::FakeCluster::place`]).
    pub fn anchor_unchecked(&self, cert: &Certificate) {
        self.inner
            .lock()
            .anchored_set
            .insert((cert.data_root, cert.epoch, cert.quorum_id));
    }

    /// Keeps new anchors out of the final state until [`Self::finalize`] (`false`: they
    /// are final at once, as on a BFT chain).
    pub fn hold_finality(&self, hold: bool) {
        self.inner.lock().hold_finality = hold;
    }

    /// Makes every anchor so far final.
    pub fn finalize(&self) {
        self.inner.lock().unfinal.clear();
    }

    /// A reorg: every anchor not final yet disappears with its transaction. The
    /// number of anchors dropped.
    pub fn reorg(&self) -> usize {
        let mut s = self.inner.lock();
        let dropped: Vec<_> = s.unfinal.drain().collect();
        for (key, tx) in &dropped {
            s.anchored_set.remove(key);
            s.mined.remove(tx);
            s.anchored.retain(|a| {
                (
                    a.dataRoot,
                    a.epoch.saturating_to::<u64>(),
                    a.quorumId.saturating_to::<u64>(),
                ) != *key
            });
        }
        dropped.len()
    }

    /// The submissions anchored through [`DaChain::submit_commit_roots`], in order.
    pub fn anchored(&self) -> Vec<CommitRootSubmission> {
        self.inner.lock().anchored.clone()
    }

    /// How many times the [`DaChain`] method `method` was called (`"quorum"`,
    /// `"submit_commit_roots"`, …).
    pub fn calls(&self, method: &str) -> usize {
        self.inner.lock().calls.get(method).copied().unwrap_or(0)
    }

    /// Counts a call and returns the outage error, if any.
    fn enter(
        &self,
        method: &'static str,
    ) -> Result<parking_lot::MutexGuard<'_, State>, ChainClientError> {
        let mut s = self.inner.lock();
        *s.calls.entry(method).or_insert(0) += 1;
        match s.outage.as_ref().or_else(|| s.method_outage.get(method)) {
            Some(e) => Err(e.clone()),
            None => Ok(s),
        }
    }
}

/// Checks one submission like the entrance module: known quorum, enough signers, and an
/// aggregate signature of theirs over the attestation message.
fn check_submission(s: &State, sub: &CommitRootSubmission) -> Result<(), String> {
    let epoch: u64 = sub.epoch.saturating_to();
    let quorum_id: u64 = sub.quorumId.saturating_to();
    let quorum = s
        .quorums
        .get(&(epoch, quorum_id))
        .ok_or_else(|| format!("UnknownQuorum({epoch}, {quorum_id})"))?;
    let pubkeys: Vec<BlsPublicKey> = quorum
        .members
        .iter()
        .map(|m| {
            m.pubkey
                .ok_or_else(|| format!("member {} has no key", m.address))
        })
        .collect::<Result<_, _>>()?;
    let aggregate = BlsSignature::try_from(sub.aggregateSignature.as_ref())
        .map_err(|e| format!("InvalidSignature({e})"))?;
    let blob_count: u32 = sub.blobCount.saturating_to();
    if blob_count == 0 {
        return Err("ZeroBlobs".into());
    }
    let message = attestation_message(s.chain_id, sub.dataRoot, epoch, quorum_id, blob_count);
    verify_quorum_aggregate(
        &pubkeys,
        &sub.signersBitmap,
        &aggregate,
        &message,
        quorum.threshold,
    )
    .map_err(|e| format!("InvalidSignature({e})"))?;
    Ok(())
}

impl DaChain for FakeChain {
    fn chain_id(&self) -> u64 {
        self.inner.lock().chain_id
    }

    async fn epoch(&self) -> Result<u64, ChainClientError> {
        Ok(self.enter("epoch")?.epoch)
    }

    async fn quorum(
        &self,
        epoch: u64,
        quorum_id: u64,
    ) -> Result<Option<Arc<Quorum>>, ChainClientError> {
        Ok(self
            .enter("quorum")?
            .quorums
            .get(&(epoch, quorum_id))
            .cloned())
    }

    async fn quorums(&self, epoch: u64) -> Result<Vec<Arc<Quorum>>, ChainClientError> {
        let s = self.enter("quorums")?;
        Ok(s.quorums
            .range((epoch, 0)..=(epoch, u64::MAX))
            .map(|(_, q)| q.clone())
            .collect())
    }

    async fn commitment_exists(&self, cert: &Certificate) -> Result<bool, ChainClientError> {
        let s = self.enter("commitment_exists")?;
        Ok(s.anchored_set
            .contains(&(cert.data_root, cert.epoch, cert.quorum_id)))
    }

    async fn submit_commit_roots(
        &self,
        submissions: Vec<CommitRootSubmission>,
    ) -> Result<B256, ChainClientError> {
        let mut s = self.enter("submit_commit_roots")?;
        for sub in &submissions {
            let key = (
                sub.dataRoot,
                sub.epoch.saturating_to(),
                sub.quorumId.saturating_to(),
            );
            if s.anchored_set.contains(&key) {
                continue; // already anchored: a no-op, like the module
            }
            let epoch: u64 = sub.epoch.saturating_to();
            if let Some(window) = s.anchor_window
                && epoch.saturating_add(window) < s.epoch
            {
                return Err(ChainClientError::StaleEpoch {
                    epoch,
                    current: s.epoch,
                });
            }
            check_submission(&s, sub).map_err(|e| {
                ChainClientError::Reverted(format!("submitVerifiedCommitRoots reverted: {e}"))
            })?;
        }
        s.transactions += 1;
        let hash = keccak256(s.transactions.to_be_bytes());
        s.mined.insert(hash);
        for sub in submissions {
            let key = (
                sub.dataRoot,
                sub.epoch.saturating_to(),
                sub.quorumId.saturating_to(),
            );
            if s.anchored_set.insert(key) {
                s.anchored.push(sub);
                if s.hold_finality {
                    s.unfinal.insert(key, hash);
                }
            }
        }
        Ok(hash)
    }

    async fn commitment_final(&self, cert: &Certificate) -> Result<bool, ChainClientError> {
        let s = self.enter("commitment_final")?;
        let key = (cert.data_root, cert.epoch, cert.quorum_id);
        Ok(s.anchored_set.contains(&key) && !s.unfinal.contains_key(&key))
    }

    async fn transaction_status(&self, hash: B256) -> Result<TxStatus, ChainClientError> {
        let s = self.enter("transaction_status")?;
        Ok(if s.mined.contains(&hash) {
            TxStatus::Mined
        } else {
            TxStatus::Unknown
        })
    }

    async fn deposit_of(&self, account: Address) -> Result<U256, ChainClientError> {
        let s = self.enter("deposit_of")?;
        Ok(s.deposits.get(&account).copied().unwrap_or_default())
    }

    async fn blob_fee(&self) -> Result<U256, ChainClientError> {
        Ok(self.enter("blob_fee")?.blob_fee)
    }
}
