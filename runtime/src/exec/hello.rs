//! The preamble: each party sends a [`Hello`] (plan hash, session id, role,
//! batch rows) at connection time and checks the peer's before anything
//! secret moves. A mismatch is an error on both sides naming both values,
//! never a wrong answer.

use super::ExecError;
use crate::dealer::SessionId;
use crate::plan::{Party, PlanHash};
use crate::transport::{Channel, FrameKind};

/// Payload bytes of a hello: hash (32), session (16), role (1), batch (4).
pub const HELLO_LEN: usize = 53;

/// What a party announces about its run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hello {
    /// The plan's hash.
    pub plan: PlanHash,
    /// The session of the party's dealer material.
    pub session: SessionId,
    /// The sender's role.
    pub party: Party,
    /// Rows of the query.
    pub batch: u32,
}

impl Hello {
    /// The wire encoding.
    pub fn encode(&self) -> [u8; HELLO_LEN] {
        let mut b = [0u8; HELLO_LEN];
        b[..32].copy_from_slice(&self.plan.0);
        b[32..48].copy_from_slice(&self.session.0);
        b[48] = self.party.index() as u8;
        b[49..].copy_from_slice(&self.batch.to_le_bytes());
        b
    }

    /// Strict decoding: exactly [`HELLO_LEN`] bytes and a known role.
    pub fn decode(bytes: &[u8]) -> Result<Hello, ExecError> {
        if bytes.len() != HELLO_LEN {
            return Err(ExecError::PeerMisbehaved(format!(
                "a hello of {} bytes, {HELLO_LEN} expected",
                bytes.len()
            )));
        }
        let mut plan = [0u8; 32];
        plan.copy_from_slice(&bytes[..32]);
        let mut session = [0u8; 16];
        session.copy_from_slice(&bytes[32..48]);
        let party = match bytes[48] {
            0 => Party::Server,
            1 => Party::Client,
            r => {
                return Err(ExecError::PeerMisbehaved(format!(
                    "a hello with unknown role {r}"
                )))
            }
        };
        let mut batch = [0u8; 4];
        batch.copy_from_slice(&bytes[49..]);
        Ok(Hello {
            plan: PlanHash(plan),
            session: SessionId(session),
            party,
            batch: u32::from_le_bytes(batch),
        })
    }
}

/// Send our hello, read the peer's and check that it runs the same plan,
/// session and batch in the other role.
pub fn exchange<C: Channel + ?Sized>(ch: &mut C, mine: &Hello) -> Result<(), ExecError> {
    ch.send_frame(FrameKind::Hello, &mine.encode())?;
    ch.flush()?;
    let frame = ch.recv_frame()?;
    if frame.kind != FrameKind::Hello {
        return Err(ExecError::PeerMisbehaved(format!(
            "expected a hello frame, received a {} frame",
            frame.kind.name()
        )));
    }
    let theirs = Hello::decode(&frame.payload)?;
    let party = mine.party;
    if theirs.plan != mine.plan {
        return Err(ExecError::PlanMismatch {
            party,
            ours: mine.plan.to_hex(),
            theirs: theirs.plan.to_hex(),
        });
    }
    if theirs.session != mine.session {
        return Err(ExecError::SessionMismatch {
            party,
            ours: mine.session.to_hex(),
            theirs: theirs.session.to_hex(),
        });
    }
    if theirs.party != party.peer() {
        return Err(ExecError::PeerMisbehaved(format!(
            "the peer also claims to be the {party}"
        )));
    }
    if theirs.batch != mine.batch {
        return Err(ExecError::BatchMismatch {
            party,
            ours: mine.batch as usize,
            theirs: theirs.batch as usize,
        });
    }
    Ok(())
}
