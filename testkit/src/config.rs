//! The committed configuration references: `docs/config/<name>.toml` is each binary's
//! `--config.example` output (every key, its help, environment variable and default),
//! checked by each crate's tests; `ZG_BLESS=1` rewrites a stale one.

use std::path::{Path, PathBuf};
use std::process::Command;

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
    let mut c = Command::new(bin);
    c.args(args).arg("--config.example");
    for (k, _) in std::env::vars() {
        if k.starts_with("ZG_") {
            c.env_remove(k);
        }
    }
    let out = c.output().expect("running the binary");
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
