//! End-to-end through the `finvm` binary against a real HTTP server on
//! 127.0.0.1, on every journal backend: live → journal → replay gives the
//! same bytes; replay works with the server stopped; a changed program
//! reports the first divergent entry.

mod support;

use support::*;

const POSTS: i64 = 5;

fn check_backend(b: &Backend) {
    let dir = temp_dir(&format!("e2e-{}", b.name()));
    let server = TestServer::start();
    let (prog, ov) = write_program(&dir, "p", &program(POSTS, "x"), &server.base);
    let url = b.fresh_url(&dir, "e2e");

    // Live.
    let live = finvm(&["live", &prog, "--journal", &url, "--overrides", &ov]);
    assert_eq!(
        live.code,
        0,
        "{}: live failed:\n{}\n{}",
        b.name(),
        live.stdout,
        live.stderr
    );
    let last = live.last();
    assert_eq!(last["status"], "completed", "{}", live.stdout);
    let result = &last["result"]["record"];
    assert_eq!(
        result["paid"]["list"][2]["string"], "paid:2:2x",
        "{}",
        live.stdout
    );
    assert_eq!(
        result["quotes"],
        serde_json::json!({"list":[{"option":{"string":"quote:2"}},{"option":{"string":"quote:1"}},{"option":{"string":"quote:0"}}]})
    );
    assert_eq!(result["ids"]["list"][0]["string"], "rec0");
    assert_eq!(
        result["rows"]["list"].as_array().unwrap().len(),
        POSTS as usize
    );
    // Rounds: start + one per iteration + log + quotes + query... every line but the last is a round.
    let rounds = live.stdout.lines().count() - 1;
    assert_eq!(last["rounds"], rounds as u64);
    // The three quotes (and the log) were one round: performed concurrently.
    assert!(live.stdout.lines().any(|l| {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        v["pending"]
            .as_array()
            .is_some_and(|p| p.iter().filter(|e| e["type_"] == "http.get").count() == 3)
    }));
    // Every event of every round is in the final document.
    assert_eq!(last["events"].as_array().unwrap().len(), POSTS as usize);
    // Each effect reached the server once.
    for (path, n) in server.counts() {
        assert_eq!(n, 1, "{}: {path} seen {n} times", b.name());
    }
    assert_eq!(server.seen().len(), POSTS as usize + 3);
    assert!(server.seen().iter().all(|s| s
        .idempotency_key
        .as_deref()
        .is_some_and(|k| k.starts_with("finvm-"))));

    // Replay gives identical bytes, and performs nothing.
    let before = server.seen().len();
    let replay = finvm(&["replay", &prog, "--journal", &url, "--overrides", &ov]);
    assert_eq!(
        replay.code,
        0,
        "{}: replay failed:\n{}",
        b.name(),
        replay.stdout
    );
    assert_eq!(
        replay.stdout,
        live.stdout,
        "{}: replay differs from live",
        b.name()
    );
    assert_eq!(server.seen().len(), before);

    // Live again on the complete journal: everything replayed, same output.
    let again = finvm(&["live", &prog, "--journal", &url, "--overrides", &ov]);
    assert_eq!(again.code, 0, "{}", again.stdout);
    assert_eq!(again.stdout, live.stdout);
    assert_eq!(server.seen().len(), before);

    // The reference-format journal.
    let show = finvm(&["journal", "show", &url]);
    assert_eq!(show.code, 0, "{}", show.stderr);
    let entries: serde_json::Value = serde_json::from_str(&show.stdout).unwrap();
    let entries = entries.as_array().unwrap();
    assert_eq!(entries.len() as u64, last["effects"].as_u64().unwrap());
    let keys: Vec<&str> = entries[0]
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(keys, ["kind", "pid", "key", "type_", "payload", "result"]);
    assert_eq!(entries[0]["type_"], "http.post");
    assert_eq!(
        entries[0]["result"],
        serde_json::json!({"string": "paid:0:0x"})
    );

    // Replay with the server stopped.
    server.stop();
    let offline = finvm(&["replay", &prog, "--journal", &url, "--overrides", &ov]);
    assert_eq!(offline.code, 0, "{}", offline.stdout);
    assert_eq!(offline.stdout, live.stdout);

    // A changed program: the body of payment 2 differs → entry 4 (two effects per iteration).
    let (prog2, _) = write_program(&dir, "p2", &program(POSTS, "y"), "unused");
    let changed = finvm(&["replay", &prog2, "--journal", &url, "--overrides", &ov]);
    assert_eq!(changed.code, 2, "{}", changed.stdout);
    let err = changed.last()["error"].as_str().unwrap().to_string();
    assert!(
        err.starts_with("journal mismatch at 0: expected await_reply/main/http.post/k0, journal has await_reply/main/http.post/k0 (payload differs: expected "),
        "{}: {err}",
        b.name()
    );
    assert!(
        err.contains(r#""body":{"string":"0y"}"#) && err.contains(r#""body":{"string":"0x"}"#),
        "{err}"
    );
    // Fewer payments: the journal has a different effect at entry 6.
    let (prog3, _) = write_program(&dir, "p3", &program(POSTS - 2, "x"), "unused");
    let shorter = finvm(&["replay", &prog3, "--journal", &url, "--overrides", &ov]);
    assert_eq!(shorter.code, 2);
    let err = shorter.last()["error"].as_str().unwrap().to_string();
    assert!(
        err.starts_with("journal mismatch at 6: expected transport/main/sys.log/null, journal has await_reply/main/http.post/k3"),
        "{err}"
    );
    // More payments: the journal is exhausted... no: entry 10 is then the log.
    let (prog4, _) = write_program(&dir, "p4", &program(POSTS + 1, "x"), "unused");
    let longer = finvm(&["replay", &prog4, "--journal", &url, "--overrides", &ov]);
    assert_eq!(longer.code, 2);
    let err = longer.last()["error"].as_str().unwrap().to_string();
    assert!(
        err.starts_with("journal mismatch at 10: expected await_reply/main/http.post/k5, journal has transport/main/sys.log/null"),
        "{err}"
    );
    // The live host refuses a changed program too, before performing anything.
    let live2 = finvm(&["live", &prog2, "--journal", &url, "--overrides", &ov]);
    assert_eq!(live2.code, 2, "{}", live2.stdout);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn e2e_file_journal() {
    check_backend(&Backend::File);
}

#[test]
fn e2e_sqlite_journal() {
    check_backend(&Backend::Sqlite);
}

#[test]
fn e2e_postgres_journal() {
    match pg_url() {
        Some(u) => check_backend(&Backend::Postgres(u)),
        None => eprintln!("NOTICE: FINVM_TEST_PG_URL is not set: e2e_postgres_journal SKIPPED"),
    }
}
