//! Load on one `chimera serve` over loopback TLS: 16 concurrent clients,
//! each with a different MNIST digit, all answered with their own correct
//! label (no cross-talk between sessions) while the server's memory stays
//! bounded; and the session cap: a client beyond `--max-sessions` +
//! `--max-queue` is told the server is busy, and a queued client is served
//! once a slot frees.

mod common;

use common::cli::{chimera, listening_addr, scratch, stderr, Scratch};
use common::example;

use chimera_runtime::identity::{GeneratedIdentity, Identity, PinnedPeers};
use chimera_runtime::tensor_io::{load_npy, save_npy, NpyDtype, Tensor};
use chimera_runtime::transport::{ChannelConfig, TlsChannel};
use common::reaped::Reaped;
use std::ffi::OsString;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The plaintext fixed-point oracle's labels of the first 16 MNIST test
/// images under netA (the same as `tests/e2e.rs` checks for the batch).
const LABELS: [usize; 16] = [7, 2, 1, 0, 4, 1, 4, 9, 5, 9, 0, 6, 9, 0, 1, 5];

/// Material for `queries` netA queries, keys, and the 16 digits as one file each.
fn setup(tag: &str, queries: usize) -> Scratch {
    let dir = scratch(&format!("load-{tag}"));
    std::fs::create_dir_all(dir.join("inputs")).unwrap();
    let o = chimera()
        .arg("dealer")
        .arg(example("netA_secureml.nn"))
        .args(["--queries", &queries.to_string(), "--quiet", "--out"])
        .arg(dir.join("m"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    for name in ["server", "client"] {
        GeneratedIdentity::generate(name, 1)
            .unwrap()
            .write(&dir.join("keys"), name)
            .unwrap();
    }
    let batch = load_npy(&example("inputs/mnist_batch16_flat.npy")).unwrap();
    assert_eq!(batch.shape, [16, 784]);
    for (i, row) in batch.data.chunks(784).enumerate() {
        let t = Tensor {
            shape: vec![784],
            data: row.to_vec(),
        };
        save_npy(&dir.join(format!("inputs/{i}.npy")), &t, NpyDtype::F32).unwrap();
    }
    dir
}

fn tls(dir: &Path, me: &str, peer: &str) -> Vec<OsString> {
    vec![
        "--identity".into(),
        dir.join("keys").join(format!("{me}.crt")).into(),
        "--accept".into(),
        dir.join("keys").join(format!("{peer}.crt")).into(),
    ]
}

fn serve(dir: &Path, extra: &[&str]) -> (Reaped, String) {
    let mut child = chimera()
        .arg("serve")
        .arg(example("netA_secureml.nn"))
        .arg("--weights")
        .arg(example("netA_secureml.safetensors"))
        .arg("--material")
        .arg(dir.join("m"))
        .args(["--listen", "127.0.0.1:0", "--timeout", "60"])
        .args(tls(dir, "server", "client"))
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let addr = listening_addr(&mut child);
    (Reaped::new(child), addr)
}

fn query_cmd(dir: &Path, addr: &str, i: usize, timeout: u64) -> Command {
    let mut c = chimera();
    c.arg("query")
        .arg(example("netA_secureml.nn"))
        .arg("--input")
        .arg(dir.join(format!("inputs/{i}.npy")))
        .arg("--material")
        .arg(dir.join("m"))
        .args(["--connect", addr, "--timeout", &timeout.to_string()])
        .args(tls(dir, "client", "server"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// Wait for every child, with one overall deadline.
fn wait_all(children: Vec<Child>, deadline: Duration) -> Vec<Output> {
    let start = Instant::now();
    children
        .into_iter()
        .map(|mut c| loop {
            if c.try_wait().unwrap().is_some() {
                break c.wait_with_output().unwrap();
            }
            if start.elapsed() > deadline {
                let _ = c.kill();
                panic!("a client did not finish within {deadline:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        })
        .collect()
}

fn peak_rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[test]
fn sixteen_concurrent_clients_each_get_their_own_answer() {
    let dir = setup("16", 16);
    let (mut server, addr) = serve(&dir, &[]);
    // Sample the server's peak memory while it works (it exits by itself).
    let pid = server.get().id();
    let sampler = std::thread::spawn(move || {
        let mut peak = 0;
        loop {
            match peak_rss_kb(pid) {
                0 => return peak,
                kb => peak = peak.max(kb),
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    let clients: Vec<Child> = (0..16)
        .map(|i| query_cmd(&dir, &addr, i, 60).spawn().unwrap())
        .collect();
    let outputs = wait_all(clients, Duration::from_secs(120));
    for (i, o) in outputs.iter().enumerate() {
        assert!(o.status.success(), "client {i}: {}", stderr(o));
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            out.starts_with(&format!("row 0: label {}  scores [", LABELS[i])),
            "client {i} got another session's answer or a wrong one: {out}"
        );
    }
    // The server stops by itself once its 16 bundles are used.
    let start = Instant::now();
    while server.get().try_wait().unwrap().is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "server did not stop"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let log = stderr(&server.into_inner().wait_with_output().unwrap());
    let rss = sampler.join().unwrap();
    assert!(log.contains("served 16 queries"), "{log}");
    assert!(!log.contains("failed"), "{log}");
    eprintln!("16 concurrent netA sessions: server peak RSS {rss} kB");
    assert!(rss > 0 && rss < 512 * 1024, "server peak RSS {rss} kB");
}

/// A TLS connection from the real client key that never sends a request:
/// it holds a session slot until dropped.
fn hold_slot(dir: &Path, addr: &str) -> TlsChannel {
    let keys = dir.join("keys");
    let identity = Identity::load(&keys.join("client.crt"), &keys.join("client.key")).unwrap();
    let peers = PinnedPeers::load(&[keys.join("server.crt")]).unwrap();
    let config = ChannelConfig {
        read_timeout: Duration::from_secs(10),
        ..ChannelConfig::default()
    };
    TlsChannel::connect(addr, &identity, &peers, config).unwrap()
}

#[test]
fn beyond_the_session_cap_clients_wait_or_are_told_the_server_is_busy() {
    let dir = setup("cap", 4);
    let (mut server, addr) = serve(&dir, &["--max-sessions", "1", "--max-queue", "1"]);
    let holder = hold_slot(&dir, &addr);
    std::thread::sleep(Duration::from_millis(200));
    // Queued behind the holder.
    let queued = query_cmd(&dir, &addr, 0, 30).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    // Running + waiting is full: refused at once, with a clear message.
    let refused = query_cmd(&dir, &addr, 1, 30).output().unwrap();
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("the server is busy: 1 sessions running and 1 waiting"),
        "{}",
        stderr(&refused)
    );
    // The slot frees; the queued client is served.
    drop(holder);
    let queued = wait_all(vec![queued], Duration::from_secs(60)).remove(0);
    assert!(queued.status.success(), "{}", stderr(&queued));
    assert!(String::from_utf8_lossy(&queued.stdout).starts_with("row 0: label 7  scores ["));
    let _ = server.get().kill();
    let log = stderr(&server.into_inner().wait_with_output().unwrap());
    assert!(log.contains("refused a connection from"), "{log}");
}
