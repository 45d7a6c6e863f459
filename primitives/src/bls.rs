//! BLS12-381 signatures, blst `min_pk` (public keys in G1, 48 bytes; signatures in G2, 96
//! bytes), ciphersuite `BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_`, with proofs of
//! possession against rogue-key aggregation, and the messages DA nodes sign.

use alloy_primitives::{Address, B256, U256, keccak256};
use alloy_sol_types::SolValue;
use blst::BLST_ERROR;
use blst::min_pk::{AggregatePublicKey, AggregateSignature, PublicKey, SecretKey, Signature};

use crate::bytes::fixed_bytes;
use crate::constants::{ATTESTATION_DOMAIN, EPOCH_REGISTRATION_DOMAIN, POP_DOMAIN};

/// Hash-to-curve domain separation tag of ordinary signatures.
pub const DST_SIGNATURE: &[u8] = b"BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";
/// Hash-to-curve domain separation tag of proofs of possession.
pub const DST_POP: &[u8] = b"BLS_POP_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";

fixed_bytes!(
    /// A compressed BLS public key (G1, 48 bytes).
    BlsPublicKey,
    48
);
fixed_bytes!(
    /// A compressed BLS signature (G2, 96 bytes).
    BlsSignature,
    96
);

/// BLS failures. All are the caller's bad input except none: there is no retryable case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlsError {
    /// Secret key bytes are not a valid scalar, or key material is too short.
    #[error("invalid BLS secret key")]
    InvalidSecretKey,
    /// A public key is not a valid, non-identity G1 point in the subgroup.
    #[error("invalid BLS public key")]
    InvalidPublicKey,
    /// A signature is not a valid G2 point in the subgroup.
    #[error("invalid BLS signature encoding")]
    InvalidSignatureEncoding,
    /// The signature does not verify.
    #[error("BLS signature verification failed")]
    VerificationFailed,
    /// The signer bitmap has the wrong length or marks non-members.
    #[error("bad signer bitmap: {0}")]
    BadBitmap(String),
    /// Fewer signers than the threshold.
    #[error("{signers} signers is below the threshold of {threshold}")]
    BelowThreshold {
        /// Signers in the bitmap.
        signers: usize,
        /// Required signers.
        threshold: usize,
    },
    /// Nothing to aggregate.
    #[error("no signatures to aggregate")]
    Empty,
}

/// A BLS secret key. Its `Debug` never shows the key.
#[derive(Clone)]
pub struct BlsSecretKey(SecretKey);

impl core::fmt::Debug for BlsSecretKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "BlsSecretKey(<redacted>, pk {})", self.public_key())
    }
}

impl BlsSecretKey {
    /// Derives a key from ≥ 32 bytes of secret randomness (IETF KeyGen).
    pub fn from_ikm(ikm: &[u8]) -> Result<Self, BlsError> {
        SecretKey::key_gen(ikm, &[])
            .map(Self)
            .map_err(|_| BlsError::InvalidSecretKey)
    }

    /// Parses a 32-byte big-endian scalar.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BlsError> {
        SecretKey::from_bytes(bytes)
            .map(Self)
            .map_err(|_| BlsError::InvalidSecretKey)
    }

    /// The 32-byte scalar (for key files; handle with care).
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The public key.
    pub fn public_key(&self) -> BlsPublicKey {
        BlsPublicKey(self.0.sk_to_pk().compress())
    }

    /// Signs a 32-byte message hash with the signature DST.
    pub fn sign(&self, message: &B256) -> BlsSignature {
        BlsSignature(
            self.0
                .sign(message.as_slice(), DST_SIGNATURE, &[])
                .compress(),
        )
    }

    /// The proof of possession binding this key to `signer` on chain `chain_id`.
    pub fn proof_of_possession(&self, chain_id: u64, signer: Address) -> BlsSignature {
        let msg = pop_message(chain_id, signer, &self.public_key());
        BlsSignature(self.0.sign(msg.as_slice(), DST_POP, &[]).compress())
    }
}

impl BlsPublicKey {
    /// Decompresses and validates (on curve, in subgroup, not the identity).
    pub fn to_point(&self) -> Result<PublicKey, BlsError> {
        PublicKey::key_validate(&self.0).map_err(|_| BlsError::InvalidPublicKey)
    }
}

impl BlsSignature {
    /// Decompresses and validates (on curve, in subgroup).
    pub fn to_point(&self) -> Result<Signature, BlsError> {
        Signature::sig_validate(&self.0, false).map_err(|_| BlsError::InvalidSignatureEncoding)
    }
}

fn check(e: BLST_ERROR) -> Result<(), BlsError> {
    match e {
        BLST_ERROR::BLST_SUCCESS => Ok(()),
        BLST_ERROR::BLST_PK_IS_INFINITY | BLST_ERROR::BLST_POINT_NOT_IN_GROUP => {
            Err(BlsError::InvalidPublicKey)
        }
        BLST_ERROR::BLST_BAD_ENCODING | BLST_ERROR::BLST_POINT_NOT_ON_CURVE => {
            Err(BlsError::InvalidSignatureEncoding)
        }
        _ => Err(BlsError::VerificationFailed),
    }
}

/// `keccak256(abi.encode("zg-da/attest/v1", chain_id, data_root, epoch, quorum_id,
/// blob_count))`: what a DA node signs once it verified and persisted its columns.
pub fn attestation_message(
    chain_id: u64,
    data_root: B256,
    epoch: u64,
    quorum_id: u64,
    blob_count: u32,
) -> B256 {
    payload_digest(
        ATTESTATION_DOMAIN,
        chain_id,
        data_root,
        epoch,
        quorum_id,
        blob_count,
    )
}

/// `keccak256(abi.encode(domain, chain_id, data_root, epoch, quorum_id, blob_count))`:
/// the digest of one payload's placement in one quorum, under a domain string.
pub(crate) fn payload_digest(
    domain: &str,
    chain_id: u64,
    data_root: B256,
    epoch: u64,
    quorum_id: u64,
    blob_count: u32,
) -> B256 {
    keccak256(
        (
            domain.to_string(),
            U256::from(chain_id),
            data_root,
            U256::from(epoch),
            U256::from(quorum_id),
            U256::from(blob_count),
        )
            .abi_encode_params(),
    )
}

/// `keccak256(abi.encode("zg-da/pop/v1", chain_id, signer, pubkey))`, signed with
/// [`DST_POP`]: proves knowledge of the key and binds it to one address.
pub fn pop_message(chain_id: u64, signer: Address, pubkey: &BlsPublicKey) -> B256 {
    keccak256(
        (
            POP_DOMAIN.to_string(),
            U256::from(chain_id),
            signer,
            alloy_primitives::Bytes::copy_from_slice(&pubkey.0),
        )
            .abi_encode_params(),
    )
}

/// `keccak256(abi.encode("zg-da/epoch/v1", chain_id, signer, epoch))`: the message of
/// `registerNextEpoch(signature)`. Ballots are `keccak256(signature)`.
pub fn epoch_registration_message(chain_id: u64, signer: Address, epoch: u64) -> B256 {
    keccak256(
        (
            EPOCH_REGISTRATION_DOMAIN.to_string(),
            U256::from(chain_id),
            signer,
            U256::from(epoch),
        )
            .abi_encode_params(),
    )
}

/// Verifies a single signature over a 32-byte message.
pub fn verify(pk: &BlsPublicKey, message: &B256, sig: &BlsSignature) -> Result<(), BlsError> {
    let pk = pk.to_point()?;
    let sig = sig.to_point()?;
    check(sig.verify(true, message.as_slice(), DST_SIGNATURE, &[], &pk, false))
}

/// Verifies a proof of possession for `pk` bound to `signer` on `chain_id`.
pub fn verify_pop(
    chain_id: u64,
    signer: Address,
    pk: &BlsPublicKey,
    pop: &BlsSignature,
) -> Result<(), BlsError> {
    let point = pk.to_point()?;
    let sig = pop.to_point()?;
    let msg = pop_message(chain_id, signer, pk);
    check(sig.verify(true, msg.as_slice(), DST_POP, &[], &point, false))
}

/// Aggregates signatures (each subgroup-checked).
pub fn aggregate_signatures(sigs: &[BlsSignature]) -> Result<BlsSignature, BlsError> {
    if sigs.is_empty() {
        return Err(BlsError::Empty);
    }
    let points = sigs
        .iter()
        .map(BlsSignature::to_point)
        .collect::<Result<Vec<_>, _>>()?;
    let refs: Vec<&Signature> = points.iter().collect();
    let agg = AggregateSignature::aggregate(&refs, true)
        .map_err(|_| BlsError::InvalidSignatureEncoding)?;
    Ok(BlsSignature(agg.to_signature().compress()))
}

/// Aggregates public keys (each validated). Only sound for keys with a verified proof of
/// possession.
pub fn aggregate_public_keys(pks: &[BlsPublicKey]) -> Result<BlsPublicKey, BlsError> {
    if pks.is_empty() {
        return Err(BlsError::Empty);
    }
    let points = pks
        .iter()
        .map(BlsPublicKey::to_point)
        .collect::<Result<Vec<_>, _>>()?;
    let refs: Vec<&PublicKey> = points.iter().collect();
    let agg =
        AggregatePublicKey::aggregate(&refs, false).map_err(|_| BlsError::InvalidPublicKey)?;
    Ok(BlsPublicKey(agg.to_public_key().compress()))
}

/// A signer bitmap over an ordered quorum: bit `i` (byte `i / 8`, bit `i % 8`, least
/// significant first) marks member `i`. Its length is exactly `ceil(n / 8)` bytes.
pub fn signer_bitmap(
    quorum_size: usize,
    signers: impl IntoIterator<Item = usize>,
) -> Result<Vec<u8>, BlsError> {
    let mut bitmap = vec![0u8; quorum_size.div_ceil(8)];
    for i in signers {
        if i >= quorum_size {
            return Err(BlsError::BadBitmap(format!(
                "member {i} outside a quorum of {quorum_size}"
            )));
        }
        bitmap[i / 8] |= 1 << (i % 8);
    }
    Ok(bitmap)
}

/// The members a bitmap marks, ascending; strict about length and stray bits.
pub fn bitmap_members(bitmap: &[u8], quorum_size: usize) -> Result<Vec<usize>, BlsError> {
    if bitmap.len() != quorum_size.div_ceil(8) {
        return Err(BlsError::BadBitmap(format!(
            "{} bytes for a quorum of {quorum_size} (need {})",
            bitmap.len(),
            quorum_size.div_ceil(8)
        )));
    }
    let members: Vec<usize> = (0..bitmap.len() * 8)
        .filter(|i| bitmap[i / 8] >> (i % 8) & 1 == 1)
        .collect();
    if let Some(&stray) = members.iter().find(|&&i| i >= quorum_size) {
        return Err(BlsError::BadBitmap(format!(
            "bit {stray} set beyond a quorum of {quorum_size}"
        )));
    }
    Ok(members)
}

/// Verifies an aggregate signature of the members a bitmap marks, over `message`, and
/// that they number at least `threshold`. Returns the signer count.
pub fn verify_quorum_aggregate(
    quorum: &[BlsPublicKey],
    bitmap: &[u8],
    aggregate: &BlsSignature,
    message: &B256,
    threshold: usize,
) -> Result<usize, BlsError> {
    let members = bitmap_members(bitmap, quorum.len())?;
    if members.len() < threshold.max(1) {
        return Err(BlsError::BelowThreshold {
            signers: members.len(),
            threshold,
        });
    }
    let pks: Vec<BlsPublicKey> = members.iter().map(|&i| quorum[i]).collect();
    let agg_pk = aggregate_public_keys(&pks)?;
    verify(&agg_pk, message, aggregate)?;
    Ok(members.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attestation_encoding_is_abi_encode() {
        let root = B256::repeat_byte(0x11);
        let m = attestation_message(16600, root, 3, 1, 9);
        // abi.encode(string, uint, bytes32, uint, uint, uint): head of 6 words, the
        // string's offset (0xc0) first, then length and padded contents.
        let mut buf = Vec::new();
        let word = |v: u64| U256::from(v).to_be_bytes::<32>();
        buf.extend_from_slice(&word(0xc0));
        buf.extend_from_slice(&word(16600));
        buf.extend_from_slice(root.as_slice());
        buf.extend_from_slice(&word(3));
        buf.extend_from_slice(&word(1));
        buf.extend_from_slice(&word(9));
        buf.extend_from_slice(&word(ATTESTATION_DOMAIN.len() as u64));
        let mut s = ATTESTATION_DOMAIN.as_bytes().to_vec();
        s.resize(32, 0);
        buf.extend_from_slice(&s);
        assert_eq!(m, keccak256(buf));
    }

    #[test]
    fn bitmaps() {
        assert_eq!(signer_bitmap(8, [0, 2, 7]).unwrap(), vec![0b1000_0101]);
        assert_eq!(signer_bitmap(9, [8]).unwrap(), vec![0, 1]);
        assert!(signer_bitmap(8, [8]).is_err());
        assert_eq!(bitmap_members(&[0b1000_0101], 8).unwrap(), vec![0, 2, 7]);
        assert!(bitmap_members(&[0, 0], 8).is_err());
        assert!(bitmap_members(&[0b1000_0000], 7).is_err());
        assert!(bitmap_members(&[], 8).is_err());
    }
}
