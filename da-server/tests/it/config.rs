//! Configuration files through the real binary: the deployment examples under
//! `deploy/config/` parse (so they name no key that does not exist), the environment
//! beats the file and a flag beats both, an unknown key is refused by name, and
//! `--config.example` lists every flag.

use std::path::PathBuf;
use std::process::{Command, Output};

fn deploy(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy/config")
        .join(name)
}

/// Runs the binary with no `ZG_` variable but `env`.
pub(crate) fn bin(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_zg-da-server"));
    c.args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("ZG_") {
            c.env_remove(k);
        }
    }
    c.envs(env.iter().copied());
    c.output().expect("running zg-da-server")
}

fn stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn line<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(&format!("{key} = ")))
        .unwrap_or_else(|| panic!("no {key} in\n{text}"))
}

#[test]
fn deploy_configs_parse_with_flag_env_file_default_precedence() {
    let node = deploy("da-node.toml");
    let n = node.to_str().unwrap();
    let text = stdout(&bin(&["node", "--config", n, "--config.print"], &[]));
    assert!(line(&text, "chain.rpc").contains("\"http://chain.example:8545\""));
    assert!(line(&text, "chain.rpc").contains("# flag or config file"));
    assert!(line(&text, "store.retention").contains("# default"));
    assert!(line(&text, "key.password-file").contains("<redacted>"));
    // The environment beats the file; a flag beats both.
    let env = [("ZG_CHAIN_RPC", "http://env:8545")];
    let text = stdout(&bin(&["node", "--config", n, "--config.print"], &env));
    assert!(line(&text, "chain.rpc").contains("http://env:8545"));
    assert!(line(&text, "chain.rpc").contains("# environment"));
    let text = stdout(&bin(
        &[
            "node",
            "--config",
            n,
            "--chain.rpc",
            "http://flag:8545",
            "--config.print",
        ],
        &env,
    ));
    assert!(line(&text, "chain.rpc").contains("http://flag:8545"));
    let disperser = deploy("disperser.toml");
    let text = stdout(&bin(
        &[
            "disperser",
            "--config",
            disperser.to_str().unwrap(),
            "--config.print",
        ],
        &[],
    ));
    assert!(line(&text, "deposit").contains("1000000000000000000"));

    // An unknown key is refused by name.
    let tmp = zg_node_kit::TempDir::new("config");
    let bad = tmp.0.join("bad.toml");
    std::fs::write(&bad, "[chain]\nrcp = \"http://typo\"\n").unwrap();
    let o = bin(
        &["node", "--config", bad.to_str().unwrap(), "--config.print"],
        &[],
    );
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("unknown key `chain.rcp`"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    // The example lists every flag of the subcommand with its environment variable.
    let example = stdout(&bin(&["node", "--config.example"], &[]));
    for key in [
        "datadir",
        "key",
        "chain.rpc",
        "p2p.listen",
        "store.retention",
        "log.format",
    ] {
        assert!(example.contains(&format!("# {key} = ")), "{key} missing");
    }
    assert!(example.contains("# env: ZG_CHAIN_RPC"));
}

/// `docs/config/` lists every key of both servers.
#[test]
fn the_documented_keys_are_the_binarys() {
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_zg-da-server"));
    zg_testkit::config::check_example(bin, &["node"], "zg-da-server-node");
    zg_testkit::config::check_example(bin, &["disperser"], "zg-da-server-disperser");
}
