//! Node keys: the BLS signing key, the Ethereum account key and the libp2p identity.
//!
//! Two forms: an **encrypted key directory** (`keygen` writes it when given a password)
//! holding `bls.json` (an EIP-2335 keystore of the BLS key), `eth.json` (a Web3 Secret
//! Storage v3 file of the Ethereum key, which geth, `eth_account` and ethers read) and
//! `p2p.json` (an EIP-2335 keystore of the ed25519 seed), all mode 0600 in a 0700
//! directory; or the older **plaintext key file** (one JSON file, mode 0600), which
//! `keys import` / `keys export` convert. Keys are never logged: the types' `Debug`
//! shows public parts only.

use std::path::Path;

use alloy::signers::local::PrivateKeySigner;
use alloy_primitives::{Address, B256};
use libp2p::identity::Keypair;
use serde::{Deserialize, Serialize};
use zg_primitives::{BlsPublicKey, BlsSecretKey};

/// A key file could not be made or used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Reading or writing failed.
    #[error("key file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is readable by others.
    #[error(
        "key file {path} has mode {mode:o}; it must not be readable by group or others (chmod 600)"
    )]
    Permissions {
        /// The file.
        path: String,
        /// Its mode bits.
        mode: u32,
    },
    /// The content is not a key file, or a key is invalid.
    #[error("key file {path}: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

impl From<zg_node_kit::KeystoreError> for KeyError {
    fn from(e: zg_node_kit::KeystoreError) -> Self {
        match e {
            zg_node_kit::KeystoreError::File(f) => f.into(),
            zg_node_kit::KeystoreError::Invalid { path, reason } => Self::Invalid { path, reason },
            zg_node_kit::KeystoreError::WrongPassword { path } => Self::Invalid {
                path,
                reason: "wrong password".into(),
            },
            zg_node_kit::KeystoreError::Password(reason) => Self::Invalid {
                path: "password".into(),
                reason,
            },
        }
    }
}

/// The files of an encrypted key directory.
const BLS_KEYSTORE: &str = "bls.json";
const ETH_KEYSTORE: &str = "eth.json";
const P2P_KEYSTORE: &str = "p2p.json";

impl From<zg_node_kit::SecretFileError> for KeyError {
    fn from(e: zg_node_kit::SecretFileError) -> Self {
        match e {
            zg_node_kit::SecretFileError::Io { path, source } => Self::Io { path, source },
            zg_node_kit::SecretFileError::Permissions { path, mode } => {
                Self::Permissions { path, mode }
            }
        }
    }
}

#[derive(Serialize, Deserialize)]
struct KeyFileJson {
    version: u32,
    address: Address,
    bls_public_key: String,
    eth_secret: B256,
    bls_secret: B256,
    p2p_secret: B256,
}

/// The keys of a DA node (or a disperser, which uses the Ethereum key only).
#[derive(Clone)]
pub struct NodeKeys {
    /// Ethereum account key (registration, deposits, anchoring).
    pub eth: PrivateKeySigner,
    /// BLS signing key.
    pub bls: BlsSecretKey,
    /// libp2p identity (ed25519).
    pub p2p: Keypair,
}

impl std::fmt::Debug for NodeKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeKeys")
            .field("address", &self.eth.address())
            .field("bls_public_key", &self.bls.public_key())
            .field("peer_id", &self.p2p.public().to_peer_id())
            .finish()
    }
}

impl NodeKeys {
    /// Fresh random keys from the operating system's generator.
    pub fn generate() -> Self {
        let eth = loop {
            let bytes: [u8; 32] = rand::random();
            if let Ok(s) = PrivateKeySigner::from_bytes(&B256::from(bytes)) {
                break s;
            }
        };
        let ikm: [u8; 32] = rand::random();
        let bls = BlsSecretKey::from_ikm(&ikm).expect("32 bytes of key material are enough");
        let mut seed: [u8; 32] = rand::random();
        let p2p = Keypair::ed25519_from_bytes(&mut seed).expect("32-byte ed25519 seed");
        Self { eth, bls, p2p }
    }

    /// Keys derived deterministically from the given Ethereum key and a seed (tests and
    /// the devnet, where accounts are the dev mnemonic's).
    pub fn from_eth_key(eth: PrivateKeySigner, seed: &[u8]) -> Self {
        let material = zg_primitives::keccak256([eth.to_bytes().as_slice(), seed].concat());
        let bls = BlsSecretKey::from_ikm(material.as_slice()).expect("32 bytes of key material");
        let mut p2p_seed = zg_primitives::keccak256(material).0;
        let p2p = Keypair::ed25519_from_bytes(&mut p2p_seed).expect("32-byte ed25519 seed");
        Self { eth, bls, p2p }
    }

    /// The account address.
    pub fn address(&self) -> Address {
        self.eth.address()
    }

    /// The BLS public key.
    pub fn bls_public_key(&self) -> BlsPublicKey {
        self.bls.public_key()
    }

    /// Writes a new key file with mode 0600, atomically; refuses to overwrite an
    /// existing file.
    pub fn write(&self, path: &Path) -> Result<(), KeyError> {
        let p2p_secret = self
            .p2p
            .clone()
            .try_into_ed25519()
            .map_err(|e| KeyError::Invalid {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?
            .secret();
        let json = KeyFileJson {
            version: 1,
            address: self.address(),
            bls_public_key: zg_primitives::to_hex(self.bls.public_key().as_bytes()),
            eth_secret: self.eth.to_bytes(),
            bls_secret: B256::from(self.bls.to_bytes()),
            p2p_secret: B256::from_slice(p2p_secret.as_ref()),
        };
        let text = serde_json::to_string_pretty(&json).expect("key file serializes");
        Ok(zg_node_kit::write_secret(path, text.as_bytes())?)
    }

    /// Writes an encrypted key directory at `dir` (created 0700; refuses one that exists)
    /// with the three keystores under `password`.
    pub fn write_encrypted(
        &self,
        dir: &Path,
        password: &str,
        kdf: zg_node_kit::Kdf,
    ) -> Result<(), KeyError> {
        let p = dir.display().to_string();
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        if let Some(parent) = dir.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| KeyError::Io {
                path: p.clone(),
                source,
            })?;
        }
        builder
            .create(dir)
            .map_err(|source| KeyError::Io { path: p, source })?;
        let bls = zg_node_kit::Eip2335::encrypt(
            &self.bls.to_bytes(),
            password,
            self.bls.public_key().as_bytes(),
            "zg-da BLS12-381 signing key",
            kdf,
        );
        bls.write(&dir.join(BLS_KEYSTORE))?;
        let p2p = self
            .p2p
            .clone()
            .try_into_ed25519()
            .map_err(|e| KeyError::Invalid {
                path: dir.display().to_string(),
                reason: e.to_string(),
            })?;
        let p2p_ks = zg_node_kit::Eip2335::encrypt(
            p2p.secret().as_ref(),
            password,
            &p2p.public().to_bytes(),
            "zg-da libp2p ed25519 identity (seed)",
            kdf,
        );
        p2p_ks.write(&dir.join(P2P_KEYSTORE))?;
        zg_node_kit::write_web3(&dir.join(ETH_KEYSTORE), &self.eth.to_bytes().0, password)?;
        Ok(())
    }

    /// Reads an encrypted key directory with `password`.
    pub fn read_encrypted(dir: &Path, password: &str) -> Result<Self, KeyError> {
        let file = |name: &str| dir.join(name);
        let invalid = |name: &str, reason: String| KeyError::Invalid {
            path: file(name).display().to_string(),
            reason,
        };
        let bls_ks = zg_node_kit::Eip2335::read(&file(BLS_KEYSTORE))?;
        let bls_path = file(BLS_KEYSTORE).display().to_string();
        let secret = bls_ks.decrypt(password, &bls_path)?;
        let bls =
            BlsSecretKey::from_bytes(&secret).map_err(|e| invalid(BLS_KEYSTORE, e.to_string()))?;
        if hex::encode(bls.public_key().as_bytes()) != bls_ks.pubkey.trim_start_matches("0x") {
            return Err(invalid(
                BLS_KEYSTORE,
                "the key does not match its pubkey".into(),
            ));
        }
        let p2p_ks = zg_node_kit::Eip2335::read(&file(P2P_KEYSTORE))?;
        let mut seed = p2p_ks.decrypt(password, &file(P2P_KEYSTORE).display().to_string())?;
        let p2p = Keypair::ed25519_from_bytes(&mut seed)
            .map_err(|e| invalid(P2P_KEYSTORE, e.to_string()))?;
        let eth = zg_node_kit::read_web3(&file(ETH_KEYSTORE), password)?;
        Ok(Self { eth, bls, p2p })
    }

    /// Reads keys from `path`: an encrypted key directory (`password` needed) or a
    /// plaintext key file.
    pub fn load(path: &Path, password: Option<&str>) -> Result<Self, KeyError> {
        if path.is_dir() {
            let password = password.ok_or_else(|| KeyError::Invalid {
                path: path.display().to_string(),
                reason: "an encrypted key directory needs a password \
                         (--key.password-file or ZG_KEY_PASSWORD)"
                    .into(),
            })?;
            return Self::read_encrypted(path, password);
        }
        Self::read(path)
    }

    /// Reads a key file; refuses files that group or others can read.
    pub fn read(path: &Path) -> Result<Self, KeyError> {
        let p = path.display().to_string();
        let bytes = zg_node_kit::read_secret(path)?;
        let text = String::from_utf8_lossy(&bytes);
        let invalid = |reason: String| KeyError::Invalid {
            path: p.clone(),
            reason,
        };
        let json: KeyFileJson = serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        if json.version != 1 {
            return Err(invalid(format!("unsupported version {}", json.version)));
        }
        let eth = PrivateKeySigner::from_bytes(&json.eth_secret)
            .map_err(|e| invalid(format!("eth_secret: {e}")))?;
        if eth.address() != json.address {
            return Err(invalid("address does not match eth_secret".into()));
        }
        let bls = BlsSecretKey::from_bytes(json.bls_secret.as_slice())
            .map_err(|e| invalid(format!("bls_secret: {e}")))?;
        let mut seed = json.p2p_secret.0;
        let p2p = Keypair::ed25519_from_bytes(&mut seed)
            .map_err(|e| invalid(format!("p2p_secret: {e}")))?;
        Ok(Self { eth, bls, p2p })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_round_trip_and_mode() {
        let dir = std::env::temp_dir().join(format!("zg-keys-{}", std::process::id()));
        let path = dir.join("node.key");
        let _ = std::fs::remove_file(&path);
        let keys = NodeKeys::generate();
        keys.write(&path).unwrap();
        // Never overwrites.
        assert!(keys.write(&path).is_err());
        let back = NodeKeys::read(&path).unwrap();
        assert_eq!(back.address(), keys.address());
        assert_eq!(back.bls_public_key(), keys.bls_public_key());
        assert_eq!(back.p2p.public(), keys.p2p.public());
        // Debug shows no secret.
        let dbg = format!("{keys:?}");
        assert!(!dbg.contains(&hex::encode(keys.bls.to_bytes())));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(matches!(
                NodeKeys::read(&path),
                Err(KeyError::Permissions { .. })
            ));
        }
        std::fs::write(dir.join("bad.key"), "{}").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.join("bad.key"), std::fs::Permissions::from_mode(0o600))
                .unwrap();
        }
        assert!(matches!(
            NodeKeys::read(&dir.join("bad.key")),
            Err(KeyError::Invalid { .. })
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn encrypted_key_directory_round_trip() {
        let tmp = zg_node_kit::TempDir::new("keys-enc");
        let dir = tmp.0.join("node");
        let keys = NodeKeys::generate();
        let kdf = zg_node_kit::Kdf::Scrypt { log_n: 10 };
        keys.write_encrypted(&dir, "correct horse", kdf).unwrap();
        assert!(
            keys.write_encrypted(&dir, "x", kdf).is_err(),
            "never overwrites"
        );
        let back = NodeKeys::load(&dir, Some("correct horse")).unwrap();
        assert_eq!(back.address(), keys.address());
        assert_eq!(back.bls_public_key(), keys.bls_public_key());
        assert_eq!(back.p2p.public(), keys.p2p.public());
        assert!(NodeKeys::load(&dir, Some("wrong")).is_err());
        assert!(NodeKeys::load(&dir, None).is_err());
        // No secret in the clear anywhere in the directory.
        for f in std::fs::read_dir(&dir).unwrap() {
            let text = std::fs::read_to_string(f.unwrap().path()).unwrap();
            assert!(!text.contains(&hex::encode(keys.bls.to_bytes())));
            assert!(!text.contains(&hex::encode(keys.eth.to_bytes())));
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
    }
}
