//! Tests of each pass, through the public API: the plan (or the IR) a small
//! program compiles to shows exactly the rewrite the pass is responsible for.

use chimera_compiler::ir::NodeOp;
use chimera_runtime::plan::{Encoding, Op, Plan, Protocol, Reveal};

/// Compile with the fixed default protocol rule, so that each test sees
/// exactly its pass's rewrite whatever the cost model says (the optimizer
/// has its own tests).
fn plan(src: &str) -> (Plan, Vec<String>) {
    match chimera_compiler::compile_with("t.nn", src.as_bytes(), &chimera_compiler::DefaultAssigner)
    {
        Ok(c) => (c.saved.plan, c.explain),
        Err(d) => panic!("{}", d.render("t.nn", src.as_bytes(), false)),
    }
}

fn ops(p: &Plan) -> Vec<&'static str> {
    p.steps.iter().map(|s| s.op.name()).collect()
}

#[test]
fn batchnorm_is_folded_and_recorded_with_pytorch_names() {
    let (p, notes) = plan(
        "model m\ninput x: [1, 6, 6] from client\nc = conv2d(x, 4, kernel = 3, bias = false)\n\
         bn = batchnorm(c, eps = 0.001)\nf = flatten(bn)\nd = dense(f, 3)\nb2 = batchnorm(d)\n\
         output s = b2 to client\n",
    );
    assert!(!ops(&p).contains(&"batchnorm"));
    let params: Vec<_> = p
        .steps
        .iter()
        .filter_map(|s| s.op.linear_params())
        .collect();
    assert_eq!(params.len(), 2);
    let bn = params[0].batchnorm.as_ref().expect("folded into c");
    assert_eq!(params[0].layer, "c");
    assert_eq!(params[0].bias, None);
    assert_eq!(bn.layer, "bn");
    assert_eq!(bn.gamma, "bn.weight");
    assert_eq!(bn.beta, "bn.bias");
    assert_eq!(bn.mean, "bn.running_mean");
    assert_eq!(bn.var, "bn.running_var");
    assert_eq!(bn.eps(), 0.001);
    let bn2 = params[1].batchnorm.as_ref().expect("folded into d");
    assert_eq!(bn2.eps(), 1e-5);
    assert_eq!(
        notes.iter().filter(|n| n.contains("folded into")).count(),
        2
    );
    // The folded value carries the batchnorm's name; the step keeps the conv's layer.
    let conv = p
        .steps
        .iter()
        .find(|s| matches!(s.op, Op::Conv2d { .. }))
        .expect("conv");
    assert_eq!(conv.layer, "c");
    assert_eq!(p.value(conv.output).name, "bn");
}

#[test]
fn relu_then_maxpool_is_reordered_when_adjacent_and_single_use() {
    let (p, notes) = plan(
        "model m\ninput x: [1, 8, 8] from client\nc = conv2d(x, 2, kernel = 3)\nr = relu(c)\n\
         q = maxpool(r, 2)\nf = flatten(q)\noutput s = f to client\n",
    );
    let relu = p.steps.iter().find(|s| s.op == Op::Relu).expect("relu");
    let pool = p
        .steps
        .iter()
        .find(|s| matches!(s.op, Op::MaxPool { .. }))
        .expect("maxpool");
    assert!(
        p.steps.iter().position(|s| s.op == Op::Relu)
            > p.steps
                .iter()
                .position(|s| matches!(s.op, Op::MaxPool { .. }))
    );
    assert_eq!(relu.inputs, vec![pool.output]);
    assert_eq!(p.value(relu.output).shape, vec![2, 3, 3]);
    assert!(
        notes.iter().any(|n| n.contains("72 comparisons become 18")),
        "{notes:?}"
    );
}

#[test]
fn relu_with_another_use_is_not_reordered() {
    let (p, notes) = plan(
        "model m\ninput x: [1, 8, 8] from client\nc = conv2d(x, 2, kernel = 3)\nr = relu(c)\n\
         q = maxpool(r, 2)\nf = flatten(q)\ng = flatten(r)\noutput s = f to client\noutput t = g to client\n",
    );
    let relu_pos = p.steps.iter().position(|s| s.op == Op::Relu);
    let pool_pos = p
        .steps
        .iter()
        .position(|s| matches!(s.op, Op::MaxPool { .. }));
    assert!(relu_pos < pool_pos);
    assert!(!notes.iter().any(|n| n.contains("moved after")));
}

#[test]
fn relu_not_directly_before_maxpool_is_not_reordered() {
    let (p, notes) = plan(
        "model m\ninput x: [1, 8, 8] from client\nr = relu(x)\nh = scale(r, 2)\nq = maxpool(h, 2)\n\
         f = flatten(q)\noutput s = f to client\n",
    );
    assert!(
        p.steps.iter().position(|s| s.op == Op::Relu)
            < p.steps
                .iter()
                .position(|s| matches!(s.op, Op::MaxPool { .. }))
    );
    assert!(!notes.iter().any(|n| n.contains("moved after")));
}

#[test]
fn relu_and_maxpool_pinned_apart_are_not_reordered() {
    let (p, _) = plan(
        "model m\ninput x: [1, 8, 8] from client\nr = relu(x) @yao\nq = maxpool(r, 2) @gmw\n\
         f = flatten(q)\noutput s = f to client\n",
    );
    let relu = p.steps.iter().find(|s| s.op == Op::Relu).expect("relu");
    assert_eq!(relu.protocol, Protocol::Yao);
    assert!(
        p.steps.iter().position(|s| s.op == Op::Relu)
            < p.steps
                .iter()
                .position(|s| matches!(s.op, Op::MaxPool { .. }))
    );
}

#[test]
fn every_product_is_followed_by_a_truncation_by_f() {
    for path in
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples")).expect("examples")
    {
        let path = path.expect("entry").path();
        if path.extension().is_none_or(|e| e != "nn") {
            continue;
        }
        let source = std::fs::read(&path).expect("readable");
        let p = chimera_compiler::compile("e.nn", &source)
            .expect("compiles")
            .saved
            .plan;
        let f = p.fixed.frac_bits;
        for step in &p.steps {
            let is_product = matches!(
                step.op,
                Op::Dense { .. } | Op::Conv2d { .. } | Op::MulConst { .. } | Op::Mul | Op::Square
            );
            if !is_product {
                continue;
            }
            assert_eq!(
                p.value(step.output).encoding,
                Encoding::Fixed { frac_bits: 2 * f }
            );
            for reader in p.steps.iter().filter(|s| s.inputs.contains(&step.output)) {
                match reader.op {
                    Op::Truncate { bits } => assert_eq!(bits, f),
                    Op::Convert => {
                        // Converted with 2f bits, then truncated in the boolean protocol.
                        let next: Vec<_> = p
                            .steps
                            .iter()
                            .filter(|s| s.inputs.contains(&reader.output))
                            .collect();
                        assert!(
                            next.iter().all(|s| s.op == Op::Truncate { bits: f }),
                            "{path:?}"
                        );
                        assert!(
                            next.iter().all(|s| s.protocol != Protocol::Arith),
                            "{path:?}"
                        );
                    }
                    ref other => panic!("{path:?}: product read by {}", other.name()),
                }
            }
        }
        for out in &p.outputs {
            let want = match out.reveal {
                Reveal::Label => Encoding::Integer,
                Reveal::Scores => Encoding::Fixed { frac_bits: f },
            };
            assert_eq!(p.value(out.value).encoding, want, "{path:?}");
        }
    }
}

#[test]
fn truncation_stays_in_a_when_its_consumer_is_linear() {
    let (p, _) = plan("model m\ninput x: [4] from client\na = dense(x, 4)\nb = dense(a, 2)\noutput s = b to client\n");
    assert_eq!(ops(&p), vec!["dense", "truncate", "dense", "truncate"]);
    assert!(p.steps.iter().all(|s| s.protocol == Protocol::Arith));
    assert_eq!(p.optimized_for.objective, "default");
    assert_eq!(p.optimized_for.network, "none");
}

#[test]
fn pwl_sigmoid_and_tanh_are_affine_maps_and_clamps() {
    let (p, notes) = plan(
        "model m\ninput x: [4] from client\ns = sigmoid(x)\nt = tanh(x, approx = pwl)\n\
         output a = s to client\noutput b = t to client\n",
    );
    let consts: Vec<&Op> = p
        .steps
        .iter()
        .filter(|s| s.layer == "s")
        .map(|s| &s.op)
        .collect();
    assert_eq!(
        consts,
        vec![
            &Op::MulConst { c: 16384 },
            &Op::Truncate { bits: 16 },
            &Op::AddConst { c: 32768 },
            &Op::Convert,
            &Op::Clamp { lo: 0, hi: 65536 }
        ]
    );
    let tanh: Vec<&Op> = p
        .steps
        .iter()
        .filter(|s| s.layer == "t")
        .map(|s| &s.op)
        .collect();
    assert_eq!(
        tanh,
        vec![&Op::Clamp {
            lo: -65536,
            hi: 65536
        }]
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("sigmoid `s` ≈ clamp(x/4 + 1/2, 0, 1)") && n.contains("0.1192")),
        "{notes:?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("tanh `t` ≈ clamp(x, -1, 1)") && n.contains("0.2384")),
        "{notes:?}"
    );
}

#[test]
fn avgpool_is_a_sum_pool_and_a_scale() {
    let (p, _) = plan("model m\ninput x: [1, 6, 6] from client\nq = avgpool(x, 3)\nf = flatten(q)\noutput s = f to client\n");
    assert_eq!(ops(&p), vec!["sumpool", "mul_const", "truncate", "reshape"]);
    assert_eq!(p.steps[1].op, Op::MulConst { c: 7282 }); // round(2^16 / 9)
}

#[test]
fn poly_is_evaluated_by_horner() {
    let (p, notes) = plan("model m\ninput x: [4] from client\ny = poly(x, [1, 0, -0.5, 0.25])\noutput s = y to client\n");
    // 0.25 x, +(-0.5), × x, × x (c1 = 0 is skipped), + 1
    assert_eq!(
        ops(&p),
        vec![
            "mul_const",
            "truncate",
            "add_const",
            "mul",
            "truncate",
            "mul",
            "truncate",
            "add_const"
        ]
    );
    assert_eq!(p.steps[0].op, Op::MulConst { c: 16384 });
    assert_eq!(p.steps[2].op, Op::AddConst { c: -32768 });
    assert_eq!(p.steps[7].op, Op::AddConst { c: 65536 });
    assert!(
        notes
            .iter()
            .any(|n| n == "poly `y`: p(x) = 1 - 0.5 x^2 + 0.25 x^3 (Horner, 3 multiplication(s))"),
        "{notes:?}"
    );
}

#[test]
fn pins_are_honoured_and_conversions_inserted() {
    let (p, _) = plan("model m\ninput x: [4] from client\nr = relu(x) @yao\nd = dense(r, 2)\noutput s = d to client\n");
    let protocols: Vec<(&str, Protocol)> =
        p.steps.iter().map(|s| (s.op.name(), s.protocol)).collect();
    assert_eq!(
        protocols,
        vec![
            ("convert", Protocol::Yao),
            ("relu", Protocol::Yao),
            ("convert", Protocol::Arith),
            ("dense", Protocol::Arith),
            ("truncate", Protocol::Arith)
        ]
    );
}

#[test]
fn an_unused_tensor_is_a_warning_and_left_out_of_the_plan() {
    let src = "model m\ninput x: [4] from client\nwaste = relu(x)\nd = dense(x, 2)\noutput s = d to client\n";
    let c = chimera_compiler::compile("t.nn", src.as_bytes()).expect("accepted");
    assert_eq!(c.warnings.len(), 1);
    let w = c.warnings.iter().next().expect("one warning");
    assert_eq!(w.code, "unused-tensor");
    assert!(!c.saved.plan.values.iter().any(|v| v.name == "waste"));
    assert!(c.explain.iter().any(|n| n.contains("removed `waste`")));
}

#[test]
fn the_front_end_graph_has_shapes_and_encodings_but_no_protocols() {
    let src = b"model m\ninput x: [1, 28, 28] from client\nc = conv2d(x, 5, kernel = 5, stride = 2, padding = 2)\n\
                r = relu(c)\nf = flatten(r)\nd = dense(f, 10)\noutput l = argmax(d) to client\n";
    let fe = chimera_compiler::front_end(src).expect("valid");
    let g = &fe.graph;
    assert!(g.protocols.is_empty());
    for id in g.node_ids() {
        assert!(g.encodings.contains_key(&id), "{id}");
        assert!(!g.op(id).is_high_level());
    }
    let conv = g
        .node_ids()
        .into_iter()
        .find(|&id| matches!(g.op(id), NodeOp::Conv2d { .. }))
        .expect("conv");
    assert_eq!(g.shape(conv), &[5, 14, 14]);
    assert_eq!(format!("{conv}"), format!("n{}", conv.index()));
    assert!(g.dump().contains("conv2d"));
}

#[test]
fn a_truncation_with_consumers_in_two_protocols_stays_in_a() {
    let (p, _) = plan(
        "model m\ninput x: [4] from client\nd = dense(x, 4)\nr = relu(d)\ne = dense(d, 4)\ns = add(r, e)\n\
         output o = s to client\n",
    );
    let trunc = p
        .steps
        .iter()
        .find(|s| s.layer == "d" && matches!(s.op, Op::Truncate { .. }))
        .expect("trunc");
    assert_eq!(trunc.protocol, Protocol::Arith);
    // relu reads a conversion of the truncated value.
    let relu = p.steps.iter().find(|s| s.op == Op::Relu).expect("relu");
    let conv = p
        .steps
        .iter()
        .find(|s| s.output == relu.inputs[0])
        .expect("producer of relu's input");
    assert_eq!(conv.op, Op::Convert);
    assert_eq!(conv.inputs, vec![trunc.output]);
}

#[test]
fn the_verifier_catches_a_missing_truncation_after_the_passes() {
    let src = b"model m\ninput x: [4] from client\nd = dense(x, 4)\nr = relu(d)\noutput o = r to client\n";
    let mut g = chimera_compiler::front_end(src).expect("valid").graph;
    assert!(chimera_compiler::ir::verify(&g, Default::default()).is_ok());
    let trunc = g
        .node_ids()
        .into_iter()
        .find(|&id| matches!(g.op(id), NodeOp::Truncate { .. }))
        .expect("a truncation");
    let dense = g.operands(trunc)[0];
    g.replace_uses(trunc, dense);
    g.remove_node(trunc);
    let problems: Vec<String> = chimera_compiler::ir::verify(&g, Default::default())
        .expect_err("broken")
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems.iter().any(|p| p.contains("relu has encoding")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("read by") && p.contains("before a truncation")),
        "{problems:?}"
    );
}

#[test]
fn an_assigner_that_ignores_a_pin_is_caught_by_the_verifier() {
    use chimera_compiler::passes::protocol::{Assignment, DefaultAssigner, ProtocolAssigner};
    struct IgnorePins;
    impl ProtocolAssigner for IgnorePins {
        fn assign(&self, g: &chimera_compiler::ir::Graph) -> Assignment {
            let mut a = DefaultAssigner.assign(g);
            for (id, p) in a.iter_mut() {
                if matches!(g.op(*id), NodeOp::Relu) {
                    *p = Protocol::Gmw;
                }
            }
            a
        }
        fn optimized_for(&self) -> chimera_runtime::plan::OptimizedFor {
            DefaultAssigner.optimized_for()
        }
    }
    let src = b"model m\ninput x: [4] from client\nr = relu(x) @yao\noutput o = r to client\n";
    let err = chimera_compiler::compile_with("m.nn", src, &IgnorePins).expect_err("rejected");
    let text = err.render("m.nn", src, false);
    assert!(text.contains("internal compiler error"), "{text}");
    assert!(
        text.contains("relu runs in gmw but layer `r` is pinned to yao"),
        "{text}"
    );
}
