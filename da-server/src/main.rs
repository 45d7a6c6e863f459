//! `zg-da-server`: the DA node, the disperser, key generation and key conversion.

use std::path::PathBuf;
use std::time::Duration;

use alloy_primitives::U256;
use clap::{Args, Parser, Subcommand};
use eyre::WrapErr;
use tokio_util::sync::CancellationToken;
use zg_da_client::ChainArgs;
use zg_da_server::{AccessConfig, ClientToken, DisperserConfig, NetConfig, NodeConfig, NodeKeys};
use zg_node_kit::{HttpArgs, LogArgs, until_shutdown};

/// DA node and disperser of the zg-da stack.
#[derive(Debug, Parser)]
#[command(name = "zg-da-server", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    log: LogArgs,
    #[command(flatten)]
    http: HttpArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a DA node: verify, store, sign and serve columns.
    Node(NodeArgs),
    /// Run a disperser: the HTTP API that certifies payloads.
    Disperser(DisperserArgs),
    /// A signer's stake, earned rewards and lottery wins; claims rewards and manages
    /// stake with the flags below.
    Rewards(RewardsArgs),
    /// Write new keys (BLS, Ethereum and libp2p): an encrypted key directory (EIP-2335
    /// and Web3 keystores) under the password, or with `--plaintext` one key file.
    Keygen {
        /// Where to write them (refuses to overwrite).
        #[arg(long = "out", env = "ZG_DA_KEYGEN_OUT")]
        out: PathBuf,
        /// Write the older plaintext key file instead (development only).
        #[arg(long = "plaintext")]
        plaintext: bool,
        #[command(flatten)]
        password: KeyPassword,
    },
    /// Convert keys between the plaintext key file and an encrypted key directory.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Encrypt a plaintext key file into a new key directory.
    Import {
        /// The plaintext key file.
        #[arg(long = "from")]
        from: PathBuf,
        /// The key directory to create.
        #[arg(long = "out")]
        out: PathBuf,
        #[command(flatten)]
        password: KeyPassword,
    },
    /// Decrypt a key directory into a new plaintext key file (mode 0600).
    Export {
        /// The key directory.
        #[arg(long = "from")]
        from: PathBuf,
        /// The plaintext key file to create.
        #[arg(long = "out")]
        out: PathBuf,
        #[command(flatten)]
        password: KeyPassword,
    },
}

/// The password of an encrypted key directory.
#[derive(Debug, Args)]
struct KeyPassword {
    /// File whose first line is the password (mode 0600); else `ZG_KEY_PASSWORD`.
    #[arg(long = "key.password-file", env = "ZG_KEY_PASSWORD_FILE")]
    file: Option<PathBuf>,
}

impl KeyPassword {
    /// The password, if one was given (file, then `ZG_KEY_PASSWORD`).
    fn get(&self) -> eyre::Result<Option<String>> {
        if self.file.is_none() && std::env::var_os(PASSWORD_ENV).is_none() {
            return Ok(None);
        }
        Ok(Some(zg_node_kit::read_password(
            self.file.as_deref(),
            PASSWORD_ENV,
        )?))
    }

    fn require(&self) -> eyre::Result<String> {
        self.get()?.ok_or_else(|| {
            eyre::eyre!("a password is needed: --key.password-file FILE or {PASSWORD_ENV}")
        })
    }
}

/// The environment variable holding the key password.
const PASSWORD_ENV: &str = "ZG_KEY_PASSWORD";

/// Loads the keys at `path` (an encrypted directory or a plaintext file).
fn load_keys(path: &std::path::Path, password: &KeyPassword) -> eyre::Result<NodeKeys> {
    let keys = NodeKeys::load(path, password.get()?.as_deref())?;
    if !path.is_dir() {
        tracing::warn!(
            path = %path.display(),
            "keys are in a plaintext file: encrypt them with `zg-da-server keys import`"
        );
    }
    Ok(keys)
}

#[derive(Debug, Args)]
struct RewardsArgs {
    /// Keys made by `keygen`: an encrypted key directory or a plaintext key file (its
    /// Ethereum account is the signer).
    #[arg(long = "key", env = "ZG_DA_KEY")]
    key: PathBuf,
    #[command(flatten)]
    password: KeyPassword,
    #[command(flatten)]
    chain: ChainArgs,
    /// Pay the earned rewards out to the signer's account.
    #[arg(long = "claim")]
    claim: bool,
    /// Bond this many more wei.
    #[arg(long = "add-stake", value_name = "WEI")]
    add_stake: Option<U256>,
    /// Start unbonding this many wei (released after the unbonding period).
    #[arg(long = "unbond", value_name = "WEI")]
    unbond: Option<U256>,
    /// Pay out released unbonding stake.
    #[arg(long = "withdraw-stake")]
    withdraw_stake: bool,
    /// Print JSON instead of lines.
    #[arg(long = "json")]
    json: bool,
}

#[derive(Debug, Args)]
struct P2pArgs {
    /// libp2p listen addresses (repeat or comma-separate).
    #[arg(
        long = "p2p.listen",
        env = "ZG_DA_P2P_LISTEN",
        value_delimiter = ',',
        default_value = "/ip4/0.0.0.0/tcp/30400,/ip4/0.0.0.0/udp/30400/quic-v1"
    )]
    listen: Vec<String>,
    /// Kademlia bootstrap peers (`…/p2p/<peer id>`).
    #[arg(long = "p2p.bootstrap", env = "ZG_DA_P2P_BOOTSTRAP", value_delimiter = ',')]
    bootstrap: Vec<String>,
    /// Largest libp2p message in bytes.
    #[arg(long = "p2p.max-message", env = "ZG_DA_P2P_MAX_MESSAGE", default_value_t = 64 * 1024 * 1024)]
    max_message: u64,
    /// Per-request timeout in seconds.
    #[arg(long = "p2p.request-timeout", env = "ZG_DA_P2P_REQUEST_TIMEOUT", default_value_t = 30)]
    request_timeout: u64,
    /// Bytes of inbound requests being read at once, over every peer (what
    /// unauthenticated peers can make the node buffer).
    #[arg(long = "p2p.max-inbound", env = "ZG_DA_P2P_MAX_INBOUND", default_value_t = zg_da_client::net::DEFAULT_MAX_INBOUND_BYTES)]
    max_inbound: u64,
}

impl P2pArgs {
    fn config(&self, serve: bool) -> eyre::Result<NetConfig> {
        let parse = |v: &Vec<String>| -> eyre::Result<Vec<libp2p::Multiaddr>> {
            v.iter()
                .filter(|s| !s.is_empty())
                .map(|s| s.parse().wrap_err_with(|| format!("multiaddr {s}")))
                .collect()
        };
        Ok(NetConfig {
            listen: if serve {
                parse(&self.listen)?
            } else {
                Vec::new()
            },
            bootstrap: parse(&self.bootstrap)?,
            max_request_bytes: self.max_message,
            max_response_bytes: self.max_message,
            request_timeout: Duration::from_secs(self.request_timeout),
            max_inbound_bytes: self.max_inbound,
            ..NetConfig::default()
        })
    }
}

#[derive(Debug, Args)]
struct NodeArgs {
    /// Data directory (created if missing).
    #[arg(long = "datadir", env = "ZG_DA_DATADIR", default_value = "./data/da-node")]
    datadir: PathBuf,
    /// Keys made by `keygen`: an encrypted key directory or a plaintext key file.
    #[arg(long = "key", env = "ZG_DA_KEY")]
    key: PathBuf,
    #[command(flatten)]
    password: KeyPassword,
    #[command(flatten)]
    chain: ChainArgs,
    #[command(flatten)]
    p2p: P2pArgs,
    /// The multiaddr published on chain (default: the first listen address).
    #[arg(long = "p2p.external", env = "ZG_DA_P2P_EXTERNAL")]
    external: Option<String>,
    /// `/health` and `/metrics` listen address.
    #[arg(long = "http.addr", env = "ZG_DA_HTTP_ADDR", default_value = "127.0.0.1:9400")]
    http_addr: String,
    /// Store requests verified (KZG) at once; more are refused as over capacity.
    #[arg(long = "store.max-concurrent", env = "ZG_DA_STORE_MAX_CONCURRENT", default_value_t = 16)]
    max_concurrent: usize,
    /// Largest payload in bytes the node stores and signs for.
    #[arg(long = "store.max-payload", env = "ZG_DA_STORE_MAX_PAYLOAD", default_value_t = zg_primitives::DEFAULT_MAX_PAYLOAD)]
    max_payload: usize,
    /// Epochs back from the current one the node still signs for.
    #[arg(long = "store.signing-window", env = "ZG_DA_STORE_SIGNING_WINDOW", default_value_t = 2)]
    signing_window: u64,
    /// Retention in seconds.
    #[arg(long = "store.retention", env = "ZG_DA_STORE_RETENTION", default_value_t = 14 * 24 * 3600)]
    retention: u64,
    /// Seconds between full registration checks (signer, socket); the next epoch is
    /// registered for as soon as it opens.
    #[arg(
        long = "registration.interval",
        env = "ZG_DA_REGISTRATION_INTERVAL",
        default_value_t = 5
    )]
    registration_interval: u64,
    /// Milliseconds between looks for a new head (registration follows new epochs).
    #[arg(
        long = "registration.head-poll-ms",
        env = "ZG_DA_REGISTRATION_HEAD_POLL_MS",
        default_value_t = zg_da_server::node::DEFAULT_HEAD_POLL.as_millis() as u64
    )]
    head_poll_ms: u64,
    /// Stake in wei bonded when registering as a signer (default: the signers module's
    /// `minStake`). More stake, more ballots: a larger share of quorum seats.
    #[arg(long = "registration.stake", env = "ZG_DA_REGISTRATION_STAKE")]
    stake: Option<alloy::primitives::U256>,
    /// Sample the other quorums' anchors (results at /sampling/v1/… on the HTTP port).
    #[arg(
        long = "sampling.enabled",
        env = "ZG_DA_SAMPLING_ENABLED",
        default_value_t = true,
        action = clap::ArgAction::Set
    )]
    sampling: bool,
    /// Columns sampled per payload.
    #[arg(long = "sampling.samples", env = "ZG_DA_SAMPLING_SAMPLES", default_value_t = 16)]
    samples: usize,
    /// Take part in the chain's sampling lottery (submit winning stored cells).
    #[arg(
        long = "lottery.enabled",
        env = "ZG_DA_LOTTERY_ENABLED",
        default_value_t = true,
        action = clap::ArgAction::Set
    )]
    lottery: bool,
    /// Most lottery wins submitted per round.
    #[arg(
        long = "lottery.max-per-round",
        env = "ZG_DA_LOTTERY_MAX_PER_ROUND",
        default_value_t = 4
    )]
    lottery_max: usize,
}

#[derive(Debug, Args)]
struct DisperserArgs {
    /// Data directory (created if missing).
    #[arg(long = "datadir", env = "ZG_DA_DATADIR", default_value = "./data/disperser")]
    datadir: PathBuf,
    /// Keys made by `keygen`, a directory or a plaintext file (its Ethereum key pays
    /// deposits and anchoring).
    #[arg(long = "key", env = "ZG_DA_KEY")]
    key: PathBuf,
    #[command(flatten)]
    password: KeyPassword,
    #[command(flatten)]
    chain: ChainArgs,
    #[command(flatten)]
    p2p: P2pArgs,
    /// API listen address (loopback unless tokens are configured).
    #[arg(long = "http.addr", env = "ZG_DA_HTTP_ADDR", default_value = "127.0.0.1:51001")]
    http_addr: String,
    /// Largest payload in bytes.
    #[arg(long = "max-payload", env = "ZG_DA_MAX_PAYLOAD", default_value_t = zg_primitives::DEFAULT_MAX_PAYLOAD)]
    max_payload: usize,
    /// Requests in the pipeline at once.
    #[arg(long = "max-in-flight", env = "ZG_DA_MAX_IN_FLIGHT", default_value_t = 8)]
    max_in_flight: usize,
    /// Allowed API clients as `name:token` (repeat or comma-separate).
    #[arg(long = "auth.token", env = "ZG_DA_AUTH_TOKENS", value_delimiter = ',')]
    tokens: Vec<ClientToken>,
    /// Sustained requests per second per client.
    #[arg(long = "auth.rate", env = "ZG_DA_AUTH_RATE", default_value_t = 50.0)]
    rate: f64,
    /// Request burst per client.
    #[arg(long = "auth.burst", env = "ZG_DA_AUTH_BURST", default_value_t = 100)]
    burst: u32,
    /// Payload bytes per client per hour.
    #[arg(long = "auth.quota", env = "ZG_DA_AUTH_QUOTA", default_value_t = 16 * 1024 * 1024 * 1024)]
    quota: u64,
    /// Keep the entrance deposit at least this many wei (deposits the difference at start).
    #[arg(long = "deposit", env = "ZG_DA_DEPOSIT")]
    deposit: Option<U256>,
    /// Seconds an anchor may take to become final (`--chain.finality`) before the
    /// attempt fails and is retried.
    #[arg(
        long = "anchor.finality-timeout",
        env = "ZG_DA_ANCHOR_FINALITY_TIMEOUT",
        default_value_t = 900
    )]
    finality_timeout: u64,
}

#[tokio::main]
async fn main() -> eyre::Result<()> {
    let cli = zg_node_kit::config::parse::<Cli>();
    let service = match &cli.command {
        Command::Node(_) => "zg-da-node",
        Command::Disperser(_) => "zg-da-disperser",
        _ => "zg-da-server",
    };
    let _telemetry = cli.log.init(service);
    match cli.command {
        Command::Keygen {
            out,
            plaintext,
            password,
        } => {
            let keys = NodeKeys::generate();
            if plaintext {
                keys.write(&out)?;
            } else {
                let Some(pw) = password.get()? else {
                    eyre::bail!(
                        "keygen encrypts the keys: give a password (--key.password-file FILE or \
                         {PASSWORD_ENV}), or --plaintext for a development key file"
                    );
                };
                keys.write_encrypted(&out, &pw, zg_node_kit::Kdf::default())?;
            }
            println!("wrote {}", out.display());
            println!("address        {}", keys.address());
            println!(
                "bls public key {}",
                zg_primitives::to_hex(keys.bls_public_key().as_bytes())
            );
            println!("peer id        {}", keys.p2p.public().to_peer_id());
            Ok(())
        }
        Command::Keys { command } => match command {
            KeysCommand::Import {
                from,
                out,
                password,
            } => {
                let keys = NodeKeys::read(&from)?;
                keys.write_encrypted(&out, &password.require()?, zg_node_kit::Kdf::default())?;
                println!("encrypted {} into {}", from.display(), out.display());
                println!("address        {}", keys.address());
                Ok(())
            }
            KeysCommand::Export {
                from,
                out,
                password,
            } => {
                let keys = NodeKeys::read_encrypted(&from, &password.require()?)?;
                keys.write(&out)?;
                println!("decrypted {} into {}", from.display(), out.display());
                println!("address        {}", keys.address());
                Ok(())
            }
        },
        Command::Rewards(args) => rewards(args).await,
        Command::Node(args) => run_node(args, cli.http.limits()).await,
        Command::Disperser(args) => run_disperser(args, cli.http.limits()).await,
    }
}

async fn rewards(args: RewardsArgs) -> eyre::Result<()> {
    let keys = load_keys(&args.key, &args.password)?;
    let chain =
        zg_da_server::ChainClient::connect(args.chain.config(), Some(keys.eth.clone())).await?;
    let me = keys.address();
    if let Some(amount) = args.add_stake {
        chain.add_stake(amount).await?;
    }
    if let Some(amount) = args.unbond {
        chain.unbond(amount).await?;
    }
    if args.withdraw_stake {
        chain.withdraw_stake().await?;
    }
    let mut claimed = U256::ZERO;
    if args.claim {
        claimed = chain.rewards_of(me).await?;
        if !claimed.is_zero() {
            chain.claim_rewards().await?;
        }
    }
    let stake = chain.stake_of(me).await?;
    let earned = chain.rewards_of(me).await?;
    let wins = chain.wins_of(me).await?;
    let drought = chain.drought_of(me).await?;
    let ejected_until = chain.ejected_until(me).await?;
    let epoch = chain.epoch().await?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "signer": me,
                "epoch": epoch,
                "bonded": stake.bonded.to_string(),
                "unbonding": stake.unbonding.to_string(),
                "releaseEpoch": stake.releaseEpoch.to_string(),
                "rewards": earned.to_string(),
                "claimed": claimed.to_string(),
                "wins": wins.to_string(),
                "drought": drought.to_string(),
                "ejectedUntil": ejected_until,
            })
        );
    } else {
        println!("signer          {me}");
        println!("epoch           {epoch}");
        println!("bonded stake    {} wei", stake.bonded);
        if !stake.unbonding.is_zero() {
            println!(
                "unbonding       {} wei (released at epoch {})",
                stake.unbonding, stake.releaseEpoch
            );
        }
        println!("rewards         {earned} wei unclaimed");
        if args.claim {
            println!("claimed         {claimed} wei");
        }
        println!("lottery wins    {wins}");
        println!("drought         {drought} wins of others since its last");
        if ejected_until >= epoch {
            println!("EJECTED         may not register up to epoch {ejected_until}");
        }
    }
    Ok(())
}

async fn run_node(args: NodeArgs, http: zg_node_kit::HttpLimits) -> eyre::Result<()> {
    let keys = load_keys(&args.key, &args.password)?;
    let mut config = NodeConfig::new(args.datadir.clone(), keys, args.chain.config());
    config.http = http;
    config.net = args.p2p.config(true)?;
    config.external_addr = args
        .external
        .as_deref()
        .map(|s| s.parse().wrap_err("--p2p.external"))
        .transpose()?;
    config.max_concurrent_stores = args.max_concurrent;
    config.max_payload = args.max_payload;
    config.signing_window_epochs = args.signing_window;
    config.retention = Duration::from_secs(args.retention);
    config.registration_interval = Duration::from_secs(args.registration_interval.max(1));
    config.head_poll = Duration::from_millis(args.head_poll_ms.max(10));
    config.stake = args.stake;
    config.sample_other_quorums = args.sampling;
    config.sampling.samples = args.samples.clamp(1, 128);
    config.sample_lottery = args.lottery;
    config.lottery_max_per_round = args.lottery_max;
    let http = tokio::net::TcpListener::bind(&args.http_addr)
        .await
        .wrap_err_with(|| format!("binding {}", args.http_addr))?;
    let cancel = CancellationToken::new();
    let node = zg_da_server::node::start(config, http, cancel.clone()).await?;
    println!(
        "zg-da-server node {} serving {} (http {})",
        node.service.address(),
        node.socket,
        node.http_addr
    );
    let outcome = until_shutdown(node.failed()).await;
    tracing::info!("shutting down");
    node.shutdown().await?;
    Ok(outcome?)
}

async fn run_disperser(args: DisperserArgs, http: zg_node_kit::HttpLimits) -> eyre::Result<()> {
    let keys = load_keys(&args.key, &args.password)?;
    let mut config =
        DisperserConfig::new(args.datadir.clone(), keys.eth.clone(), args.chain.config());
    config.http = http;
    config.net = args.p2p.config(false)?;
    config.max_payload = args.max_payload;
    config.max_in_flight = args.max_in_flight.max(1);
    config.finality_timeout = Duration::from_secs(args.finality_timeout.max(1));
    config.access = AccessConfig {
        tokens: args.tokens.clone(),
        rate_per_sec: args.rate,
        burst: args.burst,
        quota_bytes_per_hour: args.quota,
        allow_open: false,
    };
    if let Some(target) = args.deposit {
        let chain =
            zg_da_server::ChainClient::connect(config.chain.clone(), Some(keys.eth.clone()))
                .await?;
        let have = chain.deposit_of(keys.address()).await?;
        if have < target {
            chain.deposit(target - have).await?;
            tracing::info!(deposited = %(target - have), "entrance deposit topped up");
        }
    }
    let http = tokio::net::TcpListener::bind(&args.http_addr)
        .await
        .wrap_err_with(|| format!("binding {}", args.http_addr))?;
    let cancel = CancellationToken::new();
    let running = zg_da_server::disperser::start(config, http, cancel.clone()).await?;
    println!(
        "zg-da-server disperser listening on http://{}",
        running.http_addr
    );
    let outcome = until_shutdown(running.failed()).await;
    tracing::info!("shutting down");
    running.shutdown().await?;
    Ok(outcome?)
}
