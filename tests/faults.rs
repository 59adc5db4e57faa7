//! Fault injection between real `chimera serve` and `chimera query`
//! processes: a misbehaving proxy ([`common::proxy`]) drops the connection
//! at seeded random points, delays a message past the timeout, truncates,
//! flips, replays or injects bytes; a rogue (authenticated) client sends a
//! frame larger than the plan allows; a client is killed mid-run. Each case
//! must end with a clear error on both sides within a bounded time — no
//! panic, no hang, no wrong answer — and the same server must then answer a
//! good client correctly. Run over TLS (the deployment) and over plaintext
//! (where the closing transcript confirmation catches altered bytes).

mod common;

use common::cli::{scratch, stderr, Scratch};

use chimera_runtime::identity::{Identity, PinnedPeers};
use chimera_runtime::transport::{plan_max_frame, Channel, ChannelConfig, TlsChannel};
use common::parties::{self, mint_keys, tls_flags};
use common::proxy::{Dir, Fault, Framing, Proxy};
use common::random::SplitMix64;
use common::{compile_example, example};
use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Every party's read timeout in these tests (seconds).
const TIMEOUT: u64 = 2;
/// A failing party must report within this long.
const BOUND: Duration = Duration::from_secs(12);
/// Messages that say clearly what went wrong on the wire.
const CLEAR: &[&str] = &[
    "no message from the peer within",
    "the peer closed the connection",
    "the peer misbehaved",
    "the peer aborted",
    "transcript digests differ",
    "transcript confirmation is malformed",
    "TLS handshake with the",
    "closed the connection instead of confirming",
    "did not speak TLS",
    "is not a chimera query request",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Tls,
    Plain,
}

impl Mode {
    fn framing(self) -> Framing {
        match self {
            Mode::Tls => Framing::Tls,
            Mode::Plain => Framing::Chimera,
        }
    }
}

fn link(dir: &Path, mode: Mode, me: &str, peer: &str) -> Vec<OsString> {
    match mode {
        Mode::Plain => vec!["--insecure-plaintext".into()],
        Mode::Tls => tls_flags(&dir.join("keys"), me, peer),
    }
}

/// A running server whose stderr lines are collected as they come.
struct Server {
    child: Child,
    addr: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start(dir: &Path, mode: Mode) -> Server {
        let (mut child, addr) = parties::serve(
            "netD_chameleon",
            &dir.join("m"),
            TIMEOUT,
            link(dir, mode, "server", "client"),
        );
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&log);
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        Server { child, addr, log }
    }

    /// The server's one line per connection: `query from ADDR: …` on
    /// success, `query from ADDR failed: …` on failure.
    fn outcomes(&self) -> Vec<String> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.starts_with("query from"))
            .cloned()
            .collect()
    }

    /// Wait (bounded) for the outcome of the server's `n`-th connection.
    fn nth_outcome(&self, n: usize) -> String {
        let start = Instant::now();
        loop {
            if let Some(line) = self.outcomes().get(n - 1) {
                return line.clone();
            }
            assert!(
                start.elapsed() < BOUND,
                "the server reported nothing about connection #{n} within {BOUND:?}: {:?}",
                self.log.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Peak resident memory (kB) of the server process.
    fn peak_rss_kb(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn query_cmd(dir: &Path, mode: Mode, addr: &str, input: &str) -> Command {
    parties::query(
        &example("netD_chameleon.nn"),
        &example(input),
        &dir.join("m"),
        addr,
        TIMEOUT,
        link(dir, mode, "client", "server"),
    )
}

fn query(dir: &Path, mode: Mode, addr: &str, input: &str) -> (Output, Duration) {
    let start = Instant::now();
    let o = query_cmd(dir, mode, addr, input).output().unwrap();
    (o, start.elapsed())
}

fn assert_clear(who: &str, text: &str) {
    assert!(!text.contains("panicked"), "{who} panicked: {text}");
    assert!(
        CLEAR.iter().any(|c| text.contains(c)),
        "{who} did not give a clear error: {text}"
    );
}

fn setup(tag: &str, queries: usize) -> Scratch {
    let dir = scratch(&format!("faults-{tag}"));
    parties::deal("netD_chameleon", queries, &dir.join("m"));
    mint_keys(&dir.join("keys"), &["server", "client"]);
    dir
}

/// A good client, straight to the server: the right label; `n` is the
/// server's connection count after it.
fn good_query(dir: &Path, mode: Mode, server: &Server, n: usize) {
    let (o, _) = query(dir, mode, &server.addr, "inputs/mnist_1.npy");
    assert!(
        o.status.success(),
        "a good client after a fault: {}",
        stderr(&o)
    );
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("label 2"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let line = server.nth_outcome(n);
    assert!(!line.contains("failed:"), "{line}");
}

/// The faults every mode runs, with unit counts taken from a clean run. A
/// `strict` case hits the middle of the run, so both sides must fail; the
/// others (seeded random points, possibly the closing messages or a TLS
/// header field that TLS 1.3 ignores) must end each side with either a clear
/// error or the correct result.
fn faults(units: [usize; 2], rng: &mut SplitMix64) -> Vec<(String, Fault, bool)> {
    let mut pick = |dir: Dir| {
        let n = units[dir as usize].max(1);
        ((rng.unit() * n as f64) as usize).min(n - 1)
    };
    let mut out = Vec::new();
    for dir in [Dir::ToServer, Dir::ToClient, Dir::ToServer, Dir::ToClient] {
        let unit = pick(dir);
        out.push((
            format!("drop {dir:?} at unit {unit}"),
            Fault::Drop { dir, unit },
            false,
        ));
    }
    for (dir, offset) in [(Dir::ToServer, 12), (Dir::ToClient, 2)] {
        let unit = pick(dir);
        out.push((
            format!("flipped byte {offset} of unit {unit} {dir:?}"),
            Fault::Flip { dir, unit, offset },
            false,
        ));
    }
    let mid = |dir: Dir| units[dir as usize] / 2;
    out.push((
        "delay past the timeout".into(),
        Fault::Delay {
            dir: Dir::ToClient,
            unit: mid(Dir::ToClient),
            by: Duration::from_secs(TIMEOUT + 2),
        },
        true,
    ));
    out.push((
        "truncated header".into(),
        Fault::Truncate {
            dir: Dir::ToServer,
            unit: mid(Dir::ToServer),
            keep: 3,
        },
        true,
    ));
    out.push((
        "truncated body".into(),
        Fault::Truncate {
            dir: Dir::ToClient,
            unit: mid(Dir::ToClient),
            keep: 40,
        },
        true,
    ));
    for dir in [Dir::ToServer, Dir::ToClient] {
        out.push((
            format!("flipped payload byte 30 of unit {} {dir:?}", mid(dir)),
            Fault::Flip {
                dir,
                unit: mid(dir),
                offset: 30,
            },
            true,
        ));
        out.push((
            format!("replayed unit {} {dir:?}", mid(dir)),
            Fault::Replay {
                dir,
                unit: mid(dir),
            },
            true,
        ));
    }
    out
}

fn run_faults(mode: Mode) {
    let tag = format!("{mode:?}").to_lowercase();
    let dir = setup(&tag, 40);
    let server = Server::start(&dir, mode);
    let mut rng = SplitMix64(0x5eed_0000 + mode as u64);

    // A clean run through the proxy counts the units of each direction.
    let clean = Proxy::start(&server.addr, mode.framing(), None);
    let (o, _) = query(&dir, mode, &clean.addr, "inputs/mnist_0.npy");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("label 7"));
    let units = *clean.units.lock().unwrap();
    assert!(units[0] >= 3 && units[1] >= 3, "{units:?}");

    let mut connections = 1;
    let mut cases = faults(units, &mut rng);
    let max = plan_max_frame(&compile_example("netD_chameleon").plan, 1).unwrap();
    if mode == Mode::Plain {
        // A frame header announcing one word more than the plan ever needs,
        // in place of the client's hello.
        let mut header = vec![2u8];
        header.extend_from_slice(&((max + 8) as u32).to_le_bytes());
        cases.push((
            format!("oversized frame ({} bytes)", max + 8),
            Fault::Inject {
                dir: Dir::ToServer,
                unit: 1,
                bytes: header,
            },
            true,
        ));
    }
    for (name, fault, strict) in cases {
        let proxy = Proxy::start(&server.addr, mode.framing(), Some(fault));
        let (o, took) = query(&dir, mode, &proxy.addr, "inputs/mnist_0.npy");
        let client = stderr(&o);
        let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(took < BOUND, "{mode:?} {name}: the client took {took:?}");
        if o.status.success() {
            assert!(!strict, "{mode:?} {name}: the client must fail: {stdout}");
            assert!(
                stdout.contains("label 7"),
                "{mode:?} {name}: a wrong answer: {stdout}"
            );
        } else {
            assert_clear(&format!("{mode:?} {name}: client"), &client);
        }
        connections += 1;
        let line = server.nth_outcome(connections);
        if line.contains("failed:") {
            assert_clear(&format!("{mode:?} {name}: server"), &line);
        } else {
            assert!(!strict, "{mode:?} {name}: the server must fail: {line}");
        }
        eprintln!(
            "{mode:?} {name}: client {} in {took:.2?}\n  client: {}\n  server: {line}",
            if o.status.success() {
                "succeeded"
            } else {
                "failed"
            },
            client.lines().last().unwrap_or("")
        );
        if name.starts_with("oversized") {
            assert!(
                line.contains(&format!("exceeds the limit of {max} bytes")),
                "{line}"
            );
        }
        if name.starts_with("flipped payload") {
            // A bit flipped inside a share passes every length and kind
            // check. TLS: the receiver refuses the record (its peer sees an
            // alert or a closed connection). Plaintext: both sides refuse
            // the transcript at the closing confirmation.
            let receiver = if name.contains("ToServer") {
                line.as_str()
            } else {
                client.as_str()
            };
            match mode {
                Mode::Tls => assert!(
                    receiver.contains("a TLS record failed authentication"),
                    "{mode:?} {name}: {receiver}"
                ),
                Mode::Plain => {
                    for text in [client.as_str(), line.as_str()] {
                        assert!(
                            text.contains("transcript digests differ"),
                            "{mode:?} {name}: {text}"
                        );
                    }
                }
            }
        }
        connections += 1;
        good_query(&dir, mode, &server, connections);
    }

    // A client killed mid-run (its answer held back by the proxy).
    let proxy = Proxy::start(
        &server.addr,
        mode.framing(),
        Some(Fault::Delay {
            dir: Dir::ToClient,
            unit: units[1] / 2,
            by: Duration::from_secs(1),
        }),
    );
    let mut client = query_cmd(&dir, mode, &proxy.addr, "inputs/mnist_0.npy")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(600));
    client.kill().unwrap();
    client.wait().unwrap();
    connections += 1;
    let line = server.nth_outcome(connections);
    assert!(line.contains("failed:"), "{line}");
    assert_clear(&format!("{mode:?} killed client: server"), &line);
    eprintln!("{mode:?} killed client\n  server: {line}");
    connections += 1;
    good_query(&dir, mode, &server, connections);

    // About 14-16 MB after some 30 connections, one session at a time. The
    // bound catches a server that buffers what a frame header announces (up
    // to 4 GiB) instead of refusing it, or that keeps more than about 3.5 MB
    // per connection.
    let rss = server.peak_rss_kb();
    eprintln!("{mode:?}: server peak RSS {rss} kB");
    assert!(rss > 0 && rss < 128 * 1024, "server peak RSS {rss} kB");
    assert!(
        !server
            .log
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("panicked")),
        "{:?}",
        server.log.lock().unwrap()
    );
}

#[test]
fn faults_over_tls_end_with_clear_errors_and_the_server_keeps_serving() {
    run_faults(Mode::Tls);
}

#[test]
fn faults_over_plaintext_end_with_clear_errors_and_the_server_keeps_serving() {
    run_faults(Mode::Plain);
}

/// An authenticated client that sends a frame one word larger than the plan
/// ever needs: the server refuses it from its header, before reading (or
/// allocating) the payload, and keeps serving.
#[test]
fn an_authenticated_peer_sending_an_oversized_frame_is_cut_off() {
    let dir = setup("oversized", 3);
    let server = Server::start(&dir, Mode::Tls);
    let keys = dir.join("keys");
    let identity = Identity::load(&keys.join("client.crt"), &keys.join("client.key")).unwrap();
    let peers = PinnedPeers::load(&[keys.join("server.crt")]).unwrap();
    // Claim a real client bundle, so the request names a session the server holds.
    let client_dir = dir.join("m").join("client");
    let mut names: Vec<String> = std::fs::read_dir(&client_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let session_hex = names[0]
        .trim_end_matches(".mat")
        .rsplit('-')
        .next()
        .unwrap()
        .to_string();
    std::fs::rename(
        client_dir.join(&names[0]),
        client_dir.join(format!("{}.used", names[0])),
    )
    .unwrap();
    let mut session = [0u8; 16];
    for (i, b) in session.iter_mut().enumerate() {
        *b = u8::from_str_radix(&session_hex[2 * i..2 * i + 2], 16).unwrap();
    }
    let config = ChannelConfig {
        max_frame: 1 << 30,
        read_timeout: Duration::from_secs(TIMEOUT),
    };
    let mut ch = TlsChannel::connect(&server.addr, &identity, &peers, config).unwrap();
    let mut request = b"CHQ1".to_vec();
    request.extend_from_slice(&session);
    request.extend_from_slice(&1u32.to_le_bytes());
    ch.send(&request).unwrap();
    assert_eq!(ch.recv().unwrap(), b"ACCEPT");
    let max = plan_max_frame(&compile_example("netD_chameleon").plan, 1).unwrap();
    let words = vec![0u64; max / 8 + 1];
    let _ = ch.send_u64s(&words);
    let _ = ch.flush();
    // The server's hello may arrive first; then its abort.
    let mut error = None;
    for _ in 0..4 {
        match ch.recv_frame() {
            Ok(_) => {}
            Err(e) => {
                error = Some(e.to_string());
                break;
            }
        }
    }
    let error = error.expect("the server must cut the connection");
    assert!(
        error.contains("exceeds the limit") || error.contains("closed"),
        "{error}"
    );
    let line = server.nth_outcome(1);
    assert!(
        line.contains(&format!("exceeds the limit of {max} bytes")),
        "{line}"
    );
    drop(ch);
    good_query(&dir, Mode::Tls, &server, 2);
}
