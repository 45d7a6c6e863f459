#![doc = include_str!("../README.md")]

use std::net::SocketAddr;
use std::num::NonZeroU32;

use alloy_primitives::B256;
use commonware_codec::{Copying, Decode, DecodeExt, Encode, Read};
use commonware_consensus::simplex::scheme::bls12381_threshold::vrf;
use commonware_consensus::simplex::types::Finalization;
use commonware_cryptography::bls12381::primitives::sharing::{ModeVersion, Sharing};
use commonware_cryptography::bls12381::primitives::variant::{MinSig, Variant as VariantTrait};
use commonware_cryptography::{ed25519, keccak256};
use commonware_parallel::Sequential;
use commonware_utils::N3f1;
use commonware_utils::ordered::{Quorum, Set};
use serde::{Deserialize, Serialize};

/// A validator's p2p identity (also its place in the ordered validator set).
pub type Identity = ed25519::PublicKey;
/// The BLS12-381 variant: 48-byte signatures (G1), 96-byte public keys (G2).
pub type Variant = MinSig;
/// The certificate scheme: BLS12-381 threshold signatures with a VRF seed per round.
pub type Scheme = vrf::Scheme<Identity, Variant>;
/// The consensus digest of a block: its Ethereum block hash.
pub type Digest = keccak256::Digest;
/// A finality certificate.
pub type Certificate = Finalization<Scheme, Digest>;

/// Most validators a genesis may name.
pub const MAX_VALIDATORS: usize = 1_024;

/// The namespace every consensus signature of a chain is domain-separated with.
pub fn namespace(chain_id: u64) -> Vec<u8> {
    format!("zg-chain/{chain_id}/simplex").into_bytes()
}

/// Why a validator set or a certificate is refused.
#[derive(Debug, thiserror::Error)]
pub enum FinalityError {
    /// The genesis validator set is malformed (invalid input; fatal for a node).
    #[error("consensus genesis: {0}")]
    Genesis(String),
    /// The certificate bytes do not decode.
    #[error("the finality certificate does not decode: {0}")]
    Malformed(String),
    /// The signature does not verify against the group key: forged, or for another
    /// chain or validator set.
    #[error("the finality certificate's signature does not verify")]
    BadSignature,
    /// It certifies another block than the one claimed.
    #[error("the certificate finalizes {certified}, not {claimed}")]
    WrongBlock {
        /// What it certifies.
        certified: B256,
        /// What it was said to certify.
        claimed: B256,
    },
}

/// The consensus part of genesis: who validates and the group key they share.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsensusGenesis {
    /// The validators, in any order (the set is ordered by identity).
    pub validators: Vec<GenesisValidator>,
    /// The threshold public polynomial (hex of its canonical encoding); its constant term
    /// is the group key finality certificates verify against.
    pub polynomial: String,
}

/// One validator in genesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenesisValidator {
    /// ed25519 public key, hex.
    pub identity: String,
    /// Where its consensus p2p listens (`host:port`).
    pub address: String,
}

/// The validator set a genesis names, decoded and checked.
#[derive(Clone, Debug)]
pub struct ValidatorSet {
    /// Identities, ordered.
    pub identities: Set<Identity>,
    /// Addresses by identity, as genesis writes them (`host:port`).
    pub addresses: Vec<(Identity, String)>,
    /// The threshold public polynomial.
    pub polynomial: Sharing<Variant>,
}

fn bad(what: impl std::fmt::Display) -> FinalityError {
    FinalityError::Genesis(what.to_string())
}

/// Decodes a hex identity.
pub fn parse_identity(hex_str: &str) -> Result<Identity, FinalityError> {
    let raw = hex::decode(hex_str.trim_start_matches("0x"))
        .map_err(|e| bad(format!("identity {hex_str}: {e}")))?;
    Identity::decode(raw).map_err(|e| bad(format!("identity {hex_str}: {e}")))
}

/// Hex of an identity.
pub fn identity_hex(id: &Identity) -> String {
    hex::encode(id.encode())
}

impl ConsensusGenesis {
    /// Decodes and checks the set: distinct identities, a polynomial for exactly this
    /// many validators with the BFT quorum (2f + 1 of 3f + 1) as threshold.
    pub fn decode(&self) -> Result<ValidatorSet, FinalityError> {
        if self.validators.is_empty() || self.validators.len() > MAX_VALIDATORS {
            return Err(bad(format!(
                "between 1 and {MAX_VALIDATORS} validators, not {}",
                self.validators.len()
            )));
        }
        let mut addresses = Vec::with_capacity(self.validators.len());
        for v in &self.validators {
            addresses.push((parse_identity(&v.identity)?, v.address.clone()));
        }
        addresses.sort_by(|a, b| a.0.cmp(&b.0));
        let identities =
            Set::try_from(addresses.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>())
                .map_err(|_| bad("an identity is listed twice"))?;
        let polynomial = decode_polynomial(&self.polynomial)?;
        if polynomial.total().get() as usize != identities.len()
            || polynomial.required() != identities.quorum::<N3f1>()
        {
            return Err(bad(format!(
                "the polynomial is for {} validators with threshold {}, the set has {} (quorum {})",
                polynomial.total(),
                polynomial.required(),
                identities.len(),
                identities.quorum::<N3f1>()
            )));
        }
        Ok(ValidatorSet {
            identities,
            addresses,
            polynomial,
        })
    }

    /// The group key (hex) certificates verify against.
    pub fn group_key(&self) -> Result<String, FinalityError> {
        Ok(hex::encode(
            decode_polynomial(&self.polynomial)?.public().encode(),
        ))
    }
}

fn decode_polynomial(hex_str: &str) -> Result<Sharing<Variant>, FinalityError> {
    let raw = hex::decode(hex_str.trim_start_matches("0x"))
        .map_err(|e| bad(format!("polynomial: {e}")))?;
    let max = NonZeroU32::new(MAX_VALIDATORS as u32).expect("non-zero");
    Sharing::<Variant>::decode_cfg(raw, &(max, ModeVersion::v0()))
        .map_err(|e| bad(format!("polynomial: {e}")))
}

/// Resolves `host:port` (a name or an IP).
pub fn resolve(address: &str) -> Result<SocketAddr, FinalityError> {
    use std::net::ToSocketAddrs;
    address
        .to_socket_addrs()
        .map_err(|e| bad(format!("address {address}: {e}")))?
        .next()
        .ok_or_else(|| bad(format!("address {address} resolves to nothing")))
}

/// What a verified certificate says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Finalized {
    /// The finalized block's hash.
    pub block: B256,
    /// The consensus view it was finalized in.
    pub view: u64,
}

/// Checks finality certificates of one chain against its group key.
#[derive(Clone, Debug)]
pub struct FinalityVerifier {
    scheme: Scheme,
}

impl FinalityVerifier {
    /// A verifier for the chain `chain_id` whose genesis names `genesis`.
    pub fn from_genesis(chain_id: u64, genesis: &ConsensusGenesis) -> Result<Self, FinalityError> {
        let polynomial = decode_polynomial(&genesis.polynomial)?;
        Ok(Self::from_group_key(chain_id, *polynomial.public()))
    }

    /// A verifier from the group key alone.
    pub fn from_group_key(chain_id: u64, key: <Variant as VariantTrait>::Public) -> Self {
        Self {
            scheme: Scheme::certificate_verifier(&namespace(chain_id), key),
        }
    }

    /// Decodes and verifies a certificate (one pairing check).
    pub fn verify(&self, bytes: &[u8]) -> Result<Finalized, FinalityError> {
        let mut input = Copying(bytes);
        let cert = Certificate::read_cfg(&mut input, &())
            .map_err(|e| FinalityError::Malformed(e.to_string()))?;
        if !input.0.is_empty() {
            return Err(FinalityError::Malformed(format!(
                "{} trailing bytes",
                input.0.len()
            )));
        }
        let mut rng = commonware_utils::sys_rng();
        if !cert.verify(&mut rng, &self.scheme, &Sequential) {
            return Err(FinalityError::BadSignature);
        }
        Ok(Finalized {
            block: B256::from(cert.proposal.payload.0),
            view: cert.proposal.round.view().get(),
        })
    }

    /// Verifies that `bytes` finalize the block `hash`.
    pub fn verify_block(&self, bytes: &[u8], hash: B256) -> Result<Finalized, FinalityError> {
        let f = self.verify(bytes)?;
        if f.block != hash {
            return Err(FinalityError::WrongBlock {
                certified: f.block,
                claimed: hash,
            });
        }
        Ok(f)
    }
}
