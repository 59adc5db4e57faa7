//! How the command-line parties reach each other: mutual TLS 1.3 with pinned
//! certificates by default, plaintext TCP only behind `--insecure-plaintext`.
//!
//! Every networked subcommand (`serve`, `query`, and the dealer's
//! distribution) flattens [`LinkArgs`] into its flags and turns them into a
//! [`Security`] before it opens a socket, so a missing key or certificate is
//! an error at start, never a silent fall-back to plaintext. [`Link`] is the
//! resulting channel, TLS or TCP, behind the one [`Channel`] interface.

use anyhow::{bail, Context};
use chimera_runtime::identity::{Identity, PinnedPeers};
use chimera_runtime::transport::frame::encode_header;
use chimera_runtime::transport::{
    Channel, ChannelConfig, ChannelStats, Frame, FrameKind, TcpChannel, TlsChannel, TransportError,
};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The channel-security flags shared by `serve`, `query` and `dealer`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct LinkArgs {
    /// This party's TLS identity made by `chimera keygen`: its certificate
    /// `NAME.crt` (the key `NAME.key` beside it), the common prefix `DIR/NAME`,
    /// or a directory holding exactly one key pair.
    #[arg(long, value_name = "NAME.crt|DIR")]
    pub identity: Option<PathBuf>,
    /// A peer certificate to accept (pin). Repeat for several peers; a file
    /// may hold several certificates. Only these peers can connect.
    #[arg(long = "accept", value_name = "PEER.crt")]
    pub accept: Vec<PathBuf>,
    /// Talk plaintext TCP: no encryption and no authentication. For loopback
    /// benchmarks and debugging only; both parties must use it.
    #[arg(long, conflicts_with_all = ["identity", "accept"])]
    pub insecure_plaintext: bool,
}

/// What a party's connections look like.
#[derive(Clone, Debug)]
pub enum Security {
    /// Mutual TLS 1.3: our identity and the peer certificates we accept.
    Tls {
        /// Our key and certificate.
        identity: Identity,
        /// The peers we accept.
        peers: PinnedPeers,
    },
    /// Plaintext TCP, on explicit request.
    Plaintext,
}

/// The notice printed (on stderr) by every party started with `--insecure-plaintext`.
pub const PLAINTEXT_NOTICE: &str = "warning: --insecure-plaintext: this connection is plaintext TCP, neither encrypted nor authenticated; anyone on the path can read the masked values and impersonate either party. Use it only on loopback for benchmarks.";

impl LinkArgs {
    /// Load the identity and the accepted certificates; `peer` names the
    /// other side in messages ("client", "server").
    pub fn security(&self, peer: &str) -> anyhow::Result<Security> {
        if self.insecure_plaintext {
            eprintln!("{PLAINTEXT_NOTICE}");
            return Ok(Security::Plaintext);
        }
        let Some(identity) = &self.identity else {
            bail!(
                "no TLS identity: pass --identity NAME.crt (make one with `chimera keygen --name NAME --out DIR`) and --accept with the {peer}'s certificate, or --insecure-plaintext on both sides for an unprotected loopback run"
            );
        };
        if self.accept.is_empty() {
            bail!(
                "no accepted {peer} certificate: pass --accept {peer}.crt (the file the {peer}'s `chimera keygen` wrote), or --insecure-plaintext on both sides"
            );
        }
        let (cert, key) = identity_files(identity)?;
        let identity = Identity::load(&cert, &key)
            .with_context(|| format!("cannot load the TLS identity {}", cert.display()))?;
        let peers =
            PinnedPeers::load(&self.accept).context("cannot load an accepted certificate")?;
        Ok(Security::Tls { identity, peers })
    }
}

/// The certificate and key files named by `--identity`.
pub fn identity_files(path: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    if path.is_dir() {
        let mut keys: Vec<PathBuf> = std::fs::read_dir(path)
            .with_context(|| format!("cannot read {}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "key"))
            .collect();
        keys.sort();
        return match keys.as_slice() {
            [key] => Ok((key.with_extension("crt"), key.clone())),
            [] => bail!(
                "{} holds no key (NAME.key); make one with `chimera keygen --name NAME --out {}`",
                path.display(),
                path.display()
            ),
            _ => bail!(
                "{} holds several keys ({}); name one with --identity {}",
                path.display(),
                keys.iter()
                    .filter_map(|k| k.file_name().map(|n| n.to_string_lossy().into_owned()))
                    .collect::<Vec<_>>()
                    .join(", "),
                keys[0].with_extension("crt").display()
            ),
        };
    }
    match path.extension().and_then(|e| e.to_str()) {
        Some("crt") | Some("key") => Ok((path.with_extension("crt"), path.with_extension("key"))),
        _ => {
            let with = |ext: &str| {
                let mut p = path.as_os_str().to_owned();
                p.push(ext);
                PathBuf::from(p)
            };
            Ok((with(".crt"), with(".key")))
        }
    }
}

/// One party's connection: TLS or (on request) plain TCP, with a running
/// digest of every frame sent and received for the closing
/// [transcript confirmation](Link::confirm_transcript).
pub struct Link {
    inner: Inner,
    /// Whether frames are digested (plaintext only).
    digesting: bool,
    sent: blake3::Hasher,
    received: blake3::Hasher,
}

enum Inner {
    Tls(TlsChannel),
    Tcp(TcpChannel),
}

/// Magic of the transcript confirmation frame.
const CONFIRM_MAGIC: &[u8; 4] = b"CHT1";

/// Domain of the transcript digests.
const DIGEST_CONTEXT: &str = "chimera 2026 link transcript confirmation v1";

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner {
            Inner::Tls(c) => c.fmt(f),
            Inner::Tcp(c) => c.fmt(f),
        }
    }
}

fn absorb(h: &mut blake3::Hasher, kind: FrameKind, payload: &[u8]) {
    h.update(&[kind as u8]);
    h.update(&(payload.len() as u64).to_le_bytes());
    h.update(payload);
}

impl Link {
    fn new(inner: Inner) -> Link {
        Link {
            // TLS authenticates every record already: no need to hash.
            digesting: matches!(inner, Inner::Tcp(_)),
            inner,
            sent: blake3::Hasher::new_derive_key(DIGEST_CONTEXT),
            received: blake3::Hasher::new_derive_key(DIGEST_CONTEXT),
        }
    }

    /// Lower (or raise) the largest frame accepted from now on.
    pub fn set_max_frame(&mut self, max_frame: usize) {
        match &mut self.inner {
            Inner::Tls(c) => c.set_max_frame(max_frame),
            Inner::Tcp(c) => c.set_max_frame(max_frame),
        }
    }

    /// "TLS, peer certificate AA:…" or "plaintext", for logs.
    pub fn describe(&self) -> String {
        match &self.inner {
            Inner::Tls(c) => format!("TLS, peer certificate {}", c.peer_fingerprint()),
            Inner::Tcp(_) => "plaintext".into(),
        }
    }

    /// The closing handshake of a query, after the protocol has finished:
    /// both parties send the digests of every frame they sent and received
    /// (blake3) and check them against their own. Over plaintext TCP this is
    /// the integrity check of the whole transcript — a byte altered, dropped,
    /// replayed or injected in transit on either direction makes both
    /// parties discard the run ("the transcript digests differ"), where it
    /// could otherwise yield a wrong answer. It detects accidents, not an
    /// attacker, who can rewrite the digests too: plaintext has no
    /// authentication. Over TLS, which already authenticates every record,
    /// nothing is hashed (the digests are those of the empty transcript) and
    /// the exchange only confirms to each side that the other received
    /// everything, so a server knows its client got the answer. It is not part of the counted
    /// traffic (the run's counters were read before it).
    pub fn confirm_transcript(&mut self) -> anyhow::Result<()> {
        let sent = *self.sent.finalize().as_bytes();
        let received = *self.received.finalize().as_bytes();
        let mut mine = CONFIRM_MAGIC.to_vec();
        mine.extend_from_slice(&sent);
        mine.extend_from_slice(&received);
        self.send(&mine)?;
        self.flush()?;
        let theirs = self
            .recv()
            .context("waiting for the peer's transcript confirmation")?;
        if theirs.len() != 4 + 64 || &theirs[..4] != CONFIRM_MAGIC {
            bail!("the peer's transcript confirmation is malformed; the transcript was altered in transit (the result is discarded)");
        }
        if theirs[4..36] != received || theirs[36..] != sent {
            bail!("the transcript digests differ: bytes were altered, dropped or replayed in transit (the result is discarded)");
        }
        Ok(())
    }
}

impl Channel for Link {
    fn send_frame(&mut self, kind: FrameKind, payload: &[u8]) -> Result<(), TransportError> {
        match &mut self.inner {
            Inner::Tls(c) => c.send_frame(kind, payload),
            Inner::Tcp(c) => c.send_frame(kind, payload),
        }?;
        if self.digesting {
            absorb(&mut self.sent, kind, payload);
        }
        Ok(())
    }
    fn recv_frame(&mut self) -> Result<Frame, TransportError> {
        let frame = match &mut self.inner {
            Inner::Tls(c) => c.recv_frame(),
            Inner::Tcp(c) => c.recv_frame(),
        }?;
        if self.digesting {
            absorb(&mut self.received, frame.kind, &frame.payload);
        }
        Ok(frame)
    }
    fn flush(&mut self) -> Result<(), TransportError> {
        match &mut self.inner {
            Inner::Tls(c) => c.flush(),
            Inner::Tcp(c) => c.flush(),
        }
    }
    fn stats(&self) -> ChannelStats {
        match &self.inner {
            Inner::Tls(c) => c.stats(),
            Inner::Tcp(c) => c.stats(),
        }
    }
}

impl Security {
    /// One line for the start-up log: the mode and who is accepted.
    pub fn describe(&self, peer: &str) -> String {
        match self {
            Security::Tls { identity, peers } => format!(
                "mutual TLS 1.3; our certificate {} ({}); accepted {peer} certificate(s): {}",
                identity.fingerprint(),
                identity.name(),
                peers.describe()
            ),
            Security::Plaintext => {
                "plaintext TCP (--insecure-plaintext: no encryption, no peer authentication)".into()
            }
        }
    }

    /// Server side of a freshly accepted connection: the TLS handshake (a
    /// peer whose certificate is not pinned is refused here, before any
    /// protocol frame), or plain TCP after checking the peer does not try to
    /// speak TLS.
    pub fn accept(&self, stream: TcpStream, config: ChannelConfig) -> anyhow::Result<Link> {
        stream.set_nonblocking(false)?;
        match self {
            Security::Tls { identity, peers } => Ok(Link::new(Inner::Tls(
                TlsChannel::server_from_stream(stream, identity, peers, config)?,
            ))),
            Security::Plaintext => {
                refuse_tls(&stream, &config)?;
                Ok(Link::new(Inner::Tcp(TcpChannel::from_stream(
                    stream, config,
                )?)))
            }
        }
    }

    /// Client side: connect (retrying while the server starts, up to
    /// `patience`), then authenticate both ways.
    pub fn connect(
        &self,
        addr: &str,
        config: ChannelConfig,
        patience: Duration,
    ) -> anyhow::Result<Link> {
        let stream = connect_retry(addr, patience)?;
        match self {
            Security::Tls { identity, peers } => Ok(Link::new(Inner::Tls(
                TlsChannel::client_from_stream(stream, identity, peers, config)?,
            ))),
            Security::Plaintext => Ok(Link::new(Inner::Tcp(TcpChannel::from_stream(
                stream, config,
            )?))),
        }
    }
}

/// Connect, retrying refused connections until `patience` has passed.
fn connect_retry(addr: &str, patience: Duration) -> std::io::Result<TcpStream> {
    let start = Instant::now();
    loop {
        match TcpStream::connect(addr) {
            Ok(s) => return Ok(s),
            Err(e) if e.kind() == ErrorKind::ConnectionRefused && start.elapsed() < patience => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(e),
        }
    }
}

/// A plaintext server's check of the first byte: a TLS `ClientHello` (0x16)
/// gets a plaintext abort frame (which the client's TLS stack reports as "the
/// server did not speak TLS") and an error naming the mismatch.
fn refuse_tls(stream: &TcpStream, config: &ChannelConfig) -> anyhow::Result<()> {
    stream.set_read_timeout(Some(config.read_timeout))?;
    let mut first = [0u8; 1];
    let n = loop {
        match stream.peek(&mut first) {
            Ok(n) => break n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(TransportError::Timeout(config.read_timeout).into())
            }
            Err(e) => return Err(e.into()),
        }
    };
    if n == 1 && first[0] == 0x16 {
        let reason = b"this server runs with --insecure-plaintext (no TLS); the client must use --insecure-plaintext too";
        let mut s = stream;
        // Take the ClientHello off the socket first, so closing does not
        // reset the connection before the client reads our answer.
        let mut hello = [0u8; 4096];
        let _ = s.read(&mut hello);
        if let Ok(header) = encode_header(FrameKind::Abort, reason.len(), reason.len()) {
            let _ = s.write_all(&header);
            let _ = s.write_all(reason);
            let _ = s.flush();
        }
        let _ = stream.shutdown(Shutdown::Write);
        bail!("the client speaks TLS but this server runs with --insecure-plaintext; both parties must use TLS, or both --insecure-plaintext");
    }
    Ok(())
}
