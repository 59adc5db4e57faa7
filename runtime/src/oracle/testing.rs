//! Test support: build plans by hand the way the compiler lowers layers
//! (every product followed by `Truncate { bits: f }`, relu and pooling in
//! GMW behind explicit conversions), and safetensors files from named
//! `f64` tensors.

use crate::plan::*;

/// Builds a [`Plan`] step by step.
pub(crate) struct PlanBuilder {
    pub(crate) plan: Plan,
}

impl PlanBuilder {
    pub(crate) fn new(frac_bits: u32) -> PlanBuilder {
        PlanBuilder {
            plan: Plan {
                model: "test".into(),
                fixed: FixedFormat {
                    ring_bits: 64,
                    frac_bits,
                },
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
        }
    }

    fn f(&self) -> u32 {
        self.plan.fixed.frac_bits
    }

    fn value(
        &mut self,
        name: &str,
        shape: Vec<usize>,
        protocol: Protocol,
        encoding: Encoding,
    ) -> ValueId {
        self.plan.values.push(ValueInfo {
            name: name.into(),
            shape,
            protocol,
            encoding,
        });
        ValueId(self.plan.values.len() as u32 - 1)
    }

    pub(crate) fn input(&mut self, name: &str, shape: &[usize]) -> ValueId {
        let f = self.f();
        let v = self.value(
            name,
            shape.to_vec(),
            Protocol::Arith,
            Encoding::Fixed { frac_bits: f },
        );
        self.plan.inputs.push(InputSpec {
            value: v,
            owner: Party::Client,
        });
        v
    }

    /// A step whose output has the given shape and encoding, in `protocol`.
    pub(crate) fn step(
        &mut self,
        op: Op,
        inputs: &[ValueId],
        layer: &str,
        shape: Vec<usize>,
        encoding: Encoding,
        protocol: Protocol,
    ) -> ValueId {
        let out = self.value(&format!("{layer}.{}", op.name()), shape, protocol, encoding);
        self.plan.steps.push(Step {
            op,
            inputs: inputs.to_vec(),
            output: out,
            protocol,
            layer: layer.into(),
        });
        out
    }

    fn info(&self, v: ValueId) -> ValueInfo {
        self.plan.value(v).clone()
    }

    /// Move `x` to `protocol` if it is not there yet.
    pub(crate) fn to(&mut self, x: ValueId, protocol: Protocol) -> ValueId {
        let i = self.info(x);
        if i.protocol == protocol {
            return x;
        }
        self.step(
            Op::Convert,
            &[x],
            &i.name.clone(),
            i.shape,
            i.encoding,
            protocol,
        )
    }

    /// A product step (2f fraction bits) followed by its truncation.
    fn product(&mut self, op: Op, inputs: &[ValueId], layer: &str, shape: Vec<usize>) -> ValueId {
        let f = self.f();
        let wide = self.step(
            op,
            inputs,
            layer,
            shape.clone(),
            Encoding::Fixed { frac_bits: 2 * f },
            Protocol::Arith,
        );
        self.step(
            Op::Truncate { bits: f },
            &[wide],
            layer,
            shape,
            Encoding::Fixed { frac_bits: f },
            Protocol::Arith,
        )
    }

    pub(crate) fn params(layer: &str, bias: bool) -> LinearParams {
        LinearParams {
            layer: layer.into(),
            weight: format!("{layer}.weight"),
            bias: bias.then(|| format!("{layer}.bias")),
            batchnorm: None,
        }
    }

    pub(crate) fn dense(&mut self, x: ValueId, layer: &str, out: usize, bias: bool) -> ValueId {
        self.dense_with(x, out, Self::params(layer, bias))
    }

    pub(crate) fn dense_with(&mut self, x: ValueId, out: usize, params: LinearParams) -> ValueId {
        let x = self.to(x, Protocol::Arith);
        let layer = params.layer.clone();
        let op = Op::Dense {
            out_features: out,
            params,
        };
        self.product(op, &[x], &layer, vec![out])
    }

    pub(crate) fn conv(
        &mut self,
        x: ValueId,
        layer: &str,
        out_c: usize,
        k: usize,
        stride: usize,
        pad: usize,
    ) -> ValueId {
        self.conv_with(x, out_c, k, stride, pad, Self::params(layer, true))
    }

    pub(crate) fn conv_with(
        &mut self,
        x: ValueId,
        out_c: usize,
        k: usize,
        stride: usize,
        pad: usize,
        params: LinearParams,
    ) -> ValueId {
        let x = self.to(x, Protocol::Arith);
        let s = self.info(x).shape;
        let ho = (s[1] + 2 * pad - k) / stride + 1;
        let wo = (s[2] + 2 * pad - k) / stride + 1;
        let layer = params.layer.clone();
        let op = Op::Conv2d {
            out_channels: out_c,
            kernel: [k, k],
            stride: [stride, stride],
            padding: [pad, pad],
            params,
        };
        self.product(op, &[x], &layer, vec![out_c, ho, wo])
    }

    pub(crate) fn relu(&mut self, x: ValueId, protocol: Protocol) -> ValueId {
        let x = self.to(x, protocol);
        let i = self.info(x);
        self.step(
            Op::Relu,
            &[x],
            &format!("{}.relu", i.name),
            i.shape,
            i.encoding,
            protocol,
        )
    }

    pub(crate) fn maxpool(&mut self, x: ValueId, k: usize) -> ValueId {
        let x = self.to(x, Protocol::Gmw);
        let i = self.info(x);
        let shape = vec![i.shape[0], i.shape[1] / k, i.shape[2] / k];
        self.step(
            Op::MaxPool {
                kernel: [k, k],
                stride: [k, k],
            },
            &[x],
            "pool",
            shape,
            i.encoding,
            Protocol::Gmw,
        )
    }

    /// Average pooling as the compiler lowers it: sum, multiply by 1/k², truncate.
    pub(crate) fn avgpool(&mut self, x: ValueId, k: usize) -> ValueId {
        let x = self.to(x, Protocol::Arith);
        let i = self.info(x);
        let shape = vec![i.shape[0], i.shape[1] / k, i.shape[2] / k];
        let sum = self.step(
            Op::SumPool {
                kernel: [k, k],
                stride: [k, k],
            },
            &[x],
            "avg",
            shape.clone(),
            i.encoding,
            Protocol::Arith,
        );
        let c = self.plan.fixed.encode(1.0 / (k * k) as f64).unwrap_or(0) as i64;
        self.product(Op::MulConst { c }, &[sum], "avg", shape)
    }

    pub(crate) fn square(&mut self, x: ValueId) -> ValueId {
        let x = self.to(x, Protocol::Arith);
        let shape = self.info(x).shape;
        self.product(Op::Square, &[x], "square", shape)
    }

    pub(crate) fn add(&mut self, a: ValueId, b: ValueId) -> ValueId {
        let a = self.to(a, Protocol::Arith);
        let b = self.to(b, Protocol::Arith);
        let i = self.info(a);
        self.step(
            Op::Add,
            &[a, b],
            "add",
            i.shape,
            i.encoding,
            Protocol::Arith,
        )
    }

    pub(crate) fn flatten(&mut self, x: ValueId) -> ValueId {
        let i = self.info(x);
        self.step(
            Op::Reshape,
            &[x],
            "flatten",
            vec![i.len()],
            i.encoding,
            i.protocol,
        )
    }

    pub(crate) fn argmax(&mut self, x: ValueId) -> ValueId {
        let x = self.to(x, Protocol::Yao);
        self.step(
            Op::Argmax,
            &[x],
            "argmax",
            vec![1],
            Encoding::Integer,
            Protocol::Yao,
        )
    }

    pub(crate) fn output(&mut self, name: &str, v: ValueId, reveal: Reveal) {
        self.plan.outputs.push(OutputSpec {
            name: name.into(),
            value: v,
            reveal,
            to: Party::Client,
        });
    }

    pub(crate) fn finish(self) -> Plan {
        if let Err(e) = self.plan.validate() {
            panic!("test plan is invalid: {e}");
        }
        self.plan
    }
}

/// A safetensors file holding the given tensors as float32 (`f64 = false`) or float64.
pub(crate) fn safetensors_bytes(
    tensors: &[(&str, Vec<usize>, Vec<f64>)],
    f64_dtype: bool,
) -> Vec<u8> {
    use safetensors::{tensor::TensorView, Dtype};
    let raw: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(n, s, d)| {
            let bytes = if f64_dtype {
                d.iter().flat_map(|v| v.to_le_bytes()).collect()
            } else {
                d.iter().flat_map(|v| (*v as f32).to_le_bytes()).collect()
            };
            (n.to_string(), s.clone(), bytes)
        })
        .collect();
    let dtype = if f64_dtype { Dtype::F64 } else { Dtype::F32 };
    let views: Vec<(String, TensorView<'_>)> = raw
        .iter()
        .map(|(n, s, b)| {
            (
                n.clone(),
                TensorView::new(dtype, s.clone(), b).expect("consistent test tensor"),
            )
        })
        .collect();
    safetensors::serialize(views, None).expect("serializable test tensors")
}

/// A small deterministic generator (no dependency on the `rand` API in tests).
pub(crate) struct Lcg(pub(crate) u64);

impl Lcg {
    /// Uniform in `[-1, 1)`.
    pub(crate) fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }

    pub(crate) fn vec(&mut self, n: usize, scale: f64) -> Vec<f64> {
        (0..n).map(|_| self.next() * scale).collect()
    }
}
