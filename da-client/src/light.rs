//! A reader of the chain that verifies what endpoints say instead of believing one.
//!
//! - **Headers.** The newest finalized header comes with the validators' finality
//!   certificate (`zg_getFinalityCertificate`), checked with one pairing against the
//!   group key of the genesis validator set (the trusted checkpoint), and with its RLP
//!   (`debug_getRawHeader`), whose keccak must be the certified block hash. Only then
//!   are its number and state root believed. A verified head never goes backwards.
//! - **State.** A storage slot is read with `eth_getProof` (EIP-1186) at a verified
//!   header, and believed only if the account proof and the storage proof lead to that
//!   header's state root. Whether a payload is anchored is such a slot of the DA
//!   entrance module (the block it was anchored at, zero if it was not).
//! - **Endpoints.** Several can be given; they are asked in turn. One that serves a
//!   certificate, header or proof that does not verify is recorded as lying (the last
//!   [`MAX_LIES`] are kept, with a count) and the next one is asked. An endpoint that is
//!   down, slow or has not got the state is not a liar; it is skipped for that call.
//!
//! What is still trusted: the genesis validator set (2f + 1 of it honest), and that
//! some endpoint answers (liveness, not correctness).

use std::collections::VecDeque;
use std::time::Duration;

use alloy::rpc::types::EIP1186AccountProofResponse;
use alloy_primitives::{Address, B256, Bytes, U64, U256, keccak256};
use alloy_rlp::{Decodable, Encodable};
use alloy_trie::proof::verify_proof;
use alloy_trie::{Nibbles, TrieAccount};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use zg_finality::{ConsensusGenesis, FinalityVerifier};
use zg_node_kit::{Upstream, UpstreamError};

/// Most bytes of one answer read from an endpoint (a certificate, a header, a proof of
/// one slot: a few KiB).
pub const MAX_ANSWER_BYTES: usize = 1 << 20;
/// Longest wait for one answer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Lies kept for reports (the count goes on).
pub const MAX_LIES: usize = 256;

/// Where a DA entrance module keeps its anchors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnchorLayout {
    /// The bundled chain's precompile.
    Precompile,
    /// The portable `DAEntrance.sol`.
    Solidity,
}

impl AnchorLayout {
    /// The slot holding the anchor record (block and signers) of `data_root` for
    /// `(epoch, quorum)`.
    pub fn slot(self, data_root: &B256, epoch: u64, quorum: u64) -> B256 {
        match self {
            Self::Precompile => {
                zg_primitives::abi::entrance_anchor_slot(&data_root.0, epoch, quorum)
            }
            Self::Solidity => zg_primitives::abi::solidity_anchor_slot(&data_root.0, epoch, quorum),
        }
    }
}

/// How a client verifies the chain instead of trusting its endpoint.
#[derive(Clone, Debug)]
pub struct VerifyConfig {
    /// The genesis validator set (the trusted checkpoint).
    pub validators: ConsensusGenesis,
    /// Endpoints asked for certificates, headers and proofs, in turn (the client's
    /// chain endpoint when empty).
    pub endpoints: Vec<String>,
    /// Where the entrance module keeps anchors.
    pub layout: AnchorLayout,
}

impl VerifyConfig {
    /// A light client of chain `chain_id`, reading through the configured endpoints or,
    /// if none, `default_endpoint`.
    pub fn connect(&self, chain_id: u64, default_endpoint: &str) -> Result<LightChain, LightError> {
        let endpoints = if self.endpoints.is_empty() {
            vec![default_endpoint.to_owned()]
        } else {
            self.endpoints.clone()
        };
        LightChain::new(chain_id, &self.validators, &endpoints)
    }
}

/// Command-line flags for [`VerifyConfig`], shared by the clients that can verify.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct VerifyArgs {
    /// Verify the chain instead of trusting the RPC endpoint: the chain's genesis file
    /// (or a file holding only its `consensus` section), whose validator set is the
    /// trusted checkpoint. Finalized headers are then checked by their finality
    /// certificates and anchors by storage proofs.
    #[arg(long = "verify.genesis", env = "ZG_VERIFY_GENESIS")]
    pub genesis: Option<std::path::PathBuf>,
    /// Endpoints asked for certificates, headers and proofs, in turn (default: the
    /// chain endpoint); one that serves something that does not verify is reported.
    #[arg(long = "verify.rpc", env = "ZG_VERIFY_RPC", value_delimiter = ',')]
    pub rpc: Vec<String>,
    /// Anchors are kept by the portable Solidity `DAEntrance`, not the bundled chain's
    /// precompile.
    #[arg(long = "verify.solidity", env = "ZG_VERIFY_SOLIDITY")]
    pub solidity: bool,
}

impl VerifyArgs {
    /// The configuration (`None` without `--verify.genesis`).
    pub fn config(&self) -> Result<Option<VerifyConfig>, LightError> {
        let Some(path) = &self.genesis else {
            return Ok(None);
        };
        let bad =
            |e: String| LightError::Config(format!("--verify.genesis {}: {e}", path.display()));
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let mut value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        let section = match value.get_mut("consensus") {
            Some(c) => c.take(),
            None => value,
        };
        let validators: ConsensusGenesis =
            serde_json::from_value(section).map_err(|e| bad(format!("no validator set: {e}")))?;
        Ok(Some(VerifyConfig {
            validators,
            endpoints: self.rpc.clone(),
            layout: if self.solidity {
                AnchorLayout::Solidity
            } else {
                AnchorLayout::Precompile
            },
        }))
    }
}

/// A header whose finality was verified.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VerifiedHeader {
    /// Its number.
    pub number: u64,
    /// Its hash (the certified block, or one its hash chain leads to).
    pub hash: B256,
    /// Its state root: what proofs are checked against.
    pub state_root: B256,
    /// Its timestamp (seconds).
    pub timestamp: u64,
}

/// An endpoint that served something that does not verify.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Lie {
    /// The endpoint's URL.
    pub endpoint: String,
    /// What it served.
    pub what: String,
}

/// Why a verified read failed, by how the caller should react.
#[derive(Debug, thiserror::Error)]
pub enum LightError {
    /// No endpoint gave an answer that verifies (each one's reason): retry later.
    #[error("no endpoint gave a verifiable answer: {0}")]
    Unavailable(String),
    /// The configuration cannot work (no endpoint, a bad URL, a bad validator set).
    #[error("light client configuration: {0}")]
    Config(String),
}

/// What one endpoint's attempt came to.
enum Attempt {
    /// Down, slow, or without the data: not its fault as far as we can tell.
    Failed(String),
    /// It served something that does not verify.
    Lied(String),
}

impl From<UpstreamError> for Attempt {
    fn from(e: UpstreamError) -> Self {
        match e {
            UpstreamError::Malformed { .. } => Self::Lied(e.to_string()),
            UpstreamError::Unavailable { .. } | UpstreamError::Refused { .. } => {
                Self::Failed(e.to_string())
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CertificateAnswer {
    certified_hash: B256,
    certificate: Bytes,
}

#[derive(Default)]
struct State {
    head: Option<VerifiedHeader>,
    lies: VecDeque<Lie>,
    lies_total: u64,
}

/// Verified reads of one chain through any number of untrusted endpoints.
pub struct LightChain {
    endpoints: Vec<Upstream>,
    verifier: FinalityVerifier,
    state: Mutex<State>,
}

impl std::fmt::Debug for LightChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LightChain")
            .field(
                "endpoints",
                &self.endpoints.iter().map(Upstream::url).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl LightChain {
    /// A light client of chain `chain_id`, whose genesis names the validator set
    /// `genesis` (the trusted checkpoint), reading through `endpoints`.
    pub fn new(
        chain_id: u64,
        genesis: &ConsensusGenesis,
        endpoints: &[String],
    ) -> Result<Self, LightError> {
        let verifier = FinalityVerifier::from_genesis(chain_id, genesis)
            .map_err(|e| LightError::Config(e.to_string()))?;
        Self::with_verifier(verifier, endpoints)
    }

    /// A light client checking certificates with `verifier`.
    pub fn with_verifier(
        verifier: FinalityVerifier,
        endpoints: &[String],
    ) -> Result<Self, LightError> {
        if endpoints.is_empty() {
            return Err(LightError::Config("no endpoint".into()));
        }
        let endpoints = endpoints
            .iter()
            .map(|u| Upstream::new(u, MAX_ANSWER_BYTES, REQUEST_TIMEOUT))
            .collect::<Result<Vec<_>, _>>()
            .map_err(LightError::Config)?;
        Ok(Self {
            endpoints,
            verifier,
            state: Mutex::new(State::default()),
        })
    }

    /// The newest header verified so far.
    pub fn head(&self) -> Option<VerifiedHeader> {
        self.state.lock().head.clone()
    }

    /// The last [`MAX_LIES`] lies, oldest first, and how many there were in all.
    pub fn lies(&self) -> (Vec<Lie>, u64) {
        let s = self.state.lock();
        (s.lies.iter().cloned().collect(), s.lies_total)
    }

    /// What a status page shows: the verified head, how many lies, the last 16.
    pub fn status(&self) -> serde_json::Value {
        let (lies, total) = self.lies();
        let recent: Vec<_> = lies.iter().rev().take(16).cloned().collect();
        serde_json::json!({
            "verified_head": self.head(),
            "lies_total": total,
            "recent_lies": recent,
        })
    }

    /// Records that `endpoint` served something a caller found not to verify (an event
    /// the proved state does not hold, say).
    pub fn report(&self, endpoint: &str, what: String) {
        tracing::warn!(target: "zg_da_client::light", endpoint, %what, "an endpoint served something that does not verify");
        let mut s = self.state.lock();
        s.lies_total += 1;
        if s.lies.len() == MAX_LIES {
            s.lies.pop_front();
        }
        s.lies.push_back(Lie {
            endpoint: endpoint.to_owned(),
            what,
        });
    }

    fn record(&self, endpoint: &Upstream, what: String) {
        self.report(endpoint.url(), what);
    }

    /// Asks each endpoint in turn until one's answer verifies.
    async fn first_verified<T, F, Fut>(&self, what: &str, attempt: F) -> Result<T, LightError>
    where
        F: Fn(Upstream) -> Fut,
        Fut: std::future::Future<Output = Result<T, Attempt>>,
    {
        let mut why = Vec::new();
        for endpoint in &self.endpoints {
            match attempt(endpoint.clone()).await {
                Ok(v) => return Ok(v),
                Err(Attempt::Lied(lie)) => {
                    self.record(endpoint, format!("{what}: {lie}"));
                    why.push(format!("{}: lied: {lie}", endpoint.url()));
                }
                Err(Attempt::Failed(e)) => why.push(e),
            }
        }
        Err(LightError::Unavailable(format!(
            "{what}: {}",
            why.join("; ")
        )))
    }

    /// The newest finalized header an endpoint proves, or the last verified one if no
    /// endpoint proves a newer one.
    pub async fn finalized(&self) -> Result<VerifiedHeader, LightError> {
        let head = self.head();
        let known = head.as_ref();
        let fresh = self
            .first_verified("finalized header", |e| async move {
                self.finalized_from(&e, known).await
            })
            .await;
        let mut s = self.state.lock();
        match fresh {
            Ok(h) => {
                if s.head.as_ref().is_none_or(|old| h.number > old.number) {
                    s.head = Some(h);
                }
                Ok(s.head.clone().expect("set above"))
            }
            Err(e) => s.head.clone().ok_or(e),
        }
    }

    async fn finalized_from(
        &self,
        endpoint: &Upstream,
        known: Option<&VerifiedHeader>,
    ) -> Result<VerifiedHeader, Attempt> {
        // The claimed height only chooses what to ask for; nothing rests on it. The head's
        // own certificate may not be stored yet: then the one before it.
        let claimed: U64 = endpoint
            .call("eth_blockNumber", serde_json::json!([]))
            .await?;
        let claimed = claimed.to::<u64>().max(known.map_or(0, |k| k.number));
        let mut answer: Option<CertificateAnswer> = None;
        for ask in [claimed, claimed.saturating_sub(1)] {
            answer = endpoint
                .call(
                    "zg_getFinalityCertificate",
                    serde_json::json!([format!("{ask:#x}")]),
                )
                .await?;
            if answer.is_some() {
                break;
            }
        }
        let Some(answer) = answer else {
            return Err(Attempt::Failed(format!(
                "{}: no finality certificate at or after block {}",
                endpoint.url(),
                claimed.saturating_sub(1)
            )));
        };
        self.verifier
            .verify_block(&answer.certificate, answer.certified_hash)
            .map_err(|e| {
                Attempt::Lied(format!("a finality certificate that does not verify: {e}"))
            })?;
        let header = self.header(endpoint, answer.certified_hash).await?;
        if let Some(k) = known
            && header.number == k.number
            && header.hash != k.hash
        {
            // Two finalized blocks at one height: the validator set is broken, or the
            // certificate is forged past our verifier. Refuse it either way.
            return Err(Attempt::Lied(format!(
                "a second finalized block {} at height {}",
                header.hash, header.number
            )));
        }
        Ok(header)
    }

    /// The header `hash`, checked to hash to `hash`.
    async fn header(&self, endpoint: &Upstream, hash: B256) -> Result<VerifiedHeader, Attempt> {
        let raw: Option<Bytes> = endpoint
            .call("debug_getRawHeader", serde_json::json!([hash]))
            .await?;
        let raw =
            raw.ok_or_else(|| Attempt::Failed(format!("{}: no header {hash}", endpoint.url())))?;
        if keccak256(&raw) != hash {
            return Err(Attempt::Lied(format!(
                "a header whose hash is not the certified block {hash}"
            )));
        }
        let mut slice = raw.as_ref();
        let header = alloy_consensus::Header::decode(&mut slice)
            .map_err(|e| Attempt::Lied(format!("a header that is not RLP: {e}")))?;
        Ok(VerifiedHeader {
            number: header.number,
            hash,
            state_root: header.state_root,
            timestamp: header.timestamp,
        })
    }

    /// `address`'s storage at `slot` in the state of `at`, proved against its state root.
    pub async fn storage(
        &self,
        at: &VerifiedHeader,
        address: Address,
        slot: B256,
    ) -> Result<U256, LightError> {
        self.first_verified("storage proof", |endpoint| async move {
            let r: EIP1186AccountProofResponse = endpoint
                .call(
                    "eth_getProof",
                    serde_json::json!([address, [slot], format!("{:#x}", at.number)]),
                )
                .await?;
            verified_slot(&r, at.state_root, address, slot).map_err(Attempt::Lied)
        })
        .await
    }

    /// The block `data_root` was anchored at for `(epoch, quorum)` in the state of
    /// `at`, proved (`None`: not anchored there).
    pub async fn anchored_at(
        &self,
        at: &VerifiedHeader,
        entrance: Address,
        layout: AnchorLayout,
        data_root: &B256,
        epoch: u64,
        quorum: u64,
    ) -> Result<Option<u64>, LightError> {
        let v = self
            .storage(at, entrance, layout.slot(data_root, epoch, quorum))
            .await?;
        Ok(zg_primitives::abi::AnchorRecord::from_word(v).map(|r| r.block))
    }
}

/// Checks an EIP-1186 answer for one slot against `state_root`; returns the value.
pub fn verified_slot(
    r: &EIP1186AccountProofResponse,
    state_root: B256,
    address: Address,
    slot: B256,
) -> Result<U256, String> {
    if r.address != address {
        return Err(format!("a proof of {} for {address}", r.address));
    }
    let [s] = r.storage_proof.as_slice() else {
        return Err(format!(
            "{} storage proofs for one slot",
            r.storage_proof.len()
        ));
    };
    if s.key.as_b256() != slot {
        return Err(format!("a proof of slot {} for {slot}", s.key.as_b256()));
    }
    let account = TrieAccount {
        nonce: r.nonce,
        balance: r.balance,
        storage_root: r.storage_hash,
        code_hash: r.code_hash,
    };
    let empty = r.nonce == 0
        && r.balance.is_zero()
        && r.storage_hash == alloy_trie::EMPTY_ROOT_HASH
        && r.code_hash == alloy_trie::KECCAK_EMPTY;
    // An account the answer says is empty must be absent from the trie.
    let expected = (!empty).then(|| {
        let mut rlp = Vec::new();
        account.encode(&mut rlp);
        rlp
    });
    verify_proof(
        state_root,
        Nibbles::unpack(keccak256(address)),
        expected,
        &r.account_proof,
    )
    .map_err(|e| format!("an account proof that does not verify: {e}"))?;
    let value_rlp = (!s.value.is_zero()).then(|| {
        let mut rlp = Vec::new();
        s.value.encode(&mut rlp);
        rlp
    });
    verify_proof(
        r.storage_hash,
        Nibbles::unpack(keccak256(slot)),
        value_rlp,
        &s.proof,
    )
    .map_err(|e| format!("a storage proof that does not verify: {e}"))?;
    Ok(s.value)
}
