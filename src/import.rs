//! `chimera import MODEL.onnx [-o NAME] [--reveal label|scores|both]`:
//! convert a trained ONNX model to `NAME.nn` and `NAME.safetensors`, ready
//! for `chimera run NAME.nn --weights NAME.safetensors --input X.npy`.
//!
//! The conversion is `chimera_compiler::onnx::import`; this file reads the
//! model (and the external data file PyTorch writes beside it, if any) and
//! writes the two results atomically.

use anyhow::{bail, Context};
use chimera_compiler::onnx::{self, ExternalData, ImportOptions, Reveal};
use chimera_runtime::fsutil::write_atomic;
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

/// Flags of `chimera import`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The ONNX model (as `torch.onnx.export` writes it).
    pub model: PathBuf,
    /// Output path without extension: writes NAME.nn and NAME.safetensors.
    /// Default: the model's path without `.onnx`.
    #[arg(short, long, value_name = "NAME")]
    pub output: Option<PathBuf>,
    /// What the program reveals to the client: the predicted class, the
    /// scores (logits), or both.
    #[arg(long, default_value = "both", value_parser = parse_reveal)]
    pub reveal: Reveal,
}

fn parse_reveal(s: &str) -> Result<Reveal, String> {
    match s {
        "label" => Ok(Reveal::Label),
        "scores" => Ok(Reveal::Scores),
        "both" => Ok(Reveal::Both),
        _ => Err(format!("`{s}`: expected label, scores or both")),
    }
}

/// Read the external data files the model names, from its directory. A
/// location must be a plain relative path (no `..`, not absolute).
fn external_data(model: &Path, bytes: &[u8]) -> anyhow::Result<ExternalData> {
    let dir = model.parent().unwrap_or(Path::new("."));
    let mut files = ExternalData::new();
    for location in onnx::external_locations(bytes)? {
        let relative = Path::new(&location);
        if !relative
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
        {
            bail!(
                "{}: external data location `{location}` is not a file beside the model",
                model.display()
            );
        }
        let path = dir.join(relative);
        let data = std::fs::read(&path).with_context(|| {
            format!(
                "cannot read {} (external data of {})",
                path.display(),
                model.display()
            )
        })?;
        files.insert(location, data);
    }
    Ok(files)
}

/// Run the subcommand.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(&args.model)
        .with_context(|| format!("cannot read {}", args.model.display()))?;
    let stem = args
        .output
        .clone()
        .unwrap_or_else(|| args.model.with_extension(""));
    let model_name = stem
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "imported".into());
    let options = ImportOptions {
        model_name,
        source_name: args
            .model
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
        reveal: args.reveal,
        external_data: external_data(&args.model, &bytes)?,
    };
    let imported = onnx::import(&bytes, &options)
        .with_context(|| format!("cannot import {}", args.model.display()))?;
    let nn = stem.with_extension("nn");
    let weights = stem.with_extension("safetensors");
    write_atomic(&nn, imported.source.as_bytes())
        .with_context(|| format!("cannot write {}", nn.display()))?;
    write_atomic(&weights, &imported.weights)
        .with_context(|| format!("cannot write {}", weights.display()))?;
    println!(
        "wrote {} ({} layers) and {} ({} tensors)",
        nn.display(),
        imported.program.statements.len(),
        weights.display(),
        imported.program.weights.len()
    );
    Ok(ExitCode::SUCCESS)
}
