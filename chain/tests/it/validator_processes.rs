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

/// Resident memory of process `pid`.
fn rss_mib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap()
        / 1024
}

/// Connects to `addr` and writes `first` then up to `total` bytes of junk; returns
/// whether the node closed the connection (rather than reading on without bound).
async fn junk_connection(addr: std::net::SocketAddr, first: Vec<u8>, total: usize) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else {
        return true; // refused outright
    };
    let junk: Vec<u8> = (0..64 * 1024).map(|i| (i * 7 + 13) as u8).collect();
    let mut written = 0;
    if s.write_all(&first).await.is_err() {
        return true;
    }
    while written < total {
        match tokio::time::timeout(Duration::from_secs(20), s.write_all(&junk)).await {
            Ok(Ok(())) => written += junk.len(),
            Ok(Err(_)) => return true,
            // The node stopped reading: it must also close.
            Err(_) => break,
        }
    }
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(30), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

/// A validator process (so its memory is its own) whose consensus port gets junk:
/// unframed bytes, an HTTP request, frames announcing 4 GiB, 16 MiB offered on each of
/// 24 connections. Every connection is closed, nothing is buffered, blocks go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_and_oversized_frames_on_the_consensus_port_are_dropped() {
    let keys = TempDir::new("keys-junk");
    let address = format!("127.0.0.1:{}", free_port());
    let out = Command::new(env!("CARGO_BIN_EXE_zg-chain"))
        .args(["keygen", "--address", &address, "--out"])
        .arg(&keys.0)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = TempDir::new("validator-junk");
    let (child, rpc) = spawn(&keys.0, &dir.0, 0);
    let pid = child.id();
    let vals = vec![Validator {
        dir,
        child: Some(child),
        rpc: Some(rpc.clone()),
    }];
    wait_all_above(&vals, 2, Duration::from_secs(30)).await;
    let addr: std::net::SocketAddr = address.parse().unwrap();
    let head = || async { rpc.get_block_number().await.unwrap() };
    let rss_before = rss_mib(pid);
    let mut attackers = Vec::new();
    for i in 0..24u32 {
        let first = match i % 3 {
            // A frame announcing 4 GiB, then its "body".
            0 => vec![0xff; 8],
            // A plausible small length, then junk where a handshake belongs.
            1 => 64u32.to_be_bytes().to_vec(),
            // Nothing framed at all.
            _ => b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        };
        attackers.push(tokio::spawn(junk_connection(addr, first, 16 << 20)));
    }
    // Blocks keep finalizing while the port is flooded.
    let during = head().await;
    wait_all_above(&vals, during + 3, Duration::from_secs(30)).await;
    for a in attackers {
        assert!(a.await.unwrap(), "the node kept a junk connection open");
    }
    let growth = rss_mib(pid).saturating_sub(rss_before);
    // 24 × 16 MiB were offered; none of it may be buffered.
    assert!(
        growth < 128,
        "memory grew by {growth} MiB under junk connections"
    );
    let after = head().await;
    wait_all_above(&vals, after + 3, Duration::from_secs(30)).await;
}
