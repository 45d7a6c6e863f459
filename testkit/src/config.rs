//! The committed configuration references: `docs/config/<name>.toml` is each binary's
//! `--config.example` output (every key, its help, environment variable and default),
//! checked by each crate's tests; `ZG_BLESS=1` rewrites a stale one.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `bin args…` with no `ZG_` variable set.
pub fn run(bin: &Path, args: &[&str]) -> std::process::Output {
    let mut c = Command::new(bin);
    c.args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("ZG_") {
            c.env_remove(k);
        }
    }
    c.output().expect("running the binary")
}

/// Checks that `deploy/config/<file>` parses with `bin` (`--config.print`), that it sets
/// `key` to `value`, and that a file with an unknown key is refused by name.
///
/// # Panics
/// When any of that does not hold.
pub fn check_deploy_config(bin: &Path, file: &str, key: &str, value: &str) {
    let path = root().join("deploy/config").join(file);
    let o = run(bin, &["--config", path.to_str().unwrap(), "--config.print"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{key} = ")))
        .unwrap_or_else(|| panic!("no {key} in\n{text}"));
    assert!(line.contains(&format!("\"{value}\"")), "{line}");
    assert!(line.contains("# flag or config file"), "{line}");
    let tmp = zg_node_kit::TempDir::new("config");
    let bad = tmp.0.join("bad.toml");
    std::fs::write(&bad, "[chain]\nrcp = \"x\"\n").unwrap();
    let o = run(bin, &["--config", bad.to_str().unwrap(), "--config.print"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown key `chain.rcp`"));
}

/// The workspace root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testkit lives in the workspace")
        .to_path_buf()
}

/// Runs `bin args… --config.example` (with no `ZG_` variable set, so defaults are the
/// built-in ones) and checks it against `docs/config/<name>.toml`.
///
/// # Panics
/// When the binary fails or the committed file differs (unless `ZG_BLESS=1`).
pub fn check_example(bin: &Path, args: &[&str], name: &str) {
    let mut args = args.to_vec();
    args.push("--config.example");
    let out = run(bin, &args);
    assert!(
        out.status.success(),
        "{} --config.example: {}",
        bin.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("UTF-8 example");
    let file = root().join("docs/config").join(format!("{name}.toml"));
    if std::env::var_os("ZG_BLESS").is_some() {
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, &text).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&file).unwrap_or_default();
    assert!(
        committed == text,
        "{} is not `{} {} --config.example`; run the test with ZG_BLESS=1 and commit it",
        file.display(),
        bin.display(),
        args.join(" ")
    );
}
