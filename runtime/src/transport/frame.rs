//! The wire format: length-prefixed typed frames and their strict decoder.
//!
//! A frame is `kind: u8 ‖ len: u32 (little-endian) ‖ payload[len]`. The
//! decoder accepts a frame only if its kind is one of [`FrameKind`], its
//! length is at most the configured maximum and fits the kind (a multiple of
//! 8 for [`FrameKind::U64s`], of 16 for [`FrameKind::U128s`]), and — when
//! decoding a buffer — no byte follows it. Anything else is the peer's fault
//! ([`TransportError::PeerMisbehaved`]) and ends the run; nothing is skipped
//! or guessed.

use super::TransportError;

/// Bytes of a frame header: one kind byte and a 32-bit length.
pub const HEADER_LEN: usize = 5;

/// Default largest payload accepted: 1 GiB.
pub const DEFAULT_MAX_FRAME: usize = 1 << 30;

/// What a frame carries. The byte values are the wire encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FrameKind {
    /// Opaque bytes.
    Bytes = 1,
    /// Little-endian 64-bit ring elements or bit-sliced words.
    U64s = 2,
    /// Little-endian 128-bit words (wire labels, garbled rows, OT messages).
    U128s = 3,
    /// Session set-up (plan hash, session id); its content is the executor's.
    Hello = 4,
    /// The sender gives up; the payload is a UTF-8 reason for the peer's error message.
    Abort = 5,
}

impl FrameKind {
    /// Decode the kind byte.
    pub fn from_byte(b: u8) -> Option<FrameKind> {
        Some(match b {
            1 => FrameKind::Bytes,
            2 => FrameKind::U64s,
            3 => FrameKind::U128s,
            4 => FrameKind::Hello,
            5 => FrameKind::Abort,
            _ => return None,
        })
    }

    /// The payload length must be a multiple of this.
    pub fn granule(self) -> usize {
        match self {
            FrameKind::U64s => 8,
            FrameKind::U128s => 16,
            _ => 1,
        }
    }

    /// Lowercase name for messages.
    pub fn name(self) -> &'static str {
        match self {
            FrameKind::Bytes => "bytes",
            FrameKind::U64s => "u64 words",
            FrameKind::U128s => "u128 words",
            FrameKind::Hello => "hello",
            FrameKind::Abort => "abort",
        }
    }
}

/// A decoded frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Its kind.
    pub kind: FrameKind,
    /// Its payload (length already checked against the kind).
    pub payload: Vec<u8>,
}

/// Read one frame header with `read_full` (which fills as much of the buffer
/// as the stream holds and returns how many bytes it read) and check it: a
/// stream that ends before any header byte is a closed peer, one that ends
/// inside the header is a truncated frame. Shared by every byte-stream channel.
pub fn read_header(
    read_full: impl FnOnce(&mut [u8]) -> Result<usize, TransportError>,
    max_frame: usize,
) -> Result<(FrameKind, usize), TransportError> {
    let mut header = [0u8; HEADER_LEN];
    match read_full(&mut header)? {
        0 => Err(TransportError::PeerClosed),
        HEADER_LEN => decode_header(&header, max_frame),
        n => Err(TransportError::PeerMisbehaved(format!(
            "truncated frame: the connection ended after {n} header bytes"
        ))),
    }
}

/// Check a header and return the kind and payload length it announces.
pub fn decode_header(
    header: &[u8; HEADER_LEN],
    max_frame: usize,
) -> Result<(FrameKind, usize), TransportError> {
    let kind = FrameKind::from_byte(header[0]).ok_or_else(|| {
        TransportError::PeerMisbehaved(format!("unknown frame kind {:#04x}", header[0]))
    })?;
    let len = u32::from_le_bytes([header[1], header[2], header[3], header[4]]) as usize;
    if len > max_frame {
        return Err(TransportError::PeerMisbehaved(format!(
            "{} frame of {len} bytes exceeds the limit of {max_frame} bytes",
            kind.name()
        )));
    }
    if len % kind.granule() != 0 {
        return Err(TransportError::PeerMisbehaved(format!(
            "{} frame of {len} bytes is not a whole number of {}-byte words",
            kind.name(),
            kind.granule()
        )));
    }
    Ok((kind, len))
}

/// Encode a frame header for a payload of `len` bytes. Fails if `len` does
/// not fit the kind or the limit (our own bug, reported rather than sent).
pub fn encode_header(
    kind: FrameKind,
    len: usize,
    max_frame: usize,
) -> Result<[u8; HEADER_LEN], TransportError> {
    if len > max_frame || len > u32::MAX as usize {
        return Err(TransportError::TooLarge {
            len,
            max: max_frame.min(u32::MAX as usize),
        });
    }
    if len % kind.granule() != 0 {
        return Err(TransportError::Internal(format!(
            "{} frame of {len} bytes is not a whole number of words",
            kind.name()
        )));
    }
    let l = (len as u32).to_le_bytes();
    Ok([kind as u8, l[0], l[1], l[2], l[3]])
}

/// Encode one whole frame.
pub fn encode_frame(
    kind: FrameKind,
    payload: &[u8],
    max_frame: usize,
) -> Result<Vec<u8>, TransportError> {
    let header = encode_header(kind, payload.len(), max_frame)?;
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&header);
    out.extend_from_slice(payload);
    Ok(out)
}

/// [`decode_frame`] taking ownership of the buffer: the same checks, and the
/// payload keeps the buffer's allocation (no copy of the payload).
pub fn decode_frame_owned(mut bytes: Vec<u8>, max_frame: usize) -> Result<Frame, TransportError> {
    let kind = check_frame(&bytes, max_frame)?;
    bytes.drain(..HEADER_LEN);
    Ok(Frame {
        kind,
        payload: bytes,
    })
}

/// Decode a buffer that must hold exactly one frame: rejects unknown kinds,
/// oversized or ill-sized lengths, truncation and trailing bytes.
pub fn decode_frame(bytes: &[u8], max_frame: usize) -> Result<Frame, TransportError> {
    let kind = check_frame(bytes, max_frame)?;
    Ok(Frame {
        kind,
        payload: bytes[HEADER_LEN..].to_vec(),
    })
}

/// The checks of [`decode_frame`]; returns the kind.
fn check_frame(bytes: &[u8], max_frame: usize) -> Result<FrameKind, TransportError> {
    let Some(header) = bytes.first_chunk::<HEADER_LEN>() else {
        return Err(TransportError::PeerMisbehaved(format!(
            "truncated frame: {} bytes, a header alone has {HEADER_LEN}",
            bytes.len()
        )));
    };
    let (kind, len) = decode_header(header, max_frame)?;
    let body = &bytes[HEADER_LEN..];
    if body.len() < len {
        return Err(TransportError::PeerMisbehaved(format!(
            "truncated {} frame: {} of {len} payload bytes",
            kind.name(),
            body.len()
        )));
    }
    if body.len() > len {
        return Err(TransportError::PeerMisbehaved(format!(
            "{} trailing bytes after a {} frame of {len} bytes",
            body.len() - len,
            kind.name()
        )));
    }
    Ok(kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn misbehaved(r: Result<Frame, TransportError>) -> String {
        match r {
            Err(TransportError::PeerMisbehaved(m)) => m,
            other => panic!("expected PeerMisbehaved, got {other:?}"),
        }
    }

    #[test]
    fn round_trip_every_kind() {
        for kind in [
            FrameKind::Bytes,
            FrameKind::U64s,
            FrameKind::U128s,
            FrameKind::Hello,
            FrameKind::Abort,
        ] {
            let payload = vec![7u8; 32];
            let bytes = encode_frame(kind, &payload, 1024).unwrap();
            assert_eq!(bytes.len(), HEADER_LEN + 32);
            assert_eq!(decode_frame(&bytes, 1024).unwrap(), Frame { kind, payload });
        }
    }

    #[test]
    fn rejects_unknown_kind() {
        let mut bytes = encode_frame(FrameKind::Bytes, b"abc", 1024).unwrap();
        bytes[0] = 0x42;
        assert_eq!(
            misbehaved(decode_frame(&bytes, 1024)),
            "unknown frame kind 0x42"
        );
        bytes[0] = 0;
        assert!(misbehaved(decode_frame(&bytes, 1024)).contains("unknown frame kind"));
    }

    #[test]
    fn rejects_oversized_length() {
        let bytes = encode_frame(FrameKind::Bytes, &[0u8; 100], 1024).unwrap();
        let m = misbehaved(decode_frame(&bytes, 99));
        assert!(m.contains("exceeds the limit of 99 bytes"), "{m}");
        let huge = [FrameKind::Bytes as u8, 0xff, 0xff, 0xff, 0xff];
        assert!(misbehaved(decode_frame(&huge, DEFAULT_MAX_FRAME)).contains("exceeds"));
    }

    #[test]
    fn rejects_truncated_and_trailing() {
        let bytes = encode_frame(FrameKind::U64s, &[1u8; 16], 1024).unwrap();
        assert!(misbehaved(decode_frame(&bytes[..3], 1024)).contains("truncated frame"));
        assert!(misbehaved(decode_frame(&bytes[..20], 1024)).contains("truncated u64 words frame"));
        let mut long = bytes.clone();
        long.push(0);
        assert!(misbehaved(decode_frame(&long, 1024)).contains("1 trailing bytes"));
    }

    #[test]
    fn rejects_partial_words() {
        let mut bytes = encode_frame(FrameKind::Bytes, &[0u8; 12], 1024).unwrap();
        bytes[0] = FrameKind::U64s as u8;
        assert!(
            misbehaved(decode_frame(&bytes, 1024)).contains("not a whole number of 8-byte words")
        );
        assert!(matches!(
            encode_frame(FrameKind::U128s, &[0u8; 8], 1024),
            Err(TransportError::Internal(_))
        ));
        assert!(matches!(
            encode_frame(FrameKind::Bytes, &[0u8; 8], 4),
            Err(TransportError::TooLarge { len: 8, max: 4 })
        ));
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever the bytes, the decoder returns a frame or a
        /// `PeerMisbehaved` error, never panics, and accepts exactly the
        /// well-formed encodings.
        #[test]
        fn decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let owned = decode_frame_owned(bytes.clone(), 32);
            match decode_frame(&bytes, 32) {
                Ok(frame) => {
                    prop_assert_eq!(owned.ok(), Some(frame.clone()));
                    let again = encode_frame(frame.kind, &frame.payload, 32).unwrap();
                    prop_assert_eq!(again, bytes);
                }
                Err(TransportError::PeerMisbehaved(_)) => {}
                Err(other) => prop_assert!(false, "unexpected error {:?}", other),
            }
        }
    }
}
