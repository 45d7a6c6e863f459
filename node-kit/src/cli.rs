//! Flag groups every binary shares (`#[command(flatten)]`), with one spelling and one
//! environment variable each across the stack.

/// Logging flags.
#[derive(Clone, Debug, clap::Args)]
pub struct LogArgs {
    /// Log format: text or json (filter with RUST_LOG, default info).
    #[arg(long = "log.format", env = "ZG_LOG_FORMAT", default_value = "text", global = true)]
    pub log_format: String,
}

impl LogArgs {
    /// Installs the global `tracing` subscriber in this format.
    pub fn init(&self) {
        crate::runtime::init_tracing(&self.log_format);
    }
}

/// The chain a component talks to.
#[derive(Clone, Debug, clap::Args)]
pub struct ChainRpcArgs {
    /// Chain JSON-RPC endpoint.
    #[arg(long = "chain.rpc", env = "ZG_CHAIN_RPC", default_value = "http://127.0.0.1:8545")]
    pub chain_rpc: String,
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
    }
}
