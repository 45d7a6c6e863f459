use proptest::prelude::*;
use zg_primitives::{
    Blob, CodecError, DEFAULT_MAX_PAYLOAD, blob_count, decode_blobs, encode_payload,
};

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn round_trip(payload in prop::collection::vec(any::<u8>(), 1..300_000)) {
        let blobs = encode_payload(&payload, DEFAULT_MAX_PAYLOAD).unwrap();
        prop_assert_eq!(blobs.len(), blob_count(payload.len()));
        for b in &blobs {
            // Every element is below the modulus: high byte zero.
            prop_assert!(b.as_bytes().chunks(32).all(|e| e[0] == 0));
        }
        prop_assert_eq!(decode_blobs(&blobs).unwrap(), payload);
    }

    /// Arbitrary blob bytes never panic the decoder: they decode or give a typed error.
    #[test]
    fn decode_never_panics(seed in any::<u64>(), count in 1usize..3, flips in prop::collection::vec((0usize..131_072, any::<u8>()), 0..16)) {
        let payload: Vec<u8> = (0..(seed % 200_000 + 1)).map(|i| (i ^ seed) as u8).collect();
        let mut blobs = encode_payload(&payload, DEFAULT_MAX_PAYLOAD).unwrap();
        blobs.truncate(count);
        while blobs.len() < count { blobs.push(Blob::zeroed()); }
        for (i, v) in flips {
            let b = i % blobs.len();
            blobs[b].as_bytes_mut()[i] = v;
        }
        let _ = decode_blobs(&blobs);
    }
}

#[test]
fn max_payload_is_enforced_and_reachable() {
    let payload = vec![0x5a; DEFAULT_MAX_PAYLOAD];
    let blobs = encode_payload(&payload, DEFAULT_MAX_PAYLOAD).unwrap();
    assert_eq!(blobs.len(), 133);
    assert_eq!(decode_blobs(&blobs).unwrap(), payload);
    let over = vec![0u8; DEFAULT_MAX_PAYLOAD + 1];
    assert!(matches!(
        encode_payload(&over, DEFAULT_MAX_PAYLOAD),
        Err(CodecError::PayloadTooLarge { .. })
    ));
}
