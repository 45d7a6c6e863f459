//! The compute harness: a real chain, the echo upstream and brokers on loopback ports,
//! and the user-side chain calls of 0G's SDK flow.
#![allow(missing_docs)]

use std::path::PathBuf;
use std::time::Duration;

use alloy::network::TransactionBuilder;
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::TransactionRequest;
use alloy::signers::local::PrivateKeySigner;
use alloy_primitives::{Address, Bytes, U256};
use alloy_sol_types::SolCall;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use zg_chain::{Genesis, RunningChain};
use zg_primitives::abi::{
    IInferenceServing as S, ILedgerManager as L, INFERENCE_SERVICE_NAME, LEDGER_ADDRESS,
    SERVING_ADDRESS,
};

use zg_compute::upstream::ECHO_MODEL;
use zg_compute::{Broker, BrokerConfig, ServiceSpec, start};

pub use crate::{TempDir, dev_signer, provider_for};

pub fn ether(n: u64) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(18))
}

/// Input and output prices of the test service, wei per token.
pub const INPUT_PRICE: u64 = 1_000_000_000_000;
pub const OUTPUT_PRICE: u64 = 2_000_000_000_000;

/// Chain (automine, 2 s refund lock), echo upstream, provider and TEE keys.
pub struct Stack {
    pub chain: RunningChain,
    pub upstream: String,
    pub upstream_stats: zg_compute::upstream::EchoStats,
    pub provider_key: PrivateKeySigner,
    pub tee_key: PrivateKeySigner,
    pub owner: DynProvider,
    pub cancel: CancellationToken,
    _chain_dir: TempDir,
}

impl Stack {
    pub async fn new() -> Self {
        let dir = TempDir::new("chain");
        let mut genesis = Genesis::default();
        genesis.compute.lock_time = 2;
        let config = zg_chain::NodeConfig {
            genesis,
            block_time: Duration::ZERO,
            ..zg_chain::NodeConfig::default()
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let cancel = CancellationToken::new();
        let chain = zg_chain::start(&dir.0, config, listener, cancel.child_token())
            .await
            .unwrap();
        let (upstream, upstream_stats) = zg_compute::upstream::spawn_echo(cancel.child_token())
            .await
            .unwrap();
        let owner = provider_for(&chain.rpc_url(), dev_signer(0));
        Self {
            chain,
            upstream,
            upstream_stats,
            provider_key: dev_signer(1),
            tee_key: PrivateKeySigner::random(),
            owner,
            cancel,
            _chain_dir: dir,
        }
    }

    /// The module owner (dev account 0).
    pub fn owner_address(&self) -> Address {
        dev_signer(0).address()
    }

    pub fn rpc(&self) -> String {
        self.chain.rpc_url()
    }

    pub fn config(&self, datadir: PathBuf) -> BrokerConfig {
        let mut c = BrokerConfig::new(
            datadir,
            self.rpc(),
            self.provider_key.clone(),
            self.tee_key.clone(),
            self.upstream.clone(),
        );
        c.settle_interval = Duration::from_secs(3600);
        c.register = Some(ServiceSpec {
            service_type: "chatbot".into(),
            url: "http://127.0.0.1".into(),
            model: ECHO_MODEL.into(),
            verifiability: "TeeML".into(),
            input_price: U256::from(INPUT_PRICE),
            output_price: U256::from(OUTPUT_PRICE),
            additional_info: "{}".into(),
            stake: ether(100),
        });
        c
    }

    pub async fn broker(&self, config: BrokerConfig) -> Broker {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        start(config, listener, self.cancel.child_token())
            .await
            .unwrap()
    }

    /// The owner acknowledges the provider's TEE signer.
    pub async fn acknowledge(&self) {
        send(
            &self.owner,
            SERVING_ADDRESS,
            S::acknowledgeTEESignerByOwnerCall {
                provider: self.provider_key.address(),
            }
            .abi_encode(),
            U256::ZERO,
        )
        .await
        .unwrap();
    }

    /// A user with a ledger of `deposit` ether and `transfer` ether in the provider's
    /// sub-account.
    pub async fn user(
        &self,
        i: u32,
        deposit: u64,
        transfer: U256,
    ) -> (PrivateKeySigner, DynProvider) {
        let key = dev_signer(i);
        let p = provider_for(&self.rpc(), key.clone());
        send(
            &p,
            LEDGER_ADDRESS,
            L::addLedgerCall {
                additionalInfo: String::new(),
            }
            .abi_encode(),
            ether(deposit),
        )
        .await
        .unwrap();
        if !transfer.is_zero() {
            self.transfer(&p, transfer).await;
        }
        (key, p)
    }

    pub async fn transfer(&self, user: &DynProvider, amount: U256) {
        send(
            user,
            LEDGER_ADDRESS,
            L::transferFundCall {
                provider: self.provider_key.address(),
                serviceName: INFERENCE_SERVICE_NAME.into(),
                amount,
            }
            .abi_encode(),
            U256::ZERO,
        )
        .await
        .unwrap();
    }

    pub async fn account(&self, user: Address) -> S::Account {
        view(
            &self.owner,
            SERVING_ADDRESS,
            S::getAccountCall {
                user,
                provider: self.provider_key.address(),
            },
        )
        .await
    }
}

/// Sends a transaction; `Err` with the message when it is refused or reverts.
pub async fn send(p: &DynProvider, to: Address, data: Vec<u8>, value: U256) -> Result<(), String> {
    let tx = TransactionRequest::default()
        .with_to(to)
        .with_input(Bytes::from(data))
        .with_value(value);
    let r = p
        .send_transaction(tx)
        .await
        .map_err(|e| e.to_string())?
        .get_receipt()
        .await
        .map_err(|e| e.to_string())?;
    if r.status() {
        Ok(())
    } else {
        Err(format!("reverted: {}", r.transaction_hash))
    }
}

pub async fn view<C: SolCall>(p: &DynProvider, to: Address, c: C) -> C::Return {
    let tx = TransactionRequest::default()
        .with_to(to)
        .with_input(Bytes::from(c.abi_encode()));
    let out = p.call(tx).await.unwrap();
    C::abi_decode_returns(&out).unwrap()
}
