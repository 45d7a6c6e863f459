//! Hardhat's node (npm `hardhat` 2.29, hardfork `prague`): an EVM chain nobody here
//! wrote, which reorgs when a test says so (`evm_snapshot` / `evm_revert`). It mines a
//! block per transaction and otherwise only what the test mines ([`Hardhat::mine`]).
//! The portable DA contracts and the storage flow deploy on it.
//!
//! Needs Node.js and the npm registry (once: `testkit/hardhat/node_modules`). Without
//! them [`Hardhat::start`] says so and returns `None`, unless `ZG_REQUIRE_SDK=1` (CI sets
//! it where Node.js is installed), when it panics.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy_primitives::U256;

use crate::TempDir;

/// A running Hardhat node, killed on drop.
pub struct Hardhat {
    child: Child,
    url: String,
    provider: DynProvider,
    _logs: TempDir,
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("hardhat")
}

fn have(cmd: &str) -> bool {
    Command::new(cmd)
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn install() {
    let dir = dir();
    if dir.join("node_modules/hardhat/package.json").exists() {
        return;
    }
    let out = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--silent"])
        .current_dir(&dir)
        .output()
        .expect("running npm");
    assert!(
        out.status.success(),
        "npm ci (hardhat) failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Hardhat {
    /// Starts a node on a free loopback port and waits until it answers; `None` (with a
    /// notice) where Node.js or npm is missing and `ZG_REQUIRE_SDK` is not set.
    pub async fn start() -> Option<Self> {
        if !have("node") || !have("npm") {
            assert!(
                std::env::var("ZG_REQUIRE_SDK").is_err(),
                "ZG_REQUIRE_SDK is set but Node.js or npm is missing"
            );
            eprintln!("skipped: the Hardhat test needs Node.js and npm");
            return None;
        }
        tokio::task::spawn_blocking(install).await.unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let logs = TempDir::new("hardhat");
        let log = std::fs::File::create(logs.0.join("node.log")).unwrap();
        let child = Command::new("node")
            .arg("node_modules/hardhat/internal/cli/cli.js")
            .args([
                "node",
                "--hostname",
                "127.0.0.1",
                "--port",
                &port.to_string(),
            ])
            .current_dir(dir())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("starting hardhat node");
        let url = format!("http://127.0.0.1:{port}");
        let provider = ProviderBuilder::default()
            .connect_http(url.parse().unwrap())
            .erased();
        let node = Self {
            child,
            url,
            provider,
            _logs: logs,
        };
        let deadline = Instant::now() + Duration::from_secs(90);
        while node.provider.get_chain_id().await.is_err() {
            assert!(
                Instant::now() < deadline,
                "hardhat node did not answer within 90 s"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Some(node)
    }

    /// Its JSON-RPC endpoint.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A read-only provider.
    pub fn provider(&self) -> &DynProvider {
        &self.provider
    }

    /// Deploys the portable DA modules (`DASigners`, `DAEntrance`, `DASampling`) from
    /// dev account 0 with the bundled chain's default parameters changed by `tweak`.
    pub async fn deploy_da_modules(
        &self,
        tweak: impl FnOnce(&mut zg_chain::DaParams),
    ) -> zg_da_client::ModuleAddresses {
        let mut da = zg_chain::Genesis::default().da;
        tweak(&mut da);
        let deployer = crate::provider_for(&self.url, crate::dev_signer(0));
        let m = zg_chain::contracts::deploy(&deployer, &da, Duration::from_secs(60))
            .await
            .expect("deploying the DA contracts on hardhat");
        zg_da_client::ModuleAddresses {
            signers: m.signers,
            entrance: m.entrance,
            sampling: m.sampling,
        }
    }

    /// Deploys the portable storage flow (`Flow.sol`, its own market) from dev account 0
    /// at `price_per_sector` wei per 256-byte sector.
    pub async fn deploy_flow(&self, price_per_sector: U256) -> alloy_primitives::Address {
        let deployer = crate::provider_for(&self.url, crate::dev_signer(0));
        zg_chain::contracts::deploy_flow(&deployer, price_per_sector, Duration::from_secs(60))
            .await
            .expect("deploying Flow on hardhat")
    }

    /// Mines `n` empty blocks.
    pub async fn mine(&self, n: u64) {
        let _: serde_json::Value = self
            .provider
            .raw_request("hardhat_mine".into(), (U256::from(n),))
            .await
            .expect("hardhat_mine");
    }

    /// Also mines a block every `interval` (`evm_setIntervalMining`), as a node run with
    /// `mining.interval` does; transactions still get a block each.
    pub async fn interval_mining(&self, interval: Duration) {
        let _: serde_json::Value = self
            .provider
            .raw_request(
                "evm_setIntervalMining".into(),
                (interval.as_millis() as u64,),
            )
            .await
            .expect("evm_setIntervalMining");
    }

    /// The newest block's number.
    pub async fn head(&self) -> u64 {
        self.provider
            .get_block_number()
            .await
            .expect("eth_blockNumber")
    }

    /// Takes a snapshot of the chain (`evm_snapshot`); its id.
    pub async fn snapshot(&self) -> U256 {
        self.provider
            .raw_request("evm_snapshot".into(), serde_json::json!([]))
            .await
            .expect("evm_snapshot")
    }

    /// Reverts the chain to `snapshot` (`evm_revert`): every block mined since is gone,
    /// with its transactions. New blocks then form another chain.
    pub async fn revert(&self, snapshot: U256) {
        let ok: bool = self
            .provider
            .raw_request("evm_revert".into(), (snapshot,))
            .await
            .expect("evm_revert");
        assert!(ok, "evm_revert({snapshot}) refused");
    }
}

impl Drop for Hardhat {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
