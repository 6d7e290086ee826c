//! The effect journal (`HOST.md` §7, `FORMATS.md` §6.10) behind the
//! [`JournalStore`] trait, with three durable backends: a JSON-lines file
//! ([`file::FileJournal`]), SQLite ([`sqlite::SqliteJournal`]) and PostgreSQL
//! ([`pg::PgJournal`]).
//!
//! # Model
//!
//! A journal belongs to one *run* and is a sequence of [`Slot`]s indexed
//! 0, 1, 2, … in request order across all rounds. Each slot holds the
//! effect's [`Intent`] (`kind`, `pid`, `key`, `type_`, `payload`) and, once
//! the effect has been performed, its `result`. Together they are exactly the
//! reference's journal entry
//! `{"kind","pid","key","type_","payload","result"}` ([`Slot::entry_json`]).
//!
//! The live driver writes in two durable steps:
//! 1. before performing the effects of a round it records their intents
//!    ([`JournalStore::record_intents`]);
//! 2. after performing, it records each result
//!    ([`JournalStore::record_results`]), and only then delivers it.
//!
//! An intent without a result is *in doubt*: the host stopped while
//! performing it, and it may or may not have taken effect. The driver never
//! re-performs an in-doubt effect on its own unless its handler declares
//! that safe (see [`crate::InDoubt`]); an operator can settle it with
//! [`JournalStore::record_results`] (it was performed, here is its result)
//! or [`JournalStore::set_retry`] (it was not; perform it again).
//!
//! Every `record_*` call returns only once its records are durable (fsync,
//! SQLite `synchronous=FULL` in WAL mode, PostgreSQL commit).
//!
//! # URLs
//!
//! [`open`] picks the backend from a URL: `sqlite:PATH`,
//! `postgres://…` / `postgresql://…`, `file:PATH`, or a plain path (a JSON
//! file). SQLite and PostgreSQL hold many runs side by side: a `run=ID` query
//! parameter (or the `run` argument of [`open`]) names the run, default
//! `default`.

pub mod file;
pub mod pg;
pub mod sqlite;

use crate::convert::json_text;
use serde_json::{Map, Value as J};
use std::fmt;

/// `await_reply` or `transport` (`HOST.md` §2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A process awaits the result under `key`.
    AwaitReply,
    /// A transport or fire-and-forget intent.
    Transport,
}

impl Kind {
    /// `await_reply` or `transport`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::AwaitReply => "await_reply",
            Kind::Transport => "transport",
        }
    }

    /// Parses `await_reply` / `transport`.
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "await_reply" => Some(Kind::AwaitReply),
            "transport" => Some(Kind::Transport),
            _ => None,
        }
    }
}

/// What the VM asked for: one pending item, as journaled.
#[derive(Clone, Debug, PartialEq)]
pub struct Intent {
    /// The classification.
    pub kind: Kind,
    /// The awaiting pid (await_reply) or the payload's `pid` (transport).
    pub pid: String,
    /// The awaited key; `None` for transport items.
    pub key: Option<String>,
    /// The intent type, e.g. `http.get`.
    pub type_: String,
    /// The payload, tagless Value JSON.
    pub payload: J,
}

impl Intent {
    /// `<kind>/<pid>/<type_>/<key>` as the reference's mismatch message
    /// prints it (a transport key prints as `null`).
    pub fn signature(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.kind.as_str(),
            self.pid,
            self.type_,
            self.key.as_deref().unwrap_or("null")
        )
    }

    /// The object members `kind, pid, key, type_, payload` in this order.
    pub fn members(&self) -> Map<String, J> {
        let mut m = Map::new();
        m.insert("kind".into(), J::String(self.kind.as_str().into()));
        m.insert("pid".into(), J::String(self.pid.clone()));
        m.insert(
            "key".into(),
            self.key.clone().map(J::String).unwrap_or(J::Null),
        );
        m.insert("type_".into(), J::String(self.type_.clone()));
        m.insert("payload".into(), self.payload.clone());
        m
    }

    /// Reads the members of a reference entry (or intent record). A missing
    /// `kind` is inferred from `key`, as the reference does for old journals.
    pub fn from_members(o: &Map<String, J>) -> Result<Intent, String> {
        let key = match o.get("key") {
            None | Some(J::Null) => None,
            Some(J::String(s)) => Some(s.clone()),
            Some(_) => return Err("entry key must be a string or null".into()),
        };
        let kind = match o.get("kind") {
            None | Some(J::Null) => {
                if key.is_some() {
                    Kind::AwaitReply
                } else {
                    Kind::Transport
                }
            }
            Some(J::String(s)) => {
                Kind::parse(s).ok_or_else(|| format!("unknown entry kind '{s}'"))?
            }
            Some(_) => return Err("entry kind must be a string".into()),
        };
        let str_field = |name: &str| match o.get(name) {
            Some(J::String(s)) => Ok(s.clone()),
            _ => Err(format!("entry {name} must be a string")),
        };
        Ok(Intent {
            kind,
            pid: str_field("pid")?,
            key,
            type_: str_field("type_")?,
            payload: o.get("payload").cloned().unwrap_or(J::Null),
        })
    }
}

/// One journal position.
#[derive(Clone, Debug, PartialEq)]
pub struct Slot {
    /// Position in request order, from 0.
    pub index: u64,
    /// What was asked.
    pub intent: Intent,
    /// The recorded result (tagless Value JSON); `None` while in doubt.
    pub result: Option<J>,
    /// An operator declared that this in-doubt effect was not performed, so
    /// the next live run performs it.
    pub retry: bool,
}

impl Slot {
    /// The reference journal entry `{"kind","pid","key","type_","payload","result"}`
    /// (`None` while the slot has no result).
    pub fn entry_json(&self) -> Option<J> {
        let result = self.result.clone()?;
        let mut m = self.intent.members();
        m.insert("result".into(), result);
        Some(J::Object(m))
    }
}

/// Identity of a journal's run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunInfo {
    /// The run id (`default` unless named).
    pub run: String,
    /// A random value fixed when the run was created; with the slot index it
    /// makes each effect's idempotency key unique across hosts and runs.
    pub nonce: String,
}

impl RunInfo {
    /// The idempotency key of the effect at `index`:
    /// `finvm-<nonce>-<index>`, stable across restarts.
    pub fn idempotency_key(&self, index: u64) -> String {
        format!("finvm-{}-{index}", self.nonce)
    }
}

/// A journal storage error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalError(pub String);

impl fmt::Display for JournalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for JournalError {}

impl From<String> for JournalError {
    fn from(s: String) -> JournalError {
        JournalError(s)
    }
}

impl From<&str> for JournalError {
    fn from(s: &str) -> JournalError {
        JournalError(s.to_string())
    }
}

/// Durable storage of one run's journal.
pub trait JournalStore {
    /// The run this journal belongs to.
    fn info(&self) -> &RunInfo;

    /// Every slot, in index order (indices are 0, 1, 2, … without gaps).
    fn load(&mut self) -> Result<Vec<Slot>, JournalError>;

    /// Durably records the intents at indices `first`, `first+1`, …
    /// (each index must be new).
    fn record_intents(&mut self, first: u64, intents: &[Intent]) -> Result<(), JournalError>;

    /// Durably records results `(index, tagless result)` of recorded intents
    /// that have none yet.
    fn record_results(&mut self, results: &[(u64, J)]) -> Result<(), JournalError>;

    /// Durably marks the in-doubt intent at `index` as not performed
    /// (`retry = true`: the next live run performs it again), or clears the
    /// mark (`false`: the host is performing it again, so it is in doubt
    /// once more until its result is recorded).
    fn set_retry(&mut self, index: u64, retry: bool) -> Result<(), JournalError>;

    /// A short description for messages (`file /tmp/j.jsonl`, `sqlite …`).
    fn describe(&self) -> String;
}

/// How a journal is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenMode {
    /// For a live run: created when absent, locked against a second writer.
    Write,
    /// For replay or inspection: must exist; never written.
    Read,
}

/// A parsed journal URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JournalUrl {
    /// A JSON-lines file (or, read-only, a reference JSON array).
    File(String),
    /// A SQLite database file.
    Sqlite {
        /// The database path.
        path: String,
        /// The run id from `?run=`, if any.
        run: Option<String>,
    },
    /// A PostgreSQL connection URL.
    Postgres {
        /// The URL without the `run` parameter.
        url: String,
        /// The run id from `run=`, if any.
        run: Option<String>,
    },
}

/// Splits a `run=ID` query parameter off a URL.
fn take_run_param(url: &str) -> (String, Option<String>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_string(), None);
    };
    let mut run = None;
    let mut rest = Vec::new();
    for part in query.split('&') {
        match part.strip_prefix("run=") {
            Some(r) => run = Some(r.to_string()),
            None if part.is_empty() => {}
            None => rest.push(part),
        }
    }
    if rest.is_empty() {
        (base.to_string(), run)
    } else {
        (format!("{base}?{}", rest.join("&")), run)
    }
}

impl JournalUrl {
    /// `sqlite:PATH[?run=ID]`, `postgres://…[?…&run=ID]`, `file:PATH` or a path.
    pub fn parse(url: &str) -> JournalUrl {
        if let Some(rest) = url.strip_prefix("sqlite:") {
            let rest = rest.strip_prefix("//").unwrap_or(rest);
            let (path, run) = take_run_param(rest);
            JournalUrl::Sqlite { path, run }
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let (url, run) = take_run_param(url);
            JournalUrl::Postgres { url, run }
        } else if let Some(path) = url.strip_prefix("file:") {
            JournalUrl::File(path.strip_prefix("//").unwrap_or(path).to_string())
        } else {
            JournalUrl::File(url.to_string())
        }
    }
}

/// Opens the journal a URL names. `run` overrides a `run=` parameter; the
/// default run is `default`. A file journal is one run; its run id is the
/// one it was created with.
pub fn open(
    url: &str,
    run: Option<&str>,
    mode: OpenMode,
) -> Result<Box<dyn JournalStore>, JournalError> {
    Ok(match JournalUrl::parse(url) {
        JournalUrl::File(path) => Box::new(file::FileJournal::open(&path, run, mode)?),
        JournalUrl::Sqlite { path, run: r } => {
            let run = run.map(str::to_string).or(r);
            Box::new(sqlite::SqliteJournal::open(
                &path,
                run.as_deref().unwrap_or(DEFAULT_RUN),
                mode,
            )?)
        }
        JournalUrl::Postgres { url, run: r } => {
            let run = run.map(str::to_string).or(r);
            Box::new(pg::PgJournal::open(
                &url,
                run.as_deref().unwrap_or(DEFAULT_RUN),
                mode,
            )?)
        }
    })
}

/// The run id used when none is named.
pub const DEFAULT_RUN: &str = "default";

/// A fresh random nonce (32 hex digits).
pub fn new_nonce() -> String {
    let mut b = [0u8; 16];
    if getrandom::fill(&mut b).is_err() {
        // Not expected on any supported platform; fall back to the clock and pid.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        b[..16].copy_from_slice(&(t ^ u128::from(std::process::id())).to_le_bytes());
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Checks that loaded slots are numbered 0, 1, 2, … without gaps.
pub(crate) fn check_dense(slots: &[Slot], what: &str) -> Result<(), JournalError> {
    for (i, s) in slots.iter().enumerate() {
        if s.index != i as u64 {
            return Err(JournalError(format!(
                "{what}: journal has a gap: slot {i} holds index {}",
                s.index
            )));
        }
    }
    Ok(())
}

/// The reference journal of the slots that have a result: a JSON array, one
/// entry per line.
pub fn reference_array_text(slots: &[Slot]) -> String {
    let mut s = String::from("[");
    let mut first = true;
    for slot in slots {
        if let Some(e) = slot.entry_json() {
            s.push_str(if first { "\n" } else { ",\n" });
            first = false;
            s.push_str(&json_text(&e));
        }
    }
    s.push_str(if first { "]" } else { "\n]" });
    s
}

/// A tiny FNV-1a hash (for PostgreSQL advisory-lock keys).
pub(crate) fn fnv1a64(s: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            JournalUrl::parse("sqlite:/tmp/x.db?run=r1"),
            JournalUrl::Sqlite {
                path: "/tmp/x.db".into(),
                run: Some("r1".into())
            }
        );
        assert_eq!(
            JournalUrl::parse("postgres://u@127.0.0.1:5432/db?sslmode=disable&run=abc"),
            JournalUrl::Postgres {
                url: "postgres://u@127.0.0.1:5432/db?sslmode=disable".into(),
                run: Some("abc".into())
            }
        );
        assert_eq!(
            JournalUrl::parse("j.jsonl"),
            JournalUrl::File("j.jsonl".into())
        );
        assert_eq!(
            JournalUrl::parse("file:///tmp/j"),
            JournalUrl::File("/tmp/j".into())
        );
    }

    #[test]
    fn entries_have_the_reference_shape() {
        let slot = Slot {
            index: 0,
            intent: Intent {
                kind: Kind::AwaitReply,
                pid: "main".into(),
                key: Some("k1".into()),
                type_: "http.get".into(),
                payload: serde_json::from_str(
                    r#"{"record":{"key":{"string":"k1"},"url":{"string":"http://x"}}}"#,
                )
                .unwrap(),
            },
            result: Some(serde_json::from_str(r#"{"string":"PRICE=42 for http://x"}"#).unwrap()),
            retry: false,
        };
        assert_eq!(
            json_text(&slot.entry_json().unwrap()),
            r#"{"kind":"await_reply","pid":"main","key":"k1","type_":"http.get","payload":{"record":{"key":{"string":"k1"},"url":{"string":"http://x"}}},"result":{"string":"PRICE=42 for http://x"}}"#
        );
        let back = Intent::from_members(slot.entry_json().unwrap().as_object().unwrap()).unwrap();
        assert_eq!(back, slot.intent);
    }
}
