//! Chain configuration: chain id, block production, genesis allocation and module
//! parameters. Defaults live here, in one place.

use std::collections::BTreeMap;
use std::time::Duration;

use alloy_primitives::{Address, U256, address};
use alloy_signer_local::{MnemonicBuilder, PrivateKeySigner, coins_bip39::English};
use serde::{Deserialize, Serialize};

/// The standard development mnemonic (anvil, hardhat).
pub const DEV_MNEMONIC: &str = "test test test test test test test test test test test junk";
/// Default chain id (anvil's).
pub const DEFAULT_CHAIN_ID: u64 = 31337;
/// Default block gas limit.
pub const DEFAULT_GAS_LIMIT: u64 = 30_000_000;
/// Base fee of the genesis block (1 gwei).
pub const INITIAL_BASE_FEE: u64 = 1_000_000_000;
/// Balance of each funded dev account (10 000 ether).
pub const DEV_BALANCE_ETHER: u64 = 10_000;

/// Blocks behind the head whose state queries are served (geth's default 128).
pub const DEFAULT_STATE_HISTORY: u64 = 128;

/// One ether in wei.
const ETHER: U256 = U256::from_limbs([1_000_000_000_000_000_000, 0, 0, 0]);

/// The largest `maxRegistrants`: quorum formation reads every registrant once an epoch.
pub const MAX_REGISTRANTS: u64 = 4_096;

/// The largest quorum: one member per column (an anchor stores its signers' bitmap in
/// the 192 bits above the block number).
pub const MAX_QUORUM_SIZE: u64 = 128;

/// Parameters of the DA modules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DaParams {
    /// Blocks per epoch.
    pub epoch_blocks: u64,
    /// Members per quorum.
    pub quorum_size: u64,
    /// Signatures needed to anchor.
    pub quorum_threshold: u64,
    /// Most quorums per epoch.
    pub max_quorums: u64,
    /// Fee per blob, in wei, charged from the disperser's deposit.
    pub blob_fee: U256,
    /// Anchors of quorums more than this many epochs behind the current one are refused
    /// (`StaleEpoch`); DA nodes refuse to sign outside the same window
    /// (`--store.signing-window`).
    pub anchor_window_epochs: u64,
    /// Blocks per sampling round of the DA sampling module.
    pub sample_period: u64,
    /// Anchors of the last this many epochs (and the current one) can win a round.
    pub sample_window_epochs: u64,
    /// Wins per round the target is adjusted toward.
    pub sample_target_wins: u64,
    /// Most wins one round records.
    pub sample_max_wins: u64,
    /// Target of the first round (a cell wins when its quality is at most the target).
    pub sample_initial_target: U256,
    /// Least stake (wei) a signer bonds to register, and to register for an epoch.
    pub min_stake: U256,
    /// Stake (wei) per ballot: a signer's weight in quorum formation is its bonded stake
    /// divided by this, at most `max_ballots`.
    pub stake_per_ballot: U256,
    /// Most ballots one signer holds.
    pub max_ballots: u64,
    /// Epochs between `unbond` and the stake's release; longer than the anchor and
    /// sampling windows, so stake outlasts every epoch its signer vouched for.
    pub unbonding_epochs: u64,
    /// Most registrants kept per epoch (the heaviest); bounds quorum formation's cost.
    pub max_registrants: u64,
    /// Share of each blob fee, in basis points, that funds the sampling reward pool; the
    /// rest is split among the signers of the anchored certificate.
    pub pool_share_bps: u64,
    /// Reward (wei) per lottery win, paid from the pool while it holds it.
    pub sample_reward: U256,
    /// Wins by other custodians on payloads a signer signed, with none of its own in
    /// between, that eject it (an honest signer of a quorum of `n` goes that long
    /// without a win with probability at most `(1 − 1/n)^ejectAfterWins`).
    pub eject_after_wins: u64,
    /// Epochs after the current one an ejected signer may not register for.
    pub eject_epochs: u64,
    /// Share of an ejected signer's stake (bonded, then unbonding), in basis points,
    /// moved to the sampling reward pool.
    pub eject_slash_bps: u64,
}

impl Default for DaParams {
    fn default() -> Self {
        Self {
            epoch_blocks: 100,
            quorum_size: 8,
            quorum_threshold: 6,
            max_quorums: 16,
            blob_fee: U256::from(1_000_000_000_000u64), // 1e12 wei = 1e-6 ether
            anchor_window_epochs: 2,
            sample_period: 20,
            sample_window_epochs: 100,
            sample_target_wins: 8,
            sample_max_wins: 32,
            // One cell in 128 wins: about one win per anchored blob per round at first.
            sample_initial_target: U256::MAX >> 7,
            min_stake: ETHER,
            stake_per_ballot: ETHER,
            max_ballots: 100,
            unbonding_epochs: 102,
            max_registrants: 256,
            pool_share_bps: 1_000,
            sample_reward: U256::from(1_000_000_000_000u64),
            // (7/8)^128 ≈ 3.8e-8: docs/sampler.md.
            eject_after_wins: 128,
            eject_epochs: 8,
            eject_slash_bps: 1_000,
        }
    }
}

/// Parameters of the storage modules (flow and market).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StorageParams {
    /// Fee per 256-byte sector (flow entry) of a submission, in wei.
    pub price_per_sector: U256,
}

impl Default for StorageParams {
    fn default() -> Self {
        // 1 gwei per sector: 4 194 304 gwei (0.0042 ether) per GiB.
        Self {
            price_per_sector: U256::from(1_000_000_000u64),
        }
    }
}

/// Parameters of the compute modules (ledger and inference serving), 0G's constants
/// by default (its testnet's ledger minimums, its 24 h refund lock and 100-ether stake).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ComputeParams {
    /// Smallest balance a ledger may be created with or left at (other than zero), wei.
    pub min_account_balance: U256,
    /// Smallest first transfer into a provider sub-account, wei.
    pub min_transfer_amount: U256,
    /// Seconds a requested refund stays locked before `retrieveFund` releases it.
    pub lock_time: u64,
    /// Stake a provider locks when it first registers its service, wei.
    pub min_provider_stake: U256,
    /// The module owner: acknowledges providers' TEE signers.
    pub owner: Address,
}

impl Default for ComputeParams {
    fn default() -> Self {
        let ether = U256::from(10u64).pow(U256::from(18));
        Self {
            min_account_balance: ether / U256::from(10),
            min_transfer_amount: ether / U256::from(100),
            lock_time: 86_400,
            min_provider_stake: ether * U256::from(100),
            owner: DEV_ACCOUNT_0,
        }
    }
}

/// Genesis: what the first block's state holds. Loadable from JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Genesis {
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// Block gas limit.
    pub gas_limit: u64,
    /// Genesis timestamp (seconds).
    pub timestamp: u64,
    /// Funded accounts.
    pub alloc: BTreeMap<Address, U256>,
    /// DA module parameters.
    pub da: DaParams,
    /// Storage module parameters.
    pub storage: StorageParams,
    /// Compute module parameters.
    pub compute: ComputeParams,
    /// The validator set; absent, one node produces blocks alone (development).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consensus: Option<crate::consensus::ConsensusGenesis>,
}

impl Default for Genesis {
    fn default() -> Self {
        let balance = U256::from(DEV_BALANCE_ETHER) * U256::from(10u64).pow(U256::from(18));
        Self {
            chain_id: DEFAULT_CHAIN_ID,
            gas_limit: DEFAULT_GAS_LIMIT,
            timestamp: 0,
            alloc: dev_accounts(10)
                .iter()
                .map(|s| (s.address(), balance))
                .collect(),
            da: DaParams::default(),
            storage: StorageParams::default(),
            compute: ComputeParams::default(),
            consensus: None,
        }
    }
}

impl Genesis {
    /// Checks the parameters are usable.
    pub fn validate(&self) -> Result<(), String> {
        let da = &self.da;
        if self.compute.lock_time > 7 * 86_400 {
            return Err("compute lockTime above 7 days".into());
        }
        if self.gas_limit < 21_000 {
            return Err("gas limit below 21000".into());
        }
        if da.epoch_blocks == 0 || da.quorum_size == 0 || da.max_quorums == 0 {
            return Err("epochBlocks, quorumSize and maxQuorums must be positive".into());
        }
        if da.sample_period == 0
            || da.sample_target_wins == 0
            || da.sample_max_wins == 0
            || da.sample_initial_target.is_zero()
        {
            return Err(
                "samplePeriod, sampleTargetWins, sampleMaxWins and sampleInitialTarget must be \
                 positive"
                    .into(),
            );
        }
        if da.stake_per_ballot.is_zero()
            || da.min_stake < da.stake_per_ballot
            || da.max_ballots == 0
        {
            return Err(
                "stakePerBallot must be positive and at most minStake, maxBallots positive".into(),
            );
        }
        if da.unbonding_epochs <= da.anchor_window_epochs.max(da.sample_window_epochs) {
            return Err(format!(
                "unbondingEpochs {} must exceed the anchor window ({}) and the sampling window ({})",
                da.unbonding_epochs, da.anchor_window_epochs, da.sample_window_epochs
            ));
        }
        if da.pool_share_bps > 10_000 || da.eject_slash_bps > 10_000 {
            return Err("poolShareBps and ejectSlashBps must be at most 10000".into());
        }
        if da.eject_after_wins == 0 || da.eject_epochs == 0 {
            return Err("ejectAfterWins and ejectEpochs must be positive".into());
        }
        // An anchor keeps its signers as a bitmap beside the block number in one word.
        if da.quorum_size > MAX_QUORUM_SIZE {
            return Err(format!("quorumSize above {MAX_QUORUM_SIZE}"));
        }
        if da.max_registrants < da.quorum_size || da.max_registrants > MAX_REGISTRANTS {
            return Err(format!(
                "maxRegistrants must lie between quorumSize and {MAX_REGISTRANTS}"
            ));
        }
        let recovery = zg_primitives::recovery_nodes(da.quorum_size as usize).unwrap_or(usize::MAX);
        if (da.quorum_threshold as usize) < recovery || da.quorum_threshold > da.quorum_size {
            return Err(format!(
                "quorumThreshold {} must lie between recovery_nodes({}) = {recovery} and the quorum size",
                da.quorum_threshold, da.quorum_size
            ));
        }
        Ok(())
    }
}

/// Account `i` of the dev mnemonic (`m/44'/60'/0'/0/i`); each derivation runs PBKDF2.
pub fn dev_account(i: u32) -> PrivateKeySigner {
    MnemonicBuilder::<English>::from_phrase_nth(DEV_MNEMONIC, i)
}

/// The first `n` accounts of the dev mnemonic.
pub fn dev_accounts(n: u32) -> Vec<PrivateKeySigner> {
    (0..n).map(dev_account).collect()
}

/// Dev account 0's address (the compute modules' default owner), without a derivation.
pub const DEV_ACCOUNT_0: Address = address!("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");

/// Node settings that are not part of consensus.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// Genesis (used when the datadir is empty; must match it otherwise).
    pub genesis: Genesis,
    /// Block interval; zero mines a block for each transaction as it arrives.
    pub block_time: Duration,
    /// Most blocks one `eth_getLogs` may scan.
    pub max_logs_range: u64,
    /// The transaction pool's limits (size, per sender, nonce gap, lifetime).
    pub pool: crate::mempool::PoolLimits,
    /// Coinbase of produced blocks.
    pub coinbase: Address,
    /// Serve the state-bending development methods (`evm_mine`, `anvil_mine`); only on
    /// a loopback bind.
    pub dev: bool,
    /// JSON-RPC limits.
    pub rpc: RpcConfig,
    /// This node's validator keys and consensus p2p settings, when genesis names a
    /// validator set and this node is one of them.
    pub validator: Option<ValidatorSettings>,
    /// Validators' JSON-RPC URLs a full node (no validator key) follows.
    pub follow: Vec<String>,
}

/// A validator's own consensus settings.
#[derive(Clone, Debug)]
pub struct ValidatorSettings {
    /// Its keys.
    pub key: crate::consensus::ValidatorKey,
    /// Where consensus p2p listens; its genesis address when absent.
    pub listen: Option<std::net::SocketAddr>,
    /// Addresses of validators (by identity, hex) that override genesis.
    pub peers: Vec<(String, String)>,
    /// View timeouts.
    pub timeouts: crate::consensus::Timeouts,
    /// Rewrites this validator's proposals before they are broadcast (fault tests: a
    /// Byzantine proposer); none in production.
    pub proposal_layer: Option<crate::consensus::ProposalLayer>,
}

/// Limits of the node's JSON-RPC API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RpcConfig {
    /// Most gas one `eth_call` / `eth_estimateGas` execution may use (geth: 50M).
    pub gas_cap: u64,
    /// Wall-clock budget of one heavy call (EVM execution, log and receipt scans), and
    /// the longest it waits for a place.
    pub evm_timeout: Duration,
    /// Heavy calls at once (each on its own blocking thread).
    pub max_heavy: usize,
    /// State queries (`eth_getBalance`, `eth_call`, `eth_getProof`, …) are served for
    /// this many blocks behind the head (from the state trie); older ones are refused.
    pub state_history: u64,
    /// The server's limits: body, batch size, time per request, hosts, concurrency.
    pub server: zg_node_kit::jsonrpc::RpcLimits,
    /// WebSocket limits: connections, subscriptions per connection, queue per connection.
    pub ws: zg_node_kit::pubsub::WsLimits,
}

impl Default for RpcConfig {
    fn default() -> Self {
        Self {
            gas_cap: 50_000_000,
            evm_timeout: Duration::from_secs(5),
            max_heavy: std::thread::available_parallelism().map_or(2, |n| n.get()),
            state_history: DEFAULT_STATE_HISTORY,
            server: zg_node_kit::jsonrpc::RpcLimits::new(10 * 1024 * 1024),
            ws: zg_node_kit::pubsub::WsLimits::default(),
        }
    }
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            genesis: Genesis::default(),
            block_time: Duration::from_secs(1),
            max_logs_range: 10_000,
            pool: crate::mempool::PoolLimits::default(),
            coinbase: Address::ZERO,
            dev: false,
            rpc: RpcConfig::default(),
            validator: None,
            follow: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_account_0_is_the_mnemonics_first() {
        assert_eq!(dev_account(0).address(), DEV_ACCOUNT_0);
        assert_eq!(dev_accounts(3)[2].address(), dev_account(2).address());
    }
}
