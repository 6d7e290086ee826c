//! Resource limits (`PROCESSES.md` §10, with `DECISIONS.md`'s enforcement).

macro_rules! limits {
    ($( $field:ident = $json:literal, $default:expr, $doc:literal; )*) => {
        /// The `limits` of a program. Every field is a 32-bit integer in JSON.
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub struct Limits {
            $(
                #[doc = $doc]
                pub $field: i32,
            )*
        }

        impl Default for Limits {
            fn default() -> Limits {
                Limits { $($field: $default,)* }
            }
        }

        impl Limits {
            /// JSON names in decode order.
            pub const NAMES: &'static [&'static str] = &[$($json),*];

            /// Sets a field by JSON name; false for an unknown name.
            pub fn set(&mut self, name: &str, v: i32) -> bool {
                match name {
                    $($json => { self.$field = v; true })*
                    _ => false,
                }
            }

            /// Reads a field by JSON name.
            pub fn get(&self, name: &str) -> Option<i32> {
                match name {
                    $($json => Some(self.$field),)*
                    _ => None,
                }
            }

            /// `(json name, value, default, description)` for every field, in order.
            pub fn describe(&self) -> Vec<(&'static str, i32, i32, &'static str)> {
                vec![$(($json, self.$field, $default, $doc)),*]
            }
        }
    };
}

limits! {
    max_steps = "maxSteps", 10_000, "Total instructions the run may execute (all processes).";
    max_call_depth = "maxCallDepth", 256, "Suspended frames a CALL may leave on the call stack.";
    max_processes = "maxProcesses", 1024, "Live processes (including main).";
    max_process_steps_per_slice = "maxProcessStepsPerSlice", 100, "Instructions per scheduler slice.";
    max_registers_per_frame = "maxRegistersPerFrame", 1024, "Registers of any frame (entry, CALL, TAIL_CALL, spawn).";
    max_frames = "maxFrames", 1024, "Same check as maxCallDepth; the smaller decides.";
    max_list_length = "maxListLength", 100_000, "Elements of any list a program builds.";
    max_map_size = "maxMapSize", 100_000, "Entries of any map a program builds.";
    max_record_fields = "maxRecordFields", 10_000, "Fields of any record a program builds.";
    max_value_depth = "maxValueDepth", 100, "Nesting depth of any value a program builds (scalars are 0).";
    max_state_entries = "maxStateEntries", 100_000, "Keys in the global state (builtin writes count).";
    max_trace_events = "maxTraceEvents", 100_000, "Trace entries recorded before the trace is truncated.";
    max_proof_events = "maxProofEvents", 100_000, "Proof events recorded before the proof trace is truncated.";
    max_mailbox_size = "maxMailboxSize", 10_000, "Messages PROC_SEND may queue in one mailbox.";
    max_remote_nodes = "maxRemoteNodes", 1024, "Remote nodes tracked.";
    max_events_emitted = "maxEventsEmitted", 10_000, "Events emitted per run (and per batch).";
    max_effects_requested = "maxEffectsRequested", 10_000, "Effect intents requested per run (and per batch).";
    max_int_bits = "maxIntBits", 4_194_304, "Bits of any integer (or Fixed/Rational part) a program computes (FinVM extension).";
    max_string_length = "maxStringLength", 16_777_216, "UTF-8 bytes of any string a builtin returns (FinVM extension).";
    max_value_size = "maxValueSize", 268_435_456, "Size of any value a program builds, in units of about one byte of its JSON text, shared parts counted per occurrence (FinVM extension).";
    max_output_size = "maxOutputSize", 268_435_456, "Size of a finished run's result and state, of a STATE_SNAPSHOT and of an effect document, in the same units (FinVM extension).";
}

/// Ceilings on limits whose value sizes one allocation or one recursion, so
/// that no setting lets a program crash the host (`docs/limits.md`): values
/// nested deeper than this would overflow the stack of the recursive
/// encoders (regression `regression_limits_deep_value_stack_overflow`),
/// and a frame larger than this is one huge allocation
/// (regression `regression_limits_huge_register_file`).
pub const CEILINGS: &[(&str, i32)] = &[
    ("maxValueDepth", MAX_VALUE_DEPTH),
    ("maxRegistersPerFrame", 65_536),
];

/// The `maxValueDepth` ceiling: the deepest value anything in FinVM builds
/// or decodes. A snapshot writes up to three JSON levels per value level,
/// which must stay within the snapshot reader's 20,000 (regression
/// `regression_limits_deepest_value_survives_a_snapshot`).
pub const MAX_VALUE_DEPTH: i32 = 5_000;

impl Limits {
    /// The `DECISIONS.md` check: `maxSteps` and `maxProcessStepsPerSlice`
    /// must be positive, and no limit may be negative; limits with a
    /// [`CEILINGS`] entry may not exceed it.
    pub fn check(&self) -> Result<(), String> {
        for (name, v, _, _) in self.describe() {
            if let Some((_, ceiling)) = CEILINGS.iter().find(|(n, _)| *n == name) {
                if v > *ceiling {
                    return Err(format!(
                        "InvalidProgram: Limit {name} must be at most {ceiling} (got {v})"
                    ));
                }
            }
            let positive = matches!(name, "maxSteps" | "maxProcessStepsPerSlice");
            if positive && v <= 0 {
                return Err(format!(
                    "InvalidProgram: Limit {name} must be positive (got {v})"
                ));
            }
            if v < 0 {
                return Err(format!(
                    "InvalidProgram: Limit {name} must not be negative (got {v})"
                ));
            }
        }
        Ok(())
    }
}
