//! Cost reports over every example network (folder-driven over
//! `examples/*.nn`): table and JSON snapshots under `lan` and `wan`; the
//! report's totals are the runtime's own `plan_cost`; the optimal plan is
//! never estimated worse than all-GMW or all-Yao; pins are honoured; the
//! command line refuses bad networks with a clear message; the dealer bytes
//! it states per party are the sizes of the files `chimera dealer` writes.

mod common;

use chimera_compiler::cost::report::{compile_plans, to_dot, Plans, Report, Settings};
use chimera_compiler::cost::{Network, Objective, Profile, RuntimeOracle};
use chimera_runtime::plan::{Op, Protocol};
use std::path::{Path, PathBuf};
use std::process::Command;

fn examples() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("examples/ exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "nn"))
        .collect();
    files.sort();
    files
}

fn settings(network: Network, objective: Objective, batch: usize) -> Settings {
    Settings {
        network,
        profile: Profile::default_profile(),
        objective,
        batch,
    }
}

fn plans(path: &Path, s: &Settings) -> Plans {
    let source = std::fs::read(path).expect("example exists");
    let name = path.file_name().and_then(|n| n.to_str()).expect("utf-8");
    match compile_plans(&format!("examples/{name}"), &source, s, &RuntimeOracle) {
        Ok(p) => p,
        Err(d) => panic!("{}", d.render(name, &source, false)),
    }
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .and_then(|s| s.to_str())
        .expect("utf-8")
        .to_string()
}

#[test]
fn every_example_has_snapshotted_reports_on_lan_and_wan() {
    let files = examples();
    assert_eq!(files.len(), 8, "{files:?}");
    for path in &files {
        for network in [Network::lan(), Network::wan()] {
            let s = settings(network.clone(), Objective::Latency, 1);
            let p = plans(path, &s);
            let report = Report::new(&p, &s, &RuntimeOracle).expect("costed");
            let name = format!("{}_{}", stem(path), network.name);
            insta::assert_snapshot!(format!("{name}_table"), report.to_table());
            insta::assert_json_snapshot!(format!("{name}_json"), report.to_json());
            let json = report.to_json();
            for key in [
                "online_bytes",
                "rounds",
                "offline_bytes",
                "est_online_seconds",
            ] {
                assert!(json["totals"][key].is_number(), "{name}: totals.{key}");
                for alt in ["all_gmw", "all_yao", "optimal"] {
                    assert!(
                        json["alternatives"][alt][key].is_number(),
                        "{name}: {alt}.{key}"
                    );
                }
            }
            assert!(json["layers"].as_array().is_some_and(|l| !l.is_empty()));
        }
    }
}

#[test]
fn report_totals_are_the_runtime_plan_cost() {
    for path in &examples() {
        for batch in [1, 4] {
            let s = settings(Network::wan(), Objective::Latency, batch);
            let p = plans(path, &s);
            let report = Report::new(&p, &s, &RuntimeOracle).expect("costed");
            let exact = chimera_runtime::cost::plan_cost(&p.optimal.saved.plan, batch)
                .expect("runtime cost");
            assert_eq!(report.optimal.total.cost, exact.total, "{}", path.display());
        }
    }
}

#[test]
fn optimal_is_never_worse_than_all_gmw_or_all_yao() {
    let custom = Network::parse("rtt=10ms,bw=200mbit").expect("valid");
    for path in &examples() {
        for network in [Network::lan(), Network::wan(), custom.clone()] {
            for objective in [Objective::Latency, Objective::Bytes, Objective::Total] {
                let s = settings(network.clone(), objective, 1);
                let p = plans(path, &s);
                let r = Report::new(&p, &s, &RuntimeOracle).expect("costed");
                let score = |e: &chimera_compiler::cost::Estimate| {
                    e.score(objective, &s.network, &s.profile)
                };
                let best = score(&r.optimal.total);
                for (alt, pc) in [("all-gmw", &r.all_gmw), ("all-yao", &r.all_yao)] {
                    let other = score(&pc.total);
                    assert!(
                        best <= other * (1.0 + 1e-12),
                        "{} {} {objective}: optimal {best} > {alt} {other}",
                        path.display(),
                        network.name
                    );
                }
                assert_eq!(
                    p.optimal.saved.plan.optimized_for.objective,
                    objective.name()
                );
                assert_eq!(p.optimal.saved.plan.optimized_for.rtt_us, network.rtt_us);
            }
        }
    }
}

#[test]
fn lan_and_wan_choose_differently_on_net_d() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/netD_chameleon.nn");
    let relus = |network: Network| -> Vec<Protocol> {
        let p = plans(&path, &settings(network, Objective::Latency, 1));
        p.optimal
            .saved
            .plan
            .steps
            .iter()
            .filter(|s| matches!(s.op, Op::Relu))
            .map(|s| s.protocol)
            .collect()
    };
    assert_eq!(relus(Network::lan()), vec![Protocol::Gmw, Protocol::Gmw]);
    assert!(relus(Network::wan()).contains(&Protocol::Yao));
}

/// docs/cost-model.md explains netD on LAN and WAN with the figures of the
/// reports: its table's totals and alternatives are what `chimera cost`
/// prints today, and so are its netD dealer file sizes (a change to the
/// cost model or the material format that moves them fails here until the
/// explanation is updated).
#[test]
fn the_cost_model_doc_quotes_net_d_reports_of_today() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/cost-model.md")).expect("docs/cost-model.md");
    let path = root.join("examples/netD_chameleon.nn");
    let report = |network: Network| {
        let s = settings(network, Objective::Latency, 1);
        let p = plans(&path, &s);
        let r = Report::new(&p, &s, &RuntimeOracle).expect("costed");
        let ms =
            |e: &chimera_compiler::cost::Estimate| 1e3 * e.times(&s.network, &s.profile).online();
        let row =
            |e: &chimera_compiler::cost::Estimate| (e.cost.rounds, e.cost.online_bytes(), ms(e));
        (
            row(&r.optimal.total),
            row(&r.all_gmw.total),
            row(&r.all_yao.total),
            (r.optimal.total.cost.dealer_bytes, r.optimal.dealer_files),
        )
    };
    // 634921 → "634,921"
    let thousands = |n: u64| {
        let digits = n.to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        out
    };
    let mut expected = Vec::new();
    let (opt, gmw, yao, (words, files)) = report(Network::lan());
    expected.push(format!(
        "{} B of explicit words over the layers",
        thousands(words)
    ));
    expected.push(format!(
        "files of **{} B** for the server and **{} B** for the client",
        thousands(files.server),
        thousands(files.client)
    ));
    expected.push(format!(
        "{} rounds, {} kB online, est. **{:.1} ms**",
        opt.0,
        (opt.1 as f64 / 1e3).round(),
        opt.2
    ));
    expected.push(format!(
        "{} rounds, {} kB, {:.1} ms (optimal {:.2}× faster)",
        gmw.0,
        (gmw.1 as f64 / 1e3).round(),
        gmw.2,
        gmw.2 / opt.2
    ));
    expected.push(format!(
        "{} rounds, {:.2} MB, {:.1} ms (optimal {:.1}× faster)",
        yao.0,
        yao.1 as f64 / 1e6,
        yao.2,
        yao.2 / opt.2
    ));
    let (opt, gmw, yao, _) = report(Network::wan());
    expected.push(format!(
        "{} rounds, {:.2} MB online, est. **{:.0} ms**",
        opt.0,
        opt.1 as f64 / 1e6,
        opt.2
    ));
    expected.push(format!(
        "{:.0} ms (optimal {:.2}× faster)",
        gmw.2,
        gmw.2 / opt.2
    ));
    assert_eq!(yao, opt, "the doc says optimal = all-Yao on the WAN");
    expected.push(format!("{:.0} ms (optimal = all-Yao)", yao.2));
    for e in expected {
        assert!(doc.contains(&e), "docs/cost-model.md does not say `{e}`");
    }
}

/// The report's dealer bytes per party are exact: `chimera dealer` writes
/// files of exactly `dealer_bytes_to_server` / `dealer_bytes_to_client`
/// bytes per query, for the optimal plan (the one `chimera compile` makes
/// with the same flags), and the runtime's dealer makes bundles of exactly
/// the alternatives' figures. Per layer, the client's bytes are the
/// explicit words (`dealer_bytes`) and the server's are 0.
#[test]
fn dealer_bytes_per_party_are_the_dealers_file_sizes() {
    use chimera_runtime::dealer::{SessionId, TrustedDealer};
    let dir = common::cli::scratch("cost-dealer-bytes");
    for (stem, batch) in [
        ("netD_chameleon", 1),
        ("netA_secureml", 1),
        ("netA_secureml", 3),
        ("sigmoid_poly", 2),
    ] {
        let nn = format!("examples/{stem}.nn");
        let batch_arg = batch.to_string();
        let (code, out, err) = chimera(&[
            "cost",
            &nn,
            "--network",
            "lan",
            "--objective",
            "latency",
            "--batch",
            &batch_arg,
            "--format",
            "json",
        ]);
        assert_eq!(code, 0, "{stem}: {err}");
        let json: serde_json::Value = serde_json::from_str(&out).expect("json");
        let totals = &json["totals"];
        let to_server = totals["dealer_bytes_to_server"]
            .as_u64()
            .expect("server bytes");
        let to_client = totals["dealer_bytes_to_client"]
            .as_u64()
            .expect("client bytes");
        assert_eq!(json["alternatives"]["optimal"], *totals, "{stem}");
        // The client's file holds every layer's explicit words and a header.
        let words = totals["dealer_bytes"].as_u64().expect("dealer bytes");
        assert!(to_client > words && to_server < to_client, "{stem}");
        let layers = json["layers"].as_array().expect("layers");
        assert_eq!(
            layers
                .iter()
                .map(|l| l["dealer_bytes"].as_u64().expect("layer"))
                .sum::<u64>(),
            words
        );
        for l in layers {
            assert_eq!(l["dealer_bytes_to_client"], l["dealer_bytes"], "{stem}");
            assert_eq!(l["dealer_bytes_to_server"], 0, "{stem}");
        }

        let case = dir.join(format!("{stem}-{batch}"));
        let plan = case.join("plan.ron");
        std::fs::create_dir_all(&case).expect("case directory");
        let plan_arg = plan.to_str().expect("utf-8");
        let (code, _, err) = chimera(&[
            "compile",
            &nn,
            "-o",
            plan_arg,
            "--network",
            "lan",
            "--objective",
            "latency",
        ]);
        assert_eq!(code, 0, "{stem}: {err}");
        let mat = case.join("mat");
        let (code, _, err) = chimera(&[
            "dealer",
            plan_arg,
            "--queries",
            "2",
            "--batch",
            &batch_arg,
            "--out",
            mat.to_str().expect("utf-8"),
            "--quiet",
        ]);
        assert_eq!(code, 0, "{stem}: {err}");
        for (party, expected) in [("server", to_server), ("client", to_client)] {
            let files: Vec<u64> = std::fs::read_dir(mat.join(party))
                .expect("material directory")
                .map(|e| e.expect("entry").metadata().expect("metadata").len())
                .collect();
            assert_eq!(files, vec![expected; 2], "{stem} batch {batch}: {party}");
        }

        let s = settings(Network::lan(), Objective::Latency, batch);
        let p = plans(
            Path::new(env!("CARGO_MANIFEST_DIR")).join(&nn).as_path(),
            &s,
        );
        for (alt, compiled) in [("all_gmw", &p.all_gmw), ("all_yao", &p.all_yao)] {
            let plan = &compiled.saved.plan;
            let demand = chimera_runtime::cost::demand(plan, batch, 1).expect("demand");
            let session = SessionId::random().expect("session");
            let hash = plan.hash().expect("hash");
            let (b0, b1) = TrustedDealer::new(hash, session, None)
                .expect("dealer")
                .deal(&demand)
                .expect("dealt");
            let figures = &json["alternatives"][alt];
            for (key, bundle) in [
                ("dealer_bytes_to_server", b0),
                ("dealer_bytes_to_client", b1),
            ] {
                let len = bundle.to_bytes().expect("encoded").len() as u64;
                assert_eq!(figures[key].as_u64(), Some(len), "{stem} {alt} {key}");
            }
        }
    }
}

#[test]
fn pins_are_honoured_against_the_cost_model() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/netD_chameleon.nn");
    let source = std::fs::read_to_string(&path).expect("example");
    // On the LAN the optimizer puts both relus in B; pins move them to Y,
    // even in the all-GMW alternative (a pin overrides the restriction).
    let pinned = source
        .replace("r1 = relu(conv1)", "r1 = relu(conv1) @yao")
        .replace("r2 = relu(fc1)", "r2 = relu(fc1) @yao");
    let s = settings(Network::lan(), Objective::Latency, 1);
    let p = compile_plans("pinned.nn", pinned.as_bytes(), &s, &RuntimeOracle).expect("valid");
    for plan in [&p.optimal.saved.plan, &p.all_gmw.saved.plan] {
        let relus: Vec<Protocol> = plan
            .steps
            .iter()
            .filter(|st| matches!(st.op, Op::Relu))
            .map(|st| st.protocol)
            .collect();
        assert_eq!(relus, vec![Protocol::Yao, Protocol::Yao]);
    }
}

#[test]
fn dot_colours_protocols_and_draws_conversions() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/netD_chameleon.nn");
    let p = plans(&path, &settings(Network::wan(), Objective::Latency, 1));
    let dot = to_dot(&p.optimal.saved.plan);
    insta::assert_snapshot!("netD_chameleon_wan_dot", dot);
    assert!(dot.contains("shape=diamond"));
}

fn chimera(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_chimera"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cli_reports_and_refuses_bad_networks() {
    let (code, out, _) = chimera(&[
        "cost",
        "examples/netA_secureml.nn",
        "--network",
        "rtt=10ms,bw=200mbit",
        "--format",
        "json",
        "--batch",
        "8",
    ]);
    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(json["network"]["rtt_us"], 10_000);
    assert_eq!(json["batch"], 8);
    assert!(json["per_sample"]["est_online_seconds"].is_number());
    let (code, out, _) = chimera(&["cost", "examples/netA_secureml.nn", "--batch", "8"]);
    assert_eq!(code, 0);
    assert!(out.contains("per sample (amortized over 8)"), "{out}");

    let (code, _, err) = chimera(&[
        "cost",
        "examples/netA_secureml.nn",
        "--network",
        "rtt=10,bw=1gbit",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("bad rtt `10`: expected a positive number with a unit: us, ms or s"),
        "{err}"
    );
    let (code, _, err) = chimera(&[
        "compile",
        "examples/netA_secureml.nn",
        "-o",
        "-",
        "--network",
        "moon",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("unknown network `moon`: use `lan`, `wan`, or `rtt=10ms,bw=200mbit`"),
        "{err}"
    );
    let (code, _, err) = chimera(&["cost", "examples/netA_secureml.nn", "--objective", "speed"]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown objective `speed`"), "{err}");

    let (code, out, _) = chimera(&[
        "compile",
        "examples/netD_chameleon.nn",
        "-o",
        "-",
        "--network",
        "wan",
        "--objective",
        "bytes",
    ]);
    assert_eq!(code, 0);
    assert!(out.contains("network: \"wan\""), "{out}");
    assert!(out.contains("objective: \"bytes\""), "{out}");
}
