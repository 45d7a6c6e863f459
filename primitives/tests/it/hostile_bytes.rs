//! Property-based fuzzing of every decoder in this crate that takes outside bytes
//! (issue 17): arbitrary and mutated inputs must give an error or a value, never a
//! panic; whatever decodes re-encodes to something that decodes the same. Runs in CI at
//! a few hundred cases per decoder; `PROPTEST_CASES=100000` runs a longer campaign.

use alloy_primitives::B256;
use alloy_sol_types::SolInterface;
use proptest::prelude::*;
use zg_primitives::abi::{IDAEntrance, IDASampling, IDASigners, IFlow};
use zg_primitives::{
    AltDaCommitment, BYTES_PER_BLOB, Blob, BlobHeader, BlsPublicKey, BlsSignature, HeaderRequest,
    HeaderResponse, SampleRequest, SampleResponse, StoreRequest, StoreResponse, decode_blobs,
};

fn cbor<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    ciborium::from_reader::<T, _>(bytes).ok()
}

fn to_cbor<T: serde::Serialize>(v: &T) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(v, &mut out).unwrap();
    out
}

/// A valid store request's CBOR, to mutate.
fn store_request_bytes() -> Vec<u8> {
    let header = BlobHeader::new(100, vec![zg_primitives::KzgCommitment::from([0xc0; 48])]);
    to_cbor(&StoreRequest {
        chain_id: 16_600,
        epoch: 1,
        quorum_id: 0,
        data_root: header.data_root(),
        header,
        columns: Vec::new(),
        disperser_signature: vec![7; 65],
        traceparent: None,
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn commitments_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200), text in ".{0,200}") {
        if let Ok(c) = AltDaCommitment::from_bytes(&bytes) {
            prop_assert_eq!(AltDaCommitment::from_bytes(&c.to_bytes()).unwrap(), c);
        }
        let _ = AltDaCommitment::from_hex(&text);
    }

    #[test]
    fn wire_messages_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        if let Some(r) = cbor::<StoreRequest>(&bytes) {
            // The node's first checks on a decoded request must not panic either.
            let _ = r.check_origin(16_600);
            let _ = r.check_custody(0, 8);
            prop_assert!(cbor::<StoreRequest>(&to_cbor(&r)).is_some());
        }
        if let Some(p) = cbor::<zg_primitives::StorePrelude>(&bytes) {
            let _ = p.check_origin(16_600);
            let _ = zg_primitives::wire::columns_wire_bound(128, p.header.blob_count);
        }
        if let Some(r) = cbor::<SampleRequest>(&bytes) {
            let _ = r.check();
        }
        let _ = cbor::<HeaderRequest>(&bytes);
        let _ = cbor::<StoreResponse>(&bytes);
        let _ = cbor::<SampleResponse>(&bytes);
        let _ = cbor::<HeaderResponse>(&bytes);
        if let Some(h) = cbor::<BlobHeader>(&bytes) {
            let _ = h.validate();
            let _ = h.verify(&B256::ZERO);
        }
    }

    #[test]
    fn mutated_store_requests_never_panic(flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..16)) {
        let mut bytes = store_request_bytes();
        for (at, v) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= v;
        }
        if let Some(r) = cbor::<StoreRequest>(&bytes) {
            let _ = r.check_origin(16_600);
            let _ = r.check_custody(3, 8);
            let _ = r.header.validate();
            let (prelude, _) = r.into_parts();
            let _ = prelude.check_origin(16_600);
        }
    }

    #[test]
    fn keys_and_signatures_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        if let (Ok(pk), Ok(sig)) = (BlsPublicKey::try_from(&bytes[..bytes.len().min(48)]), BlsSignature::try_from(&bytes[bytes.len().saturating_sub(96)..])) {
            prop_assert!(zg_primitives::bls::verify(&pk, &B256::ZERO, &sig).is_err());
        }
    }

    #[test]
    fn module_calldata_never_panics(selector in prop::sample::select(selectors()), tail in prop::collection::vec(any::<u8>(), 0..600)) {
        let mut data = selector.to_vec();
        data.extend_from_slice(&tail);
        let _ = IDASigners::IDASignersCalls::abi_decode(&data);
        let _ = IDAEntrance::IDAEntranceCalls::abi_decode(&data);
        let _ = IDASampling::IDASamplingCalls::abi_decode(&data);
        let _ = IFlow::IFlowCalls::abi_decode(&data);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn blobs_never_panic(fill in any::<u8>(), edits in prop::collection::vec((0..BYTES_PER_BLOB, any::<u8>()), 0..64), blobs in 1usize..3) {
        let mut all = Vec::new();
        for _ in 0..blobs {
            let mut bytes = vec![fill; BYTES_PER_BLOB];
            for (i, v) in &edits {
                bytes[*i] = *v;
            }
            if let Ok(b) = Blob::from_bytes(&bytes) {
                all.push(b);
            }
        }
        let _ = decode_blobs(&all);
    }
}

/// Every function selector of the modules a transaction can call.
fn selectors() -> Vec<[u8; 4]> {
    let mut all = Vec::new();
    all.extend_from_slice(IDASigners::IDASignersCalls::SELECTORS);
    all.extend_from_slice(IDAEntrance::IDAEntranceCalls::SELECTORS);
    all.extend_from_slice(IDASampling::IDASamplingCalls::SELECTORS);
    all.extend_from_slice(IFlow::IFlowCalls::SELECTORS);
    all
}
