//! Importing trained models from ONNX: an `.onnx` file → a `.nn` program
//! and its weights (safetensors).
//!
//! ```text
//! bytes ─prost─▶ ModelProto ─lower─▶ Program ─emit─▶ NAME.nn + NAME.safetensors
//!        (proto)              (lower, layers, fold)  (emit)
//! ```
//!
//! The importer maps the operators PyTorch's `torch.onnx.export` writes for
//! the networks Chimera runs (see [`SUPPORTED_OPERATORS`]), folds shape
//! computations on constants, keeps the names of the model's modules, and
//! refuses anything else with an [`ImportError`] naming the node. The
//! generated program is checked by the compiler's front end before it is
//! returned, so an import either yields a program that compiles or an error.
//!
//! ```
//! // Not a model: a clear error, never a panic.
//! let err = chimera_compiler::onnx::import(b"\x0a\x05hello", &Default::default()).unwrap_err();
//! assert!(err.to_string().starts_with("not an ONNX model"), "{err}");
//! ```

pub mod emit;
pub mod error;
pub mod fold;
pub mod graph;
pub mod layers;
pub mod lower;
pub mod names;
pub mod proto;

pub use emit::Program;
pub use error::{ImportError, UnsupportedNode, SUPPORTED_OPERATORS};
pub use graph::ExternalData;

use prost::Message;

/// What the generated program reveals to the client.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Reveal {
    /// Only the predicted class (the argmax of the scores).
    Label,
    /// Only the scores.
    Scores,
    /// The predicted class and the scores.
    #[default]
    Both,
}

/// How to import.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportOptions {
    /// The model name written after `model` (sanitized to an identifier).
    pub model_name: String,
    /// The file name recorded in the header comment.
    pub source_name: String,
    /// What the outputs reveal.
    pub reveal: Reveal,
    /// The external data files the model's tensors refer to, by the
    /// location the model gives ([`external_locations`] lists them).
    pub external_data: ExternalData,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            model_name: "imported".into(),
            source_name: "model.onnx".into(),
            reveal: Reveal::Both,
            external_data: ExternalData::new(),
        }
    }
}

/// An imported model.
#[derive(Clone, Debug)]
pub struct Imported {
    /// The program, as data.
    pub program: Program,
    /// Its `.nn` text.
    pub source: String,
    /// The weights, a safetensors file of float32 tensors.
    pub weights: Vec<u8>,
}

/// Decode an ONNX model and convert it (see the [module documentation](self)).
pub fn import(bytes: &[u8], options: &ImportOptions) -> Result<Imported, ImportError> {
    let model = decode(bytes)?;
    let program = lower::lower(&model, options)?;
    let source = program.source();
    if let Err(diagnostics) = crate::front_end(source.as_bytes()) {
        return Err(ImportError::Rejected {
            diagnostics: diagnostics.render("imported.nn", source.as_bytes(), false),
        });
    }
    let weights = program.safetensors()?;
    Ok(Imported {
        program,
        source,
        weights,
    })
}

fn decode(bytes: &[u8]) -> Result<proto::ModelProto, ImportError> {
    proto::ModelProto::decode(bytes).map_err(|e| ImportError::Decode(e.to_string()))
}

/// The external data files (`location`s) the model's initializers and
/// `Constant` nodes refer to, each once, in order of first use.
pub fn external_locations(bytes: &[u8]) -> Result<Vec<String>, ImportError> {
    let model = decode(bytes)?;
    let Some(graph) = &model.graph else {
        return Ok(Vec::new());
    };
    let constants = graph
        .node
        .iter()
        .flat_map(|n| n.attribute.iter().filter_map(|a| a.t.as_ref()));
    let mut out: Vec<String> = Vec::new();
    for t in graph.initializer.iter().chain(constants) {
        for e in t.external_data.iter().filter(|e| e.key == "location") {
            if !out.contains(&e.value) {
                out.push(e.value.clone());
            }
        }
    }
    Ok(out)
}
