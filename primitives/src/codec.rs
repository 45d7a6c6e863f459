//! Payload codec: opaque payload bytes <-> EIP-4844 blobs.
//!
//! Stream = `version (u8 = 0)` ‖ `payload_len (u32 BE)` ‖ payload, zero-padded; packed 31
//! bytes per field element (`0x00 ‖ 31 bytes`, always below the BLS12-381 modulus),
//! 4096 elements per blob.

use crate::constants::{
    BYTES_PER_BLOB, BYTES_PER_FIELD_ELEMENT, FIELD_ELEMENTS_PER_BLOB, PAYLOAD_HEADER_LEN,
    PAYLOAD_VERSION, STREAM_BYTES_PER_BLOB, USABLE_BYTES_PER_ELEMENT,
};

/// One EIP-4844 blob: 4096 field elements of 32 bytes, big-endian.
#[derive(Clone, PartialEq, Eq)]
pub struct Blob(Box<[u8; BYTES_PER_BLOB]>);

impl Blob {
    /// An all-zero blob.
    pub fn zeroed() -> Self {
        Self(
            vec![0u8; BYTES_PER_BLOB]
                .into_boxed_slice()
                .try_into()
                .expect("exact length"),
        )
    }

    /// Wraps raw bytes; fails unless exactly [`BYTES_PER_BLOB`] long.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CodecError> {
        if bytes.len() != BYTES_PER_BLOB {
            return Err(CodecError::BlobSize { got: bytes.len() });
        }
        let mut blob = Self::zeroed();
        blob.0.copy_from_slice(bytes);
        Ok(blob)
    }

    /// The blob's bytes.
    pub fn as_bytes(&self) -> &[u8; BYTES_PER_BLOB] {
        &self.0
    }

    /// Mutable access (tests and fault injection).
    pub fn as_bytes_mut(&mut self) -> &mut [u8; BYTES_PER_BLOB] {
        &mut self.0
    }
}

impl core::fmt::Debug for Blob {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("Blob")
            .field(&crate::bytes::HexShort(&self.0[..]))
            .finish()
    }
}

/// Why a payload could not be encoded or a set of blobs could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// Payloads carry at least one byte.
    #[error("payload is empty")]
    EmptyPayload,
    /// The payload is larger than the configured maximum.
    #[error("payload of {len} bytes exceeds the maximum of {max} bytes")]
    PayloadTooLarge {
        /// Payload length.
        len: usize,
        /// Configured maximum.
        max: usize,
    },
    /// No blobs were given to decode.
    #[error("no blobs to decode")]
    NoBlobs,
    /// A blob had the wrong byte length.
    #[error("blob must be {BYTES_PER_BLOB} bytes, got {got}")]
    BlobSize {
        /// Length received.
        got: usize,
    },
    /// A field element's first byte was not zero (not produced by this codec).
    #[error("field element {element} of blob {blob} has a non-zero high byte")]
    NonCanonicalElement {
        /// Blob index.
        blob: usize,
        /// Element index within the blob.
        element: usize,
    },
    /// The stream's version byte is unknown.
    #[error("unknown payload version {0}")]
    UnknownVersion(u8),
    /// The declared payload length is zero.
    #[error("declared payload length is zero")]
    ZeroLength,
    /// The declared length does not fit in the blobs given.
    #[error("declared payload length {len} exceeds the {capacity} bytes the blobs can hold")]
    LengthOverflow {
        /// Declared length.
        len: usize,
        /// Payload capacity of the blobs.
        capacity: usize,
    },
    /// More blobs than the declared length needs.
    #[error("{got} blobs given but a {len}-byte payload needs {expected}")]
    BlobCountMismatch {
        /// Declared payload length.
        len: usize,
        /// Blobs needed.
        expected: usize,
        /// Blobs given.
        got: usize,
    },
    /// Bytes after the payload are not zero.
    #[error("non-zero padding after the payload (first at stream offset {offset})")]
    NonZeroPadding {
        /// Offset in the packed stream of the first non-zero padding byte.
        offset: usize,
    },
}

/// Number of blobs a payload of `payload_len` bytes encodes into: `ceil((5 + len) / 126976)`.
pub const fn blob_count(payload_len: usize) -> usize {
    (PAYLOAD_HEADER_LEN + payload_len).div_ceil(STREAM_BYTES_PER_BLOB)
}

/// Largest payload `blobs` blobs can hold.
pub const fn payload_capacity(blobs: usize) -> usize {
    (blobs * STREAM_BYTES_PER_BLOB).saturating_sub(PAYLOAD_HEADER_LEN)
}

/// Encodes a payload into blobs. `max_payload` is the caller's size limit.
pub fn encode_payload(payload: &[u8], max_payload: usize) -> Result<Vec<Blob>, CodecError> {
    if payload.is_empty() {
        return Err(CodecError::EmptyPayload);
    }
    // The length travels as u32, so no limit may exceed it.
    let max = max_payload.min(u32::MAX as usize);
    if payload.len() > max {
        return Err(CodecError::PayloadTooLarge {
            len: payload.len(),
            max,
        });
    }
    let mut header = [0u8; PAYLOAD_HEADER_LEN];
    header[0] = PAYLOAD_VERSION;
    header[1..].copy_from_slice(&(payload.len() as u32).to_be_bytes());

    let count = blob_count(payload.len());
    let mut blobs = Vec::with_capacity(count);
    // `stream` is header ‖ payload; the first chunk straddles both, the rest is payload only.
    let mut pos = 0usize; // offset in the virtual stream
    let stream_len = PAYLOAD_HEADER_LEN + payload.len();
    for _ in 0..count {
        let mut blob = Blob::zeroed();
        for element in blob.0.chunks_exact_mut(BYTES_PER_FIELD_ELEMENT) {
            if pos >= stream_len {
                break;
            }
            let dst = &mut element[1..];
            let take = USABLE_BYTES_PER_ELEMENT.min(stream_len - pos);
            copy_stream(&header, payload, pos, &mut dst[..take]);
            pos += take;
        }
        blobs.push(blob);
    }
    Ok(blobs)
}

/// Copies `dst.len()` bytes of the virtual stream `header ‖ payload` starting at `pos`.
fn copy_stream(header: &[u8; PAYLOAD_HEADER_LEN], payload: &[u8], pos: usize, dst: &mut [u8]) {
    if pos >= PAYLOAD_HEADER_LEN {
        let start = pos - PAYLOAD_HEADER_LEN;
        dst.copy_from_slice(&payload[start..start + dst.len()]);
    } else {
        let from_header = (PAYLOAD_HEADER_LEN - pos).min(dst.len());
        dst[..from_header].copy_from_slice(&header[pos..pos + from_header]);
        let rest = dst.len() - from_header;
        dst[from_header..].copy_from_slice(&payload[..rest]);
    }
}

/// Decodes blobs produced by [`encode_payload`] back into the payload, rejecting every
/// malformed case: wrong element high byte, unknown version, impossible length, extra
/// blobs and non-zero padding.
pub fn decode_blobs(blobs: &[Blob]) -> Result<Vec<u8>, CodecError> {
    decode_blob_bytes(blobs.iter().map(|b| &*b.0))
}

/// As [`decode_blobs`], over borrowed blob byte arrays.
pub fn decode_blob_bytes<'a, I>(blobs: I) -> Result<Vec<u8>, CodecError>
where
    I: IntoIterator<Item = &'a [u8; BYTES_PER_BLOB]>,
    I::IntoIter: ExactSizeIterator,
{
    let blobs = blobs.into_iter();
    let given = blobs.len();
    if given == 0 {
        return Err(CodecError::NoBlobs);
    }
    let mut stream = Vec::with_capacity(given * STREAM_BYTES_PER_BLOB);
    for (b, blob) in blobs.enumerate() {
        for (e, element) in blob.chunks_exact(BYTES_PER_FIELD_ELEMENT).enumerate() {
            if element[0] != 0 {
                return Err(CodecError::NonCanonicalElement {
                    blob: b,
                    element: e,
                });
            }
            stream.extend_from_slice(&element[1..]);
        }
    }
    debug_assert_eq!(
        stream.len(),
        given * FIELD_ELEMENTS_PER_BLOB * USABLE_BYTES_PER_ELEMENT
    );
    if stream[0] != PAYLOAD_VERSION {
        return Err(CodecError::UnknownVersion(stream[0]));
    }
    let len = u32::from_be_bytes(stream[1..5].try_into().expect("4 bytes")) as usize;
    if len == 0 {
        return Err(CodecError::ZeroLength);
    }
    let capacity = payload_capacity(given);
    if len > capacity {
        return Err(CodecError::LengthOverflow { len, capacity });
    }
    let expected = blob_count(len);
    if expected != given {
        return Err(CodecError::BlobCountMismatch {
            len,
            expected,
            got: given,
        });
    }
    let end = PAYLOAD_HEADER_LEN + len;
    if let Some(i) = stream[end..].iter().position(|&b| b != 0) {
        return Err(CodecError::NonZeroPadding { offset: end + i });
    }
    stream.truncate(end);
    stream.drain(..PAYLOAD_HEADER_LEN);
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::constants::DEFAULT_MAX_PAYLOAD;

    #[test]
    fn sizes() {
        assert_eq!(blob_count(1), 1);
        assert_eq!(blob_count(STREAM_BYTES_PER_BLOB - 5), 1);
        assert_eq!(blob_count(STREAM_BYTES_PER_BLOB - 4), 2);
        assert_eq!(blob_count(DEFAULT_MAX_PAYLOAD), 133);
        assert_eq!(payload_capacity(1), 126_971);
    }

    #[test]
    fn layout_is_exact() {
        let blobs = encode_payload(&[0xAB; 40], DEFAULT_MAX_PAYLOAD).unwrap();
        let b = blobs[0].as_bytes();
        assert_eq!(&b[..6], &[0, 0, 0, 0, 0, 40]);
        assert_eq!(&b[6..32], &[0xAB; 26]);
        assert_eq!(b[32], 0);
        assert_eq!(&b[33..47], &[0xAB; 14]);
        assert!(b[47..].iter().all(|&x| x == 0));
    }

    #[test]
    fn boundaries_round_trip() {
        for len in [
            1,
            26,
            27,
            31,
            32,
            126_970,
            126_971,
            126_972,
            2 * 126_976,
            300_000,
        ] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let blobs = encode_payload(&payload, DEFAULT_MAX_PAYLOAD).unwrap();
            assert_eq!(blobs.len(), blob_count(len), "len {len}");
            assert_eq!(decode_blobs(&blobs).unwrap(), payload, "len {len}");
        }
    }

    #[test]
    fn rejects() {
        assert_eq!(encode_payload(&[], 10), Err(CodecError::EmptyPayload));
        assert_eq!(
            encode_payload(&[1; 11], 10),
            Err(CodecError::PayloadTooLarge { len: 11, max: 10 })
        );
        assert_eq!(decode_blobs(&[]), Err(CodecError::NoBlobs));
        assert!(matches!(
            Blob::from_bytes(&[0; 5]),
            Err(CodecError::BlobSize { got: 5 })
        ));

        let good = encode_payload(&[9; 100], DEFAULT_MAX_PAYLOAD).unwrap();

        let mut bad = good.clone();
        bad[0].as_bytes_mut()[32 * 7] = 1;
        assert_eq!(
            decode_blobs(&bad),
            Err(CodecError::NonCanonicalElement {
                blob: 0,
                element: 7
            })
        );

        let mut bad = good.clone();
        bad[0].as_bytes_mut()[1] = 1;
        assert_eq!(decode_blobs(&bad), Err(CodecError::UnknownVersion(1)));

        let mut bad = good.clone();
        bad[0].as_bytes_mut()[2..6].copy_from_slice(&0u32.to_be_bytes());
        assert_eq!(decode_blobs(&bad), Err(CodecError::ZeroLength));

        let mut bad = good.clone();
        bad[0].as_bytes_mut()[2..6].copy_from_slice(&200_000u32.to_be_bytes());
        assert_eq!(
            decode_blobs(&bad),
            Err(CodecError::LengthOverflow {
                len: 200_000,
                capacity: 126_971
            })
        );

        let mut bad = good.clone();
        bad.push(Blob::zeroed());
        assert_eq!(
            decode_blobs(&bad),
            Err(CodecError::BlobCountMismatch {
                len: 100,
                expected: 1,
                got: 2
            })
        );

        let mut bad = good.clone();
        bad[0].as_bytes_mut()[32 * 100 + 5] = 1;
        assert!(matches!(
            decode_blobs(&bad),
            Err(CodecError::NonZeroPadding { .. })
        ));
    }
}
