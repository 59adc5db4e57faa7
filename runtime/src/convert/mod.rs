//! Conversions between A, B and Y.
pub mod cost;
