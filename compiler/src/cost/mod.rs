//! The cost model: what each step of a plan costs (rounds, bytes each way,
//! bytes ahead of the query, dealer bytes, local work) under a [`Network`]
//! and a calibration [`Profile`], the [`Objective`]s the optimizer
//! minimizes, and the exact assignment [`solve`]r.
//!
//! Traffic never comes from a table of our own: every figure is the
//! runtime's exact per-step cost ([`chimera_runtime::cost`]), the numbers
//! its executor reproduces byte for byte; this module only adds local-work
//! counts and turns them into time.

pub mod calibrate;
pub mod estimate;
pub mod network;
pub mod oracle;
pub mod profile;
pub mod report;
pub mod solve;

pub use estimate::{Counts, Estimate, Objective, ObjectiveError, Times};
pub use network::{Network, NetworkError};
pub use oracle::{estimate, CostOracle, RuntimeOracle};
pub use profile::{Profile, ProfileError};
pub use solve::{solve, Problem, Solution, SolveError};
