//! `docs/config/zg-devnet.toml` is the binary's `--config.example`: every key of its
//! configuration file, with its help, environment variable and default.

#[test]
fn the_documented_keys_are_the_binarys() {
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_zg-devnet"));
    zg_testkit::config::check_example(bin, &[], "zg-devnet");
}
