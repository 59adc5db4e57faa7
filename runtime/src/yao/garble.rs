//! Half-gates garbling and evaluation, batched over tensor elements.
//!
//! Free-XOR (Kolesnikov–Schneider 2008): a global secret `Δ` with
//! `lsb(Δ) = 1`; a wire's labels are `W⁰` and `W¹ = W⁰ ⊕ Δ`, so XOR and NOT
//! cost nothing. Point-and-permute: the colour bit of a label is its lsb.
//! Half-gates (Zahur, Rosulek, Evans, EUROCRYPT 2015, Fig. 2), two
//! ciphertexts per AND with tweaks `j, j'`:
//!
//! ```text
//! garbler: pa = lsb(A⁰), pb = lsb(B⁰)
//!   T_G = H(A⁰, j) ⊕ H(A¹, j) ⊕ pb·Δ        W_G⁰ = H(A⁰, j) ⊕ pa·T_G
//!   T_E = H(B⁰, j') ⊕ H(B¹, j') ⊕ A⁰        W_E⁰ = H(B⁰, j') ⊕ pb·(T_E ⊕ A⁰)
//!   C⁰ = W_G⁰ ⊕ W_E⁰, table (T_G, T_E)
//! evaluator: sa = lsb(A), sb = lsb(B)
//!   C = H(A, j) ⊕ sa·T_G ⊕ H(B, j') ⊕ sb·(T_E ⊕ A)
//! ```
//!
//! `H` is the tweakable correlation-robust hash of [`super::hash`]. A
//! circuit is run for `n` instances in chunks of [`LANES`] instances; a wire
//! holds `LANES` labels side by side so each AND gate hashes a whole batch
//! of labels with pipelined AES. Buffers are allocated once per call, never
//! per gate. Tweaks are unique for the life of a garbler/evaluator pair:
//! instance `e` of AND gate `g` in a call starting at counter `t` uses
//! `j = 2 (t + e·and_count + g)` and `j' = j + 1`.
//!
//! Table layout (what the evaluator must receive, in order): for each chunk,
//! for each AND gate, for each instance of the chunk, `T_G` then `T_E`.

use super::hash::FixedKeyAes;
use super::YaoError;
use crate::circuit::{Circuit, Gate};

/// Instances garbled side by side (one AES batch is `4 × LANES` blocks).
pub const LANES: usize = 16;

#[inline]
fn select(bit: u128, x: u128) -> u128 {
    // bit ∈ {0, 1}: all-ones or all-zeros mask without a branch.
    x & bit.wrapping_neg()
}

/// The garbler's state: `Δ`, the tweak counter and reusable buffers.
pub struct Garbler {
    delta: u128,
    aes: FixedKeyAes,
    counter: u64,
    wires: Vec<u128>,
    hashes: Vec<u128>,
    tweaks: Vec<u128>,
    scratch: Vec<u128>,
}

/// What garbling produces: the tables to send to the evaluator (they do not
/// depend on any input, so they can travel before the query) and the
/// zero-labels of the outputs, which the garbler keeps.
#[derive(Clone, PartialEq, Eq)]
pub struct Garbled {
    /// `2 × and_count × n` ciphertexts, in the layout of the module docs.
    pub tables: Vec<u128>,
    /// Zero-labels of the outputs, `n × n_outputs`, instance-major.
    pub outputs: Vec<u128>,
}

impl Garbler {
    /// A garbler with a fresh `Δ` (lsb forced to 1) drawn from `rng`.
    pub fn new<R: rand::CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let delta = (((rng.next_u64() as u128) << 64) | rng.next_u64() as u128) | 1;
        Garbler {
            delta,
            aes: FixedKeyAes::default(),
            counter: 0,
            wires: Vec::new(),
            hashes: Vec::new(),
            tweaks: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// The global offset `Δ` (secret; used by the input-label transfer).
    pub(crate) fn delta(&self) -> u128 {
        self.delta
    }

    /// `n` fresh random zero-labels for input wires.
    pub fn fresh_labels<R: rand::CryptoRng + ?Sized>(&self, rng: &mut R, n: usize) -> Vec<u128> {
        let mut out = vec![0u128; n];
        rng.fill_bytes(bytemuck::cast_slice_mut(&mut out));
        out
    }

    /// Garble `circuit` for `n` instances whose input zero-labels are
    /// `inputs` (`n × n_inputs`, instance-major).
    pub fn garble(
        &mut self,
        circuit: &Circuit,
        inputs: &[u128],
        n: usize,
    ) -> Result<Garbled, YaoError> {
        let n_in = circuit.n_inputs();
        if inputs.len() != n * n_in {
            return Err(YaoError::Length {
                what: "garbler input labels",
                expected: n * n_in,
                got: inputs.len(),
            });
        }
        let ands = circuit.and_count() as usize;
        let n_out = circuit.n_outputs();
        // Filled strictly in order, so pushed rather than zeroed first.
        let mut tables = Vec::with_capacity(2 * ands * n);
        let mut outputs = Vec::with_capacity(n * n_out);
        self.wires.clear();
        self.wires.resize(circuit.n_wires() * LANES, 0);
        let delta = self.delta;
        for start in (0..n).step_by(LANES) {
            let kk = (n - start).min(LANES);
            let w = &mut self.wires;
            for k in 0..kk {
                for i in 0..n_in {
                    w[i * LANES + k] = inputs[(start + k) * n_in + i];
                }
            }
            let mut and_idx = 0u64;
            for (g, gate) in circuit.gates().iter().enumerate() {
                let out = (n_in + g) * LANES;
                match *gate {
                    Gate::Xor(a, b) => {
                        let (a, b) = (a as usize * LANES, b as usize * LANES);
                        for k in 0..kk {
                            w[out + k] = w[a + k] ^ w[b + k];
                        }
                    }
                    Gate::Not(a) => {
                        let a = a as usize * LANES;
                        for k in 0..kk {
                            w[out + k] = w[a + k] ^ delta;
                        }
                    }
                    Gate::Const(v) => {
                        // Active label of a public constant is 0, so its zero-label is v·Δ.
                        let z = if v { delta } else { 0 };
                        w[out..out + kk].fill(z);
                    }
                    Gate::And(a, b) => {
                        let (a, b) = (a as usize * LANES, b as usize * LANES);
                        self.hashes.clear();
                        self.tweaks.clear();
                        for k in 0..kk {
                            let (a0, b0) = (w[a + k], w[b + k]);
                            let id = self.counter + (start + k) as u64 * ands as u64 + and_idx;
                            let j = 2 * id as u128;
                            self.hashes
                                .extend_from_slice(&[a0, a0 ^ delta, b0, b0 ^ delta]);
                            self.tweaks.extend_from_slice(&[j, j, j + 1, j + 1]);
                        }
                        self.aes
                            .tccr(&mut self.hashes, &self.tweaks, &mut self.scratch);
                        for k in 0..kk {
                            let (a0, b0) = (w[a + k], w[b + k]);
                            let h = &self.hashes[4 * k..4 * k + 4];
                            let (pa, pb) = (a0 & 1, b0 & 1);
                            let tg = h[0] ^ h[1] ^ select(pb, delta);
                            let wg = h[0] ^ select(pa, tg);
                            let te = h[2] ^ h[3] ^ a0;
                            let we = h[2] ^ select(pb, te ^ a0);
                            tables.push(tg);
                            tables.push(te);
                            w[out + k] = wg ^ we;
                        }
                        and_idx += 1;
                    }
                }
            }
            for k in 0..kk {
                for &wire in circuit.outputs() {
                    outputs.push(w[wire as usize * LANES + k]);
                }
            }
        }
        self.counter += (n * ands) as u64;
        Ok(Garbled { tables, outputs })
    }
}

/// The evaluator's state: the tweak counter (kept in step with the
/// garbler's) and reusable buffers.
pub struct Evaluator {
    aes: FixedKeyAes,
    counter: u64,
    wires: Vec<u128>,
    hashes: Vec<u128>,
    tweaks: Vec<u128>,
    scratch: Vec<u128>,
}

impl Default for Evaluator {
    fn default() -> Self {
        Self::new()
    }
}

impl Evaluator {
    /// A fresh evaluator (counter 0, matching a fresh [`Garbler`]).
    pub fn new() -> Self {
        Evaluator {
            aes: FixedKeyAes::default(),
            counter: 0,
            wires: Vec::new(),
            hashes: Vec::new(),
            tweaks: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// Evaluate `circuit` for `n` instances on active input labels `inputs`
    /// (`n × n_inputs`) with the garbler's `tables`; returns the active
    /// output labels (`n × n_outputs`). Lengths come from the peer and are
    /// checked.
    pub fn evaluate(
        &mut self,
        circuit: &Circuit,
        tables: &[u128],
        inputs: &[u128],
        n: usize,
    ) -> Result<Vec<u128>, YaoError> {
        let n_in = circuit.n_inputs();
        let ands = circuit.and_count() as usize;
        if inputs.len() != n * n_in {
            return Err(YaoError::Length {
                what: "evaluator input labels",
                expected: n * n_in,
                got: inputs.len(),
            });
        }
        if tables.len() != 2 * ands * n {
            return Err(YaoError::Length {
                what: "garbled tables",
                expected: 2 * ands * n,
                got: tables.len(),
            });
        }
        let mut outputs = Vec::with_capacity(n * circuit.n_outputs());
        self.wires.clear();
        self.wires.resize(circuit.n_wires() * LANES, 0);
        let mut t_pos = 0usize;
        for start in (0..n).step_by(LANES) {
            let kk = (n - start).min(LANES);
            let w = &mut self.wires;
            for k in 0..kk {
                for i in 0..n_in {
                    w[i * LANES + k] = inputs[(start + k) * n_in + i];
                }
            }
            let mut and_idx = 0u64;
            for (g, gate) in circuit.gates().iter().enumerate() {
                let out = (n_in + g) * LANES;
                match *gate {
                    Gate::Xor(a, b) => {
                        let (a, b) = (a as usize * LANES, b as usize * LANES);
                        for k in 0..kk {
                            w[out + k] = w[a + k] ^ w[b + k];
                        }
                    }
                    Gate::Not(a) => {
                        let a = a as usize * LANES;
                        w.copy_within(a..a + kk, out);
                    }
                    Gate::Const(_) => w[out..out + kk].fill(0),
                    Gate::And(a, b) => {
                        let (a, b) = (a as usize * LANES, b as usize * LANES);
                        self.hashes.clear();
                        self.tweaks.clear();
                        for k in 0..kk {
                            let id = self.counter + (start + k) as u64 * ands as u64 + and_idx;
                            let j = 2 * id as u128;
                            self.hashes.extend_from_slice(&[w[a + k], w[b + k]]);
                            self.tweaks.extend_from_slice(&[j, j + 1]);
                        }
                        self.aes
                            .tccr(&mut self.hashes, &self.tweaks, &mut self.scratch);
                        for k in 0..kk {
                            let (la, lb) = (w[a + k], w[b + k]);
                            let (tg, te) = (tables[t_pos], tables[t_pos + 1]);
                            t_pos += 2;
                            let wg = self.hashes[2 * k] ^ select(la & 1, tg);
                            let we = self.hashes[2 * k + 1] ^ select(lb & 1, te ^ la);
                            w[out + k] = wg ^ we;
                        }
                        and_idx += 1;
                    }
                }
            }
            for k in 0..kk {
                for &wire in circuit.outputs() {
                    outputs.push(w[wire as usize * LANES + k]);
                }
            }
        }
        self.counter += (n * ands) as u64;
        Ok(outputs)
    }
}

/// The zero-labels are the garbler's secret: `Debug` shows sizes only.
impl std::fmt::Debug for Garbled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Garbled({} table rows, {} output labels)",
            self.tables.len(),
            self.outputs.len()
        )
    }
}
