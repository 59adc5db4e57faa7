//! The in-memory channel pair: two ends joined by std `mpsc` queues, for unit
//! tests and the one-process simulation mode. Frames are encoded and decoded
//! with the same codec as TCP, so bytes and rounds are counted identically.

use super::frame::{decode_frame_owned, encode_frame};
use super::TransportError;
use super::{check_abort, Channel, ChannelConfig, ChannelStats, Counter, Frame, FrameKind};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};

/// One end of an in-memory channel.
#[derive(Debug)]
pub struct MemoryChannel {
    tx: Sender<Vec<u8>>,
    rx: Receiver<Vec<u8>>,
    config: ChannelConfig,
    counter: Counter,
}

/// Two connected ends with the default configuration.
pub fn memory_pair() -> (MemoryChannel, MemoryChannel) {
    memory_pair_with(ChannelConfig::default())
}

/// Two connected ends with this configuration.
pub fn memory_pair_with(config: ChannelConfig) -> (MemoryChannel, MemoryChannel) {
    let (tx_a, rx_b) = channel();
    let (tx_b, rx_a) = channel();
    (
        MemoryChannel {
            tx: tx_a,
            rx: rx_a,
            config,
            counter: Counter::default(),
        },
        MemoryChannel {
            tx: tx_b,
            rx: rx_b,
            config,
            counter: Counter::default(),
        },
    )
}

impl MemoryChannel {
    /// Change the largest frame accepted or sent from now on, e.g. to the
    /// largest message a plan can send once the query's batch is known, so a
    /// peer cannot make us buffer more than the protocol ever needs.
    pub fn set_max_frame(&mut self, max_frame: usize) {
        self.config.max_frame = max_frame;
    }

    /// Put raw bytes on the wire as if they were a frame (tests of the
    /// peer's decoder).
    pub fn send_raw(&mut self, bytes: Vec<u8>) -> Result<(), TransportError> {
        self.tx.send(bytes).map_err(|_| TransportError::PeerClosed)
    }
}

impl Channel for MemoryChannel {
    fn send_frame(&mut self, kind: FrameKind, payload: &[u8]) -> Result<(), TransportError> {
        let bytes = encode_frame(kind, payload, self.config.max_frame)?;
        let len = bytes.len();
        self.tx
            .send(bytes)
            .map_err(|_| TransportError::PeerClosed)?;
        self.counter.on_send(len);
        Ok(())
    }

    fn recv_frame(&mut self) -> Result<Frame, TransportError> {
        let bytes = self
            .rx
            .recv_timeout(self.config.read_timeout)
            .map_err(|e| match e {
                RecvTimeoutError::Timeout => TransportError::Timeout(self.config.read_timeout),
                RecvTimeoutError::Disconnected => TransportError::PeerClosed,
            })?;
        let len = bytes.len();
        let frame = decode_frame_owned(bytes, self.config.max_frame)?;
        self.counter.on_recv(len);
        check_abort(frame)
    }

    fn flush(&mut self) -> Result<(), TransportError> {
        Ok(())
    }

    fn stats(&self) -> ChannelStats {
        self.counter.stats()
    }
}
