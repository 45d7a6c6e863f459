//! Encrypted keys through the real binary: `keygen` writes an EIP-2335 / Web3 key
//! directory that stock Python tools open (eth_account for the Ethereum key, the
//! EIP-2335 procedure with hashlib and py_ecc for the BLS key), `keys export` and
//! `keys import` convert to and from the plaintext key file, and a wrong or missing
//! password is refused.

use std::path::Path;
use std::process::{Command, Output};

use zg_da_server::NodeKeys;

fn bin(args: &[&str], password: Option<&str>) -> Output {
    let env: Vec<(&str, &str)> = password
        .map(|p| ("ZG_KEY_PASSWORD", p))
        .into_iter()
        .collect();
    crate::config::bin(args, &env)
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn field(stdout: &str, name: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .unwrap_or_else(|| panic!("no {name} in {stdout}"))
        .trim()
        .to_owned()
}

#[test]
fn keygen_encrypts_and_stock_tools_open_the_keystores() {
    let tmp = zg_node_kit::TempDir::new("keygen");
    let dir = tmp.0.join("node-keys");
    let d = dir.to_str().unwrap();
    const PW: &str = "correct horse battery staple";

    // Without a password keygen refuses (unless asked for a plaintext file).
    let o = bin(&["keygen", "--out", d], None);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("password"));

    let out = ok(&bin(&["keygen", "--out", d], Some(PW)));
    let address = field(&out, "address");
    let bls = field(&out, "bls public key");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["bls.json", "eth.json", "p2p.json"]);
    let keys = NodeKeys::load(&dir, Some(PW)).unwrap();
    assert_eq!(keys.address().to_string(), address);
    assert!(NodeKeys::load(&dir, Some("wrong")).is_err());

    // Stock Python tools open both keystores.
    if let Some(py) = zg_testkit::python::venv_python() {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/keystores.py");
        let o = Command::new(py)
            .arg(script)
            .arg(&dir)
            .env("ZG_KEY_PASSWORD", PW)
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(ok(&o).trim()).unwrap();
        assert_eq!(v["address"], address.as_str());
        assert_eq!(format!("0x{}", v["bls"].as_str().unwrap()), bls);
    }

    // Export to a plaintext file and import it again under another password.
    let plain = tmp.0.join("plain.key");
    let p = plain.to_str().unwrap();
    assert!(
        !bin(&["keys", "export", "--from", d, "--out", p], Some("wrong"))
            .status
            .success()
    );
    ok(&bin(&["keys", "export", "--from", d, "--out", p], Some(PW)));
    assert_eq!(NodeKeys::read(&plain).unwrap().address(), keys.address());
    let again = tmp.0.join("again");
    let a = again.to_str().unwrap();
    ok(&bin(
        &["keys", "import", "--from", p, "--out", a],
        Some("another"),
    ));
    let back = NodeKeys::load(&again, Some("another")).unwrap();
    assert_eq!(back.address(), keys.address());
    assert_eq!(back.bls_public_key(), keys.bls_public_key());
    assert_eq!(back.p2p.public(), keys.p2p.public());
    // Never overwrites.
    assert!(
        !bin(&["keys", "import", "--from", p, "--out", a], Some("x"))
            .status
            .success()
    );
}
