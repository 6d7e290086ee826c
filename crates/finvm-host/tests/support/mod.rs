//! Shared pieces of the host tests: a real HTTP server on 127.0.0.1, the
//! test programs, the three journal backends, and the `finvm` binary.

#![allow(dead_code)]

use serde_json::{json, Value as J};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

/// One request the server received.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub body: String,
    pub idempotency_key: Option<String>,
}

#[derive(Default)]
pub struct ServerState {
    /// Every request, in arrival order.
    pub seen: Vec<Seen>,
    /// Dedupe mode: the response recorded per idempotency key.
    pub applied: BTreeMap<String, String>,
    /// Dedupe mode: requests answered from `applied`.
    pub duplicates: u64,
}

/// A tiny_http server on 127.0.0.1 in a thread.
///
/// `POST /pay/<i>` answers `paid:<i>:<body>`; `GET /quote/<x>` answers
/// `quote:<x>` after `x` × 10 ms (so concurrent quotes complete in reverse
/// order); anything else is a 404 with body `nope`. Every request waits
/// `delay` first. In dedupe mode, a request whose `Idempotency-Key` was
/// seen before gets the recorded response and is counted as a duplicate
/// (what payment APIs do).
pub struct TestServer {
    pub base: String,
    pub state: Arc<Mutex<ServerState>>,
    pub dedupe: Arc<AtomicBool>,
    pub delay_ms: Arc<AtomicU64>,
    /// Requests received and not yet answered.
    inflight: Arc<AtomicU64>,
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    pub fn start() -> TestServer {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind 127.0.0.1:0"));
        let port = server.server_addr().to_ip().expect("ip").port();
        let state = Arc::new(Mutex::new(ServerState::default()));
        let dedupe = Arc::new(AtomicBool::new(false));
        let delay_ms = Arc::new(AtomicU64::new(0));
        let inflight = Arc::new(AtomicU64::new(0));
        let inf = inflight.clone();
        let (s, st, dd, dl) = (
            server.clone(),
            state.clone(),
            dedupe.clone(),
            delay_ms.clone(),
        );
        let thread = std::thread::spawn(move || {
            for mut req in s.incoming_requests() {
                let st = st.clone();
                let dd = dd.clone();
                let dl = dl.clone();
                let inf = inf.clone();
                inf.fetch_add(1, Ordering::SeqCst);
                // One thread per request, so slow quotes overlap.
                std::thread::spawn(move || {
                    let mut body = String::new();
                    let _ = req.as_reader().read_to_string(&mut body);
                    let method = req.method().as_str().to_string();
                    let path = req.url().to_string();
                    let key = req
                        .headers()
                        .iter()
                        .find(|h| h.field.equiv("Idempotency-Key"))
                        .map(|h| h.value.as_str().to_string());
                    let seen = Seen {
                        method: method.clone(),
                        path: path.clone(),
                        body: body.clone(),
                        idempotency_key: key.clone(),
                    };
                    let reply = {
                        let mut g = st.lock().unwrap();
                        g.seen.push(seen);
                        match (&key, dd.load(Ordering::SeqCst)) {
                            (Some(k), true) if g.applied.contains_key(k) => {
                                g.duplicates += 1;
                                Some(g.applied[k].clone())
                            }
                            _ => None,
                        }
                    };
                    let delay = dl.load(Ordering::SeqCst);
                    if delay > 0 {
                        std::thread::sleep(Duration::from_millis(delay));
                    }
                    let (status, text) = match reply {
                        Some(r) => (200, r),
                        None => {
                            let r = if let Some(i) = path.strip_prefix("/pay/") {
                                (200, format!("paid:{i}:{body}"))
                            } else if let Some(x) = path.strip_prefix("/quote/") {
                                let n: u64 = x.parse().unwrap_or(0);
                                std::thread::sleep(Duration::from_millis(n * 10));
                                (200, format!("quote:{x}"))
                            } else {
                                (404, "nope".to_string())
                            };
                            if let (Some(k), true) = (&key, dd.load(Ordering::SeqCst)) {
                                st.lock().unwrap().applied.insert(k.clone(), r.1.clone());
                            }
                            r
                        }
                    };
                    let _ = req
                        .respond(tiny_http::Response::from_string(text).with_status_code(status));
                    inf.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        TestServer {
            base: format!("http://127.0.0.1:{port}"),
            state,
            dedupe,
            delay_ms,
            inflight,
            server,
            thread: Some(thread),
        }
    }

    /// Forgets every request, after waiting (up to 10 s) for those still
    /// being answered: a request sent by a process killed in an earlier
    /// round must not land in the next round's state (it once added a
    /// stale key to `applied` after the reset, failing `crash_sqlite_retry`).
    pub fn reset(&self) {
        let t0 = std::time::Instant::now();
        while self.inflight.load(Ordering::SeqCst) > 0 && t0.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(5));
        }
        *self.state.lock().unwrap() = ServerState::default();
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    /// How many requests hit each path.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        let mut m = BTreeMap::new();
        for s in self.seen() {
            *m.entry(format!("{} {}", s.method, s.path)).or_insert(0) += 1;
        }
        m
    }

    pub fn stop(mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.server.unblock();
    }
}

/// The test program: `posts` iterations, each awaiting an `http.post` to
/// `<base>/pay/<i>` (body `<i>` + `tag`), then a `db.insert` of `{n: i}`,
/// appending the replies to lists and emitting a `paid` event; then a
/// `sys.log`; then three `http.get`s of `/quote/2`, `/quote/1`, `/quote/0`
/// in one round (three worker processes; answered in reverse order); then
/// `db.query` of the table. Returns `{paid, ids, quotes, rows}` and stores
/// `paid` in state.
pub fn program(posts: i64, tag: &str) -> String {
    let mut ins: Vec<J> = vec![
        json!(["LOAD_INPUT", 0, "base"]),
        json!(["LOAD_CONST", 1, 0]),
        json!(["LOAD_CONST", 2, 1]),
        json!(["LOAD_CONST", 3, 2]),
        json!(["LIST_NEW", 4]),
        json!(["LOAD_CONST", 5, 3]),
        json!(["LIST_NEW", 14]),
        json!(["LABEL", "loop"]),
        json!(["LT", 6, 1, 3]),
        json!(["JUMP_IF_FALSE", 6, "done"]),
        json!(["CALL_BUILTIN", 7, "str.fromInt@1", [1]]),
        json!(["LOAD_CONST", 8, 4]),
        json!(["CALL_BUILTIN", 8, "str.concat@1", [8, 7]]),
        json!(["LOAD_CONST", 9, 5]),
        json!(["CALL_BUILTIN", 9, "str.concat@1", [0, 9]]),
        json!(["CALL_BUILTIN", 9, "str.concat@1", [9, 7]]),
        json!(["LOAD_CONST", 15, 6]),
        json!(["CALL_BUILTIN", 15, "str.concat@1", [7, 15]]),
        json!(["RECORD_NEW", 10]),
        json!(["RECORD_SET", 10, 10, "key", 8]),
        json!(["RECORD_SET", 10, 10, "url", 9]),
        json!(["RECORD_SET", 10, 10, "body", 15]),
        json!(["EFFECT_NEW", 11, "http.post", 10]),
        json!(["EFFECT_AWAIT", 11]),
        // db.insert {key: "d<i>", table: "payments", record: {n: i}}
        json!(["LOAD_CONST", 16, 7]),
        json!(["CALL_BUILTIN", 16, "str.concat@1", [16, 7]]),
        json!(["RECORD_NEW", 17]),
        json!(["RECORD_SET", 17, 17, "n", 1]),
        json!(["RECORD_NEW", 10]),
        json!(["RECORD_SET", 10, 10, "key", 16]),
        json!(["LOAD_CONST", 18, 8]),
        json!(["RECORD_SET", 10, 10, "table", 18]),
        json!(["RECORD_SET", 10, 10, "record", 17]),
        json!(["EFFECT_NEW", 11, "db.insert", 10]),
        json!(["EFFECT_AWAIT", 11]),
        json!(["PROC_RECEIVE_MATCH", 12, 5]),
        json!(["VARIANT_PAYLOAD", 12, 12]),
        json!(["RECORD_GET", 12, 12, "value"]),
        json!(["LIST_APPEND", 4, 4, 12]),
        json!(["PROC_RECEIVE_MATCH", 12, 5]),
        json!(["VARIANT_PAYLOAD", 12, 12]),
        json!(["RECORD_GET", 12, 12, "value"]),
        json!(["LIST_APPEND", 14, 14, 12]),
        json!(["EVENT_NEW", 13, "paid", 12]),
        json!(["EVENT_EMIT", 13]),
        json!(["ADD", 1, 1, 2]),
        json!(["JUMP", "loop"]),
        json!(["LABEL", "done"]),
        json!(["STATE_SET", "paid", 4]),
        // sys.log (fire and forget)
        json!(["RECORD_NEW", 10]),
        json!(["LOAD_CONST", 18, 9]),
        json!(["RECORD_SET", 10, 10, "message", 18]),
        json!(["EFFECT_NEW", 11, "sys.log", 10]),
        json!(["EFFECT_REQUEST", 11]),
    ];
    // Three concurrent quotes (one round: three worker processes each await
    // an http.get), requested q0 (/quote/2), q1, q2 (/quote/0), so they
    // complete in reverse order; joined in order.
    for k in 0..3 {
        ins.push(json!(["LOAD_CONST", 9, 12 - k]));
        ins.push(json!(["CALL_BUILTIN", 9, "str.concat@1", [0, 9]]));
        ins.push(json!(["LOAD_CONST", 8, 13 + k]));
        ins.push(json!(["PROC_SPAWN", 16 + k, "quote", [8, 9]]));
    }
    ins.push(json!(["LIST_NEW", 19]));
    for k in 0..3 {
        ins.push(json!(["PROC_JOIN", 12, 16 + k]));
        ins.push(json!(["PROC_JOIN_RESULT", 12, 16 + k]));
        ins.push(json!(["LIST_APPEND", 19, 19, 12]));
    }
    // db.query of the table
    ins.extend([
        json!(["RECORD_NEW", 10]),
        json!(["LOAD_CONST", 8, 16]),
        json!(["RECORD_SET", 10, 10, "key", 8]),
        json!(["LOAD_CONST", 18, 8]),
        json!(["RECORD_SET", 10, 10, "table", 18]),
        json!(["EFFECT_NEW", 11, "db.query", 10]),
        json!(["EFFECT_AWAIT", 11]),
        json!(["PROC_RECEIVE_MATCH", 12, 5]),
        json!(["VARIANT_PAYLOAD", 12, 12]),
        json!(["RECORD_GET", 12, 12, "value"]),
        json!(["RECORD_NEW", 20]),
        json!(["RECORD_SET", 20, 20, "paid", 4]),
        json!(["RECORD_SET", 20, 20, "ids", 14]),
        json!(["RECORD_SET", 20, 20, "quotes", 19]),
        json!(["RECORD_SET", 20, 20, "rows", 12]),
        json!(["RETURN", 20]),
    ]);
    let doc = json!({
        "version": "1.0",
        "entrypoint": "main",
        "constants": [
            {"int": "0"}, {"int": "1"}, {"int": posts.to_string()}, {"string": "EffectReply"},
            {"string": "k"}, {"string": "/pay/"}, {"string": tag}, {"string": "d"},
            {"string": "payments"}, {"string": "all paid"},
            {"string": "/quote/0"}, {"string": "/quote/1"}, {"string": "/quote/2"},
            {"string": "q0"}, {"string": "q1"}, {"string": "q2"}, {"string": "rows"}
        ],
        "limits": {"maxSteps": 1000000},
        "functions": {
            "main": {"registerCount": 21, "instructions": ins},
            "quote": {"arity": 2, "registerCount": 6, "instructions": [
                ["RECORD_NEW", 2], ["RECORD_SET", 2, 2, "key", 0], ["RECORD_SET", 2, 2, "url", 1],
                ["EFFECT_NEW", 3, "http.get", 2], ["EFFECT_AWAIT", 3], ["LOAD_CONST", 4, 3],
                ["PROC_RECEIVE_MATCH", 5, 4], ["VARIANT_PAYLOAD", 5, 5], ["RECORD_GET", 5, 5, "value"],
                ["RETURN", 5]
            ]}
        }
    });
    serde_json::to_string(&doc).unwrap()
}

/// The overrides that point a program at a server.
pub fn overrides(base: &str) -> String {
    json!({"input": {"base": {"string": base}}}).to_string()
}

/// A journal backend under test.
#[derive(Clone, Debug)]
pub enum Backend {
    File,
    Sqlite,
    Postgres(String),
}

impl Backend {
    /// The backends to test: file and SQLite always; PostgreSQL when
    /// `FINVM_TEST_PG_URL` is set (else a notice is printed).
    pub fn all() -> Vec<Backend> {
        let mut v = vec![Backend::File, Backend::Sqlite];
        match pg_url() {
            Some(u) => v.push(Backend::Postgres(u)),
            None => eprintln!(
                "NOTICE: FINVM_TEST_PG_URL is not set: the PostgreSQL journal tests are SKIPPED"
            ),
        }
        v
    }

    pub fn name(&self) -> &'static str {
        match self {
            Backend::File => "file",
            Backend::Sqlite => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// A fresh journal URL (a new file, a new SQLite file, or a new run id).
    pub fn fresh_url(&self, dir: &Path, name: &str) -> String {
        match self {
            Backend::File => dir.join(format!("{name}.jsonl")).display().to_string(),
            Backend::Sqlite => format!("sqlite:{}", dir.join(format!("{name}.db")).display()),
            Backend::Postgres(u) => {
                let sep = if u.contains('?') { '&' } else { '?' };
                format!("{u}{sep}run={name}-{}", unique())
            }
        }
    }
}

pub fn pg_url() -> Option<String> {
    std::env::var("FINVM_TEST_PG_URL")
        .ok()
        .filter(|s| !s.is_empty())
}

/// A process-unique, run-unique suffix.
pub fn unique() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{}-{t}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// A fresh temporary directory (removed by the caller if it likes).
pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("finvm-host-{name}-{}", unique()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The `finvm` binary: `$FINVM_BIN`, else the one cargo built next to this
/// test (`cargo test --workspace` builds it), else built now with cargo.
pub fn finvm_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("FINVM_BIN") {
            return PathBuf::from(p);
        }
        let exe = std::env::current_exe().unwrap();
        // target/<profile>/deps/<test> → target/<profile>/finvm
        let profile_dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
        let bin = profile_dir.join(format!("finvm{}", std::env::consts::EXE_SUFFIX));
        if !bin.exists() {
            let release = profile_dir.file_name().is_some_and(|n| n == "release");
            let mut cmd = Command::new(env!("CARGO"));
            cmd.args(["build", "-p", "finvm-cli", "--bin", "finvm"]);
            if release {
                cmd.arg("--release");
            }
            let st = cmd
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status()
                .expect("run cargo build");
            assert!(st.success(), "cargo build of finvm failed");
        }
        eprintln!("using {}", bin.display());
        bin
    })
    .clone()
}

/// The output of one `finvm` invocation.
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// The last stdout line as JSON.
    pub fn last(&self) -> J {
        let line = self.stdout.lines().last().unwrap_or("null");
        serde_json::from_str(line).unwrap_or(J::Null)
    }
}

/// Runs `finvm <args>`.
pub fn finvm(args: &[&str]) -> Out {
    let o = Command::new(finvm_bin())
        .args(args)
        .output()
        .expect("run finvm");
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// Writes a program and its overrides into `dir`; returns their paths.
pub fn write_program(dir: &Path, name: &str, program: &str, base: &str) -> (String, String) {
    let p = dir.join(format!("{name}.json"));
    let o = dir.join(format!("{name}.overrides.json"));
    std::fs::write(&p, program).unwrap();
    std::fs::write(&o, overrides(base)).unwrap();
    (p.display().to_string(), o.display().to_string())
}

/// A small deterministic PRNG (xorshift64*), seeded per test.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}

/// A seed from the environment (`FINVM_TEST_SEED`) or the clock; printed.
pub fn seed(name: &str) -> u64 {
    let s = std::env::var("FINVM_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("{name}: seed {s} (rerun with FINVM_TEST_SEED={s})");
    s
}
