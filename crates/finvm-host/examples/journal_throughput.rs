//! Durable journal throughput.
//!
//! ```text
//! cargo run --release -p finvm-host --example journal_throughput -- URL [N]
//! ```
//!
//! `URL` is a journal URL (`/tmp/j.jsonl`, `sqlite:/tmp/j.db`,
//! `postgres://…`); a fresh run is used each time. Three measurements, each
//! over `N` entries (default 2000) with a ~150-byte payload and result:
//!
//! 1. `sequential`: what the driver does for a round with one effect: a
//!    durable intent write, then a durable result write (2 commits/entry);
//! 2. `batch16`: rounds of 16 effects (one intent commit and one result
//!    commit per round);
//! 3. `driver`: the whole live driver — a program awaiting `N` effects one
//!    at a time, with an in-process handler that answers at once.
//!
//! Every write is durable when counted (fsync / `synchronous=FULL` / a
//! PostgreSQL commit with `synchronous_commit=on`).

use finvm::effect::{load_program, Overrides};
use finvm_host::journal::{self, Intent, Kind, OpenMode};
use finvm_host::{run_live, LiveOptions, Registry};
use serde_json::json;
use std::time::Instant;

fn fresh_url(base: &str, tag: &str) -> String {
    let stamp = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    if base.starts_with("postgres://") || base.starts_with("postgresql://") {
        let sep = if base.contains('?') { '&' } else { '?' };
        format!("{base}{sep}run=bench-{tag}-{stamp}")
    } else if let Some(p) = base.strip_prefix("sqlite:") {
        format!("sqlite:{p}.{tag}.{stamp}")
    } else {
        format!("{base}.{tag}.{stamp}")
    }
}

fn intent(i: u64) -> Intent {
    Intent {
        kind: Kind::AwaitReply,
        pid: "main".into(),
        key: Some(format!("k{i}")),
        type_: "http.post".into(),
        payload: json!({"record": {"key": {"string": format!("k{i}")},
            "url": {"string": "https://api.example.invalid/v1/payments"},
            "body": {"string": format!("{{\"amount\":\"{i}.00\",\"currency\":\"EUR\"}}")}}}),
    }
}

fn result(i: u64) -> serde_json::Value {
    json!({"string": format!("{{\"id\":\"pay_{i:08}\",\"status\":\"succeeded\",\"amount\":\"{i}.00\",\"currency\":\"EUR\",\"created\":1764000000}}")})
}

fn report(what: &str, url: &str, entries: u64, commits: u64, secs: f64) {
    println!(
        "{what:<11} {:<9} entries {entries:>6}  commits {commits:>6}  {secs:>7.3} s  {:>9.0} entries/s  {:>9.0} commits/s",
        if url.starts_with("sqlite:") {
            "sqlite"
        } else if url.starts_with("postgres") {
            "postgres"
        } else {
            "file"
        },
        entries as f64 / secs,
        commits as f64 / secs
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let base = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "sqlite:/tmp/finvm-bench.db".into());
    let n: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(2000);
    let mut cleanup = Vec::new();

    // 1. sequential: intent + result per entry.
    let url = fresh_url(&base, "seq");
    cleanup.push(url.clone());
    let mut j = journal::open(&url, None, OpenMode::Write).expect("open journal");
    let t = Instant::now();
    for i in 0..n {
        j.record_intents(i, &[intent(i)]).unwrap();
        j.record_results(&[(i, result(i))]).unwrap();
    }
    report("sequential", &base, n, 2 * n, t.elapsed().as_secs_f64());
    drop(j);

    // 2. rounds of 16.
    let url = fresh_url(&base, "b16");
    cleanup.push(url.clone());
    let mut j = journal::open(&url, None, OpenMode::Write).expect("open journal");
    let t = Instant::now();
    let mut i = 0;
    let mut commits = 0;
    while i < n {
        let k = 16.min(n - i);
        let intents: Vec<Intent> = (i..i + k).map(intent).collect();
        j.record_intents(i, &intents).unwrap();
        let results: Vec<_> = (i..i + k).map(|x| (x, result(x))).collect();
        j.record_results(&results).unwrap();
        commits += 2;
        i += k;
    }
    report("batch16", &base, n, commits, t.elapsed().as_secs_f64());
    drop(j);

    // 3. the live driver end to end.
    let program = json!({
        "constants": [{"int": "0"}, {"int": "1"}, {"int": n.to_string()}, {"string": "EffectReply"}, {"string": "k"}],
        "limits": {"maxSteps": 100_000_000u64},
        "registerCount": 10,
        "instructions": [
            ["LOAD_CONST", 0, 0], ["LOAD_CONST", 1, 1], ["LOAD_CONST", 2, 2], ["LOAD_CONST", 3, 3],
            ["LOAD_CONST", 4, 4],
            ["LABEL", "loop"], ["LT", 5, 0, 2], ["JUMP_IF_FALSE", 5, "done"],
            ["RECORD_NEW", 6], ["RECORD_SET", 6, 6, "key", 4], ["RECORD_SET", 6, 6, "n", 0],
            ["EFFECT_NEW", 7, "work", 6], ["EFFECT_AWAIT", 7], ["PROC_RECEIVE_MATCH", 8, 3],
            ["ADD", 0, 0, 1], ["JUMP", "loop"],
            ["LABEL", "done"], ["RETURN", 0]
        ]
    })
    .to_string();
    let url = fresh_url(&base, "drv");
    cleanup.push(url.clone());
    let mut j = journal::open(&url, None, OpenMode::Write).expect("open journal");
    let mut reg = Registry::new();
    reg.register_fn("work", |req| Ok(json!(format!("done {}", req.arg["n"]))));
    let t = Instant::now();
    let r = run_live(
        load_program(&program).unwrap(),
        &Overrides::default(),
        j.as_mut(),
        &reg,
        &LiveOptions::default(),
        &mut |_| {},
    )
    .expect("driver run");
    assert_eq!(r.effects, n);
    report("driver", &base, n, 2 * n, t.elapsed().as_secs_f64());
    drop(j);

    for u in cleanup {
        if let Some(p) = u.strip_prefix("sqlite:") {
            for suffix in ["", "-wal", "-shm", ".lock"] {
                let _ = std::fs::remove_file(format!("{p}{suffix}"));
            }
        } else if !u.starts_with("postgres") {
            let _ = std::fs::remove_file(u);
        }
    }
}
