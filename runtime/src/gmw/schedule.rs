//! The level schedule of a circuit for GMW: AND gates grouped by AND level
//! (one round each) and the local gates that can run after each round.
//!
//! A gate's level is the number of ANDs on its longest input path. The AND
//! gates of level `L` only read wires of level `< L`, so they can all be
//! opened in round `L`; a local (XOR, NOT, constant) gate of level `L` runs
//! right after round `L`. Gates keep their topological order inside each
//! group.

use crate::circuit::{Circuit, Gate};

/// Gate indices grouped by AND level.
#[derive(Clone, Debug)]
pub struct Schedule {
    local: Vec<Vec<u32>>,
    ands: Vec<Vec<u32>>,
}

impl Schedule {
    /// The schedule of `circuit`.
    pub fn new(circuit: &Circuit) -> Self {
        let depth = circuit.and_depth() as usize;
        let levels = circuit.wire_levels();
        let base = circuit.n_inputs();
        let mut local = vec![Vec::new(); depth + 1];
        let mut ands = vec![Vec::new(); depth + 1];
        for (g, gate) in circuit.gates().iter().enumerate() {
            let l = levels[base + g] as usize;
            match gate {
                Gate::And(..) => ands[l].push(g as u32),
                _ => local[l].push(g as u32),
            }
        }
        Schedule { local, ands }
    }

    /// Number of AND levels (rounds).
    pub fn depth(&self) -> usize {
        self.ands.len() - 1
    }

    /// Local gates that run after round `level` (round 0: before any).
    pub fn local(&self, level: usize) -> &[u32] {
        &self.local[level]
    }

    /// AND gates opened in round `level` (1-based).
    pub fn ands(&self, level: usize) -> &[u32] {
        &self.ands[level]
    }
}
