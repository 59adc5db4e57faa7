//! B — GMW: XOR-shared, bit-sliced evaluation of library circuits.
//!
//! A B-shared tensor of `n` words is, for each party, `n` words whose XOR
//! with the other party's is the value (instance-major, like an A-shared
//! tensor). To evaluate a [`Circuit`] on it, each party bit-slices its
//! shares (a wire then carries the bits of all `n` elements packed in
//! `⌈n/64⌉` words) and runs the circuit **level by level**: all AND gates of
//! one AND-depth level, for the whole tensor, are opened in one message, so
//! a circuit of AND depth `d` costs exactly `d` rounds whatever `n` is.
//!
//! AND gates use dealer AND triples `c = a ∧ b` (XOR-shared, one triple word
//! per 64 gate instances), as in Beaver's trick for GF(2): both parties open
//! `d = x ⊕ a` and `e = y ⊕ b`, then `z = c ⊕ (d ∧ b) ⊕ (e ∧ a) ⊕ [party 0]
//! (d ∧ e)`. XOR and NOT are local (NOT and constants are applied by party 0
//! only).
//!
//! [`GmwEval`] is sans-IO: it produces each level's message and consumes
//! the peer's; [`crate::convert`] drives it over a channel.

use crate::circuit::{
    dealer_bytes, from_bitsliced, to_bitsliced, Circuit, CircuitStats, Gate, OpCost, FRAME_HEADER,
};
use crate::dealer::Pool;

mod run;
mod schedule;
#[cfg(test)]
mod tests;

pub use run::{reveal, run};
pub use schedule::Schedule;

/// Bytes of one 64-bit word on the wire.
pub const WORD_BYTES: u64 = 8;

/// Errors of the GMW core.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GmwError {
    /// A buffer does not have the length the circuit and tensor size imply.
    #[error("{what}: expected {expected} words, got {got}")]
    Length {
        /// Which buffer.
        what: &'static str,
        /// Length implied by the circuit and tensor size.
        expected: usize,
        /// Length received.
        got: usize,
    },
    /// A message arrived when the evaluation expected none (or vice versa).
    #[error("GMW evaluation is {0}")]
    State(&'static str),
}

/// One party's XOR shares of AND triples, one word per 64 gate instances:
/// `a`, `b`, `c` of equal length with `c = a ∧ b` across the two parties.
#[derive(Clone, Copy)]
pub struct TripleShares<'a> {
    /// Share of `a`.
    pub a: &'a [u64],
    /// Share of `b`.
    pub b: &'a [u64],
    /// Share of `c = a ∧ b`.
    pub c: &'a [u64],
}

/// The `w` words of wire `i` in a wire-major buffer.
#[inline]
fn wire(wires: &[u64], i: u32, w: usize) -> &[u64] {
    &wires[i as usize * w..(i as usize + 1) * w]
}

/// Triple words a circuit needs on `n` elements: `and_count × ⌈n/64⌉`.
pub fn triple_words(stats: &CircuitStats, n: usize) -> usize {
    stats.and_count as usize * n.div_ceil(64)
}

/// One party's evaluation of a circuit on a B-shared tensor.
pub struct GmwEval<'c> {
    circuit: &'c Circuit,
    schedule: Schedule,
    party0: bool,
    n: usize,
    words: usize,
    wires: Vec<u64>,
    /// Next AND level to open (1-based; `depth + 1` when finished).
    level: usize,
    /// Triple words consumed so far.
    used: usize,
    /// This party's `d ‖ e` of the level in flight.
    pending: Vec<u64>,
    in_flight: bool,
}

impl<'c> GmwEval<'c> {
    /// Start evaluating `circuit` on `n` instances; `shares` holds this
    /// party's XOR shares of the inputs, `n × in_words` instance-major.
    /// `party0` is true for the server (party 0).
    pub fn new(
        circuit: &'c Circuit,
        party0: bool,
        shares: &[u64],
        n: usize,
    ) -> Result<Self, GmwError> {
        if shares.len() != n * circuit.in_words() {
            return Err(GmwError::Length {
                what: "input shares",
                expected: n * circuit.in_words(),
                got: shares.len(),
            });
        }
        let words = n.div_ceil(64);
        let mut wires = vec![0u64; circuit.n_wires() * words];
        let sliced = to_bitsliced(shares, circuit.in_words());
        wires[..sliced.len()].copy_from_slice(&sliced);
        let mut eval = GmwEval {
            circuit,
            schedule: Schedule::new(circuit),
            party0,
            n,
            words,
            wires,
            level: 1,
            used: 0,
            pending: Vec::new(),
            in_flight: false,
        };
        eval.run_local(0);
        Ok(eval)
    }

    /// Whether every AND level has been opened.
    pub fn is_done(&self) -> bool {
        self.level > self.schedule.depth()
    }

    /// Rounds still to go.
    pub fn rounds_left(&self) -> usize {
        self.schedule.depth() + 1 - self.level
    }

    fn run_local(&mut self, level: usize) {
        let base = self.circuit.n_inputs();
        let w = self.words;
        for &g in self.schedule.local(level) {
            let out = (base + g as usize) * w;
            // Gates read only earlier wires (topological order), so the
            // output slice lies after both inputs.
            let (before, after) = self.wires.split_at_mut(out);
            let dst = &mut after[..w];
            match self.circuit.gates()[g as usize] {
                Gate::Xor(a, b) => {
                    let (xa, xb) = (wire(before, a, w), wire(before, b, w));
                    for ((o, x), y) in dst.iter_mut().zip(xa).zip(xb) {
                        *o = x ^ y;
                    }
                }
                Gate::Not(a) => {
                    let flip = if self.party0 { u64::MAX } else { 0 };
                    for (o, x) in dst.iter_mut().zip(wire(before, a, w)) {
                        *o = x ^ flip;
                    }
                }
                Gate::Const(v) => {
                    let val = if v && self.party0 { u64::MAX } else { 0 };
                    dst.fill(val);
                }
                Gate::And(..) => {}
            }
        }
    }

    /// This level's message `d ‖ e` (for every AND gate of the level, all
    /// words of `d = x ⊕ a`, then all of `e = y ⊕ b`), using the next
    /// triple words of `triples`.
    pub fn message(&mut self, triples: &TripleShares<'_>) -> Result<&[u64], GmwError> {
        if self.is_done() || self.in_flight {
            return Err(GmwError::State("not expecting to send"));
        }
        let w = self.words;
        let gates = self.schedule.ands(self.level);
        let need = self.used + gates.len() * w;
        for (what, len) in [
            ("triples a", triples.a.len()),
            ("triples b", triples.b.len()),
            ("triples c", triples.c.len()),
        ] {
            if len < need {
                return Err(GmwError::Length {
                    what,
                    expected: need,
                    got: len,
                });
            }
        }
        self.pending.clear();
        self.pending.resize(2 * gates.len() * w, 0);
        let (d_part, e_part) = self.pending.split_at_mut(gates.len() * w);
        for (k, &g) in gates.iter().enumerate() {
            if let Gate::And(x, y) = self.circuit.gates()[g as usize] {
                let t = self.used + k * w;
                let (ta, tb) = (&triples.a[t..t + w], &triples.b[t..t + w]);
                let d = &mut d_part[k * w..(k + 1) * w];
                for ((o, v), a) in d.iter_mut().zip(wire(&self.wires, x, w)).zip(ta) {
                    *o = v ^ a;
                }
                let e = &mut e_part[k * w..(k + 1) * w];
                for ((o, v), b) in e.iter_mut().zip(wire(&self.wires, y, w)).zip(tb) {
                    *o = v ^ b;
                }
            }
        }
        self.in_flight = true;
        Ok(&self.pending)
    }

    /// Consume the peer's message for the level in flight, finish its AND
    /// gates and the local gates that follow them.
    pub fn receive(&mut self, triples: &TripleShares<'_>, peer: &[u64]) -> Result<(), GmwError> {
        if !self.in_flight {
            return Err(GmwError::State("not expecting a message"));
        }
        if peer.len() != self.pending.len() {
            return Err(GmwError::Length {
                what: "peer's GMW level message",
                expected: self.pending.len(),
                got: peer.len(),
            });
        }
        let w = self.words;
        let base = self.circuit.n_inputs();
        let gates = self.schedule.ands(self.level);
        let half = gates.len() * w;
        let p0 = if self.party0 { u64::MAX } else { 0 };
        for (k, &g) in gates.iter().enumerate() {
            let out = (base + g as usize) * w;
            let t = self.used + k * w;
            let r = k * w..(k + 1) * w;
            let (my_d, my_e) = (&self.pending[r.clone()], &self.pending[half..][r.clone()]);
            let (peer_d, peer_e) = (&peer[r.clone()], &peer[half..][r]);
            let (ta, tb, tc) = (
                &triples.a[t..t + w],
                &triples.b[t..t + w],
                &triples.c[t..t + w],
            );
            let dst = &mut self.wires[out..out + w];
            for i in 0..w {
                let d = my_d[i] ^ peer_d[i];
                let e = my_e[i] ^ peer_e[i];
                dst[i] = tc[i] ^ (d & tb[i]) ^ (e & ta[i]) ^ (d & e & p0);
            }
        }
        self.used += half;
        self.in_flight = false;
        let level = self.level;
        self.run_local(level);
        self.level += 1;
        Ok(())
    }

    /// This party's XOR shares of the outputs, `n × out_words`.
    pub fn outputs(&self) -> Result<Vec<u64>, GmwError> {
        if !self.is_done() {
            return Err(GmwError::State("not finished"));
        }
        let w = self.words;
        let mut out = vec![0u64; self.circuit.n_outputs() * w];
        for (o, &wire) in self.circuit.outputs().iter().enumerate() {
            out[o * w..(o + 1) * w]
                .copy_from_slice(&self.wires[wire as usize * w..(wire as usize + 1) * w]);
        }
        Ok(from_bitsliced(&out, self.circuit.out_words(), self.n))
    }

    /// Triple words consumed so far.
    pub fn triples_used(&self) -> usize {
        self.used
    }
}

/// Cost of running a circuit on `n` B-shared elements: `and_depth`
/// simultaneous exchanges, each party sending `2 × 8` bytes per AND gate per
/// 64 elements (`d` and `e`) plus one frame header per level; dealer
/// material: one AND-triple word per AND gate per 64 elements.
pub fn cost(stats: &CircuitStats, n: usize) -> OpCost {
    let words = n.div_ceil(64) as u64;
    let depth = if stats.and_count == 0 {
        0
    } else {
        stats.and_depth
    };
    let per_dir = 2 * WORD_BYTES * stats.and_count * words + FRAME_HEADER * depth as u64;
    OpCost {
        rounds: depth,
        bytes_server_to_client: per_dir,
        bytes_client_to_server: per_dir,
        messages_server_to_client: depth,
        messages_client_to_server: depth,
        server_flights: depth,
        client_flights: depth,
        dealer_bytes: dealer_bytes(Pool::And, stats.and_count * words),
        and_gates: stats.and_count * n as u64,
        ..OpCost::ZERO
    }
}

/// Cost of revealing `n` B-shared words to the client: the server sends
/// its shares (one message, 8 bytes per word).
pub fn reveal_cost(n: usize) -> OpCost {
    OpCost {
        rounds: 1,
        bytes_server_to_client: WORD_BYTES * n as u64 + FRAME_HEADER,
        messages_server_to_client: 1,
        server_flights: 1,
        ..OpCost::ZERO
    }
}
