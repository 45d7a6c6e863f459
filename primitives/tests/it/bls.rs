use zg_primitives::{
    Address, B256, BlsError, BlsPublicKey, BlsSecretKey, BlsSignature, aggregate_public_keys,
    aggregate_signatures, attestation_message, bitmap_members, bls, signer_bitmap, verify_pop,
    verify_quorum_aggregate,
};

const CHAIN: u64 = 31337;

fn keys(n: usize) -> Vec<BlsSecretKey> {
    (0..n)
        .map(|i| BlsSecretKey::from_ikm(&[i as u8 + 1; 32]).unwrap())
        .collect()
}

fn addr(i: usize) -> Address {
    Address::repeat_byte(i as u8 + 0x10)
}

#[test]
fn keys_sign_verify_and_serialize() {
    let sk = BlsSecretKey::from_ikm(&[9; 32]).unwrap();
    let again = BlsSecretKey::from_bytes(&sk.to_bytes()).unwrap();
    assert_eq!(sk.public_key(), again.public_key());
    assert!(!format!("{sk:?}").contains(&hex::encode(sk.to_bytes())));
    let msg = B256::repeat_byte(3);
    let sig = sk.sign(&msg);
    bls::verify(&sk.public_key(), &msg, &sig).unwrap();
    assert_eq!(
        bls::verify(&sk.public_key(), &B256::repeat_byte(4), &sig),
        Err(BlsError::VerificationFailed)
    );
    assert!(BlsSecretKey::from_ikm(&[1; 16]).is_err());
    assert!(BlsSecretKey::from_bytes(&[0xff; 32]).is_err());
    assert_eq!(
        BlsPublicKey([0; 48]).to_point(),
        Err(BlsError::InvalidPublicKey)
    );
    assert!(BlsSignature([0x11; 96]).to_point().is_err());
}

#[test]
fn proof_of_possession_binds_key_address_and_chain() {
    let sk = BlsSecretKey::from_ikm(&[5; 32]).unwrap();
    let pk = sk.public_key();
    let pop = sk.proof_of_possession(CHAIN, addr(0));
    verify_pop(CHAIN, addr(0), &pk, &pop).unwrap();
    // Copied to another address or chain, it fails (no front-running registrations).
    assert_eq!(
        verify_pop(CHAIN, addr(1), &pk, &pop),
        Err(BlsError::VerificationFailed)
    );
    assert_eq!(
        verify_pop(1, addr(0), &pk, &pop),
        Err(BlsError::VerificationFailed)
    );
    // An ordinary signature over the same bytes is not a PoP (distinct DST).
    let msg = zg_primitives::pop_message(CHAIN, addr(0), &pk);
    assert_eq!(
        verify_pop(CHAIN, addr(0), &pk, &sk.sign(&msg)),
        Err(BlsError::VerificationFailed)
    );
}

#[test]
fn quorum_aggregate_with_missing_signers() {
    let sks = keys(8);
    let quorum: Vec<BlsPublicKey> = sks.iter().map(BlsSecretKey::public_key).collect();
    let msg = attestation_message(CHAIN, B256::repeat_byte(0xAB), 4, 1, 3);
    // Members 1 and 5 are down: six sign.
    let signers = [0, 2, 3, 4, 6, 7];
    let sigs: Vec<BlsSignature> = signers.iter().map(|&i| sks[i].sign(&msg)).collect();
    let agg = aggregate_signatures(&sigs).unwrap();
    let bitmap = signer_bitmap(8, signers).unwrap();
    assert_eq!(bitmap_members(&bitmap, 8).unwrap(), signers);
    assert_eq!(
        verify_quorum_aggregate(&quorum, &bitmap, &agg, &msg, 6),
        Ok(6)
    );

    // Below threshold.
    assert_eq!(
        verify_quorum_aggregate(&quorum, &bitmap, &agg, &msg, 7),
        Err(BlsError::BelowThreshold {
            signers: 6,
            threshold: 7
        })
    );
    // Wrong bitmap: claims member 1 instead of 0.
    let wrong = signer_bitmap(8, [1, 2, 3, 4, 6, 7]).unwrap();
    assert_eq!(
        verify_quorum_aggregate(&quorum, &wrong, &agg, &msg, 6),
        Err(BlsError::VerificationFailed)
    );
    // Bitmap claiming an extra signer who did not sign.
    let extra = signer_bitmap(8, [0, 1, 2, 3, 4, 6, 7]).unwrap();
    assert_eq!(
        verify_quorum_aggregate(&quorum, &extra, &agg, &msg, 6),
        Err(BlsError::VerificationFailed)
    );
    // Malformed bitmaps.
    assert!(matches!(
        verify_quorum_aggregate(&quorum, &[0xff, 0], &agg, &msg, 6),
        Err(BlsError::BadBitmap(_))
    ));
    assert!(matches!(
        verify_quorum_aggregate(&quorum[..7], &[0xff], &agg, &msg, 6),
        Err(BlsError::BadBitmap(_))
    ));
    // Another message (e.g. another epoch).
    let other = attestation_message(CHAIN, B256::repeat_byte(0xAB), 5, 1, 3);
    assert_eq!(
        verify_quorum_aggregate(&quorum, &bitmap, &agg, &other, 6),
        Err(BlsError::VerificationFailed)
    );
    // A forged aggregate: one signer's signature replaced by a signature on another message.
    let mut forged = sigs.clone();
    forged[0] = sks[0].sign(&other);
    let forged = aggregate_signatures(&forged).unwrap();
    assert_eq!(
        verify_quorum_aggregate(&quorum, &bitmap, &forged, &msg, 6),
        Err(BlsError::VerificationFailed)
    );
    // Garbage aggregate bytes.
    assert!(verify_quorum_aggregate(&quorum, &bitmap, &BlsSignature([7; 96]), &msg, 6).is_err());
    assert_eq!(aggregate_signatures(&[]), Err(BlsError::Empty));
}

/// `a - b` on G1, through blst's raw API (what a rogue-key attacker computes).
fn g1_sub(a: &BlsPublicKey, b: &BlsPublicKey) -> BlsPublicKey {
    use blst::*;
    unsafe {
        let (mut pa, mut pb) = (blst_p1_affine::default(), blst_p1_affine::default());
        assert_eq!(
            blst_p1_uncompress(&mut pa, a.0.as_ptr()),
            BLST_ERROR::BLST_SUCCESS
        );
        assert_eq!(
            blst_p1_uncompress(&mut pb, b.0.as_ptr()),
            BLST_ERROR::BLST_SUCCESS
        );
        let (mut ja, mut jb, mut out) =
            (blst_p1::default(), blst_p1::default(), blst_p1::default());
        blst_p1_from_affine(&mut ja, &pa);
        blst_p1_from_affine(&mut jb, &pb);
        blst_p1_cneg(&mut jb, true);
        blst_p1_add_or_double(&mut out, &ja, &jb);
        let mut bytes = [0u8; 48];
        blst_p1_compress(bytes.as_mut_ptr(), &out);
        BlsPublicKey(bytes)
    }
}

#[test]
fn rogue_key_is_rejected_by_proof_of_possession() {
    let honest = BlsSecretKey::from_ikm(&[1; 32]).unwrap();
    let attacker = BlsSecretKey::from_ikm(&[66; 32]).unwrap();
    // Rogue key: pk_r = pk_attacker − pk_honest, so pk_honest + pk_r = pk_attacker.
    let rogue = g1_sub(&attacker.public_key(), &honest.public_key());
    assert_eq!(
        aggregate_public_keys(&[honest.public_key(), rogue]).unwrap(),
        attacker.public_key()
    );
    // Without PoP the attack works: the attacker alone forges a "two-signer" aggregate.
    let msg = attestation_message(CHAIN, B256::repeat_byte(1), 1, 0, 1);
    let forged = attacker.sign(&msg);
    let quorum = [honest.public_key(), rogue];
    assert_eq!(
        verify_quorum_aggregate(&quorum, &[0b11], &forged, &msg, 2),
        Ok(2)
    );
    // So registration demands a PoP, which the attacker cannot make for pk_r: the best it
    // can do is sign with its own key, and that does not verify for pk_r.
    let attempt = attacker.proof_of_possession(CHAIN, addr(9));
    assert_eq!(
        verify_pop(CHAIN, addr(9), &rogue, &attempt),
        Err(BlsError::VerificationFailed)
    );
    let attempt2 = honest.proof_of_possession(CHAIN, addr(9));
    assert_eq!(
        verify_pop(CHAIN, addr(9), &rogue, &attempt2),
        Err(BlsError::VerificationFailed)
    );
}
