//! Getting values into and out of garbled circuits: garbler inputs, the
//! evaluator's inputs by derandomized dealer random OTs, and decoding.
//!
//! A value is a tensor of 64-bit words; word `e` has labels `64 e .. 64 e +
//! 63` (bit 0 first), and the packed bits of label `i` are bit `i % 64` of
//! word `i / 64`, so a tensor's words *are* its packed bits.
//!
//! **Evaluator inputs** (no public-key OT online). The dealer gave the
//! garbler random pairs `(m⁰, m¹)` and the evaluator a random choice `c` and
//! `m^c`. Ahead of the query, the garbler sends `D = m⁰ ⊕ m¹ ⊕ Δ`; the
//! evaluator keeps `K = m^c ⊕ c·D = m⁰ ⊕ c·Δ` (the random OT becomes a
//! Δ-correlated one; `D` hides `Δ` because `m^{1−c}` is uniform and unknown
//! to the evaluator). Online, for a wire with zero-label `Z` that must carry
//! `b = b_E ⊕ b_G` (evaluator's bit `b_E`, garbler's optional bit `b_G`):
//! the evaluator sends `e = b_E ⊕ c` (uniform, so it hides `b_E`), the
//! garbler answers `y = Z ⊕ m⁰ ⊕ (e ⊕ b_G)·Δ`, and the evaluator takes
//! `y ⊕ K = Z ⊕ (e ⊕ b_G ⊕ c)·Δ = Z ⊕ b·Δ`. One bit up and one label down
//! per input bit online; one label per bit ahead of the query. With
//! `b_G` this is also B2Y (XOR of both parties' shares) at the same price.
//!
//! **Garbler inputs**: the garbler sends `Z ⊕ x·Δ` (one label per bit).
//!
//! **Outputs**: the colour bit `lsb(Z)` of each output zero-label is the
//! decoding bit; `x = lsb(L) ⊕ lsb(Z)`. Decoding bits are fixed when the
//! circuit is garbled, so they can travel ahead of the query; and they are
//! exactly the garbler's XOR share of the output in Y2B.

use super::garble::Garbler;
use super::YaoError;

/// Packed colour bits of labels: bit `i % 64` of word `i / 64` is `lsb(labels[i])`.
pub fn colour_bits(labels: &[u128]) -> Vec<u64> {
    labels
        .chunks(64)
        .map(|c| {
            c.iter()
                .enumerate()
                .fold(0u64, |acc, (i, &l)| acc | (((l & 1) as u64) << i))
        })
        .collect()
}

/// Decode active output labels with the garbler's decoding bits.
pub fn decode(labels: &[u128], decoding: &[u64]) -> Result<Vec<u64>, YaoError> {
    let bits = colour_bits(labels);
    if decoding.len() != bits.len() {
        return Err(YaoError::Length {
            what: "decoding bits",
            expected: bits.len(),
            got: decoding.len(),
        });
    }
    Ok(bits.iter().zip(decoding).map(|(a, b)| a ^ b).collect())
}

#[inline]
fn bit(words: &[u64], i: usize) -> u128 {
    ((words[i / 64] >> (i % 64)) & 1) as u128
}

impl Garbler {
    /// Active labels of the garbler's own values: `Z ⊕ x·Δ`, one word of
    /// `values` per 64 labels of `zero`.
    pub fn encode(&self, zero: &[u128], values: &[u64]) -> Result<Vec<u128>, YaoError> {
        if zero.len() != values.len() * 64 {
            return Err(YaoError::Length {
                what: "garbler values",
                expected: zero.len() / 64,
                got: values.len(),
            });
        }
        let d = self.delta();
        Ok(zero
            .iter()
            .enumerate()
            .map(|(i, &z)| z ^ (d & bit(values, i).wrapping_neg()))
            .collect())
    }

    /// Ahead of the query: `D = m⁰ ⊕ m¹ ⊕ Δ` for each dealer random OT.
    pub fn ot_corrections(&self, ots: &[[u128; 2]]) -> Vec<u128> {
        let d = self.delta();
        ots.iter().map(|m| m[0] ^ m[1] ^ d).collect()
    }

    /// Online answer to the evaluator's flips `e` for wires with zero-labels
    /// `zero`, using the OTs the corrections were made from: `y = Z ⊕ m⁰ ⊕
    /// (e ⊕ b_G)·Δ`, where `b_G` is the garbler's XOR share (B2Y) or absent.
    pub fn ot_respond(
        &self,
        zero: &[u128],
        ots: &[[u128; 2]],
        flips: &[u64],
        garbler_bits: Option<&[u64]>,
    ) -> Result<Vec<u128>, YaoError> {
        let n = zero.len();
        if ots.len() != n {
            return Err(YaoError::Length {
                what: "random OTs for evaluator inputs",
                expected: n,
                got: ots.len(),
            });
        }
        if flips.len() != n.div_ceil(64) {
            return Err(YaoError::Length {
                what: "evaluator flip bits",
                expected: n.div_ceil(64),
                got: flips.len(),
            });
        }
        if let Some(g) = garbler_bits {
            if g.len() != flips.len() {
                return Err(YaoError::Length {
                    what: "garbler share bits",
                    expected: flips.len(),
                    got: g.len(),
                });
            }
        }
        let d = self.delta();
        Ok((0..n)
            .map(|i| {
                let mut b = bit(flips, i);
                if let Some(g) = garbler_bits {
                    b ^= bit(g, i);
                }
                zero[i] ^ ots[i][0] ^ (d & b.wrapping_neg())
            })
            .collect())
    }
}

/// The evaluator's half of the input-label transfer.
#[derive(Clone)]
pub struct OtKeys {
    choices: Vec<u64>,
    keys: Vec<u128>,
}

impl OtKeys {
    /// From the dealer's random OT (`choices` packed, `msgs[i] = m^{c_i}`) and
    /// the garbler's corrections `D`: `K = m^c ⊕ c·D`.
    pub fn new(choices: &[u64], msgs: &[u128], corrections: &[u128]) -> Result<Self, YaoError> {
        let n = msgs.len();
        if corrections.len() != n || choices.len() != n.div_ceil(64) {
            return Err(YaoError::Length {
                what: "OT corrections",
                expected: n,
                got: corrections.len(),
            });
        }
        let keys = (0..n)
            .map(|i| msgs[i] ^ (corrections[i] & bit(choices, i).wrapping_neg()))
            .collect();
        Ok(OtKeys {
            choices: choices.to_vec(),
            keys,
        })
    }

    /// Number of input bits these keys cover.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The message to send: `e = b ⊕ c`, packed (one word per value word).
    pub fn flips(&self, values: &[u64]) -> Result<Vec<u64>, YaoError> {
        if values.len() != self.choices.len() {
            return Err(YaoError::Length {
                what: "evaluator values",
                expected: self.choices.len(),
                got: values.len(),
            });
        }
        Ok(values
            .iter()
            .zip(&self.choices)
            .map(|(v, c)| v ^ c)
            .collect())
    }

    /// Active labels from the garbler's answer: `L = y ⊕ K`.
    pub fn finish(&self, answer: &[u128]) -> Result<Vec<u128>, YaoError> {
        if answer.len() != self.keys.len() {
            return Err(YaoError::Length {
                what: "garbler OT answer",
                expected: self.keys.len(),
                got: answer.len(),
            });
        }
        Ok(answer.iter().zip(&self.keys).map(|(y, k)| y ^ k).collect())
    }
}

/// Choices and keys are secret: `Debug` shows the size only.
impl std::fmt::Debug for OtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OtKeys({} keys)", self.keys.len())
    }
}
