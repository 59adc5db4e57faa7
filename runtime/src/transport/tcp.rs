//! The TCP channel: `TCP_NODELAY`, buffered both ways, with a writer thread
//! so that sending never waits for the peer to read.
//!
//! Why a writer thread: when both parties open values at once, each first
//! sends then receives. With blocking writes, two messages larger than the
//! kernel's socket buffers would leave both parties stuck in `write`, neither
//! reading — a deadlock. Here `send` only queues the encoded frame; the
//! writer thread drains the queue into a `BufWriter` and flushes whenever the
//! queue runs empty, so small messages leave at once and large ones stream
//! while the caller goes on to receive. Dropping the channel waits for the
//! writer to finish (so the last message is not lost when a process exits),
//! then shuts the socket down so the peer sees a clean end of stream; if the
//! peer is alive but stopped reading, that wait ends at the write timeout
//! (the configured read timeout), never later.

use super::frame::{encode_frame, read_header, HEADER_LEN};
use super::TransportError;
use super::{check_abort, Channel, ChannelConfig, ChannelStats, Counter, Frame, FrameKind};
use std::io::{self, BufReader, BufWriter, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::mpsc::{channel, Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Socket buffer sizes of the user-space reader and writer.
const BUF_SIZE: usize = 1 << 16;

/// Largest single allocation made before payload bytes have arrived, so a
/// peer announcing a huge frame cannot make us reserve it up front.
const MAX_PREALLOC: usize = 1 << 20;

/// One end of a TCP connection between the parties.
pub struct TcpChannel {
    reader: BufReader<TcpStream>,
    queue: Option<Sender<Vec<u8>>>,
    writer: Option<JoinHandle<()>>,
    write_error: Arc<Mutex<Option<(ErrorKind, String)>>>,
    stream: TcpStream,
    config: ChannelConfig,
    counter: Counter,
}

impl std::fmt::Debug for TcpChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpChannel")
            .field("peer", &self.stream.peer_addr().ok())
            .field("stats", &self.counter.stats())
            .finish()
    }
}

fn is_closed(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::BrokenPipe
            | ErrorKind::UnexpectedEof
            | ErrorKind::NotConnected
    )
}

impl TcpChannel {
    /// Wrap a connected stream: sets `TCP_NODELAY`, the read timeout and a
    /// write timeout of the same length, and starts the writer thread.
    pub fn from_stream(
        stream: TcpStream,
        config: ChannelConfig,
    ) -> Result<TcpChannel, TransportError> {
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(config.read_timeout))?;
        stream.set_write_timeout(Some(config.read_timeout))?;
        let reader = BufReader::with_capacity(BUF_SIZE, stream.try_clone()?);
        let write_stream = stream.try_clone()?;
        let (tx, rx) = channel::<Vec<u8>>();
        let write_error = Arc::new(Mutex::new(None));
        let errors = Arc::clone(&write_error);
        let writer = std::thread::Builder::new()
            .name("chimera-tcp-writer".into())
            .spawn(move || write_loop(write_stream, rx, errors))?;
        Ok(TcpChannel {
            reader,
            queue: Some(tx),
            writer: Some(writer),
            write_error,
            stream,
            config,
            counter: Counter::default(),
        })
    }

    /// Connect to a listening peer.
    pub fn connect(
        addr: impl ToSocketAddrs,
        config: ChannelConfig,
    ) -> Result<TcpChannel, TransportError> {
        TcpChannel::from_stream(TcpStream::connect(addr)?, config)
    }

    /// Connect, retrying refused connections until `patience` has passed
    /// (the peer may still be starting).
    pub fn connect_retry(
        addr: impl ToSocketAddrs + Clone,
        config: ChannelConfig,
        patience: Duration,
    ) -> Result<TcpChannel, TransportError> {
        let start = Instant::now();
        loop {
            match TcpStream::connect(addr.clone()) {
                Ok(s) => return TcpChannel::from_stream(s, config),
                Err(e)
                    if e.kind() == ErrorKind::ConnectionRefused && start.elapsed() < patience =>
                {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Accept one connection.
    pub fn accept(
        listener: &TcpListener,
        config: ChannelConfig,
    ) -> Result<TcpChannel, TransportError> {
        let (stream, _) = listener.accept()?;
        TcpChannel::from_stream(stream, config)
    }

    /// Change the largest frame accepted or sent from now on, e.g. to the
    /// largest message a plan can send once the query's batch is known, so a
    /// peer cannot make us buffer more than the protocol ever needs.
    pub fn set_max_frame(&mut self, max_frame: usize) {
        self.config.max_frame = max_frame;
    }

    /// Put raw bytes on the wire, bypassing the encoder (tests of the peer's
    /// decoder). Not counted.
    pub fn send_raw(&mut self, bytes: Vec<u8>) -> Result<(), TransportError> {
        self.enqueue(bytes)
    }

    fn pending_error(&self) -> Option<TransportError> {
        let guard = self.write_error.lock().ok()?;
        guard.as_ref().map(|(kind, msg)| {
            if is_closed(*kind) {
                TransportError::PeerClosed
            } else if matches!(kind, ErrorKind::WouldBlock | ErrorKind::TimedOut) {
                TransportError::Timeout(self.config.read_timeout)
            } else {
                TransportError::Io(io::Error::new(*kind, msg.clone()))
            }
        })
    }

    fn enqueue(&mut self, bytes: Vec<u8>) -> Result<(), TransportError> {
        if let Some(e) = self.pending_error() {
            return Err(e);
        }
        let queue = self.queue.as_ref().ok_or(TransportError::PeerClosed)?;
        queue
            .send(bytes)
            .map_err(|_| self.pending_error().unwrap_or(TransportError::PeerClosed))
    }

    /// Read until `buf` is full or the stream ends; returns the bytes read.
    fn read_full(&mut self, buf: &mut [u8]) -> Result<usize, TransportError> {
        let mut got = 0;
        while got < buf.len() {
            match self.reader.read(&mut buf[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(self.map_read_error(e)),
            }
        }
        Ok(got)
    }

    fn map_read_error(&self, e: io::Error) -> TransportError {
        match e.kind() {
            ErrorKind::WouldBlock | ErrorKind::TimedOut => {
                TransportError::Timeout(self.config.read_timeout)
            }
            k if is_closed(k) => TransportError::PeerClosed,
            _ => TransportError::Io(e),
        }
    }
}

fn write_loop(
    stream: TcpStream,
    rx: Receiver<Vec<u8>>,
    errors: Arc<Mutex<Option<(ErrorKind, String)>>>,
) {
    let mut w = BufWriter::with_capacity(BUF_SIZE, stream);
    let fail = |e: io::Error| {
        if let Ok(mut slot) = errors.lock() {
            slot.get_or_insert((e.kind(), e.to_string()));
        }
    };
    // Block for the next frame; then drain whatever else is queued; flush
    // when the queue is empty.
    while let Ok(first) = rx.recv() {
        if let Err(e) = w.write_all(&first) {
            return fail(e);
        }
        let mut closed = false;
        loop {
            match rx.try_recv() {
                Ok(next) => {
                    if let Err(e) = w.write_all(&next) {
                        return fail(e);
                    }
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    closed = true;
                    break;
                }
            }
        }
        if let Err(e) = w.flush() {
            return fail(e);
        }
        if closed {
            break;
        }
    }
    if let Err(e) = w.flush() {
        fail(e);
    }
}

impl Channel for TcpChannel {
    fn send_frame(&mut self, kind: FrameKind, payload: &[u8]) -> Result<(), TransportError> {
        let bytes = encode_frame(kind, payload, self.config.max_frame)?;
        let len = bytes.len();
        self.enqueue(bytes)?;
        self.counter.on_send(len);
        Ok(())
    }

    fn recv_frame(&mut self) -> Result<Frame, TransportError> {
        let max_frame = self.config.max_frame;
        let (kind, len) = read_header(|buf| self.read_full(buf), max_frame)?;
        let mut payload = Vec::with_capacity(len.min(MAX_PREALLOC));
        (&mut self.reader)
            .take(len as u64)
            .read_to_end(&mut payload)
            .map_err(|e| self.map_read_error(e))?;
        if payload.len() != len {
            return Err(TransportError::PeerMisbehaved(format!(
                "truncated {} frame: the connection ended after {} of {len} payload bytes",
                kind.name(),
                payload.len()
            )));
        }
        self.counter.on_recv(HEADER_LEN + len);
        check_abort(Frame { kind, payload })
    }

    fn flush(&mut self) -> Result<(), TransportError> {
        // The writer flushes by itself as soon as its queue is empty; waiting
        // for it here could deadlock two parties sending large messages at
        // once, so flush only reports what the writer has hit so far.
        match self.pending_error() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn stats(&self) -> ChannelStats {
        self.counter.stats()
    }
}

impl Drop for TcpChannel {
    fn drop(&mut self) {
        self.queue.take();
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}
