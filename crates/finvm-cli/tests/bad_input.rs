//! Bad input everywhere (issue 7, part 4): every file a `finvm` command
//! reads — program, overrides, snapshot, deliveries, envelopes, grants,
//! inputs, journals — given a missing file, a directory, invalid UTF-8,
//! invalid JSON, JSON of the wrong shape, a 100 MB file or nesting 100,000
//! deep answers with a one-line error and a non-zero exit: never a panic, a
//! backtrace, a hang or a crash.
//!
//! `cli_errors.rs` already pins the exact messages of some of these for
//! `run`, `validate` and the effect commands; this file sweeps the whole
//! matrix of commands × bad files and checks the contract only.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::TempDir;

const FINVM: &str = env!("CARGO_BIN_EXE_finvm");

/// The kinds of bad file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bad {
    Missing,
    Directory,
    InvalidUtf8,
    InvalidJson,
    WrongShape,
    Huge,
    Deep,
}

const ALL_BAD: [Bad; 7] = [
    Bad::Missing,
    Bad::Directory,
    Bad::InvalidUtf8,
    Bad::InvalidJson,
    Bad::WrongShape,
    Bad::Huge,
    Bad::Deep,
];

/// Makes a bad file of the kind in `dir`.
fn bad_file(dir: &TempDir, bad: Bad) -> PathBuf {
    match bad {
        Bad::Missing => dir.path().join("missing.json"),
        Bad::Directory => {
            let d = dir.path().join("a-directory");
            std::fs::create_dir_all(&d).unwrap();
            d
        }
        Bad::InvalidUtf8 => dir
            .write("bad-utf8.json", b"{\"instructions\":\"\xff\xfe\xc3\"}")
            .unwrap(),
        Bad::InvalidJson => dir.write("bad.json", "{\"instructions\": [").unwrap(),
        Bad::WrongShape => dir.write("shape.json", "[1,2,3]").unwrap(),
        Bad::Huge => {
            // 100 MB (sparse: no disk space, no time to write).
            let path = dir.path().join("huge.json");
            let f = std::fs::File::create(&path).unwrap();
            f.set_len(100_000_000).unwrap();
            path
        }
        Bad::Deep => {
            let depth = 100_000;
            let text = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
            dir.write("deep.json", text).unwrap()
        }
    }
}

/// Combinations `cli_errors.rs` already pins with their exact messages (and
/// the one that is not an error).
fn covered_elsewhere(slot: &str, bad: Bad) -> bool {
    match slot {
        "run" => matches!(
            bad,
            Bad::Missing | Bad::Directory | Bad::InvalidUtf8 | Bad::InvalidJson
        ),
        "validate" => matches!(bad, Bad::Missing | Bad::InvalidJson),
        "effect start"
        | "effect start --overrides"
        | "effect resume --snapshot"
        | "effect resume --deliveries" => bad == Bad::Missing,
        // Not bad input: a missing journal is created.
        "live --journal" => bad == Bad::Missing,
        _ => false,
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn finvm(args: &[String], cwd: &Path) -> (Output, Duration) {
    let start = Instant::now();
    let out = Command::new(FINVM)
        .args(args)
        .current_dir(cwd)
        .env("FINVM_TEST_PASSPHRASE", "correct horse battery staple")
        .env_remove("FINVM_PANIC_DEBUG")
        .env_remove("FINVM_MAX_INPUT_BYTES")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {FINVM}: {e}"));
    (out, start.elapsed())
}

/// The contract: a non-zero exit, exactly one line of error (besides
/// `run`'s `Loading program from:` line), nothing that looks like a panic.
fn check(what: &str, out: &Output, took: Duration) {
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    let all = format!("{stdout}{stderr}");
    for marker in [
        "panicked",
        "RUST_BACKTRACE",
        "stack backtrace",
        "InternalError",
    ] {
        assert!(!all.contains(marker), "{what}: mentions {marker:?}:\n{all}");
    }
    assert!(
        !out.status.success(),
        "{what}: exit 0 for bad input:\n{all}"
    );
    assert!(
        out.status.code().is_some(),
        "{what}: killed by a signal ({}):\n{all}",
        out.status
    );
    let lines: Vec<&str> = all
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("Loading program from: "))
        .collect();
    assert_eq!(
        lines.len(),
        1,
        "{what}: expected one error line, got:\n{all}"
    );
    assert!(
        lines[0].len() < 4096,
        "{what}: a {}-byte error line",
        lines[0].len()
    );
    assert!(took < Duration::from_secs(60), "{what}: took {took:?}");
}

/// One file slot of one command: `args` with `{}` where the bad file goes.
struct Slot {
    name: &'static str,
    args: Vec<String>,
}

fn slots(dir: &TempDir) -> Vec<Slot> {
    let good = dir
        .write("good.json", r#"{"instructions":[["RETURN",0]]}"#)
        .unwrap();
    let awaiting = dir
        .write(
            "await.json",
            r#"{"registerCount":4,"constants":[{"string":"k1"}],"instructions":[
                ["LOAD_CONST",0,0],["RECORD_NEW",1],["RECORD_SET",1,1,"key",0],
                ["EFFECT_NEW",2,"svc",1],["EFFECT_AWAIT",2],["RETURN",0]]}"#,
        )
        .unwrap();
    // A real snapshot of `await.json`, for the deliveries slot.
    let started = Command::new(FINVM)
        .args(["effect", "start", awaiting.to_str().unwrap()])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&started.stdout).unwrap();
    let snapshot = dir
        .write("snapshot.json", doc["snapshot"].to_string())
        .unwrap();
    let (good, awaiting, snapshot) = (
        good.to_str().unwrap().to_string(),
        awaiting.to_str().unwrap().to_string(),
        snapshot.to_str().unwrap().to_string(),
    );
    let journal = dir.path().join("journal.jsonl");
    let journal = journal.to_str().unwrap().to_string();
    let new_grant = dir.path().join("new-grant.json");
    let new_grant = new_grant.to_str().unwrap().to_string();
    let slot = |name: &'static str, args: &[&str]| Slot {
        name,
        args: args.iter().map(|a| a.to_string()).collect(),
    };
    let pass = ["--passphrase-env", "FINVM_TEST_PASSPHRASE"];
    let with_pass = |args: &[&str]| -> Vec<String> {
        args.iter()
            .chain(pass.iter())
            .map(|a| a.to_string())
            .collect()
    };
    vec![
        slot("run", &["run", "{}"]),
        slot(
            "run --trace --performance-mode",
            &["run", "--trace", "--performance-mode", "{}"],
        ),
        slot("validate", &["validate", "{}"]),
        slot("effect start", &["effect", "start", "{}"]),
        slot(
            "effect start --overrides",
            &["effect", "start", &good, "--overrides", "{}"],
        ),
        slot(
            "effect resume program",
            &["effect", "resume", "{}", "--snapshot", &snapshot],
        ),
        slot(
            "effect resume --snapshot",
            &["effect", "resume", &awaiting, "--snapshot", "{}"],
        ),
        slot(
            "effect resume --deliveries",
            &[
                "effect",
                "resume",
                &awaiting,
                "--snapshot",
                &snapshot,
                "--deliveries",
                "{}",
            ],
        ),
        Slot {
            name: "seal",
            args: with_pass(&["seal", "{}", "--target", "program", "--grant", &good]),
        },
        Slot {
            name: "seal --grant",
            args: with_pass(&["seal", &good, "--target", "program", "--grant", "{}"]),
        },
        Slot {
            name: "seal --passphrase-file",
            args: vec![
                "seal".into(),
                good.clone(),
                "--target".into(),
                "program".into(),
                "--grant".into(),
                good.clone(),
                "--passphrase-file".into(),
                "{}".into(),
            ],
        },
        Slot {
            name: "unseal",
            args: with_pass(&["unseal", "{}", "--grant", &good]),
        },
        Slot {
            name: "unseal --grant",
            args: with_pass(&["unseal", &good, "--grant", "{}"]),
        },
        Slot {
            name: "grant --grant",
            args: vec![
                "grant".into(),
                "--grant".into(),
                "{}".into(),
                "--new-grant".into(),
                new_grant.clone(),
                "--passphrase-env".into(),
                "FINVM_TEST_PASSPHRASE".into(),
                "--to-passphrase-env".into(),
                "FINVM_TEST_PASSPHRASE".into(),
            ],
        },
        Slot {
            name: "run-sealed",
            args: with_pass(&["run-sealed", "{}", "--grant", &good]),
        },
        Slot {
            name: "run-sealed --grant",
            args: with_pass(&["run-sealed", &good, "--grant", "{}"]),
        },
        Slot {
            name: "run-sealed --inputs",
            args: with_pass(&["run-sealed", &good, "--grant", &good, "--inputs", "{}"]),
        },
        slot("live", &["live", "{}", "--journal", &journal]),
        slot(
            "live --overrides",
            &["live", &good, "--journal", &journal, "--overrides", "{}"],
        ),
        slot("live --journal", &["live", &good, "--journal", "{}"]),
        slot("replay", &["replay", "{}", "--journal", &journal]),
        slot("replay --journal", &["replay", &good, "--journal", "{}"]),
        slot("journal show", &["journal", "show", "{}"]),
        slot(
            "journal resolve",
            &["journal", "resolve", "{}", "0", "--retry"],
        ),
    ]
}

/// Subcommands that exist when this test was written; a new one must be
/// added to [`slots`] (or here, when it reads no file). `bench` reads no
/// input file: its `--programs` directory falls back to the checkout's
/// benchmark programs.
const KNOWN_COMMANDS: &[&str] = &[
    "run",
    "validate",
    "effect",
    "seal",
    "unseal",
    "grant",
    "run-sealed",
    "bench",
    "live",
    "replay",
    "journal",
    "help",
];

#[test]
fn every_command_reads_every_bad_file_cleanly() {
    let dir = TempDir::new("bad-input").unwrap();
    let mut checked = 0;
    for slot in slots(&dir) {
        for bad in ALL_BAD {
            if covered_elsewhere(slot.name, bad) {
                continue;
            }
            // A fresh directory per case: live/replay may create files.
            let case = TempDir::new("bad-input-case").unwrap();
            let file = bad_file(&case, bad);
            let file = file.to_str().unwrap();
            let args: Vec<String> = slot.args.iter().map(|a| a.replace("{}", file)).collect();
            let (out, took) = finvm(&args, case.path());
            check(&format!("{} with {bad:?}", slot.name), &out, took);
            checked += 1;
        }
    }
    assert!(checked > 150, "only {checked} cases");
}

#[test]
fn every_subcommand_is_swept() {
    let help = Command::new(FINVM).arg("--help").output().unwrap();
    let help = text(&help.stdout);
    let commands: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(!commands.is_empty(), "{help}");
    for c in commands {
        assert!(
            KNOWN_COMMANDS.contains(&c),
            "new subcommand {c:?}: add its file arguments to bad_input.rs"
        );
    }
}

/// The size refusal happens before reading: a 100 MB program costs no
/// memory, and the message names the file and the limit.
#[test]
fn a_file_over_64_mib_is_refused_before_it_is_read() {
    let dir = TempDir::new("bad-input").unwrap();
    let huge = bad_file(&dir, Bad::Huge);
    let huge = huge.to_str().unwrap().to_string();
    let (out, _) = finvm(&["validate".to_string(), huge.clone()], dir.path());
    assert_eq!(
        text(&out.stdout),
        format!(
            "EFBIG: file too large, read '{huge}' (finvm reads at most 67108864 bytes; see FINVM_MAX_INPUT_BYTES)\n"
        )
    );
    // Just under the limit is read (and fails as JSON: it is all zero bytes).
    let edge = dir.path().join("edge.json");
    std::fs::File::create(&edge)
        .unwrap()
        .set_len(64 << 20)
        .unwrap();
    let (out, _) = finvm(
        &["validate".to_string(), edge.to_str().unwrap().to_string()],
        dir.path(),
    );
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("Invalid JSON: "), "{stdout}");
    // The limit can be lowered (or raised) for one invocation.
    let out = Command::new(FINVM)
        .args(["validate", edge.to_str().unwrap()])
        .env("FINVM_MAX_INPUT_BYTES", "1000")
        .output()
        .unwrap();
    assert!(
        text(&out.stdout).contains("finvm reads at most 1000 bytes"),
        "{}",
        text(&out.stdout)
    );
}
