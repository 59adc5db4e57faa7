//! Leakage tests: what one party receives does not depend on the other
//! party's secret.
//!
//! netD with its trained weights runs in-process (both parties on threads
//! over the in-memory channel), with fresh dealer material and fresh OS
//! randomness in every run, and a tap records the exact bytes (frame headers
//! and payloads) each party receives. For two secrets A and B and `RUNS`
//! runs each, every byte position of the transcript gets two two-sample
//! chi-square homogeneity tests, on the byte's top two bits and on its
//! bottom two bits (4 bins, 3 degrees of freedom each): `X² = Σ_bins (a − b)² / (a + b)` for the counts
//! `a`, `b` of the two samples (equal sizes). Under the null hypothesis
//! (same distribution) `X²` is asymptotically χ²(3); the threshold bounds
//! P(χ²(3) > t) by the χ²(4) tail `e^{−t/2}(1 + t/2)` and sets it to
//! `FAMILY_ALPHA / tests` (Bonferroni over all positions and both tests),
//! so the chance that *any* test raises a false alarm is at most
//! `FAMILY_ALPHA` = 1e-9.
//!
//! * the **server** for one weight set and two client inputs (MNIST digits
//!   7 and 2);
//! * the **client** for one input and two weight sets (trained and seeded
//!   random, different labels), excluding the frames that open the revealed
//!   output to it (none for netD, whose label is opened in Y by decoding
//!   bits sent ahead of the query, uniformly random on their own);
//! * a **positive control** in each direction: the same test on the
//!   server's transcripts with the raw input appended, and on the client's
//!   with raw weights appended (deliberately leaky protocols), must fire,
//!   so each test can fail.

mod common;

use chimera_runtime::cost::{demand, plan_cost};
use chimera_runtime::dealer::{SessionId, TrustedDealer};
use chimera_runtime::exec::{run_client, run_server};
use chimera_runtime::plan::Plan;
use chimera_runtime::tensor_io::{load_npy, Batch};
use chimera_runtime::transport::{
    memory_pair, Channel, ChannelStats, Frame, FrameKind, TransportError,
};
use chimera_runtime::weights::{self, BoundWeights};
use common::random::{random_weights, SplitMix64};

/// Runs per secret.
const RUNS: usize = 96;
/// Bound on the probability of any false alarm over all positions.
const FAMILY_ALPHA: f64 = 1e-9;

/// Records every frame received, as on the wire (5-byte header + payload).
struct Tap<C> {
    inner: C,
    frames: Vec<Vec<u8>>,
}

impl<C: Channel> Channel for Tap<C> {
    fn send_frame(&mut self, kind: FrameKind, payload: &[u8]) -> Result<(), TransportError> {
        self.inner.send_frame(kind, payload)
    }
    fn recv_frame(&mut self) -> Result<Frame, TransportError> {
        let frame = self.inner.recv_frame()?;
        let mut bytes = vec![frame.kind as u8];
        bytes.extend_from_slice(&(frame.payload.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&frame.payload);
        self.frames.push(bytes);
        Ok(frame)
    }
    fn flush(&mut self) -> Result<(), TransportError> {
        self.inner.flush()
    }
    fn stats(&self) -> ChannelStats {
        self.inner.stats()
    }
}

/// One private inference with fresh material; the frames received by
/// (server, client) and the client's label.
fn run_once(plan: &Plan, w: &BoundWeights, input: &[Batch]) -> (Vec<Vec<u8>>, Vec<Vec<u8>>, usize) {
    let hash = plan.hash().unwrap();
    let need = demand(plan, 1, 1).unwrap();
    let session = SessionId::random().unwrap();
    let (mut m0, mut m1) = TrustedDealer::pair(hash, session, None, &need).unwrap();
    let (c0, c1) = memory_pair();
    let mut s = Tap {
        inner: c0,
        frames: Vec::new(),
    };
    let mut c = Tap {
        inner: c1,
        frames: Vec::new(),
    };
    let label = std::thread::scope(|scope| {
        let server = scope.spawn(|| run_server(plan, w, &mut m0, &mut s, 1).unwrap());
        let client = run_client(plan, input, &mut m1, &mut c).unwrap();
        server.join().unwrap();
        client.outputs[0].label(0).unwrap()
    });
    (s.frames, c.frames, label)
}

fn digit(plan: &Plan, name: &str) -> Vec<Batch> {
    let info = plan.value(plan.inputs[0].value);
    vec![load_npy(&common::example(name))
        .unwrap()
        .into_batch(&info.name, &info.shape)
        .unwrap()]
}

/// The largest per-position statistic and where, over two samples of
/// equally long transcripts, and the number of tests made. Each byte is
/// tested twice: on its top two bits and on its bottom two bits (4 bins
/// each), so structure in either end of a byte (a high-order value, a
/// low-order parity) is seen.
fn max_chi_square(a: &[Vec<u8>], b: &[Vec<u8>]) -> (f64, usize, usize) {
    let len = a[0].len();
    assert!(
        a.iter().chain(b).all(|t| t.len() == len),
        "transcript lengths differ"
    );
    let mut worst = (0.0, 0);
    for bin in [
        |byte: u8| (byte >> 6) as usize,
        |byte: u8| (byte & 3) as usize,
    ] {
        let mut counts = vec![[[0u32; 4]; 2]; len];
        for (side, sample) in [a, b].iter().enumerate() {
            for t in sample.iter() {
                for (p, &byte) in t.iter().enumerate() {
                    counts[p][side][bin(byte)] += 1;
                }
            }
        }
        for (p, c) in counts.iter().enumerate() {
            let x2: f64 = (0..4)
                .filter(|&k| c[0][k] + c[1][k] > 0)
                .map(|k| {
                    let d = c[0][k] as f64 - c[1][k] as f64;
                    d * d / (c[0][k] + c[1][k]) as f64
                })
                .sum();
            if x2 > worst.0 {
                worst = (x2, p);
            }
        }
    }
    (worst.0, worst.1, 2 * len)
}

/// The threshold `t` with `e^{−t/2}(1 + t/2) = FAMILY_ALPHA / tests`.
fn threshold(tests: usize) -> f64 {
    let alpha = FAMILY_ALPHA / tests as f64;
    let tail = |t: f64| (-t / 2.0).exp() * (1.0 + t / 2.0);
    let (mut lo, mut hi) = (0.0f64, 1000.0f64);
    for _ in 0..200 {
        let mid = (lo + hi) / 2.0;
        if tail(mid) > alpha {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
}

fn concat(frames: &[Vec<u8>]) -> Vec<u8> {
    frames.concat()
}

#[test]
fn the_server_transcript_does_not_depend_on_the_client_input_and_the_test_can_fail() {
    let plan = common::compile_example("netD_chameleon").plan;
    let w = weights::load(&plan, &common::example("netD_chameleon.safetensors")).unwrap();
    let (x_a, x_b) = (
        digit(&plan, "inputs/mnist_0.npy"),
        digit(&plan, "inputs/mnist_1.npy"),
    );
    let mut a = Vec::new();
    let mut b = Vec::new();
    for _ in 0..RUNS {
        let (server, _, label) = run_once(&plan, &w, &x_a);
        assert_eq!(label, 7);
        a.push(concat(&server));
        let (server, _, label) = run_once(&plan, &w, &x_b);
        assert_eq!(label, 2);
        b.push(concat(&server));
    }
    let (x2, at, tests) = max_chi_square(&a, &b);
    let t = threshold(tests);
    let len = a[0].len();
    eprintln!(
        "server transcript: {len} bytes × {RUNS} runs per input; max X² = {x2:.2} at byte {at}; threshold {t:.2}"
    );
    assert!(
        x2 < t,
        "the server's transcript depends on the client's input at byte {at}: X² = {x2:.2} ≥ {t:.2}"
    );

    // Positive control: append the raw input (as its fixed-point ring
    // elements) to each transcript, as a leaky protocol would send it.
    let raw = |x: &[Batch]| -> Vec<u8> {
        x[0].data
            .iter()
            .flat_map(|v| ((v * 65536.0).round() as i64).to_le_bytes())
            .collect()
    };
    let leak = |sample: &[Vec<u8>], x: &[Batch]| -> Vec<Vec<u8>> {
        sample
            .iter()
            .map(|t| [t.clone(), raw(x)].concat())
            .collect()
    };
    let (x2, at, tests) = max_chi_square(&leak(&a, &x_a), &leak(&b, &x_b));
    let t = threshold(tests);
    eprintln!(
        "positive control (raw input appended): max X² = {x2:.2} at byte {at}; threshold {t:.2}"
    );
    assert!(
        x2 >= t,
        "the test failed to see a raw input in the transcript"
    );
}

#[test]
fn the_client_transcript_does_not_depend_on_the_weights_and_the_test_can_fail() {
    let plan = common::compile_example("netD_chameleon").plan;
    let trained = weights::load(&plan, &common::example("netD_chameleon.safetensors")).unwrap();
    let random = weights::bind(&plan, &random_weights(&plan, &mut SplitMix64(2))).unwrap();
    let x = digit(&plan, "inputs/mnist_0.npy");
    // Frames that open an output shared in A or B to the client (the
    // server's share) come last and are left out. netD opens its label in
    // Y: the server's decoding bits travel ahead of the query and are
    // uniformly random on their own, so there the whole transcript is tested.
    let reveal: usize = plan_cost(&plan, 1)
        .unwrap()
        .outputs
        .iter()
        .map(|c| c.messages_server_to_client as usize)
        .sum();
    let mut a = Vec::new();
    let mut b = Vec::new();
    let mut labels = [0; 2];
    for _ in 0..RUNS {
        for (i, (w, sample)) in [(&trained, &mut a), (&random, &mut b)]
            .into_iter()
            .enumerate()
        {
            let (_, client, label) = run_once(&plan, w, &x);
            labels[i] = label;
            sample.push(concat(&client[..client.len() - reveal]));
        }
    }
    assert_ne!(
        labels[0], labels[1],
        "the two weight sets should answer differently"
    );
    let (x2, at, tests) = max_chi_square(&a, &b);
    let t = threshold(tests);
    let len = a[0].len();
    eprintln!(
        "client transcript without the {reveal} output frame(s): {len} bytes × {RUNS} runs per weight set; max X² = {x2:.2} at byte {at}; threshold {t:.2}"
    );
    assert!(
        x2 < t,
        "the client's transcript depends on the weights at byte {at}: X² = {x2:.2} ≥ {t:.2}"
    );

    // Positive control: append the first layer's first 64 weights (as
    // their fixed-point ring elements) to each transcript, as a protocol
    // leaking the server's weights would send them.
    let raw = |w: &BoundWeights| -> Vec<u8> {
        let first = w.layers.values().next().expect("netD has weights");
        first.weight[..64]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect()
    };
    let leak = |sample: &[Vec<u8>], w: &BoundWeights| -> Vec<Vec<u8>> {
        sample
            .iter()
            .map(|t| [t.clone(), raw(w)].concat())
            .collect()
    };
    let (x2, at, tests) = max_chi_square(&leak(&a, &trained), &leak(&b, &random));
    let t = threshold(tests);
    eprintln!(
        "positive control (raw weights appended): max X² = {x2:.2} at byte {at}; threshold {t:.2}"
    );
    assert!(
        x2 >= t,
        "the test failed to see raw weights in the transcript"
    );
}
