//! `chimera serve` and `query` over mutual TLS, as real processes: a client
//! whose certificate the server does not pin is refused before any protocol
//! message (its material stays unused on both sides), a server the client
//! does not pin is refused by the client, plaintext and TLS never mix
//! silently, and `--insecure-plaintext` is explicit and announced.

mod common;

use common::cli::{chimera, scratch, stderr, Scratch};
use common::example;
use common::parties::{self, mint_keys, tls_flags, unused};
use common::reaped::Reaped;
use std::ffi::OsString;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

/// A scratch directory with material for `queries` netD queries and keys
/// for `server`, `client` and `stranger`.
fn setup(tag: &str, queries: usize) -> Scratch {
    let dir = scratch(&format!("tls-cli-{tag}"));
    parties::deal("netD_chameleon", queries, &dir.join("m"));
    mint_keys(&dir.join("keys"), &["server", "client", "stranger"]);
    dir
}

fn tls(dir: &Path, me: &str, peer: &str) -> Vec<OsString> {
    tls_flags(&dir.join("keys"), me, peer)
}

fn plaintext() -> Vec<OsString> {
    vec!["--insecure-plaintext".into()]
}

fn serve(dir: &Path, link: Vec<OsString>) -> (Reaped, String) {
    let (child, addr) = parties::serve("netD_chameleon", &dir.join("m"), 5, link);
    (Reaped::new(child), addr)
}

fn query(dir: &Path, addr: &str, link: Vec<OsString>) -> Output {
    parties::query(
        &example("netD_chameleon.nn"),
        &example("inputs/mnist_0.npy"),
        &dir.join("m"),
        addr,
        5,
        link,
    )
    .output()
    .unwrap()
}

fn fresh(dir: &Path, party: &str) -> usize {
    unused(&dir.join("m").join(party))
}

/// Stop the server and return its log.
fn stop(server: Reaped) -> String {
    let mut server = server.into_inner();
    std::thread::sleep(Duration::from_millis(200));
    let _ = server.kill();
    stderr(&server.wait_with_output().unwrap())
}

#[test]
fn a_client_without_an_accepted_certificate_is_refused_before_any_protocol_message() {
    let dir = setup("stranger", 1);
    let (server, addr) = serve(&dir, tls(&dir, "server", "client"));
    let o = query(&dir, &addr, tls(&dir, "stranger", "server"));
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("the server refused our certificate"),
        "the refused client says so: {err}"
    );
    // No request reached the server, and the client claims material only
    // after authenticating the server: both bundles are still unused.
    assert_eq!(fresh(&dir, "server"), 1);
    assert_eq!(fresh(&dir, "client"), 1);
    // The same server still answers its real client.
    let o = query(&dir, &addr, tls(&dir, "client", "server"));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("label 7"));
    let log = stop(server);
    assert!(
        log.contains("refused the client's certificate"),
        "the server names the refusal: {log}"
    );
    assert!(log.contains("mutual TLS 1.3"), "{log}");
}

#[test]
fn a_server_the_client_does_not_accept_is_refused_by_the_client() {
    let dir = setup("imposter", 1);
    // The "server" presents the stranger's certificate, which the client does not pin.
    let (server, addr) = serve(&dir, tls(&dir, "stranger", "client"));
    let o = query(&dir, &addr, tls(&dir, "client", "server"));
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("refused the server's certificate"),
        "the client names the refusal: {err}"
    );
    assert_eq!(fresh(&dir, "server"), 1, "no query reached the server");
    let log = stop(server);
    assert!(log.contains("failed"), "{log}");
}

#[test]
fn plaintext_and_tls_never_mix_silently() {
    let dir = setup("mix", 1);
    // A plaintext client against a TLS server.
    let (server, addr) = serve(&dir, tls(&dir, "server", "client"));
    let o = query(&dir, &addr, plaintext());
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("requires TLS"), "{err}");
    assert!(err.contains("--insecure-plaintext: this connection is plaintext"));
    let log = stop(server);
    assert!(log.contains("did not speak TLS"), "{log}");

    // A TLS client against a plaintext server.
    let dir = setup("mix2", 1);
    let (server, addr) = serve(&dir, plaintext());
    let o = query(&dir, &addr, tls(&dir, "client", "server"));
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("the server did not speak TLS"), "{err}");
    let log = stop(server);
    assert!(log.contains("the client speaks TLS"), "{log}");
    assert!(log.contains("--insecure-plaintext: this connection is plaintext"));
}

#[test]
fn plaintext_works_only_when_asked_for_on_both_sides_and_is_announced() {
    let dir = setup("plain", 1);
    let (server, addr) = serve(&dir, plaintext());
    let o = query(&dir, &addr, plaintext());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("neither encrypted nor authenticated"));
    let log = stop(server);
    assert!(log.contains("plaintext TCP (--insecure-plaintext"), "{log}");

    // Without any security flag, nothing starts.
    let o = query(&dir, "127.0.0.1:9", Vec::new());
    assert!(!o.status.success());
    assert!(stderr(&o).contains("no TLS identity"), "{}", stderr(&o));
    // The two modes cannot be combined.
    let mut link = tls(&dir, "client", "server");
    link.extend(plaintext());
    let o = query(&dir, "127.0.0.1:9", link);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("cannot be used with"), "{}", stderr(&o));
}

#[test]
fn run_defaults_to_tls_and_plaintext_is_opt_in() {
    for (extra, channel) in [(None, "tls"), (Some("--insecure-plaintext"), "plaintext")] {
        let o = chimera()
            .arg("run")
            .arg(example("netD_chameleon.nn"))
            .arg("--weights")
            .arg(example("netD_chameleon.safetensors"))
            .arg("--input")
            .arg(example("inputs/mnist_0.npy"))
            .arg("--json")
            .args(extra)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["channel"], channel);
        assert_eq!(v["output"][0]["rows"][0], 7);
        assert_eq!(
            v["measured"]["online_bytes"], v["predicted"]["online_bytes"],
            "TLS does not change the counted bytes"
        );
        assert_eq!(
            stderr(&o).contains("--insecure-plaintext: this connection is plaintext"),
            extra.is_some()
        );
    }
}
