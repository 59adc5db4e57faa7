//! Mutual TLS between the parties over loopback: round trips with counters
//! identical to plain TCP, simultaneous bulk exchange, refusal of unpinned
//! peers on both sides (including a rogue client with no certificate or an
//! unpinned one that sends a request without waiting for the verdict),
//! plaintext peers, and bad key/certificate files.

use chimera_runtime::identity::{GeneratedIdentity, Identity, IdentityError, PinnedPeers};
use chimera_runtime::transport::frame::encode_frame;
use chimera_runtime::transport::{
    Channel, ChannelConfig, FrameKind, TcpChannel, TlsChannel, TlsError, TransportError,
};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

fn cfg() -> ChannelConfig {
    ChannelConfig {
        read_timeout: Duration::from_secs(10),
        ..ChannelConfig::default()
    }
}

/// A scratch directory that is removed when dropped, so test runs leave
/// nothing behind in the system's temporary directory.
struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempdir(tag: &str) -> TempDir {
    let dir = std::env::temp_dir().join(format!("chimera-tls-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}

/// Generate, write and reload an identity through its files.
fn identity(dir: &Path, name: &str) -> Identity {
    let files = GeneratedIdentity::generate(name, 30)
        .unwrap()
        .write(dir, name)
        .unwrap();
    Identity::load(&files.cert, &files.key).unwrap()
}

fn pins(ids: &[&Identity]) -> PinnedPeers {
    let mut p = PinnedPeers::new();
    for id in ids {
        p.add_identity(id);
    }
    p
}

/// The same exchange on any channel: returns (received words, stats).
fn exchange<C: Channel>(ch: &mut C, mine: &[u64], n: usize) -> (Vec<u64>, Vec<u64>) {
    let got = ch.exchange_u64s(mine, n).unwrap();
    ch.send_u64s(&[got.iter().fold(0u64, |s, &w| s.wrapping_add(w))])
        .unwrap();
    ch.flush().unwrap();
    let back = ch.recv_u64s(1).unwrap();
    (got, back)
}

struct Pair {
    server: Identity,
    client: Identity,
}

fn pair(tag: &str) -> Pair {
    let dir = tempdir(tag);
    Pair {
        server: identity(&dir, "server"),
        client: identity(&dir, "client"),
    }
}

#[test]
fn mutual_tls_round_trip_counts_exactly_like_tcp() {
    let ids = pair("roundtrip");
    let a: Vec<u64> = (0..1000).map(|i| i * 7 + u64::MAX / 3).collect();
    let b: Vec<u64> = (0..1000).map(|i| i ^ 0xdead_beef).collect();

    // TLS.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server_pins = pins(&[&ids.client]);
    let (sid, a2, b2) = (ids.server.clone(), a.clone(), b.clone());
    let server = thread::spawn(move || {
        let mut ch = TlsChannel::accept(&listener, &sid, &server_pins, cfg()).unwrap();
        let r = exchange(&mut ch, &a2, b2.len());
        (r, ch.stats(), ch.peer_fingerprint())
    });
    let mut ch = TlsChannel::connect(addr, &ids.client, &pins(&[&ids.server]), cfg()).unwrap();
    assert_eq!(ch.peer_fingerprint(), ids.server.fingerprint());
    let client_tls = exchange(&mut ch, &b, a.len());
    let client_tls_stats = ch.stats();
    let (server_tls, server_tls_stats, seen) = server.join().unwrap();
    assert_eq!(seen, ids.client.fingerprint());
    assert_eq!(client_tls.0, a);
    assert_eq!(server_tls.0, b);
    let sum = |v: &[u64]| v.iter().fold(0u64, |s, &w| s.wrapping_add(w));
    assert_eq!(
        client_tls.1,
        vec![sum(&b)],
        "the server echoes the sum of what it got"
    );
    assert_eq!(server_tls.1, vec![sum(&a)]);

    // Plain TCP, same exchange.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (a2, b2) = (a.clone(), b.clone());
    let server = thread::spawn(move || {
        let mut ch = TcpChannel::accept(&listener, cfg()).unwrap();
        let _ = exchange(&mut ch, &a2, b2.len());
        ch.stats()
    });
    let mut ch = TcpChannel::connect(addr, cfg()).unwrap();
    let _ = exchange(&mut ch, &b, a.len());
    let client_tcp_stats = ch.stats();
    let server_tcp_stats = server.join().unwrap();

    assert_eq!(client_tls_stats, client_tcp_stats);
    assert_eq!(server_tls_stats, server_tcp_stats);
    assert_eq!(client_tls_stats.bytes_sent, 5 + 8000 + 5 + 8);
    assert_eq!(client_tls_stats.rounds, 2);
}

#[test]
fn simultaneous_large_exchange_does_not_deadlock() {
    let ids = pair("bulk");
    let n = 1 << 20; // 8 MiB each way
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server_pins = pins(&[&ids.client]);
    let sid = ids.server.clone();
    let start = Instant::now();
    let server = thread::spawn(move || {
        let mut ch = TlsChannel::accept(&listener, &sid, &server_pins, cfg()).unwrap();
        let mine: Vec<u64> = (0..n as u64).collect();
        ch.exchange_u64s(&mine, n).unwrap()
    });
    let mut ch = TlsChannel::connect(addr, &ids.client, &pins(&[&ids.server]), cfg()).unwrap();
    let mine: Vec<u64> = (0..n as u64).map(|i| !i).collect();
    let got = ch.exchange_u64s(&mine, n).unwrap();
    let server_got = server.join().unwrap();
    assert!(got.iter().enumerate().all(|(i, &w)| w == i as u64));
    assert!(server_got
        .iter()
        .enumerate()
        .all(|(i, &w)| w == !(i as u64)));
    assert!(start.elapsed() < Duration::from_secs(60));
}

#[test]
fn unpinned_client_is_refused_with_fingerprints_on_both_sides() {
    let ids = pair("unpinned-client");
    let stranger = identity(&tempdir("unpinned-client-x"), "stranger");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server_pins = pins(&[&ids.client]);
    let sid = ids.server.clone();
    let server =
        thread::spawn(move || TlsChannel::accept(&listener, &sid, &server_pins, cfg()).err());
    let client = TlsChannel::connect(addr, &stranger, &pins(&[&ids.server]), cfg());
    let server_err = server.join().unwrap().expect("the server must refuse");
    let client_err = client.expect_err("the client must learn it was refused");

    let msg = server_err.to_string();
    assert!(matches!(server_err, TlsError::PeerRefused(_)), "{msg}");
    assert!(msg.contains(&stranger.fingerprint().to_string()), "{msg}");
    assert!(msg.contains(&ids.client.fingerprint().to_string()), "{msg}");
    assert!(msg.contains("client"), "{msg}");

    let msg = client_err.to_string();
    assert!(
        matches!(client_err, TlsError::RefusedByPeer { .. }),
        "{msg}"
    );
    assert!(msg.contains(&stranger.fingerprint().to_string()), "{msg}");
    assert!(msg.contains("server refused our certificate"), "{msg}");
}

#[test]
fn unpinned_server_is_refused_with_fingerprints_on_both_sides() {
    let ids = pair("unpinned-server");
    let impostor = identity(&tempdir("unpinned-server-x"), "impostor");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server_pins = pins(&[&ids.client]);
    let server =
        thread::spawn(move || TlsChannel::accept(&listener, &impostor, &server_pins, cfg()).err());
    let client_err = TlsChannel::connect(addr, &ids.client, &pins(&[&ids.server]), cfg())
        .expect_err("the client must refuse an unpinned server");
    let server_err = server.join().unwrap().expect("the server must fail too");

    let msg = client_err.to_string();
    assert!(matches!(client_err, TlsError::PeerRefused(_)), "{msg}");
    assert!(msg.contains("server's certificate"), "{msg}");
    assert!(msg.contains(&ids.server.fingerprint().to_string()), "{msg}");

    let msg = server_err.to_string();
    assert!(
        matches!(server_err, TlsError::RefusedByPeer { .. }),
        "{msg}"
    );
    assert!(msg.contains("client refused our certificate"), "{msg}");
}

#[test]
fn plaintext_client_gets_a_clear_error_from_a_tls_server() {
    let ids = pair("plaintext");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server_pins = pins(&[&ids.client]);
    let sid = ids.server.clone();
    let server =
        thread::spawn(move || TlsChannel::accept(&listener, &sid, &server_pins, cfg()).err());
    let start = Instant::now();
    let mut plain = TcpChannel::connect(addr, cfg()).unwrap();
    plain.send(b"hello").unwrap();
    plain.flush().unwrap();
    let err = plain
        .recv()
        .expect_err("a TLS server must not answer plaintext");
    assert!(start.elapsed() < Duration::from_secs(5), "no hang");
    match &err {
        TransportError::PeerAborted(reason) => assert!(reason.contains("requires TLS"), "{reason}"),
        other => panic!("expected the server's abort, got {other}"),
    }
    let server_err = server
        .join()
        .unwrap()
        .expect("the server refuses plaintext");
    assert!(
        matches!(server_err, TlsError::NotTls { .. }),
        "{server_err}"
    );
    assert!(server_err.to_string().contains("plaintext"), "{server_err}");
}

#[test]
fn tls_client_to_a_silent_plaintext_server_times_out_cleanly() {
    let ids = pair("plainserver");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // A plaintext party that reads a frame: the ClientHello is not one.
    let server = thread::spawn(move || {
        let mut ch = TcpChannel::accept(&listener, cfg()).unwrap();
        ch.recv_frame().map(|_| ()).unwrap_err().to_string()
    });
    let short = ChannelConfig {
        read_timeout: Duration::from_secs(3),
        ..cfg()
    };
    let err = TlsChannel::connect(addr, &ids.client, &pins(&[&ids.server]), short).unwrap_err();
    let server_msg = server.join().unwrap();
    assert!(
        server_msg.contains("unknown frame kind 0x16"),
        "{server_msg}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("closed during the handshake") || msg.contains("no message from the peer"),
        "{msg}"
    );
}

#[test]
fn garbage_and_expired_pem_files_give_clear_errors() {
    let dir = tempdir("pem");
    let good = identity(&dir, "good");
    let garbage = dir.join("garbage.crt");
    std::fs::write(&garbage, b"this is not a certificate\n").unwrap();
    let err = PinnedPeers::load(&[&garbage]).unwrap_err();
    assert!(matches!(err, IdentityError::BadPem { .. }), "{err}");
    assert!(err.to_string().contains("garbage.crt"), "{err}");

    let broken = dir.join("broken.crt");
    std::fs::write(
        &broken,
        b"-----BEGIN CERTIFICATE-----\nMIIBAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let err = PinnedPeers::load(&[&broken]).unwrap_err();
    assert!(err.to_string().contains("broken.crt"), "{err}");

    let missing = PinnedPeers::load(&[dir.join("nope.crt")]).unwrap_err();
    assert!(missing.to_string().contains("nope.crt"), "{missing}");

    // An expired certificate (valid 2001-2002), written like keygen does.
    let old = GeneratedIdentity::generate_with_validity("old", 978_307_200, 1_009_843_200).unwrap();
    let files = old.write(&dir, "old").unwrap();
    let err = PinnedPeers::load(&[&files.cert]).unwrap_err();
    assert!(err.to_string().contains("expired on 2002-01-01"), "{err}");
    let err = Identity::load(&files.cert, &files.key).unwrap_err();
    assert!(err.to_string().contains("expired"), "{err}");

    // A key that is not the certificate's.
    let other = GeneratedIdentity::generate("other", 30).unwrap();
    let other_files = other.write(&dir, "other").unwrap();
    let good_cert = dir.join("good.crt");
    let err = Identity::load(&good_cert, &other_files.key).unwrap_err();
    assert!(err.to_string().contains("does not belong"), "{err}");
    assert_eq!(good.name(), "good");

    // A garbage key, and a key readable by others.
    let bad_key = dir.join("bad.key");
    std::fs::write(&bad_key, b"garbage").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&bad_key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let err = Identity::load(&good_cert, &bad_key).unwrap_err();
    assert!(
        matches!(
            err,
            IdentityError::BadPem {
                what: "private key",
                ..
            }
        ),
        "{err}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let key = dir.join("good.key");
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "keygen writes owner-only keys");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = Identity::load(&good_cert, &key).unwrap_err();
        assert!(err.to_string().contains("chmod 600"), "{err}");
    }

    // Writing over an existing key is refused.
    let again = GeneratedIdentity::generate("good", 30).unwrap();
    let err = again.write(&dir, "good").unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
}

/// A receiver that lowered its frame limit (`set_max_frame`, as the parties
/// do once the plan and batch are known) refuses a larger frame from its
/// header, over TLS as over TCP, and still sends within its own limit.
#[test]
fn a_lowered_frame_limit_refuses_larger_frames_over_tls_and_tcp() {
    let ids = pair("limit");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (sid, server_pins) = (ids.server.clone(), pins(&[&ids.client]));
    let server = thread::spawn(move || {
        let mut ch = TlsChannel::accept(&listener, &sid, &server_pins, cfg()).unwrap();
        ch.set_max_frame(1024);
        assert_eq!(ch.recv_u64s(128).unwrap().len(), 128, "exactly the limit");
        ch.recv_frame().unwrap_err().to_string()
    });
    let mut ch = TlsChannel::connect(addr, &ids.client, &pins(&[&ids.server]), cfg()).unwrap();
    ch.send_u64s(&[7; 128]).unwrap();
    ch.send_u64s(&[7; 129]).unwrap();
    ch.flush().unwrap();
    assert_eq!(
        server.join().unwrap(),
        "the peer misbehaved: u64 words frame of 1032 bytes exceeds the limit of 1024 bytes"
    );

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let mut ch = TcpChannel::accept(&listener, cfg()).unwrap();
        ch.set_max_frame(1024);
        let err = ch.recv_frame().unwrap_err().to_string();
        let refused = ch.send_u64s(&[1; 129]).unwrap_err().to_string();
        (err, refused)
    });
    let mut ch = TcpChannel::connect(addr, cfg()).unwrap();
    ch.send_u64s(&[7; 129]).unwrap();
    ch.flush().unwrap();
    let (err, refused) = server.join().unwrap();
    assert_eq!(
        err,
        "the peer misbehaved: u64 words frame of 1032 bytes exceeds the limit of 1024 bytes"
    );
    assert!(refused.contains("limit is 1024 bytes"), "{refused}");
}

/// A server verifier that accepts anything: the rogue client below does not
/// care whom it talks to, only whether the server reads what it sends.
#[derive(Debug)]
struct AcceptAnyServer(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A rogue TLS 1.3 client (plain rustls, not [`TlsChannel`]) that presents
/// `cert` (or no certificate at all), does not wait for the server's
/// verdict, and sends a Chimera query request as application data as soon
/// as its own side of the handshake is done. Returns what it read back: it
/// must never be application data.
fn rogue_client(addr: SocketAddr, cert: Option<(&Path, &Path)>) -> Result<Vec<u8>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyServer(provider)));
    let mut config = match cert {
        None => builder.with_no_client_auth(),
        Some((crt, key)) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_file(crt).unwrap()],
                PrivateKeyDer::from_pem_file(key).unwrap(),
            )
            .unwrap(),
    };
    config.alpn_protocols = vec![b"chimera/1".to_vec()];
    let name = ServerName::try_from("chimera-peer").unwrap();
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let mut sock = TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    while conn.is_handshaking() {
        conn.complete_io(&mut sock).map_err(|e| e.to_string())?;
    }
    // A query request frame (`CHQ1`, session, batch), sent at once.
    let mut payload = b"CHQ1".to_vec();
    payload.extend_from_slice(&[0u8; 20]);
    let request = encode_frame(FrameKind::Bytes, &payload, 64).unwrap();
    let mut tls = rustls::Stream::new(&mut conn, &mut sock);
    let _ = tls.write_all(&request);
    let _ = tls.flush();
    let mut got = Vec::new();
    match tls.read_to_end(&mut got) {
        Ok(_) => Ok(got),
        Err(e) if got.is_empty() => Err(e.to_string()),
        Err(_) => Ok(got),
    }
}

/// A client with no certificate, or with one the server does not pin, is
/// refused inside the handshake even if it sends application data without
/// waiting for the server's verdict: the server never yields a channel, so
/// no protocol frame is read, and the client reads nothing but an alert.
/// (Control: the same rogue client with the pinned certificate gets its
/// request read, so the refusals are the server's doing.)
#[test]
fn a_client_without_an_accepted_certificate_gets_no_protocol_message_through() {
    let ids = pair("rogue");
    let dir = tempdir("rogue-x");
    let stranger = GeneratedIdentity::generate("stranger", 30)
        .unwrap()
        .write(&dir, "stranger")
        .unwrap();
    let client = GeneratedIdentity::generate("client", 30)
        .unwrap()
        .write(&dir, "client")
        .unwrap();
    let client_id = Identity::load(&client.cert, &client.key).unwrap();

    // Control: pinned, so the request arrives (after the confirmation byte).
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (sid, server_pins) = (ids.server.clone(), pins(&[&client_id]));
    let server = thread::spawn(move || {
        let mut ch = TlsChannel::accept(&listener, &sid, &server_pins, cfg()).unwrap();
        let request = ch.recv().unwrap();
        drop(ch);
        request
    });
    let got = rogue_client(addr, Some((&client.cert, &client.key))).unwrap();
    assert_eq!(server.join().unwrap()[..4], *b"CHQ1");
    assert_eq!(got, [0xC5], "the pinned client gets the confirmation byte");

    let cases: [(&str, Option<(&Path, &Path)>); 2] = [
        ("no certificate", None),
        (
            "an unpinned certificate",
            Some((&stranger.cert, &stranger.key)),
        ),
    ];
    for (what, cert) in cases {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (sid, server_pins) = (ids.server.clone(), pins(&[&ids.client]));
        let server = thread::spawn(move || {
            TlsChannel::accept(&listener, &sid, &server_pins, cfg()).map(|mut ch| {
                // Only reached if the client was accepted: what did it send?
                ch.recv_frame().map(|f| f.payload)
            })
        });
        let start = Instant::now();
        let client = rogue_client(addr, cert);
        let server = server.join().unwrap();
        assert!(start.elapsed() < Duration::from_secs(5), "{what}: no hang");
        let err = match server {
            Ok(read) => panic!("{what}: the server accepted the client and read {read:?}"),
            Err(e) => e.to_string(),
        };
        match cert {
            None => assert!(err.contains("no certificates"), "{what}: {err}"),
            Some(_) => assert!(
                err.contains("refused the client's certificate")
                    && err.contains(&stranger_fingerprint(&stranger.cert)),
                "{what}: {err}"
            ),
        }
        match client {
            Ok(bytes) => assert!(
                bytes.is_empty(),
                "{what}: the refused client received {bytes:?}"
            ),
            Err(e) => assert!(
                e.contains("CertificateRequired") || e.contains("AccessDenied"),
                "{what}: the client should see the server's alert: {e}"
            ),
        }
    }
}

fn stranger_fingerprint(cert: &Path) -> String {
    PinnedPeers::load(&[cert]).unwrap().certs()[0]
        .fingerprint
        .to_string()
}
