//! Property tests of shape inference: convolution and pooling output sizes
//! against the direct formula, and random chains of layers that must always
//! compile to a plan that verifies, with the output shape the chain's
//! generator tracked independently.

use chimera_runtime::plan::Op;
use proptest::prelude::*;

fn compile(src: &str) -> Result<chimera_compiler::Compiled, String> {
    chimera_compiler::compile("p.nn", src.as_bytes())
        .map_err(|d| d.render("p.nn", src.as_bytes(), false))
}

/// PyTorch's formula, computed independently in floating point.
fn expected(n: usize, k: usize, s: usize, p: usize) -> Option<usize> {
    let span = n as f64 + 2.0 * p as f64 - k as f64;
    (span >= 0.0).then(|| (span / s as f64).floor() as usize + 1)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn conv_output_size_matches_the_formula(
        c in 1usize..4, h in 1usize..40, w in 1usize..40, out in 1usize..8,
        k in 1usize..9, s in 1usize..5, pad_frac in 0usize..100,
    ) {
        let p = k / 2 * pad_frac / 100;
        let src = format!(
            "model m\ninput x: [{c}, {h}, {w}] from client\ny = conv2d(x, {out}, kernel = {k}, stride = {s}, padding = {p})\n\
             f = flatten(y)\noutput o = f to client\n"
        );
        match (expected(h, k, s, p), expected(w, k, s, p)) {
            (Some(oh), Some(ow)) => {
                let plan = compile(&src).map_err(TestCaseError::fail)?.saved.plan;
                let conv = plan.steps.iter().find(|st| matches!(st.op, Op::Conv2d { .. })).expect("conv step");
                prop_assert_eq!(&plan.value(conv.output).shape, &vec![out, oh, ow]);
            }
            _ => {
                let err = compile(&src).expect_err("a kernel larger than the input is rejected");
                prop_assert!(err.contains("error[bad-window]"), "{}", err);
            }
        }
    }

    #[test]
    fn pool_output_size_matches_the_formula(
        c in 1usize..4, h in 1usize..30, w in 1usize..30, k in 1usize..6, s in 1usize..4,
        kind in prop::sample::select(vec!["maxpool", "avgpool", "sumpool"]),
    ) {
        let src = format!(
            "model m\ninput x: [{c}, {h}, {w}] from client\ny = {kind}(x, {k}, stride = {s})\n\
             f = flatten(y)\noutput o = f to client\n"
        );
        match (expected(h, k, s, 0), expected(w, k, s, 0)) {
            (Some(oh), Some(ow)) => {
                let plan = compile(&src).map_err(TestCaseError::fail)?.saved.plan;
                let pool = plan.steps.iter()
                    .find(|st| matches!(st.op, Op::MaxPool { .. } | Op::SumPool { .. }))
                    .expect("pool step");
                prop_assert_eq!(&plan.value(pool.output).shape, &vec![c, oh, ow]);
            }
            _ => prop_assert!(compile(&src).is_err()),
        }
    }

    #[test]
    fn random_chains_of_layers_compile_and_verify(choices in prop::collection::vec(0u8..16, 1..14), seed in 0usize..1000) {
        let (src, shape) = chain(&choices, seed);
        let compiled = compile(&src).map_err(|e| TestCaseError::fail(format!("{src}\n{e}")))?;
        let plan = &compiled.saved.plan;
        prop_assert!(plan.validate().is_ok());
        let scores = plan.outputs.iter().find(|o| o.name == "scores").expect("a scores output");
        prop_assert_eq!(&plan.value(scores.value).shape, &shape, "{}", src);
        // Re-verify the IR of the front end as well (the passes verify after each step).
        let fe = chimera_compiler::front_end(src.as_bytes()).map_err(|_| TestCaseError::fail("front end"))?;
        prop_assert!(chimera_compiler::ir::verify(&fe.graph, Default::default()).is_ok());
    }
}

/// Build a valid program from a list of choices: each picks a layer that
/// fits the current shape (image or vector). Returns the program and the
/// shape of its `scores` output, tracked by hand beside the program.
fn chain(choices: &[u8], seed: usize) -> (String, Vec<usize>) {
    let mut src = String::from("model chain\ninput x: [2, 12, 12] from client\n");
    let mut cur = "x".to_string();
    let mut shape = vec![2usize, 12, 12];
    for (i, &c) in choices.iter().enumerate() {
        let name = format!("t{i}");
        let line = if shape.len() == 3 {
            let (ch, h, w) = (shape[0], shape[1], shape[2]);
            let m = h.min(w);
            match c {
                0 if m >= 3 => {
                    shape = vec![3, h - 2, w - 2];
                    format!("{name} = conv2d({cur}, 3, kernel = 3)")
                }
                1 => format!("{name} = conv2d({cur}, {ch}, kernel = 3, padding = 1)"),
                2 if m >= 2 => {
                    shape = vec![ch, h / 2, w / 2];
                    format!("{name} = maxpool({cur}, 2)")
                }
                3 if m >= 2 => {
                    shape = vec![ch, h / 2, w / 2];
                    format!("{name} = avgpool({cur}, 2)")
                }
                4 => format!("{name} = relu({cur})"),
                5 => format!("{name} = square({cur})"),
                6 => format!("{name} = add({cur}, {cur})"),
                7 => format!("{name} = scale({cur}, 0.5)"),
                8 => {
                    src.push_str(&format!("{name}c = conv2d({cur}, {ch}, kernel = 1)\n"));
                    format!("{name} = batchnorm({name}c)")
                }
                9 => format!("{name} = sigmoid({cur}) @yao"),
                _ => {
                    shape = vec![shape.iter().product()];
                    format!("{name} = flatten({cur})")
                }
            }
        } else {
            match c {
                0..=3 => {
                    let out = 2 + (seed + i) % 7;
                    shape = vec![out];
                    format!("{name} = dense({cur}, {out})")
                }
                4 => format!("{name} = relu({cur})"),
                5 => format!(
                    "{name} = tanh({cur}, approx = chebyshev(degree = {}, interval = [-3, 3]))",
                    1 + seed % 5
                ),
                6 => format!("{name} = poly({cur}, [0.5, 0.25, 0.125])"),
                7 => format!("{name} = sub({cur}, {cur})"),
                8 => format!("{name} = mul({cur}, {cur})"),
                9 => format!("{name} = sigmoid({cur}, approx = pwl) @gmw"),
                10 if shape[0] % 2 == 0 => {
                    format!("{name} = reshape({cur}, [2, {}, 1])", shape[0] / 2)
                }
                _ => format!("{name} = scale({cur}, -1.5)"),
            }
        };
        if line.contains("reshape") {
            shape = vec![2, shape[0] / 2, 1];
        }
        src.push_str(&line);
        src.push('\n');
        cur = name;
    }
    if shape.len() == 3 {
        src.push_str(&format!("flat = flatten({cur})\n"));
        cur = "flat".into();
        shape = vec![shape.iter().product()];
    }
    src.push_str(&format!(
        "output label = argmax({cur}) to client\noutput scores = {cur} to client\n"
    ));
    (src, shape)
}
