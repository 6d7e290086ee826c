//! The decode boundary (HOST.md §8.7, FORMATS.md §1.3–§1.4) and the sealed
//! run pipeline (HOST.md §8.6, §8.8).

use finvm::api::{run_json, RunOptions};
use finvm_secure::loader::{is_sealed_program, seal_artifacts};
use finvm_secure::{
    load_secure, run_sealed, run_with_inputs, seal_output, Artifacts, Dek, Envelope, Target,
    WalletKeyProvider,
};
use serde_json::{json, Value as J};

const PROGRAM: &str = r#"{"version":"1.0","registerCount":4,"constants":[{"string":"x"}],
 "instructions":[["LOAD_CONST",0,0],["CALL_BUILTIN",1,"input.get@1",[0]],["STATE_SET","answer",1],["RETURN",1]],
 "inputs":{"schema":[{"name":"x","type":"Int","required":true},{"name":"note","type":"String","required":false}]}}"#;

fn wallet() -> WalletKeyProvider {
    WalletKeyProvider::from_hex(&"5a".repeat(32)).unwrap()
}

fn opts() -> RunOptions {
    RunOptions::default()
}

fn run(program: &str, inputs: Option<&str>) -> String {
    run_with_inputs(program, inputs, &opts()).json
}

#[test]
fn sealed_root_is_refused_by_the_vm() {
    let dek = Dek::generate();
    let sealed = Envelope::seal(&dek, Target::Program, PROGRAM.as_bytes()).to_json();
    assert!(is_sealed_program(&sealed));
    assert!(!is_sealed_program(PROGRAM));
    let report = run_json(&sealed, &opts());
    assert!(!report.ok);
    assert_eq!(
        report.json,
        r#"{"status":"failed","error":"DecryptionFailed: Program is sealed; decrypt via SecureLoader before loading"}"#
    );
}

#[test]
fn sealed_inputs_values_are_refused_by_the_vm() {
    let dek = Dek::generate();
    let env = Envelope::seal(&dek, Target::Inputs, br#"{"x":{"int":"42"}}"#).to_json();
    let mut program: J = serde_json::from_str(PROGRAM).unwrap();
    program["inputs"]["values"] = serde_json::from_str(&env).unwrap();
    let text = program.to_string();
    assert_eq!(
        run_json(&text, &opts()).json,
        r#"{"status":"failed","error":"DecryptionFailed: inputs.values is sealed; decrypt via SecureLoader before loading"}"#
    );
    // With the decrypted values supplied, the sealed values are ignored.
    let out = run(&text, Some(r#"{"x":{"int":"99"}}"#));
    assert_eq!(
        out,
        r#"{"status":"completed","steps":4,"result":{"int":"99"},"state":{"answer":{"int":"99"}}}"#
    );
}

#[test]
fn decrypted_inputs_are_validated_with_the_reference_messages() {
    let cases = [
        (
            r#"{"x":{"string":"nope"}}"#,
            "InputValidation: Input 'x': expected Int, got String",
        ),
        (
            r#"{"note":{"string":"hi"}}"#,
            "MissingInput: Required input missing: x",
        ),
        (
            r#"{"x":{"int":"1"},"z":{"int":"2"},"y":{"bool":true}}"#,
            r#"InputValidation: Unknown input fields: [\"y\",\"z\"]"#,
        ),
        (
            r#"{"x":{"int":"1"},"note":{"int":"2"}}"#,
            "InputValidation: Input 'note': expected String, got Int",
        ),
        ("[1]", "decrypted inputs.values must be an object"),
    ];
    for (values, error) in cases {
        assert_eq!(
            run(PROGRAM, Some(values)),
            format!(r#"{{"status":"failed","error":"{error}"}}"#),
            "{values}"
        );
    }
}

#[test]
fn input_all_sees_the_decrypted_values() {
    let program = r#"{"registerCount":2,"instructions":[["CALL_BUILTIN",0,"input.all@1",[]],["RETURN",0]],
      "inputs":{"schema":[{"name":"x","type":"Int"},{"name":"y","type":"String"}]}}"#;
    let out = run(program, Some(r#"{"x":{"int":"42"},"y":{"string":"hi"}}"#));
    assert_eq!(
        out,
        r#"{"status":"completed","steps":2,"result":{"record":{"x":{"int":"42"},"y":{"string":"hi"}}},"state":{}}"#
    );
}

#[test]
fn values_for_a_program_without_inputs_are_unknown_fields() {
    let program = r#"{"registerCount":1,"instructions":[["RETURN",0]]}"#;
    assert_eq!(
        run(program, Some(r#"{"a":{"int":"1"}}"#)),
        r#"{"status":"failed","error":"InputValidation: Unknown input fields: [\"a\"]"}"#
    );
    assert_eq!(
        run(program, Some("{}")),
        r#"{"status":"completed","steps":1,"result":null,"state":{}}"#
    );
}

#[test]
fn the_whole_sealed_pipeline() {
    let dek = Dek::generate();
    let values = json!({"x": {"int": "42"}});
    let (program, inputs, db) = seal_artifacts(
        &dek,
        PROGRAM,
        values.as_object(),
        Some(
            r#"{"sequence":1,"tables":[["seed",[["rec0",{"id":"rec0","timestamp":0,"content":{"seeded":true}}]]]]}"#,
        ),
    );
    let inputs = inputs.unwrap();
    assert_eq!(inputs.open(&dek).unwrap(), r#"{"x":{"int":"42"}}"#);
    let grant = wallet().create_grant(&dek).unwrap();
    let (program, inputs, db) = (program.to_json(), inputs.to_json(), db.unwrap().to_json());
    let artifacts = Artifacts {
        program: &program,
        inputs: Some(&inputs),
        db: Some(&db),
    };
    let loaded = load_secure(&grant, &wallet(), artifacts).unwrap();
    assert_eq!(loaded.program_json, PROGRAM);
    assert!(loaded.db.unwrap().starts_with(r#"{"sequence":1,"#));

    let run = run_sealed(&grant, &wallet(), artifacts, &opts());
    assert!(run.report.ok);
    assert_eq!(
        run.report.json,
        r#"{"status":"completed","steps":4,"result":{"int":"42"},"state":{"answer":{"int":"42"}}}"#
    );
    // The output sealed for the server, opened again by the client.
    let dek = run.dek.unwrap();
    let sealed = seal_output(&dek, &run.report.json);
    assert_eq!(sealed.target, "output");
    assert!(!sealed.to_json().contains("answer"));
    assert_eq!(
        Envelope::parse(&sealed.to_json())
            .unwrap()
            .open_as(&dek, Target::Output)
            .unwrap(),
        run.report.json
    );
}

#[test]
fn plaintext_artifacts_pass_through_the_loader() {
    let dek = Dek::generate();
    let grant = wallet().create_grant(&dek).unwrap();
    let run = run_sealed(
        &grant,
        &wallet(),
        Artifacts {
            program: PROGRAM,
            inputs: Some(r#"{"x":{"int":"7"}}"#),
            db: None,
        },
        &opts(),
    );
    assert_eq!(
        run.report.json,
        r#"{"status":"completed","steps":4,"result":{"int":"7"},"state":{"answer":{"int":"7"}}}"#
    );
}
