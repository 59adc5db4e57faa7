//! Predicting each party's [`ChannelStats`] exactly.
//!
//! The channel counts a *flight* each time a party sends after having
//! received (or before anything), so two adjacent steps may merge flights:
//! a linear layer's masked activations and the A→Y flips right after them
//! are one client flight.
//! Each step's message order is a fixed [`Pattern`] of sends and receives per
//! party; a [`Timeline`] replays the patterns of a whole run through the
//! channel's own counting rule and so predicts both parties' counters
//! exactly.

use crate::circuit::{OpCost, FRAME_HEADER};
use crate::convert::Conversion;
use crate::plan::{Op, Party, Protocol};
use crate::transport::ChannelStats;

/// Payload bytes of the preamble (hello) each party sends at connection
/// time: plan hash (32), session id (16), role (1), batch rows (4).
pub const HELLO_PAYLOAD: u64 = 53;

/// Both parties' channel counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Traffic {
    /// The server's counters.
    pub server: ChannelStats,
    /// The client's counters.
    pub client: ChannelStats,
}

impl Traffic {
    /// The counters of `party`.
    pub fn of(&self, party: Party) -> &ChannelStats {
        match party {
            Party::Server => &self.server,
            Party::Client => &self.client,
        }
    }
}

/// The order of sends and receives of one step, per party.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pattern {
    /// No message.
    Local,
    /// `rounds` simultaneous exchanges: each party sends, then receives.
    Exchange,
    /// The client sends, the server receives.
    ClientToServer,
    /// The server sends, the client receives.
    ServerToClient,
    /// Random-OT input labels (A2Y, B2Y): the client sends its flips, the
    /// server answers (its corrections and tables went ahead of the query).
    OtRoundTrip,
}

impl Pattern {
    /// The pattern of a step of `op` reading a value in `from` and running in `to`.
    pub fn of_step(op: &Op, from: Protocol, to: Protocol) -> Pattern {
        match op {
            Op::Convert => match Conversion::between(from, to) {
                Some(Conversion::A2B | Conversion::B2A) => Pattern::Exchange,
                Some(Conversion::A2Y | Conversion::B2Y) => Pattern::OtRoundTrip,
                Some(Conversion::Y2A) => Pattern::ServerToClient,
                Some(Conversion::Y2B) | None => Pattern::Local,
            },
            Op::Dense { .. } | Op::Conv2d { .. } => Pattern::ClientToServer,
            _ => match to {
                Protocol::Arith | Protocol::Gmw => Pattern::Exchange,
                Protocol::Yao => Pattern::ServerToClient,
            },
        }
    }

    /// The pattern of sharing a client input that lives in `protocol`.
    pub fn of_input(protocol: Protocol) -> Pattern {
        match protocol {
            Protocol::Yao => Pattern::OtRoundTrip,
            _ => Pattern::Local,
        }
    }

    /// The pattern of revealing a value to `to`.
    pub fn of_reveal(_protocol: Protocol, to: Party) -> Pattern {
        match to {
            Party::Client => Pattern::ServerToClient,
            Party::Server => Pattern::ClientToServer,
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Counter {
    stats: ChannelStats,
    in_flight: bool,
}

impl Counter {
    fn send(&mut self) {
        if !self.in_flight {
            self.stats.rounds += 1;
            self.in_flight = true;
        }
    }
    fn recv(&mut self) {
        self.in_flight = false;
    }
}

/// Replays a run's message patterns through the channel's counting rule.
#[derive(Clone, Debug, Default)]
pub struct Timeline {
    server: Counter,
    client: Counter,
    last_mark: Traffic,
}

impl Timeline {
    /// Nothing sent yet.
    pub fn new() -> Timeline {
        Timeline::default()
    }

    fn totals(&self) -> Traffic {
        Traffic {
            server: self.server.stats,
            client: self.client.stats,
        }
    }

    /// The counters since the previous mark (or the start).
    pub fn mark(&mut self) -> Traffic {
        let now = self.totals();
        let delta = Traffic {
            server: now.server.since(&self.last_mark.server),
            client: now.client.since(&self.last_mark.client),
        };
        self.last_mark = now;
        delta
    }

    /// Both parties send a hello, then read the peer's.
    pub fn preamble(&mut self) {
        let bytes = HELLO_PAYLOAD + FRAME_HEADER;
        for me in [Party::Server, Party::Client] {
            let c = self.counter(me);
            c.send();
            c.stats.bytes_sent += bytes;
            c.stats.messages_sent += 1;
        }
        for me in [Party::Server, Party::Client] {
            let c = self.counter(me);
            c.recv();
            c.stats.bytes_received += bytes;
            c.stats.messages_received += 1;
        }
    }

    fn counter(&mut self, party: Party) -> &mut Counter {
        match party {
            Party::Server => &mut self.server,
            Party::Client => &mut self.client,
        }
    }

    /// The server sends `messages` frames of `bytes` bytes in all, the client reads them.
    pub fn server_sends(&mut self, bytes: u64, messages: u64) {
        self.server.send();
        self.client.recv();
        self.account(bytes, messages, 0, 0);
    }

    fn account(&mut self, s2c: u64, s2c_msgs: u64, c2s: u64, c2s_msgs: u64) {
        self.server.stats.bytes_sent += s2c;
        self.server.stats.messages_sent += s2c_msgs;
        self.client.stats.bytes_received += s2c;
        self.client.stats.messages_received += s2c_msgs;
        self.client.stats.bytes_sent += c2s;
        self.client.stats.messages_sent += c2s_msgs;
        self.server.stats.bytes_received += c2s;
        self.server.stats.messages_received += c2s_msgs;
    }

    /// Add one step's online messages (its bytes ahead of the query travel
    /// in the ahead phase, see [`super::plan_cost`]) and its flights.
    pub fn add(&mut self, cost: &OpCost, pattern: Pattern) {
        let s2c = cost.bytes_server_to_client;
        let s2c_msgs = cost.messages_server_to_client as u64;
        let c2s = cost.bytes_client_to_server;
        let c2s_msgs = cost.messages_client_to_server as u64;
        if s2c_msgs + c2s_msgs == 0 {
            return;
        }
        match pattern {
            Pattern::Local => {}
            Pattern::Exchange => {
                for _ in 0..cost.rounds {
                    self.server.send();
                    self.client.send();
                    self.server.recv();
                    self.client.recv();
                }
            }
            Pattern::ClientToServer => {
                self.client.send();
                self.server.recv();
            }
            Pattern::ServerToClient => {
                self.server.send();
                self.client.recv();
            }
            Pattern::OtRoundTrip => {
                self.client.send();
                self.server.recv();
                self.server.send();
                self.client.recv();
            }
        }
        self.account(s2c, s2c_msgs, c2s, c2s_msgs);
    }
}
