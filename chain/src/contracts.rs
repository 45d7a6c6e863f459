//! The DA modules as Solidity contracts, for anchoring on any EVM chain with the EIP-2537
//! precompiles (Ethereum since Pectra, 0G's chain, the bundled chain itself).
//!
//! Sources live in `chain/contracts/src`; `chain/contracts/build.js` compiles them with the
//! pinned solc into `chain/contracts/out`, which is committed and embedded here, so the
//! Rust build needs no Node.js. [`deploy`] deploys the three contracts, wired to each other
//! and configured with the same [`DaParams`] the bundled chain takes from its genesis;
//! [`deploy_flow`] deploys 0G Storage's flow (with its market) the same way.

use std::time::{Duration, Instant};

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, Bytes, U256};
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::TransactionRequest;
use alloy_sol_types::{SolValue, sol};
use serde::Deserialize;
use zg_primitives::abi::IDASigners;

use crate::config::DaParams;

sol! {
    /// `DASampling`'s constructor configuration.
    struct SamplingConfig {
        uint256 period;
        uint256 windowEpochs;
        uint256 targetWins;
        uint256 maxWins;
        uint256 initialTarget;
        uint256 ejectAfterWins;
        uint256 ejectEpochs;
        uint256 ejectSlashBps;
    }
}

/// One compiled contract.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Artifact {
    /// Contract name.
    pub contract_name: String,
    /// The compiler that produced it.
    pub compiler: String,
    /// Its JSON ABI.
    pub abi: serde_json::Value,
    /// Creation code (hex).
    pub bytecode: String,
}

impl Artifact {
    fn parse(json: &str) -> Self {
        serde_json::from_str(json).expect("embedded contract artifact is valid JSON")
    }

    /// Creation code without constructor arguments.
    pub fn creation_code(&self) -> Vec<u8> {
        hex::decode(self.bytecode.trim_start_matches("0x")).expect("embedded bytecode is hex")
    }
}

/// Which module contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModuleContract {
    /// `DASigners`.
    Signers,
    /// `DAEntrance`.
    Entrance,
    /// `DASampling`.
    Sampling,
}

impl ModuleContract {
    /// All three, in deployment order.
    pub const ALL: [Self; 3] = [Self::Signers, Self::Entrance, Self::Sampling];

    /// The compiled contract.
    pub fn artifact(self) -> Artifact {
        Artifact::parse(match self {
            Self::Signers => include_str!("../contracts/out/DASigners.json"),
            Self::Entrance => include_str!("../contracts/out/DAEntrance.json"),
            Self::Sampling => include_str!("../contracts/out/DASampling.json"),
        })
    }
}

/// Where the deployed modules live.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DeployedModules {
    /// `DASigners`.
    pub signers: Address,
    /// `DAEntrance`.
    pub entrance: Address,
    /// `DASampling`.
    pub sampling: Address,
}

/// Why a deployment failed.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// The node refused or failed a request (retry may help).
    #[error("rpc: {0}")]
    Rpc(String),
    /// A creation transaction reverted (wrong parameters or a chain without EIP-2537).
    #[error("deploying {0} reverted (transaction {1})")]
    Reverted(&'static str, String),
    /// No receipt in time.
    #[error("no receipt for the {0} deployment within {1:?}")]
    Timeout(&'static str, Duration),
}

/// The compiled `Flow` (0G Storage's flow and market, as the `0x…1003`/`0x…1004`
/// precompiles).
pub fn flow_artifact() -> Artifact {
    Artifact::parse(include_str!("../contracts/out/Flow.json"))
}

/// Deploys `Flow` (its own market, `price_per_sector` wei per 256-byte sector) from the
/// provider's account; its address. Storage nodes and clients then take it as
/// `--chain.flow-address`.
pub async fn deploy_flow(
    provider: &DynProvider,
    price_per_sector: U256,
    receipt_timeout: Duration,
) -> Result<Address, DeployError> {
    let mut code = flow_artifact().creation_code();
    code.extend_from_slice(&price_per_sector.abi_encode());
    create(provider, "Flow", code, receipt_timeout).await
}

/// Creation code plus ABI-encoded constructor arguments of each module.
pub fn creation_code(
    which: ModuleContract,
    da: &DaParams,
    signers: Address,
    entrance: Address,
) -> Vec<u8> {
    let mut code = which.artifact().creation_code();
    let args = match which {
        ModuleContract::Signers => (
            IDASigners::Params {
                epochBlocks: da.epoch_blocks,
                quorumSize: da.quorum_size,
                quorumThreshold: da.quorum_threshold,
                maxQuorums: da.max_quorums,
            },
            IDASigners::StakeParams {
                minStake: da.min_stake,
                stakePerBallot: da.stake_per_ballot,
                maxBallots: da.max_ballots,
                unbondingEpochs: da.unbonding_epochs,
                maxRegistrants: da.max_registrants,
            },
        )
            .abi_encode_params(),
        ModuleContract::Entrance => (
            signers,
            da.blob_fee,
            U256::from(da.anchor_window_epochs),
            U256::from(da.pool_share_bps),
            da.sample_reward,
        )
            .abi_encode_params(),
        ModuleContract::Sampling => (
            signers,
            entrance,
            SamplingConfig {
                period: U256::from(da.sample_period),
                windowEpochs: U256::from(da.sample_window_epochs),
                targetWins: U256::from(da.sample_target_wins),
                maxWins: U256::from(da.sample_max_wins),
                initialTarget: da.sample_initial_target,
                ejectAfterWins: U256::from(da.eject_after_wins),
                ejectEpochs: U256::from(da.eject_epochs),
                ejectSlashBps: U256::from(da.eject_slash_bps),
            },
            Bytes::from(zg_primitives::kzg_setup_eip2537()),
        )
            .abi_encode_params(),
    };
    code.extend_from_slice(&args);
    code
}

/// Deploys `DASigners`, `DAEntrance` and `DASampling` from the provider's account, one
/// transaction each, and returns their addresses.
pub async fn deploy(
    provider: &DynProvider,
    da: &DaParams,
    receipt_timeout: Duration,
) -> Result<DeployedModules, DeployError> {
    let signers = create(
        provider,
        "DASigners",
        creation_code(ModuleContract::Signers, da, Address::ZERO, Address::ZERO),
        receipt_timeout,
    )
    .await?;
    let entrance = create(
        provider,
        "DAEntrance",
        creation_code(ModuleContract::Entrance, da, signers, Address::ZERO),
        receipt_timeout,
    )
    .await?;
    let sampling = create(
        provider,
        "DASampling",
        creation_code(ModuleContract::Sampling, da, signers, entrance),
        receipt_timeout,
    )
    .await?;
    Ok(DeployedModules {
        signers,
        entrance,
        sampling,
    })
}

async fn create(
    provider: &DynProvider,
    name: &'static str,
    code: Vec<u8>,
    timeout: Duration,
) -> Result<Address, DeployError> {
    let rpc = |e: &dyn std::fmt::Display| DeployError::Rpc(format!("{name}: {e}"));
    let tx = TransactionRequest::default().with_deploy_code(code);
    let pending = provider.send_transaction(tx).await.map_err(|e| rpc(&e))?;
    let hash = *pending.tx_hash();
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(r) = provider
            .get_transaction_receipt(hash)
            .await
            .map_err(|e| rpc(&e))?
        {
            return match (r.status(), r.contract_address) {
                (true, Some(a)) => Ok(a),
                _ => Err(DeployError::Reverted(name, hash.to_string())),
            };
        }
        if Instant::now() >= deadline {
            return Err(DeployError::Timeout(name, timeout));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::json_abi::JsonAbi;
    use alloy_sol_types::SolEvent;
    use zg_primitives::abi::{IDAEntrance, IDASampling};

    fn abi(which: ModuleContract) -> JsonAbi {
        serde_json::from_value(which.artifact().abi).unwrap()
    }

    /// Every function, event and error of the precompile ABI is in the contract's ABI
    /// with the same signature.
    fn same_abi(which: ModuleContract, calls: &[&str], events: &[&str], errors: &[&str]) {
        let abi = abi(which);
        let functions: Vec<String> = abi.functions().map(|f| f.signature()).collect();
        for sig in calls {
            assert!(functions.iter().any(|f| f == sig), "{which:?} lacks {sig}");
        }
        let ev: Vec<String> = abi.events().map(|e| e.signature()).collect();
        for e in events {
            assert!(ev.iter().any(|x| x == e), "{which:?} lacks event {e}");
        }
        let er: Vec<String> = abi.errors().map(|e| e.signature()).collect();
        for e in errors {
            assert!(er.iter().any(|x| x == e), "{which:?} lacks error {e}");
        }
    }

    #[test]
    fn contract_abis_match_the_precompiles() {
        same_abi(
            ModuleContract::Signers,
            IDASigners::IDASignersCalls::SIGNATURES,
            &[
                IDASigners::NewSigner::SIGNATURE,
                IDASigners::SocketUpdated::SIGNATURE,
                IDASigners::EpochRegistered::SIGNATURE,
                IDASigners::RegistrationDisplaced::SIGNATURE,
                IDASigners::QuorumsFormed::SIGNATURE,
                IDASigners::StakeAdded::SIGNATURE,
                IDASigners::UnbondingStarted::SIGNATURE,
                IDASigners::StakeWithdrawn::SIGNATURE,
            ],
            IDASigners::IDASignersErrors::SIGNATURES,
        );
        same_abi(
            ModuleContract::Entrance,
            IDAEntrance::IDAEntranceCalls::SIGNATURES,
            &[
                IDAEntrance::ErasureCommitmentVerified::SIGNATURE,
                IDAEntrance::Deposited::SIGNATURE,
                IDAEntrance::Withdrawn::SIGNATURE,
                IDAEntrance::BlobFeeCharged::SIGNATURE,
                IDAEntrance::FeeSplit::SIGNATURE,
                IDAEntrance::RewardsClaimed::SIGNATURE,
                IDAEntrance::RewardPoolFunded::SIGNATURE,
            ],
            IDAEntrance::IDAEntranceErrors::SIGNATURES,
        );
        same_abi(
            ModuleContract::Sampling,
            IDASampling::IDASamplingCalls::SIGNATURES,
            &[
                IDASampling::NewSampleRound::SIGNATURE,
                IDASampling::SampleWin::SIGNATURE,
                IDASampling::SampleRewarded::SIGNATURE,
            ],
            IDASampling::IDASamplingErrors::SIGNATURES,
        );
    }

    #[test]
    fn flow_abi_matches_the_precompiles() {
        use zg_primitives::abi::{IFlow, IMarket};
        let abi: JsonAbi = serde_json::from_value(flow_artifact().abi).unwrap();
        let functions: Vec<String> = abi.functions().map(|f| f.signature()).collect();
        for sig in IFlow::IFlowCalls::SIGNATURES
            .iter()
            .chain(IMarket::IMarketCalls::SIGNATURES)
        {
            assert!(functions.iter().any(|f| f == sig), "Flow lacks {sig}");
        }
        let events: Vec<String> = abi.events().map(|e| e.signature()).collect();
        assert_eq!(events, vec![IFlow::Submit::SIGNATURE.to_string()]);
        let errors: Vec<String> = abi.errors().map(|e| e.signature()).collect();
        for e in IFlow::IFlowErrors::SIGNATURES {
            assert!(errors.iter().any(|x| x == e), "Flow lacks error {e}");
        }
    }

    #[test]
    fn setup_is_the_one_the_contract_expects() {
        let setup = zg_primitives::kzg_setup_eip2537();
        assert_eq!(setup.len(), zg_primitives::KZG_SETUP_EIP2537_LEN);
        let hash = alloy::primitives::keccak256(&setup);
        let source = include_str!("../contracts/src/KZGCell.sol");
        assert!(
            source.contains(&format!("SETUP_HASH = {hash}")),
            "KZGCell.sol's SETUP_HASH must be {hash}"
        );
        // The first point is the generator: x of G1 in the second 48-byte half.
        assert_eq!(
            hex::encode(&setup[16..64]),
            "17f1d3a73197d7942695638c4fa9ac0fc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6bb"
        );
    }
}
