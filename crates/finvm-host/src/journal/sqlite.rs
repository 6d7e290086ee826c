//! The SQLite journal (the embedded default): WAL mode with
//! `synchronous=FULL`, so a committed transaction survives a power cut.
//!
//! ```sql
//! finvm_runs(run TEXT PRIMARY KEY, nonce TEXT, created_unix INTEGER)
//! finvm_journal(run TEXT, idx INTEGER, kind TEXT, pid TEXT, key TEXT NULL,
//!               type_ TEXT, payload TEXT, result TEXT NULL, retry INTEGER,
//!               PRIMARY KEY (run, idx))
//! ```
//!
//! One database holds many runs. An intent is a row with `result` NULL; its
//! result is written by an UPDATE. Each `record_*` call is one transaction.
//! A writer holds an exclusive `flock` on `PATH.lock` (Unix) for the run's
//! lifetime, so two live hosts cannot write one database at once.

use super::{
    check_dense, new_nonce, Intent, JournalError, JournalStore, Kind, OpenMode, RunInfo, Slot,
};
use crate::convert::json_text;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use serde_json::Value as J;
use std::fs::File;

/// A run in a SQLite database.
pub struct SqliteJournal {
    conn: Connection,
    path: String,
    info: RunInfo,
    _lock: Option<File>,
}

fn db_err(path: &str, e: rusqlite::Error) -> JournalError {
    JournalError(format!("journal sqlite:{path}: {e}"))
}

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS finvm_runs (
    run TEXT PRIMARY KEY,
    nonce TEXT NOT NULL,
    created_unix INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS finvm_journal (
    run TEXT NOT NULL,
    idx INTEGER NOT NULL,
    kind TEXT NOT NULL,
    pid TEXT NOT NULL,
    key TEXT,
    type_ TEXT NOT NULL,
    payload TEXT NOT NULL,
    result TEXT,
    retry INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run, idx)
);";

pub(crate) fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The stored columns of one slot.
pub(crate) struct Row {
    pub idx: i64,
    pub kind: String,
    pub pid: String,
    pub key: Option<String>,
    pub type_: String,
    pub payload: String,
    pub result: Option<String>,
    pub retry: bool,
}

/// Builds a slot from stored columns.
pub(crate) fn slot_from_row(r: Row) -> Result<Slot, String> {
    let idx = r.idx;
    let kind =
        Kind::parse(&r.kind).ok_or_else(|| format!("entry {idx}: unknown kind '{}'", r.kind))?;
    let payload: J =
        serde_json::from_str(&r.payload).map_err(|e| format!("entry {idx}: bad payload: {e}"))?;
    let result = match r.result {
        None => None,
        Some(t) => Some(
            serde_json::from_str::<J>(&t).map_err(|e| format!("entry {idx}: bad result: {e}"))?,
        ),
    };
    Ok(Slot {
        index: idx as u64,
        intent: Intent {
            kind,
            pid: r.pid,
            key: r.key,
            type_: r.type_,
            payload,
        },
        result,
        retry: r.retry,
    })
}

impl SqliteJournal {
    /// Opens a run in a SQLite database file (created for [`OpenMode::Write`]).
    pub fn open(path: &str, run: &str, mode: OpenMode) -> Result<SqliteJournal, JournalError> {
        let lock = if mode == OpenMode::Write {
            Some(lock_file(path)?)
        } else {
            None
        };
        let flags = match mode {
            OpenMode::Write => OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
            OpenMode::Read => OpenFlags::SQLITE_OPEN_READ_ONLY,
        };
        let conn = Connection::open_with_flags(path, flags).map_err(|e| db_err(path, e))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(|e| db_err(path, e))?;
        if mode == OpenMode::Write {
            conn.pragma_update(None, "journal_mode", "WAL")
                .map_err(|e| db_err(path, e))?;
            conn.pragma_update(None, "synchronous", "FULL")
                .map_err(|e| db_err(path, e))?;
            conn.execute_batch(SCHEMA).map_err(|e| db_err(path, e))?;
            conn.execute(
                "INSERT INTO finvm_runs (run, nonce, created_unix) VALUES (?1, ?2, ?3)
                 ON CONFLICT (run) DO NOTHING",
                params![run, new_nonce(), now_unix()],
            )
            .map_err(|e| db_err(path, e))?;
        }
        let nonce: Option<String> = conn
            .query_row(
                "SELECT nonce FROM finvm_runs WHERE run = ?1",
                params![run],
                |r| r.get(0),
            )
            .optional()
            .or_else(|e| match e {
                // A read-only open of a database that never held a journal.
                rusqlite::Error::SqliteFailure(_, Some(ref m)) if m.contains("no such table") => {
                    Ok(None)
                }
                e => Err(e),
            })
            .map_err(|e| db_err(path, e))?;
        let nonce =
            nonce.ok_or_else(|| JournalError(format!("journal sqlite:{path}: no run '{run}'")))?;
        Ok(SqliteJournal {
            conn,
            path: path.to_string(),
            info: RunInfo {
                run: run.to_string(),
                nonce,
            },
            _lock: lock,
        })
    }

    /// The runs stored in a database: `(run, entries with a result, in
    /// doubt)`, by run id.
    pub fn list_runs(path: &str) -> Result<Vec<(String, u64, u64)>, JournalError> {
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| db_err(path, e))?;
        let mut st = conn
            .prepare(
                "SELECT r.run,
                        (SELECT COUNT(*) FROM finvm_journal j WHERE j.run = r.run AND j.result IS NOT NULL),
                        (SELECT COUNT(*) FROM finvm_journal j WHERE j.run = r.run AND j.result IS NULL)
                 FROM finvm_runs r ORDER BY r.run",
            )
            .map_err(|e| db_err(path, e))?;
        let rows = st
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)? as u64,
                    r.get::<_, i64>(2)? as u64,
                ))
            })
            .map_err(|e| db_err(path, e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| db_err(path, e))
    }
}

impl JournalStore for SqliteJournal {
    fn info(&self) -> &RunInfo {
        &self.info
    }

    fn load(&mut self) -> Result<Vec<Slot>, JournalError> {
        let path = self.path.clone();
        let mut st = self
            .conn
            .prepare(
                "SELECT idx, kind, pid, key, type_, payload, result, retry
                 FROM finvm_journal WHERE run = ?1 ORDER BY idx",
            )
            .map_err(|e| db_err(&path, e))?;
        let rows = st
            .query_map(params![self.info.run], |r| {
                Ok(Row {
                    idx: r.get(0)?,
                    kind: r.get(1)?,
                    pid: r.get(2)?,
                    key: r.get(3)?,
                    type_: r.get(4)?,
                    payload: r.get(5)?,
                    result: r.get(6)?,
                    retry: r.get::<_, i64>(7)? != 0,
                })
            })
            .map_err(|e| db_err(&path, e))?;
        let mut slots = Vec::new();
        for row in rows {
            let row = row.map_err(|e| db_err(&path, e))?;
            slots.push(
                slot_from_row(row)
                    .map_err(|m| JournalError(format!("journal sqlite:{path}: {m}")))?,
            );
        }
        check_dense(&slots, &format!("journal sqlite:{path}"))?;
        Ok(slots)
    }

    fn record_intents(&mut self, first: u64, intents: &[Intent]) -> Result<(), JournalError> {
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(|e| db_err(&path, e))?;
        {
            let mut st = tx
                .prepare_cached(
                    "INSERT INTO finvm_journal (run, idx, kind, pid, key, type_, payload)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .map_err(|e| db_err(&path, e))?;
            for (i, it) in intents.iter().enumerate() {
                st.execute(params![
                    self.info.run,
                    (first + i as u64) as i64,
                    it.kind.as_str(),
                    it.pid,
                    it.key,
                    it.type_,
                    json_text(&it.payload),
                ])
                .map_err(|e| db_err(&path, e))?;
            }
        }
        tx.commit().map_err(|e| db_err(&path, e))
    }

    fn record_results(&mut self, results: &[(u64, J)]) -> Result<(), JournalError> {
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(|e| db_err(&path, e))?;
        {
            let mut st = tx
                .prepare_cached(
                    "UPDATE finvm_journal SET result = ?3, retry = 0
                     WHERE run = ?1 AND idx = ?2 AND result IS NULL",
                )
                .map_err(|e| db_err(&path, e))?;
            for (index, result) in results {
                let n = st
                    .execute(params![self.info.run, *index as i64, json_text(result)])
                    .map_err(|e| db_err(&path, e))?;
                if n != 1 {
                    return Err(JournalError(format!(
                        "journal sqlite:{path}: entry {index} has no intent awaiting a result"
                    )));
                }
            }
        }
        tx.commit().map_err(|e| db_err(&path, e))
    }

    fn set_retry(&mut self, index: u64, retry: bool) -> Result<(), JournalError> {
        let n = self
            .conn
            .execute(
                "UPDATE finvm_journal SET retry = ?3
                 WHERE run = ?1 AND idx = ?2 AND result IS NULL",
                params![self.info.run, index as i64, i64::from(retry)],
            )
            .map_err(|e| db_err(&self.path, e))?;
        if n != 1 {
            return Err(JournalError(format!(
                "journal sqlite:{}: entry {index} is not in doubt",
                self.path
            )));
        }
        Ok(())
    }

    fn describe(&self) -> String {
        format!("sqlite:{} run {}", self.path, self.info.run)
    }
}

#[cfg(unix)]
fn lock_file(path: &str) -> Result<File, JournalError> {
    use std::os::unix::io::AsRawFd;
    let lock_path = format!("{path}.lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| JournalError(format!("journal sqlite:{path}: lock file {lock_path}: {e}")))?;
    // SAFETY: flock on a file descriptor we own; no memory is involved.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        return Err(JournalError(format!(
            "journal sqlite:{path}: in use by another host (cannot lock {lock_path})"
        )));
    }
    Ok(f)
}

#[cfg(not(unix))]
fn lock_file(path: &str) -> Result<File, JournalError> {
    let lock_path = format!("{path}.lock");
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| JournalError(format!("journal sqlite:{path}: lock file {lock_path}: {e}")))
}
