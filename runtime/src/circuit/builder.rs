//! The circuit builder: gates over [`Bit`]s with constant folding, and dead
//! gate elimination when the circuit is finished.
//!
//! Folding matters for the cost model: comparing with a public constant, or
//! muxing public indices in argmax, must not pay for ANDs whose result is
//! known, and a composite circuit must not count gates whose outputs nobody
//! reads. The counts a finished [`Circuit`] reports are therefore exact.

use super::{Circuit, Gate, WORD_BITS};

/// A bit while building: a public constant or a wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Bit {
    /// A constant known to everyone.
    Const(bool),
    /// A wire of the circuit under construction.
    Wire(u32),
}

/// A 64-bit word, bit 0 = least significant.
pub type Word = [Bit; WORD_BITS];

/// Builds a [`Circuit`]; see the module documentation.
#[derive(Debug)]
pub struct Builder {
    in_words: usize,
    gates: Vec<Gate>,
}

impl Builder {
    /// A builder for a circuit with `in_words` input words per instance.
    pub fn new(in_words: usize) -> Self {
        Builder {
            in_words,
            gates: Vec::new(),
        }
    }

    /// Input word `k` (wires `64 k .. 64 k + 63`).
    pub fn input(&self, k: usize) -> Word {
        assert!(k < self.in_words, "input word {k} of {}", self.in_words);
        std::array::from_fn(|i| Bit::Wire((k * WORD_BITS + i) as u32))
    }

    /// A public constant word.
    pub fn constant(value: u64) -> Word {
        std::array::from_fn(|i| Bit::Const((value >> i) & 1 == 1))
    }

    fn push_raw(&mut self, gate: Gate) -> u32 {
        let wire = (self.in_words * WORD_BITS + self.gates.len()) as u32;
        self.gates.push(gate);
        wire
    }

    fn push(&mut self, gate: Gate) -> Bit {
        Bit::Wire(self.push_raw(gate))
    }

    /// `a ⊕ b`.
    pub fn xor(&mut self, a: Bit, b: Bit) -> Bit {
        match (a, b) {
            (Bit::Const(x), Bit::Const(y)) => Bit::Const(x ^ y),
            (Bit::Const(false), w) | (w, Bit::Const(false)) => w,
            (Bit::Const(true), w) | (w, Bit::Const(true)) => self.not(w),
            (Bit::Wire(x), Bit::Wire(y)) if x == y => Bit::Const(false),
            (Bit::Wire(x), Bit::Wire(y)) => self.push(Gate::Xor(x, y)),
        }
    }

    /// `a ∧ b`.
    pub fn and(&mut self, a: Bit, b: Bit) -> Bit {
        match (a, b) {
            (Bit::Const(x), Bit::Const(y)) => Bit::Const(x & y),
            (Bit::Const(false), _) | (_, Bit::Const(false)) => Bit::Const(false),
            (Bit::Const(true), w) | (w, Bit::Const(true)) => w,
            (Bit::Wire(x), Bit::Wire(y)) if x == y => a,
            (Bit::Wire(x), Bit::Wire(y)) => self.push(Gate::And(x, y)),
        }
    }

    /// `¬a`.
    pub fn not(&mut self, a: Bit) -> Bit {
        match a {
            Bit::Const(x) => Bit::Const(!x),
            Bit::Wire(x) => {
                let base = (self.in_words * WORD_BITS) as u32;
                if x >= base {
                    if let Gate::Not(inner) = self.gates[(x - base) as usize] {
                        return Bit::Wire(inner);
                    }
                }
                self.push(Gate::Not(x))
            }
        }
    }

    /// `a ∨ b = a ⊕ b ⊕ (a ∧ b)` (one AND).
    pub fn or(&mut self, a: Bit, b: Bit) -> Bit {
        let x = self.xor(a, b);
        let y = self.and(a, b);
        self.xor(x, y)
    }

    /// `if s { b } else { a }` as `a ⊕ (s ∧ (a ⊕ b))` (one AND).
    pub fn mux(&mut self, s: Bit, a: Bit, b: Bit) -> Bit {
        let d = self.xor(a, b);
        let t = self.and(s, d);
        self.xor(a, t)
    }

    /// Bitwise mux of two words on one select bit (64 ANDs at most).
    pub fn mux_word(&mut self, s: Bit, a: &Word, b: &Word) -> Word {
        let mut out = *a;
        for i in 0..WORD_BITS {
            out[i] = self.mux(s, a[i], b[i]);
        }
        out
    }

    /// Finish with the given output words: constants become gates, gates
    /// that no output depends on are removed, wires renumbered, and the AND
    /// count and AND depth computed.
    pub fn finish(mut self, name: &str, outputs: &[Word]) -> Circuit {
        let mut out_wires = Vec::with_capacity(outputs.len() * WORD_BITS);
        for word in outputs {
            for &bit in word {
                let wire = match bit {
                    Bit::Wire(w) => w,
                    Bit::Const(v) => self.push_raw(Gate::Const(v)),
                };
                out_wires.push(wire);
            }
        }
        let n_in = self.in_words * WORD_BITS;
        // Liveness, backwards from the outputs.
        let mut live = vec![false; n_in + self.gates.len()];
        for &w in &out_wires {
            live[w as usize] = true;
        }
        for g in (0..self.gates.len()).rev() {
            if !live[n_in + g] {
                continue;
            }
            match self.gates[g] {
                Gate::Xor(a, b) | Gate::And(a, b) => {
                    live[a as usize] = true;
                    live[b as usize] = true;
                }
                Gate::Not(a) => live[a as usize] = true,
                Gate::Const(_) => {}
            }
        }
        // Renumber the surviving gates.
        let mut map: Vec<u32> = (0..(n_in + self.gates.len()) as u32).collect();
        let mut gates = Vec::new();
        let mut levels = vec![0u32; n_in];
        let mut and_count = 0u64;
        for g in 0..self.gates.len() {
            if !live[n_in + g] {
                continue;
            }
            let m = |w: u32| map[w as usize];
            let (gate, level) = match self.gates[g] {
                Gate::Xor(a, b) => (
                    Gate::Xor(m(a), m(b)),
                    levels[m(a) as usize].max(levels[m(b) as usize]),
                ),
                Gate::And(a, b) => {
                    and_count += 1;
                    (
                        Gate::And(m(a), m(b)),
                        levels[m(a) as usize].max(levels[m(b) as usize]) + 1,
                    )
                }
                Gate::Not(a) => (Gate::Not(m(a)), levels[m(a) as usize]),
                Gate::Const(v) => (Gate::Const(v), 0),
            };
            map[n_in + g] = (n_in + gates.len()) as u32;
            gates.push(gate);
            levels.push(level);
        }
        let outputs: Vec<u32> = out_wires.iter().map(|&w| map[w as usize]).collect();
        let and_depth = outputs
            .iter()
            .map(|&w| levels[w as usize])
            .max()
            .unwrap_or(0);
        Circuit {
            name: name.to_string(),
            in_words: self.in_words,
            out_words: outputs.len() / WORD_BITS,
            gates,
            outputs,
            and_count,
            and_depth,
            levels,
        }
    }
}
