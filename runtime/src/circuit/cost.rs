//! [`OpCost`]: what one operation costs, in the units the cost model and the
//! channel counters use. Every protocol module has `cost` functions that
//! compute it from a circuit's [`CircuitStats`](super::CircuitStats), so the
//! compiler's estimate is computed from the very circuits the runtime runs.

use crate::dealer::Pool;
use std::ops::Add;

/// Bytes of a frame header on the channel (every message carries one).
pub const FRAME_HEADER: u64 = crate::transport::HEADER_LEN as u64;

/// Bytes the dealer sends explicitly (to the client; the server's share is
/// all seed) for `items` items of `pool`.
pub fn dealer_bytes(pool: Pool, items: u64) -> u64 {
    8 * pool.explicit_words_per_item() as u64 * items
}

/// Cost of one operation on a whole tensor.
///
/// Byte counts are whole frames, header included, exactly as the channel's
/// counters add them up ([`crate::transport`]). `rounds` is the number of
/// sequential one-way flights on the critical path (a simultaneous exchange
/// counts once); `server_flights` / `client_flights` are what each party's
/// [`ChannelStats::rounds`](crate::transport::ChannelStats) counts for the
/// online part when the operation runs on its own (adjacent operations may
/// merge a trailing and a leading flight of the same party).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct OpCost {
    /// Online communication rounds (a round is one exchange; a simultaneous
    /// exchange in both directions counts once).
    pub rounds: u32,
    /// Online payload bytes from the server (party 0, garbler) to the client.
    pub bytes_server_to_client: u64,
    /// Online payload bytes from the client (party 1, evaluator) to the server.
    pub bytes_client_to_server: u64,
    /// Online messages server → client.
    pub messages_server_to_client: u32,
    /// Online messages client → server.
    pub messages_client_to_server: u32,
    /// Online flights the server sends.
    pub server_flights: u32,
    /// Online flights the client sends.
    pub client_flights: u32,
    /// Bytes server → client that do not depend on any input (garbled
    /// tables, decoding bits, OT corrections, garbler mask labels), sent
    /// before the query.
    pub ahead_of_query_bytes: u64,
    /// Messages carrying the ahead-of-query bytes.
    pub ahead_of_query_messages: u32,
    /// Dealer traffic for the material consumed: explicit words sent to the
    /// client (the server's share comes from its seed), see [`dealer_bytes`].
    pub dealer_bytes: u64,
    /// AND gates evaluated (GMW triples or garbled gates), for compute time.
    pub and_gates: u64,
}

impl OpCost {
    /// Nothing at all.
    pub const ZERO: OpCost = OpCost {
        rounds: 0,
        bytes_server_to_client: 0,
        bytes_client_to_server: 0,
        messages_server_to_client: 0,
        messages_client_to_server: 0,
        server_flights: 0,
        client_flights: 0,
        ahead_of_query_bytes: 0,
        ahead_of_query_messages: 0,
        dealer_bytes: 0,
        and_gates: 0,
    };

    /// Online bytes in both directions.
    pub fn online_bytes(&self) -> u64 {
        self.bytes_server_to_client + self.bytes_client_to_server
    }
}

/// Sequential composition: everything adds up.
impl Add for OpCost {
    type Output = OpCost;
    fn add(self, o: OpCost) -> OpCost {
        OpCost {
            rounds: self.rounds + o.rounds,
            bytes_server_to_client: self.bytes_server_to_client + o.bytes_server_to_client,
            bytes_client_to_server: self.bytes_client_to_server + o.bytes_client_to_server,
            messages_server_to_client: self.messages_server_to_client + o.messages_server_to_client,
            messages_client_to_server: self.messages_client_to_server + o.messages_client_to_server,
            server_flights: self.server_flights + o.server_flights,
            client_flights: self.client_flights + o.client_flights,
            ahead_of_query_bytes: self.ahead_of_query_bytes + o.ahead_of_query_bytes,
            ahead_of_query_messages: self.ahead_of_query_messages + o.ahead_of_query_messages,
            dealer_bytes: self.dealer_bytes + o.dealer_bytes,
            and_gates: self.and_gates + o.and_gates,
        }
    }
}
