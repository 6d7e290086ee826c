//! The two calls behind `finvm effect start` and `finvm effect resume`.
//!
//! Each returns the one-line JSON document the command prints; `main.rs`
//! reads the files, prints the document and derives the exit code from its
//! `status`.

/// The document printed while the library has no effect API yet.
const NOT_IMPLEMENTED: &str = r#"{"status":"error","error":"effect API not implemented"}"#;

/// `finvm effect start`: `overrides` is `""` when no `--overrides` file was given.
pub fn start(program: &str, overrides: &str) -> String {
    // TODO: wire to finvm::effect — replace this body with
    // `finvm::effect::start(program, overrides)`.
    let _ = (program, overrides);
    NOT_IMPLEMENTED.to_string()
}

/// `finvm effect resume`: `deliveries` is `""` when no `--deliveries` file was given.
pub fn resume(program: &str, snapshot: &str, deliveries: &str) -> String {
    // TODO: wire to finvm::effect — replace this body with
    // `finvm::effect::resume(program, snapshot, deliveries)`.
    let _ = (program, snapshot, deliveries);
    NOT_IMPLEMENTED.to_string()
}
