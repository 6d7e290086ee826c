//! Shared pieces of the FinVM fuzz targets: the program generator and the
//! differential checks (the same files the property tests use), a
//! [`Source`] over libFuzzer input, and helpers to run arbitrary program
//! text under small limits.

use arbitrary::{Arbitrary, Unstructured};
use finvm::decode::{decode_program, decode_program_json};
use finvm::limits::Limits;
use finvm::program::Program;
use finvm::validate::compile;

#[path = "../../crates/finvm/tests/support/checks.rs"]
pub mod checks;
#[path = "../../crates/finvm/tests/support/progen.rs"]
pub mod progen;

pub use progen::{Generated, Shape, Source};

/// Choices from libFuzzer input (0 once the input is exhausted).
pub struct Fuzzed<'a, 'b>(pub &'b mut Unstructured<'a>);

impl Source for Fuzzed<'_, '_> {
    fn below(&mut self, n: usize) -> usize {
        if n <= 1 {
            return 0;
        }
        self.0.int_in_range(0..=n - 1).unwrap_or(0)
    }
}

/// The shape of [`GenProgram`]: the property tests' default with
/// `maxSteps` ≤ 2,000 (as the `snapshot` target). Each program runs five
/// times ([`checks::check_program`]); at 10,000 steps the few programs that
/// use their whole budget took four fifths of the target's time, and the
/// corpus covered 0.3% more edges than at 2,000 (paths the fuzzer also
/// reaches in fewer steps). The property tests keep 10,000.
pub const GEN_SHAPE: Shape = Shape {
    max_body: 40,
    max_steps: 2_000,
    template_weight: 4,
};

/// A generated program as an [`Arbitrary`] input: valid by construction,
/// over every opcode, with processes, effects and state machines, under
/// small limits ([`GEN_SHAPE`]).
#[derive(Clone, Debug)]
pub struct GenProgram(pub Generated);

impl<'a> Arbitrary<'a> for GenProgram {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(GenProgram(progen::program(&mut Fuzzed(u), GEN_SHAPE)))
    }
}

/// Decodes and validates a generated program from its JSON document
/// (what `load_program(&g.text())` gives, without printing and re-parsing
/// the text).
pub fn load_generated(g: &Generated) -> Result<Program, String> {
    let doc = decode_program_json(&g.doc, None)?;
    compile(doc).map_err(|e| e.to_string())
}

/// The limits that bound a run's time and memory, and their fuzzing sizes.
pub const CLAMPS: &[(&str, i32)] = &[
    ("maxSteps", 10_000),
    ("maxIntBits", 8_192),
    ("maxStringLength", 65_536),
    ("maxListLength", 1_000),
    ("maxMapSize", 1_000),
    ("maxRecordFields", 1_000),
    ("maxProcesses", 16),
    ("maxMailboxSize", 64),
    ("maxRegistersPerFrame", 256),
    ("maxCallDepth", 64),
    ("maxFrames", 64),
    ("maxTraceEvents", 1_000),
    ("maxProofEvents", 1_000),
    ("maxValueDepth", 100),
    ("maxValueSize", 1 << 20),
    ("maxOutputSize", 1 << 20),
];

/// Clamps the limits that bound a run's time and memory to fuzzing sizes.
pub fn clamp_limits(l: &mut Limits) {
    for (name, max) in CLAMPS {
        if let Some(v) = l.get(name) {
            l.set(name, v.min(*max));
        }
    }
}

/// Program text with its `limits` clamped to fuzzing sizes (`None` when
/// the text is not a JSON object).
pub fn clamp_text(text: &str) -> Option<String> {
    let mut doc: serde_json::Value = serde_json::from_str(text).ok()?;
    let obj = doc.as_object_mut()?;
    if !obj.get("limits").is_some_and(|l| l.is_object()) {
        obj.insert("limits".into(), serde_json::json!({}));
    }
    let limits = obj.get_mut("limits")?.as_object_mut()?;
    for (name, max) in CLAMPS {
        let v = limits
            .get(*name)
            .and_then(|v| v.as_i64())
            .unwrap_or(i64::MAX);
        limits.insert(name.to_string(), v.min(i64::from(*max)).into());
    }
    Some(doc.to_string())
}

/// Decodes and validates program text with its limits clamped; `None` when
/// it does not load.
pub fn load_clamped(text: &str) -> Option<Program> {
    let mut doc = decode_program(text).ok()?;
    clamp_limits(&mut doc.limits);
    compile(doc).ok()
}
