//! The stock Python clients (web3.py, openai, …) for tests: one virtual environment in
//! `testkit/py/.venv` from the pinned `testkit/py/requirements.txt`, shared by every
//! crate's Python test and rebuilt when the pins change.

use std::path::{Path, PathBuf};
use std::process::Command;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("py")
}

/// Runs `cmd` in `dir`; panics with `what` and its stderr unless it succeeds.
fn run(cmd: &mut Command, dir: &Path, what: &str) {
    let out = cmd.current_dir(dir).output().expect(what);
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The venv's python, created (or brought up to the pins) first; `None` without python3,
/// which fails instead when `ZG_REQUIRE_PY_SDK` is set (CI sets it where python3 is).
/// Creating the venv is serialised across test processes by a lock file.
pub fn venv_python() -> Option<PathBuf> {
    let ok = Command::new("python3")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        assert!(
            std::env::var("ZG_REQUIRE_PY_SDK").is_err(),
            "ZG_REQUIRE_PY_SDK is set but python3 is missing"
        );
        eprintln!("notice: no python3; the Python client test is skipped");
        return None;
    }
    let dir = dir();
    let py = dir.join(".venv/bin/python");
    let stamp = dir.join(".venv/installed.txt");
    let want = std::fs::read_to_string(dir.join("requirements.txt")).unwrap();
    let lock = dir.join(".venv.lock");
    // One creator at a time (test binaries of several crates run at once).
    let started = std::time::Instant::now();
    while std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&lock)
        .is_err()
    {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(600),
            "venv lock {} held too long",
            lock.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let result = std::panic::catch_unwind(|| {
        if std::fs::read_to_string(&stamp).ok().as_deref() != Some(want.as_str()) {
            run(
                Command::new("python3").args(["-m", "venv", ".venv"]),
                &dir,
                "venv",
            );
            run(
                Command::new(&py).args([
                    "-m",
                    "pip",
                    "install",
                    "-q",
                    "--disable-pip-version-check",
                    "-r",
                    "requirements.txt",
                ]),
                &dir,
                "pip",
            );
            std::fs::write(&stamp, &want).unwrap();
        }
    });
    let _ = std::fs::remove_file(&lock);
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
    Some(py)
}
