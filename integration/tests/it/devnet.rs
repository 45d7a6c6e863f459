use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use alloy::transports::http::reqwest;
use zg_integration::demo::batcher_body;

use crate::TempDir;

/// The devnet binary as a child process, its stdout lines on a channel.
struct Devnet {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Devnet {
    fn spawn(datadir: &std::path::Path, extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_zg-devnet"))
            .arg("--datadir")
            .arg(datadir)
            .args(["--chain.addr", "127.0.0.1:0"])
            .args(["--disperser.addr", "127.0.0.1:0"])
            .args(["--plugin.addr", "127.0.0.1:0"])
            .args(["--sampler.addr", "127.0.0.1:0"])
            .args(["--storage.addr", "127.0.0.1:0"])
            .args(["--compute.addr", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a line starting with `prefix`; panics with everything seen on timeout.
    fn wait_for(&mut self, prefix: &str, timeout: Duration) -> String {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if l.trim_start().starts_with(prefix) {
                        return l;
                    }
                }
                Err(_) => panic!(
                    "no line {prefix:?}; output so far:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    fn endpoint(&self, name: &str) -> String {
        self.seen
            .iter()
            .find_map(|l| {
                let mut parts = l.split_whitespace();
                (parts.next() == Some(name)).then(|| parts.next().unwrap().to_string())
            })
            .unwrap_or_else(|| panic!("no endpoint {name}:\n{}", self.seen.join("\n")))
    }

    /// SIGTERM, then waits for a clean exit.
    fn terminate(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        self.wait_for("zg-devnet: stopped", Duration::from_secs(60));
        let code = self.child.wait().unwrap();
        assert!(code.success(), "exit status {code}");
    }
}

impl Drop for Devnet {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `zg-devnet --demo` comes up, reports every endpoint and "ready", runs the OP flow,
/// shuts down cleanly on SIGTERM, and a restart on the same datadir still serves what
/// was put before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devnet_demo_restart_and_clean_shutdown() {
    let dir = TempDir::new("devnet");
    let mut devnet = Devnet::spawn(&dir.0, &["--demo", "--block-time", "0.5"]);
    devnet.wait_for("zg-devnet ready", Duration::from_secs(240));
    devnet.wait_for("demo ok", Duration::from_secs(240));
    let compute_line = devnet.wait_for("compute:", Duration::from_secs(5));
    assert!(
        compute_line.contains("echo: hello from the zg-da devnet"),
        "{compute_line}"
    );
    let plugin = devnet.endpoint("op-plugin");
    assert!(
        devnet
            .seen
            .iter()
            .any(|l| l.trim_start().starts_with("node.7.p2p"))
    );

    let http = reqwest::Client::new();
    let body = batcher_body(30_000);
    let put = http
        .post(format!("{plugin}/put"))
        .header("Content-Type", "application/octet-stream")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    let commitment = put.bytes().await.unwrap().to_vec();
    assert_eq!(&commitment[..2], &[0x01, 0x47]);
    let get = |url: String| {
        let http = http.clone();
        async move {
            let r = http.get(url).send().await.unwrap();
            (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
        }
    };
    let path = format!("/get/0x{}", hex::encode(&commitment));
    assert_eq!(get(format!("{plugin}{path}")).await, (200, body.clone()));
    devnet.terminate();

    // Same datadir: the chain, nodes and plugin resume; the earlier payload is served.
    let mut devnet = Devnet::spawn(&dir.0, &["--block-time", "0.5"]);
    devnet.wait_for("zg-devnet ready", Duration::from_secs(240));
    let plugin = devnet.endpoint("op-plugin");
    assert_eq!(get(format!("{plugin}{path}")).await, (200, body));
    // The compute broker came back with its service still acknowledged.
    let compute = devnet.endpoint("compute");
    let svc: serde_json::Value = zg_testkit::get_json(&http, format!("{compute}/v1/service")).await;
    assert_eq!(svc["teeSignerAcknowledged"], true, "{svc}");
    assert_eq!(svc["url"], compute);
    // And it certifies new data.
    let fresh = batcher_body(10_000);
    let put = http
        .post(format!("{plugin}/put"))
        .body(fresh.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    let c = put.bytes().await.unwrap();
    assert_eq!(
        get(format!("{plugin}/get/0x{}", hex::encode(&c))).await,
        (200, fresh)
    );
    devnet.terminate();
}

/// The devnet anchored through the Solidity module contracts instead of the precompiles:
/// deployed at start, then the whole OP flow (put, get, the light client's verdict) runs
/// through them unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devnet_demo_on_the_solidity_contracts() {
    let dir = TempDir::new("devnet-contracts");
    let mut devnet = Devnet::spawn(
        &dir.0,
        &[
            "--demo",
            "--contracts",
            "--block-time",
            "0.5",
            "--exit-after-demo",
        ],
    );
    devnet.wait_for("zg-devnet ready", Duration::from_secs(240));
    let signers = devnet.endpoint("module.signers");
    assert_ne!(signers, "0x0000000000000000000000000000000000001000");
    devnet.wait_for("demo ok", Duration::from_secs(240));
    let code = devnet.child.wait().unwrap();
    assert!(code.success(), "exit status {code}");
}

/// The devnet on a network of four validators with BFT finality (no dev methods: the
/// first epoch's quorum forms as blocks come): the whole demo (OP put and get, the light
/// client's verdict, storage, compute) runs on it unchanged, and the light client
/// verifies the chain from the validator set instead of trusting the RPC.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devnet_demo_on_four_validators() {
    let dir = TempDir::new("devnet-validators");
    let mut devnet = Devnet::spawn(
        &dir.0,
        &[
            "--demo",
            "--validators",
            "4",
            "--block-time",
            "0.25",
            "--epoch-blocks",
            "20",
            "--exit-after-demo",
        ],
    );
    devnet.wait_for("zg-devnet ready", Duration::from_secs(240));
    let v3 = devnet.endpoint("chain.validator.3");
    assert!(v3.starts_with("http://127.0.0.1:"), "{v3}");
    // The light client verified the chain (certificates, proofs) and caught no lie.
    devnet.wait_for("verified, not trusted", Duration::from_secs(240));
    devnet.wait_for("demo ok", Duration::from_secs(240));
    let code = devnet.child.wait().unwrap();
    assert!(code.success(), "exit status {code}");
}
