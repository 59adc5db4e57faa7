//! [`Estimate`]: the exact traffic of a step (the runtime's [`OpCost`]) plus
//! the counts of local work it does, and the [`Objective`]s that turn an
//! estimate into one number for the optimizer.
//!
//! Time model (documented with its sources in `docs/cost-model.md`):
//!
//! - **latency** of a round: the runtime's `rounds` counts sequential one-way
//!   flights on the critical path, a simultaneous exchange (both parties send,
//!   then both receive, as in a GMW level or a Beaver opening) counting once.
//!   A flight takes half a round trip, so `rounds × RTT / 2`. A
//!   request/response pair (A2Y: client → server → client) is 2 rounds = 1 RTT.
//! - **transfer**: online bytes of both directions / bandwidth (the
//!   conservative half-duplex count: it never underestimates).
//! - **compute**: counts × per-unit times of the calibration [`Profile`];
//!   online work is Yao evaluation, GMW ANDs, Beaver multiplications and
//!   MACs; offline work is garbling and PRG expansion of dealer material.

use super::{Network, Profile};
use chimera_runtime::circuit::OpCost;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::Add;
use std::str::FromStr;

/// Counts of local work of one step, for compute time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// AND gates garbled by the server (before the query).
    pub yao_garbled_ands: u64,
    /// AND gates evaluated by the client (online).
    pub yao_evaluated_ands: u64,
    /// GMW AND gates (online, both parties).
    pub gmw_ands: u64,
    /// Beaver multiplications of ring elements (online).
    pub beaver_mults: u64,
    /// Multiply-accumulates of linear layers (online; the server's masked
    /// weights times the activation).
    pub macs: u64,
    /// Bytes of PRG output to expand seed-compressed dealer material (offline).
    pub prg_bytes: u64,
}

impl Add for Counts {
    type Output = Counts;
    fn add(self, o: Counts) -> Counts {
        Counts {
            yao_garbled_ands: self.yao_garbled_ands + o.yao_garbled_ands,
            yao_evaluated_ands: self.yao_evaluated_ands + o.yao_evaluated_ands,
            gmw_ands: self.gmw_ands + o.gmw_ands,
            beaver_mults: self.beaver_mults + o.beaver_mults,
            macs: self.macs + o.macs,
            prg_bytes: self.prg_bytes + o.prg_bytes,
        }
    }
}

/// The cost of one step (or a sum of steps).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Estimate {
    /// Exact traffic, as the runtime counts it.
    pub cost: OpCost,
    /// Local work.
    pub counts: Counts,
}

impl Add for Estimate {
    type Output = Estimate;
    fn add(self, o: Estimate) -> Estimate {
        Estimate {
            cost: self.cost + o.cost,
            counts: self.counts + o.counts,
        }
    }
}

impl std::iter::Sum for Estimate {
    fn sum<I: Iterator<Item = Estimate>>(iter: I) -> Estimate {
        iter.fold(Estimate::default(), Add::add)
    }
}

/// What the time of an estimate is made of, in seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Times {
    /// `rounds × RTT / 2`.
    pub latency: f64,
    /// Online bytes / bandwidth.
    pub transfer: f64,
    /// Online local work.
    pub compute: f64,
    /// Ahead-of-query and dealer bytes / bandwidth.
    pub offline_transfer: f64,
    /// Garbling and PRG expansion.
    pub offline_compute: f64,
}

impl Times {
    /// Estimated online seconds: latency + transfer + compute.
    pub fn online(&self) -> f64 {
        self.latency + self.transfer + self.compute
    }

    /// Everything: online plus the offline transfer and compute.
    pub fn total(&self) -> f64 {
        self.online() + self.offline_transfer + self.offline_compute
    }
}

impl Estimate {
    /// Bytes sent before the query (garbled tables) plus dealer bytes.
    pub fn offline_bytes(&self) -> u64 {
        self.cost.ahead_of_query_bytes + self.cost.dealer_bytes
    }

    /// The time model of the module documentation.
    pub fn times(&self, net: &Network, p: &Profile) -> Times {
        let c = &self.counts;
        let ns = 1e-9;
        Times {
            latency: self.cost.rounds as f64 * net.rtt_seconds() / 2.0,
            transfer: net.transfer_seconds(self.cost.online_bytes()),
            compute: ns
                * (c.yao_evaluated_ands as f64 * p.yao_eval_and_ns
                    + c.gmw_ands as f64 * p.gmw_and_ns
                    + c.beaver_mults as f64 * p.beaver_mult_ns
                    + c.macs as f64 * p.mac_ns),
            offline_transfer: net.transfer_seconds(self.offline_bytes()),
            offline_compute: ns
                * (c.yao_garbled_ands as f64 * p.yao_garble_and_ns
                    + c.prg_bytes as f64 * p.prg_byte_ns),
        }
    }

    /// The number the optimizer minimizes.
    pub fn score(&self, objective: Objective, net: &Network, p: &Profile) -> f64 {
        match objective {
            Objective::Latency => self.times(net, p).online(),
            Objective::Bytes => self.cost.online_bytes() as f64,
            Objective::Total => self.times(net, p).total(),
        }
    }
}

/// What the optimizer minimizes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Objective {
    /// Estimated online seconds (the default).
    #[default]
    Latency,
    /// Online bytes, both directions.
    Bytes,
    /// Online seconds plus ahead-of-query and dealer transfer and offline compute.
    Total,
}

impl Objective {
    /// The name used on the command line and in plans.
    pub fn name(self) -> &'static str {
        match self {
            Objective::Latency => "latency",
            Objective::Bytes => "bytes",
            Objective::Total => "total",
        }
    }
}

impl fmt::Display for Objective {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An objective name that is not one of the three.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown objective `{0}`: use `latency`, `bytes` or `total`")]
pub struct ObjectiveError(pub String);

impl FromStr for Objective {
    type Err = ObjectiveError;
    fn from_str(s: &str) -> Result<Objective, ObjectiveError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "latency" => Ok(Objective::Latency),
            "bytes" => Ok(Objective::Bytes),
            "total" => Ok(Objective::Total),
            _ => Err(ObjectiveError(s.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_model_adds_latency_transfer_and_compute() {
        let e = Estimate {
            cost: OpCost {
                rounds: 2,
                bytes_server_to_client: 12_500_000,
                ahead_of_query_bytes: 12_500_000,
                ..OpCost::ZERO
            },
            counts: Counts {
                macs: 1_000_000,
                yao_garbled_ands: 1_000,
                ..Counts::default()
            },
        };
        let p = Profile {
            machine: String::new(),
            yao_garble_and_ns: 1000.0,
            yao_eval_and_ns: 0.0,
            gmw_and_ns: 0.0,
            beaver_mult_ns: 0.0,
            mac_ns: 1.0,
            prg_byte_ns: 0.0,
        };
        let t = e.times(&Network::wan(), &p);
        assert_eq!(t.latency, 0.05);
        assert_eq!(t.transfer, 1.0);
        assert!((t.compute - 0.001).abs() < 1e-12);
        assert!((t.offline_compute - 0.001).abs() < 1e-12);
        assert!((e.score(Objective::Latency, &Network::wan(), &p) - 1.051).abs() < 1e-12);
        assert!((e.score(Objective::Total, &Network::wan(), &p) - 2.052).abs() < 1e-12);
        assert_eq!(e.score(Objective::Bytes, &Network::wan(), &p), 12_500_000.0);
    }

    #[test]
    fn objective_names() {
        assert_eq!("Total".parse::<Objective>().unwrap(), Objective::Total);
        assert_eq!(
            "speed".parse::<Objective>().unwrap_err().to_string(),
            "unknown objective `speed`: use `latency`, `bytes` or `total`"
        );
    }
}
