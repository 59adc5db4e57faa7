//! `chimera calibrate [-o PROFILE] [--seconds S]`: time the runtime's
//! primitives on this machine, print what was measured, and write a
//! calibration profile for `chimera cost --profile`. Run a release build
//! (`cargo run --release -- calibrate`): a debug build is many times slower.

use anyhow::Context;
use chimera_compiler::cost::calibrate::{measure, profile};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Flags of `chimera calibrate`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Where to write the profile (RON). Default: print it.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Seconds to spend on each measurement.
    #[arg(long, default_value_t = 0.5)]
    pub seconds: f64,
}

/// Run the subcommand.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if !(args.seconds.is_finite() && args.seconds > 0.0 && args.seconds <= 600.0) {
        anyhow::bail!("--seconds must be between 0 and 600, got {}", args.seconds);
    }
    if cfg!(debug_assertions) {
        eprintln!(
            "warning: this is a debug build; figures will be far slower than a release build's"
        );
    }
    let ms = measure(Duration::from_secs_f64(args.seconds), 1)?;
    for m in &ms {
        eprintln!(
            "{:<18} {:>10.3} ns/unit   ({}; best of repetitions: {} units in {:?})",
            m.name,
            m.ns_per_unit(),
            m.workload,
            m.units,
            m.best
        );
    }
    let machine = format!(
        "{} {}, {} threads, AES-NI {}, {} build",
        std::env::consts::OS,
        std::env::consts::ARCH,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if chimera_runtime::prg::aes_hardware() {
            "yes"
        } else {
            "no"
        },
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
    );
    let text = format!(
        "// Calibration profile written by `chimera calibrate`.\n{}\n",
        profile(machine, &ms).to_ron()
    );
    match &args.output {
        Some(path) => {
            chimera_runtime::fsutil::write_atomic(path, text.as_bytes())
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("wrote {}", path.display());
        }
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}
