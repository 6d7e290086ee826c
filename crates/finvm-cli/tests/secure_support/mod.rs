//! Helpers for the secure-platform CLI tests.

// Each test target compiles this module on its own and uses part of it.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};

/// A fresh directory under the system temp dir, removed on drop.
pub struct Dir(PathBuf);

impl Dir {
    /// Creates `finvm-<tag>-<pid>-<n>` under the system temp dir.
    pub fn new(tag: &str) -> Dir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "finvm-{tag}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        Dir(path)
    }

    /// A path inside the directory.
    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// The directory itself.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes a file.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.join(name);
        fs::write(&p, text).unwrap();
        p
    }

    /// Reads a file.
    pub fn read(&self, name: &str) -> String {
        fs::read_to_string(self.join(name)).unwrap_or_else(|e| panic!("cannot read {name}: {e}"))
    }

    /// True when the file exists.
    pub fn exists(&self, name: &str) -> bool {
        self.join(name).exists()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The outcome of one `finvm` invocation.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Panics with the whole outcome unless the exit code is 0.
    pub fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }

    /// Panics unless the exit code is non-zero.
    pub fn failed(self) -> Run {
        assert_ne!(
            self.code, 0,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }

    /// stdout and stderr together.
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// Runs the `finvm` binary in `dir` with `args` (and extra environment).
pub fn finvm(dir: &Dir, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_finvm"));
    cmd.current_dir(dir.path()).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out: Output = cmd.output().expect("finvm runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A program with an input schema (`x: Int` required, `note: String`
/// optional) that stores and returns `x`.
pub const PROGRAM: &str = r#"{"version":"1.0","registerCount":4,"constants":[{"string":"x"}],
 "instructions":[["LOAD_CONST",0,0],["CALL_BUILTIN",1,"input.get@1",[0]],["STATE_SET","answer",1],["RETURN",1]],
 "inputs":{"schema":[{"name":"x","type":"Int","required":true},{"name":"note","type":"String","required":false}]}}"#;

/// The run document of [`PROGRAM`] with `x = 42`.
pub const RESULT_42: &str =
    r#"{"status":"completed","steps":4,"result":{"int":"42"},"state":{"answer":{"int":"42"}}}"#;

/// A database plaintext (DATABASE.md §4.8).
pub const DB: &str = r#"{"sequence":1,"tables":[["seed",[["rec0",{"id":"rec0","timestamp":0,"content":{"seeded":true}}]]]]}"#;
