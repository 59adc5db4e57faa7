//! Conversions between the three sharings: A (additive over Z_2^64), B
//! (GMW, XOR) and Y (garbled labels), each with the dealer's help where that
//! is cheaper.
//!
//! | conversion | how | online rounds |
//! |---|---|---|
//! | A2B | each party XOR-shares its additive share for free (`[x0, 0]`, `[0, x1]`), a log-depth adder in GMW adds them; truncation folded in as a wire shift | adder depth (7) |
//! | B2A | dealer shared random bits `r_i` (XOR and additive shares): open `c = x ⊕ r`, then `x = Σ 2^i (c_i + r_i − 2 c_i r_i)` locally | 1 |
//! | A2Y | the server garbles a ripple adder; its share goes in as labels, the client's by derandomized random OT; truncation folded in | 2 (client → server → client) |
//! | Y2A | the server picks a mask `r`, garbles `x − r` ahead of the query; the client decodes `x − r` as its share | 0 |
//! | B2Y | XOR of both shares folded into the random-OT answer: the client's bit flips, the server's share flips the answer | 2 |
//! | Y2B | colour bits: the server's share is `lsb` of its zero-labels, the client's the `lsb` of its active labels | 0 |
//!
//! [`cost()`] gives each conversion's exact traffic from the very circuits
//! these functions run; `docs/protocols-boolean.md` explains them.

mod ab;
pub mod cost;
mod yao_conv;

pub use ab::{a2b, a2b_inputs, b2a, b2a_finish, b2a_mask};
pub use cost::{circuit_cost, cost, Conversion};
pub use yao_conv::{
    a2y_client, a2y_server, b2y_client, b2y_server, y2a_client, y2a_server, y2b, A2yServerPrep,
    B2yServerPrep, ClientOtPrep,
};

use crate::dealer::DealerError;
use crate::gmw::GmwError;
use crate::transport::TransportError;
use crate::yao::YaoError;

/// Why a boolean-protocol operation failed, by fault.
#[derive(Debug, thiserror::Error)]
pub enum BooleanError {
    /// The channel failed or the peer misbehaved at the frame level.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// Dealer material is missing, used up, foreign or of the wrong kind.
    #[error(transparent)]
    Dealer(#[from] DealerError),
    /// The GMW core rejected a message or a length.
    #[error("GMW: {0}")]
    Gmw(#[from] GmwError),
    /// The Yao core rejected a message or a length.
    #[error("Yao: {0}")]
    Yao(#[from] YaoError),
    /// A caller passed a tensor of the wrong size for the circuit (a bug in
    /// the caller, reported rather than panicking).
    #[error("shape: {0}")]
    Shape(String),
    /// Dealer material of the wrong role (e.g. receiver OTs on the server).
    #[error("dealer material: {0}")]
    Material(&'static str),
}

#[cfg(test)]
mod tests;
