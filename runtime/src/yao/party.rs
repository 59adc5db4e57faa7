//! The two Yao parties over a channel: Y-shared tensors, running a library
//! circuit on them, and revealing them to the client.
//!
//! Every input-independent message (tables, decoding bits, OT corrections,
//! mask labels) is queued by the server's `prepare_*` calls and sent in one
//! ahead-of-query flight, before the query exists; the client receives
//! those frames and its operations consume them in order. The online
//! messages (A2Y, B2Y) follow. Costs count the two apart
//! ([`crate::circuit::OpCost::ahead_of_query_bytes`]).

use super::{colour_bits, decode, Evaluator, Garbler};
use crate::circuit::Circuit;
use crate::convert::BooleanError;
use crate::prg::Prg;
use crate::transport::{Channel, Frame, FrameKind, TransportError};
use std::collections::VecDeque;

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

/// An input-independent message queued by the server for the ahead-of-query
/// flight.
pub(crate) enum Ahead {
    Labels(Vec<u128>),
    Words(Vec<u64>),
}

/// The server's Yao state: the garbler (`Δ`, tweak counter), the PRG for
/// labels and masks, and the queue of ahead-of-query messages.
///
/// Two ways to use it: one-shot (each operation sends its ahead messages
/// and runs online at once: [`YaoServer::eval`], [`crate::convert::a2y_server`],
/// …), or in two phases — every `prepare_*` call garbles and queues, one
/// [`YaoServer::send_ahead`] sends the whole queue before the query, and
/// the `online_*` calls (A2Y, B2Y) then carry only input-dependent traffic.
pub struct YaoServer {
    pub(crate) garbler: Garbler,
    pub(crate) rng: Prg,
    pub(crate) ahead: Vec<Ahead>,
}

impl YaoServer {
    /// A server garbling with a fresh `Δ` from `rng`.
    pub fn new(mut rng: Prg) -> Self {
        YaoServer {
            garbler: Garbler::new(&mut rng),
            rng,
            ahead: Vec::new(),
        }
    }

    /// Garble `circuit` on a Y-shared input (`in_words` words per element)
    /// and queue its tables; returns the output share (zero-labels).
    pub fn prepare_eval(
        &mut self,
        circuit: &Circuit,
        input: &YShare,
    ) -> Result<YShare, BooleanError> {
        let n = elements(circuit, input)?;
        let g = self.garbler.garble(circuit, &input.labels, n)?;
        self.ahead.push(Ahead::Labels(g.tables));
        Ok(YShare { labels: g.outputs })
    }

    /// Queue the decoding bits that reveal `y` to the client.
    pub fn prepare_reveal(&mut self, y: &YShare) {
        self.ahead.push(Ahead::Words(colour_bits(&y.labels)));
    }

    /// Frames queued for the ahead-of-query flight.
    pub fn pending_ahead_frames(&self) -> usize {
        self.ahead.len()
    }

    /// Send every queued ahead-of-query message (one frame each, in order).
    pub fn send_ahead<C: Channel + ?Sized>(&mut self, ch: &mut C) -> Result<(), BooleanError> {
        for m in self.ahead.drain(..) {
            match m {
                Ahead::Labels(l) => ch.send_u128s(&l)?,
                Ahead::Words(w) => ch.send_u64s(&w)?,
            }
        }
        ch.flush()?;
        Ok(())
    }

    /// One-shot: garble `circuit` on `input` and send the tables now.
    pub fn eval<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        circuit: &Circuit,
        input: &YShare,
    ) -> Result<YShare, BooleanError> {
        let out = self.prepare_eval(circuit, input)?;
        self.send_ahead(ch)?;
        Ok(out)
    }

    /// One-shot: reveal `y` to the client (send the decoding bits now).
    pub fn reveal<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        y: &YShare,
    ) -> Result<(), BooleanError> {
        self.prepare_reveal(y);
        self.send_ahead(ch)
    }
}

/// The client's Yao state: the evaluator (tweak counter in step with the
/// server's garbler) and the ahead-of-query frames received so far, which
/// the operations consume in the order the server prepared them.
#[derive(Default)]
pub struct YaoClient {
    pub(crate) evaluator: Evaluator,
    pub(crate) ahead: VecDeque<Frame>,
}

impl YaoClient {
    /// A fresh client, matching a fresh [`YaoServer`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Receive `frames` ahead-of-query frames (the sum of the operations'
    /// `ahead_of_query_messages` in [`crate::convert::cost()`]).
    pub fn receive_ahead<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        frames: usize,
    ) -> Result<(), BooleanError> {
        for _ in 0..frames {
            self.ahead.push_back(ch.recv_frame()?);
        }
        Ok(())
    }

    pub(crate) fn pop_labels(&mut self, n: usize, what: &str) -> Result<Vec<u128>, BooleanError> {
        let f = self.pop(FrameKind::U128s, 16 * n, what)?;
        let mut out = vec![0u128; n];
        bytemuck::cast_slice_mut::<u128, u8>(&mut out).copy_from_slice(&f.payload);
        Ok(out)
    }

    pub(crate) fn pop_words(&mut self, n: usize, what: &str) -> Result<Vec<u64>, BooleanError> {
        let f = self.pop(FrameKind::U64s, 8 * n, what)?;
        let mut out = vec![0u64; n];
        bytemuck::cast_slice_mut::<u64, u8>(&mut out).copy_from_slice(&f.payload);
        Ok(out)
    }

    fn pop(&mut self, kind: FrameKind, bytes: usize, what: &str) -> Result<Frame, BooleanError> {
        let f = self.ahead.pop_front().ok_or_else(|| {
            BooleanError::Transport(TransportError::PeerMisbehaved(format!(
                "{what}: no ahead-of-query frame left"
            )))
        })?;
        if f.kind != kind || f.payload.len() != bytes {
            return Err(BooleanError::Transport(TransportError::PeerMisbehaved(
                format!(
                    "{what}: expected a {} frame of {bytes} bytes, received a {} frame of {} bytes",
                    kind.name(),
                    f.kind.name(),
                    f.payload.len()
                ),
            )));
        }
        Ok(f)
    }

    /// Evaluate `circuit` on `input` with the next received tables (local).
    pub fn eval_prepared(
        &mut self,
        circuit: &Circuit,
        input: &YShare,
    ) -> Result<YShare, BooleanError> {
        let n = elements(circuit, input)?;
        let tables = self.pop_labels(2 * circuit.and_count() as usize * n, "garbled tables")?;
        let labels = self
            .evaluator
            .evaluate(circuit, &tables, &input.labels, n)?;
        Ok(YShare { labels })
    }

    /// Decode `y` with the next received decoding bits (local).
    pub fn reveal_prepared(&mut self, y: &YShare) -> Result<Vec<u64>, BooleanError> {
        let bits = self.pop_words(y.words(), "decoding bits")?;
        Ok(decode(&y.labels, &bits)?)
    }

    /// One-shot counterpart of [`YaoServer::eval`].
    pub fn eval<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        circuit: &Circuit,
        input: &YShare,
    ) -> Result<YShare, BooleanError> {
        self.receive_ahead(ch, 1)?;
        self.eval_prepared(circuit, input)
    }

    /// One-shot counterpart of [`YaoServer::reveal`]: the values.
    pub fn reveal<C: Channel + ?Sized>(
        &mut self,
        ch: &mut C,
        y: &YShare,
    ) -> Result<Vec<u64>, BooleanError> {
        self.receive_ahead(ch, 1)?;
        self.reveal_prepared(y)
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
