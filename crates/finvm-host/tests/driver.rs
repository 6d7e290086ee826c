//! The driver in-process: ordering under concurrency, transports, handler
//! failures and in-doubt effects, strict replay errors, reference journals,
//! torn journal lines — on every journal backend where it matters.

mod support;

use finvm::effect::{load_program, Overrides};
use finvm_host::handlers::{FnHandler, InDoubt, Registry, Request};
use finvm_host::journal::{self, JournalStore, OpenMode, Slot};
use finvm_host::{run_live, run_replay, HostError, LiveOptions, LoopbackTransport, RunReport};
use serde_json::{json, Value as J};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::*;

/// `n` effects of type `ty`, each with payload `{key: "k<i>", n: <i>}`:
/// when `concurrent`, awaited by `n` worker processes at once (one round),
/// joined in order; else awaited by main one at a time. An event `got` is
/// emitted per reply. Returns the list of replies.
fn awaits(n: usize, ty: &str, concurrent: bool) -> String {
    let mut ins = vec![json!(["LIST_NEW", 4]), json!(["LOAD_CONST", 5, 0])];
    let emit = |ins: &mut Vec<J>| {
        ins.push(json!(["LIST_APPEND", 4, 4, 7]));
        ins.push(json!(["EVENT_NEW", 8, "got", 7]));
        ins.push(json!(["EVENT_EMIT", 8]));
    };
    if concurrent {
        for i in 0..n {
            ins.push(json!(["LOAD_CONST", 1, 1 + i]));
            ins.push(json!(["LOAD_CONST", 2, 1 + n + i]));
            ins.push(json!(["PROC_SPAWN", 10 + i, "worker", [1, 2]]));
        }
        for i in 0..n {
            ins.push(json!(["PROC_JOIN", 7, 10 + i]));
            ins.push(json!(["PROC_JOIN_RESULT", 7, 10 + i]));
            emit(&mut ins);
        }
    } else {
        for i in 0..n {
            ins.push(json!(["LOAD_CONST", 1, 1 + i]));
            ins.push(json!(["LOAD_CONST", 2, 1 + n + i]));
            ins.push(json!(["RECORD_NEW", 3]));
            ins.push(json!(["RECORD_SET", 3, 3, "key", 1]));
            ins.push(json!(["RECORD_SET", 3, 3, "n", 2]));
            ins.push(json!(["EFFECT_NEW", 6, ty, 3]));
            ins.push(json!(["EFFECT_AWAIT", 6]));
            ins.push(json!(["PROC_RECEIVE_MATCH", 7, 5]));
            ins.push(json!(["VARIANT_PAYLOAD", 7, 7]));
            ins.push(json!(["RECORD_GET", 7, 7, "value"]));
            emit(&mut ins);
        }
    }
    ins.push(json!(["STATE_SET", "replies", 4]));
    ins.push(json!(["RETURN", 4]));
    let worker = json!([
        ["RECORD_NEW", 2],
        ["RECORD_SET", 2, 2, "key", 0],
        ["RECORD_SET", 2, 2, "n", 1],
        ["EFFECT_NEW", 3, ty, 2],
        ["EFFECT_AWAIT", 3],
        ["LOAD_CONST", 4, 0],
        ["PROC_RECEIVE_MATCH", 5, 4],
        ["VARIANT_PAYLOAD", 5, 5],
        ["RECORD_GET", 5, 5, "value"],
        ["RETURN", 5]
    ]);
    let mut consts = vec![json!({"string": "EffectReply"})];
    consts.extend((0..n).map(|i| json!({"string": format!("k{i}")})));
    consts.extend((0..n).map(|i| json!({"int": i.to_string()})));
    json!({
        "constants": consts,
        "entrypoint": "main",
        "functions": {
            "main": {"registerCount": 10 + n, "instructions": ins},
            "worker": {"arity": 2, "registerCount": 6, "instructions": worker}
        }
    })
    .to_string()
}

fn program(text: &str) -> std::rc::Rc<finvm::program::Program> {
    load_program(text).unwrap()
}

fn live(
    text: &str,
    j: &mut dyn JournalStore,
    reg: &Registry,
) -> Result<(RunReport, Vec<String>), HostError> {
    let mut rounds = Vec::new();
    let r = run_live(
        program(text),
        &Overrides::default(),
        j,
        reg,
        &LiveOptions::default(),
        &mut |r| rounds.push(r.to_json()),
    )?;
    Ok((r, rounds))
}

fn replay(text: &str, slots: &[Slot]) -> Result<(RunReport, Vec<String>), HostError> {
    let mut rounds = Vec::new();
    let r = run_replay(program(text), &Overrides::default(), slots, &mut |r| {
        rounds.push(r.to_json())
    })?;
    Ok((r, rounds))
}

fn fresh(b: &Backend, dir: &std::path::Path, name: &str) -> (String, Box<dyn JournalStore>) {
    let url = b.fresh_url(dir, name);
    let j = journal::open(&url, None, OpenMode::Write).unwrap();
    (url, j)
}

fn load(url: &str) -> Vec<Slot> {
    journal::open(url, None, OpenMode::Read)
        .unwrap()
        .load()
        .unwrap()
}

/// Handlers finishing in reverse order: the journal and the deliveries
/// keep request order (the reference's driver_test case 3).
#[test]
fn concurrent_handlers_keep_request_order() {
    let dir = temp_dir("order");
    for b in Backend::all() {
        let finished = Arc::new(Mutex::new(Vec::new()));
        let f2 = finished.clone();
        let mut reg = Registry::new();
        reg.register_fn("work", move |req: &Request| {
            let n = req.arg["n"].as_u64().unwrap();
            std::thread::sleep(Duration::from_millis(60 - 20 * n));
            f2.lock().unwrap().push(req.key.clone().unwrap());
            Ok(json!(format!("done {}", req.key.as_deref().unwrap())))
        });
        let text = awaits(3, "work", true);
        let (url, mut j) = fresh(&b, &dir, "order");
        let (report, rounds) = live(&text, j.as_mut(), &reg).unwrap();
        assert_eq!(
            *finished.lock().unwrap(),
            ["k2", "k1", "k0"],
            "{}",
            b.name()
        );
        assert_eq!(
            report.result,
            r#"{"list":[{"option":{"string":"done k0"}},{"option":{"string":"done k1"}},{"option":{"string":"done k2"}}]}"#
        );
        assert_eq!(report.rounds, 2);
        drop(j);
        let slots = load(&url);
        let keys: Vec<_> = slots
            .iter()
            .map(|s| s.intent.key.clone().unwrap())
            .collect();
        assert_eq!(keys, ["k0", "k1", "k2"]);
        // Replay: identical report and rounds, no handler.
        let (r2, rounds2) = replay(&text, &slots).unwrap();
        assert_eq!(r2.to_json(), report.to_json());
        assert_eq!(rounds2, rounds);
        assert_eq!(report.stats.performed, 3);
        assert_eq!(r2.stats.replayed, 3);
    }
}

/// Events of every round reach the report (`DECISIONS.md`: not only the last call's).
#[test]
fn events_of_every_round_are_kept() {
    let mut reg = Registry::new();
    reg.register_fn("work", |req: &Request| Ok(req.arg["n"].clone()));
    let dir = temp_dir("events");
    let (_, mut j) = fresh(&Backend::File, &dir, "ev");
    let (report, rounds) = live(&awaits(3, "work", false), j.as_mut(), &reg).unwrap();
    assert_eq!(report.rounds, 4);
    assert_eq!(
        report.events,
        [0, 1, 2].map(|i| format!(r#"{{"type_":"got","payload":{{"int":"{i}"}}}}"#))
    );
    assert!(rounds[1].contains(r#""events":[{"type_":"got","payload":{"int":"0"}}]"#));
}

/// A transport: NODE_SPAWN is acknowledged by the loopback transport through
/// a delivery hint; NODE_SEND reaches it.
#[test]
fn loopback_transport_spawn_and_send() {
    let text = json!({
        "constants": [{"string": "n1"}, {"string": "RemoteSpawnAck"}, {"string": "PING"}],
        "functions": {
            "main": {"registerCount": 6, "instructions": [
                ["LOAD_CONST", 0, 0],
                ["NODE_SPAWN", 1, 0, "worker", []],
                ["LOAD_CONST", 2, 1],
                ["PROC_RECEIVE_MATCH", 3, 2],
                ["LOAD_CONST", 4, 2],
                ["NODE_SEND", 1, 4],
                ["VARIANT_PAYLOAD", 5, 3],
                ["RETURN", 5]
            ]},
            "worker": {"registerCount": 1, "instructions": [["RETURN", 0]]}
        },
        "entrypoint": "main"
    })
    .to_string();
    let t = Arc::new(LoopbackTransport::new());
    let mut reg = Registry::new();
    reg.set_transport(t.clone());
    let dir = temp_dir("transport");
    let (url, mut j) = fresh(&Backend::File, &dir, "t");
    let (report, _) = live(&text, j.as_mut(), &reg).unwrap();
    let v: J = serde_json::from_str(&report.result).unwrap();
    assert!(
        v["record"]["pid"]["string"]
            .as_str()
            .unwrap()
            .starts_with("remote:n1:worker:"),
        "{v}"
    );
    let sent = t.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].node.as_str(), &sent[0].message),
        ("n1", &json!("PING"))
    );
    drop(j);
    let slots = load(&url);
    assert_eq!(slots[0].intent.type_, "RemoteSpawnIntent");
    assert_eq!(slots[0].intent.kind, finvm_host::Kind::Transport);
    assert_eq!(slots[1].result, Some(json!({"bool": true})));
    assert_eq!(replay(&text, &slots).unwrap().0.result, report.result);

    // A node that is down: the spawn fails with RemoteSpawnFailed... and the
    // program then waits forever for an ack: a deadlock, reported as such.
    let t = Arc::new(LoopbackTransport::new());
    t.set_down("n1", true);
    let mut reg = Registry::new();
    reg.set_transport(t);
    let (_, mut j) = fresh(&Backend::File, &dir, "t2");
    let err = live(&text, j.as_mut(), &reg).unwrap_err();
    assert_eq!(err.to_string(), "VM deadlock: expected suspended/completed");
}

/// A failing handler stops the run; the effect is then in doubt. A handler
/// that does not allow retries makes the restart stop and name it; after an
/// operator marks it for retry, the run completes, and each effect was
/// performed once (the failed attempt aside).
#[test]
fn handler_failure_then_in_doubt_then_resolved() {
    let dir = temp_dir("doubt");
    for b in Backend::all() {
        let calls = Arc::new(AtomicUsize::new(0));
        let c2 = calls.clone();
        let fail_once = Arc::new(AtomicUsize::new(0));
        let f2 = fail_once.clone();
        let mut reg = Registry::new();
        reg.register(
            "pay",
            Arc::new(FnHandler(
                move |req: &Request| {
                    c2.fetch_add(1, Ordering::SeqCst);
                    if req.index == 1 && f2.fetch_add(1, Ordering::SeqCst) == 0 {
                        return Err("connection reset".into());
                    }
                    Ok(json!(format!("ok{}", req.index)))
                },
                InDoubt::Fail,
            )),
        );
        let text = awaits(3, "pay", false);
        let (url, mut j) = fresh(&b, &dir, "doubt");
        let err = live(&text, j.as_mut(), &reg).unwrap_err();
        assert_eq!(err.to_string(), "effect 1 (pay) failed: connection reset");
        drop(j);
        let slots = load(&url);
        assert_eq!(slots.len(), 2);
        assert!(slots[0].result.is_some() && slots[1].result.is_none());

        // Restart: in doubt, not performed again.
        let mut j = journal::open(&url, None, OpenMode::Write).unwrap();
        let err = live(&text, j.as_mut(), &reg).unwrap_err();
        assert!(matches!(err, HostError::InDoubt { index: 1, .. }), "{err}");
        assert_eq!(err.exit_code(), 3);
        assert!(err.to_string().starts_with(
            "effect in doubt at 1: await_reply/main/pay/k1 was started but its result was never recorded"
        ));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        // Replay names it too.
        let slots = j.load().unwrap();
        let err = replay(&text, &slots).unwrap_err();
        assert!(err.to_string().starts_with(
            "journal exhausted: no recorded result for effect 'pay' key 'k1' (entry 1: it was started"
        ));

        // The operator: it did not happen; perform it again.
        j.set_retry(1, true).unwrap();
        drop(j);
        let mut j = journal::open(&url, None, OpenMode::Write).unwrap();
        let (report, _) = live(&text, j.as_mut(), &reg).unwrap();
        assert_eq!(
            report.result,
            r#"{"list":[{"string":"ok0"},{"string":"ok1"},{"string":"ok2"}]}"#
        );
        assert_eq!(report.stats.retried, 1);
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        drop(j);
        let slots = load(&url);
        assert!(slots.iter().all(|s| s.result.is_some() && !s.retry));
        assert_eq!(replay(&text, &slots).unwrap().0.result, report.result);
    }
}

/// An operator records the result of an in-doubt effect: it is delivered,
/// and the effect is not performed again.
#[test]
fn resolved_with_a_result() {
    let dir = temp_dir("resolve");
    let calls = Arc::new(AtomicUsize::new(0));
    let c2 = calls.clone();
    let mut reg = Registry::new();
    reg.register_fn("pay", move |req: &Request| {
        c2.fetch_add(1, Ordering::SeqCst);
        Ok(json!(req.index))
    });
    let text = awaits(2, "pay", false);
    let (url, mut j) = fresh(&Backend::Sqlite, &dir, "r");
    // Simulate a crash after the intent of entry 0 was recorded.
    let pending_intent = {
        let mut probe = Registry::new();
        probe.register_fn("pay", |_| Err("boom".into()));
        let _ = live(&text, j.as_mut(), &probe).unwrap_err();
        j.load().unwrap()[0].clone()
    };
    assert!(pending_intent.result.is_none());
    j.record_results(&[(0, json!({"string": "settled by hand"}))])
        .unwrap();
    let (report, _) = live(&text, j.as_mut(), &reg).unwrap();
    assert_eq!(
        report.result,
        r#"{"list":[{"string":"settled by hand"},{"int":"1"}]}"#
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    drop(j);
    assert_eq!(load(&url).len(), 2);
}

/// Strict replay: payload, exhaustion and unused entries.
#[test]
fn strict_replay_errors() {
    let mut reg = Registry::new();
    reg.register_fn("work", |req: &Request| Ok(req.arg["n"].clone()));
    let dir = temp_dir("strict");
    let (url, mut j) = fresh(&Backend::File, &dir, "s");
    live(&awaits(3, "work", false), j.as_mut(), &reg).unwrap();
    drop(j);
    let slots = load(&url);
    // Fewer effects: the run completes with entries left.
    let err = replay(&awaits(2, "work", false), &slots).unwrap_err();
    assert_eq!(
        err.to_string(),
        "journal has unused entries: the run completed after 2 effects, but the journal holds 1 more, the first being 2: await_reply/main/work/k2"
    );
    // More effects: exhausted.
    let err = replay(&awaits(4, "work", false), &slots).unwrap_err();
    assert_eq!(
        err.to_string(),
        "journal exhausted: no recorded result for effect 'work' key 'k3' (entry 3)"
    );
    // Another type.
    let err = replay(&awaits(3, "other", false), &slots).unwrap_err();
    assert_eq!(
        err.to_string(),
        "journal mismatch at 0: expected await_reply/main/other/k0, journal has await_reply/main/work/k0"
    );
    // A payload change only.
    let changed = awaits(3, "work", false).replace(r#"{"int":"1"}"#, r#"{"int":"7"}"#);
    let err = replay(&changed, &slots).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"journal mismatch at 1: expected await_reply/main/work/k1, journal has await_reply/main/work/k1 (payload differs: expected {"record":{"key":{"string":"k1"},"n":{"int":"7"}}}, journal has {"record":{"key":{"string":"k1"},"n":{"int":"1"}}})"#
    );
    assert_eq!(err.exit_code(), 2);
    // No handler: nothing is journaled.
    let (url2, mut j) = fresh(&Backend::File, &dir, "nohandler");
    let err = live(&awaits(1, "nope", false), j.as_mut(), &reg).unwrap_err();
    assert_eq!(err.to_string(), "No handler for effect type: nope");
    drop(j);
    assert!(load(&url2).is_empty());
}

/// A journal in the reference's own format (a JSON array, entries with or
/// without `kind`) replays.
#[test]
fn reference_json_array_journal() {
    let program = r#"{"registerCount":6,
      "constants":[{"string":"k1"},{"string":"http://x"},{"string":"EffectReply"}],
      "instructions":[["RECORD_NEW",0],["LOAD_CONST",1,0],["RECORD_SET",0,0,"key",1],
        ["LOAD_CONST",2,1],["RECORD_SET",0,0,"url",2],["EFFECT_NEW",3,"http.get",0],
        ["EFFECT_AWAIT",3],["LOAD_CONST",4,2],["PROC_RECEIVE_MATCH",5,4],
        ["VARIANT_PAYLOAD",5,5],["RECORD_GET",5,5,"value"],["RETURN",5]]}"#;
    let dir = temp_dir("refjournal");
    for entry in [
        r#"{"kind":"await_reply","pid":"main","key":"k1","type_":"http.get","payload":{"record":{"key":{"string":"k1"},"url":{"string":"http://x"}}},"result":{"string":"PRICE=42 for http://x"}}"#,
        r#"{"pid":"main","key":"k1","type_":"http.get","payload":{"record":{"url":{"string":"http://x"},"key":{"string":"k1"}}},"result":{"string":"PRICE=42 for http://x"}}"#,
    ] {
        let path = dir.join("ref.json");
        std::fs::write(&path, format!("[{entry}]")).unwrap();
        let slots = load(path.to_str().unwrap());
        let (r, _) = replay(program, &slots).unwrap();
        assert_eq!(r.result, r#"{"string":"PRICE=42 for http://x"}"#);
        // Read-only: a live host will not append to it.
        let e = journal::open(path.to_str().unwrap(), None, OpenMode::Write)
            .err()
            .unwrap();
        assert!(e.to_string().contains("read-only"), "{e}");
    }
}

/// A torn last line (a write cut by a crash) was never acknowledged: it is
/// ignored, and truncated when the journal is reopened for writing.
#[test]
fn file_journal_torn_line() {
    let mut reg = Registry::new();
    reg.register_fn("work", |req: &Request| Ok(req.arg["n"].clone()));
    let dir = temp_dir("torn");
    let (url, mut j) = fresh(&Backend::File, &dir, "torn");
    let text = awaits(2, "work", false);
    let (report, _) = live(&text, j.as_mut(), &reg).unwrap();
    drop(j);
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().append(true).open(&url).unwrap();
    f.write_all(br#"{"intent":2,"kind":"await_re"#).unwrap();
    drop(f);
    assert_eq!(load(&url).len(), 2);
    let mut j = journal::open(&url, None, OpenMode::Write).unwrap();
    let (again, _) = live(&text, j.as_mut(), &reg).unwrap();
    assert_eq!(again.to_json(), report.to_json());
    drop(j);
    assert!(std::fs::read_to_string(&url).unwrap().ends_with("}\n"));
    // A second writer is refused while one holds the journal.
    let _j1 = journal::open(&url, None, OpenMode::Write).unwrap();
    let e = journal::open(&url, None, OpenMode::Write).err().unwrap();
    assert!(e.to_string().contains("in use by another host"), "{e}");
}

/// Several runs share one SQLite / PostgreSQL database, keyed by run id.
#[test]
fn runs_share_a_database() {
    let dir = temp_dir("shared");
    let mut reg = Registry::new();
    reg.register_fn("work", |req: &Request| Ok(req.arg["n"].clone()));
    for b in Backend::all() {
        if matches!(b, Backend::File) {
            continue;
        }
        let base = b.fresh_url(&dir, "shared");
        let base = base
            .split("?run=")
            .next()
            .unwrap()
            .split("&run=")
            .next()
            .unwrap();
        let run_a = format!("a-{}", unique());
        let run_b = format!("b-{}", unique());
        let mut ja = journal::open(base, Some(&run_a), OpenMode::Write).unwrap();
        live(&awaits(2, "work", false), ja.as_mut(), &reg).unwrap();
        if matches!(b, Backend::Sqlite) {
            // SQLite has one writer at a time (a lock on the database file).
            assert!(journal::open(base, Some(&run_b), OpenMode::Write).is_err());
            drop(ja);
            ja = journal::open(base, Some(&run_a), OpenMode::Read).unwrap();
        }
        // PostgreSQL: both hosts write at once.
        let mut jb = journal::open(base, Some(&run_b), OpenMode::Write).unwrap();
        live(&awaits(3, "work", false), jb.as_mut(), &reg).unwrap();
        assert_ne!(ja.info().nonce, jb.info().nonce);
        assert_eq!(ja.load().unwrap().len(), 2, "{}", b.name());
        assert_eq!(jb.load().unwrap().len(), 3, "{}", b.name());
    }
}

/// A persistent store applies each effect once, even when the host died
/// after the store committed but before the journal recorded the result:
/// the retried effect gets the store's recorded answer, not a second insert.
#[test]
fn persistent_store_effect_in_doubt_is_applied_once() {
    use finvm_host::handlers::{BuiltinOptions, StoreHandler};
    use finvm_host::store::Store;
    let mut ins = vec![json!(["LIST_NEW", 4]), json!(["LOAD_CONST", 5, 0])];
    for i in 0..2 {
        ins.extend([
            json!(["LOAD_CONST", 1, 1 + i]),
            json!(["LOAD_CONST", 2, 3 + i]),
            json!(["LOAD_CONST", 3, 5]),
            json!(["RECORD_NEW", 6]),
            json!(["RECORD_SET", 6, 6, "n", 2]),
            json!(["RECORD_NEW", 7]),
            json!(["RECORD_SET", 7, 7, "key", 1]),
            json!(["RECORD_SET", 7, 7, "table", 3]),
            json!(["RECORD_SET", 7, 7, "record", 6]),
            json!(["EFFECT_NEW", 8, "db.insert", 7]),
            json!(["EFFECT_AWAIT", 8]),
            json!(["PROC_RECEIVE_MATCH", 9, 5]),
            json!(["VARIANT_PAYLOAD", 9, 9]),
            json!(["RECORD_GET", 9, 9, "value"]),
            json!(["LIST_APPEND", 4, 4, 9]),
        ]);
    }
    ins.push(json!(["RETURN", 4]));
    let text = json!({
        "constants": [{"string": "EffectReply"}, {"string": "k0"}, {"string": "k1"},
                      {"int": "0"}, {"int": "1"}, {"string": "t"}],
        "registerCount": 10, "instructions": ins
    })
    .to_string();
    let dir = temp_dir("pstore");
    let store_path = dir.join("store.db");
    let (url, mut j) = fresh(&Backend::File, &dir, "ps");
    // The first host: intent 0 journaled, the store applied it, then the host died.
    let payload = serde_json::from_str::<J>(
        r#"{"record":{"key":{"string":"k0"},"record":{"record":{"n":{"int":"0"}}},"table":{"string":"t"}}}"#,
    )
    .unwrap();
    j.record_intents(
        0,
        &[finvm_host::Intent {
            kind: finvm_host::Kind::AwaitReply,
            pid: "main".into(),
            key: Some("k0".into()),
            type_: "db.insert".into(),
            payload: payload.clone(),
        }],
    )
    .unwrap();
    {
        let mut s = Store::open_sqlite(&store_path).unwrap();
        let v = finvm_host::convert::from_tagless(&payload).unwrap();
        let key = j.info().idempotency_key(0);
        assert_eq!(
            s.handle_once(&key, "db.insert", &v).unwrap(),
            finvm::Value::str("rec0")
        );
    }
    // The restarted host.
    let store = StoreHandler::new(Store::open_sqlite(&store_path).unwrap(), true);
    let reg = Registry::builtin(&BuiltinOptions::default(), store);
    let (report, _) = live(&text, j.as_mut(), &reg).unwrap();
    assert_eq!(
        report.result,
        r#"{"list":[{"string":"rec0"},{"string":"rec1"}]}"#
    );
    assert_eq!(report.stats.retried, 1);
    drop(j);
    assert_eq!(load(&url).len(), 2);
}
