//! Dealer material over mutual TLS, as real processes: `chimera dealer
//! --serve` hands each party only its own bundles, decided by the
//! certificate it authenticated with; strangers and a party asking for the
//! other role's material are refused; each role's bundles go out once; the
//! fetched files are owner-only and run private queries.

mod common;

use common::cli::{chimera, scratch, stderr};
use common::example;

use chimera_runtime::identity::GeneratedIdentity;
use common::reaped::Reaped;
use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn cert(dir: &Path, name: &str) -> OsString {
    dir.join("keys").join(format!("{name}.crt")).into()
}

/// Spawn and read the `listening on ADDR` line.
fn spawn_listening(cmd: &mut Command) -> (Reaped, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    match line.trim().strip_prefix("listening on ") {
        Some(addr) => {
            let addr = addr.to_string();
            (Reaped::new(child), addr)
        }
        None => {
            let _ = child.kill();
            let o = child.wait_with_output().unwrap();
            panic!("did not start: {line:?} {}", stderr(&o))
        }
    }
}

fn serve_cmd(dir: &Path, me: &str, dealer: &str) -> Command {
    let mut c = chimera();
    c.arg("serve")
        .arg(example("netD_chameleon.nn"))
        .arg("--weights")
        .arg(example("netD_chameleon.safetensors"))
        .arg("--material")
        .arg(dir.join("server-m"))
        .args(["--listen", "127.0.0.1:0", "--timeout", "5"])
        .arg("--identity")
        .arg(cert(dir, me))
        .arg("--accept")
        .arg(cert(dir, "client"))
        .args(["--dealer", dealer, "--dealer-cert"])
        .arg(cert(dir, "dealer"));
    c
}

fn query(dir: &Path, me: &str, input: &str, server: &str, dealer: Option<&str>) -> Output {
    let mut c = chimera();
    c.arg("query")
        .arg(example("netD_chameleon.nn"))
        .arg("--input")
        .arg(example(input))
        .arg("--material")
        .arg(dir.join("client-m"))
        .args(["--connect", server, "--timeout", "5"])
        .arg("--identity")
        .arg(cert(dir, me))
        .arg("--accept")
        .arg(cert(dir, "server"));
    if let Some(d) = dealer {
        c.args(["--dealer", d, "--dealer-cert"])
            .arg(cert(dir, "dealer"));
    }
    c.output().unwrap()
}

fn wait(child: Reaped) -> Output {
    let mut child = child.into_inner();
    for _ in 0..2000 {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    panic!(
        "process did not finish within 20 s: {}",
        stderr(&child.wait_with_output().unwrap())
    );
}

#[test]
fn the_dealer_hands_each_authenticated_party_only_its_own_material() {
    let dir = scratch("dealer-tls");
    for name in ["dealer", "server", "client", "stranger"] {
        GeneratedIdentity::generate(name, 1)
            .unwrap()
            .write(&dir.join("keys"), name)
            .unwrap();
    }
    let (dealer, dealer_addr) = spawn_listening(
        chimera()
            .arg("dealer")
            .arg(example("netD_chameleon.nn"))
            .args(["--queries", "2", "--serve", "127.0.0.1:0", "--timeout", "5"])
            .arg("--identity")
            .arg(cert(&dir, "dealer"))
            .arg("--accept-server")
            .arg(cert(&dir, "server"))
            .arg("--accept-client")
            .arg(cert(&dir, "client")),
    );

    // A connection that never says anything does not hold up the others
    // (each connection has its own thread; the dealer's timeout is 5 s).
    let silent = std::net::TcpStream::connect(&dealer_addr).unwrap();
    let started = std::time::Instant::now();

    // A key the dealer does not know is refused in the TLS handshake.
    let o = query(
        &dir,
        "stranger",
        "inputs/mnist_0.npy",
        "127.0.0.1:9",
        Some(&dealer_addr),
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("refused our certificate"),
        "{}",
        stderr(&o)
    );

    // The client's key cannot fetch the server's material (the role comes
    // from the certificate, not from the request).
    let o = serve_cmd(&dir, "client", &dealer_addr).output().unwrap();
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("is pinned as the client's, and it asked for the server's material"),
        "{}",
        stderr(&o)
    );

    // The real server fetches its bundles, then serves.
    let (server, server_addr) = spawn_listening(&mut serve_cmd(&dir, "server", &dealer_addr));
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "a silent connection held up the dealer: {:?}",
        started.elapsed()
    );
    let server_dir = dir.join("server-m").join("server");
    let files: Vec<PathBuf> = std::fs::read_dir(&server_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 2, "{files:?}");
    #[cfg(unix)]
    for f in &files {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", f.display());
    }

    // The server's bundles go out once.
    let o = serve_cmd(&dir, "server", &dealer_addr).output().unwrap();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("already handed out"), "{}", stderr(&o));

    // The client fetches its bundles and runs its first query; the second
    // uses the stored material without the dealer.
    let o = query(
        &dir,
        "client",
        "inputs/mnist_0.npy",
        &server_addr,
        Some(&dealer_addr),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("label 7"));
    assert!(stderr(&o).contains("fetched 2 bundle(s) of client material"));
    drop(silent);
    let d = wait(dealer);
    assert!(d.status.success(), "{}", stderr(&d));
    let log = stderr(&d);
    assert!(log.contains("both parties stored their material"), "{log}");
    assert!(
        log.contains("a fetch from"),
        "the refusals are logged: {log}"
    );

    let o = query(&dir, "client", "inputs/mnist_1.npy", &server_addr, None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("label 2"));
    let s = wait(server);
    assert!(stderr(&s).contains("served 2 queries"), "{}", stderr(&s));
}
