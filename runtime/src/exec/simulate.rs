//! Both parties in one process: two threads over the in-memory channel,
//! with material from an in-process [`TrustedDealer`]. Outputs and byte
//! counts are those of a networked run (the channels count alike).

use super::party::{run_client, run_server, RunResult};
use super::ExecError;
use crate::cost::{demand, plan_cost, PlanCost};
use crate::dealer::{SessionId, TrustedDealer};
use crate::plan::Plan;
use crate::prg::Seed;
use crate::tensor_io::Batch;
use crate::transport::{memory_pair, TransportError};
use crate::weights::BoundWeights;

/// The result of a simulated run.
#[derive(Clone, Debug, PartialEq)]
pub struct Simulation {
    /// What the client learnt, and its channel's counters.
    pub client: RunResult,
    /// What the server learnt (usually nothing), and its channel's counters.
    pub server: RunResult,
    /// The cost model's prediction for the same plan and batch.
    pub predicted: PlanCost,
}

/// Run `plan` on `inputs` (one batch per plan input) with the server's
/// `weights`, both parties on threads over an in-memory channel. `seed`
/// makes the dealer deterministic (tests); `None` seeds it from the OS.
pub fn simulate(
    plan: &Plan,
    weights: &BoundWeights,
    inputs: &[Batch],
    seed: Option<Seed>,
) -> Result<Simulation, ExecError> {
    let batch = inputs.first().map_or(0, |b| b.rows);
    let predicted = plan_cost(plan, batch)?;
    let need = demand(plan, batch, 1)?;
    let hash = plan
        .hash()
        .map_err(|e| ExecError::Internal(e.to_string()))?;
    let session = match &seed {
        Some(s) => {
            let d = s.derive("chimera 2026 simulated session", &[]);
            let mut id = [0u8; 16];
            id.copy_from_slice(&d.as_bytes()[..16]);
            SessionId(id)
        }
        None => SessionId::random()?,
    };
    let (mut m0, mut m1) = TrustedDealer::pair(hash, session, seed, &need)?;
    let (mut c0, mut c1) = memory_pair();
    let (server, client) = std::thread::scope(|s| {
        let server = s.spawn(move || run_server(plan, weights, &mut m0, &mut c0, batch));
        let client = run_client(plan, inputs, &mut m1, &mut c1);
        let server = server
            .join()
            .unwrap_or_else(|_| Err(ExecError::Internal("the server thread panicked".into())));
        (server, client)
    });
    match (server, client) {
        (Ok(server), Ok(client)) => Ok(Simulation {
            client,
            server,
            predicted,
        }),
        // Report the cause, not the peer's echo of it.
        (
            Err(e),
            Err(ExecError::Transport(TransportError::PeerAborted(_) | TransportError::PeerClosed)),
        )
        | (Err(e), Ok(_)) => Err(e),
        (_, Err(e)) => Err(e),
    }
}
