//! The devnet with every component in its own OS process (`zg-devnet component …`), for
//! fault tests: a process can be killed with SIGKILL and restarted on the same state and
//! ports, exactly as an operator's would. A Byzantine DA node is this test binary run
//! again ([`byzantine_node_main`]): the misbehaviour wraps the node's request handler
//! (`zg_testkit::byzantine`), which no release binary contains.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use zg_integration::{Component, DevnetConfig, DevnetError, Plan, run_component_with};
use zg_testkit::byzantine::Faults;

/// The environment variable that makes [`byzantine_node_main`] run a node.
const BYZANTINE_ENV: &str = "ZG_IT_BYZANTINE_NODE";

/// How long a component may take to print its ready line.
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// One component process.
#[derive(Debug)]
pub struct Proc {
    /// What it is (for messages).
    pub name: String,
    /// The JSON of its ready line (its endpoints).
    pub ready: serde_json::Value,
    child: Child,
    log: PathBuf,
}

impl Proc {
    fn spawn_env(
        exe: &Path,
        args: &[String],
        env: &[(&str, String)],
        name: &str,
    ) -> Result<Self, DevnetError> {
        let fail = |reason: String| DevnetError::Start {
            component: name.to_string(),
            reason,
        };
        let show_logs = std::env::var_os("ZG_IT_LOGS").is_some();
        // Without ZG_IT_LOGS, stderr goes to a file whose tail explains a failed start.
        let log_path = std::env::temp_dir().join(format!(
            "zg-it-{}-{}.log",
            std::process::id(),
            name.replace(' ', "-")
        ));
        let stderr = if show_logs {
            Stdio::inherit()
        } else {
            std::fs::File::create(&log_path)
                .map(Stdio::from)
                .unwrap_or_else(|_| Stdio::null())
        };
        let fail = |reason: String| {
            let tail = std::fs::read_to_string(&log_path)
                .map(|s| {
                    let lines: Vec<&str> = s.lines().collect();
                    lines[lines.len().saturating_sub(8)..].join("\n")
                })
                .unwrap_or_default();
            fail(if tail.is_empty() {
                reason
            } else {
                format!("{reason}; its stderr ends:\n{tail}")
            })
        };
        let mut child = Command::new(exe)
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|e| fail(format!("spawning {}: {e}", exe.display())))?;
        let out = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        let label = name.to_string();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Some(json) = line.strip_prefix("component ready ") {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(json.to_string());
                    }
                } else if show_logs {
                    eprintln!("[{label}] {line}");
                }
            }
        });
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(json) => {
                    let ready = serde_json::from_str(&json)
                        .map_err(|e| fail(format!("bad ready line {json:?}: {e}")))?;
                    return Ok(Self {
                        name: name.to_string(),
                        ready,
                        child,
                        log: log_path.clone(),
                    });
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Ok(Some(status)) = child.try_wait() {
                        return Err(fail(format!("exited before ready: {status}")));
                    }
                    if Instant::now() > deadline {
                        let _ = child.kill();
                        return Err(fail("not ready within 120 s".into()));
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = child.wait().ok();
                    return Err(fail(format!("exited before ready: {status:?}")));
                }
            }
        }
    }

    /// A string field of the ready line.
    pub fn endpoint(&self, key: &str) -> String {
        self.ready[key].as_str().unwrap_or_default().to_string()
    }

    /// SIGKILL: no chance to flush or say goodbye.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for the exit; `true` when it exited cleanly within `timeout`.
    pub fn terminate(mut self, timeout: Duration) -> bool {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        if !sent {
            return false;
        }
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(s)) => return s.success(),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return false;
                }
            }
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// A loopback port for a component that must come back on it after a restart.
///
/// Ports come from below the kernel's ephemeral range (where port-0 binds and outgoing
/// connections of other tests take theirs, so a port reserved here cannot be grabbed
/// between its choice and the component's bind), from a per-process sequence with a
/// random start, and are checked free for TCP and UDP.
fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32768);
    let (base, span) = if low > 12_000 {
        (10_000u32, low - 10_000)
    } else {
        (61_000u32, 4_000u32)
    };
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
        ^ std::process::id().wrapping_mul(2_654_435_761);
    let _ = NEXT.compare_exchange(0, seed % span + 1, Ordering::SeqCst, Ordering::SeqCst);
    for _ in 0..span {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let port = (base + n % span) as u16;
        let free = std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
            && std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok();
        if free {
            return port;
        }
    }
    panic!("no free loopback port below the ephemeral range")
}

/// Chain, DA nodes, disperser and op-plugin, one process each, on fixed loopback ports
/// (so restarts come back where the others look for them).
#[derive(Debug)]
pub struct ProcessStack {
    /// The shared plan (accounts, keys, settings).
    pub plan: Plan,
    /// Chain JSON-RPC URL.
    pub rpc: String,
    /// The chain process (validator 0 with validators).
    pub chain: Option<Proc>,
    /// Validators 1 … n − 1.
    pub validators: Vec<Option<Proc>>,
    /// The node processes.
    pub nodes: Vec<Option<Proc>>,
    /// The disperser process.
    pub disperser: Option<Proc>,
    /// The op-plugin process.
    pub plugin: Option<Proc>,
    /// The storage node process ([`ProcessStack::start_storage`]).
    pub storage: Option<Proc>,
    /// The compute broker process ([`ProcessStack::start_compute`]).
    pub compute: Option<Proc>,
    /// The archiver process ([`ProcessStack::start_archiver`]).
    pub archiver: Option<Proc>,
    exe: PathBuf,
    /// Environment every process of the stack gets.
    env: Vec<(&'static str, String)>,
    archiver_port: u16,
    storage_port: u16,
    compute_port: u16,
    chain_port: u16,
    node_ports: Vec<u16>,
    disperser_port: u16,
    plugin_port: u16,
    byzantine: Vec<usize>,
}

impl ProcessStack {
    /// Starts everything from `exe` (the `zg-devnet` binary); nodes in `byzantine`
    /// corrupt cells and sign garbage.
    pub async fn start(
        exe: impl Into<PathBuf>,
        config: DevnetConfig,
        byzantine: &[usize],
    ) -> Result<Self, DevnetError> {
        Self::start_with_env(exe, config, byzantine, Vec::new()).await
    }

    /// [`Self::start`] with `env` set for every process (now and on restarts).
    pub async fn start_with_env(
        exe: impl Into<PathBuf>,
        config: DevnetConfig,
        byzantine: &[usize],
        env: Vec<(&'static str, String)>,
    ) -> Result<Self, DevnetError> {
        let plan = Plan::new(config)?;
        let chain_port = free_port();
        let mut s = Self {
            rpc: format!("http://127.0.0.1:{chain_port}"),
            nodes: (0..plan.config.nodes).map(|_| None).collect(),
            node_ports: (0..plan.config.nodes).map(|_| free_port()).collect(),
            disperser_port: free_port(),
            plugin_port: free_port(),
            chain: None,
            validators: (1..plan.config.validators).map(|_| None).collect(),
            disperser: None,
            plugin: None,
            storage: None,
            compute: None,
            archiver: None,
            archiver_port: free_port(),
            storage_port: free_port(),
            compute_port: free_port(),
            exe: exe.into(),
            env,
            chain_port,
            byzantine: byzantine.to_vec(),
            plan,
        };
        s.start_chain()?;
        for i in 1..s.plan.config.validators {
            s.start_validator(i)?;
        }
        s.plan.deploy_modules(&s.rpc).await?;
        let launches: Vec<(usize, Launch)> =
            (0..s.nodes.len()).map(|i| (i, s.node_launch(i))).collect();
        // Nodes start in parallel (each loads the KZG setup and registers).
        let started: Vec<_> = launches
            .into_iter()
            .map(|(i, l)| std::thread::spawn(move || l.spawn(&format!("node {i}"))))
            .collect();
        for (i, h) in started.into_iter().enumerate() {
            s.nodes[i] = Some(h.join().expect("spawn thread")?);
        }
        s.plan.prepare_chain(&s.rpc).await?;
        s.start_disperser()?;
        s.start_plugin()?;
        Ok(s)
    }

    fn common_args(&self, kind: &str) -> Vec<String> {
        let c = &self.plan.config;
        let mut args = vec![
            "--datadir".into(),
            c.datadir.display().to_string(),
            "--nodes".into(),
            c.nodes.to_string(),
            "--threshold".into(),
            self.plan.threshold.to_string(),
            "--block-time".into(),
            c.block_time.as_secs_f64().to_string(),
            "--epoch-blocks".into(),
            c.epoch_blocks.to_string(),
        ];
        if c.contracts {
            args.push("--contracts".into());
        }
        if c.validators > 0 {
            args.extend(["--validators".into(), c.validators.to_string()]);
        }
        args.extend([
            "component".into(),
            kind.into(),
            "--rpc".into(),
            self.rpc.clone(),
        ]);
        if let Some(r) = c.da_retention {
            args.extend(["--da-retention".into(), r.as_secs().to_string()]);
        }
        args
    }

    /// How node `i` is started: `zg-devnet component node …`, or for a Byzantine node
    /// this test binary running [`byzantine_node_main`] with the same settings.
    fn node_launch(&self, i: usize) -> Launch {
        if self.byzantine.contains(&i) {
            let c = &self.plan.config;
            let spec = serde_json::json!({
                "datadir": c.datadir,
                "nodes": c.nodes,
                "threshold": self.plan.threshold,
                "block_time": c.block_time.as_secs_f64(),
                "epoch_blocks": c.epoch_blocks,
                "contracts": c.contracts,
                "rpc": self.rpc,
                "index": i,
                "p2p_port": self.node_ports[i],
            });
            return Launch {
                exe: std::env::current_exe().expect("the test binary's path"),
                args: [
                    "processes::byzantine_node_main",
                    "--exact",
                    "--ignored",
                    "--nocapture",
                ]
                .map(String::from)
                .to_vec(),
                env: [(BYZANTINE_ENV, spec.to_string())]
                    .into_iter()
                    .chain(self.env.iter().cloned())
                    .collect(),
            };
        }
        let mut args = self.common_args("node");
        args.extend([
            "--index".into(),
            i.to_string(),
            "--p2p-port".into(),
            self.node_ports[i].to_string(),
            "--addr".into(),
            "127.0.0.1:0".into(),
        ]);
        Launch {
            exe: self.exe.clone(),
            args,
            env: self.env.clone(),
        }
    }

    /// Starts (or restarts) the chain on its port.
    pub fn start_chain(&mut self) -> Result<(), DevnetError> {
        let mut a = self.common_args("chain");
        a.extend(["--addr".into(), format!("127.0.0.1:{}", self.chain_port)]);
        self.chain = Some(Proc::spawn_env(&self.exe, &a, &self.env, "chain")?);
        Ok(())
    }

    /// Starts (or restarts) validator `i` (1 … n − 1; 0 is [`Self::start_chain`]).
    pub fn start_validator(&mut self, i: usize) -> Result<(), DevnetError> {
        let mut a = self.common_args("chain");
        a.extend([
            "--index".into(),
            i.to_string(),
            "--addr".into(),
            "127.0.0.1:0".into(),
        ]);
        self.validators[i - 1] = Some(Proc::spawn_env(
            &self.exe,
            &a,
            &self.env,
            &format!("validator {i}"),
        )?);
        Ok(())
    }

    /// Starts (or restarts) node `i`.
    pub fn start_node(&mut self, i: usize) -> Result<(), DevnetError> {
        self.nodes[i] = Some(self.node_launch(i).spawn(&format!("node {i}"))?);
        Ok(())
    }

    /// Starts (or restarts) the disperser on its port.
    pub fn start_disperser(&mut self) -> Result<(), DevnetError> {
        let mut a = self.common_args("disperser");
        a.extend([
            "--addr".into(),
            format!("127.0.0.1:{}", self.disperser_port),
        ]);
        self.disperser = Some(Proc::spawn_env(&self.exe, &a, &self.env, "disperser")?);
        Ok(())
    }

    /// Starts (or restarts) the op-plugin on its port.
    pub fn start_plugin(&mut self) -> Result<(), DevnetError> {
        let p = self.spawn_plugin(self.plan.config.datadir.join("op-plugin"), self.plugin_port)?;
        self.plugin = Some(p);
        Ok(())
    }

    /// Starts (or restarts) the storage node on its port (not part of [`Self::start`]).
    pub fn start_storage(&mut self) -> Result<(), DevnetError> {
        let mut a = self.common_args("storage");
        a.extend(["--addr".into(), format!("127.0.0.1:{}", self.storage_port)]);
        self.storage = Some(Proc::spawn_env(&self.exe, &a, &self.env, "storage")?);
        Ok(())
    }

    /// Starts (or restarts) the compute broker, with the echo upstream in its process, on
    /// its port (not part of [`Self::start`]).
    pub fn start_compute(&mut self) -> Result<(), DevnetError> {
        let mut a = self.common_args("compute");
        a.extend(["--addr".into(), format!("127.0.0.1:{}", self.compute_port)]);
        self.compute = Some(Proc::spawn_env(&self.exe, &a, &self.env, "compute")?);
        Ok(())
    }

    /// Starts (or restarts) the archiver on its port, uploading to the storage node (not
    /// part of [`Self::start`]).
    pub fn start_archiver(&mut self) -> Result<(), DevnetError> {
        let mut a = self.common_args("archiver");
        a.extend([
            "--addr".into(),
            format!("127.0.0.1:{}", self.archiver_port),
            "--storage-url".into(),
            self.storage_url(),
        ]);
        self.archiver = Some(Proc::spawn_env(&self.exe, &a, &self.env, "archiver")?);
        Ok(())
    }

    /// The archiver's base URL.
    pub fn archiver_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.archiver_port)
    }

    /// The storage node's JSON-RPC URL.
    pub fn storage_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.storage_port)
    }

    /// The compute broker's base URL.
    pub fn compute_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.compute_port)
    }

    /// Another op-plugin process with its own (empty) state: its gets come from the DA
    /// nodes, not from a cache.
    pub fn spawn_plugin(&self, datadir: PathBuf, port: u16) -> Result<Proc, DevnetError> {
        self.spawn_plugin_with(datadir, port, &[])
    }

    /// [`Self::spawn_plugin`] reading from `archives` when the DA nodes cannot serve.
    pub fn spawn_plugin_with(
        &self,
        datadir: PathBuf,
        port: u16,
        archives: &[String],
    ) -> Result<Proc, DevnetError> {
        let mut a = self.common_args("plugin");
        if !archives.is_empty() {
            a.extend(["--archive-url".into(), archives.join(",")]);
        }
        a.extend([
            "--addr".into(),
            format!("127.0.0.1:{port}"),
            "--plugin-datadir".into(),
            datadir.display().to_string(),
            "--disperser-url".into(),
            self.disperser_url(),
        ]);
        Proc::spawn_env(&self.exe, &a, &self.env, "op-plugin")
    }

    /// The disperser's base URL.
    pub fn disperser_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.disperser_port)
    }

    /// The op-plugin's base URL.
    pub fn plugin_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.plugin_port)
    }

    /// SIGKILLs node `i`.
    pub fn kill_node(&mut self, i: usize) {
        if let Some(p) = self.nodes[i].take() {
            p.kill();
        }
    }

    /// Stops everything with SIGTERM, in order (compute, archiver, storage, op-plugin, disperser,
    /// nodes, chain); `true` when every process exited cleanly.
    pub fn shutdown(mut self) -> bool {
        let t = Duration::from_secs(30);
        let mut clean = true;
        for p in [
            self.compute.take(),
            self.archiver.take(),
            self.storage.take(),
        ]
        .into_iter()
        .flatten()
        {
            clean &= p.terminate(t);
        }
        if let Some(p) = self.plugin.take() {
            clean &= p.terminate(t);
        }
        if let Some(p) = self.disperser.take() {
            clean &= p.terminate(t);
        }
        for n in self.nodes.iter_mut() {
            if let Some(p) = n.take() {
                clean &= p.terminate(t);
            }
        }
        for v in self.validators.iter_mut() {
            if let Some(p) = v.take() {
                clean &= p.terminate(t);
            }
        }
        if let Some(p) = self.chain.take() {
            clean &= p.terminate(t);
        }
        clean
    }
}

/// A process to start: executable, arguments, extra environment.
struct Launch {
    exe: PathBuf,
    args: Vec<String>,
    env: Vec<(&'static str, String)>,
}

impl Launch {
    fn spawn(self, name: &str) -> Result<Proc, DevnetError> {
        Proc::spawn_env(&self.exe, &self.args, &self.env, name)
    }
}

/// Not a test: the entry point of the Byzantine DA node process that
/// [`ProcessStack`] starts by running this test binary again with `ZG_IT_BYZANTINE_NODE`
/// set. The node serves corrupted cells and signs garbage, through the
/// `zg_testkit::byzantine` wrapper around its request handler. Without the variable
/// (the suite's own `--ignored` run) it returns at once.
#[test]
#[ignore = "the Byzantine node process of the fault tests, started by ProcessStack"]
fn byzantine_node_main() {
    let Ok(spec) = std::env::var(BYZANTINE_ENV) else {
        return;
    };
    let spec: serde_json::Value = serde_json::from_str(&spec).expect("node spec");
    let mut config = DevnetConfig::new(spec["datadir"].as_str().expect("datadir").into());
    config.nodes = spec["nodes"].as_u64().expect("nodes") as usize;
    config.threshold = spec["threshold"].as_u64().map(|t| t as usize);
    config.block_time = Duration::from_secs_f64(spec["block_time"].as_f64().expect("block_time"));
    config.epoch_blocks = spec["epoch_blocks"].as_u64().expect("epoch_blocks");
    config.contracts = spec["contracts"].as_bool().unwrap_or(false);
    let index = spec["index"].as_u64().expect("index") as usize;
    let p2p_port = spec["p2p_port"].as_u64().expect("p2p_port") as u16;
    let rpc = spec["rpc"].as_str().expect("rpc").to_string();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async move {
        let plan = Plan::new(config).expect("plan");
        let faults = Faults {
            corrupt_cells: true,
            garbage_signature: true,
            forget_columns: false,
        };
        let layer = faults.layer(&plan.node_keys(index));
        run_component_with(
            plan,
            Component::Node { index, p2p_port },
            Some(rpc),
            "127.0.0.1:0".parse().expect("address"),
            layer,
        )
        .await
        .expect("the Byzantine node runs until SIGTERM");
    });
}
