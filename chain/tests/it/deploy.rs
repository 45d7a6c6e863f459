//! `zg-chain deploy`: the module contracts deployed by the binary, as an operator would.

use std::process::Command;
use std::time::Duration;

use alloy::primitives::Address;
use alloy::providers::Provider;
use zg_primitives::abi::IDASigners;

use crate::da_modules::call;
use crate::helpers::*;

fn deploy(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_zg-chain"))
        .arg("deploy")
        .args(args)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_command_creates_working_modules() {
    let dir = TempDir::new("deploy");
    let chain = start(&dir, dev_genesis(), Duration::ZERO).await;
    let url = chain.rpc_url();

    // From a key file, with parameters of our own.
    let key = dir.0.join("deployer.key");
    let s = signer(3);
    std::fs::write(&key, format!("0x{}\n", alloy::hex::encode(s.to_bytes()))).unwrap();
    let out = deploy(&[
        "--rpc",
        &url,
        "--key",
        key.to_str().unwrap(),
        "--da.epoch-blocks",
        "7",
        "--da.quorum-size",
        "4",
        "--da.threshold",
        "3",
        "--storage.price-per-sector",
        "7",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let mut lines = stdout.lines();
    let addrs: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    let flags = lines.next().unwrap();
    // The storage flow, with its price, after the three modules.
    let flow: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    let flow: Address = flow["flow"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        lines.next(),
        Some(format!("--chain.flow-address {flow}").as_str())
    );
    assert_eq!(flow, s.address().create(3));
    assert_eq!(
        call(
            &provider(&url, signer(0)),
            flow,
            zg_primitives::abi::IMarket::pricePerSectorCall {}
        )
        .await,
        alloy::primitives::U256::from(7)
    );
    let p = provider(&url, signer(0));
    for name in ["signers", "entrance", "sampling"] {
        let a: Address = addrs[name].as_str().unwrap().parse().unwrap();
        assert!(
            !p.get_code_at(a).await.unwrap().is_empty(),
            "{name} has code"
        );
        assert!(
            flags.contains(&format!("--chain.{name}-address {a}")),
            "{flags}"
        );
        // Created by the key's account.
        assert!((0..3).any(|n| s.address().create(n) == a));
    }
    let signers: Address = addrs["signers"].as_str().unwrap().parse().unwrap();
    let params = call(&p, signers, IDASigners::paramsCall {}).await;
    assert_eq!(
        (
            params.epochBlocks,
            params.quorumSize,
            params.quorumThreshold
        ),
        (7, 4, 3)
    );

    // Bad input: clear errors, nothing deployed.
    let bad_key = dir.0.join("bad.key");
    std::fs::write(&bad_key, "not a key").unwrap();
    let out = deploy(&["--rpc", &url, "--key", bad_key.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("hex private key"));
    let out = deploy(&[
        "--rpc",
        &url,
        "--dev-account",
        "0",
        "--da.sample-period",
        "300",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("sample-period"));
    let out = deploy(&["--rpc", &url]);
    assert!(!out.status.success());
    // A threshold above the quorum size: the constructor refuses it.
    let out = deploy(&[
        "--rpc",
        &url,
        "--dev-account",
        "0",
        "--da.quorum-size",
        "4",
        "--da.threshold",
        "5",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("DASigners"));
    chain.shutdown().await.unwrap();
}
