//! 0G's own TypeScript SDK (`@0glabs/0g-ts-sdk` 0.3.3, the npm `latest`) uploads to our
//! chain and storage node and downloads back, and writes and reads a KV key, configured
//! only with our endpoints.
//! Needs Node.js and the npm registry: without Node.js the test says so and passes,
//! unless `ZG_REQUIRE_SDK=1` (CI sets it where Node.js is installed).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use zg_primitives::abi::FLOW_ADDRESS;
use zg_storage::Downloader;
use zg_testkit::storage::{Stack, dev_signer};

use crate::root_of;

fn sdk_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk")
}

fn have(cmd: &str) -> bool {
    Command::new(cmd)
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn install() {
    let dir = sdk_dir();
    if dir
        .join("node_modules/@0glabs/0g-ts-sdk/package.json")
        .exists()
    {
        return;
    }
    let out = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--silent"])
        .current_dir(&dir)
        .output()
        .expect("running npm");
    assert!(
        out.status.success(),
        "npm ci failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn file(size: usize) -> Vec<u8> {
    // The same bytes as roundtrip.mjs writes.
    (0..size).map(|i| ((i * 7 + 3) % 256) as u8).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_0g_typescript_sdk_round_trips_a_file() {
    if !have("node") || !have("npm") {
        assert!(
            std::env::var("ZG_REQUIRE_SDK").is_err(),
            "ZG_REQUIRE_SDK is set but Node.js or npm is missing"
        );
        eprintln!("skipped: the 0G SDK round trip needs Node.js and npm");
        return;
    }
    tokio::task::spawn_blocking(install).await.unwrap();
    let stream = alloy_primitives::B256::repeat_byte(0x5d);
    let stack = Stack::kv(vec![stream]).await;
    let key = format!(
        "0x{}",
        alloy_primitives::hex::encode(dev_signer(3).to_bytes())
    );
    for size in [1usize, 3 * 262_144 + 1000] {
        let env = [
            ("ZG_CHAIN_RPC", stack.chain.rpc_url()),
            ("ZG_STORAGE_NODE", stack.node_url(0)),
            ("ZG_FLOW", FLOW_ADDRESS.to_string()),
            ("ZG_KEY", key.clone()),
            ("ZG_SIZE", size.to_string()),
            ("ZG_KV_STREAM", stream.to_string()),
        ];
        let run = tokio::task::spawn_blocking(move || {
            Command::new("node")
                .arg("roundtrip.mjs")
                .current_dir(sdk_dir())
                .envs(env)
                .output()
                .expect("running node")
        });
        let out = tokio::time::timeout(Duration::from_secs(300), run)
            .await
            .expect("the SDK round trip took over 300 s")
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "SDK run failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line = stdout
            .lines()
            .find_map(|l| l.strip_prefix("ZG_RESULT "))
            .unwrap_or_else(|| panic!("no result line in:\n{stdout}"));
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["same"], true, "{v}");
        assert_eq!(v["size"], size);
        assert_eq!(
            v["kv"], true,
            "the SDK's KV write read back with its KvClient"
        );
        let data = file(size);
        let root = root_of(&data);
        assert_eq!(v["root"], root.to_string(), "the SDK's root is ours");
        // our downloader agrees, every segment proven
        let back = Downloader::new(vec![stack.client(0)])
            .download(root)
            .await
            .unwrap();
        assert!(back == data);
    }
}
