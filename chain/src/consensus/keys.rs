//! Validator identities and keys: the validator set in genesis (ed25519 identities, p2p
//! addresses, the BLS12-381 threshold public polynomial) and each validator's key file
//! (its identity key and its threshold share). `zg-chain keygen` deals them.

use std::net::SocketAddr;
use std::path::Path;

use commonware_codec::{DecodeExt, Encode};
use commonware_cryptography::bls12381::dkg::feldman_desmedt::deal;
use commonware_cryptography::bls12381::primitives::group::Share;
use commonware_cryptography::bls12381::primitives::sharing::Mode;
use commonware_cryptography::{Signer, ed25519};
use commonware_math::algebra::Random;
use commonware_utils::N3f1;
use commonware_utils::ordered::Set;
use serde::{Deserialize, Serialize};

use crate::ChainError;

pub use zg_finality::{
    ConsensusGenesis, GenesisValidator, Identity, MAX_VALIDATORS, Scheme, ValidatorSet, Variant,
    namespace,
};

/// Resolves `host:port` (a name or an IP).
pub fn resolve(address: &str) -> Result<SocketAddr, ChainError> {
    zg_finality::resolve(address).map_err(|e| ChainError::Config(e.to_string()))
}

fn bad(what: impl std::fmt::Display) -> ChainError {
    ChainError::Config(format!("consensus genesis: {what}"))
}

/// A validator's secret key material.
#[derive(Clone)]
pub struct ValidatorKey {
    /// Its p2p identity key.
    pub identity: ed25519::PrivateKey,
    /// Its share of the threshold key.
    pub share: Share,
}

#[derive(Serialize, Deserialize)]
struct KeyFile {
    identity: String,
    share: String,
}

impl std::fmt::Debug for ValidatorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValidatorKey")
            .field("identity", &self.public())
            .field("share_index", &self.share.index)
            .finish_non_exhaustive()
    }
}

impl ValidatorKey {
    /// Its public identity.
    pub fn public(&self) -> Identity {
        self.identity.public_key()
    }

    /// Writes the key file (atomically, mode 0600, never over an existing file).
    pub fn save(&self, path: &Path) -> Result<(), ChainError> {
        let file = KeyFile {
            identity: hex::encode(self.identity.encode()),
            share: hex::encode(self.share.encode()),
        };
        let json = serde_json::to_vec_pretty(&file).expect("serialises");
        zg_node_kit::secret::write_secret(path, &json)
            .map_err(|e| ChainError::Config(format!("{}: {e}", path.display())))
    }

    /// Reads a key file (refused when others can read it).
    pub fn load(path: &Path) -> Result<Self, ChainError> {
        let raw = zg_node_kit::secret::read_secret(path)
            .map_err(|e| ChainError::Config(format!("{}: {e}", path.display())))?;
        let file: KeyFile = serde_json::from_slice(&raw)
            .map_err(|e| ChainError::Config(format!("{}: {e}", path.display())))?;
        let field = |name: &str, hex_str: &str| {
            hex::decode(hex_str)
                .map_err(|e| ChainError::Config(format!("{}: {name}: {e}", path.display())))
        };
        let identity = ed25519::PrivateKey::decode(field("identity", &file.identity)?)
            .map_err(|e| ChainError::Config(format!("{}: identity: {e}", path.display())))?;
        let share = Share::decode(field("share", &file.share)?)
            .map_err(|e| ChainError::Config(format!("{}: share: {e}", path.display())))?;
        Ok(Self { identity, share })
    }
}

/// Deals keys for `addresses.len()` validators with a trusted dealer (this process): one
/// identity key each, and shares of a fresh threshold key with the BFT quorum
/// (2f + 1 of 3f + 1) as threshold. Returns the genesis section and each validator's key,
/// in the order of `addresses`.
///
/// The dealer sees every share; it must be an operator all validators trust for the
/// network's first epoch (a DKG among the validators removes that trust; see
/// docs/chain.md).
pub fn deal_validators(
    addresses: &[String],
) -> Result<(ConsensusGenesis, Vec<ValidatorKey>), ChainError> {
    if addresses.is_empty() || addresses.len() > MAX_VALIDATORS {
        return Err(bad(format!("between 1 and {MAX_VALIDATORS} validators")));
    }
    let mut rng = commonware_utils::sys_rng();
    let identities: Vec<ed25519::PrivateKey> = (0..addresses.len())
        .map(|_| ed25519::PrivateKey::random(&mut rng))
        .collect();
    let players = Set::try_from(
        identities
            .iter()
            .map(|k| k.public_key())
            .collect::<Vec<_>>(),
    )
    .map_err(|_| bad("two identical identity keys"))?;
    let (output, shares) = deal::<Variant, _, N3f1>(&mut rng, Mode::NonZeroCounter, players)
        .map_err(|e| bad(format!("dealing: {e:?}")))?;
    let polynomial = hex::encode(output.public().encode());
    let mut keys = Vec::with_capacity(identities.len());
    let mut validators = Vec::with_capacity(identities.len());
    for (identity, address) in identities.into_iter().zip(addresses) {
        let public = identity.public_key();
        let share = shares
            .get_value(&public)
            .ok_or_else(|| bad("a validator got no share"))?
            .clone();
        validators.push(GenesisValidator {
            identity: hex::encode(public.encode()),
            address: address.clone(),
        });
        keys.push(ValidatorKey { identity, share });
    }
    Ok((
        ConsensusGenesis {
            validators,
            polynomial,
        },
        keys,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dealt_keys_load_and_match_the_genesis_set() {
        let dir = zg_node_kit::TempDir::new("zg-keys");
        let addrs: Vec<String> = (0..4).map(|i| format!("127.0.0.1:{}", 30000 + i)).collect();
        let (genesis, keys) = deal_validators(&addrs).unwrap();
        let set = genesis.decode().unwrap();
        assert_eq!(set.identities.len(), 4);
        for (i, key) in keys.iter().enumerate() {
            let path = dir.0.join(format!("v{i}.json"));
            key.save(&path).unwrap();
            let back = ValidatorKey::load(&path).unwrap();
            assert_eq!(back.public(), key.public());
            assert_eq!(back.share, key.share);
            assert!(
                Scheme::signer(
                    &namespace(1),
                    set.identities.clone(),
                    set.polynomial.clone(),
                    back.share
                )
                .is_some()
            );
        }
        // A polynomial for another set size is refused.
        let (other, _) = deal_validators(&addrs[..1]).unwrap();
        let mixed = ConsensusGenesis {
            validators: genesis.validators.clone(),
            polynomial: other.polynomial,
        };
        assert!(mixed.decode().is_err());
        // The same identity twice is refused.
        let mut twice = genesis.clone();
        twice.validators[1].identity = twice.validators[0].identity.clone();
        assert!(twice.decode().is_err());
    }
}
