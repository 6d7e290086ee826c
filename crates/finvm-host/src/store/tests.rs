//! Tests of the store: operations, the query language, indexes, SQLite
//! persistence, bundles (known-answer vectors, round trips, errors) and
//! byte-compatibility with a JavaScript FinVMDatabase under Node.

use super::convert::js_to_value;
use super::*;
use crate::convert::value_to_js;
use finvm::Str;
use finvm_secure::dbv2::seal_v2_with;
use finvm_secure::{Dek, Envelope, Target};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

/// A VM value from plain JSON (objects become records, integers Ints,
/// `{"fixed":{"value","scale"}}` a Fixed), as the driver's `jsToValue`.
fn p(json: &str) -> Value {
    js_to_value(&serde_json::from_str(json).expect("test JSON"))
}

/// A value as plain JSON text (records with sorted keys).
fn show(v: &Value) -> String {
    value_to_js(v).to_string()
}

fn call(s: &mut Store, ty: &str, payload: &str) -> Value {
    s.handle(ty, &p(payload))
        .unwrap_or_else(|e| panic!("{ty} {payload}: {e}"))
}

fn call_err(s: &mut Store, ty: &str, payload: &str) -> String {
    match s.handle(ty, &p(payload)) {
        Ok(v) => panic!("{ty} {payload}: expected an error, got {}", show(&v)),
        Err(e) => e,
    }
}

fn insert(s: &mut Store, table: &str, record: &str) -> String {
    let id = call(
        s,
        "db.insert",
        &format!(r#"{{"key":"k","table":"{table}","record":{record}}}"#),
    );
    id.as_str().expect("an id string").to_string()
}

/// A fresh directory under the system temporary directory.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "finvm-store-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn bytes_0_to(n: u8) -> Vec<u8> {
    (0..n).collect()
}

const KAT_V2: &str = concat!(
    r#"{"v":2,"salt":[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15],"iv":[0,1,2,3,4,5,6,7,8,9,10,11],"#,
    r#""data":[255,45,70,42,253,23,137,81,81,125,131,115,41,39,74,123,226,59,239,130,67,189,220,23,"#,
    r#"11,27,199,114,196,147,251,218,216,248,30,171,47,85,160,211,194,67]}"#
);

const KAT_FENC: &str = concat!(
    r#"{"fenc":1,"target":"db","cipher":"aes-256-gcm","iv":"AAECAwQFBgcICQoL","#,
    r#""aad":"finvm:db","ct":"PCClfrSQp3XuJLWxgcVaGeK061GDWWUnZRqasL1U7YlAOoSF2dXRvCit"}"#
);

fn kat_dek() -> Dek {
    Dek::from_bytes(std::array::from_fn(|i| i as u8))
}

// ---------------------------------------------------------------- operations

#[test]
fn store_is_send() {
    fn assert_send<T: Send>() {}
    assert_send::<Store>();
}

#[test]
fn ids_timestamps_and_the_shared_sequence() {
    let mut s = Store::open_memory().unwrap();
    assert_eq!(insert(&mut s, "a", r#"{"v":1}"#), "rec0");
    let upd = call(
        &mut s,
        "db.update",
        r#"{"key":"k","table":"a","id":"rec0","record":{"v":2}}"#,
    );
    assert_eq!(upd, Value::Bool(true));
    // One sequence for the whole store, consumed by update too (DATABASE.md §4.3).
    assert_eq!(insert(&mut s, "b", r#"{"w":1}"#), "rec2");
    assert_eq!(
        show(&call(
            &mut s,
            "db.get",
            r#"{"key":"k","table":"a","id":"rec0"}"#
        )),
        r#"{"content":{"v":2},"id":"rec0","timestamp":0,"updatedAt":1}"#
    );
    assert_eq!(
        show(&call(
            &mut s,
            "db.get",
            r#"{"key":"k","table":"b","id":"rec2"}"#
        )),
        r#"{"content":{"w":1},"id":"rec2","timestamp":2}"#
    );
    for missing in [
        r#"{"key":"k","table":"a","id":"rec9"}"#,
        r#"{"key":"k","table":"nope","id":"rec0"}"#,
    ] {
        assert_eq!(call(&mut s, "db.get", missing), Value::Unit);
        assert_eq!(call(&mut s, "db.delete", missing), Value::Bool(false));
        let upd = missing.replace('}', r#","record":1}"#);
        assert_eq!(call(&mut s, "db.update", &upd), Value::Bool(false));
    }
    assert_eq!(
        call(
            &mut s,
            "db.delete",
            r#"{"key":"k","table":"a","id":"rec0"}"#
        ),
        Value::Bool(true)
    );
    assert_eq!(
        call(&mut s, "db.get", r#"{"key":"k","table":"a","id":"rec0"}"#),
        Value::Unit
    );
    // Failed updates consumed nothing; deletes never do.
    assert_eq!(insert(&mut s, "a", "null"), "rec3");
    assert_eq!(
        s.export_plaintext().unwrap(),
        concat!(
            r#"{"sequence":4,"tables":[["a",[["rec3",{"id":"rec3","timestamp":3,"content":null}]]],"#,
            r#"["b",[["rec2",{"id":"rec2","timestamp":2,"content":{"w":1}}]]]]}"#
        )
    );
}

#[test]
fn values_round_trip_through_the_store() {
    let mut s = Store::open_memory().unwrap();
    let value = finvm::value::json::decode_value(
        &serde_json::from_str(concat!(
            r#"{"record":{"amount":{"fixed":{"value":"-12345","scale":2}},"#,
            r#""ratio":{"rational":{"numerator":"1","denominator":"3"}},"#,
            r#""big":{"int":"123456789012345678901234567890"},"#,
            r#""tags":{"list":[{"string":"é\u0001"},{"bool":false},null]},"#,
            r#""kind":{"variant":{"tag":"Card","payload":{"int":"4"}}}}}"#
        ))
        .unwrap(),
    )
    .unwrap();
    let mut payload = Record::new();
    payload.insert(Str::new("key"), Value::str("k"));
    payload.insert(Str::new("table"), Value::str("t"));
    payload.insert(Str::new("record"), value.clone());
    let id = s.handle("db.insert", &Value::record(payload)).unwrap();
    let got = call(
        &mut s,
        "db.get",
        &format!(r#"{{"key":"k","table":"t","id":{}}}"#, show(&id)),
    );
    assert_eq!(got.as_record().unwrap().get("content"), Some(&value));
    // A big Int is stored as an exact JSON number; the table still hashes.
    assert!(s
        .export_plaintext()
        .unwrap()
        .contains(r#""big":123456789012345678901234567890"#));
    assert_eq!(s.hash_table("t").unwrap().len(), 64);
}

#[test]
fn memory_flavor_answers_like_memory_storage() {
    let mut s = Store::open_memory().unwrap();
    s.set_flavor(Flavor::Memory);
    assert_eq!(s.flavor(), Flavor::Memory);
    assert_eq!(insert(&mut s, "a", r#"{"v":1}"#), "rec0");
    call(
        &mut s,
        "db.update",
        r#"{"key":"k","table":"a","id":"rec0","record":{"v":2}}"#,
    );
    assert_eq!(insert(&mut s, "a", r#"{"v":3}"#), "rec1");
    assert_eq!(
        show(&call(
            &mut s,
            "db.get",
            r#"{"key":"k","table":"a","id":"rec0"}"#
        )),
        r#"{"v":2}"#
    );
    assert_eq!(
        show(&call(&mut s, "db.query", r#"{"key":"k","table":"a"}"#)),
        r#"[{"v":2},{"v":3}]"#
    );
}

#[test]
fn cache_effects() {
    let mut s = Store::open_memory().unwrap();
    let get = r#"{"key":"k","ns":"session","cacheKey":"user"}"#;
    assert_eq!(call(&mut s, "cache.get", get), Value::Unit);
    assert_eq!(
        call(
            &mut s,
            "cache.set",
            r#"{"key":"k","ns":"session","cacheKey":"user","value":{"fixed":{"value":"150","scale":2}}}"#
        ),
        Value::Bool(true)
    );
    assert_eq!(
        finvm::value::json::value_to_json(&call(&mut s, "cache.get", get)),
        r#"{"fixed":{"value":"150","scale":2}}"#
    );
    // `key2` is an alias of `cacheKey` and wins over it.
    assert_eq!(
        call(
            &mut s,
            "cache.set",
            r#"{"key":"k","ns":"session","key2":"user","cacheKey":"other","value":0}"#
        ),
        Value::Bool(true)
    );
    // A stored falsy value reads back (memoryStorage, not FinVMCache's `|| null`).
    assert_eq!(call(&mut s, "cache.get", get), Value::int(0));
    assert_eq!(call(&mut s, "cache.delete", get), Value::Bool(true));
    assert_eq!(call(&mut s, "cache.delete", get), Value::Bool(false));
    call(
        &mut s,
        "cache.set",
        r#"{"key":"k","ns":"session","cacheKey":"a","value":1}"#,
    );
    assert_eq!(
        call(&mut s, "cache.clear", r#"{"key":"k","ns":"session"}"#),
        Value::Bool(true)
    );
    assert_eq!(
        call(
            &mut s,
            "cache.get",
            r#"{"key":"k","ns":"session","cacheKey":"a"}"#
        ),
        Value::Unit
    );
    // The cache is not part of a bundle.
    assert_eq!(
        s.export_plaintext().unwrap(),
        r#"{"sequence":0,"tables":[]}"#
    );
}

#[test]
fn malformed_payloads_and_unknown_effects_are_clean_errors() {
    let mut s = Store::open_memory().unwrap();
    assert!(call_err(&mut s, "db.insert", r#"{"key":"k","record":1}"#)
        .starts_with("TypeMismatch: db.insert payload field table must be a String"));
    assert!(
        call_err(&mut s, "db.get", r#"{"key":"k","table":"t","id":3}"#)
            .starts_with("TypeMismatch: db.get payload field id must be a String")
    );
    assert!(call_err(&mut s, "cache.get", r#"{"key":"k","ns":"n"}"#).contains("cacheKey"));
    assert!(s
        .handle("db.get", &Value::int(1))
        .unwrap_err()
        .contains("must be a record"));
    assert!(call_err(&mut s, "http.get", r#"{"key":"k"}"#).starts_with("UnknownEffect:"));
    assert!(Store::handles("db.query") && Store::handles("cache.clear"));
    assert!(!Store::handles("http.get"));
}

#[test]
fn db_commit() {
    let mut s = Store::open_memory().unwrap();
    insert(&mut s, "t", r#"{"v":1}"#);
    assert_eq!(
        call_err(&mut s, "db.commit", r#"{"key":"k"}"#),
        "db.commit requires persistent storage with commit()"
    );
    s.set_commit_key(Some(BundleKey::Dek(kat_dek())));
    let Value::Str(blob) = call(&mut s, "db.commit", r#"{"key":"k"}"#) else {
        panic!("db.commit gives a string");
    };
    assert!(blob.starts_with(r#"{"fenc":1,"target":"db","cipher":"aes-256-gcm","iv":""#));
    let back = Store::import_bundle_dek(blob.as_bytes(), &kat_dek()).unwrap();
    assert_eq!(
        back.export_plaintext().unwrap(),
        s.export_plaintext().unwrap()
    );

    let dir = TempDir::new();
    let mut f = Store::open_sqlite(&dir.path("db.sqlite")).unwrap();
    assert_eq!(
        call(&mut f, "db.commit", r#"{"key":"k"}"#),
        Value::Bool(true)
    );
}

#[test]
fn host_table_hash_vectors() {
    // DATABASE.md §4.6.
    let mut s = Store::open_memory().unwrap();
    insert(&mut s, "t", r#"{"v":1}"#);
    assert_eq!(
        s.hash_table("t").unwrap(),
        "8abd84d5fc00e8276dfaaa2051d4fbe8b4c58c744db0d5107114c96848af067e"
    );
    let mut s = Store::open_memory().unwrap();
    insert(&mut s, "accounts", r#"{"owner":"alice","balance":100}"#);
    insert(&mut s, "accounts", r#"{"owner":"bob","balance":50}"#);
    assert_eq!(
        show(&call(
            &mut s,
            "db.hash",
            r#"{"key":"k","table":"accounts"}"#
        )),
        r#""b196f82bd07f03902e6266d344bca6e368d2486b85d8d6b5f6d31faa50f65bb3""#
    );
    let mut s = Store::open_memory().unwrap();
    insert(&mut s, "accounts", r#"{"owner":"alice","balance":42}"#);
    assert_eq!(
        s.hash_table("accounts").unwrap(),
        "468f286b1ac8088f04cf9b4effd5555473dceaab9f91382d3d5716b674d3665a"
    );
    for content in [r#"{"a":1,"b":2,"c":3}"#, r#"{"c":3,"b":2,"a":1}"#] {
        let mut s = Store::open_memory().unwrap();
        s.load_plaintext(&format!(
            r#"{{"sequence":1,"tables":[["t",[["rec0",{{"id":"rec0","timestamp":0,"content":{content}}}]]]]}}"#
        ))
        .unwrap();
        assert_eq!(
            s.hash_table("t").unwrap(),
            "f7fc80a72eb97e1bf004ca3e95da92cea65cec47d1ac4d02d263b9bdbb0f0061"
        );
    }
    // A missing table hashes as "0"; an emptied one as the text `[]`; a
    // createIndex alone creates no table.
    call(
        &mut s,
        "db.createIndex",
        r#"{"key":"k","table":"idx","field":"f"}"#,
    );
    assert_eq!(s.hash_table("idx").unwrap(), "0");
    call(
        &mut s,
        "db.delete",
        r#"{"key":"k","table":"accounts","id":"rec0"}"#,
    );
    assert_eq!(
        s.hash_table("accounts").unwrap(),
        "4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"
    );
}

// ---------------------------------------------------------------- query language

fn users() -> Store {
    let mut s = Store::open_memory().unwrap();
    for r in [
        r#"{"name":"Alice","age":30,"role":"admin","tags":["a","b"],"addr":{"city":"X"}}"#,
        r#"{"name":"Bob","age":25,"role":"user","tags":["b"]}"#,
        r#"{"name":"Charlie","age":35,"role":"user","score":{"fixed":{"value":"3050","scale":2}}}"#,
        r#"{"name":"Dave","role":"admin","age":null}"#,
        r#"{"name":"Eve","role":"user","score":30}"#,
        "7",
        r#"{"tag":"V","payload":1}"#,
    ] {
        insert(&mut s, "users", r);
    }
    s
}

/// The names (or whole contents, for rows without one) a query returns.
fn names(s: &mut Store, query: &str, options: &str) -> String {
    let out = call(
        s,
        "db.query",
        &format!(r#"{{"key":"k","table":"users","query":{query},"options":{options}}}"#),
    );
    let Value::List(rows) = out else {
        panic!("db.query gives a list")
    };
    rows.items()
        .iter()
        .map(|r| {
            let content = r.as_record().unwrap().get("content").unwrap();
            match content.as_record().and_then(|c| c.get("name")) {
                Some(Value::Str(n)) => n.to_string(),
                _ => show(content),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[test]
fn query_operators() {
    let mut s = users();
    let cases = [
        (
            "{}",
            r#"Alice,Bob,Charlie,Dave,Eve,7,{"tag":"V","payload":1}"#,
        ),
        (r#"{"role":"admin"}"#, "Alice,Dave"),
        (r#"{"role":{"$eq":"admin"}}"#, "Alice,Dave"),
        (r#"{"role":{"$ne":"admin"}}"#, "Bob,Charlie,Eve"),
        (r#"{"age":{"$gt":25}}"#, "Alice,Charlie"),
        (r#"{"age":{"$gte":25,"$lt":35}}"#, "Alice,Bob"),
        (r#"{"age":{"$lte":30}}"#, "Alice,Bob,Dave"),
        (r#"{"age":{"$ne":30}}"#, "Bob,Charlie,Dave,Eve"),
        (r#"{"role":{"$in":["user","guest"]}}"#, "Bob,Charlie,Eve"),
        (r#"{"role":{"$nin":["user"]}}"#, "Alice,Dave"),
        (r#"{"age":{"$exists":false}}"#, "Eve"),
        (r#"{"age":{"$exists":true}}"#, "Alice,Bob,Charlie,Dave"),
        (r#"{"age":null}"#, "Dave"),
        // Structural equality on lists and records (the reference's `===`
        // never matches them, and an operator-less object matched everything).
        (r#"{"tags":["a","b"]}"#, "Alice"),
        (r#"{"addr":{"city":"X"}}"#, "Alice"),
        (r#"{"addr":{}}"#, ""),
        // Numbers compare by value across Int and Fixed.
        (r#"{"score":{"$gt":30}}"#, "Charlie"),
        (r#"{"score":{"$gte":30}}"#, "Charlie,Eve"),
        (r#"{"score":30}"#, "Eve"),
        // Several conditions all hold; a field name is literal.
        (r#"{"role":"user","age":{"$lt":30}}"#, "Bob"),
        (r#"{"addr.city":"X"}"#, ""),
        (
            r#"{"__proto__":{"$exists":false},"role":"admin"}"#,
            "Alice,Dave",
        ),
    ];
    for (q, want) in cases {
        assert_eq!(names(&mut s, q, "{}"), want, "query {q}");
    }
    // The same answers through indexes (`null` included).
    for f in ["age", "role", "tags", "addr", "score", "__proto__"] {
        call(
            &mut s,
            "db.createIndex",
            &format!(r#"{{"key":"k","table":"users","field":"{f}"}}"#),
        );
    }
    for (q, want) in cases {
        assert_eq!(names(&mut s, q, "{}"), want, "indexed query {q}");
    }
    // Queries on a missing table give nothing.
    assert_eq!(
        show(&call(
            &mut s,
            "db.query",
            r#"{"key":"k","table":"none","query":{"a":1}}"#
        )),
        "[]"
    );
    // Results are whole records, as db.get gives them.
    assert_eq!(
        show(&call(
            &mut s,
            "db.query",
            r#"{"key":"k","table":"users","query":{"name":"Bob"}}"#
        )),
        r#"[{"content":{"age":25,"name":"Bob","role":"user","tags":["b"]},"id":"rec1","timestamp":1}]"#
    );
}

#[test]
fn query_options() {
    let mut s = users();
    let q = r#"{"role":{"$exists":true}}"#;
    let cases = [
        (
            r#"{"sort":{"field":"age","order":"ASC"}}"#,
            "Eve,Dave,Bob,Alice,Charlie",
        ),
        (r#"{"sort":{"field":"age"}}"#, "Eve,Dave,Bob,Alice,Charlie"),
        (
            r#"{"sort":{"field":"age","order":"DESC"}}"#,
            "Eve,Charlie,Alice,Bob,Dave",
        ),
        (
            r#"{"sort":{"field":"role","order":"ASC"}}"#,
            "Alice,Dave,Bob,Charlie,Eve",
        ),
        (
            r#"{"sort":{"field":"age","order":"ASC"},"skip":1,"limit":2}"#,
            "Dave,Bob",
        ),
        (r#"{"limit":2}"#, "Alice,Bob"),
        (r#"{"skip":4}"#, "Eve"),
        (r#"{"skip":9}"#, ""),
        (r#"{"limit":0}"#, ""),
        (r#"{"other":1}"#, "Alice,Bob,Charlie,Dave,Eve"),
        ("null", "Alice,Bob,Charlie,Dave,Eve"),
    ];
    for (o, want) in cases {
        assert_eq!(names(&mut s, q, o), want, "options {o}");
    }
    // Rows that are not records sort with the rows lacking the field.
    assert_eq!(
        names(&mut s, "{}", r#"{"sort":{"field":"age","order":"DESC"}}"#),
        r#"Eve,7,{"tag":"V","payload":1},Charlie,Alice,Bob,Dave"#
    );
}

#[test]
fn malformed_queries_are_errors() {
    let mut s = users();
    let cases = [
        (
            r#"{"age":{"$foo":1}}"#,
            "{}",
            "InvalidInstruction: db.query/v1 unknown query operator $foo (field age)",
        ),
        (
            r#"{"$or":[]}"#,
            "{}",
            "InvalidInstruction: db.query/v1 unknown query operator $or",
        ),
        (
            r#"{"age":{"$gt":1,"x":2}}"#,
            "{}",
            "TypeMismatch: db.query/v1",
        ),
        (
            r#"{"role":{"$in":"user"}}"#,
            "{}",
            "TypeMismatch: db.query/v1",
        ),
        (
            r#"{"age":{"$exists":1}}"#,
            "{}",
            "TypeMismatch: db.query/v1",
        ),
        (
            "{}",
            r#"{"sort":{"field":"age","order":"asc"}}"#,
            "TypeMismatch: db.query/v1",
        ),
        ("{}", r#"{"sort":"age"}"#, "TypeMismatch: db.query/v1"),
        ("{}", r#"{"limit":-1}"#, "TypeMismatch: db.query/v1"),
        ("{}", r#"{"skip":"1"}"#, "TypeMismatch: db.query/v1"),
        ("[]", "{}", "TypeMismatch: db.query/v1"),
    ];
    for table in ["users", "none"] {
        for (q, o, want) in cases {
            let e = call_err(
                &mut s,
                "db.query",
                &format!(r#"{{"key":"k","table":"{table}","query":{q},"options":{o}}}"#),
            );
            assert!(e.starts_with(want), "{table} {q} {o}: {e}");
        }
    }
}

// ---------------------------------------------------------------- indexes

/// A deterministic pseudo-random sequence.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

fn random_row(r: &mut Lcg) -> String {
    let mut fields = Vec::new();
    if r.next(10) > 0 {
        fields.push(format!(r#""a":{}"#, r.next(5)));
    }
    match r.next(4) {
        0 => {}
        1 => fields.push(r#""b":"x""#.into()),
        2 => fields.push(r#""b":"y""#.into()),
        _ => fields.push(format!(r#""b":["z",{}]"#, r.next(2))),
    }
    if r.next(3) == 0 {
        fields.push(format!(
            r#""c":{{"fixed":{{"value":"{}","scale":1}}}}"#,
            r.next(30)
        ));
    } else {
        fields.push(format!(r#""c":{}"#, r.next(4)));
    }
    if r.next(20) == 0 {
        return "\"scalar\"".into();
    }
    format!("{{{}}}", fields.join(","))
}

/// Builds the same table in two stores, one indexed on `a`, `b` and `c`
/// (`a` before the rows exist, the others after), with updates and deletes.
fn twin_stores() -> (Store, Store) {
    let mut plain = Store::open_memory().unwrap();
    let mut indexed = Store::open_memory().unwrap();
    call(
        &mut indexed,
        "db.createIndex",
        r#"{"key":"k","table":"t","field":"a"}"#,
    );
    let mut r = Lcg(7);
    for i in 0..240 {
        let row = random_row(&mut r);
        let id = insert(&mut plain, "t", &row);
        assert_eq!(insert(&mut indexed, "t", &row), id);
        if i == 120 {
            for f in ["b", "c", "a"] {
                call(
                    &mut indexed,
                    "db.createIndex",
                    &format!(r#"{{"key":"k","table":"t","field":"{f}"}}"#),
                );
            }
        }
        if r.next(6) == 0 {
            let victim = format!("rec{}", r.next(i + 1));
            let (ty, extra) = if r.next(2) == 0 {
                ("db.delete", String::new())
            } else {
                ("db.update", format!(r#","record":{}"#, random_row(&mut r)))
            };
            let payload = format!(r#"{{"key":"k","table":"t","id":"{victim}"{extra}}}"#);
            assert_eq!(
                call(&mut plain, ty, &payload),
                call(&mut indexed, ty, &payload)
            );
        }
    }
    (plain, indexed)
}

#[test]
fn indexes_give_identical_results() {
    let (mut plain, mut indexed) = twin_stores();
    let conds_a = [
        "",
        r#""a":1"#,
        r#""a":{"$eq":3}"#,
        r#""a":{"$in":[0,4,9]}"#,
        r#""a":{"$ne":2}"#,
        r#""a":{"$gt":2}"#,
        r#""a":{"$exists":false}"#,
        r#""a":{"$eq":1,"$in":[1,2]}"#,
    ];
    let conds_b = [
        "",
        r#""b":"x""#,
        r#""b":["z",1]"#,
        r#""b":{"$in":["y",["z",0]]}"#,
        r#""b":{"$nin":["x"]}"#,
    ];
    let conds_c = [
        "",
        r#""c":2"#,
        r#""c":{"fixed":{"value":"12","scale":1}}"#,
        r#""c":{"$gte":{"fixed":{"value":"20","scale":1}}}"#,
        r#""c":{"$in":[1,{"fixed":{"value":"5","scale":1}}]}"#,
    ];
    let options = [
        "{}",
        r#"{"sort":{"field":"c","order":"DESC"},"limit":7}"#,
        r#"{"sort":{"field":"a"},"skip":3}"#,
    ];
    let mut checked = 0;
    let mut nonempty = 0;
    for a in conds_a {
        for b in conds_b {
            for c in conds_c {
                let q = [a, b, c]
                    .into_iter()
                    .filter(|x| !x.is_empty())
                    .collect::<Vec<_>>()
                    .join(",");
                for o in options {
                    let payload =
                        format!(r#"{{"key":"k","table":"t","query":{{{q}}},"options":{o}}}"#);
                    let want = call(&mut plain, "db.query", &payload);
                    let got = call(&mut indexed, "db.query", &payload);
                    assert_eq!(show(&got), show(&want), "query {{{q}}} options {o}");
                    checked += 1;
                    if matches!(&want, Value::List(l) if !l.is_empty()) {
                        nonempty += 1;
                    }
                }
            }
        }
    }
    assert_eq!(checked, 600);
    assert!(nonempty > 200, "only {nonempty} queries matched anything");
    assert_eq!(
        plain.export_plaintext().unwrap(),
        indexed.export_plaintext().unwrap()
    );
}

#[test]
fn an_index_narrows_the_rows_examined() {
    let (_, indexed) = twin_stores();
    let tx = indexed.conn.unchecked_transaction().unwrap();
    let ids = candidates(&tx, "t", &p(r#"{"a":1,"b":"x"}"#))
        .unwrap()
        .expect("the index applies");
    let total: i64 = tx
        .query_row("SELECT COUNT(*) FROM finvm_rows", [], |r| r.get(0))
        .unwrap();
    assert!(!ids.is_empty() && (ids.len() as i64) < total / 4);
    for id in &ids {
        let rec = row_record(&tx, "t", id).unwrap().unwrap();
        assert_eq!(rec["content"]["a"], serde_json::json!(1));
        assert_eq!(rec["content"]["b"], serde_json::json!("x"));
    }
    // Range conditions and unindexed fields use no index.
    assert!(candidates(&tx, "t", &p(r#"{"a":{"$gt":1}}"#))
        .unwrap()
        .is_none());
    assert!(candidates(&tx, "t", &p(r#"{"d":1}"#)).unwrap().is_none());
}

// ---------------------------------------------------------------- persistence

#[test]
fn a_sqlite_store_survives_reopening() {
    let dir = TempDir::new();
    let path = dir.path("store.sqlite");
    let (plaintext, hash) = {
        let mut s = Store::open_sqlite(&path).unwrap();
        insert(&mut s, "users", r#"{"name":"Alice","age":30}"#);
        insert(&mut s, "users", r#"{"name":"Bob","age":25}"#);
        call(
            &mut s,
            "db.update",
            r#"{"key":"k","table":"users","id":"rec0","record":{"name":"Alice","age":31}}"#,
        );
        call(
            &mut s,
            "db.createIndex",
            r#"{"key":"k","table":"users","field":"name"}"#,
        );
        call(
            &mut s,
            "cache.set",
            r#"{"key":"k","ns":"n","cacheKey":"c","value":[1,2]}"#,
        );
        (
            s.export_plaintext().unwrap(),
            s.hash_table("users").unwrap(),
        )
    };
    let mut s = Store::open_sqlite(&path).unwrap();
    assert_eq!(s.export_plaintext().unwrap(), plaintext);
    assert_eq!(s.hash_table("users").unwrap(), hash);
    assert_eq!(
        show(&call(
            &mut s,
            "db.query",
            r#"{"key":"k","table":"users","query":{"name":"Alice"}}"#
        )),
        r#"[{"content":{"age":31,"name":"Alice"},"id":"rec0","timestamp":0,"updatedAt":2}]"#
    );
    assert_eq!(
        show(&call(
            &mut s,
            "cache.get",
            r#"{"key":"k","ns":"n","cacheKey":"c"}"#
        )),
        "[1,2]"
    );
    // The sequence continues where it was.
    assert_eq!(insert(&mut s, "users", "1"), "rec3");
    drop(s);
    // The index definition persisted: the new row is indexed too.
    let s = Store::open_sqlite(&path).unwrap();
    let tx = s.conn.unchecked_transaction().unwrap();
    assert_eq!(
        index_fields(&tx, "users").unwrap(),
        vec!["name".to_string()]
    );
}

#[test]
fn handle_once_performs_an_effect_once() {
    let dir = TempDir::new();
    let path = dir.path("once.sqlite");
    let payload = p(r#"{"key":"k1","table":"t","record":{"v":1}}"#);
    {
        let mut s = Store::open_sqlite(&path).unwrap();
        assert_eq!(
            s.handle_once("0:main:k1", "db.insert", &payload).unwrap(),
            Value::str("rec0")
        );
    }
    let mut s = Store::open_sqlite(&path).unwrap();
    // A retry after a restart returns the recorded result, inserting nothing.
    assert_eq!(
        s.handle_once("0:main:k1", "db.insert", &payload).unwrap(),
        Value::str("rec0")
    );
    assert_eq!(
        s.handle_once("1:main:k2", "db.insert", &payload).unwrap(),
        Value::str("rec1")
    );
    assert_eq!(
        s.export_plaintext().unwrap(),
        concat!(
            r#"{"sequence":2,"tables":[["t",[["rec0",{"id":"rec0","timestamp":0,"content":{"v":1}}],"#,
            r#"["rec1",{"id":"rec1","timestamp":1,"content":{"v":1}}]]]]}"#
        )
    );
    // Forgotten results are performed again.
    s.forget_applied(&["1:main:k2", "never"]).unwrap();
    assert_eq!(
        s.handle_once("1:main:k2", "db.insert", &payload).unwrap(),
        Value::str("rec2")
    );
    assert_eq!(
        s.handle_once("0:main:k1", "db.insert", &payload).unwrap(),
        Value::str("rec0")
    );
    // A failed effect records nothing and changes nothing.
    let bad = p(r#"{"key":"k3","table":"t","query":{"$bad":1}}"#);
    assert!(s.handle_once("2:main:k3", "db.query", &bad).is_err());
    assert!(s
        .handle_once(
            "2:main:k3",
            "db.get",
            &p(r#"{"key":"k3","table":"t","id":"rec1"}"#)
        )
        .unwrap()
        .as_record()
        .is_some());
}

// ---------------------------------------------------------------- bundles

#[test]
fn plaintext_serialization_matches_the_reference() {
    // DATABASE.md §4.8 (test/crypto_test.js).
    let mut s = Store::open_memory().unwrap();
    assert_eq!(
        s.export_plaintext().unwrap(),
        r#"{"sequence":0,"tables":[]}"#
    );
    insert(&mut s, "t", r#"{"v":1}"#);
    assert_eq!(
        s.export_plaintext().unwrap(),
        r#"{"sequence":1,"tables":[["t",[["rec0",{"id":"rec0","timestamp":0,"content":{"v":1}}]]]]}"#
    );
    // HOST.md §8.9: a seeded store continues the sequence.
    let mut s = Store::open_memory().unwrap();
    s.load_plaintext(r#"{"sequence":1,"tables":[["seed",[["rec0",{"id":"rec0","timestamp":0,"content":{"seeded":true}}]]]]}"#).unwrap();
    assert_eq!(insert(&mut s, "ledger", r#"{"x":42}"#), "rec1");
}

#[test]
fn v2_known_answer_vector() {
    // DATABASE.md §4.8: passphrase `pw`, salt 0..15, IV 0..11.
    let s = Store::open_memory().unwrap();
    let salt: [u8; 16] = std::array::from_fn(|i| i as u8);
    let iv: [u8; 12] = std::array::from_fn(|i| i as u8);
    let sealed = seal_v2_with("pw", &s.export_plaintext().unwrap(), &salt, iv).unwrap();
    assert_eq!(sealed, KAT_V2);
    let back = Store::import_bundle(KAT_V2.as_bytes(), "pw").unwrap();
    assert_eq!(
        back.export_plaintext().unwrap(),
        r#"{"sequence":0,"tables":[]}"#
    );
    // The salt is adopted: the next export reuses it, with a fresh IV.
    let again = String::from_utf8(back.export_bundle("pw").unwrap()).unwrap();
    assert!(again.starts_with(r#"{"v":2,"salt":[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15],"iv":["#));
    assert_ne!(again, KAT_V2);
    let j: serde_json::Value = serde_json::from_str(&again).unwrap();
    assert_eq!(j["data"].as_array().unwrap().len(), 26 + 16);
}

#[test]
fn fenc_known_answer_vector() {
    // DATABASE.md §4.8 / HOST.md §8.3: DEK 0..31, IV 0..11.
    let s = Store::open_memory().unwrap();
    let env = Envelope::seal_with_iv(
        &kat_dek(),
        Target::Db,
        s.export_plaintext().unwrap().as_bytes(),
        std::array::from_fn(|i| i as u8),
    );
    assert_eq!(env.to_json(), KAT_FENC);
    let back = Store::import_bundle_dek(KAT_FENC.as_bytes(), &kat_dek()).unwrap();
    assert_eq!(
        back.export_plaintext().unwrap(),
        r#"{"sequence":0,"tables":[]}"#
    );
}

fn sample_store() -> Store {
    let mut s = users();
    call(
        &mut s,
        "db.update",
        r#"{"key":"k","table":"users","id":"rec1","record":{"name":"Bobby","note":"zoë ✓ \u2028 \"q\" \\ \n\u0001"}}"#,
    );
    insert(
        &mut s,
        "ledger",
        r#"{"amount":{"fixed":{"value":"-100","scale":2}}}"#,
    );
    call(
        &mut s,
        "db.delete",
        r#"{"key":"k","table":"ledger","id":"rec8"}"#,
    );
    insert(&mut s, "ledger", r#"{"amount":1}"#);
    s
}

#[test]
fn bundles_round_trip() {
    let s = sample_store();
    let plaintext = s.export_plaintext().unwrap();
    let hashes = ["users", "ledger"].map(|t| s.hash_table(t).unwrap());

    let bundle = s.export_bundle("correct horse").unwrap();
    let text = String::from_utf8(bundle.clone()).unwrap();
    assert!(text.starts_with(r#"{"v":2,"salt":["#));
    assert!(!text.contains("Alice"));
    let mut back = Store::import_bundle(&bundle, "correct horse").unwrap();
    assert_eq!(back.export_plaintext().unwrap(), plaintext);
    assert_eq!(
        ["users", "ledger"].map(|t| back.hash_table(t).unwrap()),
        hashes
    );
    // The copy carries on exactly as the original would.
    assert_eq!(insert(&mut back, "users", "1"), "rec10");

    let dek = Dek::generate();
    let sealed = s.export_bundle_dek(&dek).unwrap();
    let back = Store::import_bundle_dek(&sealed, &dek).unwrap();
    assert_eq!(back.export_plaintext().unwrap(), plaintext);

    // Loading into a SQLite store replaces its tables and keeps its indexes.
    let dir = TempDir::new();
    let mut f = Store::open_sqlite(&dir.path("b.sqlite")).unwrap();
    insert(&mut f, "old", "1");
    call(
        &mut f,
        "db.createIndex",
        r#"{"key":"k","table":"users","field":"role"}"#,
    );
    f.load_bundle(&bundle, &BundleKey::passphrase("correct horse"))
        .unwrap();
    assert_eq!(f.export_plaintext().unwrap(), plaintext);
    assert_eq!(f.hash_table("old").unwrap(), "0");
    let q = r#"{"key":"k","table":"users","query":{"role":"admin"}}"#;
    let mut mem = Store::import_bundle(&bundle, "correct horse").unwrap();
    assert_eq!(
        show(&call(&mut f, "db.query", q)),
        show(&call(&mut mem, "db.query", q))
    );
    drop(f);
    let f = Store::open_sqlite(&dir.path("b.sqlite")).unwrap();
    assert_eq!(f.export_plaintext().unwrap(), plaintext);
}

#[test]
fn repeated_exports_share_the_salt_not_the_iv() {
    let s = sample_store();
    let a: serde_json::Value = serde_json::from_slice(&s.export_bundle("pw").unwrap()).unwrap();
    let b: serde_json::Value = serde_json::from_slice(&s.export_bundle("pw").unwrap()).unwrap();
    assert_eq!(a["salt"], b["salt"]);
    assert_eq!(a["salt"].as_array().unwrap().len(), 16);
    assert_eq!(a["iv"].as_array().unwrap().len(), 12);
    assert_ne!(a["iv"], b["iv"]);
    assert_ne!(a["data"], b["data"]);
}

#[test]
fn a_wrong_passphrase_is_a_clean_error() {
    let s = sample_store();
    let bundle = s.export_bundle("right").unwrap();
    let e = Store::import_bundle(&bundle, "wrong").unwrap_err();
    assert!(matches!(e, StoreError::Decryption(_)));
    assert_eq!(
        e.to_string(),
        "DecryptionFailed: DB bundle decryption failed"
    );
    let e = Store::import_bundle(KAT_V2.as_bytes(), "").unwrap_err();
    assert!(e.to_string().starts_with("DecryptionFailed:"));

    // Tampering with the ciphertext, IV or salt is caught the same way.
    let mut j: serde_json::Value = serde_json::from_slice(&bundle).unwrap();
    for field in ["data", "iv", "salt"] {
        let mut t = j.clone();
        let first = t[field][0].as_u64().unwrap();
        t[field][0] = serde_json::json!((first + 1) % 256);
        let e = Store::import_bundle(t.to_string().as_bytes(), "right").unwrap_err();
        assert_eq!(
            e.to_string(),
            "DecryptionFailed: DB bundle decryption failed",
            "{field}"
        );
    }

    // A wrong DEK, a wrong target, the wrong kind of key.
    let dek = Dek::generate();
    let sealed = s.export_bundle_dek(&dek).unwrap();
    let e = Store::import_bundle_dek(&sealed, &Dek::generate()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "DecryptionFailed: Envelope decryption failed (tag/AAD/fingerprint mismatch)"
    );
    let e = Store::import_bundle(&sealed, "right").unwrap_err();
    assert_eq!(
        e.to_string(),
        "DecryptionFailed: DEK required for fenc DB bundle"
    );
    let other = KAT_FENC.replace(r#""target":"db""#, r#""target":"inputs""#);
    let e = Store::import_bundle_dek(other.as_bytes(), &kat_dek()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "DecryptionFailed: DB envelope target mismatch"
    );
    let e = Store::import_bundle_dek(&bundle, &dek).unwrap_err();
    assert_eq!(e.to_string(), "Passphrase required for v2 DB bundle");
    let no_salt = j.as_object_mut().map(|o| {
        o.remove("salt");
        serde_json::Value::Object(o.clone()).to_string()
    });
    let e = Store::import_bundle(no_salt.unwrap().as_bytes(), "right").unwrap_err();
    assert_eq!(
        e.to_string(),
        "Unsupported FinVM DB bundle: missing key-derivation salt"
    );

    // Not a bundle at all; a plaintext bundle is not accepted with a key.
    for junk in ["", "   ", "{", "[1", "\u{0}"] {
        assert!(matches!(
            Store::import_bundle(junk.as_bytes(), "pw").unwrap_err(),
            StoreError::Bundle(_)
        ));
    }
    assert!(Store::import_bundle(&[0xff, 0xfe], "pw").is_err());
    let e = Store::import_bundle(br#"{"x":1}"#, "pw").unwrap_err();
    assert_eq!(
        e.to_string(),
        "DecryptionFailed: Unsupported DB bundle format"
    );
    let plain = s.export_plaintext().unwrap();
    let e = Store::import_bundle(plain.as_bytes(), "pw").unwrap_err();
    assert!(e
        .to_string()
        .starts_with("DecryptionFailed: Unsupported DB bundle format"));

    // A failed load leaves the store as it was.
    let mut t = sample_store();
    let before = t.export_plaintext().unwrap();
    assert!(t
        .load_bundle(&bundle, &BundleKey::passphrase("wrong"))
        .is_err());
    assert_eq!(t.export_plaintext().unwrap(), before);
}

#[test]
fn malformed_and_legacy_plaintexts() {
    let mut s = Store::open_memory().unwrap();
    for bad in [
        "1",
        "{}",
        r#"{"tables":{}}"#,
        r#"{"sequence":-1,"tables":[]}"#,
        r#"{"sequence":1.5,"tables":[]}"#,
        r#"{"sequence":0,"tables":[["t"]]}"#,
        r#"{"sequence":0,"tables":[[1,[]]]}"#,
        r#"{"sequence":0,"tables":[["t",[["rec0",1]]]]}"#,
        r#"{"sequence":0,"tables":[["t",[[0,{}]]]]}"#,
    ] {
        let e = s.load_plaintext(bad).unwrap_err();
        assert!(
            e.to_string().starts_with("Malformed DB bundle"),
            "{bad}: {e}"
        );
    }
    // A legacy bare array, or a missing sequence, continues after the ids
    // and timestamps present instead of overwriting rows.
    s.load_plaintext(r#"[["t",[["rec4",{"id":"rec4","timestamp":4,"content":1,"updatedAt":6}]]]]"#)
        .unwrap();
    assert_eq!(insert(&mut s, "t", "2"), "rec7");
    s.load_plaintext(r#"{"tables":[["t",[["rec2",{"id":"rec2","timestamp":2,"content":1}]]]]}"#)
        .unwrap();
    assert_eq!(insert(&mut s, "t", "2"), "rec3");
    // Repeated table names and ids keep the first position and the last value.
    s.load_plaintext(concat!(
        r#"{"sequence":5,"tables":[["a",[["rec0",{"id":"rec0","timestamp":0,"content":1}],"#,
        r#"["rec1",{"id":"rec1","timestamp":1,"content":2}],["rec0",{"id":"rec0","timestamp":0,"content":3}]]],"#,
        r#"["b",[]],["a",[["rec2",{"id":"rec2","timestamp":2,"content":4}]]]]}"#
    ))
    .unwrap();
    assert_eq!(
        s.export_plaintext().unwrap(),
        r#"{"sequence":5,"tables":[["a",[["rec2",{"id":"rec2","timestamp":2,"content":4}]]],["b",[]]]}"#
    );
}

// ---------------------------------------------------------------- JavaScript interop

/// Runs `node interop/dbbundle.mjs ARGS`, or `None` when Node is missing.
fn node(args: &[&str]) -> Option<std::process::Output> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/dbbundle.mjs");
    let out = std::process::Command::new("node")
        .arg(&script)
        .args(args)
        .output();
    match out {
        Ok(o) => Some(o),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => panic!("running node: {e}"),
    }
}

fn node_ok(args: &[&str]) -> serde_json::Value {
    let out = node(args).expect("node is on PATH");
    assert!(
        out.status.success(),
        "node dbbundle.mjs {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    serde_json::from_str(text.trim()).unwrap_or(serde_json::Value::String(text))
}

fn assert_same_store(s: &Store, plaintext: &serde_json::Value, hashes: &serde_json::Value) {
    assert_eq!(s.export_plaintext().unwrap(), plaintext.as_str().unwrap());
    for (table, hash) in hashes.as_object().unwrap() {
        assert_eq!(
            &s.hash_table(table).unwrap(),
            hash.as_str().unwrap(),
            "{table}"
        );
    }
}

/// Bundles move between this store and a JavaScript FinVMDatabase (Node's
/// Web Crypto) in both directions, with identical plaintexts, ids and table
/// hashes, for both the v2 passphrase bundle and the `db` envelope.
#[test]
fn bundles_are_byte_compatible_with_javascript() {
    if node(&["kat"]).is_none() {
        eprintln!("NOTICE: node is not on PATH; skipping the JavaScript bundle interop test");
        return;
    }
    assert_eq!(node_ok(&["kat"]), serde_json::json!("ok kat\n"));
    let dir = TempDir::new();
    let path = |n: &str| dir.path(n).to_string_lossy().into_owned();
    let dek_hex: String = bytes_0_to(32)
        .iter()
        .map(|b| format!("{:02x}", b.wrapping_mul(7)))
        .collect();
    let dek = Dek::from_slice(
        &bytes_0_to(32)
            .iter()
            .map(|b| b.wrapping_mul(7))
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let keys = [
        (
            "pass phrase ✓".to_string(),
            BundleKey::passphrase("pass phrase ✓"),
        ),
        (format!("dek:{dek_hex}"), BundleKey::Dek(dek)),
    ];
    for (arg, key) in &keys {
        // JavaScript → Rust.
        let made = node_ok(&["make", &path("js.bundle"), arg]);
        let bundle = std::fs::read(path("js.bundle")).unwrap();
        let mut s = Store::open_memory().unwrap();
        s.load_bundle(&bundle, key).unwrap();
        assert_same_store(&s, &made["plaintext"], &made["hashes"]);
        let next = format!("rec{}", made["sequence"]);
        assert_eq!(insert(&mut s, "users", r#"{"name":"next"}"#), next);
        // The lossless readings of what JS stored.
        let charlie = call(
            &mut s,
            "db.get",
            r#"{"key":"k","table":"users","id":"rec4"}"#,
        );
        assert_eq!(
            finvm::value::json::value_to_json(charlie.as_record().unwrap().get("content").unwrap()),
            concat!(
                r#"{"record":{"age":{"int":"35"},"fixed":{"fixed":{"value":"1050","scale":2}},"#,
                r#""name":{"string":"Charlie"},"role":{"string":"user"}}}"#
            )
        );

        // Rust → JavaScript → Rust.
        let s = sample_store();
        let sealed = match key {
            BundleKey::Passphrase(p) => s.export_bundle(p).unwrap(),
            BundleKey::Dek(d) => s.export_bundle_dek(d).unwrap(),
        };
        std::fs::write(path("rs.bundle"), &sealed).unwrap();
        let seen = node_ok(&["cycle", &path("rs.bundle"), &path("js2.bundle"), arg]);
        assert_eq!(
            seen["loaded"],
            serde_json::json!(s.export_plaintext().unwrap())
        );
        assert_same_store(&s, &seen["loaded"], &seen["hashes"]);
        assert_eq!(seen["inserted"], serde_json::json!("rec10"));
        let mut back = Store::open_memory().unwrap();
        back.load_bundle(&std::fs::read(path("js2.bundle")).unwrap(), key)
            .unwrap();
        assert_same_store(&back, &seen["plaintext"], &seen["hashesAfter"]);
        assert_eq!(insert(&mut back, "fromjs", "1"), "rec12");

        // A wrong key fails on both sides.
        let wrong = match key {
            BundleKey::Passphrase(_) => "not it".to_string(),
            BundleKey::Dek(_) => format!("dek:{}", "11".repeat(32)),
        };
        let out = node(&["open", &path("rs.bundle"), &wrong]).unwrap();
        assert!(!out.status.success());
        let wrong_key = match key {
            BundleKey::Passphrase(_) => BundleKey::passphrase("not it"),
            BundleKey::Dek(_) => BundleKey::Dek(Dek::from_bytes([0x11; 32])),
        };
        let e = Store::open_memory()
            .unwrap()
            .load_bundle(&std::fs::read(path("js2.bundle")).unwrap(), &wrong_key)
            .unwrap_err();
        assert!(e.to_string().starts_with("DecryptionFailed:"), "{e}");
    }
}
