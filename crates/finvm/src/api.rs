//! High-level entry points: run a program document and get the reference's
//! JSON output.
//!
//! ```
//! let program = r#"{"registerCount":4,"constants":[{"int":"40"},{"int":"2"}],
//!   "instructions":[["LOAD_CONST",0,0],["LOAD_CONST",1,1],["ADD",2,0,1],
//!   ["STATE_SET","answer",2],["RETURN",2]]}"#;
//! let report = finvm::api::run_json(program, &Default::default());
//! assert!(report.ok);
//! assert_eq!(report.json,
//!   r#"{"status":"completed","steps":5,"result":{"int":"42"},"state":{"answer":{"int":"42"}}}"#);
//! ```

use crate::decode::decode_program;
use crate::machine::{Machine, Mode};
use crate::program::Program;
use crate::validate::compile;
use crate::value::json::{encode_value, write_json_str};
use crate::value::{Str, Value};
use std::collections::BTreeMap;
use std::rc::Rc;

/// Options for [`run_json`].
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Override the program's `performanceMode` (None keeps the program's own).
    pub performance_mode: Option<bool>,
    /// Collect the execution trace (ignored in performance mode).
    pub collect_trace: bool,
}

/// The outcome of [`run_json`].
#[derive(Clone, Debug)]
pub struct RunReport {
    /// The one-line JSON document (`{"status":"completed",...}` or `{"status":"failed","error":...}`).
    pub json: String,
    /// True for a `completed` run (exit code 0 in the CLI).
    pub ok: bool,
    /// The trace lines, when requested and recorded.
    pub trace: Vec<String>,
}

/// A finished run: the machine after the run, or the error that ended it.
#[derive(Debug)]
pub struct RunOutcome {
    /// The machine as the run left it (absent when decoding or validation failed).
    pub machine: Option<Machine>,
    /// `Ok` for a completed run, else the rendered error.
    pub result: Result<(), String>,
}

/// Decodes and validates program text into an executable [`Program`].
/// The error is the text `finvm run` prints.
pub fn load_program(text: &str) -> Result<Program, String> {
    let doc = decode_program(text)?;
    compile(doc).map_err(|e| e.to_string())
}

/// Runs a loaded program to the end (`finvm run` semantics).
pub fn run_program(program: Rc<Program>, opts: &RunOptions) -> RunOutcome {
    let mut m = match Machine::new(program) {
        Ok(m) => m,
        Err(e) => {
            return RunOutcome {
                machine: None,
                result: Err(e.to_string()),
            }
        }
    };
    if let Some(pm) = opts.performance_mode {
        m.core.performance_mode = pm;
    }
    m.core.tracing = opts.collect_trace && !m.core.performance_mode;
    let r = m.run(Mode::Full).map_err(|e| e.to_string()).and_then(|()| {
        check_output_size(
            crate::snapshot::output_size(&m),
            &m,
            "the run's result and state",
        )
    });
    RunOutcome {
        machine: Some(m),
        result: r,
    }
}

/// The `maxOutputSize` check of a finished run or an effect document: the
/// error text, or `Ok` when `size` is within the limit.
pub fn check_output_size(size: u64, m: &Machine, what: &str) -> Result<(), String> {
    if size > m.core.limits.max_output_size.max(0) as u64 {
        return Err(crate::error::VmError::new(
            crate::error::ErrorCode::InvalidInstruction,
            format!("{what} exceeded maxOutputSize"),
        )
        .to_string());
    }
    Ok(())
}

/// Decodes, validates and runs a program given as JSON text, as `finvm run` does.
pub fn run_json(text: &str, opts: &RunOptions) -> RunReport {
    let program = match load_program(text) {
        Ok(p) => Rc::new(p),
        Err(e) => {
            return RunReport {
                json: failed_json(&e),
                ok: false,
                trace: Vec::new(),
            }
        }
    };
    let out = run_program(program, opts);
    let trace = out.machine.as_ref().map(trace_lines).unwrap_or_default();
    match (&out.result, &out.machine) {
        (Ok(()), Some(m)) => RunReport {
            json: completed_json(m),
            ok: true,
            trace,
        },
        (Err(e), _) => RunReport {
            json: failed_json(e),
            ok: false,
            trace,
        },
        (Ok(()), None) => unreachable!("a completed run has a machine"),
    }
}

/// Decodes and validates a program; `Ok(())` or the error text `finvm run` would print.
pub fn validate_json(text: &str) -> Result<(), String> {
    load_program(text).map(|_| ())
}

/// `{"status":"failed","error":"..."}`.
pub fn failed_json(error: &str) -> String {
    status_error_json("failed", error)
}

/// `{"status":"<status>","error":"..."}`.
pub fn status_error_json(status: &str, error: &str) -> String {
    let mut s = format!("{{\"status\":\"{status}\",\"error\":");
    write_json_str(error, &mut s);
    s.push('}');
    s
}

/// `{"status":"completed","steps":N,"result":V,"state":{...}}`.
pub fn completed_json(m: &Machine) -> String {
    let mut s = format!(
        "{{\"status\":\"completed\",\"steps\":{},\"result\":",
        m.core.steps
    );
    encode_value(&m.main_result(), &mut s);
    s.push_str(",\"state\":");
    encode_state(&m.core.state, &mut s);
    s.push('}');
    s
}

/// Encodes a state map as a JSON object (keys in UTF-16 order).
pub fn encode_state(state: &BTreeMap<Str, Value>, s: &mut String) {
    s.push('{');
    for (i, (k, v)) in state.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        write_json_str(k, s);
        s.push(':');
        encode_value(v, s);
    }
    s.push('}');
}

/// The recorded trace as text lines: `<step> <function>:<pc> <instruction JSON>`.
pub fn trace_lines(m: &Machine) -> Vec<String> {
    let program = &m.core.program;
    let mut out: Vec<String> = m
        .core
        .trace
        .iter()
        .enumerate()
        .map(|(i, (f, pc))| {
            let func = &program.functions[f as usize];
            let ins = func
                .raw
                .get(pc as usize)
                .map(|r| r.to_json())
                .unwrap_or_default();
            format!("{} {}:{} {}", i + 1, func.id, pc, ins)
        })
        .collect();
    if m.core.trace_truncated {
        out.push(format!(
            "... trace truncated at maxTraceEvents = {}",
            m.core.limits.max_trace_events
        ));
    }
    out
}
