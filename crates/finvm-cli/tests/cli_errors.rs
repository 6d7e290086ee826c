//! Bad and extreme input through the real `finvm` binary: every one ends in a
//! clean JSON line and a matching exit code, never a panic or a backtrace.

mod common;

use std::process::{Command, Output};

use common::TempDir;
use finvm::opcodes::Opcode;
use serde_json::{json, Value};

const FINVM: &str = env!("CARGO_BIN_EXE_finvm");

fn finvm(args: &[&str]) -> Output {
    Command::new(FINVM)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {FINVM}: {e}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn assert_no_panic_output(output: &Output, what: &str) {
    for stream in [&output.stdout, &output.stderr] {
        let stream = text(stream);
        for marker in ["panicked", "RUST_BACKTRACE"] {
            assert!(
                !stream.contains(marker),
                "{what}: output mentions {marker:?}:\n{stream}"
            );
        }
    }
}

/// The common contract of every `finvm run`: two lines (`Loading program
/// from: <file>` and one JSON document), exit 0 iff `completed`, no panic.
/// Returns the document.
fn check_run(output: &Output, file: &str, what: &str) -> Value {
    assert_no_panic_output(output, what);
    let stdout = text(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.len(),
        2,
        "{what}: expected two stdout lines, got:\n{stdout}"
    );
    assert_eq!(lines[0], format!("Loading program from: {file}"), "{what}");
    let doc: Value = serde_json::from_str(lines[1])
        .unwrap_or_else(|e| panic!("{what}: not one JSON line ({e}):\n{stdout}"));
    let status = doc["status"].as_str().unwrap_or("");
    assert!(
        ["completed", "failed", "error"].contains(&status),
        "{what}: bad status in {doc}"
    );
    assert_eq!(
        output.status.success(),
        status == "completed",
        "{what}: exit {:?} with {doc}",
        output.status.code()
    );
    if let Some(error) = doc["error"].as_str() {
        assert!(
            !error.starts_with("InternalError"),
            "{what}: the VM panicked: {error}"
        );
    }
    doc
}

/// Writes `program` to a temp file and runs it.
fn run_bytes(program: impl AsRef<[u8]>, what: &str) -> Value {
    let dir = TempDir::new("cli-errors").unwrap();
    let file = dir.write("program.json", program).unwrap();
    let file = file.to_str().unwrap();
    check_run(&finvm(&["run", file]), file, what)
}

fn run_value(program: &Value, what: &str) -> Value {
    run_bytes(serde_json::to_string(program).unwrap(), what)
}

fn assert_failed(doc: &Value, what: &str) {
    assert_eq!(doc["status"], "failed", "{what}: {doc}");
}

#[test]
fn empty_file_fails_to_decode() {
    let doc = run_bytes("", "empty file");
    assert_failed(&doc, "empty file");
}

#[test]
fn invalid_json_fails_to_decode() {
    for (i, program) in [
        "{",
        "{\"instructions\": [",
        "not json",
        "{\"instructions\":[[\"RETURN\",0]]} trailing",
        "\u{feff}{\"instructions\":[[\"RETURN\",0]]}",
        "[1,]",
        "{\"a\":01}",
    ]
    .iter()
    .enumerate()
    {
        let what = format!("invalid JSON #{i} {program:?}");
        assert_failed(&run_bytes(program, &what), &what);
    }
}

#[test]
fn missing_file_is_an_error() {
    let dir = TempDir::new("cli-errors").unwrap();
    let file = dir.path().join("missing.json");
    let file = file.to_str().unwrap();
    let doc = check_run(&finvm(&["run", file]), file, "missing file");
    assert_eq!(
        doc,
        json!({"status": "error", "error": format!("ENOENT: no such file or directory, open '{file}'")})
    );
}

#[test]
fn directory_is_an_error() {
    let dir = TempDir::new("cli-errors").unwrap();
    let file = dir.path().to_str().unwrap();
    let doc = check_run(&finvm(&["run", file]), file, "directory");
    assert_eq!(doc["status"], "error", "{doc}");
    assert!(
        doc["error"].as_str().unwrap().starts_with("EISDIR: "),
        "{doc}"
    );
}

#[test]
fn invalid_utf8_is_an_error() {
    let mut program = b"{\"instructions\":[[\"RETURN\",0]],\"x\":\"".to_vec();
    program.extend_from_slice(&[0xff, 0xfe, 0xc3]);
    program.extend_from_slice(b"\"}");
    let doc = run_bytes(&program, "invalid UTF-8");
    assert_eq!(doc["status"], "error", "{doc}");
    assert!(doc["error"].as_str().unwrap().contains("UTF-8"), "{doc}");
}

#[test]
fn ten_megabyte_program_runs() {
    const NOOPS: usize = 1_150_000;
    let mut program = String::from(r#"{"limits":{"maxSteps":2000000},"instructions":["#);
    program.push_str(&r#"["NOOP"],"#.repeat(NOOPS));
    program.push_str(r#"["RETURN",0]]}"#);
    assert!(program.len() >= 10_000_000, "{} bytes", program.len());
    let doc = run_bytes(&program, "10 MB program");
    assert_eq!(doc["status"], "completed", "{doc}");
    assert_eq!(doc["steps"], json!(NOOPS + 1), "{doc}");
}

fn nested_list_constant(depth: usize) -> String {
    format!(
        r#"{{"constants":[{}{}],"instructions":[["LOAD_CONST",0,0],["RETURN",0]]}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    )
}

#[test]
fn constant_nested_10_000_deep_is_clean() {
    run_bytes(nested_list_constant(10_000), "nesting 10,000 deep");
}

#[test]
fn constant_nested_1_000_000_deep_is_clean() {
    run_bytes(nested_list_constant(1_000_000), "nesting 1,000,000 deep");
}

#[test]
fn deeply_nested_program_structure_is_clean() {
    // Depth in the program document itself rather than in a Value.
    let depth = 100_000;
    let program = format!(
        r#"{{"instructions":[["RETURN",0]],"metadata":{}1{}}}"#,
        r#"{"a":"#.repeat(depth),
        "}".repeat(depth)
    );
    run_bytes(program, "deep unknown key");
}

#[test]
fn int_constant_of_100_000_digits_round_trips() {
    let digits = "9".repeat(100_000);
    let program = json!({
        "constants": [{"int": digits}],
        "instructions": [["LOAD_CONST", 0, 0], ["RETURN", 0]]
    });
    let doc = run_value(&program, "100,000-digit int");
    if doc["status"] == "completed" {
        assert_eq!(doc["result"], json!({"int": digits}), "100,000-digit int");
    }
}

#[test]
fn every_opcode_with_wrong_operands_is_clean() {
    assert_eq!(Opcode::ALL.len(), 119);
    for op in Opcode::ALL {
        let name = op.name();

        let what = format!("[{name}, \"x\", \"y\", \"z\", \"w\"]");
        run_value(
            &json!({"instructions": [[name, "x", "y", "z", "w"]]}),
            &what,
        );

        let what = format!("[{name}]");
        let doc = run_value(&json!({"instructions": [[name]]}), &what);
        if !op.args().is_empty() {
            assert_failed(&doc, &what);
            assert!(
                doc["error"]
                    .as_str()
                    .unwrap_or("")
                    .contains("Missing argument 1"),
                "{what}: {doc}"
            );
        }

        let what = format!("{{\"op\": {name}, \"args\": \"x\"}}");
        run_value(
            &json!({"instructions": [{"op": name, "args": "x"}], "registerCount": -1}),
            &what,
        );
    }
}

#[test]
fn validate_reports_without_panicking() {
    let dir = TempDir::new("cli-errors").unwrap();
    let good = dir
        .write("good.json", r#"{"instructions":[["RETURN",0]]}"#)
        .unwrap();
    let bad = dir.write("bad.json", "{").unwrap();
    let missing = dir.path().join("missing.json");

    let output = finvm(&["validate", good.to_str().unwrap()]);
    assert_no_panic_output(&output, "validate good");
    assert!(output.status.success(), "{}", text(&output.stdout));
    assert_eq!(text(&output.stdout), "valid\n");

    for path in [bad, missing] {
        let output = finvm(&["validate", path.to_str().unwrap()]);
        assert_no_panic_output(&output, "validate bad");
        assert!(!output.status.success());
        let stdout = text(&output.stdout);
        assert_eq!(stdout.lines().count(), 1, "{stdout}");
        assert!(!stdout.starts_with("valid"), "{stdout}");
        assert!(!stdout.starts_with("InternalError"), "{stdout}");
    }
}

#[test]
fn trace_goes_to_stderr_only() {
    let dir = TempDir::new("cli-errors").unwrap();
    let file = dir
        .write(
            "program.json",
            r#"{"constants":[1],"instructions":[["LOAD_CONST",0,0],["RETURN",0]]}"#,
        )
        .unwrap();
    let file = file.to_str().unwrap();
    let plain = finvm(&["run", file]);
    let traced = finvm(&["run", "--trace", file]);
    let doc = check_run(&traced, file, "--trace");
    assert_eq!(doc["status"], "completed", "{doc}");
    assert_eq!(traced.stdout, plain.stdout);
}

#[test]
fn effect_commands_report_unreadable_files_as_errors() {
    let dir = TempDir::new("cli-errors").unwrap();
    let program = dir
        .write("program.json", r#"{"instructions":[["RETURN",0]]}"#)
        .unwrap();
    let program = program.to_str().unwrap();
    let missing = dir.path().join("missing.json");
    let missing = missing.to_str().unwrap();
    for args in [
        vec!["effect", "start", missing],
        vec!["effect", "start", program, "--overrides", missing],
        vec!["effect", "resume", program, "--snapshot", missing],
        vec![
            "effect",
            "resume",
            program,
            "--snapshot",
            program,
            "--deliveries",
            missing,
        ],
    ] {
        let output = finvm(&args);
        assert_no_panic_output(&output, "effect");
        assert!(!output.status.success(), "{args:?}");
        let doc: Value = serde_json::from_str(text(&output.stdout).trim()).unwrap();
        assert_eq!(
            doc,
            json!({"status": "error", "error": format!("ENOENT: no such file or directory, open '{missing}'")}),
            "{args:?}"
        );
    }
}

#[test]
fn usage_help_and_version() {
    let output = finvm(&[]);
    assert!(output.status.success());
    assert!(text(&output.stdout).contains("Usage: finvm"));

    for args in [["--help"], ["--version"]] {
        let output = finvm(&args);
        assert!(output.status.success(), "{args:?}");
        assert!(!output.stdout.is_empty(), "{args:?}");
    }
    for args in [
        vec!["run", "--help"],
        vec!["validate", "--help"],
        vec!["effect", "--help"],
        vec!["effect", "start", "--help"],
        vec!["effect", "resume", "--help"],
    ] {
        let output = finvm(&args);
        assert!(output.status.success(), "{args:?}");
        assert!(text(&output.stdout).contains("Usage: finvm"), "{args:?}");
    }

    let output = finvm(&["run"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        text(&output.stdout),
        "Error: Please provide a path to a program file.\n"
    );

    let output = finvm(&["no-such-command"]);
    assert_no_panic_output(&output, "unknown command");
    assert!(!output.status.success());
}
