//! `chimera eval`.

use std::process::ExitCode;

/// Flags of `chimera eval`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The .nn source file.
    pub file: std::path::PathBuf,
}

/// Run the subcommand.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("chimera eval is not available yet ({})", args.file.display())
}
