//! The opening handshake: before any protocol message, each party sends one
//! [`FrameKind::Hello`] frame with its role, the plan hash and the session id
//! it is about to run, and checks the peer's. Both send before either
//! receives, so the handshake is one round, and a mismatch is reported on
//! both sides at once with both parties' values — never a wrong answer from
//! two parties running different plans or with unrelated dealer material.

use super::{Channel, FrameKind, TransportError};
use crate::dealer::SessionId;
use crate::plan::{Party, PlanHash};

const MAGIC: &[u8; 8] = b"CHIMERA1";
const HELLO_LEN: usize = 8 + 1 + 32 + 16;

fn encode(party: Party, plan: &PlanHash, session: &SessionId) -> Vec<u8> {
    let mut out = Vec::with_capacity(HELLO_LEN);
    out.extend_from_slice(MAGIC);
    out.push(party.index() as u8);
    out.extend_from_slice(&plan.0);
    out.extend_from_slice(&session.0);
    out
}

/// Exchange hellos and check that the peer plays the other role in the same
/// plan and session.
pub fn handshake(
    ch: &mut dyn Channel,
    party: Party,
    plan: &PlanHash,
    session: &SessionId,
) -> Result<(), TransportError> {
    ch.send_frame(FrameKind::Hello, &encode(party, plan, session))?;
    ch.flush()?;
    let frame = ch.recv_frame()?;
    if frame.kind != FrameKind::Hello {
        return Err(TransportError::PeerMisbehaved(format!(
            "expected a hello frame, received a {} frame",
            frame.kind.name()
        )));
    }
    let p = &frame.payload;
    if p.len() != HELLO_LEN || &p[..8] != MAGIC {
        return Err(TransportError::PeerMisbehaved(
            "the peer's hello is not a Chimera hello of this version".into(),
        ));
    }
    let peer_party = match p[8] {
        0 => Party::Server,
        1 => Party::Client,
        b => {
            return Err(TransportError::PeerMisbehaved(format!(
                "the peer's hello names party {b}"
            )))
        }
    };
    let mut peer_plan = [0u8; 32];
    peer_plan.copy_from_slice(&p[9..41]);
    let mut peer_session = [0u8; 16];
    peer_session.copy_from_slice(&p[41..57]);
    let (peer_plan, peer_session) = (PlanHash(peer_plan), SessionId(peer_session));
    if peer_party == party {
        return Err(TransportError::Mismatch(format!(
            "both parties are the {party}"
        )));
    }
    if peer_plan != *plan {
        return Err(TransportError::Mismatch(format!(
            "the {peer_party} runs plan {}, this {party} runs plan {}; both must compile the same .nn file with the same options",
            peer_plan.short(),
            plan.short()
        )));
    }
    if peer_session != *session {
        return Err(TransportError::Mismatch(format!(
            "the {peer_party} uses dealer material of session {peer_session}, this {party} of session {session}; both must use material from the same dealing"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::memory_pair;

    fn run(a: (Party, PlanHash, SessionId), b: (Party, PlanHash, SessionId)) -> (String, String) {
        let (mut c0, mut c1) = memory_pair();
        let t = std::thread::spawn(move || handshake(&mut c1, b.0, &b.1, &b.2));
        let r0 = handshake(&mut c0, a.0, &a.1, &a.2);
        let r1 = t.join().unwrap();
        let show =
            |r: Result<(), TransportError>| r.map_or_else(|e| e.to_string(), |_| "ok".into());
        (show(r0), show(r1))
    }

    #[test]
    fn matching_parties_agree_in_one_round() {
        let (p, s) = (PlanHash([1; 32]), SessionId([2; 16]));
        assert_eq!(
            run((Party::Server, p, s), (Party::Client, p, s)),
            ("ok".into(), "ok".into())
        );
    }

    #[test]
    fn mismatches_are_reported_on_both_sides() {
        let (p, q, s, t) = (
            PlanHash([1; 32]),
            PlanHash([3; 32]),
            SessionId([2; 16]),
            SessionId([4; 16]),
        );
        let (a, b) = run((Party::Server, p, s), (Party::Client, q, s));
        assert_eq!(a, "the parties do not match: the client runs plan 030303030303, this server runs plan 010101010101; both must compile the same .nn file with the same options");
        assert!(
            b.contains("the server runs plan 010101010101, this client runs plan 030303030303"),
            "{b}"
        );
        let (a, b) = run((Party::Server, p, s), (Party::Client, p, t));
        assert!(
            a.contains("session 04040404040404040404040404040404"),
            "{a}"
        );
        assert!(
            b.contains("this client of session 04040404040404040404040404040404"),
            "{b}"
        );
        let (a, _) = run((Party::Client, p, s), (Party::Client, p, s));
        assert_eq!(a, "the parties do not match: both parties are the client");
    }
}
