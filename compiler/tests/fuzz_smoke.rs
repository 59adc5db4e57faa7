//! A bounded smoke run of the parser fuzz target (`fuzz/fuzz_targets/compile_nn.rs`):
//! random bytes and random mutations of every example must never panic, and
//! every rejection must render as a diagnostic with a label and a help line.

use proptest::prelude::*;

const EXAMPLES: [&str; 8] = [
    include_str!("../../examples/netA_secureml.nn"),
    include_str!("../../examples/netB_minionn.nn"),
    include_str!("../../examples/netC_lenet.nn"),
    include_str!("../../examples/netD_chameleon.nn"),
    include_str!("../../examples/cryptonets.nn"),
    include_str!("../../examples/cifar_minionn.nn"),
    include_str!("../../examples/resnet_block.nn"),
    include_str!("../../examples/sigmoid_poly.nn"),
];

/// Tokens worth splicing in: keywords, layer names, punctuation, odd numbers.
const TOKENS: [&str; 24] = [
    "model ",
    "input ",
    "output ",
    "fixed(",
    " from client",
    " to server",
    "@yao",
    "@gmw",
    "(",
    ")",
    "[",
    "]",
    ",",
    " = ",
    "dense",
    "conv2d",
    "batchnorm",
    "-1",
    "0",
    "1e999",
    "99999999999999999999",
    "\u{1F600}",
    "\n",
    "#",
];

fn check(bytes: &[u8]) -> Result<(), TestCaseError> {
    match chimera_compiler::compile("fuzz.nn", bytes) {
        Ok(c) => prop_assert!(c.saved.plan.validate().is_ok()),
        Err(d) => {
            prop_assert!(d.has_errors());
            for one in d.iter() {
                prop_assert!(!one.label.is_empty(), "`{}` has no label", one.message);
                prop_assert!(!one.help.is_empty(), "`{}` has no help line", one.message);
            }
            let text = d.render("fuzz.nn", bytes, false);
            prop_assert!(text.contains("error["), "{}", text);
            prop_assert!(text.contains("fuzz.nn"), "{}", text);
        }
    }
    Ok(())
}

#[derive(Debug, Clone)]
enum Edit {
    Delete(usize, usize),
    Insert(usize, Vec<u8>),
    Token(usize, usize),
    Replace(usize, u8),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 1usize..12).prop_map(|(a, n)| Edit::Delete(a, n)),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..6))
            .prop_map(|(a, b)| Edit::Insert(a, b)),
        (any::<usize>(), 0..TOKENS.len()).prop_map(|(a, t)| Edit::Token(a, t)),
        (any::<usize>(), any::<u8>()).prop_map(|(a, b)| Edit::Replace(a, b)),
    ]
}

fn apply(base: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut v = base.to_vec();
    for e in edits {
        let at = |a: usize, len: usize| if len == 0 { 0 } else { a % (len + 1) };
        match e {
            Edit::Delete(a, n) => {
                let s = at(*a, v.len());
                let end = (s + n).min(v.len());
                v.drain(s..end);
            }
            Edit::Insert(a, bytes) => {
                let s = at(*a, v.len());
                v.splice(s..s, bytes.iter().copied());
            }
            Edit::Token(a, t) => {
                let s = at(*a, v.len());
                v.splice(s..s, TOKENS[*t].bytes());
            }
            Edit::Replace(a, b) => {
                if !v.is_empty() {
                    let s = a % v.len();
                    v[s] = *b;
                }
            }
        }
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        check(&bytes)?;
    }

    #[test]
    fn random_bytes_after_a_header_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let mut src = b"model m\n".to_vec();
        src.extend(bytes);
        check(&src)?;
    }

    #[test]
    fn mutated_examples_never_panic(which in 0..EXAMPLES.len(), edits in prop::collection::vec(edit(), 1..6)) {
        check(&apply(EXAMPLES[which].as_bytes(), &edits))?;
    }
}

#[test]
fn pathological_inputs_are_diagnosed() {
    let cases: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"\xff\xfe\xfd".to_vec(),
        b"model".to_vec(),
        format!("model m\nh = f({}", "[".repeat(50_000)).into_bytes(),
        format!("model m\n{}", "x = relu(x)\n".repeat(5_000)).into_bytes(),
        b"model m\ninput x: [1048576, 1048576, 1048576] from client\nf = flatten(x)\noutput o = f to client\n".to_vec(),
        b"model m\ninput x: [4] from client\ns = scale(x, 1e308)\noutput o = s to client\n".to_vec(),
        b"model m\ninput x: [4] from client\ns = sigmoid(x, approx = chebyshev(degree = 8, interval = [0, 0.001]))\noutput o = s to client\n".to_vec(),
    ];
    for src in cases {
        check(&src).expect("diagnosed without panic");
    }
}

/// Programs whose every argument is in range but that are too big to plan
/// (beyond `chimera_runtime::limits`): refused with `too-large` before the
/// cost model builds one circuit over 2^24 scores or a 2^20-element maxpool
/// window (which exhausted memory) or plans a tensor of 2^44 elements, a
/// layer of 2^40 weights or one of 2^40 multiply-adds.
#[test]
fn programs_too_big_to_plan_are_refused() {
    let cases = [
        "model m\ninput x: [16, 1024, 1024] from client\nf = flatten(x)\noutput o = argmax(f) to client\n",
        "model m\ninput x: [1, 4096, 4096] from client\nc = conv2d(x, 1048576, kernel = 1)\nf = flatten(c)\noutput o = f to client\n",
        "model m\ninput x: [1048576] from client\nh = dense(x, 1048576)\nr = relu(h)\noutput o = r to client\n",
        // One maxpool window is one circuit, as an argmax.
        "model m\ninput x: [1, 1024, 1024] from client\np = maxpool(x, 1024)\nf = flatten(p)\noutput o = f to client\n",
        // 2^40 multiply-adds per inference, every tensor and weight count in range.
        "model m\ninput x: [1, 1024, 1024] from client\nc = conv2d(x, 1, kernel = 1024, padding = 512)\nf = flatten(c)\noutput o = f to client\n",
    ];
    for src in cases {
        let d = chimera_compiler::compile("big.nn", src.as_bytes()).expect_err(src);
        let text = d.render("big.nn", src.as_bytes(), false);
        assert!(text.contains("error[too-large]"), "{text}");
    }
}
