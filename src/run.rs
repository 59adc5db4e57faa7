//! `chimera run`: the whole private inference in one command.
//!
//! Compiles the network, then runs the dealer, the server and the client as
//! three separate OS processes of this same program over loopback TCP — the
//! same code paths as `chimera dealer`, `serve` and `query` on three
//! machines — and prints the client's result with the measured online
//! traffic beside the cost model's exact prediction.
//!
//! The server and the client talk mutual TLS 1.3, as on two machines: the
//! run mints an ephemeral key and certificate for each in its scratch
//! directory (removed afterwards) and pins each on the other side.
//! `--insecure-plaintext` runs them over plain TCP instead (loopback
//! benchmarks), and says so.

use crate::common::{load_inputs, load_plan};
use anyhow::{bail, Context};
use chimera_runtime::cost;
use chimera_runtime::identity::GeneratedIdentity;
use chimera_runtime::plan::SavedPlan;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

/// Flags of `chimera run`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The network (.nn, or a compiled plan .ron).
    pub file: PathBuf,
    /// The server's weights (safetensors).
    #[arg(long, value_name = "W.safetensors")]
    pub weights: PathBuf,
    /// The client's input (.npy): one input or a batch of rows.
    #[arg(long, value_name = "X.npy", required = true)]
    pub input: Vec<PathBuf>,
    /// Print machine-readable JSON.
    #[arg(long)]
    pub json: bool,
    /// Seconds after which a party that has not finished is stopped.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
    /// Run server and client over plaintext TCP instead of mutual TLS (for
    /// loopback benchmarks; nothing is encrypted or authenticated).
    #[arg(long)]
    pub insecure_plaintext: bool,
}

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Run the subcommand.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let saved = match load_plan(&args.file)? {
        Ok(saved) => saved,
        Err(code) => return Ok(code),
    };
    let plan = &saved.plan;
    let rows = load_inputs(plan, &args.input)?
        .first()
        .map_or(0, |b| b.rows);
    let exe = std::env::current_exe().context("cannot find the chimera executable")?;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let scratch =
        Scratch(std::env::temp_dir().join(format!("chimera-run-{}-{stamp}", std::process::id())));
    std::fs::create_dir_all(&scratch.0)?;
    let plan_file = scratch.0.join("plan.ron");
    SavedPlan::new(plan.clone(), saved.debug.clone())?.save(&plan_file)?;
    let material = scratch.0.join("material");
    let (server_link, client_link) = if args.insecure_plaintext {
        eprintln!("{}", crate::link::PLAINTEXT_NOTICE);
        let flag = vec!["--insecure-plaintext".into()];
        (flag.clone(), flag)
    } else {
        ephemeral_identities(&scratch.0.join("keys"))?
    };
    let deadline = Duration::from_secs(args.timeout.max(1));

    // Offline: the dealer.
    let started = Instant::now();
    let dealer = Command::new(&exe)
        .arg("dealer")
        .arg(&plan_file)
        .args([
            "--queries",
            "1",
            "--batch",
            &rows.to_string(),
            "--quiet",
            "--out",
        ])
        .arg(&material)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start the dealer process")?;
    let dealer = finish("dealer", dealer, deadline)?;
    let offline_seconds = started.elapsed().as_secs_f64();

    // Online: the server, then the client.
    let mut server = Command::new(&exe)
        .arg("serve")
        .arg(&plan_file)
        .arg("--weights")
        .arg(&args.weights)
        .arg("--material")
        .arg(&material)
        .args(["--listen", "127.0.0.1:0", "--max-queries", "1"])
        .args(&server_link)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start the server process")?;
    let addr = match listening_address(&mut server) {
        Ok(addr) => addr,
        Err(e) => {
            let _ = server.kill();
            let out = finish("server", server, deadline).err();
            bail!(
                "{e:#}{}",
                out.map(|o| format!("\n{o:#}")).unwrap_or_default()
            );
        }
    };
    let client = Command::new(&exe)
        .arg("query")
        .arg(&plan_file)
        .args(
            args.input
                .iter()
                .flat_map(|p| [PathBuf::from("--input"), p.clone()]),
        )
        .arg("--material")
        .arg(&material)
        .args(["--connect", &addr, "--json"])
        .args(&client_link)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start the client process")?;
    let client = finish("client", client, deadline);
    let server = finish("server", server, deadline);
    let client = match (client, server) {
        (Ok(c), Ok(_)) => c,
        (Err(c), Err(s)) => bail!("{c:#}\n{s:#}"),
        (Err(e), Ok(_)) | (Ok(_), Err(e)) => return Err(e),
    };
    let _ = dealer;
    let result: Value = serde_json::from_str(&client)
        .context("the client printed something that is not its JSON result")?;

    let predicted = cost::plan_cost(plan, rows)?;
    let p = predicted.query.client;
    let measured = &result["measured"];
    let predicted_json = json!({
        "online_bytes": p.bytes_sent + p.bytes_received,
        "rounds": p.rounds,
        "online_seconds": Value::Null,
        "offline_seconds": Value::Null,
    });
    let measured_json = json!({
        "online_bytes": measured["online_bytes"],
        "rounds": measured["rounds"],
        "online_seconds": measured["online_seconds"],
        "offline_seconds": offline_seconds,
    });
    let exact = measured_json["online_bytes"] == predicted_json["online_bytes"]
        && measured_json["rounds"] == predicted_json["rounds"];
    if args.json {
        let out = json!({
            "model": plan.model,
            "plan_hash": plan.hash()?.to_hex(),
            "rows": rows,
            "channel": if args.insecure_plaintext { "plaintext" } else { "tls" },
            "output": result["output"],
            "measured": measured_json,
            "predicted": predicted_json,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "private inference of `{}` (plan {}): the weights stay in the server process, the input in the client's; dealer material made offline; {}",
            plan.model,
            plan.hash()?.short(),
            if args.insecure_plaintext {
                "plaintext TCP (--insecure-plaintext)"
            } else {
                "mutual TLS 1.3 with ephemeral keys"
            }
        );
        print!("{}", render(&result["output"], rows));
        println!(
            "online: measured {} B, {} rounds, {:.2} ms | predicted {} B, {} rounds{} | offline (dealer) {:.2} s",
            measured_json["online_bytes"],
            measured_json["rounds"],
            measured["online_seconds"].as_f64().unwrap_or(0.0) * 1e3,
            predicted_json["online_bytes"],
            predicted_json["rounds"],
            if exact { " (exact match)" } else { " (MISMATCH)" },
            offline_seconds
        );
    }
    if !exact {
        eprintln!("error: measured traffic differs from the cost model's prediction; this is a bug, please report it");
        return Ok(ExitCode::from(3));
    }
    Ok(ExitCode::SUCCESS)
}

/// Mint a key and certificate for the server and the client in `dir` (valid
/// one day, thrown away with the scratch directory); the flags each party
/// gets: its own identity, the other's certificate pinned.
fn ephemeral_identities(dir: &std::path::Path) -> anyhow::Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    let mut files = Vec::new();
    for name in ["server", "client"] {
        let identity = GeneratedIdentity::generate(name, 1)
            .with_context(|| format!("cannot make an ephemeral {name} identity"))?;
        files.push(identity.write(dir, name)?);
    }
    let flags = |me: usize, peer: usize| {
        vec![
            PathBuf::from("--identity"),
            files[me].cert.clone(),
            PathBuf::from("--accept"),
            files[peer].cert.clone(),
        ]
    };
    Ok((flags(0, 1), flags(1, 0)))
}

/// One line per row from the client's JSON outputs.
fn render(outputs: &Value, rows: usize) -> String {
    let mut s = String::new();
    let outputs = outputs.as_array().cloned().unwrap_or_default();
    for r in 0..rows {
        let parts: Vec<String> = outputs
            .iter()
            .map(|o| {
                let name = o["name"].as_str().unwrap_or("?");
                let v = &o["rows"][r];
                match v.as_array() {
                    Some(scores) => format!(
                        "{name} [{}]",
                        scores
                            .iter()
                            .map(|x| format!("{:.4}", x.as_f64().unwrap_or(f64::NAN)))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    None => format!("{name} {v}"),
                }
            })
            .collect();
        s.push_str(&format!("row {r}: {}\n", parts.join("  ")));
    }
    s
}

/// Read the server's first line, `listening on ADDR`.
fn listening_address(server: &mut Child) -> anyhow::Result<String> {
    let stdout = server
        .stdout
        .take()
        .context("the server's output is not readable")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(30))
        .context("the server did not start listening within 30 s")?;
    line.trim()
        .strip_prefix("listening on ")
        .map(str::to_string)
        .with_context(|| format!("the server did not start (it said {:?})", line.trim()))
}

/// Wait for a party with a deadline; its stdout on success, an error with
/// its stderr otherwise.
fn finish(role: &str, mut child: Child, deadline: Duration) -> anyhow::Result<String> {
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(o) = stdout.as_mut() {
            let _ = o.read_to_string(&mut s);
        }
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(e) = stderr.as_mut() {
            let _ = e.read_to_string(&mut s);
        }
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let out = out.join().unwrap_or_default();
    let err = err.join().unwrap_or_default();
    match status {
        Some(s) if s.success() => Ok(out),
        Some(s) => bail!("the {role} process failed ({s}):\n{}", indent(&err)),
        None => bail!(
            "the {role} process did not finish within {} s and was stopped:\n{}",
            deadline.as_secs(),
            indent(&err)
        ),
    }
}

fn indent(s: &str) -> String {
    s.lines()
        .map(|l| format!("  {role_line}", role_line = l))
        .collect::<Vec<_>>()
        .join("\n")
}
