use proptest::prelude::*;
use zg_op_plugin::{Frame, encode_frames, parse_frames};
use zg_primitives::AltDaCommitment;

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// The path parser never panics, and whatever it accepts re-encodes to its input.
    #[test]
    fn commitment_paths_never_panic(s in "(0x)?[0-9a-fA-FxZ]{0,120}") {
        if let Ok(c) = AltDaCommitment::from_hex(&s) {
            prop_assert_eq!(c.to_hex(), s.to_lowercase());
        }
    }

    #[test]
    fn commitment_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..80)) {
        if let Ok(c) = AltDaCommitment::from_bytes(&b) {
            prop_assert_eq!(c.to_bytes(), b);
        }
    }

    /// The frame parser never panics on arbitrary bytes.
    #[test]
    fn frames_never_panic(b in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse_frames(&b);
    }

    /// Any frames round-trip, and any truncation of a valid body is refused.
    #[test]
    fn frames_round_trip(
        frames in proptest::collection::vec(
            (any::<[u8; 16]>(), any::<u16>(), proptest::collection::vec(any::<u8>(), 0..64), any::<bool>()),
            1..5,
        ),
        cut in any::<usize>(),
    ) {
        let frames: Vec<Frame<'_>> = frames
            .iter()
            .map(|(id, n, d, last)| Frame { channel_id: *id, number: *n, data: d, is_last: *last })
            .collect();
        let body = encode_frames(&frames);
        prop_assert_eq!(&parse_frames(&body).unwrap(), &frames);
        let cut = 1 + cut % (body.len() - 1);
        // Cutting inside the last frame always breaks it.
        let last_start = body.len() - (23 + frames.last().unwrap().data.len());
        if cut > last_start {
            prop_assert!(parse_frames(&body[..cut]).is_err());
        }
    }
}
