//! End-to-end private inference with real processes: `chimera run`, and
//! `chimera dealer` + `serve` + `query` started separately, including the
//! failure cases a deployment meets (used-up or foreign material, weights
//! that do not fit, a bad input, a port in use). Server and client talk
//! mutual TLS with keys minted per test (`tests/tls_cli.rs` covers refusals).
//! Every party that fails must do so within [`LIMIT`]; a hang fails the test.

mod common;

use common::cli::{chimera, output_within, scratch, stderr};
use common::example;
use common::parties::{self, mint_keys, tls_flags, unused};
use common::proxy::{Dir as ProxyDir, Fault, Framing, Proxy};
use common::reaped::Reaped;
use serde_json::Value;
use std::ffi::OsString;

use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

/// A party that fails reports within this long (its peer timeout is 10 s).
const LIMIT: Duration = Duration::from_secs(30);

/// The TLS flags of each party: its identity and the other's pinned
/// certificate, minted in `dir/keys`. A material directory `M` gets its keys
/// from its parent, so every test of this file uses one pair of keys.
fn link_flags(material: &Path, me: &str, peer: &str) -> Vec<OsString> {
    let keys = material.parent().unwrap_or(material).join("keys");
    for name in ["server", "client"] {
        if !keys.join(format!("{name}.key")).exists() {
            mint_keys(&keys, &[name]);
        }
    }
    tls_flags(&keys, me, peer)
}

fn deal(plan: &Path, out: &Path, queries: usize, batch: usize) {
    let o = chimera()
        .arg("dealer")
        .arg(plan)
        .args([
            "--queries",
            &queries.to_string(),
            "--batch",
            &batch.to_string(),
            "--out",
        ])
        .arg(out)
        .output()
        .unwrap();
    assert!(o.status.success(), "dealer failed: {}", stderr(&o));
}

/// Start `chimera serve` of netD on a free port; returns the process and its address.
fn serve(material: &Path) -> (Child, String) {
    parties::serve(
        "netD_chameleon",
        material,
        10,
        link_flags(material, "server", "client"),
    )
}

fn query(plan: &Path, input: &Path, material: &Path, addr: &str) -> Output {
    output_within(
        parties::query(
            plan,
            input,
            material,
            addr,
            10,
            link_flags(material, "client", "server"),
        )
        .arg("--json"),
        LIMIT,
    )
}

/// `chimera query` expected to fail: its stderr, within [`LIMIT`].
fn query_refused(plan: &Path, input: &Path, material: &Path, addr: &str) -> String {
    let o = query(plan, input, material, addr);
    assert!(!o.status.success());
    stderr(&o)
}

/// `chimera serve` expected to refuse to start: its output, within [`LIMIT`].
fn serve_refused(plan: &Path, weights: &Path, material: &Path, listen: &str) -> Output {
    let o = output_within(
        chimera()
            .arg("serve")
            .arg(plan)
            .arg("--weights")
            .arg(weights)
            .arg("--material")
            .arg(material)
            .args(["--listen", listen])
            .args(link_flags(material, "server", "client")),
        LIMIT,
    );
    assert!(!o.status.success(), "the server started: {}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    o
}

fn wait(mut child: Child) -> Output {
    for _ in 0..3000 {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    panic!("process did not finish within 30 s");
}

#[test]
fn run_netd_on_a_bundled_digit_matches_the_prediction_exactly() {
    let o = chimera()
        .arg("run")
        .arg(example("netD_chameleon.nn"))
        .arg("--weights")
        .arg(example("netD_chameleon.safetensors"))
        .arg("--input")
        .arg(example("inputs/mnist_0.npy"))
        .arg("--json")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["output"][0]["name"], "label");
    assert_eq!(
        v["output"][0]["rows"][0], 7,
        "the first MNIST test digit is a 7"
    );
    assert_eq!(
        v["measured"]["online_bytes"],
        v["predicted"]["online_bytes"]
    );
    assert_eq!(v["measured"]["rounds"], v["predicted"]["rounds"]);
    assert!(v["measured"]["online_bytes"].as_u64().unwrap() > 0);
    assert!(v["measured"]["offline_seconds"].as_f64().unwrap() > 0.0);
}

#[test]
fn run_neta_batch_prints_one_line_per_row_with_the_oracle_labels() {
    let o = chimera()
        .arg("run")
        .arg(example("netA_secureml.nn"))
        .arg("--weights")
        .arg(example("netA_secureml.safetensors"))
        .arg("--input")
        .arg(example("inputs/mnist_batch16_flat.npy"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    let labels: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("row "))
        .map(|l| l.split_whitespace().nth(3).unwrap())
        .collect();
    assert_eq!(
        labels,
        ["7", "2", "1", "0", "4", "1", "4", "9", "5", "9", "0", "6", "9", "0", "1", "5"]
    );
    assert!(text.contains("(exact match)"), "{text}");
}

#[test]
fn separate_dealer_server_client_and_material_used_up() {
    let dir = scratch("sep");
    let plan = example("netD_chameleon.nn");
    let material = dir.join("m");
    deal(&plan, &material, 2, 1);
    let (server, addr) = serve(&material);
    for input in ["inputs/mnist_1.npy", "inputs/mnist_2.npy"] {
        let o = query(&plan, &example(input), &material, &addr);
        assert!(o.status.success(), "{}", stderr(&o));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        let expected = if input.ends_with("1.npy") { 2 } else { 1 };
        assert_eq!(v["output"][0]["rows"][0], expected);
    }
    // The server stops by itself once its material is used up.
    let s = wait(server);
    assert!(s.status.success(), "{}", stderr(&s));
    assert!(stderr(&s).contains("served 2 queries"), "{}", stderr(&s));
    // The client has no material left either: a clear error, no connection attempt needed.
    let err = query_refused(&plan, &example("inputs/mnist_0.npy"), &material, &addr);
    assert!(err.contains("no unused client material left"), "{err}");
}

#[test]
fn a_failed_query_does_not_bring_the_server_down() {
    let dir = scratch("foreign");
    let plan = example("netD_chameleon.nn");
    let server_material = dir.join("a");
    let other_material = dir.join("b");
    deal(&plan, &server_material, 1, 1);
    deal(&plan, &other_material, 1, 1);
    let (server, addr) = serve(&server_material);
    // Material from another dealer run: refused on both sides, server keeps going.
    let err = query_refused(
        &plan,
        &example("inputs/mnist_0.npy"),
        &other_material,
        &addr,
    );
    assert!(err.contains("no unused material for session"), "{err}");
    // A good query afterwards is answered.
    let o = query(
        &plan,
        &example("inputs/mnist_0.npy"),
        &server_material,
        &addr,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let s = wait(server);
    let log = stderr(&s);
    assert!(log.contains("failed"), "{log}");
    assert!(log.contains("served 1 query"), "{log}");
}

/// `chimera compile FILE --network NETWORK -o OUT`; the plan's hash.
fn compile(file: &Path, network: &str, out: &Path) -> String {
    let o = chimera()
        .arg("compile")
        .arg(file)
        .args(["--network", network, "-o"])
        .arg(out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

#[test]
fn client_and_server_with_different_plans_get_a_clear_error() {
    let dir = scratch("plans");
    let plan_d = example("netD_chameleon.nn");
    let material = dir.join("m");
    deal(&plan_d, &material, 1, 1);
    // netA's plan with netD's material: refused before any connection.
    let err = query_refused(
        &example("netA_secureml.nn"),
        &example("inputs/mnist_0_flat.npy"),
        &material,
        "127.0.0.1:9",
    );
    assert!(err.contains("dealt for plan"), "{err}");

    // The same network compiled for the WAN is another plan (other
    // protocols), with the same weights.
    let lan = compile(&plan_d, "lan", &dir.join("lan.ron"));
    let wan_plan = dir.join("wan.ron");
    let wan = compile(&plan_d, "wan", &wan_plan);
    assert_ne!(lan, wan);
    let (lan, wan) = (&lan[..12], &wan[..12]);
    // A client of the WAN plan with the LAN plan's material: refused before
    // connecting, naming both plans.
    let err = query_refused(
        &wan_plan,
        &example("inputs/mnist_0.npy"),
        &material,
        "127.0.0.1:9",
    );
    assert!(
        err.contains("dealt for plan") && err.contains(lan) && err.contains(wan),
        "{err}"
    );
    // A server of the WAN plan with the LAN plan's material: refused at
    // start (not query after query), naming both plans.
    let o = serve_refused(
        &wan_plan,
        &example("netD_chameleon.safetensors"),
        &material,
        "127.0.0.1:0",
    );
    let err = stderr(&o);
    assert!(
        err.contains("dealt for plan") && err.contains(lan) && err.contains(wan),
        "{err}"
    );

    // Both running, each with material for its own plan: the client of the
    // WAN plan is refused with the server's plan named on both sides; the
    // server keeps serving a client of its own plan.
    let wan_material = dir.join("mw");
    deal(&wan_plan, &wan_material, 1, 1);
    let (server, addr) = serve(&material);
    let err = query_refused(
        &wan_plan,
        &example("inputs/mnist_0.npy"),
        &wan_material,
        &addr,
    );
    assert!(
        err.contains("no unused material for session")
            && err.contains(&format!("this server runs plan {lan}"))
            && err.contains(&format!("this client runs plan {wan}")),
        "{err}"
    );
    let o = query(&plan_d, &example("inputs/mnist_0.npy"), &material, &addr);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = wait(server);
    let log = stderr(&s);
    assert!(
        log.contains("failed") && log.contains(&format!("this server runs plan {lan}")),
        "{log}"
    );
    assert!(log.contains("served 1 query"), "{log}");
}

#[test]
fn the_other_partys_material_is_refused_on_either_side() {
    let dir = scratch("party");
    let plan = example("netD_chameleon.nn");
    let material = dir.join("m");
    deal(&plan, &material, 1, 1);
    let o = serve_refused(
        &plan,
        &example("netD_chameleon.safetensors"),
        &material.join("client"),
        "127.0.0.1:0",
    );
    assert!(
        stderr(&o).contains("holds material for the client, not the server"),
        "{}",
        stderr(&o)
    );
    let err = query_refused(
        &plan,
        &example("inputs/mnist_0.npy"),
        &material.join("server"),
        "127.0.0.1:9",
    );
    assert!(
        err.contains("holds material for the server, not the client"),
        "{err}"
    );
    for party in ["server", "client"] {
        assert_eq!(
            unused(&material.join(party)),
            1,
            "no {party} bundle was used"
        );
    }
}

#[test]
fn weights_that_do_not_fit_the_plan_are_refused_at_start() {
    let dir = scratch("weights");
    let plan = example("netD_chameleon.nn");
    deal(&plan, &dir.join("m"), 1, 1);
    let o = serve_refused(
        &plan,
        &example("netA_secureml.safetensors"),
        &dir.join("m"),
        "127.0.0.1:0",
    );
    let err = stderr(&o);
    assert!(err.contains("do not fit the plan"), "{err}");
    assert!(err.contains("conv1"), "the error names the layer: {err}");
    // `chimera run` reports the server's refusal as its own error.
    let o = output_within(
        chimera()
            .arg("run")
            .arg(&plan)
            .arg("--weights")
            .arg(example("netA_secureml.safetensors"))
            .arg("--input")
            .arg(example("inputs/mnist_0.npy")),
        LIMIT,
    );
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("the server stopped before it listened")
            && err.contains("do not fit the plan")
            && err.contains("conv1"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn a_wrong_shaped_input_is_refused_before_using_material() {
    let dir = scratch("input");
    let plan = example("netD_chameleon.nn");
    deal(&plan, &dir.join("m"), 1, 1);
    let err = query_refused(
        &plan,
        &example("inputs/mnist_0_flat.npy"),
        &dir.join("m"),
        "127.0.0.1:9",
    );
    assert!(
        err.contains("784") && err.contains("28"),
        "names both shapes: {err}"
    );
    // The material was not consumed by a query that could not start.
    assert_eq!(unused(&dir.join("m/client")), 1);
}

#[test]
fn a_port_in_use_is_a_clear_error() {
    let dir = scratch("port");
    let plan = example("netD_chameleon.nn");
    deal(&plan, &dir.join("m"), 1, 1);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let o = serve_refused(
        &plan,
        &example("netD_chameleon.safetensors"),
        &dir.join("m"),
        &addr,
    );
    assert!(stderr(&o).contains("cannot listen on"), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&addr),
        "names the address: {}",
        stderr(&o)
    );
}

#[test]
fn a_client_killed_mid_run_leaves_the_server_serving() {
    let dir = scratch("kill");
    let plan = example("netD_chameleon.nn");
    let material = dir.join("m");
    deal(&plan, &material, 2, 1);
    let (server, addr) = serve(&material);
    // A connection that sends the start of a plaintext request, then
    // disappears (the TLS server refuses it; the fault tests in
    // `tests/faults.rs` kill real TLS peers mid-run).
    {
        use std::io::Write;
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        s.write_all(&[1, 24, 0, 0, 0]).unwrap();
        s.write_all(b"CHQ1").unwrap();
        drop(s);
    }
    let o = query(&plan, &example("inputs/mnist_0.npy"), &material, &addr);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut server = server;
    server.kill().unwrap();
    let s = server.wait_with_output().unwrap();
    assert!(stderr(&s).contains("failed"), "{}", stderr(&s));
}

#[test]
fn a_server_killed_mid_run_is_a_clear_error_for_the_client() {
    let dir = scratch("srvkill");
    let plan = example("netD_chameleon.nn");
    let material = dir.join("m");
    deal(&plan, &material, 2, 1);
    let (server, addr) = serve(&material);
    let mut server = Reaped::new(server);
    // A clean run through a relay counts the TLS records of each direction.
    let clean = Proxy::start(&addr, Framing::Tls, None);
    let o = query(
        &plan,
        &example("inputs/mnist_0.npy"),
        &material,
        &clean.addr,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let middle = clean.units.lock().unwrap()[1] / 2;
    // The relay holds the server's middle record back; once the client waits
    // for it, the server process is killed.
    let relay = Proxy::start(
        &addr,
        Framing::Tls,
        Some(Fault::Delay {
            dir: ProxyDir::ToClient,
            unit: middle,
            by: Duration::from_secs(2),
        }),
    );
    let client = parties::query(
        &plan,
        &example("inputs/mnist_1.npy"),
        &material,
        &relay.addr,
        10,
        link_flags(&material, "client", "server"),
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut client = Reaped::new(client);
    let start = Instant::now();
    while relay.units.lock().unwrap()[1] <= middle {
        assert!(start.elapsed() < LIMIT, "the run never reached its middle");
        assert!(
            client.get().try_wait().unwrap().is_none(),
            "the client ended early"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    server.get().kill().unwrap();
    server.get().wait().unwrap();
    let killed = Instant::now();
    while client.get().try_wait().unwrap().is_none() {
        assert!(
            killed.elapsed() < LIMIT,
            "the client hangs after the server died"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let o = client.into_inner().wait_with_output().unwrap();
    assert!(
        !o.status.success(),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let err = stderr(&o);
    eprintln!(
        "client, {:.2?} after the server was killed: {err}",
        killed.elapsed()
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains("the peer closed the connection") || err.contains("closed the connection"),
        "a clear error: {err}"
    );
    assert!(
        o.stdout.is_empty(),
        "no answer printed: {}",
        String::from_utf8_lossy(&o.stdout)
    );
}

#[test]
fn missing_material_is_a_clear_error_on_either_side() {
    let dir = scratch("nomat");
    let plan = example("netD_chameleon.nn");
    let nowhere = dir.join("m");
    let o = serve_refused(
        &plan,
        &example("netD_chameleon.safetensors"),
        &nowhere,
        "127.0.0.1:0",
    );
    let err = stderr(&o);
    assert!(
        err.contains(&nowhere.display().to_string()),
        "names the path: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    let err = query_refused(
        &plan,
        &example("inputs/mnist_0.npy"),
        &nowhere,
        "127.0.0.1:9",
    );
    assert!(
        err.contains(&nowhere.display().to_string()),
        "names the path: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn a_malformed_input_file_is_refused_before_using_material() {
    let dir = scratch("badnpy");
    let plan = example("netD_chameleon.nn");
    deal(&plan, &dir.join("m"), 1, 1);
    let bad = dir.join("x.npy");
    // The right magic and a header that breaks off: not a readable .npy.
    std::fs::write(
        &bad,
        b"\x93NUMPY\x01\x00\x76\x00{'descr': '<f4', 'fortran_order': Fal",
    )
    .unwrap();
    let err = query_refused(&plan, &bad, &dir.join("m"), "127.0.0.1:9");
    assert!(err.contains("x.npy"), "names the file: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(
        unused(&dir.join("m/client")),
        1,
        "the material was not consumed"
    );
}
