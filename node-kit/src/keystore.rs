//! Encrypted key files: EIP-2335 keystores (BLS12-381 keys, and any other 32-byte
//! secret) and Web3 Secret Storage v3 for Ethereum keys (the `eth-keystore` crate, the
//! format geth, `eth_account` and ethers read), with the passphrase from a file or the
//! environment.
//!
//! Key files are read from disk an operator controls, but a copied or tampered file must
//! still not hang or exhaust the process: a file is at most [`MAX_KEYSTORE_BYTES`], and
//! the KDF parameters are bounded (scrypt `n·r ≤ 2²¹`, about 256 MiB, `p ≤ 16`; PBKDF2
//! `c ≤ 2²¹`) before any work is done. A wrong password is [`KeystoreError::WrongPassword`]
//! (the checksum or MAC differs), never a garbage key.

use std::path::{Path, PathBuf};

use aes::cipher::{KeyIvInit, StreamCipher};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::secret::{SecretFileError, read_secret, write_secret};

/// Largest keystore file read.
pub const MAX_KEYSTORE_BYTES: u64 = 64 * 1024;
/// Largest `n · r` of scrypt accepted (2²¹: 256 MiB of memory).
const MAX_SCRYPT_NR: u64 = 1 << 21;
/// Largest scrypt parallelism accepted.
const MAX_SCRYPT_P: u64 = 16;
/// Largest PBKDF2 iteration count accepted.
const MAX_PBKDF2_C: u64 = 1 << 21;
/// Longest passphrase file read.
const MAX_PASSWORD_BYTES: usize = 4096;

type Aes128Ctr = ctr::Ctr128BE<aes::Aes128>;

/// A keystore could not be written, read or opened; by how the caller should react.
#[derive(Debug, thiserror::Error)]
pub enum KeystoreError {
    /// The file could not be read or written (or is readable by others).
    #[error(transparent)]
    File(#[from] SecretFileError),
    /// The file is not a keystore this reads, or its parameters are out of bounds.
    #[error("keystore {path}: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The password does not open it.
    #[error("keystore {path}: wrong password")]
    WrongPassword {
        /// The file.
        path: String,
    },
    /// No password was given, or its file could not be read.
    #[error("password: {0}")]
    Password(String),
}

/// The key derivation of a new EIP-2335 keystore.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kdf {
    /// scrypt with `n = 2^log_n`, `r = 8`, `p = 1` (the standard is `log_n = 18`).
    Scrypt {
        /// log₂ of the cost.
        log_n: u8,
    },
    /// PBKDF2-HMAC-SHA256 with `c` iterations (the standard is 2¹⁸).
    Pbkdf2 {
        /// Iterations.
        c: u32,
    },
}

impl Default for Kdf {
    /// scrypt, `n = 2¹⁸` (about a second and 256 MiB).
    fn default() -> Self {
        Self::Scrypt { log_n: 18 }
    }
}

/// The password as EIP-2335 feeds it to the KDF: NFKD-normalised, with the C0 and C1
/// control codes and DEL removed, UTF-8 encoded.
pub fn normalize_password(password: &str) -> Vec<u8> {
    use unicode_normalization::UnicodeNormalization;
    password
        .nfkd()
        .filter(|c| {
            let u = *c as u32;
            !(u <= 0x1f || (0x7f..=0x9f).contains(&u))
        })
        .collect::<String>()
        .into_bytes()
}

/// An EIP-2335 keystore (version 4).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Eip2335 {
    /// The KDF, checksum and cipher modules.
    pub crypto: Eip2335Crypto,
    /// What the key is for.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The public key, hex without `0x`.
    #[serde(default)]
    pub pubkey: String,
    /// The EIP-2334 path it was derived at (empty: not derived).
    pub path: String,
    /// A random identifier.
    pub uuid: String,
    /// Always 4.
    pub version: u32,
}

/// The modules of an EIP-2335 keystore.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Eip2335Crypto {
    /// Key derivation.
    pub kdf: Module,
    /// Password check.
    pub checksum: Module,
    /// Encryption of the secret.
    pub cipher: Module,
}

/// One module: a function, its parameters and its message.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Module {
    /// `scrypt` / `pbkdf2`, `sha256`, `aes-128-ctr`.
    pub function: String,
    /// Its parameters.
    pub params: Value,
    /// Hex (empty for the KDF).
    pub message: String,
}

impl Eip2335 {
    /// Encrypts `secret` under `password`, with a fresh salt, IV and UUID.
    pub fn encrypt(
        secret: &[u8],
        password: &str,
        pubkey: &[u8],
        description: &str,
        kdf: Kdf,
    ) -> Self {
        let salt: [u8; 32] = rand::random();
        let iv: [u8; 16] = rand::random();
        let kdf_module = match kdf {
            Kdf::Scrypt { log_n } => Module {
                function: "scrypt".into(),
                params: json!({"dklen": 32, "n": 1u64 << log_n, "r": 8, "p": 1, "salt": hex::encode(salt)}),
                message: String::new(),
            },
            Kdf::Pbkdf2 { c } => Module {
                function: "pbkdf2".into(),
                params: json!({"dklen": 32, "c": c, "prf": "hmac-sha256", "salt": hex::encode(salt)}),
                message: String::new(),
            },
        };
        let key = derive(&kdf_module, &normalize_password(password), "<new>")
            .expect("parameters this function chose are in bounds");
        let mut message = secret.to_vec();
        Aes128Ctr::new(key[..16].into(), &iv.into()).apply_keystream(&mut message);
        let checksum = checksum(&key, &message);
        Self {
            crypto: Eip2335Crypto {
                kdf: kdf_module,
                checksum: Module {
                    function: "sha256".into(),
                    params: json!({}),
                    message: hex::encode(checksum),
                },
                cipher: Module {
                    function: "aes-128-ctr".into(),
                    params: json!({"iv": hex::encode(iv)}),
                    message: hex::encode(&message),
                },
            },
            description: description.into(),
            pubkey: hex::encode(pubkey),
            path: String::new(),
            uuid: uuid::Uuid::new_v4().to_string(),
            version: 4,
        }
    }

    /// Parses a keystore (checking the version and the modules' names and bounds).
    pub fn from_json(text: &str, path: &str) -> Result<Self, KeystoreError> {
        let invalid = |reason: String| KeystoreError::Invalid {
            path: path.into(),
            reason,
        };
        let ks: Self = serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
        if ks.version != 4 {
            return Err(invalid(format!("version {} (EIP-2335 is 4)", ks.version)));
        }
        if ks.crypto.checksum.function != "sha256" {
            return Err(invalid(format!("checksum {}", ks.crypto.checksum.function)));
        }
        if ks.crypto.cipher.function != "aes-128-ctr" {
            return Err(invalid(format!("cipher {}", ks.crypto.cipher.function)));
        }
        check_kdf(&ks.crypto.kdf, path)?;
        Ok(ks)
    }

    /// Reads a keystore file (at most [`MAX_KEYSTORE_BYTES`], not readable by others).
    pub fn read(path: &Path) -> Result<Self, KeystoreError> {
        let text = read_bounded(path)?;
        Self::from_json(&text, &path.display().to_string())
    }

    /// Writes it to a new file (mode 0600, atomically; never replaces a file).
    pub fn write(&self, path: &Path) -> Result<(), KeystoreError> {
        let text = serde_json::to_string_pretty(self).expect("a keystore serializes");
        Ok(write_secret(path, text.as_bytes())?)
    }

    /// Decrypts the secret; `path` names the keystore in errors.
    pub fn decrypt(&self, password: &str, path: &str) -> Result<Vec<u8>, KeystoreError> {
        let invalid = |reason: String| KeystoreError::Invalid {
            path: path.into(),
            reason,
        };
        let key = derive(&self.crypto.kdf, &normalize_password(password), path)?;
        let message = hex::decode(&self.crypto.cipher.message)
            .map_err(|e| invalid(format!("cipher message: {e}")))?;
        let expected = hex::decode(&self.crypto.checksum.message)
            .map_err(|e| invalid(format!("checksum message: {e}")))?;
        if checksum(&key, &message).as_slice() != expected.as_slice() {
            return Err(KeystoreError::WrongPassword { path: path.into() });
        }
        let iv = hex_param(&self.crypto.cipher.params, "iv", path)?;
        let iv: [u8; 16] = iv
            .try_into()
            .map_err(|_| invalid("iv is not 16 bytes".into()))?;
        let mut secret = message;
        Aes128Ctr::new(key[..16].into(), &iv.into()).apply_keystream(&mut secret);
        Ok(secret)
    }
}

fn checksum(key: &[u8; 32], message: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(&key[16..32]);
    h.update(message);
    h.finalize().into()
}

fn int_param(params: &Value, name: &str, path: &str) -> Result<u64, KeystoreError> {
    params[name].as_u64().ok_or_else(|| KeystoreError::Invalid {
        path: path.into(),
        reason: format!("kdf parameter {name} missing or not an integer"),
    })
}

fn hex_param(params: &Value, name: &str, path: &str) -> Result<Vec<u8>, KeystoreError> {
    let s = params[name]
        .as_str()
        .ok_or_else(|| KeystoreError::Invalid {
            path: path.into(),
            reason: format!("parameter {name} missing"),
        })?;
    hex::decode(s.trim_start_matches("0x")).map_err(|e| KeystoreError::Invalid {
        path: path.into(),
        reason: format!("parameter {name}: {e}"),
    })
}

/// Checks a KDF module's function and bounds without running it.
fn check_kdf(kdf: &Module, path: &str) -> Result<(), KeystoreError> {
    let invalid = |reason: String| KeystoreError::Invalid {
        path: path.into(),
        reason,
    };
    let p = &kdf.params;
    if int_param(p, "dklen", path)? != 32 {
        return Err(invalid("dklen must be 32".into()));
    }
    let salt = hex_param(p, "salt", path)?;
    if salt.is_empty() || salt.len() > 64 {
        return Err(invalid("salt must be 1 to 64 bytes".into()));
    }
    match kdf.function.as_str() {
        "scrypt" => {
            let (n, r, pp) = (
                int_param(p, "n", path)?,
                int_param(p, "r", path)?,
                int_param(p, "p", path)?,
            );
            if !n.is_power_of_two() || n < 2 || r == 0 || pp == 0 {
                return Err(invalid(
                    "scrypt n must be a power of two, r and p positive".into(),
                ));
            }
            if n.saturating_mul(r) > MAX_SCRYPT_NR || pp > MAX_SCRYPT_P {
                return Err(invalid(format!(
                    "scrypt n·r = {} or p = {pp} above the bound (n·r ≤ {MAX_SCRYPT_NR}, p ≤ {MAX_SCRYPT_P})",
                    n.saturating_mul(r)
                )));
            }
        }
        "pbkdf2" => {
            if p["prf"].as_str() != Some("hmac-sha256") {
                return Err(invalid("pbkdf2 prf must be hmac-sha256".into()));
            }
            let c = int_param(p, "c", path)?;
            if c == 0 || c > MAX_PBKDF2_C {
                return Err(invalid(format!("pbkdf2 c = {c} out of 1..={MAX_PBKDF2_C}")));
            }
        }
        other => return Err(invalid(format!("kdf {other}"))),
    }
    Ok(())
}

/// Runs a (checked) KDF module.
fn derive(kdf: &Module, password: &[u8], path: &str) -> Result<[u8; 32], KeystoreError> {
    check_kdf(kdf, path)?;
    let p = &kdf.params;
    let salt = hex_param(p, "salt", path)?;
    let mut key = [0u8; 32];
    match kdf.function.as_str() {
        "scrypt" => {
            let n = int_param(p, "n", path)?;
            let params = scrypt::Params::new(
                n.trailing_zeros() as u8,
                int_param(p, "r", path)? as u32,
                int_param(p, "p", path)? as u32,
                32,
            )
            .map_err(|e| KeystoreError::Invalid {
                path: path.into(),
                reason: format!("scrypt parameters: {e}"),
            })?;
            scrypt::scrypt(password, &salt, &params, &mut key).map_err(|e| {
                KeystoreError::Invalid {
                    path: path.into(),
                    reason: format!("scrypt: {e}"),
                }
            })?;
        }
        _ => {
            let c = int_param(p, "c", path)? as u32;
            pbkdf2::pbkdf2_hmac::<Sha256>(password, &salt, c, &mut key);
        }
    }
    Ok(key)
}

fn read_bounded(path: &Path) -> Result<String, KeystoreError> {
    let p = path.display().to_string();
    let len = std::fs::metadata(path)
        .map_err(|source| SecretFileError::Io {
            path: p.clone(),
            source,
        })?
        .len();
    if len > MAX_KEYSTORE_BYTES {
        return Err(KeystoreError::Invalid {
            path: p,
            reason: format!("{len} bytes; a keystore is at most {MAX_KEYSTORE_BYTES}"),
        });
    }
    let bytes = read_secret(path)?;
    String::from_utf8(bytes).map_err(|_| KeystoreError::Invalid {
        path: p,
        reason: "not UTF-8".into(),
    })
}

/// Writes an Ethereum key as a Web3 Secret Storage v3 file at `path` (mode 0600, never
/// replacing a file), encrypted by the `eth-keystore` crate (scrypt, AES-128-CTR,
/// keccak MAC).
pub fn write_web3(path: &Path, secret: &[u8; 32], password: &str) -> Result<(), KeystoreError> {
    let p = path.display().to_string();
    let io = |source| {
        KeystoreError::File(SecretFileError::Io {
            path: p.clone(),
            source,
        })
    };
    if path.exists() {
        return Err(io(std::io::Error::from(std::io::ErrorKind::AlreadyExists)));
    }
    // The crate writes with the default mode: into a private directory, then moved into
    // place as a 0600 file.
    let parent = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    std::fs::create_dir_all(&parent).map_err(io)?;
    let staging = parent.join(format!(
        ".web3-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(&staging).map_err(io)?;
    let result = (|| {
        let mut rng = rand08::thread_rng();
        alloy::signers::local::PrivateKeySigner::encrypt_keystore(
            &staging,
            &mut rng,
            secret,
            password.as_bytes(),
            Some("key.json"),
        )
        .map_err(|e| KeystoreError::Invalid {
            path: p.clone(),
            reason: e.to_string(),
        })?;
        let text = std::fs::read(staging.join("key.json")).map_err(io)?;
        Ok(write_secret(path, &text)?)
    })();
    let _ = std::fs::remove_dir_all(&staging);
    result
}

/// Reads a Web3 Secret Storage v3 file and decrypts its Ethereum key (bounded as
/// described in the module docs before the crate runs the KDF).
pub fn read_web3(
    path: &Path,
    password: &str,
) -> Result<alloy::signers::local::PrivateKeySigner, KeystoreError> {
    let p = path.display().to_string();
    let invalid = |reason: String| KeystoreError::Invalid {
        path: p.clone(),
        reason,
    };
    let text = read_bounded(path)?;
    let v: Value = serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    let crypto = if v["crypto"].is_object() {
        &v["crypto"]
    } else {
        &v["Crypto"]
    };
    if v["version"].as_u64() != Some(3) {
        return Err(invalid("not a Web3 Secret Storage v3 file".into()));
    }
    let kdf = Module {
        function: crypto["kdf"].as_str().unwrap_or_default().to_owned(),
        params: crypto["kdfparams"].clone(),
        message: String::new(),
    };
    if kdf.function == "pbkdf2" && kdf.params["prf"].as_str() != Some("hmac-sha256") {
        return Err(invalid("pbkdf2 prf must be hmac-sha256".into()));
    }
    check_kdf(&kdf, &p)?;
    alloy::signers::local::PrivateKeySigner::decrypt_keystore(path, password.as_bytes()).map_err(
        |e| {
            let text = e.to_string();
            if text.contains("Mac") || text.contains("MAC") {
                KeystoreError::WrongPassword { path: p.clone() }
            } else {
                invalid(text)
            }
        },
    )
}

/// The Ethereum key in `path`: a Web3 Secret Storage file (opened with the password from
/// `password_file`, else `ZG_KEY_PASSWORD`) or a file holding the hex private key.
pub fn read_eth_key(
    path: &Path,
    password_file: Option<&Path>,
) -> Result<alloy::signers::local::PrivateKeySigner, KeystoreError> {
    let p = path.display().to_string();
    let io = |source| {
        KeystoreError::File(SecretFileError::Io {
            path: p.clone(),
            source,
        })
    };
    let len = std::fs::metadata(path).map_err(io)?.len();
    if len > MAX_KEYSTORE_BYTES {
        return Err(KeystoreError::Invalid {
            path: p,
            reason: format!("{len} bytes; a key file is at most {MAX_KEYSTORE_BYTES}"),
        });
    }
    let text = std::fs::read_to_string(path).map_err(io)?;
    if text.trim_start().starts_with('{') {
        let password = read_password(password_file, "ZG_KEY_PASSWORD")?;
        return read_web3(path, &password);
    }
    text.trim().parse().map_err(|e| KeystoreError::Invalid {
        path: p,
        reason: format!("neither a keystore nor a hex private key: {e}"),
    })
}

/// The passphrase: the first line of `file` (a file not readable by others, at most
/// 4 KiB), else the environment variable `env`.
pub fn read_password(file: Option<&Path>, env: &str) -> Result<String, KeystoreError> {
    if let Some(f) = file {
        let bytes = read_secret(f)?;
        if bytes.len() > MAX_PASSWORD_BYTES {
            return Err(KeystoreError::Password(format!(
                "{} is longer than {MAX_PASSWORD_BYTES} bytes",
                f.display()
            )));
        }
        let text = String::from_utf8(bytes)
            .map_err(|_| KeystoreError::Password(format!("{} is not UTF-8", f.display())))?;
        return Ok(text.lines().next().unwrap_or_default().to_owned());
    }
    std::env::var(env).map_err(|_| {
        KeystoreError::Password(format!("no password: give a password file or set {env}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f";
    const PASSWORD: &str = "𝔱𝔢𝔰𝔱𝔭𝔞𝔰𝔰𝔴𝔬𝔯𝔡🔑";

    #[test]
    fn an_eth_key_is_a_keystore_or_a_hex_file() {
        let dir = crate::TempDir::new("eth-key");
        let secret = [7u8; 32];
        let expected = alloy::signers::local::PrivateKeySigner::from_bytes(&secret.into())
            .unwrap()
            .address();
        let hex_file = dir.0.join("key.hex");
        std::fs::write(&hex_file, format!("0x{}\n", hex::encode(secret))).unwrap();
        assert_eq!(read_eth_key(&hex_file, None).unwrap().address(), expected);
        let keystore = dir.0.join("key.json");
        write_web3(&keystore, &secret, "pw").unwrap();
        let password = dir.0.join("password");
        crate::write_secret(&password, b"pw\n").unwrap();
        assert_eq!(
            read_eth_key(&keystore, Some(&password)).unwrap().address(),
            expected
        );
        crate::write_secret(&password, b"wrong").unwrap_or_else(|_| {
            std::fs::remove_file(&password).unwrap();
            crate::write_secret(&password, b"wrong").unwrap();
        });
        assert!(matches!(
            read_eth_key(&keystore, Some(&password)),
            Err(KeystoreError::WrongPassword { .. })
        ));
        let junk = dir.0.join("junk");
        std::fs::write(&junk, "not a key").unwrap();
        assert!(matches!(
            read_eth_key(&junk, None),
            Err(KeystoreError::Invalid { .. })
        ));
    }

    #[test]
    fn the_password_is_normalised_as_eip_2335_says() {
        assert_eq!(
            hex::encode(normalize_password(PASSWORD)),
            "7465737470617373776f7264f09f9491"
        );
        assert_eq!(normalize_password("a\u{0}b\u{7f}c\u{85}d e"), b"abcd e");
    }

    #[test]
    fn eip_2335_vectors_decrypt() {
        for name in ["scrypt", "pbkdf2"] {
            let path = format!(
                "{}/tests/data/eip2335-{name}.json",
                env!("CARGO_MANIFEST_DIR")
            );
            let text = std::fs::read_to_string(&path).unwrap();
            let ks = Eip2335::from_json(&text, &path).unwrap();
            assert_eq!(hex::encode(ks.decrypt(PASSWORD, &path).unwrap()), SECRET);
            assert!(matches!(
                ks.decrypt("testpassword", &path),
                Err(KeystoreError::WrongPassword { .. })
            ));
        }
    }

    #[test]
    fn round_trip_and_bounds() {
        let secret = [7u8; 32];
        for kdf in [Kdf::Scrypt { log_n: 10 }, Kdf::Pbkdf2 { c: 1000 }] {
            let ks = Eip2335::encrypt(&secret, "pässword", b"pk", "test", kdf);
            let text = serde_json::to_string(&ks).unwrap();
            let back = Eip2335::from_json(&text, "t").unwrap();
            assert_eq!(back.decrypt("pässword", "t").unwrap(), secret);
            assert!(matches!(
                back.decrypt("password", "t"),
                Err(KeystoreError::WrongPassword { .. })
            ));
        }
        // A hostile file asking for 2^30 scrypt work is refused before any is done.
        let mut ks = Eip2335::encrypt(&secret, "p", b"", "", Kdf::Scrypt { log_n: 10 });
        ks.crypto.kdf.params["n"] = json!(1u64 << 30);
        let text = serde_json::to_string(&ks).unwrap();
        assert!(matches!(
            Eip2335::from_json(&text, "t"),
            Err(KeystoreError::Invalid { .. })
        ));
        ks.crypto.kdf.params["n"] = json!(1000);
        let text = serde_json::to_string(&ks).unwrap();
        assert!(Eip2335::from_json(&text, "t").is_err());
    }

    #[test]
    fn web3_round_trip() {
        let dir = crate::TempDir::new("web3");
        let path = dir.0.join("eth.json");
        let secret = [9u8; 32];
        write_web3(&path, &secret, "pw").unwrap();
        assert!(write_web3(&path, &secret, "pw").is_err(), "never replaces");
        let signer = read_web3(&path, "pw").unwrap();
        assert_eq!(signer.to_bytes().0, secret);
        assert!(matches!(
            read_web3(&path, "nope"),
            Err(KeystoreError::WrongPassword { .. })
        ));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
