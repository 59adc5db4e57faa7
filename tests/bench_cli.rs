//! `chimera run --network`, `chimera bench` and the script that writes
//! `docs/benchmarks.md`, driven as a user drives them (real processes).
//!
//! Timing is only ever checked from below (an emulated link can make a run
//! slower on a loaded machine, never faster than its round trips allow), so
//! these tests do not flake.

mod common;

use common::cli::{chimera, scratch, stderr};
use common::example;
use common::root;
use serde_json::Value;
use std::process::Command;

/// The plaintext oracle's label for one netD input.
fn oracle_label(input: &str) -> u64 {
    let o = chimera()
        .arg("eval")
        .arg(example("netD_chameleon.nn"))
        .arg("--weights")
        .arg(example("netD_chameleon.safetensors"))
        .arg("--input")
        .arg(example(input))
        .arg("--json")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    v["rows"][0]["label"].as_u64().unwrap()
}

#[test]
fn run_over_the_emulated_wan_gives_the_oracle_label_and_the_predicted_traffic() {
    let o = chimera()
        .arg("run")
        .arg(example("netD_chameleon.nn"))
        .arg("--weights")
        .arg(example("netD_chameleon.safetensors"))
        .arg("--input")
        .arg(example("inputs/mnist_3.npy"))
        .args(["--network", "wan", "--json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        v["output"][0]["rows"][0].as_u64().unwrap(),
        oracle_label("inputs/mnist_3.npy")
    );
    let (m, p) = (&v["measured"], &v["predicted"]);
    assert_eq!(m["online_bytes"], p["online_bytes"]);
    assert_eq!(m["rounds"], p["rounds"]);
    assert_eq!(v["network"]["name"], "wan");
    assert_eq!(v["network"]["emulated"], true);
    assert!(
        v["network"]["note"].as_str().unwrap().contains("EMULATED"),
        "{}",
        v["network"]
    );
    // The prediction is for the wan profile: at least one round trip.
    let predicted = p["online_seconds"].as_f64().unwrap();
    assert!(predicted >= 0.05, "predicted {predicted} s");
    assert!(p["offline_seconds"].as_f64().unwrap() > 0.0);
    // The client sends, then waits for the server's answer: one round trip
    // of the emulated link at least.
    let measured = m["online_seconds"].as_f64().unwrap();
    assert!(measured >= 0.05, "measured {measured} s over a 50 ms link");
}

#[test]
fn run_on_lan_fills_the_predicted_seconds_and_says_it_is_not_emulated() {
    let o = chimera()
        .arg("run")
        .arg(example("netD_chameleon.nn"))
        .arg("--weights")
        .arg(example("netD_chameleon.safetensors"))
        .arg("--input")
        .arg(example("inputs/mnist_0.npy"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains("link: plain loopback TCP"), "{text}");
    assert!(text.contains("(exact match)"), "{text}");
    assert!(text.contains("ms (lan)"), "{text}");
}

#[test]
fn run_refuses_an_unknown_network_profile() {
    let o = chimera()
        .arg("run")
        .arg(example("netD_chameleon.nn"))
        .arg("--weights")
        .arg(example("netD_chameleon.safetensors"))
        .arg("--input")
        .arg(example("inputs/mnist_0.npy"))
        .args(["--network", "rtt=10ms"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("network setting `bw` is missing"),
        "{}",
        stderr(&o)
    );
}

/// The fields every case of `bench --json` carries.
fn check_case(case: &Value) {
    for key in [
        "model",
        "batch",
        "plan_hash",
        "weights",
        "inputs",
        "online_seconds",
        "throughput_per_second",
        "online",
        "setup",
        "setup_seconds",
        "dealer",
        "plaintext_seconds",
        "secure_over_plaintext",
        "predicted",
        "exact",
        "mismatches",
    ] {
        assert!(!case[key].is_null(), "missing `{key}` in {case}");
    }
    let s = &case["online_seconds"];
    let (min, median, max) = (
        s["min"].as_f64().unwrap(),
        s["median"].as_f64().unwrap(),
        s["max"].as_f64().unwrap(),
    );
    assert!(0.0 < min && min <= median && median <= max, "{s}");
    assert_eq!(case["exact"], true, "{}", case["mismatches"]);
    assert_eq!(case["online"], case["predicted"]["online"]);
    assert_eq!(case["setup"], case["predicted"]["setup"]);
    assert!(case["online"]["client_to_server"].as_u64().unwrap() > 0);
    assert!(case["online"]["server_to_client"].as_u64().unwrap() > 0);
    assert!(case["predicted"]["online_seconds"].as_f64().unwrap() > 0.0);
    assert!(case["dealer"]["client_bytes_per_query"].as_u64().unwrap() > 0);
    assert!(case["plaintext_seconds"]["median"].as_f64().unwrap() > 0.0);
}

#[test]
fn bench_json_on_neta_has_every_figure_and_matches_the_prediction() {
    let dir = scratch("neta");
    let out = dir.join("bench.json");
    let o = chimera()
        .current_dir(root())
        .args([
            "bench", "netA", "--batch", "1,2", "--reps", "2", "--warmup", "1",
        ])
        .arg("--json")
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["format"], "chimera-bench/1");
    assert_eq!(v["network"]["name"], "lan");
    assert_eq!(v["network"]["emulated"], false);
    assert_eq!(v["reps"], 2);
    let written: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(written["results"], v["results"]);
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    for case in results {
        check_case(case);
        assert_eq!(case["model"], "netA_secureml");
        assert_eq!(
            case["online_seconds"]["samples"].as_array().unwrap().len(),
            2
        );
        assert!(case["weights"].as_str().unwrap().starts_with("trained"));
    }
    assert_eq!(results[1]["batch"], 2);
    assert_eq!(results[1]["labels"].as_array().unwrap().len(), 2);
    assert!(stderr(&o).contains("[2/2]"), "progress goes to stderr");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bench_over_a_custom_emulated_link_uses_random_weights_where_none_are_trained() {
    let o = chimera()
        .current_dir(root())
        .args([
            "bench",
            "cryptonets",
            "--batch",
            "1",
            "--reps",
            "1",
            "--warmup",
            "0",
        ])
        .args(["--network", "rtt=20ms,bw=500mbit"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(
        text.contains("EMULATED custom link (20 ms RTT, 500 Mbit/s)"),
        "{text}"
    );
    assert!(text.contains("cryptonets *"), "{text}");
    assert!(text.contains("seeded random weights"), "{text}");
}

#[test]
fn bench_refuses_an_unknown_network() {
    let o = chimera()
        .current_dir(root())
        .args(["bench", "netZ"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("unknown network `netZ`"),
        "{}",
        stderr(&o)
    );
}

/// `python3`, if this machine has it.
fn python() -> Option<Command> {
    let ok = Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then(|| Command::new("python3"))
}

#[test]
fn the_committed_benchmarks_doc_is_what_the_script_makes_of_the_committed_json() {
    let Some(mut py) = python() else {
        eprintln!("python3 is not installed: the docs script was not run");
        return;
    };
    let dir = scratch("docs");
    let out = dir.join("benchmarks.md");
    let o = py
        .current_dir(root())
        .arg("scripts/benchmarks_md.py")
        .arg("--output")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let made = std::fs::read_to_string(&out).unwrap();
    let committed = std::fs::read_to_string(root().join("docs/benchmarks.md")).unwrap();
    assert!(
        made == committed,
        "docs/benchmarks.md is out of date: run `python3 scripts/benchmarks_md.py`"
    );
    for needle in [
        "python3 scripts/benchmarks_md.py",
        "emulated",
        "Chameleon",
        "netD (Chameleon)",
        "≥ 500 inferences/s online",
    ] {
        assert!(made.contains(needle), "`{needle}` missing from the doc");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_docs_script_refuses_json_that_is_not_a_bench_output() {
    let Some(mut py) = python() else {
        eprintln!("python3 is not installed: the docs script was not run");
        return;
    };
    let dir = scratch("docs-bad");
    let bad = dir.join("bad.json");
    std::fs::write(&bad, br#"{"results": []}"#).unwrap();
    let o = py
        .current_dir(root())
        .arg("scripts/benchmarks_md.py")
        .arg("--lan")
        .arg(&bad)
        .arg("--output")
        .arg(dir.join("out.md"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("not a `chimera bench --json` output"),
        "{}",
        stderr(&o)
    );
    assert!(!dir.join("out.md").exists(), "nothing is written on error");
    let _ = std::fs::remove_dir_all(&dir);
}
