//! The secure commands end to end: `seal`, `unseal`, `grant`, `run-sealed`.
//! Most tests use wallet grants (no KDF) or PBKDF2 at its 210,000 floor; one
//! uses Argon2id at its real floor (t=3, 64 MiB). The CLI always enforces
//! the floors.

mod secure_support;

use finvm_secure::{b64, unwrap_dek, Dek, Envelope, Grant, WalletKeyProvider};
use secure_support::{finvm, Dir, Run, DB, PROGRAM, RESULT_42};
use serde_json::Value as J;

const WALLET_HEX: &str = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a";
const OTHER_WALLET_HEX: &str = "6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b";
const PASSPHRASE: &str = "tr0ub4dor & 3 horses — ünïcode";

const WALLET: &[&str] = &["--wallet-key-file", "wallet.hex"];

/// A directory with the program, inputs, db, keys and a wallet grant, and
/// every artefact sealed: program.fenc, inputs.fenc, db.fenc.
fn sealed_project() -> Dir {
    let d = Dir::new("secure-cli");
    d.write("wallet.hex", &format!("{WALLET_HEX}\n"));
    d.write("other.hex", OTHER_WALLET_HEX);
    d.write("pass.txt", &format!("{PASSPHRASE}\n"));
    d.write("wrong.txt", "not the passphrase\n");
    d.write("program.json", PROGRAM);
    d.write("inputs.json", "{ \"x\": { \"int\": \"42\" } }\n");
    d.write("db.json", DB);
    let mut args = vec!["seal", "--new-grant", "grant.json"];
    args.extend_from_slice(WALLET);
    args.extend_from_slice(&["--target", "program", "program.json", "-o", "program.fenc"]);
    finvm(&d, &args, &[]).ok();
    for (target, file) in [("inputs", "inputs.json"), ("db", "db.json")] {
        let out = format!("{target}.fenc");
        let mut args = vec!["seal", "--grant", "grant.json"];
        args.extend_from_slice(WALLET);
        args.extend_from_slice(&["--target", target, file, "-o", &out]);
        finvm(&d, &args, &[]).ok();
    }
    d
}

fn with_wallet<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut v = args.to_vec();
    v.extend_from_slice(WALLET);
    v
}

fn dek_of(d: &Dir) -> Dek {
    let grant = Grant::parse(&d.read("grant.json")).unwrap();
    unwrap_dek(&grant, &WalletKeyProvider::from_hex(WALLET_HEX).unwrap()).unwrap()
}

fn failed_doc(error: &str) -> String {
    format!("{{\"status\":\"failed\",\"error\":\"{error}\"}}\n")
}

#[test]
fn seal_unseal_and_run_with_a_wallet_grant() {
    let d = sealed_project();
    let grant: J = serde_json::from_str(&d.read("grant.json")).unwrap();
    assert_eq!(grant["wrap"], "ecies-secp256k1");
    // Envelopes: exact key order, bound to their target, opened exactly.
    for (file, target, plain) in [
        ("program.fenc", "program", PROGRAM),
        ("inputs.fenc", "inputs", r#"{"x":{"int":"42"}}"#),
        ("db.fenc", "db", DB),
    ] {
        let text = d.read(file);
        assert!(text.starts_with(&format!(
            "{{\"fenc\":1,\"target\":\"{target}\",\"cipher\":\"aes-256-gcm\",\"iv\":\""
        )));
        assert!(text.contains(&format!("\"aad\":\"finvm:{target}\",\"ct\":\"")));
        let run = finvm(
            &d,
            &with_wallet(&["unseal", file, "--grant", "grant.json", "--target", target]),
            &[],
        )
        .ok();
        assert_eq!(run.stdout, plain);
    }
    let run = finvm(
        &d,
        &with_wallet(&[
            "run-sealed",
            "program.fenc",
            "--grant",
            "grant.json",
            "--inputs",
            "inputs.fenc",
        ]),
        &[],
    )
    .ok();
    assert_eq!(run.stdout, format!("{RESULT_42}\n"));
    // The result sealed as an output envelope, then opened.
    let run = finvm(
        &d,
        &with_wallet(&[
            "run-sealed",
            "program.fenc",
            "--grant",
            "grant.json",
            "--inputs",
            "inputs.fenc",
            "--seal-output",
        ]),
        &[],
    )
    .ok();
    let env = Envelope::parse(run.stdout.trim()).unwrap();
    assert_eq!(env.target, "output");
    assert!(!run.stdout.contains("answer"));
    assert_eq!(env.open(&dek_of(&d)).unwrap(), RESULT_42);
    d.write("out.fenc", &run.stdout);
    let run = finvm(
        &d,
        &with_wallet(&[
            "unseal",
            "out.fenc",
            "--grant",
            "grant.json",
            "-o",
            "out.json",
        ]),
        &[],
    )
    .ok();
    assert_eq!(run.stdout, "");
    assert_eq!(d.read("out.json"), format!("{RESULT_42}\n"));
}

#[test]
fn run_sealed_reports_input_validation_and_failed_runs() {
    let d = sealed_project();
    d.write("bad-inputs.json", r#"{"x":{"string":"nope"}}"#);
    finvm(
        &d,
        &with_wallet(&[
            "seal",
            "--grant",
            "grant.json",
            "--target",
            "inputs",
            "bad-inputs.json",
            "-o",
            "bad.fenc",
        ]),
        &[],
    )
    .ok();
    let run = finvm(
        &d,
        &with_wallet(&[
            "run-sealed",
            "program.fenc",
            "--grant",
            "grant.json",
            "--inputs",
            "bad.fenc",
        ]),
        &[],
    )
    .failed();
    assert_eq!(
        run.stdout,
        failed_doc("InputValidation: Input 'x': expected Int, got String")
    );
    let run = finvm(
        &d,
        &with_wallet(&["run-sealed", "program.fenc", "--grant", "grant.json"]),
        &[],
    )
    .failed();
    assert_eq!(
        run.stdout,
        failed_doc("MissingInput: Required input missing: x")
    );
    // Plaintext inputs are accepted too.
    let run = finvm(
        &d,
        &with_wallet(&[
            "run-sealed",
            "program.fenc",
            "--grant",
            "grant.json",
            "--inputs",
            "inputs.json",
        ]),
        &[],
    )
    .ok();
    assert_eq!(run.stdout, format!("{RESULT_42}\n"));
}

#[test]
fn plain_run_refuses_sealed_programs() {
    let d = sealed_project();
    let run = finvm(&d, &["run", "program.fenc"], &[]).failed();
    assert_eq!(
        run.stdout,
        format!(
            "Loading program from: program.fenc\n{}",
            failed_doc(
                "DecryptionFailed: Program is sealed; decrypt via SecureLoader before loading"
            )
        )
    );
}

#[test]
fn passphrase_grants_from_file_and_environment_pbkdf2_at_the_floor() {
    let d = sealed_project();
    // Add a PBKDF2 passphrase holder, reading the new passphrase from the environment.
    let env = [("FINVM_TEST_PASSPHRASE", PASSPHRASE)];
    finvm(
        &d,
        &with_wallet(&[
            "grant",
            "--grant",
            "grant.json",
            "--new-grant",
            "pass-grant.json",
            "--to-passphrase-env",
            "FINVM_TEST_PASSPHRASE",
            "--kdf",
            "pbkdf2-sha256",
        ]),
        &env,
    )
    .ok();
    let g: J = serde_json::from_str(&d.read("pass-grant.json")).unwrap();
    assert_eq!(g["kdf"], "pbkdf2-sha256");
    assert_eq!(g["kdfParams"], serde_json::json!({"iterations": 210000}));
    // Opened from the file (trailing newline ignored) and from the environment.
    let run = finvm(
        &d,
        &[
            "run-sealed",
            "program.fenc",
            "--grant",
            "pass-grant.json",
            "--passphrase-file",
            "pass.txt",
            "--inputs",
            "inputs.fenc",
        ],
        &[],
    )
    .ok();
    assert_eq!(run.stdout, format!("{RESULT_42}\n"));
    let run = finvm(
        &d,
        &[
            "unseal",
            "db.fenc",
            "--grant",
            "pass-grant.json",
            "--passphrase-env",
            "FINVM_TEST_PASSPHRASE",
        ],
        &env,
    )
    .ok();
    assert_eq!(run.stdout, DB);
    // The wrong passphrase fails closed.
    let run = finvm(
        &d,
        &[
            "run-sealed",
            "program.fenc",
            "--grant",
            "pass-grant.json",
            "--passphrase-file",
            "wrong.txt",
            "--trace",
        ],
        &[],
    )
    .failed();
    assert_eq!(
        run.stdout,
        failed_doc("DecryptionFailed: DEK unwrap failed")
    );
    assert_eq!(run.stderr, "");
}

#[test]
fn argon2id_grant_at_the_real_floor() {
    let d = Dir::new("secure-argon2");
    d.write("pass.txt", PASSPHRASE);
    d.write("program.json", PROGRAM);
    finvm(
        &d,
        &[
            "seal",
            "--new-grant",
            "grant.json",
            "--passphrase-file",
            "pass.txt",
            "--target",
            "program",
            "program.json",
            "-o",
            "program.fenc",
        ],
        &[],
    )
    .ok();
    let g: J = serde_json::from_str(&d.read("grant.json")).unwrap();
    assert_eq!(g["kdf"], "argon2id");
    assert_eq!(
        g["kdfParams"],
        serde_json::json!({"iterations": 3, "memorySize": 65536, "parallelism": 1})
    );
    assert_eq!(b64::decode(g["salt"].as_str().unwrap()).len(), 16);
    let run = finvm(
        &d,
        &[
            "unseal",
            "program.fenc",
            "--grant",
            "grant.json",
            "--passphrase-file",
            "pass.txt",
        ],
        &[],
    )
    .ok();
    assert_eq!(run.stdout, PROGRAM);
}

#[test]
fn kdf_floors_are_enforced_and_nothing_is_written() {
    let d = Dir::new("secure-floors");
    d.write("pass.txt", PASSPHRASE);
    d.write("program.json", PROGRAM);
    for (extra, error) in [
        (
            &["--kdf-iterations", "2"][..],
            "Argon2id iterations 2 below floor 3",
        ),
        (
            &["--kdf-memory", "1024"][..],
            "Argon2id memory 1024 below floor 65536",
        ),
        (
            &["--kdf", "pbkdf2-sha256", "--kdf-iterations", "1000"][..],
            "PBKDF2 iterations 1000 below floor 210000",
        ),
    ] {
        let mut args = vec![
            "seal",
            "--new-grant",
            "grant.json",
            "--passphrase-file",
            "pass.txt",
            "--target",
            "program",
            "program.json",
            "-o",
            "program.fenc",
        ];
        args.extend_from_slice(extra);
        let run = finvm(&d, &args, &[]).failed();
        assert_eq!(run.stderr, format!("Error: {error}\n"));
        assert!(!d.exists("grant.json"));
        assert!(!d.exists("program.fenc"));
    }
}

#[test]
fn an_existing_grant_is_never_replaced() {
    let d = sealed_project();
    let before = d.read("grant.json");
    let run = finvm(
        &d,
        &with_wallet(&["seal", "--new-grant", "grant.json"]),
        &[],
    )
    .failed();
    assert!(
        run.stderr.contains("refusing to replace a grant"),
        "{}",
        run.stderr
    );
    let run = finvm(
        &d,
        &with_wallet(&[
            "grant",
            "--grant",
            "grant.json",
            "--new-grant",
            "grant.json",
            "--to-wallet-key-file",
            "other.hex",
        ]),
        &[],
    )
    .failed();
    assert!(
        run.stderr.contains("refusing to replace a grant"),
        "{}",
        run.stderr
    );
    assert_eq!(d.read("grant.json"), before);
}

/// Runs `run-sealed` and `unseal` on a bad artefact: both fail with the
/// given DecryptionFailed text, print no trace, write no file.
fn assert_fails_closed(d: &Dir, program: &str, inputs: Option<&str>, key: &[&str], error: &str) {
    let mut args = vec![
        "run-sealed",
        program,
        "--grant",
        "grant.json",
        "--trace",
        "-o",
        "out.json",
    ];
    if let Some(i) = inputs {
        args.extend_from_slice(&["--inputs", i]);
    }
    args.extend_from_slice(key);
    let run = finvm(d, &args, &[]).failed();
    assert_eq!(run.stdout, failed_doc(error), "{program} {inputs:?}");
    assert_eq!(run.stderr, "", "no trace: nothing ran");
    assert!(!d.exists("out.json"), "no output written");
    let mut args = vec![
        "unseal",
        inputs.unwrap_or(program),
        "--grant",
        "grant.json",
        "-o",
        "plain.txt",
    ];
    args.extend_from_slice(key);
    if inputs.is_none() {
        args.extend_from_slice(&["--target", "program"]);
    } else {
        args.extend_from_slice(&["--target", "inputs"]);
    }
    let run = finvm(d, &args, &[]).failed();
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr.starts_with("Error: DecryptionFailed: "),
        "{}",
        run.stderr
    );
    assert!(!d.exists("plain.txt"), "no plaintext written");
}

fn tamper(text: &str, key: &str, value: J) -> String {
    let mut j: J = serde_json::from_str(text).unwrap();
    j[key] = value;
    j.to_string()
}

fn flip_b64(text: &str, index: usize) -> String {
    let mut bytes = b64::decode(text);
    let i = index.min(bytes.len() - 1);
    bytes[i] ^= 0x80;
    b64::encode(&bytes)
}

const ENVELOPE_FAILED: &str =
    "DecryptionFailed: Envelope decryption failed (tag/AAD/fingerprint mismatch)";

#[test]
fn wrong_keys_fail_closed() {
    let d = sealed_project();
    assert_fails_closed(
        &d,
        "program.fenc",
        None,
        &["--wallet-key-file", "other.hex"],
        "DecryptionFailed: DEK unwrap failed",
    );
    assert_fails_closed(
        &d,
        "program.fenc",
        None,
        &["--passphrase-file", "pass.txt"],
        "DecryptionFailed: Wallet private key required for ECIES unwrap",
    );
}

#[test]
fn every_tampered_envelope_field_fails_closed() {
    let d = sealed_project();
    let env = d.read("program.fenc");
    let e: J = serde_json::from_str(&env).unwrap();
    let ct = e["ct"].as_str().unwrap();
    let iv = e["iv"].as_str().unwrap();
    let cases: Vec<(String, &str)> = vec![
        (
            tamper(&env, "ct", J::from(format!("{}AAAA", &ct[..ct.len() - 4]))),
            ENVELOPE_FAILED,
        ),
        (
            tamper(&env, "ct", J::from(flip_b64(ct, 0))),
            ENVELOPE_FAILED,
        ),
        (
            tamper(&env, "ct", J::from(flip_b64(ct, 10_000))),
            ENVELOPE_FAILED,
        ),
        (
            tamper(&env, "iv", J::from(flip_b64(iv, 5))),
            ENVELOPE_FAILED,
        ),
        (
            tamper(&env, "cipher", J::from("aes-128-gcm")),
            ENVELOPE_FAILED,
        ),
        (
            tamper(&env, "aad", J::from("finvm:output")),
            "DecryptionFailed: AAD mismatch: expected finvm:program, got finvm:output",
        ),
        (tamper(&env, "fenc", J::from(2)), ""),
        (env[..env.len() / 2].to_string(), ""),
    ];
    for (i, (text, error)) in cases.into_iter().enumerate() {
        let name = format!("t{i}.fenc");
        d.write(&name, &text);
        if error.is_empty() {
            // Not an envelope at all: run-sealed hands the text to the
            // decoder (which refuses it), unseal refuses it as not an envelope.
            let run = finvm(
                &d,
                &with_wallet(&["run-sealed", &name, "--grant", "grant.json"]),
                &[],
            )
            .failed();
            assert!(
                run.stdout.starts_with("{\"status\":\"failed\""),
                "{}",
                run.stdout
            );
            let run = finvm(
                &d,
                &with_wallet(&["unseal", &name, "--grant", "grant.json", "-o", "plain.txt"]),
                &[],
            )
            .failed();
            assert_eq!(
                run.stderr,
                "Error: DecryptionFailed: Not a valid fenc envelope\n"
            );
            assert!(!d.exists("plain.txt"));
        } else {
            assert_fails_closed(&d, &name, None, WALLET, error);
        }
    }
    // A sealed root whose fenc is 1 but with a field missing: the VM refuses it.
    let mut j: J = serde_json::from_str(&env).unwrap();
    j.as_object_mut().unwrap().remove("ct");
    d.write("noct.fenc", &j.to_string());
    let run = finvm(
        &d,
        &with_wallet(&["run-sealed", "noct.fenc", "--grant", "grant.json"]),
        &[],
    )
    .failed();
    assert_eq!(
        run.stdout,
        failed_doc("DecryptionFailed: Program is sealed; decrypt via SecureLoader before loading")
    );
}

#[test]
fn target_swaps_fail_closed() {
    let d = sealed_project();
    assert_fails_closed(
        &d,
        "inputs.fenc",
        None,
        WALLET,
        "DecryptionFailed: Program envelope target mismatch",
    );
    assert_fails_closed(
        &d,
        "program.json",
        Some("program.fenc"),
        WALLET,
        "DecryptionFailed: Inputs envelope target mismatch",
    );
    // The reference's swap: target and aad rewritten together.
    let env = d.read("program.fenc");
    let swapped = tamper(
        &tamper(&env, "target", J::from("inputs")),
        "aad",
        J::from("finvm:inputs"),
    );
    d.write("swapped.fenc", &swapped);
    assert_fails_closed(
        &d,
        "program.json",
        Some("swapped.fenc"),
        WALLET,
        ENVELOPE_FAILED,
    );
    // unseal --target checks the role.
    let run = finvm(
        &d,
        &with_wallet(&[
            "unseal",
            "db.fenc",
            "--grant",
            "grant.json",
            "--target",
            "output",
        ]),
        &[],
    )
    .failed();
    assert_eq!(
        run.stderr,
        "Error: DecryptionFailed: Output envelope target mismatch\n"
    );
}

#[test]
fn tampered_grants_fail_closed() {
    let d = sealed_project();
    let grant = d.read("grant.json");
    let g: J = serde_json::from_str(&grant).unwrap();
    let field = |k: &str| g[k].as_str().unwrap().to_string();
    let variants = [
        tamper(&grant, "ct", J::from(flip_b64(&field("ct"), 3))),
        tamper(&grant, "iv", J::from(flip_b64(&field("iv"), 3))),
        tamper(
            &grant,
            "ephemeralPub",
            J::from(flip_b64(&field("ephemeralPub"), 20)),
        ),
        tamper(&grant, "wrap", J::from("aesgcm-keywrap")),
        tamper(&grant, "wrap", J::from("x25519-xsalsa20-poly1305")),
        grant[..grant.len() / 2].to_string(),
    ];
    for (i, text) in variants.iter().enumerate() {
        d.write("grant.json", text);
        let run = finvm(
            &d,
            &with_wallet(&[
                "run-sealed",
                "program.fenc",
                "--grant",
                "grant.json",
                "-o",
                "out.json",
            ]),
            &[],
        )
        .failed();
        assert!(
            run.stdout
                .starts_with("{\"status\":\"failed\",\"error\":\"DecryptionFailed: "),
            "case {i}: {}",
            run.stdout
        );
        assert!(!d.exists("out.json"));
    }
}

#[test]
fn secrets_never_appear_in_any_output() {
    let d = sealed_project();
    let dek = dek_of(&d);
    let dek_hex: String = dek.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
    let dek_b64 = b64::encode(dek.as_bytes());
    let env = [("FINVM_TEST_PASSPHRASE", PASSPHRASE)];
    let mut runs: Vec<Run> = Vec::new();
    runs.push(finvm(
        &d,
        &with_wallet(&[
            "grant",
            "--grant",
            "grant.json",
            "--new-grant",
            "pg.json",
            "--to-passphrase-env",
            "FINVM_TEST_PASSPHRASE",
            "--kdf",
            "pbkdf2-sha256",
        ]),
        &env,
    ));
    for key in [
        &["--passphrase-file", "pass.txt"][..],
        &["--passphrase-file", "wrong.txt"][..],
        &["--passphrase-env", "FINVM_TEST_PASSPHRASE"][..],
    ] {
        let mut args = vec![
            "run-sealed",
            "program.fenc",
            "--grant",
            "pg.json",
            "--inputs",
            "inputs.fenc",
            "--trace",
        ];
        args.extend_from_slice(key);
        runs.push(finvm(&d, &args, &env));
        let mut args = vec!["unseal", "program.fenc", "--grant", "pg.json"];
        args.extend_from_slice(key);
        runs.push(finvm(&d, &args, &env));
    }
    runs.push(finvm(
        &d,
        &with_wallet(&[
            "run-sealed",
            "program.fenc",
            "--grant",
            "grant.json",
            "--inputs",
            "inputs.fenc",
            "--trace",
            "--seal-output",
        ]),
        &[],
    ));
    runs.push(finvm(
        &d,
        &[
            "run-sealed",
            "program.fenc",
            "--grant",
            "grant.json",
            "--wallet-key-file",
            "other.hex",
            "--trace",
        ],
        &[],
    ));
    runs.push(finvm(
        &d,
        &[
            "seal",
            "--grant",
            "grant.json",
            "--wallet-key-file",
            "pass.txt",
            "--target",
            "db",
            "db.json",
        ],
        &[],
    ));
    // A trace was printed somewhere, so the check below saw real output.
    assert!(runs.iter().any(|r| r.stderr.contains("input.get@1")));
    for r in &runs {
        let all = r.all();
        for secret in [
            PASSPHRASE,
            "tr0ub4dor",
            WALLET_HEX,
            OTHER_WALLET_HEX,
            &dek_hex,
            &dek_b64,
        ] {
            assert!(!all.contains(secret), "a secret leaked into:\n{all}");
        }
    }
}

#[test]
fn key_source_errors_are_reported_without_running() {
    let d = sealed_project();
    let run = finvm(
        &d,
        &["run-sealed", "program.fenc", "--grant", "grant.json"],
        &[],
    )
    .failed();
    assert!(
        run.stdout
            .starts_with("{\"status\":\"error\",\"error\":\"a key source is required"),
        "{}",
        run.stdout
    );
    let run = finvm(
        &d,
        &[
            "run-sealed",
            "program.fenc",
            "--grant",
            "grant.json",
            "--passphrase-env",
            "FINVM_NO_SUCH_VAR",
        ],
        &[],
    )
    .failed();
    assert_eq!(run.stdout, "{\"status\":\"error\",\"error\":\"the environment variable FINVM_NO_SUCH_VAR is not set\"}\n");
    let run = finvm(
        &d,
        &[
            "run-sealed",
            "program.fenc",
            "--grant",
            "missing.json",
            "--passphrase-file",
            "pass.txt",
        ],
        &[],
    )
    .failed();
    assert_eq!(run.stdout, "{\"status\":\"error\",\"error\":\"ENOENT: no such file or directory, open 'missing.json'\"}\n");
    // Two key sources at once are a usage error.
    finvm(
        &d,
        &[
            "run-sealed",
            "program.fenc",
            "--grant",
            "grant.json",
            "--passphrase-file",
            "pass.txt",
            "--wallet-key-file",
            "wallet.hex",
        ],
        &[],
    )
    .failed();
    // A passphrase is never a command-line argument.
    finvm(
        &d,
        &[
            "run-sealed",
            "program.fenc",
            "--grant",
            "grant.json",
            "--passphrase",
            PASSPHRASE,
        ],
        &[],
    )
    .failed();
}

#[test]
fn sealing_refuses_bad_plaintexts() {
    let d = sealed_project();
    let run = finvm(
        &d,
        &with_wallet(&[
            "seal",
            "--grant",
            "grant.json",
            "--target",
            "inputs",
            "program.fenc",
        ]),
        &[],
    )
    .failed();
    assert_eq!(run.stderr, "Error: the file is already sealed\n");
    d.write("list.json", "[1,2]");
    let run = finvm(
        &d,
        &with_wallet(&[
            "seal",
            "--grant",
            "grant.json",
            "--target",
            "inputs",
            "list.json",
        ]),
        &[],
    )
    .failed();
    assert!(
        run.stderr
            .starts_with("Error: inputs must be a JSON object"),
        "{}",
        run.stderr
    );
    // Nothing to seal and no grant option.
    finvm(
        &d,
        &with_wallet(&["seal", "--target", "db", "db.json"]),
        &[],
    )
    .failed();
}

#[test]
fn grants_and_envelopes_made_by_the_reference_format_open() {
    // The HOST.md §8.4 Argon2id grant (DEK = 0x00..0x1f) and a db envelope
    // under that DEK (HOST.md §8.3 vector), opened by the CLI.
    let d = Dir::new("secure-reference");
    d.write("pass.txt", "correct horse battery staple");
    d.write("grant.json", r#"{"wrap":"aesgcm-keywrap","iv":"oKGio6Slpqeoqaqr","ct":"infaJ3kAnEFwh26WT+/KeXZx6IbeKD4G6+UvRzLeqVE0PKo2ESAeiF8JEIdLJw+Q","kdf":"argon2id","salt":"AAECAwQFBgcICQoLDA0ODw==","kdfParams":{}}"#);
    d.write("db.fenc", r#"{"fenc":1,"target":"db","cipher":"aes-256-gcm","iv":"AAECAwQFBgcICQoL","aad":"finvm:db","ct":"PCClfrSQp3XuJLWxgcVaGeK061GDWWUnZRqasL1U7YlAOoSF2dXRvCit"}"#);
    let run = finvm(
        &d,
        &[
            "unseal",
            "db.fenc",
            "--grant",
            "grant.json",
            "--passphrase-file",
            "pass.txt",
            "--target",
            "db",
        ],
        &[],
    )
    .ok();
    assert_eq!(run.stdout, r#"{"sequence":0,"tables":[]}"#);
    // The ECIES vector grant, opened with the recipient key 0x11..11.
    d.write("wallet.hex", &"11".repeat(32));
    d.write("wgrant.json", r#"{"wrap":"ecies-secp256k1","ephemeralPub":"AkZtf8rlY+XLCaDRhwu1gDRIBGF4eaFJSc8iKF8brj8n","iv":"sLGys7S1tre4ubq7","ct":"jKzD8nSo0vd2/zy+LR4NHZ5LODh1yZHilVmIdeZpPchPY+NWfk+rF52dvHU0LkNj","recipientPub":"A081W9y3zAr3KO88zrlhXZBoS7Wyyl+FmrDwtwQHWHGq"}"#);
    let run = finvm(
        &d,
        &[
            "unseal",
            "db.fenc",
            "--grant",
            "wgrant.json",
            "--wallet-key-file",
            "wallet.hex",
        ],
        &[],
    )
    .ok();
    assert_eq!(run.stdout, r#"{"sequence":0,"tables":[]}"#);
    // The legacy v2 database bundle vector, opened with its passphrase.
    d.write("pw.txt", "pw");
    d.write("v2.json", r#"{"v":2,"salt":[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15],"iv":[0,1,2,3,4,5,6,7,8,9,10,11],"data":[255,45,70,42,253,23,137,81,81,125,131,115,41,39,74,123,226,59,239,130,67,189,220,23,11,27,199,114,196,147,251,218,216,248,30,171,47,85,160,211,194,67]}"#);
    let run = finvm(
        &d,
        &["unseal", "v2.json", "--passphrase-file", "pw.txt"],
        &[],
    )
    .ok();
    assert_eq!(run.stdout, r#"{"sequence":0,"tables":[]}"#);
    let run = finvm(
        &d,
        &[
            "unseal",
            "v2.json",
            "--passphrase-file",
            "pass.txt",
            "-o",
            "plain.txt",
        ],
        &[],
    )
    .failed();
    assert_eq!(
        run.stderr,
        "Error: DecryptionFailed: DB bundle decryption failed\n"
    );
    assert!(!d.exists("plain.txt"));
}
