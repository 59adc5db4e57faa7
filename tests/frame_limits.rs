//! `transport::plan_max_frame` is a sound bound: every example network runs
//! with both parties' frame limit set to it (a larger frame could neither be
//! sent nor received), and the largest frame really sent is within a small
//! factor of it (a step's bytes may be split over a few messages), so the
//! bound is also useful against a peer announcing huge frames.

mod common;

use chimera_runtime::cost::demand;
use chimera_runtime::dealer::{SessionId, TrustedDealer};
use chimera_runtime::exec::{run_client, run_server};
use chimera_runtime::tensor_io::Batch;
use chimera_runtime::transport::{
    memory_pair_with, plan_max_frame, Channel, ChannelConfig, ChannelStats, Frame, FrameKind,
    TransportError, MIN_FRAME,
};
use chimera_runtime::weights;
use common::random::{random_weights, Lcg};

/// Remembers the largest payload sent.
struct Largest<C> {
    inner: C,
    largest: usize,
}

impl<C: Channel> Channel for Largest<C> {
    fn send_frame(&mut self, kind: FrameKind, payload: &[u8]) -> Result<(), TransportError> {
        self.largest = self.largest.max(payload.len());
        self.inner.send_frame(kind, payload)
    }
    fn recv_frame(&mut self) -> Result<Frame, TransportError> {
        self.inner.recv_frame()
    }
    fn flush(&mut self) -> Result<(), TransportError> {
        self.inner.flush()
    }
    fn stats(&self) -> ChannelStats {
        self.inner.stats()
    }
}

fn check(stem: &str, rows: usize) {
    let plan = common::compile_example(stem).plan;
    let mut rng = Lcg(rows as u64 + 11);
    let trained = common::example(&format!("{stem}.safetensors"));
    let bound = if trained.exists() {
        weights::load(&plan, &trained).unwrap()
    } else {
        weights::bind(&plan, &random_weights(&plan, &mut rng)).unwrap()
    };
    let inputs: Vec<Batch> = plan
        .inputs
        .iter()
        .map(|i| {
            let info = plan.value(i.value);
            let n: usize = info.shape.iter().product();
            Batch {
                rows,
                row_shape: info.shape.clone(),
                data: rng.vec(n * rows, 0.0, 1.0),
            }
        })
        .collect();
    let max = plan_max_frame(&plan, rows).unwrap();
    let config = ChannelConfig {
        max_frame: max,
        ..ChannelConfig::default()
    };
    let (c0, c1) = memory_pair_with(config);
    let (mut s, mut c) = (
        Largest {
            inner: c0,
            largest: 0,
        },
        Largest {
            inner: c1,
            largest: 0,
        },
    );
    let need = demand(&plan, rows, 1).unwrap();
    let (mut m0, mut m1) =
        TrustedDealer::pair(plan.hash().unwrap(), SessionId([9; 16]), None, &need).unwrap();
    std::thread::scope(|scope| {
        let server = scope.spawn(|| run_server(&plan, &bound, &mut m0, &mut s, rows));
        let client = run_client(&plan, &inputs, &mut m1, &mut c);
        client.unwrap_or_else(|e| panic!("{stem} batch {rows}: client: {e}"));
        server
            .join()
            .unwrap()
            .unwrap_or_else(|e| panic!("{stem} batch {rows}: server: {e}"));
    });
    let largest = s.largest.max(c.largest);
    println!("{stem} batch {rows}: largest frame {largest} B, plan bound {max} B");
    assert!(largest <= max);
    assert!(
        max == MIN_FRAME || largest * 8 >= max,
        "{stem}: the bound {max} is far above the largest frame {largest}"
    );
}

#[test]
fn the_plan_bound_holds_for_every_small_example() {
    for stem in [
        "netA_secureml",
        "netB_minionn",
        "netC_lenet",
        "netD_chameleon",
        "cryptonets",
        "resnet_block",
        "sigmoid_poly",
    ] {
        check(stem, 1);
        check(stem, 3);
    }
}
