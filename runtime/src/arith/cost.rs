//! What each arithmetic-sharing operation costs, in the units of
//! [`OpCost`] (whole frames, as the channel counts them). The cost model
//! reads these functions, and the tests check them against the counters of
//! real runs, so prediction and measurement cannot drift apart.
//!
//! Local operations (add, sub, scale, add a constant or a bias) cost nothing.
//! Compute of a linear layer is [`LinearShape::macs`] multiply-adds on the
//! server per row (and as many on the client unless it prepares them ahead).

use super::linear::LinearShape;
use crate::circuit::{dealer_bytes, OpCost, FRAME_HEADER};
use crate::dealer::Pool;

fn frame(words: u64) -> u64 {
    8 * words + FRAME_HEADER
}

/// One exchange of `words` words each way.
fn exchange(words: u64) -> OpCost {
    OpCost {
        rounds: 1,
        bytes_server_to_client: frame(words),
        bytes_client_to_server: frame(words),
        messages_server_to_client: 1,
        messages_client_to_server: 1,
        server_flights: 1,
        client_flights: 1,
        ..OpCost::ZERO
    }
}

/// [`open`](super::open) of `n` elements to both parties.
pub fn open(n: usize) -> OpCost {
    exchange(n as u64)
}

/// [`reveal_to`](super::reveal_to) the client: the server sends its share.
pub fn reveal_to_client(n: usize) -> OpCost {
    OpCost {
        rounds: 1,
        bytes_server_to_client: frame(n as u64),
        messages_server_to_client: 1,
        server_flights: 1,
        ..OpCost::ZERO
    }
}

/// [`mul`](super::mul) of `n` elements: one exchange of `2n` words.
pub fn mul(n: usize) -> OpCost {
    OpCost {
        dealer_bytes: dealer_bytes(Pool::Beaver, n as u64),
        ..exchange(2 * n as u64)
    }
}

/// [`square`](super::square) of `n` elements: one exchange of `n` words.
pub fn square(n: usize) -> OpCost {
    OpCost {
        dealer_bytes: dealer_bytes(Pool::Square, n as u64),
        ..exchange(n as u64)
    }
}

/// [`truncate`](super::truncate) of `n` elements by `bits`.
pub fn truncate(n: usize, bits: u32) -> OpCost {
    OpCost {
        dealer_bytes: dealer_bytes(Pool::Trunc { bits }, n as u64),
        ..exchange(n as u64)
    }
}

/// Session set-up of a private-weight linear layer: the server sends the
/// masked weights once, before any query (reported as ahead-of-query bytes;
/// the weight mask comes from the server's seed, so no dealer bytes).
pub fn linear_setup(shape: &LinearShape) -> OpCost {
    OpCost {
        ahead_of_query_bytes: frame(shape.weight_len() as u64),
        ahead_of_query_messages: 1,
        ..OpCost::ZERO
    }
}

/// One query of a private-weight linear layer on `rows` activation rows:
/// the client sends `f` (one message), the server sends nothing.
pub fn linear_query(shape: &LinearShape, rows: usize) -> OpCost {
    let rows = rows as u64;
    OpCost {
        rounds: 1,
        bytes_client_to_server: frame(rows * shape.input_len() as u64),
        messages_client_to_server: 1,
        client_flights: 1,
        dealer_bytes: 8 * rows * shape.output_len() as u64,
        ..OpCost::ZERO
    }
}
