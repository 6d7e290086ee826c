//! The host-side database behind the `db.*` and `cache.*` effects
//! (DATABASE.md §4–5, HOST.md §6.2), SQLite-backed.
//!
//! # Model
//!
//! The store is the JavaScript FinVM's `FinVMDatabase` (DATABASE.md §4.2–4.3)
//! kept in SQLite: named tables of records
//! `{"id":"rec<N>","timestamp":N,"content":…}` (plus `"updatedAt":M` once
//! updated), one id sequence for the whole store that `insert` and `update`
//! both consume, rows in insertion order. Contents are held as the JSON the
//! reference holds (the driver's `valueToJs` of the VM value, see
//! [`convert`]), so its encrypted bundles are byte-compatible in both
//! directions (see [`Store::export_bundle`], [`Store::import_bundle`]).
//!
//! Every effect is one SQLite transaction; a file store runs in WAL mode
//! with `synchronous=FULL`, so an effect's change is durable when
//! [`Store::handle`] returns. [`Store::handle_once`] additionally records the
//! result under an effect id in the same transaction, so a host that
//! crashes after the store committed and retries the effect gets the
//! recorded result instead of a second insert. All store tables are named
//! `finvm_*`, so the store can share a SQLite file with other data.
//!
//! # Effects ([`Store::handle`])
//!
//! `p` is the intent's payload record (it also carries the correlation `key`).
//!
//! | type | payload | result |
//! |---|---|---|
//! | `db.insert` | `table`, `record` | the new id, `"rec<N>"` |
//! | `db.get` | `table`, `id` | the record `{content, id, timestamp, updatedAt?}`, or unit |
//! | `db.update` | `table`, `id`, `record` | `true` if the row existed |
//! | `db.delete` | `table`, `id` | `true` if the row existed |
//! | `db.query` | `table`, `query`?, `options`? | list of records, as `db.get` gives them |
//! | `db.createIndex` | `table`, `field` | unit |
//! | `db.hash` | `table` | the host table hash (DATABASE.md §4.6; `"0"` for a missing table) |
//! | `db.commit` | – | the sealed bundle (a string) when a commit key is set; else `true` for a file store; a memory store without a key fails as the reference's `memoryStorage` does |
//! | `cache.set` | `ns`, `cacheKey` (alias `key2`), `value` | `true` |
//! | `cache.get` | `ns`, `cacheKey` | the value, or unit |
//! | `cache.delete` | `ns`, `cacheKey` | `true` if it existed |
//! | `cache.clear` | `ns` | `true` |
//!
//! `db.query`, `db.createIndex`, `db.hash` and `cache.clear` have no handler
//! in the reference (it fails them as unknown effects); here they are
//! extensions. The query language is the in-VM one of `DECISIONS.md`
//! (`$eq $ne $gt $gte $lt $lte $in $nin $exists`; options `sort`, `skip`,
//! `limit`), run by the VM's own engine over the contents as `db.get`
//! returns them (see [Query language](#query-language)). Results are in row
//! (insertion) order before sorting, with or without an index: an index
//! ([`db.createIndex`]) only narrows the rows the engine examines for
//! equality conditions (`field: value`, `$eq`, `$in`), never the result.
//!
//! With [`Flavor::Memory`] the store instead answers like the reference's
//! default handler backend `memoryStorage` (HOST.md §6.3): `db.get` and
//! `db.query` give the bare contents and `db.update` does not consume the
//! id sequence.
//!
//! Cache values are stored exactly (the VM's own JSON encoding), not
//! through `valueToJs`: a cache is not part of a bundle.
//!
//! [`db.createIndex`]: Store::handle
//!
//! # Query language
//!
//! `query` is a record `{field: condition, …}` over each row's content as
//! `db.get` returns it; `options` is `{sort: {field, order}, skip, limit}`.
//! The language and its error texts are the in-VM `db.query`'s
//! (`crates/finvm/src/db/query.rs`), so a program gets the same answers
//! from the builtin and from the effect. Compared with the reference's
//! `FinVMDatabase.query` (DATABASE.md §4.4–4.5), following `DECISIONS.md`:
//! lists and records compare structurally (the reference's `===` never
//! matched them) and an operator-less object is an equality, not a
//! match-all; an unknown `$` operator or a malformed query is an error
//! (`InvalidInstruction`/`TypeMismatch: db.query/v1 …`), never a match-all;
//! `order` is `"ASC"` (default) or `"DESC"`, anything else an error (the
//! reference sorted everything but `"ASC"` descending); rows lacking the
//! sort field come first; `skip` and `limit` exist; numbers compare by value
//! across Int, Fixed and Rational; and an index never changes the result or
//! its order (the reference's index path reordered rows and matched no
//! `null`).

mod bundle;
pub mod convert;
mod query;
#[cfg(test)]
mod tests;

pub use bundle::BundleKey;

use crate::convert::value_to_js;
use convert::{canonical_json_into, js_to_value};
use finvm::value::canon::{canonical, sha256_hex};
use finvm::value::cmp_utf16;
use finvm::value::json::{decode_value, value_to_json};
use finvm::{Record, Value};
use finvm_secure::{DecryptionFailed, Dek};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde_json::{Map as JMap, Value as J};
use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

/// The effect types [`Store::handle`] performs.
pub const EFFECT_TYPES: &[&str] = &[
    "db.insert",
    "db.get",
    "db.update",
    "db.delete",
    "db.query",
    "db.createIndex",
    "db.hash",
    "db.commit",
    "cache.set",
    "cache.get",
    "cache.delete",
    "cache.clear",
];

/// The SQLite schema (all statements idempotent).
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS finvm_meta (k TEXT PRIMARY KEY, v TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS finvm_tables (name TEXT PRIMARY KEY, ord INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS finvm_rows (
  tbl TEXT NOT NULL, id TEXT NOT NULL, ord INTEGER NOT NULL, record TEXT NOT NULL,
  PRIMARY KEY (tbl, id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS finvm_rows_by_ord ON finvm_rows (tbl, ord);
CREATE TABLE IF NOT EXISTS finvm_index_defs (tbl TEXT NOT NULL, field TEXT NOT NULL,
  PRIMARY KEY (tbl, field)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS finvm_index (
  tbl TEXT NOT NULL, field TEXT NOT NULL, vkey TEXT NOT NULL, id TEXT NOT NULL,
  PRIMARY KEY (tbl, field, vkey, id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS finvm_index_by_id ON finvm_index (tbl, id);
CREATE TABLE IF NOT EXISTS finvm_cache (ns TEXT NOT NULL, k TEXT NOT NULL, v TEXT NOT NULL,
  PRIMARY KEY (ns, k)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS finvm_applied (effect_id TEXT PRIMARY KEY, result TEXT NOT NULL) WITHOUT ROWID;
INSERT OR IGNORE INTO finvm_meta (k, v) VALUES ('schema', '1');
";

/// Which reference storage backend the store answers like.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Flavor {
    /// `FinVMDatabase` / the secure platform's encrypted storage
    /// (DATABASE.md §4.3, HOST.md §8.9): `db.get` gives
    /// `{id, timestamp, content, updatedAt?}`; `db.update` consumes an id.
    #[default]
    Database,
    /// The default handler backend `memoryStorage` (HOST.md §6.3): `db.get`
    /// and `db.query` give the bare contents; `db.update` consumes no id.
    Memory,
}

/// An error of the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreError {
    /// A bundle could not be opened: wrong passphrase or key, tampering, a
    /// key of the wrong kind, an unsupported format. Displays as
    /// `DecryptionFailed: <message>`.
    Decryption(DecryptionFailed),
    /// A bundle opened but is not a valid database, or a request was
    /// refused before any cryptography (the reference's message where it
    /// has one, e.g. `Passphrase required for v2 DB bundle`).
    Bundle(String),
    /// SQLite failed (opening, reading or writing the file).
    Sqlite(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Decryption(e) => e.fmt(f),
            StoreError::Bundle(m) => f.write_str(m),
            StoreError::Sqlite(m) => write!(f, "StoreError: SQLite: {m}"),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Sqlite(e.to_string())
    }
}

impl From<DecryptionFailed> for StoreError {
    fn from(e: DecryptionFailed) -> Self {
        StoreError::Decryption(e)
    }
}

/// The host database: see the module documentation.
pub struct Store {
    conn: Connection,
    persistent: bool,
    flavor: Flavor,
    commit_key: Option<BundleKey>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("persistent", &self.persistent)
            .field("flavor", &self.flavor)
            .field(
                "commit_key",
                &self.commit_key.as_ref().map(|_| "[REDACTED]"),
            )
            .finish()
    }
}

impl Store {
    /// A store in memory (SQLite `:memory:`), gone when dropped.
    pub fn open_memory() -> Result<Store, StoreError> {
        Store::init(Connection::open_in_memory()?, false)
    }

    /// Opens (creating if needed) the store in the SQLite file `path`.
    /// Writes are durable when the effect that made them returns.
    pub fn open_sqlite(path: &Path) -> Result<Store, StoreError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Sqlite(format!(
                "cannot use WAL journal mode (got {mode})"
            )));
        }
        conn.pragma_update(None, "synchronous", "FULL")?;
        Store::init(conn, true)
    }

    fn init(conn: Connection, persistent: bool) -> Result<Store, StoreError> {
        conn.execute_batch(SCHEMA)?;
        let schema: String =
            conn.query_row("SELECT v FROM finvm_meta WHERE k = 'schema'", [], |r| {
                r.get(0)
            })?;
        if schema != "1" {
            return Err(StoreError::Sqlite(format!(
                "unsupported store schema version {schema}"
            )));
        }
        Ok(Store {
            conn,
            persistent,
            flavor: Flavor::Database,
            commit_key: None,
        })
    }

    /// Which reference backend the store answers like (default
    /// [`Flavor::Database`]).
    pub fn flavor(&self) -> Flavor {
        self.flavor
    }

    /// Sets the flavor (see [`Flavor`]); the data is the same either way.
    pub fn set_flavor(&mut self, flavor: Flavor) {
        self.flavor = flavor;
    }

    /// Sets the key `db.commit` seals the store with: a DEK gives the
    /// reference secure storage's `db` envelope, a passphrase the v2
    /// bundle. `None` (the default) makes `db.commit` return `true`.
    pub fn set_commit_key(&mut self, key: Option<BundleKey>) {
        self.commit_key = key;
    }

    /// True when [`Store::handle`] performs effects of this type.
    pub fn handles(effect_type: &str) -> bool {
        EFFECT_TYPES.contains(&effect_type)
    }

    /// Performs one `db.*`/`cache.*` effect intent (payload: the intent's
    /// payload record) in one transaction. Errors are one-line texts; a
    /// failed effect changes nothing.
    pub fn handle(&mut self, effect_type: &str, payload: &Value) -> Result<Value, String> {
        let ctx = Ctx {
            flavor: self.flavor,
            persistent: self.persistent,
            commit_key: self.commit_key.as_ref(),
        };
        let tx = self
            .conn
            .transaction_with_behavior(behavior(effect_type))
            .map_err(sql_err)?;
        let out = perform(&tx, &ctx, effect_type, payload)?;
        tx.commit().map_err(sql_err)?;
        Ok(out)
    }

    /// Like [`Store::handle`], but exactly once per `effect_id`: the result
    /// is recorded under `effect_id` in the effect's own transaction, and a
    /// later call with the same id returns the recorded result without
    /// performing anything. A host that may crash between performing an
    /// effect and journaling it passes an id that names the effect (e.g.
    /// its journal position, pid and key) so a retry is not a second insert.
    pub fn handle_once(
        &mut self,
        effect_id: &str,
        effect_type: &str,
        payload: &Value,
    ) -> Result<Value, String> {
        let ctx = Ctx {
            flavor: self.flavor,
            persistent: self.persistent,
            commit_key: self.commit_key.as_ref(),
        };
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql_err)?;
        let done: Option<String> = tx
            .query_row(
                "SELECT result FROM finvm_applied WHERE effect_id = ?1",
                [effect_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql_err)?;
        if let Some(text) = done {
            let j: J = serde_json::from_str(&text).map_err(|e| e.to_string())?;
            return decode_value(&j);
        }
        let out = perform(&tx, &ctx, effect_type, payload)?;
        tx.execute(
            "INSERT INTO finvm_applied (effect_id, result) VALUES (?1, ?2)",
            params![effect_id, value_to_json(&out)],
        )
        .map_err(sql_err)?;
        tx.commit().map_err(sql_err)?;
        Ok(out)
    }

    /// Forgets the results [`Store::handle_once`] recorded under these
    /// effect ids (ids never recorded are ignored). A host calls it once the
    /// results are durable in its own journal, so the records do not
    /// accumulate; a later `handle_once` with a forgotten id performs the
    /// effect again.
    pub fn forget_applied<S: AsRef<str>>(&mut self, effect_ids: &[S]) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut st = tx.prepare("DELETE FROM finvm_applied WHERE effect_id = ?1")?;
            for id in effect_ids {
                st.execute([id.as_ref()])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The host table hash of `table` (DATABASE.md §4.6).
    pub fn hash_table(&self, table: &str) -> Result<String, StoreError> {
        let tx = self.conn.unchecked_transaction()?;
        Ok(hash_table(&tx, table)?)
    }

    /// The plaintext serialization of the store (DATABASE.md §4.8):
    /// `{"sequence":N,"tables":[[name,[[id,record],…]],…]}`.
    pub fn export_plaintext(&self) -> Result<String, StoreError> {
        let tx = self.conn.unchecked_transaction()?;
        bundle::plaintext(&tx)
    }

    /// The v2 passphrase bundle of the store (DATABASE.md §4.8):
    /// `{"v":2,"salt":[…],"iv":[…],"data":[…]}`, PBKDF2-HMAC-SHA256 with
    /// 210000 iterations, AES-256-GCM without AAD, a fresh IV each call. The
    /// salt is the store's (generated on the first export, or adopted from
    /// the last imported v2 bundle), as the reference keeps it per instance.
    pub fn export_bundle(&self, passphrase: &str) -> Result<Vec<u8>, StoreError> {
        let tx = self.conn.unchecked_transaction()?;
        let text = bundle::seal(&tx, &BundleKey::passphrase(passphrase))?;
        tx.commit()?;
        Ok(text.into_bytes())
    }

    /// The `db` fenc envelope of the store under `dek` (HOST.md §8.3), as
    /// the reference's secure storage exports it.
    pub fn export_bundle_dek(&self, dek: &Dek) -> Result<Vec<u8>, StoreError> {
        let tx = self.conn.unchecked_transaction()?;
        Ok(bundle::seal(&tx, &BundleKey::Dek(dek.clone()))?.into_bytes())
    }

    /// A new in-memory store loaded from a v2 passphrase bundle. A wrong
    /// passphrase or a tampered bundle is `DecryptionFailed: DB bundle
    /// decryption failed`.
    pub fn import_bundle(bytes: &[u8], passphrase: &str) -> Result<Store, StoreError> {
        let mut store = Store::open_memory()?;
        store.load_bundle(bytes, &BundleKey::passphrase(passphrase))?;
        Ok(store)
    }

    /// A new in-memory store loaded from a `db` fenc envelope.
    pub fn import_bundle_dek(bytes: &[u8], dek: &Dek) -> Result<Store, StoreError> {
        let mut store = Store::open_memory()?;
        store.load_bundle(bytes, &BundleKey::Dek(dek.clone()))?;
        Ok(store)
    }

    /// Replaces this store's tables and sequence with a bundle's (the
    /// reference's `importEncrypted`, DATABASE.md §4.8): a `db` envelope
    /// needs a DEK, a v2 bundle a passphrase. Index definitions stay and are
    /// rebuilt; the cache is untouched. On any error nothing changes.
    /// Unlike the reference, a plaintext bundle is refused here (it would be
    /// accepted without any authenticity); load it with
    /// [`Store::load_plaintext`].
    pub fn load_bundle(&mut self, bytes: &[u8], key: &BundleKey) -> Result<(), StoreError> {
        let opened = bundle::open(bytes, key)?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        bundle::load(&tx, &opened.plaintext)?;
        if let Some(salt) = opened.salt {
            bundle::set_salt(&tx, &salt)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Replaces this store's tables and sequence with a plaintext
    /// serialization (a development bundle: the `{"sequence","tables"}`
    /// object, or the legacy bare tables array).
    pub fn load_plaintext(&mut self, text: &str) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        bundle::load(&tx, text)?;
        tx.commit()?;
        Ok(())
    }
}

/// What an effect needs besides the connection.
struct Ctx<'a> {
    flavor: Flavor,
    persistent: bool,
    commit_key: Option<&'a BundleKey>,
}

/// Reads take a deferred transaction, writes an immediate one (so two
/// processes on one file queue instead of failing to upgrade a lock).
fn behavior(effect_type: &str) -> TransactionBehavior {
    match effect_type {
        "db.get" | "db.query" | "db.hash" | "cache.get" => TransactionBehavior::Deferred,
        _ => TransactionBehavior::Immediate,
    }
}

fn sql_err(e: rusqlite::Error) -> String {
    format!("StoreError: SQLite: {e}")
}

/// The payload record, or an error naming the effect.
fn payload_record<'a>(ty: &str, payload: &'a Value) -> Result<&'a Record, String> {
    payload
        .as_record()
        .ok_or_else(|| format!("TypeMismatch: {ty} payload must be a record"))
}

/// A payload field that must be a string.
fn str_field<'a>(ty: &str, p: &'a Record, k: &str) -> Result<&'a str, String> {
    match p.get(k) {
        Some(Value::Str(s)) => Ok(s.as_str()),
        _ => Err(format!(
            "TypeMismatch: {ty} payload field {k} must be a String"
        )),
    }
}

/// A payload field, absent or unit meaning absent (JavaScript `??`).
fn opt_field<'a>(p: &'a Record, k: &str) -> Option<&'a Value> {
    p.get(k).filter(|v| !matches!(v, Value::Unit))
}

/// The cache key: `key2 ?? cacheKey` (`key` is the correlation key).
fn cache_key<'a>(ty: &str, p: &'a Record) -> Result<&'a str, String> {
    match opt_field(p, "key2").or_else(|| p.get("cacheKey")) {
        Some(Value::Str(s)) => Ok(s.as_str()),
        _ => Err(format!(
            "TypeMismatch: {ty} payload field cacheKey must be a String"
        )),
    }
}

fn perform(c: &Connection, ctx: &Ctx, ty: &str, payload: &Value) -> Result<Value, String> {
    let p = payload_record(ty, payload)?;
    let unit = Value::Unit;
    match ty {
        "db.insert" => {
            let table = str_field(ty, p, "table")?;
            let content = value_to_js(p.get("record").unwrap_or(&unit));
            Ok(Value::str(insert(c, table, content).map_err(sql_err)?))
        }
        "db.get" => {
            let table = str_field(ty, p, "table")?;
            let id = str_field(ty, p, "id")?;
            Ok(match row_record(c, table, id).map_err(sql_err)? {
                None => Value::Unit,
                Some(rec) => present(ctx.flavor, &rec),
            })
        }
        "db.update" => {
            let table = str_field(ty, p, "table")?;
            let id = str_field(ty, p, "id")?;
            let content = value_to_js(p.get("record").unwrap_or(&unit));
            let bump = ctx.flavor == Flavor::Database;
            Ok(Value::Bool(
                update(c, table, id, content, bump).map_err(sql_err)?,
            ))
        }
        "db.delete" => {
            let table = str_field(ty, p, "table")?;
            let id = str_field(ty, p, "id")?;
            Ok(Value::Bool(delete(c, table, id).map_err(sql_err)?))
        }
        "db.query" => {
            let table = str_field(ty, p, "table")?;
            let empty = Value::record(Record::new());
            let q = opt_field(p, "query").unwrap_or(&empty);
            let options = p.get("options").unwrap_or(&unit);
            let rows = run_query(c, table, q, options)?;
            Ok(Value::list(
                rows.iter().map(|r| present(ctx.flavor, r)).collect(),
            ))
        }
        "db.createIndex" => {
            let table = str_field(ty, p, "table")?;
            let field = str_field(ty, p, "field")?;
            create_index(c, table, field).map_err(sql_err)?;
            Ok(Value::Unit)
        }
        "db.hash" => {
            let table = str_field(ty, p, "table")?;
            Ok(Value::str(hash_table(c, table).map_err(sql_err)?))
        }
        "db.commit" => match ctx.commit_key {
            Some(key) => Ok(Value::str(bundle::seal(c, key).map_err(|e| e.to_string())?)),
            None if ctx.persistent => Ok(Value::Bool(true)),
            None => Err("db.commit requires persistent storage with commit()".into()),
        },
        "cache.set" => {
            let ns = str_field(ty, p, "ns")?;
            let k = cache_key(ty, p)?;
            let v = value_to_json(p.get("value").unwrap_or(&unit));
            c.execute(
                "INSERT INTO finvm_cache (ns, k, v) VALUES (?1, ?2, ?3)
                 ON CONFLICT (ns, k) DO UPDATE SET v = excluded.v",
                params![ns, k, v],
            )
            .map_err(sql_err)?;
            Ok(Value::Bool(true))
        }
        "cache.get" => {
            let ns = str_field(ty, p, "ns")?;
            let k = cache_key(ty, p)?;
            let v: Option<String> = c
                .query_row(
                    "SELECT v FROM finvm_cache WHERE ns = ?1 AND k = ?2",
                    params![ns, k],
                    |r| r.get(0),
                )
                .optional()
                .map_err(sql_err)?;
            match v {
                None => Ok(Value::Unit),
                Some(text) => {
                    let j: J = serde_json::from_str(&text).map_err(|e| e.to_string())?;
                    decode_value(&j)
                }
            }
        }
        "cache.delete" => {
            let ns = str_field(ty, p, "ns")?;
            let k = cache_key(ty, p)?;
            let n = c
                .execute(
                    "DELETE FROM finvm_cache WHERE ns = ?1 AND k = ?2",
                    params![ns, k],
                )
                .map_err(sql_err)?;
            Ok(Value::Bool(n > 0))
        }
        "cache.clear" => {
            let ns = str_field(ty, p, "ns")?;
            c.execute("DELETE FROM finvm_cache WHERE ns = ?1", [ns])
                .map_err(sql_err)?;
            Ok(Value::Bool(true))
        }
        other => Err(format!(
            "UnknownEffect: the database store has no handler for {other}"
        )),
    }
}

/// A stored record as an effect result: the whole record, or (memory
/// flavor) its content.
fn present(flavor: Flavor, rec: &J) -> Value {
    match flavor {
        Flavor::Database => js_to_value(rec),
        Flavor::Memory => js_to_value(rec.get("content").unwrap_or(&J::Null)),
    }
}

// ---------------------------------------------------------------- meta

fn meta_get(c: &Connection, k: &str) -> rusqlite::Result<Option<String>> {
    c.query_row("SELECT v FROM finvm_meta WHERE k = ?1", [k], |r| r.get(0))
        .optional()
}

fn meta_set(c: &Connection, k: &str, v: &str) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO finvm_meta (k, v) VALUES (?1, ?2)
         ON CONFLICT (k) DO UPDATE SET v = excluded.v",
        params![k, v],
    )
    .map(|_| ())
}

fn meta_u64(c: &Connection, k: &str) -> rusqlite::Result<u64> {
    Ok(meta_get(c, k)?.and_then(|v| v.parse().ok()).unwrap_or(0))
}

/// The id sequence (the next id is `rec<sequence>`).
fn sequence(c: &Connection) -> rusqlite::Result<u64> {
    meta_u64(c, "sequence")
}

fn set_sequence(c: &Connection, n: u64) -> rusqlite::Result<()> {
    meta_set(c, "sequence", &n.to_string())
}

/// Takes the next row position.
fn take_ord(c: &Connection) -> rusqlite::Result<i64> {
    let n = meta_u64(c, "next_ord")?;
    meta_set(c, "next_ord", &(n + 1).to_string())?;
    Ok(n as i64)
}

// ---------------------------------------------------------------- tables and rows

fn table_exists(c: &Connection, table: &str) -> rusqlite::Result<bool> {
    c.query_row(
        "SELECT 1 FROM finvm_tables WHERE name = ?1",
        [table],
        |_| Ok(()),
    )
    .optional()
    .map(|r| r.is_some())
}

fn ensure_table(c: &Connection, table: &str) -> rusqlite::Result<()> {
    c.execute(
        "INSERT OR IGNORE INTO finvm_tables (name, ord)
         VALUES (?1, (SELECT COALESCE(MAX(ord) + 1, 0) FROM finvm_tables))",
        [table],
    )
    .map(|_| ())
}

fn parse_record(text: &str) -> rusqlite::Result<J> {
    serde_json::from_str(text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

/// The stored record of a row.
fn row_record(c: &Connection, table: &str, id: &str) -> rusqlite::Result<Option<J>> {
    let text: Option<String> = c
        .query_row(
            "SELECT record FROM finvm_rows WHERE tbl = ?1 AND id = ?2",
            params![table, id],
            |r| r.get(0),
        )
        .optional()?;
    text.map(|t| parse_record(&t)).transpose()
}

/// All rows of a table in row order, as (id, record).
fn all_rows(c: &Connection, table: &str) -> rusqlite::Result<Vec<(String, J)>> {
    let mut st =
        c.prepare_cached("SELECT id, record FROM finvm_rows WHERE tbl = ?1 ORDER BY ord")?;
    let rows = st.query_map([table], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
    })?;
    rows.map(|r| {
        let (id, text) = r?;
        Ok((id, parse_record(&text)?))
    })
    .collect()
}

/// Writes a row's record; a new row goes to the end of the table.
fn put_row(c: &Connection, table: &str, id: &str, record: &J) -> rusqlite::Result<()> {
    let text = record.to_string();
    let n = c.execute(
        "UPDATE finvm_rows SET record = ?3 WHERE tbl = ?1 AND id = ?2",
        params![table, id, text],
    )?;
    if n == 0 {
        let ord = take_ord(c)?;
        c.execute(
            "INSERT INTO finvm_rows (tbl, id, ord, record) VALUES (?1, ?2, ?3, ?4)",
            params![table, id, ord, text],
        )?;
    }
    Ok(())
}

/// `insert`: a new record `{id, timestamp, content}` with the next id.
fn insert(c: &Connection, table: &str, content: J) -> rusqlite::Result<String> {
    let seq = sequence(c)?;
    let id = format!("rec{seq}");
    let mut rec = JMap::new();
    rec.insert("id".into(), J::String(id.clone()));
    rec.insert("timestamp".into(), J::from(seq));
    rec.insert("content".into(), content);
    let rec = J::Object(rec);
    ensure_table(c, table)?;
    unindex_row(c, table, &id)?;
    put_row(c, table, &id, &rec)?;
    index_row(c, table, &id, &rec, &index_fields(c, table)?)?;
    set_sequence(c, seq + 1)?;
    Ok(id)
}

/// `update`: replaces the content; with `bump`, sets `updatedAt` to the
/// next sequence number and consumes it.
fn update(c: &Connection, table: &str, id: &str, content: J, bump: bool) -> rusqlite::Result<bool> {
    let Some(J::Object(mut rec)) = row_record(c, table, id)? else {
        return Ok(false);
    };
    rec.insert("content".into(), content);
    if bump {
        let seq = sequence(c)?;
        rec.insert("updatedAt".into(), J::from(seq));
        set_sequence(c, seq + 1)?;
    }
    let rec = J::Object(rec);
    unindex_row(c, table, id)?;
    put_row(c, table, id, &rec)?;
    index_row(c, table, id, &rec, &index_fields(c, table)?)?;
    Ok(true)
}

fn delete(c: &Connection, table: &str, id: &str) -> rusqlite::Result<bool> {
    unindex_row(c, table, id)?;
    let n = c.execute(
        "DELETE FROM finvm_rows WHERE tbl = ?1 AND id = ?2",
        params![table, id],
    )?;
    Ok(n > 0)
}

/// `hashTable` (DATABASE.md §4.6): `"0"` for a missing table, else the
/// SHA-256 hex of the canonical JSON of its records sorted by id.
fn hash_table(c: &Connection, table: &str) -> rusqlite::Result<String> {
    if !table_exists(c, table)? {
        return Ok("0".into());
    }
    let mut rows = all_rows(c, table)?;
    let key = |(id, rec): &(String, J)| -> String {
        rec.get("id")
            .and_then(J::as_str)
            .map_or_else(|| id.clone(), str::to_string)
    };
    rows.sort_by(|a, b| cmp_utf16(&key(a), &key(b)));
    let mut text = String::from("[");
    for (i, (_, rec)) in rows.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        canonical_json_into(rec, &mut text);
    }
    text.push(']');
    Ok(sha256_hex(&text))
}

// ---------------------------------------------------------------- indexes

/// The indexed fields of a table.
fn index_fields(c: &Connection, table: &str) -> rusqlite::Result<Vec<String>> {
    let mut st = c.prepare_cached("SELECT field FROM finvm_index_defs WHERE tbl = ?1")?;
    let rows = st.query_map([table], |r| r.get(0))?;
    rows.collect()
}

/// Adds a row's entries to the given indexes: the canonical text of the
/// field's value, for a content that reads back as a record holding it.
fn index_row(
    c: &Connection,
    table: &str,
    id: &str,
    rec: &J,
    fields: &[String],
) -> rusqlite::Result<()> {
    if fields.is_empty() {
        return Ok(());
    }
    let Value::Record(content) = js_to_value(rec.get("content").unwrap_or(&J::Null)) else {
        return Ok(());
    };
    let mut st = c.prepare_cached(
        "INSERT OR IGNORE INTO finvm_index (tbl, field, vkey, id) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for field in fields {
        if let Some(v) = content.get(field) {
            st.execute(params![table, field, canonical(v), id])?;
        }
    }
    Ok(())
}

fn unindex_row(c: &Connection, table: &str, id: &str) -> rusqlite::Result<()> {
    c.prepare_cached("DELETE FROM finvm_index WHERE tbl = ?1 AND id = ?2")?
        .execute(params![table, id])
        .map(|_| ())
}

/// `createIndex`: defines the index (even for a table without rows) and
/// fills it from the existing rows. Idempotent.
fn create_index(c: &Connection, table: &str, field: &str) -> rusqlite::Result<()> {
    let n = c.execute(
        "INSERT OR IGNORE INTO finvm_index_defs (tbl, field) VALUES (?1, ?2)",
        params![table, field],
    )?;
    if n > 0 {
        let fields = [field.to_string()];
        for (id, rec) in all_rows(c, table)? {
            index_row(c, table, &id, &rec, &fields)?;
        }
    }
    Ok(())
}

/// Rebuilds every defined index from the rows (after a bundle load).
fn rebuild_indexes(c: &Connection) -> rusqlite::Result<()> {
    c.execute("DELETE FROM finvm_index", [])?;
    let defs: Vec<(String, String)> = {
        let mut st = c.prepare("SELECT tbl, field FROM finvm_index_defs")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for (table, field) in defs {
        let fields = [field];
        for (id, rec) in all_rows(c, &table)? {
            index_row(c, &table, &id, &rec, &fields)?;
        }
    }
    Ok(())
}

/// The values an indexed field's condition requires equality with, if it
/// is an equality condition: a plain value, `$eq`, or `$in`'s list. (The
/// engine still checks every condition on the rows found; a malformed
/// condition is its error to report.)
fn exact_values(cond: &Value) -> Option<Vec<Value>> {
    match cond {
        Value::Record(r) if r.fields().keys().any(|k| k.starts_with('$')) => {
            if let Some(v) = r.get("$eq") {
                return Some(vec![v.clone()]);
            }
            match r.get("$in") {
                Some(Value::List(l)) => Some(l.items().to_vec()),
                _ => None,
            }
        }
        other => Some(vec![other.clone()]),
    }
}

/// The ids an index lookup allows, or `None` when no index applies.
fn candidates(
    c: &Connection,
    table: &str,
    q: &Value,
) -> rusqlite::Result<Option<BTreeSet<String>>> {
    let Value::Record(q) = q else {
        return Ok(None);
    };
    let fields = index_fields(c, table)?;
    let mut out: Option<BTreeSet<String>> = None;
    let mut st =
        c.prepare_cached("SELECT id FROM finvm_index WHERE tbl = ?1 AND field = ?2 AND vkey = ?3")?;
    for (field, cond) in q.fields() {
        if field.starts_with('$') || !fields.iter().any(|f| f == field.as_str()) {
            continue;
        }
        let Some(values) = exact_values(cond) else {
            continue;
        };
        let mut ids = BTreeSet::new();
        for v in &values {
            let found = st.query_map(params![table, field.as_str(), canonical(v)], |r| {
                r.get::<_, String>(0)
            })?;
            for id in found {
                ids.insert(id?);
            }
        }
        out = Some(match out {
            None => ids,
            Some(prev) => prev.intersection(&ids).cloned().collect(),
        });
    }
    Ok(out)
}

/// Runs a query: the candidate rows (all, or those an index allows) in row
/// order, filtered, sorted, skipped and limited by the VM's engine.
fn run_query(c: &Connection, table: &str, q: &Value, options: &Value) -> Result<Vec<J>, String> {
    let rows: Vec<J> = match candidates(c, table, q).map_err(sql_err)? {
        None => all_rows(c, table)
            .map_err(sql_err)?
            .into_iter()
            .map(|(_, rec)| rec)
            .collect(),
        Some(ids) => {
            let mut found: Vec<(i64, J)> = Vec::with_capacity(ids.len());
            let mut st = c
                .prepare_cached("SELECT ord, record FROM finvm_rows WHERE tbl = ?1 AND id = ?2")
                .map_err(sql_err)?;
            for id in &ids {
                let row: Option<(i64, String)> = st
                    .query_row(params![table, id], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
                    .map_err(sql_err)?;
                if let Some((ord, text)) = row {
                    found.push((ord, parse_record(&text).map_err(sql_err)?));
                }
            }
            found.sort_by_key(|(ord, _)| *ord);
            found.into_iter().map(|(_, rec)| rec).collect()
        }
    };
    let contents = rows
        .iter()
        .map(|rec| js_to_value(rec.get("content").unwrap_or(&J::Null)))
        .collect();
    let order = query::run(contents, q, options)?;
    let mut rows: Vec<Option<J>> = rows.into_iter().map(Some).collect();
    Ok(order
        .into_iter()
        .filter_map(|i| rows.get_mut(i).and_then(Option::take))
        .collect())
}
