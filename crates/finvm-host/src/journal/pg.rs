//! The PostgreSQL journal, for hosts that outgrow one machine: many hosts
//! share one database, each run keyed by its run id.
//!
//! Same tables as the SQLite journal (`finvm_runs`, `finvm_journal`, keyed
//! by `(run, idx)`). Each `record_*` call is one transaction; the session
//! sets `synchronous_commit = on`, so a commit returns only once the WAL is
//! flushed. A writer holds a session-level advisory lock on its run
//! (`pg_try_advisory_lock`), released by the server when the connection
//! ends, even if the host was killed: one run has at most one live host,
//! while different runs proceed in parallel.

use super::sqlite::{now_unix, slot_from_row, Row};
use super::{
    check_dense, fnv1a64, new_nonce, Intent, JournalError, JournalStore, OpenMode, RunInfo, Slot,
};
use crate::convert::json_text;
use postgres::{Client, NoTls};
use serde_json::Value as J;

/// A run in a PostgreSQL database.
pub struct PgJournal {
    client: Client,
    url: String,
    info: RunInfo,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS finvm_runs (
    run TEXT PRIMARY KEY,
    nonce TEXT NOT NULL,
    created_unix BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS finvm_journal (
    run TEXT NOT NULL,
    idx BIGINT NOT NULL,
    kind TEXT NOT NULL,
    pid TEXT NOT NULL,
    key TEXT,
    type_ TEXT NOT NULL,
    payload TEXT NOT NULL,
    result TEXT,
    retry BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (run, idx)
);";

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..s + 3], user, &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

fn pg_err(url: &str, e: postgres::Error) -> JournalError {
    JournalError(format!("journal {}: {e}", redact(url)))
}

impl PgJournal {
    /// Connects and opens a run (created for [`OpenMode::Write`]).
    pub fn open(url: &str, run: &str, mode: OpenMode) -> Result<PgJournal, JournalError> {
        let mut client = Client::connect(url, NoTls).map_err(|e| pg_err(url, e))?;
        client
            .batch_execute("SET synchronous_commit = on")
            .map_err(|e| pg_err(url, e))?;
        if mode == OpenMode::Write {
            // Concurrent hosts may race to create the tables: serialise that.
            let mut tx = client.transaction().map_err(|e| pg_err(url, e))?;
            tx.execute(
                "SELECT pg_advisory_xact_lock($1)",
                &[&fnv1a64("finvm-journal-schema")],
            )
            .map_err(|e| pg_err(url, e))?;
            tx.batch_execute(SCHEMA).map_err(|e| pg_err(url, e))?;
            tx.execute(
                "INSERT INTO finvm_runs (run, nonce, created_unix) VALUES ($1, $2, $3)
                 ON CONFLICT (run) DO NOTHING",
                &[&run, &new_nonce(), &now_unix()],
            )
            .map_err(|e| pg_err(url, e))?;
            tx.commit().map_err(|e| pg_err(url, e))?;
            // A killed host's session ends when the server sees its socket
            // close; give that a moment before reporting the run busy.
            let key = fnv1a64(&format!("finvm-journal-run:{run}"));
            let mut locked = false;
            for attempt in 0..50 {
                if attempt > 0 {
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                locked = client
                    .query_one("SELECT pg_try_advisory_lock($1)", &[&key])
                    .map_err(|e| pg_err(url, e))?
                    .get(0);
                if locked {
                    break;
                }
            }
            if !locked {
                return Err(JournalError(format!(
                    "journal {} run {run}: in use by another host",
                    redact(url)
                )));
            }
        }
        let exists: bool = client
            .query_one("SELECT to_regclass('finvm_runs') IS NOT NULL", &[])
            .map_err(|e| pg_err(url, e))?
            .get(0);
        let nonce: Option<String> = if exists {
            client
                .query_opt("SELECT nonce FROM finvm_runs WHERE run = $1", &[&run])
                .map_err(|e| pg_err(url, e))?
                .map(|r| r.get(0))
        } else {
            None
        };
        let nonce = nonce
            .ok_or_else(|| JournalError(format!("journal {}: no run '{run}'", redact(url))))?;
        Ok(PgJournal {
            client,
            url: url.to_string(),
            info: RunInfo {
                run: run.to_string(),
                nonce,
            },
        })
    }

    /// The runs stored in a database: `(run, entries with a result, in
    /// doubt)`, by run id.
    pub fn list_runs(url: &str) -> Result<Vec<(String, u64, u64)>, JournalError> {
        let mut client = Client::connect(url, NoTls).map_err(|e| pg_err(url, e))?;
        let rows = client
            .query(
                "SELECT r.run,
                        (SELECT COUNT(*) FROM finvm_journal j WHERE j.run = r.run AND j.result IS NOT NULL),
                        (SELECT COUNT(*) FROM finvm_journal j WHERE j.run = r.run AND j.result IS NULL)
                 FROM finvm_runs r ORDER BY r.run",
                &[],
            )
            .map_err(|e| pg_err(url, e))?;
        Ok(rows
            .iter()
            .map(|r| {
                (
                    r.get::<_, String>(0),
                    r.get::<_, i64>(1) as u64,
                    r.get::<_, i64>(2) as u64,
                )
            })
            .collect())
    }
}

impl JournalStore for PgJournal {
    fn info(&self) -> &RunInfo {
        &self.info
    }

    fn load(&mut self) -> Result<Vec<Slot>, JournalError> {
        let rows = self
            .client
            .query(
                "SELECT idx, kind, pid, key, type_, payload, result, retry
                 FROM finvm_journal WHERE run = $1 ORDER BY idx",
                &[&self.info.run],
            )
            .map_err(|e| pg_err(&self.url, e))?;
        let mut slots = Vec::with_capacity(rows.len());
        for r in &rows {
            let row = Row {
                idx: r.get(0),
                kind: r.get(1),
                pid: r.get(2),
                key: r.get(3),
                type_: r.get(4),
                payload: r.get(5),
                result: r.get(6),
                retry: r.get(7),
            };
            slots.push(
                slot_from_row(row)
                    .map_err(|m| JournalError(format!("journal {}: {m}", redact(&self.url))))?,
            );
        }
        check_dense(&slots, &format!("journal {}", redact(&self.url)))?;
        Ok(slots)
    }

    fn record_intents(&mut self, first: u64, intents: &[Intent]) -> Result<(), JournalError> {
        let url = self.url.clone();
        let mut tx = self.client.transaction().map_err(|e| pg_err(&url, e))?;
        let st = tx
            .prepare(
                "INSERT INTO finvm_journal (run, idx, kind, pid, key, type_, payload)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .map_err(|e| pg_err(&url, e))?;
        for (i, it) in intents.iter().enumerate() {
            tx.execute(
                &st,
                &[
                    &self.info.run,
                    &((first + i as u64) as i64),
                    &it.kind.as_str(),
                    &it.pid,
                    &it.key,
                    &it.type_,
                    &json_text(&it.payload),
                ],
            )
            .map_err(|e| pg_err(&url, e))?;
        }
        tx.commit().map_err(|e| pg_err(&url, e))
    }

    fn record_results(&mut self, results: &[(u64, J)]) -> Result<(), JournalError> {
        let url = self.url.clone();
        let mut tx = self.client.transaction().map_err(|e| pg_err(&url, e))?;
        let st = tx
            .prepare(
                "UPDATE finvm_journal SET result = $3, retry = FALSE
                 WHERE run = $1 AND idx = $2 AND result IS NULL",
            )
            .map_err(|e| pg_err(&url, e))?;
        for (index, result) in results {
            let n = tx
                .execute(&st, &[&self.info.run, &(*index as i64), &json_text(result)])
                .map_err(|e| pg_err(&url, e))?;
            if n != 1 {
                return Err(JournalError(format!(
                    "journal {}: entry {index} has no intent awaiting a result",
                    redact(&url)
                )));
            }
        }
        tx.commit().map_err(|e| pg_err(&url, e))
    }

    fn set_retry(&mut self, index: u64, retry: bool) -> Result<(), JournalError> {
        let n = self
            .client
            .execute(
                "UPDATE finvm_journal SET retry = $3
                 WHERE run = $1 AND idx = $2 AND result IS NULL",
                &[&self.info.run, &(index as i64), &retry],
            )
            .map_err(|e| pg_err(&self.url, e))?;
        if n != 1 {
            return Err(JournalError(format!(
                "journal {}: entry {index} is not in doubt",
                redact(&self.url)
            )));
        }
        Ok(())
    }

    fn describe(&self) -> String {
        format!("{} run {}", redact(&self.url), self.info.run)
    }
}
