//! Online time of netD (Chameleon's MNIST network) in simulation: both
//! parties on threads over the in-memory channel, dealer material made
//! outside the timed loop, batch 1 and batch 64. The plan is built here the
//! way the compiler's default assignment emits it (linear layers in A,
//! `Convert` of the 2f value, `Truncate` and relu in B, argmax in B), since
//! the runtime cannot depend on the compiler; the weights are netD's trained
//! ones.

use chimera_runtime::cost::{demand, plan_cost};
use chimera_runtime::dealer::{SessionId, TrustedDealer};
use chimera_runtime::exec::{run_client, run_server};
use chimera_runtime::plan::*;
use chimera_runtime::tensor_io::Batch;
use chimera_runtime::transport::memory_pair;
use chimera_runtime::weights;
use criterion::{criterion_group, criterion_main, Criterion};
use std::path::Path;
use std::time::Duration;

struct B {
    plan: Plan,
}

impl B {
    fn value(&mut self, name: &str, shape: &[usize], p: Protocol, e: Encoding) -> ValueId {
        self.plan.values.push(ValueInfo {
            name: name.into(),
            shape: shape.to_vec(),
            protocol: p,
            encoding: e,
        });
        ValueId(self.plan.values.len() as u32 - 1)
    }

    fn step(&mut self, op: Op, x: ValueId, shape: &[usize], p: Protocol, e: Encoding) -> ValueId {
        let out = self.value(&format!("v{}", self.plan.values.len()), shape, p, e);
        self.plan.steps.push(Step {
            op,
            inputs: vec![x],
            output: out,
            protocol: p,
            layer: "netD".into(),
        });
        out
    }

    /// Linear layer in A, then A→B of the 2f value, truncation in B.
    fn linear(&mut self, op: Op, x: ValueId, shape: &[usize]) -> ValueId {
        let wide = Encoding::Fixed { frac_bits: 32 };
        let h = self.step(op, x, shape, Protocol::Arith, wide);
        let h = self.step(Op::Convert, h, shape, Protocol::Gmw, wide);
        self.step(
            Op::Truncate { bits: 16 },
            h,
            shape,
            Protocol::Gmw,
            Encoding::Fixed { frac_bits: 16 },
        )
    }
}

fn params(layer: &str) -> LinearParams {
    LinearParams {
        layer: layer.into(),
        weight: format!("{layer}.weight"),
        bias: Some(format!("{layer}.bias")),
        batchnorm: None,
    }
}

fn net_d() -> Plan {
    let f = Encoding::Fixed { frac_bits: 16 };
    let mut b = B {
        plan: Plan {
            model: "netD_chameleon".into(),
            fixed: FixedFormat::default(),
            values: Vec::new(),
            inputs: Vec::new(),
            steps: Vec::new(),
            outputs: Vec::new(),
            optimized_for: OptimizedFor {
                network: "lan".into(),
                rtt_us: 200,
                bandwidth_bps: 1_000_000_000,
                objective: "default".into(),
            },
        },
    };
    let x = b.value("x", &[1, 28, 28], Protocol::Arith, f);
    b.plan.inputs.push(InputSpec {
        value: x,
        owner: Party::Client,
    });
    let conv = Op::Conv2d {
        out_channels: 5,
        kernel: [5, 5],
        stride: [2, 2],
        padding: [2, 2],
        params: params("conv1"),
    };
    let h = b.linear(conv, x, &[5, 14, 14]);
    let h = b.step(Op::Relu, h, &[5, 14, 14], Protocol::Gmw, f);
    let h = b.step(Op::Reshape, h, &[980], Protocol::Gmw, f);
    let h = b.step(Op::Convert, h, &[980], Protocol::Arith, f);
    let dense = |out, layer| Op::Dense {
        out_features: out,
        params: params(layer),
    };
    let h = b.linear(dense(100, "fc1"), h, &[100]);
    let h = b.step(Op::Relu, h, &[100], Protocol::Gmw, f);
    let h = b.step(Op::Convert, h, &[100], Protocol::Arith, f);
    let s = b.linear(dense(10, "fc2"), h, &[10]);
    let l = b.step(Op::Argmax, s, &[1], Protocol::Gmw, Encoding::Integer);
    b.plan.outputs.push(OutputSpec {
        name: "label".into(),
        value: l,
        reveal: Reveal::Label,
        to: Party::Client,
    });
    b.plan
}

fn bench(c: &mut Criterion) {
    let plan = net_d();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let bound = weights::load(&plan, &root.join("examples/netD_chameleon.safetensors"))
        .expect("netD weights");
    let hash = plan.hash().expect("hash");
    let mut group = c.benchmark_group("exec_netD");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    for rows in [1usize, 64] {
        let x = Batch {
            rows,
            row_shape: vec![1, 28, 28],
            data: (0..rows * 784).map(|i| (i % 255) as f64 / 255.0).collect(),
        };
        let need = demand(&plan, rows, 1).expect("demand");
        let cost = plan_cost(&plan, rows).expect("cost");
        let q = cost.query.client;
        println!(
            "netD batch {rows}: predicted query bytes {} (client sent {}, received {}), client flights {}, server flights {}",
            q.bytes_sent + q.bytes_received,
            q.bytes_sent,
            q.bytes_received,
            q.rounds,
            cost.query.server.rounds
        );
        group.bench_function(format!("simulate_online_batch{rows}"), |bch| {
            bch.iter_custom(|iters| {
                let mut online = Duration::ZERO;
                for _ in 0..iters {
                    let (mut m0, mut m1) =
                        TrustedDealer::pair(hash, SessionId([7; 16]), None, &need).expect("deal");
                    let (mut c0, mut c1) = memory_pair();
                    let client = std::thread::scope(|s| {
                        let h = s.spawn(|| run_server(&plan, &bound, &mut m0, &mut c0, rows));
                        let r = run_client(&plan, std::slice::from_ref(&x), &mut m1, &mut c1);
                        h.join().expect("server thread").expect("server");
                        r.expect("client")
                    });
                    assert_eq!(client.stats.query, cost.query.client);
                    online += Duration::from_secs_f64(client.stats.online_seconds);
                }
                online
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
