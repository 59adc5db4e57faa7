//! Fuzz the whole `.nn` front end with arbitrary bytes: it must never panic,
//! and every rejection must render (codespan) without panicking either.
//!
//! Run with `cargo fuzz run compile_nn` (nightly), or on a stable toolchain
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run -s none compile_nn`; seed the corpus
//! with `examples/*.nn`. A bounded smoke run of the same property is part of
//! the normal test suite (`compiler/tests/fuzz_smoke.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match chimera_compiler::compile("fuzz.nn", data) {
        Ok(compiled) => {
            assert!(compiled.saved.plan.validate().is_ok());
        }
        Err(diagnostics) => {
            assert!(diagnostics.has_errors());
            let text = diagnostics.render("fuzz.nn", data, false);
            assert!(text.contains("error["));
        }
    }
});
