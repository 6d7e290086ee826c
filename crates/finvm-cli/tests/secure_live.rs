//! `finvm live` and `finvm replay` with sealed artefacts: a sealed program,
//! inputs and store opened with a grant and a key source before anything
//! runs, and outputs sealed as `output` envelopes. The program uses only
//! `sys.log` and the memory store (no network). Grants use PBKDF2 at its
//! 210,000-iteration floor, which the CLI enforces.

mod secure_support;

use finvm_secure::{b64, dbv2, unwrap_dek, Dek, Envelope, Grant, PassphraseProvider, Target};
use secure_support::{finvm, Dir, Run, DB};
use serde_json::Value as J;
use std::sync::OnceLock;

const PASSPHRASE: &str = "correct horse — sealed live ünïcode";
const PASS: &[&str] = &["--passphrase-file", "pass.txt"];

/// Reads input `x`, awaits a `sys.log`, queries table `seed` of the store,
/// and returns `{x, rows}` (state `answer` = x).
const PROGRAM: &str = r#"{"version":"1.0","registerCount":8,
 "constants":[{"string":"x"},{"string":"hello from the sealed run"},{"string":"EffectReply"},
  {"string":"seed"},{"string":"q"},{"string":"log"}],
 "instructions":[
  ["LOAD_CONST",0,0],["CALL_BUILTIN",1,"input.get@1",[0]],
  ["RECORD_NEW",2],["LOAD_CONST",3,1],["RECORD_SET",2,2,"message",3],
  ["LOAD_CONST",3,5],["RECORD_SET",2,2,"key",3],
  ["EFFECT_NEW",4,"sys.log",2],["EFFECT_AWAIT",4],
  ["LOAD_CONST",5,2],["PROC_RECEIVE_MATCH",6,5],
  ["RECORD_NEW",2],["LOAD_CONST",3,4],["RECORD_SET",2,2,"key",3],
  ["LOAD_CONST",3,3],["RECORD_SET",2,2,"table",3],
  ["EFFECT_NEW",4,"db.query",2],["EFFECT_AWAIT",4],
  ["PROC_RECEIVE_MATCH",6,5],["VARIANT_PAYLOAD",6,6],["RECORD_GET",6,6,"value"],
  ["RECORD_NEW",7],["RECORD_SET",7,7,"x",1],["RECORD_SET",7,7,"rows",6],
  ["STATE_SET","answer",1],["RETURN",7]],
 "inputs":{"schema":[{"name":"x","type":"Int","required":true}]}}"#;

const INPUTS: &str = r#"{"x":{"int":"4242"}}"#;

/// The grant and sealed program made once by `finvm seal --new-grant`, and
/// the data key the grant holds (each key derivation takes a while in a
/// debug build).
fn sealed_once() -> &'static (String, String, Dek) {
    static ONCE: OnceLock<(String, String, Dek)> = OnceLock::new();
    ONCE.get_or_init(|| {
        let d = Dir::new("secure-live-seal");
        d.write("pass.txt", &format!("{PASSPHRASE}\n"));
        d.write("program.json", PROGRAM);
        let mut args = vec![
            "seal",
            "--new-grant",
            "grant.json",
            "--kdf",
            "pbkdf2-sha256",
        ];
        args.extend_from_slice(PASS);
        args.extend_from_slice(&["--target", "program", "program.json", "-o", "program.fenc"]);
        finvm(&d, &args, &[]).ok();
        let grant_text = d.read("grant.json");
        let grant = Grant::parse(&grant_text).unwrap();
        let dek = unwrap_dek(&grant, &PassphraseProvider::new(PASSPHRASE).unwrap()).unwrap();
        (grant_text, d.read("program.fenc"), dek)
    })
}

/// A directory with a PBKDF2 passphrase grant, `program.fenc`,
/// `inputs.fenc`, `db.fenc`, and `plain.json` (the program with its input
/// values in plaintext); and the data key.
fn project() -> (Dir, Dek) {
    let (grant, program, dek) = sealed_once();
    let d = Dir::new("secure-live");
    d.write("pass.txt", &format!("{PASSPHRASE}\n"));
    d.write("wrong.txt", "not the passphrase\n");
    d.write("grant.json", grant);
    d.write("program.fenc", program);
    // Sealing with the known data key spares a key derivation per artefact.
    d.write(
        "inputs.fenc",
        &Envelope::seal(dek, Target::Inputs, INPUTS.as_bytes()).to_json(),
    );
    d.write(
        "db.fenc",
        &Envelope::seal(dek, Target::Db, DB.as_bytes()).to_json(),
    );
    d.write("db.json", DB);
    let mut plain: J = serde_json::from_str(PROGRAM).unwrap();
    plain["inputs"]["values"] = serde_json::from_str(INPUTS).unwrap();
    d.write("plain.json", &plain.to_string());
    (d, dek.clone())
}

/// `finvm <verb> program.fenc --journal <journal> --grant grant.json
/// --inputs inputs.fenc <key> <extra>`.
fn sealed(d: &Dir, verb: &str, journal: &str, key: &[&str], extra: &[&str]) -> Run {
    let mut args = vec![
        verb,
        "program.fenc",
        "--journal",
        journal,
        "--grant",
        "grant.json",
        "--inputs",
        "inputs.fenc",
    ];
    args.extend_from_slice(key);
    args.extend_from_slice(extra);
    finvm(d, &args, &[])
}

/// Every form of a secret that must never be printed or journaled.
fn secrets(dek: &Dek) -> Vec<String> {
    let hex: String = dek.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
    let b64 = b64::encode(dek.as_bytes());
    vec![
        PASSPHRASE.to_string(),
        "correct horse".to_string(),
        "not the passphrase".to_string(),
        hex.to_uppercase(),
        b64.trim_end_matches('=').to_string(),
        b64.replace('+', "-")
            .replace('/', "_")
            .trim_end_matches('=')
            .to_string(),
        hex,
    ]
}

fn assert_no_secret(texts: &[&str], secrets: &[String]) {
    for text in texts {
        for s in secrets {
            assert!(!text.contains(s.as_str()), "a secret leaked into:\n{text}");
        }
    }
}

fn opened_lines(dek: &Dek, stdout: &str) -> String {
    stdout
        .lines()
        .map(|line| {
            let env = Envelope::parse(line).expect("every line is an envelope");
            assert_eq!(env.target, "output");
            format!("{}\n", env.open(dek).unwrap())
        })
        .collect()
}

#[test]
fn a_sealed_live_run_matches_the_plaintext_run_and_replays() {
    let (d, dek) = project();
    let plain = finvm(&d, &["live", "plain.json", "--journal", "plain.jsonl"], &[]).ok();
    assert_eq!(plain.stdout.lines().count(), 4, "{}", plain.stdout);
    assert!(plain.stdout.contains(r#""x":{"int":"4242"}"#));
    assert!(plain.stderr.contains("hello from the sealed run"));

    let live = sealed(&d, "live", "sealed.jsonl", PASS, &[]).ok();
    assert_eq!(live.stdout, plain.stdout);
    assert_eq!(d.read("sealed.jsonl").lines().count(), 5);

    let replay = sealed(&d, "replay", "sealed.jsonl", PASS, &[]).ok();
    assert_eq!(replay.stdout, plain.stdout);
    assert!(!replay.stderr.contains("hello"), "replay performs nothing");

    // --seal-output: every round and the final document is an `output` envelope.
    let out = sealed(&d, "live", "out.jsonl", PASS, &["--seal-output"]).ok();
    assert!(!out.stdout.contains("4242"));
    assert_eq!(opened_lines(&dek, &out.stdout), plain.stdout);
    let replay_out = sealed(&d, "replay", "out.jsonl", PASS, &["--seal-output"]).ok();
    assert_eq!(opened_lines(&dek, &replay_out.stdout), plain.stdout);

    let journals = [d.read("sealed.jsonl"), d.read("out.jsonl")];
    let secrets = secrets(&dek);
    assert_no_secret(
        &[
            &live.stdout,
            &live.stderr,
            &replay.all(),
            &out.all(),
            &replay_out.all(),
            &journals[0],
            &journals[1],
        ],
        &secrets,
    );
}

#[test]
fn sealed_stores_load_the_memory_store() {
    let (d, dek) = project();
    let seeded = r#""rows":{"list":[{"record":{"seeded":{"bool":true}}}]}"#;
    let run = sealed(&d, "live", "db.jsonl", PASS, &["--sealed-store", "db.fenc"]).ok();
    assert!(run.stdout.contains(seeded), "{}", run.stdout);
    // The legacy v2 bundle, opened with the same passphrase.
    let v2 = dbv2::seal_v2_with(PASSPHRASE, DB, &[7; 16], [9; 12]).unwrap();
    d.write("db.v2.json", &v2);
    let run_v2 = sealed(
        &d,
        "live",
        "v2.jsonl",
        PASS,
        &["--sealed-store", "db.v2.json"],
    )
    .ok();
    assert_eq!(run_v2.stdout, run.stdout);

    // A store of the wrong kind is refused before anything is journaled.
    for (store, error) in [
        (
            "inputs.fenc",
            "DecryptionFailed: DB envelope target mismatch",
        ),
        ("db.json", "--sealed-store must be a `db` envelope"),
    ] {
        let bad = sealed(&d, "live", "bad.jsonl", PASS, &["--sealed-store", store]).failed();
        assert!(bad.stdout.contains(error), "{}", bad.stdout);
        assert!(!bad.stderr.contains("hello"));
        assert!(!d.exists("bad.jsonl"));
    }
    let secrets = secrets(&dek);
    assert_no_secret(
        &[
            &run.all(),
            &run_v2.all(),
            &d.read("db.jsonl"),
            &d.read("v2.jsonl"),
        ],
        &secrets,
    );
}

#[test]
fn a_wrong_key_or_artefact_fails_closed_with_nothing_journaled() {
    let (d, dek) = project();
    let wrong = &["--passphrase-file", "wrong.txt"][..];
    let mut runs = Vec::new();
    for verb in ["live", "replay"] {
        let run = sealed(&d, verb, "j.jsonl", wrong, &["--seal-output"]).failed();
        assert_eq!(
            run.stdout,
            "{\"status\":\"error\",\"error\":\"DecryptionFailed: DEK unwrap failed\"}\n"
        );
        runs.push(run);
    }
    // A program envelope swapped for another target, and a tampered input.
    let mut args = vec![
        "live",
        "inputs.fenc",
        "--journal",
        "j.jsonl",
        "--grant",
        "grant.json",
    ];
    args.extend_from_slice(PASS);
    let run = finvm(&d, &args, &[]).failed();
    assert!(
        run.stdout
            .contains("DecryptionFailed: Program envelope target mismatch"),
        "{}",
        run.stdout
    );
    runs.push(run);
    let mut env: J = serde_json::from_str(&d.read("inputs.fenc")).unwrap();
    let ct = env["ct"].as_str().unwrap().to_string();
    let flipped = if ct.starts_with('A') { "B" } else { "A" };
    env["ct"] = J::String(format!("{flipped}{}", &ct[1..]));
    d.write("inputs.fenc", &env.to_string());
    let run = sealed(&d, "live", "j.jsonl", PASS, &[]).failed();
    assert!(run.stdout.contains("DecryptionFailed"), "{}", run.stdout);
    runs.push(run);

    assert!(!d.exists("j.jsonl"), "nothing is journaled");
    for run in &runs {
        assert!(!run.stderr.contains("hello"), "nothing is performed");
    }
    let secrets = secrets(&dek);
    let all: Vec<String> = runs.iter().map(Run::all).collect();
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    assert_no_secret(&all, &secrets);
}
