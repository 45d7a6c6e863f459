//! The deployment example `deploy/config/chain.toml` parses with the real binary (it names
//! no key that does not exist) and an unknown key is refused by name.

use std::path::PathBuf;
use std::process::{Command, Output};

fn bin(args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_zg-chain"));
    c.args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("ZG_") {
            c.env_remove(k);
        }
    }
    c.output().expect("running zg-chain")
}

#[test]
fn the_deploy_example_config_parses_and_typos_are_refused() {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/config/chain.toml");
    let o = bin(&["--config", file.to_str().unwrap(), "--config.print"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let line = text
        .lines()
        .find(|l| l.starts_with("consensus.key = "))
        .unwrap_or_else(|| panic!("no consensus.key in\n{text}"));
    assert!(line.contains("\"/etc/zg/validator-0.key\""), "{line}");
    assert!(line.contains("# flag or config file"), "{line}");
    let tmp = zg_node_kit::TempDir::new("config");
    let bad = tmp.0.join("bad.toml");
    std::fs::write(&bad, "[chain]\nrcp = \"x\"\n").unwrap();
    let o = bin(&["--config", bad.to_str().unwrap(), "--config.print"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown key `chain.rcp`"));
}

/// `docs/config/zg-chain.toml` lists every key.
#[test]
fn the_documented_keys_are_the_binarys() {
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_zg-chain"));
    zg_testkit::config::check_example(bin, &[], "zg-chain");
}
