//! Load on one `chimera serve` over loopback TLS: 16 concurrent clients
//! (held open at the server at the same time, mid-query, and checked to
//! be), each with a different MNIST digit, all answered with their own
//! scores (no cross-talk between sessions) while the server's memory stays
//! bounded; and the session cap: a client beyond `--max-sessions` +
//! `--max-queue` is told the server is busy, and a queued client is served
//! once a slot frees.

mod common;

use common::cli::{scratch, stderr, Scratch};
use common::{compile_example, example};

use chimera_runtime::identity::{Identity, PinnedPeers};
use chimera_runtime::oracle::{self, Mode, Tolerance};
use chimera_runtime::tensor_io::{load_npy, save_npy, NpyDtype, Tensor};
use chimera_runtime::transport::{ChannelConfig, TlsChannel};
use chimera_runtime::weights;
use common::parties::{self, mint_keys, tls_flags};
use common::proxy::{Dir, Fault, Framing, Proxy};
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
    parties::deal("netA_secureml", queries, &dir.join("m"));
    mint_keys(&dir.join("keys"), &["server", "client"]);
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
    tls_flags(&dir.join("keys"), me, peer)
}

fn serve(dir: &Path, extra: &[&str]) -> (Reaped, String) {
    let mut link = tls(dir, "server", "client");
    link.extend(extra.iter().map(OsString::from));
    let (child, addr) = parties::serve("netA_secureml", &dir.join("m"), 60, link);
    (Reaped::new(child), addr)
}

fn query_cmd(dir: &Path, addr: &str, i: usize, timeout: u64) -> Command {
    let mut c = parties::query(
        &example("netA_secureml.nn"),
        &dir.join(format!("inputs/{i}.npy")),
        &dir.join("m"),
        addr,
        timeout,
        tls(dir, "client", "server"),
    );
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
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

/// How many of the server's threads are named `name` (truncated to the
/// kernel's 15 characters), 0 once it has exited.
fn threads_named(pid: u32, name: &str) -> usize {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .filter_map(|t| t.ok())
        .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
        .filter(|comm| comm.trim_end() == name)
        .count()
}

/// The oracle's scores of the 16 images under netA, and how far a secure
/// score may be from them (the static deviation bound, else the empirical
/// tolerance, plus the 4-decimal rounding of the printed scores).
fn oracle_scores() -> (Vec<Vec<f64>>, f64) {
    let plan = compile_example("netA_secureml").plan;
    let bound = weights::load(&plan, &example("netA_secureml.safetensors")).unwrap();
    let info = plan.value(plan.inputs[0].value);
    let batch = load_npy(&example("inputs/mnist_batch16_flat.npy"))
        .unwrap()
        .into_batch(&info.name, &info.shape)
        .unwrap();
    let want = oracle::evaluate(&plan, &bound, &[batch], Mode::Fixed).unwrap();
    let index = plan
        .outputs
        .iter()
        .position(|o| o.name == "scores")
        .unwrap();
    let scores = &want.outputs[index];
    let rows: Vec<Vec<f64>> = (0..16).map(|r| scores.row(r).to_vec()).collect();
    let range = scores.values.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let tol = oracle::deviation_bounds(&plan, &bound)[index]
        .unwrap_or_else(|| Tolerance::for_frac_bits(plan.fixed.frac_bits).bound(range));
    (rows, tol + 5e-5)
}

/// The scores a client printed: `row 0: label L  scores [a, b, …]`.
fn printed_scores(out: &str) -> Vec<f64> {
    let list = out
        .split("scores [")
        .nth(1)
        .and_then(|rest| rest.split(']').next())
        .unwrap_or_else(|| panic!("no scores in {out:?}"));
    list.split(',').map(|v| v.trim().parse().unwrap()).collect()
}

fn distance(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).fold(0.0, |m, (x, y)| m.max((x - y).abs()))
}

#[test]
fn sixteen_concurrent_clients_each_get_their_own_answer() {
    // One query more than the 16: a clean run through a proxy first, to
    // count the TLS records of a query.
    let dir = setup("16", 17);
    let (mut server, addr) = serve(&dir, &[]);
    // Sample the server's peak memory and its peak number of live TLS
    // sessions (one writer thread each, from handshake to close) while it
    // works (it exits by itself).
    let pid = server.get().id();
    let sampler = std::thread::spawn(move || {
        let (mut rss, mut sessions) = (0, 0);
        loop {
            match peak_rss_kb(pid) {
                0 => return (rss, sessions),
                kb => rss = rss.max(kb),
            }
            sessions = sessions.max(threads_named(pid, "chimera-tls-wri"));
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    let clean = Proxy::start(&addr, Framing::Tls, None);
    let o = query_cmd(&dir, &clean.addr, 0, 60).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let to_client = clean.units.lock().unwrap()[Dir::ToClient as usize];
    assert!(to_client >= 4, "{to_client} records to the client");

    // Each of the 16 clients talks through a proxy that holds one record of
    // the server's, halfway through the query, for a few seconds: all 16
    // sessions are then open at the server at the same time, mid-query.
    let hold = Duration::from_secs(6);
    let proxies: Vec<Proxy> = (0..16)
        .map(|_| {
            Proxy::start(
                &addr,
                Framing::Tls,
                Some(Fault::Delay {
                    dir: Dir::ToClient,
                    unit: to_client / 2,
                    by: hold,
                }),
            )
        })
        .collect();
    let clients: Vec<Child> = proxies
        .iter()
        .enumerate()
        .map(|(i, p)| query_cmd(&dir, &p.addr, i, 60).spawn().unwrap())
        .collect();
    let outputs = wait_all(clients, Duration::from_secs(120));
    // No cross-talk: every client's scores are the oracle's for its own
    // image (within the deviation bound), and nearer to them than to any
    // other image's.
    let (oracle, tol) = oracle_scores();
    for (i, o) in outputs.iter().enumerate() {
        assert!(o.status.success(), "client {i}: {}", stderr(o));
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            out.starts_with(&format!("row 0: label {}  scores [", LABELS[i])),
            "client {i} got another session's answer or a wrong one: {out}"
        );
        let got = printed_scores(&out);
        let own = distance(&got, &oracle[i]);
        assert!(
            own <= tol,
            "client {i}: scores {own} from its oracle's (bound {tol})"
        );
        for (j, other) in oracle.iter().enumerate().filter(|(j, _)| *j != i) {
            assert!(
                distance(&got, other) > own,
                "client {i}'s scores are as near to image {j}'s as to its own"
            );
        }
    }
    // The server stops by itself once its 17 bundles are used.
    let start = Instant::now();
    while server.get().try_wait().unwrap().is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "server did not stop"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let log = stderr(&server.into_inner().wait_with_output().unwrap());
    let (rss, sessions) = sampler.join().unwrap();
    assert!(log.contains("served 17 queries"), "{log}");
    assert!(!log.contains("failed"), "{log}");
    eprintln!(
        "16 concurrent netA sessions: at most {sessions} open at once; server peak RSS {rss} kB"
    );
    assert!(
        sessions >= 16,
        "only {sessions} sessions were open at the server at once"
    );
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
