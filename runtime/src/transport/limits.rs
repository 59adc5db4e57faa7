//! How large a frame a party ever needs to accept for one plan.
//!
//! The channel's frame limit ([`ChannelConfig::max_frame`](super::ChannelConfig))
//! bounds what a peer can make us buffer: a header announcing more is refused
//! before any payload byte is read. The default (1 GiB) is a generic ceiling;
//! a party that knows the plan and the batch can do much better, because the
//! cost model knows every message the executor will send. [`plan_max_frame`]
//! is a sound upper bound on any one frame of a run: no single message can be
//! larger than all the bytes its step sends in that direction, so the largest
//! per-step, per-direction byte count of [`cost::plan_cost`] (frame headers
//! included, masked weights and ahead-of-query material included) bounds every
//! frame, and a floor of [`MIN_FRAME`] leaves room for requests, hellos and
//! abort reasons.

use crate::cost::{self, CostError};
use crate::plan::Plan;

/// Smallest limit ever used: room for the session request, the hello
/// preamble and a human-readable abort reason.
pub const MIN_FRAME: usize = 64 * 1024;

/// An upper bound on the payload of any frame either party sends when running
/// `plan` on a query of `batch` rows (at least [`MIN_FRAME`]).
pub fn plan_max_frame(plan: &Plan, batch: usize) -> Result<usize, CostError> {
    let cost = cost::plan_cost(plan, batch)?;
    let largest = cost
        .inputs
        .iter()
        .chain(cost.steps.iter().map(|s| &s.cost))
        .chain(&cost.outputs)
        .flat_map(|c| {
            [
                c.bytes_server_to_client,
                c.bytes_client_to_server,
                c.ahead_of_query_bytes,
            ]
        })
        .max()
        .unwrap_or(0);
    let largest = usize::try_from(largest).unwrap_or(usize::MAX);
    Ok(largest.max(MIN_FRAME))
}
