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

/// One party's connection: TLS or (on request) plain TCP.
#[derive(Debug)]
pub enum Link {
    /// Mutual TLS 1.3.
    Tls(TlsChannel),
    /// Plaintext TCP.
    Tcp(TcpChannel),
}

impl Link {
    /// Lower (or raise) the largest frame accepted from now on.
    pub fn set_max_frame(&mut self, max_frame: usize) {
        match self {
            Link::Tls(c) => c.set_max_frame(max_frame),
            Link::Tcp(c) => c.set_max_frame(max_frame),
        }
    }

    /// "TLS, peer certificate AA:…" or "plaintext", for logs.
    pub fn describe(&self) -> String {
        match self {
            Link::Tls(c) => format!("TLS, peer certificate {}", c.peer_fingerprint()),
            Link::Tcp(_) => "plaintext".into(),
        }
    }
}

impl Channel for Link {
    fn send_frame(&mut self, kind: FrameKind, payload: &[u8]) -> Result<(), TransportError> {
        match self {
            Link::Tls(c) => c.send_frame(kind, payload),
            Link::Tcp(c) => c.send_frame(kind, payload),
        }
    }
    fn recv_frame(&mut self) -> Result<Frame, TransportError> {
        match self {
            Link::Tls(c) => c.recv_frame(),
            Link::Tcp(c) => c.recv_frame(),
        }
    }
    fn flush(&mut self) -> Result<(), TransportError> {
        match self {
            Link::Tls(c) => c.flush(),
            Link::Tcp(c) => c.flush(),
        }
    }
    fn stats(&self) -> ChannelStats {
        match self {
            Link::Tls(c) => c.stats(),
            Link::Tcp(c) => c.stats(),
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
            Security::Tls { identity, peers } => Ok(Link::Tls(TlsChannel::server_from_stream(
                stream, identity, peers, config,
            )?)),
            Security::Plaintext => {
                refuse_tls(&stream, &config)?;
                Ok(Link::Tcp(TcpChannel::from_stream(stream, config)?))
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
            Security::Tls { identity, peers } => Ok(Link::Tls(TlsChannel::client_from_stream(
                stream, identity, peers, config,
            )?)),
            Security::Plaintext => Ok(Link::Tcp(TcpChannel::from_stream(stream, config)?)),
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
