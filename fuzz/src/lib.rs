//! Shared pieces of the FinVM fuzz targets: the program generator and the
//! differential checks (the same files the property tests use), a
//! [`Source`] over libFuzzer input, and helpers to run arbitrary program
//! text under small limits.

use arbitrary::{Arbitrary, Unstructured};
use finvm::decode::decode_program;
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

/// A generated program as an [`Arbitrary`] input: valid by construction,
/// over every opcode, with processes, effects and state machines, under
/// small limits.
#[derive(Clone, Debug)]
pub struct GenProgram(pub Generated);

impl<'a> Arbitrary<'a> for GenProgram {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(GenProgram(progen::program(&mut Fuzzed(u), Shape::default())))
    }
}

/// Clamps the limits that bound a run's time and memory to fuzzing sizes.
pub fn clamp_limits(l: &mut Limits) {
    let clamp = |v: &mut i32, max: i32| *v = (*v).min(max);
    clamp(&mut l.max_steps, 10_000);
    clamp(&mut l.max_int_bits, 8_192);
    clamp(&mut l.max_string_length, 65_536);
    clamp(&mut l.max_list_length, 1_000);
    clamp(&mut l.max_map_size, 1_000);
    clamp(&mut l.max_record_fields, 1_000);
    clamp(&mut l.max_processes, 64);
    clamp(&mut l.max_mailbox_size, 64);
    clamp(&mut l.max_registers_per_frame, 256);
    clamp(&mut l.max_call_depth, 64);
    clamp(&mut l.max_frames, 64);
    clamp(&mut l.max_trace_events, 1_000);
    clamp(&mut l.max_proof_events, 1_000);
    clamp(&mut l.max_value_depth, 100);
    clamp(&mut l.max_value_size, 1 << 20);
    clamp(&mut l.max_output_size, 1 << 22);
}

/// Decodes and validates program text with its limits clamped; `None` when
/// it does not load.
pub fn load_clamped(text: &str) -> Option<Program> {
    let mut doc = decode_program(text).ok()?;
    clamp_limits(&mut doc.limits);
    compile(doc).ok()
}
