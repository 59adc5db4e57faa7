//! The plan executor: one party's side of a private inference.
//!
//! [`run_server`] (weights) and [`run_client`] (inputs) walk the same plan in
//! the same order over a [`Channel`], each step in its assigned protocol,
//! with every operation of a layer batched into one message per round for
//! the whole batch. A run has two phases:
//!
//! 1. **Ahead of the query** (before the client's input is used): a
//!    [preamble](hello) in which both parties check the plan hash, the
//!    session id and the batch size; the server's masked weights
//!    `E = W − U` of every linear layer ([`crate::arith::private_linear`]);
//!    then [everything else input-independent](ahead) — the garbled
//!    tables of the whole plan, OT corrections, Y→A masks and decoding
//!    bits in one server flight — and both parties draw the query's dealer
//!    material.
//! 2. **Online**, the query: the client's inputs are shared (its value is
//!    its own share; the server's share is zero), every step runs, and
//!    each output is opened to the party the plan names — and only that
//!    output, only to that party.
//!
//! [`RunStats`] measures the two phases apart (`session`, `setup_seconds`
//! for the first; `query`, `online_seconds` for the second).
//! The traffic of both phases equals [`crate::cost::plan_cost`] exactly,
//! frame for frame; [`simulate`] runs both parties on two threads over the
//! in-memory channel with a [`TrustedDealer`](crate::dealer::TrustedDealer)
//! to check that (and the result) quickly.
//!
//! Errors say whose fault they are ([`ExecError`]); a party that fails tells
//! its peer why (an abort frame) so both sides end with a clear message.

mod ahead;
mod hello;
mod layout;
mod party;
mod result;
mod simulate;
mod steps;

pub use hello::{Hello, HELLO_LEN};
pub use party::{run_client, run_server, ClientResult, RevealedOutput, RunResult, RunStats};
pub use simulate::{simulate, Simulation};

use crate::arith::ArithError;
use crate::convert::BooleanError;
use crate::cost::CostError;
use crate::dealer::DealerError;
use crate::plan::Party;
use crate::transport::TransportError;

/// Why a run failed, by fault.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The two parties run different plans.
    #[error("plan mismatch: this {party} runs plan {ours}, the peer runs plan {theirs}; both must compile the same .nn file with the same options")]
    PlanMismatch {
        /// Which side reports it.
        party: Party,
        /// Our plan hash (hex).
        ours: String,
        /// The peer's plan hash (hex).
        theirs: String,
    },
    /// The two parties hold material of different sessions.
    #[error("session mismatch: this {party} holds material of session {ours}, the peer of session {theirs}")]
    SessionMismatch {
        /// Which side reports it.
        party: Party,
        /// Our session id.
        ours: String,
        /// The peer's session id.
        theirs: String,
    },
    /// The parties disagree on the batch size.
    #[error("batch mismatch: this {party} expects {ours} rows, the peer {theirs}")]
    BatchMismatch {
        /// Which side reports it.
        party: Party,
        /// Our batch.
        ours: usize,
        /// The peer's batch.
        theirs: usize,
    },
    /// The peer broke the protocol (bad frame, bad length, wrong role).
    #[error("the peer misbehaved: {0}")]
    PeerMisbehaved(String),
    /// The channel failed (closed, timed out, aborted by the peer, I/O).
    #[error(transparent)]
    Transport(TransportError),
    /// Dealer material missing, used up or dealt for another plan/session.
    #[error(transparent)]
    Dealer(#[from] DealerError),
    /// The plan cannot be executed.
    #[error(transparent)]
    Plan(#[from] CostError),
    /// Inputs or weights do not fit the plan.
    #[error("shape: {0}")]
    Shape(String),
    /// A value cannot be encoded in the plan's fixed-point format.
    #[error("input `{input}`: {reason}")]
    Encode {
        /// Input name.
        input: String,
        /// Why.
        reason: String,
    },
    /// A bug of ours (an inconsistent internal state), reported instead of panicking.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<TransportError> for ExecError {
    fn from(e: TransportError) -> Self {
        match e {
            TransportError::PeerMisbehaved(m) => ExecError::PeerMisbehaved(m),
            other => ExecError::Transport(other),
        }
    }
}

impl From<ArithError> for ExecError {
    fn from(e: ArithError) -> Self {
        match e {
            ArithError::Transport(t) => t.into(),
            ArithError::Dealer(d) => ExecError::Dealer(d),
            ArithError::Shape(s) => ExecError::Shape(s.to_string()),
            ArithError::Invalid(m) => ExecError::Internal(m),
        }
    }
}

impl From<BooleanError> for ExecError {
    fn from(e: BooleanError) -> Self {
        match e {
            BooleanError::Transport(t) => t.into(),
            BooleanError::Dealer(d) => ExecError::Dealer(d),
            // Lengths of messages are checked on receipt (the channel's
            // word counts); a core length error past that is ours.
            other => ExecError::Internal(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests;
