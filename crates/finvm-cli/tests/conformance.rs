//! The conformance corpus, run against the real `finvm` binary.
//!
//! One trial per case file, named after the file stem. Cases come from the
//! in-repo copy `tests-data/conformance/cases/` and from
//! `../shared/conformance/cases/` next to the workspace root when it exists;
//! on a name clash the shared copy wins, so new cases join at once
//! (`scripts/refresh-conformance.sh` updates the in-repo copy).
//!
//! The comparison rules are those of the corpus README
//! (`tests-data/conformance/README.md`, "How a runner should compare"). On top
//! of them, every case also checks determinism: a `run` case runs twice with
//! byte-identical stdout, and a third time with `--performance-mode` with the
//! same `status`, `result`, `state` and `steps`; each effect call runs twice
//! with byte-identical stdout.
//!
//! Set `FINVM_CONFORMANCE_BIN` to run the corpus against another binary with
//! the same command-line contract (by default: this package's `finvm`).
//!
//! A case is reported `ignored` only when its stem is listed in
//! `tests-data/conformance/known-failures.txt`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;

use common::TempDir;
use libtest_mimic::{Arguments, Failed, Trial};
use serde_json::{Map, Value};

const FINVM: &str = env!("CARGO_BIN_EXE_finvm");
const BIN_OVERRIDE_ENV: &str = "FINVM_CONFORMANCE_BIN";

/// Keys a `run` case's `expect` may hold.
const RUN_KEYS: &[&str] = &["status", "result", "state", "steps", "error_contains"];
/// Keys an effect case's `start_expect` / `resumes[i].expect` may hold.
const EFFECT_KEYS: &[&str] = &[
    "status",
    "pending",
    "events",
    "result",
    "state",
    "error_contains",
];
/// Output fields that must not depend on `--performance-mode`.
const PERF_INVARIANT_KEYS: &[&str] = &["status", "result", "state", "steps"];
/// Effect statuses the CLI reports with exit code 0.
const EFFECT_OK_STATUSES: &[&str] = &["suspended", "deadlock", "completed"];

fn main() {
    let args = Arguments::from_args();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let data = root.join("tests-data/conformance");

    // Later directories win on a name clash: the shared copy comes last.
    let mut cases: BTreeMap<String, PathBuf> = BTreeMap::new();
    for dir in [data.join("cases"), root.join("../shared/conformance/cases")] {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|ext| ext == "json") {
                if let Some(name) = path.file_name().and_then(|n| n.to_str()) {
                    cases.insert(name.to_string(), path);
                }
            }
        }
    }
    let known_failures = read_known_failures(&data.join("known-failures.txt"));

    let stems: BTreeSet<String> = cases.keys().map(|name| stem_of(name)).collect();
    let stale: Vec<String> = known_failures.difference(&stems).cloned().collect();
    let case_count = cases.len();

    let mut trials = vec![
        Trial::test("harness::corpus-is-present", move || {
            if case_count == 0 {
                return Err(
                    "no conformance cases found: run scripts/refresh-conformance.sh".into(),
                );
            }
            Ok(())
        }),
        Trial::test("harness::known-failures-name-existing-cases", move || {
            if stale.is_empty() {
                return Ok(());
            }
            Err(format!(
                "known-failures.txt lists cases that do not exist: {}",
                stale.join(", ")
            )
            .into())
        }),
    ];
    for (name, path) in cases {
        let stem = stem_of(&name);
        let ignored = known_failures.contains(&stem);
        trials.push(Trial::test(stem, move || run_case_file(&path)).with_ignored_flag(ignored));
    }
    libtest_mimic::run(&args, trials).exit();
}

fn stem_of(file_name: &str) -> String {
    file_name
        .strip_suffix(".json")
        .unwrap_or(file_name)
        .to_string()
}

/// One stem per line; `#` starts a comment; a missing file is an empty list.
fn read_known_failures(path: &Path) -> BTreeSet<String> {
    let text = fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|line| line.split('#').next().unwrap_or("").trim())
        .filter(|line| !line.is_empty())
        .map(str::to_string)
        .collect()
}

fn run_case_file(path: &Path) -> Result<(), Failed> {
    let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let case: Value = serde_json::from_str(&text)
        .map_err(|e| format!("{}: bad case JSON: {e}", path.display()))?;
    let dir = TempDir::new("conformance")?;
    match case.get("kind").and_then(Value::as_str) {
        Some("run") => run_case(&case, &dir),
        Some("effect") => effect_case(&case, &dir),
        other => Err(format!("unknown case kind {other:?}")),
    }
    .map_err(Failed::from)
}

/// A `run` case: README rules, exit code, and determinism.
fn run_case(case: &Value, dir: &TempDir) -> Result<(), String> {
    let expect = object_at(case, "expect")?;
    let program = dir.write("program.json", to_json(&case["program"]))?;
    let file = path_str(&program)?;

    let first = finvm(&["run", file])?;
    let doc = last_json_line(&first)?;
    let mut problems = Vec::new();

    let header = format!("Loading program from: {file}");
    if stdout_text(&first).lines().next() != Some(header.as_str()) {
        problems.push(format!("stdout does not start with `{header}`"));
    }
    compare(expect, &doc, RUN_KEYS, &mut problems);
    let completed = doc.get("status").and_then(Value::as_str) == Some("completed");
    check_exit(&first, completed, &mut problems);

    let second = finvm(&["run", file])?;
    if second.stdout != first.stdout || second.status.code() != first.status.code() {
        problems.push(format!(
            "not deterministic: a second identical run printed\n  {}\n  (exit {:?}; first run exit {:?})",
            clip(&stdout_text(&second)),
            second.status.code(),
            first.status.code()
        ));
    }

    let perf = finvm(&["run", "--performance-mode", file])?;
    let perf_doc = last_json_line(&perf)?;
    for key in PERF_INVARIANT_KEYS {
        if perf_doc.get(*key) != doc.get(*key) {
            problems.push(format!(
                "`{key}` differs with --performance-mode: {} (normal run: {})",
                show(perf_doc.get(*key)),
                show(doc.get(*key))
            ));
        }
    }

    finish(problems, &first)
}

/// An effect case: start, then the chain of resumes, each call run twice.
fn effect_case(case: &Value, dir: &TempDir) -> Result<(), String> {
    let program = dir.write("program.json", to_json(&case["program"]))?;
    let program = path_str(&program)?.to_string();

    let mut args = vec!["effect".to_string(), "start".to_string(), program.clone()];
    if let Some(overrides) = case.get("overrides") {
        let file = dir.write("overrides.json", to_json(overrides))?;
        args.extend(["--overrides".to_string(), path_str(&file)?.to_string()]);
    }
    let mut doc = effect_stage("start", &args, object_at(case, "start_expect")?)?;

    let resumes = match case.get("resumes") {
        None => &Vec::new(),
        Some(Value::Array(resumes)) => resumes,
        Some(_) => return Err("bad case: `resumes` is not an array".into()),
    };
    for (i, resume) in resumes.iter().enumerate() {
        let stage = format!("resume {i}");
        let snapshot = doc
            .get("snapshot")
            .ok_or_else(|| format!("{stage}: the previous document has no `snapshot`"))?;
        let snapshot = dir.write(&format!("snapshot-{i}.json"), to_json(snapshot))?;
        let mut args = vec![
            "effect".to_string(),
            "resume".to_string(),
            program.clone(),
            "--snapshot".to_string(),
            path_str(&snapshot)?.to_string(),
        ];
        if let Some(deliveries) = resume.get("deliveries") {
            let file = dir.write(&format!("deliveries-{i}.json"), to_json(deliveries))?;
            args.extend(["--deliveries".to_string(), path_str(&file)?.to_string()]);
        }
        let expect = object_at(resume, "expect").map_err(|e| format!("{stage}: {e}"))?;
        doc = effect_stage(&stage, &args, expect)?;
    }
    Ok(())
}

/// Runs one effect call twice and compares it; returns the parsed document.
fn effect_stage(
    stage: &str,
    args: &[String],
    expect: &Map<String, Value>,
) -> Result<Value, String> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let first = finvm(&args)?;
    let doc = last_json_line(&first).map_err(|e| format!("{stage}: {e}"))?;
    let mut problems = Vec::new();
    compare(expect, &doc, EFFECT_KEYS, &mut problems);
    let status = doc.get("status").and_then(Value::as_str).unwrap_or("");
    check_exit(&first, EFFECT_OK_STATUSES.contains(&status), &mut problems);
    let second = finvm(&args)?;
    if second.stdout != first.stdout {
        problems.push(format!(
            "not deterministic: a second identical call printed\n  {}",
            clip(&stdout_text(&second))
        ));
    }
    finish(problems, &first).map_err(|e| format!("{stage}: {e}"))?;
    Ok(doc)
}

/// Checks every key of `expect` against the output document. A caught panic
/// (`InternalError: ...`) is a failure whatever the case expects.
fn compare(expect: &Map<String, Value>, doc: &Value, allowed: &[&str], problems: &mut Vec<String>) {
    if let Some(error) = doc.get("error").and_then(Value::as_str) {
        if error.starts_with("InternalError") {
            problems.push(format!("the VM panicked: {}", clip(error)));
        }
    }
    for (key, want) in expect {
        if !allowed.contains(&key.as_str()) {
            problems.push(format!("bad case: unknown expect key `{key}`"));
            continue;
        }
        match key.as_str() {
            "error_contains" => {
                let Some(fragment) = want.as_str() else {
                    problems.push("bad case: `error_contains` is not a string".into());
                    continue;
                };
                match doc.get("error").and_then(Value::as_str) {
                    Some(error) if error.contains(fragment) => {}
                    got => problems.push(format!(
                        "`error` should contain {fragment:?}, got {}",
                        show(got.map(|s| Value::String(s.to_string())).as_ref())
                    )),
                }
            }
            "steps" => {
                let got = doc.get("steps");
                if want.as_i64().is_none() || got.and_then(Value::as_i64) != want.as_i64() {
                    problems.push(format!("`steps`: expected {want}, got {}", show(got)));
                }
            }
            "pending" => compare_pending(want, doc.get("pending"), problems),
            // status, result, state, events: JSON-value equality (object
            // member order is ignored, array order is not).
            _ => {
                let got = doc.get(key);
                if got != Some(want) {
                    problems.push(format!(
                        "`{key}`:\n  expected {}\n  got      {}",
                        clip(&want.to_string()),
                        show(got)
                    ));
                }
            }
        }
    }
}

/// `pending`: same length; each expected item lists only the fields checked.
fn compare_pending(want: &Value, got: Option<&Value>, problems: &mut Vec<String>) {
    let (Some(want), Some(got)) = (want.as_array(), got.and_then(Value::as_array)) else {
        problems.push(format!(
            "`pending`: expected an array like {}, got {}",
            clip(&want.to_string()),
            show(got)
        ));
        return;
    };
    if want.len() != got.len() {
        problems.push(format!(
            "`pending`: expected {} items, got {}: {}",
            want.len(),
            got.len(),
            clip(&Value::Array(got.clone()).to_string())
        ));
        return;
    }
    for (i, (want_item, got_item)) in want.iter().zip(got).enumerate() {
        let Some(fields) = want_item.as_object() else {
            problems.push(format!("bad case: pending[{i}] is not an object"));
            continue;
        };
        for (field, value) in fields {
            let actual = got_item.get(field);
            if actual != Some(value) {
                problems.push(format!(
                    "`pending[{i}].{field}`: expected {}, got {}",
                    clip(&value.to_string()),
                    show(actual)
                ));
            }
        }
    }
}

fn check_exit(output: &Output, should_succeed: bool, problems: &mut Vec<String>) {
    if output.status.success() != should_succeed {
        problems.push(format!(
            "exit status {:?}, expected {}",
            output.status.code(),
            if should_succeed { "0" } else { "non-zero" }
        ));
    }
}

fn finish(problems: Vec<String>, output: &Output) -> Result<(), String> {
    if problems.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        problems.join("\n"),
        clip(&stdout_text(output)),
        clip(&String::from_utf8_lossy(&output.stderr))
    ))
}

fn finvm(args: &[&str]) -> Result<Output, String> {
    let bin = std::env::var_os(BIN_OVERRIDE_ENV).unwrap_or_else(|| FINVM.into());
    Command::new(&bin)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", bin.to_string_lossy()))
}

/// The README's rule: the last non-empty stdout line, parsed as JSON.
fn last_json_line(output: &Output) -> Result<Value, String> {
    let stdout = stdout_text(output);
    let line = stdout
        .lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .ok_or_else(|| {
            format!(
                "no output (exit {:?}); stderr:\n{}",
                output.status.code(),
                clip(&String::from_utf8_lossy(&output.stderr))
            )
        })?;
    serde_json::from_str(line).map_err(|e| {
        format!(
            "last stdout line is not JSON ({e}): {}\n--- stderr ---\n{}",
            clip(line),
            clip(&String::from_utf8_lossy(&output.stderr))
        )
    })
}

fn stdout_text(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn object_at<'a>(value: &'a Value, key: &str) -> Result<&'a Map<String, Value>, String> {
    value
        .get(key)
        .and_then(Value::as_object)
        .ok_or_else(|| format!("bad case: `{key}` is missing or not an object"))
}

fn to_json(value: &Value) -> String {
    serde_json::to_string(value).expect("a JSON value always serializes")
}

fn path_str(path: &Path) -> Result<&str, String> {
    path.to_str()
        .ok_or_else(|| format!("temp path is not UTF-8: {}", path.display()))
}

fn show(value: Option<&Value>) -> String {
    value.map_or_else(|| "(absent)".to_string(), |v| clip(&v.to_string()))
}

/// Shortens long text for failure messages.
fn clip(text: &str) -> String {
    const MAX: usize = 2000;
    if text.len() <= MAX {
        return text.to_string();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &text[..end], text.len())
}
