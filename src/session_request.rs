//! The first frame of a connection: the client names the material session
//! it claimed and its batch size, so the server can claim the matching
//! bundle before the run's own preamble (which checks both again).

use chimera_runtime::dealer::SessionId;

/// Magic and version of the request.
const MAGIC: &[u8; 4] = b"CHQ1";
/// Encoded length.
pub const LEN: usize = 24;
/// The server's acceptance.
pub const ACCEPT: &[u8] = b"ACCEPT";

/// A client's request for one query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    /// The session of the client's bundle.
    pub session: SessionId,
    /// Rows of the query.
    pub batch: u32,
}

impl Request {
    /// Wire form.
    pub fn encode(&self) -> [u8; LEN] {
        let mut b = [0u8; LEN];
        b[..4].copy_from_slice(MAGIC);
        b[4..20].copy_from_slice(&self.session.0);
        b[20..].copy_from_slice(&self.batch.to_le_bytes());
        b
    }

    /// Strict decoding: exact length and magic.
    pub fn decode(bytes: &[u8]) -> Result<Request, String> {
        if bytes.len() != LEN || &bytes[..4] != MAGIC {
            return Err(format!(
                "the first frame is not a chimera query request ({} bytes); is the peer a `chimera query` of the same version?",
                bytes.len()
            ));
        }
        let mut session = [0u8; 16];
        session.copy_from_slice(&bytes[4..20]);
        let mut batch = [0u8; 4];
        batch.copy_from_slice(&bytes[20..]);
        Ok(Request {
            session: SessionId(session),
            batch: u32::from_le_bytes(batch),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_strictness() {
        let r = Request {
            session: SessionId([3; 16]),
            batch: 64,
        };
        assert_eq!(Request::decode(&r.encode()), Ok(r));
        assert!(Request::decode(&r.encode()[..23]).is_err());
        let mut bad = r.encode();
        bad[0] = b'X';
        assert!(Request::decode(&bad).is_err());
    }
}
