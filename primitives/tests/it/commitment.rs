use proptest::prelude::*;
use zg_primitives::{AltDaCommitment, B256, Certificate};

proptest! {
    #[test]
    fn generic_round_trip(epoch in any::<u64>(), quorum in any::<u64>(), root in any::<[u8; 32]>()) {
        let c = AltDaCommitment::Generic(Certificate { epoch, quorum_id: quorum, data_root: B256::from(root) });
        prop_assert_eq!(AltDaCommitment::from_bytes(&c.to_bytes()).unwrap(), c);
        prop_assert_eq!(AltDaCommitment::from_hex(&c.to_hex()).unwrap(), c);
    }

    #[test]
    fn keccak_round_trip(h in any::<[u8; 32]>()) {
        let c = AltDaCommitment::Keccak(B256::from(h));
        prop_assert_eq!(c.to_bytes().len(), 33);
        prop_assert_eq!(AltDaCommitment::from_hex(&c.to_hex()).unwrap(), c);
    }

    /// No byte string or text panics the parser; what parses re-encodes to the input.
    #[test]
    fn parser_total(bytes in prop::collection::vec(any::<u8>(), 0..80), text in ".{0,120}") {
        if let Ok(c) = AltDaCommitment::from_bytes(&bytes) {
            prop_assert_eq!(c.to_bytes(), bytes);
        }
        let _ = AltDaCommitment::from_hex(&text);
        let _ = AltDaCommitment::from_hex(&format!("0x{text}"));
    }
}
