//! The two Yao parties over a channel: Y-shared tensors, running a library
//! circuit on them, and revealing them to the client.
//!
//! Message order is fixed so both sides agree: every input-independent
//! message (tables, decoding bits, OT corrections, mask labels) is sent by
//! the server first and counted as ahead-of-query traffic in the cost
//! functions; the online messages follow.

use super::{colour_bits, decode, Evaluator, Garbler};
use crate::circuit::Circuit;
use crate::convert::BooleanError;
use crate::prg::Prg;
use crate::transport::Channel;

/// One party's view of a Y-shared tensor of words: 64 labels per word (bit
/// 0 first). The server holds zero-labels, the client active labels.
#[derive(Clone, PartialEq, Eq)]
pub struct YShare {
    labels: Vec<u128>,
}

impl std::fmt::Debug for YShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "YShare({} words, <labels>)", self.words())
    }
}

impl YShare {
    /// Wrap labels (`64 × words`).
    pub fn from_labels(labels: Vec<u128>) -> Result<Self, BooleanError> {
        if labels.len() % 64 != 0 {
            return Err(BooleanError::Shape(format!(
                "a Y share needs 64 labels per word, got {}",
                labels.len()
            )));
        }
        Ok(YShare { labels })
    }

    /// The labels.
    pub fn labels(&self) -> &[u128] {
        &self.labels
    }

    /// Number of words.
    pub fn words(&self) -> usize {
        self.labels.len() / 64
    }

    /// A new share made of the words at `indices` (for windows of maxpool,
    /// or interleaving the operands of a binary circuit). Free: labels are
    /// only copied.
    pub fn gather(&self, indices: &[usize]) -> Result<YShare, BooleanError> {
        let mut labels = Vec::with_capacity(indices.len() * 64);
        for &i in indices {
            if i >= self.words() {
                return Err(BooleanError::Shape(format!(
                    "word {i} of a {}-word Y share",
                    self.words()
                )));
            }
            labels.extend_from_slice(&self.labels[i * 64..(i + 1) * 64]);
        }
        Ok(YShare { labels })
    }

    /// Interleave equally long shares element by element: element `e` of
    /// the result is `[a_e, b_e, …]` (the input layout of a multi-word
    /// circuit).
    pub fn interleave(parts: &[&YShare]) -> Result<YShare, BooleanError> {
        let n = parts.first().map_or(0, |p| p.words());
        if parts.iter().any(|p| p.words() != n) {
            return Err(BooleanError::Shape(
                "interleaving Y shares of different lengths".into(),
            ));
        }
        let mut labels = Vec::with_capacity(n * 64 * parts.len());
        for e in 0..n {
            for p in parts {
                labels.extend_from_slice(&p.labels[e * 64..(e + 1) * 64]);
            }
        }
        Ok(YShare { labels })
    }
}

/// The server's Yao state: the garbler (`Δ`, tweak counter) and the PRG
/// for labels and masks.
pub struct YaoServer {
    pub(crate) garbler: Garbler,
    pub(crate) rng: Prg,
}

impl YaoServer {
    /// A server garbling with a fresh `Δ` from `rng`.
    pub fn new(mut rng: Prg) -> Self {
        YaoServer {
            garbler: Garbler::new(&mut rng),
            rng,
        }
    }

    /// Run `circuit` on a Y-shared input (`in_words` words per element):
    /// garble and send the tables (ahead-of-query traffic; no online cost).
    pub fn eval<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        circuit: &Circuit,
        input: &YShare,
    ) -> Result<YShare, BooleanError> {
        let n = elements(circuit, input)?;
        let g = self.garbler.garble(circuit, &input.labels, n)?;
        ch.send_u128s(&g.tables)?;
        ch.flush()?;
        Ok(YShare { labels: g.outputs })
    }

    /// Reveal a Y-shared tensor to the client: send the decoding bits.
    pub fn reveal<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        y: &YShare,
    ) -> Result<(), BooleanError> {
        ch.send_u64s(&colour_bits(&y.labels))?;
        ch.flush()?;
        Ok(())
    }
}

/// The client's Yao state: the evaluator (tweak counter in step with the
/// server's garbler).
#[derive(Default)]
pub struct YaoClient {
    pub(crate) evaluator: Evaluator,
}

impl YaoClient {
    /// A fresh client, matching a fresh [`YaoServer`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Counterpart of [`YaoServer::eval`]: receive the tables and evaluate.
    pub fn eval<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        circuit: &Circuit,
        input: &YShare,
    ) -> Result<YShare, BooleanError> {
        let n = elements(circuit, input)?;
        let tables = ch.recv_u128s(2 * circuit.and_count() as usize * n)?;
        let labels = self
            .evaluator
            .evaluate(circuit, &tables, &input.labels, n)?;
        Ok(YShare { labels })
    }

    /// Counterpart of [`YaoServer::reveal`]: the values.
    pub fn reveal<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        y: &YShare,
    ) -> Result<Vec<u64>, BooleanError> {
        let bits = ch.recv_u64s(y.words())?;
        Ok(decode(&y.labels, &bits)?)
    }
}

/// Elements of `input` for `circuit`, checking the word count.
pub(crate) fn elements(circuit: &Circuit, input: &YShare) -> Result<usize, BooleanError> {
    let iw = circuit.in_words();
    if input.words() % iw != 0 {
        return Err(BooleanError::Shape(format!(
            "{} takes {iw} words per element, got {} words",
            circuit.name(),
            input.words()
        )));
    }
    Ok(input.words() / iw)
}
