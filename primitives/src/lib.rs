#![doc = include_str!("../README.md")]

pub mod abi;
pub mod bls;
mod bytes;
pub mod codec;
pub mod commitment;
pub mod committee;
pub mod constants;
pub mod custody;
pub mod encoding;
pub mod header;
pub mod kzg;
pub mod sampling;
pub mod wire;

pub use bls::{
    BlsError, BlsPublicKey, BlsSecretKey, BlsSignature, aggregate_public_keys,
    aggregate_signatures, attestation_message, bitmap_members, epoch_registration_message,
    pop_message, signer_bitmap, verify_pop, verify_quorum_aggregate,
};
pub use bytes::{LengthError, to_hex};
pub use codec::{Blob, CodecError, blob_count, decode_blobs, encode_payload, payload_capacity};
pub use commitment::{AltDaCommitment, Certificate, CommitmentError};
pub use committee::{
    ballot, ballot_weight, displaced, form_quorums, pack_registrant, unpack_registrant,
};
pub use constants::*;
pub use custody::{custodian, custody_columns, min_threshold, recovery_nodes};
pub use encoding::{
    Column, ColumnError, EncodeError, EncodedPayload, RecoverError, encode, payload_data_root,
    recover_payload, verify_columns,
};
pub use header::{BlobHeader, HeaderError, MerkleProof, data_root, merkle_root};
pub use kzg::{
    Cell, CellCheck, ExtendedBlob, KZG_SETUP_EIP2537_LEN, Kzg, KzgCommitment, KzgError, KzgProof,
    Precompute, kzg_setup_eip2537,
};
pub use sampling::{availability_confidence, sample_quality, samples_for_confidence};
pub use wire::{
    HeaderRequest, HeaderResponse, SampleRefusal, SampleRequest, SampleResponse, StorePrelude,
    StoreRefusal, StoreRequest, StoreResponse,
};

/// Re-exports of the alloy primitive types used in this crate's API.
pub use alloy_primitives::{Address, B256, U256, keccak256};
