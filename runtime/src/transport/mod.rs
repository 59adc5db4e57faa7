//! Moving bytes between the two online parties: the [`Channel`] trait, its
//! in-memory ([`memory_pair`]) and TCP ([`TcpChannel`]) implementations, and
//! the counters the cost model is checked against.
//!
//! Every message is one typed, length-prefixed [frame](frame) (5 header
//! bytes + payload). Both implementations encode and decode frames with the
//! same strict codec, so they carry the same bytes and count them alike.
//!
//! # What is counted
//!
//! * `bytes_sent` / `bytes_received`: whole frames, header included
//!   (`5 + payload` bytes per message).
//! * `messages_sent` / `messages_received`: frames.
//! * `rounds`: the number of **flights** this party sent. A party starts a new
//!   flight when it sends a frame and its previous channel operation was a
//!   receive (or it had not sent anything yet); consecutive sends belong to one
//!   flight. So an exchange where both parties send and then both receive is
//!   one round for each party, `k` sequential exchanges are `k` rounds, and a
//!   one-way message followed by an answer is one round for each side. The
//!   count depends only on the order of `send`/`recv` calls, never on timing
//!   or buffering, so the in-memory and TCP channels report identical
//!   numbers, and the cost model predicts them exactly.
//!
//! # Failure
//!
//! Errors say whose fault they are ([`TransportError`]): a peer that closes
//! the connection gives [`PeerClosed`](TransportError::PeerClosed), a malformed
//! frame [`PeerMisbehaved`](TransportError::PeerMisbehaved), silence beyond
//! the read timeout [`Timeout`](TransportError::Timeout). No read blocks
//! forever.

pub mod frame;
pub mod limits;
mod memory;
mod metered;
pub mod shaper;
mod tcp;
mod tls;

pub use frame::{Frame, FrameKind, DEFAULT_MAX_FRAME, HEADER_LEN};
pub use limits::{plan_max_frame, MIN_FRAME};
pub use memory::{memory_pair, memory_pair_with, MemoryChannel};
pub use metered::Metered;
pub use tcp::TcpChannel;
pub use tls::{NotPinned, TlsChannel, TlsError};

use std::time::Duration;

/// Errors of the transport, by fault.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The peer sent something the protocol does not allow.
    #[error("the peer misbehaved: {0}")]
    PeerMisbehaved(String),
    /// The peer closed the connection (or vanished).
    #[error("the peer closed the connection")]
    PeerClosed,
    /// The peer aborted the run and said why.
    #[error("the peer aborted: {0}")]
    PeerAborted(String),
    /// Nothing arrived within the read timeout.
    #[error("no message from the peer within {0:?}")]
    Timeout(Duration),
    /// The peer is a correct party of another run (plan, session or role).
    #[error("the parties do not match: {0}")]
    Mismatch(String),
    /// A local I/O failure.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// We tried to send a frame larger than the limit.
    #[error("refusing to send a {len}-byte frame: the limit is {max} bytes")]
    TooLarge {
        /// Payload length.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// A bug on our side (a frame that cannot be encoded).
    #[error("internal transport error: {0}")]
    Internal(String),
}

/// Settings shared by both channel implementations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelConfig {
    /// Largest payload accepted or sent, in bytes.
    pub max_frame: usize,
    /// How long a receive waits before [`TransportError::Timeout`].
    pub read_timeout: Duration,
}

impl Default for ChannelConfig {
    fn default() -> Self {
        ChannelConfig {
            max_frame: DEFAULT_MAX_FRAME,
            read_timeout: Duration::from_secs(60),
        }
    }
}

/// Traffic counters of one party's channel (see the module doc for exact
/// definitions).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChannelStats {
    /// Bytes sent, frame headers included.
    pub bytes_sent: u64,
    /// Bytes received, frame headers included.
    pub bytes_received: u64,
    /// Frames sent.
    pub messages_sent: u64,
    /// Frames received.
    pub messages_received: u64,
    /// Flights of messages sent.
    pub rounds: u64,
}

impl ChannelStats {
    /// Traffic between an earlier snapshot and this one (e.g. one layer's or
    /// one query's share of the counters).
    pub fn since(&self, earlier: &ChannelStats) -> ChannelStats {
        ChannelStats {
            bytes_sent: self.bytes_sent - earlier.bytes_sent,
            bytes_received: self.bytes_received - earlier.bytes_received,
            messages_sent: self.messages_sent - earlier.messages_sent,
            messages_received: self.messages_received - earlier.messages_received,
            rounds: self.rounds - earlier.rounds,
        }
    }
}

/// The counting rule of the module doc, shared by both implementations.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Counter {
    stats: ChannelStats,
    /// True while the last operation was a send (we are inside a flight).
    in_flight: bool,
}

impl Counter {
    pub(crate) fn on_send(&mut self, frame_bytes: usize) {
        if !self.in_flight {
            self.stats.rounds += 1;
            self.in_flight = true;
        }
        self.stats.bytes_sent += frame_bytes as u64;
        self.stats.messages_sent += 1;
    }

    pub(crate) fn on_recv(&mut self, frame_bytes: usize) {
        self.in_flight = false;
        self.stats.bytes_received += frame_bytes as u64;
        self.stats.messages_received += 1;
    }

    pub(crate) fn stats(&self) -> ChannelStats {
        self.stats
    }
}

/// A reliable, ordered, framed connection to the other party.
///
/// Implementations only move frames; the typed helpers below are provided.
/// `send_*` never blocks on the peer reading (large messages in both
/// directions at once cannot deadlock).
pub trait Channel: Send {
    /// Send one frame.
    fn send_frame(&mut self, kind: FrameKind, payload: &[u8]) -> Result<(), TransportError>;

    /// Receive the next frame, waiting at most the read timeout. An
    /// [`FrameKind::Abort`] frame is returned as [`TransportError::PeerAborted`].
    fn recv_frame(&mut self) -> Result<Frame, TransportError>;

    /// Push buffered frames towards the peer and report any write error.
    fn flush(&mut self) -> Result<(), TransportError>;

    /// Counters so far.
    fn stats(&self) -> ChannelStats;

    /// Send opaque bytes.
    fn send(&mut self, msg: &[u8]) -> Result<(), TransportError> {
        self.send_frame(FrameKind::Bytes, msg)
    }

    /// Receive opaque bytes.
    fn recv(&mut self) -> Result<Vec<u8>, TransportError> {
        Ok(expect_kind(self.recv_frame()?, FrameKind::Bytes)?.payload)
    }

    /// Send ring elements (or bit-sliced words) as one frame.
    fn send_u64s(&mut self, words: &[u64]) -> Result<(), TransportError> {
        self.send_frame(FrameKind::U64s, bytemuck::cast_slice(words))
    }

    /// Receive exactly `n` words in one frame; another count is the peer's fault.
    fn recv_u64s(&mut self, n: usize) -> Result<Vec<u64>, TransportError> {
        let frame = expect_kind(self.recv_frame()?, FrameKind::U64s)?;
        let got = frame.payload.len() / 8;
        if got != n {
            return Err(TransportError::PeerMisbehaved(format!(
                "expected {n} words, received {got}"
            )));
        }
        let mut out = vec![0u64; n];
        bytemuck::cast_slice_mut::<u64, u8>(&mut out).copy_from_slice(&frame.payload);
        Ok(out)
    }

    /// Send 128-bit words as one frame.
    fn send_u128s(&mut self, words: &[u128]) -> Result<(), TransportError> {
        self.send_frame(FrameKind::U128s, bytemuck::cast_slice(words))
    }

    /// Receive exactly `n` 128-bit words in one frame.
    fn recv_u128s(&mut self, n: usize) -> Result<Vec<u128>, TransportError> {
        let frame = expect_kind(self.recv_frame()?, FrameKind::U128s)?;
        let got = frame.payload.len() / 16;
        if got != n {
            return Err(TransportError::PeerMisbehaved(format!(
                "expected {n} 128-bit words, received {got}"
            )));
        }
        let mut out = vec![0u128; n];
        bytemuck::cast_slice_mut::<u128, u8>(&mut out).copy_from_slice(&frame.payload);
        Ok(out)
    }

    /// Send `mine`, then receive the peer's `n` words: safe when both parties
    /// call it at the same time (one round each).
    fn exchange_u64s(&mut self, mine: &[u64], n: usize) -> Result<Vec<u64>, TransportError> {
        self.send_u64s(mine)?;
        self.flush()?;
        self.recv_u64s(n)
    }

    /// Tell the peer we give up and why (best effort; errors are ignored
    /// because the run is ending anyway).
    fn abort(&mut self, reason: &str) {
        let _ = self.send_frame(FrameKind::Abort, reason.as_bytes());
        let _ = self.flush();
    }
}

fn expect_kind(frame: Frame, kind: FrameKind) -> Result<Frame, TransportError> {
    if frame.kind == kind {
        Ok(frame)
    } else {
        Err(TransportError::PeerMisbehaved(format!(
            "expected a {} frame, received a {} frame",
            kind.name(),
            frame.kind.name()
        )))
    }
}

/// Turn an [`FrameKind::Abort`] frame into the peer's error.
pub(crate) fn check_abort(frame: Frame) -> Result<Frame, TransportError> {
    if frame.kind == FrameKind::Abort {
        Err(TransportError::PeerAborted(
            String::from_utf8_lossy(&frame.payload).into_owned(),
        ))
    } else {
        Ok(frame)
    }
}

impl<C: Channel + ?Sized> Channel for &mut C {
    fn send_frame(&mut self, kind: FrameKind, payload: &[u8]) -> Result<(), TransportError> {
        (**self).send_frame(kind, payload)
    }
    fn recv_frame(&mut self) -> Result<Frame, TransportError> {
        (**self).recv_frame()
    }
    fn flush(&mut self) -> Result<(), TransportError> {
        (**self).flush()
    }
    fn stats(&self) -> ChannelStats {
        (**self).stats()
    }
}

impl<C: Channel + ?Sized> Channel for Box<C> {
    fn send_frame(&mut self, kind: FrameKind, payload: &[u8]) -> Result<(), TransportError> {
        (**self).send_frame(kind, payload)
    }
    fn recv_frame(&mut self) -> Result<Frame, TransportError> {
        (**self).recv_frame()
    }
    fn flush(&mut self) -> Result<(), TransportError> {
        (**self).flush()
    }
    fn stats(&self) -> ChannelStats {
        (**self).stats()
    }
}

/// A channel wrapper that hashes every frame it sends (blake3 over the
/// encoded frames, in order). In a seeded run the digest pins the protocol's
/// exact transcript, so a snapshot of it fails on any unintended change.
pub struct Recording<C> {
    inner: C,
    hasher: blake3::Hasher,
}

impl<C: Channel> Recording<C> {
    /// Wrap a channel.
    pub fn new(inner: C) -> Recording<C> {
        Recording {
            inner,
            hasher: blake3::Hasher::new_derive_key("chimera 2026 transcript digest v1"),
        }
    }

    /// Hex digest of everything sent so far.
    pub fn digest(&self) -> String {
        self.hasher.finalize().to_hex().to_string()
    }

    /// The wrapped channel.
    pub fn into_inner(self) -> C {
        self.inner
    }
}

impl<C: Channel> Channel for Recording<C> {
    fn send_frame(&mut self, kind: FrameKind, payload: &[u8]) -> Result<(), TransportError> {
        self.inner.send_frame(kind, payload)?;
        self.hasher.update(&[kind as u8]);
        self.hasher.update(&(payload.len() as u32).to_le_bytes());
        self.hasher.update(payload);
        Ok(())
    }
    fn recv_frame(&mut self) -> Result<Frame, TransportError> {
        self.inner.recv_frame()
    }
    fn flush(&mut self) -> Result<(), TransportError> {
        self.inner.flush()
    }
    fn stats(&self) -> ChannelStats {
        self.inner.stats()
    }
}
