//! The body format of a binary upload path beside 0G's JSON-RPC (our extension; 0G's SDKs keep using
//! `zgs_uploadSegments*`): `POST /v1/segments/{txSeq}` with the segments as raw bytes
//! instead of base64 inside JSON, checked and stored exactly as the JSON path does.
//!
//! Body: records, each
//! `index u64 BE ‖ len u32 BE ‖ data ‖ lemma count u8 ‖ lemma (32 bytes each) ‖
//! path length u8 ‖ path bits (bit j of byte j/8, LSB first)`. The root and file size
//! are the submission's. Answers `200 {"stored": n}`; a refusal is `400` (bad input),
//! `404` (unknown submission), `429` (too many uploads in flight), `503` (cluster
//! unavailable) or `500`, with a JSON `message`. The route itself is the API's
//! (`api::binary_router`).

use alloy_primitives::B256;

use crate::merkle::FileProof;

/// Most lemma entries a proof may carry.
const MAX_LEMMA: usize = 66;

/// A segment as the binary path carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BinarySegment {
    /// Segment index in the file.
    pub index: u64,
    /// Its bytes (whole chunks).
    pub data: Vec<u8>,
    /// Its proof against the file root.
    pub proof: FileProof,
}

/// Encodes segments for `POST /v1/segments/{txSeq}`.
pub fn encode_segments<'a>(
    segments: impl IntoIterator<Item = (u64, &'a [u8], &'a FileProof)>,
) -> Vec<u8> {
    let mut out = Vec::new();
    for (index, data, proof) in segments {
        out.extend_from_slice(&index.to_be_bytes());
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend_from_slice(data);
        out.push(proof.lemma.len() as u8);
        for h in &proof.lemma {
            out.extend_from_slice(h.as_slice());
        }
        out.push(proof.path.len() as u8);
        let mut bits = vec![0u8; proof.path.len().div_ceil(8)];
        for (j, &b) in proof.path.iter().enumerate() {
            if b {
                bits[j / 8] |= 1 << (j % 8);
            }
        }
        out.extend_from_slice(&bits);
    }
    out
}

/// Decodes a `POST /v1/segments/{txSeq}` body.
pub fn decode_segments(mut body: &[u8]) -> Result<Vec<BinarySegment>, String> {
    fn take<'a>(b: &mut &'a [u8], n: usize, what: &str) -> Result<&'a [u8], String> {
        if b.len() < n {
            return Err(format!("truncated {what}"));
        }
        let (head, rest) = b.split_at(n);
        *b = rest;
        Ok(head)
    }
    let mut out = Vec::new();
    while !body.is_empty() {
        let index = u64::from_be_bytes(take(&mut body, 8, "index")?.try_into().expect("8 bytes"));
        let len = u32::from_be_bytes(take(&mut body, 4, "length")?.try_into().expect("4 bytes"));
        let data = take(&mut body, len as usize, "data")?.to_vec();
        let lemmas = take(&mut body, 1, "lemma count")?[0] as usize;
        if lemmas == 0 || lemmas > MAX_LEMMA {
            return Err(format!("{lemmas} lemma entries"));
        }
        let lemma = take(&mut body, 32 * lemmas, "lemma")?
            .chunks(32)
            .map(B256::from_slice)
            .collect();
        let plen = take(&mut body, 1, "path length")?[0] as usize;
        let bits = take(&mut body, plen.div_ceil(8), "path")?;
        let path = (0..plen)
            .map(|j| bits[j / 8] & (1 << (j % 8)) != 0)
            .collect();
        out.push(BinarySegment {
            index,
            data,
            proof: FileProof { lemma, path },
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_round_trip_and_bad_bodies_are_refused() {
        let p1 = FileProof {
            lemma: vec![
                B256::repeat_byte(1),
                B256::repeat_byte(2),
                B256::repeat_byte(3),
            ],
            path: vec![true],
        };
        let p2 = FileProof {
            lemma: vec![B256::repeat_byte(4)],
            path: vec![],
        };
        let long = FileProof {
            lemma: vec![B256::ZERO; 12],
            path: vec![
                true, false, false, true, true, false, true, false, true, true,
            ],
        };
        let segs = [
            (0u64, vec![7u8; 512], p1),
            (9, vec![], p2),
            (3, vec![1u8; 256], long),
        ];
        let body = encode_segments(segs.iter().map(|(i, d, p)| (*i, d.as_slice(), p)));
        let back = decode_segments(&body).unwrap();
        assert_eq!(back.len(), 3);
        for (b, (i, d, p)) in back.iter().zip(segs.iter()) {
            assert_eq!((b.index, &b.data, &b.proof), (*i, d, p));
        }
        for cut in 1..body.len() {
            if decode_segments(&body[..cut]).is_ok() {
                // only a cut between two whole records decodes
                assert!(
                    cut == 8 + 4 + 512 + 1 + 96 + 1 + 1
                        || cut == 8 + 4 + 512 + 1 + 96 + 1 + 1 + 8 + 4 + 1 + 32 + 1
                );
            }
        }
        let mut zero_lemma = encode_segments([(
            0u64,
            &[][..],
            &FileProof {
                lemma: vec![],
                path: vec![],
            },
        )]);
        assert!(decode_segments(&zero_lemma).is_err());
        zero_lemma.clear();
        assert_eq!(decode_segments(&zero_lemma).unwrap(), vec![]);
    }
}
