//! The programs in `examples/` run to `completed` through the real `finvm`
//! binary, with the results worked out independently (by hand and with a
//! few lines of Python: `decimal` with ROUND_HALF_EVEN for the ledger,
//! `math.factorial` and `hashlib.sha256` for the big integers). Each run is
//! repeated for byte-identical output, and again with `--performance-mode`
//! for the same status, result, state and step count.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

const FINVM: &str = env!("CARGO_BIN_EXE_finvm");

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// Runs `finvm run [flags] examples/<name>`; returns the raw stdout and the
/// parsed result document.
fn run_example(name: &str, flags: &[&str]) -> (Vec<u8>, Value) {
    let path = examples_dir().join(name);
    let output = Command::new(FINVM)
        .arg("run")
        .args(flags)
        .arg(&path)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {FINVM}: {e}"));
    let stdout = String::from_utf8(output.stdout.clone()).expect("UTF-8 output");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{name}: unexpected output:\n{stdout}");
    assert_eq!(
        lines[0],
        format!("Loading program from: {}", path.display()),
        "{name}"
    );
    let doc: Value = serde_json::from_str(lines[1]).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(
        output.status.success(),
        "{name}: exit code {:?} for {doc}",
        output.status.code()
    );
    (output.stdout, doc)
}

/// The common checks; returns the document of the first run.
fn check_example(name: &str, result: Value, state: Value) -> Value {
    let (first_bytes, first) = run_example(name, &[]);
    assert_eq!(first["status"], "completed", "{name}: {first}");
    assert_eq!(first["result"], result, "{name}: result");
    assert_eq!(first["state"], state, "{name}: state");
    assert!(first["steps"].as_u64().is_some_and(|s| s > 0), "{name}");

    let (second_bytes, _) = run_example(name, &[]);
    assert_eq!(
        first_bytes, second_bytes,
        "{name}: two runs printed different bytes"
    );

    let (_, fast) = run_example(name, &["--performance-mode"]);
    for key in ["status", "result", "state", "steps"] {
        assert_eq!(
            fast[key], first[key],
            "{name}: --performance-mode changed {key}"
        );
    }
    first
}

fn fixed2(value: &str) -> Value {
    json!({"fixed": {"value": value, "scale": 2}})
}

#[test]
fn ledger() {
    // Balances in cents after the six postings and three monthly interest
    // runs at 450 bps / 12, each rounded half-to-even (dave's first month:
    // 1200 × 450 / 120000 = 4.5 → 4).
    let balances = json!({"map": [
        {"key": {"string": "alice"}, "value": fixed2("41994")},
        {"key": {"string": "bob"}, "value": fixed2("13146")},
        {"key": {"string": "carol"}, "value": fixed2("236200")},
        {"key": {"string": "dave"}, "value": fixed2("1214")}
    ]});
    check_example(
        "ledger.json",
        fixed2("292554"),
        json!({
            "balances": balances,
            "postings": {"int": "18"},
            "total": fixed2("292554")
        }),
    );
}

#[test]
fn order_workflow() {
    let history = json!({"list": [
        {"string": "draft"},
        {"string": "placed"},
        {"string": "paid"},
        {"string": "shipped"},
        {"string": "delivered"}
    ]});
    let item = |qty: &str, sku: &str, price: &str| json!({"record": {"qty": {"int": qty}, "sku": {"string": sku}, "unitPrice": fixed2(price)}});
    check_example(
        "order-workflow.json",
        json!({"record": {
            "change": fixed2("2610"),
            "history": history,
            "state": {"string": "delivered"},
            "tracking": {"string": "TRK-ACME-17"}
        }}),
        json!({
            "amountPaid": fixed2("15000"),
            "change": fixed2("2610"),
            "history": history,
            "items": {"list": [
                item("200", "BOLT-M8", "12"),
                item("200", "NUT-M8", "5"),
                item("1", "DRILL-18V", "8990")
            ]},
            // MACHINE_NEW is the 49th step: 2 in main, 39 in order_total, 7 more in main.
            "order": {"stateMachine": "mi49"},
            "orderTotal": fixed2("12390"),
            "payment": fixed2("15000"),
            "tracking": {"string": "TRK-ACME-17"}
        }),
    );
}

#[test]
fn bigint_strings() {
    let factorial = "30414093201713378043612608166064768844377641568960512000000000000";
    check_example(
        "bigint-strings.json",
        json!({"record": {
            "crossCheck": {"bool": true},
            "digits": {"int": "65"},
            "factorial": {"int": factorial},
            "leading": {"string": "3041409320"},
            "modPrime": {"int": "318608048"},
            // SHA-256 of the canonical text "int:<50!>", upper-cased.
            "sha256": {"string": "726ADFA2BD3D370C5E09A48460DBA9E9FFF909D0BF8E104629377354A6653AC8"},
            "trailingZeros": {"int": "12"},
            "words": {"list": [
                {"string": "50!"}, {"string": "has"}, {"string": "65"}, {"string": "digits"}
            ]},
            "zerosStartAt": {"int": "53"}
        }}),
        json!({}),
    );
}

/// Runs `finvm effect start examples/<name>` and returns the event types.
fn effect_event_types(name: &str) -> Vec<String> {
    let output = Command::new(FINVM)
        .args(["effect", "start"])
        .arg(examples_dir().join(name))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {FINVM}: {e}"));
    let doc: Value =
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(doc["status"], "completed", "{name}: {doc}");
    doc["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["type_"].as_str().expect("type_").to_string())
        .collect()
}

/// The events the examples emit are reported by the effect API: one
/// `ledger.posted` per posting (6 postings + 12 interest postings), and one
/// per order transition with an action.
#[test]
fn examples_emit_their_events() {
    assert_eq!(effect_event_types("ledger.json"), vec!["ledger.posted"; 18]);
    assert_eq!(
        effect_event_types("order-workflow.json"),
        [
            "order.placed",
            "order.paid",
            "order.shipped",
            "order.delivered"
        ]
    );
}

/// Every example in `examples/` has a test above.
#[test]
fn every_example_is_covered() {
    let mut names: Vec<String> = fs::read_dir(examples_dir())
        .expect("examples/ exists")
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["bigint-strings.json", "ledger.json", "order-workflow.json"]
    );
}
