//! The interpreter on structured, valid-by-construction programs (every
//! opcode, processes, effects, state machines; small limits so each run is
//! bounded: `finvm_fuzz::GEN_SHAPE`, `maxSteps` ≤ 2,000). Each program runs
//! twice, with `performanceMode` flipped, with tracing off, and through the
//! effect API: all must agree (`checks::check_program`). A second mode runs
//! mutated program text (seeded from the conformance cases) under clamped
//! limits (`maxSteps` ≤ 10,000) with the same checks (`checks::check_run`).

#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use finvm_fuzz::{checks, GenProgram};
use libfuzzer_sys::fuzz_target;
use std::rc::Rc;

fuzz_target!(|data: &[u8]| {
    match data.split_first() {
        // `{`: program text (a conformance program or a mutation of one).
        Some((b'{', _)) => {
            let Ok(text) = std::str::from_utf8(data) else {
                return;
            };
            let Some(text) = finvm_fuzz::clamp_text(text) else {
                return;
            };
            if let Err(e) = checks::check_run(&text) {
                panic!("{e}\nprogram: {text}");
            }
        }
        _ => {
            let mut u = Unstructured::new(data);
            let Ok(GenProgram(g)) = GenProgram::arbitrary(&mut u) else {
                return;
            };
            if std::env::var_os("FINVM_FUZZ_PRINT").is_some() {
                eprintln!("{}", g.text());
            }
            // Loaded from the document: the text is only printed on a finding.
            let program = match finvm_fuzz::load_generated(&g) {
                Ok(p) => Rc::new(p),
                Err(e) => panic!(
                    "generated program does not validate: {e}\nprogram: {}",
                    g.text()
                ),
            };
            if let Err(e) = checks::check_program(program) {
                panic!("{e}\nprogram: {}", g.text());
            }
        }
    }
});
