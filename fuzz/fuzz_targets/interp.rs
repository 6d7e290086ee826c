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
            let Some(program) = finvm_fuzz::load_clamped(text) else {
                return;
            };
            let _ = program;
            let Ok(mut doc) = serde_json::from_str::<serde_json::Value>(text) else {
                return;
            };
            // Rewrite the limits into the text so every path sees them.
            let limits = doc
                .as_object_mut()
                .map(|o| o.entry("limits").or_insert_with(|| serde_json::json!({})));
            if let Some(serde_json::Value::Object(l)) = limits {
                for (name, max) in [
                    ("maxSteps", 10_000),
                    ("maxIntBits", 8_192),
                    ("maxStringLength", 65_536),
                    ("maxListLength", 1_000),
                    ("maxMapSize", 1_000),
                    ("maxValueSize", 1 << 20),
                    ("maxOutputSize", 1 << 22),
                ] {
                    let v = l.get(name).and_then(|v| v.as_i64()).unwrap_or(i64::MAX);
                    l.insert(name.into(), v.min(max).into());
                }
            }
            let text = doc.to_string();
            if finvm_fuzz::load_clamped(&text).is_none() {
                return;
            }
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
            if let Err(e) = finvm::api::validate_json(&text) {
                panic!("generated program does not validate: {e}\nprogram: {text}");
            }
            if let Err(e) = checks::check_run(&text) {
                panic!("{e}\nprogram: {text}");
            }
        }
    }
});
