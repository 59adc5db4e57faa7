//! Syntax: the typed AST of a `.nn` file and the parser that builds it.
//!
//! The grammar (`grammar/nn.pest`) is generic about layers, so the AST is too:
//! a layer call is a name with positional and keyword arguments. Which layers
//! exist and what arguments they take is decided by the checker in
//! [`crate::lower`], which can then report unknown layers and bad arguments
//! with suggestions instead of a bare parse error.

pub mod ast;
pub mod parser;

pub use ast::*;
pub use parser::parse;
