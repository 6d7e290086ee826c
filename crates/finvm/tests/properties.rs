//! Differential properties over thousands of random programs and values
//! (issue 7, part 2):
//!
//! - two runs of a program give byte-identical output and trace;
//! - `performanceMode` on and off (and tracing on and off) give the same
//!   result, state and steps;
//! - `finvm run` and the effect API agree on every run that needs no host;
//! - driving a program through the effect API, suspending at each quiescent
//!   point and resuming from the snapshot *text*, gives exactly the output of
//!   resuming the live machine (a straight run);
//! - `decode(encode(v)) == v` for every data value, in the public codec and
//!   in the snapshot codec (every value);
//! - equal values have equal canonical text and hash, and the value order is
//!   a total order consistent with equality;
//! - records of any size (hashed past a few fields) encode and order as the
//!   same fields inserted otherwise, and record programs keep the fields a
//!   `BTreeMap` in UTF-16 order keeps.
//!
//! Programs come from `support/progen.rs`, the generator the `interp` and
//! `snapshot` fuzz targets use: valid by construction, over every opcode,
//! with processes, effects and state machines, under small limits.

#[path = "support/checks.rs"]
mod checks;
#[path = "support/edge_chars.rs"]
mod edge_chars;
#[path = "support/progen.rs"]
mod progen;

use finvm::effect;
use finvm::effect::snapshot::{decode_sv, encode_sv};
use finvm::num::{Int, Rational};
use finvm::value::canon::{canonical, hash_value};
use finvm::value::json::{decode_value, value_to_json};
use finvm::value::{List, MachineInstance, Map, Record, Str, Tagged, Value};
use progen::{Bytes, Generated, Seeded, Shape};
use proptest::prelude::*;
use std::cmp::Ordering;
use std::rc::Rc;

fn gen_bytes(bytes: &[u8]) -> Generated {
    progen::program(&mut Bytes::new(bytes), Shape::default())
}

fn gen_seed(seed: u64) -> Generated {
    progen::program(&mut Seeded(seed), Shape::default())
}

fn fail(e: String) -> TestCaseError {
    TestCaseError::fail(e)
}

fn check_run_properties(g: &Generated) -> Result<bool, TestCaseError> {
    let text = g.text();
    let program = finvm::api::load_program(&text)
        .map_err(|e| fail(format!("generated program invalid: {e}\n{text}")))?;
    checks::check_program(Rc::new(program))
        .map(|s| s.completed)
        .map_err(|e| fail(format!("{e}\nprogram: {text}")))
}

fn check_suspend_resume(g: &Generated, max_rounds: usize) -> Result<usize, TestCaseError> {
    let text = g.text();
    let program = effect::load_program(&text).expect("generated programs load");
    checks::check_suspend_resume(&program, max_rounds, checks::host_deliveries)
        .map_err(|e| fail(format!("{e}\nprogram: {text}")))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Two runs, performance mode, tracing, and run vs effect API.
    #[test]
    fn runs_are_deterministic_and_recording_never_changes_them(
        bytes in prop::collection::vec(any::<u8>(), 0..1500)
    ) {
        check_run_properties(&gen_bytes(&bytes))?;
    }

    /// Suspending at each quiescent point and resuming from the snapshot
    /// text gives the output of the straight (live) run.
    #[test]
    fn resuming_from_snapshot_text_equals_the_straight_run(
        bytes in prop::collection::vec(any::<u8>(), 0..1500)
    ) {
        check_suspend_resume(&gen_bytes(&bytes), 8)?;
    }
}

/// A long deterministic sweep over seeded programs (no shrinking, but
/// thousands more programs, and a coverage check that the generator
/// reaches completed runs, failures and suspensions).
#[test]
fn seeded_sweep_of_random_programs() {
    let n: u64 = std::env::var("FINVM_PROPERTY_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6000);
    let (mut completed, mut suspended_rounds) = (0, 0);
    for seed in 0..n {
        let g = gen_seed(seed);
        match check_run_properties(&g) {
            Ok(ok) => completed += usize::from(ok),
            Err(e) => panic!("seed {seed}: {e}"),
        }
        match check_suspend_resume(&g, 6) {
            Ok(r) => suspended_rounds += r,
            Err(e) => panic!("seed {seed}: {e}"),
        }
    }
    // The generator must exercise both outcomes and the effect API.
    eprintln!("{completed} of {n} programs completed, {suspended_rounds} resume rounds");
    assert!(
        completed > n as usize / 10,
        "only {completed} of {n} completed"
    );
    assert!(
        completed < n as usize,
        "every program completed: the generator is too tame"
    );
    assert!(
        suspended_rounds > n as usize / 20,
        "only {suspended_rounds} resume rounds in {n} programs"
    );
}

// ------------------------------------------------------------ values

fn arb_int() -> impl Strategy<Value = Int> {
    prop_oneof![
        any::<i64>().prop_map(Int::from),
        (-3i64..=3).prop_map(Int::from),
        "-?[1-9][0-9]{18,60}".prop_map(|s| Int::parse_strict(&s).unwrap()),
    ]
}

fn arb_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-c\"\\\\\u{0}-\u{1f}\u{7f}é\u{10000}\u{FFFF}\u{E000}0-9]{0,6}",
    ]
}

/// Data values: those the public codec carries (no processes, machines,
/// options, results, events, effects or proofs).
fn arb_data() -> impl Strategy<Value = Value> {
    use proptest::collection::vec;
    let leaf = prop_oneof![
        Just(Value::Unit),
        any::<bool>().prop_map(Value::Bool),
        arb_int().prop_map(Value::Int),
        (arb_int(), any::<i32>()).prop_map(|(v, s)| Value::fixed(v, s)),
        (arb_int(), -4i32..=4).prop_map(|(v, s)| Value::fixed(v, s)),
        (arb_int(), arb_int()).prop_map(|(n, d)| Value::rational(Rational::new(n, d))),
        arb_text().prop_map(Value::str),
        vec(any::<u8>(), 0..6).prop_map(|b| Value::Bytes(Rc::new(b))),
        arb_text().prop_map(|s| Value::Symbol(Str::new(s))),
    ];
    leaf.prop_recursive(5, 80, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::list),
            vec((inner.clone(), inner.clone()), 0..6)
                .prop_map(|es| Value::map(es.into_iter().collect())),
            vec((arb_text(), inner.clone()), 0..6).prop_map(|fs| Value::record(
                fs.into_iter().map(|(k, v)| (Str::new(k), v)).collect()
            )),
            (arb_text(), inner).prop_map(|(t, p)| Value::variant(t, p)),
        ]
    })
}

/// Every value, including the ones only snapshots carry.
fn arb_any() -> impl Strategy<Value = Value> {
    arb_data().prop_recursive(2, 24, 3, |inner| {
        prop_oneof![
            inner.clone().prop_map(Value::some),
            Just(Value::none()),
            inner.clone().prop_map(|v| Value::Result(Rc::new(Ok(v)))),
            inner.clone().prop_map(|v| Value::Result(Rc::new(Err(v)))),
            (arb_text(), inner.clone()).prop_map(|(t, v)| Value::event(t, v)),
            (arb_text(), inner.clone()).prop_map(|(t, v)| Value::effect(t, v)),
            (arb_text(), inner.clone()).prop_map(|(t, v)| Value::Proof(Rc::new(Tagged {
                tag: Str::new(t),
                value: v
            }))),
            arb_text().prop_map(|s| Value::FunctionRef(Str::new(s))),
            arb_text().prop_map(|s| Value::Process(Str::new(s))),
            (arb_text(), arb_text())
                .prop_map(|(n, p)| Value::RemoteProcess(Rc::new((Str::new(n), Str::new(p))))),
            (
                arb_text(),
                proptest::collection::vec((arb_text(), inner), 0..3),
                any::<i32>()
            )
                .prop_map(|(id, data, version)| Value::Machine(Rc::new(
                    MachineInstance {
                        machine_id: Str::new(id.clone()),
                        instance_id: Str::new("mi1"),
                        current_state: Str::new(id),
                        data: data.into_iter().map(|(k, v)| (Str::new(k), v)).collect(),
                        version,
                        history_hash: Str::new(""),
                    }
                ))),
        ]
    })
}

/// Rebuilds `v` bottom-up with every map and record filled in reverse
/// order and fresh allocations: an equal value built differently.
fn rebuild(v: &Value) -> Value {
    match v {
        Value::List(l) => Value::List(Rc::new(List::from_vec(
            l.items().iter().map(rebuild).collect(),
        ))),
        Value::Map(m) => {
            let mut out = Map::new();
            for (k, x) in m.entries().iter().rev() {
                out.insert(rebuild(k), rebuild(x));
            }
            Value::map(out)
        }
        Value::Record(r) => {
            let mut out = Record::new();
            for (k, x) in r.fields().iter().rev() {
                out.insert(Str::new(k.as_str()), rebuild(x));
            }
            Value::record(out)
        }
        Value::Variant(t) => Value::variant(t.tag.as_str(), rebuild(&t.value)),
        Value::Str(s) => Value::str(s.as_str()),
        other => other.clone(),
    }
}

fn sv(v: &Value) -> String {
    let mut s = String::new();
    encode_sv(v, &mut s);
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn data_values_round_trip_through_the_public_codec(v in arb_data()) {
        let text = value_to_json(&v);
        let parsed: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        let back = decode_value(&parsed);
        prop_assert_eq!(back.as_ref(), Ok(&v), "{}", text);
        prop_assert_eq!(value_to_json(&back.unwrap()), text);
    }

    #[test]
    fn every_value_round_trips_through_the_snapshot_codec(v in arb_any()) {
        let text = sv(&v);
        let j = finvm::effect::json::parse(&text).expect("valid snapshot JSON");
        let back = decode_sv(&j);
        prop_assert_eq!(back.as_ref(), Ok(&v), "{}", text);
        prop_assert_eq!(sv(&back.unwrap()), text);
    }

    #[test]
    fn equal_values_have_equal_canonical_text(v in arb_data()) {
        let w = rebuild(&v);
        prop_assert_eq!(&w, &v);
        prop_assert_eq!(canonical(&w), canonical(&v));
        prop_assert_eq!(hash_value(&w), hash_value(&v));
        prop_assert_eq!(value_to_json(&w), value_to_json(&v));
        prop_assert_eq!(sv(&w), sv(&v));
    }

    #[test]
    fn the_value_order_is_total_and_agrees_with_equality(
        a in arb_any(), b in arb_any(), c in arb_any()
    ) {
        for (x, y) in [(&a, &b), (&b, &c), (&a, &c), (&a, &a)] {
            prop_assert_eq!(x.cmp(y) == Ordering::Equal, x == y);
            prop_assert_eq!(x.cmp(y), y.cmp(x).reverse());
            if x == y {
                prop_assert_eq!(canonical(x), canonical(y));
            }
        }
        if a <= b && b <= c {
            prop_assert!(a <= c, "order not transitive");
        }
    }

    /// Values drawn the way the program generator draws constants survive
    /// decode → encode → decode.
    #[test]
    fn generated_constants_round_trip(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let j = progen::value(&mut Bytes::new(&bytes), 3);
        if let Ok(v) = decode_value(&j) {
            let text = value_to_json(&v);
            let again = decode_value(&serde_json::from_str(&text).unwrap());
            prop_assert_eq!(again.as_ref(), Ok(&v), "{}", text);
            prop_assert_eq!(canonical(&rebuild(&v)), canonical(&v));
        }
    }
}

// ------------------------------------------------------------ records

/// Characters around the places where byte order and UTF-16 order part
/// (U+E000 and above the BMP), and ASCII.
fn arb_edge_name() -> impl Strategy<Value = String> {
    let c = edge_chars::arb_edge_char();
    prop_oneof![
        prop::collection::vec(c, 0..4).prop_map(String::from_iter),
        (0u32..80).prop_map(|n| format!("rec{n}")),
    ]
}

/// One step of a record program: set `name` to an int, or remove `name`.
#[derive(Clone, Debug)]
enum RecordOp {
    Set(String, i64),
    Remove(String),
}

fn arb_record_op() -> impl Strategy<Value = RecordOp> {
    prop_oneof![
        3 => (arb_edge_name(), -5i64..5).prop_map(|(k, v)| RecordOp::Set(k, v)),
        1 => arb_edge_name().prop_map(RecordOp::Remove),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Records with many fields (hashed, their order built when read) are
    /// equal to, and encode, hash and order exactly like, the same fields
    /// inserted in the other order, and round-trip through both codecs.
    #[test]
    fn large_records_encode_like_any_other(
        fields in prop::collection::vec((arb_edge_name(), arb_data()), 0..60),
        drop_every in 2usize..6,
    ) {
        let mut r = Record::new();
        for (k, v) in &fields {
            r.insert(Str::new(k.as_str()), v.clone());
        }
        for (i, (k, _)) in fields.iter().enumerate() {
            if i % drop_every == 0 {
                r.remove(k);
            }
        }
        let v = Value::record(r);
        let w = rebuild(&v);
        prop_assert_eq!(&w, &v);
        prop_assert_eq!(w.cmp(&v), Ordering::Equal);
        prop_assert_eq!(canonical(&w), canonical(&v));
        prop_assert_eq!(hash_value(&w), hash_value(&v));
        prop_assert_eq!(value_to_json(&w), value_to_json(&v));
        prop_assert_eq!(sv(&w), sv(&v));
        let text = value_to_json(&v);
        let back = decode_value(&serde_json::from_str(&text).unwrap()).unwrap();
        prop_assert_eq!(&back, &v);
        let j = finvm::effect::json::parse(&sv(&v)).unwrap();
        let back = decode_sv(&j);
        prop_assert_eq!(back.as_ref(), Ok(&v));
    }

    /// `RECORD_SET`/`RECORD_REMOVE` sequences run by the VM leave the
    /// fields a `BTreeMap` of `Str` (UTF-16 order) holds: `RECORD_KEYS`
    /// and the output list them in that order, with the last value set.
    #[test]
    fn record_programs_agree_with_an_ordered_map(
        ops in prop::collection::vec(arb_record_op(), 0..120),
    ) {
        use std::collections::BTreeMap;
        let mut model: BTreeMap<Str, i64> = BTreeMap::new();
        let mut code = vec![serde_json::json!(["RECORD_NEW", 0])];
        let mut constants = Vec::new();
        for op in &ops {
            match op {
                RecordOp::Set(k, v) => {
                    code.push(serde_json::json!(["LOAD_CONST", 1, constants.len()]));
                    constants.push(serde_json::json!({"int": v.to_string()}));
                    code.push(serde_json::json!(["RECORD_SET", 0, 0, k, 1]));
                    model.insert(Str::new(k.as_str()), *v);
                }
                RecordOp::Remove(k) => {
                    code.push(serde_json::json!(["RECORD_REMOVE", 0, 0, k]));
                    model.remove(&Str::new(k.as_str()));
                }
            }
        }
        code.push(serde_json::json!(["RECORD_KEYS", 2, 0]));
        code.push(serde_json::json!(["LIST_FROM", 3, [0, 2]]));
        code.push(serde_json::json!(["RETURN", 3]));
        let program = serde_json::json!({
            "registerCount": 4, "constants": constants, "instructions": code,
        });
        let report = finvm::api::run_json(&program.to_string(), &Default::default());
        prop_assert!(report.ok, "{}", report.json);
        let out: serde_json::Value = serde_json::from_str(&report.json).unwrap();
        let result = &out["result"]["list"];
        let fields: Vec<(String, String)> = result[0]["record"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v["int"].as_str().unwrap().to_string()))
            .collect();
        let want: Vec<(String, String)> =
            model.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        prop_assert_eq!(fields, want);
        let keys: Vec<&str> = result[1]["list"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["string"].as_str().unwrap())
            .collect();
        let want_keys: Vec<&str> = model.keys().map(|k| k.as_str()).collect();
        prop_assert_eq!(keys, want_keys);
    }
}

// ------------------------------------------------------------ regressions

/// Found by `data_values_round_trip_through_the_public_codec`: a Fixed whose
/// scale is beyond the rescale bound (|scale| > 100,000) was compared by
/// sign alone, so `1e18 × 10^100001` counted as equal to `1/1` and the value
/// order was not transitive; maps with such keys depended on insertion
/// order and did not survive a round trip.
#[test]
fn regression_prop_value_order_huge_fixed_scale() {
    let huge = Value::fixed(Int::parse_strict("1000000000000000000").unwrap(), -100_001);
    let mid = Value::fixed(Int::from(34_782_012_014_886_304i64), -2);
    let one = Value::rational(Rational::new(Int::from(1i64), Int::from(1i64)));
    let tiny = Value::fixed(Int::from(5i64), 100_001);
    let neg_huge = Value::fixed(Int::from(-3i64), -200_000);
    let inf = Value::rational(Rational::new(Int::from(-1i64), Int::from(0i64)));
    let big_int = Value::Int(Int::parse_strict(&"9".repeat(300)).unwrap());
    let ascending = [
        neg_huge.clone(),
        Value::int(0i64),
        tiny.clone(),
        one.clone(),
        mid.clone(),
        big_int.clone(),
        huge.clone(),
        inf.clone(),
    ];
    for (i, a) in ascending.iter().enumerate() {
        for (j, b) in ascending.iter().enumerate() {
            assert_eq!(a.cmp(b), i.cmp(&j), "{a:?} vs {b:?}");
        }
    }
    let mut forward = Map::new();
    let mut backward = Map::new();
    for v in &ascending {
        forward.insert(v.clone(), Value::Unit);
    }
    for v in ascending.iter().rev() {
        backward.insert(v.clone(), Value::Unit);
    }
    let (f, b) = (Value::map(forward), Value::map(backward));
    assert_eq!(f, b);
    assert_eq!(canonical(&f), canonical(&b));
    let text = value_to_json(&f);
    let back = decode_value(&serde_json::from_str(&text).unwrap()).unwrap();
    assert_eq!(back, f);
}

/// Found by the seeded sweep (seed 37343 of 300,000): `INVARIANT_CHECK`
/// runs its function as a temporary process (`main:call:h:<step>`) that
/// vanishes afterwards; a process it spawned kept it as its parent (and one
/// it linked to kept the link), so the VM wrote snapshots that its own
/// decoder rejected ("refers to unknown process").
#[test]
fn regression_prop_snapshot_names_a_finished_hook() {
    let text = serde_json::json!({"functions": {
        "main": {"registerCount": 4, "instructions": [
            ["INVARIANT_CHECK", "h"],
            ["LOAD_CONST", 0, 1], ["RECORD_NEW", 1], ["RECORD_SET", 1, 1, "key", 0],
            ["EFFECT_NEW", 2, "svc", 1], ["EFFECT_AWAIT", 2], ["RETURN", 0]]},
        "h": {"registerCount": 3, "instructions": [
            ["PROC_SELF", 0], ["PROC_SPAWN", 1, "w", [0]], ["PROC_LINK", 1],
            ["LOAD_CONST", 2, 0], ["RETURN", 2]]},
        "w": {"arity": 1, "registerCount": 2, "instructions": [
            ["PROC_RECEIVE", 1], ["RETURN", 1]]}},
        "constants": [{"bool": true}, {"string": "k"}]})
    .to_string();
    let program = effect::load_program(&text).unwrap();
    let out = effect::start_program(program.clone(), &Default::default()).unwrap();
    let w = &out.machine.procs[out.machine.by_pid["p0"]];
    assert!(
        w.parent
            .as_deref()
            .is_some_and(|p| p.starts_with("main:call:h:")),
        "{:?}",
        w.parent
    );
    assert_eq!(w.links.len(), 1);
    let rounds = checks::check_suspend_resume(&program, 3, checks::host_deliveries).unwrap();
    assert!(rounds >= 1, "{rounds}");
}
