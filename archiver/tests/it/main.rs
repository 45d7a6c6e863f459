//! The archiver binary's configuration: the deployment example parses, typos are refused,
//! `docs/config/zg-archiver.toml` lists every key.
#![allow(missing_docs)]

mod secondary;

#[test]
fn the_deploy_example_config_parses_and_typos_are_refused() {
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_zg-archiver"));
    zg_testkit::config::check_deploy_config(
        bin,
        "archiver.toml",
        "chain.rpc",
        "http://chain.example:8545",
    );
}

#[test]
fn the_documented_keys_are_the_binarys() {
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_zg-archiver"));
    zg_testkit::config::check_example(bin, &[], "zg-archiver");
}
