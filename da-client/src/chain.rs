//! JSON-RPC client of the chain's DA modules (`IDASigners`, `IDAEntrance`, `IDASampling`), over any
//! standard Ethereum endpoint: the bundled chain or the portable contracts.
//!
//! Quorums are immutable once their epoch started; their members' details (sockets) are
//! cached for 30 s so a node that moved is found again, and "no such quorum" for 2 s;
//! deposits are cached for a short time-to-live (they only matter as spam resistance;
//! the fee is charged by the chain when anchoring). Every cache keyed by what a request
//! names is bounded.

use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::network::{EthereumWallet, TransactionBuilder};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::types::TransactionRequest;
use alloy::signers::local::PrivateKeySigner;
use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_sol_types::{SolCall, SolInterface};
use parking_lot::Mutex;
use zg_node_kit::tx::{self, TxError};
use zg_node_kit::{FinalHead, FinalityRule};
use zg_primitives::abi::{
    DA_ENTRANCE_ADDRESS, DA_SAMPLING_ADDRESS, DA_SIGNERS_ADDRESS, IDAEntrance, IDASampling,
    IDASigners,
};
use zg_primitives::{BlsPublicKey, Certificate};

use crate::error::ChainClientError;

/// Where a transaction stands on a node's chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxStatus {
    /// Not known: never sent, or dropped by a reorg and not pending again.
    Unknown,
    /// Waiting in the node's pool.
    Pending,
    /// In a block of the node's current chain.
    Mined,
}

/// One member of a quorum, as registered on chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuorumMember {
    /// Position in the ordered quorum (its custody index).
    pub index: usize,
    /// Signer account.
    pub address: Address,
    /// libp2p multiaddr it serves on.
    pub socket: String,
    /// BLS public key.
    pub pubkey: Option<BlsPublicKey>,
}

/// An epoch's quorum with its members' details.
#[derive(Clone, Debug)]
pub struct Quorum {
    /// Epoch.
    pub epoch: u64,
    /// Quorum id within the epoch.
    pub quorum_id: u64,
    /// Signatures needed.
    pub threshold: usize,
    /// Ordered members.
    pub members: Vec<QuorumMember>,
}

impl Quorum {
    /// Member whose account is `a`.
    pub fn member(&self, a: Address) -> Option<&QuorumMember> {
        self.members.iter().find(|m| m.address == a)
    }
}

/// A round of the chain's DA sampling lottery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SampleRound {
    /// Round number.
    pub round: u64,
    /// The round's seed.
    pub seed: B256,
    /// A cell wins when its quality is at most this.
    pub target: U256,
    /// First block of the round.
    pub start_block: u64,
}

/// Where the chain is and who signs for this client.
#[derive(Clone, Debug)]
pub struct ChainConfig {
    /// JSON-RPC URL.
    pub rpc_url: String,
    /// How long to wait for a transaction's receipt.
    pub receipt_timeout: Duration,
    /// How long a deposit lookup is trusted.
    pub deposit_ttl: Duration,
    /// How long a quorum's member details (sockets) are trusted; membership itself never
    /// changes once an epoch started, but a member may move to a new address.
    pub quorum_ttl: Duration,
    /// Chain id (fetched when `None`).
    pub chain_id: Option<u64>,
    /// Where the DA modules live.
    pub modules: ModuleAddresses,
    /// When an anchor counts as final.
    pub finality: FinalityRule,
}

/// Addresses of the DA modules: the bundled chain's precompiles by default, or the
/// portable contracts deployed on any EVM chain (same ABI).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModuleAddresses {
    /// `IDASigners`.
    pub signers: Address,
    /// `IDAEntrance`.
    pub entrance: Address,
    /// `IDASampling`.
    pub sampling: Address,
}

/// Command-line flags for [`ModuleAddresses`], shared by every DA binary: leave them out
/// for the bundled chain, set them to the contracts' addresses on any other chain.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct ModuleArgs {
    /// Address of the DA signers module (default: the bundled chain's 0x…1000).
    #[arg(
        id = "chain_signers_address",
        long = "chain.signers-address",
        env = "ZG_CHAIN_SIGNERS_ADDRESS"
    )]
    pub signers: Option<Address>,
    /// Address of the DA entrance module (default: 0x…1001).
    #[arg(
        id = "chain_entrance_address",
        long = "chain.entrance-address",
        env = "ZG_CHAIN_ENTRANCE_ADDRESS"
    )]
    pub entrance: Option<Address>,
    /// Address of the DA sampling module (default: 0x…1002).
    #[arg(
        id = "chain_sampling_address",
        long = "chain.sampling-address",
        env = "ZG_CHAIN_SAMPLING_ADDRESS"
    )]
    pub sampling: Option<Address>,
}

impl ModuleArgs {
    /// The addresses, defaults filled in.
    pub fn addresses(&self) -> ModuleAddresses {
        let d = ModuleAddresses::default();
        ModuleAddresses {
            signers: self.signers.unwrap_or(d.signers),
            entrance: self.entrance.unwrap_or(d.entrance),
            sampling: self.sampling.unwrap_or(d.sampling),
        }
    }
}

/// Command-line flags of a DA component's chain connection: the endpoint, the receipt
/// wait and the module addresses.
#[derive(Clone, Debug, clap::Args)]
pub struct ChainArgs {
    #[command(flatten)]
    rpc: zg_node_kit::ChainRpcArgs,
    /// Seconds to wait for a transaction receipt.
    #[arg(long = "chain.receipt-timeout", env = "ZG_CHAIN_RECEIPT_TIMEOUT", default_value_t = 60)]
    receipt_timeout: u64,
    #[command(flatten)]
    modules: ModuleArgs,
}

impl ChainArgs {
    /// The chain client settings these flags describe.
    pub fn config(&self) -> ChainConfig {
        let mut c = ChainConfig::new(self.rpc.chain_rpc.clone());
        c.receipt_timeout = Duration::from_secs(self.receipt_timeout);
        c.modules = self.modules.addresses();
        c.finality = self.rpc.finality;
        c
    }
}

impl Default for ModuleAddresses {
    fn default() -> Self {
        Self {
            signers: DA_SIGNERS_ADDRESS,
            entrance: DA_ENTRANCE_ADDRESS,
            sampling: DA_SAMPLING_ADDRESS,
        }
    }
}

impl ChainConfig {
    /// Defaults for `rpc_url`.
    pub fn new(rpc_url: impl Into<String>) -> Self {
        Self {
            rpc_url: rpc_url.into(),
            receipt_timeout: Duration::from_secs(60),
            deposit_ttl: Duration::from_secs(10),
            quorum_ttl: Duration::from_secs(30),
            chain_id: None,
            modules: ModuleAddresses::default(),
            finality: FinalityRule::default(),
        }
    }
}

/// A quorum (`None`: it does not exist, a negative answer) and when it was fetched.
type CachedQuorum = (Instant, Option<Arc<Quorum>>);

/// Quorums the client remembers (keys come from requests, so the memory is bounded).
const QUORUM_CACHE_ENTRIES: usize = 1024;
/// Deposits the client remembers (one per disperser address, which anyone can make).
const DEPOSIT_CACHE_ENTRIES: usize = 10_000;
/// How long "no such quorum" is remembered: a request naming a quorum that does not
/// exist costs one chain call per this interval, however many arrive.
pub const NEGATIVE_TTL: Duration = Duration::from_secs(2);
/// How long the current epoch is remembered.
const EPOCH_TTL: Duration = Duration::from_secs(1);

/// Client of the DA modules. Cheap to clone.
#[derive(Clone)]
pub struct ChainClient {
    inner: Arc<Inner>,
}

struct Inner {
    provider: DynProvider,
    account: Option<Address>,
    chain_id: u64,
    config: ChainConfig,
    quorums: quick_cache::sync::Cache<(u64, u64), CachedQuorum>,
    deposits: quick_cache::sync::Cache<Address, (Instant, U256)>,
    epoch: Mutex<Option<(Instant, u64)>>,
    blob_fee: Mutex<Option<(Instant, U256)>>,
    /// Serialises this account's transactions (nonces).
    tx_lock: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for ChainClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainClient")
            .field("rpc_url", &self.inner.config.rpc_url)
            .field("account", &self.inner.account)
            .field("chain_id", &self.inner.chain_id)
            .finish()
    }
}

impl ChainClient {
    /// Connects; `signer` is the account that sends transactions (none: read only).
    pub async fn connect(
        config: ChainConfig,
        signer: Option<PrivateKeySigner>,
    ) -> Result<Self, ChainClientError> {
        let url = config
            .rpc_url
            .parse()
            .map_err(|e| ChainClientError::Config(format!("rpc url {}: {e}", config.rpc_url)))?;
        let account = signer.as_ref().map(|s| s.address());
        let provider = match signer {
            Some(s) => ProviderBuilder::default()
                .with_gas_estimation()
                .with_simple_nonce_management()
                .fetch_chain_id()
                .wallet(EthereumWallet::from(s))
                .connect_http(url)
                .erased(),
            None => ProviderBuilder::default().connect_http(url).erased(),
        };
        let chain_id = match config.chain_id {
            Some(c) => c,
            None => provider.get_chain_id().await.map_err(rpc_err)?,
        };
        Ok(Self {
            inner: Arc::new(Inner {
                provider,
                account,
                chain_id,
                config,
                quorums: quick_cache::sync::Cache::new(QUORUM_CACHE_ENTRIES),
                deposits: quick_cache::sync::Cache::new(DEPOSIT_CACHE_ENTRIES),
                epoch: Mutex::new(None),
                blob_fee: Mutex::new(None),
                tx_lock: tokio::sync::Mutex::new(()),
            }),
        })
    }

    /// The JSON-RPC endpoint it reads.
    pub fn rpc_url(&self) -> &str {
        &self.inner.config.rpc_url
    }

    /// The chain id.
    pub fn chain_id(&self) -> u64 {
        self.inner.chain_id
    }

    /// Where the DA modules live.
    pub fn modules(&self) -> ModuleAddresses {
        self.inner.config.modules
    }

    /// How long a transaction's receipt is waited for (`--chain.receipt-timeout`).
    pub fn receipt_timeout(&self) -> Duration {
        self.inner.config.receipt_timeout
    }

    /// When an anchor counts as final.
    pub fn finality(&self) -> FinalityRule {
        self.inner.config.finality
    }

    /// The newest block final by this chain's rule (`None`: none yet).
    pub async fn final_head(&self) -> Result<Option<FinalHead>, ChainClientError> {
        zg_node_kit::confirm::final_head(&self.inner.provider, self.inner.config.finality)
            .await
            .map_err(chain_err)
    }

    /// Where transaction `hash` stands on the node's chain: a transaction a reorg
    /// dropped for good is [`TxStatus::Unknown`].
    pub async fn transaction_status(&self, hash: B256) -> Result<TxStatus, ChainClientError> {
        let tx = self
            .inner
            .provider
            .get_transaction_by_hash(hash)
            .await
            .map_err(rpc_err)?;
        Ok(match tx {
            None => TxStatus::Unknown,
            Some(t) if t.block_hash.is_some() => TxStatus::Mined,
            Some(_) => TxStatus::Pending,
        })
    }

    /// The sending account, if any.
    pub fn account(&self) -> Option<Address> {
        self.inner.account
    }

    /// The underlying provider.
    pub fn provider(&self) -> &DynProvider {
        &self.inner.provider
    }

    async fn call<C: SolCall>(&self, to: Address, call: C) -> Result<C::Return, ChainClientError> {
        tx::call(&self.inner.provider, to, &call)
            .await
            .map_err(chain_err)
    }

    /// Sends a transaction calling `call` (with `value` attached) and waits for its
    /// receipt; a revert (at estimation or execution) is [`ChainClientError::Reverted`].
    async fn send_value<C: SolCall>(
        &self,
        to: Address,
        call: C,
        value: U256,
    ) -> Result<B256, ChainClientError> {
        let from = self.require_account()?;
        let _guard = self.inner.tx_lock.lock().await;
        let receipt = tx::send_call(
            &self.inner.provider,
            from,
            to,
            &call,
            value,
            self.inner.config.receipt_timeout,
        )
        .await
        .map_err(chain_err)?;
        Ok(receipt.transaction_hash)
    }

    /// [`Self::send_value`] without value.
    async fn send<C: SolCall>(&self, to: Address, call: C) -> Result<B256, ChainClientError> {
        self.send_value(to, call, U256::ZERO).await
    }

    /// Current epoch.
    pub async fn epoch(&self) -> Result<u64, ChainClientError> {
        let e = self
            .call(
                self.inner.config.modules.signers,
                IDASigners::epochNumberCall {},
            )
            .await?;
        let e: u64 = e.saturating_to();
        *self.inner.epoch.lock() = Some((Instant::now(), e));
        Ok(e)
    }

    /// The signers module's parameters (epoch length, quorum size and threshold, most
    /// quorums); they never change.
    pub async fn signer_params(&self) -> Result<IDASigners::Params, ChainClientError> {
        self.call(self.inner.config.modules.signers, IDASigners::paramsCall {})
            .await
    }

    /// The current epoch as of at most a second ago (one chain call per second however
    /// many requests ask; it may lag a just-started epoch by that second).
    pub async fn recent_epoch(&self) -> Result<u64, ChainClientError> {
        if let Some((at, e)) = *self.inner.epoch.lock()
            && at.elapsed() < EPOCH_TTL
        {
            return Ok(e);
        }
        self.epoch().await
    }

    /// Number of quorums of `epoch`.
    pub async fn quorum_count(&self, epoch: u64) -> Result<u64, ChainClientError> {
        let n = self
            .call(
                self.inner.config.modules.signers,
                IDASigners::quorumCountCall {
                    epoch: U256::from(epoch),
                },
            )
            .await?;
        Ok(n.saturating_to())
    }

    /// A quorum with its members' details (cached: quorums never change once formed).
    /// `Ok(None)` when it does not exist (yet).
    pub async fn quorum(
        &self,
        epoch: u64,
        quorum_id: u64,
    ) -> Result<Option<Arc<Quorum>>, ChainClientError> {
        self.quorum_cached(epoch, quorum_id, true).await
    }

    /// [`Self::quorum`]; a remembered "no such quorum" is believed only when
    /// `negative` (a caller that knows the quorum exists asks the chain again).
    async fn quorum_cached(
        &self,
        epoch: u64,
        quorum_id: u64,
        negative: bool,
    ) -> Result<Option<Arc<Quorum>>, ChainClientError> {
        if let Some((at, q)) = self.inner.quorums.get(&(epoch, quorum_id)) {
            let ttl = match q {
                Some(_) => self.inner.config.quorum_ttl,
                None if negative => NEGATIVE_TTL,
                None => Duration::ZERO,
            };
            if at.elapsed() < ttl {
                return Ok(q);
            }
        }
        let absent = |this: &Self| {
            this.inner
                .quorums
                .insert((epoch, quorum_id), (Instant::now(), None));
            Ok(None)
        };
        let tx = TransactionRequest::default()
            .with_to(self.inner.config.modules.signers)
            .with_input(Bytes::from(
                IDASigners::getQuorumCall {
                    epoch: U256::from(epoch),
                    quorumId: U256::from(quorum_id),
                }
                .abi_encode(),
            ));
        let members = match self.inner.provider.call(tx).await {
            Ok(out) => IDASigners::getQuorumCall::abi_decode_returns(&out)
                .map_err(|e| ChainClientError::Decode(e.to_string()))?,
            Err(e) => {
                let unknown = e
                    .as_error_resp()
                    .and_then(|r| r.as_decoded_interface_error::<IDASigners::IDASignersErrors>())
                    .is_some_and(|d| matches!(d, IDASigners::IDASignersErrors::UnknownQuorum(_)));
                if unknown {
                    return absent(self);
                }
                return Err(rpc_err(e));
            }
        };
        if members.is_empty() {
            return absent(self);
        }
        let details = self
            .call(
                self.inner.config.modules.signers,
                IDASigners::getSignerCall {
                    accounts: members.clone(),
                },
            )
            .await?;
        let threshold = self
            .call(
                self.inner.config.modules.signers,
                IDASigners::quorumThresholdCall {
                    epoch: U256::from(epoch),
                    quorumId: U256::from(quorum_id),
                },
            )
            .await?;
        let members = details
            .into_iter()
            .enumerate()
            .map(|(index, d)| QuorumMember {
                index,
                address: d.signer,
                socket: d.socket,
                pubkey: BlsPublicKey::try_from(d.pubkey.as_ref()).ok(),
            })
            .collect();
        let q = Arc::new(Quorum {
            epoch,
            quorum_id,
            threshold: threshold.saturating_to(),
            members,
        });
        self.inner
            .quorums
            .insert((epoch, quorum_id), (Instant::now(), Some(q.clone())));
        Ok(Some(q))
    }

    /// The quorums of `epoch`.
    pub async fn quorums(&self, epoch: u64) -> Result<Vec<Arc<Quorum>>, ChainClientError> {
        let n = self.quorum_count(epoch).await?;
        let mut out = Vec::with_capacity(n as usize);
        for id in 0..n {
            // The count says it exists: a remembered "no" is stale.
            if let Some(q) = self.quorum_cached(epoch, id, false).await? {
                out.push(q);
            }
        }
        Ok(out)
    }

    /// Registered details of `account` (`None` if not a signer).
    pub async fn signer(
        &self,
        account: Address,
    ) -> Result<Option<IDASigners::SignerDetail>, ChainClientError> {
        if !self
            .call(
                self.inner.config.modules.signers,
                IDASigners::isSignerCall { account },
            )
            .await?
        {
            return Ok(None);
        }
        let mut d = self
            .call(
                self.inner.config.modules.signers,
                IDASigners::getSignerCall {
                    accounts: vec![account],
                },
            )
            .await?;
        Ok(d.pop())
    }

    /// Whether `account` is registered for `epoch`.
    pub async fn registered_for_epoch(
        &self,
        account: Address,
        epoch: u64,
    ) -> Result<bool, ChainClientError> {
        self.call(
            self.inner.config.modules.signers,
            IDASigners::registeredForEpochCall {
                account,
                epoch: U256::from(epoch),
            },
        )
        .await
    }

    /// `registerSigner` from this client's account, bonding `stake` wei.
    pub async fn register_signer(
        &self,
        socket: String,
        pubkey: &BlsPublicKey,
        pop: &[u8],
        stake: U256,
    ) -> Result<B256, ChainClientError> {
        let signer = self.require_account()?;
        self.send_value(
            self.inner.config.modules.signers,
            IDASigners::registerSignerCall {
                signer: IDASigners::SignerDetail {
                    signer,
                    socket,
                    pubkey: Bytes::copy_from_slice(pubkey.as_bytes()),
                },
                pop: Bytes::copy_from_slice(pop),
            },
            stake,
        )
        .await
    }

    /// The signers module's staking parameters.
    pub async fn stake_params(&self) -> Result<IDASigners::StakeParams, ChainClientError> {
        self.call(
            self.inner.config.modules.signers,
            IDASigners::stakeParamsCall {},
        )
        .await
    }

    /// `account`'s bonded stake, unbonding stake and the epoch that is released at.
    pub async fn stake_of(
        &self,
        account: Address,
    ) -> Result<IDASigners::stakeOfReturn, ChainClientError> {
        self.call(
            self.inner.config.modules.signers,
            IDASigners::stakeOfCall { account },
        )
        .await
    }

    /// Bonds `amount` more wei of this client's account.
    pub async fn add_stake(&self, amount: U256) -> Result<B256, ChainClientError> {
        self.send_value(
            self.inner.config.modules.signers,
            IDASigners::addStakeCall {},
            amount,
        )
        .await
    }

    /// Starts unbonding `amount` wei of this client's stake.
    pub async fn unbond(&self, amount: U256) -> Result<B256, ChainClientError> {
        self.send(
            self.inner.config.modules.signers,
            IDASigners::unbondCall { amount },
        )
        .await
    }

    /// Pays out this client's released unbonding stake.
    pub async fn withdraw_stake(&self) -> Result<B256, ChainClientError> {
        self.send(
            self.inner.config.modules.signers,
            IDASigners::withdrawStakeCall {},
        )
        .await
    }

    /// Rewards `account` has earned and not claimed (entrance module).
    pub async fn rewards_of(&self, account: Address) -> Result<U256, ChainClientError> {
        self.call(
            self.inner.config.modules.entrance,
            IDAEntrance::rewardsOfCall { account },
        )
        .await
    }

    /// Pays this client's earned rewards out to its account.
    pub async fn claim_rewards(&self) -> Result<B256, ChainClientError> {
        self.send(
            self.inner.config.modules.entrance,
            IDAEntrance::claimRewardsCall {},
        )
        .await
    }

    /// Lottery wins of `account` so far (sampling module).
    pub async fn wins_of(&self, account: Address) -> Result<U256, ChainClientError> {
        self.call(
            self.inner.config.modules.sampling,
            IDASampling::winsOfCall { custodian: account },
        )
        .await
    }

    /// Wins of other custodians on payloads `account` signed since its own last win
    /// (the sampling module's ejection counter).
    pub async fn drought_of(&self, account: Address) -> Result<U256, ChainClientError> {
        self.call(
            self.inner.config.modules.sampling,
            IDASampling::droughtOfCall { signer: account },
        )
        .await
    }

    /// The last epoch `account` may not register for after an ejection (zero: never
    /// ejected).
    pub async fn ejected_until(&self, account: Address) -> Result<u64, ChainClientError> {
        let until = self
            .call(
                self.inner.config.modules.signers,
                IDASigners::ejectedUntilCall { account },
            )
            .await?;
        Ok(until.saturating_to())
    }

    /// `updateSocket` from this client's account.
    pub async fn update_socket(&self, socket: String) -> Result<B256, ChainClientError> {
        self.send(
            self.inner.config.modules.signers,
            IDASigners::updateSocketCall { socket },
        )
        .await
    }

    /// `registerNextEpoch` from this client's account.
    pub async fn register_next_epoch(&self, signature: &[u8]) -> Result<B256, ChainClientError> {
        self.send(
            self.inner.config.modules.signers,
            IDASigners::registerNextEpochCall {
                signature: Bytes::copy_from_slice(signature),
            },
        )
        .await
    }

    /// Deposit of `account` in the entrance module (cached for `deposit_ttl`).
    pub async fn deposit_of(&self, account: Address) -> Result<U256, ChainClientError> {
        if let Some((at, v)) = self.inner.deposits.get(&account)
            && at.elapsed() < self.inner.config.deposit_ttl
        {
            return Ok(v);
        }
        let v = self
            .call(
                self.inner.config.modules.entrance,
                IDAEntrance::balanceOfCall { account },
            )
            .await?;
        self.inner.deposits.insert(account, (Instant::now(), v));
        Ok(v)
    }

    /// Fee per blob (cached for `deposit_ttl`).
    pub async fn blob_fee(&self) -> Result<U256, ChainClientError> {
        if let Some((at, v)) = *self.inner.blob_fee.lock()
            && at.elapsed() < self.inner.config.deposit_ttl
        {
            return Ok(v);
        }
        let v = self
            .call(
                self.inner.config.modules.entrance,
                IDAEntrance::blobFeeCall {},
            )
            .await?;
        *self.inner.blob_fee.lock() = Some((Instant::now(), v));
        Ok(v)
    }

    /// Deposits `amount` wei from this client's account.
    pub async fn deposit(&self, amount: U256) -> Result<B256, ChainClientError> {
        self.send_value(
            self.inner.config.modules.entrance,
            IDAEntrance::depositCall {},
            amount,
        )
        .await
    }

    /// Anchors certified commitments in one transaction.
    pub async fn submit_commit_roots(
        &self,
        submissions: Vec<IDAEntrance::CommitRootSubmission>,
    ) -> Result<B256, ChainClientError> {
        self.send(
            self.inner.config.modules.entrance,
            IDAEntrance::submitVerifiedCommitRootsCall { submissions },
        )
        .await
    }

    /// Whether a certificate is anchored.
    pub async fn commitment_exists(&self, cert: &Certificate) -> Result<bool, ChainClientError> {
        self.call(
            self.inner.config.modules.entrance,
            IDAEntrance::commitmentExistsCall {
                dataRoot: cert.data_root,
                epoch: U256::from(cert.epoch),
                quorumId: U256::from(cert.quorum_id),
            },
        )
        .await
    }

    /// Whether a certificate is anchored in the state of `head` (read pinned by hash).
    pub async fn commitment_exists_at(
        &self,
        cert: &Certificate,
        head: &FinalHead,
    ) -> Result<bool, ChainClientError> {
        tx::call_at(
            &self.inner.provider,
            self.inner.config.modules.entrance,
            &IDAEntrance::commitmentExistsCall {
                dataRoot: cert.data_root,
                epoch: U256::from(cert.epoch),
                quorumId: U256::from(cert.quorum_id),
            },
            head.block_id(),
        )
        .await
        .map_err(chain_err)
    }

    /// Whether a certificate is anchored in the newest final state (by this chain's
    /// rule); `false` while no block is final yet.
    pub async fn commitment_final(&self, cert: &Certificate) -> Result<bool, ChainClientError> {
        match self.final_head().await? {
            Some(head) => self.commitment_exists_at(cert, &head).await,
            None => Ok(false),
        }
    }

    /// The DA sampling module's current round.
    pub async fn sample_round(&self) -> Result<SampleRound, ChainClientError> {
        let r = self
            .call(
                self.inner.config.modules.sampling,
                IDASampling::currentRoundCall {},
            )
            .await?;
        Ok(SampleRound {
            round: r.round.saturating_to(),
            seed: r.seed,
            target: r.target,
            start_block: r.startBlock.saturating_to(),
        })
    }

    /// The DA sampling module's parameters (never change).
    pub async fn sample_params(&self) -> Result<IDASampling::sampleParamsReturn, ChainClientError> {
        self.call(
            self.inner.config.modules.sampling,
            IDASampling::sampleParamsCall {},
        )
        .await
    }

    /// Checks a sampling response with `eth_call` from this client's account: `Ok(())`
    /// when it would be accepted, [`ChainClientError::Reverted`] naming the refusal if not.
    pub async fn check_sampling_response(
        &self,
        response: &IDASampling::SampleResponse,
    ) -> Result<(), ChainClientError> {
        let from = self.require_account()?;
        let tx = TransactionRequest::default()
            .with_from(from)
            .with_to(self.inner.config.modules.sampling)
            .with_input(Bytes::from(
                IDASampling::submitSamplingResponseCall {
                    response: response.clone(),
                }
                .abi_encode(),
            ));
        self.inner.provider.call(tx).await.map_err(rpc_err)?;
        Ok(())
    }

    /// Submits a winning sampling response.
    pub async fn submit_sampling_response(
        &self,
        response: IDASampling::SampleResponse,
    ) -> Result<B256, ChainClientError> {
        self.send(
            self.inner.config.modules.sampling,
            IDASampling::submitSamplingResponseCall { response },
        )
        .await
    }

    fn require_account(&self) -> Result<Address, ChainClientError> {
        self.inner
            .account
            .ok_or_else(|| ChainClientError::Config("no signing account".into()))
    }
}

/// Decodes the revert data of a module call error into a readable name, if possible.
fn describe_revert(data: &[u8]) -> Option<String> {
    if let Ok(e) = IDASigners::IDASignersErrors::abi_decode(data) {
        return Some(format!("{e:?}"));
    }
    if let Ok(e) = IDAEntrance::IDAEntranceErrors::abi_decode(data) {
        return Some(format!("{e:?}"));
    }
    if let Ok(e) = IDASampling::IDASamplingErrors::abi_decode(data) {
        return Some(format!("{e:?}"));
    }
    None
}

fn rpc_err(e: alloy::transports::TransportError) -> ChainClientError {
    chain_err(TxError::from_transport(e))
}

/// A chain call's failure, with a module revert decoded into its error's name.
fn chain_err(e: TxError) -> ChainClientError {
    match e {
        TxError::Unavailable(m) => ChainClientError::Unavailable(m),
        TxError::Rpc(m) => ChainClientError::Rpc(m),
        TxError::Reverted { message, data } => {
            if let Some(Ok(IDAEntrance::IDAEntranceErrors::StaleEpoch(s))) = data
                .as_ref()
                .map(|d| IDAEntrance::IDAEntranceErrors::abi_decode(d))
            {
                return ChainClientError::StaleEpoch {
                    epoch: s.epoch.saturating_to(),
                    current: s.current.saturating_to(),
                };
            }
            let detail = data
                .as_ref()
                .and_then(|d| describe_revert(d))
                .unwrap_or_default();
            ChainClientError::Reverted(format!("{message} {detail}").trim_end().to_string())
        }
        e @ TxError::Timeout { .. } => ChainClientError::Timeout(e.to_string()),
        TxError::Decode(m) => ChainClientError::Decode(m),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        modules: ModuleArgs,
    }

    #[test]
    fn module_flags_default_to_the_bundled_precompiles() {
        let c = Cli::try_parse_from(["x"]).unwrap();
        assert_eq!(c.modules.addresses(), ModuleAddresses::default());
        assert_eq!(ModuleAddresses::default().entrance, DA_ENTRANCE_ADDRESS);
        let a: Address = "0x00000000000000000000000000000000000000aa"
            .parse()
            .unwrap();
        let c = Cli::try_parse_from(["x", "--chain.entrance-address", &a.to_string()]).unwrap();
        let m = c.modules.addresses();
        assert_eq!(m.entrance, a);
        assert_eq!(
            (m.signers, m.sampling),
            (DA_SIGNERS_ADDRESS, DA_SAMPLING_ADDRESS)
        );
        assert!(Cli::try_parse_from(["x", "--chain.sampling-address", "0x12"]).is_err());
        assert_eq!(
            ChainConfig::new("http://x").modules,
            ModuleAddresses::default()
        );
    }
}
