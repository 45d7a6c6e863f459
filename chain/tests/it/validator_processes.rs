//! Four validator processes of the real binary, keys dealt by `zg-chain keygen`: SIGKILL
//! the validator that just proposed and blocks keep finalizing; SIGKILL a second one (two
//! of four: below the quorum) and finality stops; restart both and they catch up and
//! finality resumes. No two validators ever hold different blocks at one height.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alloy::primitives::Address;
use alloy::providers::{DynProvider, Provider};

use crate::helpers::{TempDir, provider, signer};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn coinbase(i: usize) -> Address {
    Address::repeat_byte(0xa0 + i as u8)
}

fn spawn(keys: &Path, dir: &Path, i: usize) -> (Child, DynProvider) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_zg-chain"))
        .arg("--datadir")
        .arg(dir)
        .arg("--genesis")
        .arg(keys.join("genesis.json"))
        .arg("--consensus.key")
        .arg(keys.join(format!("validator-{i}.key")))
        .args(["--http.addr", "127.0.0.1:0", "--block-time", "0.1"])
        .args([
            "--consensus.leader-timeout",
            "1",
            "--consensus.certification-timeout",
            "2",
        ])
        .args(["--coinbase", &coinbase(i).to_string()])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let url = crate::helpers::listening_url(&mut child);
    (child, provider(&url, signer(0)))
}

struct Validator {
    dir: TempDir,
    child: Option<Child>,
    rpc: Option<DynProvider>,
}

impl Drop for Validator {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Validator {
    fn kill9(&mut self) {
        let mut c = self.child.take().unwrap();
        c.kill().unwrap(); // SIGKILL
        c.wait().unwrap();
        self.rpc = None;
    }
}

async fn heads(vals: &[Validator]) -> Vec<Option<u64>> {
    let mut out = Vec::new();
    for v in vals {
        out.push(match &v.rpc {
            Some(p) => p.get_block_number().await.ok(),
            None => None,
        });
    }
    out
}

async fn wait_all_above(vals: &[Validator], min: u64, limit: Duration) {
    let started = Instant::now();
    loop {
        let h = heads(vals).await;
        if h.iter()
            .zip(vals)
            .all(|(h, v)| v.rpc.is_none() || h.is_some_and(|h| h >= min))
        {
            return;
        }
        assert!(started.elapsed() < limit, "heads {h:?} not all at {min}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every running validator holds the same block at every height it has.
async fn assert_agree(vals: &[Validator]) {
    let mut by_height: std::collections::BTreeMap<u64, alloy::primitives::B256> =
        Default::default();
    for v in vals {
        let Some(p) = &v.rpc else { continue };
        let head = p.get_block_number().await.unwrap();
        for n in 1..=head {
            let b = p
                .get_block_by_number(n.into())
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("block {n} missing below head {head}"));
            let h = b.header.hash;
            let seen = by_height.entry(n).or_insert(h);
            assert_eq!(*seen, h, "two validators hold different blocks at {n}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validators_survive_sigkill_stall_below_quorum_and_resume() {
    let keys = TempDir::new("keys");
    let addresses: Vec<String> = (0..4)
        .map(|_| format!("127.0.0.1:{}", free_port()))
        .collect();
    let out = Command::new(env!("CARGO_BIN_EXE_zg-chain"))
        .arg("keygen")
        .arg("--address")
        .arg(addresses.join(","))
        .arg("--out")
        .arg(&keys.0)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut vals: Vec<Validator> = (0..4)
        .map(|i| {
            let dir = TempDir::new("validator-process");
            let (child, rpc) = spawn(&keys.0, &dir.0, i);
            Validator {
                dir,
                child: Some(child),
                rpc: Some(rpc),
            }
        })
        .collect();
    wait_all_above(&vals, 5, Duration::from_secs(60)).await;

    // SIGKILL whoever proposed the newest block, right after it did.
    let p0 = vals[0].rpc.clone().unwrap();
    let newest = p0.get_block_number().await.unwrap();
    let block = p0
        .get_block_by_number(newest.into())
        .await
        .unwrap()
        .unwrap();
    let proposer = (0..4)
        .find(|&i| coinbase(i) == block.header.beneficiary)
        .expect("a validator proposed it");
    vals[proposer].kill9();
    let alive = heads(&vals).await.into_iter().flatten().max().unwrap();
    wait_all_above(&vals, alive + 5, Duration::from_secs(60)).await;

    // A second one down: two of four cannot finalize.
    let second = (0..4).find(|&i| i != proposer).unwrap();
    vals[second].kill9();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stalled = heads(&vals).await.into_iter().flatten().max().unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let later = heads(&vals).await.into_iter().flatten().max().unwrap();
    assert_eq!(later, stalled, "finalized without a quorum");
    assert_agree(&vals).await;

    // Both back on their datadirs: they catch up and finality resumes.
    for i in [proposer, second] {
        let (child, rpc) = spawn(&keys.0, &vals[i].dir.0, i);
        vals[i].child = Some(child);
        vals[i].rpc = Some(rpc);
    }
    wait_all_above(&vals, stalled + 5, Duration::from_secs(90)).await;
    assert_agree(&vals).await;
}
