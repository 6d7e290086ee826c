//! High-level entry points: run a program document and get the reference's
//! JSON output.

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

/// Decodes, validates and runs a program given as JSON text, as `finvm run` does.
pub fn run_json(text: &str, opts: &RunOptions) -> RunReport {
    let _ = (text, opts);
    todo!("run_json")
}

/// Decodes and validates a program; `Ok(())` or the error text `finvm run` would print.
pub fn validate_json(text: &str) -> Result<(), String> {
    let _ = text;
    todo!("validate_json")
}
