//! Crash safety: the `finvm live` host is killed with SIGKILL at random
//! moments of a run against a real HTTP server, restarted on the same
//! journal, and run to completion — at least 20 times per backend and mode.
//! Each effect must reach the server exactly once, and the final output
//! must equal that of an uninterrupted run.
//!
//! Two modes:
//! - **strict** (`--in-doubt fail`, the default): a restart that finds an
//!   HTTP effect in doubt stops (exit 3) and names it; the test then acts
//!   as the operator — it asks the server whether that request arrived and
//!   records its result (`finvm journal resolve … --result`) or marks it
//!   not performed (`--retry`). The server must see every request exactly
//!   once: at-most-once on the wire, completed by reconciliation.
//! - **retry** (`--in-doubt retry`): the host sends an in-doubt request
//!   again with the same `Idempotency-Key`, and the server deduplicates by
//!   it (as payment APIs do). Every effect must be *applied* exactly once;
//!   the duplicate deliveries are counted and printed.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

const POSTS: i64 = 8;
const RUNS: usize = 22;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Strict,
    Retry,
}

/// What the server answers for a request (the test server is deterministic).
fn response_of(s: &Seen) -> String {
    if let Some(i) = s.path.strip_prefix("/pay/") {
        format!("paid:{i}:{}", s.body)
    } else if let Some(x) = s.path.strip_prefix("/quote/") {
        format!("quote:{x}")
    } else {
        "nope".into()
    }
}

fn in_doubt_index(out: &Out) -> u64 {
    let err = out.last()["error"].as_str().unwrap_or("").to_string();
    let rest = err
        .strip_prefix("effect in doubt at ")
        .unwrap_or_else(|| panic!("not an in-doubt error: {err}"));
    rest.split(':').next().unwrap().parse().unwrap()
}

fn live_args<'a>(prog: &'a str, url: &'a str, ov: &'a str, mode: Mode) -> Vec<&'a str> {
    let mut a = vec!["live", prog, "--journal", url, "--overrides", ov];
    if mode == Mode::Retry {
        a.extend(["--in-doubt", "retry"]);
    }
    a
}

fn crash_suite(b: &Backend, mode: Mode) {
    let name = format!("crash-{}-{mode:?}", b.name());
    let mut rng = Rng::new(seed(&name));
    let dir = temp_dir(&name);
    let server = TestServer::start();
    server
        .delay_ms
        .store(2, std::sync::atomic::Ordering::SeqCst);
    server
        .dedupe
        .store(mode == Mode::Retry, std::sync::atomic::Ordering::SeqCst);
    let (prog, ov) = write_program(&dir, "p", &program(POSTS, "c"), &server.base);

    // The uninterrupted run.
    let url0 = b.fresh_url(&dir, "reference");
    let t0 = Instant::now();
    let reference = finvm(&live_args(&prog, &url0, &ov, mode));
    let span = t0.elapsed();
    assert_eq!(
        reference.code, 0,
        "{name}: {}\n{}",
        reference.stdout, reference.stderr
    );
    let effects = reference.last()["effects"].as_u64().unwrap();
    let requests = POSTS as usize + 3;
    assert_eq!(server.seen().len(), requests);

    let (mut mid_run, mut resolved_result, mut resolved_retry, mut duplicates, mut kills) =
        (0, 0, 0, 0, 0);
    for it in 0..RUNS {
        server.reset();
        let url = b.fresh_url(&dir, &format!("run{it}"));
        // One or two kills at random moments (the window covers start-up,
        // the whole run, and a little after).
        let n_kills = 1 + rng.below(2);
        for _ in 0..n_kills {
            let delay = Duration::from_micros(rng.below(span.as_micros() as u64 * 12 / 10 + 1));
            let mut child = Command::new(finvm_bin())
                .args(live_args(&prog, &url, &ov, mode))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn finvm live");
            std::thread::sleep(delay);
            let _ = child.kill(); // SIGKILL
            let _ = child.wait();
            kills += 1;
            if let Some(done) = journal_len(&url) {
                if done > 0 && done < effects {
                    mid_run += 1;
                }
            }
        }
        // Restart until complete, settling in-doubt effects as an operator would.
        let fin = loop {
            let out = finvm(&live_args(&prog, &url, &ov, mode));
            match out.code {
                0 => break out,
                3 if mode == Mode::Strict => {
                    let index = in_doubt_index(&out);
                    // Let any request still in a socket buffer arrive.
                    std::thread::sleep(Duration::from_millis(300));
                    let suffix = format!("-{index}");
                    let arrived = server.seen().into_iter().find(|s| {
                        s.idempotency_key
                            .as_deref()
                            .is_some_and(|k| k.ends_with(&suffix))
                    });
                    let r = match &arrived {
                        Some(s) => {
                            resolved_result += 1;
                            let v = serde_json::json!({"string": response_of(s)}).to_string();
                            finvm(&[
                                "journal",
                                "resolve",
                                &url,
                                &index.to_string(),
                                "--result",
                                &v,
                            ])
                        }
                        None => {
                            resolved_retry += 1;
                            finvm(&["journal", "resolve", &url, &index.to_string(), "--retry"])
                        }
                    };
                    assert_eq!(r.code, 0, "{name}: resolve failed: {}", r.stdout);
                }
                _ => panic!(
                    "{name} run {it}: restart failed ({}):\n{}\n{}",
                    out.code, out.stdout, out.stderr
                ),
            }
        };
        assert_eq!(
            fin.stdout, reference.stdout,
            "{name} run {it}: output differs from the uninterrupted run"
        );
        // Exactly once at the server.
        let seen = server.seen();
        let mut per_path = std::collections::BTreeMap::<String, Vec<String>>::new();
        for s in &seen {
            per_path
                .entry(format!("{} {}", s.method, s.path))
                .or_default()
                .push(s.idempotency_key.clone().unwrap_or_default());
        }
        assert_eq!(per_path.len(), requests, "{name} run {it}: {per_path:?}");
        for (path, keys) in &per_path {
            match mode {
                Mode::Strict => assert_eq!(
                    keys.len(),
                    1,
                    "{name} run {it}: {path} reached the server {} times",
                    keys.len()
                ),
                Mode::Retry => assert!(
                    keys.iter().all(|k| k == &keys[0]),
                    "{name} run {it}: {path} arrived under different idempotency keys {keys:?}"
                ),
            }
        }
        if mode == Mode::Retry {
            let st = server.state.lock().unwrap();
            assert_eq!(
                st.applied.len(),
                requests,
                "{name} run {it}: applied {:?}",
                st.applied
            );
            duplicates += st.duplicates;
        }
    }
    eprintln!(
        "{name}: {RUNS} runs, {kills} SIGKILLs ({mid_run} left a partial journal), \
         in-doubt settled: {resolved_result} as performed, {resolved_retry} as not performed; \
         duplicate deliveries deduplicated by the server: {duplicates}; uninterrupted run {:.0} ms",
        span.as_secs_f64() * 1000.0
    );
    assert!(
        mid_run >= 3,
        "{name}: only {mid_run} of {kills} kills landed mid-run; the test did not test much"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Entries with a result in a journal (None if it does not exist yet).
fn journal_len(url: &str) -> Option<u64> {
    let out = finvm(&["journal", "show", url]);
    if out.code != 0 {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(&out.stdout).ok()?;
    Some(v.as_array()?.len() as u64)
}

#[test]
fn crash_file_strict() {
    crash_suite(&Backend::File, Mode::Strict);
}

#[test]
fn crash_file_retry() {
    crash_suite(&Backend::File, Mode::Retry);
}

#[test]
fn crash_sqlite_strict() {
    crash_suite(&Backend::Sqlite, Mode::Strict);
}

#[test]
fn crash_sqlite_retry() {
    crash_suite(&Backend::Sqlite, Mode::Retry);
}

#[test]
fn crash_postgres_strict() {
    match pg_url() {
        Some(u) => crash_suite(&Backend::Postgres(u), Mode::Strict),
        None => eprintln!("NOTICE: FINVM_TEST_PG_URL is not set: crash_postgres_strict SKIPPED"),
    }
}

#[test]
fn crash_postgres_retry() {
    match pg_url() {
        Some(u) => crash_suite(&Backend::Postgres(u), Mode::Retry),
        None => eprintln!("NOTICE: FINVM_TEST_PG_URL is not set: crash_postgres_retry SKIPPED"),
    }
}
