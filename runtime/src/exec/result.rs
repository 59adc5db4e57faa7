//! What a run gives each party: the outputs opened to it and its traffic.

use crate::plan::{Encoding, Reveal};
use crate::transport::ChannelStats;

/// What a party's channel counted in each phase of the run, and how long
/// each took. The two phases are predicted exactly by
/// [`crate::cost::PlanCost::session`] and [`crate::cost::PlanCost::query`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RunStats {
    /// The ahead-of-query phase, before the client's input is used:
    /// preamble, masked weights and every other input-independent message
    /// (garbled tables, OT corrections, Y→A masks, decoding bits).
    pub session: ChannelStats,
    /// The online phase, the query: input sharing, steps, reveals — only
    /// input-dependent messages.
    pub query: ChannelStats,
    /// Wall time of the ahead phase, seconds (includes garbling and
    /// drawing the query's dealer material).
    pub setup_seconds: f64,
    /// Wall time of the online phase, seconds: from the end of the ahead
    /// phase to this party's last message of the query.
    pub online_seconds: f64,
}

/// One output statement as revealed to this party.
#[derive(Clone, Debug, PartialEq)]
pub struct RevealedOutput {
    /// Name in the program.
    pub name: String,
    /// Label or scores.
    pub reveal: Reveal,
    /// Shape of one row's value.
    pub shape: Vec<usize>,
    /// How the ring elements encode numbers.
    pub encoding: Encoding,
    /// Rows.
    pub rows: usize,
    /// Ring elements, row-major.
    pub ring: Vec<u64>,
    /// Decoded numbers, row-major.
    pub values: Vec<f64>,
}

impl RevealedOutput {
    /// Elements per row.
    pub fn row_len(&self) -> usize {
        self.shape.iter().product()
    }

    /// The values of row `r`.
    pub fn row(&self, r: usize) -> &[f64] {
        let n = self.row_len();
        &self.values[r * n..(r + 1) * n]
    }

    /// Row `r`'s label, for an integer (argmax) output.
    pub fn label(&self, r: usize) -> Option<usize> {
        match self.encoding {
            Encoding::Integer => self.ring.get(r * self.row_len()).map(|&v| v as usize),
            Encoding::Fixed { .. } => None,
        }
    }
}

/// What a run gives one party: the outputs revealed to it (none for the
/// server of a usual plan) and its traffic.
#[derive(Clone, Debug, PartialEq)]
pub struct RunResult {
    /// Outputs opened to this party, in the plan's order.
    pub outputs: Vec<RevealedOutput>,
    /// Channel counters and times.
    pub stats: RunStats,
}

/// Alias for the client's result.
pub type ClientResult = RunResult;
