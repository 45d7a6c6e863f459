//! Flag groups every binary shares (`#[command(flatten)]`), with one spelling and one
//! environment variable each across the stack.

/// Logging flags.
#[derive(Clone, Debug, clap::Args)]
pub struct LogArgs {
    /// Log format: text or json (filter with RUST_LOG, default info).
    #[arg(long = "log.format", env = "ZG_LOG_FORMAT", default_value = "text", global = true)]
    pub log_format: String,
    /// Export trace spans (one trace per put across op-plugin, disperser and DA nodes)
    /// over OTLP/HTTP to this collector (`http://host:4318`); off when unset.
    #[arg(long = "otlp.endpoint", env = "OTEL_EXPORTER_OTLP_ENDPOINT", global = true)]
    pub otlp_endpoint: Option<String>,
}

impl LogArgs {
    /// Installs the global `tracing` subscriber in this format (`RUST_LOG`, default
    /// info), exporting trace spans as `service` when `--otlp.endpoint` is set. Keep the
    /// returned guard until exit: dropping it flushes the spans still queued.
    pub fn init(&self, service: &str) -> crate::telemetry::Telemetry {
        self.init_with(service, "info")
    }

    /// [`LogArgs::init`] with another filter than `info` when `RUST_LOG` is unset.
    pub fn init_with(&self, service: &str, default_filter: &str) -> crate::telemetry::Telemetry {
        let otlp = self
            .otlp_endpoint
            .as_ref()
            .filter(|e| !e.is_empty())
            .map(|endpoint| crate::telemetry::OtlpConfig {
                endpoint: endpoint.clone(),
                service: service.to_string(),
            });
        crate::telemetry::init(&self.log_format, default_filter, otlp.as_ref())
    }
}

/// The chain a component talks to.
#[derive(Clone, Debug, clap::Args)]
pub struct ChainRpcArgs {
    /// Chain JSON-RPC endpoint.
    #[arg(long = "chain.rpc", env = "ZG_CHAIN_RPC", default_value = "http://127.0.0.1:8545")]
    pub chain_rpc: String,
    /// When a block is final: `finalized` (the node's finalized tag: the bundled chain,
    /// 0G, Ethereum) or a number of confirmations (a chain that may reorg without one).
    #[arg(long = "chain.finality", env = "ZG_CHAIN_FINALITY", default_value = "finalized")]
    pub finality: crate::FinalityRule,
}

/// The limits of a server's HTTP API (see [`crate::guard`]).
#[derive(Clone, Debug, clap::Args)]
pub struct HttpArgs {
    /// Host names clients use to reach the HTTP API besides its address
    /// (comma-separated); other `Host` and `Origin` names are refused (DNS rebinding,
    /// cross-site requests).
    #[arg(
        long = "http.allowed-hosts",
        env = "ZG_HTTP_ALLOWED_HOSTS",
        value_delimiter = ',',
        global = true
    )]
    pub allowed_hosts: Vec<String>,
    /// Requests served at once; more are answered 503 at once.
    #[arg(long = "http.max-concurrent", env = "ZG_HTTP_MAX_CONCURRENT", default_value_t = crate::guard::DEFAULT_MAX_CONCURRENT, global = true)]
    pub max_concurrent: usize,
    /// Most seconds per request.
    #[arg(long = "http.timeout", env = "ZG_HTTP_TIMEOUT", default_value_t = crate::guard::DEFAULT_REQUEST_TIMEOUT.as_secs(), global = true)]
    pub timeout_secs: u64,
    /// Cost units per second each untrusted client address earns (a request costs one,
    /// heavy work more); 0 turns per-client limits off.
    #[arg(long = "http.client-rate", env = "ZG_HTTP_CLIENT_RATE", default_value_t = crate::clients::DEFAULT_CLIENT_RATE, global = true)]
    pub client_rate: u32,
    /// Most units an untrusted client spends at once.
    #[arg(long = "http.client-burst", env = "ZG_HTTP_CLIENT_BURST", default_value_t = crate::clients::DEFAULT_CLIENT_BURST, global = true)]
    pub client_burst: u32,
    /// Networks whose clients are not rate limited (comma-separated CIDRs): the
    /// operator's own sidecars.
    #[arg(
        long = "http.trusted",
        env = "ZG_HTTP_TRUSTED",
        value_delimiter = ',',
        default_value = "127.0.0.1/32,::1/128",
        global = true
    )]
    pub trusted: Vec<ipnet::IpNet>,
}

impl HttpArgs {
    /// The limits these flags set.
    pub fn limits(&self) -> crate::guard::HttpLimits {
        crate::guard::HttpLimits {
            allowed_hosts: self.allowed_hosts.clone(),
            max_concurrent: self.max_concurrent,
            request_timeout: std::time::Duration::from_secs(self.timeout_secs.max(1)),
            clients: crate::clients::ClientLimits {
                rate: self.client_rate,
                burst: self.client_burst.max(1),
                max_delay: crate::clients::DEFAULT_CLIENT_MAX_DELAY,
                trusted: self.trusted.clone(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        log: LogArgs,
        #[command(flatten)]
        chain: ChainRpcArgs,
        #[command(flatten)]
        http: HttpArgs,
    }

    #[test]
    fn defaults_and_flags() {
        let c = Cli::try_parse_from(["x"]).unwrap();
        assert_eq!(c.log.log_format, "text");
        assert_eq!(c.chain.chain_rpc, "http://127.0.0.1:8545");
        let c = Cli::try_parse_from(["x", "--log.format", "json", "--chain.rpc", "http://h:1"])
            .unwrap();
        assert_eq!(c.log.log_format, "json");
        assert_eq!(c.chain.chain_rpc, "http://h:1");
        assert_eq!(c.http.limits(), crate::guard::HttpLimits::default());
        let c = Cli::try_parse_from(["x", "--http.allowed-hosts", "a.example,b.example"]).unwrap();
        assert_eq!(c.http.limits().allowed_hosts, ["a.example", "b.example"]);
    }
}
