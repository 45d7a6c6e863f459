use std::time::Duration;

use alloy::primitives::U256;
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use alloy::signers::local::PrivateKeySigner;
use tokio_util::sync::CancellationToken;
use zg_chain::{Genesis, NodeConfig, RunningChain};

/// A fresh temporary directory, removed on drop.
pub(crate) use zg_node_kit::runtime::TempDir;

pub(crate) fn dev_genesis() -> Genesis {
    let mut g = Genesis::default();
    g.da.epoch_blocks = 4;
    g
}

/// Starts a node on an ephemeral port; `block_time` zero = automine.
pub(crate) async fn start(dir: &TempDir, genesis: Genesis, block_time: Duration) -> RunningChain {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let config = NodeConfig {
        genesis,
        block_time,
        dev: true,
        rpc: zg_chain::config::RpcConfig {
            server: zg_node_kit::jsonrpc::RpcLimits::new(1024 * 1024),
            ..Default::default()
        },
        ..NodeConfig::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    zg_chain::start(&dir.0, config, listener, CancellationToken::new())
        .await
        .unwrap()
}

pub(crate) fn signer(i: u32) -> PrivateKeySigner {
    zg_chain::dev_account(i)
}

pub(crate) fn provider(url: &str, who: PrivateKeySigner) -> DynProvider {
    zg_testkit::provider_for(url, who)
}

/// Sends `tx` and waits for its receipt.
pub(crate) async fn mined(p: &DynProvider, tx: TransactionRequest) -> TransactionReceipt {
    p.send_transaction(tx)
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap()
}

/// What the sender paid for the gas of a mined transaction.
pub(crate) fn gas_cost(r: &TransactionReceipt) -> U256 {
    U256::from(r.gas_used) * U256::from(r.effective_gas_price)
}

/// Raw JSON-RPC request; returns the parsed response body and HTTP status.
pub(crate) async fn raw_rpc(url: &str, body: impl Into<String>) -> (u16, serde_json::Value) {
    let resp = alloy::transports::http::reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body.into())
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

/// Waits until the provider reports at least block `n`.
pub(crate) async fn wait_block(p: &DynProvider, n: u64) {
    for _ in 0..200 {
        if p.get_block_number().await.unwrap() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("block {n} not reached");
}

/// Mines empty blocks (`anvil_mine`) until the head is block `block`.
pub(crate) async fn mine_to(p: &DynProvider, block: u64) {
    let head = p.get_block_number().await.unwrap();
    if block > head {
        p.raw_request::<_, String>("anvil_mine".into(), (format!("{:#x}", block - head),))
            .await
            .unwrap();
    }
}

/// The JSON-RPC error payload inside a contract call error.
pub(crate) fn error_resp(e: &alloy::contract::Error) -> alloy::rpc::json_rpc::ErrorPayload {
    match e {
        alloy::contract::Error::TransportError(t) => t
            .as_error_resp()
            .cloned()
            .unwrap_or_else(|| panic!("not an error response: {e:?}")),
        other => panic!("not a transport error: {other:?}"),
    }
}

/// Which implementation of the DA modules a suite runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Impl {
    /// The bundled chain's stateful precompiles.
    Precompiles,
    /// The Solidity contracts, deployed by `zg_chain::contracts::deploy`.
    Contracts,
}

tokio::task_local! {
    /// The module addresses of the suite running on this task.
    static MODULES: std::cell::Cell<zg_chain::contracts::DeployedModules>;
    /// What the suite saw, in order: logs of successful transactions and revert data.
    static TRANSCRIPT: std::cell::RefCell<Vec<String>>;
    /// Text replaced in every later entry (values that differ between two chains by
    /// nature, such as a block hash used as a seed), and whether recording is paused.
    static NORMALIZE: std::cell::RefCell<(Vec<(String, String)>, bool)>;
}

fn precompile_modules() -> zg_chain::contracts::DeployedModules {
    use zg_primitives::abi::{DA_ENTRANCE_ADDRESS, DA_SAMPLING_ADDRESS, DA_SIGNERS_ADDRESS};
    zg_chain::contracts::DeployedModules {
        signers: DA_SIGNERS_ADDRESS,
        entrance: DA_ENTRANCE_ADDRESS,
        sampling: DA_SAMPLING_ADDRESS,
    }
}

fn modules() -> zg_chain::contracts::DeployedModules {
    MODULES
        .try_with(|m| m.get())
        .unwrap_or_else(|_| precompile_modules())
}

/// The signers module of the running suite.
pub(crate) fn signers_addr() -> alloy::primitives::Address {
    modules().signers
}
/// The entrance module of the running suite.
pub(crate) fn entrance_addr() -> alloy::primitives::Address {
    modules().entrance
}
/// The sampling module of the running suite.
pub(crate) fn sampling_addr() -> alloy::primitives::Address {
    modules().sampling
}

/// Runs a suite with its own module addresses and transcript; returns the transcript.
pub(crate) async fn run_suite<F: std::future::Future<Output = ()>>(f: F) -> Vec<String> {
    MODULES
        .scope(
            std::cell::Cell::new(precompile_modules()),
            TRANSCRIPT.scope(
                std::cell::RefCell::new(Vec::new()),
                NORMALIZE.scope(std::cell::RefCell::new((Vec::new(), false)), async {
                    f.await;
                    TRANSCRIPT.with(|t| t.take())
                }),
            ),
        )
        .await
}

/// Selects the implementation for the running suite: deploys the contracts (with the
/// chain's own DA parameters) from the dev account 0 when asked for them.
pub(crate) async fn use_impl(imp: Impl, url: &str, da: &zg_chain::DaParams) {
    if imp == Impl::Contracts {
        let p = provider(url, signer(0));
        let m = zg_chain::contracts::deploy(&p, da, Duration::from_secs(30))
            .await
            .expect("deploying the module contracts");
        MODULES.with(|c| c.set(m));
    }
}

/// Adds an entry to the running suite's transcript (if any).
pub(crate) fn record(entry: String) {
    let entry = NORMALIZE.try_with(|n| {
        let n = n.borrow();
        if n.1 {
            return None;
        }
        let mut e = entry.clone();
        for (from, to) in &n.0 {
            e = e.replace(from.as_str(), to);
        }
        Some(e)
    });
    match entry {
        Ok(Some(e)) => {
            let _ = TRANSCRIPT.try_with(|t| t.borrow_mut().push(e));
        }
        Ok(None) => {}
        Err(_) => {}
    }
}

/// From now on, `value`'s hex (without `0x`) is written as `name` in the transcript: for
/// what two chains differ in by nature (a seed is a block hash).
pub(crate) fn alias(value: impl AsRef<[u8]>, name: &str) {
    let hex = alloy::primitives::hex::encode(value.as_ref());
    let _ = NORMALIZE.try_with(|n| n.borrow_mut().0.push((hex, name.to_string())));
}

/// Pauses (`false`) or resumes (`true`) recording: for steps whose outcome depends on
/// the seed (which members hold which place), recorded as a summary instead.
pub(crate) fn recording(on: bool) {
    let _ = NORMALIZE.try_with(|n| n.borrow_mut().1 = !on);
}

/// A signed EIP-1559 transfer of 1 wei from dev account `who` (chain 31337), raw.
pub(crate) fn raw_transfer(who: u32, nonce: u64) -> Vec<u8> {
    use alloy::consensus::{SignableTransaction, TxEip1559, TxEnvelope};
    use alloy::eips::eip2718::Encodable2718;
    use alloy::signers::SignerSync;
    let t = TxEip1559 {
        chain_id: 31_337,
        nonce,
        gas_limit: 21_000,
        max_fee_per_gas: 100_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to: alloy::primitives::TxKind::Call(alloy::primitives::Address::repeat_byte(0x77)),
        value: alloy::primitives::U256::from(1),
        access_list: Default::default(),
        input: alloy::primitives::Bytes::new(),
    };
    let sig = signer(who).sign_hash_sync(&t.signature_hash()).unwrap();
    TxEnvelope::Eip1559(t.into_signed(sig)).encoded_2718()
}

/// The RPC URL a `zg-chain` child prints first (`zg-chain listening on URL`).
pub(crate) fn listening_url(child: &mut std::process::Child) -> String {
    use std::io::BufRead;
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    line.trim()
        .strip_prefix("zg-chain listening on ")
        .unwrap_or_else(|| panic!("unexpected: {line}"))
        .to_string()
}
