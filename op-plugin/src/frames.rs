//! Recognising OP Stack derivation data: the body op-batcher puts is
//! `derivation_version (0x00) ‖ frame ‖ frame ‖ …`, each frame
//! `channel_id (16) ‖ frame_number (u16 BE) ‖ frame_data_length (u32 BE) ‖ frame_data ‖
//! is_last (1 byte, 0 or 1)`, as in the OP derivation spec. A body is valid derivation
//! data only if every frame is (the spec drops the whole transaction otherwise).
//!
//! op-alloy 2.0 has no frame types and kona-protocol pulls a second alloy into the
//! build, so the (small, fully specified) parser lives here.

/// The only derivation version op-node accepts.
pub const DERIVATION_VERSION_0: u8 = 0x00;
/// Largest `frame_data_length` op-node accepts (`MaxFrameLen`).
pub const MAX_FRAME_LEN: usize = 1_000_000;
/// Bytes of a frame around its data: id, number, length, is_last.
pub const FRAME_OVERHEAD: usize = 16 + 2 + 4 + 1;

/// A channel id.
pub type ChannelId = [u8; 16];

/// One frame of a channel, borrowing its data from the body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The channel it belongs to.
    pub channel_id: ChannelId,
    /// Position within the channel.
    pub number: u16,
    /// Compressed channel bytes.
    pub data: &'a [u8],
    /// Whether it closes the channel.
    pub is_last: bool,
}

/// Why a body is not derivation data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// No bytes at all.
    #[error("empty body")]
    Empty,
    /// The first byte is not derivation version 0.
    #[error("derivation version 0x{0:02x}, expected 0x00")]
    UnknownVersion(u8),
    /// A version byte and nothing else.
    #[error("no frames after the version byte")]
    NoFrames,
    /// A frame ends before its fixed fields or data.
    #[error("frame {index} is truncated at byte {offset}")]
    Truncated {
        /// Frame position in the body.
        index: usize,
        /// Offset in the body where bytes ran out.
        offset: usize,
    },
    /// `frame_data_length` over [`MAX_FRAME_LEN`].
    #[error("frame {index} declares {len} data bytes, over the limit of {MAX_FRAME_LEN}")]
    TooLong {
        /// Frame position in the body.
        index: usize,
        /// Declared length.
        len: usize,
    },
    /// `is_last` is neither 0 nor 1.
    #[error("frame {index} has is_last byte 0x{byte:02x}")]
    BadIsLast {
        /// Frame position in the body.
        index: usize,
        /// The byte found.
        byte: u8,
    },
}

/// Parses a batcher body into its frames, strictly, as op-node's `ParseFrames` does.
pub fn parse_frames(body: &[u8]) -> Result<Vec<Frame<'_>>, FrameError> {
    let (&version, mut rest) = body.split_first().ok_or(FrameError::Empty)?;
    if version != DERIVATION_VERSION_0 {
        return Err(FrameError::UnknownVersion(version));
    }
    if rest.is_empty() {
        return Err(FrameError::NoFrames);
    }
    let mut frames = Vec::new();
    while !rest.is_empty() {
        let index = frames.len();
        let offset = body.len() - rest.len();
        let truncated = |at: usize| FrameError::Truncated {
            index,
            offset: offset + at,
        };
        if rest.len() < 22 {
            return Err(truncated(rest.len()));
        }
        let channel_id: ChannelId = rest[..16].try_into().expect("16 bytes");
        let number = u16::from_be_bytes([rest[16], rest[17]]);
        let len = u32::from_be_bytes([rest[18], rest[19], rest[20], rest[21]]) as usize;
        if len > MAX_FRAME_LEN {
            return Err(FrameError::TooLong { index, len });
        }
        let end = 22 + len;
        if rest.len() <= end {
            return Err(truncated(rest.len()));
        }
        let is_last = match rest[end] {
            0 => false,
            1 => true,
            byte => return Err(FrameError::BadIsLast { index, byte }),
        };
        frames.push(Frame {
            channel_id,
            number,
            data: &rest[22..end],
            is_last,
        });
        rest = &rest[end + 1..];
    }
    Ok(frames)
}

/// Encodes frames as a batcher body (`0x00 ‖ frames`), the inverse of [`parse_frames`].
pub fn encode_frames(frames: &[Frame<'_>]) -> Vec<u8> {
    let len = 1 + frames
        .iter()
        .map(|f| FRAME_OVERHEAD + f.data.len())
        .sum::<usize>();
    let mut out = Vec::with_capacity(len);
    out.push(DERIVATION_VERSION_0);
    for f in frames {
        out.extend_from_slice(&f.channel_id);
        out.extend_from_slice(&f.number.to_be_bytes());
        out.extend_from_slice(&(f.data.len() as u32).to_be_bytes());
        out.extend_from_slice(f.data);
        out.push(f.is_last as u8);
    }
    out
}

/// A derivation-data body of one frame: frame 0 of channel `channel_id`, carrying
/// `data` (the channel's last frame when `is_last`).
pub fn single_frame(channel_id: ChannelId, data: &[u8], is_last: bool) -> Vec<u8> {
    encode_frames(&[Frame {
        channel_id,
        number: 0,
        data,
        is_last,
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(id: u8, number: u16, data: &[u8], is_last: bool) -> Frame<'_> {
        Frame {
            channel_id: [id; 16],
            number,
            data,
            is_last,
        }
    }

    #[test]
    fn round_trip_several_frames() {
        let frames = [frame(1, 0, b"abc", false), frame(1, 1, b"", true)];
        let body = encode_frames(&frames);
        assert_eq!(body.len(), 1 + 2 * FRAME_OVERHEAD + 3);
        assert_eq!(parse_frames(&body).unwrap(), frames);
    }

    #[test]
    fn rejections() {
        assert_eq!(parse_frames(&[]), Err(FrameError::Empty));
        assert_eq!(parse_frames(&[1, 2]), Err(FrameError::UnknownVersion(1)));
        assert_eq!(parse_frames(&[0]), Err(FrameError::NoFrames));
        let mut body = encode_frames(&[frame(2, 7, b"xyz", true)]);
        let last = body.len() - 1;
        body[last] = 2;
        assert_eq!(
            parse_frames(&body),
            Err(FrameError::BadIsLast { index: 0, byte: 2 })
        );
        body.pop();
        assert!(matches!(
            parse_frames(&body),
            Err(FrameError::Truncated { index: 0, .. })
        ));
        let mut long = encode_frames(&[frame(3, 0, b"", false)]);
        long[19..23].copy_from_slice(&(MAX_FRAME_LEN as u32 + 1).to_be_bytes());
        assert_eq!(
            parse_frames(&long),
            Err(FrameError::TooLong {
                index: 0,
                len: MAX_FRAME_LEN + 1
            })
        );
        // A valid frame followed by garbage invalidates the whole body.
        let mut two = encode_frames(&[frame(4, 0, b"ok", false)]);
        two.extend_from_slice(&[9; 5]);
        assert!(matches!(
            parse_frames(&two),
            Err(FrameError::Truncated { index: 1, .. })
        ));
    }
}
