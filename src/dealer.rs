//! `chimera dealer`: make the correlated randomness for N queries, offline.
//!
//! The dealer sees the public plan only — no weight, no input. For every
//! query it draws a fresh session id and a fresh master seed from the OS,
//! deals exactly the material the executor will consume (`cost::demand`),
//! and writes one bundle per party, atomically and owner-only, into
//! `OUT/server/` and `OUT/client/`.

use crate::common::load_plan;
use crate::materials;
use anyhow::Context;
use chimera_runtime::cost;
use chimera_runtime::dealer::{SessionId, TrustedDealer};
use chimera_runtime::plan::Party;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

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
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
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
    let dealt = deal(
        &saved.plan,
        args.queries,
        args.batch,
        &args.out,
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
            args.out.join("server").display(),
            args.out.join("client").display()
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
    let hash = plan.hash()?;
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
        for (i, bundle) in [server, client].iter().enumerate() {
            let path = dirs[i].join(materials::file_name(index, &session));
            bundle
                .write_file(&path)
                .with_context(|| format!("cannot write {}", path.display()))?;
            bytes[i] += std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(Dealt {
        bytes,
        seconds: start.elapsed().as_secs_f64(),
    })
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
