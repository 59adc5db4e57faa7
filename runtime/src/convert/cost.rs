//! Exact costs of the conversions and of running a library circuit in B or
//! Y, computed from the AND counts and depths of the circuits the runtime
//! executes. The compiler's cost model calls these; the runtime tests check
//! that the channel counters agree byte for byte.

use crate::circuit::{dealer_bytes, library, Circuit, OpCost, Style, FRAME_HEADER};
use crate::dealer::Pool;
use crate::plan::Protocol;
use crate::yao::LABEL_BYTES;

/// The six conversions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Conversion {
    /// Additive → XOR (GMW adder).
    A2B,
    /// XOR → additive (shared random bits).
    B2A,
    /// Additive → garbled (ripple adder, random OTs).
    A2Y,
    /// Garbled → additive (garbler's mask).
    Y2A,
    /// XOR → garbled (random OTs).
    B2Y,
    /// Garbled → XOR (colour bits).
    Y2B,
}

impl Conversion {
    /// The conversion from one protocol to another (`None` if equal).
    pub fn between(from: Protocol, to: Protocol) -> Option<Conversion> {
        use Protocol::*;
        Some(match (from, to) {
            (Arith, Gmw) => Conversion::A2B,
            (Gmw, Arith) => Conversion::B2A,
            (Arith, Yao) => Conversion::A2Y,
            (Yao, Arith) => Conversion::Y2A,
            (Gmw, Yao) => Conversion::B2Y,
            (Yao, Gmw) => Conversion::Y2B,
            _ => return None,
        })
    }

    /// The circuit the conversion runs, if any (`trunc` only matters for
    /// A2B and A2Y, which fold a truncation in).
    pub fn circuit(self, trunc: u32) -> Option<Circuit> {
        match self {
            Conversion::A2B => Some(library::add_shift(Style::Depth, trunc)),
            Conversion::A2Y => Some(library::add_shift(Style::Size, trunc)),
            Conversion::Y2A => Some(library::sub_mask(Style::Size)),
            Conversion::B2A | Conversion::B2Y | Conversion::Y2B => None,
        }
    }
}

/// Cost of converting `n` words; `trunc` bits of exact truncation folded
/// into A2B/A2Y (0 for none; the circuits' AND counts do not depend on it).
pub fn cost(kind: Conversion, n: usize, trunc: u32) -> OpCost {
    let n64 = n as u64;
    let labels = |words: u64| LABEL_BYTES * 64 * words;
    match kind {
        Conversion::A2B => {
            let c = library::add_shift(Style::Depth, trunc);
            crate::gmw::cost(&c.stats(), n)
        }
        Conversion::B2A => OpCost {
            rounds: 1,
            bytes_server_to_client: 8 * n64 + FRAME_HEADER,
            bytes_client_to_server: 8 * n64 + FRAME_HEADER,
            messages_server_to_client: 1,
            messages_client_to_server: 1,
            server_flights: 1,
            client_flights: 1,
            dealer_bytes: dealer_bytes(Pool::SharedBits, 64 * n64),
            ..OpCost::ZERO
        },
        Conversion::A2Y => {
            let c = library::add_shift(Style::Size, trunc);
            OpCost {
                rounds: 2,
                bytes_client_to_server: 8 * n64 + FRAME_HEADER,
                bytes_server_to_client: 2 * labels(n64) + FRAME_HEADER,
                messages_server_to_client: 1,
                messages_client_to_server: 1,
                server_flights: 1,
                client_flights: 1,
                ahead_of_query_bytes: 2 * LABEL_BYTES * c.and_count() * n64
                    + labels(n64)
                    + 2 * FRAME_HEADER,
                ahead_of_query_messages: 2,
                dealer_bytes: dealer_bytes(Pool::Ots, 64 * n64),
                and_gates: c.and_count() * n64,
            }
        }
        Conversion::Y2A => {
            let c = library::sub_mask(Style::Size);
            OpCost {
                ahead_of_query_bytes: 2 * LABEL_BYTES * c.and_count() * n64
                    + labels(n64)
                    + 8 * n64
                    + 3 * FRAME_HEADER,
                ahead_of_query_messages: 3,
                and_gates: c.and_count() * n64,
                ..OpCost::ZERO
            }
        }
        Conversion::B2Y => OpCost {
            rounds: 2,
            bytes_client_to_server: 8 * n64 + FRAME_HEADER,
            bytes_server_to_client: labels(n64) + FRAME_HEADER,
            messages_server_to_client: 1,
            messages_client_to_server: 1,
            server_flights: 1,
            client_flights: 1,
            ahead_of_query_bytes: labels(n64) + FRAME_HEADER,
            ahead_of_query_messages: 1,
            dealer_bytes: dealer_bytes(Pool::Ots, 64 * n64),
            ..OpCost::ZERO
        },
        Conversion::Y2B => OpCost::ZERO,
    }
}

/// Cost of running `circuit` on `n` elements already shared in `protocol`
/// (B: [`crate::gmw::cost`]; Y: [`crate::yao::cost`]). `None` for A, which
/// runs no boolean circuit.
pub fn circuit_cost(protocol: Protocol, circuit: &Circuit, n: usize) -> Option<OpCost> {
    match protocol {
        Protocol::Gmw => Some(crate::gmw::cost(&circuit.stats(), n)),
        Protocol::Yao => Some(crate::yao::cost(&circuit.stats(), n)),
        Protocol::Arith => None,
    }
}
