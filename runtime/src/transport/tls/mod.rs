//! The TLS channel: the [`TcpChannel`](super::TcpChannel)'s framing and
//! counters over TLS 1.3 with mutual, pinned authentication (rustls with the
//! ring provider).
//!
//! # Authentication
//!
//! Both sides present a certificate ([`Identity`]) and accept exactly the
//! certificates of their [`PinnedPeers`] (see [`verify`]). A peer whose
//! certificate is not pinned is refused inside the handshake, before any
//! protocol frame is read or sent; the refusing side's error names the
//! fingerprint presented and the fingerprints accepted, and the refused side's
//! error names its own fingerprint and says to have it pinned. Because a TLS
//! 1.3 client finishes its handshake before the server has judged the client
//! certificate, the server sends one confirmation byte after accepting the
//! client, and [`TlsChannel::connect`] waits for it: a refused client learns
//! so at connect time, not at its first receive.
//!
//! A server that sees a plaintext Chimera frame where a TLS `ClientHello`
//! should be answers with a plaintext abort frame saying TLS is required, so
//! a client started with `--insecure-plaintext` gets a clear error, not a
//! hang.
//!
//! # Counting
//!
//! The counters are those of the module [`transport`](super): application
//! frames only (`5 + payload` bytes per frame, flights as rounds), counted
//! exactly as [`TcpChannel`](super::TcpChannel) counts them, so a run reports
//! the same bytes and rounds with and without TLS and the cost model's
//! predictions hold for both. TLS record overhead (22 bytes per record of up
//! to 16 KiB, about 0.14 %), the handshake (a few KiB) and the confirmation
//! byte are **not** counted.
//!
//! # Concurrency
//!
//! One rustls connection is shared by the caller (which decrypts while
//! receiving) and a writer thread (which encrypts queued frames and writes
//! the records), under a mutex held only while records are processed in
//! memory, never during socket I/O. Sending therefore never waits for the
//! peer to read, and two parties sending large messages at once cannot
//! deadlock, exactly as with the TCP channel.

mod verify;

pub use verify::NotPinned;

use super::frame::{encode_frame, encode_header, read_header, HEADER_LEN};
use super::TransportError;
use super::{check_abort, Channel, ChannelConfig, ChannelStats, Counter, Frame, FrameKind};
use crate::identity::{Fingerprint, Identity, PinnedPeers};
use rustls::pki_types::ServerName;
use rustls::{AlertDescription, ClientConnection, Connection, ServerConnection};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::mpsc::{channel, Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use verify::{PinnedVerifier, Refusal};

/// Size of socket reads and of the plaintext pieces sealed at once.
const CHUNK: usize = 1 << 16;

/// Largest allocation made before payload bytes have arrived.
const MAX_PREALLOC: usize = 1 << 20;

/// The byte a server sends after accepting the client's certificate.
const CONFIRM: u8 = 0xC5;

/// ALPN protocol name: both sides must speak this version of Chimera's wire.
const ALPN: &[u8] = b"chimera/1";

/// Name sent as SNI; peers are pinned, so no name is checked.
const SERVER_NAME: &str = "chimera-peer";

/// Why a TLS connection could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// We refused the peer's certificate (the message names the fingerprint
    /// presented and those accepted).
    #[error("{0}")]
    PeerRefused(String),
    /// The peer refused our certificate.
    #[error(
        "the {role} refused our certificate {ours} (TLS alert {alert}): give the {role}'s operator our certificate file so they can pin it, and check that we pin theirs"
    )]
    RefusedByPeer {
        /// The peer's role.
        role: &'static str,
        /// Our certificate's fingerprint.
        ours: Fingerprint,
        /// The alert it sent.
        alert: String,
    },
    /// The peer does not speak TLS.
    #[error("the {role} did not speak TLS: {detail}; both parties must use TLS, or both run with --insecure-plaintext")]
    NotTls {
        /// The peer's role.
        role: &'static str,
        /// What was seen.
        detail: String,
    },
    /// Another handshake failure.
    #[error("TLS handshake with the {role} failed: {detail}")]
    Handshake {
        /// The peer's role.
        role: &'static str,
        /// What went wrong.
        detail: String,
    },
    /// Our own TLS configuration is unusable (e.g. a key rustls rejects).
    #[error("TLS configuration error: {0}")]
    Config(String),
    /// A transport failure (timeout, I/O) before or during the handshake.
    #[error(transparent)]
    Transport(#[from] TransportError),
}

/// One end of a mutually authenticated TLS 1.3 connection between the parties.
pub struct TlsChannel {
    conn: Arc<Mutex<Connection>>,
    stream: TcpStream,
    queue: Option<Sender<Vec<u8>>>,
    writer: Option<JoinHandle<()>>,
    write_error: Arc<Mutex<Option<(ErrorKind, String)>>>,
    config: ChannelConfig,
    counter: Counter,
    raw: Vec<u8>,
    raw_pos: usize,
    raw_len: usize,
    peer: Fingerprint,
}

impl std::fmt::Debug for TlsChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsChannel")
            .field("peer", &self.stream.peer_addr().ok())
            .field("peer_certificate", &self.peer)
            .field("stats", &self.counter.stats())
            .finish()
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn config_error(e: rustls::Error) -> TlsError {
    TlsError::Config(e.to_string())
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

fn lock<T>(m: &Mutex<T>) -> Result<MutexGuard<'_, T>, TransportError> {
    m.lock()
        .map_err(|_| TransportError::Internal("the TLS writer thread panicked".into()))
}

/// Turn a handshake failure into a [`TlsError`] that says whose fault it is.
fn classify(
    e: io::Error,
    role: &'static str,
    refusal: &Refusal,
    ours: Fingerprint,
    config: &ChannelConfig,
) -> TlsError {
    if let Some(reason) = refusal.lock().ok().and_then(|mut s| s.take()) {
        return TlsError::PeerRefused(reason);
    }
    if let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        return match tls {
            rustls::Error::AlertReceived(
                a @ (AlertDescription::BadCertificate
                | AlertDescription::CertificateUnknown
                | AlertDescription::AccessDenied
                | AlertDescription::UnknownCA
                | AlertDescription::CertificateExpired
                | AlertDescription::CertificateRequired
                | AlertDescription::UnsupportedCertificate),
            ) => TlsError::RefusedByPeer {
                role,
                ours,
                alert: format!("{a:?}"),
            },
            rustls::Error::InvalidMessage(m) => TlsError::NotTls {
                role,
                detail: format!("it sent something that is not a TLS record ({m:?})"),
            },
            other => TlsError::Handshake {
                role,
                detail: other.to_string(),
            },
        };
    }
    match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => {
            TlsError::Transport(TransportError::Timeout(config.read_timeout))
        }
        k if is_closed(k) => TlsError::Handshake {
            role,
            detail: "the connection closed during the handshake (the peer may have refused our certificate, or it may not use TLS)".into(),
        },
        _ => TlsError::Transport(TransportError::Io(e)),
    }
}

impl TlsChannel {
    /// Connect to a listening server as the client, authenticate both ways
    /// and wait for the server to accept our certificate.
    pub fn connect(
        addr: impl ToSocketAddrs,
        identity: &Identity,
        peers: &PinnedPeers,
        config: ChannelConfig,
    ) -> Result<TlsChannel, TlsError> {
        let stream = TcpStream::connect(addr).map_err(TransportError::Io)?;
        TlsChannel::client_from_stream(stream, identity, peers, config)
    }

    /// Accept one connection as the server and authenticate it.
    pub fn accept(
        listener: &TcpListener,
        identity: &Identity,
        peers: &PinnedPeers,
        config: ChannelConfig,
    ) -> Result<TlsChannel, TlsError> {
        let (stream, _) = listener.accept().map_err(TransportError::Io)?;
        TlsChannel::server_from_stream(stream, identity, peers, config)
    }

    /// Run the client side of the handshake on a connected stream.
    pub fn client_from_stream(
        mut stream: TcpStream,
        identity: &Identity,
        peers: &PinnedPeers,
        config: ChannelConfig,
    ) -> Result<TlsChannel, TlsError> {
        prepare(&stream, &config)?;
        let refusal = Refusal::default();
        let verifier = PinnedVerifier::new(peers.clone(), "server", refusal.clone());
        let mut tls = rustls::ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(config_error)?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_client_auth_cert(vec![identity.certificate().clone()], identity.private_key())
            .map_err(config_error)?;
        tls.alpn_protocols = vec![ALPN.to_vec()];
        tls.resumption = rustls::client::Resumption::disabled();
        let name =
            ServerName::try_from(SERVER_NAME).map_err(|e| TlsError::Config(e.to_string()))?;
        let mut conn = ClientConnection::new(Arc::new(tls), name).map_err(config_error)?;
        let fail = |e| classify(e, "server", &refusal, identity.fingerprint(), &config);
        while conn.is_handshaking() {
            conn.complete_io(&mut stream).map_err(fail)?;
        }
        let mut byte = [0u8; 1];
        let n = rustls::Stream::new(&mut conn, &mut stream)
            .read(&mut byte)
            .map_err(fail)?;
        if n != 1 || byte[0] != CONFIRM {
            return Err(TlsError::Handshake {
                role: "server",
                detail: "the server closed the connection instead of confirming our certificate"
                    .into(),
            });
        }
        let peer = peer_fingerprint(conn.peer_certificates());
        TlsChannel::start(Connection::Client(conn), stream, config, peer)
    }

    /// Run the server side of the handshake on an accepted stream.
    pub fn server_from_stream(
        mut stream: TcpStream,
        identity: &Identity,
        peers: &PinnedPeers,
        config: ChannelConfig,
    ) -> Result<TlsChannel, TlsError> {
        prepare(&stream, &config)?;
        refuse_plaintext(&mut stream, &config)?;
        let refusal = Refusal::default();
        let verifier = PinnedVerifier::new(peers.clone(), "client", refusal.clone());
        let mut tls = rustls::ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(config_error)?
            .with_client_cert_verifier(Arc::new(verifier))
            .with_single_cert(vec![identity.certificate().clone()], identity.private_key())
            .map_err(config_error)?;
        tls.alpn_protocols = vec![ALPN.to_vec()];
        tls.send_tls13_tickets = 0;
        let mut conn = ServerConnection::new(Arc::new(tls)).map_err(config_error)?;
        let fail = |e| classify(e, "client", &refusal, identity.fingerprint(), &config);
        while conn.is_handshaking() {
            conn.complete_io(&mut stream).map_err(fail)?;
        }
        let mut s = rustls::Stream::new(&mut conn, &mut stream);
        s.write_all(&[CONFIRM]).map_err(fail)?;
        s.flush().map_err(fail)?;
        let peer = peer_fingerprint(conn.peer_certificates());
        TlsChannel::start(Connection::Server(conn), stream, config, peer)
    }

    /// Split the authenticated connection between the caller and a writer thread.
    fn start(
        mut conn: Connection,
        stream: TcpStream,
        config: ChannelConfig,
        peer: Fingerprint,
    ) -> Result<TlsChannel, TlsError> {
        // Frames are sealed piecewise by the writer, so rustls's own buffer
        // limit only gets in the way.
        conn.set_buffer_limit(None);
        let conn = Arc::new(Mutex::new(conn));
        let write_stream = stream.try_clone().map_err(TransportError::Io)?;
        let (tx, rx) = channel::<Vec<u8>>();
        let write_error = Arc::new(Mutex::new(None));
        let sealer = Sealer {
            conn: Arc::clone(&conn),
            stream: write_stream,
            out: Vec::new(),
        };
        let errors = Arc::clone(&write_error);
        let writer = std::thread::Builder::new()
            .name("chimera-tls-writer".into())
            .spawn(move || write_loop(sealer, rx, errors))
            .map_err(TransportError::Io)?;
        Ok(TlsChannel {
            conn,
            stream,
            queue: Some(tx),
            writer: Some(writer),
            write_error,
            config,
            counter: Counter::default(),
            raw: vec![0u8; CHUNK],
            raw_pos: 0,
            raw_len: 0,
            peer,
        })
    }

    /// Change the largest frame accepted or sent from now on, e.g. to the
    /// largest message a plan can send once the query's batch is known, so a
    /// peer cannot make us buffer more than the protocol ever needs.
    pub fn set_max_frame(&mut self, max_frame: usize) {
        self.config.max_frame = max_frame;
    }

    /// The fingerprint of the certificate the peer authenticated with.
    pub fn peer_fingerprint(&self) -> Fingerprint {
        self.peer
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

    /// Ask the writer to send whatever rustls has queued (alerts, key updates).
    fn wake_writer(&self) {
        if let Some(q) = &self.queue {
            let _ = q.send(Vec::new());
        }
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

    /// Read at least one plaintext byte into `buf` (non-empty); 0 means the
    /// peer closed the connection.
    fn read_some(&mut self, buf: &mut [u8]) -> Result<usize, TransportError> {
        loop {
            {
                let mut conn = lock(&self.conn)?;
                match conn.reader().read(buf) {
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(0),
                    Err(e) => return Err(TransportError::Io(e)),
                }
                if self.raw_pos < self.raw_len {
                    let mut slice = &self.raw[self.raw_pos..self.raw_len];
                    let n = conn.read_tls(&mut slice).map_err(TransportError::Io)?;
                    self.raw_pos += n;
                    let processed = conn.process_new_packets().map(|_| ());
                    let wants_write = conn.wants_write();
                    drop(conn);
                    if wants_write {
                        self.wake_writer();
                    }
                    processed.map_err(record_error)?;
                    continue;
                }
            }
            match self.stream.read(&mut self.raw) {
                Ok(0) => {
                    let mut conn = lock(&self.conn)?;
                    let _ = conn.read_tls(&mut &[][..]);
                    conn.process_new_packets().map_err(record_error)?;
                    // The reader now reports the end (cleanly or not).
                    match conn.reader().read(buf) {
                        Ok(n) => return Ok(n),
                        Err(_) => return Ok(0),
                    }
                }
                Ok(n) => {
                    self.raw_pos = 0;
                    self.raw_len = n;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(self.map_read_error(e)),
            }
        }
    }

    /// Fill `buf`, or return how many bytes arrived before the peer closed.
    fn read_full(&mut self, buf: &mut [u8]) -> Result<usize, TransportError> {
        let mut got = 0;
        while got < buf.len() {
            match self.read_some(&mut buf[got..])? {
                0 => break,
                n => got += n,
            }
        }
        Ok(got)
    }
}

/// A record-layer failure after the handshake: the bytes were corrupted or
/// forged in transit, or the peer's TLS stack misbehaved.
fn record_error(e: rustls::Error) -> TransportError {
    match e {
        rustls::Error::DecryptError => TransportError::PeerMisbehaved(
            "a TLS record failed authentication (corrupted or tampered with in transit)".into(),
        ),
        rustls::Error::AlertReceived(a) => {
            TransportError::PeerMisbehaved(format!("the peer sent TLS alert {a:?}"))
        }
        other => TransportError::PeerMisbehaved(format!("TLS error: {other}")),
    }
}

fn peer_fingerprint(certs: Option<&[rustls::pki_types::CertificateDer<'static>]>) -> Fingerprint {
    // The handshake succeeded, so the verifier saw (and pinned) a certificate.
    certs
        .and_then(|c| c.first())
        .map(|c| Fingerprint::of(c))
        .unwrap_or(Fingerprint([0; 32]))
}

/// Socket options shared with the TCP channel.
fn prepare(stream: &TcpStream, config: &ChannelConfig) -> Result<(), TransportError> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(config.read_timeout))?;
    stream.set_write_timeout(Some(config.read_timeout))?;
    Ok(())
}

/// Server side: wait for the first byte and refuse a plaintext client. If it
/// sent a Chimera frame, answer with a plaintext abort frame so its error says
/// why.
fn refuse_plaintext(stream: &mut TcpStream, config: &ChannelConfig) -> Result<(), TlsError> {
    let mut first = [0u8; 1];
    let n = loop {
        match stream.peek(&mut first) {
            Ok(n) => break n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(TransportError::Timeout(config.read_timeout).into())
            }
            Err(e) => return Err(TransportError::Io(e).into()),
        }
    };
    if n == 0 {
        return Err(TlsError::Handshake {
            role: "client",
            detail: "the client closed the connection before starting the handshake".into(),
        });
    }
    // 0x16: a TLS handshake record.
    if first[0] == 0x16 {
        return Ok(());
    }
    if FrameKind::from_byte(first[0]).is_some() {
        let reason = b"this server requires TLS with mutual authentication; the client connected in plaintext (--insecure-plaintext)";
        if let Ok(header) = encode_header(FrameKind::Abort, reason.len(), reason.len()) {
            let _ = stream.write_all(&header);
            let _ = stream.write_all(reason);
            let _ = stream.flush();
        }
        let _ = stream.shutdown(Shutdown::Write);
        return Err(TlsError::NotTls {
            role: "client",
            detail: format!(
                "it sent a plaintext Chimera frame (kind byte {:#04x}) instead of a TLS ClientHello",
                first[0]
            ),
        });
    }
    Err(TlsError::NotTls {
        role: "client",
        detail: format!(
            "its first byte is {:#04x}, not a TLS handshake record (0x16)",
            first[0]
        ),
    })
}

/// The writer's half: seals plaintext into records and writes them.
struct Sealer {
    conn: Arc<Mutex<Connection>>,
    stream: TcpStream,
    out: Vec<u8>,
}

impl Sealer {
    /// Encrypt `data` (possibly empty: just flush what rustls has queued) in
    /// pieces of [`CHUNK`] bytes and write each piece's records, holding the
    /// lock only while encrypting.
    fn seal(&mut self, data: &[u8]) -> io::Result<()> {
        let mut rest = data;
        loop {
            let take = rest.len().min(CHUNK);
            {
                let mut conn = self
                    .conn
                    .lock()
                    .map_err(|_| io::Error::other("the TLS connection lock is poisoned"))?;
                if take > 0 {
                    conn.writer().write_all(&rest[..take])?;
                }
                while conn.wants_write() {
                    conn.write_tls(&mut self.out)?;
                }
            }
            if !self.out.is_empty() {
                self.stream.write_all(&self.out)?;
                self.out.clear();
            }
            rest = &rest[take..];
            if rest.is_empty() {
                return Ok(());
            }
        }
    }

    fn close(&mut self) -> io::Result<()> {
        if let Ok(mut conn) = self.conn.lock() {
            conn.send_close_notify();
        }
        self.seal(&[])
    }
}

fn write_loop(
    mut sealer: Sealer,
    rx: Receiver<Vec<u8>>,
    errors: Arc<Mutex<Option<(ErrorKind, String)>>>,
) {
    let fail = |e: io::Error| {
        if let Ok(mut slot) = errors.lock() {
            slot.get_or_insert((e.kind(), e.to_string()));
        }
    };
    // Small frames are gathered into one plaintext buffer so they share
    // records; large ones are sealed straight from the caller's buffer.
    let mut pending: Vec<u8> = Vec::new();
    while let Ok(first) = rx.recv() {
        let mut closed = false;
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            let sealed = if msg.len() >= CHUNK {
                sealer
                    .seal(&pending)
                    .and_then(|()| sealer.seal(&msg))
                    .map(|()| pending.clear())
            } else {
                pending.extend_from_slice(&msg);
                if pending.len() >= CHUNK {
                    let r = sealer.seal(&pending);
                    pending.clear();
                    r
                } else {
                    Ok(())
                }
            };
            if let Err(e) = sealed {
                return fail(e);
            }
            match rx.try_recv() {
                Ok(m) => next = Some(m),
                Err(TryRecvError::Empty) => {}
                Err(TryRecvError::Disconnected) => closed = true,
            }
        }
        let sealed = sealer.seal(&pending);
        pending.clear();
        if let Err(e) = sealed {
            return fail(e);
        }
        if closed {
            break;
        }
    }
    if let Err(e) = sealer.close() {
        fail(e);
    }
}

impl Channel for TlsChannel {
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
        while payload.len() < len {
            let start = payload.len();
            // Grow as bytes arrive, so a huge announced length costs nothing
            // until its bytes are really here.
            let step = (len - start).min(start.max(CHUNK));
            payload.resize(start + step, 0);
            let n = self.read_some(&mut payload[start..])?;
            payload.truncate(start + n);
            if n == 0 {
                return Err(TransportError::PeerMisbehaved(format!(
                    "truncated {} frame: the connection ended after {start} of {len} payload bytes",
                    kind.name()
                )));
            }
        }
        self.counter.on_recv(HEADER_LEN + len);
        check_abort(Frame { kind, payload })
    }

    fn flush(&mut self) -> Result<(), TransportError> {
        // As for TCP: the writer flushes by itself; waiting here could
        // deadlock two parties sending large messages at once.
        match self.pending_error() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn stats(&self) -> ChannelStats {
        self.counter.stats()
    }
}

impl Drop for TlsChannel {
    fn drop(&mut self) {
        // Closing the queue makes the writer send what is queued, then
        // close_notify; its wait is bounded by the write timeout.
        self.queue.take();
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}
