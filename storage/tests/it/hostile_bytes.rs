//! Property-based fuzzing of the storage node's outside-bytes decoders: the binary
//! segment upload body, KV stream data, segment proofs and the JSON shapes a node
//! answers with. Arbitrary and mutated valid inputs must give a typed error or a value,
//! never a panic or an allocation sized by a claimed length. `PROPTEST_CASES=20000` for
//! a longer run.

use alloy_primitives::B256;
use proptest::prelude::*;
use zg_storage::binary::{decode_segments, encode_segments};
use zg_storage::kv::{StreamData, Write};
use zg_storage::merkle::FileProof;
use zg_storage::{FileInfo, FileMerkle, SegmentWithProof};

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..max)
}

/// A valid upload body of a small file's segments, to mutate.
fn valid_body() -> Vec<u8> {
    let data = vec![7u8; 3 * zg_storage::SEGMENT_SIZE / 2];
    let m = FileMerkle::new(&data).unwrap();
    let segs: Vec<(u64, Vec<u8>, FileProof)> = (0..m.layout.segments())
        .map(|i| {
            (
                i,
                zg_storage::merkle::segment_upload_data(&data, i),
                m.tree.proof(i as usize).unwrap(),
            )
        })
        .collect();
    encode_segments(segs.iter().map(|(i, d, p)| (*i, d.as_slice(), p)))
}

fn valid_stream_data() -> Vec<u8> {
    StreamData {
        version: 3,
        reads: vec![(B256::repeat_byte(1), b"k".to_vec())],
        writes: vec![Write {
            stream: B256::repeat_byte(1),
            key: b"key".to_vec(),
            value: b"value".to_vec(),
        }],
        acls: vec![],
    }
    .encode()
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn segment_bodies_never_panic(b in bytes(4096)) {
        let _ = decode_segments(&b);
    }

    #[test]
    fn mutated_segment_bodies_never_panic(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..16),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut body = valid_body();
        for (i, v) in flips {
            let i = i.index(body.len());
            body[i] ^= v;
        }
        let cut = cut.index(body.len() + 1);
        let _ = decode_segments(&body[..cut]);
    }

    #[test]
    fn stream_data_never_panics(b in bytes(2048)) {
        let _ = StreamData::decode(&b);
    }

    #[test]
    fn mutated_stream_data_never_panics(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let mut b = valid_stream_data();
        for (i, v) in flips {
            let i = i.index(b.len());
            b[i] ^= v;
        }
        let _ = StreamData::decode(&b);
    }

    #[test]
    fn proofs_never_panic(
        lemma in proptest::collection::vec(any::<[u8; 32]>(), 0..70),
        path in proptest::collection::vec(any::<bool>(), 0..70),
        index in any::<u64>(),
        leaves in any::<u64>(),
    ) {
        let p = FileProof { lemma: lemma.into_iter().map(B256::from).collect(), path };
        let _ = p.verify(&B256::ZERO, &B256::repeat_byte(1), index, leaves);
        let _ = p.position(leaves);
    }

    /// Any claimed file size (a node's answer): the layout's arithmetic holds.
    #[test]
    fn layouts_of_any_size_never_panic(size in 1..=u64::MAX, i in any::<u64>()) {
        let l = zg_storage::merkle::FileLayout { size };
        let segments = l.segments();
        let _ = l.proof_leaves();
        let i = i % segments;
        let _ = l.segment_len(i);
        let _ = l.padded_segment_chunks(i);
    }

    #[test]
    fn node_json_never_panics(s in "[\\[\\]{}\":,0-9a-zA-Z\\-]{0,300}") {
        let _ = serde_json::from_str::<FileInfo>(&s);
        let _ = serde_json::from_str::<SegmentWithProof>(&s);
    }
}
