use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use zg_primitives::{
    Column, ColumnError, DEFAULT_MAX_PAYLOAD, Kzg, KzgError, RecoverError, custody_columns, encode,
    payload_data_root, recover_payload, verify_columns,
};

fn payload(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..len).map(|_| rng.random()).collect()
}

#[test]
fn encode_verify_recover_from_random_halves() {
    let kzg = Kzg::mainnet();
    let data = payload(300_000, 1); // 3 blobs
    let enc = encode(kzg, &data, DEFAULT_MAX_PAYLOAD).unwrap();
    enc.header.validate().unwrap();
    assert_eq!(enc.header.blob_count, 3);
    assert_eq!(enc.data_root, enc.header.data_root());
    // The commitments-only path gives the same root, and another payload another one.
    assert_eq!(payload_data_root(kzg, &data).unwrap(), enc.data_root);
    let mut other = data.clone();
    other[299_999] ^= 1;
    assert_ne!(payload_data_root(kzg, &other).unwrap(), enc.data_root);
    for (i, c) in enc.header.commitments.iter().enumerate() {
        let p = enc.header.inclusion_proof(i).unwrap();
        assert!(p.verify_commitment(c, enc.header.payload_len, &enc.data_root));
        let blob = enc.blobs[i].to_blob();
        assert_eq!(*c, kzg.commit(&blob).unwrap());
    }
    let all: Vec<Column> = enc.columns(&(0..128).collect::<Vec<u16>>());
    verify_columns(kzg, &enc.header, &all).unwrap();

    // Systematic path: columns 0..64 only.
    let first: Vec<Column> = all[..64].to_vec();
    assert_eq!(recover_payload(kzg, &enc.header, &first).unwrap(), data);

    // Random halves (and more), in random order.
    let mut rng = StdRng::seed_from_u64(7);
    for take in [64, 64, 64, 80] {
        let mut cols = all.clone();
        cols.shuffle(&mut rng);
        cols.truncate(take);
        assert_eq!(recover_payload(kzg, &enc.header, &cols).unwrap(), data);
    }

    // Second half only: full erasure decoding.
    assert_eq!(recover_payload(kzg, &enc.header, &all[64..]).unwrap(), data);

    // 63 columns are not enough.
    assert_eq!(
        recover_payload(kzg, &enc.header, &all[..63]),
        Err(RecoverError::NotEnoughColumns(63))
    );
}

#[test]
fn column_verification_rejects_tampering() {
    let kzg = Kzg::mainnet();
    let data = payload(150_000, 2); // 2 blobs
    let enc = encode(kzg, &data, DEFAULT_MAX_PAYLOAD).unwrap();
    // A DA node's custody set in an 8-member quorum.
    let cols = enc.columns(&custody_columns(3, 8));
    verify_columns(kzg, &enc.header, &cols).unwrap();

    let mut bad = cols.clone();
    bad[2].cells[1].as_bytes_mut()[100] ^= 1;
    assert_eq!(
        verify_columns(kzg, &enc.header, &bad),
        Err(ColumnError::Kzg(KzgError::InvalidProof))
    );

    let mut bad = cols.clone();
    bad[0].proofs.swap(0, 1);
    assert!(verify_columns(kzg, &enc.header, &bad).is_err());

    // A column relabelled as another index fails its proofs.
    let mut bad = cols.clone();
    bad[0].index = 4;
    assert_eq!(
        verify_columns(kzg, &enc.header, &bad),
        Err(ColumnError::Kzg(KzgError::InvalidProof))
    );

    let mut bad = cols.clone();
    bad[0].cells.pop();
    assert!(matches!(
        verify_columns(kzg, &enc.header, &bad),
        Err(ColumnError::Shape { .. })
    ));

    let mut bad = cols.clone();
    bad.push(cols[0].clone());
    assert_eq!(
        verify_columns(kzg, &enc.header, &bad),
        Err(ColumnError::Duplicate(cols[0].index))
    );

    let mut bad = cols.clone();
    bad[0].index = 128;
    assert_eq!(
        verify_columns(kzg, &enc.header, &bad),
        Err(ColumnError::IndexOutOfRange(128))
    );

    // A non-canonical field element in a cell is malformed input, not a panic.
    let mut bad = cols.clone();
    bad[1].cells[0].as_bytes_mut()[0] = 0xff;
    assert!(verify_columns(kzg, &enc.header, &bad).is_err());

    // Columns checked against another payload's header fail.
    let other = encode(kzg, &payload(150_000, 3), DEFAULT_MAX_PAYLOAD).unwrap();
    assert!(verify_columns(kzg, &other.header, &cols).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4, ..ProptestConfig::default() })]

    /// Commitments round-trip: encode, take any 64 columns, recover the exact payload;
    /// the data_root is a function of the payload alone.
    #[test]
    fn commitments_round_trip(len in 1usize..140_000, seed in any::<u64>(), pick in any::<u64>()) {
        let kzg = Kzg::mainnet();
        let data = payload(len, seed);
        let enc = encode(kzg, &data, DEFAULT_MAX_PAYLOAD).unwrap();
        let again = encode(kzg, &data, DEFAULT_MAX_PAYLOAD).unwrap();
        prop_assert_eq!(enc.data_root, again.data_root);
        let mut idx: Vec<u16> = (0..128).collect();
        idx.shuffle(&mut StdRng::seed_from_u64(pick));
        idx.truncate(64);
        let cols = enc.columns(&idx);
        verify_columns(kzg, &enc.header, &cols).unwrap();
        prop_assert_eq!(recover_payload(kzg, &enc.header, &cols).unwrap(), data);
    }
}

#[test]
fn cell_only_recovery_matches_full_recovery() {
    let kzg = Kzg::mainnet();
    let data = payload(100_000, 3);
    let enc = encode(kzg, &data, DEFAULT_MAX_PAYLOAD).unwrap();
    let blob = &enc.blobs[0];
    let mut rng = StdRng::seed_from_u64(11);
    let mut idx: Vec<u16> = (0..128).collect();
    for take in [64usize, 100] {
        idx.shuffle(&mut rng);
        let cells: Vec<(u16, &zg_primitives::Cell)> = idx[..take]
            .iter()
            .map(|&i| (i, &blob.cells[usize::from(i)]))
            .collect();
        let fast = kzg.recover_blob(&cells).unwrap();
        assert_eq!(fast.as_bytes(), blob.to_blob().as_bytes());
        assert_eq!(
            fast.as_bytes(),
            kzg.recover(&cells).unwrap().to_blob().as_bytes()
        );
    }
    let too_few: Vec<(u16, &zg_primitives::Cell)> = (64..127u16)
        .map(|i| (i, &blob.cells[usize::from(i)]))
        .collect();
    assert!(matches!(
        kzg.recover_blob(&too_few),
        Err(KzgError::NotEnoughCells { got: 63 })
    ));
}
