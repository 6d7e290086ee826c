//! Tests of the effect API: the snapshot codec, envelopes, and the
//! equivalence of resuming a live machine and resuming its snapshot text.

use super::snapshot::{decode_snapshot, decode_sv, encode_snapshot, encode_sv};
use super::*;
use crate::error::{ErrorCode, VmError};
use crate::machine::{Frame, MonitorTarget, NodeInfo, Process, Status, Wait};
use crate::num::{Int, Rational};
use crate::value::{List, MachineInstance, Map, Record};
use proptest::prelude::*;
use serde_json::json;

// ------------------------------------------------------------ helpers

fn s(x: &str) -> Str {
    Str::new(x)
}

fn rec(fields: &[(&str, Value)]) -> Value {
    Value::record(fields.iter().map(|(k, v)| (s(k), v.clone())).collect())
}

/// One value of each of the 21 constructors (and some edge cases).
fn every_constructor() -> Vec<Value> {
    let big = Int::parse_strict("-123456789012345678901234567890").unwrap();
    let mut map = Map::new();
    map.insert(Value::int(10i64), Value::Bool(false));
    map.insert(Value::str("k"), Value::Unit);
    map.insert(Value::fixed(Int::from(1i64), 0), Value::none());
    vec![
        Value::Unit,
        Value::Bool(true),
        Value::Bool(false),
        Value::int(0i64),
        Value::int(-42i64),
        Value::Int(big.clone()),
        Value::fixed(Int::from(12345i64), 2),
        Value::fixed(big.clone(), -3),
        // unreduced, zero and negative denominators survive as written
        Value::rational(Rational::new(Int::from(2i64), Int::from(4i64))),
        Value::rational(Rational::new(Int::from(1i64), Int::from(0i64))),
        Value::rational(Rational::new(big.clone(), Int::from(-3i64))),
        Value::str(""),
        Value::str("h\u{e9}llo \"q\" \\ \n\t\u{1} \u{1F600}"),
        Value::Bytes(Rc::new(vec![0, 1, 127, 255])),
        Value::Symbol(s("BTC")),
        Value::list(vec![]),
        Value::list(vec![Value::Unit, Value::int(1i64), Value::list(vec![])]),
        Value::map(Map::new()),
        Value::map(map),
        Value::record(Record::new()),
        rec(&[
            ("b", Value::int(2i64)),
            ("a", Value::Unit),
            ("", Value::str("e")),
        ]),
        Value::variant("Some", rec(&[("x", Value::Unit)])),
        Value::variant("", Value::Unit),
        Value::none(),
        Value::some(Value::Unit),
        Value::some(Value::some(Value::none())),
        Value::Result(Rc::new(Ok(Value::Unit))),
        Value::Result(Rc::new(Err(Value::str("bad")))),
        Value::FunctionRef(s("main")),
        Value::Process(s("p3")),
        Value::RemoteProcess(Rc::new((s("vmB"), s("p1")))),
        Value::Machine(Rc::new(MachineInstance {
            machine_id: s("order"),
            instance_id: s("mi5"),
            current_state: s("paid"),
            data: [(s("amount"), Value::int(3i64))].into_iter().collect(),
            version: 2,
            history_hash: s("abc"),
        })),
        Value::event("Created", Value::int(1i64)),
        Value::effect("http.get", rec(&[("key", Value::str("k1"))])),
        Value::Proof(Rc::new(Tagged {
            tag: s("label"),
            value: Value::list(vec![Value::Unit]),
        })),
    ]
}

fn sv_text(v: &Value) -> String {
    let mut out = String::new();
    encode_sv(v, &mut out);
    out
}

fn sv_round_trip(v: &Value) -> Value {
    let text = sv_text(v);
    let back = decode_sv(&json::parse(&text).unwrap()).unwrap();
    assert_eq!(sv_text(&back), text, "re-encoding differs");
    back
}

fn program(doc: serde_json::Value) -> String {
    doc.to_string()
}

fn loaded(doc: &str) -> Rc<Program> {
    load_program(doc).unwrap()
}

/// Everything a resumed machine depends on, per pid (slots may differ).
fn fingerprint(m: &Machine) -> String {
    let mut out = String::new();
    for (pid, slot) in &m.by_pid {
        out.push_str(&format!("{pid} => {:?}\n", m.procs[*slot]));
    }
    let ready: Vec<&str> = m.ready.iter().map(|s| m.procs[*s].pid.as_str()).collect();
    out.push_str(&format!(
        "ready {ready:?} current {:?} next {} tick {} steps {} live {}\nnodes {:?}\nstate {:?}\ninput {:?}\nevents {:?} outbox {:?}\n",
        m.current, m.next_pid_seq, m.tick, m.core.steps, m.live, m.nodes, m.core.state,
        m.core.input, m.core.events, m.core.outbox
    ));
    out
}

/// Encode, decode, re-encode: byte-identical text and the same machine.
fn check_snapshot_round_trip(m: &Machine) {
    let text = encode_snapshot(m);
    let back =
        decode_snapshot(m.core.program.clone(), &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(encode_snapshot(&back), text);
    assert_eq!(fingerprint(&back), fingerprint(m));
}

fn delivery_json(d: &Delivery) -> serde_json::Value {
    let v = |x: &Value| -> serde_json::Value {
        serde_json::from_str(&crate::value::json::value_to_json(x)).unwrap()
    };
    match d {
        Delivery::Message { pid, message } => json!({"pid": pid.as_str(), "message": v(message)}),
        Delivery::EffectReply { pid, key, result } => {
            json!({"pid": pid.as_str(), "key": key.as_str(), "result": v(result)})
        }
        Delivery::Disconnect { node, reason } => {
            json!({"disconnect": {"node": node.as_str(), "reason": reason.as_str()}})
        }
        Delivery::NodeStatus {
            node,
            status,
            reason,
            last_seen_tick,
            last_state_hash,
        } => {
            let mut o = json!({"node": node.as_str(), "status": status.as_str()});
            if let Some(r) = reason {
                o["reason"] = json!(r.as_str());
            }
            if let Some(t) = last_seen_tick {
                o["lastSeenTick"] = json!(t);
            }
            if let Some(h) = last_state_hash {
                o["lastStateHash"] = json!(h.as_str());
            }
            json!({ "nodeStatus": o })
        }
    }
}

fn doc_of(r: &Result<EffectOutput, EffectError>) -> String {
    match r {
        Ok(o) => o.to_json(),
        Err(e) => e.to_json(),
    }
}

/// A deterministic host: answers every awaited effect (in request order, or
/// reversed on odd rounds); when nothing is awaited, sends a message to
/// every waiting process; now and then reports on a remote node.
fn host_deliveries(out: &EffectOutput, round: usize) -> Vec<Delivery> {
    let mut ds: Vec<Delivery> = out
        .pending
        .iter()
        .filter(|p| p.kind == PendingKind::AwaitReply && !p.pid.is_empty())
        .map(|p| Delivery::EffectReply {
            pid: p.pid.clone(),
            key: p.key.clone(),
            result: Value::str(format!("r:{}", p.key.as_str())),
        })
        .collect();
    if round % 2 == 1 {
        ds.reverse();
    }
    if ds.is_empty() {
        let m = &out.machine;
        for (pid, slot) in &m.by_pid {
            if matches!(m.procs[*slot].status, Status::Waiting(_)) {
                ds.push(Delivery::Message {
                    pid: pid.clone(),
                    message: Value::int(round as i64),
                });
            }
        }
    }
    if round % 3 == 2 {
        ds.push(Delivery::NodeStatus {
            node: s("vmX"),
            status: s(if round % 2 == 0 { "online" } else { "weird" }),
            reason: Some(s("r")),
            last_seen_tick: Some(round as i64),
            last_state_hash: None,
        });
    }
    if round % 5 == 4 {
        ds.push(Delivery::Disconnect {
            node: s("vmX"),
            reason: s("gone"),
        });
    }
    ds
}

/// Drives a program with [`host_deliveries`] twice in lock step: once on the
/// live machine, once through the JSON snapshot text at every quiescent
/// point. Every document must be byte-identical. Returns the documents.
fn drive_both(program_text: &str, overrides: &str, max_rounds: usize) -> Vec<String> {
    let first = start_typed(program_text, overrides);
    let first_doc = doc_of(&first);
    assert_eq!(start(program_text, overrides), first_doc);
    let mut docs = vec![first_doc];
    let Ok(mut live) = first else {
        return docs;
    };
    // The JSON chain carries the snapshot exactly as a host would: taken out
    // of the printed document and serialised again.
    let mut snapshot_text = snapshot_of(docs.last().unwrap());
    for round in 0..max_rounds {
        if live.status == Quiescence::Completed && round > 0 {
            break;
        }
        check_snapshot_round_trip(&live.machine);
        let ds = host_deliveries(&live, round);
        let ds_text = serde_json::Value::Array(ds.iter().map(delivery_json).collect()).to_string();
        assert_eq!(Delivery::decode_all(&ds_text).unwrap(), ds);
        let via_json = resume(program_text, &snapshot_text, &ds_text);
        let in_memory = resume_machine(live.machine.clone(), &ds);
        let mem_doc = doc_of(&in_memory);
        assert_eq!(via_json, mem_doc, "round {round} differs");
        docs.push(mem_doc);
        match in_memory {
            Ok(o) => {
                snapshot_text = snapshot_of(&via_json);
                live = o;
            }
            Err(_) => break,
        }
    }
    docs
}

fn snapshot_of(doc: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(doc).unwrap();
    v["snapshot"].to_string()
}

fn status_of(doc: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(doc).unwrap();
    v["status"].as_str().unwrap().to_string()
}

// ------------------------------------------------------------ value codec

#[test]
fn every_value_constructor_round_trips() {
    let all = every_constructor();
    let ranks: std::collections::BTreeSet<u8> = all.iter().map(Value::rank).collect();
    assert_eq!(ranks.len(), 21, "a constructor is missing from the sample");
    for v in &all {
        assert_eq!(&sv_round_trip(v), v, "{}", sv_text(v));
    }
    // all of them nested in one value
    let nested = Value::list(all.clone());
    assert_eq!(sv_round_trip(&nested), nested);
    let deep = all.iter().fold(Value::Unit, |acc, v| {
        Value::variant("n", Value::list(vec![acc, v.clone()]))
    });
    assert_eq!(sv_round_trip(&deep), deep);
}

#[test]
fn value_codec_uses_the_reference_shapes() {
    let cases: Vec<(Value, &str)> = vec![
        (Value::Unit, "null"),
        (Value::int(5i64), r#"{"int":"5"}"#),
        (
            Value::fixed(Int::from(12345i64), 2),
            r#"{"fixed":{"value":"12345","scale":2}}"#,
        ),
        (
            Value::rational(Rational::new(Int::from(1i64), Int::from(3i64))),
            r#"{"rational":{"num":"1","den":"3"}}"#,
        ),
        (
            rec(&[("b", Value::Unit), ("a", Value::Bool(true))]),
            r#"{"record":[{"k":"a","v":{"bool":true}},{"k":"b","v":null}]}"#,
        ),
        (Value::none(), r#"{"none":true}"#),
        (
            Value::RemoteProcess(Rc::new((s("n"), s("p")))),
            r#"{"rproc":{"node":"n","pid":"p"}}"#,
        ),
        (
            Value::effect("t", Value::Unit),
            r#"{"effect":{"type":"t","payload":null}}"#,
        ),
    ];
    for (v, want) in cases {
        assert_eq!(sv_text(&v), want);
    }
    let mut m = Map::new();
    m.insert(Value::str("x"), Value::Unit);
    m.insert(Value::int(2i64), Value::Unit);
    assert_eq!(
        sv_text(&Value::map(m)),
        r#"{"vmap":[{"k":{"int":"2"},"v":null},{"k":{"string":"x"},"v":null}]}"#
    );
}

#[test]
fn value_codec_rejects_bad_values() {
    for (text, want) in [
        ("1", "expected object"),
        (r#"{"nope":1}"#, "unknown Value tag in snapshot"),
        (
            r#"{"int":"5","bool":true}"#,
            "unknown Value tag in snapshot",
        ),
        (r#"{"int":5}"#, "expected string"),
        (r#"{"int":"0x1F"}"#, "bad bigint: 0x1F"),
        (r#"{"bytes":[256]}"#, "byte out of range: 256"),
        (r#"{"bytes":[1.5]}"#, "expected int"),
        (r#"{"variant":{"tag":"x"}}"#, "missing field: payload"),
        (
            r#"{"fixed":{"value":"1","scale":3000000000}}"#,
            "expected int",
        ),
        (
            r#"{"vmap":[{"k":null,"v":null},{"k":null,"v":null}]}"#,
            "duplicate map key",
        ),
        (
            r#"{"record":[{"k":"a","v":null},{"k":"a","v":null}]}"#,
            "duplicate field",
        ),
    ] {
        let e = decode_sv(&json::parse(text).unwrap()).unwrap_err();
        assert!(e.contains(want), "{text}: {e}");
    }
}

// ------------------------------------------------------------ machine codec

const TWO_FUNCTIONS: &str = r#"{"functions":{
  "main":{"registerCount":3,"instructions":[["NOOP"],["NOOP"],["RETURN",0]]},
  "w":{"arity":1,"registerCount":2,"instructions":[["NOOP"],["RETURN",0]]}}}"#;

/// A machine with several processes in every kind of state, built by hand.
fn busy_machine() -> Machine {
    let program = loaded(TWO_FUNCTIONS);
    let main_f = program.function("main").unwrap();
    let w = program.function("w").unwrap();
    let mut m = Machine::new(program).unwrap();
    let vals = every_constructor();
    {
        let main = &mut m.procs[0];
        main.status = Status::Waiting(Wait::Effect(s("k1")));
        main.regs = vec![vals[5].clone(), vals[20].clone(), Value::Unit];
        // main called w (a frame of 2 registers on top of main's 3)
        main.call_stack.push(Frame {
            func: main_f,
            pc: 1,
            base: 0,
            ret: None,
        });
        main.regs.extend([vals[30].clone(), Value::Unit]);
        main.frame = Frame {
            func: w,
            pc: 1,
            base: 3,
            ret: Some(2),
        };
        main.mailbox.extend(vals.iter().take(6).cloned());
        main.links.insert(s("p0"));
        main.children.extend([s("p0"), s("p1"), s("p2"), s("p10")]);
        main.monitors
            .insert(s("mon3:p1"), MonitorTarget::Local(s("p1")));
        main.monitors
            .insert(s("rmon9:r1"), MonitorTarget::Remote(s("vmB"), s("r1")));
        main.remote_links.insert((s("vmB"), s("r1")));
        main.trap_exit = true;
        main.steps_executed = 9;
    }
    let statuses = [
        Status::Completed(Value::Unit),
        Status::Failed(Box::new(VmError::new(
            ErrorCode::CustomErrorCode(-7),
            "Aborted",
        ))),
        Status::Waiting(Wait::Tick(12)),
        Status::Ready,
    ];
    for (i, st) in statuses.into_iter().enumerate() {
        let n = [0, 1, 2, 10][i];
        let pid = s(&format!("p{n}"));
        let mut p = Process::new(pid.clone(), w, 2, vec![vals[i + 8].clone()], n + 1);
        p.parent = Some(s("main"));
        p.name = s(&format!("worker {n}"));
        if let Status::Completed(v) = &st {
            p.result = Some(v.clone()); // a stored Some(unit) must survive
            p.links.insert(s("main"));
        }
        p.status = st;
        p.steps_executed = n + 2;
        p.killed_by_signal = i == 1;
        let slot = m.procs.len();
        m.by_pid.insert(pid, slot);
        m.procs.push(p);
    }
    let other_waits = [
        Wait::Message,
        Wait::Match(s("EffectReply")),
        Wait::Process(s("p1")),
        Wait::Monitor(s("mon3:p1")),
        Wait::RemoteNode(s("vmB")),
        Wait::RemoteProcess(s("vmB"), s("r1")),
    ];
    for (i, wt) in other_waits.into_iter().enumerate() {
        let pid = s(&format!("p{}", 20 + i));
        let mut p = Process::new(pid.clone(), w, 2, vec![], 30 + i as u64);
        p.status = Status::Waiting(wt);
        let slot = m.procs.len();
        m.by_pid.insert(pid, slot);
        m.procs.push(p);
    }
    for (pid, st) in [
        ("p30", Status::Cancelled(s("stop"))),
        ("p31", Status::Exited(s("bye"))),
    ] {
        let mut p = Process::new(s(pid), w, 2, vec![], 40);
        p.status = st;
        let slot = m.procs.len();
        m.by_pid.insert(s(pid), slot);
        m.procs.push(p);
    }
    m.ready = [4, 4, 1].into_iter().collect(); // p10 twice, then p0
    m.current = Some(s("p2"));
    m.next_pid_seq = 32;
    m.tick = 7;
    m.core.steps = 1000;
    m.core.state.insert(s("a"), vals[19].clone());
    m.core
        .state
        .insert(s("__finvm.nodes"), rec(&[("vmB", Value::Unit)]));
    Rc::make_mut(&mut m.core.input).insert(s("in"), vals[31].clone());
    m.nodes.insert(
        s("vmB"),
        NodeInfo {
            status: s("suspect"),
            reason: Some(s("timeout")),
            last_seen_tick: Some(7),
            last_state_hash: None,
        },
    );
    m.nodes.insert(
        s("vmC"),
        NodeInfo {
            status: s("online"),
            reason: None,
            last_seen_tick: None,
            last_state_hash: Some(s("h")),
        },
    );
    m.live = m
        .by_pid
        .values()
        .filter(|s| !m.procs[**s].status.is_terminal())
        .count();
    m
}

#[test]
fn a_machine_with_several_processes_round_trips() {
    let m = busy_machine();
    check_snapshot_round_trip(&m);
    let text = encode_snapshot(&m);
    let back = decode_snapshot(m.core.program.clone(), &text).unwrap();
    // main is slot 0, the others follow in creation order
    assert_eq!(back.procs[0].pid.as_str(), "main");
    let seqs: Vec<u64> = back.procs.iter().map(|p| p.created_seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] <= w[1]), "{seqs:?}");
    assert_eq!(back.procs[0].regs, m.procs[0].regs);
    assert_eq!(back.procs[0].frame, m.procs[0].frame);
    assert_eq!(back.procs[0].call_stack, m.procs[0].call_stack);
    let p0 = &back.procs[back.by_pid["p0"]];
    assert_eq!(p0.result, Some(Value::Unit));
}

#[test]
fn the_snapshot_keeps_the_reference_layout() {
    // FORMATS.md §6.9: the awaiting program's start snapshot.
    let text = r#"{"registerCount":6,"constants":[{"string":"k1"},{"string":"http://u"}],
      "instructions":[["RECORD_NEW",0],["LOAD_CONST",1,0],["RECORD_SET",0,0,"key",1],
      ["LOAD_CONST",2,1],["RECORD_SET",0,0,"url",2],["EFFECT_NEW",3,"http.get",0],
      ["EFFECT_AWAIT",3],["PROC_RECEIVE",4],["VARIANT_PAYLOAD",5,4],
      ["RECORD_GET",4,5,"value"],["RETURN",4]]}"#;
    let out = start_typed(text, "").unwrap();
    let digest = &out.machine.core.program.digest;
    let want = format!(
        concat!(
            r#"{{"status":"suspended","snapshot":{{"format":"finvm-snapshot/1","programDigest":"{}","v":1,"#,
            r#""processes":[{{"pid":"main","status":{{"s":"waiting","cond":{{"w":"effect","key":"k1"}}}},"#,
            r#""function":"main","frame":{{"function":"main","pc":7,"registers":[{{"record":[{{"k":"key","v":{{"string":"k1"}}}},{{"k":"url","v":{{"string":"http://u"}}}}]}},"#,
            r#"{{"string":"k1"}},{{"string":"http://u"}},{{"effect":{{"type":"http.get","payload":{{"record":[{{"k":"key","v":{{"string":"k1"}}}},{{"k":"url","v":{{"string":"http://u"}}}}]}}}}}},null,null],"#,
            r#""returnRegister":null,"caller":null}},"callStack":[],"mailbox":[],"links":[],"remoteLinks":[],"monitors":[],"parent":null,"children":[],"#,
            r#""trapExit":false,"name":"main","result":null,"error":null,"createdSequence":0,"stepsExecuted":7,"hasResult":false,"killedBySignal":false}}],"#,
            r#""readyQueue":[],"current":"main","nextPidSequence":0,"logicalTick":0,"state":[],"input":[],"steps":7,"nodes":[]}},"#,
            r#""pending":[{{"kind":"await_reply","pid":"main","key":"k1","type_":"http.get","payload":{{"record":{{"key":{{"string":"k1"}},"url":{{"string":"http://u"}}}}}}}}],"#,
            r#""events":[],"result":null,"state":{{}}}}"#
        ),
        digest
    );
    assert_eq!(out.to_json(), want);
}

fn tamper(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "{from} not in {text}");
    text.replacen(from, to, 1)
}

#[test]
fn bad_snapshots_are_clean_errors() {
    let m = busy_machine();
    let program = m.core.program.clone();
    let good = encode_snapshot(&m);
    let cut = (0..=good.len() / 2)
        .rev()
        .find(|i| good.is_char_boundary(*i))
        .unwrap();
    let dec = |t: &str| {
        decode_snapshot(program.clone(), t)
            .err()
            .unwrap_or_default()
    };
    let cases: Vec<(String, &str)> = vec![
        (good[..cut].to_string(), "snapshot parse: unexpected end"),
        (String::new(), "snapshot parse: "),
        (format!("{good}x"), "snapshot parse: "),
        ("[]".into(), "snapshot decode: expected object"),
        (
            tamper(
                &good,
                r#""format":"finvm-snapshot/1""#,
                r#""format":"finvm-snapshot/2""#,
            ),
            "snapshot decode: unsupported snapshot format",
        ),
        (
            tamper(&good, r#""format":"finvm-snapshot/1","#, ""),
            "snapshot decode: missing field: format",
        ),
        (
            tamper(&good, r#""v":1"#, r#""v":2"#),
            "snapshot decode: unsupported snapshot version",
        ),
        (
            tamper(&good, &program.digest, &"0".repeat(64)),
            "snapshot decode: the snapshot belongs to another program",
        ),
        (
            tamper(&good, r#""readyQueue":["p10""#, r#""readyQueue":["p99""#),
            "readyQueue names unknown process p99",
        ),
        (
            tamper(&good, r#""current":"p2""#, r#""current":"zz""#),
            "current names unknown process zz",
        ),
        (
            tamper(
                &good,
                r#""function":"w","pc":1"#,
                r#""function":"w","pc":3"#,
            ),
            "pc 3 is outside function w",
        ),
        (
            tamper(
                &good,
                r#""function":"w","pc":1"#,
                r#""function":"nope","pc":1"#,
            ),
            "unknown function nope",
        ),
        (
            tamper(
                &good,
                r#"{"k":"b","v":{"int":"2"}}]},null]"#,
                r#"{"k":"b","v":{"int":"2"}}]}]"#,
            ),
            "function main has 3 registers, the frame holds 2",
        ),
        (
            tamper(&good, r#""returnRegister":2"#, r#""returnRegister":3"#),
            "return register 3 is outside the caller's frame",
        ),
        (
            tamper(&good, r#""pid":"p1","#, r#""pid":"p0","#),
            "duplicate process p0",
        ),
        (
            tamper(&good, r#""pid":"main","#, r#""pid":"boss","#),
            "no main process",
        ),
        (
            tamper(&good, r#""nextPidSequence":32"#, r#""nextPidSequence":11"#),
            "process p20 exists but nextPidSequence is 11",
        ),
        (
            tamper(&good, r#""steps":1000"#, r#""steps":3"#),
            "steps 3 is less than the steps its processes executed",
        ),
        (
            tamper(&good, r#""steps":1000"#, r#""steps":-1"#),
            "steps: expected non-negative int",
        ),
        (
            tamper(&good, r#""s":"ready""#, r#""s":"sleepy""#),
            "unknown status: sleepy",
        ),
        (
            tamper(&good, r#""w":"message""#, r#""w":"nap""#),
            "unknown wait condition: nap",
        ),
        (
            tamper(&good, r#""k":"local""#, r#""k":"elsewhere""#),
            "unknown monitor target kind: elsewhere",
        ),
        (
            tamper(&good, r#""code":"CustomErrorCode -7""#, r#""code":"Oops""#),
            "unknown error code: Oops",
        ),
        (
            tamper(
                &good,
                r#""error":{"code":"CustomErrorCode -7""#,
                r#""error":{"code":"CustomErrorCode -8""#,
            ),
            "error does not match the status",
        ),
        (
            tamper(&good, r#""trapExit":true"#, r#""trapExit":1"#),
            "trapExit: expected bool",
        ),
        (
            tamper(&good, r#""links":["main"]"#, r#""links":["ghost"]"#),
            "refers to unknown process ghost",
        ),
        (
            tamper(
                &good,
                r#""result":null,"error":null,"createdSequence":0"#,
                r#""result":{"int":"1"},"error":null,"createdSequence":0"#,
            ),
            "process main: result is set but hasResult is false",
        ),
    ];
    for (text, want) in cases {
        let e = dec(&text);
        assert!(e.contains(want), "want {want:?}, got {e:?}");
        assert!(
            e.starts_with("snapshot parse: ") || e.starts_with("snapshot decode: "),
            "{e}"
        );
    }
    // Through the text API: status error.
    let doc = resume(TWO_FUNCTIONS, "{", "");
    assert!(
        doc.starts_with(r#"{"status":"error","error":"snapshot parse: "#),
        "{doc}"
    );
}

#[test]
fn a_snapshot_only_resumes_under_its_own_program() {
    let a = r#"{"registerCount":2,"constants":[{"string":"k"}],"instructions":[
      ["RECORD_NEW",0],["LOAD_CONST",1,0],["RECORD_SET",0,0,"key",1],
      ["EFFECT_NEW",0,"t",0],["EFFECT_AWAIT",0],["RETURN",1]]}"#;
    let b = a.replace(r#"["RETURN",1]"#, r#"["RETURN",0]"#);
    let snap = snapshot_of(&start(a, ""));
    assert_eq!(status_of(&resume(a, &snap, "")), "deadlock");
    let doc = resume(&b, &snap, "");
    assert!(
        doc.starts_with(
            r#"{"status":"error","error":"snapshot decode: the snapshot belongs to another program"#
        ),
        "{doc}"
    );
    // Limits are not part of the program's identity: they come from the program given.
    let c = a.replace(
        r#""registerCount":2,"#,
        r#""registerCount":2,"limits":{"maxSteps":50},"#,
    );
    assert_eq!(status_of(&resume(&c, &snap, "")), "deadlock");
}

// ------------------------------------------------------------ envelopes

#[test]
fn delivery_envelopes_decode_with_the_reference_texts() {
    let ok = Delivery::decode_all(
        r#"[{"pid":"main","message":null,"key":"k"},{"pid":"p0","key":"k"},
            {"pid":"p0","key":"k","result":{"int":"3"}},{"disconnect":{"node":"n"}},
            {"disconnect":{"node":"n","reason":"x"},"pid":"main","message":1},
            {"nodeStatus":{"node":"n","status":"online","reason":"r","lastSeenTick":7,"lastStateHash":"h"},"disconnect":{}}]"#,
    )
    .unwrap();
    assert_eq!(
        ok,
        vec![
            Delivery::Message {
                pid: s("main"),
                message: Value::Unit
            },
            Delivery::EffectReply {
                pid: s("p0"),
                key: s("k"),
                result: Value::Unit
            },
            Delivery::EffectReply {
                pid: s("p0"),
                key: s("k"),
                result: Value::int(3i64)
            },
            Delivery::Disconnect {
                node: s("n"),
                reason: s("noconnection")
            },
            Delivery::Disconnect {
                node: s("n"),
                reason: s("x")
            },
            Delivery::NodeStatus {
                node: s("n"),
                status: s("online"),
                reason: Some(s("r")),
                last_seen_tick: Some(7),
                last_state_hash: Some(s("h"))
            },
        ]
    );
    assert_eq!(Delivery::decode_all("").unwrap(), vec![]);
    for (text, want) in [
        ("{}", "deliveries must be an array"),
        ("[42]", "delivery must be an object"),
        (r#"[{"pid":"main"}]"#, super::delivery::SHAPES),
        (r#"[{}]"#, "Missing string field: pid"),
        (r#"[{"pid":1,"key":"k"}]"#, "pid must be a string"),
        (r#"[{"pid":"main","key":1}]"#, "key must be a string"),
        (
            r#"[{"pid":"main","message":1.5}]"#,
            "JSON numbers used as VM integers must be safe whole Ints: 1.5",
        ),
        (
            r#"[{"disconnect":{"reason":"x"}}]"#,
            "Missing string field: node",
        ),
        (r#"[{"disconnect":7}]"#, "disconnect must be an object"),
        (
            r#"[{"disconnect":{"node":"n","reason":null}}]"#,
            "disconnect.reason must be a string",
        ),
        (
            r#"[{"nodeStatus":{"node":"vmB"}}]"#,
            "Missing string field: status",
        ),
        (r#"[{"nodeStatus":[]}]"#, "nodeStatus must be an object"),
        (
            r#"[{"nodeStatus":{"node":"n","status":"s","lastSeenTick":1.5}}]"#,
            "lastSeenTick must be a safe integer",
        ),
        (
            r#"[{"nodeStatus":{"node":"n","status":"s","reason":null}}]"#,
            "reason must be a string",
        ),
        (
            r#"[{"nodeStatus":{"node":"n","status":"s","lastStateHash":3}}]"#,
            "lastStateHash must be a string",
        ),
        (
            r#"[{"nodeStatus":{"node":1,"status":"s"}}]"#,
            "node must be a string",
        ),
        (
            r#"[{"pid":"main","key":"k"},42]"#,
            "delivery must be an object",
        ),
    ] {
        assert_eq!(Delivery::decode_all(text).unwrap_err(), want, "{text}");
    }
    assert!(Delivery::decode_all("[")
        .unwrap_err()
        .starts_with("Invalid JSON"));
}

#[test]
fn overrides_decode_and_merge() {
    assert_eq!(Overrides::decode("").unwrap(), Overrides::default());
    let o = Overrides::decode(r#"{"input":{"x":1},"state":{"a":{"int":"2"}},"other":3}"#).unwrap();
    assert_eq!(o.input[&s("x")], Value::int(1i64));
    assert_eq!(o.state[&s("a")], Value::int(2i64));
    for (text, want) in [
        ("[]", "overrides must be an object"),
        (r#"{"input":1}"#, "input must be an object"),
        (r#"{"state":[]}"#, "state must be an object"),
    ] {
        assert_eq!(Overrides::decode(text).unwrap_err(), want);
    }
    assert!(Overrides::decode(" ")
        .unwrap_err()
        .starts_with("Invalid JSON"));
    let prog = r#"{"registerCount":3,"state":{"a":1,"c":"prog"},"input":{"i":1},"instructions":[
      ["STATE_GET",0,"a"],["LOAD_INPUT",1,"i"],["LIST_FROM",2,[0,1]],["RETURN",2]]}"#;
    let doc = start(
        prog,
        r#"{"state":{"a":2,"b":3},"input":{"i":{"string":"over"}}}"#,
    );
    assert_eq!(
        doc[doc.find(r#""pending""#).unwrap()..],
        *r#""pending":[],"events":[],"result":{"list":[{"int":"2"},{"string":"over"}]},"state":{"a":{"int":"2"},"b":{"int":"3"},"c":{"string":"prog"}}}"#
    );
    assert_eq!(
        start(prog, "{"),
        r#"{"status":"error","error":"Invalid JSON: EOF while parsing an object at line 1 column 1"}"#
    );
}

#[test]
fn decode_errors_are_error_and_validation_errors_are_failed() {
    assert_eq!(
        start("{", ""),
        r#"{"status":"error","error":"Invalid JSON: EOF while parsing an object at line 1 column 1"}"#
    );
    assert_eq!(
        start(r#"{"instructions":[["NOPE"]]}"#, ""),
        r#"{"status":"error","error":"Unsupported instruction opcode: NOPE"}"#
    );
    assert_eq!(
        start(r#"{"instructions":[["JUMP","nowhere"]]}"#, ""),
        r#"{"status":"failed","error":"InvalidJump: Jump to unknown label nowhere in function main"}"#
    );
    assert_eq!(
        resume(r#"{"instructions":[["JUMP","nowhere"]]}"#, "{", "["),
        r#"{"status":"failed","error":"InvalidJump: Jump to unknown label nowhere in function main"}"#
    );
    assert_eq!(
        start(r#"{"instructions":[["ABORT",3]]}"#, ""),
        r#"{"status":"failed","error":"CustomErrorCode 3: Aborted"}"#
    );
}

// ------------------------------------------------------------ step budget

#[test]
fn each_call_gets_a_fresh_step_budget() {
    // Start: LOAD_CONST, LABEL, RECORD_NEW, RECORD_SET, EFFECT_NEW, EFFECT_AWAIT (6);
    // each resume: JUMP, LABEL, RECORD_NEW, RECORD_SET, EFFECT_NEW, EFFECT_AWAIT (6).
    let with_limit = |n: u32| {
        format!(
            r#"{{"registerCount":3,"limits":{{"maxSteps":{n}}},"constants":[{{"string":"k"}}],
      "instructions":[["LOAD_CONST",1,0],["LABEL","top"],["RECORD_NEW",0],["RECORD_SET",0,0,"key",1],
      ["EFFECT_NEW",2,"t",0],["EFFECT_AWAIT",2],["JUMP","top"]]}}"#
        )
    };
    let (six, five) = (with_limit(6), with_limit(5));
    assert!(start(&five, "").contains("StepLimitExceeded"));
    let mut doc = start(&six, "");
    let reply = r#"[{"pid":"main","key":"k"}]"#;
    for round in 1..5u64 {
        assert_eq!(status_of(&doc), "suspended", "{doc}");
        let snap = snapshot_of(&doc);
        let v: serde_json::Value = serde_json::from_str(&snap).unwrap();
        assert_eq!(v["steps"], json!(6 * round));
        let failed = resume(&five, &snap, reply);
        assert!(
            failed.starts_with(r#"{"status":"failed","error":"StepLimitExceeded: "#),
            "{failed}"
        );
        doc = resume(&six, &snap, reply);
    }
}

// ------------------------------------------------------------ equivalence

/// A main process that awaits in a loop, emits, requests and counts.
const AWAIT_LOOP: &str = r#"{"registerCount":9,"limits":{"maxProcessStepsPerSlice":3},
  "constants":[{"int":"0"},{"int":"1"},{"int":"4"},{"string":"EffectReply"},{"string":"k"}],
  "state":{"seen":{"list":[]}},
  "instructions":[
    ["LOAD_CONST",0,0],["LOAD_CONST",1,1],["LOAD_CONST",2,2],["LOAD_CONST",7,3],["LOAD_CONST",8,4],
    ["LABEL","top"],["LT",3,0,2],["JUMP_IF_FALSE",3,"done"],
    ["RECORD_NEW",4],["RECORD_SET",4,4,"key",8],["RECORD_SET",4,4,"n",0],
    ["EFFECT_NEW",5,"svc",4],["EFFECT_AWAIT",5],
    ["PROC_RECEIVE_MATCH",6,7],["EVENT_NEW",5,"got",6],["EVENT_EMIT",5],
    ["STATE_GET",4,"seen"],["LIST_APPEND",4,4,6],["STATE_SET","seen",4],
    ["EFFECT_NEW",5,"log",0],["EFFECT_REQUEST",5],
    ["ADD",0,0,1],["JUMP","top"],
    ["LABEL","done"],["STATE_GET",4,"seen"],["RETURN",4]]}"#;

#[test]
fn resuming_from_snapshot_text_equals_resuming_the_live_machine() {
    let docs = drive_both(AWAIT_LOOP, "", 12);
    let statuses: Vec<String> = docs.iter().map(|d| status_of(d)).collect();
    assert_eq!(
        statuses.last().map(String::as_str),
        Some("completed"),
        "{docs:#?}"
    );
}

/// Programs using processes: workers awaiting, messaging, sleeping.
fn process_programs() -> Vec<String> {
    let worker = || {
        json!({"arity":1,"registerCount":8,"instructions":[
            ["LOAD_CONST",1,1],["RECORD_NEW",2],["RECORD_SET",2,2,"key",1],
            ["EFFECT_NEW",3,"svc",2],["EFFECT_AWAIT",3],["PROC_RECEIVE",4],
            ["PROC_SEND",0,4],["PROC_SLEEP_TICKS",2],["RETURN",4]]})
    };
    let main = json!({"registerCount":8,"instructions":[
        ["PROC_SELF",0],["PROC_SPAWN",1,"w",[0]],["PROC_SPAWN",2,"w",[0]],
        ["PROC_RECEIVE",3],["PROC_RECEIVE",4],["PROC_RECEIVE",5],
        ["LIST_FROM",6,[3,4,5]],["PROC_JOIN",7,1],["PROC_JOIN",7,2],["RETURN",6]]});
    vec![
        program(json!({"functions":{"main":main,"w":worker()},
            "constants":[{"int":"0"},{"string":"k"}],
            "limits":{"maxProcessStepsPerSlice":2}})),
        program(
            json!({"functions":{"main":{"registerCount":4,"instructions":[
            ["PROC_SPAWN",0,"t",[]],["PROC_SPAWN",1,"t",[]],["PROC_RECEIVE",2],
            ["PROC_JOIN_RESULT",3,0],["RETURN",3]]},
            "t":{"registerCount":2,"instructions":[["PROC_SLEEP_TICKS",3],
            ["PROC_RECEIVE",0],["STATE_SET","t",0],["RETURN",0]]}}}),
        ),
    ]
}

#[test]
fn process_programs_resume_identically() {
    for p in process_programs() {
        drive_both(&p, "", 10);
    }
}

// ------------------------------------------------------------ property

#[derive(Clone, Debug)]
enum Op {
    Await,
    Count,
    Emit,
    Request,
    SendParent,
    Receive,
    Sleep(u8),
    Yield,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Await),
        2 => Just(Op::Count),
        1 => Just(Op::Emit),
        1 => Just(Op::Request),
        1 => Just(Op::SendParent),
        1 => Just(Op::Receive),
        1 => (1u8..4).prop_map(Op::Sleep),
        1 => Just(Op::Yield),
    ]
}

/// Registers: r0 parent (main: self), r1 counter, r2 one, r3 record,
/// r4 key, r5 received, r6 "EffectReply", r7 scratch, r8.. worker pids.
fn body(name: &str, ops: &[Op], consts: &mut Vec<serde_json::Value>) -> Vec<serde_json::Value> {
    let mut code = vec![
        json!(["LOAD_CONST", 1, 0]),
        json!(["LOAD_CONST", 2, 1]),
        json!(["LOAD_CONST", 6, 2]),
    ];
    for (i, o) in ops.iter().enumerate() {
        match o {
            Op::Await => {
                consts.push(json!({ "string": format!("{name}-{i}") }));
                let k = consts.len() - 1;
                code.extend([
                    json!(["LOAD_CONST", 4, k]),
                    json!(["RECORD_NEW", 3]),
                    json!(["RECORD_SET", 3, 3, "key", 4]),
                    json!(["EFFECT_NEW", 7, "svc", 3]),
                    json!(["EFFECT_AWAIT", 7]),
                    json!(["PROC_RECEIVE_MATCH", 5, 6]),
                    json!(["STATE_SET", format!("{name}.last"), 5]),
                ]);
            }
            Op::Count => code.extend([
                json!(["ADD", 1, 1, 2]),
                json!(["STATE_SET", format!("{name}.count"), 1]),
            ]),
            Op::Emit => code.extend([json!(["EVENT_NEW", 7, "tick", 1]), json!(["EVENT_EMIT", 7])]),
            Op::Request => code.extend([
                json!(["EFFECT_NEW", 7, "log", 1]),
                json!(["EFFECT_REQUEST", 7]),
            ]),
            Op::SendParent => code.push(json!(["PROC_SEND", 0, 1])),
            Op::Receive => code.extend([
                json!(["PROC_RECEIVE", 5]),
                json!(["STATE_SET", format!("{name}.got"), 5]),
            ]),
            Op::Sleep(n) => code.push(json!(["PROC_SLEEP_TICKS", n])),
            Op::Yield => code.push(json!(["PROC_YIELD"])),
        }
    }
    code
}

fn random_program(main_ops: &[Op], workers: &[Vec<Op>], slice: u8, max_steps: u32) -> String {
    let mut consts = vec![
        json!({"int":"0"}),
        json!({"int":"1"}),
        json!({"string":"EffectReply"}),
    ];
    let mut functions = serde_json::Map::new();
    let mut main = vec![json!(["PROC_SELF", 0])];
    for i in 0..workers.len() {
        main.push(json!(["PROC_SPAWN", 8 + i, format!("w{i}"), [0]]));
    }
    main.extend(body("main", main_ops, &mut consts));
    for i in 0..workers.len() {
        main.push(json!(["PROC_JOIN", 7, 8 + i]));
    }
    main.push(json!(["RETURN", 1]));
    functions.insert(
        "main".into(),
        json!({"registerCount": 12, "instructions": main}),
    );
    for (i, ops) in workers.iter().enumerate() {
        let name = format!("w{i}");
        let mut code = body(&name, ops, &mut consts);
        code.push(json!(["RETURN", 1]));
        functions.insert(
            name,
            json!({"arity": 1, "registerCount": 12, "instructions": code}),
        );
    }
    program(json!({
        "functions": functions,
        "constants": consts,
        "limits": {"maxProcessStepsPerSlice": slice, "maxSteps": max_steps},
    }))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn snapshots_resume_exactly_like_the_live_machine(
        main_ops in prop::collection::vec(op(), 0..8),
        workers in prop::collection::vec(prop::collection::vec(op(), 0..8), 0..4),
        slice in 1u8..6,
        max_steps in prop_oneof![Just(30u32), Just(80), Just(10_000)],
    ) {
        let p = random_program(&main_ops, &workers, slice, max_steps);
        drive_both(&p, "", 25);
    }

    #[test]
    fn every_value_round_trips_in_the_snapshot_codec(v in arb_value()) {
        prop_assert_eq!(sv_round_trip(&v), v);
    }
}

fn arb_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Unit),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::int),
        (any::<i64>(), -20i32..20).prop_map(|(v, sc)| Value::fixed(Int::from(v), sc)),
        (any::<i64>(), any::<i64>())
            .prop_map(|(n, d)| Value::rational(Rational::new(Int::from(n), Int::from(d)))),
        ".{0,8}".prop_map(Value::str),
        ".{0,8}".prop_map(|x| Value::Symbol(Str::new(x))),
        prop::collection::vec(any::<u8>(), 0..6).prop_map(|b| Value::Bytes(Rc::new(b))),
        ".{0,4}".prop_map(|x| Value::FunctionRef(Str::new(x))),
        ".{0,4}".prop_map(|x| Value::Process(Str::new(x))),
        (".{0,4}", ".{0,4}")
            .prop_map(|(n, p)| Value::RemoteProcess(Rc::new((Str::new(n), Str::new(p))))),
    ]
}

fn arb_value() -> impl Strategy<Value = Value> {
    arb_leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5)
                .prop_map(|v| Value::List(Rc::new(List::from_vec(v)))),
            prop::collection::vec((inner.clone(), inner.clone()), 0..4)
                .prop_map(|kv| Value::map(kv.into_iter().collect())),
            prop::collection::vec((".{0,4}", inner.clone()), 0..4).prop_map(|kv| {
                Value::record(kv.into_iter().map(|(k, v)| (Str::new(k), v)).collect())
            }),
            (".{0,4}", inner.clone()).prop_map(|(t, v)| Value::variant(Str::new(t), v)),
            inner.clone().prop_map(Value::some),
            Just(Value::none()),
            inner.clone().prop_map(|v| Value::Result(Rc::new(Ok(v)))),
            inner.clone().prop_map(|v| Value::Result(Rc::new(Err(v)))),
            (".{0,4}", inner.clone()).prop_map(|(t, v)| Value::event(Str::new(t), v)),
            (".{0,4}", inner.clone()).prop_map(|(t, v)| Value::effect(Str::new(t), v)),
            (".{0,4}", inner.clone()).prop_map(|(t, v)| Value::Proof(Rc::new(Tagged {
                tag: Str::new(t),
                value: v
            }))),
            (
                ".{0,4}",
                ".{0,4}",
                prop::collection::vec((".{0,3}", inner), 0..3),
                any::<i32>()
            )
                .prop_map(|(a, b, data, version)| Value::Machine(Rc::new(
                    MachineInstance {
                        machine_id: Str::new(a.clone()),
                        instance_id: Str::new(b),
                        current_state: Str::new(a),
                        data: data.into_iter().map(|(k, v)| (Str::new(k), v)).collect(),
                        version,
                        history_hash: Str::new(""),
                    }
                ))),
        ]
    })
}

// ------------------------------------------------------------ tampering

fn write_json(j: &json::Json, out: &mut String) {
    use json::Json as T;
    match j {
        T::Null => out.push_str("null"),
        T::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        T::Num(n) => out.push_str(n),
        T::Str(x) => crate::value::json::write_json_str(x, out),
        T::Arr(items) => {
            out.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(x, out);
            }
            out.push(']');
        }
        T::Obj(members) => {
            out.push('{');
            for (i, (k, x)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                crate::value::json::write_json_str(k, out);
                out.push(':');
                write_json(x, out);
            }
            out.push('}');
        }
    }
}

/// Replaces the `n`-th leaf (pre-order, modulo the leaf count) by `leaf`.
fn replace_leaf(j: &mut json::Json, n: &mut usize, leaf: &json::Json) -> bool {
    use json::Json as T;
    match j {
        T::Arr(items) => items.iter_mut().any(|x| replace_leaf(x, n, leaf)),
        T::Obj(members) => members.iter_mut().any(|(_, x)| replace_leaf(x, n, leaf)),
        _ => {
            if *n == 0 {
                *j = leaf.clone();
                true
            } else {
                *n -= 1;
                false
            }
        }
    }
}

fn count_leaves(j: &json::Json) -> usize {
    use json::Json as T;
    match j {
        T::Arr(items) => items.iter().map(count_leaves).sum(),
        T::Obj(members) => members.iter().map(|(_, x)| count_leaves(x)).sum(),
        _ => 1,
    }
}

fn arb_leaf_json() -> impl Strategy<Value = json::Json> {
    use json::Json as T;
    prop_oneof![
        Just(T::Null),
        any::<bool>().prop_map(T::Bool),
        prop_oneof![
            -3i64..40,
            Just(i64::from(i32::MAX)),
            Just(-1_000_000_000_000)
        ]
        .prop_map(|n| T::Num(n.to_string())),
        prop::sample::select(vec![
            "main",
            "p0",
            "p1",
            "p2",
            "w0",
            "w1",
            "",
            "k",
            "EffectReply",
            "0"
        ])
        .prop_map(|x| T::Str(x.to_string())),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// A snapshot with any one field changed is either rejected with a clean
    /// error or resumes without panicking.
    #[test]
    fn tampered_snapshots_never_panic(
        which in 0usize..10_000,
        leaf in arb_leaf_json(),
        round in 0usize..3,
    ) {
        let p = random_program(
            &[Op::Await, Op::Count, Op::Receive],
            &[vec![Op::Await, Op::SendParent], vec![Op::Sleep(2), Op::Receive, Op::Await]],
            2,
            10_000,
        );
        let docs = drive_both(&p, "", round);
        let snap = snapshot_of(docs.last().unwrap());
        let mut tree = json::parse(&snap).unwrap();
        let mut n = which % count_leaves(&tree);
        replace_leaf(&mut tree, &mut n, &leaf);
        let mut text = String::new();
        write_json(&tree, &mut text);
        let program = loaded(&p);
        match decode_snapshot(program, &text) {
            Err(e) => prop_assert!(e.starts_with("snapshot decode: "), "{}", e),
            Ok(m) => {
                let ds = [
                    Delivery::Message { pid: s("main"), message: Value::int(1i64) },
                    Delivery::EffectReply { pid: s("p0"), key: s("w0-0"), result: Value::Unit },
                    Delivery::EffectReply { pid: s("main"), key: s("main-0"), result: Value::Unit },
                    Delivery::Disconnect { node: s("vmX"), reason: s("x") },
                ];
                let _ = resume_machine(m, &ds).map(|o| o.to_json());
            }
        }
    }
}
