//! Y — Yao's garbled circuits: the server garbles, the client evaluates.
//!
//! Free-XOR, point-and-permute and half-gates (two ciphertexts per AND) in
//! [`garble`]; the hash `H(x, i) = π(π(x) ⊕ i) ⊕ π(x)` over fixed-key AES
//! in [`hash`]; input labels by derandomized dealer random OTs and output
//! decoding in [`labels`]. Everything here is sans-IO: functions take
//! labels, tables and dealer material and return what must be sent; the
//! conversions ([`crate::convert`]) move those messages over a channel.
//!
//! A Y-shared tensor of `n` words is `64 n` labels: the garbler holds the
//! zero-labels, the evaluator the active ones. Garbling depends only on the
//! zero-labels, never on inputs, so every table of a plan can be produced
//! and sent before the query (counted as ahead-of-query bytes by
//! [`cost`]).

pub mod garble;
pub mod hash;
pub mod labels;
pub mod party;

pub use garble::{Evaluator, Garbled, Garbler, LANES};
pub use hash::{hardware_aes, FixedKeyAes};
pub use labels::{colour_bits, decode, OtKeys};
pub use party::{YShare, YaoClient, YaoServer};

use crate::circuit::{CircuitStats, OpCost, FRAME_HEADER};

/// Bytes of one wire label or ciphertext on the wire.
pub const LABEL_BYTES: u64 = 16;

/// Errors of the Yao core: inconsistent lengths, which (when the data came
/// from the peer) means the peer misbehaved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum YaoError {
    /// A buffer does not have the length the circuit and tensor size imply.
    #[error("{what}: expected {expected} items, got {got}")]
    Length {
        /// Which buffer.
        what: &'static str,
        /// The length implied by the circuit and the tensor size.
        expected: usize,
        /// The length received.
        got: usize,
    },
}

/// Cost of running a library circuit on `n` elements that are already
/// Y-shared: no online traffic and no rounds; the garbled tables
/// (`2 × 16` bytes per AND, one frame) go server → client ahead of the query.
pub fn cost(stats: &CircuitStats, n: usize) -> OpCost {
    OpCost {
        ahead_of_query_bytes: 2 * LABEL_BYTES * stats.and_count * n as u64 + FRAME_HEADER,
        ahead_of_query_messages: 1,
        and_gates: stats.and_count * n as u64,
        ..OpCost::ZERO
    }
}

/// Cost of revealing `n` Y-shared words to the client: the decoding bits
/// (one bit per output wire, packed: 8 bytes per word) travel ahead of the
/// query; the client decodes locally.
pub fn reveal_cost(n: usize) -> OpCost {
    OpCost {
        ahead_of_query_bytes: 8 * n as u64 + FRAME_HEADER,
        ahead_of_query_messages: 1,
        ..OpCost::ZERO
    }
}

#[cfg(test)]
mod tests;
