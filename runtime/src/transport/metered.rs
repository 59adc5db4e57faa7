//! A fresh set of counters over an existing channel.
//!
//! A connection may carry frames before a run starts (e.g. the client's
//! request naming the material session it will use). Wrapping the channel in
//! [`Metered`] for the run gives counters — bytes, messages and flights —
//! that start at zero with no flight in progress, exactly as on a new
//! connection, so measured traffic can be compared with the cost model's
//! prediction for the run alone.

use super::{Channel, ChannelStats, Counter, Frame, FrameKind, TransportError};

/// A channel that counts only the traffic passing through it.
pub struct Metered<'a, C: Channel + ?Sized> {
    inner: &'a mut C,
    counter: Counter,
}

impl<'a, C: Channel + ?Sized> Metered<'a, C> {
    /// Start counting afresh over `inner`.
    pub fn new(inner: &'a mut C) -> Self {
        Metered {
            inner,
            counter: Counter::default(),
        }
    }
}

impl<C: Channel + ?Sized> Channel for Metered<'_, C> {
    fn send_frame(&mut self, kind: FrameKind, payload: &[u8]) -> Result<(), TransportError> {
        self.inner.send_frame(kind, payload)?;
        self.counter.on_send(super::HEADER_LEN + payload.len());
        Ok(())
    }

    fn recv_frame(&mut self) -> Result<Frame, TransportError> {
        let frame = self.inner.recv_frame()?;
        self.counter
            .on_recv(super::HEADER_LEN + frame.payload.len());
        Ok(frame)
    }

    fn flush(&mut self) -> Result<(), TransportError> {
        self.inner.flush()
    }

    fn stats(&self) -> ChannelStats {
        self.counter.stats()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::memory_pair;

    #[test]
    fn counts_from_zero_after_earlier_traffic() {
        let (mut a, mut b) = memory_pair();
        a.send(b"request").unwrap();
        b.recv().unwrap();
        b.send(b"ok").unwrap();
        a.recv().unwrap();
        let (before_a, before_b) = (a.stats(), b.stats());
        {
            let mut ma = Metered::new(&mut a);
            let mut mb = Metered::new(&mut b);
            ma.send_u64s(&[1, 2, 3]).unwrap();
            mb.send_u64s(&[4]).unwrap();
            assert_eq!(mb.recv_u64s(3).unwrap(), vec![1, 2, 3]);
            assert_eq!(ma.recv_u64s(1).unwrap(), vec![4]);
            let (sa, sb) = (ma.stats(), mb.stats());
            assert_eq!(
                sa.rounds, 1,
                "a fresh meter counts the first send as a flight"
            );
            assert_eq!(sb.rounds, 1, "even right after the inner channel sent");
            assert_eq!(sa.bytes_sent, super::super::HEADER_LEN as u64 + 24);
            assert_eq!(sa.bytes_received, sb.bytes_sent);
            assert_eq!(sa.messages_sent, 1);
        }
        // The inner channel kept counting everything.
        assert_eq!(a.stats().messages_sent, before_a.messages_sent + 1);
        assert_eq!(b.stats().messages_received, before_b.messages_received + 1);
    }
}
