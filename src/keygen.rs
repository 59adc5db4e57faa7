//! `chimera keygen --name NAME --out DIR`: make a party's TLS identity — a
//! P-256 private key (`DIR/NAME.key`, owner-only, written atomically) and a
//! self-signed certificate (`DIR/NAME.crt`) — and print the certificate's
//! SHA-256 fingerprint, which the peer's operator compares with the
//! certificate file they receive before pinning it.

use anyhow::{bail, Context};
use chimera_runtime::identity::GeneratedIdentity;
use std::path::PathBuf;
use std::process::ExitCode;

/// Flags of `chimera keygen`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The party's name (e.g. `server`, `client`, `dealer`): names the files
    /// and the certificate. Letters, digits, `-` and `_` only.
    #[arg(long)]
    pub name: String,
    /// Directory to write `<name>.key` and `<name>.crt` into (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// How many days the certificate stays valid.
    #[arg(long, default_value_t = 365)]
    pub days: u32,
}

/// Run the subcommand.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let valid_name = !args.name.is_empty()
        && args.name.len() <= 64
        && args
            .name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid_name {
        bail!(
            "invalid party name {:?}: use 1 to 64 letters, digits, `-` or `_` (e.g. `server`)",
            args.name
        );
    }
    if args.days == 0 {
        bail!("--days must be at least 1");
    }
    let identity = GeneratedIdentity::generate(&args.name, args.days)
        .context("cannot make the key and certificate")?;
    let files = identity.write(&args.out, &args.name)?;
    println!(
        "private key: {} (owner-only; keep it secret, never copy it to the peer)",
        files.key.display()
    );
    println!(
        "certificate: {} (give this file to the peer, which pins it)",
        files.cert.display()
    );
    println!("valid for:   {} days", args.days);
    println!("SHA-256 fingerprint: {}", identity.fingerprint);
    println!(
        "Check this fingerprint with the peer's operator over another channel; they can print it with\n  openssl x509 -noout -fingerprint -sha256 -in {}",
        files.cert.display()
    );
    Ok(ExitCode::SUCCESS)
}
