//! The configuration of the real binary: the deployment example
//! `deploy/config/chain.toml` parses (it names no key that does not exist), an unknown key
//! is refused by name, and `docs/config/` lists every key.

#[test]
fn the_deploy_example_config_parses_and_typos_are_refused() {
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_zg-chain"));
    zg_testkit::config::check_deploy_config(
        bin,
        "chain.toml",
        "consensus.key",
        "/etc/zg/validator-0.key",
    );
}

/// `docs/config/zg-chain.toml` lists every key.
#[test]
fn the_documented_keys_are_the_binarys() {
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_zg-chain"));
    zg_testkit::config::check_example(bin, &[], "zg-chain");
}
