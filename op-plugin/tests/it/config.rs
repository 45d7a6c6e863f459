//! The configuration of the real binary: the deployment example
//! `deploy/config/op-plugin.toml` parses (it names no key that does not exist), an unknown key
//! is refused by name, and `docs/config/` lists every key.

#[test]
fn the_deploy_example_config_parses_and_typos_are_refused() {
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_zg-op-plugin"));
    zg_testkit::config::check_deploy_config(
        bin,
        "op-plugin.toml",
        "disperser.url",
        "http://da.example:9500",
    );
}

/// `docs/config/zg-op-plugin.toml` lists every key.
#[test]
fn the_documented_keys_are_the_binarys() {
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_zg-op-plugin"));
    zg_testkit::config::check_example(bin, &[], "zg-op-plugin");
}
