//! Interoperability with the JavaScript crypto stack of the reference FinVM
//! (Web Crypto, @noble/curves, @noble/hashes, hash-wasm), both ways, through
//! `interop/interop.mjs`:
//!
//! 1. the script reproduces the HOST.md §8 known-answer vectors;
//! 2. it opens what `finvm seal`/`grant`/`run-sealed --seal-output` produced
//!    (Argon2id and PBKDF2 passphrase grants at the real floors, a wallet
//!    grant, and envelopes of all four targets);
//! 3. it seals artefacts and grants the way the reference does (`kdfParams`
//!    `{}`, the `eth-decrypt` alias), which `finvm unseal` and
//!    `finvm run-sealed` then open.
//!
//! Needs `node` and `interop/node_modules` (`cd interop && npm ci`); without
//! them the test prints a notice and passes without checking anything.

mod secure_support;

use secure_support::{finvm, Dir, DB, PROGRAM, RESULT_42};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

const PASSPHRASE: &str = "interop — correct horse 🐎 battery";
const WALLET_HEX: &str = "0x3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c";

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop")
}

/// The script's directory when Node and the npm packages are available.
fn setup() -> Option<PathBuf> {
    let dir = interop_dir();
    let node_ok = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let modules = ["@noble/curves", "@noble/hashes", "hash-wasm"]
        .iter()
        .all(|m| dir.join("node_modules").join(m).is_dir());
    if !node_ok || !modules {
        // Written to the real stderr, past the test harness's capture, so the
        // notice shows in every `cargo test` run.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED secure_interop: {} (run `cd interop && npm ci` to enable it)",
            if node_ok {
                "interop/node_modules is missing"
            } else {
                "node is not installed"
            }
        );
        return None;
    }
    Some(dir)
}

fn node(script_dir: &Path, args: &[&str]) -> String {
    let out = Command::new("node")
        .current_dir(script_dir)
        .arg("interop.mjs")
        .args(args)
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !stdout.contains("FAIL"),
        "node interop.mjs {args:?} failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("ok "), "no check ran:\n{stdout}");
    stdout
}

fn project_files(d: &Dir) {
    d.write("pass.txt", &format!("{PASSPHRASE}\n"));
    d.write("wallet.hex", &format!("{WALLET_HEX}\n"));
    d.write("program.json", PROGRAM);
    d.write(
        "inputs.json",
        "{\n  \"x\": {\"int\": \"42\"},\n  \"note\": {\"string\": \"é\"}\n}\n",
    );
    d.write("db.json", DB);
}

#[test]
fn interop_with_the_javascript_stack() {
    let Some(script) = setup() else { return };

    // 1. The JavaScript stack agrees with the spec's vectors.
    node(&script, &["vectors"]);

    // 2. Rust seals, JavaScript opens.
    let a = Dir::new("interop-rust-to-js");
    project_files(&a);
    let pass = ["--passphrase-file", "pass.txt"];
    let wallet = ["--wallet-key-file", "wallet.hex"];
    let cli = |d: &Dir, args: &[&str]| finvm(d, args, &[]).ok();
    cli(
        &a,
        &[
            &["seal", "--new-grant", "grant-argon2id.json"][..],
            &pass,
            &["--target", "program", "program.json", "-o", "program.fenc"],
        ]
        .concat(),
    );
    cli(
        &a,
        &[
            &["grant", "--grant", "grant-argon2id.json"][..],
            &pass,
            &[
                "--new-grant",
                "grant-pbkdf2.json",
                "--to-passphrase-file",
                "pass.txt",
                "--kdf",
                "pbkdf2-sha256",
            ],
        ]
        .concat(),
    );
    cli(
        &a,
        &[
            &["grant", "--grant", "grant-pbkdf2.json"][..],
            &pass,
            &[
                "--new-grant",
                "grant-wallet.json",
                "--to-wallet-key-file",
                "wallet.hex",
            ],
        ]
        .concat(),
    );
    cli(
        &a,
        &[
            &["seal", "--grant", "grant-wallet.json"][..],
            &wallet,
            &["--target", "inputs", "inputs.json", "-o", "inputs.fenc"],
        ]
        .concat(),
    );
    cli(
        &a,
        &[
            &["seal", "--grant", "grant-wallet.json"][..],
            &wallet,
            &["--target", "db", "db.json", "-o", "db.fenc"],
        ]
        .concat(),
    );
    let run = cli(
        &a,
        &[
            &["run-sealed", "program.fenc", "--grant", "grant-wallet.json"][..],
            &wallet,
            &["--inputs", "inputs.fenc", "-o", "output.expected"],
        ]
        .concat(),
    );
    assert_eq!(run.stdout, "");
    assert_eq!(a.read("output.expected"), format!("{RESULT_42}\n"));
    cli(
        &a,
        &[
            &[
                "run-sealed",
                "program.fenc",
                "--grant",
                "grant-argon2id.json",
            ][..],
            &pass,
            &[
                "--inputs",
                "inputs.fenc",
                "--seal-output",
                "-o",
                "output.fenc",
            ],
        ]
        .concat(),
    );
    let opened = node(&script, &["open", a.path().to_str().unwrap()]);
    for check in [
        "grant-argon2id.json: unwrapped",
        "grant-pbkdf2.json: unwrapped",
        "grant-wallet.json: unwrapped",
        "all grants hold one DEK",
        "output.fenc: plaintext",
        "inputs.fenc: plaintext",
    ] {
        assert!(
            opened.contains(&format!("ok {check}")),
            "{check} missing:\n{opened}"
        );
    }

    // 3. JavaScript seals, Rust opens.
    let b = Dir::new("interop-js-to-rust");
    project_files(&b);
    b.write("output.txt", "a result sealed by node ✓");
    node(&script, &["seal", b.path().to_str().unwrap()]);
    let compact_inputs = r#"{"x":{"int":"42"},"note":{"string":"é"}}"#;
    for (grant, key) in [
        ("grant-argon2id.json", &pass),
        ("grant-pbkdf2.json", &pass),
        ("grant-wallet.json", &wallet),
        ("grant-eth.json", &wallet),
    ] {
        let g: serde_json::Value = serde_json::from_str(&b.read(grant)).unwrap();
        if grant.contains("pbkdf2") || grant.contains("argon2id") {
            assert_eq!(
                g["kdfParams"],
                serde_json::json!({}),
                "reference-style grant"
            );
        }
        let run = cli(
            &b,
            &[
                &["run-sealed", "program.fenc", "--grant", grant][..],
                key,
                &["--inputs", "inputs.fenc"],
            ]
            .concat(),
        );
        assert_eq!(run.stdout, format!("{RESULT_42}\n"), "{grant}");
        if grant == "grant-wallet.json" {
            for (file, target, plain) in [
                ("program.fenc", "program", PROGRAM),
                ("inputs.fenc", "inputs", compact_inputs),
                ("db.fenc", "db", DB),
                ("output.fenc", "output", "a result sealed by node ✓"),
            ] {
                let run = cli(
                    &b,
                    &[
                        &["unseal", file, "--grant", grant, "--target", target][..],
                        key,
                    ]
                    .concat(),
                );
                assert_eq!(run.stdout, plain, "{file}");
            }
        }
    }
    // A wrong passphrase on the JavaScript grant fails closed here too.
    b.write("wrong.txt", "not it");
    let run = finvm(
        &b,
        &[
            "run-sealed",
            "program.fenc",
            "--grant",
            "grant-pbkdf2.json",
            "--passphrase-file",
            "wrong.txt",
        ],
        &[],
    )
    .failed();
    assert_eq!(
        run.stdout,
        "{\"status\":\"failed\",\"error\":\"DecryptionFailed: DEK unwrap failed\"}\n"
    );
}
