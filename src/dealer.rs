//! `chimera dealer`: make the correlated randomness for N queries, offline.
//!
//! The dealer sees the public plan only — no weight, no input. For every
//! query it draws a fresh session id and a fresh master seed from the OS,
//! deals exactly the material the executor will consume (`cost::demand`),
//! and writes one bundle per party, atomically and owner-only, into
//! `OUT/server/` and `OUT/client/` — or, with `--serve ADDR`, keeps them in
//! memory and hands each party its own bundles over mutual TLS
//! ([`crate::distribute`]).

use crate::common::load_plan;
use crate::distribute::{self, DealerLink, Outbox};
use crate::materials;
use anyhow::Context;
use chimera_runtime::cost;
use chimera_runtime::dealer::{MaterialBundle, SessionId, TrustedDealer};
use chimera_runtime::plan::Party;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Flags of `chimera dealer`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The network: a compiled plan (.ron) or a .nn file (compiled here).
    pub plan: PathBuf,
    /// Number of queries to deal for (each is single-use).
    #[arg(long, default_value_t = 1)]
    pub queries: usize,
    /// Rows per query (the client's batch size).
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// Output directory; `server/` and `client/` are created inside.
    #[arg(
        long,
        value_name = "DIR",
        required_unless_present = "serve",
        conflicts_with = "serve"
    )]
    pub out: Option<PathBuf>,
    /// Instead of writing files, listen on ADDR and hand each party its own
    /// bundles over mutual TLS (`serve`/`query --dealer ADDR` fetch them);
    /// exits once both parties have stored theirs.
    #[arg(long, value_name = "ADDR", requires = "identity")]
    pub serve: Option<String>,
    /// The dealer's TLS identity (`chimera keygen --name dealer`), with `--serve`.
    #[arg(long, value_name = "NAME.crt|DIR")]
    pub identity: Option<PathBuf>,
    /// The server's certificate: only this key can fetch the server's bundles.
    #[arg(long, value_name = "SERVER.crt", requires = "serve")]
    pub accept_server: Vec<PathBuf>,
    /// The client's certificate: only this key can fetch the client's bundles.
    #[arg(long, value_name = "CLIENT.crt", requires = "serve")]
    pub accept_client: Vec<PathBuf>,
    /// Seconds to wait for a connected party at any read, with `--serve`.
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
    /// Replace material already in the output directory.
    #[arg(long)]
    pub force: bool,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
}

/// What one dealer run wrote.
pub struct Dealt {
    /// Bytes written for the server and the client.
    pub bytes: [u64; 2],
    /// Wall time.
    pub seconds: f64,
}

/// Run the subcommand.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let saved = match load_plan(&args.plan)? {
        Ok(saved) => saved,
        Err(code) => return Ok(code),
    };
    if let (Some(addr), Some(identity)) = (&args.serve, &args.identity) {
        return serve(&args, &saved.plan, addr, identity);
    }
    let out = args
        .out
        .as_deref()
        .context("--out DIR (or --serve ADDR) is required")?;
    let dealt = deal(
        &saved.plan,
        args.queries,
        args.batch,
        out,
        args.force,
        args.quiet,
    )?;
    if !args.quiet {
        eprintln!(
            "dealt {} quer{} of batch {} for plan {} in {:.2} s: server {} (seeds), client {}",
            args.queries,
            if args.queries == 1 { "y" } else { "ies" },
            args.batch,
            saved.plan.hash()?.short(),
            dealt.seconds,
            human_bytes(dealt.bytes[0]),
            human_bytes(dealt.bytes[1]),
        );
        eprintln!(
            "give {} to the server and {} to the client; each bundle is used once",
            out.join("server").display(),
            out.join("client").display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Deal `queries` single-use bundles per party into `out`.
pub fn deal(
    plan: &chimera_runtime::plan::Plan,
    queries: usize,
    batch: usize,
    out: &Path,
    force: bool,
    quiet: bool,
) -> anyhow::Result<Dealt> {
    if queries == 0 {
        anyhow::bail!("--queries must be at least 1");
    }
    if batch == 0 {
        anyhow::bail!("--batch must be at least 1");
    }
    let demand = cost::demand(plan, batch, 1)?;
    let dirs = [Party::Server, Party::Client].map(|p| out.join(p.to_string()));
    for dir in &dirs {
        prepare_dir(dir, force)?;
    }
    if !quiet {
        eprintln!(
            "dealing {queries} quer{} of batch {batch}: about {} of client material per query",
            if queries == 1 { "y" } else { "ies" },
            human_bytes(8 * demand.explicit_words())
        );
    }
    let dealt = deal_each(plan, queries, batch, quiet, |index, bundles| {
        let mut bytes = [0u64; 2];
        for (i, bundle) in bundles.iter().enumerate() {
            let path = dirs[i].join(materials::file_name(index, &bundle.session));
            bundle
                .write_file(&path)
                .with_context(|| format!("cannot write {}", path.display()))?;
            bytes[i] = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        }
        Ok(bytes)
    })?;
    Ok(dealt)
}

/// Deal `queries` bundles per party and give each query's pair to `sink`,
/// which returns the bytes it stored per party.
fn deal_each(
    plan: &chimera_runtime::plan::Plan,
    queries: usize,
    batch: usize,
    quiet: bool,
    mut sink: impl FnMut(usize, [&MaterialBundle; 2]) -> anyhow::Result<[u64; 2]>,
) -> anyhow::Result<Dealt> {
    let hash = plan.hash()?;
    let demand = cost::demand(plan, batch, 1)?;
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::with_draw_target(Some(queries as u64), ProgressDrawTarget::stderr())
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} queries, {elapsed} (eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let start = Instant::now();
    let mut bytes = [0u64; 2];
    for index in 0..queries {
        let session = SessionId::random()?;
        let dealer = TrustedDealer::new(hash, session, None)?;
        let (server, client) = dealer.deal(&demand)?;
        let stored = sink(index, [&server, &client])?;
        bytes[0] += stored[0];
        bytes[1] += stored[1];
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(Dealt {
        bytes,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// `--serve`: deal into memory, then hand out over mutual TLS.
fn serve(
    args: &Args,
    plan: &chimera_runtime::plan::Plan,
    addr: &str,
    identity: &Path,
) -> anyhow::Result<ExitCode> {
    if args.queries == 0 || args.batch == 0 {
        anyhow::bail!("--queries and --batch must be at least 1");
    }
    let link = DealerLink::load(identity, &args.accept_server, &args.accept_client)?;
    let mut outbox = Outbox::new(plan.hash()?);
    let dealt = deal_each(
        plan,
        args.queries,
        args.batch,
        args.quiet,
        |index, bundles| {
            outbox.push(index, bundles)?;
            Ok([0, 0])
        },
    )?;
    let held = outbox.bytes();
    let listener = TcpListener::bind(addr).with_context(|| {
        format!("cannot listen on {addr} (is another process using that port? choose another with --serve)")
    })?;
    println!("listening on {}", listener.local_addr()?);
    if !args.quiet {
        eprintln!(
            "dealt {} quer{} of batch {} for plan {} in {:.2} s (server {}, client {}); handing them out over mutual TLS, each party only its own",
            args.queries,
            if args.queries == 1 { "y" } else { "ies" },
            args.batch,
            plan.hash()?.short(),
            dealt.seconds,
            human_bytes(held[0]),
            human_bytes(held[1]),
        );
    }
    let timeout = Duration::from_secs(args.timeout.max(1));
    distribute::serve_outbox(&listener, link, outbox, timeout)?;
    eprintln!("both parties stored their material; the dealer keeps no copy");
    Ok(ExitCode::SUCCESS)
}

/// Create `dir`, refusing to mix with an earlier run's material unless `force`.
fn prepare_dir(dir: &Path, force: bool) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let (fresh, used) = materials::census(dir);
    if fresh + used == 0 {
        return Ok(());
    }
    if !force {
        anyhow::bail!(
            "{} already holds material ({fresh} unused, {used} used bundle(s)); choose another --out or pass --force to replace it",
            dir.display()
        );
    }
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        if name.is_some_and(|n| n.ends_with(".mat") || n.ends_with(".mat.used")) {
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot remove {}", path.display()))?;
        }
    }
    Ok(())
}

/// `1234567` → `1.23 MB`.
pub fn human_bytes(b: u64) -> String {
    let b = b as f64;
    if b >= 1e9 {
        format!("{:.2} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.2} MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.1} kB", b / 1e3)
    } else {
        format!("{b} B")
    }
}
