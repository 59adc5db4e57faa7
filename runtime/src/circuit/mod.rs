//! The boolean circuit library shared by GMW (B) and Yao (Y).
//!
//! One description per circuit, many interpreters, as in swanky's
//! fancy-garbling: a [`Circuit`] is a topologically ordered list of XOR, AND,
//! NOT and constant gates over wires, built once by a [`Builder`] and then run
//! in plaintext ([`Circuit::eval_plain`]), by GMW ([`crate::gmw`]), by the Yao
//! garbler and evaluator ([`crate::yao`]), or simply counted: its
//! [`Circuit::and_count`] and [`Circuit::and_depth`] are data that the cost
//! model reads, so the compiler's estimate and the runtime cannot disagree.
//!
//! Circuits take and return 64-bit two's-complement words (bit 0 = least
//! significant bit). Input word `k`, bit `i` is wire `64 k + i`; gate `g`
//! drives wire `n_inputs + g`. Every interpreter runs a circuit on a whole
//! tensor at once (one instance per element), never one element at a time
//! over the network.

mod bitslice;
mod builder;
mod cost;
pub mod library;
mod words;

pub use bitslice::{from_bitsliced, to_bitsliced, transpose64};
pub use builder::{Bit, Builder, Word};
pub use cost::{dealer_bytes, OpCost, FRAME_HEADER};

/// Number of bits in a ring word.
pub const WORD_BITS: usize = 64;

/// One gate; its output is the wire numbered `n_inputs + index`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Gate {
    /// `a ⊕ b` (free in GMW and, with free-XOR, in Yao).
    Xor(u32, u32),
    /// `a ∧ b` (one triple in GMW, two ciphertexts in Yao).
    And(u32, u32),
    /// `¬a` (free).
    Not(u32),
    /// A public constant (only produced for constant outputs).
    Const(bool),
}

/// Which adder family a circuit is built with.
///
/// GMW pays one round per AND level, so it wants log depth; Yao pays per AND
/// gate and nothing per level, so it wants the fewest ANDs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Style {
    /// Ripple-carry: 63–64 ANDs per add or compare, depth 63–64 (for Yao).
    Size,
    /// Sklansky parallel-prefix: depth 7, about 5× the ANDs (for GMW).
    Depth,
}

/// A boolean circuit over 64-bit words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Circuit {
    pub(crate) name: String,
    pub(crate) in_words: usize,
    pub(crate) out_words: usize,
    pub(crate) gates: Vec<Gate>,
    pub(crate) outputs: Vec<u32>,
    pub(crate) and_count: u64,
    pub(crate) and_depth: u32,
    /// AND level of every wire (inputs and NOT/XOR inherit their inputs' max).
    pub(crate) levels: Vec<u32>,
}

/// The numbers of a circuit that the cost model needs, per instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct CircuitStats {
    /// Input words per instance.
    pub in_words: usize,
    /// Output words per instance.
    pub out_words: usize,
    /// AND gates per instance.
    pub and_count: u64,
    /// Longest chain of AND gates from an input to an output.
    pub and_depth: u32,
}

impl Circuit {
    /// A short name, for reports and errors.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Input words per instance.
    pub fn in_words(&self) -> usize {
        self.in_words
    }

    /// Output words per instance.
    pub fn out_words(&self) -> usize {
        self.out_words
    }

    /// Input wires per instance (`64 * in_words`).
    pub fn n_inputs(&self) -> usize {
        self.in_words * WORD_BITS
    }

    /// Output wires per instance (`64 * out_words`).
    pub fn n_outputs(&self) -> usize {
        self.outputs.len()
    }

    /// Total wires (inputs plus one per gate).
    pub fn n_wires(&self) -> usize {
        self.n_inputs() + self.gates.len()
    }

    /// The gates in evaluation order.
    pub fn gates(&self) -> &[Gate] {
        &self.gates
    }

    /// The wires read as outputs, word by word, LSB first.
    pub fn outputs(&self) -> &[u32] {
        &self.outputs
    }

    /// AND gates per instance: GMW triples, Yao ciphertext pairs.
    pub fn and_count(&self) -> u64 {
        self.and_count
    }

    /// AND depth: GMW rounds for one evaluation of the whole tensor.
    pub fn and_depth(&self) -> u32 {
        self.and_depth
    }

    /// The counter interpreter: everything the cost model needs.
    pub fn stats(&self) -> CircuitStats {
        CircuitStats {
            in_words: self.in_words,
            out_words: self.out_words,
            and_count: self.and_count,
            and_depth: self.and_depth,
        }
    }

    /// AND level of each wire (0 for inputs; an AND is one more than its inputs).
    pub fn wire_levels(&self) -> &[u32] {
        &self.levels
    }

    /// Plaintext interpreter, the reference: `inputs` holds `n` instances of
    /// `in_words` words (instance-major), the result `n` instances of
    /// `out_words` words.
    ///
    /// # Panics
    /// If `inputs.len()` is not a multiple of `in_words` (a caller bug, not
    /// outside data).
    pub fn eval_plain(&self, inputs: &[u64]) -> Vec<u64> {
        assert!(self.in_words > 0 && inputs.len() % self.in_words == 0);
        let n = inputs.len() / self.in_words;
        let words = n.div_ceil(64);
        let sliced = to_bitsliced(inputs, self.in_words);
        let mut wires = vec![0u64; self.n_wires() * words];
        wires[..sliced.len()].copy_from_slice(&sliced);
        let base = self.n_inputs();
        for (g, gate) in self.gates.iter().enumerate() {
            let out = (base + g) * words;
            for w in 0..words {
                wires[out + w] = match *gate {
                    Gate::Xor(a, b) => {
                        wires[a as usize * words + w] ^ wires[b as usize * words + w]
                    }
                    Gate::And(a, b) => {
                        wires[a as usize * words + w] & wires[b as usize * words + w]
                    }
                    Gate::Not(a) => !wires[a as usize * words + w],
                    Gate::Const(v) => {
                        if v {
                            u64::MAX
                        } else {
                            0
                        }
                    }
                };
            }
        }
        let mut out = vec![0u64; self.outputs.len() * words];
        for (o, &wire) in self.outputs.iter().enumerate() {
            out[o * words..(o + 1) * words]
                .copy_from_slice(&wires[wire as usize * words..(wire as usize + 1) * words]);
        }
        from_bitsliced(&out, self.out_words, n)
    }
}

#[cfg(test)]
mod tests;
