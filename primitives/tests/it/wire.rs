use k256::ecdsa::SigningKey;
use zg_primitives::wire::store_request_digest;
use zg_primitives::{
    Address, B256, BlsSecretKey, DEFAULT_MAX_PAYLOAD, HeaderResponse, Kzg, SampleRequest,
    SampleResponse, StoreRefusal, StoreRequest, StoreResponse, custody_columns, encode,
};

fn cbor<T: serde::Serialize + serde::de::DeserializeOwned>(v: &T) -> T {
    let mut buf = Vec::new();
    ciborium::into_writer(v, &mut buf).unwrap();
    ciborium::from_reader(buf.as_slice()).unwrap()
}

fn sign(key: &SigningKey, digest: B256) -> Vec<u8> {
    let (sig, recid) = key.sign_prehash_recoverable(digest.as_slice()).unwrap();
    let mut out = sig.to_bytes().to_vec();
    out.push(27 + recid.to_byte());
    out
}

fn address_of(key: &SigningKey) -> Address {
    let point = key.verifying_key().to_encoded_point(false);
    Address::from_slice(&zg_primitives::keccak256(&point.as_bytes()[1..])[12..])
}

#[test]
fn store_request_round_trips_and_authenticates() {
    let kzg = Kzg::mainnet();
    let enc = encode(kzg, b"hello rollup", DEFAULT_MAX_PAYLOAD).unwrap();
    let key = SigningKey::from_slice(&[7u8; 32]).unwrap();
    let digest = store_request_digest(31337, enc.data_root, 2, 0, enc.header.blob_count);
    let req = StoreRequest {
        chain_id: 31337,
        epoch: 2,
        quorum_id: 0,
        data_root: enc.data_root,
        header: enc.header.clone(),
        columns: enc.columns(&custody_columns(1, 8)),
        disperser_signature: sign(&key, digest),
        traceparent: None,
    };
    let back = cbor(&req);
    assert_eq!(back, req);
    assert_eq!(back.recover_disperser().unwrap(), address_of(&key));

    // Any change to what was signed changes the recovered signer.
    let mut other = req.clone();
    other.epoch = 3;
    assert_ne!(other.recover_disperser().ok(), Some(address_of(&key)));
    let mut short = req.clone();
    short.disperser_signature.truncate(64);
    assert!(short.recover_disperser().is_err());

    let sig = BlsSecretKey::from_ikm(&[1; 32]).unwrap().sign(&digest);
    for resp in [
        StoreResponse::Signed { signature: sig },
        StoreResponse::Refused(StoreRefusal::WrongColumns {
            expected: vec![1, 9],
            got: vec![2],
        }),
        StoreResponse::Refused(StoreRefusal::OverCapacity("busy".into())),
    ] {
        assert_eq!(cbor(&resp), resp);
    }
    assert!(StoreRefusal::OverCapacity(String::new()).is_retryable());
    assert!(!StoreRefusal::BadProof(String::new()).is_retryable());

    let sample = SampleRequest {
        data_root: enc.data_root,
        columns: vec![0, 5, 127],
    };
    assert_eq!(cbor(&sample), sample);
    let resp = SampleResponse::Columns(enc.columns(&[0, 5]));
    assert_eq!(cbor(&resp), resp);
    let header = HeaderResponse::Found(enc.header.clone());
    assert_eq!(cbor(&header), header);

    // JSON (HTTP APIs) carries bytes as 0x-hex.
    let json = serde_json_like(&enc.header);
    assert!(json.contains(&enc.header.commitments[0].to_string()));
}

/// The header through a human-readable serde format.
fn serde_json_like(h: &zg_primitives::BlobHeader) -> String {
    serde_yaml::to_string(h).unwrap()
}

#[test]
fn malformed_cbor_is_an_error_not_a_panic() {
    let kzg = Kzg::mainnet();
    let enc = encode(kzg, &[1, 2, 3], DEFAULT_MAX_PAYLOAD).unwrap();
    let resp = SampleResponse::Columns(enc.columns(&[0]));
    let mut buf = Vec::new();
    ciborium::into_writer(&resp, &mut buf).unwrap();
    for cut in [0, 1, 10, buf.len() / 2, buf.len() - 1] {
        assert!(ciborium::from_reader::<SampleResponse, _>(&buf[..cut]).is_err());
    }
    // A cell of the wrong length is rejected by the type.
    let pos = buf
        .windows(3)
        .position(|w| w == [0x59, 0x08, 0x00])
        .expect("2048-byte string header");
    let mut bad = buf.clone();
    bad[pos + 2] = 0x01; // declare 2049 bytes
    assert!(ciborium::from_reader::<SampleResponse, _>(bad.as_slice()).is_err());
}
