//! Fail-closed behaviour: wrong keys, every tampered field, target swaps and
//! truncation all end in `DecryptionFailed` before anything runs. KDFs use
//! cheap parameters (with the test floors) so the suite stays fast; the
//! real floors are covered by `known_answers.rs` and the floor tests here.

use finvm::api::RunOptions;
use finvm_secure::grant::parse_private_key_hex;
use finvm_secure::{
    create_wallet_grant, load_secure, run_sealed, unwrap_dek, Artifacts, Dek, Envelope, Grant, Kdf,
    KdfFloors, KeyProvider, PassphraseProvider, SecureError, StaticKeyProvider, Target,
    WalletKeyProvider,
};
use serde_json::Value as J;

const ENVELOPE_FAILED: &str =
    "DecryptionFailed: Envelope decryption failed (tag/AAD/fingerprint mismatch)";
const UNWRAP_FAILED: &str = "DecryptionFailed: DEK unwrap failed";

const CHEAP_ARGON2: Kdf = Kdf::Argon2id {
    iterations: 1,
    memory_kib: 64,
    parallelism: 1,
};
const CHEAP_PBKDF2: Kdf = Kdf::Pbkdf2Sha256 { iterations: 1000 };

fn passphrase(p: &str) -> PassphraseProvider {
    PassphraseProvider::new(p)
        .unwrap()
        .with_floors(KdfFloors::INSECURE_FOR_TESTS)
}

fn wallet(byte: u8) -> WalletKeyProvider {
    WalletKeyProvider::from_hex(&format!("{byte:02x}").repeat(32)).unwrap()
}

fn envelope_json(dek: &Dek, target: Target, text: &str) -> String {
    Envelope::seal(dek, target, text.as_bytes()).to_json()
}

/// Replaces one field of a JSON object text (or removes it with `None`).
fn with_field(text: &str, key: &str, value: Option<J>) -> String {
    let mut j: J = serde_json::from_str(text).unwrap();
    let o = j.as_object_mut().unwrap();
    match value {
        Some(v) => {
            o.insert(key.into(), v);
        }
        None => {
            o.remove(key);
        }
    }
    serde_json::to_string(&j).unwrap()
}

fn open_err(dek: &Dek, text: &str) -> String {
    Envelope::parse(text)
        .and_then(|e| e.open(dek))
        .unwrap_err()
        .to_string()
}

/// Flips one bit of the base64 field's decoded bytes at `index`.
fn flip(b64_text: &str, index: usize) -> String {
    let mut bytes = finvm_secure::b64::decode(b64_text);
    bytes[index] ^= 0x01;
    finvm_secure::b64::encode(&bytes)
}

fn xor_first(b64_text: &str, mask: u8) -> String {
    let mut bytes = finvm_secure::b64::decode(b64_text);
    bytes[0] ^= mask;
    finvm_secure::b64::encode(&bytes)
}

#[test]
fn envelope_with_the_wrong_key_fails() {
    let env = envelope_json(&Dek::generate(), Target::Program, "{}");
    assert_eq!(open_err(&Dek::generate(), &env), ENVELOPE_FAILED);
}

#[test]
fn every_tampered_envelope_field_fails() {
    let dek = Dek::generate();
    let plain = r#"{"registerCount":1,"instructions":[["RETURN",0]]}"#;
    let env = envelope_json(&dek, Target::Program, plain);
    let e = Envelope::parse(&env).unwrap();
    assert_eq!(e.open(&dek).unwrap(), plain);

    // The reference's own tamper test: the last 4 characters of ct replaced.
    let ct = format!("{}AAAA", &e.ct[..e.ct.len() - 4]);
    assert_eq!(
        open_err(&dek, &with_field(&env, "ct", Some(ct.into()))),
        ENVELOPE_FAILED
    );
    // Every byte of ct (ciphertext and tag) and of the IV.
    let ct_len = finvm_secure::b64::decode(&e.ct).len();
    for i in 0..ct_len {
        let t = with_field(&env, "ct", Some(flip(&e.ct, i).into()));
        assert_eq!(open_err(&dek, &t), ENVELOPE_FAILED, "ct byte {i}");
    }
    for i in 0..12 {
        let t = with_field(&env, "iv", Some(flip(&e.iv, i).into()));
        assert_eq!(open_err(&dek, &t), ENVELOPE_FAILED, "iv byte {i}");
    }
    // A short IV, an empty ct, a ct without its tag.
    let t = with_field(&env, "iv", Some("AAECAwQFBgcICQo=".into()));
    assert_eq!(open_err(&dek, &t), ENVELOPE_FAILED);
    let t = with_field(&env, "ct", Some("".into()));
    assert_eq!(open_err(&dek, &t), ENVELOPE_FAILED);
    let bytes = finvm_secure::b64::decode(&e.ct);
    let t = with_field(
        &env,
        "ct",
        Some(finvm_secure::b64::encode(&bytes[..bytes.len() - 16]).into()),
    );
    assert_eq!(open_err(&dek, &t), ENVELOPE_FAILED);
    // The AAD field: changed → AAD mismatch; removed → recomputed from target.
    let t = with_field(&env, "aad", Some("finvm:inputs".into()));
    assert_eq!(
        open_err(&dek, &t),
        "DecryptionFailed: AAD mismatch: expected finvm:program, got finvm:inputs"
    );
    let t = with_field(&env, "aad", None);
    assert_eq!(Envelope::parse(&t).unwrap().open(&dek).unwrap(), plain);
    // Cipher, target, version.
    let t = with_field(&env, "cipher", Some("aes-128-gcm".into()));
    assert_eq!(open_err(&dek, &t), ENVELOPE_FAILED);
    let t = with_field(
        &with_field(&env, "target", Some("bogus".into())),
        "aad",
        None,
    );
    assert_eq!(open_err(&dek, &t), ENVELOPE_FAILED);
    for fenc in [J::from(2), J::from("1"), J::Bool(true)] {
        let t = with_field(&env, "fenc", Some(fenc));
        assert_eq!(
            open_err(&dek, &t),
            "DecryptionFailed: Not a valid fenc envelope"
        );
    }
    for key in ["fenc", "target", "cipher", "iv", "ct"] {
        let t = with_field(&env, key, None);
        assert_eq!(
            open_err(&dek, &t),
            "DecryptionFailed: Not a valid fenc envelope",
            "{key}"
        );
    }
}

#[test]
fn target_swap_fails() {
    let dek = Dek::generate();
    let env = envelope_json(&dek, Target::Program, "{}");
    // The reference's swap: target and aad both say inputs.
    let swapped = with_field(
        &with_field(&env, "target", Some("inputs".into())),
        "aad",
        Some("finvm:inputs".into()),
    );
    assert_eq!(open_err(&dek, &swapped), ENVELOPE_FAILED);
    // Target changed alone: the AAD field no longer matches.
    let t = with_field(&env, "target", Some("db".into()));
    assert_eq!(
        open_err(&dek, &t),
        "DecryptionFailed: AAD mismatch: expected finvm:db, got finvm:program"
    );
    // Through the loader: each role refuses the others.
    let grant = create_wallet_grant(&wallet(7).public_key(), &dek).unwrap();
    let inputs_env = envelope_json(&dek, Target::Inputs, "{}");
    let err = load_secure(
        &grant,
        &wallet(7),
        Artifacts {
            program: &inputs_env,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "DecryptionFailed: Program envelope target mismatch"
    );
    let err = load_secure(
        &grant,
        &wallet(7),
        Artifacts {
            program: "{}",
            inputs: Some(&env),
            db: None,
        },
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "DecryptionFailed: Inputs envelope target mismatch"
    );
    let err = load_secure(
        &grant,
        &wallet(7),
        Artifacts {
            program: "{}",
            inputs: None,
            db: Some(&env),
        },
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "DecryptionFailed: DB envelope target mismatch"
    );
}

#[test]
fn truncated_envelopes_fail() {
    let dek = Dek::generate();
    let env = envelope_json(&dek, Target::Output, "result");
    for cut in [0, 1, env.len() / 2, env.len() - 1] {
        assert_eq!(
            open_err(&dek, &env[..cut]),
            "DecryptionFailed: Not a valid fenc envelope",
            "cut at {cut}"
        );
    }
}

#[test]
fn wrong_passphrase_fails() {
    let dek = Dek::generate();
    for kdf in [CHEAP_ARGON2, CHEAP_PBKDF2] {
        let grant = passphrase("right").create_grant(&dek, kdf).unwrap();
        assert_eq!(
            unwrap_dek(&grant, &passphrase("right")).unwrap().as_bytes(),
            dek.as_bytes()
        );
        let err = unwrap_dek(&grant, &passphrase("wrong")).unwrap_err();
        assert_eq!(err.to_string(), UNWRAP_FAILED);
    }
}

#[test]
fn wrong_wallet_key_fails() {
    let dek = Dek::generate();
    let grant = wallet(1).create_grant(&dek).unwrap();
    assert_eq!(
        unwrap_dek(&grant, &wallet(1)).unwrap().as_bytes(),
        dek.as_bytes()
    );
    assert_eq!(
        unwrap_dek(&grant, &wallet(2)).unwrap_err().to_string(),
        UNWRAP_FAILED
    );
}

#[test]
fn every_tampered_passphrase_grant_field_fails() {
    let dek = Dek::generate();
    let provider = passphrase("pw");
    let grant = provider.create_grant(&dek, CHEAP_ARGON2).unwrap().to_json();
    let g: J = serde_json::from_str(&grant).unwrap();
    let field = |k: &str| g[k].as_str().unwrap().to_string();
    let mut tampered = vec![
        with_field(&grant, "iv", Some(flip(&field("iv"), 0).into())),
        with_field(&grant, "ct", Some(flip(&field("ct"), 5).into())),
        with_field(&grant, "ct", Some(flip(&field("ct"), 40).into())),
        with_field(&grant, "salt", Some(flip(&field("salt"), 3).into())),
        with_field(&grant, "salt", None),
        with_field(&grant, "kdf", Some("pbkdf2-sha256".into())),
        with_field(
            &grant,
            "kdfParams",
            Some(serde_json::json!({"iterations": 2, "memorySize": 64, "parallelism": 1})),
        ),
        with_field(
            &grant,
            "kdfParams",
            Some(serde_json::json!({"iterations": "1"})),
        ),
        with_field(&grant, "wrap", Some("aes-kw".into())),
        with_field(&grant, "wrap", None),
        with_field(&grant, "iv", None),
        with_field(&grant, "ct", None),
    ];
    let ct = field("ct");
    tampered.push(with_field(&grant, "ct", Some(ct[..ct.len() - 8].into())));
    for (i, t) in tampered.iter().enumerate() {
        let err = unwrap_dek(&Grant::parse(t).unwrap(), &provider).unwrap_err();
        assert_eq!(err.to_string(), UNWRAP_FAILED, "case {i}: {t}");
    }
    assert!(Grant::parse("[1]").is_err());
    assert!(Grant::parse(&grant[..grant.len() - 1]).is_err());
}

#[test]
fn every_tampered_wallet_grant_field_fails() {
    let dek = Dek::generate();
    let grant = wallet(3).create_grant(&dek).unwrap().to_json();
    let g: J = serde_json::from_str(&grant).unwrap();
    let field = |k: &str| g[k].as_str().unwrap().to_string();
    let tampered = [
        with_field(
            &grant,
            "ephemeralPub",
            Some(flip(&field("ephemeralPub"), 10).into()),
        ),
        with_field(
            &grant,
            "ephemeralPub",
            Some(xor_first(&field("ephemeralPub"), 0x04).into()),
        ),
        with_field(&grant, "ephemeralPub", None),
        with_field(&grant, "iv", Some(flip(&field("iv"), 11).into())),
        with_field(&grant, "ct", Some(flip(&field("ct"), 47).into())),
        with_field(&grant, "wrap", Some("ecies-p256".into())),
    ];
    for (i, t) in tampered.iter().enumerate() {
        let err = unwrap_dek(&Grant::parse(t).unwrap(), &wallet(3)).unwrap_err();
        assert_eq!(err.to_string(), UNWRAP_FAILED, "case {i}: {t}");
    }
    // Flipping the point's parity prefix (02 <-> 03) negates the point, and
    // the shared secret is only its x coordinate: the same key. Inherent to
    // the reference's scheme, and harmless (it reveals nothing, and the
    // ciphertext is still authenticated).
    let negated = with_field(
        &grant,
        "ephemeralPub",
        Some(xor_first(&field("ephemeralPub"), 0x01).into()),
    );
    assert!(unwrap_dek(&Grant::parse(&negated).unwrap(), &wallet(3)).is_ok());
    // recipientPub is informational only.
    let t = with_field(&grant, "recipientPub", None);
    assert!(unwrap_dek(&Grant::parse(&t).unwrap(), &wallet(3)).is_ok());
}

#[test]
fn provider_kind_mismatch_messages() {
    let dek = Dek::generate();
    let pass_grant = passphrase("pw").create_grant(&dek, CHEAP_PBKDF2).unwrap();
    let wallet_grant = wallet(5).create_grant(&dek).unwrap();
    assert_eq!(
        unwrap_dek(&pass_grant, &wallet(5)).unwrap_err().to_string(),
        "DecryptionFailed: KEK derivation failed"
    );
    assert_eq!(
        unwrap_dek(&wallet_grant, &passphrase("pw"))
            .unwrap_err()
            .to_string(),
        "DecryptionFailed: Wallet private key required for ECIES unwrap"
    );
    assert_eq!(
        unwrap_dek(&wallet_grant, &StaticKeyProvider::default())
            .unwrap_err()
            .to_string(),
        "DecryptionFailed: Wallet private key required for ECIES unwrap"
    );
}

#[test]
fn kdf_floors_and_their_messages() {
    let dek = Dek::generate();
    let real = PassphraseProvider::new("pw").unwrap();
    let err = |kdf| real.create_grant(&dek, kdf).unwrap_err();
    assert_eq!(
        err(Kdf::Argon2id {
            iterations: 3,
            memory_kib: 1024,
            parallelism: 1
        }),
        SecureError::Invalid("Argon2id memory 1024 below floor 65536".into())
    );
    assert_eq!(
        err(Kdf::Argon2id {
            iterations: 2,
            memory_kib: 65536,
            parallelism: 1
        }),
        SecureError::Invalid("Argon2id iterations 2 below floor 3".into())
    );
    assert_eq!(
        err(Kdf::Pbkdf2Sha256 { iterations: 1000 }),
        SecureError::Invalid("PBKDF2 iterations 1000 below floor 210000".into())
    );
    // A grant below the Argon2id floor is refused without deriving anything.
    let weak = passphrase("pw").create_grant(&dek, CHEAP_ARGON2).unwrap();
    assert_eq!(
        unwrap_dek(&weak, &real).unwrap_err().to_string(),
        UNWRAP_FAILED
    );
    // Absurd parameters from a hostile grant are refused, not allocated.
    let huge = with_field(
        &weak.to_json(),
        "kdfParams",
        Some(serde_json::json!({"iterations": 3, "memorySize": 4294967295u32, "parallelism": 1})),
    );
    assert_eq!(
        unwrap_dek(&Grant::parse(&huge).unwrap(), &real)
            .unwrap_err()
            .to_string(),
        UNWRAP_FAILED
    );
    assert_eq!(
        PassphraseProvider::new("").unwrap_err(),
        SecureError::Invalid("Passphrase required".into())
    );
}

#[test]
fn our_grants_record_the_kdf_actually_used() {
    let dek = Dek::generate();
    let g: J = serde_json::from_str(
        &passphrase("pw")
            .create_grant(&dek, CHEAP_PBKDF2)
            .unwrap()
            .to_json(),
    )
    .unwrap();
    let keys: Vec<&str> = g.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["wrap", "iv", "ct", "kdf", "salt", "kdfParams"]);
    assert_eq!(g["kdf"], "pbkdf2-sha256");
    assert_eq!(g["kdfParams"], serde_json::json!({"iterations": 1000}));
    let g: J = serde_json::from_str(
        &passphrase("pw")
            .create_grant(&dek, CHEAP_ARGON2)
            .unwrap()
            .to_json(),
    )
    .unwrap();
    assert_eq!(g["kdf"], "argon2id");
    assert_eq!(
        g["kdfParams"],
        serde_json::json!({"iterations": 1, "memorySize": 64, "parallelism": 1})
    );
    let g: J = serde_json::from_str(&wallet(9).create_grant(&dek).unwrap().to_json()).unwrap();
    let keys: Vec<&str> = g.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["wrap", "ephemeralPub", "iv", "ct", "recipientPub"]);
}

#[test]
fn private_key_parsing() {
    assert_eq!(
        parse_private_key_hex("abcd").unwrap_err(),
        SecureError::Invalid("Private key must be 32 bytes".into())
    );
    assert!(parse_private_key_hex(&"zz".repeat(32)).is_err());
    // Zero is not a secp256k1 key.
    assert!(parse_private_key_hex(&"00".repeat(32)).is_err());
    assert!(parse_private_key_hex(&format!("  0x{}\n", "ab".repeat(32))).is_ok());
}

#[test]
fn a_failed_open_runs_nothing() {
    let dek = Dek::generate();
    // A program that would fail loudly if it ran.
    let program = r#"{"registerCount":1,"instructions":[["ABORT",7]]}"#;
    let sealed = envelope_json(&dek, Target::Program, program);
    let grant = wallet(4).create_grant(&dek).unwrap();
    let tampered = with_field(&sealed, "ct", Some("AAAA".into()));
    let counting = StaticKeyProvider::with_wallet_key(
        *parse_private_key_hex(&"04".repeat(32)).unwrap().as_bytes(),
    );
    let run = run_sealed(
        &grant,
        &counting,
        Artifacts {
            program: &tampered,
            ..Default::default()
        },
        &RunOptions {
            collect_trace: true,
            ..Default::default()
        },
    );
    assert_eq!(counting.times_asked(), 1);
    assert!(!run.report.ok);
    assert_eq!(
        run.report.json,
        format!(r#"{{"status":"failed","error":"{ENVELOPE_FAILED}"}}"#)
    );
    assert!(run.report.trace.is_empty());
    assert!(run.dek.is_none());
    // Wrong key: same, and the error names no secret.
    let run = run_sealed(
        &grant,
        &wallet(8),
        Artifacts {
            program: &sealed,
            ..Default::default()
        },
        &RunOptions::default(),
    );
    assert_eq!(
        run.report.json,
        format!(r#"{{"status":"failed","error":"{UNWRAP_FAILED}"}}"#)
    );
}

#[test]
fn debug_output_never_shows_secrets() {
    let dek = Dek::from_bytes([0xab; 32]);
    let p = passphrase("hunter2-secret");
    let w = wallet(0x42);
    for text in [format!("{dek:?}"), format!("{p:?}"), format!("{w:?}")] {
        assert!(!text.contains("hunter2"), "{text}");
        assert!(!text.contains("171"), "{text}");
        assert!(!text.to_lowercase().contains("abab"), "{text}");
        assert!(!text.contains("4242"), "{text}");
        assert!(text.contains("REDACTED"), "{text}");
    }
    assert_eq!(p.kind(), "passphrase");
}
