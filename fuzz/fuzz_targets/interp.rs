//! The interpreter on structured, valid-by-construction programs (every
//! opcode, processes, effects, state machines; small limits so each run is
//! bounded). Each program runs twice, with `performanceMode` flipped, with
//! tracing off, and through the effect API: all must agree
//! (`checks::check_run`). A second mode runs mutated program text (seeded
//! from the conformance cases) under clamped limits with the same checks.

#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use finvm_fuzz::{checks, GenProgram};
use libfuzzer_sys::fuzz_target;

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
            let text = g.text();
            if std::env::var_os("FINVM_FUZZ_PRINT").is_some() {
                eprintln!("{text}");
            }
            if let Err(e) = finvm::api::validate_json(&text) {
                panic!("generated program does not validate: {e}\nprogram: {text}");
            }
            if let Err(e) = checks::check_run(&text) {
                panic!("{e}\nprogram: {text}");
            }
        }
    }
});
