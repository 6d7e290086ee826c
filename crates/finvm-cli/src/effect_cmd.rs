//! The two calls behind `finvm effect start` and `finvm effect resume`.
//!
//! Each returns the one-line JSON document the command prints; `main.rs`
//! reads the files, prints the document and derives the exit code from its
//! `status`. The work is done by [`finvm::effect`].

/// `finvm effect start`: `overrides` is `""` when no `--overrides` file was given.
pub fn start(program: &str, overrides: &str) -> String {
    finvm::effect::start(program, overrides)
}

/// `finvm effect resume`: `deliveries` is `""` when no `--deliveries` file was given.
pub fn resume(program: &str, snapshot: &str, deliveries: &str) -> String {
    finvm::effect::resume(program, snapshot, deliveries)
}
